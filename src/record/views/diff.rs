//! What changed between two runs: the outcome, each scenario's verdict,
//! each check's verdict and measured value and their difference, the
//! faults and how they were made, each probe's figures, the readiness
//! checklist; for a scenario run as trials, how many trials met on each
//! side, each check's met count, and where a search's breaking point moved
//! (lower: breaks sooner). `gameday diff` prints it as text and as JSON
//! (these fields, in this order).

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::detection::Detected;
use super::trials::{self, MetCount, Moved};
use super::{first_appearance, scenario_named};
use crate::gameday::model::Unit;
use crate::record::archive::dir_name;
use crate::record::result::{
    ChecklistStatus, ExpectationResult, RunResult, ScenarioResult, ScenarioVerdict,
};

/// Two runs compared, `a` the earlier as given, `b` the later.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RunDiff {
    /// The title of `b`'s gameday.
    pub(crate) gameday: String,
    pub(crate) a: RunSide,
    pub(crate) b: RunSide,
    /// Every scenario of either run, `a`'s first, in order of appearance.
    pub(crate) scenarios: Vec<ScenarioDiff>,
    pub(crate) probes: Vec<ProbeDiff>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) checklist: Vec<ChecklistDiff>,
}

/// Which run one side is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RunSide {
    /// The run directory's name.
    pub(crate) run_dir: String,
    pub(crate) run_id: String,
    pub(crate) started_at: DateTime<Utc>,
    /// The outcome's key (`not_met`).
    pub(crate) outcome: String,
    /// The gameday's title.
    pub(crate) gameday: String,
}

/// One scenario in both runs (`None` on the side that did not carry it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScenarioDiff {
    pub(crate) name: String,
    pub(crate) a: Option<ScenarioVerdict>,
    pub(crate) b: Option<ScenarioVerdict>,
    /// Every check of either side, `a`'s first, in order of appearance.
    pub(crate) checks: Vec<CheckDiff>,
    /// Faults as `action (mechanism)`, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) faults: Option<(Vec<String>, Vec<String>)>,
    /// Run as `repeat` on either side: the trials that met every check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) repeat: Option<(Option<MetCount>, Option<MetCount>)>,
    /// Who noticed what, when, on either side (class, time to detect),
    /// when either has it; `detection_changed` when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detection: Option<(Option<Detected>, Option<Detected>)>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) detection_changed: bool,
}

/// One check in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckDiff {
    pub(crate) text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unit: Option<Unit>,
    pub(crate) a: Option<CheckSide>,
    pub(crate) b: Option<CheckSide>,
    /// `b - a`, when both measured a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) delta: Option<f64>,
    /// Met on one side and not on the other, or absent on one side.
    pub(crate) changed: bool,
    /// A search's breaking point (`value`, the lowest value that broke).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) breaking_point: bool,
    /// Where the breaking point moved from `a` to `b`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) moved: Option<Moved>,
}

/// One side of a compared check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckSide {
    pub(crate) met: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<f64>,
    pub(crate) actual: String,
    /// A repeated scenario's check: the trials it was met in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) met_in: Option<MetCount>,
}

/// A probe's `(samples, failed, p50, p99)` in one run.
pub(crate) type ProbeFigures = (usize, usize, Option<f64>, Option<f64>);

/// One probe in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ProbeDiff {
    pub(crate) name: String,
    pub(crate) a: Option<ProbeFigures>,
    pub(crate) b: Option<ProbeFigures>,
}

/// One checklist item in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChecklistDiff {
    pub(crate) item: String,
    pub(crate) a: Option<ChecklistStatus>,
    pub(crate) b: Option<ChecklistStatus>,
}

impl RunDiff {
    /// Compare run `a` (read from `a_dir`) with run `b` (from `b_dir`).
    pub(crate) fn of(a: &RunResult, a_dir: &Path, b: &RunResult, b_dir: &Path) -> RunDiff {
        let scenarios = first_appearance(
            a.scenarios
                .iter()
                .chain(&b.scenarios)
                .map(|s| s.name.as_str()),
        );
        let probes = first_appearance(a.probes.iter().chain(&b.probes).map(|p| p.name.as_str()));
        let items = first_appearance(
            a.checklist
                .iter()
                .chain(&b.checklist)
                .map(|c| c.item.as_str()),
        );
        RunDiff {
            gameday: b.gameday.title.clone(),
            a: RunSide::of(a, a_dir),
            b: RunSide::of(b, b_dir),
            scenarios: scenarios
                .into_iter()
                .map(|name| ScenarioDiff::of(name, a, b))
                .collect(),
            probes: probes
                .into_iter()
                .map(|name| ProbeDiff::of(name, a, b))
                .collect(),
            checklist: items
                .into_iter()
                .map(|item| ChecklistDiff::of(item, a, b))
                .collect(),
        }
    }
}

impl RunSide {
    fn of(r: &RunResult, dir: &Path) -> RunSide {
        RunSide {
            run_dir: dir_name(dir),
            run_id: r.run_id.clone(),
            started_at: r.started_at,
            outcome: r.outcome.key().to_string(),
            gameday: r.gameday.title.clone(),
        }
    }
}

impl ScenarioDiff {
    fn of(name: &str, a: &RunResult, b: &RunResult) -> ScenarioDiff {
        let (sa, sb) = (scenario_named(a, name), scenario_named(b, name));
        let texts = first_appearance(
            sa.into_iter()
                .chain(sb)
                .flat_map(|s| s.expectations.iter().map(|e| e.text.as_str())),
        );
        let (fa, fb) = (faults_of(sa), faults_of(sb));
        let (da, db) = (sa.and_then(Detected::of), sb.and_then(Detected::of));
        let (ra, rb) = (
            sa.and_then(trials::scenario_met),
            sb.and_then(trials::scenario_met),
        );
        ScenarioDiff {
            name: name.to_string(),
            a: sa.map(|s| s.verdict),
            b: sb.map(|s| s.verdict),
            checks: texts
                .into_iter()
                .map(|text| CheckDiff::of(text, sa, sb))
                .collect(),
            faults: (fa != fb).then_some((fa, fb)),
            repeat: (ra.is_some() || rb.is_some()).then_some((ra, rb)),
            detection: (da.is_some() || db.is_some()).then_some((da, db)),
            detection_changed: da != db && da.is_some() && db.is_some(),
        }
    }
}

/// A scenario's faults as `action (mechanism)`; none without the scenario.
fn faults_of(s: Option<&ScenarioResult>) -> Vec<String> {
    s.map(|s| {
        s.faults
            .iter()
            .map(|f| match &f.mechanism {
                Some(m) => format!("{} ({m})", f.action),
                None => f.action.clone(),
            })
            .collect()
    })
    .unwrap_or_default()
}

impl CheckDiff {
    fn of(text: &str, sa: Option<&ScenarioResult>, sb: Option<&ScenarioResult>) -> CheckDiff {
        let ea = sa.and_then(|s| s.expectations.iter().find(|e| e.text == text));
        let eb = sb.and_then(|s| s.expectations.iter().find(|e| e.text == text));
        let (ca, cb) = (
            sa.zip(ea).map(|(s, e)| CheckSide::of(s, e)),
            sb.zip(eb).map(|(s, e)| CheckSide::of(s, e)),
        );
        let (delta, changed) = match (&ca, &cb) {
            (Some(x), Some(y)) => (x.value.zip(y.value).map(|(x, y)| y - x), x.met != y.met),
            _ => (None, true),
        };
        let breaking_point = ea.or(eb).is_some_and(trials::is_breaking_point);
        let moved = match (&ca, &cb) {
            (Some(x), Some(y)) if breaking_point => {
                x.value.zip(y.value).and_then(|(x, y)| Moved::of(x, y))
            }
            _ => None,
        };
        CheckDiff {
            text: text.to_string(),
            unit: ea.or(eb).and_then(|e| e.unit),
            a: ca,
            b: cb,
            delta,
            changed,
            breaking_point,
            moved,
        }
    }
}

impl CheckSide {
    fn of(s: &ScenarioResult, e: &ExpectationResult) -> CheckSide {
        CheckSide {
            met: e.is_met(),
            value: e.value,
            actual: e.actual.clone(),
            met_in: trials::check_met(s, e),
        }
    }
}

impl ProbeDiff {
    fn of(name: &str, a: &RunResult, b: &RunResult) -> ProbeDiff {
        let of = |r: &RunResult| {
            r.probes
                .iter()
                .find(|p| p.name == name)
                .map(|p| (p.samples, p.failed, p.latency_p50_ms, p.latency_p99_ms))
        };
        ProbeDiff {
            name: name.to_string(),
            a: of(a),
            b: of(b),
        }
    }
}

impl ChecklistDiff {
    fn of(item: &str, a: &RunResult, b: &RunResult) -> ChecklistDiff {
        let of = |r: &RunResult| {
            r.checklist
                .iter()
                .find(|c| c.item == item)
                .map(|c| c.status)
        };
        ChecklistDiff {
            item: item.to_string(),
            a: of(a),
            b: of(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{run, scenario};
    use super::*;
    use crate::record::result::ProbeSummary;

    fn probe(name: &str, failed: usize, p99: f64) -> ProbeSummary {
        ProbeSummary {
            name: name.into(),
            kind: "http".into(),
            every_ms: 500.0,
            samples: 100,
            ok: 100 - failed,
            failed,
            latency_p50_ms: None,
            latency_p99_ms: Some(p99),
            load: None,
            versions: None,
        }
    }

    /// Run `a`: "paused" not met (latency 1200 met, fallback not met),
    /// "stopped"; run `b` a week later: "paused" met (latency 900, fallback
    /// met, a new check), "flushed", its fault made another way.
    fn two_runs() -> (RunResult, RunResult) {
        let mut a = run(
            "Login",
            1,
            vec![
                scenario(
                    "paused",
                    "not_met",
                    &[("latency", true, Some(1200.0)), ("fallback", false, None)],
                ),
                scenario("stopped", "skipped", &[]),
            ],
        )
        .result;
        let mut b = run(
            "Login",
            8,
            vec![
                scenario(
                    "paused",
                    "met",
                    &[
                        ("fallback", true, None),
                        ("latency", true, Some(900.0)),
                        ("errors", true, Some(0.0)),
                    ],
                ),
                scenario("flushed", "met", &[]),
            ],
        )
        .result;
        let fault: crate::record::result::FaultResult = serde_json::from_value(serde_json::json!({
            "kind": "pause", "target": "db", "container_id": "c1", "action": "pause db",
        }))
        .unwrap();
        a.scenarios[0].faults.push(fault.clone());
        b.scenarios[0]
            .faults
            .push(crate::record::result::FaultResult {
                mechanism: Some("cgroup freezer".into()),
                ..fault
            });
        a.probes = vec![probe("api", 0, 300.0), probe("db", 0, 5.0)];
        b.probes = vec![probe("api", 20, 480.0)];
        (a, b)
    }

    fn diff() -> RunDiff {
        let (a, b) = two_runs();
        RunDiff::of(&a, Path::new("/x/run-a"), &b, Path::new("/x/run-b"))
    }

    #[test]
    fn scenarios_of_either_run_in_order_with_their_verdicts() {
        let d = diff();
        assert_eq!(
            (d.a.run_dir.as_str(), d.b.run_dir.as_str()),
            ("run-a", "run-b")
        );
        assert_eq!(
            (d.a.outcome.as_str(), d.b.outcome.as_str()),
            ("not_met", "met")
        );
        let rows: Vec<(&str, Option<ScenarioVerdict>, Option<ScenarioVerdict>)> = d
            .scenarios
            .iter()
            .map(|s| (s.name.as_str(), s.a, s.b))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "paused",
                    Some(ScenarioVerdict::NotMet),
                    Some(ScenarioVerdict::Met)
                ),
                ("stopped", Some(ScenarioVerdict::Skipped), None),
                ("flushed", None, Some(ScenarioVerdict::Met)),
            ]
        );
    }

    #[test]
    fn a_check_s_difference_and_whether_its_verdict_changed() {
        let d = diff();
        let checks = &d.scenarios[0].checks;
        let texts: Vec<&str> = checks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["latency", "fallback", "errors"]);
        let (latency, fallback, errors) = (&checks[0], &checks[1], &checks[2]);
        assert_eq!(latency.delta, Some(-300.0));
        assert!(!latency.changed);
        assert_eq!(latency.unit, Some(Unit::Ms));
        assert_eq!((fallback.delta, fallback.changed), (None, true));
        assert!(errors.a.is_none() && errors.changed && errors.delta.is_none());
    }

    #[test]
    fn faults_are_listed_only_where_they_differ() {
        let d = diff();
        assert_eq!(
            d.scenarios[0].faults,
            Some((
                vec!["pause db".into()],
                vec!["pause db (cgroup freezer)".into()]
            ))
        );
        // Neither side has faults: nothing to say.
        assert_eq!(d.scenarios[1].faults, None);
    }

    #[test]
    fn probes_and_checklist_of_either_run() {
        let d = diff();
        assert_eq!(d.probes.len(), 2);
        assert_eq!(d.probes[0].a, Some((100, 0, None, Some(300.0))));
        assert_eq!(d.probes[0].b, Some((100, 20, None, Some(480.0))));
        assert_eq!((d.probes[1].name.as_str(), d.probes[1].b), ("db", None));
        assert!(d.checklist.is_empty());
        let (mut a, mut b) = two_runs();
        a.scenarios[0].checklist = vec!["Fails fast".into()];
        b.scenarios[0].checklist = vec!["Fails fast".into()];
        a.checklist = crate::record::result::checklist_of(&a.scenarios);
        b.checklist = crate::record::result::checklist_of(&b.scenarios);
        let d = RunDiff::of(&a, Path::new("a"), &b, Path::new("b"));
        assert_eq!(
            d.checklist,
            [ChecklistDiff {
                item: "Fails fast".into(),
                a: Some(ChecklistStatus::NotMet),
                b: Some(ChecklistStatus::Met),
            }]
        );
    }

    /// A search's breaking point at 1000ms, then 800ms; a repeat met in 3
    /// of 5 trials, then 5 of 5.
    fn runs_with_trials() -> (RunResult, RunResult) {
        let text = "breaking point of x: until login: success_rate < 50% during fault";
        let search = |breaks: f64| {
            let mut s = scenario("latency", "met", &[(text, true, Some(breaks))]);
            s.expectations[0].check = Some("breaking_point".into());
            s
        };
        let repeat = |met: u32| {
            let mut s = scenario("paused", "met", &[("latency", true, Some(130.0))]);
            s.trials = Some(
                serde_json::from_value(serde_json::json!({
                    "trials": [],
                    "repeat": {"times": 5, "pass": 4, "ran": 5, "met": met, "checks": [
                        {"text": "latency", "met": met, "of": 5, "met_low": 0.0,
                         "met_high": 100.0, "values": []},
                    ]},
                }))
                .unwrap(),
            );
            s
        };
        (
            run("Login", 1, vec![search(1000.0), repeat(3)]).result,
            run("Login", 8, vec![search(800.0), repeat(5)]).result,
        )
    }

    #[test]
    fn a_moved_breaking_point_and_the_met_counts_of_a_repeat() {
        let (a, b) = runs_with_trials();
        let d = RunDiff::of(&a, Path::new("a"), &b, Path::new("b"));
        let point = &d.scenarios[0].checks[0];
        assert!(point.breaking_point);
        assert_eq!(point.moved, Some(Moved::Lower));
        assert_eq!(point.delta, Some(-200.0));
        assert_eq!(d.scenarios[0].repeat, None);
        let (ra, rb) = d.scenarios[1].repeat.unwrap();
        assert_eq!((ra.map(|m| m.met), rb.map(|m| m.met)), (Some(3), Some(5)));
        let check = &d.scenarios[1].checks[0];
        assert_eq!(
            check.a.as_ref().and_then(|c| c.met_in).map(|m| m.met),
            Some(3)
        );
        assert!(!check.breaking_point && check.moved.is_none());
        // Back the other way it holds longer; unmoved, nothing is said.
        let d = RunDiff::of(&b, Path::new("b"), &a, Path::new("a"));
        assert_eq!(d.scenarios[0].checks[0].moved, Some(Moved::Higher));
        let d = RunDiff::of(&a, Path::new("a"), &a, Path::new("a"));
        assert_eq!(d.scenarios[0].checks[0].moved, None);
        let json =
            serde_json::to_string(&RunDiff::of(&a, Path::new("a"), &b, Path::new("b"))).unwrap();
        assert!(
            json.contains(
                r#""delta":-200.0,"changed":false,"breaking_point":true,"moved":"lower"}"#
            ),
            "{json}"
        );
        assert!(
            json.contains(r#""actual":"measured Some(130.0)","met_in":{"met":3,"of":5}},"#),
            "{json}"
        );
        assert!(
            json.contains(r#""repeat":[{"met":3,"of":5,"pass":4},{"met":5,"of":5,"pass":4}]"#),
            "{json}"
        );
    }

    #[test]
    fn the_json_keeps_its_field_names_and_order() {
        let json = serde_json::to_string(&diff()).unwrap();
        assert!(
            json.starts_with(r#"{"gameday":"Login","a":{"run_dir":"run-a","run_id":"r1","started_at":"2026-11-01T10:00:00Z","outcome":"not_met","gameday":"Login"},"b":{"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"text":"latency","unit":"ms","a":{"met":true,"value":1200.0,"actual":"measured Some(1200.0)"},"b":{"met":true,"value":900.0,"actual":"measured Some(900.0)"},"delta":-300.0,"changed":false}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""probes":[{"name":"api","a":[100,0,null,300.0],"#),
            "{json}"
        );
        assert!(!json.contains("checklist"), "{json}");
    }
}
