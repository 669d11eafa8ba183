//! Starting and exec'ing programs, what `std::process::Command` did for
//! the init, without its code: Command's spawn paths (its environment
//! kept as a `BTreeMap` of `OsString`s, posix_spawn and fork, stdio
//! plumbing) are about 25 KB of every image's init (docs/s6.md, "Size of
//! nci-init"). The child gets what Command gave it: an empty signal mask,
//! SIGPIPE at its default (std ignores it in the init), the program looked
//! up on `PATH` as `execvp` does, and a spawn that fails when the exec
//! does, with exec's error. Always fork and exec, never `posix_spawn`:
//! glibc's and musl's leave their internal signals (32, 33) ignored in the
//! child, and ignored signals survive exec into the services (the init
//! made Command take that path by setting the group id it had).

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{dup2, execvp, pipe2, ForkResult, Pid};
use std::ffi::{CString, OsStr};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// Where a started program's stdin comes from.
pub enum Stdin {
    /// Ours.
    Inherit,
    /// /dev/null.
    Null,
    /// This descriptor (closed here once the program started).
    From(OwnedFd),
}

fn nul_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "nul byte found in provided data",
    )
}

fn c_args<S: AsRef<OsStr>>(argv: &[S]) -> io::Result<Vec<CString>> {
    let args = argv
        .iter()
        .map(|a| CString::new(a.as_ref().as_bytes()).map_err(|_| nul_error()))
        .collect::<io::Result<Vec<_>>>()?;
    if args.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    Ok(args)
}

/// Makes `env` this process's whole environment (in its order), so that
/// what it execs or starts next gets exactly that, and `PATH` is looked
/// up in it: what Command's `env_clear().envs(env)` did in its child.
pub fn set_environment<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>) -> io::Result<()> {
    let env: Vec<(&str, &str)> = env.into_iter().collect();
    for (k, v) in &env {
        if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
            return Err(nul_error());
        }
    }
    for (k, _) in std::env::vars_os() {
        let name = k.as_bytes();
        // What unsetenv refuses (the engine may pass anything) stays.
        if !name.is_empty() && !name.contains(&b'=') {
            std::env::remove_var(&k);
        }
    }
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    Ok(())
}

/// What the child does before it execs: stdin, SIGPIPE, the signal mask.
#[allow(unsafe_code)]
fn prepare(stdin: Option<RawFd>) -> Result<(), Errno> {
    match stdin {
        None => {}
        // Already in place: only keep it open across exec.
        Some(0) => {
            fcntl(0, FcntlArg::F_SETFD(FdFlag::empty()))?;
        }
        Some(fd) => {
            dup2(fd, 0)?;
        }
    }
    // SAFETY: SIG_DFL installs no handler.
    unsafe {
        nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl)?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

/// Execs `argv` (looked up on `PATH`) in this process, as Command's
/// `exec` did; returns only why it could not.
pub fn exec<S: AsRef<OsStr>>(argv: &[S]) -> io::Error {
    let args = match c_args(argv) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Err(e) = prepare(None) {
        return e.into();
    }
    match execvp(&args[0], &args) {
        Err(e) => e.into(),
        Ok(never) => match never {},
    }
}

/// Starts `argv` (looked up on `PATH`) with `stdin`; returns its pid once
/// it has exec'd, or exec's error (the child then reaped). Nobody waits for
/// it here: the caller's `waitpid` does.
#[allow(unsafe_code)]
pub fn spawn<S: AsRef<OsStr>>(argv: &[S], stdin: Stdin) -> io::Result<i32> {
    let args = c_args(argv)?;
    let null;
    let stdin_fd = match &stdin {
        Stdin::Inherit => None,
        Stdin::Null => {
            null = std::fs::File::open("/dev/null")?;
            Some(null.as_raw_fd())
        }
        Stdin::From(fd) => Some(fd.as_raw_fd()),
    };
    // Close-on-exec: it reads end of file once the exec succeeded, the
    // errno otherwise.
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: the init is single-threaded (no lock can be held by another
    // thread across fork); the child only changes descriptors and signals,
    // execs, and reports an error with write and _exit.
    let forked = unsafe { nix::unistd::fork() }?;
    match forked {
        ForkResult::Child => {
            let errno = match prepare(stdin_fd) {
                Err(e) => e,
                Ok(()) => match execvp(&args[0], &args) {
                    Err(e) => e,
                    Ok(never) => match never {},
                },
            };
            let _ = nix::unistd::write(&report_write, &(errno as i32).to_ne_bytes());
            // SAFETY: ends the child without running the parent's exit
            // handlers or flushing its buffers.
            unsafe { nix::libc::_exit(1) }
        }
        ForkResult::Parent { child } => {
            drop(report_write);
            drop(stdin);
            let mut buf = [0u8; 4];
            let n = loop {
                match nix::unistd::read(report_read.as_raw_fd(), &mut buf) {
                    Err(Errno::EINTR) => continue,
                    r => break r,
                }
            };
            match n {
                Ok(4) => {
                    wait_for(child)?;
                    Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf)))
                }
                Ok(_) => Ok(child.as_raw()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// How a child waited for with [`wait_for`] ended; shown as Command's
/// `ExitStatus` was (`exit status: 1`, `signal: 9 (SIGKILL)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled { signal: i32, core_dumped: bool },
}

impl Status {
    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }

    /// The exit code, if it exited.
    pub fn code(self) -> Option<i32> {
        match self {
            Status::Exited(c) => Some(c),
            Status::Signaled { .. } => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Status::Exited(c) => write!(f, "exit status: {c}"),
            Status::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "signal: {signal}")?;
                if let Ok(s) = Signal::try_from(signal) {
                    write!(f, " ({})", s.as_str())?;
                }
                if core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// Waits for child `pid` to end.
pub fn wait_for(pid: Pid) -> io::Result<Status> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Status::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, core_dumped)) => {
                return Ok(Status::Signaled {
                    signal: sig as i32,
                    core_dumped,
                })
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;

    fn run(argv: &[&str], stdin: Stdin) -> io::Result<Status> {
        let pid = spawn(argv, stdin)?;
        wait_for(Pid::from_raw(pid))
    }

    #[test]
    fn a_program_that_cannot_run_is_exec_s_error_and_is_reaped() {
        let e = spawn(&["/nonexistent/program"], Stdin::Null).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(e.to_string(), "No such file or directory (os error 2)");
        let e = spawn(&["/"], Stdin::Null).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn an_empty_command_or_a_nul_byte_is_refused() {
        let none: [&str; 0] = [];
        assert_eq!(
            spawn(&none, Stdin::Null).unwrap_err().to_string(),
            "empty command"
        );
        assert_eq!(
            spawn(&["a\0b"], Stdin::Null).unwrap_err().to_string(),
            "nul byte found in provided data"
        );
    }

    #[test]
    fn statuses_read_as_the_standard_library_shows_them() {
        for (script, raw) in [("exit 3", 3 << 8), ("kill -9 $$", 9), ("kill -TERM $$", 15)] {
            let status = run(&["sh", "-c", script], Stdin::Null).unwrap();
            let std_status = std::process::ExitStatus::from_raw(raw);
            assert_eq!(status.to_string(), std_status.to_string(), "{script}");
            assert_eq!(status.code(), std_status.code(), "{script}");
            assert_eq!(status.success(), std_status.success(), "{script}");
        }
        assert_eq!(
            Status::Signaled {
                signal: 6,
                core_dumped: true
            }
            .to_string(),
            std::process::ExitStatus::from_raw(6 | 0x80).to_string()
        );
        assert_eq!(
            Status::Signaled {
                signal: 40,
                core_dumped: false
            }
            .to_string(),
            std::process::ExitStatus::from_raw(40).to_string()
        );
    }

    #[test]
    fn stdin_is_the_descriptor_given_or_dev_null() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let mut w = std::fs::File::from(write);
        w.write_all(b"hello").unwrap();
        drop(w);
        let check = "[ \"$(cat)\" = hello ]";
        assert!(run(&["sh", "-c", check], Stdin::From(read))
            .unwrap()
            .success());
        assert!(run(&["sh", "-c", "[ -z \"$(cat)\" ]"], Stdin::Null)
            .unwrap()
            .success());
    }

    #[test]
    fn the_child_has_an_empty_signal_mask_and_sigpipe_at_its_default() {
        let mut blocked = SigSet::empty();
        blocked.add(Signal::SIGUSR1);
        let mut old = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut old))
            .unwrap();
        // SigBlk and SigIgn of /proc/self/status, in hexadecimal: nothing
        // blocked, and SIGPIPE (13) not ignored.
        let script = "grep -q '^SigBlk:\t0*$' /proc/self/status && \
            [ $(( 0x$(sed -n 's/^SigIgn:\t//p' /proc/self/status) & (1 << 12) )) = 0 ]";
        let status = run(&["sh", "-c", script], Stdin::Null);
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None).unwrap();
        assert!(status.unwrap().success());
    }
}
