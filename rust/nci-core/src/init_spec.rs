//! The init spec (contract version 1): the s6 services of an image, written
//! by `modules/s6.nix` and read by `nci-init` when it generates the
//! service directories. Field docs name the option each comes from.
//!
//! [`InitSpec::validate`] holds a spec to the rules the module's
//! assertions check (so a spec written by another tool gets the same
//! messages) and orders the services: oneshots in `after` order, ties
//! broken by name, so the same spec always gives the same order.

use crate::error::Error;
use crate::problems::Problems;
use crate::rules;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const VERSION: u32 = 1;

/// `s6.services.<name>.type`: when a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceType {
    /// Runs to completion at container start, before the long-runs.
    OneshotPre,
    /// A daemon supervised by s6-supervise (the default).
    LongRun,
    /// Runs to completion once every long-run is up (and ready).
    OneshotPost,
}

impl ServiceType {
    /// Every type, in the order `s6.services.<name>.type` lists them
    /// (`nix/rules.json` gives the module this list).
    pub const ALL: [ServiceType; 3] = [
        ServiceType::LongRun,
        ServiceType::OneshotPre,
        ServiceType::OneshotPost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::OneshotPre => "oneshot-pre",
            ServiceType::LongRun => "long-run",
            ServiceType::OneshotPost => "oneshot-post",
        }
    }

    /// The inverse of [`ServiceType::as_str`].
    pub fn from_name(name: &str) -> Option<ServiceType> {
        [
            ServiceType::OneshotPre,
            ServiceType::LongRun,
            ServiceType::OneshotPost,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

/// The whole spec: `s6.*` plus the paths of the programs the generated
/// files run.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InitSpec {
    /// Contract version; must be [`VERSION`].
    pub version: u32,
    /// The `nci-init` executable: the interpreter of every generated
    /// `run`, `finish` and hook file, and of the init itself.
    pub nci_init: String,
    /// The `bin` directory of s6 (`s6-svscan`, `s6-supervise`, ...).
    pub s6_bin: String,
    /// The shell that runs `script` and `preStart` (with `-e`).
    pub shell: String,
    /// `s6.stateDir`: where the init builds its scan directory in a
    /// container (the init's first argument overrides it).
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    /// `s6.graceTime`: milliseconds between TERM and KILL in stage 3.
    #[serde(default = "default_grace_time")]
    pub grace_time: u64,
    /// `s6.exitCodeFrom`: the service whose exit code the container
    /// exits with, and whose end stops the container.
    #[serde(default)]
    pub exit_code_from: Option<String>,
    /// The user names of the image (`users.users`), when known: a
    /// service's `user` must be one of them.
    #[serde(default)]
    pub users: Option<Vec<String>>,
    /// The group names of the image (`users.groups`), when known.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// `s6.services`, disabled ones included (so that `after` naming a
    /// disabled service gets its own message).
    pub services: BTreeMap<String, ServiceSpec>,
}

/// `s6.services.<name>`. A field left out takes its value from
/// [`ServiceSpec::default`], the one statement of the options' defaults:
/// `modules/s6.nix` reads them from `nix/s6-defaults.json`, generated
/// from it ([`defaults_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSpec {
    pub enable: bool,
    #[serde(rename = "type")]
    pub kind: ServiceType,
    /// A command line (split like a shell would, without expansions) or
    /// the path of an executable.
    pub exec_start: String,
    /// Shell commands, run with `shell -e`.
    pub script: String,
    /// Shell commands run before each start, in the service's
    /// environment, as its user; a failure is the service's failure.
    pub pre_start: String,
    pub restart_on_failure: bool,
    /// Milliseconds before the first restart after a failure; doubled at
    /// each further failure in a row, up to `restart_delay_max`.
    pub restart_delay: u64,
    pub restart_delay_max: u64,
    /// Failures in a row after which a restarting service is failed.
    pub restart_limit: Option<u32>,
    /// A run longer than this (milliseconds) ends a series of failures.
    pub restart_limit_interval: u64,
    pub working_directory: Option<String>,
    pub user: String,
    /// The primary group; `None` is the user's own.
    pub group: Option<String>,
    /// Variables set (a value) or removed (`null`) for the service.
    pub environment: BTreeMap<String, Option<String>>,
    /// Packages whose `bin` and `sbin` go first on `PATH`.
    pub path: Vec<String>,
    pub after: Vec<String>,
    /// A command line that receives the service's stdout and stderr.
    pub exec_logger: Option<String>,
    /// The descriptor the service writes a newline to when it is ready.
    pub notification_fd: Option<u32>,
    /// The signal that stops the service (`TERM`, `SIGQUIT`, ...).
    pub stop_signal: String,
    /// Milliseconds between the stop signal and KILL (0: never KILL).
    pub stop_timeout: u64,
    /// Capabilities (`CAP_NET_BIND_SERVICE`, ...) a non-root service
    /// keeps: raised as ambient capabilities after the switch to its user.
    pub capabilities: Vec<String>,
}

impl Default for ServiceSpec {
    fn default() -> ServiceSpec {
        ServiceSpec {
            enable: true,
            kind: ServiceType::LongRun,
            exec_start: String::new(),
            script: String::new(),
            pre_start: String::new(),
            restart_on_failure: false,
            restart_delay: 0,
            restart_delay_max: 30_000,
            restart_limit: None,
            restart_limit_interval: 10_000,
            working_directory: None,
            user: "root".into(),
            group: None,
            environment: BTreeMap::new(),
            path: Vec::new(),
            after: Vec::new(),
            exec_logger: None,
            notification_fd: None,
            stop_signal: "TERM".into(),
            stop_timeout: 3000,
            capabilities: Vec::new(),
        }
    }
}

/// `s6.stateDir`'s default.
pub const DEFAULT_STATE_DIR: &str = "/run/s6";
/// `s6.graceTime`'s default (milliseconds).
pub const DEFAULT_GRACE_TIME: u64 = 3000;

fn default_state_dir() -> String {
    DEFAULT_STATE_DIR.into()
}
fn default_grace_time() -> u64 {
    DEFAULT_GRACE_TIME
}

/// The document `nix/s6-defaults.json` holds: the defaults of `s6.*` and
/// of `s6.services.<name>.*` that `modules/s6.nix` gives its options.
pub fn defaults_json() -> serde_json::Value {
    serde_json::json!({
        "comment": "Generated from rust/nci-core/src/init_spec.rs: do not edit; NCI_UPDATE_GOLDEN=1 cargo test -p nci-core s6_defaults",
        "stateDir": DEFAULT_STATE_DIR,
        "graceTime": DEFAULT_GRACE_TIME,
        "service": ServiceSpec::default(),
    })
}

/// The enabled services in the order the init runs them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartOrder {
    pub oneshot_pre: Vec<String>,
    pub long_run: Vec<String>,
    pub oneshot_post: Vec<String>,
}

/// The signals a service may be stopped with (s6-svc sends these), by
/// name without `SIG`; their numbers are in [`crate::signals::SIGNALS`].
pub const STOP_SIGNALS: [&str; 11] = [
    "HUP", "INT", "QUIT", "ABRT", "KILL", "USR1", "USR2", "ALRM", "TERM", "WINCH", "PWR",
];

/// `"SIGTERM"`, `"term"` or `"TERM"` → `("TERM", 15)`.
pub fn stop_signal(name: &str) -> Option<(&'static str, i32)> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let name = STOP_SIGNALS.iter().copied().find(|n| *n == bare)?;
    Some((name, crate::signals::number(name)?))
}

/// The option path of a service field: `s6.services.web.after`.
pub fn service_option(name: &str, field: &str) -> String {
    crate::problems::option_path("s6.services", name, field)
}

/// Splits a command line into words as a shell would, without any
/// expansion: blanks separate words; `'...'` is literal; in `"..."` a
/// backslash escapes `"`, `\`, `$` and `` ` ``; elsewhere a backslash
/// escapes the next character.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some('\n') => {}
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("it ends with a lone backslash".into()),
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("it has no command".into());
    }
    Ok(words)
}

fn known_name(list: &Option<Vec<String>>, name: &str) -> bool {
    match list {
        None => true,
        Some(names) => {
            names.iter().any(|n| n == name)
                || (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
        }
    }
}

impl InitSpec {
    /// The enabled services.
    pub fn enabled(&self) -> impl Iterator<Item = (&String, &ServiceSpec)> {
        self.services.iter().filter(|(_, s)| s.enable)
    }

    /// Checks the whole spec and orders the services; every problem is
    /// reported, each naming its option.
    pub fn validate(&self) -> Result<StartOrder, Problems> {
        if self.version != VERSION {
            let e =
                Error::unsupported_version("init", self.version, VERSION, "nci-s6 and nci-init");
            return Err(Problems(vec![e]));
        }
        let mut problems = Vec::new();
        let mut bad = |field: String, reason: String| problems.push(Error::invalid(field, reason));
        for (what, path) in [
            ("nciInit", &self.nci_init),
            ("s6Bin", &self.s6_bin),
            ("shell", &self.shell),
            ("s6.stateDir", &self.state_dir),
        ] {
            if !path.starts_with('/') {
                bad(what.into(), format!("'{path}' is not an absolute path"));
            }
        }
        if let Some(main) = &self.exit_code_from {
            match self.services.get(main) {
                None => bad("s6.exitCodeFrom".into(), self.not_a_service(main)),
                Some(s) if !s.enable => bad(
                    "s6.exitCodeFrom".into(),
                    rules::DISABLED_SERVICE.fill(&[("service", main)]),
                ),
                Some(_) => {}
            }
        }
        for (name, s) in &self.services {
            if let Some(why) = rules::service_name().check(name) {
                bad(service_option(name, ""), why);
            }
            if !s.enable {
                continue;
            }
            let opt = |f: &str| service_option(name, f);
            match (s.exec_start.trim().is_empty(), s.script.trim().is_empty()) {
                (false, false) => bad(opt(""), rules::EXEC_AND_SCRIPT.fill(&[])),
                (true, true) => bad(opt(""), rules::NO_EXEC.fill(&[])),
                (false, true) => {
                    if let Err(e) = split_command(&s.exec_start) {
                        bad(opt("execStart"), format!("cannot be split into words: {e}"));
                    }
                }
                (true, false) => {}
            }
            if let Some(logger) = &s.exec_logger {
                if let Err(e) = split_command(logger) {
                    bad(
                        opt("execLogger"),
                        format!("cannot be split into words: {e}"),
                    );
                }
            }
            if !known_name(&self.users, &s.user) {
                bad(
                    opt("user"),
                    rules::USER_NOT_DEFINED.fill(&[("user", &s.user)]),
                );
            }
            if let Some(g) = &s.group {
                if !known_name(&self.groups, g) {
                    bad(opt("group"), rules::GROUP_NOT_DEFINED.fill(&[("group", g)]));
                }
            }
            if let Some(why) = s
                .working_directory
                .as_ref()
                .and_then(|d| rules::absolute_path().check(d))
            {
                bad(opt("workingDirectory"), why);
            }
            for var in s.environment.keys() {
                if let Some(why) = rules::env_name().check(var) {
                    bad(opt("environment"), why);
                }
            }
            if let Some(fd) = s.notification_fd {
                if fd < 3 {
                    bad(
                        opt("notificationFd"),
                        format!("{fd} is a standard descriptor; use 3 or more (stdout and stderr go to the log)"),
                    );
                }
                if s.kind != ServiceType::LongRun {
                    bad(
                        opt("notificationFd"),
                        rules::READINESS_OF_A_ONESHOT.fill(&[("type", s.kind.as_str())]),
                    );
                }
            }
            if let Some(why) = rules::stop_signal().check(&s.stop_signal) {
                bad(opt("stopSignal"), why);
            }
            if s.restart_delay > s.restart_delay_max {
                bad(
                    opt("restartDelay"),
                    rules::RESTART_DELAY_ABOVE_MAX.fill(&[
                        ("delay", &s.restart_delay.to_string()),
                        ("max", &s.restart_delay_max.to_string()),
                    ]),
                );
            }
            for cap in &s.capabilities {
                if cap.parse::<caps::Capability>().is_err() {
                    bad(
                        opt("capabilities"),
                        format!("'{cap}' is not a capability (a name of capabilities(7), e.g. CAP_NET_BIND_SERVICE)"),
                    );
                }
            }
            if s.restart_limit == Some(0) {
                bad(
                    opt("restartLimit"),
                    "must be at least 1 (use restartOnFailure = false to never restart)".into(),
                );
            }
            for dep in &s.after {
                match self.services.get(dep) {
                    None => bad(opt("after"), self.not_a_service(dep)),
                    Some(d) if !d.enable => bad(
                        opt("after"),
                        rules::DISABLED_SERVICE.fill(&[("service", dep)]),
                    ),
                    Some(d) => {
                        if let Some(why) = phase_problem(s.kind, d.kind) {
                            bad(
                                opt("after"),
                                rules::AFTER_ANOTHER_PHASE.fill(&[
                                    ("service", name),
                                    ("type", s.kind.as_str()),
                                    ("after", dep),
                                    ("afterType", d.kind.as_str()),
                                    ("why", why),
                                ]),
                            );
                        }
                    }
                }
            }
        }
        if let Some(cycle) = self.find_cycle() {
            bad(
                "s6.services".into(),
                rules::AFTER_CYCLE.fill(&[("cycle", &cycle.join(" -> "))]),
            );
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        Ok(StartOrder {
            oneshot_pre: self.ordered(ServiceType::OneshotPre),
            long_run: self.ordered(ServiceType::LongRun),
            oneshot_post: self.ordered(ServiceType::OneshotPost),
        })
    }

    /// [`rules::NOT_A_SERVICE`] for `name`, with the services there are
    /// (disabled ones included, as the module lists them).
    fn not_a_service(&self, name: &str) -> String {
        let names: Vec<&str> = self.services.keys().map(String::as_str).collect();
        rules::NOT_A_SERVICE.fill(&[("service", name), ("services", &names.join(", "))])
    }

    /// The first cycle of `after` edges among enabled services, as a path
    /// that ends where it starts.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        fn visit<'a>(
            spec: &'a InitSpec,
            name: &'a str,
            marks: &mut BTreeMap<&'a str, Mark>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            match marks.get(name) {
                Some(Mark::Done) => return None,
                Some(Mark::Visiting) => {
                    let start = stack.iter().position(|n| *n == name).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(name.to_owned());
                    return Some(cycle);
                }
                None => {}
            }
            marks.insert(name, Mark::Visiting);
            stack.push(name);
            if let Some(s) = spec.services.get(name) {
                for dep in &s.after {
                    if spec.services.get(dep).is_some_and(|d| d.enable) {
                        if let Some(c) = visit(spec, dep, marks, stack) {
                            return Some(c);
                        }
                    }
                }
            }
            stack.pop();
            marks.insert(name, Mark::Done);
            None
        }
        let mut marks = BTreeMap::new();
        for (name, _) in self.enabled() {
            let mut stack = Vec::new();
            if let Some(c) = visit(self, name, &mut marks, &mut stack) {
                return Some(c);
            }
        }
        None
    }

    /// The enabled services of one type, each after those of its `after`
    /// list of the same type, ties broken by name (Kahn's algorithm).
    fn ordered(&self, kind: ServiceType) -> Vec<String> {
        // Not yet placed; a service is placeable once none of its `after`
        // is left (names of other types or unknown ones never are).
        let mut left: BTreeSet<&str> = self
            .enabled()
            .filter(|(_, s)| s.kind == kind)
            .map(|(n, _)| n.as_str())
            .collect();
        let mut done = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let next = left.iter().copied().find(|n| {
                self.services[*n]
                    .after
                    .iter()
                    .all(|d| !left.contains(d.as_str()))
            });
            match next {
                Some(n) => {
                    left.remove(n);
                    done.push(n.to_owned());
                }
                // A cycle: reported by validate; keep the rest in name order.
                None => {
                    done.extend(left.iter().map(|s| s.to_string()));
                    break;
                }
            }
        }
        done
    }
}

/// Why a service of type `me` cannot wait for one of type `dep`, if it
/// cannot: oneshot-pre services all run before any long-run, and
/// oneshot-post services once every long-run is up. `nix/rules.json`
/// gives the module this table (`s6.phases`).
pub fn phase_problem(me: ServiceType, dep: ServiceType) -> Option<&'static str> {
    use ServiceType::*;
    match (me, dep) {
        (OneshotPre, LongRun) | (OneshotPre, OneshotPost) => {
            Some("oneshot-pre services run before the long-runs start (make it a oneshot-post)")
        }
        (LongRun, OneshotPost) => {
            Some("oneshot-post services run once every long-run is up, so this would never start (make the dependency a oneshot-pre)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(json: &str) -> ServiceSpec {
        serde_json::from_str(json).unwrap()
    }

    fn spec(services: &[(&str, &str)]) -> InitSpec {
        InitSpec {
            version: VERSION,
            nci_init: "/nci-init".into(),
            s6_bin: "/s6/bin".into(),
            shell: "/bin/bash".into(),
            state_dir: "/run/s6".into(),
            grace_time: 3000,
            exit_code_from: None,
            users: Some(vec!["root".into(), "nobody".into()]),
            groups: Some(vec!["root".into(), "nogroup".into()]),
            services: services
                .iter()
                .map(|(n, j)| (n.to_string(), svc(j)))
                .collect(),
        }
    }

    fn problems(s: &InitSpec) -> String {
        s.validate().unwrap_err().to_string()
    }

    /// The `s6.` rows of `tests/golden/bad-inputs.json` (the image rows
    /// are image_spec.rs'), put in a spec as `tests/bad-inputs.nix` puts
    /// them in a module: a service `a` that runs a script, the row's
    /// value in its option, the services of the row's `with` beside; the
    /// row's message must be one of the problems reported.
    #[test]
    fn the_bad_inputs_table_s6_rows_are_refused_with_their_messages() {
        use serde_json::json;
        let mut seen = 0;
        for row in &crate::bad_inputs::rows("s6.") {
            let option = row["option"].as_str().unwrap();
            let v = &row["value"];
            let mut services = json!({"a": {"script": "x"}});
            let mut exit_code_from = None;
            match option {
                "s6.services" => services = json!({v.as_str().unwrap(): {"script": "x"}}),
                "s6.exitCodeFrom" => exit_code_from = v.as_str().map(str::to_owned),
                "s6.services.a.after" => services["a"]["after"] = json!([v]),
                "s6.services.a.environment" => {
                    services["a"]["environment"] = json!({v.as_str().unwrap(): "c"})
                }
                _ => match option.strip_prefix("s6.services.a.") {
                    Some(field) => services["a"][field] = v.clone(),
                    None => panic!("bad-inputs.json: no way to put {option} in an init spec"),
                },
            }
            if let Some(with) = row["with"]["s6"]["services"].as_object() {
                for (name, fields) in with {
                    for (k, f) in fields.as_object().unwrap() {
                        services[name][k] = f.clone();
                    }
                }
            }
            let mut s = spec(&[]);
            s.services = serde_json::from_value(services).unwrap();
            s.exit_code_from = exit_code_from;
            let got = problems(&s);
            crate::bad_inputs::assert_reported(row, &got);
            seen += 1;
        }
        assert!(seen >= 16);
    }

    #[test]
    fn a_minimal_service_gets_the_original_defaults() {
        let s = svc(r#"{"execStart": "/bin/true"}"#);
        assert!(s.enable);
        assert_eq!(s.kind, ServiceType::LongRun);
        assert_eq!(s.user, "root");
        assert!(!s.restart_on_failure);
        assert_eq!(s.stop_signal, "TERM");
        assert_eq!(
            s,
            ServiceSpec {
                exec_start: "/bin/true".into(),
                ..ServiceSpec::default()
            }
        );
    }

    /// `modules/s6.nix` takes its options' defaults from this file; the
    /// L3 test `s6 module evaluates to the shared spec fixture` and
    /// docs/options.md show what the module made of them.
    #[test]
    fn nix_s6_defaults_json_is_generated_from_this_file() {
        crate::generated::assert_nix_file_is(
            "s6-defaults.json",
            &defaults_json(),
            "init_spec.rs",
            "s6_defaults",
        );
    }

    #[test]
    fn oneshots_run_in_after_order_ties_by_name() {
        let s = spec(&[
            ("b", r#"{"type":"oneshot-pre","script":"x","after":["c"]}"#),
            ("c", r#"{"type":"oneshot-pre","script":"x"}"#),
            ("a", r#"{"type":"oneshot-pre","script":"x"}"#),
            ("web", r#"{"execStart":"/bin/web","after":["a"]}"#),
            (
                "post2",
                r#"{"type":"oneshot-post","script":"x","after":["post1","web"]}"#,
            ),
            ("post1", r#"{"type":"oneshot-post","script":"x"}"#),
            ("off", r#"{"enable":false,"script":"x"}"#),
        ]);
        let order = s.validate().unwrap();
        assert_eq!(order.oneshot_pre, ["a", "c", "b"]);
        assert_eq!(order.long_run, ["web"]);
        assert_eq!(order.oneshot_post, ["post1", "post2"]);
    }

    #[test]
    fn after_an_unknown_or_disabled_service_names_both() {
        let s = spec(&[
            ("a", r#"{"script":"x","after":["ghost","off"]}"#),
            ("off", r#"{"enable":false,"script":"x"}"#),
        ]);
        assert_eq!(
            problems(&s),
            "2 problems:\n- s6.services.a.after: 'ghost' is not a service (s6.services has a, off)\n- s6.services.a.after: 'off' is disabled (s6.services.off.enable = false)"
        );
    }

    #[test]
    fn a_cycle_is_printed() {
        let s = spec(&[
            ("a", r#"{"type":"oneshot-pre","script":"x","after":["b"]}"#),
            ("b", r#"{"type":"oneshot-pre","script":"x","after":["c"]}"#),
            ("c", r#"{"type":"oneshot-pre","script":"x","after":["a"]}"#),
        ]);
        assert_eq!(
            problems(&s),
            "s6.services: the after dependencies form a cycle: a -> b -> c -> a"
        );
    }

    #[test]
    fn a_oneshot_pre_cannot_wait_for_a_long_run() {
        let s = spec(&[
            (
                "init",
                r#"{"type":"oneshot-pre","script":"x","after":["db"]}"#,
            ),
            ("db", r#"{"execStart":"/bin/db"}"#),
            ("web", r#"{"execStart":"/bin/web","after":["setup"]}"#),
            ("setup", r#"{"type":"oneshot-post","script":"x"}"#),
        ]);
        let p = problems(&s);
        assert!(p.contains("s6.services.init.after: 'init' is a oneshot-pre and cannot run after 'db', a long-run"), "{p}");
        assert!(p.contains("s6.services.web.after: 'web' is a long-run and cannot run after 'setup', a oneshot-post"), "{p}");
    }

    #[test]
    fn exec_start_and_script_exclusive_and_required() {
        let s = spec(&[
            ("both", r#"{"execStart":"/bin/a","script":"b"}"#),
            ("none", r#"{}"#),
        ]);
        assert_eq!(
            problems(&s),
            "2 problems:\n- s6.services.both: both execStart and script are set; set only one of them\n- s6.services.none: neither execStart nor script is set; set one of them to say what the service runs"
        );
    }

    #[test]
    fn unknown_user_and_group_are_named() {
        let s = spec(&[("a", r#"{"script":"x","user":"alice","group":"staff"}"#)]);
        let p = problems(&s);
        assert!(
            p.contains("s6.services.a.user: user 'alice' is not defined (add users.users.alice)"),
            "{p}"
        );
        assert!(
            p.contains("s6.services.a.group: group 'staff' is not defined"),
            "{p}"
        );
        let mut unknown = spec(&[("a", r#"{"script":"x","user":"alice"}"#)]);
        unknown.users = None;
        assert!(
            unknown.validate().is_ok(),
            "without a users list, names are not checked"
        );
    }

    #[test]
    fn capabilities_are_names_of_capabilities_7() {
        let s = spec(&[(
            "web",
            r#"{"script":"x","user":"nobody","capabilities":["CAP_NET_BIND_SERVICE","NET_ADMIN","CAP_NOPE"]}"#,
        )]);
        let p = problems(&s);
        assert!(p.contains("s6.services.web.capabilities: 'NET_ADMIN' is not a capability (a name of capabilities(7), e.g. CAP_NET_BIND_SERVICE)"), "{p}");
        assert!(
            p.contains("s6.services.web.capabilities: 'CAP_NOPE' is not a capability"),
            "{p}"
        );
        assert!(!p.contains("'CAP_NET_BIND_SERVICE'"), "{p}");
    }

    #[test]
    fn other_fields_are_checked() {
        let mut s = spec(&[
            (
                "a",
                r#"{"execStart":"/bin/a \"unclosed","notificationFd":1,"stopSignal":"STOP","workingDirectory":"tmp","restartDelay":5,"restartDelayMax":1}"#,
            ),
            (
                "b",
                r#"{"type":"oneshot-pre","script":"x","notificationFd":3}"#,
            ),
            (".hidden", r#"{"script":"x"}"#),
        ]);
        s.exit_code_from = Some("nope".into());
        let p = problems(&s);
        for needle in [
            "s6.exitCodeFrom: 'nope' is not a service",
            "s6.services.a.execStart: cannot be split into words: a double quote is not closed",
            "s6.services.a.notificationFd: 1 is a standard descriptor",
            "s6.services.a.stopSignal: 'STOP' is not a signal that stops a service",
            "s6.services.a.workingDirectory: 'tmp' must be an absolute path",
            "s6.services.a.restartDelay: 5 ms is more than restartDelayMax (1 ms)",
            "s6.services.b.notificationFd: only long-run services have readiness",
            "s6.services.\".hidden\": '.hidden' is not a service name",
        ] {
            assert!(p.contains(needle), "missing {needle:?} in {p}");
        }
    }

    #[test]
    fn command_lines_split_like_a_shell_without_expansion() {
        assert_eq!(
            split_command(r#"/bin/nginx -g "daemon off;""#).unwrap(),
            ["/bin/nginx", "-g", "daemon off;"]
        );
        assert_eq!(
            split_command(r#"  a 'b c' d\ e "f\"g" "$HOME" ''  "#).unwrap(),
            ["a", "b c", "d e", "f\"g", "$HOME", ""]
        );
        assert_eq!(
            split_command("a 'b").unwrap_err(),
            "a single quote is not closed"
        );
        assert_eq!(split_command("   ").unwrap_err(), "it has no command");
    }

    #[test]
    fn stop_signals_by_any_spelling() {
        assert_eq!(stop_signal("SIGTERM"), Some(("TERM", 15)));
        assert_eq!(stop_signal("quit"), Some(("QUIT", 3)));
        assert_eq!(stop_signal("SEGV"), None);
    }
}
