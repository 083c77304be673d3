//! The dead man's switch: a watchdog that does not share the runner's fate
//! and reverts the run's faults when the runner stops renewing its lease
//! (SIGKILL, a frozen laptop, a cut link to a remote engine), when the link
//! closes, or when someone halts the run (`gameday halt`).
//!
//! One watchdog serves one engine of one run. The runner speaks to it over
//! its standard input, one JSON message a line ([`ToWatchdog`]): `hello`
//! (who, which engine, the lease), then `arm` with a fault's revert recipe
//! BEFORE the fault is applied (answered with an `ack`, so a fault is never
//! applied that the watchdog cannot undo), `applied`, `disarm` once the
//! runner reverted it, `renew` (the heartbeat), and `done` at the end of
//! the run. Every message renews the lease.
//!
//! - This module is the watchdog's side (`gameday watchdog`, hidden): the
//!   loop and what it does when it fires.
//! - [`link`] is the runner's side: starting a watchdog (a process in a
//!   session of its own on this host, or a container on a remote engine
//!   from the helper image, with the engine's socket mounted), arming,
//!   renewing, and learning when it fired.
//!
//! When it fires it reverts what is armed, newest first, exactly as
//! `recover` does (an unconfirmed apply is given its time to settle), and
//! records it: in the run's journal when it can reach it (this host), and
//! always on its standard output as journal entries (`{"journal": ...}`),
//! which stay in a watchdog container's logs for `recover` to read.

pub(crate) mod link;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::docker::Engine;
use crate::fault::RevertRecipe;
use crate::gameday::model::EngineSpec;
use crate::record::journal::{Journal, JournalEntry};
use crate::run::{claim, halt};

/// Label on watchdog containers, and the run they serve.
pub(crate) const LABEL: &str = "gameday.watchdog";
pub(crate) const RUN_LABEL: &str = "gameday.watchdog.run_id";
pub(crate) const SCOPE_LABEL: &str = "gameday.watchdog.scope";

/// What the runner tells its watchdog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ToWatchdog {
    Hello {
        run_id: String,
        scope: String,
        lease_ms: u64,
        /// How the watchdog reaches its engine.
        engine: EngineSpec,
        /// The run's journal, when the watchdog runs where it can write it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        journal: Option<PathBuf>,
    },
    /// Hold this recipe: the fault is about to be applied.
    Arm {
        fault_id: String,
        recipe: RevertRecipe,
        settle_ms: u64,
    },
    /// The fault's apply was confirmed: no settling needed to revert it.
    Applied {
        fault_id: String,
    },
    /// The runner reverted the fault itself.
    Disarm {
        fault_id: String,
    },
    Renew,
    /// The run ended normally: exit without touching anything.
    Done,
}

/// What the watchdog answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FromWatchdog {
    /// The hello was taken and the engine reached.
    Ready { pid: u32 },
    /// The recipe is held.
    Ack { fault_id: String },
    /// A record of what it did, as the journal would have it.
    Journal(Box<JournalEntry>),
}

/// An armed fault.
struct Armed {
    fault_id: String,
    recipe: RevertRecipe,
    settle: Option<Duration>,
}

/// How often the watchdog looks for a halt marker on its engine.
const HALT_POLL: Duration = Duration::from_secs(1);

/// `gameday watchdog`: serve one run's watchdog on standard input and
/// output until the run says `done` or the watchdog fires. Returns the
/// exit code: 0 done or nothing to revert, 4 when a revert failed.
pub(crate) async fn serve() -> u8 {
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let stdout = tokio::io::stdout();
    serve_on(stdin, stdout).await
}

async fn send<W: AsyncWrite + Unpin>(out: &mut W, message: &FromWatchdog) {
    if let Ok(mut line) = serde_json::to_vec(message) {
        line.push(b'\n');
        // The runner may be gone: what is written matters only to a
        // container's logs, and a closed pipe is not an error here.
        let _ = out.write_all(&line).await;
        let _ = out.flush().await;
    }
}

async fn serve_on<R, W>(input: R, mut out: W) -> u8
where
    R: tokio::io::AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut lines = input.lines();
    // The hello comes first; without one there is nothing to watch.
    let hello = match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
        Ok(Ok(Some(line))) => serde_json::from_str::<ToWatchdog>(&line).ok(),
        _ => None,
    };
    let Some(ToWatchdog::Hello {
        run_id,
        scope,
        lease_ms,
        engine,
        journal,
    }) = hello
    else {
        eprintln!("gameday watchdog: no hello from the runner; nothing to watch");
        return 0;
    };
    let engine = match Engine::connect_spec(&engine).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gameday watchdog: cannot reach the engine: {e}");
            return crate::exit::FAULT_LEFT;
        }
    };
    send(
        &mut out,
        &FromWatchdog::Ready {
            pid: std::process::id(),
        },
    )
    .await;
    let lease = Duration::from_millis(lease_ms);
    let mut deadline = Instant::now() + lease;
    let mut armed: Vec<Armed> = Vec::new();
    let mut halt_poll = tokio::time::interval(HALT_POLL);
    // Asked to stop (SIGTERM, a shutdown): it reverts first, as when the
    // runner goes, rather than leaving the faults without a watchdog.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let reason = loop {
        tokio::select! {
            line = lines.next_line() => {
                let line = match line {
                    Ok(Some(line)) => line,
                    // The runner's end closed without `done`: it died (a
                    // pipe closes with its process; an engine closes an
                    // attached stdin when its client goes).
                    Ok(None) | Err(_) => break "the link to the runner closed without the run ending (the runner died or lost its connection)".to_string(),
                };
                deadline = Instant::now() + lease;
                match serde_json::from_str::<ToWatchdog>(&line) {
                    Ok(ToWatchdog::Arm { fault_id, recipe, settle_ms }) => {
                        armed.push(Armed {
                            fault_id: fault_id.clone(),
                            recipe,
                            settle: Some(Duration::from_millis(settle_ms)),
                        });
                        send(&mut out, &FromWatchdog::Ack { fault_id }).await;
                    }
                    Ok(ToWatchdog::Applied { fault_id }) => {
                        if let Some(a) = armed.iter_mut().find(|a| a.fault_id == fault_id) {
                            a.settle = None;
                        }
                    }
                    Ok(ToWatchdog::Disarm { fault_id }) => armed.retain(|a| a.fault_id != fault_id),
                    Ok(ToWatchdog::Renew | ToWatchdog::Hello { .. }) => {}
                    Ok(ToWatchdog::Done) => return 0,
                    Err(_) => {}
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                break format!("the runner did not renew its {} lease", crate::gameday::units::HumanDuration(lease));
            }
            Some(()) = async { match terminate.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {
                break "the watchdog was asked to stop (SIGTERM)".to_string();
            }
            _ = halt_poll.tick() => {
                if let Ok(Some(by)) = halt::requested(&engine, &scope, &run_id).await {
                    break format!("halted by {by}");
                }
            }
        }
    };
    fire(&engine, &run_id, &scope, journal, armed, &reason, &mut out).await
}

/// Revert everything armed, newest first, and record it.
async fn fire<W: AsyncWrite + Unpin>(
    engine: &Engine,
    run_id: &str,
    scope: &str,
    journal: Option<PathBuf>,
    armed: Vec<Armed>,
    reason: &str,
    out: &mut W,
) -> u8 {
    let mut journal = journal.and_then(|p| Journal::create(&p).ok());
    let mut record = |entry: JournalEntry| {
        if let Some(j) = journal.as_mut() {
            let _ = j.append(&entry);
        }
        entry
    };
    let mut entries = vec![record(JournalEntry::WatchdogFired {
        reason: reason.to_string(),
        faults: armed.len(),
        at: Utc::now(),
    })];
    let mut failed = false;
    for a in armed.iter().rev() {
        let requested_at = Utc::now();
        let entry = match crate::run::recover::revert(engine, &a.recipe, a.settle).await {
            Ok((confirmed_at, words)) => JournalEntry::FaultReverted {
                fault_id: a.fault_id.clone(),
                by: if confirmed_at.is_some() {
                    "watchdog".to_string()
                } else {
                    format!("watchdog ({words})")
                },
                requested_at,
                confirmed_at,
            },
            Err(error) => {
                failed = true;
                JournalEntry::FaultRevertFailed {
                    fault_id: a.fault_id.clone(),
                    error: format!("the watchdog could not revert it: {error}"),
                    by_hand: a.recipe.by_hand(),
                }
            }
        };
        entries.push(record(entry));
    }
    // The runner is gone (or frozen): its claim goes when it provably died.
    if !failed
        && let Ok(Some(holder)) = claim::holder(engine, scope).await
        && holder.run_id == run_id
        && let Ok(Some(holder)) = claim::release_dead(engine, scope).await
    {
        entries.push(record(JournalEntry::Observation {
            scenario: None,
            by: "watchdog".into(),
            text: format!("released the claim left by {holder}"),
            at: Utc::now(),
        }));
    }
    for entry in entries {
        send(out, &FromWatchdog::Journal(Box::new(entry))).await;
    }
    if failed { crate::exit::FAULT_LEFT } else { 0 }
}
