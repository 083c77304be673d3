//! Which version of a service answered when: the changes an http probe
//! with `version:` saw, for deploy and rollback gamedays ("version 2 from
//! +12.4s, version 1 again from +41.0s"). [`VersionTrack`] folds a probe's
//! samples as the results were known; a sample without a version (a
//! failed request, a body without it) neither starts nor ends one. What it
//! keeps is the changes, never the samples, and at most [`MAX_LISTED`] of
//! them: versions answering in turn (a load balancer over both) are
//! counted past that, and the last change is kept. Pure.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::result::TimelineEntry;
use crate::probe::ProbeSample;

/// The changes listed per probe; the others are counted.
pub(crate) const MAX_LISTED: usize = 50;
/// The distinct versions remembered to say "again" (a version read from a
/// field that is no version could be new in every answer).
const MAX_REMEMBERED: usize = 256;

/// The versions one probe saw answer over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionsServed {
    /// The first version that answered, then each other version that took
    /// over, in the order the answers were known (at most 50).
    pub changes: Vec<VersionChange>,
    /// Changes after the listed ones, counted, not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted: u64,
    /// With changes unlisted: the last one, the version answering at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<VersionChange>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A version answering from a moment on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionChange {
    pub version: String,
    /// When its first answer was known, since the start of the run.
    pub t_ms: f64,
    /// `+12.4s`
    pub offset: String,
    /// When its first answer was known, wall clock.
    pub at: DateTime<Utc>,
    /// It had answered before in this run (a rollback, a mix).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
}

impl VersionChange {
    /// The timeline's line: `probe api: version 2 answers (again)`.
    pub fn line(&self, probe: &str) -> String {
        let again = if self.again { " again" } else { "" };
        format!("probe {probe}: version {} answers{again}", self.version)
    }
}

impl VersionsServed {
    /// A line a change for the timelines, each with its change: one a
    /// listed change, and one for the changes not listed, at the last.
    pub fn lines<'a>(
        &'a self,
        probe: &'a str,
    ) -> impl Iterator<Item = (&'a VersionChange, String)> + 'a {
        let listed = self.changes.iter().map(move |c| (c, c.line(probe)));
        let unlisted = self.last.iter().map(move |last| {
            let text = format!(
                "probe {probe}: {} more version changes (not listed), the last to version {}",
                self.unlisted, last.version
            );
            (last, text)
        });
        listed.chain(unlisted)
    }

    /// The run's timeline entries of these changes.
    pub fn timeline(&self, probe: &str) -> Vec<TimelineEntry> {
        self.lines(probe)
            .map(|(c, text)| TimelineEntry {
                t_ms: c.t_ms,
                offset: c.offset.clone(),
                text,
            })
            .collect()
    }
}

/// One probe's versions being folded, sample by sample.
#[derive(Debug, Default)]
pub(crate) struct VersionTrack {
    served: VersionsServed,
    current: Option<String>,
    seen: BTreeSet<String>,
}

impl VersionTrack {
    /// A sample of the probe, in the order results were known.
    pub(crate) fn push(&mut self, sample: &ProbeSample) {
        let Some(version) = &sample.version else {
            return;
        };
        if self.current.as_ref() == Some(version) {
            return;
        }
        let t_ms = sample.end_ms();
        let change = VersionChange {
            version: version.clone(),
            t_ms,
            offset: format!("+{:.1}s", t_ms / 1000.0),
            at: sample.at
                + chrono::Duration::microseconds((sample.latency_ms * 1000.0).round() as i64),
            again: self.seen.contains(version),
        };
        if self.seen.len() < MAX_REMEMBERED {
            self.seen.insert(version.clone());
        }
        self.current = Some(version.clone());
        if self.served.changes.len() < MAX_LISTED {
            self.served.changes.push(change);
        } else {
            self.served.unlisted += 1;
            self.served.last = Some(change);
        }
    }

    pub(crate) fn finish(self) -> VersionsServed {
        self.served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: f64, ok: bool, version: Option<&str>) -> ProbeSample {
        ProbeSample {
            t_ms,
            at: DateTime::UNIX_EPOCH + chrono::Duration::milliseconds(t_ms as i64),
            ok,
            latency_ms: 4.0,
            version: version.map(String::from),
            ..Default::default()
        }
    }

    fn listed(served: &VersionsServed) -> Vec<(&str, f64, bool)> {
        served
            .changes
            .iter()
            .map(|c| (c.version.as_str(), c.t_ms, c.again))
            .collect()
    }

    #[test]
    fn a_change_is_recorded_when_another_version_answers_and_failures_end_none() {
        let mut track = VersionTrack::default();
        let samples = [
            sample(0.0, true, Some("1")),
            sample(250.0, true, Some("1")),
            // The deploy: failures and a body without the field.
            sample(500.0, false, None),
            sample(750.0, true, None),
            sample(1000.0, true, Some("1")),
            sample(1250.0, true, Some("2")),
            sample(1500.0, false, Some("2")),
            sample(1750.0, true, Some("1")),
        ];
        samples.iter().for_each(|s| track.push(s));
        let served = track.finish();
        assert_eq!(
            listed(&served),
            vec![("1", 4.0, false), ("2", 1254.0, false), ("1", 1754.0, true)]
        );
        assert_eq!(served.changes[1].offset, "+1.3s");
        assert_eq!(
            served.changes[1].at,
            DateTime::UNIX_EPOCH + chrono::Duration::milliseconds(1254)
        );
        assert_eq!((served.unlisted, served.last.as_ref()), (0, None));
        let lines: Vec<String> = served.timeline("api").into_iter().map(|t| t.text).collect();
        assert_eq!(
            lines,
            [
                "probe api: version 1 answers",
                "probe api: version 2 answers",
                "probe api: version 1 answers again"
            ]
        );
    }

    #[test]
    fn versions_answering_in_turn_keep_the_list_bounded_and_the_last_change() {
        let mut track = VersionTrack::default();
        for n in 0..10_000 {
            let version = if n % 2 == 0 { "blue" } else { "green" };
            track.push(&sample(f64::from(n) * 10.0, true, Some(version)));
        }
        let served = track.finish();
        assert_eq!(served.changes.len(), MAX_LISTED);
        assert_eq!(served.unlisted, 10_000 - MAX_LISTED as u64);
        let last = served.last.as_ref().unwrap();
        assert_eq!((last.version.as_str(), last.t_ms), ("green", 99_994.0));
        let lines = served.timeline("web");
        assert_eq!(lines.len(), MAX_LISTED + 1);
        assert_eq!(
            lines[MAX_LISTED].text,
            "probe web: 9950 more version changes (not listed), the last to version green"
        );
    }

    #[test]
    fn a_probe_that_never_read_a_version_has_no_changes() {
        let mut track = VersionTrack::default();
        track.push(&sample(0.0, false, None));
        assert_eq!(track.finish(), VersionsServed::default());
    }
}
