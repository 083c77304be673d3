//! One fold per family of checks. Each is built from its check once (its
//! parameters travel with it), takes a probe's samples in start order,
//! keeps only what its verdict needs, and gives the verdict at the end, so
//! no second `match` on the check can forget one: a new check is a new
//! [`Check`] arm in [`Fold::of`], and the compiler asks for it.

use std::collections::BTreeMap;

use super::judged::{Figure, Judged, Measure};
use super::{CheckVerdict, Evaluation, Frame, fmt_ms, fmt_pct, percentile, tally, verdict};
use crate::gameday::model::{Check, ExitCodes};
use crate::gameday::units::{
    ByteSize, CmpOp, Comparison, ContainerState, CpuPercent, HealthState, HumanDuration, Number,
    StatusSpec, Threshold,
};
use crate::probe::ProbeSample;
use crate::probe::load::{LatencyHistogram, LoadTally};

mod detection;
mod ledger;
mod lines;
mod load;

pub(crate) use detection::Noticed;

use lines::LineCount;

pub(super) use load::Throughput;

/// A fold's step: it sees every sample of its probe (in start order),
/// told whether the sample ran inside the expectation's window.
pub(super) trait Step {
    fn push(&mut self, s: &ProbeSample, frame: &Frame, in_window: bool);
    /// The verdict; `counted` is the window's sample count and `ok` its
    /// successes.
    fn finish(self, frame: &Frame, counted: Counted) -> Evaluation;
}

/// The samples inside the window, and how many were ok (for a load
/// probe: its requests).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counted {
    pub(super) n: usize,
    pub(super) ok: usize,
    /// Whether they are a load probe's requests rather than samples.
    pub(super) load: bool,
}

impl Counted {
    /// `samples` or `requests`, for the words of a verdict.
    fn things(&self) -> &'static str {
        if self.load { "requests" } else { "samples" }
    }
}

macro_rules! folds {
    ($($variant:ident($fold:ty),)*) => {
        /// What an expectation keeps of its samples, by family.
        #[derive(Debug, Clone)]
        pub(super) enum Fold {
            $($variant($fold),)*
        }

        impl Fold {
            pub(super) fn push(&mut self, s: &ProbeSample, frame: &Frame, in_window: bool) {
                match self {
                    $(Fold::$variant(f) => f.push(s, frame, in_window),)*
                }
            }

            pub(super) fn finish(self, frame: &Frame, counted: Counted) -> Evaluation {
                match self {
                    $(Fold::$variant(f) => f.finish(frame, counted),)*
                }
            }
        }
    };
}

folds! {
    Rate(Judged<SuccessRate>),
    Every(EverySample),
    Latency(Judged<LatencyPercentile>),
    Recovery(Recovery),
    SelfHealing(SelfHealing),
    FirstFailure(FirstFailure),
    Lines(LineCount),
    Values(Values),
    Firing(FirstFiring),
    Restarts(RestartCount),
    Oom(OomSeen),
    Readings(Judged<Readings>),
    Throughput(Judged<Throughput>),
    Ledger(ledger::ReadBack),
    Detected(detection::Detected),
}

impl Fold {
    /// A ledger check's read back; other folds have none to take.
    pub(super) fn read_back(&mut self, audit: &crate::probe::ledger::LedgerAudit) {
        if let Fold::Ledger(f) = self {
            f.audit = Some(Box::new(audit.clone()));
        }
    }

    /// A `detected_by` check's detection; other folds have none to take.
    pub(super) fn noticed(&mut self, noticed: &Noticed) {
        if let Fold::Detected(f) = self {
            f.noticed = Some(Box::new(noticed.clone()));
        }
    }

    /// The fold of `check`: the one place a check is matched.
    pub(super) fn of(check: &Check, frame: &Frame) -> Fold {
        let every = |want| Fold::Every(EverySample::new(want));
        let latency = |threshold: &Threshold<HumanDuration>, label, p| {
            let measure = LatencyPercentile {
                label,
                p,
                values: Vec::new(),
                histogram: LatencyHistogram::default(),
            };
            Fold::Latency(Judged::new(measure, threshold.in_amounts()))
        };
        let readings = |of, threshold: Threshold<f64>| {
            Fold::Readings(Judged::new(Readings::new(of), threshold))
        };
        let read_back = |figure| {
            Fold::Ledger(ledger::ReadBack {
                figure,
                audit: None,
            })
        };
        match check {
            Check::Lost(cmp) => read_back(ledger::Figure::Lost(*cmp)),
            Check::Duplicated(cmp) => read_back(ledger::Figure::Duplicated(*cmp)),
            Check::Rpo(cmp) => read_back(ledger::Figure::Rpo(*cmp)),
            Check::DetectedBy(check) => Fold::Detected(detection::Detected {
                check: *check,
                noticed: None,
            }),
            Check::SuccessRate(threshold) => Fold::Rate(Judged::new(
                SuccessRate {
                    load: LoadTally::default(),
                },
                threshold.in_amounts(),
            )),
            Check::Status(spec) => every(Every::Status(spec.clone())),
            Check::ExitCode(codes) => every(Every::ExitCode(codes.clone())),
            Check::State(state) => every(Every::State(*state)),
            Check::Health(health) => every(Every::Health(*health)),
            Check::LatencyP50(cmp) => latency(cmp, "p50", 50.0),
            Check::LatencyP95(cmp) => latency(cmp, "p95", 95.0),
            Check::LatencyP99(cmp) => latency(cmp, "p99", 99.0),
            Check::LatencyMax(cmp) => latency(cmp, "max", 100.0),
            Check::LatencyP999(cmp) => latency(cmp, "p99.9", 99.9),
            Check::Throughput(threshold) => {
                Fold::Throughput(Judged::new(Throughput::default(), threshold.in_amounts()))
            }
            Check::RecoversWithin(limit) => match frame.windows.self_healing_from {
                Some(from) => Fold::SelfHealing(SelfHealing {
                    limit: *limit,
                    from,
                    since: 0,
                    failed: false,
                    ok_end: None,
                }),
                None => Fold::Recovery(Recovery {
                    limit: *limit,
                    first_failed: None,
                    first_ok_end: None,
                }),
            },
            Check::FailsWithin(limit) => Fold::FirstFailure(FirstFailure {
                limit: *limit,
                held: 0,
                end: None,
            }),
            Check::Matches(cmp) => Fold::Lines(LineCount::new(*cmp)),
            Check::Value(cmp) => Fold::Values(Values {
                cmp: *cmp,
                count: 0,
                holding: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                why_none: BTreeMap::new(),
            }),
            Check::FiresWithin(limit) => Fold::Firing(FirstFiring {
                limit: *limit,
                checks: 0,
                end: None,
            }),
            Check::Restarts(cmp) => Fold::Restarts(RestartCount {
                cmp: *cmp,
                first: None,
                last: None,
                increase: 0,
            }),
            Check::OomKilled(wanted) => Fold::Oom(OomSeen {
                wanted: *wanted,
                read: 0,
                killed: 0,
            }),
            Check::Cpu(threshold) => readings(Reading::Cpu, threshold.in_amounts()),
            Check::Memory(threshold) => readings(Reading::Memory, threshold.in_amounts()),
        }
    }
}

fn limit_ms(limit: &HumanDuration) -> f64 {
    limit.as_std().as_secs_f64() * 1000.0
}

/// `success_rate`: the window's counts say it all (a load probe's
/// failures are said by reason too).
#[derive(Debug, Clone)]
pub(super) struct SuccessRate {
    load: LoadTally,
}

impl Measure for SuccessRate {
    fn take(&mut self, s: &ProbeSample, in_window: bool) {
        if let (true, Some(load)) = (in_window, &s.load) {
            self.load.merge(load);
        }
    }

    fn figure(&mut self, frame: &Frame, counted: Counted) -> Result<Figure, Evaluation> {
        let Counted { n, ok, .. } = counted;
        if n == 0 {
            return Err(frame.empty());
        }
        let rate = ok as f64 * 100.0 / n as f64;
        Ok(Figure {
            value: rate,
            said: format!(
                "{} ({ok} of {n} {} ok){}",
                fmt_pct(rate),
                counted.things(),
                load::failures_said(&self.load)
            ),
        })
    }

    fn show(&self, amount: f64) -> String {
        fmt_pct(amount)
    }
}

/// What every sample of the window must show.
#[derive(Debug, Clone)]
enum Every {
    Status(StatusSpec),
    ExitCode(ExitCodes),
    State(ContainerState),
    Health(HealthState),
}

impl Every {
    /// Whether `s` passes, and what it showed, in words.
    fn judge(&self, s: &ProbeSample) -> (bool, String) {
        let error_or = |text: &str| s.error.clone().unwrap_or_else(|| text.into());
        match self {
            Every::Status(spec) => (
                s.status.is_some_and(|st| spec.matches(st)),
                match s.status {
                    Some(st) => st.to_string(),
                    None => "no response".to_string(),
                },
            ),
            Every::ExitCode(codes) => (
                s.exit_code.is_some_and(|c| codes.matches(c)),
                match s.exit_code {
                    Some(c) => format!("exit {c}"),
                    None => error_or("no exit code"),
                },
            ),
            Every::State(wanted) => (
                s.state == Some(*wanted),
                match s.state {
                    Some(st) => st.to_string(),
                    None => error_or("unknown"),
                },
            ),
            Every::Health(wanted) => (
                s.health == Some(*wanted),
                match s.health {
                    Some(h) => h.to_string(),
                    None => error_or("unknown"),
                },
            ),
        }
    }
}

/// `status`, `exit_code`, `state`, `health`: how many passed, what was seen.
#[derive(Debug, Clone)]
pub(super) struct EverySample {
    want: Every,
    matching: usize,
    seen: BTreeMap<String, usize>,
}

impl EverySample {
    fn new(want: Every) -> Self {
        EverySample {
            want,
            matching: 0,
            seen: BTreeMap::new(),
        }
    }

    /// A load interval: its responses by status, and its requests that
    /// got none by reason.
    fn push_load(&mut self, load: &LoadTally, spec: &StatusSpec) {
        for (status, n) in &load.statuses {
            if spec.matches(*status) {
                self.matching += *n as usize;
            }
            *self.seen.entry(status.to_string()).or_default() += *n as usize;
        }
        for (reason, n) in &load.failures {
            if reason.parse::<u16>().is_err() {
                *self.seen.entry(reason.clone()).or_default() += *n as usize;
            }
        }
    }
}

impl Step for EverySample {
    fn push(&mut self, s: &ProbeSample, _: &Frame, in_window: bool) {
        if !in_window {
            return;
        }
        if let (Some(load), Every::Status(spec)) = (&s.load, &self.want) {
            let spec = spec.clone();
            self.push_load(load, &spec);
            return;
        }
        let (passes, what) = self.want.judge(s);
        self.matching += usize::from(passes);
        *self.seen.entry(what).or_default() += 1;
    }

    fn finish(self, frame: &Frame, counted: Counted) -> Evaluation {
        let n = counted.n;
        if n == 0 {
            return frame.empty();
        }
        let matching = self.matching;
        Evaluation {
            verdict: verdict(matching == n),
            actual: format!(
                "measured {} ({matching} of {n} {} match)",
                tally(self.seen),
                counted.things()
            ),
            value: Some(matching as f64 * 100.0 / n as f64),
            relative: None,
        }
    }
}

/// `latency_p50` … `latency_max`: the window's latencies, kept exactly (a
/// verdict is never decided on an estimate); a load probe's intervals'
/// histograms merged, exact to their precision (0.05%).
#[derive(Debug, Clone)]
pub(super) struct LatencyPercentile {
    label: &'static str,
    p: f64,
    values: Vec<f64>,
    histogram: LatencyHistogram,
}

impl Measure for LatencyPercentile {
    fn take(&mut self, s: &ProbeSample, in_window: bool) {
        match (in_window, &s.load) {
            (false, _) => {}
            (true, Some(load)) => self.histogram.merge(&load.latency),
            (true, None) => self.values.push(s.latency_ms),
        }
    }

    fn figure(&mut self, frame: &Frame, _: Counted) -> Result<Figure, Evaluation> {
        let (measured, over) = if self.histogram.is_empty() {
            self.values.sort_by(f64::total_cmp);
            match percentile(&self.values, self.p) {
                Some(v) => (v, format!("{} samples", self.values.len())),
                None => return Err(frame.empty()),
            }
        } else {
            match self.histogram.percentile_ms(self.p) {
                Some(v) => (v, format!("{} requests", self.histogram.count())),
                None => return Err(frame.empty()),
            }
        };
        Ok(Figure {
            value: measured,
            said: format!("{} {} over {over}", self.label, fmt_ms(measured)),
        })
    }

    fn show(&self, amount: f64) -> String {
        fmt_ms(amount)
    }
}

/// `recovers_within`, from the revert: whether the window's first sample
/// failed, and when its first success was known.
#[derive(Debug, Clone)]
pub(super) struct Recovery {
    limit: HumanDuration,
    first_failed: Option<bool>,
    first_ok_end: Option<f64>,
}

impl Step for Recovery {
    fn push(&mut self, s: &ProbeSample, _: &Frame, in_window: bool) {
        if in_window {
            self.first_failed.get_or_insert(!s.ok);
            if self.first_ok_end.is_none() {
                self.first_ok_end = s.first_ok_end();
            }
        }
    }

    fn finish(self, frame: &Frame, Counted { n, .. }: Counted) -> Evaluation {
        let revert_start = frame.windows.revert_start;
        match self.first_ok_end {
            Some(end) => {
                let measured = (end - revert_start).max(0.0);
                let how = if self.first_failed == Some(true) {
                    "recovered"
                } else {
                    "was already succeeding"
                };
                Evaluation {
                    verdict: verdict(measured <= limit_ms(&self.limit)),
                    actual: format!("{how} {} after the revert", fmt_ms(measured)),
                    value: Some(measured),
                    relative: None,
                }
            }
            None => {
                let (from, to) = frame.range;
                Evaluation {
                    verdict: CheckVerdict::NotMet,
                    actual: format!(
                        "did not recover: no successful sample in the {} after the revert ({n} samples)",
                        fmt_ms(to - from)
                    ),
                    value: None,
                    relative: None,
                }
            }
        }
    }
}

/// `recovers_within` with nothing to revert: samples since the fault, the
/// first failure, then the first success after it.
#[derive(Debug, Clone)]
pub(super) struct SelfHealing {
    limit: HumanDuration,
    /// When the faults were in place (nothing left to revert).
    from: f64,
    since: usize,
    failed: bool,
    ok_end: Option<f64>,
}

impl Step for SelfHealing {
    fn push(&mut self, s: &ProbeSample, frame: &Frame, _: bool) {
        if s.t_ms >= self.from && s.end_ms() <= frame.windows.end {
            self.since += 1;
            if !s.ok {
                self.failed = true;
            } else if self.failed && self.ok_end.is_none() {
                self.ok_end = s.first_ok_end();
            }
        }
    }

    fn finish(self, frame: &Frame, _: Counted) -> Evaluation {
        if !self.failed {
            return Evaluation {
                verdict: CheckVerdict::Met,
                actual: format!(
                    "never failed after the fault ({} samples); nothing to recover from",
                    self.since
                ),
                value: Some(0.0),
                relative: None,
            };
        }
        match self.ok_end {
            Some(end) => {
                let measured = (end - self.from).max(0.0);
                Evaluation {
                    verdict: verdict(measured <= limit_ms(&self.limit)),
                    actual: format!(
                        "recovered on its own {} after the fault (nothing for gameday to revert)",
                        fmt_ms(measured)
                    ),
                    value: Some(measured),
                    relative: None,
                }
            }
            None => Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!(
                    "did not recover: no successful sample in the {} after the fault",
                    fmt_ms(frame.windows.end - self.from)
                ),
                value: None,
                relative: None,
            },
        }
    }
}

/// `fails_within`: samples while held, the first failure's end.
#[derive(Debug, Clone)]
pub(super) struct FirstFailure {
    limit: HumanDuration,
    held: usize,
    end: Option<f64>,
}

impl Step for FirstFailure {
    fn push(&mut self, s: &ProbeSample, frame: &Frame, _: bool) {
        let w = &frame.windows;
        if s.t_ms >= w.apply_start && s.t_ms < w.revert_start {
            self.held += 1;
            if self.end.is_none() {
                self.end = s.first_failure_end();
            }
        }
    }

    fn finish(self, frame: &Frame, _: Counted) -> Evaluation {
        match self.end {
            Some(end) => {
                let measured = (end - frame.windows.apply_start).max(0.0);
                Evaluation {
                    verdict: verdict(measured <= limit_ms(&self.limit)),
                    actual: format!(
                        "first failure {} after the fault was applied",
                        fmt_ms(measured)
                    ),
                    value: Some(measured),
                    relative: None,
                }
            }
            None => Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!(
                    "never failed while the fault was held ({} samples)",
                    self.held
                ),
                value: None,
                relative: None,
            },
        }
    }
}

/// `value`: how many values held, their range, and why runs had none.
#[derive(Debug, Clone)]
pub(super) struct Values {
    cmp: Comparison<Number>,
    count: usize,
    holding: usize,
    min: f64,
    max: f64,
    why_none: BTreeMap<String, usize>,
}

impl Step for Values {
    fn push(&mut self, s: &ProbeSample, _: &Frame, in_window: bool) {
        if !in_window {
            return;
        }
        match s.value {
            Some(v) => {
                self.count += 1;
                self.holding += usize::from(self.cmp.op.holds(&v, &self.cmp.value.0));
                self.min = self.min.min(v);
                self.max = self.max.max(v);
                self.why_none.clear();
            }
            None if self.count == 0 => {
                let why = s.error.clone().unwrap_or_else(|| "no value".into());
                *self.why_none.entry(why).or_default() += 1;
            }
            None => {}
        }
    }

    fn finish(self, frame: &Frame, Counted { n, .. }: Counted) -> Evaluation {
        let Values {
            cmp,
            count,
            holding,
            min,
            max,
            why_none,
        } = self;
        if count == 0 {
            if n == 0 {
                return frame.empty();
            }
            return Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!(
                    "no value in the {} window: {}",
                    frame.during_name(),
                    tally(why_none)
                ),
                value: None,
                relative: None,
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
            CmpOp::Gt | CmpOp::Ge | CmpOp::Eq | CmpOp::Ne => min,
        };
        Evaluation {
            verdict: verdict(holding == count && missing == 0),
            actual,
            value: Some(worst),
            relative: None,
        }
    }
}

/// `fires_within`: checks since the fault, the first firing's end.
#[derive(Debug, Clone)]
pub(super) struct FirstFiring {
    limit: HumanDuration,
    checks: usize,
    end: Option<f64>,
}

impl Step for FirstFiring {
    fn push(&mut self, s: &ProbeSample, frame: &Frame, _: bool) {
        let w = &frame.windows;
        if s.t_ms >= w.apply_start && s.t_ms < w.end {
            self.checks += 1;
            if self.end.is_none() && s.value.is_some_and(|v| v >= 1.0) {
                self.end = Some(s.end_ms());
            }
        }
    }

    fn finish(self, frame: &Frame, _: Counted) -> Evaluation {
        match self.end {
            Some(end) => {
                let measured = (end - frame.windows.apply_start).max(0.0);
                Evaluation {
                    verdict: verdict(measured <= limit_ms(&self.limit)),
                    actual: format!("fired {} after the fault was applied", fmt_ms(measured)),
                    value: Some(measured),
                    relative: None,
                }
            }
            None => Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!(
                    "never fired between the fault and the end of the cooldown ({} checks)",
                    self.checks
                ),
                value: None,
                relative: None,
            },
        }
    }
}

/// `restarts`: the restart count's reading just before the window (or its
/// first in it), its last, and its increases in between (a new container
/// counts from 0 again).
#[derive(Debug, Clone)]
pub(super) struct RestartCount {
    cmp: Comparison<Number>,
    first: Option<u64>,
    last: Option<u64>,
    increase: u64,
}

impl Step for RestartCount {
    fn push(&mut self, s: &ProbeSample, frame: &Frame, in_window: bool) {
        let Some(count) = s.restarts else {
            return;
        };
        if in_window {
            self.first.get_or_insert(count);
            if let Some(before) = self.last {
                self.increase += count.saturating_sub(before);
            }
            self.last = Some(count);
        } else if s.t_ms < frame.range.0 {
            // The latest reading before the window is where it counts
            // from: a restart right at the window's start still counts.
            self.first = Some(count);
            self.last = Some(count);
        }
    }

    fn finish(self, frame: &Frame, Counted { n, .. }: Counted) -> Evaluation {
        let (Some(first), Some(last), true) = (self.first, self.last, n > 0) else {
            if n == 0 {
                return frame.empty();
            }
            return Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!(
                    "no sample of the {} window read the restart count",
                    frame.during_name()
                ),
                value: None,
                relative: None,
            };
        };
        let increase = self.increase;
        let measured = increase as f64;
        Evaluation {
            verdict: verdict(self.cmp.op.holds(&measured, &self.cmp.value.0)),
            actual: format!(
                "restarted {increase} time{} (restart count {first} to {last} over {n} samples)",
                if increase == 1 { "" } else { "s" }
            ),
            value: Some(measured),
            relative: None,
        }
    }
}

/// `oom_killed`: samples that read the flag, and that saw it set.
#[derive(Debug, Clone)]
pub(super) struct OomSeen {
    wanted: bool,
    read: usize,
    killed: usize,
}

impl Step for OomSeen {
    fn push(&mut self, s: &ProbeSample, _: &Frame, in_window: bool) {
        if let (true, Some(flag)) = (in_window, s.oom_killed) {
            self.read += 1;
            self.killed += usize::from(flag);
        }
    }

    fn finish(self, frame: &Frame, _: Counted) -> Evaluation {
        let OomSeen {
            wanted,
            read,
            killed,
        } = self;
        if read == 0 {
            return frame.empty();
        }
        let actual = if killed > 0 {
            format!("the OOM killer struck: seen by {killed} of {read} samples")
        } else {
            format!("no OOM kill seen over {read} samples")
        };
        Evaluation {
            verdict: verdict((killed > 0) == wanted),
            actual,
            value: Some(killed as f64),
            relative: None,
        }
    }
}

/// Which stats reading a [`Readings`] measure takes.
#[derive(Debug, Clone, Copy)]
enum Reading {
    /// The window's mean CPU use.
    Cpu,
    /// The window's peak memory use.
    Memory,
}

/// `cpu` (mean) and `memory` (peak): the window's readings.
#[derive(Debug, Clone)]
pub(super) struct Readings {
    of: Reading,
    count: usize,
    sum: f64,
    min: f64,
    max: f64,
}

impl Readings {
    fn new(of: Reading) -> Self {
        Readings {
            of,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Measure for Readings {
    fn take(&mut self, s: &ProbeSample, in_window: bool) {
        let reading = match self.of {
            Reading::Cpu => s.cpu_pct,
            Reading::Memory => s.memory_bytes.map(|b| b as f64),
        };
        if let (true, Some(v)) = (in_window, reading) {
            self.count += 1;
            self.sum += v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    fn figure(&mut self, frame: &Frame, Counted { n, .. }: Counted) -> Result<Figure, Evaluation> {
        let Readings {
            of,
            count,
            sum,
            min,
            max,
        } = *self;
        if count == 0 {
            if n == 0 {
                return Err(frame.empty());
            }
            return Err(Evaluation {
                verdict: CheckVerdict::NotMet,
                actual: format!(
                    "no sample of the {} window read the container's stats ({n} samples)",
                    frame.during_name()
                ),
                value: None,
                relative: None,
            });
        }
        Ok(match of {
            Reading::Cpu => {
                let mean = sum / count as f64;
                let pct = |v: f64| CpuPercent(v).to_string();
                Figure {
                    value: mean,
                    said: format!(
                        "a mean of {} of a core (from {} to {}) over {count} samples",
                        pct(mean),
                        pct(min),
                        pct(max)
                    ),
                }
            }
            Reading::Memory => Figure {
                value: max,
                said: format!(
                    "a peak of {} (low {}) over {count} samples",
                    ByteSize(max),
                    ByteSize(min)
                ),
            },
        })
    }

    fn show(&self, amount: f64) -> String {
        match self.of {
            Reading::Cpu => CpuPercent(amount).to_string(),
            Reading::Memory => ByteSize(amount).to_string(),
        }
    }
}
