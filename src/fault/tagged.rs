//! gameday's own worker processes on this host (`gameday stress`, `gameday
//! http-proxy`, `gameday dns-proxy`, all hidden), found by the fault tag on
//! their command line: what a recipe kills when the runner that started
//! them is gone, and what `recover --scope` kills without a journal (every
//! worker whose `--container` is one of the scope's, whatever its tag).

use std::time::{Duration, Instant};

/// The hidden commands that run as workers.
const WORKERS: &[&[u8]] = &[b"stress", b"http-proxy", b"dns-proxy"];

/// How long a killed worker may take to be gone.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// Every fault tag starts so (`gameday:<run>:<fault>`).
const TAG_PREFIX: &[u8] = b"gameday:";

/// Kill every worker of this host carrying `tag` and wait until they are
/// gone (their memory with them). Returns how many there were.
pub(crate) async fn kill_tagged(tag: &str) -> usize {
    let pids: Vec<i32> = workers()
        .into_iter()
        .filter(|w| w.tag == tag)
        .map(|w| w.pid)
        .collect();
    kill(&pids).await;
    pids.len()
}

/// A worker process on this host, as its command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Worker {
    pub pid: i32,
    /// `stress`, `http-proxy` or `dns-proxy`.
    pub command: String,
    /// The container it works on (`--container`, a full ID).
    pub container: String,
    /// Its fault's tag (`--tag`).
    pub tag: String,
}

/// The workers on this host working on one of `containers` (full IDs).
pub(crate) fn on_containers(containers: &[&str]) -> Vec<Worker> {
    workers()
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

/// Every worker on this host that carries a gameday tag.
fn workers() -> Vec<Worker> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let argv = worker_argv(pid)?;
            let value = |flag: &[u8]| {
                argv.windows(2)
                    .find(|w| w[0] == flag)
                    .map(|w| String::from_utf8_lossy(&w[1]).into_owned())
            };
            let tag = value(b"--tag").filter(|t| t.as_bytes().starts_with(TAG_PREFIX))?;
            Some(Worker {
                pid,
                command: String::from_utf8_lossy(&argv[1]).into_owned(),
                container: value(b"--container").unwrap_or_default(),
                tag,
            })
        })
        .collect()
}

/// The command line of process `pid` if it is a worker.
fn worker_argv(pid: i32) -> Option<Vec<Vec<u8>>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv: Vec<Vec<u8>> = raw.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    let command = argv.get(1)?;
    WORKERS.contains(&command.as_slice()).then_some(argv)
}

/// Is process `pid` a worker (of any fault)?
pub(crate) fn is_worker(pid: i32) -> bool {
    worker_argv(pid).is_some()
}
