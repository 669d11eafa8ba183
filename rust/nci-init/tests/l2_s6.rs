//! L2: the init runner driving Debian's real s6 (2.11) as PID 1 of a PID
//! namespace (`unshare --pid --fork --mount-proc`), from specs generated
//! by `nci-s6`'s generator. Each of the original project's s6 tests is here
//! (named after it), then the issue's: grace time, zombies, exit codes,
//! readiness, crash loops, users.
//!
//! Needs `unshare` (util-linux) and s6 in /usr/bin (tests/setup installs
//! it); as a non-root user the namespace is also a user namespace, and
//! the tests that switch users need root.

// Test helpers outside #[test] functions panic on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const NCI_INIT: &str = env!("CARGO_BIN_EXE_nci-init");

struct Init {
    dir: tempfile::TempDir,
    child: Child,
    /// The read end of stdout and stderr with [`Run::piped`].
    output: Option<fs::File>,
}

/// Options of one run of the init.
#[derive(Default)]
struct Run {
    env: Vec<(&'static str, String)>,
    /// Replace /etc/passwd and /etc/group in the namespace.
    etc: Option<(&'static str, &'static str)>,
    /// Run the init as this uid:gid (setpriv).
    as_user: Option<&'static str>,
    grace_time: Option<u64>,
    exit_code_from: Option<&'static str>,
    /// The init's stdout and stderr are one pipe the test holds
    /// (`Init::output`), not the log file.
    piped: bool,
}

#[path = "../../test-support/root.rs"]
mod root;
use root::skip_unless_root;

fn root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Generates the init of `services` and starts it in a PID namespace.
fn start(services: Value, run: Run) -> Init {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let spec = json!({
        "version": 1,
        "nciInit": NCI_INIT,
        "s6Bin": "/usr/bin",
        "shell": "/bin/bash",
        "graceTime": run.grace_time.unwrap_or(3000),
        "exitCodeFrom": run.exit_code_from,
        "services": services,
    });
    // What `nci-s6 generate` (the Nix builder) writes, from its library.
    let spec: nci_core::init_spec::InitSpec = serde_json::from_value(spec).unwrap();
    if let Err(e) = nci_s6::generate::generate(
        &spec,
        &nci_s6::generate::Outputs {
            init: &d.join("init"),
            services: &d.join("services"),
            tree: None,
        },
    ) {
        panic!("generate failed: {e:#}");
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join("log"))
        .unwrap();
    let mut script = String::new();
    if let Some((passwd, group)) = run.etc {
        fs::write(d.join("passwd"), passwd).unwrap();
        fs::write(d.join("group"), group).unwrap();
        script +=
            "mount --bind \"$D/passwd\" /etc/passwd && mount --bind \"$D/group\" /etc/group && ";
    }
    if let Some(ids) = run.as_user {
        let (u, g) = ids.split_once(':').unwrap();
        fs::create_dir(d.join("writable")).unwrap();
        nix::unistd::chown(
            &d.join("writable"),
            Some(nix::unistd::Uid::from_raw(u.parse().unwrap())),
            Some(nix::unistd::Gid::from_raw(g.parse().unwrap())),
        )
        .unwrap();
        script += &format!(
            "exec setpriv --reuid {u} --regid {g} --clear-groups \"$D/init\" \"$D/writable/state\""
        );
    } else {
        script += "exec \"$D/init\" \"$D/state\"";
    }
    let mut output = None;
    let mut cmd = Command::new("unshare");
    // Fork and exec, not posix_spawn: glibc's leaves its internal signals
    // ignored in the child, which would leak into the whole tree.
    std::os::unix::process::CommandExt::gid(&mut cmd, nix::unistd::Gid::effective().as_raw());
    if !root() {
        cmd.arg("--map-root-user");
    }
    cmd.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "/bin/sh",
        "-c",
        &script,
    ])
    .env("D", d)
    .env("PATH", "/usr/bin:/bin")
    .stdin(Stdio::null());
    if run.piped {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        cmd.stdout(write.try_clone().unwrap()).stderr(write);
        output = Some(fs::File::from(read));
    } else {
        cmd.stdout(log.try_clone().unwrap()).stderr(log);
    }
    for (k, v) in &run.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("unshare (util-linux) is needed");
    // The test must not hold the pipe's write end: drop the Command.
    drop(cmd);
    Init { dir, child, output }
}

impl Init {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path().join("log")).unwrap_or_default()
    }

    /// Waits until `check` holds on the log; panics with the log after
    /// `secs`.
    fn wait_for(&self, what: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log();
            if check(&log) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_line(&self, needle: &str, secs: u64) -> String {
        self.wait_for(needle, secs, |l| l.contains(needle))
    }

    /// The host pid of the namespace's PID 1 (unshare's child), if it
    /// has started.
    fn try_pid1(&self) -> Option<i32> {
        let me = self.child.id();
        fs::read_to_string(format!("/proc/{me}/task/{me}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// [`Init::try_pid1`], waiting for it.
    fn pid1(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(p) = self.try_pid1() {
                return p;
            }
            assert!(Instant::now() < deadline, "no PID 1 under unshare");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the init to end; its status and when it ended.
    fn wait_exit(&mut self, secs: u64) -> (ExitStatus, Instant) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, Instant::now());
            }
            if Instant::now() > deadline {
                let log = self.log();
                let _ = self.child.kill();
                panic!("the init did not exit within {secs} s; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `sig` to PID 1 and waits for the end; the exit code and how
    /// long the stop took.
    fn stop(&mut self, sig: i32) -> (i32, Duration) {
        let pid = self.pid1();
        let t0 = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(sig).unwrap(),
        )
        .unwrap();
        let (st, end) = self.wait_exit(20);
        (st.code().unwrap_or(-1), end - t0)
    }

    fn exit_code(&mut self, secs: u64) -> i32 {
        self.wait_exit(secs).0.code().unwrap_or(-1)
    }

    /// Every process under PID 1 (host pids), with its state letter.
    fn processes(&self) -> Vec<(i32, char)> {
        let root = self.pid1();
        let mut all = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let mut f = stat[close + 2..].split_whitespace();
            let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
            let ppid: i32 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            all.push((pid, ppid, state));
        }
        let mut found = vec![];
        let mut todo = vec![root];
        while let Some(p) = todo.pop() {
            for &(pid, ppid, state) in &all {
                if ppid == p {
                    found.push((pid, state));
                    todo.push(pid);
                }
            }
        }
        found
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(p) = self.try_pid1() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

fn position(log: &str, needle: &str) -> usize {
    log.find(needle)
        .unwrap_or_else(|| panic!("'{needle}' not in the log:\n{log}"))
}

// The original project's s6 tests (tests/s6.nix), one each.

#[test]
fn l2_stop_if_longrun_no_restart_fails() {
    let mut init = start(json!({"example": {"script": "exit 1"}}), Run::default());
    let code = init.exit_code(10);
    let log = init.log();
    assert!(log.contains("[init stage 3]"), "{log}");
    assert!(
        log.contains("[init] service 'example' failed with exit code 1: stopping the container"),
        "{log}"
    );
    assert_eq!(code, 1, "{log}");
}

#[test]
fn l2_restart() {
    let mut init = start(
        json!({"example": {"script": "echo restart\nexit 1", "restartOnFailure": true}}),
        Run::default(),
    );
    let log = init.wait_for("two restarts", 10, |l| {
        lines_with(l, "restart")
            .iter()
            .filter(|l| **l == "restart")
            .count()
            >= 2
    });
    assert!(!log.contains("[init stage 3]"), "{log}");
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_stop_if_oneshot_fail() {
    let mut init = start(
        json!({"example": {"type": "oneshot-pre", "script": "echo restart\nexit 1"}}),
        Run::default(),
    );
    let code = init.exit_code(10);
    let log = init.log();
    assert!(
        log.contains("[init stage 1] oneshot-pre service 'example' failed with exit code 1"),
        "{log}"
    );
    assert!(
        log.contains("[init stage 3] sending all processes the TERM signal"),
        "{log}"
    );
    assert!(!log.contains("[init stage 2]"), "{log}");
    assert_eq!(code, 1);
}

#[test]
fn l2_dependent_oneshot() {
    let mut init = start(
        json!({
            "example-1": {"type": "oneshot-pre", "script": "echo example-1: MUSTNOTEXISTELSEWHERE_1", "after": ["example-2"]},
            "example-2": {"type": "oneshot-pre", "script": "echo example-2: MUSTNOTEXISTELSEWHERE_2"},
        }),
        Run::default(),
    );
    let log = init.wait_line("[init stage 2] s6-svscan is ready", 10);
    let found = lines_with(&log, "MUSTNOTEXISTELSEWHERE");
    assert_eq!(
        found,
        [
            "example-2: MUSTNOTEXISTELSEWHERE_2",
            "example-1: MUSTNOTEXISTELSEWHERE_1"
        ]
    );
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_oneshot_post() {
    let mut init = start(
        json!({
            "example-1": {"type": "oneshot-post", "script": "sleep 0.3; echo example-1: MUSTNOTEXISTELSEWHERE_1", "after": ["example-2"]},
            "example-2": {"script": "echo example-2: MUSTNOTEXISTELSEWHERE_2; exec sleep 100"},
        }),
        Run::default(),
    );
    let log = init.wait_line("MUSTNOTEXISTELSEWHERE_1", 10);
    assert!(position(&log, "MUSTNOTEXISTELSEWHERE_2") < position(&log, "MUSTNOTEXISTELSEWHERE_1"));
    assert!(
        position(&log, "all 1 long-run service(s) are up")
            < position(&log, "starting oneshot-post service 'example-1'")
    );
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_path() {
    let pkg = tempfile::tempdir().unwrap();
    fs::create_dir(pkg.path().join("bin")).unwrap();
    let greet = pkg.path().join("bin/greet");
    fs::write(&greet, "#!/bin/sh\necho 'Hello, world!'\n").unwrap();
    fs::set_permissions(&greet, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut init = start(
        json!({
            "path": {"script": "greet; exec sleep 100", "path": [pkg.path()]},
            "nopath": {"script": "greet || echo 'greet: not on PATH'; exec sleep 100"},
        }),
        Run::default(),
    );
    let log = init.wait_for("both services", 10, |l| {
        l.contains("Hello, world!") && l.contains("greet: not on PATH")
    });
    assert_eq!(lines_with(&log, "Hello, world!").len(), 1, "{log}");
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_propagated_env() {
    let mut init = start(
        json!({"exemple": {"script": "echo $IN_S6_INIT_TEST; exec sleep 100"}}),
        Run {
            env: vec![("IN_S6_INIT_TEST", "1".into())],
            ..Run::default()
        },
    );
    init.wait_for("a line '1'", 10, |l| l.lines().any(|x| x == "1"));
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_env() {
    let mut init = start(
        json!({"exemple": {"environment": {"TEST_ENV": "1", "DROPPED": null}, "script": "echo $TEST_ENV; echo dropped=${DROPPED-unset}; exec sleep 100"}}),
        Run {
            env: vec![("DROPPED", "inherited".into())],
            ..Run::default()
        },
    );
    init.wait_for("the variables", 10, |l| {
        l.lines().any(|x| x == "1") && l.contains("dropped=unset")
    });
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_s6_dont_terminate_on_error() {
    let mut init = start(
        json!({
            "fail": {"type": "oneshot-pre", "script": "exit 1"},
            "longRun": {"script": "exit 2"},
        }),
        Run {
            env: vec![("S6_DONT_TERMINATE_ON_ERROR", "1".into())],
            ..Run::default()
        },
    );
    init.wait_line(
        "[init] service 'longRun' failed with exit code 2; S6_DONT_TERMINATE_ON_ERROR is set",
        10,
    );
    std::thread::sleep(Duration::from_millis(1500));
    let log = init.log();
    assert!(!log.contains("[init stage 3]"), "{log}");
    assert!(
        log.contains("S6_DONT_TERMINATE_ON_ERROR is set: going on without 'fail'"),
        "{log}"
    );
    assert_eq!(
        lines_with(&log, "'longRun' failed").len(),
        1,
        "it stays down: {log}"
    );
    // Failures are remembered: the exit code tells of the first.
    assert_eq!(init.stop(15).0, 1);
}

#[test]
fn l2_s6_simple_service() {
    let mut init = start(
        json!({"simple": {"execStart": "/usr/bin/hello"}}),
        Run::default(),
    );
    init.wait_line("Hello, world!", 10);
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_pre_start() {
    let mut init = start(
        json!({"example": {"preStart": "echo MUSTNOTEXISTELSEWHERE_1", "script": "echo MUSTNOTEXISTELSEWHERE_2; exec sleep 100"}}),
        Run::default(),
    );
    let log = init.wait_line("MUSTNOTEXISTELSEWHERE_2", 10);
    assert_eq!(
        &lines_with(&log, "MUSTNOTEXISTELSEWHERE")[..2],
        ["MUSTNOTEXISTELSEWHERE_1", "MUSTNOTEXISTELSEWHERE_2"]
    );
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_working_directory() {
    let mut init = start(
        json!({"example": {"workingDirectory": "/tmp", "script": "echo PWD=$PWD; exec sleep 100"}}),
        Run::default(),
    );
    init.wait_line("PWD=/tmp", 10);
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_oneshot_pre() {
    let mut init = start(
        json!({"pre": {"type": "oneshot-pre", "script": "echo oneshot-pre"}}),
        Run::default(),
    );
    let log = init.wait_line("[init stage 2] s6-svscan is ready", 10);
    assert!(log.lines().any(|l| l == "oneshot-pre"), "{log}");
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_logger() {
    let mut init = start(
        json!({
            "logger": {"execLogger": "/usr/bin/sed -u \"s/^/prefix - /\"", "script": "echo log line; echo err line >&2; exec sleep 100", "restartOnFailure": true},
            "once": {"type": "oneshot-pre", "execLogger": "/usr/bin/sed -u \"s/^/pre - /\"", "script": "echo pre line"},
        }),
        Run::default(),
    );
    init.wait_for("logged lines", 10, |l| {
        l.contains("prefix - log line")
            && l.contains("prefix - err line")
            && l.contains("pre - pre line")
    });
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_preserve_path() {
    let mut init = start(
        json!({"preservePATH": {"script": "echo $PATH; exec sleep 100"}}),
        Run {
            env: vec![(
                "PATH",
                "/usr/bin:/bin:SHOULD_PRESERVE_INHERITED_PATH".into(),
            )],
            ..Run::default()
        },
    );
    init.wait_line("SHOULD_PRESERVE_INHERITED_PATH", 10);
    assert_eq!(init.stop(15).0, 0);
}

// The tests.

#[test]
fn l2_term_ignoring_service_is_killed_after_its_stop_timeout() {
    let mut init = start(
        json!({
            "stubborn": {"script": "trap '' TERM; echo trapped; while :; do sleep 0.05; done", "stopTimeout": 1000},
            "polite": {"script": "echo polite; exec sleep 100"},
        }),
        Run::default(),
    );
    init.wait_for("both up", 10, |l| {
        l.contains("trapped") && l.contains("polite")
    });
    let (code, took) = init.stop(15);
    let log = init.log();
    assert!(
        log.contains("[init] service 'stubborn' stopped (signal KILL)"),
        "{log}"
    );
    assert!(
        log.contains("[init] service 'polite' stopped (signal TERM)"),
        "{log}"
    );
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(2000),
        "{took:?}\n{log}"
    );
    assert_eq!(code, 0);
}

#[test]
fn l2_stage3_kills_what_ignores_term_after_the_grace_time() {
    // A daemonized leftover that ignores TERM: no supervisor knows it.
    let mut init = start(
        json!({"daemon": {"script": "(trap '' TERM; exec sleep 100) & echo spawned; exec sleep 100"}}),
        Run {
            grace_time: Some(800),
            ..Run::default()
        },
    );
    init.wait_line("spawned", 10);
    let (code, took) = init.stop(15);
    let log = init.log();
    assert!(
        log.contains(
            "[init stage 3] grace time of 800 ms is over: sending all processes the KILL signal"
        ),
        "{log}"
    );
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(1800),
        "{took:?}\n{log}"
    );
    assert_eq!(code, 0);
}

#[test]
fn l2_stop_returns_at_once_when_everything_exits() {
    let mut init = start(
        json!({"a": {"script": "exec sleep 100"}, "b": {"script": "exec sleep 100"}}),
        Run::default(),
    );
    init.wait_line("all 2 long-run service(s) are up", 10);
    let (code, took) = init.stop(15);
    let log = init.log();
    assert!(log.contains("[init stage 3] all processes exited"), "{log}");
    assert!(
        took < Duration::from_millis(700),
        "no sleep on the way out: {took:?}"
    );
    assert_eq!(code, 0);
}

#[test]
fn l2_orphaned_zombies_are_reaped() {
    // 200 orphans in stage 1 (nci-init is PID 1), 200 under s6-svscan.
    let orphans = "for i in $(seq 200); do (sleep 0.2 &); done; echo orphans";
    let mut init = start(
        json!({
            "pre": {"type": "oneshot-pre", "script": format!("{orphans}; sleep 0.5")},
            "svc": {"script": format!("{orphans}; exec sleep 100")},
        }),
        Run::default(),
    );
    init.wait_for("both series", 15, |l| {
        lines_with(l, "orphans").len() == 2 && l.contains("all 1 long-run")
    });
    std::thread::sleep(Duration::from_millis(800));
    let procs = init.processes();
    let zombies = procs.iter().filter(|(_, s)| *s == 'Z').count();
    assert_eq!(zombies, 0, "{procs:?}");
    assert!(procs.len() < 10, "the orphans are gone: {procs:?}");
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_exit_code_follows_the_policy() {
    // The first failure's code.
    let mut init = start(
        json!({"bad": {"script": "sleep 0.2; exit 3"}, "other": {"script": "exec sleep 100"}}),
        Run::default(),
    );
    assert_eq!(init.exit_code(10), 3, "{}", init.log());
    // A signal is 128 + its number.
    let mut init = start(
        json!({"killed": {"script": "sleep 0.2; kill -SEGV $$"}}),
        Run::default(),
    );
    assert_eq!(init.exit_code(10), 139, "{}", init.log());
    // s6.exitCodeFrom: its code, and its end stops the container even
    // when it succeeds.
    let mut init = start(
        json!({"main": {"script": "sleep 0.2; exit 0"}, "side": {"script": "exec sleep 100"}}),
        Run {
            exit_code_from: Some("main"),
            ..Run::default()
        },
    );
    assert_eq!(init.exit_code(10), 0, "{}", init.log());
    assert!(init
        .log()
        .contains("(s6.exitCodeFrom) exited with exit code 0: stopping the container"));
    let mut init = start(
        json!({"job": {"type": "oneshot-post", "script": "exit 7"}, "side": {"script": "exec sleep 100"}}),
        Run {
            exit_code_from: Some("job"),
            ..Run::default()
        },
    );
    assert_eq!(init.exit_code(10), 7, "{}", init.log());
    // Stopped on request: 0.
    let mut init = start(json!({"svc": {"script": "exec sleep 100"}}), Run::default());
    init.wait_line("all 1 long-run", 10);
    assert_eq!(init.stop(2).0, 0, "SIGINT stops too");
}

#[test]
fn l2_readiness_gates_oneshot_post_and_after() {
    let marks = tempfile::tempdir().unwrap();
    let mut init = start(
        json!({
            "db": {"script": "sleep 0.7; touch \"$MARK\"; echo db ready; echo >&3; exec sleep 100", "notificationFd": 3},
            "web": {"script": "test -e \"$MARK\" && echo web saw db ready; echo >&3; exec sleep 100", "after": ["db"], "notificationFd": 3},
            "check": {"type": "oneshot-post", "script": "test -e \"$MARK\" && echo post saw db ready"},
        }),
        Run {
            env: vec![("MARK", marks.path().join("db-ready").display().to_string())],
            exit_code_from: Some("check"),
            ..Run::default()
        },
    );
    let code = init.exit_code(10);
    let log = init.log();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("web saw db ready"), "{log}");
    assert!(log.contains("post saw db ready"), "{log}");
    assert!(
        log.contains("[init] service 'web' waits for 'db' to be ready"),
        "{log}"
    );
    assert!(
        position(&log, "web saw db ready")
            < position(&log, "starting oneshot-post service 'check'"),
        "{log}"
    );
}

#[test]
fn l2_crash_loop_backs_off_then_fails() {
    let mut init = start(
        json!({"crash": {"script": "echo crash; exit 4", "restartOnFailure": true, "restartDelay": 50, "restartLimit": 3}}),
        Run::default(),
    );
    let code = init.exit_code(20);
    let log = init.log();
    assert_eq!(code, 4, "{log}");
    assert_eq!(
        lines_with(&log, "crash")
            .iter()
            .filter(|l| **l == "crash")
            .count(),
        4,
        "{log}"
    );
    for ms in [50, 100, 200] {
        assert!(
            log.contains(&format!("[init] service 'crash' restarts in {ms} ms")),
            "{log}"
        );
    }
    assert!(log.contains("failed 4 times in a row (restartLimit = 3), last with exit code 4: stopping the container"), "{log}");
}

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nextra:x:2000:nobody\nother:x:2001:root\n";

#[test]
fn l2_service_as_nobody_runs_with_its_uid_and_groups() {
    if skip_unless_root("it switches users") {
        return;
    }
    let mut init = start(
        json!({
            "asnobody": {"user": "nobody", "script": "echo \"id: $(id)\"; echo home=$HOME user=$USER; exec sleep 100"},
            "withgroup": {"user": "nobody", "group": "other", "script": "echo \"gid: $(id -g) $(id -G)\"; exec sleep 100"},
        }),
        Run {
            etc: Some((PASSWD, GROUP)),
            ..Run::default()
        },
    );
    let log = init.wait_for("both ids", 10, |l| {
        l.lines().any(|x| x.starts_with("id: ")) && l.lines().any(|x| x.starts_with("gid: "))
    });
    assert!(
        log.contains("id: uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup),2000(extra)"),
        "{log}"
    );
    assert!(log.contains("home=/nonexistent user=nobody"), "{log}");
    assert!(log.contains("gid: 2001 2001 2000"), "{log}");
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_unknown_user_at_run_time_fails_the_service() {
    let mut init = start(
        json!({"ghost": {"user": "ghost", "script": "echo should not run"}}),
        Run {
            etc: Some((PASSWD, GROUP)),
            ..Run::default()
        },
    );
    let code = init.exit_code(10);
    let log = init.log();
    assert!(log.contains("[init] error: service 'ghost': cannot run its command: user 'ghost' is not in /etc/passwd"), "{log}");
    assert!(!log.contains("should not run"));
    assert_eq!(code, 111);
}

#[test]
fn l2_init_runs_as_a_non_root_user() {
    if skip_unless_root("it starts the init as nobody with setpriv") {
        return;
    }
    let mut init = start(
        json!({
            "svc": {"script": "echo uid=$(id -u); exec sleep 100"},
            "pre": {"type": "oneshot-pre", "script": "echo pre uid=$(id -u)"},
        }),
        Run {
            as_user: Some("65534:65534"),
            ..Run::default()
        },
    );
    let log = init.wait_for("the service", 10, |l| l.lines().any(|x| x == "uid=65534"));
    assert!(log.contains("pre uid=65534"), "{log}");
    assert_eq!(init.stop(15).0, 0, "{}", init.log());
}

#[test]
fn l2_state_dir_must_not_exist() {
    let d = tempfile::tempdir().unwrap();
    let mut init = start(json!({"svc": {"script": "exec sleep 100"}}), Run::default());
    init.wait_line("all 1 long-run", 10);
    let again = Command::new(init.path().join("init"))
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(111));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains(&format!(
            "nci-init: error: the state directory {} must not exist",
            d.path().display()
        )),
        "{again:?}"
    );
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_services_start_with_no_blocked_or_ignored_signals() {
    // The init blocks signals and the Rust runtime ignores SIGPIPE: none
    // of it may leak into services, or they would not die on TERM.
    let show = "grep -E '^Sig(Blk|Ign)' /proc/self/status | tr '\\t' ' '";
    let mut init = start(
        json!({
            "svc": {"script": format!("echo svc; {show}; exec sleep 100")},
            "pre": {"type": "oneshot-pre", "script": format!("echo pre; {show}")},
            "post": {"type": "oneshot-post", "script": format!("echo post; {show}")},
        }),
        Run::default(),
    );
    let log = init.wait_for("the three reports", 10, |l| {
        lines_with(l, "SigIgn:").len() == 3
    });
    assert_eq!(
        lines_with(&log, "SigBlk: 0000000000000000").len(),
        3,
        "{log}"
    );
    // Ignored signals are inherited across exec: the services may have
    // those the init was started with (cargo leaves glibc's signal 32
    // ignored in this test process; SIGPIPE, which Rust ignores, is reset
    // for children), and no others.
    let ours = fs::read_to_string("/proc/self/status").unwrap();
    let ignored = ours
        .lines()
        .find(|l| l.starts_with("SigIgn:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    let inherited = u64::from_str_radix(ignored, 16).unwrap() & !(1 << (13 - 1));
    assert_eq!(
        lines_with(&log, &format!("SigIgn: {inherited:016x}")).len(),
        3,
        "{log}"
    );
    assert_eq!(init.stop(15).0, 0);
}

#[test]
fn l2_waiting_and_backing_off_services_stop_at_once() {
    let mut init = start(
        json!({
            "never-ready": {"script": "exec sleep 100", "notificationFd": 3},
            "waiter": {"script": "echo should not start; exec sleep 100", "after": ["never-ready"]},
            "crasher": {"script": "exit 1", "restartOnFailure": true, "restartDelay": 5000, "restartDelayMax": 5000},
        }),
        Run::default(),
    );
    init.wait_for("the wait and the backoff", 10, |l| {
        l.contains("[init] service 'waiter' waits for 'never-ready' to be ready")
            && l.contains("[init] service 'crasher' restarts in 5000 ms")
    });
    let (code, took) = init.stop(15);
    let log = init.log();
    assert!(took < Duration::from_millis(1000), "{took:?}\n{log}");
    assert!(!log.contains("should not start"), "{log}");
    assert!(!log.contains("all 3 long-run"), "{log}");
    assert_eq!(code, 0, "{log}");
}

#[test]
fn l2_a_stop_at_the_end_of_stage_1_is_not_lost() {
    // TERM reaches PID 1 as the last oneshot ends: the init stops there
    // rather than handing a pending signal to s6-svscan, which would drop
    // it (PID 1 gets no signal it has no handler for).
    let mut init = start(
        json!({
            "pre": {"type": "oneshot-pre", "script": "kill -TERM 1; echo sent"},
            "svc": {"script": "echo should not start; exec sleep 100"},
        }),
        Run::default(),
    );
    let code = init.exit_code(10);
    let log = init.log();
    assert!(
        log.contains("[init stage 3] stopping: received SIGTERM"),
        "{log}"
    );
    assert!(!log.contains("should not start"), "{log}");
    assert_eq!(code, 0, "{log}");
}

#[test]
fn l2_log_lines_of_many_services_at_once_are_never_cut() {
    // Eight services write lines as fast as they can and exit, s6
    // restarts them, and the init reports each end and restart in the
    // same log: every line of the init must reach it whole.
    let mut services = serde_json::Map::new();
    for i in 0..8 {
        services.insert(
            format!("s{i}"),
            json!({"script": format!("for i in $(seq 200); do echo out s{i}; done; exit 0")}),
        );
    }
    let mut init = start(Value::Object(services), Run::default());
    init.wait_for("three rounds of restarts", 30, |l| {
        l.matches("exited with exit code 0: restarting it").count() >= 24
    });
    assert_eq!(init.stop(15).0, 0);
    let log = init.log();
    let whole = |l: &str| {
        (l.starts_with("out s") && l.len() == 6)
            || (l.starts_with("[init") && l.matches("[init").count() == 1 && !l.contains("out s"))
    };
    let cut: Vec<&str> = log.lines().filter(|l| !whole(l)).collect();
    assert!(cut.is_empty(), "cut or mixed lines: {cut:?}");
}

#[test]
fn l2_closed_stdout_and_stderr_do_not_make_the_init_panic() {
    // The reader of the container's log goes away mid-run (stdout and
    // stderr are one pipe, closed here); the stop that follows writes
    // its lines to a pipe nobody reads: EPIPE, never a panic, and the
    // exit code is the stop's.
    let mut init = start(
        json!({
            "a": {"script": "exec sleep 100"},
            "logged": {"execLogger": "/usr/bin/cat", "script": "echo logged; exec sleep 100"},
            "again": {"script": "exec sleep 0.2"},
        }),
        Run {
            piped: true,
            ..Run::default()
        },
    );
    let mut out = init.output.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("all 3 long-run service(s) are up") {
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        assert!(
            n > 0,
            "the log ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    drop(out);
    // `again` is restarted meanwhile, with nobody reading the log.
    let restarted = init.path().join("state/again/data/ended");
    let t0 = Instant::now();
    while !restarted.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _) = init.stop(15);
    assert_eq!(
        code,
        0,
        "log until the pipe closed:\n{}",
        String::from_utf8_lossy(&seen)
    );
}

#[test]
fn l2_a_flood_beside_a_service_with_a_logger_is_slowed_never_failed() {
    // s6-log makes its stdout non-blocking; that stdout is the
    // container's log, a pipe every service writes to. A service writing
    // 100 MB to it must be slowed when the pipe is full (the reader here
    // is the container engine), never get EAGAIN.
    let mut init = start(
        json!({
            "logged": {"execLogger": "/usr/bin/s6-log 1", "script": "echo logged; exec sleep 100"},
            "flood": {"script": "until grep -qx s6-log /proc/[0-9]*/comm 2>/dev/null; do sleep 0.05; done; sleep 0.2; if head -c 100000000 /dev/zero; then echo flood-ok; else echo flood-failed; fi; exec sleep 100"},
        }),
        Run {
            piped: true,
            ..Run::default()
        },
    );
    let mut out = init.output.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut text, mut zeros) = (Vec::new(), 0u64);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut out, &mut buf).unwrap_or(0);
            if n == 0 {
                return (String::from_utf8_lossy(&text).into_owned(), zeros);
            }
            for &b in &buf[..n] {
                if b == 0 {
                    zeros += 1;
                } else {
                    text.push(b);
                }
            }
            let t = String::from_utf8_lossy(&text);
            if t.contains("flood-ok") || t.contains("flood-failed") {
                return (t.into_owned(), zeros);
            }
        }
    });
    let (text, zeros) = reader.join().unwrap();
    assert!(text.contains("flood-ok"), "{text}");
    assert_eq!(zeros, 100_000_000, "{text}");
}

#[test]
fn l2_restart_delay_is_the_gap_users_get_with_s6s_throttle_inside_it() {
    // restartDelay 1000 ms doubled to restartDelayMax 2000: the gaps
    // between the starts of a service that fails at once are 1, 2, 2 s
    // (they were 2, 3, 3: s6-supervise's one second between starts was
    // added to the delay). Generous bounds: a loaded machine is slower,
    // never faster.
    let mut init = start(
        json!({"crash": {"script": "echo start $(date +%s%3N); exit 4", "restartOnFailure": true, "restartDelay": 1000, "restartDelayMax": 2000, "restartLimit": 3}}),
        Run::default(),
    );
    let code = init.exit_code(30);
    let log = init.log();
    assert_eq!(code, 4, "{log}");
    let starts: Vec<i64> = log
        .lines()
        .filter_map(|l| l.strip_prefix("start ")?.parse().ok())
        .collect();
    assert_eq!(starts.len(), 4, "{log}");
    let gaps: Vec<i64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, want) in gaps.iter().zip([1000, 2000, 2000]) {
        assert!(
            (want - 50..want + 600).contains(gap),
            "gaps {gaps:?} ms, wanted about 1000, 2000, 2000; log:\n{log}"
        );
    }
}
