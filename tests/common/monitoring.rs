//! A real monitoring stack for the tests: Debian's `prometheus` and
//! `prometheus-alertmanager` started on 127.0.0.1 for one test (killed when
//! the guard drops), a Prometheus scraping the demo api with a
//! `DemoStoreDown` rule, and the demo stack watched by both.

use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A Debian package's server, started on 127.0.0.1 for one test and killed
/// when the guard drops.
pub struct Server {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `prometheus` and `prometheus-alertmanager` (Debian's packages; `.ci/run`
/// installs them). Outside CI a missing one skips the test.
pub fn monitoring_tools() -> bool {
    let found = ["prometheus", "prometheus-alertmanager"].iter().all(|b| {
        StdCommand::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "prometheus and prometheus-alertmanager are required in CI (apt-get install prometheus prometheus-alertmanager)"
        );
        eprintln!("skipping: prometheus or prometheus-alertmanager is not installed");
    }
    found
}

fn start(program: &str, args: &[String], port: u16, dir: tempfile::TempDir) -> Server {
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let child = StdCommand::new(program)
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    record_test_daemon(child.id());
    let server = Server {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http_get(port, "/-/ready").is_some_and(|(status, _)| status == 200) {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "{program} did not become ready: {}",
            std::fs::read_to_string(server._dir.path().join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain HTTP GET to 127.0.0.1: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_millis(500),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

pub fn alertmanager() -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        "route: { receiver: nobody, group_wait: 1s }\nreceivers: [ { name: nobody } ]\n",
    )
    .unwrap();
    let port = free_port();
    let args = vec![
        "--config.file=alertmanager.yml".to_string(),
        format!("--storage.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        // No cluster: nothing listens beyond the one loopback port.
        "--cluster.listen-address=".to_string(),
    ];
    start("prometheus-alertmanager", &args, port, dir)
}

pub fn prometheus(scrape_port: u16, alertmanager_port: u16) -> Server {
    prometheus_alerting_after(scrape_port, alertmanager_port, "0s")
}

/// Prometheus as [`prometheus`], its `DemoStoreDown` rule firing once the
/// store has been down for `after` (`for:`).
pub fn prometheus_alerting_after(scrape_port: u16, alertmanager_port: u16, after: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            r#"global: {{ scrape_interval: 500ms, scrape_timeout: 400ms, evaluation_interval: 500ms }}
rule_files: [rules.yml]
alerting:
  alertmanagers: [ {{ static_configs: [ {{ targets: ["127.0.0.1:{alertmanager_port}"] }} ] }} ]
scrape_configs:
  - {{ job_name: demo, static_configs: [ {{ targets: ["127.0.0.1:{scrape_port}"] }} ] }}
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        format!("groups:\n  - name: demo\n    rules:\n      - {{ alert: DemoStoreDown, expr: demo_store_up == 0, for: {after} }}\n"),
    )
    .unwrap();
    let port = free_port();
    let args = vec![
        "--config.file=prometheus.yml".to_string(),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    let server = start("prometheus", &args, port, dir);
    // Wait for the first scrape, so the baseline has data.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http_get(port, "/api/v1/query?query=demo_store_up")
        .is_some_and(|(_, body)| body.contains("\"demo_store_up\""))
    {
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped the api"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server
}

/// A demo stack watched by a real Prometheus (scraping the api, with the
/// `DemoStoreDown` rule) and Alertmanager: (project, store, api,
/// alertmanager, prometheus).
pub fn monitored_stack(name: &str) -> (Project, Container, Container, Server, Server) {
    let project = Project::new(name);
    let (store, api) = project.demo_stack();
    let alerts = alertmanager();
    let prom = prometheus(api.host_port.unwrap(), alerts.port);
    (project, store, api, alerts, prom)
}
