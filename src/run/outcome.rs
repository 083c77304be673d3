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
    /// scenario's place in `runs` and its probe (none for `detected_by`,
    /// handed its scenario's detection at the end).
    checks: Vec<(usize, Option<usize>, expect::Accumulator)>,
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
    /// Who noticed what, when: a small state per scenario run.
    detections: super::detection::Detections,
}

impl Folds {
    fn new(
        checks: Vec<(usize, Option<usize>, expect::Accumulator)>,
        effects: Vec<Vec<(usize, [expect::WindowSummary; 3])>>,
        detections: super::detection::Detections,
        probes: usize,
    ) -> Self {
        let mut checks_of = vec![Vec::new(); probes];
        for (c, (_, probe, _)) in checks.iter().enumerate() {
            if let Some(probe) = probe {
                checks_of[*probe].push(c);
            }
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
            detections,
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
        self.detections.push(i, s);
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
                    let probe = e.probe.as_ref();
                    let audit = run
                        .audits
                        .iter()
                        .find(|a| probe.is_some_and(|p| a.probe == p.name));
                    audit.inspect(|a| acc.read_back(a));
                    (k, probe.map(|p| p.id.0), acc)
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
        let windows: Vec<_> = runs.iter().map(|run| run.windows).collect();
        let detections = super::detection::Detections::new(plan, &windows);
        Folds {
            versions,
            ..Folds::new(checks, effects, detections, probes.len())
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
        detections,
        ..
    } = folds;
    let detections = detections.finish(
        plan,
        happened.runs.len(),
        &happened.observations,
        happened.started_at,
    );
    let mut evaluations: Vec<Vec<expect::Evaluation>> = vec![Vec::new(); happened.runs.len()];
    for (k, probe, mut acc) in checks {
        if let (None, Some((_, noticed))) = (probe, &detections[k]) {
            acc.noticed(noticed);
        }
        evaluations[k].push(acc.finish());
    }
    let judged = happened
        .runs
        .into_iter()
        .zip(evaluations)
        .zip(effects.iter_mut().map(std::mem::take))
        .zip(detections)
        .map(|(((mut run, evaluations), effects), detection)| {
            let (index, trial) = (run.index, run.trial.take());
            let mut result = scenario_result(plan, evaluations, effects, &timeline, run);
            result.detection = detection.map(|(d, _)| d);
            (result, index, trial)
        })
        .collect();
    let scenarios = super::trial_results::fold(plan, judged, &timeline);
    let summary = summary_of(&scenarios);
    let detection = crate::record::detection::DetectionSummary::of(
        scenarios.iter().filter_map(|s| s.detection.as_ref()),
    );
    let outcome = outcome(
        &summary,
        happened.aborted_reason.is_some(),
        !happened.faults_left.is_empty(),
    );
    let checklist = crate::record::result::checklist_of(&scenarios);
    RunResult {
        schema_version: SCHEMA_VERSION,
        gameday: gameday_info(plan, happened.file, &happened.run_id),
        run_id: happened.run_id,
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
        detection,
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
/// the command line, its scope; its recording, the file's or else the
/// run's replay in the live room.
fn gameday_info(plan: &Plan, file: String, run_id: &str) -> GamedayInfo {
    let g = &plan.gameday;
    GamedayInfo {
        title: g.gameday.clone(),
        description: g.description.clone(),
        participants: g.participants.clone(),
        environment: g.environment.clone(),
        recording: g.recording.clone().or_else(|| {
            Some(format!(
                "replay: gameday watch {run_id} --speed 4x (--out: the folder of this run's directory)"
            ))
        }),
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
        detection: None,
    }
}

#[cfg(test)]
mod tests;
