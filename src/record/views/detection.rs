//! A scenario's detection in one run, as `history` and `diff` read it:
//! its class and its time to detect (the first alert or person after the
//! fault), so a trend across runs and a change between two runs are said
//! the same way. Pure.

use serde::Serialize;

use crate::gameday::units::fmt_ms;
use crate::record::detection::DetectionClass;
use crate::record::result::ScenarioResult;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Detected {
    pub(crate) class: DetectionClass,
    /// The first alert or person after the fault; absent: nobody noticed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) time_to_detect_ms: Option<f64>,
}

impl Detected {
    /// The scenario's detection, when it ran (and its result has one).
    pub(crate) fn of(s: &ScenarioResult) -> Option<Detected> {
        s.detection.as_ref().map(|d| Detected {
            class: d.class,
            time_to_detect_ms: d.time_to_detect_ms,
        })
    }

    /// `12.4s, hurt and paged`; `not detected, hurt and nobody paged`.
    pub(crate) fn text(&self) -> String {
        let ttd = self
            .time_to_detect_ms
            .map_or_else(|| "not detected".to_string(), fmt_ms);
        format!("{ttd}, {}", self.class.words())
    }
}

/// Either side's detection as words (`absent` where it has none).
pub(crate) fn side(d: Option<&Detected>) -> String {
    d.map_or_else(|| "absent".to_string(), Detected::text)
}
