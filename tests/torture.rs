//! The torture test: SIGKILL the runner at a random moment of a gameday
//! that goes through every fault kind, with its watchdog (a power cut)
//! then `gameday recover`, or alone (its watchdog cleans up), and check
//! that nothing is left, as a client of the targets sees it. Two gamedays:
//! the container and network kinds (kill, stop, restart, pause, delay,
//! loss, duplicate, corrupt, bandwidth, partition, disconnect), and the
//! resource, process, script, HTTP and DNS kinds (cpu_stress,
//! memory_stress, io_stress, disk_fill, process, script, http_fault, dns).
//! Nothing left means, for this test's own containers and run only (other
//! tests share the engine): every container that was running runs, none
//! is paused, no process of theirs is stopped, their OOM scores are back,
//! no rule commented `gameday:` (filter, mangle, nat), no gameday qdisc
//! (`6700:` to `67ff:`), no NFQUEUE rule, no gameday worker or helper
//! container serving them, no
//! `.gameday-*` file in their `/data`, the host script's revert ran, no
//! claim, every network attached; and the api answers HTTP and resolves
//! the store again. `GAMEDAY_TORTURE_TRIALS` sets the number of trials
//! (default 3; docs/reliability.md gives the figures of a longer run by hand).

mod common;

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A gameday the test tortures.
#[derive(Clone, Copy, Debug)]
enum Tortured {
    /// kill, stop, restart, pause and the network kinds.
    ContainerAndNetwork,
    /// The stress kinds, process, script, http_fault and dns.
    ResourceAndApp,
}

/// What a trial runs on: the store and the api (published), and a
/// directory of this host the host script writes in.
struct Stack {
    store: Container,
    api: Container,
    marks: tempfile::TempDir,
}

impl Tortured {
    fn stack(self, project: &Project) -> Stack {
        let marks = tempfile::tempdir().unwrap();
        let (store, api) = match self {
            Tortured::ContainerAndNetwork => project.demo_stack(),
            Tortured::ResourceAndApp => {
                // A private tmpfs to fill and write to, and a memory limit
                // to stress under: nothing shared with this host or the
                // other tests.
                let store = project.service_opts(
                    "store",
                    &["--tmpfs", "/data:size=16m"],
                    &["store", "--listen", "0.0.0.0:7000"],
                    None,
                );
                let api = project.service_opts(
                    "api",
                    &["--memory", "128m", "--cpus", "1.0"],
                    &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
                    Some(8080),
                );
                (store, api)
            }
        };
        wait_for("the api to answer", Duration::from_secs(10), || {
            http_ok(
                api.host_port.unwrap(),
                "/health",
                Duration::from_millis(500),
            )
        });
        Stack { store, api, marks }
    }

    /// About how long the whole gameday takes here, in ms.
    fn length_ms(self) -> u64 {
        match self {
            Tortured::ContainerAndNetwork => 15_000,
            Tortured::ResourceAndApp => 7_000,
        }
    }

    fn gameday(self, project: &str, stack: &Stack) -> String {
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
"#,
            port = stack.api.host_port.unwrap()
        );
        let applied = stack.marks.path().join("applied");
        let script = format!(
            "script: {{ service: store, in: host, apply: [touch, \"{a}\"], revert: [rm, -f, \"{a}\"], timeout: 2s }}",
            a = applied.display()
        );
        let faults: Vec<(&str, &str)> = match self {
            Tortured::ContainerAndNetwork => vec![
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
            ],
            Tortured::ResourceAndApp => vec![
                (
                    "cpu_stress",
                    "cpu_stress: { service: api, workers: 1, load: 50% }",
                ),
                (
                    "memory_stress",
                    "memory_stress: { service: api, size: 32MiB }",
                ),
                (
                    "io_stress",
                    "io_stress: { service: store, path: /data, workers: 1, size: 4MiB }",
                ),
                (
                    "disk_fill",
                    "disk_fill: { service: store, path: /data, size: 8MiB }",
                ),
                (
                    "process",
                    "process: { service: store, match: store, signal: SIGSTOP, pid1: true }",
                ),
                ("script", &script),
                (
                    "http_fault",
                    "http_fault: { service: api, port: 8080, status: 503 }",
                ),
                (
                    "dns",
                    "dns: { service: api, names: [store], error: nxdomain }",
                ),
            ],
        };
        for (name, fault) in faults {
            text.push_str(&scenario(name, fault));
        }
        text
    }
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
    for table in ["filter", "mangle", "nat"] {
        for rule in ns(&["iptables", "-w", "5", "-t", table, "-S"]).lines() {
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

/// A process of this host: its state letter, `oom_score_adj` and command
/// line, if it is still there.
fn process(pid: i32) -> Option<(char, i32, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    let score = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let argv = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()?
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some((state, score, argv))
}

/// Every process of this host.
fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The processes of container `id` on this host (its cgroup names it).
fn processes_of(id: &str) -> Vec<i32> {
    pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(id))
        })
        .collect()
}

/// Each process of the stack's containers and its `oom_score_adj`, before
/// the trial.
fn oom_scores(stack: &Stack) -> Vec<(i32, i32)> {
    [&stack.store, &stack.api]
        .iter()
        .flat_map(|c| processes_of(&c.id))
        .filter_map(|pid| Some((pid, process(pid)?.1)))
        .collect()
}

/// What a process-level fault may leave of the stack's containers: a
/// gameday worker (stress, proxy) serving them, a process of theirs
/// stopped, an OOM score not put back, a `.gameday-*` file in `/data`.
fn leftover_processes(stack: &Stack, scores: &[(i32, i32)]) -> String {
    let mut left = String::new();
    let ids = [&stack.store.id, &stack.api.id];
    for pid in pids() {
        let Some((_, _, argv)) = process(pid) else {
            continue;
        };
        let worker = argv.get(1).is_some_and(|c| {
            ["stress", "http-proxy", "dns-proxy", "nfqueue-serve"].contains(&c.as_str())
        });
        if worker && argv.iter().any(|a| ids.contains(&a)) {
            left.push_str(&format!("a worker: {}\n", argv.join(" ")));
        }
    }
    for c in [&stack.store, &stack.api] {
        for pid in processes_of(&c.id) {
            if process(pid).is_some_and(|(state, ..)| state == 'T') {
                left.push_str(&format!("{}: process {pid} is stopped\n", c.name));
            }
        }
        let main = docker(&["inspect", "-f", "{{.State.Pid}}", &c.id]);
        let data = format!("/proc/{main}/root/data");
        for entry in std::fs::read_dir(data).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".gameday-") {
                left.push_str(&format!("{}: /data/{name}\n", c.name));
            }
        }
    }
    for (pid, before) in scores {
        if let Some((_, now, _)) = process(*pid)
            && now != *before
        {
            left.push_str(&format!(
                "process {pid}'s OOM score is {now}, was {before}\n"
            ));
        }
    }
    left
}

/// What a dead run left on the project, in words; empty when nothing.
fn left_behind(project: &Project, stack: &Stack, scores: &[(i32, i32)]) -> String {
    let (store, api) = (&stack.store, &stack.api);
    let mut left = String::new();
    for c in [store, api] {
        if c.state() != "running" {
            left.push_str(&format!("{} is {}\n", c.name, c.state()));
        } else {
            left.push_str(&leftovers_in(c));
        }
    }
    left.push_str(&leftover_processes(stack, scores));
    let networks = docker(&[
        "inspect",
        "-f",
        "{{range $n, $_ := .NetworkSettings.Networks}}{{$n}} {{end}}",
        &store.id,
    ]);
    if !networks.contains(&format!("{}_default", project.name)) {
        left.push_str(&format!("the store is off its network ({networks})\n"));
    }
    // Only the helpers serving this test's containers: other tests run
    // theirs on the same engine.
    for c in [store, api] {
        for how in ["NetworkMode", "PidMode"] {
            let helpers = helpers_sharing(&c.id, how);
            if !helpers.is_empty() {
                left.push_str(&format!("helper containers of {}: {helpers:?}\n", c.name));
            }
        }
    }
    if stack.marks.path().join("applied").exists() {
        left.push_str("the host script's revert did not run\n");
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

/// What a client of the api sees that it should not, once nothing is left:
/// its health (which asks the store) failing, the store not resolving from
/// inside it.
fn not_answering(stack: &Stack) -> String {
    let mut wrong = String::new();
    if !http_ok(
        stack.api.host_port.unwrap(),
        "/health",
        Duration::from_millis(1000),
    ) {
        wrong.push_str("the api's /health does not answer 200\n");
    }
    let resolved = StdCommand::new("docker")
        .args(["exec", &stack.api.id, "/gameday-demo", "resolve", "store"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&resolved.stdout);
    if !said.starts_with("resolved ") {
        wrong.push_str(&format!("the api cannot resolve the store: {said}"));
    }
    wrong
}

/// Who cleans up after the SIGKILL.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Cleaner {
    /// The runner and its watchdog die together (a power cut): `recover`.
    Recover,
    /// The runner alone dies: its watchdog, with no `recover` at all.
    Watchdog,
}

fn torture(tortured: Tortured, cleaner: Cleaner) {
    ensure_nethelper_image();
    let trials: u64 = std::env::var("GAMEDAY_TORTURE_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3);
    let began = Instant::now();
    let mut killed_at = Vec::new();
    let mut healed_after = Vec::new();
    for trial in 0..trials {
        let project = Project::new("torture");
        let stack = tortured.stack(&project);
        let scores = oom_scores(&stack);
        let (_dir, file) = gameday_file(&tortured.gameday(&project.name, &stack));
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
        // Trial i of n is killed at a random moment of the i-th n-th of
        // the gameday, so even a few trials cover its beginning, middle
        // and end.
        let slice = tortured.length_ms() / trials.max(1);
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
                text(&recovered)
            }
            Cleaner::Watchdog => {
                runner.kill().unwrap();
                runner.wait().unwrap();
                // An apply in flight (a stop in its 1 s grace) is given its
                // settle time (grace + 10 s) to land before it is reverted.
                let killed = Instant::now();
                while !left_behind(&project, &stack, &scores).is_empty()
                    && killed.elapsed() < Duration::from_secs(15)
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                healed_after.push(killed.elapsed().as_millis());
                journal_of(out.path())
            }
        };
        let left = left_behind(&project, &stack, &scores);
        assert!(
            left.is_empty(),
            "{tortured:?}, {cleaner:?}, trial {trial}, killed after {after:?}: left {left}{said}"
        );
        // What was put back may take a moment to serve again (a restarted
        // store to listen, a lookup to go through).
        let answering = Instant::now();
        while !not_answering(&stack).is_empty() && answering.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let wrong = not_answering(&stack);
        assert!(
            wrong.is_empty(),
            "{tortured:?}, {cleaner:?}, trial {trial}, killed after {after:?}: {wrong}{said}"
        );
    }
    eprintln!(
        "{tortured:?}, {cleaner:?}: {trials} trials in {:?}, runner killed after (ms): {killed_at:?}; nothing left in any{}",
        began.elapsed(),
        if healed_after.is_empty() {
            String::new()
        } else {
            format!(" (the watchdog was done after (ms): {healed_after:?})")
        }
    );
}

/// The run's journal under `out`, if it has one.
fn journal_of(out: &Path) -> String {
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("journal.jsonl")).ok())
        .collect()
}

#[test]
fn sigkill_at_random_moments_then_recover_leaves_nothing() {
    if !docker_available() {
        return;
    }
    torture(Tortured::ContainerAndNetwork, Cleaner::Recover);
}

/// The runner alone is SIGKILLed at a random moment: its watchdog, with no
/// `recover`, leaves nothing behind.
#[test]
fn sigkill_of_the_runner_alone_leaves_nothing_once_its_watchdog_is_done() {
    if !docker_available() {
        return;
    }
    torture(Tortured::ContainerAndNetwork, Cleaner::Watchdog);
}

/// The resource, process, script, HTTP and DNS kinds: runner and watchdog
/// killed at a random moment, then `recover`.
#[test]
fn sigkill_amid_resource_and_app_faults_then_recover_leaves_nothing() {
    if !docker_available() {
        return;
    }
    torture(Tortured::ResourceAndApp, Cleaner::Recover);
}

/// The resource, process, script, HTTP and DNS kinds: the runner alone
/// killed; its watchdog leaves nothing behind.
#[test]
fn sigkill_of_the_runner_alone_amid_resource_and_app_faults_leaves_nothing() {
    if !docker_available() {
        return;
    }
    torture(Tortured::ResourceAndApp, Cleaner::Watchdog);
}
