//! `recover --scope` for the `deploy` fault, without a journal: a
//! container labelled `gameday.deploy` under a replica's name is a
//! deploy's replacement, and the replica it replaced is kept beside it
//! (`<name>-gameday-kept-<hash of the tag>`, stopped): rolled back, as its
//! journalled recipe would have, with the restart policy the replacement
//! carries (the replica's own, copied before it was turned off). A kept
//! replica whose name nobody holds (a runner that died between the two)
//! is put back too; its policy, kept only in the journal, stays off, and
//! the line says so.

use std::time::Duration;

use super::recover::RecoveryOutcome;
use crate::docker::{ContainerInfo, DEPLOY_LABEL, Engine};
use crate::fault::RevertRecipe;
use crate::fault::deploy::parked_name;

/// The longest a swept replica is waited for once put back.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The kept replicas' marker in their names.
const KEPT: &str = "-gameday-kept-";

/// Roll back every deploy left on `containers`: (container, outcome).
pub(crate) async fn roll_back_deploys(
    engine: &Engine,
    containers: &[ContainerInfo],
) -> Vec<(String, RecoveryOutcome)> {
    let mut report = Vec::new();
    let mut kept_done: Vec<String> = Vec::new();
    for c in containers {
        let Ok(Some((id, labels))) = engine.named(&c.name).await else {
            continue;
        };
        let Some(tag) = labels.get(DEPLOY_LABEL) else {
            continue;
        };
        let kept = parked_name(&c.name, tag);
        let Some(original) = containers.iter().find(|k| k.name == kept) else {
            report.push((
                c.name.clone(),
                RecoveryOutcome::Failed(format!(
                    "deployed by gameday ({tag}), but the replica it replaced ({kept}) is gone: left as it is"
                )),
            ));
            continue;
        };
        kept_done.push(original.name.clone());
        let replacement = match engine.replica(&id).await {
            Ok(r) => r,
            Err(e) => {
                report.push((c.name.clone(), RecoveryOutcome::Failed(e.to_string())));
                continue;
            }
        };
        let recipe = RevertRecipe::Rollback {
            container_id: original.id.clone(),
            container_name: c.name.clone(),
            parked: kept,
            tag: tag.clone(),
            restart: replacement.restart.clone(),
            image_id: original.image.clone(),
            // Waited for as the replica itself is checked.
            healthy: engine
                .replica(&original.id)
                .await
                .is_ok_and(|r| r.has_healthcheck),
            timeout_ms: READY_WITHIN.as_millis() as u64,
            stop_signal: replacement.stop_signal.clone(),
            stop_grace_ms: 10_000,
        };
        report.push((c.name.clone(), roll_back(engine, &recipe).await));
    }
    for k in containers
        .iter()
        .filter(|k| k.name.contains(KEPT) && !kept_done.contains(&k.name))
    {
        let Some((name, _)) = k.name.split_once(KEPT) else {
            continue;
        };
        if containers.iter().any(|c| c.name == name) {
            report.push((
                k.name.clone(),
                RecoveryOutcome::Failed(format!(
                    "a replica kept aside by a deploy, but {name} is not gameday's: left as it is"
                )),
            ));
            continue;
        }
        let recipe = RevertRecipe::Rollback {
            container_id: k.id.clone(),
            container_name: name.to_string(),
            parked: k.name.clone(),
            tag: String::new(),
            restart: serde_json::Value::Null,
            image_id: k.image.clone(),
            healthy: false,
            timeout_ms: READY_WITHIN.as_millis() as u64,
            stop_signal: "SIGTERM".into(),
            stop_grace_ms: 10_000,
        };
        let outcome = match roll_back(engine, &recipe).await {
            RecoveryOutcome::Done(words) => RecoveryOutcome::Done(format!(
                "{words}; its restart policy, kept only in the journal, stays off"
            )),
            other => other,
        };
        report.push((name.to_string(), outcome));
    }
    report
}

async fn roll_back(engine: &Engine, recipe: &RevertRecipe) -> RecoveryOutcome {
    match recipe.execute(engine).await {
        Ok(Some(_)) => RecoveryOutcome::Done(format!(
            "rolled back a deploy: put back the replica kept as {}",
            match recipe {
                RevertRecipe::Rollback { parked, .. } => parked.as_str(),
                _ => "",
            }
        )),
        Ok(None) => RecoveryOutcome::Done("the deploy was already rolled back".into()),
        Err(e) => RecoveryOutcome::Failed(format!("{e}; by hand: {}", recipe.by_hand())),
    }
}
