//! The system calls of the runner (run.rs) behind a trait, so that its
//! loop (start, readiness, restart, stop, timeouts) is tested with a
//! scripted fake and no processes (run.rs' tests); [`RealSys`] is the
//! real thing, tested at L2 (tests/run.rs): signals arrive through a
//! signalfd, notifications on an abstract datagram socket, children are
//! reaped with `waitpid(-1)`, and "every process of the service" is every
//! descendant of the runner, a subreaper.

use crate::exec::{self, Request};
use crate::notify;
use crate::run::Status;
use anyhow::{anyhow, Context, Result};
use nci_core::proc_tree::{self, Zombies};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Instant;

/// What woke the runner up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Signal(Signal),
    /// An sd_notify message's `KEY=VALUE` lines.
    Notify(Vec<(String, String)>),
    /// Nothing (the deadline passed, or a wake-up for nothing).
    Tick,
}

pub trait Sys {
    /// Starts `nci-systemd exec` with `req`; returns its pid. `what` (the
    /// command line) names it in errors.
    fn spawn(&mut self, req: &Request, what: &str) -> Result<i32>;
    /// Waits until `deadline` for a signal or, while listening, a
    /// notification.
    fn wait(&mut self, deadline: Option<Instant>) -> Result<Event>;
    /// The children that ended since the last call; never blocks.
    fn reap(&mut self) -> Vec<(i32, Status)>;
    /// Sends `sig` to `pid`; a process that is gone is not an error.
    fn kill(&mut self, pid: i32, sig: Signal);
    fn alive(&self, pid: i32) -> bool;
    /// Every process below the runner that has not ended, sorted.
    fn descendants(&self) -> Vec<i32>;
    /// Whether `pid` runs another program than the runner: `nci-systemd
    /// exec` has executed the command (Type=exec).
    fn executed(&self, pid: i32) -> bool;
    /// Opens the notification socket of `unit`; returns `$NOTIFY_SOCKET`.
    fn listen(&mut self, unit: &str) -> Result<String>;
    /// Closes the notification socket, if open.
    fn unlisten(&mut self);
    /// Writes s6's readiness newline (once: the fd is closed after).
    fn ready(&mut self) -> io::Result<()>;
    fn now(&self) -> Instant;
    /// Prints one line of the runner's log.
    fn log(&mut self, line: &str);
}

/// The signals the runner reads from its signalfd: children ending,
/// stop and reload requests, and those it forwards to the service.
const HANDLED: [Signal; 9] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGALRM,
];

pub struct RealSys {
    sigfd: SignalFd,
    notify: Option<UnixDatagram>,
    readiness_fd: Option<i32>,
    me: i32,
    /// This program: what a Type=exec process runs until it executes.
    exe: Option<PathBuf>,
}

impl RealSys {
    /// Makes this process a subreaper, blocks the handled signals and
    /// opens a signalfd for them; `readiness_fd` (s6's) is not inherited
    /// by the service's processes.
    pub fn new(readiness_fd: Option<i32>) -> Result<Self> {
        if let Some(fd) = readiness_fd {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let mut mask = SigSet::empty();
        for s in HANDLED {
            mask.add(s);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
            .context("blocking signals")?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .context("signalfd")?;
        Ok(RealSys {
            sigfd,
            notify: None,
            readiness_fd,
            me: std::process::id() as i32,
            exe: std::env::current_exe().ok(),
        })
    }
}

impl Sys for RealSys {
    fn spawn(&mut self, req: &Request, what: &str) -> Result<i32> {
        let me = std::env::current_exe().context("finding nci-systemd")?;
        let child = std::process::Command::new(me)
            .arg("exec")
            .env_clear()
            .env(exec::ENV_VAR, serde_json::to_string(req)?)
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        Ok(child.id() as i32)
    }

    fn wait(&mut self, deadline: Option<Instant>) -> Result<Event> {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
        if let Some(n) = &self.notify {
            fds.push(PollFd::new(n.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => return Ok(Event::Tick),
            Ok(_) => {}
            Err(e) => return Err(anyhow!("poll: {e}")),
        }
        let notify_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        drop(fds);
        if let Some(info) = self.sigfd.read_signal().context("reading a signal")? {
            let sig = Signal::try_from(info.ssi_signo as i32).unwrap_or(Signal::SIGCHLD);
            return Ok(Event::Signal(sig));
        }
        if notify_ready {
            if let Some(n) = &self.notify {
                let mut buf = [0u8; 4096];
                if let Ok(len) = n.recv(&mut buf) {
                    return Ok(Event::Notify(notify::parse(&buf[..len])));
                }
            }
        }
        Ok(Event::Tick)
    }

    fn reap(&mut self) -> Vec<(i32, Status)> {
        let mut ended = Vec::new();
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => ended.push((pid.as_raw(), Status::Code(code))),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    ended.push((pid.as_raw(), Status::Signaled(sig)));
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return ended,
                Ok(_) => {}
            }
        }
    }

    fn kill(&mut self, pid: i32, sig: Signal) {
        let _ = kill(Pid::from_raw(pid), sig);
    }

    fn alive(&self, pid: i32) -> bool {
        kill(Pid::from_raw(pid), None).is_ok()
    }

    fn descendants(&self) -> Vec<i32> {
        // Zombies have ended: they do not count (see nci_core::proc_tree).
        proc_tree::descendants(self.me, Zombies::Skip)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default()
    }

    fn executed(&self, pid: i32) -> bool {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        exe.is_some() && exe != self.exe
    }

    fn listen(&mut self, unit: &str) -> Result<String> {
        let (sock, name) = notify::listen(unit)?;
        self.notify = Some(sock);
        Ok(name)
    }

    fn unlisten(&mut self) {
        self.notify = None;
    }

    fn ready(&mut self) -> io::Result<()> {
        let Some(fd) = self.readiness_fd.take() else {
            return Ok(());
        };
        use std::io::Write;
        // Only a failure to open the fd is reported (s6 may be gone).
        let result = match std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{fd}"))
        {
            Ok(mut f) => {
                let _ = f.write_all(b"\n");
                Ok(())
            }
            Err(e) => Err(io::Error::new(e.kind(), format!("fd {fd}: {e}"))),
        };
        let _ = nix::unistd::close(fd);
        result
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn log(&mut self, line: &str) {
        nci_core::errln!("{line}");
    }
}
