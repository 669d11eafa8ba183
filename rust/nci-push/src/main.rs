//! `nci-push`: sends a planned image to a registry. Each image's
//! `copyToRegistry` package holds a `bin/copy-to-registry` script whose
//! `#!` line runs `nci-push script`; the script names the image's plan
//! (every layer's digest and where its bytes are in the store) and the
//! image writer (`nci-image blob`, which writes one layer's tar to a
//! pipe). Layers go from the store to the registry through that pipe:
//! no archive is written anywhere, and blobs the registry already has
//! (`HEAD`) are not sent.

mod auth;
mod cli;
mod destination;
mod registry;
mod tls;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Command, Push};
use destination::Destination;
use nci_core::nix_build::{attrs_file, read_json, Outputs};
use nci_core::oci_index::{index_json, manifest_for, IndexFormat, Member, Platform};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

const PROGRAM: &str = "copy-to-registry";

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            nci_core::errln!("{PROGRAM}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a `copy-to-registry` script holds after its `#!` line (and the
/// builder step's attributes).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Script {
    /// The image's plan (nci-image's `plan` step).
    plan: PathBuf,
    /// The image writer, run as `IMAGE_TOOL blob --plan PLAN DIGEST`.
    image_tool: PathBuf,
    /// The image's `name:tag`; its tag is the default tag.
    reference: String,
}

/// What the `copy-to-registry` script of a `lib.makeMultiArchImage`
/// index holds: every architecture's image (its plan), pushed one after
/// the other, then the index under the tag.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexScript {
    images: Vec<IndexImage>,
    /// OCI image index or Docker manifest list.
    format: IndexFormat,
    image_tool: PathBuf,
    /// The index's `name:tag`; its tag is the default tag.
    reference: String,
}

#[derive(Serialize, Deserialize)]
struct IndexImage {
    /// The Nix system (names the image in messages).
    system: String,
    plan: PathBuf,
}

/// A script of either kind (an index's has `images`, an image's `plan`).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum AnyScript {
    Image(Script),
    Index(IndexScript),
}

impl AnyScript {
    fn reference(&self) -> &str {
        match self {
            AnyScript::Image(s) => &s.reference,
            AnyScript::Index(s) => &s.reference,
        }
    }
}

#[derive(Deserialize)]
struct BuilderAttrs {
    #[serde(flatten)]
    script: AnyScript,
    interpreter: PathBuf,
    outputs: Outputs,
}

/// The parts of a plan a push reads.
#[derive(Deserialize)]
struct Plan {
    /// `image.name`.
    name: String,
    layers: Vec<Layer>,
    config: String,
    manifest: String,
}

#[derive(Deserialize)]
struct Layer {
    /// Hex SHA-256.
    digest: String,
    size: u64,
    comment: String,
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::NixBuilder => nix_builder(),
        Command::Script(push) => run_script(&push),
    }
}

fn nix_builder() -> Result<()> {
    let path = attrs_file();
    let a: BuilderAttrs = read_json(&path)?;
    let bin = a.outputs.out.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| bin.display().to_string())?;
    let text = format!(
        "#!{} script\n{}\n",
        a.interpreter.display(),
        serde_json::to_string(&a.script)?
    );
    let file = bin.join(PROGRAM);
    std::fs::write(&file, text).with_context(|| file.display().to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o555))
        .with_context(|| file.display().to_string())?;
    Ok(())
}

fn read_script(file: &Path) -> Result<AnyScript> {
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    let body = text
        .strip_prefix("#!")
        .and_then(|t| t.split_once('\n'))
        .map(|(_, b)| b)
        .with_context(|| format!("{}: not a copy-to-registry script", file.display()))?;
    serde_json::from_str(body)
        .with_context(|| format!("{}: not a copy-to-registry script", file.display()))
}

fn run_script(push: &Push) -> Result<()> {
    let script = read_script(&push.script)?;
    let default_tag = match script.reference().rsplit_once(':') {
        Some((_, t)) if !t.contains('/') => t,
        _ => "latest",
    };
    let dest = Destination::parse(&push.destination, default_tag)?;
    let shown = dest.to_string();
    match &script {
        AnyScript::Image(s) => send(s, dest, push),
        AnyScript::Index(s) => send_index(s, dest, push),
    }
    .with_context(|| shown)
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn send(script: &Script, dest: Destination, push: &Push) -> Result<()> {
    let shown = dest.to_string();
    let reg = connect(dest, push)?;
    let (manifest, media_type, report) = push_image(&reg, script, IndexFormat::Oci)?;
    reg.put_manifest(&manifest, &media_type)?;
    nci_core::errln!(
        "{PROGRAM}: pushed {shown} (sha256:{}): {report}",
        nci_core::hash::sha256_hex(manifest.as_bytes())
    );
    Ok(())
}

/// Pushes every architecture's image (its manifest by digest, untagged),
/// then the index (or manifest list) under the tag, last: a push that
/// fails leaves no tag.
fn send_index(index: &IndexScript, dest: Destination, push: &Push) -> Result<()> {
    let shown = dest.to_string();
    let reg = connect(dest, push)?;
    let mut members = Vec::with_capacity(index.images.len());
    for image in &index.images {
        let script = Script {
            plan: image.plan.clone(),
            image_tool: index.image_tool.clone(),
            reference: index.reference.clone(),
        };
        let (manifest, media_type, report) = push_image(&reg, &script, index.format)
            .with_context(|| format!("the {} image", image.system))?;
        let digest = format!("sha256:{}", nci_core::hash::sha256_hex(manifest.as_bytes()));
        reg.put_manifest_as(&digest, &manifest, &media_type)
            .with_context(|| format!("the {} image", image.system))?;
        let plan: Plan = read_json(&image.plan)?;
        let platform = Platform::of_config(&image.system, &plan.config)?;
        nci_core::errln!(
            "{PROGRAM}: {} ({platform}): pushed {} ({report})",
            image.system,
            short(&digest)
        );
        members.push(Member {
            name: image.system.clone(),
            manifest,
            platform,
        });
    }
    let list = index_json(index.format, &members)?;
    reg.put_manifest(&list, index.format.index_media_type())?;
    nci_core::errln!(
        "{PROGRAM}: pushed {shown} (sha256:{}): {} of {}",
        nci_core::hash::sha256_hex(list.as_bytes()),
        match index.format {
            IndexFormat::Oci => "an OCI image index",
            IndexFormat::Docker => "a Docker manifest list",
        },
        members
            .iter()
            .map(|m| m.platform.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Reaches and logs in to the destination's registry.
fn connect(dest: Destination, push: &Push) -> Result<registry::Registry> {
    let tls = if push.plain_http || dest.is_loopback() {
        None
    } else {
        let files = tls::trusted_files(
            &dest.registry,
            std::env::var("SSL_CERT_FILE").ok(),
            Path::new("/etc/containers/certs.d"),
        );
        Some(tls::config(&files)?)
    };
    let files = auth::auth_files(push.authfile.as_deref(), |k| std::env::var(k).ok());
    let credentials = auth::lookup(&dest.registry, &files)?;
    let searched = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut reg = registry::Registry::new(dest, tls, credentials, searched);
    reg.login()?;
    Ok(reg)
}

/// Sends an image's layers (those the registry lacks) and config; returns
/// the manifest to put (as an index of `format` lists it), its media type
/// and what was sent.
fn push_image(
    reg: &registry::Registry,
    script: &Script,
    format: IndexFormat,
) -> Result<(String, String, String)> {
    let plan: Plan = read_json(&script.plan)?;
    let (mut sent, mut skipped) = (0, 0);
    let mut seen = BTreeSet::new();
    for layer in &plan.layers {
        if !seen.insert(layer.digest.as_str()) {
            continue;
        }
        let digest = format!("sha256:{}", layer.digest);
        if reg.has_blob(&digest)? {
            skipped += 1;
            nci_core::errln!(
                "{PROGRAM}: {} {} ({} bytes): the registry has it",
                short(&digest),
                layer.comment,
                layer.size
            );
            continue;
        }
        upload_layer(reg, script, &digest, layer)?;
        sent += 1;
        nci_core::errln!(
            "{PROGRAM}: {} {} ({} bytes): sent",
            short(&digest),
            layer.comment,
            layer.size
        );
    }
    let config_digest = format!(
        "sha256:{}",
        nci_core::hash::sha256_hex(plan.config.as_bytes())
    );
    if !reg.has_blob(&config_digest)? {
        reg.upload(
            &config_digest,
            plan.config.len() as u64,
            plan.config.as_bytes(),
        )?;
    }
    let manifest = manifest_for(format, &plan.name, &plan.manifest)?;
    let media_type = serde_json::from_str::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|m| m["mediaType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format.manifest_media_type().to_owned());
    Ok((
        manifest,
        media_type,
        format!("{sent} layer(s) sent, {skipped} the registry had"),
    ))
}

/// Uploads one layer, its tar written by `nci-image blob` into a pipe.
fn upload_layer(
    reg: &registry::Registry,
    script: &Script,
    digest: &str,
    layer: &Layer,
) -> Result<()> {
    let mut child = std::process::Command::new(&script.image_tool)
        .arg("blob")
        .arg("--plan")
        .arg(&script.plan)
        .arg(digest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("{}: cannot run", script.image_tool.display()))?;
    let Some(out) = child.stdout.take() else {
        bail!("{}: no pipe", script.image_tool.display());
    };
    let sent = reg.upload(digest, layer.size, out);
    if sent.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for the layer writer")?;
    sent.with_context(|| format!("layer {} ({})", short(digest), layer.comment))?;
    if !status.success() {
        bail!(
            "layer {} ({}): the layer writer failed ({status})",
            short(digest),
            layer.comment
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script as `nix_builder` writes it, read back.
    fn round_trip(script: &AnyScript) -> AnyScript {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(PROGRAM);
        let text = format!(
            "#!/nix/store/x-nci-push script\n{}\n",
            serde_json::to_string(script).unwrap()
        );
        std::fs::write(&file, text).unwrap();
        read_script(&file).unwrap()
    }

    #[test]
    fn an_image_script_and_an_index_script_are_told_apart() {
        let image = AnyScript::Image(Script {
            plan: "/nix/store/p-plan.json".into(),
            image_tool: "/nix/store/t-nci-image".into(),
            reference: "hello:1".into(),
        });
        assert!(
            matches!(round_trip(&image), AnyScript::Image(s) if s.plan == Path::new("/nix/store/p-plan.json"))
        );
        let index = AnyScript::Index(IndexScript {
            images: vec![
                IndexImage {
                    system: "x86_64-linux".into(),
                    plan: "/nix/store/a-plan.json".into(),
                },
                IndexImage {
                    system: "aarch64-linux".into(),
                    plan: "/nix/store/b-plan.json".into(),
                },
            ],
            format: IndexFormat::Docker,
            image_tool: "/nix/store/t-nci-image".into(),
            reference: "multi:v1".into(),
        });
        match round_trip(&index) {
            AnyScript::Index(s) => {
                assert_eq!(s.format, IndexFormat::Docker);
                assert_eq!(
                    s.images
                        .iter()
                        .map(|i| i.system.as_str())
                        .collect::<Vec<_>>(),
                    ["x86_64-linux", "aarch64-linux"]
                );
                assert_eq!(index.reference(), "multi:v1");
            }
            AnyScript::Image(_) => panic!("an index script was read as an image's"),
        }
    }
}
