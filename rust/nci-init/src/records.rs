//! The files through which the init's processes (stage 1, the stage 2
//! helper, `finish` scripts, s6-svscan hooks, stage 3) agree on why and
//! how the container stops: `.nci-init/stop`, `failure`, `exit-code`.

use crate::layout::{names, State};
use crate::sys::Ended;
use nix::fcntl::OFlag;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;

/// Writes `text` to a new file; `false` when it already exists (someone
/// else was first).
fn write_first(path: &std::path::Path, text: &str) -> io::Result<bool> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Why the container is stopping, if it is.
pub fn stopping(state: &State) -> Option<String> {
    fs::read_to_string(state.ours(names::STOP))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Records why the container stops (the first reason wins) and tells
/// s6-svscan, if it runs, to stop every service. Returns whether this
/// call was the first.
pub fn request_stop(state: &State, reason: &str) -> io::Result<bool> {
    let first = write_first(&state.ours(names::STOP), &format!("{reason}\n"))?;
    if first {
        tell_svscan(state, b"t")?;
    }
    Ok(first)
}

/// Writes a command to s6-svscan's control fifo; nothing when no
/// s6-svscan reads it.
pub fn tell_svscan(state: &State, command: &[u8]) -> io::Result<()> {
    let fifo = state.control();
    match OpenOptions::new()
        .write(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(&fifo)
    {
        Ok(mut f) => f.write_all(command),
        // ENXIO: no reader; ENOENT: s6-svscan has not started.
        Err(e) if matches!(e.raw_os_error(), Some(6) | Some(2)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Records the first failure: `<service> <code> <description>`.
pub fn record_failure(state: &State, service: &str, ended: Ended) -> io::Result<()> {
    write_first(
        &state.ours(names::FAILURE),
        &format!("{service} {} {}\n", ended.code(), ended.describe()),
    )
    .map(|_| ())
}

/// Records the exit code of `s6.exitCodeFrom` (the last one wins).
pub fn record_exit_code(state: &State, code: i32) -> io::Result<()> {
    fs::write(state.ours(names::EXIT_CODE), format!("{code}\n"))
}

/// The first failure, as `(service, code)`.
pub fn failure(state: &State) -> Option<(String, i32)> {
    let text = fs::read_to_string(state.ours(names::FAILURE)).ok()?;
    let mut words = text.split_whitespace();
    let name = words.next()?.to_owned();
    let code = words.next()?.parse().ok()?;
    Some((name, code))
}

pub fn exit_code_record(state: &State) -> Option<i32> {
    fs::read_to_string(state.ours(names::EXIT_CODE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The container's exit code: `s6.exitCodeFrom`'s when it ended, else the
/// first failure's, else 0 (stopped on request).
pub fn policy_exit_code(main: Option<i32>, failure: Option<i32>) -> i32 {
    main.or(failure).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, State) {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join(names::STATE)).unwrap();
        let s = State::new(d.path());
        (d, s)
    }

    #[test]
    fn the_first_stop_reason_and_failure_win() {
        let (_d, s) = state();
        assert!(request_stop(&s, "service 'a' failed").unwrap());
        assert!(!request_stop(&s, "received SIGTERM").unwrap());
        assert_eq!(stopping(&s).as_deref(), Some("service 'a' failed"));
        record_failure(&s, "a", Ended::Exited(3)).unwrap();
        record_failure(&s, "b", Ended::Signaled(9)).unwrap();
        assert_eq!(failure(&s), Some(("a".into(), 3)));
    }

    #[test]
    fn exit_code_policy() {
        assert_eq!(policy_exit_code(None, None), 0);
        assert_eq!(policy_exit_code(None, Some(3)), 3);
        assert_eq!(policy_exit_code(Some(0), Some(3)), 0);
        let (_d, s) = state();
        record_exit_code(&s, 7).unwrap();
        record_exit_code(&s, 143).unwrap();
        assert_eq!(exit_code_record(&s), Some(143));
    }
}
