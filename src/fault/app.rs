//! The application-level faults as the run makes them (`http_fault`,
//! `dns`): a proxy of gameday's own in the target's network namespace
//! (`http/`, `dns/`), started on this host or in a helper container and
//! held by the [`AppliedFault`] until the revert stops it. Their recipe is
//! the network faults' ([`super::RevertRecipe::NetRules`]): the proxy's
//! rules carry the fault's tag.

use super::{AppliedFault, Applying, FaultError, Running, child, dns, http, net};
use crate::gameday::model::{AppFault, DnsFault, HttpFault};

/// Start its proxy and wait until it is in place.
pub(super) async fn apply(
    fault: AppFault<'_>,
    applying: Applying<'_>,
) -> Result<AppliedFault, FaultError> {
    let via = applying.via(|e| applying.network(e)).await?;
    let (running, detail) = match fault {
        AppFault::Http(h) => start_http(h, &applying, via).await?,
        AppFault::Dns(d) => start_dns(d, &applying, via).await?,
    };
    let place = match (fault, via) {
        (AppFault::Dns(_), child::Via::ThisHost { .. }) => {
            "a DNS proxy in the container's network namespace"
        }
        (AppFault::Dns(_), child::Via::Helper { .. }) => {
            "a DNS proxy in a helper container sharing the container's network namespace"
        }
        (AppFault::Http(_), child::Via::ThisHost { .. }) => {
            "a transparent HTTP proxy in the container's network namespace"
        }
        (AppFault::Http(_), child::Via::Helper { .. }) => {
            "a transparent HTTP proxy in a helper container sharing the container's network namespace"
        }
    };
    let mut applied = applying.in_place(place, Some(detail));
    applied.running = Some(running);
    Ok(applied)
}

/// The HTTP proxy, told the addresses of the `to` services.
async fn start_http(
    fault: &HttpFault,
    applying: &Applying<'_>,
    via: child::Via<'_>,
) -> Result<(Running, String), FaultError> {
    let context = applying.context;
    let peers = net::peer_addresses(applying.engine, &context.peers)
        .await
        .map_err(|e| applying.network(e))?;
    let (proxy, detail) = child::start_proxy(
        via,
        "http-proxy",
        "the HTTP proxy",
        &applying.container.id,
        &context.tag,
        &http::Plan::of(fault, peers),
        context.max_lifetime,
    )
    .await
    .map_err(|e| applying.network(e))?;
    Ok((Running::Http(proxy), detail))
}

/// The DNS proxy.
async fn start_dns(
    fault: &DnsFault,
    applying: &Applying<'_>,
    via: child::Via<'_>,
) -> Result<(Running, String), FaultError> {
    let context = applying.context;
    let (proxy, detail) = child::start_proxy(
        via,
        "dns-proxy",
        "the DNS proxy",
        &applying.container.id,
        &context.tag,
        &dns::Plan::of(fault),
        context.max_lifetime,
    )
    .await
    .map_err(|e| applying.network(e))?;
    Ok((Running::Dns(proxy), detail))
}
