//! Which files of a store path hold the same bytes: those become hard
//! links to the first of them. Only files of one size and mode can be
//! the same, so each (size, mode) is a [`SizeClass`], and a file is read
//! only once a second file of its class turns up. Files of a class are told
//! apart by a 128-bit XXH3 fingerprint (about ten times as fast as
//! SHA-256), and a fingerprint match is confirmed byte for byte: the
//! links are exact, whatever the files hold.

use crate::tree::read_exactly;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::fs::File;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Files up to this size are read into memory at once (and their bytes
/// kept for the archive); bigger ones are read through a buffer of this
/// size.
pub const IN_MEMORY: u64 = 1 << 20;

/// (device, inode) of a file.
pub type Inode = (u64, u64);

/// A file of a class: archive name and path on disk.
struct Member {
    name: String,
    path: String,
}

/// The files of one (size, mode) in one store path.
pub struct SizeClass {
    size: u64,
    /// The first file, not read yet, and its inode.
    unread: Option<(Member, Inode)>,
    /// The files with distinct bytes so far, by fingerprint.
    distinct: HashMap<u128, Vec<Member>>,
    /// For each inode seen, the name of the first file with its bytes.
    by_inode: HashMap<Inode, String>,
}

/// What [`SizeClass::identical`] found for a file.
#[derive(Debug)]
pub struct Found {
    /// The name of the first earlier file with the same bytes.
    pub same_as: Option<String>,
    /// The file's bytes are in the buffer (it was read whole).
    pub in_buffer: bool,
}

impl SizeClass {
    /// A class whose first file is `name`, at `path`, of `size` bytes.
    pub fn new(name: String, path: String, inode: Inode, size: u64) -> Self {
        SizeClass {
            size,
            unread: Some((Member { name, path }, inode)),
            distinct: HashMap::new(),
            by_inode: HashMap::new(),
        }
    }

    /// Finds the first earlier file of the class with the same bytes as
    /// `name` (open as `file`, at `path`, with `inode`). `buf` holds the
    /// file's bytes afterwards when `in_buffer`; `spare` is for reading
    /// other files.
    pub fn identical(
        &mut self,
        name: &str,
        path: &str,
        inode: Inode,
        file: &File,
        buf: &mut Vec<u8>,
        spare: &mut Vec<u8>,
    ) -> Result<Found> {
        if let Some((first, first_inode)) = self.unread.take() {
            let f = File::open(&first.path).with_context(|| first.path.clone())?;
            let print = fingerprint(&f, self.size, spare, &first.path)?;
            self.by_inode.insert(first_inode, first.name.clone());
            self.distinct.entry(print).or_default().push(first);
        }
        if let Some(target) = self.by_inode.get(&inode) {
            // A hard link on disk already: the same bytes.
            return Ok(Found {
                same_as: Some(target.clone()),
                in_buffer: false,
            });
        }
        let in_buffer = self.size <= IN_MEMORY;
        let print = if in_buffer {
            let len = usize::try_from(self.size)?;
            if buf.len() < len {
                buf.resize(len, 0);
            }
            read_exactly(file, &mut buf[..len], 0, path)?;
            xxh3_128(&buf[..len])
        } else {
            fingerprint(file, self.size, buf, path)?
        };
        let mut same_as = None;
        for other in self.distinct.get(&print).into_iter().flatten() {
            if same_bytes(file, path, &other.path, self.size, buf, spare)? {
                same_as = Some(other.name.clone());
                break;
            }
        }
        let first = same_as.clone().unwrap_or_else(|| name.to_owned());
        self.by_inode.insert(inode, first);
        if same_as.is_none() {
            self.distinct.entry(print).or_default().push(Member {
                name: name.to_owned(),
                path: path.to_owned(),
            });
        }
        Ok(Found { same_as, in_buffer })
    }
}

/// The XXH3-128 of the first `size` bytes of `f`, read through `buf`.
fn fingerprint(f: &File, size: u64, buf: &mut Vec<u8>, path: &str) -> Result<u128> {
    // As much buffer as the file needs, up to IN_MEMORY: a buffer grown
    // (and zeroed) to 1 MiB for every small file would cost more than
    // reading it.
    let want = usize::try_from(size.min(IN_MEMORY))?;
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let mut h = Xxh3::new();
    let mut offset = 0;
    while offset < size {
        let n = want.min(usize::try_from(size - offset)?);
        read_exactly(f, &mut buf[..n], offset, path)?;
        h.update(&buf[..n]);
        offset += n as u64;
    }
    Ok(h.digest128())
}

/// Whether the first `size` bytes of `f` (at `path`) and of the file at
/// `other` are equal. `buf` holds `f`'s bytes already when they fit in
/// [`IN_MEMORY`], else has room for that many.
fn same_bytes(
    f: &File,
    path: &str,
    other: &str,
    size: u64,
    buf: &mut [u8],
    spare: &mut Vec<u8>,
) -> Result<bool> {
    let o = File::open(other).with_context(|| other.to_owned())?;
    let want = usize::try_from(size.min(IN_MEMORY))?;
    if spare.len() < want {
        spare.resize(want, 0);
    }
    // A file that fits is in `buf` already (and must stay there).
    let whole = size <= IN_MEMORY;
    let mut offset = 0;
    while offset < size {
        let n = want.min(usize::try_from(size - offset)?);
        if !whole {
            read_exactly(f, &mut buf[..n], offset, path)?;
        }
        read_exactly(&o, &mut spare[..n], offset, other)?;
        if buf[..n] != spare[..n] {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files(tempfile::TempDir);

    impl Files {
        fn new() -> Self {
            Files(tempfile::tempdir().unwrap())
        }

        fn add(&self, name: &str, bytes: &[u8]) -> (String, File, Inode) {
            let path = self.0.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            self.open(name)
        }

        fn open(&self, name: &str) -> (String, File, Inode) {
            use std::os::unix::fs::MetadataExt;
            let path = self.0.path().join(name);
            let m = std::fs::metadata(&path).unwrap();
            let file = File::open(&path).unwrap();
            (path.display().to_string(), file, (m.dev(), m.ino()))
        }
    }

    fn identical(g: &mut SizeClass, name: &str, f: &(String, File, Inode)) -> Found {
        let (mut buf, mut spare) = (Vec::new(), Vec::new());
        g.identical(name, &f.0, f.2, &f.1, &mut buf, &mut spare)
            .unwrap()
    }

    #[test]
    fn the_first_earlier_file_with_the_same_bytes_is_found() {
        let files = Files::new();
        let a = files.add("a", b"same");
        let b = files.add("b", b"diff");
        let c = files.add("c", b"same");
        let d = files.add("d", b"diff");
        let mut g = SizeClass::new("a".into(), a.0.clone(), a.2, 4);
        assert_eq!(identical(&mut g, "b", &b).same_as, None);
        assert_eq!(identical(&mut g, "c", &c).same_as.as_deref(), Some("a"));
        assert_eq!(identical(&mut g, "d", &d).same_as.as_deref(), Some("b"));
    }

    #[test]
    fn a_hard_link_on_disk_is_not_read_again() {
        let files = Files::new();
        let a = files.add("a", b"one");
        let b = files.add("b", b"two");
        std::fs::hard_link(files.0.path().join("b"), files.0.path().join("b2")).unwrap();
        let b2 = files.open("b2");
        let mut g = SizeClass::new("a".into(), a.0.clone(), a.2, 3);
        assert_eq!(identical(&mut g, "b", &b).same_as, None);
        let found = identical(&mut g, "b2", &b2);
        assert_eq!(found.same_as.as_deref(), Some("b"));
        assert!(!found.in_buffer);
    }

    #[test]
    fn a_small_file_is_left_in_the_buffer() {
        let files = Files::new();
        let a = files.add("a", b"first");
        let b = files.add("b", b"other");
        let mut g = SizeClass::new("a".into(), a.0.clone(), a.2, 5);
        let (mut buf, mut spare) = (Vec::new(), Vec::new());
        let found = g
            .identical("b", &b.0, b.2, &b.1, &mut buf, &mut spare)
            .unwrap();
        assert!(found.in_buffer);
        assert_eq!(&buf[..5], b"other");
    }

    #[test]
    fn big_files_are_compared_in_pieces_to_the_end() {
        let files = Files::new();
        let size = IN_MEMORY as usize * 2 + 10;
        let base: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut last_differs = base.clone();
        last_differs[size - 1] ^= 1;
        let a = files.add("a", &base);
        let b = files.add("b", &last_differs);
        let c = files.add("c", &base);
        let mut g = SizeClass::new("a".into(), a.0.clone(), a.2, size as u64);
        let found = identical(&mut g, "b", &b);
        assert_eq!(found.same_as, None);
        assert!(!found.in_buffer);
        assert_eq!(identical(&mut g, "c", &c).same_as.as_deref(), Some("a"));
    }

    #[test]
    fn equal_fingerprints_are_confirmed_byte_for_byte() {
        let files = Files::new();
        let a = files.add("a", b"abc");
        let b = files.add("b", b"abd");
        // Make `a` look like it had b's fingerprint (a collision).
        let mut g = SizeClass::new("a".into(), a.0.clone(), a.2, 3);
        g.unread = None;
        g.distinct.insert(
            xxh3_128(b"abd"),
            vec![Member {
                name: "a".into(),
                path: a.0.clone(),
            }],
        );
        assert_eq!(identical(&mut g, "b", &b).same_as, None);
        assert_eq!(g.distinct[&xxh3_128(b"abd")].len(), 2);
    }

    #[test]
    fn a_file_that_shrank_is_named() {
        let files = Files::new();
        let a = files.add("a", b"abc");
        let b = files.add("b", b"ab");
        let mut g = SizeClass::new("a".into(), a.0.clone(), a.2, 3);
        let (mut buf, mut spare) = (Vec::new(), Vec::new());
        let err = g
            .identical("b", &b.0, b.2, &b.1, &mut buf, &mut spare)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("/b: file shrank while read"), "{err}");
    }
}
