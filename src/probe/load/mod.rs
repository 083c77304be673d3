//! The `load` probe: an HTTP load generator that samples as aggregates.
//!
//! Open model (`rate: 500/s`): request `k` is due at `start + k / rate`,
//! whatever happened to the ones before it, and its latency is measured
//! from when it was due, not from when it was sent, so a stalled service
//! shows as the stall (coordinated omission corrected, as wrk2 and k6's
//! constant-arrival-rate do). A request due when all `connections` are
//! busy is not sent and counts as failed, `generator limit`. Closed loop
//! (`rate: max`): one worker a connection sends the next request as soon
//! as the last is answered, each due when it is sent; the workers share
//! [`LOOP_THREADS`] threads, each running its own single-threaded runtime,
//! as wrk's threads each run their own event loop (on the run's shared
//! runtime, the wake-ups between its threads cost a fifth of the rate).
//!
//! Results are tallied by due time into intervals ([`LoadTally`], one
//! sample each): `every` long on a grid from the run's start, and cut at
//! each window's moment the run announces ([`WindowCuts`]), so a window's
//! verdict merges whole intervals and is exact. An interval is handed on
//! once nothing due in it is in flight; what is held is bounded by the
//! rate times the interval and the timeout. `client` holds the
//! connections, `tally` an interval's counts, `histogram` its latencies.

mod client;
mod histogram;
mod tally;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{Clock, ProbeSample};
use crate::gameday::model::LoadProbe;
use crate::gameday::units::LoadRate;
pub(crate) use histogram::LatencyHistogram;
pub(crate) use tally::LoadTally;
pub(crate) use tally::{Done, Ending};

/// How long after an interval's end its results may still be arriving
/// (the cut announcing a window's moment comes a little after it).
const GRACE_MS: f64 = 250.0;

/// How many threads a closed loop's connections are shared between, each
/// with a runtime of its own (no wake-up crosses between them).
const LOOP_THREADS: u32 = 2;

/// How often the generator wakes to send what is due.
const TICK: Duration = Duration::from_millis(1);

/// The moments (ms since the run's start) where windows begin or end, as
/// the run reaches them: a load probe closes its interval there.
#[derive(Debug, Default)]
pub(crate) struct WindowCuts(Mutex<Vec<f64>>);

impl WindowCuts {
    pub(crate) fn cut(&self, ms: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ms);
    }

    /// The earliest cut after `from`.
    fn after(&self, from: f64) -> Option<f64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .filter(|c| *c > from)
            .min_by(f64::total_cmp)
    }
}

/// The rates a run sets its load probes to for a while (a capacity
/// search's trials), by probe index; a probe without one sends at its own
/// `rate`. Generators look at `generation` every tick and read the rates
/// only when it moved.
#[derive(Debug, Default)]
pub(crate) struct RateDials {
    generation: std::sync::atomic::AtomicU64,
    rates: Mutex<Vec<(usize, f64)>>,
}

impl RateDials {
    /// Set probe `index` to `rate` requests a second, or back to its own.
    pub(crate) fn set(&self, index: usize, rate: Option<f64>) {
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        rates.retain(|(i, _)| *i != index);
        if let Some(rate) = rate {
            rates.push((index, rate));
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn rate_of(&self, index: usize) -> Option<f64> {
        self.rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, r)| *r)
    }
}

/// The open model's schedule: request `k` is due at `from + k / rate`;
/// a rate dialled in by the run starts a schedule of its own where it was
/// set. Without a rate (`rate: max`) nothing is ever due.
struct OpenSchedule {
    own: Option<f64>,
    rate: Option<f64>,
    from: Instant,
    next: u64,
    generation: u64,
}

impl OpenSchedule {
    fn new(rate: &LoadRate, start: Instant, dials: &RateDials) -> OpenSchedule {
        let own = match rate {
            LoadRate::Constant(rate) => Some(rate.0),
            LoadRate::Max => None,
        };
        OpenSchedule {
            own,
            rate: own,
            from: start,
            next: 0,
            generation: dials.generation(),
        }
    }

    /// Take a rate the run set (or took back) since the last look.
    fn dialled(&mut self, dials: &RateDials, index: usize, now: Instant) {
        if self.own.is_none() || dials.generation() == self.generation {
            return;
        }
        self.generation = dials.generation();
        let rate = dials.rate_of(index).or(self.own);
        if rate != self.rate {
            self.rate = rate;
            self.from = now;
            self.next = 0;
        }
    }

    /// The next request due by `now`, if any (and counts it sent).
    fn due_by(&mut self, now: Instant) -> Option<Instant> {
        let rate = self.rate.filter(|r| r.is_finite() && *r > 0.0)?;
        let due = self.from + Duration::from_secs_f64(self.next as f64 / rate);
        (due <= now).then(|| {
            self.next += 1;
            due
        })
    }
}

/// Results waiting for their interval to close, and what is in flight.
struct Ledger {
    every_ms: f64,
    /// The start of the interval being filled.
    open_from: f64,
    done: Vec<Done>,
    /// Requests sent and not yet answered, by due time (µs).
    in_flight: BTreeMap<u64, u32>,
}

fn due_key(due_ms: f64) -> u64 {
    (due_ms * 1000.0) as u64
}

impl Ledger {
    fn new(every_ms: f64, open_from: f64) -> Ledger {
        Ledger {
            every_ms,
            open_from,
            done: Vec::new(),
            in_flight: BTreeMap::new(),
        }
    }

    fn sent(&mut self, due_ms: f64) {
        *self.in_flight.entry(due_key(due_ms)).or_default() += 1;
    }

    fn finished(&mut self, done: Done) {
        let key = due_key(done.due_ms);
        if let Some(n) = self.in_flight.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.in_flight.remove(&key);
            }
        }
        self.done.push(done);
    }

    /// The end of the interval being filled: the next grid line or cut.
    fn open_until(&self, cuts: &WindowCuts) -> f64 {
        let grid = ((self.open_from / self.every_ms).floor() + 1.0) * self.every_ms;
        cuts.after(self.open_from).map_or(grid, |c| c.min(grid))
    }

    /// Hand on every interval that ended `GRACE_MS` before `now_ms` with
    /// nothing due in it still in flight.
    fn close_ready(
        &mut self,
        now_ms: f64,
        cuts: &WindowCuts,
        out: &mut impl FnMut(f64, LoadTally),
    ) {
        loop {
            let end = self.open_until(cuts);
            let oldest = self.in_flight.keys().next().map(|k| *k as f64 / 1000.0);
            if now_ms < end + GRACE_MS || oldest.is_some_and(|o| o < end) {
                return;
            }
            self.close(end, out);
        }
    }

    /// Hand on everything up to `end_ms` (the probe stopped).
    fn close_all(&mut self, end_ms: f64, cuts: &WindowCuts, out: &mut impl FnMut(f64, LoadTally)) {
        while self.open_from < end_ms {
            let end = self.open_until(cuts).min(end_ms);
            self.close(end, out);
        }
    }

    fn close(&mut self, end: f64, out: &mut impl FnMut(f64, LoadTally)) {
        let mut tally = LoadTally {
            span_ms: end - self.open_from,
            ..Default::default()
        };
        self.done.retain(|d| {
            let inside = d.due_ms < end;
            if inside {
                tally.add(d);
            }
            !inside
        });
        out(self.open_from, tally);
        self.open_from = end;
    }
}

/// One interval as a sample: ok when none of its requests failed; its
/// latency is the interval's median, its status the most frequent.
fn sample_of(index: usize, clock: &Clock, t_ms: f64, tally: LoadTally) -> ProbeSample {
    let status = tally
        .statuses
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(s, _)| *s);
    ProbeSample {
        probe: index,
        t_ms,
        at: clock.start_wall + chrono::Duration::microseconds((t_ms * 1000.0) as i64),
        ok: tally.failed() == 0,
        latency_ms: tally.latency.percentile_ms(50.0).unwrap_or_default(),
        status,
        error: (tally.failed() > 0).then(|| tally.failures_text()),
        load: Some(Box::new(tally)),
        ..Default::default()
    }
}

/// What the requests' tasks tell the generator, in order per task.
enum Event {
    /// A closed-loop worker sent a request due then (ms).
    Sent(f64),
    Done(Done),
}

/// A closed-loop worker: on its own connection, send, wait for the answer,
/// send again, until `cancel` turns true (what is out is finished first).
async fn closed_loop(
    pool: Arc<client::Pool>,
    clock: Clock,
    timeout: Duration,
    events: mpsc::UnboundedSender<Event>,
    cancel: watch::Receiver<bool>,
) {
    let mut own = None;
    while !*cancel.borrow() {
        let due = Instant::now();
        let due_ms = clock.ms(due);
        if events.send(Event::Sent(due_ms)).is_err() {
            return;
        }
        let ending = pool.send_on(&mut own, timeout).await;
        let latency_us = due.elapsed().as_micros() as u64;
        let _ = events.send(Event::Done(Done {
            due_ms,
            latency_us,
            ending,
        }));
    }
}

/// What one load probe needs to run.
pub(crate) struct Generator {
    pub index: usize,
    pub spec: LoadProbe,
    pub every: Duration,
    pub timeout: Duration,
    pub cuts: Arc<WindowCuts>,
    /// A rate the run sets for a while, in place of `spec.rate`.
    pub dials: Arc<RateDials>,
}

impl Generator {
    /// Send until `cancel` turns true, then wait for what is in flight
    /// (each bounded by the timeout) and hand on the last intervals.
    pub(crate) async fn run(
        self,
        clock: Clock,
        samples: mpsc::UnboundedSender<ProbeSample>,
        mut cancel: watch::Receiver<bool>,
    ) {
        let index = self.index;
        let mut emit = |t_ms: f64, tally: LoadTally| {
            let _ = samples.send(sample_of(index, &clock, t_ms, tally));
        };
        let pool = match client::Pool::new(&self.spec.http, self.spec.connections) {
            Ok(pool) => Arc::new(pool),
            Err(e) => {
                // Validated when the file was read; said once if not.
                let _ = samples.send(ProbeSample {
                    probe: index,
                    t_ms: clock.ms(Instant::now()),
                    at: clock.wall(Instant::now()),
                    error: Some(e),
                    ..Default::default()
                });
                return;
            }
        };
        let (events_tx, mut events) = mpsc::unbounded_channel::<Event>();
        let start = Instant::now();
        let mut ledger = Ledger::new(self.every.as_secs_f64() * 1000.0, clock.ms(start));
        let mut workers = tokio::task::JoinSet::new();
        if self.spec.rate == LoadRate::Max {
            let threads = self.spec.connections.min(LOOP_THREADS);
            for t in 0..threads {
                // Connections t, t + threads, ...: as even as it goes.
                let share = (self.spec.connections - t).div_ceil(threads);
                let (pool, events, cancel) = (pool.clone(), events_tx.clone(), cancel.clone());
                let timeout = self.timeout;
                workers.spawn_blocking(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async move {
                        let mut set = tokio::task::JoinSet::new();
                        for _ in 0..share {
                            set.spawn(closed_loop(
                                pool.clone(),
                                clock,
                                timeout,
                                events.clone(),
                                cancel.clone(),
                            ));
                        }
                        while set.join_next().await.is_some() {}
                    });
                });
            }
        }
        let mut schedule = OpenSchedule::new(&self.spec.rate, start, &self.dials);
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Open model: send one request due at `due`, or count it failed
        // (`generator limit`) when no connection is free.
        let send = |due: Instant, ledger: &mut Ledger| {
            let due_ms = clock.ms(due);
            let Some(slot) = pool.try_slot() else {
                ledger.finished(Done {
                    due_ms,
                    latency_us: 0,
                    ending: Ending::Limited,
                });
                return;
            };
            ledger.sent(due_ms);
            let pool = pool.clone();
            let events = events_tx.clone();
            let timeout = self.timeout;
            tokio::spawn(async move {
                let ending = pool.send(timeout).await;
                let latency_us = due.elapsed().as_micros() as u64;
                drop(slot);
                let _ = events.send(Event::Done(Done {
                    due_ms,
                    latency_us,
                    ending,
                }));
            });
        };
        let take = |event: Event, ledger: &mut Ledger| match event {
            Event::Sent(due_ms) => ledger.sent(due_ms),
            Event::Done(done) => ledger.finished(done),
        };
        loop {
            tokio::select! {
                _ = cancel.changed() => {}
                _ = ticker.tick() => {
                    // What was sent and answered since the last tick, in
                    // the order each task said it.
                    while let Ok(event) = events.try_recv() {
                        take(event, &mut ledger);
                    }
                    let now = Instant::now();
                    schedule.dialled(&self.dials, index, now);
                    while let Some(due) = schedule.due_by(now) {
                        send(due, &mut ledger);
                    }
                    ledger.close_ready(clock.ms(now), &self.cuts, &mut emit);
                }
            }
            if *cancel.borrow() {
                break;
            }
        }
        let stopped_ms = clock.ms(Instant::now());
        drop(events_tx);
        // What is in flight ends within its timeout; the workers stop once
        // their request is answered.
        let deadline = Instant::now() + self.timeout + Duration::from_millis(500);
        loop {
            while let Ok(event) = events.try_recv() {
                take(event, &mut ledger);
            }
            if ledger.in_flight.is_empty() && workers.is_empty() {
                break;
            }
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => take(event, &mut ledger),
                    None => break,
                },
                _ = workers.join_next(), if !workers.is_empty() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        // A closed loop's threads still out (past the deadline) end by
        // themselves once their request is answered or times out: the
        // cancel is set, and aborting a thread is not possible.
        drop(workers);
        ledger.close_all(stopped_ms, &self.cuts, &mut emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(due_ms: f64, ms: u64) -> Done {
        Done {
            due_ms,
            latency_us: ms * 1000,
            ending: Ending::Ok(200),
        }
    }

    /// How many requests fall due by `at` (all counted sent).
    fn due(schedule: &mut OpenSchedule, at: Instant) -> usize {
        std::iter::from_fn(|| schedule.due_by(at)).count()
    }

    #[test]
    fn a_dialled_rate_starts_its_own_schedule_and_the_probe_s_own_comes_back() {
        let start = Instant::now();
        let dials = RateDials::default();
        let rate = LoadRate::Constant(crate::gameday::units::RequestRate(10.0));
        let mut schedule = OpenSchedule::new(&rate, start, &dials);
        let s = Duration::from_secs;
        // 10/s: due at 0, 100ms, ..., 1s.
        assert_eq!(due(&mut schedule, start + s(1)), 11);
        // The run sets 100/s at 1s: 0, 10ms, ..., 100ms after it.
        dials.set(3, Some(100.0));
        schedule.dialled(&dials, 3, start + s(1));
        assert_eq!(
            due(&mut schedule, start + s(1) + Duration::from_millis(100)),
            11
        );
        // Another probe's dial does not move this one's schedule: due
        // still every 10ms from 1s, 90 more by 2s.
        dials.set(4, Some(1.0));
        schedule.dialled(&dials, 3, start + s(2));
        assert_eq!(due(&mut schedule, start + s(2)), 90);
        // Taken back: its own 10/s again, from where it was taken back.
        dials.set(3, None);
        schedule.dialled(&dials, 3, start + s(3));
        assert_eq!(due(&mut schedule, start + s(4)), 11);
        // `rate: max` is never dialled: nothing is due on the schedule.
        let mut max = OpenSchedule::new(&LoadRate::Max, start, &dials);
        dials.set(3, Some(100.0));
        max.dialled(&dials, 3, start);
        assert_eq!(due(&mut max, start + s(1)), 0);
    }

    #[test]
    fn intervals_follow_the_grid_and_the_cuts_and_wait_for_what_is_in_flight() {
        let cuts = WindowCuts::default();
        let mut ledger = Ledger::new(1000.0, 200.0);
        let out = std::cell::RefCell::new(Vec::new());
        let mut emit = |t: f64, tally: LoadTally| out.borrow_mut().push((t, tally));
        let spans = || -> Vec<(f64, f64, u64)> {
            out.borrow()
                .iter()
                .map(|(t, l)| (*t, l.span_ms, l.due))
                .collect()
        };
        for due in [300.0, 900.0, 1100.0, 1600.0] {
            ledger.sent(due);
        }
        ledger.finished(ok(300.0, 5));
        ledger.finished(ok(1100.0, 5));
        ledger.finished(ok(1600.0, 5));
        // 900 is still in flight: [200, 1000) waits for it.
        ledger.close_ready(5_000.0, &cuts, &mut emit);
        assert!(spans().is_empty());
        ledger.finished(ok(900.0, 3_000));
        cuts.cut(1_500.0);
        ledger.close_ready(1_600.0, &cuts, &mut emit);
        assert_eq!(spans().len(), 1, "[1000, 1500) is not past its grace yet");
        ledger.close_ready(1_800.0, &cuts, &mut emit);
        assert_eq!(spans(), [(200.0, 800.0, 2), (1000.0, 500.0, 1)]);
        ledger.close_all(2_300.0, &cuts, &mut emit);
        assert_eq!(
            spans(),
            [
                (200.0, 800.0, 2),
                (1000.0, 500.0, 1),
                (1500.0, 500.0, 1),
                (2000.0, 300.0, 0)
            ]
        );
        assert!(ledger.done.is_empty());
    }

    #[test]
    fn a_load_sample_says_its_figures() {
        let clock = Clock::start();
        let mut tally = LoadTally {
            span_ms: 1000.0,
            ..Default::default()
        };
        tally.add(&ok(0.0, 4));
        tally.add(&Done {
            due_ms: 1.0,
            latency_us: 0,
            ending: Ending::Limited,
        });
        let s = sample_of(0, &clock, 0.0, tally);
        assert!(!s.ok);
        assert_eq!(s.end_ms(), 1000.0);
        assert_eq!(s.status, Some(200));
        assert_eq!(s.error.as_deref(), Some("generator limit ×1"));
        assert_eq!(
            s.brief(),
            "1/s sent, 1 failed (generator limit ×1), p50 4ms p99 4ms"
        );
    }
}
