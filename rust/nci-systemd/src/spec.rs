//! The unit spec (contract version 1, docs/spec.md "systemd units"):
//! one NixOS service as `modules/systemd.nix` writes it, and [`Unit`], the
//! same validated into typed settings. Every error names the option
//! (`systemd.services.<name>.serviceConfig.<Setting>`).

use crate::cmdline::{self, Command};
use crate::timespan;
use anyhow::{anyhow, bail, Result};
use nci_core::signals::{self, SignalError};
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

pub const VERSION: u32 = 1;

/// A setting's value: one string, or a list for repeatable settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Value {
    One(String),
    Many(Vec<String>),
}

impl Value {
    fn list(&self) -> Vec<String> {
        match self {
            Value::One(s) => vec![s.clone()],
            Value::Many(l) => l.clone(),
        }
    }
    fn last(&self) -> Option<String> {
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
    #[serde(default)]
    pub start_limit_burst: Option<u32>,
    #[serde(default)]
    pub start_limit_interval_sec: Option<u64>,
}

fn version() -> u32 {
    VERSION
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Simple,
    Exec,
    Forking,
    Oneshot,
    Notify,
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnWatchdog,
    OnAbort,
    Always,
}

impl Restart {
    pub const ALL: [Restart; 7] = [
        Restart::No,
        Restart::OnSuccess,
        Restart::OnFailure,
        Restart::OnAbnormal,
        Restart::OnWatchdog,
        Restart::OnAbort,
        Restart::Always,
    ];
    /// The policy as `Restart=` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Restart::No => "no",
            Restart::OnSuccess => "on-success",
            Restart::OnFailure => "on-failure",
            Restart::OnAbnormal => "on-abnormal",
            Restart::OnWatchdog => "on-watchdog",
            Restart::OnAbort => "on-abort",
            Restart::Always => "always",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillMode {
    ControlGroup,
    Mixed,
    Process,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirKind {
    Runtime,
    State,
    Cache,
    Logs,
    Configuration,
}

impl DirKind {
    pub const ALL: [DirKind; 5] = [
        DirKind::Runtime,
        DirKind::State,
        DirKind::Cache,
        DirKind::Logs,
        DirKind::Configuration,
    ];
    pub fn setting(self) -> &'static str {
        match self {
            DirKind::Runtime => "RuntimeDirectory",
            DirKind::State => "StateDirectory",
            DirKind::Cache => "CacheDirectory",
            DirKind::Logs => "LogsDirectory",
            DirKind::Configuration => "ConfigurationDirectory",
        }
    }
    pub fn base(self) -> &'static str {
        match self {
            DirKind::Runtime => "/run",
            DirKind::State => "/var/lib",
            DirKind::Cache => "/var/cache",
            DirKind::Logs => "/var/log",
            DirKind::Configuration => "/etc",
        }
    }
    /// The variable naming the directories (`RUNTIME_DIRECTORY`, ...).
    pub fn variable(self) -> &'static str {
        match self {
            DirKind::Runtime => "RUNTIME_DIRECTORY",
            DirKind::State => "STATE_DIRECTORY",
            DirKind::Cache => "CACHE_DIRECTORY",
            DirKind::Logs => "LOGS_DIRECTORY",
            DirKind::Configuration => "CONFIGURATION_DIRECTORY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub kind: DirKind,
    /// Relative to the kind's base.
    pub path: String,
    pub mode: u32,
}

/// Where a standard stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Inherit,
    Null,
    File {
        path: String,
        append: bool,
        truncate: bool,
    },
}

/// A `Condition*`/`Assert*` of `[Unit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub setting: String,
    pub path: String,
    pub negate: bool,
    /// `|`: the service starts if any triggering condition holds.
    pub trigger: bool,
    /// `Assert*`: a failure is the service's failure, not a skip.
    pub assert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// `LimitNOFILE`, ...: a name [`resource`] knows.
    pub setting: String,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Exit statuses and signals (SuccessExitStatus= and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitSet {
    pub codes: Vec<i32>,
    pub signals: Vec<Signal>,
}

/// A validated unit.
#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    pub kind: Type,
    pub exec_start: Vec<Command>,
    pub exec_start_pre: Vec<Command>,
    pub exec_start_post: Vec<Command>,
    pub exec_condition: Vec<Command>,
    pub exec_stop: Vec<Command>,
    pub exec_stop_post: Vec<Command>,
    pub exec_reload: Vec<Command>,
    pub environment: BTreeMap<String, String>,
    pub environment_files: Vec<(String, bool)>,
    pub unset_environment: Vec<String>,
    /// (path, optional `-`, relative to the home `~`)
    pub working_directory: Option<(String, bool)>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub supplementary_groups: Vec<String>,
    pub umask: u32,
    pub restart: Restart,
    pub restart_sec: Duration,
    pub restart_prevent: ExitSet,
    pub restart_force: ExitSet,
    pub success_exit: ExitSet,
    pub start_limit_burst: u32,
    pub start_limit_interval: Duration,
    pub timeout_start: Option<Duration>,
    pub timeout_stop: Option<Duration>,
    pub kill_signal: Signal,
    pub final_kill_signal: Signal,
    pub kill_mode: KillMode,
    pub send_sigkill: bool,
    pub send_sighup: bool,
    pub pid_file: Option<String>,
    pub directories: Vec<Directory>,
    pub preserve_runtime: bool,
    pub ambient_capabilities: Vec<caps::Capability>,
    pub bounding_set: Option<Vec<caps::Capability>>,
    pub no_new_privileges: bool,
    pub limits: Vec<Limit>,
    pub stdin_null: bool,
    pub stdout: Output,
    pub stderr: Output,
    pub conditions: Vec<Condition>,
    /// `LoadCredential=`, in order.
    pub load_credentials: Vec<crate::creds::Load>,
    /// `SetCredential=` (id, value unescaped), in order.
    pub set_credentials: Vec<(String, Vec<u8>)>,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

fn parse_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
}

/// Splits an `Environment=` value into assignments (quotes honoured).
pub fn split_assignments(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars();
    let mut flush = |word: &mut String, any: &mut bool| -> Result<(), String> {
        if *any {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| format!("'{word}' is not NAME=value"))?;
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("'{k}' is not a variable name"));
            }
            out.push((k.to_string(), v.to_string()));
        }
        word.clear();
        *any = false;
        Ok(())
    };
    while let Some(c) = chars.next() {
        match (c, quote) {
            (c, None) if c.is_whitespace() => flush(&mut word, &mut any)?,
            ('"' | '\'', None) => {
                quote = Some(c);
                any = true;
            }
            (c, Some(q)) if c == q => quote = None,
            ('\\', _) => {
                if let Some(n) = chars.next() {
                    word.push(match n {
                        'n' => '\n',
                        't' => '\t',
                        o => o,
                    });
                    any = true;
                }
            }
            (c, _) => {
                word.push(c);
                any = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("'{s}': an unterminated quote"));
    }
    flush(&mut word, &mut any)?;
    Ok(out)
}

/// A signal as systemd reads one (nci-core's table): `SIGTERM`, `TERM`
/// or `15`.
pub fn signal(s: &str) -> Result<Signal, SignalError> {
    let n = signals::parse(s)?;
    Signal::try_from(n).map_err(|_| SignalError::Number(s.to_owned()))
}

fn parse_exit_set(values: &[String]) -> Result<ExitSet, String> {
    let mut set = ExitSet::default();
    for word in values.iter().flat_map(|v| v.split_whitespace()) {
        if let Ok(n) = word.parse::<i32>() {
            if !(0..=255).contains(&n) {
                return Err(format!("{n} is not an exit status (0-255)"));
            }
            set.codes.push(n);
        } else {
            // Symbolic exit codes systemd knows (a few common ones).
            let code = match word {
                "SUCCESS" => Some(0),
                "FAILURE" => Some(1),
                "INVALIDARGUMENT" => Some(2),
                "NOTIMPLEMENTED" => Some(3),
                "NOPERMISSION" => Some(4),
                "NOTINSTALLED" => Some(5),
                "NOTCONFIGURED" => Some(6),
                "NOTRUNNING" => Some(7),
                "USAGE" => Some(64),
                "DATAERR" => Some(65),
                "NOINPUT" => Some(66),
                "SOFTWARE" => Some(70),
                "CANTCREAT" => Some(73),
                "TEMPFAIL" => Some(75),
                _ => None,
            };
            match code {
                Some(c) => set.codes.push(c),
                None => set.signals.push(signal(word).map_err(|e| e.to_string())?),
            }
        }
    }
    Ok(set)
}

fn parse_caps(values: &[String]) -> Result<(Vec<caps::Capability>, bool), String> {
    // An empty string resets; `~` inverts (all but these).
    let mut list = Vec::new();
    let mut invert = false;
    for v in values {
        let v = v.trim();
        if v.is_empty() {
            list.clear();
            invert = false;
            continue;
        }
        let (inv, rest) = match v.strip_prefix('~') {
            Some(r) => (true, r),
            None => (false, v),
        };
        invert = inv;
        for name in rest.split_whitespace() {
            let cap: caps::Capability = name
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| format!("'{name}' is not a capability"))?;
            list.push(cap);
        }
    }
    Ok((list, invert))
}

/// The resource of a `Limit*=` setting.
pub fn resource(setting: &str) -> Option<Resource> {
    Some(match setting {
        "LimitCPU" => Resource::RLIMIT_CPU,
        "LimitFSIZE" => Resource::RLIMIT_FSIZE,
        "LimitDATA" => Resource::RLIMIT_DATA,
        "LimitSTACK" => Resource::RLIMIT_STACK,
        "LimitCORE" => Resource::RLIMIT_CORE,
        "LimitRSS" => Resource::RLIMIT_RSS,
        "LimitNOFILE" => Resource::RLIMIT_NOFILE,
        "LimitAS" => Resource::RLIMIT_AS,
        "LimitNPROC" => Resource::RLIMIT_NPROC,
        "LimitMEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "LimitLOCKS" => Resource::RLIMIT_LOCKS,
        "LimitSIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "LimitMSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "LimitNICE" => Resource::RLIMIT_NICE,
        "LimitRTPRIO" => Resource::RLIMIT_RTPRIO,
        "LimitRTTIME" => Resource::RLIMIT_RTTIME,
        _ => return None,
    })
}

fn parse_limit(setting: &str, v: &str) -> Result<Limit, String> {
    if resource(setting).is_none() {
        return Err("not a resource limit".into());
    }
    let one = |s: &str| -> Result<Option<u64>, String> {
        let s = s.trim();
        if s == "infinity" {
            return Ok(None);
        }
        let (num, mult) = match s.chars().last() {
            Some('K') => (&s[..s.len() - 1], 1u64 << 10),
            Some('M') => (&s[..s.len() - 1], 1 << 20),
            Some('G') => (&s[..s.len() - 1], 1 << 30),
            _ => (s, 1),
        };
        num.parse::<u64>()
            .map(|n| Some(n * mult))
            .map_err(|_| format!("'{s}' is not a limit (a number, soft:hard or infinity)"))
    };
    let (soft, hard) = match v.split_once(':') {
        Some((s, h)) => (one(s)?, one(h)?),
        None => {
            let x = one(v)?;
            (x, x)
        }
    };
    if let (Some(s), h) = (soft, hard) {
        if h.is_some_and(|h| s > h) {
            return Err(format!("'{v}': the soft limit is above the hard limit"));
        }
    } else if hard.is_some() {
        return Err(format!("'{v}': the soft limit is above the hard limit"));
    }
    Ok(Limit {
        setting: setting.into(),
        soft,
        hard,
    })
}

fn parse_output(v: &str) -> Result<Output, String> {
    let v = v.trim();
    Ok(match v {
        "" | "inherit" | "journal" | "journal+console" | "kmsg" | "kmsg+console" | "syslog"
        | "syslog+console" | "tty" | "console" => Output::Inherit,
        "null" => Output::Null,
        _ => {
            let (kind, path) = v.split_once(':').ok_or_else(|| {
                format!(
                    "'{v}' is not supported (inherit, null, journal, file:, append:, truncate:)"
                )
            })?;
            if !path.starts_with('/') {
                return Err(format!("'{v}': the path must be absolute"));
            }
            match kind {
                "file" => Output::File {
                    path: path.into(),
                    append: false,
                    truncate: false,
                },
                "append" => Output::File {
                    path: path.into(),
                    append: true,
                    truncate: false,
                },
                "truncate" => Output::File {
                    path: path.into(),
                    append: false,
                    truncate: true,
                },
                _ => {
                    return Err(format!(
                    "'{v}' is not supported (inherit, null, journal, file:, append:, truncate:)"
                ))
                }
            }
        }
    })
}

impl Unit {
    /// Validates a spec; errors name the setting.
    pub fn from_spec(spec: &UnitSpec) -> Result<Unit> {
        if spec.version != VERSION {
            bail!(
                "unit spec version {} is not supported (expected {VERSION})",
                spec.version
            );
        }
        let name = spec.name.clone();
        let opt = |key: &str| format!("systemd.services.{name}.serviceConfig.{key}");
        let sc = &spec.service_config;
        let list = |key: &str| sc.get(key).map(Value::list).unwrap_or_default();
        let scalar = |key: &str| sc.get(key).and_then(Value::last);
        let commands = |key: &str| -> Result<Vec<Command>> {
            let mut out = Vec::new();
            for raw in list(key) {
                out.extend(cmdline::parse(&raw).map_err(|e| anyhow!("{}: {e}", opt(key)))?);
            }
            Ok(out)
        };
        let span = |key: &str| -> Result<Option<Option<Duration>>> {
            match scalar(key) {
                None => Ok(None),
                Some(v) => {
                    let d = timespan::parse(&v).map_err(|e| anyhow!("{}: {e}", opt(key)))?;
                    // 0 disables a timeout, as infinity does.
                    Ok(Some(d.filter(|d| !d.is_zero())))
                }
            }
        };
        let boolean = |key: &str, default: bool| -> Result<bool> {
            match scalar(key) {
                None => Ok(default),
                Some(v) => {
                    parse_bool(&v).ok_or_else(|| anyhow!("{}: '{v}' is not a boolean", opt(key)))
                }
            }
        };
        let signal = |key: &str, default: Signal| -> Result<Signal> {
            match scalar(key) {
                None => Ok(default),
                Some(v) => self::signal(&v).map_err(|e| anyhow!("{}: {e}", opt(key))),
            }
        };

        for key in sc.keys() {
            if !SETTINGS.contains(&key.as_str()) {
                bail!("{}: not supported by nci-systemd", opt(key));
            }
        }

        let kind = match spec.kind.as_str() {
            "simple" | "dbus" => Type::Simple,
            "exec" => Type::Exec,
            "forking" => Type::Forking,
            "oneshot" => Type::Oneshot,
            "notify" | "notify-reload" => Type::Notify,
            "idle" => Type::Idle,
            other => bail!("{}: '{other}' is not a service type", opt("Type")),
        };
        let exec_start = commands("ExecStart")?;
        if exec_start.is_empty() {
            bail!("systemd.services.{name}: has neither serviceConfig.ExecStart nor script");
        }
        if exec_start.len() > 1 && kind != Type::Oneshot {
            bail!(
                "{}: {} commands, but only a Type=oneshot service may have more than one",
                opt("ExecStart"),
                exec_start.len()
            );
        }

        let mut environment = spec.environment.clone();
        for line in list("Environment") {
            for (k, v) in
                split_assignments(&line).map_err(|e| anyhow!("{}: {e}", opt("Environment")))?
            {
                environment.insert(k, v);
            }
        }
        let environment_files = list("EnvironmentFile")
            .into_iter()
            .map(|f| match f.strip_prefix('-') {
                Some(p) => (p.to_string(), true),
                None => (f, false),
            })
            .collect::<Vec<_>>();
        for (f, _) in &environment_files {
            if !f.starts_with('/') {
                bail!("{}: '{f}' is not an absolute path", opt("EnvironmentFile"));
            }
        }
        let unset_environment = list("UnsetEnvironment")
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_string))
            .collect();

        let working_directory = match scalar("WorkingDirectory") {
            None => None,
            Some(w) => {
                let (optional, path) = match w.strip_prefix('-') {
                    Some(p) => (true, p.to_string()),
                    None => (false, w.clone()),
                };
                if !(path.starts_with('/') || path == "~" || path.starts_with('%')) {
                    bail!(
                        "{}: '{w}' is not an absolute path or ~",
                        opt("WorkingDirectory")
                    );
                }
                Some((path, optional))
            }
        };

        let umask = match scalar("UMask") {
            None => 0o022,
            Some(v) => parse_mode(&v)
                .ok_or_else(|| anyhow!("{}: '{v}' is not an octal mode", opt("UMask")))?,
        };

        let restart = match scalar("Restart") {
            None => Restart::No,
            Some(v) => Restart::ALL
                .into_iter()
                .find(|r| r.name() == v)
                .ok_or_else(|| anyhow!("{}: '{v}' is not a restart policy", opt("Restart")))?,
        };
        let restart_sec = span("RestartSec")?
            .map(|d| d.unwrap_or_default())
            .unwrap_or(Duration::from_millis(100));
        let exit_set =
            |key: &str| parse_exit_set(&list(key)).map_err(|e| anyhow!("{}: {e}", opt(key)));

        let uc = &spec.unit_config;
        // The first of these settings that is set, with the option naming it.
        let first_of = |keys: &[&str]| -> Option<(String, String)> {
            let service = keys.iter().map(|k| (sc, "serviceConfig", *k));
            let unit = keys.iter().map(|k| (uc, "unitConfig", *k));
            service.chain(unit).find_map(|(section, what, key)| {
                let v = section.get(key).and_then(Value::last)?;
                Some((format!("systemd.services.{name}.{what}.{key}"), v))
            })
        };
        let burst = match first_of(&["StartLimitBurst"]) {
            Some((option, v)) => v
                .trim()
                .parse::<u32>()
                .map_err(|_| anyhow!("{option}: '{v}' is not a number"))?,
            None => spec.start_limit_burst.unwrap_or(5),
        };
        let start_limit_interval = match first_of(&["StartLimitIntervalSec", "StartLimitInterval"])
        {
            Some((option, v)) => timespan::parse(&v)
                .map_err(|e| anyhow!("{option}: {e}"))?
                .unwrap_or_default(),
            None => Duration::from_secs(spec.start_limit_interval_sec.unwrap_or(10)),
        };

        let default_timeout = Some(Duration::from_secs(90));
        let timeout_all = span("TimeoutSec")?;
        let timeout_start = span("TimeoutStartSec")?
            .or(timeout_all)
            .unwrap_or(default_timeout);
        let timeout_stop = span("TimeoutStopSec")?
            .or(timeout_all)
            .unwrap_or(default_timeout);

        let kill_mode = match scalar("KillMode").as_deref() {
            None | Some("control-group") => KillMode::ControlGroup,
            Some("mixed") => KillMode::Mixed,
            Some("process") => KillMode::Process,
            Some("none") => KillMode::None,
            Some(other) => bail!("{}: '{other}' is not a kill mode", opt("KillMode")),
        };
        let kill_signal = signal("KillSignal", Signal::SIGTERM)?;

        let mut directories = Vec::new();
        for kind in DirKind::ALL {
            let key = kind.setting();
            let mode_key = format!("{key}Mode");
            let mode = match scalar(&mode_key) {
                None => 0o755,
                Some(m) => parse_mode(&m)
                    .ok_or_else(|| anyhow!("{}: '{m}' is not an octal mode", opt(&mode_key)))?,
            };
            for path in list(key).iter().flat_map(|v| v.split_whitespace()) {
                if path.starts_with('/')
                    || path.split('/').any(|c| c == ".." || c == ".")
                    || path.contains(':')
                {
                    bail!(
                        "{}: '{path}' must be a relative path below {} without '..' or ':'",
                        opt(key),
                        kind.base()
                    );
                }
                directories.push(Directory {
                    kind,
                    path: path.trim_end_matches('/').to_string(),
                    mode,
                });
            }
        }
        let preserve_runtime = match scalar("RuntimeDirectoryPreserve").as_deref() {
            None | Some("no") | Some("false") => false,
            Some("yes") | Some("true") | Some("restart") => true,
            Some(other) => bail!(
                "{}: '{other}' is not yes, no or restart",
                opt("RuntimeDirectoryPreserve")
            ),
        };

        let (ambient, ambient_inverted) = parse_caps(&list("AmbientCapabilities"))
            .map_err(|e| anyhow!("{}: {e}", opt("AmbientCapabilities")))?;
        if ambient_inverted {
            bail!(
                "{}: '~' is not supported for ambient capabilities",
                opt("AmbientCapabilities")
            );
        }
        let bounding_set = if sc.contains_key("CapabilityBoundingSet") {
            let (l, inverted) = parse_caps(&list("CapabilityBoundingSet"))
                .map_err(|e| anyhow!("{}: {e}", opt("CapabilityBoundingSet")))?;
            Some(if inverted {
                caps::all().into_iter().filter(|c| !l.contains(c)).collect()
            } else {
                l
            })
        } else {
            None
        };

        let mut limits = Vec::new();
        for key in sc.keys().filter(|k| k.starts_with("Limit")) {
            let v = scalar(key).unwrap_or_default();
            limits.push(parse_limit(key, &v).map_err(|e| anyhow!("{}: {e}", opt(key)))?);
        }

        let stdin_null = match scalar("StandardInput").as_deref() {
            None | Some("null") => true,
            Some("tty") | Some("tty-force") | Some("tty-fail") | Some("inherit") => false,
            Some(other) => bail!(
                "{}: '{other}' is not supported (null, tty)",
                opt("StandardInput")
            ),
        };
        let stdout = match scalar("StandardOutput") {
            None => Output::Inherit,
            Some(v) => parse_output(&v).map_err(|e| anyhow!("{}: {e}", opt("StandardOutput")))?,
        };
        let stderr = match scalar("StandardError") {
            None => Output::Inherit,
            Some(v) => parse_output(&v).map_err(|e| anyhow!("{}: {e}", opt("StandardError")))?,
        };

        let mut conditions = Vec::new();
        for (key, v) in uc {
            let is_cond = key.starts_with("Condition") || key.starts_with("Assert");
            if !is_cond {
                continue;
            }
            if !UNIT_CONDITIONS.contains(&key.as_str()) {
                bail!("systemd.services.{name}.unitConfig.{key}: not supported by nci-systemd");
            }
            for raw in v.list() {
                let mut s = raw.trim();
                let mut trigger = false;
                let mut negate = false;
                loop {
                    if let Some(r) = s.strip_prefix('|') {
                        trigger = true;
                        s = r.trim_start();
                    } else if let Some(r) = s.strip_prefix('!') {
                        negate = true;
                        s = r.trim_start();
                    } else {
                        break;
                    }
                }
                if !s.starts_with('/') {
                    bail!(
                        "systemd.services.{name}.unitConfig.{key}: '{raw}' is not an absolute path"
                    );
                }
                conditions.push(Condition {
                    setting: key.clone(),
                    path: s.into(),
                    negate,
                    trigger,
                    assert: key.starts_with("Assert"),
                });
            }
        }

        let pid_file = scalar("PIDFile");
        if let Some(p) = &pid_file {
            if !p.starts_with('/') {
                bail!("{}: '{p}' is not an absolute path", opt("PIDFile"));
            }
        }

        for key in ["LoadCredentialEncrypted", "SetCredentialEncrypted"] {
            if sc.contains_key(key) {
                bail!(
                    "{}: encrypted credentials are not supported (decrypting needs the host's key or TPM, which a container does not have): decrypt it on the host with `systemd-creds decrypt` and give it with {}",
                    opt(key),
                    key.trim_end_matches("Encrypted")
                );
            }
        }
        let load_credentials = list("LoadCredential")
            .iter()
            .map(|v| crate::creds::parse_load(v.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("{}: {e}", opt("LoadCredential")))?;
        let set_credentials = list("SetCredential")
            .iter()
            .map(|v| crate::creds::parse_set(v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("{}: {e}", opt("SetCredential")))?;

        Ok(Unit {
            kind,
            exec_start,
            exec_start_pre: commands("ExecStartPre")?,
            exec_start_post: commands("ExecStartPost")?,
            exec_condition: commands("ExecCondition")?,
            exec_stop: commands("ExecStop")?,
            exec_stop_post: commands("ExecStopPost")?,
            exec_reload: commands("ExecReload")?,
            environment,
            environment_files,
            unset_environment,
            working_directory,
            user: scalar("User").filter(|u| !u.is_empty()),
            group: scalar("Group").filter(|g| !g.is_empty()),
            supplementary_groups: list("SupplementaryGroups")
                .iter()
                .flat_map(|v| v.split_whitespace().map(str::to_string))
                .collect(),
            umask,
            restart,
            restart_sec,
            restart_prevent: exit_set("RestartPreventExitStatus")?,
            restart_force: exit_set("RestartForceExitStatus")?,
            success_exit: exit_set("SuccessExitStatus")?,
            start_limit_burst: burst,
            start_limit_interval,
            timeout_start,
            timeout_stop,
            kill_signal,
            // RestartKillSignal= is checked; a restart here follows an exit.
            final_kill_signal: {
                signal("RestartKillSignal", kill_signal)?;
                signal("FinalKillSignal", Signal::SIGKILL)?
            },
            kill_mode,
            send_sigkill: boolean("SendSIGKILL", true)?,
            send_sighup: boolean("SendSIGHUP", false)?,
            pid_file,
            directories,
            preserve_runtime,
            ambient_capabilities: ambient,
            bounding_set,
            no_new_privileges: boolean("NoNewPrivileges", false)?,
            limits,
            stdin_null,
            stdout,
            stderr,
            conditions,
            load_credentials,
            set_credentials,
            name,
        })
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

/// The `[Unit]` conditions nci-systemd checks.
pub const UNIT_CONDITIONS: &[&str] = &[
    "ConditionPathExists",
    "ConditionPathIsDirectory",
    "ConditionPathIsSymbolicLink",
    "ConditionFileNotEmpty",
    "ConditionDirectoryNotEmpty",
    "ConditionFileIsExecutable",
    "AssertPathExists",
    "AssertPathIsDirectory",
    "AssertFileNotEmpty",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> UnitSpec {
        serde_json::from_str(json).unwrap()
    }

    fn unit(sc: &str) -> Result<Unit> {
        Unit::from_spec(&spec(&format!(
            r#"{{"name":"web","type":"simple","serviceConfig":{{"ExecStart":"/bin/web"{sc}}}}}"#
        )))
    }

    #[test]
    fn defaults_are_systemds() {
        let u = unit("").unwrap();
        assert_eq!(u.kind, Type::Simple);
        assert_eq!(u.restart, Restart::No);
        assert_eq!(u.restart_sec, Duration::from_millis(100));
        assert_eq!(u.timeout_stop, Some(Duration::from_secs(90)));
        assert_eq!(u.kill_signal, Signal::SIGTERM);
        assert_eq!(u.kill_mode, KillMode::ControlGroup);
        assert_eq!(
            (u.start_limit_burst, u.start_limit_interval),
            (5, Duration::from_secs(10))
        );
        assert_eq!(u.umask, 0o022);
        assert!(u.send_sigkill && u.stdin_null);
    }

    #[test]
    fn the_nginx_settings() {
        let u = unit(
            r#","Restart":"always","RestartSec":"10s","User":"nginx","Group":"nginx",
            "RuntimeDirectory":["nginx"],"RuntimeDirectoryMode":"0750","CacheDirectory":["nginx"],
            "CacheDirectoryMode":"0750","LogsDirectory":["nginx"],"LogsDirectoryMode":"0750","UMask":"0027",
            "AmbientCapabilities":["CAP_NET_BIND_SERVICE","CAP_SYS_RESOURCE"],
            "CapabilityBoundingSet":["CAP_NET_BIND_SERVICE","CAP_SYS_RESOURCE"],"NoNewPrivileges":"yes",
            "ExecReload":["/bin/web -t","/bin/kill -HUP $MAINPID"]"#,
        )
        .unwrap();
        assert_eq!(u.restart, Restart::Always);
        assert_eq!(u.restart_sec, Duration::from_secs(10));
        assert_eq!(u.directories.len(), 3);
        assert_eq!(
            u.directories[0],
            Directory {
                kind: DirKind::Runtime,
                path: "nginx".into(),
                mode: 0o750
            }
        );
        assert_eq!(u.umask, 0o027);
        assert_eq!(u.ambient_capabilities.len(), 2);
        assert_eq!(u.bounding_set.as_ref().map(Vec::len), Some(2));
        assert!(u.no_new_privileges);
        assert_eq!(u.exec_reload.len(), 2);
    }

    #[test]
    fn errors_name_the_setting() {
        let e = |sc: &str| format!("{:#}", unit(sc).unwrap_err());
        assert!(e(r#","KillSignal":"SIGNOPE""#).contains(
            "systemd.services.web.serviceConfig.KillSignal: 'SIGNOPE' is not a signal name"
        ));
        assert!(e(r#","RestartSec":"soon""#)
            .contains("serviceConfig.RestartSec: 'soon' is not a time span"));
        assert!(e(r#","UMask":"999""#).contains("serviceConfig.UMask"));
        assert!(e(r#","Restart":"sometimes""#).contains("serviceConfig.Restart: 'sometimes'"));
        assert!(
            e(r#","StateDirectory":"../etc""#).contains("serviceConfig.StateDirectory: '../etc'")
        );
        assert!(e(r#","AmbientCapabilities":"CAP_FLY""#).contains("'CAP_FLY' is not a capability"));
        assert!(e(r#","ProtectSystem":"strict""#)
            .contains("serviceConfig.ProtectSystem: not supported"));
        assert!(e(r#","LimitNOFILE":"lots""#).contains("serviceConfig.LimitNOFILE"));
        assert!(e(r#","LoadCredentialEncrypted":"k:/etc/k.cred""#).contains(
            "systemd.services.web.serviceConfig.LoadCredentialEncrypted: encrypted credentials are not supported (decrypting needs the host's key or TPM, which a container does not have): decrypt it on the host with `systemd-creds decrypt` and give it with LoadCredential"
        ));
        assert!(e(r#","SetCredentialEncrypted":"k:xyz""#).contains("give it with SetCredential"));
        assert!(e(r#","LoadCredential":"../k:/x""#)
            .contains("serviceConfig.LoadCredential: '../k:/x': '../k' is not a credential name"));
        assert!(e(r#","SetCredential":"k""#)
            .contains("serviceConfig.SetCredential: 'k' is not ID:VALUE"));
        assert!(e(r#","LimitNOFILE":"2048:1024""#).contains(
            "serviceConfig.LimitNOFILE: '2048:1024': the soft limit is above the hard limit"
        ));
        assert!(e(r#","LimitNOFILE":"infinity:1024""#)
            .contains("the soft limit is above the hard limit"));
        assert!(e(r#","Environment":"A=\"open""#).contains("serviceConfig.Environment"));
        assert!(e(r#","StartLimitIntervalSec":"soon""#)
            .contains("systemd.services.web.serviceConfig.StartLimitIntervalSec: 'soon'"));
        let unit_section = Unit::from_spec(&spec(
            r#"{"name":"web","type":"simple","serviceConfig":{"ExecStart":"/bin/web"},
               "unitConfig":{"StartLimitInterval":"soon","StartLimitBurst":"many"}}"#,
        ));
        assert!(format!("{:#}", unit_section.unwrap_err())
            .contains("systemd.services.web.unitConfig.StartLimitBurst: 'many' is not a number"));
        let two = Unit::from_spec(&spec(
            r#"{"name":"web","type":"simple","serviceConfig":{"ExecStart":["/bin/a","/bin/b"]}}"#,
        ));
        assert!(format!("{:#}", two.unwrap_err())
            .contains("only a Type=oneshot service may have more than one"));
        let none = Unit::from_spec(&spec(r#"{"name":"web","type":"simple"}"#));
        assert!(format!("{:#}", none.unwrap_err())
            .contains("has neither serviceConfig.ExecStart nor script"));
    }

    #[test]
    fn environment_lines_and_files() {
        let u = unit(r#","Environment":["A=1 \"B=two words\"","C=3"],"EnvironmentFile":["-/etc/opt","/etc/req"]"#).unwrap();
        assert_eq!(
            u.environment.get("B").map(String::as_str),
            Some("two words")
        );
        assert_eq!(u.environment.get("C").map(String::as_str), Some("3"));
        assert_eq!(
            u.environment_files,
            vec![("/etc/opt".into(), true), ("/etc/req".into(), false)]
        );
    }

    #[test]
    fn exit_sets_and_limits() {
        let u =
            unit(r#","SuccessExitStatus":"3 SIGUSR1 TEMPFAIL","LimitNOFILE":"1024:4096""#).unwrap();
        assert_eq!(u.success_exit.codes, vec![3, 75]);
        assert_eq!(u.success_exit.signals, vec![Signal::SIGUSR1]);
        assert_eq!(
            (u.limits[0].soft, u.limits[0].hard),
            (Some(1024), Some(4096))
        );
    }

    #[test]
    fn conditions() {
        let u = Unit::from_spec(&spec(
            r#"{"name":"web","type":"simple","serviceConfig":{"ExecStart":"/bin/web"},
               "unitConfig":{"ConditionPathExists":["!/etc/disabled","|/a"]}}"#,
        ))
        .unwrap();
        assert_eq!(u.conditions.len(), 2);
        assert!(u.conditions[0].negate && !u.conditions[0].trigger);
        assert!(u.conditions[1].trigger);
    }

    /// The settings the module passes to units, as modules/systemd.nix
    /// reads them: stated here once, written to nix/systemd-settings.json
    /// (docs/rules.md). A name missing on one side would be dropped with
    /// a warning, or fail the build of the units.
    fn settings_json() -> String {
        let unit: Vec<&str> = UNIT_CONDITIONS
            .iter()
            .copied()
            .chain([
                "StartLimitBurst",
                "StartLimitIntervalSec",
                "StartLimitInterval",
            ])
            .collect();
        let mut text = serde_json::to_string_pretty(&serde_json::json!({
            "comment": "Generated from rust/nci-systemd/src/spec.rs (SETTINGS, UNIT_CONDITIONS): do not edit; NCI_UPDATE_GOLDEN=1 cargo test -p nci-systemd settings",
            "serviceSettings": SETTINGS,
            "unitSettings": unit,
        }))
        .unwrap();
        text.push('\n');
        text
    }

    #[test]
    fn nix_systemd_settings_json_is_generated_from_settings() {
        let path = format!(
            "{}/../../nix/systemd-settings.json",
            env!("CARGO_MANIFEST_DIR")
        );
        if std::env::var_os("NCI_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, settings_json()).unwrap();
        }
        assert!(
            std::fs::read_to_string(&path).unwrap_or_default() == settings_json(),
            "nix/systemd-settings.json is out of sync with SETTINGS: run NCI_UPDATE_GOLDEN=1 cargo test -p nci-systemd settings"
        );
    }
}
