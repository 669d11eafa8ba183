//! systemd command lines (`systemd.service(5)`, "Command lines"): the
//! prefixes (`@`, `-`, `:`, `+`, `!`, `!!`), words with C-style quoting,
//! `%` specifiers and `$VAR` / `${VAR}` expansion.

use std::collections::BTreeMap;

/// What the prefixes of a command ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-`: a failure is logged and ignored.
    pub ignore_failure: bool,
    /// `@`: the second word is `argv[0]`.
    pub argv0: bool,
    /// `:`: no `$` expansion.
    pub no_expand: bool,
    /// `+`, `!`, `!!`: run with full privileges (no User=/Group=,
    /// capabilities or other restrictions).
    pub privileged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Spec(char),
    /// A variable; `true` when written `${NAME}`.
    Var(String, bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    pieces: Vec<Piece>,
    /// An unquoted `$NAME` alone: expands to several words.
    splits: bool,
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub raw: String,
    pub flags: Flags,
    words: Vec<Word>,
}

/// What `%` specifiers resolve to.
#[derive(Debug, Clone, Default)]
pub struct Specifiers {
    pub unit: String,
    pub user: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    pub hostname: String,
}

const SPECIFIERS: &str = "nNpPiIjJfthSCLETVuUgGsHlmbavwWA%";

impl Specifiers {
    fn resolve(&self, c: char) -> String {
        match c {
            'n' => format!("{}.service", self.unit),
            'N' => self.unit.clone(),
            // The prefix: the name before `@`.
            'p' | 'P' | 'j' | 'J' => self.unit.split('@').next().unwrap_or("").to_string(),
            'i' | 'I' => self
                .unit
                .split_once('@')
                .map(|(_, i)| i.to_string())
                .unwrap_or_default(),
            'f' => format!("/{}", self.unit),
            't' => "/run".into(),
            'S' => "/var/lib".into(),
            'C' => "/var/cache".into(),
            'L' => "/var/log".into(),
            'E' => "/etc".into(),
            'T' => "/tmp".into(),
            'V' => "/var/tmp".into(),
            'h' => self.home.clone(),
            's' => self.shell.clone(),
            'u' => self.user.clone(),
            'U' => self.uid.to_string(),
            'g' => self.group.clone(),
            'G' => self.gid.to_string(),
            'H' | 'l' => self.hostname.clone(),
            'm' => std::fs::read_to_string("/etc/machine-id")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            'b' => std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().replace('-', ""))
                .unwrap_or_default(),
            'a' => std::env::consts::ARCH.replace('_', "-"),
            'v' => std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            '%' => "%".into(),
            _ => String::new(),
        }
    }
}

/// A command line that cannot be read, quoted, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{line}': {kind}")]
pub struct LineError {
    pub line: String,
    pub kind: LineErrorKind,
}

/// Why a command line cannot be read (systemd.service(5), "Command
/// lines").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineErrorKind {
    #[error("no command")]
    NoCommand,
    #[error("'@' needs the executable and argv[0]")]
    Argv0WithoutCommand,
    #[error("a prefix without a command")]
    PrefixWithoutCommand,
    #[error("a trailing backslash")]
    TrailingBackslash,
    #[error("bad \\x escape")]
    BadHexEscape,
    #[error("a trailing '%'")]
    TrailingPercent,
    #[error("unknown specifier '%{0}'")]
    UnknownSpecifier(char),
    #[error("'${{' without '}}'")]
    UnclosedBrace,
    #[error("an unterminated quote")]
    UnterminatedQuote,
}

fn line_error(line: &str, kind: LineErrorKind) -> LineError {
    LineError {
        line: line.to_owned(),
        kind,
    }
}

/// Parses a setting holding one command line (or several, separated by
/// a lone `;`).
pub fn parse(raw: &str) -> Result<Vec<Command>, LineError> {
    let mut commands = Vec::new();
    let mut current: Vec<Word> = Vec::new();
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    let mut flags = Flags::default();
    let mut at_start = true;
    let mut start_raw = 0;
    let finish = |words: Vec<Word>, flags: Flags, raw: String, out: &mut Vec<Command>| {
        if words.is_empty() {
            return Err(line_error(&raw, LineErrorKind::NoCommand));
        }
        if flags.argv0 && words.len() < 2 {
            return Err(line_error(&raw, LineErrorKind::Argv0WithoutCommand));
        }
        out.push(Command { raw, flags, words });
        Ok(())
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if at_start {
            // Prefixes, in any order, before the executable.
            let mut j = i;
            while j < chars.len() && "@-:+!".contains(chars[j]) {
                match chars[j] {
                    '@' => flags.argv0 = true,
                    '-' => flags.ignore_failure = true,
                    ':' => flags.no_expand = true,
                    _ => flags.privileged = true,
                }
                j += 1;
            }
            i = j;
            at_start = false;
            if i >= chars.len() || chars[i].is_whitespace() {
                return Err(line_error(raw, LineErrorKind::PrefixWithoutCommand));
            }
        }
        // A lone `;` separates commands.
        if c == ';' && (i + 1 == chars.len() || chars[i + 1].is_whitespace()) && !current.is_empty()
        {
            let text: String = chars[start_raw..i].iter().collect();
            finish(
                std::mem::take(&mut current),
                std::mem::take(&mut flags),
                text.trim().to_string(),
                &mut commands,
            )?;
            i += 1;
            at_start = true;
            start_raw = i;
            continue;
        }
        let (word, next) = parse_word(&chars, i, raw, flags.no_expand)?;
        current.push(word);
        i = next;
    }
    let text: String = chars[start_raw..].iter().collect();
    finish(current, flags, text.trim().to_string(), &mut commands)?;
    Ok(commands)
}

fn parse_word(
    chars: &[char],
    mut i: usize,
    raw: &str,
    no_expand: bool,
) -> Result<(Word, usize), LineError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut quote: Option<char> = None;
    let mut quoted = false;
    let push_lit = |lit: &mut String, pieces: &mut Vec<Piece>| {
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(lit)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match (c, quote) {
            (c, None) if c.is_whitespace() => break,
            ('"' | '\'', None) => {
                quote = Some(c);
                quoted = true;
                i += 1;
            }
            (c, Some(q)) if c == q => {
                quote = None;
                i += 1;
            }
            ('\\', _) => {
                let n = chars
                    .get(i + 1)
                    .ok_or_else(|| line_error(raw, LineErrorKind::TrailingBackslash))?;
                i += 2;
                match n {
                    'n' => lit.push('\n'),
                    't' => lit.push('\t'),
                    'r' => lit.push('\r'),
                    'a' => lit.push('\x07'),
                    'b' => lit.push('\x08'),
                    'f' => lit.push('\x0c'),
                    'v' => lit.push('\x0b'),
                    's' => lit.push(' '),
                    'x' => {
                        let hex: String = chars.get(i..i + 2).unwrap_or(&[]).iter().collect();
                        let v = u8::from_str_radix(&hex, 16)
                            .map_err(|_| line_error(raw, LineErrorKind::BadHexEscape))?;
                        lit.push(v as char);
                        i += 2;
                    }
                    other => lit.push(*other),
                }
            }
            ('%', _) => {
                let n = *chars
                    .get(i + 1)
                    .ok_or_else(|| line_error(raw, LineErrorKind::TrailingPercent))?;
                if !SPECIFIERS.contains(n) {
                    return Err(line_error(raw, LineErrorKind::UnknownSpecifier(n)));
                }
                push_lit(&mut lit, &mut pieces);
                pieces.push(Piece::Spec(n));
                i += 2;
            }
            ('$', _) if !no_expand => match chars.get(i + 1) {
                Some('$') => {
                    lit.push('$');
                    i += 2;
                }
                Some('{') => {
                    let end = chars[i + 2..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or_else(|| line_error(raw, LineErrorKind::UnclosedBrace))?;
                    let name: String = chars[i + 2..i + 2 + end].iter().collect();
                    push_lit(&mut lit, &mut pieces);
                    pieces.push(Piece::Var(name, true));
                    i += 3 + end;
                }
                Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|&c| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(chars.len() - i - 1);
                    let name: String = chars[i + 1..i + 1 + end].iter().collect();
                    push_lit(&mut lit, &mut pieces);
                    pieces.push(Piece::Var(name, false));
                    i += 1 + end;
                }
                _ => {
                    lit.push('$');
                    i += 1;
                }
            },
            (c, _) => {
                lit.push(c);
                i += 1;
            }
        }
    }
    if quote.is_some() {
        return Err(line_error(raw, LineErrorKind::UnterminatedQuote));
    }
    push_lit(&mut lit, &mut pieces);
    // `$NAME` alone and unquoted splits into words; `${NAME}` never does.
    let splits = !quoted && pieces.len() == 1 && matches!(&pieces[0], Piece::Var(_, false));
    if pieces.is_empty() {
        pieces.push(Piece::Lit(String::new()));
    }
    Ok((Word { pieces, splits }, i))
}

impl Command {
    /// The argument vector: `(executable, argv)`, `argv[0]` included.
    pub fn argv(&self, spec: &Specifiers, env: &BTreeMap<String, String>) -> (String, Vec<String>) {
        let mut out: Vec<String> = Vec::new();
        for w in &self.words {
            if w.splits {
                if let Some(Piece::Var(name, _)) = w.pieces.first() {
                    if let Some(v) = env.get(name) {
                        out.extend(v.split_whitespace().map(str::to_string));
                    }
                    continue;
                }
            }
            let mut s = String::new();
            for p in &w.pieces {
                match p {
                    Piece::Lit(l) => s.push_str(l),
                    Piece::Spec(c) => s.push_str(&spec.resolve(*c)),
                    Piece::Var(name, _) => {
                        s.push_str(env.get(name).map(String::as_str).unwrap_or(""))
                    }
                }
            }
            out.push(s);
        }
        if out.is_empty() {
            return (String::new(), out);
        }
        let exe = out.remove(0);
        if self.flags.argv0 && !out.is_empty() {
            (exe, out)
        } else {
            let mut argv = vec![exe.clone()];
            argv.extend(out);
            (exe, argv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn argv(raw: &str, e: &BTreeMap<String, String>) -> (String, Vec<String>) {
        let spec = Specifiers {
            unit: "web".into(),
            user: "nginx".into(),
            uid: 60,
            home: "/var/empty".into(),
            ..Default::default()
        };
        parse(raw).unwrap()[0].argv(&spec, e)
    }

    #[test]
    fn words_and_quotes() {
        let (exe, a) = argv(
            r#"/bin/nginx -c '/etc/a b.conf' -g "daemon off;""#,
            &env(&[]),
        );
        assert_eq!(exe, "/bin/nginx");
        assert_eq!(
            a,
            ["/bin/nginx", "-c", "/etc/a b.conf", "-g", "daemon off;"]
        );
    }

    #[test]
    fn prefixes() {
        let c = &parse("-+@/bin/sh sh -c true").unwrap()[0];
        assert!(c.flags.ignore_failure && c.flags.privileged && c.flags.argv0);
        let (exe, a) = c.argv(&Specifiers::default(), &env(&[]));
        assert_eq!(exe, "/bin/sh");
        assert_eq!(a, ["sh", "-c", "true"]);
        assert!(parse("!!/bin/true").unwrap()[0].flags.privileged);
        assert!(parse(":/bin/echo $X").unwrap()[0].flags.no_expand);
    }

    #[test]
    fn variables_split_or_not() {
        let e = env(&[("OPTS", "-a  -b"), ("DIR", "/x y")]);
        assert_eq!(argv("/bin/p $OPTS", &e).1, ["/bin/p", "-a", "-b"]);
        assert_eq!(argv("/bin/p ${OPTS}", &e).1, ["/bin/p", "-a  -b"]);
        assert_eq!(
            argv("/bin/p --dir=${DIR}/z", &e).1,
            ["/bin/p", "--dir=/x y/z"]
        );
        assert_eq!(argv("/bin/p $MISSING end", &e).1, ["/bin/p", "end"]);
        assert_eq!(argv("/bin/p $$HOME", &e).1, ["/bin/p", "$HOME"]);
        assert_eq!(argv(":/bin/p $OPTS", &e).1, ["/bin/p", "$OPTS"]);
    }

    #[test]
    fn specifiers() {
        let e = env(&[]);
        assert_eq!(
            argv("/bin/p %n %N %t/%N %u %U %h %%", &e).1,
            [
                "/bin/p",
                "web.service",
                "web",
                "/run/web",
                "nginx",
                "60",
                "/var/empty",
                "%"
            ]
        );
        let templated = Specifiers {
            unit: "getty@tty1".into(),
            ..Default::default()
        };
        assert_eq!(
            parse("/bin/p %n %N %p %j %i").unwrap()[0]
                .argv(&templated, &e)
                .1,
            [
                "/bin/p",
                "getty@tty1.service",
                "getty@tty1",
                "getty",
                "getty",
                "tty1"
            ]
        );
        assert_eq!(
            parse("/bin/p %q").unwrap_err().to_string(),
            "'/bin/p %q': unknown specifier '%q'"
        );
    }

    #[test]
    fn several_commands_and_errors() {
        let cs = parse("/bin/a 1 ; /bin/b 2").unwrap();
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[1].raw, "/bin/b 2");
        let e = |line: &str| parse(line).unwrap_err().to_string();
        assert_eq!(e("/bin/a 'open"), "'/bin/a 'open': an unterminated quote");
        assert_eq!(e("-"), "'-': a prefix without a command");
        assert_eq!(
            e("@/bin/a"),
            "'@/bin/a': '@' needs the executable and argv[0]"
        );
        assert_eq!(e("   "), "'': no command");
        assert_eq!(e("/bin/a \\x4"), "'/bin/a \\x4': bad \\x escape");
        assert_eq!(e("/bin/a ${X"), "'/bin/a ${X': '${' without '}'");
        assert_eq!(e("/bin/a 5%"), "'/bin/a 5%': a trailing '%'");
        assert_eq!(e("/bin/a \\"), "'/bin/a \\': a trailing backslash");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            argv(r#"/bin/p "a\tb" c\ d \x41"#, &env(&[])).1,
            ["/bin/p", "a\tb", "c d", "A"]
        );
    }
}
