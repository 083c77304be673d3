//! One fault on many replicas at once (issue 29), against the real engine:
//! a pause on a service of 8 replicas holds every one (seen from outside)
//! and ends with every one running, each journalled (an intent before its
//! apply) and each revert confirmed; Ctrl-C while the applies are under
//! way, or while the fault is held, leaves no replica paused and every
//! intent closed. Speed is the bench's business (`bench/run --only
//! spread`), not these tests'.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const REPLICAS: usize = 8;

/// A project whose service `store` has `REPLICAS` containers.
fn replicas(prefix: &str) -> (Project, Vec<Container>) {
    let project = Project::new(prefix);
    let stores = (1..=REPLICAS)
        .map(|i| {
            project.service_named(
                "store",
                &i.to_string(),
                &["store", "--listen", "0.0.0.0:7000"],
            )
        })
        .collect();
    (project, stores)
}

/// Each container's state, in one `docker inspect`.
fn states(containers: &[Container]) -> Vec<String> {
    let mut args = vec!["inspect", "-f", "{{.State.Status}}"];
    args.extend(containers.iter().map(|c| c.id.as_str()));
    docker(&args).lines().map(String::from).collect()
}

fn all_in(containers: &[Container], state: &str) -> bool {
    states(containers).iter().all(|s| s == state)
}

/// The journal's entries, parsed (every line must be a record).
fn journal_entries(out: &Path) -> Vec<serde_json::Value> {
    journal_text(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("damaged line {l:?}: {e}")))
        .collect()
}

/// The intent of the fault on `container` (its index in `entries`) and
/// the events of that fault from there on.
fn fault_of<'a>(
    entries: &'a [serde_json::Value],
    container: &Container,
) -> (usize, Vec<&'a serde_json::Value>) {
    let at = entries
        .iter()
        .position(|e| {
            e["event"] == "fault_intent" && e["recipe"]["container_id"] == container.id.as_str()
        })
        .unwrap_or_else(|| panic!("no intent for {}", container.name));
    let id = &entries[at]["fault_id"];
    let events = entries.iter().filter(|e| &e["fault_id"] == id).collect();
    (at, events)
}

/// Every intent of the run ends in a revert.
fn every_intent_closed(out: &Path) {
    let entries = journal_entries(out);
    for intent in entries.iter().filter(|e| e["event"] == "fault_intent") {
        let id = &intent["fault_id"];
        let last = entries.iter().rev().find(|e| &e["fault_id"] == id).unwrap();
        assert_eq!(last["event"], "fault_reverted", "{}", journal_text(out));
    }
}

fn paused_service(project: &str, hold: &str) -> String {
    one_fault_gameday(project, "", "pause: { service: store, pick: all }", hold)
}

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

fn sigint(child: &std::process::Child) {
    // SAFETY: plain kill(2) on the runner this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
}

#[test]
fn a_pause_on_many_replicas_holds_every_one_and_reverts_every_one() {
    if !docker_available() {
        return;
    }
    let (project, stores) = replicas("spread-pause");
    let (_dir, file) = gameday_file(&paused_service(&project.name, "4s"));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("every replica paused", Duration::from_secs(30), || {
        all_in(&stores, "paused")
    });
    let output = finish(runner, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert!(all_in(&stores, "running"), "{:?}", states(&stores));
    let entries = journal_entries(out.path());
    for store in &stores {
        let (intent, events) = fault_of(&entries, store);
        let applied = entries
            .iter()
            .position(|e| e["event"] == "fault_applied" && e["fault_id"] == events[0]["fault_id"])
            .unwrap_or_else(|| panic!("{} was not applied", store.name));
        assert!(
            intent < applied,
            "{}: applied before its intent",
            store.name
        );
        let names: Vec<&str> = events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["fault_intent", "fault_applied", "fault_reverted"],
            "{}",
            store.name
        );
        let reverted = events.last().unwrap();
        assert_eq!(reverted["by"], "run");
        assert!(
            !reverted["confirmed_at"].is_null(),
            "{}: revert not confirmed",
            store.name
        );
    }
    let result = result_json(&run_dir(out.path()));
    let faults = result["scenarios"][0]["faults"].as_array().unwrap();
    assert_eq!(faults.len(), REPLICAS, "{result}");
    for f in faults {
        assert!(f["error"].is_null(), "{f}");
        assert!(!f["applied_confirmed_at"].is_null(), "{f}");
        assert!(!f["revert_confirmed_at"].is_null(), "{f}");
    }
    assert_exit(&gameday_recover(out.path()), 0);
}

/// Ctrl-C while every replica's recipe is held and the applies are about
/// to go out (the test-only stall between the acks and the applies): the
/// run ends aborted, whatever landed is undone, no replica is left paused
/// and every intent is closed.
#[test]
fn ctrl_c_during_the_applies_leaves_no_replica_paused() {
    if !docker_available() {
        return;
    }
    let (project, stores) = replicas("spread-int-apply");
    let (_dir, file) = gameday_file(&paused_service(&project.name, "30s"));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run_with(
        &file,
        out.path(),
        &[("GAMEDAY_TEST_STALL_AFTER_ACK", "3000")],
    );
    wait_for("every intent", Duration::from_secs(30), || {
        std::fs::read_dir(out.path()).is_ok_and(|mut d| d.next().is_some())
            && journal_text(out.path()).matches("\"fault_intent\"").count() == REPLICAS
    });
    sigint(&runner);
    let output = finish(runner, Duration::from_secs(60));
    assert_exit(&output, 3);
    assert!(all_in(&stores, "running"), "{:?}", states(&stores));
    every_intent_closed(out.path());
    assert_exit(&gameday_recover(out.path()), 0);
    assert!(all_in(&stores, "running"), "{:?}", states(&stores));
}

/// Ctrl-C while the pause holds every replica: every one is unpaused.
#[test]
fn ctrl_c_while_many_replicas_are_held_unpauses_every_one() {
    if !docker_available() {
        return;
    }
    let (project, stores) = replicas("spread-int-hold");
    let (_dir, file) = gameday_file(&paused_service(&project.name, "60s"));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("every replica paused", Duration::from_secs(30), || {
        all_in(&stores, "paused")
    });
    sigint(&runner);
    let output = finish(runner, Duration::from_secs(60));
    assert_exit(&output, 3);
    assert!(all_in(&stores, "running"), "{:?}", states(&stores));
    every_intent_closed(out.path());
    assert_exit(&gameday_recover(out.path()), 0);
}
