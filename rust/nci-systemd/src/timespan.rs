//! systemd time spans (`systemd.time(7)`): "90", "1min 30s", "500ms",
//! "infinity". A bare number is seconds.

use std::time::Duration;

/// Why a time span was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    #[error("an empty time span")]
    Empty,
    #[error("'{0}' is not a time span")]
    NotASpan(String),
    #[error("'{span}': unknown time unit '{unit}'")]
    UnknownUnit { span: String, unit: String },
}

/// `None` is `infinity`.
pub fn parse(s: &str) -> Result<Option<Duration>, SpanError> {
    let s = s.trim();
    if s == "infinity" {
        return Ok(None);
    }
    if s.is_empty() {
        return Err(SpanError::Empty);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(SpanError::NotASpan(s.to_owned()));
        }
        let value: f64 = rest[..num_end]
            .parse()
            .map_err(|_| SpanError::NotASpan(s.to_owned()))?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let factor = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "us" | "usec" | "µs" => 1e-6,
            "ms" | "msec" => 1e-3,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 604800.0,
            _ => {
                return Err(SpanError::UnknownUnit {
                    span: s.to_owned(),
                    unit: unit.to_owned(),
                })
            }
        };
        total += value * factor;
    }
    Ok(Some(Duration::from_secs_f64(total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_systemd_spans() {
        assert_eq!(parse("90").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(parse("1min 30s").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(parse("2min30s").unwrap(), Some(Duration::from_secs(150)));
        assert_eq!(parse("500ms").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(parse("10s").unwrap(), Some(Duration::from_secs(10)));
        assert_eq!(parse("infinity").unwrap(), None);
        assert_eq!(parse("0.5").unwrap(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn rejects_garbage() {
        let e = |s: &str| parse(s).unwrap_err().to_string();
        assert_eq!(e("soon"), "'soon' is not a time span");
        assert_eq!(e("5 parsecs"), "'5 parsecs': unknown time unit 'parsecs'");
        assert_eq!(e(" "), "an empty time span");
        assert_eq!(e("1..5s"), "'1..5s' is not a time span");
    }
}
