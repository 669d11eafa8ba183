//! The stream's cache of store layers' facts (digest, size, hard links),
//! so that running a stream again, or the stream of an image that shares
//! store paths with one streamed before, hashes only the layers it has
//! not met.
//!
//! It is the user's own: a directory of small files in
//! `$NCI_IMAGE_CACHE`, else `$XDG_CACHE_HOME/nci-image/layers`, else
//! `~/.cache/nci-image/layers` (`NCI_IMAGE_CACHE=none` turns it off).
//! Nix builds never use it: only a stream, run by its user, does.
//!
//! An entry is named after the program that wrote it (the `nci-image`
//! store path, so that a writer whose bytes differ never reads another's
//! facts) and the layer's store paths; it holds, besides the facts, the
//! identity of each store path on disk (device, inode, change time to
//! the nanosecond). A store path is read-only: the same identity is the
//! same content. A path deleted and built again (by garbage collection,
//! a build that does not give the same bytes twice) is another inode,
//! made at another time: its entry is not used. Any problem with the
//! cache (unreadable, full disk, a malformed entry) only means hashing.

use crate::tree::Links;
use nci_core::hash::{hex, Digest, Sha256};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The environment variable naming the cache directory (`none`: off).
pub const ENV: &str = "NCI_IMAGE_CACHE";

/// A store path's identity on disk: device, inode, change time (s, ns).
type Stamp = (u64, u64, i64, i64);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    stamps: Vec<Stamp>,
    digest: String,
    size: u64,
    links: Links,
}

/// The cache directory, if any.
pub struct LayerCache {
    dir: PathBuf,
    /// What the writer is (its own path): part of every entry's name.
    writer: String,
}

impl LayerCache {
    /// The user's cache, from the environment; `None` when it is off or
    /// nowhere to be found.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let dir = match var(ENV) {
            Some(v) if v == "none" => return None,
            Some(v) => PathBuf::from(v),
            None => match (var("XDG_CACHE_HOME"), var("HOME")) {
                (Some(x), _) => Path::new(&x).join("nci-image/layers"),
                (None, Some(h)) => Path::new(&h).join(".cache/nci-image/layers"),
                (None, None) => return None,
            },
        };
        let writer = std::env::current_exe().ok()?.to_str()?.to_owned();
        Some(LayerCache { dir, writer })
    }

    fn file(&self, store_dir: &str, paths: &[String]) -> PathBuf {
        let mut h = Sha256::new();
        h.update(b"nci-image layer facts 1\0");
        h.update(self.writer.as_bytes());
        h.update(b"\0");
        h.update(store_dir.as_bytes());
        for p in paths {
            h.update(b"\0");
            h.update(p.as_bytes());
        }
        self.dir.join(hex(&h.finalize()))
    }

    /// The facts of the layer of `paths` (digest, size, links), if an
    /// entry holds them for these very paths on disk.
    pub fn get(&self, store_dir: &str, paths: &[String]) -> Option<(String, u64, Links)> {
        let bytes = std::fs::read(self.file(store_dir, paths)).ok()?;
        let e: Entry = serde_json::from_slice(&bytes).ok()?;
        (e.stamps == stamps(paths)?).then_some((e.digest, e.size, e.links))
    }

    /// Keeps the facts of the layer of `paths`, whose identities were
    /// `before` when it was hashed (nothing is kept if a path changed
    /// meanwhile, or on any error).
    pub fn put(
        &self,
        store_dir: &str,
        paths: &[String],
        before: Vec<Stamp>,
        facts: &(String, u64, Links),
    ) {
        if stamps(paths).as_ref() != Some(&before) {
            return;
        }
        let e = Entry {
            stamps: before,
            digest: facts.0.clone(),
            size: facts.1,
            links: facts.2.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&e) else {
            return;
        };
        let _ = std::fs::create_dir_all(&self.dir);
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&self.dir) else {
            return;
        };
        if std::io::Write::write_all(&mut tmp, &bytes).is_ok() {
            let _ = tmp.persist(self.file(store_dir, paths));
        }
    }
}

/// The identities of `paths` on disk now.
pub fn stamps(paths: &[String]) -> Option<Vec<Stamp>> {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(p).ok()?;
            Some((m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
        })
        .collect()
}
