//! The `http_fault` kind: a transparent HTTP/1.1 proxy in the target's
//! network namespace (`gameday http-proxy`, hidden, in `proxy.rs`), fed by
//! one `nat PREROUTING REDIRECT` rule for the named port, commented with the
//! fault's tag like every rule gameday writes. Requests arriving from
//! outside the container are redirected; the proxy's own connections to
//! the service are local, so they never are. Connections already open
//! when the rule goes in are not redirected (conntrack keeps their path),
//! so requests on them are unaffected until they reconnect. Only the
//! connections its rules redirected are served ([`redirected_here`]): one
//! made straight to the proxy's own port is closed, since passing it on
//! would reach the proxy again, and again.
//!
//! This module is the runner's side: the plan the proxy is given, the
//! rule, starting the proxy and stopping it (its stdin closes; it removes
//! the rule itself, passes what is in flight, and says what it counted).
//! The revert recipe is `NetRules`: rules by tag, and the proxy process by
//! tag, from any process (the watchdog, `recover`).

use crate::gameday::model::{HttpAction, HttpFault, HttpMatch};

mod proxy;
pub(crate) use proxy::serve;

/// What the proxy does: its work, as it is handed over (JSON on its stdin).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ProxyWork {
    pub port: u16,
    pub matcher: HttpMatch,
    /// Share of matching requests affected, 0 to 100.
    pub percent: f64,
    pub action: HttpAction,
    /// Client side: the addresses of the `to` services (empty: server side).
    #[serde(default)]
    pub peers: Vec<std::net::Ipv4Addr>,
}

impl ProxyWork {
    pub(crate) fn of(fault: &HttpFault, peers: Vec<std::net::Ipv4Addr>) -> ProxyWork {
        ProxyWork {
            peers,
            port: fault.port,
            matcher: fault.matcher.clone(),
            percent: fault.percent.0,
            action: fault.action(),
        }
    }
}

/// A proxy's job: the container, and what it does there.
pub(crate) type Job = crate::worker::Targeted<ProxyWork>;

impl crate::worker::Work for Job {
    const KIND: crate::worker::WorkerKind = crate::worker::WorkerKind::HttpProxy;

    /// `--tag TAG --container ID`.
    fn marks(&self) -> crate::worker::Marks {
        self.at.marks()
    }
}

/// One redirect rule: the arguments that add it and those that delete it.
pub(crate) struct Rule {
    spec: Vec<String>,
}

/// The redirects to the proxy's `own_port`: server side, the connections
/// arriving at `port` from outside (PREROUTING: the proxy's own, local,
/// never pass there); client side, one per peer address, the connections
/// the container opens to `peer:port` (OUTPUT), but the proxy's (marked).
pub(crate) fn redirect_rules(plan: &ProxyWork, own_port: u16, tag: &str) -> Vec<Rule> {
    let port = plan.port.to_string();
    let own = own_port.to_string();
    let tail = |spec: &mut Vec<String>| {
        spec.extend(
            [
                "-m",
                "comment",
                "--comment",
                tag,
                "-j",
                "REDIRECT",
                "--to-ports",
                &own,
            ]
            .map(String::from),
        );
    };
    if plan.peers.is_empty() {
        let mut spec: Vec<String> = ["PREROUTING", "-p", "tcp", "--dport", &port]
            .map(String::from)
            .to_vec();
        tail(&mut spec);
        return vec![Rule { spec }];
    }
    let mark = format!("{:#x}", crate::fault::nsworker::OWN_MARK);
    plan.peers
        .iter()
        .map(|peer| {
            let dest = format!("{peer}/32");
            let mut spec: Vec<String> = [
                "OUTPUT", "-p", "tcp", "-d", &dest, "--dport", &port, "-m", "mark", "!", "--mark",
                &mark,
            ]
            .map(String::from)
            .to_vec();
            tail(&mut spec);
            Rule { spec }
        })
        .collect()
}

/// Was a connection that reached the proxy going to `to` (its destination
/// before the redirect, SO_ORIGINAL_DST) one of the fault's redirects: the
/// faulted port (server side), or the faulted port of a peer (client side)?
/// A connection made to the proxy itself was never redirected: its
/// destination is the proxy's `own_port`.
pub(crate) fn redirected_here(plan: &ProxyWork, to: std::net::SocketAddr, own_port: u16) -> bool {
    let std::net::SocketAddr::V4(to) = to else {
        return false;
    };
    to.port() == plan.port
        && to.port() != own_port
        && (plan.peers.is_empty() || plan.peers.contains(to.ip()))
}

impl Rule {
    fn with(&self, op: &str) -> Vec<String> {
        let mut args: Vec<String> = ["-w", "5", "-t", "nat", op].map(String::from).to_vec();
        args.extend(self.spec.iter().cloned());
        args
    }

    pub(crate) fn add(&self) -> Vec<String> {
        self.with("-A")
    }

    pub(crate) fn delete(&self) -> Vec<String> {
        self.with("-D")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connections_redirected_to_the_faulted_port_are_served() {
        let mut plan = ProxyWork {
            port: 8080,
            matcher: HttpMatch::default(),
            percent: 100.0,
            action: HttpAction::Abort(crate::gameday::model::HttpAbort::Reset),
            peers: Vec::new(),
        };
        let to = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert!(redirected_here(&plan, to("172.18.0.5:8080"), 40123));
        // Straight to the proxy: its own port, on any of its addresses.
        assert!(!redirected_here(&plan, to("172.18.0.5:40123"), 40123));
        assert!(!redirected_here(&plan, to("127.0.0.1:40123"), 40123));
        assert!(!redirected_here(&plan, to("172.18.0.5:9090"), 40123));
        assert!(!redirected_here(&plan, to("[::1]:8080"), 40123));
        plan.peers = vec!["172.18.0.3".parse().unwrap()];
        assert!(redirected_here(&plan, to("172.18.0.3:8080"), 40123));
        assert!(!redirected_here(&plan, to("172.18.0.4:8080"), 40123));
        assert!(!redirected_here(&plan, to("172.18.0.3:40123"), 40123));
    }

    #[test]
    fn the_redirects_are_tagged_nat_rules_added_and_deleted_alike() {
        let mut plan = ProxyWork {
            port: 8080,
            matcher: HttpMatch::default(),
            percent: 100.0,
            action: HttpAction::Abort(crate::gameday::model::HttpAbort::Reset),
            peers: Vec::new(),
        };
        let server = redirect_rules(&plan, 40123, "gameday:1:s1-f1-ab");
        assert_eq!(server.len(), 1);
        assert_eq!(
            server[0].add().join(" "),
            "-w 5 -t nat -A PREROUTING -p tcp --dport 8080 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40123"
        );
        assert_eq!(
            server[0].delete().join(" "),
            "-w 5 -t nat -D PREROUTING -p tcp --dport 8080 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40123"
        );
        plan.peers = vec!["172.18.0.3".parse().unwrap(), "172.18.0.4".parse().unwrap()];
        let client = redirect_rules(&plan, 40123, "gameday:1:s1-f1-ab");
        assert_eq!(
            client.iter().map(|r| r.add().join(" ")).collect::<Vec<_>>(),
            [
                "-w 5 -t nat -A OUTPUT -p tcp -d 172.18.0.3/32 --dport 8080 -m mark ! --mark 0x6764 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40123",
                "-w 5 -t nat -A OUTPUT -p tcp -d 172.18.0.4/32 --dport 8080 -m mark ! --mark 0x6764 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40123",
            ]
        );
    }
}
