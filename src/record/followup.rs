//! Follow-up tickets verified by later runs. `gameday annotate --for
//! "SCENARIO[/CHECK]"` links a ticket to the scenario or check it is meant
//! to fix; every later run of the same gameday says, per linked ticket,
//! whether that is now met (fixed), still not met, or met once and not met
//! now (regressed). Pure: it reads archived results handed to it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::archive::ArchivedRun;
use super::result::{RunResult, ScenarioVerdict};

/// What a ticket is meant to fix: a scenario, or one check of it (the
/// check's text as the result writes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TicketTarget {
    pub scenario: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

impl std::fmt::Display for TicketTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.check {
            Some(check) => write!(f, "{} / {check}", self.scenario),
            None => write!(f, "{}", self.scenario),
        }
    }
}

impl TicketTarget {
    /// Resolve `SCENARIO[/CHECK]` against a run's result: the scenario by
    /// its exact name (the longest that fits, since names may hold `/`),
    /// the check by its exact text, else by a unique case-insensitive part
    /// of it (`latency_p99`, `login: status`).
    pub fn resolve(spec: &str, result: &RunResult) -> Result<TicketTarget, String> {
        let mut scenarios: Vec<_> = result.scenarios.iter().collect();
        scenarios.sort_by_key(|s| std::cmp::Reverse(s.name.len()));
        let names = || {
            result
                .scenarios
                .iter()
                .map(|s| format!("\"{}\"", s.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for s in scenarios {
            if spec == s.name {
                return Ok(TicketTarget {
                    scenario: s.name.clone(),
                    check: None,
                });
            }
            let Some(rest) = spec
                .strip_prefix(s.name.as_str())
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            let rest = rest.trim();
            if let Some(e) = s.expectations.iter().find(|e| e.text == rest) {
                return Ok(TicketTarget {
                    scenario: s.name.clone(),
                    check: Some(e.text.clone()),
                });
            }
            let wanted = rest.to_lowercase();
            let found: Vec<_> = s
                .expectations
                .iter()
                .filter(|e| e.text.to_lowercase().contains(&wanted))
                .collect();
            let checks = || {
                s.expectations
                    .iter()
                    .map(|e| format!("\"{}\"", e.text))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return match found.as_slice() {
                [one] => Ok(TicketTarget {
                    scenario: s.name.clone(),
                    check: Some(one.text.clone()),
                }),
                [] => Err(format!(
                    "scenario \"{}\" has no check matching `{rest}`; its checks are {}",
                    s.name,
                    checks()
                )),
                _ => Err(format!(
                    "`{rest}` matches {} checks of scenario \"{}\"; name one of {}",
                    found.len(),
                    s.name,
                    found
                        .iter()
                        .map(|e| format!("\"{}\"", e.text))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
        }
        Err(format!(
            "this run has no scenario `{spec}`; write --for \"SCENARIO\" or \"SCENARIO/CHECK\" with one of {}",
            names()
        ))
    }

    /// Was the target met in this run? `None` when it was not exercised
    /// (the scenario or check is absent, or did not run to a verdict).
    pub fn met_in(&self, result: &RunResult) -> Option<bool> {
        let s = result.scenarios.iter().find(|s| s.name == self.scenario)?;
        match &self.check {
            None => match s.verdict {
                ScenarioVerdict::Met => Some(true),
                ScenarioVerdict::NotMet => Some(false),
                ScenarioVerdict::Aborted | ScenarioVerdict::Error | ScenarioVerdict::Skipped => {
                    None
                }
            },
            Some(text) => {
                let e = s.expectations.iter().find(|e| &e.text == text)?;
                match s.verdict {
                    ScenarioVerdict::Met | ScenarioVerdict::NotMet => Some(e.is_met()),
                    ScenarioVerdict::Aborted
                    | ScenarioVerdict::Error
                    | ScenarioVerdict::Skipped => None,
                }
            }
        }
    }

    /// What this run measured of the target, in words.
    fn evidence_in(&self, result: &RunResult) -> String {
        let Some(s) = result.scenarios.iter().find(|s| s.name == self.scenario) else {
            return "the scenario is not in this run".to_string();
        };
        match &self.check {
            None => format!("scenario {}", s.verdict.word()),
            Some(text) => match s.expectations.iter().find(|e| &e.text == text) {
                Some(e) if matches!(s.verdict, ScenarioVerdict::Met | ScenarioVerdict::NotMet) => {
                    format!(
                        "{}: {}",
                        if e.is_met() { "met" } else { "not met" },
                        e.actual
                    )
                }
                Some(_) | None => format!("scenario {}", s.verdict.word()),
            },
        }
    }
}

/// Where a linked ticket stands in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpState {
    /// Not met when filed, met in this run.
    Fixed,
    /// Not met in any run since it was filed.
    StillNotMet,
    /// Met in a run after it was filed, not met in this one.
    Regressed,
    /// This run did not exercise it (scenario skipped, aborted or gone).
    NotExercised,
}

impl FollowUpState {
    /// As people read it.
    pub fn word(self) -> &'static str {
        match self {
            FollowUpState::Fixed => "fixed: now met",
            FollowUpState::StillNotMet => "still not met",
            FollowUpState::Regressed => "regressed",
            FollowUpState::NotExercised => "not exercised",
        }
    }

    /// With a symbol, for reports.
    pub fn badge(self) -> &'static str {
        match self {
            FollowUpState::Fixed => "✅ fixed: now met",
            FollowUpState::StillNotMet => "❌ still not met",
            FollowUpState::Regressed => "⚠ regressed",
            FollowUpState::NotExercised => "➖ not exercised",
        }
    }
}

/// A linked ticket as one run sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FollowUp {
    pub id: String,
    pub title: String,
    /// The status typed by hand (`open`, `done`, `wont-do`).
    pub status: String,
    /// The run it was filed on (its directory name) and when that ran.
    pub filed_in: String,
    pub filed_at: DateTime<Utc>,
    /// What it is meant to fix, in words: `Database paused / login: status 503 during fault`.
    pub target: String,
    pub state: FollowUpState,
    /// `fixed: now met`, with the state's symbol.
    pub badge: String,
    /// What this run measured of it.
    pub evidence: String,
    /// The run that met it before this one did not (a regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_met_in: Option<String>,
}

/// Every linked ticket filed on a run of the same gameday up to and
/// including `run` (runs oldest first), as `run` sees it.
pub(crate) fn verify(runs: &[ArchivedRun], run: &RunResult) -> Vec<FollowUp> {
    let same: Vec<&ArchivedRun> = runs
        .iter()
        .filter(|r| r.result.gameday.title == run.gameday.title)
        .filter(|r| r.result.started_at <= run.started_at)
        .filter(|r| r.result.run_id != run.run_id)
        .collect();
    let mut out = Vec::new();
    // The runs in time order, this one last (it may not be archived yet).
    let mut timeline: Vec<(&RunResult, Option<&ArchivedRun>)> =
        same.iter().map(|r| (&r.result, Some(*r))).collect();
    let this_archived = runs.iter().find(|r| r.result.run_id == run.run_id);
    timeline.push((run, this_archived));
    for (i, (filed_on, archived)) in timeline.iter().enumerate() {
        let Some(archived) = archived else { continue };
        for ticket in &archived.annotations.tickets {
            let Some(target) = &ticket.target else {
                continue;
            };
            let now = target.met_in(run);
            let mut last_met_in = None;
            // The runs after the one it was filed on, before this one.
            let between = timeline.get(i + 1..timeline.len() - 1).unwrap_or(&[]);
            for (later, later_archived) in between {
                if target.met_in(later) == Some(true) {
                    last_met_in = Some(
                        later_archived
                            .map(|a| a.dir_name())
                            .unwrap_or_else(|| later.run_id.clone()),
                    );
                }
            }
            let state = match now {
                None => FollowUpState::NotExercised,
                Some(true) => FollowUpState::Fixed,
                Some(false) if last_met_in.is_some() => FollowUpState::Regressed,
                Some(false) => FollowUpState::StillNotMet,
            };
            out.push(FollowUp {
                id: ticket.id.clone(),
                title: ticket.title.clone(),
                status: ticket.status.clone(),
                filed_in: archived.dir_name(),
                filed_at: filed_on.started_at,
                target: target.to_string(),
                state,
                badge: state.badge().to_string(),
                evidence: target.evidence_in(run),
                last_met_in: match state {
                    FollowUpState::Regressed => last_met_in,
                    FollowUpState::Fixed
                    | FollowUpState::StillNotMet
                    | FollowUpState::NotExercised => None,
                },
            });
        }
    }
    out
}
