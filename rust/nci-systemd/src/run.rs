//! `nci-systemd run UNIT`: one service, as systemd's service manager runs
//! it. Under s6 this process is the supervised one; it is a subreaper, so
//! everything the service starts (a forking daemon too) stays below it.
//!
//! Start: conditions, directories, environment, ExecCondition,
//! ExecStartPre, the main process, readiness (per Type=), ExecStartPost,
//! then the s6 readiness newline. Running: SIGHUP is a reload
//! (ExecReload, or forwarded), other signals are forwarded, TERM/INT stop
//! (ExecStop, KillSignal, TimeoutStopSec, SIGKILL, ExecStopPost). When
//! the main process exits, Restart= decides (with RestartSec and the
//! start limit); a service that is done and not restarted stays
//! "inactive" until it is stopped, a failed one exits with its status.

use crate::accounts::Accounts;
use crate::cmdline::{Command, Specifiers};
use crate::exec::{self, Request, Stream};
use crate::notify;
use crate::spec::{DirKind, ExitSet, KillMode, Restart, Type, Unit, UnitSpec};
use anyhow::{anyhow, bail, Context, Result};
use nci_core::proc_tree::{self, Zombies};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chown, Gid, Pid, Uid};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Code(i32),
    Signaled(Signal),
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Code(c) => c,
            Status::Signaled(s) => 128 + s as i32,
        }
    }
    fn describe(self) -> String {
        match self {
            Status::Code(c) => format!("status {c}"),
            Status::Signaled(s) => format!("signal {s}"),
        }
    }
}

/// What a start of the unit came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The main process (or a oneshot's commands) ended.
    Exited(Status),
    /// A start step failed (ExecStartPre, readiness, ExecStartPost, ...).
    Failed(Status),
    /// A start timeout (TimeoutStartSec).
    Timeout,
    /// A condition or ExecCondition said no: nothing to run.
    Skipped,
    /// Stopped on request (TERM/INT).
    Stopped,
}

/// systemd's clean exits: 0 and SuccessExitStatus=, and the signals
/// HUP, INT, TERM, PIPE.
pub fn is_clean(status: Status, success: &ExitSet) -> bool {
    match status {
        Status::Code(c) => c == 0 || success.codes.contains(&c),
        Status::Signaled(s) => {
            matches!(
                s,
                Signal::SIGHUP | Signal::SIGINT | Signal::SIGTERM | Signal::SIGPIPE
            ) || success.signals.contains(&s)
        }
    }
}

fn in_set(status: Status, set: &ExitSet) -> bool {
    match status {
        Status::Code(c) => set.codes.contains(&c),
        Status::Signaled(s) => set.signals.contains(&s),
    }
}

/// Restart= (with RestartPreventExitStatus= and RestartForceExitStatus=).
pub fn should_restart(unit: &Unit, outcome: Outcome) -> bool {
    let (status, timeout) = match outcome {
        Outcome::Exited(s) | Outcome::Failed(s) => (s, false),
        Outcome::Timeout => (Status::Code(1), true),
        Outcome::Skipped | Outcome::Stopped => return false,
    };
    if !timeout && in_set(status, &unit.restart_prevent) {
        return false;
    }
    if !timeout && in_set(status, &unit.restart_force) {
        return true;
    }
    let clean = !timeout && is_clean(status, &unit.success_exit);
    let unclean_signal = matches!(status, Status::Signaled(_)) && !clean;
    match unit.restart {
        Restart::No | Restart::OnWatchdog => false,
        Restart::Always => true,
        Restart::OnSuccess => clean,
        Restart::OnFailure => !clean,
        Restart::OnAbnormal => unclean_signal || timeout,
        Restart::OnAbort => unclean_signal,
    }
}

/// The start limit: at most `burst` starts within `interval`.
pub fn start_allowed(
    starts: &mut VecDeque<Instant>,
    now: Instant,
    burst: u32,
    interval: Duration,
) -> bool {
    if burst == 0 || interval.is_zero() {
        return true;
    }
    while starts
        .front()
        .is_some_and(|t| now.duration_since(*t) > interval)
    {
        starts.pop_front();
    }
    if starts.len() as u32 >= burst {
        return false;
    }
    starts.push_back(now);
    true
}

/// The user a unit's processes run as.
#[derive(Debug, Clone)]
struct Creds {
    /// `None`: not switching (not root, or no User=).
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Vec<u32>,
    spec: Specifiers,
    home: String,
    user_set: bool,
}

enum Event {
    Signal(Signal),
    Notify(Vec<(String, String)>),
    Tick,
}

struct Runner {
    unit: Unit,
    readiness_fd: Option<i32>,
    ready_sent: bool,
    sigfd: SignalFd,
    notify: Option<UnixDatagram>,
    exited: HashMap<i32, Status>,
    stop_requested: bool,
    creds: Creds,
    ambient: Vec<String>,
    main_pid: Option<i32>,
    root: bool,
    /// `bin` beside the unit specs (the shim's systemd-notify).
    extra_path: Option<String>,
}

fn log(unit: &str, msg: &str) {
    nci_core::errln!("nci-systemd: {unit}: {msg}");
}

/// Every descendant of this process (it is a subreaper: orphans of the
/// service come back to it), from /proc, sorted. Zombies do not count:
/// they have ended (see `nci_core::proc_tree`).
fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    proc_tree::descendants(me, Zombies::Skip)
        .map(|s| s.into_iter().collect())
        .unwrap_or_default()
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

impl Runner {
    fn log(&self, msg: &str) {
        log(&self.unit.name, msg);
    }

    /// Waits for the next event until `deadline`.
    fn next_event(&mut self, deadline: Option<Instant>) -> Result<Event> {
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
            if sig == Signal::SIGCHLD {
                self.reap();
            }
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

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    self.exited.insert(pid.as_raw(), Status::Code(code));
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.exited.insert(pid.as_raw(), Status::Signaled(sig));
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    fn env_for(&self, base: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut env = base.clone();
        if let Some(pid) = self.main_pid {
            env.insert("MAINPID".into(), pid.to_string());
        }
        env
    }

    /// The process environment: the runner's own (the container's), the
    /// unit's, its files, the directories, the user's variables.
    fn build_env(&self) -> Result<BTreeMap<String, String>> {
        let mut env: BTreeMap<String, String> = std::env::vars().collect();
        env.remove(exec::ENV_VAR);
        for (k, v) in &self.unit.environment {
            env.insert(k.clone(), v.clone());
        }
        // The shim's systemd-notify, after the unit's own PATH.
        if let Some(dir) = &self.extra_path {
            let path = env.get("PATH").cloned().unwrap_or_default();
            let joined = if path.is_empty() {
                dir.clone()
            } else {
                format!("{path}:{dir}")
            };
            env.insert("PATH".into(), joined);
        }
        for (file, optional) in &self.unit.environment_files {
            match std::fs::read_to_string(file) {
                Ok(text) => {
                    for (k, v) in parse_env_file(&text) {
                        env.insert(k, v);
                    }
                }
                Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => bail!("EnvironmentFile {file}: {e}"),
            }
        }
        for kind in DirKind::ALL {
            let dirs: Vec<String> = self
                .unit
                .directories
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| format!("{}/{}", kind.base(), d.path))
                .collect();
            if !dirs.is_empty() {
                env.insert(kind.variable().into(), dirs.join(":"));
            }
        }
        if self.has_credentials() {
            env.insert(
                "CREDENTIALS_DIRECTORY".into(),
                crate::creds::dir_of(&self.unit.name)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        if self.creds.user_set {
            env.insert("USER".into(), self.creds.spec.user.clone());
            env.insert("LOGNAME".into(), self.creds.spec.user.clone());
            env.insert("HOME".into(), self.creds.home.clone());
            env.insert("SHELL".into(), self.creds.spec.shell.clone());
        }
        for k in &self.unit.unset_environment {
            match k.split_once('=') {
                Some((name, value)) => {
                    if env.get(name).map(String::as_str) == Some(value) {
                        env.remove(name);
                    }
                }
                None => {
                    env.remove(k);
                }
            }
        }
        Ok(env)
    }

    /// Creates RuntimeDirectory= and the others, owned by the unit's user
    /// (ConfigurationDirectory= stays root's), with their modes.
    fn make_directories(&self) -> Result<()> {
        for d in &self.unit.directories {
            let path = PathBuf::from(d.kind.base()).join(&d.path);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("{}: creating {}", d.kind.setting(), path.display()))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(d.mode)).with_context(
                || {
                    format!(
                        "{}: setting the mode of {}",
                        d.kind.setting(),
                        path.display()
                    )
                },
            )?;
            if !self.root || d.kind == DirKind::Configuration {
                continue;
            }
            let (Some(uid), Some(gid)) = (self.creds.uid, self.creds.gid) else {
                continue;
            };
            let meta = std::fs::metadata(&path)?;
            if meta.uid() != uid || meta.gid() != gid {
                // As systemd: a tree of another owner is handed over whole.
                for e in walkdir::WalkDir::new(&path) {
                    let e = e?;
                    chown(e.path(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                        .with_context(|| {
                            format!("{}: chown {}", d.kind.setting(), e.path().display())
                        })?;
                }
            }
        }
        Ok(())
    }

    fn has_credentials(&self) -> bool {
        !self.unit.load_credentials.is_empty() || !self.unit.set_credentials.is_empty()
    }

    /// Writes $CREDENTIALS_DIRECTORY anew, owned by the unit's user.
    fn setup_credentials(&self) -> Result<()> {
        if !self.has_credentials() {
            return Ok(());
        }
        let owner = match (self.root, self.creds.uid, self.creds.gid) {
            (true, Some(uid), Some(gid)) => Some((uid, gid)),
            _ => None,
        };
        crate::creds::setup(
            &crate::creds::dir_of(&self.unit.name),
            &self.unit.load_credentials,
            &self.unit.set_credentials,
            owner,
        )
    }

    /// The runtime directories (unless preserved) and the credentials
    /// go when the service is stopped or done.
    fn remove_runtime_directories(&self) {
        if self.has_credentials() {
            crate::creds::remove(&crate::creds::dir_of(&self.unit.name));
        }
        if self.unit.preserve_runtime {
            return;
        }
        for d in self
            .unit
            .directories
            .iter()
            .filter(|d| d.kind == DirKind::Runtime)
        {
            let _ = std::fs::remove_dir_all(Path::new(d.kind.base()).join(&d.path));
        }
    }

    fn check_conditions(&self) -> Result<bool> {
        let mut any_trigger = None;
        for c in &self.unit.conditions {
            let p = Path::new(&c.path);
            let holds = match c
                .setting
                .trim_start_matches("Condition")
                .trim_start_matches("Assert")
            {
                "PathExists" => p.symlink_metadata().is_ok(),
                "PathIsDirectory" => p.is_dir(),
                "PathIsSymbolicLink" => p.is_symlink(),
                "FileNotEmpty" => p
                    .metadata()
                    .map(|m| m.is_file() && m.len() > 0)
                    .unwrap_or(false),
                "DirectoryNotEmpty" => std::fs::read_dir(p)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false),
                "FileIsExecutable" => p
                    .metadata()
                    .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false),
                _ => true,
            } != c.negate;
            if c.trigger {
                any_trigger = Some(any_trigger.unwrap_or(false) || holds);
            } else if !holds {
                if c.assert {
                    bail!(
                        "{}={}{} failed",
                        c.setting,
                        if c.negate { "!" } else { "" },
                        c.path
                    );
                }
                self.log(&format!(
                    "{}={}{} does not hold: not started",
                    c.setting,
                    if c.negate { "!" } else { "" },
                    c.path
                ));
                return Ok(false);
            }
        }
        if any_trigger == Some(false) {
            self.log("none of the triggering conditions holds: not started");
            return Ok(false);
        }
        Ok(true)
    }

    /// Starts one command through `nci-systemd exec`; returns its pid.
    fn spawn(&self, cmd: &Command, env: &BTreeMap<String, String>) -> Result<i32> {
        let (exe, argv) = cmd.argv(&self.creds.spec, env);
        let privileged = cmd.flags.privileged;
        let (cwd, cwd_optional) = match &self.unit.working_directory {
            None => (Some("/".to_string()), false),
            Some((p, opt)) => {
                let p = if p == "~" {
                    self.creds.home.clone()
                } else {
                    p.clone()
                };
                (Some(p), *opt)
            }
        };
        let req = Request {
            unit: self.unit.name.clone(),
            exe,
            argv,
            env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            cwd,
            cwd_optional,
            umask: self.unit.umask,
            uid: if privileged { None } else { self.creds.uid },
            gid: if privileged { None } else { self.creds.gid },
            groups: self.creds.groups.clone(),
            ambient: if privileged {
                vec![]
            } else {
                self.ambient.clone()
            },
            bounding: if privileged {
                None
            } else {
                self.unit
                    .bounding_set
                    .as_ref()
                    .map(|b| b.iter().map(ToString::to_string).collect())
            },
            no_new_privileges: !privileged && self.unit.no_new_privileges,
            limits: self
                .unit
                .limits
                .iter()
                .map(|l| (l.setting.clone(), l.soft, l.hard))
                .collect(),
            stdin_null: self.unit.stdin_null,
            stdout: Stream::from(&self.unit.stdout),
            stderr: Stream::from(&self.unit.stderr),
        };
        let me = std::env::current_exe().context("finding nci-systemd")?;
        let child = std::process::Command::new(me)
            .arg("exec")
            .env_clear()
            .env(exec::ENV_VAR, serde_json::to_string(&req)?)
            .spawn()
            .with_context(|| format!("starting {}", cmd.raw))?;
        Ok(child.id() as i32)
    }

    /// Runs a command to its end (a stop request kills it).
    fn run_sync(
        &mut self,
        cmd: &Command,
        env: &BTreeMap<String, String>,
        deadline: Option<Instant>,
    ) -> Result<Outcome> {
        let pid = self.spawn(cmd, env)?;
        loop {
            if let Some(s) = self.exited.remove(&pid) {
                return Ok(Outcome::Exited(s));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.log(&format!("'{}' timed out", cmd.raw));
                self.kill_all(Signal::SIGKILL);
                self.wait_gone(Some(pid), Instant::now() + Duration::from_secs(5))?;
                return Ok(Outcome::Timeout);
            }
            match self.next_event(deadline)? {
                Event::Signal(Signal::SIGTERM | Signal::SIGINT) if !self.stop_requested => {
                    self.stop_requested = true;
                    let _ = kill(Pid::from_raw(pid), self.unit.kill_signal);
                }
                Event::Signal(s) if !matches!(s, Signal::SIGCHLD) => {
                    let _ = kill(Pid::from_raw(pid), s);
                }
                _ => {}
            }
        }
    }

    /// Runs a list of commands in order; the first failure (without `-`)
    /// ends the list.
    fn run_list(
        &mut self,
        cmds: &[Command],
        what: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<Outcome>> {
        for cmd in cmds {
            let env = self.env_for(&self.build_env()?);
            let out = self.run_sync(cmd, &env, deadline)?;
            if self.stop_requested {
                return Ok(Some(Outcome::Stopped));
            }
            match out {
                Outcome::Exited(s) if is_clean(s, &ExitSet::default()) => {}
                Outcome::Exited(s) if cmd.flags.ignore_failure => {
                    self.log(&format!(
                        "{what} '{}' failed ({}), ignored",
                        cmd.raw,
                        s.describe()
                    ));
                }
                Outcome::Exited(s) => {
                    self.log(&format!("{what} '{}' failed ({})", cmd.raw, s.describe()));
                    return Ok(Some(Outcome::Failed(s)));
                }
                other => return Ok(Some(other)),
            }
        }
        Ok(None)
    }

    fn signal_ready(&mut self) {
        if self.ready_sent {
            return;
        }
        self.ready_sent = true;
        if let Some(fd) = self.readiness_fd {
            use std::io::Write;
            match std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/self/fd/{fd}"))
            {
                Ok(mut f) => {
                    let _ = f.write_all(b"\n");
                }
                Err(e) => self.log(&format!("cannot signal readiness on fd {fd}: {e}")),
            }
            let _ = nix::unistd::close(fd);
        }
    }

    fn kill_all(&self, sig: Signal) {
        for pid in descendants() {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    /// Waits until `main` (or, with None, every descendant) is gone.
    fn wait_gone(&mut self, main: Option<i32>, deadline: Instant) -> Result<bool> {
        loop {
            self.reap();
            let gone = match main {
                Some(p) => !alive(p) || self.exited.contains_key(&p),
                None => descendants().is_empty(),
            };
            if gone {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let _ = self.next_event(Some(
                deadline.min(Instant::now() + Duration::from_millis(100)),
            ))?;
        }
    }

    /// Stops the running service: ExecStop=, then KillSignal= as
    /// KillMode= says, TimeoutStopSec=, then the final KILL.
    fn stop(&mut self, main: Option<i32>) -> Result<()> {
        let deadline = self.unit.timeout_stop.map(|t| Instant::now() + t);
        let far = Instant::now() + Duration::from_secs(365 * 86400);
        if !self.unit.exec_stop.is_empty() && main.is_some_and(alive) {
            let stops = self.unit.exec_stop.clone();
            self.run_stop_list(&stops, "ExecStop", deadline)?;
        }
        let main_alive = || -> Vec<i32> { main.into_iter().filter(|p| alive(*p)).collect() };
        let targets = match self.unit.kill_mode {
            KillMode::ControlGroup => descendants(),
            KillMode::Mixed | KillMode::Process => main_alive(),
            KillMode::None => vec![],
        };
        for pid in targets {
            let _ = kill(Pid::from_raw(pid), self.unit.kill_signal);
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            if self.unit.send_sighup {
                let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
            }
        }
        let wait_for = if self.unit.kill_mode == KillMode::ControlGroup {
            None
        } else {
            main
        };
        let done = self.wait_gone(wait_for, deadline.unwrap_or(far))?;
        if !done && self.unit.send_sigkill {
            self.log("still running after TimeoutStopSec: sending the final kill signal");
            let victims = match self.unit.kill_mode {
                KillMode::ControlGroup | KillMode::Mixed => descendants(),
                KillMode::Process => main_alive(),
                KillMode::None => vec![],
            };
            for pid in victims {
                let _ = kill(Pid::from_raw(pid), self.unit.final_kill_signal);
            }
            self.wait_gone(wait_for, Instant::now() + Duration::from_secs(5))?;
        }
        Ok(())
    }

    /// After the main process ended or the service stopped: what remains
    /// of it goes (KillMode=control-group), then ExecStopPost=.
    fn cleanup(&mut self) -> Result<()> {
        if self.unit.kill_mode == KillMode::ControlGroup && !descendants().is_empty() {
            self.stop(None)?;
        }
        let posts = self.unit.exec_stop_post.clone();
        self.run_stop_list(
            &posts,
            "ExecStopPost",
            self.unit.timeout_stop.map(|t| Instant::now() + t),
        )?;
        Ok(())
    }

    /// Runs ExecStop=/ExecStopPost= to their end: a stop request that is
    /// under way does not cut them short.
    fn run_stop_list(
        &mut self,
        cmds: &[Command],
        what: &str,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let was = self.stop_requested;
        self.stop_requested = false;
        let result = self.run_list(cmds, what, deadline);
        self.stop_requested = was;
        result.map(|_| ())
    }

    fn reload(&mut self) -> Result<()> {
        if self.unit.exec_reload.is_empty() {
            if let Some(p) = self.main_pid {
                let _ = kill(Pid::from_raw(p), Signal::SIGHUP);
            }
            return Ok(());
        }
        self.log("reloading");
        let cmds = self.unit.exec_reload.clone();
        if let Some(Outcome::Failed(s)) = self.run_list(
            &cmds,
            "ExecReload",
            self.unit.timeout_start.map(|t| Instant::now() + t),
        )? {
            self.log(&format!("reload failed ({})", s.describe()));
        }
        Ok(())
    }

    /// A notification's `MAINPID=` makes that process the main one.
    fn follow_main_pid(&mut self, kv: &[(String, String)], main: &mut i32) {
        for (k, v) in kv {
            if k == "MAINPID" {
                if let Ok(p) = v.parse() {
                    *main = p;
                    self.main_pid = Some(p);
                }
            }
        }
    }

    /// Reads MAINPID from PIDFile=, waiting for it a little.
    fn read_pid_file(&mut self, deadline: Option<Instant>) -> Result<Option<i32>> {
        let Some(file) = self.unit.pid_file.clone() else {
            return Ok(None);
        };
        let until = deadline.unwrap_or(Instant::now() + Duration::from_secs(5));
        loop {
            if let Ok(t) = std::fs::read_to_string(&file) {
                if let Ok(p) = t.trim().parse::<i32>() {
                    return Ok(Some(p));
                }
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            let _ = self.next_event(Some(Instant::now() + Duration::from_millis(50)))?;
        }
    }

    /// One start of the service, until its main process ends or a stop.
    fn start_once(&mut self) -> Result<Outcome> {
        self.main_pid = None;
        match self.check_conditions() {
            Ok(true) => {}
            Ok(false) => return Ok(Outcome::Skipped),
            Err(e) => {
                self.log(&format!("{e:#}"));
                return Ok(Outcome::Failed(Status::Code(1)));
            }
        }
        if let Err(e) = self.make_directories() {
            self.log(&format!("{e:#}"));
            return Ok(Outcome::Failed(Status::Code(exec::EXIT_RUNTIME_DIRECTORY)));
        }
        if let Err(e) = self.setup_credentials() {
            self.log(&format!("{e:#}"));
            return Ok(Outcome::Failed(Status::Code(exec::EXIT_CREDENTIALS)));
        }
        let start_deadline = self.unit.timeout_start.map(|t| Instant::now() + t);

        // ExecCondition: 1-254 skips the start, 255 or a signal fails it.
        for cmd in self.unit.exec_condition.clone() {
            let env = self.build_env()?;
            match self.run_sync(&cmd, &env, start_deadline)? {
                Outcome::Exited(Status::Code(0)) => {}
                Outcome::Exited(Status::Code(c)) if c < 255 => {
                    self.log(&format!(
                        "ExecCondition '{}' exited {c}: not started",
                        cmd.raw
                    ));
                    return Ok(Outcome::Skipped);
                }
                Outcome::Exited(s) => return Ok(Outcome::Failed(s)),
                other => return Ok(other),
            }
        }
        let pre = self.unit.exec_start_pre.clone();
        if let Some(o) = self.run_list(&pre, "ExecStartPre", start_deadline)? {
            return Ok(o);
        }

        if self.unit.kind == Type::Oneshot {
            let starts = self.unit.exec_start.clone();
            // A oneshot's start has no timeout unless one is given.
            if let Some(o) = self.run_list(&starts, "ExecStart", None)? {
                return Ok(match o {
                    Outcome::Failed(s) => Outcome::Exited(s),
                    other => other,
                });
            }
            let posts = self.unit.exec_start_post.clone();
            if let Some(o) = self.run_list(&posts, "ExecStartPost", start_deadline)? {
                return Ok(o);
            }
            return Ok(Outcome::Exited(Status::Code(0)));
        }

        let mut env = self.build_env()?;
        if self.unit.kind == Type::Notify {
            let (sock, name) = notify::listen(&self.unit.name)?;
            self.notify = Some(sock);
            env.insert("NOTIFY_SOCKET".into(), name);
        }
        let main_cmd = self.unit.exec_start[0].clone();
        let first = self.spawn(&main_cmd, &env)?;
        let mut main = first;
        self.main_pid = Some(main);

        // Readiness, by type.
        match self.unit.kind {
            Type::Notify => loop {
                if let Some(s) = self.exited.remove(&main) {
                    self.log(&format!("exited before it was ready ({})", s.describe()));
                    return Ok(Outcome::Failed(s));
                }
                if start_deadline.is_some_and(|d| Instant::now() >= d) {
                    self.log("not ready within TimeoutStartSec");
                    self.stop(Some(main))?;
                    return Ok(Outcome::Timeout);
                }
                match self.next_event(start_deadline)? {
                    Event::Notify(kv) => {
                        self.follow_main_pid(&kv, &mut main);
                        if kv.iter().any(|(k, v)| k == "READY" && v == "1") {
                            break;
                        }
                    }
                    Event::Signal(Signal::SIGTERM | Signal::SIGINT) => {
                        self.stop_requested = true;
                        self.stop(Some(main))?;
                        return Ok(Outcome::Stopped);
                    }
                    _ => {}
                }
            },
            Type::Forking => {
                loop {
                    if let Some(s) = self.exited.remove(&first) {
                        if !is_clean(s, &ExitSet::default()) {
                            self.log(&format!("the forking process failed ({})", s.describe()));
                            return Ok(Outcome::Failed(s));
                        }
                        break;
                    }
                    if start_deadline.is_some_and(|d| Instant::now() >= d) {
                        self.log("the forking process did not exit within TimeoutStartSec");
                        self.stop(Some(first))?;
                        return Ok(Outcome::Timeout);
                    }
                    if let Event::Signal(Signal::SIGTERM | Signal::SIGINT) =
                        self.next_event(start_deadline)?
                    {
                        self.stop_requested = true;
                        self.stop(Some(first))?;
                        return Ok(Outcome::Stopped);
                    }
                }
                main = match self.read_pid_file(start_deadline)? {
                    Some(p) => p,
                    None => match descendants().as_slice() {
                        [only] => *only,
                        [] => {
                            self.log("the daemon is gone after forking");
                            return Ok(Outcome::Failed(Status::Code(1)));
                        }
                        many => {
                            self.log("several processes after forking and no PIDFile=: the first is the main one");
                            many[0]
                        }
                    },
                };
                self.main_pid = Some(main);
            }
            Type::Exec => {
                // Started once `nci-systemd exec` has executed the command
                // (the process's executable is no longer ours).
                let me = std::env::current_exe().ok();
                loop {
                    if let Some(s) = self.exited.remove(&main) {
                        self.log(&format!("exited before it was started ({})", s.describe()));
                        return Ok(Outcome::Failed(s));
                    }
                    let exe = std::fs::read_link(format!("/proc/{main}/exe")).ok();
                    if exe.is_some() && exe != me {
                        break;
                    }
                    if start_deadline.is_some_and(|d| Instant::now() >= d) {
                        self.stop(Some(main))?;
                        return Ok(Outcome::Timeout);
                    }
                    let _ = self.next_event(Some(Instant::now() + Duration::from_millis(5)))?;
                }
            }
            _ => {}
        }

        let posts = self.unit.exec_start_post.clone();
        if let Some(o) = self.run_list(&posts, "ExecStartPost", start_deadline)? {
            self.stop(Some(main))?;
            return Ok(o);
        }
        self.signal_ready();

        // Running.
        let status = loop {
            if let Some(s) = self.exited.remove(&main) {
                break s;
            }
            if self.unit.kind == Type::Forking && !alive(main) {
                // Not our child (the daemon double-forked): no status.
                break Status::Code(0);
            }
            let tick = if self.unit.kind == Type::Forking {
                Some(Instant::now() + Duration::from_millis(500))
            } else {
                None
            };
            match self.next_event(tick)? {
                Event::Signal(Signal::SIGTERM | Signal::SIGINT) => {
                    self.stop_requested = true;
                    self.stop(Some(main))?;
                    self.cleanup()?;
                    return Ok(Outcome::Stopped);
                }
                Event::Signal(Signal::SIGHUP) => self.reload()?,
                Event::Signal(Signal::SIGCHLD) => {}
                Event::Signal(s) => {
                    let _ = kill(Pid::from_raw(main), s);
                }
                Event::Notify(kv) => self.follow_main_pid(&kv, &mut main),
                Event::Tick => {}
            }
        };
        self.cleanup()?;
        Ok(Outcome::Exited(status))
    }

    /// Idles (the service is done, "inactive") until asked to stop.
    fn idle(&mut self) -> Result<()> {
        self.signal_ready();
        loop {
            if let Event::Signal(Signal::SIGTERM | Signal::SIGINT) = self.next_event(None)? {
                return Ok(());
            }
        }
    }

    /// Waits RestartSec; false when a stop came meanwhile.
    fn restart_wait(&mut self) -> Result<bool> {
        let until = Instant::now() + self.unit.restart_sec;
        while Instant::now() < until {
            if let Event::Signal(Signal::SIGTERM | Signal::SIGINT) = self.next_event(Some(until))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn main_loop(&mut self) -> Result<i32> {
        let mut starts = VecDeque::new();
        let mut last_failure = 1;
        loop {
            if !start_allowed(
                &mut starts,
                Instant::now(),
                self.unit.start_limit_burst,
                self.unit.start_limit_interval,
            ) {
                self.log(&format!(
                    "start request repeated too quickly ({} starts within {:?}, StartLimitBurst/StartLimitIntervalSec): failed",
                    self.unit.start_limit_burst, self.unit.start_limit_interval
                ));
                self.remove_runtime_directories();
                return Ok(last_failure);
            }
            let outcome = self.start_once()?;
            self.notify = None;
            match outcome {
                Outcome::Stopped => {
                    self.remove_runtime_directories();
                    return Ok(0);
                }
                Outcome::Skipped => {
                    self.remove_runtime_directories();
                    if self.unit.kind == Type::Oneshot {
                        return Ok(0);
                    }
                    self.idle()?;
                    return Ok(0);
                }
                _ => {}
            }
            let status = match outcome {
                Outcome::Exited(s) | Outcome::Failed(s) => s,
                _ => Status::Code(1),
            };
            let restart = should_restart(&self.unit, outcome);
            let clean =
                matches!(outcome, Outcome::Exited(_)) && is_clean(status, &self.unit.success_exit);
            if !clean {
                last_failure = match status.exit_code() {
                    0 => 1,
                    c => c,
                };
            }
            if restart {
                self.log(&format!(
                    "{} ({}); restarting in {:?} (Restart={})",
                    if clean { "exited" } else { "failed" },
                    status.describe(),
                    self.unit.restart_sec,
                    self.unit.restart.name()
                ));
                if !self.restart_wait()? {
                    self.remove_runtime_directories();
                    return Ok(0);
                }
                continue;
            }
            self.remove_runtime_directories();
            if clean {
                if self.unit.kind == Type::Oneshot {
                    return Ok(0);
                }
                self.log(&format!(
                    "exited ({}); not restarted, inactive until stopped",
                    status.describe()
                ));
                self.idle()?;
                return Ok(0);
            }
            self.log(&format!(
                "failed ({})",
                if outcome == Outcome::Timeout {
                    "timeout".into()
                } else {
                    status.describe()
                }
            ));
            return Ok(last_failure);
        }
    }
}

/// `KEY=VALUE` lines of an EnvironmentFile= (comments, quotes, `export`).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            v.to_string()
        };
        out.push((k.trim().to_string(), v));
    }
    out
}

fn credentials(unit: &Unit, accounts: &Accounts, root: bool) -> Result<Creds> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let me = nix::unistd::getuid().as_raw();
    let user = match &unit.user {
        Some(u) => accounts
            .user(u)
            .with_context(|| format!("systemd.services.{}.serviceConfig.User", unit.name))?,
        None => accounts.user(&me.to_string())?,
    };
    let group = match &unit.group {
        Some(g) => accounts
            .group(g)
            .with_context(|| format!("systemd.services.{}.serviceConfig.Group", unit.name))?,
        None => accounts.group(&user.gid.to_string())?,
    };
    let mut groups: Vec<u32> = vec![group.gid];
    if unit.user.is_some() {
        groups.extend(accounts.member_gids(&user.name));
    }
    for g in &unit.supplementary_groups {
        groups.push(
            accounts
                .group(g)
                .with_context(|| {
                    format!(
                        "systemd.services.{}.serviceConfig.SupplementaryGroups",
                        unit.name
                    )
                })?
                .gid,
        );
    }
    groups.sort_unstable();
    groups.dedup();
    let switching = root && (unit.user.is_some() || unit.group.is_some());
    if !root && unit.user.is_some() && user.uid != me {
        log(
            &unit.name,
            &format!(
                "not running as root: User={} is not applied, the service runs as uid {me}",
                user.name
            ),
        );
    }
    Ok(Creds {
        uid: switching.then_some(user.uid),
        gid: switching.then_some(group.gid),
        groups,
        home: user.home.clone(),
        user_set: unit.user.is_some(),
        spec: Specifiers {
            unit: unit.name.clone(),
            user: user.name.clone(),
            uid: user.uid,
            group: group.name.clone(),
            gid: group.gid,
            home: user.home,
            shell: user.shell,
            hostname,
        },
    })
}

/// `nci-systemd run`: the exit status is the service's when it failed,
/// 0 when it was stopped or is done.
pub fn main(unit_path: &Path, readiness_fd: Option<i32>, etc: &Path) -> Result<i32> {
    let text = std::fs::read_to_string(unit_path)
        .with_context(|| format!("reading {}", unit_path.display()))?;
    let spec: UnitSpec =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", unit_path.display()))?;
    let mut unit = Unit::from_spec(&spec)?;
    // Limits above the container's hard limits cannot be set: lowered.
    unit.limits = crate::limits::fit_all(&unit.limits, |msg| log(&unit.name, &msg));
    let accounts = Accounts::load(etc)?;
    let root = nix::unistd::geteuid().is_root();
    let creds = credentials(&unit, &accounts, root)?;

    // Capabilities the container does not have cannot be given.
    let ambient = unit
        .ambient_capabilities
        .iter()
        .filter(|c| {
            let ok = caps::has_cap(None, caps::CapSet::Bounding, **c).unwrap_or(false);
            if !ok {
                log(
                    &unit.name,
                    &format!(
                        "AmbientCapabilities: {c} is not available in this container; not given"
                    ),
                );
            }
            ok
        })
        .map(ToString::to_string)
        .collect();

    if let Some(fd) = readiness_fd {
        // The service's processes must not inherit the readiness pipe.
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGALRM,
    ] {
        mask.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .context("blocking signals")?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("signalfd")?;

    let mut runner = Runner {
        unit,
        readiness_fd,
        ready_sent: false,
        sigfd,
        notify: None,
        exited: HashMap::new(),
        stop_requested: false,
        creds,
        ambient,
        main_pid: None,
        root,
        extra_path: unit_path
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("bin"))
            .filter(|d| d.join("systemd-notify").exists())
            .map(|d| d.to_string_lossy().into_owned()),
    };
    // What ends the runner (an EnvironmentFile= it cannot read, a command
    // it cannot start, ...) names the service, as its log lines do.
    let name = runner.unit.name.clone();
    runner.main_loop().context(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(extra: &str) -> Unit {
        let spec: UnitSpec = serde_json::from_str(&format!(
            r#"{{"name":"t","type":"simple","serviceConfig":{{"ExecStart":"/bin/t"{extra}}}}}"#
        ))
        .unwrap();
        Unit::from_spec(&spec).unwrap()
    }

    #[test]
    fn restart_policies() {
        let ok = Outcome::Exited(Status::Code(0));
        let bad = Outcome::Exited(Status::Code(3));
        let term = Outcome::Exited(Status::Signaled(Signal::SIGTERM));
        let segv = Outcome::Exited(Status::Signaled(Signal::SIGSEGV));
        let cases = [
            ("no", [false, false, false, false]),
            ("always", [true, true, true, true]),
            ("on-success", [true, false, true, false]),
            ("on-failure", [false, true, false, true]),
            ("on-abnormal", [false, false, false, true]),
            ("on-abort", [false, false, false, true]),
        ];
        for (policy, expect) in cases {
            let u = unit(&format!(r#","Restart":"{policy}""#));
            let got = [ok, bad, term, segv].map(|o| should_restart(&u, o));
            assert_eq!(got, expect, "Restart={policy}");
        }
        let u = unit(
            r#","Restart":"on-failure","RestartPreventExitStatus":"3","SuccessExitStatus":"7""#,
        );
        assert!(!should_restart(&u, bad));
        assert!(!should_restart(&u, Outcome::Exited(Status::Code(7))));
        assert!(should_restart(
            &unit(r#","Restart":"on-failure""#),
            Outcome::Timeout
        ));
        let forced = unit(r#","RestartForceExitStatus":"0""#);
        assert!(should_restart(&forced, ok));
        assert!(!should_restart(
            &unit(r#","Restart":"always""#),
            Outcome::Stopped
        ));
    }

    #[test]
    fn start_limit() {
        let mut starts = VecDeque::new();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(start_allowed(
                &mut starts,
                t0 + Duration::from_millis(i),
                5,
                Duration::from_secs(10)
            ));
        }
        assert!(!start_allowed(
            &mut starts,
            t0 + Duration::from_secs(1),
            5,
            Duration::from_secs(10)
        ));
        assert!(start_allowed(
            &mut starts,
            t0 + Duration::from_secs(11),
            5,
            Duration::from_secs(10)
        ));
    }

    #[test]
    fn environment_files() {
        let v = parse_env_file("# c\nA=1\nexport B=\"two words\"\n; x\nC='3'\nbad line\n");
        assert_eq!(
            v,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "3".into())
            ]
        );
    }

    #[test]
    fn clean_exits() {
        let none = ExitSet::default();
        assert!(is_clean(Status::Code(0), &none));
        assert!(is_clean(Status::Signaled(Signal::SIGTERM), &none));
        assert!(!is_clean(Status::Signaled(Signal::SIGKILL), &none));
        assert!(!is_clean(Status::Code(1), &none));
    }
}
