//! The one statement of the single-value rules both sides check: name
//! grammars, limits, lists and their messages (docs/rules.md).
//!
//! Nix does not write these rules again: `nix/rules.json` is generated
//! from [`to_json`] (a test fails when the committed file is stale, run
//! `NCI_UPDATE_GOLDEN=1 cargo test -p nci-core rules` to refresh it) and
//! `nix/rules.nix` applies it at evaluation, so a module gets the same
//! message at evaluation as a hand-written spec gets from a helper.
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

/// The signals Linux has, by name without `SIG` (`podman stop` and
/// `docker stop` take these, in any case, with or without `SIG`, or a
/// number from 1 to 64).
pub const SIGNALS: [&str; 32] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
    "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
    "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
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

/// A signal name of [`SIGNALS`] (any case, `SIG` optional) or number.
pub fn signal() -> Rule {
    Rule {
        name: "signal",
        pattern: format!(
            "(SIG)?({})|[1-9]|[1-5][0-9]|6[0-4]",
            SIGNALS.join("|")
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
    let names: Vec<&str> = crate::init_spec::STOP_SIGNALS
        .iter()
        .map(|(n, _)| *n)
        .collect();
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
    json!({
        "comment": "Generated from rust/nci-core/src/rules.rs: do not edit; NCI_UPDATE_GOLDEN=1 cargo test -p nci-core rules",
        "quoteMax": QUOTE_MAX,
        "rules": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn committed() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../nix/rules.json")
    }

    #[test]
    fn nix_rules_json_is_generated_from_this_file() {
        let mut text = serde_json::to_string_pretty(&to_json()).unwrap_or_default();
        text.push('\n');
        if std::env::var_os("NCI_UPDATE_GOLDEN").is_some() {
            std::fs::write(committed(), &text).unwrap();
        }
        let old = std::fs::read_to_string(committed()).unwrap_or_default();
        assert!(
            old == text,
            "nix/rules.json is out of sync with rules.rs: run NCI_UPDATE_GOLDEN=1 cargo test -p nci-core rules"
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
