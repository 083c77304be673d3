//! Expectations evaluated over the windows of a scenario: pure functions from
//! samples to a verdict that says what was expected and what was measured
//! ("success_rate >= 99%: measured 97.2% (95 of 98 samples ok)").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gameday::model::{Check, Expectation, Window};
use crate::gameday::units::{ByteSize, CmpOp, Comparison, CpuPercent, HumanDuration};
use crate::probe::ProbeSample;

/// The moments of one scenario, in ms since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Windows {
    /// The baseline of the run: [start, end).
    pub baseline: (f64, f64),
    /// When the first fault was requested.
    pub apply_start: f64,
    /// Every fault applied: the fault window starts.
    pub fault_start: f64,
    /// The first revert was requested: the fault window ends.
    pub revert_start: f64,
    /// End of the cooldown.
    pub end: f64,
    /// When nothing was left for gameday to revert (a swarm task killed,
    /// `restore: false`), the system heals on its own from the moment the
    /// faults were in place: `recovers_within` counts from here instead of
    /// from the revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_healing_from: Option<f64>,
}

impl Windows {
    pub fn range(&self, window: Window) -> (f64, f64) {
        match window {
            Window::Before => self.baseline,
            Window::Fault => (self.fault_start, self.revert_start),
            Window::After => (self.revert_start, self.end),
        }
    }
}

/// Whether one expectation held (`met`, `not_met` in `result.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    NotMet,
}

impl Verdict {
    /// As `result.json` writes it: `met`, `not_met`.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "not_met",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub verdict: Verdict,
    /// What was measured, in words.
    pub actual: String,
    /// The measured number, for tools comparing runs (%, ms, or count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

fn verdict(met: bool) -> Verdict {
    if met { Verdict::Met } else { Verdict::NotMet }
}

/// `230ms`, `1.52s`, `2m30s` (see [`crate::gameday::units::fmt_ms`]).
pub(crate) use crate::gameday::units::fmt_ms;

fn fmt_pct(p: f64) -> String {
    let t = format!("{p:.1}");
    format!("{}%", t.trim_end_matches(".0"))
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// "503 ×28, 200 ×2, no response ×1", most frequent first.
fn tally(counts: BTreeMap<String, usize>) -> String {
    let mut list: Vec<(String, usize)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list.iter()
        .map(|(v, n)| format!("{v} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a sample ran entirely inside a window: a request in flight when
/// the fault was reverted saw both states and belongs to neither.
fn inside(s: &ProbeSample, (from, to): (f64, f64)) -> bool {
    s.t_ms >= from && s.end_ms() <= to
}

/// Values kept exactly up to this many; beyond, a [`Sketch`] keeps them in
/// buckets 1% wide.
const EXACT_UP_TO: usize = 512;
/// Relative width of a sketch bucket.
const SKETCH_GROWTH: f64 = 1.01;

/// Quantiles of a stream of non-negative values in bounded memory, for
/// what a report describes (not for verdicts, which are exact): exact up
/// to [`EXACT_UP_TO`] values, then within 1% (the bucket's upper edge).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sketch {
    exact: Vec<f64>,
    buckets: BTreeMap<i32, u64>,
    /// Values at or below 1 µs, which buckets do not split.
    tiny: u64,
    count: u64,
}

impl Sketch {
    fn bucket(v: f64) -> i32 {
        ((v * 1000.0).ln() / SKETCH_GROWTH.ln()).ceil() as i32
    }

    fn edge(bucket: i32) -> f64 {
        SKETCH_GROWTH.powi(bucket) / 1000.0
    }

    fn spill(&mut self, v: f64) {
        if v <= 0.001 {
            self.tiny += 1;
        } else {
            *self.buckets.entry(Self::bucket(v)).or_default() += 1;
        }
    }

    pub(crate) fn push(&mut self, v: f64) {
        self.count += 1;
        if self.buckets.is_empty() && self.tiny == 0 && self.exact.len() < EXACT_UP_TO {
            self.exact.push(v);
            return;
        }
        for kept in std::mem::take(&mut self.exact) {
            self.spill(kept);
        }
        self.spill(v);
    }

    /// Nearest-rank percentile, `None` without values.
    pub(crate) fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        if !self.exact.is_empty() {
            let mut sorted = self.exact.clone();
            sorted.sort_by(f64::total_cmp);
            return percentile(&sorted, p);
        }
        let rank = (((p / 100.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank <= self.tiny {
            return Some(0.001);
        }
        let mut seen = self.tiny;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::edge(*bucket));
            }
        }
        self.buckets.keys().next_back().map(|b| Self::edge(*b))
    }
}

/// Median latency and success rate of the samples inside a window, in one
/// pass (see [`Sketch`]).
#[derive(Debug, Clone)]
pub(crate) struct WindowSummary {
    window: (f64, f64),
    latencies: Sketch,
    ok: u64,
}

impl WindowSummary {
    pub(crate) fn new(window: (f64, f64)) -> Self {
        WindowSummary {
            window,
            latencies: Sketch::default(),
            ok: 0,
        }
    }

    pub(crate) fn push(&mut self, s: &ProbeSample) {
        if inside(s, self.window) {
            self.latencies.push(s.latency_ms);
            self.ok += u64::from(s.ok);
        }
    }

    pub(crate) fn finish(&self) -> (Option<f64>, Option<f64>) {
        let n = self.latencies.count;
        if n == 0 {
            return (None, None);
        }
        (
            self.latencies.percentile(50.0),
            Some(self.ok as f64 * 100.0 / n as f64),
        )
    }
}

/// A latency percentile of the window against its limit; `None` without samples.
fn latency(
    mut latencies: Vec<f64>,
    cmp: &Comparison<HumanDuration>,
    label: &str,
    p: f64,
) -> Option<Evaluation> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_by(f64::total_cmp);
    let measured = percentile(&latencies, p).unwrap_or_default();
    let limit = cmp.value.as_std().as_secs_f64() * 1000.0;
    Some(Evaluation {
        verdict: verdict(cmp.op.holds(&measured, &limit)),
        actual: format!(
            "measured {label} {} over {} samples",
            fmt_ms(measured),
            latencies.len()
        ),
        value: Some(measured),
    })
}

/// What a check keeps of the samples it has seen: counts, firsts and
/// tallies, and for a latency percentile the window's latencies (exact:
/// a verdict is never decided on an estimate).
#[derive(Debug, Clone)]
enum Kept {
    /// success_rate: the window's `n` and `ok` say it all.
    Rate,
    /// status, exit_code, state: how many passed, what was seen.
    Every {
        matching: usize,
        seen: BTreeMap<String, usize>,
    },
    Latencies(Vec<f64>),
    /// recovers_within from the revert: whether the window's first sample
    /// failed, and when its first success was known.
    Recovery {
        first_failed: Option<bool>,
        first_ok_end: Option<f64>,
    },
    /// recovers_within with nothing to revert: samples since the fault,
    /// the first failure, then the first success after it.
    SelfHealing {
        since: usize,
        failed: bool,
        ok_end: Option<f64>,
    },
    /// fails_within: samples while held, the first failure's end.
    FirstFailure {
        held: usize,
        end: Option<f64>,
    },
    /// matches: lines counted by the reads of the window.
    Lines {
        reads: usize,
        total: f64,
        failed: usize,
    },
    /// value: how many values held, their range, and why runs had none.
    Values {
        count: usize,
        holding: usize,
        min: f64,
        max: f64,
        why_none: BTreeMap<String, usize>,
    },
    /// fires_within: checks since the fault, the first firing's end.
    Firing {
        checks: usize,
        end: Option<f64>,
    },
    /// restarts: the restart count's reading just before the window (or
    /// its first in it), its last, and its increases in between (a new
    /// container counts from 0 again).
    Restarts {
        first: Option<u64>,
        last: Option<u64>,
        increase: u64,
    },
    /// oom_killed: samples that read the flag, and that saw it set.
    Oom {
        read: usize,
        killed: usize,
    },
    /// cpu (mean) and memory (peak): the window's readings.
    Readings {
        count: usize,
        sum: f64,
        min: f64,
        max: f64,
    },
}

/// One expectation evaluated over a stream of its probe's samples, fed in
/// start order ([`Accumulator::push`]), in memory that does not grow with
/// the run (except a latency percentile's window, kept exact).
#[derive(Debug, Clone)]
pub(crate) struct Accumulator<'e> {
    expectation: &'e Expectation,
    windows: Windows,
    /// Samples inside the expectation's window, and how many were ok.
    n: usize,
    ok: usize,
    kept: Kept,
}

fn state_seen(s: &ProbeSample) -> String {
    match s.state {
        Some(st) => st.to_string(),
        None => s.error.clone().unwrap_or_else(|| "unknown".into()),
    }
}

impl<'e> Accumulator<'e> {
    pub(crate) fn new(expectation: &'e Expectation, windows: &Windows) -> Self {
        let every = || Kept::Every {
            matching: 0,
            seen: BTreeMap::new(),
        };
        let kept = match &expectation.check {
            Check::SuccessRate(_) => Kept::Rate,
            Check::Status(_) | Check::ExitCode(_) | Check::State(_) | Check::Health(_) => every(),
            Check::Restarts(_) => Kept::Restarts {
                first: None,
                last: None,
                increase: 0,
            },
            Check::OomKilled(_) => Kept::Oom { read: 0, killed: 0 },
            Check::Cpu(_) | Check::Memory(_) => Kept::Readings {
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            Check::LatencyP50(_)
            | Check::LatencyP95(_)
            | Check::LatencyP99(_)
            | Check::LatencyMax(_) => Kept::Latencies(Vec::new()),
            Check::RecoversWithin(_) if windows.self_healing_from.is_some() => Kept::SelfHealing {
                since: 0,
                failed: false,
                ok_end: None,
            },
            Check::RecoversWithin(_) => Kept::Recovery {
                first_failed: None,
                first_ok_end: None,
            },
            Check::FailsWithin(_) => Kept::FirstFailure { held: 0, end: None },
            Check::Matches(_) => Kept::Lines {
                reads: 0,
                total: 0.0,
                failed: 0,
            },
            Check::Value(_) => Kept::Values {
                count: 0,
                holding: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                why_none: BTreeMap::new(),
            },
            Check::FiresWithin(_) => Kept::Firing {
                checks: 0,
                end: None,
            },
        };
        Accumulator {
            expectation,
            windows: *windows,
            n: 0,
            ok: 0,
            kept,
        }
    }

    /// Whether a sample starting at `t_ms` can still matter: samples are
    /// fed in start order, so one past this can be skipped.
    pub(crate) fn wants(&self, t_ms: f64) -> bool {
        t_ms < self.windows.end
    }

    /// Take in one sample of the expectation's probe (in start order).
    pub(crate) fn push(&mut self, s: &ProbeSample) {
        let w = &self.windows;
        let (from, to) = w.range(self.expectation.during);
        let in_window = inside(s, (from, to));
        if in_window {
            self.n += 1;
            self.ok += usize::from(s.ok);
        }
        match (&mut self.kept, &self.expectation.check) {
            (Kept::Rate, _) => {}
            (Kept::Every { matching, seen }, check) if in_window => {
                let (passes, what) = match check {
                    Check::Status(spec) => (
                        s.status.is_some_and(|st| spec.matches(st)),
                        match s.status {
                            Some(st) => st.to_string(),
                            None => "no response".to_string(),
                        },
                    ),
                    Check::ExitCode(codes) => (
                        s.exit_code.is_some_and(|c| codes.matches(c)),
                        match s.exit_code {
                            Some(c) => format!("exit {c}"),
                            None => s.error.clone().unwrap_or_else(|| "no exit code".into()),
                        },
                    ),
                    Check::State(wanted) => (s.state == Some(*wanted), state_seen(s)),
                    Check::Health(wanted) => (
                        s.health == Some(*wanted),
                        match s.health {
                            Some(h) => h.to_string(),
                            None => s.error.clone().unwrap_or_else(|| "unknown".into()),
                        },
                    ),
                    _ => return,
                };
                *matching += usize::from(passes);
                *seen.entry(what).or_default() += 1;
            }
            (Kept::Every { .. }, _) => {}
            (Kept::Latencies(values), _) => {
                if in_window {
                    values.push(s.latency_ms);
                }
            }
            (
                Kept::Recovery {
                    first_failed,
                    first_ok_end,
                },
                _,
            ) => {
                if in_window {
                    first_failed.get_or_insert(!s.ok);
                    if s.ok && first_ok_end.is_none() {
                        *first_ok_end = Some(s.end_ms());
                    }
                }
            }
            (
                Kept::SelfHealing {
                    since,
                    failed,
                    ok_end,
                },
                _,
            ) => {
                let from = w.self_healing_from.unwrap_or(w.revert_start);
                if s.t_ms >= from && s.end_ms() <= w.end {
                    *since += 1;
                    if !s.ok {
                        *failed = true;
                    } else if *failed && ok_end.is_none() {
                        *ok_end = Some(s.end_ms());
                    }
                }
            }
            (Kept::FirstFailure { held, end }, _) => {
                if s.t_ms >= w.apply_start && s.t_ms < w.revert_start {
                    *held += 1;
                    if !s.ok && end.is_none() {
                        *end = Some(s.end_ms());
                    }
                }
            }
            (
                Kept::Lines {
                    reads,
                    total,
                    failed,
                },
                _,
            ) => {
                // Lines are counted by the run that read them; a run
                // belongs to the window it started in.
                if s.t_ms >= from && s.t_ms < to {
                    match s.value {
                        Some(v) => {
                            *reads += 1;
                            *total += v;
                        }
                        None => *failed += 1,
                    }
                }
            }
            (
                Kept::Values {
                    count,
                    holding,
                    min,
                    max,
                    why_none,
                },
                check,
            ) if in_window => match (s.value, check) {
                (Some(v), Check::Value(cmp)) => {
                    *count += 1;
                    *holding += usize::from(cmp.op.holds(&v, &cmp.value.0));
                    *min = min.min(v);
                    *max = max.max(v);
                    why_none.clear();
                }
                _ if *count == 0 => {
                    let why = s.error.clone().unwrap_or_else(|| "no value".into());
                    *why_none.entry(why).or_default() += 1;
                }
                _ => {}
            },
            (Kept::Values { .. }, _) => {}
            (
                Kept::Restarts {
                    first,
                    last,
                    increase,
                },
                _,
            ) => {
                match (s.restarts, in_window) {
                    // The latest reading before the window is where it
                    // counts from: a restart right at the window's start
                    // still counts.
                    (Some(count), false) if s.t_ms < from => {
                        *first = Some(count);
                        *last = Some(count);
                    }
                    (Some(count), true) => {
                        first.get_or_insert(count);
                        if let Some(before) = *last {
                            *increase += count.saturating_sub(before);
                        }
                        *last = Some(count);
                    }
                    _ => {}
                }
            }
            (Kept::Oom { read, killed }, _) => {
                if let (true, Some(flag)) = (in_window, s.oom_killed) {
                    *read += 1;
                    *killed += usize::from(flag);
                }
            }
            (
                Kept::Readings {
                    count,
                    sum,
                    min,
                    max,
                },
                check,
            ) => {
                let reading = match check {
                    Check::Cpu(_) => s.cpu_pct,
                    _ => s.memory_bytes.map(|b| b as f64),
                };
                if let (true, Some(v)) = (in_window, reading) {
                    *count += 1;
                    *sum += v;
                    *min = min.min(v);
                    *max = max.max(v);
                }
            }
            (Kept::Firing { checks, end }, _) => {
                if s.t_ms >= w.apply_start && s.t_ms < w.end {
                    *checks += 1;
                    if end.is_none() && s.value.is_some_and(|v| v >= 1.0) {
                        *end = Some(s.end_ms());
                    }
                }
            }
        }
    }

    /// The verdict and what was measured.
    pub(crate) fn finish(self) -> Evaluation {
        let expectation = self.expectation;
        let windows = self.windows;
        let (from, to) = windows.range(expectation.during);
        let n = self.n;
        let empty = || Evaluation {
            verdict: Verdict::NotMet,
            actual: format!(
                "no samples in the {} window ({})",
                expectation.during.name(),
                fmt_ms(to - from)
            ),
            value: None,
        };
        let limit_ms = |limit: &HumanDuration| limit.as_std().as_secs_f64() * 1000.0;
        match (self.kept, &expectation.check) {
            (Kept::Rate, Check::SuccessRate(cmp)) => {
                if n == 0 {
                    return empty();
                }
                let ok = self.ok;
                let rate = ok as f64 * 100.0 / n as f64;
                Evaluation {
                    verdict: verdict(cmp.op.holds(&rate, &cmp.value.0)),
                    actual: format!("measured {} ({ok} of {n} samples ok)", fmt_pct(rate)),
                    value: Some(rate),
                }
            }
            (Kept::Every { matching, seen }, _) => {
                if n == 0 {
                    return empty();
                }
                let seen = tally(seen);
                Evaluation {
                    verdict: verdict(matching == n),
                    actual: format!("measured {seen} ({matching} of {n} samples match)"),
                    value: Some(matching as f64 * 100.0 / n as f64),
                }
            }
            (Kept::Latencies(values), check) => {
                let (cmp, label, p) = match check {
                    Check::LatencyP50(c) => (c, "p50", 50.0),
                    Check::LatencyP95(c) => (c, "p95", 95.0),
                    Check::LatencyP99(c) => (c, "p99", 99.0),
                    Check::LatencyMax(c) => (c, "max", 100.0),
                    _ => return empty(),
                };
                latency(values, cmp, label, p).unwrap_or_else(empty)
            }
            (
                Kept::SelfHealing {
                    since,
                    failed,
                    ok_end,
                },
                Check::RecoversWithin(limit),
            ) => {
                let from = windows.self_healing_from.unwrap_or(windows.revert_start);
                if !failed {
                    return Evaluation {
                        verdict: Verdict::Met,
                        actual: format!(
                            "never failed after the fault ({since} samples); nothing to recover from"
                        ),
                        value: Some(0.0),
                    };
                }
                match ok_end {
                    Some(end) => {
                        let measured = (end - from).max(0.0);
                        Evaluation {
                            verdict: verdict(measured <= limit_ms(limit)),
                            actual: format!(
                                "recovered on its own {} after the fault (nothing for gameday to revert)",
                                fmt_ms(measured)
                            ),
                            value: Some(measured),
                        }
                    }
                    None => Evaluation {
                        verdict: Verdict::NotMet,
                        actual: format!(
                            "did not recover: no successful sample in the {} after the fault",
                            fmt_ms(windows.end - from)
                        ),
                        value: None,
                    },
                }
            }
            (
                Kept::Recovery {
                    first_failed,
                    first_ok_end,
                },
                Check::RecoversWithin(limit),
            ) => match first_ok_end {
                Some(end) => {
                    let measured = (end - windows.revert_start).max(0.0);
                    let how = if first_failed == Some(true) {
                        "recovered"
                    } else {
                        "was already succeeding"
                    };
                    Evaluation {
                        verdict: verdict(measured <= limit_ms(limit)),
                        actual: format!("{how} {} after the revert", fmt_ms(measured)),
                        value: Some(measured),
                    }
                }
                None => Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!(
                        "did not recover: no successful sample in the {} after the revert ({n} samples)",
                        fmt_ms(to - from)
                    ),
                    value: None,
                },
            },
            (Kept::FirstFailure { held, end }, Check::FailsWithin(limit)) => match end {
                Some(end) => {
                    let measured = (end - windows.apply_start).max(0.0);
                    Evaluation {
                        verdict: verdict(measured <= limit_ms(limit)),
                        actual: format!(
                            "first failure {} after the fault was applied",
                            fmt_ms(measured)
                        ),
                        value: Some(measured),
                    }
                }
                None => Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!("never failed while the fault was held ({held} samples)"),
                    value: None,
                },
            },
            (
                Kept::Lines {
                    reads,
                    total,
                    failed,
                },
                Check::Matches(cmp),
            ) => {
                if reads == 0 {
                    return empty();
                }
                let mut actual = format!("counted {total} matching lines in {reads} reads");
                if failed > 0 {
                    actual.push_str(&format!(" ({failed} reads failed)"));
                }
                Evaluation {
                    verdict: verdict(cmp.op.holds(&total, &cmp.value.0)),
                    actual,
                    value: Some(total),
                }
            }
            (
                Kept::Values {
                    count,
                    holding,
                    min,
                    max,
                    why_none,
                },
                Check::Value(cmp),
            ) => {
                if count == 0 {
                    if n == 0 {
                        return empty();
                    }
                    let why = tally(why_none);
                    return Evaluation {
                        verdict: Verdict::NotMet,
                        actual: format!(
                            "no value in the {} window: {why}",
                            expectation.during.name()
                        ),
                        value: None,
                    };
                }
                let range = if min == max {
                    format!("{min}")
                } else {
                    format!("{min} to {max}")
                };
                let mut actual = format!("measured {range} ({holding} of {count} values hold)");
                let missing = n - count;
                if missing > 0 {
                    actual.push_str(&format!("; {missing} runs without a value"));
                }
                // A run without a value is not evidence that the value held.
                let worst = match cmp.op {
                    CmpOp::Lt | CmpOp::Le => max,
                    _ => min,
                };
                Evaluation {
                    verdict: verdict(holding == count && missing == 0),
                    actual,
                    value: Some(worst),
                }
            }
            (Kept::Firing { checks, end }, Check::FiresWithin(limit)) => match end {
                Some(end) => {
                    let measured = (end - windows.apply_start).max(0.0);
                    Evaluation {
                        verdict: verdict(measured <= limit_ms(limit)),
                        actual: format!("fired {} after the fault was applied", fmt_ms(measured)),
                        value: Some(measured),
                    }
                }
                None => Evaluation {
                    verdict: Verdict::NotMet,
                    actual: format!(
                        "never fired between the fault and the end of the cooldown ({checks} checks)"
                    ),
                    value: None,
                },
            },
            (
                Kept::Restarts {
                    first,
                    last,
                    increase,
                },
                Check::Restarts(cmp),
            ) => {
                let (Some(first), Some(last), true) = (first, last, n > 0) else {
                    if n == 0 {
                        return empty();
                    }
                    return Evaluation {
                        verdict: Verdict::NotMet,
                        actual: format!(
                            "no sample of the {} window read the restart count",
                            expectation.during.name()
                        ),
                        value: None,
                    };
                };
                let measured = increase as f64;
                Evaluation {
                    verdict: verdict(cmp.op.holds(&measured, &cmp.value.0)),
                    actual: format!(
                        "restarted {increase} time{} (restart count {first} to {last} over {n} samples)",
                        if increase == 1 { "" } else { "s" }
                    ),
                    value: Some(measured),
                }
            }
            (Kept::Oom { read, killed }, Check::OomKilled(wanted)) => {
                if read == 0 {
                    return empty();
                }
                let actual = if killed > 0 {
                    format!("the OOM killer struck: seen by {killed} of {read} samples")
                } else {
                    format!("no OOM kill seen over {read} samples")
                };
                Evaluation {
                    verdict: verdict((killed > 0) == *wanted),
                    actual,
                    value: Some(killed as f64),
                }
            }
            (
                Kept::Readings {
                    count,
                    sum,
                    min,
                    max,
                },
                check,
            ) => {
                if count == 0 {
                    if n == 0 {
                        return empty();
                    }
                    return Evaluation {
                        verdict: Verdict::NotMet,
                        actual: format!(
                            "no sample of the {} window read the container's stats ({n} samples)",
                            expectation.during.name()
                        ),
                        value: None,
                    };
                }
                match check {
                    Check::Cpu(cmp) => {
                        let mean = sum / count as f64;
                        let pct = |v: f64| CpuPercent(v).to_string();
                        Evaluation {
                            verdict: verdict(cmp.op.holds(&mean, &cmp.value.0)),
                            actual: format!(
                                "measured a mean of {} of a core (from {} to {}) over {count} samples",
                                pct(mean),
                                pct(min),
                                pct(max)
                            ),
                            value: Some(mean),
                        }
                    }
                    Check::Memory(cmp) => Evaluation {
                        verdict: verdict(cmp.op.holds(&max, &cmp.value.0)),
                        actual: format!(
                            "measured a peak of {} (low {}) over {count} samples",
                            ByteSize(max),
                            ByteSize(min)
                        ),
                        value: Some(max),
                    },
                    _ => empty(),
                }
            }
            // Each check is given its own kind of keeping in `new`.
            _ => empty(),
        }
    }
}

/// Evaluate one expectation over the samples of its probe (sorted by start).
#[cfg(test)]
pub(crate) fn evaluate(
    expectation: &Expectation,
    samples: &[ProbeSample],
    windows: &Windows,
) -> Evaluation {
    let mut acc = Accumulator::new(expectation, windows);
    for s in samples {
        acc.push(s);
    }
    acc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gameday::units::{
        ByteSize, CmpOp, Comparison, ContainerState, CpuPercent, HealthState, HumanDuration,
        Number, Percent, StatusSpec,
    };
    use crate::gameday::yaml::Pos;
    use proptest::prelude::*;

    fn sample(t_ms: f64, ok: bool, latency_ms: f64, status: Option<u16>) -> ProbeSample {
        ProbeSample {
            probe: 0,
            t_ms,
            at: chrono::DateTime::UNIX_EPOCH,
            ok,
            latency_ms,
            status,
            error: (!ok).then(|| "failed".to_string()),
            ..Default::default()
        }
    }

    fn windows() -> Windows {
        Windows {
            baseline: (0.0, 1000.0),
            apply_start: 1000.0,
            fault_start: 1100.0,
            revert_start: 3000.0,
            end: 5000.0,
            self_healing_from: None,
        }
    }

    fn expect(during: Window, check: Check) -> Expectation {
        Expectation {
            probe: crate::gameday::model::ProbeRef {
                id: crate::gameday::model::ProbeId(0),
                name: "p".into(),
            },
            during,
            check,
            pos: Pos::default(),
        }
    }

    #[test]
    fn self_healing_recovery_counts_from_the_fault_not_the_revert() {
        // Killed at 1100 (nothing to revert), failing from 1200, back at 1600.
        let samples = vec![
            sample(1000.0, true, 5.0, Some(200)),
            sample(1100.0, true, 5.0, Some(200)), // in flight at the kill
            sample(1200.0, false, 5.0, None),
            sample(1400.0, false, 5.0, None),
            sample(1600.0, true, 10.0, Some(200)),
            sample(3100.0, true, 5.0, Some(200)),
        ];
        let mut w = windows();
        w.self_healing_from = Some(1100.0);
        let check = expect(
            Window::After,
            Check::RecoversWithin(HumanDuration::from_millis(600)),
        );
        let e = evaluate(&check, &samples, &w);
        assert_eq!(e.verdict, Verdict::Met, "{e:?}");
        assert_eq!(e.value, Some(510.0));
        assert!(
            e.actual
                .starts_with("recovered on its own 510ms after the fault"),
            "{e:?}"
        );
        // The same samples measured from the revert (the usual case) see
        // only the success after 3000.
        let e = evaluate(&check, &samples, &windows());
        assert!(e.actual.starts_with("was already succeeding"), "{e:?}");
    }

    #[test]
    fn success_rate_counts_only_the_window() {
        let samples = vec![
            sample(500.0, false, 1.0, None), // baseline
            sample(1200.0, true, 1.0, Some(200)),
            sample(1300.0, false, 1.0, Some(503)),
            sample(3500.0, false, 1.0, None), // after
        ];
        let e = expect(
            Window::Fault,
            Check::SuccessRate(Comparison {
                op: CmpOp::Ge,
                value: Percent(50.0),
            }),
        );
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.verdict, Verdict::Met);
        assert_eq!(r.actual, "measured 50% (1 of 2 samples ok)");
    }

    #[test]
    fn status_needs_every_sample() {
        let samples = vec![
            sample(1200.0, false, 1.0, Some(503)),
            sample(1300.0, false, 1.0, None),
        ];
        let e = expect(Window::Fault, Check::Status(StatusSpec::Code(503)));
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.verdict, Verdict::NotMet);
        assert_eq!(
            r.actual,
            "measured 503 ×1, no response ×1 (1 of 2 samples match)"
        );
    }

    #[test]
    fn latency_percentiles() {
        let samples: Vec<_> = (0..100)
            .map(|i| sample(1200.0 + i as f64, true, i as f64 + 1.0, Some(200)))
            .collect();
        let p99 = expect(
            Window::Fault,
            Check::LatencyP99(Comparison {
                op: CmpOp::Lt,
                value: HumanDuration::from_millis(100),
            }),
        );
        let r = evaluate(&p99, &samples, &windows());
        assert_eq!(r.actual, "measured p99 99ms over 100 samples");
        assert_eq!(r.verdict, Verdict::Met);
        let max = expect(
            Window::Fault,
            Check::LatencyMax(Comparison {
                op: CmpOp::Lt,
                value: HumanDuration::from_millis(100),
            }),
        );
        assert_eq!(
            evaluate(&max, &samples, &windows()).verdict,
            Verdict::NotMet
        );
    }

    #[test]
    fn recovery_is_measured_from_the_revert() {
        let samples = vec![
            sample(3100.0, false, 10.0, None),
            sample(3900.0, true, 100.0, Some(200)),
        ];
        let e = expect(
            Window::After,
            Check::RecoversWithin(HumanDuration::from_secs(1)),
        );
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.actual, "recovered 1s after the revert");
        assert_eq!(r.verdict, Verdict::Met);
        let strict = expect(
            Window::After,
            Check::RecoversWithin(HumanDuration::from_millis(500)),
        );
        assert_eq!(
            evaluate(&strict, &samples, &windows()).verdict,
            Verdict::NotMet
        );
        let never = vec![sample(3100.0, false, 10.0, None)];
        assert_eq!(evaluate(&e, &never, &windows()).verdict, Verdict::NotMet);
    }

    #[test]
    fn fails_within_is_measured_from_the_apply() {
        let samples = vec![
            sample(1050.0, true, 5.0, Some(200)),
            sample(1400.0, false, 100.0, None),
        ];
        let e = expect(
            Window::Fault,
            Check::FailsWithin(HumanDuration::from_secs(1)),
        );
        let r = evaluate(&e, &samples, &windows());
        assert_eq!(r.actual, "first failure 500ms after the fault was applied");
        assert_eq!(r.verdict, Verdict::Met);
    }

    #[test]
    fn state_tallies_what_was_seen() {
        let mut a = sample(1200.0, false, 1.0, None);
        a.state = Some(ContainerState::Paused);
        let mut b = sample(1300.0, true, 1.0, None);
        b.state = Some(ContainerState::Running);
        let e = expect(Window::Fault, Check::State(ContainerState::Paused));
        let r = evaluate(&e, &[a, b], &windows());
        assert_eq!(r.verdict, Verdict::NotMet);
        assert_eq!(
            r.actual,
            "measured paused ×1, running ×1 (1 of 2 samples match)"
        );
    }

    #[test]
    fn empty_windows_are_not_met() {
        let e = expect(
            Window::Fault,
            Check::SuccessRate(Comparison {
                op: CmpOp::Ge,
                value: Percent(0.0),
            }),
        );
        let r = evaluate(&e, &[], &windows());
        assert_eq!(r.verdict, Verdict::NotMet);
        assert!(r.actual.starts_with("no samples"));
    }

    #[test]
    fn container_readings_health_restarts_oom_cpu_and_memory() {
        let reading = |t: f64, restarts: u64, cpu: Option<f64>, mib: u64, health: HealthState| {
            let mut s = sample(t, true, 2.0, None);
            s.state = Some(ContainerState::Running);
            s.health = Some(health);
            s.restarts = Some(restarts);
            s.oom_killed = Some(false);
            s.cpu_pct = cpu;
            s.memory_bytes = Some(mib << 20);
            s
        };
        let samples = vec![
            reading(500.0, 0, None, 10, HealthState::Healthy), // baseline
            reading(1200.0, 0, None, 20, HealthState::Healthy),
            reading(1400.0, 0, Some(80.0), 120, HealthState::Healthy),
            reading(1600.0, 1, Some(160.0), 40, HealthState::Starting),
            reading(1800.0, 1, Some(60.0), 30, HealthState::Healthy),
        ];
        let run = |check: Check| evaluate(&expect(Window::Fault, check), &samples, &windows());
        let restarts = run(Check::Restarts(Comparison {
            op: CmpOp::Le,
            value: Number(0.0),
        }));
        assert_eq!(restarts.verdict, Verdict::NotMet);
        assert_eq!(
            restarts.actual,
            "restarted 1 time (restart count 0 to 1 over 4 samples)"
        );
        let cpu = run(Check::Cpu(Comparison {
            op: CmpOp::Ge,
            value: CpuPercent(90.0),
        }));
        assert_eq!(cpu.verdict, Verdict::Met, "{cpu:?}");
        assert_eq!(
            cpu.actual,
            "measured a mean of 100% of a core (from 60% to 160%) over 3 samples"
        );
        let memory = run(Check::Memory(Comparison {
            op: CmpOp::Lt,
            value: ByteSize(100.0 * 1024.0 * 1024.0),
        }));
        assert_eq!(memory.verdict, Verdict::NotMet);
        assert_eq!(
            memory.actual,
            "measured a peak of 120MiB (low 20MiB) over 4 samples"
        );
        let health = run(Check::Health(HealthState::Healthy));
        assert_eq!(health.verdict, Verdict::NotMet);
        assert_eq!(
            health.actual,
            "measured healthy ×3, starting ×1 (3 of 4 samples match)"
        );
        let no_oom = run(Check::OomKilled(false));
        assert_eq!(no_oom.verdict, Verdict::Met);
        assert_eq!(no_oom.actual, "no OOM kill seen over 4 samples");
        let mut killed = samples.clone();
        killed[3].oom_killed = Some(true);
        let oom = evaluate(
            &expect(Window::Fault, Check::OomKilled(true)),
            &killed,
            &windows(),
        );
        assert_eq!(oom.verdict, Verdict::Met);
        assert_eq!(oom.actual, "the OOM killer struck: seen by 1 of 4 samples");
        // A container replaced by a new one counts from 0 again: only rises count.
        let mut replaced = samples.clone();
        replaced[0].restarts = Some(2);
        replaced[1].restarts = Some(2);
        replaced[2].restarts = Some(0);
        replaced[3].restarts = Some(1);
        let r = evaluate(
            &expect(
                Window::Fault,
                Check::Restarts(Comparison {
                    op: CmpOp::Eq,
                    value: Number(1.0),
                }),
            ),
            &replaced,
            &windows(),
        );
        assert_eq!(r.verdict, Verdict::Met, "{r:?}");
        // A restart just as the window opens counts from the reading before it.
        let mut early = samples.clone();
        early[1].restarts = Some(1);
        let r = evaluate(
            &expect(
                Window::Fault,
                Check::Restarts(Comparison {
                    op: CmpOp::Ge,
                    value: Number(1.0),
                }),
            ),
            &early,
            &windows(),
        );
        assert_eq!(r.verdict, Verdict::Met, "{r:?}");
        assert!(r.actual.contains("restart count 0 to 1"), "{r:?}");
    }

    #[test]
    fn a_sketch_is_exact_while_small_and_within_one_percent_after() {
        let mut small = Sketch::default();
        (1..=100).for_each(|v| small.push(f64::from(v)));
        assert_eq!(small.percentile(50.0), Some(50.0));
        assert_eq!(small.percentile(99.0), Some(99.0));
        let mut large = Sketch::default();
        let values: Vec<f64> = (0..100_000)
            .map(|i| 0.5 + f64::from(i % 5000) * 0.37)
            .collect();
        values.iter().for_each(|v| large.push(*v));
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [1.0, 50.0, 95.0, 99.0, 100.0] {
            let exact = percentile(&sorted, p).unwrap();
            let estimate = large.percentile(p).unwrap();
            assert!(
                (estimate - exact).abs() <= exact * 0.0101,
                "p{p}: {estimate} against {exact}"
            );
        }
        // Memory: one counter per 1% bucket, not one per value.
        assert!(large.buckets.len() < 1000, "{}", large.buckets.len());
        assert!(large.exact.is_empty());
    }

    proptest! {
        #[test]
        fn success_rate_matches_a_plain_count(oks in proptest::collection::vec(any::<bool>(), 1..200), threshold in 0u32..=100) {
            let samples: Vec<_> = oks.iter().enumerate().map(|(i, ok)| sample(1100.0 + i as f64, *ok, 1.0, None)).collect();
            let e = expect(Window::Fault, Check::SuccessRate(Comparison { op: CmpOp::Ge, value: Percent(f64::from(threshold)) }));
            let r = evaluate(&e, &samples, &windows());
            let rate = oks.iter().filter(|o| **o).count() as f64 * 100.0 / oks.len() as f64;
            prop_assert_eq!(r.verdict == Verdict::Met, rate >= f64::from(threshold));
        }

        #[test]
        fn percentile_is_an_element_and_monotonic(mut v in proptest::collection::vec(0f64..1e6, 1..100), p in 1f64..100.0) {
            v.sort_by(f64::total_cmp);
            let x = percentile(&v, p).unwrap();
            prop_assert!(v.contains(&x));
            prop_assert!(percentile(&v, 100.0).unwrap() >= x);
        }
    }
}
