//! Swarm services as targets: on a single-node swarm the test creates (and
//! leaves, pass or fail), a `service:` target names a stack's swarm service;
//! a kill hits its task's container, gameday leaves the replacement to the
//! swarm (it never starts the killed container again), and
//! `recovers_within` measures the swarm rescheduling the task. Its own test
//! binary, so no other test runs while the engine is in swarm mode.

mod common;

use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use common::*;

/// Puts the engine in swarm mode for one test; leaves it on drop.
struct Swarm {
    was_active: bool,
    had_gwbridge: bool,
    services: Vec<String>,
}

impl Swarm {
    fn init() -> Swarm {
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        let was_active = state == "active";
        let had_gwbridge = StdCommand::new("docker")
            .args(["network", "inspect", "docker_gwbridge"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !was_active {
            docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        }
        Swarm {
            was_active,
            had_gwbridge,
            services: Vec::new(),
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        for s in &self.services {
            let _ = StdCommand::new("docker")
                .args(["service", "rm", s])
                .output();
        }
        if !self.was_active {
            let _ = StdCommand::new("docker")
                .args(["swarm", "leave", "--force"])
                .output();
        }
        // Swarm mode leaves its gateway bridge behind.
        if !self.had_gwbridge {
            let _ = StdCommand::new("docker")
                .args(["network", "rm", "docker_gwbridge"])
                .output();
        }
    }
}

/// The running task containers of a swarm service.
fn tasks(service: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={service}"),
        "--filter",
        "status=running",
    ]);
    out.split_whitespace().map(String::from).collect()
}

#[test]
fn a_killed_swarm_task_is_left_to_the_swarm_and_its_rescheduling_measured() {
    if !docker_available() {
        return;
    }
    ensure_demo_image();
    let mut swarm = Swarm::init();
    let stack = format!("gdt-swarm-{}", std::process::id());
    let service = format!("{stack}_web");
    let port = free_port();
    let namespace = format!("com.docker.stack.namespace={stack}");
    swarm.services.push(service.clone());
    docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &service,
        "--label",
        &namespace,
        "--container-label",
        &namespace,
        "--container-label",
        "gameday.test=1",
        "--network",
        "host",
        "--restart-condition",
        "any",
        "--restart-delay",
        "0s",
        DEMO_IMAGE,
        "store",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while tasks(&service).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the swarm never started the task"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for_port(port);
    let first = tasks(&service).remove(0);

    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Swarm task killed
scope: {{ compose_project: {stack} }}
defaults: {{ baseline: 1s, cooldown: 4s, probe_timeout: 500ms }}
probes:
  web: {{ http: {{ url: "http://127.0.0.1:{port}/get" }}, every: 100ms }}
scenarios:
  - name: Web task killed
    fault: {{ kill: {{ service: web }} }}
    duration: 1s
    expect:
      - {{ probe: web, fails_within: 1s }}
      - {{ probe: web, recovers_within: 3s }}
"#
    ));
    let plan = gameday_plan(&file);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        text.contains("the swarm replaces the task with a new container"),
        "{text}"
    );
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    assert_exit(&output, 0);
    // The killed container stays dead; the swarm runs a new one.
    let old_state = docker(&["inspect", "-f", "{{.State.Status}}", &first]);
    assert_eq!(old_state, "exited", "gameday started the killed task again");
    let now = tasks(&service);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], first, "no new task");
    let result: serde_json::Value = result_json(&run_dir(out.path()));
    let recovered = &result["scenarios"][0]["expectations"][1];
    assert!(
        recovered["actual"]
            .as_str()
            .unwrap()
            .starts_with("recovered on its own "),
        "{recovered}"
    );
    let timeline = result["scenarios"][0]["timeline"].to_string();
    assert!(
        timeline.contains("the swarm replaces the task of"),
        "{timeline}"
    );
}
