//! The init's errors: a message with what led to it in front (`a: b: c`,
//! as anyhow prints a chain with `{:#}`). Not anyhow itself: the init
//! shows nothing but the message, and anyhow's backtrace capture is code
//! an image would carry (docs/s6.md, "Size of nci-init").

use std::fmt;

/// An error's whole message.
pub struct Error(String);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(message: impl fmt::Display) -> Error {
        Error(message.to_string())
    }

    /// This error with `context` in front.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error(format!("{context}: {}", self.0))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Any standard error, with its sources after it.
impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        Error(message)
    }
}

/// `.context(...)` and `.with_context(|| ...)` on results and options,
/// as anyhow's.
pub trait Context<T> {
    fn context(self, context: impl fmt::Display) -> Result<T>;
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{context}: {}", e.into())))
    }
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {}", context(), e.into())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(context()))
    }
}

/// Returns an error with a formatted message.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::msg(format!($($arg)*)))
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_come_first_and_sources_last() {
        let e: Result<()> = Err(std::io::Error::other("disk full"))
            .context("b")
            .with_context(|| "a");
        assert_eq!(e.unwrap_err().to_string(), "a: b: disk full");
        assert_eq!(None::<u8>.context("none").unwrap_err().to_string(), "none");
    }
}
