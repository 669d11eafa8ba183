//! The Nix builder steps: `units` validates every unit spec of an image
//! and writes them with the tmpfiles rules; `job-script` writes a
//! NixOS-style job script (`set -e` then the text).

use crate::spec::{Unit, UnitSpec};
use crate::tmpfiles;
use anyhow::{anyhow, bail, Context, Result};
use nci_core::nix_build::Outputs;
use nci_core::problems::Problems;
use nci_core::systemd_spec::{unit_option, VERSION};
use nci_core::Error;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnitsAttrs {
    outputs: Outputs,
    version: u32,
    #[serde(default)]
    units: BTreeMap<String, UnitSpec>,
    #[serde(default)]
    tmpfiles: Vec<String>,
    /// s6's scan directory (`s6.stateDir`) and its `s6-svc`, for
    /// `bin/systemctl`.
    #[serde(default)]
    s6_state_dir: Option<String>,
    #[serde(default)]
    s6_svc: Option<String>,
}

#[derive(Deserialize)]
struct ScriptAttrs {
    outputs: Outputs,
    shell: String,
    text: String,
}

pub fn run(step: &str) -> Result<()> {
    let attrs_path = nci_core::nix_build::attrs_file();
    // A value of the wrong shape is named by its field (`units.nginx.
    // serviceConfig.User: invalid type ...`), not by the temporary file.
    let attrs: serde_json::Value = nci_core::nix_build::read_json(&attrs_path)?;
    match step {
        "units" => {
            let a: UnitsAttrs = nci_core::nix_build::from_value(attrs, "")?;
            let scan_dir = a
                .s6_state_dir
                .as_deref()
                .unwrap_or(nci_core::init_spec::DEFAULT_STATE_DIR);
            let svc = a.s6_svc.as_deref().unwrap_or("s6-svc");
            write_units(
                &a.outputs.out,
                a.version,
                &a.units,
                &a.tmpfiles,
                scan_dir,
                svc,
            )
        }
        "job-script" => {
            let a: ScriptAttrs = nci_core::nix_build::from_value(attrs, "")?;
            write_script(&a.outputs.out, &a.shell, &a.text)
        }
        other => bail!("unknown builder step '{other}' (units, job-script)"),
    }
}

/// Validates every unit and rule (every problem reported together) and
/// writes `units/<name>.json`, `tmpfiles.conf`, `bin/systemd-notify`,
/// `bin/systemd-creds` and `bin/systemctl` (which knows s6's scan
/// directory, `scan_dir`, and its `s6-svc`).
pub fn write_units(
    out: &Path,
    version: u32,
    units: &BTreeMap<String, UnitSpec>,
    rules: &[String],
    scan_dir: &str,
    s6_svc: &str,
) -> Result<()> {
    check(version, units, rules)?;
    std::fs::create_dir_all(out.join("units")).context("creating the output")?;
    for (name, spec) in units {
        let json = serde_json::to_string_pretty(spec)?;
        std::fs::write(out.join("units").join(format!("{name}.json")), json + "\n")?;
    }
    std::fs::write(
        out.join("tmpfiles.conf"),
        rules.iter().map(|r| format!("{r}\n")).collect::<String>(),
    )?;
    std::fs::create_dir_all(out.join("bin"))?;
    let me = std::env::current_exe().map_err(|e| anyhow!("finding nci-systemd: {e}"))?;
    for name in ["systemd-notify", "systemd-creds"] {
        std::os::unix::fs::symlink(&me, out.join("bin").join(name))
            .with_context(|| format!("linking {name}"))?;
    }
    // A script, not a link: it passes the scan directory (/bin/sh is in
    // every image with services).
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let systemctl = out.join("bin").join("systemctl");
    std::fs::write(
        &systemctl,
        format!(
            "#!/bin/sh\nexec {} systemctl --scan-dir {} --s6-svc {} \"$@\"\n",
            quote(&me.to_string_lossy()),
            quote(scan_dir),
            quote(s6_svc)
        ),
    )
    .context("writing bin/systemctl")?;
    std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Every problem of the units and the tmpfiles rules.
fn check(
    version: u32,
    units: &BTreeMap<String, UnitSpec>,
    rules: &[String],
) -> Result<(), Problems> {
    if version != VERSION {
        return Err(Problems(vec![Error::invalid(
            "systemd.services",
            format!("units spec version {version} is not supported (expected {VERSION})"),
        )]));
    }
    let mut problems = Vec::new();
    for (name, spec) in units {
        if &spec.name != name {
            problems.push(Error::invalid(
                unit_option(name, "", ""),
                format!("the spec is named '{}'", spec.name),
            ));
        }
        if let Err(Problems(unit)) = Unit::from_spec(spec) {
            problems.extend(unit);
        }
    }
    for (i, rule) in rules.iter().enumerate() {
        if let Err(e) = tmpfiles::parse_line(rule) {
            problems.push(Error::invalid(
                format!("systemd.tmpfiles.rules (rule {})", i + 1),
                e.to_string(),
            ));
        }
    }
    Problems::or_ok(problems, ())
}

pub fn write_script(out: &Path, shell: &str, text: &str) -> Result<()> {
    let body = format!("#!{shell}\nset -e\n{text}\n");
    std::fs::write(out, body).with_context(|| format!("writing {}", out.display()))?;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o555))?;
    Ok(())
}
