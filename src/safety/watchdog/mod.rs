//! The dead man's switch: a watchdog that does not share the runner's fate
//! and reverts the run's faults when the runner stops renewing its lease
//! (SIGKILL, a frozen laptop, a cut link to a remote engine), when the link
//! closes, or when someone halts the run (`gameday halt`).
//!
//! One watchdog serves one engine of one run, a worker
//! ([`crate::worker::WorkerKind::Watchdog`]) whose work is the [`Hello`]
//! (who, which engine, the lease). The runner then speaks to it over its
//! standard input, one JSON message a line ([`ToWatchdog`]): `arm` with a fault's revert recipe
//! BEFORE the fault is applied (answered with an `ack`, so a fault is never
//! applied that the watchdog cannot undo), `applied`, `disarm` once the
//! runner reverted it, `renew` (the heartbeat), and `done` at the end of
//! the run. Every message renews the lease.
//!
//! - This module is the watchdog's side (`gameday watchdog`, hidden): the
//!   loop. Its input is read in a task of its own, which stamps the lease
//!   as each line arrives, and the halt marker is polled in another: a
//!   slow or frozen engine never makes a live runner's lease "expire".
//! - [`fire`] is what it does when it fires: tell the runner first, revert,
//!   record; then refuse new recipes and revert again whatever the runner
//!   still reports applied (an apply that raced the fire).
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

mod fire;
pub(crate) mod link;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::docker::Engine;
use crate::fault::RevertRecipe;
use crate::gameday::model::EngineSpec;
use crate::record::journal::JournalEntry;
use crate::safety::halt;

/// Label on watchdog containers, and the run they serve.
pub(crate) const LABEL: &str = "gameday.watchdog";
pub(crate) const RUN_LABEL: &str = "gameday.watchdog.run_id";
pub(crate) const SCOPE_LABEL: &str = "gameday.watchdog.scope";

/// Who the watchdog serves: its work, the first line the runner writes
/// ([`crate::worker`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub run_id: String,
    pub scope: String,
    pub lease_ms: u64,
    /// How the watchdog reaches its engine.
    pub engine: EngineSpec,
    /// The run's journal, when the watchdog runs where it can write it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
}

impl crate::worker::Work for Hello {
    const KIND: crate::worker::WorkerKind = crate::worker::WorkerKind::Watchdog;

    /// `--run-id RUN`: what the claim's liveness check looks for.
    fn marks(&self) -> crate::worker::Marks {
        crate::worker::Marks::default().with("--run-id", self.run_id.clone())
    }
}

/// What the runner tells its watchdog after the [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ToWatchdog {
    /// Hold this recipe: the fault is about to be applied.
    Arm {
        fault_id: String,
        recipe: Box<RevertRecipe>,
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
    /// The recipe came after the watchdog fired: it is not held, and the
    /// fault must not be applied.
    Refused { fault_id: String },
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

/// `gameday watchdog`: serve one run's watchdog (`hello`, its work) on
/// standard input and output until the run says `done` or the watchdog
/// fires. Returns the exit code: 0 done or nothing to revert, 4 when a
/// revert failed.
pub(crate) async fn serve(hello: Hello) -> u8 {
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut stdout = tokio::io::stdout();
    let code = serve_on(hello, stdin, &mut stdout).await;
    let _ = stdout
        .write_all(format!("{}exit {code}\n", crate::worker::protocol::STOPPED).as_bytes())
        .await;
    let _ = stdout.flush().await;
    code
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

/// What the reader task hands the watchdog's loop.
enum Heard {
    Message(Box<ToWatchdog>),
    /// The runner's end of the link closed.
    Closed,
}

/// When the runner was last heard from, stamped by the reader task as each
/// line arrives: the lease is judged on this, never on when the loop got
/// round to a line, so nothing slow in the loop makes a live runner's
/// lease "expire".
#[derive(Clone)]
struct LastHeard(Arc<Mutex<Instant>>);

impl LastHeard {
    fn now() -> LastHeard {
        LastHeard(Arc::new(Mutex::new(Instant::now())))
    }

    fn stamp(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn at(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Read the runner's lines in a task of their own: each renews the lease
/// as it arrives, whatever the loop is doing.
fn spawn_reader<R>(input: R, heard: LastHeard) -> mpsc::UnboundedReceiver<Heard>
where
    R: tokio::io::AsyncBufRead + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = input.lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    heard.stamp();
                    if let Ok(message) = serde_json::from_str::<ToWatchdog>(&line)
                        && tx.send(Heard::Message(Box::new(message))).is_err()
                    {
                        return;
                    }
                }
                // A pipe closes with its process; an engine closes an
                // attached stdin when its client goes.
                Ok(None) | Err(_) => {
                    let _ = tx.send(Heard::Closed);
                    return;
                }
            }
        }
    });
    rx
}

/// Look for a halt marker once a second in a task of its own (a slow or
/// frozen engine delays only this); says who halted the run, once.
fn spawn_halt_poll(
    engine: Engine,
    scope: String,
    run_id: String,
) -> (oneshot::Receiver<String>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(HALT_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Ok(Some(by)) = halt::requested(&engine, &scope, &run_id).await {
                let _ = tx.send(format!("halted by {by}"));
                return;
            }
        }
    });
    (rx, task)
}

/// Why the watchdog fired, and whether the runner can still talk to it.
struct Fired {
    reason: String,
    link_open: bool,
}

async fn serve_on<R, W>(hello: Hello, input: R, mut out: W) -> u8
where
    R: tokio::io::AsyncBufRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let Hello {
        run_id,
        scope,
        lease_ms,
        engine,
        journal,
    } = hello;
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
    let heard = LastHeard::now();
    let mut inbox = spawn_reader(input, heard.clone());
    let (halted, halt_task) = spawn_halt_poll(engine.clone(), scope.clone(), run_id.clone());
    let mut armed: Vec<Armed> = Vec::new();
    let watched = watch(&mut inbox, &heard, lease, halted, &mut armed, &mut out).await;
    halt_task.abort();
    let Some(fired) = watched else {
        return 0;
    };
    let mut recorder = fire::Recorder::new(journal, &mut out);
    let run = fire::Run {
        engine: &engine,
        run_id: &run_id,
        scope: &scope,
    };
    let mut said = fire::Said::new(fired.link_open);
    let mut failed = fire::fire(
        &run,
        &armed,
        &fired.reason,
        &mut recorder,
        &mut inbox,
        &mut said,
    )
    .await;
    // A runner that was gone before the fire can have applied nothing since.
    if fired.link_open {
        failed |=
            fire::after_fire(&run, &heard, lease, armed, &mut recorder, &mut inbox, said).await;
    }
    if failed { crate::exit::FAULT_LEFT } else { 0 }
}

/// Hold what the runner arms until it says `done` (`None`), or until the
/// watchdog must fire: the lease ran out, the link closed, the run was
/// halted, or the watchdog was asked to stop.
async fn watch<W: AsyncWrite + Unpin>(
    inbox: &mut mpsc::UnboundedReceiver<Heard>,
    heard: &LastHeard,
    lease: Duration,
    mut halted: oneshot::Receiver<String>,
    armed: &mut Vec<Armed>,
    out: &mut W,
) -> Option<Fired> {
    // Asked to stop (SIGTERM, a shutdown): it reverts first, as when the
    // runner goes, rather than leaving the faults without a watchdog.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let fired = |reason: String| {
        Some(Fired {
            reason,
            link_open: true,
        })
    };
    loop {
        tokio::select! {
            heard_now = inbox.recv() => match heard_now {
                Some(Heard::Message(message)) => match *message {
                    ToWatchdog::Arm { fault_id, recipe, settle_ms } => {
                        armed.push(Armed {
                            fault_id: fault_id.clone(),
                            recipe: *recipe,
                            settle: Some(Duration::from_millis(settle_ms)),
                        });
                        send(out, &FromWatchdog::Ack { fault_id }).await;
                    }
                    ToWatchdog::Applied { fault_id } => {
                        if let Some(a) = armed.iter_mut().find(|a| a.fault_id == fault_id) {
                            a.settle = None;
                        }
                    }
                    ToWatchdog::Disarm { fault_id } => armed.retain(|a| a.fault_id != fault_id),
                    ToWatchdog::Renew => {}
                    ToWatchdog::Done => return None,
                },
                Some(Heard::Closed) | None => {
                    return Some(Fired {
                        reason: "the link to the runner closed without the run ending (the runner died or lost its connection)".to_string(),
                        link_open: false,
                    });
                }
            },
            _ = tokio::time::sleep_until(heard.at() + lease) => {
                // Judged on when the last line arrived, not when this loop
                // woke up.
                if heard.at().elapsed() >= lease {
                    return fired(format!("the runner did not renew its {} lease", crate::gameday::units::HumanDuration(lease)));
                }
            }
            Ok(by) = &mut halted => return fired(by),
            Some(()) = async { match terminate.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {
                return fired("the watchdog was asked to stop (SIGTERM)".to_string());
            }
        }
    }
}
