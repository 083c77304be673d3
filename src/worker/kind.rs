//! The workers gameday runs, their jobs, and what their command lines
//! carry.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::docker::Inside;

crate::gameday::model::keyed_kinds! {
    /// Every worker gameday runs, each the hidden command `gameday <key>`.
    pub enum WorkerKind {
        /// The dead man's switch of one run on one engine.
        Watchdog = "watchdog",
        /// A stress worker in a container's cgroups.
        Stress = "stress",
        /// The proxy behind an `http_fault`, in the target's network namespace.
        HttpProxy = "http-proxy",
        /// The proxy behind a `dns` fault, in the target's network namespace.
        DnsProxy = "dns-proxy",
        /// The userspace packet engine, in a helper sharing the target's
        /// network namespace.
        PacketEngine = "nfqueue-serve",
        /// Forgets the flows a fault's redirects translated, in a helper
        /// sharing the target's network namespace.
        ConntrackForget = "conntrack-forget",
        /// Kills a timed-out `script` command's processes, in a helper in
        /// the target's PID namespace.
        KillMarked = "kill-marked",
    }
}

/// Where a worker of a kind goes when it runs in a helper container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HelperRoom {
    /// Inside the target: its PID namespace, and as [`Inside`] says.
    Inside(Inside),
    /// Only in the target's network namespace (NET_ADMIN).
    Network,
    /// A container of its own, named, with the engine's socket mounted.
    Engine,
}

impl WorkerKind {
    /// The hidden command's one-line help.
    pub(crate) fn about(self) -> &'static str {
        match self {
            WorkerKind::Watchdog => {
                "The dead man's switch of one run on one engine (started by `gameday run`)."
            }
            WorkerKind::Stress => {
                "A stress worker in a container's cgroups (started by `gameday run`)."
            }
            WorkerKind::HttpProxy => "The proxy behind an `http_fault` (started by `gameday run`).",
            WorkerKind::DnsProxy => "The proxy behind a `dns` fault (started by `gameday run`).",
            WorkerKind::PacketEngine => {
                "Serve an NFQUEUE in this network namespace (the userspace packet engine)."
            }
            WorkerKind::ConntrackForget => {
                "Forget the flows a fault's redirect rules translated, in this network namespace."
            }
            WorkerKind::KillMarked => {
                "Kill every process of this PID namespace carrying a `script` command's marker."
            }
        }
    }

    /// Where a helper container running it is placed.
    pub(crate) fn helper_room(self) -> HelperRoom {
        let inside = |cgroup, mounts, network| {
            HelperRoom::Inside(Inside {
                cgroup,
                mounts,
                network,
            })
        };
        match self {
            WorkerKind::Watchdog => HelperRoom::Engine,
            // Mounts too when its work has paths (see `Work::helper_room`).
            WorkerKind::Stress => inside(true, false, false),
            WorkerKind::HttpProxy | WorkerKind::DnsProxy => inside(false, false, true),
            WorkerKind::PacketEngine | WorkerKind::ConntrackForget => HelperRoom::Network,
            // SYS_PTRACE (with `mounts`) lets it read the environment of
            // the container's processes whoever runs them.
            WorkerKind::KillMarked => inside(false, true, false),
        }
    }

    /// Does it keep Rust's default of ignoring SIGPIPE? A worker that holds
    /// a fault (or the watchdog, whose runner may be gone) must never be
    /// killed by a closed pipe between applying and reverting.
    pub(crate) fn outlives_a_closed_pipe(self) -> bool {
        match self {
            WorkerKind::Watchdog
            | WorkerKind::Stress
            | WorkerKind::HttpProxy
            | WorkerKind::DnsProxy
            | WorkerKind::KillMarked => true,
            WorkerKind::PacketEngine | WorkerKind::ConntrackForget => false,
        }
    }
}

/// The flags a worker's command line may carry, for finding it again:
/// the worker reads nothing from them (its job comes on stdin).
pub(crate) const MARK_FLAGS: &[&str] = &["--tag", "--container", "--kind", "--run-id", "--marker"];
/// The switches it may carry, as much for finding it (`--placed`: in a
/// helper container, not on this host).
pub(crate) const MARK_SWITCHES: &[&str] = &["--placed"];

/// A worker's command line after its kind: `--flag value` pairs and
/// switches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Marks(Vec<(&'static str, Option<String>)>);

impl Marks {
    pub(crate) fn with(mut self, flag: &'static str, value: impl Into<String>) -> Marks {
        debug_assert!(MARK_FLAGS.contains(&flag), "{flag} is not a mark");
        self.0.push((flag, Some(value.into())));
        self
    }

    pub(crate) fn switch(mut self, switch: &'static str) -> Marks {
        debug_assert!(MARK_SWITCHES.contains(&switch), "{switch} is not a mark");
        self.0.push((switch, None));
        self
    }

    /// `gameday <kind> --flag value ...` after the program.
    pub(crate) fn argv(&self, kind: WorkerKind) -> Vec<String> {
        std::iter::once(kind.key().to_string())
            .chain(
                self.0
                    .iter()
                    .flat_map(|(f, v)| std::iter::once(f.to_string()).chain(v.clone())),
            )
            .collect()
    }
}

/// A worker's job: one serde value, its kind's.
pub(crate) trait Work: Serialize + DeserializeOwned {
    const KIND: WorkerKind;

    /// What its command line carries to find it again.
    fn marks(&self) -> Marks;

    /// Where a helper container running it is placed.
    fn helper_room(&self) -> HelperRoom {
        Self::KIND.helper_room()
    }
}

/// The container a worker works in: its main process on this host (`pid`,
/// or 1 when `placed` in a helper container in its PID namespace, which
/// then joins nothing), the fault's tag, and its longest life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub pid: i64,
    pub container: String,
    pub tag: String,
    pub max_seconds: u64,
    pub placed: bool,
}

impl Target {
    /// `--tag TAG --container ID`, and `--placed` in a helper container.
    pub(crate) fn marks(&self) -> Marks {
        let marks = Marks::default()
            .with("--tag", self.tag.clone())
            .with("--container", self.container.clone());
        if self.placed {
            marks.switch("--placed")
        } else {
            marks
        }
    }

    pub(crate) fn max(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_seconds)
    }
}

/// A job done in a container: where, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Targeted<W> {
    pub at: Target,
    pub work: W,
}
