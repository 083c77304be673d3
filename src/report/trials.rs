//! A scenario run as trials, as the reports show it (handed to the
//! templates as `trials`, one entry per scenario, `null` for a scenario
//! run once): for a breaking-point search, its finding as a headline, the
//! range, resolution and `until` condition, and a row per trial in the
//! order run (the value tried, `until`'s measured figure, held or broke,
//! the verdict), with its chart in HTML ([`super::search_chart`]); for
//! `repeat`, how many trials met against how many must, a row per check
//! (met in k of n, flaky when met in some and not others, the 95%
//! interval, min, median and max) and a row per trial (its verdict and
//! each check's value). Built from `result.json`'s `trials` alone.

use serde::Serialize;

use crate::gameday::decode::say;
use crate::record::result::{ExpectationResult, ScenarioResult, ScenarioVerdict, show_value};
use crate::record::trials::{
    CheckSpread, RepeatFindings, SearchFindings, TrialResult, TrialsResult,
};

/// One scenario's trials as the templates read them.
#[derive(Debug, Clone, Serialize)]
pub(super) struct TrialsView {
    pub search: Option<SearchView>,
    pub repeat: Option<RepeatView>,
}

/// A breaking-point search.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SearchView {
    /// `Breaking point of x: holds at 900ms, breaks at 1000ms`, and why
    /// it stopped when it stopped early.
    pub headline: String,
    /// `bracket`, `holds_throughout`, `breaks_at_once` or `stopped`.
    pub found: String,
    /// `100ms to 1600ms`.
    pub range: String,
    /// `100ms`.
    pub resolution: String,
    pub most_trials: usize,
    /// The `until` condition in words: the system broke when it was met.
    pub until: String,
    pub vary: String,
    pub trials: Vec<SearchRow>,
    /// The chart's `<svg>` (HTML only).
    pub chart: Option<String>,
}

/// One trial of a search.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SearchRow {
    pub trial: usize,
    /// The value tried, as the faults were given it (`900ms`).
    pub value: String,
    /// `until`'s measured figure (`0%`), or what it said without one.
    pub measured: String,
    /// `held`, `broke`, or `not judged`.
    pub outcome: &'static str,
    pub verdict: ScenarioVerdict,
    pub error: Option<String>,
}

/// `repeat` over its trials.
#[derive(Debug, Clone, Serialize)]
pub(super) struct RepeatView {
    /// `met in 3 of 5 trials (pass needs 4)`.
    pub summary: String,
    pub stopped: Option<String>,
    pub checks: Vec<SpreadRow>,
    pub trials: Vec<RepeatRow>,
}

/// One check over the trials.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SpreadRow {
    pub text: String,
    /// `met in 5 of 5`, or `flaky: met in 3 of 5`.
    pub met: String,
    pub flaky: bool,
    /// The 95% interval of the share of trials meeting it: `23%-88%`.
    pub interval: String,
    pub min: String,
    pub median: String,
    pub max: String,
}

/// One trial of a repeat: its verdict, and per check (in the order of
/// [`RepeatView::checks`]) its value and whether it was met.
#[derive(Debug, Clone, Serialize)]
pub(super) struct RepeatRow {
    pub trial: usize,
    pub verdict: ScenarioVerdict,
    pub error: Option<String>,
    pub values: Vec<String>,
}

/// Per scenario (same order as `scenarios`), its trials' view; with its
/// search's chart when `charts`.
pub(super) fn views(scenarios: &[ScenarioResult], charts: bool) -> Vec<Option<TrialsView>> {
    scenarios
        .iter()
        .map(|s| s.trials.as_ref().map(|t| TrialsView::of(t, charts)))
        .collect()
}

impl TrialsView {
    pub(super) fn of(t: &TrialsResult, charts: bool) -> TrialsView {
        TrialsView {
            search: t.search.as_ref().map(|f| {
                let mut view = SearchView::of(f, &t.trials);
                if charts {
                    view.chart = super::search_chart::draw(f, &t.trials);
                }
                view
            }),
            repeat: t.repeat.as_ref().map(|r| RepeatView::of(r, &t.trials)),
        }
    }
}

/// The headline of a search: its finding, and why it stopped early.
pub(crate) fn headline(f: &SearchFindings) -> String {
    let mut text = format!("Breaking point of {}: {}", f.vary, f.finding);
    if let Some(why) = &f.stopped {
        text.push_str(&format!(" ({why})"));
    }
    text
}

impl SearchView {
    fn of(f: &SearchFindings, trials: &[TrialResult]) -> SearchView {
        SearchView {
            headline: headline(f),
            found: f.found.clone(),
            range: format!("{} to {}", say(f.unit, f.from), say(f.unit, f.to)),
            resolution: say(f.unit, f.resolution),
            most_trials: f.most_trials,
            until: f.until.clone(),
            vary: f.vary.clone(),
            trials: trials.iter().map(|t| SearchRow::of(f, t)).collect(),
            chart: None,
        }
    }
}

impl SearchRow {
    fn of(f: &SearchFindings, t: &TrialResult) -> SearchRow {
        SearchRow {
            trial: t.trial,
            value: match (&t.said, t.value) {
                (Some(said), _) => said.clone(),
                (None, Some(v)) => say(f.unit, v),
                (None, None) => "—".into(),
            },
            measured: t.until.as_ref().map_or_else(|| "—".into(), measured),
            outcome: held_or_broke(t.broke()),
            verdict: t.verdict,
            error: t.error.clone(),
        }
    }
}

/// A check's figure with its unit, or its words when it measured nothing.
fn measured(e: &ExpectationResult) -> String {
    match e.value {
        Some(_) => show_value(e.unit, &e.text, e.value),
        None => e.actual.clone(),
    }
}

/// A search trial's `until` as a word.
pub(crate) fn held_or_broke(broke: Option<bool>) -> &'static str {
    match broke {
        Some(true) => "broke",
        Some(false) => "held",
        None => "not judged",
    }
}

/// `met in 3 of 5 trials (pass needs 4)`.
pub(crate) fn repeat_summary(r: &RepeatFindings) -> String {
    let mut text = format!(
        "met in {} of {} trials (pass needs {})",
        r.met, r.ran, r.pass
    );
    if r.ran < r.times {
        text.push_str(&format!(", {} asked for", r.times));
    }
    text
}

impl RepeatView {
    fn of(r: &RepeatFindings, trials: &[TrialResult]) -> RepeatView {
        RepeatView {
            summary: repeat_summary(r),
            stopped: r.stopped.clone(),
            checks: r.checks.iter().map(SpreadRow::of).collect(),
            trials: trials
                .iter()
                .enumerate()
                .map(|(i, t)| RepeatRow::of(i, t, &r.checks))
                .collect(),
        }
    }
}

/// `met in 5 of 5`, or `flaky: met in 3 of 5`.
pub(crate) fn met_count(c: &CheckSpread) -> String {
    let flaky = if c.flaky() { "flaky: " } else { "" };
    format!("{flaky}met in {} of {}", c.met, c.of)
}

impl SpreadRow {
    fn of(c: &CheckSpread) -> SpreadRow {
        let show = |v: Option<f64>| show_value(c.unit, &c.text, v);
        SpreadRow {
            text: c.text.clone(),
            met: met_count(c),
            flaky: c.flaky(),
            interval: format!("{:.0}%-{:.0}%", c.met_low, c.met_high),
            min: show(c.min),
            median: show(c.median),
            max: show(c.max),
        }
    }
}

impl RepeatRow {
    /// Trial `t`, the `i`th run: each check's value in it (from the
    /// spread, which has one per trial), marked met or not.
    fn of(i: usize, t: &TrialResult, checks: &[CheckSpread]) -> RepeatRow {
        let values = checks
            .iter()
            .map(|c| {
                let judged = t.expectations.iter().find(|e| e.text == c.text);
                let value = c.values.get(i).copied().flatten();
                match (judged, value) {
                    (Some(e), Some(v)) => format!(
                        "{} {}",
                        show_value(c.unit, &c.text, Some(v)),
                        mark(e.is_met())
                    ),
                    (Some(e), None) => format!("{} {}", mark(e.is_met()), e.actual),
                    (None, Some(v)) => show_value(c.unit, &c.text, Some(v)),
                    (None, None) => "—".into(),
                }
            })
            .collect();
        RepeatRow {
            trial: t.trial,
            verdict: t.verdict,
            error: t.error.clone(),
            values,
        }
    }
}

fn mark(met: bool) -> &'static str {
    if met { "✓" } else { "✗" }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// A search of `x` from 100ms to 1600ms by 100ms: trials at 1600
    /// (broke), 800 (held), 1200 (broke), 1000 (broke), 900 (held);
    /// `until` is `login: success_rate < 50% during fault`.
    pub(crate) fn search() -> TrialsResult {
        let trial = |n: usize, x: f64, ok: f64, broke: bool| {
            json!({
                "trial": n, "verdict": "met", "started_ms": 1000.0 * n as f64,
                "duration_ms": 900.0, "value": x, "said": format!("{x}ms"),
                "until": {
                    "text": "login: success_rate < 50% during fault", "probe": "login",
                    "verdict": if broke { "met" } else { "not_met" },
                    "actual": format!("measured {ok}%"), "value": ok,
                    "check": "success_rate", "unit": "percent",
                },
                "expectations": [], "faults": [],
            })
        };
        serde_json::from_value(json!({
            "trials": [
                trial(1, 1600.0, 0.0, true), trial(2, 800.0, 95.0, false),
                trial(3, 1200.0, 0.0, true), trial(4, 1000.0, 10.0, true),
                trial(5, 900.0, 80.0, false),
            ],
            "search": {
                "vary": "x", "unit": "ms", "from": 100.0, "to": 1600.0,
                "resolution": 100.0, "until": "login: success_rate < 50% during fault",
                "most_trials": 6, "found": "bracket", "holds_at": 900.0,
                "breaks_at": 1000.0, "finding": "holds at 900ms, breaks at 1000ms",
            },
        }))
        .unwrap()
    }

    /// Five trials, 4 must pass: `latency` met in 3 (flaky), `errors` in all.
    fn repeat() -> TrialsResult {
        let trial = |n: usize, latency: f64, met: bool| {
            json!({
                "trial": n, "verdict": if met { "met" } else { "not_met" },
                "started_ms": 0.0, "duration_ms": 1.0,
                "expectations": [
                    {"text": "api: latency_p99 < 500ms during fault", "probe": "api",
                     "verdict": if met { "met" } else { "not_met" },
                     "actual": "measured", "value": latency, "unit": "ms"},
                    {"text": "api: success_rate >= 99% during fault", "probe": "api",
                     "verdict": "met", "actual": "measured 100%", "value": 100.0, "unit": "percent"},
                ],
                "faults": [],
            })
        };
        serde_json::from_value(json!({
            "trials": [trial(1, 120.0, true), trial(2, 700.0, false), trial(3, 130.0, true),
                       trial(4, 650.0, false), trial(5, 110.0, true)],
            "repeat": {
                "times": 5, "pass": 4, "ran": 5, "met": 3,
                "checks": [
                    {"text": "api: latency_p99 < 500ms during fault", "met": 3, "of": 5,
                     "met_low": 23.07, "met_high": 88.24,
                     "values": [120.0, 700.0, 130.0, 650.0, 110.0], "unit": "ms",
                     "min": 110.0, "median": 130.0, "max": 700.0},
                    {"text": "api: success_rate >= 99% during fault", "met": 5, "of": 5,
                     "met_low": 56.55, "met_high": 100.0,
                     "values": [100.0, 100.0, 100.0, 100.0, 100.0], "unit": "percent",
                     "min": 100.0, "median": 100.0, "max": 100.0},
                ],
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_search_shows_its_finding_range_and_each_trial_in_order() {
        let view = TrialsView::of(&search(), false).search.unwrap();
        assert_eq!(
            view.headline,
            "Breaking point of x: holds at 900ms, breaks at 1000ms"
        );
        assert_eq!(
            (view.range.as_str(), view.resolution.as_str()),
            ("100ms to 1600ms", "100ms")
        );
        let rows: Vec<(usize, &str, &str, &str)> = view
            .trials
            .iter()
            .map(|r| (r.trial, r.value.as_str(), r.measured.as_str(), r.outcome))
            .collect();
        assert_eq!(rows[0], (1, "1600ms", "0%", "broke"));
        assert_eq!(rows[1], (2, "800ms", "95%", "held"));
        assert_eq!(rows.len(), 5);
        assert!(view.chart.is_none());
        assert!(
            TrialsView::of(&search(), true)
                .search
                .unwrap()
                .chart
                .is_some()
        );
    }

    #[test]
    fn a_search_stopped_early_says_why() {
        let mut t = search();
        let f = t.search.as_mut().unwrap();
        f.found = "stopped".into();
        f.finding = "stopped early: held at 900ms, broke at 1000ms".into();
        f.stopped = Some("the steady state was not met again".into());
        assert_eq!(
            headline(f),
            "Breaking point of x: stopped early: held at 900ms, broke at 1000ms (the steady state was not met again)"
        );
    }

    #[test]
    fn a_repeat_shows_its_count_its_flaky_checks_and_each_trial() {
        let view = TrialsView::of(&repeat(), false).repeat.unwrap();
        assert_eq!(view.summary, "met in 3 of 5 trials (pass needs 4)");
        let latency = &view.checks[0];
        assert_eq!(latency.met, "flaky: met in 3 of 5");
        assert!(latency.flaky);
        assert_eq!(latency.interval, "23%-88%");
        assert_eq!(
            (
                latency.min.as_str(),
                latency.median.as_str(),
                latency.max.as_str()
            ),
            ("110ms", "130ms", "700ms")
        );
        assert_eq!(view.checks[1].met, "met in 5 of 5");
        assert!(!view.checks[1].flaky);
        assert_eq!(view.trials[1].values, ["700ms ✗", "100% ✓"]);
        assert_eq!(view.trials[1].verdict, ScenarioVerdict::NotMet);
    }
}
