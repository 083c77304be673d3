//! One scenario as it runs: the dispatcher walks the steps the plan laid
//! out for it ([`crate::plan::Plan::steps_of`], the ones `gameday plan`
//! prints): apply, wait, note, manual, hold, revert in reverse, cooldown.
//! An error or an interrupt skips what is left up to the reverts; every
//! fault applied is reverted whatever happened.

use std::time::Duration;

use tokio::time::Instant;

use super::apply::{Held, NotApplied};
use super::dispatcher::{Dispatcher, Interrupt, Raced};
use super::operator::Answer;
use super::outcome::{ScenarioRun, ScenarioStatus};
use crate::docker::ContainerInfo;
use crate::expect::{Windows, fmt_ms};
use crate::fault::{AppliedFault, RevertRecipe};
use crate::gameday::model::{ManualStep, Scenario};
use crate::gameday::units::HumanDuration;
use crate::plan::Action;
use crate::record::result::FaultResult;

/// One scenario's walk as it goes: the faults held, their results, why
/// it stopped, and when its windows opened.
struct Walk {
    held: Vec<Held>,
    faults: Vec<FaultResult>,
    error: Option<String>,
    interrupt: Option<Interrupt>,
    started_ms: f64,
    apply_start: Option<f64>,
    /// The fault window opens when the first run of fault steps is in place.
    fault_start: Option<f64>,
    revert_start: Option<f64>,
    self_healing: bool,
    /// A scenario without faults (a capacity search's: the load it sets
    /// is what it does): its hold is the fault window.
    faultless: bool,
    /// What the ledgers read back after the cooldown.
    audits: Vec<crate::probe::ledger::LedgerAudit>,
}

impl Walk {
    fn new(started_ms: f64, faultless: bool) -> Walk {
        Walk {
            faultless,
            held: Vec::new(),
            faults: Vec::new(),
            error: None,
            interrupt: None,
            started_ms,
            apply_start: None,
            fault_start: None,
            revert_start: None,
            self_healing: false,
            audits: Vec::new(),
        }
    }

    /// An error or an interrupt skips what is left up to the reverts.
    fn stopped(&self) -> bool {
        self.error.is_some() || self.interrupt.is_some()
    }

    /// The first step after faults are in place opens the fault window.
    fn opens_the_fault_window(&mut self, action: &Action, now_ms: f64) {
        let after_faults = match action {
            Action::Wait(_) | Action::Note(_) | Action::Manual { .. } | Action::Hold(_) => true,
            Action::Baseline(_)
            | Action::StartScenario
            | Action::Apply { .. }
            | Action::Revert { .. }
            | Action::Cooldown(_)
            | Action::End => false,
        };
        if after_faults && (!self.held.is_empty() || self.faultless) && self.fault_start.is_none() {
            self.fault_start = Some(now_ms);
        }
    }

    /// The scenario as it ran, and a reason when the run must stop.
    fn finish(
        self,
        index: usize,
        baseline_ms: f64,
        ended_ms: f64,
    ) -> (ScenarioRun, Option<String>) {
        // A deploy is the fault while it rolls out: its window opens when
        // its first replica is stopped, so the rollout is what is judged.
        let deploys = self
            .faults
            .iter()
            .any(|f| f.kind == crate::gameday::model::FaultKind::Deploy.key());
        let fault_start = match (deploys, self.apply_start) {
            (true, Some(apply_start)) if self.fault_start.is_some() => apply_start,
            _ => self.fault_start.unwrap_or(ended_ms),
        };
        let windows = Windows {
            baseline: (0.0, baseline_ms),
            apply_start: self.apply_start.unwrap_or(self.started_ms),
            fault_start,
            revert_start: self.revert_start.unwrap_or(ended_ms),
            end: ended_ms,
            self_healing_from: self.self_healing.then_some(fault_start),
        };
        let stop = match &self.interrupt {
            Some(Interrupt::Halt(reason)) => Some(reason.clone()),
            Some(Interrupt::Signal) => {
                Some("interrupted by a signal; every fault was reverted".to_string())
            }
            None => None,
        };
        let status = if self.error.is_some() {
            ScenarioStatus::Error
        } else if self.interrupt.is_some() {
            ScenarioStatus::Aborted
        } else {
            ScenarioStatus::Ran
        };
        (
            ScenarioRun {
                index,
                status,
                error: self.error,
                faults: self.faults,
                windows: Some(windows),
                started_ms: self.started_ms,
                ended_ms,
                trial: None,
                audits: self.audits,
            },
            stop,
        )
    }
}

impl Dispatcher {
    /// Run one scenario. Returns it, and a reason when the run must stop.
    pub(super) async fn scenario(
        &mut self,
        index: usize,
        baseline_ms: f64,
    ) -> (ScenarioRun, Option<String>) {
        let scenario = self.plan.gameday.scenarios[index].clone();
        let actions: Vec<Action> = self
            .plan
            .steps_of(index)
            .map(|s| s.action.clone())
            .collect();
        let mut walk = Walk::new(self.now_ms(), scenario.faults.is_empty());
        self.current_scenario = Some(scenario.name.clone());
        for action in actions {
            walk.opens_the_fault_window(&action, self.now_ms());
            self.cut_at(walk.fault_start);
            self.step(index, &scenario, action, &mut walk).await;
        }
        let ended_ms = self.now_ms();
        self.cut_at(Some(ended_ms));
        walk.finish(index, baseline_ms, ended_ms)
    }

    /// One step of the walk; once it stopped, only the reverts and the
    /// cooldown.
    async fn step(&mut self, index: usize, scenario: &Scenario, action: Action, walk: &mut Walk) {
        let stopped = walk.stopped();
        match action {
            Action::StartScenario => self.start_scenario(index, scenario, walk),
            Action::Apply { fault } if !stopped => self.apply_step(index, fault, walk).await,
            Action::Wait(d) if !stopped => self.wait_step(index, scenario, d, walk).await,
            Action::Note(text) if !stopped => self.note(format!("note: {text}")),
            Action::Manual { text, timeout } if !stopped => {
                self.manual_step(scenario, text, timeout, walk).await;
            }
            Action::Hold(d) if !stopped && !d.is_zero() => {
                self.hold(index, scenario, d, walk).await;
            }
            Action::Revert { fault } => self.revert_step(index, fault, walk).await,
            Action::Cooldown(d) => {
                if walk.faultless && walk.revert_start.is_none() {
                    // Nothing to revert: the fault window closes here.
                    walk.fault_start.get_or_insert(self.now_ms());
                    walk.revert_start = Some(self.now_ms());
                    self.cut_at(walk.revert_start);
                }
                self.cooldown_step(index, d, walk).await;
            }
            Action::Apply { .. }
            | Action::Wait(_)
            | Action::Note(_)
            | Action::Manual { .. }
            | Action::Hold(_)
            | Action::Baseline(_)
            | Action::End => {}
        }
    }

    fn start_scenario(&mut self, index: usize, scenario: &Scenario, walk: &mut Walk) {
        let total = self.plan.gameday.scenarios.len();
        self.phase(
            Some(&scenario.name),
            format!("scenario {}/{total}: {}", index + 1, scenario.name),
            None,
        );
        walk.apply_start = Some(self.now_ms());
        self.cut_at(walk.apply_start);
    }

    async fn apply_step(&mut self, index: usize, fault: usize, walk: &mut Walk) {
        match self
            .apply_fault(index, fault, &mut walk.held, &mut walk.faults)
            .await
        {
            Ok(()) => {}
            Err(NotApplied::Error(e)) => {
                walk.error = Some(format!("a fault could not be applied: {e}"));
            }
            Err(NotApplied::Interrupted { interrupt, .. }) => walk.interrupt = Some(interrupt),
        }
    }

    async fn wait_step(&mut self, index: usize, scenario: &Scenario, d: Duration, walk: &mut Walk) {
        let total = self.plan.gameday.scenarios.len();
        let until = Instant::now() + d;
        self.phase(
            Some(&scenario.name),
            format!("[{}/{total}] waiting {}", index + 1, HumanDuration(d)),
            Some(until),
        );
        walk.interrupt = self.wait_until(until, &scenario.halt_if).await;
    }

    async fn manual_step(
        &mut self,
        scenario: &Scenario,
        text: String,
        timeout: Duration,
        walk: &mut Walk,
    ) {
        let step = ManualStep {
            manual: text,
            timeout: HumanDuration(timeout),
        };
        match self.manual(&scenario.name, &step, &scenario.halt_if).await {
            Answer::Interrupted(i) => walk.interrupt = Some(i),
            Answer::Typed | Answer::TimedOut | Answer::Skipped => {}
        }
    }

    async fn hold(&mut self, index: usize, scenario: &Scenario, d: Duration, walk: &mut Walk) {
        let total = self.plan.gameday.scenarios.len();
        let until = Instant::now() + d;
        self.phase(
            Some(&scenario.name),
            format!("[{}/{total}] holding for {}", index + 1, scenario.duration),
            Some(until),
        );
        walk.interrupt = self.wait_until(until, &scenario.halt_if).await;
    }

    /// Revert fault `f`; the first revert says why the walk stopped, if
    /// it did, and closes the fault window.
    async fn revert_step(&mut self, index: usize, f: usize, walk: &mut Walk) {
        if walk.revert_start.is_none() {
            self.say_why_reverting(walk.interrupt.as_ref());
            walk.fault_start.get_or_insert(self.now_ms());
            walk.revert_start = Some(self.now_ms());
            self.cut_at(walk.fault_start);
            self.cut_at(walk.revert_start);
            walk.self_healing = !walk.held.is_empty()
                && walk
                    .held
                    .iter()
                    .all(|h| matches!(h.applied.recipe, RevertRecipe::Nothing { .. }));
        }
        self.revert_fault(index, f, &mut walk.held, &mut walk.faults)
            .await;
    }

    fn say_why_reverting(&mut self, interrupt: Option<&Interrupt>) {
        match interrupt {
            Some(Interrupt::Halt(reason)) => {
                let _ = self
                    .journal
                    .append(&crate::record::journal::JournalEntry::Halted {
                        reason: reason.clone(),
                        at: chrono::Utc::now(),
                    });
                self.notify.send(crate::notify::Event::Halted {
                    reason: reason.clone(),
                });
                self.note(format!("{reason}: reverting now"));
            }
            Some(Interrupt::Signal) => {
                self.note("signal received: reverting now".to_string());
            }
            None => {}
        }
    }

    /// Nothing may outlive its scenario, whatever the plan said: what is
    /// still held is reverted; then the cooldown.
    async fn cooldown_step(&mut self, index: usize, d: Duration, walk: &mut Walk) {
        while let Some(h) = walk.held.pop() {
            let slot = h.slot;
            self.revert_one(h, index, &mut walk.faults[slot]).await;
        }
        let cooldown = self.cooldown(index, d).await;
        if walk.interrupt.is_none() {
            walk.interrupt = cooldown;
        }
        walk.audits = self.read_ledgers_back().await;
    }

    /// After the cooldown, every ledger reads its writes back (unless a
    /// second signal asked to hurry); each says what it found.
    async fn read_ledgers_back(&mut self) -> Vec<crate::probe::ledger::LedgerAudit> {
        if self.ledgers.is_empty() || self.signal_count >= 2 {
            return Vec::new();
        }
        let name = self.current_scenario.clone();
        self.phase(
            name.as_deref(),
            "ledgers: reading every write back".to_string(),
            None,
        );
        let audits = self.ledgers.audit(self.clock).await;
        for audit in &audits {
            self.note(format!("ledger {}: {}", audit.probe, audit.summary()));
        }
        audits
    }

    /// Apply fault `f` of the scenario to each container it picks: all
    /// at once when its kind allows (see [`super::apply_many`]), else one
    /// after the other, stopping at the first that fails or is interrupted
    /// (the rest are not applied).
    async fn apply_fault(
        &mut self,
        index: usize,
        f: usize,
        held: &mut Vec<Held>,
        faults: &mut Vec<FaultResult>,
    ) -> Result<(), NotApplied> {
        let fault = self.plan.scenarios[index].faults[f].fault.clone();
        let containers = self.pick(index, f);
        if super::apply_many::at_once(&fault) && containers.len() > 1 {
            self.apply_at_once(index, f, containers, held, faults)
                .await?;
        } else {
            for container in containers {
                self.apply_in_turn(index, f, &container, held, faults)
                    .await?;
            }
        }
        self.ready_all(index, f, held, faults).await?;
        let resolved = &self.plan.scenarios[index].faults[f];
        if let Some(line) = super::deploy_checks::timed_line(resolved, faults, false) {
            self.note(line);
        }
        Ok(())
    }

    /// Apply fault `f` to one container, and record how it went.
    async fn apply_in_turn(
        &mut self,
        index: usize,
        f: usize,
        container: &ContainerInfo,
        held: &mut Vec<Held>,
        faults: &mut Vec<FaultResult>,
    ) -> Result<(), NotApplied> {
        let fault_id = self.fault_id(index, f, container);
        faults.push(self.fault_result(index, f, container));
        let slot = faults.len() - 1;
        match self.apply_one(index, f, container, &fault_id).await {
            Ok(a) => {
                self.record_applied(index, f, a, fault_id, slot, held, faults);
                Ok(())
            }
            Err(not) => Err(self.record_not_applied(not, &mut faults[slot])),
        }
    }

    /// A fault's result before it is applied to `container`.
    pub(super) fn fault_result(
        &self,
        index: usize,
        f: usize,
        container: &ContainerInfo,
    ) -> FaultResult {
        let fault = &self.plan.scenarios[index].faults[f].fault;
        FaultResult {
            kind: fault.kind().to_string(),
            target: container.name.clone(),
            container_id: container.id.clone(),
            action: fault.describe(&container.name).0,
            mechanism: None,
            applied_at: None,
            applied_confirmed_at: None,
            reverted_at: None,
            revert_confirmed_at: None,
            detail: None,
            error: None,
        }
    }

    /// A fault in place: said, told, recorded in its result, and held.
    #[expect(clippy::too_many_arguments, reason = "one fault's place in the walk")]
    pub(super) fn record_applied(
        &mut self,
        index: usize,
        f: usize,
        a: AppliedFault,
        fault_id: String,
        slot: usize,
        held: &mut Vec<Held>,
        faults: &mut [FaultResult],
    ) {
        let action = faults[slot].action.clone();
        let lag = a
            .confirmed_at
            .map(|c| {
                let ms = (c - a.requested_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                match a.mechanism {
                    Some(m) => format!(" ({m}), in place after {}", fmt_ms(ms)),
                    None => format!(", confirmed by Docker after {}", fmt_ms(ms)),
                }
            })
            .unwrap_or_default();
        let said = a
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        self.note(format!("applied: {action}{lag}{said}"));
        self.notify.send(crate::notify::Event::FaultApplied {
            fault_id: fault_id.clone(),
            scenario: self.plan.gameday.scenarios[index].name.clone(),
            action,
        });
        faults[slot].applied_at = Some(a.requested_at);
        faults[slot].applied_confirmed_at = a.confirmed_at;
        faults[slot].mechanism = a.mechanism.map(String::from);
        faults[slot].detail = a.detail.clone();
        held.push(Held {
            applied: a,
            fault: f,
            slot,
            id: fault_id,
        });
    }

    /// A fault not in place: said, and recorded in its result.
    pub(super) fn record_not_applied(
        &mut self,
        not: NotApplied,
        result: &mut FaultResult,
    ) -> NotApplied {
        match &not {
            NotApplied::Error(e) => {
                self.note(format!("could not apply: {}: {e}", result.action));
                result.error = Some(e.clone());
            }
            NotApplied::Interrupted { said, .. } => {
                self.note(format!("{}: {said}", result.action));
                result.error = Some(said.clone());
            }
        }
        not
    }

    /// A `recreate` deploy replaced every replica without waiting: now
    /// each is waited for (racing the run's stop sources). One not ready
    /// in time fails the deploy; the scenario then rolls back every one.
    async fn ready_all(
        &mut self,
        index: usize,
        f: usize,
        held: &mut [Held],
        faults: &mut [FaultResult],
    ) -> Result<(), NotApplied> {
        let halt_if = self.plan.gameday.scenarios[index].halt_if.clone();
        for h in held.iter_mut().filter(|h| h.fault == f) {
            if h.applied.deployed.is_none() || h.applied.confirmed_at.is_some() {
                continue;
            }
            let engine = self.engines.of(&h.applied.container).clone();
            let name = h.applied.container.name.clone();
            let waited = self
                .racing(
                    crate::fault::deploy::ready_of(&engine, &name, &mut h.applied),
                    &halt_if,
                )
                .await;
            let slot = h.slot;
            match waited {
                Raced::Done(Ok(at)) => {
                    h.applied.confirmed_at = Some(at);
                    faults[slot].applied_confirmed_at = Some(at);
                    faults[slot].detail = h.applied.detail.clone();
                    self.note(format!(
                        "ready: {name}: {}",
                        h.applied.detail.as_deref().unwrap_or("")
                    ));
                }
                Raced::Done(Err(e)) => {
                    let e = e.to_string();
                    self.note(format!("could not deploy: {e}"));
                    faults[slot].error = Some(e.clone());
                    return Err(NotApplied::Error(e));
                }
                Raced::Interrupted(interrupt) => {
                    let said = "interrupted while waiting for the deployed replicas".to_string();
                    faults[slot].error = Some(said.clone());
                    return Err(NotApplied::Interrupted { interrupt, said });
                }
            }
        }
        Ok(())
    }

    /// Revert every container fault `f` was applied to: all at once when
    /// it was applied at once, else last applied first.
    async fn revert_fault(
        &mut self,
        index: usize,
        f: usize,
        held: &mut Vec<Held>,
        faults: &mut [FaultResult],
    ) {
        let mine = held.iter().filter(|h| h.fault == f).count();
        let any = mine > 0;
        if mine > 1 && super::apply_many::at_once(&self.plan.scenarios[index].faults[f].fault) {
            self.revert_at_once(index, f, held, faults).await;
        }
        while let Some(at) = held.iter().rposition(|h| h.fault == f) {
            let h = held.remove(at);
            let slot = h.slot;
            self.revert_one(h, index, &mut faults[slot]).await;
        }
        let resolved = &self.plan.scenarios[index].faults[f];
        if any && let Some(line) = super::deploy_checks::timed_line(resolved, faults, true) {
            self.note(line);
        }
    }

    /// Observe the recovery, unless a second signal asked to hurry; the
    /// first signal during the cooldown still lets it finish.
    async fn cooldown(&mut self, index: usize, d: Duration) -> Option<Interrupt> {
        if self.signal_count >= 2 {
            return None;
        }
        let total = self.plan.gameday.scenarios.len();
        let name = self.plan.gameday.scenarios[index].name.clone();
        let until = Instant::now() + d;
        self.phase(
            Some(&name),
            format!(
                "[{}/{total}] cooldown {}: observing recovery",
                index + 1,
                HumanDuration(d)
            ),
            Some(until),
        );
        let interrupt = self.wait_until(until, &[]).await;
        if interrupt.is_some() && self.signal_count < 2 {
            let _ = self.wait_until(until, &[]).await;
        }
        interrupt
    }
}
