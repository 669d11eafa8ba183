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

/// Reads and parses a JSON file into `T`, naming the file and the field
/// on failure.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).at(path)?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|e| Error::SpecSyntax {
        file: path.to_owned(),
        at: e.path().to_string(),
        cause: e.into_inner(),
    })?;
    Ok(value)
}

/// Turns an attribute of the structured attributes (already read; `""`:
/// all of them) into `T`; a value of the wrong shape is an error naming the attribute and
/// the field in it (`spec.users.alice.uid: invalid type: ...`), not the
/// temporary file the attributes were in.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value, attribute: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        let field = match (attribute, at.as_str()) {
            ("", "" | ".") => "the builder's attributes".to_owned(),
            (a, "" | ".") => a.to_owned(),
            ("", at) => at.to_owned(),
            (a, at) => format!("{a}.{at}"),
        };
        Error::invalid(field, crate::rules::shorten(&e.into_inner().to_string()))
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
