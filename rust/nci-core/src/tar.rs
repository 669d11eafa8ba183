//! Deterministic tar headers: entries carry every header field
//! explicitly (no host uid, mtime or umask leaks in) and long names use
//! PAX records. The writers (nci-image) put the members together: header
//! blocks, content, [`padding`].

use std::path::PathBuf;

/// The mtime of every entry: Nix's store timestamp, so images do not
/// depend on the day they are built.
pub const MTIME: u64 = 1;

const BLOCK: u64 = 512;
const MAX_USTAR_SIZE: u64 = 0o77777777777;
const MAX_USTAR_ID: u64 = 0o7777777;

/// What an entry is, and where its content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Directory,
    /// A regular file copied from the host filesystem.
    File {
        source: PathBuf,
        size: u64,
    },
    /// A regular file with in-memory content.
    Bytes(Vec<u8>),
    Symlink {
        target: String,
    },
    /// A hard link to an earlier entry of the same archive.
    HardLink {
        target: String,
    },
}

/// One archive member. `path` is relative (no leading `/`), without a
/// trailing slash for directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub kind: Kind,
}

impl Entry {
    pub fn directory(path: impl Into<String>, mode: u32) -> Self {
        Entry::new(path, mode, Kind::Directory)
    }

    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        Entry::new(
            path,
            0o777,
            Kind::Symlink {
                target: target.into(),
            },
        )
    }

    pub fn bytes(path: impl Into<String>, mode: u32, content: Vec<u8>) -> Self {
        Entry::new(path, mode, Kind::Bytes(content))
    }

    pub fn new(path: impl Into<String>, mode: u32, kind: Kind) -> Self {
        Entry {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
            kind,
        }
    }

    /// The number of content bytes (0 for anything but files).
    pub fn content_size(&self) -> u64 {
        match &self.kind {
            Kind::File { size, .. } => *size,
            Kind::Bytes(b) => b.len() as u64,
            _ => 0,
        }
    }

    /// The name as stored in the archive (directories end with `/`).
    fn archive_name(&self) -> String {
        match self.kind {
            Kind::Directory => format!("{}/", self.path),
            _ => self.path.clone(),
        }
    }

    fn link_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Symlink { target } | Kind::HardLink { target } => Some(target),
            _ => None,
        }
    }

    /// The header blocks of this entry: a PAX extended header when a name,
    /// link target, size or owner does not fit ustar, then the ustar
    /// header.
    pub fn header_blocks(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        let kind = match self.kind {
            Kind::Directory => Type::Directory,
            Kind::File { .. } | Kind::Bytes(_) => Type::Regular,
            Kind::Symlink { .. } => Type::Symlink,
            Kind::HardLink { .. } => Type::Link,
        };
        let name = self.archive_name();
        header_into(
            &mut out,
            &Header {
                name: &name,
                kind,
                mode: self.mode,
                uid: self.uid,
                gid: self.gid,
                size: self.content_size(),
                link: self.link_name(),
            },
        );
        out
    }
}

/// The type of a tar member, for [`header_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Directory,
    Regular,
    Symlink,
    Link,
}

/// The fields of one member's header, borrowed (no allocation per entry).
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The archive name (directories end with `/`).
    pub name: &'a str,
    pub kind: Type,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Content bytes (0 for anything but regular files).
    pub size: u64,
    /// Symlink or hard link target.
    pub link: Option<&'a str>,
}

/// Appends the header blocks of a member to `out`: a PAX extended header
/// when a name, link target, size or owner does not fit ustar, then the
/// ustar header. [`Entry::header_blocks`] is this for an [`Entry`].
pub fn header_into(out: &mut Vec<u8>, m: &Header<'_>) {
    let name = m.name;
    let ustar_name = fits_ustar(name);
    let long_link = m
        .link
        .is_some_and(|link| link.len() > 100 || !link.is_ascii());
    if !ustar_name
        || long_link
        || m.size > MAX_USTAR_SIZE
        || m.uid > MAX_USTAR_ID
        || m.gid > MAX_USTAR_ID
    {
        let mut pax = Vec::new();
        if !ustar_name {
            pax_record(&mut pax, "path", name);
        }
        if let Some(link) = m.link.filter(|_| long_link) {
            pax_record(&mut pax, "linkpath", link);
        }
        // ustar's numeric fields: 11 octal digits of size, 7 of ids.
        if m.size > MAX_USTAR_SIZE {
            pax_record(&mut pax, "size", &m.size.to_string());
        }
        if m.uid > MAX_USTAR_ID {
            pax_record(&mut pax, "uid", &m.uid.to_string());
        }
        if m.gid > MAX_USTAR_ID {
            pax_record(&mut pax, "gid", &m.gid.to_string());
        }
        let mut h = base_header(tar::EntryType::XHeader, 0o644, 0, 0, pax.len() as u64);
        set_name_bytes(&mut h, b"././@PaxHeader");
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&pax);
        out.extend_from_slice(padding(pax.len() as u64));
    }
    let kind = match m.kind {
        Type::Directory => tar::EntryType::Directory,
        Type::Regular => tar::EntryType::Regular,
        Type::Symlink => tar::EntryType::Symlink,
        Type::Link => tar::EntryType::Link,
    };
    let mut h = base_header(
        kind,
        m.mode,
        m.uid.min(MAX_USTAR_ID),
        m.gid.min(MAX_USTAR_ID),
        m.size.min(MAX_USTAR_SIZE),
    );
    if ustar_name {
        set_ustar_name(&mut h, name);
    } else {
        // Readers use the PAX path; the header keeps a truncated hint
        // (a short name is there because it is not ASCII).
        set_name_bytes(&mut h, &name.as_bytes()[..name.len().min(100)]);
    }
    if let Some(link) = m.link {
        let bytes = link.as_bytes();
        h.as_old_mut().linkname[..bytes.len().min(100)]
            .copy_from_slice(&bytes[..bytes.len().min(100)]);
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
}

static ZEROS: [u8; 1024] = [0; 1024];

/// The header blocks of a regular-file member of `size` bytes whose
/// content the caller streams itself, followed by [`padding`].
pub fn file_header(name: &str, mode: u32, size: u64) -> Vec<u8> {
    let kind = Kind::File {
        source: PathBuf::new(),
        size,
    };
    Entry::new(name, mode, kind).header_blocks()
}

/// The zero bytes that complete a member of `size` bytes to a block.
pub fn padding(size: u64) -> &'static [u8] {
    &ZEROS[..(round_up(size) - size) as usize]
}

fn base_header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(MTIME);
    h.set_size(size);
    h
}

fn fits_ustar(name: &str) -> bool {
    name.is_ascii() && (name.len() <= 100 || split_ustar(name).is_some())
}

/// Splits a long name into ustar's prefix (≤155) and name (≤100) at a `/`.
fn split_ustar(name: &str) -> Option<(&str, &str)> {
    let bytes = name.as_bytes();
    (0..bytes.len().min(156))
        .rev()
        .filter(|&i| bytes[i] == b'/')
        .map(|i| (&name[..i], &name[i + 1..]))
        .find(|(_, rest)| rest.len() <= 100 && !rest.is_empty())
}

fn set_ustar_name(h: &mut tar::Header, name: &str) {
    if name.len() <= 100 {
        set_name_bytes(h, name.as_bytes());
    } else if let Some((prefix, rest)) = split_ustar(name) {
        set_name_bytes(h, rest.as_bytes());
        if let Some(u) = h.as_ustar_mut() {
            u.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
        }
    }
}

fn set_name_bytes(h: &mut tar::Header, name: &[u8]) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name);
}

/// One PAX record: `<len> <key>=<value>\n`, where len counts itself.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

/// `n` rounded up to whole 512-byte blocks.
pub fn round_up(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An archive of in-memory entries, as the writers put one together:
    /// header blocks, content, padding, then two zero blocks.
    fn write_archive(entries: &[Entry], out: &mut Vec<u8>) {
        for e in entries {
            out.extend_from_slice(&e.header_blocks());
            if let Kind::Bytes(b) = &e.kind {
                out.extend_from_slice(b);
            }
            out.extend_from_slice(padding(e.content_size()));
        }
        out.extend_from_slice(&ZEROS);
    }

    fn read_back(entries: &[Entry]) -> Vec<(String, u64, String)> {
        let mut bytes = Vec::new();
        write_archive(entries, &mut bytes);
        let mut ar = tar::Archive::new(&bytes[..]);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mtime().unwrap(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn long_names_and_links_round_trip_through_pax() {
        let long = format!("nix/store/{}", "x".repeat(300));
        let target = format!("/nix/store/{}", "y".repeat(200));
        let entries = vec![
            Entry::directory("nix", 0o755),
            Entry::bytes(long.clone(), 0o444, b"hi".to_vec()),
            Entry::symlink("link", target.clone()),
        ];
        let got = read_back(&entries);
        assert_eq!(got[0].0, "nix/");
        assert_eq!(got[1].0, long);
        assert_eq!(got[2].2, target);
        assert!(got.iter().all(|g| g.1 == MTIME));
    }

    /// A short name that is not ASCII goes through PAX too (this
    /// panicked, cutting the header's hint at 100 bytes of a shorter name).
    #[test]
    fn short_names_and_links_that_are_not_ascii_round_trip_through_pax() {
        let entries = vec![
            Entry::directory("nix/store/x-é", 0o555),
            Entry::symlink("nix/store/x-é/ü", "../ñ"),
        ];
        let got = read_back(&entries);
        assert_eq!(got[0].0, "nix/store/x-é/");
        assert_eq!(
            (got[1].0.as_str(), got[1].2.as_str()),
            ("nix/store/x-é/ü", "../ñ")
        );
    }

    #[test]
    fn names_between_100_and_255_use_the_ustar_prefix() {
        let name = format!("{}/{}", "a".repeat(120), "b".repeat(90));
        let got = read_back(&[Entry::bytes(name.clone(), 0o644, vec![])]);
        assert_eq!(got[0].0, name);
    }

    #[test]
    fn pax_record_length_counts_its_own_digits() {
        let mut v = Vec::new();
        pax_record(&mut v, "path", &"p".repeat(93));
        let s = String::from_utf8(v).unwrap();
        let (len, _) = s.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), s.len());
    }

    #[test]
    fn big_ids_use_pax_records() {
        let mut e = Entry::bytes("f", 0o644, b"x".to_vec());
        e.uid = 5_000_000;
        let mut bytes = Vec::new();
        write_archive(&[e], &mut bytes);
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut got = ar.entries().unwrap().next().unwrap().unwrap();
        let pax: Vec<String> = got
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|x| x.unwrap().key().unwrap().to_owned())
            .collect();
        assert_eq!(pax, ["uid"]);
    }

    #[test]
    fn same_entries_give_same_bytes() {
        let entries = vec![Entry::bytes("a", 0o600, b"x".to_vec())];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_archive(&entries, &mut a);
        write_archive(&entries, &mut b);
        assert_eq!(a, b);
    }
}
