//! Layer compression for registries, deterministic: the same layer
//! always gives the same compressed bytes, so the same digest on every
//! push, machine and registry (a registry then skips a layer it has
//! from another image or another machine).
//!
//! - gzip: DEFLATE level 6 (flate2's pure-Rust zlib-rs backend),
//!   compressed on every core within a layer, pigz's way (gzp): the layer
//!   is cut into fixed chunks of [`GZIP_CHUNK`] bytes, each compressed on
//!   its own in one call (no dictionary from the chunk before) and ended
//!   on a byte boundary with a sync flush, so that the raw DEFLATE streams
//!   join into one, the last ended as final; their CRC32s combined. The
//!   bytes depend on the layer, the chunk size and the level only, never
//!   on the number of threads, their timing or the sizes of the reads
//!   (zlib-rs fed a stream piece by piece gives bytes that depend on the
//!   pieces: why it is fed whole chunks). A gzip header with no name, no
//!   time (0) and the "unknown" OS byte;
//! - zstd: libzstd level 3 (the zstd crate), one thread, no checksum
//!   and no content size in the frame header (a stream's size is not
//!   known ahead).
//!
//! What a layer compresses to (its digest and size) is kept in a
//! [`Cache`], keyed by the uncompressed digest and [`Compression::id`],
//! so a layer is compressed once: a later push finds its compressed
//! digest there, asks the registry for it, and compresses it again only
//! to send it.

use anyhow::{Context, Result};
use nci_core::hash::{hex, Digest, Sha256};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// How layers are sent (`--compression-format`, podman's flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// gzip: what every registry and engine reads (the default).
    Gzip,
    /// zstd: smaller and faster to decompress; podman >= 4 and
    /// containerd >= 1.5 read it, older engines do not.
    Zstd,
    /// As the image has them (uncompressed tar).
    None,
}

/// The media type of an uncompressed OCI layer (what the plan has).
pub const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

impl Compression {
    /// The layer media type in the manifest.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => OCI_TAR,
        }
    }

    /// What the compressed bytes depend on besides the layer: the cache
    /// key. Change it with any change of algorithm, level, library
    /// version or header (the golden tests below catch one).
    pub fn id(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip-6-chunks-128k-zlib-rs-0.6",
            Compression::Zstd => "zstd-3-libzstd-1.5.7",
            Compression::None => "none",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

/// A blob's digest (`sha256:HEX`) and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub digest: String,
    pub size: u64,
}

/// Counts and hashes what goes through it.
pub struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            size: 0,
        }
    }

    pub fn finish(self) -> (W, Facts) {
        let facts = Facts {
            digest: format!("sha256:{}", hex(&self.hash.finalize())),
            size: self.size,
        };
        (self.inner, facts)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The size of the chunks a layer is cut into for gzip (pigz's and gzp's
/// default): part of what the bytes depend on, so of [`Compression::id`].
pub const GZIP_CHUNK: usize = 128 * 1024;

/// The threads that compress one layer's gzip chunks: every core.
fn gzip_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Compresses all of `input` into `out`; the compressed blob's facts.
pub fn compress<W: Write + Send>(
    alg: Compression,
    input: impl Read,
    out: W,
) -> std::io::Result<(W, Facts)> {
    compress_on(alg, input, out, gzip_threads())
}

/// [`compress`] with gzip chunks compressed on `threads` threads (the
/// bytes are the same for any number).
fn compress_on<W: Write + Send>(
    alg: Compression,
    mut input: impl Read,
    out: W,
    threads: usize,
) -> std::io::Result<(W, Facts)> {
    let hashing = Hashing::new(out);
    let hashing = match alg {
        Compression::Gzip => {
            let mut hashing = hashing;
            gzip(&mut input, &mut hashing, threads)?;
            hashing
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(hashing, 3)?;
            enc.include_checksum(false)?;
            enc.include_contentsize(false)?;
            std::io::copy(&mut input, &mut enc)?;
            enc.finish()?
        }
        Compression::None => {
            let mut h = hashing;
            std::io::copy(&mut input, &mut h)?;
            h
        }
    };
    let (mut out, facts) = hashing.finish();
    out.flush()?;
    Ok((out, facts))
}

/// gzip of `input` into `out`, chunks compressed on `threads` threads.
fn gzip<W: Write + Send>(
    input: &mut impl Read,
    out: &mut W,
    threads: usize,
) -> std::io::Result<()> {
    use gzp::ZWriter;
    let gzp_error = |e: gzp::GzpError| match e {
        gzp::GzpError::Io(e) => e,
        e => std::io::Error::other(e),
    };
    std::thread::scope(|scope| {
        let mut enc = gzp::par::compress::ParCompressBuilder::<gzp::deflate::Gzip>::new()
            .num_threads(threads.max(1))
            .map_err(gzp_error)?
            .buffer_size(GZIP_CHUNK)
            .map_err(gzp_error)?
            .compression_level(gzp::Compression::new(6))
            .from_borrowed_writer(out, scope);
        // Never `flush` it: a flush ends a chunk early (other bytes).
        // A ParCompress dropped unfinished finishes itself (and panics on
        // an error); one whose `write` failed has shut itself down and
        // must not be finished (it panics).
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = enc.finish();
                    return Err(e);
                }
            };
            enc.write_all(&buf[..n])?;
        }
        enc.finish().map(|_| ()).map_err(gzp_error)
    })
}

/// Compressed facts by uncompressed digest: one small file per layer and
/// compression, `DIR/ID/HEX` holding `{"digest", "size"}`.
pub struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    /// The cache in `dir`; `None`: no cache (every layer is compressed).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Cache { dir }
    }

    /// `$XDG_CACHE_HOME/nix-container-images/compressed`, else under
    /// `$HOME/.cache`; `None` without either.
    pub fn default_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let base = env("XDG_CACHE_HOME")
            .filter(|d| d.starts_with('/'))
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME")
                    .filter(|d| d.starts_with('/'))
                    .map(|h| Path::new(&h).join(".cache"))
            })?;
        Some(base.join("nix-container-images").join("compressed"))
    }

    fn file(&self, alg: Compression, uncompressed: &str) -> Option<PathBuf> {
        let hex = uncompressed.trim_start_matches("sha256:");
        if !nci_core::hash::is_sha256_hex(hex) {
            return None;
        }
        Some(self.dir.as_ref()?.join(alg.id()).join(hex))
    }

    /// The facts of `uncompressed` (`sha256:HEX`) compressed with `alg`,
    /// if known. An unreadable or malformed entry counts as unknown.
    pub fn get(&self, alg: Compression, uncompressed: &str) -> Option<Facts> {
        let text = std::fs::read_to_string(self.file(alg, uncompressed)?).ok()?;
        serde_json::from_str::<Facts>(&text).ok().filter(|f| {
            f.digest
                .strip_prefix("sha256:")
                .is_some_and(nci_core::hash::is_sha256_hex)
        })
    }

    /// Records the facts (atomically: a reader sees all or nothing).
    pub fn put(&self, alg: Compression, uncompressed: &str, facts: &Facts) -> Result<()> {
        let Some(file) = self.file(alg, uncompressed) else {
            return Ok(());
        };
        let dir = nci_core::nix_build::dir_of(&file);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the compression cache", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("{}: cannot write the compression cache", dir.display()))?;
        tmp.write_all(serde_json::to_string(facts)?.as_bytes())
            .with_context(|| format!("{}: cannot write the compression cache", dir.display()))?;
        tmp.persist(&file)
            .with_context(|| format!("{}: cannot write the compression cache", file.display()))?;
        Ok(())
    }

    /// Forgets an entry (found wrong when the layer was compressed again).
    pub fn remove(&self, alg: Compression, uncompressed: &str) {
        if let Some(f) = self.file(alg, uncompressed) {
            let _ = std::fs::remove_file(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer-like input: a tar of a few files with repetitive content.
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..20_000u32 {
            v.extend_from_slice(format!("line {i} of a layer {}\n", i % 7).as_bytes());
        }
        v
    }

    fn compressed(alg: Compression, input: &[u8]) -> (Vec<u8>, Facts) {
        compress(alg, input, Vec::new()).unwrap()
    }

    #[test]
    fn the_same_layer_compresses_to_the_same_bytes() {
        let input = sample();
        for alg in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let (a, fa) = compressed(alg, &input);
            let (b, fb) = compressed(alg, &input);
            assert_eq!(a, b, "{alg:?}");
            assert_eq!(fa, fb);
            assert_eq!(fa.size, a.len() as u64);
            assert_eq!(
                fa.digest,
                format!("sha256:{}", nci_core::hash::sha256_hex(&a))
            );
        }
    }

    #[test]
    fn compressed_layers_decompress_to_the_layer() {
        let input = sample();
        let (gz, _) = compressed(Compression::Gzip, &input);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input);
        let (zs, _) = compressed(Compression::Zstd, &input);
        assert_eq!(zstd::decode_all(&zs[..]).unwrap(), input);
        assert!(gz.len() < input.len() / 4 && zs.len() < input.len() / 4);
    }

    #[test]
    fn the_gzip_header_carries_no_time_name_or_os() {
        let (gz, _) = compressed(Compression::Gzip, b"x");
        // magic, deflate, no flags, mtime 0, xfl, OS 255 (unknown).
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(gz[9], 255);
    }

    /// Golden digests: a change here changes every pushed layer's digest
    /// (registries then store layers twice); bump `Compression::id` with
    /// it so cached facts of the old bytes are not used.
    #[test]
    fn golden_compressed_digests() {
        let input = sample();
        assert_eq!(
            compressed(Compression::Gzip, &input).1,
            Facts {
                digest: "sha256:dde0f64c159fd800eb9552f1f1525e0590d731ab29dfbdf7fa8df73330a85fd9"
                    .into(),
                size: 64352
            }
        );
        assert_eq!(
            compressed(Compression::Zstd, &input).1,
            Facts {
                digest: "sha256:32d0ce895eba005e8844683fe0914c454449ea01af3d9de5bbe6f86d5208e95d"
                    .into(),
                size: 32910
            }
        );
    }

    /// Hands out its bytes `step` at a time (a pipe's reads).
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Inputs around the chunk boundaries: empty, less than a chunk, one
    /// chunk exactly, several chunks exactly, several and a bit.
    fn chunked_inputs() -> Vec<Vec<u8>> {
        let layer = sample();
        let mut long = layer.clone();
        long.extend_from_slice(&layer);
        [
            0,
            1000,
            GZIP_CHUNK,
            3 * GZIP_CHUNK,
            3 * GZIP_CHUNK + 1,
            long.len(),
        ]
        .into_iter()
        .map(|n| long[..n].to_vec())
        .collect()
    }

    #[test]
    fn gzip_is_the_same_bytes_on_1_or_n_threads_and_for_any_reads() {
        for input in chunked_inputs() {
            let (one, f1) = compress_on(Compression::Gzip, &input[..], Vec::new(), 1).unwrap();
            for threads in [2, 3, 8] {
                let (n, fnn) =
                    compress_on(Compression::Gzip, &input[..], Vec::new(), threads).unwrap();
                assert!(n == one, "{} bytes on {threads} threads", input.len());
                assert_eq!(fnn, f1);
            }
            for step in [1 << 20, 7001, 4096] {
                let dribble = Dribble { data: &input, step };
                let (n, _) = compress_on(Compression::Gzip, dribble, Vec::new(), 4).unwrap();
                assert!(n == one, "{} bytes read {step} at a time", input.len());
            }
        }
    }

    /// The chunks joined are one gzip member that other decoders read:
    /// flate2's (one member only) and gzip(1)'s own `-t` and `-d`.
    #[test]
    fn parallel_gzip_is_read_by_gzip_itself() {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        for (i, input) in chunked_inputs().into_iter().enumerate() {
            let (gz, _) = compress_on(Compression::Gzip, &input[..], Vec::new(), 4).unwrap();
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == input, "flate2 read another layer ({i})");
            let file = dir.path().join(format!("layer{i}.gz"));
            std::fs::write(&file, &gz).unwrap();
            let test = Command::new("gzip").arg("-t").arg(&file).status().unwrap();
            assert!(test.success(), "gzip -t {}: {test}", file.display());
            let out = Command::new("gzip")
                .arg("-dc")
                .arg(&file)
                .stderr(Stdio::inherit())
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stdout == input,
                "gzip -dc ({i})"
            );
        }
    }

    /// Fails after `left` bytes.
    struct Failing {
        left: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("the registry went away"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("the layer writer died"));
            }
            let n = buf.len().min(self.left);
            buf[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    /// A failing upload or layer is an error of the push, not a panic
    /// (the release build aborts on one, with no message).
    #[test]
    fn gzip_errors_on_either_side_are_errors() {
        let input = chunked_inputs().pop().unwrap();
        for left in [0, 10, 50_000] {
            let e = compress_on(Compression::Gzip, &input[..], Failing { left }, 2)
                .err()
                .unwrap();
            assert!(e.to_string().contains("the registry went away"), "{e}");
        }
        for left in [0, 10, 3 * GZIP_CHUNK] {
            let e = compress_on(Compression::Gzip, Failing { left }, Vec::new(), 2)
                .err()
                .unwrap();
            assert_eq!(e.to_string(), "the layer writer died");
        }
    }

    #[test]
    fn the_cache_keeps_facts_by_layer_and_compression() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().to_owned()));
        let layer = format!("sha256:{}", "a".repeat(64));
        let facts = Facts {
            digest: format!("sha256:{}", "b".repeat(64)),
            size: 12,
        };
        assert_eq!(cache.get(Compression::Gzip, &layer), None);
        cache.put(Compression::Gzip, &layer, &facts).unwrap();
        assert_eq!(cache.get(Compression::Gzip, &layer), Some(facts));
        assert_eq!(cache.get(Compression::Zstd, &layer), None);
        cache.remove(Compression::Gzip, &layer);
        assert_eq!(cache.get(Compression::Gzip, &layer), None);
        // A digest that is not one names no file.
        assert_eq!(cache.get(Compression::Gzip, "sha256:../../x"), None);
        let none = Cache::new(None);
        assert_eq!(none.get(Compression::Gzip, &layer), None);
    }

    #[test]
    fn the_default_cache_dir_follows_xdg() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            Cache::default_dir(env(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")])),
            Some(PathBuf::from("/c/nix-container-images/compressed"))
        );
        assert_eq!(
            Cache::default_dir(env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/nix-container-images/compressed"))
        );
        assert_eq!(Cache::default_dir(env(&[])), None);
    }
}
