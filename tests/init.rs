//! `gameday init` against real stacks: the demo stack started with
//! docker-compose (its `depends_on` read from the compose file), a chain of
//! three services where one publishes no port, and a stack without any
//! compose file whose dependency is guessed. Each written gameday validates,
//! plans, and (for the two compose stacks) runs to a verdict with nothing
//! left behind. Every library gameday is fitted to the demo stack with
//! `--template` and run.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn gameday(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

fn wait_healthy(port: u16) {
    wait_for(
        "the stack to answer /health",
        Duration::from_secs(20),
        || http_ok(port, "/health", Duration::from_millis(500)),
    );
}

/// The demo stack from the repository's docker-compose.yml, on a free port.
fn demo_stack(prefix: &str) -> (ComposeStack, u16) {
    let port = free_port();
    let stack = ComposeStack::up(
        prefix,
        &[root().join("docker-compose.yml")],
        &["api", "store"],
        &[("GAMEDAY_DEMO_PORT", port.to_string())],
    );
    wait_healthy(port);
    (stack, port)
}

/// `gameday init ARGS -o DIR/NAME`: the file written, after checking the
/// command succeeded and the file validates and plans.
fn init_file(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, String) {
    let file = dir.join(name);
    let mut all = vec!["init"];
    all.extend(args);
    all.extend(["-o", file.to_str().unwrap()]);
    let out = gameday(&all);
    assert_exit(&out, 0);
    let said = text(&out);
    assert_exit(&gameday(&["validate", file.to_str().unwrap()]), 0);
    assert_exit(&gameday_plan(&file), 0);
    (file, said)
}

/// Run `file` and check an honest end: exit 0 (met) or 1 (not met), every
/// scenario ran to a verdict, no fault left, and no claim left on the
/// project. Returns
/// the result.
fn run_to_a_verdict(file: &Path, project: &str, secs: u64) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), file, secs);
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}:\n{}",
        text(&output)
    );
    let result = result_json(&run_dir(out.path()));
    for s in result["scenarios"].as_array().unwrap() {
        assert!(
            matches!(s["verdict"].as_str(), Some("met" | "not_met")),
            "{} ended {}:\n{}",
            s["name"],
            s["verdict"],
            text(&output)
        );
    }
    assert_eq!(result["faults_left"], serde_json::json!([]));
    let claim = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name=^gameday-claim-{project}$"),
    ]);
    assert!(claim.is_empty(), "the run left its claim");
    result
}

fn checklist(result: &serde_json::Value) -> Vec<(String, String)> {
    result["checklist"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["item"].as_str().unwrap().to_string(),
                        i["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn init_on_the_demo_stack_writes_a_gameday_that_runs_all_met_then_every_library_gameday_runs() {
    if !docker_available() {
        return;
    }
    let (stack, port) = demo_stack("init-demo");
    let dir = tempfile::tempdir().unwrap();
    let (file, said) = init_file(
        dir.path(),
        "init.yaml",
        &["--project", &stack.name, "--duration", "2s"],
    );
    assert!(
        said.contains("dependencies: api -> store (depends_on)"),
        "{said}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("url: \"http://127.0.0.1:{port}/health\"")),
        "{text}"
    );
    // The depends_on edge is covered by every scenario kind.
    for name in [
        "store paused, api must notice and fail fast",
        "store killed and restored, api recovers",
        "store slow, api stays bounded",
        "api started while store is down",
        "api cut off from store",
        "api restarted",
        "store restarted",
    ] {
        assert!(
            text.contains(&format!("name: \"{name}\""))
                || text.contains(&format!("name: {name}\n")),
            "{name}:\n{text}"
        );
    }
    // The demo api is built to pass all of it: the verdict is "met", and
    // every checklist item is ticked with the evidence behind it.
    let result = run_to_a_verdict(&file, &stack.name, 180);
    assert_eq!(result["outcome"], "met", "{result:#}");
    let items = checklist(&result);
    assert_eq!(items.len(), 7, "{items:?}");
    assert!(items.iter().all(|(_, status)| status == "met"), "{items:?}");
    // Nothing left: both running, the api healthy as its clients see it.
    assert_eq!(stack.state("store"), "running");
    assert_eq!(stack.state("api"), "running");
    wait_healthy(port);

    // Every library gameday, fitted to this stack, runs to a verdict.
    let mut fitted = 0;
    for name in [
        "dependency-down-at-start",
        "dependency-hangs",
        "slow-dependency",
        "restarts",
        "network-partition",
    ] {
        let (file, said) = init_file(
            dir.path(),
            &format!("{name}.yaml"),
            &["--template", name, "--project", &stack.name],
        );
        assert!(
            said.contains("caller=api dependency=store (depends_on)"),
            "{said}"
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(&format!("compose_project: {}", stack.name)),
            "{text}"
        );
        assert!(text.contains(&format!("127.0.0.1:{port}/health")), "{text}");
        let result = run_to_a_verdict(&file, &stack.name, 120);
        assert_eq!(result["outcome"], "met", "{name}: {result:#}");
        assert!(!checklist(&result).is_empty(), "{name}");
        assert_eq!(stack.state("store"), "running");
        assert_eq!(stack.state("api"), "running");
        wait_healthy(port);
        fitted += 1;
    }
    assert_eq!(fitted, 5);
}

#[test]
fn init_on_a_chain_of_three_services_covers_every_depends_on_edge() {
    if !docker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // web -> api -> store; only web publishes a port.
    let compose = dir.path().join("chain.yml");
    std::fs::write(
        &compose,
        r#"version: "2.4"
services:
  store:
    image: gameday-demo:latest
    command: ["store", "--listen", "0.0.0.0:7000"]
  api:
    image: gameday-demo:latest
    command: ["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"]
    depends_on: [store]
  web:
    image: gameday-demo:latest
    command: ["api", "--listen", "0.0.0.0:8080", "--store", "api:8080"]
    # Never paused (nothing depends on it): its HEALTHCHECK becomes an exec probe.
    healthcheck: { test: ["CMD", "/gameday-demo", "connect", "127.0.0.1:8080", "300"], interval: 1h }
    ports: ["127.0.0.1:${WEB_PORT}:8080"]
    depends_on:
      api: { condition: service_started }
"#,
    )
    .unwrap();
    let port = free_port();
    let stack = ComposeStack::up(
        "init-chain",
        std::slice::from_ref(&compose),
        &["store", "api", "web"],
        &[("WEB_PORT", port.to_string())],
    );
    wait_healthy(port);
    let (file, said) = init_file(
        dir.path(),
        "init.yaml",
        &[
            "--project",
            &stack.name,
            "--compose-file",
            compose.to_str().unwrap(),
            "--duration",
            "2s",
        ],
    );
    assert!(
        said.contains("web -> api (depends_on)") && said.contains("api -> store (depends_on)"),
        "{said}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    // api publishes nothing: what its clients see is checked through web.
    assert!(
        text.contains(
            "api publishes no port: what its clients see is checked through web (web-http)"
        ),
        "{text}"
    );
    assert!(!text.contains("api started while store is down"), "{text}");
    // web's HEALTHCHECK is run by an exec probe (web is never paused).
    assert!(
        text.contains(
            "web-healthcheck: { exec: { service: web, command: [/gameday-demo, connect, \"127.0.0.1:8080\", \"300\"] }, every: 1s }"
        ),
        "{text}"
    );
    let result = run_to_a_verdict(&file, &stack.name, 240);
    let names: Vec<&str> = result["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for edge in [("web", "api"), ("api", "store")] {
        assert!(
            names.contains(
                &format!("{} paused, {} must notice and fail fast", edge.1, edge.0).as_str()
            ),
            "{names:?}"
        );
        assert!(
            names.contains(&format!("{} cut off from {}", edge.0, edge.1).as_str()),
            "{names:?}"
        );
    }
    assert_eq!(names.len(), 12, "{names:?}");
    // Every item is decided by a measurement: none left "not exercised".
    let items = checklist(&result);
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|(_, s)| s == "met" || s == "not_met"),
        "{items:?}"
    );
    for service in ["store", "api", "web"] {
        assert_eq!(stack.state(service), "running", "{service}");
    }
    // The whole chain answers again, as web's clients see it.
    wait_healthy(port);
}

#[test]
fn without_depends_on_the_dependency_is_guessed_and_said_so() {
    if !docker_available() {
        return;
    }
    // Labelled containers, no compose file: nothing declares the edge.
    let project = Project::new("init-guess");
    let (_store, api) = project.demo_stack();
    let dir = tempfile::tempdir().unwrap();
    let (file, said) = init_file(
        dir.path(),
        "init.yaml",
        &["--project", &project.name, "--observe", "1s"],
    );
    assert!(
        said.contains("api -> store (guessed: its command line names `store`)"),
        "{said}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("#   api -> store   (guessed: its command line names `store`)"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "http://127.0.0.1:{}/health",
            api.host_port.unwrap()
        )),
        "{text}"
    );
}

#[test]
fn a_dependency_named_by_address_only_is_found_by_the_connections_it_makes() {
    if !docker_available() {
        return;
    }
    // The api reaches its store by IP address: nothing names `store`, only
    // the connections init provokes (GET /health) show the edge.
    let project = Project::new("init-conn");
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &store.id,
    ]);
    let target = format!("{ip}:7000");
    let api = project.service(
        "api",
        &["api", "--listen", "0.0.0.0:8080", "--store", &target],
        Some(8080),
    );
    wait_healthy(api.host_port.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (_, said) = init_file(
        dir.path(),
        "init.yaml",
        &["--project", &project.name, "--observe", "2s"],
    );
    assert!(
        said.contains("api -> store (guessed: a connection was seen)"),
        "{said}"
    );
    // With observation off, nothing shows it: init says it found none.
    let (file, said) = init_file(
        dir.path(),
        "blind.yaml",
        &["--project", &project.name, "--observe", "0s"],
    );
    assert!(said.contains("no dependency found"), "{said}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("# No dependencies found: only restarts are rehearsed."),
        "{text}"
    );
}
#[test]
fn init_explains_what_it_cannot_do() {
    if !docker_available() {
        return;
    }
    let out = gameday(&["init", "--project", "gdt-no-such-project"]);
    assert_exit(&out, 2);
    let said = text(&out);
    assert!(
        said.contains("error: no container of compose project `gdt-no-such-project`"),
        "{said}"
    );
    assert!(said.contains("= hint: start the stack first"), "{said}");
    let out = gameday(&["init", "--template", "nope", "--project", "x"]);
    assert_exit(&out, 2);
    assert!(
        text(&out).contains("no gameday `nope` in the library"),
        "{}",
        text(&out)
    );
    let list = gameday(&["init", "--list"]);
    assert_exit(&list, 0);
    insta::assert_snapshot!("init_list", String::from_utf8_lossy(&list.stdout));
}
