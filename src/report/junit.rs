//! `junit.xml`: one test suite per gameday, one test case per expectation
//! (class name: the scenario), so CI systems show gameday results. A check
//! not met is a failure carrying expected vs measured; a scenario that could
//! not run its faults is an error; one never reached is skipped.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::record::followup::FollowUp;
use crate::record::result::{RunResult, ScenarioVerdict};

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
    for f in followups {
        suite.add_property((
            format!("followup.{}", f.id).as_str(),
            format!("{}: {}", f.state.word(), f.target).as_str(),
        ));
    }
    for scenario in &result.scenarios {
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
