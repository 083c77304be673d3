//! The archive: every run directory under one folder (`--out`, default
//! `reports/`), read back for `history`, for follow-up tickets verified by
//! later runs, and for reports that cite earlier runs. A directory without a
//! readable `result.json` is listed as a problem, never a crash.

use std::path::{Path, PathBuf};

use super::annotations::Annotations;
use super::result::RunResult;
use super::{JOURNAL_FILE, RESULT_FILE, read_result};

/// One archived run: its directory, its result and its annotations.
#[derive(Debug, Clone)]
pub(crate) struct ArchivedRun {
    pub(crate) dir: PathBuf,
    pub(crate) result: RunResult,
    pub(crate) annotations: Annotations,
}

impl ArchivedRun {
    /// The run directory's name (`2026-11-23-login-api-3f9c2a`).
    pub(crate) fn dir_name(&self) -> String {
        dir_name(&self.dir)
    }
}

/// The last component of a path, as text.
pub(crate) fn dir_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every readable run under `out`, oldest first, and a line for each
/// directory that holds a `result.json` that cannot be read or a journal
/// without a result (a run that did not finish).
pub(crate) fn load_runs(out: &Path) -> (Vec<ArchivedRun>, Vec<String>) {
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(out) else {
        return (runs, problems);
    };
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        if !dir.join(RESULT_FILE).is_file() {
            // A run that started (its journal is there) but wrote no result.
            if dir.join(JOURNAL_FILE).is_file() {
                problems.push(format!(
                    "{}: no result.json: the run did not finish (it is still running, or it died: `gameday recover --out {}` reverts what it left)",
                    dir.display(),
                    out.display()
                ));
            }
            continue;
        }
        match read_result(&dir) {
            Ok(result) => {
                let annotations = match Annotations::load(&dir) {
                    Ok(a) => a,
                    Err(e) => {
                        problems.push(format!("{}: annotations.json ignored: {e}", dir.display()));
                        Annotations::default()
                    }
                };
                runs.push(ArchivedRun {
                    dir,
                    result,
                    annotations,
                });
            }
            Err(e) => problems.push(format!("skipped: {e}")),
        }
    }
    runs.sort_by(|a, b| {
        a.result
            .started_at
            .cmp(&b.result.started_at)
            .then(a.dir.cmp(&b.dir))
    });
    (runs, problems)
}
