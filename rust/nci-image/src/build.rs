//! A docker-archive planned and written in one pass over the store (the
//! `build` command and the Nix `image` step). Going through a plan first
//! reads every file twice: once to hash its layer, once to copy it into
//! the archive. Here each store layer nobody has hashed yet is hashed
//! while it is written, so every file is read once.
//!
//! A layer's place in the archive follows from the sizes of the layers
//! before it, known only once those are hashed. Layers are taken in
//! image order on every core; a layer's bytes are kept in memory until
//! its place is known (usually soon: when the layer before it, on the
//! other core, is done) and then written straight into place. What
//! cannot wait in memory within the bounds below goes to an unnamed
//! temporary file beside the output and is copied into place (by the
//! kernel) at the end. The bytes are those of writing the plan
//! (`assemble`): every small part is written from the finished plan, and
//! a layer that did not land where the finished plan puts it (one that
//! turned out identical to an earlier layer) is written from its source.
//!
//! Memory: besides the plan, at most [`WAITING`] bytes per core for the
//! layer in progress and [`PARKED`] bytes for finished layers whose place
//! is not known yet.

use crate::assemble::{self, first_layer_offset, member_len};
use crate::parallel::on_every_core;
use crate::plan::{self, Draft, PlannedLayer};
use crate::sink::Sink;
use crate::store::{self, PathLayer};
use crate::tree::TreeSink;
use anyhow::{anyhow, bail, Context, Result};
use nci_core::hash::{hex, Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// Bytes gathered before a write (and before looking for the place
/// again while it is unknown).
const CHUNK: usize = 1 << 20;
/// Bytes of the layer in progress kept in memory while its place is
/// unknown; beyond, they go to a temporary file.
const WAITING: usize = 4 << 20;
/// Bytes of finished layers kept in memory, all together, until the
/// end; beyond, they go to temporary files.
const PARKED: usize = 16 << 20;

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
    let dir = nci_core::nix_build::dir_of(out);
    let shared = Shared {
        known: Mutex::new(
            draft
                .layers
                .iter()
                .map(|l| l.as_ref().map(|l| (l.digest.clone(), l.size)))
                .collect(),
        ),
        parked: Mutex::new(0),
        buffers: Mutex::new(Vec::new()),
        out: &file,
        dir,
    };
    // on_every_core starts the heaviest first: weighed by their index
    // backwards, the pending layers go in image order.
    let written = on_every_core(
        &draft.pending,
        |(i, _)| u64::MAX - *i as u64,
        |(i, paths)| {
            let (sink, links) =
                store::store_layer(LayerOut::new(&shared, *i), store_dir, paths, cached)?;
            let (digest, size, place) = sink.finish()?;
            let layer = plan::store_layer(store_dir, paths, digest, size, links)?;
            Ok((*i, layer, place))
        },
    )?;
    let mut hashed: Vec<(usize, PlannedLayer)> = Vec::new();
    let mut places: BTreeMap<usize, Place> = BTreeMap::new();
    for (i, layer, place) in written {
        hashed.push((i, layer));
        places.insert(i, place);
    }
    let plan = draft.complete(hashed)?;
    let reference = reference(&plan);
    assemble::fill_docker_archive(&file, &plan, &reference, |at, i| match places.get(&i) {
        Some(Place::Written(was)) if *was == at => Ok(()),
        Some(Place::Waiting(bytes)) => bytes.write_at(&file, at).map(|_| ()),
        _ => assemble::write_layer_at(&file, &plan, i, at),
    })?;
    assemble::finish_output(file, path, out)
}

/// What the workers share.
struct Shared<'a> {
    /// (digest, size) of every layer, as far as known, in image order.
    known: Mutex<Vec<Option<(String, u64)>>>,
    /// Bytes of finished layers waiting in memory.
    parked: Mutex<usize>,
    /// Buffers of finished layers, for the next ones (a fresh buffer
    /// costs page faults and zeroing).
    buffers: Mutex<Vec<Vec<u8>>>,
    out: &'a File,
    /// Where temporary files go.
    dir: &'a Path,
}

impl Shared<'_> {
    /// The offset of layer `i`'s content in the archive, if every layer
    /// before it is hashed.
    fn place_of(&self, i: usize) -> Result<Option<u64>> {
        let known = self
            .known
            .lock()
            .map_err(|_| anyhow!("a worker thread panicked"))?;
        Ok(known.get(..i).and_then(place_after))
    }

    fn hashed(&self, i: usize, digest: &str, size: u64) -> Result<()> {
        let mut known = self
            .known
            .lock()
            .map_err(|_| anyhow!("a worker thread panicked"))?;
        let slot = known.get_mut(i).context("no such layer")?;
        *slot = Some((digest.to_owned(), size));
        Ok(())
    }

    /// Takes `n` bytes of the in-memory allowance for finished layers.
    fn park(&self, n: usize) -> bool {
        match self.parked.lock() {
            Ok(mut parked) if *parked + n <= PARKED => {
                *parked += n;
                true
            }
            _ => false,
        }
    }

    fn buffer(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .ok()
            .and_then(|mut b| b.pop())
            .unwrap_or_default()
    }

    fn give_back(&self, buffer: Vec<u8>) {
        if let Ok(mut b) = self.buffers.lock() {
            b.push(buffer);
        }
    }

    fn temporary_file(&self) -> Result<File> {
        tempfile::tempfile_in(self.dir)
            .with_context(|| format!("{}: cannot create a temporary file", self.dir.display()))
    }
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

/// Where a finished layer's bytes are.
enum Place {
    /// In the output, from this offset.
    Written(u64),
    /// Still to write: its place was not known when it was finished.
    Waiting(Waiting),
}

/// Bytes of a layer whose place is not known yet: the first `len` in a
/// temporary file, then the first `filled` bytes of `tail`. The rest of
/// `tail` is room, kept initialised so that reading into it costs no
/// zeroing.
#[derive(Default)]
struct Waiting {
    aside: Option<(File, u64)>,
    tail: Vec<u8>,
    filled: usize,
}

impl Waiting {
    /// The bytes in memory.
    fn pending(&self) -> &[u8] {
        &self.tail[..self.filled]
    }

    /// `n` bytes of room after the bytes in memory.
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.tail.len() < self.filled + n {
            self.tail.resize(self.filled + n, 0);
        }
        &mut self.tail[self.filled..self.filled + n]
    }

    fn push(&mut self, b: &[u8]) {
        self.room(b.len()).copy_from_slice(b);
        self.filled += b.len();
    }

    /// Moves the bytes in memory to the temporary file.
    fn spill(&mut self, shared: &Shared) -> Result<()> {
        if self.aside.is_none() {
            self.aside = Some((shared.temporary_file()?, 0));
        }
        if let Some((f, len)) = &mut self.aside {
            f.write_all(&self.tail[..self.filled])
                .context("writing a temporary file")?;
            *len += self.filled as u64;
        }
        self.filled = 0;
        Ok(())
    }

    /// Writes every byte into `out` from `at`; returns where they end.
    fn write_at(&self, out: &File, at: u64) -> Result<u64> {
        let mut at = at;
        if let Some((f, len)) = &self.aside {
            let mut sink = Sink::at(out.try_clone().context("writing the output")?, at);
            sink.copy(f, 0, *len, Path::new("a temporary file"))?;
            sink.finish()?;
            at += len;
        }
        out.write_all_at(self.pending(), at)
            .context("writing the output")?;
        Ok(at + self.filled as u64)
    }
}

/// One layer being written: hashed as it goes, written into place as
/// soon as its place is known, waiting until then.
struct LayerOut<'a> {
    shared: &'a Shared<'a>,
    index: usize,
    hasher: Sha256,
    size: u64,
    /// Where the next byte goes, once known.
    at: Option<u64>,
    /// Bytes not written out yet.
    waiting: Waiting,
}

impl<'a> LayerOut<'a> {
    fn new(shared: &'a Shared<'a>, index: usize) -> Self {
        LayerOut {
            shared,
            index,
            hasher: Sha256::new(),
            size: 0,
            at: None,
            waiting: Waiting {
                aside: None,
                tail: shared.buffer(),
                filled: 0,
            },
        }
    }

    /// Writes what is waiting if the place is known (or now found out);
    /// else keeps it in memory up to [`WAITING`] bytes.
    fn drain(&mut self) -> Result<()> {
        if self.at.is_none() {
            self.at = self.shared.place_of(self.index)?;
        }
        match self.at {
            Some(at) => {
                self.at = Some(self.waiting.write_at(self.shared.out, at)?);
                self.waiting.aside = None;
                self.waiting.filled = 0;
            }
            None if self.waiting.filled >= WAITING => self.waiting.spill(self.shared)?,
            None => {}
        }
        Ok(())
    }

    /// (hex digest, size, where the bytes are).
    fn finish(mut self) -> Result<(String, u64, Place)> {
        self.drain()?;
        let digest = hex(&self.hasher.finalize());
        self.shared.hashed(self.index, &digest, self.size)?;
        let place = match self.at {
            Some(at) => Place::Written(at - self.size),
            None => {
                if !self.shared.park(self.waiting.filled) {
                    self.waiting.spill(self.shared)?;
                }
                // Keep only the bytes; the buffer serves the next layer.
                let kept = self.waiting.pending().to_vec();
                Place::Waiting(Waiting {
                    aside: self.waiting.aside.take(),
                    filled: kept.len(),
                    tail: kept,
                })
            }
        };
        self.shared
            .give_back(std::mem::take(&mut self.waiting.tail));
        Ok((digest, self.size, place))
    }
}

impl TreeSink for LayerOut<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.hasher.update(b);
        self.size += b.len() as u64;
        self.waiting.push(b);
        if self.waiting.filled >= CHUNK {
            self.drain()?;
        }
        Ok(())
    }

    fn content(&mut self, file: &File, size: u64, data: Option<&[u8]>, path: &str) -> Result<()> {
        if let Some(d) = data {
            return self.bytes(d);
        }
        let mut offset = 0u64;
        while offset < size {
            let want = usize::try_from(size - offset)
                .unwrap_or(usize::MAX)
                .min(CHUNK);
            let room = self.waiting.room(want);
            let n = file
                .read_at(room, offset)
                .with_context(|| path.to_owned())?;
            if n == 0 {
                bail!("{path}: file shrank while read");
            }
            self.hasher.update(&room[..n]);
            self.waiting.filled += n;
            self.size += n as u64;
            offset += n as u64;
            if self.waiting.filled >= CHUNK {
                self.drain()?;
            }
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

    fn shared<'a>(out: &'a File, dir: &'a Path, layers: usize) -> Shared<'a> {
        Shared {
            known: Mutex::new(vec![None; layers]),
            parked: Mutex::new(0),
            buffers: Mutex::new(Vec::new()),
            out,
            dir,
        }
    }

    fn bytes_at(out: &File, at: u64, len: usize) -> Vec<u8> {
        let mut got = vec![0; len];
        out.read_exact_at(&mut got, at).unwrap();
        got
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_layer_waits_for_its_place_then_goes_straight_into_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempfile_in(dir.path()).unwrap();
        let shared = shared(&out, dir.path(), 2);
        let mut layer = LayerOut::new(&shared, 1);
        let first = data(WAITING + 3 * CHUNK);
        layer.bytes(&first).unwrap();
        // More than it may keep in memory: the beginning went aside.
        assert!(layer.waiting.aside.is_some());
        assert!(layer.at.is_none());
        shared.hashed(0, "zero", 5000).unwrap();
        let second = data(CHUNK + 10);
        layer.bytes(&second).unwrap();
        let at = first_layer_offset() + member_len(5000);
        assert_eq!(layer.at, Some(at + (first.len() + second.len()) as u64));
        let (digest, size, place) = layer.finish().unwrap();
        let all = [first, second].concat();
        assert_eq!(digest, hex(&Sha256::digest(&all)));
        assert_eq!(size, all.len() as u64);
        assert!(matches!(place, Place::Written(p) if p == at));
        assert_eq!(bytes_at(&out, at, all.len()), all);
    }

    #[test]
    fn a_finished_layer_without_a_place_waits_in_memory_or_aside() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempfile_in(dir.path()).unwrap();
        let shared = shared(&out, dir.path(), 3);
        let mut small = LayerOut::new(&shared, 1);
        small.bytes(b"small layer").unwrap();
        let Ok((_, _, Place::Waiting(kept))) = small.finish() else {
            panic!("the place of layer 1 is not known")
        };
        assert!(kept.aside.is_none());
        // With the allowance for waiting layers used up, it goes aside.
        *shared.parked.lock().unwrap() = PARKED;
        let mut other = LayerOut::new(&shared, 2);
        other.bytes(b"another one").unwrap();
        let Ok((_, _, Place::Waiting(aside))) = other.finish() else {
            panic!("the place of layer 2 is not known")
        };
        assert!(aside.aside.is_some() && aside.pending().is_empty());
        assert_eq!(aside.write_at(&out, 100).unwrap(), 111);
        assert_eq!(kept.write_at(&out, 111).unwrap(), 122);
        assert_eq!(bytes_at(&out, 100, 22), b"another onesmall layer");
    }

    #[test]
    fn waiting_bytes_are_written_in_order_from_file_then_memory() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempfile_in(dir.path()).unwrap();
        let shared = Shared {
            known: Mutex::new(vec![]),
            parked: Mutex::new(0),
            buffers: Mutex::new(Vec::new()),
            out: &out,
            dir: dir.path(),
        };
        let mut w = Waiting {
            aside: None,
            tail: b"hello ".to_vec(),
            filled: 6,
        };
        w.spill(&shared).unwrap();
        w.push(b"world");
        assert_eq!(w.write_at(&out, 3).unwrap(), 3 + 11);
        let mut got = vec![0; 14];
        out.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(&got, b"\0\0\0hello world");
    }
}
