//! A store layer rendered ahead of writing, on another core: its tar
//! headers, padding and small files' contents in memory, its big files
//! named, for the kernel to copy when the layer is written. The stream's
//! writer then only writes; walking the store, opening and reading the
//! small files (most of a closure's files, and most of the system calls
//! of writing it) happen on the other cores, ahead of it. A layer being
//! hashed is rendered in the same pass, so its small files are read once.
//!
//! What a rendering holds in memory is bounded ([`MEMORY`]): a layer
//! with more is not rendered, and the writer walks it itself as it
//! writes (as [`crate::assemble::write_planned_layer`] does).

use crate::sink::{Sink, SMALL};
use crate::store;
use crate::tree::{hash_exact, Links, TreeSink};
use anyhow::{bail, Context, Result};
use nci_core::hash::{hex, Digest, Sha256};
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

/// At most this many bytes of one layer are kept in memory.
pub const MEMORY: usize = 32 << 20;

/// The memory of renderings written, for the next ones: fresh memory
/// costs the kernel a page fault for each page, which is more than
/// writing the page out costs.
#[derive(Default)]
pub struct Buffers(Mutex<Vec<Vec<u8>>>);

impl Buffers {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut b| b.pop())
            .unwrap_or_default()
    }

    /// Keeps the memory of `r`, which is written.
    pub fn give(&self, r: Rendered) {
        let mut memory = r.memory;
        memory.clear();
        if let Ok(mut b) = self.0.lock() {
            b.push(memory);
        }
    }
}

/// A layer ready to write: the pieces in order.
pub struct Rendered {
    /// The bytes of every [`Piece::Memory`], one after another.
    memory: Vec<u8>,
    pieces: Vec<Piece>,
}

enum Piece {
    /// The next `len` bytes of [`Rendered::memory`].
    Memory(usize),
    /// The whole content of the file at `path`, `size` bytes.
    File { path: String, size: u64 },
}

impl Rendered {
    /// Writes the layer into `sink`; it must be `size` bytes (as
    /// planned, or hashed) and every file as big as when rendered.
    pub fn write(&self, sink: &mut Sink, size: u64, what: &str) -> Result<()> {
        let start = sink.written();
        let mut at = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Memory(len) => {
                    sink.bytes(&self.memory[at..at + len])?;
                    at += len;
                }
                Piece::File { path, size } => {
                    let f = File::open(path).with_context(|| path.clone())?;
                    sink.copy(&f, 0, *size, Path::new(path))?;
                }
            }
        }
        let got = sink.written() - start;
        if got != size {
            bail!("{what}: is {got} bytes, the plan says {size}: a store path changed since the image was planned");
        }
        Ok(())
    }
}

/// Renders the layer of store `paths` with the hard links `links` (as
/// planned or cached); `None` when it holds more than [`MEMORY`].
pub fn planned(
    store_dir: &str,
    paths: &[String],
    links: &Links,
    buffers: &Buffers,
) -> Result<Option<Rendered>> {
    planned_within(MEMORY, store_dir, paths, links, buffers)
}

fn planned_within(
    limit: usize,
    store_dir: &str,
    paths: &[String],
    links: &Links,
    buffers: &Buffers,
) -> Result<Option<Rendered>> {
    let r = Renderer::new(None, buffers.take(), limit);
    Ok(store::planned_layer(r, store_dir, paths, links)?.into_rendered())
}

/// Hashes the layer of store `paths`, deciding its hard links, and
/// renders it in the same pass: (hex digest, size, links, rendering,
/// `None` when it holds more than [`MEMORY`]).
pub fn hashed(
    store_dir: &str,
    paths: &[String],
    buffers: &Buffers,
) -> Result<(String, u64, Links, Option<Rendered>)> {
    hashed_within(MEMORY, store_dir, paths, buffers)
}

fn hashed_within(
    limit: usize,
    store_dir: &str,
    paths: &[String],
    buffers: &Buffers,
) -> Result<(String, u64, Links, Option<Rendered>)> {
    let r = Renderer::new(Some(Sha256::new()), buffers.take(), limit);
    let (mut r, links) = store::store_layer(r, store_dir, paths, &Default::default())?;
    let hasher = r
        .hasher
        .take()
        .context("a layer rendered to hash it has no hash")?;
    Ok((hex(&hasher.finalize()), r.size, links, r.into_rendered()))
}

/// The sink that renders (and, given a hasher, hashes) a layer.
struct Renderer {
    hasher: Option<Sha256>,
    size: u64,
    memory: Vec<u8>,
    pieces: Vec<Piece>,
    /// Bytes added to `memory` since the last piece was closed.
    open: usize,
    /// At most this many bytes in `memory`.
    limit: usize,
    /// More than `limit` was met: nothing more is kept.
    overflow: bool,
    /// For hashing big files.
    buf: Vec<u8>,
}

impl Renderer {
    fn new(hasher: Option<Sha256>, memory: Vec<u8>, limit: usize) -> Self {
        Renderer {
            hasher,
            size: 0,
            memory,
            pieces: Vec::new(),
            open: 0,
            limit,
            overflow: false,
            buf: Vec::new(),
        }
    }

    fn keep(&mut self, b: &[u8]) {
        if self.overflow {
            return;
        }
        if self.memory.len() + b.len() > self.limit {
            self.overflow = true;
            self.memory = Vec::new();
            self.pieces = Vec::new();
            return;
        }
        self.memory.extend_from_slice(b);
        self.open += b.len();
    }

    fn close_memory(&mut self) {
        if self.open > 0 {
            self.pieces.push(Piece::Memory(self.open));
            self.open = 0;
        }
    }

    fn into_rendered(mut self) -> Option<Rendered> {
        self.close_memory();
        (!self.overflow).then_some(Rendered {
            memory: self.memory,
            pieces: self.pieces,
        })
    }
}

impl TreeSink for Renderer {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        if let Some(h) = &mut self.hasher {
            h.update(b);
        }
        self.size += b.len() as u64;
        self.keep(b);
        Ok(())
    }

    fn content(&mut self, file: File, size: u64, data: Option<&[u8]>, path: &str) -> Result<()> {
        if let Some(d) = data {
            return self.bytes(d);
        }
        let len = usize::try_from(size)?;
        if size < SMALL && !self.overflow && self.memory.len() + len <= self.limit {
            // Read once, into the rendering; hashed from there.
            let start = self.memory.len();
            read_appending(&file, &mut self.memory, len, path)?;
            self.open += len;
            if let Some(h) = &mut self.hasher {
                h.update(&self.memory[start..]);
            }
            self.size += size;
            return Ok(());
        }
        if let Some(h) = &mut self.hasher {
            if self.buf.is_empty() {
                self.buf = vec![0; 256 * 1024];
            }
            hash_exact(h, &file, size, &mut self.buf, path)?;
        }
        self.size += size;
        if !self.overflow {
            self.close_memory();
            self.pieces.push(Piece::File {
                path: path.to_owned(),
                size,
            });
        }
        Ok(())
    }
}

/// Appends the `len` bytes of `file` to `memory`, read into its spare
/// capacity (not zeroed first: most of a closure's bytes pass here); a
/// file that ends early, or is seen to be longer, is an error naming
/// `path`.
fn read_appending(file: &File, memory: &mut Vec<u8>, len: usize, path: &str) -> Result<()> {
    let start = memory.len();
    memory.reserve(len);
    while memory.len() - start < len {
        let at = (memory.len() - start) as u64;
        let n = rustix::io::pread(file, rustix::buffer::spare_capacity(memory), at)
            .with_context(|| path.to_owned())?;
        if n == 0 {
            bail!("{path}: file shrank while read");
        }
        if memory.capacity() == memory.len() {
            memory.reserve(1);
        }
    }
    if memory.len() - start > len {
        bail!("{path}: file grew while read");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{tricky_tree, Keep};
    use std::os::unix::fs::PermissionsExt;

    /// What `rendered` writes into a sink.
    fn written(rendered: &Rendered, size: u64) -> Vec<u8> {
        let file = tempfile::tempfile().unwrap();
        let mut sink = Sink::new(file);
        rendered.write(&mut sink, size, "the layer").unwrap();
        let mut file = sink.finish().unwrap();
        let mut out = Vec::new();
        use std::io::{Read, Seek};
        file.rewind().unwrap();
        file.read_to_end(&mut out).unwrap();
        out
    }

    /// Two store paths: the walker's tricky tree, and one whose small
    /// files outweigh a small memory limit.
    fn store() -> (tempfile::TempDir, String, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().to_str().unwrap().to_owned();
        let tricky = tricky_tree(dir.path());
        let many = dir.path().join("abcdfghijklmnpqrsvwxyz0123456789-many");
        std::fs::create_dir(&many).unwrap();
        for i in 0..40 {
            std::fs::write(many.join(format!("f{i:02}")), vec![i as u8; 3000 + i]).unwrap();
        }
        let paths = vec![tricky, many.to_str().unwrap().to_owned()];
        (dir, store, paths)
    }

    fn readable_again(paths: &[String]) {
        let p = Path::new(&paths[0]).join("a/b");
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_hashed_rendering_has_the_walkers_digest_links_and_bytes() {
        let (_dir, store, paths) = store();
        let (keep, links) =
            store::store_layer(Keep::default(), &store, &paths, &Default::default()).unwrap();
        let want = keep.0;
        let buffers = Buffers::default();
        let (digest, size, got_links, rendered) = hashed(&store, &paths, &buffers).unwrap();
        assert_eq!(
            (digest.clone(), size, got_links.clone()),
            store::hash_store_layer(&store, &paths, &Default::default()).unwrap()
        );
        assert_eq!(size, want.len() as u64);
        assert_eq!(got_links, links);
        assert!(
            written(&rendered.unwrap(), size) == want,
            "the hashed rendering differs"
        );
        // Planned: the links applied, the same bytes.
        let planned = planned(&store, &paths, &links, &buffers).unwrap().unwrap();
        assert!(
            written(&planned, size) == want,
            "the planned rendering differs"
        );
        // Its memory is used again.
        buffers.give(planned);
        assert!(buffers.take().capacity() > 0);
        readable_again(&paths);
    }

    #[test]
    fn a_layer_with_more_than_the_limit_is_not_rendered_and_is_still_hashed() {
        let (_dir, store, paths) = store();
        let buffers = Buffers::default();
        let (digest, size, links, rendered) =
            hashed_within(50_000, &store, &paths, &buffers).unwrap();
        assert!(rendered.is_none());
        let (d, s, l) = store::hash_store_layer(&store, &paths, &Default::default()).unwrap();
        assert_eq!((digest, size, links.clone()), (d, s, l));
        assert!(planned_within(50_000, &store, &paths, &links, &buffers)
            .unwrap()
            .is_none());
        // Under the limit, the tricky tree alone is rendered.
        let one = &paths[..1];
        let (_, _, one_links) = store::hash_store_layer(&store, one, &Default::default()).unwrap();
        assert!(planned_within(1_000_000, &store, one, &one_links, &buffers)
            .unwrap()
            .is_some());
        readable_again(&paths);
    }

    #[test]
    fn writing_a_rendering_of_another_size_or_a_file_gone_is_an_error() {
        let (_dir, store, paths) = store();
        let (_, size, _, rendered) = hashed(&store, &paths, &Buffers::default()).unwrap();
        let rendered = rendered.unwrap();
        let mut sink = Sink::new(tempfile::tempfile().unwrap());
        let err = rendered
            .write(&mut sink, size + 512, "/nix/store/x-app")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("/nix/store/x-app: is {size} bytes, the plan says {}: a store path changed since the image was planned", size + 512)
        );
        // The big file of the tricky tree, copied by the kernel when
        // written, is gone.
        let big = Path::new(&paths[0]).join("deep/big1");
        std::fs::remove_file(&big).unwrap();
        let err = rendered
            .write(&mut Sink::new(tempfile::tempfile().unwrap()), size, "l")
            .unwrap_err();
        assert_eq!(err.to_string(), big.display().to_string());
        readable_again(&paths);
    }
}
