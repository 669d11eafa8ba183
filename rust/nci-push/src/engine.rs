//! `copy-to-podman` / `copy-to-docker-daemon`: the image, written by
//! `nci-image stream` as a docker-archive into a pipe, read by the
//! engine's `load` (`podman load`, `docker load`). No archive is written
//! to disk; the engine names the image by the reference the archive
//! carries (`image.name:tag`).

use crate::{read_script, AnyScript};
use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The engines a script may name.
const ENGINES: &[&str] = &["podman", "docker"];

/// `program` found in the directories of `path` (a `PATH` value).
pub fn find_on_path(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .find(|f| {
            f.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

pub fn load(file: &Path) -> Result<()> {
    let AnyScript::Image(script) = read_script(file)? else {
        bail!(
            "{}: an index's script; load one architecture's image instead",
            file.display()
        );
    };
    let Some(engine) = script.engine.as_deref() else {
        bail!("{}: names no engine to load into", file.display());
    };
    if !ENGINES.contains(&engine) {
        bail!(
            "{}: the engine '{engine}' is not one of {}",
            file.display(),
            ENGINES.join(", ")
        );
    }
    let path = std::env::var_os("PATH");
    let Some(program) = find_on_path(engine, path.as_deref()) else {
        bail!(
            "{engine} is not installed (not found on PATH: {}); install it, or use copyToRegistry or the image's docker-archive",
            path.as_deref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
    };
    let mut writer = Command::new(&script.image_tool)
        .arg("stream")
        .arg(&script.plan)
        .arg("--reference")
        .arg(&script.reference)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("{}: cannot run", script.image_tool.display()))?;
    let Some(stream) = writer.stdout.take() else {
        bail!("{}: no pipe", script.image_tool.display());
    };
    let loaded = Command::new(&program)
        .arg("load")
        .stdin(Stdio::from(stream))
        .status();
    let loaded = match loaded {
        Ok(status) => status,
        Err(e) => {
            let _ = writer.kill();
            let _ = writer.wait();
            return Err(e).with_context(|| format!("{}: cannot run", program.display()));
        }
    };
    // The engine's failure first: the writer fails when the engine
    // stops reading.
    let written = writer.wait().context("waiting for the image writer")?;
    if !loaded.success() {
        bail!(
            "`{} load` failed ({loaded}); nothing was loaded",
            program.display()
        );
    }
    if !written.success() {
        bail!(
            "the image writer ({} stream) failed ({written})",
            script.image_tool.display()
        );
    }
    nci_core::errln!(
        "{}: loaded {} into {engine}",
        crate::program_name(file),
        script.reference
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_path_executable_and_absolute_only() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("podman");
        std::fs::write(&exe, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::join_paths(["relative", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(find_on_path("podman", Some(&path)), None, "not executable");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_on_path("podman", Some(&path)), Some(exe));
        assert_eq!(find_on_path("docker", Some(&path)), None);
        assert_eq!(find_on_path("podman", None), None);
    }
}
