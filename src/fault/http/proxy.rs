//! The proxy's side (`gameday http-proxy`, hidden): enter the target's
//! network namespace, listen, redirect the port to itself, answer the
//! matching share of requests as the fault says and pass everything else
//! through untouched, and take the redirect away whatever ends it.
//!
//! Fail-open: the redirect is removed by the proxy itself when its stdin
//! closes (the revert, or the runner died), when the container's main
//! process ends, or after its longest lifetime; the connections it already
//! carries are then passed through, fault-free, until they close (at most
//! [`DRAIN_WITHIN`]).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

use super::{Plan, redirect_rule};
use crate::gameday::model::{HttpAbort, HttpAction};

/// How long connections already carried are passed through after the
/// redirect is gone.
const DRAIN_WITHIN: Duration = Duration::from_secs(5);

/// How often the proxy checks that the container's main process runs.
const WATCH_EVERY: Duration = Duration::from_millis(100);

type Body = BoxBody<Bytes, hyper::Error>;

/// What the proxy counts, reported as it ends.
#[derive(Default)]
struct Counts {
    seen: AtomicU64,
    matched: AtomicU64,
    affected: AtomicU64,
}

struct Shared {
    plan: Plan,
    counts: Counts,
    /// Set once the redirect is gone: everything passes through.
    passing: AtomicBool,
    open: AtomicUsize,
    rng: AtomicU64,
}

impl Shared {
    /// A uniform draw in [0, 1) (splitmix64 on a shared counter).
    fn draw(&self) -> f64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `gameday http-proxy`: exit 0 after a clean end, 1 (reason on stderr)
/// when it could not start; nothing is left then.
/// `placed`: a helper container already in the target's network (and PID)
/// namespace, where `pid` is 1.
pub(crate) fn serve(
    pid: i64,
    container: &str,
    tag: &str,
    max: Duration,
    plan: Plan,
    placed: bool,
) -> u8 {
    match run_proxy(pid, container, tag, max, plan, placed) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "gameday http-proxy: {e}");
            1
        }
    }
}

fn run_proxy(
    pid: i64,
    container: &str,
    tag: &str,
    max: Duration,
    plan: Plan,
    placed: bool,
) -> Result<(), String> {
    if !placed && !crate::fault::netns::pid_is_container(pid, container) {
        return Err(format!(
            "process {pid} on this host is not container {container}"
        ));
    }
    let main_stat = std::fs::File::open(format!("/proc/{pid}/stat"))
        .map_err(|_| format!("process {pid} is gone"))?;
    // The namespace first, while this process has one thread: every thread
    // and socket after this is the container's, and so is every command.
    if !placed {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| format!("cannot open the container's network namespace: {e}"))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot enter the container's network namespace: {e}"))?;
    }
    let listener = std::net::TcpListener::bind("0.0.0.0:0")
        .map_err(|e| format!("cannot listen in the container's namespace: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let own_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let rule = redirect_rule(plan.port, own_port, tag);
    iptables(&rule.add())?;

    let shared = Arc::new(Shared {
        plan,
        counts: Counts::default(),
        passing: AtomicBool::new(false),
        open: AtomicUsize::new(0),
        rng: AtomicU64::new(seed()),
    });
    // One thread: a request and its upstream exchange never wait on a
    // wake-up from another thread (bench/run: p99 2.4 ms added with two
    // worker threads on this 2-core machine).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            let _ = iptables(&rule.delete());
            format!("cannot start the proxy: {e}")
        })?;
    let (end_tx, mut end_rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    {
        let end_tx = end_tx.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = end_tx.send("told to stop");
        });
    }
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + max;
        loop {
            std::thread::sleep(WATCH_EVERY);
            let mut probe = [0u8; 1];
            // Opened before setns, on this host's /proc: an error once
            // that process has ended, whoever gets its PID next.
            if std::os::unix::fs::FileExt::read_at(&main_stat, &mut probe, 0).is_err() {
                let _ = end_tx.send("the container's main process ended");
                return;
            }
            if std::time::Instant::now() >= deadline {
                let _ = end_tx.send("its longest lifetime passed");
                return;
            }
        }
    });
    say(&format!(
        "ready port {} redirected to the proxy on {own_port}",
        shared.plan.port
    ));
    let why = runtime.block_on(async {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(_) => return "the listener failed",
        };
        loop {
            tokio::select! {
                why = end_rx.recv() => return why.unwrap_or("told to stop"),
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(connection(stream, shared.clone()));
                    }
                }
            }
        }
    });
    // Fail open: the redirect goes first, then what is in flight passes.
    shared.passing.store(true, Ordering::SeqCst);
    let removed = iptables(&rule.delete());
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + DRAIN_WITHIN;
        while shared.open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let c = &shared.counts;
    let mut last = format!(
        "stopped: {why}; {} requests seen, {} matched, {} affected",
        c.seen.load(Ordering::SeqCst),
        c.matched.load(Ordering::SeqCst),
        c.affected.load(Ordering::SeqCst)
    );
    if let Err(e) = removed {
        last.push_str(&format!("; the redirect could not be removed: {e}"));
    }
    say(&last);
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

fn seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
}

/// A line to whoever started the proxy, who may be gone: never a panic.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Run `iptables ARGS` in this process's namespace (the container's).
fn iptables(args: &[String]) -> Result<(), String> {
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

/// Where a redirected connection was going (SO_ORIGINAL_DST).
fn original_destination(stream: &tokio::net::TcpStream) -> Option<SocketAddr> {
    // SAFETY: a zeroed sockaddr_in is valid; getsockopt writes at most `len`.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a valid socket, a buffer of `len` bytes we own.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    let ip = std::net::Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
    Some(SocketAddr::from((ip, u16::from_be(addr.sin_port))))
}

/// Counts a connection as open for as long as it lives.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serve one redirected connection: request by request, each answered by
/// the fault or passed to the service over one upstream connection.
async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    shared.open.fetch_add(1, Ordering::SeqCst);
    let _guard = OpenGuard(shared.clone());
    let Some(upstream) = original_destination(&stream) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let sender: Upstream = Arc::new(tokio::sync::Mutex::new(None));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let sender = sender.clone();
        handle(req, shared, sender, upstream, fd)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

/// Why a request was not answered: the connection is aborted.
#[derive(Debug)]
struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("aborted by the fault")
    }
}

impl std::error::Error for Aborted {}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The upstream connection of one downstream connection, made on its first
/// passed request and made again when the service closed it.
type Upstream = Arc<tokio::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<Incoming>>>>;

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    sender: Upstream,
    upstream: SocketAddr,
    fd: std::os::fd::RawFd,
) -> Result<Response<Body>, BoxError> {
    let plan = &shared.plan;
    let counts = &shared.counts;
    if !shared.passing.load(Ordering::Relaxed) {
        counts.seen.fetch_add(1, Ordering::Relaxed);
        let matched = plan
            .matcher
            .matches(req.method().as_str(), req.uri().path(), |name| {
                req.headers().get(name).and_then(|v| v.to_str().ok())
            });
        if matched {
            counts.matched.fetch_add(1, Ordering::Relaxed);
            if shared.draw() * 100.0 < plan.percent {
                counts.affected.fetch_add(1, Ordering::Relaxed);
                match &plan.action {
                    HttpAction::Status { code, body } => {
                        let text = body
                            .clone()
                            .unwrap_or_else(|| format!("gameday http_fault: {code}\n"));
                        let response = Response::builder()
                            .status(*code)
                            .header("content-type", "text/plain; charset=utf-8")
                            .header("x-gameday-fault", "http_fault")
                            .body(Full::new(Bytes::from(text)).map_err(|e| match e {}).boxed())
                            .map_err(BoxError::from)?;
                        return Ok(response);
                    }
                    HttpAction::Abort(how) => {
                        if *how == HttpAbort::Reset {
                            let linger = libc::linger {
                                l_onoff: 1,
                                l_linger: 0,
                            };
                            // SAFETY: the connection's socket is open while
                            // its requests are served; a valid linger struct.
                            unsafe {
                                libc::setsockopt(
                                    fd,
                                    libc::SOL_SOCKET,
                                    libc::SO_LINGER,
                                    (&linger as *const libc::linger).cast(),
                                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                                );
                            }
                        }
                        return Err(Box::new(Aborted));
                    }
                    HttpAction::Delay(d) => tokio::time::sleep(d.as_std()).await,
                }
            }
        }
    }
    let mut guard = sender.lock().await;
    let ready = match guard.as_mut() {
        Some(s) => s.ready().await.is_ok(),
        None => false,
    };
    if !ready {
        let stream = tokio::net::TcpStream::connect(upstream)
            .await
            .map_err(BoxError::from)?;
        let _ = stream.set_nodelay(true);
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(BoxError::from)?;
        tokio::spawn(conn);
        *guard = Some(send);
    }
    let send = guard
        .as_mut()
        .ok_or_else(|| BoxError::from("no upstream connection"))?;
    let response = send.send_request(req).await.map_err(BoxError::from)?;
    Ok(response.map(|b| b.boxed()))
}
