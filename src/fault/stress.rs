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

use std::io::{Read, Seek, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

use crate::gameday::model::Fault;

/// How long a worker may take to be in place (a large fill written without
/// `fallocate`).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a stopped worker may take to clean up and exit.
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// How often a worker checks that the container's main process still runs.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// A CPU worker's duty cycle period.
const CPU_PERIOD: Duration = Duration::from_millis(100);
/// The unit of allocation and of writes.
const CHUNK: usize = 1 << 20;

/// Bytes the io workers wrote (reported when the worker stops).
static WRITTEN: AtomicU64 = AtomicU64::new(0);

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
    },
    /// One file in `dir`, of a size or up to a share of the filesystem.
    Fill { dir: String, amount: Amount },
    /// Remove these files (the recipe's clean-up).
    Remove { files: Vec<String> },
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
    fn arg(&self) -> String {
        format!("{}:{}:{}", self.pid, self.start, self.value)
    }

    fn parse(text: &str) -> Option<OomScore> {
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

/// The OOM killer's first choice.
const OOM_FIRST: i32 = 1000;

/// What the worker raised, put back as it ends.
static RAISED: std::sync::OnceLock<Vec<OomScore>> = std::sync::OnceLock::new();

/// How much a `disk_fill` writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Amount {
    /// Until the filesystem is this full (df's Use%).
    Percent(f64),
    Bytes(u64),
}

/// The worker's command line, as the hidden `stress` command takes it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Args {
    pub kind: String,
    pub workers: u32,
    pub load: f64,
    pub bytes: Option<u64>,
    pub percent: Option<f64>,
    pub paths: Vec<String>,
    pub raise_oom: Vec<String>,
}

impl Work {
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
            } => {
                push("--kind", "io".into());
                push("--path", dir.clone());
                push("--workers", workers.to_string());
                push("--bytes", file_bytes.to_string());
            }
            Work::Fill { dir, amount } => {
                push("--kind", "fill".into());
                push("--path", dir.clone());
                match amount {
                    Amount::Percent(p) => push("--percent", p.to_string()),
                    Amount::Bytes(b) => push("--bytes", b.to_string()),
                }
            }
            Work::Remove { files } => {
                push("--kind", "remove".into());
                for f in files {
                    push("--path", f.clone());
                }
            }
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
        Ok(match a.kind.as_str() {
            "cpu" => Work::Cpu {
                workers: a.workers.max(1),
                load: a.load.clamp(1.0, 100.0),
            },
            "memory" => Work::Memory {
                bytes: a.bytes.ok_or("--bytes is required")?,
                raise: a
                    .raise_oom
                    .iter()
                    .map(|r| OomScore::parse(r).ok_or(format!("bad --raise-oom {r}")))
                    .collect::<Result<_, _>>()?,
            },
            "io" => Work::Io {
                dir: path()?,
                workers: a.workers.max(1),
                file_bytes: a.bytes.unwrap_or(64 * CHUNK as u64).max(CHUNK as u64),
            },
            "fill" => Work::Fill {
                dir: path()?,
                amount: match (a.percent, a.bytes) {
                    (Some(p), None) => Amount::Percent(p),
                    (None, Some(b)) => Amount::Bytes(b),
                    _ => return Err("give one of --percent and --bytes".into()),
                },
            },
            "remove" => Work::Remove { files: a.paths },
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
            Work::Cpu { .. } | Work::Memory { .. } | Work::Remove { .. } => Vec::new(),
        }
    }

    fn in_mount_namespace(&self) -> bool {
        match self {
            Work::Io { .. } | Work::Fill { .. } | Work::Remove { .. } => true,
            Work::Cpu { .. } | Work::Memory { .. } => false,
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

/// The work a stress fault asks for; `None` for every other kind.
pub(crate) fn work_of(fault: &Fault) -> Option<Work> {
    match fault {
        Fault::CpuStress(c) => Some(Work::Cpu {
            workers: c.workers,
            load: c.load.0,
        }),
        Fault::MemoryStress(m) => Some(Work::Memory {
            bytes: m.size.0 as u64,
            raise: Vec::new(),
        }),
        Fault::IoStress(i) => Some(Work::Io {
            dir: i.path.clone(),
            workers: i.workers,
            file_bytes: i.size.0 as u64,
        }),
        Fault::DiskFill(d) => Some(Work::Fill {
            dir: d.path.clone(),
            amount: match (d.fill, d.size) {
                (Some(p), _) => Amount::Percent(p.0),
                (None, Some(b)) => Amount::Bytes(b.0 as u64),
                (None, None) => Amount::Percent(100.0),
            },
        }),
        Fault::Kill(_)
        | Fault::Stop(_)
        | Fault::Restart(_)
        | Fault::Pause(_)
        | Fault::Delay(_)
        | Fault::Loss(_)
        | Fault::Duplicate(_)
        | Fault::Corrupt(_)
        | Fault::Bandwidth(_)
        | Fault::Partition(_)
        | Fault::Disconnect(_)
        | Fault::Process(_)
        | Fault::Script(_) => None,
    }
}

// ---------------------------------------------------------------- worker side

/// `gameday stress`: join `pid`'s container, do the work, print `ready
/// <what is in place>`, hold it until told to stop, clean up, print
/// `stopped: <why>`. Exit 1 (with the reason on stderr) when it could not
/// start; nothing is left then.
pub(crate) fn serve(pid: i64, container: &str, tag: &str, max: Duration, work: Work) -> u8 {
    match run_worker(pid, container, tag, max, work) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "gameday stress: {e}");
            1
        }
    }
}

fn run_worker(
    pid: i64,
    container: &str,
    tag: &str,
    max: Duration,
    work: Work,
) -> Result<(), String> {
    if !super::netns::pid_is_container(pid, container) {
        return Err(format!(
            "process {pid} on this host is not container {container}"
        ));
    }
    // Opened on this host's /proc before anything else: it reads as an
    // error once that process has ended, whatever namespace this worker is
    // in by then and whoever gets the PID next.
    let main_stat = std::fs::File::open(format!("/proc/{pid}/stat"))
        .map_err(|_| format!("process {pid} is gone"))?;
    // Cgroups first (their files are this host's), then the mount
    // namespace (entered while this process still has one thread).
    for dir in cgroup_dirs(pid)? {
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
            .map_err(|e| format!("cannot join cgroup {}: {e}", dir.display()))?;
    }
    if work.in_mount_namespace() {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
            .map_err(|e| format!("cannot open the container's mount namespace: {e}"))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("cannot enter the container's mount namespace: {e}"))?;
    }
    if let Work::Remove { files } = &work {
        let removed = files
            .iter()
            .filter(|f| std::fs::remove_file(f).is_ok())
            .count();
        say(&format!("removed={removed}"));
        return Ok(());
    }
    if let Work::Memory { raise, .. } = &work {
        // Past the limit the kernel kills the container's own processes,
        // as a leak in them would, rather than this allocation.
        set_oom_scores(raise, Some(OOM_FIRST));
        let _ = RAISED.set(raise.clone());
        // And this worker the last, where this host lets it say so (it
        // takes CAP_SYS_RESOURCE; without it, a worker larger than the
        // container's own processes can still be the one killed, and the
        // run records that).
        let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
    }
    let files = work.files(tag);
    // Whatever ends the worker ends it from here on, even while the work
    // is still being put in place.
    let stop_files = files.clone();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        finish(&stop_files, "told to stop");
    });
    let watch_files = files.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + max;
        loop {
            std::thread::sleep(WATCH_EVERY);
            if !still_runs(&main_stat) {
                finish(&watch_files, "the container's main process ended");
            }
            if Instant::now() >= deadline {
                finish(&watch_files, "its longest lifetime passed");
            }
        }
    });
    let detail = match begin(&work, &files) {
        Ok(detail) => detail,
        Err(e) => {
            for f in &files {
                let _ = std::fs::remove_file(f);
            }
            return Err(e);
        }
    };
    say(&format!("ready {detail}"));
    loop {
        std::thread::park();
    }
}

/// Remove the files, say why, and end the process (its busy threads too).
fn finish(files: &[String], why: &str) -> ! {
    if let Some(raised) = RAISED.get() {
        set_oom_scores(raised, None);
    }
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    let written = WRITTEN.load(Ordering::Relaxed);
    if written > 0 {
        say(&format!(
            "stopped: {why}; wrote {} with fsync",
            bytes(written as f64)
        ));
    } else {
        say(&format!("stopped: {why}"));
    }
    std::process::exit(0)
}

/// A line to whoever started the worker, who may be gone: never a panic.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn bytes(n: f64) -> String {
    crate::gameday::units::ByteSize(n).to_string()
}

/// Put the work in place; returns what is in place, in words.
fn begin(work: &Work, files: &[String]) -> Result<String, String> {
    match work {
        Work::Cpu { workers, load } => {
            let busy = CPU_PERIOD.mul_f64(load / 100.0);
            for _ in 0..*workers {
                std::thread::spawn(move || {
                    loop {
                        let start = Instant::now();
                        let mut x = 0u64;
                        while start.elapsed() < busy {
                            x = std::hint::black_box(x.wrapping_mul(6364136223846793005) + 1);
                        }
                        if let Some(rest) = CPU_PERIOD.checked_sub(start.elapsed()) {
                            std::thread::sleep(rest);
                        }
                    }
                });
            }
            Ok(format!("{workers} busy worker(s) at {load}% each"))
        }
        Work::Memory { bytes: total, .. } => {
            let mut held: Vec<Vec<u8>> = Vec::new();
            let mut left = *total as usize;
            while left > 0 {
                let n = left.min(CHUNK * 8);
                let mut block = vec![0u8; n];
                for i in (0..n).step_by(4096) {
                    block[i] = 1;
                }
                held.push(std::hint::black_box(block));
                left -= n;
            }
            // Held for the worker's life: it ends by `exit`.
            std::mem::forget(held);
            Ok(format!("{} allocated and touched", bytes(*total as f64)))
        }
        Work::Io {
            dir,
            workers,
            file_bytes,
        } => {
            check_dir(dir)?;
            for file in files {
                let mut f = create_new(file)?;
                let size = *file_bytes;
                std::thread::spawn(move || {
                    let block = vec![0x5au8; CHUNK];
                    let mut at = 0u64;
                    loop {
                        if at + CHUNK as u64 > size {
                            at = 0;
                            if f.rewind().is_err() {
                                return;
                            }
                        }
                        if f.write_all(&block).is_err() || f.sync_data().is_err() {
                            // A full disk: try again later, as a busy writer would.
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                        at += CHUNK as u64;
                        WRITTEN.fetch_add(CHUNK as u64, Ordering::Relaxed);
                    }
                });
            }
            Ok(format!(
                "{workers} writer(s) with fsync in {dir} ({} per file)",
                bytes(*file_bytes as f64)
            ))
        }
        Work::Fill { dir, amount } => {
            check_dir(dir)?;
            let before = usage(dir)?;
            let want = match amount {
                Amount::Bytes(b) => *b,
                Amount::Percent(p) => {
                    let target = (before.used + before.avail) as f64 * p / 100.0;
                    (target - before.used as f64).max(0.0) as u64
                }
            };
            let file = &files[0];
            let mut f = create_new(file)?;
            let wrote = fill(&mut f, want);
            let _ = f.sync_all();
            let after = usage(dir)?;
            let short = if wrote < want && matches!(amount, Amount::Bytes(_)) {
                format!(" ({} asked: the filesystem is full)", bytes(want as f64))
            } else {
                String::new()
            };
            Ok(format!(
                "wrote {}{short} to {file}: {dir} is {:.0}% full ({} of {})",
                bytes(wrote as f64),
                after.percent(),
                bytes(after.used as f64),
                bytes((after.used + after.avail) as f64)
            ))
        }
        Work::Remove { .. } => Ok(String::new()),
    }
}

/// Write `want` bytes (fallocate when the filesystem can, else blocks of
/// zeros until done or full). Returns what was written.
fn fill(f: &mut std::fs::File, want: u64) -> u64 {
    if want == 0 {
        return 0;
    }
    if nix::fcntl::fallocate(
        &*f,
        nix::fcntl::FallocateFlags::empty(),
        0,
        want as libc::off_t,
    )
    .is_ok()
    {
        return want;
    }
    let block = vec![0u8; CHUNK];
    let mut wrote = 0u64;
    while wrote < want {
        let n = (want - wrote).min(CHUNK as u64) as usize;
        match f.write(&block[..n]) {
            Ok(0) | Err(_) => break,
            Ok(k) => wrote += k as u64,
        }
    }
    wrote
}

fn check_dir(dir: &str) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("{dir} is not a directory in the container")),
        Err(e) => Err(format!("{dir} in the container: {e}")),
    }
}

/// A new file, never one that exists and never through a symlink.
fn create_new(path: &str) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot create {path} in the container: {e}"))
}

/// A filesystem's use, as `df` counts it.
struct Usage {
    used: u64,
    avail: u64,
}

impl Usage {
    fn percent(&self) -> f64 {
        let all = self.used + self.avail;
        if all == 0 {
            return 0.0;
        }
        100.0 * self.used as f64 / all as f64
    }
}

fn usage(dir: &str) -> Result<Usage, String> {
    let s = nix::sys::statvfs::statvfs(dir).map_err(|e| format!("statvfs {dir}: {e}"))?;
    let frag = s.fragment_size() as u64;
    Ok(Usage {
        used: (s.blocks() as u64 - s.blocks_free() as u64) * frag,
        avail: s.blocks_available() as u64 * frag,
    })
}

/// Whether the process behind an open `/proc/PID/stat` still runs.
fn still_runs(stat: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 64];
    matches!(stat.read_at(&mut buf, 0), Ok(n) if n > 0)
}

/// A process's start time (field 22 of `/proc/PID/stat`): a PID reused by
/// another process has another one.
fn start_time(pid: i64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// The directories of `pid`'s cgroups on this host: one per v1 hierarchy
/// that has controllers, or the v2 one.
fn cgroup_dirs(pid: i64) -> Result<Vec<std::path::PathBuf>, String> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| format!("cannot read the cgroups of process {pid}: {e}"))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read this host's mounts: {e}"))?;
    Ok(cgroup_dirs_of(&own, &mounts))
}

/// Pure part of [`cgroup_dirs`]: `/proc/PID/cgroup` against
/// `/proc/self/mountinfo`. Named v1 hierarchies (`name=systemd`) are left
/// alone; the v2 line counts only where no v1 controller is mounted.
fn cgroup_dirs_of(cgroup: &str, mountinfo: &str) -> Vec<std::path::PathBuf> {
    // (mount point, mount root, controllers or None for cgroup2)
    let mounts: Vec<(&str, &str, Option<Vec<&str>>)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split_whitespace().collect();
            let (root, point) = (*fields.get(3)?, *fields.get(4)?);
            let mut r = right.split_whitespace();
            match (r.next()?, r.nth(1)) {
                ("cgroup2", _) => Some((point, root, None)),
                ("cgroup", Some(opts)) => Some((point, root, Some(opts.split(',').collect()))),
                _ => None,
            }
        })
        .collect();
    let has_v1 = mounts.iter().any(|m| m.2.is_some());
    let join = |point: &str, root: &str, path: &str| {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .trim_start_matches('/');
        std::path::Path::new(point).join(rel)
    };
    cgroup
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            if controllers.is_empty() {
                if has_v1 {
                    return None;
                }
                let (point, root, _) = mounts.iter().find(|m| m.2.is_none())?;
                return Some(join(point, root, path));
            }
            if controllers.starts_with("name=") {
                return None;
            }
            let wanted: Vec<&str> = controllers.split(',').collect();
            let (point, root, _) = mounts.iter().find(|(_, _, opts)| {
                opts.as_ref()
                    .is_some_and(|o| wanted.iter().all(|w| o.contains(w)))
            })?;
            Some(join(point, root, path))
        })
        .collect()
}

// ---------------------------------------------------------------- runner side

/// A worker in place, started by the run. Dropping it kills it.
#[derive(Debug)]
pub(crate) struct Worker {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

/// Start a worker on container `container_id` (main process `pid` on this
/// host) and wait until its work is in place. Returns it and what is in
/// place, in words.
pub(crate) async fn start(
    pid: i64,
    container_id: &str,
    tag: &str,
    work: &Work,
    max_lifetime: Duration,
) -> Result<(Worker, String), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find gameday itself: {e}"))?;
    let mut child = tokio::process::Command::new(exe)
        .arg("stress")
        .args([
            "--pid",
            &pid.to_string(),
            "--container",
            container_id,
            "--tag",
            tag,
        ])
        .args(["--max-seconds", &max_lifetime.as_secs().max(1).to_string()])
        .args(work.args())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        // Its own group: a Ctrl-C at the terminal is the runner's to handle.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start a stress worker: {e}"))?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stdout = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(READY_WITHIN, stdout.next_line()).await;
    let line = match first {
        Ok(Ok(Some(line))) => line,
        Ok(_) => {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut err).await;
            }
            let status = child.wait().await;
            // Killed while allocating: the container's memory limit was
            // reached and its OOM killer chose the worker. That is what
            // happened, not a failure to apply.
            if let (Work::Memory { bytes, .. }, Ok(status)) = (work, &status) {
                use std::os::unix::process::ExitStatusExt;
                if status.signal() == Some(libc::SIGKILL) {
                    let detail = format!(
                        "the worker was killed (SIGKILL: the OOM killer, at the container's memory limit) before it held {}",
                        self::bytes(*bytes as f64)
                    );
                    return Ok((
                        Worker {
                            child,
                            stdin,
                            stdout,
                        },
                        detail,
                    ));
                }
            }
            let err = err.trim().trim_start_matches("gameday stress: ");
            return Err(if err.is_empty() {
                "the stress worker ended before it was in place".into()
            } else {
                err.to_string()
            });
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "the stress worker was not in place after {}s",
                READY_WITHIN.as_secs()
            ));
        }
    };
    let detail = match line.strip_prefix("ready ") {
        Some(d) => d.to_string(),
        // It ended while putting its work in place (the container's main
        // process ended: an OOM kill, most likely): that is what happened.
        None => format!(
            "{} before all of it was in place",
            line.trim_start_matches("stopped: ")
        ),
    };
    Ok((
        Worker {
            child,
            stdin,
            stdout,
        },
        detail,
    ))
}

impl Worker {
    /// Stop it: it removes its files and exits. Returns its last word
    /// (`stopped: ...`), or None when it had to be killed.
    pub(crate) async fn stop(mut self) -> Option<String> {
        drop(self.stdin.take());
        let last = tokio::time::timeout(STOP_WITHIN, async {
            let mut last = None;
            while let Ok(Some(line)) = self.stdout.next_line().await {
                last = Some(line);
            }
            last
        })
        .await
        .ok()
        .flatten();
        match tokio::time::timeout(STOP_WITHIN, self.child.wait()).await {
            Ok(_) => last.map(|l| l.trim_start_matches("stopped: ").to_string()),
            Err(_) => {
                let _ = self.child.kill().await;
                None
            }
        }
    }
}

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
    let deadline = Instant::now() + STOP_WITHIN;
    while Instant::now() < deadline && pids.iter().any(|p| start_time(i64::from(*p)).is_some()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pids.len()
}

/// The PIDs of `gameday stress ... --tag TAG` processes on this host.
fn tagged(tag: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let argv: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
                argv.get(1) == Some(&&b"stress"[..])
                    && argv
                        .windows(2)
                        .any(|w| w[0] == b"--tag" && w[1] == tag.as_bytes())
            })
        })
        .collect()
}

/// Remove `files` inside container `container_id` (main process `pid`),
/// through a short-lived worker in its mount namespace. Returns how many
/// were there.
pub(crate) async fn remove(
    pid: i64,
    container_id: &str,
    tag: &str,
    files: &[String],
) -> Result<usize, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find gameday itself: {e}"))?;
    let work = Work::Remove {
        files: files.to_vec(),
    };
    let out = tokio::time::timeout(
        STOP_WITHIN,
        tokio::process::Command::new(exe)
            .arg("stress")
            .args([
                "--pid",
                &pid.to_string(),
                "--container",
                container_id,
                "--tag",
                tag,
            ])
            .args(work.args())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "removing the files took too long".to_string())?
    .map_err(|e| format!("cannot start gameday to remove the files: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find_map(|l| l.strip_prefix("removed=")) {
        Some(n) => Ok(n.trim().parse().unwrap_or(0)),
        None => Err(String::from_utf8_lossy(&out.stderr)
            .trim()
            .trim_start_matches("gameday stress: ")
            .to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
";

    #[test]
    fn v1_hierarchies_are_joined_by_their_controllers_and_v2_only_alone() {
        let cgroup = "\
12:memory:/docker/abc
4:cpu,cpuacct:/docker/abc
1:name=systemd:/docker/abc
0::/docker/abc
";
        let dirs = cgroup_dirs_of(cgroup, MOUNTINFO_V1);
        assert_eq!(
            dirs,
            vec![
                std::path::PathBuf::from("/sys/fs/cgroup/memory/docker/abc"),
                std::path::PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/docker/abc"),
            ]
        );
        let v2 = "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup_dirs_of("0::/system.slice/docker-abc.scope\n", v2),
            vec![std::path::PathBuf::from(
                "/sys/fs/cgroup/system.slice/docker-abc.scope"
            )]
        );
        // A cgroup mount whose root is not `/` (inside a container).
        let nested =
            "40 23 0:30 /docker/outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            cgroup_dirs_of("9:memory:/docker/outer/inner\n", nested),
            vec![std::path::PathBuf::from("/sys/fs/cgroup/memory/inner")]
        );
    }

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
            },
            Work::Fill {
                dir: "/data/".into(),
                amount: Amount::Percent(95.0),
            },
            Work::Fill {
                dir: "/".into(),
                amount: Amount::Bytes(1 << 30),
            },
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
                    other => panic!("unexpected {other}"),
                }
            }
            assert_eq!(Work::from_args(a).unwrap(), work);
        }
        let fill = Work::Fill {
            dir: "/data/".into(),
            amount: Amount::Percent(95.0),
        };
        assert_eq!(
            fill.files("gameday:3f9c2a:s1-f1-ab12"),
            vec!["/data/.gameday-fill-gameday-3f9c2a-s1-f1-ab12"]
        );
        let root = Work::Fill {
            dir: "/".into(),
            amount: Amount::Bytes(1),
        };
        assert_eq!(root.files("t"), vec!["/.gameday-fill-t"]);
    }
}
