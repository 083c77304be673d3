//! From what happened in a run to its record: each scenario's expectations
//! evaluated over its windows, its verdict, the run's outcome and exit code,
//! the probe summaries and the timeline. Pure: no Docker, no clock, no
//! files; the product's contract (verdicts and exit codes) is tested here.

use chrono::{DateTime, Utc};

use crate::expect::{self, Windows};
use crate::gameday::model::Window;
use crate::plan::Plan;
use crate::probe::ProbeSample;
use crate::record::SampleRow;
use crate::record::result::*;

/// How a scenario's walk ended, before its expectations are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioStatus {
    /// It ran to the end: its expectations decide.
    Ran,
    /// A halt condition or a signal stopped it; faults reverted.
    Aborted,
    /// A fault could not be applied.
    Error,
    /// It never started.
    Skipped,
}

/// A scenario as it ran.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// Its place in the gameday.
    pub index: usize,
    pub status: ScenarioStatus,
    pub error: Option<String>,
    pub faults: Vec<FaultResult>,
    pub windows: Option<Windows>,
    pub started_ms: f64,
    pub ended_ms: f64,
}

impl ScenarioRun {
    /// Scenarios `range` of the gameday, never started.
    pub fn skipped(range: std::ops::Range<usize>) -> Vec<ScenarioRun> {
        range
            .map(|index| ScenarioRun {
                index,
                status: ScenarioStatus::Skipped,
                error: None,
                faults: Vec::new(),
                windows: None,
                started_ms: 0.0,
                ended_ms: 0.0,
            })
            .collect()
    }
}

/// Everything the dispatcher hands over at the end of a run.
#[derive(Debug, Clone)]
pub struct Happened {
    pub run_id: String,
    /// The gameday file, as named on the command line.
    pub file: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub steady: SteadyState,
    /// Every scenario of the gameday, in order (skipped ones included).
    pub runs: Vec<ScenarioRun>,
    pub aborted_reason: Option<String>,
    /// Per probe (file order), its samples.
    pub samples: Vec<Vec<ProbeSample>>,
    /// Notes of the run (faults applied and reverted, halts, observations).
    pub timeline: Vec<TimelineEntry>,
    /// Faults that could not be reverted.
    pub faults_left: Vec<FaultLeft>,
    pub observations: Vec<Observation>,
}

/// The run's outcome: a fault left beats an abort, which beats the verdicts.
pub fn outcome(summary: &Summary, aborted: bool, faults_left: bool) -> Outcome {
    if faults_left {
        Outcome::FaultLeft
    } else if aborted {
        Outcome::Aborted
    } else if summary.met == summary.scenarios {
        Outcome::Met
    } else {
        Outcome::NotMet
    }
}

/// The record of the run (`result.json`) and its samples (`samples.jsonl`).
pub fn assemble(plan: &Plan, mut happened: Happened) -> (RunResult, Vec<SampleRow>) {
    let g = &plan.gameday;
    for samples in &mut happened.samples {
        samples.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    }
    let mut timeline = happened.timeline;
    // Probe state changes, in the order results were known.
    for (i, samples) in happened.samples.iter().enumerate() {
        let name = &g.probes.0[i].name;
        let mut by_end: Vec<&ProbeSample> = samples.iter().collect();
        by_end.sort_by(|a, b| a.end_ms().total_cmp(&b.end_ms()));
        let mut last = None;
        for sample in by_end {
            if last != Some(sample.ok) {
                let state = if sample.ok { "ok" } else { "failing" };
                let t_ms = sample.end_ms();
                timeline.push(TimelineEntry {
                    t_ms,
                    offset: format!("+{:.1}s", t_ms / 1000.0),
                    text: format!("probe {name}: {state} ({})", sample.brief()),
                });
                last = Some(sample.ok);
            }
        }
    }
    timeline.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    let samples = &happened.samples;
    let scenarios: Vec<ScenarioResult> = happened
        .runs
        .into_iter()
        .map(|run| scenario_result(plan, samples, &timeline, run))
        .collect();
    let count = |v: Verdict| scenarios.iter().filter(|s| s.verdict == v).count();
    let summary = Summary {
        scenarios: scenarios.len(),
        met: count(Verdict::Met),
        not_met: count(Verdict::NotMet),
        aborted: count(Verdict::Aborted),
        error: count(Verdict::Error),
        skipped: count(Verdict::Skipped),
    };
    let outcome = outcome(
        &summary,
        happened.aborted_reason.is_some(),
        !happened.faults_left.is_empty(),
    );
    let probes = g
        .probes
        .0
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let samples = &samples[i];
            let mut latencies: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
            latencies.sort_by(f64::total_cmp);
            let has_latency = p.kind.has_latency();
            ProbeSummary {
                name: p.name.clone(),
                kind: p.kind.name().to_string(),
                every_ms: p.every.as_std().as_secs_f64() * 1000.0,
                samples: samples.len(),
                ok: samples.iter().filter(|s| s.ok).count(),
                failed: samples.iter().filter(|s| !s.ok).count(),
                latency_p50_ms: has_latency
                    .then(|| expect::percentile(&latencies, 50.0))
                    .flatten(),
                latency_p99_ms: has_latency
                    .then(|| expect::percentile(&latencies, 99.0))
                    .flatten(),
            }
        })
        .collect();
    let inventory = &plan.inventory;
    let result = RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: happened.run_id,
        gameday: GamedayInfo {
            title: g.gameday.clone(),
            description: g.description.clone(),
            participants: g.participants.clone(),
            environment: g.environment.clone(),
            recording: g.recording.clone(),
            file: happened.file,
            scope: g.scope.compose_project.clone(),
        },
        docker: DockerInfo {
            host: inventory.docker_host.clone(),
            version: inventory.docker_version.clone(),
            connection: inventory.docker_connection.clone(),
            hosts: inventory.other_engines.clone(),
        },
        started_at: happened.started_at,
        ended_at: happened.ended_at,
        duration_ms: happened.duration_ms,
        outcome,
        exit_code: outcome.exit_code(),
        aborted_reason: happened.aborted_reason,
        steady_state: happened.steady,
        scenarios,
        probes,
        samples_file: crate::record::SAMPLES_FILE.to_string(),
        faults_left: happened.faults_left,
        observations: happened.observations,
        summary,
    };
    // Every sample, tagged with its probe's name.
    let rows = happened
        .samples
        .into_iter()
        .enumerate()
        .flat_map(|(i, list)| {
            let probe = g.probes.0[i].name.clone();
            list.into_iter().map(move |sample| SampleRow {
                probe: probe.clone(),
                sample,
            })
        })
        .collect();
    (result, rows)
}

fn scenario_result(
    plan: &Plan,
    samples: &[Vec<ProbeSample>],
    timeline: &[TimelineEntry],
    run: ScenarioRun,
) -> ScenarioResult {
    let g = &plan.gameday;
    let s = &g.scenarios[run.index];
    let expectations: Vec<ExpectationResult> = match (&run.windows, run.status) {
        (Some(w), ScenarioStatus::Ran | ScenarioStatus::Aborted) => s
            .expect
            .iter()
            .map(|e| {
                ExpectationResult::new(e, expect::evaluate(e, &samples[e.probe.id.0], w))
            })
            .collect(),
        (None, _) | (Some(_), ScenarioStatus::Error | ScenarioStatus::Skipped) => Vec::new(),
    };
    let verdict = match run.status {
        ScenarioStatus::Ran if expectations.iter().all(ExpectationResult::is_met) => Verdict::Met,
        ScenarioStatus::Ran => Verdict::NotMet,
        ScenarioStatus::Aborted => Verdict::Aborted,
        ScenarioStatus::Error => Verdict::Error,
        ScenarioStatus::Skipped => Verdict::Skipped,
    };
    let timeline = match run.status {
        ScenarioStatus::Skipped => Vec::new(),
        ScenarioStatus::Ran | ScenarioStatus::Aborted | ScenarioStatus::Error => timeline
            .iter()
            .filter(|t| t.t_ms >= run.started_ms && t.t_ms <= run.ended_ms)
            .cloned()
            .collect(),
    };
    let probe_effects = match &run.windows {
        Some(w) => g
            .probes
            .0
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.has_latency())
            .map(|(i, p)| {
                let at = |window| expect::summarize(&samples[i], w.range(window));
                let (before_p50_ms, before_success) = at(Window::Before);
                let (during_p50_ms, during_success) = at(Window::Fault);
                let (after_p50_ms, after_success) = at(Window::After);
                ProbeEffect {
                    probe: p.name.clone(),
                    before_p50_ms,
                    during_p50_ms,
                    after_p50_ms,
                    before_success,
                    during_success,
                    after_success,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    ScenarioResult {
        name: s.name.clone(),
        description: s.description.clone(),
        expected: s.expected.clone(),
        verdict,
        error: run.error,
        duration_ms: run.ended_ms - run.started_ms,
        expectations,
        faults: run.faults,
        windows: run.windows,
        timeline,
        probe_effects,
    }
}
