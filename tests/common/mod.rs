//! Shared helpers for the integration tests: Docker presence (required in
//! CI), the locally built demo image, and throw-away "compose projects" made
//! of labelled containers that are removed when the guard drops, even when
//! the test fails.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod datastores;
pub mod monitoring;
pub mod terminal;
mod tls_engine;
#[allow(unused_imports, reason = "each test binary uses a different subset")]
pub use tls_engine::TlsEngine;
pub mod webdriver;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const DEMO_IMAGE: &str = "gameday-demo:latest";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Is Docker usable? In CI (CI=true) a missing Docker is a failure, not a skip.
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        // In CI (any non-empty CI), a test that needs Docker fails.
        if std::env::var("CI").is_ok_and(|v| !v.is_empty()) {
            panic!("Docker is required in CI but `docker info` fails");
        }
        note_skipped();
    }
    ok
}

static SKIPPED: AtomicU32 = AtomicU32::new(0);

extern "C" fn say_skipped() {
    let n = SKIPPED.load(Ordering::SeqCst);
    eprintln!(
        "skipped {n} test{} that need Docker: it is not available (with CI set they fail)",
        if n == 1 { "" } else { "s" }
    );
}

/// Count a skipped test; the count is said once, when the tests end.
fn note_skipped() {
    if SKIPPED.fetch_add(1, Ordering::SeqCst) == 0 {
        // SAFETY: registers a plain function to run at exit; it only reads
        // an atomic and writes to stderr.
        unsafe {
            libc::atexit(say_skipped);
        }
    }
}

/// Run a command; panic with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

pub fn docker(args: &[&str]) -> String {
    run(Command::new("docker").args(args))
}

/// Build the demo image if it is missing or older than the demo's sources
/// (under a lock, since test binaries run in parallel).
pub fn ensure_demo_image() {
    let lock_path = root().join("target").join("demo-image.lock");
    let _ = std::fs::create_dir_all(lock_path.parent().unwrap());
    let lock = std::fs::File::create(&lock_path).expect("lock file");
    lock.lock().expect("lock");
    // The script rebuilds only when the demo's sources changed.
    run(Command::new(root().join("scripts/build-demo-image")).arg(DEMO_IMAGE));
}

/// The helper image the tests build and use: `gameday-nethelper:latest`,
/// or `GAMEDAY_TEST_HELPER_IMAGE` (so two checkouts testing at once on one
/// engine each test their own gameday inside it).
pub fn nethelper_image() -> &'static str {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        std::env::var("GAMEDAY_TEST_HELPER_IMAGE")
            .ok()
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| "gameday-nethelper:latest".to_string())
    })
}

/// Build the network helper image if it is missing or older than the
/// sources (it holds a static gameday; the first build takes minutes).
pub fn ensure_nethelper_image() {
    let lock_path = root().join("target").join("nethelper-image.lock");
    let _ = std::fs::create_dir_all(lock_path.parent().unwrap());
    let lock = std::fs::File::create(&lock_path).expect("lock file");
    lock.lock().expect("lock");
    run(Command::new(root().join("scripts/build-nethelper-image")).arg(nethelper_image()));
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `gdt-<prefix>-<pid>-<n>-<nanos>`: unique across parallel tests and test
/// binaries; `gdt-` is what CI's backstop looks for.
fn unique_project_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "gdt-{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A throw-away compose-like project: containers labelled as a compose
/// project would be, on their own network. Everything is removed on drop.
pub struct Project {
    pub name: String,
    network: String,
}

impl Project {
    pub fn new(prefix: &str) -> Project {
        ensure_demo_image();
        let name = unique_project_name(prefix);
        let network = format!("{name}_default");
        docker(&["network", "create", "--label", "gameday.test=1", &network]);
        Project { name, network }
    }

    /// Start `service` as `<project>_<service>_1` running the demo binary with `args`.
    /// With `publish`, the container port is published on 127.0.0.1 at a random port.
    pub fn service(&self, service: &str, args: &[&str], publish: Option<u16>) -> Container {
        self.start(service, "1", None, args, publish)
    }

    /// `service` on the project's network with more `docker run` options
    /// (`--memory 64m`, `--tmpfs /data`).
    pub fn service_opts(
        &self,
        service: &str,
        options: &[&str],
        args: &[&str],
        publish: Option<u16>,
    ) -> Container {
        let mut network = vec!["--network", &self.network, "--network-alias", service];
        network.extend(options);
        self.start(service, "1", Some(&network), args, publish)
    }

    /// Another container of `service`, named `<project>_<service>_<suffix>`.
    pub fn service_named(&self, service: &str, suffix: &str, args: &[&str]) -> Container {
        self.start(service, suffix, None, args, None)
    }

    /// A container of `service` with its own network options (`--network host`).
    pub fn service_with(&self, service: &str, network: &[&str], args: &[&str]) -> Container {
        self.start(service, "1", Some(network), args, None)
    }

    fn start(
        &self,
        service: &str,
        suffix: &str,
        network: Option<&[&str]>,
        args: &[&str],
        publish: Option<u16>,
    ) -> Container {
        let container_name = format!("{}_{service}_{suffix}", self.name);
        let project_label = format!("com.docker.compose.project={}", self.name);
        let service_label = format!("com.docker.compose.service={service}");
        let mut cmd = vec!["run", "-d", "--name", &container_name];
        match network {
            Some(options) => cmd.extend(options),
            None => cmd.extend(["--network", &self.network, "--network-alias", service]),
        }
        cmd.extend([
            "--label",
            &project_label,
            "--label",
            &service_label,
            "--label",
            "gameday.test=1",
        ]);
        let publish_arg = publish.map(|p| format!("127.0.0.1::{p}"));
        if let Some(p) = &publish_arg {
            cmd.extend(["-p", p.as_str()]);
        }
        cmd.push(DEMO_IMAGE);
        cmd.extend(args);
        let id = docker(&cmd);
        let host_port = publish.map(|p| {
            let mapping = docker(&["port", &id, &format!("{p}/tcp")]);
            let port = mapping
                .lines()
                .next()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            wait_for_port(port);
            port
        });
        Container {
            id,
            name: container_name,
            host_port,
        }
    }

    /// The usual pair: a store and an api in front of it; returns (store, api).
    pub fn demo_stack(&self) -> (Container, Container) {
        let store = self.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
        let api = self.service(
            "api",
            &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
            Some(8080),
        );
        (store, api)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let ids = project_containers(&self.name);
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&ids)
                .output();
        }
        remove_markers(&self.name);
        // A watchdog container of the project's runs, kept by design when
        // its runner died without ending (its logs are recover's record).
        let watchdog = format!("label=gameday.watchdog.scope={}", self.name);
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &watchdog])
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

/// Every container of a compose project, unpaused (a paused container
/// cannot always be removed cleanly).
fn project_containers(project: &str) -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={project}");
    let ids: Vec<String> = Command::new("docker")
        .args(["ps", "-aq", "--filter", &filter])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if !ids.is_empty() {
        let _ = Command::new("docker").arg("unpause").args(&ids).output();
    }
    ids
}

/// The run's claim and a halt marker, if a runner died holding them: the
/// containers, then their witnesses (volumes of the same names).
fn remove_markers(project: &str) {
    for marker in ["gameday-claim", "gameday-halt"] {
        let _ = Command::new("docker")
            .args(["rm", "-f", &format!("{marker}-{project}")])
            .output();
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &format!("{marker}-{project}")])
            .output();
    }
}

pub struct Container {
    pub id: String,
    pub name: String,
    pub host_port: Option<u16>,
}

impl Container {
    pub fn state(&self) -> String {
        docker(&["inspect", "-f", "{{.State.Status}}", &self.id])
    }
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], port).into(),
            Duration::from_millis(200),
        )
        .is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("port {port} did not open");
}

/// Write a gameday file into a temp dir and return (dir guard, path).
pub fn gameday_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gameday.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// `gameday run --no-progress --out OUT FILE`, killed after `secs`.
pub fn run_gameday(out: &Path, file: &Path, secs: u64) -> std::process::Output {
    gameday_run(out, file, &[], secs)
}

/// `gameday run --no-progress --out OUT EXTRA... FILE`, killed after `secs`;
/// standard input is not a terminal.
pub fn gameday_run(out: &Path, file: &Path, extra: &[&str], secs: u64) -> std::process::Output {
    assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .args(["run", "--no-progress", "--out"])
        .arg(out)
        .args(extra)
        .arg(file)
        .timeout(Duration::from_secs(secs))
        .output()
        .unwrap()
}

/// The exit code is `code`; otherwise fail showing what the command printed.
pub fn assert_exit(output: &std::process::Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The one run directory a run wrote under `out`.
pub fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "expected one run directory in {}: {dirs:?}",
        out.display()
    );
    dirs[0].clone()
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `gameday plan FILE`.
pub fn gameday_plan(file: &Path) -> std::process::Output {
    assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .arg("plan")
        .arg(file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// `gameday recover --out OUT`, with no engine named (DOCKER_HOST unset):
/// the journals must say where their faults are.
pub fn gameday_recover(out: &Path) -> std::process::Output {
    assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env_remove("DOCKER_HOST")
        .args(["recover", "--out"])
        .arg(out)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// The run's `result.json`.
pub fn result_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap()
}

/// `gameday run --yes` in the background, SIGKILLed as soon as `faulted()`
/// holds (within 30 s): a runner that dies with its faults in place.
/// Returns the runner's pid.
pub fn kill_runner_once(file: &Path, out: &Path, faulted: impl Fn() -> bool) -> u32 {
    let mut runner = Command::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--yes", "--no-progress", "--out"])
        .arg(out)
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !faulted() {
        if Instant::now() > deadline {
            let _ = runner.kill();
            panic!("the faults never came");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = runner.id();
    kill_with_watchdogs(&mut runner);
    pid
}

/// The `gameday watchdog` processes the runner `pid` started (its children).
pub fn watchdogs_of(pid: u32) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(Result::ok)
        .filter_map(|p| p.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the comm may hold spaces, so after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            ppid == Some(pid) && cmdline.split(|b| *b == 0).any(|a| a == b"watchdog")
        })
        .collect()
}

/// SIGKILL a runner together with its watchdogs, as a power cut would:
/// each watchdog is frozen (SIGSTOP) first, so it cannot revert when the
/// runner goes, then both die. What they applied is left for `recover`.
pub fn kill_with_watchdogs(runner: &mut std::process::Child) {
    let watchdogs = watchdogs_of(runner.id());
    for w in &watchdogs {
        // SAFETY: plain kill(2) on a pid this test's runner started.
        unsafe {
            libc::kill(*w as i32, libc::SIGSTOP);
        }
    }
    runner.kill().unwrap();
    runner.wait().unwrap();
    for w in &watchdogs {
        // SAFETY: as above.
        unsafe {
            libc::kill(*w as i32, libc::SIGKILL);
        }
    }
    // Reaped by init once their parent is gone; wait until they are.
    let deadline = Instant::now() + Duration::from_secs(5);
    while watchdogs
        .iter()
        .any(|w| std::path::Path::new(&format!("/proc/{w}/cmdline")).exists())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Note a daemon a test started (a second dockerd, sshd, Prometheus) in the
/// file `GAMEDAY_TEST_PIDS` names, when it is set: `.ci/run` ends exactly
/// these if a test process dies before its guard could, and nothing else.
pub fn record_test_daemon(pid: u32) {
    if let Some(file) = std::env::var_os("GAMEDAY_TEST_PIDS") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = writeln!(f, "{pid}");
        }
    }
}

/// Can `from` open a TCP connection to `to` (within 700 ms), from inside it?
pub fn can_connect(from: &Container, to: &str) -> bool {
    Command::new("docker")
        .args(["exec", &from.id, "/gameday-demo", "connect", to, "700"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `n` TCP connects from inside `from` to `to`, `parallel` at a time:
/// (failed share, median ms of the successful ones).
pub fn probe(from: &Container, to: &str, n: usize, timeout_ms: u64, parallel: usize) -> (f64, f64) {
    let out = docker(&[
        "exec",
        &from.id,
        "/gameday-demo",
        "probe",
        to,
        &n.to_string(),
        &timeout_ms.to_string(),
        &parallel.to_string(),
    ]);
    let field = |name: &str| -> f64 {
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad probe output: {out}"))
    };
    (field("failed") / n as f64, field("median_ms"))
}

/// `gameday run --no-progress --out OUT FILE` in the background, its output piped.
pub fn spawn_run(file: &Path, out: &Path) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--no-progress", "--out"])
        .arg(out)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn wait_for(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn finish(child: std::process::Child, within: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
            panic!("gameday did not exit within {within:?}");
        }
    }
}

pub fn claim_name(project: &Project) -> String {
    format!("gameday-claim-{}", project.name)
}

pub fn claim_exists(project: &Project) -> bool {
    !docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name=^{}$", claim_name(project)),
    ])
    .is_empty()
}

pub fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn journal_text(out: &Path) -> String {
    std::fs::read_to_string(run_dir(out).join("journal.jsonl")).unwrap()
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0, a fresh connection): does it
/// answer 200 within `timeout`? Reads only the status line, so a server that
/// keeps the connection open does not make it wait.
pub fn http_ok(port: u16, path: &str, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") && head.len() < 100 {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    String::from_utf8_lossy(&head).split_whitespace().nth(1) == Some("200")
}

/// `gameday recover` after a watchdog did the work: nothing is left (exit
/// 0), and it says the run's watchdog had reverted the faults.
pub fn assert_recover_says_the_watchdog_reverted(out: &Path) {
    let recovered = gameday_recover(out);
    assert_exit(&recovered, 0);
    assert!(
        text(&recovered).contains("already reverted by the run's watchdog"),
        "{}",
        text(&recovered)
    );
}

/// A real compose project started with `docker-compose` from `files`
/// (plus an override that labels its containers and networks
/// `gameday.test=1`, so CI's backstop finds them), torn down on drop even
/// when the test fails.
pub struct ComposeStack {
    pub name: String,
    dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl ComposeStack {
    /// `docker-compose -p gdt-<prefix>-... -f FILES... -f labels.yml up -d`,
    /// with `env` set for the compose files' `${VAR}`.
    pub fn up(
        prefix: &str,
        files: &[PathBuf],
        services: &[&str],
        env: &[(&str, String)],
    ) -> ComposeStack {
        ensure_demo_image();
        let name = unique_project_name(prefix);
        let dir = tempfile::tempdir().unwrap();
        let mut labels = String::from("version: \"2.4\"\nservices:\n");
        for s in services {
            labels.push_str(&format!("  {s}: {{ labels: {{ gameday.test: \"1\" }} }}\n"));
        }
        labels.push_str("networks:\n  default: { labels: { gameday.test: \"1\" } }\n");
        let override_file = dir.path().join("labels.yml");
        std::fs::write(&override_file, labels).unwrap();
        let mut all = files.to_vec();
        all.push(override_file);
        let stack = ComposeStack {
            name,
            dir,
            files: all,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        run(stack.compose().args(["up", "-d"]));
        stack
    }

    pub fn compose(&self) -> Command {
        let mut cmd = Command::new("docker-compose");
        cmd.arg("-p").arg(&self.name);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// The state of the one container of `service`.
    pub fn state(&self, service: &str) -> String {
        let filter_p = format!("label=com.docker.compose.project={}", self.name);
        let filter_s = format!("label=com.docker.compose.service={service}");
        let id = docker(&["ps", "-aq", "--filter", &filter_p, "--filter", &filter_s]);
        docker(&[
            "inspect",
            "-f",
            "{{.State.Status}}",
            id.lines().next().unwrap_or(""),
        ])
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        project_containers(&self.name);
        let _ = self
            .compose()
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .output();
        remove_markers(&self.name);
    }
}

/// (text, verdict, actual, value) of every expectation of a run's result.
#[allow(dead_code)]
pub fn expectations(result: &serde_json::Value) -> Vec<(String, String, String, Option<f64>)> {
    result["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["expectations"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["text"].as_str().unwrap().to_string(),
                e["verdict"].as_str().unwrap().to_string(),
                e["actual"].as_str().unwrap().to_string(),
                e["value"].as_f64(),
            )
        })
        .collect()
}

/// Wait until `check` holds (polling every 20 ms); how long it took.
#[allow(dead_code)]
pub fn wait_until(what: &str, within: Duration, check: impl Fn() -> bool) -> Duration {
    wait_until_or(what, within, check, String::new)
}

/// [`wait_until`], saying what `context` tells when it never happens.
#[allow(dead_code)]
pub fn wait_until_or(
    what: &str,
    within: Duration,
    check: impl Fn() -> bool,
    context: impl Fn() -> String,
) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "{what} never happened{}", {
            let context = context();
            if context.is_empty() {
                context
            } else {
                format!(": {context}")
            }
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// The nat rules gameday wrote in container `id`'s network namespace.
#[allow(dead_code)]
pub fn nat_redirects(id: &str) -> Vec<String> {
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", id]);
    run(Command::new("nsenter").args([
        "-t",
        pid.trim(),
        "-n",
        "iptables",
        "-w",
        "5",
        "-t",
        "nat",
        "-S",
    ]))
    .lines()
    .filter(|l| l.contains("gameday:"))
    .map(String::from)
    .collect()
}

/// The gameday helper containers that share container `id`'s namespace
/// (`how`: `NetworkMode` or `PidMode`, as `docker inspect` names it).
#[allow(dead_code)]
pub fn helpers_sharing(id: &str, how: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        "label=gameday.helper=1",
    ])
    .lines()
    .filter(|h| {
        Command::new("docker")
            .args(["inspect", "-f", &format!("{{{{.HostConfig.{how}}}}}"), h])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == format!("container:{id}"))
    })
    .map(String::from)
    .collect()
}

/// Removes the helpers sharing a container's namespaces when the test
/// ends, even failing.
#[allow(dead_code)]
pub struct HelperGuard(pub String);

impl Drop for HelperGuard {
    fn drop(&mut self) {
        for how in ["NetworkMode", "PidMode"] {
            for h in helpers_sharing(&self.0, how) {
                let _ = Command::new("docker").args(["rm", "-f", &h]).output();
            }
        }
    }
}

/// A gameday of one scenario holding `fault` (a fault kind and its keys,
/// as YAML) on the compose project `project`, with `docker` (a `docker:`
/// line, or nothing) and short baseline and cooldown.
#[allow(dead_code)]
pub fn one_fault_gameday(project: &str, docker: &str, fault: &str, duration: &str) -> String {
    format!(
        r#"
gameday: One fault
scope: {{ compose_project: {project} }}
{docker}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: The fault
    fault: {{ {fault} }}
    duration: {duration}
"#
    )
}

/// A named volume made for a test (labelled `gameday.test=1`), removed
/// when the guard drops, after the project's containers are gone.
#[allow(dead_code)]
pub struct VolumeGuard(pub String);

#[allow(dead_code)]
impl VolumeGuard {
    /// `docker volume create` with `options` (`--opt type=tmpfs`, ...).
    pub fn create(name: &str, options: &[&str]) -> VolumeGuard {
        let mut args = vec!["volume", "create", "--label", "gameday.test=1"];
        args.extend(options);
        args.push(name);
        docker(&args);
        VolumeGuard(name.to_string())
    }
}

impl Drop for VolumeGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &self.0])
            .output();
    }
}

/// This machine's `MemTotal` and `MemAvailable`, in bytes.
#[allow(dead_code)]
pub fn meminfo() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/meminfo"))
            * 1024
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

/// A size as gameday writes it (`2.4GiB`, `16MiB`).
#[allow(dead_code)]
pub fn size_text(bytes: u64) -> String {
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in ["KiB", "MiB", "GiB", "TiB"] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    let text = if unit == "B" {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    format!("{}{unit}", text.trim_end_matches(".0"))
}

/// The lines of `tc qdisc show` output that are gameday's qdiscs: a root
/// qdisc with a handle from `6700:` to `67ff:` (each fault's own, and the
/// `6764:` of gameday before that), or the netem it hangs under a `prio`.
#[allow(dead_code)]
pub fn gameday_qdiscs(shown: &str) -> Vec<String> {
    shown
        .lines()
        .filter(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.first() == Some(&"qdisc")
                && words
                    .get(2)
                    .and_then(|h| h.strip_suffix(':'))
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                    .is_some_and(|major| (0x6700..=0x67ff).contains(&major))
        })
        .map(String::from)
        .collect()
}

/// `docker run` options that lend a `FROM scratch` container (the demo
/// image) this host's shell and tools, read-only: for `script` faults
/// that run in the container.
pub const HOST_SHELL: &[&str] = &[
    "-v",
    "/usr:/usr:ro",
    "-v",
    "/usr/bin:/bin:ro",
    "-v",
    "/usr/lib:/lib:ro",
    "-v",
    "/usr/lib64:/lib64:ro",
];

impl Project {
    /// Another container of `service`, named `<project>_<service>_<suffix>`,
    /// on the project's network with more `docker run` options.
    pub fn service_named_opts(
        &self,
        service: &str,
        suffix: &str,
        options: &[&str],
        args: &[&str],
    ) -> Container {
        let mut network = vec!["--network", &self.network, "--network-alias", service];
        network.extend(options);
        self.start(service, suffix, Some(&network), args, None)
    }
}

/// A Linux bridge for a test engine, with an address of its own, removed
/// on drop. A second dockerd gets one of these, never `--bridge=none`: a
/// dockerd started so removes the host's `docker0`, and with it the main
/// engine's default network.
pub struct TestBridge {
    pub name: String,
}

impl TestBridge {
    /// `gdtest<n>`, with a /30 of its own made from `n` (never the main
    /// engine's).
    pub fn create(n: u16) -> TestBridge {
        let name = format!("gdtest{n}");
        let ip = |args: &[&str]| run(Command::new("ip").args(args));
        ip(&["link", "add", "name", &name, "type", "bridge"]);
        let bridge = TestBridge { name };
        let address = format!("10.213.{}.{}/30", n % 250, (n / 250 % 60) * 4 + 1);
        ip(&["addr", "add", &address, "dev", &bridge.name]);
        ip(&["link", "set", &bridge.name, "up"]);
        bridge
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

/// A Docker engine of the test's own on this host: a second dockerd with
/// its data, its containerd and its unix socket in a temporary directory,
/// a bridge of its own and no iptables rules (its containers use the
/// host's network). A test may freeze it (SIGSTOP), never the main
/// engine. Its containers, the daemon and its mounts go on drop, even when
/// the test fails; a frozen daemon is thawed first.
pub struct PrivateEngine {
    daemon: std::process::Child,
    dir: tempfile::TempDir,
    _bridge: TestBridge,
}

impl PrivateEngine {
    pub fn start() -> PrivateEngine {
        ensure_demo_image();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let path = |p: &str| d.join(p).display().to_string();
        std::fs::write(d.join("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let bridge = TestBridge::create(free_port());
        let daemon = Command::new("dockerd")
            .args(["--config-file", &path("daemon.json")])
            .args(["--data-root", &path("root"), "--exec-root", &path("exec")])
            .args(["--pidfile", &path("dockerd.pid")])
            .args(["-H", &format!("unix://{}", path("sock"))])
            .args([
                &format!("--bridge={}", bridge.name),
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (the Docker engine's daemon) is needed for this test");
        record_test_daemon(daemon.id());
        let engine = PrivateEngine {
            daemon,
            dir,
            _bridge: bridge,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !engine.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the test's dockerd did not start: {}",
                std::fs::read_to_string(engine.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // No registry: hand it the demo image built for the main engine.
        let mut save = Command::new("docker")
            .args(["save", DEMO_IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let loaded = Command::new("docker")
            .args(["-H", &engine.socket(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save failed");
        assert!(loaded.status.success(), "{}", text(&loaded));
        engine
    }

    /// `unix:///.../sock`: how a gameday file names it.
    pub fn socket(&self) -> String {
        format!("unix://{}", self.dir.path().join("sock").display())
    }

    /// `docker` against this engine.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(["-H", &self.socket()])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn state(&self, container: &str) -> String {
        let out = self.docker(&["inspect", "-f", "{{.State.Status}}", container]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Freeze the daemon (SIGSTOP): every API call waits. Its containers
    /// (under their shims) go on running.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on the daemon this test started.
        unsafe {
            libc::kill(self.daemon.id() as i32, signal);
        }
    }

    /// Start the demo store as container `name`, service `service` of
    /// compose project `project`, on the host's network at 127.0.0.1:`port`.
    pub fn run_store(&self, name: &str, project: &str, service: &str, port: u16) {
        start_store_with(&|a| self.docker(a), name, project, service, port);
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.thaw();
        remove_every_container_with(&|a| self.docker(a));
        // SIGTERM: dockerd stops its containerd and its containers.
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // dockerd leaves its namespace mounts behind; the dir cannot go before them.
        let dir = self.dir.path().display().to_string();
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            for point in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
                if point.starts_with(&dir) {
                    let _ = Command::new("umount").args(["-l", point]).output();
                }
            }
        }
    }
}

/// The witness volumes of the project's claim and halt marker that exist
/// (`gameday-claim-P`, `gameday-halt-P`).
#[allow(dead_code)]
pub fn marker_volumes(project: &Project) -> Vec<String> {
    ["gameday-claim", "gameday-halt"]
        .iter()
        .map(|m| format!("{m}-{}", project.name))
        .filter(|v| {
            Command::new("docker")
                .args(["volume", "inspect", v])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect()
}

/// Does the project's halt marker container exist?
#[allow(dead_code)]
pub fn halt_marker_exists(project: &Project) -> bool {
    !docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name=^gameday-halt-{}$", project.name),
    ])
    .is_empty()
}

/// SIGSTOP (`stop`) or SIGCONT each of `pids` (processes a test started).
#[allow(dead_code)]
pub fn freeze(pids: &[u32], stop: bool) {
    for p in pids {
        // SAFETY: plain kill(2) on processes this test started.
        unsafe {
            libc::kill(*p as i32, if stop { libc::SIGSTOP } else { libc::SIGCONT });
        }
    }
}

/// Start the demo store through `docker` (one engine's CLI) as container
/// `name`, service `service` of compose project `project`, on the host's
/// network at 127.0.0.1:`port`.
pub fn start_store_with(
    docker: &dyn Fn(&[&str]) -> std::process::Output,
    name: &str,
    project: &str,
    service: &str,
    port: u16,
) {
    let listen = format!("127.0.0.1:{port}");
    let started = docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        &format!("com.docker.compose.service={service}"),
        DEMO_IMAGE,
        "store",
        "--listen",
        &listen,
    ]);
    assert!(started.status.success(), "{}", text(&started));
    wait_for_port(port);
}

/// Every container of one engine (reached through `docker`), unpaused and removed.
pub fn remove_every_container_with(docker: &dyn Fn(&[&str]) -> std::process::Output) {
    let ids = docker(&["ps", "-aq"]);
    let ids = String::from_utf8_lossy(&ids.stdout).to_string();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let _ = docker(&[&["unpause"][..], &ids].concat());
        let _ = docker(&[&["rm", "-f"][..], &ids].concat());
    }
}
