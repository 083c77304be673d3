//! The `deploy` fault on one replica: its recipe (the replica set aside
//! and how to put it back), the apply (restart policy off, stopped, set
//! aside under another name, replaced by a container of the same name and
//! configuration from the new image, waited for), the wait for a replica
//! to be ready, and the rollback that [`RevertRecipe::Rollback`] runs for
//! the run, the watchdog and `recover` alike.
//!
//! The replica's old container is kept (stopped, renamed, restart policy
//! off) rather than recorded: the rollback puts back exactly what ran, its
//! anonymous volumes included, and no environment (which holds secrets)
//! is written to the journal.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::recipe::{OnContainer, docker_failed};
use super::{AppliedFault, Applying, FaultError, RevertRecipe};
use crate::docker::{ContainerInfo, DEPLOY_LABEL, Engine, Operation, Replica, body_for_image};
use crate::gameday::model::{DeployFault, DeployWait, Probe};
use crate::gameday::units::{ContainerState, HealthState};

/// How long a replica may take to stop when nothing else says (Docker's
/// own default).
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often readiness is looked at.
const POLL: Duration = Duration::from_millis(100);

/// The name a replica is kept under while its replacement runs.
pub(crate) fn parked_name(name: &str, tag: &str) -> String {
    format!("{name}-gameday-kept-{:016x}", super::net::tag_hash(tag))
}

/// What a replica's readiness is judged by, once `wait: auto` is settled
/// against what the replica has.
#[derive(Debug, Clone)]
pub(crate) enum Ready {
    Running,
    Healthy,
    Probe(Box<Probe>),
}

impl Ready {
    fn of(wait: &DeployWait, has_healthcheck: bool, probe: Option<&Probe>) -> Ready {
        match (wait, probe) {
            (DeployWait::Running, _) => Ready::Running,
            (DeployWait::Healthy, _) => Ready::Healthy,
            (DeployWait::Auto, _) | (DeployWait::Probe(_), None) if has_healthcheck => {
                Ready::Healthy
            }
            (DeployWait::Auto, _) | (DeployWait::Probe(_), None) => Ready::Running,
            (DeployWait::Probe(_), Some(p)) => Ready::Probe(Box::new(p.clone())),
        }
    }

    fn describe(&self) -> String {
        match self {
            Ready::Running => "running".into(),
            Ready::Healthy => "healthy".into(),
            Ready::Probe(p) => format!("probe `{}` answering", p.name),
        }
    }
}

/// Its revert recipe: put the replica back as it ran.
pub(super) async fn recipe(
    engine: &Engine,
    deploy: &DeployFault,
    container: &ContainerInfo,
    tag: &str,
) -> Result<RevertRecipe, FaultError> {
    let replica = engine
        .replica(&container.id)
        .await
        .map_err(docker_failed(&container.name, "inspect"))?;
    Ok(RevertRecipe::Rollback {
        container_id: replica.id.clone(),
        container_name: replica.name.clone(),
        parked: parked_name(&replica.name, tag),
        tag: tag.to_string(),
        restart: replica.restart.clone(),
        image_id: replica.image_id.clone(),
        healthy: replica.has_healthcheck && deploy.wait != DeployWait::Running,
        timeout_ms: deploy.timeout.as_std().as_millis() as u64,
        stop_signal: replica.stop_signal.clone(),
        stop_grace_ms: grace_of(&replica).as_millis() as u64,
    })
}

fn grace_of(replica: &Replica) -> Duration {
    replica
        .stop_timeout
        .map(Duration::from_secs)
        .unwrap_or(STOP_GRACE)
}

fn deploy_error(container: &str, message: String) -> FaultError {
    FaultError::Deploy {
        container: container.to_string(),
        message,
    }
}

/// Replace one replica: restart policy off, stopped (its own signal and
/// grace, then SIGKILL: sent from here, so an interrupted apply leaves no
/// stop landing later), set aside, replaced and started; then waited for,
/// unless `wait_now` is false (`recreate`: every replica is replaced
/// first, then all are waited for with [`ready`]).
pub(super) async fn apply(
    deploy: &DeployFault,
    mut applying: Applying<'_>,
    wait_now: bool,
) -> Result<AppliedFault, FaultError> {
    let engine = applying.engine;
    let name = applying.container.name.clone();
    let tag = applying.context.tag.clone();
    let replica = engine
        .replica(&applying.container.id)
        .await
        .map_err(docker_failed(&name, "inspect"))?;
    // Checked again here: a replica stopped, paused or gone since the plan
    // is someone else's doing, and left as it is.
    if !replica.running || engine.state(&replica.id).await.ok() != Some(ContainerState::Running) {
        return Err(deploy_error(
            &name,
            "it is not running now (it was when the plan was made): nothing was changed".into(),
        ));
    }
    let image = match &deploy.image {
        Some(image) => image.clone(),
        // Its own image: the tag, when it still names the image the
        // replica runs; else that image by ID (a tag moved since is not
        // what "recreated" means).
        None => match engine.image_defaults(&replica.image_ref).await {
            Ok(Some(i)) if i.id == replica.image_id => replica.image_ref.clone(),
            _ => replica.image_id.clone(),
        },
    };
    let new_image = engine
        .image_defaults(&image)
        .await
        .map_err(docker_failed(&name, "inspect the image of"))?
        .ok_or_else(|| {
            deploy_error(
                &name,
                format!(
                    "the engine has no image `{image}` (nothing is pulled): build or load it first"
                ),
            )
        })?;
    let old_image = engine
        .image_defaults(&replica.image_id)
        .await
        .ok()
        .flatten();
    let body = body_for_image(&replica, old_image.as_ref(), &image, (DEPLOY_LABEL, &tag));
    let RevertRecipe::Rollback { parked, .. } = &applying.recipe else {
        return Err(deploy_error(&name, "its recipe is not a rollback".into()));
    };
    let parked = parked.clone();
    applying.requested_at = Utc::now();
    engine
        .set_restart_policy(&replica.id, &serde_json::json!({ "Name": "no" }))
        .await
        .map_err(docker_failed(&name, "turn off the restart policy of"))?;
    stop(
        engine,
        &replica.id,
        &name,
        &replica.stop_signal,
        grace_of(&replica),
    )
    .await?;
    let stopped_ms = (Utc::now() - applying.requested_at).num_milliseconds();
    engine
        .rename(&replica.id, &parked)
        .await
        .map_err(docker_failed(&name, "set aside"))?;
    let new_id = engine
        .create_replica(&name, body, &replica.endpoints)
        .await
        .map_err(docker_failed(&name, "create the replacement of"))?;
    engine
        .perform(&new_id, &Operation::Start, Duration::from_secs(5))
        .await
        .map_err(docker_failed(&name, "start the replacement of"))?;
    let ready = Ready::of(
        &deploy.wait,
        replica.has_healthcheck,
        applying.context.ready_probe.as_ref(),
    );
    let short_image = new_image.id.trim_start_matches("sha256:");
    let what = format!(
        "{image} ({}) as {} (stopped after {stopped_ms} ms)",
        short_image.get(..12).unwrap_or(short_image),
        new_id.get(..12).unwrap_or(&new_id)
    );
    let mut applied = applying.applied();
    applied.detail = Some(what);
    applied.mechanism = Some("a new container, same configuration");
    applied.deployed = Some(Deployed {
        id: new_id,
        ready,
        timeout: deploy.timeout.as_std(),
    });
    if wait_now {
        let at = ready_of(engine, &name, &mut applied).await?;
        applied.confirmed_at = Some(at);
    }
    Ok(applied)
}

/// The new container of a deployed replica, and what it waits for.
#[derive(Debug, Clone)]
pub(crate) struct Deployed {
    pub id: String,
    ready: Ready,
    timeout: Duration,
}

/// Wait until a deployed replica is ready (at most its timeout): when.
pub(crate) async fn ready_of(
    engine: &Engine,
    name: &str,
    applied: &mut AppliedFault,
) -> Result<DateTime<Utc>, FaultError> {
    let Some(deployed) = applied.deployed.clone() else {
        return Ok(Utc::now());
    };
    let at = wait_ready(
        engine,
        &deployed.id,
        name,
        &deployed.ready,
        deployed.timeout,
    )
    .await?;
    let waited = (at - applied.requested_at).num_milliseconds() as f64 / 1000.0;
    applied.detail = Some(format!(
        "{}; {} after {waited:.1} s",
        applied.detail.as_deref().unwrap_or("deployed"),
        deployed.ready.describe()
    ));
    Ok(at)
}

/// Stop a container: its stop signal, then SIGKILL after its grace.
async fn stop(
    engine: &Engine,
    id: &str,
    name: &str,
    signal: &str,
    grace: Duration,
) -> Result<(), FaultError> {
    if engine
        .state(id)
        .await
        .map_err(docker_failed(name, "inspect"))?
        != ContainerState::Running
    {
        return Ok(());
    }
    let _ = engine
        .perform(
            id,
            &Operation::Kill {
                signal: signal.to_string(),
            },
            Duration::ZERO,
        )
        .await;
    let state = engine
        .wait_for_state(id, ContainerState::Exited, grace)
        .await
        .map_err(docker_failed(name, "inspect"))?;
    if state == ContainerState::Running {
        let _ = engine
            .perform(
                id,
                &Operation::Kill {
                    signal: "SIGKILL".into(),
                },
                Duration::ZERO,
            )
            .await;
        engine
            .wait_for_state(id, ContainerState::Exited, Duration::from_secs(10))
            .await
            .map_err(docker_failed(name, "inspect"))?;
    }
    Ok(())
}

/// Wait until container `id` is ready, at most `timeout`: when it was.
async fn wait_ready(
    engine: &Engine,
    id: &str,
    name: &str,
    ready: &Ready,
    timeout: Duration,
) -> Result<DateTime<Utc>, FaultError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let runner = match ready {
        Ready::Probe(p) => Some(crate::probe::ProbeRunner::new(
            0,
            (**p).clone(),
            Vec::new(),
            crate::probe::http_client(),
            engine.clone(),
        )),
        Ready::Running | Ready::Healthy => None,
    };
    let clock = crate::probe::Clock::start();
    let mut last = String::from("not looked at yet");
    loop {
        let status = engine
            .status(id)
            .await
            .map_err(docker_failed(name, "inspect"))?;
        let running = status.state == ContainerState::Running;
        if matches!(ready, Ready::Healthy) && running && status.health == Some(HealthState::None) {
            return Err(deploy_error(
                name,
                "it has no HEALTHCHECK to wait for: use `wait: running` or `wait: { probe: NAME }`"
                    .into(),
            ));
        }
        let is_ready = match ready {
            Ready::Running => running,
            Ready::Healthy => running && status.health == Some(HealthState::Healthy),
            Ready::Probe(_) => {
                running
                    && match &runner {
                        Some(r) => {
                            let sample = r.run_once(clock).await;
                            if !sample.ok {
                                last = format!("the probe: {}", sample.brief());
                            }
                            sample.ok
                        }
                        None => true,
                    }
            }
        };
        if is_ready {
            return Ok(Utc::now());
        }
        if !matches!(ready, Ready::Probe(_)) || !running {
            last = format!(
                "{}{}",
                status.state,
                status
                    .health
                    .filter(|h| *h != HealthState::None)
                    .map(|h| format!(", {h}"))
                    .unwrap_or_default()
            );
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(deploy_error(
                name,
                format!(
                    "not {} within {} (last seen: {last})",
                    ready.describe(),
                    crate::gameday::units::HumanDuration(timeout)
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What [`RevertRecipe::Rollback`] holds.
pub(super) struct Rollback<'a> {
    pub parked: &'a str,
    pub tag: &'a str,
    pub restart: &'a Value,
    pub healthy: bool,
    pub timeout: Duration,
    pub stop_signal: &'a str,
    pub stop_grace: Duration,
}

/// [`RevertRecipe::Rollback`]: remove what the deploy put under the
/// replica's name (only a container it labelled), put the replica set
/// aside back under its name with its restart policy, start it and wait
/// until it is ready. Nothing to do when the replica runs under its name
/// already (its policy is put back all the same).
pub(super) async fn rollback(
    engine: &Engine,
    on: OnContainer<'_>,
    back: Rollback<'_>,
) -> Result<Option<DateTime<Utc>>, FaultError> {
    let at_name = engine.named(on.name).await.map_err(on.docker("inspect"))?;
    let kept = engine.state(on.id).await.map_err(on.docker("inspect"))?;
    match &at_name {
        Some((id, _)) if id == on.id => {
            engine
                .set_restart_policy(on.id, back.restart)
                .await
                .map_err(on.docker("put back the restart policy of"))?;
            if engine.state(on.id).await.map_err(on.docker("inspect"))? == ContainerState::Running {
                return Ok(None);
            }
        }
        // The replacement goes only once the replica it replaced is known
        // to be there to come back.
        Some((id, labels))
            if labels.get(DEPLOY_LABEL).map(String::as_str) == Some(back.tag)
                && kept != ContainerState::Absent =>
        {
            // Stopped as its own image says (its signal, its grace).
            let (signal, grace) = match engine.replica(id).await {
                Ok(r) => (r.stop_signal.clone(), grace_of(&r)),
                Err(_) => (back.stop_signal.to_string(), back.stop_grace),
            };
            stop(engine, id, on.name, &signal, grace).await?;
            engine
                .remove_replacement(id)
                .await
                .map_err(on.docker("remove the deployed replacement of"))?;
        }
        Some((id, labels)) if labels.get(DEPLOY_LABEL).map(String::as_str) != Some(back.tag) => {
            return Err(deploy_error(
                on.name,
                format!(
                    "container {} holds its name now and this deploy did not make it, so it is left alone; the replica it replaced is kept as {} (stopped)",
                    id.get(..12).unwrap_or(id),
                    back.parked
                ),
            ));
        }
        None | Some(_) => {}
    }
    if kept == ContainerState::Absent {
        return Err(deploy_error(
            on.name,
            format!(
                "the replica kept as {} is gone, so what runs under its name was left running",
                back.parked
            ),
        ));
    }
    if at_name.as_ref().is_none_or(|(id, _)| id != on.id) {
        engine
            .rename(on.id, on.name)
            .await
            .map_err(on.docker("give its name back to"))?;
        engine
            .set_restart_policy(on.id, back.restart)
            .await
            .map_err(on.docker("put back the restart policy of"))?;
    }
    engine
        .perform(on.id, &Operation::Start, Duration::from_secs(5))
        .await
        .map_err(on.docker("start"))?;
    let ready = if back.healthy {
        Ready::Healthy
    } else {
        Ready::Running
    };
    wait_ready(engine, on.id, on.name, &ready, back.timeout)
        .await
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_replica_is_named_after_itself_and_its_deploy() {
        let tag = "gameday:20261206-abcdef:s1-f1-0123456789ab";
        let kept = parked_name("shop_api_1", tag);
        assert!(kept.starts_with("shop_api_1-gameday-kept-"), "{kept}");
        assert_eq!(kept, parked_name("shop_api_1", tag), "stable");
        assert_ne!(
            kept,
            parked_name("shop_api_1", "gameday:other:s1-f1-0123456789ab")
        );
    }
}
