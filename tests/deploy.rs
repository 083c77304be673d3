//! The `deploy` fault against a real compose project: two api replicas
//! behind the demo's load balancer, rolled to `gameday-demo:v2` and back
//! under a load probe (every request's outcome counted, the version switch
//! seen by a probe, both times measured), `rolling` and `recreate` side by
//! side; a release that never gets healthy, rolled back; the runner
//! SIGKILLed mid-deploy, rolled back by its watchdog. After each, compose
//! still lists the very containers it started, running v1, and nothing of
//! the deploy is left.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

const COMPOSE: &str = r#"version: "2.4"
services:
  store:
    image: gameday-demo:latest
    command: ["store", "--listen", "0.0.0.0:7000"]
  api:
    image: gameday-demo:latest
    command: ["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"]
    scale: 2
    restart: unless-stopped
    volumes: ["/scratch"]
    healthcheck:
      test: ["CMD", "/gameday-demo", "connect", "127.0.0.1:8080", "500"]
      interval: 1s
      timeout: 1s
      retries: 2
  lb:
    image: gameday-demo:latest
    command: ["lb", "--listen", "0.0.0.0:8080", "--backend", "api:8080"]
    ports: ["127.0.0.1:${GAMEDAY_TEST_PORT}:8080"]
"#;

/// The compose file's directory (dropped last: the stack's teardown reads
/// the file), the stack, and the lb's port.
fn stack(prefix: &str) -> (tempfile::TempDir, ComposeStack, u16) {
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("docker-compose.yml");
    std::fs::write(&file, COMPOSE).unwrap();
    let port = free_port();
    let stack = ComposeStack::up(
        prefix,
        &[file],
        &["store", "api", "lb"],
        &[("GAMEDAY_TEST_PORT", port.to_string())],
    );
    wait_until("both api replicas healthy", Duration::from_secs(30), || {
        api_replicas(&stack.name)
            .iter()
            .filter(|(_, _, health)| health == "healthy")
            .count()
            == 2
    });
    wait_until("the lb answering", Duration::from_secs(15), || {
        http_ok(port, "/version", Duration::from_secs(1))
    });
    (dir, stack, port)
}

/// Every container of the project's `api` service: (id, image, health).
fn api_replicas(project: &str) -> Vec<(String, String, String)> {
    let ids = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        "label=com.docker.compose.service=api",
    ]);
    let mut replicas: Vec<(String, String, String)> = ids
        .lines()
        .map(|id| {
            let shown = docker(&[
                "inspect",
                "-f",
                "{{.Config.Image}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}",
                id,
            ]);
            let mut parts = shown.split_whitespace();
            (
                id.to_string(),
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            )
        })
        .collect();
    replicas.sort();
    replicas
}

/// Containers a deploy created (labelled `gameday.deploy`) or set aside
/// (`-gameday-kept-`) in the project.
fn deploy_leftovers(project: &str) -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={project}");
    docker(&[
        "ps",
        "-a",
        "--filter",
        &filter,
        "--format",
        "{{.Names}} {{.Labels}}",
    ])
    .lines()
    .filter(|l| l.contains("gameday.deploy=") || l.contains("-gameday-kept-"))
    .map(String::from)
    .collect()
}

/// After a rollback: compose lists the same two containers as before,
/// healthy, from v1; nothing of the deploy is left.
fn assert_rolled_back(stack: &ComposeStack, before: &[(String, String, String)]) {
    wait_until(
        "both replicas healthy again",
        Duration::from_secs(30),
        || {
            api_replicas(&stack.name)
                .iter()
                .all(|(_, _, health)| health == "healthy")
        },
    );
    let after = api_replicas(&stack.name);
    assert_eq!(
        after.iter().map(|r| (&r.0, &r.1)).collect::<Vec<_>>(),
        before.iter().map(|r| (&r.0, &r.1)).collect::<Vec<_>>(),
        "the replicas compose started, from their image"
    );
    assert!(
        deploy_leftovers(&stack.name).is_empty(),
        "{:?}",
        deploy_leftovers(&stack.name)
    );
    for (id, _, _) in &after {
        assert_eq!(
            docker(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", id]),
            "unless-stopped",
            "its restart policy put back"
        );
    }
    let listed = run(stack.compose().args(["ps", "-q", "api"]));
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    assert_eq!(
        listed,
        before.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "docker-compose ps lists them as its own"
    );
}

fn deploy_gameday(project: &str, port: u16, scenarios: &str) -> String {
    format!(
        r#"gameday: deploy and rollback
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 2s, cooldown: 2s }}
probes:
  traffic:
    load:
      http: {{ url: "http://127.0.0.1:{port}/version", expect_status: 200 }}
      rate: 100/s
      connections: 64
      timeout: 5s
  version:
    http: {{ url: "http://127.0.0.1:{port}/version", version: {{ json: version }} }}
    every: 100ms
scenarios:
{scenarios}"#
    )
}

#[test]
fn a_rolling_deploy_under_load_loses_no_request_and_rolls_back_to_the_same_containers() {
    if !docker_available() {
        return;
    }
    let (_dir, stack, port) = stack("gdt-deploy");
    let before = api_replicas(&stack.name);
    assert_eq!(before.len(), 2, "{before:?}");
    let (_g, file) = gameday_file(&deploy_gameday(
        &stack.name,
        port,
        r#"
  - name: rolling deploy
    fault:
      deploy: { service: api, image: "gameday-demo:v2", wait: healthy, timeout: 30s, deploy_time: "< 60s", rollback_time: "< 60s" }
    duration: 3s
    expect:
      - { probe: traffic, during: fault, success_rate: "== 100%" }
      - { probe: traffic, during: after, success_rate: "== 100%" }
  - name: recreate deploy
    fault:
      deploy: { service: api, image: "gameday-demo:v2", strategy: recreate, wait: { probe: version }, timeout: 30s, deploy_time: "< 60s", rollback_time: "< 60s" }
    duration: 3s
"#,
    ));
    // An image the engine lacks is refused before anything is touched.
    let (_m, missing) = gameday_file(&deploy_gameday(
        &stack.name,
        port,
        r#"
  - name: no such image
    fault: { deploy: { service: api, image: "gameday-demo:no-such-tag" } }
    duration: 1s
"#,
    ));
    let refused = gameday_plan(&missing);
    assert_exit(&refused, 2);
    assert!(
        text(&refused).contains("has no image `gameday-demo:no-such-tag` to deploy"),
        "{}",
        text(&refused)
    );
    let plan = gameday_plan(&file);
    assert_exit(&plan, 0);
    let shown = text(&plan);
    assert!(
        shown.contains("one replica at a time, in this order:"),
        "{shown}"
    );
    assert!(shown.contains("every replica at once:"), "{shown}");
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 240);
    assert_exit(&output, 0);
    let dir = run_dir(out.path());
    let result = result_json(&dir);
    assert_rolled_back(&stack, &before);

    // Every request of the load probe was counted, and none failed, through
    // two deploys and two rollbacks.
    let traffic = result["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "traffic")
        .unwrap_or_else(|| panic!("{:#}", result["probes"]));
    let shown = traffic.to_string();
    let requests = traffic["load"]["requests"].as_u64().unwrap_or(0);
    let failed = traffic["load"]["failed"].as_u64().unwrap_or(u64::MAX);
    assert!(requests > 1000, "{shown}");
    assert_eq!(failed, 0, "{shown}");

    // Both deploys and rollbacks timed, on both replicas.
    let all = expectations(&result);
    for (scenario, check_of) in [("rolling", 0), ("recreate", 2)] {
        let deploy = &all
            .iter()
            .filter(|c| c.0.contains("deploy_time"))
            .collect::<Vec<_>>()[check_of / 2];
        let rollback = &all
            .iter()
            .filter(|c| c.0.contains("rollback_time"))
            .collect::<Vec<_>>()[check_of / 2];
        for c in [deploy, rollback] {
            assert_eq!(c.1, "met", "{scenario}: {c:?}");
            assert!(c.2.contains("over 2 replicas"), "{scenario}: {c:?}");
            assert!(c.3.unwrap() > 0.0, "{scenario}: {c:?}");
        }
        eprintln!(
            "{scenario}: deploy {:?} ms, rollback {:?} ms",
            deploy.3, rollback.3
        );
    }
    // The version switch, as a client saw it: 1, then 2 while deployed,
    // then 1 again after the rollback.
    let versions = result["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "version")
        .map(|p| p["versions"].clone())
        .unwrap_or_default();
    let changes: Vec<(&str, bool)> = versions["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("{versions:#}"))
        .iter()
        .map(|c| {
            (
                c["version"].as_str().unwrap(),
                c["again"].as_bool() == Some(true),
            )
        })
        .collect();
    assert_eq!(changes.first(), Some(&("1", false)), "{versions:#}");
    assert!(changes.contains(&("2", false)), "{versions:#}");
    let last = versions["last"]["version"]
        .as_str()
        .or(changes.last().map(|c| c.0));
    assert_eq!(last, Some("1"), "{versions:#}");
    for c in all.iter().filter(|c| c.0.contains("success_rate")) {
        assert_eq!(
            c.1, "met",
            "no request failed while deployed or rolled back: {c:?}"
        );
    }
    let timeline = result["scenarios"][0]["timeline"].to_string();
    assert!(timeline.contains("deployed: service api in"), "{timeline}");
    assert!(
        timeline.contains("rolled back: service api in"),
        "{timeline}"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("deploy_time < 1m"), "{report}");
}

#[test]
fn a_release_that_never_gets_healthy_fails_the_deploy_and_everything_is_rolled_back() {
    if !docker_available() {
        return;
    }
    let (_dir, stack, port) = stack("gdt-deploy-bad");
    let before = api_replicas(&stack.name);
    let (_g, file) = gameday_file(&deploy_gameday(
        &stack.name,
        port,
        r#"
  - name: broken release
    fault:
      deploy: { service: api, image: "gameday-demo:broken", wait: healthy, timeout: 4s }
    duration: 2s
"#,
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 120);
    assert_ne!(output.status.code(), Some(0), "{}", text(&output));
    let result = result_json(&run_dir(out.path()));
    let faults = result["scenarios"][0]["faults"].to_string();
    assert!(faults.contains("not healthy within 4s"), "{faults}");
    assert_rolled_back(&stack, &before);
    // The lb never ran out of a v1 replica: no request failed.
    assert_eq!(
        result["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "traffic")
            .unwrap()["load"]["failed"]
            .as_u64(),
        Some(0),
        "{:#}",
        result["probes"]
    );
}

/// A runner killed when the test ends, however it ends (a runner left
/// alive would keep its claim on the project after the stack is gone).
struct Runner(std::process::Child);

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A gameday whose deploy of the broken release waits (60 s) to be healthy.
fn broken_release(stack: &ComposeStack, port: u16) -> (tempfile::TempDir, PathBuf) {
    gameday_file(&deploy_gameday(
        &stack.name,
        port,
        r#"
  - name: broken release, runner killed
    fault:
      deploy: { service: api, image: "gameday-demo:broken", wait: healthy, timeout: 60s }
    duration: 2s
"#,
    ))
}

/// The first replica's replacement is there, waiting to be healthy.
fn mid_deploy(project: &str) -> bool {
    !deploy_leftovers(project).is_empty()
        && api_replicas(project)
            .iter()
            .any(|(_, image, _)| image == "gameday-demo:broken")
}

#[test]
fn a_runner_killed_mid_deploy_leaves_v1_on_every_replica_after_its_watchdog() {
    if !docker_available() {
        return;
    }
    let (_dir, stack, port) = stack("gdt-deploy-kill");
    let before = api_replicas(&stack.name);
    let (_g, file) = broken_release(&stack, port);
    let out = tempfile::tempdir().unwrap();
    let mut runner = Runner(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("gameday"))
            .args(["run", "--yes", "--no-progress", "--out"])
            .arg(out.path())
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the deploy under way", Duration::from_secs(30), || {
        mid_deploy(&stack.name)
    });
    // The replacement works on the replica's own anonymous volume, as
    // compose carries it over: the same volume, not a new empty one.
    let volume_of =
        |name: &str| docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", name]);
    let replaced = api_replicas(&stack.name)
        .into_iter()
        .find(|(_, image, _)| image == "gameday-demo:broken")
        .unwrap();
    let name = docker(&["inspect", "-f", "{{.Name}}", &replaced.0]);
    let kept = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name={}-gameday-kept-", name.trim_start_matches('/')),
    ]);
    let kept = kept.lines().next().unwrap_or("");
    assert!(!kept.is_empty(), "the replica kept aside");
    assert_eq!(volume_of(&replaced.0), volume_of(kept));
    assert_eq!(volume_of(kept).len(), 64, "an anonymous volume");
    // The runner alone dies: its watchdog rolls the deploy back.
    runner.0.kill().unwrap();
    runner.0.wait().unwrap();
    assert_rolled_back(&stack, &before);
    assert_recover_says_the_watchdog_reverted(out.path());
}

/// A stack whose runner and watchdog died together mid-deploy (a power
/// cut): the stack, its replicas before, the run's output directory with
/// its journal, and the compose file's directory (dropped last: fields drop
/// in order, and the stack's teardown reads the file).
struct PowerCut {
    stack: ComposeStack,
    before: Vec<(String, String, String)>,
    out: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

fn power_cut_mid_deploy(prefix: &str) -> PowerCut {
    let (dir, stack, port) = stack(prefix);
    let before = api_replicas(&stack.name);
    let (_g, file) = broken_release(&stack, port);
    let out = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out.path(), || mid_deploy(&stack.name));
    assert!(mid_deploy(&stack.name), "left as the power cut found it");
    PowerCut {
        stack,
        before,
        out,
        _dir: dir,
    }
}

#[test]
fn a_power_cut_mid_deploy_is_rolled_back_by_recover() {
    if !docker_available() {
        return;
    }
    let cut = power_cut_mid_deploy("gdt-deploy-cut");
    let recovered = gameday_recover(cut.out.path());
    assert_exit(&recovered, 0);
    assert_rolled_back(&cut.stack, &cut.before);
    let again = gameday_recover(cut.out.path());
    assert_exit(&again, 0);
}

#[test]
fn a_power_cut_mid_deploy_is_rolled_back_by_a_sweep_without_its_journal() {
    if !docker_available() {
        return;
    }
    let cut = power_cut_mid_deploy("gdt-deploy-sweep");
    let (stack, before) = (&cut.stack, &cut.before);
    // The journal is lost with the machine: only what is on the engine.
    let empty = tempfile::tempdir().unwrap();
    let swept = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .args(["recover", "--out"])
        .arg(empty.path())
        .args(["--scope", &stack.name])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_exit(&swept, 0);
    assert!(
        text(&swept).contains("rolled back a deploy"),
        "{}",
        text(&swept)
    );
    assert_rolled_back(stack, before);
}
