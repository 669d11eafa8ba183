//! `nci-init`: the init runner of nix-container-images (PID 1 of an image
//! with s6 services) and the Nix builder that generates what it runs.
//! See docs/s6.md for the stages and docs/spec.md for the files.

mod boot;
mod cli;
mod generate;
mod layout;
mod programs;
mod records;
mod service;
mod stages;
mod status;
mod sys;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use nci_core::init_spec::InitSpec;
use nci_core::nix_build::{attrs_file, read_json};
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
    let cli = Cli::parse();
    // What runs as a service prefixes its errors so they stand out in the
    // container's log.
    let prefix = match cli.command {
        Command::Boot { .. }
        | Command::NixBuilder
        | Command::NixProgramsBuilder
        | Command::Generate { .. }
        | Command::Check { .. } => "nci-init: error",
        _ => "[init] error",
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            nci_core::errln!("{prefix}: {e:#}");
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

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Boot { init, state_dir } => boot::boot(&init, state_dir.as_deref()),
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
            )?;
            Ok(0)
        }
        Command::NixProgramsBuilder => {
            let attrs: ProgramsAttrs = read_json(&attrs_file())?;
            programs::copy(
                &attrs.package,
                &attrs.programs,
                &attrs.option,
                &attrs.outputs.out,
            )?;
            Ok(0)
        }
        Command::Generate {
            spec,
            out,
            services,
            tree,
        } => {
            let spec: InitSpec = read_json(&spec)?;
            generate(&spec, &out, &services, tree.as_deref())?;
            Ok(0)
        }
        Command::Check { spec } => {
            let spec: InitSpec = read_json(&spec)?;
            let plan = spec.validate()?;
            nci_core::outln!("oneshot-pre: {}", plan.oneshot_pre.join(" "));
            nci_core::outln!("long-run: {}", plan.long_run.join(" "));
            nci_core::outln!("oneshot-post: {}", plan.oneshot_post.join(" "));
            Ok(0)
        }
        Command::Stage2 {
            state_dir,
            started_ms,
        } => boot::stage2(&state_dir, started_ms),
        Command::Run { .. } => service::run().map(|()| 0),
        Command::Finish { code, signal, .. } => service::finish(&code, &signal),
        Command::Log { .. } => service::log().map(|()| 0),
        Command::Exec { service } => {
            let spec = layout::read_service(&service)?;
            service::exec_service(&spec, &service).map(|()| 0)
        }
        Command::ExecLogger { service } => {
            let spec = layout::read_service(&service)?;
            service::exec_logger(&spec).map(|()| 0)
        }
        Command::SvscanSignal { script } => boot::svscan_signal(&script),
        Command::SvscanFinish { script } => boot::svscan_finish(&script),
    }
}
