//! Command line of `nci-etc`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-etc",
    version,
    about = "Write the users files (/etc/passwd, group, shadow, homes) and the environment.etc tree of an image"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a Nix builder: read the spec and the output path from the
    /// structured attributes ($NIX_ATTRS_JSON_FILE).
    NixBuilder {
        /// What the derivation builds.
        #[arg(value_enum)]
        what: Builds,
    },
    /// Write the users tree from a users spec (for tests and use outside Nix).
    Users {
        /// The users spec (JSON, contract version 1).
        #[arg(long)]
        spec: PathBuf,
        /// The tree to create: `root/` and `manifest.json`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the /etc tree from an etc spec (for tests and use outside Nix).
    Etc {
        /// The etc spec (JSON, contract version 1).
        #[arg(long)]
        spec: PathBuf,
        /// A users tree written by `nci-etc users`: owners are looked up in
        /// its /etc/passwd and /etc/group, and its files may not be
        /// overwritten.
        #[arg(long)]
        users_tree: Option<PathBuf>,
        /// The tree to create: `root/` and `manifest.json`.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Builds {
    /// The users tree (attribute `spec`).
    Users,
    /// The /etc tree (attributes `spec` and `users`).
    Etc,
    /// A file concatenated from `parts` (`{ text }` or `{ file }`): what
    /// an `environment.etc.<name>.text` becomes.
    Text,
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
