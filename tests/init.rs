//! `gameday init` against real stacks: the demo stack started with
//! docker-compose (its `depends_on` read from the compose file), a chain of
//! three services where one publishes no port, and a stack without any
//! compose file whose dependency is guessed. Each written gameday validates,
//! plans, and (for the two compose stacks) runs to a verdict with nothing
//! left behind. Every library gameday is fitted to the demo stack with
//! `--template` and run. A service with a HEALTHCHECK is redeployed and
//! rolled back: compose keeps the very container it started.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::datastores::{ensure_datastore_image, postgres_answers, redis_answers};
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

/// Every container of `service` in `project`, running or not, by ID: a
/// deploy rolled back leaves the one compose started, nothing beside it.
fn containers_of(project: &str, service: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// The versions an http probe with `version` saw answer, in order.
fn versions_served(result: &serde_json::Value, probe: &str) -> Vec<String> {
    let summary = result["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == probe)
        .unwrap_or_else(|| panic!("no probe {probe}: {:#}", result["probes"]));
    summary["versions"]["changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .map(|c| c["version"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
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
    // The depends_on edge is covered by every scenario kind; the api, whose
    // HEALTHCHECK Docker runs every 2s, is redeployed waiting for it.
    for name in [
        "store paused, api must notice and fail fast",
        "store killed and restored, api recovers",
        "store slow, api stays bounded",
        "api started while store is down",
        "api cut off from store",
        "api restarted",
        "store restarted",
        "Redeploy of api",
    ] {
        assert!(
            text.contains(&format!("name: \"{name}\""))
                || text.contains(&format!("name: {name}\n")),
            "{name}:\n{text}"
        );
    }
    assert!(
        text.contains(
            "fault: { deploy: { service: api, strategy: rolling, wait: healthy, deploy_time: \"< 2m\", rollback_time: \"< 2m\" } }"
        ),
        "{text}"
    );
    let api = containers_of(&stack.name, "api");
    assert_eq!(api.len(), 1, "{api:?}");
    // The demo api is built to pass all of it: the verdict is "met", and
    // every checklist item is ticked with the evidence behind it.
    let result = run_to_a_verdict(&file, &stack.name, 240);
    assert_eq!(result["outcome"], "met", "{result:#}");
    let items = checklist(&result);
    assert_eq!(items.len(), 8, "{items:?}");
    assert!(items.iter().all(|(_, status)| status == "met"), "{items:?}");
    assert!(
        items
            .iter()
            .any(|(item, _)| item == "Deploys and rollbacks tested"),
        "{items:?}"
    );
    // Nothing left: both running, the api healthy as its clients see it,
    // and compose's own api container is the one running.
    assert_eq!(stack.state("store"), "running");
    assert_eq!(stack.state("api"), "running");
    assert_eq!(containers_of(&stack.name, "api"), api);
    wait_healthy(port);

    // Every library gameday, fitted to this stack, runs to a verdict.
    let mut fitted = 0;
    for name in [
        "dependency-down-at-start",
        "dependency-hangs",
        "slow-dependency",
        "restarts",
        "network-partition",
        "deploy-and-rollback",
        "breaking-points",
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
        if name == "deploy-and-rollback" {
            // The /version beside the health URL followed it to this stack,
            // and saw the release answer, then the rollback.
            assert!(
                text.contains(&format!("127.0.0.1:{port}/version")),
                "{text}"
            );
            assert_eq!(
                versions_served(&result, "caller-version"),
                ["1", "2", "1"],
                "{:#}",
                result["probes"]
            );
        }
        assert_eq!(stack.state("store"), "running");
        assert_eq!(stack.state("api"), "running");
        assert_eq!(containers_of(&stack.name, "api"), api, "{name}");
        wait_healthy(port);
        fitted += 1;
    }
    assert_eq!(fitted, 7);
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
    // web's HEALTHCHECK runs every hour: its redeploy waits for it running.
    assert!(names.contains(&"Redeploy of web"), "{names:?}");
    assert!(
        text.contains("fault: { deploy: { service: web, strategy: rolling, wait: running,"),
        "{text}"
    );
    assert_eq!(names.len(), 13, "{names:?}");
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

/// Every file under `dir`, as text (lossy), with its path.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// A compose stack whose api has a HEALTHCHECK carrying its database
/// password, interpolated by compose from the same value as its environment
/// (the `-p$DBPASSWORD` case): the written gameday names the variable
/// instead, and the value is nowhere, in the file, init's output, the plan,
/// the run's output, or anything the run keeps (result, samples, journal,
/// reports). A secret no variable holds is `***`.
#[test]
fn a_healthcheck_s_secret_is_named_never_written_printed_or_kept() {
    if !docker_available() {
        return;
    }
    let secret = format!("S3cr3t-{}-pw", std::process::id());
    let token = format!("T0ken-{}-zz", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("secret.yml");
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
    environment: { DEMO_DB_PASSWORD: "${SECRET}" }
    # The demo's `connect` ignores what follows its timeout: a stand-in for a
    # client that takes the password on its command line.
    healthcheck:
      test: ["CMD", "/gameday-demo", "connect", "127.0.0.1:8080", "300", "--password", "${SECRET}", "-p${SECRET}", "postgres://app:${SECRET}@store:7000/app", "--token=${TOKEN}"]
      interval: 1h
    ports: ["127.0.0.1:${WEB_PORT}:8080"]
    depends_on: [store]
"#,
    )
    .unwrap();
    let port = free_port();
    let stack = ComposeStack::up(
        "init-secret",
        std::slice::from_ref(&compose),
        &["store", "api"],
        &[
            ("WEB_PORT", port.to_string()),
            ("SECRET", secret.clone()),
            ("TOKEN", token.clone()),
        ],
    );
    wait_healthy(port);
    // The container really carries it, where init reads it.
    let test = docker(&[
        "inspect",
        "-f",
        "{{json .Config.Healthcheck.Test}}",
        &format!("{}_api_1", stack.name),
    ]);
    assert!(test.contains(&secret) && test.contains(&token), "{test}");

    let mut said = Vec::new();
    let (file, init_said) = init_file(
        dir.path(),
        "init.yaml",
        &[
            "--project",
            &stack.name,
            "--compose-file",
            compose.to_str().unwrap(),
            "--duration",
            "1s",
        ],
    );
    said.push(("init".to_string(), init_said.clone()));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&secret), "the secret is in the written file");
    assert!(
        text.contains(
            "  # api-healthcheck: { exec: { service: api, command: [/gameday-demo, connect, \"127.0.0.1:8080\", \"300\", \"--password\", \"$${DEMO_DB_PASSWORD}\", \"-p$${DEMO_DB_PASSWORD}\", \"postgres://app:$${DEMO_DB_PASSWORD}@store:7000/app\", \"--token=***\"] }, every: 1s }"
        ),
        "{text}"
    );
    assert!(
        text.contains("# Note: the HEALTHCHECK of `api` carries secrets, written as ${DEMO_DB_PASSWORD} and *** (1 secret no variable holds); it is a comment, not a probe"),
        "{text}"
    );
    assert!(init_said.contains("${DEMO_DB_PASSWORD}"), "{init_said}");
    for args in [vec!["validate"], vec!["plan"]] {
        let mut all = args.clone();
        all.push(file.to_str().unwrap());
        let out = gameday(&all);
        assert_exit(&out, 0);
        said.push((args.join(" "), common::text(&out)));
    }
    let out = tempfile::tempdir().unwrap();
    let run = run_gameday(out.path(), &file, 240);
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "{}",
        common::text(&run)
    );
    said.push(("run".to_string(), common::text(&run)));
    let run_dir = run_dir(out.path());
    let report = gameday(&["report", run_dir.to_str().unwrap()]);
    assert_exit(&report, 0);
    said.push(("report".to_string(), common::text(&report)));

    let kept = files_under(out.path());
    assert!(
        kept.iter().any(|(p, _)| p.ends_with("report.html"))
            && kept.iter().any(|(p, _)| p.ends_with("journal.jsonl"))
            && kept.iter().any(|(p, _)| p.ends_with("samples.jsonl")),
        "{kept:?}"
    );
    let mut everything: Vec<(String, String)> = said;
    everything.push((file.display().to_string(), text));
    everything.extend(kept.into_iter().map(|(p, t)| (p.display().to_string(), t)));
    let mut bytes = 0;
    for (what, content) in &everything {
        assert!(!content.contains(&secret), "the secret is in {what}");
        assert!(!content.contains(&token), "the token is in {what}");
        bytes += content.len();
    }
    eprintln!(
        "no secret in {} outputs and files ({bytes} bytes)",
        everything.len()
    );
    assert_eq!(stack.state("api"), "running");
}

/// The local engine's socket served as a plain-TCP engine at
/// 127.0.0.2:PORT, as a remote engine reached over TCP is: its host is
/// 127.0.0.2, not this machine's 127.0.0.1. Relaying stops on drop.
struct TcpEngine {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TcpEngine {
    fn start() -> TcpEngine {
        use std::sync::atomic::Ordering;
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".to_string());
        let listener = std::net::TcpListener::bind(("127.0.0.2", 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let engine = TcpEngine {
            port: listener.local_addr().unwrap().port(),
            up: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let up = engine.up.clone();
        std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = std::os::unix::net::UnixStream::connect(&socket) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        engine
    }
}

impl Drop for TcpEngine {
    fn drop(&mut self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Counts the TCP connections this machine opens to `address:port`, for
/// each address: an iptables OUTPUT rule without a target only counts
/// (nothing is changed); the rules go on drop.
struct ConnectionCounter {
    rules: Vec<(String, Vec<String>)>,
}

impl ConnectionCounter {
    fn new(addresses: &[&str], port: u16) -> ConnectionCounter {
        let mut counter = ConnectionCounter { rules: Vec::new() };
        for address in addresses {
            let comment = format!("gdtest-init-{}-{address}-{port}", std::process::id());
            let spec: Vec<String> = [
                "OUTPUT",
                "-d",
                address,
                "-p",
                "tcp",
                "--syn",
                "--dport",
                &port.to_string(),
                "-m",
                "comment",
                "--comment",
                &comment,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            run(std::process::Command::new("iptables")
                .args(["-w", "-I"])
                .args(&spec));
            counter.rules.push((comment, spec));
        }
        counter
    }

    /// Connections opened to `address` so far.
    fn opened(&self, address: &str) -> u64 {
        let listing =
            run(std::process::Command::new("iptables")
                .args(["-w", "-L", "OUTPUT", "-v", "-n", "-x"]));
        let (comment, _) = self
            .rules
            .iter()
            .find(|(c, _)| c.contains(&format!("-{address}-")))
            .unwrap();
        let line = listing
            .lines()
            .find(|l| l.contains(comment.as_str()))
            .unwrap_or_else(|| panic!("no rule {comment} in:\n{listing}"));
        line.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for ConnectionCounter {
    fn drop(&mut self) {
        for (_, spec) in &self.rules {
            let _ = std::process::Command::new("iptables")
                .args(["-w", "-D"])
                .args(spec)
                .output();
        }
    }
}

/// `gameday init` against an engine reached over TCP at 127.0.0.2 (the
/// local engine's socket behind a forwarder): the api publishes its port on
/// 0.0.0.0 of the engine's host, so init asks it at 127.0.0.2 and writes
/// probes there, and the file says why; not one connection goes to this
/// machine's 127.0.0.1 at that port (where an unrelated service would have
/// answered). `--probe-host` sends the probes where it says.
#[test]
fn init_against_a_tcp_engine_asks_the_engine_s_host_never_this_machine_s_loopback() {
    if !docker_available() {
        return;
    }
    let project = Project::new("init-remote");
    project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let api = project.service_opts(
        "api",
        &["-p", "0.0.0.0::8080"],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        None,
    );
    let mapping = docker(&["port", &api.id, "8080/tcp"]);
    let port: u16 = mapping
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    wait_healthy(port);
    let engine = TcpEngine::start();
    let docker_host = format!("tcp://127.0.0.2:{}", engine.port);
    let counter = ConnectionCounter::new(&["127.0.0.1", "127.0.0.2", "127.0.0.3"], port);
    let dir = tempfile::tempdir().unwrap();
    let init = |name: &str, extra: &[&str]| {
        let file = dir.path().join(name);
        let out = assert_cmd::Command::cargo_bin("gameday")
            .unwrap()
            .env("DOCKER_HOST", &docker_host)
            .args(["init", "--project", &project.name, "--observe", "1s", "-o"])
            .arg(&file)
            .args(extra)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        (out, file)
    };
    // In the clear only when asked.
    let (refused, _) = init("refused.yaml", &[]);
    assert_exit(&refused, 2);
    assert!(
        common::text(&refused).contains("--insecure"),
        "{}",
        common::text(&refused)
    );

    let (out, file) = init("init.yaml", &["--insecure"]);
    assert_exit(&out, 0);
    let (at_loopback, at_engine) = (counter.opened("127.0.0.1"), counter.opened("127.0.0.2"));
    eprintln!("connections to port {port}: 127.0.0.1 {at_loopback}, 127.0.0.2 {at_engine}");
    assert_eq!(at_loopback, 0, "init asked this machine's 127.0.0.1:{port}");
    assert!(at_engine >= 1, "init never asked the engine's host");
    let said = common::text(&out);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("url: \"http://127.0.0.2:{port}/health\"")),
        "{text}"
    );
    assert!(
        text.contains("# Published ports were asked at 127.0.0.2, the engine's host (from DOCKER_HOST); `--probe-host` asks elsewhere."),
        "{text}"
    );
    assert!(
        said.contains("published ports asked at 127.0.0.2, the engine's host"),
        "{said}"
    );
    assert!(
        text.contains("needs `docker: { insecure: true }`"),
        "{text}"
    );
    assert_exit(&gameday(&["validate", file.to_str().unwrap()]), 0);

    // --probe-host: asked there, and the file says so.
    let (out, file) = init("given.yaml", &["--insecure", "--probe-host", "127.0.0.3"]);
    assert_exit(&out, 0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("url: \"http://127.0.0.3:{port}/health\""))
            && text.contains("# Published ports were asked at 127.0.0.3 (--probe-host).")
            && text.contains("--probe-host 127.0.0.3"),
        "{text}"
    );
    assert!(counter.opened("127.0.0.3") >= 1);
    assert_eq!(counter.opened("127.0.0.1"), 0);
}

/// `gameday ARGS` with the ledgers' password in the environment, as a
/// team runs a file init wrote: `PGPASSWORD` set, nothing written.
fn gameday_with_password(password: &str, args: &[&str], secs: u64) -> std::process::Output {
    assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env("PGPASSWORD", password)
        .env_remove("REDIS_PASSWORD")
        .args(args)
        .timeout(Duration::from_secs(secs))
        .output()
        .unwrap()
}

/// (check, verdict, value) of the expectations of scenario `name`.
fn verdicts_of(result: &serde_json::Value, name: &str) -> Vec<(String, String, Option<f64>)> {
    let scenario = result["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name}: {result:#}"));
    scenario["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["text"].as_str().unwrap().to_string(),
                e["verdict"].as_str().unwrap().to_string(),
                e["value"].as_f64(),
            )
        })
        .collect()
}

/// The verdict and value of the check `text` in scenario `name`.
fn verdict_of(result: &serde_json::Value, name: &str, text: &str) -> (String, Option<f64>) {
    let all = verdicts_of(result, name);
    all.iter()
        .find(|(t, ..)| t == text)
        .map(|(_, verdict, value)| (verdict.clone(), *value))
        .unwrap_or_else(|| panic!("no `{text}` in {name}: {all:#?}"))
}

/// Real servers whose image (the locally built datastores image) says
/// nothing: PostgreSQL, a PgBouncer in front of it, a Redis without
/// persistence, and an HTTP service, in a compose stack. `init` knows each
/// by how its port answers and writes a ledger for each datastore, never a
/// TCP probe, with the user and database the database's environment names
/// and `${PGPASSWORD}` in place of the password the containers hold. Run as
/// written, the pooler's ledger sees the database frozen while a TCP
/// connect to the pooler succeeds throughout, a kill of the database
/// loses no acknowledged write, and a restart of the Redis loses them all.
/// The library's `datastore` gameday, fitted to the same stack, runs all
/// met.
#[test]
fn init_knows_real_datastores_by_their_answers_and_the_pooler_s_ledger_sees_the_database() {
    if !docker_available() {
        return;
    }
    ensure_datastore_image();
    let secret = format!("S3cr3t-{}-pg", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("stores.yml");
    std::fs::write(
        &compose,
        r#"version: "2.4"
services:
  db:
    image: gameday-datastores:latest
    command: ["gd-postgres"]
    # As the official image is told; gd-postgres makes `app` whatever it is told.
    environment: { POSTGRES_PASSWORD: "${SECRET}", POSTGRES_USER: app, POSTGRES_DB: app }
    stop_signal: SIGINT
    ports: ["127.0.0.1:${DB_PORT}:5432"]
  pool:
    image: gameday-datastores:latest
    command: ["gd-pgbouncer", "--db-host", "db"]
    environment: { POSTGRES_PASSWORD: "${SECRET}" }
    depends_on: [db]
    ports: ["127.0.0.1:${POOL_PORT}:6432"]
  cache:
    image: gameday-datastores:latest
    command: ["gd-redis", "--save", "", "--appendonly", "no"]
    ports: ["127.0.0.1:${CACHE_PORT}:6379"]
  web:
    image: gameday-demo:latest
    command: ["store", "--listen", "0.0.0.0:7000"]
    ports: ["127.0.0.1:${WEB_PORT}:7000"]
"#,
    )
    .unwrap();
    let (db_port, pool_port, cache_port, web_port) =
        (free_port(), free_port(), free_port(), free_port());
    let stack = ComposeStack::up(
        "init-stores",
        std::slice::from_ref(&compose),
        &["db", "pool", "cache", "web"],
        &[
            ("SECRET", secret.clone()),
            ("DB_PORT", db_port.to_string()),
            ("POOL_PORT", pool_port.to_string()),
            ("CACHE_PORT", cache_port.to_string()),
            ("WEB_PORT", web_port.to_string()),
        ],
    );
    wait_for("the servers to answer", Duration::from_secs(90), || {
        postgres_answers(db_port)
            && postgres_answers(pool_port)
            && redis_answers(cache_port)
            && http_ok(web_port, "/health", Duration::from_millis(500))
    });
    let (db_at, pool_at, cache_at) = (
        format!("127.0.0.1:{db_port}"),
        format!("127.0.0.1:{pool_port}"),
        format!("127.0.0.1:{cache_port}"),
    );
    let file = dir.path().join("init.yaml");
    let path = file.to_str().unwrap();
    let out = gameday(&[
        "init",
        "--project",
        &stack.name,
        "--compose-file",
        compose.to_str().unwrap(),
        "--duration",
        "3s",
        "-o",
        path,
    ]);
    assert_exit(&out, 0);
    let said = text(&out);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(said.contains("pool -> db (depends_on)"), "{said}");
    for line in [
        format!("  # pool: PostgreSQL's protocol (answered PostgreSQL's SSLRequest at {pool_at})."),
        "  # In front of db: its writes reach db, so this ledger sees db frozen where a TCP connect to pool would not.".to_string(),
        format!("      postgres: {{ url: \"postgres://app:${{PGPASSWORD}}@{pool_at}/app\", table: gameday_ledger_pool }}   # user and database from db's environment"),
        format!("  # db: PostgreSQL's protocol (answered PostgreSQL's SSLRequest at {db_at})."),
        format!("      postgres: {{ url: \"postgres://app:${{PGPASSWORD}}@{db_at}/app\", table: gameday_ledger_db }}   # user and database from its environment"),
        format!("  # cache: Redis's protocol (answered PING with +PONG at {cache_at})."),
        format!("      redis: {{ url: \"redis://{cache_at}\", key: \"gameday:ledger:cache\" }}"),
        format!("  web-http: {{ http: {{ url: \"http://127.0.0.1:{web_port}/health\" }} }}"),
    ] {
        assert!(written.contains(&line), "{line}\n{written}");
    }
    for tcp in ["pool-port", "db-port", "cache-port"] {
        assert!(!written.contains(tcp), "{tcp}:\n{written}");
    }
    // The containers hold the password; init wrote and said a placeholder.
    assert!(!written.contains(&secret) && !said.contains(&secret));
    // Without the variable, the file says what to set.
    let unset = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env_remove("PGPASSWORD")
        .args(["validate", path])
        .output()
        .unwrap();
    assert_exit(&unset, 2);
    assert!(
        text(&unset).contains("variable `PGPASSWORD` is not set"),
        "{}",
        text(&unset)
    );

    // A TCP probe on the pooler beside its ledger, to compare the two while
    // the database is frozen.
    let mut compared = written.replacen(
        "probes:\n",
        &format!("probes:\n  pool-port: {{ tcp: {{ address: \"{pool_at}\" }} }}\n"),
        1,
    );
    let paused = "  - name: \"db paused, pool must notice and fail fast\"\n";
    let at = compared.find(paused).expect("the database paused");
    let expect = at + compared[at..].find("    expect:\n").unwrap() + "    expect:\n".len();
    compared.insert_str(
        expect,
        "      - { probe: pool-port, during: fault, success_rate: \"== 100%\" }\n      - { probe: pool-ledger, during: fault, success_rate: \"< 50%\" }\n",
    );
    std::fs::write(&file, &compared).unwrap();
    assert_exit(&gameday_with_password(&secret, &["validate", path], 60), 0);
    assert_exit(&gameday_with_password(&secret, &["plan", path], 60), 0);
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().to_str().unwrap();
    let run = gameday_with_password(
        &secret,
        &["run", "--no-progress", "--out", out_path, path],
        400,
    );
    let printed = text(&run);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{printed}");
    let result = result_json(&run_dir(out_dir.path()));
    for s in result["scenarios"].as_array().unwrap() {
        assert!(
            matches!(s["verdict"].as_str(), Some("met" | "not_met")),
            "{} ended {}:\n{printed}",
            s["name"],
            s["verdict"]
        );
        eprintln!(
            "{}: {:?}",
            s["name"],
            verdicts_of(&result, s["name"].as_str().unwrap())
        );
    }
    assert_eq!(result["faults_left"], serde_json::json!([]));
    // Frozen behind its pooler: the TCP connect saw nothing, the ledger did.
    let frozen = "db paused, pool must notice and fail fast";
    assert_eq!(
        verdict_of(
            &result,
            frozen,
            "pool-port: success_rate == 100% during fault"
        )
        .0,
        "met"
    );
    assert_eq!(
        verdict_of(
            &result,
            frozen,
            "pool-ledger: success_rate < 50% during fault"
        )
        .0,
        "met"
    );
    // Nothing the database acknowledged is lost when it hangs, dies or
    // restarts, seen directly and through the pooler.
    for scenario in [
        frozen,
        "db killed and restored, pool recovers",
        "db restarted",
    ] {
        for ledger in ["db-ledger", "pool-ledger"] {
            let check = format!("{ledger}: lost writes <= 0");
            assert_eq!(
                verdict_of(&result, scenario, &check),
                ("met".to_string(), Some(0.0)),
                "{scenario}: {check}"
            );
        }
    }
    // A Redis without persistence loses what it acknowledged on a restart.
    let (verdict, lost) = verdict_of(&result, "cache restarted", "cache-ledger: lost writes <= 0");
    assert_eq!(verdict, "not_met");
    assert!(lost.is_some_and(|n| n >= 10.0), "{lost:?}");
    assert!(
        checklist(&result).contains(&(
            "Acknowledged writes survive a crash".to_string(),
            "met".to_string()
        )),
        "{:?}",
        checklist(&result)
    );
    assert!(!printed.contains(&secret), "{printed}");
    for (path, kept) in files_under(out_dir.path()) {
        assert!(!kept.contains(&secret), "{}", path.display());
    }

    // The library's datastore gameday, fitted: the pooler, its database
    // and both URLs found in the stack.
    let fitted = dir.path().join("datastore.yaml");
    let out = gameday(&[
        "init",
        "--template",
        "datastore",
        "--project",
        &stack.name,
        "--compose-file",
        compose.to_str().unwrap(),
        "-o",
        fitted.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    let said = text(&out);
    for role in [
        "caller=pool dependency=db (depends_on)".to_string(),
        format!("database_url=postgres://app:${{PGPASSWORD}}@{db_at}/app"),
        format!("pool_url=postgres://app:${{PGPASSWORD}}@{pool_at}/app"),
    ] {
        assert!(said.contains(&role), "{role}: {said}");
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().to_str().unwrap();
    let fitted_path = fitted.to_str().unwrap();
    let run = gameday_with_password(
        &secret,
        &["run", "--no-progress", "--out", out_path, fitted_path],
        200,
    );
    let result = result_json(&run_dir(out_dir.path()));
    for s in result["scenarios"].as_array().unwrap() {
        eprintln!(
            "{}: {:?}",
            s["name"],
            verdicts_of(&result, s["name"].as_str().unwrap())
        );
    }
    assert_eq!(result["outcome"], "met", "{}", text(&run));
    assert_eq!(result["faults_left"], serde_json::json!([]));
    for service in ["db", "pool", "cache", "web"] {
        assert_eq!(stack.state(service), "running", "{service}");
    }
}
