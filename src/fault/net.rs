//! Network faults inside a container's namespace: latency, jitter, loss,
//! duplication and corruption (netem where the kernel has it, else the
//! userspace NFQUEUE engine; loss alone via iptables `statistic`), bandwidth
//! (tbf), partitions (iptables DROP both ways): their recipe, their apply
//! and their revert as the run makes them, and the mechanism of each (a
//! `disconnect`'s too, which [`disconnect`](super::disconnect) makes).
//! Every rule carries the comment `gameday:<run>:<fault>`, and every root
//! qdisc a handle of the fault's own (`qdisc`), so a revert (or `recover`,
//! from another process) finds exactly what that fault added and nothing
//! else ([`rules`](super::rules) removes it).

use std::net::Ipv4Addr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::netns::{self, NetExec};
use super::nfqueue::{self, PacketPlan, PacketServer};
use super::qdisc::{self, OwnQdisc};
use super::recipe::OnContainer;
pub(crate) use super::rules::{Tagged, remove_tagged};
use super::{AppliedFault, ApplyContext, Applying, FaultError, RevertRecipe};
use crate::docker::{ContainerInfo, Endpoint, Engine};
use crate::gameday::model::{Fault, NetEngine, NetFault};
use crate::gameday::units::ContainerState;

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

/// Its revert recipe: its rules by their tag, and the root qdisc it will
/// add (read only). The HTTP and DNS proxies' recipe too: their rules
/// carry the tag.
pub(super) async fn recipe(
    engine: &Engine,
    fault: &Fault,
    container: &ContainerInfo,
    context: &ApplyContext,
) -> RevertRecipe {
    RevertRecipe::NetRules {
        container_id: container.id.clone(),
        container_name: container.name.clone(),
        tag: context.tag.clone(),
        helper_image: context.helper_image.clone(),
        qdisc: qdisc::own(engine, fault, container, context).await,
    }
}

/// Make a packet, bandwidth or partition fault in the container's
/// namespace (entered from here, or through a helper). On error what was
/// added is removed, a helper's packet engine too.
pub(super) async fn apply(applying: Applying<'_>) -> Result<AppliedFault, FaultError> {
    let (engine, context) = (applying.engine, applying.context);
    let mechanism =
        mechanism(applying.fault, context.netem_available).map_err(|e| applying.network(e))?;
    let peers = peer_addresses(engine, &context.peers)
        .await
        .map_err(|e| applying.network(e))?;
    let mut exec = super::net_exec(
        engine,
        &applying.container.id,
        context.helper_image.as_deref(),
        &context.tag,
    )
    .await
    .map_err(|e| applying.network(e))?;
    let tag = context.tag.clone();
    let fault = applying.fault.clone();
    let max_lifetime = context.max_lifetime;
    let qdisc = own_qdisc(&applying.recipe);
    let made = tokio::task::spawn_blocking(move || {
        apply_in_netns(
            exec.as_mut(),
            &fault,
            &InNetns {
                mechanism,
                tag: &tag,
                qdisc,
                peers: &peers,
                max_lifetime,
            },
        )
    })
    .await
    .map_err(|e| applying.network(e.to_string()))?;
    let server = match made {
        Ok(server) => server,
        Err(e) => {
            // A helper packet engine may have started before the failure.
            crate::worker::leftovers::remove_helpers(engine, &context.tag).await;
            return Err(applying.network(e));
        }
    };
    let mut applied = applying.in_place(mechanism.describe(), None);
    applied.server = server;
    Ok(applied)
}

/// The root qdisc a recipe records.
fn own_qdisc(recipe: &RevertRecipe) -> OwnQdisc {
    match recipe {
        RevertRecipe::NetRules { qdisc, .. } => *qdisc,
        RevertRecipe::Unpause { .. }
        | RevertRecipe::Start { .. }
        | RevertRecipe::Nothing { .. }
        | RevertRecipe::Continue { .. }
        | RevertRecipe::Stress { .. }
        | RevertRecipe::Script { .. }
        | RevertRecipe::Reconnect { .. }
        | RevertRecipe::Rollback { .. } => OwnQdisc::None,
    }
}

/// [`RevertRecipe::NetRules`]: remove the rules tagged `tag` and the
/// root qdisc `qdisc` from the container's namespace, and what a dead
/// runner left: packet engines in helpers, a proxy on this host.
pub(super) async fn remove(
    engine: &Engine,
    on: OnContainer<'_>,
    tag: &str,
    helper_image: Option<&str>,
    qdisc: OwnQdisc,
) -> Result<Option<DateTime<Utc>>, FaultError> {
    let network = |message: String| FaultError::Network {
        action: "remove the network fault",
        container: on.name.to_string(),
        message,
    };
    // Packet engines a dead runner left in helper containers.
    let helpers = crate::worker::leftovers::remove_helpers(engine, tag).await;
    // A stopped container's namespace, and its rules, are gone.
    let has_namespace = match engine.state(on.id).await.map_err(on.docker("inspect"))? {
        ContainerState::Running | ContainerState::Paused => true,
        ContainerState::Created
        | ContainerState::Restarting
        | ContainerState::Removing
        | ContainerState::Exited
        | ContainerState::Dead
        | ContainerState::Absent => false,
    };
    if !has_namespace {
        return Ok((helpers > 0).then(Utc::now));
    }
    let mut exec = super::net_exec(engine, on.id, helper_image, tag)
        .await
        .map_err(network)?;
    let owned_tag = tag.to_string();
    let removed = tokio::task::spawn_blocking(move || {
        remove_tagged(
            exec.as_mut(),
            Tagged::Exactly {
                tag: &owned_tag,
                qdisc,
            },
        )
    })
    .await
    .map_err(|e| network(e.to_string()))?
    .map_err(network)?;
    // A proxy a dead runner left on this host. Its rule is gone now, so
    // nothing new reaches it; if this revert found no rule, the proxy took
    // it away itself and is forgetting the flows it translated: killing it
    // then would leave them pointing at its closed port.
    let grace = if removed {
        Duration::ZERO
    } else {
        PROXY_FAIL_OPEN_GRACE
    };
    let proxies = match helper_image {
        None => crate::worker::leftovers::end_tagged(tag, grace).await,
        Some(_) => 0,
    };
    Ok((removed || helpers > 0 || proxies > 0).then(Utc::now))
}

/// How long a revert lets a proxy that took its own redirect away finish
/// failing open (it waits 200ms for answers in flight, then forgets the
/// flows it translated) before killing it.
const PROXY_FAIL_OPEN_GRACE: Duration = Duration::from_secs(2);

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
    match how.mechanism {
        Mechanism::IptablesDrop => drop_both_ways(exec, how).map(|()| None),
        Mechanism::IptablesStatistic => drop_by_chance(exec, fault, how).map(|()| None),
        Mechanism::Tbf => add_tbf(exec, fault, how).map(|()| None),
        Mechanism::Netem => {
            let (root, band) = own_root(how.qdisc)?;
            add_netem(exec, fault, how.peers, &root, &band).map(|()| None)
        }
        Mechanism::Userspace => queue(exec, fault, how).map(Some),
        Mechanism::DockerNetwork => Err("a disconnect is not applied inside the namespace".into()),
    }
}

/// The fault's root qdisc's handle, and its 4th band (toward the peers).
fn own_root(qdisc: OwnQdisc) -> Result<(String, String), String> {
    let major = qdisc
        .major()
        .ok_or("no qdisc handle was journalled for this fault")?;
    Ok((qdisc::handle(major), format!("{major:x}:4")))
}

/// Where a rule sends packets: to each peer, or anywhere (`None`).
fn destinations(peers: &[Ipv4Addr]) -> Vec<Option<String>> {
    if peers.is_empty() {
        vec![None]
    } else {
        peers.iter().map(|ip| Some(format!("{ip}/32"))).collect()
    }
}

/// A partition: DROP rules to and from each peer.
fn drop_both_ways(exec: &mut dyn NetExec, how: &InNetns<'_>) -> Result<(), String> {
    let tag = how.tag;
    for ip in how.peers {
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
    Ok(())
}

/// Uncorrelated loss without netem: iptables `statistic` DROP rules.
fn drop_by_chance(exec: &mut dyn NetExec, fault: &Fault, how: &InNetns<'_>) -> Result<(), String> {
    let Some(NetFault::Loss(l)) = fault.net() else {
        return Err("statistic is for loss".into());
    };
    let p = format!("{:.6}", l.percent.0 / 100.0);
    for d in &destinations(how.peers) {
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
            how.tag,
            "-j",
            "DROP",
        ]);
        iptables(exec, &args)?;
    }
    Ok(())
}

/// A bandwidth cap: tbf as the fault's root qdisc of every interface.
fn add_tbf(exec: &mut dyn NetExec, fault: &Fault, how: &InNetns<'_>) -> Result<(), String> {
    let Some(NetFault::Bandwidth(b)) = fault.net() else {
        return Err("tbf is for bandwidth".into());
    };
    let rate = format!("{}bit", b.rate.bits_per_second);
    // A burst of 1/50 s of traffic, at least two full frames.
    let burst = format!("{}", (b.rate.bits_per_second / 8 / 50).max(3200));
    let (root, _) = own_root(how.qdisc)?;
    for dev in netns::interfaces_via(exec)? {
        exec.run(
            "tc",
            &[
                "qdisc", "add", "dev", &dev, "root", "handle", &root, "tbf", "rate", &rate,
                "burst", &burst, "latency", "400ms",
            ],
        )?;
    }
    Ok(())
}

/// The userspace engine: a packet server on the fault's queue, and the
/// mangle rules sending it the packets (not its own, marked).
fn queue(exec: &mut dyn NetExec, fault: &Fault, how: &InNetns<'_>) -> Result<PacketServer, String> {
    let queue = queue_number(how.tag);
    let server = exec.start_packet_server(queue, packet_plan(fault), how.max_lifetime)?;
    let queue_text = queue.to_string();
    let mark = format!("{:#x}", nfqueue::OWN_MARK);
    for d in &destinations(how.peers) {
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
            how.tag,
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
    Ok(server)
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

    fn target() -> Target {
        Target::every_replica("db", None, Default::default())
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
}
