//! The fault compliance test against the real Docker engine: for every
//! container fault kind, apply it, observe the real effect through Docker,
//! revert it, observe it gone, revert again (idempotent: no error, no
//! change). And `gameday recover` (the binary) reverting what a dead runner
//! left in its journal.

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::*;
use gameday::testing::docker::{ContainerInfo, Engine};
use gameday::testing::fault::{self, RevertRecipe};
use gameday::testing::gameday::model::*;
use gameday::testing::gameday::units::{ContainerState, HumanDuration};
use gameday::testing::gameday::yaml::Pos;
use gameday::testing::record::journal::{self, Journal, JournalEntry};

fn target() -> Target {
    Target::every_replica("store", None, Pos::default())
}

fn info(c: &Container) -> ContainerInfo {
    ContainerInfo {
        id: c.id.clone(),
        name: c.name.clone(),
        service: Some("store".into()),
        project: None,
        state: ContainerState::Running,
        engine: "default".into(),
        swarm_service: None,
        network_mode: None,
        image: String::new(),
        labels: Default::default(),
        published: Vec::new(),
    }
}

fn started_at(c: &Container) -> String {
    docker(&["inspect", "-f", "{{.State.StartedAt}}", &c.id])
}

/// Apply, observe, revert, observe, revert again.
fn compliance(fault: Fault, effect: &str, after_revert: &str) {
    if !docker_available() {
        return;
    }
    let project = Project::new(fault.kind().key());
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let before_start = started_at(&store);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = Engine::connect(&DockerConfig::default()).await.unwrap();
        let context = fault::ApplyContext::default();
        let recipe = fault::prepare(&engine, &fault, &info(&store), &context)
            .await
            .unwrap();
        let applied = fault::apply(&engine, &fault, &info(&store), &context, recipe)
            .await
            .unwrap();
        assert!(
            applied.confirmed_at.is_some(),
            "Docker did not confirm {}",
            fault.kind().key()
        );
        // The real effect, seen by Docker.
        if effect == "restarted" {
            assert_eq!(store.state(), "running");
            assert_ne!(started_at(&store), before_start, "restart did not restart");
        } else {
            // Docker confirms a kill when the signal is sent; the process
            // exits a moment later.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while store.state() != effect && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(
                store.state(),
                effect,
                "{} had no effect",
                fault.kind().key()
            );
        }
        let recipe = applied.recipe.clone();
        let reverted = applied.revert(&engine).await.map_err(|(_, e)| e).unwrap();
        assert!(reverted.revert_requested_at >= reverted.applied_requested_at);
        assert_eq!(
            store.state(),
            after_revert,
            "{} not reverted",
            fault.kind().key()
        );
        // Reverting again is harmless and changes nothing.
        let again = recipe.execute(&engine).await.unwrap();
        assert_eq!(
            again,
            None,
            "second revert of {} did something",
            fault.kind().key()
        );
        assert_eq!(store.state(), after_revert);
    });
}

#[test]
fn pause_is_applied_and_reverted() {
    compliance(
        Fault::Pause(PauseFault { target: target() }),
        "paused",
        "running",
    );
}

#[test]
fn kill_is_applied_and_restored() {
    let fault = Fault::Kill(KillFault {
        target: target(),
        signal: "SIGKILL".into(),
        restore: true,
    });
    compliance(fault, "exited", "running");
}

#[test]
fn kill_without_restore_leaves_the_container_down() {
    let fault = Fault::Kill(KillFault {
        target: target(),
        signal: "SIGTERM".into(),
        restore: false,
    });
    compliance(fault, "exited", "exited");
}

#[test]
fn stop_is_applied_and_restored() {
    let fault = Fault::Stop(StopFault {
        target: target(),
        timeout: HumanDuration::from_secs(1),
        restore: true,
    });
    compliance(fault, "exited", "running");
}

#[test]
fn restart_restarts_and_ends_running() {
    let fault = Fault::Restart(RestartFault {
        target: target(),
        timeout: HumanDuration::from_secs(1),
    });
    compliance(fault, "restarted", "running");
}

/// A runner SIGKILLed during a pause leaves a journal with the intent and no
/// revert; `gameday recover` unpauses, records it, and a second run finds nothing.
#[test]
fn recover_reverts_what_a_dead_runner_left() {
    if !docker_available() {
        return;
    }
    let project = Project::new("recover");
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    docker(&["pause", &store.id]);
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("2026-01-01-test-abc123");
    std::fs::create_dir_all(&run_dir).unwrap();
    let path = run_dir.join("journal.jsonl");
    let mut j = Journal::create(&path).unwrap();
    let at = chrono::Utc::now();
    j.append(&JournalEntry::RunStarted {
        run_id: "abc123".into(),
        gameday: "test".into(),
        scope: project.name.clone(),
        file: "x.yaml".into(),
        at,
        engine: None,
        hosts: Default::default(),
        engine_ids: Default::default(),
        participants: Vec::new(),
        environment: None,
        probes: Vec::new(),
    })
    .unwrap();
    j.append(&JournalEntry::FaultIntent {
        fault_id: "s1-f1".into(),
        scenario: "paused".into(),
        kind: "pause".into(),
        recipe: RevertRecipe::Unpause {
            container_id: store.id.clone(),
            container_name: store.name.clone(),
        },
        at,
        host: None,
        settle_ms: None,
        what: None,
    })
    .unwrap();
    drop(j);

    let output = Command::cargo_bin("gameday")
        .unwrap()
        .arg("recover")
        .arg("--out")
        .arg(out.path())
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("fault s1-f1 on {}: reverted", store.name)),
        "{stdout}"
    );
    assert_eq!(store.state(), "running");
    let entries = journal::read(&path).unwrap();
    assert!(journal::unfinished(&entries).faults.is_empty());
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, JournalEntry::FaultReverted { by, .. } if by == "recover"))
    );

    let again = Command::cargo_bin("gameday")
        .unwrap()
        .arg("recover")
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to recover"));
}

/// A container that cannot be started again (its command does not exist
/// in its image) cannot be restored: exit 4, and the message says how to
/// undo it by hand. (One that is gone is closed as gone: tests/safety.rs.)
#[test]
fn recover_says_what_is_left_when_it_cannot_revert() {
    if !docker_available() {
        return;
    }
    ensure_demo_image();
    struct Removed(String);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", &self.0])
                .output();
        }
    }
    let name = format!("gdt-unstartable-{}", std::process::id());
    let id = docker(&[
        "create",
        "--name",
        &name,
        "--label",
        "gameday.test=1",
        "--entrypoint",
        "/no-such-program",
        DEMO_IMAGE,
    ]);
    let _removed = Removed(id.clone());
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mut j = Journal::create(&run_dir.join("journal.jsonl")).unwrap();
    j.append(&JournalEntry::FaultIntent {
        fault_id: "s1-f1".into(),
        scenario: "killed".into(),
        kind: "kill".into(),
        recipe: RevertRecipe::Start {
            container_id: id.clone(),
            container_name: name.clone(),
        },
        at: chrono::Utc::now(),
        host: None,
        settle_ms: None,
        what: None,
    })
    .unwrap();
    let output = Command::cargo_bin("gameday")
        .unwrap()
        .arg("recover")
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("{name}: NOT reverted")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("docker start {id}")), "{stderr}");
}

/// The state letter (`S`, `T`, ...) of the process of container `id` whose
/// command line contains `pattern`, found on this host as the fault finds it.
fn process_state(id: &str, pattern: &str) -> Option<(i32, char)> {
    for entry in std::fs::read_dir("/proc").ok()?.filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cgroup.contains(id) && cmdline.contains(pattern) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            return Some((pid, state));
        }
    }
    None
}

/// The `process` fault through the binary: a worker started inside the api
/// (a second demo server on :7001) gets SIGSTOP. Its clients time out while
/// the api's main process answers on; it runs again on revert. Then the
/// runner and its watchdog are killed while it is stopped, and `gameday
/// recover` continues it. A pattern that matches nothing applies nothing
/// and says what the container runs.
#[test]
fn process_fault_stops_a_worker_and_continues_it() {
    let project = Project::new("process");
    let (_store, api) = project.demo_stack();
    docker(&[
        "exec",
        "-d",
        &api.id,
        "/gameday-demo",
        "store",
        "--listen",
        "0.0.0.0:7001",
    ]);
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &api.id,
    ]);
    wait_for("the worker", Duration::from_secs(10), || {
        std::net::TcpStream::connect_timeout(
            &format!("{ip}:7001").parse().unwrap(),
            Duration::from_millis(200),
        )
        .is_ok()
    });
    let worker = || process_state(&api.id, "0.0.0.0:7001").map(|(_, s)| s);
    // Running or sleeping, as a busy machine catches it: anything but stopped.
    let runs = || worker().is_some_and(|s| s != 'T');
    let main = || process_state(&api.id, "0.0.0.0:8080").map(|(_, s)| s);
    assert!(runs(), "{:?}", worker());
    let file_for = |pattern: &str| {
        gameday_file(&format!(
            r#"
gameday: Process fault
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s }}
probes:
  worker: {{ http: {{ url: "http://{ip}:7001/get" }}, every: 200ms, timeout: 500ms }}
  api: {{ http: {{ url: "http://127.0.0.1:{port}/" }}, every: 200ms }}
scenarios:
  - name: Worker frozen
    fault: {{ process: {{ service: api, match: "{pattern}", signal: SIGSTOP }} }}
    duration: 3s
    expect:
      - {{ probe: worker, during: fault, success_rate: "== 0%" }}
      - {{ probe: worker, recovers_within: 2s }}
      - {{ probe: api, during: fault, success_rate: ">= 99%" }}
"#,
            project = project.name,
            port = api.host_port.unwrap(),
        ))
    };

    // Applied, seen, reverted.
    let (_g, file) = file_for("0.0.0.0:7001");
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_for("the worker stopped", Duration::from_secs(20), || {
        worker() == Some('T')
    });
    assert_ne!(main(), Some('T'), "the main process was left alone");
    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert!(runs(), "{:?}", worker());
    let plan = gameday_plan(&file);
    assert!(
        text(&plan).contains("send SIGSTOP to the processes (not its main one) of"),
        "{}",
        text(&plan)
    );

    // A dead runner's SIGSTOP, continued by recover.
    let out2 = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out2.path(), || worker() == Some('T'));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(worker(), Some('T'), "still stopped once the runner is gone");
    let recovered = gameday_recover(out2.path());
    assert_exit(&recovered, 0);
    assert!(runs(), "{:?}", worker());
    let again = gameday_recover(out2.path());
    assert_exit(&again, 0);

    // Nothing matches: nothing applied, and the error says what runs.
    let (_g3, file3) = file_for("no-such-worker");
    let out3 = tempfile::tempdir().unwrap();
    let output = run_gameday(out3.path(), &file3, 60);
    let result = result_json(&run_dir(out3.path()));
    let error = result["scenarios"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no process besides its main one has `no-such-worker`")
            && error.contains("0.0.0.0:7001"),
        "{error}\n{}",
        text(&output)
    );
    assert!(runs(), "{:?}", worker());
}

/// A target in the host's PID namespace (`pid: host`) gets no signal and
/// no stress worker: a worker placed in that namespace would take the
/// host's init for the container's main process. `plan` and `run` refuse
/// each fault at its target with exit 2, and the worker inside is left
/// running.
#[test]
fn process_and_stress_are_refused_on_a_target_in_the_hosts_pid_namespace() {
    let project = Project::new("pidhost");
    let api = project.service_opts(
        "api",
        &["--pid", "host", "--tmpfs", "/data:size=8m"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    docker(&[
        "exec",
        "-d",
        &api.id,
        "/gameday-demo",
        "store",
        "--listen",
        "0.0.0.0:7001",
    ]);
    let worker = || process_state(&api.id, "0.0.0.0:7001").map(|(_, s)| s);
    wait_for("the worker", Duration::from_secs(10), || worker().is_some());
    let (_g, file) = gameday_file(&format!(
        r#"gameday: Host PID namespace
scope: {{ compose_project: {} }}
scenarios:
  - name: All of them
    faults:
      - process: {{ service: api, match: "0.0.0.0:7001", signal: SIGSTOP }}
      - cpu_stress: {{ service: api }}
      - memory_stress: {{ service: api, size: 8MiB }}
      - disk_fill: {{ service: api, path: /data, size: 1MiB }}
    duration: 3s
"#,
        project.name
    ));
    let planned = gameday_plan(&file);
    assert_exit(&planned, 2);
    let stderr = String::from_utf8_lossy(&planned.stderr);
    for (line, col, kind) in [
        (6, 20, "process"),
        (7, 23, "cpu_stress"),
        (8, 26, "memory_stress"),
        (9, 22, "disk_fill"),
    ] {
        assert!(
            stderr.contains(&format!(
                ":{line}:{col}: `{}` uses the host's PID namespace (pid: host): ",
                api.name
            )) && stderr.contains(&format!(
                "a `{kind}` fault needs a container with a PID namespace of its own"
            )),
            "{kind}: {stderr}"
        );
    }
    assert!(stderr.contains("`process` would signal this host's processes"));
    let out = tempfile::tempdir().unwrap();
    let run = run_gameday(out.path(), &file, 60);
    assert_exit(&run, 2);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    assert!(
        worker().is_some_and(|s| s != 'T'),
        "the worker was not stopped: {:?}",
        worker()
    );
}
