//! The runner's side of the stress faults: start a worker (on this host,
//! or in a helper container the engine places inside the target) through
//! the one launcher ([`crate::worker::launch`]), wait until its work is in
//! place, stop it through its stdin, and what the recipe calls through
//! helpers (read and put back OOM scores, remove files).

use std::time::Duration;

use super::{Job, OomScore, READY_WITHIN, STOP_WITHIN, Work, bytes};
use crate::docker::Engine;
use crate::fault::Via;
use crate::worker::{First, Placement, launch, serve::in_place_detail};

/// A worker in place, started by the run (see [`crate::worker::Worker`]).
#[derive(Debug)]
pub(crate) struct Worker(crate::worker::Worker);

/// Where the worker runs, and its job there.
fn placed<'a>(
    via: Via<'a>,
    container_id: &'a str,
    tag: &str,
    work: &Work,
    max: Duration,
) -> (Placement<'a>, Job) {
    let (placement, at) = via.place(container_id, tag, max);
    (
        placement,
        Job {
            at,
            work: work.clone(),
        },
    )
}

/// What a worker that ended before it was in place leaves to say: when it
/// was killed allocating, the container's memory limit was reached and
/// its OOM killer chose the worker. That is what happened, not a failure
/// to apply.
fn ended_early(work: &Work, killed: bool, stderr: &str) -> Result<String, String> {
    if let (Work::Memory { bytes, .. }, true) = (work, killed) {
        return Ok(format!(
            "the worker was killed (SIGKILL: the OOM killer, at the container's memory limit) before it held {}",
            self::bytes(*bytes as f64)
        ));
    }
    let err = stderr.trim().trim_start_matches("gameday stress: ");
    Err(if err.is_empty() {
        "the stress worker ended before it was in place".into()
    } else {
        err.to_string()
    })
}

/// What the worker's line after `ready` says is in place.
fn in_place_words(line: &str) -> String {
    match in_place_detail(line) {
        Some(d) => d.to_string(),
        // It ended while putting its work in place (the container's main
        // process ended: an OOM kill, most likely): that is what happened.
        None => format!(
            "{} before all of it was in place",
            line.trim_start_matches("stopped: ")
        ),
    }
}

/// Start a worker on container `container_id` and wait until its work is
/// in place. Returns it and what is in place, in words.
pub(crate) async fn start(
    via: Via<'_>,
    container_id: &str,
    tag: &str,
    work: &Work,
    max_lifetime: Duration,
) -> Result<(Worker, String), String> {
    let (placement, job) = placed(via, container_id, tag, work, max_lifetime);
    let worker = launch(&job, placement, READY_WITHIN)
        .await
        .map_err(|e| e.to_string())?;
    match worker.first_line(READY_WITHIN).await {
        (Some(worker), First::Line(line)) => Ok((Worker(worker), in_place_words(&line))),
        (_, First::Ended { killed, stderr }) => {
            let detail = ended_early(work, killed, &stderr)?;
            Ok((Worker(crate::worker::Worker::gone()), detail))
        }
        (_, First::TimedOut) | (None, First::Line(_)) => Err(format!(
            "the stress worker was not in place after {}s",
            READY_WITHIN.as_secs()
        )),
    }
}

/// Run `work` once where `via` says and return the lines it printed after
/// `ready`.
async fn once(
    via: Via<'_>,
    container_id: &str,
    tag: &str,
    work: &Work,
) -> Result<Vec<String>, String> {
    let (placement, job) = placed(via, container_id, tag, work, STOP_WITHIN);
    let worker = launch(&job, placement, STOP_WITHIN)
        .await
        .map_err(|e| e.to_string())?;
    match worker.first_line(STOP_WITHIN).await {
        (Some(worker), First::Line(first)) => {
            let (rest, _) = worker.finish(STOP_WITHIN).await;
            Ok(std::iter::once(first).chain(rest).collect())
        }
        (_, First::Ended { stderr, .. }) => {
            let err = stderr.trim().trim_start_matches("gameday stress: ");
            if err.is_empty() {
                Ok(Vec::new())
            } else {
                Err(err.to_string())
            }
        }
        (_, First::TimedOut) | (None, First::Line(_)) => Err(format!(
            "the worker did not finish within {}s",
            STOP_WITHIN.as_secs()
        )),
    }
}

/// The OOM scores of container `container_id`'s processes, read by a
/// helper inside it (their PIDs are the container's own).
pub(crate) async fn oom_scores_via_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
) -> Result<Vec<OomScore>, String> {
    let via = Via::Helper { engine, image };
    let lines = once(via, container_id, tag, &Work::Scores).await?;
    Ok(lines
        .iter()
        .filter_map(|l| OomScore::parse(l.strip_prefix("score=")?))
        .collect())
}

/// Remove `files` and put `scores` back inside container `container_id`,
/// through a helper. Returns how many files were there and how many
/// scores changed.
pub(crate) async fn clean_up_via_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
    files: &[String],
    scores: &[OomScore],
) -> Result<(usize, usize), String> {
    let work = Work::Remove {
        files: files.to_vec(),
        restore: scores.to_vec(),
    };
    let via = Via::Helper { engine, image };
    let lines = once(via, container_id, tag, &work).await?;
    Ok(lines
        .iter()
        .find_map(|l| removed_counts(l))
        .unwrap_or((0, 0)))
}

/// `removed=N restored=M`, as a removal worker ends.
pub(super) fn removed_counts(line: &str) -> Option<(usize, usize)> {
    let mut removed = None;
    let mut restored = 0;
    for part in line.split_whitespace() {
        if let Some(n) = part.strip_prefix("removed=") {
            removed = n.parse().ok();
        } else if let Some(n) = part.strip_prefix("restored=") {
            restored = n.parse().unwrap_or(0);
        }
    }
    Some((removed?, restored))
}

impl Worker {
    /// Stop it: it removes its files and exits. Returns its last word
    /// (`stopped: ...`), or None when it had to be killed.
    pub(crate) async fn stop(self) -> Option<String> {
        self.0.stop(STOP_WITHIN).await
    }
}

/// Remove `files` inside container `container_id` (main process `pid`),
/// through a short-lived worker in its mount namespace. Returns how many
/// were there.
pub(crate) async fn remove(
    pid: i64,
    container_id: &str,
    tag: &str,
    files: &[String],
) -> Result<usize, String> {
    let work = Work::Remove {
        files: files.to_vec(),
        restore: Vec::new(),
    };
    let lines = tokio::time::timeout(
        STOP_WITHIN * 2,
        once(Via::ThisHost { pid }, container_id, tag, &work),
    )
    .await
    .map_err(|_| "removing the files took too long".to_string())??;
    lines
        .iter()
        .find_map(|l| removed_counts(l))
        .map(|(n, _)| n)
        .ok_or_else(|| "the worker did not say what it removed".to_string())
}
