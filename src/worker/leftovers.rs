//! The one way to find workers a runner left behind: each
//! [`WorkerKind`] says where a leftover of it is ([`WorkerKind::left_as`],
//! an exhaustive `match`), and this module looks there. Used by the
//! recipes' reverts (which the run, the watchdog and `recover` execute),
//! by `recover --scope` (`safety::sweep`) and by the claim's liveness
//! check (a run's watchdog still alive).

use std::time::{Duration, Instant};

use super::{TAG_LABEL, WorkerKind};
use crate::docker::{ContainerInfo, Engine};

/// Where a leftover worker of a kind is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeftAs {
    /// A process (on this host, or in a helper container, which this host
    /// sees too) carrying its fault's `--tag` and `--container`, or a
    /// helper container labelled with the tag.
    FaultWorker,
    /// Only a helper container labelled with its fault's tag (it never
    /// runs as a process of its own on this host).
    Helper,
    /// A process carrying `--run-id RUN`, or a container labelled with
    /// the run (the claim's liveness and `recover` look for it).
    RunWatchdog,
}

impl WorkerKind {
    /// Where a leftover of this kind is found.
    pub(crate) fn left_as(self) -> LeftAs {
        match self {
            WorkerKind::Stress | WorkerKind::HttpProxy | WorkerKind::DnsProxy => {
                LeftAs::FaultWorker
            }
            WorkerKind::PacketEngine | WorkerKind::ConntrackForget | WorkerKind::KillMarked => {
                LeftAs::Helper
            }
            WorkerKind::Watchdog => LeftAs::RunWatchdog,
        }
    }
}

/// How long a killed worker may take to be gone.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// Every fault tag starts so (`gameday:<run>:<fault>`).
const TAG_PREFIX: &[u8] = b"gameday:";

/// A worker process on this host, as its command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leftover {
    pub pid: i32,
    pub kind: WorkerKind,
    /// The container it works on (`--container`, a full ID).
    pub container: String,
    /// Its fault's tag (`--tag`).
    pub tag: String,
}

/// Kill every fault worker of this host carrying `tag` and wait until they
/// are gone (their memory with them). Returns how many there were.
pub(crate) async fn kill_tagged(tag: &str) -> usize {
    let pids: Vec<i32> = fault_workers()
        .into_iter()
        .filter(|w| w.tag == tag)
        .map(|w| w.pid)
        .collect();
    kill(&pids).await;
    pids.len()
}

/// Let every fault worker of this host carrying `tag` end on its own for
/// up to `grace` (a proxy whose input closed is failing open: it takes
/// its redirect away, then forgets the flows it translated, which nobody
/// else can once the redirect is gone), then kill those still there.
/// Returns how many there were.
pub(crate) async fn end_tagged(tag: &str, grace: Duration) -> usize {
    let pids: Vec<i32> = fault_workers()
        .into_iter()
        .filter(|w| w.tag == tag)
        .map(|w| w.pid)
        .collect();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pids.iter().any(|p| alive(*p)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    kill(&left).await;
    pids.len()
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The fault workers on this host working on one of `containers` (full
/// IDs).
pub(crate) fn on_containers(containers: &[&str]) -> Vec<Leftover> {
    fault_workers()
        .into_iter()
        .filter(|w| containers.contains(&w.container.as_str()))
        .collect()
}

/// SIGKILL these processes and wait (a few seconds at most) until they
/// are gone.
pub(crate) async fn kill(pids: &[i32]) {
    for pid in pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let deadline = Instant::now() + GONE_WITHIN;
    while Instant::now() < deadline
        && pids
            .iter()
            .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every fault worker on this host that carries a gameday tag.
fn fault_workers() -> Vec<Leftover> {
    pids()
        .filter_map(|pid| {
            let (kind, argv) = worker_argv(pid)?;
            if kind.left_as() != LeftAs::FaultWorker {
                return None;
            }
            let tag = value(&argv, b"--tag").filter(|t| t.as_bytes().starts_with(TAG_PREFIX))?;
            Some(Leftover {
                pid,
                kind,
                container: value(&argv, b"--container").unwrap_or_default(),
                tag,
            })
        })
        .collect()
}

/// Is a watchdog process of run `run_id` alive in this PID namespace,
/// other than this process? Watchdogs carry `--run-id ID`.
pub(crate) fn watchdog_alive(run_id: &str) -> bool {
    if run_id.is_empty() {
        return false;
    }
    let me = std::process::id() as i32;
    pids().filter(|pid| *pid != me).any(|pid| {
        worker_argv(pid).is_some_and(|(kind, argv)| {
            kind.left_as() == LeftAs::RunWatchdog
                && value(&argv, b"--run-id").as_deref() == Some(run_id)
        })
    })
}

/// Is process `pid` a fault worker (of any fault)?
pub(crate) fn is_fault_worker(pid: i32) -> bool {
    worker_argv(pid).is_some_and(|(kind, _)| kind.left_as() == LeftAs::FaultWorker)
}

fn pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
}

/// The value after `flag` on a command line.
fn value(argv: &[Vec<u8>], flag: &[u8]) -> Option<String> {
    argv.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| String::from_utf8_lossy(&w[1]).into_owned())
}

/// The kind and command line of process `pid` if it is a worker.
fn worker_argv(pid: i32) -> Option<(WorkerKind, Vec<Vec<u8>>)> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv: Vec<Vec<u8>> = raw.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    let kind = WorkerKind::from_key(std::str::from_utf8(argv.get(1)?).ok()?)?;
    Some((kind, argv))
}

/// Stop and remove every helper container still serving `tag` (a runner
/// that died leaves its packet engines, proxies and stress helpers).
pub(crate) async fn remove_helpers(engine: &Engine, tag: &str) -> usize {
    let ids = engine
        .containers_labelled(TAG_LABEL, tag)
        .await
        .unwrap_or_default();
    for id in &ids {
        let _ = engine.finish(id, true).await;
    }
    ids.len()
}

/// Stop and remove every helper container serving one of `containers`
/// (a sweep without a journal: whatever its tag), with what each was.
pub(crate) async fn remove_helpers_serving(
    engine: &Engine,
    containers: &[ContainerInfo],
) -> Vec<(String, String)> {
    let mut removed = Vec::new();
    for helper in engine
        .containers_labelled("gameday.helper", "1")
        .await
        .unwrap_or_default()
    {
        let Ok((network, pid)) = engine.shared_namespaces(&helper).await else {
            continue;
        };
        let serves = |mode: &str| {
            let target = mode.strip_prefix("container:").unwrap_or_default();
            containers
                .iter()
                .find(|c| !target.is_empty() && c.id.starts_with(target))
        };
        let (served, what) = match (serves(&pid), serves(&network)) {
            (Some(c), _) => (c, "a stress helper placed in its PID namespace"),
            (None, Some(c)) => (
                c,
                "a helper in its network namespace (packet engine, proxy or rule command)",
            ),
            (None, None) => continue,
        };
        if engine.finish(&helper, true).await.is_ok() {
            removed.push((served.name.clone(), format!("stopped and removed {what}")));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every worker that holds a fault on this host is found by its tag;
    /// the rest by their helpers' labels or their run.
    #[test]
    fn every_kind_is_found_somewhere() {
        let fault_workers: Vec<&str> = WorkerKind::ALL
            .iter()
            .filter(|k| k.left_as() == LeftAs::FaultWorker)
            .map(|k| k.key())
            .collect();
        assert_eq!(fault_workers, ["stress", "http-proxy", "dns-proxy"]);
        assert_eq!(WorkerKind::Watchdog.left_as(), LeftAs::RunWatchdog);
    }
}
