//! The scheduling settings of `[Service]`: `Nice=`, `OOMScoreAdjust=`,
//! `IOSchedulingClass=`, `IOSchedulingPriority=`, `CPUSchedulingPolicy=`,
//! `CPUSchedulingPriority=`, `CPUSchedulingResetOnFork=` and
//! `CPUAffinity=`, read with systemd's grammar (src/core/load-fragment.c)
//! and applied by `nci-systemd exec` before the user switch, in the
//! order and with the exit statuses of systemd's exec_child():
//!
//! - `OOMScoreAdjust=` is written to /proc/self/oom_score_adj; a
//!   container that does not allow it (lowering it needs
//!   CAP_SYS_RESOURCE) leaves it unapplied, as systemd does ("assuming
//!   containerized execution"), with one line here;
//! - `Nice=` is set as systemd's `setpriority_closest()`: without
//!   CAP_SYS_NICE, the closest level RLIMIT_NICE allows, with one line;
//! - `CPUScheduling*=` (sched_setscheduler), `CPUAffinity=`
//!   (sched_setaffinity) and `IOScheduling*=` (ioprio_set) that the
//!   container refuses fail the start (214, 215, 211), the message
//!   naming the settings.

use crate::spec::SettingError;
use serde::{Deserialize, Serialize};

/// systemd's exit statuses for these steps.
pub const EXIT_NICE: i32 = 201;
pub const EXIT_OOM_ADJUST: i32 = 206;
pub const EXIT_IOPRIO: i32 = 211;
pub const EXIT_SETSCHEDULER: i32 = 214;
pub const EXIT_CPUAFFINITY: i32 = 215;

/// The highest CPU index `CPUAffinity=` takes (systemd's CPU_SET_MAX_CPU
/// bound: 8192 CPUs).
const MAX_CPU: usize = 8191;

/// What a unit asks; `None`: not set, the process keeps the runner's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduling {
    pub nice: Option<i32>,
    pub oom_score_adjust: Option<i32>,
    pub io: Option<IoPriority>,
    pub cpu: Option<CpuScheduling>,
    /// The CPUs, sorted, each once.
    pub cpu_affinity: Option<Vec<usize>>,
}

/// `IOSchedulingClass=` with `IOSchedulingPriority=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoPriority {
    pub class: IoClass,
    /// 0 (highest) to 7.
    pub level: u8,
}

/// The IO scheduling classes (`none` reads as best-effort 4, as systemd
/// normalises it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IoClass {
    Realtime,
    BestEffort,
    Idle,
}

impl IoClass {
    pub fn name(self) -> &'static str {
        match self {
            IoClass::Realtime => "realtime",
            IoClass::BestEffort => "best-effort",
            IoClass::Idle => "idle",
        }
    }

    /// The kernel's IOPRIO_CLASS_*.
    fn number(self) -> i32 {
        match self {
            IoClass::Realtime => 1,
            IoClass::BestEffort => 2,
            IoClass::Idle => 3,
        }
    }
}

/// `CPUSchedulingPolicy=` with `CPUSchedulingPriority=` and
/// `CPUSchedulingResetOnFork=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuScheduling {
    pub policy: Policy,
    pub priority: i32,
    pub reset_on_fork: bool,
}

/// The CPU scheduling policies systemd names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    Other,
    Batch,
    Idle,
    Fifo,
    Rr,
}

impl Policy {
    const ALL: [Policy; 5] = [
        Policy::Other,
        Policy::Batch,
        Policy::Idle,
        Policy::Fifo,
        Policy::Rr,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Other => "other",
            Policy::Batch => "batch",
            Policy::Idle => "idle",
            Policy::Fifo => "fifo",
            Policy::Rr => "rr",
        }
    }

    /// The kernel's SCHED_* number (also accepted in place of the name,
    /// as systemd does).
    fn number(self) -> i32 {
        match self {
            Policy::Other => 0,
            Policy::Fifo => 1,
            Policy::Rr => 2,
            Policy::Batch => 3,
            Policy::Idle => 5,
        }
    }

    /// The priorities the kernel takes for the policy.
    fn range(self) -> (i32, i32) {
        match self {
            Policy::Fifo | Policy::Rr => (1, 99),
            _ => (0, 0),
        }
    }
}

fn int_in(s: &str, min: i32, max: i32) -> Result<i32, SettingError> {
    s.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| SettingError::NotInRange {
            value: s.to_owned(),
            min,
            max,
        })
}

/// `Nice=`: -20 to 19.
pub fn parse_nice(s: &str) -> Result<i32, SettingError> {
    int_in(s, -20, 19)
}

/// `OOMScoreAdjust=`: -1000 to 1000.
pub fn parse_oom_score_adjust(s: &str) -> Result<i32, SettingError> {
    int_in(s, -1000, 1000)
}

/// `IOSchedulingClass=`: a name or the kernel's number (0 is `none`).
pub fn parse_io_class(s: &str) -> Result<Option<IoClass>, SettingError> {
    match s.trim() {
        "none" | "0" => Ok(None),
        "realtime" | "1" => Ok(Some(IoClass::Realtime)),
        "best-effort" | "2" => Ok(Some(IoClass::BestEffort)),
        "idle" | "3" => Ok(Some(IoClass::Idle)),
        _ => Err(SettingError::NotOneOf {
            value: s.to_owned(),
            what: "an IO scheduling class (realtime, best-effort, idle, none)",
        }),
    }
}

/// `IOSchedulingPriority=`: 0 to 7.
pub fn parse_io_priority(s: &str) -> Result<u8, SettingError> {
    int_in(s, 0, 7).map(|n| n as u8)
}

/// `CPUSchedulingPolicy=`: a name or the kernel's number.
pub fn parse_policy(s: &str) -> Result<Policy, SettingError> {
    let t = s.trim();
    Policy::ALL
        .into_iter()
        .find(|p| p.name() == t || t.parse::<i32>().ok() == Some(p.number()))
        .ok_or_else(|| SettingError::NotOneOf {
            value: s.to_owned(),
            what: "a CPU scheduling policy (other, batch, idle, fifo, rr)",
        })
}

/// `CPUSchedulingPriority=`: 0 to 99 (the policy's own range is the
/// kernel's to check, as with systemd).
pub fn parse_cpu_priority(s: &str) -> Result<i32, SettingError> {
    int_in(s, 0, 99)
}

/// `CPUAffinity=`, every value in order: CPU indices and ranges
/// (`0 2-3`, `0,2`), each value adding to the set, an empty one
/// emptying it. `None` when the set ends empty (not set).
pub fn parse_cpu_affinity(values: &[String]) -> Result<Option<Vec<usize>>, SettingError> {
    let mut set = std::collections::BTreeSet::new();
    for v in values {
        if v.trim().is_empty() {
            set.clear();
            continue;
        }
        if v.trim() == "numa" {
            return Err(SettingError::NotOneOf {
                value: v.clone(),
                what: "supported: 'numa' takes the CPUs of NUMAPolicy=, which nci-systemd does not apply; give the CPUs",
            });
        }
        for word in v.split(|c: char| c.is_whitespace() || c == ',') {
            if word.is_empty() {
                continue;
            }
            let bad = || SettingError::NotCpuSet(v.clone());
            let cpu = |n: &str| {
                n.parse::<usize>()
                    .ok()
                    .filter(|n| *n <= MAX_CPU)
                    .ok_or_else(bad)
            };
            let (first, last) = match word.split_once('-') {
                Some((a, b)) => (cpu(a)?, cpu(b)?),
                None => (cpu(word)?, cpu(word)?),
            };
            if first > last {
                return Err(bad());
            }
            set.extend(first..=last);
        }
    }
    Ok((!set.is_empty()).then(|| set.into_iter().collect()))
}

/// The IO priority of `IOSchedulingClass=` then `IOSchedulingPriority=`
/// (the order NixOS writes them in, alphabetical), from systemd's
/// default best-effort 4; `None` when neither is set.
pub fn io_priority(class: Option<Option<IoClass>>, level: Option<u8>) -> Option<IoPriority> {
    if class.is_none() && level.is_none() {
        return None;
    }
    let mut io = IoPriority {
        class: IoClass::BestEffort,
        level: 4,
    };
    match class {
        Some(Some(c)) => io.class = c,
        // `none` is best-effort 4, whatever the level was.
        Some(None) => io.level = 4,
        None => {}
    }
    if let Some(l) = level {
        io.level = l;
    }
    Some(io)
}

/// The CPU scheduling of `CPUSchedulingPolicy=` then
/// `CPUSchedulingPriority=` (alphabetical, as NixOS writes them): the
/// policy clamps systemd's default priority 0 into its range (fifo and
/// rr: 1), a priority given is taken as is. `None` when neither is set
/// (`CPUSchedulingResetOnFork=` alone sets nothing, as in systemd).
pub fn cpu_scheduling(
    policy: Option<Policy>,
    priority: Option<i32>,
    reset_on_fork: bool,
) -> Option<CpuScheduling> {
    if policy.is_none() && priority.is_none() {
        return None;
    }
    let policy = policy.unwrap_or(Policy::Other);
    let (min, max) = policy.range();
    Some(CpuScheduling {
        policy,
        priority: priority.unwrap_or(0.clamp(min, max)),
        reset_on_fork,
    })
}

/// The nice level systemd's `setpriority_closest()` settles on when
/// `wanted` is refused for want of privilege: the current level when
/// asked to be nicer (that is never refused: the error stands), else
/// the lowest level RLIMIT_NICE (`rlimit`) allows, or the current one
/// if that is lower. `None`: the refusal stands.
pub fn closest_nice(wanted: i32, current: i32, rlimit: u64) -> Option<i32> {
    if wanted == current {
        return Some(current);
    }
    if wanted > current {
        return None;
    }
    // RLIMIT_NICE's ceiling is 20 - rlimit (1 or less: 19).
    let limit = if rlimit <= 1 {
        19
    } else if rlimit >= 40 {
        -20
    } else {
        20 - rlimit as i32
    };
    Some(current.min(limit).max(wanted))
}

/// Why a scheduling step failed: systemd's exit status and the message
/// (after the unit's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub code: i32,
    pub message: String,
}

/// Applies `s` to this process, in systemd's order; `log` gets the lines
/// for what the container does not allow and systemd leaves (OOM score,
/// nice level).
pub fn apply(s: &Scheduling, log: &mut dyn FnMut(String)) -> Result<(), Failed> {
    use nix::errno::Errno;
    let privilege = |e: Errno| matches!(e, Errno::EPERM | Errno::EACCES);
    if let Some(adj) = s.oom_score_adjust {
        match std::fs::write("/proc/self/oom_score_adj", adj.to_string()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error().map(Errno::from_raw).is_some_and(privilege) => log(format!(
                "OOMScoreAdjust={adj} is not allowed in the container (lowering it needs CAP_SYS_RESOURCE): not applied"
            )),
            Err(e) => {
                return Err(Failed {
                    code: EXIT_OOM_ADJUST,
                    message: format!("OOMScoreAdjust={adj}: writing /proc/self/oom_score_adj: {e}"),
                })
            }
        }
    }
    if let Some(nice) = s.nice {
        set_nice(nice, log)?;
    }
    if let Some(cpu) = s.cpu {
        sys::set_scheduler(cpu.policy.number(), cpu.priority, cpu.reset_on_fork).map_err(|e| {
            let hint = if privilege(e) {
                " (the container lacks CAP_SYS_NICE: podman run --cap-add SYS_NICE)"
            } else {
                ""
            };
            Failed {
                code: EXIT_SETSCHEDULER,
                message: format!(
                    "CPUSchedulingPolicy={} CPUSchedulingPriority={}: setting the CPU scheduling: {}{hint}",
                    cpu.policy.name(),
                    cpu.priority,
                    e.desc()
                ),
            }
        })?;
    }
    if let Some(cpus) = &s.cpu_affinity {
        set_affinity(cpus)?;
    }
    if let Some(io) = s.io {
        sys::set_ioprio(io.class.number(), i32::from(io.level)).map_err(|e| {
            let hint = if privilege(e) {
                " (the realtime class needs CAP_SYS_NICE or CAP_SYS_ADMIN, which the container lacks)"
            } else {
                ""
            };
            Failed {
                code: EXIT_IOPRIO,
                message: format!(
                    "IOSchedulingClass={} IOSchedulingPriority={}: setting the IO scheduling: {}{hint}",
                    io.class.name(),
                    io.level,
                    e.desc()
                ),
            }
        })?;
    }
    Ok(())
}

fn set_nice(nice: i32, log: &mut dyn FnMut(String)) -> Result<(), Failed> {
    use nix::errno::Errno;
    let failed = |e: Errno| Failed {
        code: EXIT_NICE,
        message: format!("Nice={nice}: setting the nice level: {}", e.desc()),
    };
    match sys::set_priority(nice) {
        Ok(()) => Ok(()),
        Err(e @ (Errno::EPERM | Errno::EACCES)) => {
            let current = sys::get_priority().map_err(failed)?;
            let rlimit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NICE)
                .map(|(soft, _)| soft)
                .map_err(failed)?;
            let Some(closest) = closest_nice(nice, current, rlimit) else {
                return Err(failed(e));
            };
            if closest != current {
                sys::set_priority(closest).map_err(failed)?;
            }
            log(format!(
                "Nice={nice} is not allowed in the container (no CAP_SYS_NICE; RLIMIT_NICE {rlimit}): set to {closest}, the closest allowed"
            ));
            Ok(())
        }
        Err(e) => Err(failed(e)),
    }
}

fn set_affinity(cpus: &[usize]) -> Result<(), Failed> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let shown = show_cpus(cpus);
    let failed = |why: String| Failed {
        code: EXIT_CPUAFFINITY,
        message: format!("CPUAffinity={shown}: setting the CPU affinity: {why}"),
    };
    let mut set = CpuSet::new();
    for cpu in cpus {
        set.set(*cpu)
            .map_err(|_| failed(format!("CPU {cpu} is beyond this system's CPU set")))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| {
        let allowed: Vec<usize> = sched_getaffinity(Pid::from_raw(0))
            .map(|have| {
                (0..CpuSet::count())
                    .filter(|c| have.is_set(*c).unwrap_or(false))
                    .collect()
            })
            .unwrap_or_default();
        failed(format!(
            "{} (the container's CPUs are {})",
            e.desc(),
            show_cpus(&allowed)
        ))
    })
}

/// CPUs as `CPUAffinity=` writes them: `0-3 6`.
pub fn show_cpus(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(" ")
}

/// The three calls neither std nor nix wraps.
#[allow(unsafe_code)]
mod sys {
    use nix::errno::Errno;
    use nix::libc;

    /// setpriority(PRIO_PROCESS, 0, nice).
    pub fn set_priority(nice: i32) -> Result<(), Errno> {
        // SAFETY: plain integers; acts on this process.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
        Errno::result(r).map(drop)
    }

    /// getpriority(PRIO_PROCESS, 0); -1 is a level, so errno decides.
    pub fn get_priority() -> Result<i32, Errno> {
        Errno::clear();
        // SAFETY: plain integers; reads this process's level.
        let r = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        match Errno::last_raw() {
            0 => Ok(r),
            e => Err(Errno::from_raw(e)),
        }
    }

    /// sched_setscheduler(0, policy [| SCHED_RESET_ON_FORK], priority).
    pub fn set_scheduler(policy: i32, priority: i32, reset_on_fork: bool) -> Result<(), Errno> {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        let policy = policy
            | if reset_on_fork {
                libc::SCHED_RESET_ON_FORK
            } else {
                0
            };
        // SAFETY: `param` lives across the call, which only reads it.
        let r = unsafe { libc::sched_setscheduler(0, policy, &param) };
        Errno::result(r).map(drop)
    }

    /// ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level).
    pub fn set_ioprio(class: i32, level: i32) -> Result<(), Errno> {
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        const IOPRIO_CLASS_SHIFT: i32 = 13;
        // SAFETY: the syscall takes three integers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_ioprio_set,
                IOPRIO_WHO_PROCESS,
                0,
                (class << IOPRIO_CLASS_SHIFT) | level,
            )
        };
        Errno::result(r).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numbers_are_systemds_ranges() {
        assert_eq!(parse_nice("-20"), Ok(-20));
        assert_eq!(parse_nice(" 19 "), Ok(19));
        assert_eq!(
            parse_nice("20").unwrap_err().to_string(),
            "'20' is not a number from -20 to 19"
        );
        assert!(parse_nice("high").is_err());
        assert_eq!(parse_oom_score_adjust("-1000"), Ok(-1000));
        assert_eq!(
            parse_oom_score_adjust("1001").unwrap_err().to_string(),
            "'1001' is not a number from -1000 to 1000"
        );
        assert_eq!(parse_io_priority("7"), Ok(7));
        assert!(parse_io_priority("8").is_err());
        assert_eq!(parse_cpu_priority("99"), Ok(99));
        assert!(parse_cpu_priority("100").is_err());
        assert!(parse_cpu_priority("-1").is_err());
    }

    #[test]
    fn classes_and_policies_by_name_or_number() {
        assert_eq!(parse_io_class("idle"), Ok(Some(IoClass::Idle)));
        assert_eq!(parse_io_class("1"), Ok(Some(IoClass::Realtime)));
        assert_eq!(parse_io_class("none"), Ok(None));
        assert_eq!(
            parse_io_class("slow").unwrap_err().to_string(),
            "'slow' is not an IO scheduling class (realtime, best-effort, idle, none)"
        );
        assert_eq!(parse_policy("batch"), Ok(Policy::Batch));
        assert_eq!(parse_policy("5"), Ok(Policy::Idle));
        assert_eq!(
            parse_policy("4").unwrap_err().to_string(),
            "'4' is not a CPU scheduling policy (other, batch, idle, fifo, rr)"
        );
    }

    #[test]
    fn cpu_affinity_adds_up_and_an_empty_value_resets() {
        let p = |v: &[&str]| parse_cpu_affinity(&strings(v));
        assert_eq!(p(&["0 2-3", "1,5"]), Ok(Some(vec![0, 1, 2, 3, 5])));
        assert_eq!(p(&["0-1", "", "3"]), Ok(Some(vec![3])));
        assert_eq!(p(&["0", ""]), Ok(None));
        assert_eq!(p(&[]), Ok(None));
        assert_eq!(
            p(&["3-1"]).unwrap_err().to_string(),
            "'3-1' is not a list of CPU indices and ranges (0 2-3)"
        );
        assert!(p(&["x"]).is_err());
        assert!(p(&["8192"]).is_err());
        assert!(p(&["numa"]).unwrap_err().to_string().contains("NUMAPolicy"));
        assert_eq!(show_cpus(&[0, 1, 2, 3, 5, 7, 8]), "0-3 5 7-8");
    }

    #[test]
    fn io_and_cpu_defaults_are_systemds() {
        assert_eq!(io_priority(None, None), None);
        let io = |class, level| Some(IoPriority { class, level });
        assert_eq!(
            io_priority(Some(Some(IoClass::Idle)), None),
            io(IoClass::Idle, 4)
        );
        assert_eq!(io_priority(None, Some(7)), io(IoClass::BestEffort, 7));
        assert_eq!(io_priority(Some(None), Some(2)), io(IoClass::BestEffort, 2));
        assert_eq!(cpu_scheduling(None, None, true), None);
        let cpu = |policy, priority| {
            Some(CpuScheduling {
                policy,
                priority,
                reset_on_fork: false,
            })
        };
        assert_eq!(
            cpu_scheduling(Some(Policy::Fifo), None, false),
            cpu(Policy::Fifo, 1)
        );
        assert_eq!(
            cpu_scheduling(Some(Policy::Idle), None, false),
            cpu(Policy::Idle, 0)
        );
        assert_eq!(
            cpu_scheduling(Some(Policy::Rr), Some(50), false),
            cpu(Policy::Rr, 50)
        );
        assert_eq!(cpu_scheduling(None, Some(0), false), cpu(Policy::Other, 0));
    }

    #[test]
    fn the_closest_nice_level_is_setpriority_closests() {
        // No RLIMIT_NICE (0, a container's default): the current level.
        assert_eq!(closest_nice(-5, 0, 0), Some(0));
        // RLIMIT_NICE 25 allows down to -5; 30 to -10 but -5 is asked.
        assert_eq!(closest_nice(-10, 0, 25), Some(-5));
        assert_eq!(closest_nice(-5, 0, 30), Some(-5));
        // Already nicer than the limit allows: the limit.
        assert_eq!(closest_nice(-10, 5, 20), Some(0));
        // Asked to be nicer and refused: the error stands.
        assert_eq!(closest_nice(5, 0, 0), None);
        assert_eq!(closest_nice(3, 3, 0), Some(3));
    }
}
