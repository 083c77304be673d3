//! The application-level faults as the run makes them (`http_fault`,
//! `dns`): a proxy of gameday's own in the target's network namespace
//! (`http/`, `dns/`), started on this host or in a helper container and
//! held by the [`AppliedFault`] until the revert stops it. Their recipe is
//! the network faults' ([`super::RevertRecipe::NetRules`]): the proxy's
//! rules carry the fault's tag.

use std::time::Duration;

use super::{AppliedFault, Applying, FaultError, Running, Via, dns, http, net};
use crate::gameday::model::{AppFault, DnsFault, HttpFault};
use crate::worker::{First, Target, Work, launch, serve::in_place_detail};

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
        (AppFault::Dns(_), Via::ThisHost { .. }) => {
            "a DNS proxy in the container's network namespace"
        }
        (AppFault::Dns(_), Via::Helper { .. }) => {
            "a DNS proxy in a helper container sharing the container's network namespace"
        }
        (AppFault::Http(_), Via::ThisHost { .. }) => {
            "a transparent HTTP proxy in the container's network namespace"
        }
        (AppFault::Http(_), Via::Helper { .. }) => {
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
    via: Via<'_>,
) -> Result<(Running, String), FaultError> {
    let context = applying.context;
    let peers = net::peer_addresses(applying.engine, &context.peers)
        .await
        .map_err(|e| applying.network(e))?;
    let (proxy, detail) = start_proxy(
        via,
        "the HTTP proxy",
        &applying.container.id,
        &context.tag,
        http::ProxyWork::of(fault, peers),
        context.max_lifetime,
        |at, work| http::Job { at, work },
    )
    .await
    .map_err(|e| applying.network(e))?;
    Ok((Running::Http(proxy), detail))
}

/// The DNS proxy.
async fn start_dns(
    fault: &DnsFault,
    applying: &Applying<'_>,
    via: Via<'_>,
) -> Result<(Running, String), FaultError> {
    let context = applying.context;
    let (proxy, detail) = start_proxy(
        via,
        "the DNS proxy",
        &applying.container.id,
        &context.tag,
        dns::ProxyWork::of(fault),
        context.max_lifetime,
        |at, work| dns::Job { at, work },
    )
    .await
    .map_err(|e| applying.network(e))?;
    Ok((Running::Dns(proxy), detail))
}

/// A proxy in a container's network namespace (`gameday http-proxy`,
/// `gameday dns-proxy`), held by the run until the revert stops it: it
/// then takes its redirect away, passes what is in flight (up to 5 s) and
/// says what it counted.
#[derive(Debug)]
pub(crate) struct Proxy(crate::worker::Worker);

impl Proxy {
    /// Stop it; its last word, or None when it had to be killed.
    pub(crate) async fn stop(self) -> Option<String> {
        self.0.stop(PROXY_STOP_WITHIN).await
    }
}

/// How long a proxy may take to listen and redirect.
const PROXY_READY_WITHIN: Duration = Duration::from_secs(10);
/// How long a stopped proxy may take to end.
const PROXY_STOP_WITHIN: Duration = Duration::from_secs(8);

/// Start a proxy in container `container_id`'s network namespace: on this
/// host (it enters the namespace itself), or in a helper container sharing
/// the container's network and PID namespaces (NET_ADMIN; placed, PID 1
/// is the container's main process there). Waits until it is in place;
/// returns it and what it says is in place.
async fn start_proxy<W, J: Work>(
    via: Via<'_>,
    what: &str,
    container_id: &str,
    tag: &str,
    work: W,
    max_lifetime: Duration,
    job: impl FnOnce(Target, W) -> J,
) -> Result<(Proxy, String), String> {
    let (placement, at) = via.place(container_id, tag, max_lifetime);
    let job = job(at, work);
    let worker = launch(&job, placement, PROXY_READY_WITHIN)
        .await
        .map_err(|e| e.to_string())?;
    match worker.first_line(PROXY_READY_WITHIN).await {
        (Some(worker), First::Line(line)) => match in_place_detail(&line) {
            Some(detail) => Ok((Proxy(worker), detail.to_string())),
            None => {
                let _ = worker.stop(Duration::from_secs(5)).await;
                Err(format!("{what} said `{line}` instead of being in place"))
            }
        },
        (_, First::Ended { stderr, .. }) => {
            let err = stderr
                .trim()
                .trim_start_matches(&format!("gameday {}: ", J::KIND))
                .to_string();
            Err(if err.is_empty() {
                format!("{what} ended before it was in place")
            } else {
                err
            })
        }
        (_, First::TimedOut) | (None, First::Line(_)) => Err(format!(
            "{what} was not in place after {}s",
            PROXY_READY_WITHIN.as_secs()
        )),
    }
}
