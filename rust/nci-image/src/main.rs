//! `nci-image`: the Nix builder steps that turn the `image` module's spec
//! into a layered image, and the same steps as commands.
//!
//! Per store path, `layer` computes that path's layer digest once (a
//! small derivation Nix caches); `plan` hashes only what is left (the
//! customisation layer, the shared last layer) and fixes every digest;
//! `archive` and `oci` only copy bytes into place. `image` (the default
//! output) hashes each layer while it writes it (build.rs); `stream`
//! writes a script holding the layering, which hashes each layer just
//! before writing it when run (stream.rs).

mod assemble;
mod base;
mod build;
mod cli;
mod customisation;
mod layer_cache;
mod layers;
mod parallel;
mod plan;
mod render;
mod report;
mod run;
mod same_bytes;
mod sink;
mod store;
mod stream;
mod tree;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Command, Format};
use nci_core::closure::{Closure, PathInfo};
use nci_core::image_spec::ImageSpec;
use nci_core::nix_build::{attrs_file, read_json, store_path_hash, Outputs};
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            nci_core::errln!(
                "nci-image: error: {}",
                nci_core::rules::readable(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

/// The structured attributes every step reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StepAttrs {
    #[serde(default = "default_step")]
    step: String,
    outputs: Outputs,
}

fn default_step() -> String {
    "image".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanAttrs {
    spec: serde_json::Value,
    #[serde(default)]
    store_graph: Vec<PathInfo>,
    #[serde(default)]
    tree_graph: Vec<PathInfo>,
}

/// The `stream` step: the plan's inputs, the reference and the program
/// that runs the script.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamAttrs {
    #[serde(flatten)]
    plan: PlanAttrs,
    reference: String,
    interpreter: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssembleAttrs {
    plan: PathBuf,
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerAttrs {
    store_path: String,
}

/// The `index` step: the images (`{ system, plan }`, in order) and the
/// index's reference.
#[derive(Deserialize)]
struct IndexAttrs {
    images: Vec<IndexImage>,
    reference: String,
}

#[derive(Deserialize)]
struct IndexImage {
    system: String,
    plan: PathBuf,
}

/// Reads the plans of an index's images.
fn index_members(images: Vec<IndexImage>) -> Result<Vec<assemble::IndexMember>> {
    images
        .into_iter()
        .map(|i| {
            Ok(assemble::IndexMember {
                system: i.system,
                plan: read_json(&i.plan)?,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct BaseAttrs {
    from: PathBuf,
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::NixBuilder => nix_builder(),
        Command::Layer {
            path,
            store_dir,
            out,
        } => write_json(&store::path_layer(&store_dir, &path)?, out.as_deref()),
        Command::Base { from, out } => write_json(&base::read(&from)?, out.as_deref()),
        Command::Plan { spec, graphs, out } => {
            let plan = plan_from_files(&spec, &graphs)?;
            write_json(&plan, Some(&out))
        }
        Command::Assemble {
            plan,
            format,
            reference,
            out,
        } => {
            let plan: plan::Plan = read_json(&plan)?;
            let reference = reference.unwrap_or_else(|| default_reference(&plan, None));
            match format {
                Format::DockerArchive => assemble::docker_archive_file(&plan, &reference, &out),
                Format::Oci => assemble::oci_dir(&plan, &reference, &out),
            }
        }
        Command::Build { spec, graphs, out } => {
            let (spec, closure) = read_spec_and_graphs(&spec, &graphs)?;
            build_archive(&spec, &closure, &out)
        }
        Command::Stream { file, reference } => stream(&file, reference),
        Command::StreamScript {
            spec,
            graphs,
            reference,
            out,
        } => {
            let raw: serde_json::Value = read_json(&spec)?;
            let closure = read_spec_and_graphs(&spec, &graphs)?.1;
            let interpreter = std::env::current_exe().context("the path of nci-image")?;
            let interpreter = interpreter
                .to_str()
                .context("the path of nci-image is not UTF-8")?;
            write_stream_script(raw, &closure, &reference, interpreter, &out)
        }
        Command::Index {
            images,
            reference,
            out,
        } => {
            let images = images
                .iter()
                .map(|i| match i.split_once('=') {
                    Some((system, plan)) => Ok(IndexImage {
                        system: system.to_owned(),
                        plan: plan.into(),
                    }),
                    None => bail!("--image {i}: expected SYSTEM=PLAN"),
                })
                .collect::<Result<Vec<_>>>()?;
            assemble::oci_index_dir(&index_members(images)?, &reference, &out)
        }
        Command::Blob { plan, digest } => {
            let plan: plan::Plan = read_json(&plan)?;
            assemble::blob_stdout(&plan, digest.trim_start_matches("sha256:"))
        }
        Command::Layers { plan, out } => {
            let plan: plan::Plan = read_json(&plan)?;
            match out {
                Some(dir) => write_report(&plan, &dir),
                None => {
                    let table = report::table(&report::report(&plan));
                    std::io::stdout().lock().write_all(table.as_bytes())?;
                    Ok(())
                }
            }
        }
    }
}

/// The reference an output gets: `name:tag`, the tag being `image.tag`,
/// else the hash part of the output's store path, else `latest`.
fn default_reference(plan: &plan::Plan, out: Option<&Path>) -> String {
    let tag = match (
        &plan.tag,
        out.and_then(Path::to_str).and_then(store_path_hash),
    ) {
        (Some(t), _) => t.clone(),
        (None, Some(hash)) => hash.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    format!("{}:{}", plan.name, tag)
}

fn read_spec_and_graphs(spec: &Path, graphs: &[PathBuf]) -> Result<(ImageSpec, Closure)> {
    let spec: ImageSpec = read_json(spec)?;
    let mut closure = Closure::default();
    for g in graphs {
        let infos: Vec<PathInfo> = read_json(g)?;
        closure.extend(Closure::from_infos(infos));
    }
    Ok((spec, closure))
}

fn plan_from_files(spec: &Path, graphs: &[PathBuf]) -> Result<plan::Plan> {
    let (spec, closure) = read_spec_and_graphs(spec, graphs)?;
    make_plan(&spec, &closure)
}

/// Checks `spec` and reads what the plan needs besides it.
fn plan_inputs(spec: &ImageSpec) -> Result<plan::Inputs> {
    spec.validate()?;
    let base = match (&spec.from_info, &spec.from) {
        (Some(info), _) => Some(read_json(Path::new(info))?),
        (None, Some(from)) => Some(base::read(Path::new(from))?),
        (None, None) => None,
    };
    Ok(plan::Inputs {
        path_layers: plan::read_path_layers(&spec.layer_infos)?,
        base,
    })
}

fn make_plan(spec: &ImageSpec, closure: &Closure) -> Result<plan::Plan> {
    plan::make(spec, closure, &plan_inputs(spec)?)
}

/// Plans and writes the docker-archive `out` in one pass (see build.rs).
fn build_archive(spec: &ImageSpec, closure: &Closure, out: &Path) -> Result<()> {
    let inputs = plan_inputs(spec)?;
    let draft = plan::draft(spec, closure, &inputs)?;
    build::docker_archive_file(
        draft,
        &inputs.path_layers,
        &spec.store_dir,
        |plan| default_reference(plan, Some(out)),
        out,
    )
}

fn write_json<T: serde::Serialize>(value: &T, out: Option<&Path>) -> Result<()> {
    let bytes = serde_json::to_vec(value)?;
    match out {
        Some(path) => write_atomically(path, &bytes),
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(&bytes)?;
            o.write_all(b"\n")?;
            Ok(())
        }
    }
}

/// The size report of a plan: `DIR/layers.json` and `DIR/layers.txt`.
fn write_report(plan: &plan::Plan, dir: &Path) -> Result<()> {
    let r = report::report(plan);
    std::fs::create_dir(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut json = serde_json::to_vec_pretty(&r)?;
    json.push(b'\n');
    write_atomically(&dir.join("layers.json"), &json)?;
    write_atomically(&dir.join("layers.txt"), report::table(&r).as_bytes())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = nci_core::nix_build::dir_of(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("{}: cannot create the output", path.display()))?;
    tmp.write_all(bytes)
        .with_context(|| assemble::cannot_write(path))?;
    tmp.persist(path)
        .with_context(|| format!("{}: cannot write the output", path.display()))?;
    Ok(())
}

/// Writes the docker-archive of a stream script (the `.stream` output),
/// or of a plan, to standard output.
fn stream(file: &Path, reference: Option<String>) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    if text.starts_with("#!") {
        let body = text.split_once('\n').map_or("", |(_, b)| b);
        stream::run_script(stream::read_script(file, body)?, reference)
    } else {
        let plan: plan::Plan = read_json(file)?;
        let r = reference.unwrap_or_else(|| default_reference(&plan, None));
        assemble::stream_stdout(&plan, &r)
    }
}

/// Checks `spec` (as given) and lays out its image (hashing nothing),
/// and writes the executable stream script `out` that writes it.
fn write_stream_script(
    raw_spec: serde_json::Value,
    closure: &Closure,
    reference: &str,
    interpreter: &str,
    out: &Path,
) -> Result<()> {
    let spec: ImageSpec = nci_core::nix_build::from_value(raw_spec.clone(), "spec")?;
    let inputs = plan_inputs(&spec)?;
    let draft = plan::draft(&spec, closure, &inputs)?;
    let script = stream::script_text(interpreter, reference, raw_spec, &draft)?;
    write_atomically(out, script.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o555))
        .with_context(|| format!("{}: cannot write the output", out.display()))?;
    Ok(())
}

fn nix_builder() -> Result<()> {
    let attrs_path = attrs_file();
    let raw: serde_json::Value = read_json(&attrs_path)?;
    let common: StepAttrs = serde_json::from_value(raw.clone())
        .with_context(|| format!("{}: missing step or outputs", attrs_path.display()))?;
    let out = common.outputs.out;
    let attrs = |what: &str| format!("{}: the {what} step's attributes", attrs_path.display());
    match common.step.as_str() {
        "layer" => {
            let a: LayerAttrs = serde_json::from_value(raw).with_context(|| attrs("layer"))?;
            write_json(&store::path_layer("/nix/store", &a.store_path)?, Some(&out))
        }
        "base" => {
            let a: BaseAttrs = serde_json::from_value(raw).with_context(|| attrs("base"))?;
            write_json(&base::read(&a.from)?, Some(&out))
        }
        "plan" | "image" => {
            let a: PlanAttrs = serde_json::from_value(raw).with_context(|| attrs("plan"))?;
            let spec: ImageSpec = nci_core::nix_build::from_value(a.spec, "spec")?;
            let mut closure = Closure::from_infos(a.store_graph);
            closure.extend(Closure::from_infos(a.tree_graph));
            if common.step == "plan" {
                write_json(&make_plan(&spec, &closure)?, Some(&out))
            } else {
                build_archive(&spec, &closure, &out)
            }
        }
        "stream" => {
            let a: StreamAttrs = serde_json::from_value(raw).with_context(|| attrs("stream"))?;
            let mut closure = Closure::from_infos(a.plan.store_graph);
            closure.extend(Closure::from_infos(a.plan.tree_graph));
            write_stream_script(a.plan.spec, &closure, &a.reference, &a.interpreter, &out)
        }
        "archive" | "oci" => {
            let a: AssembleAttrs =
                serde_json::from_value(raw).with_context(|| attrs("assemble"))?;
            let plan: plan::Plan = read_json(&a.plan)?;
            let reference = a
                .reference
                .clone()
                .unwrap_or_else(|| default_reference(&plan, Some(&out)));
            if common.step == "archive" {
                assemble::docker_archive_file(&plan, &reference, &out)
            } else {
                assemble::oci_dir(&plan, &reference, &out)
            }
        }
        "layers" => {
            let a: AssembleAttrs = serde_json::from_value(raw).with_context(|| attrs("layers"))?;
            let plan: plan::Plan = read_json(&a.plan)?;
            write_report(&plan, &out)
        }
        "run" => {
            let a: run::RunSpec = serde_json::from_value(raw).with_context(|| attrs("run"))?;
            run::run(&a, &out)
        }
        "index" => {
            let a: IndexAttrs = serde_json::from_value(raw).with_context(|| attrs("index"))?;
            let members = index_members(a.images)?;
            assemble::oci_index_dir(&members, &a.reference, &out)
        }
        other => bail!("{}: unknown step '{other}'", attrs_path.display()),
    }
}
