//! The torture test: SIGKILL the runner at a random moment of a gameday
//! that goes through every fault kind, with its watchdog (a power cut)
//! then `gameday recover`, or alone (its watchdog cleans up), and check
//! that nothing is left: every container that was running runs, none is
//! paused, no rule commented `gameday:`, no gameday qdisc (`6700:` to
//! `67ff:`), no NFQUEUE rule, no helper container, no claim. `GAMEDAY_TORTURE_TRIALS` sets the number
//! of trials (default 3; the README gives the figures of a longer run by
//! hand).

mod common;

use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn every_fault_kind(project: &str, port: u16) -> String {
    let scenario = |name: &str, fault: &str| {
        format!("  - name: {name}\n    fault: {{ {fault} }}\n    duration: 400ms\n")
    };
    let mut text = format!(
        r#"gameday: Torture
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 600ms, cooldown: 300ms, probe_timeout: 500ms }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 200ms }}
scenarios:
"#
    );
    for (name, fault) in [
        ("kill", "kill: { service: store }"),
        ("stop", "stop: { service: store, timeout: 1s }"),
        ("restart", "restart: { service: store, timeout: 1s }"),
        ("pause", "pause: { service: store }"),
        ("delay", "delay: { service: api, latency: 50ms }"),
        ("loss", "loss: { service: api, percent: 10% }"),
        ("duplicate", "duplicate: { service: api, percent: 5% }"),
        ("corrupt", "corrupt: { service: api, percent: 5% }"),
        ("bandwidth", "bandwidth: { service: api, rate: 1mbit }"),
        ("partition", "partition: { service: api, from: [store] }"),
        (
            "disconnect",
            "disconnect: { service: store, network: default }",
        ),
    ] {
        text.push_str(&scenario(name, fault));
    }
    text
}

/// A number in `0..n` from the clock and the trial: no dependency for one
/// random pick. The high bits of the product: the clock's low bits may not
/// change.
fn pick(n: u64, trial: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mixed =
        (nanos ^ trial.wrapping_mul(0xD1B5_4A32_D192_ED03)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) % n.max(1)
}

/// Everything gameday may leave in a container's network namespace.
fn leftovers_in(container: &Container) -> String {
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &container.id]);
    let ns = |cmd: &[&str]| {
        let out = StdCommand::new("nsenter")
            .args(["-t", &pid, "-n"])
            .args(cmd)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let mut left = String::new();
    for table in ["filter", "mangle"] {
        for rule in ns(&["iptables", "-t", table, "-S"]).lines() {
            if rule.contains("gameday:") || rule.contains("NFQUEUE") {
                left.push_str(&format!("{}: {rule}\n", container.name));
            }
        }
    }
    for line in gameday_qdiscs(&ns(&["tc", "qdisc", "show"])) {
        left.push_str(&format!("{}: {line}\n", container.name));
    }
    left
}

/// What a dead run left on the project, in words; empty when nothing.
fn left_behind(project: &Project, store: &Container, api: &Container) -> String {
    let mut left = String::new();
    for c in [store, api] {
        if c.state() != "running" {
            left.push_str(&format!("{} is {}\n", c.name, c.state()));
        } else {
            left.push_str(&leftovers_in(c));
        }
    }
    let networks = docker(&[
        "inspect",
        "-f",
        "{{range $n, $_ := .NetworkSettings.Networks}}{{$n}} {{end}}",
        &store.id,
    ]);
    if !networks.contains(&format!("{}_default", project.name)) {
        left.push_str(&format!("the store is off its network ({networks})\n"));
    }
    let helpers = docker(&["ps", "-aq", "--filter", "label=gameday.helper=1"]);
    if !helpers.is_empty() {
        left.push_str(&format!("helper containers: {helpers}\n"));
    }
    let claim = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name=^gameday-claim-{}$", project.name),
    ]);
    if !claim.is_empty() {
        left.push_str("the dead run's claim\n");
    }
    left
}

/// Who cleans up after the SIGKILL.
#[derive(Clone, Copy, PartialEq)]
enum Cleaner {
    /// The runner and its watchdog die together (a power cut): `recover`.
    Recover,
    /// The runner alone dies: its watchdog, with no `recover` at all.
    Watchdog,
}

fn torture(cleaner: Cleaner) {
    ensure_nethelper_image();
    let trials: u64 = std::env::var("GAMEDAY_TORTURE_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3);
    let mut killed_at = Vec::new();
    let mut healed_after = Vec::new();
    for trial in 0..trials {
        let project = Project::new("torture");
        let (store, api) = project.demo_stack();
        let (_dir, file) = gameday_file(&every_fault_kind(&project.name, api.host_port.unwrap()));
        let out = tempfile::tempdir().unwrap();
        let mut runner = StdCommand::new(assert_cmd::cargo::cargo_bin("gameday"))
            .args(["run", "--no-progress", "--out"])
            .arg(out.path())
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The whole gameday takes about 15 s here: trial i of n is killed
        // at a random moment of the i-th n-th of it, so even a few trials
        // cover the baseline, the container faults and the network ones.
        let slice = 15_000 / trials.max(1);
        let after = Duration::from_millis(300 + trial * slice + pick(slice, trial));
        let started = Instant::now();
        while started.elapsed() < after {
            if runner.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        killed_at.push(after.as_millis());
        let said = match cleaner {
            Cleaner::Recover => {
                kill_with_watchdogs(&mut runner);
                let recovered = gameday_recover(out.path());
                assert_exit(&recovered, 0);
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&recovered.stdout),
                    String::from_utf8_lossy(&recovered.stderr)
                )
            }
            Cleaner::Watchdog => {
                runner.kill().unwrap();
                runner.wait().unwrap();
                // An apply in flight (a stop in its 1 s grace) is given its
                // settle time (grace + 10 s) to land before it is reverted.
                let killed = Instant::now();
                while !left_behind(&project, &store, &api).is_empty()
                    && killed.elapsed() < Duration::from_secs(15)
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                healed_after.push(killed.elapsed().as_millis());
                std::fs::read_to_string(run_dir(out.path()).join("journal.jsonl"))
                    .unwrap_or_default()
            }
        };
        let left = left_behind(&project, &store, &api);
        assert!(
            left.is_empty(),
            "trial {trial}, killed after {after:?}: left {left}{said}"
        );
    }
    eprintln!(
        "{trials} trials, runner killed after (ms): {killed_at:?}; nothing left in any{}",
        if healed_after.is_empty() {
            String::new()
        } else {
            format!(" (the watchdog was done after (ms): {healed_after:?})")
        }
    );
}

#[test]
fn sigkill_at_random_moments_then_recover_leaves_nothing() {
    if !docker_available() {
        return;
    }
    torture(Cleaner::Recover);
}

/// The runner alone is SIGKILLed at a random moment: its watchdog, with no
/// `recover`, leaves nothing behind.
#[test]
fn sigkill_of_the_runner_alone_leaves_nothing_once_its_watchdog_is_done() {
    if !docker_available() {
        return;
    }
    torture(Cleaner::Watchdog);
}
