//! Turns a directory on disk into sorted tar entries under an archive
//! prefix, and turns identical files into hard links.
//!
//! Hard links are decided by content, never by inode: a Nix store path
//! has the same content (NAR) on every machine, but which of its files
//! share an inode depends on store optimisation (`auto-optimise-store`,
//! `nix-store --optimise`) and on whether the path was built or
//! substituted. [`link_identical`] links a file to the first earlier file
//! with the same bytes, mode and owner, so every hard link on disk is
//! kept, and the archive is the same whether the store was optimised or
//! not.

use crate::error::{Error, IoContext, Result};
use crate::hash::sha256_file;
use crate::tar::{Entry, Kind};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// How modes of walked entries are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    /// Keep the permission bits on disk (store paths: 0444/0555).
    AsOnDisk,
    /// 0755 for directories and executables, 0644 for other files: what a
    /// generated tree means when the store made it read-only.
    Writable,
}

/// Walks `dir` (following no symlinks), naming entries `<prefix>/<rel>`;
/// `dir` itself becomes `<prefix>` unless `prefix` is empty. Entries come
/// in depth-first order, siblings sorted by name; every file is a
/// regular file (see [`link_identical`]).
pub fn walk(dir: &Path, prefix: &str, modes: Modes) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for item in WalkDir::new(dir).sort_by_file_name().follow_links(false) {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            Error::io(path, e.into())
        })?;
        let rel = item.path().strip_prefix(dir).unwrap_or(item.path());
        let rel = rel.to_str().ok_or_else(|| {
            Error::invalid(item.path().display().to_string(), "file name is not UTF-8")
        })?;
        let name = match (prefix.is_empty(), rel.is_empty()) {
            (true, true) => continue,
            (true, false) => rel.to_owned(),
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}/{rel}"),
        };
        let meta = item.path().symlink_metadata().at(item.path())?;
        let ft = meta.file_type();
        let on_disk = meta.mode() & 0o7777;
        let exec = on_disk & 0o111 != 0;
        let mode = match modes {
            Modes::AsOnDisk => on_disk,
            Modes::Writable if ft.is_dir() || exec => 0o755,
            Modes::Writable => 0o644,
        };
        let kind = if ft.is_dir() {
            Kind::Directory
        } else if ft.is_symlink() {
            let target = std::fs::read_link(item.path()).at(item.path())?;
            let target = target.to_str().ok_or_else(|| {
                Error::invalid(
                    item.path().display().to_string(),
                    "symlink target is not UTF-8",
                )
            })?;
            Kind::Symlink {
                target: target.to_owned(),
            }
        } else if ft.is_file() {
            Kind::File {
                source: item.path().to_owned(),
                size: meta.len(),
            }
        } else {
            return Err(Error::invalid(
                item.path().display().to_string(),
                "only directories, files and symlinks can go into an image",
            ));
        };
        let mode = if matches!(kind, Kind::Symlink { .. }) {
            0o777
        } else {
            mode
        };
        out.push(Entry::new(name, mode, kind));
    }
    Ok(out)
}

/// Turns every regular file whose content, mode and owner equal those of
/// an earlier file of `entries` into a hard link to that first file.
/// Only files that share a size with another are read; files that share
/// an inode are known identical without reading. Empty files stay files.
/// Returns the links made, as (link path, target path).
pub fn link_identical(entries: &mut [Entry]) -> Result<Vec<(String, String)>> {
    // Candidates: same size, mode, owner.
    let mut groups: BTreeMap<(u64, u32, u64, u64), Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Kind::File { size, .. } = e.kind {
            if size > 0 {
                groups
                    .entry((size, e.mode, e.uid, e.gid))
                    .or_default()
                    .push(i);
            }
        }
    }
    let mut links = Vec::new();
    for members in groups.into_values().filter(|m| m.len() > 1) {
        // Identity of content: the inode when shared, else the digest.
        let mut by_inode: HashMap<(u64, u64), [u8; 32]> = HashMap::new();
        let mut first_with: HashMap<[u8; 32], usize> = HashMap::new();
        for i in members {
            let Kind::File { source, .. } = &entries[i].kind else {
                continue;
            };
            let source: PathBuf = source.clone();
            let meta = source.metadata().at(&source)?;
            let key = (meta.dev(), meta.ino());
            let digest = match by_inode.get(&key) {
                Some(d) => *d,
                None => {
                    let d = sha256_file(&source)?;
                    by_inode.insert(key, d);
                    d
                }
            };
            match first_with.get(&digest) {
                Some(&first) => {
                    let target = entries[first].path.clone();
                    links.push((entries[i].path.clone(), target.clone()));
                    entries[i].kind = Kind::HardLink { target };
                }
                None => {
                    first_with.insert(digest, i);
                }
            }
        }
    }
    links.sort();
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_with_links_and_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("b")).unwrap();
        std::fs::write(d.join("b/z"), "z").unwrap();
        std::fs::write(d.join("a"), "a").unwrap();
        std::fs::hard_link(d.join("a"), d.join("c")).unwrap();
        std::os::unix::fs::symlink("a", d.join("l")).unwrap();
        std::fs::write(d.join("d"), "a").unwrap();
        std::fs::write(d.join("e"), "b").unwrap();
        let mut got = walk(d, "nix/store/x", Modes::Writable).unwrap();
        assert!(got.iter().all(|e| !matches!(e.kind, Kind::HardLink { .. })));
        let links = link_identical(&mut got).unwrap();
        // c shares a's inode, d has a's bytes: both link to a; e differs.
        assert_eq!(links.len(), 2);
        let names: Vec<_> = got.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "nix/store/x",
                "nix/store/x/a",
                "nix/store/x/b",
                "nix/store/x/b/z",
                "nix/store/x/c",
                "nix/store/x/d",
                "nix/store/x/e",
                "nix/store/x/l"
            ]
        );
        assert_eq!(
            got[4].kind,
            Kind::HardLink {
                target: "nix/store/x/a".into()
            }
        );
        assert_eq!(
            got[5].kind,
            Kind::HardLink {
                target: "nix/store/x/a".into()
            }
        );
        assert!(matches!(got[6].kind, Kind::File { .. }));
        assert_eq!(got[7].kind, Kind::Symlink { target: "a".into() });
        // A second walk links the same files the same way.
        let mut again = walk(d, "nix/store/x", Modes::Writable).unwrap();
        assert_eq!(link_identical(&mut again).unwrap(), links);
        assert_eq!(again, got);
        assert_eq!(got[1].mode, 0o644);
        assert_eq!(got[2].mode, 0o755);
    }
}
