//! The system calls of the PID 1 loops (stage 1 and stage 3) behind a
//! trait, so that their logic is tested with a scripted fake; [`RealSys`]
//! is the real thing: signals arrive through a signalfd, children are
//! reaped with `waitpid(-1)`, and "all processes" means every process of
//! the PID namespace when we are PID 1, our descendants otherwise.

use nci_core::proc_tree::{self, Zombies};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

impl Ended {
    pub fn success(self) -> bool {
        self == Ended::Exited(0)
    }

    /// The shell's convention: the exit code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            Ended::Exited(c) => c,
            Ended::Signaled(s) => 128 + s,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Ended::Exited(c) => format!("exit code {c}"),
            Ended::Signaled(s) => format!("signal {}", signal_name(s)),
        }
    }

    /// How service `name` ended, with the fix where the code tells it:
    /// 127 is the shell's "command not found".
    pub fn describe_for(self, name: &str) -> String {
        match self {
            Ended::Exited(127) => format!(
                "exit code 127 (a command was not found: add the package that has it to s6.services.{name}.path)"
            ),
            _ => self.describe(),
        }
    }
}

/// What woke the loop up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A child (ours or an orphan) ended and was reaped.
    Exited { pid: i32, ended: Ended },
    /// A stop signal (TERM, INT, QUIT) arrived.
    Signal(i32),
    /// There is no child left to wait for.
    NoChildren,
    /// The deadline passed.
    Timeout,
}

pub trait Sys {
    /// Starts a program with stdin on /dev/null; returns its pid.
    fn spawn(&mut self, argv: &[String]) -> io::Result<i32>;
    /// Waits for the next event, until `deadline` if given.
    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Event>;
    /// Sends a signal to one process.
    fn signal(&mut self, pid: i32, sig: i32) -> io::Result<()>;
    /// Sends a signal to every other process we are responsible for.
    fn signal_all(&mut self, sig: i32) -> io::Result<()>;
    fn now(&self) -> Instant;
    /// Prints a line of the init's log.
    fn say(&mut self, line: &str);
}

pub const SIGTERM: i32 = 15;
pub const SIGKILL: i32 = 9;

/// `15` → `"TERM"`.
pub fn signal_name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().trim_start_matches("SIG").to_owned(),
        Err(_) => sig.to_string(),
    }
}

/// The signals the PID 1 loops handle: children ending and stop requests.
fn handled() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set
}

pub struct RealSys {
    fd: SignalFd,
    pid1: bool,
    me: i32,
}

impl RealSys {
    /// Blocks the handled signals and opens a signalfd for them.
    /// Children started with `crate::spawn` get an empty mask back.
    pub fn new() -> io::Result<Self> {
        let set = handled();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        let me = std::process::id() as i32;
        Ok(RealSys {
            fd,
            pid1: me == 1,
            me,
        })
    }

    fn reap(&self) -> io::Result<Option<Event>> {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => Ok(Some(Event::Exited {
                pid: pid.as_raw(),
                ended: Ended::Exited(code),
            })),
            Ok(WaitStatus::Signaled(pid, sig, _)) => Ok(Some(Event::Exited {
                pid: pid.as_raw(),
                ended: Ended::Signaled(sig as i32),
            })),
            Ok(_) => Ok(None),
            Err(Errno::ECHILD) => Ok(Some(Event::NoChildren)),
            Err(e) => Err(e.into()),
        }
    }

    /// A stop signal (TERM, INT, QUIT) that arrived and was not read yet;
    /// the SIGCHLD and SIGHUP read on the way are dropped.
    pub fn pending_stop_signal(&mut self) -> io::Result<Option<i32>> {
        while let Some(info) = self.fd.read_signal()? {
            let sig = info.ssi_signo as i32;
            if sig != Signal::SIGCHLD as i32 && sig != Signal::SIGHUP as i32 {
                return Ok(Some(sig));
            }
        }
        Ok(None)
    }
}

impl Sys for RealSys {
    fn spawn(&mut self, argv: &[String]) -> io::Result<i32> {
        // Reaped by `wait` (waitpid(-1)).
        crate::spawn::spawn(argv, crate::spawn::Stdin::Null)
    }

    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Event> {
        loop {
            if let Some(ev) = self.reap()? {
                return Ok(ev);
            }
            if let Some(sig) = self.pending_stop_signal()? {
                return Ok(Event::Signal(sig));
            }
            if let Some(ev) = self.reap()? {
                return Ok(ev);
            }
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Event::Timeout);
                    }
                    // Round up: waking before the deadline only loops.
                    let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128);
                    PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn signal(&mut self, pid: i32, sig: i32) -> io::Result<()> {
        let sig = Signal::try_from(sig)?;
        match kill(Pid::from_raw(pid), sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn signal_all(&mut self, sig: i32) -> io::Result<()> {
        let signal = Signal::try_from(sig)?;
        if self.pid1 {
            // Every process of the namespace but us.
            match kill(Pid::from_raw(-1), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(e.into()),
            }
            if sig != SIGKILL {
                let _ = kill(Pid::from_raw(-1), Signal::SIGCONT);
            }
            return Ok(());
        }
        for pid in descendants(self.me)? {
            let _ = kill(Pid::from_raw(pid), signal);
            if sig != SIGKILL {
                let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            }
        }
        Ok(())
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn say(&mut self, line: &str) {
        nci_core::outln!("{line}");
    }
}

/// Every process below `root` in the process tree (from /proc). Zombies
/// count: this list is only signalled (see `nci_core::proc_tree`).
pub fn descendants(root: i32) -> io::Result<BTreeSet<i32>> {
    proc_tree::descendants(root, Zombies::Count)
}

/// Unblocks every signal: the init blocks the ones it reads from a
/// signalfd, and a blocked mask survives exec (into s6 and, without
/// this, into the services).
pub fn unblock_signals() -> io::Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

/// The wall clock in milliseconds since the epoch (what `data/started`
/// and the stage 2 helper's start time hold: they cross processes).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Sleeps in small steps until `ready` holds or `timeout` passes.
pub fn poll_until(timeout: Option<Duration>, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut step = Duration::from_millis(1);
    loop {
        if ready() {
            return true;
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return false;
        }
        std::thread::sleep(step);
        step = (step * 2).min(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Ended::Exited(3).code(), 3);
        assert_eq!(Ended::Signaled(15).code(), 143);
        assert_eq!(Ended::Signaled(9).describe(), "signal KILL");
    }
}
