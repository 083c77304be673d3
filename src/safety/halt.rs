//! Halting a run from anywhere: `gameday halt` leaves a marker on the
//! engine, beside the run's claim: a container named
//! `gameday-halt-<project>`, created and never started, and its witness, a
//! volume of the same name, both labelled with who asked and for which
//! run (the witness outlives `docker container prune`, the container keeps
//! the witness from `volume prune`). The runner and its watchdogs look for
//! either every second; whichever sees it first reverts every fault. The
//! runner removes the marker when its run ends, so it never halts the next
//! one; a marker naming a run that no longer holds the scope is stale, and
//! is replaced by the next halt.

use std::collections::HashMap;

use chrono::Utc;

use super::claim;
use crate::docker::{DockerError, Engine};

const LABEL: &str = "gameday.halt";
const RUN_ID: &str = "gameday.halt.run_id";
const BY: &str = "gameday.halt.by";
const AT: &str = "gameday.halt.at";
const SCOPE: &str = "gameday.halt.scope";

/// The name of the halt marker (and of its witness) of a scope.
pub(crate) fn name(scope: &str) -> String {
    claim::marker_name("gameday-halt", scope)
}

/// The halt marker's labels: its container's, else (the container
/// pruned) its witness's; with the container's id when it is there.
async fn marker_labels(
    engine: &Engine,
    scope: &str,
) -> Result<Option<(Option<String>, HashMap<String, String>)>, DockerError> {
    if let Some((id, labels)) = engine.labels_of(&name(scope)).await?
        && labels.contains_key(LABEL)
    {
        return Ok(Some((Some(id), labels)));
    }
    Ok(engine
        .witness_labels(&name(scope))
        .await?
        .filter(|labels| labels.contains_key(LABEL))
        .map(|labels| (None, labels)))
}

/// The run a halt marker names (empty: any run).
fn run_of(labels: &HashMap<String, String>) -> &str {
    labels.get(RUN_ID).map_or("", String::as_str)
}

/// Who asked to halt run `run_id` of `scope` on `engine`, if someone did:
/// `dana on laptop-3 at 2026-12-02T10:31:07Z`. A marker naming another
/// run is not this run's.
pub(crate) async fn requested(
    engine: &Engine,
    scope: &str,
    run_id: &str,
) -> Result<Option<String>, DockerError> {
    let Some((_, labels)) = marker_labels(engine, scope).await? else {
        return Ok(None);
    };
    let for_run = run_of(&labels);
    if !for_run.is_empty() && for_run != run_id {
        return Ok(None);
    }
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    Ok(Some(format!("{} at {} (gameday halt)", get(BY), get(AT))))
}

/// The run the halt marker of `scope` names, if there is a marker.
pub(crate) async fn marked_run(
    engine: &Engine,
    scope: &str,
) -> Result<Option<String>, DockerError> {
    Ok(marker_labels(engine, scope)
        .await?
        .map(|(_, labels)| run_of(&labels).to_string()))
}

/// Leave the halt marker for the run `run_id` of `scope` (made from
/// `image`, one the engine has), the run that holds the scope. Asking
/// twice is fine. A marker naming another run is stale (that run does not
/// hold the scope): it is replaced, and its run returned.
pub(crate) async fn request(
    engine: &Engine,
    scope: &str,
    image: &str,
    run_id: &str,
    by: &str,
) -> Result<Option<String>, DockerError> {
    let marker = name(scope);
    let labels = HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (RUN_ID.to_string(), run_id.to_string()),
        (SCOPE.to_string(), scope.to_string()),
        (BY.to_string(), by.to_string()),
        (
            AT.to_string(),
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
    ]);
    let mut stale = None;
    for _ in 0..4 {
        if let Some((_, there)) = marker_labels(engine, scope).await?
            && run_of(&there) != run_id
        {
            stale = Some(run_of(&there).to_string());
            remove_marker(engine, scope).await?;
            continue;
        }
        let witness = engine.witness(&marker, labels.clone()).await?;
        if !witness.contains_key(LABEL) {
            // A volume of that name no halt made: unused, it goes.
            engine.remove_witness(&marker).await?;
            continue;
        }
        match engine.create_marker(&marker, image, labels.clone()).await {
            Ok(_) | Err(DockerError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        // Ours, whichever of the two was made first.
        if marker_labels(engine, scope)
            .await?
            .is_some_and(|(_, l)| run_of(&l) == run_id)
        {
            return Ok(stale);
        }
    }
    Err(DockerError::Conflict(format!(
        "the halt marker `{marker}` keeps changing"
    )))
}

/// Remove the halt marker of `scope`, whichever run it names.
async fn remove_marker(engine: &Engine, scope: &str) -> Result<(), DockerError> {
    if let Some((id, labels)) = engine.labels_of(&name(scope)).await?
        && labels.contains_key(LABEL)
    {
        engine.remove_container(&id).await?;
    }
    if engine
        .witness_labels(&name(scope))
        .await?
        .is_some_and(|l| l.contains_key(LABEL))
    {
        engine.remove_witness(&name(scope)).await?;
    }
    Ok(())
}

/// Remove the halt marker of `scope` if it names run `run_id` (or no run).
pub(crate) async fn clear(engine: &Engine, scope: &str, run_id: &str) {
    if let Ok(Some((_, labels))) = marker_labels(engine, scope).await
        && (run_of(&labels).is_empty() || run_of(&labels) == run_id)
    {
        let _ = remove_marker(engine, scope).await;
    }
}
