//! "Who noticed what, when": per scenario, when users were first hurt (a
//! user-facing probe's first failure), the first alert firing, the first
//! person saying `detected`, the first `mitigated`, and when every probe
//! that failed was ok again, each after the first fault and after the
//! users were hurt; its class (hurt and paged, hurt and nobody paged,
//! noise, not hurt); and across the run, the alert coverage and the median
//! time to detect. `run::detection` folds it; the reports, `history` and
//! `diff` read it. Pure.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gameday::units::fmt_ms;

/// Who noticed a scenario's fault, and when (`scenarios[].detection`).
/// A scenario run as trials says its first trial's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioDetection {
    /// t0: when the first fault was applied, in ms since the start of the run.
    pub fault_at_ms: f64,
    /// The first failure of a user-facing probe from t0 to the end of
    /// the cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_hurt: Option<Moment>,
    /// The first firing sample of an alert probe (or a prometheus probe
    /// asking `ALERTS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_alert: Option<Moment>,
    /// The first `detected` observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_person: Option<Moment>,
    /// The first `mitigated` observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigated: Option<Moment>,
    /// When every probe that failed was ok again (absent: one was still
    /// failing at the end of the cooldown, or none failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Moment>,
    pub class: DetectionClass,
    /// Whether someone said `detected` (people count apart from alerts).
    pub people_noticed: bool,
    /// The first alert or person, whichever came first, after t0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_detect_ms: Option<f64>,
}

/// One moment of a scenario's detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Moment {
    /// Since the start of the run.
    pub t_ms: f64,
    /// Since the first fault was applied (t0).
    pub after_fault_ms: f64,
    /// Since users were first hurt (negative: before they were); absent
    /// when they were not hurt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_hurt_ms: Option<f64>,
    /// The probe, or the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Were users hurt, and did an alert fire?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DetectionClass {
    /// Users were hurt and an alert fired.
    HurtAndPaged,
    /// Users were hurt and no alert fired.
    HurtNotPaged,
    /// An alert fired, users were not hurt: noise.
    PagedNotHurt,
    /// Users were not hurt, no alert fired.
    NotHurt,
}

impl DetectionClass {
    pub fn of(hurt: bool, paged: bool) -> DetectionClass {
        match (hurt, paged) {
            (true, true) => DetectionClass::HurtAndPaged,
            (true, false) => DetectionClass::HurtNotPaged,
            (false, true) => DetectionClass::PagedNotHurt,
            (false, false) => DetectionClass::NotHurt,
        }
    }

    /// As `result.json` writes it: `hurt_not_paged`.
    pub fn key(self) -> &'static str {
        match self {
            DetectionClass::HurtAndPaged => "hurt_and_paged",
            DetectionClass::HurtNotPaged => "hurt_not_paged",
            DetectionClass::PagedNotHurt => "paged_not_hurt",
            DetectionClass::NotHurt => "not_hurt",
        }
    }

    /// As people read it.
    pub fn words(self) -> &'static str {
        match self {
            DetectionClass::HurtAndPaged => "hurt and paged",
            DetectionClass::HurtNotPaged => "hurt and nobody paged",
            DetectionClass::PagedNotHurt => "paged, users not hurt (noise)",
            DetectionClass::NotHurt => "not hurt",
        }
    }

    pub fn is_hurt(self) -> bool {
        match self {
            DetectionClass::HurtAndPaged | DetectionClass::HurtNotPaged => true,
            DetectionClass::PagedNotHurt | DetectionClass::NotHurt => false,
        }
    }
}

impl Moment {
    /// `+3.1s` after the fault.
    pub fn after_fault(&self) -> String {
        format!("+{}", fmt_ms(self.after_fault_ms))
    }

    /// `+81.1s` after the users were hurt, `-2s` before; `—` when they were not.
    pub fn after_hurt(&self) -> String {
        match self.after_hurt_ms {
            Some(ms) if ms < 0.0 => fmt_ms(ms),
            Some(ms) => format!("+{}", fmt_ms(ms)),
            None => "—".to_string(),
        }
    }
}

/// Across the run's scenarios (`detection` in `result.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DetectionSummary {
    /// Scenarios with a detection (those that ran).
    pub scenarios: usize,
    /// Scenarios where users were hurt.
    pub hurt: usize,
    /// Of those, how many an alert paged for.
    pub paged: usize,
    /// Of those, how many someone said they noticed.
    pub people_noticed: usize,
    /// Scenarios an alert fired for without users being hurt.
    pub noise: usize,
    /// `paged / hurt`, from 0 to 1; absent when no scenario hurt users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_coverage: Option<f64>,
    /// Hurt scenarios detected (by an alert or a person).
    pub detected: usize,
    /// The median time to detect (alert or person, whichever came first)
    /// over the hurt scenarios that were detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_time_to_detect_ms: Option<f64>,
}

impl DetectionSummary {
    /// The summary of the scenarios' detections; `None` when none has one.
    pub fn of<'a>(
        detections: impl IntoIterator<Item = &'a ScenarioDetection>,
    ) -> Option<DetectionSummary> {
        let all: Vec<&ScenarioDetection> = detections.into_iter().collect();
        if all.is_empty() {
            return None;
        }
        let hurt: Vec<&&ScenarioDetection> = all.iter().filter(|d| d.class.is_hurt()).collect();
        let paged = hurt
            .iter()
            .filter(|d| d.class == DetectionClass::HurtAndPaged)
            .count();
        let mut times: Vec<f64> = hurt.iter().filter_map(|d| d.time_to_detect_ms).collect();
        times.sort_by(f64::total_cmp);
        Some(DetectionSummary {
            scenarios: all.len(),
            hurt: hurt.len(),
            paged,
            people_noticed: hurt.iter().filter(|d| d.people_noticed).count(),
            noise: all
                .iter()
                .filter(|d| d.class == DetectionClass::PagedNotHurt)
                .count(),
            alert_coverage: (!hurt.is_empty()).then(|| paged as f64 / hurt.len() as f64),
            detected: times.len(),
            median_time_to_detect_ms: median(&times),
        })
    }

    /// `1 of 2 hurt scenarios paged (50%)`, `not applicable: no scenario hurt users`.
    pub fn coverage_words(&self) -> String {
        match self.alert_coverage {
            Some(share) => format!(
                "{} of {} hurt scenario{} paged ({:.0}%)",
                self.paged,
                self.hurt,
                if self.hurt == 1 { "" } else { "s" },
                share * 100.0
            ),
            None => "not applicable: no scenario hurt users".to_string(),
        }
    }

    /// `12.5s over 2 detected`, `— (no hurt scenario was detected)`.
    pub fn median_words(&self) -> String {
        match self.median_time_to_detect_ms {
            Some(ms) => format!(
                "{} (over {} hurt scenario{} detected)",
                fmt_ms(ms),
                self.detected,
                if self.detected == 1 { "" } else { "s" }
            ),
            None if self.hurt == 0 => "not applicable: no scenario hurt users".to_string(),
            None => "— (no hurt scenario was detected)".to_string(),
        }
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(class: DetectionClass, ttd: Option<f64>, people: bool) -> ScenarioDetection {
        ScenarioDetection {
            fault_at_ms: 0.0,
            users_hurt: None,
            first_alert: None,
            first_person: None,
            mitigated: None,
            recovered: None,
            class,
            people_noticed: people,
            time_to_detect_ms: ttd,
        }
    }

    #[test]
    fn coverage_counts_hurt_scenarios_that_paged_and_the_median_those_detected() {
        let all = [
            detection(DetectionClass::HurtAndPaged, Some(4_000.0), false),
            detection(DetectionClass::HurtNotPaged, Some(10_000.0), true),
            detection(DetectionClass::HurtNotPaged, None, false),
            detection(DetectionClass::PagedNotHurt, Some(1_000.0), false),
            detection(DetectionClass::NotHurt, None, false),
        ];
        let s = DetectionSummary::of(&all).unwrap();
        assert_eq!((s.scenarios, s.hurt, s.paged, s.noise), (5, 3, 1, 1));
        assert_eq!(s.people_noticed, 1);
        assert_eq!(s.alert_coverage, Some(1.0 / 3.0));
        // Over the hurt and detected: 4s and 10s; the noise does not count.
        assert_eq!((s.detected, s.median_time_to_detect_ms), (2, Some(7_000.0)));
        assert_eq!(s.coverage_words(), "1 of 3 hurt scenarios paged (33%)");
        assert_eq!(s.median_words(), "7s (over 2 hurt scenarios detected)");
    }

    #[test]
    fn without_hurt_scenarios_coverage_is_not_applicable() {
        let s = DetectionSummary::of(&[detection(DetectionClass::NotHurt, None, false)]).unwrap();
        assert_eq!(s.alert_coverage, None);
        assert_eq!(s.coverage_words(), "not applicable: no scenario hurt users");
        assert!(DetectionSummary::of(&[]).is_none());
    }
}
