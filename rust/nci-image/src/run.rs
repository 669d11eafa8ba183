//! `image.run`: shell commands run at build time on the image root, as
//! the unprivileged build user (no VM, no root, no fakeroot). The root
//! they see holds everything of the customisation layer (the generated
//! trees, the profile, the symlinks, `/tmp`); what they leave there is the
//! customisation layer. The output is a tree (`root/` + `manifest.json`)
//! like the users and etc trees: modes as the commands left them (even
//! those the store cannot keep, such as setuid or 1777), owners from the
//! trees, root for new files, and `image.runOwners` on top, the way
//! `chown` inside dockerTools' fakeRootCommands would set them.

use crate::customisation;
use anyhow::{bail, Context, Result};
use nci_core::fs_walk::{walk, Modes};
use nci_core::passwd::{AccountFiles, AccountKind};
use nci_core::problems::option_path;
use nci_core::tar::Kind;
use nci_core::tree_manifest::{Ownership, TreeManifest, VERSION};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One `image.runOwners` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerRule {
    /// Absolute path in the image.
    pub path: String,
    /// A user name of the image's /etc/passwd, or a uid.
    pub user: Option<String>,
    /// A group name of the image's /etc/group, or a gid.
    pub group: Option<String>,
    /// Octal permission bits (`"4755"`): modes the build user cannot set
    /// itself (Nix forbids setuid and setgid bits in builds).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub recursive: bool,
}

/// What the run derivation is given.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSpec {
    /// `image.run`.
    pub commands: String,
    /// The shell (`${pkgs.bash}/bin/bash`).
    pub shell: String,
    /// PATH for the commands.
    pub path: String,
    #[serde(default)]
    pub root_trees: Vec<String>,
    #[serde(default)]
    pub profile: Vec<String>,
    /// `environment.pathsToLink`: the package subpaths the profile links.
    #[serde(default = "nci_core::profile::default_paths")]
    pub profile_paths: Vec<String>,
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
    #[serde(default)]
    pub owners: Vec<OwnerRule>,
}

struct Initial {
    /// The mode put on disk (writable by the build user).
    on_disk: u32,
    /// The mode the entry has in the image.
    mode: u32,
    uid: u64,
    gid: u64,
}

/// Builds the run tree in `out` (which must not exist).
pub fn run(spec: &RunSpec, out: &Path) -> Result<()> {
    let root = out.join("root");
    std::fs::create_dir_all(&root).with_context(|| root.display().to_string())?;
    let initial = materialise(spec, &root)?;

    let home = std::env::temp_dir().join("nci-run-home");
    std::fs::create_dir_all(&home)?;
    let status = Command::new(&spec.shell)
        .args([
            "--noprofile",
            "--norc",
            "-e",
            "-o",
            "pipefail",
            "-c",
            &spec.commands,
        ])
        .current_dir(&root)
        .env_clear()
        .env("PATH", &spec.path)
        .env("HOME", &home)
        .env("TMPDIR", std::env::temp_dir())
        .env("SOURCE_DATE_EPOCH", "1")
        .status()
        .with_context(|| format!("image.run: cannot start the shell {}", spec.shell))?;
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exit status {c}"),
            None => "a signal".to_owned(),
        };
        bail!("image.run: the commands failed with {how} (their output is above)");
    }

    let accounts = AccountFiles::read(&root.join("etc"))?;
    let mut entries: BTreeMap<String, Ownership> = BTreeMap::new();
    for e in walk(&root, "", Modes::AsOnDisk)? {
        let (mode, uid, gid) = match initial.get(&e.path) {
            Some(i) if i.on_disk == e.mode => (i.mode, i.uid, i.gid),
            Some(i) => (e.mode, i.uid, i.gid),
            None => (e.mode, 0, 0),
        };
        let mode = if matches!(e.kind, Kind::Symlink { .. }) {
            0o777
        } else {
            mode
        };
        entries.insert(
            e.path.clone(),
            Ownership {
                path: format!("/{}", e.path),
                mode: format!("{mode:04o}"),
                uid: u32::try_from(uid).unwrap_or(u32::MAX),
                gid: u32::try_from(gid).unwrap_or(u32::MAX),
            },
        );
    }
    for rule in &spec.owners {
        let key = rule
            .path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_owned();
        if !rule.path.starts_with('/') || !entries.contains_key(&key) {
            bail!(
                "image.runOwners.\"{}\": no such path in the image root after image.run",
                rule.path
            );
        }
        let uid = rule
            .user
            .as_deref()
            .map(|u| owner_id(&accounts, &rule.path, AccountKind::User, u))
            .transpose()?;
        let gid = rule
            .group
            .as_deref()
            .map(|g| owner_id(&accounts, &rule.path, AccountKind::Group, g))
            .transpose()?;
        let mode = match &rule.mode {
            Some(m) => Some(nci_core::tree_manifest::parse_mode(m).with_context(|| {
                format!(
                    "image.runOwners.\"{}\".mode: '{m}' is not 3 or 4 octal digits",
                    rule.path
                )
            })?),
            None => None,
        };
        let prefix = format!("{key}/");
        for (path, o) in entries.iter_mut() {
            if *path == key || (rule.recursive && path.starts_with(&prefix)) {
                if let Some(u) = uid {
                    o.uid = u;
                }
                if let Some(g) = gid {
                    o.gid = g;
                }
                if let Some(m) = mode {
                    o.mode = format!("{m:04o}");
                }
            }
        }
    }
    let manifest = TreeManifest {
        version: VERSION,
        entries: entries.into_values().collect(),
    };
    std::fs::write(out.join("manifest.json"), serde_json::to_vec(&manifest)?)?;
    Ok(())
}

/// Puts the customisation layer's content into `root`, writable by the
/// build user, and remembers every entry's mode and owner.
fn materialise(spec: &RunSpec, root: &Path) -> Result<BTreeMap<String, Initial>> {
    let entries = customisation::build(
        &spec.root_trees,
        &spec.profile,
        &spec.profile_paths,
        &spec.symlinks,
    )?;
    let mut initial = BTreeMap::new();
    for e in entries {
        let dest: PathBuf = root.join(&e.path);
        let on_disk = match &e.kind {
            Kind::Directory => {
                std::fs::create_dir_all(&dest).with_context(|| dest.display().to_string())?;
                let m = e.mode | 0o700;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(m))?;
                m
            }
            Kind::File { source, .. } => {
                std::fs::copy(source, &dest)
                    .with_context(|| format!("copying {} into the run root", source.display()))?;
                let m = e.mode | 0o600;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(m))?;
                m
            }
            Kind::Symlink { target } => {
                symlink(target, &dest).with_context(|| dest.display().to_string())?;
                0o777
            }
            Kind::HardLink { target } => {
                std::fs::hard_link(root.join(target), &dest)
                    .with_context(|| dest.display().to_string())?;
                std::fs::symlink_metadata(&dest)?.mode() & 0o7777
            }
            Kind::Bytes(b) => {
                std::fs::write(&dest, b)?;
                let m = e.mode | 0o600;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(m))?;
                m
            }
        };
        initial.insert(
            e.path.clone(),
            Initial {
                on_disk,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
            },
        );
    }
    Ok(initial)
}

/// The id of `image.runOwners.<path>.<user or group>`: a number, or a
/// name of the image's `/etc/passwd` or `/etc/group` (empty when the
/// image has none).
fn owner_id(accounts: &AccountFiles, path: &str, kind: AccountKind, name: &str) -> Result<u32> {
    accounts.owner_id(kind, name).map_err(|why| {
        anyhow::anyhow!(
            "{}: {why}",
            option_path("image.runOwners", path, kind.field())
        )
    })
}
