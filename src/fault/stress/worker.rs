//! The stress worker's side (`gameday stress`, hidden): join the target
//! container's cgroups, enter its mount namespace for paths, put the work
//! in place, say so (`in place: ...`), hold it, and clean up whatever ends
//! it (`stopped: ...`). Its work comes on its stdin ([`crate::worker`]).

use std::io::{Read, Seek, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::bounds::{self, Limit, Opened, Tables};
use super::{Amount, CHUNK, OomScore, Work, bytes, set_oom_scores};
use crate::worker::serve::{say, stopped};

/// What the worker raised, put back as it ends.
static RAISED: std::sync::OnceLock<Vec<OomScore>> = std::sync::OnceLock::new();

/// The OOM killer's first choice.
const OOM_FIRST: i32 = 1000;

/// Bytes the io workers wrote (reported when the worker stops).
static WRITTEN: AtomicU64 = AtomicU64::new(0);

/// A CPU worker's duty cycle period.
const CPU_PERIOD: Duration = Duration::from_millis(100);

/// How often a worker checks that the container's main process still runs.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// `gameday stress`: join the job's container, do the work, print `in
/// place: <what is in place>`, hold it until told to stop, clean up, print
/// `stopped: <why>`. Exit 1 (with the reason on stderr) when it could not
/// start; nothing is left then. `placed`: the engine started it inside the
/// container already (a helper container in its cgroup and PID namespace,
/// where `pid` is 1), so there is nothing to join.
pub(crate) fn serve(job: super::Job) -> u8 {
    let crate::worker::Targeted { at, work } = job;
    match run_worker(
        at.pid,
        &at.container,
        &at.tag,
        at.max(),
        work.bounded(),
        at.placed,
    ) {
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
    placed: bool,
) -> Result<(), String> {
    if !placed && !crate::fault::netns::pid_is_container(pid, container) {
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
    let joined = if placed {
        Vec::new()
    } else {
        cgroup_dirs(pid)?
    };
    for dir in &joined {
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
            .map_err(|e| format!("cannot join cgroup {}: {e}", dir.display()))?;
    }
    // The mount tables the directory is checked against, read from here.
    let tables = match &work {
        Work::Io { .. } | Work::Fill { .. } => Some(Tables::read(pid, placed)?),
        Work::Cpu { .. } | Work::Memory { .. } | Work::Remove { .. } | Work::Scores => None,
    };
    if work.in_mount_namespace() {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
            .map_err(|e| format!("cannot open the container's mount namespace: {e}"))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("cannot enter the container's mount namespace: {e}"))?;
    }
    if let Work::Remove { files, restore } = &work {
        let removed = files
            .iter()
            .filter(|f| std::fs::remove_file(f).is_ok())
            .count();
        let restored = set_oom_scores(restore, None);
        say(&format!("removed={removed} restored={restored}"));
        stopped("done");
        return Ok(());
    }
    if let Work::Scores = &work {
        for score in scores_here() {
            say(&format!("score={}", score.arg()));
        }
        stopped("done");
        return Ok(());
    }
    let opened = match &work {
        Work::Io { dir, room, .. } | Work::Fill { dir, room, .. } => {
            let room = room
                .as_ref()
                .ok_or("no filesystem to check the path against (its room)")?;
            let tables = tables.as_ref().ok_or("the mount tables were not read")?;
            Some(bounds::open(dir, room, tables)?)
        }
        Work::Cpu { .. } | Work::Memory { .. } | Work::Remove { .. } | Work::Scores => None,
    };
    let unshielded = match &work {
        Work::Memory { raise, bytes: size } => !guard_memory(*size, raise, &joined, placed)?,
        Work::Cpu { .. }
        | Work::Io { .. }
        | Work::Fill { .. }
        | Work::Remove { .. }
        | Work::Scores => false,
    };
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
    let detail = match begin(&work, &files, opened.as_ref()) {
        Ok(detail) if unshielded => format!(
            "{detail}; the worker stays as killable as any process (the container has no memory limit)"
        ),
        Ok(detail) => detail,
        Err(e) => {
            for f in &files {
                let _ = std::fs::remove_file(f);
            }
            return Err(e);
        }
    };
    crate::worker::serve::in_place(&detail);
    loop {
        std::thread::park();
    }
}

/// Before `memory_stress` allocates: without a memory limit (as its
/// cgroup says), `size` must fit in what this host can give. Then the
/// container's processes are raised to the OOM killer's first choice, and
/// the worker asks to be its last only inside a limit. Returns whether it
/// did ask.
fn guard_memory(
    size: u64,
    raise: &[OomScore],
    joined: &[std::path::PathBuf],
    placed: bool,
) -> Result<bool, String> {
    let limit = bounds::memory_limit(joined, placed);
    if limit == Limit::Unlimited
        && let Some(memory) = bounds::host_memory()
    {
        bounds::fits_in_host(size, memory)?;
    }
    // Past the limit the kernel kills the container's own processes,
    // as a leak in them would, rather than this allocation.
    set_oom_scores(raise, Some(OOM_FIRST));
    let _ = RAISED.set(raise.to_vec());
    // And this worker the last, where this host lets it say so (it takes
    // CAP_SYS_RESOURCE; without it, a worker larger than the container's
    // own processes can still be the one killed, and the run records
    // that). Never without a limit: past the host's memory, the kernel
    // would kill anything on it but the worker.
    Ok(match limit {
        Limit::Bytes(_) => {
            let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
            true
        }
        Limit::Unlimited => false,
    })
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
        stopped(&format!(
            "{why}; wrote {} with fsync",
            bytes(written as f64)
        ));
    } else {
        stopped(why);
    }
    std::process::exit(0)
}

/// Put the work in place; returns what is in place, in words. `opened`:
/// the checked directory of the kinds that write.
fn begin(work: &Work, files: &[String], opened: Option<&Opened>) -> Result<String, String> {
    match work {
        Work::Cpu { workers, load } => {
            let busy = CPU_PERIOD.mul_f64(load / 100.0);
            for _ in 0..*workers {
                std::thread::spawn(move || {
                    // Busy until this thread has had `busy` of CPU time in
                    // the period (not of wall time: on a contended machine
                    // it keeps asking), then idle for the rest of it.
                    loop {
                        let start = Instant::now();
                        let cpu_start = thread_cpu_time();
                        let mut x = 0u64;
                        while thread_cpu_time().saturating_sub(cpu_start) < busy
                            && start.elapsed() < CPU_PERIOD
                        {
                            for _ in 0..1000 {
                                x = std::hint::black_box(x.wrapping_mul(6364136223846793005) + 1);
                            }
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
            ..
        } => {
            let opened = opened.ok_or("no directory was opened")?;
            write_in(opened, dir, files, *workers, *file_bytes)
        }
        Work::Fill { dir, amount, .. } => {
            let opened = opened.ok_or("no directory was opened")?;
            fill_in(opened, dir, &files[0], *amount)
        }
        Work::Remove { .. } | Work::Scores => Ok(String::new()),
    }
}

/// `workers` writers in `dir`, each rewriting its file of `file_bytes`
/// (smaller when a shared filesystem has less above its reserve).
fn write_in(
    opened: &Opened,
    dir: &str,
    files: &[String],
    workers: u32,
    file_bytes: u64,
) -> Result<String, String> {
    let left = opened.left()?;
    let mut size = file_bytes;
    let mut capped = String::new();
    if left.reserve > 0 && file_bytes * u64::from(workers) > left.bytes {
        size = left.bytes / u64::from(workers) / CHUNK as u64 * CHUNK as u64;
        if size == 0 {
            return Err(bounds::no_room(dir, opened.usage()?, left));
        }
        capped = format!(
            "; capped from {}: the filesystem is shared and keeps {} free",
            bytes(file_bytes as f64),
            bytes(left.reserve as f64)
        );
    }
    for file in files {
        let mut f = opened.create(file)?;
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
        "{workers} writer(s) with fsync in {dir} ({} per file{capped})",
        bytes(size as f64)
    ))
}

/// One file in `dir` of `amount` (less on a shared filesystem, which
/// keeps its reserve free).
fn fill_in(opened: &Opened, dir: &str, file: &str, amount: Amount) -> Result<String, String> {
    let before = opened.usage()?;
    let asked = match amount {
        Amount::Bytes(b) => b,
        Amount::Percent(p) => {
            let target = (before.used + before.avail) as f64 * p / 100.0;
            (target - before.used as f64).max(0.0) as u64
        }
    };
    let left = opened.left()?;
    let want = if left.reserve > 0 {
        asked.min(left.bytes)
    } else {
        asked
    };
    if want == 0 && asked > 0 {
        return Err(bounds::no_room(dir, before, left));
    }
    let mut f = opened.create(file)?;
    let wrote = fill(&mut f, want);
    let _ = f.sync_all();
    let after = opened.usage()?;
    let short = if want < asked {
        format!(
            " ({} asked: capped, the filesystem is shared and keeps {} free)",
            bytes(asked as f64),
            bytes(left.reserve as f64)
        )
    } else if wrote < want && matches!(amount, Amount::Bytes(_)) {
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

/// The OOM scores of every process this worker sees but itself and other
/// workers: placed in a container's PID namespace, the container's own.
fn scores_here() -> Vec<OomScore> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut scores: Vec<OomScore> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me && !crate::worker::leftovers::is_fault_worker(*pid))
        .filter_map(|pid| {
            let value = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).ok()?;
            Some(OomScore {
                pid,
                start: super::start_time(i64::from(pid))?,
                value: value.trim().parse().ok()?,
            })
        })
        .collect();
    scores.sort_by_key(|s| s.pid);
    scores
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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

/// Whether the process behind an open `/proc/PID/stat` still runs.
fn still_runs(stat: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 64];
    matches!(stat.read_at(&mut buf, 0), Ok(n) if n > 0)
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
}
