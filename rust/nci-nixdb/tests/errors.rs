//! The real binary given a graph naming a store path that does not exist:
//! an error naming the attribute (or file) and the path, nothing written.

// Test helpers: a fixture that cannot be written is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const MISSING: &str = "/nix/store/00000000000000000000000000000000-gone";

fn graph() -> String {
    format!(
        r#"[{{"path": "{MISSING}", "references": [], "narHash": "sha256:0000000000000000000000000000000000000000000000000000", "narSize": 8}}]"#
    )
}

#[test]
fn a_graph_naming_a_missing_store_path_is_refused_by_the_builder() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let attrs = d.path().join(".attrs.json");
    std::fs::write(
        &attrs,
        format!(
            r#"{{"nixStore": "/nonexistent/nix-store", "storeGraph": {}, "outputs": {{"out": "{}"}}}}"#,
            graph(),
            out.display()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_nci-nixdb"))
        .arg("nix-builder")
        .env("NIX_ATTRS_JSON_FILE", &attrs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("nci-nixdb: error: storeGraph: '{MISSING}' cannot be read (No such file or directory (os error 2)): the graph may only name store paths that exist\n")
    );
    assert!(!out.exists(), "output written");
}

#[test]
fn a_graph_file_naming_a_missing_store_path_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("graph.json");
    std::fs::write(&file, graph()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_nci-nixdb"))
        .args(["registration", "--graph"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("graph.json: '{MISSING}' cannot be read")),
        "{stderr}"
    );
    assert!(o.stdout.is_empty());
}
