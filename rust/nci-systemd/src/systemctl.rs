//! `systemctl` on a service's PATH (a script in the units' `bin`, beside
//! `systemd-notify`): what NixOS modules' scripts ask of systemd about
//! the services of the image. `is-active` and `is-failed` read the
//! state each `nci-systemd run` keeps in its s6 service directory
//! ([`STATE_FILE`], world-readable, as systemd answers any user), and so
//! does `status` (with s6-svstat's line where it can be read);
//! `start`, `stop`, `reload` and `restart` go to s6 (`s6-svc -u`, `-d`,
//! `-h`, `-r`), as root only, as systemd without polkit, and wait for the
//! service as systemd's jobs do. Every other verb is refused by name:
//! nothing is pretended.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file, in a long-run's s6 service directory, where its runner
/// keeps the unit's state: systemd's ActiveState word, the runner's
/// process id (a restart is a new runner), the number of the write (a
/// reload writes twice).
pub const STATE_FILE: &str = "nci-systemd.state";

/// What a runner says about its unit, as systemd's ActiveState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Activating,
    Active,
    Reloading,
    Deactivating,
    Inactive,
    Failed,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Activating => "activating",
            State::Active => "active",
            State::Reloading => "reloading",
            State::Deactivating => "deactivating",
            State::Inactive => "inactive",
            State::Failed => "failed",
        }
    }
}

/// The state file of `unit` in the scan directory.
pub fn state_file(scan_dir: &Path, unit: &str) -> PathBuf {
    scan_dir.join(unit).join(STATE_FILE)
}

/// Writes `state` into the service directory `dir` (a whole file,
/// renamed into place, 0644), as the runner's write number `seq`.
pub fn write_state(dir: &Path, state: State, seq: u64) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
    std::fs::write(
        &tmp,
        format!("{} {} {seq}\n", state.word(), std::process::id()),
    )?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, dir.join(STATE_FILE))
}

/// The verbs this `systemctl` knows.
const VERBS: &str = "is-active, is-failed, status, start, stop, reload, restart, try-restart, reload-or-restart, try-reload-or-restart, daemon-reload";

/// A unit argument: `NAME` or `NAME.service`; None for another kind.
fn service_name(arg: &str) -> Option<&str> {
    match arg.rsplit_once('.') {
        Some((name, "service")) => Some(name),
        Some((_, kind))
            if [
                "target",
                "socket",
                "timer",
                "path",
                "mount",
                "automount",
                "slice",
                "scope",
                "swap",
                "device",
            ]
            .contains(&kind) =>
        {
            None
        }
        _ => Some(arg),
    }
}

/// What a state file holds: the word, the runner, the write's number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    word: String,
    runner: String,
    seq: String,
}

fn seen(scan_dir: &Path, unit: &str) -> Option<Seen> {
    let text = std::fs::read_to_string(state_file(scan_dir, service_name(unit)?)).ok()?;
    let mut words = text.split_whitespace().map(String::from);
    Some(Seen {
        word: words.next()?,
        runner: words.next().unwrap_or_default(),
        seq: words.next().unwrap_or_default(),
    })
}

/// The state of a unit: its runner's word, or `inactive` (not in the
/// image, not started yet, or not a service).
fn state_of(scan_dir: &Path, unit: &str) -> String {
    seen(scan_dir, unit).map_or_else(|| "inactive".into(), |s| s.word)
}

/// How long `reload` and `restart` wait for the service (systemd's
/// default start timeout).
const WAIT: Duration = Duration::from_secs(90);

/// Waits until `done` holds for the unit's state file.
fn wait_for(scan_dir: &Path, unit: &str, done: &dyn Fn(Option<&Seen>) -> bool) -> bool {
    let until = Instant::now() + WAIT;
    while Instant::now() < until {
        if done(seen(scan_dir, unit).as_ref()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// What a command line asks: the verb, the units, `--quiet`,
/// `--no-block`.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    verb: String,
    units: Vec<String>,
    quiet: bool,
    no_block: bool,
}

fn parse(words: &[String]) -> Result<Request> {
    let mut verb = None;
    let mut units = Vec::new();
    let mut quiet = false;
    let mut no_block = false;
    for w in words {
        match w.as_str() {
            "-q" | "--quiet" => quiet = true,
            "--no-block" => no_block = true,
            // What changes nothing here: one system manager, no pager,
            // no password agent.
            "--system" | "--no-pager" | "--no-legend" | "--no-ask-password" => {}
            o if o.starts_with('-') => {
                bail!("option '{o}' is not supported in an image (this systemctl knows --quiet, --system, --no-block, --no-pager, --no-legend, --no-ask-password)")
            }
            _ if verb.is_none() => verb = Some(w.clone()),
            _ => units.push(w.clone()),
        }
    }
    let Some(verb) = verb else {
        bail!("a verb is needed ({VERBS})");
    };
    Ok(Request {
        verb,
        units,
        quiet,
        no_block,
    })
}

/// Runs `systemctl WORDS...`; the exit status as systemctl's.
pub fn main(words: &[String], scan_dir: &Path, s6_svc: &Path) -> Result<i32> {
    // s6-svstat beside s6-svc (the image's s6 programs).
    let s6_svstat = s6_svc.with_file_name("s6-svstat");
    run(
        words,
        scan_dir,
        nix::unistd::geteuid().is_root(),
        &mut |dir| {
            let out = std::process::Command::new(&s6_svstat)
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        },
        &mut |args| {
            let status = std::process::Command::new(s6_svc)
                .args(args)
                .status()
                .with_context(|| {
                    format!(
                        "cannot run {} (s6.programs lists s6-svc by default)",
                        s6_svc.display()
                    )
                })?;
            Ok(status.success())
        },
    )
}

/// A unit a verb controls: its s6 service directory, or the exit status
/// (systemd's: 5 not found, 4 access denied) once the reason is printed.
fn controlled(
    scan_dir: &Path,
    verb: &str,
    unit: &str,
    root: bool,
) -> Result<(String, PathBuf), i32> {
    let shown = match service_name(unit) {
        Some(n) => format!("{n}.service"),
        None => unit.to_string(),
    };
    let Some(name) = service_name(unit) else {
        nci_core::errln!("Failed to {verb} {shown}: Unit {shown} not found.");
        return Err(5);
    };
    let dir = scan_dir.join(name);
    if !dir.join("supervise").is_dir() && !dir.join("run").is_file() {
        // systemd's words and status for a unit it does not have.
        nci_core::errln!("Failed to {verb} {shown}: Unit {shown} not found.");
        return Err(5);
    }
    if !root {
        nci_core::errln!(
            "Failed to {verb} {shown}: Access denied (only root controls the services of an image: s6's supervise directories are root's)."
        );
        return Err(4);
    }
    Ok((shown, dir))
}

/// `systemctl status UNIT...`: systemd's first lines (the unit, its
/// state) and s6's view; 0 when every unit is active, 3 when one is
/// not, 4 when one is not in the image (systemctl's codes).
fn status(
    scan_dir: &Path,
    units: &[String],
    svstat: &mut dyn FnMut(&Path) -> Option<String>,
) -> Status {
    use std::fmt::Write;
    let mut st = Status::default();
    for u in units {
        let name = service_name(u);
        let dir = name.map(|n| scan_dir.join(n));
        let Some((name, dir)) = name
            .zip(dir)
            .filter(|(_, d)| d.join("run").is_file() || d.join("supervise").is_dir())
        else {
            let _ = writeln!(st.err, "Unit {u} could not be found.");
            st.code = st.code.max(4);
            continue;
        };
        let seen = seen(scan_dir, name);
        let word = seen.as_ref().map_or("inactive", |s| s.word.as_str());
        let (mark, sub) = match word {
            "active" | "reloading" => ("●", " (running)"),
            "failed" => ("×", " (dead)"),
            "inactive" => ("○", " (dead)"),
            _ => ("○", ""),
        };
        if !st.out.is_empty() {
            st.out.push('\n');
        }
        let _ = writeln!(st.out, "{mark} {name}.service");
        let _ = writeln!(st.out, "     Loaded: loaded (s6 service {})", dir.display());
        let _ = writeln!(st.out, "     Active: {word}{sub}");
        // The runner while it runs the service (systemd's Main PID line).
        let running = !matches!(word, "inactive" | "failed");
        if let Some(s) = seen.as_ref().filter(|s| running && !s.runner.is_empty()) {
            let _ = writeln!(st.out, "     Runner: {} (nci-systemd run)", s.runner);
        }
        if let Some(line) = svstat(&dir) {
            let _ = writeln!(st.out, "         s6: {line}");
        }
        if !matches!(word, "active" | "reloading") {
            st.code = st.code.max(3);
        }
    }
    st
}

/// What `status` prints and its exit status.
#[derive(Debug, Default, PartialEq, Eq)]
struct Status {
    out: String,
    err: String,
    code: i32,
}

/// One job of `req.verb` on the service `name` (shown as `shown`, its
/// s6 directory `dir`): `s6-svc FLAG DIR`, then, unless `--no-block`,
/// waiting until `done(before, now)` of its state as systemd waits for
/// its jobs. 0, or 1 after saying why.
#[allow(clippy::too_many_arguments)]
fn job(
    scan_dir: &Path,
    req: &Request,
    shown: &str,
    dir: &Path,
    name: &str,
    flag: &str,
    svc: &mut dyn FnMut(&[&str]) -> Result<bool>,
    done: &dyn Fn(Option<&Seen>, Option<&Seen>) -> bool,
) -> Result<i32> {
    let before = seen(scan_dir, name);
    let d = dir.to_string_lossy();
    if !svc(&[flag, d.as_ref()])? {
        nci_core::errln!("Failed to {} {shown}: s6-svc {flag} {d} failed.", req.verb);
        return Ok(1);
    }
    if req.no_block || wait_for(scan_dir, name, &|now| done(before.as_ref(), now)) {
        return Ok(0);
    }
    nci_core::errln!(
        "Failed to {} {shown}: not done after {} s (now {}).",
        req.verb,
        WAIT.as_secs(),
        state_of(scan_dir, name)
    );
    Ok(1)
}

/// A start or restart is over: a new runner has started the service,
/// or given up.
fn new_runner_settled(before: Option<&Seen>, now: Option<&Seen>) -> bool {
    now.is_some_and(|s| {
        Some(&s.runner) != before.map(|b| &b.runner)
            && matches!(s.word.as_str(), "active" | "failed" | "inactive")
    })
}

/// `start` (`s6-svc -u`) and `stop` (`s6-svc -d`) of each unit, waiting
/// as systemd's jobs do unless `--no-block`: a start until the new
/// runner has started the service (or it failed: 1), a stop until the
/// runner is done with its stop sequence.
fn start_stop(
    scan_dir: &Path,
    req: &Request,
    root: bool,
    svc: &mut dyn FnMut(&[&str]) -> Result<bool>,
) -> Result<i32> {
    let start = req.verb == "start";
    let mut code = 0;
    for u in &req.units {
        let (shown, dir) = match controlled(scan_dir, &req.verb, u, root) {
            Ok(t) => t,
            Err(c) => {
                code = c;
                continue;
            }
        };
        let name = service_name(u).unwrap_or(u);
        let before = seen(scan_dir, name);
        // Starting a running service does nothing, as in systemd.
        let running = before
            .as_ref()
            .is_some_and(|b| matches!(b.word.as_str(), "active" | "reloading" | "activating"));
        if start && running {
            continue;
        }
        let flag = if start { "-u" } else { "-d" };
        let stopped = |_: Option<&Seen>, s: Option<&Seen>| {
            s.is_none_or(|s| matches!(s.word.as_str(), "inactive" | "failed"))
        };
        let done: &dyn Fn(Option<&Seen>, Option<&Seen>) -> bool =
            if start { &new_runner_settled } else { &stopped };
        match job(scan_dir, req, &shown, &dir, name, flag, svc, done)? {
            0 if start && !req.no_block && state_of(scan_dir, name) == "failed" => {
                nci_core::errln!(
                    "Job for {shown} failed: see \"systemctl status {shown}\" and the container's log."
                );
                code = 1;
            }
            0 => {}
            c => code = c,
        }
    }
    Ok(code)
}

/// [`main`] with its surroundings given: where the s6 services are,
/// whether the caller is root, how s6-svstat and s6-svc run.
fn run(
    words: &[String],
    scan_dir: &Path,
    root: bool,
    svstat: &mut dyn FnMut(&Path) -> Option<String>,
    svc: &mut dyn FnMut(&[&str]) -> Result<bool>,
) -> Result<i32> {
    let req = parse(words)?;
    let needs_units = |req: &Request| -> Result<()> {
        if req.units.is_empty() {
            bail!("{}: a unit is needed", req.verb);
        }
        Ok(())
    };
    match req.verb.as_str() {
        "is-active" | "is-failed" => {
            needs_units(&req)?;
            let wanted: &[&str] = if req.verb == "is-active" {
                &["active", "reloading"]
            } else {
                &["failed"]
            };
            let mut any = false;
            for u in &req.units {
                let s = state_of(scan_dir, u);
                if !req.quiet {
                    nci_core::outln!("{s}");
                }
                any |= wanted.contains(&s.as_str());
            }
            // systemd: 0 when one is, 3 (is-active) or 1 (is-failed) else.
            Ok(if any {
                0
            } else if req.verb == "is-active" {
                3
            } else {
                1
            })
        }
        "daemon-reload" => Ok(0),
        "status" => {
            needs_units(&req)?;
            let st = status(scan_dir, &req.units, svstat);
            // Whole, in one write each (outln's habit: lines never cut).
            use nci_core::out::{write_all, Stream};
            if !req.quiet {
                let _ = write_all(Stream::Stdout, st.out.as_bytes());
            }
            let _ = write_all(Stream::Stderr, st.err.as_bytes());
            Ok(st.code)
        }
        "start" | "stop" => {
            needs_units(&req)?;
            start_stop(scan_dir, &req, root, svc)
        }
        "reload" | "restart" | "try-restart" | "reload-or-restart" | "try-reload-or-restart" => {
            needs_units(&req)?;
            let flag = if req.verb.starts_with("reload") || req.verb == "try-reload-or-restart" {
                "-h"
            } else {
                "-r"
            };
            let mut code = 0;
            for u in &req.units {
                let name = service_name(u).unwrap_or(u);
                let (shown, dir) = match controlled(scan_dir, &req.verb, u, root) {
                    Ok(t) => t,
                    Err(c) => {
                        code = c;
                        continue;
                    }
                };
                let try_only = req.verb.starts_with("try-");
                if try_only
                    && !matches!(
                        state_of(scan_dir, name).as_str(),
                        "active" | "reloading" | "activating"
                    )
                {
                    continue;
                }
                // As systemd's jobs: done when the reload is over (the
                // runner wrote its state anew), or when the new runner
                // has started the service (or given up).
                let reloaded = |before: Option<&Seen>, s: Option<&Seen>| {
                    s.is_some_and(|s| {
                        before.is_none_or(|b| (&b.runner, &b.seq) != (&s.runner, &s.seq))
                            && s.word != "reloading"
                    })
                };
                let done: &dyn Fn(Option<&Seen>, Option<&Seen>) -> bool = if flag == "-h" {
                    &reloaded
                } else {
                    &new_runner_settled
                };
                match job(scan_dir, &req, &shown, &dir, name, flag, svc, done)? {
                    0 => {}
                    c => code = c,
                }
            }
            Ok(code)
        }
        other => bail!("'{other}' is not supported in an image (this systemctl knows {VERBS})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("scan/db/supervise")).unwrap();
            std::fs::create_dir_all(dir.path().join("scan/web/supervise")).unwrap();
            Fixture { dir }
        }
        fn scan(&self) -> PathBuf {
            self.dir.path().join("scan")
        }
        fn set(&self, unit: &str, state: State) {
            write_state(&self.scan().join(unit), state, 1).unwrap();
        }
        fn run(&self, w: &str, root: bool, calls: &mut Vec<String>) -> Result<i32> {
            run(&words(w), &self.scan(), root, &mut |_| None, &mut |a| {
                calls.push(
                    a.join(" ")
                        .replace(&self.dir.path().to_string_lossy().to_string(), "D"),
                );
                // The runner answers at once: a reload rewrites its
                // state, a restart or a start is a new runner (here the
                // call's number), a stop leaves it inactive.
                let unit = a[1].rsplit('/').next().unwrap_or_default();
                let runner = if a[0] == "-h" {
                    std::process::id()
                } else {
                    calls.len() as u32
                };
                let word = if a[0] == "-d" { "inactive" } else { "active" };
                let tmp = self.scan().join("tmp");
                std::fs::write(&tmp, format!("{word} {runner} {}\n", calls.len())).unwrap();
                std::fs::rename(&tmp, state_file(&self.scan(), unit)).unwrap();
                Ok(true)
            })
        }
    }

    #[test]
    fn is_active_reads_the_runners_state_as_systemd_words_and_codes() {
        let f = Fixture::new();
        let mut calls = vec![];
        // Nothing written yet: inactive, 3.
        assert_eq!(
            f.run("is-active --quiet db.service", false, &mut calls)
                .unwrap(),
            3
        );
        f.set("db", State::Activating);
        assert_eq!(f.run("is-active db", false, &mut calls).unwrap(), 3);
        f.set("db", State::Active);
        assert_eq!(
            f.run("is-active -q db.service", false, &mut calls).unwrap(),
            0
        );
        // Any one active is enough, as systemd; a target is not a service.
        assert_eq!(
            f.run("is-active web.service db.service", false, &mut calls)
                .unwrap(),
            0
        );
        assert_eq!(
            f.run("is-active multi-user.target", false, &mut calls)
                .unwrap(),
            3
        );
        assert_eq!(state_of(&f.scan(), "db.service"), "active");
        assert_eq!(state_of(&f.scan(), "nothere"), "inactive");
        f.set("web", State::Failed);
        assert_eq!(f.run("is-failed web", false, &mut calls).unwrap(), 0);
        assert_eq!(f.run("is-failed db", false, &mut calls).unwrap(), 1);
        assert!(calls.is_empty());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(state_file(&f.scan(), "web"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn reload_and_restart_go_to_s6_as_root_only() {
        let f = Fixture::new();
        let mut calls = vec![];
        assert_eq!(f.run("reload db.service", true, &mut calls).unwrap(), 0);
        assert_eq!(
            f.run("--no-block restart web", true, &mut calls).unwrap(),
            0
        );
        assert_eq!(f.run("reload-or-restart db", true, &mut calls).unwrap(), 0);
        // try-restart: only a running service.
        std::fs::remove_file(state_file(&f.scan(), "db")).unwrap();
        assert_eq!(f.run("try-restart db", true, &mut calls).unwrap(), 0);
        f.set("db", State::Active);
        assert_eq!(f.run("try-restart db", true, &mut calls).unwrap(), 0);
        assert_eq!(
            calls,
            [
                "-h D/scan/db",
                "-r D/scan/web",
                "-h D/scan/db",
                "-r D/scan/db"
            ]
        );
        calls.clear();
        assert_eq!(f.run("reload db", false, &mut calls).unwrap(), 4);
        assert_eq!(
            f.run("restart nothere.service", true, &mut calls).unwrap(),
            5
        );
        assert_eq!(f.run("restart db.socket", true, &mut calls).unwrap(), 5);
        assert!(calls.is_empty());
        assert_eq!(f.run("daemon-reload", true, &mut calls).unwrap(), 0);
    }

    #[test]
    fn start_and_stop_go_to_s6_as_root_only_and_wait_for_the_runner() {
        let f = Fixture::new();
        let mut calls = vec![];
        f.set("db", State::Active);
        // Starting a running service does nothing.
        assert_eq!(f.run("start db.service", true, &mut calls).unwrap(), 0);
        assert!(calls.is_empty());
        assert_eq!(f.run("stop db.service", true, &mut calls).unwrap(), 0);
        assert_eq!(state_of(&f.scan(), "db"), "inactive");
        assert_eq!(f.run("start db", true, &mut calls).unwrap(), 0);
        assert_eq!(state_of(&f.scan(), "db"), "active");
        assert_eq!(f.run("--no-block stop web", true, &mut calls).unwrap(), 0);
        assert_eq!(calls, ["-d D/scan/db", "-u D/scan/db", "-d D/scan/web"]);
        calls.clear();
        assert_eq!(f.run("stop db", false, &mut calls).unwrap(), 4);
        assert_eq!(f.run("start nothere", true, &mut calls).unwrap(), 5);
        assert!(calls.is_empty());
        // A start whose new runner fails: systemd's 1.
        let mut failing = |a: &[&str]| -> Result<bool> {
            let unit = a[1].rsplit('/').next().unwrap_or_default();
            let tmp = f.scan().join("tmp");
            std::fs::write(&tmp, "failed 2 9\n").unwrap();
            std::fs::rename(&tmp, state_file(&f.scan(), unit)).unwrap();
            Ok(true)
        };
        f.set("web", State::Inactive);
        assert_eq!(
            run(
                &words("start web"),
                &f.scan(),
                true,
                &mut |_| None,
                &mut failing
            )
            .unwrap(),
            1
        );
    }

    #[test]
    fn status_answers_any_user_with_systemds_first_lines_and_codes() {
        let f = Fixture::new();
        f.set("db", State::Active);
        f.set("web", State::Failed);
        let mut asked = vec![];
        let mut svstat = |d: &Path| {
            asked.push(d.file_name().unwrap().to_string_lossy().into_owned());
            Some("up (pid 7) 3 seconds".to_string())
        };
        let scan = f.scan();
        let mut status_of = |w: &str| {
            let mut st = status(&scan, &words(w), &mut svstat);
            st.out = st.out.replace(&scan.to_string_lossy().to_string(), "S");
            st.out = st.out.replace(&std::process::id().to_string(), "PID");
            st
        };
        assert_eq!(
            status_of("db.service"),
            Status {
                out: "● db.service\n     Loaded: loaded (s6 service S/db)\n     Active: active (running)\n     Runner: PID (nci-systemd run)\n         s6: up (pid 7) 3 seconds\n".into(),
                err: String::new(),
                code: 0
            }
        );
        let st = status_of("db web nothere.service");
        assert_eq!(st.code, 4);
        assert_eq!(st.err, "Unit nothere.service could not be found.\n");
        assert!(st.out.contains("\n\n× web.service\n     Loaded: loaded (s6 service S/web)\n     Active: failed (dead)\n         s6: up"), "{}", st.out);
        assert_eq!(status_of("db web").code, 3);
        assert_eq!(asked, ["db", "db", "web", "db", "web"]);
    }

    #[test]
    fn other_verbs_and_options_are_refused_by_name() {
        let f = Fixture::new();
        let mut calls = vec![];
        assert_eq!(
            f.run("enable db", true, &mut calls).unwrap_err().to_string(),
            "'enable' is not supported in an image (this systemctl knows is-active, is-failed, status, start, stop, reload, restart, try-restart, reload-or-restart, try-reload-or-restart, daemon-reload)"
        );
        assert_eq!(
            f.run("is-active --user db", false, &mut calls).unwrap_err().to_string(),
            "option '--user' is not supported in an image (this systemctl knows --quiet, --system, --no-block, --no-pager, --no-legend, --no-ask-password)"
        );
        assert_eq!(
            f.run("is-active", false, &mut calls)
                .unwrap_err()
                .to_string(),
            "is-active: a unit is needed"
        );
        assert_eq!(
            f.run("", false, &mut calls).unwrap_err().to_string(),
            "a verb is needed (is-active, is-failed, status, start, stop, reload, restart, try-restart, reload-or-restart, try-reload-or-restart, daemon-reload)"
        );
    }
}
