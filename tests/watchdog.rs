//! The dead man's switch and the controls of a whole run, against the real
//! engine: a runner SIGKILLed mid-pause, mid-partition and mid-delay is
//! reverted by its watchdog within lease + 2 s without `recover` (measured
//! as a client: the api's health, connects from inside the api); a frozen
//! runner misses its lease; a normal run leaves no watchdog; `stop_if`
//! stops the whole gameday; `gameday halt` stops a live run and a dead
//! one; webhooks and Grafana are told without slowing the run.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const LEASE_S: u64 = 3;

/// One scenario holding `fault` for a minute, with a 3 s lease.
fn long_fault(project: &str, port: u16, fault: &str, extra: &str) -> String {
    format!(
        r#"gameday: Watchdog
scope: {{ compose_project: {project} }}
lease: {LEASE_S}s
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 200ms }}
{extra}
scenarios:
  - name: Held for a minute
    fault: {fault}
    duration: 60s
"#
    )
}

fn health_ok(port: u16) -> bool {
    http_ok(port, "/health", Duration::from_millis(1500))
}

/// The run id of the one run under `out`.
fn run_id(out: &Path) -> String {
    let journal = journal_text(out);
    let started: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    started["run_id"].as_str().unwrap().to_string()
}

/// Is any `gameday watchdog --run-id ID` process alive?
fn watchdog_alive(id: &str) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .any(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(3)
                .any(|w| w[0] == b"watchdog" && w[1] == b"--run-id" && w[2] == id.as_bytes())
        })
}

/// Wait at most `within` for `done`, returning how long it took.
fn time_until(within: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// No `gameday:` rule and no gameday qdisc left in `c`'s namespace.
fn namespace_clean(c: &Container) -> bool {
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &c.id]);
    let rules =
        run(std::process::Command::new("nsenter").args(["-t", &pid, "-n", "iptables-save"]));
    let qdiscs =
        run(std::process::Command::new("nsenter").args(["-t", &pid, "-n", "tc", "qdisc", "show"]));
    !rules.contains("gameday:") && gameday_qdiscs(&qdiscs).is_empty()
}

/// SIGKILL the runner (only the runner) once `faulted()` holds; then,
/// without `recover`, `healed()` must hold within lease + 2 s.
fn killed_runner_is_healed(
    name: &str,
    fault: &str,
    faulted: impl Fn(&Container, &Container) -> bool,
    healed: impl Fn(&Container, &Container) -> bool,
) {
    let project = Project::new(name);
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&long_fault(&project.name, port, fault, ""));
    let out = tempfile::tempdir().unwrap();
    let mut runner = spawn_run(&file, out.path());
    if time_until(Duration::from_secs(30), || faulted(&store, &api)).is_none() {
        let _ = runner.kill();
        let output = runner.wait_with_output().unwrap();
        panic!("{name}: the fault never showed: {}", text(&output));
    }
    let id = run_id(out.path());
    assert!(watchdog_alive(&id), "no watchdog guards the fault");
    runner.kill().unwrap();
    runner.wait().unwrap();
    let took = time_until(Duration::from_secs(LEASE_S + 2), || healed(&store, &api));
    assert!(
        took.is_some(),
        "{name}: not reverted within lease + 2 s of the SIGKILL; journal:\n{}",
        journal_text(out.path())
    );
    eprintln!(
        "{name}: back to normal {:?} after the SIGKILL",
        took.unwrap()
    );
    // The watchdog records each revert once it is confirmed.
    let recorded = time_until(Duration::from_secs(5), || {
        journal_text(out.path()).contains("\"by\":\"watchdog\"")
    });
    let journal = journal_text(out.path());
    assert!(journal.contains("\"watchdog_fired\""), "{journal}");
    assert!(recorded.is_some(), "{journal}");
    assert!(namespace_clean(&store) && namespace_clean(&api));
    assert_eq!(store.state(), "running");
    wait_for("the watchdog to end", Duration::from_secs(5), || {
        !watchdog_alive(&id)
    });
    assert!(!claim_exists(&project), "the dead run's claim is left");
    // `recover` has nothing left to do, and says what the watchdog did.
    assert_recover_says_the_watchdog_reverted(out.path());
}

#[test]
fn a_runner_killed_mid_pause_is_reverted_by_its_watchdog() {
    if !docker_available() {
        return;
    }
    killed_runner_is_healed(
        "wd-pause",
        "{ pause: { service: store } }",
        |store, _| store.state() == "paused",
        |_, api| health_ok(api.host_port.unwrap()),
    );
}

#[test]
fn a_runner_killed_mid_partition_is_reverted_by_its_watchdog() {
    if !docker_available() {
        return;
    }
    killed_runner_is_healed(
        "wd-partition",
        "{ partition: { service: api, from: [store] } }",
        |_, api| !can_connect(api, "store:7000"),
        |_, api| can_connect(api, "store:7000"),
    );
}

#[test]
fn a_runner_killed_mid_delay_is_reverted_by_its_watchdog() {
    if !docker_available() {
        return;
    }
    killed_runner_is_healed(
        "wd-delay",
        "{ delay: { service: store, latency: 500ms } }",
        |_, api| probe(api, "store:7000", 3, 3000, 1).1 > 400.0,
        // The rules are gone (a packet engine that died fails open at
        // once, so latency alone would not show the revert).
        |store, api| namespace_clean(store) && probe(api, "store:7000", 3, 3000, 1).1 < 100.0,
    );
}

/// A runner frozen mid-fault (a laptop asleep) stops renewing its lease:
/// the watchdog reverts within lease + 2 s; when the runner wakes up it
/// learns it, ends the run aborted (exit 3) and says why.
#[test]
fn a_frozen_runner_misses_its_lease() {
    if !docker_available() {
        return;
    }
    let project = Project::new("wd-frozen");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&long_fault(
        &project.name,
        port,
        "{ pause: { service: store } }",
        "",
    ));
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    let pid = runner.id() as i32;
    // SAFETY: plain kill(2) on the runner this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let took = time_until(Duration::from_secs(LEASE_S + 2), || health_ok(port));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(
        took.is_some(),
        "the frozen runner's pause was not reverted in time"
    );
    let output = finish(runner, Duration::from_secs(30));
    assert_exit(&output, 3);
    let result = result_json(&run_dir(out.path()));
    let reason = result["aborted_reason"].as_str().unwrap();
    assert!(reason.contains("did not renew its 3s lease"), "{reason}");
    assert_eq!(store.state(), "running");
    assert!(!claim_exists(&project));
}

/// A run that ends normally leaves no watchdog: the process is gone, and
/// the journal says where it ran.
#[test]
fn a_normal_run_leaves_no_watchdog_behind() {
    if !docker_available() {
        return;
    }
    let project = Project::new("wd-normal");
    let (store, api) = project.demo_stack();
    let gameday = long_fault(
        &project.name,
        api.host_port.unwrap(),
        "{ pause: { service: store } }",
        "",
    )
    .replace("duration: 60s", "duration: 1s");
    let (_dir, file) = gameday_file(&gameday);
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 60);
    assert_exit(&output, 0);
    let journal = journal_text(out.path());
    assert!(journal.contains("\"watchdog_started\""), "{journal}");
    assert!(journal.contains("on this host"), "{journal}");
    assert!(!journal.contains("\"watchdog_fired\""), "{journal}");
    assert!(!watchdog_alive(&run_id(out.path())));
    assert!(docker(&["ps", "-aq", "--filter", "label=gameday.watchdog=1"]).is_empty());
    assert_eq!(store.state(), "running");
}

/// `stop_if` stops the whole gameday: every fault reverted at once, the
/// scenarios left not run with the reason, exit 3.
#[test]
fn stop_if_stops_the_whole_gameday() {
    if !docker_available() {
        return;
    }
    let project = Project::new("wd-stopif");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let kill_switch = tempfile::tempdir().unwrap();
    let switch = kill_switch.path().join("STOP");
    let two_scenarios = |stop_if: &str| {
        format!(
            r#"gameday: Stop conditions
scope: {{ compose_project: {} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 200ms }}
stop_if:
  - {stop_if}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: 40s
  - name: Store killed
    fault: {{ kill: {{ service: store }} }}
    duration: 5s
"#,
            project.name
        )
    };
    let cases = [
        (
            "{ error_budget: { probe: health, failures: 3 } }",
            "spent its error budget of 3 failures",
        ),
        (
            "{ probe: health, failing_for: 1s }",
            "has been failing for 1s",
        ),
        (
            &*format!("{{ file: {} }}", switch.display()),
            "the kill-switch file",
        ),
    ];
    for (condition, said) in cases {
        let (_dir, file) = gameday_file(&two_scenarios(condition));
        let out = tempfile::tempdir().unwrap();
        let runner = spawn_run(&file, out.path());
        if condition.contains("file:") {
            wait_for("the pause", Duration::from_secs(30), || {
                store.state() == "paused"
            });
            std::fs::write(&switch, "stop").unwrap();
        }
        let output = finish(runner, Duration::from_secs(30));
        assert_exit(&output, 3);
        let result = result_json(&run_dir(out.path()));
        let reason = result["aborted_reason"].as_str().unwrap();
        assert!(reason.contains(said), "{condition}: {reason}");
        assert_eq!(result["scenarios"][1]["verdict"], "skipped", "{result}");
        assert_eq!(store.state(), "running");
        assert!(
            health_ok(port) || time_until(Duration::from_secs(3), || health_ok(port)).is_some()
        );
        let journal = journal_text(out.path());
        assert!(journal.contains("\"halted\""), "{journal}");
        let _ = std::fs::remove_file(&switch);
    }
}

/// `gameday halt` from another terminal stops a live run (it records who
/// halted it), and a run whose runner is gone is reverted from its journal.
#[test]
fn halt_stops_a_live_run_and_a_dead_one() {
    if !docker_available() {
        return;
    }
    let project = Project::new("wd-halt");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let gameday = long_fault(&project.name, port, "{ pause: { service: store } }", "");
    let (_dir, file) = gameday_file(&gameday);
    let halt = |out: &Path, extra: &[&str]| {
        assert_cmd::Command::cargo_bin("gameday")
            .unwrap()
            .env("GAMEDAY_OPERATOR", "Dana")
            .args(["halt", "--out"])
            .arg(out)
            .args(extra)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    };

    // A live run.
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(30), || {
        store.state() == "paused"
    });
    let halted = halt(out.path(), &[]);
    assert_exit(&halted, 0);
    assert_eq!(store.state(), "running", "{}", text(&halted));
    let output = finish(runner, Duration::from_secs(30));
    assert_exit(&output, 3);
    let result = result_json(&run_dir(out.path()));
    let reason = result["aborted_reason"].as_str().unwrap();
    assert!(reason.contains("halted by Dana on"), "{reason}");
    let marker = format!("name=^gameday-halt-{}$", project.name);
    assert!(
        docker(&["ps", "-aq", "--filter", &marker]).is_empty(),
        "the halt marker is left"
    );

    // A dead run (runner and watchdog gone at once): halted from its journal.
    let out = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out.path(), || store.state() == "paused");
    assert_eq!(store.state(), "paused");
    let halted = halt(out.path(), &[]);
    assert_exit(&halted, 0);
    assert_eq!(store.state(), "running", "{}", text(&halted));
    assert!(!claim_exists(&project));

    // Nothing to halt.
    let nothing = halt(out.path(), &["--scope", &project.name]);
    assert_exit(&nothing, 2);
    assert!(
        text(&nothing).contains("no run holds"),
        "{}",
        text(&nothing)
    );
}

/// What a test HTTP receiver was sent.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: String,
    body: String,
}

/// An HTTP receiver on 127.0.0.1 for webhooks and a Grafana stand-in:
/// `/ok/...` answers 200, `/fail/...` 500, `/hang/...` never answers (for
/// 20 s at most), `/api/annotations` answers as Grafana does.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (got2, stop2) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let got = got2.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 4096];
                    let (head, body) = loop {
                        let Ok(n) = stream.read(&mut buf) else { return };
                        if n == 0 {
                            return;
                        }
                        raw.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&raw).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if body.len() >= length {
                                break (head.to_string(), body.to_string());
                            }
                        }
                    };
                    let first = head.lines().next().unwrap_or_default().to_string();
                    let mut parts = first.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let path = parts.next().unwrap_or_default().to_string();
                    got.lock().unwrap().push(Received {
                        method: method.clone(),
                        path: path.clone(),
                        headers: head.clone(),
                        body,
                    });
                    let (status, answer) = if path.starts_with("/hang") {
                        std::thread::sleep(Duration::from_secs(20));
                        return;
                    } else if path.starts_with("/fail") {
                        ("500 Internal Server Error", "{}".to_string())
                    } else if path == "/api/annotations" {
                        (
                            "200 OK",
                            r#"{"id": 7, "message": "Annotation added"}"#.to_string(),
                        )
                    } else {
                        ("200 OK", "{}".to_string())
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        Receiver { port, got, stop }
    }

    fn received(&self, prefix: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Webhooks (JSON and Slack-style) are told of the start, the fault
/// applied and reverted, and the end with the verdicts; Grafana gets one
/// region for the fault window; a receiver that answers 500 or hangs does
/// not fail the run, nor slow it by more than its timeout once; the
/// webhook's secret path is never printed or kept.
#[test]
fn webhooks_and_grafana_are_told_and_never_slow_the_run() {
    if !docker_available() {
        return;
    }
    let project = Project::new("wd-notify");
    let (store, api) = project.demo_stack();
    let r = Receiver::start();
    let p = r.port;
    let notify = format!(
        r#"notify:
  - {{ url: "http://127.0.0.1:{p}/ok/T000/B000/secret-path-XyZ" }}
  - {{ url: "http://127.0.0.1:{p}/fail/slack", format: slack }}
  - {{ url: "http://127.0.0.1:{p}/hang/x", timeout: 1s }}
grafana: {{ url: "http://127.0.0.1:{p}", token_env: GAMEDAY_TEST_GRAFANA_TOKEN, dashboard_uid: abc123 }}"#
    );
    let gameday = long_fault(
        &project.name,
        api.host_port.unwrap(),
        "{ pause: { service: store } }",
        "",
    )
    .replace("duration: 60s", "duration: 2s")
    .replace("scenarios:", &format!("{notify}\nscenarios:"));
    let (_dir, file) = gameday_file(&gameday);
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env("GAMEDAY_TEST_GRAFANA_TOKEN", "glsa_test_token")
        .args(["run", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_exit(&output, 0);
    // baseline 1s + hold 2s + cooldown 1s, plus Docker; the hanging
    // receiver may add its 1s timeout once at the end, not once per event.
    assert!(took < Duration::from_secs(10), "the run took {took:?}");
    assert_eq!(store.state(), "running");

    let json: Vec<serde_json::Value> = r
        .received("/ok/")
        .iter()
        .map(|x| serde_json::from_str(&x.body).unwrap())
        .collect();
    let events: Vec<&str> = json.iter().map(|j| j["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "run_started",
            "fault_applied",
            "fault_reverted",
            "run_finished"
        ],
        "{json:?}"
    );
    assert_eq!(json[1]["scenario"], "Held for a minute");
    assert!(json[1]["action"].as_str().unwrap().contains("pause"));
    assert_eq!(json[3]["exit_code"], 0);
    assert_eq!(json[3]["verdicts"][0]["verdict"], "met");
    assert!(json[3]["report"].as_str().unwrap().ends_with("report.md"));
    // The Slack-style one answered 500: every event tried twice, text only.
    let slack = r.received("/fail/");
    assert_eq!(slack.len(), 8, "{slack:?}");
    for s in &slack {
        let body: serde_json::Value = serde_json::from_str(&s.body).unwrap();
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains("gameday \"Watchdog\"")
        );
    }
    // Grafana: one region, opened at the apply and closed at the revert.
    let grafana = r.received("/api/annotations");
    assert_eq!(grafana.len(), 2, "{grafana:?}");
    assert_eq!(grafana[0].method, "POST");
    assert!(
        grafana[0]
            .headers
            .to_ascii_lowercase()
            .contains("authorization: bearer glsa_test_token")
    );
    let region: serde_json::Value = serde_json::from_str(&grafana[0].body).unwrap();
    assert_eq!(region["dashboardUID"], "abc123");
    assert_eq!(
        (grafana[1].method.as_str(), grafana[1].path.as_str()),
        ("PATCH", "/api/annotations/7")
    );
    let end: serde_json::Value = serde_json::from_str(&grafana[1].body).unwrap();
    let held_ms = end["timeEnd"].as_i64().unwrap() - region["time"].as_i64().unwrap();
    assert!(
        (1500..6000).contains(&held_ms),
        "the region lasts {held_ms} ms"
    );

    // The failures are said, without the URLs' paths; no secret is kept.
    let said = text(&output);
    assert!(
        said.contains("warning: webhook http://127.0.0.1:"),
        "{said}"
    );
    assert!(said.contains("HTTP 500"), "{said}");
    for secret in ["secret-path-XyZ", "glsa_test_token"] {
        assert!(!said.contains(secret), "{secret} printed: {said}");
        for entry in std::fs::read_dir(run_dir(out.path())).unwrap() {
            let path = entry.unwrap().path();
            let content = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
            assert!(
                !content.contains(secret),
                "{secret} kept in {}",
                path.display()
            );
        }
    }
}
