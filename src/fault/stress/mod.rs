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

/// What a stress worker does.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The mount point in the container that `path` is under (`/`: the
    /// container's root filesystem).
    pub mount: String,
    pub share: Share,
}

/// Who else uses the filesystem of a [`Room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Share {
    fn name(self) -> &'static str {
        match self {
            Share::Tmpfs => "tmpfs",
            Share::Own => "own",
            Share::Shared => "shared",
        }
    }

    fn parse(text: &str) -> Option<Share> {
        [Share::Tmpfs, Share::Own, Share::Shared]
            .into_iter()
            .find(|s| s.name() == text)
    }
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Amount {
    /// Until the filesystem is this full (df's Use%).
    Percent(f64),
    Bytes(u64),
}

/// The worker's command line, as the hidden `stress` command takes it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub kind: String,
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    #[arg(long, default_value_t = 100.0)]
    pub load: f64,
    #[arg(long)]
    pub bytes: Option<u64>,
    #[arg(long)]
    pub percent: Option<f64>,
    #[arg(long = "path")]
    pub paths: Vec<String>,
    #[arg(long = "raise-oom")]
    pub raise_oom: Vec<String>,
    #[arg(long = "restore-oom")]
    pub restore_oom: Vec<String>,
    /// The mount point the plan found `--path` under.
    #[arg(long)]
    pub mount: Option<String>,
    /// Who else uses it: `tmpfs`, `own` or `shared`.
    #[arg(long)]
    pub share: Option<String>,
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

    /// `--kind ...` and the rest, for the hidden `stress` command.
    fn args(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |k: &str, v: String| {
            out.push(k.to_string());
            out.push(v);
        };
        match self {
            Work::Cpu { workers, load } => {
                push("--kind", "cpu".into());
                push("--workers", workers.to_string());
                push("--load", load.to_string());
            }
            Work::Memory { bytes, raise } => {
                push("--kind", "memory".into());
                push("--bytes", bytes.to_string());
                for r in raise {
                    push("--raise-oom", r.arg());
                }
            }
            Work::Io {
                dir,
                workers,
                file_bytes,
                room,
            } => {
                push("--kind", "io".into());
                push("--path", dir.clone());
                push("--workers", workers.to_string());
                push("--bytes", file_bytes.to_string());
                push_room(&mut push, room.as_ref());
            }
            Work::Fill { dir, amount, room } => {
                push("--kind", "fill".into());
                push("--path", dir.clone());
                match amount {
                    Amount::Percent(p) => push("--percent", p.to_string()),
                    Amount::Bytes(b) => push("--bytes", b.to_string()),
                }
                push_room(&mut push, room.as_ref());
            }
            Work::Remove { files, restore } => {
                push("--kind", "remove".into());
                for f in files {
                    push("--path", f.clone());
                }
                for r in restore {
                    push("--restore-oom", r.arg());
                }
            }
            Work::Scores => push("--kind", "scores".into()),
        }
        out
    }

    /// Read back what [`Work::args`] wrote.
    pub(crate) fn from_args(a: Args) -> Result<Work, String> {
        let path = || {
            a.paths
                .first()
                .cloned()
                .ok_or_else(|| "--path is required".to_string())
        };
        let room = || match (&a.mount, a.share.as_deref()) {
            (None, None) => Ok(None),
            (Some(mount), Some(share)) => Share::parse(share)
                .map(|share| {
                    Some(Room {
                        mount: mount.clone(),
                        share,
                    })
                })
                .ok_or_else(|| format!("bad --share {share}")),
            _ => Err("give both --mount and --share".to_string()),
        };
        let scores = |list: &[String], flag: &str| {
            list.iter()
                .map(|r| OomScore::parse(r).ok_or(format!("bad {flag} {r}")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match a.kind.as_str() {
            "cpu" => Work::Cpu {
                workers: a.workers.max(1),
                load: a.load.clamp(1.0, 100.0),
            },
            "memory" => Work::Memory {
                bytes: a.bytes.ok_or("--bytes is required")?,
                raise: scores(&a.raise_oom, "--raise-oom")?,
            },
            "io" => Work::Io {
                dir: path()?,
                workers: a.workers.max(1),
                file_bytes: a.bytes.unwrap_or(64 * CHUNK as u64).max(CHUNK as u64),
                room: room()?,
            },
            "fill" => Work::Fill {
                dir: path()?,
                amount: match (a.percent, a.bytes) {
                    (Some(p), None) => Amount::Percent(p),
                    (None, Some(b)) => Amount::Bytes(b),
                    _ => return Err("give one of --percent and --bytes".into()),
                },
                room: room()?,
            },
            "remove" => Work::Remove {
                restore: scores(&a.restore_oom, "--restore-oom")?,
                files: a.paths,
            },
            "scores" => Work::Scores,
            other => return Err(format!("unknown kind `{other}`")),
        })
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

    fn in_mount_namespace(&self) -> bool {
        match self {
            Work::Io { .. } | Work::Fill { .. } | Work::Remove { .. } => true,
            Work::Cpu { .. } | Work::Memory { .. } | Work::Scores => false,
        }
    }
}

/// `--mount` and `--share`, when the plan gave a room.
fn push_room(push: &mut impl FnMut(&str, String), room: Option<&Room>) {
    if let Some(room) = room {
        push("--mount", room.mount.clone());
        push("--share", room.share.name().to_string());
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
pub(crate) use runner::{Worker, clean_up_via_helper, oom_scores_via_helper, remove, start};
#[cfg(test)]
use runner::{helper_argv, removed_counts};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_round_trips_through_its_command_line_and_names_its_files() {
        let works = [
            Work::Cpu {
                workers: 2,
                load: 80.0,
            },
            Work::Memory {
                bytes: 200 << 20,
                raise: vec![OomScore {
                    pid: 42,
                    start: 9001,
                    value: -17,
                }],
            },
            Work::Io {
                dir: "/data".into(),
                workers: 2,
                file_bytes: 64 << 20,
                room: Some(Room {
                    mount: "/data".into(),
                    share: Share::Tmpfs,
                }),
            },
            Work::Fill {
                dir: "/data/".into(),
                amount: Amount::Percent(95.0),
                room: Some(Room {
                    mount: "/".into(),
                    share: Share::Shared,
                }),
            },
            Work::Fill {
                dir: "/".into(),
                amount: Amount::Bytes(1 << 30),
                room: None,
            },
            Work::Fill {
                dir: "/vol/x".into(),
                amount: Amount::Bytes(1),
                room: Some(Room {
                    mount: "/vol".into(),
                    share: Share::Own,
                }),
            },
            Work::Remove {
                files: vec!["/data/.gameday-fill-t".into()],
                restore: vec![OomScore {
                    pid: 1,
                    start: 77,
                    value: 0,
                }],
            },
            Work::Scores,
        ];
        for work in works {
            let argv = work.args();
            let mut a = Args::default();
            for pair in argv.chunks(2) {
                match pair[0].as_str() {
                    "--kind" => a.kind = pair[1].clone(),
                    "--workers" => a.workers = pair[1].parse().unwrap(),
                    "--load" => a.load = pair[1].parse().unwrap(),
                    "--bytes" => a.bytes = Some(pair[1].parse().unwrap()),
                    "--percent" => a.percent = Some(pair[1].parse().unwrap()),
                    "--path" => a.paths.push(pair[1].clone()),
                    "--raise-oom" => a.raise_oom.push(pair[1].clone()),
                    "--restore-oom" => a.restore_oom.push(pair[1].clone()),
                    "--mount" => a.mount = Some(pair[1].clone()),
                    "--share" => a.share = Some(pair[1].clone()),
                    other => panic!("unexpected {other}"),
                }
            }
            assert_eq!(Work::from_args(a).unwrap(), work);
        }
        let fill = Work::Fill {
            dir: "/data/".into(),
            amount: Amount::Percent(95.0),
            room: None,
        };
        assert_eq!(
            fill.files("gameday:3f9c2a:s1-f1-ab12"),
            vec!["/data/.gameday-fill-gameday-3f9c2a-s1-f1-ab12"]
        );
        let root = Work::Fill {
            dir: "/".into(),
            amount: Amount::Bytes(1),
            room: None,
        };
        assert_eq!(root.files("t"), vec!["/.gameday-fill-t"]);
        assert_eq!(removed_counts("removed=1 restored=2"), Some((1, 2)));
        assert_eq!(removed_counts("removed=0"), Some((0, 0)));
        assert_eq!(removed_counts("ready"), None);
        // Half a room is no room.
        let half = Args {
            kind: "fill".into(),
            bytes: Some(1),
            paths: vec!["/data".into()],
            mount: Some("/data".into()),
            ..Args::default()
        };
        assert!(Work::from_args(half).is_err());
    }

    #[test]
    fn reserves_are_a_share_with_a_floor() {
        assert_eq!(disk_reserve(100 * GIB), 5 * GIB);
        assert_eq!(disk_reserve(16 << 20), GIB);
        assert_eq!(memory_reserve(24 * GIB), 24 * GIB / 10);
        assert_eq!(memory_reserve(4 * GIB), GIB);
    }

    #[test]
    fn a_helper_worker_is_the_images_gameday_on_pid_1_and_placed() {
        let argv = helper_argv(
            "abc",
            "gameday:1:s1-f1",
            &Work::Cpu {
                workers: 1,
                load: 50.0,
            },
            Duration::from_secs(90),
        );
        assert_eq!(
            argv.join(" "),
            "/gameday stress --pid 1 --container abc --tag gameday:1:s1-f1 --kind cpu --workers 1 --load 50 --placed --max-seconds 90"
        );
    }
}
