//! The safety promise against the real engine: one run per scope (claimed
//! on the engine), `recover` that leaves a live run alone, reaches the
//! engine the run used and says honestly what it did, a damaged journal
//! that still recovers, no stopped container started, no host namespace
//! touched, the third signal's exit code, and no secret printed or kept.
//! Every test checks the real state of the containers afterwards.

mod common;

use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use common::*;

fn pause_file(project: &str, port: u16, duration: &str) -> String {
    format!(
        r#"gameday: Safety
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 200ms }}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: {duration}
"#
    )
}

/// Two runs on one scope would undo each other's faults: the second is
/// refused, naming the holder; `recover` leaves the live run's fault alone;
/// the claim goes with the run.
#[test]
fn one_run_per_scope_and_recover_leaves_a_live_run_alone() {
    if !docker_available() {
        return;
    }
    let project = Project::new("claim");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_file(&project.name, api.host_port.unwrap(), "8s"));
    let first_out = tempfile::tempdir().unwrap();
    let first = spawn_run(&file, first_out.path());
    wait_for("the pause", Duration::from_secs(20), || {
        store.state() == "paused"
    });
    assert!(claim_exists(&project), "the live run holds no claim");

    let second_out = tempfile::tempdir().unwrap();
    let second = gameday_run(second_out.path(), &file, &[], 30);
    let said = text(&second);
    assert_exit(&second, 2);
    assert!(
        said.contains(&format!("compose project `{}`", project.name))
            && said.contains("is held by run")
            && said.contains(&format!("(pid {})", first.id())),
        "{said}"
    );
    assert_eq!(store.state(), "paused", "the refused run touched the store");

    // The same --out: the live run's journal has its fault open, and it
    // is the live run's own, not a leftover: exit 2 naming the holder.
    let same_out = gameday_run(first_out.path(), &file, &[], 30);
    let said = text(&same_out);
    assert_exit(&same_out, 2);
    assert!(
        said.contains("is held by run") && said.contains(&format!("(pid {})", first.id())),
        "{said}"
    );
    assert_eq!(store.state(), "paused", "the refused run touched the store");

    let recovered = gameday_recover(first_out.path());
    let said = text(&recovered);
    assert_exit(&recovered, 2);
    assert!(
        said.contains("not touched") && said.contains("is alive"),
        "{said}"
    );
    assert_eq!(
        store.state(),
        "paused",
        "recover reverted the live run's fault"
    );

    let output = finish(first, Duration::from_secs(60));
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        text(&output)
    );
    assert_eq!(store.state(), "running");
    assert!(!claim_exists(&project), "the claim outlived its run");
}

/// This test process's boot and PID namespace (`dev:inode`), as a claim
/// records them (a runner started from here shares both).
fn this_boot_and_pid_ns() -> (String, String) {
    use std::os::unix::fs::MetadataExt;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string();
    let ns = std::fs::metadata("/proc/self/ns/pid").unwrap();
    (boot, format!("{}:{}", ns.dev(), ns.ino()))
}

/// A claim left by run `deadbe` of `tess`: its evidence as labels, on the
/// claim container (as a runner that died leaves it).
fn make_claim(project: &Project, evidence: &[(&str, String)]) {
    let name = claim_name(project);
    let mut labels = vec![
        "gameday.claim=1".to_string(),
        format!("gameday.claim.scope={}", project.name),
        "gameday.claim.run_id=deadbe".to_string(),
        "gameday.claim.user=tess".to_string(),
        "gameday.claim.host=laptop".to_string(),
        "gameday.claim.since=2026-12-01T09:00:00Z".to_string(),
    ];
    labels.extend(
        evidence
            .iter()
            .map(|(k, v)| format!("gameday.claim.{k}={v}")),
    );
    let mut args = vec!["create".to_string(), "--name".into(), name];
    for l in &labels {
        args.push("--label".into());
        args.push(l.clone());
    }
    args.push(DEMO_IMAGE.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&args);
}

/// A claim whose holder provably died (this boot, this PID namespace, its
/// process gone) is taken over and the journal says so; one that cannot
/// be proved dead is not: held from another machine (another boot and
/// machine identity), or made by an older gameday that recorded neither
/// PID namespace nor start time.
#[test]
fn a_dead_runners_claim_is_taken_over_and_a_foreign_one_is_not() {
    if !docker_available() {
        return;
    }
    let project = Project::new("stale");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_file(&project.name, api.host_port.unwrap(), "1s"));
    let (boot, pid_ns) = this_boot_and_pid_ns();

    let foreign = [
        ("boot_id", "another-boot".to_string()),
        ("pid", "1".to_string()),
        ("pid_ns", pid_ns.clone()),
        ("start", "1".to_string()),
        ("machine", "0123456789abcdef0123456789abcdef".to_string()),
    ];
    let older = [("boot_id", boot.clone()), ("pid", "1".to_string())];
    for (evidence, why) in [
        (&foreign[..], "it ran on another machine"),
        (&older[..], "an older gameday"),
    ] {
        make_claim(&project, evidence);
        let out = tempfile::tempdir().unwrap();
        let refused = gameday_run(out.path(), &file, &[], 30);
        assert_exit(&refused, 2);
        let said = text(&refused);
        assert!(
            said.contains("tess on laptop") && said.contains(why),
            "{said}"
        );
        assert_eq!(store.state(), "running");
        docker(&["rm", "-f", &claim_name(&project)]);
    }

    // A process that has ended: its pid names no process now.
    let mut gone = StdCommand::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    make_claim(
        &project,
        &[
            ("boot_id", boot),
            ("pid", dead_pid.to_string()),
            ("pid_ns", pid_ns),
            ("start", "1".to_string()),
        ],
    );
    let out = tempfile::tempdir().unwrap();
    let ran = gameday_run(out.path(), &file, &[], 60);
    assert!(matches!(ran.status.code(), Some(0 | 1)), "{}", text(&ran));
    assert!(
        text(&ran).contains("took over the claim") && text(&ran).contains("its process is gone"),
        "{}",
        text(&ran)
    );
    let journal = journal_text(out.path());
    assert!(
        journal.contains("\"event\":\"claim_taken_over\"") && journal.contains("run deadbe"),
        "{journal}"
    );
    assert_eq!(store.state(), "running");
    assert!(!claim_exists(&project));
    assert!(marker_volumes(&project).is_empty());
}

/// SIGKILL mid-pause, then: `recover` reaches the engine the journal names
/// and checks its ID (a mismatch is exit 4 with the fault left open, never
/// "reverted"); a torn and damaged journal still recovers; a later run starts.
#[test]
fn recover_checks_the_engine_and_survives_a_damaged_journal() {
    if !docker_available() {
        return;
    }
    let project = Project::new("engine");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_file(&project.name, api.host_port.unwrap(), "60s"));
    let out = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out.path(), || store.state() == "paused");
    let journal_path = run_dir(out.path()).join("journal.jsonl");
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    // The engine is journalled resolved, with its ID, though the file named none.
    let started: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(started["engine"]["host"], "unix:///var/run/docker.sock");
    let engine_id = started["engine_ids"]["default"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!engine_id.is_empty(), "{started}");

    // Another engine answering at that address: not "reverted".
    std::fs::write(
        &journal_path,
        journal.replace(&engine_id, "NOT-THIS-ENGINE"),
    )
    .unwrap();
    let mismatch = gameday_recover(out.path());
    assert_exit(&mismatch, 4);
    assert!(
        text(&mismatch).contains("is not the one the run used"),
        "{}",
        text(&mismatch)
    );
    assert_eq!(store.state(), "paused");

    // A torn last record and a damaged line (not even UTF-8).
    let mut damaged = journal.into_bytes();
    damaged.extend_from_slice(b"\xff\xfe garbage\n{\"event\":\"fault_reverted\",\"fau");
    std::fs::write(&journal_path, damaged).unwrap();
    let recovered = gameday_recover(out.path());
    assert_exit(&recovered, 0);
    assert!(
        text(&recovered).contains("2 damaged lines skipped"),
        "{}",
        text(&recovered)
    );
    assert_eq!(store.state(), "running");
    assert!(!claim_exists(&project), "recover left the dead run's claim");
    // The record after the tear starts on a line of its own.
    let repaired = std::fs::read(&journal_path).unwrap();
    let last = repaired
        .split(|b| *b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap();
    assert!(
        serde_json::from_slice::<serde_json::Value>(last).is_ok(),
        "{}",
        String::from_utf8_lossy(last)
    );
    // Nothing is left: a later run on the same --out starts.
    let (_dir2, short) = gameday_file(&pause_file(&project.name, api.host_port.unwrap(), "1s"));
    let later = gameday_run(out.path(), &short, &[], 60);
    assert!(
        matches!(later.status.code(), Some(0 | 1)),
        "{}",
        text(&later)
    );
}

/// A container recreated under the same name (as compose does) while its
/// fault was journalled: nothing is left to revert, and recover says so.
#[test]
fn a_replaced_target_does_not_wedge_recover() {
    if !docker_available() {
        return;
    }
    let project = Project::new("replaced");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_file(&project.name, api.host_port.unwrap(), "60s"));
    let out = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out.path(), || store.state() == "paused");
    docker(&["rm", "-f", &store.id]);
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let recovered = gameday_recover(out.path());
    assert_exit(&recovered, 0);
    assert!(
        text(&recovered).contains("target replaced"),
        "{}",
        text(&recovered)
    );
    assert_eq!(store.state(), "running");
    assert_exit(&gameday_recover(out.path()), 0);
}

/// A target removed (not replaced) while a `stop` held it: its revert
/// (start it) can never happen. `recover` closes the intent honestly
/// ("nothing to start: container gone"), journalled, exit 0, and a later
/// run on the same --out is not blocked by it.
#[test]
fn a_removed_target_under_a_start_recipe_is_closed_as_gone() {
    if !docker_available() {
        return;
    }
    let project = Project::new("removed");
    let (store, api) = project.demo_stack();
    let stop_file = |duration: &str| {
        format!(
            r#"gameday: Gone
scope: {{ compose_project: {} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
scenarios:
  - name: Store stopped
    fault: {{ stop: {{ service: store, timeout: 1s }} }}
    duration: {duration}
"#,
            project.name
        )
    };
    let (_dir, file) = gameday_file(&stop_file("60s"));
    let out = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out.path(), || store.state() == "exited");
    docker(&["rm", "-f", &store.id]);
    let recovered = gameday_recover(out.path());
    let said = text(&recovered);
    assert_exit(&recovered, 0);
    assert!(said.contains("nothing to start: container gone"), "{said}");
    let journal = journal_text(out.path());
    assert!(
        journal.contains("\"event\":\"fault_reverted\"")
            && journal.contains("recover (nothing to start: container gone"),
        "{journal}"
    );
    assert_exit(&gameday_recover(out.path()), 0);
    assert!(!claim_exists(&project) && marker_volumes(&project).is_empty());
    // A later run on the same --out starts (a pause of the api).
    let (_dir2, later) = gameday_file(&stop_file("1s").replace(
        "stop: { service: store, timeout: 1s }",
        "pause: { service: api }",
    ));
    let ran = gameday_run(out.path(), &later, &[], 60);
    assert_exit(&ran, 0);
    assert_eq!(api.state(), "running");
}

/// The third Ctrl-C exits at once: faults may be in place, so exit 4, never
/// 3 ("every fault was reverted"); recover then finishes the job.
#[test]
fn the_third_signal_exits_4() {
    if !docker_available() {
        return;
    }
    let project = Project::new("third");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&pause_file(&project.name, api.host_port.unwrap(), "60s"));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_for("the pause", Duration::from_secs(20), || {
        store.state() == "paused"
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    for _ in 0..3 {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = finish(child, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(
        text(&output).contains("may still be in place"),
        "{}",
        text(&output)
    );
    let recovered = gameday_recover(out.path());
    assert_exit(&recovered, 0);
    assert_eq!(store.state(), "running");
}

/// A stopped replica (or a `compose run` leftover) is not a target: a stop
/// with restore never starts it, and the plan says it is skipped.
#[test]
fn a_container_that_was_not_running_is_never_started() {
    if !docker_available() {
        return;
    }
    let project = Project::new("replica");
    let (store, api) = project.demo_stack();
    let leftover =
        project.service_named("store", "leftover", &["store", "--listen", "0.0.0.0:7001"]);
    docker(&["stop", "-t", "1", &leftover.id]);
    let text_file = format!(
        r#"gameday: Replicas
scope: {{ compose_project: {} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{}/health" }}, every: 200ms }}
scenarios:
  - name: Store stopped
    fault: {{ stop: {{ service: store, timeout: 1s }} }}
    duration: 1s
"#,
        project.name,
        api.host_port.unwrap()
    );
    let (_dir, file) = gameday_file(&text_file);
    let plan = gameday_plan(&file);
    assert_exit(&plan, 0);
    let plan_text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(
        plan_text.contains(&format!("skipped, not running: {} (exited)", leftover.name)),
        "{plan_text}"
    );
    let out = tempfile::tempdir().unwrap();
    let ran = gameday_run(out.path(), &file, &[], 60);
    assert!(matches!(ran.status.code(), Some(0 | 1)), "{}", text(&ran));
    assert_eq!(
        store.state(),
        "running",
        "the stopped store was not restored"
    );
    assert_eq!(
        leftover.state(),
        "exited",
        "a container that was not running was started"
    );
    let result = result_json(&run_dir(out.path()));
    assert_eq!(
        result["scenarios"][0]["faults"].as_array().unwrap().len(),
        1
    );
}

/// A network fault on a container that uses the host's network namespace
/// would throttle the whole host: plan and run refuse it, located, before
/// anything is applied.
#[test]
fn a_network_fault_on_the_host_namespace_is_refused() {
    if !docker_available() {
        return;
    }
    let project = Project::new("hostnet");
    let hostnet = project.service_with(
        "edge",
        &["--network", "host"],
        &["store", "--listen", "127.0.0.1:0"],
    );
    let text_file = format!(
        r#"gameday: Host network
scope: {{ compose_project: {} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
scenarios:
  - name: Edge slowed
    fault: {{ delay: {{ service: edge, latency: 100ms }} }}
    duration: 1s
"#,
        project.name
    );
    let (_dir, file) = gameday_file(&text_file);
    for output in [
        gameday_plan(&file),
        gameday_run(tempfile::tempdir().unwrap().path(), &file, &[], 30),
    ] {
        assert_exit(&output, 2);
        let said = text(&output);
        assert!(
            said.contains(":6:23:") && said.contains("uses the host's network namespace"),
            "{said}"
        );
    }
    assert_eq!(hostnet.state(), "running");
    let qdiscs = StdCommand::new("tc")
        .args(["qdisc", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    assert!(gameday_qdiscs(&qdiscs).is_empty(), "{qdiscs}");
}

/// Userinfo and secret-looking query parameters never reach stdout,
/// stderr or any file of the run directory.
#[test]
fn no_secret_is_printed_or_kept() {
    if !docker_available() {
        return;
    }
    let project = Project::new("secret");
    let (_store, _api) = project.demo_stack();
    let closed = free_port();
    let text_file = format!(
        r#"gameday: Secrets
scope: {{ compose_project: {} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  health: {{ http: {{ url: "http://admin:S3cr3tPw@127.0.0.1:{closed}/health?token=T0kenV4lue&x=1" }}, every: 200ms }}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: 1s
"#,
        project.name
    );
    let (_dir, file) = gameday_file(&text_file);
    let plan = gameday_plan(&file);
    assert_exit(&plan, 0);
    let out = tempfile::tempdir().unwrap();
    // The probe fails (nothing listens): the steady state stops the run.
    let ran = gameday_run(out.path(), &file, &[], 60);
    assert_exit(&ran, 3);
    let mut seen = vec![
        ("plan".to_string(), text(&plan)),
        ("run".into(), text(&ran)),
    ];
    for entry in std::fs::read_dir(run_dir(out.path())).unwrap() {
        let path = entry.unwrap().path();
        seen.push((
            path.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string(),
        ));
    }
    assert!(
        seen.iter().any(|(_, t)| t.contains("127.0.0.1")),
        "the URL should still be shown, redacted"
    );
    for (where_, t) in &seen {
        for secret in ["S3cr3tPw", "T0kenV4lue"] {
            assert!(!t.contains(secret), "{secret} in {where_}: {t}");
        }
    }
}

/// An `exec` probe that times out leaves nothing running in the container.
#[test]
fn a_timed_out_exec_probe_leaves_no_process_behind() {
    if !docker_available() {
        return;
    }
    let project = Project::new("exec");
    let (store, _api) = project.demo_stack();
    let text_file = format!(
        r#"gameday: Exec timeout
scope: {{ compose_project: {} }}
defaults: {{ baseline: 2s, cooldown: 1s }}
probes:
  hang: {{ exec: {{ service: store, command: [/gameday-demo, store, --listen, "127.0.0.1:7999"] }}, every: 500ms, timeout: 300ms }}
scenarios:
  - name: Never reached
    fault: {{ pause: {{ service: store }} }}
    duration: 1s
"#,
        project.name
    );
    let (_dir, file) = gameday_file(&text_file);
    let out = tempfile::tempdir().unwrap();
    // Every run times out: the steady state is not met.
    let ran = gameday_run(out.path(), &file, &[], 60);
    assert_exit(&ran, 3);
    let samples = std::fs::read_to_string(run_dir(out.path()).join("samples.jsonl")).unwrap();
    assert!(samples.contains("timeout after 300ms"), "{samples}");
    wait_for(
        "the timed-out commands to be gone",
        Duration::from_secs(5),
        || !docker(&["top", &store.id]).contains("7999"),
    );
}

/// A runner SIGKILLed while its `stop` was in flight (intent journalled,
/// request sent, not yet confirmed: the container is in its grace period):
/// `recover` lets the stop land, then starts the container, instead of
/// calling it "already reverted" a moment before it goes down.
#[test]
fn recover_settles_a_stop_in_flight_before_reverting() {
    if !docker_available() {
        return;
    }
    let project = Project::new("inflight");
    // PID 1 ignores SIGUSR1: a stop waits out its whole grace period.
    // On the project's network (an engine need not have its default bridge).
    let store = project.service_opts(
        "store",
        &["--stop-signal", "SIGUSR1"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    let journal = format!(
        "{}\n{}\n",
        serde_json::json!({"event": "run_started", "run_id": "inflig", "gameday": "g", "scope": project.name, "file": "f", "at": now}),
        serde_json::json!({"event": "fault_intent", "fault_id": "s1-f1", "scenario": "s", "kind": "stop",
            "recipe": {"undo": "start", "container_id": store.id, "container_name": store.name},
            "at": now, "settle_ms": 15000}),
    );
    std::fs::write(dir.join("journal.jsonl"), journal).unwrap();
    let mut stop = StdCommand::new("docker")
        .args(["stop", "-t", "3", &store.id])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        store.state(),
        "running",
        "the stop should still be in its grace period"
    );
    let recovered = gameday_recover(out.path());
    assert_exit(&recovered, 0);
    stop.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        store.state(),
        "running",
        "the stop landed after recover: {}",
        text(&recovered)
    );
}
