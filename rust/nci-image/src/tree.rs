//! Store-path trees turned into tar members in one pass, walked with
//! directory file descriptors: every lookup is one path component
//! (`openat`, `fstatat`, `readlinkat` relative to the open directory).
//! Directories and files (as their directory entry says) are opened once
//! and stat'ed through the descriptor; other entries are stat'ed by name.
//! Headers are built into one reused buffer.
//!
//! The members are exactly those of `nci_core::fs_walk::walk` (sorted
//! depth-first, modes as on disk) with hard links either decided by
//! content as `nci_core::fs_walk::link_identical` decides them (the
//! first earlier file with the same bytes and mode), or applied from a
//! plan. The two walkers stay two for speed (this one streams through
//! directory descriptors, `fs_walk` builds entries in memory); store.rs'
//! tests walk one real tree with both and compare the members.

use crate::same_bytes::SizeClass;
use anyhow::{bail, Context, Result};
use nci_core::hash::{Digest, Sha256};
use nci_core::tar::{header_into, padding, Header, Type};
use rustix::fs::{
    fstat, openat, readlinkat, statat, AtFlags, Dir, FileType, Mode, OFlags, Stat, CWD,
};
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;

/// Where the members go: a hasher, or an archive being written.
pub trait TreeSink {
    /// Header blocks or padding.
    fn bytes(&mut self, b: &[u8]) -> Result<()>;
    /// The content of a regular file of `size` bytes: `data` when it is
    /// already in memory, else read from `file` (from offset 0), which
    /// the sink closes when it has read it. `path` names the file in
    /// errors.
    fn content(&mut self, file: File, size: u64, data: Option<&[u8]>, path: &str) -> Result<()>;
}

/// How directories and files of a tree are opened.
const DIRECTORY: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const REGULAR: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Hard links: (link path, target path) in archive names.
pub type Links = Vec<(String, String)>;

enum Policy<'a> {
    /// Decide by content; `made` collects the links.
    Decide {
        classes: HashMap<(u64, u32), SizeClass>,
        made: Links,
    },
    /// Apply a plan's links.
    Apply {
        links: HashMap<&'a str, &'a str>,
        targets: HashSet<&'a str>,
        /// Targets written as regular files so far.
        seen: HashSet<String>,
        applied: usize,
    },
}

/// One pass over one or more trees into one sink.
pub struct Walker<'a, S: TreeSink> {
    pub sink: S,
    policy: Policy<'a>,
    /// Archive name of the current entry.
    name: String,
    /// Length of the archive prefix of the current root in `name`.
    prefix_len: usize,
    /// The current root on disk, for error messages.
    root: String,
    header: Vec<u8>,
    /// A file's bytes when it was read to compare it.
    buf: Vec<u8>,
    /// For reading the files it is compared with.
    spare: Vec<u8>,
}

impl<'a, S: TreeSink> Walker<'a, S> {
    /// A walker that turns identical files into hard links.
    pub fn deciding(sink: S) -> Self {
        Self::new(sink, Self::decide_policy())
    }

    /// A walker that writes the hard links a plan recorded.
    pub fn applying(sink: S, links: &'a [(String, String)]) -> Self {
        Self::new(sink, Self::apply_policy(links))
    }

    /// From the next tree on, decide links by content (one walker serves
    /// every tree of a layer, with its buffers).
    pub fn decide(&mut self) -> Result<()> {
        self.check_applied()?;
        self.policy = Self::decide_policy();
        Ok(())
    }

    /// From the next tree on, write these links.
    pub fn apply(&mut self, links: &'a [(String, String)]) -> Result<()> {
        self.check_applied()?;
        self.policy = Self::apply_policy(links);
        Ok(())
    }

    fn decide_policy() -> Policy<'a> {
        Policy::Decide {
            classes: HashMap::new(),
            made: Vec::new(),
        }
    }

    fn apply_policy(links: &'a [(String, String)]) -> Policy<'a> {
        Policy::Apply {
            links: links
                .iter()
                .map(|(l, t)| (l.as_str(), t.as_str()))
                .collect(),
            targets: links.iter().map(|(_, t)| t.as_str()).collect(),
            seen: HashSet::new(),
            applied: 0,
        }
    }

    fn new(sink: S, policy: Policy<'a>) -> Self {
        Walker {
            sink,
            policy,
            name: String::new(),
            prefix_len: 0,
            root: String::new(),
            header: Vec::with_capacity(2048),
            buf: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Writes the members of the tree at `root` named `prefix/...`
    /// (`root` itself is `prefix`). Returns the links decided for this
    /// tree (sorted), or none when applying a plan.
    pub fn tree(&mut self, root: &str, prefix: &str) -> Result<Links> {
        if let Policy::Decide { classes, .. } = &mut self.policy {
            // Links never cross trees (they are separate store paths).
            classes.clear();
        }
        self.root.clear();
        self.root.push_str(root);
        self.name.clear();
        self.name.push_str(prefix);
        self.prefix_len = prefix.len();
        let st = statat(CWD, root, AtFlags::SYMLINK_NOFOLLOW)
            .with_context(|| format!("{root}: store path of the closure is missing on disk"))?;
        self.entry(CWD, root, st, None)?;
        match &mut self.policy {
            Policy::Decide { made, .. } => {
                let mut links = std::mem::take(made);
                links.sort();
                Ok(links)
            }
            Policy::Apply { .. } => Ok(Vec::new()),
        }
    }

    /// After the last tree: every planned link must have been written.
    pub fn finish(self) -> Result<S> {
        self.check_applied()?;
        Ok(self.sink)
    }

    /// Every link of the plan being applied has been written.
    fn check_applied(&self) -> Result<()> {
        if let Policy::Apply { links, applied, .. } = &self.policy {
            if *applied != links.len() {
                let mut missing: Vec<_> = links.iter().collect();
                missing.sort();
                let (l, t) = missing.first().map_or(("?", "?"), |(l, t)| (**l, **t));
                bail!("/{l}: planned as a hard link to /{t}, but the tree changed since it was planned");
            }
        }
        Ok(())
    }

    /// The path on disk of the current entry.
    fn path(&self) -> String {
        format!("{}{}", self.root, &self.name[self.prefix_len..])
    }

    fn emit_header(&mut self, kind: Type, mode: u32, size: u64, link: Option<&str>) -> Result<()> {
        self.header.clear();
        if kind == Type::Directory {
            self.name.push('/');
        }
        header_into(
            &mut self.header,
            &Header {
                name: &self.name,
                kind,
                mode,
                uid: 0,
                gid: 0,
                size,
                link,
            },
        );
        if kind == Type::Directory {
            self.name.pop();
        }
        self.sink.bytes(&self.header)
    }

    /// One entry `name` of the directory `dir`, then its children;
    /// `opened` is the entry, if it is open already.
    fn entry<P: rustix::path::Arg + Copy>(
        &mut self,
        dir: BorrowedFd<'_>,
        name: P,
        st: Stat,
        opened: Option<OwnedFd>,
    ) -> Result<()> {
        let mode = st.st_mode & 0o7777;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                self.emit_header(Type::Directory, mode, 0, None)?;
                let fd = match opened {
                    Some(fd) => fd,
                    None => {
                        openat(dir, name, DIRECTORY, Mode::empty()).with_context(|| self.path())?
                    }
                };
                self.children(Dir::new(fd).with_context(|| self.path())?)
            }
            FileType::Symlink => {
                let target = readlinkat(dir, name, Vec::new()).with_context(|| self.path())?;
                let target = target
                    .to_str()
                    .with_context(|| format!("{}: symlink target is not UTF-8", self.path()))?;
                self.emit_header(Type::Symlink, 0o777, 0, Some(target))
            }
            FileType::RegularFile => self.file(dir, name, mode, &st, opened.map(File::from)),
            _ => bail!(
                "{}: only directories, files and symlinks can go into an image",
                self.path()
            ),
        }
    }

    fn children(&mut self, mut d: Dir) -> Result<()> {
        // Names in one buffer, NUL-terminated, sorted by bytes.
        let mut names: Vec<u8> = Vec::new();
        let mut spans: Vec<(usize, usize, FileType)> = Vec::new();
        while let Some(e) = d.read() {
            let e = e.with_context(|| self.path())?;
            let n = e.file_name().to_bytes_with_nul();
            if n == b".\0" || n == b"..\0" {
                continue;
            }
            spans.push((names.len(), names.len() + n.len(), e.file_type()));
            names.extend_from_slice(n);
        }
        spans.sort_unstable_by(|a, b| names[a.0..a.1].cmp(&names[b.0..b.1]));
        let fd = d.fd().with_context(|| self.path())?;
        for (s, e, kind) in spans {
            let cname = CStr::from_bytes_with_nul(&names[s..e])
                .with_context(|| format!("{}: bad file name", self.path()))?;
            let Ok(utf8) = cname.to_str() else {
                bail!(
                    "{}/{}: file name is not UTF-8",
                    self.path(),
                    cname.to_string_lossy()
                );
            };
            let len = self.name.len();
            self.name.push('/');
            self.name.push_str(utf8);
            // A directory or file (as the directory entry says) is opened
            // and asked for its metadata through the descriptor: one
            // lookup of the name instead of two (`fstatat`, `openat`).
            let flags = match kind {
                FileType::Directory => Some(DIRECTORY),
                FileType::RegularFile => Some(REGULAR),
                _ => None,
            };
            // One that cannot be opened (an empty file without read
            // permission needs no opening) is stat'ed by name.
            let opened = flags.and_then(|flags| openat(fd, cname, flags, Mode::empty()).ok());
            let st = match &opened {
                Some(opened) => fstat(opened),
                None => statat(fd, cname, AtFlags::SYMLINK_NOFOLLOW),
            }
            .with_context(|| self.path())?;
            self.entry(fd, cname, st, opened)?;
            self.name.truncate(len);
        }
        Ok(())
    }

    fn file<P: rustix::path::Arg + Copy>(
        &mut self,
        dir: BorrowedFd<'_>,
        name: P,
        mode: u32,
        st: &Stat,
        opened: Option<File>,
    ) -> Result<()> {
        let size = st.st_size as u64;
        // The path on disk: for errors, and to read a group's first file.
        let path = self.path();
        let open = || -> Result<File> {
            let fd = openat(dir, name, REGULAR, Mode::empty()).with_context(|| path.clone())?;
            Ok(File::from(fd))
        };
        // Decide or apply the link.
        let mut data_len = None;
        let mut opened = opened;
        let link: Option<String> = match &mut self.policy {
            Policy::Apply {
                links,
                targets,
                seen,
                applied,
            } => match links.get(self.name.as_str()) {
                Some(&target) => {
                    if !seen.contains(target) {
                        bail!("/{}: planned as a hard link to /{target}, but the tree changed since it was planned", self.name);
                    }
                    *applied += 1;
                    Some(target.to_owned())
                }
                None => {
                    if targets.contains(self.name.as_str()) {
                        seen.insert(self.name.clone());
                    }
                    None
                }
            },
            Policy::Decide { classes, made } if size > 0 => {
                let inode = (st.st_dev, st.st_ino);
                match classes.get_mut(&(size, mode)) {
                    None => {
                        let g = SizeClass::new(self.name.clone(), path.clone(), inode, size);
                        classes.insert((size, mode), g);
                        None
                    }
                    Some(g) => {
                        let f = match opened.take() {
                            Some(f) => f,
                            None => open()?,
                        };
                        let found = g.identical(
                            &self.name,
                            &path,
                            inode,
                            &f,
                            &mut self.buf,
                            &mut self.spare,
                        )?;
                        opened = Some(f);
                        if found.in_buffer {
                            data_len = Some(usize::try_from(size)?);
                        }
                        if let Some(target) = &found.same_as {
                            made.push((self.name.clone(), target.clone()));
                        }
                        found.same_as
                    }
                }
            }
            Policy::Decide { .. } => None,
        };
        if let Some(target) = link {
            return self.emit_header(Type::Link, mode, 0, Some(&target));
        }
        self.emit_header(Type::Regular, mode, size, None)?;
        if size == 0 {
            return Ok(());
        }
        let file = match opened {
            Some(f) => f,
            None => open()?,
        };
        match data_len {
            Some(n) => self.sink.content(file, size, Some(&self.buf[..n]), &path)?,
            None => self.sink.content(file, size, None, &path)?,
        }
        self.sink.bytes(padding(size))
    }
}

/// Feeds exactly the first `size` bytes of `f` to `h`, read through
/// `buf` from offset 0 whatever the file's position (the walker may have
/// read the file already, to compare it); a file that ends early is an
/// error naming `path`.
pub fn hash_exact(h: &mut Sha256, f: &File, size: u64, buf: &mut [u8], path: &str) -> Result<()> {
    let mut offset = 0;
    while offset < size {
        let want = buf
            .len()
            .min(usize::try_from(size - offset).unwrap_or(usize::MAX));
        let n = f
            .read_at(&mut buf[..want], offset)
            .with_context(|| path.to_owned())?;
        if n == 0 {
            bail!("{path}: file shrank while read");
        }
        h.update(&buf[..n]);
        offset += n as u64;
    }
    Ok(())
}

/// Fills `buf` from `f` at `offset`; a file that ends early is an error
/// naming `path`.
pub fn read_exactly(f: &File, buf: &mut [u8], offset: u64, path: &str) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let n = f
            .read_at(&mut buf[got..], offset + got as u64)
            .with_context(|| path.to_owned())?;
        if n == 0 {
            bail!("{path}: file shrank while read");
        }
        got += n;
    }
    Ok(())
}

/// A sink that hashes and counts (the layer's digest and size).
pub struct HashSink {
    hasher: Sha256,
    pub size: u64,
    buf: Vec<u8>,
}

impl Default for HashSink {
    fn default() -> Self {
        HashSink {
            hasher: Sha256::new(),
            size: 0,
            buf: vec![0; 256 * 1024],
        }
    }
}

impl HashSink {
    /// (hex digest, size).
    pub fn finish(self) -> (String, u64) {
        (nci_core::hash::hex(&self.hasher.finalize()), self.size)
    }
}

impl TreeSink for HashSink {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.hasher.update(b);
        self.size += b.len() as u64;
        Ok(())
    }

    fn content(&mut self, file: File, size: u64, data: Option<&[u8]>, path: &str) -> Result<()> {
        if let Some(d) = data {
            return self.bytes(d);
        }
        hash_exact(&mut self.hasher, &file, size, &mut self.buf, path)?;
        self.size += size;
        Ok(())
    }
}
