//! `nci-image`: the Nix builder that writes an image archive from the spec
//! the `image` module evaluates to.

mod archive;
mod cli;
mod customisation;
mod layers;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use nci_core::closure::{Closure, PathInfo};
use nci_core::fs_walk::{walk, Modes};
use nci_core::image_spec::ImageSpec;
use nci_core::nix_build::{attrs_file, read_json, store_path_hash};
use nci_core::tar::Entry;
use serde::Deserialize;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The structured attributes of the image derivation that this tool reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuilderAttrs {
    spec: serde_json::Value,
    #[serde(default)]
    store_graph: Vec<PathInfo>,
    #[serde(default)]
    tree_graph: Vec<PathInfo>,
    outputs: Outputs,
}

#[derive(Deserialize)]
struct Outputs {
    out: PathBuf,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nci-image: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::NixBuilder => {
            let attrs_path = attrs_file();
            let attrs: BuilderAttrs = read_json(&attrs_path)?;
            let spec: ImageSpec = serde_json::from_value(attrs.spec)
                .with_context(|| format!("{}: the spec attribute", attrs_path.display()))?;
            let mut closure = Closure::from_infos(attrs.store_graph);
            closure.extend(Closure::from_infos(attrs.tree_graph));
            build(&spec, &closure, &attrs.outputs.out)
        }
        Command::Build { spec, graphs, out } => {
            let spec_value: ImageSpec = read_json(&spec)?;
            let mut closure = Closure::default();
            for g in &graphs {
                let infos: Vec<PathInfo> = read_json(g)?;
                closure.extend(Closure::from_infos(infos));
            }
            build(&spec_value, &closure, &out)
        }
    }
}

/// Writes the image to a temporary file beside `out` and renames it into
/// place, so a failure leaves no partial archive behind.
fn build(spec: &ImageSpec, closure: &Closure, out: &Path) -> Result<()> {
    spec.validate()?;
    let plans = plan_layers(spec, closure)?;
    let tag = match (&spec.tag, out.to_str().and_then(store_path_hash)) {
        (Some(t), _) => t.clone(),
        (None, Some(hash)) => hash.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    let meta = archive::ImageMeta {
        reference: format!("{}:{}", spec.name, tag),
        created: &spec.created,
        architecture: &spec.architecture,
        config: serde_json::to_value(&spec.config)?,
    };
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("{}: cannot create the output", out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, tmp);
    archive::write(&mut w, &meta, &plans)?;
    w.flush().with_context(|| out.display().to_string())?;
    let tmp = w.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(out)
        .with_context(|| format!("{}: cannot write the output", out.display()))?;
    Ok(())
}

/// Store layers in popularity order, then the customisation layer.
fn plan_layers(spec: &ImageSpec, closure: &Closure) -> Result<Vec<archive::LayerPlan>> {
    for root in spec.store_roots.iter().chain(&spec.root_trees) {
        if !closure.contains(root) {
            bail!("storeRoots: {root} is not in the reference graph the builder was given (is it a store path of this build?)");
        }
    }
    let mut store_paths = closure.reachable(spec.store_roots.iter().map(String::as_str));
    for tree in &spec.root_trees {
        store_paths.extend(closure.reachable([tree.as_str()]));
    }
    for tree in &spec.root_trees {
        // A tree is copied into the customisation layer; only what it
        // refers to goes in as store paths.
        let referenced = closure.paths.values().any(|i| {
            i.path != *tree && i.references.contains(tree) && store_paths.contains(&i.path)
        });
        if !referenced && !spec.store_roots.contains(tree) {
            store_paths.remove(tree);
        }
    }
    for p in &store_paths {
        if !Path::new(p).exists() {
            bail!("{p}: store path of the closure is missing on disk");
        }
    }
    let slots = spec.max_layers - 1;
    let custom = customisation::build(&spec.root_trees, &spec.profile, &spec.symlinks)?;
    let mut plans: Vec<archive::LayerPlan> = layers::group(closure, &store_paths, slots)
        .into_iter()
        .map(|paths| store_layer(&paths))
        .collect::<Result<_>>()?;
    if slots == 0 && !store_paths.is_empty() {
        // maxLayers = 1: everything shares the one layer.
        let all: Vec<String> = store_paths.into_iter().collect();
        let mut plan = store_layer(&all)?;
        plan.entries.extend(custom);
        plan.entries.sort_by(|a, b| a.path.cmp(&b.path));
        plans.push(plan);
    } else {
        plans.push(archive::LayerPlan {
            entries: custom,
            comment: "customisation layer".into(),
        });
    }
    Ok(plans)
}

fn store_layer(paths: &[String]) -> Result<archive::LayerPlan> {
    let mut entries = vec![
        Entry::directory("nix", 0o755),
        Entry::directory("nix/store", 0o755),
    ];
    for p in paths {
        let rel = p.trim_start_matches('/');
        entries.extend(walk(Path::new(p), rel, Modes::AsOnDisk)?);
    }
    Ok(archive::LayerPlan {
        entries,
        comment: paths.join(" "),
    })
}
