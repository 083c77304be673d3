//! Matching the gameday's targets against the containers that exist: pure,
//! so it is tested without Docker. Every target that does not resolve is
//! reported, each at its line and column, with what exists instead.

use super::{Inventory, Plan, ResolvedFault, ResolvedScenario, ResolvedTarget, schedule};
use crate::docker::ContainerInfo;
use crate::gameday::diag::{Diagnostic, nearest};
use crate::gameday::model::{Fault, Gameday, Pick, Reach, Selector, Target};
use crate::gameday::units::ContainerState;

/// A network fault must stay inside its container: a target that uses the
/// host's network namespace, or the namespace of a container outside the
/// scope, would throttle or cut that instead.
fn own_namespace(
    fault: &Fault,
    targets: &ResolvedTarget,
    in_scope: &[ContainerInfo],
) -> Result<(), Diagnostic> {
    if fault.reach() != Reach::Namespace {
        return Ok(());
    }
    for c in &targets.containers {
        let mode = c.network_mode.as_deref().unwrap_or_default();
        let shared = if mode == "host" {
            Some("the host's network namespace (network_mode: host): the fault would throttle or cut the whole host".to_string())
        } else if let Some(other) = mode.strip_prefix("container:") {
            let in_scope = in_scope
                .iter()
                .any(|s| s.id.starts_with(other) || s.name == other);
            (!in_scope).then(|| {
                format!("the network namespace of container `{other}`, which is outside the scope: the fault would reach it")
            })
        } else {
            None
        };
        if let Some(shared) = shared {
            return Err(Diagnostic::new(
                targets.target.pos,
                format!("`{}` uses {shared}", c.name),
            )
            .with_hint(format!(
                "a `{}` fault needs a container with a network namespace of its own; gameday never reaches outside its scope. Nothing was changed",
                fault.kind()
            )));
        }
    }
    Ok(())
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
                    match own_namespace(fault, &targets, &inventory.in_scope) {
                        Ok(()) => Some(targets),
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
            if let Some(targets) = targets {
                faults.push(ResolvedFault {
                    fault: fault.clone(),
                    targets,
                    peers,
                    reach: Vec::new(),
                });
            }
        }
        scenarios.push(ResolvedScenario { faults });
    }
    let probe_targets: Vec<Option<ResolvedTarget>> = gameday
        .probes
        .0
        .iter()
        .map(|p| p.kind.target().and_then(|t| resolve_one(t, false)))
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
        probe_targets,
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
        let probe = plan.probe_targets[0].as_ref().expect("a target");
        assert_eq!(names(&probe.containers), ["demo_db_1", "demo_db_2"]);
        assert!(plan.probe_targets[1].is_none());
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
            plan.probe_targets[0].as_ref().map(|t| t.containers.len()),
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
}
