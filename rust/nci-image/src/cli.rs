//! Command line of `nci-image`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-image",
    version,
    about = "Write deterministic layered container images (docker-archive, OCI layout, stream) from a JSON image spec"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A docker-archive file (also an OCI layout inside a tar).
    DockerArchive,
    /// An OCI image layout directory.
    Oci,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a Nix builder: the step (`layer`, `base`, `plan`, `archive`,
    /// `oci`, `stream`, `layers`, `run`) and its inputs come from the structured
    /// attributes ($NIX_ATTRS_JSON_FILE).
    NixBuilder,
    /// Compute the layer facts (digest, size, hard links) of one store path.
    Layer {
        /// The store path.
        path: String,
        /// The store directory the path is in.
        #[arg(long, default_value = "/nix/store")]
        store_dir: String,
        /// Where to write the JSON (standard output if not given).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check and describe a base image (docker-archive or OCI layout).
    Base {
        /// The base image.
        from: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compute the plan of an image: every layer's digest and source.
    Plan {
        /// The image spec (JSON, contract version 1).
        #[arg(long)]
        spec: PathBuf,
        /// Reference graphs (JSON lists of {path, references}); may be
        /// given several times.
        #[arg(long = "graph")]
        graphs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a planned image.
    Assemble {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long, value_enum, default_value = "docker-archive")]
        format: Format,
        /// The image reference (`name:tag`); default: the plan's name and
        /// tag, or `latest`.
        #[arg(long)]
        reference: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Plan and write a docker-archive in one go (tests, benchmarks, use
    /// outside Nix).
    Build {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long = "graph")]
        graphs: Vec<PathBuf>,
        /// Where to write the docker-archive.
        #[arg(long)]
        out: PathBuf,
    },
    /// The size report of a planned image: each layer's size and share
    /// (a table on standard output, or `layers.json` and `layers.txt`
    /// in a new directory).
    Layers {
        #[arg(long)]
        plan: PathBuf,
        /// The directory to write (it must not exist).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the docker-archive of a stream script (see `passthru.stream`)
    /// or of a plan to standard output.
    Stream {
        /// A stream script (what the image's `stream` output is) or a plan.
        file: PathBuf,
        /// The image reference (`name:tag`) when `file` is a plan.
        #[arg(long)]
        reference: Option<String>,
    },
    /// Write the stream script of an image (what its `stream` output
    /// is): its layering, nothing hashed; running it writes the
    /// docker-archive to standard output, hashing as it goes.
    StreamScript {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long = "graph")]
        graphs: Vec<PathBuf>,
        /// The image reference (`name:tag`) the archive names.
        #[arg(long)]
        reference: String,
        /// Where to write the script (run by this nci-image).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write one layer's blob (the tar, as the plan's digest names it)
    /// to standard output: what `copyToRegistry` uploads.
    Blob {
        #[arg(long)]
        plan: PathBuf,
        /// The layer's digest (`sha256:HEX` or `HEX`).
        digest: String,
    },
    /// Write an OCI layout joining planned images of several
    /// architectures under one OCI image index: what
    /// `lib.makeMultiArchImage` builds.
    Index {
        /// An image of the index, as `SYSTEM=PLAN` (`x86_64-linux=plan.json`),
        /// given once per architecture, in the index's order.
        #[arg(long = "image", value_name = "SYSTEM=PLAN", required = true)]
        images: Vec<String>,
        /// The index's reference (`name:tag`) in the layout.
        #[arg(long)]
        reference: String,
        /// The layout directory to write (it must not exist).
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
