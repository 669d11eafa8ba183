//! `nci-s6`: generates what `nci-init` runs (the init file, the s6
//! service directories) and copies `s6.programs`, as Nix builders. It
//! never enters an image. See docs/s6.md and docs/spec.md.

mod cli;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use nci_core::init_spec::InitSpec;
use nci_core::nix_build::{attrs_file, read_json};
use nci_s6::{generate, programs};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The structured attributes of the generating derivation.
#[derive(Deserialize)]
struct BuilderAttrs {
    spec: serde_json::Value,
    outputs: Outputs,
}

/// The structured attributes of the derivation of `s6.programs`.
#[derive(Deserialize)]
struct ProgramsAttrs {
    package: PathBuf,
    programs: Vec<String>,
    /// The option the programs come from, for the errors.
    option: String,
    outputs: nci_core::nix_build::Outputs,
}

#[derive(Deserialize)]
struct Outputs {
    out: PathBuf,
    services: PathBuf,
    tree: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            nci_core::errln!(
                "nci-s6: error: {}",
                nci_core::rules::readable(&format!("{e:#}"))
            );
            ExitCode::from(111)
        }
    }
}

fn generate(spec: &InitSpec, out: &Path, services: &Path, tree: Option<&Path>) -> Result<()> {
    generate::generate(
        spec,
        &generate::Outputs {
            init: out,
            services,
            tree,
        },
    )
    .map(|_| ())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::NixBuilder => {
            let attrs_path = attrs_file();
            let attrs: BuilderAttrs = read_json(&attrs_path)?;
            let spec: InitSpec = serde_json::from_value(attrs.spec)
                .with_context(|| format!("{}: the spec attribute", attrs_path.display()))?;
            generate(
                &spec,
                &attrs.outputs.out,
                &attrs.outputs.services,
                attrs.outputs.tree.as_deref(),
            )
        }
        Command::NixProgramsBuilder => {
            let attrs: ProgramsAttrs = read_json(&attrs_file())?;
            programs::copy(
                &attrs.package,
                &attrs.programs,
                &attrs.option,
                &attrs.outputs.out,
            )
        }
        Command::Generate {
            spec,
            out,
            services,
            tree,
        } => {
            let spec: InitSpec = read_json(&spec)?;
            generate(&spec, &out, &services, tree.as_deref())
        }
        Command::Check { spec } => {
            let spec: InitSpec = read_json(&spec)?;
            let order = spec.validate()?;
            nci_core::outln!("oneshot-pre: {}", order.oneshot_pre.join(" "));
            nci_core::outln!("long-run: {}", order.long_run.join(" "));
            nci_core::outln!("oneshot-post: {}", order.oneshot_post.join(" "));
            Ok(())
        }
    }
}
