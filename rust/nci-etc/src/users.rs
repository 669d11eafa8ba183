//! `nci-etc users`: the users tree of an image. `/etc/passwd`,
//! `/etc/group`, `/etc/shadow` (0640 root:shadow, or 0600 root:root when
//! there is no `shadow` group), `/etc/subuid` and `/etc/subgid` when some
//! user has ranges, the home directories with `createHome` (owned by their
//! user, mode `homeMode`), `/root` (0700), `/home`, `/var/empty` (0555) as
//! NixOS' activation creates them, and `/etc/profiles/per-user/<name>`
//! for users with `packages`.

use crate::crypt::hash_password;
use crate::profile;
use crate::tree::{write_at, Tree};
use anyhow::Result;
use nci_core::error::Error;
use nci_core::passwd::{GroupEntry, PasswdEntry};
use nci_core::problems::{option_path, Problems};
use nci_core::users_spec::{allocate, AllocatedAccounts, Password, User, UsersSpec};
use std::fmt::Write as _;
use std::path::Path;

/// The files' contents, computed (and checked) before anything is written.
struct Files {
    passwd: String,
    group: String,
    shadow: String,
    subuid: String,
    subgid: String,
    /// `/etc/shadow`'s group: the `shadow` group's gid, if there is one.
    shadow_gid: Option<u32>,
}

pub fn build(spec: &UsersSpec, out: &Path, in_place: bool) -> Result<()> {
    let accounts = allocate(spec)?;
    let files = render(&accounts)?;
    write_at(out, in_place, |tree| write(tree, &accounts, &files))
}

fn shadow_field(user: &User) -> Result<String, Error> {
    let field = |reason: String| {
        Error::invalid(
            option_path("users.users", &user.attr, "hashedPasswordFile"),
            reason,
        )
    };
    Ok(match &user.password {
        Password::Locked => "!".to_owned(),
        Password::Hash(h) => h.clone(),
        Password::Clear(p) => hash_password(&user.name, p).map_err(|e| {
            Error::invalid(
                option_path("users.users", &user.attr, "password"),
                format!("{e:#}"),
            )
        })?,
        Password::HashFile(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| field(format!("{path}: {e}")))?;
            let hash = text.strip_suffix('\n').unwrap_or(&text);
            if hash.contains('\n') || hash.contains(':') {
                return Err(field(format!(
                    "{path} must hold one line, the hash, without ':' (it is a field of /etc/shadow)"
                )));
            }
            hash.to_owned()
        }
    })
}

fn render(a: &AllocatedAccounts) -> Result<Files, Problems> {
    let mut problems = Vec::new();
    let mut files = Files {
        passwd: String::new(),
        group: String::new(),
        shadow: String::new(),
        subuid: String::new(),
        subgid: String::new(),
        shadow_gid: a.groups.iter().find(|g| g.name == "shadow").map(|g| g.gid),
    };
    for u in &a.users {
        let entry = PasswdEntry {
            name: u.name.clone(),
            uid: u.uid,
            gid: u.gid,
            gecos: u.description.clone(),
            home: u.home.clone(),
            shell: u.shell.clone(),
        };
        files.passwd.push_str(&entry.line());
        files.passwd.push('\n');
        match shadow_field(u) {
            // NixOS' fields: last change on day 1, no ageing, no expiry.
            Ok(pw) => {
                let _ = writeln!(files.shadow, "{}:{pw}:1::::::", u.name);
            }
            Err(e) => problems.push(e),
        }
        for (start, count) in &u.sub_uids {
            let _ = writeln!(files.subuid, "{}:{start}:{count}", u.name);
        }
        for (start, count) in &u.sub_gids {
            let _ = writeln!(files.subgid, "{}:{start}:{count}", u.name);
        }
    }
    for g in &a.groups {
        let entry = GroupEntry {
            name: g.name.clone(),
            gid: g.gid,
            members: g.members.clone(),
        };
        files.group.push_str(&entry.line());
        files.group.push('\n');
    }
    Problems::or_ok(problems, files)
}

fn write(tree: &mut Tree, a: &AllocatedAccounts, files: &Files) -> Result<()> {
    tree.file("/etc/passwd", files.passwd.as_bytes())?;
    tree.file("/etc/group", files.group.as_bytes())?;
    tree.file("/etc/shadow", files.shadow.as_bytes())?;
    match files.shadow_gid {
        Some(gid) => tree.own("/etc/shadow", 0o640, 0, gid),
        None => tree.own("/etc/shadow", 0o600, 0, 0),
    }
    if !files.subuid.is_empty() {
        tree.file("/etc/subuid", files.subuid.as_bytes())?;
    }
    if !files.subgid.is_empty() {
        tree.file("/etc/subgid", files.subgid.as_bytes())?;
    }
    // What NixOS' activation script creates whatever the users are.
    tree.dir("/home")?;
    tree.dir("/var/empty")?;
    tree.own("/var/empty", 0o555, 0, 0);
    if a.users.iter().any(|u| u.uid == 0 && u.home == "/root") {
        tree.dir("/root")?;
        tree.own("/root", 0o700, 0, 0);
    }
    for u in &a.users {
        if let Some(mode) = u.create_home {
            tree.dir(&u.home)?;
            tree.own(&u.home, mode, u.uid, u.gid);
        }
        if !u.packages.is_empty() {
            profile::link(
                tree,
                &format!("/etc/profiles/per-user/{}", u.name),
                &u.packages,
                &nci_core::problems::option_path("users.users", &u.attr, "packages"),
            )?;
        }
    }
    Ok(())
}
