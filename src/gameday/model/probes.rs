//! Probes: what runs continuously during a gameday, and the targets
//! (containers in scope) that probes and faults name.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::keyed_kinds;
use crate::gameday::units::{Comparison, HumanDuration, LoadRate, Number, Percent, StatusSpec};
use crate::gameday::yaml::Pos;

/// Probes in the order the file lists them; a mapping from name to probe in the file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Probes(pub Vec<Probe>);

impl Probes {
    /// The longest any probe's run may take (its timeout); zero without probes.
    pub fn longest_timeout(&self) -> std::time::Duration {
        self.0
            .iter()
            .map(|p| p.timeout.as_std())
            .max()
            .unwrap_or_default()
    }
}

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
    /// Whether its failures are users being hurt (the detection section's
    /// "users first hurt"). Default: true for a load probe and for an http
    /// probe whose URL reaches a port published by a container in scope;
    /// false otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_facing: Option<bool>,
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
    /// HTTP requests at a constant arrival rate (or as fast as answered),
    /// latency measured from when each request was due; its samples are
    /// per-interval aggregates (`every`, default 1s).
    Load(LoadProbe),
    /// Acknowledged writes: a unique, sequenced record written at each run
    /// through the store's own protocol (ok when acknowledged), every one
    /// read back after each scenario's cooldown: lost, duplicated, RPO.
    Ledger(LedgerProbe),
}

keyed_kinds! {
    /// The kinds of probe, by their key in the file (`http: { ... }`).
    pub enum ProbeType {
        Http = "http",
        Tcp = "tcp",
        Container = "container",
        Exec = "exec",
        Command = "command",
        Logs = "logs",
        Prometheus = "prometheus",
        Alert = "alert",
        Load = "load",
        Ledger = "ledger",
    }
}

impl ProbeKind {
    pub fn probe_type(&self) -> ProbeType {
        match self {
            ProbeKind::Http(_) => ProbeType::Http,
            ProbeKind::Tcp(_) => ProbeType::Tcp,
            ProbeKind::Container(_) => ProbeType::Container,
            ProbeKind::Exec(_) => ProbeType::Exec,
            ProbeKind::Command(_) => ProbeType::Command,
            ProbeKind::Logs(_) => ProbeType::Logs,
            ProbeKind::Prometheus(_) => ProbeType::Prometheus,
            ProbeKind::Alert(_) => ProbeType::Alert,
            ProbeKind::Load(_) => ProbeType::Load,
            ProbeKind::Ledger(_) => ProbeType::Ledger,
        }
    }

    pub fn name(&self) -> &'static str {
        self.probe_type().key()
    }

    /// The container(s) the probe watches or runs in, if any.
    pub fn target(&self) -> Option<&Target> {
        match self {
            ProbeKind::Container(c) => Some(&c.target),
            ProbeKind::Exec(e) => Some(&e.target),
            ProbeKind::Logs(l) => Some(&l.target),
            ProbeKind::Http(_)
            | ProbeKind::Tcp(_)
            | ProbeKind::Command(_)
            | ProbeKind::Prometheus(_)
            | ProbeKind::Alert(_)
            | ProbeKind::Load(_)
            | ProbeKind::Ledger(_) => None,
        }
    }

    /// Does a run's duration mean something (latency checks and charts)?
    pub fn has_latency(&self) -> bool {
        self.probe_type().has_latency()
    }

    /// Whether a value of 1 or more says an alert fires: an `alert` probe,
    /// or a `prometheus` probe asking `ALERTS` (the series Prometheus keeps
    /// for its alerting rules). What `detected_by: alert` and the detection
    /// section read.
    pub fn is_alert_signal(&self) -> bool {
        match self {
            ProbeKind::Alert(_) => true,
            ProbeKind::Prometheus(q) => q.query.contains("ALERTS"),
            ProbeKind::Http(_)
            | ProbeKind::Tcp(_)
            | ProbeKind::Container(_)
            | ProbeKind::Exec(_)
            | ProbeKind::Command(_)
            | ProbeKind::Logs(_)
            | ProbeKind::Load(_)
            | ProbeKind::Ledger(_) => false,
        }
    }
}

impl ProbeType {
    /// Does a run's duration mean something (latency checks and charts)?
    pub fn has_latency(self) -> bool {
        match self {
            ProbeType::Http
            | ProbeType::Tcp
            | ProbeType::Exec
            | ProbeType::Command
            | ProbeType::Load
            | ProbeType::Ledger => true,
            ProbeType::Container | ProbeType::Logs | ProbeType::Prometheus | ProbeType::Alert => {
                false
            }
        }
    }

    /// `an http probe`, `a tcp probe`: for messages.
    pub fn with_article(self) -> String {
        match self {
            ProbeType::Http | ProbeType::Exec | ProbeType::Alert => format!("an {self}"),
            ProbeType::Tcp
            | ProbeType::Container
            | ProbeType::Command
            | ProbeType::Logs
            | ProbeType::Prometheus
            | ProbeType::Load
            | ProbeType::Ledger => format!("a {self}"),
        }
    }
}

/// A probe's place in `probes:` (file order): how the runner, the samples
/// and the verdicts refer to it after decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub usize);

/// A probe named by an expectation or a stop condition: its id, and its
/// name for messages. Serialized as the name, as the file writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRef {
    pub id: ProbeId,
    pub name: String,
}

impl Serialize for ProbeRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl std::fmt::Display for ProbeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
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
    /// Which version of the service answered, read from the body (its
    /// first MiB): the report says which version answered from when.
    /// A body without it leaves the sample without a version; it does not
    /// fail the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionFrom>,
}

/// Where an http probe reads the version that answered: `{ json: version }`
/// or `{ contains: [v1, v2] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum VersionFrom {
    /// A field of the JSON body by its dotted path, e.g. `version` or
    /// `build.version` (a number indexes a list: `builds.0.version`); a
    /// string as it is, a number or a boolean as JSON writes it.
    Json(String),
    /// The first of these strings, in this order, that the body contains.
    Contains(Vec<String>),
}

impl std::fmt::Display for VersionFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionFrom::Json(path) => write!(f, "JSON field `{path}`"),
            VersionFrom::Contains(texts) => {
                let quoted: Vec<String> = texts.iter().map(|t| format!("{t:?}")).collect();
                write!(f, "the first of {} the body contains", quoted.join(", "))
            }
        }
    }
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

/// A load probe: one request, sent at `rate` over at most `connections`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadProbe {
    /// The request, sent again and again.
    pub http: LoadRequest,
    /// `500/s`: requests due at fixed intervals (open model, latency from
    /// when each was due); `max`: a closed loop over the connections.
    pub rate: LoadRate,
    /// Most requests in flight at once, over kept-alive connections
    /// (default 64); a request due when all are busy is not sent and
    /// counts as failed ("generator limit").
    #[serde(default)]
    pub connections: u32,
    /// A request taking longer fails (the probe's `timeout`).
    #[serde(default)]
    pub timeout: HumanDuration,
}

/// The request of a load probe: an http probe's, without `body_contains`
/// (the body is not read for checks).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// An `http://` URL (plain HTTP/1.1 with keep-alive).
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
}

/// A ledger probe: where its records go, and whether they stay.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerProbe {
    #[serde(flatten)]
    pub store: LedgerStore,
    /// Leave the ledger's records (its rows, its key) in the store after
    /// the run (default: removed).
    #[serde(default)]
    pub keep: bool,
}

/// The store a ledger writes to, through its own protocol.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerStore {
    /// PostgreSQL (or a pooler speaking its protocol): one row per write
    /// in `table` (created if missing), this run's rows told apart by the
    /// run's id.
    Postgres(PostgresLedger),
    /// Redis: one list, `<key>:<run id>`, one entry per write.
    Redis(RedisLedger),
    /// A service's own API: `write` creates the record `{{id}}`, `read`
    /// finds it (its status says present, 404 absent).
    Http(HttpLedger),
}

keyed_kinds! {
    /// The stores a ledger writes to, by their key in the file.
    pub enum LedgerStoreKind {
        Postgres = "postgres",
        Redis = "redis",
        Http = "http",
    }
}

impl LedgerStore {
    pub fn kind(&self) -> LedgerStoreKind {
        match self {
            LedgerStore::Postgres(_) => LedgerStoreKind::Postgres,
            LedgerStore::Redis(_) => LedgerStoreKind::Redis,
            LedgerStore::Http(_) => LedgerStoreKind::Http,
        }
    }

    /// Whether reading back tells a record written twice from once.
    pub fn tells_duplicates(&self) -> bool {
        match self {
            LedgerStore::Postgres(_) | LedgerStore::Redis(_) => true,
            LedgerStore::Http(_) => false,
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresLedger {
    /// `postgres://user:${PGPASSWORD}@127.0.0.1:5432/db` (the password
    /// from the environment; never printed or kept).
    pub url: String,
    /// The ledger's own table, `name` or `schema.name`: created if
    /// missing (and then dropped at the end if empty), never another's rows
    /// touched.
    pub table: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisLedger {
    /// `redis://127.0.0.1:6379` (`redis://:${REDIS_PASSWORD}@host:port/db`).
    pub url: String,
    /// The prefix of the ledger's own key: `<key>:<run id>`.
    pub key: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpLedger {
    /// The request that writes record `{{id}}` (in its URL or body);
    /// method POST unless said, ok on `expect_status` (default 2xx).
    pub write: LoadRequest,
    /// The request that reads record `{{id}}` back (GET); present on
    /// `expect_status` (default 200), absent on 404.
    pub read: LoadRequest,
}

/// Which container(s) a fault or probe acts on. Always inside `scope`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Target {
    #[serde(flatten)]
    pub selector: Selector,
    /// Which of the selected containers: `all` (default), `one`, `random`
    /// (between one and all), `{ count: 2 }` or `{ percent: 40% }` (rounded
    /// up). Chosen when the plan is made, from the seed, among the
    /// containers sorted by name.
    #[serde(default)]
    pub pick: Pick,
    /// The seed of this target's choice, instead of one derived from the
    /// gameday's seed and the target's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The engine (a name from `hosts:`, or `default`) to look on; without
    /// it, every engine of the gameday is searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
    /// Where `pick:` is written (the target's position without it).
    #[serde(skip)]
    #[schemars(skip)]
    pub pick_pos: Pos,
}

impl Target {
    /// All the containers of a service, as a fault's `to:`/`from:` names them.
    pub fn every_replica(service: &str, host: Option<String>, pos: Pos) -> Target {
        Target {
            selector: Selector::Service(service.to_string()),
            pick: Pick::All,
            seed: None,
            host,
            pos,
            pick_pos: pos,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let many = match &self.selector {
            Selector::Service(s) => format!("replicas of service {s}"),
            Selector::Labels(l) => format!("containers labelled {}", Selector::labels_text(l)),
            Selector::Container(_) => String::new(),
        };
        match (&self.selector, self.pick) {
            (Selector::Container(c), _) => write!(f, "container {c}"),
            (selector, Pick::All) => write!(f, "{selector}"),
            (_, Pick::One) => write!(f, "one of the {many}"),
            (_, Pick::Random) => write!(f, "a random number of the {many}"),
            (_, Pick::Count(n)) => write!(f, "{n} of the {many}"),
            (_, Pick::Percent(p)) => write!(f, "{p} of the {many}"),
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
    /// The containers in scope carrying every one of these labels
    /// (`labels: { tier: db }`).
    Labels(BTreeMap<String, String>),
}

impl Selector {
    /// `tier=db, zone=a`: the labels of a label selector as the plan says them.
    pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Service(s) => write!(f, "service {s}"),
            Selector::Container(c) => write!(f, "container {c}"),
            Selector::Labels(l) => write!(f, "containers labelled {}", Selector::labels_text(l)),
        }
    }
}

/// Which of a target's containers a fault or probe acts on. Every choice
/// but `all` is made from a seed (`plan::pick::choose`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// Every container.
    #[default]
    All,
    /// One, at random.
    One,
    /// Between one and all of them, at random (how many and which).
    Random,
    /// This many, at random (at least 1, at most the running ones).
    Count(u32),
    /// This share of them, rounded up, at least one (`40%`).
    Percent(Percent),
}

impl Pick {
    /// Whether the choice depends on a seed (every pick but `all`).
    pub fn is_random(self) -> bool {
        !matches!(self, Pick::All)
    }
}
