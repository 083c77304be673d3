//! The claim and the halt marker under real conditions, through the real
//! binary: a `recover` in a container that shares the host's hostname but
//! not its PID namespace leaves a live run alone; the claim and the halt
//! marker survive `docker container prune`; `halt` replaces a stale marker
//! of another run; `recover` right after a runner died waits for its
//! watchdog and says what it did. Every effect is checked as a client of
//! the target sees it (the api's health through the paused store).

mod common;

use std::path::Path;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use common::*;

fn pause_file(project: &str, port: u16, extra: &str, duration: &str) -> String {
    format!(
        r#"gameday: Claim
scope: {{ compose_project: {project} }}
{extra}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 200ms }}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: {duration}
"#
    )
}

/// Does the api answer its health check (it asks the store)?
fn healthy(port: u16) -> bool {
    http_ok(port, "/health", Duration::from_millis(1500))
}

fn halt(out: &Path, wait: &str) -> std::process::Child {
    StdCommand::new(assert_cmd::cargo::cargo_bin("gameday"))
        .env("GAMEDAY_OPERATOR", "Dana")
        .args(["halt", "--wait", wait, "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A CI job runs `gameday recover` in a container with `--uts host`: the
/// same hostname, the same kernel boot and (mounted) the same machine ID,
/// but its own PID namespace, where the runner's PID means nothing. It
/// must not judge the live run dead: its fault stays, as the api's health
/// shows, and recover exits 2 saying why.
#[test]
fn recover_in_a_container_sharing_the_hostname_leaves_a_live_run_alone() {
    if !docker_available() {
        return;
    }
    ensure_nethelper_image();
    let project = Project::new("uts");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&pause_file(&project.name, port, "", "15s"));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    let out_dir = out.path().display().to_string();
    let mut args = vec![
        "run".to_string(),
        "--rm".into(),
        "--uts".into(),
        "host".into(),
        "--network".into(),
        "none".into(),
        "--label".into(),
        "gameday.test=1".into(),
        "-v".into(),
        "/var/run/docker.sock:/var/run/docker.sock".into(),
        "-v".into(),
        format!("{out_dir}:{out_dir}"),
    ];
    if Path::new("/etc/machine-id").exists() {
        args.extend(["-v".into(), "/etc/machine-id:/etc/machine-id:ro".into()]);
    }
    args.extend([
        nethelper_image().to_string(),
        "/gameday".into(),
        "recover".into(),
        "--out".into(),
        out_dir.clone(),
    ]);
    let recovered = StdCommand::new("docker").args(&args).output().unwrap();
    let said = text(&recovered);
    assert_exit(&recovered, 2);
    assert!(
        said.contains("not touched") && said.contains("another PID namespace"),
        "{said}"
    );
    assert_eq!(
        store.state(),
        "paused",
        "recover reverted a live run's fault"
    );
    assert!(!healthy(port), "the api is healthy: the fault was undone");

    let output = finish(runner, Duration::from_secs(90));
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        text(&output)
    );
    assert_eq!(store.state(), "running");
    assert!(!claim_exists(&project) && marker_volumes(&project).is_empty());
}

/// `docker container prune` removes created-never-started containers: the
/// claim's and the halt marker's. While the runner lives it puts its claim
/// container back (so a `volume prune` then keeps the witness); while it
/// is frozen, the witnesses alone still refuse a second run (exit 2,
/// naming the holder) and still carry the halt to it once it wakes.
#[test]
fn the_claim_and_the_halt_marker_survive_a_container_prune() {
    if !docker_available() {
        return;
    }
    let project = Project::new("prune");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&pause_file(&project.name, port, "lease: 60s", "90s"));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    let claim_filter = format!("label=gameday.claim.scope={}", project.name);
    let halt_filter = format!("label=gameday.halt.scope={}", project.name);
    let prune = |what: &str, filter: &str| {
        docker(&[what, "prune", "-f", "--filter", filter]);
    };

    // The runner alive: its claim container comes back, and with it the
    // witness is kept from a volume prune.
    prune("container", &claim_filter);
    assert!(
        !claim_exists(&project),
        "the prune did not remove the claim"
    );
    let back = wait_until("the claim to come back", Duration::from_secs(5), || {
        claim_exists(&project)
    });
    eprintln!("the claim container was back {back:?} after the prune");
    prune("volume", &claim_filter);
    assert_eq!(
        marker_volumes(&project),
        vec![format!("gameday-claim-{}", project.name)]
    );

    // The runner and its watchdog frozen: nothing puts anything back.
    let mut frozen = watchdogs_of(runner.id());
    frozen.push(runner.id());
    freeze(&frozen, true);
    let halting = halt(out.path(), "60s");
    wait_for("the halt marker", Duration::from_secs(20), || {
        halt_marker_exists(&project)
    });
    prune("container", &claim_filter);
    prune("container", &halt_filter);
    assert!(!claim_exists(&project) && !halt_marker_exists(&project));
    let second = gameday_run(tempfile::tempdir().unwrap().path(), &file, &[], 60);
    let said = text(&second);
    freeze(&frozen, false);
    assert_exit(&second, 2);
    assert!(
        said.contains("is held by run") && said.contains(&format!("(pid {})", runner.id())),
        "{said}"
    );

    // Awake, the runner sees the halt from its witness.
    let output = finish(runner, Duration::from_secs(60));
    assert_exit(&output, 3);
    let halted = finish(halting, Duration::from_secs(60));
    assert_exit(&halted, 0);
    let result = result_json(&run_dir(out.path()));
    let reason = result["aborted_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("halted by Dana on"), "{reason}");
    assert_eq!(store.state(), "running");
    assert!(healthy(port) || wait_until_healthy(port));
    assert!(!claim_exists(&project) && !halt_marker_exists(&project));
    assert_eq!(marker_volumes(&project), Vec::<String>::new());
}

fn wait_until_healthy(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if healthy(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A halt marker left for a run that is over (here made by hand, as an
/// older gameday left it) must not swallow the halt of the live run: it is
/// replaced, said, and the live run halts at once.
#[test]
fn halt_replaces_a_stale_marker_of_another_run() {
    if !docker_available() {
        return;
    }
    let project = Project::new("stalehalt");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&pause_file(&project.name, port, "", "60s"));
    docker(&[
        "create",
        "--name",
        &format!("gameday-halt-{}", project.name),
        "--label",
        "gameday.halt=1",
        "--label",
        "gameday.halt.run_id=0ld000",
        "--label",
        "gameday.halt.by=tess on elsewhere",
        DEMO_IMAGE,
    ]);
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    let started = Instant::now();
    let halted = finish(halt(out.path(), "30s"), Duration::from_secs(60));
    let took = started.elapsed();
    let said = text(&halted);
    assert_exit(&halted, 0);
    assert!(
        said.contains("stale halt marker") && said.contains("0ld000"),
        "{said}"
    );
    assert!(took < Duration::from_secs(20), "the halt took {took:?}");
    let output = finish(runner, Duration::from_secs(30));
    assert_exit(&output, 3);
    assert_eq!(store.state(), "running");
    assert!(healthy(port) || wait_until_healthy(port));
    assert!(!halt_marker_exists(&project) && marker_volumes(&project).is_empty());
}

/// The runner SIGKILLed alone, its watchdog reverting a slow revert (a
/// script that takes 4 s): `recover` right away waits for the watchdog
/// instead of refusing (exit 2), then says what it did, and exits 0.
#[test]
fn recover_waits_for_a_watchdog_still_reverting() {
    if !docker_available() {
        return;
    }
    let project = Project::new("reverting");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Slow revert
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
scenarios:
  - name: Paused by a script
    fault:
      script:
        service: store
        in: host
        apply: [sh, -c, "docker pause $GAMEDAY_CONTAINER_ID >/dev/null"]
        revert: [sh, -c, "sleep 4; docker unpause $GAMEDAY_CONTAINER_ID >/dev/null"]
        timeout: 20s
    duration: 60s
"#,
        project = project.name
    ));
    let out = tempfile::tempdir().unwrap();
    let mut runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    runner.kill().unwrap();
    runner.wait().unwrap();
    let started = Instant::now();
    let recovered = gameday_recover(out.path());
    let took = started.elapsed();
    let said = text(&recovered);
    assert_exit(&recovered, 0);
    assert!(
        said.contains("already reverted by the run's watchdog"),
        "{said}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "recover did not wait: {took:?}"
    );
    assert_eq!(store.state(), "running");
    assert!(healthy(port) || wait_until_healthy(port));
    assert!(!claim_exists(&project) && marker_volumes(&project).is_empty());
}
