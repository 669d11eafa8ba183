//! The library's error type: every variant names what the user can fix
//! (an option path, a file, a store path).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec field (named by the Nix option it comes from) has a bad value.
    #[error("{field}: {reason}")]
    InvalidSpec { field: String, reason: String },

    // The causes below are part of the message and not also given as a
    // `source`: printed with their chain (`{:#}`), they would show twice.
    /// A spec file is not valid JSON or does not have the expected shape;
    /// `at` is the field where it went wrong (`users.alice.uid`), empty
    /// at the top.
    #[error("{file}: not a valid spec: {}", syntax_reason(at, cause))]
    SpecSyntax {
        file: PathBuf,
        at: String,
        cause: serde_json::Error,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// Two sources want to put different things at one path in the image.
    #[error("{path}: conflict between {first} and {second}")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
}

/// `at: cause`, the cause cut to a readable length (serde quotes the
/// value it could not take, which may be megabytes).
fn syntax_reason(at: &str, cause: &serde_json::Error) -> String {
    let cause = crate::rules::shorten(&cause.to_string());
    if at.is_empty() || at == "." {
        cause
    } else {
        format!("{at}: {cause}")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A bad spec value. A field or reason quoting a huge value is cut
    /// to a readable length, its size said (`rules::readable`).
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidSpec {
            field: crate::rules::readable(&field.into()),
            reason: crate::rules::readable(&reason.into()),
        }
    }

    /// A spec of another contract version than `expected`: the modules
    /// and the helper reading it (`reader`) come from different versions.
    pub fn unsupported_version(spec: &str, found: u32, expected: u32, reader: &str) -> Self {
        Error::invalid(
            format!("{spec} spec"),
            format!("version {found} is not supported (expected {expected}); rebuild with a matching {reader}"),
        )
    }

    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}

/// Adds the path to an `io::Result`'s error.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
