//! The run journal: `journal.jsonl` in the run directory, one JSON object a
//! line, appended and fsynced. A fault's revert recipe is written BEFORE the
//! fault is applied, and a completion record after it is reverted, so a
//! runner killed at any moment leaves enough behind for `gameday recover`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fault::RevertRecipe;
use crate::gameday::model::EngineSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JournalEntry {
    RunStarted {
        run_id: String,
        gameday: String,
        scope: String,
        file: String,
        at: DateTime<Utc>,
        /// The engine the faults go to, so `recover` reaches it the same
        /// way (address and TLS files). Absent in journals before it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        engine: Option<EngineSpec>,
        /// The engines of `hosts:`, by name.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        hosts: BTreeMap<String, EngineSpec>,
    },
    Phase {
        scenario: Option<String>,
        phase: String,
        at: DateTime<Utc>,
    },
    /// Written and fsynced before the fault is applied.
    FaultIntent {
        fault_id: String,
        scenario: String,
        kind: String,
        recipe: RevertRecipe,
        at: DateTime<Utc>,
        /// The engine of `hosts:` the container lives on; absent: the default one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    FaultApplied {
        fault_id: String,
        requested_at: DateTime<Utc>,
        confirmed_at: Option<DateTime<Utc>>,
    },
    FaultApplyFailed {
        fault_id: String,
        error: String,
    },
    FaultReverted {
        fault_id: String,
        by: String,
        requested_at: DateTime<Utc>,
        confirmed_at: Option<DateTime<Utc>>,
    },
    FaultRevertFailed {
        fault_id: String,
        error: String,
        by_hand: String,
    },
    ProbeChanged {
        probe: String,
        ok: bool,
        detail: String,
        at: DateTime<Utc>,
    },
    Halted {
        reason: String,
        at: DateTime<Utc>,
    },
    /// What someone at the terminal typed: an answer to a manual step or an
    /// observation made while the run went on.
    Observation {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scenario: Option<String>,
        by: String,
        text: String,
        at: DateTime<Utc>,
    },
    RunFinished {
        exit_code: u8,
        at: DateTime<Utc>,
    },
}

pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    pub fn create(path: &Path) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry and make it durable before returning.
    pub fn append(&mut self, entry: &JournalEntry) -> std::io::Result<()> {
        self.write(entry)?;
        self.file.sync_data()
    }

    /// Append an entry that recovery does not depend on (phases, probe
    /// changes): written at once, made durable by the next `append`.
    pub fn append_lazily(&mut self, entry: &JournalEntry) -> std::io::Result<()> {
        self.write(entry)
    }

    fn write(&mut self, entry: &JournalEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

/// Read a journal; lines that do not parse (a torn last write) are skipped.
pub fn read(path: &Path) -> std::io::Result<Vec<JournalEntry>> {
    let file = File::open(path)?;
    Ok(BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// The scope of a journal and the faults it intended and never saw reverted.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub scope: String,
    /// The engine the run used, when the journal says.
    pub engine: Option<EngineSpec>,
    /// Faults on an engine of `hosts:`: how to reach it, by fault id.
    pub fault_engines: BTreeMap<String, EngineSpec>,
    pub faults: Vec<(String, RevertRecipe)>,
}

pub fn unfinished(entries: &[JournalEntry]) -> Unfinished {
    let mut scope = String::new();
    let mut engine = None;
    let mut hosts = BTreeMap::new();
    let mut fault_engines = BTreeMap::new();
    let mut open: Vec<(String, RevertRecipe)> = Vec::new();
    for entry in entries {
        match entry {
            JournalEntry::RunStarted {
                scope: s,
                engine: e,
                hosts: h,
                ..
            } => {
                scope = s.clone();
                engine = e.clone();
                hosts = h.clone();
            }
            JournalEntry::FaultIntent {
                fault_id,
                recipe,
                host,
                ..
            } => {
                if let Some(spec) = host.as_ref().and_then(|h| hosts.get(h)) {
                    fault_engines.insert(fault_id.clone(), spec.clone());
                }
                open.push((fault_id.clone(), recipe.clone()));
            }
            JournalEntry::FaultReverted { fault_id, .. } => open.retain(|(id, _)| id != fault_id),
            _ => {}
        }
    }
    Unfinished {
        scope,
        engine,
        fault_engines,
        faults: open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_without_revert_are_unfinished() {
        let recipe = |id: &str| RevertRecipe::Unpause {
            container_id: id.into(),
            container_name: id.into(),
        };
        let at = Utc::now();
        let entries = vec![
            JournalEntry::RunStarted {
                run_id: "r".into(),
                gameday: "g".into(),
                scope: "demo".into(),
                file: "f".into(),
                at,
                engine: None,
                hosts: BTreeMap::new(),
            },
            JournalEntry::FaultIntent {
                fault_id: "1".into(),
                scenario: "s".into(),
                kind: "pause".into(),
                recipe: recipe("a"),
                at,
                host: None,
            },
            JournalEntry::FaultIntent {
                fault_id: "2".into(),
                scenario: "s".into(),
                kind: "pause".into(),
                recipe: recipe("b"),
                at,
                host: None,
            },
            JournalEntry::FaultReverted {
                fault_id: "1".into(),
                by: "run".into(),
                requested_at: at,
                confirmed_at: None,
            },
        ];
        let u = unfinished(&entries);
        assert_eq!(u.scope, "demo");
        assert_eq!(u.faults.len(), 1);
        assert_eq!(u.faults[0].1.container_id(), "b");
    }

    #[test]
    fn journal_round_trips_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::create(&path).unwrap();
        let e = JournalEntry::Halted {
            reason: "x".into(),
            at: Utc::now(),
        };
        j.append(&e).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"event\": \"fau")
            .unwrap();
        assert_eq!(read(&path).unwrap(), vec![e]);
    }
}
