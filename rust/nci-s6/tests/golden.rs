//! L1: what `nci-s6 generate` writes from the shared fixture
//! tests/golden/s6/spec.json (which the L3 test checks the s6 module
//! evaluates to), byte for byte. NCI_UPDATE_GOLDEN=1 rewrites
//! generated.txt (see tests/golden/s6/refresh); review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const NCI_S6: &str = env!("CARGO_BIN_EXE_nci-s6");

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/s6")
}

/// Every file under `root`, sorted: path, mode, then content (symlinks:
/// their target), with the temporary directory written as `$OUT`.
fn render(root: &Path, tmp: &Path) -> String {
    let mut paths = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(p) = todo.pop() {
        paths.push(p.clone());
        if p.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
    }
    paths.sort();
    let mut out = String::new();
    for p in paths {
        let rel = p.strip_prefix(tmp).unwrap().display().to_string();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        if p.is_dir() {
            out += &format!("== {rel}/ {mode:o}\n");
        } else {
            let text = fs::read_to_string(&p).unwrap();
            out += &format!("== {rel} {mode:o}\n{text}");
            if !text.ends_with('\n') {
                out += "\n(no newline at end)\n";
            }
        }
    }
    out.replace(&tmp.display().to_string(), "$OUT")
}

#[test]
fn generated_files_match_the_golden_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let run = Command::new(NCI_S6)
        .args(["generate", "--spec"])
        .arg(golden_dir().join("spec.json"))
        .arg("--out")
        .arg(t.join("init"))
        .arg("--services")
        .arg(t.join("services"))
        .arg("--tree")
        .arg(t.join("tree"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got =
        render(&t.join("init"), t) + &render(&t.join("services"), t) + &render(&t.join("tree"), t);
    let golden = golden_dir().join("generated.txt");
    if std::env::var_os("NCI_UPDATE_GOLDEN").is_some() {
        fs::write(&golden, &got).unwrap();
    }
    let want = fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        got == want,
        "generated files differ from {} (NCI_UPDATE_GOLDEN=1 to refresh):\n{got}",
        golden.display()
    );
}

#[test]
fn the_fixture_orders_the_services() {
    let run = Command::new(NCI_S6)
        .args(["check", "--spec"])
        .arg(golden_dir().join("spec.json"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "oneshot-pre: prepare migrate\nlong-run: db web\noneshot-post: smoke\n"
    );
}

#[test]
fn a_bad_spec_fails_with_every_problem_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut spec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(golden_dir().join("spec.json")).unwrap()).unwrap();
    spec["services"]["web"]["script"] = "echo both".into();
    spec["services"]["web"]["after"] = serde_json::json!(["db", "off", "ghost"]);
    spec["services"]["db"]["user"] = "alice".into();
    spec["services"]["migrate"]["after"] = serde_json::json!(["prepare", "smoke"]);
    spec["services"]["prepare"]["after"] = serde_json::json!(["migrate"]);
    spec["services"]["smoke"]["script"] = "".into();
    fs::write(t.join("spec.json"), spec.to_string()).unwrap();
    let run = Command::new(NCI_S6)
        .args(["generate", "--spec"])
        .arg(t.join("spec.json"))
        .arg("--out")
        .arg(t.join("init"))
        .arg("--services")
        .arg(t.join("services"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(111));
    let err = String::from_utf8_lossy(&run.stderr);
    for needle in [
        "nci-s6: error: 7 problems:",
        "- s6.services.db.user: user 'alice' is not defined (add users.users.alice)",
        "- s6.services.migrate.after: 'migrate' is a oneshot-pre and cannot run after 'smoke', a oneshot-post",
        "- s6.services.smoke: neither execStart nor script is set",
        "- s6.services.web: both execStart and script are set; set only one of them",
        "- s6.services.web.after: 'off' is disabled (s6.services.off.enable = false)",
        "- s6.services.web.after: 'ghost' is not a service (s6.services has db, migrate, off, prepare, smoke, web)",
        "- s6.services: the after dependencies form a cycle: migrate -> prepare -> migrate",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(
        !t.join("init").exists() && !t.join("services").exists(),
        "no partial output"
    );
}
