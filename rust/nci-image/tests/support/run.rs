//! Running the real `nci-image` binary in the integration tests.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_nci-image");

/// Runs the binary: whether it succeeded, and its error output.
pub fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary, failing the test with its error output if it fails.
pub fn run_ok(args: &[&str]) {
    let (ok, err) = run(args);
    assert!(ok, "{err}");
}
