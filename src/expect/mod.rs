//! Expectations evaluated over the windows of a scenario: pure functions from
//! samples to a verdict that says what was expected and what was measured
//! ("success_rate >= 99%: measured 97.2% (95 of 98 samples ok)").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gameday::model::{Check, Expectation, Window};
use crate::gameday::units::{CmpOp, Comparison, HumanDuration};
use crate::probe::ProbeSample;

/// The moments of one scenario, in ms since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Windows {
    /// The baseline of the run: [start, end).
    pub baseline: (f64, f64),
    /// When the first fault was requested.
    pub apply_start: f64,
    /// Every fault applied: the fault window starts.
    pub fault_start: f64,
    /// The first revert was requested: the fault window ends.
    pub revert_start: f64,
    /// End of the cooldown.
    pub end: f64,
    /// When nothing was left for gameday to revert (a swarm task killed,
    /// `restore: false`), the system heals on its own from the moment the
    /// faults were in place: `recovers_within` counts from here instead of
    /// from the revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_healing_from: Option<f64>,
}

impl Windows {
    pub fn range(&self, window: Window) -> (f64, f64) {
        match window {
            Window::Before => self.baseline,
            Window::Fault => (self.fault_start, self.revert_start),
            Window::After => (self.revert_start, self.end),
        }
    }
}

/// Whether one expectation held (`met`, `not_met` in `result.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    NotMet,
}

impl Verdict {
    /// As `result.json` writes it: `met`, `not_met`.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "not_met",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub verdict: Verdict,
    /// What was measured, in words.
    pub actual: String,
    /// The measured number, for tools comparing runs (%, ms, or count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

fn verdict(met: bool) -> Verdict {
    if met { Verdict::Met } else { Verdict::NotMet }
}

/// `230ms`, `1.52s`, `2m30s` (see [`crate::gameday::units::fmt_ms`]).
pub(crate) use crate::gameday::units::fmt_ms;

fn fmt_pct(p: f64) -> String {
    let t = format!("{p:.1}");
    format!("{}%", t.trim_end_matches(".0"))
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// "503 ×28, 200 ×2, no response ×1", most frequent first.
fn tally(values: impl Iterator<Item = String>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut list: Vec<(String, usize)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list.iter()
        .map(|(v, n)| format!("{v} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The samples that ran entirely inside a window: a request in flight when
/// the fault was reverted saw both states and belongs to neither.
pub(crate) fn within(samples: &[ProbeSample], (from, to): (f64, f64)) -> Vec<&ProbeSample> {
    samples
        .iter()
        .filter(|s| s.t_ms >= from && s.end_ms() <= to)
        .collect()
}

/// Median latency and success rate of the samples in a window.
pub(crate) fn summarize(samples: &[ProbeSample], window: (f64, f64)) -> (Option<f64>, Option<f64>) {
    let inside = within(samples, window);
    if inside.is_empty() {
        return (None, None);
    }
    let mut latencies: Vec<f64> = inside.iter().map(|s| s.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let ok = inside.iter().filter(|s| s.ok).count();
    (
        percentile(&latencies, 50.0),
        Some(ok as f64 * 100.0 / inside.len() as f64),
    )
}

/// A latency percentile of the window against its limit; `None` without samples.
fn latency(
    in_window: &[&ProbeSample],
    cmp: &Comparison<HumanDuration>,
    label: &str,
    p: f64,
) -> Option<Evaluation> {
    if in_window.is_empty() {
        return None;
    }
    let mut latencies: Vec<f64> = in_window.iter().map(|s| s.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let measured = percentile(&latencies, p).unwrap_or_default();
    let limit = cmp.value.as_std().as_secs_f64() * 1000.0;
    Some(Evaluation {
        verdict: verdict(cmp.op.holds(&measured, &limit)),
        actual: format!(
            "measured {label} {} over {} samples",
            fmt_ms(measured),
            in_window.len()
        ),
        value: Some(measured),
    })
}

/// Evaluate one expectation over the samples of its probe (sorted by start).
pub(crate) fn evaluate(
    expectation: &Expectation,
    samples: &[ProbeSample],
    windows: &Windows,
) -> Evaluation {
    let (from, to) = windows.range(expectation.during);
    let in_window = within(samples, (from, to));
    let n = in_window.len();
    let empty = || Evaluation {
        verdict: Verdict::NotMet,
        actual: format!(
            "no samples in the {} window ({})",
            expectation.during.name(),
            fmt_ms(to - from)
        ),
        value: None,
    };
    match &expectation.check {
        Check::SuccessRate(cmp) => {
            if n == 0 {
                return empty();
            }
            let ok = in_window.iter().filter(|s| s.ok).count();
            let rate = ok as f64 * 100.0 / n as f64;
            Evaluation {
                verdict: verdict(cmp.op.holds(&rate, &cmp.value.0)),
                actual: format!("measured {} ({ok} of {n} samples ok)", fmt_pct(rate)),
                value: Some(rate),
            }
        }
        Check::Status(spec) => {
            if n == 0 {
                return empty();
            }
            every_sample(
                &in_window,
                |s| s.status.is_some_and(|st| spec.matches(st)),
                |s| match s.status {
                    Some(st) => st.to_string(),
                    None => "no response".to_string(),
                },
            )
        }
        Check::LatencyP50(cmp) => latency(&in_window, cmp, "p50", 50.0).unwrap_or_else(empty),
        Check::LatencyP95(cmp) => latency(&in_window, cmp, "p95", 95.0).unwrap_or_else(empty),
        Check::LatencyP99(cmp) => latency(&in_window, cmp, "p99", 99.0).unwrap_or_else(empty),
        Check::LatencyMax(cmp) => latency(&in_window, cmp, "max", 100.0).unwrap_or_else(empty),
        Check::RecoversWithin(limit) if windows.self_healing_from.is_some() => {
            // Nothing to revert: from the fault, the first success after
            // the first failure.
            let from = windows.self_healing_from.unwrap_or(windows.revert_start);
            let limit_ms = limit.as_std().as_secs_f64() * 1000.0;
            let since: Vec<&ProbeSample> = samples
                .iter()
                .filter(|s| s.t_ms >= from && s.end_ms() <= windows.end)
                .collect();
            let Some(first_fail) = since.iter().position(|s| !s.ok) else {
                return Evaluation {
                    verdict: Verdict::Met,
                    actual: format!(
                        "never failed after the fault ({} samples); nothing to recover from",
                        since.len()
                    ),
                    value: Some(0.0),
                };
            };
            match since[first_fail..].iter().find(|s| s.ok) {
                Some(first_ok) => {
                    let measured = (first_ok.end_ms() - from).max(0.0);
                    Evaluation {
                        verdict: verdict(measured <= limit_ms),
                        actual: format!(
                            "recovered on its own {} after the fault (nothing for gameday to revert)",
                            fmt_ms(measured)
                        ),
                        value: Some(measured),
                    }
                }
                None => Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!(
                        "did not recover: no successful sample in the {} after the fault",
                        fmt_ms(windows.end - from)
                    ),
                    value: None,
                },
            }
        }
        Check::RecoversWithin(limit) => {
            let limit_ms = limit.as_std().as_secs_f64() * 1000.0;
            let after: Vec<&&ProbeSample> = in_window.iter().collect();
            let failed_before = after.first().is_some_and(|s| !s.ok);
            match after.iter().find(|s| s.ok) {
                Some(first_ok) => {
                    let measured = (first_ok.end_ms() - windows.revert_start).max(0.0);
                    let how = if failed_before {
                        "recovered"
                    } else {
                        "was already succeeding"
                    };
                    Evaluation {
                        verdict: verdict(measured <= limit_ms),
                        actual: format!("{how} {} after the revert", fmt_ms(measured)),
                        value: Some(measured),
                    }
                }
                None => Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!(
                        "did not recover: no successful sample in the {} after the revert ({n} samples)",
                        fmt_ms(to - from)
                    ),
                    value: None,
                },
            }
        }
        Check::FailsWithin(limit) => {
            let limit_ms = limit.as_std().as_secs_f64() * 1000.0;
            let held: Vec<&ProbeSample> = samples
                .iter()
                .filter(|s| s.t_ms >= windows.apply_start && s.t_ms < windows.revert_start)
                .collect();
            match held.iter().find(|s| !s.ok) {
                Some(first_fail) => {
                    let measured = (first_fail.end_ms() - windows.apply_start).max(0.0);
                    Evaluation {
                        verdict: verdict(measured <= limit_ms),
                        actual: format!(
                            "first failure {} after the fault was applied",
                            fmt_ms(measured)
                        ),
                        value: Some(measured),
                    }
                }
                None => Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!(
                        "never failed while the fault was held ({} samples)",
                        held.len()
                    ),
                    value: None,
                },
            }
        }
        Check::ExitCode(codes) => {
            if n == 0 {
                return empty();
            }
            every_sample(
                &in_window,
                |s| s.exit_code.is_some_and(|c| codes.matches(c)),
                |s| match s.exit_code {
                    Some(c) => format!("exit {c}"),
                    None => s.error.clone().unwrap_or_else(|| "no exit code".into()),
                },
            )
        }
        Check::Matches(cmp) => {
            // Lines are counted by the run that read them; a run belongs to
            // the window it started in.
            let read: Vec<&ProbeSample> = samples
                .iter()
                .filter(|s| s.t_ms >= from && s.t_ms < to && s.value.is_some())
                .collect();
            if read.is_empty() {
                return empty();
            }
            let total: f64 = read.iter().filter_map(|s| s.value).sum();
            let failed = samples
                .iter()
                .filter(|s| s.t_ms >= from && s.t_ms < to && s.value.is_none())
                .count();
            let mut actual = format!("counted {total} matching lines in {} reads", read.len());
            if failed > 0 {
                actual.push_str(&format!(" ({failed} reads failed)"));
            }
            Evaluation {
                verdict: verdict(cmp.op.holds(&total, &cmp.value.0)),
                actual,
                value: Some(total),
            }
        }
        Check::Value(cmp) => {
            let values: Vec<f64> = in_window.iter().filter_map(|s| s.value).collect();
            if values.is_empty() {
                if n == 0 {
                    return empty();
                }
                let why = tally(
                    in_window
                        .iter()
                        .map(|s| s.error.clone().unwrap_or_else(|| "no value".into())),
                );
                return Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!(
                        "no value in the {} window: {why}",
                        expectation.during.name()
                    ),
                    value: None,
                };
            }
            let holding = values
                .iter()
                .filter(|v| cmp.op.holds(*v, &cmp.value.0))
                .count();
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let range = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            let mut actual = format!(
                "measured {range} ({holding} of {} values hold)",
                values.len()
            );
            let missing = n - values.len();
            if missing > 0 {
                actual.push_str(&format!("; {missing} runs without a value"));
            }
            // A run without a value is not evidence that the value held.
            let worst = match cmp.op {
                CmpOp::Lt | CmpOp::Le => max,
                _ => min,
            };
            Evaluation {
                verdict: verdict(holding == values.len() && missing == 0),
                actual,
                value: Some(worst),
            }
        }
        Check::FiresWithin(limit) => {
            let limit_ms = limit.as_std().as_secs_f64() * 1000.0;
            let since_fault: Vec<&ProbeSample> = samples
                .iter()
                .filter(|s| s.t_ms >= windows.apply_start && s.t_ms < windows.end)
                .collect();
            match since_fault
                .iter()
                .find(|s| s.value.is_some_and(|v| v >= 1.0))
            {
                Some(first) => {
                    let measured = (first.end_ms() - windows.apply_start).max(0.0);
                    Evaluation {
                        verdict: verdict(measured <= limit_ms),
                        actual: format!("fired {} after the fault was applied", fmt_ms(measured)),
                        value: Some(measured),
                    }
                }
                None => Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!(
                        "never fired between the fault and the end of the cooldown ({} checks)",
                        since_fault.len()
                    ),
                    value: None,
                },
            }
        }
        Check::State(wanted) => {
            if n == 0 {
                return empty();
            }
            every_sample(
                &in_window,
                |s| s.state == Some(*wanted),
                |s| match s.state {
                    Some(st) => st.to_string(),
                    None => s.error.clone().unwrap_or_else(|| "unknown".into()),
                },
            )
        }
    }
}

/// A check that every sample of a (non-empty) window must pass: the verdict,
/// what was seen (tallied), and the share that passed.
fn every_sample(
    in_window: &[&ProbeSample],
    passes: impl Fn(&ProbeSample) -> bool,
    seen: impl Fn(&ProbeSample) -> String,
) -> Evaluation {
    let n = in_window.len();
    let matching = in_window.iter().filter(|s| passes(s)).count();
    let seen = tally(in_window.iter().map(|s| seen(s)));
    Evaluation {
        verdict: verdict(matching == n),
        actual: format!("measured {seen} ({matching} of {n} samples match)"),
        value: Some(matching as f64 * 100.0 / n as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gameday::units::{
        CmpOp, Comparison, ContainerState, HumanDuration, Percent, StatusSpec,
    };
    use crate::gameday::yaml::Pos;
    use proptest::prelude::*;

    fn sample(t_ms: f64, ok: bool, latency_ms: f64, status: Option<u16>) -> ProbeSample {
        ProbeSample {
            probe: 0,
            t_ms,
            at: chrono::DateTime::UNIX_EPOCH,
            ok,
            latency_ms,
            status,
            error: (!ok).then(|| "failed".to_string()),
            ..Default::default()
        }
    }

    fn windows() -> Windows {
        Windows {
            baseline: (0.0, 1000.0),
            apply_start: 1000.0,
            fault_start: 1100.0,
            revert_start: 3000.0,
            end: 5000.0,
            self_healing_from: None,
        }
    }

    fn expect(during: Window, check: Check) -> Expectation {
        Expectation {
            probe: crate::gameday::model::ProbeRef {
                id: crate::gameday::model::ProbeId(0),
                name: "p".into(),
            },
            during,
            check,
            pos: Pos::default(),
        }
    }

    #[test]
    fn self_healing_recovery_counts_from_the_fault_not_the_revert() {
        // Killed at 1100 (nothing to revert), failing from 1200, back at 1600.
        let samples = vec![
            sample(1000.0, true, 5.0, Some(200)),
            sample(1100.0, true, 5.0, Some(200)), // in flight at the kill
            sample(1200.0, false, 5.0, None),
            sample(1400.0, false, 5.0, None),
            sample(1600.0, true, 10.0, Some(200)),
            sample(3100.0, true, 5.0, Some(200)),
        ];
        let mut w = windows();
        w.self_healing_from = Some(1100.0);
        let check = expect(
            Window::After,
            Check::RecoversWithin(HumanDuration::from_millis(600)),
        );
        let e = evaluate(&check, &samples, &w);
        assert_eq!(e.verdict, Verdict::Met, "{e:?}");
        assert_eq!(e.value, Some(510.0));
        assert!(
            e.actual
                .starts_with("recovered on its own 510ms after the fault"),
            "{e:?}"
        );
        // The same samples measured from the revert (the usual case) see
        // only the success after 3000.
        let e = evaluate(&check, &samples, &windows());
        assert!(e.actual.starts_with("was already succeeding"), "{e:?}");
    }

    #[test]
    fn success_rate_counts_only_the_window() {
        let samples = vec![
            sample(500.0, false, 1.0, None), // baseline
            sample(1200.0, true, 1.0, Some(200)),
            sample(1300.0, false, 1.0, Some(503)),
            sample(3500.0, false, 1.0, None), // after
        ];
        let e = expect(
            Window::Fault,
            Check::SuccessRate(Comparison {
                op: CmpOp::Ge,
                value: Percent(50.0),
            }),
        );
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.verdict, Verdict::Met);
        assert_eq!(r.actual, "measured 50% (1 of 2 samples ok)");
    }

    #[test]
    fn status_needs_every_sample() {
        let samples = vec![
            sample(1200.0, false, 1.0, Some(503)),
            sample(1300.0, false, 1.0, None),
        ];
        let e = expect(Window::Fault, Check::Status(StatusSpec::Code(503)));
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.verdict, Verdict::NotMet);
        assert_eq!(
            r.actual,
            "measured 503 ×1, no response ×1 (1 of 2 samples match)"
        );
    }

    #[test]
    fn latency_percentiles() {
        let samples: Vec<_> = (0..100)
            .map(|i| sample(1200.0 + i as f64, true, i as f64 + 1.0, Some(200)))
            .collect();
        let p99 = expect(
            Window::Fault,
            Check::LatencyP99(Comparison {
                op: CmpOp::Lt,
                value: HumanDuration::from_millis(100),
            }),
        );
        let r = evaluate(&p99, &samples, &windows());
        assert_eq!(r.actual, "measured p99 99ms over 100 samples");
        assert_eq!(r.verdict, Verdict::Met);
        let max = expect(
            Window::Fault,
            Check::LatencyMax(Comparison {
                op: CmpOp::Lt,
                value: HumanDuration::from_millis(100),
            }),
        );
        assert_eq!(
            evaluate(&max, &samples, &windows()).verdict,
            Verdict::NotMet
        );
    }

    #[test]
    fn recovery_is_measured_from_the_revert() {
        let samples = vec![
            sample(3100.0, false, 10.0, None),
            sample(3900.0, true, 100.0, Some(200)),
        ];
        let e = expect(
            Window::After,
            Check::RecoversWithin(HumanDuration::from_secs(1)),
        );
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.actual, "recovered 1s after the revert");
        assert_eq!(r.verdict, Verdict::Met);
        let strict = expect(
            Window::After,
            Check::RecoversWithin(HumanDuration::from_millis(500)),
        );
        assert_eq!(
            evaluate(&strict, &samples, &windows()).verdict,
            Verdict::NotMet
        );
        let never = vec![sample(3100.0, false, 10.0, None)];
        assert_eq!(evaluate(&e, &never, &windows()).verdict, Verdict::NotMet);
    }

    #[test]
    fn fails_within_is_measured_from_the_apply() {
        let samples = vec![
            sample(1050.0, true, 5.0, Some(200)),
            sample(1400.0, false, 100.0, None),
        ];
        let e = expect(
            Window::Fault,
            Check::FailsWithin(HumanDuration::from_secs(1)),
        );
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.actual, "first failure 500ms after the fault was applied");
        assert_eq!(r.verdict, Verdict::Met);
    }

    #[test]
    fn state_tallies_what_was_seen() {
        let mut a = sample(1200.0, false, 1.0, None);
        a.state = Some(ContainerState::Paused);
        let mut b = sample(1300.0, true, 1.0, None);
        b.state = Some(ContainerState::Running);
        let e = expect(Window::Fault, Check::State(ContainerState::Paused));
        let r = evaluate(&e, &[a, b], &windows());
        assert_eq!(r.verdict, Verdict::NotMet);
        assert_eq!(
            r.actual,
            "measured paused ×1, running ×1 (1 of 2 samples match)"
        );
    }

    #[test]
    fn empty_windows_are_not_met() {
        let e = expect(
            Window::Fault,
            Check::SuccessRate(Comparison {
                op: CmpOp::Ge,
                value: Percent(0.0),
            }),
        );
        let r = evaluate(&e, &[], &windows());
        assert_eq!(r.verdict, Verdict::NotMet);
        assert!(r.actual.starts_with("no samples"));
    }

    proptest! {
        #[test]
        fn success_rate_matches_a_plain_count(oks in proptest::collection::vec(any::<bool>(), 1..200), threshold in 0u32..=100) {
            let samples: Vec<_> = oks.iter().enumerate().map(|(i, ok)| sample(1100.0 + i as f64, *ok, 1.0, None)).collect();
            let e = expect(Window::Fault, Check::SuccessRate(Comparison { op: CmpOp::Ge, value: Percent(f64::from(threshold)) }));
            let r = evaluate(&e, &samples, &windows());
            let rate = oks.iter().filter(|o| **o).count() as f64 * 100.0 / oks.len() as f64;
            prop_assert_eq!(r.verdict == Verdict::Met, rate >= f64::from(threshold));
        }

        #[test]
        fn percentile_is_an_element_and_monotonic(mut v in proptest::collection::vec(0f64..1e6, 1..100), p in 1f64..100.0) {
            v.sort_by(f64::total_cmp);
            let x = percentile(&v, p).unwrap();
            prop_assert!(v.contains(&x));
            prop_assert!(percentile(&v, 100.0).unwrap() >= x);
        }
    }
}
