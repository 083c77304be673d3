//! What a load probe keeps of one interval: the requests that were due in
//! it, counted by outcome, by status and by failure reason, and their
//! latencies (from when each was due) in a [`LatencyHistogram`]. Tallies
//! merge exactly, so a window's figures are the sum of its intervals'.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::LatencyHistogram;

/// The failure reason of a request that was due but never sent because
/// every connection was busy: the generator, not the service, was the limit.
pub(crate) const GENERATOR_LIMIT: &str = "generator limit";

/// One interval of a load probe (one line of `samples.jsonl`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadTally {
    /// The interval's length: it covers `[t_ms, t_ms + span_ms)` by due time.
    pub span_ms: f64,
    /// Requests due in the interval.
    pub due: u64,
    /// Of them, answered as expected.
    pub ok: u64,
    /// Of them, not sent: every connection was busy (counted as failed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limited: u64,
    /// Responses by HTTP status, expected or not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub statuses: BTreeMap<u16, u64>,
    /// Failed requests by reason: an unexpected status (`503`), `timeout`,
    /// `connection refused`, `generator limit`, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, u64>,
    /// Latency of every request sent, from when it was due.
    pub latency: LatencyHistogram,
    /// When the interval's first success was known (ms since the run's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ok_at: Option<f64>,
    /// When its first failure was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure_at: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl LoadTally {
    pub fn failed(&self) -> u64 {
        self.due - self.ok
    }

    /// Requests actually sent.
    pub fn sent(&self) -> u64 {
        self.due - self.limited
    }

    /// Add `other` (another interval) to this one.
    pub fn merge(&mut self, other: &LoadTally) {
        self.span_ms += other.span_ms;
        self.due += other.due;
        self.ok += other.ok;
        self.limited += other.limited;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (reason, n) in &other.failures {
            *self.failures.entry(reason.clone()).or_default() += n;
        }
        self.latency.merge(&other.latency);
        let earliest = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.first_ok_at = earliest(self.first_ok_at, other.first_ok_at);
        self.first_failure_at = earliest(self.first_failure_at, other.first_failure_at);
    }

    /// Failures by reason, most frequent first: `503 ×28, timeout ×3`.
    pub fn failures_text(&self) -> String {
        let mut list: Vec<(&String, &u64)> = self.failures.iter().collect();
        list.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        list.iter()
            .map(|(reason, n)| format!("{reason} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Failed requests that got an HTTP answer, by status (`errors_by_status`).
    pub fn errors_by_status(&self) -> BTreeMap<u16, u64> {
        self.failures
            .iter()
            .filter_map(|(reason, n)| reason.parse::<u16>().ok().map(|s| (s, *n)))
            .collect()
    }

    /// `200/s sent, 12 failed (503 ×12), p50 3ms p99 12ms`.
    pub fn brief(&self) -> String {
        let per_s = if self.span_ms > 0.0 {
            self.sent() as f64 * 1000.0 / self.span_ms
        } else {
            0.0
        };
        let mut text = format!("{per_s:.0}/s sent");
        if self.failed() > 0 {
            text.push_str(&format!(
                ", {} failed ({})",
                self.failed(),
                self.failures_text()
            ));
        }
        if let (Some(p50), Some(p99)) = (
            self.latency.percentile_ms(50.0),
            self.latency.percentile_ms(99.0),
        ) {
            text.push_str(&format!(
                ", p50 {} p99 {}",
                crate::gameday::units::fmt_ms(p50),
                crate::gameday::units::fmt_ms(p99)
            ));
        }
        text
    }
}

/// How one due request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Answered with an expected status.
    Ok(u16),
    /// Answered with another status.
    Status(u16),
    Timeout,
    Refused,
    /// The connection failed or closed mid-request.
    Broken,
    /// Not sent: every connection was busy.
    Limited,
}

impl Ending {
    fn reason(self) -> Option<String> {
        match self {
            Ending::Ok(_) => None,
            Ending::Status(s) => Some(s.to_string()),
            Ending::Timeout => Some("timeout".into()),
            Ending::Refused => Some("connection refused".into()),
            Ending::Broken => Some("connection broken".into()),
            Ending::Limited => Some(GENERATOR_LIMIT.into()),
        }
    }
}

/// One due request's result, as the generator holds it until its
/// interval closes: when it was due and how long it took from then (µs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub due_ms: f64,
    pub latency_us: u64,
    pub ending: Ending,
}

impl LoadTally {
    /// Count one request in.
    pub(crate) fn add(&mut self, done: &Done) {
        self.due += 1;
        let known = done.due_ms + done.latency_us as f64 / 1000.0;
        match done.ending {
            Ending::Ok(status) => {
                self.ok += 1;
                *self.statuses.entry(status).or_default() += 1;
                if self.first_ok_at.is_none_or(|t| known < t) {
                    self.first_ok_at = Some(known);
                }
            }
            Ending::Status(status) => {
                *self.statuses.entry(status).or_default() += 1;
            }
            Ending::Limited => self.limited += 1,
            Ending::Timeout | Ending::Refused | Ending::Broken => {}
        }
        if let Some(reason) = done.ending.reason() {
            *self.failures.entry(reason).or_default() += 1;
            if self.first_failure_at.is_none_or(|t| known < t) {
                self.first_failure_at = Some(known);
            }
        }
        if done.ending != Ending::Limited {
            self.latency.record_us(done.latency_us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(due_ms: f64, ms: u64, ending: Ending) -> Done {
        Done {
            due_ms,
            latency_us: ms * 1000,
            ending,
        }
    }

    #[test]
    fn a_tally_counts_by_outcome_status_and_reason_and_merges() {
        let mut a = LoadTally {
            span_ms: 1000.0,
            ..Default::default()
        };
        a.add(&done(0.0, 5, Ending::Ok(200)));
        a.add(&done(10.0, 900, Ending::Status(503)));
        a.add(&done(20.0, 0, Ending::Limited));
        let mut b = LoadTally {
            span_ms: 500.0,
            ..Default::default()
        };
        b.add(&done(1000.0, 2000, Ending::Timeout));
        b.add(&done(1001.0, 3, Ending::Ok(200)));
        a.merge(&b);
        assert_eq!(
            (a.due, a.ok, a.failed(), a.limited, a.sent()),
            (5, 2, 3, 1, 4)
        );
        assert_eq!(a.span_ms, 1500.0);
        assert_eq!(a.statuses, BTreeMap::from([(200, 2), (503, 1)]));
        assert_eq!(a.errors_by_status(), BTreeMap::from([(503, 1)]));
        assert_eq!(a.failures_text(), "503 ×1, generator limit ×1, timeout ×1");
        assert_eq!(a.latency.count(), 4, "a request never sent has no latency");
        assert_eq!(a.first_ok_at, Some(5.0));
        assert_eq!(a.first_failure_at, Some(20.0));
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<LoadTally>(&text).unwrap(), a);
    }
}
