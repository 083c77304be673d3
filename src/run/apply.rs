//! The apply/revert protocol of one fault on one container: work out the
//! revert recipe, journal it and fsync, then apply; a fault whose recipe
//! could not be journalled is not applied. Reverting consumes the
//! [`AppliedFault`] and records how it went.

use chrono::Utc;

use super::dispatcher::Dispatcher;
use crate::docker::ContainerInfo;
use crate::fault::{self, AppliedFault, RevertRecipe};
use crate::gameday::decode::DEFAULT_HOST;
use crate::gameday::model::{Fault, Pick, Step};
use crate::record::journal::JournalEntry;
use crate::record::result::{FaultLeft, FaultResult};

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

impl Dispatcher {
    /// The containers a fault acts on: all of them, or one picked at random.
    pub(super) fn pick(&self, scenario: usize, fault: usize) -> Vec<ContainerInfo> {
        let resolved = &self.plan.scenarios[scenario].faults[fault].targets;
        match resolved.target.pick {
            Pick::All => resolved.containers.clone(),
            Pick::One => {
                let n = resolved.containers.len().max(1);
                let i = (Utc::now().timestamp_subsec_nanos() as usize) % n;
                resolved.containers.get(i).cloned().into_iter().collect()
            }
        }
    }

    /// Work out the revert recipe, journal it (fsynced), then apply the
    /// fault. A fault whose recipe could not be journalled is not applied.
    pub(super) async fn apply_one(
        &mut self,
        scenario: usize,
        f: usize,
        container: &ContainerInfo,
        fault_id: &str,
    ) -> Result<AppliedFault, String> {
        let resolved = self.plan.scenarios[scenario].faults[f].clone();
        let gameday_scenario = &self.plan.gameday.scenarios[scenario];
        let route = &self.plan.inventory.namespace;
        let context = fault::ApplyContext {
            tag: fault::net::tag(&self.run_id, fault_id),
            project: self.plan.gameday.scope.compose_project.clone(),
            peers: resolved.peers.clone(),
            netem_available: route.netem_available,
            // Namespaces on an engine elsewhere are only reached through helpers.
            helper_image: match (&route.helper_image, self.engines.of(container).is_local()) {
                (None, false) => Some(self.plan.gameday.docker.helper_image_or_default()),
                (image, _) => image.clone(),
            },
            max_lifetime: {
                // Everything the scenario may still take: waits, manual
                // steps at their timeout, the hold, the cooldown, a margin.
                let steps: std::time::Duration = gameday_scenario
                    .steps
                    .iter()
                    .map(|step| match step {
                        Step::Wait(d) => d.as_std(),
                        Step::Manual(m) => m.timeout.as_std(),
                        Step::Fault(_) | Step::Note(_) => std::time::Duration::ZERO,
                    })
                    .sum();
                steps
                    + gameday_scenario.duration.as_std()
                    + gameday_scenario.cooldown.as_std()
                    + std::time::Duration::from_secs(120)
            },
            filesystem: resolved.room(&container.id),
        };
        let scenario_name = gameday_scenario.name.clone();
        let fault = resolved.fault;
        let engine = self.engines.of(container).clone();
        let recipe = fault::prepare(&engine, &fault, container, &context)
            .await
            .map_err(|e| e.to_string())?;
        let settle = fault::settle_within(&fault);
        self.journal
            .append(&JournalEntry::FaultIntent {
                fault_id: fault_id.to_string(),
                scenario: scenario_name,
                kind: fault.kind().to_string(),
                recipe: recipe.clone(),
                at: Utc::now(),
                host: (container.engine != DEFAULT_HOST).then(|| container.engine.clone()),
                settle_ms: Some(settle.as_millis() as u64),
            })
            .map_err(|e| {
                format!("cannot journal the fault before applying it, so it was not applied: {e}")
            })?;
        // The watchdog holds the recipe before the fault exists: a runner
        // that dies from here on leaves nothing the watchdog cannot undo.
        if let Err(e) = self
            .watchdogs
            .arm(&container.engine, fault_id, &recipe, settle)
            .await
        {
            let error = format!("{e}, so the fault was not applied");
            let _ = self.journal.append(&JournalEntry::FaultApplyFailed {
                fault_id: fault_id.to_string(),
                error: error.clone(),
            });
            let _ = self.journal.append(&JournalEntry::FaultReverted {
                fault_id: fault_id.to_string(),
                by: "run (never applied)".into(),
                requested_at: Utc::now(),
                confirmed_at: None,
            });
            return Err(error);
        }
        // An exec racing the freeze can wedge the engine: none in flight.
        let pausing = matches!(fault, Fault::Pause(_));
        if pausing {
            let longest = self.plan.gameday.probes.longest_timeout();
            self.exec_gate.hold(&container.id, longest).await;
        }
        let applied = fault::apply(&engine, &fault, container, &context, recipe.clone()).await;
        if pausing && applied.is_err() {
            self.exec_gate.release(&container.id);
        }
        match applied {
            Ok(a) => {
                let _ = self.journal.append(&JournalEntry::FaultApplied {
                    fault_id: fault_id.to_string(),
                    requested_at: a.requested_at,
                    confirmed_at: a.confirmed_at,
                });
                self.watchdogs.applied(&container.engine, fault_id);
                Ok(a)
            }
            Err(e) => {
                let _ = self.journal.append(&JournalEntry::FaultApplyFailed {
                    fault_id: fault_id.to_string(),
                    error: e.to_string(),
                });
                // A failed or timed-out apply may have half happened (a stop
                // whose request timed out still stops the container; a
                // network fault half set up): the target was running and
                // untouched before, so its recipe puts it back. If that
                // fails too, the fault is left, said so, and its intent
                // stays open for `recover`.
                match recipe.execute(&engine).await {
                    Ok(_) => {
                        self.watchdogs.disarm(&container.engine, fault_id);
                        let _ = self.journal.append(&JournalEntry::FaultReverted {
                            fault_id: fault_id.to_string(),
                            by: "run (apply failed)".into(),
                            requested_at: Utc::now(),
                            confirmed_at: None,
                        });
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
                    }
                }
                Err(e.to_string())
            }
        }
    }

    /// Revert one held fault, journal how it went, and fill in its result.
    pub(super) async fn revert_one(
        &mut self,
        held: Held,
        scenario: usize,
        result: &mut FaultResult,
    ) {
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
        let engine = self.engines.of(&applied.container).clone();
        let engine_name = applied.container.engine.clone();
        let container_id = applied.container.id.clone();
        let unpausing = matches!(applied.recipe, RevertRecipe::Unpause { .. });
        match applied.revert(&engine).await {
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
