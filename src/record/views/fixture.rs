//! Small archived runs for the views' unit tests: a gameday title, a day,
//! scenarios with their checks, written as `result.json` would hold them.

use std::path::PathBuf;

use serde_json::json;

use crate::record::annotations::Annotations;
use crate::record::archive::ArchivedRun;
use crate::record::result::{RunResult, ScenarioResult};

/// A check: its text, whether it was met, what it measured.
pub(super) type Check<'a> = (&'a str, bool, Option<f64>);

/// A scenario with `verdict` (a key: `met`, `not_met`, ...) and its checks
/// (a measured value in milliseconds).
pub(super) fn scenario(name: &str, verdict: &str, checks: &[Check<'_>]) -> ScenarioResult {
    let expectations: Vec<_> = checks
        .iter()
        .map(|(text, met, value)| {
            json!({
                "text": text,
                "probe": "api",
                "verdict": if *met { "met" } else { "not_met" },
                "actual": format!("measured {value:?}"),
                "value": value,
                "unit": "ms",
            })
        })
        .collect();
    serde_json::from_value(json!({
        "name": name,
        "verdict": verdict,
        "duration_ms": 1000.0,
        "expectations": expectations,
        "faults": [],
        "timeline": [],
    }))
    .unwrap()
}

/// A run of `title` on November `day`, in directory `run-DAY`.
pub(super) fn run(title: &str, day: u32, scenarios: Vec<ScenarioResult>) -> ArchivedRun {
    let met = scenarios
        .iter()
        .filter(|s| s.verdict.key() == "met")
        .count();
    let mut result: RunResult = serde_json::from_value(json!({
        "schema_version": 1,
        "run_id": format!("r{day}"),
        "gameday": {
            "title": title,
            "participants": [],
            "environment": "staging",
            "file": format!("gamedays/{}.yaml", title.to_lowercase()),
            "scope": "demo",
        },
        "docker": { "host": "local", "version": "27", "connection": "", "hosts": [] },
        "started_at": format!("2026-11-{day:02}T10:00:00Z"),
        "ended_at": format!("2026-11-{day:02}T10:01:00Z"),
        "duration_ms": 60000.0,
        "outcome": if met == scenarios.len() { "met" } else { "not_met" },
        "exit_code": 0,
        "steady_state": { "met": true, "baseline_ms": 5000.0, "details": [] },
        "scenarios": [],
        "probes": [],
        "samples_file": "samples.jsonl",
        "faults_left": [],
        "summary": {
            "scenarios": scenarios.len(), "met": met, "not_met": 0,
            "aborted": 0, "error": 0, "skipped": 0,
        },
    }))
    .unwrap();
    result.checklist = crate::record::result::checklist_of(&scenarios);
    result.scenarios = scenarios;
    ArchivedRun {
        dir: PathBuf::from(format!("/archive/run-{day:02}")),
        result,
        annotations: Annotations::default(),
    }
}
