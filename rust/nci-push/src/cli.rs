//! Command line of `nci-push` (and of the `copy-to-registry` scripts
//! that run it).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-push",
    version,
    about = "Send a planned image to a registry, reading layers from the store and skipping the blobs the registry has"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a Nix builder: writes `$out/bin/copy-to-registry` from the
    /// structured attributes (`plan`, `imageTool`, `reference`; for an
    /// index, `images` and `format` instead of `plan`).
    NixBuilder,
    /// Push the image of a `copy-to-registry` script (how the script
    /// runs this program: its `#!` line names this subcommand).
    Script(Push),
    /// Load the image of a `copy-to-podman` / `copy-to-docker-daemon`
    /// script into its engine (`ENGINE load`, the image streamed to it
    /// through a pipe).
    Load(Load),
}

#[derive(Debug, clap::Args)]
pub struct Load {
    /// The `copy-to-podman` / `copy-to-docker-daemon` script.
    pub script: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct Push {
    /// The `copy-to-registry` script.
    pub script: PathBuf,
    /// Where to send the image: `docker://HOST[:PORT]/REPOSITORY[:TAG]`
    /// (the tag defaults to the image's).
    pub destination: String,
    /// Talk plain HTTP to the registry (it does for localhost, 127.0.0.1
    /// and [::1] unless they have certificates); without it, HTTPS with
    /// verified certificates.
    #[arg(long)]
    pub plain_http: bool,
    /// The auth file to read credentials from (default: $REGISTRY_AUTH_FILE,
    /// else $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.config/containers/auth.json, ~/.docker/config.json).
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    /// How layers are compressed for the registry (podman's flag): the
    /// same layer always gives the same bytes; what a layer compresses
    /// to is cached ($XDG_CACHE_HOME/nix-container-images/compressed).
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression_format: crate::compress::Compression,
    /// The registry's certificates: DIR/*.crt are trusted for it, as
    /// with podman's and skopeo's --cert-dir (default:
    /// /etc/containers/certs.d/HOST[:PORT]/). With it, a registry on the
    /// loopback is talked to over HTTPS too.
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
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
