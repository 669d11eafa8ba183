//! Nix's registration format, what `nix-store --load-db` reads (and
//! nixpkgs' `closureInfo` writes): for each path, its path, NAR hash, NAR
//! size, deriver (empty), number of references, then the references.

use anyhow::{bail, Result};
use nci_core::closure::Closure;
use std::fmt::Write;

/// The registration of every path of a closure, sorted by path.
pub fn registration(closure: &Closure) -> Result<String> {
    let mut out = String::new();
    for info in closure.paths.values() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use nci_core::closure::PathInfo;

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
        let mut g = Closure::from_infos([info("/nix/store/b", &["/nix/store/a", "/nix/store/b"])]);
        g.extend(Closure::from_infos([
            info("/nix/store/a", &[]),
            info("/nix/store/b", &["/nix/store/b", "/nix/store/a"]),
        ]));
        let hash = format!("sha256:{}", "0".repeat(52));
        assert_eq!(
            registration(&g).unwrap(),
            format!("/nix/store/a\n{hash}\n120\n\n0\n/nix/store/b\n{hash}\n120\n\n2\n/nix/store/a\n/nix/store/b\n")
        );
    }

    #[test]
    fn a_path_without_hash_is_an_error_naming_it() {
        let mut i = info("/nix/store/x", &[]);
        i.nar_hash.clear();
        assert!(registration(&Closure::from_infos([i]))
            .unwrap_err()
            .to_string()
            .starts_with("/nix/store/x: "));
    }
}
