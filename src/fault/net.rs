//! Network faults inside a container's namespace: latency, jitter, loss,
//! duplication and corruption (netem where the kernel has it, else the
//! userspace NFQUEUE engine; loss alone via iptables `statistic`), bandwidth
//! (tbf), partitions (iptables DROP both ways), and Docker network
//! disconnects. Every rule carries the comment `gameday:<run>:<fault>`, and
//! every root qdisc a handle of the fault's own (`qdisc`), so a revert (or
//! `recover`, from another process) finds exactly what that fault added and
//! nothing else.

use std::net::Ipv4Addr;

use super::conntrack::{Protocol, Redirect};
use super::netns::{self, NetExec};
use super::nfqueue::{self, PacketPlan, PacketServer};
use super::qdisc::{self, OwnQdisc};
use crate::docker::{ContainerInfo, Endpoint, Engine};
use crate::gameday::model::{Fault, NetEngine, NetFault};

/// The engine a packet fault ends up using, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    Netem,
    Userspace,
    IptablesStatistic,
    Tbf,
    IptablesDrop,
    DockerNetwork,
}

impl Mechanism {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Mechanism::Netem => "tc netem",
            Mechanism::Userspace => "userspace NFQUEUE engine",
            Mechanism::IptablesStatistic => "iptables statistic",
            Mechanism::Tbf => "tc tbf",
            Mechanism::IptablesDrop => "iptables DROP rules",
            Mechanism::DockerNetwork => "Docker network API",
        }
    }
}

/// Which mechanism `fault` will use on a kernel with or without netem.
pub(crate) fn mechanism(fault: &Fault, netem_available: bool) -> Result<Mechanism, String> {
    let Some(net) = fault.net() else {
        return Err("not a network fault".into());
    };
    let engine = match net {
        NetFault::Delay(f) => f.engine,
        NetFault::Loss(f) => f.engine,
        NetFault::Duplicate(f) | NetFault::Corrupt(f) => f.engine,
        NetFault::Bandwidth(_) => return Ok(Mechanism::Tbf),
        NetFault::Partition(_) => return Ok(Mechanism::IptablesDrop),
        NetFault::Disconnect(_) => return Ok(Mechanism::DockerNetwork),
    };
    match engine {
        NetEngine::Netem if netem_available => Ok(Mechanism::Netem),
        NetEngine::Netem => Err(netns::netem_missing()),
        NetEngine::Userspace => Ok(Mechanism::Userspace),
        NetEngine::Auto if netem_available => Ok(Mechanism::Netem),
        // Without netem, uncorrelated loss is an iptables rule; the rest
        // goes through the userspace engine.
        NetEngine::Auto => Ok(match net {
            NetFault::Loss(l) if l.correlation.is_none() => Mechanism::IptablesStatistic,
            NetFault::Loss(_)
            | NetFault::Delay(_)
            | NetFault::Duplicate(_)
            | NetFault::Corrupt(_)
            | NetFault::Bandwidth(_)
            | NetFault::Partition(_)
            | NetFault::Disconnect(_) => Mechanism::Userspace,
        }),
    }
}

/// The rule comment of one fault of one run.
pub(crate) fn tag(run_id: &str, fault_id: &str) -> String {
    format!("gameday:{run_id}:{fault_id}")
}

/// A hash of a fault's tag (FNV-1a): stable across processes.
pub(crate) fn tag_hash(tag: &str) -> u64 {
    tag.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A queue number for a fault, stable for its tag.
fn queue_number(tag: &str) -> u16 {
    1000 + (tag_hash(tag) % 60_000) as u16
}

fn fmt_duration(d: std::time::Duration) -> String {
    format!("{}us", d.as_micros())
}

/// The netem parameters of a packet fault (`delay 200000us 50000us 25%`, ...).
pub(crate) fn netem_args(fault: &Fault) -> Vec<String> {
    let mut args = Vec::new();
    let Some(net) = fault.net() else {
        return args;
    };
    match net {
        NetFault::Delay(d) => {
            args.extend(["delay".to_string(), fmt_duration(d.latency.as_std())]);
            if let Some(j) = d.jitter {
                args.push(fmt_duration(j.as_std()));
                if let Some(c) = d.correlation {
                    args.push(format!("{}%", c.0));
                }
            }
        }
        NetFault::Loss(l) => {
            args.extend(["loss".to_string(), format!("{}%", l.percent.0)]);
            if let Some(c) = l.correlation {
                args.push(format!("{}%", c.0));
            }
        }
        NetFault::Duplicate(d) => {
            args.extend(["duplicate".to_string(), format!("{}%", d.percent.0)]);
        }
        NetFault::Corrupt(c) => args.extend(["corrupt".to_string(), format!("{}%", c.percent.0)]),
        NetFault::Bandwidth(_) | NetFault::Partition(_) | NetFault::Disconnect(_) => {}
    }
    args
}

fn packet_plan(fault: &Fault) -> PacketPlan {
    let Some(net) = fault.net() else {
        return PacketPlan::default();
    };
    match net {
        NetFault::Delay(d) => PacketPlan {
            latency: d.latency.as_std(),
            jitter: d.jitter.map(|j| j.as_std()).unwrap_or_default(),
            correlation: d.correlation.map(|c| c.0 / 100.0).unwrap_or(0.0),
            ..Default::default()
        },
        NetFault::Loss(l) => PacketPlan {
            loss: l.percent.0 / 100.0,
            correlation: l.correlation.map(|c| c.0 / 100.0).unwrap_or(0.0),
            ..Default::default()
        },
        NetFault::Duplicate(d) => PacketPlan {
            duplicate: d.percent.0 / 100.0,
            ..Default::default()
        },
        NetFault::Corrupt(c) => PacketPlan {
            corrupt: c.percent.0 / 100.0,
            ..Default::default()
        },
        NetFault::Bandwidth(_) | NetFault::Partition(_) | NetFault::Disconnect(_) => {
            PacketPlan::default()
        }
    }
}

/// IPv4 addresses of the peers, on any network.
pub(crate) async fn peer_addresses(
    engine: &Engine,
    peers: &[ContainerInfo],
) -> Result<Vec<Ipv4Addr>, String> {
    let mut ips = Vec::new();
    for peer in peers {
        let endpoints = engine
            .endpoints(&peer.id)
            .await
            .map_err(|e| e.to_string())?;
        let mine: Vec<Ipv4Addr> = endpoints
            .iter()
            .filter_map(|e| e.ipv4.as_deref()?.parse().ok())
            .collect();
        if mine.is_empty() {
            return Err(format!(
                "{} has no IPv4 address (is it running?)",
                peer.name
            ));
        }
        ips.extend(mine);
    }
    ips.sort();
    ips.dedup();
    Ok(ips)
}

fn iptables(exec: &mut dyn NetExec, args: &[&str]) -> Result<(), String> {
    exec.run("iptables", &[&["-w", "5"], args].concat())
        .map(|_| ())
}

/// Apply a packet/bandwidth/partition fault in a namespace. On any error,
/// whatever was added is removed again before returning.
pub(crate) fn apply_in_netns(
    exec: &mut dyn NetExec,
    fault: &Fault,
    how: &InNetns<'_>,
) -> Result<Option<PacketServer>, String> {
    let result = apply_steps(exec, fault, how);
    if result.is_err() {
        let _ = remove_tagged(
            exec,
            Tagged::Exactly {
                tag: how.tag,
                qdisc: how.qdisc,
            },
        );
    }
    result
}

/// How a fault is made in a namespace.
pub(crate) struct InNetns<'a> {
    pub mechanism: Mechanism,
    /// Its rules' comment.
    pub tag: &'a str,
    /// Its root qdisc's handle, from its recipe.
    pub qdisc: OwnQdisc,
    pub peers: &'a [Ipv4Addr],
    /// The longest a packet engine may run.
    pub max_lifetime: std::time::Duration,
}

fn apply_steps(
    exec: &mut dyn NetExec,
    fault: &Fault,
    how: &InNetns<'_>,
) -> Result<Option<PacketServer>, String> {
    let InNetns {
        mechanism,
        tag,
        peers,
        max_lifetime,
        ..
    } = *how;
    // The root qdisc's handle, and its 4th band (toward the peers).
    let own_root = || -> Result<(String, String), String> {
        let major = how
            .qdisc
            .major()
            .ok_or("no qdisc handle was journalled for this fault")?;
        Ok((qdisc::handle(major), format!("{major:x}:4")))
    };
    let destinations: Vec<Option<String>> = if peers.is_empty() {
        vec![None]
    } else {
        peers.iter().map(|ip| Some(format!("{ip}/32"))).collect()
    };
    match mechanism {
        Mechanism::IptablesDrop => {
            for ip in peers {
                let ip = format!("{ip}/32");
                iptables(
                    exec,
                    &[
                        "-I",
                        "INPUT",
                        "-s",
                        &ip,
                        "-m",
                        "comment",
                        "--comment",
                        tag,
                        "-j",
                        "DROP",
                    ],
                )?;
                iptables(
                    exec,
                    &[
                        "-I",
                        "OUTPUT",
                        "-d",
                        &ip,
                        "-m",
                        "comment",
                        "--comment",
                        tag,
                        "-j",
                        "DROP",
                    ],
                )?;
            }
            Ok(None)
        }
        Mechanism::IptablesStatistic => {
            let Fault::Loss(l) = fault else {
                return Err("statistic is for loss".into());
            };
            let p = format!("{:.6}", l.percent.0 / 100.0);
            for d in &destinations {
                let mut args = vec!["-A", "OUTPUT", "!", "-o", "lo"];
                if let Some(d) = d {
                    args.extend(["-d", d.as_str()]);
                }
                args.extend([
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &p,
                    "-m",
                    "comment",
                    "--comment",
                    tag,
                    "-j",
                    "DROP",
                ]);
                iptables(exec, &args)?;
            }
            Ok(None)
        }
        Mechanism::Tbf => {
            let Fault::Bandwidth(b) = fault else {
                return Err("tbf is for bandwidth".into());
            };
            let rate = format!("{}bit", b.rate.bits_per_second);
            // A burst of 1/50 s of traffic, at least two full frames.
            let burst = format!("{}", (b.rate.bits_per_second / 8 / 50).max(3200));
            let (root, _) = own_root()?;
            for dev in netns::interfaces_via(exec)? {
                exec.run(
                    "tc",
                    &[
                        "qdisc", "add", "dev", &dev, "root", "handle", &root, "tbf", "rate", &rate,
                        "burst", &burst, "latency", "400ms",
                    ],
                )?;
            }
            Ok(None)
        }
        Mechanism::Netem => {
            let (root, band) = own_root()?;
            add_netem(exec, fault, peers, &root, &band)?;
            Ok(None)
        }
        Mechanism::Userspace => {
            let queue = queue_number(tag);
            let server = exec.start_packet_server(queue, packet_plan(fault), max_lifetime)?;
            let queue_text = queue.to_string();
            let mark = format!("{:#x}", nfqueue::OWN_MARK);
            for d in &destinations {
                let mut args = vec!["-t", "mangle", "-A", "OUTPUT", "!", "-o", "lo"];
                if let Some(d) = d {
                    args.extend(["-d", d.as_str()]);
                }
                args.extend([
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
                    "NFQUEUE",
                    "--queue-num",
                    &queue_text,
                    "--queue-bypass",
                ]);
                // On error the server is dropped: an in-process one stops at
                // once, a helper one when the caller removes its leftovers.
                iptables(exec, &args)?;
            }
            Ok(Some(server))
        }
        Mechanism::DockerNetwork => Err("a disconnect is not applied inside the namespace".into()),
    }
}

/// netem as the root qdisc `root` of every interface, or, toward `peers`
/// only, in the 4th band (`band`) of a `prio` root filtered by address.
fn add_netem(
    exec: &mut dyn NetExec,
    fault: &Fault,
    peers: &[Ipv4Addr],
    root: &str,
    band: &str,
) -> Result<(), String> {
    let netem = netem_args(fault);
    let child = qdisc::handle(qdisc::PEER_NETEM);
    for dev in netns::interfaces_via(exec)? {
        if peers.is_empty() {
            let mut args = vec![
                "qdisc",
                "add",
                "dev",
                dev.as_str(),
                "root",
                "handle",
                root,
                "netem",
            ];
            args.extend(netem.iter().map(String::as_str));
            exec.run("tc", &args)?;
        } else {
            // Only toward the peers: a prio qdisc whose 4th band holds netem.
            exec.run(
                "tc",
                &[
                    "qdisc", "add", "dev", &dev, "root", "handle", root, "prio", "bands", "4",
                    "priomap", "1", "2", "2", "2", "1", "2", "0", "0", "1", "1", "1", "1", "1",
                    "1", "1", "1",
                ],
            )?;
            let mut args = vec![
                "qdisc",
                "add",
                "dev",
                dev.as_str(),
                "parent",
                band,
                "handle",
                &child,
                "netem",
            ];
            args.extend(netem.iter().map(String::as_str));
            exec.run("tc", &args)?;
            for ip in peers {
                let ip = format!("{ip}/32");
                exec.run(
                    "tc",
                    &[
                        "filter", "add", "dev", &dev, "parent", root, "protocol", "ip", "prio",
                        "1", "u32", "match", "ip", "dst", &ip, "flowid", band,
                    ],
                )?;
            }
        }
    }
    Ok(())
}

/// What a removal takes: one fault's rules, by their exact tag, and its
/// own root qdisc; or (a sweep without a journal) every rule gameday tags
/// and every root qdisc in gameday's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tagged<'a> {
    Exactly { tag: &'a str, qdisc: OwnQdisc },
    AnyOfGameday,
}

impl Tagged<'_> {
    fn matches(self, comment: &str) -> bool {
        match self {
            // An empty tag never matches: it would take every rule.
            Tagged::Exactly { tag, .. } => !tag.is_empty() && comment == tag,
            Tagged::AnyOfGameday => comment.starts_with("gameday:"),
        }
    }

    fn takes_qdisc(self, major: u16) -> bool {
        match self {
            Tagged::Exactly { qdisc, .. } => qdisc.major() == Some(major),
            Tagged::AnyOfGameday => qdisc::is_ours(major),
        }
    }
}

/// The comment of a rule as `iptables -S` prints it, if it has one.
fn rule_comment(words: &[&str]) -> Option<String> {
    let at = words.iter().position(|w| *w == "--comment")?;
    words.get(at + 1).map(|c| c.trim_matches('"').to_string())
}

/// A word of a rule read back from the namespace: the rule is fed back to
/// `iptables -D` as arguments, so anything unexpected refuses it.
fn safe_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:/,!=+@%-".contains(c))
}

/// The redirect a `nat` rule read back makes (`-p udp ... --dport 53 ...
/// -j REDIRECT --to-ports 40000`), if it is one.
fn redirect_of(words: &[&str]) -> Option<Redirect> {
    let after = |flag: &str| {
        let at = words.iter().position(|w| *w == flag)?;
        words.get(at + 1).copied()
    };
    if after("-j") != Some("REDIRECT") {
        return None;
    }
    Some(Redirect {
        protocol: Protocol::from_name(after("-p")?)?,
        caught: after("--dport")?.parse().ok()?,
        to: after("--to-ports")?.parse().ok()?,
    })
}

/// Remove the rules `which` names (by their comment, exactly) and its
/// root qdiscs (by their handle); forget the flows the removed redirects
/// had translated (a proxy that died could not). Returns whether anything
/// was removed.
pub(crate) fn remove_tagged(exec: &mut dyn NetExec, which: Tagged<'_>) -> Result<bool, String> {
    let mut removed = false;
    let mut redirects = Vec::new();
    for table in ["filter", "mangle", "nat"] {
        let rules = exec.run("iptables", &["-w", "5", "-t", table, "-S"])?;
        for rule in rules.lines().filter(|r| r.starts_with("-A ")) {
            let words: Vec<&str> = rule.split_whitespace().collect();
            if !rule_comment(&words).is_some_and(|c| which.matches(&c)) {
                continue;
            }
            let words: Vec<&str> = words.iter().map(|w| w.trim_matches('"')).collect();
            if !words.iter().all(|w| safe_word(w)) {
                return Err(format!(
                    "refusing to feed back a rule read from the container's namespace: {rule:?}"
                ));
            }
            let mut args: Vec<&str> = vec!["-w", "5", "-t", table, "-D"];
            args.extend(words.iter().skip(1));
            if let Err(e) = exec.run("iptables", &args) {
                // A proxy whose input closed takes its own redirect away,
                // maybe between the listing and this delete: a rule that
                // is no longer there is removed, not a failure.
                let now = exec.run("iptables", &["-w", "5", "-t", table, "-S"])?;
                if now.lines().any(|r| r == rule) {
                    return Err(e);
                }
            }
            redirects.extend(redirect_of(&words));
            removed = true;
        }
    }
    if !redirects.is_empty() {
        exec.forget_redirected(&redirects)?;
    }
    let qdiscs = qdisc::remove(exec, |major| which.takes_qdisc(major))?;
    Ok(removed || qdiscs)
}

/// Find the endpoint a disconnect names: the Docker network name, or the
/// compose name (`default` for `<project>_default`).
pub(crate) fn find_endpoint<'a>(
    endpoints: &'a [Endpoint],
    network: &str,
    project: &str,
) -> Option<&'a Endpoint> {
    let compose = format!("{project}_{network}");
    endpoints
        .iter()
        .find(|e| e.network == network)
        .or_else(|| endpoints.iter().find(|e| e.network == compose))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gameday::model::*;
    use crate::gameday::units::{HumanDuration, Percent};

    /// A namespace whose nat table holds one tagged redirect until the
    /// first delete, which fails as if its proxy had just taken it away.
    struct ProxyRacesTheRevert {
        rule: String,
        gone: bool,
        still_there: bool,
        deletes: usize,
    }

    impl NetExec for ProxyRacesTheRevert {
        fn run(&mut self, program: &str, args: &[&str]) -> Result<String, String> {
            match (program, args.get(4).copied()) {
                ("iptables", Some("-S")) if args[3] == "nat" && !self.gone => {
                    Ok(format!("-P OUTPUT ACCEPT\n{}\n", self.rule))
                }
                ("iptables", Some("-D")) => {
                    self.deletes += 1;
                    self.gone = !self.still_there;
                    Err("iptables: Bad rule (does a matching rule exist in that chain?)".into())
                }
                _ => Ok(String::new()),
            }
        }

        fn start_packet_server(
            &mut self,
            _: u16,
            _: crate::fault::nfqueue::PacketPlan,
            _: std::time::Duration,
        ) -> Result<crate::fault::nfqueue::PacketServer, String> {
            Err("not here".into())
        }

        fn forget_redirected(
            &mut self,
            redirects: &[crate::fault::conntrack::Redirect],
        ) -> Result<usize, String> {
            Ok(redirects.len())
        }
    }

    #[test]
    fn a_rule_its_proxy_took_away_meanwhile_is_removed_not_a_failure() {
        let rule = "-A OUTPUT -p udp -m udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:r1:s1-f1 -j REDIRECT --to-ports 40000";
        let which = || Tagged::Exactly {
            tag: "gameday:r1:s1-f1",
            qdisc: OwnQdisc::None,
        };
        let mut raced = ProxyRacesTheRevert {
            rule: rule.into(),
            gone: false,
            still_there: false,
            deletes: 0,
        };
        assert_eq!(remove_tagged(&mut raced, which()), Ok(true));
        assert_eq!(raced.deletes, 1);
        // A delete that fails while the rule is still there is a failure.
        let mut stuck = ProxyRacesTheRevert {
            rule: rule.into(),
            gone: false,
            still_there: true,
            deletes: 0,
        };
        assert!(remove_tagged(&mut stuck, which()).is_err());
    }

    fn target() -> Target {
        Target {
            selector: Selector::Service("db".into()),
            pick: Pick::All,
            host: None,
            pos: Default::default(),
        }
    }

    #[test]
    fn netem_arguments_follow_tc() {
        let delay = Fault::Delay(DelayFault {
            target: target(),
            shared: Default::default(),
            latency: HumanDuration::from_millis(200),
            jitter: Some(HumanDuration::from_millis(50)),
            correlation: Some(Percent(25.0)),
            to: vec![],
            engine: NetEngine::Auto,
        });
        assert_eq!(netem_args(&delay), ["delay", "200000us", "50000us", "25%"]);
        let loss = Fault::Loss(LossFault {
            target: target(),
            shared: Default::default(),
            percent: Percent(10.0),
            correlation: None,
            to: vec![],
            engine: NetEngine::Auto,
        });
        assert_eq!(netem_args(&loss), ["loss", "10%"]);
    }

    #[test]
    fn engines_are_chosen_by_what_the_kernel_has() {
        let loss = |correlation| {
            Fault::Loss(LossFault {
                target: target(),
                shared: Default::default(),
                percent: Percent(10.0),
                correlation,
                to: vec![],
                engine: NetEngine::Auto,
            })
        };
        assert_eq!(mechanism(&loss(None), true), Ok(Mechanism::Netem));
        assert_eq!(
            mechanism(&loss(None), false),
            Ok(Mechanism::IptablesStatistic)
        );
        assert_eq!(
            mechanism(&loss(Some(Percent(25.0))), false),
            Ok(Mechanism::Userspace)
        );
        let netem = Fault::Duplicate(PacketShareFault {
            target: target(),
            shared: Default::default(),
            percent: Percent(1.0),
            to: vec![],
            engine: NetEngine::Netem,
        });
        let err = mechanism(&netem, false).unwrap_err();
        assert!(
            err.contains("sch_netem") && err.contains("engine: userspace"),
            "{err}"
        );
    }

    #[test]
    fn queue_numbers_are_stable_and_in_range() {
        assert_eq!(queue_number("gameday:a:b"), queue_number("gameday:a:b"));
        assert!((1000..61_000).contains(&queue_number("x")));
    }

    #[test]
    fn rules_are_taken_by_their_exact_tag_and_read_back_safely() {
        let rule = |comment: &str| {
            format!("-A OUTPUT -d 10.0.0.2/32 -m comment --comment {comment} -j DROP")
        };
        let words = |r: &str| r.split_whitespace().map(String::from).collect::<Vec<_>>();
        let comment_of = |r: &str| {
            let w = words(r);
            let w: Vec<&str> = w.iter().map(String::as_str).collect();
            rule_comment(&w)
        };
        let ours = rule("gameday:run1:s1-f1-abc");
        assert_eq!(comment_of(&ours).as_deref(), Some("gameday:run1:s1-f1-abc"));
        let exact = Tagged::Exactly {
            tag: "gameday:run1:s1-f1-abc",
            qdisc: OwnQdisc::Handle(0x67ab),
        };
        assert!(exact.matches("gameday:run1:s1-f1-abc"));
        assert!(
            !exact.matches("gameday:run1:s1-f1-abcd"),
            "a longer tag is another fault"
        );
        assert!(!exact.matches("gameday:run2:s1-f1-abc"), "another run's");
        assert!(
            !Tagged::Exactly {
                tag: "",
                qdisc: OwnQdisc::None
            }
            .matches(""),
            "an empty tag matches nothing"
        );
        // Its own qdisc only; a sweep takes any of gameday's range.
        assert!(exact.takes_qdisc(0x67ab));
        assert!(!exact.takes_qdisc(0x67ac) && !exact.takes_qdisc(qdisc::LEGACY));
        let old = Tagged::Exactly {
            tag: "gameday:run1:s1-f1-abc",
            qdisc: OwnQdisc::Legacy,
        };
        assert!(old.takes_qdisc(qdisc::LEGACY) && !old.takes_qdisc(0x67ab));
        assert!(Tagged::AnyOfGameday.takes_qdisc(0x67ab));
        assert!(!Tagged::AnyOfGameday.takes_qdisc(1));
        assert!(Tagged::AnyOfGameday.matches("gameday:run2:s1-f1-abc"));
        assert!(!Tagged::AnyOfGameday.matches("user-rule"));
        assert!(safe_word("10.0.0.2/32") && safe_word("gameday:run1:s1-f1-abc"));
        let redirect = "-A OUTPUT -p udp -m udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:run1:s1-f1-abc -j REDIRECT --to-ports 40000";
        let words: Vec<&str> = redirect.split_whitespace().collect();
        assert_eq!(
            redirect_of(&words),
            Some(Redirect {
                protocol: Protocol::Udp,
                caught: 53,
                to: 40000
            })
        );
        let words: Vec<&str> = ours.split_whitespace().collect();
        assert_eq!(redirect_of(&words), None, "a DROP rule redirects nothing");
        assert!(!safe_word("$(reboot)") && !safe_word("a;b") && !safe_word(""));
    }
}
