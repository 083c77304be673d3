//! `ssh://` engines: gameday runs the system's `ssh` client to forward a
//! local Unix socket to the remote engine's socket, and talks to Docker
//! through it. The user's ssh configuration (agent, keys, known hosts,
//! jump hosts) applies as for `docker -H ssh://`; `BatchMode` makes any
//! question (a password, an unknown host key) an error instead of a prompt,
//! so nothing waits for input. The tunnel lives as long as its engine.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::gameday::model::SshOptions;

/// The forwarding `ssh` process and the local socket it serves.
pub(crate) struct SshTunnel {
    child: std::sync::Mutex<Option<tokio::process::Child>>,
    pub socket: PathBuf,
}

impl Drop for SshTunnel {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock()
            && let Some(mut c) = child.take()
        {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// `ssh://[user@]host[:port][/remote/socket]` split into what ssh takes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SshTarget {
    pub destination: String,
    pub port: Option<u16>,
    pub remote_socket: String,
}

pub(crate) fn parse(url: &str) -> Result<SshTarget, String> {
    let rest = url
        .strip_prefix("ssh://")
        .ok_or_else(|| format!("`{url}` is not an ssh:// address"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user_host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.contains('[') => match p.parse::<u16>() {
            Ok(port) => (h, Some(port)),
            Err(_) => return Err(format!("`{p}` in `{url}` is not a port")),
        },
        _ => (authority, None),
    };
    let host = user_host.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(SshTarget {
        destination: user_host.to_string(),
        port,
        remote_socket: if path.is_empty() || path == "/" {
            super::DEFAULT_SOCKET.to_string()
        } else {
            path.to_string()
        },
    })
}

static TUNNELS: AtomicU32 = AtomicU32::new(0);

/// Sockets of tunnels whose gameday process is gone (killed hard): their
/// name carries the pid.
fn remove_dead_sockets() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("gameday-ssh-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// How long ssh may take to log in and bind the local socket.
const OPEN_WITHIN: Duration = Duration::from_secs(20);

impl SshTunnel {
    pub(crate) async fn open(url: &str, options: Option<&SshOptions>) -> Result<SshTunnel, String> {
        let target = parse(url)?;
        let socket = std::env::temp_dir().join(format!(
            "gameday-ssh-{}-{}.sock",
            std::process::id(),
            TUNNELS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&socket);
        remove_dead_sockets();
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(["-N", "-T"])
            .args(["-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes"])
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]);
        if let Some(port) = target.port {
            cmd.args(["-p", &port.to_string()]);
        }
        if let Some(o) = options {
            if let Some(identity) = &o.identity {
                cmd.args(["-i", identity, "-o", "IdentitiesOnly=yes"]);
            }
            if let Some(known) = &o.known_hosts {
                cmd.args(["-o", &format!("UserKnownHostsFile={known}")])
                    .args(["-o", "StrictHostKeyChecking=yes"]);
            }
        }
        cmd.arg("-L")
            .arg(format!("{}:{}", socket.display(), target.remote_socket))
            .arg(&target.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // If gameday itself is killed (SIGKILL: no destructor runs), the
        // kernel ends the tunnel with it: it must not outlive the runner.
        // SAFETY: prctl(2) is async-signal-safe and touches only this child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot run `ssh`: {e}"))?;
        let deadline = tokio::time::Instant::now() + OPEN_WITHIN;
        loop {
            if socket.exists() {
                return Ok(SshTunnel {
                    child: std::sync::Mutex::new(Some(child)),
                    socket,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut said = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut said).await;
                }
                let said = said.trim();
                return Err(format!(
                    "ssh to {} ended ({status}){}",
                    target.destination,
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": {said}")
                    }
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.start_kill();
                return Err(format!(
                    "ssh to {} did not open the tunnel within {}s",
                    target.destination,
                    OPEN_WITHIN.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_urls_give_destination_port_and_socket() {
        assert_eq!(
            parse("ssh://ops@db-1:2222").unwrap(),
            SshTarget {
                destination: "ops@db-1".into(),
                port: Some(2222),
                remote_socket: "/var/run/docker.sock".into()
            }
        );
        assert_eq!(
            parse("ssh://db-1/run/user/1000/docker.sock").unwrap(),
            SshTarget {
                destination: "db-1".into(),
                port: None,
                remote_socket: "/run/user/1000/docker.sock".into()
            }
        );
        assert!(parse("ssh://ops@db-1:x").is_err());
        assert!(parse("ssh://").is_err());
    }
}
