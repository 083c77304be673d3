//! Reading a running compose stack into a [`Stack`]: the project's
//! containers (on one engine), their published ports and what answers on
//! them, the compose file's `depends_on`, and, when it declares none, the
//! dependencies guessed from who names whom (command and environment) and
//! who talks to whom (connections seen from this host during a short
//! observation), and the datastores they run ([`super::servers`]). Read
//! only: the only traffic is HTTP GETs and the bounded questions of
//! [`super::protocols`] to published ports, at the engine's host (see
//! [`super::reach`]). A HEALTHCHECK is kept without its secrets
//! ([`Healthcheck::read`]), with how often Docker runs it; an environment
//! is read for names and values to hide, never shown.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::reach::{ProbeHost, Reach};
use super::servers;
use super::{Edge, EdgeSource, Endpoint, Healthcheck, Service, Stack};
use crate::docker::{ContainerDetail, Engine, PublishedPort};
use crate::gameday::compose;
use crate::gameday::units::HumanDuration;

/// The compose labels `docker-compose` puts on every container.
const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";

/// Paths asked for, in order, to find a health endpoint.
const HEALTH_PATHS: &[&str] = &["/health", "/healthz", "/ready", "/readyz", "/status", "/"];

/// What to read and how.
#[derive(Debug, Clone)]
pub(crate) struct DiscoverOptions {
    pub project: String,
    /// The compose file; default: the one the containers' labels name.
    pub compose_file: Option<PathBuf>,
    /// How long to watch connections when no `depends_on` is declared.
    pub observe: Duration,
    /// Where published ports are asked.
    pub probe_host: ProbeHost,
}

/// Why a stack could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscoverError {
    #[error("no container of compose project `{project}` on {engine}")]
    NoContainers {
        project: String,
        engine: String,
        /// Projects the engine does have.
        known: Vec<String>,
    },
    #[error("cannot read the engine: {0}")]
    Docker(#[from] crate::docker::DockerError),
    #[error("cannot read the compose file: {0}")]
    Compose(String),
}

/// Read the stack.
pub(crate) async fn stack(
    engine: &Engine,
    options: &DiscoverOptions,
) -> Result<Stack, DiscoverError> {
    let project = &options.project;
    let containers = engine.list_project(project).await?;
    if containers.is_empty() {
        let mut known: Vec<String> = engine
            .list_outside(project)
            .await?
            .into_iter()
            .filter_map(|c| c.project)
            .collect();
        known.sort();
        known.dedup();
        return Err(DiscoverError::NoContainers {
            project: project.clone(),
            engine: engine.host().to_string(),
            known,
        });
    }
    let mut notes = Vec::new();
    // Services in order of name; one running container read per service.
    let mut by_service: BTreeMap<String, Vec<&crate::docker::ContainerInfo>> = BTreeMap::new();
    for c in &containers {
        if let Some(s) = &c.service {
            by_service.entry(s.clone()).or_default().push(c);
        }
    }
    let mut details: BTreeMap<String, ContainerDetail> = BTreeMap::new();
    for (service, list) in &by_service {
        let up: Vec<_> = list
            .iter()
            .filter(|c| c.state == crate::gameday::units::ContainerState::Running)
            .collect();
        match up.first() {
            Some(c) => {
                details.insert(service.clone(), engine.detail(&c.id).await?);
            }
            None => notes.push(format!(
                "service `{service}` has no running container: it is left out (gameday faults only running containers)"
            )),
        }
    }
    let mut services = Vec::new();
    for (name, detail) in &details {
        let healthcheck = detail.healthcheck.as_ref().map(|argv| {
            Healthcheck::read(
                argv,
                &detail.env,
                interval_of(detail.healthcheck_interval_ns),
            )
        });
        if let Some(h) = healthcheck.as_ref().filter(|h| h.had_secrets()) {
            notes.push(format!(
                "the HEALTHCHECK of `{name}` carries secrets, written as {}{}",
                h.replaced(),
                if h.runs {
                    ": the container's shell expands them from its own environment"
                } else {
                    "; it is a comment, not a probe: it cannot run so"
                }
            ));
        }
        let endpoint = endpoint(&detail.published, &options.probe_host).await;
        let datastore = servers::recognize(detail, &options.probe_host, endpoint.as_ref()).await;
        services.push(Service {
            name: name.clone(),
            endpoint,
            healthcheck,
            datastore,
        });
    }
    // depends_on from the compose file(s).
    let files = compose_files(options.compose_file.as_deref(), &details);
    let mut compose_files = Vec::new();
    let mut edges = Vec::new();
    for path in &files {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if options.compose_file.is_some() => {
                return Err(DiscoverError::Compose(format!("{shown}: {e}")));
            }
            Err(e) => {
                notes.push(format!(
                    "the compose file {shown} named by the containers cannot be read ({e}): dependencies are guessed"
                ));
                continue;
            }
        };
        let parsed = compose::services(&shown, &text).map_err(DiscoverError::Compose)?;
        compose_files.push(shown);
        for s in parsed {
            for to in s.depends_on {
                let known = details.contains_key(&s.name) && details.contains_key(&to);
                let edge = Edge {
                    from: s.name.clone(),
                    to,
                    source: EdgeSource::DependsOn,
                };
                if known && !edges.contains(&edge) {
                    edges.push(edge);
                }
            }
        }
    }
    if edges.is_empty() {
        edges = guess_edges(engine, &details, &services, options.observe, &mut notes).await;
    }
    Ok(Stack {
        project: project.clone(),
        compose_files,
        services,
        edges,
        notes,
        probed_at: options.probe_host.clone(),
    })
}

/// A HEALTHCHECK's `Interval` (nanoseconds), or Docker's 30s when it
/// sets none (0).
fn interval_of(ns: u64) -> HumanDuration {
    HumanDuration::from_millis(if ns == 0 { 30_000 } else { ns / 1_000_000 })
}

/// The compose files to read: the one given, else those the containers'
/// labels name (relative to the project's working directory).
fn compose_files(
    given: Option<&Path>,
    details: &BTreeMap<String, ContainerDetail>,
) -> Vec<PathBuf> {
    if let Some(p) = given {
        return vec![p.to_path_buf()];
    }
    let Some(labels) = details.values().map(|d| &d.labels).next() else {
        return Vec::new();
    };
    let Some(files) = labels.get(LABEL_CONFIG_FILES) else {
        return Vec::new();
    };
    let dir = labels.get(LABEL_WORKING_DIR).map(PathBuf::from);
    files
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| match &dir {
            Some(d) if Path::new(f).is_relative() => d.join(f),
            _ => PathBuf::from(f),
        })
        .collect()
}

/// How a client reaches the service: the first published TCP port that
/// answers HTTP, else the first published TCP port, asked where
/// `probe_host` says (a port out of reach from here comes last).
async fn endpoint(published: &[PublishedPort], probe_host: &ProbeHost) -> Option<Endpoint> {
    let tcp: Vec<&PublishedPort> = published.iter().filter(|p| p.protocol == "tcp").collect();
    let mut first_tcp = None;
    let mut unreachable = None;
    for p in &tcp {
        let address = match probe_host.reach(p) {
            Reach::Ask(address) => address,
            Reach::Written(address) => {
                // Published on one address beyond loopback: written, never contacted.
                first_tcp.get_or_insert(Endpoint::Tcp {
                    address,
                    contacted: false,
                });
                continue;
            }
            Reach::Unreachable => {
                unreachable.get_or_insert(Endpoint::Unreachable {
                    port: p.host_port,
                    bound: p.host_ip.clone(),
                });
                continue;
            }
        };
        // The first health-like path that answers anything but 404, else `/`.
        let mut answered: Option<(String, u16)> = None;
        for path in HEALTH_PATHS {
            match http_status(&address, path).await {
                Some(status) if status != 404 => {
                    answered = Some((path.to_string(), status));
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        match answered {
            Some((path, status)) => {
                return Some(Endpoint::Http {
                    url: format!("http://{address}{path}"),
                    status,
                });
            }
            None => {
                first_tcp.get_or_insert(Endpoint::Tcp {
                    address,
                    contacted: true,
                });
            }
        }
    }
    first_tcp.or(unreachable)
}

/// One `GET`; the status, or `None` when it does not answer HTTP within 1s.
pub(crate) async fn http_status(address: &str, path: &str) -> Option<u16> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {address}\r\nuser-agent: gameday-init\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 16];
        let mut read = 0;
        while read < 12 {
            let n = stream.read(&mut head[read..]).await.ok()?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let text = std::str::from_utf8(&head[..read]).ok()?;
        if !text.starts_with("HTTP/1.") {
            return None;
        }
        text.get(9..12)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}

/// Dependencies guessed when the compose file declares none: a service
/// whose command or environment names another (as a host: `store:7000`,
/// `postgres://db/app`), and connections from one to another's address
/// seen from this host while the published ports are asked a few times.
async fn guess_edges(
    engine: &Engine,
    details: &BTreeMap<String, ContainerDetail>,
    services: &[Service],
    observe: Duration,
    notes: &mut Vec<String>,
) -> Vec<Edge> {
    let mut edges: Vec<Edge> = Vec::new();
    let names: Vec<&String> = details.keys().collect();
    for (from, detail) in details {
        for to in &names {
            if *to == from {
                continue;
            }
            if let Some(where_) = names_host(detail, to) {
                edges.push(Edge {
                    from: from.clone(),
                    to: (*to).clone(),
                    source: EdgeSource::Named(where_),
                });
            }
        }
    }
    let seen = observe_connections(engine, details, services, observe, notes).await;
    for (from, to) in seen {
        if !edges.iter().any(|e| e.from == from && e.to == to) {
            edges.push(Edge {
                from,
                to,
                source: EdgeSource::Connected,
            });
        }
    }
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    edges
}

/// Where the container's command or environment names `service` as a
/// host, in words that never show the value (an environment variable may
/// hold a secret).
fn names_host(detail: &ContainerDetail, service: &str) -> Option<String> {
    let pattern = format!(
        r#"(?:^|[@=\s,;"']|//){}(?:$|[:/,;\s"'])"#,
        regex::escape(service)
    );
    let re = regex::Regex::new(&pattern).ok()?;
    if detail.command.iter().any(|arg| re.is_match(arg)) {
        return Some(format!("its command line names `{service}`"));
    }
    detail.env.iter().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        re.is_match(value)
            .then(|| format!("its environment variable {name} names `{service}`"))
    })
}

/// Connections from one service to another's address, read from each
/// container's `/proc/<pid>/net/tcp{,6}` on this host while the published
/// HTTP endpoints are asked every 200ms. Only when the engine runs on this
/// host (its PIDs are ours); otherwise a note says so.
async fn observe_connections(
    _engine: &Engine,
    details: &BTreeMap<String, ContainerDetail>,
    services: &[Service],
    observe: Duration,
    notes: &mut Vec<String>,
) -> HashSet<(String, String)> {
    let mut seen = HashSet::new();
    if observe.is_zero() {
        return seen;
    }
    // This host's PID of the container's process, in the container's cgroup.
    let local = details.values().all(|d| {
        d.pid > 0
            && std::fs::read_to_string(format!("/proc/{}/cgroup", d.pid))
                .is_ok_and(|cg| cg.contains(&d.id))
    });
    if !local {
        notes.push(
            "the engine is not on this host: connections were not observed, only names in commands and environments"
                .to_string(),
        );
        return seen;
    }
    let owner: HashMap<String, String> = details
        .iter()
        .flat_map(|(s, d)| d.addresses.iter().map(move |a| (a.clone(), s.clone())))
        .collect();
    let urls: Vec<(String, String)> = services
        .iter()
        .filter_map(|s| match &s.endpoint {
            Some(Endpoint::Http { url, .. }) => {
                let rest = url.strip_prefix("http://")?;
                let (address, path) = rest.split_once('/').unwrap_or((rest, ""));
                Some((address.to_string(), format!("/{path}")))
            }
            // Only an HTTP request makes a server call what it needs.
            Some(Endpoint::Tcp { .. } | Endpoint::Unreachable { .. }) | None => None,
        })
        .collect();
    let deadline = tokio::time::Instant::now() + observe;
    while tokio::time::Instant::now() < deadline {
        for (address, path) in &urls {
            let _ = http_status(address, path).await;
        }
        for (service, d) in details {
            for c in connections(d.pid) {
                let Some(peer) = owner.get(&c.remote_ip).filter(|p| *p != service) else {
                    continue;
                };
                // Its client side (an ephemeral port of its own) or its
                // server side (a port it listens on; a closed connection
                // lingers there in TIME_WAIT).
                let edge = if c.incoming {
                    (peer.clone(), service.clone())
                } else {
                    (service.clone(), peer.clone())
                };
                seen.insert(edge);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    seen
}

/// A TCP connection of a network namespace, from its side.
struct Connection {
    remote_ip: String,
    /// Accepted on a port it listens on (else opened by it).
    incoming: bool,
}

/// Every TCP connection (any state but LISTEN, TIME_WAIT included) of the
/// network namespace of a process, from `/proc/<pid>/net/tcp{,6}`.
fn connections(pid: i64) -> Vec<Connection> {
    let mut entries = Vec::new();
    for file in ["tcp", "tcp6"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) {
            entries.extend(text.lines().skip(1).filter_map(parse_tcp_line));
        }
    }
    let listening: HashSet<u16> = entries
        .iter()
        .filter(|e| e.state == 0x0A)
        .map(|e| e.local_port)
        .collect();
    entries
        .into_iter()
        .filter(|e| e.state != 0x0A)
        .filter_map(|e| {
            Some(Connection {
                incoming: listening.contains(&e.local_port),
                remote_ip: e.remote_ip?,
            })
        })
        .collect()
}

struct TcpEntry {
    local_port: u16,
    remote_ip: Option<String>,
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the parser's test"))]
    remote_port: u16,
    state: u8,
}

/// One line of `/proc/net/tcp` (or `tcp6`, whose IPv4-mapped addresses
/// are read as IPv4).
fn parse_tcp_line(line: &str) -> Option<TcpEntry> {
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?;
    let local = fields.next()?;
    let remote = fields.next()?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let (_, local_port) = local.split_once(':')?;
    let (remote_addr, remote_port) = remote.split_once(':')?;
    let ipv4 = |hex: &str| -> Option<String> {
        // The kernel prints the address as 32-bit words in host byte order.
        let word = match hex.len() {
            8 => hex,
            // ::ffff:a.b.c.d
            32 if hex.starts_with("0000000000000000FFFF0000") => &hex[24..],
            _ => return None,
        };
        let n = u32::from_str_radix(word, 16).ok()?;
        Some(std::net::Ipv4Addr::from(n.to_le_bytes()).to_string())
    };
    Some(TcpEntry {
        local_port: u16::from_str_radix(local_port, 16).ok()?,
        remote_ip: ipv4(remote_addr),
        remote_port: u16::from_str_radix(remote_port, 16).ok()?,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthcheck_interval_is_read_or_docker_s_default() {
        assert_eq!(interval_of(2_000_000_000), HumanDuration::from_secs(2));
        assert_eq!(interval_of(0), HumanDuration::from_secs(30));
    }

    #[test]
    fn proc_net_tcp_lines_are_read() {
        let e = parse_tcp_line(
            "   3: 0300000A:9C5E 0200000A:1B58 06 00000000:00000000 03:000016D7 00000000     0        0 0 3 0000000000000000",
        )
        .unwrap();
        assert_eq!(e.local_port, 0x9C5E);
        assert_eq!(e.remote_ip.as_deref(), Some("10.0.0.2"));
        assert_eq!(e.remote_port, 7000);
        assert_eq!(e.state, 6);
        let v6 = parse_tcp_line(
            "   0: 0000000000000000FFFF00000300000A:1F90 0000000000000000FFFF00000200000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 20 4 0 10 -1",
        )
        .unwrap();
        assert_eq!(v6.remote_ip.as_deref(), Some("10.0.0.2"));
    }

    #[test]
    fn a_host_named_in_the_command_or_environment_is_found_without_showing_values() {
        let detail = ContainerDetail {
            command: vec!["/app".into(), "--store".into(), "store:7000".into()],
            env: vec![
                "DATABASE_URL=postgres://user:s3cret@db:5432/app".into(),
                "NOTE=restore-points".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            names_host(&detail, "store").as_deref(),
            Some("its command line names `store`")
        );
        let db = names_host(&detail, "db").unwrap();
        assert_eq!(db, "its environment variable DATABASE_URL names `db`");
        assert!(!db.contains("s3cret"));
        // A word or a path that merely contains the name is not a host.
        assert_eq!(names_host(&detail, "points"), None);
        assert_eq!(names_host(&detail, "app"), None);
        assert_eq!(
            names_host(&detail, "user"),
            Some("its environment variable DATABASE_URL names `user`".into()),
            "a URL's user name reads as a host: a known false guess"
        );
    }
}
