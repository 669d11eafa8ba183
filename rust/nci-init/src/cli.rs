//! Command line of `nci-init`, the binary that goes into images. Users
//! run the generated init file (`init [STATE-DIR]`), whose first line is
//! `#!<nci-init> boot`; the other commands are run by s6 through the
//! generated service files. Parsed by hand, not with clap: this is PID 1
//! of every image with services and is kept small (docs/s6.md, "Size").
//! What generates those files at build time is `nci-s6`.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

pub const USAGE: &str = "\
nci-init: the init of nix-container-images images (PID 1)

Usage: nci-init <COMMAND> [ARGS]

Commands:
  boot INIT [STATE-DIR]  start the container's services: what the init file
                         runs (`init [STATE-DIR]`); STATE-DIR must not exist
  pid1 [--] PROGRAM [ARGS...]
                         run PROGRAM as the only child of a PID 1 that
                         forwards signals to it, reaps zombies and exits
                         with its code (the entry point of plain images)
  help, --help, -h       print this help
  --version, -V          print the version

Run by s6 through the generated service files (not by hand):
  stage2, run, finish, log, exec, exec-logger, svscan-signal, svscan-finish
Run by pid1: pid1-exec

The init file and the service directories are generated at build time by
nci-s6 (see docs/s6.md).
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start the container's services (what the init file runs): stage 1
    /// runs the oneshot-pre services, stage 2 hands the long-runs to
    /// s6-svscan and then runs the oneshot-post services. Without a
    /// state directory: `s6.stateDir` (as PID 1, a leftover one is
    /// replaced) or, when that cannot be created, `$TMPDIR/s6-<uid>`.
    Boot {
        init: PathBuf,
        state_dir: Option<PathBuf>,
    },
    /// Stage 2 helper: wait for the long-runs, then run oneshot-posts
    /// (`started_ms`: when stage 1 started, milliseconds since the epoch).
    Stage2 {
        state_dir: PathBuf,
        started_ms: Option<u64>,
    },
    /// A long-run's `run` file: wait for its turn, then exec the service.
    Run,
    /// A long-run's `finish` file: `finish CODE SIGNAL SERVICEDIR`.
    Finish {
        code: String,
        signal: String,
    },
    /// A long-run's `log/run` file: exec the service's logger.
    Log,
    /// Set a service up (user, environment, directory) and exec it.
    Exec {
        service: PathBuf,
    },
    /// Set a service's logger up and exec it (stdin is the service's output).
    ExecLogger {
        service: PathBuf,
    },
    /// `.s6-svscan/SIGTERM` and `SIGINT`: start stopping the container.
    SvscanSignal {
        script: PathBuf,
    },
    /// `.s6-svscan/finish` and `crash`: stage 3.
    SvscanFinish {
        script: PathBuf,
    },
    /// The PID 1 of a plain image: run the program, forward signals,
    /// reap zombies, exit with its code.
    Pid1 {
        argv: Vec<OsString>,
    },
    /// The child of `pid1`: unblock signals, exec the program.
    Pid1Exec {
        argv: Vec<OsString>,
    },
    Help,
    Version,
}

/// A command line that cannot be run; says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (nci-init --help shows the commands)", self.0)
    }
}

impl std::error::Error for Usage {}

impl Command {
    /// Whether the command runs as a service of s6 (its errors go to the
    /// container's log prefixed `[init]`) rather than by a person.
    pub fn is_internal(&self) -> bool {
        !matches!(
            self,
            Command::Boot { .. }
                | Command::Pid1 { .. }
                | Command::Pid1Exec { .. }
                | Command::Help
                | Command::Version
        )
    }
}

/// The arguments of one command, taken in order.
struct Args {
    command: &'static str,
    rest: std::vec::IntoIter<OsString>,
}

impl Args {
    /// The next argument, which must be there and not look like an
    /// option (nothing here takes options).
    fn required(&mut self, what: &str) -> Result<OsString, Usage> {
        match self.optional()? {
            Some(a) => Ok(a),
            None => Err(Usage(format!("{}: missing {what}", self.command))),
        }
    }

    fn optional(&mut self) -> Result<Option<OsString>, Usage> {
        match self.rest.next() {
            Some(a) if a.to_string_lossy().starts_with('-') && a.len() > 1 => Err(Usage(format!(
                "{}: unexpected option '{}'",
                self.command,
                a.to_string_lossy()
            ))),
            other => Ok(other),
        }
    }

    /// No argument may be left.
    fn end(mut self) -> Result<(), Usage> {
        match self.rest.next() {
            None => Ok(()),
            Some(a) => Err(Usage(format!(
                "{}: unexpected argument '{}'",
                self.command,
                a.to_string_lossy()
            ))),
        }
    }
}

/// Parses `argv` (the program name first).
pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Command, Usage> {
    let mut argv = argv.into_iter().skip(1);
    let Some(first) = argv.next() else {
        return Err(Usage("no command given".into()));
    };
    let name = first.to_string_lossy().into_owned();
    let command: &'static str = match name.as_str() {
        "boot" => "boot",
        "stage2" => "stage2",
        "run" => "run",
        "finish" => "finish",
        "log" => "log",
        "exec" => "exec",
        "exec-logger" => "exec-logger",
        "svscan-signal" => "svscan-signal",
        "svscan-finish" => "svscan-finish",
        "pid1" | "pid1-exec" => {
            let mut argv: Vec<OsString> = argv.collect();
            if argv.first().is_some_and(|a| a == "--") {
                argv.remove(0);
            }
            if argv.is_empty() {
                return Err(Usage(format!("{name}: missing the program to run")));
            }
            return Ok(if name == "pid1" {
                Command::Pid1 { argv }
            } else {
                Command::Pid1Exec { argv }
            });
        }
        "help" | "--help" | "-h" => return Ok(Command::Help),
        "--version" | "-V" => return Ok(Command::Version),
        _ => return Err(Usage(format!("unknown command '{name}'"))),
    };
    let mut a = Args {
        command,
        rest: argv.collect::<Vec<_>>().into_iter(),
    };
    let path = |a: &mut Args, what: &str| a.required(what).map(PathBuf::from);
    let parsed = match command {
        "boot" => Command::Boot {
            init: path(&mut a, "the init file")?,
            state_dir: a.optional()?.map(PathBuf::from),
        },
        "stage2" => Command::Stage2 {
            state_dir: path(&mut a, "the state directory")?,
            started_ms: match a.optional()? {
                None => None,
                Some(ms) => Some(ms.to_string_lossy().parse().map_err(|_| {
                    Usage(format!(
                        "stage2: '{}' is not a time in milliseconds",
                        ms.to_string_lossy()
                    ))
                })?),
            },
        },
        // s6 runs these files with arguments of its own: they are ignored.
        "run" | "log" => {
            return Ok(if command == "run" {
                Command::Run
            } else {
                Command::Log
            })
        }
        "finish" => {
            let mut rest = a.rest;
            let _script = rest.next();
            let (Some(code), Some(signal)) = (rest.next(), rest.next()) else {
                return Err(Usage("finish: expected SCRIPT CODE SIGNAL".into()));
            };
            return Ok(Command::Finish {
                code: code.to_string_lossy().into_owned(),
                signal: signal.to_string_lossy().into_owned(),
            });
        }
        "exec" => Command::Exec {
            service: path(&mut a, "the service file")?,
        },
        "exec-logger" => Command::ExecLogger {
            service: path(&mut a, "the service file")?,
        },
        "svscan-signal" => Command::SvscanSignal {
            script: path(&mut a, "the hook file")?,
        },
        _ => Command::SvscanFinish {
            script: path(&mut a, "the hook file")?,
        },
    };
    a.end()?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(
            std::iter::once("nci-init")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    #[test]
    fn boot_takes_the_init_file_and_an_optional_state_dir() {
        assert_eq!(
            p(&["boot", "/init"]).unwrap(),
            Command::Boot {
                init: "/init".into(),
                state_dir: None
            }
        );
        assert_eq!(
            p(&["boot", "/init", "/tmp/s"]).unwrap(),
            Command::Boot {
                init: "/init".into(),
                state_dir: Some("/tmp/s".into())
            }
        );
    }

    #[test]
    fn podman_options_given_to_the_image_are_refused_by_name() {
        assert_eq!(
            p(&["boot", "/init", "-p", "8000:80"])
                .unwrap_err()
                .to_string(),
            "boot: unexpected option '-p' (nci-init --help shows the commands)"
        );
        assert_eq!(
            p(&["boot", "/init", "/s", "x"]).unwrap_err().0,
            "boot: unexpected argument 'x'"
        );
        assert_eq!(p(&["boot"]).unwrap_err().0, "boot: missing the init file");
        assert_eq!(p(&[]).unwrap_err().0, "no command given");
        assert_eq!(
            p(&["nix-builder"]).unwrap_err().0,
            "unknown command 'nix-builder'"
        );
    }

    #[test]
    fn finish_takes_what_s6_supervise_passes() {
        assert_eq!(
            p(&["finish", "./finish", "256", "15", "web"]).unwrap(),
            Command::Finish {
                code: "256".into(),
                signal: "15".into()
            }
        );
        assert_eq!(
            p(&["finish", "./finish"]).unwrap_err().0,
            "finish: expected SCRIPT CODE SIGNAL"
        );
        assert_eq!(p(&["run", "./run", "-x"]).unwrap(), Command::Run);
    }

    #[test]
    fn stage2_and_the_hooks() {
        assert_eq!(
            p(&["stage2", "/run/s6", "1700"]).unwrap(),
            Command::Stage2 {
                state_dir: "/run/s6".into(),
                started_ms: Some(1700)
            }
        );
        assert_eq!(
            p(&["stage2", "/run/s6", "soon"]).unwrap_err().0,
            "stage2: 'soon' is not a time in milliseconds"
        );
        assert_eq!(
            p(&["svscan-finish", "./crash"]).unwrap(),
            Command::SvscanFinish {
                script: "./crash".into()
            }
        );
        assert!(p(&["--help"]).unwrap() == Command::Help && !Command::Help.is_internal());
        assert!(Command::Run.is_internal());
    }

    #[test]
    fn pid1_takes_the_program_and_its_arguments_as_they_are() {
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            p(&["pid1", "--", "httpd", "-f", "--", "-v"]).unwrap(),
            Command::Pid1 {
                argv: argv(&["httpd", "-f", "--", "-v"])
            }
        );
        assert_eq!(
            p(&["pid1", "httpd"]).unwrap(),
            Command::Pid1 {
                argv: argv(&["httpd"])
            }
        );
        assert_eq!(
            p(&["pid1", "--"]).unwrap_err().0,
            "pid1: missing the program to run"
        );
        assert!(!Command::Pid1 { argv: vec![] }.is_internal());
    }
}
