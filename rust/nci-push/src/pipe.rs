//! A pipe between two threads (compression into an upload) made of a
//! bounded channel of chunks: the writer blocks while the reader is
//! behind, so at most a few chunks are in memory.

use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

const CHUNK: usize = 256 * 1024;

pub struct Writer {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

pub struct Reader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    /// Bytes the reader must give, no fewer and no more (an upload's
    /// Content-Length): a stream of another size is an error, never a
    /// request the registry waits on forever.
    expected: u64,
    given: u64,
    /// Set when the stream was found of another size.
    pub wrong_size: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub fn channel(expected: u64) -> (Writer, Reader) {
    let (tx, rx) = sync_channel(4);
    (
        Writer {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        Reader {
            rx,
            chunk: Vec::new(),
            pos: 0,
            expected,
            given: 0,
            wrong_size: Default::default(),
        },
    )
}

impl Reader {
    fn wrong_size(&self) -> std::io::Error {
        self.wrong_size
            .store(true, std::sync::atomic::Ordering::SeqCst);
        wrong_size_error()
    }
}

fn wrong_size_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "the compressed layer is not of the size the compression cache gave",
    )
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped reading")
}

impl Write for Writer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.tx.send(full).map_err(|_| closed())?;
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                // The writer is gone: end of the stream.
                Err(_) if self.given == self.expected => return Ok(0),
                Err(_) => return Err(self.wrong_size()),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        if self.given + n as u64 > self.expected {
            return Err(self.wrong_size());
        }
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        self.given += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_in_order_and_the_end_is_seen() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let (mut w, mut r) = channel(data.len() as u64);
        let sent = data.clone();
        let t = std::thread::spawn(move || {
            for piece in sent.chunks(1000) {
                w.write_all(piece).unwrap();
            }
            w.flush().unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        t.join().unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn a_stream_shorter_or_longer_than_expected_is_an_error() {
        for (expected, sent) in [(10u64, 5usize), (10, 15)] {
            let (mut w, mut r) = channel(expected);
            let t = std::thread::spawn(move || {
                let _ = w.write_all(&vec![1u8; sent]);
            });
            let mut got = Vec::new();
            let e = r.read_to_end(&mut got).unwrap_err();
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::InvalidData,
                "{expected} {sent}"
            );
            drop(r);
            t.join().unwrap();
        }
    }

    #[test]
    fn a_writer_whose_reader_is_gone_fails() {
        let (mut w, r) = channel(0);
        drop(r);
        let big = vec![0u8; 2 * CHUNK];
        assert!(w.write_all(&big).is_err());
    }
}
