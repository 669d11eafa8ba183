//! `/etc/passwd` and `/etc/group` lines: written by `nci-etc users`, read
//! back where names must become ids without NSS (static binaries cannot
//! call `getpwnam`): `environment.etc` and `image.runOwners` owners,
//! service users at run time ([`AccountFiles`], the one lookup nci-etc,
//! nci-image, nci-init and nci-systemd share).

use std::path::Path;

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

/// What an option's owner names: a user (`/etc/passwd`) or a group
/// (`/etc/group`). The options that name owners (`environment.etc`,
/// `image.runOwners`) have a `user` and a `group` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    User,
    Group,
}

impl AccountKind {
    /// The option field that names it: `user` or `group`.
    pub fn field(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Group => "group",
        }
    }

    /// Why `name` is not an owner the image has, in the words the
    /// modules use at evaluation ([`crate::rules::USER_NOT_DEFINED`],
    /// [`crate::rules::GROUP_NOT_DEFINED`]).
    pub fn not_defined(self, name: &str) -> String {
        match self {
            AccountKind::User => crate::rules::USER_NOT_DEFINED.fill(&[("user", name)]),
            AccountKind::Group => crate::rules::GROUP_NOT_DEFINED.fill(&[("group", name)]),
        }
    }
}

/// A name that is in neither file (and is not a number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("user '{0}' is not in /etc/passwd")]
    User(String),
    #[error("group '{0}' is not in /etc/group")]
    Group(String),
}

/// An image's `/etc/passwd` and `/etc/group`, looked up as glibc's
/// `files` backend would: by name, or by id for a number (a number in
/// neither file is that id, as `setuid` takes it).
#[derive(Debug, Clone, Default)]
pub struct AccountFiles {
    pub users: Vec<PasswdEntry>,
    pub groups: Vec<GroupEntry>,
}

impl AccountFiles {
    /// From the two files' text.
    pub fn parse(passwd: &str, group: &str) -> Self {
        AccountFiles {
            users: parse_passwd(passwd),
            groups: parse_group(group),
        }
    }

    /// Reads `<etc>/passwd` and `<etc>/group`; a missing file is empty.
    pub fn read(etc: &Path) -> crate::Result<Self> {
        let read = |name: &str| {
            let path = etc.join(name);
            match std::fs::read_to_string(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                other => other.map_err(|e| crate::Error::io(path, e)),
            }
        };
        Ok(Self::parse(&read("passwd")?, &read("group")?))
    }

    /// A user by name, or by uid for a number (one not in the file is a
    /// user of that uid, its group the same number, its home `/`).
    pub fn user(&self, spec: &str) -> Result<PasswdEntry, LookupError> {
        if let Some(u) = self.users.iter().find(|u| u.name == spec) {
            return Ok(u.clone());
        }
        let uid = spec
            .parse::<u32>()
            .map_err(|_| LookupError::User(spec.to_owned()))?;
        Ok(self
            .users
            .iter()
            .find(|u| u.uid == uid)
            .cloned()
            .unwrap_or_else(|| PasswdEntry {
                name: spec.to_owned(),
                uid,
                gid: uid,
                gecos: String::new(),
                home: "/".to_owned(),
                shell: "/bin/sh".to_owned(),
            }))
    }

    /// A group by name, or by gid for a number.
    pub fn group(&self, spec: &str) -> Result<GroupEntry, LookupError> {
        if let Some(g) = self.groups.iter().find(|g| g.name == spec) {
            return Ok(g.clone());
        }
        let gid = spec
            .parse::<u32>()
            .map_err(|_| LookupError::Group(spec.to_owned()))?;
        Ok(self
            .groups
            .iter()
            .find(|g| g.gid == gid)
            .cloned()
            .unwrap_or_else(|| GroupEntry {
                name: spec.to_owned(),
                gid,
                members: vec![],
            }))
    }

    /// The id of the account named `name`, by name only (a number is a
    /// name here): the first line that names it, as glibc's `files`
    /// backend answers `getpwnam` and `getgrnam`.
    pub fn id_named(&self, kind: AccountKind, name: &str) -> Option<u32> {
        match kind {
            AccountKind::User => self.users.iter().find(|u| u.name == name).map(|u| u.uid),
            AccountKind::Group => self.groups.iter().find(|g| g.name == name).map(|g| g.gid),
        }
    }

    /// The id of an owner given by name or number, as [`Self::user`] and
    /// [`Self::group`] look it up, or why the image has no such owner
    /// ([`AccountKind::not_defined`]).
    pub fn owner_id(&self, kind: AccountKind, spec: &str) -> Result<u32, String> {
        let id = match kind {
            AccountKind::User => self.user(spec).map(|u| u.uid),
            AccountKind::Group => self.group(spec).map(|g| g.gid),
        };
        id.map_err(|_| kind.not_defined(spec))
    }

    /// The groups listing `user` as a member (what `initgroups` adds to
    /// the primary group), in the file's order.
    pub fn member_gids(&self, user: &str) -> Vec<u32> {
        self.groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == user))
            .map(|g| g.gid)
            .collect()
    }
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

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnginx:x:60:60::/var/empty:/run/current-system/sw/bin/nologin\n";
    const GROUP: &str = "root:x:0:\nnginx:x:60:\nweb:x:500:nginx,alice\n";

    #[test]
    fn finds_users_and_groups_by_name_or_id() {
        let a = AccountFiles::parse(PASSWD, GROUP);
        let u = a.user("nginx").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (60, 60, "/var/empty"));
        assert_eq!(a.user("60").unwrap().name, "nginx");
        let stranger = a.user("4242").unwrap();
        assert_eq!(
            (stranger.uid, stranger.gid, stranger.home.as_str()),
            (4242, 4242, "/")
        );
        assert_eq!(a.group("web").unwrap().gid, 500);
        assert_eq!(a.group("60").unwrap().name, "nginx");
        assert_eq!(a.group("777").unwrap().gid, 777);
        assert_eq!(a.member_gids("nginx"), vec![500]);
        assert_eq!(
            a.user("ghost").unwrap_err().to_string(),
            "user 'ghost' is not in /etc/passwd"
        );
        assert_eq!(
            a.group("ghosts").unwrap_err().to_string(),
            "group 'ghosts' is not in /etc/group"
        );
    }

    /// The two lookups of an option's owner: by name only (what
    /// `environment.etc` names, `+<id>` being its numbers) and by name
    /// or number (`image.runOwners`); a name given twice is its first
    /// line's, as glibc answers.
    #[test]
    fn owners_are_looked_up_by_name_or_number_with_the_modules_words() {
        let a = AccountFiles::parse(
            &format!("{PASSWD}nginx:x:61:61::/:/bin/sh\n"),
            &format!("{GROUP}web:x:501:\n"),
        );
        assert_eq!(a.id_named(AccountKind::User, "nginx"), Some(60));
        assert_eq!(a.id_named(AccountKind::Group, "web"), Some(500));
        assert_eq!(a.id_named(AccountKind::User, "60"), None);
        assert_eq!(a.id_named(AccountKind::Group, "ghosts"), None);
        assert_eq!(a.owner_id(AccountKind::User, "nginx"), Ok(60));
        assert_eq!(a.owner_id(AccountKind::User, "4242"), Ok(4242));
        assert_eq!(a.owner_id(AccountKind::Group, "0"), Ok(0));
        assert_eq!(
            a.owner_id(AccountKind::User, "ghost"),
            Err("user 'ghost' is not defined (add users.users.ghost)".to_owned())
        );
        assert_eq!(
            a.owner_id(AccountKind::Group, "ghosts"),
            Err("group 'ghosts' is not defined (add users.groups.ghosts = { };)".to_owned())
        );
        assert_eq!(
            (AccountKind::User.field(), AccountKind::Group.field()),
            ("user", "group")
        );
    }

    #[test]
    fn missing_files_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let a = AccountFiles::read(dir.path()).unwrap();
        assert!(a.users.is_empty() && a.groups.is_empty());
        std::fs::write(dir.path().join("passwd"), PASSWD).unwrap();
        assert_eq!(AccountFiles::read(dir.path()).unwrap().users.len(), 2);
    }
}
