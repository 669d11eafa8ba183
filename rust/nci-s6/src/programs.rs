//! Build time: copies a few programs of the s6 package (`s6.programs`)
//! into an output of their own, so that the image carries those and not
//! the whole package (docs/s6.md, "Which s6 programs").
//!
//! A package may name its own store path inside its programs: nixpkgs
//! builds s6 with `--enable-absolute-paths`, so `s6-svscan` runs
//! `<s6>/bin/s6-supervise` and `s6-svwait` runs `<s6>/libexec/s6-ftrigrd`.
//! The output has the package's name, so its store path has the same
//! length: every occurrence of the package's hash becomes the output's,
//! and what the copied programs name in the package is copied too
//! (transitively; a directory whole). The output then refers to the
//! package no more, and its closure is the programs and their libraries.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The hash and the name of a store path (`<dir>/<hash>-<name>`).
fn hash_and_name(p: &Path) -> Result<(&str, &str)> {
    p.file_name()
        .and_then(|b| b.to_str())
        .and_then(|b| b.split_once('-'))
        .filter(|(hash, _)| hash.len() == 32)
        .with_context(|| format!("{}: not a store path", p.display()))
}

/// Whether `name` can be a file of `bin/`.
fn is_program_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

/// Copies `bin/<program>` of `package` for each of `programs` into `out`
/// (which must not exist), with what they name in the package. `option`
/// is what the user set (`s6.programs`), for the errors. On error,
/// nothing is left.
pub fn copy(package: &Path, programs: &[String], option: &str, out: &Path) -> Result<()> {
    let (from_hash, from_name) = hash_and_name(package)?;
    let (to_hash, to_name) = hash_and_name(out)?;
    if from_name != to_name {
        bail!(
            "{}: the output must have the package's name ({from_name}, not {to_name}) so that the package's store path in its programs can become the output's",
            out.display()
        );
    }
    let bad: Vec<&str> = programs
        .iter()
        .map(String::as_str)
        .filter(|p| !is_program_name(p))
        .collect();
    if !bad.is_empty() {
        bail!("{option}: not a program name: '{}'", bad.join("', '"));
    }
    let bin = package.join("bin");
    let missing: Vec<&str> = programs
        .iter()
        .map(String::as_str)
        .filter(|p| !bin.join(p).is_file())
        .collect();
    if !missing.is_empty() {
        let mut has: Vec<String> = fs::read_dir(&bin)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        has.sort();
        bail!(
            "{option}: {} {} not in {} ({})",
            if missing.len() == 1 {
                "program"
            } else {
                "programs"
            },
            quoted(&missing),
            bin.display(),
            if has.is_empty() {
                "which has no programs".to_owned()
            } else {
                format!("it has: {}", has.join(", "))
            }
        );
    }
    let copier = Copier {
        package,
        out,
        from_hash: from_hash.as_bytes(),
        to_hash: to_hash.as_bytes(),
    };
    let result = copier.run(programs.iter().map(|p| PathBuf::from("bin").join(p)));
    if result.is_err() {
        let _ = fs::remove_dir_all(out);
    }
    result
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Copier<'a> {
    package: &'a Path,
    out: &'a Path,
    from_hash: &'a [u8],
    to_hash: &'a [u8],
}

impl Copier<'_> {
    /// Copies the files (relative to the package) and what they name.
    fn run(&self, first: impl Iterator<Item = PathBuf>) -> Result<()> {
        fs::create_dir(self.out).with_context(|| self.out.display().to_string())?;
        let mut queue: Vec<PathBuf> = first.collect();
        let mut done = BTreeSet::new();
        while let Some(rel) = queue.pop() {
            if !done.insert(rel.clone()) {
                continue;
            }
            let src = self.package.join(&rel);
            if src.is_dir() {
                for entry in fs::read_dir(&src).with_context(|| src.display().to_string())? {
                    let entry = entry.with_context(|| src.display().to_string())?;
                    queue.push(rel.join(entry.file_name()));
                }
                continue;
            }
            let bytes = fs::read(&src).with_context(|| src.display().to_string())?;
            queue.extend(self.named(&bytes));
            let dest = self.out.join(&rel);
            if let Some(dir) = dest.parent() {
                fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
            }
            fs::write(&dest, self.rewrite(bytes)).with_context(|| dest.display().to_string())?;
            let mode = fs::metadata(&src)
                .with_context(|| src.display().to_string())?
                .permissions()
                .mode();
            let mode = if mode & 0o111 != 0 { 0o555 } else { 0o444 };
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                .with_context(|| dest.display().to_string())?;
        }
        // Directories read-only too, as in the store.
        for rel in done.iter().filter_map(|r| r.parent()) {
            let dir = self.out.join(rel);
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o555))
                .with_context(|| dir.display().to_string())?;
        }
        Ok(())
    }

    /// The files of the package that `bytes` names
    /// (`<package>/<relative path>`, ending at a byte no path has).
    fn named(&self, bytes: &[u8]) -> Vec<PathBuf> {
        let prefix = self.package.as_os_str().as_encoded_bytes();
        let path_byte = |b: &u8| b.is_ascii_alphanumeric() || b"/._+-@".contains(b);
        let mut found = Vec::new();
        let mut at = 0;
        while let Some(i) = find(&bytes[at..], prefix) {
            let start = at + i + prefix.len();
            let len = bytes[start..].iter().take_while(|b| path_byte(b)).count();
            let rel = String::from_utf8_lossy(&bytes[start..start + len]);
            let rel = Path::new(rel.trim_matches('/'));
            // `..` could leave the package; the package itself (no
            // relative path) is not copied whole.
            let inside = rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if inside && !rel.as_os_str().is_empty() && self.package.join(rel).exists() {
                found.push(rel.to_owned());
            }
            at = start;
        }
        found
    }

    /// `bytes` with every occurrence of the package's hash made the output's.
    fn rewrite(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        let mut at = 0;
        while let Some(i) = find(&bytes[at..], self.from_hash) {
            let start = at + i;
            bytes[start..start + self.to_hash.len()].copy_from_slice(self.to_hash);
            at = start + self.to_hash.len();
        }
        bytes
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    /// A fake store with an s6 whose programs name each other, and an
    /// output path of the same name.
    fn store() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let pkg = d.path().join(format!("{A}-s6-2.13"));
        let p = pkg.display().to_string();
        fs::create_dir_all(pkg.join("bin")).unwrap();
        fs::create_dir_all(pkg.join("libexec")).unwrap();
        fs::create_dir_all(pkg.join("lib")).unwrap();
        let write = |rel: &str, text: String, mode: u32| {
            fs::write(pkg.join(rel), text).unwrap();
            fs::set_permissions(pkg.join(rel), fs::Permissions::from_mode(mode)).unwrap();
        };
        write(
            "bin/s6-svscan",
            format!("ELF\0{p}/bin/s6-supervise\0x"),
            0o555,
        );
        write("bin/s6-supervise", "ELF\0plain".into(), 0o555);
        write(
            "bin/s6-svwait",
            format!("ELF\0{p}/libexec/s6-ftrigrd\0"),
            0o555,
        );
        write("bin/s6-other", "ELF\0other".into(), 0o555);
        write("libexec/s6-ftrigrd", format!("ELF\0{p}/lib\0{A}\0"), 0o555);
        write("lib/libs6.so", "lib".into(), 0o444);
        let out = d.path().join(format!("{B}-s6-2.13"));
        (d, pkg, out)
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    v.push(p.strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        v.sort();
        v
    }

    #[test]
    fn copies_the_programs_and_what_they_name_with_the_output_path() {
        let (_d, pkg, out) = store();
        copy(
            &pkg,
            &names(&["s6-svscan", "s6-svwait"]),
            "s6.programs",
            &out,
        )
        .unwrap();
        assert_eq!(
            files(&out),
            [
                "bin/s6-supervise",
                "bin/s6-svscan",
                "bin/s6-svwait",
                "lib/libs6.so",
                "libexec/s6-ftrigrd"
            ]
        );
        let svscan = fs::read_to_string(out.join("bin/s6-svscan")).unwrap();
        assert_eq!(
            svscan,
            format!("ELF\0{}/bin/s6-supervise\0x", out.display())
        );
        // Bare hashes too: nothing refers to the package any more.
        let ftrigrd = fs::read_to_string(out.join("libexec/s6-ftrigrd")).unwrap();
        assert!(ftrigrd.ends_with(&format!("\0{B}\0")), "{ftrigrd:?}");
        for f in files(&out) {
            assert!(
                !fs::read_to_string(out.join(&f)).unwrap().contains(A),
                "{f}"
            );
        }
        let mode = |f: &str| fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("bin/s6-svscan"), 0o555);
        assert_eq!(mode("lib/libs6.so"), 0o444);
    }

    #[test]
    fn a_missing_program_is_named_with_what_the_package_has() {
        let (_d, pkg, out) = store();
        let err = copy(&pkg, &names(&["s6-svscan", "s6-nope"]), "s6.programs", &out).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "s6.programs: program 's6-nope' not in {}/bin (it has: s6-other, s6-supervise, s6-svscan, s6-svwait)",
                pkg.display()
            )
        );
        assert!(!out.exists());
        let err = copy(&pkg, &names(&["a", "b"]), "s6.programs", &out).unwrap_err();
        assert!(
            format!("{err}").starts_with("s6.programs: programs 'a', 'b' not in"),
            "{err}"
        );
    }

    #[test]
    fn a_path_is_not_a_program_name() {
        let (_d, pkg, out) = store();
        let err = copy(
            &pkg,
            &names(&["../lib/libs6.so", ".."]),
            "s6.programs",
            &out,
        )
        .unwrap_err();
        assert_eq!(
            format!("{err}"),
            "s6.programs: not a program name: '../lib/libs6.so', '..'"
        );
    }

    #[test]
    fn the_output_must_have_the_package_name() {
        let (d, pkg, _) = store();
        let out = d.path().join(format!("{B}-s6-programs"));
        let err = copy(&pkg, &names(&["s6-svscan"]), "s6.programs", &out).unwrap_err();
        assert!(
            format!("{err}").contains("must have the package's name (s6-2.13, not s6-programs)"),
            "{err}"
        );
    }
}
