//! The customisation layer: everything in the image outside /nix/store.
//! Generated trees (users, /etc, `image.run`) with their ownership
//! manifests, the merged profile (`/bin`, `/sbin`, `/share` from
//! `environment.systemPackages`), extra symlinks, and `/tmp` (mode 1777,
//! as the original project always created it).

use nci_core::error::{Error, Result};
use nci_core::fs_walk::{walk, Modes};
use nci_core::nix_build::read_json;
use nci_core::profile::{self, ProfileItem};
use nci_core::tar::{Entry, Kind};
use nci_core::tree_manifest::TreeManifest;
use std::collections::BTreeMap;
use std::path::Path;

/// Entries keyed by archive path, each remembering where it came from so
/// that a conflict names both sources.
#[derive(Default)]
pub struct Layer {
    entries: BTreeMap<String, (Entry, String)>,
}

impl Layer {
    /// Adds an entry; directories merge, anything else must be unique.
    pub fn add(&mut self, entry: Entry, origin: &str) -> Result<()> {
        self.ensure_parents(&entry.path, origin)?;
        match self.entries.get(&entry.path) {
            Some((old, _)) if old.kind == Kind::Directory && entry.kind == Kind::Directory => {
                // A later tree may set a directory's owner and mode.
                if entry.mode != 0o755 || entry.uid != 0 || entry.gid != 0 {
                    self.entries
                        .insert(entry.path.clone(), (entry, origin.to_owned()));
                }
                Ok(())
            }
            Some((old, _)) if *old == entry => Ok(()),
            Some((_, first)) => Err(Error::Conflict {
                path: format!("/{}", entry.path),
                first: first.clone(),
                second: origin.to_owned(),
            }),
            None => {
                self.entries
                    .insert(entry.path.clone(), (entry, origin.to_owned()));
                Ok(())
            }
        }
    }

    fn ensure_parents(&mut self, path: &str, origin: &str) -> Result<()> {
        let mut parent = Path::new(path).parent();
        let mut missing = Vec::new();
        while let Some(p) = parent.and_then(Path::to_str).filter(|p| !p.is_empty()) {
            match self.entries.get(p) {
                Some((e, _)) if e.kind == Kind::Directory => break,
                Some((_, first)) => {
                    return Err(Error::Conflict {
                        path: format!("/{p}"),
                        first: first.clone(),
                        second: format!("{origin} (needs a directory there)"),
                    })
                }
                None => missing.push(p.to_owned()),
            }
            parent = Path::new(p).parent();
        }
        for p in missing {
            self.entries
                .insert(p.clone(), (Entry::directory(p, 0o755), origin.to_owned()));
        }
        Ok(())
    }

    /// Copies `<tree>/root` into the layer and applies `<tree>/manifest.json`.
    pub fn add_tree(&mut self, tree: &Path) -> Result<()> {
        let origin = tree.display().to_string();
        let root = tree.join("root");
        if root.exists() {
            for e in walk(&root, "", Modes::Writable)? {
                self.add(e, &origin)?;
            }
        }
        let manifest_path = tree.join("manifest.json");
        if manifest_path.exists() {
            let manifest: TreeManifest = read_json(&manifest_path)?;
            if manifest.version != nci_core::tree_manifest::VERSION {
                return Err(Error::invalid(
                    manifest_path.display().to_string(),
                    format!("manifest version {} is not supported", manifest.version),
                ));
            }
            for o in &manifest.entries {
                let key = o.path.trim_start_matches('/');
                let mode = o.mode_bits()?;
                let Some((entry, _)) = self.entries.get_mut(key) else {
                    return Err(Error::invalid(
                        manifest_path.display().to_string(),
                        format!("{} is listed but not in the tree", o.path),
                    ));
                };
                entry.mode = mode;
                entry.uid = o.uid.into();
                entry.gid = o.gid.into();
            }
        }
        Ok(())
    }

    /// Merges the packages' profile directories into the image root
    /// (`nci_core::profile`); an entry a root tree or a link already put
    /// there stays.
    pub fn add_profile(&mut self, packages: &[String], paths: &[String]) -> Result<()> {
        for item in profile::merge("", packages, paths, "environment.systemPackages")? {
            match item {
                ProfileItem::Directory(path) => {
                    self.add(Entry::directory(path, 0o755), "environment.systemPackages")?
                }
                ProfileItem::Symlink { path, target } => {
                    if !self.entries.contains_key(&path) {
                        self.add(Entry::symlink(path, target), "environment.systemPackages")?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The entries in path order, identical files linked to the first.
    pub fn into_entries(self) -> Result<Vec<Entry>> {
        let mut entries: Vec<Entry> = self.entries.into_values().map(|(e, _)| e).collect();
        nci_core::fs_walk::link_identical(&mut entries)?;
        Ok(entries)
    }
}

/// The whole customisation layer for a spec's trees, profile and links.
pub fn build(
    root_trees: &[String],
    profile: &[String],
    profile_paths: &[String],
    symlinks: &BTreeMap<String, String>,
) -> Result<Vec<Entry>> {
    let mut layer = Layer::default();
    layer.add(Entry::directory("tmp", 0o1777), "the image's /tmp")?;
    for tree in root_trees {
        layer.add_tree(Path::new(tree))?;
    }
    // Links before the profile: a link of the modules (`/bin/sh`, NixOS'
    // `environment.binsh`) stands where a package's file of that name
    // would, as NixOS links /bin/sh whatever the system path holds.
    for (link, target) in symlinks {
        let path = link.trim_start_matches('/').to_owned();
        layer.add(
            Entry::symlink(path, target.clone()),
            &format!("symlink {link}"),
        )?;
    }
    layer.add_profile(profile, profile_paths)?;
    layer.into_entries()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn profile_merges_shared_directories_and_links_the_rest() {
        let d = tempfile::tempdir().unwrap();
        for (pkg, file) in [("a", "bin/x"), ("b", "bin/y"), ("b", "share/man/y.1")] {
            let p = d.path().join(pkg).join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let pkgs: Vec<String> = ["a", "b"]
            .iter()
            .map(|p| d.path().join(p).display().to_string())
            .collect();
        let entries = build(&[], &pkgs, &profile::default_paths(), &BTreeMap::new()).unwrap();
        assert_eq!(
            names(&entries),
            ["bin", "bin/x", "bin/y", "share", "share/man", "tmp"]
        );
        let man = entries.iter().find(|e| e.path == "share/man").unwrap();
        assert!(matches!(&man.kind, Kind::Symlink { target } if target.ends_with("b/share/man")));
    }

    #[test]
    fn a_link_of_the_modules_stands_where_a_package_has_the_same_file() {
        let d = tempfile::tempdir().unwrap();
        for file in ["bin/sh", "bin/ls"] {
            let p = d.path().join("busybox").join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let pkgs = vec![d.path().join("busybox").display().to_string()];
        let links = BTreeMap::from([(
            "/bin/sh".to_owned(),
            "/nix/store/x-bash/bin/bash".to_owned(),
        )]);
        let entries = build(&[], &pkgs, &profile::default_paths(), &links).unwrap();
        assert_eq!(names(&entries), ["bin", "bin/ls", "bin/sh", "tmp"]);
        let sh = entries.iter().find(|e| e.path == "bin/sh").unwrap();
        assert!(
            matches!(&sh.kind, Kind::Symlink { target } if target == "/nix/store/x-bash/bin/bash")
        );
    }

    #[test]
    fn a_file_from_two_sources_is_a_conflict_naming_both() {
        let mut l = Layer::default();
        l.add(Entry::bytes("etc/a", 0o644, b"1".to_vec()), "tree one")
            .unwrap();
        let err = l
            .add(Entry::bytes("etc/a", 0o644, b"2".to_vec()), "tree two")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "/etc/a: conflict between tree one and tree two");
    }

    #[test]
    fn manifest_sets_owner_and_mode() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("root/etc")).unwrap();
        std::fs::write(d.path().join("root/etc/shadow"), "root:!:1::::::\n").unwrap();
        std::fs::write(
            d.path().join("manifest.json"),
            r#"{"version":1,"entries":[{"path":"/etc/shadow","mode":"0640","uid":0,"gid":42}]}"#,
        )
        .unwrap();
        let tree = d.path().display().to_string();
        let entries = build(&[tree], &[], &profile::default_paths(), &BTreeMap::new()).unwrap();
        let shadow = entries.iter().find(|e| e.path == "etc/shadow").unwrap();
        assert_eq!((shadow.mode, shadow.gid), (0o640, 42));
        let tmp = entries.iter().find(|e| e.path == "tmp").unwrap();
        assert_eq!(tmp.mode, 0o1777);
    }
}
