//! The stress faults (`cpu_stress`, `memory_stress`, `io_stress`,
//! `disk_fill`): the work is done by `gameday stress` (hidden), a process of
//! gameday's own started on this host. Before it does anything it joins
//! every cgroup of the target container (cgroup v1 hierarchies or the v2
//! one), so the container's CPU quota throttles it, its memory limit counts
//! it and its OOM killer acts as in a real incident; the filesystem kinds
//! also enter the container's mount namespace, so a path resolves inside
//! the container's root (an absolute symlink in the container cannot lead
//! to this host's files).
//!
//! A worker never outlives what it stresses: it ends when its stdin closes
//! (the run reverts it, or the runner died), when the container's main
//! process ends, or after its longest lifetime; it removes the files it
//! wrote as it ends. The revert recipe ([`super::RevertRecipe::Stress`])
//! does the same from any process: kill the workers by their tag, remove
//! the files by their journalled names (idempotent).

use std::time::Duration;

use crate::gameday::model::StressFault;

mod apply;
mod bounds;
mod worker;
pub(super) use apply::{apply, recipe, revert};
pub(crate) use bounds::meminfo;
pub(crate) use worker::serve;

/// How long a worker may take to be in place (a large fill written without
/// `fallocate`).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a stopped worker may take to clean up and exit.
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// The unit of allocation and of writes.
pub(super) const CHUNK: usize = 1 << 20;

/// What a stress worker does (its work, as JSON on its stdin).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Work {
    /// `workers` threads, each busy `load` percent of every 100 ms.
    Cpu { workers: u32, load: f64 },
    /// `bytes` allocated, every page touched, held; meanwhile the
    /// container's own processes (`raise`) are the OOM killer's first
    /// choice, as if the memory were theirs.
    Memory { bytes: u64, raise: Vec<OomScore> },
    /// `workers` threads writing 1 MiB blocks with an fsync after each, to
    /// a file of at most `file_bytes` each, rewritten from its start.
    Io {
        dir: String,
        workers: u32,
        file_bytes: u64,
        room: Option<Room>,
    },
    /// One file in `dir`, of a size or up to a share of the filesystem.
    Fill {
        dir: String,
        amount: Amount,
        room: Option<Room>,
    },
    /// Remove these files and put these OOM scores back (the recipe's
    /// clean-up through a helper; from this host it puts them back itself).
    Remove {
        files: Vec<String>,
        restore: Vec<OomScore>,
    },
    /// Print the OOM scores of the container's processes (a helper's
    /// read-only look, before `memory_stress` is applied).
    Scores,
}

/// A process's `oom_score_adj` before `memory_stress` raised it: what its
/// revert puts back (the same process: PID and start time).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OomScore {
    pub pid: i32,
    pub start: u64,
    pub value: i32,
}

impl OomScore {
    pub(super) fn arg(&self) -> String {
        format!("{}:{}:{}", self.pid, self.start, self.value)
    }

    pub(super) fn parse(text: &str) -> Option<OomScore> {
        let mut parts = text.split(':');
        Some(OomScore {
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
            value: parts.next()?.parse().ok()?,
        })
    }
}

/// The `oom_score_adj` of container `container_id`'s processes on this
/// host (read only).
pub(crate) fn oom_scores(container_id: &str, main_pid: i64) -> Vec<OomScore> {
    super::process::of_container(container_id, main_pid)
        .iter()
        .filter_map(|p| {
            let value = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", p.pid)).ok()?;
            Some(OomScore {
                pid: p.pid,
                start: start_time(i64::from(p.pid))?,
                value: value.trim().parse().ok()?,
            })
        })
        .collect()
}

/// Set each listed process that still runs to `to`, or back to its own
/// recorded value. Returns how many changed.
pub(crate) fn set_oom_scores(scores: &[OomScore], to: Option<i32>) -> usize {
    scores
        .iter()
        .filter(|s| start_time(i64::from(s.pid)) == Some(s.start))
        .filter(|s| {
            let path = format!("/proc/{}/oom_score_adj", s.pid);
            let want = to.unwrap_or(s.value);
            let now: Option<i32> = std::fs::read_to_string(&path)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            now != Some(want) && std::fs::write(&path, want.to_string()).is_ok()
        })
        .count()
}

/// The filesystem an `io_stress` or `disk_fill` worker may write to, as
/// the plan found it: the worker checks the directory it opened is on it
/// (a symlink in the container cannot lead elsewhere) and how it is
/// shared, and writes nothing otherwise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Room {
    /// The mount point in the container that `path` is under (`/`: the
    /// container's root filesystem).
    pub mount: String,
    pub share: Share,
}

/// Who else uses the filesystem of a [`Room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// A tmpfs mounted for this container alone: may be filled to 100%.
    /// The worker checks it is a tmpfs and, from this host, that this
    /// host's mount table does not hold it.
    Tmpfs,
    /// A filesystem of its own used by this container alone (a volume on
    /// a device or tmpfs of its own): may be filled to 100%.
    Own,
    /// Shared with the engine's host or other containers, written to only
    /// because the fault says `shared_filesystem: true`: never past
    /// [`disk_reserve`].
    Shared,
}

const GIB: u64 = 1 << 30;

/// What a shared filesystem keeps free whatever a fault writes: 5% of
/// it, at least 1GiB.
pub(crate) fn disk_reserve(size: u64) -> u64 {
    (size / 20).max(GIB)
}

/// What the engine's host keeps of its memory whatever a fault on a
/// container without a memory limit takes: 10% of it, at least 1GiB.
pub(crate) fn memory_reserve(total: u64) -> u64 {
    (total / 10).max(GIB)
}

/// How much a `disk_fill` writes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Amount {
    /// Until the filesystem is this full (df's Use%).
    Percent(f64),
    Bytes(u64),
}

impl Work {
    /// The filesystem the plan found for its path (what the worker checks
    /// and keeps to); no effect on the kinds without a path.
    pub(crate) fn set_room(&mut self, found: Option<Room>) {
        match self {
            Work::Io { room, .. } | Work::Fill { room, .. } => *room = found,
            Work::Cpu { .. } | Work::Memory { .. } | Work::Remove { .. } | Work::Scores => {}
        }
    }

    /// Its name, on the worker's command line (`--kind`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Work::Cpu { .. } => "cpu",
            Work::Memory { .. } => "memory",
            Work::Io { .. } => "io",
            Work::Fill { .. } => "fill",
            Work::Remove { .. } => "remove",
            Work::Scores => "scores",
        }
    }

    /// Kept to what a worker does whoever asked: at least one thread, a
    /// load of 1 to 100%, io files of at least a chunk.
    pub(crate) fn bounded(self) -> Work {
        match self {
            Work::Cpu { workers, load } => Work::Cpu {
                workers: workers.max(1),
                load: load.clamp(1.0, 100.0),
            },
            Work::Io {
                dir,
                workers,
                file_bytes,
                room,
            } => Work::Io {
                dir,
                workers: workers.max(1),
                file_bytes: file_bytes.max(CHUNK as u64),
                room,
            },
            other @ (Work::Memory { .. }
            | Work::Fill { .. }
            | Work::Remove { .. }
            | Work::Scores) => other,
        }
    }

    /// The files it writes, inside the container, named after `tag`: what
    /// the recipe removes.
    pub(crate) fn files(&self, tag: &str) -> Vec<String> {
        match self {
            Work::Io { dir, workers, .. } => (1..=*workers)
                .map(|i| in_dir(dir, &format!(".gameday-io-{}-{i}", file_safe(tag))))
                .collect(),
            Work::Fill { dir, .. } => {
                vec![in_dir(dir, &format!(".gameday-fill-{}", file_safe(tag)))]
            }
            Work::Cpu { .. } | Work::Memory { .. } | Work::Remove { .. } | Work::Scores => {
                Vec::new()
            }
        }
    }

    pub(crate) fn in_mount_namespace(&self) -> bool {
        match self {
            Work::Io { .. } | Work::Fill { .. } | Work::Remove { .. } => true,
            Work::Cpu { .. } | Work::Memory { .. } | Work::Scores => false,
        }
    }
}

fn in_dir(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// A tag (`gameday:3f9c2a:s1-f1-ab12`) as part of a file name.
fn file_safe(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The work a stress fault asks for.
pub(crate) fn work_of(fault: StressFault<'_>) -> Work {
    match fault {
        StressFault::Cpu(c) => Work::Cpu {
            workers: c.workers,
            load: c.load.0,
        },
        StressFault::Memory(m) => Work::Memory {
            bytes: m.size.0 as u64,
            raise: Vec::new(),
        },
        StressFault::Io(i) => Work::Io {
            dir: i.path.clone(),
            workers: i.workers,
            file_bytes: i.size.0 as u64,
            room: None,
        },
        StressFault::DiskFill(d) => Work::Fill {
            dir: d.path.clone(),
            amount: match (d.fill, d.size) {
                (Some(p), _) => Amount::Percent(p.0),
                (None, Some(b)) => Amount::Bytes(b.0 as u64),
                (None, None) => Amount::Percent(100.0),
            },
            room: None,
        },
    }
}

/// A stress worker's job: the container, and the work.
pub(crate) type Job = crate::worker::Targeted<Work>;

impl crate::worker::Work for Job {
    const KIND: crate::worker::WorkerKind = crate::worker::WorkerKind::Stress;

    /// `--tag TAG --container ID --kind KIND`.
    fn marks(&self) -> crate::worker::Marks {
        self.at.marks().with("--kind", self.work.name())
    }

    /// In the target's cgroup, and allowed into its mount namespace when
    /// its work has paths.
    fn helper_room(&self) -> crate::worker::HelperRoom {
        crate::worker::HelperRoom::Inside(crate::docker::Inside {
            cgroup: true,
            mounts: self.work.in_mount_namespace(),
            network: false,
        })
    }
}

/// A process's start time (field 22 of `/proc/PID/stat`): a PID reused by
/// another process has another one.
pub(super) fn start_time(pid: i64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

pub(super) fn bytes(n: f64) -> String {
    crate::gameday::units::ByteSize(n).to_string()
}

mod runner;
#[cfg(test)]
use runner::removed_counts;
pub(crate) use runner::{Worker, clean_up_via_helper, oom_scores_via_helper, remove, start};

#[cfg(test)]
mod tests;
