//! `gameday-demo lb --listen ADDR --backend NAME:PORT`: an HTTP/1.1 load
//! balancer in front of a compose service's replicas (see the crate's doc).
//!
//! One thread per client connection. Each request is read whole (a
//! Content-Length body), sent to the next backend round robin (NAME
//! resolved through the system resolver, cached for 200 ms), and the
//! backend's answer read whole before it is relayed, so a request can be
//! retried on another backend as long as the client has seen nothing:
//! within a 3 s budget, a request whose backend cannot be reached, or, for
//! an idempotent method, fails or closes before it answered, goes to the
//! next backend (the name resolved afresh, at most every 25 ms). 502 when
//! none answered.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long one request may take, retries included, before it is a 502.
const BUDGET: Duration = Duration::from_secs(3);
/// A backend that does not accept within this is skipped.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a resolution of the backend's name is used.
const RESOLVE_TTL: Duration = Duration::from_millis(200);
/// A retry resolves the name again unless the last resolution is younger
/// than this (a replica that refuses would otherwise cost a lookup for
/// every request it is picked for).
const RESOLVE_AGAIN: Duration = Duration::from_millis(25);
/// A pause after each round of failed backends (or a failed resolution).
const ROUND_PAUSE: Duration = Duration::from_millis(50);
/// A client connection idle this long is closed.
const CLIENT_IDLE: Duration = Duration::from_secs(30);
/// Once a backend has started to answer, each read may wait this long.
const BACKEND_READ: Duration = Duration::from_secs(10);
/// The largest request or response body relayed.
const MAX_BODY: usize = 64 << 20;

/// Headers that belong to one connection, not passed on either way
/// (content-length is set anew, expect is answered here).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
];

pub fn run(listen: &str, backend: &str) -> ! {
    let Some((name, port)) = backend
        .rsplit_once(':')
        .and_then(|(name, port)| Some((name.to_string(), port.parse::<u16>().ok()?)))
    else {
        eprintln!("usage: gameday-demo lb --listen ADDR --backend NAME:PORT");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(listen).unwrap_or_else(|e| {
        eprintln!("cannot listen on {listen}: {e}");
        std::process::exit(1);
    });
    eprintln!("listening on {listen}, balancing over {name}:{port}");
    let backends: &'static Backends = Box::leak(Box::new(Backends {
        name,
        port,
        resolved: Mutex::new(None),
        next: AtomicUsize::new(0),
    }));
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = client(stream, backends);
        });
    }
    unreachable!("incoming() never ends")
}

/// The replicas behind one name, and where round robin is.
struct Backends {
    name: String,
    port: u16,
    resolved: Mutex<Option<(Instant, Vec<SocketAddr>)>>,
    next: AtomicUsize,
}

impl Backends {
    /// The backends' addresses, sorted: the cached ones when younger than
    /// `max_age`, else the system resolver's.
    fn addresses(&self, max_age: Duration) -> Result<Vec<SocketAddr>, String> {
        if let Some((at, addrs)) = &*self.resolved.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < max_age
        {
            return Ok(addrs.clone());
        }
        let mut addrs: Vec<SocketAddr> = (self.name.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.name))?
            .collect();
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(format!("no address for {}", self.name));
        }
        *self.resolved.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// A request as read from a client.
struct Request {
    method: String,
    target: String,
    /// Headers to pass on, as received (hop-by-hop ones left out).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whether the client sent a content-length (passed on even when 0).
    has_length: bool,
    /// The client wants the connection closed after this answer.
    close: bool,
}

/// An answer to relay to a client.
struct Response {
    /// `200 OK`: the status line without its version.
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The response has no body whatever its headers say (HEAD, 204, 304,
    /// 1xx): its content-length, if any, is the backend's.
    bodiless: bool,
}

impl Response {
    fn local(code: u16, reason: &str, text: &str) -> Response {
        Response {
            status: format!("{code} {reason}"),
            headers: vec![("content-type".into(), "text/plain".into())],
            body: text.as_bytes().to_vec(),
            bodiless: false,
        }
    }

    /// The whole answer, to be written at once (a response in pieces waits
    /// on Nagle and the client's delayed ACK).
    fn to_bytes(&self, close: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {}\r\n", self.status);
        for (name, value) in &self.headers {
            let keep = !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str())
                || (self.bodiless && name.eq_ignore_ascii_case("content-length"));
            if keep {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        if !self.bodiless {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        if close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A kept-alive connection to one backend.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

/// Serve one client connection: its requests one after the other.
fn client(stream: TcpStream, backends: &Backends) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_IDLE))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    // This client's kept-alive connections, one per backend at most.
    let mut pool: HashMap<SocketAddr, Conn> = HashMap::new();
    loop {
        let request = match read_request(&mut reader, &mut out) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(Bad(0, ..)) => return Ok(()),
            Err(Bad(code, reason, why)) => {
                let answer = Response::local(code, reason, why);
                out.write_all(&answer.to_bytes(true))?;
                return Ok(());
            }
        };
        let answer = if request.target == "/lb/health" {
            Response::local(200, "OK", "ok")
        } else {
            forward(&request, backends, &mut pool)
        };
        out.write_all(&answer.to_bytes(request.close))?;
        if request.close {
            return Ok(());
        }
    }
}

/// A request that cannot be served: the answer, then the connection closes.
/// An I/O error is one with no answer (code 0).
struct Bad(u16, &'static str, &'static str);

impl From<io::Error> for Bad {
    fn from(_: io::Error) -> Bad {
        Bad(0, "", "")
    }
}

/// Read one request; None when the client closed between requests.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
) -> Result<Option<Request>, Bad> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Bad(400, "Bad Request", "bad request line"));
    };
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        has_length: false,
        close: version == "HTTP/1.0",
    };
    let mut length = 0usize;
    let mut expect_continue = false;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::other("closed in the headers").into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(Bad(400, "Bad Request", "bad header"));
        };
        let (name, value) = (name.trim(), value.trim());
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                length = value
                    .parse()
                    .map_err(|_| Bad(400, "Bad Request", "bad content-length"))?;
                request.has_length = true;
            }
            "transfer-encoding" => {
                return Err(Bad(411, "Length Required", "only content-length bodies"));
            }
            "connection" => {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    request.close = true;
                } else if value.contains("keep-alive") {
                    request.close = false;
                }
            }
            "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
        if !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
            request.headers.push((name.to_string(), value.to_string()));
        }
    }
    if length > MAX_BODY {
        return Err(Bad(413, "Content Too Large", "body too large"));
    }
    if expect_continue && length > 0 {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    request.body = vec![0u8; length];
    reader.read_exact(&mut request.body)?;
    Ok(Some(request))
}

/// Send the request to the backends, round robin, until one answers or the
/// budget is spent.
fn forward(
    request: &Request,
    backends: &Backends,
    pool: &mut HashMap<SocketAddr, Conn>,
) -> Response {
    let start = Instant::now();
    let deadline = start + BUDGET;
    // Safe to send twice: the request may have reached a backend that
    // failed before answering.
    let idempotent = matches!(
        request.method.as_str(),
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    );
    let wire = to_backend_bytes(request);
    let first = backends.next.fetch_add(1, Ordering::Relaxed);
    let mut last_error = String::new();
    for attempt in 0usize.. {
        if Instant::now() >= deadline {
            break;
        }
        let max_age = if attempt == 0 {
            RESOLVE_TTL
        } else {
            RESOLVE_AGAIN
        };
        let addrs = match backends.addresses(max_age) {
            Ok(addrs) => addrs,
            Err(e) => {
                last_error = e;
                pause_until(deadline);
                continue;
            }
        };
        let addr = addrs[first.wrapping_add(attempt) % addrs.len()];
        match exchange(addr, &wire, request, idempotent, pool, deadline) {
            Ok(answer) => return answer,
            Err(Failed { why, sent }) => {
                last_error = format!("{addr}: {why}");
                if sent && !idempotent {
                    last_error.push_str(&format!(
                        " (not retried: {} may have been served)",
                        request.method
                    ));
                    break;
                }
            }
        }
        if (attempt + 1) % addrs.len() == 0 {
            pause_until(deadline);
        }
    }
    eprintln!(
        "ERROR lb: {} {}: no backend answered in {} ms: {last_error}",
        request.method,
        request.target,
        start.elapsed().as_millis()
    );
    Response::local(
        502,
        "Bad Gateway",
        &format!("no backend answered: {last_error}"),
    )
}

fn pause_until(deadline: Instant) {
    std::thread::sleep(ROUND_PAUSE.min(deadline.saturating_duration_since(Instant::now())));
}

/// The request as sent to a backend: always HTTP/1.1, kept alive.
fn to_backend_bytes(request: &Request) -> Vec<u8> {
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if request.has_length || !request.body.is_empty() {
        head.push_str(&format!("content-length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);
    bytes
}

/// Why one backend did not answer, and whether the request may have
/// reached it (then it is retried only when idempotent).
struct Failed {
    why: String,
    sent: bool,
}

fn failed(sent: bool) -> impl Fn(io::Error) -> Failed {
    move |e| Failed {
        why: e.to_string(),
        sent,
    }
}

/// One request to one backend, over this client's kept-alive connection to
/// it when there is one (idempotent requests only: a connection the
/// backend closed while idle fails them before any answer, and they are
/// retried; others get a new connection).
fn exchange(
    addr: SocketAddr,
    wire: &[u8],
    request: &Request,
    idempotent: bool,
    pool: &mut HashMap<SocketAddr, Conn>,
    deadline: Instant,
) -> Result<Response, Failed> {
    let kept = pool.remove(&addr).filter(|_| idempotent);
    let mut conn = match kept {
        Some(conn) => conn,
        None => {
            let timeout = CONNECT_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
            if timeout.is_zero() {
                return Err(failed(false)(io::ErrorKind::TimedOut.into()));
            }
            let stream = TcpStream::connect_timeout(&addr, timeout).map_err(failed(false))?;
            stream.set_nodelay(true).map_err(failed(false))?;
            let reader = BufReader::new(stream.try_clone().map_err(failed(false))?);
            Conn { stream, reader }
        }
    };
    // Until the backend starts to answer, the rest of the budget.
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(failed(false)(io::ErrorKind::TimedOut.into()));
    }
    conn.stream
        .set_write_timeout(Some(left))
        .map_err(failed(false))?;
    conn.stream
        .set_read_timeout(Some(left))
        .map_err(failed(false))?;
    // A write that fails left the backend with part of the request at most.
    conn.stream.write_all(wire).map_err(failed(false))?;
    if conn.reader.fill_buf().map_err(failed(true))?.is_empty() {
        return Err(Failed {
            why: "closed before answering".into(),
            sent: true,
        });
    }
    conn.stream
        .set_read_timeout(Some(BACKEND_READ))
        .map_err(failed(true))?;
    let (answer, reusable) = read_response(&mut conn.reader, request.method == "HEAD")
        .map_err(|why| Failed { why, sent: true })?;
    if reusable {
        pool.insert(addr, conn);
    }
    Ok(answer)
}

/// Read one whole response; whether the connection can carry another.
fn read_response(
    reader: &mut BufReader<TcpStream>,
    head: bool,
) -> Result<(Response, bool), String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let (version, status) = line
        .trim_end()
        .split_once(' ')
        .filter(|(v, _)| v.starts_with("HTTP/1."))
        .ok_or("not an HTTP/1 answer")?;
    let code: u16 = status
        .get(..3)
        .and_then(|c| c.parse().ok())
        .ok_or("bad status")?;
    let mut answer = Response {
        status: status.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        bodiless: head || code < 200 || code == 204 || code == 304,
    };
    // After HEAD, whatever body a server sends anyway would be taken for
    // the next answer: the connection is not used again.
    let mut reusable = version == "HTTP/1.1" && !head;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("closed in the headers".into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err("bad header".into());
        };
        let (name, value) = (name.trim(), value.trim());
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>().map_err(|e| e.to_string())?),
            "transfer-encoding" => return Err("only content-length answers are relayed".into()),
            "connection" if value.to_ascii_lowercase().contains("close") => reusable = false,
            _ => {}
        }
        answer.headers.push((name.to_string(), value.to_string()));
    }
    if answer.bodiless {
        return Ok((answer, reusable));
    }
    match length {
        Some(n) if n > MAX_BODY => return Err("body too large".into()),
        Some(n) => {
            answer.body = vec![0u8; n];
            reader
                .read_exact(&mut answer.body)
                .map_err(|e| e.to_string())?;
        }
        // No length: the body ends when the backend closes.
        None => {
            reader
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut answer.body)
                .map_err(|e| e.to_string())?;
            if answer.body.len() > MAX_BODY {
                return Err("body too large".into());
            }
            reusable = false;
        }
    }
    Ok((answer, reusable))
}
