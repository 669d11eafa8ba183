//! systemd credentials (systemd.exec(5), "Credentials"): `LoadCredential=`
//! and `SetCredential=` are written at each start into
//! `/run/credentials/UNIT.service` (`$CREDENTIALS_DIRECTORY`), owned by
//! the service's user, the files mode 0400 and the directory 0500, and
//! removed when the service stops. `systemd-creds cat ID` (a link to
//! nci-systemd, beside `systemd-notify`) prints one. Encrypted
//! credentials need the host's key or TPM: refused when the units are
//! built.

use anyhow::{anyhow, bail, Context, Result};
use nix::unistd::{chown, Gid, Uid};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the credentials directories are.
pub const BASE: &str = "/run/credentials";

/// Where `LoadCredential=ID` (no path, or a relative one) looks, in
/// systemd's order.
pub const STORES: [&str; 3] = ["/etc/credstore", "/run/credstore", "/usr/lib/credstore"];

/// systemd's limit for one credential.
const MAX_SIZE: u64 = 1024 * 1024;

/// `LoadCredential=ID[:PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub id: String,
    /// Absolute: a file, or a directory whose files are loaded as
    /// `ID_NAME`; relative or absent: a name in the credential stores.
    pub path: Option<String>,
}

/// A credential's name: a file name (no `/`, not `.` or `..`), at most
/// 255 bytes.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && !id.contains('/') && id != "." && id != ".."
}

/// Why a `LoadCredential=` or `SetCredential=` value was refused; each
/// quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredError {
    #[error("'{value}': '{id}' is not a credential name")]
    BadId { value: String, id: String },
    #[error("'{0}' is not ID:VALUE")]
    NotIdValue(String),
    #[error("'{0}' ends with a lone backslash")]
    LoneBackslash(String),
    #[error("'{0}': \\x needs two hex digits")]
    BadHex(String),
    #[error("'{0}': an octal escape needs three digits")]
    BadOctal(String),
    #[error("'{value}': unknown escape \\{escape}")]
    UnknownEscape { value: String, escape: char },
}

fn bad_id(value: &str, id: &str) -> CredError {
    CredError::BadId {
        value: value.to_owned(),
        id: id.to_owned(),
    }
}

/// Parses `ID[:PATH]`.
pub fn parse_load(v: &str) -> Result<Load, CredError> {
    let (id, path) = match v.split_once(':') {
        Some((id, p)) => (id, Some(p.to_string()).filter(|p| !p.is_empty())),
        None => (v, None),
    };
    if !valid_id(id) {
        return Err(bad_id(v, id));
    }
    Ok(Load {
        id: id.to_string(),
        path,
    })
}

/// Parses `ID:VALUE` (VALUE with C escapes, as systemd).
pub fn parse_set(v: &str) -> Result<(String, Vec<u8>), CredError> {
    let Some((id, value)) = v.split_once(':') else {
        return Err(CredError::NotIdValue(v.to_owned()));
    };
    if !valid_id(id) {
        return Err(bad_id(v, id));
    }
    Ok((id.to_string(), unescape(value)?))
}

/// C escapes: `\n \t \r \a \b \f \v \\ \" \' \s \xHH \NNN` (octal).
fn unescape(s: &str) -> Result<Vec<u8>, CredError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b
            .get(i + 1)
            .ok_or_else(|| CredError::LoneBackslash(s.to_owned()))?;
        i += 2;
        out.push(match c {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            b's' => b' ',
            b'\\' | b'"' | b'\'' => c,
            b'x' => {
                let hex = s
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| CredError::BadHex(s.to_owned()))?;
                i += 2;
                hex
            }
            b'0'..=b'7' => {
                let oct = s
                    .get(i - 1..i + 2)
                    .and_then(|o| u8::from_str_radix(o, 8).ok())
                    .ok_or_else(|| CredError::BadOctal(s.to_owned()))?;
                i += 2;
                oct
            }
            other => {
                return Err(CredError::UnknownEscape {
                    value: s.to_owned(),
                    escape: other as char,
                })
            }
        });
    }
    Ok(out)
}

/// The credentials directory of `unit`.
pub fn dir_of(unit: &str) -> PathBuf {
    Path::new(BASE).join(format!("{unit}.service"))
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > MAX_SIZE {
        bail!(
            "{}: {} bytes, more than a credential may hold (1 MiB)",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("{}", path.display()))
}

/// The credentials `load` gives: (id, contents), or an error naming what
/// is missing.
fn load_one(load: &Load) -> Result<Vec<(String, Vec<u8>)>> {
    let name = match &load.path {
        Some(p) if p.starts_with('/') => {
            let path = Path::new(p);
            if !path.is_dir() {
                return Ok(vec![(load.id.clone(), read_limited(path)?)]);
            }
            // Every regular file below, as ID_NAME ('/' as '_').
            let mut found = Vec::new();
            for e in walkdir::WalkDir::new(path)
                .follow_links(false)
                .sort_by_file_name()
            {
                let e = e.with_context(|| p.clone())?;
                if !e.file_type().is_file() {
                    continue;
                }
                let rel = e.path().strip_prefix(path).unwrap_or(e.path());
                let sub = rel.to_string_lossy().replace('/', "_");
                found.push((format!("{}_{sub}", load.id), read_limited(e.path())?));
            }
            return Ok(found);
        }
        Some(rel) => rel.clone(),
        None => load.id.clone(),
    };
    for store in STORES {
        let p = Path::new(store).join(&name);
        if p.is_file() {
            return Ok(vec![(load.id.clone(), read_limited(&p)?)]);
        }
    }
    Err(anyhow!("no credential '{name}' in {}", STORES.join(", ")))
}

/// Writes the unit's credentials into `dir` (made anew), owned by
/// `owner` when given. `set` are the defaults: a `LoadCredential=` of the
/// same id that can be read wins.
pub fn setup(
    dir: &Path,
    loads: &[Load],
    set: &[(String, Vec<u8>)],
    owner: Option<(u32, u32)>,
) -> Result<()> {
    remove(dir);
    let mut creds: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for load in loads {
        match load_one(load) {
            Ok(found) => creds.extend(found),
            Err(e) if set.iter().any(|(id, _)| *id == load.id) => {
                // SetCredential= is the fallback.
                let _ = e;
            }
            Err(e) => {
                let setting = match &load.path {
                    Some(p) => format!("LoadCredential={}:{p}", load.id),
                    None => format!("LoadCredential={}", load.id),
                };
                return Err(e.context(setting));
            }
        }
    }
    for (id, value) in set {
        creds.entry(id.clone()).or_insert_with(|| value.clone());
    }
    let base = Path::new(dir).parent().unwrap_or(Path::new(BASE));
    std::fs::create_dir_all(base).with_context(|| format!("creating {}", base.display()))?;
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let give = |p: &Path, mode: u32| -> Result<()> {
        if let Some((uid, gid)) = owner {
            chown(p, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .with_context(|| format!("chown {}", p.display()))?;
        }
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", p.display()))
    };
    for (id, value) in &creds {
        let p = dir.join(id);
        std::fs::write(&p, value).with_context(|| format!("writing {}", p.display()))?;
        give(&p, 0o400)?;
    }
    give(dir, 0o500)
}

/// Removes a credentials directory (its owner may not be us: made
/// writable first).
pub fn remove(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let _ = std::fs::remove_dir_all(dir);
}

/// `systemd-creds cat ID...` and `systemd-creds list`, in the service.
pub fn main(words: &[String]) -> Result<i32> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let dir = || {
        dir.clone().ok_or_else(|| {
            anyhow!("$CREDENTIALS_DIRECTORY is not set: this service has no credentials (LoadCredential=, SetCredential=)")
        })
    };
    let (verb, args) = words
        .split_first()
        .ok_or_else(|| anyhow!("a verb is needed: cat ID..., list"))?;
    match verb.as_str() {
        "cat" => {
            if args.is_empty() {
                bail!("cat: name the credential(s) to print");
            }
            let dir = dir()?;
            for id in args {
                if !valid_id(id) {
                    bail!("'{id}' is not a credential name");
                }
                let p = dir.join(id);
                let bytes = std::fs::read(&p).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        anyhow!("no credential '{id}' in {}", dir.display())
                    }
                    _ => anyhow!("{}: {e}", p.display()),
                })?;
                nci_core::out::write_all(nci_core::out::Stream::Stdout, &bytes)
                    .context("writing to stdout")?;
            }
            Ok(0)
        }
        "list" => {
            let dir = dir()?;
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .with_context(|| format!("{}", dir.display()))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let text: String = names.iter().map(|n| format!("{n}\n")).collect();
            nci_core::out::write_all(nci_core::out::Stream::Stdout, text.as_bytes())
                .context("writing to stdout")?;
            Ok(0)
        }
        other => bail!("'{other}' is not supported here (cat ID..., list)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_as_systemd_writes_them() {
        assert_eq!(
            parse_load("tls:/etc/ssl/key.pem"),
            Ok(Load {
                id: "tls".into(),
                path: Some("/etc/ssl/key.pem".into())
            })
        );
        assert_eq!(
            parse_load("token"),
            Ok(Load {
                id: "token".into(),
                path: None
            })
        );
        assert_eq!(
            parse_load("a/b:/x").unwrap_err().to_string(),
            "'a/b:/x': 'a/b' is not a credential name"
        );
        assert!(parse_load(":/x").is_err());
        assert_eq!(
            parse_set(r"pw:a\x41\n\\b\101\s"),
            Ok(("pw".into(), b"aA\n\\bA ".to_vec()))
        );
        assert_eq!(parse_set("empty:"), Ok(("empty".into(), vec![])));
        let e = |v: &str| parse_set(v).unwrap_err().to_string();
        assert_eq!(e("novalue"), "'novalue' is not ID:VALUE");
        assert_eq!(e(r"x:\q"), r"'\q': unknown escape \q");
        assert_eq!(e(r"x:a\"), r"'a\' ends with a lone backslash");
        assert_eq!(e(r"x:\x4"), r"'\x4': \x needs two hex digits");
        assert_eq!(e(r"x:\18"), r"'\18': an octal escape needs three digits");
    }

    #[test]
    fn a_directory_gives_one_credential_per_file_and_set_is_the_fallback() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a"), "A").unwrap();
        std::fs::write(src.join("sub/b"), "B").unwrap();
        let dir = t.path().join("run/credentials/u.service");
        let loads = vec![
            Load {
                id: "d".into(),
                path: Some(src.to_string_lossy().into_owned()),
            },
            Load {
                id: "missing".into(),
                path: Some("/nonexistent/x".into()),
            },
        ];
        let set = vec![
            ("missing".to_string(), b"fallback".to_vec()),
            ("plain".to_string(), b"v".to_vec()),
        ];
        setup(&dir, &loads, &set, None).unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
        assert_eq!(read("d_a"), "A");
        assert_eq!(read("d_sub_b"), "B");
        assert_eq!(read("missing"), "fallback");
        assert_eq!(read("plain"), "v");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o500);
        assert_eq!(mode(&dir.join("plain")), 0o400);
        // Without a fallback, a missing file fails naming the setting.
        let e = setup(&dir, &loads[1..], &[], None).unwrap_err();
        assert!(format!("{e:#}").starts_with("LoadCredential=missing:/nonexistent/x: "));
        remove(&dir);
        assert!(!dir.exists());
    }
}
