//! The `.stream` output: a script that writes the image's docker-archive
//! to standard output, hashing each layer as it goes.
//!
//! Building the stream hashes nothing: it decides the layering (which
//! store paths go in which layer, in what order, the customisation
//! layer's entries: the reference graph gives all of it) and keeps it in
//! the script. Running the script hashes the layers and writes them. A
//! layer's member in the archive is named after its digest, so a layer
//! is hashed before it is written: the layers are made ready (hashed,
//! and rendered: `render.rs`) in image order on every core while the
//! main thread writes them, each as soon as it is ready, then the config
//! and manifests, which need every digest, close the archive (as
//! nixpkgs' `streamLayeredImage` does). A store layer met before (in
//! this image or another) is not hashed again: its facts are in the
//! user's cache (`layer_cache.rs`).
//! The bytes are those of the plan's stream and of the one-pass build.

use crate::assemble::{self, archive_head, archive_tail, layer_header, write_planned_layer};
use crate::layer_cache::{self, LayerCache};
use crate::parallel::in_order;
use crate::plan::{self, Draft, Layering, PlannedLayer, Source};
use crate::render::{self, Buffers, Rendered};
use crate::sink::Sink;
use anyhow::{bail, Context, Result};
use nci_core::image_spec::ImageSpec;
use nci_core::tar::padding;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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

/// A layer ready to write: complete (hashed, or known), and its store
/// layer rendered ahead (`None`: the writer walks it as it writes).
struct Ready {
    layer: PlannedLayer,
    rendered: Option<Rendered>,
    /// Its index, when it was hashed here: the plan needs it to complete.
    hashed: Option<usize>,
}

/// Writes the docker-archive of `draft` into `sink`. The layers are made
/// ready in image order on every core, a few ahead of the one being
/// written: those neither planned nor in `cache` hashed, every store
/// layer rendered ([`crate::render`]). The main thread writes each as
/// soon as it and those before it are ready; then the config and
/// manifests, which need every digest.
pub fn write(
    draft: Draft<'_>,
    reference: &str,
    cache: Option<&LayerCache>,
    sink: &mut Sink,
) -> Result<()> {
    let pending: BTreeMap<usize, &[String]> = draft
        .pending
        .iter()
        .map(|(i, paths)| (*i, paths.as_slice()))
        .collect();
    let indexes: Vec<usize> = (0..draft.layers.len()).collect();
    // Each layer ready and not yet written holds up to render::MEMORY.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ahead = (threads + 1).min(8);
    archive_head(&mut |b| sink.bytes(b))?;
    let mut seen = BTreeSet::new();
    let mut hashed = Vec::new();
    let buffers = Buffers::default();
    in_order(
        &indexes,
        ahead,
        |&i| ready(&draft, i, pending.get(&i).copied(), cache, &buffers),
        |ready| {
            let layer = &ready.layer;
            // A layer whose digest an earlier one has is stored once.
            if seen.insert(layer.digest.clone()) {
                sink.bytes(&layer_header(layer))?;
                match &ready.rendered {
                    Some(r) => r.write(sink, layer.size, &layer.comment)?,
                    None => write_planned_layer(sink, draft.store_dir(), layer)?,
                }
                sink.bytes(padding(layer.size))?;
            }
            if let Some(r) = ready.rendered {
                buffers.give(r);
            }
            if let Some(i) = ready.hashed {
                hashed.push((i, ready.layer));
            }
            Ok(())
        },
    )?;
    let plan = draft.complete(hashed)?;
    archive_tail(&mut |b| sink.bytes(b), &plan, reference)
}

/// Makes layer `i` of `draft` ready: `paths` when it is a store layer
/// still to hash (unless `cache` has its facts).
fn ready(
    draft: &Draft<'_>,
    i: usize,
    paths: Option<&[String]>,
    cache: Option<&LayerCache>,
    buffers: &Buffers,
) -> Result<Ready> {
    let store_dir = draft.store_dir();
    if let Some(layer) = &draft.layers[i] {
        return Ok(Ready {
            rendered: render_planned(store_dir, layer, buffers)?,
            layer: layer.clone(),
            hashed: None,
        });
    }
    let Some(paths) = paths else {
        let (_, layer) = draft.hash_customisation()?;
        return Ok(Ready {
            layer,
            rendered: None,
            hashed: Some(i),
        });
    };
    if let Some((digest, size, links)) = cache.and_then(|c| c.get(store_dir, paths)) {
        let layer = plan::store_layer(store_dir, paths, digest, size, links)?;
        return Ok(Ready {
            rendered: render_planned(store_dir, &layer, buffers)?,
            layer,
            hashed: Some(i),
        });
    }
    let before = layer_cache::stamps(paths);
    let (digest, size, links, rendered) = render::hashed(store_dir, paths, buffers)?;
    let facts = (digest, size, links);
    if let (Some(c), Some(before)) = (cache, before) {
        c.put(store_dir, paths, before, &facts);
    }
    let (digest, size, links) = facts;
    Ok(Ready {
        layer: plan::store_layer(store_dir, paths, digest, size, links)?,
        rendered,
        hashed: Some(i),
    })
}

/// The rendering of a planned store layer (other layers: `None`).
fn render_planned(
    store_dir: &str,
    layer: &PlannedLayer,
    buffers: &Buffers,
) -> Result<Option<Rendered>> {
    match &layer.source {
        Source::Store { paths, links } => render::planned(store_dir, paths, links, buffers),
        _ => Ok(None),
    }
}
