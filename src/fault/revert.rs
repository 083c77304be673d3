//! Reverting one recipe honestly, as the run (after a failed apply), the
//! watchdog and `recover` all do it: a target that is gone or was replaced
//! is said so, and an apply that may still be landing is given its settle
//! time first.

use chrono::Utc;

use super::RevertRecipe;
use crate::docker::Engine;
use crate::gameday::units::ContainerState;

/// Execute one recipe, saying honestly what happened: reverted, already
/// fine, or nothing left because the container is gone or was replaced.
/// An apply that was requested and never confirmed (`settle`) may still be
/// landing: the engine is given that long to finish it first, so that a
/// stop in its grace period is not "already reverted" a moment before it
/// takes the container down.
pub(crate) async fn revert(
    engine: &Engine,
    recipe: &RevertRecipe,
    settle: Option<std::time::Duration>,
) -> Result<(Option<chrono::DateTime<Utc>>, String), String> {
    let id = recipe.container_id();
    // A rollback's replica is replaced by design (the deploy's container
    // holds its name): it looks for what is its own itself.
    if let RevertRecipe::Rollback { .. } = recipe {
        if let Some(within) = settle {
            settle_apply(engine, recipe, within).await;
        }
        return match recipe.execute(engine).await {
            Ok(Some(at)) => Ok((Some(at), "rolled back".to_string())),
            Ok(None) => Ok((None, "was already rolled back".to_string())),
            Err(e) => Err(e.to_string()),
        };
    }
    match engine.state(id).await {
        Ok(ContainerState::Absent) => {
            let replaced = engine
                .labels_of(recipe.container_name())
                .await
                .ok()
                .flatten()
                .is_some_and(|(new_id, _)| new_id != id);
            if replaced {
                return Ok((
                    None,
                    "target replaced by a new container of the same name; nothing to revert"
                        .to_string(),
                ));
            }
            match recipe {
                // Its revert is to bring it back, and nothing can: the
                // intent is closed, saying why (a run on the scope is not
                // blocked by it for ever).
                RevertRecipe::Start { .. } => {
                    return Ok((
                        None,
                        "nothing to start: container gone (removed, and no container of its name replaced it)"
                            .to_string(),
                    ));
                }
                // Stress workers are on this host (killed by their tag),
                // as is what a host script changed.
                RevertRecipe::Stress { .. } => {}
                RevertRecipe::Script { on_host: true, .. } => {}
                RevertRecipe::Script { on_host: false, .. }
                | RevertRecipe::Unpause { .. }
                | RevertRecipe::Nothing { .. }
                | RevertRecipe::NetRules { .. }
                | RevertRecipe::Continue { .. }
                | RevertRecipe::Reconnect { .. }
                | RevertRecipe::Rollback { .. } => {
                    return Ok((None, "container gone; nothing left to revert".to_string()));
                }
            }
        }
        Ok(_) => {
            if let Some(within) = settle {
                settle_apply(engine, recipe, within).await;
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    match recipe.execute(engine).await {
        Ok(Some(at)) => Ok((Some(at), "reverted".to_string())),
        Ok(None) => Ok((None, "was already reverted".to_string())),
        Err(e) => Err(e.to_string()),
    }
}

/// Wait (at most `within`) for an apply in flight to land: a container
/// still running may be in a stop's grace period, so watch it until it
/// leaves `running` and settles, or the time is up.
pub(crate) async fn settle_apply(
    engine: &Engine,
    recipe: &RevertRecipe,
    within: std::time::Duration,
) {
    match recipe {
        RevertRecipe::Start { .. }
        | RevertRecipe::Unpause { .. }
        | RevertRecipe::Rollback { .. } => {}
        // Rules are set by the runner itself (gone) or by a helper that
        // ends with it, signals by the runner itself; a moment is enough.
        RevertRecipe::NetRules { .. }
        | RevertRecipe::Reconnect { .. }
        | RevertRecipe::Continue { .. }
        | RevertRecipe::Stress { .. } => {
            tokio::time::sleep(within.min(std::time::Duration::from_secs(1))).await;
            return;
        }
        // An apply command the runner started may still be running: give
        // it its timeout before the revert runs.
        RevertRecipe::Script { .. } => {
            tokio::time::sleep(within).await;
            // Its time is up: what of it still runs is killed first.
            let _ = recipe.end_unconfirmed_apply(engine).await;
            return;
        }
        RevertRecipe::Nothing { .. } => return,
    }
    let deadline = tokio::time::Instant::now() + within;
    let mut left_running = false;
    while tokio::time::Instant::now() < deadline {
        match engine.state(recipe.container_id()).await {
            Ok(ContainerState::Running) if left_running => return,
            Ok(ContainerState::Running) => {}
            Ok(ContainerState::Restarting | ContainerState::Removing | ContainerState::Created) => {
                left_running = true;
            }
            Ok(
                ContainerState::Paused
                | ContainerState::Exited
                | ContainerState::Dead
                | ContainerState::Absent,
            )
            | Err(_) => return,
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
