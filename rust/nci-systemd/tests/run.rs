//! The runner under the real s6 (`s6-svscan` in a PID namespace, as in a
//! container): one test per row of the mapping table in docs/systemd.md.
//! Each service's `run` execs `nci-systemd run --readiness-fd 3`.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nci-systemd");

#[path = "../../test-support/root.rs"]
mod root;
use root::skip_unless_root;

struct S6 {
    dir: tempfile::TempDir,
    svscan: Child,
}

impl S6 {
    /// Starts s6-svscan in a new PID namespace with one service per unit;
    /// each service's stderr goes to `NAME.log`.
    fn start(units: &[(&str, String)]) -> S6 {
        S6::start_with(units, false, &[])
    }

    /// [`S6::start`]; with `shared`, the stdout and stderr of every
    /// service go to one file, `all.log`, as in a container's log;
    /// `wrapper` runs s6 (`prlimit ...`, `setpriv ...`).
    fn start_with(units: &[(&str, String)], shared: bool, wrapper: &[&str]) -> S6 {
        let dir = tempfile::tempdir().unwrap();
        let scan = dir.path().join("scan");
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        // The shim's systemd-notify beside the unit specs, as in the
        // units derivation.
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("units")).unwrap();
        for name in ["systemd-notify", "systemd-creds"] {
            std::os::unix::fs::symlink(BIN, dir.path().join("bin").join(name)).unwrap();
        }
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/false\nweb:x:4242:4242::/srv/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("group"),
            "root:x:0:\nnogroup:x:65534:\nweb:x:4242:\nextra:x:4343:\nmembers:x:4444:nobody\n",
        )
        .unwrap();
        for (name, json) in units {
            let svc = scan.join(name);
            std::fs::create_dir_all(&svc).unwrap();
            let unit = dir.path().join(format!("units/{name}.json"));
            std::fs::write(&unit, json).unwrap();
            let redirect = if shared {
                format!(">>{}/all.log 2>&1", dir.path().display())
            } else {
                format!("2>>{}/{name}.log", dir.path().display())
            };
            std::fs::write(
                svc.join("run"),
                format!(
                    "#!/bin/sh\nexec {BIN} run --readiness-fd 3 --etc {} {} {redirect}\n",
                    etc.display(),
                    unit.display(),
                ),
            )
            .unwrap();
            std::fs::set_permissions(svc.join("run"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            std::fs::write(svc.join("notification-fd"), "3\n").unwrap();
            // nci-systemd restarts by itself: s6 must not run it again
            // once it gave up (125: a permanent failure for s6-supervise).
            std::fs::write(svc.join("finish"), "#!/bin/sh\nexit 125\n").unwrap();
            std::fs::set_permissions(svc.join("finish"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let (prog, args) = match wrapper.split_first() {
            Some((p, a)) => (*p, [a, &["unshare"]].concat()),
            None => ("unshare", vec![]),
        };
        let svscan = Command::new(prog)
            .args(args)
            .args(["--pid", "--fork", "--mount-proc", "s6-svscan"])
            .arg(&scan)
            .spawn()
            .unwrap();
        S6 { dir, svscan }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn svc(&self, name: &str) -> PathBuf {
        self.dir.path().join("scan").join(name)
    }

    /// Waits until the service is up and ready (s6-svwait -U).
    fn wait_ready(&self, name: &str, ms: u64) -> bool {
        wait_for(ms, || self.svc(name).join("supervise").exists());
        Command::new("s6-svwait")
            .args(["-U", "-t", &ms.to_string()])
            .arg(self.svc(name))
            .status()
            .unwrap()
            .success()
    }

    fn down(&self, name: &str) {
        assert!(Command::new("s6-svc")
            .arg("-d")
            .arg(self.svc(name))
            .status()
            .unwrap()
            .success());
    }

    fn wait_down(&self, name: &str, ms: u64) -> bool {
        Command::new("s6-svwait")
            .args(["-D", "-t", &ms.to_string()])
            .arg(self.svc(name))
            .status()
            .unwrap()
            .success()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for S6 {
    fn drop(&mut self) {
        let _ = Command::new("s6-svscanctl")
            .arg("-t")
            .arg(self.dir.path().join("scan"))
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.svscan.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.svscan.kill();
        let _ = self.svscan.wait();
    }
}

/// Polls `f` until it holds or `ms` have passed. The bounds are generous
/// (10 s where a run takes milliseconds alone): a test that passes
/// returns at once, and one run beside a full suite on 2 busy cores must
/// not fail for waiting 3 s (one did).
fn wait_for(ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(ms) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// A unit spec; `sc` is the inside of serviceConfig.
fn unit(name: &str, ty: &str, sc: &str) -> String {
    format!(
        r#"{{"version":1,"name":"{name}","type":"{ty}","environment":{{"PATH":"/usr/bin:/bin"}},"serviceConfig":{{{sc}}}}}"#
    )
}

fn sh(script: &str) -> String {
    serde_json::to_string(&format!("/bin/sh -c '{script}'")).unwrap()
}

#[test]
fn l2_type_notify_is_ready_for_s6_only_at_ready_then_exec_start_post() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mark = t.path().join("post");
    let start = Instant::now();
    let s6 = S6::start(&[(
        "db",
        unit(
            "db",
            "notify",
            &format!(
                r#""ExecStart":{},"ExecStartPost":{}"#,
                sh("sleep 1; systemd-notify --ready; exec sleep 60"),
                sh(&format!("echo $MAINPID > {}", mark.display()))
            ),
        ),
    )]);
    assert!(s6.wait_ready("db", 10_000), "never ready: {}", s6.log("db"));
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "ready before READY=1"
    );
    let pid = read(&mark);
    assert!(
        pid.trim().parse::<u32>().is_ok(),
        "ExecStartPost ran before readiness, with MAINPID: {pid:?}"
    );
}

#[test]
fn l2_restart_on_failure_restarts_after_restart_sec_and_gives_up_at_the_start_limit() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let times = t.path().join("times");
    let s6 = S6::start(&[(
        "flaky",
        unit(
            "flaky",
            "simple",
            &format!(
                r#""ExecStart":{},"Restart":"on-failure","RestartSec":"700ms","StartLimitBurst":"3","StartLimitIntervalSec":"60""#,
                sh(&format!("date +%%s%%3N >> {}; exit 3", times.display()))
            ),
        ),
    )]);
    assert!(
        wait_for(6000, || s6
            .log("flaky")
            .contains("start request repeated too quickly")),
        "{}",
        s6.log("flaky")
    );
    let stamps: Vec<u64> = read(&times)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(stamps.len(), 3, "three starts: {stamps:?}");
    for w in stamps.windows(2) {
        assert!(w[1] - w[0] >= 650, "RestartSec not waited: {stamps:?}");
    }
    assert!(s6
        .log("flaky")
        .contains("failed (status 3); restarting in 700ms (Restart=on-failure)"));
}

#[test]
fn l2_restart_always_restarts_a_clean_exit_and_restart_no_stays_inactive() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (a, n) = (t.path().join("always"), t.path().join("no"));
    let s6 = S6::start(&[
        (
            "always",
            unit(
                "always",
                "simple",
                &format!(
                    r#""ExecStart":{},"Restart":"always","RestartSec":"200ms""#,
                    sh(&format!("echo x >> {}", a.display()))
                ),
            ),
        ),
        (
            "no",
            unit(
                "no",
                "simple",
                &format!(
                    r#""ExecStart":{}"#,
                    sh(&format!("echo x >> {}", n.display()))
                ),
            ),
        ),
    ]);
    assert!(
        wait_for(5000, || read(&a).lines().count() >= 3),
        "Restart=always did not restart"
    );
    assert!(s6.wait_ready("no", 3000));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(read(&n).lines().count(), 1, "Restart=no ran again");
    assert!(s6
        .log("no")
        .contains("not restarted, inactive until stopped"));
}

#[test]
fn l2_stop_runs_exec_stop_then_kill_signal_timeout_and_final_kill_then_exec_stop_post() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (stop, post) = (t.path().join("stop"), t.path().join("post"));
    let s6 = S6::start(&[(
        "stubborn",
        unit(
            "stubborn",
            "simple",
            &format!(
                r#""ExecStart":{},"ExecStop":{},"ExecStopPost":{},"KillSignal":"SIGUSR1","TimeoutStopSec":"1""#,
                sh("trap \"\" USR1 TERM; while :; do sleep 0.1; done"),
                sh(&format!("echo $MAINPID > {}", stop.display())),
                sh(&format!("echo done > {}", post.display()))
            ),
        ),
    )]);
    assert!(s6.wait_ready("stubborn", 3000));
    let t0 = Instant::now();
    s6.down("stubborn");
    assert!(s6.wait_down("stubborn", 8000), "{}", s6.log("stubborn"));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "stop took {took:?}"
    );
    assert!(
        read(&stop).trim().parse::<u32>().is_ok(),
        "ExecStop did not run with MAINPID"
    );
    assert_eq!(read(&post).trim(), "done");
    assert!(s6
        .log("stubborn")
        .contains("still running after TimeoutStopSec"));
}

#[test]
fn l2_user_group_supplementary_groups_umask_and_working_directory() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = t.path().join("id");
    let s6 = S6::start(&[(
        "who",
        unit(
            "who",
            "oneshot",
            &format!(
                r#""ExecStart":{},"User":"nobody","Group":"web","SupplementaryGroups":"extra","UMask":"0077","WorkingDirectory":"{}""#,
                sh(&format!(
                    "(id -u; id -g; id -G; umask; pwd; echo $USER $HOME) > {}",
                    out.display()
                )),
                t.path().display()
            ),
        ),
    )]);
    assert!(
        wait_for(5000, || read(&out).lines().count() >= 6),
        "{}",
        s6.log("who")
    );
    let lines: Vec<String> = read(&out).lines().map(str::to_string).collect();
    assert_eq!(lines[0], "65534");
    assert_eq!(lines[1], "4242");
    let groups: Vec<&str> = lines[2].split_whitespace().collect();
    for g in ["4242", "4343", "4444"] {
        assert!(groups.contains(&g), "groups {groups:?} lack {g}");
    }
    assert_eq!(lines[3], "0077");
    assert_eq!(lines[4], t.path().display().to_string());
    assert_eq!(lines[5], "nobody /var/empty");
    assert_eq!(std::fs::metadata(&out).unwrap().uid(), 65534);
}

#[test]
fn l2_directories_are_made_with_owner_mode_and_variables_and_runtime_goes_at_stop() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let env = t.path().join("env");
    let name = format!("nci-l2-{}", std::process::id());
    let s6 = S6::start(&[(
        "dirs",
        unit(
            "dirs",
            "simple",
            &format!(
                r#""ExecStart":{},"User":"web","RuntimeDirectory":"{name}","RuntimeDirectoryMode":"0750","StateDirectory":"{name} {name}/sub","CacheDirectory":"{name}""#,
                sh(&format!(
                    "echo $RUNTIME_DIRECTORY $STATE_DIRECTORY $CACHE_DIRECTORY > {}; exec sleep 60",
                    env.display()
                ))
            ),
        ),
    )]);
    assert!(s6.wait_ready("dirs", 3000));
    assert!(wait_for(2000, || !read(&env).is_empty()));
    assert_eq!(
        read(&env).trim(),
        format!("/run/{name} /var/lib/{name}:/var/lib/{name}/sub /var/cache/{name}")
    );
    let run = std::fs::metadata(format!("/run/{name}")).unwrap();
    assert_eq!(
        (run.uid(), run.gid(), run.permissions().mode() & 0o7777),
        (4242, 4242, 0o750)
    );
    let state = std::fs::metadata(format!("/var/lib/{name}/sub")).unwrap();
    assert_eq!(
        (state.uid(), state.permissions().mode() & 0o7777),
        (4242, 0o755)
    );
    s6.down("dirs");
    assert!(s6.wait_down("dirs", 5000));
    assert!(
        !Path::new(&format!("/run/{name}")).exists(),
        "RuntimeDirectory kept after stop"
    );
    assert!(
        Path::new(&format!("/var/lib/{name}")).exists(),
        "StateDirectory removed"
    );
    let _ = std::fs::remove_dir_all(format!("/var/lib/{name}"));
    let _ = std::fs::remove_dir_all(format!("/var/cache/{name}"));
}

#[test]
fn l2_exec_prefixes_ignore_failure_privileged_argv0_and_no_expansion() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = t.path().display();
    let s6 = S6::start(&[(
        "pre",
        unit(
            "pre",
            "oneshot",
            &format!(
                r#""User":"nobody","Environment":"X=expanded","ExecStartPre":["-/bin/false",{},{}],"ExecStart":[{},"@/bin/sh renamed -c \"echo $0 > {d}/argv0\"",":/bin/sh -c \"echo $X > {d}/literal\""]"#,
                serde_json::to_string(&format!("+/bin/sh -c 'id -u > {d}/privileged'")).unwrap(),
                sh(&format!("id -u > {d}/unprivileged")),
                sh(&format!("echo $X > {d}/expanded")),
            ),
        ),
    )]);
    assert!(
        wait_for(5000, || t.path().join("literal").exists()),
        "{}",
        s6.log("pre")
    );
    assert!(s6
        .log("pre")
        .contains("ExecStartPre '-/bin/false' failed (status 1), ignored"));
    assert_eq!(read(&t.path().join("privileged")).trim(), "0");
    assert_eq!(read(&t.path().join("unprivileged")).trim(), "65534");
    assert_eq!(read(&t.path().join("argv0")).trim(), "renamed");
    assert_eq!(read(&t.path().join("expanded")).trim(), "expanded");
    // `:` leaves $X to the shell, which has it from Environment=.
    assert_eq!(read(&t.path().join("literal")).trim(), "expanded");
}

#[test]
fn l2_exec_start_pre_failure_fails_the_service() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let s6 = S6::start(&[(
        "bad",
        unit(
            "bad",
            "simple",
            r#""ExecStartPre":"/bin/false","ExecStart":"/bin/sleep 60""#,
        ),
    )]);
    assert!(
        wait_for(5000, || s6.log("bad").contains("failed (status 1)")),
        "{}",
        s6.log("bad")
    );
    assert!(s6
        .log("bad")
        .contains("ExecStartPre '/bin/false' failed (status 1)"));
}

#[test]
fn l2_a_missing_environment_file_fails_the_service_naming_it() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let s6 = S6::start(&[(
        "envfail",
        unit(
            "envfail",
            "simple",
            r#""EnvironmentFile":"/nonexistent/required.env","ExecStart":"/bin/sleep 60""#,
        ),
    )]);
    assert!(
        wait_for(5000, || s6.log("envfail").contains("required.env")),
        "{}",
        s6.log("envfail")
    );
    assert!(
        s6.log("envfail").contains(
            "nci-systemd: envfail: EnvironmentFile /nonexistent/required.env: No such file"
        ),
        "{}",
        s6.log("envfail")
    );
}

#[test]
fn l2_environment_environment_file_and_unset_environment() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (file, out) = (t.path().join("env"), t.path().join("out"));
    std::fs::write(
        &file,
        "# settings\nFROM_FILE=\"file value\"\nOVERRIDE=file\n",
    )
    .unwrap();
    let s6 = S6::start(&[(
        "env",
        format!(
            r#"{{"version":1,"name":"env","type":"oneshot","environment":{{"PATH":"/usr/bin:/bin","FROM_NIX":"nix","OVERRIDE":"nix","GONE":"x"}},
            "serviceConfig":{{"ExecStart":{},"Environment":"\"LINE=a b\"","EnvironmentFile":["{}","-/nonexistent/env"],"UnsetEnvironment":"GONE"}}}}"#,
            sh(&format!(
                "echo $FROM_NIX/$LINE/$FROM_FILE/$OVERRIDE/$${{GONE:-unset}} > {}",
                out.display()
            )),
            file.display()
        ),
    )]);
    assert!(wait_for(5000, || out.exists()), "{}", s6.log("env"));
    assert_eq!(read(&out).trim(), "nix/a b/file value/file/unset");
}

#[test]
fn l2_type_forking_follows_the_pid_file_and_oneshot_conditions_skip() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pidfile = t.path().join("daemon.pid");
    let skipped = t.path().join("skipped");
    let s6 = S6::start(&[
        (
            "forker",
            unit(
                "forker",
                "forking",
                &format!(
                    r#""ExecStart":{},"PIDFile":"{}""#,
                    sh(&format!(
                        "sleep 60 & echo $! > {}; exit 0",
                        pidfile.display()
                    )),
                    pidfile.display()
                ),
            ),
        ),
        (
            "cond",
            format!(
                r#"{{"version":1,"name":"cond","type":"oneshot","serviceConfig":{{"ExecStart":{}}},"unitConfig":{{"ConditionPathExists":["/nonexistent/flag"]}}}}"#,
                sh(&format!("touch {}", skipped.display()))
            ),
        ),
    ]);
    assert!(s6.wait_ready("forker", 5000), "{}", s6.log("forker"));
    assert!(read(&pidfile).trim().parse::<i32>().is_ok());
    s6.down("forker");
    assert!(s6.wait_down("forker", 5000), "{}", s6.log("forker"));
    assert!(
        wait_for(10_000, || s6
            .log("cond")
            .contains("does not hold: not started")),
        "{}",
        s6.log("cond")
    );
    assert!(!skipped.exists());
}

#[test]
fn l2_ambient_capabilities_reach_a_non_root_service() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = t.path().join("caps");
    let s6 = S6::start(&[(
        "caps",
        unit(
            "caps",
            "oneshot",
            &format!(
                r#""ExecStart":{},"User":"nobody","AmbientCapabilities":"CAP_NET_BIND_SERVICE","CapabilityBoundingSet":"CAP_NET_BIND_SERVICE","NoNewPrivileges":"yes""#,
                sh(&format!(
                    "grep -E \"^(CapAmb|CapBnd|NoNewPrivs)\" /proc/self/status > {}",
                    out.display()
                ))
            ),
        ),
    )]);
    assert!(
        wait_for(5000, || read(&out).lines().count() >= 3),
        "{}",
        s6.log("caps")
    );
    let text = read(&out);
    // CAP_NET_BIND_SERVICE is bit 10.
    assert!(text.contains("CapAmb:\t0000000000000400"), "{text}");
    assert!(text.contains("CapBnd:\t0000000000000400"), "{text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
}

#[test]
fn l2_exec_reload_runs_on_sighup_and_exec_condition_skips() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let reload = t.path().join("reload");
    let ran = t.path().join("ran");
    let s6 = S6::start(&[
        (
            "web",
            unit(
                "web",
                "simple",
                &format!(
                    r#""ExecStart":"/bin/sleep 60","ExecReload":{}"#,
                    sh(&format!("echo reload $MAINPID >> {}", reload.display()))
                ),
            ),
        ),
        (
            "skipped",
            unit(
                "skipped",
                "oneshot",
                &format!(
                    r#""ExecCondition":"/bin/sh -c 'exit 1'","ExecStart":{}"#,
                    sh(&format!("touch {}", ran.display()))
                ),
            ),
        ),
    ]);
    assert!(s6.wait_ready("web", 3000));
    assert!(Command::new("s6-svc")
        .arg("-h")
        .arg(s6.svc("web"))
        .status()
        .unwrap()
        .success());
    assert!(
        wait_for(10_000, || read(&reload).starts_with("reload ")),
        "{}",
        s6.log("web")
    );
    assert!(read(&reload).trim()["reload ".len()..]
        .parse::<u32>()
        .is_ok());
    assert!(
        wait_for(10_000, || s6.log("skipped").contains(
            "ExecCondition '/bin/sh -c 'exit 1'' exited 1: not started"
        )),
        "{}",
        s6.log("skipped")
    );
    assert!(!ran.exists());
}

#[test]
fn l2_standard_output_to_a_file_and_resource_limits() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let s6 = S6::start(&[(
        "limits",
        unit(
            "limits",
            "oneshot",
            &format!(
                r#""ExecStart":"/bin/sh -c 'ulimit -n; ulimit -c'","StandardOutput":"file:{}","LimitNOFILE":"512:1024","LimitCORE":"0""#,
                out.display()
            ),
        ),
    )]);
    assert!(
        wait_for(5000, || read(&out).lines().count() >= 2),
        "{}",
        s6.log("limits")
    );
    assert_eq!(read(&out), "512\n0\n");
}

#[test]
fn l2_type_exec_fails_when_the_command_cannot_be_executed() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let s6 = S6::start(&[
        (
            "good",
            unit("good", "exec", r#""ExecStart":"/bin/sleep 60""#),
        ),
        (
            "bad",
            unit("bad", "exec", r#""ExecStart":"/nonexistent/daemon""#),
        ),
    ]);
    // Generous: other tests load the machine meanwhile.
    assert!(s6.wait_ready("good", 10000), "{}", s6.log("good"));
    assert!(
        wait_for(10000, || s6
            .log("bad")
            .contains("exited before it was started (status 203)")),
        "{}",
        s6.log("bad")
    );
    assert!(
        s6.log("bad")
            .contains("/nonexistent/daemon: command not found")
            || s6.log("bad").contains("executing /nonexistent/daemon")
    );
}

#[test]
fn l2_log_lines_of_many_services_at_once_are_never_cut() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    // Eight services that exit at once and are restarted at once, again
    // and again, all writing to one log: each runner's line about the
    // restart must reach the log whole (one write), whatever the others
    // write meanwhile.
    let names: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let units: Vec<(&str, String)> = names
        .iter()
        .map(|n| {
            (
                n.as_str(),
                unit(
                    n,
                    "simple",
                    &format!(
                        r#""ExecStart":{},"Restart":"always","RestartSec":"0","StartLimitBurst":"0""#,
                        sh(&format!("echo out {n}"))
                    ),
                ),
            )
        })
        .collect();
    let s6 = S6::start_with(&units, true, &[]);
    let all = || read(&s6.path("all.log"));
    let restarts = |log: &str| log.matches("restarting in").count();
    assert!(wait_for(20000, || restarts(&all()) >= 1000), "{}", all());
    for name in &names {
        s6.down(name);
    }
    let log = all();
    let whole = |l: &str| {
        names.iter().any(|n| {
            l == format!("out {n}")
                || l == format!(
                    "nci-systemd: {n}: exited (status 0); restarting in 0ns (Restart=always)"
                )
        })
    };
    let cut: Vec<&str> = log.lines().filter(|l| !whole(l)).collect();
    assert!(
        cut.is_empty(),
        "{} of {} lines are cut or mixed, e.g. {:?}",
        cut.len(),
        log.lines().count(),
        &cut[..cut.len().min(5)]
    );
}

#[test]
fn l2_limits_above_the_containers_hard_limit_are_lowered_to_it() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    // As in a container: a hard limit of 256 open files and no
    // CAP_SYS_RESOURCE to raise it. redis' LimitNOFILE=10032 (and the
    // other forms) must start, lowered, with one line each.
    let t = tempfile::tempdir().unwrap();
    let cases = [
        ("plain", "10032", "256\n256\n"),
        ("pair", "100:10032", "100\n256\n"),
        ("inf", "infinity", "256\n256\n"),
        ("under", "128", "128\n128\n"),
    ];
    let units: Vec<(&str, String)> = cases
        .iter()
        .map(|(name, value, _)| {
            (
                *name,
                unit(
                    name,
                    "oneshot",
                    &format!(
                        r#""ExecStart":"/bin/sh -c 'ulimit -Sn; ulimit -Hn'","StandardOutput":"file:{}","LimitNOFILE":"{value}""#,
                        t.path().join(name).display()
                    ),
                ),
            )
        })
        .collect();
    let s6 = S6::start_with(
        &units,
        false,
        &[
            "prlimit",
            "--nofile=256:256",
            "setpriv",
            "--inh-caps=-sys_resource",
            "--bounding-set=-sys_resource",
            "--",
        ],
    );
    for (name, _, want) in cases {
        let out = t.path().join(name);
        assert!(
            wait_for(5000, || read(&out).lines().count() >= 2),
            "{name}: {}",
            s6.log(name)
        );
        assert_eq!(read(&out), want, "{name}: {}", s6.log(name));
    }
    assert_eq!(
        s6.log("plain"),
        "nci-systemd: plain: LimitNOFILE=10032 is above the container's hard limit (256): lowered to 256\n"
    );
    assert_eq!(
        s6.log("pair"),
        "nci-systemd: pair: LimitNOFILE=100:10032 is above the container's hard limit (256): lowered to 100:256\n"
    );
    assert_eq!(
        s6.log("inf"),
        "nci-systemd: inf: LimitNOFILE=infinity is above the container's hard limit (256): lowered to 256\n"
    );
    assert_eq!(s6.log("under"), "");
}

#[test]
fn l2_credentials_are_the_users_in_credentials_directory_and_go_at_stop() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(t.path().join("secret"), "s3cret").unwrap();
    std::fs::create_dir_all(t.path().join("certs/b")).unwrap();
    std::fs::write(t.path().join("certs/a.pem"), "A").unwrap();
    std::fs::write(t.path().join("certs/b/c.pem"), "C").unwrap();
    let out = t.path().join("out");
    // A PATH without the host's own systemd-creds (in /usr/bin): the one
    // found must be the shim's, appended to PATH as in an image.
    let tools = t.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    for prog in ["sh", "stat", "sleep"] {
        std::os::unix::fs::symlink(format!("/bin/{prog}"), tools.join(prog)).unwrap();
    }
    // Unique names: the directory is the real /run/credentials/NAME.service.
    let name = format!("creds-{}", std::process::id());
    let bad = format!("nocreds-{}", std::process::id());
    let script = format!(
        "{{ echo dir=$CREDENTIALS_DIRECTORY; systemd-creds cat tok; echo; systemd-creds cat greeting gone; echo; systemd-creds list; command -v systemd-creds; stat -c \"%%u %%a\" $CREDENTIALS_DIRECTORY $CREDENTIALS_DIRECTORY/tok; }} > {} 2>&1; exec sleep 60",
        out.display()
    );
    let s6 = S6::start(&[
        (
            &name,
            unit(
                &name,
                "simple",
                &format!(
                    r#""ExecStart":{},"User":"web","Environment":"PATH={d}/tools","LoadCredential":["tok:{d}/secret","certs:{d}/certs","gone:/nonexistent/file"],"SetCredential":["gone:fallback","greeting:hello\\sworld\\x21"]"#,
                    sh(&script),
                    d = t.path().display()
                ),
            ),
        ),
        (
            &bad,
            unit(
                &bad,
                "simple",
                r#""ExecStart":"/bin/sleep 60","LoadCredential":"key:/nonexistent/key""#,
            ),
        ),
    ]);
    assert!(s6.wait_ready(&name, 3000), "{}", s6.log(&name));
    assert!(
        wait_for(10_000, || read(&out).lines().count() >= 11),
        "{}",
        read(&out)
    );
    let dir = format!("/run/credentials/{name}.service");
    assert_eq!(
        read(&out),
        format!("dir={dir}\ns3cret\nhello world!fallback\ncerts_a.pem\ncerts_b_c.pem\ngone\ngreeting\ntok\n{}\n4242 500\n4242 400\n", s6.path("bin/systemd-creds").display())
    );
    s6.down(&name);
    assert!(s6.wait_down(&name, 5000));
    assert!(
        !Path::new(&dir).exists(),
        "the credentials outlived the stop"
    );
    // A credential that cannot be read, without SetCredential=: the start
    // fails (systemd's status 243), naming the setting.
    assert!(
        wait_for(10_000, || s6.log(&bad).contains("failed (status 243)")),
        "{}",
        s6.log(&bad)
    );
    assert!(
        s6.log(&bad).contains(&format!(
            "nci-systemd: {bad}: LoadCredential=key:/nonexistent/key: /nonexistent/key: No such file or directory"
        )),
        "{}",
        s6.log(&bad)
    );
    // Outside a service with credentials.
    let o = Command::new(BIN)
        .args(["creds", "cat", "tok"])
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "nci-systemd: systemd-creds: $CREDENTIALS_DIRECTORY is not set: this service has no credentials (LoadCredential=, SetCredential=)\n"
    );
}

#[test]
fn l2_systemctl_is_active_and_is_failed_read_each_runners_state_in_its_service_directory() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let s6 = S6::start(&[
        (
            "up",
            unit(
                "up",
                "simple",
                &format!(r#""ExecStart":{}"#, sh("exec sleep 100")),
            ),
        ),
        (
            "done",
            unit("done", "simple", &format!(r#""ExecStart":{}"#, sh("true"))),
        ),
        (
            "bad",
            unit("bad", "simple", &format!(r#""ExecStart":{}"#, sh("exit 3"))),
        ),
    ]);
    let scan = s6.dir.path().join("scan");
    let systemctl = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("systemctl")
            .arg("--scan-dir")
            .arg(&scan)
            .args(args)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code(),
        )
    };
    assert!(s6.wait_ready("up", 3000));
    assert!(wait_for(10_000, || systemctl(&[
        "is-failed",
        "bad.service"
    ])
    .1 == Some(0)));
    assert!(wait_for(10_000, || systemctl(&["is-active", "done"]).0
        == "inactive\n"));
    assert_eq!(
        systemctl(&["is-active", "up.service", "done.service", "bad", "none"]),
        ("active\ninactive\nfailed\ninactive\n".into(), Some(0))
    );
    assert_eq!(
        systemctl(&["is-active", "--quiet", "bad"]),
        (String::new(), Some(3))
    );
    assert_eq!(
        systemctl(&["is-failed", "up"]),
        ("active\n".into(), Some(1))
    );
}

/// A script file readable by every user, for a unit's ExecStart.
fn script(dir: &Path, name: &str, body: &str) -> String {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

/// What the service's processes inherit: nice level, OOM score, IO
/// class, CPU policy, CPU list (util-linux' and coreutils' own tools).
const SHOW_SCHEDULING: &str = "nice; cat /proc/self/oom_score_adj; ionice; \
     chrt -p 0 | sed -n 's/.*policy: //p'; grep Cpus_allowed_list /proc/self/status | cut -f2";

#[test]
fn l2_scheduling_settings_reach_the_service_before_its_user_switch() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let show = script(t.path(), "show", SHOW_SCHEDULING);
    let out = t.path().join("out");
    // A negative nice level needs a privilege the service's user does not
    // have: applied before the switch to `web`. (A lower OOM score needs
    // CAP_SYS_RESOURCE, which this test's sandbox may lack: the next
    // test covers that; raising it is always allowed.)
    let s6 = S6::start(&[(
        "sched",
        unit(
            "sched",
            "oneshot",
            &format!(
                r#""ExecStart":"{show}","User":"web","StandardOutput":"file:{}","Nice":"-3","OOMScoreAdjust":"300","IOSchedulingClass":"best-effort","IOSchedulingPriority":"6","CPUSchedulingPolicy":"batch","CPUAffinity":["1"]"#,
                out.display()
            ),
        ),
    )]);
    assert!(
        wait_for(10000, || read(&out).lines().count() >= 5),
        "{}",
        s6.log("sched")
    );
    assert_eq!(
        read(&out),
        "-3\n300\nbest-effort: prio 6\nSCHED_BATCH\n1\n",
        "{}",
        s6.log("sched")
    );
    assert_eq!(s6.log("sched"), "");
}

#[test]
fn l2_scheduling_a_container_forbids_is_lowered_skipped_or_fails_the_start_as_systemd() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    // As in podman's default capability set: no CAP_SYS_NICE, no
    // CAP_SYS_RESOURCE, RLIMIT_NICE 0. (The realtime IO class is also
    // allowed by CAP_SYS_ADMIN, which unshare needs here: its refusal is
    // tested in podman, tests/cases/systemd.sh.)
    let t = tempfile::tempdir().unwrap();
    let show = script(t.path(), "show", SHOW_SCHEDULING);
    let cases = [
        ("nice", r#""Nice":"-5""#),
        ("oom", r#""OOMScoreAdjust":"-500""#),
        ("fifo", r#""CPUSchedulingPolicy":"fifo""#),
        ("cpus", r#""CPUAffinity":["1000"]"#),
    ];
    let units: Vec<(&str, String)> = cases
        .iter()
        .map(|(name, setting)| {
            let sc = format!(
                r#""ExecStart":"{show}","StandardOutput":"file:{}",{setting}"#,
                t.path().join(name).display()
            );
            (*name, unit(name, "oneshot", &sc))
        })
        .collect();
    let s6 = S6::start_with(
        &units,
        false,
        &[
            "prlimit",
            "--nice=0:0",
            "setpriv",
            "--inh-caps=-sys_nice,-sys_resource",
            "--bounding-set=-sys_nice,-sys_resource",
            "--",
        ],
    );
    // Nice= and OOMScoreAdjust=: the service starts, one line each. The
    // closest allowed level is the one it inherits: this test's (0
    // unless it runs under `nice`).
    let cur = String::from_utf8(Command::new("nice").output().unwrap().stdout).unwrap();
    let cur = cur.trim();
    for name in ["nice", "oom"] {
        let out = t.path().join(name);
        assert!(
            wait_for(10000, || read(&out).lines().count() >= 5),
            "{name}: {}",
            s6.log(name)
        );
        assert!(
            read(&out).starts_with(&format!("{cur}\n0\n")),
            "{name}: {}",
            read(&out)
        );
    }
    assert_eq!(
        s6.log("nice"),
        format!("nci-systemd: nice: Nice=-5 is not allowed in the container (no CAP_SYS_NICE; RLIMIT_NICE 0): set to {cur}, the closest allowed\n")
    );
    assert_eq!(
        s6.log("oom"),
        "nci-systemd: oom: OOMScoreAdjust=-500 is not allowed in the container (lowering it needs CAP_SYS_RESOURCE): not applied\n"
    );
    // The others fail the start with systemd's status, naming the setting.
    for (name, status, line) in [
        ("fifo", 214, "nci-systemd: fifo: CPUSchedulingPolicy=fifo CPUSchedulingPriority=1: setting the CPU scheduling: Operation not permitted (the container lacks CAP_SYS_NICE: podman run --cap-add SYS_NICE)"),
        ("cpus", 215, "nci-systemd: cpus: CPUAffinity=1000: setting the CPU affinity: Invalid argument (the container's CPUs are "),
    ] {
        let failed = format!("failed (status {status})");
        assert!(
            wait_for(10000, || s6.log(name).contains(&failed)),
            "{name}: {}",
            s6.log(name)
        );
        assert!(s6.log(name).starts_with(line), "{name}: {}", s6.log(name));
        assert_eq!(read(&t.path().join(name)), "", "{name} ran");
    }
}

#[test]
fn l2_systemctl_stop_start_and_status_go_through_s6_and_wait_as_systemds_jobs() {
    if skip_unless_root("s6-svscan in a PID namespace (unshare --pid) with services of other users")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pids = t.path().join("pids");
    let s6 = S6::start(&[
        (
            "web",
            unit(
                "web",
                "simple",
                &format!(
                    r#""ExecStart":{},"ExecStopPost":"/bin/sh -c 'echo stopped >> {}'""#,
                    sh(&format!("echo $$$$ >> {}; exec sleep 100", pids.display())),
                    pids.display()
                ),
            ),
        ),
        (
            "bad",
            unit("bad", "simple", &format!(r#""ExecStart":{}"#, sh("exit 3"))),
        ),
    ]);
    let scan = s6.dir.path().join("scan");
    let systemctl = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("systemctl")
            .arg("--scan-dir")
            .arg(&scan)
            .args(args)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    };
    assert!(s6.wait_ready("web", 10_000), "{}", s6.log("web"));
    let (out, _, code) = systemctl(&["status", "web.service"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("● web.service\n"), "{out}");
    assert!(out.contains("\n     Active: active (running)\n"), "{out}");
    assert!(out.contains("\n         s6: up (pid "), "{out}");
    // stop: returns once the stop sequence is over (ExecStopPost ran),
    // s6 keeps it down.
    assert_eq!(systemctl(&["stop", "web"]).2, Some(0));
    assert_eq!(read(&pids).lines().last(), Some("stopped"));
    assert_eq!(systemctl(&["is-active", "web"]).0, "inactive\n");
    let (out, _, code) = systemctl(&["status", "web"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("\n     Active: inactive (dead)\n"), "{out}");
    assert!(out.contains("\n         s6: down ("), "{out}");
    // start: returns once the new runner has the service running.
    assert_eq!(systemctl(&["start", "web.service"]).2, Some(0));
    assert_eq!(systemctl(&["is-active", "web"]).0, "active\n");
    assert_eq!(read(&pids).lines().count(), 3, "{}", read(&pids));
    // Starting a running service does nothing.
    assert_eq!(systemctl(&["start", "web"]).2, Some(0));
    assert_eq!(read(&pids).lines().count(), 3);
    // A start that fails: systemctl's 1 and where to look.
    assert!(wait_for(10_000, || systemctl(&["is-failed", "bad"]).2 == Some(0)));
    let (_, err, code) = systemctl(&["start", "bad"]);
    assert_eq!(
        (err.as_str(), code),
        (
            "Job for bad.service failed: see \"systemctl status bad.service\" and the container's log.\n",
            Some(1)
        )
    );
    assert_eq!(
        systemctl(&["stop", "nothere"]),
        (
            String::new(),
            "Failed to stop nothere.service: Unit nothere.service not found.\n".into(),
            Some(5)
        )
    );
}
