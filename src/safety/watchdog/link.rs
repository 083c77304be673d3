//! The runner's side of the dead man's switch: one watchdog per engine
//! that receives faults, started before the first scenario and told
//! `done` after the last revert. On this host's engine it is a `gameday
//! watchdog` process in a session of its own (Ctrl-C at the runner's
//! terminal does not reach it, and its standard input closes when the
//! runner dies); on a remote engine it is a container from the helper image
//! with the engine's socket mounted, so it keeps working when the link to
//! the runner is cut. A remote engine without the helper image gets a
//! watchdog on this host instead, and the plan says what that does not cover.
//! A watchdog on a remote engine cannot undo what is undone from this host
//! (a `script` with `in: host`, signals to processes seen here): such a
//! fault's recipe is held by a second watchdog for that engine, a process
//! on this host ([`Placement::ThisHostsPart`], see [`Watchdogs::holder`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::{FromWatchdog, Hello, LABEL, RUN_LABEL, SCOPE_LABEL, ToWatchdog};
use crate::docker::Engine;
use crate::fault::RevertRecipe;
use crate::gameday::model::EngineSpec;
use crate::record::journal::JournalEntry;
use crate::worker::{HelperOutput, Parts, Placement as WorkerPlacement, WorkerError, launch};

/// How long a watchdog may take to say it is ready, and to take a recipe.
const READY_WITHIN: Duration = Duration::from_secs(20);
const ACK_WITHIN: Duration = Duration::from_secs(5);
/// How long the runner waits for a watchdog to end after `done`.
const END_WITHIN: Duration = Duration::from_secs(10);

/// Where an engine's watchdog runs.
#[derive(Clone)]
pub(crate) enum Placement {
    /// A process on this host.
    Local,
    /// A container on the engine, from `image`, mounting `socket`.
    Container { image: String, socket: String },
    /// A process on this host beside an engine's watchdog container,
    /// holding only the recipes undone from this host
    /// ([`RevertRecipe::acts_from_this_host`]).
    ThisHostsPart,
}

/// What the watchdog of one engine needs.
pub(crate) struct Spec {
    pub engine: Engine,
    pub placement: Placement,
}

/// Who a run is, for its watchdogs.
pub(crate) struct RunIdentity<'a> {
    pub run_id: &'a str,
    pub scope: &'a str,
    pub lease: Duration,
    pub journal: &'a Path,
    pub log: &'a Path,
}

/// State shared by a link's reader and the runner.
struct Shared {
    engine: String,
    /// Arms waiting for their answer: `Ok` held, `Err` why not.
    pending: Mutex<HashMap<String, oneshot::Sender<Result<(), String>>>>,
    ready: Mutex<Option<oneshot::Sender<u32>>>,
    /// Set once the runner said `done`: the end of the link is expected.
    done: AtomicBool,
    /// Why no fault may be applied under this watchdog any more: it fired,
    /// or it is gone. Set by the reader (or the writer) the moment it
    /// learns it; checked right before each apply.
    fired: Mutex<Option<String>>,
    /// What a watchdog that cannot write the journal recorded.
    records: Mutex<Vec<JournalEntry>>,
    keeps_records: bool,
    stops: mpsc::UnboundedSender<String>,
}

impl Shared {
    fn line(&self, line: &str) {
        let Ok(message) = serde_json::from_str::<FromWatchdog>(line) else {
            return;
        };
        match message {
            FromWatchdog::Ready { pid } => {
                if let Some(tx) = self.ready.lock().expect("not poisoned").take() {
                    let _ = tx.send(pid);
                }
            }
            FromWatchdog::Ack { fault_id } => {
                if let Some(tx) = self.pending.lock().expect("not poisoned").remove(&fault_id) {
                    let _ = tx.send(Ok(()));
                }
            }
            FromWatchdog::Refused { fault_id } => {
                if let Some(tx) = self.pending.lock().expect("not poisoned").remove(&fault_id) {
                    let _ = tx.send(Err(self.fired().unwrap_or_else(|| {
                        format!("the watchdog on engine `{}` fired", self.engine)
                    })));
                }
            }
            FromWatchdog::Journal(entry) => {
                if let JournalEntry::WatchdogFired { reason, .. } = &*entry {
                    self.stop(format!(
                        "the watchdog on engine `{}` reverted every fault: {reason}",
                        self.engine
                    ));
                }
                if self.keeps_records {
                    self.records.lock().expect("not poisoned").push(*entry);
                }
            }
        }
    }

    fn closed(&self) {
        if !self.done.load(Ordering::SeqCst) {
            self.stop(format!(
                "the watchdog on engine `{}` is gone, and no fault may be in place without it",
                self.engine
            ));
        }
    }

    /// No fault may be applied any more under this watchdog, for `why`:
    /// said once on `stops`, and to every arm still waiting.
    fn stop(&self, why: String) {
        {
            let mut fired = self.fired.lock().expect("not poisoned");
            if fired.is_some() {
                return;
            }
            *fired = Some(why.clone());
        }
        for (_, tx) in self.pending.lock().expect("not poisoned").drain() {
            let _ = tx.send(Err(why.clone()));
        }
        let _ = self.stops.send(why);
    }

    fn fired(&self) -> Option<String> {
        self.fired.lock().expect("not poisoned").clone()
    }
}

enum Ending {
    Process(tokio::process::Child),
    Container { engine: Engine, id: String },
}

struct Link {
    shared: Arc<Shared>,
    /// It holds only the engine's recipes undone from this host.
    this_hosts_part: bool,
    tx: mpsc::UnboundedSender<ToWatchdog>,
    how: String,
    ending: Ending,
    /// Ends when the writer has written `done` or given up.
    writer: oneshot::Receiver<()>,
    reader: tokio::task::JoinHandle<()>,
}

/// The watchdogs of a run, one per engine that receives faults (and one
/// more on this host for an engine whose watchdog is a container there
/// when it has faults undone from this host).
pub(crate) struct Watchdogs {
    links: Vec<Link>,
    /// Which link holds each armed fault.
    holders: Mutex<HashMap<String, usize>>,
}

/// Write messages (and a `renew` every `every`) until `done` is written or
/// the runner lets go; a broken link is said once on `stops`.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::UnboundedReceiver<ToWatchdog>,
    every: Duration,
    shared: Arc<Shared>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        let (message, last) = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => { let last = m == ToWatchdog::Done; (m, last) }
                None => return,
            },
            _ = tick.tick() => (ToWatchdog::Renew, false),
        };
        let mut line = serde_json::to_vec(&message).unwrap_or_default();
        line.push(b'\n');
        let written = async {
            writer.write_all(&line).await?;
            writer.flush().await
        };
        if let Err(e) = written.await {
            if !shared.done.load(Ordering::SeqCst) {
                shared.stop(format!(
                    "the link to the watchdog on engine `{}` broke ({e}), and no fault may be in place without it",
                    shared.engine
                ));
            }
            return;
        }
        if last {
            let _ = writer.shutdown().await;
            return;
        }
    }
}

/// Write to a local watchdog's standard input from a thread of its own,
/// with a runtime of its own: renewals go out on time even while every
/// worker of the run's runtime is busy (a blocking call, an fsync on a slow
/// disk, a slow engine).
fn write_on_own_thread(
    stdin: tokio::process::ChildStdin,
    rx: mpsc::UnboundedReceiver<ToWatchdog>,
    every: Duration,
    shared: Arc<Shared>,
) -> Result<oneshot::Receiver<()>, String> {
    let fd = stdin.into_owned_fd().map_err(|e| e.to_string())?;
    let (ended, writer) = oneshot::channel();
    std::thread::Builder::new()
        .name("gameday-renew".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let written = runtime.map(|runtime| {
                runtime.block_on(async {
                    let pipe = tokio::net::unix::pipe::Sender::from_owned_fd(fd)?;
                    write_loop(pipe, rx, every, shared.clone()).await;
                    Ok::<(), std::io::Error>(())
                })
            });
            if let Err(e) | Ok(Err(e)) = written {
                shared.stop(format!(
                    "cannot write to the watchdog on engine `{}` ({e}), and no fault may be in place without it",
                    shared.engine
                ));
            }
            let _ = ended.send(());
        })
        .map_err(|e| e.to_string())?;
    Ok(writer)
}

impl Watchdogs {
    /// Start a watchdog for each of `specs` and wait until each is ready.
    /// Stop reasons (a watchdog fired, or is gone) arrive on `stops`.
    pub(crate) async fn start(
        specs: Vec<Spec>,
        run: RunIdentity<'_>,
        stops: mpsc::UnboundedSender<String>,
    ) -> Result<Watchdogs, String> {
        let mut watchdogs = Watchdogs {
            links: Vec::new(),
            holders: Mutex::new(HashMap::new()),
        };
        for spec in specs {
            match start_one(&spec, &run, stops.clone()).await {
                Ok(link) => watchdogs.links.push(link),
                Err(e) => {
                    watchdogs.finish().await;
                    return Err(format!(
                        "cannot start the watchdog for engine `{}` ({}): {e}",
                        spec.engine.name(),
                        spec.engine.host()
                    ));
                }
            }
        }
        Ok(watchdogs)
    }

    /// Each engine's watchdog, in words: `process 4242 on this host`.
    pub(crate) fn describe(&self) -> Vec<(String, String)> {
        self.links
            .iter()
            .map(|l| (l.shared.engine.clone(), l.how.clone()))
            .collect()
    }

    /// Does a watchdog on the engine itself (a container) guard `engine`'s
    /// faults, so that they are reverted even when this runner cannot
    /// reach the engine?
    pub(crate) fn on_the_engine(&self, engine: &str) -> bool {
        self.link(engine)
            .is_some_and(|l| matches!(l.ending, Ending::Container { .. }))
    }

    /// The watchdog of `engine` (its own, not this host's part).
    fn link(&self, engine: &str) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| l.shared.engine == engine && !l.this_hosts_part)
    }

    /// Which watchdog holds `recipe`, of a fault on `engine`: the engine's,
    /// except that a recipe undone from this host (a host script) goes to
    /// the engine's part on this host when its watchdog is elsewhere (a
    /// container on the engine could not run it).
    fn holder(&self, engine: &str, recipe: &RevertRecipe) -> Option<usize> {
        let here = recipe
            .acts_from_this_host()
            .then(|| {
                self.links
                    .iter()
                    .position(|l| l.shared.engine == engine && l.this_hosts_part)
            })
            .flatten();
        here.or_else(|| {
            self.links
                .iter()
                .position(|l| l.shared.engine == engine && !l.this_hosts_part)
        })
    }

    /// The watchdog that took fault `fault_id` (of `engine`).
    fn holding(&self, engine: &str, fault_id: &str) -> Option<&Link> {
        let held = self
            .holders
            .lock()
            .expect("not poisoned")
            .get(fault_id)
            .copied();
        match held {
            Some(i) => self.links.get(i),
            None => self.link(engine),
        }
    }

    /// Hand the watchdog of `engine` a fault's recipe before it is applied;
    /// Ok once it holds it. A watchdog that fired refuses it.
    pub(crate) async fn arm(
        &self,
        engine: &str,
        fault_id: &str,
        recipe: &RevertRecipe,
        settle: Duration,
    ) -> Result<(), String> {
        let held_by = self
            .holder(engine, recipe)
            .ok_or_else(|| format!("no watchdog serves engine `{engine}`"))?;
        self.holders
            .lock()
            .expect("not poisoned")
            .insert(fault_id.to_string(), held_by);
        let link = &self.links[held_by];
        let (tx, rx) = oneshot::channel();
        {
            // Under the lock the reader fails waiting arms with: an arm
            // cannot slip in after the fire was learnt.
            let mut pending = link.shared.pending.lock().expect("not poisoned");
            if let Some(why) = link.shared.fired() {
                return Err(why);
            }
            pending.insert(fault_id.to_string(), tx);
        }
        link.tx
            .send(ToWatchdog::Arm {
                fault_id: fault_id.to_string(),
                recipe: Box::new(recipe.clone()),
                settle_ms: settle.as_millis() as u64,
            })
            .map_err(|_| "the watchdog's link is closed".to_string())?;
        match tokio::time::timeout(ACK_WITHIN, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the watchdog went away before taking the recipe".into()),
            Err(_) => Err(format!(
                "the watchdog did not take the recipe within {}",
                crate::gameday::units::HumanDuration(ACK_WITHIN)
            )),
        }
    }

    /// Why no fault may be applied on `engine` now: a watchdog of it (its
    /// own, or its part on this host, whichever took the recipe) fired or
    /// is gone since it took the recipe. Checked right before an apply,
    /// and again right after it (a fire that raced the apply).
    pub(crate) fn fired(&self, engine: &str) -> Option<String> {
        self.links
            .iter()
            .filter(|l| l.shared.engine == engine)
            .find_map(|l| l.shared.fired())
    }

    /// The fault's apply was confirmed.
    pub(crate) fn applied(&self, engine: &str, fault_id: &str) {
        if let Some(link) = self.holding(engine, fault_id) {
            let _ = link.tx.send(ToWatchdog::Applied {
                fault_id: fault_id.to_string(),
            });
        }
    }

    /// The runner reverted the fault itself.
    pub(crate) fn disarm(&self, engine: &str, fault_id: &str) {
        if let Some(link) = self.holding(engine, fault_id) {
            let _ = link.tx.send(ToWatchdog::Disarm {
                fault_id: fault_id.to_string(),
            });
        }
    }

    /// Tell every watchdog the run is over, wait for each to end (a
    /// container is removed), and return what watchdogs that could not
    /// write the journal recorded.
    pub(crate) async fn finish(self) -> Vec<JournalEntry> {
        let mut records = Vec::new();
        for link in self.links {
            link.shared.done.store(true, Ordering::SeqCst);
            let _ = link.tx.send(ToWatchdog::Done);
            let _ = tokio::time::timeout(END_WITHIN, link.writer).await;
            match link.ending {
                Ending::Process(mut child) => {
                    if tokio::time::timeout(END_WITHIN, child.wait())
                        .await
                        .is_err()
                    {
                        let _ = child.start_kill();
                        let _ = child.wait().await;
                    }
                }
                Ending::Container { engine, id } => {
                    let _ = tokio::time::timeout(END_WITHIN, engine.finish(&id, false)).await;
                    let _ = engine.remove_container(&id).await;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), link.reader).await;
            records.extend(std::mem::take(
                &mut *link.shared.records.lock().expect("not poisoned"),
            ));
        }
        records
    }
}

/// The name of a run's watchdog container on an engine.
pub(crate) fn container_name(run_id: &str, engine: &str) -> String {
    crate::safety::claim::marker_name("gameday-watchdog", &format!("{run_id}-{engine}"))
}

/// Start the watchdog of one engine (see the module) and wait until it is
/// ready.
async fn start_one(
    spec: &Spec,
    run: &RunIdentity<'_>,
    stops: mpsc::UnboundedSender<String>,
) -> Result<Link, String> {
    let local = matches!(spec.placement, Placement::Local | Placement::ThisHostsPart);
    let (ready_tx, ready_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        engine: spec.engine.name().to_string(),
        pending: Mutex::new(HashMap::new()),
        ready: Mutex::new(Some(ready_tx)),
        done: AtomicBool::new(false),
        fired: Mutex::new(None),
        records: Mutex::new(Vec::new()),
        keeps_records: !local,
        stops,
    });
    let hello = hello(spec, run, local);
    let name = container_name(run.run_id, spec.engine.name());
    let placement = placement(spec, run, &name)?;
    let worker = launch(&hello, placement, READY_WITHIN)
        .await
        .map_err(|e| match e {
            WorkerError::Helper { source, .. } => source.to_string(),
            other => other.to_string(),
        })?;
    let (tx, rx) = mpsc::unbounded_channel();
    let every = (run.lease / 4).max(Duration::from_millis(250));
    let (ending, writer, reader, how) = match worker.into_parts() {
        Parts::Local {
            child,
            stdin,
            stdout,
        } => {
            let stdin = stdin.ok_or("no stdin")?;
            let writer = write_on_own_thread(stdin, rx, every, shared.clone())?;
            let how = local_words(&spec.placement, child.id().unwrap_or(0));
            let reader = tokio::spawn(read_local(stdout, shared.clone()));
            (Ending::Process(child), writer, reader, how)
        }
        Parts::Helper {
            engine,
            id,
            input,
            output,
        } => {
            let input = input.ok_or("no input")?;
            let (ended, writer) = oneshot::channel();
            let writing = shared.clone();
            tokio::spawn(async move {
                write_loop(input, rx, every, writing).await;
                let _ = ended.send(());
            });
            let reader = tokio::spawn(read_container(output, shared.clone()));
            let short: String = id.chars().take(12).collect();
            (
                Ending::Container { engine, id },
                writer,
                reader,
                format!("container {short} on the engine"),
            )
        }
        Parts::Gone => return Err("it ended before it was ready".to_string()),
    };
    let link = Link {
        shared,
        this_hosts_part: matches!(spec.placement, Placement::ThisHostsPart),
        tx,
        how,
        ending,
        writer,
        reader,
    };
    ready(link, ready_rx).await
}

/// The watchdog's work: who it serves, and how it reaches its engine (a
/// container reaches it through the socket mounted in it).
fn hello(spec: &Spec, run: &RunIdentity<'_>, local: bool) -> Hello {
    Hello {
        run_id: run.run_id.to_string(),
        scope: run.scope.to_string(),
        lease_ms: run.lease.as_millis() as u64,
        engine: if local {
            spec.engine.resolved_spec().clone()
        } else {
            EngineSpec {
                host: Some(format!("unix://{}", crate::docker::DEFAULT_SOCKET)),
                ..Default::default()
            }
        },
        journal: local.then(|| absolute(run.journal)),
    }
}

/// Where the watchdog runs: a process in a session of its own here, its
/// errors in the run's log, or a container of its own on the engine.
fn placement<'a>(
    spec: &'a Spec,
    run: &RunIdentity<'_>,
    name: &'a str,
) -> Result<WorkerPlacement<'a>, String> {
    Ok(match &spec.placement {
        Placement::Local | Placement::ThisHostsPart => {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(run.log)
                .map_err(|e| format!("cannot open {}: {e}", run.log.display()))?;
            WorkerPlacement::ThisHost {
                own_session: true,
                stderr_to: Some(log),
            }
        }
        Placement::Container { image, socket } => WorkerPlacement::Engine {
            engine: &spec.engine,
            image,
            name,
            socket,
            labels: HashMap::from([
                (LABEL.to_string(), "1".to_string()),
                (RUN_LABEL.to_string(), run.run_id.to_string()),
                (SCOPE_LABEL.to_string(), run.scope.to_string()),
            ]),
        },
    })
}

/// A local watchdog, in words.
fn local_words(placement: &Placement, pid: u32) -> String {
    match placement {
        Placement::ThisHostsPart => format!(
            "process {pid} on this host, for what is undone from this host (host scripts, process signals)"
        ),
        Placement::Local | Placement::Container { .. } => format!("process {pid} on this host"),
    }
}

/// Read a local watchdog's lines until its output closes.
async fn read_local(
    mut lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    shared: Arc<Shared>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        shared.line(&line);
    }
    shared.closed();
}

/// Read a watchdog container's lines until its output closes.
async fn read_container(mut output: HelperOutput, shared: Arc<Shared>) {
    while let Some(line) = output.next_line().await {
        shared.line(line.trim());
    }
    shared.closed();
}

/// Wait until the watchdog says it is ready (it reached its engine); a
/// watchdog that does not is ended.
async fn ready(link: Link, ready_rx: oneshot::Receiver<u32>) -> Result<Link, String> {
    match tokio::time::timeout(READY_WITHIN, ready_rx).await {
        Ok(Ok(_)) => Ok(link),
        other => {
            let why = match other {
                Err(_) => "it did not answer in time",
                _ => "it ended before it was ready",
            };
            Watchdogs {
                links: vec![link],
                holders: Mutex::new(HashMap::new()),
            }
            .finish()
            .await;
            Err(why.to_string())
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> (Shared, mpsc::UnboundedReceiver<String>) {
        let (stops, said) = mpsc::unbounded_channel();
        let shared = Shared {
            engine: "default".into(),
            pending: Mutex::new(HashMap::new()),
            ready: Mutex::new(None),
            done: AtomicBool::new(false),
            fired: Mutex::new(None),
            records: Mutex::new(Vec::new()),
            keeps_records: false,
            stops,
        };
        (shared, said)
    }

    fn waiting(shared: &Shared, fault_id: &str) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        shared
            .pending
            .lock()
            .unwrap()
            .insert(fault_id.to_string(), tx);
        rx
    }

    /// A fire is learnt at once: the flag is set, an arm still waiting
    /// fails with the reason, and the run is told once (not again when
    /// the link then closes).
    #[test]
    fn a_fire_fails_waiting_arms_and_is_said_once() {
        let (shared, mut said) = shared();
        let mut arm = waiting(&shared, "s1-f1-a");
        let fired = FromWatchdog::Journal(Box::new(JournalEntry::WatchdogFired {
            reason: "halted by dana".into(),
            faults: 1,
            at: chrono::Utc::now(),
        }));
        shared.line(&serde_json::to_string(&fired).unwrap());
        let why = shared.fired().expect("the fire is known");
        assert!(why.contains("halted by dana"), "{why}");
        assert_eq!(arm.try_recv().unwrap(), Err(why.clone()));
        shared.closed();
        assert_eq!(said.try_recv().unwrap(), why);
        assert!(said.try_recv().is_err(), "said twice");
    }

    /// A recipe the watchdog refused fails its arm; an ack holds it.
    #[test]
    fn a_refused_recipe_fails_its_arm_and_an_ack_holds_it() {
        let (shared, _said) = shared();
        let mut refused = waiting(&shared, "s1-f1-a");
        let mut held = waiting(&shared, "s1-f1-b");
        let line = |m: FromWatchdog| serde_json::to_string(&m).unwrap();
        shared.line(&line(FromWatchdog::Refused {
            fault_id: "s1-f1-a".into(),
        }));
        shared.line(&line(FromWatchdog::Ack {
            fault_id: "s1-f1-b".into(),
        }));
        assert!(refused.try_recv().unwrap().is_err());
        assert_eq!(held.try_recv().unwrap(), Ok(()));
    }

    /// A link that closes without `done` is a watchdog gone: no fault may
    /// be applied; after `done` it is expected.
    #[test]
    fn a_link_closed_without_done_stops_applies() {
        let (shared, mut said) = shared();
        shared.done.store(true, Ordering::SeqCst);
        shared.closed();
        assert!(shared.fired().is_none() && said.try_recv().is_err());
        shared.done.store(false, Ordering::SeqCst);
        shared.closed();
        assert!(shared.fired().unwrap().contains("is gone"));
        assert!(said.try_recv().is_ok());
    }
}
