//! The validated gameday: every value parsed, every default filled in, every
//! cross-reference checked. Built by [`super::decode`]; the JSON Schema of the
//! file (`gameday schema`) is generated from these types, so the schema and
//! the checks cannot drift apart (a test compares their key lists).

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::units::{Comparison, ContainerState, HumanDuration, Number, Percent, Rate, StatusSpec};
use super::yaml::Pos;

/// A gameday: scenarios run in order against one blast radius (`scope`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "gameday file")]
pub struct Gameday {
    /// The gameday's title, shown on every report.
    pub gameday: String,
    /// What the team wants to learn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who takes part and in which role: `Dana (coordinator)` or
    /// `{ name: Dana, role: coordinator }` (coordinator, observer, scribe, ...).
    /// Kept as `Name (role)`.
    #[serde(default)]
    #[schemars(with = "Vec<ParticipantEntry>")]
    pub participants: Vec<String>,
    /// Free text shown in the report; `local` when not given.
    #[serde(default)]
    pub environment: String,
    /// A link to the call recording or notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Which Docker engine to talk to; default `DOCKER_HOST`, then the local socket.
    #[serde(default)]
    pub docker: DockerConfig,
    /// More engines, by name (`db: { host: tcp://db-host:2376, tls: {...} }`);
    /// a target says `host: db` to be found there. The `docker:` engine is `default`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, HostEntry>")]
    pub hosts: BTreeMap<String, EngineSpec>,
    /// The blast radius: nothing outside it is ever touched.
    pub scope: Scope,
    /// Defaults for probes and phases.
    #[serde(default)]
    pub defaults: Defaults,
    /// Named probes, run continuously from the start of the baseline to the end of the last cooldown.
    #[serde(default)]
    pub probes: Probes,
    /// The scenarios, run in order.
    pub scenarios: Vec<Scenario>,
}

impl Gameday {
    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.0.iter().find(|p| p.name == name)
    }
}

/// An engine of `hosts:` as the file may write one (for the schema).
#[derive(JsonSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "describes the file for the JSON Schema only")]
enum HostEntry {
    /// Just the address: `ssh://ops@db-1`.
    Address(String),
    Engine(EngineSpec),
}

/// A participant as the file may write one (for the schema).
#[derive(JsonSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "describes the file for the JSON Schema only")]
enum ParticipantEntry {
    /// `Dana (coordinator)`
    Text(String),
    Person {
        name: String,
        /// coordinator, observer, scribe, operator, ...
        #[serde(default)]
        role: Option<String>,
    },
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerConfig {
    /// `unix:///var/run/docker.sock`, `tcp://host:2376`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Client certificate, key and the CA that signed the engine's
    /// certificate, for a `tcp://` engine (as `docker --tlsverify`). Without
    /// it, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are used, as by the docker CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Allow a `tcp://` engine without TLS: anyone on the path can drive it
    /// (and see what gameday does). The report says so.
    #[serde(default)]
    pub insecure: bool,
    /// For an `ssh://` engine: the key and known_hosts file to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshOptions>,
    /// How network faults reach a container's namespace: `auto` (from this
    /// host when the engine is local and gameday runs as root, else a helper
    /// container), `host`, or `helper`.
    #[serde(default)]
    pub network_helper: NetworkHelper,
    /// The helper image (default `gameday-nethelper:latest`, built by
    /// `scripts/build-nethelper-image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_image: Option<String>,
}

impl DockerConfig {
    /// Which engine, and how to reach it.
    pub fn engine_spec(&self) -> EngineSpec {
        EngineSpec {
            host: self.host.clone(),
            tls: self.tls.clone(),
            insecure: self.insecure,
            ssh: self.ssh.clone(),
        }
    }
}

/// How to reach one Docker engine. Recorded in the journal with every
/// fault, so `gameday recover` reaches the same engine the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// The engine's address; `None`: DOCKER_HOST, then the local socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshOptions>,
}

/// How the `ssh` client reaches an `ssh://` engine, beyond the user's own
/// ssh configuration (which is used as it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshOptions {
    /// The private key to log in with (`ssh -i`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// A known_hosts file holding the host's key, checked strictly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
}

/// PEM files for mutual TLS with a Docker engine (paths as written, from
/// the directory gameday runs in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The CA that signed the engine's certificate (`ca.pem`).
    pub ca: String,
    /// This client's certificate (`cert.pem`).
    pub cert: String,
    /// This client's private key (`key.pem`).
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkHelper {
    #[default]
    Auto,
    /// Enter the namespace from this host (setns): local engine, root.
    Host,
    /// Run tc/iptables and the packet engine in a helper container sharing the namespace.
    Helper,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Only containers of this docker-compose project are targets.
    pub compose_project: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// How often a probe runs when it does not say (default 500ms).
    #[serde(default)]
    pub probe_every: HumanDuration,
    /// How long a probe may take when it does not say (default 2s).
    #[serde(default)]
    pub probe_timeout: HumanDuration,
    /// Steady-state check before the first fault (default 5s).
    #[serde(default)]
    pub baseline: HumanDuration,
    /// Observation time after each revert (default 5s).
    #[serde(default)]
    pub cooldown: HumanDuration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            probe_every: HumanDuration::from_millis(500),
            probe_timeout: HumanDuration::from_secs(2),
            baseline: HumanDuration::from_secs(5),
            cooldown: HumanDuration::from_secs(5),
        }
    }
}

/// Probes in the order the file lists them; a mapping from name to probe in the file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Probes(pub Vec<Probe>);

impl JsonSchema for Probes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Probes".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let probe = generator.subschema_for::<Probe>();
        json_schema!({
            "type": "object",
            "description": "Named probes: `name: { http: {...}, every: 200ms }`.",
            "additionalProperties": probe
        })
    }
}

/// One probe: its kind, how often it runs and how long it may take.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    #[serde(skip)]
    pub name: String,
    #[serde(flatten)]
    pub kind: ProbeKind,
    /// Interval between two runs (default `defaults.probe_every`).
    #[serde(default)]
    pub every: HumanDuration,
    /// A run taking longer fails (default `defaults.probe_timeout`).
    #[serde(default)]
    pub timeout: HumanDuration,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// An HTTP request; ok when the status and body match.
    Http(HttpProbe),
    /// A TCP connect; ok when the connection opens.
    Tcp(TcpProbe),
    /// The Docker state of a container (running, paused, exited, ...).
    Container(ContainerProbe),
    /// A command run inside a container (`docker exec`); ok when it exits 0.
    Exec(ExecProbe),
    /// A command run on the runner's host, e.g. `[curl, -fsS, http://...]`;
    /// ok when it exits 0. An argv list: no shell unless you write `sh -c`.
    Command(CommandProbe),
    /// Container log lines matching a regex, counted per run.
    Logs(LogsProbe),
    /// A Prometheus instant query; ok when it returns one number (that meets `expect`).
    Prometheus(PrometheusProbe),
    /// Whether an alert is firing, asked of Alertmanager.
    Alert(AlertProbe),
}

impl ProbeKind {
    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Http(_) => "http",
            ProbeKind::Tcp(_) => "tcp",
            ProbeKind::Container(_) => "container",
            ProbeKind::Exec(_) => "exec",
            ProbeKind::Command(_) => "command",
            ProbeKind::Logs(_) => "logs",
            ProbeKind::Prometheus(_) => "prometheus",
            ProbeKind::Alert(_) => "alert",
        }
    }

    /// The container(s) the probe watches or runs in, if any.
    pub fn target(&self) -> Option<&Target> {
        match self {
            ProbeKind::Container(c) => Some(&c.target),
            ProbeKind::Exec(e) => Some(&e.target),
            ProbeKind::Logs(l) => Some(&l.target),
            _ => None,
        }
    }

    /// Does a run's duration mean something (latency checks and charts)?
    pub fn has_latency(&self) -> bool {
        matches!(
            self,
            ProbeKind::Http(_) | ProbeKind::Tcp(_) | ProbeKind::Exec(_) | ProbeKind::Command(_)
        )
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The URL; `${VAR}` is read from the environment.
    pub url: String,
    /// GET (default), POST, PUT, DELETE, HEAD, PATCH, OPTIONS.
    #[serde(default)]
    pub method: String,
    /// Request headers; `${VAR}` in values is read from the environment.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Statuses that count as success (default `2xx`).
    #[serde(default)]
    pub expect_status: StatusSpec,
    /// The response body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

impl Default for StatusSpec {
    fn default() -> Self {
        StatusSpec::Class(2)
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// `host:port`, e.g. `127.0.0.1:5432`.
    pub address: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerProbe {
    #[serde(flatten)]
    pub target: Target,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecProbe {
    #[serde(flatten)]
    pub target: Target,
    /// The argv run in the (first) container, e.g. `[pg_isready, -q]`.
    pub command: Vec<String>,
}

/// An argv list run on the runner's host.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct CommandProbe {
    pub argv: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsProbe {
    #[serde(flatten)]
    pub target: Target,
    /// A regular expression; each run counts the lines logged since the previous run that match it.
    pub pattern: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusProbe {
    /// The Prometheus server, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// A PromQL expression returning one number (a scalar or a one-series vector).
    pub query: String,
    /// A run is ok only when its value meets this, e.g. `"< 0.05"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Comparison<Number>>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertProbe {
    /// The Alertmanager, e.g. `http://127.0.0.1:9093`.
    pub url: String,
    /// The alert's name (its `alertname` label).
    pub name: String,
}

/// Which container(s) a fault or probe acts on. Always inside `scope`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Target {
    #[serde(flatten)]
    pub selector: Selector,
    /// `all` replicas of a service (default) or just `one`.
    #[serde(default)]
    pub pick: Pick,
    /// The engine (a name from `hosts:`, or `default`) to look on; without
    /// it, every engine of the gameday is searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.selector, self.pick) {
            (Selector::Service(s), Pick::All) => write!(f, "service {s}"),
            (Selector::Service(s), Pick::One) => write!(f, "one replica of service {s}"),
            (Selector::Container(c), _) => write!(f, "container {c}"),
        }?;
        match &self.host {
            Some(h) => write!(f, " on host {h}"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// A compose service in scope.
    Service(String),
    /// A container name, which must be in scope too.
    Container(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    #[default]
    All,
    One,
}

/// One experiment: faults held for `duration`, then reverted, with checks.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = accept_single_fault)]
pub struct Scenario {
    /// Unique name of the scenario.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the team expects, in its own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Faults applied in order and reverted in reverse order (or `fault:` for one).
    /// With `steps:`, the faults its steps apply, in step order.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// An exercise in steps instead of `fault(s)`: faults applied one by
    /// one, waits, instructions for the team and notes, in order. Every
    /// fault applied is reverted (in reverse order) after the last step and
    /// the `duration` hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// How long the faults are held (after the last step, with `steps:`; default 0s there).
    pub duration: HumanDuration,
    /// Observation after the revert (default `defaults.cooldown`).
    #[serde(default)]
    pub cooldown: HumanDuration,
    /// Machine-checked expectations.
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Stop conditions: when one holds, faults are reverted and the gameday stops.
    #[serde(default)]
    pub halt_if: Vec<HaltCondition>,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

/// One step of an exercise.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Apply a fault (any fault kind): `- fault: { pause: { service: db } }`.
    /// The number is its place in the scenario's `faults`.
    Fault(#[schemars(with = "Fault")] usize),
    /// Wait, still probing and checking `halt_if`: `- wait: 10s`.
    Wait(HumanDuration),
    /// Tell the team something (shown and recorded): `- note: "Page the on-call"`.
    Note(String),
    /// Stop until someone at the terminal types what they saw (recorded with
    /// who typed it), or until `timeout` (default 5m).
    Manual(ManualStep),
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ManualStep {
    /// The instruction: `manual: "Check the error-rate dashboard; note what you see"`.
    pub manual: String,
    /// How long to wait for an answer.
    #[serde(default)]
    pub timeout: HumanDuration,
}

/// The file accepts `fault:` (one) as well as `faults:` (a list), never both.
fn accept_single_fault(schema: &mut Schema) {
    let fault_ref = schema
        .get("properties")
        .and_then(|p| p.get("faults"))
        .and_then(|f| f.get("items"))
        .cloned();
    if let (Some(fault_ref), Some(props)) = (
        fault_ref,
        schema.get_mut("properties").and_then(|p| p.as_object_mut()),
    ) {
        props.insert(
            "fault".to_string(),
            serde_json::json!({ "description": "A single fault (instead of `faults`).", "allOf": [fault_ref] }),
        );
    }
    schema.insert(
        "oneOf".to_string(),
        serde_json::json!([
            { "required": ["fault", "duration"] },
            { "required": ["faults", "duration"] },
            { "required": ["steps"] }
        ]),
    );
    // `duration` is required unless `steps` is given (the oneOf says when).
    if let Some(required) = schema.get_mut("required").and_then(|r| r.as_array_mut()) {
        required.retain(|k| k != "duration");
    }
}

/// A fault kind and its target.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Send a signal (SIGKILL by default); start the container again on revert.
    Kill(KillFault),
    /// Stop the container; start it again on revert.
    Stop(StopFault),
    /// Restart the container; make sure it runs on revert.
    Restart(RestartFault),
    /// Freeze every process (cgroup freezer); unpause on revert.
    Pause(PauseFault),
    /// Delay outgoing packets (latency, jitter, correlation), optionally only toward `to`.
    Delay(DelayFault),
    /// Drop a share of outgoing packets, optionally only toward `to`.
    Loss(LossFault),
    /// Send a share of outgoing packets twice.
    Duplicate(PacketShareFault),
    /// Corrupt a share of outgoing packets.
    Corrupt(PacketShareFault),
    /// Cap the outgoing bandwidth (tbf).
    Bandwidth(BandwidthFault),
    /// Drop all traffic between the target and the named services, both ways.
    Partition(PartitionFault),
    /// Disconnect the container from a Docker network; reconnect with the same aliases and address.
    Disconnect(DisconnectFault),
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill(_) => "kill",
            Fault::Stop(_) => "stop",
            Fault::Restart(_) => "restart",
            Fault::Pause(_) => "pause",
            Fault::Delay(_) => "delay",
            Fault::Loss(_) => "loss",
            Fault::Duplicate(_) => "duplicate",
            Fault::Corrupt(_) => "corrupt",
            Fault::Bandwidth(_) => "bandwidth",
            Fault::Partition(_) => "partition",
            Fault::Disconnect(_) => "disconnect",
        }
    }

    pub fn target(&self) -> &Target {
        match self {
            Fault::Kill(f) => &f.target,
            Fault::Stop(f) => &f.target,
            Fault::Restart(f) => &f.target,
            Fault::Pause(f) => &f.target,
            Fault::Delay(f) => &f.target,
            Fault::Loss(f) => &f.target,
            Fault::Duplicate(f) | Fault::Corrupt(f) => &f.target,
            Fault::Bandwidth(f) => &f.target,
            Fault::Partition(f) => &f.target,
            Fault::Disconnect(f) => &f.target,
        }
    }

    /// Services the fault names besides its target (`to:`, `from:`), which
    /// must resolve in scope too.
    pub fn peers(&self) -> &[Peer] {
        match self {
            Fault::Delay(f) => &f.to,
            Fault::Loss(f) => &f.to,
            Fault::Duplicate(f) | Fault::Corrupt(f) => &f.to,
            Fault::Partition(f) => &f.from,
            _ => &[],
        }
    }

    /// Faults that act on the network inside the container.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Fault::Delay(_)
                | Fault::Loss(_)
                | Fault::Duplicate(_)
                | Fault::Corrupt(_)
                | Fault::Bandwidth(_)
                | Fault::Partition(_)
        )
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillFault {
    #[serde(flatten)]
    pub target: Target,
    /// Signal to send (default SIGKILL).
    #[serde(default)]
    pub signal: String,
    /// Start the container again on revert (default true).
    #[serde(default)]
    pub restore: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopFault {
    #[serde(flatten)]
    pub target: Target,
    /// Grace period before SIGKILL (default 10s).
    #[serde(default)]
    pub timeout: HumanDuration,
    /// Start the container again on revert (default true).
    #[serde(default)]
    pub restore: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartFault {
    #[serde(flatten)]
    pub target: Target,
    /// Grace period before SIGKILL (default 10s).
    #[serde(default)]
    pub timeout: HumanDuration,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseFault {
    #[serde(flatten)]
    pub target: Target,
}

/// A service named by a network fault (`to:` or `from:`), in scope.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Peer {
    pub service: String,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

/// How a packet fault is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetEngine {
    /// `netem` where the kernel has it, otherwise `userspace`.
    #[default]
    Auto,
    /// The kernel's `tc qdisc ... netem` (needs the sch_netem module).
    Netem,
    /// iptables rules sending the packets to an NFQUEUE that gameday serves (any kernel with NFQUEUE).
    Userspace,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayFault {
    #[serde(flatten)]
    pub target: Target,
    /// Added to every packet, e.g. `200ms`.
    pub latency: HumanDuration,
    /// Random variation around the latency (uniform, ±), e.g. `50ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<HumanDuration>,
    /// How much each packet's jitter follows the previous one's, e.g. `25%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Percent>,
    /// Only traffic toward these services (their current addresses).
    #[serde(default)]
    pub to: Vec<Peer>,
    #[serde(default)]
    pub engine: NetEngine,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossFault {
    #[serde(flatten)]
    pub target: Target,
    /// Share of packets dropped, e.g. `10%`.
    pub percent: Percent,
    /// How much each drop decision follows the previous one, e.g. `25%` (netem, userspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Percent>,
    #[serde(default)]
    pub to: Vec<Peer>,
    #[serde(default)]
    pub engine: NetEngine,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketShareFault {
    #[serde(flatten)]
    pub target: Target,
    /// Share of packets affected, e.g. `5%`.
    pub percent: Percent,
    #[serde(default)]
    pub to: Vec<Peer>,
    #[serde(default)]
    pub engine: NetEngine,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BandwidthFault {
    #[serde(flatten)]
    pub target: Target,
    /// Outgoing rate, e.g. `1mbit`, `512kbit`.
    pub rate: Rate,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionFault {
    #[serde(flatten)]
    pub target: Target,
    /// The services cut off from the target, both ways.
    pub from: Vec<Peer>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectFault {
    #[serde(flatten)]
    pub target: Target,
    /// The network: its compose name (`default`) or its Docker name (`demo_default`).
    pub network: String,
}

/// The phase of a scenario an expectation is evaluated over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The baseline before the first fault.
    Before,
    /// While the faults are held (default).
    #[default]
    Fault,
    /// From the revert to the end of the cooldown.
    After,
}

impl Window {
    pub fn name(self) -> &'static str {
        match self {
            Window::Before => "before",
            Window::Fault => "fault",
            Window::After => "after",
        }
    }
}

/// One machine-checked expectation: a probe, a window and exactly one check.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The name of a probe.
    pub probe: String,
    /// `before`, `fault` (default) or `after`.
    #[serde(default)]
    pub during: Window,
    #[serde(flatten)]
    pub check: Check,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

impl std::fmt::Display for Expectation {
    /// `login: status 503 during fault`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.probe, self.check)?;
        match self.check {
            Check::RecoversWithin(_) | Check::FailsWithin(_) | Check::FiresWithin(_) => Ok(()),
            _ => match self.during {
                Window::Before => f.write_str(" during baseline"),
                Window::Fault => f.write_str(" during fault"),
                Window::After => f.write_str(" after revert"),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Share of successful samples, e.g. `">= 99%"`.
    SuccessRate(Comparison<Percent>),
    /// Every sample answered with this HTTP status (code, `5xx`, or a list).
    Status(StatusSpec),
    LatencyP50(Comparison<HumanDuration>),
    LatencyP95(Comparison<HumanDuration>),
    LatencyP99(Comparison<HumanDuration>),
    LatencyMax(Comparison<HumanDuration>),
    /// After the revert, the probe succeeds again within this time.
    RecoversWithin(HumanDuration),
    /// After the fault is applied, the probe fails within this time.
    FailsWithin(HumanDuration),
    /// Every sample saw the container in this state.
    State(ContainerState),
    /// Every run exited with this code (or one of a list): exec, command.
    ExitCode(ExitCodes),
    /// Log lines matching the pattern, counted over the window, e.g. `"> 0"`.
    Matches(Comparison<Number>),
    /// Every value in the window meets this, e.g. `"< 0.05"` (prometheus, alert: 1 firing, 0 not).
    Value(Comparison<Number>),
    /// After the fault is applied, the alert fires within this time.
    FiresWithin(HumanDuration),
}

/// One exit code or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct ExitCodes(pub Vec<i64>);

impl ExitCodes {
    pub fn matches(&self, code: i64) -> bool {
        self.0.contains(&code)
    }
}

impl std::fmt::Display for ExitCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            list => {
                let items: Vec<String> = list.iter().map(i64::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

impl Check {
    pub const KEYS: &'static [&'static str] = &[
        "success_rate",
        "status",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "latency_max",
        "recovers_within",
        "fails_within",
        "state",
        "exit_code",
        "matches",
        "value",
        "fires_within",
    ];

    pub fn key(&self) -> &'static str {
        match self {
            Check::SuccessRate(_) => "success_rate",
            Check::Status(_) => "status",
            Check::LatencyP50(_) => "latency_p50",
            Check::LatencyP95(_) => "latency_p95",
            Check::LatencyP99(_) => "latency_p99",
            Check::LatencyMax(_) => "latency_max",
            Check::RecoversWithin(_) => "recovers_within",
            Check::FailsWithin(_) => "fails_within",
            Check::State(_) => "state",
            Check::ExitCode(_) => "exit_code",
            Check::Matches(_) => "matches",
            Check::Value(_) => "value",
            Check::FiresWithin(_) => "fires_within",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::SuccessRate(c) => write!(f, "success_rate {c}"),
            Check::Status(s) => write!(f, "status {s}"),
            Check::LatencyP50(c) => write!(f, "latency_p50 {c}"),
            Check::LatencyP95(c) => write!(f, "latency_p95 {c}"),
            Check::LatencyP99(c) => write!(f, "latency_p99 {c}"),
            Check::LatencyMax(c) => write!(f, "latency_max {c}"),
            Check::RecoversWithin(d) => write!(f, "recovers within {d}"),
            Check::FailsWithin(d) => write!(f, "fails within {d}"),
            Check::State(s) => write!(f, "state {s}"),
            Check::ExitCode(c) => write!(f, "exit code {c}"),
            Check::Matches(c) => write!(f, "matching lines {c}"),
            Check::Value(c) => write!(f, "value {c}"),
            Check::FiresWithin(d) => write!(f, "fires within {d}"),
        }
    }
}

/// A stop condition: the probe has failed without a success for this long.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaltCondition {
    pub probe: String,
    /// Halt when the probe has failed continuously for this long.
    pub failing_for: HumanDuration,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

/// The JSON Schema of the gameday file, as `gameday schema` prints it.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Gameday);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::decode::*;
    use super::*;

    /// Every property name a schema object accepts, through oneOf/anyOf/allOf
    /// (flattened enums), not through `$ref`.
    fn props(schema: &serde_json::Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(p) = schema.get("properties").and_then(|p| p.as_object()) {
            out.extend(p.keys().cloned());
        }
        for combinator in ["oneOf", "anyOf", "allOf"] {
            if let Some(list) = schema.get(combinator).and_then(|l| l.as_array()) {
                for item in list {
                    out.extend(props(item));
                }
            }
        }
        out
    }

    fn set(lists: &[&[&str]]) -> BTreeSet<String> {
        lists
            .iter()
            .flat_map(|l| l.iter().map(|s| s.to_string()))
            .collect()
    }

    /// The JSON Schema is generated from the model, the checks are written by
    /// hand in `decode`: they must accept exactly the same keys.
    #[test]
    fn schema_and_decoder_accept_the_same_keys() {
        let schema = json_schema();
        let defs = &schema["$defs"];
        assert_eq!(props(&schema), set(&[GAMEDAY_KEYS]));
        assert_eq!(props(&defs["DockerConfig"]), set(&[DOCKER_KEYS]));
        assert_eq!(props(&defs["TlsFiles"]), set(&[TLS_KEYS]));
        assert_eq!(props(&defs["EngineSpec"]), set(&[HOST_KEYS]));
        assert_eq!(props(&defs["SshOptions"]), set(&[SSH_KEYS]));
        assert_eq!(props(&defs["Scope"]), set(&[SCOPE_KEYS]));
        assert_eq!(props(&defs["Defaults"]), set(&[DEFAULTS_KEYS]));
        assert_eq!(
            props(&defs["Probe"]),
            set(&[PROBE_KINDS, PROBE_COMMON_KEYS])
        );
        assert_eq!(props(&defs["HttpProbe"]), set(&[HTTP_KEYS]));
        assert_eq!(props(&defs["TcpProbe"]), set(&[TCP_KEYS]));
        assert_eq!(props(&defs["ContainerProbe"]), set(&[TARGET_KEYS]));
        assert_eq!(props(&defs["ExecProbe"]), set(&[TARGET_KEYS, EXEC_KEYS]));
        assert_eq!(props(&defs["LogsProbe"]), set(&[TARGET_KEYS, LOGS_KEYS]));
        assert_eq!(props(&defs["PrometheusProbe"]), set(&[PROMETHEUS_KEYS]));
        assert_eq!(props(&defs["AlertProbe"]), set(&[ALERT_KEYS]));
        assert_eq!(props(&defs["Scenario"]), set(&[SCENARIO_KEYS]));
        assert_eq!(props(&defs["Fault"]), set(&[FAULT_KINDS]));
        assert_eq!(props(&defs["KillFault"]), set(&[TARGET_KEYS, KILL_KEYS]));
        assert_eq!(props(&defs["StopFault"]), set(&[TARGET_KEYS, STOP_KEYS]));
        assert_eq!(
            props(&defs["RestartFault"]),
            set(&[TARGET_KEYS, RESTART_KEYS])
        );
        assert_eq!(props(&defs["PauseFault"]), set(&[TARGET_KEYS]));
        assert_eq!(props(&defs["DelayFault"]), set(&[TARGET_KEYS, DELAY_KEYS]));
        assert_eq!(props(&defs["LossFault"]), set(&[TARGET_KEYS, LOSS_KEYS]));
        assert_eq!(
            props(&defs["PacketShareFault"]),
            set(&[TARGET_KEYS, SHARE_KEYS])
        );
        assert_eq!(
            props(&defs["BandwidthFault"]),
            set(&[TARGET_KEYS, BANDWIDTH_KEYS])
        );
        assert_eq!(
            props(&defs["PartitionFault"]),
            set(&[TARGET_KEYS, PARTITION_KEYS])
        );
        assert_eq!(
            props(&defs["DisconnectFault"]),
            set(&[TARGET_KEYS, DISCONNECT_KEYS])
        );
        assert_eq!(
            props(&defs["Expectation"]),
            set(&[EXPECT_COMMON_KEYS, Check::KEYS])
        );
        assert_eq!(props(&defs["HaltCondition"]), set(&[HALT_KEYS]));
    }
}
