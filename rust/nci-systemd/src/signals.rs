//! Signal names as systemd accepts them (`SIGTERM`, `TERM`, `15`).

use nix::sys::signal::Signal;
use std::str::FromStr;

pub fn parse(s: &str) -> Result<Signal, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("'{s}' is not a signal number"));
    }
    let name = if t.starts_with("SIG") {
        t.to_string()
    } else {
        format!("SIG{t}")
    };
    Signal::from_str(&name).map_err(|_| format!("'{s}' is not a signal name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_short_names() {
        assert_eq!(parse("SIGTERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse("QUIT").unwrap(), Signal::SIGQUIT);
        assert_eq!(parse("9").unwrap(), Signal::SIGKILL);
        assert!(parse("SIGNOPE").is_err());
    }
}
