//! `result.json`: everything a run measured and decided, versioned so other
//! tools (and `gameday report`/`history`) can read archived runs. Probe
//! samples live beside it in `samples.jsonl`, one sample a line.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::expect::{CheckVerdict, Evaluation, RelativeFigures, Windows};
use crate::gameday::model::{Expectation, Unit};
use crate::gameday::units::fmt_ms;

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
    pub outcome: RunOutcome,
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
    /// The readiness checklist: every item the scenarios carry
    /// (`checklist:`), in order of first appearance, with its status and
    /// the measured evidence behind it. Empty when no scenario carries one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<ChecklistItem>,
    /// The seed every random `pick:` of the run was made from (`--seed`,
    /// the file's `seed:`, or drawn): `gameday run --seed N` repeats the
    /// choice. Absent in results written before seeds were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Who noticed what, when, across the scenarios: the alert coverage
    /// and the median time to detect. Absent when no scenario ran (and in
    /// results written before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<super::detection::DetectionSummary>,
}

/// One item of the readiness checklist and what this run proved of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChecklistItem {
    /// The item as the scenarios write it: `Health checks test dependencies`.
    pub item: String,
    pub status: ChecklistStatus,
    /// Per scenario carrying the item: its verdict and each check measured.
    pub evidence: Vec<ChecklistEvidence>,
}

/// Ticked, crossed, or not exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChecklistStatus {
    /// Every scenario carrying the item ran and met every check.
    Met,
    /// A scenario carrying the item ran and missed a check.
    NotMet,
    /// No scenario carrying it was missed, but at least one did not run to
    /// a verdict (skipped, aborted, error), so the item is not proved.
    NotExercised,
}

impl ChecklistStatus {
    /// As `result.json` writes it: `not_exercised`.
    pub fn key(self) -> &'static str {
        match self {
            ChecklistStatus::Met => "met",
            ChecklistStatus::NotMet => "not_met",
            ChecklistStatus::NotExercised => "not_exercised",
        }
    }

    /// The tick, the cross, or the dash, with the words: `✅ met`.
    pub fn badge(self) -> &'static str {
        match self {
            ChecklistStatus::Met => "✅ met",
            ChecklistStatus::NotMet => "❌ not met",
            ChecklistStatus::NotExercised => "➖ not exercised",
        }
    }
}

/// What one scenario says about a checklist item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChecklistEvidence {
    pub scenario: String,
    pub verdict: ScenarioVerdict,
    /// Each check of the scenario: `login: latency_p99 < 1500ms during
    /// fault — met, measured 212ms`.
    pub checks: Vec<String>,
}

/// The checklist of a run from its scenarios: items in order of first
/// appearance; an item is met when every scenario carrying it met, not met
/// when one of them was not met, else not exercised.
pub fn checklist_of(scenarios: &[ScenarioResult]) -> Vec<ChecklistItem> {
    let mut items: Vec<ChecklistItem> = Vec::new();
    for s in scenarios {
        for item in &s.checklist {
            let evidence = ChecklistEvidence {
                scenario: s.name.clone(),
                verdict: s.verdict,
                checks: s
                    .expectations
                    .iter()
                    .map(|e| {
                        let word = if e.is_met() { "met" } else { "not met" };
                        format!("{} — {word}, {}", e.text, e.actual)
                    })
                    .collect(),
            };
            match items.iter_mut().find(|i| &i.item == item) {
                Some(existing) => existing.evidence.push(evidence),
                None => items.push(ChecklistItem {
                    item: item.clone(),
                    status: ChecklistStatus::NotExercised,
                    evidence: vec![evidence],
                }),
            }
        }
    }
    for item in &mut items {
        let verdicts = || item.evidence.iter().map(|e| e.verdict);
        item.status = if verdicts().any(|v| v == ScenarioVerdict::NotMet) {
            ChecklistStatus::NotMet
        } else if verdicts().all(|v| v == ScenarioVerdict::Met) {
            ChecklistStatus::Met
        } else {
            ChecklistStatus::NotExercised
        };
    }
    items
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
    /// What it says: someone `detected` the fault's effect, `mitigated`
    /// it, or a plain `note`.
    #[serde(default, skip_serializing_if = "ObservationKind::is_note")]
    pub kind: ObservationKind,
    pub text: String,
}

/// What an observation says happened: the detection section reads the
/// first `detected` and `mitigated` of each scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObservationKind {
    /// Someone noticed the fault's effect (an alert, a dashboard, a user).
    Detected,
    /// Someone acted and the effect is contained.
    Mitigated,
    #[default]
    Note,
}

impl ObservationKind {
    pub fn is_note(&self) -> bool {
        *self == ObservationKind::Note
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObservationKind::Detected => "detected",
            ObservationKind::Mitigated => "mitigated",
            ObservationKind::Note => "note",
        }
    }

    /// `detected`, `mitigated` or `note`, any case.
    pub fn parse(word: &str) -> Option<ObservationKind> {
        [
            ObservationKind::Detected,
            ObservationKind::Mitigated,
            ObservationKind::Note,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(word.trim()))
    }
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
    pub verdict: ScenarioVerdict,
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
    /// The readiness-checklist items this scenario proves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<String>,
    /// A scenario run as trials (`repeat`, `search`): each trial, and what
    /// they found together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<super::trials::TrialsResult>,
    /// What each ledger probe found when it read its writes back after
    /// the cooldown (one per trial of a scenario run as trials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledgers: Vec<crate::probe::ledger::LedgerAudit>,
    /// Who noticed the fault and when (its first trial's, for a scenario
    /// run as trials); absent when it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<super::detection::ScenarioDetection>,
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
    /// The probe it judged; empty (and absent) for `detected_by`, which
    /// names none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub probe: String,
    pub verdict: CheckVerdict,
    /// What was measured: `measured 97.2% (95 of 98 samples ok)`.
    pub actual: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The check's key (`success_rate`, `latency_p99`, ...); absent in
    /// results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// The unit of `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// A check relative to the before window (`"< 2x before"`): that
    /// window's figure, the limit it gave and the ratio, in `unit`;
    /// `value` is the judged window's figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<RelativeFigures>,
}

impl ExpectationResult {
    pub fn new(expectation: &Expectation, evaluation: Evaluation) -> Self {
        let kind = expectation.check.kind();
        ExpectationResult {
            text: expectation.to_string(),
            probe: expectation
                .probe
                .as_ref()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            verdict: evaluation.verdict,
            actual: evaluation.actual,
            value: evaluation.value,
            check: Some(kind.key().to_string()),
            unit: Some(kind.unit()),
            relative: evaluation.relative,
        }
    }

    pub fn is_met(&self) -> bool {
        self.verdict == CheckVerdict::Met
    }
}

/// How a scenario ended, as `result.json` writes it (`met`, `not_met`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioVerdict {
    /// Every expectation was met.
    Met,
    /// At least one expectation was not met.
    NotMet,
    /// Stopped by a halt condition or a signal, faults reverted.
    Aborted,
    /// A fault could not be applied.
    Error,
    /// Never started (the run stopped before it).
    Skipped,
}

impl ScenarioVerdict {
    pub const ALL: [ScenarioVerdict; 5] = [
        ScenarioVerdict::Met,
        ScenarioVerdict::NotMet,
        ScenarioVerdict::Aborted,
        ScenarioVerdict::Error,
        ScenarioVerdict::Skipped,
    ];

    /// As `result.json` writes it: `not_met`.
    pub fn key(self) -> &'static str {
        match self {
            ScenarioVerdict::Met => "met",
            ScenarioVerdict::NotMet => "not_met",
            ScenarioVerdict::Aborted => "aborted",
            ScenarioVerdict::Error => "error",
            ScenarioVerdict::Skipped => "skipped",
        }
    }

    /// As people read it: `not met`, `not run`.
    pub fn word(self) -> &'static str {
        match self {
            ScenarioVerdict::Met => "met",
            ScenarioVerdict::NotMet => "not met",
            ScenarioVerdict::Aborted => "aborted",
            ScenarioVerdict::Error => "error",
            ScenarioVerdict::Skipped => "not run",
        }
    }

    /// With a symbol, for reports: `✅ met`.
    pub fn badge(self) -> &'static str {
        match self {
            ScenarioVerdict::Met => "✅ met",
            ScenarioVerdict::NotMet => "❌ not met",
            ScenarioVerdict::Aborted => "⏹ aborted",
            ScenarioVerdict::Error => "⚠ error",
            ScenarioVerdict::Skipped => "⏭ not run",
        }
    }

    /// The verdict `result.json` writes as `key`, if any.
    pub fn from_key(key: &str) -> Option<ScenarioVerdict> {
        ScenarioVerdict::ALL.into_iter().find(|v| v.key() == key)
    }
}

/// How the whole run ended, as `result.json` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every scenario met its expectations (exit 0).
    Met,
    /// Some expectation was not met (exit 1).
    NotMet,
    /// Stopped early, every fault reverted (exit 3).
    Aborted,
    /// A fault could not be reverted (exit 4).
    FaultLeft,
}

impl RunOutcome {
    /// As `result.json` writes it: `not_met`.
    pub fn key(self) -> &'static str {
        match self {
            RunOutcome::Met => "met",
            RunOutcome::NotMet => "not_met",
            RunOutcome::Aborted => "aborted",
            RunOutcome::FaultLeft => "fault_left",
        }
    }

    /// The exit code that stands for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            RunOutcome::Met => crate::exit::OK,
            RunOutcome::NotMet => crate::exit::NOT_MET,
            RunOutcome::Aborted => crate::exit::ABORTED,
            RunOutcome::FaultLeft => crate::exit::FAULT_LEFT,
        }
    }

    /// As people read it in a table: `not met`, `fault left`.
    pub fn word(self) -> &'static str {
        match self {
            RunOutcome::Met => "met",
            RunOutcome::NotMet => "not met",
            RunOutcome::Aborted => "aborted",
            RunOutcome::FaultLeft => "fault left",
        }
    }

    /// The outcome in words, for the summary line.
    pub fn text(self) -> &'static str {
        match self {
            RunOutcome::Met => "Every expectation was met",
            RunOutcome::NotMet => "Some expectations were not met",
            RunOutcome::Aborted => "Aborted; no fault is left in place",
            RunOutcome::FaultLeft => "A fault could not be reverted",
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
    /// A load probe's requests over the whole run (its `samples` are intervals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadFigures>,
    /// An http probe with `version`: which version answered from when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<super::versions::VersionsServed>,
}

/// What a load probe did over the run, from its intervals merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoadFigures {
    /// Requests due.
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Due but never sent: every connection was busy (the generator, not
    /// the service, was the limit).
    pub generator_limited: u64,
    /// Successful requests per second of the probe's time.
    pub throughput_per_s: f64,
    /// Requests sent per second.
    pub sent_per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p999_ms: Option<f64>,
    /// Failed requests answered with an HTTP status, by status.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub errors_by_status: std::collections::BTreeMap<u16, u64>,
    /// Failed requests by reason (`503`, `timeout`, `generator limit`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub failures: std::collections::BTreeMap<String, u64>,
}

impl LoadFigures {
    pub(crate) fn of(total: &crate::probe::load::LoadTally) -> LoadFigures {
        let per_s = |n: u64| {
            if total.span_ms > 0.0 {
                n as f64 * 1000.0 / total.span_ms
            } else {
                0.0
            }
        };
        LoadFigures {
            requests: total.due,
            ok: total.ok,
            failed: total.failed(),
            generator_limited: total.limited,
            throughput_per_s: per_s(total.ok),
            sent_per_s: per_s(total.sent()),
            latency_p50_ms: total.latency.percentile_ms(50.0),
            latency_p99_ms: total.latency.percentile_ms(99.0),
            latency_p999_ms: total.latency.percentile_ms(99.9),
            errors_by_status: total.errors_by_status(),
            failures: total.failures.clone(),
        }
    }
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

/// A measured value as a person reads it, in the unit its result names
/// (results written before units were recorded say nothing: their values
/// were percentages for success rates, statuses and states, else ms).
pub(crate) fn show_value(unit: Option<Unit>, text: &str, value: Option<f64>) -> String {
    let Some(v) = value else {
        return "—".to_string();
    };
    let unit = unit.unwrap_or(
        if text.contains("success_rate") || text.contains(": status") || text.contains(": state") {
            Unit::Percent
        } else {
            Unit::Ms
        },
    );
    let number = |v: f64| {
        let t = format!("{v:.3}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    match unit {
        Unit::Percent => {
            let t = format!("{v:.1}");
            format!("{}%", t.trim_end_matches(".0"))
        }
        Unit::Ms => fmt_ms(v),
        Unit::Count => format!("{v:.0}"),
        Unit::Number => number(v),
        Unit::Bytes => crate::gameday::units::ByteSize(v).to_string(),
        Unit::PerSecond => crate::gameday::units::RequestRate(v).to_string(),
    }
}

#[cfg(test)]
mod checklist_tests {
    use super::*;

    fn scenario(name: &str, verdict: ScenarioVerdict, items: &[&str]) -> ScenarioResult {
        ScenarioResult {
            ledgers: Vec::new(),
            name: name.into(),
            description: None,
            expected: None,
            verdict,
            error: None,
            duration_ms: 0.0,
            expectations: Vec::new(),
            faults: Vec::new(),
            windows: None,
            timeline: Vec::new(),
            probe_effects: Vec::new(),
            checklist: items.iter().map(|s| s.to_string()).collect(),
            trials: None,
            detection: None,
        }
    }

    #[test]
    fn an_item_is_met_only_when_every_scenario_carrying_it_met() {
        let items = checklist_of(&[
            scenario("a", ScenarioVerdict::Met, &["fast", "healthy"]),
            scenario("b", ScenarioVerdict::Met, &["fast"]),
            scenario("c", ScenarioVerdict::NotMet, &["healthy"]),
            scenario("d", ScenarioVerdict::Skipped, &["restarts"]),
            scenario("e", ScenarioVerdict::Met, &["restarts"]),
            scenario("f", ScenarioVerdict::Aborted, &["healthy"]),
            scenario("g", ScenarioVerdict::Met, &[]),
        ]);
        let got: Vec<(&str, ChecklistStatus, usize)> = items
            .iter()
            .map(|i| (i.item.as_str(), i.status, i.evidence.len()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("fast", ChecklistStatus::Met, 2),
                // One miss crosses it, whatever else ran.
                ("healthy", ChecklistStatus::NotMet, 3),
                // One met and one not run: not proved.
                ("restarts", ChecklistStatus::NotExercised, 2),
            ]
        );
        assert!(checklist_of(&[scenario("x", ScenarioVerdict::Met, &[])]).is_empty());
    }
}
