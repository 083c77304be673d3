//! Finer targeting, reproducibly: `pick: { count: 2 }` made from
//! `--seed` at plan time pauses exactly the containers `gameday plan
//! --seed` shows, and a `labels:` target pauses the labelled containers
//! only, against real containers.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const STORE: &[&str] = &["store", "--listen", "0.0.0.0:7000"];

fn pick_gameday(project: &str) -> String {
    format!(
        r#"gameday: Pick test
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
probes:
  db-state: {{ container: {{ labels: {{ tier: db }} }}, every: 200ms }}
scenarios:
  - name: Two api replicas paused
    fault: {{ pause: {{ service: api, pick: {{ count: 2 }} }} }}
    duration: 3s
  - name: The db tier paused
    fault: {{ pause: {{ labels: {{ tier: db }} }} }}
    duration: 2s
"#
    )
}

/// `gameday plan --seed SEED FILE`'s output; it must succeed.
fn plan_with_seed(file: &Path, seed: &str) -> String {
    let output = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .args(["plan", "--seed", seed])
        .arg(file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_exit(&output, 0);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The containers the plan's first `apply pause` line names.
fn planned_pauses(plan: &str) -> BTreeSet<String> {
    let line = plan
        .lines()
        .find(|l| l.contains("apply     pause"))
        .unwrap_or_else(|| panic!("no apply line in:\n{plan}"));
    let names = line.split("pause ").nth(1).unwrap();
    let names = names.split(" (").next().unwrap();
    names.split(", ").map(String::from).collect()
}

/// Which of `names` Docker says are paused right now.
fn paused(names: &[String]) -> BTreeSet<String> {
    let mut args = vec!["inspect", "-f", "{{.Name}} {{.State.Paused}}"];
    args.extend(names.iter().map(String::as_str));
    docker(&args)
        .lines()
        .filter_map(|l| l.strip_suffix(" true"))
        .map(|n| n.trim_start_matches('/').to_string())
        .collect()
}

#[test]
fn a_seeded_count_pauses_the_planned_replicas_and_labels_the_labelled_ones() {
    if !docker_available() {
        return;
    }
    let project = Project::new("pick");
    let api: Vec<String> = (1..=5)
        .map(|i| project.service_named("api", &i.to_string(), STORE).name)
        .collect();
    let tier = ["--label", "tier=db"];
    let db: Vec<String> = vec![
        project.service_named_opts("db", "1", &tier, STORE).name,
        project.service_named_opts("db", "2", &tier, STORE).name,
        // Of the same service, without the label: never paused.
        project.service_named("db", "3", STORE).name,
    ];
    let everyone: Vec<String> = api.iter().chain(&db).cloned().collect();
    let (_dir, file) = gameday_file(&pick_gameday(&project.name));

    // The same seed, the same choice; it is said with its seed.
    let plan = plan_with_seed(&file, "7");
    assert_eq!(plan, plan_with_seed(&file, "7"));
    let chosen = planned_pauses(&plan);
    assert_eq!(chosen.len(), 2, "{plan}");
    assert!(chosen.iter().all(|c| api.contains(c)), "{plan}");
    assert!(
        plan.contains("(2 of the 5 replicas of service api, chosen with seed 7)"),
        "{plan}"
    );
    assert!(
        plan.contains("seed         7 (from --seed; repeat this choice with --seed 7)"),
        "{plan}"
    );

    // Without a seed, one is drawn and said: giving it repeats the choice.
    let drawn = gameday_plan(&file);
    assert_exit(&drawn, 0);
    let drawn = String::from_utf8_lossy(&drawn.stdout).into_owned();
    let seed = drawn
        .lines()
        .find_map(|l| l.trim().strip_prefix("seed "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no seed in:\n{drawn}"));
    assert!(
        drawn.contains(&format!("(repeat this choice with --seed {seed})")),
        "{drawn}"
    );
    assert_eq!(
        planned_pauses(&drawn),
        planned_pauses(&plan_with_seed(&file, seed))
    );

    let out = tempfile::tempdir().unwrap();
    let child = Command::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--no-progress", "--seed", "7", "--out"])
        .arg(out.path())
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // During the first scenario exactly the planned two are paused.
    wait_for(
        "the two picked replicas paused",
        Duration::from_secs(30),
        || paused(&everyone).len() == 2,
    );
    assert_eq!(paused(&everyone), chosen);
    // During the second, the labelled db containers only.
    let labelled: BTreeSet<String> = db[..2].iter().cloned().collect();
    wait_for("the db tier paused", Duration::from_secs(30), || {
        paused(&everyone) == labelled
    });
    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert!(
        paused(&everyone).is_empty(),
        "every container unpaused after"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("seed 7 (from --seed; repeat this choice with --seed 7)"),
        "{stderr}"
    );
    assert_eq!(result_json(&run_dir(out.path()))["seed"], 7);
}
