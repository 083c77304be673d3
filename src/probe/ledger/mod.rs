//! The ledger probe: did the store keep what it acknowledged? Each run
//! writes one unique, sequenced record through the store's own protocol
//! ([`postgres`], [`redis`], [`http`]) and notes how the write ended:
//! **acknowledged**, **failed** (refused, or never sent: no connection) or
//! **unknown** (timed out, or the connection lost after it was sent: it
//! may or may not be there, and is never counted as lost). After each
//! scenario's cooldown the dispatcher asks [`Ledger::audit`] to read every
//! write back; the [`LedgerAudit`] says which acknowledged writes are
//! missing (lost, each counted once, by the read back that found it),
//! which are there twice, which failed writes are there anyway, and the
//! RPO. [`Ledger::finish`] removes what the ledger wrote at the end of the
//! run (unless `keep`). The book of writes holds 16 bytes a write.

mod audit;
mod http;
mod postgres;
mod redis;

pub(crate) use audit::{LedgerAudit, runs_of};

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Clock, ProbeSample};
use crate::gameday::model::{LedgerProbe, LedgerStore};

/// How a write ended, as far as the ledger can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Still in flight.
    Pending,
    Acknowledged,
    Failed,
    Unknown,
}

/// One write: when it was sent (since the start of the run), how long
/// until its outcome was known, and the outcome. Its sequence number is
/// its place in the book, from 1.
#[derive(Debug, Clone, Copy)]
struct Entry {
    t_ms: f64,
    latency_ms: f32,
    outcome: Outcome,
}

/// Why a write did not succeed: refused (not written) or unknown.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The store said no, or the write was never sent.
    Refused(String),
    /// Sent, and then no answer: it may be there.
    Unknown(String),
}

/// What a read back found: per sequence number, how often it is there
/// (absent ones are not listed), and those that could not be read.
#[derive(Debug, Default)]
pub(crate) struct Found {
    counts: HashMap<u64, u32>,
    unreadable: HashSet<u64>,
}

/// The store a ledger writes to, connected lazily and again after a loss.
enum Store {
    Postgres(postgres::Pg),
    Redis(redis::Rds),
    Http(http::Api),
}

/// Writes, their outcomes, and what earlier read backs already found.
#[derive(Default)]
struct Book {
    entries: Vec<Entry>,
    /// Acknowledged writes found missing by an earlier read back.
    missing: HashSet<u64>,
    /// Writes found more than once by an earlier read back.
    doubled: HashSet<u64>,
}

/// One ledger probe's writes and its store, shared by the probe's task
/// (writes) and the dispatcher (read backs, the end).
pub(crate) struct Ledger {
    name: String,
    store: Store,
    keep: bool,
    book: Mutex<Book>,
}

/// How long a read back may keep trying (a store just restarted may still
/// be recovering), and how long one try may take.
const AUDIT_WITHIN: Duration = Duration::from_secs(30);
const AUDIT_TRY: Duration = Duration::from_secs(10);

impl Ledger {
    /// The ledger of probe `index` (its place in the file) of run
    /// `run_id`: its records are `<run id>.<index>`'s, so two ledgers on
    /// one table, key or API never mix.
    pub(crate) fn new(
        name: &str,
        index: usize,
        spec: &LedgerProbe,
        run_id: &str,
        timeout: Duration,
    ) -> Ledger {
        let owner = format!("{run_id}.{index}");
        let store = match &spec.store {
            LedgerStore::Postgres(p) => {
                Store::Postgres(postgres::Pg::new(p, run_id, &owner, timeout))
            }
            LedgerStore::Redis(r) => Store::Redis(redis::Rds::new(r, &owner, spec.keep, timeout)),
            LedgerStore::Http(h) => Store::Http(http::Api::new(h, &owner, timeout)),
        };
        Ledger {
            name: name.to_string(),
            store,
            keep: spec.keep,
            book: Mutex::default(),
        }
    }

    /// The ledger probe's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn store_name(&self) -> &'static str {
        match self.store {
            Store::Postgres(_) => "postgres",
            Store::Redis(_) => "redis",
            Store::Http(_) => "http",
        }
    }

    /// One write, bounded by `timeout`, as a sample of probe `index`: ok
    /// when acknowledged.
    pub(crate) async fn write(&self, index: usize, clock: Clock, timeout: Duration) -> ProbeSample {
        let started = Instant::now();
        let t_ms = clock.ms(started);
        let seq = {
            let mut book = self.book();
            book.entries.push(Entry {
                t_ms,
                latency_ms: 0.0,
                outcome: Outcome::Pending,
            });
            book.entries.len() as u64
        };
        let sent = std::sync::atomic::AtomicBool::new(false);
        let result = tokio::time::timeout(timeout, async {
            match &self.store {
                Store::Postgres(pg) => pg.write(seq, &sent).await,
                Store::Redis(r) => r.write(seq, &sent).await,
                Store::Http(api) => api.write(seq, &sent).await,
            }
        })
        .await;
        let latency = started.elapsed();
        let (outcome, error) = match result {
            Ok(Ok(())) => (Outcome::Acknowledged, None),
            Ok(Err(WriteError::Refused(e))) => (Outcome::Failed, Some(format!("failed: {e}"))),
            Ok(Err(WriteError::Unknown(e))) => (
                Outcome::Unknown,
                Some(format!("unknown (sent, no answer): {e}")),
            ),
            Err(_) if sent.load(std::sync::atomic::Ordering::SeqCst) => (
                Outcome::Unknown,
                Some(format!(
                    "timeout after {}: unknown (sent, no answer)",
                    crate::gameday::units::HumanDuration(timeout)
                )),
            ),
            Err(_) => (
                Outcome::Failed,
                Some(format!(
                    "timeout after {} before the write was sent",
                    crate::gameday::units::HumanDuration(timeout)
                )),
            ),
        };
        if let Some(entry) = self.book().entries.get_mut(seq as usize - 1) {
            entry.latency_ms = latency.as_secs_f32() * 1000.0;
            entry.outcome = outcome;
        }
        ProbeSample {
            probe: index,
            t_ms,
            at: clock.wall(started),
            ok: outcome == Outcome::Acknowledged,
            latency_ms: latency.as_secs_f64() * 1000.0,
            error: error.as_deref().map(crate::redact::text),
            ..Default::default()
        }
    }

    /// Read every write whose outcome is known back, trying again for a
    /// while if the store does not answer yet.
    pub(crate) async fn audit(&self, clock: Clock) -> LedgerAudit {
        let started = Instant::now();
        let at_ms = clock.ms(started);
        // The writes known before the read back began.
        let known: Vec<(u64, Entry)> = self
            .book()
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, *e))
            .filter(|(_, e)| {
                e.outcome != Outcome::Pending && e.t_ms + f64::from(e.latency_ms) <= at_ms
            })
            .collect();
        let deadline = started + AUDIT_WITHIN;
        let mut last_error = String::new();
        let found = loop {
            let attempt = tokio::time::timeout(AUDIT_TRY, self.read_back(&known)).await;
            match attempt {
                Ok(Ok(found)) => break Some(found),
                Ok(Err(e)) => last_error = crate::redact::text(&e),
                Err(_) => {
                    last_error = format!(
                        "no answer within {}",
                        crate::gameday::units::HumanDuration(AUDIT_TRY)
                    );
                }
            }
            if Instant::now() + Duration::from_millis(500) >= deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let mut audit = LedgerAudit {
            probe: self.name.clone(),
            store: self.store_name().to_string(),
            at_ms,
            ..Default::default()
        };
        for (_, e) in &known {
            audit.written += 1;
            match e.outcome {
                Outcome::Acknowledged => audit.acknowledged += 1,
                Outcome::Failed => audit.failed += 1,
                Outcome::Unknown => audit.unknown += 1,
                Outcome::Pending => {}
            }
        }
        match found {
            Some(found) => {
                let tells = !matches!(self.store, Store::Http(_));
                self.judge(&known, &found, tells, &mut audit);
            }
            None => audit.error = Some(last_error),
        }
        audit.read_ms = started.elapsed().as_secs_f64() * 1000.0;
        audit
    }

    async fn read_back(&self, known: &[(u64, Entry)]) -> Result<Found, String> {
        match &self.store {
            Store::Postgres(pg) => pg.read_back().await,
            Store::Redis(r) => r.read_back().await,
            Store::Http(api) => {
                let seqs: Vec<u64> = known.iter().map(|(s, _)| *s).collect();
                api.read_back(&seqs).await
            }
        }
    }

    /// The audit's figures from what was found, each loss and duplicate
    /// counted by the first read back that saw it.
    fn judge(&self, known: &[(u64, Entry)], found: &Found, tells: bool, audit: &mut LedgerAudit) {
        let mut book = self.book();
        let mut lost: Vec<(u64, Entry)> = Vec::new();
        let mut duplicated = 0;
        for &(seq, e) in known {
            if found.unreadable.contains(&seq) {
                audit.unreadable += 1;
                continue;
            }
            let count = found.counts.get(&seq).copied().unwrap_or(0);
            match e.outcome {
                Outcome::Acknowledged if count == 0 => {
                    if book.missing.insert(seq) {
                        lost.push((seq, e));
                    } else {
                        audit.lost_earlier += 1;
                    }
                }
                Outcome::Failed if count > 0 => audit.failed_present += 1,
                Outcome::Unknown if count > 0 => audit.unknown_present += 1,
                Outcome::Acknowledged | Outcome::Failed | Outcome::Unknown | Outcome::Pending => {}
            }
            if count > 1 && book.doubled.insert(seq) {
                duplicated += 1;
            }
        }
        audit.duplicated = tells.then_some(duplicated);
        audit.lost = lost.len() as u64;
        audit.lost_seqs = runs_of(lost.iter().map(|(s, _)| *s));
        if let (Some((_, first)), Some((_, last))) = (lost.first(), lost.last()) {
            let acked = lost
                .iter()
                .map(|(_, e)| e.t_ms + f64::from(e.latency_ms))
                .fold(0.0, f64::max);
            audit.rpo_ms = (acked - first.t_ms).max(0.0);
            audit.lost_between_ms = Some((first.t_ms, last.t_ms));
        }
    }

    /// The end of the run: remove what this ledger wrote, unless `keep`.
    /// Returns a line for the timeline.
    pub(crate) async fn finish(&self) -> String {
        if self.keep {
            return format!("ledger {}: its records are kept (keep: true)", self.name);
        }
        let done = tokio::time::timeout(AUDIT_TRY, async {
            match &self.store {
                Store::Postgres(pg) => pg.remove().await,
                Store::Redis(r) => r.remove().await,
                Store::Http(_) => Ok("its records stay in the service".to_string()),
            }
        })
        .await;
        match done {
            Ok(Ok(what)) => format!("ledger {}: {what}", self.name),
            Ok(Err(e)) => format!(
                "ledger {}: could not remove its records: {}",
                self.name,
                crate::redact::text(&e)
            ),
            Err(_) => format!(
                "ledger {}: could not remove its records: no answer within {}",
                self.name,
                crate::gameday::units::HumanDuration(AUDIT_TRY)
            ),
        }
    }
}

/// The run's ledgers, for the dispatcher: read back together after each
/// scenario, cleaned up at the end.
#[derive(Default)]
pub(crate) struct Ledgers {
    pub(crate) list: Vec<std::sync::Arc<Ledger>>,
}

impl Ledgers {
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every ledger read back, at once.
    pub(crate) async fn audit(&self, clock: Clock) -> Vec<LedgerAudit> {
        futures_util::future::join_all(self.list.iter().map(|l| l.audit(clock))).await
    }

    /// Every ledger's records removed (unless kept): a line for each.
    pub(crate) async fn finish(&self) -> Vec<String> {
        futures_util::future::join_all(self.list.iter().map(|l| l.finish())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t_ms: f64, outcome: Outcome) -> Entry {
        Entry {
            t_ms,
            latency_ms: 5.0,
            outcome,
        }
    }

    fn ledger() -> Ledger {
        let spec = LedgerProbe {
            store: LedgerStore::Redis(crate::gameday::model::RedisLedger {
                url: "redis://127.0.0.1:1".into(),
                key: "k".into(),
            }),
            keep: false,
        };
        Ledger::new("orders", 0, &spec, "abc", Duration::from_secs(1))
    }

    #[test]
    fn lost_is_acknowledged_and_missing_counted_once_unknown_never() {
        let l = ledger();
        let known = vec![
            (1, entry(0.0, Outcome::Acknowledged)),
            (2, entry(50.0, Outcome::Acknowledged)),
            (3, entry(100.0, Outcome::Acknowledged)),
            (4, entry(150.0, Outcome::Unknown)),
            (5, entry(200.0, Outcome::Failed)),
            (6, entry(250.0, Outcome::Acknowledged)),
        ];
        let found = Found {
            counts: HashMap::from([(1, 1), (5, 1), (6, 2)]),
            unreadable: HashSet::new(),
        };
        let mut audit = LedgerAudit::default();
        l.judge(&known, &found, true, &mut audit);
        assert_eq!(audit.lost, 2);
        assert_eq!(audit.lost_seqs, [[2, 3]]);
        // From the first lost one sent (50) to the last acknowledged (105).
        assert_eq!(audit.rpo_ms, 55.0);
        assert_eq!(audit.failed_present, 1);
        assert_eq!(audit.unknown_present, 0);
        assert_eq!(audit.duplicated, Some(1));
        // A second read back finds the same ones missing: lost earlier.
        let mut again = LedgerAudit::default();
        l.judge(&known, &found, true, &mut again);
        assert_eq!((again.lost, again.lost_earlier), (0, 2));
        assert_eq!(again.duplicated, Some(0));
        assert_eq!(again.rpo_ms, 0.0);
    }
}
