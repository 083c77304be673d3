//! Faults: apply one to a container and get an [`AppliedFault`] whose
//! `revert` consumes it, so a fault cannot be reverted twice or forgotten
//! silently. Every fault carries a [`RevertRecipe`]: plain data, written to
//! the journal before the fault is applied, which `recover` can execute
//! later from another process. Executing a recipe is idempotent.
//!
//! [`prepare`] and [`apply`] dispatch on the fault's family
//! ([`Fault::family`]), one call each, to the family's own module:
//! [`container`] (kill, stop, restart, pause: the Docker API),
//! [`net`] (tc/iptables in the container's namespace, the userspace
//! engine in [`nfqueue`]), [`disconnect`], [`process`], [`stress`],
//! [`script`] and [`app`] (the HTTP and DNS proxies); each also holds its
//! recipes' reverts, which [`RevertRecipe::execute`] calls.

mod app;
pub(crate) mod conntrack;
mod container;
pub(crate) mod deploy;
mod disconnect;
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
mod rules;
pub(crate) mod script;
pub(crate) mod stress;

pub use recipe::RevertRecipe;
pub(crate) use recipe::undone_from_this_host;
pub(crate) use revert::{revert, settle_apply};

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::docker::{ContainerInfo, DockerError, Engine};
use crate::gameday::model::{Fault, FaultFamily, FaultKind, NetFault, Reach};
use crate::gameday::units::ContainerState;

/// How long to wait for Docker's event confirming an operation.
const CONFIRM_WITHIN: Duration = Duration::from_secs(5);

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
    #[error("deploy of {container}: {message}")]
    Deploy { container: String, message: String },
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
    /// `deploy` with `wait: { probe: NAME }`: that probe.
    pub ready_probe: Option<crate::gameday::model::Probe>,
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
            ready_probe: None,
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
    match fault.family() {
        FaultFamily::Container(c) => Ok(container::recipe(c, container)),
        FaultFamily::Net(NetFault::Disconnect(d)) => {
            disconnect::recipe(engine, d, container, context).await
        }
        FaultFamily::Net(_) | FaultFamily::App(_) => {
            Ok(net::recipe(engine, fault, container, context).await)
        }
        FaultFamily::Process(p) => Ok(process::recipe(p, container)),
        FaultFamily::Stress(s) => Ok(stress::recipe(engine, s, container, context).await),
        FaultFamily::Script(s) => Ok(script::recipe(s, container, context)),
        FaultFamily::Deploy(d) => deploy::recipe(engine, d, container, &context.tag).await,
    }
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
    /// `deploy`: the replica's replacement, and what it waits for.
    pub(crate) deployed: Option<deploy::Deployed>,
}

/// Where a worker of a fault runs: this host (the target's main process
/// is `pid` here), or a helper container from `image` on the engine.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via<'a> {
    ThisHost {
        pid: i64,
    },
    Helper {
        engine: &'a crate::docker::Engine,
        image: &'a str,
    },
}

impl<'a> Via<'a> {
    /// Where a worker on container `container_id` runs, and its target
    /// there: the container's main process on this host, or PID 1 in a
    /// helper placed in the container's PID namespace.
    pub(crate) fn place(
        self,
        container_id: &'a str,
        tag: &str,
        max_lifetime: Duration,
    ) -> (crate::worker::Placement<'a>, crate::worker::Target) {
        let target = |pid, placed| crate::worker::Target {
            pid,
            container: container_id.to_string(),
            tag: tag.to_string(),
            max_seconds: max_lifetime.as_secs().max(1),
            placed,
        };
        match self {
            Via::ThisHost { pid } => (crate::worker::Placement::this_host(), target(pid, false)),
            Via::Helper { engine, image } => (
                crate::worker::Placement::Helper {
                    engine,
                    image,
                    target: container_id,
                    labels: crate::worker::helper_labels(tag),
                },
                target(1, true),
            ),
        }
    }
}

/// A worker making a fault, held by the run until the revert stops it.
#[derive(Debug)]
enum Running {
    Stress(stress::Worker),
    Http(app::Proxy),
    Dns(app::Proxy),
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
            "its processes are not visible here (the engine behind {} is not this host's, or gameday runs in a container), and this fault acts from the engine's host",
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
    let applying = Applying {
        engine,
        fault,
        container,
        context,
        recipe,
        requested_at: Utc::now(),
    };
    match fault.family() {
        FaultFamily::Container(c) => container::apply(c, applying).await,
        FaultFamily::Net(NetFault::Disconnect(_)) => disconnect::apply(applying).await,
        FaultFamily::Net(_) => net::apply(applying).await,
        FaultFamily::Process(p) => process::apply(p, applying).await,
        FaultFamily::Stress(s) => stress::apply(s, applying).await,
        FaultFamily::Script(s) => script::apply(s, applying).await,
        FaultFamily::App(a) => app::apply(a, applying).await,
        FaultFamily::Deploy(d) => {
            let wait_now = d.strategy == crate::gameday::model::DeployStrategy::Rolling;
            deploy::apply(d, applying, wait_now).await
        }
    }
}

/// One apply under way: the fault, its container, what the run knows,
/// and its recipe (already journalled), which the [`AppliedFault`] keeps.
pub(crate) struct Applying<'a> {
    engine: &'a Engine,
    fault: &'a Fault,
    container: &'a ContainerInfo,
    context: &'a ApplyContext,
    recipe: RevertRecipe,
    requested_at: DateTime<Utc>,
}

impl<'a> Applying<'a> {
    /// Applied; `confirmed_at` is Docker's confirmation, if it came in time.
    fn confirmed(self, confirmed_at: Option<DateTime<Utc>>) -> AppliedFault {
        let mut applied = self.applied();
        applied.confirmed_at = confirmed_at;
        applied
    }

    /// In place now, made by `mechanism`; `detail` says what it did.
    fn in_place(self, mechanism: &'static str, detail: Option<String>) -> AppliedFault {
        let mut applied = self.applied();
        applied.confirmed_at = Some(Utc::now());
        applied.mechanism = Some(mechanism);
        applied.detail = detail;
        applied
    }

    fn applied(self) -> AppliedFault {
        AppliedFault {
            kind: self.fault.kind(),
            container: self.container.clone(),
            recipe: self.recipe,
            requested_at: self.requested_at,
            confirmed_at: None,
            mechanism: None,
            detail: None,
            server: None,
            running: None,
            deployed: None,
        }
    }

    /// A Docker call on the container that failed.
    fn docker(&self, action: &'static str) -> impl FnOnce(DockerError) -> FaultError + use<> {
        let container = self.container.name.clone();
        move |source| FaultError::Docker {
            action,
            container,
            source,
        }
    }

    /// A network fault that could not be applied.
    fn network(&self, message: String) -> FaultError {
        FaultError::Network {
            action: "apply the network fault",
            container: self.container.name.clone(),
            message,
        }
    }

    /// Where a worker of this fault runs: in a helper container when the
    /// engine's namespaces are reached through one, else on this host
    /// (which must be the engine's: `error` says why not).
    async fn via(&self, error: impl FnOnce(String) -> FaultError) -> Result<Via<'a>, FaultError> {
        Ok(match self.context.helper_image.as_deref() {
            Some(image) => Via::Helper {
                engine: self.engine,
                image,
            },
            None => Via::ThisHost {
                pid: local_pid(self.engine, self.container)
                    .await
                    .map_err(error)?,
            },
        })
    }
}

/// How long an apply may take to land once requested (a stop's grace, and
/// a margin): what `recover` gives an apply it never saw confirmed before
/// reverting it.
pub(crate) fn settle_within(fault: &Fault, recipe: &RevertRecipe) -> Duration {
    // A deploy's stop is its replica's own grace.
    if let RevertRecipe::Rollback { stop_grace_ms, .. } = recipe {
        return Duration::from_millis(*stop_grace_ms) + Duration::from_secs(10);
    }
    match fault.reach() {
        Reach::DockerApi => fault_grace(fault) + Duration::from_secs(10),
        Reach::Namespace | Reach::DockerNetwork | Reach::Host => {
            fault_grace(fault) + Duration::from_secs(2)
        }
    }
}

fn fault_grace(fault: &Fault) -> Duration {
    match fault.family() {
        FaultFamily::Container(c) => container::grace(c),
        FaultFamily::Script(s) => s.timeout.as_std(),
        // Its recipe has the replica's own stop grace (`settle_within`).
        FaultFamily::Deploy(_) => Duration::from_secs(10),
        FaultFamily::Net(_)
        | FaultFamily::Process(_)
        | FaultFamily::Stress(_)
        | FaultFamily::App(_) => Duration::ZERO,
    }
}

impl AppliedFault {
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
