//! The fold of `detected_by`: judged on who noticed the scenario's fault
//! and when (a [`Noticed`], folded by `run::detection` from every alert
//! probe and the observations, handed to the accumulator by
//! [`crate::expect::Accumulator::noticed`]), never on one probe's samples.

use super::{Counted, Evaluation, Frame, limit_ms};
use crate::expect::{CheckVerdict, fmt_ms, verdict};
use crate::gameday::model::{DetectedBy, Detector};
use crate::probe::ProbeSample;

/// What a scenario's detection measured, in ms after its first fault was
/// applied: when users were first hurt, the first alert firing, and the
/// first person saying they noticed (and who).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Noticed {
    pub hurt_ms: Option<f64>,
    pub alert_ms: Option<f64>,
    /// The alert probe that fired first.
    pub alert_by: Option<String>,
    pub person_ms: Option<f64>,
    /// Who typed the first `detected`.
    pub person_by: Option<String>,
}

/// A `detected_by` check and the detection it judges, once handed over.
#[derive(Debug, Clone)]
pub(in crate::expect) struct Detected {
    pub(in crate::expect) check: DetectedBy,
    pub(in crate::expect) noticed: Option<Box<Noticed>>,
}

impl super::Step for Detected {
    fn push(&mut self, _: &ProbeSample, _: &Frame, _: bool) {}

    fn finish(self, _: &Frame, _: Counted) -> Evaluation {
        let Some(noticed) = self.noticed else {
            return Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: "nothing measured: the scenario has no fault window".to_string(),
                value: None,
                relative: None,
            };
        };
        let hurt = match noticed.hurt_ms {
            Some(ms) => format!("users hurt at {}", fmt_ms(ms)),
            None => "users not hurt".to_string(),
        };
        let (first, who) = match self.check.by {
            Detector::Alert => (noticed.alert_ms, noticed.alert_by.as_deref()),
            Detector::People => (noticed.person_ms, noticed.person_by.as_deref()),
        };
        let Some(ms) = first else {
            let none = match self.check.by {
                Detector::Alert => "no alert fired",
                Detector::People => "nobody said `detected`",
            };
            return Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!("{none} between the fault and the end of the cooldown; {hurt}"),
                value: None,
                relative: None,
            };
        };
        let what = match self.check.by {
            Detector::Alert => "first alert",
            Detector::People => "first person noticing",
        };
        let who = who.map(|w| format!(" ({w})")).unwrap_or_default();
        Evaluation {
            verdict: verdict(ms <= limit_ms(&self.check.within)),
            actual: format!("{what}{who} {} after the fault; {hurt}", fmt_ms(ms)),
            value: Some(ms),
            relative: None,
        }
    }
}
