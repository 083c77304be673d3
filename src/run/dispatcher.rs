//! The dispatcher of a run: one loop owns the run state. It waits out each
//! phase while taking in samples, typed lines and signals, checks halt
//! conditions, runs the baseline and then each scenario in order. It never
//! prints: it sends [`RunEvent`]s to the view and journals what recovery
//! and the report need.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::operator::{self, Operator};
use super::outcome::{Happened, ScenarioRun};
use super::view::RunEvent;
use crate::docker::Engines;
use crate::exit;
use crate::gameday::model::{HaltCondition, StopCondition};
use crate::plan::Plan;
use crate::probe::{Clock, ProbeSample};
use crate::record::Samples;
use crate::record::journal::{Journal, JournalEntry};
use crate::record::result::{FaultLeft, Observation, SteadyState, TimelineEntry};
use crate::record::samples::SampleWriter;
use crate::safety::watchdog::link::Watchdogs;

/// Why waiting for the end of a phase stopped early.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Interrupt {
    Halt(String),
    Signal,
}

/// How a piece of work raced against the run's stop sources ended.
pub(super) enum Raced<T> {
    Done(T),
    /// The work was dropped where it stood.
    Interrupted(Interrupt),
}

/// Why a wait of the dispatcher ended.
pub(super) enum Waited {
    Deadline,
    Interrupted(Interrupt),
    /// A line someone typed (only when the wait asked for one).
    Line(operator::Said),
}

pub(super) struct Dispatcher {
    pub(super) run_id: String,
    pub(super) plan: Plan,
    pub(super) engines: Engines,
    pub(super) clock: Clock,
    pub(super) journal: Journal,
    events: mpsc::UnboundedSender<RunEvent>,
    samples_rx: mpsc::UnboundedReceiver<ProbeSample>,
    signals: mpsc::UnboundedReceiver<u32>,
    pub(super) signal_count: u32,
    /// Every sample goes to `samples.jsonl` as it arrives; none is kept.
    samples_out: SampleWriter,
    /// Per probe, the samples of the baseline, kept until the steady state
    /// is judged (then `None`): the only samples held in memory.
    baseline_samples: Option<Vec<Vec<ProbeSample>>>,
    last_ok: Vec<Option<bool>>,
    failing_since: Vec<Option<f64>>,
    timeline: Vec<TimelineEntry>,
    pub(super) faults_left: Vec<FaultLeft>,
    /// Lines typed at the terminal, when someone can type.
    pub(super) input: Option<mpsc::Receiver<operator::Said>>,
    pub(super) operator: Option<Operator>,
    /// The scenario running, for observations.
    pub(super) current_scenario: Option<String>,
    pub(super) observations: Vec<Observation>,
    /// The dead man's switch of each engine that receives faults.
    pub(super) watchdogs: Watchdogs,
    /// Reasons to stop the whole run that come from outside the loop: a
    /// watchdog fired or is gone, someone ran `gameday halt`.
    stops: mpsc::UnboundedReceiver<String>,
    /// The team's webhooks and dashboards.
    pub(super) notify: crate::notify::Notify,
    /// Failed samples per probe since the run started (`error_budget`).
    failures: Vec<u64>,
    /// A `stop_if` condition that held, once seen: it stops the run.
    stopped: Option<String>,
    /// Exec probes take turns with this run's pauses (see `probe::ExecGate`).
    pub(super) exec_gate: std::sync::Arc<crate::probe::ExecGate>,
    /// Where windows begin and end, told to load probes as reached.
    pub(super) window_cuts: std::sync::Arc<crate::probe::load::WindowCuts>,
    /// The rates a capacity search sets its load probe to, per trial.
    pub(super) rate_dials: std::sync::Arc<crate::probe::load::RateDials>,
    /// The ledger probes' books: read back after each scenario.
    pub(super) ledgers: crate::probe::ledger::Ledgers,
    /// The trial under way of a scenario run as trials (1-based).
    pub(super) trial: Option<usize>,
    /// A search trial's `until` probe samples, held until it is judged.
    pub(super) held: Option<super::trials::HeldSamples>,
    /// Between two trials: how each probe fared over the window.
    pub(super) window: Option<super::trials::SteadyWindow>,
    /// The baseline samples of the probes a search's `until` judges (a
    /// relative `until` compares with them), kept past the baseline.
    kept: Vec<(usize, Vec<ProbeSample>)>,
}

/// Listen for SIGINT/SIGTERM: forward the count; on the third, exit at once.
fn spawn_signal_listener() -> mpsc::UnboundedReceiver<u32> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut count = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            count += 1;
            if count >= 3 {
                // Faults may still be in place: this is not "aborted, every
                // fault reverted".
                eprintln!(
                    "third signal: exiting now; faults this run applied may still be in place: its watchdog reverts them as soon as this process is gone, and `gameday recover` (same --out) reverts whatever is left"
                );
                std::process::exit(i32::from(exit::FAULT_LEFT));
            }
            let _ = tx.send(count);
        }
    });
    rx
}

/// `+12.3s` since the start of the run.
pub(super) fn offset(t_ms: f64) -> String {
    format!("+{:.1}s", t_ms / 1000.0)
}

impl Dispatcher {
    #[expect(clippy::too_many_arguments, reason = "built once, in `run`")]
    pub(super) fn new(
        run_id: String,
        plan: Plan,
        engines: Engines,
        clock: Clock,
        journal: Journal,
        events: mpsc::UnboundedSender<RunEvent>,
        samples_rx: mpsc::UnboundedReceiver<ProbeSample>,
        samples_out: SampleWriter,
        operator: Option<Operator>,
        input: Option<mpsc::Receiver<operator::Said>>,
        watchdogs: Watchdogs,
        stops: mpsc::UnboundedReceiver<String>,
        notify: crate::notify::Notify,
        exec_gate: std::sync::Arc<crate::probe::ExecGate>,
    ) -> Dispatcher {
        let n = plan.gameday.probes.0.len();
        Dispatcher {
            run_id,
            plan,
            engines,
            clock,
            journal,
            events,
            samples_rx,
            signals: spawn_signal_listener(),
            signal_count: 0,
            samples_out,
            baseline_samples: Some(vec![Vec::new(); n]),
            last_ok: vec![None; n],
            failing_since: vec![None; n],
            timeline: Vec::new(),
            faults_left: Vec::new(),
            input,
            operator,
            current_scenario: None,
            observations: Vec::new(),
            watchdogs,
            stops,
            notify,
            failures: vec![0; n],
            stopped: None,
            exec_gate,
            window_cuts: std::sync::Arc::default(),
            rate_dials: std::sync::Arc::default(),
            ledgers: Default::default(),
            trial: None,
            held: None,
            window: None,
            kept: Vec::new(),
        }
    }

    /// A window begins or ends at `ms`: load probes close their interval
    /// there, so each window's figures are whole intervals.
    pub(super) fn cut_at(&self, ms: Option<f64>) {
        if let Some(ms) = ms {
            self.window_cuts.cut(ms);
        }
    }

    pub(super) fn now_ms(&self) -> f64 {
        self.clock.ms(Instant::now())
    }

    /// A line of the timeline, shown as it happens.
    pub(super) fn note(&mut self, text: String) {
        let t_ms = self.now_ms();
        self.timeline.push(TimelineEntry {
            t_ms,
            offset: offset(t_ms),
            text: text.clone(),
        });
        let _ = self
            .events
            .send(RunEvent::Note(format!("{} {text}", offset(t_ms))));
    }

    pub(super) fn phase(&mut self, scenario: Option<&str>, label: String, until: Option<Instant>) {
        let now = Utc::now();
        let _ = self.journal.append_lazily(&JournalEntry::Phase {
            scenario: scenario.map(String::from),
            phase: label.clone(),
            at: now,
            until: until.and_then(|u| {
                chrono::Duration::from_std(u.saturating_duration_since(Instant::now()))
                    .ok()
                    .map(|left| now + left)
            }),
        });
        let _ = self.events.send(RunEvent::Phase { label, until });
    }

    fn record(&mut self, sample: ProbeSample) {
        let i = sample.probe;
        if self.last_ok[i] != Some(sample.ok) {
            let _ = self.journal.append_lazily(&JournalEntry::ProbeChanged {
                probe: self.plan.gameday.probes.0[i].name.clone(),
                ok: sample.ok,
                detail: sample.brief(),
                at: sample.at,
            });
            self.last_ok[i] = Some(sample.ok);
        }
        if sample.ok {
            self.failing_since[i] = None;
        } else {
            // A load interval spends one failure per failed request.
            let (n, ok) = sample.requests();
            self.failures[i] += n - ok;
            if self.failing_since[i].is_none() {
                self.failing_since[i] = Some(sample.t_ms);
            }
        }
        if self.stopped.is_none() {
            self.stopped = self.stop_by_sample(&sample);
        }
        let _ = self.events.send(RunEvent::Sample {
            probe: i,
            ok: sample.ok,
            brief: sample.brief(),
        });
        self.samples_out
            .write(&self.plan.gameday.probes.0[i].name, &sample);
        if let Some(held) = &mut self.held {
            held.take(&sample);
        }
        if let Some(window) = &mut self.window {
            window.take(&sample);
        }
        if let Some(baseline) = &mut self.baseline_samples {
            baseline[i].push(sample);
        }
    }

    /// The baseline samples kept for probe `i` (see `kept`).
    pub(super) fn kept_baseline(&self, i: usize) -> Vec<ProbeSample> {
        self.kept
            .iter()
            .find(|(p, _)| *p == i)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    /// Keep the baseline samples of the probes a search's `until` judges.
    fn keep_for_searches(&mut self) {
        let mut probes: Vec<usize> = self
            .plan
            .gameday
            .scenarios
            .iter()
            .filter_map(|s| s.search.as_ref())
            .map(|s| s.until.probe.id.0)
            .collect();
        probes.sort_unstable();
        probes.dedup();
        self.kept = probes
            .into_iter()
            .map(|i| (i, self.baseline_of(i).to_vec()))
            .collect();
    }

    /// The baseline samples of probe `i` (none once the steady state is judged).
    fn baseline_of(&self, i: usize) -> &[ProbeSample] {
        self.baseline_samples
            .as_ref()
            .map_or(&[], |b| b[i].as_slice())
    }

    fn check_halt(&self, conditions: &[HaltCondition]) -> Option<String> {
        let now = self.now_ms();
        conditions.iter().find_map(|c| {
            let since = self.failing_since[c.probe.id.0]?;
            let limit = c.failing_for.as_std().as_secs_f64() * 1000.0;
            (now - since >= limit).then(|| {
                format!(
                    "halt_if: probe `{}` has been failing for {} (since {})",
                    c.probe,
                    c.failing_for,
                    offset(since)
                )
            })
        })
    }

    /// A `stop_if` condition this sample makes true: an alert firing, an
    /// error budget spent.
    fn stop_by_sample(&self, sample: &ProbeSample) -> Option<String> {
        let i = sample.probe;
        self.plan.gameday.stop_if.iter().find_map(|c| match c {
            StopCondition::Alert { alert, probes }
                if sample.value == Some(1.0) && probes.iter().any(|p| p.id.0 == i) =>
            {
                Some(format!(
                    "stop_if: alert `{alert}` started firing at {} (probe `{}`)",
                    offset(sample.t_ms),
                    self.plan.gameday.probes.0[i].name
                ))
            }
            StopCondition::ErrorBudget { error_budget }
                if error_budget.probe.id.0 == i && self.failures[i] >= error_budget.failures =>
            {
                Some(format!(
                    "stop_if: probe `{}` spent its error budget of {} failures (the last at {})",
                    error_budget.probe,
                    error_budget.failures,
                    offset(sample.t_ms)
                ))
            }
            StopCondition::Alert { .. }
            | StopCondition::ErrorBudget { .. }
            | StopCondition::ProbeFailing { .. }
            | StopCondition::File { .. } => None,
        })
    }

    /// A `stop_if` condition that holds now, by time: a probe failing for
    /// long enough, a kill-switch file present.
    fn stop_by_time(&self) -> Option<String> {
        let now = self.now_ms();
        self.plan.gameday.stop_if.iter().find_map(|c| match c {
            StopCondition::ProbeFailing { probe, failing_for } => {
                let since = self.failing_since[probe.id.0]?;
                (now - since >= failing_for.as_std().as_secs_f64() * 1000.0).then(|| {
                    format!(
                        "stop_if: probe `{probe}` has been failing for {failing_for} (since {})",
                        offset(since)
                    )
                })
            }
            StopCondition::File { file } => std::path::Path::new(file).exists().then(|| {
                format!(
                    "stop_if: the kill-switch file {file} appeared (seen at {})",
                    offset(now)
                )
            }),
            StopCondition::Alert { .. } | StopCondition::ErrorBudget { .. } => None,
        })
    }

    /// Why the whole run must stop now, if it must: a `stop_if` condition.
    fn stop_condition(&mut self) -> Option<String> {
        if self.stopped.is_none() {
            self.stopped = self.stop_by_time();
        }
        self.stopped.clone()
    }

    /// Wait until `deadline`, taking in samples; stop early on a halt
    /// condition or a signal. Lines typed meanwhile are observations.
    pub(super) async fn wait_until(
        &mut self,
        deadline: Instant,
        halt: &[HaltCondition],
    ) -> Option<Interrupt> {
        match self.wait(deadline, halt, false).await {
            Waited::Deadline | Waited::Line(_) => None,
            Waited::Interrupted(i) => Some(i),
        }
    }

    /// The one waiting loop of the dispatcher: samples are taken in and
    /// `halt` checked until `deadline`, a signal, or (with `want_line`) a
    /// non-empty line typed at the terminal; without `want_line` a typed
    /// line is recorded as an observation and the wait goes on.
    pub(super) async fn wait(
        &mut self,
        deadline: Instant,
        halt: &[HaltCondition],
        want_line: bool,
    ) -> Waited {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Waited::Deadline,
                Some(sample) = self.samples_rx.recv() => {
                    self.record(sample);
                    if let Some(reason) = self.stopped.clone().or_else(|| self.check_halt(halt)) {
                        return Waited::Interrupted(Interrupt::Halt(reason));
                    }
                }
                Some(reason) = self.stops.recv() => {
                    self.stopped.get_or_insert(reason.clone());
                    return Waited::Interrupted(Interrupt::Halt(reason));
                }
                Some(count) = self.signals.recv() => {
                    self.signal_count = count;
                    return Waited::Interrupted(Interrupt::Signal);
                }
                Some(said) = operator::next_line(&mut self.input) => {
                    if said.text.trim().is_empty() {
                        continue;
                    }
                    if want_line {
                        return Waited::Line(said);
                    }
                    self.observe(&said, None);
                }
                _ = tick.tick() => {
                    self.samples_out.flush_if_due();
                    if let Some(reason) = self.stop_condition().or_else(|| self.check_halt(halt)) {
                        return Waited::Interrupted(Interrupt::Halt(reason));
                    }
                }
            }
        }
    }

    /// Wait for the next interrupt (a signal, a stop from outside, a
    /// `stop_if` or `halt` condition), taking in samples meanwhile.
    async fn next_interrupt(&mut self, halt: &[HaltCondition]) -> Interrupt {
        loop {
            let far = Instant::now() + Duration::from_secs(3600);
            match self.wait(far, halt, false).await {
                Waited::Interrupted(interrupt) => return interrupt,
                Waited::Deadline | Waited::Line(_) => {}
            }
        }
    }

    /// An interrupt already come (a signal, a stop from outside, a
    /// condition that holds now), without waiting for one.
    pub(super) async fn pending_interrupt(&mut self, halt: &[HaltCondition]) -> Option<Interrupt> {
        tokio::select! {
            biased;
            interrupt = self.next_interrupt(halt) => Some(interrupt),
            // Ready at its second poll: by then the loop has taken in
            // everything already delivered.
            () = tokio::task::yield_now() => None,
        }
    }

    /// Do `work` (a long step: applying a fault, waiting for a worker to
    /// be ready, a script) while the dispatcher goes on taking in samples
    /// and watching its stop sources: an interrupt drops the work where it
    /// stands, within the dispatcher's tick, and says why. Work that does
    /// not borrow the dispatcher, so the caller undoes what it left.
    pub(super) async fn racing<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
        halt: &[HaltCondition],
    ) -> Raced<T> {
        tokio::select! {
            // Work that is done is taken as done; an interrupt then comes
            // at the next wait.
            biased;
            done = work => Raced::Done(done),
            interrupt = self.next_interrupt(halt) => Raced::Interrupted(interrupt),
        }
    }

    /// Take in samples already delivered, without waiting.
    fn drain(&mut self) {
        while let Ok(sample) = self.samples_rx.try_recv() {
            self.record(sample);
        }
    }

    /// Take in every sample until the probes are gone.
    pub(super) async fn drain_all(&mut self) {
        while let Some(sample) = self.samples_rx.recv().await {
            self.record(sample);
        }
    }

    /// The baseline, then every scenario in order until one stops the run.
    pub(super) async fn execute(&mut self) -> (SteadyState, Vec<ScenarioRun>, Option<String>) {
        let baseline = self.plan.gameday.defaults.baseline.as_std();
        let baseline_end = self.clock.start + baseline;
        self.cut_at(Some(self.clock.ms(baseline_end)));
        self.phase(
            None,
            format!(
                "baseline {}: checking the steady state",
                self.plan.gameday.defaults.baseline
            ),
            Some(baseline_end),
        );
        let interrupted = self.wait_until(baseline_end, &[]).await;
        // Runs started in the baseline may still be in flight: give them
        // up to their timeout to report.
        let longest = self.plan.gameday.probes.longest_timeout();
        if interrupted.is_none() {
            let grace_end = Instant::now() + longest.min(Duration::from_secs(2));
            while Instant::now() < grace_end && !self.baseline_complete(baseline) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.drain();
            }
        }
        self.drain();
        let steady = self.steady_state(baseline);
        self.keep_for_searches();
        self.baseline_samples = None;
        let baseline_ms = self.clock.ms(baseline_end);
        let scenario_count = self.plan.gameday.scenarios.len();
        if let Some(interrupt) = interrupted {
            let reason = match interrupt {
                Interrupt::Halt(why) => format!("{why}, during the baseline; no fault was applied"),
                Interrupt::Signal => {
                    "interrupted during the baseline; no fault was applied".to_string()
                }
            };
            self.note(reason.clone());
            return (
                steady,
                ScenarioRun::skipped(0..scenario_count),
                Some(reason),
            );
        }
        if !steady.met {
            let reason = format!(
                "the steady state was not met during the {} baseline, so no fault was applied: {}",
                self.plan.gameday.defaults.baseline,
                steady
                    .details
                    .iter()
                    .filter(|d| !d.contains(": all "))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            self.note(reason.clone());
            return (
                steady,
                ScenarioRun::skipped(0..scenario_count),
                Some(reason),
            );
        }

        let mut runs = Vec::new();
        let mut aborted = None;
        for index in 0..scenario_count {
            let (trials, stop) = self.trials(index, baseline_ms).await;
            runs.extend(trials);
            // A stop condition seen in a cooldown stops what is left too.
            if let Some(reason) = stop.or_else(|| self.stopped.clone()) {
                let mut rest = ScenarioRun::skipped(index + 1..scenario_count);
                for r in &mut rest {
                    r.error = Some(format!("not run: {reason}"));
                }
                runs.extend(rest);
                aborted = Some(reason);
                break;
            }
        }
        (steady, runs, aborted)
    }

    fn baseline_complete(&self, baseline: Duration) -> bool {
        let end = self.clock.ms(self.clock.start + baseline);
        // Complete when every probe has a sample started in the last tick
        // before the end of the baseline.
        self.plan.gameday.probes.0.iter().enumerate().all(|(i, p)| {
            let every = p.every.as_std().as_secs_f64() * 1000.0;
            self.baseline_of(i)
                .iter()
                .any(|s| s.t_ms < end && s.t_ms >= end - every)
        })
    }

    fn steady_state(&self, baseline: Duration) -> SteadyState {
        let end = self.clock.ms(self.clock.start + baseline);
        let mut met = true;
        let details = self
            .plan
            .gameday
            .probes
            .0
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let window: Vec<&ProbeSample> = self
                    .baseline_of(i)
                    .iter()
                    .filter(|s| s.t_ms < end)
                    .collect();
                let ok = window.iter().filter(|s| s.ok).count();
                if window.is_empty() {
                    met = false;
                    format!("{}: no sample during the baseline", p.name)
                } else if ok == window.len() {
                    format!("{}: all {} samples ok", p.name, window.len())
                } else {
                    met = false;
                    let last_error = window
                        .iter()
                        .rev()
                        .find(|s| !s.ok)
                        .map(|s| s.brief())
                        .unwrap_or_default();
                    format!(
                        "{}: {} of {} samples failed (last: {last_error})",
                        p.name,
                        window.len() - ok,
                        window.len()
                    )
                }
            })
            .collect();
        SteadyState {
            met,
            baseline_ms: baseline.as_secs_f64() * 1000.0,
            details,
        }
    }

    /// Hand over what happened, for [`super::outcome::assemble`], with the
    /// plan and the journal.
    pub(super) fn finish(
        mut self,
        run_id: String,
        file: String,
        steady: SteadyState,
        runs: Vec<ScenarioRun>,
        aborted_reason: Option<String>,
    ) -> (Plan, Journal, Watchdogs, Happened) {
        let duration_ms = self.now_ms();
        let mut timeline = std::mem::take(&mut self.timeline);
        let path = self.samples_out.path().to_path_buf();
        if let Err(e) = self.samples_out.finish() {
            timeline.push(TimelineEntry {
                t_ms: duration_ms,
                offset: offset(duration_ms),
                text: format!(
                    "samples could not all be written to {}: {e}; checks over the missing samples read as empty windows",
                    path.display()
                ),
            });
        }
        let happened = Happened {
            run_id,
            file,
            started_at: self.clock.start_wall,
            ended_at: Utc::now(),
            duration_ms,
            steady,
            runs,
            aborted_reason,
            samples: Samples::file(path),
            timeline,
            faults_left: std::mem::take(&mut self.faults_left),
            observations: std::mem::take(&mut self.observations),
        };
        (self.plan, self.journal, self.watchdogs, happened)
    }
}
