//! `nci-etc`: the Nix builder of an image's accounts and /etc. From the
//! specs `modules/users.nix` and `modules/etc.nix` evaluate, it writes
//! trees (`root/` plus an ownership `manifest.json`) that the image writer
//! copies into the image root.

mod cli;
mod crypt;
mod etc;
mod profile;
mod text;
mod tree;
mod users;

use anyhow::Result;
use clap::Parser;
use cli::{Builds, Cli, Command};
use nci_core::etc_spec::EtcSpec;
use nci_core::nix_build::{attrs_file, read_json, Outputs};
use nci_core::users_spec::UsersSpec;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The structured attributes each kind of derivation has.
#[derive(Deserialize)]
struct SpecAttrs<T> {
    spec: T,
    /// The users tree, for the /etc tree.
    #[serde(default)]
    users: Option<PathBuf>,
    outputs: Outputs,
}

#[derive(Deserialize)]
struct TextAttrs {
    parts: Vec<text::Part>,
    outputs: Outputs,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            nci_core::errln!(
                "nci-etc: error: {}",
                nci_core::rules::readable(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

fn spec_attrs<T: DeserializeOwned>(path: &Path) -> Result<SpecAttrs<T>> {
    let value: serde_json::Value = read_json(path)?;
    Ok(nci_core::nix_build::from_value(value, "")?)
}

fn users_info(tree: Option<&Path>) -> Result<etc::UsersInfo> {
    match tree {
        Some(t) => etc::UsersInfo::read(t),
        None => Ok(etc::UsersInfo::default()),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::NixBuilder { what } => {
            let path = attrs_file();
            match what {
                Builds::Users => {
                    let a: SpecAttrs<UsersSpec> = spec_attrs(&path)?;
                    users::build(&a.spec, &a.outputs.out, true)
                }
                Builds::Etc => {
                    let a: SpecAttrs<EtcSpec> = spec_attrs(&path)?;
                    let info = users_info(a.users.as_deref())?;
                    etc::build(&a.spec, &info, &a.outputs.out, true)
                }
                Builds::Text => {
                    let a: TextAttrs = read_json(&path)?;
                    text::write(&a.parts, &a.outputs.out)
                }
            }
        }
        Command::Users { spec, out } => users::build(&read_json(&spec)?, &out, false),
        Command::Etc {
            spec,
            users_tree,
            out,
        } => {
            let info = users_info(users_tree.as_deref())?;
            etc::build(&read_json(&spec)?, &info, &out, false)
        }
    }
}
