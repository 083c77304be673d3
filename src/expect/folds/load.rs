//! The fold of the load probe's own check, `throughput`: its intervals'
//! tallies merged over the window, successful requests per second of
//! the intervals' time, with what failed by status and reason and, when
//! requests were never sent, that the generator was the limit.

use super::{Counted, Evaluation, Frame};
use crate::expect::judged::{Figure, Measure};
use crate::gameday::units::RequestRate;
use crate::probe::ProbeSample;
use crate::probe::load::LoadTally;

/// `throughput`: the window's intervals, merged.
#[derive(Debug, Clone, Default)]
pub(in crate::expect) struct Throughput {
    total: LoadTally,
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

impl Measure for Throughput {
    fn take(&mut self, s: &ProbeSample, in_window: bool) {
        if let (true, Some(load)) = (in_window, &s.load) {
            self.total.merge(load);
        }
    }

    fn figure(&mut self, frame: &Frame, _: Counted) -> Result<Figure, Evaluation> {
        let total = &self.total;
        if total.span_ms <= 0.0 {
            return Err(frame.empty());
        }
        let per_s = total.ok as f64 * 1000.0 / total.span_ms;
        let sent = total.sent() as f64 * 1000.0 / total.span_ms;
        Ok(Figure {
            value: per_s,
            said: format!(
                "{} ({} ok of {} due over {}; {} sent){}",
                RequestRate(per_s),
                total.ok,
                total.due,
                crate::gameday::units::fmt_ms(total.span_ms),
                RequestRate(sent),
                failures_said(total)
            ),
        })
    }

    fn show(&self, amount: f64) -> String {
        RequestRate(amount).to_string()
    }
}
