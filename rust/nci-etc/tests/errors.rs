//! The real binary on bad input: a message naming the option, exit code 1,
//! and no output left behind.

// Test helpers: a fixture that cannot be read is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn nci_etc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nci-etc"))
        .args(args)
        .output()
        .unwrap()
}

fn fails_with(out: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in:\n{stderr}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Neither `out` nor a temporary tree beside it: `dir` holds only the spec.
fn nothing_left_in(dir: &Path, out: &Path) {
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        1,
        "a temporary tree was left behind"
    );
}

const GROUPS: &str =
    r#""users": {"name": "users", "gid": 100}, "root": {"name": "root", "gid": 0}"#;

fn users_tree(dir: &Path) -> String {
    let spec = write(
        dir,
        "users.json",
        &format!(
            r#"{{"version": 1, "groups": {{{GROUPS}}}, "users": {{
              "root": {{"name": "root", "uid": 0, "group": "root", "home": "/root"}},
              "alice": {{"name": "alice", "isNormalUser": true, "group": "users", "packages": []}}}}}}"#
        ),
    );
    let out = dir.join("users").display().to_string();
    let o = nci_etc(&["users", "--spec", &spec, "--out", &out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn every_users_problem_is_reported_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "spec.json",
        &format!(
            r#"{{"version": 1, "groups": {{{GROUPS}}}, "users": {{
              "alice": {{"name": "alice", "isNormalUser": true, "group": "staff", "home": "relative", "extraGroups": ["wheel"]}},
              "bob": {{"name": "bob!", "isNormalUser": true, "group": "users"}}}}}}"#
        ),
    );
    let out = d.path().join("out");
    let o = nci_etc(&["users", "--spec", &spec, "--out", out.to_str().unwrap()]);
    fails_with(&o, "nci-etc: error: 3 problems:");
    fails_with(
        &o,
        "- users.users.alice.group: group 'staff' is not defined (add users.groups.staff = { };)",
    );
    fails_with(
        &o,
        "- users.users.alice.home: \"relative\" is not an absolute path",
    );
    // An extra group nobody declares is left out, as NixOS does: no
    // problem of its own.
    assert!(!String::from_utf8_lossy(&o.stderr).contains("wheel"));
    fails_with(
        &o,
        "- users.users.bob.name: 'bob!' is not a valid user name",
    );
    nothing_left_in(d.path(), &out);
}

#[test]
fn a_missing_password_file_names_the_option() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "spec.json",
        &format!(
            r#"{{"version": 1, "groups": {{{GROUPS}}}, "users": {{
              "alice": {{"name": "alice", "isNormalUser": true, "group": "users", "hashedPasswordFile": "/nonexistent/hash"}}}}}}"#
        ),
    );
    let o = nci_etc(&[
        "users",
        "--spec",
        &spec,
        "--out",
        d.path().join("out").to_str().unwrap(),
    ]);
    fails_with(
        &o,
        "users.users.alice.hashedPasswordFile: /nonexistent/hash: No such file",
    );
    assert!(!d.path().join("out").exists());
}

#[test]
fn a_password_file_gives_the_shadow_hash() {
    let d = tempfile::tempdir().unwrap();
    let hash = write(d.path(), "hash", "$6$salt$abc\n");
    let spec = write(
        d.path(),
        "spec.json",
        &format!(
            r#"{{"version": 1, "groups": {{{GROUPS}}}, "users": {{
              "alice": {{"name": "alice", "isNormalUser": true, "group": "users", "uid": 1000, "hashedPasswordFile": "{hash}"}}}}}}"#
        ),
    );
    let out = d.path().join("out");
    let o = nci_etc(&["users", "--spec", &spec, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shadow = std::fs::read_to_string(out.join("root/etc/shadow")).unwrap();
    assert_eq!(shadow, "alice:$6$salt$abc:1::::::\n");
}

#[test]
fn etc_conflicts_name_both_entries_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let users = users_tree(d.path());
    let spec = write(
        d.path(),
        "etc.json",
        r#"{"version": 1, "entries": {
          "a": {"target": "x.conf", "source": "/nix/store/a-x"},
          "b": {"target": "x.conf", "source": "/nix/store/b-x"},
          "pw": {"target": "passwd", "source": "/nix/store/c-pw"},
          "up": {"target": "../shadow", "source": "/nix/store/d-x"}}}"#,
    );
    let out = d.path().join("etc");
    let o = nci_etc(&[
        "etc",
        "--spec",
        &spec,
        "--users-tree",
        &users,
        "--out",
        out.to_str().unwrap(),
    ]);
    fails_with(
        &o,
        "/etc/x.conf: conflict between environment.etc.a and environment.etc.b",
    );
    fails_with(
        &o,
        "/etc/passwd: conflict between users.users and users.groups and environment.etc.pw",
    );
    fails_with(
        &o,
        "environment.etc.up.target: \"../shadow\" contains '..', which could escape /etc",
    );
    assert!(!out.exists());
}

#[test]
fn etc_owner_that_is_not_a_user_names_the_entry() {
    let d = tempfile::tempdir().unwrap();
    let users = users_tree(d.path());
    let src = write(d.path(), "src", "x");
    std::fs::create_dir(d.path().join("sub")).unwrap();
    let spec = write(
        d.path(),
        "etc.json",
        &format!(
            r#"{{"version": 1, "storeDir": "{}", "entries": {{
              "app.conf": {{"target": "app.conf", "source": "{src}", "mode": "0600", "user": "bob", "group": "staff"}},
              "dir": {{"target": "dir", "source": "{}/sub", "mode": "0644"}}}}}}"#,
            d.path().display(),
            d.path().display()
        ),
    );
    let o = nci_etc(&[
        "etc",
        "--spec",
        &spec,
        "--users-tree",
        &users,
        "--out",
        d.path().join("etc").to_str().unwrap(),
    ]);
    fails_with(
        &o,
        "environment.etc.\"app.conf\".user: user 'bob' is not defined (add users.users.bob)",
    );
    fails_with(&o, "environment.etc.\"app.conf\".group: group 'staff' is not defined (add users.groups.staff = { };)");
    fails_with(&o, "environment.etc.dir.source: ");
    fails_with(
        &o,
        "is a directory: only mode = \"symlink\" can put a directory in /etc",
    );
}

#[test]
fn text_builder_concatenates_its_parts() {
    let d = tempfile::tempdir().unwrap();
    let file = write(d.path(), "part", "from a file\n");
    let out = d.path().join("out");
    let attrs = write(
        d.path(),
        "attrs.json",
        &format!(
            r#"{{"parts": [{{"text": "first\n"}}, {{"file": "{file}"}}], "outputs": {{"out": "{}"}}}}"#,
            out.display()
        ),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_nci-etc"))
        .args(["nix-builder", "text"])
        .env("NIX_ATTRS_JSON_FILE", &attrs)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        "first\nfrom a file\n"
    );
}

#[test]
fn a_user_package_that_does_not_exist_names_the_option_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "spec.json",
        &format!(
            r#"{{"version": 1, "groups": {{{GROUPS}}}, "users": {{
              "alice": {{"name": "alice", "isNormalUser": true, "group": "users",
                "packages": ["/nix/store/00000000000000000000000000000000-gone"]}}}}}}"#
        ),
    );
    let out = d.path().join("out");
    let o = nci_etc(&["users", "--spec", &spec, "--out", out.to_str().unwrap()]);
    fails_with(
        &o,
        "nci-etc: error: users.users.alice.packages: '/nix/store/00000000000000000000000000000000-gone' cannot be read (No such file or directory (os error 2)): a package must be a store path of the build's inputs",
    );
    nothing_left_in(d.path(), &out);
}
