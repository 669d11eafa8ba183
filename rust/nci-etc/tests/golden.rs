//! Golden files: what `nci-etc` writes for the fixture specs under
//! tests/golden/ must match them byte for byte. The users spec is the one
//! `modules/users.nix` evaluates tests/golden/users/module.nix to (a shell
//! test checks that side). Refresh everything with tests/golden/refresh
//! (which sets NCI_UPDATE_GOLDEN=1 here).

// Test helpers: a fixture that cannot be read is a failed test.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

fn nci_etc(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_nci-etc"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nci-etc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compares with (or, when refreshing, writes) a golden file.
fn check(name: &str, actual: &str) {
    let path = golden().join(name);
    if std::env::var_os("NCI_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{name} differs from the golden file (run tests/golden/refresh if the change is intended):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// One line per path under `root/`: kind, mode on disk and, for a link,
/// its target; for a file, its content when `contents` is set.
fn listing(root: &Path, replace: &str, contents: bool) -> String {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) {
        let mut items: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        items.sort_by_key(|e| e.file_name());
        for item in items {
            let name = format!("{rel}/{}", item.file_name().to_string_lossy());
            out.push((name.clone(), item.path()));
            if item.file_type().unwrap().is_dir() {
                walk(&item.path(), &name, out);
            }
        }
    }
    let mut paths = Vec::new();
    walk(root, "", &mut paths);
    let mut s = String::new();
    for (name, path) in paths {
        let meta = path.symlink_metadata().unwrap();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap().display().to_string();
            let _ = writeln!(s, "l {name} -> {}", target.replace(replace, "@SRC@"));
        } else if meta.is_dir() {
            let _ = writeln!(s, "d {name}");
        } else {
            let mode = meta.permissions().mode() & 0o777;
            let _ = write!(s, "f {name} {mode:o}");
            if contents {
                let _ = write!(s, " {:?}", std::fs::read_to_string(&path).unwrap());
            }
            s.push('\n');
        }
    }
    s
}

fn write_users(dir: &Path) -> PathBuf {
    let out = dir.join("users");
    let spec = golden().join("users/spec.json");
    nci_etc(&[
        "users",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

#[test]
fn users_tree_matches_the_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = write_users(dir.path());
    check(
        "users/expected/tree.txt",
        &listing(&out.join("root"), "\0", false),
    );
    for f in ["passwd", "group", "shadow", "subuid", "subgid"] {
        check(
            &format!("users/expected/{f}"),
            &std::fs::read_to_string(out.join("root/etc").join(f)).unwrap(),
        );
    }
    check(
        "users/expected/manifest.json",
        &std::fs::read_to_string(out.join("manifest.json")).unwrap(),
    );
}

#[test]
fn etc_tree_matches_the_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let users = write_users(dir.path());
    let src = golden().join("etc/src").canonicalize().unwrap();
    let src = src.to_str().unwrap();
    let spec_text = std::fs::read_to_string(golden().join("etc/spec.json"))
        .unwrap()
        .replace("@SRC@", src);
    let spec = dir.path().join("etc-spec.json");
    std::fs::write(&spec, spec_text).unwrap();
    let out = dir.path().join("etc");
    nci_etc(&[
        "etc",
        "--spec",
        spec.to_str().unwrap(),
        "--users-tree",
        users.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    check(
        "etc/expected/tree.txt",
        &listing(&out.join("root"), src, true),
    );
    check(
        "etc/expected/manifest.json",
        &std::fs::read_to_string(out.join("manifest.json")).unwrap(),
    );
}

#[test]
fn same_spec_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (ta, tb) = (write_users(a.path()), write_users(b.path()));
    assert_eq!(
        listing(&ta.join("root"), "\0", true),
        listing(&tb.join("root"), "\0", true)
    );
    assert_eq!(
        std::fs::read(ta.join("manifest.json")).unwrap(),
        std::fs::read(tb.join("manifest.json")).unwrap()
    );
}
