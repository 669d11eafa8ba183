//! `Condition*=`/`Assert*=` of `[Unit]` (systemd.unit(5)), checked at
//! each start: on paths, and on what the service manager runs in (the
//! container, its capabilities, environment, kernel command line,
//! architecture, host name). What they read is gathered in [`Facts`], so
//! that the rules are tested without the machine.

use crate::spec::Condition;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The kinds whose value is an absolute path (the others take a word).
pub const PATH_KINDS: &[&str] = &[
    "PathExists",
    "PathIsDirectory",
    "PathIsSymbolicLink",
    "FileNotEmpty",
    "DirectoryNotEmpty",
    "FileIsExecutable",
    "PathExistsGlob",
];

/// The kind of a setting: `ConditionPathExists` -> `PathExists`.
pub fn kind(setting: &str) -> &str {
    setting
        .strip_prefix("Condition")
        .or_else(|| setting.strip_prefix("Assert"))
        .unwrap_or(setting)
}

/// What the non-path conditions read about the service manager's world.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The manager's (the runner's) environment.
    pub env: BTreeMap<String, String>,
    /// The container technology (`podman`, `docker`, ...), as systemd's
    /// detect-virt names it; None outside a container.
    pub container: Option<String>,
    /// Whether the processes run in a user namespace of their own.
    pub private_users: bool,
    /// Capabilities of the bounding set (`CAP_NET_ADMIN`, ...).
    pub bounding: Vec<String>,
    /// `/proc/cmdline`.
    pub cmdline: String,
    /// systemd's architecture name (`x86-64`, `arm64`, ...).
    pub architecture: String,
    pub hostname: String,
    /// `/etc/machine-id`, when there is one.
    pub machine_id: Option<String>,
}

impl Facts {
    /// The facts of this machine and process.
    pub fn current() -> Facts {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        // systemd reads $container (podman sets it; so do lxc and
        // systemd-nspawn), then the runtimes' marker files.
        let container = env
            .get("container")
            .filter(|v| !v.is_empty())
            .cloned()
            .or_else(|| Path::new("/.dockerenv").exists().then(|| "docker".into()))
            .or_else(|| {
                Path::new("/run/.containerenv")
                    .exists()
                    .then(|| "podman".into())
            });
        let uid_map = read("/proc/self/uid_map");
        let private_users = !uid_map.trim().is_empty()
            && uid_map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"];
        let bounding = caps::read(None, caps::CapSet::Bounding)
            .map(|set| set.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default();
        Facts {
            env,
            container,
            private_users,
            bounding,
            cmdline: read("/proc/cmdline"),
            architecture: architecture(std::env::consts::ARCH).into(),
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            machine_id: Some(read("/etc/machine-id").trim().to_string()).filter(|m| !m.is_empty()),
        }
    }
}

/// systemd's name of Rust's architecture.
pub fn architecture(arch: &str) -> &str {
    match arch {
        "x86_64" => "x86-64",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64-le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Whether a condition holds (before its `!`).
fn holds_plain(kind: &str, value: &str, facts: &Facts) -> bool {
    let p = Path::new(value);
    match kind {
        "PathExists" => p.symlink_metadata().is_ok(),
        "PathIsDirectory" => p.is_dir(),
        "PathIsSymbolicLink" => p.is_symlink(),
        "FileNotEmpty" => p
            .metadata()
            .map(|m| m.is_file() && m.len() > 0)
            .unwrap_or(false),
        "DirectoryNotEmpty" => std::fs::read_dir(p)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "FileIsExecutable" => p
            .metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false),
        "PathExistsGlob" => !glob(value).is_empty(),
        "Virtualization" => virtualization(value, facts),
        "Capability" => facts.bounding.iter().any(|c| c.eq_ignore_ascii_case(value)),
        "Environment" => match value.split_once('=') {
            Some((k, v)) => facts.env.get(k).is_some_and(|have| have == v),
            None => facts.env.contains_key(value),
        },
        "KernelCommandLine" => facts.cmdline.split_whitespace().any(|w| {
            w == value
                || (!value.contains('=') && w.split_once('=').is_some_and(|(k, _)| k == value))
        }),
        "Architecture" => value == "native" || value == facts.architecture,
        "Host" => {
            let id = value.replace('-', "").to_ascii_lowercase();
            if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                facts.machine_id.as_deref() == Some(id.as_str())
            } else {
                fnmatch(value, &facts.hostname)
            }
        }
        _ => false,
    }
}

/// ConditionVirtualization=: a boolean (any virtualization), `vm`,
/// `container`, `private-users`, or a technology's name. Only containers
/// are detected: an image runs in one.
fn virtualization(value: &str, facts: &Facts) -> bool {
    match value {
        "yes" | "true" | "on" | "1" => facts.container.is_some(),
        "no" | "false" | "off" | "0" => facts.container.is_none(),
        "container" => facts.container.is_some(),
        "vm" => false,
        "private-users" => facts.private_users,
        name => facts.container.as_deref() == Some(name),
    }
}

/// Whether `c` holds, its `!` applied.
pub fn holds(c: &Condition, facts: &Facts) -> bool {
    holds_plain(kind(&c.setting), &c.path, facts) != c.negate
}

/// fnmatch(3) without flags: `*`, `?`, `[...]` (with `!` or `^`,
/// ranges), `\` escapes.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

fn matches(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| matches(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && matches(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class(&p[1..], *c) {
                Some((ok, rest)) => ok && matches(rest, &n[1..]),
                // No closing bracket: a literal '['.
                None => *c == '[' && matches(&p[1..], &n[1..]),
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && matches(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && matches(&p[1..], &n[1..]),
    }
}

/// A bracket expression after its `[`: whether `c` is in it, and the
/// pattern after its `]`.
fn class(p: &[char], c: char) -> Option<(bool, &[char])> {
    let (negate, mut i) = match p.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let mut found = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((found != negate, &p[i + 1..]));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            found |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            found |= p[i] == c;
            i += 1;
        }
    }
    None
}

/// The paths an absolute glob pattern matches (each component a
/// pattern; a name starting with `.` only matches a pattern that does).
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for part in pattern.split('/').filter(|s| !s.is_empty()) {
        let wild = part.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for dir in &found {
            if !wild {
                let p = dir.join(part.replace('\\', ""));
                if p.symlink_metadata().is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| fnmatch(part, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(setting: &str, value: &str) -> Condition {
        let (negate, value) = match value.strip_prefix('!') {
            Some(v) => (true, v),
            None => (false, value),
        };
        Condition {
            setting: setting.into(),
            path: value.into(),
            negate,
            trigger: false,
            assert: false,
        }
    }

    fn podman() -> Facts {
        Facts {
            env: [("container", "podman"), ("MODE", "prod")]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            container: Some("podman".into()),
            private_users: false,
            bounding: vec!["CAP_CHOWN".into(), "CAP_NET_BIND_SERVICE".into()],
            cmdline: "BOOT_IMAGE=/k quiet console=ttyS0".into(),
            architecture: "x86-64".into(),
            hostname: "web-1".into(),
            machine_id: Some("0123456789abcdef0123456789abcdef".into()),
        }
    }

    #[test]
    fn virtualization_sees_the_container_and_no_vm() {
        let f = podman();
        let host = Facts::default();
        for (v, in_podman, on_host) in [
            ("container", true, false),
            ("!container", false, true),
            ("podman", true, false),
            ("docker", false, false),
            ("yes", true, false),
            ("no", false, true),
            ("vm", false, false),
            ("!vm", true, true),
            ("private-users", false, false),
        ] {
            let c = cond("ConditionVirtualization", v);
            assert_eq!(holds(&c, &f), in_podman, "{v} in podman");
            assert_eq!(holds(&c, &host), on_host, "{v} on a host");
        }
    }

    #[test]
    fn capability_environment_command_line_architecture_and_host() {
        let f = podman();
        let ok = |s: &str, v: &str| holds(&cond(s, v), &f);
        assert!(ok("ConditionCapability", "CAP_NET_BIND_SERVICE"));
        assert!(!ok("ConditionCapability", "CAP_SYS_ADMIN"));
        assert!(ok("AssertCapability", "!CAP_SYS_ADMIN"));
        assert!(ok("ConditionEnvironment", "MODE"));
        assert!(ok("ConditionEnvironment", "MODE=prod"));
        assert!(!ok("ConditionEnvironment", "MODE=dev"));
        assert!(!ok("ConditionEnvironment", "DEBUG"));
        assert!(ok("ConditionKernelCommandLine", "quiet"));
        assert!(ok("ConditionKernelCommandLine", "console"));
        assert!(ok("ConditionKernelCommandLine", "console=ttyS0"));
        assert!(!ok("ConditionKernelCommandLine", "console=tty0"));
        assert!(!ok("ConditionKernelCommandLine", "BOOT"));
        assert!(ok("ConditionArchitecture", "x86-64"));
        assert!(ok("ConditionArchitecture", "native"));
        assert!(!ok("ConditionArchitecture", "arm64"));
        assert!(ok("ConditionHost", "web-*"));
        assert!(ok("ConditionHost", "web-[0-9]"));
        assert!(!ok("ConditionHost", "db-?"));
        assert!(ok("ConditionHost", "01234567-89ab-cdef-0123-456789abcdef"));
        assert!(!ok("ConditionHost", "ffffffffffffffffffffffffffffffff"));
        assert_eq!(architecture("x86_64"), "x86-64");
        assert_eq!(architecture("aarch64"), "arm64");
    }

    #[test]
    fn fnmatch_and_glob() {
        assert!(fnmatch("*.conf", "a.conf"));
        assert!(!fnmatch("*.conf", "a.conf.bak"));
        assert!(fnmatch("[!a]?", "bc"));
        assert!(!fnmatch("[!a]?", "ac"));
        assert!(fnmatch("a\\*", "a*"));
        assert!(!fnmatch("a\\*", "ab"));
        assert!(fnmatch("[", "["));
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("conf.d")).unwrap();
        std::fs::write(d.path().join("conf.d/10-a.conf"), "").unwrap();
        std::fs::write(d.path().join("conf.d/.hidden.conf"), "").unwrap();
        let base = d.path().to_string_lossy();
        assert_eq!(
            glob(&format!("{base}/*.d/*.conf")),
            [d.path().join("conf.d/10-a.conf")]
        );
        assert!(glob(&format!("{base}/conf.d/*.toml")).is_empty());
        let c = cond("ConditionPathExistsGlob", &format!("{base}/conf.d/*.conf"));
        assert!(holds(&c, &Facts::default()));
    }
}
