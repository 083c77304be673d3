//! Pure: a scenario's trials, each judged as a scenario of its own, folded
//! back into one [`ScenarioResult`] with its [`TrialsResult`]:
//!
//! - `repeat`: met when at least `pass` trials met every check; each check
//!   says in how many trials it was met (with the 95% Wilson interval of
//!   that share) and its value's spread (min, median, max);
//! - `search`: met when the search found where the system breaks (or that
//!   it holds throughout, or breaks at once); one check line states the
//!   finding, its value the lowest value that broke.
//!
//! A trial aborted (halt, signal) makes the scenario aborted; a trial in
//! error, or trials stopped before they could decide, an error.

use super::bisect::Found;
use super::trials::Trial;
use crate::expect::{CheckVerdict, Windows};
use crate::gameday::decode::say;
use crate::gameday::model::{Scenario, Search};
use crate::plan::Plan;
use crate::record::result::{ExpectationResult, ScenarioResult, ScenarioVerdict, TimelineEntry};
use crate::record::trials::{
    CheckSpread, RepeatFindings, SearchFindings, TrialResult, TrialsResult, wilson,
};

/// Each scenario result with, beside it, its trial mark (and its start,
/// when it is a trial): consecutive trials of one scenario become one.
pub(crate) fn fold(
    plan: &Plan,
    results: Vec<(ScenarioResult, usize, Option<Trial>)>,
    timeline: &[TimelineEntry],
) -> Vec<ScenarioResult> {
    let mut out: Vec<ScenarioResult> = Vec::new();
    let mut group: Vec<(ScenarioResult, Trial)> = Vec::new();
    let mut group_index = usize::MAX;
    for (result, index, trial) in results {
        if !group.is_empty() && (trial.is_none() || index != group_index) {
            out.push(one(plan, group_index, std::mem::take(&mut group), timeline));
        }
        match trial {
            Some(trial) => {
                group_index = index;
                group.push((result, trial));
            }
            None => out.push(result),
        }
    }
    if !group.is_empty() {
        out.push(one(plan, group_index, group, timeline));
    }
    out
}

/// One scenario from its trials (at least one).
fn one(
    plan: &Plan,
    index: usize,
    trials: Vec<(ScenarioResult, Trial)>,
    timeline: &[TimelineEntry],
) -> ScenarioResult {
    let scenario = &plan.gameday.scenarios[index];
    let since = trials.first().map_or(0.0, |(_, t)| t.since_ms);
    let end = trials
        .last()
        .and_then(|(r, _)| r.windows.map(|w| w.end))
        .unwrap_or(since);
    let ending = trials
        .last()
        .and_then(|(_, t)| t.end.clone())
        .unwrap_or_default();
    let windows = spanning(&trials);
    let probe_effects = trials
        .first()
        .map(|(r, _)| r.probe_effects.clone())
        .unwrap_or_default();
    // Who noticed what, when: said of the first trial.
    let detection = trials.first().and_then(|(r, _)| r.detection.clone());
    let mut faults = Vec::new();
    let mut ledgers = Vec::new();
    let mut records = Vec::new();
    for (result, trial) in trials {
        faults.extend(result.faults.iter().cloned());
        ledgers.extend(result.ledgers.iter().cloned());
        records.push(trial_record(scenario, result, trial));
    }
    let aborted = records
        .iter()
        .find(|t| t.verdict == ScenarioVerdict::Aborted);
    let failed = records.iter().find(|t| t.verdict == ScenarioVerdict::Error);
    let (mut verdict, mut error) = match (aborted, failed) {
        (Some(t), _) => (ScenarioVerdict::Aborted, t.error.clone()),
        (None, Some(t)) => (
            ScenarioVerdict::Error,
            Some(format!(
                "trial {}: {}",
                t.trial,
                t.error.as_deref().unwrap_or("error")
            )),
        ),
        (None, None) => (ScenarioVerdict::Met, None),
    };
    let (expectations, found) = match &scenario.search {
        Some(search) => {
            let findings = search_findings(search, &records, ending.found, ending.stopped);
            let line = finding_line(search, &findings);
            (vec![line], Findings::Search(findings))
        }
        None => {
            let findings = repeat_findings(scenario, &records, ending.stopped.clone());
            let lines = findings
                .checks
                .iter()
                .zip(&scenario.expect)
                .map(|(c, e)| spread_line(e, c, findings.pass))
                .collect();
            (lines, Findings::Repeat(findings))
        }
    };
    if verdict == ScenarioVerdict::Met {
        (verdict, error) = judged(&found);
    }
    let (repeat, search) = match found {
        Findings::Repeat(r) => (Some(r), None),
        Findings::Search(s) => (None, Some(s)),
    };
    ScenarioResult {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        expected: scenario.expected.clone(),
        verdict,
        error,
        duration_ms: end - since,
        expectations,
        faults,
        ledgers,
        windows,
        timeline: timeline
            .iter()
            .filter(|t| t.t_ms >= since && t.t_ms <= end)
            .cloned()
            .collect(),
        probe_effects,
        detection,
        checklist: scenario.checklist.clone(),
        trials: Some(TrialsResult {
            trials: records,
            repeat,
            search,
        }),
    }
}

enum Findings {
    Repeat(RepeatFindings),
    Search(SearchFindings),
}

/// The verdict of trials none of which was aborted or in error.
fn judged(found: &Findings) -> (ScenarioVerdict, Option<String>) {
    match found {
        Findings::Search(s) => match &s.stopped {
            Some(why) => (
                ScenarioVerdict::Error,
                Some(format!("the search stopped: {why}")),
            ),
            None => (ScenarioVerdict::Met, None),
        },
        Findings::Repeat(r) if r.met >= r.pass => (ScenarioVerdict::Met, None),
        Findings::Repeat(r) => match &r.stopped {
            Some(why) => (
                ScenarioVerdict::Error,
                Some(format!(
                    "the trials stopped after {} of {}: {why}",
                    r.ran, r.times
                )),
            ),
            None => (ScenarioVerdict::NotMet, None),
        },
    }
}

/// The trials' windows as one: from the first's apply to the last's end.
fn spanning(trials: &[(ScenarioResult, Trial)]) -> Option<Windows> {
    let first = trials.iter().find_map(|(r, _)| r.windows)?;
    let last = trials.iter().rev().find_map(|(r, _)| r.windows)?;
    Some(Windows {
        revert_start: last.revert_start,
        end: last.end,
        self_healing_from: None,
        ..first
    })
}

fn trial_record(scenario: &Scenario, result: ScenarioResult, trial: Trial) -> TrialResult {
    let (value, said) = match trial.point {
        Some((_, value, said)) => (Some(value), Some(said)),
        None => (None, None),
    };
    let until = match (&scenario.search, trial.until) {
        (Some(search), Some(evaluation)) => Some(ExpectationResult::new(&search.until, evaluation)),
        _ => None,
    };
    TrialResult {
        trial: trial.number,
        verdict: result.verdict,
        error: result.error,
        started_ms: result.windows.map_or(trial.since_ms, |w| w.apply_start),
        duration_ms: result.duration_ms,
        value,
        said,
        until,
        expectations: result.expectations,
        faults: result.faults,
        windows: result.windows,
    }
}

fn repeat_findings(
    scenario: &Scenario,
    trials: &[TrialResult],
    stopped: Option<String>,
) -> RepeatFindings {
    let times = scenario.repeat.unwrap_or(1);
    let pass = scenario.pass.unwrap_or(times);
    let ran: Vec<&TrialResult> = trials
        .iter()
        .filter(|t| matches!(t.verdict, ScenarioVerdict::Met | ScenarioVerdict::NotMet))
        .collect();
    let met = ran
        .iter()
        .filter(|t| t.verdict == ScenarioVerdict::Met)
        .count();
    let checks = scenario
        .expect
        .iter()
        .enumerate()
        .map(|(c, e)| {
            let judged: Vec<&ExpectationResult> =
                ran.iter().filter_map(|t| t.expectations.get(c)).collect();
            let met = judged
                .iter()
                .filter(|x| x.verdict == CheckVerdict::Met)
                .count();
            let values: Vec<Option<f64>> = judged.iter().map(|x| x.value).collect();
            let (min, median, max) = spread(&values);
            let (met_low, met_high) = wilson(met as u32, judged.len() as u32);
            CheckSpread {
                text: e.to_string(),
                met: met as u32,
                of: judged.len() as u32,
                met_low,
                met_high,
                values,
                unit: Some(e.check.kind().unit()),
                min,
                median,
                max,
            }
        })
        .collect();
    RepeatFindings {
        times,
        pass,
        ran: ran.len() as u32,
        met: met as u32,
        checks,
        stopped,
    }
}

/// Min, median and max of the values measured.
fn spread(values: &[Option<f64>]) -> (Option<f64>, Option<f64>, Option<f64>) {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return (None, None, None);
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (v.first().copied(), Some(median), v.last().copied())
}

/// A check over the trials, as one line of the scenario's checks.
fn spread_line(
    e: &crate::gameday::model::Expectation,
    c: &CheckSpread,
    pass: u32,
) -> ExpectationResult {
    let kind = e.check.kind();
    let unit = kind.unit();
    let show = |v: Option<f64>| {
        v.map(|v| crate::record::result::show_value(Some(unit), "", Some(v)))
            .unwrap_or_else(|| "-".into())
    };
    let flaky = if c.flaky() { "flaky: " } else { "" };
    let mut actual = format!(
        "{flaky}met in {} of {} trials (95% interval {:.0}%-{:.0}%)",
        c.met, c.of, c.met_low, c.met_high
    );
    if c.median.is_some() {
        actual.push_str(&format!(
            "; min {}, median {}, max {}",
            show(c.min),
            show(c.median),
            show(c.max)
        ));
    }
    ExpectationResult {
        text: c.text.clone(),
        probe: e.probe.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        verdict: if c.met >= pass.min(c.of.max(1)) && c.of > 0 {
            CheckVerdict::Met
        } else {
            CheckVerdict::NotMet
        },
        actual,
        value: c.median,
        check: Some(kind.key().to_string()),
        unit: Some(unit),
        relative: None,
    }
}

fn search_findings(
    search: &Search,
    trials: &[TrialResult],
    found: Option<Found>,
    stopped: Option<String>,
) -> SearchFindings {
    let at = |point: usize| search.points.get(point).map(|p| p.value);
    let said = |v: f64| say(search.unit, v);
    let (kind, holds_at, breaks_at, finding) = match found {
        Some(Found::Bracket { holds, breaks }) => {
            let (h, b) = (at(holds), at(breaks));
            let text = format!(
                "holds at {}, breaks at {}",
                h.map(said).unwrap_or_default(),
                b.map(said).unwrap_or_default()
            );
            ("bracket", h, b, text)
        }
        Some(Found::HoldsThroughout) => (
            "holds_throughout",
            Some(search.to),
            None,
            format!(
                "holds at {} (the top of the range): no breaking point in range",
                said(search.to)
            ),
        ),
        Some(Found::BreaksAtOnce) => (
            "breaks_at_once",
            None,
            Some(search.from),
            format!(
                "breaks already at {} (the bottom of the range)",
                said(search.from)
            ),
        ),
        None => {
            let held = trials
                .iter()
                .filter(|t| t.broke() == Some(false))
                .filter_map(|t| t.value)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let broke = trials
                .iter()
                .filter(|t| t.broke() == Some(true))
                .filter_map(|t| t.value)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
            let text = match (held, broke) {
                (Some(h), Some(b)) => {
                    format!("stopped early: held at {}, broke at {}", said(h), said(b))
                }
                (Some(h), None) => format!("stopped early: held at {}", said(h)),
                (None, Some(b)) => format!("stopped early: broke at {}", said(b)),
                (None, None) => "stopped before any trial was judged".to_string(),
            };
            ("stopped", held, broke, text)
        }
    };
    SearchFindings {
        vary: search.vary.clone(),
        unit: search.unit,
        from: search.from,
        to: search.to,
        resolution: search.resolution,
        until: search.until.to_string(),
        most_trials: search.most_trials(),
        found: kind.to_string(),
        holds_at,
        breaks_at,
        finding,
        stopped,
    }
}

/// The search's finding as the scenario's one check line.
fn finding_line(search: &Search, f: &SearchFindings) -> ExpectationResult {
    let judged = trials_word(f);
    ExpectationResult {
        text: format!("breaking point of {}: until {}", search.vary, search.until),
        probe: search.until.probe.name.clone(),
        verdict: if f.stopped.is_none() {
            CheckVerdict::Met
        } else {
            CheckVerdict::NotMet
        },
        actual: format!("{}{judged}", f.finding),
        value: f.breaks_at,
        check: Some("breaking_point".to_string()),
        unit: Some(search.unit),
        relative: None,
    }
}

fn trials_word(f: &SearchFindings) -> String {
    match &f.stopped {
        Some(why) => format!(" ({why})"),
        None => String::new(),
    }
}
