//! The image spec (contract version 1), written by `modules/image-build.nix`
//! and read by `nci-image`. Field docs name the Nix option each comes from;
//! `validate` rejects what Docker or the OCI spec would reject, naming the
//! option.

use crate::error::{Error, Result};
use crate::rules;
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
    /// `environment.pathsToLink`: the package subpaths the profile links
    /// (`/bin`, `/sbin`, `/share` and what modules add).
    #[serde(default = "crate::profile::default_paths")]
    pub profile_paths: Vec<String>,
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
    crate::STORE_DIR.to_owned()
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
            return Err(Error::unsupported_version(
                "image",
                self.version,
                VERSION,
                "nci-image",
            ));
        }
        rules::image_name().require("image.name", &self.name)?;
        if let Some(tag) = &self.tag {
            rules::image_tag().require("image.tag", tag)?;
        }
        rules::rfc3339().require("image.created", &self.created)?;
        rules::max_layers().require("image.maxLayers", &self.max_layers.to_string())?;
        for p in self
            .store_roots
            .iter()
            .chain(&self.root_trees)
            .chain(&self.profile)
        {
            if !p.starts_with('/') {
                return Err(Error::invalid(
                    "storeRoots",
                    format!("'{}' is not an absolute store path", rules::quote(p)),
                ));
            }
        }
        for port in self.config.exposed_ports.keys() {
            rules::port().require("image.exposedPorts", port)?;
        }
        if let Some(signal) = &self.config.stop_signal {
            rules::signal().require("image.stopSignal", signal)?;
        }
        for path in self.config.volumes.keys() {
            rules::absolute_path().require("image.volumes", path)?;
        }
        if let Some(dir) = &self.config.working_dir {
            rules::absolute_path().require("image.workingDir", dir)?;
        }
        for var in &self.config.env {
            match var.split_once('=') {
                Some((name, _)) => rules::env_name().require("image.env", name)?,
                None => {
                    return Err(Error::invalid(
                        "image.env",
                        format!("'{}' is not NAME=value", rules::quote(var)),
                    ))
                }
            }
        }
        for (link, target) in &self.symlinks {
            if !link.starts_with('/') || target.is_empty() {
                return Err(Error::invalid(
                    "symlinks",
                    format!(
                        "'{}' -> '{}' needs an absolute link path and a target",
                        rules::quote(link),
                        rules::quote(target)
                    ),
                ));
            }
        }
        Ok(())
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
        for bad in ["Hello", "", "a//b", "-a", "a b", "MyRegistry/app"] {
            let mut s = spec();
            s.name = bad.into();
            assert!(err(&s).starts_with("image.name: "), "{bad}");
        }
        for good in [
            "a",
            "my-app/web_1",
            "localhost:5000/x",
            "localhost/x",
            "ghcr.io/o/r",
            "My.Registry:5000/app",
            "registry:5000/app",
        ] {
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
        assert!(err(&s).starts_with("image spec: version 7 is not supported"));
    }

    /// One row of `tests/golden/bad-inputs.json`: the table of bad values
    /// the Nix modules (L3, `t_L3_bad_inputs_table_...`) and the helpers
    /// (here) must refuse with the same message.
    #[derive(Deserialize, Serialize)]
    struct BadInput {
        option: String,
        value: serde_json::Value,
        message: String,
        /// The levels that see the value (both when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        levels: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<String>,
        /// Settings of other options the row needs (the s6 rows').
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<serde_json::Value>,
    }

    fn table_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/bad-inputs.json")
    }

    /// The spec with the table's value put where the option puts it.
    fn with_bad(input: &BadInput) -> ImageSpec {
        let mut s = spec();
        let text = input.value.as_str().unwrap_or_default().to_owned();
        match input.option.as_str() {
            "image.name" => s.name = text,
            "image.tag" => s.tag = Some(text),
            "image.exposedPorts" => {
                s.config.exposed_ports.insert(text, Empty {});
            }
            "image.stopSignal" => s.config.stop_signal = Some(text),
            "image.created" => s.created = text,
            "image.env" => s.config.env.push(format!("{text}=c")),
            "image.workingDir" => s.config.working_dir = Some(text),
            "image.volumes" => {
                s.config.volumes.insert(text, Empty {});
            }
            "image.maxLayers" => s.max_layers = input.value.as_u64().unwrap_or(1) as usize,
            other => panic!("bad-inputs.json: no way to put {other} in an image spec"),
        }
        s
    }

    #[test]
    fn the_bad_inputs_table_is_refused_with_its_messages() {
        let text = std::fs::read_to_string(table_path()).unwrap();
        let mut table: Vec<BadInput> = serde_json::from_str(&text).unwrap();
        let mut wrong = Vec::new();
        for input in table.iter_mut().filter(|i| {
            i.option.starts_with("image.")
                && i.levels
                    .as_ref()
                    .is_none_or(|l| l.iter().any(|l| l == "L1"))
        }) {
            let got = with_bad(input).validate().map_err(|e| e.to_string());
            let got = got.err().unwrap_or_else(|| "(accepted)".into());
            if got != input.message {
                wrong.push(format!("{} = {}: got {got}", input.option, input.value));
                input.message = got;
            }
        }
        if std::env::var_os("NCI_UPDATE_GOLDEN").is_some() {
            let mut out = serde_json::to_string_pretty(&table).unwrap();
            out.push('\n');
            std::fs::write(table_path(), out).unwrap();
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
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
