//! `junit.xml`: one test suite per gameday, one test case per expectation
//! (class name: the scenario), so CI systems show gameday results. A check
//! not met is a failure carrying expected vs measured; a scenario that could
//! not run its faults is an error; one never reached is skipped. A
//! scenario run as trials stays one test case (`NAME (trials)`), judged by
//! the scenario's verdict: its failure and its output carry the trials'
//! finding (a search's breaking point, how many repeats met) and each
//! check over the trials; each trial is a property of the suite
//! (`trial.NAME.3`), as the JUnit schema has no properties on a test case.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::detection::DetectionView;
use super::trials::TrialsView;
use crate::record::followup::FollowUp;
use crate::record::result::{RunResult, ScenarioResult, ScenarioVerdict};
use crate::record::trials::TrialsResult;

pub(crate) fn render(result: &RunResult, followups: &[FollowUp]) -> Result<String, String> {
    let mut report = Report::new("gameday");
    let mut suite = TestSuite::new(result.gameday.title.clone());
    suite.set_timestamp(result.started_at);
    suite.set_time(Duration::from_secs_f64(
        result.duration_ms.max(0.0) / 1000.0,
    ));
    suite.add_property(("environment", result.gameday.environment.as_str()));
    suite.add_property(("scope", result.gameday.scope.as_str()));
    suite.add_property(("run_id", result.run_id.as_str()));
    suite.add_property(("outcome", result.outcome.key()));
    // The readiness checklist, one property per item: `checklist.2` =
    // `not_met: Fails fast when a dependency hangs`.
    for (i, item) in result.checklist.iter().enumerate() {
        suite.add_property((
            format!("checklist.{}", i + 1).as_str(),
            format!("{}: {}", item.status.key(), item.item).as_str(),
        ));
    }
    // A load probe's figures over the run: `load.checkout.throughput_per_s`, ...
    for probe in &result.probes {
        let Some(load) = &probe.load else { continue };
        let mut figures = vec![
            ("requests", load.requests.to_string()),
            ("throughput_per_s", format!("{:.1}", load.throughput_per_s)),
            ("sent_per_s", format!("{:.1}", load.sent_per_s)),
            ("generator_limited", load.generator_limited.to_string()),
        ];
        for (name, ms) in [
            ("latency_p50_ms", load.latency_p50_ms),
            ("latency_p99_ms", load.latency_p99_ms),
            ("latency_p999_ms", load.latency_p999_ms),
        ] {
            if let Some(ms) = ms {
                figures.push((name, format!("{ms:.3}")));
            }
        }
        let errors: Vec<String> = load
            .errors_by_status
            .iter()
            .map(|(status, n)| format!("{status} ×{n}"))
            .collect();
        if !errors.is_empty() {
            figures.push(("errors_by_status", errors.join(", ")));
        }
        for (name, value) in figures {
            suite.add_property((
                format!("load.{}.{name}", probe.name).as_str(),
                value.as_str(),
            ));
        }
    }
    detection_properties(&mut suite, result);
    for f in followups {
        suite.add_property((
            format!("followup.{}", f.id).as_str(),
            format!("{}: {}", f.state.word(), f.target).as_str(),
        ));
    }
    for scenario in &result.scenarios {
        if let Some(trials) = &scenario.trials {
            trial_properties(&mut suite, scenario, trials);
            suite.add_test_case(trials_case(scenario, trials));
            continue;
        }
        let time = Duration::from_secs_f64(scenario.duration_ms.max(0.0) / 1000.0);
        if scenario.expectations.is_empty() {
            let status = match scenario.verdict {
                ScenarioVerdict::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message("not run: the gameday stopped before this scenario");
                    s
                }
                ScenarioVerdict::Error => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(scenario.error.clone().unwrap_or_else(|| "error".into()));
                    s
                }
                ScenarioVerdict::Met | ScenarioVerdict::NotMet | ScenarioVerdict::Aborted => {
                    TestCaseStatus::success()
                }
            };
            let mut case = TestCase::new(format!("{} (scenario)", scenario.name), status);
            case.set_classname(scenario.name.clone());
            case.set_time(time);
            suite.add_test_case(case);
            continue;
        }
        let share = time
            / u32::try_from(scenario.expectations.len())
                .unwrap_or(1)
                .max(1);
        for e in &scenario.expectations {
            let status = if e.is_met() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("expectation not met");
                s.set_message(format!("expected {}: {}", e.text, e.actual));
                s.set_description(format!(
                    "scenario: {}\nexpected: {}\nresult: {}\nteam's words: {}",
                    scenario.name,
                    e.text,
                    e.actual,
                    scenario.expected.as_deref().unwrap_or("-")
                ));
                s
            };
            let mut case = TestCase::new(e.text.clone(), status);
            case.set_classname(scenario.name.clone());
            case.set_time(share);
            case.set_system_out(format!("{}: {}", e.verdict.key(), e.actual));
            suite.add_test_case(case);
        }
    }
    if !result.observations.is_empty() {
        let lines: Vec<String> = result
            .observations
            .iter()
            .map(|o| format!("{} observation by {}: {}", o.offset, o.by, o.text))
            .collect();
        suite.set_system_out(lines.join("\n"));
    }
    report.add_test_suite(suite);
    report.to_string().map_err(|e| e.to_string())
}

/// The trials' finding in one line: a search's breaking point, or how many
/// repeats met.
fn finding(trials: &TrialsResult) -> String {
    let mut lines = Vec::new();
    if let Some(f) = &trials.search {
        lines.push(super::trials::headline(f));
    }
    if let Some(r) = &trials.repeat {
        lines.push(format!("Repeated: {}", super::trials::repeat_summary(r)));
    }
    lines.join("; ")
}

/// A scenario run as trials, as one test case.
fn trials_case(scenario: &ScenarioResult, trials: &TrialsResult) -> TestCase {
    let finding = finding(trials);
    let checks: Vec<String> = scenario
        .expectations
        .iter()
        .map(|e| format!("{} {}: {}", e.verdict.key(), e.text, e.actual))
        .collect();
    let status = match scenario.verdict {
        ScenarioVerdict::Met => TestCaseStatus::success(),
        ScenarioVerdict::NotMet | ScenarioVerdict::Aborted => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("trials not met");
            s.set_message(finding.clone());
            s.set_description(format!(
                "scenario: {}\n{finding}\n{}\nteam's words: {}",
                scenario.name,
                checks.join("\n"),
                scenario.expected.as_deref().unwrap_or("-")
            ));
            s
        }
        ScenarioVerdict::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let error = scenario.error.clone().unwrap_or_else(|| "error".into());
            s.set_message(format!("{error}; {finding}"));
            s
        }
        ScenarioVerdict::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message("not run: the gameday stopped before this scenario");
            s
        }
    };
    let mut case = TestCase::new(format!("{} (trials)", scenario.name), status);
    case.set_classname(scenario.name.clone());
    case.set_time(Duration::from_secs_f64(
        scenario.duration_ms.max(0.0) / 1000.0,
    ));
    case.set_system_out(format!("{finding}\n{}", checks.join("\n")));
    case
}

/// Each trial as a suite property: `trial.NAME.1` = `met: x = 1600ms,
/// broke (until measured 0%)` for a search, `not met: CHECK VALUE; ...`
/// for a repeat.
fn trial_properties(suite: &mut TestSuite, scenario: &ScenarioResult, trials: &TrialsResult) {
    let view = TrialsView::of(trials, false);
    let mut lines: Vec<(usize, String)> = Vec::new();
    if let Some(search) = &view.search {
        lines.extend(search.trials.iter().map(|r| {
            (
                r.trial,
                format!(
                    "{}: {} = {}, {} (until measured {})",
                    r.verdict.word(),
                    search.vary,
                    r.value,
                    r.outcome,
                    r.measured
                ),
            )
        }));
    }
    if let Some(repeat) = &view.repeat {
        lines.extend(repeat.trials.iter().map(|r| {
            let checks: Vec<String> = repeat
                .checks
                .iter()
                .zip(&r.values)
                .map(|(c, v)| format!("{} {v}", c.text))
                .collect();
            (
                r.trial,
                format!("{}: {}", r.verdict.word(), checks.join("; ")),
            )
        }));
    }
    for (trial, line) in lines {
        suite.add_property((
            format!("trial.{}.{trial}", scenario.name).as_str(),
            line.as_str(),
        ));
    }
}

/// Who noticed what, when, as properties: `detection.alert_coverage`,
/// `detection.median_time_to_detect`, and per scenario
/// `detection.NAME.class`, `.users_hurt`, `.first_alert`, ... (after the
/// fault, and the lag after users were hurt).
fn detection_properties(suite: &mut TestSuite, result: &RunResult) {
    let Some(view) = super::detection::view(result) else {
        return;
    };
    let DetectionView {
        rows,
        coverage,
        median,
        ..
    } = view;
    suite.add_property(("detection.alert_coverage", coverage.as_str()));
    suite.add_property(("detection.median_time_to_detect", median.as_str()));
    for r in rows {
        for (name, value) in [
            ("class", r.class.to_string()),
            ("users_hurt", r.hurt),
            ("first_alert", r.alert),
            ("first_person", r.person),
            ("mitigated", r.mitigated),
            ("recovered", r.recovered),
        ] {
            suite.add_property((
                format!("detection.{}.{name}", r.scenario).as_str(),
                value.as_str(),
            ));
        }
    }
}
