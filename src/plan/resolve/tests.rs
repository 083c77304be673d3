//! The resolver's tests: made-up inventories, no Docker.

use super::*;

use crate::gameday::load_bytes;
use crate::gameday::model::Pick;
use crate::gameday::units::ContainerState;

/// [`super::resolve`] with a fixed seed.
pub(crate) fn resolve(gameday: Gameday, inventory: Inventory) -> Result<Plan, Vec<Diagnostic>> {
    super::resolve(gameday, inventory, Seed::given(1))
}

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
        labels: Default::default(),
        published: Vec::new(),
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
    // `pick: one`: one of the two, chosen when the plan is made.
    assert_eq!(faults[0].targets.target.pick, Pick::One);
    assert_eq!(faults[0].targets.containers.len(), 1);
    let choice = faults[0].targets.choice.as_ref().expect("a choice");
    assert_eq!(names(&choice.among), ["demo_db_1", "demo_db_2"]);
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

/// `LINE:COL: message / hint`.
fn located(d: &Diagnostic) -> String {
    format!(
        "{}:{}: {} / {}",
        d.pos.line,
        d.pos.col,
        d.message,
        d.hint.as_deref().unwrap_or_default()
    )
}

/// `n` running replicas of `service` in project `demo`, some labelled.
fn replicas(service: &str, n: u32, labelled: &[u32]) -> Vec<ContainerInfo> {
    (1..=n)
        .map(|i| {
            let mut c = container("demo", service, i);
            if labelled.contains(&i) {
                c.labels.insert("tier".into(), "db".into());
            }
            c
        })
        .collect()
}

fn picking(faults: &str) -> Gameday {
    gameday(&format!(
        "gameday: Pick\nscope: {{ compose_project: demo }}\nscenarios:\n  - name: s\n    faults:\n{faults}    duration: 1s\n"
    ))
}

#[test]
fn picks_are_made_from_the_seed_and_each_place_draws_its_own() {
    let g = picking(
        "      - pause: { service: api, pick: { count: 2 } }\n      - pause: { service: api, pick: { count: 2 } }\n",
    );
    let inventory = Inventory {
        in_scope: replicas("api", 5, &[]),
        ..Inventory::default()
    };
    let chosen = |seed: u64| -> Vec<Vec<String>> {
        let plan =
            super::resolve(g.clone(), inventory.clone(), Seed::given(seed)).expect("resolves");
        assert_eq!(plan.seed.value, seed);
        plan.scenarios[0]
            .faults
            .iter()
            .map(|f| {
                f.targets
                    .containers
                    .iter()
                    .map(|c| c.name.clone())
                    .collect()
            })
            .collect()
    };
    assert_eq!(chosen(7), chosen(7));
    assert!(chosen(7).iter().all(|c| c.len() == 2));
    // Over a range of seeds, the two faults do not always agree, and the
    // first fault's choice changes with the seed.
    let runs: Vec<Vec<Vec<String>>> = (0..20).map(chosen).collect();
    assert!(runs.iter().any(|r| r[0] != r[1]));
    assert!(runs.iter().any(|r| r[0] != runs[0][0]));
}

#[test]
fn a_count_above_the_running_replicas_is_located_at_the_pick() {
    let g = picking("      - pause: { service: api, pick: { count: 4 } }\n");
    let mut in_scope = replicas("api", 4, &[]);
    in_scope[3].state = ContainerState::Exited;
    let inventory = Inventory {
        in_scope,
        ..Inventory::default()
    };
    let errors = resolve(g, inventory).expect_err("only 3 run");
    assert_eq!(errors.len(), 1);
    let message = located(&errors[0]);
    assert!(
        message.starts_with("6:38: `pick` wants 4 containers, but service api has 3 running: demo_api_1, demo_api_2, demo_api_3"),
        "{message}"
    );
    assert!(message.contains("pick at most 3"), "{message}");
}

#[test]
fn labels_select_the_labelled_containers_and_matching_none_is_located() {
    let g = picking("      - pause: { labels: { tier: db } }\n");
    let mut in_scope = replicas("api", 3, &[2]);
    in_scope.extend(replicas("db", 2, &[1, 2]));
    let inventory = Inventory {
        in_scope,
        ..Inventory::default()
    };
    let plan = resolve(g, inventory.clone()).expect("resolves");
    let names: Vec<&str> = plan.scenarios[0].faults[0]
        .targets
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["demo_api_2", "demo_db_1", "demo_db_2"]);
    let g = picking("      - pause: { labels: { tier: web } }\n");
    let errors = resolve(g, inventory).expect_err("nothing is web");
    let message = located(&errors[0]);
    assert!(
        message.starts_with(
            "6:18: no container in compose project `demo` carries the labels tier=web"
        ),
        "{message}"
    );
    // Keys only: a label's value may be a secret.
    assert!(
        message.contains("the label keys in scope: tier") && !message.contains("tier=db"),
        "{message}"
    );
}
