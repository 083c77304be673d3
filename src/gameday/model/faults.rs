//! Fault kinds as the gameday file writes them, and what each does and
//! how it is undone, in words (for the plan, the live view and reports).

use schemars::JsonSchema;
use serde::Serialize;

use super::Target;
use super::app_faults::{DnsError, DnsFault, HttpFault, HttpSide};
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
        }
    }

    /// Services the fault names besides its target (`to:`, `from:`), which
    /// must resolve in scope too.
    pub fn peers(&self) -> &[Peer] {
        match self {
            Fault::Delay(f) => &f.to,
            Fault::Loss(f) => &f.to,
            Fault::Duplicate(f) | Fault::Corrupt(f) => &f.to,
            Fault::Partition(f) => &f.from,
            Fault::HttpFault(f) => &f.to,
            Fault::Kill(_)
            | Fault::Stop(_)
            | Fault::Restart(_)
            | Fault::Pause(_)
            | Fault::Bandwidth(_)
            | Fault::Disconnect(_)
            | Fault::Process(_)
            | Fault::CpuStress(_)
            | Fault::MemoryStress(_)
            | Fault::IoStress(_)
            | Fault::DiskFill(_)
            | Fault::Script(_)
            | Fault::Dns(_) => &[],
        }
    }

    /// For a fault that acts on the target's network namespace (the
    /// network, HTTP and DNS kinds), whether it may also reach containers
    /// outside the scope that share that namespace; `None` for the kinds
    /// that do not act on it.
    pub fn shared_namespace(&self) -> Option<SharedNamespace> {
        match self {
            Fault::Delay(f) => Some(f.shared),
            Fault::Loss(f) => Some(f.shared),
            Fault::Duplicate(f) | Fault::Corrupt(f) => Some(f.shared),
            Fault::Bandwidth(f) => Some(f.shared),
            Fault::Partition(f) => Some(f.shared),
            Fault::Disconnect(f) => Some(f.shared),
            Fault::HttpFault(f) => Some(f.shared),
            Fault::Dns(f) => Some(f.shared),
            Fault::Kill(_)
            | Fault::Stop(_)
            | Fault::Restart(_)
            | Fault::Pause(_)
            | Fault::Process(_)
            | Fault::CpuStress(_)
            | Fault::MemoryStress(_)
            | Fault::IoStress(_)
            | Fault::DiskFill(_)
            | Fault::Script(_) => None,
        }
    }

    /// The fault as a network fault, for the code that makes those
    /// (`fault::net`); `None` for every other kind, so a new kind that is
    /// not a network fault is added here and not there.
    pub fn net(&self) -> Option<NetFault<'_>> {
        match self {
            Fault::Delay(f) => Some(NetFault::Delay(f)),
            Fault::Loss(f) => Some(NetFault::Loss(f)),
            Fault::Duplicate(f) => Some(NetFault::Duplicate(f)),
            Fault::Corrupt(f) => Some(NetFault::Corrupt(f)),
            Fault::Bandwidth(f) => Some(NetFault::Bandwidth(f)),
            Fault::Partition(f) => Some(NetFault::Partition(f)),
            Fault::Disconnect(f) => Some(NetFault::Disconnect(f)),
            Fault::Kill(_)
            | Fault::Stop(_)
            | Fault::Restart(_)
            | Fault::Pause(_)
            | Fault::Process(_)
            | Fault::CpuStress(_)
            | Fault::MemoryStress(_)
            | Fault::IoStress(_)
            | Fault::DiskFill(_)
            | Fault::Script(_)
            | Fault::HttpFault(_)
            | Fault::Dns(_) => None,
        }
    }

    /// How the fault reaches the container: through the Docker API alone,
    /// or inside its network namespace (tc, iptables, the packet engine).
    pub fn reach(&self) -> Reach {
        match self.net() {
            None => self.local_reach(),
            Some(NetFault::Disconnect(_)) => Reach::DockerNetwork,
            Some(
                NetFault::Delay(_)
                | NetFault::Loss(_)
                | NetFault::Duplicate(_)
                | NetFault::Corrupt(_)
                | NetFault::Bandwidth(_)
                | NetFault::Partition(_),
            ) => Reach::Namespace,
        }
    }

    /// How a fault that is not a network fault reaches its container.
    fn local_reach(&self) -> Reach {
        match self {
            Fault::CpuStress(_)
            | Fault::MemoryStress(_)
            | Fault::IoStress(_)
            | Fault::DiskFill(_) => Reach::Host,
            Fault::Script(s) => match s.place {
                ScriptPlace::Host => Reach::Host,
                ScriptPlace::Container => Reach::DockerApi,
            },
            Fault::HttpFault(_) | Fault::Dns(_) => Reach::Namespace,
            Fault::Kill(_)
            | Fault::Stop(_)
            | Fault::Restart(_)
            | Fault::Pause(_)
            | Fault::Process(_)
            | Fault::Delay(_)
            | Fault::Loss(_)
            | Fault::Duplicate(_)
            | Fault::Corrupt(_)
            | Fault::Bandwidth(_)
            | Fault::Partition(_)
            | Fault::Disconnect(_) => Reach::DockerApi,
        }
    }

    /// Faults that act on the network inside the container.
    pub fn is_network(&self) -> bool {
        self.reach() == Reach::Namespace
    }

    /// What the fault does to `on` and how it is undone, in words.
    pub fn describe(&self, on: &str) -> (String, String) {
        let toward = |peers: &[Peer]| {
            if peers.is_empty() {
                String::new()
            } else {
                format!(" toward {}", services(peers))
            }
        };
        let remove = |what: &str| format!("remove the {what} from {on}");
        let restart_unless = |restore: bool| {
            if restore {
                format!("start {on} again, wait until running")
            } else {
                "leave it stopped (restore: false)".into()
            }
        };
        match self {
            Fault::Kill(k) => (
                format!("kill {on} with {}", k.signal),
                restart_unless(k.restore),
            ),
            Fault::Stop(s) => (
                format!("stop {on} (grace {})", s.timeout),
                restart_unless(s.restore),
            ),
            Fault::Restart(r) => (
                format!("restart {on} (grace {})", r.timeout),
                format!("make sure {on} is running"),
            ),
            Fault::Pause(_) => (format!("pause {on}"), format!("unpause {on}")),
            Fault::Delay(d) => {
                let mut text = format!("delay packets from {on} by {}", d.latency);
                if let Some(j) = d.jitter {
                    text.push_str(&format!(" ± {j}"));
                }
                if let Some(c) = d.correlation {
                    text.push_str(&format!(" (correlation {c})"));
                }
                (text + &toward(&d.to), remove("delay"))
            }
            Fault::Loss(l) => (
                format!("drop {} of packets from {on}{}", l.percent, toward(&l.to)),
                remove("packet loss"),
            ),
            Fault::Duplicate(d) => (
                format!(
                    "duplicate {} of packets from {on}{}",
                    d.percent,
                    toward(&d.to)
                ),
                remove("duplication"),
            ),
            Fault::Corrupt(c) => (
                format!(
                    "corrupt {} of packets from {on}{}",
                    c.percent,
                    toward(&c.to)
                ),
                remove("corruption"),
            ),
            Fault::Bandwidth(b) => (
                format!("limit {on} to {} outgoing", b.rate),
                remove("bandwidth limit"),
            ),
            Fault::Partition(p) => (
                format!("cut {on} off from {} (both ways)", services(&p.from)),
                format!("remove the partition rules from {on}"),
            ),
            Fault::Process(p) => {
                let which = if p.pid1 {
                    "processes (its main one included)"
                } else {
                    "processes (not its main one)"
                };
                (
                    format!(
                        "send {} to the {which} of {on} whose command line contains `{}`",
                        p.signal, p.pattern
                    ),
                    if p.signal == "SIGSTOP" {
                        "send them SIGCONT".to_string()
                    } else {
                        "nothing to undo (processes that end are restarted, or not, by what started them)"
                            .to_string()
                    },
                )
            }
            Fault::CpuStress(c) => (
                format!(
                    "load {} CPU worker{} at {} each into the cgroup of {on}",
                    c.workers,
                    if c.workers == 1 { "" } else { "s" },
                    c.load
                ),
                format!("stop the CPU workers in {on}"),
            ),
            Fault::MemoryStress(m) => (
                format!("allocate and hold {} in the cgroup of {on}", m.size),
                format!("free the memory held in {on}"),
            ),
            Fault::IoStress(i) => (
                format!(
                    "write with fsync to {} in {on} ({} writer{}, files of {})",
                    i.path,
                    i.workers,
                    if i.workers == 1 { "" } else { "s" },
                    i.size
                ),
                format!("stop the writers and remove their files from {on}"),
            ),
            Fault::DiskFill(d) => (
                match (&d.fill, &d.size) {
                    (Some(p), _) => format!("fill the filesystem of {} in {on} to {p}", d.path),
                    (None, Some(b)) => format!("write a {b} file to {} in {on}", d.path),
                    (None, None) => format!("fill {} in {on}", d.path),
                },
                format!("remove the fill file from {on}"),
            ),
            Fault::Script(s) => (
                format!(
                    "run `{}` {}",
                    s.apply.join(" "),
                    match s.place {
                        ScriptPlace::Container => format!("in {on}"),
                        ScriptPlace::Host => format!("on this host, for {on}"),
                    }
                ),
                format!("run `{}`", s.revert.join(" ")),
            ),
            Fault::HttpFault(h) => (
                match h.side {
                    HttpSide::Server => format!(
                        "answer {} of the HTTP requests{} arriving at port {} of {on} {}",
                        h.percent,
                        h.matcher.describe(),
                        h.port,
                        h.action().describe()
                    ),
                    HttpSide::Client => format!(
                        "answer {} of the HTTP requests{} {on} makes to port {} of {} {}",
                        h.percent,
                        h.matcher.describe(),
                        h.port,
                        services(&h.to),
                        h.action().describe()
                    ),
                },
                format!("let the HTTP requests to {on} through again"),
            ),
            Fault::Dns(d) => (
                format!(
                    "answer {} of the lookups {on} makes{} {}",
                    d.percent,
                    if d.names.is_empty() {
                        String::new()
                    } else {
                        format!(" for {}", d.names.join(", "))
                    },
                    match (d.error, d.delay) {
                        (Some(DnsError::Nxdomain), _) => "with NXDOMAIN (no such name)".to_string(),
                        (Some(DnsError::Servfail), _) => "with SERVFAIL".to_string(),
                        (Some(DnsError::Timeout), _) => "with nothing (they time out)".to_string(),
                        (None, Some(delay)) => format!("{delay} late"),
                        (None, None) => "late".to_string(),
                    }
                ),
                format!("let the lookups of {on} through again"),
            ),
            Fault::Disconnect(d) => (
                format!("disconnect {on} from network {}", d.network),
                format!(
                    "reconnect {on} to {} with its aliases and address",
                    d.network
                ),
            ),
        }
    }
}

/// The network faults, borrowed from a [`Fault`] ([`Fault::net`]).
#[derive(Debug, Clone, Copy)]
pub enum NetFault<'a> {
    Delay(&'a DelayFault),
    Loss(&'a LossFault),
    Duplicate(&'a PacketShareFault),
    Corrupt(&'a PacketShareFault),
    Bandwidth(&'a BandwidthFault),
    Partition(&'a PartitionFault),
    Disconnect(&'a DisconnectFault),
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

fn services(peers: &[Peer]) -> String {
    peers
        .iter()
        .map(|p| p.service.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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
