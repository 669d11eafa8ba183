//! Linux signals by name and number: the one table every crate reads
//! (`image.stopSignal`'s rule, s6's stop signals, systemd's `KillSignal=`
//! and exit sets).

/// The signals Linux has, by name without `SIG`, with their numbers
/// (`IOT` is `ABRT`'s other name). `podman stop` and `docker stop` take
/// these names, in any case, with or without `SIG`, or a number from 1
/// to 64.
pub const SIGNALS: [(&str, i32); 32] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// Why a signal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("'{0}' is not a signal number")]
    Number(String),
    #[error("'{0}' is not a signal name")]
    Name(String),
}

/// The number of a signal named as the table writes it, `SIG` optional
/// (`TERM`, `SIGTERM` → 15). Case counts, as in systemd.
pub fn number(name: &str) -> Option<i32> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|(_, num)| *num)
}

/// The name of a signal number, without `SIG` (6 → `ABRT`).
pub fn name(number: i32) -> Option<&'static str> {
    SIGNALS.iter().find(|(_, n)| *n == number).map(|(n, _)| *n)
}

/// A signal as systemd reads one (`KillSignal=`, exit sets): `SIGTERM`,
/// `TERM` or `15`, blanks around it ignored.
pub fn parse(s: &str) -> Result<i32, SignalError> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return name(n)
            .map(|_| n)
            .ok_or_else(|| SignalError::Number(s.to_owned()));
    }
    number(t).ok_or_else(|| SignalError::Name(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_short_names() {
        assert_eq!(parse("SIGTERM"), Ok(15));
        assert_eq!(parse("QUIT"), Ok(3));
        assert_eq!(parse(" 9 "), Ok(9));
        assert_eq!(parse("SIGIOT"), Ok(6));
        assert_eq!(name(6), Some("ABRT"));
        assert_eq!(
            parse("SIGNOPE").unwrap_err().to_string(),
            "'SIGNOPE' is not a signal name"
        );
        assert_eq!(
            parse("32").unwrap_err().to_string(),
            "'32' is not a signal number"
        );
        assert_eq!(parse("term"), Err(SignalError::Name("term".into())));
    }

    #[test]
    fn the_numbers_are_linuxs() {
        // Every number from 1 to 31 has a name, each name one number.
        for n in 1..=31 {
            assert!(name(n).is_some(), "{n}");
        }
        assert_eq!(number("KILL"), Some(9));
        assert_eq!(number("PWR"), Some(30));
        assert_eq!(number("SIGWINCH"), Some(28));
    }
}
