//! Build time: turns a validated init spec into the init file, the
//! services directory (one s6 service directory per long-run, a data
//! directory per service) and the image tree. The same spec gives the same
//! bytes.

use anyhow::{bail, Context, Result};
use nci_core::init_layout::{names, shebang, BootSpec, LongRunRef, ServiceRuntime, BOOT_VERSION};
use nci_core::init_spec::{split_command, stop_signal, InitSpec, ServiceType, StartOrder};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where the outputs go.
pub struct Outputs<'a> {
    /// The init file.
    pub init: &'a Path,
    pub services: &'a Path,
    /// The tree copied into the image root (`root/run`).
    pub tree: Option<&'a Path>,
}

/// Validates `spec` and writes every output; on error nothing is left.
pub fn generate(spec: &InitSpec, out: &Outputs) -> Result<StartOrder> {
    let order = spec.validate()?;
    let result = write_all(spec, &order, out);
    if result.is_err() {
        let _ = fs::remove_file(out.init);
        let _ = fs::remove_dir_all(out.services);
        if let Some(t) = out.tree {
            let _ = fs::remove_dir_all(t);
        }
    }
    result.map(|()| order)
}

fn write_all(spec: &InitSpec, order: &StartOrder, out: &Outputs) -> Result<()> {
    // Generated files name the services directory by absolute path.
    let services_abs = if out.services.is_absolute() {
        out.services.to_owned()
    } else {
        std::env::current_dir()
            .context("current directory")?
            .join(out.services)
    };
    let services = services_abs
        .to_str()
        .context("the services output path is not UTF-8")?;
    if out.services.exists() {
        bail!("{}: already exists", out.services.display());
    }
    mkdir(out.services)?;

    let readiness = |name: &str| spec.services[name].notification_fd.is_some();
    let long_run: Vec<LongRunRef> = order
        .long_run
        .iter()
        .map(|n| LongRunRef {
            name: n.clone(),
            readiness: readiness(n),
        })
        .collect();

    let svscan = out.services.join(names::SVSCAN);
    mkdir(&svscan)?;
    for hook in names::SVSCAN_HOOKS {
        let command = match hook {
            "finish" | "crash" => "svscan-finish",
            _ => "svscan-signal",
        };
        write_exec(&svscan.join(hook), &shebang(&spec.nci_init, command))?;
    }

    for (name, s) in spec.enabled() {
        let dir = out.services.join(name);
        let data = dir.join(names::DATA);
        mkdir(&dir)?;
        mkdir(&data)?;
        // `shell -e <file>`, the file written in the data directory.
        let shell_script = |file: &str, text: &str| -> Result<Vec<String>> {
            write_file(&data.join(file), text)?;
            Ok(vec![
                spec.shell.clone(),
                "-e".into(),
                format!("{services}/{name}/{}/{file}", names::DATA),
            ])
        };
        let argv = if s.script.trim().is_empty() {
            split_command(&s.exec_start).map_err(anyhow::Error::msg)?
        } else {
            shell_script(names::SCRIPT, &s.script)?
        };
        let pre_start = if s.pre_start.trim().is_empty() {
            None
        } else {
            Some(shell_script(names::PRE_START, &s.pre_start)?)
        };
        let logger = match &s.exec_logger {
            Some(l) => Some(split_command(l).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let (signal, _) = stop_signal(&s.stop_signal).context("stop signal")?;
        let runtime = ServiceRuntime {
            name: name.clone(),
            kind: s.kind,
            nci_init: spec.nci_init.clone(),
            argv,
            pre_start,
            environment: s.environment.clone(),
            path: s
                .path
                .iter()
                .flat_map(|p| [format!("{p}/bin"), format!("{p}/sbin")])
                .collect(),
            user: s.user.clone(),
            group: s.group.clone(),
            working_directory: s.working_directory.clone(),
            restart_on_failure: s.restart_on_failure,
            restart_delay: s.restart_delay,
            restart_delay_max: s.restart_delay_max,
            restart_limit: s.restart_limit,
            restart_limit_interval: s.restart_limit_interval,
            after: s
                .after
                .iter()
                .filter(|d| spec.services[d.as_str()].kind == ServiceType::LongRun)
                .map(|d| LongRunRef {
                    name: d.clone(),
                    readiness: readiness(d),
                })
                .collect(),
            logger,
            notification_fd: s.notification_fd,
            stop_signal: signal.to_owned(),
            stop_timeout: s.stop_timeout,
            exit_code_from: spec.exit_code_from.as_deref() == Some(name.as_str()),
            capabilities: s.capabilities.clone(),
        };
        write_file(&data.join(names::SERVICE), &runtime.to_lines())?;

        if s.kind == ServiceType::LongRun {
            write_exec(&dir.join("run"), &shebang(&spec.nci_init, "run"))?;
            write_exec(&dir.join("finish"), &shebang(&spec.nci_init, "finish"))?;
            if let Some(fd) = s.notification_fd {
                write_file(&dir.join("notification-fd"), &format!("{fd}\n"))?;
            }
            write_file(&dir.join("timeout-kill"), &format!("{}\n", s.stop_timeout))?;
            // `finish` decides quickly; the restart delay is spent in `run`.
            write_file(&dir.join("timeout-finish"), "5000\n")?;
            write_file(&dir.join("down-signal"), &format!("SIG{signal}\n"))?;
            if runtime.logger.is_some() {
                mkdir(&dir.join("log"))?;
                write_exec(&dir.join("log/run"), &shebang(&spec.nci_init, "log"))?;
            }
        }
    }

    let boot = BootSpec {
        version: BOOT_VERSION,
        nci_init: spec.nci_init.clone(),
        s6_bin: spec.s6_bin.clone(),
        services: services.to_owned(),
        state_dir: spec.state_dir.clone(),
        grace_time: spec.grace_time,
        exit_code_from: spec.exit_code_from.clone(),
        oneshot_pre: order.oneshot_pre.clone(),
        long_run,
        oneshot_post: order.oneshot_post.clone(),
    };
    let text = shebang(&spec.nci_init, "boot") + &boot.to_lines();
    write_exec(out.init, &text)?;

    if let Some(tree) = out.tree {
        // The default state directory's parent, for runtimes that do not
        // mount a tmpfs on /run.
        mkdir(tree)?;
        mkdir(&tree.join("root"))?;
        mkdir(&tree.join("root/run"))?;
    }
    Ok(())
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir(p).with_context(|| format!("{}: cannot create", p.display()))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("{}: cannot set its mode", p.display()))
}

fn write_file(p: &Path, text: &str) -> Result<()> {
    fs::write(p, text).with_context(|| format!("{}: cannot write", p.display()))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o644))
        .with_context(|| format!("{}: cannot set its mode", p.display()))
}

fn write_exec(p: &Path, text: &str) -> Result<()> {
    write_file(p, text)?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("{}: cannot set its mode", p.display()))
}
