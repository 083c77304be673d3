//! Matching the gameday's targets against the containers that exist: pure,
//! so it is tested without Docker. Every target that does not resolve is
//! reported, each at its line and column, with what exists instead.

use super::{
    Inventory, Plan, ResolvedFault, ResolvedProbe, ResolvedScenario, ResolvedTarget, Sharer,
    schedule,
};
use crate::docker::ContainerInfo;
use crate::gameday::diag::{Diagnostic, nearest};
use crate::gameday::model::{DeployWait, Fault, Gameday, Pick, ProbeKind, Reach, Selector, Target};
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

/// Match every target of the gameday against the containers in scope.
/// Collects every target that does not resolve.
pub(crate) fn resolve(gameday: Gameday, inventory: Inventory) -> Result<Plan, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let project = gameday.scope.compose_project.clone();
    // Faults act on running containers only; probes watch them all.
    let mut resolve_one = |target: &Target, running_only: bool| -> Option<ResolvedTarget> {
        match resolve_target(
            target,
            &inventory.in_scope,
            &inventory.outside_scope,
            &project,
            running_only,
        ) {
            Ok(r) => Some(r),
            Err(d) => {
                errors.push(d);
                None
            }
        }
    };
    let mut namespace_errors = Vec::new();
    let mut scenarios = Vec::new();
    for scenario in &gameday.scenarios {
        let mut faults = Vec::new();
        for fault in &scenario.faults {
            let targets =
                resolve_one(fault.target(), true).and_then(|targets| {
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
                        &Target {
                            selector: Selector::Service(peer.service.clone()),
                            pick: Pick::All,
                            host: fault.target().host.clone(),
                            pos: peer.pos,
                        },
                        true,
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
        .map(|p| ResolvedProbe {
            probe: p.clone(),
            targets: p.kind.target().and_then(|t| resolve_one(t, false)),
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
        };
    let (containers, skipped): (Vec<ContainerInfo>, Vec<ContainerInfo>) = found
        .into_iter()
        .partition(|c| !running_only || c.state == ContainerState::Running);
    if !containers.is_empty() {
        return Ok(ResolvedTarget {
            target: target.clone(),
            containers,
            skipped,
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
pub(crate) mod tests {
    use super::*;
    use crate::gameday::load_bytes;
    use crate::gameday::units::ContainerState;

    pub(crate) fn container(project: &str, service: &str, n: u32) -> ContainerInfo {
        ContainerInfo {
            id: format!("{service}{n:0>12}"),
            name: format!("{project}_{service}_{n}"),
            service: Some(service.to_string()),
            project: Some(project.to_string()),
            state: ContainerState::Running,
            engine: crate::gameday::decode::DEFAULT_HOST.to_string(),
            swarm_service: None,
            network_mode: None,
            image: String::new(),
        }
    }

    /// Resolve `g` against one running container per service of `demo`.
    pub(crate) fn resolve_against(g: &Gameday, services: &[&str]) -> Plan {
        let inventory = Inventory {
            in_scope: services.iter().map(|s| container("demo", s, 1)).collect(),
            ..Inventory::default()
        };
        match resolve(g.clone(), inventory) {
            Ok(plan) => plan,
            Err(d) => panic!("{d:?}"),
        }
    }

    fn gameday(text: &str) -> Gameday {
        let env = |_: &str| None;
        match load_bytes("test.yaml", text.as_bytes(), &env) {
            Ok(g) => g,
            Err(d) => panic!("{}", d.render()),
        }
    }

    const FILE: &str = r#"
gameday: Resolve
scope: { compose_project: demo }
probes:
  db-state: { container: { service: db } }
  health: { http: { url: "http://127.0.0.1:1/health" } }
scenarios:
  - name: Cut off
    faults:
      - pause: { service: db, pick: one }
      - partition: { service: api, from: [db, cache] }
    duration: 1s
"#;

    #[test]
    fn every_fault_gets_its_targets_and_peers() {
        let g = gameday(FILE);
        let inventory = Inventory {
            in_scope: vec![
                container("demo", "db", 1),
                container("demo", "db", 2),
                container("demo", "api", 1),
                container("demo", "cache", 1),
            ],
            ..Inventory::default()
        };
        let plan = resolve(g, inventory).expect("resolves");
        let faults = &plan.scenarios[0].faults;
        assert_eq!(faults.len(), 2);
        let names = |c: &[ContainerInfo]| c.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&faults[0].targets.containers),
            ["demo_db_1", "demo_db_2"]
        );
        assert_eq!(faults[0].targets.target.pick, Pick::One);
        assert!(faults[0].peers.is_empty());
        assert_eq!(names(&faults[1].targets.containers), ["demo_api_1"]);
        assert_eq!(
            names(&faults[1].peers),
            ["demo_db_1", "demo_db_2", "demo_cache_1"]
        );
        // The container probe watches db's containers; the http probe none.
        let probe = plan.probes[0].targets.as_ref().expect("a target");
        assert_eq!(names(&probe.containers), ["demo_db_1", "demo_db_2"]);
        assert!(plan.probes[1].targets.is_none());
    }

    #[test]
    fn every_missing_target_is_reported_with_what_exists() {
        let g = gameday(FILE);
        let inventory = Inventory {
            in_scope: vec![container("demo", "api", 1), container("demo", "dbx", 1)],
            outside_scope: vec![container("other", "cache", 1)],
            ..Inventory::default()
        };
        let errors = resolve(g, inventory).expect_err("db and cache are missing");
        let texts: Vec<String> = errors
            .iter()
            .map(|d| format!("{}:{} {}", d.pos.line, d.pos.col, d.message))
            .collect();
        // The probe (line 5), the pause (line 10), both peers (line 11).
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(texts[0].starts_with("5:"), "{texts:?}");
        assert!(
            texts
                .iter()
                .all(|t| t.contains("not found in compose project `demo`"))
        );
        let hints: Vec<String> = errors.iter().filter_map(|d| d.hint.clone()).collect();
        assert!(
            hints.iter().any(|h| h.contains("did you mean `dbx`?")),
            "{hints:?}"
        );
        assert!(
            hints
                .iter()
                .any(|h| h.contains("exists outside scope `demo`")),
            "{hints:?}"
        );
    }

    #[test]
    fn a_host_narrows_the_search_to_one_engine() {
        let g = gameday(
            r#"
gameday: Hosts
scope: { compose_project: demo }
hosts: { db: "ssh://ops@db-1" }
scenarios:
  - name: Pause on db
    fault: { pause: { service: db, host: db } }
    duration: 1s
"#,
        );
        let default_only = Inventory {
            in_scope: vec![container("demo", "db", 1)],
            ..Inventory::default()
        };
        let errors = resolve(g.clone(), default_only).expect_err("db is not on host db");
        assert!(
            errors[0].message.contains("on host `db`"),
            "{}",
            errors[0].message
        );
        let mut on_db = container("demo", "db", 2);
        on_db.engine = "db".into();
        let inventory = Inventory {
            in_scope: vec![container("demo", "db", 1), on_db],
            ..Inventory::default()
        };
        let plan = resolve(g, inventory).expect("resolves on db");
        let targets = &plan.scenarios[0].faults[0].targets.containers;
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].engine, "db");
    }

    #[test]
    fn faults_act_on_running_containers_only() {
        let g = gameday(
            r#"
gameday: Running only
scope: { compose_project: demo }
probes:
  db-state: { container: { service: db } }
scenarios:
  - name: Stop
    fault: { stop: { service: db } }
    duration: 1s
"#,
        );
        let mut exited = container("demo", "db", 2);
        exited.state = ContainerState::Exited;
        let inventory = Inventory {
            in_scope: vec![container("demo", "db", 1), exited.clone()],
            ..Inventory::default()
        };
        let plan = resolve(g.clone(), inventory).expect("resolves");
        let targets = &plan.scenarios[0].faults[0].targets;
        assert_eq!(targets.containers.len(), 1);
        assert_eq!(targets.containers[0].name, "demo_db_1");
        assert_eq!(targets.skipped, vec![exited.clone()]);
        // A probe still watches every container of the service.
        assert_eq!(
            plan.probes[0].targets.as_ref().map(|t| t.containers.len()),
            Some(2)
        );
        // Nothing running at all: a located error, not a start.
        let only_exited = Inventory {
            in_scope: vec![exited],
            ..Inventory::default()
        };
        let errors = resolve(g, only_exited).expect_err("nothing to stop");
        assert!(
            errors[0]
                .message
                .contains("has no running container: demo_db_2 is exited"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn a_network_fault_never_reaches_the_host_or_outside_the_scope() {
        let g = gameday(
            r#"
gameday: Namespaces
scope: { compose_project: demo }
scenarios:
  - name: Slow
    faults:
      - delay: { service: api, latency: 100ms }
      - pause: { service: api }
    duration: 1s
"#,
        );
        let mut host = container("demo", "api", 1);
        host.network_mode = Some("host".into());
        let errors = resolve(
            g.clone(),
            Inventory {
                in_scope: vec![host],
                ..Inventory::default()
            },
        )
        .expect_err("host namespace");
        assert_eq!(errors.len(), 1, "the pause is fine: {errors:?}");
        assert_eq!((errors[0].pos.line, errors[0].pos.col), (7, 18));
        assert!(
            errors[0].message.contains("host's network namespace"),
            "{}",
            errors[0].message
        );
        let mut shared = container("demo", "api", 1);
        shared.network_mode = Some("container:0123456789ab".into());
        let errors = resolve(
            g.clone(),
            Inventory {
                in_scope: vec![shared.clone()],
                ..Inventory::default()
            },
        )
        .expect_err("outside namespace");
        assert!(
            errors[0].message.contains("outside the scope"),
            "{}",
            errors[0].message
        );
        // Sharing the namespace of a container in scope is allowed.
        let mut peer = container("demo", "db", 1);
        peer.id = "0123456789abcdef".into();
        assert!(
            resolve(
                g,
                Inventory {
                    in_scope: vec![shared, peer],
                    ..Inventory::default()
                },
            )
            .is_ok()
        );
    }

    /// `name` of project `project`, running in the network namespace of `of`.
    fn joined(project: &str, service: &str, of: &ContainerInfo) -> ContainerInfo {
        let mut c = container(project, service, 1);
        c.network_mode = Some(format!("container:{}", of.id));
        c
    }

    #[test]
    fn a_deploy_is_refused_where_replacing_its_target_reaches_past_it() {
        let text = r#"
gameday: Deploy
scope: { compose_project: demo }
scenarios:
  - name: Roll
    fault: { deploy: { service: api } }
    duration: 1s
  - name: Roll the sidecar
    fault: { deploy: { service: sidecar } }
    duration: 1s
  - name: Roll a swarm task
    fault: { deploy: { service: worker } }
    duration: 1s
  - name: Roll, ready when a container says so
    fault: { deploy: { service: store, wait: { probe: store-state } } }
    duration: 1s
probes:
  store-state: { container: { service: store } }
"#;
        let api = container("demo", "api", 1);
        let sidecar = joined("demo", "sidecar", &api);
        let mut task = container("demo", "worker", 1);
        task.swarm_service = Some("demo_worker".into());
        let store = container("demo", "store", 1);
        let inventory = Inventory {
            in_scope: vec![api.clone(), sidecar, task, store],
            ..Inventory::default()
        };
        let errors = resolve(gameday(text), inventory).expect_err("reaches past its target");
        // The api's deploy would leave the sidecar without a network; the
        // sidecar's own namespace is the api's, which it joins again; the
        // swarm deploys its own tasks; a container probe cannot say a new
        // replica answers.
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!((errors[0].pos.line, errors[0].pos.col), (6, 24));
        assert_eq!(
            errors[0].message,
            "`demo_sidecar_1` uses the network namespace of `demo_api_1`, which a deploy replaces: it would be left without a network"
        );
        assert_eq!(errors[1].pos.line, 12);
        assert!(
            errors[1].message.contains("task of a swarm service"),
            "{errors:?}"
        );
        assert_eq!(
            errors[2].message,
            "the deploy waits for probe `store-state`, a container probe: a replica is ready when an HTTP or TCP probe answers"
        );
    }

    #[test]
    fn containers_outside_the_scope_sharing_the_target_namespace_are_refused_unless_included() {
        let text = |include: &str| {
            format!(
                r#"
gameday: Shared
scope: {{ compose_project: demo }}
scenarios:
  - name: Slow
    faults:
      - delay: {{ service: api, latency: 100ms{include} }}
      - dns: {{ service: api, error: nxdomain }}
      - pause: {{ service: api }}
    duration: 1s
"#
            )
        };
        let api = container("demo", "api", 1);
        let sidecar = joined("demo", "sidecar", &api);
        let mut outsider = joined("other", "tap", &api);
        outsider.network_mode = Some(format!("container:{}", &api.id[..12]));
        let mut by_name = joined("other", "probe", &api);
        by_name.network_mode = Some(format!("container:{}", api.name));
        let mut stopped = joined("other", "old", &api);
        stopped.state = ContainerState::Exited;
        let mut elsewhere = joined("other", "far", &api);
        elsewhere.engine = "db".into();
        let inventory = Inventory {
            in_scope: vec![api.clone(), sidecar.clone()],
            outside_scope: vec![outsider.clone(), by_name.clone(), stopped, elsewhere],
            ..Inventory::default()
        };
        let errors = resolve(gameday(&text("")), inventory.clone()).expect_err("reaches outside");
        // The delay and the dns fault, each at its target; not the pause.
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!((errors[0].pos.line, errors[0].pos.col), (7, 18));
        assert_eq!((errors[1].pos.line, errors[1].pos.col), (8, 16));
        assert_eq!(
            errors[0].message,
            "`other_tap_1`, `other_probe_1` share the network namespace of `demo_api_1` and are outside the scope: the `delay` fault would reach them too"
        );
        assert!(
            errors[0]
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("include_shared_namespace: true")),
            "{:?}",
            errors[0].hint
        );
        assert!(
            errors[1].message.contains("the `dns` fault"),
            "{}",
            errors[1].message
        );

        // Asked for on the delay: allowed, and every sharer is listed.
        let plan = resolve(
            gameday(&text(", include_shared_namespace: true")),
            Inventory {
                outside_scope: vec![outsider.clone(), by_name.clone()],
                ..inventory.clone()
            },
        )
        .expect_err("the dns fault still reaches outside");
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].pos.line, 8);
        let only_delay = r#"
gameday: Shared
scope: { compose_project: demo }
scenarios:
  - name: Slow
    fault: { delay: { service: api, latency: 100ms, include_shared_namespace: true } }
    duration: 1s
"#;
        let plan = resolve(gameday(only_delay), inventory).expect("asked for");
        let sharers: Vec<(&str, bool, &str)> = plan.scenarios[0].faults[0]
            .sharers
            .iter()
            .map(|s| (s.container.name.as_str(), s.in_scope, s.with.as_str()))
            .collect();
        assert_eq!(
            sharers,
            [
                ("demo_sidecar_1", true, "demo_api_1"),
                ("other_tap_1", false, "demo_api_1"),
                ("other_probe_1", false, "demo_api_1"),
            ]
        );
    }

    #[test]
    fn a_namespace_is_shared_through_the_container_the_target_joined() {
        let g = gameday(
            r#"
gameday: Joined
scope: { compose_project: demo }
scenarios:
  - name: Cut
    fault: { http_fault: { service: api, port: 8080, status: 503 } }
    duration: 1s
"#,
        );
        // api joined db's namespace (db is in scope: allowed), and a
        // container outside the scope joined db's too.
        let db = container("demo", "db", 1);
        let api = joined("demo", "api", &db);
        let tap = joined("other", "tap", &db);
        let inventory = Inventory {
            in_scope: vec![api, db.clone()],
            outside_scope: vec![tap],
            ..Inventory::default()
        };
        let errors = resolve(g.clone(), inventory).expect_err("tap shares it");
        assert!(
            errors[0]
                .message
                .starts_with("`other_tap_1` shares the network namespace of `demo_api_1`"),
            "{}",
            errors[0].message
        );
        // Alone with db, api's faults reach db, which is in scope.
        let plan = resolve(
            g,
            Inventory {
                in_scope: vec![joined("demo", "api", &db), db],
                ..Inventory::default()
            },
        )
        .expect("in scope");
        let sharers = &plan.scenarios[0].faults[0].sharers;
        assert_eq!(sharers.len(), 1);
        assert!(sharers[0].in_scope && sharers[0].container.name == "demo_db_1");
    }
}
