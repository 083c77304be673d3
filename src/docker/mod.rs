//! The one door to the Docker engine. Everything the rest of the tool needs
//! from Docker goes through [`Engine`]; errors are classified once here
//! (unreachable, not found, conflict, other) so callers can explain them.

use std::collections::HashMap;

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    EventsOptions, KillContainerOptions, ListContainersOptions, RestartContainerOptions,
    StopContainerOptions,
};
use futures_util::StreamExt;

use crate::gameday::model::{DockerConfig, EngineSpec, TlsFiles};

mod containers;
mod deploy;
mod helpers;
mod images;
mod inspect;
mod leftovers;
mod markers;
mod network;
pub(crate) mod ssh;

#[cfg(test)]
pub(crate) use inspect::Mount;
pub(crate) use inspect::{
    ContainerDetail, MountKind, Placement, PublishedPort, TmpfsSize, VolumeDetail,
};

use crate::gameday::units::{ContainerState, HealthState};
pub(crate) use containers::{Confirmation, Operation, StatsReading};
pub(crate) use deploy::{DEPLOY_LABEL, Replica, body_for_image};
pub(crate) use helpers::{Attached, Inside};
pub(crate) use images::ImageFacts;
pub(crate) use network::Endpoint;

/// Where an engine listens on its own host, unless told otherwise.
pub(crate) const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

pub(crate) const LABEL_PROJECT: &str = "com.docker.compose.project";
pub(crate) const LABEL_SERVICE: &str = "com.docker.compose.service";
/// Task containers of a swarm stack (`docker stack deploy`) carry these.
pub(crate) const LABEL_STACK: &str = "com.docker.stack.namespace";
pub(crate) const LABEL_SWARM_SERVICE: &str = "com.docker.swarm.service.name";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker engine at {host}: {source}")]
    Unreachable {
        host: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("no such container `{0}`")]
    NotFound(String),
    #[error("cannot read the TLS file `{0}`")]
    TlsFile(String),
    #[error("cannot reach the Docker engine at {host}: {message}")]
    Tunnel { host: String, message: String },
    #[error(
        "refusing to reach the Docker engine at {0} without TLS: anyone on the network could drive it; give `tls: {{ ca, cert, key }}` (or DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), or `insecure: true` for a private path"
    )]
    Cleartext(String),
    #[error("Docker refused: {0}")]
    Conflict(String),
    /// What this engine cannot do, in words.
    #[error("{0}")]
    Unsupported(String),
    #[error("Docker error: {0}")]
    Other(#[source] bollard::errors::Error),
}

impl DockerError {
    fn classify(err: bollard::errors::Error, subject: &str) -> Self {
        match &err {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => DockerError::NotFound(subject.to_string()),
            bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            } => DockerError::Conflict(message.clone()),
            _ => DockerError::Other(err),
        }
    }
}

/// A container as the gameday sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub service: Option<String>,
    pub project: Option<String>,
    pub state: ContainerState,
    /// The engine it lives on: `default` (the `docker:` engine) or a name from `hosts:`.
    pub engine: String,
    /// A swarm task's service (`<stack>_<service>`): the swarm, not gameday,
    /// brings a killed or stopped task back (as a new container).
    pub swarm_service: Option<String>,
    /// `default`, a network, `host`, `none` or `container:<id>`: whose
    /// network namespace the container uses.
    pub network_mode: Option<String>,
    /// The image it runs (its ID).
    pub image: String,
    /// Its labels (compose's among them): what `labels:` targets select on.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its ports published on its engine's host (what makes an http probe
    /// user-facing by default).
    pub published: Vec<PublishedPort>,
}

impl ContainerInfo {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// A connected Docker engine.
#[derive(Clone)]
pub struct Engine {
    client: Docker,
    host: String,
    /// `default` (the `docker:` engine) or its name in `hosts:`.
    name: String,
    /// How it was asked for (the file's `docker:` or `hosts:` entry).
    spec: std::sync::Arc<EngineSpec>,
    /// How it was reached, resolved (the address and TLS files that
    /// DOCKER_HOST, DOCKER_CERT_PATH or the default supplied): recorded in
    /// the journal so `recover` reaches the same engine from any shell.
    resolved: std::sync::Arc<EngineSpec>,
    /// How the connection is protected, for plans and reports.
    security: Security,
    /// For an `ssh://` engine: the tunnel, open as long as a clone lives.
    _tunnel: Option<std::sync::Arc<ssh::SshTunnel>>,
}

/// How the connection to an engine is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// This host's socket: only root (or the docker group) can use it.
    LocalSocket,
    /// Mutual TLS, the engine's certificate checked against the given CA.
    Tls,
    /// Plain TCP, allowed by `insecure: true`.
    Insecure,
    /// Through an SSH tunnel to the engine's socket.
    Ssh,
}

impl Security {
    pub fn describe(self) -> &'static str {
        match self {
            Security::LocalSocket => "local socket",
            Security::Tls => "TLS, engine certificate verified",
            Security::Insecure => "INSECURE: plain TCP, no TLS (insecure: true)",
            Security::Ssh => "SSH tunnel to the engine's socket",
        }
    }
}

/// Timeout of one request to a TLS engine, as bollard's default.
const TLS_TIMEOUT_SECS: u64 = 120;

impl Engine {
    /// Connect as the gameday says: its `docker.host`, else `DOCKER_HOST`, else
    /// the local socket. Negotiates the API version with the server.
    pub async fn connect(config: &DockerConfig) -> Result<Engine, DockerError> {
        Engine::connect_spec(&config.engine_spec()).await
    }

    /// Connect to the engine `spec` names. A `tcp://` engine is reached over
    /// mutual TLS with the spec's files, else with DOCKER_CERT_PATH's when
    /// DOCKER_TLS_VERIFY is set (as the docker CLI does), else in the clear
    /// only when the spec says `insecure`.
    pub async fn connect_spec(spec: &EngineSpec) -> Result<Engine, DockerError> {
        Engine::connect_named(crate::gameday::decode::DEFAULT_HOST, spec).await
    }

    /// [`Engine::connect_spec`] for an engine with a name from `hosts:`.
    pub async fn connect_named(name: &str, spec: &EngineSpec) -> Result<Engine, DockerError> {
        let host = spec
            .host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| format!("unix://{DEFAULT_SOCKET}"));
        let unreachable = |source| DockerError::Unreachable {
            host: host.clone(),
            source,
        };
        if host.starts_with("ssh://") {
            let tunnel = ssh::SshTunnel::open(&host, spec.ssh.as_ref())
                .await
                .map_err(|message| DockerError::Tunnel {
                    host: host.clone(),
                    message,
                })?;
            let socket = format!("unix://{}", tunnel.socket.display());
            let client =
                Docker::connect_with_unix(&socket, TLS_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                    .map_err(unreachable)?;
            let client = client.negotiate_version().await.map_err(unreachable)?;
            return Ok(Engine {
                client,
                resolved: std::sync::Arc::new(EngineSpec {
                    host: Some(host.clone()),
                    ..spec.clone()
                }),
                host,
                name: name.to_string(),
                spec: std::sync::Arc::new(spec.clone()),
                security: Security::Ssh,
                _tunnel: Some(std::sync::Arc::new(tunnel)),
            });
        }
        let tcp = ["tcp://", "http://", "https://"]
            .iter()
            .any(|scheme| host.starts_with(scheme));
        let tls = spec.tls.clone().or_else(|| {
            let verify = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
            (tcp && verify).then(|| {
                let dir = std::env::var("DOCKER_CERT_PATH")
                    .ok()
                    .filter(|d| !d.is_empty())
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(|| {
                        std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                            .join(".docker")
                    });
                let file = |name: &str| dir.join(name).display().to_string();
                TlsFiles {
                    ca: file("ca.pem"),
                    cert: file("cert.pem"),
                    key: file("key.pem"),
                }
            })
        });
        let (client, security) = match (&tls, tcp) {
            (Some(files), true) => {
                for path in [&files.ca, &files.cert, &files.key] {
                    if !std::path::Path::new(path).is_file() {
                        return Err(DockerError::TlsFile(path.clone()));
                    }
                }
                // One crypto backend for the process (ring), as for HTTPS probes.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = Docker::connect_with_ssl(
                    &host,
                    std::path::Path::new(&files.key),
                    std::path::Path::new(&files.cert),
                    std::path::Path::new(&files.ca),
                    TLS_TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )
                .map_err(unreachable)?;
                (client, Security::Tls)
            }
            (_, true) if !spec.insecure => return Err(DockerError::Cleartext(host)),
            (_, true) => (
                Docker::connect_with_host(&host).map_err(unreachable)?,
                Security::Insecure,
            ),
            (_, false) => (
                Docker::connect_with_host(&host).map_err(unreachable)?,
                Security::LocalSocket,
            ),
        };
        let client = client.negotiate_version().await.map_err(unreachable)?;
        Ok(Engine {
            client,
            resolved: std::sync::Arc::new(EngineSpec {
                host: Some(host.clone()),
                tls: if tcp { tls } else { None },
                insecure: spec.insecure,
                ssh: spec.ssh.clone(),
                socket: spec.socket.clone(),
            }),
            host,
            name: name.to_string(),
            spec: std::sync::Arc::new(spec.clone()),
            security,
            _tunnel: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How this engine was reached (recorded in the journal).
    pub fn spec(&self) -> &EngineSpec {
        &self.spec
    }

    /// How it was reached, resolved: what the journal records.
    pub(crate) fn resolved_spec(&self) -> &EngineSpec {
        &self.resolved
    }

    pub fn security(&self) -> Security {
        self.security
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// `20.10.24 (API 1.41)`
    pub async fn server_version(&self) -> Result<String, DockerError> {
        let v = self
            .client
            .version()
            .await
            .map_err(|e| DockerError::classify(e, "version"))?;
        Ok(format!(
            "{} (API {})",
            v.version.unwrap_or_else(|| "?".into()),
            v.api_version.unwrap_or_else(|| "?".into())
        ))
    }

    /// Every container (running or not) of a compose project, sorted by name.
    pub async fn list_project(&self, project: &str) -> Result<Vec<ContainerInfo>, DockerError> {
        self.list(Some(project)).await
    }

    /// Every container of the engine that is NOT in `project`: only used to
    /// explain why a name did not resolve, never as a target.
    pub async fn list_outside(&self, project: &str) -> Result<Vec<ContainerInfo>, DockerError> {
        Ok(self
            .list(None)
            .await?
            .into_iter()
            .filter(|c| c.project.as_deref() != Some(project))
            .collect())
    }

    /// Containers of a compose project, or of the swarm stack of the same
    /// name (task containers labelled `com.docker.stack.namespace`), or all.
    async fn list(&self, project: Option<&str>) -> Result<Vec<ContainerInfo>, DockerError> {
        let label_filters: Vec<Option<String>> = match project {
            Some(p) => vec![
                Some(format!("{LABEL_PROJECT}={p}")),
                Some(format!("{LABEL_STACK}={p}")),
            ],
            None => vec![None],
        };
        let mut containers: Vec<ContainerInfo> = Vec::new();
        for label in label_filters {
            let filters = label.map(|l| HashMap::from([("label".to_string(), vec![l])]));
            let list = self
                .client
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters,
                    ..Default::default()
                }))
                .await
                .map_err(|e| DockerError::classify(e, project.unwrap_or("containers")))?;
            for c in list {
                let labels = c.labels.unwrap_or_default();
                let compose = labels.get(LABEL_PROJECT).cloned();
                let stack = labels.get(LABEL_STACK).cloned();
                let in_project = compose.clone().or_else(|| stack.clone());
                // Belt and braces: never trust a filter alone with the blast radius.
                if project.is_some() && in_project.as_deref() != project {
                    continue;
                }
                let Some(id) = c.id else { continue };
                if containers.iter().any(|known| known.id == id) {
                    continue;
                }
                let swarm_service = labels.get(LABEL_SWARM_SERVICE).cloned();
                // A stack's services are named `<stack>_<service>`.
                let service = labels.get(LABEL_SERVICE).cloned().or_else(|| {
                    let full = swarm_service.as_deref()?;
                    Some(match &stack {
                        Some(st) => full
                            .strip_prefix(&format!("{st}_"))
                            .unwrap_or(full)
                            .to_string(),
                        None => full.to_string(),
                    })
                });
                containers.push(ContainerInfo {
                    id,
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    service,
                    project: in_project,
                    state: c
                        .state
                        .map(|s| s.to_string().parse().unwrap_or(ContainerState::Dead))
                        .unwrap_or(ContainerState::Dead),
                    engine: self.name.clone(),
                    swarm_service,
                    network_mode: c.host_config.and_then(|h| h.network_mode),
                    image: c.image_id.unwrap_or_default(),
                    labels: labels.into_iter().collect(),
                    published: published_of(c.ports.unwrap_or_default()),
                });
            }
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(containers)
    }
}

/// The ports a listed container publishes (TCP and UDP, one per host
/// address and port).
fn published_of(ports: Vec<bollard::models::PortSummary>) -> Vec<PublishedPort> {
    let mut published: Vec<PublishedPort> = ports
        .into_iter()
        .filter_map(|p| {
            Some(PublishedPort {
                host_ip: p.ip.unwrap_or_default(),
                host_port: p.public_port?,
                container_port: p.private_port,
                protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            })
        })
        .collect();
    published.sort_by(|a, b| {
        (a.host_port, &a.host_ip, &a.protocol).cmp(&(b.host_port, &b.host_ip, &b.protocol))
    });
    published.dedup_by(|a, b| {
        a.host_port == b.host_port && a.host_ip == b.host_ip && a.protocol == b.protocol
    });
    published
}

/// How much of a command's output a sample keeps.
pub(crate) const EXEC_OUTPUT_KEPT: usize = 4096;

/// Every engine of a gameday: the `docker:` one (`default`) first, then
/// those of `hosts:`.
#[derive(Clone)]
pub(crate) struct Engines(Vec<Engine>);

impl Engines {
    pub(crate) fn new(default: Engine, others: Vec<Engine>) -> Engines {
        let mut all = vec![default];
        all.extend(others);
        Engines(all)
    }

    pub(crate) fn default_engine(&self) -> &Engine {
        &self.0[0]
    }

    /// The engine a container lives on.
    pub(crate) fn of(&self, container: &ContainerInfo) -> &Engine {
        self.named(&container.engine)
    }

    /// The engine with this name; the default one for an unknown name.
    pub(crate) fn named(&self, name: &str) -> &Engine {
        self.0.iter().find(|e| e.name == name).unwrap_or(&self.0[0])
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Engine> {
        self.0.iter()
    }
}
