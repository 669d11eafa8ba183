//! The users spec (contract version 1), written by `modules/users.nix`
//! from `users.users` and `users.groups` and read by `nci-etc users`.
//! [`allocate`] checks it as NixOS' assertions do and gives every account
//! without an id one picked deterministically: the same names always get
//! the same ids, and adding an account does not renumber the others.

use crate::error::Error;
use crate::etc_spec::path_components;
use crate::problems::{option_path, Problems};
use crate::rules;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

pub const VERSION: u32 = 1;

/// Where NixOS allocates ids of system users and of all groups
/// (`update-users-groups.pl`, `SYS_UID_MIN`..`SYS_UID_MAX`).
pub const SYSTEM_IDS: RangeInclusive<u32> = 400..=999;
/// Where NixOS allocates ids of normal users (`UID_MIN`..`UID_MAX`).
pub const NORMAL_UIDS: RangeInclusive<u32> = 1000..=29999;
/// Automatic subordinate id ranges: `100000 + k * 65536`, 65536 ids each,
/// as NixOS' `autoSubUidGidRange` lays them out.
pub const SUBID_BASE: u64 = 100_000;
pub const SUBID_COUNT: u64 = 65_536;
const SUBID_SLOTS: u64 = (u32::MAX as u64 - SUBID_BASE - SUBID_COUNT) / SUBID_COUNT + 1;
/// The largest valid id: `(uid_t) -1` means "no id".
pub const MAX_ID: i64 = u32::MAX as i64 - 1;
/// Used where NixOS writes `/run/current-system/sw/bin/nologin`: the path
/// minimal images (distroless, Alpine) use; login fails when it is absent.
pub const NOLOGIN: &str = "/sbin/nologin";

/// The users spec. A field left out takes its value from the `Default`
/// of its type ([`UsersSpec::default`], [`UserSpec::default`],
/// [`GroupSpec::default`], [`SubUidRange`]'s `count`): the one statement
/// of the users options' defaults. `modules/users.nix` reads them from
/// `nix/users-defaults.json`, generated from them ([`defaults_json`]).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsersSpec {
    /// Contract version; must be [`VERSION`].
    pub version: u32,
    /// `users.enforceIdUniqueness`: two accounts may share an explicit id
    /// only when false.
    #[serde(default = "enforce_id_uniqueness")]
    pub enforce_id_uniqueness: bool,
    /// `users.users`, by attribute name (only those with `enable = true`).
    #[serde(default)]
    pub users: BTreeMap<String, UserSpec>,
    /// `users.groups`, by attribute name.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupSpec>,
}

/// `users.enforceIdUniqueness`' default.
fn enforce_id_uniqueness() -> bool {
    true
}

impl Default for UsersSpec {
    fn default() -> Self {
        UsersSpec {
            version: VERSION,
            enforce_id_uniqueness: enforce_id_uniqueness(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }
}

/// `users.users.<attr>`: the NixOS options that shape `/etc/passwd`,
/// `/etc/shadow`, `/etc/subuid` and the home directory. Missing fields
/// take NixOS' defaults, stated in [`UserSpec::default`] (the module's
/// options read them from `nix/users-defaults.json`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSpec {
    pub name: String,
    /// `null`: allocated in [`SYSTEM_IDS`] or [`NORMAL_UIDS`].
    pub uid: Option<i64>,
    /// The primary group's name (must be a `users.groups.*.name`).
    pub group: String,
    pub extra_groups: Vec<String>,
    pub description: String,
    pub home: String,
    /// Octal, 1 to 5 digits (`users.users.<name>.homeMode`).
    pub home_mode: String,
    pub create_home: bool,
    pub is_system_user: bool,
    pub is_normal_user: bool,
    /// The login shell as written to `/etc/passwd` (a shell package's
    /// `shellPath` already resolved by the module); [`NOLOGIN`] by
    /// default, and `null` means the same.
    pub shell: Option<String>,
    pub hashed_password: Option<String>,
    pub password: Option<String>,
    pub initial_password: Option<String>,
    pub initial_hashed_password: Option<String>,
    /// A file in the Nix store holding the hash, read at build time.
    pub hashed_password_file: Option<String>,
    /// Store paths linked into `/etc/profiles/per-user/<name>`.
    pub packages: Vec<String>,
    pub sub_uid_ranges: Vec<SubUidRange>,
    pub sub_gid_ranges: Vec<SubGidRange>,
    pub auto_sub_uid_gid_range: bool,
}

impl Default for UserSpec {
    fn default() -> Self {
        UserSpec {
            name: String::new(),
            uid: None,
            group: String::new(),
            extra_groups: vec![],
            description: String::new(),
            home: "/var/empty".into(),
            home_mode: "700".into(),
            create_home: false,
            is_system_user: false,
            is_normal_user: false,
            shell: Some(NOLOGIN.into()),
            hashed_password: None,
            password: None,
            initial_password: None,
            initial_hashed_password: None,
            hashed_password_file: None,
            packages: vec![],
            sub_uid_ranges: vec![],
            sub_gid_ranges: vec![],
            auto_sub_uid_gid_range: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubUidRange {
    pub start_uid: i64,
    #[serde(default = "one")]
    pub count: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubGidRange {
    pub start_gid: i64,
    #[serde(default = "one")]
    pub count: i64,
}

/// The `count` of a `subUidRanges` or `subGidRanges` entry that leaves
/// it out.
fn one() -> i64 {
    1
}

/// The document `nix/users-defaults.json` holds: the defaults of
/// `users.*`, `users.users.<name>.*`, `users.groups.<name>.*` and of a
/// subordinate id range's `count`, which `modules/users.nix` gives its
/// options. (`name`, the attribute name, is the module's.)
pub fn defaults_json() -> serde_json::Value {
    let mut doc = serde_json::json!({
        "comment": "Generated from rust/nci-core/src/users_spec.rs: do not edit; NCI_UPDATE_GOLDEN=1 cargo test -p nci-core users_defaults",
        "enforceIdUniqueness": enforce_id_uniqueness(),
        "user": UserSpec::default(),
        "group": GroupSpec::default(),
        "subIdRange": { "count": one() },
    });
    for account in ["user", "group"] {
        if let Some(fields) = doc[account].as_object_mut() {
            fields.remove("name");
        }
    }
    doc
}

/// `users.groups.<attr>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupSpec {
    pub name: String,
    /// `null`: allocated in [`SYSTEM_IDS`].
    pub gid: Option<i64>,
    /// User names listed in `/etc/group` (besides users naming this group
    /// in their `extraGroups`).
    pub members: Vec<String>,
}

/// Where a user's `/etc/shadow` hash comes from, after NixOS' order of
/// precedence for an account created from scratch (an image's accounts
/// always are): `initialHashedPassword` < `initialPassword` <
/// `hashedPassword` < `password` < `hashedPasswordFile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// No password option: `!`, password login disabled.
    Locked,
    /// A hash (or `""`: login without a password), written as is.
    Hash(String),
    /// A clear-text password, to be hashed.
    Clear(String),
    /// A file whose first line is the hash.
    HashFile(String),
}

/// An allocated account: every id known, every reference checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The attribute name in `users.users`, for messages.
    pub attr: String,
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub description: String,
    pub home: String,
    pub shell: String,
    /// The home's mode when it is created (`createHome`).
    pub create_home: Option<u32>,
    pub password: Password,
    pub packages: Vec<String>,
    /// `(start, count)` lines of `/etc/subuid` and `/etc/subgid`.
    pub sub_uids: Vec<(u64, u64)>,
    pub sub_gids: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub attr: String,
    pub name: String,
    pub gid: u32,
    /// Sorted, without duplicates.
    pub members: Vec<String>,
}

/// The image's accounts as the spec makes them, each id allocated (what
/// `nci-etc users` writes; not the accounts read back from an image's
/// `/etc` files). Users in `/etc/passwd` order (uid, then name), groups
/// in `/etc/group` order (gid, then name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedAccounts {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

/// Directories of the image a created home would take over (their owner
/// and mode become the user's): what NixOS' activation leaves alone.
pub const SYSTEM_DIRECTORIES: [&str; 18] = [
    "bin",
    "boot",
    "dev",
    "etc",
    "home",
    "lib",
    "lib64",
    "nix",
    "nix/var",
    "proc",
    "run",
    "sbin",
    "sys",
    "tmp",
    "usr",
    "usr/bin",
    "var",
    "var/empty",
];

/// How a home path (as components) names a system directory, if it does:
/// one of [`SYSTEM_DIRECTORIES`], the root, or the store or a path in it.
fn system_directory(parts: &[&str]) -> Option<&'static str> {
    match parts {
        ["nix", "store", ..] => Some("in the Nix store"),
        ["proc" | "sys" | "dev", ..] => Some("in a kernel file system"),
        _ if SYSTEM_DIRECTORIES.contains(&parts.join("/").as_str()) => Some("a system directory"),
        _ => None,
    }
}

/// Parses a `homeMode` (`"700"`, `"0750"`) that [`rules::home_mode`]
/// accepts.
pub fn parse_home_mode(mode: &str) -> Option<u32> {
    rules::home_mode()
        .check(mode)
        .is_none()
        .then(|| u32::from_str_radix(mode, 8).ok())
        .flatten()
}

/// A deterministic pick from `size` slots for `name`: the start of its
/// probe sequence. Depends on the name alone.
fn slot(kind: &str, name: &str, size: u64) -> u64 {
    let digest = Sha256::digest(format!("nci-{kind}:{name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % size
}

/// The first id free in `range`, probing upward (wrapping) from the
/// name's slot; marks it taken.
fn allocate_id(
    kind: &str,
    name: &str,
    range: &RangeInclusive<u32>,
    taken: &mut BTreeSet<u32>,
) -> Option<u32> {
    let start = u64::from(*range.start());
    let size = u64::from(*range.end()) - start + 1;
    let first = slot(kind, name, size);
    (0..size)
        .map(|i| (start + (first + i) % size) as u32)
        .find(|id| taken.insert(*id))
}

fn no_passwd_separators(value: &str) -> bool {
    !value.contains(':') && !value.contains('\n')
}

/// A system user: so marked, or with a uid below the normal users'
/// range and not marked normal (NixOS' `isEffectivelySystemUser`).
fn is_effectively_system(u: &UserSpec) -> bool {
    u.is_system_user
        || (u.uid.is_some_and(|id| id < i64::from(*NORMAL_UIDS.start())) && !u.is_normal_user)
}

/// `(start, count)` ranges of subordinate ids.
type SubIds = Vec<(u64, u64)>;

/// `subUidRanges` and `subGidRanges`; [`allocate`] checks them before it
/// converts them.
fn explicit_sub_ids(u: &UserSpec) -> (SubIds, SubIds) {
    let uids = u.sub_uid_ranges.iter();
    let gids = u.sub_gid_ranges.iter();
    (
        uids.map(|r| (r.start_uid as u64, r.count as u64)).collect(),
        gids.map(|r| (r.start_gid as u64, r.count as u64)).collect(),
    )
}

/// What users and groups have in common: a name and maybe an explicit
/// id, checked and allocated the same way.
struct Kind {
    /// The option of the attribute set: `users.users`, `users.groups`.
    option: &'static str,
    noun: &'static str,
    /// The id's option: `uid`, `gid`.
    id: &'static str,
    /// The rule of the names (`rules::user_name`, `rules::group_name`).
    name_rule: fn() -> rules::Rule,
}

const USER: Kind = Kind {
    option: "users.users",
    noun: "user",
    id: "uid",
    name_rule: rules::user_name,
};
const GROUP: Kind = Kind {
    option: "users.groups",
    noun: "group",
    id: "gid",
    name_rule: rules::group_name,
};

impl Kind {
    fn opt(&self, attr: &str, field: &str) -> String {
        option_path(self.option, attr, field)
    }

    /// The explicit id (checked by [`Seen::id`]), or one allocated in
    /// `range` from the name.
    fn assign(
        &self,
        attr: &str,
        name: &str,
        explicit: Option<i64>,
        range: &RangeInclusive<u32>,
        taken: &mut BTreeSet<u32>,
    ) -> Result<u32, Error> {
        match explicit {
            Some(id) => Ok(id as u32),
            None => allocate_id(self.id, name, range, taken).ok_or_else(|| {
                Error::invalid(
                    self.opt(attr, self.id),
                    format!(
                        "no free {} is left in {}-{}: set one",
                        self.id,
                        range.start(),
                        range.end()
                    ),
                )
            }),
        }
    }
}

/// The names and explicit ids of one kind of account checked so far,
/// each with its attribute name.
#[derive(Default)]
struct Seen<'a> {
    names: BTreeMap<&'a str, &'a str>,
    ids: BTreeMap<i64, &'a str>,
}

impl<'a> Seen<'a> {
    /// Checks an account's name, alone and against those seen before.
    fn name(
        &mut self,
        kind: &Kind,
        attr: &'a str,
        name: &'a str,
        bad: &mut impl FnMut(String, String),
    ) {
        let noun = kind.noun;
        if let Some(why) = (kind.name_rule)().check(name) {
            bad(kind.opt(attr, "name"), why);
        }
        if let Some(first) = self.names.insert(name, attr) {
            bad(
                kind.opt(attr, "name"),
                format!(
                    "{} is also named {name:?}: {noun} names must be unique",
                    kind.opt(first, "")
                ),
            );
        }
    }

    /// Checks an account's explicit id, alone and against those seen
    /// before.
    fn id(
        &mut self,
        kind: &Kind,
        attr: &'a str,
        id: Option<i64>,
        enforce_id_uniqueness: bool,
        bad: &mut impl FnMut(String, String),
    ) {
        let Some(id) = id else { return };
        let field = kind.id;
        if !(0..=MAX_ID).contains(&id) {
            bad(
                kind.opt(attr, field),
                format!("{id} is not a valid {field} (0 to {MAX_ID})"),
            );
        } else if let Some(first) = self.ids.insert(id, attr) {
            if enforce_id_uniqueness {
                bad(
                    kind.opt(attr, field),
                    rules::SAME_ID.fill(&[
                        ("first", &kind.opt(first, field)),
                        ("id", field),
                        ("value", &id.to_string()),
                    ]),
                );
            }
        }
    }
}

/// Checks the spec and allocates its accounts' ids, reporting every
/// problem at once.
pub fn allocate(spec: &UsersSpec) -> Result<AllocatedAccounts, Problems> {
    if spec.version != VERSION {
        let e = Error::unsupported_version("users", spec.version, VERSION, "nci-etc");
        return Err(Problems(vec![e]));
    }
    let mut problems = Vec::new();
    let mut bad = |field: String, reason: String| problems.push(Error::invalid(field, reason));
    let uopt = |attr: &str, field: &str| USER.opt(attr, field);
    let gopt = |attr: &str, field: &str| GROUP.opt(attr, field);
    let enforce = spec.enforce_id_uniqueness;

    // Groups: names, ids, uniqueness.
    let mut groups_seen = Seen::default();
    for (attr, g) in &spec.groups {
        groups_seen.name(&GROUP, attr, &g.name, &mut bad);
        groups_seen.id(&GROUP, attr, g.gid, enforce, &mut bad);
    }
    let group_by_name = groups_seen.names;

    // Users: names, fields, ids, groups.
    let mut users_seen = Seen::default();
    // Created homes by their path as the image names it (`/a/b/` is `/a/b`).
    let mut homes: BTreeMap<String, &str> = BTreeMap::new();
    for (attr, u) in &spec.users {
        users_seen.name(&USER, attr, &u.name, &mut bad);
        for (field, value) in [
            ("description", Some(&u.description)),
            ("home", Some(&u.home)),
            ("shell", u.shell.as_ref()),
            ("hashedPassword", u.hashed_password.as_ref()),
            ("initialHashedPassword", u.initial_hashed_password.as_ref()),
        ] {
            if value.is_some_and(|v| !no_passwd_separators(v)) {
                bad(
                    uopt(attr, field),
                    "must not contain ':' or a newline (it is a field of /etc/passwd or /etc/shadow)".into(),
                );
            }
        }
        users_seen.id(&USER, attr, u.uid, enforce, &mut bad);
        let first_normal = i64::from(*NORMAL_UIDS.start());
        if let Some(uid) = u.uid.filter(|uid| u.is_normal_user && *uid < first_normal) {
            bad(
                uopt(attr, "uid"),
                rules::NORMAL_USER_BELOW_RANGE.fill(&[
                    ("uid", &uid.to_string()),
                    ("first", &first_normal.to_string()),
                ]),
            );
        }
        if is_effectively_system(u) == u.is_normal_user {
            bad(uopt(attr, ""), rules::SYSTEM_OR_NORMAL.fill(&[]));
        }
        if u.group.is_empty() {
            bad(
                uopt(attr, "group"),
                rules::GROUP_UNSET.fill(&[("option", &uopt(attr, "group")), ("user", &u.name)]),
            );
        } else if !group_by_name.contains_key(u.group.as_str()) {
            bad(
                uopt(attr, "group"),
                rules::GROUP_NOT_DEFINED.fill(&[("group", &u.group)]),
            );
        }
        // A group of `extraGroups` that is not declared is left out, as
        // NixOS does (the module warns): the groups are the declared ones.
        if !u.home.starts_with('/') {
            bad(
                uopt(attr, "home"),
                format!("{:?} is not an absolute path", u.home),
            );
        } else if u.create_home {
            let parts = path_components(&u.home);
            if let Err(why) = crate::etc_spec::unwritable(&u.home) {
                bad(uopt(attr, "home"), why);
            } else if parts.is_empty() || parts.contains(&"..") {
                bad(
                    uopt(attr, "home"),
                    format!(
                        "{:?} cannot be created as a home directory (createHome is set)",
                        u.home
                    ),
                );
            } else if let Some(dir) = system_directory(&parts) {
                bad(
                    uopt(attr, "home"),
                    format!(
                        "{:?} is {dir}: createHome would make it the user's, mode {}; give the user a directory of its own (/home/{}, /var/lib/{})",
                        crate::rules::quote(&u.home),
                        u.home_mode,
                        u.name,
                        u.name
                    ),
                );
            } else if let Some(first) = homes.insert(parts.join("/"), attr) {
                bad(
                    uopt(attr, "home"),
                    format!(
                        "{} is the same directory {:?} and both users have createHome set",
                        uopt(first, "home"),
                        u.home
                    ),
                );
            }
        }
        if let Some(why) = rules::home_mode().check(&u.home_mode) {
            bad(uopt(attr, "homeMode"), why);
        }
        let ranges = u
            .sub_uid_ranges
            .iter()
            .map(|r| ("subUidRanges", r.start_uid, r.count))
            .chain(
                u.sub_gid_ranges
                    .iter()
                    .map(|r| ("subGidRanges", r.start_gid, r.count)),
            );
        for (field, start, count) in ranges {
            // `start + count` could overflow (both come from Nix integers).
            if start < 0 || count < 1 || start > MAX_ID + 1 - count {
                bad(
                    uopt(attr, field),
                    format!("start {start} and count {count} do not make a range of ids (0 to {MAX_ID})"),
                );
            }
        }
    }
    for (attr, g) in &spec.groups {
        for m in &g.members {
            if !users_seen.names.contains_key(m.as_str()) {
                bad(
                    gopt(attr, "members"),
                    rules::USER_NOT_DEFINED.fill(&[("user", m)]),
                );
            }
        }
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }

    // Ids: explicit ones are taken first, then the rest in name order.
    let mut taken_gids: BTreeSet<u32> = spec
        .groups
        .values()
        .filter_map(|g| g.gid)
        .map(|g| g as u32)
        .collect();
    let mut gid_of: BTreeMap<&str, u32> = BTreeMap::new();
    let mut by_name: Vec<(&String, &GroupSpec)> = spec.groups.iter().collect();
    by_name.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    for (attr, g) in by_name {
        match GROUP.assign(attr, &g.name, g.gid, &SYSTEM_IDS, &mut taken_gids) {
            Ok(gid) => {
                gid_of.insert(&g.name, gid);
            }
            Err(e) => problems.push(e),
        }
    }
    let mut taken_uids: BTreeSet<u32> = spec
        .users
        .values()
        .filter_map(|u| u.uid)
        .map(|u| u as u32)
        .collect();
    let mut users_by_name: Vec<(&String, &UserSpec)> = spec.users.iter().collect();
    users_by_name.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let explicit_subids: Vec<(u64, u64)> = spec
        .users
        .values()
        .flat_map(|u| {
            let (uids, gids) = explicit_sub_ids(u);
            uids.into_iter().chain(gids)
        })
        .collect();
    let mut taken_subid_slots: BTreeSet<u64> = BTreeSet::new();
    let mut users = Vec::new();
    for (attr, u) in users_by_name {
        let range = if u.is_system_user {
            &SYSTEM_IDS
        } else {
            &NORMAL_UIDS
        };
        let uid = match USER.assign(attr, &u.name, u.uid, range, &mut taken_uids) {
            Ok(uid) => uid,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let Some(&gid) = gid_of.get(u.group.as_str()) else {
            continue; // its group failed allocation, reported above
        };
        let (mut sub_uids, mut sub_gids) = explicit_sub_ids(u);
        if u.auto_sub_uid_gid_range {
            let first = slot("subid", &u.name, SUBID_SLOTS);
            let free = (0..SUBID_SLOTS)
                .map(|i| (first + i) % SUBID_SLOTS)
                .find(|k| {
                    let start = SUBID_BASE + k * SUBID_COUNT;
                    let overlaps = explicit_subids
                        .iter()
                        .any(|(s, c)| *s < start + SUBID_COUNT && start < s + c);
                    !overlaps && taken_subid_slots.insert(*k)
                });
            if let Some(k) = free {
                let range = (SUBID_BASE + k * SUBID_COUNT, SUBID_COUNT);
                sub_uids.push(range);
                sub_gids.push(range);
            }
        }
        users.push(User {
            attr: attr.clone(),
            name: u.name.clone(),
            uid,
            gid,
            description: u.description.clone(),
            home: u.home.clone(),
            shell: u.shell.clone().unwrap_or_else(|| NOLOGIN.into()),
            create_home: u
                .create_home
                .then(|| parse_home_mode(&u.home_mode))
                .flatten(),
            password: password_of(u),
            packages: u.packages.clone(),
            sub_uids,
            sub_gids,
        });
    }
    users.sort_by(|a, b| (a.uid, &a.name).cmp(&(b.uid, &b.name)));

    let mut groups: Vec<Group> = spec
        .groups
        .iter()
        .filter_map(|(attr, g)| {
            let gid = *gid_of.get(g.name.as_str())?;
            let mut members: BTreeSet<String> = g.members.iter().cloned().collect();
            for u in spec.users.values() {
                if u.extra_groups.contains(&g.name) {
                    members.insert(u.name.clone());
                }
            }
            Some(Group {
                attr: attr.clone(),
                name: g.name.clone(),
                gid,
                members: members.into_iter().collect(),
            })
        })
        .collect();
    groups.sort_by(|a, b| (a.gid, &a.name).cmp(&(b.gid, &b.name)));
    Problems::or_ok(problems, AllocatedAccounts { users, groups })
}

fn password_of(u: &UserSpec) -> Password {
    let mut p = u.hashed_password.clone().map(Password::Hash);
    if p.is_none() {
        p = u
            .initial_password
            .clone()
            .map(Password::Clear)
            .or_else(|| u.initial_hashed_password.clone().map(Password::Hash));
    }
    if let Some(f) = &u.hashed_password_file {
        p = Some(Password::HashFile(f.clone()));
    } else if let Some(clear) = &u.password {
        p = Some(Password::Clear(clear.clone()));
    }
    p.unwrap_or(Password::Locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, normal: bool) -> UserSpec {
        UserSpec {
            name: name.into(),
            group: if normal {
                "users".into()
            } else {
                "nogroup".into()
            },
            is_normal_user: normal,
            is_system_user: !normal,
            ..UserSpec::default()
        }
    }

    fn group(name: &str, gid: Option<i64>) -> GroupSpec {
        GroupSpec {
            name: name.into(),
            gid,
            members: vec![],
        }
    }

    fn base() -> UsersSpec {
        let mut s = UsersSpec {
            version: VERSION,
            enforce_id_uniqueness: true,
            ..UsersSpec::default()
        };
        s.groups.insert("users".into(), group("users", Some(100)));
        s.groups
            .insert("nogroup".into(), group("nogroup", Some(65534)));
        s
    }

    /// `modules/users.nix` takes its options' defaults from this file;
    /// the L3 test `users an account given no option is written with
    /// the defaults nci-etc gives a field left out` checks what the module
    /// made of them.
    #[test]
    fn nix_users_defaults_json_is_generated_from_this_file() {
        crate::generated::assert_nix_file_is(
            "users-defaults.json",
            &defaults_json(),
            "users_spec.rs",
            "users_defaults",
        );
    }

    /// A spec written by hand may leave fields out: they take the same
    /// defaults as the module's options.
    #[test]
    fn fields_left_out_take_the_defaults_the_module_reads() {
        let spec: UsersSpec = serde_json::from_str(
            r#"{"version": 1,
                "users": {"a": {"name": "a", "subUidRanges": [{"startUid": 5}]}},
                "groups": {"g": {"name": "g"}}}"#,
        )
        .unwrap();
        assert!(spec.enforce_id_uniqueness);
        let d = defaults_json();
        let mut a = serde_json::to_value(&spec.users["a"]).unwrap();
        assert_eq!(a["subUidRanges"][0]["count"], d["subIdRange"]["count"]);
        a["subUidRanges"] = serde_json::json!([]);
        a.as_object_mut().unwrap().remove("name");
        assert_eq!(a, d["user"]);
        let mut g = serde_json::to_value(&spec.groups["g"]).unwrap();
        g.as_object_mut().unwrap().remove("name");
        assert_eq!(g, d["group"]);
        assert_eq!(d["user"]["home"], "/var/empty");
        assert_eq!(d["user"]["homeMode"], "700");
        assert_eq!(d["user"]["shell"], NOLOGIN);
    }

    fn errors(spec: &UsersSpec) -> String {
        allocate(spec).unwrap_err().to_string()
    }

    /// The `users.` rows of `tests/golden/bad-inputs.json`, put in a
    /// spec as `tests/bad-inputs.nix` puts them in a module (an account
    /// named by `users.users` or `users.groups` is a system user of group
    /// nogroup, or a group); the row's message must be one of the
    /// problems reported.
    #[test]
    fn the_bad_inputs_table_users_rows_are_refused_with_their_messages() {
        use serde_json::json;
        let mut seen = 0;
        for row in &crate::bad_inputs::rows("users.") {
            let option = row["option"].as_str().unwrap();
            let v = &row["value"];
            // `users.users` and `users.groups` as JSON, the base groups in.
            let mut accounts = json!({"users": {}, "groups": {}});
            for (attr, g) in &base().groups {
                accounts["groups"][attr] = serde_json::to_value(g).unwrap();
            }
            if let Some(with) = row["with"]["users"].as_object() {
                for (set, entries) in with {
                    for (attr, fields) in entries.as_object().unwrap() {
                        for (k, f) in fields.as_object().unwrap() {
                            accounts[set][attr][k] = f.clone();
                        }
                    }
                }
            }
            let path: Vec<&str> = option.split('.').collect();
            match path[..] {
                ["users", "users"] => {
                    accounts["users"][v.as_str().unwrap()] =
                        json!({"isSystemUser": true, "group": "nogroup"})
                }
                ["users", "groups"] => accounts["groups"][v.as_str().unwrap()] = json!({}),
                ["users", set, attr, "extraGroups" | "members"] => {
                    accounts[set][attr][path[3]] = json!([v])
                }
                ["users", set, attr, field] => accounts[set][attr][field] = v.clone(),
                _ => panic!("bad-inputs.json: no way to put {option} in a users spec"),
            }
            let mut spec = base();
            for (set, entries) in accounts.as_object().unwrap() {
                for (attr, fields) in entries.as_object().unwrap() {
                    let mut fields = fields.clone();
                    fields["name"] = attr.as_str().into();
                    if set == "users" {
                        let u = serde_json::from_value(fields).unwrap();
                        spec.users.insert(attr.clone(), u);
                    } else {
                        let g = serde_json::from_value(fields).unwrap();
                        spec.groups.insert(attr.clone(), g);
                    }
                }
            }
            let got = errors(&spec);
            crate::bad_inputs::assert_reported(row, &got);
            seen += 1;
        }
        assert!(seen >= 11);
    }

    fn uid_of(a: &AllocatedAccounts, name: &str) -> u32 {
        a.users.iter().find(|u| u.name == name).unwrap().uid
    }

    #[test]
    fn names_follow_shadows_pattern() {
        for ok in ["alice", "_svc", "a.b-c", "1up", "x".repeat(31).as_str()] {
            assert_eq!(rules::user_name().check(ok), None, "{ok}");
        }
        for bad in ["", "-a", "a b", "a:b", "é", "x".repeat(32).as_str()] {
            assert!(rules::group_name().check(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn allocation_is_deterministic_and_adding_a_user_keeps_the_others_ids() {
        let mut spec = base();
        for n in ["alice", "bob", "carol"] {
            spec.users.insert(n.into(), user(n, true));
        }
        spec.users.insert("svc".into(), user("svc", false));
        let before = allocate(&spec).unwrap();
        assert_eq!(before, allocate(&spec).unwrap());
        spec.users.insert("dave".into(), user("dave", true));
        spec.users.insert("aaron".into(), user("aaron", false));
        let after = allocate(&spec).unwrap();
        for n in ["alice", "bob", "carol", "svc"] {
            assert_eq!(uid_of(&before, n), uid_of(&after, n), "{n} was renumbered");
        }
        assert!(NORMAL_UIDS.contains(&uid_of(&after, "dave")));
        assert!(SYSTEM_IDS.contains(&uid_of(&after, "svc")));
    }

    #[test]
    fn allocation_skips_explicit_ids() {
        let mut spec = base();
        spec.users.insert("alice".into(), user("alice", true));
        let free = uid_of(&allocate(&spec).unwrap(), "alice");
        let mut pinned = user("pinned", true);
        pinned.uid = Some(i64::from(free));
        spec.users.insert("pinned".into(), pinned);
        let a = allocate(&spec).unwrap();
        assert_eq!(uid_of(&a, "pinned"), free);
        assert_eq!(uid_of(&a, "alice"), free + 1);
    }

    #[test]
    fn groups_collect_extra_groups_and_members() {
        let mut spec = base();
        spec.groups.insert(
            "wheel".into(),
            GroupSpec {
                name: "wheel".into(),
                gid: Some(1),
                members: vec!["bob".into()],
            },
        );
        let mut alice = user("alice", true);
        alice.extra_groups = vec!["wheel".into()];
        spec.users.insert("alice".into(), alice);
        spec.users.insert("bob".into(), user("bob", true));
        let a = allocate(&spec).unwrap();
        let wheel = a.groups.iter().find(|g| g.name == "wheel").unwrap();
        assert_eq!(wheel.members, ["alice", "bob"]);
        assert_eq!(
            a.groups.iter().map(|g| g.gid).collect::<Vec<_>>(),
            [1, 100, 65534]
        );
    }

    #[test]
    fn an_undeclared_extra_group_is_left_out_as_nixos_does() {
        let mut spec = base();
        let mut alice = user("alice", true);
        alice.extra_groups = vec!["video".into(), "users".into()];
        spec.users.insert("alice".into(), alice);
        let a = allocate(&spec).unwrap();
        assert_eq!(
            a.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
            ["users", "nogroup"]
        );
        let users = a.groups.iter().find(|g| g.name == "users").unwrap();
        assert_eq!(users.members, ["alice"]);
    }

    #[test]
    fn password_precedence_is_nixos_order() {
        let mut u = user("a", true);
        assert_eq!(password_of(&u), Password::Locked);
        u.initial_hashed_password = Some("ih".into());
        assert_eq!(password_of(&u), Password::Hash("ih".into()));
        u.initial_password = Some("ip".into());
        assert_eq!(password_of(&u), Password::Clear("ip".into()));
        u.hashed_password = Some("h".into());
        assert_eq!(password_of(&u), Password::Hash("h".into()));
        u.password = Some("p".into());
        assert_eq!(password_of(&u), Password::Clear("p".into()));
        u.hashed_password_file = Some("/nix/store/x-hash".into());
        assert_eq!(
            password_of(&u),
            Password::HashFile("/nix/store/x-hash".into())
        );
    }

    #[test]
    fn auto_subid_ranges_do_not_overlap_explicit_ones() {
        let mut spec = base();
        let mut a = user("alice", true);
        a.auto_sub_uid_gid_range = true;
        spec.users.insert("alice".into(), a.clone());
        let start = allocate(&spec).unwrap().users[0].sub_uids[0].0;
        assert_eq!((start - SUBID_BASE) % SUBID_COUNT, 0);
        assert!(start + SUBID_COUNT <= u64::from(u32::MAX));
        let mut b = user("bob", true);
        b.sub_uid_ranges = vec![SubUidRange {
            start_uid: start as i64,
            count: 10,
        }];
        spec.users.insert("bob".into(), b);
        let moved = allocate(&spec).unwrap();
        let alice = moved.users.iter().find(|u| u.name == "alice").unwrap();
        assert_ne!(alice.sub_uids[0].0, start);
    }

    #[test]
    fn duplicate_uids_name_both_users_unless_allowed() {
        let mut spec = base();
        for n in ["alice", "bob"] {
            let mut u = user(n, true);
            u.uid = Some(1000);
            spec.users.insert(n.into(), u);
        }
        assert_eq!(
            errors(&spec),
            "users.users.bob.uid: users.users.alice.uid has the same uid 1000: ids must be unique unless users.enforceIdUniqueness = false"
        );
        spec.enforce_id_uniqueness = false;
        assert!(allocate(&spec).is_ok());
    }

    #[test]
    fn duplicate_gids_name_both_groups() {
        let mut spec = base();
        spec.groups
            .insert("staff".into(), group("staff", Some(100)));
        assert_eq!(
            errors(&spec),
            "users.groups.users.gid: users.groups.staff.gid has the same gid 100: ids must be unique unless users.enforceIdUniqueness = false"
        );
    }

    #[test]
    fn an_unknown_primary_group_names_the_user_and_option() {
        let mut spec = base();
        let mut a = user("alice", true);
        a.group = "staff".into();
        a.extra_groups = vec!["wheel".into()];
        spec.users.insert("alice".into(), a);
        assert_eq!(
            errors(&spec),
            "users.users.alice.group: group 'staff' is not defined (add users.groups.staff = { };)"
        );
    }

    #[test]
    fn unset_group_and_bad_kind_are_errors() {
        let mut spec = base();
        let mut a = user("svc", false);
        a.group = String::new();
        a.is_system_user = false;
        spec.users.insert("svc".into(), a);
        let e = errors(&spec);
        assert!(
            e.contains("users.users.svc: exactly one of isSystemUser and isNormalUser must be set"),
            "{e}"
        );
        assert!(e.contains("users.users.svc.group: is unset"), "{e}");
    }

    #[test]
    fn invalid_names_and_fields_are_errors() {
        let mut spec = base();
        let mut a = user("bad name", true);
        a.description = "a:b".into();
        a.hashed_password = Some("$6$x:y".into());
        spec.users.insert("bad".into(), a);
        spec.groups.insert("g".into(), group("-g", None));
        let e = errors(&spec);
        assert!(
            e.contains("users.users.bad.name: 'bad name' is not a valid user name"),
            "{e}"
        );
        assert!(
            e.contains("users.users.bad.description: must not contain ':'"),
            "{e}"
        );
        assert!(
            e.contains("users.users.bad.hashedPassword: must not contain ':'"),
            "{e}"
        );
        assert!(
            e.contains("users.groups.g.name: '-g' is not a valid group name"),
            "{e}"
        );
    }

    #[test]
    fn shared_names_and_ids_out_of_range_name_the_option() {
        let mut spec = base();
        let mut a = user("alice", true);
        a.uid = Some(u32::MAX.into());
        spec.users.insert("alice".into(), a);
        spec.users.insert("alias".into(), user("alice", true));
        spec.groups
            .insert("staff".into(), group("users", Some(u32::MAX.into())));
        assert_eq!(
            errors(&spec),
            "4 problems:\n\
             - users.groups.staff.gid: 4294967295 is not a valid gid (0 to 4294967294)\n\
             - users.groups.users.name: users.groups.staff is also named \"users\": group names must be unique\n\
             - users.users.alice.name: users.users.alias is also named \"alice\": user names must be unique\n\
             - users.users.alice.uid: 4294967295 is not a valid uid (0 to 4294967294)"
        );
    }

    #[test]
    fn sub_id_ranges_past_the_last_id_are_errors_even_near_i64_max() {
        let mut spec = base();
        let mut a = user("alice", true);
        a.sub_uid_ranges = vec![SubUidRange {
            start_uid: i64::MAX,
            count: 1,
        }];
        a.sub_gid_ranges = vec![SubGidRange {
            start_gid: MAX_ID,
            count: 2,
        }];
        spec.users.insert("alice".into(), a);
        assert_eq!(
            errors(&spec),
            format!(
                "2 problems:\n\
                 - users.users.alice.subUidRanges: start {} and count 1 do not make a range of ids (0 to {MAX_ID})\n\
                 - users.users.alice.subGidRanges: start {MAX_ID} and count 2 do not make a range of ids (0 to {MAX_ID})",
                i64::MAX
            )
        );
        let b = spec.users.get_mut("alice").unwrap();
        b.sub_uid_ranges[0].start_uid = MAX_ID;
        b.sub_gid_ranges[0].count = 1;
        assert!(allocate(&spec).is_ok());
    }

    #[test]
    fn no_free_id_left_names_the_option() {
        let mut spec = base();
        for gid in SYSTEM_IDS {
            let name = format!("g{gid}");
            spec.groups
                .insert(name.clone(), group(&name, Some(gid.into())));
        }
        spec.groups.insert("late".into(), group("late", None));
        assert_eq!(
            errors(&spec),
            "users.groups.late.gid: no free gid is left in 400-999: set one"
        );
    }

    #[test]
    fn member_that_is_not_a_user_is_an_error() {
        let mut spec = base();
        spec.groups.insert(
            "wheel".into(),
            GroupSpec {
                name: "wheel".into(),
                gid: Some(1),
                members: vec!["ghost".into()],
            },
        );
        assert_eq!(
            errors(&spec),
            "users.groups.wheel.members: user 'ghost' is not defined (add users.users.ghost)"
        );
    }

    #[test]
    fn created_homes_never_take_over_system_directories() {
        for (home, what) in [
            ("/nix/store", "is in the Nix store"),
            ("/nix/store/", "is in the Nix store"),
            ("/nix/store/abc-x", "is in the Nix store"),
            ("/nix", "is a system directory"),
            ("/etc", "is a system directory"),
            ("/bin/", "is a system directory"),
            ("/var/empty", "is a system directory"),
            ("/proc/1", "is in a kernel file system"),
        ] {
            let mut spec = base();
            let mut a = user("alice", true);
            a.create_home = true;
            a.home = home.into();
            spec.users.insert("alice".into(), a);
            let e = errors(&spec);
            assert!(
                e.contains(&format!("users.users.alice.home: {home:?} {what}: createHome would make it the user's, mode 700")),
                "{e}"
            );
        }
        // Left alone without createHome (nobody's /var/empty), and homes
        // below a system directory are fine.
        for (home, create) in [
            ("/var/empty", false),
            ("/var/lib/alice", true),
            ("/etc/alice", true),
        ] {
            let mut spec = base();
            let mut a = user("alice", true);
            a.create_home = create;
            a.home = home.into();
            spec.users.insert("alice".into(), a);
            assert!(allocate(&spec).is_ok(), "{home}");
        }
    }

    #[test]
    fn normal_user_below_1000_and_bad_home_are_errors() {
        let mut spec = base();
        let mut a = user("alice", true);
        a.uid = Some(500);
        a.create_home = true;
        a.home = "/home/../etc".into();
        a.home_mode = "0999".into();
        spec.users.insert("alice".into(), a);
        let e = errors(&spec);
        assert!(
            e.contains("users.users.alice.uid: 500 is below 1000 but isNormalUser is set"),
            "{e}"
        );
        assert!(
            e.contains("users.users.alice.home: \"/home/../etc\" cannot be created"),
            "{e}"
        );
        assert!(
            e.contains("users.users.alice.homeMode: '0999' is not an octal mode of at most 07777"),
            "{e}"
        );
    }

    #[test]
    fn two_users_creating_one_home_is_an_error() {
        let mut spec = base();
        for n in ["alice", "bob"] {
            let mut u = user(n, true);
            u.create_home = true;
            u.home = "/home/shared".into();
            spec.users.insert(n.into(), u);
        }
        assert_eq!(
            errors(&spec),
            "users.users.bob.home: users.users.alice.home is the same directory \"/home/shared\" and both users have createHome set"
        );
    }

    #[test]
    fn one_home_written_two_ways_is_still_one_home() {
        let mut spec = base();
        for (n, home) in [("alice", "/home/shared"), ("bob", "/home//./shared/")] {
            let mut u = user(n, true);
            u.create_home = true;
            u.home = home.into();
            spec.users.insert(n.into(), u);
        }
        assert_eq!(
            errors(&spec),
            "users.users.bob.home: users.users.alice.home is the same directory \"/home//./shared/\" and both users have createHome set"
        );
    }

    #[test]
    fn unknown_version_is_rejected() {
        let spec = UsersSpec {
            version: 7,
            ..base()
        };
        assert_eq!(
            errors(&spec),
            "users spec: version 7 is not supported (expected 1); rebuild with a matching nci-etc"
        );
    }
}
