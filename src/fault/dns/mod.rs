//! The `dns` fault kind: a resolver stand-in in the target's network
//! namespace (`gameday dns-proxy`, hidden, in `proxy.rs`), fed by two `nat
//! OUTPUT REDIRECT` rules, UDP and TCP, for the lookups the container sends
//! to port 53 (Docker's embedded resolver at 127.0.0.11, or any other),
//! commented with the fault's tag. A lookup of a listed name is answered
//! with the error, dropped or held; every other lookup is passed to the
//! container's own resolver (from its `/etc/resolv.conf`, read confined to
//! the container's root and bounded: `resolv.rs`) on a socket whose mark
//! the rules skip, and its answer relayed.
//!
//! This module is the runner's side (what the proxy is given, its rules);
//! it is started and stopped as the HTTP proxy is (`app::start_proxy`),
//! takes its rules away itself as it ends, and the revert recipe is
//! `NetRules` (rules and proxies by tag).

use crate::gameday::model::{DnsError, DnsFault};

mod proxy;
mod resolv;
pub(crate) use proxy::serve;

/// What the proxy does: its work, as it is handed over (JSON on its stdin).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ProxyWork {
    /// Lower-case names, `*` for any run; every name when empty.
    pub names: Vec<String>,
    pub error: Option<DnsError>,
    pub delay_ms: Option<u64>,
    /// Share of matching lookups affected, 0 to 100.
    pub percent: f64,
}

impl ProxyWork {
    pub(crate) fn of(fault: &DnsFault) -> ProxyWork {
        ProxyWork {
            names: fault.names.clone(),
            error: fault.error,
            delay_ms: fault.delay.map(|d| d.as_std().as_millis() as u64),
            percent: fault.percent.0,
        }
    }

    /// Is a lookup of `name` (as asked, any case, with or without the
    /// final dot) one the fault names?
    pub(crate) fn names_it(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.names.is_empty()
            || self
                .names
                .iter()
                .any(|pattern| crate::gameday::model::glob(pattern, &name))
    }
}

/// A proxy's job: the container, and what it does there.
pub(crate) type Job = crate::worker::Targeted<ProxyWork>;

impl crate::worker::Work for Job {
    const KIND: crate::worker::WorkerKind = crate::worker::WorkerKind::DnsProxy;

    /// `--tag TAG --container ID`.
    fn marks(&self) -> crate::worker::Marks {
        self.at.marks()
    }
}

/// The redirects of the container's lookups to the proxy: UDP to
/// `udp_port`, TCP to `tcp_port` (first in OUTPUT: before Docker's own
/// rules for 127.0.0.11), each as the arguments that add it and those that
/// delete it.
pub(crate) fn redirect_rules(
    udp_port: u16,
    tcp_port: u16,
    tag: &str,
) -> Vec<(Vec<String>, Vec<String>)> {
    let mark = format!("{:#x}", crate::fault::nsworker::OWN_MARK);
    [("udp", udp_port), ("tcp", tcp_port)]
        .into_iter()
        .map(|(proto, port)| {
            let spec: Vec<String> = [
                "-p",
                proto,
                "--dport",
                "53",
                "-m",
                "mark",
                "!",
                "--mark",
                &mark,
                "-m",
                "comment",
                "--comment",
                tag,
                "-j",
                "REDIRECT",
                "--to-ports",
                &port.to_string(),
            ]
            .map(String::from)
            .to_vec();
            let nat = ["-w", "5", "-t", "nat"].map(String::from);
            let mut add: Vec<String> = nat.to_vec();
            add.extend(["-I", "OUTPUT", "1"].map(String::from));
            add.extend(spec.iter().cloned());
            let mut delete: Vec<String> = nat.to_vec();
            delete.extend(["-D", "OUTPUT"].map(String::from));
            delete.extend(spec);
            (add, delete)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirects_go_first_in_output_and_skip_the_proxys_own_lookups() {
        let rules = redirect_rules(40000, 40001, "gameday:1:s1-f1-ab");
        let (add, delete) = &rules[0];
        assert_eq!(
            add.join(" "),
            "-w 5 -t nat -I OUTPUT 1 -p udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40000"
        );
        assert_eq!(
            delete.join(" "),
            "-w 5 -t nat -D OUTPUT -p udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40000"
        );
        assert_eq!(
            rules[1].0.join(" "),
            "-w 5 -t nat -I OUTPUT 1 -p tcp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40001"
        );
    }

    #[test]
    fn names_match_in_any_case_with_or_without_the_final_dot() {
        let plan = ProxyWork {
            names: vec!["store".into(), "*.internal".into()],
            error: Some(DnsError::Nxdomain),
            delay_ms: None,
            percent: 100.0,
        };
        assert!(plan.names_it("store"));
        assert!(plan.names_it("Store."));
        assert!(plan.names_it("db.internal"));
        assert!(!plan.names_it("pricing"));
        assert!(!plan.names_it("store.example.com"));
        let every = ProxyWork {
            names: Vec::new(),
            ..plan
        };
        assert!(every.names_it("anything.at.all"));
    }
}
