//! What `nci-s6` generates at build time and `nci-init` reads back in
//! the container: the boot spec in the init file, one `service.json` per
//! service, and the names of files in the services directory and in the
//! state directory (see docs/spec.md, "Init runtime files"). Both sides
//! are built from this workspace together, so these formats follow its
//! version, not a contract.

use crate::init_spec::ServiceType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const BOOT_VERSION: u32 = 1;

/// The init file: `#!<nci-init> boot` then this, as JSON.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BootSpec {
    pub version: u32,
    pub nci_init: String,
    pub s6_bin: String,
    /// The generated services directory.
    pub services: String,
    pub state_dir: String,
    pub grace_time: u64,
    pub exit_code_from: Option<String>,
    pub oneshot_pre: Vec<String>,
    pub long_run: Vec<LongRunRef>,
    pub oneshot_post: Vec<String>,
}

/// A long-run and whether it notifies readiness.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LongRunRef {
    pub name: String,
    pub readiness: bool,
}

/// Everything needed to start one service, in `<name>/data/service.json`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceRuntime {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ServiceType,
    pub nci_init: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Run to completion before `argv` on each start.
    pub pre_start: Option<Vec<String>>,
    pub environment: BTreeMap<String, Option<String>>,
    /// Directories put first on `PATH`.
    pub path: Vec<String>,
    pub user: String,
    pub group: Option<String>,
    pub working_directory: Option<String>,
    pub restart_on_failure: bool,
    pub restart_delay: u64,
    pub restart_delay_max: u64,
    pub restart_limit: Option<u32>,
    pub restart_limit_interval: u64,
    /// Long-runs this one waits for (up, or ready when they notify).
    pub after: Vec<LongRunRef>,
    pub logger: Option<Vec<String>>,
    pub notification_fd: Option<u32>,
    /// Signal name without `SIG`.
    pub stop_signal: String,
    pub stop_timeout: u64,
    /// This service is `s6.exitCodeFrom`.
    pub exit_code_from: bool,
    /// Ambient capabilities kept after the switch to a non-root user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// File names in the services directory and the state directory.
pub mod names {
    /// The directory of s6-svscan's hooks (`finish`, `SIGTERM`, ...).
    pub const SVSCAN: &str = ".s6-svscan";
    /// Our own state, beside the services (s6-svscan skips dot names).
    pub const STATE: &str = ".nci-init";
    /// A service's data directory (s6 never touches `data`).
    pub const DATA: &str = "data";
    pub const SERVICE_JSON: &str = "service.json";
    pub const SCRIPT: &str = "script";
    pub const PRE_START: &str = "pre-start";
    /// In a long-run's data directory: when `run` last exec'ed the
    /// service (milliseconds since the epoch).
    pub const STARTED: &str = "started";
    /// In a long-run's data directory: failures in a row.
    pub const FAILURES: &str = "failures";
    /// In a long-run's data directory: when `finish` saw the service
    /// end (milliseconds since the epoch); the restart delay counts
    /// from it.
    pub const ENDED: &str = "ended";
    /// In `.nci-init`: a link to the init file.
    pub const INIT_LINK: &str = "init";
    /// In `.nci-init`: why the container stops (first writer wins).
    pub const STOP: &str = "stop";
    /// In `.nci-init`: `<service> <code>` of the first failure.
    pub const FAILURE: &str = "failure";
    /// In `.nci-init`: the last exit code of `s6.exitCodeFrom`.
    pub const EXIT_CODE: &str = "exit-code";
    /// The s6 files a long-run's directory links to.
    pub const LONG_RUN_FILES: [&str; 6] = [
        "run",
        "finish",
        "notification-fd",
        "timeout-kill",
        "timeout-finish",
        "down-signal",
    ];
    /// The hooks of `.s6-svscan`.
    pub const SVSCAN_HOOKS: [&str; 4] = ["finish", "crash", "SIGTERM", "SIGINT"];
}

/// The first line of every generated executable: `#!<nci-init> <command>`.
pub fn shebang(nci_init: &str, command: &str) -> String {
    format!("#!{nci_init} {command}\n")
}
