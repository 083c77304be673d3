//! Fault kinds as the gameday file writes them: [`Fault`], its
//! [`FaultKind`] keys, each kind's fields, and [`Fault::family`], which
//! groups them by how they are made (`families`, where what each does is
//! said in words).

use schemars::JsonSchema;
use serde::Serialize;

use super::Target;
use super::app_faults::{DnsFault, HttpFault};
use super::deploy::DeployFault;
use super::families::{AppFault, ContainerFault, FaultFamily, NetFault, StressFault};
use super::keyed_kinds;
use crate::gameday::units::{ByteSize, HumanDuration, Percent, Rate};
use crate::gameday::yaml::Pos;

/// A fault kind and its target.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Send a signal (SIGKILL by default); start the container again on revert.
    Kill(KillFault),
    /// Stop the container; start it again on revert.
    Stop(StopFault),
    /// Restart the container; make sure it runs on revert.
    Restart(RestartFault),
    /// Freeze every process (cgroup freezer); unpause on revert.
    Pause(PauseFault),
    /// Delay outgoing packets (latency, jitter, correlation), optionally only toward `to`.
    Delay(DelayFault),
    /// Drop a share of outgoing packets, optionally only toward `to`.
    Loss(LossFault),
    /// Send a share of outgoing packets twice.
    Duplicate(PacketShareFault),
    /// Corrupt a share of outgoing packets.
    Corrupt(PacketShareFault),
    /// Cap the outgoing bandwidth (tbf).
    Bandwidth(BandwidthFault),
    /// Drop all traffic between the target and the named services, both ways.
    Partition(PartitionFault),
    /// Disconnect the container from a Docker network; reconnect with the same aliases and address.
    Disconnect(DisconnectFault),
    /// Send a signal to the container's processes whose command line
    /// contains `match` (not its main process unless `pid1: true`);
    /// SIGSTOP is reverted with SIGCONT.
    Process(ProcessFault),
    /// Busy workers charged to the container's own cgroup (its CPU quota
    /// throttles them); they stop on revert.
    CpuStress(CpuStressFault),
    /// Memory allocated, touched and held in the container's own cgroup
    /// (past its limit, its OOM killer acts); released on revert.
    MemoryStress(MemoryStressFault),
    /// Writes with an fsync after each block, to files in the container's
    /// filesystem; stopped and the files removed on revert.
    IoStress(IoStressFault),
    /// A file in the container's filesystem, up to a size or a share of
    /// the filesystem; removed on revert.
    DiskFill(DiskFillFault),
    /// Your own commands: `revert` is journalled before `apply` runs, in
    /// the container or on this host; both have a timeout.
    Script(ScriptFault),
    /// Answers to the HTTP requests arriving at a port of the container:
    /// a status, an aborted connection or a delay, for the requests that
    /// match, through a transparent proxy in its network namespace.
    HttpFault(HttpFault),
    /// Lookups the container makes (UDP port 53) answered with an error,
    /// dropped or delayed, for the names listed; the others pass.
    Dns(DnsFault),
    /// Roll the service's replicas to another image (or recreate them),
    /// one at a time or all at once; roll them back on revert.
    Deploy(DeployFault),
}

keyed_kinds! {
    /// The kinds of fault, by their key in the file (`pause: { ... }`).
    pub enum FaultKind {
        Kill = "kill",
        Stop = "stop",
        Restart = "restart",
        Pause = "pause",
        Delay = "delay",
        Loss = "loss",
        Duplicate = "duplicate",
        Corrupt = "corrupt",
        Bandwidth = "bandwidth",
        Partition = "partition",
        Disconnect = "disconnect",
        Process = "process",
        CpuStress = "cpu_stress",
        MemoryStress = "memory_stress",
        IoStress = "io_stress",
        DiskFill = "disk_fill",
        Script = "script",
        HttpFault = "http_fault",
        Dns = "dns",
        Deploy = "deploy",
    }
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Kill(_) => FaultKind::Kill,
            Fault::Stop(_) => FaultKind::Stop,
            Fault::Restart(_) => FaultKind::Restart,
            Fault::Pause(_) => FaultKind::Pause,
            Fault::Delay(_) => FaultKind::Delay,
            Fault::Loss(_) => FaultKind::Loss,
            Fault::Duplicate(_) => FaultKind::Duplicate,
            Fault::Corrupt(_) => FaultKind::Corrupt,
            Fault::Bandwidth(_) => FaultKind::Bandwidth,
            Fault::Partition(_) => FaultKind::Partition,
            Fault::Disconnect(_) => FaultKind::Disconnect,
            Fault::Process(_) => FaultKind::Process,
            Fault::CpuStress(_) => FaultKind::CpuStress,
            Fault::MemoryStress(_) => FaultKind::MemoryStress,
            Fault::IoStress(_) => FaultKind::IoStress,
            Fault::DiskFill(_) => FaultKind::DiskFill,
            Fault::Script(_) => FaultKind::Script,
            Fault::HttpFault(_) => FaultKind::HttpFault,
            Fault::Dns(_) => FaultKind::Dns,
            Fault::Deploy(_) => FaultKind::Deploy,
        }
    }

    pub fn target(&self) -> &Target {
        match self {
            Fault::Kill(f) => &f.target,
            Fault::Stop(f) => &f.target,
            Fault::Restart(f) => &f.target,
            Fault::Pause(f) => &f.target,
            Fault::Delay(f) => &f.target,
            Fault::Loss(f) => &f.target,
            Fault::Duplicate(f) | Fault::Corrupt(f) => &f.target,
            Fault::Bandwidth(f) => &f.target,
            Fault::Partition(f) => &f.target,
            Fault::Disconnect(f) => &f.target,
            Fault::Process(f) => &f.target,
            Fault::CpuStress(f) => &f.target,
            Fault::MemoryStress(f) => &f.target,
            Fault::IoStress(f) => &f.target,
            Fault::DiskFill(f) => &f.target,
            Fault::Script(f) => &f.target,
            Fault::HttpFault(f) => &f.target,
            Fault::Dns(f) => &f.target,
            Fault::Deploy(f) => &f.target,
        }
    }

    /// The fault by how it is made: what everything that makes, checks
    /// or describes a fault dispatches on.
    pub fn family(&self) -> FaultFamily<'_> {
        match self {
            Fault::Kill(f) => FaultFamily::Container(ContainerFault::Kill(f)),
            Fault::Stop(f) => FaultFamily::Container(ContainerFault::Stop(f)),
            Fault::Restart(f) => FaultFamily::Container(ContainerFault::Restart(f)),
            Fault::Pause(f) => FaultFamily::Container(ContainerFault::Pause(f)),
            Fault::Delay(f) => FaultFamily::Net(NetFault::Delay(f)),
            Fault::Loss(f) => FaultFamily::Net(NetFault::Loss(f)),
            Fault::Duplicate(f) => FaultFamily::Net(NetFault::Duplicate(f)),
            Fault::Corrupt(f) => FaultFamily::Net(NetFault::Corrupt(f)),
            Fault::Bandwidth(f) => FaultFamily::Net(NetFault::Bandwidth(f)),
            Fault::Partition(f) => FaultFamily::Net(NetFault::Partition(f)),
            Fault::Disconnect(f) => FaultFamily::Net(NetFault::Disconnect(f)),
            Fault::Process(f) => FaultFamily::Process(f),
            Fault::CpuStress(f) => FaultFamily::Stress(StressFault::Cpu(f)),
            Fault::MemoryStress(f) => FaultFamily::Stress(StressFault::Memory(f)),
            Fault::IoStress(f) => FaultFamily::Stress(StressFault::Io(f)),
            Fault::DiskFill(f) => FaultFamily::Stress(StressFault::DiskFill(f)),
            Fault::Script(f) => FaultFamily::Script(f),
            Fault::HttpFault(f) => FaultFamily::App(AppFault::Http(f)),
            Fault::Dns(f) => FaultFamily::App(AppFault::Dns(f)),
            Fault::Deploy(f) => FaultFamily::Deploy(f),
        }
    }

    /// Services the fault names besides its target (`to:`, `from:`), which
    /// must resolve in scope too.
    pub fn peers(&self) -> &[Peer] {
        match self.family() {
            FaultFamily::Net(n) => n.peers(),
            FaultFamily::App(a) => a.peers(),
            FaultFamily::Container(_)
            | FaultFamily::Process(_)
            | FaultFamily::Stress(_)
            | FaultFamily::Script(_)
            | FaultFamily::Deploy(_) => &[],
        }
    }

    /// For a fault that acts on the target's network namespace (the
    /// network, HTTP and DNS kinds), whether it may also reach containers
    /// outside the scope that share that namespace; `None` for the kinds
    /// that do not act on it.
    pub fn shared_namespace(&self) -> Option<SharedNamespace> {
        match self.family() {
            FaultFamily::Net(n) => Some(n.shared()),
            FaultFamily::App(a) => Some(a.shared()),
            FaultFamily::Container(_)
            | FaultFamily::Process(_)
            | FaultFamily::Stress(_)
            | FaultFamily::Script(_)
            | FaultFamily::Deploy(_) => None,
        }
    }

    /// The fault as a network fault, for the code that makes those
    /// (`fault::net`); `None` for every other family.
    pub fn net(&self) -> Option<NetFault<'_>> {
        match self.family() {
            FaultFamily::Net(n) => Some(n),
            FaultFamily::Container(_)
            | FaultFamily::Process(_)
            | FaultFamily::Stress(_)
            | FaultFamily::Script(_)
            | FaultFamily::App(_)
            | FaultFamily::Deploy(_) => None,
        }
    }

    /// The fault as a stress worker's, for the code that makes those
    /// (`fault::stress`); `None` for every other family.
    pub fn stress(&self) -> Option<StressFault<'_>> {
        match self.family() {
            FaultFamily::Stress(s) => Some(s),
            FaultFamily::Container(_)
            | FaultFamily::Net(_)
            | FaultFamily::Process(_)
            | FaultFamily::Script(_)
            | FaultFamily::App(_)
            | FaultFamily::Deploy(_) => None,
        }
    }

    /// How the fault reaches the container: through the Docker API alone,
    /// or inside its network namespace (tc, iptables, the packet engine).
    pub fn reach(&self) -> Reach {
        match self.family() {
            FaultFamily::Container(_) | FaultFamily::Process(_) | FaultFamily::Deploy(_) => {
                Reach::DockerApi
            }
            FaultFamily::Net(n) => n.reach(),
            FaultFamily::Stress(_) => Reach::Host,
            FaultFamily::Script(s) => match s.place {
                ScriptPlace::Host => Reach::Host,
                ScriptPlace::Container => Reach::DockerApi,
            },
            FaultFamily::App(_) => Reach::Namespace,
        }
    }

    /// Faults that act on the network inside the container.
    pub fn is_network(&self) -> bool {
        self.reach() == Reach::Namespace
    }

    /// What the fault does to `on` and how it is undone, in words.
    pub fn describe(&self, on: &str) -> (String, String) {
        self.family().describe(on)
    }
}

/// How a fault reaches its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A Docker API call on the container (kill, stop, restart, pause).
    DockerApi,
    /// A Docker API call on the container's network attachment.
    DockerNetwork,
    /// Commands inside the container's network namespace.
    Namespace,
    /// A process of gameday's own in the container's cgroups (stress, disk
    /// fill): on this host, or in a helper container on a remote engine;
    /// or a script run on this host.
    Host,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CpuStressFault {
    #[serde(flatten)]
    pub target: Target,
    /// Busy workers (default 1); each is one thread, so 100% = one core.
    #[serde(default)]
    pub workers: u32,
    /// How busy each worker is (default 100%).
    #[serde(default)]
    pub load: Percent,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryStressFault {
    #[serde(flatten)]
    pub target: Target,
    /// How much to allocate and hold, e.g. `200MiB`.
    pub size: ByteSize,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IoStressFault {
    #[serde(flatten)]
    pub target: Target,
    /// A directory in the container's filesystem, e.g. `/data`.
    pub path: String,
    /// Writers (default 1), each with a file of its own.
    #[serde(default)]
    pub workers: u32,
    /// Each writer's file, rewritten from its start (default 64MiB).
    #[serde(default)]
    pub size: ByteSize,
    /// Allow a filesystem shared with the engine's host or other
    /// containers (the root filesystem, a bind mount, a volume others use);
    /// even then the writers never leave less than 5% of it (at least
    /// 1GiB) free. Default false: such a `path` is refused.
    #[serde(default)]
    pub shared_filesystem: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskFillFault {
    #[serde(flatten)]
    pub target: Target,
    /// A directory in the container's filesystem, e.g. `/data`.
    pub path: String,
    /// Fill the filesystem until it is this full (as `df` counts), e.g. `95%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<Percent>,
    /// Or write a file of this size, e.g. `1GiB` (what fits when less is free).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    /// Allow a filesystem shared with the engine's host or other
    /// containers (the root filesystem, a bind mount, a volume others use);
    /// even then the fill never leaves less than 5% of it (at least 1GiB)
    /// free. Default false: such a `path` is refused.
    #[serde(default)]
    pub shared_filesystem: bool,
}

/// Where a script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScriptPlace {
    /// Inside the target container (an exec), the default.
    #[default]
    Container,
    /// On this host, with GAMEDAY_CONTAINER_ID and GAMEDAY_CONTAINER_NAME set.
    Host,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptFault {
    #[serde(flatten)]
    pub target: Target,
    /// The command that makes the fault (argv, no shell).
    pub apply: Vec<String>,
    /// The command that undoes it: journalled before `apply` runs, run on
    /// revert, by the watchdog and by `recover`; it must be safe to run twice.
    pub revert: Vec<String>,
    /// `container` (default: inside the target) or `host` (this machine).
    #[serde(default, rename = "in")]
    pub place: ScriptPlace,
    /// How long each command may run (default 30s).
    #[serde(default)]
    pub timeout: HumanDuration,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessFault {
    #[serde(flatten)]
    pub target: Target,
    /// Text the command line of each process to signal contains, e.g. `worker`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Signal to send (default SIGKILL); SIGSTOP is reverted with SIGCONT.
    #[serde(default)]
    pub signal: String,
    /// Also the container's main process (PID 1 inside it); default false.
    #[serde(default)]
    pub pid1: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillFault {
    #[serde(flatten)]
    pub target: Target,
    /// Signal to send (default SIGKILL).
    #[serde(default)]
    pub signal: String,
    /// Start the container again on revert (default true).
    #[serde(default)]
    pub restore: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopFault {
    #[serde(flatten)]
    pub target: Target,
    /// Grace period before SIGKILL (default 10s).
    #[serde(default)]
    pub timeout: HumanDuration,
    /// Start the container again on revert (default true).
    #[serde(default)]
    pub restore: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartFault {
    #[serde(flatten)]
    pub target: Target,
    /// Grace period before SIGKILL (default 10s).
    #[serde(default)]
    pub timeout: HumanDuration,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseFault {
    #[serde(flatten)]
    pub target: Target,
}

/// A service named by a network fault (`to:` or `from:`), in scope.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Peer {
    pub service: String,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

/// Whether a fault on a container's network namespace may reach the
/// containers outside the scope that share it (`network_mode:
/// container:<target>`): every packet, rule and proxy of the fault is
/// theirs too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
pub struct SharedNamespace {
    /// Also fault the containers outside the scope that share the target's
    /// network namespace (default false: such a fault is refused, naming
    /// them). Containers in scope that share it are always allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_shared_namespace: bool,
}

/// How a packet fault is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetEngine {
    /// `netem` where the kernel has it, otherwise `userspace`.
    #[default]
    Auto,
    /// The kernel's `tc qdisc ... netem` (needs the sch_netem module).
    Netem,
    /// iptables rules sending the packets to an NFQUEUE that gameday serves (any kernel with NFQUEUE).
    Userspace,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// Added to every packet, e.g. `200ms`.
    pub latency: HumanDuration,
    /// Random variation around the latency (uniform, ±), e.g. `50ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<HumanDuration>,
    /// How much each packet's jitter follows the previous one's, e.g. `25%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Percent>,
    /// Only traffic toward these services (their current addresses).
    #[serde(default)]
    pub to: Vec<Peer>,
    #[serde(default)]
    pub engine: NetEngine,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// Share of packets dropped, e.g. `10%`.
    pub percent: Percent,
    /// How much each drop decision follows the previous one, e.g. `25%` (netem, userspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Percent>,
    #[serde(default)]
    pub to: Vec<Peer>,
    #[serde(default)]
    pub engine: NetEngine,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketShareFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// Share of packets affected, e.g. `5%`.
    pub percent: Percent,
    #[serde(default)]
    pub to: Vec<Peer>,
    #[serde(default)]
    pub engine: NetEngine,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BandwidthFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// Outgoing rate, e.g. `1mbit`, `512kbit`.
    pub rate: Rate,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// The services cut off from the target, both ways.
    pub from: Vec<Peer>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// The network: its compose name (`default`) or its Docker name (`demo_default`).
    pub network: String,
}
