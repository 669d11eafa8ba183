//! Writes a plan out: as a docker-archive (a file, or a stream on
//! standard output) or as an OCI image layout directory. Nothing is
//! hashed here: the digests are the plan's, and file contents are copied
//! by the kernel (see [`Sink`]).

use crate::parallel::on_every_core;
use crate::plan::{Plan, PlannedLayer, Source};
use crate::sink::Sink;
use crate::store;
use anyhow::{bail, Context, Result};
use nci_core::hash::{hex, Digest, Sha256};
use nci_core::oci_index::{IndexFormat, Member, Platform};
use nci_core::tar::{file_header, padding, round_up, Entry, Kind};
use serde_json::json;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

/// Writes the tar of `entries` (a whole layer) and checks its size.
fn write_entries(sink: &mut Sink, entries: &[Entry], planned: u64, what: &str) -> Result<()> {
    let start = sink.written();
    for e in entries {
        sink.bytes(&e.header_blocks())?;
        if let Kind::File { source, size } = &e.kind {
            let f = File::open(source).with_context(|| source.display().to_string())?;
            let actual = f
                .metadata()
                .with_context(|| source.display().to_string())?
                .len();
            if actual != *size {
                bail!("{}: changed since the image was planned", source.display());
            }
            sink.copy(&f, 0, *size, source)?;
            sink.bytes(&ZEROS[..(round_up(*size) - size) as usize])?;
        }
    }
    sink.bytes(&ZEROS)?;
    let got = sink.written() - start;
    if got != planned {
        bail!("{what}: is {got} bytes, the plan says {planned}: a store path changed since the image was planned");
    }
    Ok(())
}

static ZEROS: [u8; 1024] = [0; 1024];

/// Writes layer `i`'s blob content.
fn write_layer(sink: &mut Sink, plan: &Plan, i: usize) -> Result<()> {
    write_planned_layer(sink, &plan.store_dir, &plan.layers[i])
}

/// Writes `layer`'s blob content (its store paths are in `store_dir`).
pub fn write_planned_layer(sink: &mut Sink, store_dir: &str, layer: &PlannedLayer) -> Result<()> {
    match &layer.source {
        Source::Base { file, offset } => {
            let f = File::open(file).with_context(|| format!("image.from: {file}"))?;
            sink.copy(&f, *offset, layer.size, Path::new(file))
        }
        Source::Store { paths, links } => {
            let start = sink.written();
            let sink = store::planned_layer(&mut *sink, store_dir, paths, links)?;
            let got = sink.written() - start;
            if got != layer.size {
                bail!("{}: is {got} bytes, the plan says {}: a store path changed since the image was planned", layer.comment, layer.size);
            }
            Ok(())
        }
        Source::Entries { entries } => {
            let entries = entries
                .iter()
                .map(|e| e.to_entry())
                .collect::<Result<Vec<_>>>()?;
            write_entries(sink, &entries, layer.size, "the customisation layer")
        }
    }
}

fn sha256(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn index_json(plan: &Plan, reference: &str) -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256(plan.manifest.as_bytes())),
            "size": plan.manifest.len(),
            "annotations": {
                "io.containerd.image.name": reference,
                // The whole `name:tag`, as `skopeo copy … oci:DIR:name:tag`
                // writes it (the spec's grammar allows `:` and `/`): what
                // `oci:DIR:REF` looks up, and the name newer podman gives
                // the image of `podman pull oci:DIR:REF` (4.3 names it
                // after DIR).
                "org.opencontainers.image.ref.name": reference,
            },
        }],
    })
    .to_string()
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The distinct layers in order (a blob is written once even if two
/// layers have the same content).
fn distinct_layers(plan: &Plan) -> Vec<usize> {
    let mut seen = std::collections::BTreeSet::new();
    (0..plan.layers.len())
        .filter(|&i| seen.insert(plan.layers[i].digest.clone()))
        .collect()
}

/// Where the docker-archive's parts go: a sink, or a layout that only
/// records offsets (to write layers in parallel, each at its place).
trait Archive {
    fn bytes(&mut self, b: &[u8]) -> Result<()>;
    fn layer(&mut self, plan: &Plan, i: usize) -> Result<()>;
}

impl Archive for Sink {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        Sink::bytes(self, b)
    }
    fn layer(&mut self, plan: &Plan, i: usize) -> Result<()> {
        write_layer(self, plan, i)
    }
}

/// The docker-archive's layout: its small parts with their offsets, and
/// the offset of each layer's content.
#[derive(Default)]
struct Layout {
    len: u64,
    chunks: Vec<(u64, Vec<u8>)>,
    layers: Vec<(u64, usize)>,
}

impl Archive for Layout {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        match self.chunks.last_mut() {
            Some((at, v)) if *at + v.len() as u64 == self.len => v.extend_from_slice(b),
            _ => self.chunks.push((self.len, b.to_vec())),
        }
        self.len += b.len() as u64;
        Ok(())
    }
    fn layer(&mut self, plan: &Plan, i: usize) -> Result<()> {
        self.layers.push((self.len, i));
        self.len += plan.layers[i].size;
        Ok(())
    }
}

/// Writes the docker-archive (an OCI layout inside a tar, with Docker's
/// `manifest.json`).
fn docker_archive(out: &mut impl Archive, plan: &Plan, reference: &str) -> Result<()> {
    archive_head(&mut |b| out.bytes(b))?;
    for i in distinct_layers(plan) {
        let l = &plan.layers[i];
        out.bytes(&layer_header(l))?;
        out.layer(plan, i)?;
        out.bytes(padding(l.size))?;
    }
    archive_tail(&mut |b| out.bytes(b), plan, reference)
}

/// One small member of the archive: header, bytes, padding.
fn member(out: &mut dyn FnMut(&[u8]) -> Result<()>, name: &str, bytes: &[u8]) -> Result<()> {
    out(&file_header(name, 0o444, bytes.len() as u64))?;
    out(bytes)?;
    out(padding(bytes.len() as u64))
}

/// What the docker-archive starts with, before the layers.
pub fn archive_head(out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
    member(out, "oci-layout", OCI_LAYOUT)
}

/// The header of a layer's member (`blobs/sha256/DIGEST`); its content
/// and padding follow.
pub fn layer_header(l: &PlannedLayer) -> Vec<u8> {
    file_header(&format!("blobs/sha256/{}", l.digest), 0o444, l.size)
}

/// What the docker-archive ends with, after the layers: the config, the
/// manifest, `index.json`, Docker's `manifest.json`, the end of the tar.
pub fn archive_tail(
    out: &mut dyn FnMut(&[u8]) -> Result<()>,
    plan: &Plan,
    reference: &str,
) -> Result<()> {
    let config_digest = sha256(plan.config.as_bytes());
    member(
        out,
        &format!("blobs/sha256/{config_digest}"),
        plan.config.as_bytes(),
    )?;
    let manifest_digest = sha256(plan.manifest.as_bytes());
    member(
        out,
        &format!("blobs/sha256/{manifest_digest}"),
        plan.manifest.as_bytes(),
    )?;
    member(out, "index.json", index_json(plan, reference).as_bytes())?;
    let docker_manifest = json!([{
        "Config": format!("blobs/sha256/{config_digest}"),
        "RepoTags": [reference],
        "Layers": plan.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest)).collect::<Vec<_>>(),
    }]);
    member(out, "manifest.json", docker_manifest.to_string().as_bytes())?;
    out(&ZEROS)
}

/// Writes the docker-archive to `out` through a temporary file beside it,
/// so that a failure leaves nothing behind. Every part's offset is known
/// from the plan, so layers are written in parallel, each at its place.
pub fn docker_archive_file(plan: &Plan, reference: &str, out: &Path) -> Result<()> {
    let (file, path) = output_beside(out)?;
    fill_docker_archive(&file, plan, reference, |at, i| {
        write_layer_at(&file, plan, i, at)
    })
    .with_context(|| cannot_write(out))?;
    finish_output(file, path, out)
}

/// The context of every error met writing the output `out`: a full disk
/// names the file (`result: cannot write the output: No space left on
/// device`).
pub fn cannot_write(out: &Path) -> String {
    format!("{}: cannot write the output", out.display())
}

/// A temporary file in `out`'s directory, to become `out`.
pub fn output_beside(out: &Path) -> Result<(File, tempfile::TempPath)> {
    let dir = nci_core::nix_build::dir_of(out);
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("{}: cannot create the output", out.display()))?;
    Ok(tmp.into_parts())
}

/// Renames the finished temporary file to `out`.
pub fn finish_output(file: File, path: tempfile::TempPath, out: &Path) -> Result<()> {
    drop(file);
    path.persist(out).with_context(|| cannot_write(out))?;
    Ok(())
}

/// Makes `file` the docker-archive of `plan`: sizes it, writes its small
/// parts, and has `layer(offset, index)` write each distinct layer's
/// content at its offset, on every core (biggest first).
pub fn fill_docker_archive(
    file: &File,
    plan: &Plan,
    reference: &str,
    layer: impl Fn(u64, usize) -> Result<()> + Sync,
) -> Result<()> {
    let mut layout = Layout::default();
    docker_archive(&mut layout, plan, reference)?;
    file.set_len(layout.len)?;
    for (at, bytes) in &layout.chunks {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, *at)?;
    }
    on_every_core(
        &layout.layers,
        |(_, i)| plan.layers[*i].size,
        |(at, i)| layer(*at, *i),
    )?;
    Ok(())
}

/// Writes layer `i`'s content into `file` at `at`.
pub fn write_layer_at(file: &File, plan: &Plan, i: usize, at: u64) -> Result<()> {
    let mut sink = Sink::at(file.try_clone()?, at);
    write_layer(&mut sink, plan, i)?;
    sink.finish()?;
    Ok(())
}

/// Where the content of the first layer goes when the archive is
/// written: after the `oci-layout` member and the layer's own header.
pub fn first_layer_offset() -> u64 {
    512 + round_up(OCI_LAYOUT.len() as u64) + 512
}

/// The space a layer's member takes in the archive: header, content,
/// padding.
pub fn member_len(size: u64) -> u64 {
    512 + round_up(size)
}

/// Writes the OCI image layout directory `out` (through a temporary
/// directory beside it); layer blobs are written on every core.
pub fn oci_dir(plan: &Plan, reference: &str, out: &Path) -> Result<()> {
    write_layout(out, |blobs| {
        write_image_blobs(blobs, plan, &plan.manifest, out)?;
        Ok(index_json(plan, reference))
    })
}

/// One image of an index: the Nix system it is for, and its plan.
pub struct IndexMember {
    pub system: String,
    pub plan: Plan,
}

/// Writes an OCI image layout directory `out` holding the images of
/// several architectures joined by one OCI image index tagged
/// `reference`: every image's config, manifest and layers, blobs shared
/// between images written once. An image's blobs are those of its own
/// layout. (A Docker manifest list is a registry's format, made by the
/// push: an OCI layout holds OCI indexes, the only kind skopeo reads
/// there.)
pub fn oci_index_dir(members: &[IndexMember], reference: &str, out: &Path) -> Result<()> {
    let mut entries = Vec::with_capacity(members.len());
    for m in members {
        entries.push(Member {
            name: m.system.clone(),
            manifest: m.plan.manifest.clone(),
            platform: Platform::of_config(&m.system, &m.plan.config)?,
        });
    }
    let index = nci_core::oci_index::index_json(IndexFormat::Oci, &entries)?;
    write_layout(out, |blobs| {
        for (m, e) in members.iter().zip(&entries) {
            write_image_blobs(blobs, &m.plan, &e.manifest, out)?;
        }
        std::fs::write(blobs.join(sha256(index.as_bytes())), &index)
            .with_context(|| cannot_write(out))?;
        Ok(json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": IndexFormat::Oci.index_media_type(),
                "digest": format!("sha256:{}", sha256(index.as_bytes())),
                "size": index.len(),
                "annotations": {
                    "io.containerd.image.name": reference,
                    "org.opencontainers.image.ref.name": reference,
                },
            }],
        })
        .to_string())
    })
}

/// An OCI layout at `out`, written in a temporary directory beside it:
/// `fill` writes the blobs into `blobs/sha256` and returns `index.json`.
fn write_layout(out: &Path, fill: impl FnOnce(&Path) -> Result<String>) -> Result<()> {
    let parent = nci_core::nix_build::dir_of(out);
    let tmp = tempfile::Builder::new()
        .prefix(".oci-")
        .tempdir_in(parent)
        .with_context(|| format!("{}: cannot create the output", out.display()))?;
    let cannot = || cannot_write(out);
    let blobs = tmp.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(cannot)?;
    std::fs::write(tmp.path().join("oci-layout"), OCI_LAYOUT).with_context(cannot)?;
    let index = fill(&blobs)?;
    std::fs::write(tmp.path().join("index.json"), index).with_context(cannot)?;
    let kept = tmp.keep();
    std::fs::rename(&kept, out).with_context(|| {
        let _ = std::fs::remove_dir_all(&kept);
        format!("{}: cannot write the output", out.display())
    })?;
    Ok(())
}

/// One image's config, `manifest` and layer blobs (layers on every core;
/// a blob already there, shared with an image written before, is kept).
fn write_image_blobs(blobs: &Path, plan: &Plan, manifest: &str, out: &Path) -> Result<()> {
    let cannot = || cannot_write(out);
    let write_blob =
        |name: &str, bytes: &[u8]| std::fs::write(blobs.join(name), bytes).with_context(cannot);
    write_blob(&sha256(plan.config.as_bytes()), plan.config.as_bytes())?;
    write_blob(&sha256(manifest.as_bytes()), manifest.as_bytes())?;
    let missing: Vec<usize> = distinct_layers(plan)
        .into_iter()
        .filter(|&i| !blobs.join(&plan.layers[i].digest).exists())
        .collect();
    on_every_core(
        &missing,
        |i| plan.layers[*i].size,
        |i| {
            let f = File::create(blobs.join(&plan.layers[*i].digest)).with_context(cannot)?;
            let mut sink = Sink::new(f);
            write_layer(&mut sink, plan, *i).with_context(cannot)?;
            sink.finish().with_context(cannot)?;
            Ok(())
        },
    )?;
    Ok(())
}

/// The pipe size asked for when streaming (1 MiB: the default maximum
/// an unprivileged process may set, /proc/sys/fs/pipe-max-size).
const PIPE_SIZE: nix::libc::c_int = 1 << 20;

/// A sink on standard output. A pipe holds 64 KiB by default: the reader
/// would be woken every 64 KiB. A bigger one (if allowed; else the
/// default) halves the time of a stream through `| podman load`.
pub fn stdout_sink() -> Result<Sink> {
    let fd = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("standard output")?;
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE),
    );
    Ok(Sink::new(File::from(fd)))
}

/// Writes the docker-archive to standard output.
pub fn stream_stdout(plan: &Plan, reference: &str) -> Result<()> {
    let mut sink = stdout_sink()?;
    let cannot = || "standard output: cannot write the stream";
    docker_archive(&mut sink, plan, reference).context(cannot())?;
    sink.finish().context(cannot())?;
    Ok(())
}

/// Writes the content of the layer whose hex digest is `digest` to
/// standard output.
pub fn blob_stdout(plan: &Plan, digest: &str) -> Result<()> {
    let Some(i) = plan.layers.iter().position(|l| l.digest == digest) else {
        bail!("the plan has no layer sha256:{digest}");
    };
    let mut sink = stdout_sink()?;
    write_layer(&mut sink, plan, i)?;
    sink.finish()?;
    Ok(())
}
