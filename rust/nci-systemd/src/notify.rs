//! systemd's notification protocol (`sd_notify(3)`): datagrams such as
//! `READY=1` sent to $NOTIFY_SOCKET. The runner listens on an abstract
//! socket for Type=notify units; `nci-systemd notify` (also run as
//! `systemd-notify`) sends.

use anyhow::{anyhow, Context, Result};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Binds a socket for one unit; returns it and the NOTIFY_SOCKET value.
pub fn listen(unit: &str) -> Result<(UnixDatagram, String)> {
    let name = format!("nci-systemd/{}/{unit}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).context("the notify socket name")?;
    let sock = UnixDatagram::bind_addr(&addr).context("binding the notify socket")?;
    sock.set_nonblocking(true)?;
    Ok((sock, format!("@{name}")))
}

/// The `KEY=VALUE` lines of one message.
pub fn parse(msg: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(msg)
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

pub fn send(message: &str) -> Result<()> {
    let target = std::env::var("NOTIFY_SOCKET")
        .map_err(|_| anyhow!("NOTIFY_SOCKET is not set: not run by a service manager"))?;
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(message.as_bytes(), &addr)
    } else {
        sock.send_to(message.as_bytes(), &target)
    }
    .with_context(|| format!("sending to {target}"))?;
    Ok(())
}

/// `systemd-notify [--ready] [--status=TEXT] [--pid=PID] [VAR=VALUE...]`.
pub fn main(
    ready: bool,
    reloading: bool,
    stopping: bool,
    status: Option<String>,
    pid: Option<String>,
    assignments: Vec<String>,
) -> Result<()> {
    let mut lines = Vec::new();
    if ready {
        lines.push("READY=1".to_string());
    }
    if reloading {
        lines.push("RELOADING=1".to_string());
    }
    if stopping {
        lines.push("STOPPING=1".to_string());
    }
    if let Some(s) = status {
        lines.push(format!("STATUS={s}"));
    }
    if let Some(p) = pid {
        let p = if p.is_empty() || p == "parent" {
            nix::unistd::getppid().to_string()
        } else if p == "self" {
            std::process::id().to_string()
        } else {
            p
        };
        lines.push(format!("MAINPID={p}"));
    }
    for a in assignments {
        if !a.contains('=') {
            return Err(anyhow!("'{a}' is not VARIABLE=VALUE"));
        }
        lines.push(a);
    }
    if lines.is_empty() {
        return Err(anyhow!("nothing to send (use --ready or VARIABLE=VALUE)"));
    }
    send(&lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=up and running\nMAINPID=42"),
            vec![
                ("READY".into(), "1".into()),
                ("STATUS".into(), "up and running".into()),
                ("MAINPID".into(), "42".into())
            ]
        );
    }

    #[test]
    fn round_trip_through_an_abstract_socket() {
        let (sock, name) = listen("test-unit").unwrap();
        std::env::set_var("NOTIFY_SOCKET", &name);
        send("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
