//! `nci-nixdb`: the Nix builder of the `nix` module's database tree. It
//! turns the image's reference graph into Nix's registration format and
//! has the image's own `nix-store --load-db` write the database under
//! `$out/root/nix/var/nix`, so that Nix inside the container knows every
//! store path of the image as valid, with its references and hash.

mod cli;
mod registration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use nci_core::closure::{Closure, PathInfo};
use nci_core::nix_build::{attrs_file, read_json, Outputs};
use registration::registration;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

/// The structured attributes of the database derivation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuilderAttrs {
    /// `nix-store` of the Nix the image carries.
    nix_store: PathBuf,
    /// Closure of the image's store roots.
    #[serde(default)]
    store_graph: Vec<PathInfo>,
    outputs: Outputs,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            nci_core::errln!(
                "nci-nixdb: error: {}",
                nci_core::rules::readable(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::NixBuilder => {
            let attrs: BuilderAttrs = read_json(&attrs_file())?;
            let closure = Closure::from_infos(attrs.store_graph);
            all_present(&closure, "storeGraph")?;
            load_db(&attrs.nix_store, &closure, &attrs.outputs.out)
        }
        Command::Registration { graph } => {
            let infos: Vec<PathInfo> = read_json(&graph)?;
            let closure = Closure::from_infos(infos);
            all_present(&closure, &graph.display().to_string())?;
            let text = registration(&closure)?;
            nci_core::out::write_all(nci_core::out::Stream::Stdout, text.as_bytes())
                .context("writing the registration to stdout")?;
            Ok(())
        }
    }
}

/// Every path of the graph is in the store: Nix in the image would
/// otherwise take a path the image does not have for valid. `what` names
/// the graph (the attribute or the file).
fn all_present(closure: &Closure, what: &str) -> Result<()> {
    for path in closure.paths.keys() {
        if let Err(e) = std::fs::symlink_metadata(path) {
            bail!(
                "{what}: '{}' cannot be read ({e}): the graph may only name store paths that exist",
                nci_core::rules::quote(path)
            );
        }
    }
    Ok(())
}

/// Runs `nix-store --load-db` with the state directory inside `out`.
fn load_db(nix_store: &Path, closure: &Closure, out: &Path) -> Result<()> {
    let registration = registration(closure)?;
    let state = out.join("root/nix/var/nix");
    for dir in ["db", "gcroots", "profiles", "temproots", "userpool"] {
        std::fs::create_dir_all(state.join(dir))
            .with_context(|| format!("creating {}", state.join(dir).display()))?;
    }
    let mut child = std::process::Command::new(nix_store)
        .arg("--load-db")
        .env("NIX_STATE_DIR", &state)
        .env("NIX_CONF_DIR", out.join("no-conf"))
        .env("HOME", out.join("no-home"))
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", nix_store.display()))?;
    child
        .stdin
        .take()
        .context("nix-store's standard input")?
        .write_all(registration.as_bytes())
        .context("writing the registration to nix-store")?;
    let status = child.wait().context("waiting for nix-store")?;
    if !status.success() {
        bail!("{} --load-db failed ({status})", nix_store.display());
    }
    normalise(&state.join("db/db.sqlite"))?;
    forget_builder_account(&state)?;
    // Nix recreates its 8 MiB `reserved` file (space kept for the garbage
    // collector) when it needs it; the image need not carry it.
    let _ = std::fs::remove_file(state.join("db/reserved"));
    for scratch in ["no-conf", "no-home"] {
        let _ = std::fs::remove_dir_all(out.join(scratch));
    }
    Ok(())
}

/// Removes what `nix-store` made for the account the build ran as:
/// `profiles/per-user/<user>` and `gcroots/per-user/<user>`. The build
/// user is whichever of `nixbld1`, `nixbld2`, ... was free, so keeping
/// them made the output differ between a build alone and one beside other
/// builds (`nix-build --check`: "may not be deterministic"); that account
/// is not one of the image's either. Nix in the container makes its own.
fn forget_builder_account(state: &Path) -> Result<()> {
    for dir in ["profiles/per-user", "gcroots/per-user"] {
        let dir = state.join(dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", dir.display()))?
                .path();
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Makes the database the same bytes on any day: `--load-db` stamps each
/// path with the current time (nixpkgs' dockerTools resets it the same
/// way), then VACUUM rewrites the file in a canonical layout.
fn normalise(db: &Path) -> Result<()> {
    let conn =
        rusqlite::Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.execute_batch(
        "UPDATE ValidPaths SET registrationTime = 1; PRAGMA journal_mode = DELETE; VACUUM;",
    )
    .with_context(|| format!("normalising {}", db.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the build user's name (`nixbld1` alone, `nixbld2`
    /// beside another build) ended up in the output.
    #[test]
    fn the_build_users_per_user_directories_are_not_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path();
        for dir in [
            "profiles/per-user/nixbld2",
            "gcroots/per-user/nixbld2/inner",
            "db",
        ] {
            std::fs::create_dir_all(state.join(dir)).unwrap();
        }
        std::fs::write(state.join("gcroots/per-user/nixbld2/inner/x"), "x").unwrap();
        forget_builder_account(state).unwrap();
        for dir in ["profiles/per-user", "gcroots/per-user"] {
            assert_eq!(
                std::fs::read_dir(state.join(dir)).unwrap().count(),
                0,
                "{dir}"
            );
        }
        assert!(state.join("db").is_dir());
    }

    #[test]
    fn a_state_without_per_user_directories_is_fine() {
        let tmp = tempfile::tempdir().unwrap();
        forget_builder_account(tmp.path()).unwrap();
    }
}
