//! Turns a directory on disk into sorted tar entries under an archive
//! prefix. Hard links inside one walk are kept as links to the first
//! occurrence.

use crate::error::{Error, IoContext, Result};
use crate::tar::{Entry, Kind};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
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
/// `dir` itself becomes `<prefix>` unless `prefix` is empty.
pub fn walk(dir: &Path, prefix: &str, modes: Modes) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
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
            let key = (meta.dev(), meta.ino());
            match inodes.get(&key) {
                Some(first) if meta.nlink() > 1 => Kind::HardLink {
                    target: first.clone(),
                },
                _ => {
                    if meta.nlink() > 1 {
                        inodes.insert(key, name.clone());
                    }
                    Kind::File {
                        source: item.path().to_owned(),
                        size: meta.len(),
                    }
                }
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
        let got = walk(d, "nix/store/x", Modes::Writable).unwrap();
        let names: Vec<_> = got.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "nix/store/x",
                "nix/store/x/a",
                "nix/store/x/b",
                "nix/store/x/b/z",
                "nix/store/x/c",
                "nix/store/x/l"
            ]
        );
        assert_eq!(
            got[4].kind,
            Kind::HardLink {
                target: "nix/store/x/a".into()
            }
        );
        assert_eq!(got[5].kind, Kind::Symlink { target: "a".into() });
        assert_eq!(got[1].mode, 0o644);
        assert_eq!(got[2].mode, 0o755);
    }
}
