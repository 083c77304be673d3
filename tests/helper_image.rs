//! The helper image installed by gameday itself on the tests' second
//! engine (the TLS one, reached as a remote engine is): `gameday helper
//! status|install`, an old helper replaced by a run that needs it (and the
//! fault it carries measured by a client), a foreign image at the tag
//! refused before anything is applied.

mod common;

use std::process::Command as StdCommand;

use assert_cmd::Command;
use common::*;

const TAG: &str = "gameday-nethelper:latest";

/// `ca.pem`, `cert.pem`, `key.pem` of the engine's client, as the docker
/// CLI's DOCKER_CERT_PATH holds them.
fn tls_dir(engine: &TlsEngine) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("ca.pem", "ca.pem"),
        ("client-cert.pem", "cert.pem"),
        ("client-key.pem", "key.pem"),
    ] {
        std::fs::copy(engine.file(from), dir.path().join(to)).unwrap();
    }
    dir
}

fn helper(engine: &TlsEngine, certs: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("gameday")
        .unwrap()
        .arg("helper")
        .args(args)
        .args(["--engine", &format!("tcp://127.0.0.1:{}", engine.port)])
        .arg("--tls-dir")
        .arg(certs)
        .timeout(std::time::Duration::from_secs(180))
        .output()
        .unwrap()
}

/// The labels of the image at `TAG` on the engine (`{}` when none).
fn labels(engine: &TlsEngine) -> serde_json::Value {
    let out = engine.docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", TAG]);
    if !out.status.success() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn image_id(engine: &TlsEngine, image: &str) -> String {
    let out = engine.docker(&["image", "inspect", "-f", "{{.Id}}", image]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Build `TAG` on the engine from the demo image with `labels` (the
/// classic builder: nothing is pulled).
fn build_on(engine: &TlsEngine, labels: &[&str]) {
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {DEMO_IMAGE}\n"),
    )
    .unwrap();
    let mut build = StdCommand::new("docker");
    build
        .env("DOCKER_BUILDKIT", "0")
        .args(["-H", &engine.socket(), "build", "-q", "-t", TAG]);
    for label in labels {
        build.args(["--label", label]);
    }
    let built = build.arg(context.path()).output().unwrap();
    assert!(built.status.success(), "{}", text(&built));
}

/// The demo store on the engine's own bridge (its own network namespace,
/// so a network fault there delays only it), at its address there.
fn store_on_bridge(engine: &TlsEngine, project: &str) -> String {
    let started = engine.docker(&[
        "run",
        "-d",
        "--name",
        "bridged-store",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=store",
        DEMO_IMAGE,
        "store",
        "--listen",
        "0.0.0.0:8080",
    ]);
    assert!(started.status.success(), "{}", text(&started));
    let ip = engine.docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        "bridged-store",
    ]);
    let ip = String::from_utf8_lossy(&ip.stdout).trim().to_string();
    assert!(!ip.is_empty(), "the store has no address on the bridge");
    wait_for(
        "the bridged store",
        std::time::Duration::from_secs(20),
        || {
            std::net::TcpStream::connect_timeout(
                &format!("{ip}:8080").parse().unwrap(),
                std::time::Duration::from_millis(200),
            )
            .is_ok()
        },
    );
    ip
}

fn delay_gameday(engine: &TlsEngine, project: &str, ip: &str) -> String {
    format!(
        r#"gameday: Delay through the helper on the TLS engine
scope: {{ compose_project: {project} }}
docker: {{ {engine} }}
defaults: {{ baseline: 1s, cooldown: 1s500ms, probe_timeout: 2s }}
probes:
  store: {{ http: {{ url: "http://{ip}:8080/get" }}, every: 100ms }}
scenarios:
  - name: Store delayed 300ms
    fault: {{ delay: {{ service: store, latency: 300ms }} }}
    duration: 3s
    expect:
      - {{ probe: store, during: fault, latency_p50: ">= 250ms" }}
      - {{ probe: store, during: after, latency_p50: "< 100ms" }}
"#,
        engine = engine.engine_yaml(),
    )
}

/// On a fresh engine: missing (exit 1), installed, current (exit 0), and
/// really there with its labels. Then an old helper of gameday's: status
/// says old (exit 1), and a run with a delay fault replaces it by itself,
/// says so with the size, delays the store as a client measures it, and
/// leaves nothing. A foreign image at the tag: the run and `install`
/// refuse, nothing applied, the image untouched.
#[test]
fn gameday_installs_its_helper_image_on_a_tls_engine_replaces_an_old_one_and_refuses_a_foreign_one()
{
    if !docker_available() {
        return;
    }
    ensure_demo_image();
    let engine = TlsEngine::start();
    let certs = tls_dir(&engine);

    // 1. Missing, installed, current.
    let status = helper(&engine, certs.path(), &["status"]);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    assert!(text(&status).contains(": missing"), "{}", text(&status));
    let installed = helper(&engine, certs.path(), &["install"]);
    assert_eq!(installed.status.code(), Some(0), "{}", text(&installed));
    let said = text(&installed);
    assert!(
        said.contains("installed the helper image `gameday-nethelper:latest` ("),
        "{said}"
    );
    eprintln!("{said}");
    let status = helper(&engine, certs.path(), &["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(
        text(&status).contains(": current (gameday "),
        "{}",
        text(&status)
    );
    let labels_now = labels(&engine);
    assert_eq!(labels_now["gameday.nethelper"], "1", "{labels_now}");
    let version = labels_now["gameday.nethelper.version"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(version.contains("+worker."), "{labels_now}");
    // What it carries runs there: tc, and iptables with its modules.
    let ran = engine.docker(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_ADMIN",
        TAG,
        "/usr/sbin/iptables",
        "-A",
        "OUTPUT",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        "0.5",
        "-j",
        "ACCEPT",
    ]);
    assert!(ran.status.success(), "{}", text(&ran));

    // 2. An old helper of gameday's at the tag.
    engine.load(DEMO_IMAGE);
    let rmi = engine.docker(&["rmi", TAG]);
    assert!(rmi.status.success(), "{}", text(&rmi));
    build_on(
        &engine,
        &[
            "gameday.nethelper=1",
            "gameday.nethelper.version=0.0.0+worker.0",
        ],
    );
    let old_id = image_id(&engine, TAG);
    let status = helper(&engine, certs.path(), &["status"]);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    assert!(
        text(&status).contains("old: made by gameday 0.0.0+worker.0"),
        "{}",
        text(&status)
    );
    // While a container of the old image runs (another gameday's run on
    // this engine), it is not replaced under it.
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let other = engine.docker(&[
        "run",
        "-d",
        "--name",
        "other-runs-helper",
        "--network",
        "host",
        TAG,
        "store",
        "--listen",
        &listen,
    ]);
    assert!(other.status.success(), "{}", text(&other));
    let in_use = helper(&engine, certs.path(), &["install"]);
    assert_eq!(in_use.status.code(), Some(2), "{}", text(&in_use));
    assert!(
        text(&in_use).contains("in use by 1 running container"),
        "{}",
        text(&in_use)
    );
    assert_eq!(
        image_id(&engine, TAG),
        old_id,
        "the old helper was replaced in use"
    );
    let removed = engine.docker(&["rm", "-f", "other-runs-helper"]);
    assert!(removed.status.success(), "{}", text(&removed));

    let project = format!("gdt-helper-{}", std::process::id());
    let ip = store_on_bridge(&engine, &project);
    let (_dir, file) = gameday_file(&delay_gameday(&engine, &project, &ip));
    let out = tempfile::tempdir().unwrap();
    let done = gameday_run(out.path(), &file, &["--yes"], 240);
    let said = text(&done);
    assert_exit(&done, 0);
    let announced = "installing the helper image gameday-nethelper:latest (";
    assert_eq!(said.matches(announced).count(), 1, "{said}");
    assert!(
        said.contains(&format!(
            " MB) on engine tcp://127.0.0.1:{}: it is old",
            engine.port
        )),
        "{said}"
    );
    let result = result_json(&run_dir(out.path()));
    let expectations = &result["scenarios"][0]["expectations"];
    eprintln!("the delay as the probe saw it: {expectations}");
    assert_eq!(
        labels(&engine)["gameday.nethelper.version"],
        version.as_str()
    );
    assert!(
        !engine
            .docker(&["image", "inspect", &old_id])
            .status
            .success(),
        "the old helper image is left"
    );
    let left = engine.docker(&["ps", "-aq"]);
    let left = String::from_utf8_lossy(&left.stdout).to_string();
    assert_eq!(
        left.split_whitespace().count(),
        1,
        "containers left: {left}"
    );
    assert_eq!(engine.state("bridged-store"), "running");

    // 3. Someone else's image at the tag.
    let tagged = engine.docker(&["tag", DEMO_IMAGE, TAG]);
    assert!(tagged.status.success(), "{}", text(&tagged));
    let foreign_id = image_id(&engine, TAG);
    let out = tempfile::tempdir().unwrap();
    let refused = gameday_run(out.path(), &file, &["--yes"], 120);
    assert_exit(&refused, 2);
    let said = text(&refused);
    assert!(said.contains("is not gameday's helper image"), "{said}");
    assert!(!said.contains("installing the helper image"), "{said}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "a run started"
    );
    let install = helper(&engine, certs.path(), &["install"]);
    assert_eq!(install.status.code(), Some(2), "{}", text(&install));
    assert!(
        text(&install).contains("it is left alone"),
        "{}",
        text(&install)
    );
    assert_eq!(
        image_id(&engine, TAG),
        foreign_id,
        "the foreign image was replaced"
    );
    assert_eq!(engine.state("bridged-store"), "running");
    let left = engine.docker(&["ps", "-aq"]);
    assert_eq!(
        String::from_utf8_lossy(&left.stdout)
            .split_whitespace()
            .count(),
        1
    );
}
