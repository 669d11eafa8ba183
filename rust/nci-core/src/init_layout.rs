//! What `nci-s6` generates at build time and `nci-init` reads back in
//! the container: the boot spec in the init file, one `data/service` file
//! per service, and the names of files in the services directory and in
//! the state directory (see docs/spec.md, "Init runtime files"). Both
//! sides are built from this workspace together, so these formats follow
//! its version, not a contract.
//!
//! The two files are in a line format that the init reads with `std`
//! alone ([`lines`]): the init carries no JSON decoder (docs/s6.md, "Size
//! of nci-init"). The JSON contract is the init spec, which only `nci-s6`
//! decodes.

use crate::init_spec::ServiceType;
use std::collections::BTreeMap;

pub const BOOT_VERSION: u32 = 2;

/// The init file: `#!<nci-init> boot` then this, in [`lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongRunRef {
    pub name: String,
    pub readiness: bool,
}

/// Everything needed to start one service, in `<name>/data/service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRuntime {
    pub name: String,
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
    pub capabilities: Vec<String>,
}

/// The words of a list of long-runs: name, then `ready` or `up` (what
/// to wait for).
fn long_run_words(refs: &[LongRunRef]) -> Vec<&str> {
    refs.iter()
        .flat_map(|r| [r.name.as_str(), if r.readiness { "ready" } else { "up" }])
        .collect()
}

fn long_runs(key: &str, words: Vec<String>) -> Result<Vec<LongRunRef>, String> {
    let pairs = words.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(format!("'{key}': not pairs of a name and 'ready' or 'up'"));
    }
    pairs
        .map(|pair| {
            let readiness = match pair[1].as_str() {
                "ready" => true,
                "up" => false,
                wait => return Err(format!("'{key}': '{wait}' is not 'ready' or 'up'")),
            };
            Ok(LongRunRef {
                name: pair[0].clone(),
                readiness,
            })
        })
        .collect()
}

impl BootSpec {
    /// The spec in [`lines`], as the init file holds it after its `#!` line.
    pub fn to_lines(&self) -> String {
        let mut w = lines::Writer::default();
        w.line("version", &[&self.version.to_string()]);
        w.line("nci-init", &[&self.nci_init]);
        w.line("s6-bin", &[&self.s6_bin]);
        w.line("services", &[&self.services]);
        w.line("state-dir", &[&self.state_dir]);
        w.line("grace-time", &[&self.grace_time.to_string()]);
        if let Some(e) = &self.exit_code_from {
            w.line("exit-code-from", &[e]);
        }
        w.list("oneshot-pre", &self.oneshot_pre);
        w.line("long-run", &long_run_words(&self.long_run));
        w.list("oneshot-post", &self.oneshot_post);
        w.finish()
    }

    /// Reads [`BootSpec::to_lines`]' text back; the version first, so that
    /// an init file of another version says so.
    pub fn from_lines(text: &str) -> Result<BootSpec, String> {
        let mut r = lines::Reader::new(text)?;
        let version = r.number("version")?;
        if version != BOOT_VERSION {
            return Err(format!(
                "version {version} is not supported by this nci-init (expected {BOOT_VERSION})"
            ));
        }
        let spec = BootSpec {
            version,
            nci_init: r.one("nci-init")?,
            s6_bin: r.one("s6-bin")?,
            services: r.one("services")?,
            state_dir: r.one("state-dir")?,
            grace_time: r.number("grace-time")?,
            exit_code_from: r.optional("exit-code-from")?,
            oneshot_pre: r.list("oneshot-pre")?,
            long_run: long_runs("long-run", r.list("long-run")?)?,
            oneshot_post: r.list("oneshot-post")?,
        };
        r.finish()?;
        Ok(spec)
    }
}

impl ServiceRuntime {
    /// The service in [`lines`], as `data/service` holds it.
    pub fn to_lines(&self) -> String {
        let mut w = lines::Writer::default();
        w.line("name", &[&self.name]);
        w.line("type", &[self.kind.as_str()]);
        w.line("nci-init", &[&self.nci_init]);
        w.list("argv", &self.argv);
        if let Some(p) = &self.pre_start {
            w.list("pre-start", p);
        }
        for (name, value) in &self.environment {
            match value {
                Some(v) => w.line("env", &[name, v]),
                None => w.line("unset", &[name]),
            }
        }
        w.list("path", &self.path);
        w.line("user", &[&self.user]);
        if let Some(g) = &self.group {
            w.line("group", &[g]);
        }
        if let Some(d) = &self.working_directory {
            w.line("working-directory", &[d]);
        }
        w.line("restart-on-failure", &[yes_no(self.restart_on_failure)]);
        w.line("restart-delay", &[&self.restart_delay.to_string()]);
        w.line("restart-delay-max", &[&self.restart_delay_max.to_string()]);
        if let Some(l) = self.restart_limit {
            w.line("restart-limit", &[&l.to_string()]);
        }
        w.line(
            "restart-limit-interval",
            &[&self.restart_limit_interval.to_string()],
        );
        w.line("after", &long_run_words(&self.after));
        if let Some(l) = &self.logger {
            w.list("logger", l);
        }
        if let Some(fd) = self.notification_fd {
            w.line("notification-fd", &[&fd.to_string()]);
        }
        w.line("stop-signal", &[&self.stop_signal]);
        w.line("stop-timeout", &[&self.stop_timeout.to_string()]);
        w.line("exit-code-from", &[yes_no(self.exit_code_from)]);
        if !self.capabilities.is_empty() {
            w.list("capabilities", &self.capabilities);
        }
        w.finish()
    }

    /// Reads [`ServiceRuntime::to_lines`]' text back.
    pub fn from_lines(text: &str) -> Result<ServiceRuntime, String> {
        let mut r = lines::Reader::new(text)?;
        let mut environment = BTreeMap::new();
        for words in r.repeated("env") {
            match <[String; 2]>::try_from(words) {
                Ok([name, value]) => environment.insert(name, Some(value)),
                Err(_) => return Err("'env': not a name and a value".into()),
            };
        }
        for words in r.repeated("unset") {
            match <[String; 1]>::try_from(words) {
                Ok([name]) => environment.insert(name, None),
                Err(_) => return Err("'unset': not one name".into()),
            };
        }
        let kind = r.one("type")?;
        let spec = ServiceRuntime {
            name: r.one("name")?,
            kind: ServiceType::from_name(&kind)
                .ok_or_else(|| format!("'type': unknown service type '{kind}'"))?,
            nci_init: r.one("nci-init")?,
            argv: r.list("argv")?,
            pre_start: r.optional_list("pre-start")?,
            environment,
            path: r.list("path")?,
            user: r.one("user")?,
            group: r.optional("group")?,
            working_directory: r.optional("working-directory")?,
            restart_on_failure: r.yes_no("restart-on-failure")?,
            restart_delay: r.number("restart-delay")?,
            restart_delay_max: r.number("restart-delay-max")?,
            restart_limit: r.optional_number("restart-limit")?,
            restart_limit_interval: r.number("restart-limit-interval")?,
            after: long_runs("after", r.list("after")?)?,
            logger: r.optional_list("logger")?,
            notification_fd: r.optional_number("notification-fd")?,
            stop_signal: r.one("stop-signal")?,
            stop_timeout: r.number("stop-timeout")?,
            exit_code_from: r.yes_no("exit-code-from")?,
            capabilities: r.optional_list("capabilities")?.unwrap_or_default(),
        };
        r.finish()?;
        Ok(spec)
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The line format of the init file and `data/service`: one `key word...`
/// per line, words separated by one space. In a word, `\\` is a
/// backslash, `\s` a space, `\t` a tab, `\n` a newline, `\r` a carriage
/// return, and a word that is `\e` is empty. A key appears once, except `env` and `unset`;
/// an optional value is a key left out. Unknown and repeated keys are
/// errors: writer and reader are built together.
pub mod lines {
    /// Builds the text, one line at a time.
    #[derive(Default)]
    pub struct Writer {
        text: String,
    }

    impl Writer {
        pub fn line(&mut self, key: &str, words: &[&str]) {
            self.text.push_str(key);
            for w in words {
                self.text.push(' ');
                escape(w, &mut self.text);
            }
            self.text.push('\n');
        }
        pub fn list(&mut self, key: &str, words: &[String]) {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            self.line(key, &words);
        }
        pub fn finish(self) -> String {
            self.text
        }
    }

    /// Appends `word` escaped.
    pub fn escape(word: &str, out: &mut String) {
        if word.is_empty() {
            out.push_str("\\e");
        }
        for c in word.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                ' ' => out.push_str("\\s"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    }

    /// The inverse of [`escape`].
    pub fn unescape(word: &str) -> Result<String, String> {
        if word == "\\e" {
            return Ok(String::new());
        }
        let mut out = String::with_capacity(word.len());
        let mut chars = word.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            out.push(match chars.next() {
                Some('\\') => '\\',
                Some('s') => ' ',
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                _ => return Err(format!("'{word}': a backslash that escapes nothing known")),
            });
        }
        Ok(out)
    }

    /// The lines of a text, taken by key; [`Reader::finish`] fails on
    /// what is left (an unknown key).
    pub struct Reader {
        lines: Vec<Option<(String, Vec<String>)>>,
    }

    impl Reader {
        pub fn new(text: &str) -> Result<Reader, String> {
            let mut lines = Vec::new();
            for (n, line) in text.split('\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let mut words = line.split(' ');
                let key = words.next().unwrap_or_default().to_owned();
                let words = words
                    .map(unescape)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("line {}: {e}", n + 1))?;
                lines.push(Some((key, words)));
            }
            Ok(Reader { lines })
        }

        /// The words of every line of `key`.
        pub fn repeated(&mut self, key: &str) -> Vec<Vec<String>> {
            self.lines
                .iter_mut()
                .filter(|l| matches!(l, Some((k, _)) if k == key))
                .filter_map(|l| l.take().map(|(_, words)| words))
                .collect()
        }

        /// The words of the line of `key`, if there is one.
        pub fn optional_list(&mut self, key: &str) -> Result<Option<Vec<String>>, String> {
            let mut all = self.repeated(key);
            if all.len() > 1 {
                return Err(format!("'{key}' is there {} times", all.len()));
            }
            Ok(all.pop())
        }

        pub fn list(&mut self, key: &str) -> Result<Vec<String>, String> {
            self.optional_list(key)?
                .ok_or_else(|| format!("'{key}' is missing"))
        }

        pub fn optional(&mut self, key: &str) -> Result<Option<String>, String> {
            match self.optional_list(key)? {
                None => Ok(None),
                Some(words) => match <[String; 1]>::try_from(words) {
                    Ok([w]) => Ok(Some(w)),
                    Err(w) => Err(format!("'{key}' has {} words, not one", w.len())),
                },
            }
        }

        pub fn one(&mut self, key: &str) -> Result<String, String> {
            self.optional(key)?
                .ok_or_else(|| format!("'{key}' is missing"))
        }

        pub fn optional_number<T: std::str::FromStr>(
            &mut self,
            key: &str,
        ) -> Result<Option<T>, String> {
            match self.optional(key)? {
                None => Ok(None),
                Some(w) => w
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("'{key}': '{w}' is not a number")),
            }
        }

        pub fn number<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, String> {
            self.optional_number(key)?
                .ok_or_else(|| format!("'{key}' is missing"))
        }

        pub fn yes_no(&mut self, key: &str) -> Result<bool, String> {
            match self.one(key)?.as_str() {
                "yes" => Ok(true),
                "no" => Ok(false),
                w => Err(format!("'{key}': '{w}' is not 'yes' or 'no'")),
            }
        }

        /// Fails on a line no field took.
        pub fn finish(self) -> Result<(), String> {
            match self.lines.into_iter().flatten().next() {
                Some((key, _)) => Err(format!("unknown key '{key}'")),
                None => Ok(()),
            }
        }
    }
}

/// File names in the services directory and the state directory.
pub mod names {
    /// The directory of s6-svscan's hooks (`finish`, `SIGTERM`, ...).
    pub const SVSCAN: &str = ".s6-svscan";
    /// Our own state, beside the services (s6-svscan skips dot names).
    pub const STATE: &str = ".nci-init";
    /// A service's data directory (s6 never touches `data`).
    pub const DATA: &str = "data";
    /// A service's [`ServiceRuntime`](super::ServiceRuntime), in its data directory.
    pub const SERVICE: &str = "service";
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn service() -> ServiceRuntime {
        ServiceRuntime {
            name: "web".into(),
            kind: ServiceType::OneshotPost,
            nci_init: "/nix/store/x-nci-init".into(),
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo 'a  b'\n\\ end".into(),
                "".into(),
            ],
            pre_start: Some(vec![]),
            environment: BTreeMap::from([
                ("EMPTY".into(), Some(String::new())),
                ("GONE".into(), None),
                ("LINES".into(), Some("one\ntwo\tthree \\s".into())),
            ]),
            path: vec!["/p/bin".into()],
            user: "nobody".into(),
            group: Some("www data".into()),
            working_directory: None,
            restart_on_failure: true,
            restart_delay: 1,
            restart_delay_max: 2,
            restart_limit: Some(3),
            restart_limit_interval: 4,
            after: vec![
                LongRunRef {
                    name: "db".into(),
                    readiness: true,
                },
                LongRunRef {
                    name: "cache".into(),
                    readiness: false,
                },
            ],
            logger: None,
            notification_fd: Some(3),
            stop_signal: "QUIT".into(),
            stop_timeout: 0,
            exit_code_from: true,
            capabilities: vec!["CAP_NET_BIND_SERVICE".into()],
        }
    }

    #[test]
    fn a_service_and_a_boot_spec_read_back_as_written() {
        let s = service();
        assert_eq!(ServiceRuntime::from_lines(&s.to_lines()), Ok(s));
        let boot = BootSpec {
            version: BOOT_VERSION,
            nci_init: "/i".into(),
            s6_bin: "/s6/bin".into(),
            services: "/out/services".into(),
            state_dir: "/run/s6".into(),
            grace_time: 3000,
            exit_code_from: None,
            oneshot_pre: vec![],
            long_run: vec![LongRunRef {
                name: "a".into(),
                readiness: false,
            }],
            oneshot_post: vec!["b".into(), "c".into()],
        };
        let text = boot.to_lines();
        assert!(text.contains("\noneshot-pre\nlong-run a up\noneshot-post b c\n"));
        assert_eq!(BootSpec::from_lines(&text), Ok(boot));
    }

    #[test]
    fn what_the_writer_did_not_write_is_refused() {
        let text = service().to_lines();
        let err = |t: &str| ServiceRuntime::from_lines(t).unwrap_err();
        assert_eq!(err(&format!("{text}color blue\n")), "unknown key 'color'");
        assert_eq!(
            err(&text.replace("stop-timeout 0\n", "")),
            "'stop-timeout' is missing"
        );
        assert_eq!(
            err(&format!("{text}user root\n")),
            "'user' is there 2 times"
        );
        assert_eq!(
            err(&text.replace("user nobody", "user a b")),
            "'user' has 2 words, not one"
        );
        assert_eq!(
            err(&text.replace("restart-delay 1", "restart-delay x")),
            "'restart-delay': 'x' is not a number"
        );
        assert_eq!(
            err(&text.replace("user nobody", "user a\\b")),
            "line 10: 'a\\b': a backslash that escapes nothing known"
        );
        assert_eq!(
            err(&text.replace("db ready", "db soon")),
            "'after': 'soon' is not 'ready' or 'up'"
        );
        assert_eq!(
            BootSpec::from_lines("version 1\n").unwrap_err(),
            format!("version 1 is not supported by this nci-init (expected {BOOT_VERSION})")
        );
    }

    proptest! {
        #[test]
        fn any_words_read_back_as_written(words in proptest::collection::vec(".*", 0..5)) {
            let mut w = lines::Writer::default();
            w.list("k", &words);
            let text = w.finish();
            prop_assert_eq!(text.lines().count(), 1);
            let mut r = lines::Reader::new(&text).unwrap();
            prop_assert_eq!(r.list("k").unwrap(), words);
            prop_assert!(r.finish().is_ok());
        }
    }
}
