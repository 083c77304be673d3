//! Short-lived helper containers sharing a target's network namespace
//! (network faults on remote engines) or placed inside it (stress workers
//! on remote engines), found again by their labels, and the images they
//! need.

use super::*;

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
        let id = self.create_unnamed(config, image).await?;
        // A target gone meanwhile refuses the start: leave nothing created.
        if let Err(e) = self.client.start_container(&id, None).await {
            let _ = self.remove_container(&id).await;
            return Err(DockerError::classify(e, &id));
        }
        Ok(id)
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
        let _ = self.remove_container(id).await;
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
    /// Is `image` present on the engine (nothing is ever pulled)?
    pub async fn image_exists(&self, image: &str) -> bool {
        self.client.inspect_image(image).await.is_ok()
    }
}

impl Engine {
    /// Create (never start) a container named `name` from `image`, labelled
    /// `labels`: a marker the engine itself arbitrates, since a second
    /// container of the same name is refused ([`DockerError::Conflict`]).
    /// It mounts the volume of the same name, its witness (see
    /// [`Engine::witness`]), so that `volume prune` keeps the witness while
    /// the marker exists.
    pub(crate) async fn create_marker(
        &self,
        name: &str,
        image: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, DockerError> {
        let config = bollard::models::ContainerCreateBody {
            image: Some(image.to_string()),
            // Never started; if someone starts it, it does nothing.
            entrypoint: Some(vec!["/gameday-claim-is-never-started".to_string()]),
            labels: Some(labels),
            network_disabled: Some(true),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".to_string()),
                binds: Some(vec![super::markers::witness_bind(name)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.create_named(name, config).await
    }

    /// Create (not start) a container named `name`; its id.
    /// Create a container Docker names; its id.
    async fn create_unnamed(
        &self,
        config: bollard::models::ContainerCreateBody,
        image: &str,
    ) -> Result<String, DockerError> {
        let created = self
            .client
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                config,
            )
            .await
            .map_err(|e| DockerError::classify(e, image))?;
        Ok(created.id)
    }

    async fn create_named(
        &self,
        name: &str,
        config: bollard::models::ContainerCreateBody,
    ) -> Result<String, DockerError> {
        let options = bollard::query_parameters::CreateContainerOptionsBuilder::new()
            .name(name)
            .build();
        let created = self
            .client
            .create_container(Some(options), config)
            .await
            .map_err(|e| DockerError::classify(e, name))?;
        Ok(created.id)
    }

    /// The id and labels of the container named `name`, if there is one.
    pub(crate) async fn labels_of(
        &self,
        name: &str,
    ) -> Result<Option<(String, HashMap<String, String>)>, DockerError> {
        match self.client.inspect_container(name, None).await {
            Ok(info) => Ok(Some((
                info.id.unwrap_or_default(),
                info.config.and_then(|c| c.labels).unwrap_or_default(),
            ))),
            Err(e) => match DockerError::classify(e, name) {
                DockerError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Remove a container that is not running (a marker).
    pub(crate) async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        self.remove_forced(id, false).await
    }

    /// Remove a container, running or not, and with `volumes` the
    /// anonymous volumes only it uses; one already gone is fine.
    pub(crate) async fn remove_forced(&self, id: &str, volumes: bool) -> Result<(), DockerError> {
        match self
            .client
            .remove_container(
                id,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    v: volumes,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match DockerError::classify(e, id) {
                DockerError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// The engine's own ID (`docker info`), which tells one engine from
    /// another whatever address it is reached at.
    pub(crate) async fn engine_id(&self) -> Result<String, DockerError> {
        let info = self
            .client
            .info()
            .await
            .map_err(|e| DockerError::classify(e, "info"))?;
        Ok(info.id.unwrap_or_default())
    }
}

/// A container running `argv` from `image`, with its standard streams
/// attached and its input closing when the attached client goes.
fn attached(
    image: &str,
    argv: &[String],
    labels: HashMap<String, String>,
) -> bollard::models::ContainerCreateBody {
    bollard::models::ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(argv.to_vec()),
        labels: Some(labels),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        ..Default::default()
    }
}

/// Where a helper started by [`Engine::start_inside`] is, besides the
/// target's PID namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Inside {
    /// In a child of the target's cgroup.
    pub cgroup: bool,
    /// Allowed into the target's mount namespace.
    pub mounts: bool,
    /// In the target's network namespace, with NET_ADMIN.
    pub network: bool,
}

/// A container started with its standard input and output attached.
pub(crate) struct Attached {
    pub id: String,
    pub output: std::pin::Pin<
        Box<
            dyn futures_util::Stream<
                    Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
                > + Send,
        >,
    >,
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl Engine {
    /// Create a container named `name` from `image` running `argv`, with
    /// the engine's own socket (`socket`, a path on the engine's host)
    /// mounted at `/var/run/docker.sock`, no network, and its standard
    /// input kept open; attach to it, then start it. Its standard input
    /// closes when this client goes (`StdinOnce`).
    pub(crate) async fn start_attached(
        &self,
        name: &str,
        image: &str,
        argv: &[String],
        labels: HashMap<String, String>,
        socket: &str,
    ) -> Result<Attached, DockerError> {
        let config = bollard::models::ContainerCreateBody {
            env: Some(vec!["DOCKER_HOST=unix:///var/run/docker.sock".to_string()]),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".to_string()),
                binds: Some(vec![format!("{socket}:/var/run/docker.sock")]),
                ..Default::default()
            }),
            ..attached(image, argv, labels)
        };
        let id = self.create_named(name, config).await?;
        self.attach_and_start(id).await
    }
}

impl Engine {
    /// As [`Engine::start_in_netns_of`] (the target's network namespace,
    /// NET_ADMIN, its own PID namespace), with its standard input kept open
    /// and attached, closing when this client goes.
    pub(crate) async fn start_in_netns_attached(
        &self,
        target: &str,
        image: &str,
        argv: &[String],
        labels: HashMap<String, String>,
    ) -> Result<Attached, DockerError> {
        let config = bollard::models::ContainerCreateBody {
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some(format!("container:{target}")),
                cap_add: Some(vec!["NET_ADMIN".to_string()]),
                ..Default::default()
            }),
            ..attached(image, argv, labels)
        };
        let id = self.create_unnamed(config, image).await?;
        self.attach_and_start(id).await
    }
}

impl Engine {
    /// Attach to created container `id` (input, output and errors), then
    /// start it; on failure it is removed.
    async fn attach_and_start(&self, id: String) -> Result<Attached, DockerError> {
        let attach = bollard::query_parameters::AttachContainerOptionsBuilder::new()
            .stream(true)
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = match self.client.attach_container(&id, Some(attach)).await {
            Ok(a) => a,
            Err(e) => {
                let _ = self.remove_container(&id).await;
                return Err(DockerError::classify(e, &id));
            }
        };
        if let Err(e) = self.client.start_container(&id, None).await {
            let _ = self.remove_container(&id).await;
            return Err(DockerError::classify(e, &id));
        }
        Ok(Attached {
            id,
            output: attached.output,
            input: attached.input,
        })
    }

    /// Start `argv` from `image` inside container `target`, in its PID
    /// namespace (its main process is PID 1 there), with its standard
    /// input kept open and closing when this client goes; and as `inside`
    /// says, in a child of its cgroup (its limits count what runs there:
    /// needs the engine's cgroupfs driver on cgroup v1, as a container's
    /// cgroup cannot be another's parent otherwise), in its network
    /// namespace (NET_ADMIN) or none, allowed into its mount namespace
    /// (SYS_ADMIN, SYS_CHROOT, SYS_PTRACE).
    pub(crate) async fn start_inside(
        &self,
        target: &str,
        image: &str,
        argv: &[String],
        labels: HashMap<String, String>,
        inside: Inside,
    ) -> Result<Attached, DockerError> {
        let inspected = self
            .client
            .inspect_container(target, None)
            .await
            .map_err(|e| DockerError::classify(e, target))?;
        let id = inspected.id.unwrap_or_else(|| target.to_string());
        let cgroup_parent = if inside.cgroup {
            let info = self
                .client
                .info()
                .await
                .map_err(|e| DockerError::classify(e, "info"))?;
            let driver = info
                .cgroup_driver
                .map(|d| d.to_string())
                .unwrap_or_default();
            let version = info
                .cgroup_version
                .map(|v| v.to_string())
                .unwrap_or_default();
            if driver != "cgroupfs" || version == "2" {
                return Err(DockerError::Unsupported(format!(
                    "the engine uses the {driver} cgroup driver on cgroup v{version}: a helper can be placed inside a container's cgroup only with cgroupfs on cgroup v1"
                )));
            }
            let parent = inspected
                .host_config
                .and_then(|h| h.cgroup_parent)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/docker".to_string());
            Some(format!("{}/{id}", parent.trim_end_matches('/')))
        } else {
            None
        };
        let mut caps: Vec<String> = Vec::new();
        if inside.mounts {
            caps.extend(["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"].map(String::from));
        }
        if inside.network {
            caps.push("NET_ADMIN".to_string());
        }
        let network_mode = if inside.network {
            format!("container:{id}")
        } else {
            "none".to_string()
        };
        let config = bollard::models::ContainerCreateBody {
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some(network_mode),
                pid_mode: Some(format!("container:{id}")),
                cgroup_parent,
                cap_add: Some(caps),
                ..Default::default()
            }),
            ..attached(image, argv, labels)
        };
        let id = self.create_unnamed(config, image).await?;
        self.attach_and_start(id).await
    }
}

impl Engine {
    /// The image of the container named `name`, if there is one.
    pub(crate) async fn image_of(&self, name: &str) -> Result<Option<String>, DockerError> {
        match self.client.inspect_container(name, None).await {
            Ok(info) => Ok(info.config.and_then(|c| c.image)),
            Err(e) => match DockerError::classify(e, name) {
                DockerError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }
}
