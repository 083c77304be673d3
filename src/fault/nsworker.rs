//! The edges every worker in a container's network namespace shares (the
//! HTTP and DNS proxies): entering the namespace (or finding itself placed
//! in it by a helper container), running `iptables` there, and noticing
//! what ends it: its stdin closing
//! (the revert, or the runner died), the container's main process ending,
//! or its longest lifetime passing.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often a worker checks that the container's main process runs.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Enter the network namespace of process `pid` (container `container`),
/// unless `placed` there already. Returns a handle on the main process's
/// stat file, opened on this host's /proc first: reading it fails once
/// that process has ended, whoever gets its PID next. Call it while the
/// process has one thread: every thread and socket after is the
/// container's, and so is every command it runs.
pub(crate) fn enter(pid: i64, container: &str, placed: bool) -> Result<std::fs::File, String> {
    if !placed && !crate::fault::netns::pid_is_container(pid, container) {
        return Err(format!(
            "process {pid} on this host is not container {container}"
        ));
    }
    let main_stat = std::fs::File::open(format!("/proc/{pid}/stat"))
        .map_err(|_| format!("process {pid} is gone"))?;
    if !placed {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| format!("cannot open the container's network namespace: {e}"))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot enter the container's network namespace: {e}"))?;
    }
    Ok(main_stat)
}

/// The mark of a proxy's own connections and lookups, which its redirect
/// skips (so they are never sent back to it).
pub(crate) const OWN_MARK: u32 = 0x6764;

/// Give socket `fd` the [`OWN_MARK`].
pub(crate) fn mark(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    let mark = OWN_MARK;
    // SAFETY: a socket descriptor the caller owns and a u32 we own, of the
    // size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A worker's exit code: 0 after a clean end, 1 (the reason on stderr)
/// when it could not start, nothing being left then.
pub(crate) fn exit_code(command: &str, result: Result<(), String>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gameday {command}: {e}");
            1
        }
    }
}

/// Call `end` with the reason once the worker must end (see the module).
pub(crate) fn watch_end(
    main_stat: std::fs::File,
    max: Duration,
    end: impl Fn(&'static str) + Send + Clone + 'static,
) {
    let told = end.clone();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        told("told to stop");
    });
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + max;
        loop {
            std::thread::sleep(WATCH_EVERY);
            let mut probe = [0u8; 1];
            if std::os::unix::fs::FileExt::read_at(&main_stat, &mut probe, 0).is_err() {
                end("the container's main process ended");
                return;
            }
            if std::time::Instant::now() >= deadline {
                end("its longest lifetime passed");
                return;
            }
        }
    });
}

/// Run `iptables ARGS` in this process's namespace (the container's).
pub(crate) fn iptables(args: &[String]) -> Result<(), String> {
    // The helper image keeps it in /usr/sbin, with no PATH set.
    let program = if std::path::Path::new("/usr/sbin/iptables").exists() {
        "/usr/sbin/iptables"
    } else {
        "iptables"
    };
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`iptables {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Uniform draws in [0, 1) for "this share of requests", shared between
/// threads (splitmix64 on a counter seeded from the clock).
pub(crate) struct Draw(AtomicU64);

impl Draw {
    pub(crate) fn new() -> Draw {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Draw(AtomicU64::new(
            now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32),
        ))
    }

    pub(crate) fn next(&self) -> f64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The counts a proxy reports as it ends.
#[derive(Default)]
pub(crate) struct Counts {
    pub seen: AtomicU64,
    pub matched: AtomicU64,
    pub affected: AtomicU64,
}

impl Counts {
    /// `N <what> seen, M matched, K affected`.
    pub(crate) fn line(&self, what: &str) -> String {
        format!(
            "{} {what} seen, {} matched, {} affected",
            self.seen.load(Ordering::SeqCst),
            self.matched.load(Ordering::SeqCst),
            self.affected.load(Ordering::SeqCst)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_enough_for_a_share() {
        let draw = Draw::new();
        let n = 100_000;
        let below = (0..n).filter(|_| draw.next() < 0.3).count();
        // Binomial(100000, 0.3): sd 145.
        assert!((29_300..=30_700).contains(&below), "{below}");
        assert!((0..1000).all(|_| (0.0..1.0).contains(&draw.next())));
    }
}
