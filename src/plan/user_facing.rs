//! Whether a probe's failures are users being hurt: what the detection
//! section calls "users first hurt". Said in the file (`user_facing:`),
//! or by default: a load probe is; an http probe is when its URL reaches
//! a port published by a container in scope (asked where `init` would
//! ask it: this machine for a local socket, the engine's host for a
//! `tcp://` or `ssh://` engine); nothing else is. Pure: the probe and the
//! inventory in.

use crate::docker::ContainerInfo;
use crate::gameday::model::{Probe, ProbeKind, ProbeType};
use crate::init::reach::{ProbeHost, Reach};

use super::Inventory;

/// Whether a probe is user-facing, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserFacing {
    pub yes: bool,
    pub why: UserFacingWhy,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UserFacingWhy {
    /// `user_facing:` in the file.
    Said,
    /// A load probe is what users send.
    Load,
    /// An http probe whose URL reaches this published port of this container.
    Published { port: u16, container: String },
    /// An http probe whose URL reaches no port published in scope.
    Unpublished,
    /// A probe of another kind: it watches, it does not serve users.
    Watches(ProbeType),
}

impl UserFacing {
    pub(crate) fn of(probe: &Probe, inventory: &Inventory) -> UserFacing {
        if let Some(yes) = probe.user_facing {
            return UserFacing {
                yes,
                why: UserFacingWhy::Said,
            };
        }
        let why = match &probe.kind {
            ProbeKind::Load(_) => UserFacingWhy::Load,
            ProbeKind::Http(h) => match published_behind(&h.url, inventory) {
                Some((port, container)) => UserFacingWhy::Published { port, container },
                None => UserFacingWhy::Unpublished,
            },
            ProbeKind::Tcp(_)
            | ProbeKind::Container(_)
            | ProbeKind::Exec(_)
            | ProbeKind::Command(_)
            | ProbeKind::Logs(_)
            | ProbeKind::Prometheus(_)
            | ProbeKind::Alert(_)
            | ProbeKind::Ledger(_) => UserFacingWhy::Watches(probe.kind.probe_type()),
        };
        let yes = match why {
            UserFacingWhy::Load | UserFacingWhy::Published { .. } => true,
            UserFacingWhy::Said | UserFacingWhy::Unpublished | UserFacingWhy::Watches(_) => false,
        };
        UserFacing { yes, why }
    }

    /// `user-facing: published port 8080 of demo_api_1`, as the plan says it.
    pub(crate) fn describe(&self) -> String {
        let is = if self.yes {
            "user-facing"
        } else {
            "not user-facing"
        };
        let why = match &self.why {
            UserFacingWhy::Said => "said in the file".to_string(),
            UserFacingWhy::Load => "load probe".to_string(),
            UserFacingWhy::Published { port, container } => {
                format!("published port {port} of {container}")
            }
            UserFacingWhy::Unpublished => "its URL reaches no port published in scope".to_string(),
            UserFacingWhy::Watches(kind) => format!("{} probe", kind.key()),
        };
        format!("{is}: {why}")
    }
}

/// The published port (and its container) an http URL reaches, if any.
fn published_behind(url: &str, inventory: &Inventory) -> Option<(u16, String)> {
    let url = reqwest::Url::parse(url).ok()?;
    let port = url.port_or_known_default()?;
    let asked = same_host(url.host_str()?);
    inventory.in_scope.iter().find_map(|c| {
        let host = engine_host(c, inventory)?;
        c.published
            .iter()
            .filter(|p| p.host_port == port && p.protocol == "tcp")
            .find(|p| match host.reach(p) {
                Reach::Ask(at) => {
                    at.rsplit_once(':').map(|(h, _)| same_host(h)) == Some(asked.clone())
                }
                Reach::Written(_) | Reach::Unreachable => false,
            })
            .map(|p| (p.container_port, c.name.clone()))
    })
}

/// Where the ports of `c`'s engine are reached from here.
fn engine_host(c: &ContainerInfo, inventory: &Inventory) -> Option<ProbeHost> {
    let address = if c.engine == crate::gameday::decode::DEFAULT_HOST {
        inventory.docker_host.as_str()
    } else {
        let engine = inventory
            .other_engines
            .iter()
            .find(|e| e.name == c.engine)?;
        engine.host.as_str()
    };
    Some(ProbeHost::choose(address, "the engine's address", None))
}

/// A host as written in a URL, `localhost` as the loopback address.
fn same_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1".to_string()
    } else {
        host.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::PublishedPort;
    use crate::gameday::load_bytes;

    fn probes(yaml: &str) -> Vec<Probe> {
        let text = format!(
            "gameday: U\nscope: {{ compose_project: demo }}\nprobes:\n{yaml}\nscenarios:\n  - {{ name: S, fault: {{ pause: {{ service: api }} }}, duration: 1s }}\n"
        );
        match load_bytes("u.yaml", text.as_bytes(), &|_| None) {
            Ok(g) => g.probes.0,
            Err(d) => panic!("{}", d.render()),
        }
    }

    fn inventory(docker_host: &str, bound: &str) -> Inventory {
        let mut api = super::super::resolve::tests::container("demo", "api", 1);
        api.published = vec![PublishedPort {
            host_ip: bound.into(),
            host_port: 18080,
            container_port: 8080,
            protocol: "tcp".into(),
        }];
        Inventory {
            docker_host: docker_host.into(),
            in_scope: vec![api],
            ..Inventory::default()
        }
    }

    #[test]
    fn an_http_probe_to_a_published_port_is_user_facing_and_says_whose() {
        let list = probes(
            r#"  front: { http: { url: "http://localhost:18080/health" } }
  other: { http: { url: "http://127.0.0.1:9999/health" } }
  remote: { http: { url: "http://10.0.0.5:18080/health" } }
  load: { load: { http: { url: "http://10.9.9.9:1/" }, rate: 10/s } }
  db: { tcp: { address: "127.0.0.1:5432" } }
  said: { tcp: { address: "127.0.0.1:5432" }, user_facing: true }
  unsaid: { http: { url: "http://localhost:18080/health" }, user_facing: false }"#,
        );
        let local = inventory("unix:///var/run/docker.sock", "0.0.0.0");
        let said: Vec<String> = list
            .iter()
            .map(|p| UserFacing::of(p, &local).describe())
            .collect();
        assert_eq!(
            said,
            [
                "user-facing: published port 8080 of demo_api_1",
                "not user-facing: its URL reaches no port published in scope",
                "not user-facing: its URL reaches no port published in scope",
                "user-facing: load probe",
                "not user-facing: tcp probe",
                "user-facing: said in the file",
                "not user-facing: said in the file",
            ]
        );
        // A remote engine's ports are asked at its host, not here.
        let remote = inventory("tcp://10.0.0.5:2376", "0.0.0.0");
        assert!(!UserFacing::of(&list[0], &remote).yes);
        assert!(UserFacing::of(&list[2], &remote).yes);
        // Bound to the loopback of this machine only.
        assert!(UserFacing::of(&list[0], &inventory("unix:///x", "127.0.0.1")).yes);
    }
}
