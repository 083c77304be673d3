//! What a ledger probe found when it read its writes back after a
//! scenario's cooldown ([`LedgerAudit`]): kept in `result.json` with its
//! scenario (`record` stores it), judged by the `lost`, `duplicated` and `rpo` checks, and said
//! in the reports.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many lost or duplicated writes an audit names by number.
pub(crate) const NAMED: usize = 20;

/// One read back of a ledger: every write whose outcome was known when it
/// began, counted by outcome, and what the store holds of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerAudit {
    /// The ledger probe.
    pub probe: String,
    /// The store, `postgres`, `redis` or `http`.
    pub store: String,
    /// When the read back began, since the start of the run.
    pub at_ms: f64,
    /// How long it took.
    pub read_ms: f64,
    /// Writes with a known outcome, since the run began.
    pub written: u64,
    /// Acknowledged by the store.
    pub acknowledged: u64,
    /// Refused (an error answer, or never sent: no connection).
    pub failed: u64,
    /// Unknown: timed out, or the connection was lost after the write was
    /// sent. Never counted as lost, whatever the store holds.
    pub unknown: u64,
    /// Acknowledged writes missing, found by this read back (not by an
    /// earlier one).
    pub lost: u64,
    /// Acknowledged writes an earlier read back already found missing.
    #[serde(default)]
    pub lost_earlier: u64,
    /// The lost writes' sequence numbers, as runs `[first, last]` (the
    /// first [`NAMED`] runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_seqs: Vec<[u64; 2]>,
    /// From the first lost write sent to the last one acknowledged (0
    /// with none lost).
    pub rpo_ms: f64,
    /// When the lost writes were sent: the first and the last, since the
    /// start of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_between_ms: Option<(f64, f64)>,
    /// Writes read back more than once, found by this read back (`None`:
    /// the store cannot tell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicated: Option<u64>,
    /// Refused writes that are there anyway.
    pub failed_present: u64,
    /// Writes of unknown outcome that are there.
    pub unknown_present: u64,
    /// Records whose read answered neither present nor absent (an http
    /// ledger's 5xx, say): not counted as lost.
    #[serde(default)]
    pub unreadable: u64,
    /// The read back failed: nothing above but the write counts is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LedgerAudit {
    /// One line for the timeline and the reports: `read back 812 writes
    /// (800 acknowledged): 3 lost (seq 400-402), RPO 150ms; 12 failed, 2
    /// there anyway; 4 unknown, 1 there`.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!(
                "could not read back {} writes ({} acknowledged): {e}",
                self.written, self.acknowledged
            );
        }
        let mut text = format!(
            "read back {} writes ({} acknowledged) in {}: ",
            self.written,
            self.acknowledged,
            crate::gameday::units::fmt_ms(self.read_ms)
        );
        if self.lost == 0 {
            text.push_str("none lost");
        } else {
            text.push_str(&format!(
                "{} lost ({}), RPO {}",
                self.lost,
                seqs_text(&self.lost_seqs, self.lost),
                crate::gameday::units::fmt_ms(self.rpo_ms)
            ));
        }
        if self.lost_earlier > 0 {
            text.push_str(&format!(" ({} lost earlier)", self.lost_earlier));
        }
        match self.duplicated {
            Some(0) | None => {}
            Some(d) => text.push_str(&format!("; {d} duplicated")),
        }
        if self.failed > 0 {
            text.push_str(&format!(
                "; {} failed, {} there anyway",
                self.failed, self.failed_present
            ));
        }
        if self.unknown > 0 {
            text.push_str(&format!(
                "; {} unknown, {} there",
                self.unknown, self.unknown_present
            ));
        }
        if self.unreadable > 0 {
            text.push_str(&format!("; {} unreadable", self.unreadable));
        }
        text
    }
}

/// Sequence numbers (ascending) as runs `[first, last]`, the first
/// [`NAMED`] of them.
pub(crate) fn runs_of(seqs: impl IntoIterator<Item = u64>) -> Vec<[u64; 2]> {
    let mut runs: Vec<[u64; 2]> = Vec::new();
    for seq in seqs {
        if let Some(run) = runs.last_mut()
            && run[1] + 1 == seq
        {
            run[1] = seq;
        } else if runs.len() == NAMED {
            break;
        } else {
            runs.push([seq, seq]);
        }
    }
    runs
}

/// `seq 400-402`, `seq 3, 9-12 and 5 more`.
fn seqs_text(runs: &[[u64; 2]], total: u64) -> String {
    let shown: Vec<String> = runs
        .iter()
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let named: u64 = runs.iter().map(|[a, b]| b - a + 1).sum();
    let more = total.saturating_sub(named);
    if more > 0 {
        format!("seq {} and {more} more", shown.join(", "))
    } else {
        format!("seq {}", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_says_what_was_lost_and_what_is_unknown() {
        let audit = LedgerAudit {
            probe: "orders".into(),
            store: "postgres".into(),
            written: 812,
            acknowledged: 790,
            failed: 12,
            unknown: 10,
            lost: 3,
            lost_seqs: runs_of([400, 401, 402]),
            rpo_ms: 150.0,
            read_ms: 14.0,
            failed_present: 0,
            unknown_present: 4,
            duplicated: Some(0),
            ..Default::default()
        };
        assert_eq!(
            audit.summary(),
            "read back 812 writes (790 acknowledged) in 14ms: 3 lost (seq 400-402), RPO 150ms; 12 failed, 0 there anyway; 10 unknown, 4 there"
        );
        assert_eq!(
            seqs_text(&runs_of([3, 9, 10, 11, 12]), 10),
            "seq 3, 9-12 and 5 more"
        );
    }
}
