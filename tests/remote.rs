//! Engines other than this host's socket: `gameday run` asks a person to
//! confirm (typing the gameday's name) before any fault goes through one,
//! refuses at once when nobody can answer, and works through it with
//! `--yes`. The "remote" engine is the local one reached over TCP on
//! 127.0.0.1 through a forwarder the test runs, so probes, faults and
//! reverts really travel over tcp://.

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
docker: {{ host: "{host}" }}
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
    let done = Command::cargo_bin("gameday")
        .unwrap()
        .args(["run", "--yes", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
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
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[0].join("result.json")).unwrap()).unwrap();
    assert_eq!(result["outcome"], "met", "{screen}");
    assert_eq!(store.state(), "running", "the pause was not reverted");
}
