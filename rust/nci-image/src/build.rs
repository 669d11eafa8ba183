//! A docker-archive planned and written in one pass over the store (the
//! `build` command and the Nix `image` step). Going through a plan first
//! reads every file twice: once to hash its layer, once to copy it into
//! the archive. Here each store layer nobody has hashed yet is hashed
//! while it is written, so every file is read once.
//!
//! A layer's place in the archive follows from the sizes of the layers
//! before it. So the store layers are taken in image order, as a
//! pipeline over two cores: one core walks the store and reads files
//! into chunks, the other hashes the chunks, layer after layer, and so
//! knows where each chunk goes as soon as it has hashed it. Hashed
//! chunks are written into place by whichever core has nothing better to
//! do: the hashing core when no chunk is waiting to be hashed, the
//! reading core when every chunk is in use. While the hashing core is
//! short of work, the reading core leaves it the files that fit in a
//! chunk to read in. No layer waits for its place, and nothing is copied
//! twice.
//!
//! The bytes are those of writing the plan (`assemble`): every small part
//! is written from the finished plan, and a layer that did not land where
//! the finished plan puts it is written again from its source: after a
//! layer that turned out identical to an earlier one (so stored once),
//! every later one is.
//!
//! Memory: besides the plan, [`CHUNKS`] chunks of [`CHUNK`] bytes.

use crate::assemble::{self, first_layer_offset, member_len};
use crate::plan::{self, Draft, PlannedLayer};
use crate::store::{self, PathLayer};
use crate::tree::{read_exactly, Links, TreeSink};
use anyhow::{anyhow, bail, Context, Result};
use nci_core::hash::{hex, Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Bytes read, hashed and written at a time.
const CHUNK: usize = 1 << 20;
/// The reading core leaves files for the hashing core to read into a
/// chunk when fewer than this many chunks wait to be hashed: the hashing
/// core is about to run out of work, the reading core has too much.
const DEFER_BELOW: usize = 2;
/// Chunks in use at most: being filled, waiting to be hashed, or waiting
/// to be written. Enough for the reading core to run ahead of the
/// hashing core over many small files.
const CHUNKS: usize = 8;

/// Completes `draft` and writes its docker-archive to `out`, named
/// `reference(plan)`.
pub fn docker_archive_file(
    draft: Draft<'_>,
    cached: &BTreeMap<String, PathLayer>,
    store_dir: &str,
    reference: impl FnOnce(&plan::Plan) -> String,
    out: &Path,
) -> Result<()> {
    let (file, path) = assemble::output_beside(out)?;
    write_into(draft, cached, store_dir, reference, &file)
        .with_context(|| assemble::cannot_write(out))?;
    assemble::finish_output(file, path, out)
}

/// [`docker_archive_file`]'s work, into the temporary `file`.
fn write_into(
    draft: Draft<'_>,
    cached: &BTreeMap<String, PathLayer>,
    store_dir: &str,
    reference: impl FnOnce(&plan::Plan) -> String,
    file: &std::fs::File,
) -> Result<()> {
    let known: Vec<Option<(String, u64)>> = draft
        .layers
        .iter()
        .map(|l| l.as_ref().map(|l| (l.digest.clone(), l.size)))
        .collect();
    let pipe = &Pipe::new(file);
    let pending = &draft.pending;
    let (hashed, custom) = std::thread::scope(|s| {
        // The customisation layer comes after every store layer, so it
        // is hashed alongside them (and written from its entries at the
        // end, with the small parts).
        let custom = s.spawn(|| draft.hash_customisation());
        let hashing = s.spawn(move || pipe.run(|| hash_layers(pipe, pending, known, store_dir)));
        pipe.run(|| read_layers(pipe, pending, store_dir, cached));
        pipe.run(|| pipe.write_until_hashed());
        (hashing.join(), custom.join())
    });
    let hashed = hashed.map_err(|_| anyhow!("the hashing thread panicked"))?;
    let custom = custom.map_err(|_| anyhow!("the customisation thread panicked"))?;
    if let Some(e) = pipe.error() {
        return Err(e);
    }
    let mut hashed = hashed.context("the hashing thread stopped")?;
    hashed.layers.push(custom?);
    let plan = draft.complete(hashed.layers)?;
    let reference = reference(&plan);
    assemble::fill_docker_archive(file, &plan, &reference, |at, i| {
        if hashed.written.get(&i) == Some(&at) {
            Ok(())
        } else {
            assemble::write_layer_at(file, &plan, i, at)
        }
    })
}

/// The reading core's part: walks the pending layers in order into
/// chunks, each layer ended by its links.
fn read_layers(
    pipe: &Pipe,
    pending: &[(usize, Vec<String>)],
    store_dir: &str,
    cached: &BTreeMap<String, PathLayer>,
) -> Result<()> {
    for (_, paths) in pending {
        let reader = LayerReader { pipe, chunk: None };
        let (mut reader, links) = store::store_layer(reader, store_dir, paths, cached)?;
        reader.send()?;
        pipe.push(Item::End(links))?;
    }
    Ok(())
}

/// The hashing core's part: hashes the chunks of the pending layers in
/// order, each right after the layers before it, so each chunk's place
/// is known once hashed. Returns the hashed layers and where each was
/// written.
fn hash_layers(
    pipe: &Pipe,
    pending: &[(usize, Vec<String>)],
    mut known: Vec<Option<(String, u64)>>,
    store_dir: &str,
) -> Result<Hashed> {
    let mut hashed = Hashed::default();
    // Once a layer turns out identical to an earlier one (stored once),
    // the layers after it go where it was written: its chunks, written
    // by either core in any order, may land over theirs. From there on,
    // layers are written again from their source at the end.
    let mut overlapped = false;
    for (i, paths) in pending {
        let start = known
            .get(..*i)
            .and_then(place_after)
            .context("a layer before a store layer is not hashed")?;
        let mut hasher = Sha256::new();
        let mut at = start;
        let links = loop {
            match pipe.next_to_hash()? {
                Item::Bytes(mut chunk) => {
                    chunk.read_fills()?;
                    hasher.update(chunk.bytes());
                    let len = chunk.filled as u64;
                    pipe.hashed(chunk, at)?;
                    at += len;
                }
                Item::End(links) => break links,
            }
        };
        let (digest, size) = (hex(&hasher.finalize()), at - start);
        overlapped |= known[..*i].iter().flatten().any(|(d, _)| *d == digest);
        *known.get_mut(*i).context("no such layer")? = Some((digest.clone(), size));
        if !overlapped {
            hashed.written.insert(*i, start);
        }
        let layer = plan::store_layer(store_dir, paths, digest, size, links)?;
        hashed.layers.push((*i, layer));
    }
    pipe.lock()?.hashed_all = true;
    pipe.changed.notify_all();
    pipe.write_until_hashed()?;
    Ok(hashed)
}

/// What the hashing core found.
#[derive(Default)]
struct Hashed {
    /// The pending layers, by index.
    layers: Vec<(usize, PlannedLayer)>,
    /// Where each was written, if it is there for sure.
    written: BTreeMap<usize, u64>,
}

/// The offset of the content of the layer after `before` (every layer
/// before it, with their digests and sizes, in image order) in the
/// archive, if all of them are known; a layer identical to an earlier
/// one is stored once.
fn place_after(before: &[Option<(String, u64)>]) -> Option<u64> {
    let mut at = first_layer_offset();
    let mut seen = BTreeSet::new();
    for layer in before {
        let (digest, size) = layer.as_ref()?;
        if seen.insert(digest.as_str()) {
            at += member_len(*size);
        }
    }
    Some(at)
}

/// A buffer of [`CHUNK`] bytes (kept initialised, so that reading into
/// it costs no zeroing), the first `filled` of which are layer bytes,
/// but for the files in `fills`, which the hashing core reads in.
struct Chunk {
    buf: Vec<u8>,
    filled: usize,
    fills: Vec<Fill>,
    /// Files that fit are left to the hashing core to read: it was short
    /// of work (fewer than [`DEFER_BELOW`] chunks waiting) when the chunk
    /// was taken.
    defer: bool,
}

/// A file whose content goes into a chunk from `at`.
struct Fill {
    file: File,
    at: usize,
    len: usize,
    path: String,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    fn room(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// Reads the files left to the hashing core into place (and closes
    /// them).
    fn read_fills(&mut self) -> Result<()> {
        let mut fills = std::mem::take(&mut self.fills);
        for f in fills.drain(..) {
            read_exactly(&f.file, &mut self.buf[f.at..f.at + f.len], 0, &f.path)?;
        }
        self.fills = fills;
        Ok(())
    }
}

/// What the reading core hands the hashing core.
enum Item {
    /// The next bytes of the layer.
    Bytes(Chunk),
    /// The layer is complete: its links.
    End(Links),
}

/// The queues between the two cores.
#[derive(Default)]
struct Queues {
    to_hash: VecDeque<Item>,
    /// Hashed chunks and their offsets in the output.
    to_write: VecDeque<(Chunk, u64)>,
    free: Vec<Chunk>,
    /// Chunks made so far, at most [`CHUNKS`].
    made: usize,
    /// The hashing core has hashed every layer.
    hashed_all: bool,
    /// The first error of either core.
    error: Option<anyhow::Error>,
    /// A core failed: both stop.
    stopped: bool,
}

/// The queues, a condition variable for every change to them, and the
/// output.
struct Pipe<'a> {
    queues: Mutex<Queues>,
    changed: Condvar,
    out: &'a File,
}

impl<'a> Pipe<'a> {
    fn new(out: &'a File) -> Self {
        Pipe {
            queues: Mutex::new(Queues::default()),
            changed: Condvar::new(),
            out,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Queues>> {
        self.queues
            .lock()
            .map_err(|_| anyhow!("a worker thread panicked"))
    }

    /// Runs one core's part; on an error, keeps it (if it is the first)
    /// and stops the other core. Returns the part's result, if any.
    fn run<T>(&self, part: impl FnOnce() -> Result<T>) -> Option<T> {
        match part() {
            Ok(t) => Some(t),
            Err(e) => {
                if let Ok(mut q) = self.queues.lock() {
                    if !q.stopped {
                        q.error = Some(e);
                        q.stopped = true;
                    }
                }
                self.changed.notify_all();
                None
            }
        }
    }

    /// The first error, if a core stopped.
    fn error(&self) -> Option<anyhow::Error> {
        let mut q = self.queues.lock().ok()?;
        q.error.take()
    }

    fn push(&self, item: Item) -> Result<()> {
        let mut q = self.lock()?;
        if q.stopped {
            bail!("stopped");
        }
        q.to_hash.push_back(item);
        drop(q);
        self.changed.notify_all();
        Ok(())
    }

    /// Waits until `ready` takes what a core needs from the queues,
    /// writing hashed chunks meanwhile (or waiting for a change when
    /// there is none).
    fn until<T>(&self, mut ready: impl FnMut(&mut Queues) -> Option<T>) -> Result<T> {
        let mut q = self.lock()?;
        loop {
            if q.stopped {
                bail!("stopped");
            }
            if let Some(t) = ready(&mut q) {
                return Ok(t);
            }
            if let Some((c, at)) = q.to_write.pop_front() {
                drop(q);
                self.write_and_free(c, at)?;
                q = self.lock()?;
            } else {
                q = self
                    .changed
                    .wait(q)
                    .map_err(|_| anyhow!("a worker thread panicked"))?;
            }
        }
    }

    /// An empty chunk for the reading core: a free one, a new one while
    /// fewer than [`CHUNKS`] are made, else one freed by writing a hashed
    /// chunk (or by waiting for the hashing core to write one).
    fn empty_chunk(&self) -> Result<Chunk> {
        self.until(|q| {
            let defer = q.to_hash.len() < DEFER_BELOW;
            let mut c = match q.free.pop() {
                Some(c) => c,
                None if q.made < CHUNKS => {
                    q.made += 1;
                    Chunk {
                        buf: vec![0; CHUNK],
                        filled: 0,
                        fills: Vec::new(),
                        defer,
                    }
                }
                None => return None,
            };
            c.filled = 0;
            c.defer = defer;
            Some(c)
        })
    }

    /// The next item for the hashing core.
    fn next_to_hash(&self) -> Result<Item> {
        self.until(|q| q.to_hash.pop_front())
    }

    /// Queues a hashed chunk for writing at `at`.
    fn hashed(&self, chunk: Chunk, at: u64) -> Result<()> {
        self.lock()?.to_write.push_back((chunk, at));
        self.changed.notify_all();
        Ok(())
    }

    /// Writes hashed chunks until every layer is hashed and every chunk
    /// written (both cores end here).
    fn write_until_hashed(&self) -> Result<()> {
        self.until(|q| (q.hashed_all && q.to_write.is_empty()).then_some(()))
    }

    /// Writes `chunk` at `at`, then frees it.
    fn write_and_free(&self, chunk: Chunk, at: u64) -> Result<()> {
        self.out.write_all_at(chunk.bytes(), at)?;
        self.lock()?.free.push(chunk);
        self.changed.notify_all();
        Ok(())
    }
}

/// The tar of one layer, read into chunks for the hashing core.
struct LayerReader<'p, 'a> {
    pipe: &'p Pipe<'a>,
    chunk: Option<Chunk>,
}

impl LayerReader<'_, '_> {
    /// The chunk being filled, with room in it.
    fn chunk(&mut self) -> Result<&mut Chunk> {
        if self.chunk.is_none() {
            self.chunk = Some(self.pipe.empty_chunk()?);
        }
        self.chunk.as_mut().context("no chunk")
    }

    /// Hands the chunk being filled, if any, to the hashing core.
    fn send(&mut self) -> Result<()> {
        match self.chunk.take() {
            Some(c) if c.filled > 0 => self.pipe.push(Item::Bytes(c)),
            Some(c) => {
                self.pipe.lock()?.free.push(c);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Sends the chunk if it is full.
    fn filled(&mut self, n: usize) -> Result<()> {
        let c = self.chunk()?;
        c.filled += n;
        if c.filled == CHUNK {
            self.send()?;
        }
        Ok(())
    }
}

impl TreeSink for LayerReader<'_, '_> {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        let mut b = b;
        while !b.is_empty() {
            let room = self.chunk()?.room();
            let n = room.len().min(b.len());
            room[..n].copy_from_slice(&b[..n]);
            b = &b[n..];
            self.filled(n)?;
        }
        Ok(())
    }

    fn content(&mut self, file: File, size: u64, data: Option<&[u8]>, path: &str) -> Result<()> {
        if let Some(d) = data {
            return self.bytes(d);
        }
        let c = self.chunk()?;
        if c.defer && size <= c.room().len() as u64 {
            let len = size as usize;
            c.fills.push(Fill {
                file,
                at: c.filled,
                len,
                path: path.to_owned(),
            });
            return self.filled(len);
        }
        let mut offset = 0u64;
        while offset < size {
            let room = self.chunk()?.room();
            let want = usize::try_from(size - offset)
                .unwrap_or(usize::MAX)
                .min(room.len());
            let n = file
                .read_at(&mut room[..want], offset)
                .with_context(|| path.to_owned())?;
            if n == 0 {
                bail!("{path}: file shrank while read");
            }
            offset += n as u64;
            self.filled(n)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(digest: &str, size: u64) -> Option<(String, u64)> {
        Some((digest.to_owned(), size))
    }

    #[test]
    fn the_first_layer_goes_after_the_oci_layout_member() {
        assert_eq!(place_after(&[]), Some(first_layer_offset()));
    }

    #[test]
    fn a_place_is_known_once_every_earlier_layer_is() {
        let start = first_layer_offset();
        assert_eq!(
            place_after(&[known("a", 1024), known("b", 10)]),
            Some(start + (512 + 1024) + (512 + 512))
        );
        assert_eq!(place_after(&[known("a", 1024), None]), None);
    }

    #[test]
    fn an_identical_layer_takes_no_space() {
        let start = first_layer_offset();
        assert_eq!(
            place_after(&[known("a", 1024), known("a", 1024)]),
            Some(start + 512 + 1024)
        );
    }

    fn chunk_with(fills: Vec<Fill>, filled: usize) -> Chunk {
        Chunk {
            buf: vec![b'-'; CHUNK],
            filled,
            fills,
            defer: true,
        }
    }

    fn fill(dir: &Path, name: &str, content: &[u8], at: usize, len: usize) -> Fill {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        Fill {
            file: File::open(&path).unwrap(),
            at,
            len,
            path: path.display().to_string(),
        }
    }

    #[test]
    fn files_left_to_the_hashing_core_are_read_into_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let fills = vec![
            fill(dir.path(), "a", b"hello", 2, 5),
            fill(dir.path(), "b", b"world", 9, 5),
        ];
        let mut c = chunk_with(fills, 16);
        c.read_fills().unwrap();
        assert_eq!(c.bytes(), b"--hello--world--");
        assert!(c.fills.is_empty());
    }

    #[test]
    fn a_file_that_shrank_before_the_hashing_core_read_it_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = chunk_with(vec![fill(dir.path(), "short", b"abc", 0, 10)], 10);
        let err = c.read_fills().unwrap_err().to_string();
        assert!(err.ends_with("/short: file shrank while read"), "{err}");
    }

    #[test]
    fn the_first_error_of_either_core_stops_the_other() {
        let out = tempfile::tempfile().unwrap();
        let pipe = Pipe::new(&out);
        assert!(pipe
            .run(|| -> Result<()> { bail!("/nix/store/x: gone") })
            .is_none());
        // The other core, waiting for work, stops too; its own error is
        // not the one reported.
        assert!(pipe.run(|| pipe.next_to_hash()).is_none());
        assert_eq!(pipe.error().unwrap().to_string(), "/nix/store/x: gone");
    }

    #[test]
    fn a_core_out_of_chunks_writes_a_hashed_one_and_reuses_it() {
        let out = tempfile::tempfile().unwrap();
        let pipe = Pipe::new(&out);
        let mut taken: Vec<Chunk> = (0..CHUNKS).map(|_| pipe.empty_chunk().unwrap()).collect();
        let mut c = taken.pop().unwrap();
        c.buf[..3].copy_from_slice(b"abc");
        c.filled = 3;
        pipe.hashed(c, 7).unwrap();
        let again = pipe.empty_chunk().unwrap();
        assert_eq!(again.filled, 0);
        assert_eq!(pipe.lock().unwrap().made, CHUNKS);
        let mut got = [0; 10];
        out.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(&got, b"\0\0\0\0\0\0\0abc");
    }

    #[test]
    fn files_are_left_to_the_hashing_core_only_while_it_is_short_of_work() {
        let out = tempfile::tempfile().unwrap();
        let pipe = Pipe::new(&out);
        assert!(pipe.empty_chunk().unwrap().defer);
        for _ in 0..DEFER_BELOW {
            pipe.push(Item::End(Vec::new())).unwrap();
        }
        assert!(!pipe.empty_chunk().unwrap().defer);
    }
}
