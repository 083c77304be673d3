//! Flapping probes in timelines. A probe that changes state again and
//! again (a partition that drops some packets, a service restarting in a
//! loop) would fill a timeline with thousands of lines nobody reads. Per
//! probe, a dense run of changes keeps its first failure, its first
//! recovery and its last change, and the rest becomes one line: "login
//! flapped 409 times between +26.1s and +63.9s: 880 failed samples (most
//! often: timeout after 2s)". The journal keeps every change. Pure.

use std::collections::BTreeMap;

use crate::probe::ProbeSample;

/// Changes of one probe closer than this belong to one run.
pub(crate) const FLAP_GAP_MS: f64 = 5000.0;
/// A run with fewer changes than this is shown in full.
pub(crate) const FLAP_MIN_CHANGES: usize = 6;

/// One state change of a probe.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change<'a> {
    pub t_ms: f64,
    pub probe: &'a str,
}

/// The changes folded into one line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Flap<'a> {
    pub probe: &'a str,
    pub from_ms: f64,
    pub to_ms: f64,
    /// How many changes the line stands for.
    pub changes: usize,
}

/// Which changes stay (by index) and the flaps that stand for the others.
pub(crate) fn collapse<'a>(changes: &[Change<'a>]) -> (Vec<bool>, Vec<Flap<'a>>) {
    let mut keep = vec![true; changes.len()];
    let mut flaps = Vec::new();
    let mut by_probe: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        by_probe.entry(c.probe).or_default().push(i);
    }
    for (probe, mut indices) in by_probe {
        indices.sort_by(|a, b| changes[*a].t_ms.total_cmp(&changes[*b].t_ms));
        let mut runs: Vec<Vec<usize>> = Vec::new();
        for i in indices {
            match runs.last_mut() {
                Some(run)
                    if changes[i].t_ms - changes[*run.last().unwrap_or(&i)].t_ms < FLAP_GAP_MS =>
                {
                    run.push(i)
                }
                _ => runs.push(vec![i]),
            }
        }
        for run in runs.into_iter().filter(|r| r.len() >= FLAP_MIN_CHANGES) {
            // First failure, first recovery, and where it ended stay.
            let middle = &run[2..run.len() - 1];
            for i in middle {
                keep[*i] = false;
            }
            flaps.push(Flap {
                probe,
                from_ms: changes[middle[0]].t_ms,
                to_ms: changes[middle[middle.len() - 1]].t_ms,
                changes: middle.len(),
            });
        }
    }
    flaps.sort_by(|a, b| a.from_ms.total_cmp(&b.from_ms));
    (keep, flaps)
}

/// Which flap covers a probe's sample, found by a binary search among that
/// probe's flaps (they never overlap): a pass over millions of samples
/// does not visit every flap for each.
pub(crate) struct FlapIndex<'a> {
    by_probe: BTreeMap<&'a str, Vec<(f64, f64, usize)>>,
}

impl<'a> FlapIndex<'a> {
    pub(crate) fn new(flaps: &[Flap<'a>]) -> Self {
        let mut by_probe: BTreeMap<&'a str, Vec<(f64, f64, usize)>> = BTreeMap::new();
        for (i, f) in flaps.iter().enumerate() {
            by_probe
                .entry(f.probe)
                .or_default()
                .push((f.from_ms, f.to_ms, i));
        }
        for spans in by_probe.values_mut() {
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        FlapIndex { by_probe }
    }

    /// The flap (its place in the list given to `new`) of `probe` whose
    /// span holds `t_ms`.
    pub(crate) fn covering(&self, probe: &str, t_ms: f64) -> Option<usize> {
        let spans = self.by_probe.get(probe)?;
        let after = spans.partition_point(|(from, _, _)| *from <= t_ms);
        let (_, to, i) = *spans.get(after.checked_sub(1)?)?;
        (t_ms <= to).then_some(i)
    }
}

/// A flap's failed samples and their reasons, counted in one pass over
/// the probe's samples ([`FlapCount::push`]), then put in words.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlapCount {
    failed: usize,
    reasons: BTreeMap<String, usize>,
}

impl FlapCount {
    /// Count a sample of the flap's probe if it failed within the flap.
    pub(crate) fn push(&mut self, flap: &Flap<'_>, s: &ProbeSample) {
        if !s.ok && s.t_ms >= flap.from_ms && s.t_ms <= flap.to_ms {
            self.failed += 1;
            *self.reasons.entry(s.brief()).or_default() += 1;
        }
    }

    /// `probe login flapped 409 times between +26.1s and +63.9s: 880
    /// failed samples (most often: timeout after 2s)`.
    pub(crate) fn describe(self, flap: &Flap<'_>) -> String {
        let failed = self.failed;
        let most = self
            .reasons
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(reason, _)| format!(" (most often: {reason})"))
            .unwrap_or_default();
        format!(
            "probe {} flapped {} times between +{:.1}s and +{:.1}s: {failed} failed sample{}{most}",
            flap.probe,
            flap.changes,
            flap.from_ms / 1000.0,
            flap.to_ms / 1000.0,
            if failed == 1 { "" } else { "s" }
        )
    }
}

/// The flap in words, from the probe's samples.
#[cfg(test)]
pub(crate) fn describe(flap: &Flap<'_>, samples: &[&ProbeSample]) -> String {
    let mut count = FlapCount::default();
    samples.iter().for_each(|s| count.push(flap, s));
    count.describe(flap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes<'a>(probe: &'a str, times: &[f64]) -> Vec<Change<'a>> {
        times.iter().map(|t| Change { t_ms: *t, probe }).collect()
    }

    #[test]
    fn a_dense_run_keeps_its_first_failure_recovery_and_end() {
        // login changes 10 times a second apart; health twice.
        let mut all = changes(
            "login",
            &(0..10).map(|i| 1000.0 * f64::from(i)).collect::<Vec<_>>(),
        );
        all.extend(changes("health", &[500.0, 1500.0]));
        let (keep, flaps) = collapse(&all);
        let kept: Vec<f64> = all
            .iter()
            .zip(&keep)
            .filter(|(c, k)| **k && c.probe == "login")
            .map(|(c, _)| c.t_ms)
            .collect();
        assert_eq!(kept, vec![0.0, 1000.0, 9000.0]);
        assert!(keep[10] && keep[11], "health's two changes stay");
        assert_eq!(
            flaps,
            vec![Flap {
                probe: "login",
                from_ms: 2000.0,
                to_ms: 8000.0,
                changes: 7
            }]
        );
    }

    #[test]
    fn sparse_or_short_runs_stay_as_they_are() {
        // Far apart: no run; close but few: shown in full.
        let sparse = changes(
            "a",
            &[
                0.0, 6000.0, 12_000.0, 18_000.0, 24_000.0, 30_000.0, 36_000.0,
            ],
        );
        let short = changes("b", &[0.0, 100.0, 200.0, 300.0, 400.0]);
        for list in [sparse, short] {
            let (keep, flaps) = collapse(&list);
            assert!(keep.iter().all(|k| *k));
            assert!(flaps.is_empty());
        }
    }

    #[test]
    fn the_index_finds_the_flap_that_covers_a_sample() {
        let flap = |probe, from_ms, to_ms| Flap {
            probe,
            from_ms,
            to_ms,
            changes: 10,
        };
        let flaps = [
            flap("login", 5_000.0, 9_000.0),
            flap("health", 1_000.0, 2_000.0),
            flap("login", 20_000.0, 30_000.0),
        ];
        let index = FlapIndex::new(&flaps);
        assert_eq!(index.covering("login", 5_000.0), Some(0));
        assert_eq!(index.covering("login", 9_000.0), Some(0));
        assert_eq!(index.covering("login", 12_000.0), None);
        assert_eq!(index.covering("login", 25_000.0), Some(2));
        assert_eq!(index.covering("login", 4_999.0), None);
        assert_eq!(index.covering("health", 1_500.0), Some(1));
        assert_eq!(index.covering("db", 1_500.0), None);
    }

    #[test]
    fn a_flap_is_described_from_its_samples() {
        let sample = |t_ms: f64, ok: bool, error: Option<&str>| ProbeSample {
            probe: 0,
            t_ms,
            at: chrono::DateTime::UNIX_EPOCH,
            ok,
            latency_ms: 2000.0,
            status: None,
            state: None,
            error: error.map(String::from),
            ..Default::default()
        };
        let samples = [
            sample(26_100.0, false, Some("timeout after 2s")),
            sample(30_000.0, true, None),
            sample(40_000.0, false, Some("timeout after 2s")),
            sample(50_000.0, false, Some("connection refused")),
            sample(70_000.0, false, Some("connection refused")),
        ];
        let refs: Vec<&ProbeSample> = samples.iter().collect();
        let flap = Flap {
            probe: "login",
            from_ms: 26_100.0,
            to_ms: 63_900.0,
            changes: 409,
        };
        assert_eq!(
            describe(&flap, &refs),
            "probe login flapped 409 times between +26.1s and +63.9s: 3 failed samples (most often: timeout after 2s)"
        );
    }
}
