//! `gameday recover --scope` without a journal, against what a dead run
//! really leaves: the runner and its watchdog killed at once, its workers
//! left running (their input held open), so nothing cleans up. Each kind
//! gameday can leave is found by its tag or name and removed, and checked
//! from outside gameday: the worker processes on this host, the fill file
//! and `df` in the container, its processes' OOM scores in `/proc`, the
//! nat rules in its namespace, a client's requests through the api, and
//! the helper containers placed in its PID namespace.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

/// gameday's worker processes on this host working on container `id`.
fn workers_on(id: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            argv.get(1)
                .is_some_and(|c| [&b"stress"[..], b"http-proxy", b"dns-proxy"].contains(c))
                && argv
                    .windows(2)
                    .any(|w| w[0] == b"--container" && w[1] == id.as_bytes())
        })
        .collect()
}

fn main_pid(id: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Pid}}", id])
}

fn oom_score(id: &str) -> String {
    std::fs::read_to_string(format!("/proc/{}/oom_score_adj", main_pid(id)))
        .unwrap()
        .trim()
        .to_string()
}

/// Files named `.gameday-*` in a directory of the container.
fn gameday_files(id: &str, dir: &str) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{}/root{dir}", main_pid(id)))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".gameday-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Used bytes of a directory's filesystem in the container.
fn used(id: &str, dir: &str) -> u64 {
    let out = run(std::process::Command::new("stat")
        .args(["-f", "-c", "%b %f %S"])
        .arg(format!("/proc/{}/root{dir}", main_pid(id))));
    let n: Vec<u64> = out.split_whitespace().map(|v| v.parse().unwrap()).collect();
    (n[0] - n[1]) * n[2]
}

/// The status a client gets for `GET path` on 127.0.0.1:`port` (a fresh
/// connection, 2 s at most), if it gets one.
fn status(port: u16, path: &str) -> Option<u16> {
    let timeout = Duration::from_secs(2);
    let mut s =
        std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    String::from_utf8_lossy(&head[9..12]).parse().ok()
}

/// Kill the runner with its watchdogs while its workers on `containers`
/// keep running, as a runner that hung would leave them: each worker's
/// input (a pipe from the runner, or from the engine for a helper) is
/// opened for writing here too, so it never sees its input close. The
/// pipes are returned: the workers run on while they are held. (Freezing
/// the workers instead does not leave them: once their runner is gone
/// their process group is orphaned, and the kernel hangs them up.)
fn kill_the_run_holding_its_workers(
    runner: &mut std::process::Child,
    containers: &[&str],
) -> Vec<std::fs::File> {
    let workers: Vec<u32> = containers.iter().flat_map(|id| workers_on(id)).collect();
    assert!(!workers.is_empty(), "no worker to leave behind");
    let held = workers
        .iter()
        .map(|w| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{w}/fd/0"))
                .unwrap_or_else(|e| panic!("cannot hold worker {w}'s input: {e}"))
        })
        .collect();
    kill_with_watchdogs(runner);
    assert_eq!(
        containers.iter().flat_map(|id| workers_on(id)).count(),
        workers.len(),
        "the workers ended with the runner"
    );
    held
}

/// `gameday recover --out EMPTY --scope PROJECT [EXTRA...]`.
fn sweep(project: &str, extra: &[&str]) -> std::process::Output {
    let empty = tempfile::tempdir().unwrap();
    assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env_remove("DOCKER_HOST")
        .args(["recover", "--out"])
        .arg(empty.path())
        .args(["--scope", project])
        .args(extra)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

/// A fill on the store's tmpfs, memory held in the api (its processes'
/// OOM scores raised) and an HTTP fault on the api: its proxy on this host
/// behind a nat redirect. The runner and its watchdog die, the workers
/// are left running; the sweep kills them, removes the file and the rule,
/// and puts the OOM score back.
#[test]
fn the_sweep_removes_workers_fills_rules_and_raised_oom_scores() {
    if !docker_available() {
        return;
    }
    let project = Project::new("sweep");
    let store = project.service_opts(
        "store",
        &["--tmpfs", "/data:size=16m", "--cpus", "0.5"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let api = project.service_opts(
        "api",
        &["--memory", "256m"],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        Some(8080),
    );
    let port = api.host_port.unwrap();
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Leftovers
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: Everything at once
    faults:
      - {{ disk_fill: {{ service: store, path: /data, fill: 50% }} }}
      - {{ memory_stress: {{ service: api, size: 32MiB }} }}
      - {{ http_fault: {{ service: api, port: 8080, status: 503 }} }}
    duration: 60s
"#,
        project = project.name,
    ));
    let original_score = oom_score(&api.id);
    let empty = used(&store.id, "/data");
    let out = tempfile::tempdir().unwrap();
    let mut runner = spawn_run(&file, out.path());
    let answers_503 = || status(port, "/health") == Some(503);
    wait_for("the three faults", Duration::from_secs(60), || {
        gameday_files(&store.id, "/data").len() == 1
            && oom_score(&api.id) == "1000"
            && answers_503()
    });
    let _held = kill_the_run_holding_its_workers(&mut runner, &[&store.id, &api.id]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        gameday_files(&store.id, "/data").len(),
        1,
        "the fill is left"
    );
    assert_eq!(oom_score(&api.id), "1000", "the OOM score is left");
    assert!(!nat_redirects(&api.id).is_empty(), "the redirect is left");
    assert_eq!(status(port, "/health"), Some(503), "the HTTP fault is left");

    let swept = sweep(&project.name, &[]);
    let said = text(&swept);
    assert_exit(&swept, 0);
    for words in [
        "killed a `stress` worker",
        "killed a `http-proxy` worker",
        "removed 1 fill file(s): /data/.gameday-fill-gameday-",
        "put the OOM score of",
        "removed gameday's rules",
    ] {
        assert!(said.contains(words), "{words:?} not said:\n{said}");
    }
    assert!(workers_on(&store.id).is_empty() && workers_on(&api.id).is_empty());
    assert_eq!(gameday_files(&store.id, "/data"), Vec::<String>::new());
    assert_eq!(used(&store.id, "/data"), empty);
    assert_eq!(oom_score(&api.id), original_score);
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    wait_for("the api to answer", Duration::from_secs(5), || {
        http_ok(port, "/health", Duration::from_millis(1500))
    });
    // Swept once, nothing is left to find.
    let again = sweep(&project.name, &[]);
    assert_exit(&again, 0);
    assert!(
        text(&again).contains("nothing to remove"),
        "{}",
        text(&again)
    );
}

/// Through helpers (the local engine told `network_helper: helper`), the
/// memory worker runs in a helper container placed in the api's PID
/// namespace. Left behind with the worker running in it, the sweep removes
/// the helper and, through a helper, puts the api's OOM score back.
#[test]
fn the_sweep_removes_a_stress_helper_and_its_raised_oom_score() {
    if !docker_available() {
        return;
    }
    ensure_nethelper_image();
    let project = Project::new("sweephelper");
    let api = project.service_opts(
        "api",
        &["--memory", "256m"],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        None,
    );
    let _guard = HelperGuard(api.id.clone());
    let image = nethelper_image();
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Helper left
scope: {{ compose_project: {project} }}
docker: {{ network_helper: helper, helper_image: "{image}" }}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: Memory held
    fault: {{ memory_stress: {{ service: api, size: 32MiB }} }}
    duration: 60s
"#,
        project = project.name,
    ));
    let original_score = oom_score(&api.id);
    let out = tempfile::tempdir().unwrap();
    let mut runner = spawn_run(&file, out.path());
    wait_for("the memory held", Duration::from_secs(60), || {
        oom_score(&api.id) == "1000" && !workers_on(&api.id).is_empty()
    });
    let _held = kill_the_run_holding_its_workers(&mut runner, &[&api.id]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        helpers_sharing(&api.id, "PidMode").len(),
        1,
        "the helper is left"
    );
    assert_eq!(oom_score(&api.id), "1000", "the OOM score is left");

    let swept = sweep(&project.name, &["--helper-image", image]);
    let said = text(&swept);
    assert_exit(&swept, 0);
    for words in [
        "a stress helper placed in its PID namespace",
        "put the OOM score of",
    ] {
        assert!(said.contains(words), "{words:?} not said:\n{said}");
    }
    assert_eq!(helpers_sharing(&api.id, "PidMode"), Vec::<String>::new());
    assert!(workers_on(&api.id).is_empty());
    assert_eq!(oom_score(&api.id), original_score);
}
