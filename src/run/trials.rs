//! A scenario run as trials: `repeat: n` runs its walk n times; `search:`
//! runs it once per value the bisection ([`super::bisect`]) asks for,
//! with that value's faults, judging `until` on each trial as soon as it
//! ended (its probe's samples are held for the trial, and the baseline's
//! for a relative `until`). Between two trials the system must be steady
//! again: every probe all ok over a baseline-long window (two tries);
//! else the trials stop and say why. Each trial is a [`ScenarioRun`] of
//! its own, marked with its [`Trial`]; the outcome folds them back into
//! one scenario ([`super::trial_results`]).

use std::time::Duration;

use tokio::time::Instant;

use super::bisect::{Bisection, Found, Next};
use super::dispatcher::{Dispatcher, Interrupt};
use super::outcome::{ScenarioRun, ScenarioStatus};
use crate::expect::{Accumulator, CheckVerdict, Evaluation};
use crate::gameday::model::Search;
use crate::probe::ProbeSample;

/// The most samples of `until`'s probe held for one trial.
const MOST_HELD: usize = 200_000;
/// How many baseline-long windows a system may take to be steady again.
const STEADY_TRIES: usize = 2;

/// Which trial of its scenario a run is.
#[derive(Debug, Clone)]
pub(crate) struct Trial {
    /// 1-based.
    pub number: usize,
    /// When it began to be prepared (the steady-state wait before it
    /// included), in ms since the run started.
    pub since_ms: f64,
    /// A search's value: its place on the grid, the value, its text.
    pub point: Option<(usize, f64, String)>,
    /// A search's `until`, judged on this trial.
    pub until: Option<Evaluation>,
    /// Set on the last trial of the scenario: how the trials ended.
    pub end: Option<TrialsEnd>,
}

/// How a scenario's trials ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrialsEnd {
    /// A search's finding (none when it stopped first).
    pub found: Option<Found>,
    /// Why the trials stopped before their end.
    pub stopped: Option<String>,
}

/// Whether the system was steady again between two trials.
enum Steady {
    Yes,
    /// Not within the tries: the trials stop, the run goes on.
    No(String),
    /// A halt or a signal: the run stops.
    Interrupted(String),
}

/// The samples of one probe held for a trial.
#[derive(Debug)]
pub(super) struct HeldSamples {
    pub(super) probe: usize,
    pub(super) samples: Vec<ProbeSample>,
}

impl HeldSamples {
    pub(super) fn take(&mut self, sample: &ProbeSample) {
        if sample.probe == self.probe && self.samples.len() < MOST_HELD {
            self.samples.push(sample.clone());
        }
    }
}

/// Samples of every probe held over a window (the steady-state check
/// between trials).
#[derive(Debug)]
pub(super) struct SteadyWindow {
    pub(super) from_ms: f64,
    pub(super) per_probe: Vec<(usize, usize, Option<String>)>,
}

impl SteadyWindow {
    pub(super) fn take(&mut self, sample: &ProbeSample) {
        if sample.t_ms < self.from_ms {
            return;
        }
        if let Some((n, ok, last_error)) = self.per_probe.get_mut(sample.probe) {
            *n += 1;
            if sample.ok {
                *ok += 1;
            } else {
                *last_error = Some(sample.brief());
            }
        }
    }
}

impl Dispatcher {
    /// A fault's id in the journal: `s1-f2-<container>`, and in a trial
    /// `s1-t3-f2-<container>`: each trial's faults are their own.
    pub(super) fn fault_id(
        &self,
        index: usize,
        f: usize,
        container: &crate::docker::ContainerInfo,
    ) -> String {
        match self.trial {
            Some(t) => format!("s{}-t{t}-f{}-{}", index + 1, f + 1, container.short_id()),
            None => format!("s{}-f{}-{}", index + 1, f + 1, container.short_id()),
        }
    }

    /// Scenario `index`: one walk, or its trials. Returns the runs and a
    /// reason when the whole run must stop.
    pub(super) async fn trials(
        &mut self,
        index: usize,
        baseline_ms: f64,
    ) -> (Vec<ScenarioRun>, Option<String>) {
        let scenario = &self.plan.gameday.scenarios[index];
        match (scenario.search.clone(), scenario.repeat) {
            (Some(search), _) => {
                let searched = self.search(index, baseline_ms, &search).await;
                self.restore_faults(index);
                searched
            }
            (None, Some(times)) => self.repeat(index, baseline_ms, times as usize).await,
            (None, None) => {
                let (run, stop) = self.scenario(index, baseline_ms).await;
                (vec![run], stop)
            }
        }
    }

    async fn repeat(
        &mut self,
        index: usize,
        baseline_ms: f64,
        times: usize,
    ) -> (Vec<ScenarioRun>, Option<String>) {
        let mut runs: Vec<ScenarioRun> = Vec::new();
        for number in 1..=times {
            let since_ms = self.now_ms();
            if number > 1 {
                match self.steady_again(index, number).await {
                    Steady::Yes => {}
                    unsteady => return self.unsteady(runs, unsteady),
                }
            }
            self.trial = Some(number);
            let label = format!("trial {number} of {times}");
            self.note(label);
            let (mut run, stop) = self.scenario(index, baseline_ms).await;
            run.trial = Some(Trial {
                number,
                since_ms,
                point: None,
                until: None,
                end: (number == times).then(TrialsEnd::default),
            });
            runs.push(run);
            if stop.is_some() {
                return (self.ended(runs, None, None), stop);
            }
        }
        self.trial = None;
        (runs, None)
    }

    async fn search(
        &mut self,
        index: usize,
        baseline_ms: f64,
        search: &Search,
    ) -> (Vec<ScenarioRun>, Option<String>) {
        let mut bisection = Bisection::new(search.points.len(), search.confirm);
        let most = search.most_trials();
        let mut runs: Vec<ScenarioRun> = Vec::new();
        let found = loop {
            let point = match bisection.next() {
                Next::Done(found) => break found,
                Next::Try(point) => point,
            };
            let number = runs.len() + 1;
            let since_ms = self.now_ms();
            if number > 1 {
                match self.steady_again(index, number).await {
                    Steady::Yes => {}
                    unsteady => return self.unsteady(runs, unsteady),
                }
            }
            let Some(p) = search.points.get(point) else {
                return self.trials_stopped(runs, format!("no value at {point} on the grid"));
            };
            for (resolved, fault) in self.plan.scenarios[index].faults.iter_mut().zip(&p.faults) {
                resolved.fault = fault.clone();
            }
            self.trial = Some(number);
            self.note(format!(
                "trial {number} of at most {most}: {} = {}",
                search.vary, p.said
            ));
            self.held = Some(HeldSamples {
                probe: search.until.probe.id.0,
                samples: self.kept_baseline(search.until.probe.id.0),
            });
            if let Some(load) = &search.load {
                self.rate_dials.set(load.id.0, Some(p.value));
            }
            let (mut run, stop) = self.scenario(index, baseline_ms).await;
            if let Some(load) = &search.load {
                self.rate_dials.set(load.id.0, None);
            }
            let held = self.held.take();
            let until = match (&run.status, &run.windows, held) {
                (ScenarioStatus::Ran, Some(windows), Some(mut held)) => {
                    held.samples.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
                    let mut acc = Accumulator::new(&search.until, windows);
                    for s in &held.samples {
                        if acc.wants(s.t_ms) {
                            acc.push(s);
                        }
                    }
                    Some(acc.finish())
                }
                _ => None,
            };
            let verdict = until.as_ref().map(|u| (u.verdict, u.value.is_some()));
            let said = until.as_ref().map(|u| u.actual.clone());
            run.trial = Some(Trial {
                number,
                since_ms,
                point: Some((point, p.value, p.said.clone())),
                until,
                end: None,
            });
            runs.push(run);
            if stop.is_some() {
                return (self.ended(runs, None, None), stop);
            }
            match verdict {
                Some((verdict, true)) => {
                    let broke = verdict == CheckVerdict::Met;
                    self.note(format!(
                        "{} = {}: {} ({})",
                        search.vary,
                        p.said,
                        if broke { "broke" } else { "held" },
                        said.unwrap_or_default()
                    ));
                    bisection.record(point, broke);
                }
                Some((_, false)) => {
                    let why = format!(
                        "trial {number} ({} = {}) could not be judged: {}",
                        search.vary,
                        p.said,
                        said.unwrap_or_default()
                    );
                    return self.trials_stopped(runs, why);
                }
                None => {
                    let why = format!(
                        "trial {number} ({} = {}) did not run to its end",
                        search.vary, p.said
                    );
                    return self.trials_stopped(runs, why);
                }
            }
        };
        let runs = self.ended(runs, Some(found), None);
        (runs, None)
    }

    /// After a search, its faults as the plan made them (the top of the
    /// range), whatever the last trial tried.
    fn restore_faults(&mut self, index: usize) {
        let faults = self.plan.gameday.scenarios[index].faults.clone();
        for (resolved, fault) in self.plan.scenarios[index].faults.iter_mut().zip(faults) {
            resolved.fault = fault;
        }
    }

    /// Not steady again before a trial: the trials stop, and the run too
    /// when it was a halt or a signal.
    fn unsteady(
        &mut self,
        runs: Vec<ScenarioRun>,
        steady: Steady,
    ) -> (Vec<ScenarioRun>, Option<String>) {
        match steady {
            Steady::Interrupted(why) => (self.ended(runs, None, Some(why.clone())), Some(why)),
            Steady::No(why) => self.trials_stopped(runs, why),
            Steady::Yes => (self.ended(runs, None, None), None),
        }
    }

    /// The trials stopped early (not the run): said, and marked on the last.
    fn trials_stopped(
        &mut self,
        runs: Vec<ScenarioRun>,
        why: String,
    ) -> (Vec<ScenarioRun>, Option<String>) {
        self.note(format!("trials stopped: {why}"));
        (self.ended(runs, None, Some(why)), None)
    }

    /// Mark the last trial with how the trials ended.
    fn ended(
        &mut self,
        mut runs: Vec<ScenarioRun>,
        found: Option<Found>,
        stopped: Option<String>,
    ) -> Vec<ScenarioRun> {
        self.trial = None;
        self.held = None;
        if let Some(trial) = runs.last_mut().and_then(|r| r.trial.as_mut()) {
            trial.end = Some(TrialsEnd { found, stopped });
        }
        runs
    }

    /// Before trial `number`: wait until every probe was all ok over a
    /// baseline-long window (at most [`STEADY_TRIES`] windows).
    async fn steady_again(&mut self, index: usize, number: usize) -> Steady {
        let length = self.plan.gameday.defaults.baseline.as_std();
        let name = self.plan.gameday.scenarios[index].name.clone();
        let probes = self.plan.gameday.probes.0.len();
        let mut last = String::new();
        for attempt in 1..=STEADY_TRIES {
            let until = Instant::now() + length;
            self.phase(
                Some(&name),
                format!("steady state again before trial {number} ({attempt}/{STEADY_TRIES})"),
                Some(until),
            );
            self.window = Some(SteadyWindow {
                from_ms: self.now_ms(),
                per_probe: vec![(0, 0, None); probes],
            });
            let interrupted = self.wait_until(until, &[]).await;
            // Runs started in the window may still be in flight: a
            // moment for the quick ones (a slow one counts next time).
            let grace = self
                .plan
                .gameday
                .probes
                .longest_timeout()
                .min(Duration::from_millis(500));
            if interrupted.is_none() {
                let _ = self.wait_until(Instant::now() + grace, &[]).await;
            }
            let window = self.window.take();
            match interrupted {
                Some(Interrupt::Halt(why)) => return Steady::Interrupted(why),
                Some(Interrupt::Signal) => {
                    return Steady::Interrupted(format!(
                        "interrupted by a signal before trial {number}; every fault was reverted"
                    ));
                }
                None => {}
            }
            let Some(window) = window else {
                return Steady::No("the steady-state window was lost".to_string());
            };
            let unsteady: Vec<String> = window
                .per_probe
                .iter()
                .enumerate()
                .filter(|(_, (n, ok, _))| *n == 0 || ok < n)
                .map(|(i, (n, ok, last_error))| {
                    let probe = &self.plan.gameday.probes.0[i].name;
                    match last_error {
                        _ if *n == 0 => format!("{probe}: no sample"),
                        Some(e) => format!("{probe}: {} of {n} failed (last: {e})", n - ok),
                        None => format!("{probe}: {} of {n} failed", n - ok),
                    }
                })
                .collect();
            if unsteady.is_empty() {
                return Steady::Yes;
            }
            last = unsteady.join("; ");
        }
        Steady::No(format!(
            "the system was not steady again before trial {number} ({STEADY_TRIES} windows of {}): {last}",
            self.plan.gameday.defaults.baseline
        ))
    }
}
