//! What controls a whole run from outside its scenarios: the lease of the
//! dead man's switch (`lease:`), the stop conditions of the whole gameday
//! (`stop_if:`), and who is told as it happens (`notify:` webhooks,
//! `grafana:` annotations).

use schemars::JsonSchema;
use serde::Serialize;

use super::{ProbeRef, keyed_kinds};
use crate::gameday::units::HumanDuration;
use crate::gameday::yaml::Pos;

keyed_kinds! {
    /// The kinds of stop condition, by the key that names each in the file.
    pub enum StopKind {
        ProbeFailing = "probe",
        Alert = "alert",
        File = "file",
        ErrorBudget = "error_budget",
    }
}

/// A stop condition of the whole gameday: when one holds, every fault is
/// reverted at once and the scenarios left are aborted (exit 3).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StopCondition {
    /// `{ probe: checkout, failing_for: 10s }`: the probe has failed without
    /// a success for this long, in any scenario.
    ProbeFailing {
        #[schemars(with = "String")]
        probe: ProbeRef,
        failing_for: HumanDuration,
    },
    /// `{ alert: HighErrorRate }`: an `alert` probe watching this alert
    /// sees it start firing.
    Alert {
        alert: String,
        /// The `alert` probes that watch it.
        #[serde(skip)]
        #[schemars(skip)]
        probes: Vec<ProbeRef>,
    },
    /// `{ file: /tmp/STOP-GAMEDAY }`: a kill-switch file appears (anyone on
    /// the runner's machine can `touch` it).
    File { file: String },
    /// `{ error_budget: { probe: checkout, failures: 50 } }`: the probe has
    /// failed this many times since the run started.
    ErrorBudget { error_budget: ErrorBudget },
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBudget {
    #[schemars(with = "String")]
    pub probe: ProbeRef,
    /// How many failed samples the run may spend.
    pub failures: u64,
}

impl std::fmt::Display for StopCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopCondition::ProbeFailing { probe, failing_for } => {
                write!(f, "probe `{probe}` failing for {failing_for}")
            }
            StopCondition::Alert { alert, .. } => write!(f, "alert `{alert}` firing"),
            StopCondition::File { file } => write!(f, "file {file} exists"),
            StopCondition::ErrorBudget { error_budget } => write!(
                f,
                "probe `{}` failed {} times (error budget)",
                error_budget.probe, error_budget.failures
            ),
        }
    }
}

/// The format of a webhook's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{ "event": "fault_applied", "gameday": ..., ... }`
    #[default]
    Json,
    /// `{ "text": "..." }`, as Slack's (and Mattermost's, Rocket.Chat's)
    /// incoming webhooks take it.
    Slack,
}

/// A webhook told of the run as it happens: start, each fault applied and
/// reverted, a halt, the end with the verdicts. Never blocks the run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to POST. Kept out of every report and printed redacted (a Slack
    /// webhook's path is its secret).
    pub url: String,
    /// `json` (default) or `slack`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// How long one delivery may take (default 2s); each is tried twice.
    #[serde(default = "default_webhook_timeout")]
    pub timeout: HumanDuration,
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

pub(crate) fn default_webhook_timeout() -> HumanDuration {
    HumanDuration::from_secs(2)
}

/// Grafana annotations: one region per fault window on a dashboard.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grafana {
    /// The Grafana server, e.g. `https://grafana.example.com`.
    pub url: String,
    /// The environment variable holding a service-account token (never the
    /// token itself: the file is kept and shared).
    pub token_env: String,
    /// The dashboard the regions go on (omit for organisation-wide annotations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_uid: Option<String>,
}

/// The default lease of the dead man's switch.
pub(crate) fn default_lease() -> HumanDuration {
    HumanDuration::from_secs(10)
}
