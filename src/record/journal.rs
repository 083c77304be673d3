//! The run journal: `journal.jsonl` in the run directory, one JSON object a
//! line, appended and fsynced. A fault's revert recipe is written BEFORE the
//! fault is applied, and a completion record after it is reverted, so a
//! runner killed at any moment leaves enough behind for `gameday recover`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fault::RevertRecipe;
use crate::gameday::model::EngineSpec;
use crate::record::result::ObservationKind;

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
        /// Each engine's own ID (`docker info`), by name (`default` and
        /// those of `hosts:`): `recover` checks it reaches the same engine.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        engine_ids: BTreeMap<String, String>,
        /// The gameday's participants and environment, for the live room.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        participants: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        environment: Option<String>,
        /// The probes, in the order of the file (samples name them).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        probes: Vec<String>,
    },
    /// The run took over the claim on its scope from a runner that had
    /// provably died without releasing it.
    ClaimTakenOver {
        from: String,
        at: DateTime<Utc>,
    },
    Phase {
        scenario: Option<String>,
        phase: String,
        at: DateTime<Utc>,
        /// When the phase ends, when known (the live room's countdown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
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
        /// How long the apply may take to land once requested (a stop's
        /// grace): `recover` waits that long for an apply it never saw
        /// confirmed to settle before it reverts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        settle_ms: Option<u64>,
        /// The fault in words, its target and mechanism (`pause api-1
        /// (cgroup freezer)`), for whoever watches the run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        what: Option<String>,
    },
    FaultApplied {
        fault_id: String,
        requested_at: DateTime<Utc>,
        confirmed_at: Option<DateTime<Utc>>,
        /// How it was made (`tc tbf`, `cgroup freezer`), when not one
        /// Docker call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mechanism: Option<String>,
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
        #[serde(default, skip_serializing_if = "ObservationKind::is_note")]
        kind: ObservationKind,
        text: String,
        at: DateTime<Utc>,
    },
    /// The dead man's switch of one engine is armed for the run: where it
    /// runs (`process 4242 on this host`, `container 3f9c... on the engine`).
    WatchdogStarted {
        engine: String,
        how: String,
        lease_ms: u64,
        at: DateTime<Utc>,
    },
    /// A watchdog reverted the run's faults on its own: the runner missed
    /// its lease, its link closed, or someone halted the run. Each fault it
    /// reverted follows as `fault_reverted` by `watchdog`.
    WatchdogFired {
        reason: String,
        /// How many faults it held when it fired.
        faults: usize,
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
    /// A write of ours was cut and could not be cut back (another writer,
    /// the run's watchdog, appended after it): the next record starts on
    /// a line of its own.
    torn: bool,
}

impl Journal {
    /// Open a journal to append to it. A torn last line (a write cut by a
    /// power loss or a full disk) is ended first, so the next record starts
    /// on a line of its own instead of being glued to the fragment.
    pub fn create(path: &Path) -> std::io::Result<Journal> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                file.sync_data()?;
            }
        }
        Ok(Journal {
            file,
            path: path.to_path_buf(),
            torn: false,
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

    /// Append one line. A write cut short (a full disk) is cut back to
    /// where the file ended before it, so the next record, the next intent
    /// perhaps, is not glued to a fragment and lost with it.
    fn write(&mut self, entry: &JournalEntry) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(256);
        if self.torn {
            line.push(b'\n');
        }
        line.extend(crate::redact::json_line(entry).map_err(std::io::Error::other)?);
        line.push(b'\n');
        let before = self.file.metadata()?.len();
        let mut written = 0;
        while written < line.len() {
            match self.file.write(&line[written..]) {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    self.cut_back(before, written);
                    return Err(e);
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.cut_back(before, written);
                    return Err(e);
                }
            }
        }
        self.torn = false;
        Ok(())
    }

    /// After a write that put only `written` bytes at `before`: take them
    /// away again, when they are the file's tail (nobody appended since);
    /// else say the next record must start on a new line.
    fn cut_back(&mut self, before: u64, written: usize) {
        if written == 0 {
            return;
        }
        let ours = self
            .file
            .metadata()
            .is_ok_and(|m| m.len() == before + written as u64);
        if !(ours && self.file.set_len(before).is_ok()) {
            self.torn = true;
        }
    }
}

/// Read a journal; lines that do not parse (a torn write, garbage) are
/// skipped.
pub fn read(path: &Path) -> std::io::Result<Vec<JournalEntry>> {
    read_counting_damage(path).map(|(entries, _)| entries)
}

/// Read a journal, and count the damaged lines skipped. Reading never
/// stops at one: bytes that are not UTF-8 or not a record are skipped, and
/// every record after them is read.
pub(crate) fn read_counting_damage(path: &Path) -> std::io::Result<(Vec<JournalEntry>, usize)> {
    let bytes = std::fs::read(path)?;
    let mut entries = Vec::new();
    let mut damaged = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(entry) => entries.push(entry),
            Err(_) => damaged += 1,
        }
    }
    Ok((entries, damaged))
}

/// The scope of a journal and the faults it intended and never saw reverted.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub run_id: String,
    pub scope: String,
    /// Each engine's ID as the run saw it, by name (`default`, hosts).
    pub engine_ids: BTreeMap<String, String>,
    /// The engine name of each fault on an engine of `hosts:`.
    pub fault_hosts: BTreeMap<String, String>,
    /// The engine the run used, when the journal says.
    pub engine: Option<EngineSpec>,
    /// Faults on an engine of `hosts:`: how to reach it, by fault id.
    pub fault_engines: BTreeMap<String, EngineSpec>,
    pub faults: Vec<(String, RevertRecipe)>,
    /// Lines of the journal that could not be read (and were skipped).
    pub damaged_lines: usize,
    /// Faults whose apply was requested and never confirmed (the runner
    /// died in between), with how long it may take to settle.
    pub unconfirmed: BTreeMap<String, Duration>,
    /// Whether the run said it finished (a runner killed did not).
    pub finished: bool,
}

/// How long an unconfirmed apply is given to settle when its intent says
/// nothing (journals written before `settle_ms`).
const DEFAULT_SETTLE_MS: u64 = 15_000;

pub fn unfinished(entries: &[JournalEntry]) -> Unfinished {
    let mut run_id = String::new();
    let mut scope = String::new();
    let mut engine_ids = BTreeMap::new();
    let mut fault_hosts = BTreeMap::new();
    let mut unconfirmed = BTreeMap::new();
    let mut finished = false;
    let mut engine = None;
    let mut hosts = BTreeMap::new();
    let mut fault_engines = BTreeMap::new();
    let mut open: Vec<(String, RevertRecipe)> = Vec::new();
    for entry in entries {
        match entry {
            JournalEntry::RunStarted {
                run_id: r,
                scope: s,
                engine: e,
                hosts: h,
                engine_ids: ids,
                ..
            } => {
                run_id = r.clone();
                engine_ids = ids.clone();
                scope = s.clone();
                engine = e.clone();
                hosts = h.clone();
            }
            JournalEntry::FaultIntent {
                fault_id,
                recipe,
                host,
                settle_ms,
                ..
            } => {
                unconfirmed.insert(
                    fault_id.clone(),
                    Duration::from_millis(settle_ms.unwrap_or(DEFAULT_SETTLE_MS)),
                );
                if let Some(h) = host {
                    fault_hosts.insert(fault_id.clone(), h.clone());
                    if let Some(spec) = hosts.get(h) {
                        fault_engines.insert(fault_id.clone(), spec.clone());
                    }
                }
                open.push((fault_id.clone(), recipe.clone()));
            }
            JournalEntry::RunFinished { .. } => finished = true,
            JournalEntry::FaultApplied { fault_id, .. }
            | JournalEntry::FaultApplyFailed { fault_id, .. } => {
                unconfirmed.remove(fault_id);
            }
            JournalEntry::FaultReverted { fault_id, .. } => {
                open.retain(|(id, _)| id != fault_id);
                unconfirmed.remove(fault_id);
            }
            // A revert that failed leaves its fault open: recover tries again.
            // The rest say nothing of what is applied: the watchdog's own
            // reverts follow it as `FaultReverted`.
            JournalEntry::FaultRevertFailed { .. }
            | JournalEntry::ClaimTakenOver { .. }
            | JournalEntry::Phase { .. }
            | JournalEntry::ProbeChanged { .. }
            | JournalEntry::Halted { .. }
            | JournalEntry::Observation { .. }
            | JournalEntry::WatchdogStarted { .. }
            | JournalEntry::WatchdogFired { .. } => {}
        }
    }
    Unfinished {
        run_id,
        scope,
        engine_ids,
        fault_hosts,
        engine,
        fault_engines,
        faults: open,
        damaged_lines: 0,
        unconfirmed,
        finished,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's first entry.
    fn started(at: DateTime<Utc>) -> JournalEntry {
        JournalEntry::RunStarted {
            run_id: "r".into(),
            gameday: "g".into(),
            scope: "demo".into(),
            file: "f".into(),
            at,
            engine: None,
            hosts: BTreeMap::new(),
            engine_ids: BTreeMap::new(),
            participants: Vec::new(),
            environment: None,
            probes: Vec::new(),
        }
    }

    #[test]
    fn intents_without_revert_are_unfinished() {
        let recipe = |id: &str| RevertRecipe::Unpause {
            container_id: id.into(),
            container_name: id.into(),
        };
        let at = Utc::now();
        let entries = vec![
            started(at),
            JournalEntry::FaultIntent {
                fault_id: "1".into(),
                scenario: "s".into(),
                kind: "pause".into(),
                recipe: recipe("a"),
                at,
                host: None,
                settle_ms: None,
                what: None,
            },
            JournalEntry::FaultIntent {
                fault_id: "2".into(),
                scenario: "s".into(),
                kind: "pause".into(),
                recipe: recipe("b"),
                at,
                host: None,
                settle_ms: None,
                what: None,
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

    /// What each kind of entry does to fault `1`, applied and not yet
    /// confirmed: open (a revert to do), unconfirmed (an apply that may
    /// still land), the run finished. Written out per kind, so a kind added
    /// later must be given its effect here before the tests compile.
    fn effect_on_fault_1(entry: &JournalEntry) -> (bool, bool, bool) {
        match entry {
            JournalEntry::FaultApplied { .. } | JournalEntry::FaultApplyFailed { .. } => {
                (true, false, false)
            }
            JournalEntry::FaultReverted { .. } => (false, false, false),
            JournalEntry::RunFinished { .. } => (true, true, true),
            JournalEntry::RunStarted { .. }
            | JournalEntry::ClaimTakenOver { .. }
            | JournalEntry::Phase { .. }
            | JournalEntry::FaultIntent { .. }
            | JournalEntry::FaultRevertFailed { .. }
            | JournalEntry::ProbeChanged { .. }
            | JournalEntry::Halted { .. }
            | JournalEntry::Observation { .. }
            | JournalEntry::WatchdogStarted { .. }
            | JournalEntry::WatchdogFired { .. } => (true, true, false),
        }
    }

    #[test]
    fn every_kind_of_entry_does_what_it_says_to_the_open_faults() {
        let at = Utc::now();
        let started = started(at);
        let intent = |id: &str| JournalEntry::FaultIntent {
            fault_id: id.into(),
            scenario: "s".into(),
            kind: "pause".into(),
            recipe: RevertRecipe::Unpause {
                container_id: id.into(),
                container_name: id.into(),
            },
            at,
            host: None,
            settle_ms: None,
            what: None,
        };
        let kinds = vec![
            started.clone(),
            JournalEntry::ClaimTakenOver {
                from: "run 1 on host".into(),
                at,
            },
            JournalEntry::Phase {
                scenario: Some("s".into()),
                phase: "fault".into(),
                at,
                until: Some(at),
            },
            intent("2"),
            JournalEntry::FaultApplied {
                fault_id: "1".into(),
                requested_at: at,
                confirmed_at: Some(at),
                mechanism: Some("cgroup freezer".into()),
            },
            JournalEntry::FaultApplyFailed {
                fault_id: "1".into(),
                error: "no such container".into(),
            },
            JournalEntry::FaultReverted {
                fault_id: "1".into(),
                by: "run".into(),
                requested_at: at,
                confirmed_at: Some(at),
            },
            JournalEntry::FaultRevertFailed {
                fault_id: "1".into(),
                error: "no such container".into(),
                by_hand: "docker unpause 1".into(),
            },
            JournalEntry::ProbeChanged {
                probe: "health".into(),
                ok: false,
                detail: "HTTP 503".into(),
                at,
            },
            JournalEntry::Halted {
                reason: "Ctrl-C".into(),
                at,
            },
            JournalEntry::Observation {
                scenario: None,
                by: "Sam".into(),
                kind: ObservationKind::Detected,
                text: "the login page is slow".into(),
                at,
            },
            JournalEntry::WatchdogStarted {
                engine: "default".into(),
                how: "process 4242 on this host".into(),
                lease_ms: 10_000,
                at,
            },
            JournalEntry::WatchdogFired {
                reason: "lease missed".into(),
                faults: 1,
                at,
            },
            JournalEntry::RunFinished { exit_code: 0, at },
        ];
        let tags: std::collections::BTreeSet<String> = kinds
            .iter()
            .map(|e| serde_json::to_value(e).unwrap()["event"].to_string())
            .collect();
        assert_eq!(tags.len(), kinds.len(), "one entry of each kind");
        for entry in kinds {
            let u = unfinished(&[started.clone(), intent("1"), entry.clone()]);
            let open = u.faults.iter().any(|(id, _)| id == "1");
            let unconfirmed = u.unconfirmed.contains_key("1");
            assert_eq!(
                (open, unconfirmed, u.finished),
                effect_on_fault_1(&entry),
                "{entry:?}"
            );
        }
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

    /// A torn last record is ended before the next one is appended, and a
    /// damaged line (garbage, not even UTF-8) is skipped and counted, never
    /// the end of reading.
    #[test]
    fn a_torn_tail_is_repaired_and_damage_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let halted = |reason: &str| JournalEntry::Halted {
            reason: reason.into(),
            at: Utc::now(),
        };
        let mut j = Journal::create(&path).unwrap();
        j.append(&halted("first")).unwrap();
        drop(j);
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        raw.write_all(b"\xff\xfe not a record\n{\"event\": \"halted\", \"rea")
            .unwrap();
        drop(raw);
        let mut j = Journal::create(&path).unwrap();
        j.append(&halted("after the tear")).unwrap();
        let (entries, damaged) = read_counting_damage(&path).unwrap();
        let reasons: Vec<String> = entries
            .iter()
            .map(|e| match e {
                JournalEntry::Halted { reason, .. } => reason.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(reasons, ["first", "after the tear"]);
        assert_eq!(damaged, 2);
    }
}
