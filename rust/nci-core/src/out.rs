//! Lines to stdout and stderr that never panic and are never cut.
//!
//! While services run, the container's log is a pipe shared by every
//! process in it. `println!`/`eprintln!` write a line in pieces (another
//! process's output can land in the middle) and panic when the reader is
//! gone ("failed printing to stdout: Broken pipe"). Here a line is
//! formatted into one buffer first and handed to the kernel in one
//! `write(2)` (a pipe keeps a write of up to `PIPE_BUF`, 4096 bytes,
//! whole); `EINTR` is retried, `EAGAIN` (a descriptor someone made
//! non-blocking) waits until the pipe has room, and any other error, a
//! closed pipe (`EPIPE`) too, is returned to the caller, never a panic.
//! The macros [`outln!`](crate::outln) and [`errln!`](crate::errln) drop
//! that error: a line nobody can read is not a reason to stop.

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};

/// Where a line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Writes all of `bytes` to `fd`, one `write(2)` when the kernel takes
/// it whole; waits (does not fail) when the descriptor is non-blocking
/// and full.
pub fn write_all_fd(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
                match poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes `bytes` to the stream (see [`write_all_fd`]).
pub fn write_all(stream: Stream, bytes: &[u8]) -> io::Result<()> {
    match stream {
        Stream::Stdout => write_all_fd(io::stdout().as_fd(), bytes),
        Stream::Stderr => write_all_fd(io::stderr().as_fd(), bytes),
    }
}

/// The line `args` followed by a newline, as one buffer.
pub fn format_line(args: fmt::Arguments<'_>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(128);
    // Writing into a Vec cannot fail; a Display that fails leaves what it
    // wrote.
    let _ = buf.write_fmt(args);
    buf.push(b'\n');
    buf
}

/// Writes one line in one buffer (see the module's documentation).
pub fn line(stream: Stream, args: fmt::Arguments<'_>) -> io::Result<()> {
    write_all(stream, &format_line(args))
}

/// `println!` that writes the line in one `write(2)` and never panics.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = $crate::out::line($crate::out::Stream::Stdout, format_args!($($arg)*));
    }};
}

/// `eprintln!` that writes the line in one `write(2)` and never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = $crate::out::line($crate::out::Stream::Stderr, format_args!($($arg)*));
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_line_is_one_buffer_with_its_newline() {
        assert_eq!(format_line(format_args!("a {} c", "b")), b"a b c\n");
    }

    #[test]
    fn a_closed_pipe_is_an_error_not_a_panic() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        drop(r);
        let e = write_all_fd(w.as_fd(), b"line\n").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::PIPE.raw_os_error()));
    }

    #[test]
    fn a_full_non_blocking_pipe_waits_for_room() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        rustix::fs::fcntl_setfl(&w, rustix::fs::OFlags::NONBLOCK).unwrap();
        let reader = std::thread::spawn(move || {
            let mut f = std::fs::File::from(r);
            let mut all = Vec::new();
            f.read_to_end(&mut all).unwrap();
            all.len()
        });
        // Four times a pipe's default capacity, in one call.
        let big = vec![b'x'; 256 * 1024];
        write_all_fd(w.as_fd(), &big).unwrap();
        drop(w);
        assert_eq!(reader.join().unwrap(), big.len());
    }
}
