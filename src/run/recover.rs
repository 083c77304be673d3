//! `gameday recover`: find run journals with faults that were applied and
//! never reverted (the runner was SIGKILLed, the machine rebooted), revert
//! them idempotently, and record that in the same journal.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::journal::{self, Journal, JournalEntry};
use crate::docker::Engine;

/// Journals under `out` (one level of run directories) that have unreverted faults.
pub fn find_unfinished(out: &Path) -> Vec<(PathBuf, journal::Unfinished)> {
    let Ok(dirs) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, journal::Unfinished)> = dirs
        .filter_map(Result::ok)
        .map(|d| d.path().join("journal.jsonl"))
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let entries = journal::read(&p).ok()?;
            let u = journal::unfinished(&entries);
            (!u.faults.is_empty()).then_some((p, u))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// What recovery did for one fault.
#[derive(Debug)]
pub struct Recovered {
    pub journal: PathBuf,
    pub fault_id: String,
    pub container: String,
    pub outcome: Result<&'static str, String>,
}

/// Revert every unfinished fault of every journal under `out` (only those of
/// `scope` when given).
pub async fn recover(engine: &Engine, out: &Path, scope: Option<&str>) -> Vec<Recovered> {
    let mut report = Vec::new();
    for (path, unfinished) in find_unfinished(out) {
        if scope.is_some_and(|s| s != unfinished.scope) {
            continue;
        }
        let mut journal = Journal::create(&path).ok();
        for (fault_id, recipe) in unfinished.faults {
            let requested_at = Utc::now();
            let outcome = match recipe.execute(engine).await {
                Ok(confirmed) => {
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultReverted {
                            fault_id: fault_id.clone(),
                            by: "recover".into(),
                            requested_at,
                            confirmed_at: confirmed,
                        });
                    }
                    Ok(if confirmed.is_some() {
                        "reverted"
                    } else {
                        "was already reverted"
                    })
                }
                Err(e) => {
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultRevertFailed {
                            fault_id: fault_id.clone(),
                            error: e.to_string(),
                            by_hand: recipe.by_hand(),
                        });
                    }
                    Err(format!("{e}; by hand: {}", recipe.by_hand()))
                }
            };
            report.push(Recovered {
                journal: path.clone(),
                fault_id,
                container: recipe.container_name().to_string(),
                outcome,
            });
        }
    }
    report
}
