//! `nci-etc nix-builder text`: a file made of parts, each a literal text
//! or the content of a file. `environment.etc.<name>.text` becomes one
//! (as NixOS' `pkgs.writeText` makes it), and so does a CA bundle with
//! extra certificates.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Part {
    Text(String),
    File(String),
}

pub fn concat(parts: &[Part]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) => out.extend_from_slice(t.as_bytes()),
            Part::File(f) => {
                out.extend(std::fs::read(f).with_context(|| format!("{f}: cannot read"))?)
            }
        }
    }
    Ok(out)
}

pub fn write(parts: &[Part], out: &Path) -> Result<()> {
    let bytes = concat(parts)?;
    std::fs::write(out, bytes).with_context(|| format!("{}: cannot write", out.display()))
}
