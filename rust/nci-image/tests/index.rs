//! The real `nci-image index` on two planned images of a tiny store
//! (an amd64 and an arm64 one sharing a store path): the layout's image
//! index lists both platforms, each architecture's manifest, config and
//! layers are byte for byte those of its single-architecture layout, the
//! bytes are the same on every run, and bad inputs leave no output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "support/run.rs"]
mod support;
use support::{run, run_ok};

/// A store with a path shared by both images and one per architecture;
/// returns the temporary directory and the plans (amd64, arm64).
fn two_plans() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let shared = store.join("cccccccccccccccccccccccccccccccc-data-1.0");
    std::fs::create_dir_all(shared.join("share")).unwrap();
    std::fs::write(
        shared.join("share/data.txt"),
        "the same on every architecture\n",
    )
    .unwrap();
    let mut plans = Vec::new();
    for (arch, hash) in [("amd64", "a"), ("arm64", "b")] {
        let app = store.join(format!("{}-app-{arch}", hash.repeat(32)));
        std::fs::create_dir_all(app.join("bin")).unwrap();
        std::fs::write(app.join("bin/app"), format!("an {arch} program\n")).unwrap();
        let (app_s, shared_s) = (app.display().to_string(), shared.display().to_string());
        let spec = json!({
            "version": 1, "name": "multi", "tag": "1",
            "created": "1970-01-01T00:00:01Z", "architecture": arch,
            "config": {"Entrypoint": [format!("{app_s}/bin/app")]},
            "maxLayers": 100,
            "storeRoots": [app_s, shared_s],
            "storeDir": store.display().to_string(),
        });
        let graph = json!([
            {"path": app_s, "references": []},
            {"path": shared_s, "references": []},
        ]);
        let (s, g, p) = (
            dir.path().join(format!("spec-{arch}.json")),
            dir.path().join(format!("graph-{arch}.json")),
            dir.path().join(format!("plan-{arch}.json")),
        );
        std::fs::write(&s, spec.to_string()).unwrap();
        std::fs::write(&g, graph.to_string()).unwrap();
        run_ok(&[
            "plan",
            "--spec",
            s.to_str().unwrap(),
            "--graph",
            g.to_str().unwrap(),
            "--out",
            p.to_str().unwrap(),
        ]);
        plans.push(p);
    }
    let arm = plans.pop().unwrap();
    let amd = plans.pop().unwrap();
    (dir, amd, arm)
}

fn write_index(images: &[(&str, &Path)], out: &Path) -> (bool, String) {
    let mut args = vec!["index".to_owned()];
    for (system, plan) in images {
        args.push("--image".into());
        args.push(format!("{system}={}", plan.display()));
    }
    args.extend([
        "--reference".into(),
        "multi:1".into(),
        "--out".into(),
        out.display().to_string(),
    ]);
    run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every file of a directory tree, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, all: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, all);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                all.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut all = BTreeMap::new();
    walk(dir, dir, &mut all);
    all
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

fn sha256(b: &[u8]) -> String {
    nci_core::hash::sha256_hex(b)
}

#[test]
fn index_joins_single_architecture_layouts_byte_for_byte() {
    let (dir, amd, arm) = two_plans();
    let out = dir.path().join("index");
    let (ok, err) = write_index(&[("x86_64-linux", &amd), ("aarch64-linux", &arm)], &out);
    assert!(ok, "{err}");

    // index.json: one entry, the image index, under the reference.
    let top: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        std::fs::read(out.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1);
    let d = &top["manifests"][0];
    assert_eq!(d["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(
        d["annotations"]["org.opencontainers.image.ref.name"],
        "multi:1"
    );
    let index_bytes = blob(&out, d["digest"].as_str().unwrap());
    assert_eq!(d["size"], index_bytes.len());
    let index: Value = serde_json::from_slice(&index_bytes).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );

    // Each platform's manifest is its single-architecture image's, and
    // so are the config and layers it names.
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, (plan, arch)) in entries.iter().zip([(&amd, "amd64"), (&arm, "arm64")]) {
        assert_eq!(
            entry["platform"],
            json!({"architecture": arch, "os": "linux"})
        );
        assert_eq!(
            entry["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let single = dir.path().join(format!("single-{arch}"));
        run_ok(&[
            "assemble",
            "--plan",
            plan.to_str().unwrap(),
            "--format",
            "oci",
            "--out",
            single.to_str().unwrap(),
        ]);
        let single_top: Value =
            serde_json::from_slice(&std::fs::read(single.join("index.json")).unwrap()).unwrap();
        assert_eq!(entry["digest"], single_top["manifests"][0]["digest"]);
        assert_eq!(entry["size"], single_top["manifests"][0]["size"]);
        let manifest: Value =
            serde_json::from_slice(&blob(&out, entry["digest"].as_str().unwrap())).unwrap();
        let config: Value =
            serde_json::from_slice(&blob(&out, manifest["config"]["digest"].as_str().unwrap()))
                .unwrap();
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["os"], "linux");
        for (name, bytes) in files(&single.join("blobs")) {
            assert_eq!(
                std::fs::read(out.join("blobs").join(&name)).unwrap(),
                bytes,
                "{name}"
            );
        }
    }
    // Every blob is named by its digest; the shared layer is stored once.
    let all = files(&out.join("blobs/sha256"));
    for (name, bytes) in &all {
        assert_eq!(&sha256(bytes), name);
    }
    // 1 index + 2 manifests + 2 configs + 2 own layers, and once each
    // the shared store layer and the customisation layer (the same in
    // both images: it holds only the image's base directories).
    assert_eq!(all.len(), 9, "{:?}", all.keys().collect::<Vec<_>>());

    // Same plans, same bytes.
    let again = dir.path().join("again");
    assert!(write_index(&[("x86_64-linux", &amd), ("aarch64-linux", &arm)], &again).0);
    assert_eq!(files(&out), files(&again));
}

#[test]
fn index_bad_inputs_are_errors_naming_them_with_no_output() {
    let (dir, amd, _) = two_plans();
    let out = dir.path().join("bad");
    let (ok, err) = write_index(
        &[("x86_64-linux", &amd), ("x86_64-linux-again", &amd)],
        &out,
    );
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "nci-image: error: x86_64-linux and x86_64-linux-again are both for linux/amd64: an index has one image per platform (lib.makeMultiArchImage: systems)"
    );
    assert!(!out.exists());
    let (ok, err) = run(&[
        "index",
        "--image",
        "x86_64-linux",
        "--reference",
        "a:b",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "nci-image: error: --image x86_64-linux: expected SYSTEM=PLAN"
    );
    assert!(!out.exists());
    // Nothing is left beside the output either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".oci-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
