//! The `deploy` fault: roll a service's replicas to another image (or the
//! same one, recreated) and roll them back on revert; how each replica is
//! judged ready, and the checks on how long both took.

use schemars::JsonSchema;
use serde::Serialize;

use super::Target;
use crate::gameday::units::{Comparison, HumanDuration};

/// Roll the target's replicas to `image` and back.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployFault {
    #[serde(flatten)]
    pub target: Target,
    /// The image to roll out, e.g. `shop-api:2.4.1`; it must be on the
    /// engine already (nothing is pulled). Default: the image each replica
    /// runs, recreated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `rolling` (default): one replica at a time, each ready before the
    /// next is stopped; `recreate`: every replica replaced at once.
    #[serde(default)]
    pub strategy: DeployStrategy,
    /// When a new replica counts as ready (default `auto`: `healthy` where
    /// the replica has a HEALTHCHECK, else `running`).
    #[serde(default)]
    pub wait: DeployWait,
    /// A replica not ready by then fails the deploy, which is rolled back
    /// (default 2m).
    #[serde(default)]
    pub timeout: HumanDuration,
    /// A check on the deploy's time, from the first replica stopped to the
    /// last one ready: `"< 60s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_time: Option<Comparison<HumanDuration>>,
    /// A check on the rollback's time, measured the same way: `"< 30s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_time: Option<Comparison<HumanDuration>>,
}

/// How the replicas are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeployStrategy {
    /// One replica at a time, each ready before the next is stopped.
    #[default]
    Rolling,
    /// Every replica stopped and replaced, then all waited for.
    Recreate,
}

impl DeployStrategy {
    pub fn key(self) -> &'static str {
        match self {
            DeployStrategy::Rolling => "rolling",
            DeployStrategy::Recreate => "recreate",
        }
    }
}

/// When a new replica is ready.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeployWait {
    /// `healthy` where the replica has a HEALTHCHECK, else `running`.
    #[default]
    Auto,
    /// Its HEALTHCHECK says healthy.
    Healthy,
    /// It is running.
    Running,
    /// `{ probe: NAME }`: running, and then the named HTTP or TCP probe
    /// answers as it expects.
    Probe(String),
}

impl std::fmt::Display for DeployWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeployWait::Auto => write!(f, "healthy, or running without a HEALTHCHECK"),
            DeployWait::Healthy => write!(f, "healthy"),
            DeployWait::Running => write!(f, "running"),
            DeployWait::Probe(p) => write!(f, "probe `{p}` answering"),
        }
    }
}

impl DeployFault {
    /// What it does to `on` and how it is undone, in words.
    pub fn describe(&self, on: &str) -> (String, String) {
        let image = self.image.as_deref().unwrap_or("its own image");
        (
            format!(
                "deploy {image} to {on} ({}, ready when {})",
                self.strategy.key(),
                self.wait
            ),
            format!("roll {on} back to the container it ran before, and wait until it is ready"),
        )
    }
}
