//! Expectations evaluated over the windows of a scenario: pure folds from
//! samples to a verdict that says what was expected and what was measured
//! ("success_rate >= 99%: measured 97.2% (95 of 98 samples ok)").
//! [`Accumulator`] is fed a probe's samples in start order and hands each to
//! its check's fold (`folds`, one type per family of checks, built once from
//! the check; `judged`, the numeric checks' figure held to a threshold,
//! absolute or relative to the before window); `sketch` holds the bounded
//! estimates the reports describe.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gameday::model::{Expectation, Window};
use crate::probe::ProbeSample;

mod folds;
mod judged;
mod sketch;
#[cfg(test)]
mod tests;

pub(crate) use folds::Noticed;
pub(crate) use judged::RelativeFigures;
pub(crate) use sketch::{Sketch, WindowSummary};

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
pub enum CheckVerdict {
    Met,
    NotMet,
}

impl CheckVerdict {
    /// As `result.json` writes it: `met`, `not_met`.
    pub fn key(self) -> &'static str {
        match self {
            CheckVerdict::Met => "met",
            CheckVerdict::NotMet => "not_met",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub verdict: CheckVerdict,
    /// What was measured, in words.
    pub actual: String,
    /// The measured number, for tools comparing runs (%, ms, or count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// A check relative to the before window: that window's figure, the
    /// limit and the ratio (`value` is the judged window's figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<RelativeFigures>,
}

fn verdict(met: bool) -> CheckVerdict {
    if met {
        CheckVerdict::Met
    } else {
        CheckVerdict::NotMet
    }
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
fn tally(counts: BTreeMap<String, usize>) -> String {
    let mut list: Vec<(String, usize)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list.iter()
        .map(|(v, n)| format!("{v} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a sample ran entirely inside a window: a request in flight when
/// the fault was reverted saw both states and belongs to neither.
fn inside(s: &ProbeSample, (from, to): (f64, f64)) -> bool {
    s.t_ms >= from && s.end_ms() <= to
}

/// What a fold is told about its expectation's window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    windows: Windows,
    during: Window,
    /// `windows.range(during)`.
    range: (f64, f64),
}

impl Frame {
    fn during_name(&self) -> &'static str {
        self.during.name()
    }

    /// The verdict of a window with nothing to judge.
    fn empty(&self) -> Evaluation {
        let (from, to) = self.range;
        Evaluation {
            verdict: CheckVerdict::NotMet,
            actual: format!(
                "no samples in the {} window ({})",
                self.during_name(),
                fmt_ms(to - from)
            ),
            value: None,
            relative: None,
        }
    }
}

/// One expectation evaluated over a stream of its probe's samples, fed in
/// start order ([`Accumulator::push`]), in memory that does not grow with
/// the run (except a latency percentile's window, kept exact).
#[derive(Debug, Clone)]
pub(crate) struct Accumulator {
    frame: Frame,
    counted: folds::Counted,
    fold: folds::Fold,
}

impl Accumulator {
    pub(crate) fn new(expectation: &Expectation, windows: &Windows) -> Self {
        let frame = Frame {
            windows: *windows,
            during: expectation.during,
            range: windows.range(expectation.during),
        };
        Accumulator {
            frame,
            counted: folds::Counted::default(),
            fold: folds::Fold::of(&expectation.check, &frame),
        }
    }

    /// Whether a sample starting at `t_ms` can still matter: samples are
    /// fed in start order, so one past this can be skipped.
    pub(crate) fn wants(&self, t_ms: f64) -> bool {
        t_ms < self.frame.windows.end
    }

    /// Take in one sample of the expectation's probe (in start order).
    pub(crate) fn push(&mut self, s: &ProbeSample) {
        let in_window = inside(s, self.frame.range);
        if in_window {
            // One run, or a load interval's requests.
            let (n, ok) = s.requests();
            self.counted.n += n as usize;
            self.counted.ok += ok as usize;
            self.counted.load |= s.load.is_some();
        }
        self.fold.push(s, &self.frame, in_window);
    }

    /// What a ledger found when it read its writes back: what a
    /// `lost`, `duplicated` or `rpo` check judges (others ignore it).
    pub(crate) fn read_back(&mut self, audit: &crate::probe::ledger::LedgerAudit) {
        self.fold.read_back(audit);
    }

    /// Who noticed the scenario's fault and when: what a `detected_by`
    /// check judges (others ignore it).
    pub(crate) fn noticed(&mut self, noticed: &Noticed) {
        self.fold.noticed(noticed);
    }

    /// The verdict and what was measured.
    pub(crate) fn finish(self) -> Evaluation {
        self.fold.finish(&self.frame, self.counted)
    }
}

/// Evaluate one expectation over the samples of its probe (sorted by start).
#[cfg(test)]
pub(crate) fn evaluate(
    expectation: &Expectation,
    samples: &[ProbeSample],
    windows: &Windows,
) -> Evaluation {
    let mut acc = Accumulator::new(expectation, windows);
    for s in samples {
        acc.push(s);
    }
    acc.finish()
}
