//! `nci-init pid1 -- PROGRAM [ARGS...]`: the PID 1 of a plain image (one
//! whose entry point is a program, not the s6 init), tini's job and no
//! more. A program that is not written to be PID 1 gets no signal it has
//! no handler for (the kernel drops them for PID 1), so `podman stop`
//! would wait out its timeout and kill it; and nobody would reap the
//! zombies of its orphans. Here the program runs as our child: every
//! signal it could handle is forwarded to it, every child that ends is
//! reaped, and we exit with its code (128 + N when killed by signal N) as
//! soon as it ends (docs/getting-started.md, "Plain images and PID 1").

use crate::spawn::{self, Stdin};
use crate::sys::Ended;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::AsFd;

/// What the loop sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A child (the program or an orphan) ended and was reaped.
    Exited { pid: i32, ended: Ended },
    /// A signal to forward.
    Signal(i32),
}

/// The system calls of the loop, behind a seam for the tests.
pub trait Pid1Sys {
    /// Starts the program with our stdin, stdout and stderr.
    fn spawn(&mut self, argv: &[OsString]) -> io::Result<i32>;
    /// The next event (blocks).
    fn next(&mut self) -> io::Result<Event>;
    /// Sends `sig` to `pid` (gone already: nothing).
    fn forward(&mut self, pid: i32, sig: i32) -> io::Result<()>;
    /// A line on stderr.
    fn say(&mut self, line: &str);
}

/// Runs `argv` until it ends; returns the exit code for the container.
pub fn supervise(sys: &mut dyn Pid1Sys, argv: &[OsString]) -> io::Result<i32> {
    let program = argv
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let main = match sys.spawn(argv) {
        Ok(pid) => pid,
        Err(e) => {
            sys.say(&format!("nci-init: error: cannot run '{program}': {e}"));
            // The shell's codes: not found, or found but not runnable.
            return Ok(if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    loop {
        match sys.next()? {
            Event::Exited { pid, ended } if pid == main => return Ok(ended.code()),
            // An orphan that ended: reaped, nothing more.
            Event::Exited { .. } => {}
            Event::Signal(sig) => sys.forward(main, sig)?,
        }
    }
}

/// `nci-init pid1-exec -- PROGRAM [ARGS...]`, the child of `pid1`:
/// unblocks every signal and execs the program; returns only when it
/// cannot, with the shell's code (127: not found, 126: not runnable).
pub fn exec(argv: &[OsString]) -> i32 {
    let program = argv
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let err = match crate::sys::unblock_signals() {
        Err(e) => e,
        Ok(()) => match argv.split_first() {
            Some(_) => spawn::exec(argv),
            None => io::Error::new(io::ErrorKind::InvalidInput, "no program given"),
        },
    };
    nci_core::errln!("nci-init: error: cannot run '{program}': {err}");
    if err.kind() == io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

/// The signals forwarded: every one a program can handle, but those the
/// kernel sends a process about itself (SEGV, ILL, FPE, BUS, ABRT, TRAP,
/// SYS), TTIN and TTOU (which would stop us), and CHLD (ours).
pub fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for s in Signal::iterator() {
        if !matches!(
            s,
            Signal::SIGKILL
                | Signal::SIGSTOP
                | Signal::SIGSEGV
                | Signal::SIGILL
                | Signal::SIGFPE
                | Signal::SIGBUS
                | Signal::SIGABRT
                | Signal::SIGTRAP
                | Signal::SIGSYS
                | Signal::SIGTTIN
                | Signal::SIGTTOU
        ) {
            set.add(s);
        }
    }
    set
}

/// The real thing: signals through a signalfd, children reaped with
/// `waitpid(-1)`.
pub struct RealPid1 {
    fd: SignalFd,
}

impl RealPid1 {
    /// Blocks the forwarded signals (and CHLD) and reads them from a
    /// signalfd; outside a PID namespace, orphans are made to come to us.
    pub fn new() -> io::Result<Self> {
        let set = forwarded();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        if std::process::id() != 1 {
            nix::sys::prctl::set_child_subreaper(true)?;
        }
        Ok(RealPid1 { fd })
    }

    fn reap(&self) -> io::Result<Option<Event>> {
        loop {
            let (pid, ended) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Ended::Exited(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Ended::Signaled(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(None),
                // Stopped or continued: not an end.
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            return Ok(Some(Event::Exited {
                pid: pid.as_raw(),
                ended,
            }));
        }
    }
}

impl Pid1Sys for RealPid1 {
    fn spawn(&mut self, argv: &[OsString]) -> io::Result<i32> {
        // Through `nci-init pid1-exec`, which unblocks the signals we
        // block before it execs the program: a blocked mask survives
        // fork and exec (the standard library's musl build keeps it).
        let me = std::env::current_exe()?;
        let mut args = vec![me.as_os_str(), OsStr::new("pid1-exec"), OsStr::new("--")];
        args.extend(argv.iter().map(OsString::as_os_str));
        spawn::spawn(&args, Stdin::Inherit)
    }

    fn next(&mut self) -> io::Result<Event> {
        loop {
            if let Some(ev) = self.reap()? {
                return Ok(ev);
            }
            while let Some(info) = self.fd.read_signal()? {
                let sig = info.ssi_signo as i32;
                if sig != Signal::SIGCHLD as i32 {
                    return Ok(Event::Signal(sig));
                }
            }
            if let Some(ev) = self.reap()? {
                return Ok(ev);
            }
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn forward(&mut self, pid: i32, sig: i32) -> io::Result<()> {
        let sig = Signal::try_from(sig)?;
        match kill(Pid::from_raw(pid), sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn say(&mut self, line: &str) {
        nci_core::errln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    struct Fake {
        events: VecDeque<Event>,
        spawn: Option<io::ErrorKind>,
        log: Vec<String>,
    }

    impl Fake {
        fn new(events: Vec<Event>) -> Self {
            Fake {
                events: events.into(),
                spawn: None,
                log: Vec::new(),
            }
        }
    }

    impl Pid1Sys for Fake {
        fn spawn(&mut self, argv: &[OsString]) -> io::Result<i32> {
            self.log.push(format!("spawn {argv:?}"));
            match self.spawn {
                Some(kind) => Err(io::Error::new(kind, "nope")),
                None => Ok(10),
            }
        }
        fn next(&mut self) -> io::Result<Event> {
            Ok(self
                .events
                .pop_front()
                .expect("the loop waited past the script"))
        }
        fn forward(&mut self, pid: i32, sig: i32) -> io::Result<()> {
            self.log.push(format!("forward {sig} to {pid}"));
            Ok(())
        }
        fn say(&mut self, line: &str) {
            self.log.push(line.to_owned());
        }
    }

    fn exited(pid: i32, ended: Ended) -> Event {
        Event::Exited { pid, ended }
    }

    fn argv() -> Vec<OsString> {
        vec!["httpd".into(), "-f".into()]
    }

    #[test]
    fn signals_go_to_the_program_orphans_are_reaped_its_code_is_ours() {
        let mut sys = Fake::new(vec![
            Event::Signal(1),
            exited(77, Ended::Exited(0)),
            Event::Signal(15),
            exited(10, Ended::Exited(3)),
        ]);
        assert_eq!(supervise(&mut sys, &argv()).unwrap(), 3);
        assert_eq!(
            sys.log,
            [
                "spawn [\"httpd\", \"-f\"]",
                "forward 1 to 10",
                "forward 15 to 10"
            ]
        );
    }

    #[test]
    fn killed_by_a_signal_is_128_plus_it() {
        let mut sys = Fake::new(vec![exited(10, Ended::Signaled(15))]);
        assert_eq!(supervise(&mut sys, &argv()).unwrap(), 143);
    }

    #[test]
    fn a_program_that_cannot_run_is_named_with_the_shell_s_codes() {
        let mut sys = Fake::new(vec![]);
        sys.spawn = Some(io::ErrorKind::NotFound);
        assert_eq!(supervise(&mut sys, &argv()).unwrap(), 127);
        assert_eq!(sys.log[1], "nci-init: error: cannot run 'httpd': nope");
        sys.spawn = Some(io::ErrorKind::PermissionDenied);
        assert_eq!(supervise(&mut sys, &argv()).unwrap(), 126);
    }

    #[test]
    fn what_is_forwarded() {
        let set = forwarded();
        for s in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
        ] {
            assert!(set.contains(s), "{s}");
        }
        for s in [Signal::SIGKILL, Signal::SIGSEGV, Signal::SIGTTIN] {
            assert!(!set.contains(s), "{s}");
        }
        assert!(set.contains(Signal::SIGCHLD), "read, not forwarded");
    }
}
