//! Halting a run from anywhere: `gameday halt` leaves a marker on the
//! engine, beside the run's claim: a container named
//! `gameday-halt-<project>`, created and never started, labelled with who
//! asked and for which run. The runner and its watchdogs look for it every
//! second; whichever sees it first reverts every fault. The runner removes
//! the marker when its run ends, so it never halts the next one.

use std::collections::HashMap;

use chrono::Utc;

use super::claim;
use crate::docker::{DockerError, Engine};

const LABEL: &str = "gameday.halt";
const RUN_ID: &str = "gameday.halt.run_id";
const BY: &str = "gameday.halt.by";
const AT: &str = "gameday.halt.at";

/// The name of the halt marker of a scope.
pub(crate) fn name(scope: &str) -> String {
    claim::marker_name("gameday-halt", scope)
}

/// Who asked to halt run `run_id` of `scope` on `engine`, if someone did:
/// `dana on laptop-3 at 2026-12-02T10:31:07Z`. A marker naming another
/// run is not this run's.
pub(crate) async fn requested(
    engine: &Engine,
    scope: &str,
    run_id: &str,
) -> Result<Option<String>, DockerError> {
    let Some((_, labels)) = engine.labels_of(&name(scope)).await? else {
        return Ok(None);
    };
    if !labels.contains_key(LABEL) {
        return Ok(None);
    }
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let for_run = get(RUN_ID);
    if !for_run.is_empty() && for_run != run_id {
        return Ok(None);
    }
    Ok(Some(format!("{} at {} (gameday halt)", get(BY), get(AT))))
}

/// Leave the halt marker for the run `run_id` of `scope` (made from
/// `image`, one the engine has). Asking twice is fine.
pub(crate) async fn request(
    engine: &Engine,
    scope: &str,
    image: &str,
    run_id: &str,
    by: &str,
) -> Result<(), DockerError> {
    let labels = HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (RUN_ID.to_string(), run_id.to_string()),
        (BY.to_string(), by.to_string()),
        (
            AT.to_string(),
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
    ]);
    match engine.create_marker(&name(scope), image, labels).await {
        Ok(_) | Err(DockerError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove the halt marker of `scope` if it names run `run_id` (or no run).
pub(crate) async fn clear(engine: &Engine, scope: &str, run_id: &str) {
    if let Ok(Some((id, labels))) = engine.labels_of(&name(scope)).await
        && labels.contains_key(LABEL)
        && labels
            .get(RUN_ID)
            .is_none_or(|r| r.is_empty() || r == run_id)
    {
        let _ = engine.remove_container(&id).await;
    }
}
