//! Team exercises: scenarios in `steps:` (faults one by one, waits, notes
//! and manual steps), observations typed at the terminal while the run goes,
//! and what happens when nobody is at a terminal. The terminal is a real
//! pseudo-terminal (`script`), written to as a person would type.

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::terminal::*;
use common::*;

fn drill(project: &str, manual_timeout: &str) -> String {
    format!(
        r#"gameday: Store drill
participants: [Dana (coordinator), {{ name: Sam, role: observer }}]
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s500ms, cooldown: 1s }}
probes:
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: Store frozen, then the team looks
    steps:
      - note: "Drill starts: the store will freeze"
      - fault: {{ pause: {{ service: store }} }}
      - wait: 1s
      - manual: "Check the store dashboard; what do you see?"
        timeout: {manual_timeout}
    duration: 500ms
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
      - {{ probe: store-state, recovers_within: 2s }}
"#
    )
}

#[test]
fn manual_steps_refuse_to_start_without_a_terminal_unless_skipped() {
    if !docker_available() {
        return;
    }
    let project = Project::new("manual");
    let (store, _api) = project.demo_stack();
    let (_dir, file) = gameday_file(&drill(&project.name, "30s"));
    let out = tempfile::tempdir().unwrap();

    // The plan lays the steps out.
    let plan = gameday_plan(&file);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    for line in [
        "note      Drill starts: the store will freeze",
        "apply     pause",
        "wait      1s",
        "operator  Check the store dashboard; what do you see?",
        "at most 30s; not counted in the times",
        "hold      500ms",
    ] {
        assert!(
            text.contains(line),
            "{line:?} missing from the plan:\n{text}"
        );
    }

    let refused = Command::cargo_bin("gameday")
        .unwrap()
        .args(["run", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("1 manual step needs a person to answer, and no one is at a terminal")
            && stderr.contains("--non-interactive=skip"),
        "{stderr}"
    );
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
    assert_eq!(store.state(), "running");

    let skipped = Command::cargo_bin("gameday")
        .unwrap()
        .args(["run", "--no-progress", "--non-interactive=skip", "--out"])
        .arg(out.path())
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_exit(&skipped, 0);
    assert_eq!(store.state(), "running", "the pause was not reverted");
    let result = result_json(&run_dir(out.path()));
    let timeline = result["scenarios"][0]["timeline"].to_string();
    assert!(timeline.contains("note: Drill starts"), "{timeline}");
    assert!(
        timeline.contains("manual step skipped (no one at a terminal): Check the store dashboard"),
        "{timeline}"
    );
}

#[test]
fn the_team_answers_a_manual_step_and_adds_observations_at_the_terminal() {
    if !docker_available() || !script_available() {
        return;
    }
    let project = Project::new("drill");
    let (store, _api) = project.demo_stack();
    let (_dir, file) = gameday_file(&drill(&project.name, "1m"));
    let out = tempfile::tempdir().unwrap();
    let command = format!(
        "{} run --no-progress --out {} {}",
        assert_cmd::cargo::cargo_bin("gameday").display(),
        out.path().display(),
        file.display()
    );
    let mut terminal = Terminal::start(&command);
    terminal.wait_for("Type a line and press Enter", Duration::from_secs(30));
    // Sam, an observer, notes something during the baseline.
    terminal.type_line("Sam: dashboards calm before the drill");
    terminal.wait_for(
        "OPERATOR: Check the store dashboard",
        Duration::from_secs(30),
    );
    // The run waits for the answer: the store stays paused meanwhile.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(store.state(), "paused");
    terminal.type_line("store panel red, api 503s within a second");
    let screen = terminal.finish(Duration::from_secs(60));
    assert_eq!(store.state(), "running", "the pause was not reverted");

    let dir = run_dir(out.path());
    let result = result_json(&dir);
    assert_eq!(result["outcome"], "met", "{screen}");
    let observations = result["observations"].as_array().unwrap();
    assert_eq!(observations.len(), 2, "{observations:?}");
    assert_eq!(observations[0]["by"], "Sam (observer)");
    assert_eq!(observations[0]["text"], "dashboards calm before the drill");
    assert_eq!(observations[1]["by"], "Tess");
    assert_eq!(
        observations[1]["text"],
        "Check the store dashboard; what do you see? → store panel red, api 503s within a second"
    );
    assert_eq!(
        observations[1]["scenario"],
        "Store frozen, then the team looks"
    );
    // The manual step held the fault: the fault window covers the wait and the answer.
    let windows = &result["scenarios"][0]["windows"];
    let held = windows["revert_start"].as_f64().unwrap() - windows["fault_start"].as_f64().unwrap();
    assert!(held > 2000.0, "held only {held} ms");
    // Every report format carries them.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("## Observations") && md.contains("**Sam (observer)**: dashboards calm"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Observations</h2>") && html.contains("store panel red"),
        "html"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("observation by Tess: Check the store dashboard"),
        "{junit}"
    );
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert_eq!(journal.matches("\"event\":\"observation\"").count(), 2);
}
