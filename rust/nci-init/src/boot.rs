//! The init's stages as processes: `boot` (stage 1, then exec
//! s6-svscan), the stage 2 helper, s6-svscan's signal hooks and its
//! `finish` (stage 3). Messages start with `[init stage N]`.

use crate::error::{bail, Context, Result};
use crate::layout::{names, read_init_file, read_service, BootSpec, State};
use crate::records;
use crate::service::{dont_terminate, is_up};
use crate::spawn::{self, Stdin};
use crate::stages::{run_oneshots, shutdown, Oneshot, Outcome};
use crate::sys::{now_ms, poll_until, signal_name, unblock_signals, RealSys, Sys};
use nci_core::init_spec::stop_signal;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `mkdir(path, 0777)` (less the umask), as `fs::create_dir`; through nix:
/// std's `DirBuilder` is 2.6 KB of every image's init.
fn create_dir(path: &Path) -> std::io::Result<()> {
    nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(0o777))
        .map_err(std::io::Error::from)
}

/// A directory and its missing parents, as `fs::create_dir_all`.
fn create_dir_all(path: &Path) -> std::io::Result<()> {
    if path == Path::new("") {
        return Ok(());
    }
    match create_dir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) if path.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    match path.parent() {
        Some(p) => create_dir_all(p)?,
        None => {
            return Err(std::io::Error::other("failed to create whole tree"));
        }
    }
    match create_dir(path) {
        Ok(()) => Ok(()),
        Err(_) if path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Picks and creates the state directory.
fn state_dir(spec: &BootSpec, given: Option<&Path>, pid1: bool) -> Result<PathBuf> {
    if let Some(dir) = given {
        if dir.exists() {
            bail!(
                "the state directory {} must not exist (it would mix with a previous run)",
                dir.display()
            );
        }
        create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the state directory", dir.display()))?;
        return Ok(dir.to_owned());
    }
    let uid = nix::unistd::Uid::effective();
    let tmp = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let candidates = [
        PathBuf::from(&spec.state_dir),
        tmp.join(format!("s6-{uid}")),
    ];
    let mut errors = Vec::new();
    for dir in &candidates {
        if dir.exists() {
            if !pid1 {
                errors.push(format!(
                    "{}: exists (is another init running? give a new STATE-DIR)",
                    dir.display()
                ));
                continue;
            }
            // As PID 1 this is ours, left by an earlier run of the same
            // container (podman restart).
            if let Err(e) = fs::remove_dir_all(dir) {
                errors.push(format!(
                    "{}: cannot remove the previous one: {e}",
                    dir.display()
                ));
                continue;
            }
        }
        match create_dir_all(dir) {
            Ok(()) => return Ok(dir.clone()),
            Err(e) => errors.push(format!("{}: {e}", dir.display())),
        }
    }
    bail!(
        "no state directory could be created ({}); mount a tmpfs on /run or pass a directory",
        errors.join("; ")
    )
}

/// Builds the scan directory: s6-svscan's hooks, our records directory,
/// and one service directory per long-run, linking to the generated files.
fn populate(spec: &BootSpec, state: &Path, init: &Path) -> Result<()> {
    let services = Path::new(&spec.services);
    let link = |target: &Path, at: &Path| -> Result<()> {
        symlink(target, at).with_context(|| format!("{}: cannot link", at.display()))
    };
    let mkdir = |p: &Path| -> Result<()> {
        create_dir(p).with_context(|| format!("{}: cannot create", p.display()))
    };
    fs::set_permissions(state, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("{}: cannot set its mode", state.display()))?;
    let svscan = state.join(names::SVSCAN);
    mkdir(&svscan)?;
    for hook in names::SVSCAN_HOOKS {
        link(&services.join(names::SVSCAN).join(hook), &svscan.join(hook))?;
    }
    mkdir(&state.join(names::STATE))?;
    link(init, &state.join(names::STATE).join(names::INIT_LINK))?;
    for lr in &spec.long_run {
        let from = services.join(&lr.name);
        let dir = state.join(&lr.name);
        mkdir(&dir)?;
        for f in names::LONG_RUN_FILES {
            if from.join(f).exists() {
                link(&from.join(f), &dir.join(f))?;
            }
        }
        mkdir(&dir.join(names::DATA))?;
        link(
            &from.join(names::DATA).join(names::SERVICE),
            &dir.join(names::DATA).join(names::SERVICE),
        )?;
        if from.join("log/run").exists() {
            mkdir(&dir.join("log"))?;
            link(&from.join("log/run"), &dir.join("log/run"))?;
        }
    }
    Ok(())
}

fn oneshots(spec: &BootSpec, names_: &[String]) -> Result<Vec<Oneshot>> {
    names_
        .iter()
        .map(|name| {
            let json = Path::new(&spec.services)
                .join(name)
                .join(names::DATA)
                .join(names::SERVICE);
            let s = read_service(&json)?;
            Ok(Oneshot {
                name: name.clone(),
                argv: vec![
                    spec.nci_init.clone(),
                    "exec".into(),
                    json.to_string_lossy().into_owned(),
                ],
                stop_signal: stop_signal(&s.stop_signal).map(|(_, n)| n).unwrap_or(15),
                exit_code_from: s.exit_code_from,
            })
        })
        .collect()
}

/// Records an outcome of a series of oneshots and says whether the
/// container must stop now.
fn settle(state: &State, outcome: &Outcome) -> Result<bool> {
    match outcome {
        Outcome::Done => Ok(false),
        Outcome::Failed { name, ended } => {
            records::request_stop(
                state,
                &format!("service '{name}' failed with {}", ended.describe()),
            )?;
            Ok(true)
        }
        Outcome::Main { name, ended } => {
            records::record_exit_code(state, ended.code())?;
            records::request_stop(
                state,
                &format!(
                    "service '{name}' (s6.exitCodeFrom) ended with {}",
                    ended.describe()
                ),
            )?;
            Ok(true)
        }
        Outcome::Stopped { signal } => {
            records::request_stop(state, &format!("received SIG{}", signal_name(*signal)))?;
            Ok(true)
        }
    }
}

/// Stage 3 in this process: stop everything, then the exit code.
fn stage3(sys: &mut dyn Sys, state: &State, grace: Duration, crashed: bool) -> Result<i32> {
    let reason = if crashed {
        "s6-svscan crashed".to_owned()
    } else {
        records::stopping(state).unwrap_or_else(|| "s6-svscan was told to stop".into())
    };
    sys.say(&format!("[init stage 3] stopping: {reason}"));
    shutdown(sys, grace)?;
    let main = records::exit_code_record(state);
    let failure = records::failure(state).map(|(_, c)| c);
    let code = if crashed && main.is_none() && failure.is_none() {
        111
    } else {
        records::policy_exit_code(main, failure)
    };
    sys.say(&format!("[init stage 3] exiting with code {code}"));
    Ok(code)
}

/// `init [STATE-DIR]`: stage 1, then exec s6-svscan (stage 2). Returns
/// only when the container stops before s6-svscan runs.
pub fn boot(init: &Path, given: Option<&Path>) -> Result<i32> {
    let started = now_ms();
    let spec = read_init_file(init)?;
    let init = fs::canonicalize(init)
        .with_context(|| format!("{}: cannot resolve the init file", init.display()))?;
    let pid1 = std::process::id() == 1;
    if !pid1 {
        // Orphans of the services come to us (then to s6-svscan, which
        // keeps the attribute across exec), as they would to PID 1.
        nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    }
    let dir = state_dir(&spec, given, pid1)?;
    let dir = fs::canonicalize(&dir).with_context(|| dir.display().to_string())?;
    let state = State::new(&dir);
    nci_core::outln!(
        "[init stage 1] starting (pid {}, state directory {})",
        std::process::id(),
        dir.display()
    );
    populate(&spec, &dir, &init)?;
    // Services find s6's programs (s6-svc, s6-svstat...) after their own.
    let path = match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{p}:{}", spec.s6_bin),
        _ => spec.s6_bin.clone(),
    };
    std::env::set_var("PATH", &path);

    let mut sys = RealSys::new().context("signal handling")?;
    let grace = Duration::from_millis(spec.grace_time);
    let pres = oneshots(&spec, &spec.oneshot_pre)?;
    let outcome = run_oneshots(
        &mut sys,
        "stage 1",
        "oneshot-pre",
        &pres,
        dont_terminate(),
        &mut |name, ended| {
            let _ = records::record_failure(&state, name, ended);
        },
    )?;
    if settle(&state, &outcome)? {
        return stage3(&mut sys, &state, grace, false);
    }

    // The hand-over to s6-svscan. As PID 1, a signal that arrives after
    // s6-svscan's start unblocks signals and before it has set its
    // handlers is dropped by the kernel (PID 1 gets no signal it has no
    // handler for): handle what is pending now; the helper says when
    // s6-svscan is ready (`-d 3`), which ends that window (about a
    // millisecond).
    if let Some(sig) = sys.pending_stop_signal()? {
        records::request_stop(&state, &format!("received SIG{}", signal_name(sig)))?;
        return stage3(&mut sys, &state, grace, false);
    }
    nci_core::outln!(
        "[init stage 2] starting s6-svscan with {} long-run service(s)",
        spec.long_run.len()
    );
    let (ready_read, ready_write) = nix::unistd::pipe().context("pipe")?;
    let started = started.to_string();
    let argv = [
        OsStr::new(&spec.nci_init),
        OsStr::new("stage2"),
        dir.as_os_str(),
        OsStr::new(&started),
    ];
    spawn::spawn(&argv, Stdin::From(ready_read)).context("cannot start the stage 2 helper")?;
    let svscan = Path::new(&spec.s6_bin).join("s6-svscan");
    let err = exec_svscan(&svscan, &dir, ready_write);
    nci_core::outln!("[init stage 2] cannot run {}: {err:#}", svscan.display());
    records::request_stop(&state, "s6-svscan could not start")?;
    let _ = records::record_failure(&state, "s6-svscan", crate::sys::Ended::Exited(111));
    stage3(&mut sys, &state, grace, false)
}

/// The descriptor on which s6-svscan says it is ready (`-d`).
const SVSCAN_READY_FD: i32 = 3;

/// Execs `s6-svscan -d3 STATE-DIR`, with stdin on /dev/null and `ready`
/// as descriptor 3. Unlike `spawn::exec`, the signal mask stays as it
/// is (s6-svscan sets its own); what s6 starts goes through `nci-init`,
/// which clears the mask before it runs a service.
fn exec_svscan(svscan: &Path, dir: &Path, ready: OwnedFd) -> crate::error::Error {
    let attempt = || -> Result<()> {
        let null = fs::File::open("/dev/null").context("/dev/null")?;
        nix::unistd::dup2(null.as_raw_fd(), 0).context("dup2 /dev/null")?;
        if ready.as_raw_fd() == SVSCAN_READY_FD {
            // Already in place, and not close-on-exec: keep it open.
            let _ = ready.into_raw_fd();
        } else {
            nix::unistd::dup2(ready.as_raw_fd(), SVSCAN_READY_FD)
                .context("dup2 the readiness pipe")?;
            drop(ready);
        }
        let prog = CString::new(svscan.as_os_str().as_bytes()).context("s6-svscan path")?;
        let arg = CString::new(dir.as_os_str().as_bytes()).context("state directory path")?;
        let d = CString::new(format!("-d{SVSCAN_READY_FD}")).context("-d")?;
        nix::unistd::execv(&prog, &[prog.clone(), d, arg]).context("exec")?;
        Ok(())
    };
    match attempt() {
        Ok(()) => crate::error::Error::msg("exec returned"),
        Err(e) => e,
    }
}

/// The stage 2 helper: once every long-run is up (ready, for those that
/// notify), run the oneshot-post services in order.
pub fn stage2(dir: &Path, boot_started_ms: Option<u64>) -> Result<i32> {
    // Stage 3's TERM must end this helper while it waits.
    unblock_signals().context("signal mask")?;
    let state = State::new(dir);
    let spec = read_init_file(&state.ours(names::INIT_LINK))?;
    let t0 = Instant::now();
    let since_start = || {
        boot_started_ms
            .map(|b| now_ms().saturating_sub(b))
            .unwrap_or_else(|| t0.elapsed().as_millis() as u64)
    };
    // s6-svscan writes a newline on our stdin once its signal handlers
    // are set (`-d`); EOF means it died first.
    let mut byte = [0u8; 1];
    match std::io::stdin().read(&mut byte) {
        Ok(1) => nci_core::outln!(
            "[init stage 2] s6-svscan is ready ({} ms after start)",
            since_start()
        ),
        _ => return Ok(0),
    }
    let all_up = || {
        spec.long_run
            .iter()
            .all(|lr| is_up(&state.service(&lr.name), lr))
    };
    poll_until(None, || all_up() || records::stopping(&state).is_some());
    if records::stopping(&state).is_some() {
        return Ok(0);
    }
    if !spec.long_run.is_empty() {
        let since = since_start();
        let ready: Vec<&str> = spec
            .long_run
            .iter()
            .filter(|l| l.readiness)
            .map(|l| l.name.as_str())
            .collect();
        nci_core::outln!(
            "[init stage 2] all {} long-run service(s) are up{} ({since} ms after start)",
            spec.long_run.len(),
            if ready.is_empty() {
                String::new()
            } else {
                format!(", ready: {}", ready.join(", "))
            }
        );
    }
    if spec.oneshot_post.is_empty() {
        return Ok(0);
    }
    let posts = oneshots(&spec, &spec.oneshot_post)?;
    let mut sys = RealSys::new().context("signal handling")?;
    let outcome = run_oneshots(
        &mut sys,
        "stage 2",
        "oneshot-post",
        &posts,
        dont_terminate(),
        &mut |name, ended| {
            if records::stopping(&state).is_none() {
                let _ = records::record_failure(&state, name, ended);
            }
        },
    )?;
    if matches!(outcome, Outcome::Stopped { .. }) || records::stopping(&state).is_some() {
        return Ok(0);
    }
    if !settle(&state, &outcome)? {
        nci_core::outln!("[init stage 2] oneshot-post services done");
    }
    Ok(0)
}

/// `.s6-svscan/SIGTERM` and `SIGINT`: note why, and tell s6-svscan to
/// stop every service (its working directory is the scan directory).
pub fn svscan_signal(script: &Path) -> Result<i32> {
    let dir = std::env::current_dir().context("current directory")?;
    let state = State::new(dir);
    let sig = script
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("a signal")
        .to_owned();
    if records::request_stop(&state, &format!("received {sig}"))? {
        nci_core::outln!("[init] received {sig}: stopping the services");
    }
    Ok(0)
}

/// `.s6-svscan/finish` (and `crash`), exec'ed by s6-svscan once the
/// services are down: stage 3.
pub fn svscan_finish(script: &Path) -> Result<i32> {
    let dir = std::env::current_dir().context("current directory")?;
    let state = State::new(dir);
    let crashed = script.file_name().is_some_and(|n| n == "crash");
    let grace = match read_init_file(&state.ours(names::INIT_LINK)) {
        Ok(spec) => Duration::from_millis(spec.grace_time),
        Err(e) => {
            nci_core::outln!("[init stage 3] {e:#}; using a grace time of 3000 ms");
            Duration::from_millis(3000)
        }
    };
    let mut sys = RealSys::new().context("signal handling")?;
    stage3(&mut sys, &state, grace, crashed)
}
