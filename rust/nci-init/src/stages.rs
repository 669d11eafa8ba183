//! The logic of the PID 1 loops, over [`Sys`]: running oneshots one after
//! the other while reaping whatever else ends (stage 1 and the stage 2
//! helper), and stopping everything (stage 3): TERM, wait until all have
//! exited or the grace time is over, KILL, reap.

use crate::sys::{signal_name, Ended, Event, Sys, SIGKILL, SIGTERM};
use std::io;
use std::time::Duration;

/// A oneshot to run.
#[derive(Debug, Clone)]
pub struct Oneshot {
    pub name: String,
    /// What to spawn (`nci-init exec <data/service>`).
    pub argv: Vec<String>,
    /// Sent to it when a stop request arrives while it runs.
    pub stop_signal: i32,
    /// It is `s6.exitCodeFrom`: its end stops the container.
    pub exit_code_from: bool,
}

/// How a series of oneshots ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// All ran (failures are reported to the callback).
    Done,
    /// One failed and the container must stop.
    Failed { name: String, ended: Ended },
    /// `s6.exitCodeFrom` ended: the container stops with its code.
    Main { name: String, ended: Ended },
    /// A stop signal arrived.
    Stopped { signal: i32 },
}

/// Runs `list` in order, each to completion. A failure stops the series
/// unless `keep_going` (`S6_DONT_TERMINATE_ON_ERROR`); every failure is
/// passed to `on_failure` first.
pub fn run_oneshots(
    sys: &mut dyn Sys,
    stage: &str,
    kind: &str,
    list: &[Oneshot],
    keep_going: bool,
    on_failure: &mut dyn FnMut(&str, Ended),
) -> io::Result<Outcome> {
    for o in list {
        sys.say(&format!(
            "[init {stage}] starting {kind} service '{}'",
            o.name
        ));
        let ended = match sys.spawn(&o.argv) {
            Err(e) => {
                sys.say(&format!(
                    "[init {stage}] cannot start {kind} service '{}': {e}",
                    o.name
                ));
                Ended::Exited(127)
            }
            Ok(pid) => loop {
                match sys.wait(None)? {
                    Event::Exited { pid: p, ended } if p == pid => break ended,
                    // An orphan reparented to us: reaped, nothing more.
                    Event::Exited { .. } | Event::Timeout => continue,
                    Event::Signal(sig) => {
                        sys.say(&format!(
                            "[init {stage}] received SIG{}: stopping {kind} service '{}' with SIG{}",
                            signal_name(sig),
                            o.name,
                            signal_name(o.stop_signal)
                        ));
                        sys.signal(pid, o.stop_signal)?;
                        return Ok(Outcome::Stopped { signal: sig });
                    }
                    Event::NoChildren => break Ended::Exited(127),
                }
            },
        };
        if o.exit_code_from {
            sys.say(&format!(
                "[init {stage}] {kind} service '{}' ended with {}; it is s6.exitCodeFrom: stopping the container",
                o.name,
                ended.describe()
            ));
            return Ok(Outcome::Main {
                name: o.name.clone(),
                ended,
            });
        }
        if ended.success() {
            sys.say(&format!(
                "[init {stage}] {kind} service '{}' succeeded",
                o.name
            ));
            continue;
        }
        sys.say(&format!(
            "[init {stage}] {kind} service '{}' failed with {}",
            o.name,
            ended.describe_for(&o.name)
        ));
        on_failure(&o.name, ended);
        if keep_going {
            sys.say(&format!(
                "[init {stage}] S6_DONT_TERMINATE_ON_ERROR is set: going on without '{}'",
                o.name
            ));
            continue;
        }
        return Ok(Outcome::Failed {
            name: o.name.clone(),
            ended,
        });
    }
    Ok(Outcome::Done)
}

/// Stage 3: TERM to every process, then wait until none is left (no
/// sleep beyond that) or `grace` has passed; then KILL and reap.
pub fn shutdown(sys: &mut dyn Sys, grace: Duration) -> io::Result<()> {
    sys.say("[init stage 3] sending all processes the TERM signal");
    sys.signal_all(SIGTERM)?;
    if reap_all(sys, grace)? {
        sys.say("[init stage 3] all processes exited");
        return Ok(());
    }
    sys.say(&format!(
        "[init stage 3] grace time of {} ms is over: sending all processes the KILL signal",
        grace.as_millis()
    ));
    sys.signal_all(SIGKILL)?;
    if !reap_all(sys, Duration::from_secs(5))? {
        sys.say("[init stage 3] some processes survived KILL (stuck in the kernel?)");
    }
    Ok(())
}

/// Reaps children until none is left (`true`) or `within` has passed
/// (`false`); signals that arrive meanwhile change nothing.
fn reap_all(sys: &mut dyn Sys, within: Duration) -> io::Result<bool> {
    let deadline = sys.now() + within;
    loop {
        match sys.wait(Some(deadline))? {
            Event::NoChildren => return Ok(true),
            Event::Timeout => return Ok(false),
            Event::Exited { .. } | Event::Signal(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::time::Instant;

    /// Replays scripted events and records what the logic asked for.
    struct Fake {
        events: VecDeque<Event>,
        next_pid: i32,
        now: Instant,
        log: Vec<String>,
    }

    impl Fake {
        fn new(events: Vec<Event>) -> Self {
            Fake {
                events: events.into(),
                next_pid: 100,
                now: Instant::now(),
                log: Vec::new(),
            }
        }
    }

    impl Sys for Fake {
        fn spawn(&mut self, argv: &[String]) -> io::Result<i32> {
            self.next_pid += 1;
            self.log
                .push(format!("spawn {} -> {}", argv.join(" "), self.next_pid));
            Ok(self.next_pid)
        }
        fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Event> {
            let ev = self
                .events
                .pop_front()
                .expect("the logic waited past the script");
            if ev == Event::Timeout {
                self.now = deadline.expect("a timeout without a deadline");
            }
            self.log.push(format!("wait -> {ev:?}"));
            Ok(ev)
        }
        fn signal(&mut self, pid: i32, sig: i32) -> io::Result<()> {
            self.log.push(format!("signal {pid} {sig}"));
            Ok(())
        }
        fn signal_all(&mut self, sig: i32) -> io::Result<()> {
            self.log.push(format!("signal all {sig}"));
            Ok(())
        }
        fn now(&self) -> Instant {
            self.now
        }
        fn say(&mut self, line: &str) {
            self.log.push(format!("say {line}"));
        }
    }

    fn oneshot(name: &str) -> Oneshot {
        Oneshot {
            name: name.into(),
            argv: vec!["run".into(), name.into()],
            stop_signal: 15,
            exit_code_from: false,
        }
    }

    fn exited(pid: i32, code: i32) -> Event {
        Event::Exited {
            pid,
            ended: Ended::Exited(code),
        }
    }

    #[test]
    fn oneshots_run_in_order_and_orphans_are_only_reaped() {
        let mut sys = Fake::new(vec![exited(555, 0), exited(101, 0), exited(102, 0)]);
        let mut failures = Vec::new();
        let out = run_oneshots(
            &mut sys,
            "stage 1",
            "oneshot-pre",
            &[oneshot("a"), oneshot("b")],
            false,
            &mut |n, e| failures.push((n.to_owned(), e)),
        )
        .unwrap();
        assert_eq!(out, Outcome::Done);
        assert!(failures.is_empty());
        assert_eq!(
            sys.log,
            [
                "say [init stage 1] starting oneshot-pre service 'a'",
                "spawn run a -> 101",
                "wait -> Exited { pid: 555, ended: Exited(0) }",
                "wait -> Exited { pid: 101, ended: Exited(0) }",
                "say [init stage 1] oneshot-pre service 'a' succeeded",
                "say [init stage 1] starting oneshot-pre service 'b'",
                "spawn run b -> 102",
                "wait -> Exited { pid: 102, ended: Exited(0) }",
                "say [init stage 1] oneshot-pre service 'b' succeeded",
            ]
        );
    }

    #[test]
    fn a_failure_stops_the_series_with_its_code() {
        let mut sys = Fake::new(vec![exited(101, 3)]);
        let mut failures = Vec::new();
        let out = run_oneshots(
            &mut sys,
            "stage 1",
            "oneshot-pre",
            &[oneshot("a"), oneshot("b")],
            false,
            &mut |n, e| failures.push((n.to_owned(), e)),
        )
        .unwrap();
        assert_eq!(
            out,
            Outcome::Failed {
                name: "a".into(),
                ended: Ended::Exited(3)
            }
        );
        assert_eq!(failures, [("a".to_owned(), Ended::Exited(3))]);
        assert!(!sys.log.iter().any(|l| l.contains("'b'")));
    }

    #[test]
    fn dont_terminate_on_error_goes_on() {
        let mut sys = Fake::new(vec![exited(101, 1), exited(102, 0)]);
        let mut n = 0;
        let out = run_oneshots(
            &mut sys,
            "stage 1",
            "oneshot-pre",
            &[oneshot("a"), oneshot("b")],
            true,
            &mut |_, _| n += 1,
        )
        .unwrap();
        assert_eq!((out, n), (Outcome::Done, 1));
    }

    #[test]
    fn a_stop_signal_is_forwarded_with_the_stop_signal() {
        let mut sys = Fake::new(vec![Event::Signal(15)]);
        let mut a = oneshot("a");
        a.stop_signal = 3;
        let out = run_oneshots(
            &mut sys,
            "stage 1",
            "oneshot-pre",
            &[a],
            false,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(out, Outcome::Stopped { signal: 15 });
        assert!(sys.log.contains(&"signal 101 3".to_owned()));
    }

    #[test]
    fn the_exit_code_service_ends_the_series_even_on_success() {
        let mut sys = Fake::new(vec![exited(101, 0)]);
        let mut a = oneshot("a");
        a.exit_code_from = true;
        let out = run_oneshots(
            &mut sys,
            "stage 2",
            "oneshot-post",
            &[a, oneshot("b")],
            false,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(
            out,
            Outcome::Main {
                name: "a".into(),
                ended: Ended::Exited(0)
            }
        );
    }

    #[test]
    fn shutdown_returns_as_soon_as_everything_exited() {
        let mut sys = Fake::new(vec![exited(7, 0), exited(8, 143), Event::NoChildren]);
        let start = sys.now;
        shutdown(&mut sys, Duration::from_secs(3)).unwrap();
        assert_eq!(sys.now, start, "no time passed: no sleep");
        assert!(!sys.log.iter().any(|l| l.contains("KILL")));
        assert_eq!(sys.log[1], "signal all 15");
    }

    #[test]
    fn shutdown_gives_up_on_what_survives_kill() {
        let mut sys = Fake::new(vec![Event::Timeout, Event::Signal(15), Event::Timeout]);
        let start = sys.now;
        shutdown(&mut sys, Duration::from_millis(200)).unwrap();
        assert_eq!(
            sys.now - start,
            Duration::from_millis(200) + Duration::from_secs(5)
        );
        assert_eq!(
            sys.log.last().unwrap(),
            "say [init stage 3] some processes survived KILL (stuck in the kernel?)"
        );
    }

    #[test]
    fn shutdown_kills_after_the_grace_time() {
        let mut sys = Fake::new(vec![
            exited(7, 0),
            Event::Timeout,
            exited(8, 137),
            Event::NoChildren,
        ]);
        let start = sys.now;
        shutdown(&mut sys, Duration::from_millis(1500)).unwrap();
        assert_eq!(sys.now - start, Duration::from_millis(1500));
        assert!(sys.log.contains(&"signal all 9".to_owned()));
        assert!(sys.log.contains(
            &"say [init stage 3] grace time of 1500 ms is over: sending all processes the KILL signal".to_owned()
        ));
    }
}
