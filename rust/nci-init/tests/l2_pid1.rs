//! L2: `nci-init pid1`, the PID 1 of plain images, as PID 1 of a PID
//! namespace (`unshare --pid --fork --mount-proc`) running a program that
//! is not written to be PID 1: TERM reaches it at once, orphans are
//! reaped, the exit code is the program's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NCI_INIT: &str = env!("CARGO_BIN_EXE_nci-init");

/// `nci-init pid1 -- sh -c SCRIPT` as PID 1 of a new PID namespace, with
/// `$D` a scratch directory.
fn start(script: &str, dir: &std::path::Path) -> Child {
    let mut cmd = Command::new("unshare");
    if !nix::unistd::Uid::effective().is_root() {
        cmd.arg("--map-root-user");
    }
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .args([NCI_INIT, "pid1", "--", "/bin/sh", "-c", script])
        .env("D", dir)
        .stdin(Stdio::null())
        .spawn()
        .expect("unshare (util-linux) is needed")
}

/// The pid (outside) of the namespace's PID 1: unshare's child.
fn pid1(unshare: &Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            unshare.id(),
            unshare.id()
        ))
        .unwrap_or_default();
        if let Some(p) = children.split_whitespace().next() {
            return p.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no PID 1 in the namespace");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_file(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for the namespace to end; its exit code and when.
fn wait(mut child: Child, secs: u64) -> (i32, Instant) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().expect("exited, not killed"), Instant::now());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn l2_pid1_term_reaches_a_program_that_ignores_it_as_pid_1_and_its_code_is_ours() {
    let d = tempfile::tempdir().unwrap();
    // `sleep` has no TERM handler: as PID 1 the kernel would drop TERM.
    let child = start(
        // Builtins only: a forked grep could see the shell's mask of the
        // moment of the fork.
        "while read -r l; do case $l in SigBlk*) echo \"$l\" >\"$D/mask\";; esac; done </proc/$$/status; \
         touch \"$D/up\"; exec sleep 600",
        d.path(),
    );
    let init = pid1(&child);
    wait_file(&d.path().join("up"));
    // The program runs as PID 2, under us.
    std::thread::sleep(Duration::from_millis(50));
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (code, ended) = wait(child, 10);
    assert_eq!(code, 143, "128 + TERM, the program's end");
    // The signals the init blocks are not blocked in the program.
    assert_eq!(
        fs::read_to_string(d.path().join("mask")).unwrap(),
        "SigBlk:\t0000000000000000\n"
    );
    assert!(
        ended - sent < Duration::from_millis(1000),
        "stopped in {:?}",
        ended - sent
    );
}

#[test]
fn l2_pid1_orphans_are_reaped_and_the_exit_code_is_the_program_s() {
    let d = tempfile::tempdir().unwrap();
    // Twenty orphans end while the program runs; then count zombies.
    let script = "for i in $(seq 20); do (sleep 0.05 &); done; sleep 0.5; \
                  grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l >\"$D/zombies\"; \
                  exit 7";
    let (code, _) = wait(start(script, d.path()), 20);
    assert_eq!(code, 7);
    let zombies = fs::read_to_string(d.path().join("zombies")).unwrap();
    assert_eq!(zombies.trim(), "0", "zombies left");
}

#[test]
fn l2_pid1_a_program_that_cannot_run_is_named() {
    let out = Command::new(NCI_INIT)
        .args(["pid1", "--", "/nonexistent/httpd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "nci-init: error: cannot run '/nonexistent/httpd': No such file or directory (os error 2)\n"
    );
}
