//! `nci-etc etc`: the /etc tree of `environment.etc`. Symlink entries
//! link straight to their source (NixOS goes through /etc/static; an
//! image needs no indirection); copied entries are copies with their
//! mode and owner (names looked up in the users tree's /etc/passwd and
//! /etc/group) in the manifest.

use crate::tree::write_at;
use anyhow::Result;
use nci_core::error::Error;
use nci_core::etc_spec::{check, EtcEntry, EtcMode, EtcSpec, Owner};
use nci_core::passwd::{AccountFiles, AccountKind};
use nci_core::problems::{option_path, Problems};
use std::collections::BTreeMap;
use std::path::Path;

/// What the users tree tells the /etc tree.
#[derive(Default)]
pub struct UsersInfo {
    /// Its `/etc/passwd` and `/etc/group`, where owners are looked up.
    accounts: AccountFiles,
    /// Paths below /etc the users tree writes, with who writes them.
    reserved: BTreeMap<String, String>,
}

impl UsersInfo {
    /// Reads a tree written by `nci-etc users`, which always has an
    /// `/etc/passwd` and an `/etc/group`: a missing one is an error.
    pub fn read(tree: &Path) -> Result<Self> {
        let etc = tree.join("root/etc");
        let read = |name: &str| -> Result<String> {
            let p = etc.join(name);
            std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e).into())
        };
        let mut info = UsersInfo {
            accounts: AccountFiles::parse(&read("passwd")?, &read("group")?),
            ..UsersInfo::default()
        };
        for name in ["passwd", "group", "shadow", "subuid", "subgid"] {
            if etc.join(name).exists() {
                info.reserved
                    .insert(name.to_owned(), "users.users and users.groups".to_owned());
            }
        }
        let per_user = etc.join("profiles/per-user");
        if per_user.is_dir() {
            for item in std::fs::read_dir(&per_user).map_err(|e| Error::io(&per_user, e))? {
                let name = item.map_err(|e| Error::io(&per_user, e))?.file_name();
                let name = name.to_string_lossy();
                info.reserved.insert(
                    format!("profiles/per-user/{name}"),
                    option_path("users.users", &name, "packages"),
                );
            }
        }
        Ok(info)
    }
}

/// The id of `environment.etc.<name>.<user or group>`: `+<id>`, or a
/// name of the image's accounts, looked up by name only: the option
/// gives numbers as `+<id>` (as NixOS' does), so `"1000"` is a name
/// there, unlike in `image.runOwners`, where a number is an id.
fn owner_id(
    e: &EtcEntry,
    kind: AccountKind,
    owner: &Owner,
    accounts: &AccountFiles,
) -> Result<u32, Error> {
    match owner {
        Owner::Id(id) => Ok(*id),
        Owner::Name(name) => accounts.id_named(kind, name).ok_or_else(|| {
            Error::invalid(
                option_path("environment.etc", &e.attr, kind.field()),
                kind.not_defined(name),
            )
        }),
    }
}

/// A planned entry with everything read: nothing can fail after this
/// but writing.
enum Ready {
    Link {
        target: String,
        to: String,
    },
    Copy {
        target: String,
        bytes: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

fn prepare(e: &EtcEntry, users: &UsersInfo, spec: &EtcSpec) -> Result<Ready, Vec<Error>> {
    let target = format!("/etc/{}", e.target);
    let source_err =
        |reason: String| Error::invalid(option_path("environment.etc", &e.attr, "source"), reason);
    match e.mode {
        EtcMode::Symlink => {
            if spec.in_store(&e.source) && std::fs::symlink_metadata(&e.source).is_err() {
                return Err(vec![source_err(format!("{} does not exist", e.source))]);
            }
            Ok(Ready::Link {
                target,
                to: e.source.clone(),
            })
        }
        EtcMode::Copy(mode) => {
            let mut errors = Vec::new();
            let uid = owner_id(e, AccountKind::User, &e.user, &users.accounts)
                .map_err(|x| errors.push(x));
            let gid = owner_id(e, AccountKind::Group, &e.group, &users.accounts)
                .map_err(|x| errors.push(x));
            let bytes = match std::fs::metadata(&e.source) {
                Ok(m) if m.is_dir() => Err(source_err(format!(
                    "{} is a directory: only mode = \"symlink\" can put a directory in /etc",
                    e.source
                ))),
                Ok(_) => {
                    std::fs::read(&e.source).map_err(|x| source_err(format!("{}: {x}", e.source)))
                }
                Err(x) => Err(source_err(format!("{}: {x}", e.source))),
            }
            .map_err(|x| errors.push(x));
            match (bytes, uid, gid) {
                (Ok(bytes), Ok(uid), Ok(gid)) => Ok(Ready::Copy {
                    target,
                    bytes,
                    mode,
                    uid,
                    gid,
                }),
                _ => Err(errors),
            }
        }
    }
}

pub fn build(spec: &EtcSpec, users: &UsersInfo, out: &Path, in_place: bool) -> Result<()> {
    let entries = check(spec, &users.reserved)?;
    let mut problems = Vec::new();
    let mut ready = Vec::new();
    for e in &entries {
        match prepare(e, users, spec) {
            Ok(r) => ready.push(r),
            Err(errs) => problems.extend(errs),
        }
    }
    let ready = Problems::or_ok(problems, ready)?;
    write_at(out, in_place, |tree| {
        tree.dir("/etc")?;
        for r in &ready {
            match r {
                Ready::Link { target, to } => tree.symlink(target, to)?,
                Ready::Copy {
                    target,
                    bytes,
                    mode,
                    uid,
                    gid,
                } => {
                    tree.file(target, bytes)?;
                    tree.own(target, *mode, *uid, *gid);
                }
            }
        }
        Ok(())
    })
}
