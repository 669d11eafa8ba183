//! The unwinder's entry points, as functions that find no frame: an
//! `nci-init` built with `panic = "abort"` never unwinds, and its unwind
//! tables are removed after linking (`drop-unwind-tables`), so LLVM's
//! libunwind, which std links for the panic hook's backtrace and for
//! landing pads that never run, found no frame in it either. With these
//! definitions the linker takes none of libunwind's objects, and LTO sees
//! that the backtrace printer's callback is never called, so the printer
//! (gimli, addr2line, miniz_oxide, rustc_demangle) goes too: 272,984
//! bytes, a panic printing the same lines (docs/s6.md, "Size of
//! nci-init"; tests/cases/s6.sh compares them). Only in the build that
//! ships (musl, static, `panic = "abort"`, see main.rs); tests, which
//! unwind, and the other targets keep the real unwinder.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`: what `_Unwind_Backtrace` returns when no frame
/// is found, as libunwind does for a function without an FDE.
const END_OF_STACK: c_int = 5;

type Context = c_void;

#[unsafe(no_mangle)]
extern "C" fn _Unwind_Backtrace(
    _trace: extern "C" fn(*mut Context, *mut c_void) -> c_int,
    _arg: *mut c_void,
) -> c_int {
    END_OF_STACK
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIP(_context: *mut Context) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIPInfo(_context: *mut Context, _before: *mut c_int) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut Context) -> *mut c_void {
    std::ptr::null_mut()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetRegionStart(_context: *mut Context) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetTextRelBase(_context: *mut Context) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetDataRelBase(_context: *mut Context) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetGR(_context: *mut Context, _index: c_int, _value: usize) {}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetIP(_context: *mut Context, _value: usize) {}

/// Called only by a landing pad, which runs only while unwinding.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    std::process::abort()
}
