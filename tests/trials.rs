//! Scenarios run as trials, through the real binary against real
//! containers: a breaking-point search over a `delay` of the demo store in
//! front of an api whose store calls time out at 1 s; a capacity search
//! over a load probe's rate against an api limited to 100 requests a
//! second; `repeat` with a check that fails in exactly one trial; and a
//! runner killed in the middle of a search's trial, whose fault its
//! watchdog reverts.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// How long `/login` takes now (a fresh connection), in ms; `None` if it failed.
fn login_ms(port: u16) -> Option<f64> {
    let started = Instant::now();
    http_ok(port, "/login", Duration::from_secs(5))
        .then(|| started.elapsed().as_secs_f64() * 1000.0)
}

fn number(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The trials of the first scenario, each as (value, broke).
fn tried(scenario: &serde_json::Value) -> Vec<(f64, bool)> {
    scenario["trials"]["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                number(&t["value"]),
                t["until"]["verdict"].as_str() == Some("met"),
            )
        })
        .collect()
}

#[test]
fn a_search_over_a_delay_finds_the_api_s_one_second_timeout() {
    if !docker_available() {
        return;
    }
    let project = Project::new("search");
    let (_store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let base = login_ms(port).expect("the api answers before the search");
    let text = format!(
        r#"
gameday: Breaking point
scope: {{ compose_project: {name} }}
defaults: {{ baseline: 2s, cooldown: 1s }}
probes:
  login: {{ http: {{ url: "http://127.0.0.1:{port}/login" }}, every: 100ms, timeout: 4s }}
scenarios:
  - name: How much store latency does login take?
    fault: {{ delay: {{ service: store, latency: "{{{{x}}}}" }} }}
    duration: 3s
    search:
      vary: x
      from: 100ms
      to: 1600ms
      resolution: 100ms
      until: {{ probe: login, during: fault, success_rate: "< 50%" }}
"#,
        name = project.name
    );
    let (_dir, file) = gameday_file(&text);
    let plan = gameday_plan(&file);
    assert_exit(&plan, 0);
    let said = common::text(&plan);
    assert!(
        said.contains("x from 100ms to 1600ms by 100ms (16 values)")
            && said.contains("at most 6 trials"),
        "{said}"
    );
    let out = tempfile::tempdir().unwrap();
    let run = run_gameday(out.path(), &file, 240);
    assert_exit(&run, 0);
    let result = result_json(&run_dir(out.path()));
    let scenario = &result["scenarios"][0];
    assert_eq!(scenario["verdict"], "met", "{scenario:#}");
    let search = &scenario["trials"]["search"];
    assert_eq!(search["found"], "bracket", "{search:#}");
    let holds = number(&search["holds_at"]);
    let breaks = number(&search["breaks_at"]);
    // The api's store call times out at 1 s (its connect and its read
    // each): the bracket, one resolution wide, holds 1000ms less the base
    // latency within the resolution (a delay of exactly the timeout may
    // go either way).
    assert_eq!(breaks - holds, 100.0, "{search:#}");
    let edge = 1000.0 - base;
    assert!(
        holds - 100.0 <= edge && edge <= breaks + 100.0,
        "the bracket {holds}..{breaks} misses 1000ms - {base:.1}ms by more than 100ms: {search:#}"
    );
    // At most log2((to - from) / resolution) + 2 trials, each value
    // where the bisection puts it: the top, the bottom, then halves.
    let trials = tried(scenario);
    assert!(trials.len() <= 6, "{trials:?}");
    assert_eq!(trials[0], (1600.0, true), "{trials:?}");
    assert_eq!(trials[1], (100.0, false), "{trials:?}");
    for (value, broke) in &trials {
        assert_eq!(*broke, *value >= breaks, "{trials:?}");
    }
    assert_eq!(
        scenario["expectations"][0]["actual"],
        format!("holds at {holds}ms, breaks at {breaks}ms")
    );
    // Each trial's fault was its own in the journal, applied and reverted.
    let journal = journal_text(out.path());
    for t in 1..=trials.len() {
        let id = format!("\"s1-t{t}-f1-");
        assert_eq!(
            journal.matches(&id).count(),
            3,
            "trial {t}: intent, applied, reverted: {journal}"
        );
    }
    // Nothing is left: the store answers as fast as before.
    let after = login_ms(port).expect("the api answers after the search");
    assert!(
        after < base + 200.0,
        "login takes {after:.1}ms after the search, {base:.1}ms before"
    );
}

#[test]
fn a_capacity_search_finds_the_api_s_rate_limit() {
    if !docker_available() {
        return;
    }
    let project = Project::new("capacity");
    project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let api = project.service(
        "api",
        &[
            "api",
            "--listen",
            "0.0.0.0:8080",
            "--store",
            "store:7000",
            "--limit",
            "100",
        ],
        Some(8080),
    );
    let port = api.host_port.unwrap();
    let text = format!(
        r#"
gameday: Capacity
scope: {{ compose_project: {name} }}
defaults: {{ baseline: 2s, cooldown: 1s }}
probes:
  login:
    load:
      http: {{ url: "http://127.0.0.1:{port}/login" }}
      rate: 20/s
      connections: 32
    every: 500ms
scenarios:
  - name: How many logins a second?
    duration: 3s
    search:
      load: login
      from: 20/s
      to: 300/s
      resolution: 10/s
      until: {{ probe: login, during: fault, success_rate: "< 95%" }}
"#,
        name = project.name
    );
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let run = run_gameday(out.path(), &file, 240);
    assert_exit(&run, 0);
    let result = result_json(&run_dir(out.path()));
    let scenario = &result["scenarios"][0];
    assert_eq!(scenario["verdict"], "met", "{scenario:#}");
    let search = &scenario["trials"]["search"];
    let holds = number(&search["holds_at"]);
    let breaks = number(&search["breaks_at"]);
    assert_eq!(breaks - holds, 10.0, "{search:#}");
    // 100/s and a fifth of a second's burst: at 3 s a trial, up to
    // ~106/s fits under 95% failures... the bracket is around 100/s.
    assert!(
        (90.0..=120.0).contains(&holds),
        "the api is limited to 100/s, the search says it holds at {holds}/s: {search:#}"
    );
    // The load really was sent at each rate: a trial at the top sent
    // about 300 a second over its 3 s hold.
    let top = &scenario["trials"]["trials"][0];
    assert_eq!(number(&top["value"]), 300.0);
    let actual = top["until"]["actual"].as_str().unwrap();
    let sent: f64 = actual
        .split('(')
        .nth(1)
        .and_then(|s| s.split(" of ").nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{actual}"));
    assert!(
        (750.0..=1000.0).contains(&sent),
        "{sent} requests in the 3s fault window at 300/s: {actual}"
    );
}

#[test]
fn repeat_says_in_how_many_trials_a_flaky_check_was_met_and_pass_decides() {
    if !docker_available() {
        return;
    }
    let project = Project::new("repeat");
    project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    std::fs::write(&count, "").unwrap();
    let count = count.display();
    // Each apply and each revert add a line: during trial k's fault the
    // file holds 2k - 1 lines, so the probe fails in trial 2's only.
    let text = format!(
        r#"
gameday: Repeat
scope: {{ compose_project: {name} }}
defaults: {{ baseline: 1s, cooldown: 500ms }}
probes:
  flag:
    command: [sh, -c, "test $(wc -l < {count}) -ne 3"]
    every: 100ms
scenarios:
  - name: Four tries
    fault:
      script: {{ service: store, in: host, apply: [sh, -c, "echo a >> {count}"], revert: [sh, -c, "echo r >> {count}"] }}
    duration: 1s
    repeat: 4
    pass: 3 of 4
    expect:
      - {{ probe: flag, during: fault, success_rate: ">= 99%" }}
  - name: Four tries, all must pass
    fault:
      script: {{ service: store, in: host, apply: [sh, -c, "echo a >> {count}.2"], revert: [sh, -c, "true"] }}
    duration: 500ms
    repeat: 2
    expect:
      - {{ probe: flag, during: fault, success_rate: ">= 99%" }}
"#,
        name = project.name
    );
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let run = run_gameday(out.path(), &file, 120);
    assert_exit(&run, 0);
    let result = result_json(&run_dir(out.path()));
    let scenario = &result["scenarios"][0];
    assert_eq!(scenario["verdict"], "met", "{scenario:#}");
    let verdicts: Vec<&str> = scenario["trials"]["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["met", "not_met", "met", "met"], "{scenario:#}");
    let repeat = &scenario["trials"]["repeat"];
    assert_eq!(
        (repeat["met"].as_u64(), repeat["ran"].as_u64()),
        (Some(3), Some(4))
    );
    let check = &repeat["checks"][0];
    assert_eq!(
        (check["met"].as_u64(), check["of"].as_u64()),
        (Some(3), Some(4))
    );
    // Wilson's 95% interval for 3 of 4: 30.1% to 95.4%.
    assert!((number(&check["met_low"]) - 30.06).abs() < 0.1, "{check:#}");
    assert!(
        (number(&check["met_high"]) - 95.44).abs() < 0.1,
        "{check:#}"
    );
    let line = scenario["expectations"][0]["actual"].as_str().unwrap();
    assert!(
        line.starts_with("flaky: met in 3 of 4 trials (95% interval 30%-95%)"),
        "{line}"
    );
    // The second scenario met in both of its trials.
    assert_eq!(result["scenarios"][1]["verdict"], "met");
    assert_eq!(result["scenarios"].as_array().unwrap().len(), 2);
    let lines = std::fs::read_to_string(dir.path().join("count")).unwrap();
    assert_eq!(
        lines.lines().count(),
        8,
        "every trial applied and reverted: {lines}"
    );
}

#[test]
fn a_runner_killed_in_a_search_trial_leaves_its_fault_to_the_watchdog() {
    if !docker_available() {
        return;
    }
    let project = Project::new("search-kill");
    let (_store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let text = format!(
        r#"
gameday: Killed search
scope: {{ compose_project: {name} }}
defaults: {{ baseline: 1s, cooldown: 500ms }}
probes:
  login: {{ http: {{ url: "http://127.0.0.1:{port}/login" }}, every: 200ms, timeout: 3s }}
scenarios:
  - name: Slow store for a while
    fault: {{ delay: {{ service: store, latency: "{{{{x}}}}" }} }}
    duration: 30s
    search:
      vary: x
      from: 100ms
      to: 1600ms
      resolution: 100ms
      until: {{ probe: login, during: fault, success_rate: "< 50%" }}
"#,
        name = project.name
    );
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let base = login_ms(port).expect("the api answers before the search");
    let mut runner = spawn_run(&file, out.path());
    // The first trial holds 1.6s of store latency for 30 s: kill the
    // runner in it, once the fault is in place and felt.
    let slow = || login_ms(port).is_none_or(|ms| ms > base + 1000.0);
    wait_for("the first trial's delay", Duration::from_secs(30), slow);
    assert!(
        journal_text(out.path()).contains("\"s1-t1-f1-"),
        "the trial's fault has its own id"
    );
    runner.kill().unwrap();
    let _ = runner.wait();
    wait_for("the watchdog's revert", Duration::from_secs(20), || !slow());
    assert_recover_says_the_watchdog_reverted(out.path());
}

#[test]
fn a_search_over_how_many_replicas_die_finds_what_the_balancer_tolerates() {
    if !docker_available() {
        return;
    }
    // Five api replicas of 40 requests a second each behind the demo lb,
    // 100 requests a second in all: three replicas take it (33/s each),
    // two do not (50/s each): the service tolerates two down, not three.
    let project = Project::new("replicas");
    project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let api = [
        "api",
        "--listen",
        "0.0.0.0:8080",
        "--store",
        "store:7000",
        "--limit",
        "40",
    ];
    for n in 1..=5 {
        project.service_named("api", &n.to_string(), &api);
    }
    let lb = project.service(
        "lb",
        &["lb", "--listen", "0.0.0.0:8080", "--backend", "api:8080"],
        Some(8080),
    );
    let port = lb.host_port.unwrap();
    let text = format!(
        r#"
gameday: Replicas
scope: {{ compose_project: {name} }}
seed: 11
defaults: {{ baseline: 2s, cooldown: 2s }}
probes:
  login:
    load:
      http: {{ url: "http://127.0.0.1:{port}/login" }}
      rate: 100/s
      connections: 32
    every: 500ms
scenarios:
  - name: How many api replicas can die?
    fault: {{ kill: {{ service: api, pick: {{ count: "{{{{x}}}}" }} }} }}
    duration: 3s
    search:
      vary: x
      from: 1
      to: 5
      resolution: 1
      until: {{ probe: login, during: fault, success_rate: "< 95%" }}
"#,
        name = project.name
    );
    let (_dir, file) = gameday_file(&text);
    let out = tempfile::tempdir().unwrap();
    let run = run_gameday(out.path(), &file, 240);
    assert_exit(&run, 0);
    let result = result_json(&run_dir(out.path()));
    let scenario = &result["scenarios"][0];
    let search = &scenario["trials"]["search"];
    assert_eq!(
        (number(&search["holds_at"]), number(&search["breaks_at"])),
        (2.0, 3.0),
        "{scenario:#}"
    );
    // Each trial killed as many replicas as it said, each started again.
    for trial in scenario["trials"]["trials"].as_array().unwrap() {
        let killed = trial["faults"].as_array().unwrap();
        assert_eq!(killed.len() as f64, number(&trial["value"]), "{trial:#}");
        assert!(
            killed.iter().all(|f| f["revert_confirmed_at"].is_string()),
            "{trial:#}"
        );
    }
    let running = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", project.name),
        "--filter",
        "label=com.docker.compose.service=api",
    ]);
    assert_eq!(running.lines().count(), 5, "every replica is back");
}
