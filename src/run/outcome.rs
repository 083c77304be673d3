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
use crate::record::flaps::{self, Change};
use crate::record::result::*;

/// How a scenario's walk ended, before its expectations are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScenarioStatus {
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
pub(crate) struct ScenarioRun {
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
    pub(crate) fn skipped(range: std::ops::Range<usize>) -> Vec<ScenarioRun> {
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
pub(crate) struct Happened {
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
pub(crate) fn outcome(summary: &Summary, aborted: bool, faults_left: bool) -> Outcome {
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
pub(crate) fn assemble(plan: &Plan, mut happened: Happened) -> (RunResult, Vec<SampleRow>) {
    let g = &plan.gameday;
    for samples in &mut happened.samples {
        samples.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    }
    let mut timeline = happened.timeline;
    // Probe state changes, in the order results were known; a probe that
    // flaps keeps its first failure, first recovery and last change, and
    // one line stands for the rest (the journal keeps them all).
    let mut changes: Vec<(TimelineEntry, Change<'_>)> = Vec::new();
    for (i, samples) in happened.samples.iter().enumerate() {
        let name = &g.probes.0[i].name;
        let mut by_end: Vec<&ProbeSample> = samples.iter().collect();
        by_end.sort_by(|a, b| a.end_ms().total_cmp(&b.end_ms()));
        let mut last = None;
        for sample in by_end {
            if last != Some(sample.ok) {
                let state = if sample.ok { "ok" } else { "failing" };
                let t_ms = sample.end_ms();
                changes.push((
                    TimelineEntry {
                        t_ms,
                        offset: format!("+{:.1}s", t_ms / 1000.0),
                        text: format!("probe {name}: {state} ({})", sample.brief()),
                    },
                    Change { t_ms, probe: name },
                ));
                last = Some(sample.ok);
            }
        }
    }
    let just: Vec<Change<'_>> = changes.iter().map(|(_, c)| c.clone()).collect();
    let (keep, flaps) = flaps::collapse(&just);
    for flap in &flaps {
        let Some(i) = g.probes.0.iter().position(|p| p.name == flap.probe) else {
            continue;
        };
        let samples: Vec<&ProbeSample> = happened.samples[i].iter().collect();
        timeline.push(TimelineEntry {
            t_ms: flap.from_ms,
            offset: format!("+{:.1}s", flap.from_ms / 1000.0),
            text: flaps::describe(flap, &samples),
        });
    }
    timeline.extend(
        changes
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|((entry, _), _)| entry),
    );
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
    let checklist = crate::record::result::checklist_of(&scenarios);
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
            hosts: inventory
                .other_engines
                .iter()
                .map(|e| HostInfo {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    version: e.version.clone(),
                    connection: e.connection.clone(),
                })
                .collect(),
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
        checklist,
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
            .map(|e| ExpectationResult::new(e, expect::evaluate(e, &samples[e.probe.id.0], w)))
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
        checklist: s.checklist.clone(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::expect::Verdict as CheckVerdict;
    use crate::gameday::load_bytes;
    use crate::gameday::model::Unit;

    const FILE: &str = r#"
gameday: Outcome
scope: { compose_project: demo }
probes:
  health: { http: { url: "http://127.0.0.1:1/health" } }
  login: { http: { url: "http://127.0.0.1:1/login" } }
scenarios:
  - name: First
    fault: { pause: { service: db } }
    duration: 10s
    expect:
      - { probe: health, during: fault, success_rate: ">= 99%" }
      - { probe: login, recovers_within: 2s }
  - name: Second
    fault: { kill: { service: db } }
    duration: 10s
    expect:
      - { probe: health, during: fault, latency_p99: "< 1s" }
"#;

    fn plan() -> Plan {
        let env = |_: &str| None;
        let g = match load_bytes("outcome.yaml", FILE.as_bytes(), &env) {
            Ok(g) => g,
            Err(d) => panic!("{}", d.render()),
        };
        crate::plan::resolve_against(&g, &["db"])
    }

    /// The windows of scenario `i`: 10 s each after a 5 s baseline, a 5 s cooldown.
    fn windows(i: usize) -> Windows {
        let start = 5_000.0 + i as f64 * 15_000.0;
        Windows {
            baseline: (0.0, 5_000.0),
            apply_start: start,
            fault_start: start + 100.0,
            revert_start: start + 10_100.0,
            end: start + 15_000.0,
            self_healing_from: None,
        }
    }

    fn ran(i: usize, status: ScenarioStatus) -> ScenarioRun {
        let w = windows(i);
        ScenarioRun {
            index: i,
            status,
            error: (status == ScenarioStatus::Error).then(|| "cannot pause".to_string()),
            faults: Vec::new(),
            windows: (status != ScenarioStatus::Skipped).then_some(w),
            started_ms: w.apply_start,
            ended_ms: w.end,
        }
    }

    /// A probe sampled every 100 ms over the whole run, failing where `fails` says.
    fn samples(probe: usize, fails: impl Fn(f64) -> bool) -> Vec<ProbeSample> {
        (0..350)
            .map(|n| {
                let t_ms = f64::from(n) * 100.0;
                let ok = !fails(t_ms);
                ProbeSample {
                    probe,
                    t_ms,
                    ok,
                    latency_ms: 3.0,
                    status: Some(if ok { 200 } else { 503 }),
                    ..ProbeSample::default()
                }
            })
            .collect()
    }

    fn happened(runs: Vec<ScenarioRun>, samples: Vec<Vec<ProbeSample>>) -> Happened {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        Happened {
            run_id: "abc123".into(),
            file: "outcome.yaml".into(),
            started_at: at,
            ended_at: at + chrono::Duration::seconds(35),
            duration_ms: 35_000.0,
            steady: SteadyState {
                met: true,
                baseline_ms: 5_000.0,
                details: Vec::new(),
            },
            runs,
            aborted_reason: None,
            samples,
            timeline: Vec::new(),
            faults_left: Vec::new(),
            observations: Vec::new(),
        }
    }

    fn healthy() -> Vec<Vec<ProbeSample>> {
        vec![samples(0, |_| false), samples(1, |_| false)]
    }

    #[test]
    fn a_flapping_probe_is_one_line_in_the_timeline() {
        // login alternates ok/failing every 200 ms through the first
        // scenario's fault: ~50 changes.
        let w = windows(0);
        let login = samples(1, |t| {
            t >= w.fault_start && t < w.revert_start && (t / 200.0).floor() as i64 % 2 == 0
        });
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let (result, _) = assemble(&plan(), happened(runs, vec![samples(0, |_| false), login]));
        let lines: Vec<&str> = result.scenarios[0]
            .timeline
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        let login_lines: Vec<&&str> = lines.iter().filter(|l| l.contains("login")).collect();
        // First failure, first recovery, the folded line, and the last change.
        assert_eq!(login_lines.len(), 4, "{lines:#?}");
        assert!(
            login_lines[0].starts_with("probe login: failing"),
            "{lines:#?}"
        );
        assert!(login_lines[1].starts_with("probe login: ok"), "{lines:#?}");
        assert!(
            login_lines[2].starts_with("probe login flapped ")
                && login_lines[2].contains("failed samples (most often: 503"),
            "{lines:#?}"
        );
    }

    #[test]
    fn every_expectation_met_is_exit_0() {
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let (result, rows) = assemble(&plan(), happened(runs, healthy()));
        assert_eq!(result.outcome, Outcome::Met);
        assert_eq!(result.exit_code, 0);
        assert_eq!(result.summary.met, 2);
        assert!(result.scenarios.iter().all(|s| s.verdict == Verdict::Met));
        let first = &result.scenarios[0].expectations[0];
        assert_eq!(first.check.as_deref(), Some("success_rate"));
        assert_eq!(first.unit, Some(Unit::Percent));
        assert_eq!(first.value, Some(100.0));
        let p99 = &result.scenarios[1].expectations[0];
        assert_eq!(
            (p99.check.as_deref(), p99.unit),
            (Some("latency_p99"), Some(Unit::Ms))
        );
        // Every sample is kept, tagged with its probe's name.
        assert_eq!(rows.len(), 700);
        assert_eq!(rows[0].probe, "health");
        assert_eq!(rows[350].probe, "login");
        assert_eq!(result.probes[0].samples, 350);
    }

    #[test]
    fn a_check_not_met_is_exit_1_and_says_what_was_measured() {
        // health fails through the first scenario's fault window.
        let w = windows(0);
        let health = samples(0, |t| t >= w.fault_start && t < w.revert_start);
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let (result, _) = assemble(&plan(), happened(runs, vec![health, samples(1, |_| false)]));
        assert_eq!(result.outcome, Outcome::NotMet);
        assert_eq!(result.exit_code, 1);
        let first = &result.scenarios[0];
        assert_eq!(first.verdict, Verdict::NotMet);
        assert_eq!(first.expectations[0].verdict, CheckVerdict::NotMet);
        assert_eq!(first.expectations[0].value, Some(0.0));
        assert!(
            first.expectations[0].actual.contains("0 of 100 samples ok"),
            "{}",
            first.expectations[0].actual
        );
        assert_eq!(result.scenarios[1].verdict, Verdict::Met);
        assert_eq!((result.summary.met, result.summary.not_met), (1, 1));
    }

    #[test]
    fn a_halt_aborts_the_run_and_skips_the_rest_exit_3() {
        let mut h = happened(
            std::iter::once(ran(0, ScenarioStatus::Aborted))
                .chain(ScenarioRun::skipped(1..2))
                .collect(),
            healthy(),
        );
        h.aborted_reason = Some("halt_if: probe `health` has been failing for 5s".into());
        let (result, _) = assemble(&plan(), h);
        assert_eq!(result.outcome, Outcome::Aborted);
        assert_eq!(result.exit_code, 3);
        // Its checks are still evaluated, for the record; the verdict is the abort.
        assert_eq!(result.scenarios[0].verdict, Verdict::Aborted);
        assert_eq!(result.scenarios[0].expectations.len(), 2);
        assert_eq!(result.scenarios[1].verdict, Verdict::Skipped);
        assert!(result.scenarios[1].expectations.is_empty());
        assert!(result.scenarios[1].timeline.is_empty());
        assert_eq!((result.summary.aborted, result.summary.skipped), (1, 1));
        assert!(
            result
                .aborted_reason
                .as_deref()
                .unwrap_or_default()
                .starts_with("halt_if")
        );
    }

    #[test]
    fn a_steady_state_not_met_skips_every_scenario_exit_3() {
        let mut h = happened(ScenarioRun::skipped(0..2), healthy());
        h.steady.met = false;
        h.aborted_reason = Some("the steady state was not met".into());
        let (result, _) = assemble(&plan(), h);
        assert_eq!((result.outcome, result.exit_code), (Outcome::Aborted, 3));
        assert_eq!(result.summary.skipped, 2);
        assert!(result.scenarios.iter().all(|s| s.expectations.is_empty()));
    }

    #[test]
    fn a_fault_left_in_place_is_exit_4_whatever_the_verdicts() {
        let mut h = happened(
            vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)],
            healthy(),
        );
        h.faults_left.push(FaultLeft {
            kind: "pause".into(),
            container: "demo_db_1".into(),
            container_id: "db000000000001".into(),
            error: "engine gone".into(),
            by_hand: "docker unpause db000000000001".into(),
        });
        let (result, _) = assemble(&plan(), h.clone());
        assert_eq!((result.outcome, result.exit_code), (Outcome::FaultLeft, 4));
        assert_eq!(result.summary.met, 2, "the verdicts stand");
        // Even when the run was also aborted.
        h.aborted_reason = Some("signal".into());
        let (result, _) = assemble(&plan(), h);
        assert_eq!(result.exit_code, 4);
    }

    #[test]
    fn a_fault_that_could_not_be_applied_is_an_error_not_a_verdict() {
        let runs = vec![ran(0, ScenarioStatus::Error), ran(1, ScenarioStatus::Ran)];
        let (result, _) = assemble(&plan(), happened(runs, healthy()));
        let first = &result.scenarios[0];
        assert_eq!(first.verdict, Verdict::Error);
        assert!(first.expectations.is_empty(), "nothing to judge");
        assert_eq!(first.error.as_deref(), Some("cannot pause"));
        assert_eq!((result.outcome, result.exit_code), (Outcome::NotMet, 1));
    }

    #[test]
    fn a_window_without_samples_is_not_met() {
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let (result, _) = assemble(&plan(), happened(runs, vec![Vec::new(), Vec::new()]));
        let e = &result.scenarios[0].expectations[0];
        assert_eq!(e.verdict, CheckVerdict::NotMet);
        assert!(
            e.actual.starts_with("no samples in the fault window"),
            "{}",
            e.actual
        );
        assert_eq!(result.exit_code, 1);
        assert!(
            result
                .probes
                .iter()
                .all(|p| p.samples == 0 && p.latency_p50_ms.is_none())
        );
    }

    #[test]
    fn probe_state_changes_join_the_timeline_of_their_scenario() {
        let w = windows(0);
        let health = samples(0, |t| t >= w.fault_start && t < w.fault_start + 1_000.0);
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let (result, _) = assemble(&plan(), happened(runs, vec![health, samples(1, |_| false)]));
        let lines: Vec<&str> = result.scenarios[0]
            .timeline
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("probe health: failing"), "{lines:?}");
        assert!(lines[1].starts_with("probe health: ok"), "{lines:?}");
        assert!(result.scenarios[1].timeline.is_empty());
    }
}
