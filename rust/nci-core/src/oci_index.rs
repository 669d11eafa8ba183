//! The image index that joins one image per architecture under one tag
//! (`lib.makeMultiArchImage`): OCI's image index
//! (`application/vnd.oci.image.index.v1+json`) or, where asked, Docker's
//! manifest list (`application/vnd.docker.distribution.manifest.list.v2+json`),
//! whose entries are Docker schema 2 manifests. Written once here for the
//! OCI layout (nci-image) and the push (nci-push), so both list the same
//! platforms the same way.
//!
//! Each entry's platform is read from its image's config (`architecture`,
//! `os`, `variant`): an engine that pulls by platform (`podman pull
//! --arch arm64`) then gets the config that says the same.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Which kind of index (the `format` argument of `lib.makeMultiArchImage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexFormat {
    /// OCI image index of OCI manifests.
    #[default]
    Oci,
    /// Docker manifest list of Docker schema 2 manifests.
    Docker,
}

impl IndexFormat {
    pub fn index_media_type(self) -> &'static str {
        match self {
            IndexFormat::Oci => OCI_INDEX,
            IndexFormat::Docker => DOCKER_LIST,
        }
    }
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            IndexFormat::Oci => OCI_MANIFEST,
            IndexFormat::Docker => DOCKER_MANIFEST,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    /// An index with no image.
    #[error("an image index needs at least one image (lib.makeMultiArchImage: systems is empty)")]
    Empty,
    /// A config without the platform fields.
    #[error("{image}: the image config has no {field}")]
    NoPlatform { image: String, field: &'static str },
    /// Two images for one platform: an engine could not choose.
    #[error("{first} and {second} are both for {platform}: an index has one image per platform (lib.makeMultiArchImage: systems)")]
    SamePlatform {
        first: String,
        second: String,
        platform: String,
    },
    /// A manifest that is not the JSON an image writer makes.
    #[error("{image}: the manifest is not an OCI image manifest")]
    NotAManifest { image: String },
    /// A layer Docker's schema 2 has no media type for.
    #[error("{image}: Docker's manifest list (format = \"docker\") cannot carry a layer of type {media_type}; use format = \"oci\"")]
    NoDockerType { image: String, media_type: String },
}

/// `os/architecture[/variant]` of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// The platform a config blob declares; `image` names it in errors.
    pub fn of_config(image: &str, config: &str) -> Result<Platform, IndexError> {
        let v: Value = serde_json::from_str(config).unwrap_or(Value::Null);
        let field = |name: &'static str| {
            v[name]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or(IndexError::NoPlatform {
                    image: image.to_owned(),
                    field: name,
                })
        };
        Ok(Platform {
            architecture: field("architecture")?,
            os: field("os")?,
            variant: v["variant"].as_str().map(str::to_owned),
        })
    }
}

/// One image of the index: its manifest's exact bytes and its platform.
#[derive(Debug, Clone)]
pub struct Member {
    /// Names the image in errors (its Nix system, `x86_64-linux`).
    pub name: String,
    pub manifest: String,
    pub platform: Platform,
}

/// The index's exact bytes: one entry per member, in the order given
/// (the order of `systems`), each with its manifest's digest, size and
/// platform. Same members, same bytes.
pub fn index_json(format: IndexFormat, members: &[Member]) -> Result<String, IndexError> {
    if members.is_empty() {
        return Err(IndexError::Empty);
    }
    for (i, a) in members.iter().enumerate() {
        if let Some(b) = members[i + 1..].iter().find(|b| b.platform == a.platform) {
            return Err(IndexError::SamePlatform {
                first: a.name.clone(),
                second: b.name.clone(),
                platform: a.platform.to_string(),
            });
        }
    }
    let manifests: Vec<Value> = members
        .iter()
        .map(|m| {
            json!({
                "mediaType": format.manifest_media_type(),
                "digest": format!("sha256:{}", crate::hash::sha256_hex(m.manifest.as_bytes())),
                "size": m.manifest.len(),
                "platform": m.platform,
            })
        })
        .collect();
    Ok(json!({
        "schemaVersion": 2,
        "mediaType": format.index_media_type(),
        "manifests": manifests,
    })
    .to_string())
}

/// The manifest an index of `format` lists for an image whose OCI
/// manifest is `oci`: the same bytes for OCI; for Docker, the same
/// config and layer blobs under Docker's schema 2 media types.
pub fn manifest_for(format: IndexFormat, image: &str, oci: &str) -> Result<String, IndexError> {
    if format == IndexFormat::Oci {
        return Ok(oci.to_owned());
    }
    let not_manifest = || IndexError::NotAManifest {
        image: image.to_owned(),
    };
    let mut m: Value = serde_json::from_str(oci).map_err(|_| not_manifest())?;
    if !m["config"].is_object() || !m["layers"].is_array() {
        return Err(not_manifest());
    }
    m["mediaType"] = json!(DOCKER_MANIFEST);
    m["config"]["mediaType"] = json!(DOCKER_CONFIG);
    for layer in m["layers"].as_array_mut().into_iter().flatten() {
        let oci_type = layer["mediaType"].as_str().unwrap_or("").to_owned();
        let docker_type = match oci_type.as_str() {
            "application/vnd.oci.image.layer.v1.tar" => {
                "application/vnd.docker.image.rootfs.diff.tar"
            }
            "application/vnd.oci.image.layer.v1.tar+gzip" => {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            }
            _ => {
                return Err(IndexError::NoDockerType {
                    image: image.to_owned(),
                    media_type: oci_type,
                })
            }
        };
        layer["mediaType"] = json!(docker_type);
    }
    if let Some(obj) = m.as_object_mut() {
        obj.remove("annotations");
    }
    Ok(m.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, arch: &str) -> Member {
        let config = format!(r#"{{"architecture":"{arch}","os":"linux"}}"#);
        Member {
            name: name.into(),
            manifest: format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"sha256:{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{}","size":10240}}]}}"#,
                crate::hash::sha256_hex(config.as_bytes()),
                config.len(),
                crate::hash::sha256_hex(arch.as_bytes())
            ),
            platform: Platform::of_config(name, &config).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn index_lists_each_manifest_with_its_digest_and_platform() {
        let ms = [
            member("x86_64-linux", "amd64"),
            member("aarch64-linux", "arm64"),
        ];
        let text = index_json(IndexFormat::Oci, &ms).unwrap_or_else(|e| panic!("{e}"));
        // Same members, same bytes.
        assert_eq!(index_json(IndexFormat::Oci, &ms).unwrap_or_default(), text);
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], OCI_INDEX);
        let entries = v["manifests"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 2);
        for (e, m) in entries.iter().zip(&ms) {
            assert_eq!(e["mediaType"], OCI_MANIFEST);
            assert_eq!(
                e["digest"],
                format!("sha256:{}", crate::hash::sha256_hex(m.manifest.as_bytes()))
            );
            assert_eq!(e["size"], m.manifest.len());
            assert_eq!(e["platform"]["os"], "linux");
            assert_eq!(e["platform"]["architecture"], m.platform.architecture);
            assert!(e["platform"].get("variant").is_none());
        }
    }

    #[test]
    fn errors_name_the_images_and_the_option() {
        assert_eq!(
            index_json(IndexFormat::Oci, &[]).err().map(|e| e.to_string()),
            Some("an image index needs at least one image (lib.makeMultiArchImage: systems is empty)".into())
        );
        let two = [
            member("x86_64-linux", "amd64"),
            member("x86_64-linux-again", "amd64"),
        ];
        assert_eq!(
            index_json(IndexFormat::Oci, &two).err().map(|e| e.to_string()),
            Some("x86_64-linux and x86_64-linux-again are both for linux/amd64: an index has one image per platform (lib.makeMultiArchImage: systems)".into())
        );
        assert_eq!(
            Platform::of_config("aarch64-linux", r#"{"os":"linux"}"#)
                .err()
                .map(|e| e.to_string()),
            Some("aarch64-linux: the image config has no architecture".into())
        );
    }

    #[test]
    fn docker_list_lists_schema2_manifests_of_the_same_blobs() {
        let m = member("aarch64-linux", "arm64");
        let docker = manifest_for(IndexFormat::Docker, &m.name, &m.manifest)
            .unwrap_or_else(|e| panic!("{e}"));
        let (o, d): (Value, Value) = (
            serde_json::from_str(&m.manifest).unwrap_or_default(),
            serde_json::from_str(&docker).unwrap_or_default(),
        );
        assert_eq!(d["mediaType"], DOCKER_MANIFEST);
        assert_eq!(d["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(d["config"]["digest"], o["config"]["digest"]);
        assert_eq!(d["layers"][0]["digest"], o["layers"][0]["digest"]);
        assert_eq!(
            d["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar"
        );
        let list = index_json(
            IndexFormat::Docker,
            &[Member {
                manifest: docker,
                ..m.clone()
            }],
        )
        .unwrap_or_default();
        let l: Value = serde_json::from_str(&list).unwrap_or_default();
        assert_eq!(l["mediaType"], DOCKER_LIST);
        assert_eq!(l["manifests"][0]["mediaType"], DOCKER_MANIFEST);
        // OCI: the manifest is the image's own, byte for byte.
        assert_eq!(
            manifest_for(IndexFormat::Oci, &m.name, &m.manifest).ok(),
            Some(m.manifest.clone())
        );
        let zstd = m.manifest.replace("v1.tar\"", "v1.tar+zstd\"");
        assert_eq!(
            manifest_for(IndexFormat::Docker, "aarch64-linux", &zstd).err().map(|e| e.to_string()),
            Some("aarch64-linux: Docker's manifest list (format = \"docker\") cannot carry a layer of type application/vnd.oci.image.layer.v1.tar+zstd; use format = \"oci\"".into())
        );
    }
}
