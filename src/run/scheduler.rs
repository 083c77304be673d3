//! The dispatcher of a run. One loop owns the run state: it starts the
//! probes, waits out each phase while taking in samples and signals, applies
//! and reverts faults (journalling each recipe before the fault), and in the
//! end evaluates the expectations and writes the run directory. It never
//! prints: it sends [`RunEvent`]s to the view.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::journal::{Journal, JournalEntry};
use super::view::RunEvent;
use crate::docker::ContainerInfo;
use crate::docker::Engines;
use crate::exit;
use crate::expect::{self, Windows, fmt_ms};
use crate::fault::{self, AppliedFault};
use crate::gameday::model::{HaltCondition, ManualStep, Pick, Scenario, Step, Window};
use crate::plan::{Plan, describe_fault};
use crate::probe::{self, Clock, ProbeRunner, ProbeSample};
use crate::report::{self, result::*};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub file: String,
    pub out: PathBuf,
    pub template_dir: Option<PathBuf>,
    /// Whether a person at a terminal can answer manual steps and type
    /// observations; without one, manual steps are skipped (the command
    /// line refuses to start them unless told `--non-interactive=skip`).
    pub operator: Option<Operator>,
}

/// The person at the terminal: who a typed line is attributed to unless it
/// starts with a participant's name (`Sam: error rate at 4%`).
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
}

/// Reads lines typed at the terminal, for manual steps and observations.
fn spawn_operator_input() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    // A plain thread: stdin reads block, and must not hold a runtime worker.
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        while let Ok(n) = std::io::BufRead::read_line(&mut stdin.lock(), &mut line) {
            if n == 0 || tx.send(line.trim().to_string()).is_err() {
                break;
            }
            line.clear();
        }
    });
    rx
}

/// Who wrote `line`: a participant named at its start (`Sam: ...` or
/// `Sam (observer): ...`), else the operator.
fn attribute(line: &str, participants: &[String], operator: &str) -> (String, String) {
    if let Some((who, text)) = line.split_once(':') {
        let who = who.trim();
        if let Some(p) = participants.iter().find(|p| {
            let name = p.split(" (").next().unwrap_or(p).trim();
            !name.is_empty() && (p.trim() == who || name.eq_ignore_ascii_case(who))
        }) {
            return (p.clone(), text.trim().to_string());
        }
    }
    (operator.to_string(), line.trim().to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create the run directory {path}: {source}")]
    RunDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot render the report: {0}")]
    Report(#[from] report::ReportError),
}

/// What a finished run hands back to the command line.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit_code: u8,
    pub run_dir: PathBuf,
    pub result: RunResult,
}

/// Why waiting for the end of a phase stopped early.
#[derive(Debug, Clone, PartialEq)]
enum Interrupt {
    Halt(String),
    Signal,
}

/// Why a wait of the dispatcher ended.
enum Waited {
    Deadline,
    Interrupted(Interrupt),
    /// A line someone typed (only when the wait asked for one).
    Line(String),
}

/// How a manual step ended.
enum Answer {
    Typed,
    TimedOut,
    Skipped,
    Interrupted(Interrupt),
}

struct Dispatcher {
    run_id: String,
    plan: Plan,
    engines: Engines,
    clock: Clock,
    journal: Journal,
    events: mpsc::UnboundedSender<RunEvent>,
    samples_rx: mpsc::UnboundedReceiver<ProbeSample>,
    signals: mpsc::UnboundedReceiver<u32>,
    signal_count: u32,
    samples: Vec<Vec<ProbeSample>>,
    last_ok: Vec<Option<bool>>,
    failing_since: Vec<Option<f64>>,
    timeline: Vec<TimelineEntry>,
    faults_left: Vec<FaultLeft>,
    /// Lines typed at the terminal, when someone can type.
    input: Option<mpsc::UnboundedReceiver<String>>,
    operator: Option<Operator>,
    /// The scenario running, for observations.
    current_scenario: Option<String>,
    observations: Vec<Observation>,
}

/// The next line typed, or never when nobody can type.
async fn next_line(input: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match input {
        Some(rx) => match rx.recv().await {
            Some(line) => Some(line),
            None => {
                // The terminal closed: stop listening.
                *input = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// `2026-11-23-login-api-resilience-3f9c2a`
fn run_dir_name(title: &str, run_id: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(40).collect();
    let slug = if slug.is_empty() {
        "gameday".to_string()
    } else {
        slug
    };
    format!(
        "{}-{}-{run_id}",
        Utc::now().format("%Y-%m-%d"),
        slug.trim_end_matches('-')
    )
}

fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ ((nanos >> 64) as u64);
    let mixed = mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:06x}", mixed >> 40)
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
                eprintln!(
                    "third signal: exiting now; run `gameday recover` to revert what is left"
                );
                std::process::exit(i32::from(exit::ABORTED));
            }
            let _ = tx.send(count);
        }
    });
    rx
}

/// Run the plan. Every fault applied is reverted before this returns, unless
/// Docker refuses, in which case the result lists it in `faults_left`.
pub async fn run(
    plan: Plan,
    engines: Engines,
    options: RunOptions,
    events: mpsc::UnboundedSender<RunEvent>,
) -> Result<RunOutcome, RunError> {
    let run_id = new_run_id();
    let run_dir = options
        .out
        .join(run_dir_name(&plan.gameday.gameday, &run_id));
    std::fs::create_dir_all(&run_dir).map_err(|source| RunError::RunDir {
        path: run_dir.display().to_string(),
        source,
    })?;
    let journal_path = run_dir.join("journal.jsonl");
    let mut journal = Journal::create(&journal_path).map_err(|source| RunError::Write {
        path: journal_path.display().to_string(),
        source,
    })?;
    let clock = Clock::start();
    let _ = journal.append(&JournalEntry::RunStarted {
        run_id: run_id.clone(),
        gameday: plan.gameday.gameday.clone(),
        scope: plan.gameday.scope.compose_project.clone(),
        file: options.file.clone(),
        at: clock.start_wall,
        engine: Some(engines.default_engine().spec().clone()),
        hosts: engines
            .iter()
            .skip(1)
            .map(|e| (e.name().to_string(), e.spec().clone()))
            .collect(),
    });

    let (samples_tx, samples_rx) = mpsc::unbounded_channel();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let http = probe::http_client();
    let probe_tasks: Vec<_> = plan
        .gameday
        .probes
        .0
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let containers = plan.probe_targets[index]
                .as_ref()
                .map(|r| r.containers.clone())
                .unwrap_or_default();
            // A probe of a container asks the engine that container lives on.
            let engine = containers
                .first()
                .map_or(engines.default_engine(), |c| engines.of(c))
                .clone();
            let container_ids = containers.iter().map(|c| c.id.clone()).collect();
            let runner = ProbeRunner::new(index, p.clone(), container_ids, http.clone(), engine);
            probe::spawn(runner, clock, samples_tx.clone(), cancel_rx.clone())
        })
        .collect();
    drop(samples_tx);

    let n = plan.gameday.probes.0.len();
    let mut d = Dispatcher {
        run_id: run_id.clone(),
        plan,
        engines,
        clock,
        journal,
        events,
        samples_rx,
        signals: spawn_signal_listener(),
        signal_count: 0,
        samples: vec![Vec::new(); n],
        last_ok: vec![None; n],
        failing_since: vec![None; n],
        timeline: Vec::new(),
        faults_left: Vec::new(),
        input: options.operator.as_ref().map(|_| spawn_operator_input()),
        operator: options.operator.clone(),
        current_scenario: None,
        observations: Vec::new(),
    };
    let (steady, scenarios, aborted_reason) = d.execute().await;

    // Stop the probes, wait for runs in flight, take their samples.
    let _ = cancel_tx.send(true);
    for task in probe_tasks {
        let _ = task.await;
    }
    while let Some(sample) = d.samples_rx.recv().await {
        d.record(sample);
    }
    d.finish(run_id, run_dir, options, steady, scenarios, aborted_reason)
}

/// A scenario as it ran, before its expectations are evaluated.
struct ScenarioRun {
    index: usize,
    verdict: &'static str,
    error: Option<String>,
    faults: Vec<FaultResult>,
    windows: Option<Windows>,
    started_ms: f64,
    ended_ms: f64,
}

impl Dispatcher {
    fn now_ms(&self) -> f64 {
        self.clock.ms(Instant::now())
    }

    fn note(&mut self, text: String) {
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

    fn phase(&mut self, scenario: Option<&str>, label: String, until: Option<Instant>) {
        let _ = self.journal.append_lazily(&JournalEntry::Phase {
            scenario: scenario.map(String::from),
            phase: label.clone(),
            at: Utc::now(),
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
        } else if self.failing_since[i].is_none() {
            self.failing_since[i] = Some(sample.t_ms);
        }
        let _ = self.events.send(RunEvent::Sample {
            probe: i,
            ok: sample.ok,
            brief: sample.brief(),
        });
        self.samples[i].push(sample);
    }

    fn check_halt(&self, conditions: &[HaltCondition]) -> Option<String> {
        let now = self.now_ms();
        conditions.iter().find_map(|c| {
            let i = self
                .plan
                .gameday
                .probes
                .0
                .iter()
                .position(|p| p.name == c.probe)?;
            let since = self.failing_since[i]?;
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

    /// Wait until `deadline`, taking in samples; stop early on a halt
    /// condition or a signal. Lines typed meanwhile are observations.
    async fn wait_until(&mut self, deadline: Instant, halt: &[HaltCondition]) -> Option<Interrupt> {
        match self.wait(deadline, halt, false).await {
            Waited::Deadline | Waited::Line(_) => None,
            Waited::Interrupted(i) => Some(i),
        }
    }

    /// The one waiting loop of the dispatcher: samples are taken in and
    /// `halt` checked until `deadline`, a signal, or (with `want_line`) a
    /// non-empty line typed at the terminal; without `want_line` a typed
    /// line is recorded as an observation and the wait goes on.
    async fn wait(&mut self, deadline: Instant, halt: &[HaltCondition], want_line: bool) -> Waited {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Waited::Deadline,
                Some(sample) = self.samples_rx.recv() => {
                    self.record(sample);
                    if let Some(reason) = self.check_halt(halt) {
                        return Waited::Interrupted(Interrupt::Halt(reason));
                    }
                }
                Some(count) = self.signals.recv() => {
                    self.signal_count = count;
                    return Waited::Interrupted(Interrupt::Signal);
                }
                Some(line) = next_line(&mut self.input) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    if want_line {
                        return Waited::Line(line);
                    }
                    self.observe(&line, None);
                }
                _ = tick.tick() => {
                    if let Some(reason) = self.check_halt(halt) {
                        return Waited::Interrupted(Interrupt::Halt(reason));
                    }
                }
            }
        }
    }

    /// A line typed while the run goes: a timestamped observation,
    /// credited to the participant it names or to the operator; `answer_to`
    /// is the manual step it answers.
    fn observe(&mut self, line: &str, answer_to: Option<&str>) {
        let operator = self
            .operator
            .as_ref()
            .map_or("operator", |o| o.name.as_str());
        let (by, text) = attribute(line, &self.plan.gameday.participants, operator);
        let text = match answer_to {
            Some(step) => format!("{step} → {text}"),
            None => text,
        };
        self.record_observation(by, text);
    }

    fn record_observation(&mut self, by: String, text: String) {
        let at = Utc::now();
        let _ = self.journal.append(&JournalEntry::Observation {
            scenario: self.current_scenario.clone(),
            by: by.clone(),
            text: text.clone(),
            at,
        });
        self.note(format!("observation by {by}: {text}"));
        self.observations.push(Observation {
            at,
            offset: offset(self.now_ms()),
            scenario: self.current_scenario.clone(),
            by,
            text,
        });
    }

    /// A manual step: show the instruction, wait for someone to type what
    /// they saw (or for the timeout), still taking samples and checking
    /// `halt_if` and signals.
    async fn manual(
        &mut self,
        scenario: &str,
        step: &ManualStep,
        halt: &[HaltCondition],
    ) -> Answer {
        if self.input.is_none() {
            self.note(format!(
                "manual step skipped (no one at a terminal): {}",
                step.manual
            ));
            return Answer::Skipped;
        }
        let until = Instant::now() + step.timeout.as_std();
        self.note(format!("OPERATOR: {}", step.manual));
        self.phase(
            Some(scenario),
            format!(
                "waiting for the operator (type what you see, then Enter; at most {})",
                step.timeout
            ),
            Some(until),
        );
        match self.wait(until, halt, true).await {
            Waited::Deadline => {
                self.note(format!(
                    "manual step timed out after {}: {}",
                    step.timeout, step.manual
                ));
                Answer::TimedOut
            }
            Waited::Interrupted(i) => Answer::Interrupted(i),
            Waited::Line(line) => {
                self.observe(&line, Some(&step.manual));
                Answer::Typed
            }
        }
    }

    /// Take in samples already delivered, without waiting.
    fn drain(&mut self) {
        while let Ok(sample) = self.samples_rx.try_recv() {
            self.record(sample);
        }
    }

    async fn execute(&mut self) -> (SteadyState, Vec<ScenarioRun>, Option<String>) {
        let baseline = self.plan.gameday.defaults.baseline.as_std();
        let baseline_end = self.clock.start + baseline;
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
        let longest = self
            .plan
            .gameday
            .probes
            .0
            .iter()
            .map(|p| p.timeout.as_std())
            .max()
            .unwrap_or_default();
        if interrupted.is_none() {
            let grace_end = Instant::now() + longest.min(Duration::from_secs(2));
            while Instant::now() < grace_end && !self.baseline_complete(baseline) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.drain();
            }
        }
        self.drain();
        let steady = self.steady_state(baseline);
        let baseline_ms = self.clock.ms(baseline_end);
        let scenario_count = self.plan.gameday.scenarios.len();
        let skipped = |from: usize| -> Vec<ScenarioRun> {
            (from..scenario_count)
                .map(|index| ScenarioRun {
                    index,
                    verdict: "skipped",
                    error: None,
                    faults: Vec::new(),
                    windows: None,
                    started_ms: 0.0,
                    ended_ms: 0.0,
                })
                .collect()
        };
        if interrupted.is_some() {
            let reason = "interrupted during the baseline; no fault was applied".to_string();
            self.note(reason.clone());
            return (steady, skipped(0), Some(reason));
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
            return (steady, skipped(0), Some(reason));
        }

        let mut runs = Vec::new();
        let mut aborted = None;
        for index in 0..scenario_count {
            let (run, stop) = self.scenario(index, baseline_ms).await;
            runs.push(run);
            if let Some(reason) = stop {
                aborted = Some(reason);
                runs.extend(skipped(index + 1));
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
            self.samples[i]
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
                let window: Vec<&ProbeSample> =
                    self.samples[i].iter().filter(|s| s.t_ms < end).collect();
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

    /// Run one scenario. Returns it, and a reason when the run must stop.
    async fn scenario(&mut self, index: usize, baseline_ms: f64) -> (ScenarioRun, Option<String>) {
        let scenario: Scenario = self.plan.gameday.scenarios[index].clone();
        let total = self.plan.gameday.scenarios.len();
        let started_ms = self.now_ms();
        self.phase(
            Some(&scenario.name),
            format!("scenario {}/{total}: {}", index + 1, scenario.name),
            None,
        );

        // The steps: the faults in order (and, with `steps:`, waits,
        // notes and manual steps between them).
        self.current_scenario = Some(scenario.name.clone());
        let steps: Vec<Step> = if scenario.steps.is_empty() {
            (0..scenario.faults.len()).map(Step::Fault).collect()
        } else {
            scenario.steps.clone()
        };
        let apply_start = self.now_ms();
        // (the applied fault, its slot in `faults`, its index in the scenario, its journal id)
        let mut applied: Vec<(AppliedFault, usize, usize, String)> = Vec::new();
        let mut faults: Vec<FaultResult> = Vec::new();
        let mut error = None;
        let mut interrupt = None;
        // The fault window opens when the first run of fault steps is in place.
        let mut fault_start = None;
        'steps: for step in &steps {
            if !matches!(step, Step::Fault(_)) && !applied.is_empty() && fault_start.is_none() {
                fault_start = Some(self.now_ms());
            }
            match step {
                Step::Fault(f) => {
                    let (f, fault) = (*f, &scenario.faults[*f]);
                    for container in self.pick(index, f) {
                        let fault_id =
                            format!("s{}-f{}-{}", index + 1, f + 1, container.short_id());
                        let (action, _) = describe_fault(fault, &container.name);
                        faults.push(FaultResult {
                            kind: fault.kind().to_string(),
                            target: container.name.clone(),
                            container_id: container.id.clone(),
                            action: action.clone(),
                            mechanism: None,
                            applied_at: None,
                            applied_confirmed_at: None,
                            reverted_at: None,
                            revert_confirmed_at: None,
                            detail: None,
                            error: None,
                        });
                        let slot = faults.len() - 1;
                        match self
                            .apply_one(&scenario.name, index, f, &container, &fault_id)
                            .await
                        {
                            Ok(a) => {
                                let lag = a
                                    .confirmed_at
                                    .map(|c| {
                                        let ms =
                                            (c - a.requested_at).num_microseconds().unwrap_or(0)
                                                as f64
                                                / 1000.0;
                                        match a.mechanism {
                                            Some(m) => {
                                                format!(" ({m}), in place after {}", fmt_ms(ms))
                                            }
                                            None => format!(
                                                ", confirmed by Docker after {}",
                                                fmt_ms(ms)
                                            ),
                                        }
                                    })
                                    .unwrap_or_default();
                                self.note(format!("applied: {action}{lag}"));
                                faults[slot].applied_at = Some(a.requested_at);
                                faults[slot].applied_confirmed_at = a.confirmed_at;
                                faults[slot].mechanism = a.mechanism.map(String::from);
                                applied.push((a, slot, f, fault_id));
                            }
                            Err(e) => {
                                self.note(format!("could not apply: {action}: {e}"));
                                faults[slot].error = Some(e.clone());
                                error = Some(format!("a fault could not be applied: {e}"));
                                break 'steps;
                            }
                        }
                    }
                }
                Step::Wait(d) => {
                    let until = Instant::now() + d.as_std();
                    self.phase(
                        Some(&scenario.name),
                        format!("[{}/{total}] waiting {d}", index + 1),
                        Some(until),
                    );
                    interrupt = self.wait_until(until, &scenario.halt_if).await;
                }
                Step::Note(text) => self.note(format!("note: {text}")),
                Step::Manual(m) => match self.manual(&scenario.name, m, &scenario.halt_if).await {
                    Answer::Interrupted(i) => interrupt = Some(i),
                    Answer::Typed | Answer::TimedOut | Answer::Skipped => {}
                },
            }
            if interrupt.is_some() {
                break 'steps;
            }
        }

        // Hold.
        let fault_start = fault_start.unwrap_or_else(|| self.now_ms());
        if error.is_none() && interrupt.is_none() && !scenario.duration.is_zero() {
            let until = Instant::now() + scenario.duration.as_std();
            self.phase(
                Some(&scenario.name),
                format!("[{}/{total}] holding for {}", index + 1, scenario.duration),
                Some(until),
            );
            interrupt = self.wait_until(until, &scenario.halt_if).await;
        }
        match &interrupt {
            Some(Interrupt::Halt(reason)) => self.note(format!("{reason}: reverting now")),
            Some(Interrupt::Signal) => self.note("signal received: reverting now".to_string()),
            None => {}
        }

        // Revert, in reverse order.
        let revert_start = self.now_ms();
        let self_healing = !applied.is_empty()
            && applied
                .iter()
                .all(|(a, ..)| matches!(a.recipe, fault::RevertRecipe::Nothing { .. }));
        for (a, slot, f, id) in applied.into_iter().rev() {
            let (_, mut revert_text) = describe_fault(&scenario.faults[f], &a.container.name);
            if let (Some(service), fault::RevertRecipe::Nothing { .. }) =
                (&a.container.swarm_service, &a.recipe)
            {
                revert_text = format!(
                    "nothing to undo on {}: the swarm replaces the task of {service}",
                    a.container.name
                );
            }
            let engine = self.engines.of(&a.container).clone();
            match a.revert(&engine).await {
                Ok(r) => {
                    let _ = self.journal.append(&JournalEntry::FaultReverted {
                        fault_id: id,
                        by: "run".into(),
                        requested_at: r.revert_requested_at,
                        confirmed_at: r.revert_confirmed_at,
                    });
                    faults[slot].reverted_at = Some(r.revert_requested_at);
                    faults[slot].revert_confirmed_at = r.revert_confirmed_at;
                    if let Some(p) = r.packets {
                        faults[slot].detail = Some(format!(
                            "{} packets queued: {} delayed, {} dropped, {} duplicated, {} corrupted",
                            p.packets, p.delayed, p.dropped, p.duplicated, p.corrupted
                        ));
                    }
                    self.note(format!("reverted: {revert_text}"));
                }
                Err((a, e)) => {
                    let _ = self.journal.append(&JournalEntry::FaultRevertFailed {
                        fault_id: id,
                        error: e.to_string(),
                        by_hand: a.recipe.by_hand(),
                    });
                    self.note(format!(
                        "COULD NOT REVERT: {revert_text}: {e}; by hand: {}",
                        a.recipe.by_hand()
                    ));
                    faults[slot].error = Some(format!("revert failed: {e}"));
                    self.faults_left.push(FaultLeft {
                        kind: a.kind.to_string(),
                        container: a.container.name.clone(),
                        container_id: a.container.id.clone(),
                        error: e.to_string(),
                        by_hand: a.recipe.by_hand(),
                    });
                }
            }
        }

        // Cool down, unless a second signal asked to hurry.
        if self.signal_count < 2 {
            let until = Instant::now() + scenario.cooldown.as_std();
            self.phase(
                Some(&scenario.name),
                format!(
                    "[{}/{total}] cooldown {}: observing recovery",
                    index + 1,
                    scenario.cooldown
                ),
                Some(until),
            );
            if let Some(i) = self.wait_until(until, &[]).await {
                if interrupt.is_none() {
                    interrupt = Some(i);
                }
                if self.signal_count < 2 {
                    // First signal during the cooldown: finish observing it.
                    let _ = self.wait_until(until, &[]).await;
                }
            }
        }
        let ended_ms = self.now_ms();
        let windows = Windows {
            baseline: (0.0, baseline_ms),
            apply_start,
            fault_start,
            revert_start,
            end: ended_ms,
            self_healing_from: self_healing.then_some(fault_start),
        };
        let stop = match (&interrupt, &error) {
            (Some(Interrupt::Halt(reason)), _) => Some(reason.clone()),
            (Some(Interrupt::Signal), _) => {
                Some("interrupted by a signal; every fault was reverted".to_string())
            }
            _ => None,
        };
        let verdict = if error.is_some() {
            "error"
        } else if interrupt.is_some() {
            "aborted"
        } else {
            "pending"
        };
        (
            ScenarioRun {
                index,
                verdict,
                error,
                faults,
                windows: Some(windows),
                started_ms,
                ended_ms,
            },
            stop,
        )
    }

    /// Work out the revert recipe, journal it (fsynced), then apply the
    /// fault. A fault whose recipe could not be journalled is not applied.
    async fn apply_one(
        &mut self,
        scenario_name: &str,
        scenario: usize,
        f: usize,
        container: &ContainerInfo,
        fault_id: &str,
    ) -> Result<AppliedFault, String> {
        let fault = self.plan.gameday.scenarios[scenario].faults[f].clone();
        let context = fault::ApplyContext {
            tag: fault::net::tag(&self.run_id, fault_id),
            project: self.plan.gameday.scope.compose_project.clone(),
            peers: self.plan.fault_peers[scenario][f].clone(),
            netem_available: self.plan.netem_available,
            // Namespaces on an engine elsewhere are only reached through helpers.
            helper_image: match (
                &self.plan.helper_image,
                self.engines.of(container).is_local(),
            ) {
                (None, false) => Some(
                    self.plan
                        .gameday
                        .docker
                        .helper_image
                        .clone()
                        .unwrap_or_else(|| crate::fault::helper::DEFAULT_IMAGE.to_string()),
                ),
                (image, _) => image.clone(),
            },
            max_lifetime: {
                // Everything the scenario may still take: waits, manual
                // steps at their timeout, the hold, the cooldown, a margin.
                let s = &self.plan.gameday.scenarios[scenario];
                let steps: std::time::Duration = s
                    .steps
                    .iter()
                    .map(|step| match step {
                        Step::Wait(d) => d.as_std(),
                        Step::Manual(m) => m.timeout.as_std(),
                        Step::Fault(_) | Step::Note(_) => std::time::Duration::ZERO,
                    })
                    .sum();
                steps
                    + s.duration.as_std()
                    + s.cooldown.as_std()
                    + std::time::Duration::from_secs(120)
            },
        };
        let engine = self.engines.of(container).clone();
        let recipe = fault::prepare(&engine, &fault, container, &context)
            .await
            .map_err(|e| e.to_string())?;
        self.journal
            .append(&JournalEntry::FaultIntent {
                fault_id: fault_id.to_string(),
                scenario: scenario_name.to_string(),
                kind: fault.kind().to_string(),
                recipe: recipe.clone(),
                at: Utc::now(),
                host: (container.engine != crate::gameday::decode::DEFAULT_HOST)
                    .then(|| container.engine.clone()),
            })
            .map_err(|e| {
                format!("cannot journal the fault before applying it, so it was not applied: {e}")
            })?;
        match fault::apply(&engine, &fault, container, &context, recipe.clone()).await {
            Ok(a) => {
                let _ = self.journal.append(&JournalEntry::FaultApplied {
                    fault_id: fault_id.to_string(),
                    requested_at: a.requested_at,
                    confirmed_at: a.confirmed_at,
                });
                Ok(a)
            }
            Err(e) => {
                let _ = self.journal.append(&JournalEntry::FaultApplyFailed {
                    fault_id: fault_id.to_string(),
                    error: e.to_string(),
                });
                // A failed apply leaves nothing behind, but a network fault
                // may have been half set up: clean its rules to be sure. (A
                // container recipe is not run: it would start a container
                // that the failed kill found stopped.)
                let clean = match &recipe {
                    fault::RevertRecipe::NetRules { .. } => {
                        recipe.execute(&engine).await.map(|_| ())
                    }
                    _ => Ok(()),
                };
                match clean {
                    Ok(()) => {
                        let _ = self.journal.append(&JournalEntry::FaultReverted {
                            fault_id: fault_id.to_string(),
                            by: "run (apply failed)".into(),
                            requested_at: Utc::now(),
                            confirmed_at: None,
                        });
                    }
                    Err(clean_error) => self.faults_left.push(FaultLeft {
                        kind: fault.kind().to_string(),
                        container: container.name.clone(),
                        container_id: container.id.clone(),
                        error: clean_error.to_string(),
                        by_hand: recipe.by_hand(),
                    }),
                }
                Err(e.to_string())
            }
        }
    }

    /// The containers a fault acts on: all of them, or one picked at random.
    fn pick(&self, scenario: usize, fault: usize) -> Vec<ContainerInfo> {
        let resolved = &self.plan.fault_targets[scenario][fault];
        match resolved.target.pick {
            Pick::All => resolved.containers.clone(),
            Pick::One => {
                let n = resolved.containers.len().max(1);
                let i = (Utc::now().timestamp_subsec_nanos() as usize) % n;
                resolved.containers.get(i).cloned().into_iter().collect()
            }
        }
    }

    fn finish(
        mut self,
        run_id: String,
        run_dir: PathBuf,
        options: RunOptions,
        steady: SteadyState,
        runs: Vec<ScenarioRun>,
        aborted_reason: Option<String>,
    ) -> Result<RunOutcome, RunError> {
        for samples in &mut self.samples {
            samples.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        }
        // Probe state changes, in the order results were known.
        for (i, samples) in self.samples.iter().enumerate() {
            let name = &self.plan.gameday.probes.0[i].name;
            let mut by_end: Vec<&ProbeSample> = samples.iter().collect();
            by_end.sort_by(|a, b| a.end_ms().total_cmp(&b.end_ms()));
            let mut last = None;
            for sample in by_end {
                if last != Some(sample.ok) {
                    let state = if sample.ok { "ok" } else { "failing" };
                    let t_ms = sample.end_ms();
                    self.timeline.push(TimelineEntry {
                        t_ms,
                        offset: offset(t_ms),
                        text: format!("probe {name}: {state} ({})", sample.brief()),
                    });
                    last = Some(sample.ok);
                }
            }
        }
        self.timeline.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        let g = &self.plan.gameday;
        let mut scenarios = Vec::new();
        for run in runs {
            let s = &g.scenarios[run.index];
            let expectations: Vec<ExpectationResult> = match (&run.windows, run.verdict) {
                (Some(w), v) if v != "error" => s
                    .expect
                    .iter()
                    .map(|e| {
                        let i = g
                            .probes
                            .0
                            .iter()
                            .position(|p| p.name == e.probe)
                            .unwrap_or(0);
                        ExpectationResult::new(
                            e.to_string(),
                            e.probe.clone(),
                            expect::evaluate(e, &self.samples[i], w),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let verdict = match run.verdict {
                "pending" if expectations.iter().all(|e| e.verdict == "met") => "met",
                "pending" => "not_met",
                other => other,
            };
            let timeline = if run.verdict == "skipped" {
                Vec::new()
            } else {
                self.timeline
                    .iter()
                    .filter(|t| t.t_ms >= run.started_ms && t.t_ms <= run.ended_ms)
                    .cloned()
                    .collect()
            };
            let probe_effects = match &run.windows {
                Some(w) => g
                    .probes
                    .0
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.kind.has_latency())
                    .map(|(i, p)| {
                        let at = |window| expect::summarize(&self.samples[i], w.range(window));
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
            scenarios.push(ScenarioResult {
                name: s.name.clone(),
                description: s.description.clone(),
                expected: s.expected.clone(),
                verdict: verdict.to_string(),
                error: run.error,
                duration_ms: run.ended_ms - run.started_ms,
                expectations,
                faults: run.faults,
                windows: run.windows,
                timeline,
                probe_effects,
            });
        }
        let count = |v: &str| scenarios.iter().filter(|s| s.verdict == v).count();
        let summary = Summary {
            scenarios: scenarios.len(),
            met: count("met"),
            not_met: count("not_met"),
            aborted: count("aborted"),
            error: count("error"),
            skipped: count("skipped"),
        };
        let (outcome, exit_code) = if !self.faults_left.is_empty() {
            ("fault_left", exit::FAULT_LEFT)
        } else if aborted_reason.is_some() {
            ("aborted", exit::ABORTED)
        } else if summary.met == summary.scenarios {
            ("met", exit::OK)
        } else {
            ("not_met", exit::NOT_MET)
        };
        let probes = g
            .probes
            .0
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let samples = &self.samples[i];
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
        let ended_at = Utc::now();
        let result = RunResult {
            schema_version: SCHEMA_VERSION,
            run_id,
            gameday: GamedayInfo {
                title: g.gameday.clone(),
                description: g.description.clone(),
                participants: g.participants.clone(),
                environment: g.environment.clone(),
                recording: g.recording.clone(),
                file: options.file.clone(),
                scope: g.scope.compose_project.clone(),
            },
            docker: DockerInfo {
                host: self.plan.docker_host.clone(),
                version: self.plan.docker_version.clone(),
                connection: self
                    .engines
                    .default_engine()
                    .security()
                    .describe()
                    .to_string(),
                hosts: self.plan.other_engines.clone(),
            },
            started_at: self.clock.start_wall,
            ended_at,
            duration_ms: self.now_ms(),
            outcome: outcome.to_string(),
            exit_code,
            aborted_reason,
            steady_state: steady,
            scenarios,
            probes,
            samples_file: "samples.jsonl".to_string(),
            faults_left: std::mem::take(&mut self.faults_left),
            observations: std::mem::take(&mut self.observations),
            summary,
        };
        // Every sample, tagged with its probe's name: written once, and the
        // reports are rendered from the same rows (no re-reading).
        let names: Vec<String> = g.probes.0.iter().map(|p| p.name.clone()).collect();
        let rows: Vec<report::SampleRow> = std::mem::take(&mut self.samples)
            .into_iter()
            .enumerate()
            .flat_map(|(i, list)| {
                let probe = names[i].clone();
                list.into_iter().map(move |sample| report::SampleRow {
                    probe: probe.clone(),
                    sample,
                })
            })
            .collect();
        write_samples(&run_dir.join("samples.jsonl"), &rows)?;
        write_file(
            &run_dir.join("result.json"),
            &serde_json::to_vec_pretty(&result).unwrap_or_default(),
        )?;
        let _ = self.journal.append(&JournalEntry::RunFinished {
            exit_code,
            at: ended_at,
        });
        // The same record `gameday report` reads back from these files.
        let record = report::RunRecord {
            result,
            annotations: report::annotations::Annotations::default(),
            samples: rows,
            journal: super::journal::read(self.journal.path()).unwrap_or_default(),
        };
        report::write_all(&run_dir, &record, options.template_dir.as_deref())?;
        Ok(RunOutcome {
            exit_code,
            run_dir,
            result: record.result,
        })
    }
}

fn offset(t_ms: f64) -> String {
    format!("+{:.1}s", t_ms / 1000.0)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    std::fs::write(path, bytes).map_err(|source| RunError::Write {
        path: path.display().to_string(),
        source,
    })
}

fn write_samples(path: &Path, rows: &[report::SampleRow]) -> Result<(), RunError> {
    let mut out = Vec::new();
    for row in rows {
        out.extend(serde_json::to_vec(row).unwrap_or_default());
        out.push(b'\n');
    }
    write_file(path, &out)
}

#[cfg(test)]
mod tests {
    use super::attribute;

    #[test]
    fn a_typed_line_is_credited_to_the_participant_it_names() {
        let people = vec![
            "Dana (coordinator)".to_string(),
            "Sam (observer)".to_string(),
        ];
        assert_eq!(
            attribute("Sam: p99 climbing", &people, "tess"),
            ("Sam (observer)".into(), "p99 climbing".into())
        );
        assert_eq!(
            attribute("dana (coordinator): go", &people, "tess").0,
            "tess",
            "the full form must match exactly"
        );
        assert_eq!(
            attribute("Dana (coordinator): go", &people, "tess"),
            ("Dana (coordinator)".into(), "go".into())
        );
        // A colon that names nobody stays in the text.
        assert_eq!(
            attribute("error rate: 4%", &people, "tess"),
            ("tess".into(), "error rate: 4%".into())
        );
    }
}
