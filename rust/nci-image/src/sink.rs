//! Where archive bytes go: a file (at its current position, or from a
//! given offset so that several threads can write one file) or a pipe.
//! Small writes are gathered in a buffer; file contents are copied by
//! the kernel (`copy_file_range` into files, `sendfile` into pipes).

use crate::tree::TreeSink;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

/// Files smaller than this go through the write buffer; larger ones are
/// copied by the kernel.
pub const SMALL: u64 = 64 * 1024;
const BUF: usize = 1 << 20;

/// A destination that can take bytes and ranges of files.
pub struct Sink {
    file: File,
    buf: Vec<u8>,
    /// `copy_file_range` works (regular file), else `sendfile`.
    regular: bool,
    kernel_copy: bool,
    written: u64,
    /// Where the next byte goes, for positional writes (several threads
    /// writing one file); `None`: at the file's current position.
    pos: Option<u64>,
}

impl Sink {
    pub fn new(file: File) -> Self {
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        Sink {
            file,
            buf: Vec::with_capacity(BUF),
            regular,
            kernel_copy: true,
            written: 0,
            pos: None,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// A sink writing `file` from `offset` on, without moving its position.
    pub fn at(file: File, offset: u64) -> Self {
        let mut s = Sink::new(file);
        s.pos = Some(offset);
        s
    }

    fn write_raw(&mut self, b: &[u8]) -> Result<()> {
        match &mut self.pos {
            Some(p) => {
                // The caller names the output (assemble::cannot_write).
                std::os::unix::fs::FileExt::write_all_at(&self.file, b, *p)?;
                *p += b.len() as u64;
            }
            None => self.file.write_all(b)?,
        }
        Ok(())
    }

    pub fn bytes(&mut self, b: &[u8]) -> Result<()> {
        if self.buf.len() + b.len() > BUF || b.len() as u64 >= SMALL {
            self.flush()?;
        }
        // Big runs (a rendered layer's) go out without a copy.
        if b.len() as u64 >= SMALL {
            self.write_raw(b)?;
        } else {
            self.buf.extend_from_slice(b);
        }
        self.written += b.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            let r = self.write_raw(&buf);
            self.buf = buf;
            self.buf.clear();
            r?;
        }
        Ok(())
    }

    /// Copies `len` bytes of `src` from `offset`.
    pub fn copy(&mut self, src: &File, offset: u64, len: u64, name: &Path) -> Result<()> {
        if len < SMALL || !self.kernel_copy {
            return self.copy_by_reading(src, offset, len, name);
        }
        self.flush()?;
        let mut off = i64::try_from(offset)?;
        let mut left = len;
        while left > 0 {
            let chunk = usize::try_from(left.min(1 << 30))?;
            let mut out_off = self.pos.map(i64::try_from).transpose()?;
            let r = if self.regular {
                nix::fcntl::copy_file_range(
                    src.as_fd(),
                    Some(&mut off),
                    self.file.as_fd(),
                    out_off.as_mut(),
                    chunk,
                )
            } else {
                nix::sys::sendfile::sendfile64(
                    self.file.as_fd(),
                    src.as_fd(),
                    Some(&mut off),
                    chunk,
                )
            };
            match r {
                Ok(0) => bail!("{}: file shrank while read", name.display()),
                Ok(n) => {
                    left -= n as u64;
                    self.written += n as u64;
                    if let (Some(p), Some(o)) = (&mut self.pos, out_off) {
                        *p = u64::try_from(o)?;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) if left == len => {
                    // No kernel copy between these two (filesystem or
                    // kernel without it): read and write instead.
                    self.kernel_copy = false;
                    return self.copy_by_reading(src, offset, len, name);
                }
                Err(e) => return Err(e).with_context(|| format!("copying {}", name.display())),
            }
        }
        Ok(())
    }

    fn copy_by_reading(&mut self, src: &File, offset: u64, len: u64, name: &Path) -> Result<()> {
        let mut at = offset;
        let mut left = len;
        while left > 0 {
            if self.buf.len() == BUF {
                self.flush()?;
            }
            let start = self.buf.len();
            let want = (BUF - start).min(usize::try_from(left.min(BUF as u64))?);
            self.buf.resize(start + want, 0);
            let n = std::os::unix::fs::FileExt::read_at(src, &mut self.buf[start..], at)
                .with_context(|| name.display().to_string())?;
            at += n as u64;
            self.buf.truncate(start + n);
            if n == 0 {
                bail!("{}: file shrank while read", name.display());
            }
            left -= n as u64;
            self.written += n as u64;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<File> {
        self.flush()?;
        Ok(self.file)
    }
}

impl TreeSink for &mut Sink {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        Sink::bytes(self, b)
    }

    fn content(&mut self, file: File, size: u64, data: Option<&[u8]>, path: &str) -> Result<()> {
        match data {
            Some(d) => Sink::bytes(self, d),
            None => self.copy(&file, 0, size, Path::new(path)),
        }
    }
}
