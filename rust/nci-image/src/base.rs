//! `image.from`: reads a base image (a docker-archive file, possibly with
//! an OCI layout inside as Docker ≥ 25 and nci-image write it, or an OCI
//! image layout directory), checks every layer against its digest, and
//! describes where each layer's bytes are, so that the image writer copies
//! them without unpacking or recompressing anything.

use crate::plan::{PlannedLayer, Source};
use anyhow::{anyhow, bail, Context, Result};
use nci_core::hash::{hex, is_sha256_hex, Digest, Sha256};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const VERSION: u32 = 1;

/// What the base-image derivation writes (and the plan reads).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BaseImage {
    pub version: u32,
    /// The archive or layout the layers are read from.
    pub source: String,
    pub layers: Vec<PlannedLayer>,
    /// The base's whole image config (`config`, `rootfs`, `history`, ...).
    pub config: Value,
}

const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Reads the base image at `path`; every error names it.
pub fn read(path: &Path) -> Result<BaseImage> {
    read_inner(path).with_context(|| format!("image.from: {}", path.display()))
}

fn read_inner(path: &Path) -> Result<BaseImage> {
    let meta = std::fs::metadata(path).context("cannot read it")?;
    let (layers, config) = if meta.is_dir() {
        read_oci_dir(path)?
    } else {
        read_archive(path)?
    };
    Ok(BaseImage {
        version: VERSION,
        source: path.display().to_string(),
        layers,
        config,
    })
}

/// A member of a tar file: where its bytes start and how many.
#[derive(Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

fn read_archive(path: &Path) -> Result<(Vec<PlannedLayer>, Value)> {
    let mut f = File::open(path).context("cannot open it")?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).context("cannot read it")?;
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        bail!("is gzip-compressed; give the uncompressed docker-archive (for example the output of `gunzip -c`)");
    }
    f.seek(SeekFrom::Start(0))?;
    let mut first = [0u8; 512];
    let is_tar = f.read_exact(&mut first).is_ok() && {
        let h = tar::Header::from_byte_slice(&first);
        h.cksum().ok() == Some(checksum(&first))
    };
    if !is_tar {
        bail!("not a docker-archive or OCI layout: not a tar archive");
    }
    f.seek(SeekFrom::Start(0))?;
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut ar = tar::Archive::new(&mut f);
    let entries = ar
        .entries()
        .context("not a docker-archive or OCI layout: not a tar archive")?;
    for e in entries {
        let e = e.context("not a readable tar archive (truncated or corrupt)")?;
        let name = e
            .path()
            .context("a member name is not valid")?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let size = e.header().size().context("a member size is not valid")?;
        members.insert(
            name,
            Member {
                offset: e.raw_file_position(),
                size,
            },
        );
    }
    let file_len = std::fs::metadata(path)?.len();
    if members.values().any(|m| m.offset + m.size > file_len) {
        bail!("is truncated: a member ends past the end of the file");
    }
    let read_member = |name: &str| -> Result<Vec<u8>> {
        let m = members
            .get(name)
            .ok_or_else(|| anyhow!("{name} is listed but not in the archive"))?;
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(m.offset))?;
        let mut v = vec![0u8; usize::try_from(m.size)?];
        f.read_exact(&mut v)
            .with_context(|| format!("{name}: truncated"))?;
        Ok(v)
    };
    if members.contains_key("index.json") && members.contains_key("oci-layout") {
        let blob = |digest: &str| -> Result<(Member, Vec<u8>)> {
            let name = blob_name(digest)?;
            let m = *members
                .get(&name)
                .ok_or_else(|| anyhow!("{name} is listed but not in the archive"))?;
            Ok((m, read_member(&name)?))
        };
        return read_oci(
            path,
            &read_member("index.json")?,
            |d| blob(d),
            |d| {
                let name = blob_name(d)?;
                members
                    .get(&name)
                    .map(|m| (m.offset, m.size))
                    .ok_or_else(|| anyhow!("{name} is listed but not in the archive"))
            },
        );
    }
    if !members.contains_key("manifest.json") {
        bail!("not a docker-archive or OCI layout: it has no manifest.json or index.json");
    }
    // Docker's own format: manifest.json names the config and layer files.
    let manifest: Value = serde_json::from_slice(&read_member("manifest.json")?)
        .context("manifest.json is not JSON")?;
    let first = manifest
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| anyhow!("manifest.json lists no image"))?;
    let config_name = first["Config"]
        .as_str()
        .ok_or_else(|| anyhow!("manifest.json has no Config"))?;
    let config_bytes = read_member(config_name)?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .with_context(|| format!("{config_name} is not JSON"))?;
    let diff_ids = diff_ids(&config)?;
    let names: Vec<&str> = first["Layers"]
        .as_array()
        .ok_or_else(|| anyhow!("manifest.json has no Layers"))?
        .iter()
        .map(|l| {
            l.as_str()
                .ok_or_else(|| anyhow!("manifest.json: a layer is not a string"))
        })
        .collect::<Result<_>>()?;
    if names.len() != diff_ids.len() {
        bail!(
            "manifest.json lists {} layers but the config has {} diff_ids",
            names.len(),
            diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (name, diff_id) in names.iter().zip(&diff_ids) {
        let m = *members
            .get(*name)
            .ok_or_else(|| anyhow!("{name} is listed but not in the archive"))?;
        let (digest, head) = hash_range(path, m.offset, m.size)?;
        let media_type = media_type_of(&head);
        if media_type == OCI_TAR && digest != *diff_id {
            bail!(
                "{name}: its content does not match its diff_id sha256:{diff_id} (corrupt archive)"
            );
        }
        layers.push(PlannedLayer {
            digest,
            size: m.size,
            media_type: media_type.to_owned(),
            comment: format!("base layer {name}"),
            source: Source::Base {
                file: path.display().to_string(),
                offset: m.offset,
            },
        });
    }
    Ok((layers, config))
}

fn read_oci_dir(dir: &Path) -> Result<(Vec<PlannedLayer>, Value)> {
    let index = std::fs::read(dir.join("index.json"))
        .context("not a docker-archive or OCI layout: the directory has no index.json")?;
    let blob_path = |d: &str| -> Result<std::path::PathBuf> { Ok(dir.join(blob_name(d)?)) };
    read_oci(
        dir,
        &index,
        |d| {
            let p = blob_path(d)?;
            let bytes = std::fs::read(&p)
                .with_context(|| format!("{}: missing blob", blob_name(d).unwrap_or_default()))?;
            Ok((
                Member {
                    offset: 0,
                    size: bytes.len() as u64,
                },
                bytes,
            ))
        },
        |d| {
            let p = blob_path(d)?;
            let len = std::fs::metadata(&p)
                .with_context(|| format!("{}: missing blob", blob_name(d).unwrap_or_default()))?
                .len();
            Ok((0, len))
        },
    )
}

/// Reads an OCI layout given its index and a way to get blobs.
fn read_oci(
    at: &Path,
    index: &[u8],
    blob: impl Fn(&str) -> Result<(Member, Vec<u8>)>,
    locate: impl Fn(&str) -> Result<(u64, u64)>,
) -> Result<(Vec<PlannedLayer>, Value)> {
    let index: Value = serde_json::from_slice(index).context("index.json is not JSON")?;
    let desc = index["manifests"]
        .as_array()
        .and_then(|m| m.first())
        .ok_or_else(|| anyhow!("index.json lists no manifest"))?;
    let manifest_digest = digest_of(desc)?;
    let (_, manifest_bytes) = blob(&manifest_digest)?;
    check_digest(&manifest_bytes, &manifest_digest, "the manifest")?;
    let manifest: Value =
        serde_json::from_slice(&manifest_bytes).context("the manifest is not JSON")?;
    if manifest["manifests"].is_array() {
        bail!("index.json points to an image index (a multi-platform image); give a single-platform image");
    }
    let config_digest = digest_of(&manifest["config"])?;
    let (_, config_bytes) = blob(&config_digest)?;
    check_digest(&config_bytes, &config_digest, "the config")?;
    let config: Value = serde_json::from_slice(&config_bytes).context("the config is not JSON")?;
    let diff_ids = diff_ids(&config)?;
    let descs = manifest["layers"]
        .as_array()
        .ok_or_else(|| anyhow!("the manifest has no layers"))?;
    if descs.len() != diff_ids.len() {
        bail!(
            "the manifest lists {} layers but the config has {} diff_ids",
            descs.len(),
            diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (d, diff_id) in descs.iter().zip(&diff_ids) {
        let digest = digest_of(d)?;
        let (offset, size) = locate(&digest)?;
        let file = if at.is_dir() {
            at.join(blob_name(&digest)?)
        } else {
            at.to_owned()
        };
        let (actual, head) = hash_range(&file, offset, size)?;
        if actual != digest {
            bail!("layer sha256:{digest}: its content does not match its digest (corrupt image)");
        }
        let media_type = oci_media_type(d["mediaType"].as_str().unwrap_or(""), &head);
        if media_type == OCI_TAR && digest != *diff_id {
            bail!("layer sha256:{digest}: does not match its diff_id sha256:{diff_id}");
        }
        layers.push(PlannedLayer {
            digest: digest.clone(),
            size,
            media_type: media_type.to_owned(),
            comment: format!("base layer sha256:{digest}"),
            source: Source::Base {
                file: file.display().to_string(),
                offset,
            },
        });
    }
    Ok((layers, config))
}

/// A tar header's checksum: its bytes summed, the checksum field as spaces.
fn checksum(block: &[u8; 512]) -> u32 {
    block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum()
}

fn blob_name(digest: &str) -> Result<String> {
    if !is_sha256_hex(digest) {
        bail!("'{digest}' is not a sha256 digest");
    }
    Ok(format!("blobs/sha256/{digest}"))
}

/// The hex part of a descriptor's `sha256:` digest.
fn digest_of(desc: &Value) -> Result<String> {
    let d = desc["digest"]
        .as_str()
        .ok_or_else(|| anyhow!("a descriptor has no digest"))?;
    let hexpart = d
        .strip_prefix("sha256:")
        .ok_or_else(|| anyhow!("digest '{d}' is not sha256"))?;
    blob_name(hexpart)?;
    Ok(hexpart.to_owned())
}

fn diff_ids(config: &Value) -> Result<Vec<String>> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| anyhow!("the image config has no rootfs.diff_ids"))?
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.strip_prefix("sha256:"))
                .filter(|s| is_sha256_hex(s))
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("the image config has a bad diff_id {v}"))
        })
        .collect()
}

fn check_digest(bytes: &[u8], digest: &str, what: &str) -> Result<()> {
    if hex(&Sha256::digest(bytes)) != digest {
        bail!("{what} does not match its digest sha256:{digest} (corrupt image)");
    }
    Ok(())
}

/// SHA-256 of a byte range of a file, and its first bytes.
fn hash_range(path: &Path, offset: u64, size: u64) -> Result<(String, Vec<u8>)> {
    let mut f = File::open(path).with_context(|| path.display().to_string())?;
    f.seek(SeekFrom::Start(offset))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            bail!("is truncated: a layer ends past the end of the file");
        }
        if head.len() < 8 {
            head.extend_from_slice(&buf[..n.min(8 - head.len())]);
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok((hex(&h.finalize()), head))
}

fn media_type_of(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        OCI_GZIP
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        OCI_ZSTD
    } else {
        OCI_TAR
    }
}

/// The OCI media type for a descriptor's (possibly Docker) media type.
fn oci_media_type(declared: &str, head: &[u8]) -> &'static str {
    match declared {
        "application/vnd.oci.image.layer.v1.tar" => OCI_TAR,
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => OCI_GZIP,
        "application/vnd.oci.image.layer.v1.tar+zstd" => OCI_ZSTD,
        _ => media_type_of(head),
    }
}
