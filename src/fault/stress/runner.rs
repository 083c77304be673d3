//! The runner's side of the stress faults: start a worker (on this host,
//! or in a helper container the engine places inside the target), wait
//! until its work is in place, stop it through its stdin, and what the
//! recipe calls through helpers (read and put back OOM scores, remove
//! files).

use std::time::Duration;

use super::{OomScore, READY_WITHIN, STOP_WITHIN, Work, bytes};
use crate::docker::{Engine, Inside};
use crate::fault::child::{Child, First, Via, helper_error, helper_labels};

/// A worker in place, started by the run (see [`Child`]).
#[derive(Debug)]
pub(crate) struct Worker(Child);

/// `gameday stress --pid PID --container ID --tag TAG <work>`: the
/// worker's arguments after the program.
fn worker_args(pid: i64, container_id: &str, tag: &str, work: &Work) -> Vec<String> {
    let mut argv: Vec<String> = ["stress", "--pid", &pid.to_string(), "--container"]
        .map(String::from)
        .to_vec();
    argv.extend([container_id.to_string(), "--tag".into(), tag.to_string()]);
    argv.extend(work.args());
    argv
}

/// This very binary, as a worker.
fn worker_command(
    pid: i64,
    container_id: &str,
    tag: &str,
    work: &Work,
) -> Result<tokio::process::Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find gameday itself: {e}"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(worker_args(pid, container_id, tag, work));
    Ok(cmd)
}

/// The same worker in a helper container placed inside the target: the
/// image's `/gameday`, with PID 1 (the target's main process there).
pub(super) fn helper_argv(
    container_id: &str,
    tag: &str,
    work: &Work,
    max: Duration,
) -> Vec<String> {
    let mut argv = vec!["/gameday".to_string()];
    argv.extend(worker_args(1, container_id, tag, work));
    argv.extend([
        "--placed".to_string(),
        "--max-seconds".into(),
        max.as_secs().max(1).to_string(),
    ]);
    argv
}

/// What a worker that ended before it said `ready` leaves to say: when it
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

/// What the worker's first line says is in place.
fn ready_detail(line: &str) -> String {
    match line.strip_prefix("ready ") {
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
    match via {
        Via::ThisHost { pid } => start_here(pid, container_id, tag, work, max_lifetime).await,
        Via::Helper { engine, image } => {
            start_in_helper(engine, image, container_id, tag, work, max_lifetime).await
        }
    }
}

async fn start_here(
    pid: i64,
    container_id: &str,
    tag: &str,
    work: &Work,
    max_lifetime: Duration,
) -> Result<(Worker, String), String> {
    let mut cmd = worker_command(pid, container_id, tag, work)?;
    cmd.args(["--max-seconds", &max_lifetime.as_secs().max(1).to_string()]);
    let child = Child::spawn(cmd).map_err(|e| format!("cannot start a stress worker: {e}"))?;
    in_place(child, work).await
}

async fn start_in_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
    work: &Work,
    max_lifetime: Duration,
) -> Result<(Worker, String), String> {
    let child = Child::start_helper(
        engine,
        container_id,
        image,
        &helper_argv(container_id, tag, work, max_lifetime),
        helper_labels(tag),
        inside(work),
    )
    .await
    .map_err(|e| helper_error(image, e))?;
    in_place(child, work).await
}

/// A stress helper is in the target's cgroup, and allowed into its mount
/// namespace when its work has paths.
fn inside(work: &Work) -> Inside {
    Inside {
        cgroup: true,
        mounts: work.in_mount_namespace(),
        network: false,
    }
}

/// Wait until the worker says its work is in place.
async fn in_place(child: Child, work: &Work) -> Result<(Worker, String), String> {
    match child.first_line(READY_WITHIN).await {
        (Some(child), First::Line(line)) => Ok((Worker(child), ready_detail(&line))),
        (_, First::Ended { killed, stderr }) => {
            let detail = ended_early(work, killed, &stderr)?;
            Ok((Worker(Child::gone()), detail))
        }
        (_, First::TimedOut) | (None, First::Line(_)) => Err(format!(
            "the stress worker was not in place after {}s",
            READY_WITHIN.as_secs()
        )),
    }
}

/// Run `work` once in a helper container inside `container_id` and
/// return the lines it printed.
async fn once_in_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
    work: &Work,
) -> Result<Vec<String>, String> {
    let child = Child::start_helper(
        engine,
        container_id,
        image,
        &helper_argv(container_id, tag, work, STOP_WITHIN),
        helper_labels(tag),
        inside(work),
    )
    .await
    .map_err(|e| helper_error(image, e))?;
    match child.first_line(STOP_WITHIN).await {
        (Some(child), First::Line(first)) => {
            let (rest, _) = child.finish(STOP_WITHIN).await;
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
            "the helper did not finish within {}s",
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
    let lines = once_in_helper(engine, image, container_id, tag, &Work::Scores).await?;
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
    let lines = once_in_helper(engine, image, container_id, tag, &work).await?;
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
    let out = tokio::time::timeout(
        STOP_WITHIN,
        worker_command(pid, container_id, tag, &work)?
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "removing the files took too long".to_string())?
    .map_err(|e| format!("cannot start gameday to remove the files: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find_map(removed_counts) {
        Some((n, _)) => Ok(n),
        None => Err(String::from_utf8_lossy(&out.stderr)
            .trim()
            .trim_start_matches("gameday stress: ")
            .to_string()),
    }
}
