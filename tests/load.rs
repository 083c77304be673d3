//! The `load` probe against the demo api in a real container: the rate it
//! achieves, its latency measured from when each request was due while the
//! api is really paused (coordinated omission corrected), checks met and
//! not met over the windows, and memory that stays flat over a long run.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// One test at a time: a rate and a memory figure each need the machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A gameday on `project` whose one probe, `traffic`, is the load probe
/// `load` (its keys, one a line), and whose scenarios are `scenarios`.
fn load_gameday(title: &str, project: &str, defaults: &str, load: &str, scenarios: &str) -> String {
    let load: String = load.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "gameday: {title}\nscope: {{ compose_project: {project} }}\ndefaults: {{ {defaults} }}\n\
         probes:\n  traffic:\n    load:\n{load}scenarios:\n{scenarios}"
    )
}

fn check<'a>(
    all: &'a [(String, String, String, Option<f64>)],
    text: &str,
) -> &'a (String, String, String, Option<f64>) {
    all.iter()
        .find(|c| c.0.contains(text))
        .unwrap_or_else(|| panic!("no check `{text}` in {all:#?}"))
}

#[test]
fn load_keeps_its_rate_and_sees_a_pause_as_the_stall() {
    if !docker_available() {
        return;
    }
    let _alone = alone();
    let project = Project::new("gdt-load");
    let (_store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&load_gameday(
        "load during a pause",
        &project.name,
        "baseline: 4s, cooldown: 3s",
        &format!(
            r#"
http: {{ url: "http://127.0.0.1:{port}/health", expect_status: 200 }}
rate: 200/s
connections: 64
timeout: 5s
"#
        ),
        r#"
  - name: api paused
    fault: { pause: { service: api } }
    duration: 2s
    expect:
      - { probe: traffic, during: before, throughput: ">= 180/s" }
      - { probe: traffic, during: before, success_rate: ">= 99%" }
      - { probe: traffic, during: fault, latency_p99: ">= 1500ms" }
      - { probe: traffic, during: fault, throughput: ">= 150/s" }
      - { probe: traffic, during: after, latency_p50: "< 100ms" }
"#,
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 120);
    // One check is not met on purpose: the run says so with its exit code.
    assert_exit(&output, 1);
    let dir = run_dir(out.path());
    let result = result_json(&dir);
    let all = expectations(&result);
    let rate = check(&all, "throughput >= 180/s");
    assert_eq!(rate.1, "met", "{rate:?}");
    let achieved = rate.3.unwrap();
    assert!(
        (190.0..=210.0).contains(&achieved),
        "asked 200/s, achieved {achieved}/s: {rate:?}"
    );
    assert_eq!(check(&all, "success_rate >= 99%").1, "met");
    // Requests due while the api was frozen waited for it: their latency,
    // counted from when they were due, is the stall.
    let stall = check(&all, "latency_p99 >= 1.5s");
    assert_eq!(stall.1, "met", "{stall:?}");
    assert!(stall.3.unwrap() < 5_000.0, "{stall:?}");
    // Once every connection was stuck, due requests were never sent, and
    // the verdict says the generator was the limit.
    let starved = check(&all, "throughput >= 150/s");
    assert_eq!(starved.1, "not_met", "{starved:?}");
    assert!(
        starved.2.contains("generator limit") && starved.2.contains("never sent"),
        "{starved:?}"
    );
    assert_eq!(check(&all, "latency_p50 < 100ms").1, "met");
    // Samples are per-interval aggregates, not one line per request.
    let samples = std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
    let lines = samples.lines().count();
    assert!(lines < 40, "{lines} sample lines for ~2,000 requests");
    assert!(samples.contains(r#""load":{"span_ms""#), "{samples}");
    // The figures of the whole run, in every report.
    let load = &result["probes"][0]["load"];
    assert!(load["generator_limited"].as_u64().unwrap() > 100, "{load}");
    assert!(
        load["latency_p999_ms"].as_f64().unwrap() >= 1_500.0,
        "{load}"
    );
    assert!(load["throughput_per_s"].as_f64().unwrap() > 100.0, "{load}");
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(markdown.contains("| traffic | "), "{markdown}");
    assert!(markdown.contains("Errors by status"), "{markdown}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("line-succeeded") && html.contains("line-p99"));
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="load.traffic.generator_limited""#),
        "{junit}"
    );
}

/// `rate: max`: each connection sends again as soon as it is answered, so
/// the loop goes as fast as the api answers, and stops with it while it is
/// frozen (a closed loop sees a stall as silence, as wrk does).
#[test]
fn a_closed_loop_goes_as_fast_as_the_api_answers_and_stops_with_it() {
    if !docker_available() {
        return;
    }
    let _alone = alone();
    let project = Project::new("gdt-loadmax");
    let (_store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&load_gameday(
        "a closed loop during a pause",
        &project.name,
        "baseline: 3s, cooldown: 3s",
        &format!(
            r#"
http: {{ url: "http://127.0.0.1:{port}/health", expect_status: 200 }}
rate: max
connections: 4
timeout: 5s
"#
        ),
        r#"
  - name: api paused
    fault: { pause: { service: api } }
    duration: 2s
    expect:
      - { probe: traffic, during: before, throughput: ">= 300/s" }
      - { probe: traffic, during: before, success_rate: ">= 99%" }
      - { probe: traffic, during: fault, throughput: "< 100/s" }
      - { probe: traffic, during: after, throughput: ">= 50% of before" }
"#,
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 120);
    assert_exit(&output, 0);
    let result = result_json(&run_dir(out.path()));
    let all = expectations(&result);
    let before = check(&all, "throughput >= 300/s");
    assert_eq!(before.1, "met", "{before:?}");
    assert_eq!(check(&all, "success_rate >= 99%").1, "met");
    let frozen = check(&all, "throughput < 100/s");
    assert_eq!(frozen.1, "met", "{frozen:?}");
    let after = check(&all, "of before");
    assert_eq!(after.1, "met", "{after:?}");
    // Never more than the connections out at once: nothing was held back
    // as the generator's limit, and every request was answered or failed.
    let load = &result["probes"][0]["load"];
    assert_eq!(load["generator_limited"].as_u64(), Some(0), "{load}");
    assert!(load["requests"].as_u64().unwrap() > 1_500, "{load}");
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[test]
fn memory_stays_flat_over_two_minutes_at_1000_requests_a_second() {
    if !docker_available() {
        return;
    }
    let _alone = alone();
    let project = Project::new("gdt-loadmem");
    let (_store, api) = project.demo_stack();
    // What the fault holds paused: nothing the load depends on.
    let _idle = project.service("idle", &["pricing", "--listen", "0.0.0.0:9000"], None);
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&load_gameday(
        "load for two minutes",
        &project.name,
        "baseline: 2s, cooldown: 1s",
        &format!(
            r#"
http: {{ url: "http://127.0.0.1:{port}/health" }}
rate: 1000/s
connections: 256
"#
        ),
        r#"
  - name: a long quiet hold
    fault: { pause: { service: idle } }
    duration: 125s
    expect:
      - { probe: traffic, during: fault, throughput: ">= 900/s" }
"#,
    ));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    let pid = runner.id();
    let started = Instant::now();
    let mut early = 0u64;
    let mut late = 0u64;
    while started.elapsed() < Duration::from_secs(122) {
        std::thread::sleep(Duration::from_secs(1));
        let Some(rss) = rss_kib(pid) else { break };
        if started.elapsed() <= Duration::from_secs(20) {
            early = early.max(rss);
        } else {
            late = late.max(rss);
        }
    }
    let output = finish(runner, Duration::from_secs(60));
    eprintln!("peak RSS: {early} KiB in the first 20s, {late} KiB after");
    assert_exit(&output, 0);
    assert!(early > 0 && late > 0, "rss read: {early} {late}");
    assert!(
        late as f64 <= early as f64 * 1.2,
        "peak RSS {late} KiB after the first 20s, {early} KiB within them"
    );
    let all = expectations(&result_json(&run_dir(out.path())));
    let rate = check(&all, "throughput >= 900/s");
    assert_eq!(rate.1, "met", "{rate:?}");
}
