//! Property test (L1) of `nci-image build` on specs around a valid one
//! (`../nci-core/tests/support/mutate.rs`): never a panic, a failure is one
//! readable message naming the field, and no output is left.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../nci-core/tests/support/mutate.rs"]
mod mutate;

use proptest::prelude::*;
use serde_json::json;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nci-image");

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn fuzz_nci_image_build_spec((place, new) in mutate::mutation(&valid_template())) {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let app = store.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.0");
        std::fs::create_dir_all(app.join("bin")).unwrap();
        std::fs::write(app.join("bin/app"), "#!/bin/sh\n").unwrap();
        let valid = valid_template();
        let text = serde_json::to_string(&mutate::apply(&valid, &place, new))
            .unwrap()
            .replace("@STORE@", &store.display().to_string());
        std::fs::write(dir.path().join("spec.json"), text).unwrap();
        let app_path = app.display().to_string();
        std::fs::write(
            dir.path().join("graph.json"),
            json!([{"path": app_path, "references": []}]).to_string(),
        )
        .unwrap();
        let out = dir.path().join("out/image.tar");
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let o = Command::new(BIN)
            .current_dir(dir.path())
            .args(["build", "--spec", "spec.json", "--graph", "graph.json", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        mutate::check_run("nci-image", &o, &out)?;
        if !o.status.success() {
            let stderr = String::from_utf8_lossy(&o.stderr);
            prop_assert!(mutate::names_place(&stderr, &place), "{place}: {stderr}");
            prop_assert_eq!(std::fs::read_dir(dir.path().join("out")).unwrap().count(), 0);
        }
    }
}

/// A valid spec; `@STORE@` is the test's store directory.
fn valid_template() -> serde_json::Value {
    json!({
        "version": 1, "name": "fuzz", "tag": "t",
        "created": "1970-01-01T00:00:01Z", "architecture": "amd64",
        "config": {
            "Entrypoint": ["/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.0/bin/app"],
            "Cmd": ["--x"], "Env": ["A=b"], "WorkingDir": "/", "User": "0:0",
            "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}},
            "Labels": {"l": "v"}, "StopSignal": "SIGTERM"
        },
        "maxLayers": 10,
        "storeRoots": ["@STORE@/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.0"],
        "storeDir": "@STORE@",
        "symlinks": {"/bin/app": "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.0/bin/app"},
    })
}
