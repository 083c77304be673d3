//! What the reports add to the result: the charts of each scenario (HTML,
//! handed to the template as `html`) and the timeline of every journalled
//! event and note (`events`, for every template).

use std::collections::HashMap;

use serde::Serialize;

use super::chart::{self, Chart, Phase};
use crate::gameday::model::ProbeType;
use crate::probe::ProbeSample;
use crate::record::RunRecord;
use crate::record::flaps::{self, Change};
use crate::record::journal::JournalEntry;

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

pub(super) fn view(record: &RunRecord) -> HtmlView {
    let result = &record.result;
    let mut by_probe: HashMap<&str, Vec<&ProbeSample>> = HashMap::new();
    for row in &record.samples {
        by_probe
            .entry(row.probe.as_str())
            .or_default()
            .push(&row.sample);
    }
    for samples in by_probe.values_mut() {
        samples.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    }
    let empty = Vec::new();
    let scenarios: Vec<ScenarioCharts> = result
        .scenarios
        .iter()
        .map(|s| {
            let Some(w) = s.windows else {
                return ScenarioCharts {
                    name: s.name.clone(),
                    charts: Vec::new(),
                };
            };
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
            let charts = result
                .probes
                .iter()
                .map(|p| {
                    let samples = by_probe.get(p.name.as_str()).unwrap_or(&empty);
                    // Kinds are read back from result.json: one unknown to
                    // this version is charted by latency.
                    let measure = match ProbeType::from_key(&p.kind) {
                        Some(ProbeType::Container) => {
                            return chart::state_chart(&p.name, samples, range, &phases);
                        }
                        Some(ProbeType::Prometheus | ProbeType::Logs | ProbeType::Alert) => {
                            chart::Measure::Value
                        }
                        Some(
                            ProbeType::Http | ProbeType::Tcp | ProbeType::Exec | ProbeType::Command,
                        )
                        | None => chart::Measure::Latency,
                    };
                    chart::latency_chart(&p.name, &p.kind, measure, samples, range, &phases)
                })
                .collect();
            ScenarioCharts {
                name: s.name.clone(),
                charts,
            }
        })
        .collect();
    let chart_count = scenarios.iter().map(|s| s.charts.len()).sum();
    HtmlView {
        scenarios,
        chart_count,
    }
}

/// Every journalled event and every note, in time order.
pub(super) fn events(record: &RunRecord) -> Vec<EventRow> {
    let result = &record.result;
    let start = result.started_at;
    let offset = |at: chrono::DateTime<chrono::Utc>| {
        format!("+{:.1}s", (at - start).num_milliseconds() as f64 / 1000.0)
    };
    // A flapping probe's changes fold into one line (see record::flaps).
    let ms_of = |at: chrono::DateTime<chrono::Utc>| (at - start).num_milliseconds() as f64;
    let changes: Vec<(usize, Change<'_>)> = record
        .journal
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            JournalEntry::ProbeChanged { at, probe, .. } => Some((
                i,
                Change {
                    t_ms: ms_of(*at),
                    probe: probe.as_str(),
                },
            )),
            _ => None,
        })
        .collect();
    let just: Vec<Change<'_>> = changes.iter().map(|(_, c)| c.clone()).collect();
    let (keep, flaps) = flaps::collapse(&just);
    let folded: std::collections::HashSet<usize> = changes
        .iter()
        .zip(&keep)
        .filter(|(_, k)| !**k)
        .map(|((i, _), _)| *i)
        .collect();
    let mut events: Vec<(chrono::DateTime<chrono::Utc>, EventRow)> = record
        .journal
        .iter()
        .enumerate()
        .filter(|(i, _)| !folded.contains(i))
        .map(|(_, e)| {
            let (at, kind, text) = match e {
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
                    result.ended_at,
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
            };
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
    for flap in &flaps {
        let samples: Vec<&ProbeSample> = record
            .samples
            .iter()
            .filter(|r| r.probe == flap.probe)
            .map(|r| &r.sample)
            .collect();
        // Journal times and sample times both count from the run's start.
        let at = start + chrono::Duration::milliseconds(flap.from_ms as i64);
        events.push((
            at,
            EventRow {
                offset: offset(at),
                kind: "probe".into(),
                text: flaps::describe(flap, &samples),
            },
        ));
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
