//! [`Unit`]: one NixOS service, as `modules/systemd.nix` writes it
//! (nci-core's [`UnitSpec`], contract version 1, docs/spec.md "systemd
//! units"), read into typed settings. Every problem is reported together,
//! each naming its option (`systemd.services.<name>.serviceConfig.<Setting>`).
//!
//! [`Unit::from_spec`] reads the settings by topic (commands, environment,
//! restarts, stopping, directories, capabilities, limits, streams,
//! conditions, credentials); each topic is one method of [`Reader`],
//! and each value grammar one `parse_*` function with its [`SettingError`].

use crate::cmdline::{self, Command};
use crate::creds::{self, CredError};
use crate::sched;
use crate::timespan::{self, SpanError};
use nci_core::problems::Problems;
use nci_core::rules;
use nci_core::signals::{self, SignalError};
pub use nci_core::systemd_spec::UnitSpec;
use nci_core::systemd_spec::{
    unit_option, Value, REPEATABLE_SETTINGS, SETTINGS, UNIT_CONDITIONS, VERSION,
};
use nci_core::Error;
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

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
    /// The policy as `Restart=` writes it: `rules::SYSTEMD_RESTARTS`
    /// lists them in the order of the variants.
    pub fn name(self) -> &'static str {
        rules::SYSTEMD_RESTARTS[self as usize]
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
    /// `Nice=`, `OOMScoreAdjust=`, `IOScheduling*=`, `CPUScheduling*=`,
    /// `CPUAffinity=`.
    pub scheduling: crate::sched::Scheduling,
}

/// Why a setting's value was refused; the message follows the option
/// naming the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("not supported by nci-systemd")]
    Unsupported,
    #[error("'{value}' is not {what}")]
    NotOneOf { value: String, what: &'static str },
    #[error("'{0}' is not a boolean")]
    NotBoolean(String),
    #[error("'{0}' is not an octal mode")]
    NotOctalMode(String),
    #[error("'{0}' is not a number")]
    NotNumber(String),
    #[error("'{value}' is not a number from {min} to {max}")]
    NotInRange { value: String, min: i32, max: i32 },
    #[error("'{0}' is not a list of CPU indices and ranges (0 2-3)")]
    NotCpuSet(String),
    #[error("'{0}' is not an absolute path")]
    NotAbsolute(String),
    #[error("'{0}' is not an absolute path or ~")]
    NotAbsoluteOrHome(String),
    #[error("{}", rules::SEVERAL_EXEC_STARTS.fill(&[("count", &.0.to_string())]))]
    SeveralCommands(usize),
    #[error("{}", one_of(&rules::NOT_A_SERVICE_TYPE, "types", .0, &rules::SYSTEMD_SERVICE_TYPES))]
    NotAServiceType(String),
    #[error("{}", one_of(&rules::NOT_A_RESTART_POLICY, "policies", .0, &rules::SYSTEMD_RESTARTS))]
    NotARestartPolicy(String),
    #[error("'{0}' is not NAME=value")]
    NotAssignment(String),
    #[error("'{0}' is not a variable name")]
    NotVariableName(String),
    #[error("'{0}': an unterminated quote")]
    UnterminatedQuote(String),
    #[error("{0} is not an exit status (0-255)")]
    NotExitStatus(i32),
    #[error("'{0}' is not a capability")]
    NotCapability(String),
    #[error("'~' is not supported for ambient capabilities")]
    InvertedAmbient,
    #[error("not a resource limit")]
    NotResourceLimit,
    #[error("'{0}' is not a limit (a number, soft:hard or infinity)")]
    NotLimit(String),
    #[error("'{0}': the soft limit is above the hard limit")]
    SoftAboveHard(String),
    #[error("'{0}' is not supported (inherit, null, journal, file:, append:, truncate:)")]
    UnsupportedOutput(String),
    #[error("'{0}': the path must be absolute")]
    RelativeOutput(String),
    #[error("'{0}' is not supported (null, tty)")]
    UnsupportedInput(String),
    #[error("'{path}' must be a relative path below {base} without '..' or ':'")]
    NotBelow { path: String, base: &'static str },
    #[error("encrypted credentials are not supported (decrypting needs the host's key or TPM, which a container does not have): decrypt it on the host with `systemd-creds decrypt` and give it with {0}")]
    Encrypted(&'static str),
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error(transparent)]
    Span(#[from] SpanError),
    #[error(transparent)]
    Command(#[from] cmdline::LineError),
    #[error(transparent)]
    Credential(#[from] CredError),
}

/// `message` about `value`, which is not one of `list` (`{key}`).
fn one_of(message: &rules::Message, key: &str, value: &str, list: &[&str]) -> String {
    message.fill(&[("value", &rules::quote(value)), (key, &list.join(", "))])
}

fn not_one_of(value: &str, what: &'static str) -> SettingError {
    SettingError::NotOneOf {
        value: value.to_owned(),
        what,
    }
}

fn parse_bool(s: &str) -> Result<bool, SettingError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err(SettingError::NotBoolean(s.to_owned())),
    }
}

fn parse_mode(s: &str) -> Result<u32, SettingError> {
    u32::from_str_radix(s.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| SettingError::NotOctalMode(s.to_owned()))
}

/// A type of `rules::SYSTEMD_SERVICE_TYPES` (the list the module reads
/// too), as nci-systemd runs it.
fn parse_type(s: &str) -> Result<Type, SettingError> {
    let kind = match s {
        "simple" | "dbus" => Some(Type::Simple),
        "exec" => Some(Type::Exec),
        "forking" => Some(Type::Forking),
        "oneshot" => Some(Type::Oneshot),
        "notify" | "notify-reload" => Some(Type::Notify),
        "idle" => Some(Type::Idle),
        _ => None,
    };
    kind.filter(|_| rules::SYSTEMD_SERVICE_TYPES.contains(&s))
        .ok_or_else(|| SettingError::NotAServiceType(s.to_owned()))
}

fn parse_restart(s: &str) -> Result<Restart, SettingError> {
    Restart::ALL
        .into_iter()
        .find(|r| r.name() == s)
        .ok_or_else(|| SettingError::NotARestartPolicy(s.to_owned()))
}

fn parse_kill_mode(s: &str) -> Result<KillMode, SettingError> {
    Ok(match s {
        "control-group" => KillMode::ControlGroup,
        "mixed" => KillMode::Mixed,
        "process" => KillMode::Process,
        "none" => KillMode::None,
        other => return Err(not_one_of(other, "a kill mode")),
    })
}

fn parse_preserve(s: &str) -> Result<bool, SettingError> {
    match s {
        "no" | "false" => Ok(false),
        "yes" | "true" | "restart" => Ok(true),
        other => Err(not_one_of(other, "yes, no or restart")),
    }
}

/// `StandardInput=`: whether stdin is /dev/null.
fn parse_stdin(s: &str) -> Result<bool, SettingError> {
    match s {
        "null" => Ok(true),
        "tty" | "tty-force" | "tty-fail" | "inherit" => Ok(false),
        other => Err(SettingError::UnsupportedInput(other.to_owned())),
    }
}

fn parse_span(s: &str) -> Result<Option<Duration>, SettingError> {
    Ok(timespan::parse(s)?)
}

/// A signal as systemd reads one (nci-core's table): `SIGTERM`, `TERM`
/// or `15`.
pub fn signal(s: &str) -> Result<Signal, SignalError> {
    let n = signals::parse(s)?;
    Signal::try_from(n).map_err(|_| SignalError::Number(s.to_owned()))
}

/// `WorkingDirectory=`: (path, optional `-`); the path is absolute, `~`
/// or starts with a specifier.
fn parse_working_directory(w: &str) -> Result<(String, bool), SettingError> {
    let (path, optional) = match w.strip_prefix('-') {
        Some(p) => (p, true),
        None => (w, false),
    };
    if !(path.starts_with('/') || path == "~" || path.starts_with('%')) {
        return Err(SettingError::NotAbsoluteOrHome(w.to_owned()));
    }
    Ok((path.to_owned(), optional))
}

/// `EnvironmentFile=`: (path, optional `-`).
fn parse_environment_file(f: &str) -> Result<(String, bool), SettingError> {
    let (path, optional) = match f.strip_prefix('-') {
        Some(p) => (p, true),
        None => (f, false),
    };
    if !path.starts_with('/') {
        return Err(SettingError::NotAbsolute(path.to_owned()));
    }
    Ok((path.to_owned(), optional))
}

/// Splits an `Environment=` value into assignments (quotes honoured).
pub fn split_assignments(s: &str) -> Result<Vec<(String, String)>, SettingError> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars();
    let mut flush = |word: &mut String, any: &mut bool| -> Result<(), SettingError> {
        if *any {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| SettingError::NotAssignment(word.clone()))?;
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(SettingError::NotVariableName(k.to_owned()));
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
        return Err(SettingError::UnterminatedQuote(s.to_owned()));
    }
    flush(&mut word, &mut any)?;
    Ok(out)
}

/// The exit codes systemd knows by name (a few common ones).
fn exit_code(name: &str) -> Option<i32> {
    Some(match name {
        "SUCCESS" => 0,
        "FAILURE" => 1,
        "INVALIDARGUMENT" => 2,
        "NOTIMPLEMENTED" => 3,
        "NOPERMISSION" => 4,
        "NOTINSTALLED" => 5,
        "NOTCONFIGURED" => 6,
        "NOTRUNNING" => 7,
        "USAGE" => 64,
        "DATAERR" => 65,
        "NOINPUT" => 66,
        "SOFTWARE" => 70,
        "CANTCREAT" => 73,
        "TEMPFAIL" => 75,
        _ => return None,
    })
}

/// `SuccessExitStatus=` and friends: numbers, exit code names, signals.
fn parse_exit_set(values: &[String]) -> Result<ExitSet, SettingError> {
    let mut set = ExitSet::default();
    for word in values.iter().flat_map(|v| v.split_whitespace()) {
        if let Ok(n) = word.parse::<i32>() {
            if !(0..=255).contains(&n) {
                return Err(SettingError::NotExitStatus(n));
            }
            set.codes.push(n);
        } else if let Some(code) = exit_code(word) {
            set.codes.push(code);
        } else {
            set.signals.push(signal(word)?);
        }
    }
    Ok(set)
}

/// Capability lists: an empty string resets; `~` inverts (all but
/// these). Returns the names and whether the list is inverted.
fn parse_caps(values: &[String]) -> Result<(Vec<caps::Capability>, bool), SettingError> {
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
                .map_err(|_| SettingError::NotCapability(name.to_owned()))?;
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

/// One side of a limit: a number with an optional K, M or G, or
/// `infinity` (`None`).
fn parse_limit_value(s: &str) -> Result<Option<u64>, SettingError> {
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
        .map_err(|_| SettingError::NotLimit(s.to_owned()))
}

/// `Limit*=`: `soft:hard` or one value for both.
fn parse_limit(setting: &str, v: &str) -> Result<Limit, SettingError> {
    if resource(setting).is_none() {
        return Err(SettingError::NotResourceLimit);
    }
    let (soft, hard) = match v.split_once(':') {
        Some((s, h)) => (parse_limit_value(s)?, parse_limit_value(h)?),
        None => {
            let x = parse_limit_value(v)?;
            (x, x)
        }
    };
    // `None` is infinity: a finite hard limit under an infinite soft one
    // is as wrong as a bigger soft number.
    let soft_above_hard = match (soft, hard) {
        (Some(s), Some(h)) => s > h,
        (None, Some(_)) => true,
        (_, None) => false,
    };
    if soft_above_hard {
        return Err(SettingError::SoftAboveHard(v.to_owned()));
    }
    Ok(Limit {
        setting: setting.into(),
        soft,
        hard,
    })
}

/// `StandardOutput=`/`StandardError=`.
fn parse_output(v: &str) -> Result<Output, SettingError> {
    let v = v.trim();
    let unsupported = || SettingError::UnsupportedOutput(v.to_owned());
    match v {
        "" | "inherit" | "journal" | "journal+console" | "kmsg" | "kmsg+console" | "syslog"
        | "syslog+console" | "tty" | "console" => return Ok(Output::Inherit),
        "null" => return Ok(Output::Null),
        _ => {}
    }
    let (kind, path) = v.split_once(':').ok_or_else(unsupported)?;
    if !path.starts_with('/') {
        return Err(SettingError::RelativeOutput(v.to_owned()));
    }
    let (append, truncate) = match kind {
        "file" => (false, false),
        "append" => (true, false),
        "truncate" => (false, true),
        _ => return Err(unsupported()),
    };
    Ok(Output::File {
        path: path.into(),
        append,
        truncate,
    })
}

/// One path of a `*Directory=` setting: relative, below its base.
fn parse_directory(kind: DirKind, path: &str, mode: u32) -> Result<Directory, SettingError> {
    if path.starts_with('/') || path.split('/').any(|c| c == ".." || c == ".") || path.contains(':')
    {
        return Err(SettingError::NotBelow {
            path: path.to_owned(),
            base: kind.base(),
        });
    }
    Ok(Directory {
        kind,
        path: path.trim_end_matches('/').to_string(),
        mode,
    })
}

/// One value of a `Condition*=`/`Assert*=`: `|` and `!` prefixes, then
/// an absolute path, or the word the kind takes.
fn parse_condition(setting: &str, raw: &str) -> Result<Condition, SettingError> {
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
    let kind = crate::conditions::kind(setting);
    if crate::conditions::PATH_KINDS.contains(&kind) {
        if !s.starts_with('/') {
            return Err(SettingError::NotAbsolute(raw.to_owned()));
        }
    } else if s.is_empty() {
        return Err(SettingError::NotOneOf {
            value: raw.to_owned(),
            what: "a value",
        });
    } else if kind == "Capability" {
        s.to_ascii_uppercase()
            .parse::<caps::Capability>()
            .map_err(|_| SettingError::NotCapability(s.to_owned()))?;
    }
    Ok(Condition {
        setting: setting.to_owned(),
        path: s.into(),
        negate,
        trigger,
        assert: setting.starts_with("Assert"),
    })
}

/// One unit's settings while they are read: each setting's value, or
/// its default with the problem noted. No setting stops the reading, so
/// every problem of a unit is reported at once.
struct Reader<'a> {
    spec: &'a UnitSpec,
    problems: Vec<Error>,
}

impl Reader<'_> {
    /// `systemd.services.<name>.serviceConfig.<key>`.
    fn option(&self, key: &str) -> String {
        unit_option(&self.spec.name, "serviceConfig", key)
    }

    fn problem(&mut self, option: String, why: impl Display) {
        self.problems.push(Error::invalid(option, why.to_string()));
    }

    /// A problem with the `serviceConfig` setting `key`.
    fn bad(&mut self, key: &str, why: impl Display) {
        let option = self.option(key);
        self.problem(option, why);
    }

    fn has(&self, key: &str) -> bool {
        self.spec.service_config.contains_key(key)
    }

    /// Every value of a setting, in order: one of
    /// [`REPEATABLE_SETTINGS`], which the module writes as lists.
    fn list(&self, key: &str) -> Vec<String> {
        debug_assert!(
            REPEATABLE_SETTINGS.contains(&key),
            "{key} is read as a list: add it to REPEATABLE_SETTINGS"
        );
        self.spec
            .service_config
            .get(key)
            .map(Value::list)
            .unwrap_or_default()
    }

    /// The blank-separated words of every value of a setting.
    fn words(&self, key: &str) -> Vec<String> {
        let values = self.list(key);
        values
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_owned))
            .collect()
    }

    /// The value of a setting given once (the last one given): not one
    /// of [`REPEATABLE_SETTINGS`].
    fn scalar(&self, key: &str) -> Option<String> {
        debug_assert!(
            !REPEATABLE_SETTINGS.contains(&key),
            "{key} is read as one value: take it out of REPEATABLE_SETTINGS"
        );
        self.spec.service_config.get(key).and_then(Value::last)
    }

    /// A setting given once, read with `parse`: `default` when unset,
    /// or when bad (the problem noted).
    fn parsed<T>(
        &mut self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, SettingError>,
    ) -> T {
        let Some(v) = self.scalar(key) else {
            return default;
        };
        parse(&v).unwrap_or_else(|e| {
            self.bad(key, e);
            default
        })
    }

    /// Every value of a list setting read with `parse`, each bad one
    /// noted and left out.
    fn each<T>(&mut self, key: &str, parse: impl Fn(&str) -> Result<T, SettingError>) -> Vec<T> {
        let mut out = Vec::new();
        for v in self.list(key) {
            match parse(&v) {
                Ok(t) => out.push(t),
                Err(e) => self.bad(key, e),
            }
        }
        out
    }

    fn boolean(&mut self, key: &str, default: bool) -> bool {
        self.parsed(key, default, parse_bool)
    }

    fn signal(&mut self, key: &str, default: Signal) -> Signal {
        self.parsed(key, default, |v| Ok(signal(v)?))
    }

    /// A time span: `None` when unset (or bad), `Some(None)` for
    /// infinity or 0 (both disable a timeout).
    fn span(&mut self, key: &str) -> Option<Option<Duration>> {
        self.parsed(key, None, |v| {
            Ok(Some(parse_span(v)?.filter(|d| !d.is_zero())))
        })
    }

    fn exit_set(&mut self, key: &str) -> ExitSet {
        let values = self.list(key);
        parse_exit_set(&values).unwrap_or_else(|e| {
            self.bad(key, e);
            ExitSet::default()
        })
    }

    /// Settings nci-systemd does not know (the module passes only those
    /// it applies; another writer may not).
    fn unsupported(&mut self) {
        let spec = self.spec;
        for key in spec.service_config.keys() {
            if !SETTINGS.contains(&key.as_str()) {
                self.bad(key, SettingError::Unsupported);
            }
        }
    }

    /// `Type=`, as the module computed it.
    fn service_type(&mut self) -> Type {
        parse_type(&self.spec.kind).unwrap_or_else(|e| {
            self.bad("Type", e);
            Type::Simple
        })
    }

    /// The commands of an `Exec*=` setting, in order.
    fn commands(&mut self, key: &str) -> Vec<Command> {
        self.each(key, |line| Ok(cmdline::parse(line)?))
            .into_iter()
            .flatten()
            .collect()
    }

    /// `ExecStart=`: one command, several only for a oneshot.
    fn exec_start(&mut self, kind: Type) -> Vec<Command> {
        if self.list("ExecStart").is_empty() {
            let unit = unit_option(&self.spec.name, "", "");
            self.problem(unit, rules::NO_EXEC_START.text);
            return Vec::new();
        }
        let commands = self.commands("ExecStart");
        if commands.len() > 1 && kind != Type::Oneshot {
            self.bad("ExecStart", SettingError::SeveralCommands(commands.len()));
        }
        commands
    }

    /// The module's environment, then `Environment=` lines over it.
    fn environment(&mut self) -> BTreeMap<String, String> {
        let mut environment = self.spec.environment.clone();
        environment.extend(
            self.each("Environment", split_assignments)
                .into_iter()
                .flatten(),
        );
        environment
    }

    /// `Restart=` and `RestartSec=` (100 ms by default).
    fn restart(&mut self) -> (Restart, Duration) {
        let policy = self.parsed("Restart", Restart::No, parse_restart);
        let delay = self
            .span("RestartSec")
            .map(Option::unwrap_or_default)
            .unwrap_or(Duration::from_millis(100));
        (policy, delay)
    }

    /// The first of `keys` set, in `serviceConfig` then `unitConfig`,
    /// with the option naming it.
    fn first_of(&self, keys: &[&str]) -> Option<(String, String)> {
        let spec = self.spec;
        let sections = [
            (&spec.service_config, "serviceConfig"),
            (&spec.unit_config, "unitConfig"),
        ];
        sections.iter().find_map(|(section, what)| {
            keys.iter().find_map(|key| {
                let v = section.get(*key).and_then(Value::last)?;
                Some((unit_option(&spec.name, what, key), v))
            })
        })
    }

    /// `StartLimitBurst=` (5) and `StartLimitIntervalSec=` (10 s), from
    /// either section, or the module's `startLimit*` options.
    fn start_limit(&mut self) -> (u32, Duration) {
        let burst = match self.first_of(&["StartLimitBurst"]) {
            Some((option, v)) => v.trim().parse::<u32>().unwrap_or_else(|_| {
                self.problem(option, SettingError::NotNumber(v.clone()));
                5
            }),
            None => self.spec.start_limit_burst.unwrap_or(5),
        };
        let interval = match self.first_of(&["StartLimitIntervalSec", "StartLimitInterval"]) {
            Some((option, v)) => match parse_span(&v) {
                Ok(d) => d.unwrap_or_default(),
                Err(e) => {
                    self.problem(option, e);
                    Duration::from_secs(10)
                }
            },
            None => Duration::from_secs(self.spec.start_limit_interval_sec.unwrap_or(10)),
        };
        (burst, interval)
    }

    /// `TimeoutStartSec=` and `TimeoutStopSec=`, `TimeoutSec=` for both
    /// (90 s each by default; `None` waits forever).
    fn timeouts(&mut self) -> (Option<Duration>, Option<Duration>) {
        let default = Some(Duration::from_secs(90));
        let all = self.span("TimeoutSec");
        let start = self.span("TimeoutStartSec").or(all).unwrap_or(default);
        let stop = self.span("TimeoutStopSec").or(all).unwrap_or(default);
        (start, stop)
    }

    /// `RuntimeDirectory=` and the other four, each with its mode.
    fn directories(&mut self) -> Vec<Directory> {
        let mut directories = Vec::new();
        for kind in DirKind::ALL {
            let key = kind.setting();
            let mode = self.parsed(&format!("{key}Mode"), 0o755, parse_mode);
            for path in self.words(key) {
                match parse_directory(kind, &path, mode) {
                    Ok(d) => directories.push(d),
                    Err(e) => self.bad(key, e),
                }
            }
        }
        directories
    }

    /// `AmbientCapabilities=` and `CapabilityBoundingSet=` (`None`:
    /// unset, the container's set stays).
    fn capabilities(&mut self) -> (Vec<caps::Capability>, Option<Vec<caps::Capability>>) {
        let ambient = match parse_caps(&self.list("AmbientCapabilities")) {
            Ok((_, true)) => {
                self.bad("AmbientCapabilities", SettingError::InvertedAmbient);
                Vec::new()
            }
            Ok((list, false)) => list,
            Err(e) => {
                self.bad("AmbientCapabilities", e);
                Vec::new()
            }
        };
        if !self.has("CapabilityBoundingSet") {
            return (ambient, None);
        }
        let bounding = match parse_caps(&self.list("CapabilityBoundingSet")) {
            Ok((all_but, true)) => caps::all()
                .into_iter()
                .filter(|c| !all_but.contains(c))
                .collect(),
            Ok((list, false)) => list,
            Err(e) => {
                self.bad("CapabilityBoundingSet", e);
                Vec::new()
            }
        };
        (ambient, Some(bounding))
    }

    /// The `Limit*=` settings nci-systemd knows, by name.
    fn limits(&mut self) -> Vec<Limit> {
        let spec = self.spec;
        let keys = spec
            .service_config
            .keys()
            .filter(|k| k.starts_with("Limit") && SETTINGS.contains(&k.as_str()));
        let mut limits = Vec::new();
        for key in keys {
            let v = self.scalar(key).unwrap_or_default();
            match parse_limit(key, &v) {
                Ok(limit) => limits.push(limit),
                Err(e) => self.bad(key, e),
            }
        }
        limits
    }

    /// The `Condition*=` and `Assert*=` of `[Unit]`.
    fn conditions(&mut self) -> Vec<Condition> {
        let spec = self.spec;
        let mut conditions = Vec::new();
        for (key, v) in &spec.unit_config {
            if !(key.starts_with("Condition") || key.starts_with("Assert")) {
                continue;
            }
            let option = unit_option(&spec.name, "unitConfig", key);
            if !UNIT_CONDITIONS.contains(&key.as_str()) {
                self.problem(option, SettingError::Unsupported);
                continue;
            }
            for raw in v.list() {
                match parse_condition(key, &raw) {
                    Ok(c) => conditions.push(c),
                    Err(e) => self.problem(option.clone(), e),
                }
            }
        }
        conditions
    }

    /// The scheduling settings (sched.rs), each bad one noted.
    fn scheduling(&mut self) -> sched::Scheduling {
        let nice = self.parsed("Nice", None, |v| sched::parse_nice(v).map(Some));
        let oom_score_adjust = self.parsed("OOMScoreAdjust", None, |v| {
            sched::parse_oom_score_adjust(v).map(Some)
        });
        let class = self.parsed("IOSchedulingClass", None, |v| {
            sched::parse_io_class(v).map(Some)
        });
        let level = self.parsed("IOSchedulingPriority", None, |v| {
            sched::parse_io_priority(v).map(Some)
        });
        let policy = self.parsed("CPUSchedulingPolicy", None, |v| {
            sched::parse_policy(v).map(Some)
        });
        let priority = self.parsed("CPUSchedulingPriority", None, |v| {
            sched::parse_cpu_priority(v).map(Some)
        });
        let reset_on_fork = self.boolean("CPUSchedulingResetOnFork", false);
        let values = self.list("CPUAffinity");
        let cpu_affinity = sched::parse_cpu_affinity(&values).unwrap_or_else(|e| {
            self.bad("CPUAffinity", e);
            None
        });
        sched::Scheduling {
            nice,
            oom_score_adjust,
            io: sched::io_priority(class, level),
            cpu: sched::cpu_scheduling(policy, priority, reset_on_fork),
            cpu_affinity,
        }
    }

    /// `LoadCredential=` and `SetCredential=`, in order; the encrypted
    /// kinds are refused.
    fn credentials(&mut self) -> (Vec<creds::Load>, Vec<(String, Vec<u8>)>) {
        for (key, plain) in [
            ("LoadCredentialEncrypted", "LoadCredential"),
            ("SetCredentialEncrypted", "SetCredential"),
        ] {
            if self.has(key) {
                self.bad(key, SettingError::Encrypted(plain));
            }
        }
        let load = self.each("LoadCredential", |v| Ok(creds::parse_load(v.trim())?));
        let set = self.each("SetCredential", |v| Ok(creds::parse_set(v)?));
        (load, set)
    }
}

impl Unit {
    /// Reads a spec into a unit; every problem is reported, each naming
    /// its setting.
    pub fn from_spec(spec: &UnitSpec) -> Result<Unit, Problems> {
        if spec.version != VERSION {
            return Err(Problems(vec![Error::invalid(
                unit_option(&spec.name, "", ""),
                format!(
                    "unit spec version {} is not supported (expected {VERSION})",
                    spec.version
                ),
            )]));
        }
        let mut r = Reader {
            spec,
            problems: Vec::new(),
        };
        r.unsupported();
        let kind = r.service_type();
        let exec_start = r.exec_start(kind);
        let (restart, restart_sec) = r.restart();
        let (start_limit_burst, start_limit_interval) = r.start_limit();
        let (timeout_start, timeout_stop) = r.timeouts();
        let kill_signal = r.signal("KillSignal", Signal::SIGTERM);
        // RestartKillSignal= is checked; a restart here follows an exit.
        r.signal("RestartKillSignal", kill_signal);
        let (ambient_capabilities, bounding_set) = r.capabilities();
        let (load_credentials, set_credentials) = r.credentials();
        let unit = Unit {
            name: spec.name.clone(),
            kind,
            exec_start,
            exec_start_pre: r.commands("ExecStartPre"),
            exec_start_post: r.commands("ExecStartPost"),
            exec_condition: r.commands("ExecCondition"),
            exec_stop: r.commands("ExecStop"),
            exec_stop_post: r.commands("ExecStopPost"),
            exec_reload: r.commands("ExecReload"),
            environment: r.environment(),
            environment_files: r.each("EnvironmentFile", parse_environment_file),
            unset_environment: r.words("UnsetEnvironment"),
            working_directory: r.parsed("WorkingDirectory", None, |w| {
                parse_working_directory(w).map(Some)
            }),
            user: r.scalar("User").filter(|u| !u.is_empty()),
            group: r.scalar("Group").filter(|g| !g.is_empty()),
            supplementary_groups: r.words("SupplementaryGroups"),
            umask: r.parsed("UMask", 0o022, parse_mode),
            restart,
            restart_sec,
            restart_prevent: r.exit_set("RestartPreventExitStatus"),
            restart_force: r.exit_set("RestartForceExitStatus"),
            success_exit: r.exit_set("SuccessExitStatus"),
            start_limit_burst,
            start_limit_interval,
            timeout_start,
            timeout_stop,
            kill_signal,
            final_kill_signal: r.signal("FinalKillSignal", Signal::SIGKILL),
            kill_mode: r.parsed("KillMode", KillMode::ControlGroup, parse_kill_mode),
            send_sigkill: r.boolean("SendSIGKILL", true),
            send_sighup: r.boolean("SendSIGHUP", false),
            pid_file: r.parsed("PIDFile", None, |p| match p.starts_with('/') {
                true => Ok(Some(p.to_owned())),
                false => Err(SettingError::NotAbsolute(p.to_owned())),
            }),
            directories: r.directories(),
            preserve_runtime: r.parsed("RuntimeDirectoryPreserve", false, parse_preserve),
            ambient_capabilities,
            bounding_set,
            no_new_privileges: r.boolean("NoNewPrivileges", false),
            limits: r.limits(),
            stdin_null: r.parsed("StandardInput", true, parse_stdin),
            stdout: r.parsed("StandardOutput", Output::Inherit, parse_output),
            stderr: r.parsed("StandardError", Output::Inherit, parse_output),
            conditions: r.conditions(),
            load_credentials,
            set_credentials,
            scheduling: r.scheduling(),
        };
        Problems::or_ok(r.problems, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> UnitSpec {
        serde_json::from_str(json).unwrap()
    }

    fn unit(sc: &str) -> Result<Unit, Problems> {
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
        // The messages of rules.rs, the same words as modules/systemd.nix's
        // (t_L3_systemd_bad_values_are_errors_naming_the_setting).
        assert_eq!(
            e(r#","Restart":"sometimes""#),
            "systemd.services.web.serviceConfig.Restart: 'sometimes' is not a restart policy (one of no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always)"
        );
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
        assert_eq!(
            format!("{:#}", two.unwrap_err()),
            "systemd.services.web.serviceConfig.ExecStart: 2 commands, but only a Type=oneshot service may have more than one"
        );
        let none = Unit::from_spec(&spec(r#"{"name":"web","type":"simple"}"#));
        assert_eq!(
            format!("{:#}", none.unwrap_err()),
            "systemd.services.web: has neither serviceConfig.ExecStart nor script; give it one of them"
        );
        let odd = Unit::from_spec(&spec(
            r#"{"name":"web","type":"sometimes","serviceConfig":{"ExecStart":"/bin/web"}}"#,
        ));
        assert_eq!(
            format!("{:#}", odd.unwrap_err()),
            "systemd.services.web.serviceConfig.Type: 'sometimes' is not a service type (one of simple, exec, forking, oneshot, dbus, notify, notify-reload, idle)"
        );
    }

    #[test]
    fn the_lists_of_rules_rs_are_the_ones_parsed() {
        for t in rules::SYSTEMD_SERVICE_TYPES {
            assert!(parse_type(t).is_ok(), "{t}");
        }
        for (i, r) in Restart::ALL.into_iter().enumerate() {
            assert_eq!(parse_restart(rules::SYSTEMD_RESTARTS[i]), Ok(r));
        }
    }

    #[test]
    fn every_problem_is_reported_together() {
        let e = unit(r#","KillSignal":"SIGNOPE","TimeoutStopSec":"soon""#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 problems:\n\
             - systemd.services.web.serviceConfig.TimeoutStopSec: 'soon' is not a time span\n\
             - systemd.services.web.serviceConfig.KillSignal: 'SIGNOPE' is not a signal name"
        );
        // Both sections, a bad command and a list with two bad values:
        // each problem once, the command's not taken for a missing one.
        let e = Unit::from_spec(&spec(
            r#"{"name":"web","type":"sometimes","serviceConfig":{"ExecStart":"/bin/a \"open",
               "MemoryMax":"5","EnvironmentFile":["etc/a","/etc/b","etc/c"]},
               "unitConfig":{"StartLimitBurst":"many","ConditionPathExists":"relative"}}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "7 problems:\n\
             - systemd.services.web.serviceConfig.MemoryMax: not supported by nci-systemd\n\
             - systemd.services.web.serviceConfig.Type: 'sometimes' is not a service type (one of simple, exec, forking, oneshot, dbus, notify, notify-reload, idle)\n\
             - systemd.services.web.serviceConfig.ExecStart: '/bin/a \"open': an unterminated quote\n\
             - systemd.services.web.unitConfig.StartLimitBurst: 'many' is not a number\n\
             - systemd.services.web.serviceConfig.EnvironmentFile: 'etc/a' is not an absolute path\n\
             - systemd.services.web.serviceConfig.EnvironmentFile: 'etc/c' is not an absolute path\n\
             - systemd.services.web.unitConfig.ConditionPathExists: 'relative' is not an absolute path"
        );
    }

    #[test]
    fn scheduling_settings_are_read_and_each_bad_one_named() {
        let u = unit(
            r#","Nice":"-5","OOMScoreAdjust":"-500","IOSchedulingClass":"idle","CPUSchedulingPolicy":"batch","CPUAffinity":["0-1","3"]"#,
        )
        .unwrap();
        let s = &u.scheduling;
        assert_eq!((s.nice, s.oom_score_adjust), (Some(-5), Some(-500)));
        assert_eq!(
            s.io,
            Some(sched::IoPriority {
                class: sched::IoClass::Idle,
                level: 4
            })
        );
        assert_eq!(
            s.cpu.map(|c| (c.policy, c.priority)),
            Some((sched::Policy::Batch, 0))
        );
        assert_eq!(s.cpu_affinity, Some(vec![0, 1, 3]));
        assert_eq!(unit("").unwrap().scheduling, sched::Scheduling::default());
        let e = unit(
            r#","Nice":"-21","OOMScoreAdjust":"x","IOSchedulingClass":"fast","IOSchedulingPriority":"8","CPUSchedulingPolicy":"deadline","CPUSchedulingPriority":"100","CPUSchedulingResetOnFork":"maybe","CPUAffinity":["0","1-x"]"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "8 problems:\n\
             - systemd.services.web.serviceConfig.Nice: '-21' is not a number from -20 to 19\n\
             - systemd.services.web.serviceConfig.OOMScoreAdjust: 'x' is not a number from -1000 to 1000\n\
             - systemd.services.web.serviceConfig.IOSchedulingClass: 'fast' is not an IO scheduling class (realtime, best-effort, idle, none)\n\
             - systemd.services.web.serviceConfig.IOSchedulingPriority: '8' is not a number from 0 to 7\n\
             - systemd.services.web.serviceConfig.CPUSchedulingPolicy: 'deadline' is not a CPU scheduling policy (other, batch, idle, fifo, rr)\n\
             - systemd.services.web.serviceConfig.CPUSchedulingPriority: '100' is not a number from 0 to 99\n\
             - systemd.services.web.serviceConfig.CPUSchedulingResetOnFork: 'maybe' is not a boolean\n\
             - systemd.services.web.serviceConfig.CPUAffinity: '1-x' is not a list of CPU indices and ranges (0 2-3)"
        );
    }

    #[test]
    fn a_spec_of_another_version_is_one_problem() {
        let e = Unit::from_spec(&spec(
            r#"{"version":2,"name":"web","type":"simple","serviceConfig":{"ExecStart":"/bin/web","Nice":"1"}}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "systemd.services.web: unit spec version 2 is not supported (expected 1)"
        );
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
        // The conditions on the manager's world take a word, checked
        // where it can be: every problem named.
        let err = Unit::from_spec(&spec(
            r#"{"name":"web","type":"simple","serviceConfig":{"ExecStart":"/bin/web"},
               "unitConfig":{"ConditionVirtualization":"!container","ConditionCapability":"CAP_NOPE",
                             "ConditionEnvironment":"","ConditionPathExistsGlob":"etc/*.conf"}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "3 problems:\n\
             - systemd.services.web.unitConfig.ConditionCapability: 'CAP_NOPE' is not a capability\n\
             - systemd.services.web.unitConfig.ConditionEnvironment: '' is not a value\n\
             - systemd.services.web.unitConfig.ConditionPathExistsGlob: 'etc/*.conf' is not an absolute path"
        );
    }
}
