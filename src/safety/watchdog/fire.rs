//! What a watchdog does when it fires: it tells the runner first (so that
//! nothing more is applied), reverts what is armed, newest first, exactly
//! as `recover` does, and records each revert as it happens: in the run's
//! journal when it can reach it (this host), and always on its standard
//! output. Then, while the runner still talks to it, it refuses new recipes
//! and reverts again any fault the runner says it applied after all (an
//! apply racing the fire), until the runner says `done`, its link closes
//! (what it held is reverted once more, in case an apply landed unseen), or
//! it has been silent for two leases.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use super::{Armed, FromWatchdog, Heard, LastHeard, ToWatchdog, send};
use crate::docker::Engine;
use crate::record::journal::{Journal, JournalEntry};
use crate::safety::claim;

/// The run a watchdog serves.
pub(super) struct Run<'a> {
    pub engine: &'a Engine,
    pub run_id: &'a str,
    pub scope: &'a str,
}

/// Where a firing watchdog says what it did: the journal (when it can
/// write it) and its output, entry by entry as it happens.
pub(super) struct Recorder<'w, W> {
    journal: Option<Journal>,
    out: &'w mut W,
}

impl<'w, W: AsyncWrite + Unpin> Recorder<'w, W> {
    pub(super) fn new(journal: Option<PathBuf>, out: &'w mut W) -> Recorder<'w, W> {
        Recorder {
            journal: journal.and_then(|p| Journal::create(&p).ok()),
            out,
        }
    }

    async fn record(&mut self, entry: JournalEntry) {
        if let Some(j) = self.journal.as_mut() {
            let _ = j.append(&entry);
        }
        send(self.out, &FromWatchdog::Journal(Box::new(entry))).await;
    }

    async fn refuse(&mut self, fault_id: String) {
        send(self.out, &FromWatchdog::Refused { fault_id }).await;
    }
}

/// What the runner said while the watchdog was busy firing.
#[derive(Default)]
pub(super) struct Said {
    /// Recipes sent after the fire: refused.
    refused: Vec<String>,
    /// Faults it says it applied: the apply raced the fire.
    applied: Vec<String>,
    /// Faults it reverted itself.
    disarmed: Vec<String>,
    /// It said `done`: every fault of its is reverted.
    done: bool,
    /// Its end of the link is still open.
    open: bool,
}

impl Said {
    pub(super) fn new(open: bool) -> Said {
        Said {
            open,
            ..Said::default()
        }
    }

    fn take(&mut self, heard: Option<Heard>) {
        match heard {
            Some(Heard::Message(message)) => match *message {
                ToWatchdog::Arm { fault_id, .. } => self.refused.push(fault_id),
                ToWatchdog::Applied { fault_id } => self.applied.push(fault_id),
                ToWatchdog::Disarm { fault_id } => self.disarmed.push(fault_id),
                ToWatchdog::Renew => {}
                ToWatchdog::Done => self.done = true,
            },
            Some(Heard::Closed) | None => self.open = false,
        }
    }

    /// The runner has reverted `fault_id` itself. (Its `done` does not say
    /// so of a fault it could not revert, which it never disarms.)
    fn reverted_by_runner(&self, fault_id: &str) -> bool {
        self.disarmed.iter().any(|d| d == fault_id)
    }
}

/// Revert one armed fault and record how it went (`by`: who, and why when
/// it is not the fire itself), taking in what the runner says meanwhile: a
/// fault the runner reverts itself is left to it (a settle that waits for
/// a stop's grace is not waited out twice). Returns whether it failed.
/// With `quiet`, a revert that found nothing to undo is not recorded.
#[expect(clippy::too_many_arguments, reason = "one call per way of firing")]
async fn revert_one<W: AsyncWrite + Unpin>(
    engine: &Engine,
    armed: &Armed,
    settle: Option<Duration>,
    by: &str,
    quiet: bool,
    recorder: &mut Recorder<'_, W>,
    inbox: &mut mpsc::UnboundedReceiver<Heard>,
    said: &mut Said,
) -> bool {
    let requested_at = Utc::now();
    let revert = crate::fault::revert(engine, &armed.recipe, settle);
    tokio::pin!(revert);
    let reverted = loop {
        tokio::select! {
            reverted = &mut revert => break reverted,
            heard = inbox.recv(), if said.open => {
                said.take(heard);
                if said.reverted_by_runner(&armed.fault_id) {
                    return false;
                }
            }
        }
    };
    match reverted {
        Ok((None, _)) if quiet => false,
        Ok((confirmed_at, words)) => {
            recorder
                .record(JournalEntry::FaultReverted {
                    fault_id: armed.fault_id.clone(),
                    by: if confirmed_at.is_some() {
                        by.to_string()
                    } else {
                        format!("{by} ({words})")
                    },
                    requested_at,
                    confirmed_at,
                })
                .await;
            false
        }
        Err(error) => {
            recorder
                .record(JournalEntry::FaultRevertFailed {
                    fault_id: armed.fault_id.clone(),
                    error: format!("the watchdog could not revert it: {error}"),
                    by_hand: armed.recipe.by_hand(),
                })
                .await;
            true
        }
    }
}

/// Fire: say so first (the runner stops applying as soon as it reads it),
/// revert everything armed, newest first, and release the claim of a
/// runner that provably died. Returns whether a revert failed.
pub(super) async fn fire<W: AsyncWrite + Unpin>(
    run: &Run<'_>,
    armed: &[Armed],
    reason: &str,
    recorder: &mut Recorder<'_, W>,
    inbox: &mut mpsc::UnboundedReceiver<Heard>,
    said: &mut Said,
) -> bool {
    recorder
        .record(JournalEntry::WatchdogFired {
            reason: reason.to_string(),
            faults: armed.len(),
            at: Utc::now(),
        })
        .await;
    let mut failed = false;
    for a in armed.iter().rev() {
        if said.reverted_by_runner(&a.fault_id) {
            continue;
        }
        failed |= revert_one(
            run.engine, a, a.settle, "watchdog", false, recorder, inbox, said,
        )
        .await;
    }
    // The runner is gone (or frozen): its claim goes when it provably died.
    if !failed
        && let Ok(Some(holder)) = claim::holder(run.engine, run.scope).await
        && holder.run_id == run.run_id
        && let Ok(Some(holder)) = claim::release_dead(run.engine, run.scope).await
    {
        recorder
            .record(JournalEntry::Observation {
                scenario: None,
                kind: Default::default(),
                by: "watchdog".into(),
                text: format!("released the claim left by {holder}"),
                at: Utc::now(),
            })
            .await;
    }
    failed
}

/// After firing, while the runner still talks: refuse every new recipe,
/// revert again a fault the runner says it applied (its apply raced the
/// fire), leave to it what it reverted itself. Ends at `done`; at the
/// link's close, after reverting once more what it held (an apply may have
/// landed that the runner could not report); or after two leases (at
/// least 10 s) of silence. Returns whether a revert failed.
pub(super) async fn after_fire<W: AsyncWrite + Unpin>(
    run: &Run<'_>,
    heard: &LastHeard,
    lease: Duration,
    mut armed: Vec<Armed>,
    recorder: &mut Recorder<'_, W>,
    inbox: &mut mpsc::UnboundedReceiver<Heard>,
    mut said: Said,
) -> bool {
    let silence = (lease * 2).max(Duration::from_secs(10));
    let mut failed = false;
    loop {
        for fault_id in std::mem::take(&mut said.refused) {
            recorder.refuse(fault_id).await;
        }
        armed.retain(|a| !said.reverted_by_runner(&a.fault_id));
        for fault_id in std::mem::take(&mut said.applied) {
            if let Some(a) = armed.iter_mut().find(|a| a.fault_id == fault_id) {
                a.settle = None;
                let by = "watchdog (applied after it fired)";
                failed |=
                    revert_one(run.engine, a, None, by, false, recorder, inbox, &mut said).await;
            }
        }
        if said.done {
            return failed;
        }
        if !said.open {
            let by = "watchdog (the runner went after it fired)";
            for a in armed.iter().rev() {
                failed |= revert_one(
                    run.engine, a, a.settle, by, true, recorder, inbox, &mut said,
                )
                .await;
            }
            return failed;
        }
        tokio::select! {
            heard_now = inbox.recv() => said.take(heard_now),
            _ = tokio::time::sleep_until(heard.at() + silence) => {
                if heard.at().elapsed() >= silence {
                    return failed;
                }
            }
        }
    }
}
