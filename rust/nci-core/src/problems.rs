//! Every problem a spec has, reported together (as NixOS reports failed
//! assertions): one line each, each naming the option to fix.

use crate::error::Error;
use std::fmt;

/// A non-empty list of spec errors.
#[derive(Debug)]
pub struct Problems(pub Vec<Error>);

impl Problems {
    /// `Ok(value)` when no problem was found, the problems otherwise.
    pub fn or_ok<T>(problems: Vec<Error>, value: T) -> Result<T, Problems> {
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(Problems(problems))
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for p in many {
                    write!(f, "\n- {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Problems {}

/// `users.users.alice`, or `users.users."a b"` when the name needs quotes,
/// followed by `.field` when one is given: how the module system names an
/// option of an attribute set of submodules.
pub fn option_path(prefix: &str, attr: &str, field: &str) -> String {
    let plain = !attr.is_empty()
        && attr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '\'')
        && !attr.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '\'');
    let attr = if plain {
        attr.to_owned()
    } else {
        format!("{attr:?}")
    };
    if field.is_empty() {
        format!("{prefix}.{attr}")
    } else {
        format!("{prefix}.{attr}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_paths_quote_like_nix() {
        assert_eq!(
            option_path("users.users", "alice", "uid"),
            "users.users.alice.uid"
        );
        assert_eq!(
            option_path("environment.etc", "ssl/certs/ca.crt", ""),
            "environment.etc.\"ssl/certs/ca.crt\""
        );
        assert_eq!(
            option_path("environment.etc", "nsswitch.conf", "mode"),
            "environment.etc.\"nsswitch.conf\".mode"
        );
    }

    #[test]
    fn one_problem_is_one_line_many_are_a_list() {
        let one = Problems(vec![Error::invalid("a", "bad")]);
        assert_eq!(one.to_string(), "a: bad");
        let two = Problems(vec![
            Error::invalid("a", "bad"),
            Error::invalid("b", "worse"),
        ]);
        assert_eq!(two.to_string(), "2 problems:\n- a: bad\n- b: worse");
    }
}
