//! The DNS proxy's side (`gameday dns-proxy`, hidden): enter the target's
//! network namespace, listen on a UDP port, redirect the container's
//! lookups to it, answer the matching share as the fault says, pass the
//! rest to the container's own resolver, and take the redirect away
//! whatever ends it (fail-open, as the HTTP proxy).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Job, ProxyWork, redirect_rules};
use crate::fault::conntrack::{Protocol, Redirect, forget, forget_bypassing};
use crate::fault::nsworker::{Counts, Draw, enter, iptables, mark, watch_end};
use crate::gameday::model::DnsError;
use crate::worker::serve::say;

/// How long a passed lookup may wait for the resolver's answer.
const UPSTREAM_WITHIN: Duration = Duration::from_secs(5);

/// `gameday dns-proxy`: runs until told to stop; an error (nothing left
/// then) when it could not start.
pub(crate) fn serve(job: Job) -> Result<(), String> {
    let crate::worker::Targeted { at, work: plan } = job;
    let (pid, container, tag, max, placed) = (at.pid, &at.container, &at.tag, at.max(), at.placed);
    // Read before entering its namespace, through its root (placed in a
    // helper, the helper's own, which Docker shares with the container).
    let upstream = super::resolv::resolvers(pid, placed)?;
    let main_stat = enter(pid, container, placed)?;
    let socket = UdpSocket::bind("0.0.0.0:0")
        .map_err(|e| format!("cannot listen in the container's namespace: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let own_port = socket.local_addr().map_err(|e| e.to_string())?.port();
    let tcp = std::net::TcpListener::bind("0.0.0.0:0")
        .map_err(|e| format!("cannot listen in the container's namespace: {e}"))?;
    let tcp_port = tcp.local_addr().map_err(|e| e.to_string())?.port();
    let rules = redirect_rules(own_port, tcp_port, tag);
    let remove_rules = || -> Result<(), String> {
        let mut result = Ok(());
        for (_, delete) in &rules {
            if let Err(e) = iptables(delete) {
                result = Err(e);
            }
        }
        result
    };
    for (add, _) in &rules {
        if let Err(e) = iptables(add) {
            let _ = remove_rules();
            return Err(e);
        }
    }
    // Lookups from a source port that a flow made before the rules still
    // holds would pass untranslated: under load, most of them.
    let _ = forget_bypassing(Protocol::Udp, 53, own_port);
    let stop = Arc::new(AtomicBool::new(false));
    let why = Arc::new(std::sync::Mutex::new(None::<&'static str>));
    {
        let stop = stop.clone();
        let why = why.clone();
        watch_end(main_stat, max, move |reason| {
            if let Ok(mut w) = why.lock() {
                w.get_or_insert(reason);
            }
            stop.store(true, Ordering::SeqCst);
        });
    }
    let socket = Arc::new(socket);
    let judge = Arc::new(Judge {
        plan,
        counts: Counts::default(),
        draw: Draw::new(),
    });
    {
        let judge = judge.clone();
        let upstream = upstream.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            for conn in tcp.incoming().flatten() {
                let judge = judge.clone();
                let upstream = upstream.clone();
                let stop = stop.clone();
                std::thread::spawn(move || tcp_client(conn, &judge, &upstream, &stop));
            }
        });
    }
    crate::worker::serve::in_place(&format!(
        "lookups (UDP and TCP) redirected to the proxy on {own_port}/{tcp_port}, the others passed to {}",
        upstream
            .iter()
            .map(|a| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, client)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let query = buf[..n].to_vec();
        match judge.answer(&query) {
            Answer::Pass => pass(&socket, &query, client, &upstream),
            Answer::Reply(answer) => {
                let _ = socket.send_to(&answer, client);
            }
            Answer::Drop => {}
            Answer::Delay(delay) => {
                let socket = socket.clone();
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    forward(&socket, &query, client, &upstream);
                });
            }
        }
    }
    // Fail open: the redirect goes, then the answers still on their way;
    // then the flows it translated, which would keep reaching this port
    // once it is closed (a resolver asking from a fixed port).
    let removed = remove_rules();
    std::thread::sleep(Duration::from_millis(200));
    let forgotten = forget(&[
        Redirect {
            protocol: Protocol::Udp,
            caught: 53,
            to: own_port,
        },
        Redirect {
            protocol: Protocol::Tcp,
            caught: 53,
            to: tcp_port,
        },
    ]);
    let reason = why.lock().ok().and_then(|w| *w).unwrap_or("told to stop");
    let mut last = format!("stopped: {reason}; {}", judge.counts.line("lookups"));
    if let Err(e) = removed {
        last.push_str(&format!("; the redirect could not be removed: {e}"));
    }
    if let Err(e) = forgotten {
        last.push_str(&format!(
            "; the redirected flows could not be forgotten: {e}"
        ));
    }
    say(&last);
    Ok(())
}

/// What becomes of one lookup.
enum Answer {
    /// To the container's resolver, its answer relayed.
    Pass,
    /// This answer, from the fault.
    Reply(Vec<u8>),
    /// No answer: the client times out.
    Drop,
    /// Passed this late.
    Delay(Duration),
}

/// The fault's decision on each lookup, and its counts.
struct Judge {
    plan: ProxyWork,
    counts: Counts,
    draw: Draw,
}

impl Judge {
    fn answer(&self, query: &[u8]) -> Answer {
        self.counts.seen.fetch_add(1, Ordering::Relaxed);
        let Some(question) = question(query) else {
            return Answer::Pass;
        };
        if !self.plan.names_it(&question.name) {
            return Answer::Pass;
        }
        self.counts.matched.fetch_add(1, Ordering::Relaxed);
        if self.draw.next() * 100.0 >= self.plan.percent {
            return Answer::Pass;
        }
        self.counts.affected.fetch_add(1, Ordering::Relaxed);
        match (self.plan.error, self.plan.delay_ms) {
            (Some(DnsError::Nxdomain), _) => Answer::Reply(refusal(query, &question, 3)),
            (Some(DnsError::Servfail), _) => Answer::Reply(refusal(query, &question, 2)),
            (Some(DnsError::Timeout), _) => Answer::Drop,
            (None, delay) => Answer::Delay(Duration::from_millis(delay.unwrap_or(0))),
        }
    }
}

/// One redirected TCP connection: length-prefixed lookups, each judged
/// and answered in turn, until the client closes (a dropped lookup holds
/// the connection, unanswered, until the proxy ends).
fn tcp_client(
    mut conn: std::net::TcpStream,
    judge: &Judge,
    upstream: &[SocketAddr],
    stop: &AtomicBool,
) {
    use std::io::{Read, Write};
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
        if conn.read_exact(&mut query).is_err() {
            return;
        }
        let answer = match judge.answer(&query) {
            Answer::Pass => forward_tcp(&query, upstream),
            Answer::Reply(answer) => Some(answer),
            Answer::Drop => {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                return;
            }
            Answer::Delay(delay) => {
                std::thread::sleep(delay);
                forward_tcp(&query, upstream)
            }
        };
        let Some(answer) = answer else {
            return;
        };
        let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&answer);
        if conn.write_all(&framed).is_err() {
            return;
        }
    }
}

/// Ask the first resolver that answers over TCP, from a marked socket.
fn forward_tcp(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    for resolver in upstream {
        let Ok(mut conn) = connect_marked(*resolver) else {
            continue;
        };
        let _ = conn.set_read_timeout(Some(UPSTREAM_WITHIN));
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        if conn.write_all(&framed).is_err() {
            continue;
        }
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            continue;
        }
        let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
        if conn.read_exact(&mut answer).is_ok() {
            return Some(answer);
        }
    }
    None
}

/// A TCP connection to `to` (IPv4) from a socket with the proxy's mark.
fn connect_marked(to: SocketAddr) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = to else {
        return Err(std::io::Error::other("not an IPv4 resolver"));
    };
    // SAFETY: socket(2) with constant arguments; the descriptor is owned by
    // the TcpStream made from it below, or closed here on failure.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket this function owns.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    mark(fd)?;
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid socket and a sockaddr_in of the size given.
    let rc = unsafe {
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(stream)
}

/// Pass a lookup on, on a thread of its own (the resolver may be slow).
fn pass(socket: &Arc<UdpSocket>, query: &[u8], client: SocketAddr, upstream: &[SocketAddr]) {
    let socket = socket.clone();
    let query = query.to_vec();
    let upstream = upstream.to_vec();
    std::thread::spawn(move || forward(&socket, &query, client, &upstream));
}

/// Ask the first resolver that answers, on a marked socket the redirect
/// skips, and relay its answer from the listening socket (so the client
/// sees it come from where it asked).
fn forward(socket: &UdpSocket, query: &[u8], client: SocketAddr, upstream: &[SocketAddr]) {
    for resolver in upstream {
        let Ok(out) = UdpSocket::bind("0.0.0.0:0") else {
            return;
        };
        let marked = mark(out.as_raw_fd()).is_ok();
        if !marked || out.set_read_timeout(Some(UPSTREAM_WITHIN)).is_err() {
            return;
        }
        if out.send_to(query, resolver).is_err() {
            continue;
        }
        let mut answer = [0u8; 4096];
        if let Ok((n, _)) = out.recv_from(&mut answer) {
            let _ = socket.send_to(&answer[..n], client);
            return;
        }
    }
}

/// The first question of a query: its name (lower case, no final dot) and
/// where the question section ends.
#[derive(Debug, PartialEq)]
pub(super) struct Question {
    pub name: String,
    pub end: usize,
}

/// Read the first question of a DNS query, or None when it is not one.
pub(super) fn question(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || u16::from_be_bytes([msg[4], msg[5]]) == 0 {
        return None;
    }
    let mut at = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *msg.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        // A query's question is never compressed.
        if len & 0xC0 != 0 {
            return None;
        }
        let label = msg.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
    }
    let end = at + 4;
    if msg.len() < end {
        return None;
    }
    Some(Question {
        name: labels.join("."),
        end,
    })
}

/// An answer to `query` with `rcode` and no records: its id, its
/// question, the client's "recursion desired", "recursion available".
pub(super) fn refusal(query: &[u8], question: &Question, rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(question.end);
    out.extend_from_slice(&query[..2]);
    out.push(0x80 | (query[2] & 0x79));
    out.push(0x80 | (rcode & 0x0F));
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question.end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name`, type A, with an EDNS record after it.
    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
        q
    }

    #[test]
    fn a_query_reads_as_its_first_question_and_an_answer_is_not_a_query() {
        let q = query(7, "Store.Internal");
        let found = question(&q).unwrap();
        assert_eq!(found.name, "store.internal");
        assert_eq!(found.end, 12 + 16 + 4);
        let mut answer = q.clone();
        answer[2] |= 0x80;
        assert_eq!(question(&answer), None);
        assert_eq!(question(&q[..20]), None);
        assert_eq!(question(&[0; 5]), None);
    }

    #[test]
    fn a_refusal_keeps_the_id_and_question_and_says_the_code() {
        let q = query(0xBEEF, "store");
        let found = question(&q).unwrap();
        let r = refusal(&q, &found, 3);
        assert_eq!(&r[..2], &[0xBE, 0xEF]);
        assert_eq!(r[2] & 0x80, 0x80, "an answer");
        assert_eq!(r[2] & 0x01, 0x01, "recursion desired, as asked");
        assert_eq!(r[3], 0x83, "recursion available, NXDOMAIN");
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&r[12..], &q[12..found.end]);
        assert_eq!(refusal(&q, &found, 2)[3], 0x82, "SERVFAIL");
    }
}
