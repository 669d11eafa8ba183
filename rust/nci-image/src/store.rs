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

/// Writes the tar of the layer of store `paths` into `sink` with the
/// hard links `links` (as planned) applied.
pub fn planned_layer<S: TreeSink>(
    mut sink: S,
    store_dir: &str,
    paths: &[String],
    links: &Links,
) -> Result<S> {
    for e in store_dirs() {
        sink.bytes(&e.header_blocks())?;
    }
    let mut walker = Walker::applying(sink, links);
    for p in paths {
        walker.tree(p, &archive_prefix(store_dir, p)?)?;
    }
    let mut sink = walker.finish()?;
    sink.bytes(&ZEROS)?;
    Ok(sink)
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

#[cfg(test)]
pub(crate) mod tests {
    //! The two walkers of the workspace: `nci_core::fs_walk` (entries in
    //! memory, for the customisation layer and store paths folded into
    //! it) and `tree.rs`' one-pass walker (store layers, for speed). They
    //! must write the same members; this walks one real tree with both.

    use super::*;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    /// Keeps the archive the walker writes.
    #[derive(Default)]
    pub(crate) struct Keep(pub(crate) Vec<u8>);

    impl TreeSink for Keep {
        fn bytes(&mut self, b: &[u8]) -> Result<()> {
            self.0.extend_from_slice(b);
            Ok(())
        }
        fn content(&mut self, f: File, size: u64, data: Option<&[u8]>, _: &str) -> Result<()> {
            match data {
                Some(d) => self.0.extend_from_slice(d),
                None => {
                    let start = self.0.len();
                    f.take(size).read_to_end(&mut self.0)?;
                    assert_eq!((self.0.len() - start) as u64, size);
                }
            }
            Ok(())
        }
    }

    /// The archive of `entries` as the entry writers put it together.
    fn archive_of(entries: &[Entry]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            out.extend(e.header_blocks());
            if let Kind::File { source, size } = &e.kind {
                out.extend(std::fs::read(source).unwrap());
                out.extend_from_slice(tar_padding(*size));
            }
        }
        out.extend_from_slice(&ZEROS);
        out
    }

    fn tar_padding(size: u64) -> &'static [u8] {
        nci_core::tar::padding(size)
    }

    /// Every member: (name, type, mode, size, link target, content).
    type Member = (String, u8, u32, u64, Option<String>, Vec<u8>);

    fn members(archive: &[u8]) -> Vec<Member> {
        let mut ar = tar::Archive::new(archive);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned());
                let mut content = Vec::new();
                e.read_to_end(&mut content).unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type().as_byte(),
                    h.mode().unwrap(),
                    h.size().unwrap(),
                    link,
                    content,
                )
            })
            .collect()
    }

    fn write(p: &Path, content: &[u8], mode: u32) {
        std::fs::write(p, content).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A store path with what a walker can get wrong: sibling order
    /// (`a`, `a-b`, `a.b`, `B`, a directory `a` before `a-b`), modes,
    /// empty files, symlinks (dangling too), a hard link on disk, files
    /// of one size with the same or different bytes and modes, a big one.
    pub(crate) fn tricky_tree(store: &Path) -> String {
        let root = store.join("0123456789abcdfghijklmnpqrsvwxyz-tricky");
        let r = root.as_path();
        for d in ["a", "a/b", "a-b", "B", "é", "deep/er/still"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        write(&r.join("a.b"), b"same", 0o444);
        write(&r.join("a/b/x"), b"same", 0o444);
        write(&r.join("a-b/x"), b"same", 0o555);
        write(&r.join("a-b/y"), b"same", 0o555);
        write(&r.join("B/diff"), b"sane", 0o444);
        write(&r.join("B/empty"), b"", 0o444);
        write(&r.join("é/empty"), b"", 0o444);
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        write(&r.join("deep/big1"), &big, 0o444);
        write(&r.join("deep/er/big2"), &big, 0o444);
        let mut other = big.clone();
        *other.last_mut().unwrap() ^= 1;
        write(&r.join("deep/er/still/big3"), &other, 0o444);
        std::fs::hard_link(r.join("a.b"), r.join("deep/er/hard")).unwrap();
        std::os::unix::fs::symlink("../a.b", r.join("B/rel")).unwrap();
        std::os::unix::fs::symlink("/nowhere/at/all", r.join("B/dangling")).unwrap();
        std::fs::set_permissions(r.join("a/b"), std::fs::Permissions::from_mode(0o555)).unwrap();
        root.to_str().unwrap().to_owned()
    }

    #[test]
    fn both_walkers_write_the_same_members_and_links_of_a_real_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().to_str().unwrap();
        let path = tricky_tree(dir.path());

        let mut entries = store_dirs().to_vec();
        let mut walked = walk(
            Path::new(&path),
            &archive_prefix(store, &path).unwrap(),
            Modes::AsOnDisk,
        )
        .unwrap();
        let walk_links = link_identical(&mut walked).unwrap();
        entries.extend(walked);
        let by_entries = archive_of(&entries);

        let (keep, tree_links) = store_layer(
            Keep::default(),
            store,
            std::slice::from_ref(&path),
            &Default::default(),
        )
        .unwrap();
        let by_tree = keep.0;

        assert_eq!(members(&by_tree), members(&by_entries));
        assert_eq!(tree_links, walk_links);
        // Links were decided at all: a.b's bytes at 0444 (and its hard
        // link), a-b's at 0555, the big file.
        assert_eq!(tree_links.len(), 4, "{tree_links:?}");
        assert!(by_tree == by_entries, "the archives differ in bytes");
        let mut buf = vec![0; 4096];
        let (digest, size) = digest_entries(&entries, &mut buf).unwrap();
        let (tree_digest, tree_size, _) =
            hash_store_layer(store, std::slice::from_ref(&path), &Default::default()).unwrap();
        assert_eq!((tree_digest, tree_size), (digest, size));
        // Readable again for the temporary directory's removal.
        std::fs::set_permissions(
            Path::new(&path).join("a/b"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
}
