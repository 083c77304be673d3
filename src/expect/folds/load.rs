//! The fold of the load probe's own check, `throughput`: its intervals'
//! tallies merged over the window, successful requests per second of
//! the intervals' time, with what failed by status and reason and, when
//! requests were never sent, that the generator was the limit.

use super::{Counted, Evaluation, Frame, Step, verdict};
use crate::gameday::units::{Comparison, RequestRate};
use crate::probe::ProbeSample;
use crate::probe::load::LoadTally;

/// `throughput`: the window's intervals, merged.
#[derive(Debug, Clone)]
pub(in crate::expect) struct Throughput {
    cmp: Comparison<RequestRate>,
    total: LoadTally,
}

impl Throughput {
    pub(super) fn new(cmp: Comparison<RequestRate>) -> Self {
        Throughput {
            cmp,
            total: LoadTally::default(),
        }
    }
}

/// `; failed: 503 ×12, timeout ×3; 10 never sent: the generator, not
/// the service, was the limit` (empty when nothing failed).
pub(super) fn failures_said(total: &LoadTally) -> String {
    let mut text = String::new();
    if total.failed() > 0 {
        text.push_str(&format!("; failed: {}", total.failures_text()));
    }
    if total.limited > 0 {
        text.push_str(&format!(
            "; {} never sent: every connection was busy, so the generator, not the service, was the limit",
            total.limited
        ));
    }
    text
}

impl Step for Throughput {
    fn push(&mut self, s: &ProbeSample, _: &Frame, in_window: bool) {
        if let (true, Some(load)) = (in_window, &s.load) {
            self.total.merge(load);
        }
    }

    fn finish(self, frame: &Frame, _: Counted) -> Evaluation {
        let total = &self.total;
        if total.span_ms <= 0.0 {
            return frame.empty();
        }
        let per_s = total.ok as f64 * 1000.0 / total.span_ms;
        let sent = total.sent() as f64 * 1000.0 / total.span_ms;
        Evaluation {
            verdict: verdict(self.cmp.op.holds(&per_s, &self.cmp.value.0)),
            actual: format!(
                "measured {} ({} ok of {} due over {}; {} sent){}",
                RequestRate(per_s),
                total.ok,
                total.due,
                crate::gameday::units::fmt_ms(total.span_ms),
                RequestRate(sent),
                failures_said(total)
            ),
            value: Some(per_s),
        }
    }
}
