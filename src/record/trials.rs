//! What a scenario run as trials found, in `result.json`: each trial
//! (its verdict, checks and faults; for a search the value tried and
//! whether `until` held), and the findings: for `repeat`, how many trials
//! met and each check's spread over them; for `search`, the bracket.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::result::{ExpectationResult, FaultResult, ScenarioVerdict};
use crate::expect::Windows;
use crate::gameday::model::Unit;

/// A scenario's trials and what they found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrialsResult {
    /// Every trial, in the order run.
    pub trials: Vec<TrialResult>,
    /// For `repeat`: how many met, and each check over the trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<RepeatFindings>,
    /// For `search`: the breaking point found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchFindings>,
}

/// One trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrialResult {
    /// 1-based.
    pub trial: usize,
    pub verdict: ScenarioVerdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds since the run started.
    pub started_ms: f64,
    pub duration_ms: f64,
    /// A search's value tried, in its unit, and as the faults were given it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub said: Option<String>,
    /// A search's `until` condition as judged on this trial: met means the
    /// system broke at this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<ExpectationResult>,
    /// The scenario's checks on this trial.
    pub expectations: Vec<ExpectationResult>,
    pub faults: Vec<FaultResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Windows>,
}

impl TrialResult {
    /// For a search trial: whether it broke (`until` met).
    pub fn broke(&self) -> Option<bool> {
        self.until.as_ref().map(ExpectationResult::is_met)
    }
}

/// `repeat` over its trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RepeatFindings {
    /// Trials asked for.
    pub times: u32,
    /// Trials that must meet every check.
    pub pass: u32,
    /// Trials run, and those that met every check.
    pub ran: u32,
    pub met: u32,
    /// Each check of the scenario over the trials.
    pub checks: Vec<CheckSpread>,
    /// Why the trials stopped before the last, if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// One check over a scenario's trials: in how many it was met (with the
/// 95% Wilson interval of that share), and its value's spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckSpread {
    pub text: String,
    pub met: u32,
    pub of: u32,
    /// The 95% Wilson score interval of the share of trials meeting the
    /// check, in percent.
    pub met_low: f64,
    pub met_high: f64,
    /// Its value in each trial (absent where nothing was measured).
    pub values: Vec<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl CheckSpread {
    /// Met in some trials and not in others.
    pub fn flaky(&self) -> bool {
        self.met > 0 && self.met < self.of
    }
}

/// What a breaking-point search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchFindings {
    /// The name varied (`x`) and its unit.
    pub vary: String,
    pub unit: Unit,
    pub from: f64,
    pub to: f64,
    pub resolution: f64,
    /// The `until` condition, in words.
    pub until: String,
    /// The most trials the search could take.
    pub most_trials: usize,
    /// `bracket`, `holds_throughout`, `breaks_at_once`, or `stopped`.
    pub found: String,
    /// The highest value that held, and the lowest that broke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaks_at: Option<f64>,
    /// In words: `holds at 325ms, breaks at 350ms`.
    pub finding: String,
    /// Why the search stopped before it found a bracket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// The 95% Wilson score interval of `k` successes in `n`, in percent.
pub(crate) fn wilson(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 100.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = f64::from(n);
    let p = f64::from(k) / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    // k = 0 and k = n put the bound at 0% and 100% exactly (no rounding dust).
    let low = if k == 0 {
        0.0
    } else {
        ((centre - spread) / denominator).clamp(0.0, 1.0)
    };
    let high = if k as f64 == n {
        1.0
    } else {
        ((centre + spread) / denominator).clamp(0.0, 1.0)
    };
    (low * 100.0, high * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_interval_matches_published_values() {
        // 3 of 5: 23.1% to 88.2% (Wilson 1927; e.g. Newcombe 1998, table I style).
        let (low, high) = wilson(3, 5);
        assert!((low - 23.07).abs() < 0.05, "{low}");
        assert!((high - 88.24).abs() < 0.05, "{high}");
        // 5 of 5 never reaches 100% at the bottom: 56.6% to 100%.
        let (low, high) = wilson(5, 5);
        assert!((low - 56.55).abs() < 0.05, "{low}");
        assert_eq!(high, 100.0);
        assert_eq!(wilson(0, 0), (0.0, 100.0));
        let (low, _) = wilson(0, 10);
        assert_eq!(low, 0.0);
    }
}
