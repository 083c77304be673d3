//! `gameday recover`: revert what dead runners left, from their journals
//! (and, with `--scope`, a sweep of a compose project without a journal).

use std::path::{Path, PathBuf};

use super::{CliError, CliResult};
use crate::docker::Engine;
use crate::exit;
use crate::safety::recover::{self, Recovered, RecoveryOutcome};

pub(super) async fn recover(
    out: PathBuf,
    docker_host: Option<String>,
    scope: Option<String>,
    helper_image: Option<String>,
) -> CliResult {
    let unfinished = recover::find_unfinished(&out);
    for (path, u) in &unfinished {
        if u.damaged_lines > 0 {
            eprintln!(
                "warning: {}: {} damaged line{} skipped (a torn write?); every readable record is used",
                path.display(),
                u.damaged_lines,
                if u.damaged_lines == 1 { "" } else { "s" }
            );
        }
    }
    if unfinished.is_empty() && scope.is_none() && recover::find_unended(&out).is_empty() {
        println!(
            "nothing to recover: no journal under {} has unreverted faults",
            out.display()
        );
        return Ok(exit::OK);
    }
    let config = crate::gameday::model::DockerConfig {
        host: docker_host,
        ..Default::default()
    };
    let engine = Engine::connect(&config).await.map_err(|e| {
        CliError::fault_left(e.to_string())
            .hint("recovery needs the Docker engine the faults were applied on")
    })?;
    let mut report = recover::recover(&engine, &out, None).await;
    if let Some(project) = &scope {
        report.extend(crate::safety::sweep::sweep(&engine, project, helper_image.as_deref()).await);
    }
    if report.is_empty() {
        println!(
            "nothing to recover: no journal under {} has unreverted faults",
            out.display()
        );
        return Ok(exit::OK);
    }
    let (left, refused) = print_recovered(&report, false, |r| format!("{}: ", origin(&r.journal)));
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if left > 0 {
        eprintln!(
            "{left} fault{} could not be reverted; undo by hand as shown",
            plural(left)
        );
        Ok(exit::FAULT_LEFT)
    } else if refused > 0 {
        eprintln!(
            "{refused} fault{} not touched: the run that holds them is alive (or cannot be proved dead)",
            plural(refused)
        );
        Ok(exit::INVALID)
    } else {
        println!(
            "recovered {} fault{}; nothing is left",
            report.len(),
            plural(report.len())
        );
        Ok(exit::OK)
    }
}

/// Revert every unfinished fault under `out` after the run crashed. Only this
/// run can have left some for its scope: `run` refuses to start otherwise.
pub(super) async fn after_crash(engine: &Engine, out: &Path, scope: &str) -> u8 {
    let report = recover::recover(engine, out, Some(scope)).await;
    let (left, _) = print_recovered(&report, true, |_| "  ".to_string());
    if left == 0 {
        exit::ABORTED
    } else {
        exit::FAULT_LEFT
    }
}

/// One line per fault: what was done (on stdout, or stderr when
/// `all_to_stderr`), or why it was not (on stderr). Returns how many may be
/// left, and how many were not touched on purpose.
pub(super) fn print_recovered(
    report: &[Recovered],
    all_to_stderr: bool,
    prefix: impl Fn(&Recovered) -> String,
) -> (usize, usize) {
    let mut left = 0;
    let mut refused = 0;
    for r in report {
        match &r.outcome {
            RecoveryOutcome::Done(what) => {
                let line = format!(
                    "{}fault {} on {}: {what}",
                    prefix(r),
                    r.fault_id,
                    r.container
                );
                if all_to_stderr {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
            RecoveryOutcome::Failed(e) => {
                left += 1;
                eprintln!(
                    "{}fault {} on {}: NOT reverted: {e}",
                    prefix(r),
                    r.fault_id,
                    r.container
                );
            }
            RecoveryOutcome::Refused(why) => {
                refused += 1;
                eprintln!(
                    "{}fault {} on {}: not touched: {why}",
                    prefix(r),
                    r.fault_id,
                    r.container
                );
            }
        }
    }
    (left, refused)
}

/// Where a recovered fault was found: its journal, or the `--scope` sweep.
fn origin(journal: &Path) -> String {
    if journal.as_os_str().is_empty() {
        "sweep".to_string()
    } else {
        journal.display().to_string()
    }
}
