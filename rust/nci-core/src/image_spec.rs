//! The image spec (contract version 1), written by `modules/image-build.nix`
//! and read by `nci-image`. Field docs name the Nix option each comes from;
//! `validate` rejects what Docker or the OCI spec would reject, naming the
//! option.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageSpec {
    /// Contract version; must be [`VERSION`].
    pub version: u32,
    /// `image.name`: the repository part of the reference.
    pub name: String,
    /// `image.tag`; `None` means the hash part of the output path.
    pub tag: Option<String>,
    /// `image.created`, RFC 3339.
    pub created: String,
    /// The OCI architecture (`amd64`, `arm64`, ...), from the Nix system.
    pub architecture: String,
    /// The container config (Docker's `config` object).
    pub config: ContainerConfig,
    /// `image.maxLayers`: store paths beyond this share the last layer.
    pub max_layers: usize,
    /// Store paths whose closure goes into the image, one layer each.
    pub store_roots: Vec<String>,
    /// Generated trees (users, /etc, ...): `<tree>/root` is copied to the
    /// image root, `<tree>/manifest.json` gives ownership and modes.
    #[serde(default)]
    pub root_trees: Vec<String>,
    /// Packages merged into `/bin`, `/sbin`, `/share` (NixOS' system path).
    #[serde(default)]
    pub profile: Vec<String>,
    /// Extra symlinks in the image root (`/bin/sh` → bash, ...).
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
    /// The directory store paths are in; each store path is written to
    /// the image as `/nix/store/<name>`.
    #[serde(default = "default_store_dir")]
    pub store_dir: String,
    /// Layer facts of single store paths, computed by one derivation per
    /// path (`nci-image layer`): the plan reuses their digests.
    #[serde(default)]
    pub layer_infos: Vec<LayerInfoRef>,
    /// `image.from`: a base image (docker-archive file or OCI layout).
    #[serde(default)]
    pub from: Option<String>,
    /// The base image as `nci-image base` described it (so that its
    /// layers are hashed once, by their own derivation).
    #[serde(default)]
    pub from_info: Option<String>,
}

/// Where the layer facts of one store path are.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LayerInfoRef {
    pub path: String,
    pub info: String,
}

fn default_store_dir() -> String {
    "/nix/store".to_owned()
}

/// Docker's container config; `None`/empty fields are left out.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerConfig {
    #[serde(rename = "Entrypoint", skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(rename = "WorkingDir", skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(rename = "User", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(
        rename = "Volumes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(rename = "Labels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "StopSignal", skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// The `{}` Docker uses as a set member.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

impl ImageSpec {
    /// Checks every field, naming the option of the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.version != VERSION {
            return Err(Error::invalid(
                "version",
                format!(
                    "spec version {} is not supported (expected {VERSION}); rebuild with a matching nci-image",
                    self.version
                ),
            ));
        }
        validate_name(&self.name)?;
        if let Some(tag) = &self.tag {
            validate_tag(tag)?;
        }
        validate_created(&self.created)?;
        if self.max_layers < 1 {
            return Err(Error::invalid(
                "image.maxLayers",
                "must be at least 1 (the customisation layer needs one)",
            ));
        }
        for p in self
            .store_roots
            .iter()
            .chain(&self.root_trees)
            .chain(&self.profile)
        {
            if !p.starts_with("/nix/store/") && !p.starts_with('/') {
                return Err(Error::invalid(
                    "storeRoots",
                    format!("'{p}' is not an absolute store path"),
                ));
            }
        }
        for port in self.config.exposed_ports.keys() {
            validate_port(port)?;
        }
        for path in self.config.volumes.keys() {
            if !path.starts_with('/') {
                return Err(Error::invalid(
                    "image.volumes",
                    format!("'{path}' must be an absolute path"),
                ));
            }
        }
        if let Some(dir) = &self.config.working_dir {
            if !dir.is_empty() && !dir.starts_with('/') {
                return Err(Error::invalid(
                    "image.workingDir",
                    format!("'{dir}' must be an absolute path"),
                ));
            }
        }
        for var in &self.config.env {
            match var.split_once('=') {
                Some((k, _)) if !k.is_empty() => {}
                _ => {
                    return Err(Error::invalid(
                        "image.env",
                        format!("'{var}' is not NAME=value"),
                    ))
                }
            }
        }
        for (link, target) in &self.symlinks {
            if !link.starts_with('/') || target.is_empty() {
                return Err(Error::invalid(
                    "symlinks",
                    format!("'{link}' -> '{target}' needs an absolute link path and a target"),
                ));
            }
        }
        Ok(())
    }
}

/// Docker's repository name grammar: lowercase components of
/// `[a-z0-9]+` joined by `.`, `_`, `__` or `-`, separated by `/`.
fn validate_name(name: &str) -> Result<()> {
    let ok_component = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars().all(|ch| {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
            })
    };
    // A registry host may carry a port (`localhost:5000/app`).
    let (host, rest) = match name.split_once('/') {
        Some((h, r)) if h.contains(['.', ':']) || h == "localhost" => (Some(h), r),
        _ => (None, name),
    };
    let host_ok = host.is_none_or(|h| {
        h.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | ':'))
    });
    if name.is_empty() || name.len() > 255 || !host_ok || !rest.split('/').all(ok_component) {
        return Err(Error::invalid(
            "image.name",
            format!(
                "'{name}' is not a valid image name: use lowercase letters, digits and '.', '_', '-' between them, with '/' between path components"
            ),
        ));
    }
    Ok(())
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "image.tag",
            format!("'{tag}' is not a valid tag: up to 128 of letters, digits, '_', '.', '-', not starting with '.' or '-'"),
        ))
    }
}

/// A minimal RFC 3339 check (`YYYY-MM-DDTHH:MM:SS` then `Z` or an offset).
fn validate_created(created: &str) -> Result<()> {
    let b = created.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (created.ends_with(['Z', 'z']) || created[19..].contains(['+', '-']));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "image.created",
            format!("'{created}' is not an RFC 3339 date such as 1970-01-01T00:00:01Z"),
        ))
    }
}

/// `<port>[/tcp|/udp|/sctp]` with a port in 1..=65535.
fn validate_port(spec: &str) -> Result<()> {
    let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    if port_ok && matches!(proto, "tcp" | "udp" | "sctp") {
        Ok(())
    } else {
        Err(Error::invalid(
            "image.exposedPorts",
            format!("'{spec}' is not <port>/<tcp|udp|sctp> with a port from 1 to 65535"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ImageSpec {
        serde_json::from_str(
            r#"{"version":1,"name":"hello","tag":null,"created":"1970-01-01T00:00:01Z",
                "architecture":"amd64","config":{},"maxLayers":100,"storeRoots":[]}"#,
        )
        .unwrap()
    }

    fn err(s: &ImageSpec) -> String {
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_spec_is_valid() {
        spec().validate().unwrap();
    }

    #[test]
    fn bad_names_name_the_option() {
        for bad in ["Hello", "", "a//b", "-a", "a b"] {
            let mut s = spec();
            s.name = bad.into();
            assert!(err(&s).starts_with("image.name: "), "{bad}");
        }
        for good in ["a", "my-app/web_1", "localhost:5000/x", "ghcr.io/o/r"] {
            let mut s = spec();
            s.name = good.into();
            s.validate().unwrap();
        }
    }

    #[test]
    fn bad_tags_ports_dates_and_layers_are_rejected() {
        let mut s = spec();
        s.tag = Some(".x".into());
        assert!(err(&s).starts_with("image.tag: "));
        let mut s = spec();
        s.config.exposed_ports.insert("70000/tcp".into(), Empty {});
        assert!(err(&s).starts_with("image.exposedPorts: "));
        let mut s = spec();
        s.created = "yesterday".into();
        assert!(err(&s).starts_with("image.created: "));
        let mut s = spec();
        s.max_layers = 0;
        assert!(err(&s).starts_with("image.maxLayers: "));
        let mut s = spec();
        s.version = 7;
        assert!(err(&s).starts_with("version: "));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let r: std::result::Result<ImageSpec, _> = serde_json::from_str(
            r#"{"version":1,"name":"a","tag":null,"created":"1970-01-01T00:00:01Z",
                "architecture":"amd64","config":{},"maxLayers":1,"storeRoots":[],"bogus":1}"#,
        );
        assert!(r.unwrap_err().to_string().contains("bogus"));
    }
}
