//! Property test (L1) of `nci-s6 generate` on init specs around the
//! golden one (`../nci-core/tests/support/mutate.rs`): never a panic, a
//! failure is one readable message naming the field, and nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../nci-core/tests/support/mutate.rs"]
mod mutate;

use proptest::prelude::*;
use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nci-s6");

fn golden() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/golden/s6/spec.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn fuzz_nci_s6_generate_spec((place, new) in mutate::mutation(&golden())) {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        std::fs::write(
            t.join("spec.json"),
            serde_json::to_string(&mutate::apply(&golden(), &place, new)).unwrap(),
        )
        .unwrap();
        std::fs::create_dir(t.join("out")).unwrap();
        let o = Command::new(BIN)
            .current_dir(t)
            .args(["generate", "--spec", "spec.json", "--out", "out/init", "--services", "out/services", "--tree", "out/tree"])
            .output()
            .unwrap();
        mutate::check_run("nci-s6", &o, &t.join("out/init"))?;
        if !o.status.success() {
            let stderr = String::from_utf8_lossy(&o.stderr);
            prop_assert!(mutate::names_place(&stderr, &place), "{place}: {stderr}");
            prop_assert_eq!(std::fs::read_dir(t.join("out")).unwrap().count(), 0, "{}", stderr);
        }
    }
}
