//! Starting one process of a unit. The runner spawns `nci-systemd exec`
//! (a plain spawn: no code runs between fork and exec), which applies the
//! request in its own process (session, umask, limits, scheduling, streams, working
//! directory, bounding set, groups, user, ambient capabilities,
//! no-new-privileges) and then executes the command, keeping the pid.

use crate::spec::{self, Output};
use anyhow::{anyhow, Context, Result};
use nix::sys::resource::setrlimit;
use nix::unistd::{dup2, setgid, setgroups, setsid, setuid, Gid, Uid};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::os::unix::process::CommandExt;

pub const ENV_VAR: &str = "NCI_SYSTEMD_EXEC";

/// systemd's exit codes for a process that could not be started.
pub const EXIT_CHDIR: i32 = 200;
pub const EXIT_LIMITS: i32 = 205;
pub const EXIT_EXEC: i32 = 203;
pub const EXIT_STDOUT: i32 = 209;
pub const EXIT_GROUP: i32 = 216;
pub const EXIT_USER: i32 = 217;
pub const EXIT_CAPABILITIES: i32 = 218;
pub const EXIT_RUNTIME_DIRECTORY: i32 = 233;
pub const EXIT_CREDENTIALS: i32 = 243;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Stream {
    Inherit,
    Null,
    File {
        path: String,
        append: bool,
        truncate: bool,
    },
}

impl From<&Output> for Stream {
    fn from(o: &Output) -> Self {
        match o {
            Output::Inherit => Stream::Inherit,
            Output::Null => Stream::Null,
            Output::File {
                path,
                append,
                truncate,
            } => Stream::File {
                path: path.clone(),
                append: *append,
                truncate: *truncate,
            },
        }
    }
}

/// What `nci-systemd exec` applies before it executes the command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub unit: String,
    pub exe: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub cwd_optional: bool,
    pub umask: u32,
    /// `None`: keep the runner's credentials.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Vec<u32>,
    pub ambient: Vec<String>,
    pub bounding: Option<Vec<String>>,
    pub no_new_privileges: bool,
    /// (setting, soft, hard); `None` is infinity.
    pub limits: Vec<(String, Option<u64>, Option<u64>)>,
    pub stdin_null: bool,
    pub stdout: Stream,
    pub stderr: Stream,
    /// Nice level, OOM score, IO and CPU scheduling, CPU affinity.
    #[serde(default)]
    pub scheduling: crate::sched::Scheduling,
}

/// Finds the executable: a path, or a name on the request's PATH.
pub fn resolve(exe: &str, env: &[(String, String)]) -> Option<String> {
    if exe.contains('/') {
        return Some(exe.to_string());
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let found = path
        .split(':')
        .chain([
            "/run/wrappers/bin",
            "/bin",
            "/usr/bin",
            "/sbin",
            "/usr/sbin",
        ])
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/{exe}"))
        .find(|p| std::path::Path::new(p).is_file());
    found
}

fn open_stream(s: &Stream, fd: i32, unit: &str) -> Result<(), Refused> {
    use std::os::fd::AsRawFd;
    let file = match s {
        Stream::Inherit => return Ok(()),
        Stream::Null => std::fs::OpenOptions::new()
            .read(fd == 0)
            .write(fd != 0)
            .open("/dev/null"),
        Stream::File {
            path,
            append,
            truncate,
        } => std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(*append)
            .truncate(*truncate)
            .open(path),
    }
    .map_err(|e| {
        Refused::new(
            EXIT_STDOUT,
            unit,
            format!("opening the stream for fd {fd}: {e}"),
        )
    })?;
    dup2(file.as_raw_fd(), fd)
        .map_err(|e| Refused::new(EXIT_STDOUT, unit, format!("redirecting fd {fd}: {e}")))?;
    Ok(())
}

/// Why a process could not be started: systemd's exit code for the step
/// that failed, and the message (naming the unit).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    code: i32,
    message: String,
}

impl Refused {
    fn new(code: i32, unit: &str, what: impl std::fmt::Display) -> Self {
        Refused {
            code,
            message: format!("{unit}: {what}"),
        }
    }
}

/// Applies the request in this process, in systemd's order, and returns
/// the command to execute.
fn prepare(r: &Request) -> Result<std::process::Command, Refused> {
    process_setup(r)?;
    if let Some(bound) = &r.bounding {
        drop_bounding(&r.unit, bound)?;
    }
    let ambient: HashSet<caps::Capability> =
        r.ambient.iter().filter_map(|c| c.parse().ok()).collect();
    switch_user(r, &ambient)?;
    raise_ambient(r, &ambient)?;
    if r.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| {
            Refused::new(EXIT_CAPABILITIES, &r.unit, format!("NoNewPrivileges: {e}"))
        })?;
    }
    command(r)
}

/// Signal mask, session, umask, limits, scheduling and the standard
/// streams.
fn process_setup(r: &Request) -> Result<(), Refused> {
    let u = &r.unit;
    // The runner blocks signals for its signalfd; the service gets none
    // blocked.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    // A session of its own, as systemd gives every service process.
    let _ = setsid();
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(r.umask));
    for (setting, soft, hard) in &r.limits {
        let res = spec::resource(setting)
            .ok_or_else(|| Refused::new(EXIT_LIMITS, u, format!("{setting}: unknown limit")))?;
        let inf = nix::sys::resource::RLIM_INFINITY;
        setrlimit(res, soft.unwrap_or(inf), hard.unwrap_or(inf))
            .map_err(|e| Refused::new(EXIT_LIMITS, u, format!("{setting}: {e}")))?;
    }
    // Before the streams, so that its lines go to the container's log.
    crate::sched::apply(&r.scheduling, &mut |line| {
        nci_core::errln!("nci-systemd: {u}: {line}");
    })
    .map_err(|f| Refused::new(f.code, u, f.message))?;
    if r.stdin_null {
        open_stream(&Stream::Null, 0, u)?;
    }
    open_stream(&r.stdout, 1, u)?;
    open_stream(&r.stderr, 2, u)
}

/// CapabilityBoundingSet=: drops every capability not in `keep`.
fn drop_bounding(u: &str, keep: &[String]) -> Result<(), Refused> {
    let keep: HashSet<caps::Capability> = keep.iter().filter_map(|c| c.parse().ok()).collect();
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(false)
        {
            caps::drop(None, caps::CapSet::Bounding, cap).map_err(|e| {
                Refused::new(
                    EXIT_CAPABILITIES,
                    u,
                    format!("CapabilityBoundingSet: dropping {cap}: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// Groups, group and user; a non-root user keeps `ambient` through the
/// switch.
fn switch_user(r: &Request, ambient: &HashSet<caps::Capability>) -> Result<(), Refused> {
    let u = &r.unit;
    if let Some(gid) = r.gid {
        let groups: Vec<Gid> = r.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups).map_err(|e| {
            Refused::new(
                EXIT_GROUP,
                u,
                format!("setting the supplementary groups: {e}"),
            )
        })?;
        setgid(Gid::from_raw(gid))
            .map_err(|e| Refused::new(EXIT_GROUP, u, format!("setgid({gid}): {e}")))?;
    }
    let Some(uid) = r.uid else {
        return Ok(());
    };
    let keep_caps = uid != 0 && !ambient.is_empty();
    if keep_caps {
        nix::sys::prctl::set_keepcaps(true).map_err(|e| {
            Refused::new(EXIT_CAPABILITIES, u, format!("keeping capabilities: {e}"))
        })?;
    }
    setuid(Uid::from_raw(uid))
        .map_err(|e| Refused::new(EXIT_USER, u, format!("setuid({uid}): {e}")))?;
    if keep_caps {
        let fail = |what: &str, e: caps::errors::CapsError| {
            Refused::new(
                EXIT_CAPABILITIES,
                u,
                format!("AmbientCapabilities: {what}: {e}"),
            )
        };
        caps::set(None, caps::CapSet::Effective, ambient).map_err(|e| fail("effective", e))?;
        caps::set(None, caps::CapSet::Inheritable, ambient).map_err(|e| fail("inheritable", e))?;
        caps::set(None, caps::CapSet::Permitted, ambient).map_err(|e| fail("permitted", e))?;
    }
    Ok(())
}

/// AmbientCapabilities=: raised, unless root keeps them all anyway.
fn raise_ambient(r: &Request, ambient: &HashSet<caps::Capability>) -> Result<(), Refused> {
    if nix::unistd::geteuid().is_root() && r.uid.is_none_or(|u| u == 0) {
        return Ok(()); // root has every capability already
    }
    for cap in ambient {
        caps::raise(None, caps::CapSet::Ambient, *cap).map_err(|e| {
            Refused::new(
                EXIT_CAPABILITIES,
                &r.unit,
                format!("AmbientCapabilities: raising {cap}: {e}"),
            )
        })?;
    }
    Ok(())
}

/// The command: the executable found, argv, environment, working
/// directory.
fn command(r: &Request) -> Result<std::process::Command, Refused> {
    let u = &r.unit;
    let exe = resolve(&r.exe, &r.env)
        .ok_or_else(|| Refused::new(EXIT_EXEC, u, format!("{}: command not found", r.exe)))?;
    let mut cmd = std::process::Command::new(&exe);
    if let Some((first, rest)) = r.argv.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear().envs(r.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = &r.cwd {
        if std::path::Path::new(cwd).is_dir() {
            cmd.current_dir(cwd);
        } else if !r.cwd_optional {
            return Err(Refused::new(
                EXIT_CHDIR,
                u,
                format!("WorkingDirectory {cwd}: no such directory"),
            ));
        }
    }
    Ok(cmd)
}

/// `nci-systemd exec`: never returns on success.
pub fn main() -> i32 {
    let req = match std::env::var(ENV_VAR)
        .map_err(|_| anyhow!("{ENV_VAR} is not set: this is the runner's helper"))
        .and_then(|s| serde_json::from_str::<Request>(&s).context("the exec request"))
    {
        Ok(r) => r,
        Err(e) => {
            nci_core::errln!("nci-systemd exec: {e:#}");
            return 1;
        }
    };
    match prepare(&req) {
        Ok(mut cmd) => {
            let err = cmd.exec();
            nci_core::errln!("nci-systemd: {}: executing {}: {err}", req.unit, req.exe);
            EXIT_EXEC
        }
        Err(refused) => {
            nci_core::errln!("nci-systemd: {}", refused.message);
            refused.code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_on_the_path() {
        let env = vec![("PATH".to_string(), "/nonexistent:/bin".to_string())];
        assert_eq!(resolve("/x/y", &env).as_deref(), Some("/x/y"));
        assert_eq!(resolve("sh", &env).as_deref(), Some("/bin/sh"));
        assert_eq!(resolve("no-such-program-here", &env), None);
    }
}
