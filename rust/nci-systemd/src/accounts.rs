//! Users and groups from the image's `/etc/passwd` and `/etc/group`,
//! read directly (the static binary has no NSS).

use anyhow::{anyhow, Context, Result};
use nci_core::passwd::{parse_group, parse_passwd, GroupEntry, PasswdEntry};
use std::path::Path;

/// A line of `/etc/passwd` (nci-core's reader, as glibc's `files`).
pub type User = PasswdEntry;
/// A line of `/etc/group`.
pub type Group = GroupEntry;

#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

impl Accounts {
    /// Reads `<etc>/passwd` and `<etc>/group`; a missing file is empty.
    pub fn load(etc: &Path) -> Result<Self> {
        let read = |name: &str| -> Result<String> {
            let p = etc.join(name);
            match std::fs::read_to_string(&p) {
                Ok(s) => Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
            }
        };
        Ok(Self::parse(&read("passwd")?, &read("group")?))
    }

    pub fn parse(passwd: &str, group: &str) -> Self {
        Accounts {
            users: parse_passwd(passwd),
            groups: parse_group(group),
        }
    }

    /// A user by name or uid.
    pub fn user(&self, spec: &str) -> Result<User> {
        if let Some(u) = self.users.iter().find(|u| u.name == spec) {
            return Ok(u.clone());
        }
        if let Ok(uid) = spec.parse::<u32>() {
            return Ok(self
                .users
                .iter()
                .find(|u| u.uid == uid)
                .cloned()
                .unwrap_or(User {
                    name: spec.into(),
                    uid,
                    gid: uid,
                    gecos: String::new(),
                    home: "/".into(),
                    shell: "/bin/sh".into(),
                }));
        }
        Err(anyhow!("unknown user '{spec}' (not in /etc/passwd)"))
    }

    /// A group by name or gid.
    pub fn group(&self, spec: &str) -> Result<Group> {
        if let Some(g) = self.groups.iter().find(|g| g.name == spec) {
            return Ok(g.clone());
        }
        if let Ok(gid) = spec.parse::<u32>() {
            return Ok(self
                .groups
                .iter()
                .find(|g| g.gid == gid)
                .cloned()
                .unwrap_or(Group {
                    name: spec.into(),
                    gid,
                    members: vec![],
                }));
        }
        Err(anyhow!("unknown group '{spec}' (not in /etc/group)"))
    }

    /// The groups a user is a member of in /etc/group (`initgroups`).
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

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnginx:x:60:60::/var/empty:/run/current-system/sw/bin/nologin\n";
    const GROUP: &str = "root:x:0:\nnginx:x:60:\nweb:x:500:nginx,alice\n";

    #[test]
    fn finds_users_and_groups() {
        let a = Accounts::parse(PASSWD, GROUP);
        let u = a.user("nginx").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (60, 60, "/var/empty"));
        assert_eq!(a.user("60").unwrap().name, "nginx");
        assert_eq!(a.user("4242").unwrap().uid, 4242);
        assert_eq!(a.group("web").unwrap().gid, 500);
        assert_eq!(a.member_gids("nginx"), vec![500]);
        assert!(a
            .user("ghost")
            .unwrap_err()
            .to_string()
            .contains("unknown user 'ghost'"));
        assert!(a.group("ghosts").is_err());
    }
}
