//! Faults: apply one to a container and get an [`AppliedFault`] whose
//! `revert` consumes it, so a fault cannot be reverted twice or forgotten
//! silently. Every fault carries a [`RevertRecipe`]: plain data, written to
//! the journal before the fault is applied, which `recover` can execute
//! later from another process. Executing a recipe is idempotent.
//!
//! Container faults (kill, stop, restart, pause) go through the Docker API;
//! network faults live in [`net`] (tc/iptables in the container's namespace,
//! the userspace engine in [`nfqueue`]).

pub(crate) mod child;
pub(crate) mod conntrack;
pub(crate) mod dns;
pub(crate) mod helper;
pub(crate) mod http;
pub(crate) mod net;
pub(crate) mod netns;
pub(crate) mod nfqueue;
pub(crate) mod nsworker;
pub(crate) mod process;
pub(crate) mod qdisc;
mod recipe;
mod revert;
pub(crate) mod script;
pub(crate) mod stress;
pub(crate) mod tagged;

pub use recipe::RevertRecipe;
pub(crate) use recipe::undone_from_this_host;
pub(crate) use revert::{revert, settle_apply};

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
    /// `io_stress`, `disk_fill`: the filesystem the plan found for the
    /// path in this container, which the worker checks and keeps to
    /// (without it the worker writes nothing).
    pub filesystem: Option<stress::Room>,
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
            filesystem: None,
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
            if let Fault::MemoryStress(_) = fault {
                // Read only; when it cannot be read, the apply says why.
                oom_scores = match context.helper_image.as_deref() {
                    Some(image) => {
                        stress::oom_scores_via_helper(engine, image, &container.id, &context.tag)
                            .await
                            .unwrap_or_default()
                    }
                    None => match local_pid(engine, container).await {
                        Ok(pid) => stress::oom_scores(&container.id, pid),
                        Err(_) => Vec::new(),
                    },
                };
            }
            RevertRecipe::Stress {
                container_id,
                container_name,
                tag: context.tag.clone(),
                files: stress::work_of(fault)
                    .map(|w| w.files(&context.tag))
                    .unwrap_or_default(),
                oom_scores,
                helper_image: context.helper_image.clone(),
            }
        }
        Fault::Script(s) => RevertRecipe::Script {
            container_id,
            container_name,
            argv: s.revert.clone(),
            on_host: s.place == ScriptPlace::Host,
            timeout_ms: s.timeout.as_std().as_millis() as u64,
            tag: context.tag.clone(),
            helper_image: match s.place {
                ScriptPlace::Host => None,
                ScriptPlace::Container => context.helper_image.clone(),
            },
        },
        Fault::Delay(_)
        | Fault::Loss(_)
        | Fault::Duplicate(_)
        | Fault::Corrupt(_)
        | Fault::Bandwidth(_)
        | Fault::Partition(_)
        | Fault::HttpFault(_)
        | Fault::Dns(_) => RevertRecipe::NetRules {
            container_id,
            container_name,
            tag: context.tag.clone(),
            helper_image: context.helper_image.clone(),
            qdisc: qdisc::own(engine, fault, container, context).await,
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
    /// The worker making this fault, if any.
    running: Option<Running>,
}

/// A worker making a fault, held by the run until the revert stops it.
#[derive(Debug)]
enum Running {
    Stress(stress::Worker),
    Http(child::Proxy),
    Dns(child::Proxy),
}

impl Running {
    /// Stop it; its last word, or "killed".
    async fn stop(self) -> String {
        match self {
            Running::Stress(w) => w.stop().await,
            Running::Http(p) => p.stop().await,
            Running::Dns(p) => p.stop().await,
        }
        .unwrap_or_else(|| "killed".into())
    }
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
        | Fault::Script(_)
        | Fault::HttpFault(_)
        | Fault::Dns(_) => None,
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
        let via = match context.helper_image.as_deref() {
            Some(image) => child::Via::Helper { engine, image },
            None => child::Via::ThisHost {
                pid: local_pid(engine, container).await.map_err(local)?,
            },
        };
        if let (stress::Work::Memory { raise, .. }, RevertRecipe::Stress { oom_scores, .. }) =
            (&mut work, &recipe)
        {
            raise.clone_from(oom_scores);
        }
        work.set_room(context.filesystem.clone());
        let (worker, detail) = stress::start(
            via,
            &container.id,
            &context.tag,
            &work,
            context.max_lifetime,
        )
        .await
        .map_err(local)?;
        let mut applied = AppliedFault::new(fault, container, recipe, requested_at).in_place(
            match via {
                child::Via::ThisHost { .. } => "a gameday worker in the container's cgroups",
                child::Via::Helper { .. } => {
                    "a gameday worker in a helper container inside the container's cgroup"
                }
            },
            Some(detail),
        );
        applied.running = Some(Running::Stress(worker));
        return Ok(applied);
    }
    if let Fault::HttpFault(_) | Fault::Dns(_) = fault {
        let via = match context.helper_image.as_deref() {
            Some(image) => child::Via::Helper { engine, image },
            None => child::Via::ThisHost {
                pid: local_pid(engine, container).await.map_err(network_error)?,
            },
        };
        let (running, detail) = match fault {
            Fault::Dns(d) => {
                let (proxy, detail) = child::start_proxy(
                    via,
                    "dns-proxy",
                    "the DNS proxy",
                    &container.id,
                    &context.tag,
                    &dns::Plan::of(d),
                    context.max_lifetime,
                )
                .await
                .map_err(network_error)?;
                (Running::Dns(proxy), detail)
            }
            Fault::HttpFault(h) => {
                let peers = net::peer_addresses(engine, &context.peers)
                    .await
                    .map_err(network_error)?;
                let (proxy, detail) = child::start_proxy(
                    via,
                    "http-proxy",
                    "the HTTP proxy",
                    &container.id,
                    &context.tag,
                    &http::Plan::of(h, peers),
                    context.max_lifetime,
                )
                .await
                .map_err(network_error)?;
                (Running::Http(proxy), detail)
            }
            _ => unreachable!("only the proxy faults come here"),
        };
        let place = match (&running, via) {
            (Running::Dns(_), child::Via::ThisHost { .. }) => {
                "a DNS proxy in the container's network namespace"
            }
            (Running::Dns(_), child::Via::Helper { .. }) => {
                "a DNS proxy in a helper container sharing the container's network namespace"
            }
            (_, child::Via::ThisHost { .. }) => {
                "a transparent HTTP proxy in the container's network namespace"
            }
            (_, child::Via::Helper { .. }) => {
                "a transparent HTTP proxy in a helper container sharing the container's network namespace"
            }
        };
        let mut applied =
            AppliedFault::new(fault, container, recipe, requested_at).in_place(place, Some(detail));
        applied.running = Some(running);
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
                tag: &context.tag,
                role: "apply",
                helper_image: match s.place {
                    ScriptPlace::Host => None,
                    ScriptPlace::Container => context.helper_image.as_deref(),
                },
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
    let qdisc = match &recipe {
        RevertRecipe::NetRules { qdisc, .. } => *qdisc,
        RevertRecipe::Unpause { .. }
        | RevertRecipe::Start { .. }
        | RevertRecipe::Nothing { .. }
        | RevertRecipe::Continue { .. }
        | RevertRecipe::Stress { .. }
        | RevertRecipe::Script { .. }
        | RevertRecipe::Reconnect { .. } => qdisc::OwnQdisc::None,
    };
    let applied = tokio::task::spawn_blocking(move || {
        net::apply_in_netns(
            exec.as_mut(),
            &owned_fault,
            &net::InNetns {
                mechanism,
                tag: &tag,
                qdisc,
                peers: &peers,
                max_lifetime,
            },
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
        | Fault::DiskFill(_)
        | Fault::HttpFault(_)
        | Fault::Dns(_) => Duration::ZERO,
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
            running: None,
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
        let worker_said = match self.running.take() {
            Some(running) => Some(running.stop().await),
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
