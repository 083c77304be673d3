//! One scenario as it runs: the dispatcher walks the steps the plan laid
//! out for it ([`crate::plan::Plan::steps_of`], the ones `gameday plan`
//! prints): apply, wait, note, manual, hold, revert in reverse, cooldown.
//! An error or an interrupt skips what is left up to the reverts; every
//! fault applied is reverted whatever happened.

use tokio::time::Instant;

use super::apply::{Held, NotApplied};
use super::dispatcher::{Dispatcher, Interrupt};
use super::operator::Answer;
use super::outcome::{ScenarioRun, ScenarioStatus};
use crate::expect::{Windows, fmt_ms};
use crate::fault::RevertRecipe;
use crate::gameday::model::ManualStep;
use crate::gameday::units::HumanDuration;
use crate::plan::Action;
use crate::record::result::FaultResult;

impl Dispatcher {
    /// Run one scenario. Returns it, and a reason when the run must stop.
    pub(super) async fn scenario(
        &mut self,
        index: usize,
        baseline_ms: f64,
    ) -> (ScenarioRun, Option<String>) {
        let scenario = self.plan.gameday.scenarios[index].clone();
        let total = self.plan.gameday.scenarios.len();
        let actions: Vec<Action> = self
            .plan
            .steps_of(index)
            .map(|s| s.action.clone())
            .collect();
        let started_ms = self.now_ms();
        self.current_scenario = Some(scenario.name.clone());
        let mut held: Vec<Held> = Vec::new();
        let mut faults: Vec<FaultResult> = Vec::new();
        let mut error = None;
        let mut interrupt = None;
        let mut apply_start = None;
        // The fault window opens when the first run of fault steps is in place.
        let mut fault_start = None;
        let mut revert_start = None;
        let mut self_healing = false;
        for action in actions {
            let stopped = error.is_some() || interrupt.is_some();
            if matches!(
                action,
                Action::Wait(_) | Action::Note(_) | Action::Manual { .. } | Action::Hold(_)
            ) && !held.is_empty()
                && fault_start.is_none()
            {
                fault_start = Some(self.now_ms());
            }
            match action {
                Action::StartScenario => {
                    self.phase(
                        Some(&scenario.name),
                        format!("scenario {}/{total}: {}", index + 1, scenario.name),
                        None,
                    );
                    apply_start = Some(self.now_ms());
                }
                Action::Apply { fault } if !stopped => {
                    match self.apply_fault(index, fault, &mut held, &mut faults).await {
                        Ok(()) => {}
                        Err(NotApplied::Error(e)) => {
                            error = Some(format!("a fault could not be applied: {e}"));
                        }
                        Err(NotApplied::Interrupted { interrupt: i, .. }) => interrupt = Some(i),
                    }
                }
                Action::Wait(d) if !stopped => {
                    let until = Instant::now() + d;
                    self.phase(
                        Some(&scenario.name),
                        format!("[{}/{total}] waiting {}", index + 1, HumanDuration(d)),
                        Some(until),
                    );
                    interrupt = self.wait_until(until, &scenario.halt_if).await;
                }
                Action::Note(text) if !stopped => self.note(format!("note: {text}")),
                Action::Manual { text, timeout } if !stopped => {
                    let step = ManualStep {
                        manual: text,
                        timeout: HumanDuration(timeout),
                    };
                    match self.manual(&scenario.name, &step, &scenario.halt_if).await {
                        Answer::Interrupted(i) => interrupt = Some(i),
                        Answer::Typed | Answer::TimedOut | Answer::Skipped => {}
                    }
                }
                Action::Hold(d) => {
                    if !stopped && !d.is_zero() {
                        let until = Instant::now() + d;
                        self.phase(
                            Some(&scenario.name),
                            format!("[{}/{total}] holding for {}", index + 1, scenario.duration),
                            Some(until),
                        );
                        interrupt = self.wait_until(until, &scenario.halt_if).await;
                    }
                }
                Action::Revert { fault } => {
                    if revert_start.is_none() {
                        match &interrupt {
                            Some(Interrupt::Halt(reason)) => {
                                let _ = self.journal.append(
                                    &crate::record::journal::JournalEntry::Halted {
                                        reason: reason.clone(),
                                        at: chrono::Utc::now(),
                                    },
                                );
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
                        fault_start.get_or_insert(self.now_ms());
                        revert_start = Some(self.now_ms());
                        self_healing = !held.is_empty()
                            && held
                                .iter()
                                .all(|h| matches!(h.applied.recipe, RevertRecipe::Nothing { .. }));
                    }
                    self.revert_fault(index, fault, &mut held, &mut faults)
                        .await;
                }
                Action::Cooldown(d) => {
                    // Nothing may outlive its scenario, whatever the plan said.
                    while let Some(h) = held.pop() {
                        let slot = h.slot;
                        self.revert_one(h, index, &mut faults[slot]).await;
                    }
                    let cooldown = self.cooldown(index, d).await;
                    if interrupt.is_none() {
                        interrupt = cooldown;
                    }
                }
                Action::Apply { .. }
                | Action::Wait(_)
                | Action::Note(_)
                | Action::Manual { .. }
                | Action::Baseline(_)
                | Action::End => {}
            }
        }
        let ended_ms = self.now_ms();
        let fault_start = fault_start.unwrap_or(ended_ms);
        let windows = Windows {
            baseline: (0.0, baseline_ms),
            apply_start: apply_start.unwrap_or(started_ms),
            fault_start,
            revert_start: revert_start.unwrap_or(ended_ms),
            end: ended_ms,
            self_healing_from: self_healing.then_some(fault_start),
        };
        let stop = match &interrupt {
            Some(Interrupt::Halt(reason)) => Some(reason.clone()),
            Some(Interrupt::Signal) => {
                Some("interrupted by a signal; every fault was reverted".to_string())
            }
            None => None,
        };
        let status = if error.is_some() {
            ScenarioStatus::Error
        } else if interrupt.is_some() {
            ScenarioStatus::Aborted
        } else {
            ScenarioStatus::Ran
        };
        (
            ScenarioRun {
                index,
                status,
                error,
                faults,
                windows: Some(windows),
                started_ms,
                ended_ms,
            },
            stop,
        )
    }

    /// Apply fault `f` of the scenario to each container it picks; stop at
    /// the first that fails or is interrupted (the rest are not applied).
    async fn apply_fault(
        &mut self,
        index: usize,
        f: usize,
        held: &mut Vec<Held>,
        faults: &mut Vec<FaultResult>,
    ) -> Result<(), NotApplied> {
        let fault = self.plan.scenarios[index].faults[f].fault.clone();
        for container in self.pick(index, f) {
            let fault_id = format!("s{}-f{}-{}", index + 1, f + 1, container.short_id());
            let (action, _) = fault.describe(&container.name);
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
            match self.apply_one(index, f, &container, &fault_id).await {
                Ok(a) => {
                    let lag = a
                        .confirmed_at
                        .map(|c| {
                            let ms = (c - a.requested_at).num_microseconds().unwrap_or(0) as f64
                                / 1000.0;
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
                        action: action.clone(),
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
                Err(NotApplied::Error(e)) => {
                    self.note(format!("could not apply: {action}: {e}"));
                    faults[slot].error = Some(e.clone());
                    return Err(NotApplied::Error(e));
                }
                Err(NotApplied::Interrupted { interrupt, said }) => {
                    self.note(format!("{action}: {said}"));
                    faults[slot].error = Some(said.clone());
                    return Err(NotApplied::Interrupted { interrupt, said });
                }
            }
        }
        Ok(())
    }

    /// Revert every container fault `f` was applied to, last applied first.
    async fn revert_fault(
        &mut self,
        index: usize,
        f: usize,
        held: &mut Vec<Held>,
        faults: &mut [FaultResult],
    ) {
        while let Some(at) = held.iter().rposition(|h| h.fault == f) {
            let h = held.remove(at);
            let slot = h.slot;
            self.revert_one(h, index, &mut faults[slot]).await;
        }
    }

    /// Observe the recovery, unless a second signal asked to hurry; the
    /// first signal during the cooldown still lets it finish.
    async fn cooldown(&mut self, index: usize, d: std::time::Duration) -> Option<Interrupt> {
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
