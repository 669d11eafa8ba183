//! Command line of `nci-image`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-image",
    version,
    about = "Write a deterministic docker-archive image from a JSON image spec"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a Nix builder: read the spec, reference graphs and output
    /// path from the structured attributes ($NIX_ATTRS_JSON_FILE).
    NixBuilder,
    /// Build an image from files (for tests and use outside Nix).
    Build {
        /// The image spec (JSON, contract version 1).
        #[arg(long)]
        spec: PathBuf,
        /// Reference graphs (JSON lists of {path, references}) covering
        /// the store roots and root trees; may be given several times.
        #[arg(long = "graph")]
        graphs: Vec<PathBuf>,
        /// Where to write the docker-archive.
        #[arg(long)]
        out: PathBuf,
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
