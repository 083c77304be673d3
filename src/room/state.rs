//! What the live room shows, folded from the run directory as it grows:
//! [`RoomState`] takes journal entries, sample rows and, at the end,
//! `result.json`, and says what changed as [`Update`]s, so a viewer gets
//! the whole state once ([`RoomState`] serialized is the `snapshot`) and
//! then only the changes. Pure: no clock, no file, no socket.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::record::journal::JournalEntry;
use crate::record::result::{ObservationKind, RunResult};
use crate::record::samples::SampleRow;

/// How many timeline lines a viewer is given; older ones are dropped
/// (and counted).
pub(crate) const TIMELINE_LINES: usize = 1000;
/// How many latencies a probe's sparkline shows.
pub(crate) const SPARK_POINTS: usize = 60;
/// How many observations are kept (far more than a gameday's team writes).
const OBSERVATIONS: usize = 2000;

/// The run, as its journal's first line says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct RunInfo {
    pub gameday: String,
    pub run_id: String,
    pub participants: Vec<String>,
    pub environment: Option<String>,
    pub file: String,
    pub scope: String,
    pub started_at: Option<DateTime<Utc>>,
}

/// The phase under way: `fault`, `cooldown`, `waiting for the operator`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PhaseView {
    pub scenario: Option<String>,
    pub label: String,
    pub at: DateTime<Utc>,
    /// When it ends, when known: the page counts down to it.
    pub until: Option<DateTime<Utc>>,
}

/// A fault in place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FaultView {
    pub fault_id: String,
    pub scenario: String,
    pub kind: String,
    /// In words, with its target: `pause api-1`.
    pub what: String,
    pub mechanism: Option<String>,
    pub since: DateTime<Utc>,
}

/// One probe as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ProbeView {
    pub name: String,
    /// None until its first sample.
    pub ok: Option<bool>,
    /// Its latest sample in words: `200 12ms`, `paused`.
    pub brief: String,
    /// Its last [`SPARK_POINTS`] latencies (ms), oldest first.
    pub latencies: VecDeque<f64>,
    /// A load probe's latest interval: requests sent per second, and p99 (ms).
    pub rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub samples: u64,
}

impl ProbeView {
    fn new(name: &str) -> ProbeView {
        ProbeView {
            name: name.to_string(),
            ok: None,
            brief: String::new(),
            latencies: VecDeque::new(),
            rate: None,
            p99_ms: None,
            samples: 0,
        }
    }
}

/// What a timeline line is about, for the page to style it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LineKind {
    Phase,
    Fault,
    Revert,
    Probe,
    Halt,
    Observation,
    Problem,
    Run,
}

/// One line of the event timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TimelineLine {
    pub at: DateTime<Utc>,
    /// `+12.3s` since the run started.
    pub offset: String,
    pub kind: LineKind,
    pub text: String,
}

/// An observation someone wrote (at the terminal or on the page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ObservationView {
    pub at: DateTime<Utc>,
    pub scenario: Option<String>,
    pub by: String,
    pub kind: ObservationKind,
    pub text: String,
}

/// One expectation's verdict at the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckView {
    pub text: String,
    pub verdict: String,
    pub actual: String,
}

/// One scenario's verdict at the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct VerdictView {
    pub scenario: String,
    /// `met`, `not_met`, `aborted`, `error`, `skipped`.
    pub verdict: String,
    pub word: String,
    pub checks: Vec<CheckView>,
}

/// One readiness item at the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChecklistView {
    pub item: String,
    pub status: String,
}

/// How the run ended: the journal's last line, then `result.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct EndView {
    pub exit_code: Option<u8>,
    /// `met`, `not_met`, `aborted`, `fault_left` (once `result.json` is read).
    pub outcome: Option<String>,
    pub outcome_text: Option<String>,
    pub aborted_reason: Option<String>,
    pub verdicts: Vec<VerdictView>,
    pub checklist: Vec<ChecklistView>,
    pub faults_left: Vec<String>,
    pub report_path: Option<String>,
}

/// Everything the page shows; serialized, the `snapshot` a viewer gets first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct RoomState {
    pub run: RunInfo,
    pub phase: Option<PhaseView>,
    pub faults: Vec<FaultView>,
    pub probes: Vec<ProbeView>,
    pub timeline: VecDeque<TimelineLine>,
    /// Timeline lines dropped from the front (beyond [`TIMELINE_LINES`]).
    pub timeline_dropped: usize,
    pub observations: VecDeque<ObservationView>,
    /// Set when the run said it finished.
    pub end: Option<EndView>,
    /// Faults intended, not yet confirmed applied: shown once applied.
    #[serde(skip)]
    intents: BTreeMap<String, FaultView>,
    /// Probes with samples folded since the last [`RoomState::probe_updates`].
    #[serde(skip)]
    dirty: BTreeSet<usize>,
    /// Probes whose state the journal has said once: the first says what
    /// it is (`ok`), the next ones that it changed (`recovered`, `failing`).
    #[serde(skip)]
    stated: BTreeSet<String>,
}

/// One change, sent to every viewer as an SSE `update` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Update {
    Run {
        run: RunInfo,
        probes: Vec<ProbeView>,
    },
    Phase {
        phase: PhaseView,
    },
    FaultOn {
        fault: FaultView,
    },
    FaultOff {
        fault_id: String,
    },
    Probe {
        probe: ProbeView,
    },
    Timeline {
        line: TimelineLine,
        dropped: usize,
    },
    Observation {
        observation: ObservationView,
    },
    End {
        end: EndView,
    },
}

/// `+12.3s` from `start` to `at`.
fn offset(start: Option<DateTime<Utc>>, at: DateTime<Utc>) -> String {
    let ms = start.map_or(0, |s| (at - s).num_milliseconds()).max(0);
    format!("+{:.1}s", ms as f64 / 1000.0)
}

impl RoomState {
    /// Fold one journal entry; what changed.
    pub(crate) fn journal(&mut self, entry: &JournalEntry) -> Vec<Update> {
        match entry {
            JournalEntry::RunStarted {
                run_id,
                gameday,
                scope,
                file,
                at,
                participants,
                environment,
                probes,
                ..
            } => self.started(
                RunInfo {
                    gameday: gameday.clone(),
                    run_id: run_id.clone(),
                    participants: participants.clone(),
                    environment: environment.clone(),
                    file: file.clone(),
                    scope: scope.clone(),
                    started_at: Some(*at),
                },
                probes,
            ),
            JournalEntry::ClaimTakenOver { from, at } => self.line(
                *at,
                LineKind::Run,
                format!("took over the claim left by {from}"),
            ),
            JournalEntry::Phase {
                scenario,
                phase,
                at,
                until,
            } => self.phase(scenario.clone(), phase.clone(), *at, *until),
            JournalEntry::FaultIntent {
                fault_id,
                scenario,
                kind,
                recipe,
                at,
                what,
                ..
            } => {
                let what = what
                    .clone()
                    .unwrap_or_else(|| format!("{kind} {}", recipe.container_name()));
                self.intended(FaultView {
                    fault_id: fault_id.clone(),
                    scenario: scenario.clone(),
                    kind: kind.clone(),
                    what,
                    mechanism: None,
                    since: *at,
                })
            }
            JournalEntry::FaultApplied {
                fault_id,
                requested_at,
                confirmed_at,
                mechanism,
            } => self.applied(fault_id, confirmed_at.unwrap_or(*requested_at), mechanism),
            JournalEntry::FaultApplyFailed { fault_id, error } => {
                let at = self.intents.remove(fault_id).map(|f| f.since);
                self.line(
                    at.unwrap_or_else(|| self.last_at()),
                    LineKind::Problem,
                    format!("fault {fault_id} could not be applied: {error}"),
                )
            }
            JournalEntry::FaultReverted {
                fault_id,
                by,
                requested_at,
                confirmed_at,
            } => self.reverted(fault_id, by, confirmed_at.unwrap_or(*requested_at)),
            JournalEntry::FaultRevertFailed {
                fault_id,
                error,
                by_hand,
            } => self.line(
                self.last_at(),
                LineKind::Problem,
                format!("fault {fault_id} could not be reverted: {error}; undo with `{by_hand}`"),
            ),
            JournalEntry::ProbeChanged {
                probe,
                ok,
                detail,
                at,
            } => {
                let first = self.stated.insert(probe.clone());
                self.line(
                    *at,
                    LineKind::Probe,
                    format!(
                        "{probe} {}: {detail}",
                        match (ok, first) {
                            (true, true) => "ok",
                            (true, false) => "recovered",
                            (false, _) => "failing",
                        }
                    ),
                )
            }
            JournalEntry::Halted { reason, at } => {
                self.line(*at, LineKind::Halt, format!("halted: {reason}"))
            }
            JournalEntry::Observation {
                scenario,
                by,
                kind,
                text,
                at,
            } => self.observation(ObservationView {
                at: *at,
                scenario: scenario.clone(),
                by: by.clone(),
                kind: *kind,
                text: text.clone(),
            }),
            JournalEntry::WatchdogStarted {
                engine, how, at, ..
            } => self.line(
                *at,
                LineKind::Run,
                format!("watchdog of engine {engine} armed: {how}"),
            ),
            JournalEntry::WatchdogFired { reason, faults, at } => self.line(
                *at,
                LineKind::Halt,
                format!("the watchdog fired ({reason}) holding {faults} fault(s)"),
            ),
            JournalEntry::RunFinished { exit_code, at } => self.finished(*exit_code, *at),
        }
    }

    fn started(&mut self, run: RunInfo, probes: &[String]) -> Vec<Update> {
        let line = format!("run {} started", run.run_id);
        let at = run.started_at.unwrap_or_default();
        self.run = run;
        self.probes = probes.iter().map(|p| ProbeView::new(p)).collect();
        let mut updates = vec![Update::Run {
            run: self.run.clone(),
            probes: self.probes.clone(),
        }];
        updates.extend(self.line(at, LineKind::Run, line));
        updates
    }

    /// A fault about to be applied: shown once it is.
    fn intended(&mut self, fault: FaultView) -> Vec<Update> {
        self.intents.insert(fault.fault_id.clone(), fault);
        Vec::new()
    }

    /// The time of the latest line (for entries that carry none).
    fn last_at(&self) -> DateTime<Utc> {
        self.timeline
            .back()
            .map(|l| l.at)
            .or(self.run.started_at)
            .unwrap_or_default()
    }

    fn phase(
        &mut self,
        scenario: Option<String>,
        label: String,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Vec<Update> {
        let phase = PhaseView {
            scenario: scenario.clone(),
            label: label.clone(),
            at,
            until,
        };
        self.phase = Some(phase.clone());
        let text = match &scenario {
            Some(s) => format!("{s}: {label}"),
            None => label,
        };
        let mut updates = vec![Update::Phase { phase }];
        updates.extend(self.line(at, LineKind::Phase, text));
        updates
    }

    fn applied(
        &mut self,
        fault_id: &str,
        at: DateTime<Utc>,
        mechanism: &Option<String>,
    ) -> Vec<Update> {
        let Some(mut fault) = self.intents.remove(fault_id) else {
            return Vec::new();
        };
        fault.mechanism = mechanism.clone();
        fault.since = at;
        let text = match &fault.mechanism {
            Some(m) => format!("applied {} ({m})", fault.what),
            None => format!("applied {}", fault.what),
        };
        self.faults.retain(|f| f.fault_id != fault_id);
        self.faults.push(fault.clone());
        let mut updates = vec![Update::FaultOn { fault }];
        updates.extend(self.line(at, LineKind::Fault, text));
        updates
    }

    fn reverted(&mut self, fault_id: &str, by: &str, at: DateTime<Utc>) -> Vec<Update> {
        self.intents.remove(fault_id);
        let Some(i) = self.faults.iter().position(|f| f.fault_id == fault_id) else {
            return Vec::new();
        };
        let fault = self.faults.remove(i);
        let mut updates = vec![Update::FaultOff {
            fault_id: fault_id.to_string(),
        }];
        updates.extend(self.line(
            at,
            LineKind::Revert,
            format!("reverted {} (by {by})", fault.what),
        ));
        updates
    }

    fn observation(&mut self, observation: ObservationView) -> Vec<Update> {
        let text = match observation.kind {
            ObservationKind::Note => format!("{}: {}", observation.by, observation.text),
            kind => format!(
                "{} ({}): {}",
                observation.by,
                kind.as_str(),
                observation.text
            ),
        };
        if self.observations.len() == OBSERVATIONS {
            self.observations.pop_front();
        }
        let at = observation.at;
        self.observations.push_back(observation.clone());
        let mut updates = vec![Update::Observation { observation }];
        updates.extend(self.line(at, LineKind::Observation, text));
        updates
    }

    fn finished(&mut self, exit_code: u8, at: DateTime<Utc>) -> Vec<Update> {
        let end = self.end.get_or_insert_with(EndView::default);
        end.exit_code = Some(exit_code);
        let end = end.clone();
        let mut updates = self.line(
            at,
            LineKind::Run,
            format!("run finished (exit {exit_code})"),
        );
        updates.push(Update::End { end });
        updates
    }

    /// One timeline line, the oldest dropped beyond [`TIMELINE_LINES`].
    fn line(&mut self, at: DateTime<Utc>, kind: LineKind, text: String) -> Vec<Update> {
        let line = TimelineLine {
            at,
            offset: offset(self.run.started_at, at),
            kind,
            text,
        };
        if self.timeline.len() == TIMELINE_LINES {
            self.timeline.pop_front();
            self.timeline_dropped += 1;
        }
        self.timeline.push_back(line.clone());
        vec![Update::Timeline {
            line,
            dropped: self.timeline_dropped,
        }]
    }

    /// Fold one sample; its probe's update comes from
    /// [`RoomState::probe_updates`], once per batch of samples.
    pub(crate) fn sample(&mut self, row: &SampleRow) {
        let index = match self.probes.iter().position(|p| p.name == row.probe) {
            Some(i) => i,
            None => {
                self.probes.push(ProbeView::new(&row.probe));
                self.probes.len() - 1
            }
        };
        let probe = &mut self.probes[index];
        let sample = &row.sample;
        probe.ok = Some(sample.ok);
        probe.brief = sample.brief();
        probe.samples += 1;
        if probe.latencies.len() == SPARK_POINTS {
            probe.latencies.pop_front();
        }
        probe
            .latencies
            .push_back((sample.latency_ms * 10.0).round() / 10.0);
        if let Some(load) = &sample.load {
            probe.rate = (load.span_ms > 0.0)
                .then(|| (load.sent() as f64 * 1000.0 / load.span_ms * 10.0).round() / 10.0);
            probe.p99_ms = load.latency.percentile_ms(99.0);
        }
        self.dirty.insert(index);
    }

    /// One update per probe that had samples since the last call.
    pub(crate) fn probe_updates(&mut self) -> Vec<Update> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|i| self.probes.get(i).cloned())
            .map(|probe| Update::Probe { probe })
            .collect()
    }

    /// Fold `result.json`: the verdicts, the checklist, the outcome.
    pub(crate) fn result(&mut self, result: &RunResult) -> Vec<Update> {
        let end = self.end.get_or_insert_with(EndView::default);
        end.exit_code = Some(result.exit_code);
        end.outcome = Some(result.outcome.key().to_string());
        end.outcome_text = Some(result.outcome.text().to_string());
        end.aborted_reason = result.aborted_reason.clone();
        end.verdicts = result
            .scenarios
            .iter()
            .map(|s| VerdictView {
                scenario: s.name.clone(),
                verdict: s.verdict.key().to_string(),
                word: s.verdict.word().to_string(),
                checks: s
                    .expectations
                    .iter()
                    .map(|e| CheckView {
                        text: e.text.clone(),
                        verdict: e.verdict.key().to_string(),
                        actual: e.actual.clone(),
                    })
                    .collect(),
            })
            .collect();
        end.checklist = result
            .checklist
            .iter()
            .map(|c| ChecklistView {
                item: c.item.clone(),
                status: c.status.key().to_string(),
            })
            .collect();
        end.faults_left = result
            .faults_left
            .iter()
            .map(|f| format!("{} on {}: undo with `{}`", f.kind, f.container, f.by_hand))
            .collect();
        vec![Update::End { end: end.clone() }]
    }

    /// The report was written at `path`.
    pub(crate) fn report(&mut self, path: &str) -> Vec<Update> {
        let end = self.end.get_or_insert_with(EndView::default);
        end.report_path = Some(path.to_string());
        vec![Update::End { end: end.clone() }]
    }

    /// Whether `result.json` was folded.
    pub(crate) fn has_result(&self) -> bool {
        self.end.as_ref().is_some_and(|e| e.outcome.is_some())
    }

    /// Whether the run said it finished.
    pub(crate) fn ended(&self) -> bool {
        self.end.is_some()
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
