//! The datastores image in the integration tests: `gameday-datastores:latest`
//! (real PostgreSQL, Redis, PgBouncer and HAProxy from Debian's packages,
//! built by scripts/build-datastore-image) built once under a lock, and its
//! servers started inside a [`Project`]: labelled as the project's
//! containers are, named `<project>_<service>_1`, on its network under
//! their service's name, their port published on 127.0.0.1 at a random
//! port, each handed back once it answers a client, from inside its
//! container and at the published port. The containers go with the
//! project; a pause goes with its [`Paused`] guard.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Project, docker, root, run, wait_for_port};

pub const DATASTORE_IMAGE: &str = "gameday-datastores:latest";
/// The `app` role's password (the image's default, said explicitly).
pub const PASSWORD: &str = "app-secret";
/// How long a server may take to answer after its container starts
/// (initdb on a busy 2-core machine takes seconds).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// The bound on one client command (`psql`, `redis-cli`) in a container.
const COMMAND_WITHIN: Duration = Duration::from_secs(30);

/// Build the datastores image if it is missing or older than its sources
/// (under a lock, since test binaries run in parallel). The first build
/// takes a minute or two: mmdebstrap, from Debian's mirror.
pub fn ensure_datastore_image() {
    let lock_path = root().join("target").join("datastore-image.lock");
    let _ = std::fs::create_dir_all(lock_path.parent().unwrap());
    let lock = std::fs::File::create(&lock_path).expect("lock file");
    lock.lock().expect("lock");
    run(Command::new(root().join("scripts/build-datastore-image")).arg(DATASTORE_IMAGE));
}

/// A server of the datastores image, started in a project.
pub struct Server {
    pub id: String,
    pub name: String,
    pub service: String,
    pub kind: ServerKind,
    /// Its port inside the container (5432, 6379, 6432, 8080).
    pub port: u16,
    /// Where that port is published on 127.0.0.1: another one after each
    /// start of the container (Docker draws it again), which
    /// [`Server::restart`] and [`Server::kill_and_start`] read back.
    pub host_port: u16,
}

/// Which entry script a [`Server`] runs: what "it answers" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Postgres,
    Redis,
    PgBouncer,
    HaProxy,
}

/// `gd-postgres ARGS...` as `service`, once `app` can query it over TCP.
/// Its stop signal is SIGINT (PostgreSQL's fast shutdown), as in
/// docker-compose.datastores.yml.
pub fn start_postgres(project: &Project, service: &str, args: &[&str]) -> Server {
    let mut command = vec!["gd-postgres"];
    command.extend(args);
    let options = ["--stop-signal", "SIGINT"];
    let server = start(
        project,
        service,
        ServerKind::Postgres,
        &options,
        &command,
        5432,
    );
    server.wait_ready();
    server
}

/// `gd-redis ARGS...` as `service`, once it answers PING.
pub fn start_redis(project: &Project, service: &str, args: &[&str]) -> Server {
    redis_at(project, service, args, None)
}

/// [`start_redis`] at a fixed host port, which a restart keeps.
pub fn start_redis_fixed(project: &Project, service: &str, args: &[&str]) -> Server {
    redis_at(project, service, args, Some(super::free_port()))
}

fn redis_at(project: &Project, service: &str, args: &[&str], host_port: Option<u16>) -> Server {
    let mut command = vec!["gd-redis"];
    command.extend(args);
    let kind = ServerKind::Redis;
    let server = start_at(project, service, kind, &[], &command, 6379, host_port);
    server.wait_ready();
    server
}

/// `gd-pgbouncer --db-host DB_SERVICE` as `service`, once a query through
/// it reaches the database (which must be up).
pub fn start_pgbouncer(project: &Project, service: &str, db_service: &str) -> Server {
    let command = ["gd-pgbouncer", "--db-host", db_service, "--db-port", "5432"];
    let server = start(project, service, ServerKind::PgBouncer, &[], &command, 6432);
    server.wait_ready();
    server
}

/// `gd-haproxy BACKENDS...` as `service`, once it answers HTTP at the
/// published port (any status: its backends may not be up yet).
pub fn start_haproxy(project: &Project, service: &str, backends: &[&str]) -> Server {
    let mut command = vec!["gd-haproxy"];
    command.extend(backends);
    let server = start(project, service, ServerKind::HaProxy, &[], &command, 8080);
    server.wait_ready();
    server
}

/// `docker run` the image as `<project>_<service>_1` with the project's
/// labels, on its network as `service`, `port` published on 127.0.0.1.
fn start(
    project: &Project,
    service: &str,
    kind: ServerKind,
    options: &[&str],
    command: &[&str],
    port: u16,
) -> Server {
    start_at(project, service, kind, options, command, port, None)
}

/// [`start`], published at `host_port` when given (a gameday that
/// restarts the container keeps reaching it there: a random published
/// port gets a new number at every start).
fn start_at(
    project: &Project,
    service: &str,
    kind: ServerKind,
    options: &[&str],
    command: &[&str],
    port: u16,
    host_port: Option<u16>,
) -> Server {
    ensure_datastore_image();
    let name = format!("{}_{service}_1", project.name);
    let network = format!("{}_default", project.name);
    let project_label = format!("com.docker.compose.project={}", project.name);
    let service_label = format!("com.docker.compose.service={service}");
    let password = format!("POSTGRES_PASSWORD={PASSWORD}");
    let publish = match host_port {
        Some(h) => format!("127.0.0.1:{h}:{port}"),
        None => format!("127.0.0.1::{port}"),
    };
    let mut args = vec!["run", "-d", "--name", &name, "--network", &network];
    args.extend(["--network-alias", service, "-p", &publish, "-e", &password]);
    args.extend(["--label", &project_label, "--label", &service_label]);
    args.extend(["--label", "gameday.test=1"]);
    args.extend(options);
    args.push(DATASTORE_IMAGE);
    args.extend(command);
    let id = docker(&args);
    let host_port = published_port(&id, port);
    Server {
        id,
        name,
        service: service.to_string(),
        kind,
        port,
        host_port,
    }
}

/// Where container `id`'s `port` is published on 127.0.0.1, once it is open.
fn published_port(id: &str, port: u16) -> u16 {
    let mapping = docker(&["port", id, &format!("{port}/tcp")]);
    let host_port = mapping
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no published port in `{mapping}`"));
    wait_for_port(host_port);
    host_port
}

impl Server {
    /// Until it answers a client, inside its container and at the
    /// published port (HAProxy: any HTTP status, its backends may be down).
    pub fn wait_ready(&self) {
        match self.kind {
            ServerKind::Postgres | ServerKind::PgBouncer => self.wait_postgres_ready(),
            ServerKind::Redis => self.wait_redis_ready(),
            ServerKind::HaProxy => self.wait_until("HAProxy answers HTTP", || {
                http_status(self.host_port, "/", Duration::from_secs(1)).is_some()
            }),
        }
    }

    /// `docker restart`, until it answers again: how long the restart
    /// itself took (the stop, then the start).
    pub fn restart(&mut self) -> Duration {
        let start = Instant::now();
        docker(&["restart", &self.id]);
        let took = start.elapsed();
        self.started();
        took
    }

    /// `docker kill` (SIGKILL), `docker start`, until it answers again.
    pub fn kill_and_start(&mut self) {
        docker(&["kill", &self.id]);
        docker(&["start", &self.id]);
        self.started();
    }

    fn started(&mut self) {
        self.host_port = published_port(&self.id, self.port);
        self.wait_ready();
    }

    /// `docker exec` in this container (PGPASSWORD set), within 30s.
    pub fn exec(&self, command: &[&str]) -> Output {
        let password = format!("PGPASSWORD={PASSWORD}");
        let mut args = vec!["exec", "-e", &password, &self.id];
        args.extend(command);
        within(Command::new("docker").args(&args), COMMAND_WITHIN).unwrap_or_else(|| {
            panic!(
                "`docker {}` did not end within {COMMAND_WITHIN:?}",
                args.join(" ")
            )
        })
    }

    /// `psql` as `app` on database `app` over TCP inside the container (to
    /// PostgreSQL, or to PgBouncer on its port): the rows, unaligned, or
    /// what psql said when it failed.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        let port = self.port.to_string();
        let output = self.exec(&[
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "app",
            "-d",
            "app",
            "-AtqX",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]);
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }

    /// [`Server::try_psql`], which must succeed.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql)
            .unwrap_or_else(|e| panic!("psql `{sql}` on {} failed: {e}", self.name))
    }

    /// `redis-cli ARGS...` in the container: its answer.
    pub fn redis(&self, args: &[&str]) -> String {
        let mut command = vec!["redis-cli"];
        command.extend(args);
        let output = self.exec(&command);
        assert!(
            output.status.success(),
            "redis-cli {args:?} on {} failed: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// What the container printed (stdout and stderr).
    pub fn logs(&self) -> String {
        let output = within(
            Command::new("docker").args(["logs", &self.id]),
            COMMAND_WITHIN,
        )
        .expect("docker logs ends");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// A PostgreSQL (or PgBouncer) that `app` can query over TCP inside
    /// its container, and that answers the protocol at the published port.
    pub fn wait_postgres_ready(&self) {
        self.wait_until("the server answers a query as app", || {
            self.try_psql("select 1").is_ok_and(|rows| rows == "1")
        });
        self.wait_until("the published port answers PostgreSQL's protocol", || {
            postgres_answers(self.host_port)
        });
    }

    /// A Redis that answers PING inside its container and at the
    /// published port.
    pub fn wait_redis_ready(&self) {
        self.wait_until("Redis answers PING", || {
            let output = self.exec(&["redis-cli", "ping"]);
            String::from_utf8_lossy(&output.stdout).trim() == "PONG"
        });
        self.wait_until("the published port answers PING", || {
            redis_answers(self.host_port)
        });
    }

    /// Wait (up to 60s) until `check` holds; else fail with the logs.
    pub fn wait_until(&self, what: &str, check: impl Fn() -> bool) {
        let start = Instant::now();
        while !check() {
            if start.elapsed() > READY_WITHIN {
                panic!(
                    "{}: {what}: not within {READY_WITHIN:?}; its logs:\n{}",
                    self.name,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `docker pause`, undone when the guard drops (even when the test fails).
    pub fn pause(&self) -> Paused {
        docker(&["pause", &self.id]);
        Paused(self.id.clone())
    }
}

/// A paused container, unpaused on drop.
pub struct Paused(String);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = within(
            Command::new("docker").args(["unpause", &self.0]),
            COMMAND_WITHIN,
        );
    }
}

/// Run `command` to its end, or kill it after `limit`: its output, or None.
pub fn within(command: &mut Command, limit: Duration) -> Option<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => Some(output.expect("wait for the command")),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
            None
        }
    }
}

/// Does a PostgreSQL server (or PgBouncer) answer at 127.0.0.1:`port`?
/// It is sent an SSLRequest and must answer `N` or `S`, as only a server
/// speaking the protocol does.
pub fn postgres_answers(port: u16) -> bool {
    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    exchange(port, &SSL_REQUEST, 1).is_some_and(|a| a == b"N" || a == b"S")
}

/// Does a Redis answer PING at 127.0.0.1:`port`?
pub fn redis_answers(port: u16) -> bool {
    exchange(port, b"PING\r\n", 7).is_some_and(|a| a == b"+PONG\r\n")
}

/// The status of `GET path` at 127.0.0.1:`port` (HTTP/1.0, a fresh
/// connection), if an answer came within `timeout`.
pub fn http_status(port: u16, path: &str, timeout: Duration) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut stream = connect(port, timeout)?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    while !answer.contains(&b'\n') {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&answer);
    let mut words = line.split_whitespace();
    words
        .next()
        .filter(|v| v.starts_with("HTTP/"))
        .and(words.next())
        .and_then(|code| code.parse().ok())
}

/// Send `request`, read exactly `len` bytes back (within 1s each way).
fn exchange(port: u16, request: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut stream = connect(port, Duration::from_secs(1))?;
    stream.write_all(request).ok()?;
    let mut answer = vec![0u8; len];
    stream.read_exact(&mut answer).ok()?;
    Some(answer)
}

fn connect(port: u16, timeout: Duration) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    Some(stream)
}
