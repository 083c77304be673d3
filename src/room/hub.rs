//! The room's one shared place: the [`RoomState`] and the viewers
//! connected to it. A viewer is a bounded channel of ready SSE events; it
//! is given the snapshot when it joins and every update after, sent with
//! `try_send` so nothing ever waits for a viewer: one that falls behind
//! is dropped (its page reconnects and gets a fresh snapshot).

use std::sync::Mutex;

use hyper::body::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use super::state::{RoomState, Update};
use super::tail::Pace;

/// How many events may wait for one viewer before it is dropped.
pub(crate) const VIEWER_BACKLOG: usize = 256;

struct Inner {
    state: RoomState,
    viewers: Vec<mpsc::Sender<Bytes>>,
    pace: Pace,
}

/// The state and its viewers, behind one lock: a viewer joins between two
/// updates, never in the middle of one.
pub(crate) struct Hub {
    inner: Mutex<Inner>,
}

/// An event's data: the page's clock with it (a replay's time runs at its
/// speed; another laptop's clock may be off).
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    now: chrono::DateTime<chrono::Utc>,
    speed: f64,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct Snapshot<'a> {
    state: &'a RoomState,
}

#[derive(Serialize)]
struct OneUpdate<'a> {
    update: &'a Update,
}

/// One SSE event: `event: NAME`, its data on one line.
fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

impl Hub {
    pub(crate) fn new(pace: Pace) -> Hub {
        Hub {
            inner: Mutex::new(Inner {
                state: RoomState::default(),
                viewers: Vec::new(),
                pace,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding it leaves a state still worth showing.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_pace(&self, pace: Pace) {
        self.lock().pace = pace;
    }

    fn envelope<T: Serialize>(inner: &Inner, body: &T) -> String {
        let (now, speed) = inner.pace.now(inner.state.run.started_at);
        serde_json::to_string(&Envelope { now, speed, body }).unwrap_or_default()
    }

    /// The snapshot as JSON (`GET /state`), with the clock.
    pub(crate) fn snapshot_json(&self) -> String {
        let inner = self.lock();
        Self::envelope(
            &inner,
            &Snapshot {
                state: &inner.state,
            },
        )
    }

    /// A new viewer: its channel, the snapshot already in it.
    pub(crate) fn join(&self) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(VIEWER_BACKLOG);
        let mut inner = self.lock();
        let data = Self::envelope(
            &inner,
            &Snapshot {
                state: &inner.state,
            },
        );
        if tx.try_send(event("snapshot", &data)).is_ok() {
            inner.viewers.push(tx);
        }
        rx
    }

    /// Change the state with `change` and send its updates to every viewer.
    pub(crate) fn apply(&self, change: impl FnOnce(&mut RoomState) -> Vec<Update>) {
        let mut inner = self.lock();
        let updates = change(&mut inner.state);
        for update in &updates {
            let data = Self::envelope(&inner, &OneUpdate { update });
            let bytes = event("update", &data);
            inner.viewers.retain(|v| v.try_send(bytes.clone()).is_ok());
        }
    }

    /// A comment line to every viewer, so proxies keep the stream open.
    pub(crate) fn keep_alive(&self) {
        let bytes = Bytes::from_static(b": keep-alive\n\n");
        self.lock()
            .viewers
            .retain(|v| v.try_send(bytes.clone()).is_ok());
    }

    /// Whether the run said it finished.
    pub(crate) fn ended(&self) -> bool {
        self.lock().state.ended()
    }

    /// Whether the end is shown whole: `result.json` read, and the report
    /// found (or `result.json` alone when `report` is false).
    pub(crate) fn settled(&self, report: bool) -> bool {
        let inner = self.lock();
        inner.state.has_result()
            && (!report
                || inner
                    .state
                    .end
                    .as_ref()
                    .is_some_and(|e| e.report_path.is_some()))
    }

    #[cfg(test)]
    fn viewers(&self) -> usize {
        self.lock().viewers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::journal::JournalEntry;

    fn halted() -> impl FnOnce(&mut RoomState) -> Vec<Update> {
        |state| {
            state.journal(&JournalEntry::Halted {
                reason: "x".into(),
                at: chrono::Utc::now(),
            })
        }
    }

    #[test]
    fn a_viewer_gets_the_snapshot_then_updates_and_is_dropped_when_behind() {
        let hub = Hub::new(Pace::Live);
        let mut rx = hub.join();
        let first = rx.try_recv().unwrap();
        assert!(first.starts_with(b"event: snapshot\ndata: {\"now\":"));
        hub.apply(halted());
        let next = String::from_utf8(rx.try_recv().unwrap().to_vec()).unwrap();
        assert!(next.starts_with("event: update\n"), "{next}");
        assert!(next.contains("\"type\":\"timeline\""), "{next}");
        // Never read again: once its backlog is full it is dropped, and
        // updates go on for the others.
        let mut other = hub.join();
        for _ in 0..VIEWER_BACKLOG + 5 {
            hub.apply(halted());
            while other.try_recv().is_ok() {}
        }
        assert_eq!(hub.viewers(), 1);
        hub.keep_alive();
        assert_eq!(other.try_recv().unwrap(), Bytes::from(": keep-alive\n\n"));
    }
}
