//! Following a run directory: `journal.jsonl` and `samples.jsonl` read
//! from saved offsets (whole lines only: a torn last line waits for its
//! end), `result.json` once the run said it finished, and `report.md` when
//! it appears. A live run is shown as it grows; an archived one is
//! replayed ([`Pace`]): each entry is released when its time since the
//! run's start, divided by the speed, has elapsed (`max`: all at once).

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::state::{RoomState, Update};
use crate::record::journal::JournalEntry;
use crate::record::samples::SampleRow;

/// How fast an archived run is replayed: `4x` (or `4`), `0.5x`, `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    Times(f64),
    Max,
}

impl Speed {
    /// `4x`, `4`, `0.5x` or `max`.
    pub(crate) fn parse(text: &str) -> Result<Speed, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let number = text.strip_suffix(['x', 'X']).unwrap_or(text);
        match number.parse::<f64>() {
            Ok(n) if n.is_finite() && (0.01..=10_000.0).contains(&n) => Ok(Speed::Times(n)),
            _ => Err(format!(
                "`{text}` is not a speed: write a factor like `4x` (0.01x to 10000x) or `max`"
            )),
        }
    }
}

/// When what the run wrote is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pace {
    /// As it is written (a live run).
    Live,
    /// An archived run replayed from `started`.
    Replay { speed: Speed, started: Instant },
}

impl Pace {
    /// Is something at `offset_ms` since the run's start due?
    fn due(&self, offset_ms: f64) -> bool {
        match self {
            Pace::Live
            | Pace::Replay {
                speed: Speed::Max, ..
            } => true,
            Pace::Replay {
                speed: Speed::Times(x),
                started,
            } => started.elapsed().as_secs_f64() * 1000.0 * x >= offset_ms,
        }
    }

    /// The page's clock: now, or the replay's time; and how fast it runs.
    pub(crate) fn now(&self, run_start: Option<DateTime<Utc>>) -> (DateTime<Utc>, f64) {
        match (self, run_start) {
            (
                Pace::Replay {
                    speed: Speed::Times(x),
                    started,
                },
                Some(start),
            ) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0 * x;
                (start + chrono::Duration::milliseconds(ms as i64), *x)
            }
            (Pace::Live, _) | (Pace::Replay { .. }, _) => (Utc::now(), 1.0),
        }
    }
}

/// The most read from a file in one go, and the longest line kept.
const CHUNK: usize = 1 << 20;
/// How many entries wait to be released, at most (a replay reads ahead
/// no further).
const READ_AHEAD: usize = 4000;

/// Whole lines of a growing file, from where the last read stopped.
#[derive(Debug)]
struct Lines {
    path: PathBuf,
    offset: u64,
    /// Inside a line too long to keep: skip to its end.
    skipping: bool,
}

impl Lines {
    fn new(path: PathBuf) -> Lines {
        Lines {
            path,
            offset: 0,
            skipping: false,
        }
    }

    /// The whole lines written since the last call (none when the file is
    /// not there yet); a torn last line stays for the next call.
    fn read(&mut self) -> Vec<Vec<u8>> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::with_capacity(64 * 1024);
        if file.take(CHUNK as u64).read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        let Some(last) = buf.iter().rposition(|b| *b == b'\n') else {
            if buf.len() == CHUNK {
                // A line longer than any record: not kept.
                self.offset += buf.len() as u64;
                self.skipping = true;
            }
            return Vec::new();
        };
        self.offset += last as u64 + 1;
        let mut lines: Vec<Vec<u8>> = buf[..last]
            .split(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        if std::mem::take(&mut self.skipping) && !lines.is_empty() {
            lines.remove(0);
        }
        lines.retain(|l| !l.iter().all(u8::is_ascii_whitespace));
        lines
    }
}

/// Follows one run directory into a [`RoomState`].
#[derive(Debug)]
pub(crate) struct Tail {
    dir: PathBuf,
    journal: Lines,
    samples: Lines,
    pace: Pace,
    entries: VecDeque<JournalEntry>,
    rows: VecDeque<SampleRow>,
    /// The run's start (its first entry), for replay offsets.
    start: Option<DateTime<Utc>>,
    /// The time of the last entry that had one.
    last_at: Option<DateTime<Utc>>,
    /// Lines that could not be read (skipped).
    pub(crate) damaged: usize,
    /// Ticks spent waiting for `result.json`, then `report.md`.
    waited: u32,
    report_seen: bool,
}

/// How many ticks (100 ms) the end's files are looked for.
const END_TICKS: u32 = 600;

impl Tail {
    pub(crate) fn new(dir: &Path, pace: Pace) -> Tail {
        Tail {
            dir: dir.to_path_buf(),
            journal: Lines::new(dir.join(crate::record::JOURNAL_FILE)),
            samples: Lines::new(dir.join(crate::record::SAMPLES_FILE)),
            pace,
            entries: VecDeque::new(),
            rows: VecDeque::new(),
            start: None,
            last_at: None,
            damaged: 0,
            waited: 0,
            report_seen: false,
        }
    }

    /// Read what the files gained, as far as the read-ahead allows (no
    /// lock held: this is the I/O).
    pub(crate) fn read(&mut self) {
        if self.entries.len() < READ_AHEAD {
            for line in self.journal.read() {
                match serde_json::from_slice::<JournalEntry>(&line) {
                    Ok(entry) => self.entries.push_back(entry),
                    Err(_) => self.damaged += 1,
                }
            }
        }
        if self.rows.len() < READ_AHEAD {
            for line in self.samples.read() {
                match serde_json::from_slice::<SampleRow>(&line) {
                    Ok(row) => self.rows.push_back(row),
                    Err(_) => self.damaged += 1,
                }
            }
        }
    }

    /// Offset of `entry` from the run's start (ms); entries without a time
    /// of their own take the last one seen.
    fn offset_of(&mut self, entry: &JournalEntry) -> f64 {
        let at = entry_time(entry).or(self.last_at);
        if let Some(at) = at {
            self.last_at = Some(at);
        }
        match (self.start, at) {
            (Some(start), Some(at)) => (at - start).num_milliseconds().max(0) as f64,
            _ => 0.0,
        }
    }

    /// Fold into `state` what is due; what changed. `result.json` and the
    /// report are read here once the run said it finished (small files).
    pub(crate) fn release(&mut self, state: &mut RoomState) -> Vec<Update> {
        let mut updates = Vec::new();
        while let Some(entry) = self.entries.front() {
            if self.start.is_none()
                && let JournalEntry::RunStarted { at, .. } = entry
            {
                self.start = Some(*at);
            }
            let entry = entry.clone();
            let offset = self.offset_of(&entry);
            if !self.pace.due(offset) {
                // Not yet: its time stays the last seen for the next try.
                break;
            }
            self.entries.pop_front();
            updates.extend(state.journal(&entry));
        }
        while let Some(row) = self.rows.front() {
            if !self.pace.due(row.sample.end_ms()) {
                break;
            }
            if let Some(row) = self.rows.pop_front() {
                state.sample(&row);
            }
        }
        updates.extend(state.probe_updates());
        updates.extend(self.end(state));
        updates
    }

    /// `result.json` once the run finished, then the report's path.
    fn end(&mut self, state: &mut RoomState) -> Vec<Update> {
        if !state.ended() || self.report_seen || self.waited > END_TICKS {
            return Vec::new();
        }
        self.waited += 1;
        let mut updates = Vec::new();
        if !state.has_result()
            && let Ok(result) = crate::record::read_result(&self.dir)
        {
            updates.extend(state.result(&result));
        }
        let report = self.dir.join("report.md");
        if state.has_result() && report.is_file() {
            self.report_seen = true;
            updates.extend(state.report(&report.display().to_string()));
        }
        updates
    }
}

/// When an entry happened, if it says.
fn entry_time(entry: &JournalEntry) -> Option<DateTime<Utc>> {
    match entry {
        JournalEntry::RunStarted { at, .. }
        | JournalEntry::ClaimTakenOver { at, .. }
        | JournalEntry::Phase { at, .. }
        | JournalEntry::FaultIntent { at, .. }
        | JournalEntry::ProbeChanged { at, .. }
        | JournalEntry::Halted { at, .. }
        | JournalEntry::Observation { at, .. }
        | JournalEntry::WatchdogStarted { at, .. }
        | JournalEntry::WatchdogFired { at, .. }
        | JournalEntry::RunFinished { at, .. } => Some(*at),
        JournalEntry::FaultApplied {
            requested_at,
            confirmed_at,
            ..
        }
        | JournalEntry::FaultReverted {
            requested_at,
            confirmed_at,
            ..
        } => Some(confirmed_at.unwrap_or(*requested_at)),
        JournalEntry::FaultApplyFailed { .. } | JournalEntry::FaultRevertFailed { .. } => None,
    }
}

/// The run directory of run `run_id` under `out`, once it exists: the
/// runner names it `<date>-<slug>-<run_id>`.
pub(crate) fn find_run_dir(out: &Path, run_id: &str) -> Option<PathBuf> {
    let suffix = format!("-{run_id}");
    std::fs::read_dir(out)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
                && p.join(crate::record::JOURNAL_FILE).is_file()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn speeds_read_as_people_write_them() {
        assert_eq!(Speed::parse("4x"), Ok(Speed::Times(4.0)));
        assert_eq!(Speed::parse("0.5X"), Ok(Speed::Times(0.5)));
        assert_eq!(Speed::parse("2"), Ok(Speed::Times(2.0)));
        assert_eq!(Speed::parse("MAX"), Ok(Speed::Max));
        for bad in ["0x", "fast", "-1x", "inf", ""] {
            assert!(Speed::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_whole_lines_are_read_and_a_torn_one_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut lines = Lines::new(path.clone());
        assert!(lines.read().is_empty());
        file.write_all(b"one\ntw").unwrap();
        assert_eq!(lines.read(), vec![b"one".to_vec()]);
        assert!(lines.read().is_empty());
        file.write_all(b"o\n\nthree\n").unwrap();
        assert_eq!(lines.read(), vec![b"two".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn a_line_longer_than_a_record_is_skipped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&vec![b'a'; CHUNK + 10]).unwrap();
        file.write_all(b"\nnext\n").unwrap();
        let mut lines = Lines::new(path);
        assert!(lines.read().is_empty());
        assert_eq!(lines.read(), vec![b"next".to_vec()]);
    }

    #[test]
    fn a_replay_releases_by_time_since_the_start() {
        let started = Instant::now() - std::time::Duration::from_secs(1);
        let pace = Pace::Replay {
            speed: Speed::Times(4.0),
            started,
        };
        assert!(pace.due(3900.0));
        assert!(!pace.due(60_000.0));
        assert!(
            Pace::Replay {
                speed: Speed::Max,
                started
            }
            .due(1e12)
        );
        assert!(Pace::Live.due(1e12));
    }
}
