//! Property tests (L1) of `nci-etc users` and `nci-etc etc` on specs
//! around valid ones (`../nci-core/tests/support/mutate.rs`): never a
//! panic, a failure is one readable message naming the field, and no
//! output is left.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../nci-core/tests/support/mutate.rs"]
mod mutate;

use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nci-etc");

fn users_spec() -> Value {
    json!({
        "version": 1, "enforceIdUniqueness": true,
        "groups": {
            "root": {"name": "root", "gid": 0, "members": []},
            "users": {"name": "users", "gid": 100, "members": ["alice"]},
            "svc": {"name": "svc", "gid": null, "members": []}
        },
        "users": {
            "root": {"name": "root", "uid": 0, "group": "root", "home": "/root"},
            "alice": {
                "name": "alice", "uid": 1000, "group": "users", "extraGroups": ["svc"],
                "description": "Alice", "home": "/home/alice", "homeMode": "700",
                "createHome": true, "isNormalUser": true, "shell": "/bin/sh",
                "hashedPassword": "$6$salt$hash", "packages": ["@SRC@"],
                "subUidRanges": [{"startUid": 100001, "count": 65534}]
            },
            "svc": {"name": "svc", "uid": null, "group": "svc", "isSystemUser": true}
        }
    })
}

fn etc_spec() -> Value {
    json!({
        "version": 1, "storeDir": "@SRC@",
        "entries": {
            "motd": {"target": "motd", "source": "@SRC@/motd", "mode": "symlink", "user": "+0", "group": "+0"},
            "app.conf": {"target": "app/app.conf", "source": "@SRC@/motd", "mode": "0600", "user": "+1000", "group": "+100"},
            "resolv.conf": {"target": "resolv.conf", "source": "/run/resolv.conf", "mode": "direct-symlink", "user": "+0", "group": "+0"}
        }
    })
}

/// Runs `nci-etc <what> --spec` on the mutated spec; checks the run.
fn run(what: &str, valid: &Value, place: &str, new: Option<Value>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("motd"), "hello\n").unwrap();
    std::fs::write(src.join("bin/tool"), "#!/bin/sh\n").unwrap();
    let text = serde_json::to_string(&mutate::apply(valid, place, new))
        .unwrap()
        .replace("@SRC@", &src.display().to_string());
    std::fs::write(dir.path().join("spec.json"), text).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let out = dir.path().join("out/tree");
    let o = Command::new(BIN)
        .current_dir(dir.path())
        .args([what, "--spec", "spec.json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    mutate::check_run("nci-etc", &o, &out)?;
    if !o.status.success() {
        let stderr = String::from_utf8_lossy(&o.stderr);
        prop_assert!(mutate::names_place(&stderr, place), "{place}: {stderr}");
        prop_assert_eq!(
            std::fs::read_dir(Path::new(&dir.path().join("out")))
                .unwrap()
                .count(),
            0
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn fuzz_nci_etc_users_spec((place, new) in mutate::mutation(&users_spec())) {
        run("users", &users_spec(), &place, new)?;
    }

    #[test]
    fn fuzz_nci_etc_etc_spec((place, new) in mutate::mutation(&etc_spec())) {
        run("etc", &etc_spec(), &place, new)?;
    }
}
