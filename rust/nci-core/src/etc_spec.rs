//! The /etc spec (contract version 1), written by `modules/etc.nix` from
//! `environment.etc` and read by `nci-etc etc`. [`plan`] checks every
//! entry and the entries against each other: two entries for one path,
//! a file where another entry needs a directory, a target that is
//! absolute or climbs out of /etc with `..`: each an error naming both
//! entries (or the one).

use crate::error::Error;
use crate::problems::{option_path, Problems};
use crate::tree_manifest::parse_mode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcSpec {
    /// Contract version; must be [`VERSION`].
    pub version: u32,
    /// `builtins.storeDir`: copied entries must come from there.
    #[serde(default = "default_store_dir")]
    pub store_dir: String,
    /// The enabled `environment.etc` entries, by attribute name.
    #[serde(default)]
    pub entries: BTreeMap<String, EtcEntrySpec>,
}

fn default_store_dir() -> String {
    crate::STORE_DIR.into()
}

impl EtcSpec {
    /// Whether `path` is below the Nix store ([`EtcSpec::store_dir`]).
    pub fn in_store(&self, path: &str) -> bool {
        path.strip_prefix(self.store_dir.trim_end_matches('/'))
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// `environment.etc.<attr>`, as NixOS defines it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcEntrySpec {
    /// Path relative to /etc.
    pub target: String,
    /// What the entry links to or copies (for `text`, the file the module
    /// wrote it to).
    pub source: String,
    /// `symlink` (or NixOS' `direct-symlink`), or an octal mode: copied.
    #[serde(default = "symlink")]
    pub mode: String,
    /// Owner of a copied file: a user name, or `+<uid>`.
    #[serde(default = "root_id")]
    pub user: String,
    /// Group of a copied file: a group name, or `+<gid>`.
    #[serde(default = "root_id")]
    pub group: String,
}

/// `environment.etc.<name>.mode`'s default: a symlink to the source.
pub const DEFAULT_MODE: &str = "symlink";
/// `environment.etc.<name>.uid` and `.gid`'s default (root): `user` and
/// `group` default to it as `+<id>`.
pub const DEFAULT_OWNER_ID: u32 = 0;

fn symlink() -> String {
    DEFAULT_MODE.into()
}

fn root_id() -> String {
    format!("+{DEFAULT_OWNER_ID}")
}

/// The document `nix/etc-defaults.json` holds: the defaults of
/// `environment.etc.<name>.*` that `modules/etc.nix` gives its options
/// and `nci-etc` gives a field a spec leaves out.
pub fn defaults_json() -> serde_json::Value {
    serde_json::json!({
        "comment": "Generated from rust/nci-core/src/etc_spec.rs: do not edit; NCI_UPDATE_GOLDEN=1 cargo test -p nci-core etc_defaults",
        "entry": {
            "mode": DEFAULT_MODE,
            "uid": DEFAULT_OWNER_ID,
            "gid": DEFAULT_OWNER_ID,
        },
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcMode {
    /// `/etc/<target>` is a symlink to the source.
    Symlink,
    /// `/etc/<target>` is a copy of the source with these permission bits.
    Copy(u32),
}

/// An owner as NixOS writes it: `+<id>` or a name looked up in the
/// image's `/etc/passwd` or `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Id(u32),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcEntry {
    /// The attribute name, for messages.
    pub attr: String,
    /// Normalised path below /etc (`ssl/certs/ca.crt`).
    pub target: String,
    pub source: String,
    pub mode: EtcMode,
    pub user: Owner,
    pub group: Owner,
}

impl EtcEntry {
    /// `environment.etc."<attr>"`, for messages.
    pub fn option(&self) -> String {
        option_path("environment.etc", &self.attr, "")
    }
}

/// The components of a path, without the empty and `.` ones: `a//./b/`
/// is `a`, `b`, as the image writer names the path.
pub fn path_components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect()
}

/// Normalises a target (drops empty and `.` components) or says why it
/// is not one.
pub fn normalise_target(target: &str) -> Result<String, String> {
    if target.starts_with('/') {
        return Err(format!(
            "{target:?} is absolute; targets are relative to /etc"
        ));
    }
    let parts = path_components(target);
    if parts.contains(&"..") {
        return Err(format!("{target:?} contains '..', which could escape /etc"));
    }
    if parts.is_empty() {
        return Err(format!("{target:?} names /etc itself, not a file in it"));
    }
    unwritable(target)?;
    Ok(parts.join("/"))
}

/// Linux' limits on a path an image holds: no NUL byte, 255 bytes a
/// name, 4095 in all (such a path would fail while the tree is written,
/// naming a temporary file instead of the option).
pub fn unwritable(path: &str) -> Result<(), String> {
    if path.contains('\0') {
        return Err(format!(
            "{:?} contains a NUL byte, which no file name can hold",
            crate::rules::quote(path)
        ));
    }
    if path.len() > 4095 {
        return Err(format!(
            "{:?} is longer than a path may be (4095 bytes)",
            crate::rules::quote(path)
        ));
    }
    match path_components(path).into_iter().find(|c| c.len() > 255) {
        Some(c) => Err(format!(
            "{:?} has a name longer than 255 bytes ({:?})",
            crate::rules::quote(path),
            crate::rules::quote(c)
        )),
        None => Ok(()),
    }
}

fn parse_owner(value: &str) -> Result<Owner, String> {
    match value.strip_prefix('+') {
        Some(id) => id
            .parse::<u32>()
            .ok()
            .filter(|id| *id != u32::MAX)
            .map(Owner::Id)
            .ok_or_else(|| format!("{value:?} is neither a name nor +<number>")),
        None if value.is_empty() || value.contains(':') || value.contains('\n') => {
            Err(format!("{value:?} is neither a name nor +<number>"))
        }
        None => Ok(Owner::Name(value.to_owned())),
    }
}

/// True when `a` is `b` or a directory above it (component-wise).
fn is_prefix(a: &str, b: &str) -> bool {
    b == a || (b.starts_with(a) && b.as_bytes().get(a.len()) == Some(&b'/'))
}

/// Checks the spec. `reserved` maps paths below /etc that another
/// generated tree writes (`passwd`, ...) to a description of who writes
/// them; an entry that collides with one is an error too.
pub fn check(
    spec: &EtcSpec,
    reserved: &BTreeMap<String, String>,
) -> Result<Vec<EtcEntry>, Problems> {
    if spec.version != VERSION {
        let e = Error::unsupported_version("etc", spec.version, VERSION, "nci-etc");
        return Err(Problems(vec![e]));
    }
    let mut problems = Vec::new();
    if let Err(e) = crate::rules::absolute_path().require("storeDir", &spec.store_dir) {
        return Err(Problems(vec![e]));
    }
    let mut entries: Vec<EtcEntry> = Vec::new();
    for (attr, e) in &spec.entries {
        let opt = |field: &str| option_path("environment.etc", attr, field);
        let mut bad =
            |field: &str, reason: String| problems.push(Error::invalid(opt(field), reason));
        let target = normalise_target(&e.target).map_err(|r| bad("target", r));
        let mode = match e.mode.as_str() {
            "symlink" | "direct-symlink" => Ok(EtcMode::Symlink),
            m => parse_mode(m).map(EtcMode::Copy).ok_or_else(|| {
                bad(
                    "mode",
                    format!("{m:?} is neither \"symlink\" nor an octal mode such as \"0644\""),
                )
            }),
        };
        if !e.source.starts_with('/') {
            bad("source", format!("{:?} is not an absolute path", e.source));
        } else if matches!(mode, Ok(EtcMode::Copy(_))) && !spec.in_store(&e.source) {
            bad(
                "source",
                format!(
                    "{} is outside the Nix store, so it cannot be copied at build time (mode = \"symlink\" links to it instead; the store is storeDir {})",
                    crate::rules::quote(&e.source),
                    crate::rules::quote(&spec.store_dir)
                ),
            );
        }
        let user = parse_owner(&e.user).map_err(|r| bad("user", r));
        let group = parse_owner(&e.group).map_err(|r| bad("group", r));
        if let (Ok(target), Ok(mode), Ok(user), Ok(group)) = (target, mode, user, group) {
            entries.push(EtcEntry {
                attr: attr.clone(),
                target,
                source: e.source.clone(),
                mode,
                user,
                group,
            });
        }
    }

    // Conflicts, in target order so that each is reported once.
    entries.sort_by(|a, b| (&a.target, &a.attr).cmp(&(&b.target, &b.attr)));
    let mut kept: Vec<EtcEntry> = Vec::new();
    for e in entries {
        let same = |k: &EtcEntry| {
            k.source == e.source && k.mode == e.mode && k.user == e.user && k.group == e.group
        };
        match kept.iter().find(|k| is_prefix(&k.target, &e.target)) {
            // NixOS accepts a duplicate that says the same thing.
            Some(k) if k.target == e.target && same(k) => continue,
            Some(k) if k.target == e.target => problems.push(Error::Conflict {
                path: format!("/etc/{}", e.target),
                first: k.option(),
                second: e.option(),
            }),
            Some(k) => problems.push(Error::invalid(
                e.option(),
                format!(
                    "/etc/{} needs /etc/{} to be a directory, but {} puts a file there",
                    e.target,
                    k.target,
                    k.option()
                ),
            )),
            None => {}
        }
        if let Some((path, who)) = reserved
            .iter()
            .find(|(r, _)| is_prefix(&e.target, r) || is_prefix(r, &e.target))
        {
            problems.push(Error::Conflict {
                path: format!("/etc/{path}"),
                first: who.clone(),
                second: e.option(),
            });
        }
        kept.push(e);
    }
    Problems::or_ok(problems, kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `modules/etc.nix` takes its options' defaults from this file; the
    /// L3 test `etc entries evaluate to nixos semantics` checks what the
    /// module made of them.
    #[test]
    fn nix_etc_defaults_json_is_generated_from_this_file() {
        crate::generated::assert_nix_file_is(
            "etc-defaults.json",
            &defaults_json(),
            "etc_spec.rs",
            "etc_defaults",
        );
    }

    /// An entry written by hand with only its target and source is a
    /// symlink owned by root, as the module's defaults make it.
    #[test]
    fn fields_left_out_take_the_defaults_the_module_reads() {
        let e: EtcEntrySpec =
            serde_json::from_str(r#"{"target": "a", "source": "/nix/store/x-a"}"#).unwrap();
        let d = defaults_json();
        assert_eq!(e.mode, d["entry"]["mode"].as_str().unwrap());
        assert_eq!(e.user, format!("+{}", d["entry"]["uid"]));
        assert_eq!(e.group, format!("+{}", d["entry"]["gid"]));
        assert_eq!((e.mode.as_str(), e.user.as_str()), ("symlink", "+0"));
    }

    fn entry(target: &str, source: &str, mode: &str) -> EtcEntrySpec {
        EtcEntrySpec {
            target: target.into(),
            source: source.into(),
            mode: mode.into(),
            user: "+0".into(),
            group: "+0".into(),
        }
    }

    fn spec(entries: &[(&str, EtcEntrySpec)]) -> EtcSpec {
        EtcSpec {
            version: VERSION,
            store_dir: "/nix/store".into(),
            entries: entries
                .iter()
                .map(|(a, e)| (a.to_string(), e.clone()))
                .collect(),
        }
    }

    fn errors(s: &EtcSpec) -> String {
        check(s, &BTreeMap::new()).unwrap_err().to_string()
    }

    #[test]
    fn in_store_means_below_the_store_directory() {
        let mut s = spec(&[]);
        for store_dir in ["/nix/store", "/nix/store/"] {
            s.store_dir = store_dir.into();
            assert!(s.in_store("/nix/store/abc-x"));
            assert!(!s.in_store("/nix/store"));
            assert!(!s.in_store("/nix/storeroom/x"));
            assert!(!s.in_store("/run/x"));
        }
    }

    #[test]
    fn targets_normalise_and_reject_escapes() {
        assert_eq!(normalise_target("a//./b").unwrap(), "a/b");
        assert!(normalise_target("/etc/x")
            .unwrap_err()
            .contains("is absolute"));
        assert!(normalise_target("a/../../x").unwrap_err().contains("'..'"));
        assert!(normalise_target("./")
            .unwrap_err()
            .contains("names /etc itself"));
    }

    #[test]
    fn modes_and_owners_parse() {
        let mut e = entry("motd", "/nix/store/abc-motd", "0600");
        e.user = "alice".into();
        e.group = "+100".into();
        let p = check(&spec(&[("motd", e)]), &BTreeMap::new()).unwrap();
        assert_eq!(p[0].mode, EtcMode::Copy(0o600));
        assert_eq!(p[0].user, Owner::Name("alice".into()));
        assert_eq!(p[0].group, Owner::Id(100));
        let d = check(
            &spec(&[("x", entry("x", "/run/x", "direct-symlink"))]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(d[0].mode, EtcMode::Symlink);
    }

    #[test]
    fn two_entries_for_one_target_name_both() {
        let s = spec(&[
            ("a", entry("foo.conf", "/nix/store/a-foo", "symlink")),
            ("b", entry("./foo.conf", "/nix/store/b-foo", "symlink")),
        ]);
        assert_eq!(
            errors(&s),
            "/etc/foo.conf: conflict between environment.etc.a and environment.etc.b"
        );
    }

    #[test]
    fn identical_duplicates_are_accepted() {
        let s = spec(&[
            ("a", entry("foo.conf", "/nix/store/a-foo", "symlink")),
            ("b", entry("foo.conf", "/nix/store/a-foo", "symlink")),
        ]);
        assert_eq!(check(&s, &BTreeMap::new()).unwrap().len(), 1);
    }

    #[test]
    fn a_file_where_a_directory_is_needed_names_both() {
        let s = spec(&[
            ("ssl", entry("ssl", "/nix/store/a-ssl", "0644")),
            (
                "cert",
                entry("ssl/certs/ca.crt", "/nix/store/b-ca", "symlink"),
            ),
        ]);
        assert_eq!(
            errors(&s),
            "environment.etc.cert: /etc/ssl/certs/ca.crt needs /etc/ssl to be a directory, but environment.etc.ssl puts a file there"
        );
    }

    #[test]
    fn escaping_and_absolute_targets_name_the_entry() {
        let s = spec(&[
            ("up", entry("../shadow", "/nix/store/a-x", "symlink")),
            ("abs", entry("/etc/x", "/nix/store/a-x", "symlink")),
        ]);
        assert_eq!(
            errors(&s),
            "2 problems:\n\
             - environment.etc.abs.target: \"/etc/x\" is absolute; targets are relative to /etc\n\
             - environment.etc.up.target: \"../shadow\" contains '..', which could escape /etc"
        );
    }

    #[test]
    fn bad_mode_owner_and_impure_copy_are_errors() {
        let mut e = entry("x", "/home/me/x", "rw");
        e.user = "+nope".into();
        let mut c = entry("y", "/home/me/y", "0644");
        c.group = "a:b".into();
        let err = errors(&spec(&[("x", e), ("y", c)]));
        assert!(
            err.contains("environment.etc.x.mode: \"rw\" is neither \"symlink\" nor an octal mode"),
            "{err}"
        );
        assert!(
            err.contains("environment.etc.x.user: \"+nope\" is neither a name nor +<number>"),
            "{err}"
        );
        assert!(
            err.contains("environment.etc.y.source: /home/me/y is outside the Nix store"),
            "{err}"
        );
        assert!(err.contains("environment.etc.y.group: \"a:b\""), "{err}");
    }

    #[test]
    fn reserved_paths_conflict_both_ways() {
        let reserved: BTreeMap<String, String> = [
            ("passwd".to_string(), "users.users".to_string()),
            (
                "profiles/per-user/alice/bin".to_string(),
                "users.users.alice.packages".to_string(),
            ),
        ]
        .into();
        let s = spec(&[
            ("passwd", entry("passwd", "/nix/store/a-p", "symlink")),
            (
                "prof",
                entry("profiles/per-user/alice", "/nix/store/a-p", "symlink"),
            ),
            (
                "ok",
                entry("profiles/per-user/bob", "/nix/store/a-p", "symlink"),
            ),
        ]);
        assert_eq!(
            check(&s, &reserved).unwrap_err().to_string(),
            "2 problems:\n\
             - /etc/passwd: conflict between users.users and environment.etc.passwd\n\
             - /etc/profiles/per-user/alice/bin: conflict between users.users.alice.packages and environment.etc.prof"
        );
    }
}
