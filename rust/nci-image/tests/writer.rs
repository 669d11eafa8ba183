//! The real `nci-image` binary on a tiny store made in a temporary
//! directory: pinned digests (golden), cached layer facts giving the same
//! bytes, the three outputs agreeing, and bad inputs.
//!
//! Refresh the golden file after a deliberate change of the bytes:
//! `NCI_UPDATE_GOLDEN=1 cargo test -p nci-image --test writer`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/run.rs"]
mod support;
use support::{run, run_ok, BIN};
const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/golden/writer/tiny.json"
);

struct Store {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Two store paths, `lib` and `app` (which refers to lib), with a
/// symlink, identical files, an executable and a name longer than ustar.
fn tiny_store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let store = root.join("store");
    let lib = store.join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-lib-1.0");
    let app = store.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.0");
    std::fs::create_dir_all(lib.join("lib")).unwrap();
    std::fs::create_dir_all(app.join("bin")).unwrap();
    std::fs::create_dir_all(app.join("share/doc")).unwrap();
    std::fs::write(lib.join("lib/libx.so"), vec![7u8; 70_000]).unwrap();
    // Contents name /nix/store, not the temporary directory: the bytes
    // must not depend on where the test runs.
    let nix_lib = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-lib-1.0";
    std::fs::write(app.join("bin/app"), format!("#!{nix_lib}/lib/libx.so\n")).unwrap();
    std::fs::write(app.join("share/doc/a.txt"), "same text\n").unwrap();
    std::fs::write(app.join("share/doc/b.txt"), "same text\n").unwrap();
    std::fs::write(app.join(format!("share/doc/{}", "n".repeat(150))), "long\n").unwrap();
    symlink("../lib/libx.so", app.join("bin/libx-link")).unwrap();
    symlink(format!("{nix_lib}/lib"), app.join("lib")).unwrap();
    chmod(&lib.join("lib/libx.so"), 0o444);
    chmod(&app.join("bin/app"), 0o555);
    for f in ["share/doc/a.txt", "share/doc/b.txt"] {
        chmod(&app.join(f), 0o444);
    }
    chmod(&app.join(format!("share/doc/{}", "n".repeat(150))), 0o444);
    for d in [
        lib.join("lib"),
        lib.clone(),
        app.join("bin"),
        app.join("share/doc"),
        app.join("share"),
        app.clone(),
    ] {
        chmod(&d, 0o555);
    }
    Store {
        _dir: dir,
        root,
        store,
    }
}

impl Store {
    fn path(&self, name: &str) -> String {
        std::fs::read_dir(&self.store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(name))
            .unwrap()
            .display()
            .to_string()
    }

    /// Writes spec.json and graph.json; returns their paths.
    fn spec(&self, extra: Value) -> (PathBuf, PathBuf) {
        let (lib, app) = (self.path("-lib-1.0"), self.path("-app-2.0"));
        let mut spec = json!({
            "version": 1, "name": "tiny", "tag": "pinned",
            "created": "1970-01-01T00:00:01Z", "architecture": "amd64",
            "config": {"Entrypoint": ["/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.0/bin/app"], "Env": ["A=b"]},
            "maxLayers": 100,
            "storeRoots": [app],
            "storeDir": self.store.display().to_string(),
            "symlinks": {"/bin/app": "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.0/bin/app"},
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let graph = json!([
            {"path": app, "references": [app, lib]},
            {"path": lib, "references": []},
        ]);
        let s = self.root.join("spec.json");
        let g = self.root.join("graph.json");
        std::fs::write(&s, spec.to_string()).unwrap();
        std::fs::write(&g, graph.to_string()).unwrap();
        (s, g)
    }
}

/// Writes the stream script of an image (`nci-image stream-script`).
fn stream_script(spec: &Path, graph: &Path, reference: &str, out: &Path) {
    run_ok(&[
        "stream-script",
        "--spec",
        spec.to_str().unwrap(),
        "--graph",
        graph.to_str().unwrap(),
        "--reference",
        reference,
        "--out",
        out.to_str().unwrap(),
    ]);
}

/// Runs a stream script (an executable): what it writes. Its cache of
/// layer facts is a new directory beside it.
fn run_script(script: &Path) -> Vec<u8> {
    let cache = tempfile::tempdir().unwrap();
    run_script_with(script, cache.path())
}

/// Runs a stream script with the cache of layer facts `cache`.
fn run_script_with(script: &Path, cache: &Path) -> Vec<u8> {
    let out = Command::new(script)
        .env("NCI_IMAGE_CACHE", cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The reference a docker-archive names its image with.
fn reference_of(archive: &Path) -> String {
    let manifest: Value = serde_json::from_slice(&member(archive, "manifest.json")).unwrap();
    manifest[0]["RepoTags"][0].as_str().unwrap().to_owned()
}

/// Writes the docker-archive of `plan` to `out`.
fn assemble(plan: &Path, out: &Path) {
    run_ok(&[
        "assemble",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
}

/// Runs `step` (`plan` or `build`) on a spec and a reference graph.
fn run_step(step: &str, spec: &Path, graph: &Path, out: &Path) -> (bool, String) {
    run(&[
        step,
        "--spec",
        spec.to_str().unwrap(),
        "--graph",
        graph.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn build(store: &Store, extra: Value, out: &Path) -> (bool, String) {
    let (s, g) = store.spec(extra);
    run_step("build", &s, &g, out)
}

fn member(archive: &Path, name: &str) -> Vec<u8> {
    let mut ar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            return v;
        }
    }
    panic!("{name} not in {}", archive.display());
}

fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

/// The digests that pin the tiny image.
fn digests(archive: &Path) -> Value {
    let manifest: Value = serde_json::from_slice(&member(archive, "manifest.json")).unwrap();
    let config: Value =
        serde_json::from_slice(&member(archive, manifest[0]["Config"].as_str().unwrap())).unwrap();
    json!({
        "config": manifest[0]["Config"],
        "diff_ids": config["rootfs"]["diff_ids"],
        "archive": sha256_file(archive),
    })
}

#[test]
fn writer_golden_tiny_image_digests_are_pinned() {
    let store = tiny_store();
    let out = store.root.join("tiny.tar");
    let (ok, err) = build(&store, json!({}), &out);
    assert!(ok, "{err}");
    let got = digests(&out);
    if std::env::var_os("NCI_UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap();
    assert_eq!(
        got, want,
        "the tiny image's bytes changed; if deliberate, refresh with NCI_UPDATE_GOLDEN=1 cargo test -p nci-image --test writer"
    );
    // lib is more popular (app refers to it): its layer comes first; the
    // identical doc files are one file and a hard link.
    let config: Value = serde_json::from_slice(&member(
        &out,
        serde_json::from_slice::<Value>(&member(&out, "manifest.json")).unwrap()[0]["Config"]
            .as_str()
            .unwrap(),
    ))
    .unwrap();
    assert!(config["history"][0]["comment"]
        .as_str()
        .unwrap()
        .ends_with("-lib-1.0"));
    let app_layer = config["rootfs"]["diff_ids"][1].as_str().unwrap()[7..].to_owned();
    let layer = member(&out, &format!("blobs/sha256/{app_layer}"));
    let mut ar = tar::Archive::new(&layer[..]);
    let kinds: Vec<(String, tar::EntryType)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().entry_type(),
            )
        })
        .collect();
    assert!(kinds
        .iter()
        .any(|(p, t)| p.ends_with("doc/b.txt") && *t == tar::EntryType::Link));
    assert!(kinds.iter().any(|(p, _)| p.ends_with(&"n".repeat(150))));
}

#[test]
fn writer_cached_layer_facts_give_the_same_bytes_as_hashing() {
    let store = tiny_store();
    let plain = store.root.join("plain.tar");
    assert!(build(&store, json!({}), &plain).0);
    let mut infos = Vec::new();
    for name in ["-lib-1.0", "-app-2.0"] {
        let p = store.path(name);
        let info = store.root.join(format!("{name}.json"));
        let (ok, err) = run(&[
            "layer",
            &p,
            "--store-dir",
            store.store.to_str().unwrap(),
            "--out",
            info.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        infos.push(json!({"path": p, "info": info}));
    }
    let cached = store.root.join("cached.tar");
    let (ok, err) = build(&store, json!({ "layerInfos": infos }), &cached);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&plain).unwrap(),
        std::fs::read(&cached).unwrap()
    );
    // A cached digest that does not match the store is used as it is: the
    // plan trusts its inputs, so a stale fact must never reach it (the
    // layer derivation's output refers to its store path, which keeps it).
}

#[test]
fn writer_plan_assemble_and_stream_write_the_same_archive_and_an_oci_layout() {
    let store = tiny_store();
    let (s, g) = store.spec(json!({}));
    let plan = store.root.join("plan.json");
    let (ok, err) = run_step("plan", &s, &g, &plan);
    assert!(ok, "{err}");
    let built = store.root.join("built.tar");
    assert!(build(&store, json!({}), &built).0);
    let assembled = store.root.join("assembled.tar");
    assemble(&plan, &assembled);
    assert_eq!(
        std::fs::read(&built).unwrap(),
        std::fs::read(&assembled).unwrap()
    );
    let streamed = Command::new(BIN)
        .args(["stream", plan.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(streamed.status.success());
    assert_eq!(streamed.stdout, std::fs::read(&built).unwrap());
    // The stream script (the `.stream` output) writes the same bytes.
    let script = store.root.join("stream");
    stream_script(&s, &g, "tiny:pinned", &script);
    assert_eq!(run_script(&script), std::fs::read(&built).unwrap());
    let oci = store.root.join("oci");
    run_ok(&[
        "assemble",
        "--plan",
        plan.to_str().unwrap(),
        "--format",
        "oci",
        "--out",
        oci.to_str().unwrap(),
    ]);
    for l in digests(&built)["diff_ids"].as_array().unwrap() {
        let blob = oci.join(format!("blobs/sha256/{}", &l.as_str().unwrap()[7..]));
        assert_eq!(sha256_file(&blob), l.as_str().unwrap()[7..]);
    }
    // The archive is a valid base image for another one.
    let derived = store.root.join("derived.tar");
    let (ok, err) = build(&store, json!({"from": built, "name": "derived"}), &derived);
    assert!(ok, "{err}");
    let ids = digests(&derived)["diff_ids"].as_array().unwrap().len();
    assert_eq!(
        ids,
        2 * digests(&built)["diff_ids"].as_array().unwrap().len()
    );
}

/// Writing the stream script hashes nothing: it keeps no digest of a
/// store layer, and a layer whose bytes changed after it was written
/// (same size) streams with the digest of what it holds then.
#[test]
fn writer_the_stream_script_hashes_each_layer_when_run_not_when_written() {
    let store = tiny_store();
    let (s, g) = store.spec(json!({}));
    let script = store.root.join("stream");
    stream_script(&s, &g, "tiny:pinned", &script);
    let text = std::fs::read_to_string(&script).unwrap();
    let body: Value = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
    let layers = body["layering"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{body}");
    assert!(layers.iter().all(Value::is_null), "digests kept: {body}");
    let libx = PathBuf::from(store.path("-lib-1.0")).join("lib/libx.so");
    chmod(&libx, 0o644);
    std::fs::write(&libx, vec![8u8; 70_000]).unwrap();
    chmod(&libx, 0o444);
    let built = store.root.join("built.tar");
    assert!(build(&store, json!({}), &built).0);
    assert_eq!(run_script(&script), std::fs::read(&built).unwrap());
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap();
    assert_ne!(digests(&built)["diff_ids"], golden["diff_ids"]);
}

/// A stream run again takes each store layer's facts from the user's
/// cache, as they are, and never those of a store path made again since
/// (another inode, another change time), whatever its name.
#[test]
fn writer_the_stream_takes_facts_from_its_cache_only_for_the_same_store_paths() {
    let store = tiny_store();
    let (s, g) = store.spec(json!({}));
    let script = store.root.join("stream");
    stream_script(&s, &g, "tiny:pinned", &script);
    let cache = store.root.join("cache");
    let first = run_script_with(&script, &cache);
    let built = store.root.join("built.tar");
    assert!(build(&store, json!({}), &built).0);
    assert_eq!(first, std::fs::read(&built).unwrap());
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 2, "one entry per store layer");
    assert_eq!(run_script_with(&script, &cache), first);
    // Used as it is: lib's layer (the first) under another digest.
    let lib_digest = digests(&built)["diff_ids"][0].as_str().unwrap()[7..].to_owned();
    let lib_entry = entries
        .iter()
        .find(|e| std::fs::read_to_string(e).unwrap().contains(&lib_digest))
        .unwrap();
    let kept = std::fs::read_to_string(lib_entry).unwrap();
    std::fs::write(lib_entry, kept.replace(&lib_digest, &"0".repeat(64))).unwrap();
    let named = run_script_with(&script, &cache);
    let needle = format!("blobs/sha256/{}", "0".repeat(64));
    assert!(named.windows(needle.len()).any(|w| w == needle.as_bytes()));
    // lib made again, with other bytes of the same size: hashed again.
    let lib = PathBuf::from(store.path("-lib-1.0"));
    // Writable first, as Nix makes a store path it moves: moving a
    // directory to another parent rewrites its `..`, which a user other
    // than root may not do in a read-only directory.
    chmod(&lib, 0o755);
    std::fs::rename(&lib, store.root.join("old-lib")).unwrap();
    std::fs::create_dir_all(lib.join("lib")).unwrap();
    std::fs::write(lib.join("lib/libx.so"), vec![9u8; 70_000]).unwrap();
    chmod(&lib.join("lib/libx.so"), 0o444);
    chmod(&lib.join("lib"), 0o555);
    chmod(&lib, 0o555);
    let again = store.root.join("again.tar");
    assert!(build(&store, json!({}), &again).0);
    assert_ne!(
        digests(&again)["diff_ids"][0],
        digests(&built)["diff_ids"][0]
    );
    assert_eq!(
        run_script_with(&script, &cache),
        std::fs::read(&again).unwrap()
    );
}

/// A stream script of another format, or not one at all, is an error
/// naming the file.
#[test]
fn writer_a_stream_script_of_another_format_is_an_error_naming_it() {
    let store = tiny_store();
    let (s, g) = store.spec(json!({}));
    let script = store.root.join("stream");
    stream_script(&s, &g, "tiny:pinned", &script);
    let text = std::fs::read_to_string(&script).unwrap();
    let old = store.root.join("old");
    std::fs::write(&old, text.replace(r#"{"version":2,"#, r#"{"version":1,"#)).unwrap();
    let (ok, err) = run(&["stream", old.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!(
            "nci-image: error: {}: a stream script of format 1, this nci-image reads format 2",
            old.display()
        )
    );
    std::fs::write(&old, "#!/bin/nci-image stream\n{\"plan\":\"/x\"}\n").unwrap();
    let (ok, err) = run(&["stream", old.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.starts_with(&format!(
            "nci-image: error: {}: not a stream script of this nci-image",
            old.display()
        )),
        "{err}"
    );
}

#[test]
fn writer_bad_inputs_are_errors_naming_them_with_no_output() {
    let store = tiny_store();
    let out = store.root.join("bad.tar");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"maxLayers": 0}),
            "image.maxLayers: must be at least 1",
        ),
        (
            json!({"storeRoots": [store.store.join("cccccccccccccccccccccccccccccccc-gone").display().to_string()]}),
            "-gone is not in the closure the builder was given",
        ),
        (
            json!({"from": store.root.join("spec.json")}),
            "image.from: ",
        ),
        (
            json!({"from": store.root.join("nothing-here.tar")}),
            "image.from: ",
        ),
    ];
    for (extra, want) in cases {
        let (ok, err) = build(&store, extra.clone(), &out);
        assert!(!ok, "{extra} was accepted");
        assert!(err.contains(want), "{extra}: {err}");
        assert!(!out.exists(), "{extra}: output left behind");
    }
    // A store path of the closure that is gone from disk.
    let lib = store.path("-lib-1.0");
    let (s, g) = store.spec(json!({}));
    // Moving a directory to another parent rewrites its `..`: a user
    // other than root needs write permission on it (store paths are 0555).
    chmod(Path::new(&lib), 0o755);
    std::fs::rename(&lib, store.root.join("moved")).unwrap();
    let (ok, err) = run_step("build", &s, &g, &out);
    assert!(!ok);
    assert!(
        err.contains("-lib-1.0: store path of the closure is missing on disk"),
        "{err}"
    );
    assert!(!out.exists());
}

/// `build` hashes the store layers while writing them, in image order,
/// one core reading and the other hashing, each writing hashed chunks
/// into place: whatever the timing, the bytes must be those of `plan`
/// then `assemble`. A store of 40 paths, the most popular one 9 MB (many
/// chunks), the others small; then images over it (`from`): one whose
/// store layers are all identical to base layers, one whose first store
/// layer is (stored once, the layers after it written again at the end);
/// a customisation layer with a symlink, and one holding every store
/// path (`maxLayers` 1).
/// An entry met while the store is walked and written that cannot go
/// into an image (a FIFO) stops both cores of the one-pass build: the
/// error names the file and no output is left, nor a temporary file.
#[test]
fn writer_a_bad_entry_met_while_writing_stops_the_build_with_no_output() {
    let store = tiny_store();
    let doc = Path::new(&store.path("-app-2.0")).join("share/doc");
    chmod(&doc, 0o755);
    let fifo = doc.join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (s, g) = store.spec(json!({}));
    let out = store.root.join("bad.tar");
    let before: Vec<_> = std::fs::read_dir(&store.root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for step in ["build", "plan"] {
        let (ok, err) = run_step(step, &s, &g, &out);
        assert!(!ok, "{step} accepted a FIFO");
        assert!(
            err.contains(
                "share/doc/pipe: only directories, files and symlinks can go into an image"
            ),
            "{step}: {err}"
        );
        assert!(!out.exists(), "{step}: output left behind");
    }
    let after: Vec<_> = std::fs::read_dir(&store.root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "files left beside the output");
}

#[test]
fn writer_one_pass_build_writes_what_plan_then_assemble_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut paths = Vec::new();
    for k in 0..40u32 {
        let p = store.join(format!("{:032}-p{k}", k));
        std::fs::create_dir_all(p.join("d")).unwrap();
        // Path 0 (used by all) is 9 MB; the others from 1 KB to 400 KB.
        let size = if k == 0 {
            9_000_000
        } else {
            1_000 * (k as usize * 37 % 400 + 1)
        };
        let bytes: Vec<u8> = (0..size).map(|i| (i as u32 * 31 + k) as u8).collect();
        std::fs::write(p.join("d/data"), &bytes).unwrap();
        std::fs::write(p.join("small"), format!("path {k}\n")).unwrap();
        std::fs::write(p.join("d/copy"), format!("path {k}\n")).unwrap();
        paths.push(p.display().to_string());
    }
    let graph: Vec<Value> = paths
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let refs = if k == 0 {
                vec![p.clone()]
            } else {
                vec![p.clone(), paths[0].clone()]
            };
            json!({"path": p, "references": refs})
        })
        .collect();
    let g = dir.path().join("graph.json");
    std::fs::write(&g, Value::Array(graph).to_string()).unwrap();
    let spec = |extra: Value| {
        let mut spec = json!({
            "version": 1, "name": "many", "tag": "t",
            "created": "1970-01-01T00:00:01Z", "architecture": "amd64",
            "config": {}, "maxLayers": 100,
            "storeRoots": paths[1..],
            "storeDir": store.display().to_string(),
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let s = dir.path().join("spec.json");
        std::fs::write(&s, spec.to_string()).unwrap();
        s
    };
    let scripts = tempfile::tempdir().unwrap();
    let check = |extra: Value, name: &str| -> PathBuf {
        let s = spec(extra);
        let plan = dir.path().join(format!("{name}.plan.json"));
        let assembled = dir.path().join(format!("{name}.assembled.tar"));
        let (ok, err) = run_step("plan", &s, &g, &plan);
        assert!(ok, "{err}");
        assemble(&plan, &assembled);
        let want = std::fs::read(&assembled).unwrap();
        let built = dir.path().join(format!("{name}.tar"));
        for _ in 0..3 {
            let (ok, err) = run_step("build", &s, &g, &built);
            assert!(ok, "{err}");
            assert!(
                std::fs::read(&built).unwrap() == want,
                "{name}: build differs from plan + assemble"
            );
        }
        // The stream script, run: the same bytes, hashed as it writes.
        let script = scripts.path().join(name);
        stream_script(&s, &g, &reference_of(&built), &script);
        assert!(
            run_script(&script) == want,
            "{name}: the stream differs from plan + assemble"
        );
        built
    };
    let base = check(json!({}), "base");
    assert_eq!(digests(&base)["diff_ids"].as_array().unwrap().len(), 41);
    check(json!({"from": base, "name": "derived"}), "derived");
    // Nothing is left beside the outputs (temporary files are unnamed).
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "base.assembled.tar",
            "base.plan.json",
            "base.tar",
            "derived.assembled.tar",
            "derived.plan.json",
            "derived.tar",
            "graph.json",
            "spec.json",
            "store"
        ]
    );
    // The customisation layer is hashed alongside the store layers; with
    // maxLayers 1 it holds every store path, and no store layer is left.
    check(json!({"symlinks": {"/bin/sh": "/nix/store/x"}}), "linked");
    let one = check(json!({"maxLayers": 1}), "one");
    assert_eq!(digests(&one)["diff_ids"].as_array().unwrap().len(), 1);
    // A base image holding only the 9 MB path: on top of it, that path's
    // layer is the base's (stored once) and the 39 others follow it.
    let small = check(json!({"storeRoots": [paths[0]], "name": "small"}), "small");
    let over = check(json!({"from": small, "name": "over"}), "over");
    assert_eq!(digests(&over)["diff_ids"].as_array().unwrap().len(), 2 + 41);
}

/// Files over 1 MiB of one size and mode are compared by reading them
/// before they are written; hashing the layer must then read them again
/// from their start (it once read on from where the comparison stopped,
/// and failed with "file shrank while read"). The copy becomes a hard
/// link; `layer`, `plan` and `build` agree.
#[test]
fn writer_big_files_of_one_size_are_compared_and_linked() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = store.join("cccccccccccccccccccccccccccccccc-big");
    std::fs::create_dir_all(&p).unwrap();
    let one: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let two: Vec<u8> = (0..2_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(p.join("one"), &one).unwrap();
    std::fs::write(p.join("two"), &two).unwrap();
    std::fs::write(p.join("zcopy"), &two).unwrap();
    let path = p.display().to_string();
    let g = dir.path().join("graph.json");
    std::fs::write(&g, json!([{"path": path, "references": []}]).to_string()).unwrap();
    let s = dir.path().join("spec.json");
    std::fs::write(
        &s,
        json!({
            "version": 1, "name": "big", "tag": "t",
            "created": "1970-01-01T00:00:01Z", "architecture": "amd64",
            "config": {}, "maxLayers": 100, "storeRoots": [path],
            "storeDir": store.display().to_string(),
        })
        .to_string(),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["layer", &path, "--store-dir", store.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        layer["links"],
        json!([[
            "nix/store/cccccccccccccccccccccccccccccccc-big/zcopy",
            "nix/store/cccccccccccccccccccccccccccccccc-big/two"
        ]])
    );
    let plan = dir.path().join("plan.json");
    let built = dir.path().join("built.tar");
    for (step, out) in [("plan", &plan), ("build", &built)] {
        let (ok, err) = run_step(step, &s, &g, out);
        assert!(ok, "{err}");
    }
    let ids = digests(&built)["diff_ids"].clone();
    assert_eq!(
        ids[0],
        json!(format!("sha256:{}", layer["digest"].as_str().unwrap()))
    );
}

/// An empty file without read permission needs no reading: the walk,
/// which opens files to stat them, falls back to stat'ing it by name.
/// Run as a user the permission applies to (root reads anything).
#[test]
fn writer_an_empty_unreadable_file_is_written() {
    use std::os::unix::{fs::MetadataExt, process::CommandExt};
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let store = dir.path().join("store");
    let p = store.join("dddddddddddddddddddddddddddddddd-empty");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("locked"), "").unwrap();
    std::fs::write(p.join("open"), "text\n").unwrap();
    chmod(&p.join("locked"), 0o000);
    chmod(&p.join("open"), 0o444);
    chmod(&store, 0o755);
    let mut cmd = Command::new(BIN);
    cmd.args([
        "layer",
        p.to_str().unwrap(),
        "--store-dir",
        store.to_str().unwrap(),
    ]);
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(layer["size"].as_u64().unwrap() > 0);
}
