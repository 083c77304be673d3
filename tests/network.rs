//! Network faults against real containers, measured through real traffic:
//! from 127.0.0.1 to published ports, and between containers (the demo
//! binary's `connect` mode, through `docker exec`). Every fault kind goes
//! through apply / observe / revert / observe / revert again / recover, and
//! the test checks the namespace itself: no rule, no qdisc, no queue left.

mod common;

use std::net::TcpStream;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::*;
use gameday::testing::docker::{ContainerInfo, Engine};
use gameday::testing::fault::{self, ApplyContext, RevertRecipe};
use gameday::testing::gameday::model::*;
use gameday::testing::gameday::units::{ContainerState, HumanDuration, Percent, Rate};
use gameday::testing::gameday::yaml::Pos;
use gameday::testing::record::journal::{Journal, JournalEntry};

fn target(service: &str) -> Target {
    Target::every_replica(service, None, Pos::default())
}

fn peer(service: &str) -> Peer {
    Peer {
        service: service.into(),
        pos: Pos::default(),
    }
}

fn info(c: &Container, service: &str) -> ContainerInfo {
    ContainerInfo {
        id: c.id.clone(),
        name: c.name.clone(),
        service: Some(service.into()),
        project: None,
        state: ContainerState::Running,
        engine: "default".into(),
        swarm_service: None,
        network_mode: None,
        image: String::new(),
        labels: Default::default(),
        published: Vec::new(),
    }
}

fn pid(c: &Container) -> String {
    docker(&["inspect", "-f", "{{.State.Pid}}", &c.id])
}

/// Every iptables rule and qdisc gameday may have left in the namespace.
fn leftovers(c: &Container) -> String {
    let pid = pid(c);
    let rules = run(StdCommand::new("nsenter").args(["-t", &pid, "-n", "iptables-save"]));
    let qdiscs = run(StdCommand::new("nsenter").args(["-t", &pid, "-n", "tc", "qdisc", "show"]));
    // NFQUEUE queues bound in the namespace (one line per queue).
    let queues = run(StdCommand::new("nsenter").args([
        "-t",
        &pid,
        "-n",
        "cat",
        "/proc/net/netfilter/nfnetlink_queue",
    ]));
    let mut found: Vec<String> = queues.lines().map(|q| format!("queue {q}")).collect();
    found.extend(
        rules
            .lines()
            .filter(|l| l.contains("gameday:"))
            .map(String::from),
    );
    found.extend(
        qdiscs
            .lines()
            .filter(|l| l.contains("netem") || l.contains("tbf"))
            .map(String::from),
    );
    found.extend(gameday_qdiscs(&qdiscs));
    found.join("\n")
}

/// Helper containers still serving `tag` (there should be none after a revert).
fn helpers_left(tag: &str) -> String {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=gameday.helper.tag={tag}"),
    ])
}

fn compliance_tag(kind: &str) -> String {
    format!("gameday:test:{kind}-{}", std::process::id())
}

/// Median connect time from the api container to the store, in ms.
fn connect_median_ms(s: &Stack) -> f64 {
    let (failed, median) = probe(&s.api, "store:7000", 15, 3000, 1);
    assert!(failed < 0.5, "most connects failed");
    median
}

/// Megabits per second downloading `bytes` from the store's `/bytes/N`.
fn download_mbit(port: u16, bytes: usize) -> f64 {
    use std::io::{Read, Write};
    let start = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /bytes/{bytes} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    assert!(body.len() >= bytes, "short read: {}", body.len());
    body.len() as f64 * 8.0 / 1e6 / start.elapsed().as_secs_f64()
}

/// Work out the recipe and apply the fault, as the runner does.
fn apply_now(
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    fault: &Fault,
    target: &ContainerInfo,
    context: &ApplyContext,
) -> (RevertRecipe, fault::AppliedFault) {
    let recipe = rt
        .block_on(fault::prepare(engine, fault, target, context))
        .unwrap();
    let applied = rt
        .block_on(fault::apply(engine, fault, target, context, recipe.clone()))
        .unwrap();
    (recipe, applied)
}

fn engine(rt: &tokio::runtime::Runtime) -> Engine {
    rt.block_on(Engine::connect(&DockerConfig::default()))
        .unwrap()
}

struct Stack {
    project: Project,
    store: Container,
    other: Container,
    api: Container,
}

/// store (published), other (a second store), api (published) in one project.
fn stack(name: &str) -> Stack {
    let project = Project::new(name);
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], Some(7000));
    let other = project.service("other", &["store", "--listen", "0.0.0.0:7000"], None);
    let api = project.service(
        "api",
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        Some(8080),
    );
    Stack {
        project,
        store,
        other,
        api,
    }
}

/// Apply, check `effect`, revert, check it is gone, revert again.
fn compliance(
    rt: &tokio::runtime::Runtime,
    s: &Stack,
    fault: Fault,
    peers: Vec<ContainerInfo>,
    on: &Container,
    service: &str,
    effect: impl Fn(),
) {
    compliance_via(rt, s, fault, peers, on, service, None, effect)
}

/// The same, reaching the namespace through a helper container when
/// `helper` names an image.
#[allow(clippy::too_many_arguments, reason = "a test helper with plain inputs")]
fn compliance_via(
    rt: &tokio::runtime::Runtime,
    s: &Stack,
    fault: Fault,
    peers: Vec<ContainerInfo>,
    on: &Container,
    service: &str,
    helper: Option<&str>,
    effect: impl Fn(),
) {
    let engine = engine(rt);
    let context = ApplyContext {
        tag: compliance_tag(fault.kind().key()),
        project: s.project.name.clone(),
        peers,
        netem_available: helper.is_none() && gameday::testing::fault::netns::kernel_has_netem(),
        helper_image: helper.map(String::from),
        ..Default::default()
    };
    let target = info(on, service);
    let (recipe, applied) = apply_now(rt, &engine, &fault, &target, &context);
    effect();
    rt.block_on(applied.revert(&engine))
        .map_err(|(_, e)| e)
        .unwrap();
    assert_eq!(
        leftovers(on),
        "",
        "{} left something behind",
        fault.kind().key()
    );
    assert_eq!(
        helpers_left(&context.tag),
        "",
        "helper containers left behind"
    );
    assert_eq!(
        rt.block_on(recipe.execute(&engine)).unwrap(),
        None,
        "second revert of {} did something",
        fault.kind().key()
    );

    // Recover: the fault applied again, its runner gone (the applied fault
    // dropped, not reverted), the recipe only in a journal.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let mut journal = Journal::create(&dir.join("journal.jsonl")).unwrap();
    journal
        .append(&JournalEntry::FaultIntent {
            fault_id: "s1-f1".into(),
            scenario: "compliance".into(),
            kind: fault.kind().key().into(),
            recipe: recipe.clone(),
            at: chrono::Utc::now(),
            host: None,
            settle_ms: None,
            what: None,
        })
        .unwrap();
    let again = rt
        .block_on(fault::apply(&engine, &fault, &target, &context, recipe))
        .unwrap();
    drop(again);
    let recovered = Command::cargo_bin("gameday")
        .unwrap()
        .args(["recover", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(
        recovered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    assert_eq!(
        leftovers(on),
        "",
        "recover left {} behind",
        fault.kind().key()
    );
    assert_eq!(
        helpers_left(&context.tag),
        "",
        "recover left helper containers behind"
    );
}
#[test]
fn delay_adds_its_latency_and_is_reverted() {
    if !docker_available() {
        return;
    }
    let s = stack("delay");
    let before = connect_median_ms(&s);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fault = Fault::Delay(DelayFault {
        target: target("store"),
        shared: Default::default(),
        latency: HumanDuration::from_millis(200),
        jitter: None,
        correlation: None,
        to: vec![],
        engine: NetEngine::Auto,
    });
    compliance(&rt, &s, fault, vec![], &s.store, "store", || {
        let during = connect_median_ms(&s);
        let added = during - before;
        assert!(
            (160.0..=240.0).contains(&added),
            "delay 200ms added {added:.1}ms (before {before:.1}, during {during:.1})"
        );
    });
    let after = connect_median_ms(&s);
    assert!(
        after < before + 50.0,
        "still slow after revert: {after:.1}ms"
    );
}

#[test]
fn loss_drops_its_share_of_packets() {
    if !docker_available() {
        return;
    }
    let s = stack("loss");
    assert_eq!(probe(&s.api, "store:7000", 100, 400, 50).0, 0.0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fault = Fault::Loss(LossFault {
        target: target("store"),
        shared: Default::default(),
        percent: Percent(30.0),
        correlation: None,
        to: vec![],
        engine: NetEngine::Auto,
    });
    compliance(&rt, &s, fault, vec![], &s.store, "store", || {
        // A connect fails when the SYN-ACK is dropped (its retry comes after 1s).
        let share = probe(&s.api, "store:7000", 300, 400, 50).0;
        assert!(
            (0.19..=0.41).contains(&share),
            "loss 30% made {:.1}% of 300 connects fail",
            share * 100.0
        );
    });
    assert_eq!(probe(&s.api, "store:7000", 100, 400, 50).0, 0.0);
}

#[test]
fn bandwidth_caps_throughput() {
    if !docker_available() {
        return;
    }
    let s = stack("bandwidth");
    let port = s.store.host_port.unwrap();
    let free = download_mbit(port, 2_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fault = Fault::Bandwidth(BandwidthFault {
        target: target("store"),
        shared: Default::default(),
        rate: Rate {
            bits_per_second: 8_000_000,
        },
    });
    compliance(&rt, &s, fault, vec![], &s.store, "store", || {
        let capped = download_mbit(port, 2_000_000);
        assert!(
            (4.0..=10.0).contains(&capped),
            "8mbit cap measured {capped:.1} Mbit/s (free: {free:.1})"
        );
    });
    assert!(
        download_mbit(port, 2_000_000) > 20.0,
        "still capped after revert"
    );
}

/// Two faults on one container: a bandwidth limit (a root qdisc of its
/// own) and a partition (rules). Reverting the partition leaves the limit
/// in place: downloads stay capped (before, every revert took any `6764:`
/// qdisc, the other fault's with it). A second limit on the same
/// interfaces cannot add a root of its own and fails; its recipe, run as
/// after any failed apply, leaves the first alone too. The limit goes with
/// its own revert; and a recipe journalled before (no qdisc in it) still
/// removes the `6764:` qdisc gameday added then.
#[test]
fn a_revert_removes_its_own_qdisc_and_no_other_faults() {
    if !docker_available() {
        return;
    }
    let s = stack("ownqdisc");
    let port = s.store.host_port.unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = engine(&rt);
    let store = info(&s.store, "store");
    let context = |name: &str, peers: Vec<ContainerInfo>| ApplyContext {
        tag: format!("gameday:test-{}:{name}", std::process::id()),
        project: s.project.name.clone(),
        peers,
        netem_available: gameday::testing::fault::netns::kernel_has_netem(),
        ..Default::default()
    };
    let bandwidth = |bits_per_second| {
        Fault::Bandwidth(BandwidthFault {
            target: target("store"),
            shared: Default::default(),
            rate: Rate { bits_per_second },
        })
    };
    let capped = |when: &str| {
        let mbit = download_mbit(port, 2_000_000);
        assert!(
            (4.0..=10.0).contains(&mbit),
            "8mbit cap {when}: measured {mbit:.1} Mbit/s"
        );
    };
    let (_, limit) = apply_now(
        &rt,
        &engine,
        &bandwidth(8_000_000),
        &store,
        &context("limit", vec![]),
    );
    capped("applied");
    let partition = Fault::Partition(PartitionFault {
        target: target("store"),
        shared: Default::default(),
        from: vec![peer("api")],
    });
    let (_, cut) = apply_now(
        &rt,
        &engine,
        &partition,
        &store,
        &context("cut", vec![info(&s.api, "api")]),
    );
    assert!(!can_connect(&s.api, "store:7000"), "partitioned");
    rt.block_on(cut.revert(&engine))
        .map_err(|(_, e)| e)
        .unwrap();
    assert!(can_connect(&s.api, "store:7000"), "the partition is gone");
    capped("after the partition's revert");

    let second = bandwidth(2_000_000);
    let second_context = context("second", vec![]);
    let recipe = rt
        .block_on(fault::prepare(&engine, &second, &store, &second_context))
        .unwrap();
    let failed = rt.block_on(fault::apply(
        &engine,
        &second,
        &store,
        &second_context,
        recipe.clone(),
    ));
    assert!(failed.is_err(), "one root qdisc per interface");
    rt.block_on(recipe.execute(&engine)).unwrap();
    capped("after the failed second limit's revert");

    rt.block_on(limit.revert(&engine))
        .map_err(|(_, e)| e)
        .unwrap();
    assert_eq!(leftovers(&s.store), "");
    assert!(download_mbit(port, 2_000_000) > 20.0, "still capped");

    // As the version before left it: `6764:`, and a recipe without a qdisc.
    run(StdCommand::new("nsenter").args([
        "-t",
        &pid(&s.store),
        "-n",
        "tc",
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "handle",
        "6764:",
        "tbf",
        "rate",
        "8mbit",
        "burst",
        "20000",
        "latency",
        "400ms",
    ]));
    capped("as the version before applied it");
    let old: RevertRecipe = serde_json::from_value(serde_json::json!({
        "undo": "net_rules",
        "container_id": s.store.id,
        "container_name": s.store.name,
        "tag": "gameday:before:s1-f1-abc",
    }))
    .unwrap();
    assert!(rt.block_on(old.execute(&engine)).unwrap().is_some());
    assert_eq!(leftovers(&s.store), "");
}

#[test]
fn partition_cuts_exactly_the_named_peers_both_ways() {
    if !docker_available() {
        return;
    }
    let s = stack("partition");
    assert!(can_connect(&s.api, "store:7000") && can_connect(&s.api, "other:7000"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fault = Fault::Partition(PartitionFault {
        target: target("api"),
        shared: Default::default(),
        from: vec![peer("store")],
    });
    let peers = vec![info(&s.store, "store")];
    compliance(&rt, &s, fault, peers, &s.api, "api", || {
        assert!(
            !can_connect(&s.api, "store:7000"),
            "api still reaches store"
        );
        assert!(
            !can_connect(&s.store, "api:8080"),
            "store still reaches api"
        );
        assert!(
            can_connect(&s.api, "other:7000"),
            "api lost a peer it was not cut from"
        );
        assert!(can_connect(&s.other, "api:8080"), "other lost api");
    });
    assert!(can_connect(&s.api, "store:7000") && can_connect(&s.store, "api:8080"));
}

#[test]
fn delay_toward_one_peer_leaves_other_traffic_alone() {
    if !docker_available() {
        return;
    }
    let s = stack("delay-to");
    let before = probe(&s.other, "store:7000", 10, 3000, 1).1;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fault = Fault::Delay(DelayFault {
        target: target("store"),
        shared: Default::default(),
        latency: HumanDuration::from_millis(300),
        jitter: None,
        correlation: None,
        to: vec![peer("api")],
        engine: NetEngine::Userspace,
    });
    compliance(
        &rt,
        &s,
        fault,
        vec![info(&s.api, "api")],
        &s.store,
        "store",
        || {
            // Traffic toward `other` is untouched; traffic toward the api is slowed.
            let to_other = probe(&s.other, "store:7000", 10, 3000, 1).1;
            assert!(
                to_other < before + 50.0,
                "traffic not toward `to` was delayed: {to_other:.1}ms"
            );
            let to_api = probe(&s.api, "store:7000", 10, 3000, 1).1;
            assert!(
                (240.0..=360.0).contains(&(to_api - before)),
                "traffic toward api: {to_api:.1}ms, before {before:.1}ms"
            );
        },
    );
}

#[test]
fn duplicate_and_corrupt_run_through_the_userspace_engine() {
    if !docker_available() {
        return;
    }
    let s = stack("dupcorrupt");
    let rt = tokio::runtime::Runtime::new().unwrap();
    for kind in ["duplicate", "corrupt"] {
        let share = PacketShareFault {
            target: target("store"),
            shared: Default::default(),
            percent: Percent(50.0),
            to: vec![],
            engine: NetEngine::Userspace,
        };
        let fault = if kind == "duplicate" {
            Fault::Duplicate(share)
        } else {
            Fault::Corrupt(share)
        };
        let engine = engine(&rt);
        let context = ApplyContext {
            tag: format!("gameday:test:{kind}"),
            project: s.project.name.clone(),
            peers: vec![],
            ..Default::default()
        };
        let target = info(&s.store, "store");
        let (_, applied) = apply_now(&rt, &engine, &fault, &target, &context);
        assert!(leftovers(&s.store).contains("NFQUEUE"), "no queue rule");
        let _ = probe(&s.api, "store:7000", 20, 300, 1);
        let reverted = rt
            .block_on(applied.revert(&engine))
            .map_err(|(_, e)| e)
            .unwrap();
        let stats = reverted.packets.expect("the userspace engine served it");
        assert!(
            stats.packets >= 20,
            "{kind}: only {} packets queued",
            stats.packets
        );
        let touched = if kind == "duplicate" {
            stats.duplicated
        } else {
            stats.corrupted
        };
        assert!(
            touched * 5 >= stats.packets,
            "{kind}: {touched} of {} packets",
            stats.packets
        );
        assert_eq!(leftovers(&s.store), "");
    }
}

#[test]
fn disconnect_reconnects_with_the_same_aliases() {
    if !docker_available() {
        return;
    }
    let s = stack("disconnect");
    let aliases = || {
        docker(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{join $v.Aliases \",\"}} {{end}}",
            &s.store.id,
        ])
    };
    let before = aliases();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fault = Fault::Disconnect(DisconnectFault {
        target: target("store"),
        shared: Default::default(),
        network: "default".into(),
    });
    compliance(&rt, &s, fault, vec![], &s.store, "store", || {
        assert!(!can_connect(&s.api, "store:7000"), "store still reachable");
        assert_eq!(aliases(), "");
    });
    assert_eq!(aliases(), before);
    assert!(can_connect(&s.api, "store:7000"));
}

#[test]
fn netem_on_this_kernel_is_detected_and_explained() {
    if !docker_available() {
        return;
    }
    let s = stack("netem");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = engine(&rt);
    let fault = Fault::Delay(DelayFault {
        target: target("store"),
        shared: Default::default(),
        latency: HumanDuration::from_millis(100),
        jitter: None,
        correlation: None,
        to: vec![],
        engine: NetEngine::Netem,
    });
    let netem = gameday::testing::fault::netns::kernel_has_netem();
    let context = ApplyContext {
        tag: "gameday:test:netem".into(),
        project: s.project.name.clone(),
        peers: vec![],
        netem_available: netem,
        ..Default::default()
    };
    let target = info(&s.store, "store");
    let recipe = rt
        .block_on(fault::prepare(&engine, &fault, &target, &context))
        .unwrap();
    match rt.block_on(fault::apply(&engine, &fault, &target, &context, recipe)) {
        Ok(applied) => {
            assert!(netem, "netem applied on a kernel said to lack it");
            rt.block_on(applied.revert(&engine))
                .map_err(|(_, e)| e)
                .unwrap();
        }
        Err(e) => {
            assert!(!netem);
            let text = e.to_string();
            assert!(
                text.contains("sch_netem") && text.contains("engine: userspace"),
                "{text}"
            );
        }
    }
    assert_eq!(leftovers(&s.store), "");
}

/// The runner and its watchdog SIGKILLed while a userspace delay is in place: traffic flows
/// at once (fail-open: the queue has no listener), and `gameday recover`
/// removes the rules it left.
#[test]
fn a_killed_runner_fails_open_and_recover_cleans_up() {
    if !docker_available() {
        return;
    }
    let s = stack("failopen");
    let before = connect_median_ms(&s);
    let text = format!(
        "gameday: fail open\nscope: {{ compose_project: {} }}\ndefaults: {{ baseline: 500ms }}\nprobes:\n  up: {{ container: {{ service: store }} }}\nscenarios:\n  - name: slow store\n    fault: {{ delay: {{ service: store, latency: 400ms, engine: userspace }} }}\n    duration: 60s\n",
        s.project.name
    );
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !leftovers(&s.store).contains("NFQUEUE") {
        assert!(Instant::now() < deadline, "the delay never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let slow = probe(&s.api, "store:7000", 5, 3000, 1).1;
    assert!(
        slow > before + 300.0,
        "the delay had no effect: {slow:.1}ms"
    );
    // The runner and its watchdog die together (a power cut): the queue
    // loses its listener and the rule stays.
    kill_with_watchdogs(&mut child);
    std::thread::sleep(Duration::from_millis(200));
    let dead = connect_median_ms(&s);
    assert!(
        dead < before + 50.0,
        "traffic did not fail open: {dead:.1}ms"
    );
    assert!(
        leftovers(&s.store).contains("NFQUEUE"),
        "the rule should still be there for recover"
    );
    let recovered = Command::cargo_bin("gameday")
        .unwrap()
        .args(["recover", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(
        recovered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    assert_eq!(leftovers(&s.store), "");
}

#[test]
fn network_faults_through_a_helper_container() {
    if !docker_available() {
        return;
    }
    ensure_nethelper_image();
    let s = stack("helper");
    let image = Some(nethelper_image());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = connect_median_ms(&s);
    let delay = Fault::Delay(DelayFault {
        target: target("store"),
        shared: Default::default(),
        latency: HumanDuration::from_millis(200),
        jitter: None,
        correlation: None,
        to: vec![],
        engine: NetEngine::Userspace,
    });
    compliance_via(&rt, &s, delay, vec![], &s.store, "store", image, || {
        assert_eq!(
            helpers_left(&compliance_tag("delay")).lines().count(),
            1,
            "one packet engine"
        );
        let added = connect_median_ms(&s) - before;
        assert!(
            (160.0..=240.0).contains(&added),
            "delay 200ms through a helper added {added:.1}ms"
        );
    });
    let partition = Fault::Partition(PartitionFault {
        target: target("api"),
        shared: Default::default(),
        from: vec![peer("store")],
    });
    compliance_via(
        &rt,
        &s,
        partition,
        vec![info(&s.store, "store")],
        &s.api,
        "api",
        image,
        || {
            assert!(!can_connect(&s.api, "store:7000"));
            assert!(can_connect(&s.api, "other:7000"));
        },
    );
    let port = s.store.host_port.unwrap();
    let bandwidth = Fault::Bandwidth(BandwidthFault {
        target: target("store"),
        shared: Default::default(),
        rate: Rate {
            bits_per_second: 8_000_000,
        },
    });
    compliance_via(&rt, &s, bandwidth, vec![], &s.store, "store", image, || {
        let capped = download_mbit(port, 2_000_000);
        assert!(
            (4.0..=10.0).contains(&capped),
            "8mbit through a helper measured {capped:.1} Mbit/s"
        );
    });
}

/// Without any journal, `gameday recover --scope PROJECT` still finds and
/// removes what gameday adds (tagged rules, its qdiscs) in the project.
#[test]
fn recover_sweeps_a_scope_without_a_journal() {
    if !docker_available() {
        return;
    }
    let s = stack("sweep");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = engine(&rt);
    let apply = |fault: Fault, on: &Container, service: &str, peers: Vec<ContainerInfo>| {
        let context = ApplyContext {
            tag: format!("gameday:lost:{}", fault.kind().key()),
            project: s.project.name.clone(),
            peers,
            ..Default::default()
        };
        // Applied, then forgotten: as a runner killed without a journal.
        drop(apply_now(
            &rt,
            &engine,
            &fault,
            &info(on, service),
            &context,
        ));
    };
    apply(
        Fault::Partition(PartitionFault {
            target: target("api"),
            shared: Default::default(),
            from: vec![peer("store")],
        }),
        &s.api,
        "api",
        vec![info(&s.store, "store")],
    );
    apply(
        Fault::Bandwidth(BandwidthFault {
            target: target("store"),
            shared: Default::default(),
            rate: Rate {
                bits_per_second: 1_000_000,
            },
        }),
        &s.store,
        "store",
        vec![],
    );
    assert_ne!(leftovers(&s.api), "");
    assert_ne!(leftovers(&s.store), "");
    let out = tempfile::tempdir().unwrap();
    let swept = Command::cargo_bin("gameday")
        .unwrap()
        .args(["recover", "--out"])
        .arg(out.path())
        .args(["--scope", &s.project.name])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&swept.stdout);
    assert_eq!(
        swept.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&swept.stderr)
    );
    assert!(
        stdout.contains("removed gameday's rules and qdiscs"),
        "{stdout}"
    );
    assert_eq!(leftovers(&s.api), "");
    assert_eq!(leftovers(&s.store), "");
    assert!(can_connect(&s.api, "store:7000"));
}
