//! One fault on many containers at once (issue 29). A `pause` or a
//! `kill` (one Docker API call on its own container that lands at once,
//! nothing shared between replicas) is applied to all the containers it
//! picks together, and reverted together: 60 replicas are frozen within
//! the time of 60 concurrent engine calls, not of 60 calls in turn.
//!
//! Each container keeps the protocol of [`super::apply`], in three passes:
//! 1. in turn, quick bookkeeping: an interrupt already come stops it all;
//!    each recipe is worked out; the intents are journalled with one fsync
//!    for the batch, made before any apply starts (a record the fsync did
//!    not cover is only a recipe for a fault that never was); the
//!    watchdogs are handed every recipe at once, each acknowledged; one
//!    refused, or a watchdog that fired since, and none is applied (every
//!    intent closed);
//! 2. at once: the exec gates of paused containers are held, and the
//!    engine calls run together, raced with the run's stop sources; an
//!    interrupt drops those under way (the rest have landed);
//! 3. in turn: each landed apply is confirmed as [`super::apply`] confirms
//!    one (journal, watchdog, a fire that raced it), held and recorded;
//!    those that failed or were under way are undone (the engine's part
//!    at once, the records in turn) and their results say so.
//!
//! The other kinds stay one container after the other. A `stop` or a
//! `restart` lasts its grace period (up to its timeout) on each replica:
//! in turn, an interrupt finds one replica in its grace and the rest
//! untouched (tests/apply_safety.rs holds it to that), where at once it
//! would find every replica going down. Network, HTTP and DNS faults may
//! share a network namespace between targets (their rules, qdiscs and
//! proxies would race), stress and process faults start workers from this
//! host whose room was judged one at a time, scripts are the user's and
//! may rely on their order, and a `deploy`'s strategy orders its replicas
//! (a rolling deploy waits for each).

use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;

use super::apply::{
    Held, NotApplied, STALL_AFTER_ACK, STALL_AFTER_APPLY, Undone, Unfinished, test_stall, undo_work,
};
use super::dispatcher::{Dispatcher, Interrupt, Raced};
use crate::docker::{ContainerInfo, Engine};
use crate::fault::{self, AppliedFault, ApplyContext, FaultError, RevertRecipe};
use crate::gameday::model::{ContainerFault, Fault, FaultFamily};
use crate::record::journal::JournalEntry;
use crate::record::result::FaultResult;

/// Is `fault` applied to all its containers at once? A pause or a kill:
/// one engine call on each container, landing at once, nothing shared
/// between them (see the module's docs for why the others are not).
pub(super) fn at_once(fault: &Fault) -> bool {
    match fault.family() {
        FaultFamily::Container(ContainerFault::Pause(_) | ContainerFault::Kill(_)) => true,
        FaultFamily::Container(ContainerFault::Stop(_) | ContainerFault::Restart(_))
        | FaultFamily::Net(_)
        | FaultFamily::Process(_)
        | FaultFamily::Stress(_)
        | FaultFamily::Script(_)
        | FaultFamily::App(_)
        | FaultFamily::Deploy(_) => false,
    }
}

/// One container of the batch.
struct Target {
    container: ContainerInfo,
    engine: Engine,
    fault_id: String,
    /// Its place in the scenario's fault results.
    slot: usize,
    context: ApplyContext,
}

/// A target whose recipe is journalled and held by its watchdog.
struct Armed {
    target: Target,
    recipe: RevertRecipe,
}

/// Where the run stands after a batch's applies: the first interrupt, else
/// the first error.
#[derive(Default)]
struct Worst(Option<NotApplied>);

impl Worst {
    fn add(&mut self, not: NotApplied) {
        let keep = match (&self.0, &not) {
            (None, _) | (Some(NotApplied::Error(_)), NotApplied::Interrupted { .. }) => true,
            (Some(NotApplied::Error(_) | NotApplied::Interrupted { .. }), _) => false,
        };
        if keep {
            self.0 = Some(not);
        }
    }

    fn into_result(self) -> Result<(), NotApplied> {
        self.0.map_or(Ok(()), Err)
    }
}

impl Dispatcher {
    /// Apply fault `f` of scenario `index` to every one of `containers` at
    /// once (see the module's docs), recording each one's result.
    pub(super) async fn apply_at_once(
        &mut self,
        index: usize,
        f: usize,
        containers: Vec<ContainerInfo>,
        held: &mut Vec<Held>,
        faults: &mut Vec<FaultResult>,
    ) -> Result<(), NotApplied> {
        let fault = self.plan.scenarios[index].faults[f].fault.clone();
        let mut targets = Vec::with_capacity(containers.len());
        for container in containers {
            faults.push(self.fault_result(index, f, &container));
            let fault_id = self.fault_id(index, f, &container);
            targets.push(Target {
                engine: self.engines.of(&container).clone(),
                context: self.apply_context(index, f, &container, &fault_id),
                slot: faults.len() - 1,
                fault_id,
                container,
            });
        }
        let slots: Vec<usize> = targets.iter().map(|t| t.slot).collect();
        let armed = match self.arm_all(index, f, &fault, targets).await {
            Ok(armed) => armed,
            Err(not) => {
                for slot in slots {
                    self.record_not_applied(not.clone(), &mut faults[slot]);
                }
                return Err(not);
            }
        };
        let (outcomes, interrupt) = self.apply_all(index, &fault, &armed).await;
        let mut worst = Worst::default();
        let mut unfinished = Vec::new();
        let mut landed = Vec::new();
        for (a, outcome) in armed.into_iter().zip(outcomes) {
            match (outcome, &interrupt) {
                (Some(Ok(applied)), _) => landed.push((a, applied)),
                (Some(Err(e)), _) => unfinished.push((a, Unfinished::Failed(e.to_string()))),
                (None, Some(i)) => unfinished.push((a, Unfinished::Interrupted(i.clone()))),
                // Only an interrupt leaves an apply unfinished; were it
                // otherwise, it is undone all the same.
                (None, None) => {
                    unfinished.push((a, Unfinished::Failed("its apply did not finish".into())))
                }
            }
        }
        if !landed.is_empty() {
            test_stall(STALL_AFTER_APPLY).await;
        }
        for (a, applied) in landed {
            let reopened =
                self.intent(index, f, &a.target.container, &a.target.fault_id, &a.recipe);
            let t = a.target;
            match self
                .confirm_applied(&t.engine, &t.fault_id, applied, reopened)
                .await
            {
                Ok(applied) => {
                    self.record_applied(index, f, applied, t.fault_id, t.slot, held, faults)
                }
                Err(not) => worst.add(self.record_not_applied(not, &mut faults[t.slot])),
            }
        }
        for not in self.undo_all(&fault, unfinished, faults).await {
            worst.add(not);
        }
        worst.into_result()
    }

    /// Pass 1: the bookkeeping, in turn, that must precede every apply:
    /// no interrupt yet, each recipe worked out, the intents journalled
    /// (one fsync), every recipe held by its watchdog, none fired since.
    /// On error nothing was applied, and every intent journalled is closed.
    async fn arm_all(
        &mut self,
        index: usize,
        f: usize,
        fault: &Fault,
        targets: Vec<Target>,
    ) -> Result<Vec<Armed>, NotApplied> {
        let halt_if = self.plan.gameday.scenarios[index].halt_if.clone();
        if let Some(interrupt) = self.pending_interrupt(&halt_if).await {
            return Err(NotApplied::Interrupted {
                interrupt,
                said: "not applied: the run was interrupted first".into(),
            });
        }
        let mut armed = Vec::with_capacity(targets.len());
        for target in targets {
            // Read only, and quick for this family (no engine call).
            let recipe = fault::prepare(&target.engine, fault, &target.container, &target.context)
                .await
                .map_err(|e| NotApplied::Error(format!("{}: {e}", target.container.name)))?;
            armed.push(Armed { target, recipe });
        }
        self.journal_intents(index, f, &armed)?;
        let settles: Vec<_> = armed
            .iter()
            .map(|a| fault::settle_within(fault, &a.recipe))
            .collect();
        // The watchdogs take the recipes before any fault exists; the arms
        // go out together and each waits for its own ack.
        let acks = join_all(armed.iter().zip(&settles).map(|(a, settle)| {
            let t = &a.target;
            self.watchdogs
                .arm(&t.container.engine, &t.fault_id, &a.recipe, *settle)
        }))
        .await;
        if acks.iter().any(Result::is_err) {
            let mut worst = Worst::default();
            for (a, ack) in armed.iter().zip(acks) {
                let t = &a.target;
                match ack {
                    Ok(()) => {
                        self.watchdogs.disarm(&t.container.engine, &t.fault_id);
                        self.never_applied(
                            &t.fault_id,
                            "another container's recipe could not be held by its watchdog, so none was applied".into(),
                        );
                    }
                    Err(e) => worst.add(self.not_armed(&t.container, &t.fault_id, &e)),
                }
            }
            return Err(worst.0.unwrap_or_else(|| {
                NotApplied::Error("a recipe could not be held by its watchdog".into())
            }));
        }
        test_stall(STALL_AFTER_ACK).await;
        // A watchdog that fired since it took its recipe has reverted
        // "everything": applying now would leave the fault with its
        // intent closed.
        let fired = armed
            .iter()
            .find_map(|a| self.watchdogs.fired(&a.target.container.engine));
        if let Some(why) = fired {
            for a in &armed {
                self.watchdogs
                    .disarm(&a.target.container.engine, &a.target.fault_id);
                self.never_applied(
                    &a.target.fault_id,
                    format!(
                        "its watchdog fired before it was applied ({why}), so it was not applied"
                    ),
                );
            }
            return Err(NotApplied::Interrupted {
                interrupt: Interrupt::Halt(why),
                said: "not applied: its watchdog had fired".into(),
            });
        }
        Ok(armed)
    }

    /// Every intent of the batch, made durable by one fsync (the last
    /// append) before any apply starts. If one cannot be written, none is
    /// applied, and those written are closed.
    fn journal_intents(
        &mut self,
        index: usize,
        f: usize,
        armed: &[Armed],
    ) -> Result<(), NotApplied> {
        for (i, a) in armed.iter().enumerate() {
            let t = &a.target;
            let intent = self.intent(index, f, &t.container, &t.fault_id, &a.recipe);
            let written = if i + 1 == armed.len() {
                self.journal.append(&intent)
            } else {
                self.journal.append_lazily(&intent)
            };
            if let Err(e) = written {
                let error = format!(
                    "cannot journal the fault before applying it, so it was not applied: {e}"
                );
                for a in &armed[..i] {
                    self.never_applied(&a.target.fault_id, error.clone());
                }
                return Err(NotApplied::Error(error));
            }
        }
        Ok(())
    }

    /// Pass 2: every apply at once, raced with the run's stop sources. A
    /// paused container holds its exec gate (an exec racing the freeze can
    /// wedge the engine); a pause that did not land lets it go. Returns
    /// each target's outcome (`None`: under way when `interrupt` came,
    /// dropped there).
    async fn apply_all(
        &mut self,
        index: usize,
        fault: &Fault,
        armed: &[Armed],
    ) -> (
        Vec<Option<Result<AppliedFault, FaultError>>>,
        Option<Interrupt>,
    ) {
        let halt_if = self.plan.gameday.scenarios[index].halt_if.clone();
        let gate = self.exec_gate.clone();
        let pausing = matches!(fault, Fault::Pause(_));
        if pausing {
            let longest = self.plan.gameday.probes.longest_timeout();
            join_all(
                armed
                    .iter()
                    .map(|a| gate.hold(&a.target.container.id, longest)),
            )
            .await;
        }
        let mut outcomes: Vec<Option<Result<AppliedFault, FaultError>>> =
            armed.iter().map(|_| None).collect();
        let mut under_way: FuturesUnordered<_> = armed
            .iter()
            .enumerate()
            .map(|(i, a)| async move {
                let t = &a.target;
                let applied =
                    fault::apply(&t.engine, fault, &t.container, &t.context, a.recipe.clone());
                (i, applied.await)
            })
            .collect();
        let mut interrupt = None;
        loop {
            match self.racing(under_way.next(), &halt_if).await {
                Raced::Done(Some((i, outcome))) => outcomes[i] = Some(outcome),
                Raced::Done(None) => break,
                Raced::Interrupted(i) => {
                    interrupt = Some(i);
                    break;
                }
            }
        }
        drop(under_way);
        if pausing {
            for (a, outcome) in armed.iter().zip(&outcomes) {
                if !matches!(outcome, Some(Ok(_))) {
                    gate.release(&a.target.container.id);
                }
            }
        }
        (outcomes, interrupt)
    }

    /// Pass 3's undos: applies that failed or were interrupted, journalled
    /// so, undone on the engine at once (each settled, hurried, its recipe
    /// run), recorded in turn. Returns why each is not in place.
    async fn undo_all(
        &mut self,
        fault: &Fault,
        unfinished: Vec<(Armed, Unfinished)>,
        faults: &mut [FaultResult],
    ) -> Vec<NotApplied> {
        for (a, how) in &unfinished {
            let _ = self.journal.append(&JournalEntry::FaultApplyFailed {
                fault_id: a.target.fault_id.clone(),
                error: how.error(),
            });
        }
        let undone: Vec<Undone> = join_all(unfinished.iter().map(|(a, how)| {
            undo_work(&a.target.engine, fault, &a.target.container, &a.recipe, how)
        }))
        .await;
        let mut nots = Vec::new();
        for ((a, how), undone) in unfinished.into_iter().zip(undone) {
            let t = &a.target;
            let said = self.record_undo(fault, &t.container, &a.recipe, &t.fault_id, &how, undone);
            let not = match how {
                Unfinished::Failed(e) => NotApplied::Error(e),
                Unfinished::Interrupted(interrupt) => NotApplied::Interrupted {
                    interrupt,
                    said: format!("interrupted while it was being applied; {said}"),
                },
            };
            nots.push(self.record_not_applied(not, &mut faults[t.slot]));
        }
        nots
    }

    /// Revert every container fault `f` holds at once (a fault applied
    /// [`at_once`]): the engine calls together, then each revert journalled,
    /// said and recorded in turn, as [`Dispatcher::revert_one`] does.
    pub(super) async fn revert_at_once(
        &mut self,
        index: usize,
        f: usize,
        held: &mut Vec<Held>,
        faults: &mut [FaultResult],
    ) {
        let mut records = Vec::new();
        let mut reverts = Vec::new();
        while let Some(at) = held.iter().rposition(|h| h.fault == f) {
            let h = held.remove(at);
            let slot = h.slot;
            let (reverting, applied) = self.reverting(h, index);
            let engine = self.engines.of(&applied.container).clone();
            records.push((slot, reverting));
            reverts.push(async move { applied.revert(&engine).await });
        }
        let outcomes = join_all(reverts).await;
        for ((slot, reverting), outcome) in records.into_iter().zip(outcomes) {
            self.record_revert(index, reverting, outcome, &mut faults[slot]);
        }
    }
}
