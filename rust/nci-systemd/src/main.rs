//! `nci-systemd`: the systemd shim's runtime and build steps (see cli.rs
//! and docs/systemd.md). Run as `systemd-notify` it is the notify client,
//! as `systemctl` the services' systemctl (systemctl.rs).

mod builder;
mod cli;
mod cmdline;
mod conditions;
mod creds;
mod exec;
mod limits;
mod notify;
mod run;
mod sched;
mod spec;
mod sys;
mod systemctl;
mod timespan;
mod tmpfiles;

use clap::Parser;
use cli::{Cli, Cmd};
use std::process::ExitCode;

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c.clamp(0, 255)).unwrap_or(1))
}

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    // Run as systemd-notify or systemd-creds: their command line is ours
    // after `notify` or `creds`.
    let multi_call = match argv0.rsplit('/').next() {
        Some("systemd-notify") => Some("notify"),
        Some("systemd-creds") => Some("creds"),
        Some("systemctl") => Some("systemctl"),
        _ => None,
    };
    let args: Vec<String> = match multi_call {
        Some(sub) => {
            let mut a = vec!["nci-systemd".to_string(), sub.to_string()];
            a.extend(std::env::args().skip(1));
            a
        }
        None => std::env::args().collect(),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Cmd::Exec => return code(exec::main()),
        Cmd::Run {
            readiness_fd,
            etc,
            unit,
        } => run::main(&unit, readiness_fd, &etc),
        Cmd::Tmpfiles { etc, root, files } => {
            tmpfiles::main(&etc, root, &files).map(|ok| if ok { 0 } else { 1 })
        }
        Cmd::Notify {
            ready,
            reloading,
            stopping,
            status,
            pid,
            booted: _,
            assignments,
        } => notify::main(ready, reloading, stopping, status, pid, assignments).map(|()| 0),
        Cmd::Creds { words } => creds::main(&words).map_err(|e| e.context("systemd-creds")),
        Cmd::Systemctl {
            scan_dir,
            s6_svc,
            words,
        } => {
            match systemctl::main(&words, &scan_dir, &s6_svc) {
                Ok(c) => return code(c),
                // systemctl's own prefix, not nci-systemd's.
                Err(e) => {
                    nci_core::errln!("systemctl: {e:#}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Cmd::NixBuilder { step } => builder::run(&step).map(|()| 0),
    };
    match result {
        Ok(c) => code(c),
        Err(e) => {
            nci_core::errln!(
                "nci-systemd: {}",
                nci_core::rules::readable(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}
