//! The live room: a web page for a run that everyone in a gameday can
//! watch from their laptop and write observations into (`gameday run
//! --serve`, `gameday watch`).
//!
//! - [`state`]: pure: the page's state folded from journal entries,
//!   samples and `result.json`, and the updates each one makes;
//! - [`tail`]: follows a run directory as it grows, or replays an
//!   archived one at a speed;
//! - [`hub`]: the state and its viewers, each a bounded channel, never
//!   waited for;
//! - [`server`]: the HTTP server (hyper): the page, its event stream, and
//!   what a writer posts (observations into the run's input, a halt
//!   through a function the command line gives).
//!
//! The room only reads what the run writes and hands the run what people
//! say; it never touches a fault, and the run never waits for it.

mod hub;
mod server;
mod state;
mod tail;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hub::Hub;
pub(crate) use server::{HaltFn, Writes};
pub(crate) use tail::{Pace, Speed};

/// How often the run directory is read.
const TICK: Duration = Duration::from_millis(100);
/// How often a comment keeps idle event streams open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A room's address, bound, and its links.
pub(crate) struct Bound {
    listener: tokio::net::TcpListener,
    tokens: server::Tokens,
    /// For everyone watching.
    pub viewer_url: String,
    /// For whoever may write observations and halt.
    pub writer_url: String,
}

/// Bind `addr` for a room (before anything else happens, so a taken
/// address refuses at once).
pub(crate) async fn bind(addr: SocketAddr) -> Result<Bound, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot serve the live room on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot serve the live room on {addr}: {e}"))?;
    let loopback = local.ip().is_loopback();
    let tokens = server::Tokens::new(loopback)?;
    let host = if local.ip().is_unspecified() {
        crate::safety::claim::Holder::me("").host
    } else if local.is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    let base = format!("http://{host}:{}/", local.port());
    let viewer_url = match &tokens.read {
        Some(read) => format!("{base}?token={read}"),
        None => base.clone(),
    };
    let writer_url = format!("{base}?token={}", tokens.write);
    Ok(Bound {
        listener,
        tokens,
        viewer_url,
        writer_url,
    })
}

/// Which run directory the room follows.
pub(crate) enum Source {
    /// A known directory.
    Dir(PathBuf),
    /// The directory run `run_id` creates under `out` (the runner's own room).
    RunOf { out: PathBuf, run_id: String },
}

/// A room serving: its tasks end when it is dropped or finished.
pub(crate) struct Room {
    hub: Arc<Hub>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Room {
    /// Serve `bound`, following `source` at `pace`.
    pub(crate) fn start(
        bound: Bound,
        source: Source,
        pace: Pace,
        writes: Writes,
        halt: Option<HaltFn>,
    ) -> Room {
        let hub = Arc::new(Hub::new(pace));
        let server = Arc::new(server::Server {
            hub: hub.clone(),
            tokens: bound.tokens,
            writes,
            halt,
        });
        let tasks = vec![
            tokio::spawn(server::serve(bound.listener, server)),
            tokio::spawn(follow(hub.clone(), source, pace)),
            tokio::spawn(keep_alive(hub.clone())),
        ];
        Room { hub, tasks }
    }

    /// After the run: wait (at most `settle`) until the end is shown,
    /// report included, then keep serving for `grace` (or until Ctrl-C)
    /// so open pages show the verdicts, then stop.
    pub(crate) async fn finish(self, settle: Duration, grace: Duration) {
        let deadline = tokio::time::Instant::now() + settle;
        while !self.hub.settled(true) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(TICK).await;
        }
        // Ctrl-C cuts the grace short.
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Read the run directory every [`TICK`] and hand what is due to the hub.
async fn follow(hub: Arc<Hub>, source: Source, pace: Pace) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let dir = match source {
        Source::Dir(dir) => dir,
        Source::RunOf { out, run_id } => loop {
            if let Some(dir) = tail::find_run_dir(&out, &run_id) {
                break dir;
            }
            tick.tick().await;
        },
    };
    // A replay's clock starts with its first entry shown.
    let pace = match pace {
        Pace::Replay { speed, .. } => Pace::Replay {
            speed,
            started: std::time::Instant::now(),
        },
        Pace::Live => Pace::Live,
    };
    hub.set_pace(pace);
    let mut tail = tail::Tail::new(&dir, pace);
    loop {
        tick.tick().await;
        tail.read();
        hub.apply(|state| tail.release(state));
    }
}

async fn keep_alive(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(KEEP_ALIVE);
    tick.tick().await;
    loop {
        tick.tick().await;
        hub.keep_alive();
    }
}
