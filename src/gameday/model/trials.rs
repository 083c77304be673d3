//! A scenario run more than once: `repeat:` (the same trial n times, its
//! verdict by `pass: k of n`; two fields of [`super::Scenario`]) or
//! `search:` (a breaking-point [`Search`]: the trials bisect a value
//! `{{x}}` written in the scenario's faults between the last value that
//! held and the first that broke `until`).
//!
//! The decoder expands a search into its grid ([`Search::points`]): every
//! value the bisection can try, each with the scenario's faults decoded
//! with that value, so every value a run can reach was checked when the
//! file was read and the run decodes nothing.

use schemars::JsonSchema;
use serde::Serialize;

use super::{Expectation, Fault, ProbeRef, Unit};
use crate::gameday::yaml::Pos;

/// A breaking-point search over one value of the scenario's faults.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Search {
    /// The name written as `{{name}}` in the faults (`x`); for a
    /// capacity search, `rate of <probe>`.
    pub vary: String,
    /// A capacity search: the load probe whose rate each trial sets (for
    /// the trial's walk; between trials it sends at its own rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub load: Option<super::ProbeRef>,
    /// The unit of `from`, `to` and `resolution`.
    #[schemars(skip)]
    pub unit: Unit,
    /// The lowest value tried (`0ms`, `0%`, `1`, `100/s`, `64m`).
    #[schemars(with = "String")]
    pub from: f64,
    /// The highest value tried, in the same unit.
    #[schemars(with = "String")]
    pub to: f64,
    /// The search stops when the bracket is this narrow.
    #[schemars(with = "String")]
    pub resolution: f64,
    /// The condition that means the system broke: a check judged on each
    /// trial (`{ probe: login, during: fault, latency_p99: ">= 800ms" }`).
    #[schemars(with = "Expectation")]
    pub until: ProbeCheck,
    /// How many trials a value must hold in before it counts as holding
    /// (a value that breaks once breaks); default 1.
    pub confirm: u32,
    /// Every value the bisection can try, from `from` to `to` by
    /// `resolution`, with the faults it makes.
    #[serde(skip)]
    #[schemars(skip)]
    pub points: Vec<SearchPoint>,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

/// One value of a search's grid.
#[derive(Debug, Clone)]
pub struct SearchPoint {
    /// The value, in the search's unit.
    pub value: f64,
    /// The value as written into the faults (`325ms`).
    pub said: String,
    /// The scenario's faults with that value.
    pub faults: Vec<Fault>,
}

impl Search {
    /// The most trials the bisection takes (see [`most_trials`]).
    pub fn most_trials(&self) -> usize {
        most_trials(self.points.len(), self.confirm)
    }
}

/// The most trials a bisection over `points` values takes: both ends,
/// then one per halving of the gaps between them, each tried up to
/// `confirm` times.
pub fn most_trials(points: usize, confirm: u32) -> usize {
    let gaps = points.saturating_sub(1).max(1);
    let halvings = usize::BITS - (gaps - 1).leading_zeros();
    (2 + halvings as usize) * confirm.max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_trials_are_both_ends_and_one_per_halving() {
        // 0..2000 by 25: 80 gaps, 7 halvings.
        assert_eq!(most_trials(81, 1), 9);
        assert_eq!(most_trials(17, 1), 6);
        assert_eq!(most_trials(2, 1), 2);
        assert_eq!(most_trials(17, 2), 12);
    }
}

/// An expectation on one named probe: a search's `until`, judged on that
/// probe's held samples (`detected_by`, which names no probe, cannot end
/// a search). It reads as its expectation.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct ProbeCheck {
    #[serde(skip)]
    pub probe: ProbeRef,
    pub expectation: Expectation,
}

impl std::ops::Deref for ProbeCheck {
    type Target = Expectation;

    fn deref(&self) -> &Expectation {
        &self.expectation
    }
}

impl std::fmt::Display for ProbeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.expectation.fmt(f)
    }
}
