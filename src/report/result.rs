//! `result.json`: everything a run measured and decided, versioned so other
//! tools (and `gameday report`/`history`) can read archived runs. Probe
//! samples live beside it in `samples.jsonl`, one sample a line.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::expect::{Evaluation, Windows};

/// Bump when a field changes meaning or disappears; adding fields is compatible.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of `result.json`, as `gameday schema --result` prints it.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RunResult)).unwrap_or(serde_json::Value::Null)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
/// The record of one run of a gameday (`result.json`).
pub struct RunResult {
    pub schema_version: u32,
    pub run_id: String,
    pub gameday: GamedayInfo,
    pub docker: DockerInfo,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_ms: f64,
    /// `met`, `not_met`, `aborted` or `fault_left`.
    pub outcome: String,
    pub exit_code: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_reason: Option<String>,
    pub steady_state: SteadyState,
    pub scenarios: Vec<ScenarioResult>,
    pub probes: Vec<ProbeSummary>,
    /// Relative to the run directory.
    pub samples_file: String,
    /// Faults that could not be reverted: empty unless something is left broken.
    pub faults_left: Vec<FaultLeft>,
    pub summary: Summary,
    /// What people at the terminal typed: answers to manual steps and
    /// observations made while the run went on, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Observation>,
}

/// Something a person saw and typed during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub at: DateTime<Utc>,
    /// `+12.3s` from the start of the run.
    pub offset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Who typed it: a participant, or the operator's user name.
    pub by: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GamedayInfo {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub participants: Vec<String>,
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    pub file: String,
    pub scope: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DockerInfo {
    pub host: String,
    pub version: String,
    /// How the engine was reached: `local socket`, `TLS, engine certificate
    /// verified`, or `INSECURE: ...` (empty in results written before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub connection: String,
    /// The engines of `hosts:`, when the gameday has several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostInfo>,
}

/// An engine of `hosts:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostInfo {
    /// Its name in the gameday file.
    pub name: String,
    pub host: String,
    pub version: String,
    pub connection: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SteadyState {
    pub met: bool,
    pub baseline_ms: f64,
    /// One line per probe: "health: 15 of 15 samples ok".
    pub details: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub scenarios: usize,
    pub met: usize,
    pub not_met: usize,
    pub aborted: usize,
    pub error: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// `met`, `not_met`, `aborted`, `error` or `skipped` (never started).
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
    pub expectations: Vec<ExpectationResult>,
    pub faults: Vec<FaultResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Windows>,
    /// Fault and probe state changes during the scenario, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// What the faults did to each probe: latency and success before, during, after.
    #[serde(default)]
    pub probe_effects: Vec<ProbeEffect>,
}

/// One probe across one scenario's windows (baseline, fault, after).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeEffect {
    pub probe: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_success: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during_success: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_success: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExpectationResult {
    /// The check in words: `login: status 503 during fault`.
    pub text: String,
    pub probe: String,
    /// `met` or `not_met`.
    pub verdict: String,
    /// What was measured: `measured 97.2% (95 of 98 samples ok)`.
    pub actual: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

impl ExpectationResult {
    pub fn new(text: String, probe: String, evaluation: Evaluation) -> Self {
        let verdict = match evaluation.verdict {
            crate::expect::Verdict::Met => "met",
            crate::expect::Verdict::NotMet => "not_met",
        };
        ExpectationResult {
            text,
            probe,
            verdict: verdict.to_string(),
            actual: evaluation.actual,
            value: evaluation.value,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultResult {
    pub kind: String,
    /// The container name.
    pub target: String,
    pub container_id: String,
    /// What it did, in words: `pause gameday-demo_store_1`.
    pub action: String,
    /// How a network fault was made: `tc netem`, `userspace NFQUEUE engine`, `tc tbf`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    pub applied_at: Option<DateTime<Utc>>,
    /// When Docker's event stream confirmed it.
    pub applied_confirmed_at: Option<DateTime<Utc>>,
    pub reverted_at: Option<DateTime<Utc>>,
    pub revert_confirmed_at: Option<DateTime<Utc>>,
    /// What the fault did, when known (the userspace engine's packet counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelineEntry {
    /// Since the start of the run.
    pub t_ms: f64,
    /// `+12.3s`
    pub offset: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeSummary {
    pub name: String,
    pub kind: String,
    pub every_ms: f64,
    pub samples: usize,
    pub ok: usize,
    pub failed: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultLeft {
    pub kind: String,
    pub container: String,
    pub container_id: String,
    pub error: String,
    /// How to undo it by hand.
    pub by_hand: String,
}
