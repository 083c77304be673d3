//! Probes: how the system is observed while faults come and go. Each probe
//! kind turns one run into a [`ProbeSample`] (when, ok or not, latency,
//! status, container state, exit code, value, error text). [`spawn`] runs
//! one probe on its own schedule until cancelled; a slow run never delays
//! the next tick, nor any other probe, nor the fault schedule: every run is
//! its own task. HTTP, TCP and container probes live here; commands
//! ([`command`]), logs ([`logs`]) and Prometheus/Alertmanager ([`metrics`])
//! in their own files, the version an http answer carries in [`version`],
//! the load generator in [`load`], whose samples are per-interval
//! aggregates, and the [`ledger`] of acknowledged writes.

mod command;
pub(crate) mod ledger;
pub(crate) mod load;
mod logs;
mod metrics;
mod version;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::docker::Engine;
use crate::gameday::model::{HttpProbe, Probe, ProbeKind};
use crate::gameday::units::{ContainerState, HealthState};

/// One run of one probe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbeSample {
    /// Index of the probe in the gameday (file order).
    #[serde(skip)]
    pub probe: usize,
    /// When the run started, since the start of the run (monotonic clock).
    pub t_ms: f64,
    /// When the run started, wall clock.
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// exec and command probes: how the command exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// prometheus: the query's value; logs: matching lines since the
    /// previous run; alert: 1 firing, 0 not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// exec and command: the start of their output; logs: the first matching line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// container: Docker's HEALTHCHECK status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthState>,
    /// container: how often the engine restarted it (its restart policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u64>,
    /// container: whether the OOM killer ended its last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_killed: Option<bool>,
    /// container: CPU use since the previous sample, 100 = one core (stats API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    /// container: memory in use, page cache excluded (stats API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// load: the interval's aggregate (`t_ms` is its start); `ok` says
    /// none of its requests failed, `latency_ms` is its median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<Box<load::LoadTally>>,
    /// http with `version`: the version that answered, read from the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ProbeSample {
    /// When the result was known, since the start of the run.
    pub fn end_ms(&self) -> f64 {
        match &self.load {
            // Its requests are counted by when they were due.
            Some(load) => self.t_ms + load.span_ms,
            None => self.t_ms + self.latency_ms,
        }
    }

    /// Requests this sample counts, and how many succeeded: one run, or a
    /// load interval's requests.
    pub fn requests(&self) -> (u64, u64) {
        match &self.load {
            Some(load) => (load.due, load.ok),
            None => (1, u64::from(self.ok)),
        }
    }

    /// When this sample's first success was known, if it had one.
    pub fn first_ok_end(&self) -> Option<f64> {
        match &self.load {
            Some(load) => load.first_ok_at,
            None => self.ok.then(|| self.end_ms()),
        }
    }

    /// When this sample's first failure was known, if it had one.
    pub fn first_failure_end(&self) -> Option<f64> {
        match &self.load {
            Some(load) => load.first_failure_at,
            None => (!self.ok).then(|| self.end_ms()),
        }
    }

    /// Short text for timelines and the live view: `200 12ms`, `paused`,
    /// `running, healthy`, `timeout`.
    pub fn brief(&self) -> String {
        if let Some(load) = &self.load {
            return load.brief();
        }
        if let Some(state) = self.state {
            return match self.health {
                Some(
                    h @ (HealthState::Healthy | HealthState::Unhealthy | HealthState::Starting),
                ) => format!("{state}, {h}"),
                Some(HealthState::None) | None => state.to_string(),
            };
        }
        if let Some(code) = self.exit_code {
            return match &self.error {
                Some(e) => e.clone(),
                None => format!("exit {code} {:.0}ms", self.latency_ms),
            };
        }
        if let (Some(value), None) = (self.value, &self.error) {
            return format!("value {value}");
        }
        match (&self.status, &self.error) {
            (Some(s), None) => format!("{s} {:.0}ms", self.latency_ms),
            (Some(s), Some(e)) => format!("{s}: {e}"),
            (None, Some(e)) => e.clone(),
            (None, None) => format!("ok {:.0}ms", self.latency_ms),
        }
    }
}

/// What a probe needs to run, resolved: the container ids of a container probe.
#[derive(Clone)]
pub(crate) struct ProbeRunner {
    pub index: usize,
    pub probe: Probe,
    /// Container probes: the containers to watch (the first one is reported).
    pub container_ids: Vec<String>,
    pub http: reqwest::Client,
    pub engine: Engine,
    /// logs probes: where the previous run stopped reading.
    pub log_cursor: Arc<tokio::sync::Mutex<Option<DateTime<Utc>>>>,
    /// logs probes: the pattern, compiled once (validated when the file was read).
    pub log_pattern: Option<regex::Regex>,
    /// container probes: the latest reading of the engine's stats stream
    /// and when it came ([`follow_stats`] keeps it).
    pub last_stats: Arc<std::sync::Mutex<Option<(Instant, crate::docker::StatsReading)>>>,
    /// exec probes: turns with this run's pauses (see [`ExecGate`]).
    pub exec_gate: Arc<ExecGate>,
    /// load probes: where the run's windows begin and end.
    pub cuts: Arc<load::WindowCuts>,
    /// load probes: a rate the run sets for a while.
    pub dials: Arc<load::RateDials>,
    /// ledger probes: the book of writes, shared with the dispatcher,
    /// which has it read back after each scenario.
    pub ledger: Option<Arc<ledger::Ledger>>,
}

impl ProbeRunner {
    pub(crate) fn new(
        index: usize,
        probe: Probe,
        container_ids: Vec<String>,
        http: reqwest::Client,
        engine: Engine,
    ) -> ProbeRunner {
        let log_pattern = if let ProbeKind::Logs(l) = &probe.kind {
            regex::Regex::new(&l.pattern).ok()
        } else {
            None
        };
        ProbeRunner {
            index,
            probe,
            container_ids,
            http,
            engine,
            log_cursor: Arc::default(),
            log_pattern,
            last_stats: Arc::default(),
            exec_gate: Arc::default(),
            cuts: Arc::default(),
            dials: Arc::default(),
            ledger: None,
        }
    }
}

/// The shared monotonic + wall clock of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub start: Instant,
    pub start_wall: DateTime<Utc>,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            start: Instant::now(),
            start_wall: Utc::now(),
        }
    }

    pub(crate) fn ms(&self, instant: Instant) -> f64 {
        instant.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }

    pub(crate) fn wall(&self, instant: Instant) -> DateTime<Utc> {
        self.start_wall
            + chrono::Duration::from_std(instant.saturating_duration_since(self.start))
                .unwrap_or_default()
    }
}

/// Most runs of one probe in flight at once; beyond it, ticks are skipped.
const MAX_IN_FLIGHT: usize = 64;

/// Run `runner` every `probe.every` until `cancel` turns true.
pub(crate) fn spawn(
    runner: ProbeRunner,
    clock: Clock,
    samples: mpsc::UnboundedSender<ProbeSample>,
    mut cancel: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    if let ProbeKind::Load(spec) = &runner.probe.kind {
        let generator = load::Generator {
            index: runner.index,
            spec: spec.clone(),
            every: runner.probe.every.as_std(),
            timeout: runner.probe.timeout.as_std(),
            cuts: runner.cuts.clone(),
            dials: runner.dials.clone(),
        };
        return tokio::spawn(generator.run(clock, samples, cancel));
    }
    if let (ProbeKind::Container(_), Some(id)) = (&runner.probe.kind, runner.container_ids.first())
    {
        tokio::spawn(follow_stats(
            runner.engine.clone(),
            id.clone(),
            runner.last_stats.clone(),
            cancel.clone(),
        ));
    }
    tokio::spawn(async move {
        let runner = Arc::new(runner);
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut ticker = tokio::time::interval(runner.probe.every.as_std());
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = cancel.changed() => break,
                _ = ticker.tick() => {
                    let Ok(permit) = in_flight.clone().try_acquire_owned() else { continue };
                    let runner = runner.clone();
                    let samples = samples.clone();
                    tasks.spawn(async move {
                        let sample = runner.run_once(clock).await;
                        let _ = samples.send(sample);
                        drop(permit);
                    });
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
            if *cancel.borrow() {
                break;
            }
        }
        // Let runs in flight finish (each is bounded by its timeout).
        while tasks.join_next().await.is_some() {}
    })
}

/// A stats reading older than this is not attached to a sample.
const STATS_FRESH: Duration = Duration::from_millis(2500);

/// Follow the engine's stats of a container for a container probe, keeping
/// the latest reading in `latest`, until the run is cancelled. Docker
/// computes them once a second and asking for one reading waits for the
/// next (a second), so they are streamed beside the probe, never in its
/// runs: a container probe stays as fast as an inspect. The stream ends
/// when the container stops; it is followed again once it runs.
async fn follow_stats(
    engine: Engine,
    id: String,
    latest: Arc<std::sync::Mutex<Option<(Instant, crate::docker::StatsReading)>>>,
    mut cancel: watch::Receiver<bool>,
) {
    use futures_util::StreamExt;
    while !*cancel.borrow() {
        let stream = engine.stats(&id);
        tokio::pin!(stream);
        loop {
            tokio::select! {
                _ = cancel.changed() => return,
                item = stream.next() => match item {
                    Some(Ok(reading)) => {
                        *latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((Instant::now(), reading));
                    }
                    Some(Err(_)) | None => break,
                },
            }
        }
        tokio::select! {
            _ = cancel.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

impl ProbeRunner {
    /// One run, bounded by the probe's timeout.
    pub(crate) async fn run_once(&self, clock: Clock) -> ProbeSample {
        let timeout = self.probe.timeout.as_std();
        if let Some(ledger) = &self.ledger {
            // A write's outcome goes in the book even when it times out.
            return ledger.write(self.index, clock, timeout).await;
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(timeout, self.execute()).await;
        let latency = started.elapsed();
        let mut sample = ProbeSample {
            probe: self.index,
            t_ms: clock.ms(started),
            at: clock.wall(started),
            latency_ms: latency.as_secs_f64() * 1000.0,
            ..Default::default()
        };
        match outcome {
            Err(_) => sample.error = Some(format!("timeout after {}", self.probe.timeout)),
            Ok(result) => {
                sample.ok = result.ok;
                sample.status = result.status;
                sample.state = result.state;
                // What a sample keeps is printed and archived: no secret
                // from a URL (errors quote the URL they failed on).
                sample.error = result.error.as_deref().map(crate::redact::text);
                sample.exit_code = result.exit_code;
                sample.value = result.value;
                sample.output = result.output.as_deref().map(crate::redact::text);
                sample.health = result.health;
                sample.restarts = result.restarts;
                sample.oom_killed = result.oom_killed;
                sample.cpu_pct = result.cpu_pct;
                sample.memory_bytes = result.memory_bytes;
                sample.version = result.version;
            }
        }
        sample
    }

    async fn execute(&self) -> ProbeOutcome {
        match &self.probe.kind {
            ProbeKind::Http(http) => http_once(&self.http, http).await,
            ProbeKind::Tcp(tcp) => match tokio::net::TcpStream::connect(&tcp.address).await {
                Ok(_) => ProbeOutcome::ok(),
                Err(e) => ProbeOutcome::failed(format!("connect: {e}")),
            },
            ProbeKind::Container(_) => {
                let Some(id) = self.container_ids.first() else {
                    return ProbeOutcome::failed("no container".into());
                };
                let status = match self.engine.status(id).await {
                    Ok(status) => status,
                    Err(e) => return ProbeOutcome::failed(e.to_string()),
                };
                // The latest stats reading, if it is recent (Docker makes
                // one a second) and the container still runs.
                let reading = match status.state {
                    ContainerState::Running | ContainerState::Paused => *self
                        .last_stats
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                    ContainerState::Created
                    | ContainerState::Restarting
                    | ContainerState::Removing
                    | ContainerState::Exited
                    | ContainerState::Dead
                    | ContainerState::Absent => None,
                }
                .filter(|(at, _)| at.elapsed() < STATS_FRESH)
                .map(|(_, r)| r);
                let cpu_pct = reading.and_then(|r| r.cpu_pct);
                ProbeOutcome {
                    ok: status.state == ContainerState::Running,
                    state: Some(status.state),
                    exit_code: status.exit_code,
                    health: status.health,
                    restarts: status.restarts,
                    oom_killed: status.oom_killed,
                    cpu_pct,
                    memory_bytes: reading.and_then(|r| r.memory_bytes),
                    ..Default::default()
                }
            }
            ProbeKind::Exec(exec) => {
                let Some(id) = self.container_ids.first() else {
                    return ProbeOutcome::failed("no container".into());
                };
                let Some(_in_flight) = self.exec_gate.enter(id) else {
                    return ProbeOutcome::failed(
                        "not run: this gameday holds the container paused".into(),
                    );
                };
                command::exec_once(&self.engine, id, &exec.command).await
            }
            ProbeKind::Command(c) => command::host_once(&c.argv).await,
            ProbeKind::Logs(spec) => {
                let Some(id) = self.container_ids.first() else {
                    return ProbeOutcome::failed("no container".into());
                };
                let Some(pattern) = &self.log_pattern else {
                    return ProbeOutcome::failed(format!("invalid pattern {:?}", spec.pattern));
                };
                logs::count_once(&self.engine, id, pattern, &self.log_cursor).await
            }
            ProbeKind::Prometheus(spec) => metrics::prometheus_once(&self.http, spec).await,
            ProbeKind::Alert(spec) => metrics::alert_once(&self.http, spec).await,
            // Its own schedule: `spawn` runs its generator instead.
            ProbeKind::Load(_) => ProbeOutcome::failed("a load probe runs as a generator".into()),
            // `run_once` hands its runs to its book.
            ProbeKind::Ledger(_) => ProbeOutcome::failed("a ledger writes through its book".into()),
        }
    }
}

/// What one run found, before it is stamped with its time.
#[derive(Debug, Default)]
struct ProbeOutcome {
    ok: bool,
    status: Option<u16>,
    state: Option<ContainerState>,
    error: Option<String>,
    exit_code: Option<i64>,
    value: Option<f64>,
    output: Option<String>,
    health: Option<HealthState>,
    restarts: Option<u64>,
    oom_killed: Option<bool>,
    cpu_pct: Option<f64>,
    memory_bytes: Option<u64>,
    version: Option<String>,
}

impl ProbeOutcome {
    fn ok() -> ProbeOutcome {
        ProbeOutcome {
            ok: true,
            ..Default::default()
        }
    }
    fn failed(error: String) -> ProbeOutcome {
        ProbeOutcome {
            error: Some(error),
            ..Default::default()
        }
    }
}

/// A client for HTTP(S) probes: no connection reuse, so every run measures a
/// fresh connect (and TLS handshake), as a new user would. HTTPS verifies
/// certificates against the system's trust store.
pub(crate) fn http_client() -> reqwest::Client {
    client_from(|| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gameday/", env!("CARGO_PKG_VERSION")))
    })
}

/// The client `builder` makes, verifying HTTPS against the system's trust
/// store. A machine without one (an empty container with no CA bundle)
/// still gets a client: plain `http://` works and every HTTPS certificate
/// is refused as unknown (said once); never a panic, never an unverified
/// connection.
pub(crate) fn client_from(builder: impl Fn() -> reqwest::ClientBuilder) -> reqwest::Client {
    // One crypto backend for the whole process (ring); installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match builder().build() {
        Ok(client) => client,
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!(
                    "warning: no trust store for HTTPS here ({e}): https:// probes and webhooks will fail; \
                     set SSL_CERT_FILE to a CA bundle"
                );
            });
            builder()
                .tls_certs_only(Vec::<reqwest::Certificate>::new())
                .build()
                .unwrap_or_default()
        }
    }
}

async fn http_once(client: &reqwest::Client, spec: &HttpProbe) -> ProbeOutcome {
    let method =
        reqwest::Method::from_bytes(spec.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = client.request(method, &spec.url);
    for (name, value) in &spec.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &spec.body {
        request = request.body(body.clone());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::failed(describe_http_error(&e)),
    };
    let status = response.status().as_u16();
    let body = if spec.body_contains.is_some() {
        match response.text().await {
            Ok(b) => Some(b),
            Err(e) => {
                return ProbeOutcome {
                    status: Some(status),
                    error: Some(format!("reading the body: {}", describe_http_error(&e))),
                    ..Default::default()
                };
            }
        }
    } else if spec.version.is_some() {
        // Only the version wants it: its start, and a body that cannot be
        // read has no version but fails nothing (the status decides).
        version::read_body(response, version::BODY_LIMIT).await.ok()
    } else {
        None
    };
    let version = spec
        .version
        .as_ref()
        .zip(body.as_deref())
        .and_then(|(from, body)| version::read(from, body));
    let mut error = None;
    if !spec.expect_status.matches(status) {
        error = Some(format!("expected {}", spec.expect_status));
    } else if let (Some(wanted), Some(body)) = (&spec.body_contains, &body)
        && !body.contains(wanted.as_str())
    {
        error = Some(format!("body lacks {wanted:?}"));
    }
    ProbeOutcome {
        ok: error.is_none(),
        status: Some(status),
        error,
        version,
        ..Default::default()
    }
}

fn describe_http_error(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused or unreachable".to_string()
    } else if e.is_timeout() {
        "timeout".to_string()
    } else {
        crate::error_chain(e)
    }
}

/// Exec probes and this run's own pauses of the same container take turns.
/// On some engines (seen on Docker 20.10 with runc 1.1 and cgroup v1) an
/// exec that starts while its container is being frozen stays frozen in
/// `runc init`, and the unpause that should revert the fault hangs with it.
/// So a pause waits (bounded) for the execs in flight on its container, and
/// no exec starts on a container this run holds paused: its sample fails
/// at once and says why (an exec into a paused container fails anyway).
#[derive(Debug, Default)]
pub(crate) struct ExecGate {
    containers: std::sync::Mutex<std::collections::HashMap<String, GateState>>,
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct GateState {
    in_flight: usize,
    held: bool,
}

/// An exec in flight on a container; dropping it ends it.
pub(crate) struct ExecPermit<'a> {
    gate: &'a ExecGate,
    id: String,
}

impl Drop for ExecPermit<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.gate.lock().get_mut(&self.id) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        self.gate.changed.notify_waiters();
    }
}

impl ExecGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, GateState>> {
        self.containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before an exec: `None` while this run holds the container paused.
    pub(crate) fn enter(&self, id: &str) -> Option<ExecPermit<'_>> {
        let mut containers = self.lock();
        let state = containers.entry(id.to_string()).or_default();
        if state.held {
            return None;
        }
        state.in_flight += 1;
        Some(ExecPermit {
            gate: self,
            id: id.to_string(),
        })
    }

    /// Before pausing: no new exec on `id`, and wait up to `within` for the
    /// ones in flight (each is bounded by its probe's timeout). Returns how
    /// many were still running when it gave up waiting.
    pub(crate) async fn hold(&self, id: &str, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            let in_flight = {
                let mut containers = self.lock();
                let state = containers.entry(id.to_string()).or_default();
                state.held = true;
                state.in_flight
            };
            if in_flight == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return in_flight;
            }
        }
    }

    /// After the unpause (or a pause that failed): execs may run again.
    pub(crate) fn release(&self, id: &str) {
        if let Some(state) = self.lock().get_mut(id) {
            state.held = false;
        }
    }
}
