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
}

pub fn channel() -> (Writer, Reader) {
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
        },
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
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_in_order_and_the_end_is_seen() {
        let (mut w, mut r) = channel();
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
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
    fn a_writer_whose_reader_is_gone_fails() {
        let (mut w, r) = channel();
        drop(r);
        let big = vec![0u8; 2 * CHUNK];
        assert!(w.write_all(&big).is_err());
    }
}
