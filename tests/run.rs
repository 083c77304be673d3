//! `gameday run` end to end against real containers: verdicts, the run
//! directory, Ctrl-C, SIGKILL then `recover`, halt_if, a failed steady state.
//! Every test checks the real state of the containers afterwards.

mod common;

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::*;

fn bin() -> String {
    assert_cmd::cargo::cargo_bin("gameday")
        .display()
        .to_string()
}

fn wait_for_state(c: &Container, state: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if c.state() == state {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never became {state} (is {})", c.name, c.state());
}

fn pause_gameday(project: &str, port: u16, duration: &str, halt: &str) -> String {
    format!(
        r#"gameday: Run test
participants: [Tess (coordinator)]
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 1s500ms, probe_timeout: 2s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health", body_contains: ok }}, every: 100ms }}
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: Store paused
    expected: health fails while the store is frozen
    fault: {{ pause: {{ service: store }} }}
    duration: {duration}
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
      - {{ probe: health, during: fault, success_rate: ">= 99%" }}
      - {{ probe: health, recovers_within: 3s }}
{halt}"#
    )
}

#[test]
fn a_run_with_met_and_not_met_expectations_exits_1() {
    if !docker_available() {
        return;
    }
    let project = Project::new("run");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_gameday(
        &project.name,
        api.host_port.unwrap(),
        "2s",
        "",
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 60);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(store.state(), "running", "the pause was not reverted");

    let dir = run_dir(out.path());
    let name = dir.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.contains("-run-test-"), "{name}");
    let result = result_json(&dir);
    assert_eq!(result["schema_version"], 1);
    assert_eq!(result["outcome"], "not_met");
    assert!(result["faults_left"].as_array().unwrap().is_empty());
    let scenario = &result["scenarios"][0];
    assert_eq!(scenario["verdict"], "not_met");
    let checks = scenario["expectations"].as_array().unwrap();
    assert_eq!(checks[0]["verdict"], "met", "{:?}", checks[0]);
    assert!(
        checks[0]["actual"]
            .as_str()
            .unwrap()
            .starts_with("measured paused"),
        "{:?}",
        checks[0]
    );
    assert_eq!(checks[1]["verdict"], "not_met", "{:?}", checks[1]);
    assert_eq!(checks[2]["verdict"], "met", "{:?}", checks[2]);
    let fault = &scenario["faults"][0];
    assert_eq!(fault["kind"], "pause");
    assert!(fault["applied_confirmed_at"].is_string() && fault["reverted_at"].is_string());
    assert!(
        std::fs::read_to_string(dir.join("report.md"))
            .unwrap()
            .contains("## Scenario 1: Store paused")
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg class=\"chart latency\"").count(),
        1,
        "health chart"
    );
    assert_eq!(
        html.matches("<svg class=\"chart state\"").count(),
        1,
        "store-state strip"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("tests=\"3\"") && junit.contains("failures=\"1\""),
        "{junit}"
    );
    assert!(
        std::fs::read_to_string(dir.join("samples.jsonl"))
            .unwrap()
            .lines()
            .count()
            > 20
    );
    assert!(
        stdout.contains(&format!("report: {}", dir.join("report.md").display())),
        "{stdout}"
    );

    // The journal holds the revert recipe before the fault, and its completion after.
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let pos = |event: &str| {
        journal
            .find(&format!("\"event\":\"{event}\""))
            .unwrap_or_else(|| panic!("no {event}"))
    };
    assert!(pos("fault_intent") < pos("fault_applied"));
    assert!(pos("fault_applied") < pos("fault_reverted"));
    assert!(journal.contains("\"undo\":\"unpause\""));
}

/// `gameday run --no-progress --out OUT FILE`, waiting at most `secs`.
/// Spawn `gameday run` in the background.
fn spawn_run(file: &Path, out: &Path) -> std::process::Child {
    StdCommand::new(bin())
        .args(["run", "--no-progress", "--out"])
        .arg(out)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    within: Duration,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gameday did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_during_a_pause_reverts_and_writes_a_partial_report() {
    if !docker_available() {
        return;
    }
    let project = Project::new("sigint");
    let (store, api) = project.demo_stack();
    let text = pause_gameday(&project.name, api.host_port.unwrap(), "60s", "");
    let text = format!(
        "{text}  - name: Never reached\n    fault: {{ kill: {{ service: store }} }}\n    duration: 1s\n"
    );
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_run(&file, out.path());
    wait_for_state(&store, "paused", Duration::from_secs(20));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(3));
    assert_eq!(store.state(), "running", "Ctrl-C did not unpause the store");
    let dir = run_dir(out.path());
    let result = result_json(&dir);
    assert_eq!(result["outcome"], "aborted");
    assert_eq!(result["scenarios"][0]["verdict"], "aborted");
    assert_eq!(result["scenarios"][1]["verdict"], "skipped");
    assert!(
        result["aborted_reason"]
            .as_str()
            .unwrap()
            .contains("signal")
    );
    assert!(dir.join("report.md").is_file());
}

#[test]
fn sigkill_during_a_pause_then_recover() {
    if !docker_available() {
        return;
    }
    let project = Project::new("sigkill");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_gameday(
        &project.name,
        api.host_port.unwrap(),
        "60s",
        "",
    ));
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_run(&file, out.path());
    wait_for_state(&store, "paused", Duration::from_secs(20));
    // SIGKILL, its watchdog with it (a power cut): no chance to revert.
    kill_with_watchdogs(&mut child);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        store.state(),
        "paused",
        "the fault should still be in place"
    );

    // A new run against the same scope refuses to start.
    let refused = run_gameday(out.path(), &file, 30);
    assert_eq!(refused.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("gameday recover"));
    assert_eq!(store.state(), "paused");

    let recovered = Command::cargo_bin("gameday")
        .unwrap()
        .args(["recover", "--out"])
        .arg(out.path())
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(
        recovered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    assert_eq!(store.state(), "running");
}

#[test]
fn halt_if_reverts_at_once_and_exits_3() {
    if !docker_available() {
        return;
    }
    let project = Project::new("halt");
    let (store, api) = project.demo_stack();
    let halt = "    halt_if:\n      - { probe: health, failing_for: 1s }\n";
    let (_dir, file) = gameday_file(&pause_gameday(
        &project.name,
        api.host_port.unwrap(),
        "60s",
        halt,
    ));
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = run_gameday(out.path(), &file, 60);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the 60s hold was not cut short"
    );
    assert_eq!(store.state(), "running");
    let result = result_json(&run_dir(out.path()));
    assert!(
        result["aborted_reason"]
            .as_str()
            .unwrap()
            .contains("halt_if: probe `health`"),
        "{result}"
    );
}

#[test]
fn a_failed_steady_state_applies_no_fault() {
    if !docker_available() {
        return;
    }
    let project = Project::new("steady");
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    // Nothing listens on this port: the probe fails from the start.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let text = format!(
        "gameday: Steady\nscope: {{ compose_project: {} }}\ndefaults: {{ baseline: 1s }}\nprobes:\n  api: {{ tcp: {{ address: \"127.0.0.1:{port}\" }}, every: 100ms }}\nscenarios:\n  - {{ name: s, fault: {{ pause: {{ service: store }} }}, duration: 5s }}\n",
        project.name
    );
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 30);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("steady state was not met"), "{stdout}");
    assert!(stdout.contains("api:"), "{stdout}");
    assert_eq!(store.state(), "running");
    let journal = std::fs::read_to_string(run_dir(out.path()).join("journal.jsonl")).unwrap();
    assert!(
        !journal.contains("fault_intent"),
        "a fault was attempted: {journal}"
    );
}

/// A second SIGTERM skips the cooldown: the run ends long before the 60s
/// cooldown it would otherwise observe, with the fault reverted.
#[test]
fn a_second_signal_skips_the_cooldown() {
    if !docker_available() {
        return;
    }
    let project = Project::new("sigterm2");
    let (store, api) = project.demo_stack();
    let text = pause_gameday(&project.name, api.host_port.unwrap(), "60s", "")
        .replace("cooldown: 1s500ms", "cooldown: 60s");
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_run(&file, out.path());
    wait_for_state(&store, "paused", Duration::from_secs(20));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_for_state(&store, "running", Duration::from_secs(20));
    let started = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(3));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 60s cooldown was not skipped"
    );
    assert_eq!(store.state(), "running");
    assert_eq!(result_json(&run_dir(out.path()))["outcome"], "aborted");
}

/// A report that cannot be rendered is a report error: the run's record
/// (result.json, samples.jsonl) and junit.xml are written, the verdict
/// lines print, and the exit code is the verdict's, never 4 ("a fault could
/// not be reverted") after a clean revert.
#[test]
fn a_broken_template_leaves_the_record_and_the_verdicts_exit_code() {
    if !docker_available() {
        return;
    }
    let project = Project::new("tmpl");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_gameday(
        &project.name,
        api.host_port.unwrap(),
        "1s",
        "",
    ));
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("report.md.tera"),
        "# {{ gameday.title }\n{% for s in scenarios %}",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let template_dir = templates.path().display().to_string();
    let output = gameday_run(
        out.path(),
        &file,
        &["--template-dir", template_dir.as_str()],
        60,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The health check fails during the pause: the verdict is "not met".
    assert_exit(&output, 1);
    assert_eq!(store.state(), "running", "the pause was not reverted");
    assert!(
        stdout.contains("not_met    Store paused"),
        "the verdict lines must still print: {stdout}"
    );
    assert!(
        stderr.contains("a report could not be written") && stderr.contains("report.md"),
        "the template error must be said: {stderr}"
    );
    let dir = run_dir(out.path());
    let result = result_json(&dir);
    assert_eq!(result["outcome"], "not_met");
    assert_eq!(result["exit_code"], 1);
    assert!(result["faults_left"].as_array().unwrap().is_empty());
    assert!(dir.join("samples.jsonl").metadata().unwrap().len() > 0);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml is written");
    assert!(junit.contains("Store paused"), "{junit}");
    assert!(!dir.join("report.md").exists(), "no half-rendered report");
}
