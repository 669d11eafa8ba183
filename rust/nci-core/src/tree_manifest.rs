//! The ownership manifest that comes with a generated tree (users, /etc,
//! `image.run` output): the image writer applies it to tar headers, so no
//! build step needs root. Written as `<tree>/manifest.json` beside
//! `<tree>/root`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TreeManifest {
    pub version: u32,
    /// Ownership and modes of paths under `root/`; paths not listed are
    /// root-owned, 0755 for directories and executables, 0644 otherwise.
    pub entries: Vec<Ownership>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Ownership {
    /// Absolute path in the image (`/etc/shadow`).
    pub path: String,
    /// Octal permission bits as a string (`"0640"`, `"1777"`).
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
}

impl Ownership {
    /// The mode bits, validated.
    pub fn mode_bits(&self) -> Result<u32> {
        parse_mode(&self.mode).ok_or_else(|| {
            Error::invalid(
                format!("manifest entry {}", self.path),
                format!("mode '{}' is not 3 or 4 octal digits", self.mode),
            )
        })
    }
}

/// Parses `"644"`, `"0640"` or `"1777"` into permission bits.
pub fn parse_mode(mode: &str) -> Option<u32> {
    let ok = (3..=4).contains(&mode.len()) && mode.chars().all(|c| ('0'..='7').contains(&c));
    ok.then(|| u32::from_str_radix(mode, 8).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("1777"), Some(0o1777));
        assert_eq!(parse_mode("755"), Some(0o755));
        assert_eq!(parse_mode("888"), None);
        assert_eq!(parse_mode("rw"), None);
        assert_eq!(parse_mode("07777"), None);
    }
}
