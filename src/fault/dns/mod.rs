//! The `dns` fault kind: a resolver stand-in in the target's network
//! namespace (`gameday dns-proxy`, hidden, in `proxy.rs`), fed by one `nat
//! OUTPUT REDIRECT` rule for the UDP lookups the container sends to port 53
//! (Docker's embedded resolver at 127.0.0.11, or any other), commented with
//! the fault's tag. A lookup of a listed name is answered with the error,
//! dropped or held; every other lookup is passed to the container's own
//! resolver (from its `/etc/resolv.conf`) on a socket whose mark the rule
//! skips, and its answer relayed. Lookups over TCP are not intercepted.
//!
//! This module is the runner's side (what the proxy is given, starting
//! and stopping it); it takes its rule away itself as it ends, like the
//! HTTP proxy, and the revert recipe is `NetRules` (rules and proxies by
//! tag).

use crate::gameday::model::{DnsError, DnsFault};

mod proxy;
pub(crate) use proxy::serve;

/// What the proxy does, as it is handed over (one JSON argument).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Plan {
    /// Lower-case names, `*` for any run; every name when empty.
    pub names: Vec<String>,
    pub error: Option<DnsError>,
    pub delay_ms: Option<u64>,
    /// Share of matching lookups affected, 0 to 100.
    pub percent: f64,
}

impl Plan {
    pub(crate) fn of(fault: &DnsFault) -> Plan {
        Plan {
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

/// The redirect of the container's UDP lookups to the proxy's `own_port`
/// (first in OUTPUT: before Docker's own rule for 127.0.0.11).
pub(crate) fn redirect_rule(own_port: u16, tag: &str) -> (Vec<String>, Vec<String>) {
    let spec: Vec<String> = [
        "OUTPUT",
        "-p",
        "udp",
        "--dport",
        "53",
        "-m",
        "mark",
        "!",
        "--mark",
        &format!("{:#x}", crate::fault::nsworker::OWN_MARK),
        "-m",
        "comment",
        "--comment",
        tag,
        "-j",
        "REDIRECT",
        "--to-ports",
        &own_port.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let with = |op: &[&str]| {
        let mut args: Vec<String> = ["-w", "5", "-t", "nat"].map(String::from).to_vec();
        args.extend(op.iter().map(|s| s.to_string()));
        args
    };
    let mut add = with(&["-I"]);
    add.push(spec[0].clone());
    add.push("1".into());
    add.extend(spec[1..].iter().cloned());
    let mut delete = with(&["-D"]);
    delete.extend(spec);
    (add, delete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_goes_first_in_output_and_skips_the_proxys_own_lookups() {
        let (add, delete) = redirect_rule(40000, "gameday:1:s1-f1-ab");
        assert_eq!(
            add.join(" "),
            "-w 5 -t nat -I OUTPUT 1 -p udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40000"
        );
        assert_eq!(
            delete.join(" "),
            "-w 5 -t nat -D OUTPUT -p udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40000"
        );
    }

    #[test]
    fn names_match_in_any_case_with_or_without_the_final_dot() {
        let plan = Plan {
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
        let every = Plan {
            names: Vec::new(),
            ..plan
        };
        assert!(every.names_it("anything.at.all"));
    }
}
