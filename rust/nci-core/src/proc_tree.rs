//! The process tree below a process, read from /proc: the one scan that
//! nci-init (signalling everything it started) and nci-systemd (what of a
//! service still runs) share.
//!
//! Zombies (state `Z`: ended, waiting for their parent's `wait`) are
//! counted or not as the caller says, because the two uses differ:
//!
//! - **Signalling** ([`Zombies::Count`], nci-init): a signal to a true
//!   zombie does nothing, but a process whose main thread ended while
//!   other threads run also shows `Z`, and a signal to its pid still
//!   reaches those threads; counting zombies misses nobody.
//! - **"What still runs"** ([`Zombies::Skip`], nci-systemd): a zombie has
//!   ended. It is either the runner's own child (the runner reaps it next)
//!   or the child of a live descendant (which is counted itself). Counting
//!   it would make the runner wait TimeoutStopSec= for a service that is
//!   gone, and could take a forking daemon's exited intermediate process
//!   for the main process.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

/// Whether ended processes not yet reaped (zombies) count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zombies {
    Count,
    Skip,
}

/// One line of `/proc/<pid>/stat`, the fields we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ppid: i32,
    /// State `Z` (zombie) or `X` (dead).
    pub ended: bool,
}

/// The state and ppid fields of `/proc/<pid>/stat`: after the
/// parenthesised command name, which may itself hold spaces and
/// parentheses.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat {
        ppid,
        ended: matches!(state, "Z" | "X"),
    })
}

/// Every process below `root` (not `root` itself), from the /proc at
/// `proc` (normally `/proc`).
pub fn descendants_in(proc: &Path, root: i32, zombies: Zombies) -> io::Result<BTreeSet<i32>> {
    // (parent, child) pairs, searched in full for each parent: a few
    // hundred processes at most, and no map's code in nci-init.
    let mut children: Vec<(i32, i32)> = Vec::new();
    for entry in std::fs::read_dir(proc)? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // Processes may end while we read: skip what is gone.
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(stat) = parse_stat(&text) else {
            continue;
        };
        if stat.ended && zombies == Zombies::Skip {
            continue;
        }
        children.push((stat.ppid, pid));
    }
    let mut found = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &(_, c) in children.iter().filter(|(parent, _)| *parent == p) {
            if found.insert(c) {
                todo.push(c);
            }
        }
    }
    Ok(found)
}

/// Every process below `root` (see [`descendants_in`]).
pub fn descendants(root: i32, zombies: Zombies) -> io::Result<BTreeSet<i32>> {
    descendants_in(Path::new("/proc"), root, zombies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    #[test]
    fn state_and_ppid_are_read_after_the_command_name() {
        assert_eq!(
            parse_stat("42 (a) b) S 7 42 42 0"),
            Some(Stat {
                ppid: 7,
                ended: false
            })
        );
        assert_eq!(
            parse_stat("9 (x (y)) Z 1 9 9"),
            Some(Stat {
                ppid: 1,
                ended: true
            })
        );
        assert_eq!(parse_stat("1 (init) S"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn the_tree_is_followed_below_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let proc = |pid: i32, state: &str, ppid: i32| {
            let d = dir.path().join(pid.to_string());
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("stat"), format!("{pid} (p) {state} {ppid} 0 0")).unwrap();
        };
        // 10 -> 11 -> 12 (zombie), 10 -> 13; 20 is another tree.
        proc(10, "S", 1);
        proc(11, "S", 10);
        proc(12, "Z", 11);
        proc(13, "R", 10);
        proc(20, "S", 1);
        std::fs::create_dir(dir.path().join("self")).unwrap();
        let count = descendants_in(dir.path(), 10, Zombies::Count).unwrap();
        let skip = descendants_in(dir.path(), 10, Zombies::Skip).unwrap();
        assert_eq!(count.into_iter().collect::<Vec<_>>(), [11, 12, 13]);
        assert_eq!(skip.into_iter().collect::<Vec<_>>(), [11, 13]);
    }

    /// L2: real processes. A shell (a child of this test) starts `sleep`
    /// and a `true` it never waits for: the `true` becomes a zombie below
    /// the shell, which is counted or skipped as asked.
    #[test]
    fn l2_a_real_tree_with_a_zombie() {
        let me = std::process::id() as i32;
        // `exec sleep` keeps the pid of the shell, which never reaps the
        // `true` it started before: a zombie below a live process.
        let mut shell = Command::new("/bin/sh")
            .args(["-c", "true & exec sleep 30"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = shell.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let zombie = loop {
            let ended = descendants(pid, Zombies::Count)
                .unwrap()
                .into_iter()
                .find(|c| {
                    std::fs::read_to_string(format!("/proc/{c}/stat"))
                        .ok()
                        .and_then(|s| parse_stat(&s))
                        .is_some_and(|s| s.ended)
                });
            if let Some(z) = ended {
                break z;
            }
            assert!(Instant::now() < deadline, "no zombie below {pid}");
            std::thread::sleep(Duration::from_millis(5));
        };
        // The zombie stays until its parent (sleep) ends.
        let count = descendants(me, Zombies::Count).unwrap();
        let skip = descendants(me, Zombies::Skip).unwrap();
        let _ = shell.kill();
        let _ = shell.wait();
        assert!(count.contains(&pid) && count.contains(&zombie), "{count:?}");
        assert!(skip.contains(&pid), "the live shell counts");
        assert!(!skip.contains(&zombie), "the zombie {zombie} is skipped");
    }
}
