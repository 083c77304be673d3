//! Faults: apply one to a container and get an [`AppliedFault`] whose
//! `revert` consumes it, so a fault cannot be reverted twice or forgotten
//! silently. Every fault carries a [`RevertRecipe`]: plain data, written to
//! the journal before the fault is applied, which `recover` can execute
//! later from another process. Executing a recipe is idempotent.
//!
//! Container faults (kill, stop, restart, pause) go through the Docker API;
//! network faults live in [`net`] (tc/iptables in the container's namespace,
//! the userspace engine in [`nfqueue`]).

pub(crate) mod helper;
pub(crate) mod net;
pub(crate) mod netns;
pub(crate) mod nfqueue;
pub(crate) mod process;
pub(crate) mod script;
pub(crate) mod stress;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::docker::{ContainerInfo, DockerError, Engine, Operation};
use crate::gameday::model::{Fault, FaultKind, Reach, ScriptPlace};
use crate::gameday::units::ContainerState;

/// How long to wait for Docker's event confirming an operation.
const CONFIRM_WITHIN: Duration = Duration::from_secs(5);
/// Signals after which a container is expected to exit.
const TERMINATING: &[&str] = &["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGABRT"];
/// How long a killed container may take to exit.
const KILL_EXIT_WITHIN: Duration = Duration::from_secs(10);
/// How long a restored container may take to be running again.
const RUNNING_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("cannot {action} {container}: {source}")]
    Docker {
        action: &'static str,
        container: String,
        #[source]
        source: DockerError,
    },
    #[error("{container} is {state}, not running, after being started again")]
    NotRunning {
        container: String,
        state: ContainerState,
    },
    #[error("{0} no longer exists, so it cannot be restored")]
    Gone(String),
    #[error("cannot {action} on {container}: {message}")]
    Network {
        action: &'static str,
        container: String,
        message: String,
    },
    #[error("cannot signal the processes of {container}: {message}")]
    Process { container: String, message: String },
    #[error("cannot stress {container}: {message}")]
    Stress { container: String, message: String },
    #[error("script for {container}: {message}")]
    Script { container: String, message: String },
}

/// How to undo a fault, as data: journalled before the fault is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum RevertRecipe {
    /// Unpause the container if it is paused.
    Unpause {
        container_id: String,
        container_name: String,
    },
    /// Start the container if it is not running, and wait until it runs.
    Start {
        container_id: String,
        container_name: String,
    },
    /// Nothing to undo (`restore: false`): the container is left as the fault left it.
    Nothing {
        container_id: String,
        container_name: String,
    },
    /// Remove the iptables rules tagged `tag` and gameday's qdiscs from the
    /// container's network namespace.
    NetRules {
        container_id: String,
        container_name: String,
        tag: String,
        /// Set when the namespace is reached through a helper container
        /// (a remote engine): the helper image to use.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        helper_image: Option<String>,
    },
    /// SIGCONT to the container's processes matching `pattern` (the
    /// `process` fault's SIGSTOP), found again on this host.
    Continue {
        container_id: String,
        container_name: String,
        pattern: String,
        pid1: bool,
    },
    /// Kill the stress workers tagged `tag` on this host and remove the
    /// files they wrote in the container (`io_stress`, `disk_fill`).
    Stress {
        container_id: String,
        container_name: String,
        tag: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
        /// `memory_stress`: the container's processes' OOM scores before
        /// they were raised, put back.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        oom_scores: Vec<stress::OomScore>,
    },
    /// Run the `script` fault's revert command.
    Script {
        container_id: String,
        container_name: String,
        argv: Vec<String>,
        on_host: bool,
        timeout_ms: u64,
    },
    /// Connect the container to `network` again, with its aliases and address.
    Reconnect {
        container_id: String,
        container_name: String,
        network: String,
        aliases: Vec<String>,
        ipv4: Option<String>,
    },
}

impl RevertRecipe {
    pub fn container_name(&self) -> &str {
        match self {
            RevertRecipe::Unpause { container_name, .. }
            | RevertRecipe::Start { container_name, .. }
            | RevertRecipe::Nothing { container_name, .. }
            | RevertRecipe::NetRules { container_name, .. }
            | RevertRecipe::Continue { container_name, .. }
            | RevertRecipe::Stress { container_name, .. }
            | RevertRecipe::Script { container_name, .. }
            | RevertRecipe::Reconnect { container_name, .. } => container_name,
        }
    }

    pub fn container_id(&self) -> &str {
        match self {
            RevertRecipe::Unpause { container_id, .. }
            | RevertRecipe::Start { container_id, .. }
            | RevertRecipe::Nothing { container_id, .. }
            | RevertRecipe::NetRules { container_id, .. }
            | RevertRecipe::Continue { container_id, .. }
            | RevertRecipe::Stress { container_id, .. }
            | RevertRecipe::Script { container_id, .. }
            | RevertRecipe::Reconnect { container_id, .. } => container_id,
        }
    }

    /// The command a person would type to undo it by hand.
    pub fn by_hand(&self) -> String {
        match self {
            RevertRecipe::Unpause { container_id, .. } => format!("docker unpause {container_id}"),
            RevertRecipe::Start { container_id, .. } => format!("docker start {container_id}"),
            RevertRecipe::Nothing { .. } => "nothing to undo".to_string(),
            RevertRecipe::NetRules {
                container_id, tag, ..
            } => format!(
                "pid=$(docker inspect -f '{{{{.State.Pid}}}}' {container_id}); nsenter -t $pid -n iptables-save | grep {tag} \
                 (delete each with iptables -D); nsenter -t $pid -n tc qdisc del dev eth0 root"
            ),
            RevertRecipe::Continue {
                container_id,
                pattern,
                ..
            } => format!(
                "for pid in $(grep -l {container_id} /proc/[0-9]*/cgroup | cut -d/ -f3); do grep -qa -- '{pattern}' /proc/$pid/cmdline && kill -CONT $pid; done"
            ),
            RevertRecipe::Stress {
                container_id,
                tag,
                files,
                oom_scores,
                ..
            } => {
                let mut kill =
                    format!("pkill -KILL -f -- '^[^ ]*gameday stress .*--tag {tag}( |$)'");
                for s in oom_scores {
                    kill.push_str(&format!(
                        "; echo {} > /proc/{}/oom_score_adj",
                        s.value, s.pid
                    ));
                }
                if files.is_empty() {
                    kill
                } else {
                    format!(
                        "{kill}; nsenter -t $(docker inspect -f '{{{{.State.Pid}}}}' {container_id}) -m rm -f {}",
                        files.join(" ")
                    )
                }
            }
            RevertRecipe::Script {
                container_id,
                argv,
                on_host,
                ..
            } => {
                if *on_host {
                    format!("GAMEDAY_CONTAINER_ID={container_id} {}", argv.join(" "))
                } else {
                    format!("docker exec {container_id} {}", argv.join(" "))
                }
            }
            RevertRecipe::Reconnect {
                container_id,
                network,
                aliases,
                ipv4,
                ..
            } => {
                let mut cmd = "docker network connect".to_string();
                for a in aliases {
                    cmd.push_str(&format!(" --alias {a}"));
                }
                if let Some(ip) = ipv4 {
                    cmd.push_str(&format!(" --ip {ip}"));
                }
                format!("{cmd} {network} {container_id}")
            }
        }
    }

    /// Undo the fault if it is still in effect. Safe to run any number of
    /// times: a container that is already fine is left alone. Returns when
    /// the revert took effect (Docker's confirmation when there is one), if
    /// it had anything to do.
    pub async fn execute(&self, engine: &Engine) -> Result<Option<DateTime<Utc>>, FaultError> {
        self.execute_saying(engine).await.map(|(at, _)| at)
    }

    async fn run_script(
        &self,
        engine: &Engine,
    ) -> Result<(Option<DateTime<Utc>>, Option<String>), FaultError> {
        let RevertRecipe::Script {
            container_id,
            container_name,
            argv,
            on_host,
            timeout_ms,
        } = self
        else {
            return Ok((None, None));
        };
        let script_error = |message: String| FaultError::Script {
            container: container_name.clone(),
            message,
        };
        // A script inside a container that is gone or stopped cannot run.
        if !*on_host {
            match engine.state(container_id).await {
                Ok(ContainerState::Running) => {}
                Ok(ContainerState::Absent) => return Err(FaultError::Gone(container_name.clone())),
                Ok(state) => {
                    return Err(script_error(format!(
                        "the container is {state}, so the revert cannot run in it"
                    )));
                }
                Err(source) => {
                    return Err(FaultError::Docker {
                        action: "inspect",
                        container: container_name.clone(),
                        source,
                    });
                }
            }
        }
        let ended = script::run(
            engine,
            &script::Command {
                argv,
                on_host: *on_host,
                container_id,
                container_name,
                timeout: Duration::from_millis(*timeout_ms),
            },
        )
        .await
        .map_err(&script_error)?;
        if ended.exit_code != 0 {
            return Err(script_error(format!(
                "the revert failed: {}",
                ended.summary()
            )));
        }
        Ok((
            Some(Utc::now()),
            Some(format!("revert: {}", ended.summary())),
        ))
    }

    /// [`RevertRecipe::execute`], and what the revert did in words when
    /// there is more to say than that it happened (a script's exit code and
    /// output).
    pub(crate) async fn execute_saying(
        &self,
        engine: &Engine,
    ) -> Result<(Option<DateTime<Utc>>, Option<String>), FaultError> {
        if let RevertRecipe::Script { .. } = self {
            return self.run_script(engine).await;
        }
        self.execute_plain(engine).await.map(|at| (at, None))
    }

    async fn execute_plain(&self, engine: &Engine) -> Result<Option<DateTime<Utc>>, FaultError> {
        let name = self.container_name().to_string();
        let id = self.container_id();
        let docker = |action: &'static str| {
            let container = name.clone();
            move |source| FaultError::Docker {
                action,
                container,
                source,
            }
        };
        match self {
            RevertRecipe::Nothing { .. } | RevertRecipe::Script { .. } => Ok(None),
            RevertRecipe::Stress {
                tag,
                files,
                oom_scores,
                ..
            } => {
                let killed = stress::kill_tagged(tag).await;
                let restored = stress::set_oom_scores(oom_scores, None);
                let mut removed = 0;
                if !files.is_empty() {
                    let main_pid = match engine.pid(id).await {
                        Ok(pid) => pid,
                        Err(crate::docker::DockerError::NotFound(_)) => 0,
                        Err(e) => return Err(docker("inspect")(e)),
                    };
                    // A container that does not run has no worker left
                    // either; its files are said in `recover`'s settling.
                    if main_pid > 0 && netns::pid_is_container(main_pid, id) {
                        removed =
                            stress::remove(main_pid, id, tag, files)
                                .await
                                .map_err(|message| FaultError::Stress {
                                    container: name.clone(),
                                    message: format!(
                                        "cannot remove {}: {message}",
                                        files.join(", ")
                                    ),
                                })?;
                    }
                }
                Ok((killed + removed + restored > 0).then(Utc::now))
            }
            RevertRecipe::Unpause { .. } => {
                // Try first, ask only when refused: the inspect round trip
                // is paid only when there was nothing to undo (issue 7: the
                // revert lands closer to the bare API call). Engines differ
                // in how they refuse ("is not paused" is a 409 on newer
                // ones, a 500 on 20.10), so the state decides, not the code.
                match engine
                    .perform(id, &Operation::Unpause, CONFIRM_WITHIN)
                    .await
                {
                    Ok(confirmed) => Ok(Some(confirmed_or_now(confirmed))),
                    Err(refused) => match engine.state(id).await.map_err(docker("inspect"))? {
                        ContainerState::Paused => Err(docker("unpause")(refused)),
                        _ => Ok(None),
                    },
                }
            }
            RevertRecipe::Start { .. } => {
                let state = engine.state(id).await.map_err(docker("inspect"))?;
                let confirmed = match state {
                    ContainerState::Running => return Ok(None),
                    ContainerState::Absent => return Err(FaultError::Gone(name)),
                    ContainerState::Paused => engine
                        .perform(id, &Operation::Unpause, CONFIRM_WITHIN)
                        .await
                        .map_err(docker("unpause"))?,
                    // A restart in progress ends running on its own.
                    ContainerState::Restarting => None,
                    _ => engine
                        .perform(id, &Operation::Start, CONFIRM_WITHIN)
                        .await
                        .map_err(docker("start"))?,
                };
                let state = engine
                    .wait_for_state(id, ContainerState::Running, RUNNING_WITHIN)
                    .await
                    .map_err(docker("inspect"))?;
                if state != ContainerState::Running {
                    return Err(FaultError::NotRunning {
                        container: name,
                        state,
                    });
                }
                Ok(Some(confirmed_or_now(confirmed)))
            }
            RevertRecipe::NetRules {
                tag, helper_image, ..
            } => {
                // Packet engines a dead runner left in helper containers.
                let helpers = helper::remove_leftovers(engine, tag).await;
                let state = engine.state(id).await.map_err(docker("inspect"))?;
                // A stopped container's namespace, and its rules, are gone.
                if !matches!(state, ContainerState::Running | ContainerState::Paused) {
                    return Ok((helpers > 0).then(Utc::now));
                }
                let mut exec = net_exec(engine, id, helper_image.as_deref(), tag)
                    .await
                    .map_err(|message| FaultError::Network {
                        action: "remove the network fault",
                        container: name.clone(),
                        message,
                    })?;
                let tag = tag.clone();
                let network = |message: String| FaultError::Network {
                    action: "remove the network fault",
                    container: name.clone(),
                    message,
                };
                let removed = tokio::task::spawn_blocking(move || {
                    net::remove_tagged(exec.as_mut(), net::Tagged::Exactly(&tag))
                })
                .await
                .map_err(|e| network(e.to_string()))?
                .map_err(network)?;
                Ok((removed || helpers > 0).then(Utc::now))
            }
            RevertRecipe::Continue { pattern, pid1, .. } => {
                let main_pid = match engine.pid(id).await {
                    Ok(pid) => pid,
                    Err(crate::docker::DockerError::NotFound(_)) => return Ok(None),
                    Err(e) => return Err(docker("inspect")(e)),
                };
                process::continue_stopped(id, main_pid, pattern, *pid1).map_err(|message| {
                    FaultError::Process {
                        container: name.clone(),
                        message,
                    }
                })
            }
            RevertRecipe::Reconnect {
                network,
                aliases,
                ipv4,
                ..
            } => {
                if engine.state(id).await.map_err(docker("inspect"))? == ContainerState::Absent {
                    return Err(FaultError::Gone(name));
                }
                let endpoints = engine.endpoints(id).await.map_err(docker("inspect"))?;
                if endpoints.iter().any(|e| &e.network == network) {
                    return Ok(None);
                }
                let endpoint = crate::docker::Endpoint {
                    network: network.clone(),
                    aliases: aliases.clone(),
                    ipv4: ipv4.clone(),
                };
                engine
                    .connect_network(id, &endpoint)
                    .await
                    .map_err(docker("reconnect"))?;
                Ok(Some(Utc::now()))
            }
        }
    }
}

fn confirmed_or_now(confirmation: Option<crate::docker::Confirmation>) -> DateTime<Utc> {
    confirmation
        .map(|c| DateTime::from_timestamp_nanos(c.time_nano))
        .unwrap_or_else(Utc::now)
}

/// What applying a fault needs besides the fault and its container.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    /// Names rules and queues: `gameday:<run>:<fault>`.
    pub tag: String,
    /// The compose project, to find compose networks by their short name.
    pub project: String,
    /// The containers of the services named in `to:` / `from:`.
    pub peers: Vec<ContainerInfo>,
    /// Whether the kernel has sch_netem (see [`netns::kernel_has_netem`]).
    pub netem_available: bool,
    /// `Some(image)`: reach namespaces through helper containers from that
    /// image (remote engines); `None`: enter them from this host.
    pub helper_image: Option<String>,
    /// The longest a packet engine may run if nobody stops it.
    pub max_lifetime: Duration,
}

impl Default for ApplyContext {
    fn default() -> Self {
        ApplyContext {
            tag: String::new(),
            project: String::new(),
            peers: Vec::new(),
            netem_available: false,
            helper_image: None,
            max_lifetime: Duration::from_secs(3600),
        }
    }
}

/// How to run network commands in `container_id`'s namespace.
pub(crate) async fn net_exec(
    engine: &Engine,
    container_id: &str,
    helper_image: Option<&str>,
    tag: &str,
) -> Result<Box<dyn netns::NetExec>, String> {
    match helper_image {
        Some(image) => Ok(Box::new(helper::HelperExec {
            handle: tokio::runtime::Handle::current(),
            engine: engine.clone(),
            target: container_id.to_string(),
            image: image.to_string(),
            tag: tag.to_string(),
        })),
        None => {
            let pid = engine.pid(container_id).await.map_err(|e| e.to_string())?;
            if pid <= 0 {
                return Err("the container is not running".into());
            }
            // Never enter a namespace from here that is not the container's:
            // behind a forwarded socket (Docker Desktop, a tunnel) the PID
            // the engine gives is another machine's.
            if !netns::pid_is_container(pid, container_id) {
                return Err(format!(
                    "process {pid} on this host is not container {container_id}: the engine behind {} is not this host's, so its namespaces cannot be entered from here; set `docker: {{ network_helper: helper }}`",
                    engine.host()
                ));
            }
            Ok(Box::new(netns::HostExec { pid }))
        }
    }
}

/// The revert recipe of `fault` on `container`, worked out (read only)
/// before it is applied, so it can be journalled first.
pub async fn prepare(
    engine: &Engine,
    fault: &Fault,
    container: &ContainerInfo,
    context: &ApplyContext,
) -> Result<RevertRecipe, FaultError> {
    let container_id = container.id.clone();
    let container_name = container.name.clone();
    Ok(match fault {
        Fault::Pause(_) => RevertRecipe::Unpause {
            container_id,
            container_name,
        },
        Fault::Process(p) if p.signal == "SIGSTOP" => RevertRecipe::Continue {
            container_id,
            container_name,
            pattern: p.pattern.clone(),
            pid1: p.pid1,
        },
        Fault::Process(_) => RevertRecipe::Nothing {
            container_id,
            container_name,
        },
        Fault::Kill(k) if !k.restore => RevertRecipe::Nothing {
            container_id,
            container_name,
        },
        Fault::Stop(s) if !s.restore => RevertRecipe::Nothing {
            container_id,
            container_name,
        },
        // A swarm task killed or stopped is replaced by the swarm with a
        // new container; starting the old one again would run a copy
        // outside the swarm's control. `recovers_within` measures the swarm.
        Fault::Kill(_) | Fault::Stop(_) if container.swarm_service.is_some() => {
            RevertRecipe::Nothing {
                container_id,
                container_name,
            }
        }
        Fault::Kill(_) | Fault::Stop(_) | Fault::Restart(_) => RevertRecipe::Start {
            container_id,
            container_name,
        },
        Fault::CpuStress(_) | Fault::MemoryStress(_) | Fault::IoStress(_) | Fault::DiskFill(_) => {
            let mut oom_scores = Vec::new();
            if let Fault::MemoryStress(_) = fault
                && let Ok(pid) = local_pid(engine, container).await
            {
                oom_scores = stress::oom_scores(&container.id, pid);
            }
            RevertRecipe::Stress {
                container_id,
                container_name,
                tag: context.tag.clone(),
                files: stress::work_of(fault)
                    .map(|w| w.files(&context.tag))
                    .unwrap_or_default(),
                oom_scores,
            }
        }
        Fault::Script(s) => RevertRecipe::Script {
            container_id,
            container_name,
            argv: s.revert.clone(),
            on_host: s.place == ScriptPlace::Host,
            timeout_ms: s.timeout.as_std().as_millis() as u64,
        },
        Fault::Delay(_)
        | Fault::Loss(_)
        | Fault::Duplicate(_)
        | Fault::Corrupt(_)
        | Fault::Bandwidth(_)
        | Fault::Partition(_) => RevertRecipe::NetRules {
            container_id,
            container_name,
            tag: context.tag.clone(),
            helper_image: context.helper_image.clone(),
        },
        Fault::Disconnect(d) => {
            let endpoints =
                engine
                    .endpoints(&container.id)
                    .await
                    .map_err(|source| FaultError::Docker {
                        action: "inspect",
                        container: container.name.clone(),
                        source,
                    })?;
            let Some(endpoint) = net::find_endpoint(&endpoints, &d.network, &context.project)
            else {
                let names: Vec<&str> = endpoints.iter().map(|e| e.network.as_str()).collect();
                return Err(FaultError::Network {
                    action: "disconnect",
                    container: container.name.clone(),
                    message: format!(
                        "it is not attached to network `{}` (it is on: {})",
                        d.network,
                        names.join(", ")
                    ),
                });
            };
            RevertRecipe::Reconnect {
                container_id,
                container_name,
                network: endpoint.network.clone(),
                aliases: endpoint.aliases.clone(),
                ipv4: endpoint.ipv4.clone(),
            }
        }
    })
}

/// A fault in effect. Revert it with [`AppliedFault::revert`].
#[derive(Debug)]
#[must_use = "an applied fault must be reverted"]
pub struct AppliedFault {
    pub kind: FaultKind,
    pub container: ContainerInfo,
    pub recipe: RevertRecipe,
    pub requested_at: DateTime<Utc>,
    /// When Docker's event stream confirmed it, or when the rules were in
    /// place (None: no confirmation seen in time).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// How it was made (network faults): `tc netem`, `userspace NFQUEUE engine`, ...
    pub mechanism: Option<&'static str>,
    /// What applying it did, in words (a fill's size, a script's exit code).
    pub detail: Option<String>,
    /// The userspace packet engine serving this fault, if any.
    server: Option<nfqueue::PacketServer>,
    /// The stress worker holding this fault, if any.
    worker: Option<stress::Worker>,
}

/// A fault that was reverted.
#[derive(Debug, Clone)]
pub struct RevertedFault {
    pub kind: FaultKind,
    pub container: ContainerInfo,
    pub applied_requested_at: DateTime<Utc>,
    pub applied_confirmed_at: Option<DateTime<Utc>>,
    pub revert_requested_at: DateTime<Utc>,
    pub revert_confirmed_at: Option<DateTime<Utc>>,
    /// Packets the userspace engine handled, when it served the fault.
    pub packets: Option<nfqueue::Stats>,
    /// What reverting it did, in words (packets handled, a worker's last
    /// word, a script's exit code).
    pub detail: Option<String>,
}

/// The main process of a container on this host: what the faults that act
/// from here (signals, stress workers) need. An error says why not.
async fn local_pid(engine: &Engine, container: &ContainerInfo) -> Result<i64, String> {
    let pid = engine.pid(&container.id).await.map_err(|e| e.to_string())?;
    if pid <= 0 {
        return Err("it is not running".into());
    }
    if !netns::pid_is_container(pid, &container.id) {
        return Err(format!(
            "its processes are not on this host: the engine behind {} is not this host's, and this fault acts from the engine's host",
            engine.host()
        ));
    }
    Ok(pid)
}

/// Apply `fault` to one container, whose `recipe` is already journalled.
/// On error nothing was applied (a network fault half set up is removed).
pub async fn apply(
    engine: &Engine,
    fault: &Fault,
    container: &ContainerInfo,
    context: &ApplyContext,
    recipe: RevertRecipe,
) -> Result<AppliedFault, FaultError> {
    let requested_at = Utc::now();
    let docker = |action: &'static str| {
        let container = container.name.clone();
        move |source| FaultError::Docker {
            action,
            container,
            source,
        }
    };
    let network_error = |message: String| FaultError::Network {
        action: "apply the network fault",
        container: container.name.clone(),
        message,
    };
    let operation = match fault {
        Fault::Pause(_) => Some(Operation::Pause),
        Fault::Kill(k) => Some(Operation::Kill {
            signal: k.signal.clone(),
        }),
        Fault::Stop(s) => Some(Operation::Stop {
            timeout: s.timeout.as_std(),
        }),
        Fault::Restart(r) => Some(Operation::Restart {
            timeout: r.timeout.as_std(),
        }),
        Fault::Delay(_)
        | Fault::Loss(_)
        | Fault::Duplicate(_)
        | Fault::Corrupt(_)
        | Fault::Bandwidth(_)
        | Fault::Partition(_)
        | Fault::Disconnect(_)
        | Fault::Process(_)
        | Fault::CpuStress(_)
        | Fault::MemoryStress(_)
        | Fault::IoStress(_)
        | Fault::DiskFill(_)
        | Fault::Script(_) => None,
    };
    let local = |message: String| match fault {
        Fault::Process(_) => FaultError::Process {
            container: container.name.clone(),
            message,
        },
        _ => FaultError::Stress {
            container: container.name.clone(),
            message,
        },
    };
    if let Fault::Process(p) = fault {
        let main_pid = local_pid(engine, container).await.map_err(local)?;
        process::apply(&container.id, main_pid, p).map_err(local)?;
        return Ok(AppliedFault::new(fault, container, recipe, requested_at)
            .in_place("signals from this host", None));
    }
    if let Some(mut work) = stress::work_of(fault) {
        let main_pid = local_pid(engine, container).await.map_err(local)?;
        if let (stress::Work::Memory { raise, .. }, RevertRecipe::Stress { oom_scores, .. }) =
            (&mut work, &recipe)
        {
            raise.clone_from(oom_scores);
        }
        let (worker, detail) = stress::start(
            main_pid,
            &container.id,
            &context.tag,
            &work,
            context.max_lifetime,
        )
        .await
        .map_err(local)?;
        let mut applied = AppliedFault::new(fault, container, recipe, requested_at)
            .in_place("a gameday worker in the container's cgroups", Some(detail));
        applied.worker = Some(worker);
        return Ok(applied);
    }
    if let Fault::Script(s) = fault {
        let script_error = |message: String| FaultError::Script {
            container: container.name.clone(),
            message,
        };
        let on_host = s.place == ScriptPlace::Host;
        let ended = script::run(
            engine,
            &script::Command {
                argv: &s.apply,
                on_host,
                container_id: &container.id,
                container_name: &container.name,
                timeout: s.timeout.as_std(),
            },
        )
        .await
        .map_err(script_error)?;
        if ended.exit_code != 0 {
            return Err(script_error(format!(
                "the apply failed: {}",
                ended.summary()
            )));
        }
        let place = if on_host {
            "a command on this host"
        } else {
            "a command in the container"
        };
        return Ok(AppliedFault::new(fault, container, recipe, requested_at)
            .in_place(place, Some(format!("apply: {}", ended.summary()))));
    }
    if let Some(op) = operation {
        let confirmation = engine
            .perform(&container.id, &op, CONFIRM_WITHIN + fault_grace(fault))
            .await
            .map_err(docker(fault.kind().key()))?;
        // Docker confirms a kill when the signal is sent. A terminating
        // signal is in effect once the container is down: wait for that
        // (bounded), so the hold starts then and a quick revert cannot find
        // it "still running", skip the restart, and leave it down.
        if let Fault::Kill(k) = fault
            && TERMINATING.contains(&k.signal.as_str())
        {
            let _ = engine
                .wait_for_state(&container.id, ContainerState::Exited, KILL_EXIT_WITHIN)
                .await;
        }
        let mut applied = AppliedFault::new(fault, container, recipe, requested_at);
        applied.confirmed_at = confirmation.map(|c| DateTime::from_timestamp_nanos(c.time_nano));
        return Ok(applied);
    }
    let mechanism = net::mechanism(fault, context.netem_available).map_err(network_error)?;
    if let Fault::Disconnect(_) = fault {
        engine
            .disconnect(&container.id, network_of(&recipe))
            .await
            .map_err(docker("disconnect"))?;
        return Ok(AppliedFault::new(fault, container, recipe, requested_at)
            .in_place(mechanism.describe(), None));
    }
    let peers = net::peer_addresses(engine, &context.peers)
        .await
        .map_err(network_error)?;
    let mut exec = net_exec(
        engine,
        &container.id,
        context.helper_image.as_deref(),
        &context.tag,
    )
    .await
    .map_err(network_error)?;
    let tag = context.tag.clone();
    let owned_fault = fault.clone();
    let max_lifetime = context.max_lifetime;
    let applied = tokio::task::spawn_blocking(move || {
        net::apply_in_netns(
            exec.as_mut(),
            &owned_fault,
            mechanism,
            &tag,
            &peers,
            max_lifetime,
        )
    })
    .await
    .map_err(|e| network_error(e.to_string()))?;
    let server = match applied {
        Ok(server) => server,
        Err(e) => {
            // A helper packet engine may have started before the failure.
            helper::remove_leftovers(engine, &context.tag).await;
            return Err(network_error(e));
        }
    };
    let mut applied = AppliedFault::new(fault, container, recipe, requested_at)
        .in_place(mechanism.describe(), None);
    applied.server = server;
    Ok(applied)
}

fn network_of(recipe: &RevertRecipe) -> &str {
    match recipe {
        RevertRecipe::Reconnect { network, .. } => network,
        RevertRecipe::Unpause { .. }
        | RevertRecipe::Start { .. }
        | RevertRecipe::Nothing { .. }
        | RevertRecipe::NetRules { .. }
        | RevertRecipe::Continue { .. }
        | RevertRecipe::Stress { .. }
        | RevertRecipe::Script { .. } => "",
    }
}

/// How long an apply may take to land once requested (a stop's grace, and
/// a margin): what `recover` gives an apply it never saw confirmed before
/// reverting it.
pub(crate) fn settle_within(fault: &Fault) -> Duration {
    match fault.reach() {
        Reach::DockerApi => fault_grace(fault) + Duration::from_secs(10),
        Reach::Namespace | Reach::DockerNetwork | Reach::Host => {
            fault_grace(fault) + Duration::from_secs(2)
        }
    }
}

fn fault_grace(fault: &Fault) -> Duration {
    match fault {
        Fault::Stop(s) => s.timeout.as_std(),
        Fault::Restart(r) => r.timeout.as_std(),
        Fault::Script(s) => s.timeout.as_std(),
        Fault::Kill(_)
        | Fault::Pause(_)
        | Fault::Delay(_)
        | Fault::Loss(_)
        | Fault::Duplicate(_)
        | Fault::Corrupt(_)
        | Fault::Bandwidth(_)
        | Fault::Partition(_)
        | Fault::Disconnect(_)
        | Fault::Process(_)
        | Fault::CpuStress(_)
        | Fault::MemoryStress(_)
        | Fault::IoStress(_)
        | Fault::DiskFill(_) => Duration::ZERO,
    }
}

impl AppliedFault {
    fn new(
        fault: &Fault,
        container: &ContainerInfo,
        recipe: RevertRecipe,
        requested_at: DateTime<Utc>,
    ) -> AppliedFault {
        AppliedFault {
            kind: fault.kind(),
            container: container.clone(),
            recipe,
            requested_at,
            confirmed_at: None,
            mechanism: None,
            detail: None,
            server: None,
            worker: None,
        }
    }

    /// In place now, made by `mechanism`.
    fn in_place(mut self, mechanism: &'static str, detail: Option<String>) -> AppliedFault {
        self.confirmed_at = Some(Utc::now());
        self.mechanism = Some(mechanism);
        self.detail = detail;
        self
    }

    /// Undo the fault. On failure the fault is handed back with the error,
    /// so the caller can report exactly what is left.
    pub async fn revert(
        mut self,
        engine: &Engine,
    ) -> Result<RevertedFault, (AppliedFault, FaultError)> {
        let revert_requested_at = Utc::now();
        // A stress worker stops first and cleans up after itself; the
        // recipe then finds nothing left, or finishes the job.
        let worker_said = match self.worker.take() {
            Some(worker) => Some(worker.stop().await.unwrap_or_else(|| "killed".into())),
            None => None,
        };
        let worker_stopped = worker_said.as_ref().map(|_| Utc::now());
        // Rules first, so no new packet enters the queue; then the queue
        // releases what it holds.
        match self.recipe.execute_saying(engine).await {
            Ok((confirmed, said)) => {
                let packets = match self.server.take() {
                    Some(server) => server.stop().await,
                    None => None,
                };
                let detail = [
                    packets.map(|p| {
                        format!(
                            "{} packets queued: {} delayed, {} dropped, {} duplicated, {} corrupted",
                            p.packets, p.delayed, p.dropped, p.duplicated, p.corrupted
                        )
                    }),
                    worker_said.map(|w| format!("stopped: {w}")),
                    said,
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
                Ok(RevertedFault {
                    kind: self.kind,
                    container: self.container,
                    applied_requested_at: self.requested_at,
                    applied_confirmed_at: self.confirmed_at,
                    revert_requested_at,
                    revert_confirmed_at: confirmed
                        .or(worker_stopped)
                        .or(packets.map(|_| Utc::now())),
                    packets,
                    detail: (!detail.is_empty()).then(|| detail.join("; ")),
                })
            }
            Err(e) => Err((self, e)),
        }
    }
}
