//! The environment Nix gives a builder with `__structuredAttrs = true`:
//! every derivation attribute in `.attrs.json`, outputs under `outputs`.

use crate::error::{Error, IoContext, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The `outputs` of the structured attributes of a single-output
/// derivation: where the builder writes its result.
#[derive(Debug, Deserialize)]
pub struct Outputs {
    pub out: PathBuf,
}

/// Where the structured attributes are: `$NIX_ATTRS_JSON_FILE`, or
/// `.attrs.json` in the build directory (older Nix).
pub fn attrs_file() -> PathBuf {
    std::env::var_os("NIX_ATTRS_JSON_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".attrs.json"))
}

/// Reads and parses a JSON file into `T`, naming the file on failure.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).at(path)?;
    serde_json::from_slice(&bytes).map_err(|cause| Error::SpecSyntax {
        file: path.to_owned(),
        cause,
    })
}

/// The directory `out` goes in (`.` for a bare file name): where an
/// output's temporary files go, so that renaming them into place is
/// atomic.
pub fn dir_of(out: &Path) -> &Path {
    out.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The hash part of a store path (`/nix/store/<hash>-name` → `<hash>`),
/// which nixpkgs uses as a content-derived image tag.
pub fn store_path_hash(path: &str) -> Option<&str> {
    let base = path.rsplit('/').next()?;
    let (hash, _) = base.split_once('-')?;
    (hash.len() == 32).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_part_of_a_store_path() {
        assert_eq!(
            store_path_hash("/nix/store/6nay8h0c41vvgvbzvdrq7mg49aqivm4f-a"),
            Some("6nay8h0c41vvgvbzvdrq7mg49aqivm4f")
        );
        assert_eq!(store_path_hash("/tmp/out"), None);
    }
}
