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

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

use super::{Job, ProxyWork, redirect_rules};
use crate::fault::conntrack::{Protocol, Redirect, forget};
use crate::fault::nsworker::{Counts, Draw, enter, iptables, mark, watch_end};
use crate::gameday::model::{HttpAbort, HttpAction};
use crate::worker::serve::say;

/// How long connections already carried are passed through after the
/// redirect is gone.
const DRAIN_WITHIN: Duration = Duration::from_secs(5);

type Body = BoxBody<Bytes, hyper::Error>;

struct Shared {
    plan: ProxyWork,
    /// The port the proxy listens on, which its rules redirect to.
    own_port: u16,
    counts: Counts,
    /// Connections that reached the proxy without being redirected to it,
    /// closed unserved.
    strays: AtomicU64,
    /// Set once the redirect is gone: everything passes through.
    passing: AtomicBool,
    open: AtomicUsize,
    draw: Draw,
}

/// `gameday http-proxy`: runs until told to stop; an error (nothing left
/// then) when it could not start.
pub(crate) fn serve(job: Job) -> Result<(), String> {
    let crate::worker::Targeted { at, work: plan } = job;
    let (pid, container, tag, max, placed) = (at.pid, &at.container, &at.tag, at.max(), at.placed);
    let main_stat = enter(pid, container, placed)?;
    let listener = std::net::TcpListener::bind("0.0.0.0:0")
        .map_err(|e| format!("cannot listen in the container's namespace: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let own_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let rules = redirect_rules(&plan, own_port, tag);
    let remove_rules = move || -> Result<(), String> {
        let mut result = Ok(());
        for rule in &rules {
            if let Err(e) = iptables(&rule.delete()) {
                result = Err(e);
            }
        }
        result
    };
    for rule in redirect_rules(&plan, own_port, tag) {
        if let Err(e) = iptables(&rule.add()) {
            let _ = remove_rules();
            return Err(e);
        }
    }

    let shared = Arc::new(Shared {
        plan,
        own_port,
        counts: Counts::default(),
        strays: AtomicU64::new(0),
        passing: AtomicBool::new(false),
        open: AtomicUsize::new(0),
        draw: Draw::new(),
    });
    // One thread: a request and its upstream exchange never wait on a
    // wake-up from another thread (bench/run: p99 2.4 ms added with two
    // worker threads on this 2-core machine).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            let _ = remove_rules();
            format!("cannot start the proxy: {e}")
        })?;
    let (end_tx, mut end_rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    watch_end(main_stat, max, move |why| {
        let _ = end_tx.send(why);
    });
    let whose = if shared.plan.peers.is_empty() {
        format!("port {}", shared.plan.port)
    } else {
        let peers: Vec<String> = shared.plan.peers.iter().map(|p| p.to_string()).collect();
        format!(
            "requests to port {} of {}",
            shared.plan.port,
            peers.join(", ")
        )
    };
    crate::worker::serve::in_place(&format!("{whose} redirected to the proxy on {own_port}"));
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
    let removed = remove_rules();
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + DRAIN_WITHIN;
        while shared.open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    // The flows it translated, which would keep reaching this port once
    // it is closed.
    let forgotten = forget(&[Redirect {
        protocol: Protocol::Tcp,
        caught: shared.plan.port,
        to: own_port,
    }]);
    let mut last = format!("stopped: {why}; {}", shared.counts.line("requests"));
    let strays = shared.strays.load(Ordering::SeqCst);
    if strays > 0 {
        last.push_str(&format!(
            "; {strays} connection{} not redirected to it closed",
            if strays == 1 { "" } else { "s" }
        ));
    }
    if let Err(e) = removed {
        last.push_str(&format!("; the redirect could not be removed: {e}"));
    }
    if let Err(e) = forgotten {
        last.push_str(&format!(
            "; the redirected flows could not be forgotten: {e}"
        ));
    }
    say(&last);
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
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

/// Connect to the service with the mark a client-side redirect skips.
async fn connect_marked(to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    mark(socket.as_raw_fd())?;
    socket.connect(to).await
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
    // Passing on a connection made straight to the proxy would reach the
    // proxy again, and again, until it has no descriptor left.
    if !super::redirected_here(&shared.plan, upstream, shared.own_port) {
        shared.strays.fetch_add(1, Ordering::Relaxed);
        return;
    }
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
            if shared.draw.next() * 100.0 < plan.percent {
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
        let stream = connect_marked(upstream).await.map_err(BoxError::from)?;
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
