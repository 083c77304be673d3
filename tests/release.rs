//! gameday without its source tree: the release archive `scripts/release`
//! builds (its binary runs with no Rust toolchain in `PATH`, and alone in an
//! empty `FROM scratch` container), and gameday's own image
//! (`scripts/build-image`) running a gameday from inside a container, where
//! it must reach its targets through the helper image by itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// `scripts/release --out DIR`: the archive's path.
fn release(dir: &Path) -> PathBuf {
    let said = run(Command::new(root().join("scripts/release"))
        .arg("--out")
        .arg(dir));
    PathBuf::from(said.lines().last().expect("the archive's path"))
}

/// An image made for a test, removed when the guard drops.
struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.0])
            .output();
    }
}

/// The archive: its SHA-256 checks, it holds the binary, the completions
/// and the manual pages; the binary runs `--version` with no toolchain in
/// `PATH`, and `--version`, `validate` and `plan` alone in a `FROM scratch`
/// container (the engine's socket mounted for `plan`).
#[test]
fn the_release_archive_runs_without_a_toolchain_and_in_an_empty_container() {
    if !docker_available() {
        return;
    }
    let dist = tempfile::tempdir().unwrap();
    let archive = release(dist.path());
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("gameday-{}-", env!("CARGO_PKG_VERSION")))
            && name.ends_with(".tar.gz"),
        "{name}"
    );
    run(Command::new("sha256sum")
        .args(["--check", &format!("{name}.sha256")])
        .current_dir(dist.path()));
    run(Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .current_dir(dist.path()));
    let unpacked = dist.path().join(name.trim_end_matches(".tar.gz"));
    for file in [
        "gameday",
        "completions/gameday.bash",
        "completions/_gameday",
        "completions/gameday.fish",
        "man/gameday.1",
        "man/gameday-run.1",
        "README.md",
    ] {
        assert!(
            unpacked.join(file).is_file(),
            "{file} is not in the archive"
        );
    }

    // No Rust toolchain anywhere in PATH.
    let bare = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap()
    };
    let toolchain = bare("sh", &["-c", "command -v cargo || command -v rustc"]);
    assert!(
        !toolchain.status.success(),
        "a toolchain is in PATH: {}",
        String::from_utf8_lossy(&toolchain.stdout)
    );
    let binary = unpacked.join("gameday");
    let version = bare(binary.to_str().unwrap(), &["--version"]);
    assert!(version.status.success());
    assert!(
        String::from_utf8_lossy(&version.stdout)
            .starts_with(&format!("gameday {}", env!("CARGO_PKG_VERSION")))
    );

    // Alone in an empty image: no CA bundle, no shell, no /tmp.
    ensure_nethelper_image();
    let project = Project::new("release");
    let (store, api) = project.demo_stack();
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, context.path().join("gameday")).unwrap();
    let gameday = one_fault_gameday(
        &project.name,
        &format!(
            "docker: {{ helper_image: \"{}\" }}\nprobes:\n  api: {{ http: {{ url: \"http://127.0.0.1:{}/health\" }}, every: 200ms }}",
            nethelper_image(),
            api.host_port.unwrap()
        ),
        "pause: { service: store }",
        "1s",
    );
    std::fs::write(context.path().join("g.yaml"), gameday).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY gameday g.yaml /\nENTRYPOINT [\"/gameday\"]\n",
    )
    .unwrap();
    let tag = format!("gameday-release-test:{}", project.name);
    let _image = ImageGuard(tag.clone());
    run(Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--quiet", "--label", "gameday.test=1", "-t", &tag])
        .arg(context.path()));
    let inside = |args: &[&str]| {
        let mut cmd = vec![
            "run",
            "--rm",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
        ];
        cmd.push(&tag);
        cmd.extend(args);
        Command::new("docker").args(&cmd).output().unwrap()
    };
    let version = inside(&["--version"]);
    assert!(version.status.success(), "{}", text(&version));
    let valid = inside(&["validate", "/g.yaml"]);
    assert!(valid.status.success(), "{}", text(&valid));
    assert!(text(&valid).contains("valid"), "{}", text(&valid));
    let plan = inside(&["plan", "/g.yaml"]);
    let said = text(&plan);
    assert!(plan.status.success(), "{said}");
    assert!(
        said.contains("pause") && said.contains(&store.name),
        "the plan does not name the fault and its target:\n{said}"
    );
    assert_eq!(store.state(), "running", "plan changed something");

    // A run from it: HTTP probes work without a trust store (HTTPS would
    // be refused, and it says so), the fault is held and reverted.
    let ran = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "host",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            &tag,
            "run",
            "--no-progress",
            "--out",
            "/reports",
            "/g.yaml",
        ])
        .output()
        .unwrap();
    let said = text(&ran);
    assert_eq!(ran.status.code(), Some(0), "{said}");
    assert!(said.contains("no trust store for HTTPS here"), "{said}");
    assert_eq!(store.state(), "running", "the pause was not reverted");
}

/// gameday's own image runs a gameday from inside a container: a container
/// fault, a network fault and a stress fault, each met; its plan says the
/// targets are reached through the helper image because it runs in a
/// container; its watchdog is a container on the engine; nothing is left.
#[test]
fn the_gameday_image_runs_a_gameday_from_inside_a_container() {
    if !docker_available() {
        return;
    }
    ensure_nethelper_image();
    let tag = format!("gameday-image-test:{}", std::process::id());
    let _image = ImageGuard(tag.clone());
    run(Command::new(root().join("scripts/build-image")).arg(&tag));

    let project = Project::new("inside");
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let api = project.service_opts(
        "api",
        &["--cpus", "1.0", "--memory", "256m"],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        Some(8080),
    );
    let _helpers = HelperGuard(api.id.clone());
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("g.yaml"),
        format!(
            r#"gameday: From inside a container
scope: {{ compose_project: {project} }}
docker: {{ helper_image: "{helper}" }}
defaults: {{ baseline: 1s, cooldown: 2s }}
probes:
  api: {{ http: {{ url: "http://127.0.0.1:{port}/health" }}, every: 200ms, timeout: 2s }}
  api-state: {{ container: {{ service: api }}, every: 500ms }}
  store-state: {{ container: {{ service: store }}, every: 200ms }}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: 2s
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
  - name: The api slowed down
    fault: {{ delay: {{ service: api, latency: 300ms }} }}
    duration: 4s
    expect:
      - {{ probe: api, during: fault, latency_p50: "> 250ms" }}
      - {{ probe: api, during: after, latency_p50: "< 100ms" }}
  - name: CPU at 60%
    fault: {{ cpu_stress: {{ service: api, workers: 1, load: 60% }} }}
    duration: 6s
    expect:
      - {{ probe: api-state, during: fault, cpu: ">= 40%" }}
"#,
            project = project.name,
            helper = nethelper_image(),
            port = api.host_port.unwrap(),
        ),
    )
    .unwrap();
    let mount = format!("{}:/work", work.path().display());
    let docker_run = |args: &[&str]| {
        let mut cmd = vec![
            "run",
            "--rm",
            "--network",
            "host",
            "--label",
            "gameday.test=1",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            &mount,
            &tag,
        ];
        cmd.extend(args);
        assert_cmd::Command::new("docker")
            .args(&cmd)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    };
    // It carries tc, ip and iptables: it can assemble the helper image itself.
    let dry = docker_run(&[
        "helper",
        "install",
        "--image",
        "gdt-never-installed:x",
        "--dry-run",
    ]);
    assert!(
        dry.status.success() && text(&dry).contains("would install the helper image"),
        "{}",
        text(&dry)
    );
    let plan = docker_run(&["plan", "g.yaml"]);
    let said = text(&plan);
    assert!(plan.status.success(), "{said}");
    assert!(
        said.contains("gameday runs in a container") && said.contains(nethelper_image()),
        "the plan does not say how it reaches the targets from a container:\n{said}"
    );
    let output = docker_run(&["run", "--no-progress", "g.yaml"]);
    let said = text(&output);
    assert_exit(&output, 0);
    let journal =
        std::fs::read_to_string(run_dir(&work.path().join("reports")).join("journal.jsonl"))
            .unwrap();
    assert!(
        journal.contains("\"watchdog_started\"") && journal.contains("container"),
        "the watchdog is not a container on the engine:\n{journal}"
    );
    // Nothing left: the containers run unpaused, no helper, no qdisc.
    assert_eq!(store.state(), "running", "{said}");
    assert_eq!(api.state(), "running", "{said}");
    assert!(
        helpers_sharing(&api.id, "network").is_empty(),
        "helpers left beside the api"
    );
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &api.id]);
    let qdiscs = run(Command::new("nsenter").args(["-t", &pid, "-n", "tc", "qdisc", "show"]));
    assert!(
        gameday_qdiscs(&qdiscs).is_empty(),
        "qdiscs left on the api: {qdiscs}"
    );
    let claim = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name=gameday-claim-{}", project.name),
    ]);
    assert!(claim.is_empty(), "the claim is left: {claim}");
    assert!(
        http_ok(api.host_port.unwrap(), "/health", Duration::from_secs(1)),
        "the api does not answer after the run"
    );
}
