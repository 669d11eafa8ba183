//! s6-supervise's `supervise/status` file (35 bytes, s6 2.11): when the
//! service started, its pid, and flags (finishing, wanted up, ready).
//! Read to wait for readiness and to tell a wanted stop from a failure.

use std::path::Path;

pub const SIZE: usize = 35;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The service's pid while it runs (or `finish`'s while finishing).
    pub pid: u64,
    pub finishing: bool,
    pub want_up: bool,
    pub ready: bool,
}

impl Status {
    /// Big-endian pid at 24, flags at 34: paused, finishing, want up,
    /// ready (bits 0 to 3).
    pub fn parse(bytes: &[u8]) -> Option<Status> {
        if bytes.len() < SIZE {
            return None;
        }
        let mut pid = [0u8; 8];
        pid.copy_from_slice(&bytes[24..32]);
        let flags = bytes[34];
        Some(Status {
            pid: u64::from_be_bytes(pid),
            finishing: flags & 2 != 0,
            want_up: flags & 4 != 0,
            ready: flags & 8 != 0,
        })
    }

    /// The status of the service directory `dir`, if s6-supervise wrote one.
    pub fn read(dir: &Path) -> Option<Status> {
        Status::parse(&std::fs::read(dir.join("supervise/status")).ok()?)
    }

    /// Running and, for a service that notifies, ready.
    pub fn is_ready(&self) -> bool {
        self.pid != 0 && !self.finishing && self.ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pid_and_flags() {
        let mut b = [0u8; SIZE];
        b[24..32].copy_from_slice(&4242u64.to_be_bytes());
        b[34] = 4 | 8;
        let s = Status::parse(&b).unwrap();
        assert_eq!(
            (s.pid, s.finishing, s.want_up, s.ready),
            (4242, false, true, true)
        );
        assert!(s.is_ready());
        b[34] = 2;
        let s = Status::parse(&b).unwrap();
        assert!(s.finishing && !s.want_up && !s.is_ready());
        assert_eq!(Status::parse(&b[..10]), None);
    }
}
