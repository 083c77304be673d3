//! The fault kinds grouped by how they are made: a [`FaultFamily`], from
//! [`Fault::family`](super::Fault::family), is what the code that makes,
//! checks and describes a fault dispatches on, then on the family's
//! members; every such `match` is exhaustive, so a new kind is a compile
//! error wherever its family is handled. And what each kind does and how
//! it is undone, in words (for the plan, the live view and reports).

use super::app_faults::{DnsError, DnsFault, HttpFault, HttpSide};
use super::faults::*;

/// A fault by how it is made.
#[derive(Debug, Clone, Copy)]
pub enum FaultFamily<'a> {
    /// A Docker API call on the container (kill, stop, restart, pause).
    Container(ContainerFault<'a>),
    /// Packets in the container's network namespace, or its attachment to
    /// a Docker network.
    Net(NetFault<'a>),
    /// Signals to the container's processes, found on this host.
    Process(&'a ProcessFault),
    /// A worker of gameday's own in the container's cgroups.
    Stress(StressFault<'a>),
    /// The user's own commands.
    Script(&'a ScriptFault),
    /// A proxy of gameday's own in the container's network namespace,
    /// answering in the application's protocol (HTTP, DNS).
    App(AppFault<'a>),
    /// The service's containers replaced by new ones from another image,
    /// and the old ones put back on revert.
    Deploy(&'a super::deploy::DeployFault),
}

/// The faults made by one Docker API call on the container.
#[derive(Debug, Clone, Copy)]
pub enum ContainerFault<'a> {
    Kill(&'a KillFault),
    Stop(&'a StopFault),
    Restart(&'a RestartFault),
    Pause(&'a PauseFault),
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

/// The faults a stress worker makes ([`Fault::stress`]).
#[derive(Debug, Clone, Copy)]
pub enum StressFault<'a> {
    Cpu(&'a CpuStressFault),
    Memory(&'a MemoryStressFault),
    Io(&'a IoStressFault),
    DiskFill(&'a DiskFillFault),
}

/// The faults a proxy in the container's network namespace makes.
#[derive(Debug, Clone, Copy)]
pub enum AppFault<'a> {
    Http(&'a HttpFault),
    Dns(&'a DnsFault),
}

impl<'a> FaultFamily<'a> {
    /// What the fault does to `on` and how it is undone, in words.
    pub fn describe(self, on: &str) -> (String, String) {
        match self {
            FaultFamily::Container(c) => c.describe(on),
            FaultFamily::Net(n) => n.describe(on),
            FaultFamily::Process(p) => p.describe(on),
            FaultFamily::Stress(s) => s.describe(on),
            FaultFamily::Script(s) => s.describe(on),
            FaultFamily::App(a) => a.describe(on),
            FaultFamily::Deploy(d) => d.describe(on),
        }
    }
}

impl ContainerFault<'_> {
    fn describe(self, on: &str) -> (String, String) {
        let restart_unless = |restore: bool| {
            if restore {
                format!("start {on} again, wait until running")
            } else {
                "leave it stopped (restore: false)".into()
            }
        };
        match self {
            ContainerFault::Kill(k) => (
                format!("kill {on} with {}", k.signal),
                restart_unless(k.restore),
            ),
            ContainerFault::Stop(s) => (
                format!("stop {on} (grace {})", s.timeout),
                restart_unless(s.restore),
            ),
            ContainerFault::Restart(r) => (
                format!("restart {on} (grace {})", r.timeout),
                format!("make sure {on} is running"),
            ),
            ContainerFault::Pause(_) => (format!("pause {on}"), format!("unpause {on}")),
        }
    }

    /// Whether it takes the container down, so that on a swarm task the
    /// swarm replaces it (kill, stop): its revert then starts nothing.
    pub fn takes_it_down(self) -> bool {
        match self {
            ContainerFault::Kill(_) | ContainerFault::Stop(_) => true,
            ContainerFault::Restart(_) | ContainerFault::Pause(_) => false,
        }
    }
}

impl<'a> NetFault<'a> {
    /// Services it names besides its target (`to:`, `from:`).
    pub fn peers(self) -> &'a [Peer] {
        match self {
            NetFault::Delay(f) => &f.to,
            NetFault::Loss(f) => &f.to,
            NetFault::Duplicate(f) | NetFault::Corrupt(f) => &f.to,
            NetFault::Partition(f) => &f.from,
            NetFault::Bandwidth(_) | NetFault::Disconnect(_) => &[],
        }
    }

    pub fn shared(self) -> SharedNamespace {
        match self {
            NetFault::Delay(f) => f.shared,
            NetFault::Loss(f) => f.shared,
            NetFault::Duplicate(f) | NetFault::Corrupt(f) => f.shared,
            NetFault::Bandwidth(f) => f.shared,
            NetFault::Partition(f) => f.shared,
            NetFault::Disconnect(f) => f.shared,
        }
    }

    pub fn reach(self) -> Reach {
        match self {
            NetFault::Disconnect(_) => Reach::DockerNetwork,
            NetFault::Delay(_)
            | NetFault::Loss(_)
            | NetFault::Duplicate(_)
            | NetFault::Corrupt(_)
            | NetFault::Bandwidth(_)
            | NetFault::Partition(_) => Reach::Namespace,
        }
    }

    fn describe(self, on: &str) -> (String, String) {
        let toward = |peers: &[Peer]| {
            if peers.is_empty() {
                String::new()
            } else {
                format!(" toward {}", services(peers))
            }
        };
        let remove = |what: &str| format!("remove the {what} from {on}");
        match self {
            NetFault::Delay(d) => {
                let mut text = format!("delay packets from {on} by {}", d.latency);
                if let Some(j) = d.jitter {
                    text.push_str(&format!(" ± {j}"));
                }
                if let Some(c) = d.correlation {
                    text.push_str(&format!(" (correlation {c})"));
                }
                (text + &toward(&d.to), remove("delay"))
            }
            NetFault::Loss(l) => (
                format!("drop {} of packets from {on}{}", l.percent, toward(&l.to)),
                remove("packet loss"),
            ),
            NetFault::Duplicate(d) => (
                format!(
                    "duplicate {} of packets from {on}{}",
                    d.percent,
                    toward(&d.to)
                ),
                remove("duplication"),
            ),
            NetFault::Corrupt(c) => (
                format!(
                    "corrupt {} of packets from {on}{}",
                    c.percent,
                    toward(&c.to)
                ),
                remove("corruption"),
            ),
            NetFault::Bandwidth(b) => (
                format!("limit {on} to {} outgoing", b.rate),
                remove("bandwidth limit"),
            ),
            NetFault::Partition(p) => (
                format!("cut {on} off from {} (both ways)", services(&p.from)),
                format!("remove the partition rules from {on}"),
            ),
            NetFault::Disconnect(d) => (
                format!("disconnect {on} from network {}", d.network),
                format!(
                    "reconnect {on} to {} with its aliases and address",
                    d.network
                ),
            ),
        }
    }
}

impl ProcessFault {
    fn describe(&self, on: &str) -> (String, String) {
        let which = if self.pid1 {
            "processes (its main one included)"
        } else {
            "processes (not its main one)"
        };
        (
            format!(
                "send {} to the {which} of {on} whose command line contains `{}`",
                self.signal, self.pattern
            ),
            if self.signal == "SIGSTOP" {
                "send them SIGCONT".to_string()
            } else {
                "nothing to undo (processes that end are restarted, or not, by what started them)"
                    .to_string()
            },
        )
    }
}

impl<'a> StressFault<'a> {
    /// The directory it writes to, and whether it may share its
    /// filesystem (`shared_filesystem`); `None` for the kinds that write
    /// nothing.
    pub fn writes(self) -> Option<(&'a str, bool)> {
        match self {
            StressFault::Io(i) => Some((&i.path, i.shared_filesystem)),
            StressFault::DiskFill(d) => Some((&d.path, d.shared_filesystem)),
            StressFault::Cpu(_) | StressFault::Memory(_) => None,
        }
    }

    fn describe(self, on: &str) -> (String, String) {
        match self {
            StressFault::Cpu(c) => (
                format!(
                    "load {} CPU worker{} at {} each into the cgroup of {on}",
                    c.workers,
                    if c.workers == 1 { "" } else { "s" },
                    c.load
                ),
                format!("stop the CPU workers in {on}"),
            ),
            StressFault::Memory(m) => (
                format!("allocate and hold {} in the cgroup of {on}", m.size),
                format!("free the memory held in {on}"),
            ),
            StressFault::Io(i) => (
                format!(
                    "write with fsync to {} in {on} ({} writer{}, files of {})",
                    i.path,
                    i.workers,
                    if i.workers == 1 { "" } else { "s" },
                    i.size
                ),
                format!("stop the writers and remove their files from {on}"),
            ),
            StressFault::DiskFill(d) => (
                match (&d.fill, &d.size) {
                    (Some(p), _) => format!("fill the filesystem of {} in {on} to {p}", d.path),
                    (None, Some(b)) => format!("write a {b} file to {} in {on}", d.path),
                    (None, None) => format!("fill {} in {on}", d.path),
                },
                format!("remove the fill file from {on}"),
            ),
        }
    }
}

impl ScriptFault {
    fn describe(&self, on: &str) -> (String, String) {
        (
            format!(
                "run `{}` {}",
                self.apply.join(" "),
                match self.place {
                    ScriptPlace::Container => format!("in {on}"),
                    ScriptPlace::Host => format!("on this host, for {on}"),
                }
            ),
            format!("run `{}`", self.revert.join(" ")),
        )
    }
}

impl<'a> AppFault<'a> {
    /// Services it names besides its target (`to:`).
    pub fn peers(self) -> &'a [Peer] {
        match self {
            AppFault::Http(f) => &f.to,
            AppFault::Dns(_) => &[],
        }
    }

    pub fn shared(self) -> SharedNamespace {
        match self {
            AppFault::Http(f) => f.shared,
            AppFault::Dns(f) => f.shared,
        }
    }

    fn describe(self, on: &str) -> (String, String) {
        match self {
            AppFault::Http(h) => (
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
            AppFault::Dns(d) => (
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
        }
    }
}

fn services(peers: &[Peer]) -> String {
    peers
        .iter()
        .map(|p| p.service.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
