//! gameday's own worker processes on this host (`gameday stress`, `gameday
//! http-proxy`, `gameday dns-proxy`, all hidden), found by the fault tag on their command line:
//! what a recipe kills when the runner that started them is gone.

use std::time::{Duration, Instant};

/// The hidden commands that run as workers.
const WORKERS: &[&[u8]] = &[b"stress", b"http-proxy", b"dns-proxy"];

/// How long a killed worker may take to be gone.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// Kill every worker of this host carrying `tag` and wait until they are
/// gone (their memory with them). Returns how many there were.
pub(crate) async fn kill_tagged(tag: &str) -> usize {
    let pids = tagged(tag);
    for pid in &pids {
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
    pids.len()
}

/// The PIDs of the workers on this host carrying `--tag TAG`.
fn tagged(tag: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            worker_argv(*pid).is_some_and(|argv| {
                argv.windows(2)
                    .any(|w| w[0] == b"--tag" && w[1] == tag.as_bytes())
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
