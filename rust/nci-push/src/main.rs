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
mod compress;
mod destination;
mod engine;
mod pipe;
mod registry;
mod tls;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Command, Push};
use compress::{Cache, Compression, Facts};
use destination::Destination;
use nci_core::nix_build::{attrs_file, read_json, Outputs};
use nci_core::oci_index::{index_json, manifest_for, IndexFormat, Member, Platform};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

const PROGRAM: &str = "copy-to-registry";

/// The name errors go under: the script's (`copy-to-podman`, ...).
pub(crate) fn program_name(script: &Path) -> String {
    script
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| PROGRAM.to_owned())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let program = match &cli.command {
        Command::Load(l) => program_name(&l.script),
        _ => PROGRAM.to_owned(),
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            nci_core::errln!("{program}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a `copy-to-registry` script holds after its `#!` line (and the
/// builder step's attributes).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Script {
    /// The image's plan (nci-image's `plan` step).
    plan: PathBuf,
    /// The image writer, run as `IMAGE_TOOL blob --plan PLAN DIGEST`.
    image_tool: PathBuf,
    /// The image's `name:tag`; its tag is the default tag.
    reference: String,
    /// For `copy-to-podman` / `copy-to-docker-daemon`: the engine whose
    /// `load` gets the image (`podman`, `docker`), found on `PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    engine: Option<String>,
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
pub(crate) enum AnyScript {
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
    /// The program's name in `bin/` (default `copy-to-registry`).
    #[serde(default)]
    program: Option<String>,
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
    /// The layer's media type (a base image's layer may be compressed).
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::NixBuilder => nix_builder(),
        Command::Script(push) => run_script(&push),
        Command::Load(load) => engine::load(&load.script),
    }
}

fn nix_builder() -> Result<()> {
    let path = attrs_file();
    let a: BuilderAttrs = read_json(&path)?;
    let bin = a.outputs.out.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| bin.display().to_string())?;
    let subcommand = match &a.script {
        AnyScript::Image(Script {
            engine: Some(_), ..
        }) => "load",
        _ => "script",
    };
    let text = format!(
        "#!{} {subcommand}\n{}\n",
        a.interpreter.display(),
        serde_json::to_string(&a.script)?
    );
    let file = bin.join(a.program.as_deref().unwrap_or(PROGRAM));
    std::fs::write(&file, text).with_context(|| file.display().to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o555))
        .with_context(|| file.display().to_string())?;
    Ok(())
}

pub(crate) fn read_script(file: &Path) -> Result<AnyScript> {
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
    let (manifest, media_type, report) = push_image(&reg, script, IndexFormat::Oci, push)?;
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
            engine: None,
        };
        let (manifest, media_type, report) = push_image(&reg, &script, index.format, push)
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
    // HTTPS, verified, except with --plain-http, and on the loopback
    // unless certificates are given for the registry.
    let cert_dir = tls::registry_dir(&dest.registry, push.cert_dir.as_deref());
    let tls = if push.plain_http || (dest.is_loopback() && !cert_dir.is_dir()) {
        None
    } else {
        let files = tls::trusted_files(std::env::var("SSL_CERT_FILE").ok(), &cert_dir);
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
    push: &Push,
) -> Result<(String, String, String)> {
    let plan: Plan = read_json(&script.plan)?;
    let alg = push.compression_format;
    let cache = Cache::new(Cache::default_dir(|k| std::env::var(k).ok()));
    let blobs = prepare(script, &plan, alg, &cache)?;
    let compressed = blobs.iter().filter(|b| b.file.is_some()).count();
    let (mut sent, mut skipped) = (0, 0);
    for blob in &blobs {
        let layer = blob.layer;
        if reg.has_blob(&blob.facts.digest)? {
            skipped += 1;
            nci_core::errln!(
                "{PROGRAM}: {} {} ({} bytes): the registry has it",
                short(&blob.digest),
                layer.comment,
                layer.size
            );
            continue;
        }
        upload_layer(reg, script, blob, &cache)?;
        sent += 1;
        nci_core::errln!(
            "{PROGRAM}: {} {} ({} bytes, {} {} bytes): sent",
            short(&blob.digest),
            layer.comment,
            layer.size,
            blob.alg.name(),
            blob.facts.size
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
    let manifest = manifest_for(
        format,
        &plan.name,
        &registry_manifest(&plan.manifest, &blobs)?,
    )?;
    let media_type = serde_json::from_str::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|m| m["mediaType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format.manifest_media_type().to_owned());
    Ok((
        manifest,
        media_type,
        format!(
            "{sent} layer(s) sent, {skipped} the registry had, {compressed} compressed ({})",
            alg.name()
        ),
    ))
}

/// One distinct layer as it goes to the registry.
struct Blob<'a> {
    layer: &'a Layer,
    /// `sha256:HEX` of the layer as the plan has it (uncompressed).
    digest: String,
    /// How it is sent: `None` as the plan has it.
    alg: Compression,
    media_type: String,
    /// The blob the registry gets (compressed, or the layer itself).
    facts: Facts,
    /// The compressed bytes, when compressed by this push.
    file: Option<tempfile::NamedTempFile>,
}

/// The manifest the registry gets: the plan's, with each layer's
/// descriptor as sent (compressed digest, size and media type); the
/// config (and its uncompressed `diff_ids`) is the plan's.
fn registry_manifest(plan_manifest: &str, blobs: &[Blob]) -> Result<String> {
    let mut m: serde_json::Value =
        serde_json::from_str(plan_manifest).context("the plan's manifest is not JSON")?;
    let layers = m["layers"]
        .as_array_mut()
        .context("the plan's manifest has no layers")?;
    for l in layers {
        let digest = l["digest"].as_str().unwrap_or_default().to_owned();
        let blob = blobs
            .iter()
            .find(|b| b.digest == digest)
            .with_context(|| format!("the plan's manifest names {digest}, which no layer has"))?;
        *l = serde_json::json!({
            "mediaType": blob.media_type,
            "digest": blob.facts.digest,
            "size": blob.facts.size,
        });
    }
    Ok(m.to_string())
}

/// The distinct layers with what the registry gets of each: compressed
/// facts from the cache, else compressed now (every core, into temporary
/// files that the upload reads). A layer the plan has compressed
/// already (a base image's) is sent as it is.
fn prepare<'a>(
    script: &Script,
    plan: &'a Plan,
    alg: Compression,
    cache: &Cache,
) -> Result<Vec<Blob<'a>>> {
    let mut seen = BTreeSet::new();
    let mut blobs = Vec::new();
    // Whether a blob's facts are known (else it is compressed below).
    let mut known = Vec::new();
    for layer in &plan.layers {
        if !seen.insert(layer.digest.as_str()) {
            continue;
        }
        let digest = format!("sha256:{}", layer.digest);
        let plain = layer.media_type.as_deref().unwrap_or(compress::OCI_TAR);
        let as_is = Facts {
            digest: digest.clone(),
            size: layer.size,
        };
        let (alg, facts) = if alg == Compression::None || plain != compress::OCI_TAR {
            (Compression::None, Some(as_is))
        } else {
            (alg, cache.get(alg, &digest))
        };
        known.push(facts.is_some());
        blobs.push(Blob {
            layer,
            media_type: if alg == Compression::None {
                plain.to_owned()
            } else {
                alg.media_type().to_owned()
            },
            digest,
            alg,
            facts: facts.unwrap_or(Facts {
                digest: String::new(),
                size: 0,
            }),
            file: None,
        });
    }
    let todo: Vec<&mut Blob> = blobs
        .iter_mut()
        .zip(&known)
        .filter(|(_, k)| !**k)
        .map(|(b, _)| b)
        .collect();
    let todo = std::sync::Mutex::new(todo);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let next = todo
                            .lock()
                            .map_err(|_| anyhow::anyhow!("a compression thread failed"))?
                            .pop();
                        let Some(blob) = next else { return Ok(()) };
                        compress_to_file(script, blob, cache)?;
                    }
                })
            })
            .collect();
        let mut first = Ok(());
        for h in handles {
            let r = h
                .join()
                .map_err(|_| anyhow::anyhow!("a compression thread panicked"))
                .and_then(|r| r);
            if first.is_ok() {
                first = r;
            }
        }
        first
    })?;
    Ok(blobs)
}

/// Compresses one layer into a temporary file and records its facts.
fn compress_to_file(script: &Script, blob: &mut Blob, cache: &Cache) -> Result<()> {
    let what = || format!("layer {} ({})", short(&blob.digest), blob.layer.comment);
    let tmp = tempfile::NamedTempFile::new()
        .with_context(|| format!("{}: cannot compress: no temporary file", what()))?;
    let mut child = layer_writer(script, &blob.digest)?;
    let Some(out) = child.stdout.take() else {
        bail!("{}: no pipe", script.image_tool.display());
    };
    let written = compress::compress(
        blob.alg,
        out,
        std::io::BufWriter::with_capacity(1 << 20, tmp.as_file()),
    );
    if written.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for the layer writer")?;
    let (_, facts) = written
        .with_context(|| format!("{}: cannot compress into {}", what(), tmp.path().display()))?;
    if !status.success() {
        bail!("{}: the layer writer failed ({status})", what());
    }
    cache.put(blob.alg, &blob.digest, &facts)?;
    nci_core::errln!(
        "{PROGRAM}: {} {}: compressed ({}) to {} bytes",
        short(&blob.digest),
        blob.layer.comment,
        blob.alg.name(),
        facts.size
    );
    blob.facts = facts;
    blob.file = Some(tmp);
    Ok(())
}

/// `nci-image blob`: one layer's tar from the store into a pipe.
fn layer_writer(script: &Script, digest: &str) -> Result<std::process::Child> {
    std::process::Command::new(&script.image_tool)
        .arg("blob")
        .arg("--plan")
        .arg(&script.plan)
        .arg(digest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("{}: cannot run", script.image_tool.display()))
}

/// Uploads one layer: the file compressed by this push, else the layer
/// from `nci-image blob`, compressed on the way when it has to be.
fn upload_layer(
    reg: &registry::Registry,
    script: &Script,
    blob: &Blob,
    cache: &Cache,
) -> Result<()> {
    let what = || format!("layer {} ({})", short(&blob.digest), blob.layer.comment);
    if let Some(file) = &blob.file {
        let f = file
            .reopen()
            .with_context(|| format!("{}: {}", what(), file.path().display()))?;
        return reg
            .upload(
                &blob.facts.digest,
                blob.facts.size,
                std::io::BufReader::with_capacity(1 << 20, f),
            )
            .with_context(what);
    }
    let mut child = layer_writer(script, &blob.digest)?;
    let Some(out) = child.stdout.take() else {
        bail!("{}: no pipe", script.image_tool.display());
    };
    let (sent, compressed) = if blob.alg == Compression::None {
        (reg.upload(&blob.facts.digest, blob.facts.size, out), None)
    } else {
        // Compressed again on a thread of its own, into the upload.
        let (writer, reader) = pipe::channel(blob.facts.size);
        let wrong_size = reader.wrong_size.clone();
        let alg = blob.alg;
        let worker =
            std::thread::spawn(move || compress::compress(alg, out, writer).map(|(_, f)| f));
        let sent = reg.upload(&blob.facts.digest, blob.facts.size, reader);
        if sent.is_err() && wrong_size.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            let _ = worker.join();
            cache.remove(blob.alg, &blob.digest);
            bail!(
                "{}: compressed ({}) again, it is not the {} bytes the compression cache gave for {}; the entry is removed, push again",
                what(),
                blob.alg.name(),
                blob.facts.size,
                blob.facts.digest
            );
        }
        let facts = worker
            .join()
            .map_err(|_| anyhow::anyhow!("{}: the compression thread panicked", what()))?;
        (sent, Some(facts))
    };
    if sent.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for the layer writer")?;
    if let Some(Ok(facts)) = &compressed {
        if *facts != blob.facts {
            cache.remove(blob.alg, &blob.digest);
            bail!(
                "{}: compressed ({}) to {} ({} bytes), where the compression cache said {} ({} bytes); the entry is removed, push again",
                what(),
                blob.alg.name(),
                facts.digest,
                facts.size,
                blob.facts.digest,
                blob.facts.size
            );
        }
    }
    sent.with_context(what)?;
    if !status.success() {
        bail!("{}: the layer writer failed ({status})", what());
    }
    if let Some(Err(e)) = compressed {
        return Err(e).with_context(|| format!("{}: compression failed", what()));
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
            engine: None,
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
