//! Matching the gameday's targets against the containers that exist: pure,
//! so it is tested without Docker. Every target that does not resolve is
//! reported, each at its line and column, with what exists instead.

use super::{Inventory, Plan, ResolvedFault, ResolvedScenario, ResolvedTarget, schedule};
use crate::docker::ContainerInfo;
use crate::gameday::diag::{Diagnostic, nearest};
use crate::gameday::model::{Gameday, Pick, Selector, Target};

/// Match every target of the gameday against the containers in scope.
/// Collects every target that does not resolve.
pub(crate) fn resolve(gameday: Gameday, inventory: Inventory) -> Result<Plan, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let project = gameday.scope.compose_project.clone();
    let mut resolve_one = |target: &Target| -> Option<ResolvedTarget> {
        match resolve_target(
            target,
            &inventory.in_scope,
            &inventory.outside_scope,
            &project,
        ) {
            Ok(r) => Some(r),
            Err(d) => {
                errors.push(d);
                None
            }
        }
    };
    let mut scenarios = Vec::new();
    for scenario in &gameday.scenarios {
        let mut faults = Vec::new();
        for fault in &scenario.faults {
            let targets = resolve_one(fault.target());
            let peers: Vec<ContainerInfo> = fault
                .peers()
                .iter()
                .filter_map(|peer| {
                    resolve_one(&Target {
                        selector: Selector::Service(peer.service.clone()),
                        pick: Pick::All,
                        host: fault.target().host.clone(),
                        pos: peer.pos,
                    })
                })
                .flat_map(|r| r.containers)
                .collect();
            if let Some(targets) = targets {
                faults.push(ResolvedFault {
                    fault: fault.clone(),
                    targets,
                    peers,
                });
            }
        }
        scenarios.push(ResolvedScenario { faults });
    }
    let probe_targets: Vec<Option<ResolvedTarget>> = gameday
        .probes
        .0
        .iter()
        .map(|p| p.kind.target().and_then(&mut resolve_one))
        .collect();
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
    if !found.is_empty() {
        return Ok(ResolvedTarget {
            target: target.clone(),
            containers: found,
        });
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
}
