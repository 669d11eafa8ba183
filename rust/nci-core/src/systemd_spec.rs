//! The unit spec (contract version 1, docs/spec.md "systemd units"): one
//! NixOS service as `modules/systemd.nix` writes it for `nci-systemd`,
//! decoded strictly (an unknown field is an error), and the settings the
//! shim applies, stated here once and written to
//! `nix/systemd-settings.json` for the module (docs/rules.md).
//!
//! The values stay systemd's strings here: `nci-systemd`'s `Unit` reads
//! them into typed settings (signals, capabilities, limits), every
//! problem reported together, each naming its option.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const VERSION: u32 = 1;

/// A setting's value: one string, or a list for repeatable settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Value {
    One(String),
    Many(Vec<String>),
}

impl Value {
    /// Every value given, in order.
    pub fn list(&self) -> Vec<String> {
        match self {
            Value::One(s) => vec![s.clone()],
            Value::Many(l) => l.clone(),
        }
    }

    /// The value that counts for a setting given once: the last one.
    pub fn last(&self) -> Option<String> {
        self.list().pop()
    }
}

/// `systemd.services.<name>` as the module writes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UnitSpec {
    #[serde(default = "version")]
    pub version: u32,
    pub name: String,
    /// `serviceConfig.Type`, or the default the module computed.
    #[serde(rename = "type")]
    pub kind: String,
    /// `systemd.globalEnvironment` and `environment` (PATH from `path`).
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The supported `serviceConfig` settings.
    #[serde(default)]
    pub service_config: BTreeMap<String, Value>,
    /// The supported `unitConfig` settings.
    #[serde(default)]
    pub unit_config: BTreeMap<String, Value>,
    /// `startLimitBurst`.
    #[serde(default)]
    pub start_limit_burst: Option<u32>,
    /// `startLimitIntervalSec`.
    #[serde(default)]
    pub start_limit_interval_sec: Option<u64>,
}

fn version() -> u32 {
    VERSION
}

/// The option path of a unit: `systemd.services.web`, then
/// `.serviceConfig.User` when a section and a setting are given (written
/// as modules/systemd.nix writes its own messages).
pub fn unit_option(name: &str, section: &str, key: &str) -> String {
    match (section, key) {
        ("", _) => format!("systemd.services.{name}"),
        (section, "") => format!("systemd.services.{name}.{section}"),
        (section, key) => format!("systemd.services.{name}.{section}.{key}"),
    }
}

/// The `serviceConfig` settings nci-systemd applies (docs/systemd.md).
pub const SETTINGS: &[&str] = &[
    "Type",
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecCondition",
    "ExecStop",
    "ExecStopPost",
    "ExecReload",
    "Environment",
    "EnvironmentFile",
    "UnsetEnvironment",
    "PassEnvironment",
    "WorkingDirectory",
    "User",
    "Group",
    "SupplementaryGroups",
    "DynamicUser",
    "UMask",
    "Nice",
    "OOMScoreAdjust",
    "IOSchedulingClass",
    "IOSchedulingPriority",
    "CPUSchedulingPolicy",
    "CPUSchedulingPriority",
    "CPUSchedulingResetOnFork",
    "CPUAffinity",
    "Restart",
    "RestartSec",
    "RestartPreventExitStatus",
    "RestartForceExitStatus",
    "SuccessExitStatus",
    "StartLimitBurst",
    "StartLimitIntervalSec",
    "StartLimitInterval",
    "TimeoutSec",
    "TimeoutStartSec",
    "TimeoutStopSec",
    "KillSignal",
    "KillMode",
    "FinalKillSignal",
    "SendSIGKILL",
    "SendSIGHUP",
    "RestartKillSignal",
    "PIDFile",
    "RuntimeDirectory",
    "RuntimeDirectoryMode",
    "RuntimeDirectoryPreserve",
    "StateDirectory",
    "StateDirectoryMode",
    "CacheDirectory",
    "CacheDirectoryMode",
    "LogsDirectory",
    "LogsDirectoryMode",
    "ConfigurationDirectory",
    "ConfigurationDirectoryMode",
    "AmbientCapabilities",
    "CapabilityBoundingSet",
    "NoNewPrivileges",
    "StandardInput",
    "StandardOutput",
    "StandardError",
    "LimitCPU",
    "LimitFSIZE",
    "LimitDATA",
    "LimitSTACK",
    "LimitCORE",
    "LimitRSS",
    "LimitNOFILE",
    "LimitAS",
    "LimitNPROC",
    "LimitMEMLOCK",
    "LimitLOCKS",
    "LimitSIGPENDING",
    "LimitMSGQUEUE",
    "LimitNICE",
    "LimitRTPRIO",
    "LimitRTTIME",
    "LoadCredential",
    "SetCredential",
    "LoadCredentialEncrypted",
    "SetCredentialEncrypted",
];

/// The [`SETTINGS`] that may be given several times, every value kept in
/// order (an empty value resets the list, as in systemd): nci-systemd
/// reads these as lists and every other setting as its last value, and
/// `modules/systemd.nix` writes them so (through
/// `nix/systemd-settings.json`).
pub const REPEATABLE_SETTINGS: &[&str] = &[
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecCondition",
    "ExecStop",
    "ExecStopPost",
    "ExecReload",
    "Environment",
    "EnvironmentFile",
    "UnsetEnvironment",
    "PassEnvironment",
    "SupplementaryGroups",
    "AmbientCapabilities",
    "CapabilityBoundingSet",
    "RuntimeDirectory",
    "StateDirectory",
    "CacheDirectory",
    "LogsDirectory",
    "ConfigurationDirectory",
    "SuccessExitStatus",
    "RestartPreventExitStatus",
    "RestartForceExitStatus",
    "LoadCredential",
    "SetCredential",
    "CPUAffinity",
];

/// The `[Unit]` conditions nci-systemd checks: on paths, and on what
/// the service manager runs in (nci-systemd's conditions.rs).
pub const UNIT_CONDITIONS: &[&str] = &[
    "ConditionPathExists",
    "ConditionPathIsDirectory",
    "ConditionPathIsSymbolicLink",
    "ConditionFileNotEmpty",
    "ConditionDirectoryNotEmpty",
    "ConditionFileIsExecutable",
    "ConditionPathExistsGlob",
    "ConditionVirtualization",
    "ConditionCapability",
    "ConditionEnvironment",
    "ConditionKernelCommandLine",
    "ConditionArchitecture",
    "ConditionHost",
    "AssertPathExists",
    "AssertPathIsDirectory",
    "AssertFileNotEmpty",
    "AssertPathExistsGlob",
    "AssertVirtualization",
    "AssertCapability",
    "AssertEnvironment",
    "AssertKernelCommandLine",
    "AssertArchitecture",
    "AssertHost",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_strict() {
        let ok: UnitSpec = serde_json::from_str(
            r#"{"name":"web","type":"simple","serviceConfig":{"ExecStart":"/bin/web","Environment":["A=1","B=2"]}}"#,
        )
        .unwrap();
        assert_eq!(ok.version, VERSION);
        assert_eq!(
            ok.service_config["Environment"].list(),
            vec!["A=1".to_owned(), "B=2".to_owned()]
        );
        assert_eq!(
            ok.service_config["ExecStart"].last().as_deref(),
            Some("/bin/web")
        );
        let e = serde_json::from_str::<UnitSpec>(r#"{"name":"web","type":"simple","wantedBy":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown field `wantedBy`"), "{e}");
    }

    #[test]
    fn option_paths() {
        assert_eq!(unit_option("web", "", ""), "systemd.services.web");
        assert_eq!(
            unit_option("web", "serviceConfig", "User"),
            "systemd.services.web.serviceConfig.User"
        );
    }

    /// The settings the module passes to units, as modules/systemd.nix
    /// reads them: stated here once, written to nix/systemd-settings.json
    /// (docs/rules.md). A name missing on one side would be dropped with
    /// a warning, or fail the build of the units.
    fn settings_json() -> serde_json::Value {
        let unit: Vec<&str> = UNIT_CONDITIONS
            .iter()
            .copied()
            .chain([
                "StartLimitBurst",
                "StartLimitIntervalSec",
                "StartLimitInterval",
            ])
            .collect();
        serde_json::json!({
            "comment": "Generated from rust/nci-core/src/systemd_spec.rs (SETTINGS, REPEATABLE_SETTINGS, UNIT_CONDITIONS): do not edit; NCI_UPDATE_GOLDEN=1 cargo test -p nci-core settings",
            "serviceSettings": SETTINGS,
            "repeatableSettings": REPEATABLE_SETTINGS,
            "unitSettings": unit,
        })
    }

    #[test]
    fn repeatable_settings_are_settings_the_shim_applies() {
        for key in REPEATABLE_SETTINGS {
            assert!(SETTINGS.contains(key), "{key} is not in SETTINGS");
        }
    }

    #[test]
    fn nix_systemd_settings_json_is_generated_from_settings() {
        crate::generated::assert_nix_file_is(
            "systemd-settings.json",
            &settings_json(),
            "SETTINGS",
            "settings",
        );
    }
}
