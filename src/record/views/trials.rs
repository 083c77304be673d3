//! What the views across runs read of a scenario run as trials (its
//! `trials` in `result.json`): a `repeat`'s met count, the scenario's and
//! each check's, and a search's breaking point, the value its check line
//! carries, with where it moved between two runs (lower: the system breaks
//! sooner; higher: it holds longer, as a search tries values from `from`
//! up to `to`).

use serde::Serialize;

use crate::gameday::decode::say;
use crate::gameday::model::Unit;
use crate::record::result::{ExpectationResult, ScenarioResult};

/// The check key of a search's one check line.
const BREAKING_POINT: &str = "breaking_point";

/// In how many trials something was met, of how many run (and, for the
/// scenario, how many had to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct MetCount {
    pub(crate) met: u32,
    pub(crate) of: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pass: Option<u32>,
}

impl MetCount {
    /// `3/5`, `3/5 (pass 4)`, `flaky 3/5` for a check met in some trials only.
    pub(crate) fn text(&self) -> String {
        let flaky = if self.pass.is_none() && self.met > 0 && self.met < self.of {
            "flaky "
        } else {
            ""
        };
        match self.pass {
            Some(pass) => format!("{}/{} (pass {pass})", self.met, self.of),
            None => format!("{flaky}{}/{}", self.met, self.of),
        }
    }
}

/// A repeated scenario's trials: how many met every check, of how many run.
pub(crate) fn scenario_met(s: &ScenarioResult) -> Option<MetCount> {
    let r = s.trials.as_ref()?.repeat.as_ref()?;
    Some(MetCount {
        met: r.met,
        of: r.ran,
        pass: Some(r.pass),
    })
}

/// A repeated scenario's check (its line `e`): in how many trials it was met.
pub(crate) fn check_met(s: &ScenarioResult, e: &ExpectationResult) -> Option<MetCount> {
    let r = s.trials.as_ref()?.repeat.as_ref()?;
    let c = r.checks.iter().find(|c| c.text == e.text)?;
    Some(MetCount {
        met: c.met,
        of: c.of,
        pass: None,
    })
}

/// Whether `e` is a search's breaking-point line (its value the lowest
/// value that broke, in the search's unit).
pub(crate) fn is_breaking_point(e: &ExpectationResult) -> bool {
    e.check.as_deref() == Some(BREAKING_POINT)
}

/// A breaking point as the faults were given it: `1000ms`.
pub(crate) fn show_point(unit: Option<Unit>, value: f64) -> String {
    say(unit.unwrap_or(Unit::Number), value)
}

/// Where a breaking point moved from one run to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Moved {
    /// It breaks at a lower value: sooner.
    Lower,
    /// It breaks at a higher value: it holds longer.
    Higher,
}

impl Moved {
    /// From breaking at `a` to breaking at `b`; none if it did not move.
    pub(crate) fn of(a: f64, b: f64) -> Option<Moved> {
        if b < a {
            Some(Moved::Lower)
        } else if b > a {
            Some(Moved::Higher)
        } else {
            None
        }
    }

    /// `lower: breaks sooner`.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Moved::Lower => "lower: breaks sooner",
            Moved::Higher => "higher: holds longer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn met_counts_say_pass_and_flaky() {
        let scenario = MetCount {
            met: 3,
            of: 5,
            pass: Some(4),
        };
        assert_eq!(scenario.text(), "3/5 (pass 4)");
        let check = MetCount {
            pass: None,
            ..scenario
        };
        assert_eq!(check.text(), "flaky 3/5");
        let all = MetCount { met: 5, ..check };
        assert_eq!(all.text(), "5/5");
    }

    #[test]
    fn a_lower_breaking_point_breaks_sooner() {
        assert_eq!(Moved::of(1000.0, 800.0), Some(Moved::Lower));
        assert_eq!(Moved::of(800.0, 1000.0), Some(Moved::Higher));
        assert_eq!(Moved::of(800.0, 800.0), None);
        assert_eq!(Moved::Lower.words(), "lower: breaks sooner");
        assert_eq!(show_point(Some(Unit::Ms), 1000.0), "1000ms");
    }
}
