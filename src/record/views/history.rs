//! One gameday across its runs: each scenario's verdict and checks in each
//! run that carried it, the measured values as series (a value or a gap
//! per run), the readiness checklist across runs, and the linked tickets
//! as the newest run sees them. A scenario run as trials adds its
//! `repeat`'s met count, each check's met count, and a search's breaking
//! point (its check line's value) with where it moved since the run
//! before. `gameday history NAME` prints it; the archive's index draws its
//! verdict grid and value lines from it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::trials::{self, MetCount, Moved};
use super::{first_appearance, scenario_named};
use crate::expect::CheckVerdict;
use crate::gameday::model::Unit;
use crate::record::archive::ArchivedRun;
use crate::record::followup::{self, FollowUp};
use crate::record::result::{ChecklistStatus, ExpectationResult, ScenarioResult, ScenarioVerdict};

/// A gameday across runs (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GamedayHistory {
    /// The title of its first run.
    pub(crate) title: String,
    pub(crate) runs: Vec<RunRef>,
    /// Every scenario of any run, in order of first appearance.
    pub(crate) scenarios: Vec<ScenarioHistory>,
    /// Every checklist item of any run, in order of first appearance.
    pub(crate) checklist: Vec<ChecklistHistory>,
    /// The linked tickets as the newest run sees them (none unless asked
    /// for: [`GamedayHistory::with_tickets`]).
    pub(crate) tickets: Vec<FollowUp>,
}

/// Which run: its directory's name and when it started.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunRef {
    pub(crate) run_dir: String,
    pub(crate) started_at: DateTime<Utc>,
}

/// One scenario in the runs that carried it (`history --format json`
/// prints these fields in this order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScenarioHistory {
    pub(crate) name: String,
    /// Only the runs that carried it, oldest first.
    pub(crate) runs: Vec<ScenarioRun>,
}

/// A scenario in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScenarioRun {
    /// Which of the history's runs (its index in [`GamedayHistory::runs`]).
    #[serde(skip)]
    pub(crate) run: usize,
    pub(crate) run_dir: String,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) verdict: ScenarioVerdict,
    pub(crate) checks: Vec<CheckValue>,
    /// Who noticed what, when: its class and time to detect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detection: Option<super::detection::Detected>,
    /// Run as `repeat`: the trials that met every check, of those run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) repeat: Option<MetCount>,
}

/// One check of a scenario in one run: its verdict and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckValue {
    pub(crate) text: String,
    pub(crate) verdict: CheckVerdict,
    pub(crate) value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unit: Option<Unit>,
    pub(crate) actual: String,
    /// A repeated scenario's check: the trials it was met in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) met_in: Option<MetCount>,
    /// A search's breaking point (`value`, in `unit`, the lowest value
    /// that broke).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) breaking_point: bool,
    /// A breaking point's move since the scenario's run before that
    /// measured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) moved: Option<Moved>,
}

/// One checklist item across runs: its status in each run (`None` where
/// the run did not carry it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChecklistHistory {
    pub(crate) item: String,
    pub(crate) runs: Vec<Option<ChecklistStatus>>,
}

/// The name of a scenario's time-to-detect series.
pub(crate) const TIME_TO_DETECT: &str = "time to detect";

/// One check's measured value across all the history's runs: a value, or
/// `None` where the run did not carry the scenario or the check, or
/// measured nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) scenario: String,
    /// The check's text.
    pub(crate) check: String,
    pub(crate) values: Vec<Option<Measured>>,
}

/// A value a check measured, in its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measured {
    pub(crate) value: f64,
    pub(crate) unit: Option<Unit>,
}

impl GamedayHistory {
    /// The history of `runs` (one gameday's, oldest first), without tickets.
    pub(crate) fn of(runs: &[&ArchivedRun]) -> GamedayHistory {
        let refs: Vec<RunRef> = runs
            .iter()
            .map(|a| RunRef {
                run_dir: a.dir_name(),
                started_at: a.result.started_at,
            })
            .collect();
        let names = first_appearance(
            runs.iter()
                .flat_map(|a| a.result.scenarios.iter().map(|s| s.name.as_str())),
        );
        let scenarios = names
            .into_iter()
            .map(|name| ScenarioHistory::of(name, runs, &refs))
            .collect();
        GamedayHistory {
            title: runs
                .first()
                .map(|a| a.result.gameday.title.clone())
                .unwrap_or_default(),
            checklist: checklist_across(runs),
            scenarios,
            runs: refs,
            tickets: Vec::new(),
        }
    }

    /// The history of `runs` with the tickets linked in `archive` (every
    /// run, of any gameday) as the newest of `runs` sees them.
    pub(crate) fn with_tickets(archive: &[ArchivedRun], runs: &[&ArchivedRun]) -> GamedayHistory {
        let mut history = GamedayHistory::of(runs);
        history.tickets = runs
            .last()
            .map(|newest| followup::verify(archive, &newest.result))
            .unwrap_or_default();
        history
    }

    /// Each check that measured a value in some run, per scenario, in order
    /// of first appearance (of a check with a value), across every run.
    pub(crate) fn series(&self) -> Vec<Series> {
        let mut out = Vec::new();
        for scenario in &self.scenarios {
            let measured = first_appearance(
                scenario
                    .runs
                    .iter()
                    .flat_map(|r| r.checks.iter())
                    .filter(|c| c.value.is_some())
                    .map(|c| c.text.as_str()),
            );
            for check in measured {
                let values = (0..self.runs.len())
                    .map(|run| {
                        let c = scenario.in_run(run)?.check(check)?;
                        c.value.map(|value| Measured {
                            value,
                            unit: c.unit,
                        })
                    })
                    .collect();
                out.push(Series {
                    scenario: scenario.name.clone(),
                    check: check.to_string(),
                    values,
                });
            }
            out.extend(scenario.time_to_detect(self.runs.len()));
        }
        out
    }
}

impl ScenarioHistory {
    fn of(name: &str, runs: &[&ArchivedRun], refs: &[RunRef]) -> ScenarioHistory {
        let found = runs.iter().zip(refs).enumerate().filter_map(|(i, (a, r))| {
            let s = scenario_named(&a.result, name)?;
            Some(ScenarioRun::of(i, r, s))
        });
        let mut runs: Vec<ScenarioRun> = found.collect();
        mark_moves(&mut runs);
        ScenarioHistory {
            name: name.to_string(),
            runs,
        }
    }

    /// The scenario in the history's run `run`, if that run carried it.
    pub(crate) fn in_run(&self, run: usize) -> Option<&ScenarioRun> {
        self.runs
            .binary_search_by_key(&run, |r| r.run)
            .ok()
            .map(|i| &self.runs[i])
    }

    /// Its time to detect across the history's `runs`, as a series like
    /// a check's measured value; none when no run detected anything.
    fn time_to_detect(&self, runs: usize) -> Option<Series> {
        let values: Vec<Option<Measured>> = (0..runs)
            .map(|run| {
                let d = self.in_run(run)?.detection?;
                d.time_to_detect_ms.map(|value| Measured {
                    value,
                    unit: Some(Unit::Ms),
                })
            })
            .collect();
        values.iter().any(Option::is_some).then(|| Series {
            scenario: self.name.clone(),
            check: TIME_TO_DETECT.to_string(),
            values,
        })
    }

    /// The texts of its checks across its runs, in order of first appearance.
    pub(crate) fn check_texts(&self) -> Vec<&str> {
        first_appearance(
            self.runs
                .iter()
                .flat_map(|r| r.checks.iter().map(|c| c.text.as_str())),
        )
    }
}

impl ScenarioRun {
    fn of(run: usize, at: &RunRef, s: &ScenarioResult) -> ScenarioRun {
        ScenarioRun {
            run,
            run_dir: at.run_dir.clone(),
            started_at: at.started_at,
            verdict: s.verdict,
            checks: s
                .expectations
                .iter()
                .map(|e| CheckValue::of(s, e))
                .collect(),
            repeat: trials::scenario_met(s),
            detection: super::detection::Detected::of(s),
        }
    }

    /// Its check with this text (the first, should two share it).
    pub(crate) fn check(&self, text: &str) -> Option<&CheckValue> {
        self.checks.iter().find(|c| c.text == text)
    }
}

impl CheckValue {
    fn of(s: &ScenarioResult, e: &ExpectationResult) -> CheckValue {
        CheckValue {
            text: e.text.clone(),
            verdict: e.verdict,
            value: e.value,
            unit: e.unit,
            actual: e.actual.clone(),
            met_in: trials::check_met(s, e),
            breaking_point: trials::is_breaking_point(e),
            moved: None,
        }
    }
}

/// Each breaking point's move since the last run (of `runs`, oldest
/// first) whose same check measured one.
fn mark_moves(runs: &mut [ScenarioRun]) {
    let mut last: Vec<(String, f64)> = Vec::new();
    for run in runs {
        for c in run.checks.iter_mut().filter(|c| c.breaking_point) {
            let Some(value) = c.value else { continue };
            match last.iter_mut().find(|(text, _)| *text == c.text) {
                Some((_, before)) => {
                    c.moved = Moved::of(*before, value);
                    *before = value;
                }
                None => last.push((c.text.clone(), value)),
            }
        }
    }
}

fn checklist_across(runs: &[&ArchivedRun]) -> Vec<ChecklistHistory> {
    let items = first_appearance(
        runs.iter()
            .flat_map(|a| a.result.checklist.iter().map(|c| c.item.as_str())),
    );
    items
        .into_iter()
        .map(|item| ChecklistHistory {
            item: item.to_string(),
            runs: runs
                .iter()
                .map(|a| {
                    let mut items = a.result.checklist.iter();
                    items.find(|c| c.item == item).map(|c| c.status)
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{run, scenario};
    use super::*;
    use crate::record::annotations::Ticket;
    use crate::record::followup::{FollowUpState, TicketTarget};

    /// Three runs of `Login`: "paused" in all (its latency measured in the
    /// first and the last, its fallback measured only in the second),
    /// "stopped" only in the second.
    fn three_runs() -> Vec<ArchivedRun> {
        let mut first = scenario(
            "paused",
            "met",
            &[("fallback", true, None), ("latency", true, Some(120.0))],
        );
        first.checklist = vec!["Fails fast".into()];
        let mut second = scenario(
            "paused",
            "not_met",
            &[("fallback", true, Some(3.0)), ("latency", false, None)],
        );
        second.checklist = vec!["Fails fast".into()];
        let mut stopped = scenario("stopped", "met", &[("restarts", true, Some(1.0))]);
        stopped.checklist = vec!["Recovers".into()];
        vec![
            run("Login", 1, vec![first]),
            run("Login", 2, vec![stopped, second]),
            run(
                "Login",
                3,
                vec![scenario("paused", "met", &[("latency", true, Some(90.0))])],
            ),
        ]
    }

    fn refs(runs: &[ArchivedRun]) -> Vec<&ArchivedRun> {
        runs.iter().collect()
    }

    #[test]
    fn scenarios_in_order_of_first_appearance_with_the_runs_that_carried_them() {
        let runs = three_runs();
        let h = GamedayHistory::of(&refs(&runs));
        assert_eq!(h.title, "Login");
        let dirs: Vec<&str> = h.runs.iter().map(|r| r.run_dir.as_str()).collect();
        assert_eq!(dirs, ["run-01", "run-02", "run-03"]);
        let names: Vec<&str> = h.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["paused", "stopped"]);
        let paused = &h.scenarios[0];
        let verdicts: Vec<ScenarioVerdict> = paused.runs.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            [
                ScenarioVerdict::Met,
                ScenarioVerdict::NotMet,
                ScenarioVerdict::Met
            ]
        );
        assert_eq!(paused.check_texts(), ["fallback", "latency"]);
        let stopped = &h.scenarios[1];
        assert_eq!(stopped.runs.len(), 1);
        assert!(stopped.in_run(0).is_none());
        assert_eq!(
            stopped.in_run(1).map(|r| r.run_dir.as_str()),
            Some("run-02")
        );
        assert!(stopped.in_run(2).is_none());
        assert_eq!(paused.in_run(2).and_then(|r| r.check("fallback")), None);
        assert_eq!(
            paused.in_run(2).and_then(|r| r.check("latency")?.value),
            Some(90.0)
        );
    }

    #[test]
    fn a_series_per_measured_check_with_a_gap_where_a_run_measured_nothing() {
        let runs = three_runs();
        let h = GamedayHistory::of(&refs(&runs));
        let series = h.series();
        let labels: Vec<(&str, &str)> = series
            .iter()
            .map(|s| (s.scenario.as_str(), s.check.as_str()))
            .collect();
        // "latency" measured first (run 1), "fallback" only later (run 2).
        assert_eq!(
            labels,
            [
                ("paused", "latency"),
                ("paused", "fallback"),
                ("stopped", "restarts")
            ]
        );
        let values = |i: usize| -> Vec<Option<f64>> {
            series[i]
                .values
                .iter()
                .map(|m| m.map(|m| m.value))
                .collect()
        };
        assert_eq!(values(0), [Some(120.0), None, Some(90.0)]);
        assert_eq!(values(1), [None, Some(3.0), None]);
        assert_eq!(values(2), [None, Some(1.0), None]);
        assert_eq!(series[0].values[0].and_then(|m| m.unit), Some(Unit::Ms));
    }

    #[test]
    fn the_checklist_across_runs_is_absent_where_a_run_did_not_carry_an_item() {
        let runs = three_runs();
        let h = GamedayHistory::of(&refs(&runs));
        let items: Vec<(&str, &[Option<ChecklistStatus>])> = h
            .checklist
            .iter()
            .map(|c| (c.item.as_str(), c.runs.as_slice()))
            .collect();
        use ChecklistStatus::{Met, NotMet};
        assert_eq!(
            items,
            [
                ("Fails fast", &[Some(Met), Some(NotMet), None][..]),
                ("Recovers", &[None, Some(Met), None][..]),
            ]
        );
    }

    #[test]
    fn tickets_are_as_the_newest_run_sees_them() {
        let mut runs = three_runs();
        let filed = runs[1].result.started_at;
        runs[1].annotations.tickets.push(Ticket {
            id: "OPS-1".into(),
            title: "Fail fast".into(),
            status: "open".into(),
            updated_at: filed,
            target: Some(TicketTarget {
                scenario: "paused".into(),
                check: Some("latency".into()),
            }),
        });
        let chosen = refs(&runs);
        assert!(GamedayHistory::of(&chosen).tickets.is_empty());
        let h = GamedayHistory::with_tickets(&runs, &chosen);
        assert_eq!(h.tickets.len(), 1);
        assert_eq!(h.tickets[0].state, FollowUpState::Fixed);
        // Seen from the run it was filed on, it was still not met.
        let h = GamedayHistory::with_tickets(&runs, &chosen[..2]);
        assert_eq!(h.tickets[0].state, FollowUpState::StillNotMet);
    }

    /// A search's breaking point at 1000ms, then 800ms, then 800ms; a
    /// repeat met in 3 of 5 trials, then 5 of 5.
    fn runs_with_trials() -> Vec<ArchivedRun> {
        let search = |breaks: f64| {
            let mut s = scenario(
                "latency",
                "met",
                &[(
                    "breaking point of x: until login: success_rate < 50% during fault",
                    true,
                    Some(breaks),
                )],
            );
            s.expectations[0].check = Some("breaking_point".into());
            s.expectations[0].actual =
                format!("holds at {}ms, breaks at {breaks}ms", breaks - 100.0);
            s
        };
        let repeat = |met: u32| {
            let mut s = scenario(
                "paused",
                if met >= 4 { "met" } else { "not_met" },
                &[("latency", met >= 4, Some(130.0))],
            );
            s.trials = Some(serde_json::from_value(serde_json::json!({
                "trials": [],
                "repeat": {"times": 5, "pass": 4, "ran": 5, "met": met, "checks": [
                    {"text": "latency", "met": met, "of": 5, "met_low": 0.0, "met_high": 100.0, "values": []},
                ]},
            })).unwrap());
            s
        };
        vec![
            run("Login", 1, vec![search(1000.0), repeat(3)]),
            run("Login", 2, vec![search(800.0), repeat(5)]),
            run("Login", 3, vec![search(800.0)]),
        ]
    }

    #[test]
    fn a_breaking_point_s_moves_and_a_repeat_s_met_counts_across_runs() {
        let runs = runs_with_trials();
        let h = GamedayHistory::of(&refs(&runs));
        let points: Vec<(Option<f64>, Option<Moved>)> = h.scenarios[0]
            .runs
            .iter()
            .map(|r| (r.checks[0].value, r.checks[0].moved))
            .collect();
        assert_eq!(
            points,
            [
                (Some(1000.0), None),
                (Some(800.0), Some(Moved::Lower)),
                (Some(800.0), None)
            ]
        );
        assert!(h.scenarios[0].runs[0].checks[0].breaking_point);
        let paused = &h.scenarios[1];
        let met: Vec<(Option<MetCount>, Option<MetCount>)> = paused
            .runs
            .iter()
            .map(|r| (r.repeat, r.checks[0].met_in))
            .collect();
        assert_eq!(met[0].0.map(|m| m.text()), Some("3/5 (pass 4)".into()));
        assert_eq!(met[0].1.map(|m| m.text()), Some("flaky 3/5".into()));
        assert_eq!(met[1].1.map(|m| m.text()), Some("5/5".into()));
        let json = serde_json::to_string(&h.scenarios[0].runs[1]).unwrap();
        assert!(
            json.ends_with(r#""unit":"ms","actual":"holds at 700ms, breaks at 800ms","breaking_point":true,"moved":"lower"}]}"#),
            "{json}"
        );
        let json = serde_json::to_string(&paused.runs[0]).unwrap();
        assert!(
            json.ends_with(r#""met_in":{"met":3,"of":5}}],"repeat":{"met":3,"of":5,"pass":4}}"#),
            "{json}"
        );
    }

    #[test]
    fn a_history_of_no_run_is_empty() {
        let h = GamedayHistory::with_tickets(&[], &[]);
        assert!(h.title.is_empty() && h.runs.is_empty() && h.scenarios.is_empty());
        assert!(h.series().is_empty() && h.tickets.is_empty());
    }

    #[test]
    fn the_json_keeps_its_field_names_and_order() {
        let runs = three_runs();
        let h = GamedayHistory::of(&refs(&runs));
        let json = serde_json::to_string(&h.scenarios[0]).unwrap();
        assert!(
            json.starts_with(r#"{"name":"paused","runs":[{"run_dir":"run-01","started_at":"2026-11-01T10:00:00Z","verdict":"met","checks":[{"text":"fallback","verdict":"met","value":null,"unit":"ms","actual":"#),
            "{json}"
        );
        assert!(!json.contains("\"run\":"), "{json}");
    }
}
