//! Matching the gameday's targets against the containers that exist: pure,
//! so it is tested without Docker. Every target that does not resolve is
//! reported, each at its line and column, with what exists instead. A
//! target that picks some of its containers is narrowed to the choice
//! [`super::pick`] makes from the plan's seed, so the plan names the very
//! containers the run acts on. Its tests are in [`tests`].

use super::pick::{Place, Seed};
use super::{
    Inventory, Plan, ResolvedFault, ResolvedProbe, ResolvedScenario, ResolvedTarget, Sharer,
    schedule,
};
use crate::docker::ContainerInfo;
use crate::gameday::diag::{Diagnostic, nearest};
use crate::gameday::model::{DeployWait, Fault, Gameday, ProbeKind, Reach, Selector, Target};
use crate::gameday::units::ContainerState;

/// A network, HTTP or DNS fault must stay inside its container: a target
/// that uses the host's network namespace, or the namespace of a container
/// outside the scope, would throttle or cut that instead; and a container
/// outside the scope that shares the target's namespace (`network_mode:
/// container:<target>`) gets every packet, rule and proxy of the fault too,
/// so it is refused unless the fault says `include_shared_namespace: true`.
/// Returns every container that shares a target's namespace, in scope or
/// not: the plan lists them. A deploy, which replaces its targets, is
/// refused on a target whose namespace any other container uses.
fn own_namespace(
    fault: &Fault,
    targets: &ResolvedTarget,
    in_scope: &[ContainerInfo],
    outside_scope: &[ContainerInfo],
) -> Result<Vec<Sharer>, Diagnostic> {
    if let Fault::Deploy(_) = fault {
        if let Some(task) = targets
            .containers
            .iter()
            .find(|c| c.swarm_service.is_some())
        {
            return Err(Diagnostic::new(
                targets.target.pos,
                format!("`{}` is a task of a swarm service, which the swarm deploys", task.name),
            )
            .with_hint(
                "roll a swarm service with `docker service update --image`; a `deploy` recreates compose and plain containers. Nothing was changed",
            ));
        }
        // A deploy removes the container whose namespace the sharers use:
        // they would be left without a network.
        let joined = targets.containers.iter().find_map(|t| {
            in_scope
                .iter()
                .chain(outside_scope)
                .find(|c| {
                    c.engine == t.engine
                        && c.network_mode
                            .as_deref()
                            .and_then(|m| m.strip_prefix("container:"))
                            .is_some_and(|r| names_container(r, t))
                })
                .map(|c| (c, t))
        });
        return match joined {
            Some((c, t)) => Err(Diagnostic::new(
                targets.target.pos,
                format!(
                    "`{}` uses the network namespace of `{}`, which a deploy replaces: it would be left without a network",
                    c.name, t.name
                ),
            )
            .with_hint(
                "deploy a service whose containers' namespaces no other container uses (`network_mode: service:...` or `container:...`), or stop those first. Nothing was changed",
            )),
            None => Ok(Vec::new()),
        };
    }
    let Some(shared) = fault.shared_namespace() else {
        return Ok(Vec::new());
    };
    if fault.reach() == Reach::Namespace {
        for c in &targets.containers {
            if let Some(whose) = foreign_namespace(c, in_scope) {
                return Err(Diagnostic::new(
                    targets.target.pos,
                    format!("`{}` uses {whose}", c.name),
                )
                .with_hint(format!(
                    "a `{}` fault needs a container with a network namespace of its own; gameday never reaches outside its scope. Nothing was changed",
                    fault.kind()
                )));
            }
        }
    }
    let sharers = sharers_of(&targets.containers, in_scope, outside_scope);
    let outside: Vec<&Sharer> = sharers.iter().filter(|s| !s.in_scope).collect();
    if !outside.is_empty() && !shared.include_shared_namespace {
        let names: Vec<String> = outside
            .iter()
            .map(|s| format!("`{}`", s.container.name))
            .collect();
        let mut whose: Vec<String> = outside.iter().map(|s| format!("`{}`", s.with)).collect();
        whose.dedup();
        let (verb, are) = if outside.len() == 1 {
            ("shares", "is")
        } else {
            ("share", "are")
        };
        return Err(Diagnostic::new(
            targets.target.pos,
            format!(
                "{} {verb} the network namespace of {} and {are} outside the scope: the `{}` fault would reach {} too",
                names.join(", "),
                whose.join(", "),
                fault.kind(),
                if outside.len() == 1 { "it" } else { "them" }
            ),
        )
        .with_hint(
            "every packet, rule and proxy of the fault is theirs too (`network_mode: container:...`); add `include_shared_namespace: true` to the fault to reach them knowingly, or stop them first. Nothing was changed",
        ));
    }
    Ok(sharers)
}

/// Whose network namespace `c` uses when it is not its own and not that of
/// a container in scope: the host's, or an outside container's.
fn foreign_namespace(c: &ContainerInfo, in_scope: &[ContainerInfo]) -> Option<String> {
    let mode = c.network_mode.as_deref().unwrap_or_default();
    if mode == "host" {
        return Some("the host's network namespace (network_mode: host): the fault would throttle or cut the whole host".to_string());
    }
    let other = mode.strip_prefix("container:")?;
    let in_scope = in_scope.iter().any(|s| names_container(other, s));
    (!in_scope).then(|| {
        format!("the network namespace of container `{other}`, which is outside the scope: the fault would reach it")
    })
}

/// Does `reference` (what follows `container:` in a network mode: an ID,
/// a short ID or a name) name `c`?
fn names_container(reference: &str, c: &ContainerInfo) -> bool {
    !reference.is_empty() && (c.id.starts_with(reference) || c.name == reference)
}

/// Every container on a target's engine that shares its network namespace
/// (its own, or the one it joined), in or outside the scope, following
/// `container:` links both ways. Stopped containers share nothing.
fn sharers_of(
    targets: &[ContainerInfo],
    in_scope: &[ContainerInfo],
    outside_scope: &[ContainerInfo],
) -> Vec<Sharer> {
    let everyone: Vec<(&ContainerInfo, bool)> = in_scope
        .iter()
        .map(|c| (c, true))
        .chain(outside_scope.iter().map(|c| (c, false)))
        .collect();
    let joins = |a: &ContainerInfo, b: &ContainerInfo| {
        a.engine == b.engine
            && a.network_mode
                .as_deref()
                .and_then(|m| m.strip_prefix("container:"))
                .is_some_and(|r| names_container(r, b))
    };
    let mut found: Vec<Sharer> = Vec::new();
    for target in targets {
        // The namespace's group: the target, whoever it joined, whoever
        // joined any of them; grown until nothing more joins.
        let mut group: Vec<&ContainerInfo> = vec![target];
        loop {
            let more: Vec<&ContainerInfo> = everyone
                .iter()
                .map(|(c, _)| *c)
                .filter(|c| !group.iter().any(|g| g.id == c.id))
                .filter(|c| group.iter().any(|g| joins(c, g) || joins(g, c)))
                .collect();
            if more.is_empty() {
                break;
            }
            group.extend(more);
        }
        for (c, in_scope) in &everyone {
            let live = !matches!(
                c.state,
                ContainerState::Exited
                    | ContainerState::Dead
                    | ContainerState::Removing
                    | ContainerState::Absent
            );
            let is_target = targets.iter().any(|t| t.id == c.id);
            if live
                && !is_target
                && group.iter().any(|g| g.id == c.id)
                && !found.iter().any(|s| s.container.id == c.id)
            {
                found.push(Sharer {
                    container: (*c).clone(),
                    with: target.name.clone(),
                    in_scope: *in_scope,
                });
            }
        }
    }
    found
}

/// Match every target of the gameday against the containers in scope,
/// and make each target's pick from `seed` (see [`super::pick`]).
/// Collects every target that does not resolve.
pub(crate) fn resolve(
    gameday: Gameday,
    inventory: Inventory,
    seed: Seed,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let project = gameday.scope.compose_project.clone();
    // Faults act on running containers only; probes watch them all. A
    // target that picks some of its containers has them chosen here.
    let mut resolve_one = |target: &Target, running_only: bool, place: Option<Place>| {
        let resolved = resolve_target(
            target,
            &inventory.in_scope,
            &inventory.outside_scope,
            &project,
            running_only,
        )
        .and_then(|r| match place {
            Some(place) => super::pick::narrow(r, place, seed.value),
            None => Ok(r),
        });
        match resolved {
            Ok(r) => Some(r),
            Err(d) => {
                errors.push(d);
                None
            }
        }
    };
    let mut namespace_errors = Vec::new();
    let mut scenarios = Vec::new();
    for (si, scenario) in gameday.scenarios.iter().enumerate() {
        let mut faults = Vec::new();
        for (fi, fault) in scenario.faults.iter().enumerate() {
            let place = Place::Fault {
                scenario: si,
                fault: fi,
            };
            let targets = resolve_one(fault.target(), true, Some(place)).and_then(|targets| {
                match own_namespace(
                    fault,
                    &targets,
                    &inventory.in_scope,
                    &inventory.outside_scope,
                ) {
                    Ok(sharers) => Some((targets, sharers)),
                    Err(d) => {
                        namespace_errors.push(d);
                        None
                    }
                }
            });
            let peers: Vec<ContainerInfo> = fault
                .peers()
                .iter()
                .filter_map(|peer| {
                    resolve_one(
                        &Target::every_replica(
                            &peer.service,
                            fault.target().host.clone(),
                            peer.pos,
                        ),
                        true,
                        None,
                    )
                })
                .flat_map(|r| r.containers)
                .collect();
            if let (Some((targets, _)), Fault::Deploy(d)) = (&targets, fault)
                && let Some(image) = &d.image
                && let Some((engine, _)) = inventory
                    .missing_images
                    .iter()
                    .find(|(e, i)| i == image && targets.containers.iter().any(|c| c.engine == *e))
            {
                namespace_errors.push(
                    Diagnostic::new(
                        fault.target().pos,
                        format!("the engine `{engine}` has no image `{image}` to deploy"),
                    )
                    .with_hint(
                        "build or load it there before the gameday (`docker build -t IMAGE .`, `docker load`): a deploy never pulls",
                    ),
                );
                continue;
            }
            if let Fault::Deploy(d) = fault
                && let DeployWait::Probe(name) = &d.wait
                && let Some(p) = gameday.probes.0.iter().find(|p| &p.name == name)
                && !matches!(p.kind, ProbeKind::Http(_) | ProbeKind::Tcp(_))
            {
                namespace_errors.push(
                    Diagnostic::new(
                        fault.target().pos,
                        format!(
                            "the deploy waits for probe `{name}`, {} probe: a replica is ready when an HTTP or TCP probe answers",
                            p.kind.probe_type().with_article()
                        ),
                    )
                    .with_hint("name an `http` or `tcp` probe, or use `wait: healthy` or `wait: running`"),
                );
                continue;
            }
            if let Some((targets, sharers)) = targets {
                faults.push(ResolvedFault {
                    fault: fault.clone(),
                    targets,
                    peers,
                    reach: Vec::new(),
                    sharers,
                });
            }
        }
        scenarios.push(ResolvedScenario { faults });
    }
    let probes: Vec<ResolvedProbe> = gameday
        .probes
        .0
        .iter()
        .enumerate()
        .map(|(index, p)| ResolvedProbe {
            probe: p.clone(),
            targets: p
                .kind
                .target()
                .and_then(|t| resolve_one(t, false, Some(Place::Probe { index }))),
            user_facing: super::UserFacing::of(p, &inventory),
        })
        .collect();
    errors.extend(namespace_errors);
    errors.extend(super::reach::check(&mut scenarios, &inventory));
    if !errors.is_empty() {
        errors.sort_by_key(|d| d.pos);
        return Err(errors);
    }
    let (steps, total) = schedule(&gameday);
    Ok(Plan {
        gameday,
        inventory,
        scenarios,
        probes,
        steps,
        total,
        seed,
    })
}

fn resolve_target(
    target: &Target,
    in_scope: &[ContainerInfo],
    outside_scope: &[ContainerInfo],
    project: &str,
    running_only: bool,
) -> Result<ResolvedTarget, Diagnostic> {
    // `host:` narrows the search to one engine.
    let on_host: Vec<ContainerInfo>;
    let in_scope = match &target.host {
        Some(h) => {
            on_host = in_scope
                .iter()
                .filter(|c| &c.engine == h)
                .cloned()
                .collect();
            on_host.as_slice()
        }
        None => in_scope,
    };
    let (found, wanted, candidates): (Vec<ContainerInfo>, String, Vec<String>) =
        match &target.selector {
            Selector::Service(service) => {
                let found = in_scope
                    .iter()
                    .filter(|c| c.service.as_deref() == Some(service.as_str()))
                    .cloned()
                    .collect();
                let mut services: Vec<String> =
                    in_scope.iter().filter_map(|c| c.service.clone()).collect();
                services.sort();
                services.dedup();
                (found, format!("service `{service}`"), services)
            }
            Selector::Container(name) => {
                let found = in_scope
                    .iter()
                    .filter(|c| c.name == *name)
                    .cloned()
                    .collect();
                let names = in_scope.iter().map(|c| c.name.clone()).collect();
                (found, format!("container `{name}`"), names)
            }
            Selector::Labels(labels) => super::pick::labelled(in_scope, labels),
        };
    let (containers, skipped): (Vec<ContainerInfo>, Vec<ContainerInfo>) = found
        .into_iter()
        .partition(|c| !running_only || c.state == ContainerState::Running);
    if !containers.is_empty() {
        return Ok(ResolvedTarget {
            target: target.clone(),
            containers,
            skipped,
            choice: None,
        });
    }
    if !skipped.is_empty() {
        let states: Vec<String> = skipped
            .iter()
            .map(|c| format!("{} is {}", c.name, c.state.name()))
            .collect();
        return Err(Diagnostic::new(
            target.pos,
            format!("{wanted} has no running container: {}", states.join(", ")),
        )
        .with_hint(
            "a fault acts on running containers only (it never starts one that was stopped); start the stack first",
        ));
    }
    let name = match &target.selector {
        Selector::Service(s) | Selector::Container(s) => s.as_str(),
        Selector::Labels(labels) => {
            return Err(super::pick::none_labelled(
                target,
                labels,
                outside_scope,
                &candidates,
                project,
            ));
        }
    };
    let outside = outside_scope
        .iter()
        .any(|c| c.name == name || c.service.as_deref() == Some(name));
    let hint = if outside {
        format!(
            "a container named like that exists outside scope `{project}`; gameday never touches anything outside its scope"
        )
    } else if candidates.is_empty() {
        format!(
            "compose project `{project}` has no containers; start the stack first (e.g. `docker-compose -p {project} up -d`)"
        )
    } else {
        let suggestion = nearest(name, candidates.iter().map(String::as_str))
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        format!("{suggestion}in scope: {}", candidates.join(", "))
    };
    let place = match &target.host {
        Some(h) => format!(" on host `{h}`"),
        None => String::new(),
    };
    Err(Diagnostic::new(
        target.pos,
        format!("{wanted} not found in compose project `{project}`{place}"),
    )
    .with_hint(hint))
}

#[cfg(test)]
pub(crate) mod tests;
