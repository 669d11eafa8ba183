//! The `.stream` output: a script that writes the image's docker-archive
//! to standard output, hashing each layer as it goes.
//!
//! Building the stream hashes nothing: it decides the layering (which
//! store paths go in which layer, in what order, the customisation
//! layer's entries: the reference graph gives all of it) and keeps it in
//! the script. Running the script hashes the layers and writes them. A
//! layer's member in the archive is named after its digest, so a layer
//! is hashed before it is written: the layers are hashed in image order
//! on every core while the main thread writes them, each as soon as its
//! digest is known, then the config and manifests, which need every
//! digest, close the archive (as nixpkgs' `streamLayeredImage` does).
//! A store layer met before (in this image or another) is not hashed
//! again: its facts are in the user's cache (`layer_cache.rs`).
//! The bytes are those of the plan's stream and of the one-pass build.

use crate::assemble::{self, archive_head, archive_tail, layer_header, write_planned_layer};
use crate::layer_cache::{self, LayerCache};
use crate::plan::{self, Draft, Layering, PlannedLayer};
use crate::sink::Sink;
use crate::store;
use anyhow::{bail, Context, Result};
use nci_core::image_spec::ImageSpec;
use nci_core::tar::padding;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// The format of what a stream script holds after its `#!` line.
pub const SCRIPT_FORMAT: u32 = 2;

/// What a stream script holds after its `#!` line.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Script {
    pub version: u32,
    /// The reference the archive names the image with.
    pub reference: String,
    /// The image spec, as the module wrote it.
    pub spec: serde_json::Value,
    pub layering: Layering,
}

/// The text of the stream script of `draft` (whose spec is `spec`, as
/// given), run by `interpreter` (`nci-image`).
pub fn script_text(
    interpreter: &str,
    reference: &str,
    spec: serde_json::Value,
    draft: &Draft<'_>,
) -> Result<String> {
    let script = Script {
        version: SCRIPT_FORMAT,
        reference: reference.to_owned(),
        spec,
        layering: draft.layering()?,
    };
    Ok(format!(
        "#!{interpreter} stream\n{}\n",
        serde_json::to_string(&script)?
    ))
}

/// Reads the stream script `file` (its body after the `#!` line).
pub fn read_script(file: &Path, body: &str) -> Result<Script> {
    let script: Script = serde_json::from_str(body)
        .with_context(|| format!("{}: not a stream script of this nci-image", file.display()))?;
    if script.version != SCRIPT_FORMAT {
        bail!(
            "{}: a stream script of format {}, this nci-image reads format {SCRIPT_FORMAT}",
            file.display(),
            script.version
        );
    }
    Ok(script)
}

/// Runs a stream script: the image's docker-archive on standard output,
/// named `reference` (default: the script's).
pub fn run_script(script: Script, reference: Option<String>) -> Result<()> {
    let spec: ImageSpec = nci_core::nix_build::from_value(script.spec, "spec")?;
    let inputs = crate::plan_inputs(&spec)?;
    let draft = script.layering.into_draft(&spec, inputs.base.as_ref())?;
    let reference = reference.unwrap_or(script.reference);
    let mut sink = assemble::stdout_sink()?;
    let cannot = || "standard output: cannot write the stream";
    let cache = LayerCache::from_env();
    write(draft, &reference, cache.as_ref(), &mut sink).context(cannot())?;
    sink.finish().context(cannot())?;
    Ok(())
}

/// A layer to hash: a store layer (its paths) or the customisation layer.
type Work<'a> = (usize, Option<&'a [String]>);

/// Writes the docker-archive of `draft` into `sink`, hashing its layers
/// (those `cache` has no facts of) on every core in image order while
/// they are written.
pub fn write(
    draft: Draft<'_>,
    reference: &str,
    cache: Option<&LayerCache>,
    sink: &mut Sink,
) -> Result<()> {
    let last = draft.layers.len() - 1;
    let work: Vec<Work<'_>> = draft
        .pending
        .iter()
        .map(|(i, paths)| (*i, Some(paths.as_slice())))
        .chain([(last, None)])
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Result<(usize, PlannedLayer)>>();
    let hashed = std::thread::scope(|s| {
        for _ in 0..threads.min(work.len()) {
            let tx = tx.clone();
            let (draft, work, next, stop) = (&draft, &work, &next, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(&(i, paths)) = work.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let hashed = match paths {
                        Some(paths) => hash_store(draft.store_dir(), i, paths, cache),
                        None => draft.hash_customisation(),
                    };
                    let failed = hashed.is_err();
                    if tx.send(hashed).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let written = write_layers(&draft, rx, sink);
        // After an error (of a hashing thread, or writing), the other
        // threads start no further layer.
        stop.store(true, Ordering::Relaxed);
        written
    })?;
    let plan = draft.complete(hashed)?;
    archive_tail(&mut |b| sink.bytes(b), &plan, reference)
}

/// Hashes the store layer `i` of `paths`, unless `cache` has its facts
/// (then it keeps them).
fn hash_store(
    store_dir: &str,
    i: usize,
    paths: &[String],
    cache: Option<&LayerCache>,
) -> Result<(usize, PlannedLayer)> {
    let cached = cache.and_then(|c| c.get(store_dir, paths));
    let (digest, size, links) = match cached {
        Some(facts) => facts,
        None => {
            let before = layer_cache::stamps(paths);
            let facts = store::hash_store_layer(store_dir, paths, &BTreeMap::new())?;
            if let (Some(c), Some(before)) = (cache, before) {
                c.put(store_dir, paths, before, &facts);
            }
            facts
        }
    };
    Ok((i, plan::store_layer(store_dir, paths, digest, size, links)?))
}

/// Writes the archive's head and every layer in image order, each as
/// soon as it is hashed (a layer whose digest an earlier one has is
/// stored once); returns the layers hashed.
fn write_layers(
    draft: &Draft<'_>,
    hashed: mpsc::Receiver<Result<(usize, PlannedLayer)>>,
    sink: &mut Sink,
) -> Result<Vec<(usize, PlannedLayer)>> {
    archive_head(&mut |b| sink.bytes(b))?;
    let mut ready: BTreeMap<usize, PlannedLayer> = BTreeMap::new();
    let mut done = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, known) in draft.layers.iter().enumerate() {
        let layer = match known {
            Some(l) => l.clone(),
            None => loop {
                if let Some(l) = ready.remove(&i) {
                    break l;
                }
                match hashed.recv() {
                    Ok(r) => {
                        let (j, l) = r?;
                        ready.insert(j, l);
                    }
                    Err(_) => bail!("layer {i} was not hashed"),
                }
            },
        };
        if seen.insert(layer.digest.clone()) {
            sink.bytes(&layer_header(&layer))?;
            write_planned_layer(sink, draft.store_dir(), &layer)?;
            sink.bytes(padding(layer.size))?;
        }
        if known.is_none() {
            done.push((i, layer));
        }
    }
    Ok(done)
}
