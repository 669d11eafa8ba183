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

#[derive(Deserialize)]
struct BuilderAttrs {
    #[serde(flatten)]
    script: Script,
    interpreter: PathBuf,
    outputs: Outputs,
}

/// The parts of a plan a push reads.
#[derive(Deserialize)]
struct Plan {
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

fn read_script(file: &Path) -> Result<Script> {
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
    let default_tag = match script.reference.rsplit_once(':') {
        Some((_, t)) if !t.contains('/') => t,
        _ => "latest",
    };
    let dest = Destination::parse(&push.destination, default_tag)?;
    let shown = dest.to_string();
    send(&script, dest, push).with_context(|| shown)
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn send(script: &Script, dest: Destination, push: &Push) -> Result<()> {
    let plan: Plan = read_json(&script.plan)?;
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
    let shown = dest.to_string();
    let mut reg = registry::Registry::new(dest, tls, credentials, searched);
    reg.login()?;

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
        upload_layer(&reg, script, &digest, layer)?;
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
    let media_type = serde_json::from_str::<serde_json::Value>(&plan.manifest)
        .ok()
        .and_then(|m| m["mediaType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_owned());
    reg.put_manifest(&plan.manifest, &media_type)?;
    nci_core::errln!(
        "{PROGRAM}: pushed {shown} (sha256:{}): {sent} layer(s) sent, {skipped} the registry had",
        nci_core::hash::sha256_hex(plan.manifest.as_bytes())
    );
    Ok(())
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
