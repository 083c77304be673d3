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

use super::{Plan, redirect_rule};
use crate::fault::nsworker::{Counts, Draw, enter, iptables, mark, say, watch_end};
use crate::gameday::model::DnsError;

/// How long a passed lookup may wait for the resolver's answer.
const UPSTREAM_WITHIN: Duration = Duration::from_secs(5);

/// The resolvers the container asks, from its resolv.conf (read before
/// entering its namespace, through its root; placed in a helper, the
/// helper's own, which Docker shares with the container).
fn resolvers(pid: i64, placed: bool) -> Result<Vec<SocketAddr>, String> {
    let path = if placed {
        "/etc/resolv.conf".to_string()
    } else {
        format!("/proc/{pid}/root/etc/resolv.conf")
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the container's resolv.conf: {e}"))?;
    let found: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if found.is_empty() {
        return Err("the container's resolv.conf names no nameserver".into());
    }
    Ok(found)
}

/// `gameday dns-proxy`: runs until told to stop; an error (nothing left
/// then) when it could not start.
pub(crate) fn serve(
    pid: i64,
    container: &str,
    tag: &str,
    max: Duration,
    plan: Plan,
    placed: bool,
) -> Result<(), String> {
    let upstream = resolvers(pid, placed)?;
    let main_stat = enter(pid, container, placed)?;
    let socket = UdpSocket::bind("0.0.0.0:0")
        .map_err(|e| format!("cannot listen in the container's namespace: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let own_port = socket.local_addr().map_err(|e| e.to_string())?.port();
    let (add, delete) = redirect_rule(own_port, tag);
    iptables(&add)?;
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
    let counts = Arc::new(Counts::default());
    let draw = Arc::new(Draw::new());
    say(&format!(
        "ready UDP lookups redirected to the proxy on {own_port}, the others passed to {}",
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
        counts.seen.fetch_add(1, Ordering::Relaxed);
        let Some(question) = question(&query) else {
            pass(&socket, &query, client, &upstream);
            continue;
        };
        if !plan.names_it(&question.name) {
            pass(&socket, &query, client, &upstream);
            continue;
        }
        counts.matched.fetch_add(1, Ordering::Relaxed);
        if draw.next() * 100.0 >= plan.percent {
            pass(&socket, &query, client, &upstream);
            continue;
        }
        counts.affected.fetch_add(1, Ordering::Relaxed);
        match (plan.error, plan.delay_ms) {
            (Some(DnsError::Nxdomain), _) => {
                let _ = socket.send_to(&refusal(&query, &question, 3), client);
            }
            (Some(DnsError::Servfail), _) => {
                let _ = socket.send_to(&refusal(&query, &question, 2), client);
            }
            (Some(DnsError::Timeout), _) => {}
            (None, delay) => {
                let socket = socket.clone();
                let upstream = upstream.clone();
                let delay = Duration::from_millis(delay.unwrap_or(0));
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    forward(&socket, &query, client, &upstream);
                });
            }
        }
    }
    // Fail open: the redirect goes, then the answers still on their way.
    let removed = iptables(&delete);
    std::thread::sleep(Duration::from_millis(200));
    let reason = why.lock().ok().and_then(|w| *w).unwrap_or("told to stop");
    let mut last = format!("stopped: {reason}; {}", counts.line("lookups"));
    if let Err(e) = removed {
        last.push_str(&format!("; the redirect could not be removed: {e}"));
    }
    say(&last);
    Ok(())
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
