//! Property test (L1) of `nci-systemd nix-builder units` on unit specs
//! around a valid one (`../nci-core/tests/support/mutate.rs`): never a
//! panic, a failure is one readable message naming the field, and
//! nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../nci-core/tests/support/mutate.rs"]
mod mutate;

use proptest::prelude::*;
use serde_json::{json, Value};
use std::process::Command;

fn units() -> Value {
    json!({
        "version": 1,
        "units": {
            "web": {
                "version": 1, "name": "web", "type": "simple",
                "environment": {"PATH": "/bin", "LANG": "C"},
                "serviceConfig": {
                    "ExecStart": ["/bin/sh -c 'echo hi'"],
                    "ExecStartPre": ["-/bin/true"],
                    "User": "nobody", "Restart": "on-failure", "RestartSec": "100ms",
                    "RuntimeDirectory": ["web"], "RuntimeDirectoryMode": "0750",
                    "AmbientCapabilities": ["CAP_NET_BIND_SERVICE"],
                    "TimeoutStopSec": "5s"
                },
                "unitConfig": {"ConditionPathExists": ["/etc/hostname"]},
                "startLimitBurst": 3, "startLimitIntervalSec": 60
            }
        },
        "tmpfiles": ["d /run/web 0755 root root -"]
    })
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn fuzz_nci_systemd_units((place, new) in mutate::mutation(&units())) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut attrs = mutate::apply(&units(), &place, new);
        attrs["outputs"] = json!({"out": out});
        std::fs::write(dir.path().join(".attrs.json"), attrs.to_string()).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_nci-systemd"))
            .current_dir(dir.path())
            .args(["nix-builder", "units"])
            .env("NIX_ATTRS_JSON_FILE", dir.path().join(".attrs.json"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        prop_assert!(matches!(o.status.code(), Some(c) if c != 101), "{:?}: {}", o.status, stderr);
        if !o.status.success() {
            prop_assert!(stderr.starts_with("nci-systemd: "), "{}", stderr);
            prop_assert!(stderr.len() <= 4096, "a message of {} bytes", stderr.len());
            prop_assert!(mutate::names_place(&stderr, &place), "{place}: {stderr}");
            prop_assert!(!out.exists(), "output written by a failed run");
        }
    }
}
