//! Merging packages into a profile, as NixOS' `buildEnv` does for the
//! system path and per-user profiles: each profile directory (`bin`,
//! `sbin`, `share`) is a real directory; an entry one package provides is
//! a symlink to it; a subdirectory several provide is merged the same way;
//! for a file several provide, the first package wins (NixOS' system path
//! ignores such collisions too).

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The package directories linked into a profile by default: the image
/// root's share of NixOS' `environment.pathsToLink`.
pub const PROFILE_DIRS: [&str; 3] = ["bin", "sbin", "share"];

/// [`PROFILE_DIRS`] as the owned list a spec's default is.
pub fn default_paths() -> Vec<String> {
    PROFILE_DIRS.iter().map(|d| format!("/{d}")).collect()
}

/// One thing a merged profile holds, named relative to the profile root
/// given to [`merge`] (`at`), in path order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileItem {
    Directory(String),
    Symlink { path: String, target: String },
}

/// The merge of `packages` (store paths) into a profile at `at` (`bin`,
/// `etc/profiles/per-user/alice`, ...) of the package subpaths `paths`
/// (NixOS' `environment.pathsToLink`: `/bin`, `/share/man`, `/lib/udev`;
/// one under another listed path adds nothing): the directories, merged
/// subdirectories and symlinks, parents before children. A package that
/// does not exist is an error naming `option`, the option that lists it
/// (a profile left empty would hide it until run time).
pub fn merge(
    at: &str,
    packages: &[String],
    paths: &[String],
    option: &str,
) -> Result<Vec<ProfileItem>> {
    for p in packages {
        if let Err(e) = std::fs::symlink_metadata(p) {
            return Err(Error::invalid(
                option,
                format!("'{}' cannot be read ({e}): a package must be a store path of the build's inputs", crate::rules::quote(p)),
            ));
        }
    }
    let mut wanted: Vec<&str> = paths
        .iter()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let under_another = |p: &str| {
        wanted
            .iter()
            .any(|q| p.len() > q.len() && p.starts_with(q) && p.as_bytes()[q.len()] == b'/')
    };
    let mut items = Vec::new();
    let mut made: Vec<String> = Vec::new();
    for dir in wanted.iter().copied().filter(|p| !under_another(p)) {
        let found: Vec<PathBuf> = packages
            .iter()
            .map(|p| Path::new(p).join(dir))
            .filter(|p| p.symlink_metadata().is_ok())
            .collect();
        let sources: Vec<PathBuf> = found.iter().filter(|p| p.is_dir()).cloned().collect();
        let Some(first) = found.first() else {
            continue;
        };
        let here = if at.is_empty() {
            dir.to_owned()
        } else {
            format!("{at}/{dir}")
        };
        // The parents of a nested path (`lib` of `lib/udev`), once.
        let mut parent = String::new();
        for part in dir.split('/').take(dir.split('/').count() - 1) {
            parent = if parent.is_empty() {
                part.to_owned()
            } else {
                format!("{parent}/{part}")
            };
            let path = if at.is_empty() {
                parent.clone()
            } else {
                format!("{at}/{parent}")
            };
            if !made.contains(&path) {
                items.push(ProfileItem::Directory(path.clone()));
                made.push(path);
            }
        }
        if sources.is_empty() {
            // A file (`/etc/foo.conf`): the first package's, linked.
            items.push(ProfileItem::Symlink {
                path: here,
                target: first.to_string_lossy().into_owned(),
            });
        } else {
            merge_dirs(&here, &sources, &mut items)?;
        }
    }
    Ok(items)
}

fn merge_dirs(at: &str, sources: &[PathBuf], items: &mut Vec<ProfileItem>) -> Result<()> {
    items.push(ProfileItem::Directory(at.to_owned()));
    let mut children: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for src in sources {
        for item in std::fs::read_dir(src).map_err(|e| Error::io(src, e))? {
            let item = item.map_err(|e| Error::io(src, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            children.entry(name).or_default().push(item.path());
        }
    }
    for (name, paths) in children {
        let here = format!("{at}/{name}");
        let dirs: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).cloned().collect();
        if dirs.len() > 1 {
            merge_dirs(&here, &dirs, items)?;
        } else if let Some(first) = paths.first() {
            items.push(ProfileItem::Symlink {
                path: here,
                target: first.to_string_lossy().into_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_directories_merge_and_the_first_package_wins() {
        let d = tempfile::tempdir().unwrap();
        for (pkg, file) in [
            ("a", "bin/x"),
            ("b", "bin/x"),
            ("b", "bin/y"),
            ("b", "share/man/y.1"),
        ] {
            let p = d.path().join(pkg).join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, pkg).unwrap();
        }
        let pkgs: Vec<String> = ["a", "b"]
            .iter()
            .map(|p| d.path().join(p).display().to_string())
            .collect();
        let link = |path: &str, pkg: &str, rel: &str| ProfileItem::Symlink {
            path: path.into(),
            target: d.path().join(pkg).join(rel).display().to_string(),
        };
        assert_eq!(
            merge("p", &pkgs, &default_paths(), "o").unwrap(),
            [
                ProfileItem::Directory("p/bin".into()),
                link("p/bin/x", "a", "bin/x"),
                link("p/bin/y", "b", "bin/y"),
                ProfileItem::Directory("p/share".into()),
                link("p/share/man", "b", "share/man"),
            ]
        );
        assert_eq!(
            merge("", &pkgs, &default_paths(), "o").unwrap()[0],
            ProfileItem::Directory("bin".into())
        );
    }

    #[test]
    fn paths_to_link_adds_nested_paths_with_their_parents_once() {
        let d = tempfile::tempdir().unwrap();
        for file in [
            "bin/x",
            "lib/udev/rules.d/1.rules",
            "lib/libx.so",
            "share/man/x.1",
        ] {
            let p = d.path().join("a").join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let pkgs = vec![d.path().join("a").display().to_string()];
        let paths: Vec<String> = [
            "/share/man",
            "/lib/udev",
            "/bin",
            "/share",
            "/etc/xdg",
            "/lib/libx.so",
        ]
        .iter()
        .map(|p| p.to_string())
        .collect();
        let got: Vec<String> = merge("", &pkgs, &paths, "o")
            .unwrap()
            .into_iter()
            .map(|i| match i {
                ProfileItem::Directory(p) => format!("{p}/"),
                ProfileItem::Symlink { path, .. } => path,
            })
            .collect();
        // lib/ is made once, for lib/udev and lib/libx.so (a file: linked),
        // not linked whole; share/man is in share; a path no package has is
        // not made.
        assert_eq!(
            got,
            [
                "bin/",
                "bin/x",
                "lib/",
                "lib/libx.so",
                "lib/udev/",
                "lib/udev/rules.d",
                "share/",
                "share/man"
            ]
        );
    }

    #[test]
    fn a_missing_package_is_an_error_naming_the_option() {
        let e = merge(
            "",
            &["/nix/store/00000000000000000000000000000000-gone".into()],
            &default_paths(),
            "environment.systemPackages",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("environment.systemPackages: '/nix/store/00000000000000000000000000000000-gone' cannot be read (No such file or directory"),
            "{e}"
        );
    }
}
