//! Where `init` asks a service's published ports, and so where the probes
//! it writes ask them: the engine's host. A published port is a port of the
//! machine the engine runs on, so for a `tcp://HOST` or `ssh://USER@HOST`
//! engine it is asked at HOST, never at this machine's 127.0.0.1 (where an
//! unrelated local service would answer and end up in the file); a port
//! published on the loopback of a remote engine's host is out of reach from
//! here and said so. `--probe-host` names the address instead (a tunnel, a
//! load balancer). Pure: the engine's address in, addresses out.

use std::net::IpAddr;

use crate::docker::PublishedPort;

/// Where the published ports are asked, and why there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeHost {
    /// An address or name, as a URL writes it (`[::1]` bracketed).
    pub address: String,
    pub why: ProbeHostWhy,
}

/// Why the ports are asked where they are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ProbeHostWhy {
    /// The engine is reached through a socket of this machine: its
    /// published ports are this machine's.
    LocalSocket,
    /// The host of the engine's `tcp://` or `ssh://` address, as `source`
    /// gave it (`DOCKER_HOST` or `--docker-host`).
    EngineHost { source: &'static str },
    /// `--probe-host`.
    Given,
}

/// How one published port is reached from here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reach {
    /// Asked at this `host:port`.
    Ask(String),
    /// Bound to one address other than the engine host's (`host:port`):
    /// written as it is, never contacted.
    Written(String),
    /// Bound to the loopback address of a remote engine's host.
    Unreachable,
}

impl ProbeHost {
    /// This machine's loopback, for an engine behind a local socket.
    pub(crate) fn local() -> ProbeHost {
        ProbeHost {
            address: "127.0.0.1".into(),
            why: ProbeHostWhy::LocalSocket,
        }
    }

    /// Where to ask, for the engine at `engine_url` (which `source` gave:
    /// `DOCKER_HOST` or `--docker-host`), unless `given` says.
    pub(crate) fn choose(engine_url: &str, source: &'static str, given: Option<&str>) -> ProbeHost {
        if let Some(address) = given {
            return ProbeHost {
                address: bracketed(address),
                why: ProbeHostWhy::Given,
            };
        }
        match engine_host(engine_url) {
            Some(address) => ProbeHost {
                address,
                why: ProbeHostWhy::EngineHost { source },
            },
            None => ProbeHost::local(),
        }
    }

    /// Where `port` is asked from here, if it can be.
    pub(crate) fn reach(&self, port: &PublishedPort) -> Reach {
        let bound = port.host_ip.as_str();
        let at = |host: &str| join(host, port.host_port);
        match &self.why {
            ProbeHostWhy::Given => Reach::Ask(at(&self.address)),
            ProbeHostWhy::LocalSocket if is_wildcard(bound) => Reach::Ask(at(&self.address)),
            ProbeHostWhy::LocalSocket if is_loopback(bound) => Reach::Ask(at(bound)),
            ProbeHostWhy::EngineHost { .. }
                if is_wildcard(bound) || unbracketed(bound) == unbracketed(&self.address) =>
            {
                Reach::Ask(at(&self.address))
            }
            // The engine's host is this machine after all (a loopback address).
            ProbeHostWhy::EngineHost { .. } if is_loopback(bound) && is_loopback(&self.address) => {
                Reach::Ask(at(bound))
            }
            ProbeHostWhy::EngineHost { .. } if is_loopback(bound) => Reach::Unreachable,
            ProbeHostWhy::LocalSocket | ProbeHostWhy::EngineHost { .. } => {
                Reach::Written(at(bound))
            }
        }
    }

    /// Where and why, as the file's header says it.
    pub(crate) fn describe(&self) -> String {
        match &self.why {
            ProbeHostWhy::LocalSocket => format!(
                "{}: the engine is reached through a socket of this machine, so its published ports are this machine's",
                self.address
            ),
            ProbeHostWhy::EngineHost { source } => format!(
                "{}, the engine's host (from {source}); `--probe-host` asks elsewhere",
                self.address
            ),
            ProbeHostWhy::Given => format!("{} (--probe-host)", self.address),
        }
    }
}

/// The host of a `tcp://`, `http(s)://` or `ssh://` engine address; none
/// for a socket (`unix://`, `npipe://`) or an empty host.
fn engine_host(url: &str) -> Option<String> {
    let rest = ["tcp://", "http://", "https://", "ssh://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.find(']').map(|end| &authority[..=end])?
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    (!host.is_empty()).then(|| host.to_string())
}

fn unbracketed(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// An IPv6 address bracketed, as a URL needs it.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn join(host: &str, port: u16) -> String {
    format!("{}:{port}", bracketed(host))
}

/// Published on every address of the engine's host.
fn is_wildcard(bound: &str) -> bool {
    matches!(bound, "" | "0.0.0.0" | "::")
}

fn is_loopback(host: &str) -> bool {
    let host = unbracketed(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(bound: &str) -> PublishedPort {
        PublishedPort {
            host_ip: bound.into(),
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
        }
    }

    #[test]
    fn the_engine_s_host_comes_from_its_address() {
        for (url, host) in [
            ("tcp://10.1.2.3:2376", Some("10.1.2.3")),
            ("tcp://docker.example.com", Some("docker.example.com")),
            ("ssh://deploy@10.1.2.3", Some("10.1.2.3")),
            ("ssh://deploy@build-01:2222/run", Some("build-01")),
            ("tcp://[fd00::5]:2376", Some("[fd00::5]")),
            ("https://u:p@h:1", Some("h")),
            ("unix:///var/run/docker.sock", None),
            ("npipe:////./pipe/docker_engine", None),
            ("tcp://:2375", None),
        ] {
            assert_eq!(engine_host(url).as_deref(), host, "{url}");
        }
    }

    #[test]
    fn ports_are_asked_where_the_engine_publishes_them() {
        let local = ProbeHost::choose("unix:///var/run/docker.sock", "DOCKER_HOST", None);
        assert_eq!(local, ProbeHost::local());
        assert_eq!(
            local.reach(&port("0.0.0.0")),
            Reach::Ask("127.0.0.1:8080".into())
        );
        assert_eq!(
            local.reach(&port("127.0.0.1")),
            Reach::Ask("127.0.0.1:8080".into())
        );
        assert_eq!(local.reach(&port("::1")), Reach::Ask("[::1]:8080".into()));
        assert_eq!(
            local.reach(&port("192.168.1.5")),
            Reach::Written("192.168.1.5:8080".into())
        );

        let remote = ProbeHost::choose("tcp://10.1.2.3:2376", "DOCKER_HOST", None);
        assert_eq!(remote.reach(&port("")), Reach::Ask("10.1.2.3:8080".into()));
        assert_eq!(
            remote.reach(&port("::")),
            Reach::Ask("10.1.2.3:8080".into())
        );
        assert_eq!(
            remote.reach(&port("10.1.2.3")),
            Reach::Ask("10.1.2.3:8080".into())
        );
        // Its loopback is not ours: never asked here.
        assert_eq!(remote.reach(&port("127.0.0.1")), Reach::Unreachable);
        assert_eq!(
            remote.reach(&port("10.9.9.9")),
            Reach::Written("10.9.9.9:8080".into())
        );
        assert!(
            remote
                .describe()
                .contains("10.1.2.3, the engine's host (from DOCKER_HOST)")
        );

        // An engine reached at a loopback address runs on this machine.
        let forwarded = ProbeHost::choose("tcp://127.0.0.2:2375", "--docker-host", None);
        assert_eq!(
            forwarded.reach(&port("0.0.0.0")),
            Reach::Ask("127.0.0.2:8080".into())
        );
        assert_eq!(
            forwarded.reach(&port("127.0.0.1")),
            Reach::Ask("127.0.0.1:8080".into())
        );

        let given = ProbeHost::choose("tcp://10.1.2.3:2376", "DOCKER_HOST", Some("fd00::7"));
        assert_eq!(
            given.reach(&port("127.0.0.1")),
            Reach::Ask("[fd00::7]:8080".into())
        );
        assert_eq!(given.describe(), "[fd00::7] (--probe-host)");
    }
}
