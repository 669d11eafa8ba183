//! Nix's registration format, what `nix-store --load-db` reads (and
//! nixpkgs' `closureInfo` writes): for each path, its path, NAR hash, NAR
//! size, deriver (empty), number of references, then the references.

use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathInfo {
    pub path: String,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub nar_hash: String,
    #[serde(default)]
    pub nar_size: u64,
}

/// Paths by name, so the registration is sorted and free of duplicates.
#[derive(Debug, Default)]
pub struct Graph {
    paths: BTreeMap<String, PathInfo>,
}

impl Graph {
    pub fn extend(&mut self, infos: impl IntoIterator<Item = PathInfo>) {
        for i in infos {
            self.paths.insert(i.path.clone(), i);
        }
    }

    pub fn registration(&self) -> Result<String> {
        let mut out = String::new();
        for info in self.paths.values() {
            if info.nar_hash.is_empty() {
                bail!("{}: the reference graph has no narHash for it", info.path);
            }
            let mut refs = info.references.clone();
            refs.sort();
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "{}\n{}\n{}\n\n{}\n",
                info.path,
                info.nar_hash,
                info.nar_size,
                refs.len()
            );
            for r in refs {
                let _ = writeln!(out, "{r}");
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(path: &str, refs: &[&str]) -> PathInfo {
        PathInfo {
            path: path.into(),
            references: refs.iter().map(|r| r.to_string()).collect(),
            nar_hash: format!("sha256:{}", "0".repeat(52)),
            nar_size: 120,
        }
    }

    #[test]
    fn registration_lists_each_path_once_sorted_with_its_references() {
        let mut g = Graph::default();
        g.extend([info("/nix/store/b", &["/nix/store/a", "/nix/store/b"])]);
        g.extend([
            info("/nix/store/a", &[]),
            info("/nix/store/b", &["/nix/store/b", "/nix/store/a"]),
        ]);
        let hash = format!("sha256:{}", "0".repeat(52));
        assert_eq!(
            g.registration().unwrap(),
            format!("/nix/store/a\n{hash}\n120\n\n0\n/nix/store/b\n{hash}\n120\n\n2\n/nix/store/a\n/nix/store/b\n")
        );
    }

    #[test]
    fn a_path_without_hash_is_an_error_naming_it() {
        let mut g = Graph::default();
        let mut i = info("/nix/store/x", &[]);
        i.nar_hash.clear();
        g.extend([i]);
        assert!(g
            .registration()
            .unwrap_err()
            .to_string()
            .starts_with("/nix/store/x: "));
    }
}
