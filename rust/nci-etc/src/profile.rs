//! Per-user profiles (`users.users.<name>.packages`): NixOS links them
//! into `/etc/profiles/per-user/<name>`; so does the users tree, with the
//! merge `environment.systemPackages` uses (`nci_core::profile`).

use crate::tree::Tree;
use anyhow::Result;
use nci_core::profile::{self, ProfileItem};

pub fn link(tree: &mut Tree, at: &str, packages: &[String], option: &str) -> Result<()> {
    tree.dir(at)?;
    for item in profile::merge(at, packages, &profile::default_paths(), option)? {
        match item {
            ProfileItem::Directory(path) => tree.dir(&path)?,
            ProfileItem::Symlink { path, target } => tree.symlink(&path, &target)?,
        }
    }
    Ok(())
}
