//! Store-path layers: the tar entries of one or more store paths, and the
//! facts about a single path's layer (digest, size, hard links) that a
//! small derivation per store path computes once and Nix caches.

use crate::tree::{hash_exact, HashSink, Links, TreeSink, Walker};
use anyhow::{bail, Context, Result};
use nci_core::fs_walk::{link_identical, walk, Modes};
use nci_core::hash::{hex, Digest, Sha256};
use nci_core::tar::{round_up, Entry, Kind};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::Path;

/// Version of [`PathLayer`] files and of the layer format: a change to
/// the bytes of store layers bumps it, so no stale cached digest is used.
pub const LAYER_FORMAT: u32 = 1;

/// What the per-store-path derivation writes: the layer that holds this
/// one store path, as [`layer_entries`] makes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathLayer {
    pub version: u32,
    pub path: String,
    /// Hex SHA-256 of the layer tar.
    pub digest: String,
    pub size: u64,
    /// Files written as hard links to an identical earlier file.
    pub links: Links,
}

/// The archive name of a store path: `nix/store/<base name>`, whatever
/// directory the store is in (tests and benchmarks use other stores).
pub fn archive_prefix(store_dir: &str, path: &str) -> Result<String> {
    let dir = store_dir.trim_end_matches('/');
    match path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        Some(name) if !name.is_empty() && !name.contains('/') => Ok(format!("nix/store/{name}")),
        _ => bail!(
            "{}: not a store path (a direct child of storeDir {})",
            nci_core::rules::quote(path),
            nci_core::rules::quote(dir)
        ),
    }
}

/// The walk of one store path (which the plan has checked is on disk),
/// with identical files linked.
pub fn path_entries(store_dir: &str, path: &str) -> Result<Vec<Entry>> {
    let prefix = archive_prefix(store_dir, path)?;
    let mut entries = walk(Path::new(path), &prefix, Modes::AsOnDisk)?;
    link_identical(&mut entries)?;
    Ok(entries)
}

/// The two directories every store layer starts with.
pub fn store_dirs() -> [Entry; 2] {
    [
        Entry::directory("nix", 0o755),
        Entry::directory("nix/store", 0o755),
    ]
}

/// Hashes the tar of `entries` without writing it: (hex digest, size).
pub fn digest_entries(entries: &[Entry], buf: &mut [u8]) -> Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut size = 0u64;
    for e in entries {
        let header = e.header_blocks();
        h.update(&header);
        size += header.len() as u64;
        if let Kind::File { source, size: want } = &e.kind {
            let path = source.display().to_string();
            let f = File::open(source).with_context(|| path.clone())?;
            hash_exact(&mut h, &f, *want, buf, &path)?;
            let padded = round_up(*want);
            h.update(&ZEROS[..(padded - want) as usize]);
            size += padded;
        }
    }
    h.update(&ZEROS[..1024]);
    size += 1024;
    Ok((hex(&h.finalize()), size))
}

static ZEROS: [u8; 1024] = [0; 1024];

/// Writes the tar of the layer of store `paths` into `sink` in one pass:
/// `cached` gives the links of paths whose facts are known (applied),
/// the others' links are decided. Returns the sink and the links of
/// every path in order.
pub fn store_layer<S: TreeSink>(
    mut sink: S,
    store_dir: &str,
    paths: &[String],
    cached: &std::collections::BTreeMap<String, PathLayer>,
) -> Result<(S, Links)> {
    for e in store_dirs() {
        sink.bytes(&e.header_blocks())?;
    }
    let mut links = Vec::new();
    let mut walker = Walker::deciding(sink);
    for p in paths {
        let prefix = archive_prefix(store_dir, p)?;
        match cached.get(p) {
            Some(pl) => {
                walker.apply(&pl.links)?;
                walker.tree(p, &prefix)?;
                links.extend(pl.links.iter().cloned());
            }
            None => {
                walker.decide()?;
                links.extend(walker.tree(p, &prefix)?);
            }
        }
    }
    let mut sink = walker.finish()?;
    sink.bytes(&ZEROS)?;
    Ok((sink, links))
}

/// Hashes the layer of store `paths` without writing it (see
/// [`store_layer`]): (hex digest, size, links).
pub fn hash_store_layer(
    store_dir: &str,
    paths: &[String],
    cached: &std::collections::BTreeMap<String, PathLayer>,
) -> Result<(String, u64, Links)> {
    let (sink, links) = store_layer(HashSink::default(), store_dir, paths, cached)?;
    let (digest, size) = sink.finish();
    Ok((digest, size, links))
}

/// Computes the facts of the layer that holds only `path`.
pub fn path_layer(store_dir: &str, path: &str) -> Result<PathLayer> {
    let (digest, size, links) =
        hash_store_layer(store_dir, &[path.to_owned()], &Default::default())?;
    Ok(PathLayer {
        version: LAYER_FORMAT,
        path: path.to_owned(),
        digest,
        size,
        links,
    })
}
