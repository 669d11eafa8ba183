//! A generated tree as the image writer takes it: files under `root/`,
//! owners and modes in `manifest.json`. Written to a temporary directory
//! and renamed into place, so a failure leaves nothing behind (inside a
//! Nix build, Nix removes a failed output itself).

use anyhow::{Context, Result};
use nci_core::etc_spec::path_components;
use nci_core::tree_manifest::{Ownership, TreeManifest, VERSION};
use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct Tree {
    dir: PathBuf,
    owners: BTreeMap<String, Ownership>,
}

impl Tree {
    /// A tree written directly at `dir`, which must not exist.
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        std::fs::create_dir(dir.join("root"))
            .with_context(|| format!("{}: cannot create root/", dir.display()))?;
        Ok(Tree {
            dir: dir.to_owned(),
            owners: BTreeMap::new(),
        })
    }

    /// Where the image path `/a/b` lives on disk.
    fn host(&self, path: &str) -> PathBuf {
        self.dir.join("root").join(path.trim_start_matches('/'))
    }

    fn parent_of(&self, path: &str) -> Result<()> {
        if let Some(parent) = self.host(path).parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create", parent.display()))?;
        }
        Ok(())
    }

    /// Records the owner and mode the image writer gives `path`. The
    /// manifest names it as the image writer does (`/home/alice/` is
    /// `/home/alice`), or the writer would not find it in the tree.
    pub fn own(&mut self, path: &str, mode: u32, uid: u32, gid: u32) {
        let path = format!("/{}", path_components(path).join("/"));
        self.owners.insert(
            path.clone(),
            Ownership {
                path,
                mode: format!("{mode:04o}"),
                uid,
                gid,
            },
        );
    }

    pub fn dir(&mut self, path: &str) -> Result<()> {
        let host = self.host(path);
        std::fs::create_dir_all(&host).with_context(|| format!("{}: cannot create", host.display()))
    }

    pub fn file(&mut self, path: &str, content: &[u8]) -> Result<()> {
        self.parent_of(path)?;
        let host = self.host(path);
        std::fs::write(&host, content)
            .with_context(|| format!("{}: cannot write", host.display()))?;
        // The image gets 0644 unless the manifest says otherwise.
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o644))
            .with_context(|| host.display().to_string())
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.parent_of(path)?;
        let host = self.host(path);
        symlink(target, &host)
            .with_context(|| format!("{}: cannot create the symlink", host.display()))
    }

    /// Writes `manifest.json` (entries in path order).
    pub fn finish(self) -> Result<()> {
        let manifest = TreeManifest {
            version: VERSION,
            entries: self.owners.into_values().collect(),
        };
        let path = self.dir.join("manifest.json");
        let mut json = serde_json::to_vec_pretty(&manifest)?;
        json.push(b'\n');
        std::fs::write(&path, json).with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// Runs `write` on a fresh tree at `out`. Outside Nix (`in_place` false)
/// the tree is written beside `out` and renamed into place at the end.
pub fn write_at(
    out: &Path,
    in_place: bool,
    write: impl FnOnce(&mut Tree) -> Result<()>,
) -> Result<()> {
    if in_place {
        let mut tree = Tree::new(out)?;
        write(&mut tree)?;
        return tree.finish();
    }
    if out.exists() {
        anyhow::bail!("{}: already exists", out.display());
    }
    let parent = nci_core::nix_build::dir_of(out);
    let tmp = tempfile::Builder::new()
        .prefix(".nci-etc-")
        .tempdir_in(parent)
        .with_context(|| format!("{}: cannot create a temporary directory", parent.display()))?;
    let dir = tmp.path().join("tree");
    let mut tree = Tree::new(&dir)?;
    write(&mut tree)?;
    tree.finish()?;
    std::fs::rename(&dir, out)
        .with_context(|| format!("{}: cannot move the tree into place", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_are_named_as_the_image_writer_names_them() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("t");
        write_at(&out, false, |tree| {
            tree.dir("/var/lib//svc/")?;
            tree.own("/var/lib//./svc/", 0o750, 5, 6);
            Ok(())
        })
        .unwrap();
        let manifest: TreeManifest =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest.entries.len(), 1);
        assert_eq!(manifest.entries[0].path, "/var/lib/svc");
        assert!(out.join("root/var/lib/svc").is_dir());
    }
}
