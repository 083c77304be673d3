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

pub mod ssh;
use crate::gameday::units::ContainerState;

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
/// Task containers of a swarm stack (`docker stack deploy`) carry these.
pub const LABEL_STACK: &str = "com.docker.stack.namespace";
pub const LABEL_SWARM_SERVICE: &str = "com.docker.swarm.service.name";

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
    /// How it was reached, for the journal (so `recover` can reach it again).
    spec: std::sync::Arc<EngineSpec>,
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
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
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
                host,
                name: name.to_string(),
                spec: std::sync::Arc::new(spec.clone()),
                security: Security::Ssh,
                _tunnel: Some(std::sync::Arc::new(tunnel)),
            });
        }
        let tcp = host.starts_with("tcp://") || host.starts_with("http://");
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
                });
            }
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(containers)
    }
}

/// A container operation the engine confirmed through its event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmation {
    /// The engine's own timestamp of the event (`timeNano`), Unix nanoseconds.
    pub time_nano: i64,
}

/// The container-level operations faults are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Pause,
    Unpause,
    Kill { signal: String },
    Stop { timeout: Duration },
    Start,
    Restart { timeout: Duration },
}

impl Operation {
    /// The event action that confirms the operation.
    fn confirming_actions(&self) -> &'static [&'static str] {
        match self {
            Operation::Pause => &["pause"],
            Operation::Unpause => &["unpause"],
            Operation::Kill { .. } => &["kill"],
            Operation::Stop { .. } => &["stop", "die"],
            Operation::Start => &["start"],
            Operation::Restart { .. } => &["restart", "start"],
        }
    }
}

impl Engine {
    /// Current state of a container; `Absent` when it no longer exists.
    pub async fn state(&self, id: &str) -> Result<ContainerState, DockerError> {
        match self.client.inspect_container(id, None).await {
            Ok(info) => Ok(info
                .state
                .and_then(|s| s.status)
                .map(|s| s.to_string().parse().unwrap_or(ContainerState::Dead))
                .unwrap_or(ContainerState::Dead)),
            Err(e) => match DockerError::classify(e, id) {
                DockerError::NotFound(_) => Ok(ContainerState::Absent),
                other => Err(other),
            },
        }
    }

    /// Run one operation and wait (up to `confirm_within`) for the engine's
    /// event confirming it.
    pub async fn perform(
        &self,
        id: &str,
        op: &Operation,
        confirm_within: Duration,
    ) -> Result<Option<Confirmation>, DockerError> {
        let filters = HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                op.confirming_actions()
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
            ),
        ]);
        // Events are replayed from `since`, so subscribing after the call
        // cannot miss the confirmation.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let since = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
        let classify = |e| DockerError::classify(e, id);
        let timeout_secs = |d: &Duration| i32::try_from(d.as_secs()).unwrap_or(i32::MAX);
        match op {
            Operation::Pause => self.client.pause_container(id).await.map_err(classify)?,
            Operation::Unpause => self.client.unpause_container(id).await.map_err(classify)?,
            Operation::Kill { signal } => self
                .client
                .kill_container(
                    id,
                    Some(KillContainerOptions {
                        signal: signal.clone(),
                    }),
                )
                .await
                .map_err(classify)?,
            Operation::Stop { timeout } => self
                .client
                .stop_container(
                    id,
                    Some(StopContainerOptions {
                        t: Some(timeout_secs(timeout)),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(classify)?,
            Operation::Start => self
                .client
                .start_container(id, None)
                .await
                .map_err(classify)?,
            Operation::Restart { timeout } => self
                .client
                .restart_container(
                    id,
                    Some(RestartContainerOptions {
                        t: Some(timeout_secs(timeout)),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(classify)?,
        }
        let mut events = Box::pin(self.client.events(Some(EventsOptions {
            since: Some(since),
            filters: Some(filters),
            ..Default::default()
        })));
        let wait = async {
            while let Some(event) = events.next().await {
                if let Ok(event) = event {
                    let action = event.action.as_deref().unwrap_or_default();
                    if op
                        .confirming_actions()
                        .iter()
                        .any(|a| action.starts_with(a))
                    {
                        return event.time_nano.map(|time_nano| Confirmation { time_nano });
                    }
                }
            }
            None
        };
        Ok(tokio::time::timeout(confirm_within, wait)
            .await
            .ok()
            .flatten())
    }

    /// Wait until the container is in `wanted` state, polling; returns the
    /// last state seen.
    pub async fn wait_for_state(
        &self,
        id: &str,
        wanted: ContainerState,
        within: Duration,
    ) -> Result<ContainerState, DockerError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let state = self.state(id).await?;
            if state == wanted || tokio::time::Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A container's attachment to a network, as needed to reconnect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<String>,
}

impl Engine {
    /// The PID of the container's first process (0 when not running).
    pub async fn pid(&self, id: &str) -> Result<i64, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        Ok(info.state.and_then(|s| s.pid).unwrap_or(0))
    }

    /// The container's networks with its aliases and IPv4 address on each.
    pub async fn endpoints(&self, id: &str) -> Result<Vec<Endpoint>, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let networks = info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        let mut list: Vec<Endpoint> = networks
            .into_iter()
            .map(|(network, e)| Endpoint {
                network,
                aliases: e.aliases.unwrap_or_default(),
                ipv4: e.ip_address.filter(|ip| !ip.is_empty()),
            })
            .collect();
        list.sort_by(|a, b| a.network.cmp(&b.network));
        Ok(list)
    }

    pub async fn disconnect(&self, id: &str, network: &str) -> Result<(), DockerError> {
        self.client
            .disconnect_network(
                network,
                bollard::models::NetworkDisconnectRequest {
                    container: id.to_string(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| DockerError::classify(e, network))
    }

    /// Connect with the given aliases, and the given address when the
    /// network allows choosing one (user-configured subnets only).
    pub async fn connect_network(&self, id: &str, endpoint: &Endpoint) -> Result<(), DockerError> {
        let request = |with_ip: bool| bollard::models::NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: Some(bollard::models::EndpointSettings {
                aliases: Some(endpoint.aliases.clone()),
                ipam_config: endpoint.ipv4.clone().filter(|_| with_ip).map(|ip| {
                    bollard::models::EndpointIpamConfig {
                        ipv4_address: Some(ip),
                        ..Default::default()
                    }
                }),
                ..Default::default()
            }),
        };
        match self
            .client
            .connect_network(&endpoint.network, request(true))
            .await
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("user configured subnets")
                    || message.contains("user specified IP") =>
            {
                // The network assigns addresses itself: same aliases, next free address.
                self.client
                    .connect_network(&endpoint.network, request(false))
                    .await
                    .map_err(|e| DockerError::classify(e, &endpoint.network))
            }
            Err(e) => Err(DockerError::classify(e, &endpoint.network)),
        }
    }
}

/// What a finished short-lived container printed.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl Engine {
    /// Create and start a container sharing `target`'s network namespace,
    /// with NET_ADMIN, running `argv` from `image`. Returns its id.
    pub async fn start_in_netns_of(
        &self,
        target: &str,
        image: &str,
        argv: &[String],
        labels: HashMap<String, String>,
    ) -> Result<String, DockerError> {
        let config = bollard::models::ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(argv.to_vec()),
            labels: Some(labels),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some(format!("container:{target}")),
                cap_add: Some(vec!["NET_ADMIN".to_string()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .client
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                config,
            )
            .await
            .map_err(|e| DockerError::classify(e, image))?;
        self.client
            .start_container(&created.id, None)
            .await
            .map_err(|e| DockerError::classify(e, &created.id))?;
        Ok(created.id)
    }

    /// Wait for a container to exit (stopping it first when `stop`), collect
    /// its output, and remove it.
    pub async fn finish(&self, id: &str, stop: bool) -> Result<RunOutput, DockerError> {
        if stop {
            let _ = self
                .client
                .stop_container(
                    id,
                    Some(StopContainerOptions {
                        t: Some(10),
                        ..Default::default()
                    }),
                )
                .await;
        }
        let mut waits = Box::pin(self.client.wait_container(id, None));
        let mut exit_code = 0;
        while let Some(next) = waits.next().await {
            match next {
                Ok(w) => exit_code = w.status_code,
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => {
                    exit_code = code
                }
                Err(_) => break,
            }
        }
        let mut logs = Box::pin(self.client.logs(
            id,
            Some(bollard::query_parameters::LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        ));
        let (mut stdout, mut stderr) = (String::new(), String::new());
        while let Some(Ok(chunk)) = logs.next().await {
            match chunk {
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
        let _ = self
            .client
            .remove_container(
                id,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        Ok(RunOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// Ids of the containers carrying `label=value`.
    pub async fn containers_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{label}={value}")])]);
        let list = self
            .client
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| DockerError::classify(e, label))?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// Is this engine the Docker host this process runs on (local socket)?
    pub fn is_local(&self) -> bool {
        self.host.starts_with("unix://")
    }
}

impl Engine {
    /// Everything a container has printed so far (stdout and stderr).
    pub async fn logs_so_far(&self, id: &str) -> Result<String, DockerError> {
        let mut logs = Box::pin(self.client.logs(
            id,
            Some(bollard::query_parameters::LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        ));
        let mut text = String::new();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.map_err(|e| DockerError::classify(e, id))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text)
    }
}

impl Engine {
    /// A container's network mode (`container:<id>` for helpers).
    pub async fn network_mode(&self, id: &str) -> Result<Option<String>, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        Ok(info.host_config.and_then(|h| h.network_mode))
    }
}

impl Engine {
    /// Is `image` present on the engine (nothing is ever pulled)?
    pub async fn image_exists(&self, image: &str) -> bool {
        self.client.inspect_image(image).await.is_ok()
    }
}

/// What a command run in a container (`docker exec`) ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// stdout and stderr, interleaved as the container wrote them.
    pub output: String,
}

impl Engine {
    /// Run `argv` in a running container and wait for it to end. The caller
    /// bounds the time; dropping the future leaves the process to Docker.
    pub async fn exec(&self, id: &str, argv: &[String]) -> Result<ExecOutput, DockerError> {
        use bollard::exec::StartExecResults;
        let classify = |e| DockerError::classify(e, id);
        let created = self
            .client
            .create_exec(
                id,
                bollard::models::ExecConfig {
                    cmd: Some(argv.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(classify)?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = self
            .client
            .start_exec(&created.id, None)
            .await
            .map_err(classify)?
        {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(classify)?;
                // Keep what a report can show; drain the rest.
                if output.len() < EXEC_OUTPUT_KEPT {
                    output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                }
            }
        }
        let inspect = self
            .client
            .inspect_exec(&created.id)
            .await
            .map_err(classify)?;
        Ok(ExecOutput {
            // Still running after its output closed: report it as such.
            exit_code: inspect.exit_code.unwrap_or(-1),
            output,
        })
    }

    /// Lines a container logged (stdout and stderr) from `since` (whole
    /// seconds since the epoch, as the API takes them) until now, each with
    /// Docker's timestamp.
    pub async fn log_lines_since(
        &self,
        id: &str,
        since: i64,
    ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, String)>, DockerError> {
        let mut logs = Box::pin(self.client.logs(
            id,
            Some(bollard::query_parameters::LogsOptions {
                stdout: true,
                stderr: true,
                timestamps: true,
                since: i32::try_from(since).unwrap_or(i32::MAX),
                ..Default::default()
            }),
        ));
        let mut text = String::new();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.map_err(|e| DockerError::classify(e, id))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text
            .lines()
            .filter_map(|line| {
                let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
                let at = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
                Some((at.with_timezone(&chrono::Utc), rest.to_string()))
            })
            .collect())
    }
}

/// How much of a command's output a sample keeps.
pub const EXEC_OUTPUT_KEPT: usize = 4096;

/// Every engine of a gameday: the `docker:` one (`default`) first, then
/// those of `hosts:`.
#[derive(Clone)]
pub struct Engines(Vec<Engine>);

impl Engines {
    pub fn new(default: Engine, others: Vec<Engine>) -> Engines {
        let mut all = vec![default];
        all.extend(others);
        Engines(all)
    }

    pub fn default_engine(&self) -> &Engine {
        &self.0[0]
    }

    /// The engine a container lives on.
    pub fn of(&self, container: &ContainerInfo) -> &Engine {
        self.named(&container.engine)
    }

    /// The engine with this name; the default one for an unknown name.
    pub fn named(&self, name: &str) -> &Engine {
        self.0.iter().find(|e| e.name == name).unwrap_or(&self.0[0])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Engine> {
        self.0.iter()
    }
}
