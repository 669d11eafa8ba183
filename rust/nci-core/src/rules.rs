//! The one statement of the single-value rules both sides check: name
//! grammars, limits, lists and their messages (docs/rules.md).
//!
//! Nix does not write these rules again: `nix/rules.json` is generated
//! from [`to_json`] (a test fails when the committed file is stale, run
//! `NCI_UPDATE_GOLDEN=1 cargo test -p nci-core rules` to refresh it) and
//! `nix/rules.nix` applies it at evaluation, so a module gets the same
//! message at evaluation as a hand-written spec gets from a helper.
//!
//! Messages about rules between entries (a service's `after`, a user's
//! group) are stated here too, as [`Message`] templates: the modules fill
//! the same text at evaluation (`rules.say` in `nix/rules.nix`).
//!
//! Patterns are POSIX extended regular expressions matched against the
//! whole value (Nix's `builtins.match`), written in the subset the
//! `regex-lite` crate reads the same way; `.` matches any character.

use serde_json::{json, Value};

/// How many bytes of a value an error message quotes; the rest is said
/// by its size.
pub const QUOTE_MAX: usize = 64;

/// A value as an error message quotes it: whole when short, otherwise
/// its first [`QUOTE_MAX`] bytes (cut at a character boundary) followed by
/// `[... N bytes in all]`.
pub fn quote(value: &str) -> String {
    if value.len() <= QUOTE_MAX {
        return value.to_owned();
    }
    let mut cut = QUOTE_MAX;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}[... {} bytes in all]", &value[..cut], value.len())
}

/// A message (not a value) cut to a readable length: its first and last
/// bytes with the size between, e.g. a serde error that quotes a huge
/// value and ends with its line and column.
pub fn shorten(message: &str) -> String {
    const HEAD: usize = 160;
    const TAIL: usize = 60;
    if message.len() <= HEAD + TAIL + 40 {
        return message.to_owned();
    }
    let mut head = HEAD;
    while !message.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = message.len() - TAIL;
    while !message.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}[... {} bytes in all ...]{}",
        &message[..head],
        message.len(),
        &message[tail..]
    )
}

/// A whole error message as a helper prints it, each line cut by
/// [`shorten`] when longer than 2 KB: the safety net under every
/// message that quotes a value without [`quote`].
pub fn readable(message: &str) -> String {
    message
        .split('\n')
        .map(|line| {
            if line.len() > 2048 {
                shorten(line)
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One rule: a value is valid when it is at most `max_length` bytes and
/// (upper-cased first when `upper`) matches `pattern` whole.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The key in `nix/rules.json`.
    pub name: &'static str,
    pub pattern: String,
    pub max_length: usize,
    pub upper: bool,
    /// The reason given after `option: `; `{value}` is the quoted value.
    pub message: String,
}

impl Rule {
    /// `None` when `value` is valid, the reason (naming no option) when not.
    pub fn check(&self, value: &str) -> Option<String> {
        let subject = if self.upper {
            value.to_ascii_uppercase()
        } else {
            value.to_owned()
        };
        // Nix strings cannot hold NUL: refused here as it cannot be meant.
        let ok = value.len() <= self.max_length
            && !value.contains('\0')
            && regex_lite::Regex::new(&format!("(?s)^(?:{})$", self.pattern))
                .is_ok_and(|re| re.is_match(&subject));
        (!ok).then(|| self.message.replace("{value}", &quote(value)))
    }

    /// [`Rule::check`] as a spec error naming `option`.
    pub fn require(&self, option: &str, value: &str) -> crate::Result<()> {
        match self.check(value) {
            None => Ok(()),
            Some(reason) => Err(crate::Error::invalid(option, reason)),
        }
    }
}

/// A message stated once for both sides: `{name}` placeholders in
/// `text` are filled by [`Message::fill`] here and by `rules.say` in
/// `nix/rules.nix`, with the same values unquoted.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    /// The key in `nix/rules.json`'s `messages`.
    pub name: &'static str,
    pub text: &'static str,
}

impl Message {
    /// The text with each `{key}` replaced by its value, in one pass (a
    /// value holding `{key}` stays as it is, as with Nix's
    /// `replaceStrings`).
    pub fn fill(&self, args: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text;
        'scan: while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            for (key, value) in args {
                if let Some(tail) = after
                    .strip_prefix('{')
                    .and_then(|t| t.strip_prefix(key))
                    .and_then(|t| t.strip_prefix('}'))
                {
                    out.push_str(value);
                    rest = tail;
                    continue 'scan;
                }
            }
            out.push('{');
            rest = &after[1..];
        }
        out.push_str(rest);
        out
    }
}

/// `s6.services.<name>`: both ways of saying what runs are set.
pub const EXEC_AND_SCRIPT: Message = Message {
    name: "execAndScript",
    text: "both execStart and script are set; set only one of them",
};
/// `s6.services.<name>`: no way of saying what runs is set.
pub const NO_EXEC: Message = Message {
    name: "noExec",
    text: "neither execStart nor script is set; set one of them to say what the service runs",
};
/// `s6.services.<name>.notificationFd` of a oneshot.
pub const READINESS_OF_A_ONESHOT: Message = Message {
    name: "readinessOfAOneshot",
    text: "only long-run services have readiness; this one is {type}",
};
/// `s6.services.<name>.restartDelay` above `restartDelayMax`.
pub const RESTART_DELAY_ABOVE_MAX: Message = Message {
    name: "restartDelayAboveMax",
    text: "{delay} ms is more than restartDelayMax ({max} ms)",
};
/// A name of `s6.services` (in `after`, `s6.exitCodeFrom`) that is not one.
pub const NOT_A_SERVICE: Message = Message {
    name: "notAService",
    text: "'{service}' is not a service (s6.services has {services})",
};
/// A service named (in `after`, `s6.exitCodeFrom`) that is disabled.
pub const DISABLED_SERVICE: Message = Message {
    name: "disabledService",
    text: "'{service}' is disabled (s6.services.{service}.enable = false)",
};
/// `s6.services.<name>.after` naming a service of a phase it cannot
/// wait for; `{why}` is the phase's reason ([`crate::init_spec::phase_problem`]).
pub const AFTER_ANOTHER_PHASE: Message = Message {
    name: "afterAnotherPhase",
    text: "'{service}' is a {type} and cannot run after '{after}', a {afterType}: {why}",
};
/// `s6.services`: `after` edges that go round.
pub const AFTER_CYCLE: Message = Message {
    name: "afterCycle",
    text: "the after dependencies form a cycle: {cycle}",
};
/// A user name (a service's `user`, a group's `members`) that
/// `users.users` does not define.
pub const USER_NOT_DEFINED: Message = Message {
    name: "userNotDefined",
    text: "user '{user}' is not defined (add users.users.{user})",
};
/// A group name (a user's `group` or `extraGroups`, a service's `group`)
/// that `users.groups` does not define.
pub const GROUP_NOT_DEFINED: Message = Message {
    name: "groupNotDefined",
    text: "group '{group}' is not defined (add users.groups.{group} = { };)",
};

/// `users.users.<name>.uid` below the normal users' range.
pub const NORMAL_USER_BELOW_RANGE: Message = Message {
    name: "normalUserBelowRange",
    text: "{uid} is below {first} but isNormalUser is set: set isSystemUser instead, or a uid of {first} or more",
};
/// `users.users.<name>`: neither or both kinds.
pub const SYSTEM_OR_NORMAL: Message = Message {
    name: "systemOrNormal",
    text: "exactly one of isSystemUser and isNormalUser must be set",
};
/// `users.users.<name>.group` left empty; `{option}` is that option.
pub const GROUP_UNSET: Message = Message {
    name: "groupUnset",
    text: "is unset: give the user a primary group, e.g. {option} = \"{user}\"; users.groups.{user} = { };",
};
/// Two users (groups) with the same explicit id; `{first}` is the
/// option of the first, `{id}` `uid` or `gid`.
pub const SAME_ID: Message = Message {
    name: "sameId",
    text: "{first} has the same {id} {value}: ids must be unique unless users.enforceIdUniqueness = false",
};

/// `systemd.services.<name>.serviceConfig.Type` values the systemd shim
/// runs (`dbus` as `simple`: an image has no system bus; `notify-reload`
/// as `notify`).
pub const SYSTEMD_SERVICE_TYPES: [&str; 8] = [
    "simple",
    "exec",
    "forking",
    "oneshot",
    "dbus",
    "notify",
    "notify-reload",
    "idle",
];
/// `systemd.services.<name>.serviceConfig.Restart` values, in the order
/// of nci-systemd's `Restart` variants.
pub const SYSTEMD_RESTARTS: [&str; 7] = [
    "no",
    "on-success",
    "on-failure",
    "on-abnormal",
    "on-watchdog",
    "on-abort",
    "always",
];
/// `serviceConfig.Type` not of [`SYSTEMD_SERVICE_TYPES`]; `{types}` is
/// that list joined by `, `, `{value}` the value quoted.
pub const NOT_A_SERVICE_TYPE: Message = Message {
    name: "notAServiceType",
    text: "'{value}' is not a service type (one of {types})",
};
/// `serviceConfig.Restart` not of [`SYSTEMD_RESTARTS`] (joined by `, `).
pub const NOT_A_RESTART_POLICY: Message = Message {
    name: "notARestartPolicy",
    text: "'{value}' is not a restart policy (one of {policies})",
};
/// `systemd.services.<name>`: nothing to run.
pub const NO_EXEC_START: Message = Message {
    name: "noExecStart",
    text: "has neither serviceConfig.ExecStart nor script; give it one of them",
};
/// `serviceConfig.ExecStart` with several commands in a service that is
/// not a oneshot.
pub const SEVERAL_EXEC_STARTS: Message = Message {
    name: "severalExecStarts",
    text: "{count} commands, but only a Type=oneshot service may have more than one",
};

/// The `tmpfiles.d(5)` types `nci-systemd tmpfiles` applies; the
/// module passes these and warns about the others.
pub const TMPFILES_TYPES: &str = "dDevqQfFwLzZrRCxX";

/// Every message, in the order `nix/rules.json` lists them.
pub const MESSAGES: [Message; 18] = [
    EXEC_AND_SCRIPT,
    NO_EXEC,
    READINESS_OF_A_ONESHOT,
    RESTART_DELAY_ABOVE_MAX,
    NOT_A_SERVICE,
    DISABLED_SERVICE,
    AFTER_ANOTHER_PHASE,
    AFTER_CYCLE,
    USER_NOT_DEFINED,
    GROUP_NOT_DEFINED,
    NORMAL_USER_BELOW_RANGE,
    SYSTEM_OR_NORMAL,
    GROUP_UNSET,
    SAME_ID,
    NOT_A_SERVICE_TYPE,
    NOT_A_RESTART_POLICY,
    NO_EXEC_START,
    SEVERAL_EXEC_STARTS,
];

/// Docker's reference grammar: an optional registry host (it has a `.`
/// or a port, or is `localhost`), then lowercase path components of
/// `[a-z0-9]` joined by `.`, `_`, `__` or `-`, separated by `/`.
pub fn image_name() -> Rule {
    let component = "[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*";
    let host =
        "(localhost(:[0-9]+)?|[a-zA-Z0-9-]+(\\.[a-zA-Z0-9-]+)+(:[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+)";
    Rule {
        name: "imageName",
        pattern: format!("({host}/)?{component}(/{component})*"),
        max_length: 255,
        upper: false,
        message: "'{value}' is not a valid image name: up to 255 characters, lowercase letters, digits and '.', '_', '-' between them, '/' between path components, after an optional registry host ('ghcr.io/owner/app', 'localhost:5000/app')".into(),
    }
}

/// Docker's tag grammar.
pub fn image_tag() -> Rule {
    Rule {
        name: "imageTag",
        pattern: "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}".into(),
        max_length: 128,
        upper: false,
        message: "'{value}' is not a valid tag: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'".into(),
    }
}

/// `<port>[/tcp|/udp|/sctp]`, a port from 1 to 65535.
pub fn port() -> Rule {
    let port =
        "[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]";
    Rule {
        name: "port",
        pattern: format!("({port})(/(tcp|udp|sctp))?"),
        max_length: 10,
        upper: false,
        message: "'{value}' is not <port>/<tcp|udp|sctp> with a port from 1 to 65535".into(),
    }
}

/// A signal name of [`crate::signals::SIGNALS`] (any case, `SIG`
/// optional) or number.
pub fn signal() -> Rule {
    Rule {
        name: "signal",
        pattern: format!(
            "(SIG)?({})|[1-9]|[1-5][0-9]|6[0-4]",
            crate::signals::SIGNALS.map(|(name, _)| name).join("|")
        ),
        max_length: 16,
        upper: true,
        message: "'{value}' is not a signal: a name such as SIGTERM, TERM or SIGQUIT, or a number from 1 to 64".into(),
    }
}

/// An RFC 3339 date and time that exists in the calendar (the 29th of
/// February in leap years only, no leap second, as Go's parser, which
/// `podman load` uses, accepts).
pub fn rfc3339() -> Rule {
    let day = "[0-9]{4}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)";
    let leap_day = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29";
    let time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?";
    let zone = "[Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]";
    Rule {
        name: "rfc3339",
        pattern: format!("({day}|{leap_day})[Tt]{time}({zone})"),
        max_length: 35,
        upper: false,
        message:
            "'{value}' is not an RFC 3339 date and time that exists, such as 1970-01-01T00:00:01Z"
                .into(),
    }
}

/// An environment variable name: anything without `=`.
pub fn env_name() -> Rule {
    Rule {
        name: "envName",
        pattern: "[^=]+".into(),
        max_length: 4096,
        upper: false,
        message: "'{value}' is not a variable name: it must be non-empty and without '='".into(),
    }
}

/// A name `s6.services` can have: a directory of the scan directory.
pub fn service_name() -> Rule {
    Rule {
        name: "serviceName",
        pattern: "[A-Za-z0-9_@:-][A-Za-z0-9_.@:-]*".into(),
        max_length: 200,
        upper: false,
        message: "'{value}' is not a service name: letters, digits and _ - . @ : only, not starting with a dot, at most 200".into(),
    }
}

/// A signal that stops an s6 service: one of
/// [`crate::init_spec::STOP_SIGNALS`], any case, `SIG` optional.
pub fn stop_signal() -> Rule {
    let names = crate::init_spec::STOP_SIGNALS;
    Rule {
        name: "stopSignal",
        pattern: format!("(SIG)?({})", names.join("|")),
        max_length: 16,
        upper: true,
        message: format!(
            "'{{value}}' is not a signal that stops a service (one of {})",
            names.join(", ")
        ),
    }
}

/// An absolute path.
pub fn absolute_path() -> Rule {
    Rule {
        name: "absolutePath",
        pattern: "/.*".into(),
        max_length: 4096,
        upper: false,
        message: "'{value}' must be an absolute path".into(),
    }
}

/// `image.maxLayers`: a whole number from 1 (the customisation layer
/// needs a layer), checked on its decimal text as Nix's `toString` and
/// Rust's `to_string` write it.
pub fn max_layers() -> Rule {
    Rule {
        name: "maxLayers",
        pattern: "[1-9][0-9]*".into(),
        max_length: 20,
        upper: false,
        message: "must be at least 1 (the customisation layer needs one), got {value}".into(),
    }
}

/// `users.users.<name>.homeMode`: an octal mode of at most `07777`, in
/// the 1 to 5 digits of NixOS' type (a fifth digit only as a leading 0).
pub fn home_mode() -> Rule {
    Rule {
        name: "homeMode",
        pattern: "[0-7]{1,4}|0[0-7]{4}".into(),
        max_length: 5,
        upper: false,
        message: "'{value}' is not an octal mode of at most 07777 (1 to 5 octal digits, such as 700 or 0750)".into(),
    }
}

/// shadow's `is_valid_name` pattern, as NixOS checks it, and the 31
/// characters its `useradd` allows.
const ACCOUNT_NAME: &str = "[a-zA-Z0-9_.][a-zA-Z0-9_.-]*";

fn account_name(name: &'static str, noun: &str) -> Rule {
    Rule {
        name,
        pattern: ACCOUNT_NAME.into(),
        max_length: 31,
        upper: false,
        message: format!(
            "'{{value}}' is not a valid {noun} name: it must match {ACCOUNT_NAME} and have at most 31 characters"
        ),
    }
}

/// `users.users.<name>.name`.
pub fn user_name() -> Rule {
    account_name("userName", "user")
}

/// `users.groups.<name>.name`.
pub fn group_name() -> Rule {
    account_name("groupName", "group")
}

/// Every rule, in the order `nix/rules.json` lists them.
pub fn all() -> Vec<Rule> {
    vec![
        image_name(),
        image_tag(),
        port(),
        signal(),
        rfc3339(),
        env_name(),
        absolute_path(),
        service_name(),
        stop_signal(),
        max_layers(),
        user_name(),
        group_name(),
        home_mode(),
    ]
}

/// The document `nix/rules.json` holds.
pub fn to_json() -> Value {
    let rules: serde_json::Map<String, Value> = all()
        .into_iter()
        .map(|r| {
            (
                r.name.to_owned(),
                json!({
                    "pattern": r.pattern,
                    "maxLength": r.max_length,
                    "upper": r.upper,
                    "message": r.message,
                }),
            )
        })
        .collect();
    let messages: serde_json::Map<String, Value> = MESSAGES
        .iter()
        .map(|m| (m.name.to_owned(), Value::from(m.text)))
        .collect();
    use crate::init_spec::{phase_problem, ServiceType, STOP_SIGNALS};
    use crate::users_spec::{NORMAL_UIDS, SUBID_BASE, SUBID_COUNT, SYSTEM_IDS};
    let phases: serde_json::Map<String, Value> = ServiceType::ALL
        .iter()
        .map(|me| {
            let refused: serde_json::Map<String, Value> = ServiceType::ALL
                .iter()
                .filter_map(|dep| Some((dep.as_str().to_owned(), phase_problem(*me, *dep)?.into())))
                .collect();
            (me.as_str().to_owned(), refused.into())
        })
        .collect();
    json!({
        "comment": "Generated from rust/nci-core/src/rules.rs: do not edit; NCI_UPDATE_GOLDEN=1 cargo test -p nci-core rules",
        "quoteMax": QUOTE_MAX,
        "rules": rules,
        "messages": messages,
        "s6": {
            "serviceTypes": ServiceType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "stopSignals": STOP_SIGNALS,
            "phases": phases,
        },
        "profilePaths": crate::profile::default_paths(),
        "tmpfilesTypes": TMPFILES_TYPES,
        "systemd": {
            "serviceTypes": SYSTEMD_SERVICE_TYPES,
            "restartPolicies": SYSTEMD_RESTARTS,
        },
        "users": {
            "systemIds": [SYSTEM_IDS.start(), SYSTEM_IDS.end()],
            "normalUids": [NORMAL_UIDS.start(), NORMAL_UIDS.end()],
            "subIdBase": SUBID_BASE,
            "subIdCount": SUBID_COUNT,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_rules_json_is_generated_from_this_file() {
        crate::generated::assert_nix_file_is("rules.json", &to_json(), "rules.rs", "rules");
    }

    #[test]
    fn messages_are_filled_in_one_pass() {
        assert_eq!(
            NOT_A_SERVICE.fill(&[("service", "{services}"), ("services", "a, b")]),
            "'{services}' is not a service (s6.services has a, b)"
        );
        assert_eq!(
            GROUP_NOT_DEFINED.fill(&[("group", "staff")]),
            "group 'staff' is not defined (add users.groups.staff = { };)"
        );
    }

    #[test]
    fn every_pattern_compiles() {
        for r in all() {
            assert!(regex_lite::Regex::new(&r.pattern).is_ok(), "{}", r.name);
        }
    }

    #[test]
    fn long_values_are_cut_with_their_size() {
        assert_eq!(quote("short"), "short");
        let long = "é".repeat(100);
        let q = quote(&long);
        assert!(q.ends_with("[... 200 bytes in all]"), "{q}");
        assert!(q.len() < 100);
    }

    #[test]
    fn long_messages_keep_their_head_and_tail() {
        let m = format!(
            "invalid type: string \"{}\", expected u32 at line 1 column 9",
            "x".repeat(10_000)
        );
        let s = shorten(&m);
        assert!(s.starts_with("invalid type: string \"xxx"), "{s}");
        assert!(s.ends_with("expected u32 at line 1 column 9"), "{s}");
        assert!(s.contains("[... 10056 bytes in all ...]"), "{s}");
        assert!(s.len() < 300);
        assert_eq!(shorten("short"), "short");
    }

    #[test]
    fn calendar_dates_only() {
        let r = rfc3339();
        for good in [
            "1970-01-01T00:00:01Z",
            "2024-02-29T23:59:59+01:00",
            "2000-02-29t00:00:00.5z",
            "2023-12-31T00:00:00-05:30",
        ] {
            assert_eq!(r.check(good), None, "{good}");
        }
        for bad in [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-02-30T25:61:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01",
        ] {
            assert!(r.check(bad).is_some(), "{bad}");
        }
    }
}
