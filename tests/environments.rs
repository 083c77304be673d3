//! One gameday file for a laptop and staging: `--env staging` runs it
//! against the tests' second engine (mutual TLS, its own compose project
//! and store), `--env local` (the default) against this host's engine with
//! `--var` and `--env-file`; each run pauses only its own environment's
//! store (the other engine's saw no pause), the plan shows the environment
//! and every value put in with the secret redacted, and the secret is in
//! nothing the run keeps.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const TOKEN: &str = "tok-3f9c2a61e0b54d8c";

fn one_file(engine: &TlsEngine, staging_project: &str, staging_port: u16) -> String {
    format!(
        r#"gameday: One file, two engines
description: "Checked with the token ${{API_TOKEN}}, which no file keeps"
scope: {{ compose_project: "${{LOCAL_PROJECT}}" }}
environments:
  staging:
    variables: {{ STORE_URL: "http://127.0.0.1:{staging_port}/get", WHO: staging }}
    docker: {{ {engine} }}
    scope: {{ compose_project: {staging_project} }}
defaults: {{ baseline: 1s, cooldown: 1s500ms, probe_timeout: 500ms }}
probes:
  store:
    http: {{ url: "${{STORE_URL}}", headers: {{ Authorization: "Bearer ${{API_TOKEN}}" }} }}
    every: 100ms
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: The ${{WHO}} store paused
    fault: {{ pause: {{ service: store }} }}
    duration: 1s
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
      - {{ probe: store, during: fault, success_rate: "== 0%" }}
      - {{ probe: store, recovers_within: 2s }}
"#,
        engine = engine.engine_yaml(),
    )
}

fn gameday(args: &[&str], file: &Path) -> std::process::Output {
    assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env("API_TOKEN", TOKEN)
        .env_remove("DOCKER_HOST")
        .args(args)
        .arg(file)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

/// Every file under `dir`, read as text.
fn everything_kept(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.push_str(&everything_kept(&path));
        } else {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

/// The pauses an engine saw of `container` since `since` (a Unix time).
fn pauses(docker: impl Fn(&[&str]) -> std::process::Output, container: &str, since: u64) -> usize {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let out = docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        &format!("container={container}"),
        "--filter",
        "event=pause",
    ]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn one_file_runs_on_staging_with_env_staging_and_here_with_env_local() {
    if !docker_available() {
        return;
    }
    let engine = TlsEngine::start();
    let local = Project::new("envs");
    let local_store = local.service("store", &["store", "--listen", "0.0.0.0:7000"], Some(7000));
    let local_port = local_store.host_port.unwrap();
    wait_for_port(local_port);
    let staging_project = format!("gdt-envs-staging-{}", std::process::id());
    let staging_port = free_port();
    engine.run_store("staging-store", &staging_project, "store", staging_port);
    let (dir, file) = gameday_file(&one_file(&engine, &staging_project, staging_port));
    let local_env = dir.path().join("local.env");
    std::fs::write(
        &local_env,
        format!("# this laptop\nSTORE_URL=http://127.0.0.1:{local_port}/get\nWHO=\"local\"\n"),
    )
    .unwrap();
    let project_var = format!("LOCAL_PROJECT={}", local.name);

    // The plan says where it goes and what was put in, the secret redacted.
    let plan = gameday(&["plan", "--env", "staging"], &file);
    assert_exit(&plan, 0);
    let shown = text(&plan);
    assert!(
        shown.contains("environment  staging (the file has staging; choose with --env)"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("tcp://127.0.0.1:{}", engine.port)),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("compose project `{staging_project}`: 1 container")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "${{STORE_URL}} = http://127.0.0.1:{staging_port}/get (from environments.staging.variables)"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("${API_TOKEN} = <secret> (from the process environment)"),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");

    // Staging: the TLS engine's store is paused, this host's is not.
    let out = tempfile::tempdir().unwrap();
    let since = now();
    let staged = gameday(
        &[
            "run",
            "--no-progress",
            "--yes",
            "--env",
            "staging",
            "--out",
            &out.path().display().to_string(),
        ],
        &file,
    );
    assert_exit(&staged, 0);
    let run = run_dir(out.path());
    let result = result_json(&run);
    assert_eq!(result["gameday"]["environment"], "staging");
    assert_eq!(result["scenarios"][0]["name"], "The staging store paused");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("staging"), "{report}");
    assert_eq!(
        pauses(|a| engine.docker(a), "staging-store", since),
        1,
        "the staging store was paused once"
    );
    assert_eq!(pauses(docker_output, &local_store.id, since), 0);
    assert_eq!(engine.state("staging-store"), "running");
    let kept = everything_kept(out.path());
    assert!(!kept.contains(TOKEN), "the token is in the run directory");
    assert!(
        result["gameday"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("token ***")),
        "{}",
        result["gameday"]
    );
    assert!(!text(&staged).contains(TOKEN));

    // Local (the default environment): this host's store, with --var and --env-file.
    let out = tempfile::tempdir().unwrap();
    let since = now();
    let here = gameday(
        &[
            "run",
            "--no-progress",
            "--var",
            &project_var,
            "--env-file",
            &local_env.display().to_string(),
            "--out",
            &out.path().display().to_string(),
        ],
        &file,
    );
    assert_exit(&here, 0);
    let result = result_json(&run_dir(out.path()));
    assert_eq!(result["gameday"]["environment"], "local");
    assert_eq!(result["scenarios"][0]["name"], "The local store paused");
    assert_eq!(pauses(docker_output, &local_store.id, since), 1);
    assert_eq!(pauses(|a| engine.docker(a), "staging-store", since), 0);
    assert_eq!(local_store.state(), "running");
    assert!(!everything_kept(out.path()).contains(TOKEN));
}

#[test]
fn a_missing_environment_or_variable_touches_nothing_and_says_where() {
    let text_of = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    let (dir, file) = gameday_file(
        "gameday: g\nscope: { compose_project: \"${PROJECT}\" }\nenvironments:\n  staging: { variables: { PROJECT: shop } }\nscenarios:\n  - { name: s, fault: { pause: { service: store } }, duration: 1s }\n",
    );
    let wrong = gameday(&["validate", "--env", "prod"], &file);
    assert_exit(&wrong, 2);
    assert!(
        text_of(&wrong).contains(
            "gameday.yaml:3:1: `--env prod`: the file has no environment `prod` (it has `staging`)"
        ),
        "{}",
        text_of(&wrong)
    );
    let unset = gameday(&["validate"], &file);
    assert_exit(&unset, 2);
    assert!(
        text_of(&unset).contains("gameday.yaml:2:27: variable `PROJECT` is not set"),
        "{}",
        text_of(&unset)
    );
    let ok = gameday(&["validate", "--env", "staging"], &file);
    assert_exit(&ok, 0);
    let bad_file = dir.path().join("bad.env");
    std::fs::write(&bad_file, "PROJECT=shop\nthis is not a line\n").unwrap();
    let bad = gameday(
        &["validate", "--env-file", &bad_file.display().to_string()],
        &file,
    );
    assert_exit(&bad, 2);
    assert!(
        text_of(&bad).contains("bad.env:2: expected `NAME=VALUE` (the line is not shown"),
        "{}",
        text_of(&bad)
    );
    let bad_var = gameday(&["validate", "--var", "9X=1"], &file);
    assert_exit(&bad_var, 2);
    assert!(text_of(&bad_var).contains("`9X` is not a variable name"));
}

/// `docker ARGS` on this host's engine.
fn docker_output(args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap()
}
