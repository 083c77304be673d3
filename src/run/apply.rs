//! The apply/revert protocol of one fault on one container: work out the
//! revert recipe, journal it and fsync, have the watchdog hold it, check
//! the watchdog has not fired since, then apply; a fault whose recipe could
//! not be journalled or held is not applied. An apply racing the watchdog's
//! fire is reverted again with its intent reopened; one that fails or is
//! interrupted is settled (as `recover` settles it), then reverted.
//! Reverting consumes the [`AppliedFault`] and records how it went.

use std::time::Duration;

use chrono::Utc;

use super::dispatcher::{Dispatcher, Interrupt, Raced};
use crate::docker::{ContainerInfo, Engine, Operation};
use crate::fault::{self, AppliedFault, RevertRecipe};
use crate::gameday::decode::DEFAULT_HOST;
use crate::gameday::model::{ContainerFault, Fault, FaultFamily, Reach};
use crate::record::journal::JournalEntry;
use crate::record::result::{FaultLeft, FaultResult};

/// Why a fault is not in place after `apply_one`.
#[derive(Clone)]
pub(super) enum NotApplied {
    /// It could not be applied (and what it may have done was undone).
    Error(String),
    /// The run must stop: a signal, `stop_if`, `halt_if`, a halt, or its
    /// watchdog fired. The fault was not applied, or was undone at once;
    /// `said` is what became of it, for its result.
    Interrupted { interrupt: Interrupt, said: String },
}

/// An apply that did not complete.
pub(super) enum Unfinished {
    Failed(String),
    Interrupted(Interrupt),
}

impl Unfinished {
    pub(super) fn error(&self) -> String {
        match self {
            Unfinished::Failed(e) => e.clone(),
            Unfinished::Interrupted(Interrupt::Halt(reason)) => {
                format!("interrupted while it was being applied: {reason}")
            }
            Unfinished::Interrupted(Interrupt::Signal) => {
                "interrupted by a signal while it was being applied".to_string()
            }
        }
    }
}

/// How long an interrupted apply is given to land before its recipe runs
/// (a request already sent, a helper being created): the run ends within
/// a second or two of an interrupt, not after a stop's grace.
const INTERRUPTED_SETTLE: Duration = Duration::from_secs(1);

/// An interrupted stop or restart may be in its grace period, and would
/// take the container down when it ends, after the run had put it back:
/// it is ended now (SIGKILL), so the recipe's start is the last word.
/// Returns what was done, in words.
async fn hurry(engine: &Engine, fault: &Fault, container: &ContainerInfo) -> Option<String> {
    let what = match fault.family() {
        FaultFamily::Container(ContainerFault::Stop(_)) => "stop",
        FaultFamily::Container(ContainerFault::Restart(_)) => "restart",
        // The replica may be in its stop grace, and would go down after
        // the rollback found it running.
        FaultFamily::Deploy(_) => "deploy's stop",
        FaultFamily::Container(ContainerFault::Kill(_) | ContainerFault::Pause(_))
        | FaultFamily::Net(_)
        | FaultFamily::Process(_)
        | FaultFamily::Stress(_)
        | FaultFamily::Script(_)
        | FaultFamily::App(_) => return None,
    };
    if !matches!(
        engine.state(&container.id).await,
        Ok(crate::gameday::units::ContainerState::Running)
    ) {
        return None;
    }
    let kill = Operation::Kill {
        signal: "SIGKILL".into(),
    };
    match engine
        .perform(&container.id, &kill, Duration::from_secs(2))
        .await
    {
        Ok(_) => Some(format!(
            "the {what} under way was ended at once (SIGKILL) rather than at the end of its grace period"
        )),
        Err(e) => Some(format!("the {what} under way could not be hurried ({e})")),
    }
}

/// What undoing an unfinished apply did on the engine, to be recorded.
pub(super) struct Undone {
    /// An interrupted stop or restart ended at once, in words.
    hurried: Option<String>,
    requested_at: chrono::DateTime<Utc>,
    outcome: Result<Option<chrono::DateTime<Utc>>, fault::FaultError>,
}

/// The engine's side of undoing an apply that failed or was interrupted,
/// which may have half happened: a Docker call whose answer was lost may
/// still be landing (a stop in its grace period), so it is first settled
/// as `recover` settles it, and an interrupted stop is hurried; the target
/// was untouched before, so its recipe puts it back. It does not touch the
/// run's state, so the undos of many containers can run at once.
pub(super) async fn undo_work(
    engine: &Engine,
    fault: &Fault,
    container: &ContainerInfo,
    recipe: &RevertRecipe,
    how: &Unfinished,
) -> Undone {
    let mut hurried = None;
    match how {
        Unfinished::Failed(_) => match fault.reach() {
            Reach::DockerApi => {
                fault::settle_apply(engine, recipe, fault::settle_within(fault, recipe)).await;
            }
            // gameday's own work (rules, workers, scripts) has ended
            // by the time the apply returns.
            Reach::DockerNetwork | Reach::Namespace | Reach::Host => {}
        },
        Unfinished::Interrupted(_) => {
            hurried = hurry(engine, fault, container).await;
            fault::settle_apply(engine, recipe, INTERRUPTED_SETTLE).await;
        }
    }
    let requested_at = Utc::now();
    let outcome = recipe.execute(engine).await;
    Undone {
        hurried,
        requested_at,
        outcome,
    }
}

/// Test only: `GAMEDAY_TEST_STALL_AFTER_ACK` (milliseconds) makes the
/// runner wait between its watchdog's ack and its check that the watchdog
/// has not fired, and `GAMEDAY_TEST_STALL_AFTER_APPLY` between an apply
/// landing and the runner confirming it, so that tests/liveness.rs can
/// make the watchdog fire in those gaps. Nothing else sets them.
pub(super) const STALL_AFTER_ACK: &str = "GAMEDAY_TEST_STALL_AFTER_ACK";
pub(super) const STALL_AFTER_APPLY: &str = "GAMEDAY_TEST_STALL_AFTER_APPLY";

pub(super) async fn test_stall(variable: &str) {
    if let Some(ms) = std::env::var(variable)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// A fault in place, with where its result is kept.
pub(super) struct Held {
    pub(super) applied: AppliedFault,
    /// Its index in the scenario's `faults`.
    pub(super) fault: usize,
    /// Its place in the scenario's fault results.
    pub(super) slot: usize,
    /// Its id in the journal.
    pub(super) id: String,
}

/// A held fault being reverted: what recording its revert needs.
pub(super) struct Reverting {
    id: String,
    revert_text: String,
    engine_name: String,
    container_id: String,
    unpausing: bool,
}

impl Dispatcher {
    /// The containers a fault acts on: those the plan chose (every one
    /// with `pick: all`), so `gameday plan --seed N` shows them, and the
    /// plan checked them (their reach, their namespaces, their engines'
    /// watchdogs). Every trial of a repeat acts on the same ones. A
    /// search trial whose value picks fewer (`pick: { count: "{{x}}" }`)
    /// takes that many of them, drawn from the target's seed and the
    /// trial's number: the plan chose and checked for the top of the
    /// range, which takes the most, and nothing outside its choice is
    /// ever acted on.
    pub(super) fn pick(&self, scenario: usize, fault: usize) -> Vec<ContainerInfo> {
        let resolved = &self.plan.scenarios[scenario].faults[fault];
        let targets = &resolved.targets;
        let checked = &targets.containers;
        let pick = &resolved.fault.target().pick;
        let (Some(choice), Some(trial)) = (&targets.choice, self.trial) else {
            return checked.clone();
        };
        if *pick == targets.target.pick {
            return checked.clone();
        }
        let wanted = crate::plan::pick::how_many_of(pick, choice.among.len()).min(checked.len());
        let seed = crate::plan::pick::derive(choice.seed, &[trial as u64]);
        let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
        crate::plan::pick::choose(checked, &crate::gameday::model::Pick::Count(wanted), seed)
            .unwrap_or_else(|_| checked.clone())
    }

    /// `deploy` with `wait: { probe: NAME }`: that probe.
    fn ready_probe(&self, fault: &Fault) -> Option<crate::gameday::model::Probe> {
        let FaultFamily::Deploy(d) = fault.family() else {
            return None;
        };
        let crate::gameday::model::DeployWait::Probe(name) = &d.wait else {
            return None;
        };
        self.plan
            .gameday
            .probes
            .0
            .iter()
            .find(|p| &p.name == name)
            .cloned()
    }

    /// What the fault's apply needs to know of the run and the scenario.
    pub(super) fn apply_context(
        &self,
        scenario: usize,
        f: usize,
        container: &ContainerInfo,
        fault_id: &str,
    ) -> fault::ApplyContext {
        let resolved = &self.plan.scenarios[scenario].faults[f];
        let route = &self.plan.inventory.namespace;
        fault::ApplyContext {
            tag: fault::net::tag(&self.run_id, fault_id),
            project: self.plan.gameday.scope.compose_project.clone(),
            peers: resolved.peers.clone(),
            netem_available: route.netem_available,
            helper_image: route.helper_image(&container.engine).map(String::from),
            max_lifetime: self.plan.remaining(scenario),
            filesystem: resolved.room(&container.id),
            ready_probe: self.ready_probe(&resolved.fault),
        }
    }

    /// The journal's record of the intent to apply fault `f` of `scenario`
    /// to `container`: written (fsynced) before it is applied, and again
    /// when an apply that raced a watchdog's fire reopens it.
    pub(super) fn intent(
        &self,
        scenario: usize,
        f: usize,
        container: &ContainerInfo,
        fault_id: &str,
        recipe: &RevertRecipe,
    ) -> JournalEntry {
        let fault = &self.plan.scenarios[scenario].faults[f].fault;
        JournalEntry::FaultIntent {
            fault_id: fault_id.to_string(),
            scenario: self.plan.gameday.scenarios[scenario].name.clone(),
            kind: fault.kind().to_string(),
            recipe: recipe.clone(),
            at: Utc::now(),
            host: (container.engine != DEFAULT_HOST).then(|| container.engine.clone()),
            settle_ms: Some(fault::settle_within(fault, recipe).as_millis() as u64),
            what: Some(fault.describe(&container.name).0),
        }
    }

    /// Work out the revert recipe, journal it (fsynced), have the watchdog
    /// hold it, then apply the fault. A fault whose recipe could not be
    /// journalled or held is not applied; nor is one whose watchdog fired
    /// since it took the recipe. The slow parts race the run's stop
    /// sources (signals, `stop_if`, halts, the scenario's `halt_if`): an
    /// interrupt is acted on at once, and what was under way is undone.
    pub(super) async fn apply_one(
        &mut self,
        scenario: usize,
        f: usize,
        container: &ContainerInfo,
        fault_id: &str,
    ) -> Result<AppliedFault, NotApplied> {
        let context = self.apply_context(scenario, f, container, fault_id);
        let fault = self.plan.scenarios[scenario].faults[f].fault.clone();
        let halt_if = self.plan.gameday.scenarios[scenario].halt_if.clone();
        let engine = self.engines.of(container).clone();
        // An interrupt that came during the previous container's apply
        // stops the sequence before anything more is touched.
        if let Some(interrupt) = self.pending_interrupt(&halt_if).await {
            return Err(NotApplied::Interrupted {
                interrupt,
                said: "not applied: the run was interrupted first".into(),
            });
        }
        // Read only, and quick (a helper may be started to read): not raced.
        let recipe = fault::prepare(&engine, &fault, container, &context)
            .await
            .map_err(|e| NotApplied::Error(e.to_string()))?;
        let intent = self.intent(scenario, f, container, fault_id, &recipe);
        self.journal.append(&intent).map_err(|e| {
            NotApplied::Error(format!(
                "cannot journal the fault before applying it, so it was not applied: {e}"
            ))
        })?;
        self.arm_watchdog(
            container,
            fault_id,
            &recipe,
            fault::settle_within(&fault, &recipe),
        )
        .await?;
        test_stall(STALL_AFTER_ACK).await;
        // The watchdog may have fired since it took the recipe (the lease
        // ran out, a halt): it has reverted "everything", this included,
        // so applying now would leave the fault in place with its intent
        // closed.
        if let Some(why) = self.watchdogs.fired(&container.engine) {
            self.watchdogs.disarm(&container.engine, fault_id);
            self.never_applied(
                fault_id,
                format!("its watchdog fired before it was applied ({why}), so it was not applied"),
            );
            return Err(NotApplied::Interrupted {
                interrupt: Interrupt::Halt(why),
                said: "not applied: its watchdog had fired".into(),
            });
        }
        // An exec racing the freeze can wedge the engine: none in flight.
        let pausing = matches!(fault, Fault::Pause(_));
        if pausing {
            let longest = self.plan.gameday.probes.longest_timeout();
            self.exec_gate.hold(&container.id, longest).await;
        }
        let applied = self
            .racing(
                fault::apply(&engine, &fault, container, &context, recipe.clone()),
                &halt_if,
            )
            .await;
        if pausing && !matches!(applied, Raced::Done(Ok(_))) {
            self.exec_gate.release(&container.id);
        }
        let unfinished = match applied {
            Raced::Done(Ok(a)) => {
                test_stall(STALL_AFTER_APPLY).await;
                let reopened = self.intent(scenario, f, container, fault_id, &recipe);
                return self.confirm_applied(&engine, fault_id, a, reopened).await;
            }
            Raced::Done(Err(e)) => Unfinished::Failed(e.to_string()),
            Raced::Interrupted(interrupt) => Unfinished::Interrupted(interrupt),
        };
        let _ = self.journal.append(&JournalEntry::FaultApplyFailed {
            fault_id: fault_id.to_string(),
            error: unfinished.error(),
        });
        let undone = self
            .undo_unfinished(&engine, &fault, container, &recipe, fault_id, &unfinished)
            .await;
        Err(match unfinished {
            Unfinished::Failed(e) => NotApplied::Error(e),
            Unfinished::Interrupted(interrupt) => NotApplied::Interrupted {
                interrupt,
                said: format!("interrupted while it was being applied; {undone}"),
            },
        })
    }

    /// Hand the recipe to the engine's watchdog. When it cannot take it
    /// the fault is not applied (journalled so); when that is because the
    /// watchdog fired, the run stops.
    async fn arm_watchdog(
        &mut self,
        container: &ContainerInfo,
        fault_id: &str,
        recipe: &RevertRecipe,
        settle: Duration,
    ) -> Result<(), NotApplied> {
        // The watchdog holds the recipe before the fault exists: a runner
        // that dies from here on leaves nothing the watchdog cannot undo.
        let Err(e) = self
            .watchdogs
            .arm(&container.engine, fault_id, recipe, settle)
            .await
        else {
            return Ok(());
        };
        Err(self.not_armed(container, fault_id, &e))
    }

    /// The watchdog could not take the recipe (`e`): the intent is closed,
    /// and the run stops if that is because the watchdog fired.
    pub(super) fn not_armed(
        &mut self,
        container: &ContainerInfo,
        fault_id: &str,
        e: &str,
    ) -> NotApplied {
        let error = format!("{e}, so the fault was not applied");
        self.never_applied(fault_id, error.clone());
        match self.watchdogs.fired(&container.engine) {
            Some(why) => NotApplied::Interrupted {
                interrupt: Interrupt::Halt(why),
                said: "not applied: its watchdog had fired".into(),
            },
            None => NotApplied::Error(error),
        }
    }

    /// Close an intent whose fault was never applied.
    pub(super) fn never_applied(&mut self, fault_id: &str, error: String) {
        let _ = self.journal.append(&JournalEntry::FaultApplyFailed {
            fault_id: fault_id.to_string(),
            error,
        });
        let _ = self.journal.append(&JournalEntry::FaultReverted {
            fault_id: fault_id.to_string(),
            by: "run (never applied)".into(),
            requested_at: Utc::now(),
            confirmed_at: None,
        });
    }

    /// Journal an apply that landed and tell the watchdog; then look once
    /// more whether the watchdog fired meanwhile. If it did, its revert may
    /// have run before the apply landed: the intent is reopened (`reopened`,
    /// so a runner that dies now leaves it to `recover`), the fault is
    /// reverted at once, and the run stops.
    pub(super) async fn confirm_applied(
        &mut self,
        engine: &Engine,
        fault_id: &str,
        a: AppliedFault,
        reopened: JournalEntry,
    ) -> Result<AppliedFault, NotApplied> {
        let _ = self.journal.append(&JournalEntry::FaultApplied {
            fault_id: fault_id.to_string(),
            requested_at: a.requested_at,
            confirmed_at: a.confirmed_at,
            mechanism: a.mechanism.map(String::from),
        });
        self.watchdogs.applied(&a.container.engine, fault_id);
        let Some(why) = self.watchdogs.fired(&a.container.engine) else {
            return Ok(a);
        };
        let _ = self.journal.append(&reopened);
        let (engine_name, container_id) = (a.container.engine.clone(), a.container.id.clone());
        let unpausing = matches!(a.recipe, RevertRecipe::Unpause { .. });
        let requested_at = Utc::now();
        let said = match a.revert(engine).await {
            Ok(r) => {
                self.watchdogs.disarm(&engine_name, fault_id);
                let _ = self.journal.append(&JournalEntry::FaultReverted {
                    fault_id: fault_id.to_string(),
                    by: "run (applied as its watchdog fired)".into(),
                    requested_at,
                    confirmed_at: r.revert_confirmed_at,
                });
                "applied as its watchdog fired, and reverted at once".to_string()
            }
            Err((a, e)) => {
                self.revert_failed(&a, fault_id, e.to_string());
                format!("applied as its watchdog fired, and COULD NOT BE REVERTED: {e}")
            }
        };
        if unpausing {
            self.exec_gate.release(&container_id);
        }
        Err(NotApplied::Interrupted {
            interrupt: Interrupt::Halt(format!(
                "{why}; a fault applied as it fired was reverted again"
            )),
            said,
        })
    }

    /// Undo an apply that failed or was interrupted (see [`undo_work`]),
    /// and record how that went. Returns what happened, in words.
    async fn undo_unfinished(
        &mut self,
        engine: &Engine,
        fault: &Fault,
        container: &ContainerInfo,
        recipe: &RevertRecipe,
        fault_id: &str,
        how: &Unfinished,
    ) -> String {
        let undone = undo_work(engine, fault, container, recipe, how).await;
        self.record_undo(fault, container, recipe, fault_id, how, undone)
    }

    /// Journal and say how undoing an unfinished apply went; a fault that
    /// could not be undone is left, said so, and its intent stays open
    /// for `recover`. Returns what happened, in words.
    pub(super) fn record_undo(
        &mut self,
        fault: &Fault,
        container: &ContainerInfo,
        recipe: &RevertRecipe,
        fault_id: &str,
        how: &Unfinished,
        undone: Undone,
    ) -> String {
        let mut said: Vec<String> = undone.hurried.into_iter().collect();
        let by = match how {
            Unfinished::Failed(_) => "run (apply failed)",
            Unfinished::Interrupted(_) => "run (interrupted while applying)",
        };
        match undone.outcome {
            Ok(confirmed_at) => {
                self.watchdogs.disarm(&container.engine, fault_id);
                let _ = self.journal.append(&JournalEntry::FaultReverted {
                    fault_id: fault_id.to_string(),
                    by: by.into(),
                    requested_at: undone.requested_at,
                    confirmed_at,
                });
                said.push("what it had done was reverted".into());
            }
            Err(clean_error) => {
                let _ = self.journal.append(&JournalEntry::FaultRevertFailed {
                    fault_id: fault_id.to_string(),
                    error: clean_error.to_string(),
                    by_hand: recipe.by_hand(),
                });
                self.faults_left.push(FaultLeft {
                    kind: fault.kind().to_string(),
                    container: container.name.clone(),
                    container_id: container.id.clone(),
                    error: clean_error.to_string(),
                    by_hand: recipe.by_hand(),
                });
                said.push(format!(
                    "it COULD NOT BE REVERTED: {clean_error}; by hand: {}",
                    recipe.by_hand()
                ));
            }
        }
        said.join("; ")
    }

    /// A revert that failed: journalled, said, and listed as left.
    fn revert_failed(&mut self, a: &AppliedFault, fault_id: &str, e: String) {
        let _ = self.journal.append(&JournalEntry::FaultRevertFailed {
            fault_id: fault_id.to_string(),
            error: e.clone(),
            by_hand: a.recipe.by_hand(),
        });
        self.faults_left.push(FaultLeft {
            kind: a.kind.to_string(),
            container: a.container.name.clone(),
            container_id: a.container.id.clone(),
            error: e,
            by_hand: a.recipe.by_hand(),
        });
    }

    /// Revert one held fault, journal how it went, and fill in its result.
    pub(super) async fn revert_one(
        &mut self,
        held: Held,
        scenario: usize,
        result: &mut FaultResult,
    ) {
        let (reverting, applied) = self.reverting(held, scenario);
        let engine = self.engines.of(&applied.container).clone();
        let outcome = applied.revert(&engine).await;
        self.record_revert(scenario, reverting, outcome, result);
    }

    /// What recording the revert of `held` needs, taken before the revert
    /// consumes its applied fault; and that fault.
    pub(super) fn reverting(&self, held: Held, scenario: usize) -> (Reverting, AppliedFault) {
        let Held {
            applied, fault, id, ..
        } = held;
        let description = self.plan.scenarios[scenario].faults[fault]
            .fault
            .describe(&applied.container.name);
        let mut revert_text = description.1;
        if let (Some(service), RevertRecipe::Nothing { .. }) =
            (&applied.container.swarm_service, &applied.recipe)
        {
            revert_text = format!(
                "nothing to undo on {}: the swarm replaces the task of {service}",
                applied.container.name
            );
        }
        let reverting = Reverting {
            id,
            revert_text,
            engine_name: applied.container.engine.clone(),
            container_id: applied.container.id.clone(),
            unpausing: matches!(applied.recipe, RevertRecipe::Unpause { .. }),
        };
        (reverting, applied)
    }

    /// Journal how a revert went, say it, and fill in the fault's result.
    pub(super) fn record_revert(
        &mut self,
        scenario: usize,
        reverting: Reverting,
        outcome: Result<fault::RevertedFault, (AppliedFault, fault::FaultError)>,
        result: &mut FaultResult,
    ) {
        let Reverting {
            id,
            revert_text,
            engine_name,
            container_id,
            unpausing,
        } = reverting;
        match outcome {
            Ok(r) => {
                if unpausing {
                    self.exec_gate.release(&container_id);
                }
                self.watchdogs.disarm(&engine_name, &id);
                let id_for_notify = id.clone();
                let _ = self.journal.append(&JournalEntry::FaultReverted {
                    fault_id: id,
                    by: "run".into(),
                    requested_at: r.revert_requested_at,
                    confirmed_at: r.revert_confirmed_at,
                });
                result.reverted_at = Some(r.revert_requested_at);
                result.revert_confirmed_at = r.revert_confirmed_at;
                if let Some(said) = r.detail {
                    result.detail = Some(match result.detail.take() {
                        Some(applied) => format!("{applied}; {said}"),
                        None => said,
                    });
                }
                self.notify.send(crate::notify::Event::FaultReverted {
                    fault_id: id_for_notify,
                    scenario: self.plan.gameday.scenarios[scenario].name.clone(),
                    action: revert_text.clone(),
                });
                self.note(format!("reverted: {revert_text}"));
            }
            Err((a, e)) => {
                let mut e = e.to_string();
                if self.watchdogs.on_the_engine(&engine_name) {
                    e.push_str(" (the watchdog on that engine reverts it on its own when this runner cannot: `gameday recover` checks once the engine is reachable)");
                }
                let _ = self.journal.append(&JournalEntry::FaultRevertFailed {
                    fault_id: id,
                    error: e.clone(),
                    by_hand: a.recipe.by_hand(),
                });
                self.note(format!(
                    "COULD NOT REVERT: {revert_text}: {e}; by hand: {}",
                    a.recipe.by_hand()
                ));
                result.error = Some(format!("revert failed: {e}"));
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
}
