//! The docker-archive writer. The archive is also an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`), as `docker save` writes
//! since Docker 25: `docker load`/`podman load` read `manifest.json`, OCI
//! tools read `index.json`, and both name the same blobs.

use nci_core::error::{IoContext, Result};
use nci_core::hash::{sha256_hex, HashingWriter};
use nci_core::tar::{file_header, padding, write_archive, write_end, Entry};
use serde_json::{json, Value};
use std::io::{self, Write};

/// A layer to write: its entries and a comment for the image history.
pub struct LayerPlan {
    pub entries: Vec<Entry>,
    pub comment: String,
}

/// What goes into the image config besides the layers.
pub struct ImageMeta<'a> {
    pub reference: String,
    pub created: &'a str,
    pub architecture: &'a str,
    pub config: Value,
}

/// Writes the whole archive to `out` and returns the config digest (the
/// image id).
pub fn write(out: &mut impl Write, meta: &ImageMeta, layers: &[LayerPlan]) -> Result<String> {
    let mut buf = vec![0u8; 1 << 20];
    add_bytes(out, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut diff_ids = Vec::new();
    let mut layer_descs = Vec::new();
    for layer in layers {
        // First pass hashes, second pass writes: the outer tar header
        // needs the digest (the member's name) before the bytes.
        let mut hasher = HashingWriter::new(io::sink());
        write_archive(&layer.entries, &mut hasher)?;
        let (_, digest, size) = hasher.finish();
        let name = format!("blobs/sha256/{digest}");
        out.write_all(&file_header(&name, 0o444, size)).at(&name)?;
        for e in &layer.entries {
            e.write_to(out, &mut buf)?;
        }
        write_end(out)?;
        out.write_all(padding(size)).at(&name)?;
        diff_ids.push(format!("sha256:{digest}"));
        layer_descs.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{digest}"),
            "size": size,
        }));
    }
    let history: Vec<Value> = layers
        .iter()
        .map(|l| json!({"created": meta.created, "created_by": "nix-container-images", "comment": l.comment}))
        .collect();
    let config = json!({
        "architecture": meta.architecture,
        "os": "linux",
        "created": meta.created,
        "config": meta.config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = to_bytes(&config);
    let config_digest = sha256_hex(&config_bytes);
    add_bytes(out, &format!("blobs/sha256/{config_digest}"), &config_bytes)?;

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config_bytes.len(),
        },
        "layers": layer_descs,
    });
    let manifest_bytes = to_bytes(&manifest);
    let manifest_digest = sha256_hex(&manifest_bytes);
    add_bytes(
        out,
        &format!("blobs/sha256/{manifest_digest}"),
        &manifest_bytes,
    )?;

    let tag = meta
        .reference
        .rsplit_once(':')
        .map(|(_, t)| t)
        .unwrap_or("latest");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest_bytes.len(),
            "annotations": {
                "io.containerd.image.name": meta.reference,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    add_bytes(out, "index.json", &to_bytes(&index))?;

    let docker_manifest = json!([{
        "Config": format!("blobs/sha256/{config_digest}"),
        "RepoTags": [meta.reference],
        "Layers": diff_ids.iter().map(|d| format!("blobs/sha256/{}", &d[7..])).collect::<Vec<_>>(),
    }]);
    add_bytes(out, "manifest.json", &to_bytes(&docker_manifest))?;
    write_end(out)?;
    Ok(format!("sha256:{config_digest}"))
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // serde_json's map is sorted: the same value always gives the same bytes.
    v.to_string().into_bytes()
}

fn add_bytes(out: &mut impl Write, name: &str, bytes: &[u8]) -> Result<()> {
    write_archive_member(out, Entry::bytes(name, 0o444, bytes.to_vec()))
}

fn write_archive_member(out: &mut impl Write, e: Entry) -> Result<()> {
    let mut buf = [0u8; 0];
    e.write_to(out, &mut buf)
}
