//! The demo stack's one binary, small enough to build static and ship in a
//! `FROM scratch` image:
//!
//! - `gameday-demo store --listen ADDR [--data DIR]`: a key-value "store"
//!   answering `GET /get` with `ok`; `/put` appends a 4 KiB record (one
//!   page: a full disk refuses it at once) to `DIR/store.log` with an fsync
//!   (the log starts over past 8 MiB), and answers 503 with the reason when
//!   it cannot.
//! - `gameday-demo api --listen ADDR --store HOST:PORT`: `/health` is 200 only
//!   while the store answers; `/login` asks the store (1s timeout) and
//!   answers 200, or 503 fast when the store is down or frozen (and logs
//!   `ERROR ... store unavailable` to stderr); `/metrics` serves
//!   `demo_store_up` and `demo_requests_total{outcome}` for Prometheus;
//!   `GET /get` answers `ok` while its own store does, so an api can be the
//!   store of another (a chain of dependencies); `/order` asks the store to
//!   write (`/put`) and answers 503 with the store's reason when it cannot.
//!   `--limit N` answers 429 to `/login`, `/get`, `/order` and `/quote`
//!   past N requests a second (a token bucket, a fifth of a second's
//!   burst): a service whose capacity is known, for capacity searches.
//!   `--ballast MIB` holds that much memory, touched, as a service's
//!   working set (for memory-pressure gamedays). With `--pricing
//!   HOST:PORT`, `/quote` asks pricing for the price (300ms timeout) and
//!   answers `quote: 42.00`, or, when pricing fails or is slow, the list
//!   price as a fallback (`quote: 40.00 (fallback: ...)`, still 200, and
//!   `WARN quote: pricing unavailable` on stderr).
//! - `gameday-demo pricing --listen ADDR`: `/price` answers `42.00`.
//! - The store, the api and pricing answer `/version` with
//!   `{"version":"V"}`, V being `GAMEDAY_DEMO_VERSION` (the image sets it:
//!   `1`, or `2` and `broken` in the tags `:v2` and `:broken` that
//!   scripts/build-demo-image derives). With `GAMEDAY_DEMO_BROKEN=1` (the
//!   `:broken` tag) the api never gets ready: it does not listen at all
//!   (a release whose healthcheck never passes).
//! - `gameday-demo lb --listen ADDR --backend NAME:PORT`: an HTTP/1.1 load
//!   balancer in front of a service's replicas: NAME resolved through the
//!   system resolver (Docker's DNS: one address per replica; cached 200
//!   ms), requests sent round robin over kept-alive connections, answers
//!   relayed whole (Content-Length). A request is retried on the next
//!   backend (the name resolved afresh, at most every 25 ms) when the
//!   backend does not accept (300 ms connect timeout) or, for idempotent
//!   methods, fails or closes before answering, within 3 s in all; only
//!   then 502 (and `ERROR lb:` on stderr). So a rolling replacement of the
//!   replicas is unseen by clients. `/lb/health` answers 200 from the lb
//!   itself.
//!
//! - `gameday-demo load IP:PORT PATH SECONDS CONNECTIONS`: GETs of PATH
//!   over CONNECTIONS keep-alive connections for SECONDS (at most 1,000,000
//!   requests), printing `requests=N rps=R p50_us=A p99_us=B errors=E` (for
//!   `bench/run`).
//! - `gameday-demo resolve NAME`: look NAME up as the services do; prints
//!   `resolved ADDR in N ms` (exit 0) or `failed: WHY in N ms` (exit 1).
//! - `gameday-demo resolve-tcp NAME`: one A lookup of NAME over TCP to the
//!   first nameserver of /etc/resolv.conf; prints `rcode=R answers=N in M
//!   ms` (exit 0), or `failed: WHY` (exit 1).
//! - `gameday-demo connect HOST:PORT [TIMEOUT_MS]`: exit 0 when a TCP
//!   connection opens, and `probe HOST:PORT N TIMEOUT_MS PARALLEL`: N
//!   connects, printing how many failed and the median time (for tests,
//!   through `docker exec`, between containers).
//!
//! Plain HTTP/1.1 with one thread per connection; good enough for a demo and
//! for tests, not a production server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod lb;

fn main() {
    // PID 1 in a container ignores SIGTERM unless it handles it: exit at once.
    extern "C" fn on_term(_: libc::c_int) {
        unsafe { libc::_exit(0) };
    }
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let listen = flag("--listen").unwrap_or_else(|| "0.0.0.0:8080".into());
    // `/version`'s answer, the same for every request.
    let version = {
        let v = std::env::var("GAMEDAY_DEMO_VERSION").unwrap_or_else(|_| "1".into());
        let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{{\"version\":\"{escaped}\"}}")
    };
    match args.first().map(String::as_str) {
        Some("store") => {
            let data = flag("--data");
            serve(&listen, move |_method, path| match path {
                "/get" | "/health" => (200, "ok".to_string()),
                "/version" => (200, version.clone()),
                "/put" => match &data {
                    None => (200, "stored (in memory)".to_string()),
                    Some(dir) => match write_record(dir) {
                        Ok(()) => (200, "stored".to_string()),
                        Err(e) => {
                            eprintln!("ERROR put: cannot write: {e}");
                            (503, format!("cannot write: {e}"))
                        }
                    },
                },
                // `/bytes/N`: N bytes, to measure throughput.
                p if p.starts_with("/bytes/") => match p["/bytes/".len()..].parse::<usize>() {
                    Ok(n) if n <= 64 << 20 => (200, "x".repeat(n)),
                    _ => (404, "bad size".to_string()),
                },
                _ => (404, "not found".to_string()),
            })
        }
        // `probe HOST:PORT N TIMEOUT_MS PARALLEL`: N TCP connects, PARALLEL at
        // a time; prints `ok=K failed=F median_ms=M` (median of the ok ones).
        Some("probe") => {
            let target = args.get(1).cloned().unwrap_or_default();
            let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(10);
            let timeout =
                Duration::from_millis(args.get(3).and_then(|t| t.parse().ok()).unwrap_or(1000));
            let parallel: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let Some(addr) = target.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
                println!("ok=0 failed={n} median_ms=0");
                std::process::exit(1);
            };
            let mut times = Vec::new();
            let mut failed = 0;
            let mut done = 0;
            while done < n {
                let batch = parallel.min(n - done);
                let handles: Vec<_> = (0..batch)
                    .map(|_| {
                        std::thread::spawn(move || {
                            let start = std::time::Instant::now();
                            TcpStream::connect_timeout(&addr, timeout)
                                .ok()
                                .map(|_| start.elapsed())
                        })
                    })
                    .collect();
                for h in handles {
                    match h.join().ok().flatten() {
                        Some(t) => times.push(t.as_secs_f64() * 1000.0),
                        None => failed += 1,
                    }
                }
                done += batch;
            }
            times.sort_by(f64::total_cmp);
            let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
            println!("ok={} failed={failed} median_ms={median:.1}", times.len());
            std::process::exit(0);
        }
        Some("load") => {
            let addr: std::net::SocketAddr = match args.get(1).and_then(|a| a.parse().ok()) {
                Some(a) => a,
                None => {
                    eprintln!("usage: gameday-demo load IP:PORT PATH SECONDS CONNECTIONS");
                    std::process::exit(2);
                }
            };
            let path = args.get(2).cloned().unwrap_or_else(|| "/".into());
            let seconds: f64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(3.0);
            let connections: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            load(
                addr,
                &path,
                Duration::from_secs_f64(seconds.min(60.0)),
                connections,
            );
            std::process::exit(0);
        }
        Some("resolve-tcp") => {
            let name = args.get(1).cloned().unwrap_or_default();
            let start = std::time::Instant::now();
            match lookup_tcp(&name) {
                Ok((rcode, answers)) => {
                    let ms = start.elapsed().as_millis();
                    println!("rcode={rcode} answers={answers} in {ms} ms");
                    std::process::exit(0);
                }
                Err(e) => {
                    println!("failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some("resolve") => {
            let name = args.get(1).cloned().unwrap_or_default();
            let start = std::time::Instant::now();
            let found = (name.as_str(), 0).to_socket_addrs().map(|mut a| a.next());
            let ms = start.elapsed().as_millis();
            match found {
                Ok(Some(addr)) => {
                    println!("resolved {} in {ms} ms", addr.ip());
                    std::process::exit(0);
                }
                Ok(None) => println!("failed: no address in {ms} ms"),
                Err(e) => println!("failed: {e} in {ms} ms"),
            }
            std::process::exit(1);
        }
        // `connect HOST:PORT [TIMEOUT_MS]`: exit 0 when a TCP connection opens.
        // Used by the tests, through `docker exec`, to check reachability
        // between containers (the image has no shell or tools).
        Some("connect") => {
            let target = args.get(1).cloned().unwrap_or_default();
            let timeout =
                Duration::from_millis(args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1000));
            let ok = target
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|addr| TcpStream::connect_timeout(&addr, timeout).is_ok());
            println!("{}", if ok { "connected" } else { "unreachable" });
            std::process::exit(if ok { 0 } else { 1 });
        }
        Some("lb") => {
            let backend = flag("--backend").unwrap_or_default();
            lb::run(&listen, &backend)
        }
        Some("pricing") => serve(&listen, move |_method, path| match path {
            "/price" => (200, "42.00".to_string()),
            "/version" => (200, version.clone()),
            "/health" => (200, "ok".to_string()),
            _ => (404, "not found".to_string()),
        }),
        Some("api") => {
            let store = flag("--store").unwrap_or_else(|| "store:7000".into());
            let pricing = flag("--pricing");
            if let Some(mib) = flag("--ballast").and_then(|m| m.parse::<usize>().ok()) {
                let mut ballast = vec![0u8; mib << 20];
                for i in (0..ballast.len()).step_by(4096) {
                    ballast[i] = 1;
                }
                std::mem::forget(std::hint::black_box(ballast));
            }
            if std::env::var("GAMEDAY_DEMO_BROKEN").is_ok_and(|v| v == "1") {
                // A release that never gets healthy: nothing listens, so a
                // connect to the port fails. SIGTERM still ends it at once.
                eprintln!("broken release (GAMEDAY_DEMO_BROKEN=1): not listening on {listen}");
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            // Counters for `/metrics` (Prometheus text format).
            static OK: AtomicU64 = AtomicU64::new(0);
            static UNAVAILABLE: AtomicU64 = AtomicU64::new(0);
            let answer = |outcome: Result<(), String>, what: &str, ok_text: &str| match outcome {
                Ok(()) => {
                    OK.fetch_add(1, Ordering::Relaxed);
                    (200, ok_text.to_string())
                }
                Err(e) => {
                    UNAVAILABLE.fetch_add(1, Ordering::Relaxed);
                    // One log line per failed request, for log probes.
                    eprintln!("ERROR {what}: store unavailable: {e}");
                    (503, format!("{what} unavailable: {e}"))
                }
            };
            // `--limit N`: a token bucket of N requests a second (a
            // fifth of a second's worth of burst); over it, 429.
            let limit = flag("--limit").and_then(|n| n.parse::<f64>().ok());
            let bucket = std::sync::Mutex::new((std::time::Instant::now(), 0.0_f64));
            let over_limit = move || {
                let Some(rate) = limit else { return false };
                let mut b = bucket
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = std::time::Instant::now();
                let burst = (rate / 5.0).max(1.0);
                b.1 = (b.1 + now.duration_since(b.0).as_secs_f64() * rate).min(burst);
                b.0 = now;
                if b.1 >= 1.0 {
                    b.1 -= 1.0;
                    false
                } else {
                    true
                }
            };
            serve(&listen, move |_method, path| match path {
                "/login" | "/get" | "/order" | "/quote" if over_limit() => {
                    (429, "over capacity (--limit)".to_string())
                }
                "/health" => answer(
                    ask_store(&store, Duration::from_millis(500)),
                    "health",
                    "ok",
                ),
                "/login" => answer(
                    ask_store(&store, Duration::from_secs(1)),
                    "login",
                    "welcome",
                ),
                "/metrics" => {
                    let up = ask_store(&store, Duration::from_millis(200)).is_ok();
                    (
                        200,
                        format!(
                            "# HELP demo_store_up Whether the store answered this scrape.\n\
                             # TYPE demo_store_up gauge\n\
                             demo_store_up {}\n\
                             # HELP demo_requests_total Requests answered, by outcome.\n\
                             # TYPE demo_requests_total counter\n\
                             demo_requests_total{{outcome=\"ok\"}} {}\n\
                             demo_requests_total{{outcome=\"unavailable\"}} {}\n",
                            u8::from(up),
                            OK.load(Ordering::Relaxed),
                            UNAVAILABLE.load(Ordering::Relaxed)
                        ),
                    )
                }
                "/get" => answer(ask_store(&store, Duration::from_millis(500)), "get", "ok"),
                "/order" => answer(
                    ask_store_path(&store, "/put", Duration::from_secs(1)),
                    "order",
                    "ordered",
                ),
                "/quote" => match &pricing {
                    None => (404, "no pricing service (--pricing)".to_string()),
                    Some(pricing) => {
                        match ask_store_path(pricing, "/price", Duration::from_millis(300)) {
                            Ok(()) => (200, "quote: 42.00".to_string()),
                            Err(e) => {
                                eprintln!("WARN quote: pricing unavailable: {e}");
                                (200, format!("quote: 40.00 (fallback: {e})"))
                            }
                        }
                    }
                },
                "/version" => (200, version.clone()),
                "/" => (200, "gameday demo api".to_string()),
                _ => (404, "not found".to_string()),
            })
        }
        _ => {
            eprintln!(
                "usage: gameday-demo store --listen ADDR | pricing --listen ADDR | api --listen ADDR --store HOST:PORT [--pricing HOST:PORT] | lb --listen ADDR --backend NAME:PORT"
            );
            std::process::exit(2);
        }
    }
}

fn serve(listen: &str, handler: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static) {
    let listener = TcpListener::bind(listen).unwrap_or_else(|e| {
        eprintln!("cannot listen on {listen}: {e}");
        std::process::exit(1);
    });
    eprintln!("listening on {listen}");
    let handler = std::sync::Arc::new(handler);
    for stream in listener.incoming().flatten() {
        let handler = handler.clone();
        std::thread::spawn(move || {
            let _ = handle(stream, &*handler);
        });
    }
}

fn handle(
    mut stream: TcpStream,
    handler: &dyn Fn(&str, &str) -> (u16, String),
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut content_length = 0usize;
        let mut close = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut body = vec![0u8; content_length.min(1 << 20)];
        reader.read_exact(&mut body)?;
        let (status, text) = handler(&method, &path);
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            _ => "Service Unavailable",
        };
        // One write: a response in pieces waits on Nagle and the client's
        // delayed ACK (40 ms) on a kept-alive connection.
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n{text}",
            text.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        stream.write_all(response.as_bytes())?;
        stream.flush()?;
        if close {
            return Ok(());
        }
    }
}

/// One A lookup over TCP to the first nameserver of /etc/resolv.conf: the
/// answer's RCODE and its number of answers.
fn lookup_tcp(name: &str) -> std::io::Result<(u8, u16)> {
    let conf = std::fs::read_to_string("/etc/resolv.conf")?;
    let server = conf
        .lines()
        .find_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .ok_or_else(|| std::io::Error::other("no nameserver"))?;
    let addr: std::net::SocketAddr = format!("{server}:53")
        .parse()
        .map_err(|_| std::io::Error::other("bad nameserver"))?;
    let mut query = vec![0x4a, 0x31, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut answer)?;
    if answer.len() < 12 || answer[..2] != query[..2] {
        return Err(std::io::Error::other("not an answer to the query"));
    }
    Ok((answer[3] & 0x0F, u16::from_be_bytes([answer[6], answer[7]])))
}

/// The load generator behind `gameday-demo load` (bounded in time and count).
fn load(addr: std::net::SocketAddr, path: &str, within: Duration, connections: usize) {
    const MAX_REQUESTS: usize = 1_000_000;
    let start = std::time::Instant::now();
    let per_connection = MAX_REQUESTS / connections;
    let handles: Vec<_> = (0..connections)
        .map(|_| {
            let path = path.to_string();
            std::thread::spawn(move || {
                let mut times: Vec<u32> = Vec::new();
                let mut errors = 0usize;
                let request = format!("GET {path} HTTP/1.1\r\nhost: load\r\n\r\n");
                let mut stream: Option<(TcpStream, BufReader<TcpStream>)> = None;
                while start.elapsed() < within && times.len() < per_connection {
                    if stream.is_none() {
                        let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                        else {
                            errors += 1;
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        };
                        let _ = s.set_nodelay(true);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let reader = BufReader::new(s.try_clone().expect("a socket"));
                        stream = Some((s, reader));
                    }
                    let (s, reader) = stream.as_mut().expect("connected");
                    let sent = std::time::Instant::now();
                    if s.write_all(request.as_bytes()).is_err() || read_response(reader).is_err() {
                        errors += 1;
                        stream = None;
                        continue;
                    }
                    times.push(sent.elapsed().as_micros() as u32);
                }
                (times, errors)
            })
        })
        .collect();
    let mut all: Vec<u32> = Vec::new();
    let mut errors = 0;
    for h in handles {
        if let Ok((times, e)) = h.join() {
            all.extend(times);
            errors += e;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "requests={} rps={:.0} p50_us={} p99_us={} errors={errors}",
        all.len(),
        all.len() as f64 / elapsed,
        at(0.50),
        at(0.99)
    );
}

/// Read one response (status line, headers, a content-length body).
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut line = String::new();
    let mut length = 0usize;
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 ") {
        return Err(std::io::Error::other("not an HTTP answer"));
    }
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("closed"));
        }
        let lower = line.trim_end().to_ascii_lowercase();
        if lower.is_empty() {
            break;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)
}

/// Append a 4 KiB record to `dir/store.log` and fsync it; the log starts
/// over past 8 MiB.
fn write_record(dir: &str) -> std::io::Result<()> {
    let path = format!("{dir}/store.log");
    let too_big = std::fs::metadata(&path).is_ok_and(|m| m.len() > 8 << 20);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(!too_big)
        .write(true)
        .truncate(too_big)
        .open(&path)?;
    file.write_all(&[b'r'; 4096])?;
    file.sync_data()
}

/// One GET /get to the store, with a deadline for connect, write and read.
fn ask_store(store: &str, timeout: Duration) -> Result<(), String> {
    ask_store_path(store, "/get", timeout)
}

/// One GET of `path` to the store; an error says what the store said.
fn ask_store_path(store: &str, path: &str, timeout: Duration) -> Result<(), String> {
    let addr = store
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {store}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {store}"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: store\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    if response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        match response.split_once("\r\n\r\n") {
            Some((_, body)) if !body.is_empty() => {
                Err(format!("{store} answered: {}", body.trim()))
            }
            _ => Err(format!("{store} answered with an error")),
        }
    }
}
