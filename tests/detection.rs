//! "Who noticed what, when", measured on a real demo stack: users hurt by
//! a killed store (the api's published port answers 503), a real
//! Prometheus and Alertmanager that page later (or never), and a person
//! typing `Sam: detected: ...` at a real pseudo-terminal. Each run's
//! detection in `result.json`, its `detected_by` checks, and the reports.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::monitoring::*;
use common::terminal::*;
use common::*;

/// The first scenario's detection, and the run's summary.
fn detection(dir: &Path) -> (serde_json::Value, serde_json::Value) {
    let result = result_json(dir);
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&result["scenarios"][0]["detection"]).unwrap()
    );
    (
        result["scenarios"][0]["detection"].clone(),
        result["detection"].clone(),
    )
}

/// The first scenario's checks: (text, verdict, actual).
fn checks(dir: &Path) -> Vec<(String, String, String)> {
    result_json(dir)["scenarios"][0]["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("text"), s("verdict"), s("actual"))
        })
        .collect()
}

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn an_alert_that_pages_after_users_are_hurt_is_hurt_and_paged_with_its_lag() {
    if !docker_available() || !monitoring_tools() {
        return;
    }
    let project = Project::new("detectpaged");
    let (store, api) = project.demo_stack();
    let alerts = alertmanager();
    // The rule waits 2s of the store down before it fires: users first.
    let prom = prometheus_alerting_after(api.host_port.unwrap(), alerts.port, "2s");
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Who noticed
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 3s, probe_timeout: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 100ms }}
  pager: {{ alert: {{ url: "http://127.0.0.1:{am}", name: DemoStoreDown }}, every: 250ms }}
scenarios:
  - name: Store killed
    fault: {{ kill: {{ service: store }} }}
    duration: 6s
    expect:
      - {{ detected_by: alert, within: 60s }}
      - {{ detected_by: alert, within: 1s }}
"#,
        project = project.name,
        port = api.host_port.unwrap(),
        am = alerts.port,
    ));
    // The plan says which probe is user-facing, and why.
    let plan = String::from_utf8_lossy(&gameday_plan(&file).stdout).to_string();
    assert!(
        plan.contains(&format!("user-facing: published port 8080 of {}", api.name))
            && plan.contains("not user-facing: alert probe"),
        "{plan}"
    );
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    assert_eq!(store.state(), "running", "the kill was not reverted");
    drop(prom);
    let dir = run_dir(out.path());
    let (d, summary) = detection(&dir);
    assert_eq!(d["class"], "hurt_and_paged", "{d}");
    let hurt = ms(&d["users_hurt"]["after_fault_ms"]);
    let paged = ms(&d["first_alert"]["after_fault_ms"]);
    let lag = ms(&d["first_alert"]["after_hurt_ms"]);
    eprintln!("users hurt {hurt} ms after the fault, paged {paged} ms after it, lag {lag} ms");
    assert!(hurt < 1000.0, "users hurt only at {hurt} ms");
    assert!(
        lag >= 1500.0 && paged > hurt,
        "the alert came {lag} ms after users were hurt"
    );
    assert_eq!(d["users_hurt"]["by"], "health");
    assert_eq!(d["first_alert"]["by"], "pager");
    assert_eq!(d["people_noticed"], false);
    assert_eq!(ms(&d["time_to_detect_ms"]), paged);
    assert!(
        d["recovered"]["after_fault_ms"].as_f64().unwrap() > 6000.0,
        "{d}"
    );
    assert_eq!(
        (summary["hurt"].as_u64(), summary["paged"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(ms(&summary["alert_coverage"]), 1.0);
    // Met within a minute, not within a second: the words say what was measured.
    let checks = checks(&dir);
    eprintln!("{checks:#?}");
    assert_eq!(checks[0].1, "met", "{checks:?}");
    assert_eq!(checks[1].1, "not_met", "{checks:?}");
    assert!(
        checks[1].2.starts_with("first alert (pager) ") && checks[1].2.contains("; users hurt at "),
        "{checks:?}"
    );
    assert_exit(&output, 1);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("## Detection") && md.contains("**hurt and paged**"),
        "{md}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="detection.Store killed.class" value="hurt_and_paged""#),
        "{junit}"
    );
}

#[test]
fn users_hurt_while_no_alert_fires_is_hurt_and_nobody_paged() {
    if !docker_available() || !monitoring_tools() {
        return;
    }
    let project = Project::new("detectsilent");
    let (store, api) = project.demo_stack();
    // An Alertmanager nobody sends alerts to: it never pages.
    let alerts = alertmanager();
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Nobody paged
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s, probe_timeout: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 100ms }}
  pager: {{ alert: {{ url: "http://127.0.0.1:{am}", name: DemoStoreDown }}, every: 250ms }}
scenarios:
  - name: Store killed
    fault: {{ kill: {{ service: store }} }}
    duration: 2s
    expect:
      - {{ detected_by: alert, within: 30s }}
"#,
        project = project.name,
        port = api.host_port.unwrap(),
        am = alerts.port,
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 60);
    assert_eq!(store.state(), "running", "the kill was not reverted");
    let dir = run_dir(out.path());
    let (d, summary) = detection(&dir);
    assert_eq!(d["class"], "hurt_not_paged", "{d}");
    assert!(d["first_alert"].is_null(), "{d}");
    assert!(ms(&d["users_hurt"]["after_fault_ms"]) < 1000.0, "{d}");
    assert_eq!(
        (summary["hurt"].as_u64(), summary["paged"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(ms(&summary["alert_coverage"]), 0.0);
    let checks = checks(&dir);
    assert_eq!(checks[0].1, "not_met", "{checks:?}");
    assert!(
        checks[0].2.starts_with(
            "no alert fired between the fault and the end of the cooldown; users hurt at "
        ),
        "{checks:?}"
    );
    assert_exit(&output, 1);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("**hurt and nobody paged**")
            && md.contains("Alert coverage: 0 of 1 hurt scenario paged (0%)")
            && md.contains("> **Hurt and nobody paged:** Store killed."),
        "{md}"
    );
}

#[test]
fn a_person_typing_detected_during_the_fault_is_the_first_person_noticing() {
    if !docker_available() || !script_available() {
        return;
    }
    let project = Project::new("detectpeople");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: People notice
participants: [Sam]
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s, probe_timeout: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 100ms }}
scenarios:
  - name: Store killed
    fault: {{ kill: {{ service: store }} }}
    duration: 5s
    expect:
      - {{ detected_by: people, within: 30s }}
"#,
        project = project.name,
        port = api.host_port.unwrap(),
    ));
    let out = tempfile::tempdir().unwrap();
    let command = format!(
        "{} run --no-progress --out {} {}",
        assert_cmd::cargo::cargo_bin("gameday").display(),
        out.path().display(),
        file.display()
    );
    let mut terminal = Terminal::start(&command);
    terminal.wait_for("Type a line and press Enter", Duration::from_secs(30));
    // Typed once the store is down.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.state() == "running" {
        assert!(Instant::now() < deadline, "the store was never killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(700));
    terminal.type_line("Sam: detected: the health page is red");
    eprintln!("typed {:?} after the kill was seen", killed_at.elapsed());
    let screen = terminal.finish(Duration::from_secs(60));
    assert_eq!(store.state(), "running", "the kill was not reverted");
    let dir = run_dir(out.path());
    let (d, summary) = detection(&dir);
    assert_eq!(d["first_person"]["by"], "Sam", "{d}\n{screen}");
    let noticed = ms(&d["first_person"]["after_fault_ms"]);
    let lag = ms(&d["first_person"]["after_hurt_ms"]);
    eprintln!("Sam noticed {noticed} ms after the fault, {lag} ms after users were hurt");
    assert!((500.0..5000.0).contains(&noticed), "{d}");
    assert!(lag > 0.0, "{d}");
    assert_eq!(d["people_noticed"], true);
    // No alert probe: hurt, nobody paged, but people noticed.
    assert_eq!(d["class"], "hurt_not_paged");
    assert_eq!(ms(&d["time_to_detect_ms"]), noticed);
    assert_eq!(ms(&summary["median_time_to_detect_ms"]), noticed);
    let checks = checks(&dir);
    assert_eq!(checks[0].1, "met", "{checks:?}");
    assert!(
        checks[0].2.starts_with("first person noticing (Sam) "),
        "{checks:?}"
    );
    let observation = &result_json(&dir)["observations"][0];
    assert_eq!(observation["kind"], "detected", "{observation}");
}
