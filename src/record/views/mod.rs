//! Views across runs, built once: pure values made from archived results,
//! which `cli::history` (table, JSON), `cli::diff` (text, JSON) and
//! `report::index` (HTML) only render. [`runs`]: the archive's run lines
//! and the runs of one gameday; [`history`]: one gameday's scenarios across
//! its runs (verdicts and measured values), its checklist across runs, the
//! linked tickets as its newest run sees them; [`diff`]: what changed
//! between two runs; [`trials`]: what they read of a scenario run as
//! trials (met counts, breaking points and their moves); [`detection`]:
//! a scenario's detection class and time to detect in one run. Everything across runs is listed in order of first
//! appearance, and looked up by name (a scenario's, a check's text, a
//! checklist item's) the same way everywhere: the first that carries it.

pub(crate) mod detection;
pub(crate) mod diff;
pub(crate) mod history;
pub(crate) mod runs;
pub(crate) mod trials;

#[cfg(test)]
mod fixture;

use crate::record::result::{RunResult, ScenarioResult};

/// Each name once, in order of first appearance.
pub(crate) fn first_appearance<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for name in names {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// A run's scenario with this name (the first, should two share it).
fn scenario_named<'a>(run: &'a RunResult, name: &str) -> Option<&'a ScenarioResult> {
    run.scenarios.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::first_appearance;

    #[test]
    fn names_keep_the_order_they_first_appear_in() {
        assert_eq!(
            first_appearance(["b", "a", "b", "c", "a"]),
            vec!["b", "a", "c"]
        );
        assert!(first_appearance([]).is_empty());
    }
}
