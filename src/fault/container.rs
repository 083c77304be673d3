//! The faults made by one Docker API call on the container (kill, stop,
//! restart, pause): their recipes, their applies (confirmed by Docker's
//! event), and the reverts that start or unpause the container again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::recipe::{OnContainer, confirmed_or_now};
use super::{AppliedFault, Applying, CONFIRM_WITHIN, FaultError, RevertRecipe};
use crate::docker::{ContainerInfo, Engine, Operation};
use crate::gameday::model::{ContainerFault, KillFault, StopFault};
use crate::gameday::units::ContainerState;

/// Signals after which a container is expected to exit.
const TERMINATING: &[&str] = &["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGABRT"];
/// How long a killed container may take to exit.
const KILL_EXIT_WITHIN: Duration = Duration::from_secs(10);
/// How long a restored container may take to be running again.
const RUNNING_WITHIN: Duration = Duration::from_secs(30);

/// Its revert recipe: start it again (unless `restore: false`), or unpause it.
pub(super) fn recipe(fault: ContainerFault<'_>, container: &ContainerInfo) -> RevertRecipe {
    let container_id = container.id.clone();
    let container_name = container.name.clone();
    match fault {
        ContainerFault::Pause(_) => RevertRecipe::Unpause {
            container_id,
            container_name,
        },
        ContainerFault::Kill(KillFault { restore: false, .. })
        | ContainerFault::Stop(StopFault { restore: false, .. }) => RevertRecipe::Nothing {
            container_id,
            container_name,
        },
        // A swarm task killed or stopped is replaced by the swarm with a
        // new container; starting the old one again would run a copy
        // outside the swarm's control. `recovers_within` measures the swarm.
        ContainerFault::Kill(_) | ContainerFault::Stop(_) if container.swarm_service.is_some() => {
            RevertRecipe::Nothing {
                container_id,
                container_name,
            }
        }
        ContainerFault::Kill(_) | ContainerFault::Stop(_) | ContainerFault::Restart(_) => {
            RevertRecipe::Start {
                container_id,
                container_name,
            }
        }
    }
}

/// How long its Docker call may take besides the confirmation: a stop's
/// or a restart's grace period.
pub(super) fn grace(fault: ContainerFault<'_>) -> Duration {
    match fault {
        ContainerFault::Stop(s) => s.timeout.as_std(),
        ContainerFault::Restart(r) => r.timeout.as_std(),
        ContainerFault::Kill(_) | ContainerFault::Pause(_) => Duration::ZERO,
    }
}

/// The Docker call, confirmed by Docker's event when it comes in time.
pub(super) async fn apply(
    fault: ContainerFault<'_>,
    applying: Applying<'_>,
) -> Result<AppliedFault, FaultError> {
    let operation = match fault {
        ContainerFault::Pause(_) => Operation::Pause,
        ContainerFault::Kill(k) => Operation::Kill {
            signal: k.signal.clone(),
        },
        ContainerFault::Stop(s) => Operation::Stop {
            timeout: s.timeout.as_std(),
        },
        ContainerFault::Restart(r) => Operation::Restart {
            timeout: r.timeout.as_std(),
        },
    };
    let (engine, id) = (applying.engine, &applying.container.id);
    let confirmation = engine
        .perform(id, &operation, CONFIRM_WITHIN + grace(fault))
        .await
        .map_err(applying.docker(applying.fault.kind().key()))?;
    // Docker confirms a kill when the signal is sent. A terminating
    // signal is in effect once the container is down: wait for that
    // (bounded), so the hold starts then and a quick revert cannot find
    // it "still running", skip the restart, and leave it down.
    if let ContainerFault::Kill(k) = fault
        && TERMINATING.contains(&k.signal.as_str())
    {
        let _ = engine
            .wait_for_state(id, ContainerState::Exited, KILL_EXIT_WITHIN)
            .await;
    }
    Ok(applying.confirmed(confirmation.map(|c| DateTime::from_timestamp_nanos(c.time_nano))))
}

/// [`RevertRecipe::Unpause`]: unpause it if it is paused.
pub(super) async fn unpause(
    engine: &Engine,
    on: OnContainer<'_>,
) -> Result<Option<DateTime<Utc>>, FaultError> {
    // Try first, ask only when refused: the inspect round trip is paid
    // only when there was nothing to undo (issue 7: the revert lands
    // closer to the bare API call). Engines differ in how they refuse
    // ("is not paused" is a 409 on newer ones, a 500 on 20.10), so the
    // state decides, not the code.
    match engine
        .perform(on.id, &Operation::Unpause, CONFIRM_WITHIN)
        .await
    {
        Ok(confirmed) => Ok(Some(confirmed_or_now(confirmed))),
        Err(refused) => match engine.state(on.id).await.map_err(on.docker("inspect"))? {
            ContainerState::Paused => Err(on.docker("unpause")(refused)),
            ContainerState::Created
            | ContainerState::Running
            | ContainerState::Restarting
            | ContainerState::Removing
            | ContainerState::Exited
            | ContainerState::Dead
            | ContainerState::Absent => Ok(None),
        },
    }
}

/// [`RevertRecipe::Start`]: start it if it is not running, and wait until
/// it runs.
pub(super) async fn start(
    engine: &Engine,
    on: OnContainer<'_>,
) -> Result<Option<DateTime<Utc>>, FaultError> {
    let state = engine.state(on.id).await.map_err(on.docker("inspect"))?;
    let confirmed = match state {
        ContainerState::Running => return Ok(None),
        ContainerState::Absent => return Err(FaultError::Gone(on.name.to_string())),
        ContainerState::Paused => engine
            .perform(on.id, &Operation::Unpause, CONFIRM_WITHIN)
            .await
            .map_err(on.docker("unpause"))?,
        // A restart in progress ends running on its own.
        ContainerState::Restarting => None,
        ContainerState::Created
        | ContainerState::Removing
        | ContainerState::Exited
        | ContainerState::Dead => engine
            .perform(on.id, &Operation::Start, CONFIRM_WITHIN)
            .await
            .map_err(on.docker("start"))?,
    };
    let state = engine
        .wait_for_state(on.id, ContainerState::Running, RUNNING_WITHIN)
        .await
        .map_err(on.docker("inspect"))?;
    if state != ContainerState::Running {
        return Err(FaultError::NotRunning {
            container: on.name.to_string(),
            state,
        });
    }
    Ok(Some(confirmed_or_now(confirmed)))
}
