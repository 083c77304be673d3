//! The folds of a ledger probe's own checks, `lost`, `duplicated` and
//! `rpo`: judged on what the ledger found when it read its writes back
//! after the cooldown (a [`LedgerAudit`], handed to the accumulator by
//! [`crate::expect::Accumulator::read_back`]), never on the write samples.

use super::{Counted, Evaluation, Frame};
use crate::expect::{CheckVerdict, fmt_ms, verdict};
use crate::gameday::units::{Comparison, HumanDuration, Number};
use crate::probe::ProbeSample;
use crate::probe::ledger::LedgerAudit;

/// Which figure of the read back a check judges.
#[derive(Debug, Clone)]
pub(in crate::expect) enum Figure {
    Lost(Comparison<Number>),
    Duplicated(Comparison<Number>),
    Rpo(Comparison<HumanDuration>),
}

/// A ledger check and the read back it judges, once handed over.
#[derive(Debug, Clone)]
pub(in crate::expect) struct ReadBack {
    pub(in crate::expect) figure: Figure,
    pub(in crate::expect) audit: Option<Box<LedgerAudit>>,
}

impl super::Step for ReadBack {
    fn push(&mut self, _: &ProbeSample, _: &Frame, _: bool) {}

    fn finish(self, _: &Frame, _: Counted) -> Evaluation {
        let Some(audit) = self.audit else {
            return not_known(
                "the ledger did not read its writes back (the scenario ended before its cooldown did)",
            );
        };
        if let Some(e) = &audit.error {
            return not_known(&format!("the ledger could not read its writes back: {e}"));
        }
        let (met, value, actual) = match &self.figure {
            Figure::Lost(cmp) => {
                let lost = audit.lost as f64;
                (cmp.op.holds(&lost, &cmp.value.0), lost, audit.summary())
            }
            Figure::Duplicated(cmp) => {
                let Some(dup) = audit.duplicated else {
                    return not_known("this store cannot tell a record written twice");
                };
                let dup = dup as f64;
                let actual = format!("{dup} of {} writes read back more than once", audit.written);
                (cmp.op.holds(&dup, &cmp.value.0), dup, actual)
            }
            Figure::Rpo(cmp) => {
                let rpo = HumanDuration(std::time::Duration::from_secs_f64(
                    audit.rpo_ms.max(0.0) / 1000.0,
                ));
                let actual = if audit.lost == 0 {
                    format!(
                        "RPO 0: none of {} acknowledged writes lost",
                        audit.acknowledged
                    )
                } else {
                    format!(
                        "RPO {}: {} acknowledged writes lost",
                        fmt_ms(audit.rpo_ms),
                        audit.lost
                    )
                };
                (cmp.op.holds(&rpo, &cmp.value), audit.rpo_ms, actual)
            }
        };
        Evaluation {
            verdict: verdict(met),
            actual,
            value: Some(value),
            relative: None,
        }
    }
}

/// Nothing to judge: not met, and why.
fn not_known(why: &str) -> Evaluation {
    Evaluation {
        verdict: CheckVerdict::NotMet,
        actual: why.to_string(),
        value: None,
        relative: None,
    }
}
