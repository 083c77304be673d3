//! From what happened in a run to its record: each scenario's expectations
//! evaluated over its windows, its verdict, the run's outcome and exit code,
//! the probe summaries and the timeline. No Docker, no clock; the samples
//! are streamed from `samples.jsonl` (or memory, in tests) and folded, so
//! this takes the same memory for a minute and for a day. The product's
//! contract (verdicts and exit codes) is tested here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::expect;
use crate::gameday::model::{ProbeKind, Window};
use crate::plan::Plan;
use crate::probe::ProbeSample;
use crate::record::Samples;
use crate::record::flaps::{self, Change, FlapCount};
use crate::record::result::*;
use crate::record::samples::StartOrder;
use crate::record::versions::{VersionTrack, VersionsServed};

pub(crate) use super::walked::{ScenarioRun, ScenarioStatus};

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
    /// The run's samples (its `samples.jsonl`).
    pub samples: Samples,
    /// Notes of the run (faults applied and reverted, halts, observations).
    pub timeline: Vec<TimelineEntry>,
    /// Faults that could not be reverted.
    pub faults_left: Vec<FaultLeft>,
    pub observations: Vec<Observation>,
}

/// The run's outcome: a fault left beats an abort, which beats the verdicts.
pub(crate) fn outcome(summary: &Summary, aborted: bool, faults_left: bool) -> RunOutcome {
    if faults_left {
        RunOutcome::FaultLeft
    } else if aborted {
        RunOutcome::Aborted
    } else if summary.met == summary.scenarios {
        RunOutcome::Met
    } else {
        RunOutcome::NotMet
    }
}

/// What one pass over the samples folds them into: per scenario its
/// expectations and the before/during/after summary of each probe, per
/// probe its totals, latency sketch and the versions that answered, and
/// the probes' state changes.
struct Folds {
    /// Every expectation of every scenario that has windows, with its
    /// scenario's place in `runs` and its probe.
    checks: Vec<(usize, usize, expect::Accumulator)>,
    /// Per scenario (place in `runs`), per probe with a latency, the
    /// summaries of its three windows.
    effects: Vec<Vec<(usize, [expect::WindowSummary; 3])>>,
    /// Per probe: samples, ok, latencies.
    totals: Vec<(usize, usize, expect::Sketch)>,
    /// Per load probe: its intervals merged.
    loads: Vec<Option<crate::probe::load::LoadTally>>,
    /// Per http probe with `version`: the versions that answered.
    versions: Vec<Option<VersionTrack>>,
    /// Per probe, which `checks` and which `effects` (scenario, place) its
    /// samples feed: a sample visits only its own, not every scenario's.
    checks_of: Vec<Vec<usize>>,
    effects_of: Vec<Vec<(usize, usize)>>,
}

impl Folds {
    fn new(
        checks: Vec<(usize, usize, expect::Accumulator)>,
        effects: Vec<Vec<(usize, [expect::WindowSummary; 3])>>,
        probes: usize,
    ) -> Self {
        let mut checks_of = vec![Vec::new(); probes];
        for (c, (_, probe, _)) in checks.iter().enumerate() {
            checks_of[*probe].push(c);
        }
        let mut effects_of = vec![Vec::new(); probes];
        for (k, per_scenario) in effects.iter().enumerate() {
            for (slot, (probe, _)) in per_scenario.iter().enumerate() {
                effects_of[*probe].push((k, slot));
            }
        }
        Folds {
            checks,
            effects,
            totals: vec![(0, 0, expect::Sketch::default()); probes],
            loads: vec![None; probes],
            versions: Vec::new(),
            checks_of,
            effects_of,
        }
    }

    /// A sample of probe `i`, handed on in start order.
    fn push(&mut self, i: usize, s: &ProbeSample) {
        for &c in &self.checks_of[i] {
            let acc = &mut self.checks[c].2;
            if acc.wants(s.t_ms) {
                acc.push(s);
            }
        }
        for &(k, slot) in &self.effects_of[i] {
            self.effects[k][slot].1.iter_mut().for_each(|w| w.push(s));
        }
        let (n, ok, latencies) = &mut self.totals[i];
        *n += 1;
        *ok += usize::from(s.ok);
        latencies.push(s.latency_ms);
        if let Some(load) = &s.load {
            self.loads[i].get_or_insert_default().merge(load);
        }
    }

    /// The folds a run needs: an accumulator per expectation of every
    /// scenario evaluated (ran or aborted, with windows), and per scenario
    /// with windows the three window summaries of each probe with a latency.
    fn of_runs(plan: &Plan, runs: &[ScenarioRun]) -> Self {
        let g = &plan.gameday;
        let probes = &g.probes.0;
        let evaluated =
            |run: &ScenarioRun| matches!(run.status, ScenarioStatus::Ran | ScenarioStatus::Aborted);
        let checks = runs
            .iter()
            .enumerate()
            .filter(|(_, run)| evaluated(run))
            .filter_map(|(k, run)| Some((k, run.windows.as_ref()?, run)))
            .flat_map(|(k, w, run)| {
                g.scenarios[run.index].expect.iter().map(move |e| {
                    let mut acc = expect::Accumulator::new(e, w);
                    // A ledger's checks judge what it read back.
                    let audit = run.audits.iter().find(|a| a.probe == e.probe.name);
                    audit.inspect(|a| acc.read_back(a));
                    (k, e.probe.id.0, acc)
                })
            })
            .collect();
        let effects = runs
            .iter()
            .map(|run| match &run.windows {
                Some(w) => probes
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.kind.has_latency())
                    .map(|(i, _)| {
                        let at = |window| expect::WindowSummary::new(w.range(window));
                        (
                            i,
                            [at(Window::Before), at(Window::Fault), at(Window::After)],
                        )
                    })
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        let versions = probes
            .iter()
            .map(|p| matches!(&p.kind, ProbeKind::Http(h) if h.version.is_some()))
            .map(|tracked| tracked.then(VersionTrack::default))
            .collect();
        Folds {
            versions,
            ..Folds::new(checks, effects, probes.len())
        }
    }
}

/// The record of the run (`result.json`), from what happened and one pass
/// over its samples (two when a probe flapped): nothing held grows with
/// the length of the run but the latencies a percentile check decides on.
pub(crate) fn assemble(plan: &Plan, happened: Happened) -> RunResult {
    let mut folds = Folds::of_runs(plan, &happened.runs);
    let changes = fold_samples(plan, &happened.samples, &mut folds);
    let versions: Vec<Option<VersionsServed>> = std::mem::take(&mut folds.versions)
        .into_iter()
        .map(|track| track.map(VersionTrack::finish))
        .collect();
    let mut timeline = happened.timeline;
    for (p, served) in plan.gameday.probes.0.iter().zip(&versions) {
        timeline.extend(served.iter().flat_map(|v| v.timeline(&p.name)));
    }
    let timeline = with_probe_changes(timeline, changes, &happened.samples);
    let Folds {
        checks,
        mut effects,
        totals,
        loads,
        ..
    } = folds;
    let mut evaluations: Vec<Vec<expect::Evaluation>> = vec![Vec::new(); happened.runs.len()];
    for (k, _, acc) in checks {
        evaluations[k].push(acc.finish());
    }
    let judged = happened
        .runs
        .into_iter()
        .zip(evaluations)
        .zip(effects.iter_mut().map(std::mem::take))
        .map(|((mut run, evaluations), effects)| {
            let (index, trial) = (run.index, run.trial.take());
            let result = scenario_result(plan, evaluations, effects, &timeline, run);
            (result, index, trial)
        })
        .collect();
    let scenarios = super::trial_results::fold(plan, judged, &timeline);
    let summary = summary_of(&scenarios);
    let outcome = outcome(
        &summary,
        happened.aborted_reason.is_some(),
        !happened.faults_left.is_empty(),
    );
    let checklist = crate::record::result::checklist_of(&scenarios);
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: happened.run_id,
        gameday: gameday_info(plan, happened.file),
        docker: docker_info(plan),
        started_at: happened.started_at,
        ended_at: happened.ended_at,
        duration_ms: happened.duration_ms,
        outcome,
        exit_code: outcome.exit_code(),
        aborted_reason: happened.aborted_reason,
        steady_state: happened.steady,
        scenarios,
        probes: probe_summaries(plan, totals, loads, versions),
        samples_file: crate::record::SAMPLES_FILE.to_string(),
        faults_left: happened.faults_left,
        observations: happened.observations,
        checklist,
        seed: Some(plan.seed.value),
        summary,
    }
}

/// One pass over the run's samples, in start order, into `folds` (the
/// versions answering as results were known); returns each probe's state
/// changes (ok <-> failing), in the order results were known (the file's),
/// with the timeline line each would add.
fn fold_samples<'p>(
    plan: &'p Plan,
    samples: &Samples,
    folds: &mut Folds,
) -> Vec<(TimelineEntry, Change<'p>)> {
    let probes = &plan.gameday.probes.0;
    let index_of: HashMap<&str, usize> = probes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    // A run lasts at most its timeout: later than that (and a second of
    // slack for the channel), a sample cannot be overtaken.
    let mut orders: Vec<StartOrder> = probes
        .iter()
        .map(|p| StartOrder::new(p.timeout.as_std().as_secs_f64() * 1000.0 + 1000.0))
        .collect();
    let mut changes: Vec<(TimelineEntry, Change<'p>)> = Vec::new();
    let mut last: Vec<Option<bool>> = vec![None; probes.len()];
    samples.for_each(|probe, sample| {
        let Some(&i) = index_of.get(probe) else {
            return;
        };
        if last[i] != Some(sample.ok) {
            let state = if sample.ok { "ok" } else { "failing" };
            let t_ms = sample.end_ms();
            let name = probes[i].name.as_str();
            changes.push((
                TimelineEntry {
                    t_ms,
                    offset: format!("+{:.1}s", t_ms / 1000.0),
                    text: format!("probe {name}: {state} ({})", sample.brief()),
                },
                Change { t_ms, probe: name },
            ));
            last[i] = Some(sample.ok);
        }
        if let Some(track) = &mut folds.versions[i] {
            track.push(sample);
        }
        orders[i].push(sample.clone(), |s| folds.push(i, &s));
    });
    for (i, order) in orders.iter_mut().enumerate() {
        order.drain(|s| folds.push(i, &s));
    }
    changes
}

/// The run's timeline with the probes' state changes added, sorted by time.
/// A probe that flaps keeps its first failure, first recovery and last
/// change, and one line stands for the rest (the journal keeps them all):
/// counting what a flap stands for takes a second pass over the samples.
fn with_probe_changes(
    mut timeline: Vec<TimelineEntry>,
    changes: Vec<(TimelineEntry, Change<'_>)>,
    samples: &Samples,
) -> Vec<TimelineEntry> {
    let just: Vec<Change<'_>> = changes.iter().map(|(_, c)| c.clone()).collect();
    let (keep, flaps) = flaps::collapse(&just);
    if !flaps.is_empty() {
        let index = flaps::FlapIndex::new(&flaps);
        let mut counts = vec![FlapCount::default(); flaps.len()];
        samples.for_each(|probe, sample| {
            if let Some(f) = index.covering(probe, sample.t_ms) {
                counts[f].push(&flaps[f], sample);
            }
        });
        for (flap, count) in flaps.iter().zip(counts) {
            timeline.push(TimelineEntry {
                t_ms: flap.from_ms,
                offset: format!("+{:.1}s", flap.from_ms / 1000.0),
                text: count.describe(flap),
            });
        }
    }
    timeline.extend(
        changes
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|((entry, _), _)| entry),
    );
    timeline.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    timeline
}

/// How many scenarios reached each verdict.
fn summary_of(scenarios: &[ScenarioResult]) -> Summary {
    let count = |v: ScenarioVerdict| scenarios.iter().filter(|s| s.verdict == v).count();
    Summary {
        scenarios: scenarios.len(),
        met: count(ScenarioVerdict::Met),
        not_met: count(ScenarioVerdict::NotMet),
        aborted: count(ScenarioVerdict::Aborted),
        error: count(ScenarioVerdict::Error),
        skipped: count(ScenarioVerdict::Skipped),
    }
}

/// Each probe's totals over the whole run, in the gameday's order.
fn probe_summaries(
    plan: &Plan,
    totals: Vec<(usize, usize, expect::Sketch)>,
    loads: Vec<Option<crate::probe::load::LoadTally>>,
    versions: Vec<Option<VersionsServed>>,
) -> Vec<ProbeSummary> {
    plan.gameday
        .probes
        .0
        .iter()
        .zip(totals)
        .zip(loads)
        .zip(versions)
        .map(|(((p, (n, ok, latencies)), load), versions)| {
            let has_latency = p.kind.has_latency();
            ProbeSummary {
                name: p.name.clone(),
                kind: p.kind.name().to_string(),
                every_ms: p.every.as_std().as_secs_f64() * 1000.0,
                samples: n,
                ok,
                failed: n - ok,
                latency_p50_ms: has_latency.then(|| latencies.percentile(50.0)).flatten(),
                latency_p99_ms: has_latency.then(|| latencies.percentile(99.0)).flatten(),
                load: load.as_ref().map(LoadFigures::of),
                versions,
            }
        })
        .collect()
}

/// What the record says of the gameday: its header, the file as named on
/// the command line, its scope.
fn gameday_info(plan: &Plan, file: String) -> GamedayInfo {
    let g = &plan.gameday;
    GamedayInfo {
        title: g.gameday.clone(),
        description: g.description.clone(),
        participants: g.participants.clone(),
        environment: g.environment.clone(),
        recording: g.recording.clone(),
        file,
        scope: g.scope.compose_project.clone(),
    }
}

/// What the record says of the engines the run spoke to.
fn docker_info(plan: &Plan) -> DockerInfo {
    let inventory = &plan.inventory;
    DockerInfo {
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
    }
}

fn scenario_result(
    plan: &Plan,
    evaluations: Vec<expect::Evaluation>,
    effects: Vec<(usize, [expect::WindowSummary; 3])>,
    timeline: &[TimelineEntry],
    run: ScenarioRun,
) -> ScenarioResult {
    let g = &plan.gameday;
    let s = &g.scenarios[run.index];
    let mut expectations: Vec<ExpectationResult> = s
        .expect
        .iter()
        .zip(evaluations)
        .map(|(e, evaluation)| ExpectationResult::new(e, evaluation))
        .collect();
    if let ScenarioStatus::Ran = run.status {
        expectations.extend(super::deploy_checks::judge(
            &plan.scenarios[run.index],
            &run.faults,
        ));
    }
    let verdict = match run.status {
        ScenarioStatus::Ran if expectations.iter().all(ExpectationResult::is_met) => {
            ScenarioVerdict::Met
        }
        ScenarioStatus::Ran => ScenarioVerdict::NotMet,
        ScenarioStatus::Aborted => ScenarioVerdict::Aborted,
        ScenarioStatus::Error => ScenarioVerdict::Error,
        ScenarioStatus::Skipped => ScenarioVerdict::Skipped,
    };
    let timeline = match run.status {
        ScenarioStatus::Skipped => Vec::new(),
        ScenarioStatus::Ran | ScenarioStatus::Aborted | ScenarioStatus::Error => timeline
            .iter()
            .filter(|t| t.t_ms >= run.started_ms && t.t_ms <= run.ended_ms)
            .cloned()
            .collect(),
    };
    let probe_effects = effects
        .into_iter()
        .map(|(i, [before, during, after])| {
            let (before_p50_ms, before_success) = before.finish();
            let (during_p50_ms, during_success) = during.finish();
            let (after_p50_ms, after_success) = after.finish();
            ProbeEffect {
                probe: g.probes.0[i].name.clone(),
                before_p50_ms,
                during_p50_ms,
                after_p50_ms,
                before_success,
                during_success,
                after_success,
            }
        })
        .collect();
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
        trials: None,
        ledgers: run.audits,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::expect::CheckVerdict;
    use crate::expect::Windows;
    use crate::gameday::load_bytes;
    use crate::gameday::model::{Check, Expectation, Unit};

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
            trial: None,
            audits: Vec::new(),
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

    /// Per probe, its samples, as rows of `samples.jsonl` (by probe).
    fn rows(samples: Vec<Vec<ProbeSample>>) -> Samples {
        let names = ["health", "login"];
        Samples::memory(
            samples
                .into_iter()
                .enumerate()
                .flat_map(|(i, list)| {
                    list.into_iter()
                        .map(move |sample| crate::record::SampleRow {
                            probe: names[i].to_string(),
                            sample,
                        })
                })
                .collect(),
        )
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
            samples: rows(samples),
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
        let result = assemble(&plan(), happened(runs, vec![samples(0, |_| false), login]));
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
    fn samples_known_out_of_start_order_are_judged_in_start_order() {
        // The file lists samples as their results were known. A slow run
        // of health started at the fault (failing after 900 ms) ends after
        // a quick failure started later: the first failure is the one
        // started first; the timeline says when each change was known.
        let w = windows(1);
        let mut health = samples(0, |_| false);
        let at = health.iter().position(|s| s.t_ms >= w.apply_start).unwrap();
        health[at].ok = false;
        health[at].latency_ms = 900.0;
        health[at].status = None;
        health[at].error = Some("connection reset".into());
        health[at + 1].ok = false;
        health[at + 1].status = Some(503);
        let quick = health[at + 1].clone();
        let slow = health.remove(at);
        let known_after = health
            .iter()
            .position(|s| s.end_ms() > slow.end_ms())
            .unwrap();
        health.insert(known_after, slow.clone());
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let mut plan = plan();
        let fails_within = Expectation {
            check: Check::FailsWithin(crate::gameday::units::HumanDuration::from_secs(1)),
            ..plan.gameday.scenarios[1].expect[0].clone()
        };
        plan.gameday.scenarios[1].expect.push(fails_within);
        let result = assemble(&plan, happened(runs, vec![health, samples(1, |_| false)]));
        let first_failure = &result.scenarios[1].expectations[1];
        assert_eq!(first_failure.value, Some(slow.end_ms() - w.apply_start));
        let failing: Vec<&TimelineEntry> = result.scenarios[1]
            .timeline
            .iter()
            .filter(|t| t.text.starts_with("probe health"))
            .collect();
        let told: Vec<(f64, &str)> = failing.iter().map(|t| (t.t_ms, t.text.as_str())).collect();
        assert_eq!(
            told,
            vec![
                (quick.end_ms(), "probe health: failing (503 3ms)"),
                (quick.end_ms() + 100.0, "probe health: ok (200 3ms)"),
                (slow.end_ms(), "probe health: failing (connection reset)"),
                (slow.end_ms() + 3.0, "probe health: ok (200 3ms)"),
            ]
        );
    }

    #[test]
    fn every_expectation_met_is_exit_0() {
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let result = assemble(&plan(), happened(runs, healthy()));
        assert_eq!(result.outcome, RunOutcome::Met);
        assert_eq!(result.exit_code, 0);
        assert_eq!(result.summary.met, 2);
        assert!(
            result
                .scenarios
                .iter()
                .all(|s| s.verdict == ScenarioVerdict::Met)
        );
        let first = &result.scenarios[0].expectations[0];
        assert_eq!(first.check.as_deref(), Some("success_rate"));
        assert_eq!(first.unit, Some(Unit::Percent));
        assert_eq!(first.value, Some(100.0));
        let p99 = &result.scenarios[1].expectations[0];
        assert_eq!(
            (p99.check.as_deref(), p99.unit),
            (Some("latency_p99"), Some(Unit::Ms))
        );
        // Every sample is counted, per probe.
        assert_eq!(result.probes[0].samples, 350);
        assert_eq!(result.probes[1].samples, 350);
        assert_eq!(result.probes[0].samples, 350);
    }

    #[test]
    fn a_check_not_met_is_exit_1_and_says_what_was_measured() {
        // health fails through the first scenario's fault window.
        let w = windows(0);
        let health = samples(0, |t| t >= w.fault_start && t < w.revert_start);
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let result = assemble(&plan(), happened(runs, vec![health, samples(1, |_| false)]));
        assert_eq!(result.outcome, RunOutcome::NotMet);
        assert_eq!(result.exit_code, 1);
        let first = &result.scenarios[0];
        assert_eq!(first.verdict, ScenarioVerdict::NotMet);
        assert_eq!(first.expectations[0].verdict, CheckVerdict::NotMet);
        assert_eq!(first.expectations[0].value, Some(0.0));
        assert!(
            first.expectations[0].actual.contains("0 of 100 samples ok"),
            "{}",
            first.expectations[0].actual
        );
        assert_eq!(result.scenarios[1].verdict, ScenarioVerdict::Met);
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
        let result = assemble(&plan(), h);
        assert_eq!(result.outcome, RunOutcome::Aborted);
        assert_eq!(result.exit_code, 3);
        // Its checks are still evaluated, for the record; the verdict is the abort.
        assert_eq!(result.scenarios[0].verdict, ScenarioVerdict::Aborted);
        assert_eq!(result.scenarios[0].expectations.len(), 2);
        assert_eq!(result.scenarios[1].verdict, ScenarioVerdict::Skipped);
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
        let result = assemble(&plan(), h);
        assert_eq!((result.outcome, result.exit_code), (RunOutcome::Aborted, 3));
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
        let result = assemble(&plan(), h.clone());
        assert_eq!(
            (result.outcome, result.exit_code),
            (RunOutcome::FaultLeft, 4)
        );
        assert_eq!(result.summary.met, 2, "the verdicts stand");
        // Even when the run was also aborted.
        h.aborted_reason = Some("signal".into());
        let result = assemble(&plan(), h);
        assert_eq!(result.exit_code, 4);
    }

    #[test]
    fn a_fault_that_could_not_be_applied_is_an_error_not_a_verdict() {
        let runs = vec![ran(0, ScenarioStatus::Error), ran(1, ScenarioStatus::Ran)];
        let result = assemble(&plan(), happened(runs, healthy()));
        let first = &result.scenarios[0];
        assert_eq!(first.verdict, ScenarioVerdict::Error);
        assert!(first.expectations.is_empty(), "nothing to judge");
        assert_eq!(first.error.as_deref(), Some("cannot pause"));
        assert_eq!((result.outcome, result.exit_code), (RunOutcome::NotMet, 1));
    }

    #[test]
    fn a_window_without_samples_is_not_met() {
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
        let result = assemble(&plan(), happened(runs, vec![Vec::new(), Vec::new()]));
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
        let result = assemble(&plan(), happened(runs, vec![health, samples(1, |_| false)]));
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
