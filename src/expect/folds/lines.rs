//! The fold of a logs probe's `matches`: the lines its reads counted
//! over the window.

use super::{Counted, Evaluation, Frame, Step};
use crate::expect::verdict;
use crate::gameday::units::{Comparison, Number};
use crate::probe::ProbeSample;

/// `matches`: lines counted by the reads of the window.
#[derive(Debug, Clone)]
pub(in crate::expect) struct LineCount {
    cmp: Comparison<Number>,
    reads: usize,
    total: f64,
    failed: usize,
}

impl LineCount {
    pub(super) fn new(cmp: Comparison<Number>) -> LineCount {
        LineCount {
            cmp,
            reads: 0,
            total: 0.0,
            failed: 0,
        }
    }
}

impl Step for LineCount {
    fn push(&mut self, s: &ProbeSample, frame: &Frame, _: bool) {
        // Lines are counted by the run that read them; a run belongs to
        // the window it started in.
        let (from, to) = frame.range;
        if s.t_ms >= from && s.t_ms < to {
            match s.value {
                Some(v) => {
                    self.reads += 1;
                    self.total += v;
                }
                None => self.failed += 1,
            }
        }
    }

    fn finish(self, frame: &Frame, _: Counted) -> Evaluation {
        if self.reads == 0 {
            return frame.empty();
        }
        let total = self.total;
        let mut actual = format!("counted {total} matching lines in {} reads", self.reads);
        if self.failed > 0 {
            actual.push_str(&format!(" ({} reads failed)", self.failed));
        }
        Evaluation {
            verdict: verdict(self.cmp.op.holds(&total, &self.cmp.value.0)),
            actual,
            value: Some(total),
            relative: None,
        }
    }
}
