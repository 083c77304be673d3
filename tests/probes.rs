//! The probes teams rely on, against real containers and a real monitoring
//! stack: `exec` (in a container), `command` (on this host), `logs`
//! (matching lines per window), `prometheus` (an instant query on a
//! Prometheus server scraping the demo api) and `alert` (Alertmanager says
//! the alert fired). Each test kills the store and checks that every probe
//! saw it, and that the store runs again afterwards. And an http probe's
//! `version` against a server in the test that deploys and rolls back.

mod common;

use std::path::Path;
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use common::monitoring::*;
use common::*;

/// The expectations of the first scenario, by their text.
fn checks(dir: &Path) -> Vec<(String, String, String)> {
    let result: serde_json::Value = result_json(dir);
    result["scenarios"][0]["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["text"].as_str().unwrap().to_string(),
                e["verdict"].as_str().unwrap().to_string(),
                e["actual"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_all_met(dir: &Path, output: &std::process::Output) {
    let checks = checks(dir);
    eprintln!("{checks:#?}");
    let not_met: Vec<_> = checks.iter().filter(|c| c.1 != "met").collect();
    assert!(
        not_met.is_empty(),
        "not met: {not_met:#?}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn exec_command_and_logs_probes_see_a_killed_store() {
    if !docker_available() {
        return;
    }
    let project = Project::new("probes");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Probe kinds
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s500ms, cooldown: 2s500ms, probe_timeout: 2s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 100ms }}
  store-from-api:
    exec: {{ service: api, command: [/gameday-demo, connect, "store:7000", "300"] }}
    every: 250ms
  health-from-host:
    command: [bash, -c, "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET /health HTTP/1.1\r\nconnection: close\r\n\r\n' >&3 && head -c 12 <&3 | grep -q ' 200'"]
    every: 250ms
  api-errors: {{ logs: {{ service: api, pattern: "^ERROR .*store unavailable" }}, every: 250ms }}
scenarios:
  - name: Store killed
    fault: {{ kill: {{ service: store }} }}
    duration: 2s500ms
    expect:
      - {{ probe: store-from-api, during: before, exit_code: 0 }}
      - {{ probe: store-from-api, during: fault, exit_code: 1 }}
      - {{ probe: store-from-api, recovers_within: 3s }}
      - {{ probe: health-from-host, during: before, success_rate: ">= 100%" }}
      - {{ probe: health-from-host, during: fault, success_rate: "== 0%" }}
      - {{ probe: api-errors, during: before, matches: "== 0" }}
      - {{ probe: api-errors, during: fault, matches: "> 5" }}
"#,
        project = project.name
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    assert_eq!(store.state(), "running", "the kill was not reverted");
    let dir = run_dir(out.path());
    assert_all_met(&dir, &output);

    // The samples carry what the commands said.
    let samples = std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = samples
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |probe: &'static str| rows.iter().filter(move |r| r["probe"] == probe);
    assert!(of("store-from-api").any(|r| r["exit_code"] == 1 && r["output"] == "unreachable"));
    assert!(of("store-from-api").any(|r| r["exit_code"] == 0 && r["output"] == "connected"));
    assert!(of("health-from-host").any(|r| r["exit_code"] == 1));
    let logged: f64 = of("api-errors").filter_map(|r| r["value"].as_f64()).sum();
    assert!(logged > 5.0, "{logged}");
    // Every line the api logged during the run was counted once: the log
    // probe neither missed nor doubled lines between its reads.
    let errors_in_logs = StdCommand::new("docker")
        .args(["logs", &api.id])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .filter(|l| l.starts_with("ERROR ") && l.contains("store unavailable"))
                .count()
        })
        .unwrap();
    assert!(
        (logged as usize) <= errors_in_logs && errors_in_logs - logged as usize <= 3,
        "counted {logged}, the api logged {errors_in_logs}"
    );
    // The HTML report charts the log counts as values, not latencies.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("api-errors: value over time"),
        "no value chart"
    );
}

#[test]
fn prometheus_and_alertmanager_probes_see_a_killed_store() {
    if !docker_available() || !monitoring_tools() {
        return;
    }
    let (project, store, _api, alerts, prom) = monitored_stack("prom");
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Monitoring sees it
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 2s, cooldown: 5s, probe_timeout: 1s }}
probes:
  store-up:
    prometheus: {{ url: "http://127.0.0.1:{prom}", query: "demo_store_up", expect: "== 1" }}
    every: 250ms
  store-alert: {{ alert: {{ url: "http://127.0.0.1:{am}", name: DemoStoreDown }}, every: 250ms }}
scenarios:
  - name: Store killed
    fault: {{ kill: {{ service: store }} }}
    duration: 4s
    expect:
      - {{ probe: store-up, during: before, value: "== 1" }}
      - {{ probe: store-up, fails_within: 3s }}
      - {{ probe: store-up, recovers_within: 4s }}
      - {{ probe: store-alert, during: before, value: "== 0" }}
      - {{ probe: store-alert, fires_within: 4s }}
"#,
        project = project.name,
        prom = prom.port,
        am = alerts.port,
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    assert_eq!(store.state(), "running", "the kill was not reverted");
    let dir = run_dir(out.path());
    assert_all_met(&dir, &output);
    let checks = checks(&dir);
    let fired = checks
        .iter()
        .find(|c| c.0.contains("fires within"))
        .unwrap();
    assert!(fired.2.starts_with("fired "), "{fired:?}");
}

#[test]
fn the_library_alerting_gameday_fitted_to_a_monitored_stack_sees_the_alert_fire() {
    if !docker_available() || !monitoring_tools() {
        return;
    }
    let (project, store, _api, alerts, _prom) = monitored_stack("libalert");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerting.yaml");
    let init = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .args(["init", "--template", "alerting", "--project", &project.name])
        .args([
            "--set",
            &format!("alertmanager=http://127.0.0.1:{}", alerts.port),
        ])
        .arg("-o")
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_exit(&init, 0);
    // No compose file here: caller and dependency come from the api's
    // command line, which names its store.
    assert!(
        text(&init)
            .contains("caller=api dependency=store (guessed: its command line names `store`)"),
        "{}",
        text(&init)
    );
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    assert_eq!(store.state(), "running", "the kill was not reverted");
    let dir = run_dir(out.path());
    assert_all_met(&dir, &output);
    let result = result_json(&dir);
    assert_eq!(
        result["checklist"][0]["item"],
        "Alerts fire when a dependency is down"
    );
    assert_eq!(result["checklist"][0]["status"], "met");
}

#[test]
fn a_prometheus_query_returning_several_series_fails_its_samples_with_the_reason() {
    if !docker_available() || !monitoring_tools() {
        return;
    }
    let (project, _store, _api, _alerts, prom) = monitored_stack("promq");
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Ambiguous query
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  requests: {{ prometheus: {{ url: "http://127.0.0.1:{prom}", query: "demo_requests_total" }}, every: 250ms }}
scenarios:
  - name: Nothing happens
    fault: {{ pause: {{ service: store }} }}
    duration: 1s
    expect:
      - {{ probe: requests, during: fault, value: ">= 0" }}
"#,
        project = project.name,
        prom = prom.port,
    ));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    // The baseline fails: the query is ambiguous, so the run stops before any fault.
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("the query returned 2 series; aggregate it"),
        "{text}"
    );
}

/// `stop_if: { alert }` through a real Prometheus and Alertmanager: the
/// store is killed, Prometheus' rule fires, the `alert` probe sees it, and
/// the whole gameday stops (every fault reverted, the next scenario not
/// run, exit 3) long before the scenario's 30 s are over.
#[test]
fn an_alert_that_starts_firing_stops_the_whole_gameday() {
    if !docker_available() || !monitoring_tools() {
        return;
    }
    let (project, store, _api, alerts, prom) = monitored_stack("promstop");
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Alerts stop it
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 2s, cooldown: 1s, probe_timeout: 1s }}
probes:
  store-alert: {{ alert: {{ url: "http://127.0.0.1:{am}", name: DemoStoreDown }}, every: 250ms }}
stop_if:
  - {{ alert: DemoStoreDown }}
scenarios:
  - name: Store killed
    fault: {{ kill: {{ service: store }} }}
    duration: 30s
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: 5s
"#,
        project = project.name,
        am = alerts.port,
    ));
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = run_gameday(out.path(), &file, 90);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the alert did not stop the run"
    );
    assert_eq!(store.state(), "running", "the kill was not reverted");
    let result = result_json(&run_dir(out.path()));
    let reason = result["aborted_reason"].as_str().unwrap();
    assert!(
        reason.contains("alert `DemoStoreDown` started firing"),
        "{reason}"
    );
    assert_eq!(result["scenarios"][1]["verdict"], "skipped");
    drop(prom);
}

/// The container probe reads what Docker knows of a container and what its
/// cgroup uses: against a compose service with a HEALTHCHECK, a memory limit
/// and `restart: always`. Idle, it is healthy and uses little CPU; while a
/// CPU stress runs in its cgroup, the stats API shows the CPU it takes (an
/// exec'd load of bounded connections was too little on a busy 2-core
/// machine); when its process dies (killed from the host,
/// as a crash would end it), the engine restarts it and the restart is
/// counted. Memory stays under the limit, and no OOM kill is seen.
#[test]
fn the_container_probe_sees_health_cpu_memory_and_a_restart() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("docker-compose.yml");
    std::fs::write(
        &compose,
        r#"version: "2.4"
services:
  store: { image: "gameday-demo:latest", command: [store, --listen, "0.0.0.0:7000"] }
  api:
    image: "gameday-demo:latest"
    command: [api, --listen, "0.0.0.0:8080", --store, "store:7000"]
    restart: always
    mem_limit: 64m
    cpus: 0.8
    healthcheck: { test: ["CMD", "/gameday-demo", "connect", "127.0.0.1:8080", "500"], interval: 1s, timeout: 1s, retries: 2 }
    ports: ["127.0.0.1:${API_PORT}:8080"]
"#,
    )
    .unwrap();
    let stack = ComposeStack::up(
        "cprobe",
        &[compose],
        &["store", "api"],
        &[("API_PORT", port.to_string())],
    );
    let api = format!("{}_api_1", stack.name);
    wait_for("api healthy", Duration::from_secs(20), || {
        docker(&["inspect", "-f", "{{.State.Health.Status}}", &api]) == "healthy"
    });
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Container probe
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 3s, cooldown: 4s }}
probes:
  api-box: {{ container: {{ service: api }}, every: 250ms }}
scenarios:
  - name: Busy api
    fault: {{ cpu_stress: {{ service: api, load: 70% }} }}
    duration: 8s
    expect:
      - {{ probe: api-box, during: before, health: healthy }}
      - {{ probe: api-box, during: before, cpu: "< 20%" }}
      - {{ probe: api-box, during: fault, cpu: ">= 30%" }}
      - {{ probe: api-box, during: fault, memory: "< 64MiB" }}
      - {{ probe: api-box, during: fault, memory: "> 64KiB" }}
      - {{ probe: api-box, during: fault, oom_killed: false }}
      - {{ probe: api-box, during: fault, restarts: "== 0" }}
  - name: Api crashes
    fault: {{ pause: {{ service: store }} }}
    duration: 6s
    expect:
      - {{ probe: api-box, during: fault, restarts: ">= 1" }}
      - {{ probe: api-box, recovers_within: 5s }}
"#,
        project = stack.name
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    let applied = |n: usize| {
        std::fs::read_dir(out.path()).is_ok_and(|mut d| d.next().is_some())
            && journal_text(out.path())
                .matches("\"fault_applied\"")
                .count()
                >= n
    };
    // The crash: the api's process killed from the host.
    wait_for("the second fault", Duration::from_secs(30), || applied(2));
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &api]);
    let killed = StdCommand::new("kill")
        .args(["-KILL", &pid])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    let output = finish(child, Duration::from_secs(90));
    let run = run_dir(out.path());
    let result = result_json(&run);
    let checks = expectations(&result);
    eprintln!("{checks:#?}");
    let not_met: Vec<_> = checks.iter().filter(|c| c.1 != "met").collect();
    assert!(
        not_met.is_empty(),
        "not met: {not_met:#?}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_exit(&output, 0);
    // What the probe read is what Docker says now: one restart, running, healthy again.
    assert_eq!(docker(&["inspect", "-f", "{{.RestartCount}}", &api]), "1");
    wait_for("api healthy again", Duration::from_secs(20), || {
        docker(&["inspect", "-f", "{{.State.Health.Status}}", &api]) == "healthy"
    });
    // The samples carry the readings, and the HTML report charts them.
    let samples = std::fs::read_to_string(run.join("samples.jsonl")).unwrap();
    assert!(samples.contains("\"health\":\"healthy\"") && samples.contains("\"cpu_pct\":"));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg class=\"chart cpu\"").count(),
        2,
        "a CPU chart per scenario"
    );
    assert_eq!(html.matches("<svg class=\"chart memory\"").count(), 2);
}

/// An exec probe on a container the gameday pauses, every 100 ms, through
/// three pauses: no exec starts while this run holds the container paused
/// (on this engine an exec racing the freeze stayed frozen in `runc init`
/// and hung the unpause), each pause waits for the execs in flight, every
/// fault is reverted, and the probe succeeds again after each revert.
#[test]
fn exec_probes_take_turns_with_the_runs_pauses_of_their_container() {
    let project = Project::new("execgate");
    let (store, _api) = project.demo_stack();
    let mut scenarios = String::new();
    for i in 1..=3 {
        scenarios.push_str(&format!(
            r#"  - name: Store paused {i}
    fault: {{ pause: {{ service: store }} }}
    duration: 2s
    expect:
      - {{ probe: store-exec, during: fault, success_rate: "== 0%" }}
      - {{ probe: store-exec, recovers_within: 3s }}
"#
        ));
    }
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Exec and pause
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s }}
probes:
  store-exec: {{ exec: {{ service: store, command: [/gameday-demo, connect, "127.0.0.1:7000", "300"] }}, every: 100ms, timeout: 2s }}
scenarios:
{scenarios}"#,
        project = project.name
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(store.state(), "running");
    let run = run_dir(out.path());
    let samples = std::fs::read_to_string(run.join("samples.jsonl")).unwrap();
    let held = samples
        .matches("not run: this gameday holds the container paused")
        .count();
    assert!(held >= 30, "only {held} samples were held back");
    // And no exec ran into a paused container: none failed another way.
    let refused = samples.matches("is paused").count();
    assert_eq!(refused, 0, "an exec reached a paused container");
}

/// A service being deployed, on 127.0.0.1 in the test process: version 1
/// from its first request, then 503s without a version (the deploy), then
/// version 2 from `TO_V2`, and version 1 again from `BACK_TO_V1` (the
/// rollback). `/version` answers JSON, `/` a page naming its version.
/// Stopped when dropped.
struct Deployed {
    port: u16,
    first: Arc<OnceLock<(Instant, SystemTime)>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const DEPLOYING: Duration = Duration::from_millis(3000);
const TO_V2: Duration = Duration::from_millis(3600);
const BACK_TO_V1: Duration = Duration::from_millis(7000);

impl Deployed {
    fn start() -> Deployed {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let first: Arc<OnceLock<(Instant, SystemTime)>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (first, stop) = (first.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let since = first.get_or_init(|| (Instant::now(), SystemTime::now()));
                        answer(stream, since.0.elapsed());
                    }
                }
            })
        };
        Deployed {
            port,
            first,
            stop,
            thread: Some(thread),
        }
    }

    /// When the server's phases began, wall clock: its first request's time plus `after`.
    fn wall(&self, after: Duration) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::<chrono::Utc>::from(self.first.get().expect("no request came").1 + after)
    }
}

fn answer(mut stream: std::net::TcpStream, since: Duration) {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let json = String::from_utf8_lossy(&request).starts_with("GET /version ");
    let version = if since < DEPLOYING {
        Some(1)
    } else if since < TO_V2 {
        None
    } else if since < BACK_TO_V1 {
        Some(2)
    } else {
        Some(1)
    };
    let (status, body) = match (version, json) {
        (None, _) => ("503 Service Unavailable", "deploying".to_string()),
        (Some(v), true) => (
            "200 OK",
            format!(r#"{{"build":{{"version":{v},"sha":"abc"}}}}"#),
        ),
        (Some(v), false) => ("200 OK", format!("<h1>shop api v{v}</h1>")),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl Drop for Deployed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept so the thread sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A deploy and its rollback seen by two http probes with `version`: one
/// reads a JSON field, one looks for texts in a page. result.json lists the
/// changes when they happened (the 503s of the deploy end no version),
/// the samples carry the version, the reports and the plan say it.
#[test]
fn http_probes_with_version_say_which_version_answered_from_when() {
    if !docker_available() {
        return;
    }
    let project = Project::new("version");
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let server = Deployed::start();
    let port = server.port;
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Deploy and rollback
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s }}
probes:
  api-version: {{ http: {{ url: "http://127.0.0.1:{port}/version", version: {{ json: build.version }} }}, every: 100ms }}
  api-page: {{ http: {{ url: "http://127.0.0.1:{port}/", version: {{ contains: [v2, v1] }} }}, every: 100ms }}
scenarios:
  - name: Deploy while the store is paused
    fault: {{ pause: {{ service: store }} }}
    duration: 7s
    expect:
      - {{ probe: api-version, during: before, success_rate: ">= 100%" }}
"#,
        project = project.name
    ));
    let plan = gameday_plan(&file);
    assert_exit(&plan, 0);
    let plan_text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan_text.contains("version: JSON field `build.version`")
            && plan_text.contains(r#"version: the first of "v2", "v1" the body contains"#),
        "{plan_text}"
    );

    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    assert_exit(&output, 0);
    assert_eq!(store.state(), "running", "the pause was not reverted");
    let dir = run_dir(out.path());
    let result = result_json(&dir);
    let started = chrono::DateTime::parse_from_rfc3339(result["started_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let probe = |name: &str| {
        result["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no probe {name}"))
            .clone()
    };
    // Which version answered from when: (version, again, wall time).
    let changes = |name: &str| -> Vec<(String, bool, chrono::DateTime<chrono::Utc>, f64)> {
        probe(name)["versions"]["changes"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no versions: {}", probe(name)))
            .iter()
            .map(|c| {
                let at = chrono::DateTime::parse_from_rfc3339(c["at"].as_str().unwrap())
                    .unwrap()
                    .with_timezone(&chrono::Utc);
                (
                    c["version"].as_str().unwrap().to_string(),
                    c["again"].as_bool().unwrap_or(false),
                    at,
                    c["t_ms"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let to_v2 = server.wall(TO_V2);
    let back = server.wall(BACK_TO_V1);
    // Within a probe's period (100 ms) of the switch, with room for a busy
    // machine; never before it (the clocks agree to a few ms).
    let soon_after = |at: chrono::DateTime<chrono::Utc>, switch: chrono::DateTime<chrono::Utc>| {
        let late = (at - switch).num_milliseconds();
        (-50..=1500).contains(&late)
    };
    for (name, v1, v2) in [("api-version", "1", "2"), ("api-page", "v1", "v2")] {
        let seen = changes(name);
        let versions: Vec<(&str, bool)> = seen.iter().map(|c| (c.0.as_str(), c.1)).collect();
        assert_eq!(
            versions,
            [(v1, false), (v2, false), (v1, true)],
            "{name}: {seen:?}"
        );
        assert!(
            seen[0].3 < 2000.0,
            "{name}: version 1 from the start: {seen:?}"
        );
        assert!(
            soon_after(seen[1].2, to_v2),
            "{name}: v2 at {} for {to_v2}",
            seen[1].2
        );
        assert!(
            soon_after(seen[2].2, back),
            "{name}: v1 at {} for {back}",
            seen[2].2
        );
        // The offset and the wall time say the same moment.
        for c in &seen {
            let since_start = (c.2 - started).num_milliseconds() as f64;
            assert!((since_start - c.3).abs() < 100.0, "{name}: {c:?}");
        }
        assert_eq!(probe(name)["versions"].get("unlisted"), None);
    }

    // The samples carry the version; the deploy's 503s have none and failed.
    let samples = std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = samples
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["probe"] == "api-version")
        .collect();
    let deploying: Vec<&serde_json::Value> = rows.iter().filter(|r| r["status"] == 503).collect();
    assert!(
        deploying.len() >= 3,
        "{} samples of the deploy",
        deploying.len()
    );
    assert!(
        deploying
            .iter()
            .all(|r| r["ok"] == false && r.get("version").is_none())
    );
    assert!(
        rows.iter()
            .filter(|r| r["status"] == 200)
            .all(|r| r["ok"] == true && (r["version"] == "1" || r["version"] == "2")),
        "a 200 without its version"
    );

    // The scenario's timeline and the reports say it.
    let timeline = result["scenarios"][0]["timeline"].to_string();
    assert!(
        timeline.contains("probe api-version: version 2 answers"),
        "{timeline}"
    );
    assert!(
        timeline.contains("probe api-page: version v1 answers again"),
        "{timeline}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let offset = |name: &str, i: usize| {
        probe(name)["versions"]["changes"][i]["offset"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let served = &md[md.find("## Versions served").expect("no versions section")..];
    let line = served
        .lines()
        .find(|l| l.starts_with("- api-version: "))
        .unwrap_or_else(|| panic!("no versions line:\n{md}"));
    assert!(
        line.starts_with(&format!(
            "- api-version: version 1 from {} (",
            offset("api-version", 0)
        )) && line.contains(&format!(", version 2 from {} (", offset("api-version", 1)))
            && line.contains(&format!(
                ", version 1 again from {} (",
                offset("api-version", 2)
            )),
        "{line}"
    );
    assert!(
        md.contains(&format!(
            "- `{}` version: probe api-page: version v2 answers",
            offset("api-page", 1)
        )),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Versions served</h2>")
            && html.contains("version <strong>2</strong> from ")
    );
}
