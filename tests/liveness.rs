//! The watchdog's judgment of liveness and the order of arm and apply,
//! against real engines: an engine frozen (SIGSTOP of a dockerd of the
//! test's own) for longer than the lease does not make a live runner's
//! lease "expire"; a runner frozen as long is still fired on; a fire that
//! lands between the watchdog's ack and the apply leaves nothing applied,
//! seen as a client sees it (the container's events and state), with the
//! journal's last word on the fault a revert.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The journal's entries, parsed (every line must be a record).
fn journal_entries(out: &Path) -> Vec<serde_json::Value> {
    journal_text(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("damaged line {l:?}: {e}")))
        .collect()
}

/// The journal's entries about fault `fault_id`, by event name.
fn fault_events(out: &Path, fault_id: &str) -> Vec<String> {
    journal_entries(out)
        .iter()
        .filter(|e| e["fault_id"] == fault_id)
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

/// The id of the first fault the journal intended.
fn first_fault_id(out: &Path) -> String {
    journal_entries(out)
        .iter()
        .find(|e| e["event"] == "fault_intent")
        .map(|e| e["fault_id"].as_str().unwrap().to_string())
        .expect("no fault intended")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The actions of `container` the main engine reported between `since`
/// and now (`docker events`), oldest first.
fn events_of(container: &Container, since: u64) -> Vec<String> {
    let until = (unix_now() + 1).to_string();
    docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until,
        "--filter",
        &format!("container={}", container.id),
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// `gameday run` in the background with the test-only `env`.
fn spawn_run_with(file: &Path, out: &Path, env: &[(&str, &str)]) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--no-progress", "--out"])
        .arg(out)
        .arg(file)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: plain kill(2) on a process this test started.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// One scenario pausing the store of `project` for `hold`, with `lease`.
fn paused_store(project: &str, port: u16, lease: &str, hold: &str) -> String {
    format!(
        r#"gameday: Liveness
scope: {{ compose_project: {project} }}
lease: {lease}
defaults: {{ baseline: 1s, cooldown: 500ms }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 200ms }}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: {hold}
"#
    )
}

/// A dockerd frozen for 3 s (longer than the 2 s lease) while the run holds
/// a pause on one of its containers: every call to it waits, the
/// watchdog's look for a halt marker too, yet the renewals are read as
/// they come. The run ends on its own (not aborted), the journal has no
/// fire, and the runner itself reverted the pause.
#[test]
fn a_frozen_engine_does_not_expire_a_live_runners_lease() {
    if !docker_available() {
        return;
    }
    let engine = PrivateEngine::start();
    let project = format!("gdt-frozen-{}", std::process::id());
    let store = format!("{project}_store_1");
    let port = free_port();
    engine.run_store(&store, &project, "store", port);
    let gameday = format!(
        r#"gameday: Frozen engine
scope: {{ compose_project: {project} }}
docker: {{ host: "{socket}" }}
lease: 2s
defaults: {{ baseline: 1s, cooldown: 500ms }}
probes:
  store: {{ http: {{ url: "http://127.0.0.1:{port}/get" }}, every: 200ms }}
scenarios:
  - name: Store paused while its engine is frozen
    fault: {{ pause: {{ service: store }} }}
    duration: 7s
"#,
        socket = engine.socket()
    );
    let (_dir, file) = gameday_file(&gameday);
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        engine.state(&store) == "paused"
    });
    // The watchdog is polling the engine for a halt marker each second.
    std::thread::sleep(Duration::from_millis(700));
    let frozen = Instant::now();
    engine.freeze();
    std::thread::sleep(Duration::from_secs(3));
    engine.thaw();
    eprintln!("engine frozen for {:?}", frozen.elapsed());
    let output = finish(runner, Duration::from_secs(60));
    let journal = journal_text(out.path());
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "the run did not end on its own: {}\n{journal}",
        text(&output)
    );
    assert!(!journal.contains("\"watchdog_fired\""), "{journal}");
    let fault = first_fault_id(out.path());
    assert_eq!(
        fault_events(out.path(), &fault),
        ["fault_intent", "fault_applied", "fault_reverted"],
        "{journal}"
    );
    assert!(journal.contains(r#""by":"run""#), "{journal}");
    assert_eq!(engine.state(&store), "running");
}

/// The converse holds: a runner frozen (SIGSTOP) for 3 s with a 2 s lease
/// is fired on, and its pause reverted before it wakes up.
#[test]
fn a_runner_frozen_past_its_lease_is_still_fired_on() {
    if !docker_available() {
        return;
    }
    let project = Project::new("lv-frozen-runner");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&paused_store(&project.name, port, "2s", "30s"));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    let frozen = Instant::now();
    signal(&runner, libc::SIGSTOP);
    let mut reverted = None;
    while frozen.elapsed() < Duration::from_secs(3) {
        if reverted.is_none() && store.state() == "running" {
            reverted = Some(frozen.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&runner, libc::SIGCONT);
    let output = finish(runner, Duration::from_secs(30));
    let reverted = reverted.expect("the frozen runner's pause was not reverted within 3 s");
    eprintln!("reverted {reverted:?} after the runner froze");
    assert_exit(&output, 3);
    let reason = result_json(&run_dir(out.path()))["aborted_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("did not renew its 2s lease"), "{reason}");
    assert!(journal_text(out.path()).contains("\"watchdog_fired\""));
    assert_eq!(store.state(), "running");
}

/// The watchdog fires (`gameday halt`) after it took the recipe and before
/// the runner applies (held there by the test-only stall): the runner sees
/// the fire and applies nothing. The store never paused (its events say
/// so), the run is aborted, and the journal's last word on the fault is a
/// revert.
#[test]
fn no_fault_is_applied_once_its_watchdog_fired() {
    if !docker_available() {
        return;
    }
    let project = Project::new("lv-fire-before-apply");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&paused_store(&project.name, port, "10s", "30s"));
    let out = tempfile::tempdir().unwrap();
    let since = unix_now();
    let runner = spawn_run_with(
        &file,
        out.path(),
        &[("GAMEDAY_TEST_STALL_AFTER_ACK", "5000")],
    );
    wait_for("the intent", Duration::from_secs(30), || {
        run_dir_exists(out.path()) && journal_text(out.path()).contains("\"fault_intent\"")
    });
    let halted = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env("GAMEDAY_OPERATOR", "Dana")
        .args(["halt", "--out"])
        .arg(out.path())
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let output = finish(runner, Duration::from_secs(30));
    assert_exit(&halted, 0);
    assert_exit(&output, 3);
    let journal = journal_text(out.path());
    let reason = result_json(&run_dir(out.path()))["aborted_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("halted by Dana"), "{reason}");
    assert!(journal.contains("\"watchdog_fired\""), "{journal}");
    let actions = events_of(&store, since);
    assert!(
        !actions.iter().any(|a| a == "pause"),
        "the store was paused after its watchdog fired: {actions:?}\n{journal}"
    );
    assert_eq!(store.state(), "running");
    let fault = first_fault_id(out.path());
    let events = fault_events(out.path(), &fault);
    assert!(!events.iter().any(|e| e == "fault_applied"), "{journal}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("fault_reverted"),
        "{journal}"
    );
    assert_exit(&gameday_recover(out.path()), 0);
}

/// `gameday halt` makes the watchdog fire while the runner's apply lands
/// (held between the pause landing and the runner confirming it by the
/// test-only stall): the watchdog's revert may have run first, so the
/// runner reopens the fault's intent in the journal, reverts it again and
/// aborts the run saying why. The store ends unpaused, the journal's last
/// word on the fault is a revert that follows the reopened intent, and
/// `recover` finds nothing left.
#[test]
fn an_apply_racing_the_fire_reopens_its_intent_and_is_reverted() {
    if !docker_available() {
        return;
    }
    let project = Project::new("lv-apply-races-fire");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&paused_store(&project.name, port, "10s", "30s"));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run_with(
        &file,
        out.path(),
        &[("GAMEDAY_TEST_STALL_AFTER_APPLY", "5000")],
    );
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    let halted = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env("GAMEDAY_OPERATOR", "Dana")
        .args(["halt", "--out"])
        .arg(out.path())
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let output = finish(runner, Duration::from_secs(30));
    assert_exit(&halted, 0);
    assert_exit(&output, 3);
    let journal = journal_text(out.path());
    let reason = result_json(&run_dir(out.path()))["aborted_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("halted by Dana") && reason.contains("reverted again"),
        "{reason}\n{journal}"
    );
    assert_eq!(store.state(), "running");
    let fault = first_fault_id(out.path());
    let events = fault_events(out.path(), &fault);
    let intents: Vec<usize> = (0..events.len())
        .filter(|i| events[*i] == "fault_intent")
        .collect();
    assert_eq!(intents.len(), 2, "the intent was not reopened: {journal}");
    let applied = events.iter().position(|e| e == "fault_applied").unwrap();
    assert!(
        events[..applied].iter().any(|e| e == "fault_reverted"),
        "the watchdog's revert came before the apply was confirmed: {journal}"
    );
    assert!(intents[1] > applied, "{journal}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("fault_reverted"),
        "{journal}"
    );
    assert!(
        journal.contains("run (applied as its watchdog fired)"),
        "{journal}"
    );
    let recovered = gameday_recover(out.path());
    assert_exit(&recovered, 0);
    assert_eq!(store.state(), "running", "{}", text(&recovered));
}

fn run_dir_exists(out: &Path) -> bool {
    std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
}
