//! Command line of `nci-s6`, the build-time half of the s6 services: Nix
//! runs it as the builder of the init and of `s6.programs`; tests and
//! users outside Nix run `generate` and `check`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-s6",
    version,
    about = "Generates the init and the s6 service directories of an image (build time)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a Nix builder: generate the init file, the service
    /// directories and the image tree from the structured attributes.
    NixBuilder,
    /// Run as a Nix builder: copy the programs `programs` of the package
    /// `package` (`bin/<name>`), with the files they name in it, into the
    /// output, which has the package's name (see `s6.programs`).
    NixProgramsBuilder,
    /// Generate the init file and service directories from a spec file
    /// (for tests and use outside Nix).
    Generate {
        /// The init spec (JSON, contract version 1).
        #[arg(long)]
        spec: PathBuf,
        /// Where to write the init file.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the service directories (must not exist).
        #[arg(long)]
        services: PathBuf,
        /// Where to write the image tree (`root/`), if wanted.
        #[arg(long)]
        tree: Option<PathBuf>,
    },
    /// Check a spec file and print the order the services run in.
    Check {
        #[arg(long)]
        spec: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
