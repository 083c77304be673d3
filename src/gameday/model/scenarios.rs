//! Scenarios: their faults or steps, the expectations checked over their
//! windows, and their stop conditions.

use schemars::{JsonSchema, Schema};
use serde::Serialize;

use super::keyed_kinds;
use super::{Fault, ProbeRef, ProbeType, Search};
use crate::gameday::units::{
    ByteSize, Comparison, ContainerState, CpuPercent, HealthState, HumanDuration, Number, Percent,
    RequestRate, StatusSpec, Threshold,
};
use crate::gameday::yaml::Pos;

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
    /// Run the scenario this many times, each trial judged by its checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// With `repeat`: how many trials must meet every check for the
    /// scenario to be met (`4 of 5`; default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub pass: Option<u32>,
    /// A breaking-point search: trials bisect a value written `{{x}}` in
    /// the faults between the last that held and the first that broke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
    /// The readiness-checklist items this scenario proves (e.g. "Health
    /// checks test dependencies"): every report ends with the checklist,
    /// each item ticked when every scenario carrying it met its checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<String>,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

keyed_kinds! {
    /// The kinds of step of an exercise, by their key in the file.
    pub enum StepKind {
        Fault = "fault",
        Wait = "wait",
        Note = "note",
        Manual = "manual",
    }
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

impl Scenario {
    /// The most trials the scenario can take (1 unless it repeats or searches).
    pub fn most_trials(&self) -> usize {
        match (&self.search, self.repeat) {
            (Some(search), _) => search.most_trials(),
            (None, Some(n)) => n.max(1) as usize,
            (None, None) => 1,
        }
    }

    /// What the scenario does before the hold: its `steps:`, or else each
    /// of its faults in order. `gameday plan` lays out and `gameday run`
    /// walks exactly these.
    pub fn walk(&self) -> Vec<Step> {
        if self.steps.is_empty() {
            (0..self.faults.len()).map(Step::Fault).collect()
        } else {
            self.steps.clone()
        }
    }
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

/// One machine-checked expectation: a probe, a window and exactly one
/// check; or a `detected_by` check, which names no probe (it reads every
/// alert probe, or the observations typed).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = accept_within)]
pub struct Expectation {
    /// The name of a probe (none with `detected_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub probe: Option<ProbeRef>,
    /// `before`, `fault` (default) or `after`.
    #[serde(default)]
    pub during: Window,
    #[serde(flatten)]
    pub check: Check,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

/// `within:` sits beside `detected_by:` in the file (`{ detected_by:
/// alert, within: 60s }`); the model keeps it in the check.
fn accept_within(schema: &mut Schema) {
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.insert(
            "within".to_string(),
            serde_json::json!({
                "description": "With `detected_by`: how soon after the first fault was applied the detection must come, e.g. `60s`.",
                "type": "string"
            }),
        );
    }
}

impl std::fmt::Display for Expectation {
    /// `login: status 503 during fault`; `detected by an alert within 1m`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.probe {
            Some(probe) => write!(f, "{probe}: {}", self.check)?,
            None => write!(f, "{}", self.check)?,
        }
        if self.check.kind().implied_window().is_some() {
            return Ok(());
        }
        match self.during {
            Window::Before => f.write_str(" during baseline"),
            Window::Fault => f.write_str(" during fault"),
            Window::After => f.write_str(" after revert"),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Share of successful samples, e.g. `">= 99%"`, or relative to the
    /// before window, `">= before - 1%"`.
    SuccessRate(Threshold<Percent>),
    /// Every sample answered with this HTTP status (code, `5xx`, or a list).
    Status(StatusSpec),
    /// The window's median latency, e.g. `"< 200ms"` or `"< 2x before"`.
    LatencyP50(Threshold<HumanDuration>),
    /// The window's 95th percentile latency, e.g. `"< 500ms"`.
    LatencyP95(Threshold<HumanDuration>),
    /// The window's 99th percentile latency, e.g. `"< 1s"` or `"< 2x before"`.
    LatencyP99(Threshold<HumanDuration>),
    /// The window's slowest sample, e.g. `"< 2s"` or `"<= before + 500ms"`.
    LatencyMax(Threshold<HumanDuration>),
    /// The 99.9th percentile of the latency, e.g. `"< 2s"` or `"< 2x before"`.
    LatencyP999(Threshold<HumanDuration>),
    /// A load probe's successful requests per second over the window,
    /// e.g. `">= 480/s"` or `">= 90% of before"`.
    Throughput(Threshold<RequestRate>),
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
    /// Every sample saw this HEALTHCHECK status (`healthy`, `unhealthy`,
    /// `starting`, `none`).
    Health(HealthState),
    /// How often the engine restarted the container during the window
    /// (its restart count's increase), e.g. `"<= 1"`.
    Restarts(Comparison<Number>),
    /// `true`: the OOM killer struck (seen by some sample); `false`: no
    /// sample saw it.
    OomKilled(bool),
    /// The window's mean CPU use, 100% being one core, e.g. `">= 50%"`
    /// or `"<= 2x before"`.
    Cpu(Threshold<CpuPercent>),
    /// The window's peak memory use, e.g. `"< 256MiB"` or `"<= before + 64MiB"`.
    Memory(Threshold<ByteSize>),
    /// A ledger's acknowledged writes missing when it read them back after
    /// the cooldown (a count, at most: `0`, or a comparison `"<= 3"`).
    Lost(Comparison<Number>),
    /// A ledger's writes read back more than once (a count, at most).
    Duplicated(Comparison<Number>),
    /// The span of a ledger's lost acknowledged writes, from the first one
    /// sent to the last one acknowledged, e.g. `"< 1s"`; 0 with none lost.
    Rpo(Comparison<HumanDuration>),
    /// Someone noticed soon enough after the first fault was applied:
    /// `{ detected_by: alert, within: 60s }` (an alert probe fired) or
    /// `{ detected_by: people, within: 2m }` (a `detected` observation).
    /// Names no probe.
    DetectedBy(#[schemars(with = "Detector")] DetectedBy),
}

/// A `detected_by` check: who must notice, and how soon after the fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetectedBy {
    pub by: Detector,
    pub within: HumanDuration,
}

/// Who notices a fault's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// An alert: an `alert` probe (or a `prometheus` probe asking
    /// `ALERTS`) fired.
    Alert,
    /// People: someone typed (or posted) a `detected` observation.
    People,
}

impl Detector {
    pub const ALL: [Detector; 2] = [Detector::Alert, Detector::People];

    pub fn key(self) -> &'static str {
        match self {
            Detector::Alert => "alert",
            Detector::People => "people",
        }
    }
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

keyed_kinds! {
    /// The kinds of check an expectation makes, by their key in the file.
    pub enum CheckKind {
        SuccessRate = "success_rate",
        Status = "status",
        LatencyP50 = "latency_p50",
        LatencyP95 = "latency_p95",
        LatencyP99 = "latency_p99",
        LatencyMax = "latency_max",
        LatencyP999 = "latency_p999",
        Throughput = "throughput",
        RecoversWithin = "recovers_within",
        FailsWithin = "fails_within",
        State = "state",
        ExitCode = "exit_code",
        Matches = "matches",
        Value = "value",
        FiresWithin = "fires_within",
        Health = "health",
        Restarts = "restarts",
        OomKilled = "oom_killed",
        Cpu = "cpu",
        Memory = "memory",
        Lost = "lost",
        Duplicated = "duplicated",
        Rpo = "rpo",
        DetectedBy = "detected_by",
    }
}

/// The unit of the value an evaluated check measured (`value` in
/// `result.json`), so tools read it without guessing from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A share of samples, 0 to 100.
    Percent,
    /// A duration in milliseconds.
    Ms,
    /// A count (matching log lines).
    Count,
    /// A number as the probe returned it (a Prometheus value).
    Number,
    /// A size in bytes (memory use).
    Bytes,
    /// Requests per second (a load probe's throughput).
    PerSecond,
}

impl CheckKind {
    /// Does this check make sense for this kind of probe?
    pub fn fits(self, probe: ProbeType) -> bool {
        match self {
            CheckKind::SuccessRate | CheckKind::RecoversWithin | CheckKind::FailsWithin => true,
            CheckKind::Status => matches!(probe, ProbeType::Http | ProbeType::Load),
            CheckKind::State
            | CheckKind::Health
            | CheckKind::Restarts
            | CheckKind::OomKilled
            | CheckKind::Cpu
            | CheckKind::Memory => probe == ProbeType::Container,
            CheckKind::ExitCode => matches!(probe, ProbeType::Exec | ProbeType::Command),
            CheckKind::Matches => probe == ProbeType::Logs,
            CheckKind::Value => matches!(probe, ProbeType::Prometheus | ProbeType::Alert),
            CheckKind::FiresWithin => probe == ProbeType::Alert,
            CheckKind::Throughput => probe == ProbeType::Load,
            CheckKind::Lost | CheckKind::Duplicated | CheckKind::Rpo => probe == ProbeType::Ledger,
            CheckKind::LatencyP50
            | CheckKind::LatencyP95
            | CheckKind::LatencyP99
            | CheckKind::LatencyP999
            | CheckKind::LatencyMax => probe.has_latency(),
            // It names no probe: it reads every alert probe, or the
            // observations.
            CheckKind::DetectedBy => false,
        }
    }

    /// Whether the check names a probe (`probe:`): all but `detected_by`.
    pub fn takes_probe(self) -> bool {
        self != CheckKind::DetectedBy
    }

    /// The window a check is always measured over, if it is fixed:
    /// `recovers_within` from the revert, `fails_within` and
    /// `fires_within` from the apply, a ledger's read back after the
    /// cooldown.
    pub fn implied_window(self) -> Option<Window> {
        match self {
            CheckKind::RecoversWithin
            | CheckKind::Lost
            | CheckKind::Duplicated
            | CheckKind::Rpo => Some(Window::After),
            CheckKind::FailsWithin | CheckKind::FiresWithin | CheckKind::DetectedBy => {
                Some(Window::Fault)
            }
            CheckKind::SuccessRate
            | CheckKind::Status
            | CheckKind::LatencyP50
            | CheckKind::LatencyP95
            | CheckKind::LatencyP99
            | CheckKind::LatencyMax
            | CheckKind::LatencyP999
            | CheckKind::Throughput
            | CheckKind::State
            | CheckKind::ExitCode
            | CheckKind::Matches
            | CheckKind::Value
            | CheckKind::Health
            | CheckKind::Restarts
            | CheckKind::OomKilled
            | CheckKind::Cpu
            | CheckKind::Memory => None,
        }
    }

    /// Whether the check's value may be relative to the before window
    /// (`"< 2x before"`): the checks measuring one figure per window.
    pub fn takes_relative(self) -> bool {
        match self {
            CheckKind::SuccessRate
            | CheckKind::LatencyP50
            | CheckKind::LatencyP95
            | CheckKind::LatencyP99
            | CheckKind::LatencyMax
            | CheckKind::LatencyP999
            | CheckKind::Throughput
            | CheckKind::Cpu
            | CheckKind::Memory => true,
            CheckKind::Status
            | CheckKind::RecoversWithin
            | CheckKind::FailsWithin
            | CheckKind::State
            | CheckKind::ExitCode
            | CheckKind::Matches
            | CheckKind::Value
            | CheckKind::FiresWithin
            | CheckKind::Health
            | CheckKind::Restarts
            | CheckKind::OomKilled
            | CheckKind::Lost
            | CheckKind::Duplicated
            | CheckKind::Rpo
            | CheckKind::DetectedBy => false,
        }
    }

    /// The unit of the value the check measures.
    pub fn unit(self) -> Unit {
        match self {
            CheckKind::SuccessRate
            | CheckKind::Status
            | CheckKind::State
            | CheckKind::ExitCode
            | CheckKind::Health
            | CheckKind::Cpu => Unit::Percent,
            CheckKind::LatencyP50
            | CheckKind::LatencyP95
            | CheckKind::LatencyP99
            | CheckKind::LatencyMax
            | CheckKind::LatencyP999
            | CheckKind::RecoversWithin
            | CheckKind::FailsWithin
            | CheckKind::FiresWithin
            | CheckKind::Rpo
            | CheckKind::DetectedBy => Unit::Ms,
            CheckKind::Throughput => Unit::PerSecond,
            CheckKind::Matches
            | CheckKind::Restarts
            | CheckKind::OomKilled
            | CheckKind::Lost
            | CheckKind::Duplicated => Unit::Count,
            CheckKind::Memory => Unit::Bytes,
            CheckKind::Value => Unit::Number,
        }
    }
}

impl Check {
    pub fn kind(&self) -> CheckKind {
        match self {
            Check::SuccessRate(_) => CheckKind::SuccessRate,
            Check::Status(_) => CheckKind::Status,
            Check::LatencyP50(_) => CheckKind::LatencyP50,
            Check::LatencyP95(_) => CheckKind::LatencyP95,
            Check::LatencyP99(_) => CheckKind::LatencyP99,
            Check::LatencyMax(_) => CheckKind::LatencyMax,
            Check::LatencyP999(_) => CheckKind::LatencyP999,
            Check::Throughput(_) => CheckKind::Throughput,
            Check::RecoversWithin(_) => CheckKind::RecoversWithin,
            Check::FailsWithin(_) => CheckKind::FailsWithin,
            Check::State(_) => CheckKind::State,
            Check::ExitCode(_) => CheckKind::ExitCode,
            Check::Matches(_) => CheckKind::Matches,
            Check::Value(_) => CheckKind::Value,
            Check::FiresWithin(_) => CheckKind::FiresWithin,
            Check::Health(_) => CheckKind::Health,
            Check::Restarts(_) => CheckKind::Restarts,
            Check::OomKilled(_) => CheckKind::OomKilled,
            Check::Cpu(_) => CheckKind::Cpu,
            Check::Memory(_) => CheckKind::Memory,
            Check::Lost(_) => CheckKind::Lost,
            Check::Duplicated(_) => CheckKind::Duplicated,
            Check::Rpo(_) => CheckKind::Rpo,
            Check::DetectedBy(_) => CheckKind::DetectedBy,
        }
    }

    pub fn key(&self) -> &'static str {
        self.kind().key()
    }

    /// Whether the check's limit comes from the before window.
    pub fn is_relative(&self) -> bool {
        match self {
            Check::SuccessRate(t) => t.is_relative(),
            Check::LatencyP50(t)
            | Check::LatencyP95(t)
            | Check::LatencyP99(t)
            | Check::LatencyMax(t)
            | Check::LatencyP999(t) => t.is_relative(),
            Check::Throughput(t) => t.is_relative(),
            Check::Cpu(t) => t.is_relative(),
            Check::Memory(t) => t.is_relative(),
            Check::Status(_)
            | Check::RecoversWithin(_)
            | Check::FailsWithin(_)
            | Check::State(_)
            | Check::ExitCode(_)
            | Check::Matches(_)
            | Check::Value(_)
            | Check::FiresWithin(_)
            | Check::Health(_)
            | Check::Restarts(_)
            | Check::OomKilled(_)
            | Check::Lost(_)
            | Check::Duplicated(_)
            | Check::Rpo(_)
            | Check::DetectedBy(_) => false,
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
            Check::LatencyP999(c) => write!(f, "latency_p999 {c}"),
            Check::Throughput(c) => write!(f, "throughput {c}"),
            Check::RecoversWithin(d) => write!(f, "recovers within {d}"),
            Check::FailsWithin(d) => write!(f, "fails within {d}"),
            Check::State(s) => write!(f, "state {s}"),
            Check::ExitCode(c) => write!(f, "exit code {c}"),
            Check::Matches(c) => write!(f, "matching lines {c}"),
            Check::Value(c) => write!(f, "value {c}"),
            Check::FiresWithin(d) => write!(f, "fires within {d}"),
            Check::Health(h) => write!(f, "health {h}"),
            Check::Restarts(c) => write!(f, "restarts {c}"),
            Check::OomKilled(b) => write!(f, "oom_killed {b}"),
            Check::Cpu(c) => write!(f, "cpu {c}"),
            Check::Memory(c) => write!(f, "memory {c}"),
            Check::Lost(c) => write!(f, "lost writes {c}"),
            Check::Duplicated(c) => write!(f, "duplicated writes {c}"),
            Check::Rpo(c) => write!(f, "rpo {c}"),
            Check::DetectedBy(d) => match d.by {
                Detector::Alert => write!(f, "detected by an alert within {}", d.within),
                Detector::People => write!(f, "detected by people within {}", d.within),
            },
        }
    }
}

/// A stop condition: the probe has failed without a success for this long.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaltCondition {
    #[schemars(with = "String")]
    pub probe: ProbeRef,
    /// Halt when the probe has failed continuously for this long.
    pub failing_for: HumanDuration,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}
