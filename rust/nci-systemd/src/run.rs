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
//!
//! Every system call of the loop (spawning, waiting for signals and
//! notifications, reaping, killing, the process tree, the clock) goes
//! through [`Sys`]: [`RealSys`] in `main`, a scripted fake in the tests
//! below.

use crate::cmdline::{Command, Specifiers};
use crate::exec::{self, Request, Stream};
use crate::spec::{DirKind, ExitSet, KillMode, Restart, Type, Unit, UnitSpec};
use crate::sys::{Event, RealSys, Sys};
use crate::systemctl::State;
use anyhow::{bail, Context, Result};
use nci_core::passwd::{AccountFiles, GroupEntry, PasswdEntry};
use nix::sys::signal::Signal;
use nix::unistd::{chown, Gid, Uid};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::ControlFlow;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

/// What the start steps come to: go on (with the main process), or stop
/// the start with an outcome.
type Step<T = ()> = ControlFlow<Outcome, T>;

/// One service's runner: its loop, over the system calls of `S`.
struct Runner<S: Sys> {
    unit: Unit,
    sys: S,
    ready_sent: bool,
    exited: HashMap<i32, Status>,
    stop_requested: bool,
    creds: Creds,
    ambient: Vec<String>,
    main_pid: Option<i32>,
    root: bool,
    /// `bin` beside the unit specs (the shim's systemd-notify).
    extra_path: Option<String>,
    /// The s6 service directory where the unit's state is kept for
    /// `systemctl` (the runner's starting directory, under s6).
    state_dir: Option<std::path::PathBuf>,
    /// How many times the state was written.
    state_writes: u64,
}

fn log(unit: &str, msg: &str) {
    nci_core::errln!("nci-systemd: {unit}: {msg}");
}

impl<S: Sys> Runner<S> {
    fn new(unit: Unit, sys: S, creds: Creds, ambient: Vec<String>, root: bool) -> Self {
        Runner {
            unit,
            sys,
            ready_sent: false,
            exited: HashMap::new(),
            stop_requested: false,
            creds,
            ambient,
            main_pid: None,
            root,
            extra_path: None,
            state_dir: None,
            state_writes: 0,
        }
    }

    /// Keeps the unit's state (systemd's ActiveState) for `systemctl`.
    fn set_state(&mut self, state: State) {
        if let Some(dir) = self.state_dir.clone() {
            self.state_writes += 1;
            if let Err(e) = crate::systemctl::write_state(&dir, state, self.state_writes) {
                self.log(&format!(
                    "cannot keep its state in {} for systemctl: {e}",
                    dir.display()
                ));
            }
        }
    }

    fn log(&mut self, msg: &str) {
        let line = format!("nci-systemd: {}: {msg}", self.unit.name);
        self.sys.log(&line);
    }

    fn now(&self) -> Instant {
        self.sys.now()
    }

    /// Waits for the next event until `deadline`; children that ended
    /// are reaped into `exited`.
    fn next_event(&mut self, deadline: Option<Instant>) -> Result<Event> {
        let event = self.sys.wait(deadline)?;
        if event == Event::Signal(Signal::SIGCHLD) {
            self.reap();
        }
        Ok(event)
    }

    fn reap(&mut self) {
        let ended = self.sys.reap();
        self.exited.extend(ended);
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
        env.extend(self.unit.environment.clone());
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
                Ok(text) => env.extend(parse_env_file(&text)),
                Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => bail!("EnvironmentFile {file}: {e}"),
            }
        }
        env.extend(self.directory_variables());
        if self.has_credentials() {
            let dir = crate::creds::dir_of(&self.unit.name);
            env.insert(
                "CREDENTIALS_DIRECTORY".into(),
                dir.to_string_lossy().into_owned(),
            );
        }
        if self.creds.user_set {
            env.insert("USER".into(), self.creds.spec.user.clone());
            env.insert("LOGNAME".into(), self.creds.spec.user.clone());
            env.insert("HOME".into(), self.creds.home.clone());
            env.insert("SHELL".into(), self.creds.spec.shell.clone());
        }
        unset_environment(&mut env, &self.unit.unset_environment);
        Ok(env)
    }

    /// `$RUNTIME_DIRECTORY` and the others: each kind's directories.
    fn directory_variables(&self) -> Vec<(String, String)> {
        DirKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let dirs: Vec<String> = self
                    .unit
                    .directories
                    .iter()
                    .filter(|d| d.kind == kind)
                    .map(|d| format!("{}/{}", kind.base(), d.path))
                    .collect();
                (!dirs.is_empty()).then(|| (kind.variable().to_string(), dirs.join(":")))
            })
            .collect()
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

    /// Whether the service may start: Condition*= (a skip) and Assert*=
    /// (a failure, as an error).
    fn check_conditions(&mut self) -> Result<bool> {
        let mut any_trigger = None;
        let facts = if self.unit.conditions.is_empty() {
            crate::conditions::Facts::default()
        } else {
            crate::conditions::Facts::current()
        };
        for c in &self.unit.conditions {
            let holds = crate::conditions::holds(c, &facts);
            if c.trigger {
                any_trigger = Some(any_trigger.unwrap_or(false) || holds);
            } else if !holds {
                let shown = format!(
                    "{}={}{}",
                    c.setting,
                    if c.negate { "!" } else { "" },
                    c.path
                );
                if c.assert {
                    bail!("{shown} failed");
                }
                self.log(&format!("{shown} does not hold: not started"));
                return Ok(false);
            }
        }
        if any_trigger == Some(false) {
            self.log("none of the triggering conditions holds: not started");
            return Ok(false);
        }
        Ok(true)
    }

    /// What `nci-systemd exec` applies to start `cmd`.
    fn request(&self, cmd: &Command, env: &BTreeMap<String, String>) -> Request {
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
        Request {
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
            scheduling: self.unit.scheduling.clone(),
        }
    }

    /// Starts one command through `nci-systemd exec`; returns its pid.
    fn spawn(&mut self, cmd: &Command, env: &BTreeMap<String, String>) -> Result<i32> {
        let req = self.request(cmd, env);
        self.sys.spawn(&req, &cmd.raw)
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
            if deadline.is_some_and(|d| self.now() >= d) {
                self.log(&format!("'{}' timed out", cmd.raw));
                self.kill_all(Signal::SIGKILL);
                let until = self.now() + Duration::from_secs(5);
                self.wait_gone(Some(pid), until)?;
                return Ok(Outcome::Timeout);
            }
            match self.next_event(deadline)? {
                Event::Signal(Signal::SIGTERM | Signal::SIGINT) if !self.stop_requested => {
                    self.stop_requested = true;
                    self.sys.kill(pid, self.unit.kill_signal);
                }
                Event::Signal(s) if !matches!(s, Signal::SIGCHLD) => self.sys.kill(pid, s),
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

    /// Tells s6 the service is ready, once.
    fn signal_ready(&mut self) {
        if self.ready_sent {
            return;
        }
        self.ready_sent = true;
        if let Err(e) = self.sys.ready() {
            self.log(&format!("cannot signal readiness on {e}"));
        }
    }

    fn kill_all(&mut self, sig: Signal) {
        for pid in self.sys.descendants() {
            self.sys.kill(pid, sig);
        }
    }

    /// `main` if it still runs.
    fn alive(&self, main: Option<i32>) -> Vec<i32> {
        main.into_iter().filter(|p| self.sys.alive(*p)).collect()
    }

    /// Waits until `main` (or, with None, every descendant) is gone.
    fn wait_gone(&mut self, main: Option<i32>, deadline: Instant) -> Result<bool> {
        loop {
            self.reap();
            let gone = match main {
                Some(p) => !self.sys.alive(p) || self.exited.contains_key(&p),
                None => self.sys.descendants().is_empty(),
            };
            if gone {
                return Ok(true);
            }
            if self.now() >= deadline {
                return Ok(false);
            }
            let step = deadline.min(self.now() + Duration::from_millis(100));
            let _ = self.next_event(Some(step))?;
        }
    }

    /// Stops the running service: ExecStop=, then KillSignal= as
    /// KillMode= says, TimeoutStopSec=, then the final KILL.
    fn stop(&mut self, main: Option<i32>) -> Result<()> {
        self.set_state(State::Deactivating);
        let deadline = self.unit.timeout_stop.map(|t| self.now() + t);
        let far = self.now() + Duration::from_secs(365 * 86400);
        if !self.unit.exec_stop.is_empty() && !self.alive(main).is_empty() {
            let stops = self.unit.exec_stop.clone();
            self.run_stop_list(&stops, "ExecStop", deadline)?;
        }
        let targets = match self.unit.kill_mode {
            KillMode::ControlGroup => self.sys.descendants(),
            KillMode::Mixed | KillMode::Process => self.alive(main),
            KillMode::None => vec![],
        };
        for pid in targets {
            self.sys.kill(pid, self.unit.kill_signal);
            self.sys.kill(pid, Signal::SIGCONT);
            if self.unit.send_sighup {
                self.sys.kill(pid, Signal::SIGHUP);
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
                KillMode::ControlGroup | KillMode::Mixed => self.sys.descendants(),
                KillMode::Process => self.alive(main),
                KillMode::None => vec![],
            };
            for pid in victims {
                self.sys.kill(pid, self.unit.final_kill_signal);
            }
            let until = self.now() + Duration::from_secs(5);
            self.wait_gone(wait_for, until)?;
        }
        Ok(())
    }

    /// After the main process ended or the service stopped: what remains
    /// of it goes (KillMode=control-group), then ExecStopPost=.
    fn cleanup(&mut self) -> Result<()> {
        if self.unit.kill_mode == KillMode::ControlGroup && !self.sys.descendants().is_empty() {
            self.stop(None)?;
        }
        let posts = self.unit.exec_stop_post.clone();
        let deadline = self.unit.timeout_stop.map(|t| self.now() + t);
        self.run_stop_list(&posts, "ExecStopPost", deadline)?;
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
        // Both states each time: `systemctl reload` waits for the second.
        self.set_state(State::Reloading);
        if self.unit.exec_reload.is_empty() {
            if let Some(p) = self.main_pid {
                self.sys.kill(p, Signal::SIGHUP);
            }
            self.set_state(State::Active);
            return Ok(());
        }
        self.log("reloading");
        let cmds = self.unit.exec_reload.clone();
        let deadline = self.unit.timeout_start.map(|t| self.now() + t);
        if let Some(Outcome::Failed(s)) = self.run_list(&cmds, "ExecReload", deadline)? {
            self.log(&format!("reload failed ({})", s.describe()));
        }
        self.set_state(State::Active);
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
        let until = deadline.unwrap_or(self.now() + Duration::from_secs(5));
        loop {
            if let Ok(t) = std::fs::read_to_string(&file) {
                if let Ok(p) = t.trim().parse::<i32>() {
                    return Ok(Some(p));
                }
            }
            if self.now() >= until {
                return Ok(None);
            }
            let step = self.now() + Duration::from_millis(50);
            let _ = self.next_event(Some(step))?;
        }
    }

    /// One start of the service, until its main process ends or a stop.
    fn start_once(&mut self) -> Result<Outcome> {
        self.main_pid = None;
        self.set_state(State::Activating);
        if let Step::Break(o) = self.prepare() {
            return Ok(o);
        }
        let deadline = self.unit.timeout_start.map(|t| self.now() + t);
        if let Step::Break(o) = self.exec_conditions(deadline)? {
            return Ok(o);
        }
        let pre = self.unit.exec_start_pre.clone();
        if let Some(o) = self.run_list(&pre, "ExecStartPre", deadline)? {
            return Ok(o);
        }
        if self.unit.kind == Type::Oneshot {
            return self.start_oneshot(deadline);
        }
        let main = match self.start_main(deadline)? {
            Step::Continue(main) => main,
            Step::Break(o) => return Ok(o),
        };
        let posts = self.unit.exec_start_post.clone();
        if let Some(o) = self.run_list(&posts, "ExecStartPost", deadline)? {
            self.stop(Some(main))?;
            return Ok(o);
        }
        self.signal_ready();
        self.set_state(State::Active);
        self.run_main(main)
    }

    /// Conditions, directories, credentials: what comes before any
    /// command.
    fn prepare(&mut self) -> Step {
        match self.check_conditions() {
            Ok(true) => {}
            Ok(false) => return Step::Break(Outcome::Skipped),
            Err(e) => {
                self.log(&format!("{e:#}"));
                return Step::Break(Outcome::Failed(Status::Code(1)));
            }
        }
        if let Err(e) = self.make_directories() {
            self.log(&format!("{e:#}"));
            let code = exec::EXIT_RUNTIME_DIRECTORY;
            return Step::Break(Outcome::Failed(Status::Code(code)));
        }
        if let Err(e) = self.setup_credentials() {
            self.log(&format!("{e:#}"));
            return Step::Break(Outcome::Failed(Status::Code(exec::EXIT_CREDENTIALS)));
        }
        Step::Continue(())
    }

    /// ExecCondition=: 1-254 skips the start, 255 or a signal fails it.
    fn exec_conditions(&mut self, deadline: Option<Instant>) -> Result<Step> {
        for cmd in self.unit.exec_condition.clone() {
            let env = self.build_env()?;
            match self.run_sync(&cmd, &env, deadline)? {
                Outcome::Exited(Status::Code(0)) => {}
                Outcome::Exited(Status::Code(c)) if c < 255 => {
                    self.log(&format!(
                        "ExecCondition '{}' exited {c}: not started",
                        cmd.raw
                    ));
                    return Ok(Step::Break(Outcome::Skipped));
                }
                Outcome::Exited(s) => return Ok(Step::Break(Outcome::Failed(s))),
                other => return Ok(Step::Break(other)),
            }
        }
        Ok(Step::Continue(()))
    }

    /// Type=oneshot: ExecStart= in order (no timeout unless one is
    /// given), then ExecStartPost=.
    fn start_oneshot(&mut self, deadline: Option<Instant>) -> Result<Outcome> {
        let starts = self.unit.exec_start.clone();
        if let Some(o) = self.run_list(&starts, "ExecStart", None)? {
            return Ok(match o {
                Outcome::Failed(s) => Outcome::Exited(s),
                other => other,
            });
        }
        let posts = self.unit.exec_start_post.clone();
        if let Some(o) = self.run_list(&posts, "ExecStartPost", deadline)? {
            return Ok(o);
        }
        Ok(Outcome::Exited(Status::Code(0)))
    }

    /// Starts the main process and waits until it is started as its
    /// Type= says; goes on with the main process's pid.
    fn start_main(&mut self, deadline: Option<Instant>) -> Result<Step<i32>> {
        let mut env = self.build_env()?;
        if self.unit.kind == Type::Notify {
            let socket = self.sys.listen(&self.unit.name)?;
            env.insert("NOTIFY_SOCKET".into(), socket);
        }
        let main_cmd = self.unit.exec_start[0].clone();
        let first = self.spawn(&main_cmd, &env)?;
        self.main_pid = Some(first);
        match self.unit.kind {
            Type::Notify => self.wait_notified_ready(first, deadline),
            Type::Forking => self.wait_forked(first, deadline),
            Type::Exec => self.wait_executed(first, deadline),
            _ => Ok(Step::Continue(first)),
        }
    }

    /// Type=notify: started at `READY=1`.
    fn wait_notified_ready(&mut self, first: i32, deadline: Option<Instant>) -> Result<Step<i32>> {
        let mut main = first;
        loop {
            if let Some(s) = self.exited.remove(&main) {
                self.log(&format!("exited before it was ready ({})", s.describe()));
                return Ok(Step::Break(Outcome::Failed(s)));
            }
            if deadline.is_some_and(|d| self.now() >= d) {
                self.log("not ready within TimeoutStartSec");
                self.stop(Some(main))?;
                return Ok(Step::Break(Outcome::Timeout));
            }
            match self.next_event(deadline)? {
                Event::Notify(kv) => {
                    self.follow_main_pid(&kv, &mut main);
                    if kv.iter().any(|(k, v)| k == "READY" && v == "1") {
                        return Ok(Step::Continue(main));
                    }
                }
                Event::Signal(Signal::SIGTERM | Signal::SIGINT) => {
                    self.stop_requested = true;
                    self.stop(Some(main))?;
                    return Ok(Step::Break(Outcome::Stopped));
                }
                _ => {}
            }
        }
    }

    /// Type=forking: started when the first process exits cleanly; the
    /// main process is PIDFile='s, or the one process left.
    fn wait_forked(&mut self, first: i32, deadline: Option<Instant>) -> Result<Step<i32>> {
        loop {
            if let Some(s) = self.exited.remove(&first) {
                if !is_clean(s, &ExitSet::default()) {
                    self.log(&format!("the forking process failed ({})", s.describe()));
                    return Ok(Step::Break(Outcome::Failed(s)));
                }
                break;
            }
            if deadline.is_some_and(|d| self.now() >= d) {
                self.log("the forking process did not exit within TimeoutStartSec");
                self.stop(Some(first))?;
                return Ok(Step::Break(Outcome::Timeout));
            }
            if let Event::Signal(Signal::SIGTERM | Signal::SIGINT) = self.next_event(deadline)? {
                self.stop_requested = true;
                self.stop(Some(first))?;
                return Ok(Step::Break(Outcome::Stopped));
            }
        }
        let main = match self.read_pid_file(deadline)? {
            Some(p) => p,
            None => match self.sys.descendants().as_slice() {
                [only] => *only,
                [] => {
                    self.log("the daemon is gone after forking");
                    return Ok(Step::Break(Outcome::Failed(Status::Code(1))));
                }
                many => {
                    let first = many[0];
                    self.log("several processes after forking and no PIDFile=: the first is the main one");
                    first
                }
            },
        };
        self.main_pid = Some(main);
        Ok(Step::Continue(main))
    }

    /// Type=exec: started once `nci-systemd exec` has executed the
    /// command.
    fn wait_executed(&mut self, main: i32, deadline: Option<Instant>) -> Result<Step<i32>> {
        loop {
            if let Some(s) = self.exited.remove(&main) {
                self.log(&format!("exited before it was started ({})", s.describe()));
                return Ok(Step::Break(Outcome::Failed(s)));
            }
            if self.sys.executed(main) {
                return Ok(Step::Continue(main));
            }
            if deadline.is_some_and(|d| self.now() >= d) {
                self.stop(Some(main))?;
                return Ok(Step::Break(Outcome::Timeout));
            }
            let step = self.now() + Duration::from_millis(5);
            let _ = self.next_event(Some(step))?;
        }
    }

    /// The service runs: until its main process ends or a stop; signals
    /// are forwarded, SIGHUP reloads.
    fn run_main(&mut self, mut main: i32) -> Result<Outcome> {
        let forking = self.unit.kind == Type::Forking;
        let status = loop {
            if let Some(s) = self.exited.remove(&main) {
                break s;
            }
            if forking && !self.sys.alive(main) {
                // Not our child (the daemon double-forked): no status.
                break Status::Code(0);
            }
            let tick = forking.then(|| self.now() + Duration::from_millis(500));
            match self.next_event(tick)? {
                Event::Signal(Signal::SIGTERM | Signal::SIGINT) => {
                    self.stop_requested = true;
                    self.stop(Some(main))?;
                    self.cleanup()?;
                    return Ok(Outcome::Stopped);
                }
                Event::Signal(Signal::SIGHUP) => self.reload()?,
                Event::Signal(Signal::SIGCHLD) => {}
                Event::Signal(s) => self.sys.kill(main, s),
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
        self.set_state(State::Inactive);
        loop {
            if let Event::Signal(Signal::SIGTERM | Signal::SIGINT) = self.next_event(None)? {
                return Ok(());
            }
        }
    }

    /// Waits RestartSec; false when a stop came meanwhile.
    fn restart_wait(&mut self) -> Result<bool> {
        let until = self.now() + self.unit.restart_sec;
        while self.now() < until {
            if let Event::Signal(Signal::SIGTERM | Signal::SIGINT) = self.next_event(Some(until))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Starts the service, again as Restart= says, within the start
    /// limit; returns the runner's exit status.
    fn main_loop(&mut self) -> Result<i32> {
        let mut starts = VecDeque::new();
        let mut last_failure = 1;
        loop {
            let now = self.now();
            let (burst, interval) = (self.unit.start_limit_burst, self.unit.start_limit_interval);
            if !start_allowed(&mut starts, now, burst, interval) {
                self.log(&format!(
                    "start request repeated too quickly ({burst} starts within {interval:?}, StartLimitBurst/StartLimitIntervalSec): failed"
                ));
                self.remove_runtime_directories();
                self.set_state(State::Failed);
                return Ok(last_failure);
            }
            let outcome = self.start_once()?;
            self.sys.unlisten();
            if let Some(code) = self.after(outcome, &mut last_failure)? {
                return Ok(code);
            }
        }
    }

    /// What follows a start's `outcome`: the runner's exit status, or
    /// None to start again. `last_failure` keeps the last failure's code.
    fn after(&mut self, outcome: Outcome, last_failure: &mut i32) -> Result<Option<i32>> {
        let status = match outcome {
            Outcome::Stopped => {
                self.remove_runtime_directories();
                self.set_state(State::Inactive);
                return Ok(Some(0));
            }
            Outcome::Skipped => {
                self.remove_runtime_directories();
                self.set_state(State::Inactive);
                if self.unit.kind != Type::Oneshot {
                    self.idle()?;
                }
                return Ok(Some(0));
            }
            Outcome::Exited(s) | Outcome::Failed(s) => s,
            Outcome::Timeout => Status::Code(1),
        };
        let clean =
            matches!(outcome, Outcome::Exited(_)) && is_clean(status, &self.unit.success_exit);
        if !clean {
            *last_failure = match status.exit_code() {
                0 => 1,
                c => c,
            };
        }
        if should_restart(&self.unit, outcome) {
            self.log(&format!(
                "{} ({}); restarting in {:?} (Restart={})",
                if clean { "exited" } else { "failed" },
                status.describe(),
                self.unit.restart_sec,
                self.unit.restart.name()
            ));
            self.set_state(State::Activating);
            if self.restart_wait()? {
                return Ok(None);
            }
            self.remove_runtime_directories();
            self.set_state(State::Inactive);
            return Ok(Some(0));
        }
        self.remove_runtime_directories();
        if clean {
            self.set_state(State::Inactive);
            if self.unit.kind != Type::Oneshot {
                self.log(&format!(
                    "exited ({}); not restarted, inactive until stopped",
                    status.describe()
                ));
                self.idle()?;
            }
            return Ok(Some(0));
        }
        let why = match outcome {
            Outcome::Timeout => "timeout".into(),
            _ => status.describe(),
        };
        self.log(&format!("failed ({why})"));
        self.set_state(State::Failed);
        Ok(Some(*last_failure))
    }
}

/// UnsetEnvironment=: `NAME` goes, `NAME=VALUE` only with that value.
fn unset_environment(env: &mut BTreeMap<String, String>, unset: &[String]) {
    for k in unset {
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

/// Who the unit's processes run as: User=, Group= and the groups, looked
/// up in the image's accounts; switched to only when running as root.
fn credentials(unit: &Unit, accounts: &AccountFiles, root: bool) -> Result<Creds> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let me = nix::unistd::getuid().as_raw();
    let (user, group) = user_and_group(unit, accounts, me)?;
    let groups = group_ids(unit, accounts, &user, group.gid)?;
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

/// The option path of one of the unit's settings, for errors.
fn setting_option(unit: &Unit, key: &str) -> String {
    format!("systemd.services.{}.serviceConfig.{key}", unit.name)
}

/// User= (this process's user when unset) and Group= (the user's
/// primary group when unset).
fn user_and_group(
    unit: &Unit,
    accounts: &AccountFiles,
    me: u32,
) -> Result<(PasswdEntry, GroupEntry)> {
    let user = match &unit.user {
        Some(u) => accounts
            .user(u)
            .with_context(|| setting_option(unit, "User"))?,
        None => accounts.user(&me.to_string())?,
    };
    let group = match &unit.group {
        Some(g) => accounts
            .group(g)
            .with_context(|| setting_option(unit, "Group"))?,
        None => accounts.group(&user.gid.to_string())?,
    };
    Ok((user, group))
}

/// The group ids of the processes, sorted: the group, the user's groups
/// (with User=), SupplementaryGroups=.
fn group_ids(
    unit: &Unit,
    accounts: &AccountFiles,
    user: &PasswdEntry,
    gid: u32,
) -> Result<Vec<u32>> {
    let mut groups: Vec<u32> = vec![gid];
    if unit.user.is_some() {
        groups.extend(accounts.member_gids(&user.name));
    }
    for g in &unit.supplementary_groups {
        let group = accounts
            .group(g)
            .with_context(|| setting_option(unit, "SupplementaryGroups"))?;
        groups.push(group.gid);
    }
    groups.sort_unstable();
    groups.dedup();
    Ok(groups)
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
    let accounts = AccountFiles::read(etc)?;
    let root = nix::unistd::geteuid().is_root();
    let creds = credentials(&unit, &accounts, root)?;
    let ambient = available_ambient(&unit);
    let sys = RealSys::new(readiness_fd)?;
    let mut runner = Runner::new(unit, sys, creds, ambient, root);
    runner.extra_path = unit_path
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("bin"))
        .filter(|d| d.join("systemd-notify").exists())
        .map(|d| d.to_string_lossy().into_owned());
    // Under s6 the runner starts in its service directory (s6-supervise
    // runs `./run` there), where systemctl reads the unit's state.
    runner.state_dir = std::env::current_dir()
        .ok()
        .filter(|d| d.join("supervise").is_dir());
    // What ends the runner (an EnvironmentFile= it cannot read, a command
    // it cannot start, ...) names the service, as its log lines do.
    let name = runner.unit.name.clone();
    runner.main_loop().context(name)
}

/// AmbientCapabilities= without those the container does not have
/// (which cannot be given): each one left out is logged.
fn available_ambient(unit: &Unit) -> Vec<String> {
    unit.ambient_capabilities
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
        .collect()
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
    fn unset_environment_removes_names_and_only_matching_assignments() {
        let mut env: BTreeMap<String, String> = [("A", "1"), ("B", "2"), ("C", "3")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        unset_environment(&mut env, &["A".into(), "B=2".into(), "C=4".into()]);
        assert_eq!(
            env.into_iter().collect::<Vec<_>>(),
            [("C".into(), "3".into())]
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

/// The runner's loop driven by a scripted fake of its system calls: no
/// processes, no waiting (the fake's clock jumps), every step recorded.
#[cfg(test)]
mod scripted {
    use super::*;
    use crate::cmdline::Specifiers;
    use std::collections::BTreeSet;
    use std::io;

    /// What happens next, in the order the runner waits for it.
    #[derive(Debug, Clone)]
    enum Then {
        /// A process ends (and is reaped by the runner, its subreaper).
        Exit(i32, Status),
        Sig(Signal),
        Notify(&'static str),
        /// Nothing happens for this long.
        Silence(Duration),
        /// A process appears below the runner (a daemon forked).
        Fork(i32),
        /// The process has executed its command (Type=exec).
        Exec(i32),
    }
    use Then::*;

    fn code(c: i32) -> Status {
        Status::Code(c)
    }

    fn sig(s: Signal) -> Status {
        Status::Signaled(s)
    }

    struct Fake {
        script: VecDeque<Then>,
        silence_end: Option<Instant>,
        start: Instant,
        now: Instant,
        next_pid: i32,
        live: BTreeSet<i32>,
        executed: BTreeSet<i32>,
        ended: Vec<(i32, Status)>,
        listening: bool,
        log: Vec<String>,
    }

    impl Fake {
        fn new(script: Vec<Then>) -> Self {
            let start = Instant::now();
            Fake {
                script: script.into(),
                silence_end: None,
                start,
                now: start,
                next_pid: 100,
                live: BTreeSet::new(),
                executed: BTreeSet::new(),
                ended: Vec::new(),
                listening: false,
                log: Vec::new(),
            }
        }

        /// Records `what` at the fake clock's time, in milliseconds.
        fn note(&mut self, what: String) {
            let ms = self.now.duration_since(self.start).as_millis();
            self.log.push(format!("{ms} {what}"));
        }
    }

    impl Sys for Fake {
        fn spawn(&mut self, req: &Request, _what: &str) -> Result<i32> {
            self.next_pid += 1;
            let pid = self.next_pid;
            self.live.insert(pid);
            self.note(format!("spawn {} -> {pid}", req.argv.join(" ")));
            Ok(pid)
        }

        fn wait(&mut self, deadline: Option<Instant>) -> Result<Event> {
            if let Some(end) = self.silence_end {
                let to = deadline.map_or(end, |d| d.min(end));
                self.now = self.now.max(to);
                if self.now >= end {
                    self.silence_end = None;
                }
                return Ok(Event::Tick);
            }
            let Some(step) = self.script.pop_front() else {
                panic!(
                    "the runner waited past the script:\n{}",
                    self.log.join("\n")
                );
            };
            match step {
                Silence(d) => {
                    self.silence_end = Some(self.now + d);
                    self.wait(deadline)
                }
                Exit(pid, status) => {
                    assert!(self.live.remove(&pid), "{pid} is not running");
                    self.ended.push((pid, status));
                    self.note(format!("{pid} ends ({})", status.describe()));
                    Ok(Event::Signal(Signal::SIGCHLD))
                }
                Sig(s) => {
                    self.note(format!("signal {}", s.as_str()));
                    Ok(Event::Signal(s))
                }
                Notify(text) => {
                    assert!(self.listening, "a notification with no socket");
                    self.note(format!("notify {text}"));
                    Ok(Event::Notify(crate::notify::parse(text.as_bytes())))
                }
                Fork(pid) => {
                    self.live.insert(pid);
                    Ok(Event::Tick)
                }
                Exec(pid) => {
                    self.executed.insert(pid);
                    Ok(Event::Tick)
                }
            }
        }

        fn reap(&mut self) -> Vec<(i32, Status)> {
            std::mem::take(&mut self.ended)
        }

        fn kill(&mut self, pid: i32, sig: Signal) {
            self.note(format!("kill {pid} {}", sig.as_str()));
        }

        fn alive(&self, pid: i32) -> bool {
            self.live.contains(&pid)
        }

        fn descendants(&self) -> Vec<i32> {
            self.live.iter().copied().collect()
        }

        fn executed(&self, pid: i32) -> bool {
            self.executed.contains(&pid)
        }

        fn listen(&mut self, unit: &str) -> Result<String> {
            self.listening = true;
            Ok(format!("@fake/{unit}"))
        }

        fn unlisten(&mut self) {
            self.listening = false;
        }

        fn ready(&mut self) -> io::Result<()> {
            self.note("ready".into());
            Ok(())
        }

        fn now(&self) -> Instant {
            self.now
        }

        fn log(&mut self, line: &str) {
            let line = line.trim_start_matches("nci-systemd: t: ").to_owned();
            self.note(format!("log {line}"));
        }
    }

    fn unit_of(kind: &str, settings: &str) -> Unit {
        let spec: UnitSpec = serde_json::from_str(&format!(
            r#"{{"name":"t","type":"{kind}","serviceConfig":{{{settings}}}}}"#
        ))
        .unwrap();
        Unit::from_spec(&spec).unwrap()
    }

    /// Runs the unit's loop over `script`; returns the exit status and
    /// what happened. Every step of the script must have been used.
    fn run(unit: Unit, script: Vec<Then>) -> (i32, Vec<String>) {
        let creds = Creds {
            uid: None,
            gid: None,
            groups: vec![],
            spec: Specifiers {
                unit: "t".into(),
                ..Default::default()
            },
            home: "/".into(),
            user_set: false,
        };
        let mut runner = Runner::new(unit, Fake::new(script), creds, vec![], false);
        let code = runner.main_loop().unwrap();
        let fake = runner.sys;
        assert!(
            fake.script.is_empty(),
            "steps left: {:?}\n{}",
            fake.script,
            fake.log.join("\n")
        );
        (code, fake.log)
    }

    #[test]
    fn type_notify_is_ready_at_ready_then_exec_start_post_and_a_stop_kills_the_group() {
        let u = unit_of(
            "notify",
            r#""ExecStart":"/bin/t","ExecStartPost":"/bin/post""#,
        );
        let (code, log) = run(
            u,
            vec![
                Notify("STATUS=starting"),
                Notify("READY=1"),
                Exit(102, code(0)),
                Sig(Signal::SIGTERM),
                Exit(101, sig(Signal::SIGTERM)),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(
            log,
            [
                "0 spawn /bin/t -> 101",
                "0 notify STATUS=starting",
                "0 notify READY=1",
                "0 spawn /bin/post -> 102",
                "0 102 ends (status 0)",
                "0 ready",
                "0 signal SIGTERM",
                "0 kill 101 SIGTERM",
                "0 kill 101 SIGCONT",
                "0 101 ends (signal SIGTERM)",
            ]
        );
    }

    #[test]
    fn type_notify_not_ready_within_timeout_start_sec_is_stopped_and_fails() {
        let u = unit_of("notify", r#""ExecStart":"/bin/t","TimeoutStartSec":"5""#);
        let (code, log) = run(
            u,
            vec![
                Silence(Duration::from_secs(60)),
                Exit(101, sig(Signal::SIGTERM)),
            ],
        );
        assert_eq!(code, 1);
        assert_eq!(
            log,
            [
                "0 spawn /bin/t -> 101",
                "5000 log not ready within TimeoutStartSec",
                "5000 kill 101 SIGTERM",
                "5000 kill 101 SIGCONT",
                // Nothing happens until the script's silence ends.
                "60000 101 ends (signal SIGTERM)",
                "60000 log failed (timeout)",
            ]
        );
        assert!(!log.iter().any(|l| l.ends_with(" ready")));
    }

    #[test]
    fn a_main_process_that_exits_before_ready_fails_with_its_status() {
        let u = unit_of("notify", r#""ExecStart":"/bin/t""#);
        let (code, log) = run(u, vec![Exit(101, code(4))]);
        assert_eq!(code, 4);
        assert!(log.contains(&"0 log exited before it was ready (status 4)".to_owned()));
    }

    #[test]
    fn restart_on_failure_waits_restart_sec_and_gives_up_at_the_start_limit() {
        let u = unit_of(
            "simple",
            r#""ExecStart":"/bin/t","Restart":"on-failure","RestartSec":"2","StartLimitBurst":"3","StartLimitIntervalSec":"10""#,
        );
        let (code, log) = run(
            u,
            vec![
                Exit(101, code(3)),
                Silence(Duration::from_secs(2)),
                Exit(102, code(3)),
                Silence(Duration::from_secs(2)),
                Silence(Duration::from_millis(500)),
                Exit(103, sig(Signal::SIGSEGV)),
                Silence(Duration::from_secs(2)),
            ],
        );
        assert_eq!(code, 139);
        assert_eq!(
            log,
            [
                "0 spawn /bin/t -> 101",
                "0 ready",
                "0 101 ends (status 3)",
                "0 log failed (status 3); restarting in 2s (Restart=on-failure)",
                "2000 spawn /bin/t -> 102",
                "2000 102 ends (status 3)",
                "2000 log failed (status 3); restarting in 2s (Restart=on-failure)",
                "4000 spawn /bin/t -> 103",
                "4500 103 ends (signal SIGSEGV)",
                "4500 log failed (signal SIGSEGV); restarting in 2s (Restart=on-failure)",
                "6500 log start request repeated too quickly (3 starts within 10s, StartLimitBurst/StartLimitIntervalSec): failed",
            ]
        );
    }

    #[test]
    fn a_stop_during_restart_sec_ends_the_runner_cleanly() {
        let u = unit_of(
            "simple",
            r#""ExecStart":"/bin/t","Restart":"always","RestartSec":"5""#,
        );
        let (code, log) = run(
            u,
            vec![
                Exit(101, code(0)),
                Silence(Duration::from_secs(1)),
                Sig(Signal::SIGTERM),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(log.last().unwrap(), "1000 signal SIGTERM");
        assert_eq!(log.iter().filter(|l| l.contains("spawn")).count(), 1);
    }

    #[test]
    fn a_clean_exit_not_restarted_is_ready_and_inactive_until_stopped() {
        let u = unit_of("simple", r#""ExecStart":"/bin/t""#);
        let (code, log) = run(u, vec![Exit(101, code(0)), Sig(Signal::SIGINT)]);
        assert_eq!(code, 0);
        // Ready since the start (Type=simple): not said again.
        assert_eq!(
            &log[1..],
            [
                "0 ready",
                "0 101 ends (status 0)",
                "0 log exited (status 0); not restarted, inactive until stopped",
                "0 signal SIGINT",
            ]
        );
    }

    /// A service stopped with ExecStop, KillSignal=SIGINT, KillMode=mixed
    /// and TimeoutStopSec=3 whose main process outlives the stop signal.
    fn stubborn_unit() -> Unit {
        unit_of(
            "simple",
            r#""ExecStart":"/bin/t","ExecStop":"/bin/stop","ExecStopPost":"/bin/post","KillSignal":"SIGINT","KillMode":"mixed","TimeoutStopSec":"3""#,
        )
    }

    /// What stubborn_unit's log says up to the final kill.
    const STUBBORN_UNTIL_THE_FINAL_KILL: [&str; 9] = [
        "0 spawn /bin/t -> 101",
        "0 ready",
        "0 signal SIGTERM",
        "0 spawn /bin/stop -> 102",
        "0 102 ends (status 0)",
        "0 kill 101 SIGINT",
        "0 kill 101 SIGCONT",
        "3000 log still running after TimeoutStopSec: sending the final kill signal",
        "3000 kill 101 SIGKILL",
    ];

    #[test]
    fn stop_runs_exec_stop_then_kill_signal_waits_timeout_stop_sec_then_the_final_kill() {
        let u = stubborn_unit();
        let (code, log) = run(
            u,
            vec![
                Sig(Signal::SIGTERM),
                Exit(102, code(0)),
                Silence(Duration::from_millis(3500)),
                Exit(101, sig(Signal::SIGKILL)),
                Exit(103, code(0)),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(
            log,
            [
                STUBBORN_UNTIL_THE_FINAL_KILL.as_slice(),
                &[
                    "3500 101 ends (signal SIGKILL)",
                    "3500 spawn /bin/post -> 103",
                    "3500 103 ends (status 0)",
                ],
            ]
            .concat()
        );
    }

    #[test]
    fn what_survives_the_final_kill_is_given_up_after_5_s_and_exec_stop_post_runs() {
        let u = stubborn_unit();
        let (code, log) = run(
            u,
            vec![
                Sig(Signal::SIGTERM),
                Exit(102, code(0)),
                Silence(Duration::from_secs(10)),
                Exit(101, sig(Signal::SIGKILL)),
                Exit(103, code(0)),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(
            log,
            [
                STUBBORN_UNTIL_THE_FINAL_KILL.as_slice(),
                &[
                    "8000 spawn /bin/post -> 103",
                    "10000 101 ends (signal SIGKILL)",
                    "10000 103 ends (status 0)",
                ],
            ]
            .concat()
        );
    }

    #[test]
    fn a_start_command_that_times_out_is_killed_and_the_start_fails() {
        let u = unit_of(
            "simple",
            r#""ExecStart":"/bin/t","ExecStartPre":"/bin/pre","TimeoutStartSec":"2""#,
        );
        let (code, log) = run(
            u,
            vec![
                Silence(Duration::from_secs(2)),
                Exit(101, sig(Signal::SIGKILL)),
            ],
        );
        assert_eq!(code, 1);
        assert_eq!(
            log,
            [
                "0 spawn /bin/pre -> 101",
                "2000 log '/bin/pre' timed out",
                "2000 kill 101 SIGKILL",
                "2000 101 ends (signal SIGKILL)",
                "2000 log failed (timeout)",
            ]
        );
    }

    #[test]
    fn signals_are_forwarded_to_the_main_process_and_sighup_without_exec_reload_too() {
        let u = unit_of("exec", r#""ExecStart":"/bin/t""#);
        let (code, log) = run(
            u,
            vec![
                Exec(101),
                Sig(Signal::SIGUSR1),
                Sig(Signal::SIGHUP),
                Exit(101, code(0)),
                Sig(Signal::SIGTERM),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(
            &log[..6],
            [
                "0 spawn /bin/t -> 101",
                "0 ready",
                "0 signal SIGUSR1",
                "0 kill 101 SIGUSR1",
                "0 signal SIGHUP",
                "0 kill 101 SIGHUP",
            ]
        );
    }

    #[test]
    fn type_exec_is_not_ready_before_the_command_is_executed() {
        let u = unit_of("exec", r#""ExecStart":"/bin/t""#);
        let (code, log) = run(
            u,
            vec![Silence(Duration::from_millis(20)), Exit(101, code(203))],
        );
        assert_eq!(code, 203);
        assert!(!log.iter().any(|l| l.ends_with(" ready")));
        assert!(log.contains(&"20 log exited before it was started (status 203)".to_owned()));
    }

    #[test]
    fn type_forking_takes_the_one_process_left_as_the_main_one() {
        let u = unit_of("forking", r#""ExecStart":"/bin/t""#);
        let (code, log) = run(
            u,
            vec![
                Fork(200),
                Exit(101, code(0)),
                Sig(Signal::SIGTERM),
                Exit(200, sig(Signal::SIGTERM)),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(
            &log[2..],
            [
                "0 ready",
                "0 signal SIGTERM",
                "0 kill 200 SIGTERM",
                "0 kill 200 SIGCONT",
                "0 200 ends (signal SIGTERM)",
            ]
        );
    }

    #[test]
    fn a_oneshot_runs_its_commands_in_order_and_is_done() {
        let u = unit_of("oneshot", r#""ExecStart":["/bin/a","-/bin/b","/bin/c"]"#);
        let (code, log) = run(
            u,
            vec![Exit(101, code(0)), Exit(102, code(1)), Exit(103, code(0))],
        );
        assert_eq!(code, 0);
        assert_eq!(
            log,
            [
                "0 spawn /bin/a -> 101",
                "0 101 ends (status 0)",
                "0 spawn /bin/b -> 102",
                "0 102 ends (status 1)",
                "0 log ExecStart '-/bin/b' failed (status 1), ignored",
                "0 spawn /bin/c -> 103",
                "0 103 ends (status 0)",
            ]
        );
    }

    #[test]
    fn a_failed_exec_start_post_stops_the_main_process_and_fails_the_start() {
        let u = unit_of(
            "simple",
            r#""ExecStart":"/bin/t","ExecStartPost":"/bin/post""#,
        );
        let (code, log) = run(u, vec![Exit(102, code(1)), Exit(101, sig(Signal::SIGTERM))]);
        assert_eq!(code, 1);
        assert_eq!(
            log,
            [
                "0 spawn /bin/t -> 101",
                "0 spawn /bin/post -> 102",
                "0 102 ends (status 1)",
                "0 log ExecStartPost '/bin/post' failed (status 1)",
                "0 kill 101 SIGTERM",
                "0 kill 101 SIGCONT",
                "0 101 ends (signal SIGTERM)",
                "0 log failed (status 1)",
            ]
        );
    }

    #[test]
    fn sighup_runs_exec_reload_with_the_main_pid() {
        let u = unit_of(
            "simple",
            r#""ExecStart":"/bin/t","ExecReload":"/bin/kill -USR1 $MAINPID""#,
        );
        let (code, log) = run(
            u,
            vec![
                Sig(Signal::SIGHUP),
                Exit(102, code(0)),
                Sig(Signal::SIGTERM),
                Exit(101, sig(Signal::SIGTERM)),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(
            &log[1..6],
            [
                "0 ready",
                "0 signal SIGHUP",
                "0 log reloading",
                "0 spawn /bin/kill -USR1 101 -> 102",
                "0 102 ends (status 0)",
            ]
        );
    }

    #[test]
    fn mainpid_of_a_notification_is_the_one_kill_mode_process_stops() {
        let u = unit_of("notify", r#""ExecStart":"/bin/t","KillMode":"process""#);
        let (code, log) = run(
            u,
            vec![
                Fork(150),
                Notify("MAINPID=150\nREADY=1"),
                Sig(Signal::SIGTERM),
                Exit(150, sig(Signal::SIGTERM)),
            ],
        );
        assert_eq!(code, 0);
        assert_eq!(
            &log[1..],
            [
                "0 notify MAINPID=150\nREADY=1",
                "0 ready",
                "0 signal SIGTERM",
                "0 kill 150 SIGTERM",
                "0 kill 150 SIGCONT",
                "0 150 ends (signal SIGTERM)",
            ]
        );
    }

    #[test]
    fn exec_condition_1_to_254_skips_the_start() {
        let u = unit_of(
            "simple",
            r#""ExecStart":"/bin/t","ExecCondition":"/bin/cond""#,
        );
        let (code, log) = run(u, vec![Exit(101, code(1)), Sig(Signal::SIGTERM)]);
        assert_eq!(code, 0);
        assert_eq!(
            &log[2..],
            [
                "0 log ExecCondition '/bin/cond' exited 1: not started",
                "0 ready",
                "0 signal SIGTERM",
            ]
        );
    }
}
