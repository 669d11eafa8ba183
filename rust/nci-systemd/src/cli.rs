//! The command line of `nci-systemd`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nci-systemd",
    version,
    about = "Runs a NixOS systemd service unit under s6 as systemd would"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Runs one unit (a spec written by the systemd module): its Exec*
    /// commands, as its user, restarting it as Restart= says, until a
    /// TERM stops it.
    Run {
        /// Write a newline to this descriptor when the unit is ready
        /// (s6's notification-fd).
        #[arg(long)]
        readiness_fd: Option<i32>,
        /// The /etc holding passwd and group (tests).
        #[arg(long, default_value = "/etc", hide = true)]
        etc: PathBuf,
        unit: PathBuf,
    },
    /// Applies systemd-tmpfiles rules (create and remove) from files.
    Tmpfiles {
        /// The /etc holding passwd and group (tests).
        #[arg(long, default_value = "/etc", hide = true)]
        etc: PathBuf,
        /// Prefix every path of the rules with this directory (tests).
        #[arg(long, hide = true)]
        root: Option<PathBuf>,
        files: Vec<PathBuf>,
    },
    /// Sends a notification to the service manager ($NOTIFY_SOCKET), as
    /// systemd-notify does: `notify --ready`, `notify READY=1 STATUS=x`.
    Notify {
        #[arg(long)]
        ready: bool,
        #[arg(long)]
        reloading: bool,
        #[arg(long)]
        stopping: bool,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        pid: Option<String>,
        /// Accepted for compatibility; nothing to wait for.
        #[arg(long, hide = true)]
        booted: bool,
        assignments: Vec<String>,
    },
    /// Prints the service's credentials, as systemd-creds does in a
    /// service: `creds cat ID...`, `creds list` (also run as
    /// `systemd-creds`).
    Creds {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// Answers a service's `systemctl` about the services of the image:
    /// `is-active`, `is-failed`, `status`, `start`, `stop`, `reload`,
    /// `restart`, ... (also run as
    /// `systemctl`; the units' `bin/systemctl` passes the scan directory).
    Systemctl {
        /// s6's scan directory (`s6.stateDir`).
        #[arg(long, default_value = nci_core::init_spec::DEFAULT_STATE_DIR)]
        scan_dir: PathBuf,
        /// The s6-svc that starts, stops, reloads and restarts (the
        /// image's s6 programs; `status` runs the s6-svstat beside it).
        #[arg(long, default_value = "s6-svc")]
        s6_svc: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// Internal: prepares a process (user, groups, capabilities, limits,
    /// umask, directory, streams) and executes it; the request is in
    /// $NCI_SYSTEMD_EXEC.
    #[command(hide = true)]
    Exec,
    /// Nix builder steps: `units`, `job-script` (reads the derivation's
    /// structured attributes).
    NixBuilder { step: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn systemctl_takes_its_options_anywhere_after_the_scan_dir() {
        let cli = Cli::try_parse_from([
            "nci-systemd",
            "systemctl",
            "--scan-dir",
            "/s",
            "--quiet",
            "is-active",
            "-q",
            "a",
        ])
        .unwrap();
        let Cmd::Systemctl {
            scan_dir, words, ..
        } = cli.command
        else {
            panic!("not systemctl");
        };
        assert_eq!(scan_dir, PathBuf::from("/s"));
        assert_eq!(words, ["--quiet", "is-active", "-q", "a"]);
    }

    #[test]
    fn run_takes_the_readiness_fd() {
        let cli =
            Cli::try_parse_from(["nci-systemd", "run", "--readiness-fd", "3", "/u.json"]).unwrap();
        assert!(matches!(
            cli.command,
            Cmd::Run {
                readiness_fd: Some(3),
                ..
            }
        ));
    }
}
