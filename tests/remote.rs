//! Engines other than this host's socket. `gameday run` asks a person to
//! confirm (typing the gameday's name) before any fault goes through one,
//! refuses at once when nobody can answer, and works through it with
//! `--yes`; a plain-TCP engine needs `insecure: true`. Two kinds of remote
//! engine, both on 127.0.0.1: the local engine reached over TCP through a
//! forwarder the test runs, and a second dockerd the test starts (its own
//! socket, data root and containerd) that speaks only mutual TLS with
//! certificates the test generates. Faults, probes, reverts and `recover`
//! really travel over tcp:// and TLS.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use common::*;

/// Forwards every TCP connection on 127.0.0.1 to Docker's socket, until the
/// test process ends.
fn tcp_engine() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(docker) = UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let pipe = |mut from: Box<dyn Read + Send>, mut to: Box<dyn Write + Send>| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                })
            };
            let (c2, d2) = (client.try_clone().unwrap(), docker.try_clone().unwrap());
            let shut_client = client.try_clone().unwrap();
            pipe(Box::new(client), Box::new(d2));
            std::thread::spawn(move || {
                let mut from = docker;
                let mut to = c2;
                let _ = std::io::copy(&mut from, &mut to);
                let _ = shut_client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    format!("tcp://127.0.0.1:{port}")
}

fn pause_gameday(project: &str, host: &str) -> String {
    format!(
        r#"gameday: Staging pause
scope: {{ compose_project: {project} }}
docker: {{ host: "{host}", insecure: true }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: 1s
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
"#
    )
}

#[test]
fn a_remote_engine_is_refused_without_confirmation_and_used_with_yes() {
    if !docker_available() {
        return;
    }
    let project = Project::new("remote");
    let (store, _api) = project.demo_stack();
    let host = tcp_engine();
    let (_dir, file) = gameday_file(&pause_gameday(&project.name, &host));
    let out = tempfile::tempdir().unwrap();

    // No terminal, no --yes: refused before anything happens.
    let refused = Command::cargo_bin("gameday")
        .unwrap()
        .args(["run", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .write_stdin("Staging pause\n")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("the Docker engine at {host} without confirmation"))
            && stderr.contains("--yes"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "a refused run must not start"
    );
    assert_eq!(store.state(), "running");

    // --yes: the whole run goes through the TCP engine.
    let done = gameday_run(out.path(), &file, &["--yes"], 60);
    assert_exit(&done, 0);
    assert_eq!(store.state(), "running", "the pause was not reverted");
}

/// A person at a terminal (a pseudo-terminal made by `script`) sees the
/// plan and confirms by typing the name; a wrong name changes nothing.
#[test]
fn a_person_confirms_a_remote_engine_by_typing_the_gameday_name() {
    if !docker_available() {
        return;
    }
    if StdCommand::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "`script` (util-linux) is required in CI"
        );
        eprintln!("skipping: no `script` to make a terminal");
        return;
    }
    let project = Project::new("confirm");
    let (store, _api) = project.demo_stack();
    let host = tcp_engine();
    let (_dir, file) = gameday_file(&pause_gameday(&project.name, &host));
    let bin = assert_cmd::cargo::cargo_bin("gameday");
    let in_terminal = |answer: &str, out: &std::path::Path| {
        let command = format!(
            "{} run --no-progress --out {} {}",
            bin.display(),
            out.display(),
            file.display()
        );
        let mut child = StdCommand::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Answer once the question is on the screen (the plan is resolved first).
        std::thread::sleep(Duration::from_millis(1500));
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(answer.as_bytes()).unwrap();
        // Keep the terminal open while the run goes on.
        let output = child.wait_with_output().unwrap();
        drop(stdin);
        output
    };
    let wrong = tempfile::tempdir().unwrap();
    let output = in_terminal("staging\n", wrong.path());
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(
        screen.contains("Type the gameday's name (Staging pause)"),
        "{screen}"
    );
    assert!(
        screen.contains("Plan for"),
        "the plan is shown first: {screen}"
    );
    assert!(screen.contains("not confirmed"), "{screen}");
    assert!(std::fs::read_dir(wrong.path()).unwrap().next().is_none());

    let right = tempfile::tempdir().unwrap();
    let output = in_terminal("Staging pause\n", right.path());
    let screen = String::from_utf8_lossy(&output.stdout);
    let runs: Vec<_> = std::fs::read_dir(right.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{screen}");
    let result: serde_json::Value = result_json(&runs[0]);
    assert_eq!(result["outcome"], "met", "{screen}");
    assert_eq!(store.state(), "running", "the pause was not reverted");
}

#[test]
fn a_plain_tcp_engine_needs_insecure_said_in_the_file() {
    let (_dir, file) = gameday_file(
        r#"gameday: Cleartext
scope: { compose_project: shop }
docker: { host: "tcp://127.0.0.1:2375" }
scenarios:
  - { name: s, fault: { pause: { service: db } }, duration: 1s }
"#,
    );
    let output = Command::cargo_bin("gameday")
        .unwrap()
        .env_remove("DOCKER_TLS_VERIFY")
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gameday.yaml:3:11: `tcp://127.0.0.1:2375` would be reached without TLS")
            && stderr.contains("insecure: true"),
        "{stderr}"
    );
}

fn tls_gameday(engine: &TlsEngine, project: &str, port: u16, duration: &str) -> String {
    format!(
        r#"gameday: Staging over TLS
scope: {{ compose_project: {project} }}
docker: {{ {engine} }}
defaults: {{ baseline: 1s, cooldown: 1s500ms, probe_timeout: 500ms }}
probes:
  store: {{ http: {{ url: "http://127.0.0.1:{port}/get" }}, every: 100ms }}
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: Store paused on the TLS engine
    fault: {{ pause: {{ service: store }} }}
    duration: {duration}
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
      - {{ probe: store, during: fault, success_rate: "== 0%" }}
      - {{ probe: store, recovers_within: 2s }}
"#,
        engine = engine.engine_yaml(),
    )
}

/// A gameday against a second engine that speaks only mutual TLS: the run
/// pauses and unpauses its container, the report says how the engine was
/// reached; a runner killed mid-fault is recovered by `gameday recover`,
/// which finds the engine (and its TLS files) in the journal.
#[test]
fn a_tls_engine_runs_a_gameday_and_recover_reaches_it_from_the_journal() {
    if !docker_available() {
        return;
    }
    ensure_demo_image();
    let engine = TlsEngine::start();
    let project = format!("gdt-tls-{}", std::process::id());
    let port = free_port();
    engine.run_store("tls-store", &project, "store", port);

    // 1. A whole run through TLS.
    let (_dir, file) = gameday_file(&tls_gameday(&engine, &project, port, "1s"));
    let out = tempfile::tempdir().unwrap();
    let done = gameday_run(out.path(), &file, &["--yes"], 60);
    assert_exit(&done, 0);
    assert_eq!(engine.state("tls-store"), "running");
    let dir = run_dir(out.path());
    let result: serde_json::Value = result_json(&dir);
    assert_eq!(
        result["docker"]["connection"],
        "TLS, engine certificate verified"
    );
    assert_eq!(
        result["docker"]["host"],
        format!("tcp://127.0.0.1:{}", engine.port)
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("TLS, engine certificate verified"), "{md}");

    // 2. The runner dies while the container is paused; `recover`, run with
    //    no engine named (its default is this host's socket), reverts it on
    //    the TLS engine the journal names.
    let (_dir2, file2) = gameday_file(&tls_gameday(&engine, &project, port, "30s"));
    let out2 = tempfile::tempdir().unwrap();
    kill_runner_once(&file2, out2.path(), || {
        engine.state("tls-store") == "paused"
    });
    assert_eq!(
        engine.state("tls-store"),
        "paused",
        "SIGKILL leaves the fault in place"
    );
    let recovered = gameday_recover(out2.path());
    let text = String::from_utf8_lossy(&recovered.stdout);
    assert_eq!(
        recovered.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    assert!(text.contains("reverted"), "{text}");
    assert_eq!(
        engine.state("tls-store"),
        "running",
        "recover did not reach the TLS engine"
    );

    // 3. An engine whose certificate the given CA did not sign is refused.
    let foreign = tls_gameday(&engine, &project, port, "1s")
        .replace(&engine.file("ca.pem"), &engine.file("server-cert.pem"));
    let (_dir3, file3) = gameday_file(&foreign);
    let plan = gameday_plan(&file3);
    assert_eq!(plan.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&plan.stderr).contains(&format!(
            "cannot reach the Docker engine at tcp://127.0.0.1:{}",
            engine.port
        )),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
}

fn two_hosts_gameday(
    engine: &TlsEngine,
    project: &str,
    web_port: u16,
    db_port: u16,
    duration: &str,
) -> String {
    format!(
        r#"gameday: Two hosts
scope: {{ compose_project: {project} }}
hosts:
  db: {{ {engine} }}
defaults: {{ baseline: 1s, cooldown: 1s500ms, probe_timeout: 500ms }}
probes:
  web: {{ http: {{ url: "http://127.0.0.1:{web_port}/get" }}, every: 100ms }}
  web-state: {{ container: {{ service: web }}, every: 100ms }}
  db: {{ http: {{ url: "http://127.0.0.1:{db_port}/get" }}, every: 100ms }}
  db-state: {{ container: {{ service: db, host: db }}, every: 100ms }}
scenarios:
  - name: Web and database frozen together
    faults:
      - pause: {{ service: web }}
      - pause: {{ service: db, host: db }}
    duration: {duration}
    expect:
      - {{ probe: web-state, during: fault, state: paused }}
      - {{ probe: db-state, during: fault, state: paused }}
      - {{ probe: web, during: fault, success_rate: "== 0%" }}
      - {{ probe: db, during: fault, success_rate: "== 0%" }}
      - {{ probe: db, recovers_within: 2s }}
      - {{ probe: web, recovers_within: 2s }}
"#,
        engine = engine.engine_yaml(),
    )
}

/// One gameday, two engines: a service on this host's engine and one on a
/// TLS engine, each found on its own engine, both paused by one scenario
/// and both reverted; after a runner killed mid-fault, `recover` reverts
/// each on the engine the journal names.
#[test]
fn one_gameday_drives_two_engines() {
    if !docker_available() {
        return;
    }
    let project = Project::new("hosts");
    let web = project.service("web", &["store", "--listen", "0.0.0.0:7000"], Some(7000));
    let engine = TlsEngine::start();
    let db_port = free_port();
    engine.run_store("db-1", &project.name, "db", db_port);
    let web_port = web.host_port.unwrap();

    let (_dir, file) = gameday_file(&two_hosts_gameday(
        &engine,
        &project.name,
        web_port,
        db_port,
        "1s",
    ));
    let plan = gameday_plan(&file);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        text.contains(&format!("host db      tcp://127.0.0.1:{}", engine.port))
            && text.contains("TLS, engine certificate verified")
            && text.contains("db-1 on db"),
        "{text}"
    );

    // The database on the TLS engine uses the host's network (this test
    // engine has none of its own): a network fault on it would delay that
    // whole host, so the plan refuses it, located, before anything runs.
    let delayed = two_hosts_gameday(&engine, &project.name, web_port, db_port, "1s").replace(
        "- pause: { service: db, host: db }",
        "- delay: { service: db, host: db, latency: 100ms }",
    );
    let (_dir_delay, file_delay) = gameday_file(&delayed);
    let plan = gameday_plan(&file_delay);
    assert_exit(&plan, 2);
    let said = String::from_utf8_lossy(&plan.stderr);
    assert!(
        said.contains("`db-1` uses the host's network namespace"),
        "{said}"
    );

    let out = tempfile::tempdir().unwrap();
    let done = gameday_run(out.path(), &file, &["--yes"], 60);
    assert_exit(&done, 0);
    assert_eq!(web.state(), "running");
    assert_eq!(engine.state("db-1"), "running");
    let result: serde_json::Value = result_json(&run_dir(out.path()));
    assert_eq!(result["docker"]["hosts"][0]["name"], "db");
    let md = std::fs::read_to_string(run_dir(out.path()).join("report.md")).unwrap();
    assert!(
        md.contains(&format!("host db: tcp://127.0.0.1:{} (Docker", engine.port)),
        "{md}"
    );

    // Killed while both are paused: recover reverts each on its engine.
    let (_dir2, file2) = gameday_file(&two_hosts_gameday(
        &engine,
        &project.name,
        web_port,
        db_port,
        "30s",
    ));
    let out2 = tempfile::tempdir().unwrap();
    kill_runner_once(&file2, out2.path(), || {
        engine.state("db-1") == "paused" && web.state() == "paused"
    });
    let recovered = gameday_recover(out2.path());
    let text = String::from_utf8_lossy(&recovered.stdout);
    assert_eq!(recovered.status.code(), Some(0), "{text}");
    assert_eq!(text.matches(": reverted").count(), 2, "{text}");
    assert_eq!(web.state(), "running");
    assert_eq!(engine.state("db-1"), "running");
}

/// A run whose containers are all on a `hosts:` engine claims only that
/// engine (this host's engine has none of them): `recover` checks the
/// claim on every engine its journal names, so it leaves the live run's
/// fault alone (exit 2), as a client of the paused database sees it.
#[test]
fn recover_checks_the_claim_on_every_engine_its_journal_names() {
    if !docker_available() {
        return;
    }
    ensure_demo_image();
    let engine = TlsEngine::start();
    let project = format!("gdt-every-{}", std::process::id());
    let port = free_port();
    engine.run_store("db-1", &project, "db", port);
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Every engine
scope: {{ compose_project: {project} }}
hosts:
  db: {{ {engine} }}
defaults: {{ baseline: 1s, cooldown: 1s, probe_timeout: 500ms }}
probes:
  db: {{ http: {{ url: "http://127.0.0.1:{port}/get" }}, every: 200ms }}
scenarios:
  - name: Database paused
    fault: {{ pause: {{ service: db, host: db }} }}
    duration: 12s
"#,
        engine = engine.engine_yaml(),
    ));
    let out = tempfile::tempdir().unwrap();
    let runner = StdCommand::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--yes", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the pause", Duration::from_secs(30), || {
        engine.state("db-1") == "paused"
    });
    let recovered = gameday_recover(out.path());
    let said = text(&recovered);
    assert_exit(&recovered, 2);
    assert!(
        said.contains("not touched") && said.contains("is alive"),
        "{said}"
    );
    assert_eq!(
        engine.state("db-1"),
        "paused",
        "recover undid a live run's fault"
    );
    assert!(!http_ok(port, "/get", Duration::from_millis(500)));
    let output = finish(runner, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(engine.state("db-1"), "running");
    assert!(http_ok(port, "/get", Duration::from_millis(1500)));
}

/// An sshd on 127.0.0.1 for one test (Debian's openssh-server; `.ci/run`
/// installs it): its own host key, config and authorized key, the client's
/// key and a known_hosts file holding the host key. Through it, `ssh://`
/// reaches this machine's own Docker socket.
struct SshServer {
    daemon: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl SshServer {
    fn start() -> Option<SshServer> {
        if !std::path::Path::new("/usr/sbin/sshd").exists() {
            assert!(
                std::env::var("CI").is_err(),
                "sshd is required in CI (apt-get install openssh-server)"
            );
            eprintln!("skipping: no sshd");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let path = |p: &str| d.join(p).display().to_string();
        for key in ["host_key", "client_key"] {
            run(StdCommand::new("ssh-keygen").args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                &path(key),
            ]));
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let mut parts = host_pub.split_whitespace();
        let (kind, key) = (parts.next().unwrap(), parts.next().unwrap());
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .unwrap();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nAllowStreamLocalForwarding yes\n",
                path("host_key"),
                path("authorized_keys"),
                path("sshd.pid")
            ),
        )
        .unwrap();
        // sshd wants its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let daemon = StdCommand::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f", &path("sshd_config")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        record_test_daemon(daemon.id());
        let server = SshServer { daemon, dir, port };
        wait_for_port(port);
        Some(server)
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// `ssh://`: gameday tunnels to the engine's socket with the system's ssh
/// (key and known_hosts from the file), runs a whole gameday through it,
/// says so in the report, and refuses a host whose key is not the known one.
#[test]
fn an_ssh_engine_is_reached_through_a_tunnel() {
    if !docker_available() {
        return;
    }
    let Some(sshd) = SshServer::start() else {
        return;
    };
    let project = Project::new("ssh");
    let (store, _api) = project.demo_stack();
    let text = |known_hosts: &str| {
        format!(
            r#"gameday: Over SSH
scope: {{ compose_project: {project} }}
docker:
  host: "ssh://root@127.0.0.1:{port}"
  ssh: {{ identity: "{key}", known_hosts: "{known_hosts}" }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: Store paused over SSH
    fault: {{ pause: {{ service: store }} }}
    duration: 1s
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
"#,
            project = project.name,
            port = sshd.port,
            key = sshd.file("client_key"),
        )
    };
    let (_dir, file) = gameday_file(&text(&sshd.file("known_hosts")));
    let out = tempfile::tempdir().unwrap();
    let done = gameday_run(out.path(), &file, &["--yes"], 60);
    assert_exit(&done, 0);
    assert_eq!(store.state(), "running", "the pause was not reverted");
    let result: serde_json::Value = result_json(&run_dir(out.path()));
    assert_eq!(
        result["docker"]["connection"],
        "SSH tunnel to the engine's socket"
    );
    assert!(
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| !e
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("gameday-ssh-{}", std::process::id()))),
        "a tunnel socket was left behind"
    );

    // Killed while the store is paused: `recover` opens its own tunnel from
    // what the journal says (address, key, known_hosts) and reverts.
    let (_dir3, file3) =
        gameday_file(&text(&sshd.file("known_hosts")).replace("duration: 1s", "duration: 30s"));
    let out3 = tempfile::tempdir().unwrap();
    let runner_pid = kill_runner_once(&file3, out3.path(), || store.state() == "paused");
    // The tunnel of the killed runner ends with it.
    let tunnel_of_runner = format!("-L /tmp/gameday-ssh-{runner_pid}-");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ps = StdCommand::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        let alive = String::from_utf8_lossy(&ps.stdout).contains(&tunnel_of_runner);
        if !alive {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ssh tunnel outlived the killed runner"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let recovered = gameday_recover(out3.path());
    assert_exit(&recovered, 0);
    assert_eq!(
        store.state(),
        "running",
        "recover did not reach the engine over ssh"
    );

    // A host key that is not the known one: refused, nothing touched.
    let wrong = sshd.dir.path().join("wrong_known_hosts");
    std::fs::write(
        &wrong,
        format!(
            "[127.0.0.1]:{} {}",
            sshd.port,
            std::fs::read_to_string(sshd.dir.path().join("client_key.pub")).unwrap()
        ),
    )
    .unwrap();
    let (_dir2, file2) = gameday_file(&text(&wrong.display().to_string()));
    let plan = gameday_plan(&file2);
    let stderr = String::from_utf8_lossy(&plan.stderr);
    assert_eq!(plan.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the Docker engine at ssh://root@127.0.0.1:{}",
            sshd.port
        )) && stderr.contains("Host key verification failed"),
        "{stderr}"
    );
}

/// A TCP relay on 127.0.0.1 to another port that the test can cut (every
/// connection closed, new ones refused) and restore on the same port: the
/// link between a runner and its engine.
struct CuttableLink {
    port: u16,
    to: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl CuttableLink {
    fn to(to: u16) -> CuttableLink {
        let link = CuttableLink {
            port: free_port(),
            to,
            up: Default::default(),
            open: Default::default(),
        };
        link.restore();
        link
    }

    /// Listen again (on the same port) and relay.
    fn restore(&self) {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (up, open, to) = (self.up.clone(), self.open.clone(), self.to);
        std::thread::spawn(move || {
            // Bounded: the relay ends when the link is cut or the test ends.
            while up.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                {
                    let mut open = open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
    }

    /// Cut: every relayed connection is closed and new ones are refused.
    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        // The listener goes with its thread's next look at the flag.
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for CuttableLink {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The link between the runner and a TLS engine is cut while a container
/// is paused there: the watchdog, a container on that engine with the
/// engine's socket mounted, reverts it within lease + 2 s (the store
/// answers again); once the link is back, `recover` reads what the
/// watchdog did from its container and finds nothing left.
#[test]
fn a_cut_link_to_a_tls_engine_is_reverted_by_the_watchdog_on_the_engine() {
    if !docker_available() {
        return;
    }
    ensure_demo_image();
    ensure_nethelper_image();
    let engine = TlsEngine::start();
    engine.load(nethelper_image());
    let project = format!("gdt-tlswd-{}", std::process::id());
    let port = free_port();
    engine.run_store("tls-store", &project, "store", port);
    let link = CuttableLink::to(engine.port);
    let gameday = tls_gameday(&engine, &project, port, "60s")
        .replace(
            &format!("tcp://127.0.0.1:{}", engine.port),
            &format!("tcp://127.0.0.1:{}", link.port),
        )
        .replace(
            "tls: {",
            &format!("socket: \"{}\", tls: {{", engine.file("sock")),
        )
        .replace("scenarios:", "lease: 3s\nscenarios:");
    let (_dir, file) = gameday_file(&gameday);
    let out = tempfile::tempdir().unwrap();
    let runner = StdCommand::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--yes", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        "the pause on the TLS engine",
        Duration::from_secs(40),
        || engine.state("tls-store") == "paused",
    );
    let watchdogs = engine.docker(&["ps", "-q", "--filter", "label=gameday.watchdog=1"]);
    let watchdog = String::from_utf8_lossy(&watchdogs.stdout)
        .trim()
        .to_string();
    assert!(!watchdog.is_empty(), "no watchdog container on the engine");
    let store_answers = || http_ok(port, "/get", Duration::from_millis(500));
    assert!(!store_answers(), "the paused store answered");

    link.cut();
    let cut_at = std::time::Instant::now();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !store_answers() {
        if std::time::Instant::now() > deadline {
            let logs = engine.docker(&["logs", &watchdog]);
            let state = engine.docker(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                &watchdog,
            ]);
            panic!(
                "the store did not answer within 5 s of the cut; the watchdog ({}): {}{}",
                String::from_utf8_lossy(&state.stdout).trim(),
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "the engine-side watchdog reverted {:?} after the cut",
        cut_at.elapsed()
    );
    assert_eq!(engine.state("tls-store"), "running");
    // The runner cannot reach its engine: it says so and ends (it could not
    // revert the fault itself, so it does not claim it did).
    let output = finish(runner, Duration::from_secs(120));
    assert_ne!(output.status.code(), Some(0), "{}", text(&output));
    let logs = engine.docker(&["logs", &watchdog]);
    let logs = String::from_utf8_lossy(&logs.stdout).to_string();
    assert!(
        logs.contains("watchdog_fired") && logs.contains("\"by\":\"watchdog\""),
        "{logs}"
    );

    // The link is back: recover reads the watchdog's record from its
    // container, records it in the journal and removes the container.
    link.restore();
    assert_recover_says_the_watchdog_reverted(out.path());
    let journal = std::fs::read_to_string(run_dir(out.path()).join("journal.jsonl")).unwrap();
    assert!(journal.contains("watchdog_fired"), "{journal}");
    let left = engine.docker(&["ps", "-aq", "--filter", "label=gameday.watchdog=1"]);
    assert!(
        left.stdout.iter().all(u8::is_ascii_whitespace),
        "the watchdog container is left"
    );
    assert_eq!(engine.state("tls-store"), "running");
}

/// On a remote engine (the TLS one, reached as another machine's would
/// be): a `script` in the container that does not end within its timeout
/// is killed with what it started (a background subshell) by a helper
/// container in the container's PID namespace before the revert runs, and
/// the record says so; and what is undone from this host (a host script's
/// revert, the SIGCONT of a `process` fault) is held by a watchdog on this
/// host, not by the engine's watchdog container, which could not do it:
/// with the runner alone SIGKILLed mid-fault, the host script's revert
/// runs and the store answers again within the lease.
#[test]
fn on_a_remote_engine_a_timed_out_script_is_killed_there_and_host_reverts_are_held_here() {
    if !docker_available() {
        return;
    }
    ensure_demo_image();
    ensure_nethelper_image();
    let engine = TlsEngine::start();
    engine.load(nethelper_image());
    let project = format!("gdt-tlsscript-{}", std::process::id());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let started = engine.docker(
        &[
            &["run", "-d", "--name", "tls-store", "--network", "host"][..],
            &["--label", &format!("com.docker.compose.project={project}")],
            &["--label", "com.docker.compose.service=store"],
            HOST_SHELL,
            &[DEMO_IMAGE, "store", "--listen", &listen],
        ]
        .concat(),
    );
    assert!(started.status.success(), "{}", text(&started));
    wait_for_port(port);
    let pid = engine.docker(&["inspect", "-f", "{{.State.Pid}}", "tls-store"]);
    let root = std::path::Path::new("/proc")
        .join(String::from_utf8_lossy(&pid.stdout).trim())
        .join("root");
    let header = format!(
        "scope: {{ compose_project: {project} }}\ndocker: {{ {}, socket: \"{}\" }}\n",
        engine.engine_yaml(),
        engine.file("sock")
    );

    // 1. A container script that hangs past its 1 s timeout, with a
    //    subshell that would write /late 1 s after the revert.
    let (_d1, hanging) = gameday_file(&format!(
        r#"gameday: Remote script timeout
{header}defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: A script that hangs
    fault:
      script:
        service: store
        in: container
        apply: [sh, -c, "(sleep 2; touch /late) & sleep 30"]
        revert: [sh, -c, "touch /reverted"]
        timeout: 1s
    duration: 1s
"#
    ));
    let out1 = tempfile::tempdir().unwrap();
    let _ = gameday_run(out1.path(), &hanging, &["--yes"], 60);
    let result = result_json(&run_dir(out1.path()));
    let error = result["scenarios"][0]["error"].as_str().unwrap_or_default();
    assert!(
        root.join("reverted").exists(),
        "the revert did not run: {error}"
    );
    assert!(
        error.contains("timed out after 1s in the container; killed")
            && error.contains("through a helper container in its PID namespace"),
        "{error}"
    );
    let watch = std::time::Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        assert!(
            !root.join("late").exists(),
            "the timed-out apply landed after its revert: {error}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let helpers = engine.docker(&["ps", "-aq", "--filter", "label=gameday.helper=1"]);
    assert!(
        helpers.stdout.iter().all(u8::is_ascii_whitespace),
        "a helper is left: {}",
        text(&helpers)
    );
    eprintln!("recorded: {error}");

    // 2. A host script and a SIGSTOP of the store; the runner alone dies.
    let marks = tempfile::tempdir().unwrap();
    let (applied, reverted) = (marks.path().join("applied"), marks.path().join("reverted"));
    let (_d2, file) = gameday_file(&format!(
        r#"gameday: Remote host script
{header}lease: 2s
defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: Host script and a frozen store
    faults:
      - script:
          service: store
          in: host
          apply: [touch, "{applied}"]
          revert: [sh, -c, "rm -f {applied} && touch {reverted}"]
          timeout: 5s
      - process: {{ service: store, match: store, signal: SIGSTOP, pid1: true }}
    duration: 60s
"#,
        applied = applied.display(),
        reverted = reverted.display(),
    ));
    let out2 = tempfile::tempdir().unwrap();
    let mut runner = StdCommand::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--yes", "--no-progress", "--out"])
        .arg(out2.path())
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let store_answers = || http_ok(port, "/get", Duration::from_millis(300));
    wait_for("both faults", Duration::from_secs(40), || {
        applied.exists() && !store_answers()
    });
    runner.kill().unwrap();
    runner.wait().unwrap();
    let killed = std::time::Instant::now();
    while !(reverted.exists() && !applied.exists() && store_answers()) {
        assert!(
            killed.elapsed() < Duration::from_secs(4),
            "not reverted within the 2 s lease + 2 s: host script reverted {}, store answers {}; journal: {}",
            reverted.exists(),
            store_answers(),
            std::fs::read_to_string(run_dir(out2.path()).join("journal.jsonl")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "the watchdog on this host reverted both {:?} after the runner died",
        killed.elapsed()
    );
    let journal = std::fs::read_to_string(run_dir(out2.path()).join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("for what is undone from this host")
            && journal.matches(r#""by":"watchdog""#).count() == 2,
        "{journal}"
    );
    let recovered = gameday_recover(out2.path());
    assert_exit(&recovered, 0);
    assert!(reverted.exists() && !applied.exists() && store_answers());
}
