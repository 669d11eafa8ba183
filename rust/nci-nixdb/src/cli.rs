//! Command line of `nci-nixdb`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-nixdb",
    version,
    about = "Register an image's store closure in a Nix database"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as the Nix builder of the database tree ($NIX_ATTRS_JSON_FILE).
    NixBuilder,
    /// Print the registration (`nix-store --load-db` input) of a reference
    /// graph file (a JSON list of {path, references, narHash, narSize}).
    Registration {
        #[arg(long)]
        graph: PathBuf,
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
