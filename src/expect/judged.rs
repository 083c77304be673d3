//! The numeric window checks (`success_rate`, `latency_*`, `cpu`,
//! `memory`): a [`Measure`] gives one figure per window, and [`Judged`]
//! holds it to the check's [`Threshold`], a fixed limit or one relative to
//! the same probe's before window, which a second copy of the same measure
//! takes over the before window's samples in the same pass (samples come
//! in start order, so the before window is complete first). A relative
//! verdict records both figures, the limit and their ratio; with no
//! sample in the before window it is not met, and says why.

use serde::{Deserialize, Serialize};

use super::folds::{Counted, Step};
use super::{CheckVerdict, Evaluation, Frame, inside, verdict};
use crate::gameday::model::Window;
use crate::gameday::units::{Relative, Threshold};
use crate::probe::ProbeSample;

/// A window's figure: the number, and how it was measured in words
/// (`p99 230ms over 40 samples`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Figure {
    pub(super) value: f64,
    pub(super) said: String,
}

/// One figure per window, from the samples inside it.
pub(super) trait Measure: Clone {
    fn take(&mut self, s: &ProbeSample, in_window: bool);
    /// The figure, or the verdict of a window with nothing to measure.
    fn figure(&mut self, frame: &Frame, counted: Counted) -> Result<Figure, Evaluation>;
    /// A value in this figure's unit, as the text shows it (a limit).
    fn show(&self, amount: f64) -> String;
}

/// What `result.json` records of a relative check beside `value`, the
/// window's figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RelativeFigures {
    /// The before window's figure (absent: it had no sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
    /// The limit the window's figure was held to, from `before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// The window's figure divided by the before window's (absent when
    /// either is missing or the before figure is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// A numeric check: its measure over its window, and over the before
/// window when its threshold is relative.
#[derive(Debug, Clone)]
pub(super) struct Judged<M> {
    threshold: Threshold<f64>,
    window: M,
    before: Option<(M, Counted)>,
}

impl<M: Measure> Judged<M> {
    pub(super) fn new(measure: M, threshold: Threshold<f64>) -> Self {
        let before = threshold
            .is_relative()
            .then(|| (measure.clone(), Counted::default()));
        Judged {
            threshold,
            window: measure,
            before,
        }
    }
}

impl<M: Measure> Step for Judged<M> {
    fn push(&mut self, s: &ProbeSample, frame: &Frame, in_window: bool) {
        self.window.take(s, in_window);
        if let Some((measure, counted)) = &mut self.before {
            let in_before = inside(s, frame.windows.baseline);
            if in_before {
                // One run, or a load interval's requests.
                let (n, ok) = s.requests();
                counted.n += n as usize;
                counted.ok += ok as usize;
                counted.load |= s.load.is_some();
            }
            measure.take(s, in_before);
        }
    }

    fn finish(mut self, frame: &Frame, counted: Counted) -> Evaluation {
        let figure = match self.window.figure(frame, counted) {
            Ok(figure) => figure,
            Err(empty) => return empty,
        };
        match (self.threshold, self.before) {
            (Threshold::Absolute(cmp), _) => Evaluation {
                verdict: verdict(cmp.op.holds(&figure.value, &cmp.value)),
                actual: format!("measured {}", figure.said),
                value: Some(figure.value),
                relative: None,
            },
            (Threshold::Relative(rule), Some((mut before, before_counted))) => {
                let before_frame = Frame {
                    windows: frame.windows,
                    during: Window::Before,
                    range: frame.windows.baseline,
                };
                let before = before.figure(&before_frame, before_counted);
                relative(&self.window, rule, figure, before)
            }
            (Threshold::Relative(_), None) => unreachable_before(figure),
        }
    }
}

/// A relative verdict from both figures (the before one may be missing).
fn relative<M: Measure>(
    shows: &M,
    rule: Relative<f64>,
    figure: Figure,
    before: Result<Figure, Evaluation>,
) -> Evaluation {
    let before = match before {
        Ok(before) => before,
        Err(empty) => {
            return Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!(
                    "measured {}, but nothing to compare it with: {}",
                    figure.said, empty.actual
                ),
                value: Some(figure.value),
                relative: Some(RelativeFigures {
                    before: None,
                    limit: None,
                    ratio: None,
                }),
            };
        }
    };
    let limit = rule.limit(before.value);
    let ratio = (before.value != 0.0).then(|| figure.value / before.value);
    let against = match ratio {
        Some(r) => format!("{} the before window's", fmt_ratio(r)),
        None => "against the before window's".to_string(),
    };
    Evaluation {
        verdict: verdict(rule.op.holds(&figure.value, &limit)),
        actual: format!(
            "measured {}, {against} {}; limit {} {}",
            figure.said,
            before.said,
            rule.op.symbol(),
            shows.show(limit)
        ),
        value: Some(figure.value),
        relative: Some(RelativeFigures {
            before: Some(before.value),
            limit: Some(limit),
            ratio,
        }),
    }
}

/// A relative threshold always has its before measure ([`Judged::new`]);
/// should that ever not hold, the verdict says so rather than pass.
fn unreachable_before(figure: Figure) -> Evaluation {
    Evaluation {
        verdict: CheckVerdict::NotMet,
        actual: format!(
            "measured {}, but the before window was not measured",
            figure.said
        ),
        value: Some(figure.value),
        relative: Some(RelativeFigures {
            before: None,
            limit: None,
            ratio: None,
        }),
    }
}

/// `3.83x`, `0.5x`, `1x`.
fn fmt_ratio(r: f64) -> String {
    let text = format!("{r:.2}");
    format!("{}x", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::{Expectation, Windows, evaluate};
    use crate::gameday::model::{Check, ProbeId, ProbeRef};
    use crate::gameday::yaml::Pos;

    /// Before: [0, 1000); fault: [1100, 3000).
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

    fn sample(t_ms: f64, ok: bool, latency_ms: f64) -> ProbeSample {
        ProbeSample {
            t_ms,
            ok,
            latency_ms,
            at: chrono::DateTime::UNIX_EPOCH,
            ..Default::default()
        }
    }

    fn judge(text: &str, check: fn(&str) -> Check, samples: &[ProbeSample]) -> Evaluation {
        let e = Expectation {
            probe: Some(ProbeRef {
                id: ProbeId(0),
                name: "p".into(),
            }),
            during: Window::Fault,
            check: check(text),
            pos: Pos::default(),
        };
        evaluate(&e, samples, &windows())
    }

    fn p99(text: &str) -> Check {
        Check::LatencyP99(text.parse().unwrap())
    }

    fn rate(text: &str) -> Check {
        Check::SuccessRate(text.parse().unwrap())
    }

    /// Before: latencies 100ms, ok; fault: 250ms, one of four failing.
    fn samples() -> Vec<ProbeSample> {
        let mut all: Vec<ProbeSample> = (0..4)
            .map(|i| sample(f64::from(i) * 200.0, true, 100.0))
            .collect();
        all.extend((0..4).map(|i| sample(1200.0 + f64::from(i) * 300.0, i != 3, 250.0)));
        all
    }

    #[test]
    fn a_relative_latency_limit_follows_the_before_window() {
        let met = judge("< 3x before", p99, &samples());
        assert_eq!(met.verdict, CheckVerdict::Met, "{met:?}");
        assert_eq!(met.value, Some(250.0));
        let figures = met.relative.unwrap();
        assert_eq!(figures.before, Some(100.0));
        assert_eq!(figures.limit, Some(300.0));
        assert_eq!(figures.ratio, Some(2.5));
        assert_eq!(
            met.actual,
            "measured p99 250ms over 4 samples, 2.5x the before window's p99 100ms over 4 samples; limit < 300ms"
        );
        let not_met = judge("< 2x before", p99, &samples());
        assert_eq!(not_met.verdict, CheckVerdict::NotMet, "{not_met:?}");
        assert_eq!(not_met.relative.unwrap().limit, Some(200.0));
        // At the edge: 250ms against a limit of 250ms.
        assert_eq!(
            judge("<= 2.5x before", p99, &samples()).verdict,
            CheckVerdict::Met
        );
        assert_eq!(
            judge("< 2.5x before", p99, &samples()).verdict,
            CheckVerdict::NotMet
        );
        assert_eq!(
            judge("<= before + 150ms", p99, &samples()).verdict,
            CheckVerdict::Met
        );
        assert_eq!(
            judge("< before + 150ms", p99, &samples()).verdict,
            CheckVerdict::NotMet
        );
        assert_eq!(
            judge("<= 250% of before", p99, &samples()).verdict,
            CheckVerdict::Met
        );
    }

    #[test]
    fn a_relative_success_rate_counts_percentage_points() {
        // Before 100%, fault 75%.
        let e = judge(">= before - 25%", rate, &samples());
        assert_eq!(e.verdict, CheckVerdict::Met, "{e:?}");
        assert_eq!(e.value, Some(75.0));
        assert_eq!(e.relative.unwrap().limit, Some(75.0));
        assert_eq!(e.relative.unwrap().ratio, Some(0.75));
        assert_eq!(
            judge(">= before - 24%", rate, &samples()).verdict,
            CheckVerdict::NotMet
        );
        assert_eq!(
            judge(">= 75% of before", rate, &samples()).verdict,
            CheckVerdict::Met
        );
        assert_eq!(
            judge(">= 76% of before", rate, &samples()).verdict,
            CheckVerdict::NotMet
        );
        let e = judge(">= before - 1%", rate, &samples());
        assert!(e.actual.contains("limit >= 99%"), "{}", e.actual);
    }

    #[test]
    fn an_empty_before_window_is_not_met_and_says_so() {
        let fault_only: Vec<ProbeSample> = samples().into_iter().skip(4).collect();
        let e = judge("< 100x before", p99, &fault_only);
        assert_eq!(e.verdict, CheckVerdict::NotMet, "{e:?}");
        assert_eq!(e.value, Some(250.0));
        assert_eq!(e.relative.unwrap().before, None);
        assert_eq!(
            e.actual,
            "measured p99 250ms over 4 samples, but nothing to compare it with: no samples in the before window (1s)"
        );
        // An empty judged window is said as before.
        let before_only: Vec<ProbeSample> = samples().into_iter().take(4).collect();
        let e = judge("< 2x before", p99, &before_only);
        assert_eq!(e.verdict, CheckVerdict::NotMet);
        assert!(
            e.actual.starts_with("no samples in the fault window"),
            "{}",
            e.actual
        );
    }

    #[test]
    fn a_before_figure_of_zero_has_no_ratio() {
        let mut all = samples();
        for s in all.iter_mut().take(4) {
            s.ok = false;
        }
        let e = judge(">= before", rate, &all);
        assert_eq!(e.verdict, CheckVerdict::Met, "{e:?}");
        assert_eq!(e.relative.unwrap().ratio, None);
        assert!(
            e.actual.contains("against the before window's 0%"),
            "{}",
            e.actual
        );
    }
}
