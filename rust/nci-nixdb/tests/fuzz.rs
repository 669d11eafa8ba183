//! Property test (L1) of `nci-nixdb registration` on reference graphs
//! around a valid one (`../nci-core/tests/support/mutate.rs`): never a
//! panic, a failure is one readable message naming the field, and
//! nothing printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../nci-core/tests/support/mutate.rs"]
mod mutate;

use proptest::prelude::*;
use serde_json::{json, Value};
use std::process::Command;

fn graph() -> Value {
    let hash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
    json!([
        {"path": "@STORE@/a", "references": ["@STORE@/a", "@STORE@/b"], "narHash": hash, "narSize": 120},
        {"path": "@STORE@/b", "references": [], "narHash": hash, "narSize": 8}
    ])
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn fuzz_nci_nixdb_registration_graph((place, new) in mutate::mutation(&graph())) {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        for p in ["a", "b"] {
            std::fs::create_dir_all(store.join(p)).unwrap();
        }
        let text = serde_json::to_string(&mutate::apply(&graph(), &place, new))
            .unwrap()
            .replace("@STORE@", &store.display().to_string());
        std::fs::write(dir.path().join("graph.json"), text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_nci-nixdb"))
            .current_dir(dir.path())
            .args(["registration", "--graph", "graph.json"])
            .output()
            .unwrap();
        mutate::check_run("nci-nixdb", &o, &dir.path().join("no-output"))?;
        if !o.status.success() {
            let stderr = String::from_utf8_lossy(&o.stderr);
            prop_assert!(mutate::names_place(&stderr, &place), "{place}: {stderr}");
            prop_assert!(o.stdout.is_empty(), "printed on failure");
        }
    }
}
