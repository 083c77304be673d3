//! Forgetting the flows a fault's redirect rules translated. Conntrack
//! keeps a flow's NAT for as long as its packets come: once a proxy's
//! `REDIRECT` rule is gone, a resolver asking from a fixed source port (or
//! any UDP flow) keeps reaching the dead proxy's port. So whoever removes
//! the rules (the proxy as it ends, or the revert recipe) then deletes, in
//! the container's network namespace, exactly the entries those rules
//! made: the flows to the caught port whose replies come from the proxy's
//! port. Spoken over ctnetlink (`NETLINK_NETFILTER`) from the calling
//! thread's network namespace; no `conntrack` tool needed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One redirect a fault's rule made: flows of `protocol` to port `caught`
/// sent to the proxy's port `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Redirect {
    pub protocol: Protocol,
    pub caught: u16,
    pub to: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    fn number(self) -> u8 {
        match self {
            Protocol::Tcp => libc::IPPROTO_TCP as u8,
            Protocol::Udp => libc::IPPROTO_UDP as u8,
        }
    }

    /// As iptables writes it (`-p udp`).
    pub(crate) fn from_name(name: &str) -> Option<Protocol> {
        match name {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Redirect {
    /// `udp:53:40000`, as the work of `gameday conntrack-forget` carries it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let protocol = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        write!(f, "{protocol}:{}:{}", self.caught, self.to)
    }
}

impl From<Redirect> for String {
    fn from(r: Redirect) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for Redirect {
    type Error = String;

    fn try_from(s: String) -> Result<Redirect, String> {
        s.parse()
    }
}

/// The work of `gameday conntrack-forget` (in a helper container sharing
/// a target's network namespace): forget these redirects' flows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ForgetWork {
    pub tag: String,
    pub redirects: Vec<Redirect>,
}

impl crate::worker::Work for ForgetWork {
    const KIND: crate::worker::WorkerKind = crate::worker::WorkerKind::ConntrackForget;

    fn marks(&self) -> crate::worker::Marks {
        crate::worker::Marks::default().with("--tag", self.tag.clone())
    }
}

/// `gameday conntrack-forget`: forget the work's flows in this network
/// namespace; says `stopped: forgotten=N`, or `stopped: failed: ...` (and
/// exits 1).
pub(crate) fn serve_forget(work: ForgetWork) -> u8 {
    match forget(&work.redirects) {
        Ok(n) => {
            crate::worker::serve::stopped(&format!("forgotten={n}"));
            0
        }
        Err(e) => {
            crate::worker::serve::stopped(&format!("failed: {e}"));
            eprintln!("gameday conntrack-forget: {e}");
            1
        }
    }
}

impl std::str::FromStr for Redirect {
    type Err = String;

    fn from_str(s: &str) -> Result<Redirect, String> {
        let bad = || format!("expected PROTOCOL:PORT:TO_PORT (e.g. udp:53:40000), found `{s}`");
        let mut parts = s.split(':');
        let protocol = parts.next().and_then(Protocol::from_name).ok_or_else(bad)?;
        let caught = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let to = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Redirect {
            protocol,
            caught,
            to,
        })
    }
}

// ctnetlink, from linux/netfilter/nfnetlink_conntrack.h.
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HEADER: usize = 16;
const NFGENMSG: usize = 4;

/// Delete the conntrack entries of this thread's network namespace that
/// one of `redirects` made (IPv4: the rules are iptables'). Returns how
/// many were deleted.
pub(crate) fn forget(redirects: &[Redirect]) -> Result<usize, String> {
    let redirects: Vec<&Redirect> = redirects.iter().filter(|r| r.to != r.caught).collect();
    if redirects.is_empty() {
        return Ok(0);
    }
    forget_matching(&redirects)
}

/// Delete this thread's network namespace's flows of `protocol` to `port`
/// that the proxy listening on `proxy` did not get: made before a fault's
/// `REDIRECT` rule (untranslated, or translated by another rule, such as
/// Docker's own DNAT of 127.0.0.11:53), they would keep bypassing it (a
/// UDP flow lives on while its source port is reused, and a busy resolver
/// client reuses them all).
pub(crate) fn forget_bypassing(protocol: Protocol, port: u16, proxy: u16) -> Result<usize, String> {
    let socket = Netlink::open().map_err(|e| format!("cannot open ctnetlink: {e}"))?;
    let mut doomed = Vec::new();
    socket
        .dump(|entry| {
            if entry.to_port(protocol) == Some(port) && entry.answered_from() != Some(proxy) {
                doomed.push(entry.identity());
            }
        })
        .map_err(|e| format!("cannot list the connections: {e}"))?;
    delete_all(&socket, doomed)
}

fn forget_matching(redirects: &[&Redirect]) -> Result<usize, String> {
    let socket = Netlink::open().map_err(|e| format!("cannot open ctnetlink: {e}"))?;
    let mut doomed = Vec::new();
    socket
        .dump(|entry| {
            if redirects.iter().any(|r| entry.made_by(r)) {
                doomed.push(entry.identity());
            }
        })
        .map_err(|e| format!("cannot list the connections: {e}"))?;
    delete_all(&socket, doomed)
}

fn delete_all(socket: &Netlink, doomed: Vec<Identity>) -> Result<usize, String> {
    let mut deleted = 0;
    for identity in doomed {
        match socket.delete(&identity) {
            Ok(()) => deleted += 1,
            // Ended meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(format!("cannot delete a connection: {e}")),
        }
    }
    Ok(deleted)
}

/// Delete them from the network namespace of host process `pid`, on a
/// thread of its own (setns(2) moves only the calling thread).
pub(crate) fn forget_in(pid: i64, redirects: &[Redirect]) -> Result<usize, String> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| format!("cannot open the container's network namespace: {e}"))?;
    let redirects = redirects.to_vec();
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot enter the container's network namespace: {e}"))?;
        forget(&redirects)
    })
    .join()
    .map_err(|_| "the conntrack thread failed".to_string())?
}

/// One conntrack entry as the dump gives it: its attributes, raw.
struct Entry<'a> {
    attributes: &'a [u8],
}

/// What names an entry to the kernel: its original tuple, id and zone,
/// each an attribute as the dump gave it.
struct Identity(Vec<u8>);

impl Entry<'_> {
    /// (protocol number, source port, destination port) of a tuple.
    fn ports(&self, tuple: u16) -> Option<(u8, u16, u16)> {
        let tuple = find(self.attributes, tuple)?;
        let proto = find(tuple, CTA_TUPLE_PROTO)?;
        let number = *find(proto, CTA_PROTO_NUM)?.first()?;
        let port = |kind| {
            let b = find(proto, kind)?;
            Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
        };
        Some((number, port(CTA_PROTO_SRC_PORT)?, port(CTA_PROTO_DST_PORT)?))
    }

    /// The port a flow of `protocol` was sent to.
    fn to_port(&self, protocol: Protocol) -> Option<u16> {
        self.ports(CTA_TUPLE_ORIG)
            .filter(|(number, _, _)| *number == protocol.number())
            .map(|(_, _, to)| to)
    }

    /// The port its replies come from.
    fn answered_from(&self) -> Option<u16> {
        self.ports(CTA_TUPLE_REPLY).map(|(_, from, _)| from)
    }

    fn made_by(&self, r: &Redirect) -> bool {
        let (Some((number, _, caught)), Some((_, from, _))) =
            (self.ports(CTA_TUPLE_ORIG), self.ports(CTA_TUPLE_REPLY))
        else {
            return false;
        };
        number == r.protocol.number() && caught == r.caught && from == r.to
    }

    fn identity(&self) -> Identity {
        let mut out = Vec::new();
        for (kind, raw) in attributes(self.attributes) {
            if matches!(kind, CTA_TUPLE_ORIG | CTA_ID | CTA_ZONE) {
                out.extend_from_slice(raw);
                out.resize(align(out.len()), 0);
            }
        }
        Identity(out)
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf`: (type, the whole attribute with its header).
fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let header = buf.get(at..at + 4)?;
        let len = u16::from_ne_bytes([header[0], header[1]]) as usize;
        let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
        let whole = buf.get(at..at + len).filter(|_| len >= 4)?;
        at += align(len);
        Some((kind, whole))
    })
}

/// The payload of the first attribute of `kind` in `buf`.
fn find(buf: &[u8], kind: u16) -> Option<&[u8]> {
    attributes(buf)
        .find(|(k, _)| *k == kind)
        .map(|(_, whole)| &whole[4..])
}

/// A ctnetlink socket.
struct Netlink {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Netlink {
    fn open() -> std::io::Result<Netlink> {
        // SAFETY: socket(2) with constant arguments; the descriptor is
        // owned just below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor just opened, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let timeout = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: our socket and a timeval of the size given.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        Ok(Netlink {
            fd,
            seq: std::cell::Cell::new(1),
        })
    }

    /// Send one ctnetlink request of `kind` with `flags` and `body`.
    fn send(&self, kind: u16, flags: u16, body: &[u8]) -> std::io::Result<u32> {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        let len = NLMSG_HEADER + NFGENMSG + body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        let kind = ((libc::NFNL_SUBSYS_CTNETLINK as u16) << 8) | kind;
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | libc::NLM_F_REQUEST as u16).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&[libc::AF_INET as u8, libc::NFNETLINK_V0 as u8, 0, 0]);
        msg.extend_from_slice(body);
        // SAFETY: our socket and a buffer of the length given; address 0
        // is the kernel.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: as above.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(seq)
    }

    /// Read the answers to request `seq`, each message to `each` (type,
    /// payload after the netlink header), until the end of a dump or an
    /// acknowledgement.
    fn answers(&self, seq: u32, mut each: impl FnMut(u16, &[u8])) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: our socket and a buffer we own of the size given.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut at = 0;
            let got = &buf[..n as usize];
            while let Some(header) = got.get(at..at + NLMSG_HEADER) {
                let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let kind = u16::from_ne_bytes([header[4], header[5]]);
                let from = u32::from_ne_bytes([header[8], header[9], header[10], header[11]]);
                let Some(payload) = got
                    .get(at + NLMSG_HEADER..at + len)
                    .filter(|_| len >= NLMSG_HEADER)
                else {
                    return Err(std::io::Error::other("a truncated netlink message"));
                };
                at += align(len);
                if from != seq {
                    continue;
                }
                match kind as i32 {
                    libc::NLMSG_DONE => return Ok(()),
                    libc::NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(-libc::EIO);
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(std::io::Error::from_raw_os_error(-code))
                        };
                    }
                    _ => each(kind, payload),
                }
            }
        }
    }

    /// Every IPv4 entry of the namespace, to `each`.
    fn dump(&self, mut each: impl FnMut(&Entry<'_>)) -> std::io::Result<()> {
        let seq = self.send(IPCTNL_MSG_CT_GET, libc::NLM_F_DUMP as u16, &[])?;
        let new = ((libc::NFNL_SUBSYS_CTNETLINK as u16) << 8) | IPCTNL_MSG_CT_NEW;
        self.answers(seq, |kind, payload| {
            if kind == new
                && let Some(attributes) = payload.get(NFGENMSG..)
            {
                each(&Entry { attributes });
            }
        })
    }

    fn delete(&self, identity: &Identity) -> std::io::Result<()> {
        let seq = self.send(IPCTNL_MSG_CT_DELETE, libc::NLM_F_ACK as u16, &identity.0)?;
        self.answers(seq, |_, _| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attribute: its header and payload, padded.
    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize(align(out.len()), 0);
        out
    }

    fn tuple(kind: u16, proto: u8, src: u16, dst: u16) -> Vec<u8> {
        let ports = [
            attr(CTA_PROTO_NUM, &[proto]),
            attr(CTA_PROTO_SRC_PORT, &src.to_be_bytes()),
            attr(CTA_PROTO_DST_PORT, &dst.to_be_bytes()),
        ]
        .concat();
        let ip = attr(
            1,
            &[attr(1, &[127, 0, 0, 1]), attr(2, &[127, 0, 0, 11])].concat(),
        );
        attr(
            kind | 0x8000,
            &[ip, attr(CTA_TUPLE_PROTO | 0x8000, &ports)].concat(),
        )
    }

    #[test]
    fn an_entry_is_made_by_a_redirect_when_its_reply_comes_from_the_proxy_port() {
        let orig = tuple(CTA_TUPLE_ORIG, 17, 5353, 53);
        let id = attr(CTA_ID, &7u32.to_be_bytes());
        let status = attr(3, &0x1a8u32.to_be_bytes());
        let redirected = [
            orig.clone(),
            tuple(CTA_TUPLE_REPLY, 17, 40000, 5353),
            status.clone(),
            id.clone(),
        ]
        .concat();
        let plain = [
            orig.clone(),
            tuple(CTA_TUPLE_REPLY, 17, 53, 5353),
            id.clone(),
        ]
        .concat();
        let dns = Redirect {
            protocol: Protocol::Udp,
            caught: 53,
            to: 40000,
        };
        let entry = Entry {
            attributes: &redirected,
        };
        assert!(entry.made_by(&dns));
        assert!(
            !Entry { attributes: &plain }.made_by(&dns),
            "not translated"
        );
        assert!(
            !entry.made_by(&Redirect {
                protocol: Protocol::Tcp,
                ..dns
            }),
            "another protocol"
        );
        assert!(
            !entry.made_by(&Redirect { to: 40001, ..dns }),
            "another proxy's"
        );
        // Named to the kernel by its original tuple and id, as dumped.
        assert_eq!(entry.identity().0, [orig, id].concat());
    }

    #[test]
    fn redirects_read_as_they_are_written() {
        let r: Redirect = "udp:53:40000".parse().unwrap();
        assert_eq!(
            r,
            Redirect {
                protocol: Protocol::Udp,
                caught: 53,
                to: 40000
            }
        );
        assert_eq!(r.to_string(), "udp:53:40000");
        for bad in ["icmp:1:2", "udp:53", "udp:53:x", "udp:53:1:2", ""] {
            assert!(bad.parse::<Redirect>().is_err(), "{bad}");
        }
    }
}
