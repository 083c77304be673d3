//! The run directory and its formats: what a run leaves behind and every
//! other command reads back. [`result`] (`result.json`, versioned),
//! [`journal`] (`journal.jsonl`, fsynced, the basis of recovery),
//! [`samples`] (`samples.jsonl`, written as samples arrive, read as a stream) and [`annotations`] (`annotations.json`,
//! added after the run); [`versions`] folds which version of a service
//! answered when into the result. `run` writes them; `report`, `history` and
//! `recover` read them, through [`confined`] where a run directory may
//! come from elsewhere (nothing it names leads out of it, only regular
//! files of a bounded size are read, a planted link is never written
//! through). [`views`] builds the views across runs from archived
//! results, for `history`, `diff` and the archive's index to render. This
//! module depends on the model types it stores
//! (recipes, engine specs) and on nothing that reads or writes it.

pub(crate) mod annotations;
pub(crate) mod archive;
pub(crate) mod confined;
pub(crate) mod detection;
pub(crate) mod flaps;
pub(crate) mod followup;
pub(crate) mod journal;
pub(crate) mod result;
pub(crate) mod samples;
pub(crate) mod trials;
pub(crate) mod versions;
pub(crate) mod views;

use std::path::{Path, PathBuf};

use annotations::Annotations;
use journal::JournalEntry;
use result::RunResult;
pub use samples::{SampleRow, Samples};

/// `result.json`: what the run measured and decided.
pub(crate) const RESULT_FILE: &str = "result.json";
/// `journal.jsonl`: every event, fsynced where recovery depends on it.
pub(crate) const JOURNAL_FILE: &str = "journal.jsonl";
/// `samples.jsonl`: every probe sample, one a line.
pub(crate) const SAMPLES_FILE: &str = "samples.jsonl";
/// `annotations.json`: tickets and notes added after the run.
pub(crate) const ANNOTATIONS_FILE: &str = annotations::FILE;

/// More than a `result.json` ever takes (a run's is kilobytes: its samples
/// are beside it); a bigger one is refused, never read into memory.
const RESULT_LIMIT: u64 = 64 << 20;
/// More than a journal ever takes (read whole by its reader).
const JOURNAL_LIMIT: u64 = 512 << 20;

/// Everything a run directory holds that reports are made from.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub result: RunResult,
    pub annotations: Annotations,
    /// Streamed from `samples.jsonl` by whoever needs them.
    pub samples: Samples,
    pub journal: Vec<JournalEntry>,
    /// Linked tickets of this and earlier runs of the gameday, as this run
    /// sees them (see [`followup`]).
    pub followups: Vec<followup::FollowUp>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a gameday result: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Confined(#[from] confined::ConfinedError),
}

impl RunRecord {
    /// Read a run directory: `result.json` (required), `annotations.json`,
    /// `samples.jsonl` and `journal.jsonl` (optional), and the linked
    /// tickets of the archive it sits in (its parent directory).
    pub fn load(run_dir: &Path) -> Result<RunRecord, RecordError> {
        let result = read_result(run_dir)?;
        let annotations = Annotations::load(run_dir)?;
        // What result.json names must be a regular file inside the run
        // directory (a missing one has no samples).
        confined::open(run_dir, &result.samples_file, "result.json's samples_file")?;
        let samples = Samples::file(run_dir.join(&result.samples_file));
        let journal = if confined::check(run_dir, JOURNAL_FILE, "a journal", JOURNAL_LIMIT)? {
            journal::read(&run_dir.join(JOURNAL_FILE)).unwrap_or_default()
        } else {
            Vec::new()
        };
        let followups = followups_in(run_dir.parent(), &result);
        Ok(RunRecord {
            result,
            annotations,
            samples,
            journal,
            followups,
        })
    }
}

/// The linked tickets of the archive `archive_dir` as `result`'s run sees
/// them: none without an archive.
pub(crate) fn followups_in(
    archive_dir: Option<&Path>,
    result: &RunResult,
) -> Vec<followup::FollowUp> {
    match archive_dir {
        Some(dir) => followup::verify(&archive::load_runs(dir).0, result),
        None => Vec::new(),
    }
}

/// Read `result.json` of a run directory.
pub(crate) fn read_result(run_dir: &Path) -> Result<RunResult, RecordError> {
    let path = run_dir.join(RESULT_FILE);
    let bytes = confined::read_bounded(run_dir, RESULT_FILE, "a result", RESULT_LIMIT)?
        .ok_or_else(|| RecordError::Read {
            path: path.display().to_string(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        })?;
    serde_json::from_slice(&bytes).map_err(|e| RecordError::Parse {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Write `result.json` into a run directory (its samples are already
/// there: the runner writes them as they arrive).
pub(crate) fn write_result(run_dir: &Path, result: &RunResult) -> Result<(), RecordError> {
    let bytes = match serde_json::to_value(result) {
        Ok(mut value) if crate::redact::knows_any() => {
            crate::redact::known_in_json(&mut value);
            serde_json::to_vec_pretty(&value)
        }
        _ => serde_json::to_vec_pretty(result),
    };
    write_file(&run_dir.join(RESULT_FILE), &bytes.unwrap_or_default())
}

fn write_file(path: &PathBuf, bytes: &[u8]) -> Result<(), RecordError> {
    std::fs::write(path, bytes).map_err(|source| RecordError::Write {
        path: path.display().to_string(),
        source,
    })
}
