//! A scenario as its walk left it, before its expectations are judged:
//! how the walk ended, its faults, its windows, the trial it was, and what
//! the ledgers found when they read their writes back.

use crate::expect::Windows;
use crate::probe::ledger::LedgerAudit;
use crate::record::result::FaultResult;

/// How a scenario's walk ended, before its expectations are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScenarioStatus {
    /// It ran to the end: its expectations decide.
    Ran,
    /// A halt condition or a signal stopped it; faults reverted.
    Aborted,
    /// A fault could not be applied.
    Error,
    /// It never started.
    Skipped,
}

/// A scenario as it ran.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioRun {
    /// Its place in the gameday.
    pub index: usize,
    pub status: ScenarioStatus,
    pub error: Option<String>,
    pub faults: Vec<FaultResult>,
    pub windows: Option<Windows>,
    pub started_ms: f64,
    pub ended_ms: f64,
    /// Which trial this is, for a scenario run as trials.
    pub trial: Option<super::trials::Trial>,
    /// What each ledger probe found when it read its writes back after
    /// the cooldown.
    pub audits: Vec<LedgerAudit>,
}

impl ScenarioRun {
    /// Scenarios `range` of the gameday, never started.
    pub(crate) fn skipped(range: std::ops::Range<usize>) -> Vec<ScenarioRun> {
        range
            .map(|index| ScenarioRun {
                index,
                status: ScenarioStatus::Skipped,
                error: None,
                faults: Vec::new(),
                windows: None,
                started_ms: 0.0,
                ended_ms: 0.0,
                trial: None,
                audits: Vec::new(),
            })
            .collect()
    }
}
