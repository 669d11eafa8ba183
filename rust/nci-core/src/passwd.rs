//! `/etc/passwd` and `/etc/group` lines: written by `nci-etc users`, read
//! back where names must become ids without NSS (static binaries cannot
//! call `getpwnam`): `environment.etc` owners, service users at run time.

/// One line of `/etc/passwd` (`name:x:uid:gid:gecos:home:shell`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// One line of `/etc/group` (`name:x:gid:member,member`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

impl PasswdEntry {
    /// The line, without its newline; the password field is `x` (the
    /// hash is in `/etc/shadow`).
    pub fn line(&self) -> String {
        format!(
            "{}:x:{}:{}:{}:{}:{}",
            self.name, self.uid, self.gid, self.gecos, self.home, self.shell
        )
    }
}

impl GroupEntry {
    pub fn line(&self) -> String {
        format!("{}:x:{}:{}", self.name, self.gid, self.members.join(","))
    }
}

/// Parses `/etc/passwd`; blank lines, comments and malformed lines are
/// skipped, as glibc's `files` backend does.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 7 || line.starts_with('#') || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                gecos: f[4].to_owned(),
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
            })
        })
        .collect()
}

/// Parses `/etc/group`, skipping what glibc would skip.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 4 || line.starts_with('#') || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_round_trips() {
        let e = PasswdEntry {
            name: "alice".into(),
            uid: 1000,
            gid: 100,
            gecos: "Alice Q. User".into(),
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
        };
        assert_eq!(
            e.line(),
            "alice:x:1000:100:Alice Q. User:/home/alice:/bin/sh"
        );
        let text = format!("# comment\n\nbroken:line\n{}\nbad:x:nan:1:::\n", e.line());
        assert_eq!(parse_passwd(&text), vec![e]);
    }

    #[test]
    fn group_round_trips() {
        let g = GroupEntry {
            name: "wheel".into(),
            gid: 1,
            members: vec!["alice".into(), "bob".into()],
        };
        assert_eq!(g.line(), "wheel:x:1:alice,bob");
        let empty = GroupEntry {
            name: "users".into(),
            gid: 100,
            members: vec![],
        };
        assert_eq!(empty.line(), "users:x:100:");
        let text = format!("{}\n{}\n", g.line(), empty.line());
        assert_eq!(parse_group(&text), vec![g, empty]);
    }
}
