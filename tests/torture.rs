//! The torture test: SIGKILL the runner at a random moment of a gameday
//! that goes through every fault kind, run `gameday recover`, and check
//! that nothing is left: every container that was running runs, none is
//! paused, no rule commented `gameday:`, no `6764:` qdisc, no NFQUEUE rule,
//! no helper container, no claim. `GAMEDAY_TORTURE_TRIALS` sets the number
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
    for line in ns(&["tc", "qdisc", "show"]).lines() {
        if line.contains("6764:") {
            left.push_str(&format!("{}: {line}\n", container.name));
        }
    }
    left
}

#[test]
fn sigkill_at_random_moments_then_recover_leaves_nothing() {
    if !docker_available() {
        return;
    }
    ensure_nethelper_image();
    let trials: u64 = std::env::var("GAMEDAY_TORTURE_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3);
    let mut killed_at = Vec::new();
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
        // The runner and its watchdog together (a power cut), so that
        // `recover` is what is tortured here; tests/watchdog.rs kills the
        // runner alone.
        kill_with_watchdogs(&mut runner);
        killed_at.push(after.as_millis());

        let recovered = gameday_recover(out.path());
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&recovered.stdout),
            String::from_utf8_lossy(&recovered.stderr)
        );
        assert_exit(&recovered, 0);
        for c in [&store, &api] {
            assert_eq!(
                c.state(),
                "running",
                "trial {trial}, killed after {after:?}: {} was left {}: {said}",
                c.name,
                c.state()
            );
            let left = leftovers_in(c);
            assert!(
                left.is_empty(),
                "trial {trial}, killed after {after:?}: {left}{said}"
            );
        }
        let networks = docker(&[
            "inspect",
            "-f",
            "{{range $n, $_ := .NetworkSettings.Networks}}{{$n}} {{end}}",
            &store.id,
        ]);
        assert!(
            networks.contains(&format!("{}_default", project.name)),
            "trial {trial}, killed after {after:?}: the store is off its network ({networks}): {said}"
        );
        let helpers = docker(&["ps", "-aq", "--filter", "label=gameday.helper=1"]);
        assert!(
            helpers.is_empty(),
            "trial {trial}: helper containers left: {helpers}"
        );
        let claim = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("name=^gameday-claim-{}$", project.name),
        ]);
        assert!(
            claim.is_empty(),
            "trial {trial}: the dead run's claim is left"
        );
    }
    eprintln!("{trials} trials, runner killed after (ms): {killed_at:?}; nothing left in any");
}
