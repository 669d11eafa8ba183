//! `nci-init`: the init runner of nix-container-images, PID 1 of an image
//! with s6 services, and nothing else: what it runs is generated at build
//! time by `nci-s6`, which never enters an image. See docs/s6.md for the
//! stages and docs/spec.md for the files.

mod boot;
mod cli;
mod error;
mod layout;
mod pid1;
mod records;
mod service;
mod spawn;
mod stages;
mod status;
mod sys;
// The build that ships (tests/build-tools, nix/packages.nix): an unwinder
// that finds no frame instead of libunwind (src/unwind.rs).
#[cfg(all(
    panic = "abort",
    target_env = "musl",
    target_feature = "crt-static",
    not(test)
))]
mod unwind;

use crate::error::{Context, Result};
use cli::Command;
use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            nci_core::errln!("nci-init: error: {e}");
            return ExitCode::from(2);
        }
    };
    // What runs as a service prefixes its errors so they stand out in the
    // container's log.
    let prefix = if command.is_internal() {
        "[init] error"
    } else {
        "nci-init: error"
    };
    match run(command) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            nci_core::errln!("{prefix}: {e:#}");
            ExitCode::from(111)
        }
    }
}

fn run(command: Command) -> Result<i32> {
    match command {
        Command::Help => {
            let _ = nci_core::out::write_all(nci_core::out::Stream::Stdout, cli::USAGE.as_bytes());
            Ok(0)
        }
        Command::Version => {
            nci_core::outln!("nci-init {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Command::Boot { init, state_dir } => boot::boot(&init, state_dir.as_deref()),
        Command::Stage2 {
            state_dir,
            started_ms,
        } => boot::stage2(&state_dir, started_ms),
        Command::Run => service::run().map(|()| 0),
        Command::Finish { code, signal } => service::finish(&code, &signal),
        Command::Log => service::log().map(|()| 0),
        Command::Exec { service } => {
            let spec = layout::read_service(&service)?;
            service::exec_service(&spec, &service).map(|()| 0)
        }
        Command::ExecLogger { service } => {
            let spec = layout::read_service(&service)?;
            service::exec_logger(&spec).map(|()| 0)
        }
        Command::SvscanSignal { script } => boot::svscan_signal(&script),
        Command::SvscanFinish { script } => boot::svscan_finish(&script),
        Command::Pid1 { argv } => {
            let mut sys = pid1::RealPid1::new().context("signal handling")?;
            Ok(pid1::supervise(&mut sys, &argv)?)
        }
        Command::Pid1Exec { argv } => Ok(pid1::exec(&argv)),
    }
}
