//! The "Detection" section of the reports, as words: per scenario that
//! ran, when users were first hurt, the first alert, the first person,
//! the mitigation and the recovery (each after the fault, and after the
//! users were hurt), its class; the run's alert coverage and median time
//! to detect. The templates only lay these out; `junit` writes the same
//! as properties. Pure.

use serde::Serialize;

use crate::record::detection::{DetectionSummary, Moment, ScenarioDetection};
use crate::record::result::RunResult;

/// The section, when some scenario has a detection.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DetectionView {
    pub rows: Vec<DetectionRow>,
    /// `1 of 2 hurt scenarios paged (50%)`.
    pub coverage: String,
    /// `8s (over 1 hurt scenario detected)`.
    pub median: String,
    /// Hurt scenarios nobody was paged for, by name.
    pub unpaged: Vec<String>,
}

/// One scenario's line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DetectionRow {
    pub scenario: String,
    /// `+1.01s (login)`, `—`.
    pub hurt: String,
    /// `+12.4s (db-alert); lag +11.39s`, `—`.
    pub alert: String,
    pub person: String,
    pub mitigated: String,
    pub recovered: String,
    /// `hurt_not_paged`.
    pub class: &'static str,
    /// `hurt and nobody paged`.
    pub class_words: &'static str,
    /// `people noticed`, `no person said so`.
    pub people: &'static str,
}

impl DetectionRow {
    fn of(scenario: &str, d: &ScenarioDetection) -> DetectionRow {
        DetectionRow {
            scenario: scenario.to_string(),
            hurt: d.users_hurt.as_ref().map_or_else(dash, |m| at(m, false)),
            alert: d.first_alert.as_ref().map_or_else(dash, |m| at(m, true)),
            person: d.first_person.as_ref().map_or_else(dash, |m| at(m, true)),
            mitigated: d.mitigated.as_ref().map_or_else(dash, |m| at(m, true)),
            recovered: d.recovered.as_ref().map_or_else(dash, |m| at(m, true)),
            class: d.class.key(),
            class_words: d.class.words(),
            people: if d.people_noticed {
                "people noticed"
            } else {
                "no person said so"
            },
        }
    }
}

fn dash() -> String {
    "—".to_string()
}

/// `+12.4s (db-alert); lag +11.39s`: after the fault, by whom, and after
/// the users were hurt when they were.
fn at(m: &Moment, lag: bool) -> String {
    let by =
        m.by.as_deref()
            .map(|b| format!(" ({b})"))
            .unwrap_or_default();
    let mut text = format!("{}{by}", m.after_fault());
    if lag && m.after_hurt_ms.is_some() {
        text.push_str(&format!("; lag {}", m.after_hurt()));
    }
    text
}

/// The section of a result; `None` when no scenario has a detection (it
/// did not run, or the result was written before detection was measured).
pub(crate) fn view(result: &RunResult) -> Option<DetectionView> {
    let rows: Vec<DetectionRow> = result
        .scenarios
        .iter()
        .filter_map(|s| Some(DetectionRow::of(&s.name, s.detection.as_ref()?)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let summary = result.detection.clone().or_else(|| {
        DetectionSummary::of(result.scenarios.iter().filter_map(|s| s.detection.as_ref()))
    })?;
    Some(DetectionView {
        unpaged: rows
            .iter()
            .filter(|r| r.class == "hurt_not_paged")
            .map(|r| r.scenario.clone())
            .collect(),
        rows,
        coverage: summary.coverage_words(),
        median: summary.median_words(),
    })
}
