//! Running a gameday. [`run`] sets a run up (its directory and journal, the
//! probes), hands it to the dispatcher, and writes what it measured
//! (`result.json`, `samples.jsonl`); the caller renders the reports.
//!
//! - [`dispatcher`]: the one loop that owns the run state: waits, samples,
//!   halt conditions, signals, the baseline, the scenarios in order;
//! - [`scenario`]: one scenario, walking the steps the plan lays out;
//! - [`apply`]: the apply/revert protocol (journal the recipe, fsync, apply;
//!   revert and record);
//! - [`apply_many`]: the same protocol for one fault on many containers at
//!   once (`pause`, `kill`), the engine calls together, the bookkeeping in
//!   turn;
//! - [`operator`]: lines typed at the terminal (observations, manual steps);
//! - [`outcome`]: pure: from what happened to `result.json` and the exit code;
//! - [`run_dir`]: naming and creating the run directory;
//! - [`view`]: the live view.
//!
//! What protects the scope (the claim, `gameday halt`'s marker, the
//! watchdogs, `recover`) lives in [`crate::safety`].

mod apply;
mod apply_many;
mod bisect;
pub(crate) mod deploy_checks;
mod detection;
mod dispatcher;
mod operator;
pub(crate) mod outcome;
mod run_dir;
mod scenario;
pub(crate) mod trial_results;
pub(crate) mod trials;
pub(crate) mod view;
mod walked;

use std::path::PathBuf;

use tokio::sync::{mpsc, watch};

use crate::docker::Engines;
use crate::plan::Plan;
use crate::probe::{self, Clock, ProbeRunner};
use crate::record::journal::{Journal, JournalEntry};
use crate::record::{self, RunRecord};
use crate::safety::{halt, watchdog};
use dispatcher::Dispatcher;
use view::RunEvent;

pub(crate) use operator::{Operator, SAID_BACKLOG, Said, read_terminal};

#[derive(Debug)]
pub(crate) struct RunOptions {
    /// The run's id (see [`new_run_id`]): its claim on the scope carries it.
    pub run_id: String,
    /// Holders of claims this run took over (provably dead), to journal.
    pub taken_over: Vec<String>,
    pub file: String,
    pub out: PathBuf,
    /// Whether a person at a terminal can answer manual steps and type
    /// observations; without one, manual steps are skipped (the command
    /// line refuses to start them unless told `--non-interactive=skip`).
    pub operator: Option<Operator>,
    /// What the operator types and the live room posts, as it comes:
    /// observations, and answers to manual steps (none: nobody can).
    pub input: Option<mpsc::Receiver<operator::Said>>,
    /// Where the team is told of faults applied, reverted and halts.
    pub notify: crate::notify::Notify,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error("cannot create the run directory {path}: {source}")]
    RunDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] record::RecordError),
    /// No fault is applied without its watchdog.
    #[error("{0}; nothing was changed")]
    Watchdog(String),
}

/// What a finished run hands back: its directory and record (written),
/// ready for the reports.
#[derive(Debug)]
pub(crate) struct RunOutcome {
    pub exit_code: u8,
    pub run_dir: PathBuf,
    pub record: RunRecord,
}

/// Where a local watchdog's own messages go, in the run directory.
pub(crate) const WATCHDOG_LOG: &str = "watchdog.log";

/// Each engine that receives faults, and where its watchdog runs: this
/// host for this host's socket; a container on any other engine that has
/// the helper image (so a cut link is covered too), else this host. An
/// engine whose watchdog is a container and whose faults include some
/// undone from this host (host scripts) gets a second one here for those.
async fn watchdog_specs(plan: &Plan, engines: &Engines) -> Vec<watchdog::link::Spec> {
    let mut here: Vec<&str> = plan
        .scenarios
        .iter()
        .flat_map(|s| &s.faults)
        .filter(|f| crate::fault::undone_from_this_host(&f.fault))
        .flat_map(|f| &f.targets.containers)
        .map(|c| c.engine.as_str())
        .collect();
    here.sort_unstable();
    here.dedup();
    let mut specs = engine_watchdog_specs(plan, engines).await;
    let parts: Vec<watchdog::link::Spec> = specs
        .iter()
        .filter(|s| matches!(s.placement, watchdog::link::Placement::Container { .. }))
        .filter(|s| here.contains(&s.engine.name()))
        .map(|s| watchdog::link::Spec {
            engine: s.engine.clone(),
            placement: watchdog::link::Placement::ThisHostsPart,
        })
        .collect();
    specs.extend(parts);
    specs
}

async fn engine_watchdog_specs(plan: &Plan, engines: &Engines) -> Vec<watchdog::link::Spec> {
    let mut names: Vec<&str> = plan
        .scenarios
        .iter()
        .flat_map(|s| &s.faults)
        .flat_map(|f| &f.targets.containers)
        .map(|c| c.engine.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let image = plan.gameday.docker.helper_image_or_default();
    let mut specs = Vec::new();
    for engine in engines.iter().filter(|e| names.contains(&e.name())) {
        // A watchdog here must outlive this process: on the engine's host
        // it does (a process of its own); seen from a container, or from
        // another machine, only a container on the engine does.
        let here = engine.is_local()
            && !(engine.name() == engines.default_engine().name()
                && plan.inventory.namespace.runner_outside);
        let placement = if here || !engine.image_exists(&image).await {
            watchdog::link::Placement::Local
        } else {
            watchdog::link::Placement::Container {
                image: image.clone(),
                socket: engine
                    .spec()
                    .socket
                    .clone()
                    .unwrap_or_else(|| crate::docker::DEFAULT_SOCKET.to_string()),
            }
        };
        specs.push(watchdog::link::Spec {
            engine: engine.clone(),
            placement,
        });
    }
    specs
}

/// Look for a halt marker (`gameday halt`) on every engine once a second
/// until the run ends; say the first one seen on `stops`.
async fn watch_for_halt(
    engines: Engines,
    scope: String,
    run_id: String,
    stops: mpsc::UnboundedSender<String>,
    mut cancel: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.changed() => return,
        }
        for engine in engines.iter() {
            if let Ok(Some(by)) = halt::requested(engine, &scope, &run_id).await {
                let _ = stops.send(format!("halted by {by}"));
                return;
            }
        }
    }
}

/// A new run id: `3f9c2a`.
pub(crate) fn new_run_id() -> String {
    run_dir::new_run_id()
}

/// Each engine's own ID, by name, for the journal.
async fn engine_ids(engines: &Engines) -> std::collections::BTreeMap<String, String> {
    let mut ids = std::collections::BTreeMap::new();
    for e in engines.iter() {
        if let Ok(id) = e.engine_id().await {
            ids.insert(e.name().to_string(), id);
        }
    }
    ids
}

/// Run the plan. Every fault applied is reverted before this returns, unless
/// Docker refuses, in which case the result lists it in `faults_left`.
pub(crate) async fn run(
    plan: Plan,
    engines: Engines,
    options: RunOptions,
    events: mpsc::UnboundedSender<RunEvent>,
) -> Result<RunOutcome, RunError> {
    let run_id = options.run_id.clone();
    let (run_dir, mut journal) = run_dir::create(&options.out, &plan.gameday.gameday, &run_id)?;
    // Samples go to disk as they arrive: the run holds none of them.
    let samples_path = run_dir.join(record::SAMPLES_FILE);
    let samples_out = record::samples::SampleWriter::create(&samples_path).map_err(|source| {
        RunError::Record(record::RecordError::Write {
            path: samples_path.display().to_string(),
            source,
        })
    })?;
    let clock = Clock::start();
    journal_start(&mut journal, &plan, &engines, &options, clock).await;

    // The dead man's switch, before anything is touched.
    let (stops_tx, stops_rx) = mpsc::unbounded_channel();
    let scope = plan.gameday.scope.compose_project.clone();
    let watchdogs = start_watchdogs(
        &plan,
        &engines,
        &run_id,
        &run_dir,
        stops_tx.clone(),
        &mut journal,
    )
    .await?;

    let (samples_tx, samples_rx) = mpsc::unbounded_channel();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let halt_watch = tokio::spawn(watch_for_halt(
        engines.clone(),
        scope.clone(),
        run_id.clone(),
        stops_tx,
        cancel_rx.clone(),
    ));
    let exec_gate = std::sync::Arc::new(probe::ExecGate::default());
    let window_cuts = std::sync::Arc::new(probe::load::WindowCuts::default());
    let rate_dials = std::sync::Arc::new(probe::load::RateDials::default());
    let ledgers = ledgers_of(&plan, &run_id);
    let probe_tasks = spawn_probes(
        &plan,
        &engines,
        clock,
        &exec_gate,
        (&window_cuts, &rate_dials, &ledgers),
        samples_tx,
        cancel_rx,
    );

    let mut d = Dispatcher::new(
        run_id.clone(),
        plan,
        engines.clone(),
        clock,
        journal,
        events,
        samples_rx,
        samples_out,
        options.operator.clone(),
        options.input,
        watchdogs,
        stops_rx,
        options.notify.clone(),
        exec_gate,
    );
    d.window_cuts = window_cuts;
    d.rate_dials = rate_dials;
    d.ledgers = ledgers;
    let (steady, scenarios, aborted_reason) = d.execute().await;

    // Stop the probes, wait for runs in flight, take their samples.
    let _ = cancel_tx.send(true);
    for task in probe_tasks {
        let _ = task.await;
    }
    d.drain_all().await;
    // The ledgers' records go (unless kept), once no write is in flight.
    for line in d.ledgers.finish().await {
        d.note(line);
    }
    let _ = halt_watch.await;
    let (plan, mut journal, watchdogs, happened) = d.finish(
        run_id.clone(),
        options.file,
        steady,
        scenarios,
        aborted_reason,
    );
    // Every fault is reverted: the watchdogs go, and what a remote one did
    // on its own is kept in the journal.
    for entry in watchdogs.finish().await {
        let _ = journal.append(&entry);
    }
    for engine in engines.iter() {
        halt::clear(engine, &scope, &run_id).await;
    }
    write_record(&plan, happened, run_dir, journal)
}

/// The journal's first lines: the run, where it runs, and the claims it
/// took over.
async fn journal_start(
    journal: &mut Journal,
    plan: &Plan,
    engines: &Engines,
    options: &RunOptions,
    clock: Clock,
) {
    let _ = journal.append(&JournalEntry::RunStarted {
        run_id: options.run_id.clone(),
        gameday: plan.gameday.gameday.clone(),
        scope: plan.gameday.scope.compose_project.clone(),
        file: options.file.clone(),
        at: clock.start_wall,
        engine: Some(engines.default_engine().resolved_spec().clone()),
        hosts: engines
            .iter()
            .skip(1)
            .map(|e| (e.name().to_string(), e.resolved_spec().clone()))
            .collect(),
        engine_ids: engine_ids(engines).await,
        participants: plan.gameday.participants.clone(),
        environment: Some(plan.gameday.environment.clone()).filter(|e| !e.is_empty()),
        probes: plan
            .gameday
            .probes
            .0
            .iter()
            .map(|p| p.name.clone())
            .collect(),
    });
    for from in &options.taken_over {
        let _ = journal.append(&JournalEntry::ClaimTakenOver {
            from: from.clone(),
            at: chrono::Utc::now(),
        });
    }
}

/// Every engine's watchdog, journaled; one that cannot start ends the run
/// before anything is touched.
async fn start_watchdogs(
    plan: &Plan,
    engines: &Engines,
    run_id: &str,
    run_dir: &std::path::Path,
    stops: mpsc::UnboundedSender<String>,
    journal: &mut Journal,
) -> Result<watchdog::link::Watchdogs, RunError> {
    let journal_path = journal.path().to_path_buf();
    let identity = watchdog::link::RunIdentity {
        run_id,
        scope: &plan.gameday.scope.compose_project,
        lease: plan.gameday.lease.as_std(),
        journal: &journal_path,
        log: &run_dir.join(WATCHDOG_LOG),
    };
    let watchdogs = match watchdog::link::Watchdogs::start(
        watchdog_specs(plan, engines).await,
        identity,
        stops,
    )
    .await
    {
        Ok(w) => w,
        Err(e) => {
            let _ = journal.append(&JournalEntry::RunFinished {
                exit_code: crate::exit::INVALID,
                at: chrono::Utc::now(),
            });
            return Err(RunError::Watchdog(e));
        }
    };
    for (engine, how) in watchdogs.describe() {
        let _ = journal.append(&JournalEntry::WatchdogStarted {
            engine,
            how,
            lease_ms: plan.gameday.lease.as_std().as_millis() as u64,
            at: chrono::Utc::now(),
        });
    }
    Ok(watchdogs)
}

/// A book for each ledger probe, in probe order, shared by its task and
/// the dispatcher.
fn ledgers_of(plan: &Plan, run_id: &str) -> probe::ledger::Ledgers {
    probe::ledger::Ledgers {
        list: plan
            .probes
            .iter()
            .enumerate()
            .filter_map(|(index, p)| match &p.probe.kind {
                crate::gameday::model::ProbeKind::Ledger(spec) => {
                    Some(std::sync::Arc::new(probe::ledger::Ledger::new(
                        &p.probe.name,
                        index,
                        spec,
                        run_id,
                        p.probe.timeout.as_std(),
                    )))
                }
                _ => None,
            })
            .collect(),
    }
}

/// One task per probe, each asking the engine its container lives on,
/// sending its samples until `cancel`.
fn spawn_probes(
    plan: &Plan,
    engines: &Engines,
    clock: Clock,
    exec_gate: &std::sync::Arc<probe::ExecGate>,
    (window_cuts, rate_dials, ledgers): (
        &std::sync::Arc<probe::load::WindowCuts>,
        &std::sync::Arc<probe::load::RateDials>,
        &probe::ledger::Ledgers,
    ),
    samples: mpsc::UnboundedSender<probe::ProbeSample>,
    cancel: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let http = probe::http_client();
    plan.probes
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let containers = p.containers();
            // A probe of a container asks the engine that container lives on.
            let engine = containers
                .first()
                .map_or(engines.default_engine(), |c| engines.of(c))
                .clone();
            let container_ids = containers.iter().map(|c| c.id.clone()).collect();
            let mut runner =
                ProbeRunner::new(index, p.probe.clone(), container_ids, http.clone(), engine);
            runner.exec_gate = exec_gate.clone();
            runner.cuts = window_cuts.clone();
            runner.dials = rate_dials.clone();
            runner.ledger = ledgers
                .list
                .iter()
                .find(|l| l.name() == p.probe.name)
                .cloned();
            probe::spawn(runner, clock, samples.clone(), cancel.clone())
        })
        .collect()
}

/// The run's record from what happened: `result.json` written, the
/// journal's last line, and the same record `gameday report` reads back
/// from these files.
fn write_record(
    plan: &Plan,
    happened: outcome::Happened,
    run_dir: PathBuf,
    mut journal: Journal,
) -> Result<RunOutcome, RunError> {
    let samples = happened.samples.clone();
    let result = outcome::assemble(plan, happened);
    record::write_result(&run_dir, &result)?;
    let _ = journal.append(&JournalEntry::RunFinished {
        exit_code: result.exit_code,
        at: result.ended_at,
    });
    let mut record = RunRecord {
        journal: record::journal::read(journal.path()).unwrap_or_default(),
        result,
        annotations: Default::default(),
        samples,
        followups: Vec::new(),
    };
    record.followups = record::followups_in(run_dir.parent(), &record.result);
    Ok(RunOutcome {
        exit_code: record.result.exit_code,
        run_dir,
        record,
    })
}
