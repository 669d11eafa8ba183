//! `Limit*=` inside a container: a hard limit above the container's own
//! cannot be set (raising one needs CAP_SYS_RESOURCE in the host's user
//! namespace, which containers do not get), so, as systemd's
//! `setrlimit_closest()` does, the limit is lowered to the container's
//! hard limit and the service starts; one log line names the setting and
//! both values (as for a capability the container does not have).

use crate::spec::{resource, Limit};
use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};

/// The highest hard limit this process can set: its own hard limit, or,
/// when it may raise it, the kernel's ceiling (`None`: infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling(pub Option<u64>);

/// `limit` fitted under `ceiling`: the hard limit lowered to it, the soft
/// limit to the new hard one. `None` when nothing changes.
pub fn fit(limit: &Limit, ceiling: Ceiling) -> Option<Limit> {
    let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (Some(a), None) | (None, Some(a)) => Some(a),
        (None, None) => None,
    };
    let hard = min(limit.hard, ceiling.0);
    let soft = min(limit.soft, hard);
    (hard != limit.hard || soft != limit.soft).then(|| Limit {
        setting: limit.setting.clone(),
        soft,
        hard,
    })
}

/// A limit as `Limit*=` writes it: `N`, `SOFT:HARD`, `infinity`.
pub fn show(soft: Option<u64>, hard: Option<u64>) -> String {
    let one = |v: Option<u64>| v.map_or_else(|| "infinity".to_string(), |n| n.to_string());
    if soft == hard {
        one(hard)
    } else {
        format!("{}:{}", one(soft), one(hard))
    }
}

fn from_rlim(v: u64) -> Option<u64> {
    (v != RLIM_INFINITY).then_some(v)
}

/// Whether this process may raise hard limits: CAP_SYS_RESOURCE, and in
/// the host's user namespace (the capability of a user namespace does
/// not reach rlimits).
fn may_raise() -> bool {
    let initial_ns = std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(false);
    initial_ns
        && caps::has_cap(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_RESOURCE,
        )
        .unwrap_or(false)
}

/// The ceiling for `res` in this process.
fn ceiling(res: Resource, raise: bool) -> Ceiling {
    if raise {
        if res == Resource::RLIMIT_NOFILE {
            // The kernel's own ceiling for open files.
            return Ceiling(
                std::fs::read_to_string("/proc/sys/fs/nr_open")
                    .ok()
                    .and_then(|s| s.trim().parse().ok()),
            );
        }
        return Ceiling(None);
    }
    Ceiling(getrlimit(res).ok().and_then(|(_, hard)| from_rlim(hard)))
}

/// The unit's limits fitted to this container; each lowered one is
/// reported through `log`.
pub fn fit_all(limits: &[Limit], log: impl FnMut(String)) -> Vec<Limit> {
    let raise = may_raise();
    fit_under(limits, |res| ceiling(res, raise), log)
}

/// `limits` fitted under `ceiling_of` each resource (what the system
/// allows, read by [`fit_all`]); each lowered one is reported through
/// `log`.
fn fit_under(
    limits: &[Limit],
    ceiling_of: impl Fn(Resource) -> Ceiling,
    mut log: impl FnMut(String),
) -> Vec<Limit> {
    limits
        .iter()
        .map(|l| {
            let Some(res) = resource(&l.setting) else {
                return l.clone();
            };
            match fit(l, ceiling_of(res)) {
                None => l.clone(),
                Some(lower) => {
                    log(format!(
                        "{}={} is above the container's hard limit ({}): lowered to {}",
                        l.setting,
                        show(l.soft, l.hard),
                        show(lower.hard, lower.hard),
                        show(lower.soft, lower.hard)
                    ));
                    lower
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft: Option<u64>, hard: Option<u64>) -> Limit {
        Limit {
            setting: "LimitNOFILE".into(),
            soft,
            hard,
        }
    }

    #[test]
    fn a_limit_above_the_ceiling_is_lowered_to_it() {
        let c = Ceiling(Some(1024));
        let got = |s, h| fit(&limit(s, h), c).map(|l| (l.soft, l.hard));
        // LimitNOFILE=10032 (redis), 4096:10032, infinity, 512:infinity.
        assert_eq!(
            got(Some(10032), Some(10032)),
            Some((Some(1024), Some(1024)))
        );
        assert_eq!(got(Some(4096), Some(10032)), Some((Some(1024), Some(1024))));
        assert_eq!(got(Some(512), Some(10032)), Some((Some(512), Some(1024))));
        assert_eq!(got(None, None), Some((Some(1024), Some(1024))));
        assert_eq!(got(Some(512), None), Some((Some(512), Some(1024))));
        // At or under the ceiling: unchanged.
        assert_eq!(got(Some(1024), Some(1024)), None);
        assert_eq!(got(Some(100), Some(200)), None);
        // No ceiling (infinity): unchanged, infinity too.
        assert_eq!(fit(&limit(None, None), Ceiling(None)), None);
    }

    #[test]
    fn each_lowered_limit_is_logged_with_both_values_and_the_others_kept() {
        let limits = [
            Limit {
                setting: "LimitNOFILE".into(),
                soft: Some(10032),
                hard: Some(10032),
            },
            Limit {
                setting: "LimitCORE".into(),
                soft: None,
                hard: None,
            },
        ];
        let mut lines = Vec::new();
        let got = fit_under(
            &limits,
            |res| match res {
                Resource::RLIMIT_NOFILE => Ceiling(Some(1024)),
                _ => Ceiling(None),
            },
            |l| lines.push(l),
        );
        assert_eq!(
            lines,
            ["LimitNOFILE=10032 is above the container's hard limit (1024): lowered to 1024"]
        );
        assert_eq!((got[0].soft, got[0].hard), (Some(1024), Some(1024)));
        assert_eq!(got[1], limits[1]);
    }

    #[test]
    fn limits_are_shown_as_written() {
        assert_eq!(show(Some(10032), Some(10032)), "10032");
        assert_eq!(show(Some(512), Some(1024)), "512:1024");
        assert_eq!(show(None, None), "infinity");
        assert_eq!(show(Some(512), None), "512:infinity");
    }
}
