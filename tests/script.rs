//! A `script` fault whose apply does not end within its timeout, through
//! the real binary against real containers: every process of the apply
//! (a background subshell included) is killed before the revert runs, so
//! nothing the apply would still have done lands after the revert; the
//! record says how many were killed. On this host (its process session)
//! and in a container from this host (the exec's processes, by the marker
//! in their environment); in a container on a remote engine (through a
//! helper container in its PID namespace) in `tests/remote.rs`. And when
//! the runner died during the apply, its watchdog kills what of it is left
//! once its time is up, before it reverts.

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::*;

/// An apply that leaves a subshell behind which writes `late` 2 s later,
/// and waits 30 s itself; its timeout is 1 s.
const HANGING_APPLY: &str = "(sleep 2; touch {dir}late) & sleep 30";

fn hanging_script(project: &str, docker: &str, place: &str, dir: &str) -> String {
    let apply = HANGING_APPLY.replace("{dir}", dir);
    format!(
        r#"
gameday: Script timeout
scope: {{ compose_project: {project} }}
{docker}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: A script that hangs
    fault:
      script:
        service: store
        in: {place}
        apply: [sh, -c, "{apply}"]
        revert: [sh, -c, "touch {dir}reverted"]
        timeout: 1s
    duration: 1s
"#
    )
}

/// Run the hanging script; once the run has ended, `reverted` (under
/// `root`) exists and `late` never appears in the 3 s after the revert
/// (the subshell would have written it 1 s after). Returns the error the
/// result recorded for the scenario.
fn run_hanging(file: &Path, root: &Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let started = SystemTime::now();
    let run = run_gameday(out.path(), file, 60);
    let result = result_json(&run_dir(out.path()));
    let error = result["scenarios"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reverted = root.join("reverted");
    let revert_ran = std::fs::metadata(&reverted)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("the revert did not run ({e}): {error}{}", text(&run)));
    assert!(revert_ran >= started);
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        let late = root.join("late");
        assert!(
            !late.exists(),
            "the timed-out apply landed after its revert ({:?} after it): {error}",
            std::fs::metadata(&late)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(revert_ran).ok())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("recorded: {error}");
    error
}

/// The number in "killed N processes" of `error`.
fn killed(error: &str) -> usize {
    error
        .split("killed ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `killed N processes` in: {error}"))
}

#[test]
fn a_host_script_that_times_out_is_killed_with_its_whole_session_before_the_revert() {
    if !docker_available() {
        return;
    }
    let project = Project::new("scripthost");
    let (_store, _api) = project.demo_stack();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/", dir.path().display());
    let (_g, file) = gameday_file(&hanging_script(&project.name, "", "host", &prefix));
    let error = run_hanging(&file, dir.path());
    assert!(
        error.contains("timed out after 1s") && error.contains("on this host"),
        "{error}"
    );
    // sh or its `sleep 30`, the subshell and its `sleep 2`.
    assert!(killed(&error) >= 2, "{error}");
}

/// The store, with this host's /usr mounted read-only: a shell to script with.
fn store_with_a_shell(project: &Project) -> Container {
    project.service_opts(
        "store",
        HOST_SHELL,
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    )
}

/// The container's root, seen from this host.
fn root_of(container: &Container) -> std::path::PathBuf {
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &container.id]);
    Path::new("/proc").join(pid).join("root")
}

#[test]
fn a_container_script_that_times_out_has_every_process_of_its_exec_killed_before_the_revert() {
    if !docker_available() {
        return;
    }
    let project = Project::new("scriptexec");
    let store = store_with_a_shell(&project);
    let (_g, file) = gameday_file(&hanging_script(&project.name, "", "container", "/"));
    let error = run_hanging(&file, &root_of(&store));
    assert!(
        error.contains("timed out after 1s") && error.contains("in the container"),
        "{error}"
    );
    assert!(killed(&error) >= 2, "{error}");
    assert_eq!(store.state(), "running");
}

/// The runner alone dies while a host script's apply runs: its watchdog
/// gives the apply its timeout (and a margin) to end, then kills what of it
/// still runs (found by its marker) before it runs the revert, so the
/// apply's subshell cannot land afterwards.
#[test]
fn an_apply_left_running_by_a_dead_runner_is_killed_before_its_watchdog_reverts() {
    if !docker_available() {
        return;
    }
    let project = Project::new("scriptdead");
    let (_store, _api) = project.demo_stack();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Script left running
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: A script that hangs
    fault:
      script:
        service: store
        in: host
        apply: [sh, -c, "touch {started}; (sleep 8; touch {late}) & sleep 60"]
        revert: [touch, "{reverted}"]
        timeout: 2s
    duration: 1s
"#,
        project = project.name,
        started = at("started").display(),
        late = at("late").display(),
        reverted = at("reverted").display(),
    ));
    let out = tempfile::tempdir().unwrap();
    let mut runner = std::process::Command::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the apply", Duration::from_secs(20), || {
        at("started").exists()
    });
    let started = Instant::now();
    runner.kill().unwrap();
    runner.wait().unwrap();
    wait_for("the watchdog's revert", Duration::from_secs(7), || {
        at("reverted").exists()
    });
    let reverted_after = started.elapsed();
    // The subshell would write `late` 8 s after the apply started.
    while started.elapsed() < Duration::from_secs(10) {
        assert!(
            !at("late").exists(),
            "the apply landed after its revert ({reverted_after:?} after it started): {}",
            journal_text(out.path())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("the watchdog reverted {reverted_after:?} after the apply started");
}
