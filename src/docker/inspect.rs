//! What `gameday init` reads of a container to write a first gameday:
//! its labels, command and environment (to guess whom it talks to), its
//! published ports, its addresses, whether it has a HEALTHCHECK. Read only.

use super::*;

/// A port the container publishes on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// The host address it is bound to (`127.0.0.1`, `0.0.0.0`, ...).
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// A container as `init` sees it.
#[derive(Debug, Clone, Default)]
pub struct ContainerDetail {
    pub id: String,
    pub labels: HashMap<String, String>,
    /// `Config.Cmd` and `Config.Entrypoint`, joined.
    pub command: Vec<String>,
    /// `NAME=value` lines. Read to find the names of other services; never printed.
    pub env: Vec<String>,
    pub published: Vec<PublishedPort>,
    /// IPv4 addresses on its networks.
    pub addresses: Vec<String>,
    /// Its HEALTHCHECK as an argv run inside it (`CMD-SHELL` as
    /// `/bin/sh -c ...`, as Docker runs it), if it has one.
    pub healthcheck: Option<Vec<String>>,
    /// The PID of its first process on the engine's host (0 when not running).
    pub pid: i64,
}

impl Engine {
    /// Read what `init` needs of one container.
    pub async fn detail(&self, id: &str) -> Result<ContainerDetail, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let config = info.config.unwrap_or_default();
        let mut command = config.entrypoint.unwrap_or_default();
        command.extend(config.cmd.unwrap_or_default());
        let healthcheck = config
            .healthcheck
            .and_then(|h| h.test)
            .and_then(|test| healthcheck_argv(&test));
        let settings = info.network_settings.unwrap_or_default();
        let mut published = Vec::new();
        for (key, bindings) in settings.ports.unwrap_or_default() {
            let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let Ok(container_port) = port.parse::<u16>() else {
                continue;
            };
            for b in bindings.unwrap_or_default() {
                let Some(host_port) = b.host_port.and_then(|p| p.parse::<u16>().ok()) else {
                    continue;
                };
                published.push(PublishedPort {
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port,
                    container_port,
                    protocol: protocol.to_string(),
                });
            }
        }
        // Docker lists an IPv6 binding beside the IPv4 one: keep one per port.
        published.sort_by(|a, b| {
            (
                a.container_port,
                a.host_port,
                &a.protocol,
                a.host_ip.contains(':'),
            )
                .cmp(&(
                    b.container_port,
                    b.host_port,
                    &b.protocol,
                    b.host_ip.contains(':'),
                ))
        });
        published.dedup_by(|a, b| {
            a.container_port == b.container_port
                && a.host_port == b.host_port
                && a.protocol == b.protocol
        });
        let addresses = settings
            .networks
            .unwrap_or_default()
            .into_values()
            .filter_map(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .collect();
        Ok(ContainerDetail {
            id: info.id.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
            command,
            env: config.env.unwrap_or_default(),
            published,
            addresses,
            healthcheck,
            pid: info.state.and_then(|s| s.pid).unwrap_or(0),
        })
    }
}

/// A HEALTHCHECK's `test` as an argv: `["CMD", args...]` as it is,
/// `["CMD-SHELL", line]` through `/bin/sh -c` (as Docker runs it); none for
/// `NONE` or an inherited empty test.
fn healthcheck_argv(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, args) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
        (kind, [line]) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), line.clone()])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::healthcheck_argv;

    #[test]
    fn healthchecks_become_argv() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            healthcheck_argv(&v(&["CMD", "pg_isready", "-q"])),
            Some(v(&["pg_isready", "-q"]))
        );
        assert_eq!(
            healthcheck_argv(&v(&["CMD-SHELL", "curl -f localhost || exit 1"])),
            Some(v(&["/bin/sh", "-c", "curl -f localhost || exit 1"]))
        );
        assert_eq!(healthcheck_argv(&v(&["NONE"])), None);
        assert_eq!(healthcheck_argv(&v(&["CMD"])), None);
    }
}
