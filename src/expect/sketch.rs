//! Quantiles and window summaries in bounded memory, for what the reports
//! describe (a probe's median and success rate per window, its p99 over the
//! run). Verdicts never use these estimates: a latency check keeps its own
//! window's values exactly (see [`super::folds`]).

use std::collections::BTreeMap;

use super::{inside, percentile};
use crate::probe::ProbeSample;

/// Values kept exactly up to this many; beyond, a [`Sketch`] keeps them in
/// buckets 1% wide.
const EXACT_UP_TO: usize = 512;
/// Relative width of a sketch bucket.
const SKETCH_GROWTH: f64 = 1.01;

/// Quantiles of a stream of non-negative values in bounded memory, for
/// what a report describes (not for verdicts, which are exact): exact up
/// to [`EXACT_UP_TO`] values, then within 1% (the bucket's upper edge).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sketch {
    pub(super) exact: Vec<f64>,
    pub(super) buckets: BTreeMap<i32, u64>,
    /// Values at or below 1 µs, which buckets do not split.
    tiny: u64,
    count: u64,
}

impl Sketch {
    fn bucket(v: f64) -> i32 {
        ((v * 1000.0).ln() / SKETCH_GROWTH.ln()).ceil() as i32
    }

    fn edge(bucket: i32) -> f64 {
        SKETCH_GROWTH.powi(bucket) / 1000.0
    }

    fn spill(&mut self, v: f64) {
        if v <= 0.001 {
            self.tiny += 1;
        } else {
            *self.buckets.entry(Self::bucket(v)).or_default() += 1;
        }
    }

    pub(crate) fn push(&mut self, v: f64) {
        self.count += 1;
        if self.buckets.is_empty() && self.tiny == 0 && self.exact.len() < EXACT_UP_TO {
            self.exact.push(v);
            return;
        }
        for kept in std::mem::take(&mut self.exact) {
            self.spill(kept);
        }
        self.spill(v);
    }

    /// Nearest-rank percentile, `None` without values.
    pub(crate) fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        if !self.exact.is_empty() {
            let mut sorted = self.exact.clone();
            sorted.sort_by(f64::total_cmp);
            return percentile(&sorted, p);
        }
        let rank = (((p / 100.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank <= self.tiny {
            return Some(0.001);
        }
        let mut seen = self.tiny;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::edge(*bucket));
            }
        }
        self.buckets.keys().next_back().map(|b| Self::edge(*b))
    }
}

/// Median latency and success rate of the samples inside a window, in one
/// pass (see [`Sketch`]).
#[derive(Debug, Clone)]
pub(crate) struct WindowSummary {
    window: (f64, f64),
    latencies: Sketch,
    ok: u64,
}

impl WindowSummary {
    pub(crate) fn new(window: (f64, f64)) -> Self {
        WindowSummary {
            window,
            latencies: Sketch::default(),
            ok: 0,
        }
    }

    pub(crate) fn push(&mut self, s: &ProbeSample) {
        if inside(s, self.window) {
            self.latencies.push(s.latency_ms);
            self.ok += u64::from(s.ok);
        }
    }

    pub(crate) fn finish(&self) -> (Option<f64>, Option<f64>) {
        let n = self.latencies.count;
        if n == 0 {
            return (None, None);
        }
        (
            self.latencies.percentile(50.0),
            Some(self.ok as f64 * 100.0 / n as f64),
        )
    }
}
