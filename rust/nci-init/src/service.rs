//! One service's process: what `run` (a long-run's start), `exec` (a
//! oneshot), `log/run` and `finish` do. A service runs with its user
//! (setgroups, setgid, setuid, in that order), then its working directory,
//! its environment on top of the init's, `path` first on `PATH`, stderr
//! joined to stdout, and `preStart` before it.

use crate::error::{bail, Context, Result};
use crate::layout::{names, read_service, LongRunRef, ServiceRuntime, State};
use crate::records;
use crate::spawn::{self, Stdin};
use crate::status::Status;
use crate::sys::{now_ms, poll_until, unblock_signals, Ended};
use nci_core::init_spec::ServiceType;
use nci_core::passwd::AccountFiles;
use nix::unistd::{dup2, setgid, setgroups, setuid, Gid, Pid, Uid};
use rustix::thread::CapabilitySet;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Who a service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the primary one and every group listing the
    /// user as a member (what `initgroups` gives).
    pub groups: Vec<u32>,
    pub home: String,
}

/// Looks `user` (and `group`, if given) up in the text of `/etc/passwd`
/// and `/etc/group` (nci-core's lookup, as nci-systemd's). Numeric names
/// are ids.
pub fn resolve(user: &str, group: Option<&str>, passwd: &str, groups: &str) -> Result<Identity> {
    let files = AccountFiles::parse(passwd, groups);
    let entry = files.user(user)?;
    let gid = match group {
        Some(g) => files.group(g)?.gid,
        None => entry.gid,
    };
    let mut ids = vec![gid];
    for member_of in files.member_gids(&entry.name) {
        if !ids.contains(&member_of) {
            ids.push(member_of);
        }
    }
    Ok(Identity {
        name: entry.name,
        uid: entry.uid,
        gid,
        groups: ids,
        home: entry.home,
    })
}

/// Whom to become: `None` to stay as we are (the default user `root`,
/// or the user we already are, which is how a container started with
/// `--user` runs its services).
fn identity_for(spec: &ServiceRuntime, for_what: &str) -> Result<Option<Identity>> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    choose_identity(spec, Uid::effective().as_raw(), || {
        (read("/etc/passwd"), read("/etc/group"))
    })
    .with_context(|| format!("service '{}': cannot run {for_what}", spec.name))
}

/// [`identity_for`] given our uid and a reader of /etc/passwd and /etc/group.
pub fn choose_identity(
    spec: &ServiceRuntime,
    euid: u32,
    etc: impl FnOnce() -> (String, String),
) -> Result<Option<Identity>> {
    // `root` is the default: "do not switch". Not being root, we could
    // not switch anyway; the service runs as we do.
    if spec.user == "root" && (spec.group.is_none() || euid != 0) {
        return Ok(None);
    }
    let (passwd, group) = etc();
    let id = resolve(&spec.user, spec.group.as_deref(), &passwd, &group)?;
    if euid == 0 {
        return Ok(Some(id));
    }
    if id.uid == euid && spec.group.is_none() {
        return Ok(None);
    }
    bail!(
        "user '{}' (uid {}){} needs root, and the init runs as uid {euid}",
        spec.user,
        id.uid,
        spec.group
            .as_deref()
            .map(|g| format!(" with group '{g}'"))
            .unwrap_or_default()
    )
}

/// The service's environment: the init's, then `HOME`, `USER`, `LOGNAME`
/// of a user it switches to, then its `environment`, then `path` first on
/// `PATH`.
pub fn environment(
    inherited: impl IntoIterator<Item = (String, String)>,
    spec: &ServiceRuntime,
    id: Option<&Identity>,
) -> BTreeMap<String, String> {
    // Built by inserting only, what `environment` removes never put in:
    // `collect` sorts first and `remove` rebalances, about 7 KB of every
    // image's init together (docs/s6.md, "Size of nci-init").
    let removed = |k: &str| matches!(spec.environment.get(k), Some(None));
    let mut env = BTreeMap::new();
    let ids = id.map(|id| {
        [
            ("HOME", id.home.clone()),
            ("USER", id.name.clone()),
            ("LOGNAME", id.name.clone()),
        ]
    });
    let set = inherited
        .into_iter()
        .chain(ids.into_iter().flatten().map(|(k, v)| (k.to_owned(), v)))
        .chain(
            spec.environment
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?))),
        );
    for (k, v) in set {
        if !removed(&k) {
            env.insert(k, v);
        }
    }
    if !spec.path.is_empty() {
        let mut path = spec.path.join(":");
        if let Some(old) = env.get("PATH").filter(|p| !p.is_empty()) {
            path = format!("{path}:{old}");
        }
        env.insert("PATH".into(), path);
    }
    env
}

/// Switches to `id`: supplementary groups, group, then user; with
/// `keep` (the service's capabilities, not for root), keeps those
/// capabilities across the switch as ambient ones, as systemd's
/// `AmbientCapabilities` does.
fn become_identity(spec: &ServiceRuntime, id: &Identity, keep: &[String]) -> Result<()> {
    let keep = if id.uid == 0 { &[][..] } else { keep };
    let switch = || -> Result<()> {
        let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups).context("setgroups")?;
        setgid(Gid::from_raw(id.gid)).context("setgid")?;
        if !keep.is_empty() {
            nix::sys::prctl::set_keepcaps(true).context("keeping capabilities")?;
        }
        setuid(Uid::from_raw(id.uid)).context("setuid")?;
        Ok(())
    };
    switch().with_context(|| {
        format!(
            "service '{}': cannot become user '{}'",
            spec.name, spec.user
        )
    })?;
    raise_ambient(spec, keep)
}

/// Raises `keep` as ambient capabilities (inherited by what the service
/// execs), after they are made permitted, effective and inheritable.
fn raise_ambient(spec: &ServiceRuntime, keep: &[String]) -> Result<()> {
    if keep.is_empty() {
        return Ok(());
    }
    // The names are caps' (nci-s6 checked them with it); the calls are
    // rustix's, with caps' messages: caps' own calls go through a HashSet.
    let set = keep
        .iter()
        .filter_map(|c| c.parse::<caps::Capability>().ok())
        .fold(CapabilitySet::empty(), |set, cap| {
            set | CapabilitySet::from_bits_retain(1 << cap.index())
        });
    let raise = || -> Result<(), String> {
        let failed = |call: &str, e: rustix::io::Errno| {
            format!("{call} failure: {}", std::io::Error::from(e))
        };
        for which in 0..3 {
            let mut sets = rustix::thread::capabilities(None).map_err(|e| failed("capget", e))?;
            match which {
                0 => sets.permitted = set,
                1 => sets.effective = set,
                _ => sets.inheritable = set,
            }
            rustix::thread::set_capabilities(None, sets).map_err(|e| failed("capset", e))?;
        }
        for cap in set.iter() {
            rustix::thread::configure_capability_in_ambient_set(cap, true)
                .map_err(|e| failed("PR_CAP_AMBIENT_RAISE", e))?;
        }
        Ok(())
    };
    raise().map_err(|e| {
        crate::error::Error::msg(format!(
            "service '{}': s6.services.{}.capabilities: cannot keep {}: {e} (the container must have them: podman run --cap-add)",
            spec.name,
            spec.name,
            keep.join(", ")
        ))
    })
}

/// Makes `env` the whole environment of this process, for what it
/// starts or execs next (and `PATH` is looked up in it).
fn set_environment(env: &BTreeMap<String, String>) -> std::io::Result<()> {
    spawn::set_environment(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn inherited_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Gives this process an open file description of its own for the
/// container's log (stdout and stderr, when they are a pipe or a
/// terminal): the same pipe, reopened through /proc/self/fd. The mode a
/// process sets on a description (s6-log makes its stdout O_NONBLOCK)
/// is shared by every process holding that description: on the one
/// inherited from the container, every other service would get EAGAIN
/// from a full pipe instead of waiting, and fail. Done before the user
/// changes (a pipe of the container engine may be root's only); where
/// reopening is impossible (a socket), the inherited one stays.
pub fn own_log_descriptions() {
    use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
    use nix::sys::stat::{fstat, Mode, SFlag};
    for fd in [1, 2] {
        let Ok(st) = fstat(fd) else { continue };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind != SFlag::S_IFIFO && kind != SFlag::S_IFCHR {
            continue;
        }
        // O_NONBLOCK for the open only: opening a FIFO whose reader is
        // gone must fail (ENXIO), not wait; the new description blocks.
        let flags = OFlag::O_WRONLY | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        if let Ok(new) = open(format!("/proc/self/fd/{fd}").as_str(), flags, Mode::empty()) {
            if fcntl(new, FcntlArg::F_SETFL(OFlag::empty())).is_ok() {
                let _ = dup2(new, fd);
            }
            let _ = nix::unistd::close(new);
        }
    }
}

/// Sets the process up as the service and execs it; returns only on
/// error. `json` is the service file (for the oneshot's logger).
pub fn exec_service(spec: &ServiceRuntime, json: &Path) -> Result<()> {
    unblock_signals().context("signal mask")?;
    own_log_descriptions();
    let id = identity_for(spec, "its command")?;
    if spec.kind != ServiceType::LongRun && spec.logger.is_some() {
        // A long-run's logger is s6's `log` service; a oneshot's gets a
        // pipe from here.
        let (read, write) = nix::unistd::pipe().context("pipe for the logger")?;
        let argv = [
            OsStr::new(&spec.nci_init),
            OsStr::new("exec-logger"),
            json.as_os_str(),
        ];
        spawn::spawn(&argv, Stdin::From(read))
            .with_context(|| format!("service '{}': cannot start its logger", spec.name))?;
        dup2(write.as_raw_fd(), 1).context("dup2 the logger pipe")?;
    }
    dup2(1, 2).context("dup2 stderr to stdout")?;
    match &id {
        Some(id) => become_identity(spec, id, &spec.capabilities)?,
        // Not switching: a root init has them all; a non-root one
        // (`podman run --user`) raises what it may.
        None if !nix::unistd::geteuid().is_root() => raise_ambient(spec, &spec.capabilities)?,
        None => {}
    }
    if let Some(dir) = &spec.working_directory {
        std::env::set_current_dir(dir)
            .with_context(|| format!("service '{}': workingDirectory {dir}", spec.name))?;
    }
    let env = environment(inherited_env(), spec, id.as_ref());
    if let Some(pre) = &spec.pre_start {
        let run = || -> Result<spawn::Status> {
            if pre.is_empty() {
                bail!("the command is empty");
            }
            set_environment(&env)?;
            let pid = spawn::spawn(pre, Stdin::Inherit)?;
            Ok(spawn::wait_for(Pid::from_raw(pid))?)
        };
        let status =
            run().with_context(|| format!("service '{}': cannot run preStart", spec.name))?;
        if !status.success() {
            nci_core::errln!("[init] service '{}': preStart failed ({status})", spec.name);
            std::process::exit(status.code().unwrap_or(1));
        }
    }
    exec(
        &spec.argv,
        &env,
        format!("service '{}': cannot run", spec.name),
    )
    .map_err(|e| match not_on_path(&spec.argv, &env) {
        Some(program) => e.context(format!(
            "service '{}': '{program}' is not on its PATH ({}): add the package that has it to s6.services.{}.path, or give its full path",
            spec.name,
            env.get("PATH").map_or("", String::as_str),
            spec.name
        )),
        None => e,
    })
}

/// The program of `argv` when it is a bare name that no directory of
/// `env`'s `PATH` has.
fn not_on_path<'a>(argv: &'a [String], env: &BTreeMap<String, String>) -> Option<&'a str> {
    let program = argv.first()?;
    if program.contains('/') {
        return None;
    }
    let path = env.get("PATH").map_or("", String::as_str);
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .any(|d| Path::new(d).join(program).exists());
    (!found).then_some(program.as_str())
}

/// Execs the service's logger (stdin is the service's output).
pub fn exec_logger(spec: &ServiceRuntime) -> Result<()> {
    let Some(argv) = &spec.logger else {
        bail!("service '{}' has no execLogger", spec.name);
    };
    unblock_signals().context("signal mask")?;
    own_log_descriptions();
    let id = identity_for(spec, "its logger")?;
    if let Some(id) = &id {
        become_identity(spec, id, &[])?;
    }
    let env = environment(inherited_env(), spec, id.as_ref());
    exec(
        argv,
        &env,
        format!("service '{}': cannot run its logger", spec.name),
    )
}

/// Execs `argv` with exactly the environment `env`; returns only on
/// error, described by `what` and the program.
fn exec(argv: &[String], env: &BTreeMap<String, String>, what: String) -> Result<()> {
    let program = argv
        .first()
        .context("the command is empty")
        .context(what.clone())?;
    let err = match set_environment(env) {
        Ok(()) => spawn::exec(argv),
        Err(e) => e,
    };
    Err(err).with_context(|| format!("{what} {program}"))
}

fn read_number(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The delay before restart number `failures` (1 for the first): the
/// restart delay doubled at each failure in a row, at most the maximum.
pub fn backoff(spec: &ServiceRuntime, failures: u64) -> Duration {
    let shift = failures.saturating_sub(1).min(32) as u32;
    let ms = spec
        .restart_delay
        .saturating_mul(1u64 << shift)
        .min(spec.restart_delay_max);
    Duration::from_millis(ms)
}

/// Whether the long-run whose directory is `dir` is up (and ready, when
/// it notifies readiness).
pub fn is_up(dir: &Path, dep: &LongRunRef) -> bool {
    if dep.readiness {
        Status::read(dir).is_some_and(|s| s.is_ready())
    } else {
        dir.join(names::DATA).join(names::STARTED).exists()
    }
}

/// A long-run's `run`: back off after failures, wait for the long-runs
/// of its `after`, note the start, exec the service. The working
/// directory is the service directory in the scan directory.
pub fn run() -> Result<()> {
    // The stop signal must end the backoff and the wait below too.
    unblock_signals().context("signal mask")?;
    let json = PathBuf::from(names::DATA).join(names::SERVICE);
    let spec = read_service(&json)?;
    let failures = read_number(&Path::new(names::DATA).join(names::FAILURES)).unwrap_or(0);
    if spec.restart_on_failure && failures > 0 {
        let delay = backoff(&spec, failures);
        if !delay.is_zero() {
            nci_core::outln!(
                "[init] service '{}' restarts in {} ms (failure {failures} in a row)",
                spec.name,
                delay.as_millis()
            );
            // The delay counts from the end of the service: the time
            // s6-supervise already waited (it starts `run` at most once a
            // second) is part of it, not added to it.
            let since_end = read_number(&Path::new(names::DATA).join(names::ENDED))
                .map(|t| Duration::from_millis(now_ms().saturating_sub(t)))
                .unwrap_or_default();
            std::thread::sleep(delay.saturating_sub(since_end));
        }
    }
    for dep in &spec.after {
        let dir = Path::new("..").join(&dep.name);
        if !is_up(&dir, dep) {
            nci_core::outln!(
                "[init] service '{}' waits for '{}' to be {}",
                spec.name,
                dep.name,
                if dep.readiness { "ready" } else { "up" }
            );
            poll_until(None, || is_up(&dir, dep));
        }
    }
    std::fs::write(
        Path::new(names::DATA).join(names::STARTED),
        format!("{}\n", now_ms()),
    )
    .context("data/started")?;
    exec_service(&spec, &json)
}

/// A long-run's `log/run` (the working directory is `<service>/log`).
pub fn log() -> Result<()> {
    let spec = read_service(&Path::new("..").join(names::DATA).join(names::SERVICE))?;
    exec_logger(&spec)
}

/// What `finish` decides, given how the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It was stopped on purpose (`s6-svc -d`, the container stopping).
    Stopped,
    /// Restart it (s6 does when `finish` exits 0).
    Restart { failures: u64 },
    /// The container stops: `reason` is logged, then s6 is told.
    StopContainer { reason: String, failed: bool },
    /// Failed, but `S6_DONT_TERMINATE_ON_ERROR` keeps the container up.
    StayDown,
}

/// The decision of `finish`, without side effects.
pub fn verdict(
    spec: &ServiceRuntime,
    ended: Ended,
    wanted_down: bool,
    failures_before: u64,
    ran_for: Duration,
    keep_going: bool,
) -> Verdict {
    if wanted_down {
        return Verdict::Stopped;
    }
    if ended.success() {
        if spec.exit_code_from {
            return Verdict::StopContainer {
                reason: format!(
                    "service '{}' (s6.exitCodeFrom) exited with exit code 0",
                    spec.name
                ),
                failed: false,
            };
        }
        return Verdict::Restart { failures: 0 };
    }
    let mut reason = format!(
        "service '{}' failed with {}",
        spec.name,
        ended.describe_for(&spec.name)
    );
    if spec.restart_on_failure {
        let failures = if ran_for >= Duration::from_millis(spec.restart_limit_interval) {
            1
        } else {
            failures_before + 1
        };
        match spec.restart_limit {
            Some(limit) if failures > u64::from(limit) => {
                reason = format!(
                    "service '{}' failed {failures} times in a row (restartLimit = {limit}), last with {}",
                    spec.name,
                    ended.describe()
                );
            }
            _ => return Verdict::Restart { failures },
        }
    }
    if keep_going && !spec.exit_code_from {
        return Verdict::StayDown;
    }
    Verdict::StopContainer {
        reason,
        failed: true,
    }
}

/// `S6_DONT_TERMINATE_ON_ERROR` is set: failures do not stop the container.
pub fn dont_terminate() -> bool {
    std::env::var_os("S6_DONT_TERMINATE_ON_ERROR").is_some()
}

/// A long-run's `finish CODE SIGNAL`: log how it ended, count failures,
/// and stop the container when the policy says so. Exit 125 tells
/// s6-supervise not to restart.
pub fn finish(code: &str, signal: &str) -> Result<i32> {
    // When the service ended: the next restart's delay counts from here.
    let ended_at = now_ms();
    let spec = read_service(&Path::new(names::DATA).join(names::SERVICE))?;
    let state = State::new("..");
    let code: u32 = code.parse().context("finish: exit code argument")?;
    let ended = if code == 256 {
        Ended::Signaled(signal.parse().context("finish: signal argument")?)
    } else {
        Ended::Exited(code as i32)
    };
    // s6-supervise writes the status (flags "finishing", "want up") just
    // after starting us: wait for it so that a wanted stop is seen.
    let mut status = None;
    poll_until(Some(Duration::from_millis(200)), || {
        status = Status::read(Path::new("."));
        status.is_some_and(|s| s.finishing)
    });
    let wanted_down = status.is_some_and(|s| !s.want_up) || records::stopping(&state).is_some();
    std::fs::write(
        Path::new(names::DATA).join(names::ENDED),
        format!("{ended_at}\n"),
    )
    .context("data/ended")?;
    let failures_path = Path::new(names::DATA).join(names::FAILURES);
    let failures_before = read_number(&failures_path).unwrap_or(0);
    let ran_for = read_number(&Path::new(names::DATA).join(names::STARTED))
        .map(|t| Duration::from_millis(now_ms().saturating_sub(t)))
        .unwrap_or_default();
    if spec.exit_code_from {
        records::record_exit_code(&state, ended.code())?;
    }
    let name = &spec.name;
    let v = verdict(
        &spec,
        ended,
        wanted_down,
        failures_before,
        ran_for,
        dont_terminate(),
    );
    match v {
        Verdict::Stopped => {
            nci_core::outln!("[init] service '{name}' stopped ({})", ended.describe());
            Ok(0)
        }
        Verdict::Restart { failures } => {
            std::fs::write(&failures_path, format!("{failures}\n")).context("data/failures")?;
            if failures == 0 && ran_for < Duration::from_secs(1) {
                // A daemon that forked into the background, or a task that
                // is not a daemon: s6 would restart it every second.
                nci_core::outln!(
                    "[init] service '{name}' exited with exit code 0: restarting it (it ran {} ms: a long-run must stay in the foreground, so run the daemon's foreground mode; a task that ends is a oneshot: s6.services.{name}.type = \"oneshot-pre\" or \"oneshot-post\")",
                    ran_for.as_millis()
                );
            } else if failures == 0 {
                nci_core::outln!("[init] service '{name}' exited with exit code 0: restarting it");
            } else {
                nci_core::outln!(
                    "[init] service '{name}' failed with {}: restarting it (restartOnFailure)",
                    ended.describe()
                );
            }
            Ok(0)
        }
        Verdict::StayDown => {
            records::record_failure(&state, name, ended)?;
            nci_core::outln!(
                "[init] service '{name}' failed with {}; S6_DONT_TERMINATE_ON_ERROR is set: it stays down and the container keeps running",
                ended.describe()
            );
            Ok(125)
        }
        Verdict::StopContainer { reason, failed } => {
            if failed {
                records::record_failure(&state, name, ended)?;
            }
            nci_core::outln!("[init] {reason}: stopping the container");
            records::request_stop(&state, &reason)?;
            Ok(125)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/false\nweb:x:1000:100::/srv:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nusers:x:100:\nnogroup:x:65534:\nwwwdata:x:33:web,nobody\nlogs:x:4:web\n";

    fn spec() -> ServiceRuntime {
        ServiceRuntime {
            name: "svc".into(),
            kind: ServiceType::LongRun,
            nci_init: "/nci-init".into(),
            argv: vec!["/bin/true".into()],
            pre_start: None,
            environment: BTreeMap::new(),
            path: vec![],
            user: "root".into(),
            group: None,
            working_directory: None,
            restart_on_failure: false,
            restart_delay: 100,
            restart_delay_max: 1000,
            restart_limit: None,
            restart_limit_interval: 10_000,
            after: vec![],
            logger: None,
            notification_fd: None,
            stop_signal: "TERM".into(),
            stop_timeout: 3000,
            exit_code_from: false,
            capabilities: vec![],
        }
    }

    #[test]
    fn users_resolve_with_their_groups() {
        let web = resolve("web", None, PASSWD, GROUP).unwrap();
        assert_eq!(
            (web.uid, web.gid, web.groups.clone()),
            (1000, 100, vec![100, 33, 4])
        );
        assert_eq!(web.home, "/srv");
        let nobody = resolve("nobody", Some("wwwdata"), PASSWD, GROUP).unwrap();
        assert_eq!(
            (nobody.uid, nobody.gid, nobody.groups),
            (65534, 33, vec![33])
        );
        let numeric = resolve("4000", None, PASSWD, GROUP).unwrap();
        assert_eq!((numeric.uid, numeric.gid), (4000, 4000));
        assert_eq!(
            resolve("alice", None, PASSWD, GROUP)
                .unwrap_err()
                .to_string(),
            "user 'alice' is not in /etc/passwd"
        );
        assert_eq!(
            resolve("web", Some("staff"), PASSWD, GROUP)
                .unwrap_err()
                .to_string(),
            "group 'staff' is not in /etc/group"
        );
    }

    #[test]
    fn who_a_service_becomes() {
        let etc = || (PASSWD.to_owned(), GROUP.to_owned());
        let mut s = spec();
        // root, the default: stay as we are, root or not.
        assert_eq!(choose_identity(&s, 0, etc).unwrap(), None);
        assert_eq!(choose_identity(&s, 1000, etc).unwrap(), None);
        s.group = Some("wwwdata".into());
        assert_eq!(choose_identity(&s, 1000, etc).unwrap(), None);
        assert_eq!(choose_identity(&s, 0, etc).unwrap().unwrap().gid, 33);
        // Another user: switch as root; as that user, nothing to do.
        s.user = "web".into();
        s.group = None;
        assert_eq!(choose_identity(&s, 0, etc).unwrap().unwrap().uid, 1000);
        assert_eq!(choose_identity(&s, 1000, etc).unwrap(), None);
        assert_eq!(
            choose_identity(&s, 2000, etc).unwrap_err().to_string(),
            "user 'web' (uid 1000) needs root, and the init runs as uid 2000"
        );
        s.group = Some("logs".into());
        assert_eq!(
            choose_identity(&s, 1000, etc).unwrap_err().to_string(),
            "user 'web' (uid 1000) with group 'logs' needs root, and the init runs as uid 1000"
        );
    }

    #[test]
    fn environment_layers_and_path() {
        let mut s = spec();
        s.environment.insert("A".into(), Some("1".into()));
        s.environment.insert("DROP".into(), None);
        s.path = vec!["/p/bin".into(), "/p/sbin".into()];
        let id = resolve("web", None, PASSWD, GROUP).unwrap();
        let env = environment(
            [
                ("PATH".to_owned(), "/bin".to_owned()),
                ("DROP".to_owned(), "x".to_owned()),
                ("KEEP".to_owned(), "y".to_owned()),
            ],
            &s,
            Some(&id),
        );
        assert_eq!(env["PATH"], "/p/bin:/p/sbin:/bin");
        assert_eq!(env["A"], "1");
        assert_eq!(env["KEEP"], "y");
        assert_eq!(env["HOME"], "/srv");
        assert_eq!(env["USER"], "web");
        assert!(!env.contains_key("DROP"));
    }

    #[test]
    fn environment_removes_what_the_user_switch_and_the_init_set_and_path_still_comes_first() {
        let mut s = spec();
        s.environment.insert("HOME".into(), None);
        s.environment.insert("PATH".into(), None);
        s.environment.insert("USER".into(), Some("other".into()));
        s.path = vec!["/p/bin".into()];
        let id = resolve("web", None, PASSWD, GROUP).unwrap();
        let inherited = [
            ("PATH".to_owned(), "/bin".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
            ("KEEP".to_owned(), "1".to_owned()),
            ("KEEP".to_owned(), "2".to_owned()),
        ];
        let env = environment(inherited.clone(), &s, Some(&id));
        let expected = BTreeMap::from([
            ("KEEP".to_owned(), "2".to_owned()),
            ("LOGNAME".to_owned(), "web".to_owned()),
            ("PATH".to_owned(), "/p/bin".to_owned()),
            ("USER".to_owned(), "other".to_owned()),
        ]);
        assert_eq!(env, expected);
        s.path.clear();
        let env = environment(inherited, &s, None);
        assert_eq!(
            env,
            BTreeMap::from([
                ("KEEP".to_owned(), "2".to_owned()),
                ("USER".to_owned(), "other".to_owned()),
            ])
        );
    }

    #[test]
    fn an_empty_command_is_named_before_anything_runs() {
        let env = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(
            exec(&[], &env, "service 'x': cannot run".into())
                .unwrap_err()
                .to_string(),
            "service 'x': cannot run: the command is empty"
        );
    }

    #[test]
    fn a_program_not_on_path_is_named_and_a_found_or_full_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("here"), "").unwrap();
        let env = BTreeMap::from([(
            "PATH".to_string(),
            format!("/nonexistent:{}", dir.path().display()),
        )]);
        let argv = |p: &str| vec![p.to_string(), "5".to_string()];
        assert_eq!(not_on_path(&argv("sleep"), &env), Some("sleep"));
        assert_eq!(not_on_path(&argv("here"), &env), None);
        assert_eq!(not_on_path(&argv("/bin/sleep"), &env), None);
        assert_eq!(not_on_path(&argv("sleep"), &BTreeMap::new()), Some("sleep"));
    }

    #[test]
    fn exit_code_127_names_the_path_option() {
        assert_eq!(
            Ended::Exited(127).describe_for("web"),
            "exit code 127 (a command was not found: add the package that has it to s6.services.web.path)"
        );
        assert_eq!(Ended::Exited(1).describe_for("web"), "exit code 1");
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let s = spec();
        let ms: Vec<u128> = (1..=6).map(|n| backoff(&s, n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn finish_verdicts() {
        let mut s = spec();
        let quick = Duration::from_millis(10);
        // The original's rules: exit 0 restarts; a failure stops the
        // container unless restartOnFailure.
        assert_eq!(
            verdict(&s, Ended::Exited(0), false, 0, quick, false),
            Verdict::Restart { failures: 0 }
        );
        assert!(matches!(
            verdict(&s, Ended::Exited(2), false, 0, quick, false),
            Verdict::StopContainer { failed: true, .. }
        ));
        assert_eq!(
            verdict(&s, Ended::Exited(2), false, 0, quick, true),
            Verdict::StayDown
        );
        assert_eq!(
            verdict(&s, Ended::Signaled(15), true, 0, quick, false),
            Verdict::Stopped
        );
        s.restart_on_failure = true;
        assert_eq!(
            verdict(&s, Ended::Exited(1), false, 2, quick, false),
            Verdict::Restart { failures: 3 }
        );
        // A long run ends the series.
        assert_eq!(
            verdict(
                &s,
                Ended::Exited(1),
                false,
                2,
                Duration::from_secs(60),
                false
            ),
            Verdict::Restart { failures: 1 }
        );
        s.restart_limit = Some(3);
        match verdict(&s, Ended::Exited(1), false, 3, quick, false) {
            Verdict::StopContainer {
                reason,
                failed: true,
            } => assert_eq!(
                reason,
                "service 'svc' failed 4 times in a row (restartLimit = 3), last with exit code 1"
            ),
            other => panic!("{other:?}"),
        }
        s.exit_code_from = true;
        assert!(matches!(
            verdict(&s, Ended::Exited(0), false, 0, quick, false),
            Verdict::StopContainer { failed: false, .. }
        ));
    }
}
