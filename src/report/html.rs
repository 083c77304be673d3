//! What the reports add to the result: the charts of each scenario (HTML,
//! handed to the template as `html`) and the timeline of every journalled
//! event and note, and of each change of the version answering a probe
//! (`events`, for every template). The charts and the flap lines come from
//! one pass over `samples.jsonl` ([`prepare`]), folded as it is read: a run
//! of a day renders in the memory of a run of a minute.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::chart::{self, Chart, Phase};
use crate::gameday::model::ProbeType;
use crate::probe::ProbeSample;
use crate::record::RunRecord;
use crate::record::flaps::{self, Change, Flap, FlapCount};
use crate::record::journal::JournalEntry;
use crate::record::result::{ProbeSummary, ScenarioResult};

#[derive(Debug, Clone, Serialize)]
pub(super) struct HtmlView {
    /// Per scenario (same order as `scenarios`), its charts.
    pub scenarios: Vec<ScenarioCharts>,
    pub chart_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct ScenarioCharts {
    pub name: String,
    pub charts: Vec<Chart>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct EventRow {
    pub offset: String,
    pub kind: String,
    pub text: String,
}

/// A chart being filled by the pass over the samples. A container probe
/// gets its state strip, and its CPU and memory lines when the engine gave
/// stats.
enum Series {
    Latency(chart::LatencySeries),
    State(Box<ContainerSeries>),
    Load(Box<super::load_chart::LoadSeries>),
}

struct ContainerSeries {
    state: chart::StateSeries,
    cpu: chart::LatencySeries,
    memory: chart::LatencySeries,
}

/// A scenario's charts being filled: its range, its phases, a series per probe.
struct Charted {
    range: (f64, f64),
    phases: [Phase; 3],
    series: Vec<Series>,
}

/// What the templates get beyond the result: the charts (when asked for)
/// and the event timeline, from one pass over the samples. Neither grows
/// with the number of samples.
#[derive(Clone)]
pub(super) struct Prepared {
    pub view: Option<HtmlView>,
    pub events: Vec<EventRow>,
}

pub(super) fn prepare(record: &RunRecord, charts: bool) -> Prepared {
    let result = &record.result;
    // Per scenario with windows: its range, its phases, a series per probe.
    let mut scenarios: Vec<Option<Charted>> = if charts {
        result
            .scenarios
            .iter()
            .map(|s| Charted::of(s, &result.probes))
            .collect()
    } else {
        Vec::new()
    };
    let probe_index: HashMap<&str, usize> = result
        .probes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let (folded, flaps) = journal_flaps(record);
    let mut counts = vec![FlapCount::default(); flaps.len()];
    if !flaps.is_empty() || scenarios.iter().any(Option::is_some) {
        let index = flaps::FlapIndex::new(&flaps);
        record.samples.for_each(|probe, sample| {
            if let Some(f) = index.covering(probe, sample.t_ms) {
                counts[f].push(&flaps[f], sample);
            }
            let Some(&i) = probe_index.get(probe) else {
                return;
            };
            for charted in scenarios.iter_mut().flatten() {
                charted.push(i, sample);
            }
        });
    }
    let flap_lines: Vec<(f64, String)> = flaps
        .iter()
        .zip(counts)
        .map(|(flap, count)| (flap.from_ms, count.describe(flap)))
        .collect();
    let events = events(record, &folded, flap_lines);
    let view = charts.then(|| {
        let scenarios: Vec<ScenarioCharts> = result
            .scenarios
            .iter()
            .zip(scenarios)
            .map(|(s, charted)| ScenarioCharts {
                name: s.name.clone(),
                charts: charted.map_or_else(Vec::new, |c| c.into_charts(&result.probes)),
            })
            .collect();
        let chart_count = scenarios.iter().map(|s| s.charts.len()).sum();
        HtmlView {
            scenarios,
            chart_count,
        }
    });
    Prepared { view, events }
}

impl Charted {
    /// The charts of scenario `s` to fill, over its range: the fault's
    /// window, with a lead of its baseline; none for a scenario without
    /// windows (it never ran).
    fn of(s: &ScenarioResult, probes: &[ProbeSummary]) -> Option<Charted> {
        let w = s.windows?;
        let held = (w.end - w.apply_start).max(1.0);
        let lead = (w.baseline.1 - w.baseline.0).min(held * 0.15).max(0.0);
        let range = (w.apply_start - lead, w.end);
        let phases = [
            Phase {
                start_ms: range.0,
                end_ms: w.apply_start,
                class: "phase-before",
                label: "before",
            },
            Phase {
                start_ms: w.fault_start,
                end_ms: w.revert_start,
                class: "phase-fault",
                label: "fault",
            },
            Phase {
                start_ms: w.revert_start,
                end_ms: w.end,
                class: "phase-after",
                label: "cooldown",
            },
        ];
        let series = probes.iter().map(|p| Series::of(p, range)).collect();
        Some(Charted {
            range,
            phases,
            series,
        })
    }

    /// A sample of probe `i`, kept when it falls in the range.
    fn push(&mut self, i: usize, sample: &ProbeSample) {
        let t = sample.t_ms;
        if t >= self.range.0 && t <= self.range.1 {
            self.series[i].push(sample);
        }
    }

    fn into_charts(self, probes: &[ProbeSummary]) -> Vec<Chart> {
        let Charted { phases, series, .. } = self;
        probes
            .iter()
            .zip(series)
            .flat_map(|(p, series)| series.into_charts(p, &phases))
            .collect()
    }
}

impl Series {
    /// The series of probe `p`, by its kind.
    fn of(p: &ProbeSummary, range: (f64, f64)) -> Series {
        // Kinds are read back from result.json: one unknown to this
        // version is charted by latency.
        let measure = match ProbeType::from_key(&p.kind) {
            Some(ProbeType::Container) => {
                return Series::State(Box::new(ContainerSeries {
                    state: chart::StateSeries::new(range),
                    cpu: chart::LatencySeries::new(chart::Measure::Cpu, range),
                    memory: chart::LatencySeries::new(chart::Measure::Memory, range),
                }));
            }
            Some(ProbeType::Load) => {
                return Series::Load(Box::new(super::load_chart::LoadSeries::new(range)));
            }
            Some(ProbeType::Prometheus | ProbeType::Logs | ProbeType::Alert) => {
                chart::Measure::Value
            }
            Some(
                ProbeType::Http
                | ProbeType::Tcp
                | ProbeType::Exec
                | ProbeType::Command
                | ProbeType::Ledger,
            )
            | None => chart::Measure::Latency,
        };
        Series::Latency(chart::LatencySeries::new(measure, range))
    }

    fn push(&mut self, sample: &ProbeSample) {
        match self {
            Series::Latency(s) => s.push(sample),
            Series::Load(s) => s.push(sample),
            Series::State(s) => {
                s.state.push(sample);
                s.cpu.push(sample);
                s.memory.push(sample);
            }
        }
    }

    /// A container's state strip, and its CPU and memory lines when the
    /// engine gave stats; any other probe's one line.
    fn into_charts(self, p: &ProbeSummary, phases: &[Phase; 3]) -> Vec<Chart> {
        match self {
            Series::State(series) => {
                let ContainerSeries { state, cpu, memory } = *series;
                let mut charts = vec![chart::state_chart(&p.name, state, phases)];
                for stats in [cpu, memory] {
                    if stats.has_values() {
                        charts.push(chart::latency_chart(&p.name, &p.kind, stats, phases));
                    }
                }
                charts
            }
            Series::Latency(series) => {
                vec![chart::latency_chart(&p.name, &p.kind, series, phases)]
            }
            Series::Load(series) => series.charts(&p.name, &p.kind, phases),
        }
    }
}

/// The journal's probe changes that fold into flaps (by journal index),
/// and the flaps (see record::flaps).
fn journal_flaps(record: &RunRecord) -> (HashSet<usize>, Vec<Flap<'_>>) {
    let start = record.result.started_at;
    let ms_of = |at: chrono::DateTime<chrono::Utc>| (at - start).num_milliseconds() as f64;
    let changes: Vec<(usize, Change<'_>)> = record
        .journal
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let JournalEntry::ProbeChanged { at, probe, .. } = e else {
                return None;
            };
            Some((
                i,
                Change {
                    t_ms: ms_of(*at),
                    probe: probe.as_str(),
                },
            ))
        })
        .collect();
    let just: Vec<Change<'_>> = changes.iter().map(|(_, c)| c.clone()).collect();
    let (keep, flaps) = flaps::collapse(&just);
    let folded = changes
        .iter()
        .zip(&keep)
        .filter(|(_, k)| !**k)
        .map(|((i, _), _)| *i)
        .collect();
    (folded, flaps)
}

/// Every journalled event and every note, in time order; the probe
/// changes in `folded` are left out and each flap line stands for its run.
fn events(record: &RunRecord, folded: &HashSet<usize>, flaps: Vec<(f64, String)>) -> Vec<EventRow> {
    let result = &record.result;
    let start = result.started_at;
    let offset = |at: chrono::DateTime<chrono::Utc>| {
        format!("+{:.1}s", (at - start).num_milliseconds() as f64 / 1000.0)
    };
    let mut events: Vec<(chrono::DateTime<chrono::Utc>, EventRow)> = record
        .journal
        .iter()
        .enumerate()
        .filter(|(i, _)| !folded.contains(i))
        .map(|(_, e)| {
            let (at, kind, text) = journal_event(e, start, result.ended_at);
            (
                at,
                EventRow {
                    offset: offset(at),
                    kind: kind.to_string(),
                    text,
                },
            )
        })
        .collect();
    for (from_ms, text) in flaps {
        // Journal times and sample times both count from the run's start.
        let at = start + chrono::Duration::milliseconds(from_ms as i64);
        events.push((
            at,
            EventRow {
                offset: offset(at),
                kind: "probe".into(),
                text,
            },
        ));
    }
    for p in &result.probes {
        for (change, text) in p.versions.iter().flat_map(|v| v.lines(&p.name)) {
            events.push((
                change.at,
                EventRow {
                    offset: offset(change.at),
                    kind: "version".into(),
                    text,
                },
            ));
        }
    }
    for note in &record.annotations.notes {
        events.push((
            note.at,
            EventRow {
                offset: offset(note.at),
                kind: "note".into(),
                text: note.text.clone(),
            },
        ));
    }
    events.sort_by_key(|(at, _)| *at);
    events.into_iter().map(|(_, e)| e).collect()
}

/// One journal entry as the event timeline shows it: when, its kind, and
/// what happened in words (`start` and `ended` stand in for the entries
/// that carry no time).
fn journal_event(
    e: &JournalEntry,
    start: chrono::DateTime<chrono::Utc>,
    ended: chrono::DateTime<chrono::Utc>,
) -> (chrono::DateTime<chrono::Utc>, &'static str, String) {
    match e {
        JournalEntry::RunStarted { at, gameday, .. } => {
            (*at, "run", format!("run of \"{gameday}\" started"))
        }
        JournalEntry::WatchdogStarted {
            at, engine, how, ..
        } => (
            *at,
            "run",
            format!("watchdog of engine `{engine}` armed: {how}"),
        ),
        JournalEntry::WatchdogFired { at, reason, faults } => (
            *at,
            "halt",
            format!("the watchdog reverted {faults} fault(s): {reason}"),
        ),
        JournalEntry::ClaimTakenOver { at, from } => (
            *at,
            "run",
            format!("took over the claim on the scope left by {from}"),
        ),
        JournalEntry::Phase {
            at,
            scenario,
            phase,
            until: _,
        } => (
            *at,
            "phase",
            match scenario {
                Some(s) if !phase.contains(s.as_str()) => format!("{s}: {phase}"),
                _ => phase.clone(),
            },
        ),
        JournalEntry::FaultIntent {
            at, kind, recipe, ..
        } => (
            *at,
            "fault",
            format!(
                "{kind} {}: revert recipe journalled",
                recipe.container_name()
            ),
        ),
        JournalEntry::FaultApplied {
            requested_at,
            fault_id,
            ..
        } => (*requested_at, "fault", format!("fault {fault_id} applied")),
        JournalEntry::FaultApplyFailed { fault_id, error } => (
            start,
            "error",
            format!("fault {fault_id} could not be applied: {error}"),
        ),
        JournalEntry::FaultReverted {
            requested_at,
            fault_id,
            by,
            ..
        } => (
            *requested_at,
            "fault",
            format!("fault {fault_id} reverted (by {by})"),
        ),
        JournalEntry::FaultRevertFailed {
            fault_id,
            error,
            by_hand,
        } => (
            ended,
            "error",
            format!("fault {fault_id} NOT reverted: {error}; by hand: {by_hand}"),
        ),
        JournalEntry::Observation { at, by, text, .. } => {
            (*at, "observation", format!("{by}: {text}"))
        }
        JournalEntry::ProbeChanged {
            at,
            probe,
            ok,
            detail,
        } => (
            *at,
            "probe",
            format!(
                "probe {probe}: {} ({detail})",
                if *ok { "ok" } else { "failing" }
            ),
        ),
        JournalEntry::Halted { at, reason } => (*at, "halt", reason.clone()),
        JournalEntry::RunFinished { at, exit_code } => {
            (*at, "run", format!("run finished, exit code {exit_code}"))
        }
    }
}
