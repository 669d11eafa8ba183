//! Command line of `nci-init`. Users run the generated init file
//! (`init [STATE-DIR]`), whose first line is `#!<nci-init> boot`; the
//! other commands are run by s6 through the generated service files, or
//! by Nix as the builder that generates them.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-init",
    version,
    about = "The init runner of nix-container-images: runs the s6 services of an image"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the container's services (what the init file runs): stage 1
    /// runs the oneshot-pre services, stage 2 hands the long-runs to
    /// s6-svscan and then runs the oneshot-post services.
    Boot {
        /// The init file (its first line runs this command).
        init: PathBuf,
        /// Where to build the scan directory; it must not exist. Without
        /// it, `s6.stateDir` (as PID 1, a leftover one is replaced) or,
        /// when that cannot be created, `$TMPDIR/s6-<uid>`.
        state_dir: Option<PathBuf>,
    },
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
    /// Stage 2 helper: wait for the long-runs, then run oneshot-posts.
    #[command(hide = true)]
    Stage2 {
        state_dir: PathBuf,
        /// When stage 1 started (milliseconds since the epoch).
        started_ms: Option<u64>,
    },
    /// A long-run's `run` file: wait for its turn, then exec the service.
    #[command(hide = true)]
    Run {
        script: PathBuf,
        #[arg(allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// A long-run's `finish` file: `finish CODE SIGNAL SERVICEDIR`.
    #[command(hide = true)]
    Finish {
        script: PathBuf,
        code: String,
        signal: String,
        #[arg(allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// A long-run's `log/run` file: exec the service's logger.
    #[command(hide = true)]
    Log {
        script: PathBuf,
        #[arg(allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Set a service up (user, environment, directory) and exec it.
    #[command(hide = true)]
    Exec { service: PathBuf },
    /// Set a service's logger up and exec it (stdin is the service's output).
    #[command(hide = true)]
    ExecLogger { service: PathBuf },
    /// `.s6-svscan/SIGTERM` and `SIGINT`: start stopping the container.
    #[command(hide = true)]
    SvscanSignal { script: PathBuf },
    /// `.s6-svscan/finish` and `crash`: stage 3.
    #[command(hide = true)]
    SvscanFinish { script: PathBuf },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn finish_takes_what_s6_supervise_passes() {
        let cli =
            Cli::try_parse_from(["nci-init", "finish", "./finish", "256", "15", "web"]).unwrap();
        match cli.command {
            Command::Finish { code, signal, .. } => {
                assert_eq!((code.as_str(), signal.as_str()), ("256", "15"))
            }
            other => panic!("{other:?}"),
        }
    }
}
