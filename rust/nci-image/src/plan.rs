//! The plan: every layer of the image with its digest and where its bytes
//! come from, plus the exact config and manifest blobs. Computing it is
//! the only step that hashes layers (and only those no per-store-path
//! derivation has hashed already); the docker-archive, the OCI layout and
//! the stream are all written from one plan, so they carry the same
//! digests.

use crate::base::BaseImage;
use crate::customisation;
use crate::layers;
use crate::parallel::on_every_core;
use crate::store::{self, PathLayer, LAYER_FORMAT};
use crate::tree::Links;
use anyhow::{bail, Context, Result};
use nci_core::closure::Closure;
use nci_core::hash::{hex, Digest, Sha256};
use nci_core::image_spec::ImageSpec;
use nci_core::tar::{Entry, Kind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;
pub const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    /// `image.name`.
    pub name: String,
    /// `image.tag`; `None`: the writer of each output picks the tag.
    pub tag: Option<String>,
    /// Where store paths are on disk (`/nix/store`).
    pub store_dir: String,
    pub layers: Vec<PlannedLayer>,
    /// The exact bytes of the config blob.
    pub config: String,
    /// The exact bytes of the OCI manifest blob.
    pub manifest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlannedLayer {
    /// Hex SHA-256 of the blob as stored.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// The history comment.
    pub comment: String,
    pub source: Source,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Source {
    /// `size` bytes at `offset` in `file` (a base image's layer).
    Base { file: String, offset: u64 },
    /// Store paths, walked again when written; `links` are the hard
    /// links decided when the layer was hashed.
    Store {
        paths: Vec<String>,
        links: Vec<(String, String)>,
    },
    /// Explicit entries (the customisation layer).
    Entries { entries: Vec<PlannedEntry> },
}

/// A tar entry as the plan stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlannedEntry {
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl PlannedEntry {
    pub fn from_entry(e: &Entry) -> Result<Self> {
        let (kind, source, size, target) = match &e.kind {
            Kind::Directory => ("dir", None, None, None),
            Kind::File { source, size } => (
                "file",
                Some(
                    source
                        .to_str()
                        .with_context(|| format!("{}: path is not UTF-8", source.display()))?
                        .to_owned(),
                ),
                Some(*size),
                None,
            ),
            Kind::Symlink { target } => ("symlink", None, None, Some(target.clone())),
            Kind::HardLink { target } => ("link", None, None, Some(target.clone())),
            Kind::Bytes(_) => bail!("/{}: in-memory content cannot be planned", e.path),
        };
        Ok(PlannedEntry {
            path: e.path.clone(),
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            kind: kind.to_owned(),
            source,
            size,
            target,
        })
    }

    pub fn to_entry(&self) -> Result<Entry> {
        let kind = match (self.kind.as_str(), &self.source, self.size, &self.target) {
            ("dir", None, None, None) => Kind::Directory,
            ("file", Some(s), Some(size), None) => Kind::File {
                source: PathBuf::from(s),
                size,
            },
            ("symlink", None, None, Some(t)) => Kind::Symlink { target: t.clone() },
            ("link", None, None, Some(t)) => Kind::HardLink { target: t.clone() },
            _ => bail!("plan entry /{} is malformed", self.path),
        };
        let mut e = Entry::new(self.path.clone(), self.mode, kind);
        e.uid = self.uid;
        e.gid = self.gid;
        Ok(e)
    }
}

/// What the plan step is given besides the spec and the closure.
#[derive(Default)]
pub struct Inputs {
    /// Per-store-path layers already computed (by their derivations).
    pub path_layers: BTreeMap<String, PathLayer>,
    pub base: Option<BaseImage>,
}

/// A plan whose layers are not all hashed yet: what [`make`] completes
/// by hashing them, and what `build` completes by hashing the store
/// layers while it writes them.
pub struct Draft<'a> {
    spec: &'a ImageSpec,
    base: Option<&'a BaseImage>,
    /// Every layer in image order (the base image's first); `None` for
    /// the layers in `pending` and for the customisation layer (last).
    pub layers: Vec<Option<PlannedLayer>>,
    /// (index in `layers`, store paths) of the store layers to hash.
    pub pending: Vec<(usize, Vec<String>)>,
    /// The customisation layer's entries.
    custom: Vec<Entry>,
}

/// Plans `spec`'s image up to hashing its layers: the store layers whose
/// digest a per-path derivation already computed are taken as they are,
/// the other store layers are left in [`Draft::pending`], and the
/// customisation layer to [`Draft::hash_customisation`] (so that it can
/// be hashed alongside them). The caller has validated `spec`
/// (`ImageSpec::validate`, in `make_plan`).
pub fn draft<'a>(spec: &'a ImageSpec, closure: &Closure, inputs: &'a Inputs) -> Result<Draft<'a>> {
    let store_dir = &spec.store_dir;
    let store_paths = store_paths(spec, closure)?;
    for p in &store_paths {
        store::archive_prefix(store_dir, p)?;
        if std::fs::symlink_metadata(p).is_err() {
            bail!("{p}: store path of the closure is missing on disk");
        }
    }
    let base_layers = inputs.base.as_ref().map_or(0, |b| b.layers.len());
    if base_layers + 1 > spec.max_layers {
        bail!(
            "image.maxLayers: {} is too few: the base image (image.from) has {base_layers} layers, and the customisation layer needs one more",
            spec.max_layers
        );
    }
    let slots = spec.max_layers - base_layers - 1;
    let order = closure.popularity_order(&store_paths);
    let groups = layers::group(order, slots);
    let mut custom = customisation::build(
        &spec.root_trees,
        &spec.profile,
        &spec.profile_paths,
        &spec.symlinks,
    )?;

    let mut layers: Vec<Option<PlannedLayer>> = inputs
        .base
        .iter()
        .flat_map(|b| b.layers.iter().cloned().map(Some))
        .collect();
    let mut pending = Vec::new();
    for g in &groups {
        let cached = match g.as_slice() {
            [only] => inputs.path_layers.get(only),
            _ => None,
        };
        match cached {
            Some(pl) => layers.push(Some(store_layer(
                store_dir,
                std::slice::from_ref(&pl.path),
                pl.digest.clone(),
                pl.size,
                pl.links.clone(),
            )?)),
            None => {
                pending.push((layers.len(), g.clone()));
                layers.push(None);
            }
        }
    }
    if slots == 0 && !store_paths.is_empty() {
        // maxLayers leaves no room for store layers: the store paths go
        // into the customisation layer.
        let mut entries = store::store_dirs().to_vec();
        for p in &store_paths {
            entries.extend(store::path_entries(store_dir, p)?);
        }
        entries.extend(
            custom
                .into_iter()
                .filter(|e| e.path != "nix" && e.path != "nix/store"),
        );
        custom = entries;
    }
    layers.push(None);
    Ok(Draft {
        spec,
        base: inputs.base.as_ref(),
        layers,
        pending,
        custom,
    })
}

impl Draft<'_> {
    /// Hashes the customisation layer: (index, layer).
    pub fn hash_customisation(&self) -> Result<(usize, PlannedLayer)> {
        Ok((self.layers.len() - 1, customisation_layer(&self.custom)?))
    }

    /// The bytes of the customisation layer's files, to weigh its
    /// hashing against the store layers'.
    fn customisation_size(&self) -> u64 {
        self.custom
            .iter()
            .map(|e| match e.kind {
                Kind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    /// The plan, given the pending layers, hashed: (index, layer).
    pub fn complete(self, hashed: Vec<(usize, PlannedLayer)>) -> Result<Plan> {
        let mut layers = self.layers;
        for (i, layer) in hashed {
            layers[i] = Some(layer);
        }
        let layers = layers
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.with_context(|| format!("layer {i} was not hashed")))
            .collect::<Result<Vec<_>>>()?;
        let config = config_blob(self.spec, self.base, &layers)?;
        let manifest = manifest_blob(&config, &layers);
        Ok(Plan {
            version: VERSION,
            name: self.spec.name.clone(),
            tag: self.spec.tag.clone(),
            store_dir: self.spec.store_dir.clone(),
            layers,
            config,
            manifest,
        })
    }
}

/// A [`Draft`] as the `.stream` output keeps it: the layering decided
/// when the stream is built (store paths by layer, the customisation
/// layer's entries), nothing hashed; the stream hashes each layer just
/// before it writes it (`stream.rs`).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Layering {
    /// Every layer in image order: the base image's (hashed by the base
    /// derivation), `None` for those to hash.
    pub layers: Vec<Option<PlannedLayer>>,
    /// (index in `layers`, store paths) of the store layers to hash.
    pub pending: Vec<(usize, Vec<String>)>,
    /// The customisation layer's entries (the last layer).
    pub custom: Vec<PlannedEntry>,
}

impl Layering {
    /// The draft of `spec`'s image with this layering.
    pub fn into_draft<'a>(
        self,
        spec: &'a ImageSpec,
        base: Option<&'a BaseImage>,
    ) -> Result<Draft<'a>> {
        let n = self.layers.len();
        let base_count = base.map_or(0, |b| b.layers.len());
        let pending_ok = self
            .pending
            .iter()
            .all(|(i, _)| *i >= base_count && *i + 1 < n && self.layers[*i].is_none());
        if n == 0 || self.layers[n - 1].is_some() || !pending_ok {
            bail!("the layering is malformed (not written by this nci-image?)");
        }
        let custom = self
            .custom
            .iter()
            .map(PlannedEntry::to_entry)
            .collect::<Result<Vec<_>>>()?;
        Ok(Draft {
            spec,
            base,
            layers: self.layers,
            pending: self.pending,
            custom,
        })
    }
}

impl Draft<'_> {
    /// What is left to do, to be kept and done later.
    pub fn layering(&self) -> Result<Layering> {
        Ok(Layering {
            layers: self.layers.clone(),
            pending: self.pending.clone(),
            custom: self
                .custom
                .iter()
                .map(PlannedEntry::from_entry)
                .collect::<Result<Vec<_>>>()?,
        })
    }

    /// Where the store paths are (`/nix/store`).
    pub fn store_dir(&self) -> &str {
        &self.spec.store_dir
    }
}

/// Computes the plan of `spec`'s image, hashing the store layers no
/// derivation has hashed and the customisation layer on every core,
/// biggest first (by the closure's NAR sizes).
pub fn make(spec: &ImageSpec, closure: &Closure, inputs: &Inputs) -> Result<Plan> {
    let draft = draft(spec, closure, inputs)?;
    let store_dir = &spec.store_dir;
    let work: Vec<Option<&(usize, Vec<String>)>> =
        draft.pending.iter().map(Some).chain([None]).collect();
    let weight = |w: &Option<&(usize, Vec<String>)>| -> u64 {
        match w {
            Some((_, paths)) => paths
                .iter()
                .map(|p| closure.paths.get(p).map_or(0, |info| info.nar_size))
                .sum(),
            None => draft.customisation_size(),
        }
    };
    let hashed = on_every_core(&work, weight, |w| match w {
        Some((i, paths)) => {
            let (digest, size, links) =
                store::hash_store_layer(store_dir, paths, &inputs.path_layers)?;
            Ok((*i, store_layer(store_dir, paths, digest, size, links)?))
        }
        None => draft.hash_customisation(),
    })?;
    draft.complete(hashed)
}

/// The planned layer of store `paths`, hashed.
pub fn store_layer(
    store_dir: &str,
    paths: &[String],
    digest: String,
    size: u64,
    links: Links,
) -> Result<PlannedLayer> {
    let comment = paths
        .iter()
        .map(|p| store::archive_prefix(store_dir, p).map(|n| format!("/{n}")))
        .collect::<Result<Vec<_>>>()?
        .join(" ");
    Ok(PlannedLayer {
        digest,
        size,
        media_type: OCI_TAR.into(),
        comment,
        source: Source::Store {
            paths: paths.to_vec(),
            links,
        },
    })
}

/// The customisation layer of `entries`, hashed.
fn customisation_layer(entries: &[Entry]) -> Result<PlannedLayer> {
    let planned = entries
        .iter()
        .map(PlannedEntry::from_entry)
        .collect::<Result<Vec<_>>>()?;
    let mut buf = vec![0u8; 1 << 20];
    let (digest, size) = store::digest_entries(entries, &mut buf)?;
    Ok(PlannedLayer {
        digest,
        size,
        media_type: OCI_TAR.into(),
        comment: "customisation layer".into(),
        source: Source::Entries { entries: planned },
    })
}

/// The store paths that go into the image as layers: the closure of the
/// store roots and of what the root trees refer to (the trees themselves
/// are copied into the customisation layer).
fn store_paths(spec: &ImageSpec, closure: &Closure) -> Result<BTreeSet<String>> {
    for root in &spec.store_roots {
        if !closure.contains(root) {
            bail!("storeRoots: {root} is not in the closure the builder was given (is it a store path this image depends on?)");
        }
    }
    for tree in &spec.root_trees {
        if !closure.contains(tree) {
            bail!("rootTrees: {tree} is not in the closure the builder was given");
        }
    }
    let mut paths = closure.reachable(spec.store_roots.iter().map(String::as_str));
    for tree in &spec.root_trees {
        let refs = closure
            .paths
            .get(tree)
            .map(|i| i.references.clone())
            .unwrap_or_default();
        paths.extend(closure.reachable(refs.iter().map(String::as_str).filter(|r| r != tree)));
    }
    for tree in &spec.root_trees {
        // A tree is copied; it is a layer only if something refers to it.
        let referenced = spec.store_roots.contains(tree)
            || closure
                .paths
                .values()
                .any(|i| i.path != *tree && i.references.contains(tree) && paths.contains(&i.path));
        if !referenced {
            paths.remove(tree);
        }
    }
    Ok(paths)
}

/// The image config: ours over the base image's.
fn config_blob(
    spec: &ImageSpec,
    base: Option<&BaseImage>,
    layers: &[PlannedLayer],
) -> Result<String> {
    let ours = serde_json::to_value(&spec.config)?;
    let (container, mut history, mut diff_ids) = match base {
        Some(b) => {
            if let Some(arch) = b.config["architecture"].as_str() {
                if arch != spec.architecture {
                    bail!(
                        "image.from: the base image is for {arch}, this image for {}",
                        spec.architecture
                    );
                }
            }
            let base_container = b.config["config"].as_object().cloned().unwrap_or_default();
            let history = b.config["history"].as_array().cloned().unwrap_or_default();
            let diff_ids = b.config["rootfs"]["diff_ids"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (merge_config(base_container, &ours), history, diff_ids)
        }
        None => (
            ours.as_object().cloned().unwrap_or_default(),
            Vec::new(),
            Vec::new(),
        ),
    };
    let base_count = base.map_or(0, |b| b.layers.len());
    for l in &layers[base_count..] {
        diff_ids.push(json!(format!("sha256:{}", l.digest)));
        history.push(json!({
            "created": spec.created,
            "created_by": "nix-container-images",
            "comment": l.comment,
        }));
    }
    let config = json!({
        "architecture": spec.architecture,
        "os": "linux",
        "created": spec.created,
        "config": Value::Object(container),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    Ok(config.to_string())
}

/// Docker's rules for a derived image: our settings replace the base's;
/// setting an entry point drops the base's default arguments (`Cmd`), as
/// a Dockerfile `ENTRYPOINT` does; environment variables, ports, volumes
/// and labels merge, ours winning.
pub fn merge_config(mut base: Map<String, Value>, ours: &Value) -> Map<String, Value> {
    let Some(ours) = ours.as_object() else {
        return base;
    };
    if ours.contains_key("Entrypoint") {
        base.remove("Cmd");
    }
    for (k, v) in ours {
        match k.as_str() {
            "Env" => {
                let mut env: Vec<String> = base
                    .get("Env")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                for var in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let name = var.split('=').next().unwrap_or(var);
                    match env.iter_mut().find(|e| e.split('=').next() == Some(name)) {
                        Some(slot) => *slot = var.to_owned(),
                        None => env.push(var.to_owned()),
                    }
                }
                base.insert(k.clone(), json!(env));
            }
            "ExposedPorts" | "Volumes" | "Labels" => {
                let mut m = base
                    .get(k)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (kk, vv) in v.as_object().into_iter().flatten() {
                    m.insert(kk.clone(), vv.clone());
                }
                base.insert(k.clone(), Value::Object(m));
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

fn manifest_blob(config: &str, layers: &[PlannedLayer]) -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", hex(&Sha256::digest(config.as_bytes()))),
            "size": config.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type,
            "digest": format!("sha256:{}", l.digest),
            "size": l.size,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Reads per-store-path layer files, checking they are of this format
/// and describe the path they are given for.
pub fn read_path_layers(
    refs: &[nci_core::image_spec::LayerInfoRef],
) -> Result<BTreeMap<String, PathLayer>> {
    let mut out = BTreeMap::new();
    for r in refs {
        let pl: PathLayer = nci_core::nix_build::read_json(Path::new(&r.info))?;
        if pl.version != LAYER_FORMAT || pl.path != r.path {
            bail!(
                "{}: describes {} (format {}), expected {} (format {LAYER_FORMAT})",
                r.info,
                pl.path,
                pl.version,
                r.path
            );
        }
        out.insert(pl.path.clone(), pl);
    }
    Ok(out)
}
