//! The `disconnect` fault: the container taken off a Docker network
//! through the API; its recipe keeps the endpoint (aliases, address) it is
//! connected to again with.

use chrono::{DateTime, Utc};

use super::recipe::OnContainer;
use super::{AppliedFault, ApplyContext, Applying, FaultError, RevertRecipe, net};
use crate::docker::{ContainerInfo, Endpoint, Engine};
use crate::gameday::model::DisconnectFault;
use crate::gameday::units::ContainerState;

/// Its revert recipe: the endpoint the fault names (read only), to
/// connect the container to again; an error when it is on no such network.
pub(super) async fn recipe(
    engine: &Engine,
    fault: &DisconnectFault,
    container: &ContainerInfo,
    context: &ApplyContext,
) -> Result<RevertRecipe, FaultError> {
    let endpoints = engine
        .endpoints(&container.id)
        .await
        .map_err(|source| FaultError::Docker {
            action: "inspect",
            container: container.name.clone(),
            source,
        })?;
    let Some(endpoint) = net::find_endpoint(&endpoints, &fault.network, &context.project) else {
        let names: Vec<&str> = endpoints.iter().map(|e| e.network.as_str()).collect();
        return Err(FaultError::Network {
            action: "disconnect",
            container: container.name.clone(),
            message: format!(
                "it is not attached to network `{}` (it is on: {})",
                fault.network,
                names.join(", ")
            ),
        });
    };
    Ok(RevertRecipe::Reconnect {
        container_id: container.id.clone(),
        container_name: container.name.clone(),
        network: endpoint.network.clone(),
        aliases: endpoint.aliases.clone(),
        ipv4: endpoint.ipv4.clone(),
    })
}

/// Disconnect it from the network its recipe names.
pub(super) async fn apply(applying: Applying<'_>) -> Result<AppliedFault, FaultError> {
    let mechanism = net::mechanism(applying.fault, applying.context.netem_available)
        .map_err(|e| applying.network(e))?;
    applying
        .engine
        .disconnect(&applying.container.id, network_of(&applying.recipe))
        .await
        .map_err(applying.docker("disconnect"))?;
    Ok(applying.in_place(mechanism.describe(), None))
}

fn network_of(recipe: &RevertRecipe) -> &str {
    match recipe {
        RevertRecipe::Reconnect { network, .. } => network,
        RevertRecipe::Unpause { .. }
        | RevertRecipe::Start { .. }
        | RevertRecipe::Nothing { .. }
        | RevertRecipe::NetRules { .. }
        | RevertRecipe::Continue { .. }
        | RevertRecipe::Stress { .. }
        | RevertRecipe::Script { .. }
        | RevertRecipe::Rollback { .. } => "",
    }
}

/// [`RevertRecipe::Reconnect`]: connect it to `endpoint`'s network again,
/// with its aliases and address, unless it is on it.
pub(super) async fn reconnect(
    engine: &Engine,
    on: OnContainer<'_>,
    endpoint: Endpoint,
) -> Result<Option<DateTime<Utc>>, FaultError> {
    if engine.state(on.id).await.map_err(on.docker("inspect"))? == ContainerState::Absent {
        return Err(FaultError::Gone(on.name.to_string()));
    }
    let endpoints = engine
        .endpoints(on.id)
        .await
        .map_err(on.docker("inspect"))?;
    if endpoints.iter().any(|e| e.network == endpoint.network) {
        return Ok(None);
    }
    engine
        .connect_network(on.id, &endpoint)
        .await
        .map_err(on.docker("reconnect"))?;
    Ok(Some(Utc::now()))
}
