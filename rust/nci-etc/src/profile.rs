//! Per-user profiles (`users.users.<name>.packages`): NixOS links them
//! into `/etc/profiles/per-user/<name>`; so does the users tree. Each
//! profile directory (`bin`, `sbin`, `share`) is a real directory whose
//! entries link into the packages; a subdirectory two packages provide is
//! merged the same way; for a file two provide, the first package wins.

use crate::tree::Tree;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directories linked, as for `environment.systemPackages`.
pub const PROFILE_DIRS: [&str; 3] = ["bin", "sbin", "share"];

pub fn link(tree: &mut Tree, at: &str, packages: &[String]) -> Result<()> {
    tree.dir(at)?;
    for dir in PROFILE_DIRS {
        let sources: Vec<PathBuf> = packages
            .iter()
            .map(|p| Path::new(p).join(dir))
            .filter(|p| p.is_dir())
            .collect();
        if !sources.is_empty() {
            merge(tree, &format!("{at}/{dir}"), &sources)?;
        }
    }
    Ok(())
}

fn merge(tree: &mut Tree, at: &str, sources: &[PathBuf]) -> Result<()> {
    tree.dir(at)?;
    let mut children: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for src in sources {
        for item in std::fs::read_dir(src).with_context(|| src.display().to_string())? {
            let item = item.with_context(|| src.display().to_string())?;
            let name = item.file_name().to_string_lossy().into_owned();
            children.entry(name).or_default().push(item.path());
        }
    }
    for (name, paths) in children {
        let here = format!("{at}/{name}");
        let dirs: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).cloned().collect();
        if dirs.len() > 1 {
            merge(tree, &here, &dirs)?;
        } else if let Some(first) = paths.first() {
            tree.symlink(&here, &first.to_string_lossy())?;
        }
    }
    Ok(())
}
