//! The userspace packet engine, for kernels without `sch_netem`: iptables
//! rules in the container's namespace send the matching packets to an
//! NFQUEUE; a thread of the runner, switched into that namespace, holds each
//! packet for its delay (+ jitter) before accepting it, and drops,
//! duplicates or corrupts as asked. The queue is bound with fail-open, and
//! the rules use `--queue-bypass`: if the runner dies, packets flow normally.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Packets gameday itself re-sends (duplicates) carry this mark; the queue
/// rules skip them so they are not queued again.
pub(crate) const OWN_MARK: u32 = 0x6764;

/// What to do to each queued packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PacketPlan {
    pub latency: Duration,
    pub jitter: Duration,
    /// 0..1: how much each random draw follows the previous one.
    pub correlation: f64,
    /// 0..1 each.
    pub loss: f64,
    pub duplicate: f64,
    pub corrupt: f64,
}

/// What the worker did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets: u64,
    pub delayed: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub corrupted: u64,
}

/// Whoever serves a fault's queue: a thread of this process, or a helper
/// container running `gameday nfqueue-serve` in the target's namespace.
#[derive(Debug)]
pub(crate) enum PacketServer {
    InProcess(Worker),
    Helper {
        engine: crate::docker::Engine,
        container_id: String,
    },
}

impl std::fmt::Debug for crate::docker::Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({})", self.host())
    }
}

impl PacketServer {
    /// Stop serving: held packets are released. Returns what it did.
    pub(crate) async fn stop(self) -> Option<Stats> {
        match self {
            PacketServer::InProcess(worker) => tokio::task::spawn_blocking(move || worker.stop())
                .await
                .ok(),
            PacketServer::Helper {
                engine,
                container_id,
            } => {
                let out = engine.finish(&container_id, true).await.ok()?;
                Stats::parse(&out.stdout)
            }
        }
    }
}

impl Stats {
    /// The line `nfqueue-serve` prints when it stops.
    pub fn line(&self) -> String {
        format!(
            "packets={} delayed={} dropped={} duplicated={} corrupted={}",
            self.packets, self.delayed, self.dropped, self.duplicated, self.corrupted
        )
    }

    pub fn parse(text: &str) -> Option<Stats> {
        let line = text
            .lines()
            .rev()
            .map(|l| crate::worker::serve::stopped_detail(l).unwrap_or(l))
            .find(|l| l.starts_with("packets="))?;
        let field = |name: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
        };
        Some(Stats {
            packets: field("packets")?,
            delayed: field("delayed")?,
            dropped: field("dropped")?,
            duplicated: field("duplicated")?,
            corrupted: field("corrupted")?,
        })
    }
}

/// The work of `gameday nfqueue-serve` (in a helper container sharing a
/// target's network namespace): serve `queue` as `plan` says, for at most
/// `max_seconds`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PacketWork {
    pub tag: String,
    pub queue: u16,
    pub plan: PacketPlan,
    pub max_seconds: u64,
}

impl crate::worker::Work for PacketWork {
    const KIND: crate::worker::WorkerKind = crate::worker::WorkerKind::PacketEngine;

    fn marks(&self) -> crate::worker::Marks {
        crate::worker::Marks::default().with("--tag", self.tag.clone())
    }
}

/// `gameday nfqueue-serve`: serve the queue in this network namespace,
/// say `in place: serving queue N`, and stop on SIGTERM (the revert) or
/// after its longest life, saying what it did last. Its stdin closing
/// does not stop it: it keeps its fault between a dead runner and the
/// watchdog's revert, as it always did.
pub(crate) fn serve_packets(work: PacketWork) -> u8 {
    let queue = work.queue;
    let worker = match Worker::start(None, queue, work.plan) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("gameday nfqueue-serve: cannot serve queue {queue}: {e}");
            return crate::exit::INVALID;
        }
    };
    crate::worker::serve::in_place(&format!("serving queue {queue}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let waited = runtime.map(|rt| {
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return Err("cannot listen for signals");
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(work.max_seconds)) => {}
            }
            Ok(())
        })
    });
    let stats = worker.stop();
    crate::worker::serve::stopped(&stats.line());
    match waited {
        Ok(Ok(())) => crate::exit::OK,
        Ok(Err(e)) => {
            eprintln!("gameday nfqueue-serve: {e}");
            crate::exit::INVALID
        }
        Err(e) => {
            eprintln!("gameday nfqueue-serve: cannot start the async runtime: {e}");
            crate::exit::INVALID
        }
    }
}

pub(crate) struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Stats>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nfqueue::Worker")
    }
}

/// xorshift64*: fast, good enough for fault injection, no dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng(seed | 1)
    }
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random draw that follows the previous one by `correlation` (as netem does).
struct Correlated {
    last: f64,
    correlation: f64,
}

impl Correlated {
    fn draw(&mut self, rng: &mut Rng) -> f64 {
        let fresh = rng.next();
        self.last = self.correlation * self.last + (1.0 - self.correlation) * fresh;
        self.last
    }
}

impl Worker {
    /// Bind queue `queue_num` inside the namespace of process `pid` and start
    /// serving it. Returns once the queue is bound, so the rules that feed
    /// it can be added right after.
    /// `pid: None` serves the namespace this process is already in (a
    /// helper container sharing the target's namespace).
    pub(crate) fn start(
        pid: Option<i64>,
        queue_num: u16,
        plan: PacketPlan,
    ) -> std::io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let stop_flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("nfqueue-{queue_num}"))
            .spawn(move || {
                let setup = (|| -> std::io::Result<(nfq::Queue, Option<std::os::fd::OwnedFd>)> {
                    if let Some(pid) = pid {
                        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
                        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                            .map_err(std::io::Error::from)?;
                    }
                    let mut queue = nfq::Queue::open()?;
                    queue.bind(queue_num)?;
                    queue.set_fail_open(queue_num, true)?;
                    queue.set_queue_max_len(queue_num, 8192)?;
                    queue.set_nonblocking(true);
                    let raw = if plan.duplicate > 0.0 {
                        Some(raw_socket()?)
                    } else {
                        None
                    };
                    Ok((queue, raw))
                })();
                match setup {
                    Ok((queue, raw)) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(queue, queue_num, raw, plan, &stop_flag)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        Stats::default()
                    }
                }
            })?;
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(Worker {
                stop,
                handle: Some(handle),
            }),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => {
                stop.store(true, Ordering::SeqCst);
                Err(std::io::Error::other(
                    "the packet queue did not start within 5s",
                ))
            }
        }
    }

    /// Stop: every held packet is released at once, the queue unbound.
    pub(crate) fn stop(mut self) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Last resort: never leave packets held.
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn raw_socket() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2)/setsockopt(2) calls; the fd is owned right away.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mark = OWN_MARK;
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            &mark as *const u32 as *const libc::c_void,
            std::mem::size_of::<u32>() as libc::socklen_t,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(owned)
    }
}

/// Send a copy of an IPv4 packet through the raw socket.
fn send_copy(fd: &std::os::fd::OwnedFd, packet: &[u8]) {
    use std::os::fd::AsRawFd;
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return;
    }
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from_ne_bytes([packet[16], packet[17], packet[18], packet[19]]);
    // SAFETY: valid buffer and address for the duration of the call.
    unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr() as *const libc::c_void,
            packet.len(),
            0,
            &addr as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
    }
}

fn serve(
    mut queue: nfq::Queue,
    queue_num: u16,
    raw: Option<std::os::fd::OwnedFd>,
    plan: PacketPlan,
    stop: &AtomicBool,
) -> Stats {
    let mut stats = Stats::default();
    let mut rng = Rng::new();
    let mut delay_draw = Correlated {
        last: rng.next(),
        correlation: plan.correlation,
    };
    let mut loss_draw = Correlated {
        last: rng.next(),
        correlation: plan.correlation,
    };
    let mut held: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut messages: HashMap<u64, nfq::Message> = HashMap::new();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match queue.recv() {
            Ok(mut msg) => {
                stats.packets += 1;
                if plan.loss > 0.0 && loss_draw.draw(&mut rng) < plan.loss {
                    stats.dropped += 1;
                    msg.set_verdict(nfq::Verdict::Drop);
                    let _ = queue.verdict(msg);
                    continue;
                }
                if plan.corrupt > 0.0 && rng.next() < plan.corrupt {
                    let payload = msg.get_payload_mut();
                    let header = usize::from(payload.first().map(|b| b & 0x0f).unwrap_or(5)) * 4;
                    if payload.len() > header {
                        let at = header + (rng.next() * (payload.len() - header) as f64) as usize;
                        let bit = (rng.next() * 8.0) as u8;
                        payload[at.min(payload.len() - 1)] ^= 1 << bit;
                        stats.corrupted += 1;
                    }
                }
                if let Some(fd) = &raw
                    && rng.next() < plan.duplicate
                {
                    send_copy(fd, msg.get_payload());
                    stats.duplicated += 1;
                }
                msg.set_verdict(nfq::Verdict::Accept);
                if plan.latency.is_zero() && plan.jitter.is_zero() {
                    let _ = queue.verdict(msg);
                    continue;
                }
                let spread = (delay_draw.draw(&mut rng) * 2.0 - 1.0) * plan.jitter.as_secs_f64();
                let delay = (plan.latency.as_secs_f64() + spread).max(0.0);
                seq += 1;
                held.push(Reverse((
                    Instant::now() + Duration::from_secs_f64(delay),
                    seq,
                )));
                messages.insert(seq, msg);
                stats.delayed += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let wait = held
                    .peek()
                    .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_millis(2))
                    .min(Duration::from_micros(500));
                std::thread::sleep(wait);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
        let now = Instant::now();
        while let Some(Reverse((at, id))) = held.peek().copied() {
            if at > now {
                break;
            }
            held.pop();
            if let Some(msg) = messages.remove(&id) {
                let _ = queue.verdict(msg);
            }
        }
    }
    // Release everything still held, then stop serving.
    while let Some(Reverse((_, id))) = held.pop() {
        if let Some(msg) = messages.remove(&id) {
            let _ = queue.verdict(msg);
        }
    }
    let _ = queue.unbind(queue_num);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_uniform_enough() {
        let mut rng = Rng::new();
        let n = 100_000;
        let below = (0..n).filter(|_| rng.next() < 0.3).count();
        let share = below as f64 / f64::from(n);
        assert!((share - 0.3).abs() < 0.01, "{share}");
    }

    #[test]
    fn correlation_keeps_the_mean_and_smooths() {
        let mut rng = Rng::new();
        let mut c = Correlated {
            last: 0.5,
            correlation: 0.9,
        };
        let draws: Vec<f64> = (0..50_000).map(|_| c.draw(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let jumps = draws.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / draws.len() as f64;
        assert!(jumps < 0.1, "{jumps}");
    }
}
