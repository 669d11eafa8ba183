//! systemd-tmpfiles rules (`tmpfiles.d(5)`), applied at container start
//! as `systemd-tmpfiles --create --remove --boot` would: the common
//! types d, D, e, v, q, Q, f, F, w, L, z, Z, r, R, C and x/X (no-ops).
//! Ages are not applied (there is no cleaning timer in an image).

use anyhow::{anyhow, Context, Result};
use nci_core::passwd::AccountFiles;
use nix::unistd::{chown, Gid, Uid};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: char,
    /// `+`: replace (f+, L+, C+, w+ appends).
    pub plus: bool,
    /// `-`: errors are ignored.
    pub ignore_errors: bool,
    pub path: String,
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub argument: Option<String>,
}

/// The types applied (stated in nci-core, which gives the module them).
pub const SUPPORTED: &str = nci_core::rules::TMPFILES_TYPES;

fn field(s: Option<&str>) -> Option<String> {
    s.filter(|v| *v != "-").map(str::to_string)
}

/// Splits a rule's fields (the path may be quoted).
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut chars = line.chars().peekable();
    let mut fields = 0;
    while let Some(c) = chars.next() {
        // The argument (7th field) is the rest of the line.
        if fields == 6 && quote.is_none() && cur.is_empty() && c.is_whitespace() {
            continue;
        }
        if fields == 6 {
            cur.push(c);
            cur.extend(chars.by_ref());
            break;
        }
        match (c, quote) {
            (c, None) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    fields += 1;
                }
            }
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('\\', _) => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (c, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A tmpfiles line that cannot be applied, quoted, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{line}': {kind}")]
pub struct RuleError {
    pub line: String,
    pub kind: RuleErrorKind,
}

/// Why a tmpfiles line cannot be applied (tmpfiles.d(5)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleErrorKind {
    #[error("an empty type")]
    EmptyType,
    #[error("type '{0}' is not supported (supported: {supported})", supported = SUPPORTED)]
    UnsupportedType(char),
    #[error("the modifier '{0}' is not supported")]
    UnsupportedModifier(char),
    #[error("no path")]
    NoPath,
    #[error("the path must be absolute")]
    RelativePath,
    #[error("'{0}' is not an octal mode")]
    BadMode(String),
}

/// Parses one line; `Ok(None)` for blanks and comments.
pub fn parse_line(line: &str) -> Result<Option<Rule>, RuleError> {
    let bad = |kind| RuleError {
        line: line.to_owned(),
        kind,
    };
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let f = split(t);
    let mut chars = f.first().map(String::as_str).unwrap_or("").chars();
    let kind = chars.next().ok_or_else(|| bad(RuleErrorKind::EmptyType))?;
    if !SUPPORTED.contains(kind) {
        return Err(bad(RuleErrorKind::UnsupportedType(kind)));
    }
    let mut plus = kind == 'F';
    let mut ignore_errors = false;
    for m in chars {
        match m {
            '+' => plus = true,
            '-' => ignore_errors = true,
            '!' => {}
            other => return Err(bad(RuleErrorKind::UnsupportedModifier(other))),
        }
    }
    let path = f.get(1).ok_or_else(|| bad(RuleErrorKind::NoPath))?.clone();
    if !path.starts_with('/') && !path.starts_with('%') {
        return Err(bad(RuleErrorKind::RelativePath));
    }
    let mode = match field(f.get(2).map(String::as_str)) {
        None => None,
        Some(m) => {
            let m = m.trim_start_matches(['~', ':']);
            Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|v| *v <= 0o7777)
                    .ok_or_else(|| bad(RuleErrorKind::BadMode(m.to_owned())))?,
            )
        }
    };
    Ok(Some(Rule {
        kind: if kind == 'F' { 'f' } else { kind },
        plus,
        ignore_errors,
        path,
        mode,
        user: field(f.get(3).map(String::as_str)),
        group: field(f.get(4).map(String::as_str)),
        argument: field(f.get(6).map(String::as_str)),
    }))
}

fn expand(path: &str) -> String {
    path.replace("%t", "/run")
        .replace("%S", "/var/lib")
        .replace("%C", "/var/cache")
        .replace("%L", "/var/log")
        .replace("%E", "/etc")
        .replace("%T", "/tmp")
        .replace("%V", "/var/tmp")
        .replace("%h", "/root")
        .replace("%%", "%")
}

pub struct Applier {
    pub accounts: AccountFiles,
    pub root: Option<PathBuf>,
}

impl Applier {
    fn real(&self, p: &str) -> PathBuf {
        match &self.root {
            Some(r) => r.join(p.trim_start_matches('/')),
            None => PathBuf::from(p),
        }
    }

    fn owner(&self, rule: &Rule) -> Result<(Option<u32>, Option<u32>)> {
        let uid = match &rule.user {
            None => None,
            Some(u) => Some(self.accounts.user(u)?.uid),
        };
        let gid = match &rule.group {
            None => None,
            Some(g) => Some(self.accounts.group(g)?.gid),
        };
        Ok((uid, gid))
    }

    fn set_attrs(&self, p: &Path, rule: &Rule, default_mode: u32) -> Result<()> {
        let (uid, gid) = self.owner(rule)?;
        let meta = std::fs::symlink_metadata(p)?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mode = rule.mode.unwrap_or(default_mode);
        if meta.permissions().mode() & 0o7777 != mode {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
        }
        let want_uid = uid.unwrap_or(0);
        let want_gid = gid.unwrap_or(0);
        if meta.uid() != want_uid || meta.gid() != want_gid {
            chown(
                p,
                Some(Uid::from_raw(want_uid)),
                Some(Gid::from_raw(want_gid)),
            )?;
        }
        Ok(())
    }

    /// Applies one rule.
    pub fn apply(&self, rule: &Rule) -> Result<()> {
        let path = expand(&rule.path);
        let p = self.real(&path);
        let exists = std::fs::symlink_metadata(&p).is_ok();
        match rule.kind {
            'd' | 'D' | 'v' | 'q' | 'Q' => {
                if !exists {
                    std::fs::create_dir_all(&p)?;
                } else if rule.kind == 'D' {
                    for e in std::fs::read_dir(&p)? {
                        remove(&e?.path(), true)?;
                    }
                }
                self.set_attrs(&p, rule, 0o755)
            }
            'e' => {
                if exists {
                    self.set_attrs(&p, rule, 0o755)
                } else {
                    Ok(())
                }
            }
            'f' => {
                if !exists || rule.plus {
                    std::fs::write(
                        &p,
                        rule.argument.as_deref().unwrap_or("").replace("\\n", "\n"),
                    )?;
                }
                self.set_attrs(&p, rule, 0o644)
            }
            'w' => {
                if exists {
                    let text = rule
                        .argument
                        .clone()
                        .unwrap_or_default()
                        .replace("\\n", "\n");
                    if rule.plus {
                        use std::io::Write;
                        std::fs::OpenOptions::new()
                            .append(true)
                            .open(&p)?
                            .write_all(text.as_bytes())?;
                    } else {
                        std::fs::write(&p, text)?;
                    }
                }
                Ok(())
            }
            'L' => {
                let target = rule
                    .argument
                    .clone()
                    .ok_or_else(|| anyhow!("L needs a target (the argument)"))?;
                if exists && rule.plus {
                    remove(&p, true)?;
                }
                if !exists || rule.plus {
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::os::unix::fs::symlink(&target, &p)?;
                }
                Ok(())
            }
            'z' => {
                if exists {
                    self.set_attrs(
                        &p,
                        rule,
                        std::fs::metadata(&p)?.permissions().mode() & 0o7777,
                    )
                } else {
                    Ok(())
                }
            }
            'Z' => {
                if exists {
                    for e in walkdir::WalkDir::new(&p) {
                        let e = e?;
                        let current =
                            std::fs::symlink_metadata(e.path())?.permissions().mode() & 0o7777;
                        self.set_attrs(e.path(), rule, current)?;
                    }
                }
                Ok(())
            }
            'r' | 'R' => {
                if exists {
                    remove(&p, rule.kind == 'R')?;
                }
                Ok(())
            }
            'C' => {
                let source = rule
                    .argument
                    .clone()
                    .ok_or_else(|| anyhow!("C needs a source (the argument)"))?;
                if !exists || rule.plus {
                    copy_tree(Path::new(&source), &p)?;
                }
                Ok(())
            }
            _ => Ok(()), // x, X: exclusions from cleaning, nothing to create
        }
    }
}

/// Removes a file or a symlink, or a directory (with `recursive`, its
/// whole tree; without, only an empty one).
fn remove(p: &Path, recursive: bool) -> std::io::Result<()> {
    if p.is_dir() && !p.is_symlink() {
        if recursive {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_dir(p)
        }
    } else {
        std::fs::remove_file(p)
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        for e in walkdir::WalkDir::new(from) {
            let e = e?;
            let rel = e.path().strip_prefix(from)?;
            let dest = to.join(rel);
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&dest)?;
                let mode = e.metadata()?.permissions().mode() | 0o200;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))?;
            } else {
                std::fs::copy(e.path(), &dest)?;
            }
        }
    } else {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

/// `nci-systemd tmpfiles FILES`: applies every rule; an error is printed
/// (naming the path) and the next rule applied, as systemd-tmpfiles does.
/// Fails when a rule failed without its `-` modifier.
pub fn main(etc: &Path, root: Option<PathBuf>, files: &[PathBuf]) -> Result<bool> {
    let applier = Applier {
        accounts: AccountFiles::read(etc)?,
        root,
    };
    let mut ok = true;
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        for (n, line) in text.lines().enumerate() {
            let rule = match parse_line(line) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    nci_core::errln!("nci-systemd tmpfiles: {}:{}: {e}", f.display(), n + 1);
                    ok = false;
                    continue;
                }
            };
            if let Err(e) = applier.apply(&rule) {
                nci_core::errln!("nci-systemd tmpfiles: {}: {e:#}", rule.path);
                if !rule.ignore_errors {
                    ok = false;
                }
            }
        }
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let r = parse_line("d /run/app 0750 nginx nginx - -")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.kind, r.mode, r.user.as_deref()),
            ('d', Some(0o750), Some("nginx"))
        );
        let l = parse_line("L+ /etc/x - - - - /nix/store/abc-x")
            .unwrap()
            .unwrap();
        assert!(l.plus);
        assert_eq!(l.argument.as_deref(), Some("/nix/store/abc-x"));
        let f = parse_line("f /etc/motd 0644 root root - hello world")
            .unwrap()
            .unwrap();
        assert_eq!(f.argument.as_deref(), Some("hello world"));
        assert!(parse_line("# comment").unwrap().is_none());
        let e = |line: &str| parse_line(line).unwrap_err().to_string();
        assert!(
            e("p /run/fifo").starts_with("'p /run/fifo': type 'p' is not supported (supported: ")
        );
        assert_eq!(e("d run/rel"), "'d run/rel': the path must be absolute");
        assert_eq!(e("d /x 999"), "'d /x 999': '999' is not an octal mode");
        assert_eq!(e("d"), "'d': no path");
        assert_eq!(e("d~ /x"), "'d~ /x': the modifier '~' is not supported");
        // Quotes alone make no field: an error naming the rule, no panic.
        assert_eq!(e("''"), "'''': an empty type");
        assert_eq!(e("\"\""), "'\"\"': an empty type");
    }

    #[test]
    fn applies_the_common_types() {
        let dir = tempfile::tempdir().unwrap();
        let a = Applier {
            accounts: AccountFiles::parse("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n"),
            root: Some(dir.path().to_path_buf()),
        };
        let me = nix::unistd::getuid().as_raw();
        let who = if me == 0 { "root" } else { "-" };
        let rules = [
            format!("d /var/lib/app 0700 {who} {who} -"),
            format!("f /var/lib/app/conf 0600 {who} {who} - a=1"),
            "L /var/lib/link - - - - /var/lib/app".to_string(),
            "d /var/lib/gone".to_string(),
            "R /var/lib/gone".to_string(),
        ];
        for r in &rules {
            let rule = parse_line(r).unwrap().unwrap();
            if me != 0 && rule.user.is_none() && rule.kind != 'L' && rule.kind != 'R' {
                // chown to root needs root: skip the owner part off root.
                continue;
            }
            a.apply(&rule).unwrap();
        }
        if me == 0 {
            let d = dir.path().join("var/lib/app");
            assert_eq!(
                std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777,
                0o700
            );
            assert_eq!(std::fs::read_to_string(d.join("conf")).unwrap(), "a=1");
            assert_eq!(
                std::fs::read_link(dir.path().join("var/lib/link")).unwrap(),
                PathBuf::from("/var/lib/app")
            );
        }
        assert!(!dir.path().join("var/lib/gone").exists());
    }

    #[test]
    fn empties_adjusts_writes_and_copies() {
        let dir = tempfile::tempdir().unwrap();
        let a = Applier {
            accounts: AccountFiles::default(),
            root: Some(dir.path().to_path_buf()),
        };
        let root = dir.path();
        std::fs::create_dir_all(root.join("cache/old")).unwrap();
        std::fs::write(root.join("cache/stale"), "x").unwrap();
        std::fs::write(root.join("conf"), "old").unwrap();
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::write(root.join("src/sub/file"), "data").unwrap();
        let me = nix::unistd::getuid().as_raw();
        let owner = if me == 0 { "0" } else { "-" };
        let src = root.join("src").display().to_string();
        for r in [
            format!("D /cache 0700 {owner} {owner} -"),
            format!("z /conf 0600 {owner} {owner} -"),
            "w /conf - - - - new".to_string(),
            "w+ /conf - - - - +more".to_string(),
            "w /missing - - - - ignored".to_string(),
            format!("C /copy - - - - {src}"),
            "e /nonexistent 0700 - - -".to_string(),
        ] {
            let rule = parse_line(&r).unwrap().unwrap();
            if me != 0 && rule.user.is_none() && matches!(rule.kind, 'D' | 'z') {
                continue;
            }
            a.apply(&rule).unwrap_or_else(|e| panic!("{r}: {e:#}"));
        }
        if me == 0 {
            assert_eq!(
                std::fs::read_dir(root.join("cache")).unwrap().count(),
                0,
                "D empties"
            );
            assert_eq!(
                std::fs::metadata(root.join("conf"))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o7777,
                0o600
            );
        }
        assert_eq!(
            std::fs::read_to_string(root.join("conf")).unwrap(),
            "new+more"
        );
        assert!(!root.join("missing").exists(), "w creates nothing");
        assert_eq!(
            std::fs::read_to_string(root.join("copy/sub/file")).unwrap(),
            "data"
        );
        assert!(!root.join("nonexistent").exists(), "e creates nothing");
    }

    #[test]
    fn r_removes_files_and_empty_directories_only_capital_r_trees() {
        let dir = tempfile::tempdir().unwrap();
        let a = Applier {
            accounts: AccountFiles::default(),
            root: Some(dir.path().to_path_buf()),
        };
        let root = dir.path();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::create_dir_all(root.join("full/sub")).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        let apply = |r: &str| a.apply(&parse_line(r).unwrap().unwrap());
        apply("r /empty").unwrap();
        apply("r /file").unwrap();
        apply("r /absent").unwrap();
        assert!(apply("r /full").is_err(), "r removed a non-empty directory");
        assert!(root.join("full/sub").is_dir());
        apply("R /full").unwrap();
        for gone in ["empty", "file", "full"] {
            assert!(!root.join(gone).exists(), "{gone} is still there");
        }
    }
}
