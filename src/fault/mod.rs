//! Faults on containers: apply one to a container and get an [`AppliedFault`]
//! whose `revert` consumes it, so a fault cannot be reverted twice or
//! forgotten silently. Every fault carries a [`RevertRecipe`]: plain data,
//! written to the journal before the fault is applied, which `recover` can
//! execute later from another process. Executing a recipe is idempotent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::docker::{ContainerInfo, DockerError, Engine, Operation};
use crate::gameday::model::Fault;
use crate::gameday::units::ContainerState;

/// How long to wait for Docker's event confirming an operation.
const CONFIRM_WITHIN: Duration = Duration::from_secs(5);
/// How long a restored container may take to be running again.
const RUNNING_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("cannot {action} {container}: {source}")]
    Docker {
        action: &'static str,
        container: String,
        #[source]
        source: DockerError,
    },
    #[error("{container} is {state}, not running, after being started again")]
    NotRunning {
        container: String,
        state: ContainerState,
    },
    #[error("{0} no longer exists, so it cannot be restored")]
    Gone(String),
}

/// How to undo a fault, as data: journalled before the fault is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum RevertRecipe {
    /// Unpause the container if it is paused.
    Unpause {
        container_id: String,
        container_name: String,
    },
    /// Start the container if it is not running, and wait until it runs.
    Start {
        container_id: String,
        container_name: String,
    },
    /// Nothing to undo (`restore: false`): the container is left as the fault left it.
    Nothing {
        container_id: String,
        container_name: String,
    },
}

impl RevertRecipe {
    pub fn container_name(&self) -> &str {
        match self {
            RevertRecipe::Unpause { container_name, .. }
            | RevertRecipe::Start { container_name, .. }
            | RevertRecipe::Nothing { container_name, .. } => container_name,
        }
    }

    pub fn container_id(&self) -> &str {
        match self {
            RevertRecipe::Unpause { container_id, .. }
            | RevertRecipe::Start { container_id, .. }
            | RevertRecipe::Nothing { container_id, .. } => container_id,
        }
    }

    /// The command a person would type to undo it by hand.
    pub fn by_hand(&self) -> String {
        match self {
            RevertRecipe::Unpause { container_id, .. } => format!("docker unpause {container_id}"),
            RevertRecipe::Start { container_id, .. } => format!("docker start {container_id}"),
            RevertRecipe::Nothing { .. } => "nothing to undo".to_string(),
        }
    }

    /// Undo the fault if it is still in effect. Safe to run any number of
    /// times: a container that is already fine is left alone. Returns when
    /// Docker confirmed the revert, if it had anything to do.
    pub async fn execute(&self, engine: &Engine) -> Result<Option<DateTime<Utc>>, FaultError> {
        let name = self.container_name().to_string();
        let id = self.container_id();
        let docker = |action: &'static str| {
            let container = name.clone();
            move |source| FaultError::Docker {
                action,
                container,
                source,
            }
        };
        match self {
            RevertRecipe::Nothing { .. } => Ok(None),
            RevertRecipe::Unpause { .. } => {
                let state = engine.state(id).await.map_err(docker("inspect"))?;
                if state != ContainerState::Paused {
                    return Ok(None);
                }
                let confirmed = engine
                    .perform(id, &Operation::Unpause, CONFIRM_WITHIN)
                    .await
                    .map_err(docker("unpause"))?;
                Ok(Some(confirmed_or_now(confirmed)))
            }
            RevertRecipe::Start { .. } => {
                let state = engine.state(id).await.map_err(docker("inspect"))?;
                let confirmed = match state {
                    ContainerState::Running => return Ok(None),
                    ContainerState::Absent => return Err(FaultError::Gone(name)),
                    ContainerState::Paused => engine
                        .perform(id, &Operation::Unpause, CONFIRM_WITHIN)
                        .await
                        .map_err(docker("unpause"))?,
                    // A restart in progress ends running on its own.
                    ContainerState::Restarting => None,
                    _ => engine
                        .perform(id, &Operation::Start, CONFIRM_WITHIN)
                        .await
                        .map_err(docker("start"))?,
                };
                let state = engine
                    .wait_for_state(id, ContainerState::Running, RUNNING_WITHIN)
                    .await
                    .map_err(docker("inspect"))?;
                if state != ContainerState::Running {
                    return Err(FaultError::NotRunning {
                        container: name,
                        state,
                    });
                }
                Ok(Some(confirmed_or_now(confirmed)))
            }
        }
    }
}

fn confirmed_or_now(confirmation: Option<crate::docker::Confirmation>) -> DateTime<Utc> {
    confirmation
        .map(|c| DateTime::from_timestamp_nanos(c.time_nano))
        .unwrap_or_else(Utc::now)
}

/// The revert recipe of `fault` on `container`, known before it is applied.
pub fn recipe_for(fault: &Fault, container: &ContainerInfo) -> RevertRecipe {
    let container_id = container.id.clone();
    let container_name = container.name.clone();
    match fault {
        Fault::Pause(_) => RevertRecipe::Unpause {
            container_id,
            container_name,
        },
        Fault::Kill(k) if !k.restore => RevertRecipe::Nothing {
            container_id,
            container_name,
        },
        Fault::Stop(s) if !s.restore => RevertRecipe::Nothing {
            container_id,
            container_name,
        },
        Fault::Kill(_) | Fault::Stop(_) | Fault::Restart(_) => RevertRecipe::Start {
            container_id,
            container_name,
        },
    }
}

/// A fault in effect. Revert it with [`AppliedFault::revert`].
#[derive(Debug)]
#[must_use = "an applied fault must be reverted"]
pub struct AppliedFault {
    pub kind: &'static str,
    pub container: ContainerInfo,
    pub recipe: RevertRecipe,
    pub requested_at: DateTime<Utc>,
    /// When Docker's event stream confirmed it (None: no event seen in time).
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A fault that was reverted.
#[derive(Debug, Clone)]
pub struct RevertedFault {
    pub kind: &'static str,
    pub container: ContainerInfo,
    pub applied_requested_at: DateTime<Utc>,
    pub applied_confirmed_at: Option<DateTime<Utc>>,
    pub revert_requested_at: DateTime<Utc>,
    pub revert_confirmed_at: Option<DateTime<Utc>>,
}

/// Apply `fault` to one container. On error nothing was applied.
pub async fn apply(
    engine: &Engine,
    fault: &Fault,
    container: &ContainerInfo,
) -> Result<AppliedFault, FaultError> {
    let op = match fault {
        Fault::Pause(_) => Operation::Pause,
        Fault::Kill(k) => Operation::Kill {
            signal: k.signal.clone(),
        },
        Fault::Stop(s) => Operation::Stop {
            timeout: s.timeout.as_std(),
        },
        Fault::Restart(r) => Operation::Restart {
            timeout: r.timeout.as_std(),
        },
    };
    let requested_at = Utc::now();
    let confirmation = engine
        .perform(&container.id, &op, CONFIRM_WITHIN + fault_grace(fault))
        .await
        .map_err(|source| FaultError::Docker {
            action: fault.kind(),
            container: container.name.clone(),
            source,
        })?;
    Ok(AppliedFault {
        kind: fault.kind(),
        container: container.clone(),
        recipe: recipe_for(fault, container),
        requested_at,
        confirmed_at: confirmation.map(|c| DateTime::from_timestamp_nanos(c.time_nano)),
    })
}

fn fault_grace(fault: &Fault) -> Duration {
    match fault {
        Fault::Stop(s) => s.timeout.as_std(),
        Fault::Restart(r) => r.timeout.as_std(),
        _ => Duration::ZERO,
    }
}

impl AppliedFault {
    /// Undo the fault. On failure the fault is handed back with the error,
    /// so the caller can report exactly what is left.
    pub async fn revert(
        self,
        engine: &Engine,
    ) -> Result<RevertedFault, (AppliedFault, FaultError)> {
        let revert_requested_at = Utc::now();
        match self.recipe.execute(engine).await {
            Ok(confirmed) => Ok(RevertedFault {
                kind: self.kind,
                container: self.container,
                applied_requested_at: self.requested_at,
                applied_confirmed_at: self.confirmed_at,
                revert_requested_at,
                revert_confirmed_at: confirmed,
            }),
            Err(e) => Err((self, e)),
        }
    }
}
