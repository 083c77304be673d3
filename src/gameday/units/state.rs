//! Named values the file matches against: HTTP status specs (`200`,
//! `[200, 204]`, `2xx`), signals, container states and HEALTHCHECK states.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

/// Which HTTP statuses count: one code, a class like `2xx`, or a list of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSpec {
    Code(u16),
    Class(u8),
    AnyOf(Vec<StatusSpec>),
}

impl StatusSpec {
    pub fn matches(&self, status: u16) -> bool {
        match self {
            StatusSpec::Code(c) => *c == status,
            StatusSpec::Class(c) => status / 100 == u16::from(*c),
            StatusSpec::AnyOf(list) => list.iter().any(|s| s.matches(status)),
        }
    }

    /// Parses one element: `503`, `"503"` or `5xx`.
    pub fn parse_one(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let lower = s.to_ascii_lowercase();
        if let Some(d) = lower.strip_suffix("xx")
            && d.len() == 1
            && let Some(c @ 1..=5) = d.chars().next().and_then(|c| c.to_digit(10))
        {
            return Ok(StatusSpec::Class(c as u8));
        }
        match s.parse::<u16>() {
            Ok(code @ 100..=599) => Ok(StatusSpec::Code(code)),
            _ => Err(format!(
                "expected an HTTP status (100-599) or a class like `2xx`, found `{s}`"
            )),
        }
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusSpec::Code(c) => write!(f, "{c}"),
            StatusSpec::Class(c) => write!(f, "{c}xx"),
            StatusSpec::AnyOf(list) => {
                let parts: Vec<String> = list.iter().map(|s| s.to_string()).collect();
                write!(f, "{}", parts.join(" or "))
            }
        }
    }
}

impl Serialize for StatusSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for StatusSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusSpec".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An HTTP status code, a class like `2xx`, or a list of these.",
            "anyOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^([1-5]xx|[1-5][0-9][0-9])$" },
                { "type": "array", "items": { "anyOf": [
                    { "type": "integer", "minimum": 100, "maximum": 599 },
                    { "type": "string", "pattern": "^([1-5]xx|[1-5][0-9][0-9])$" }
                ] } }
            ]
        })
    }
}

/// Signals a `kill` fault may send, by their usual names.
pub(crate) const SIGNALS: &[&str] = &[
    "SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGSTOP",
    "SIGCONT", "SIGABRT", "SIGALRM",
];

/// Accepts `SIGKILL`, `KILL`, `kill` and returns the canonical `SIGKILL`.
pub(crate) fn parse_signal(text: &str) -> Result<String, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if SIGNALS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(format!("unknown signal `{}`", text.trim()))
    }
}

/// The states Docker reports for a container, plus `absent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// The container no longer exists.
    Absent,
}

impl ContainerState {
    pub const ALL: [ContainerState; 8] = [
        ContainerState::Created,
        ContainerState::Running,
        ContainerState::Paused,
        ContainerState::Restarting,
        ContainerState::Removing,
        ContainerState::Exited,
        ContainerState::Dead,
        ContainerState::Absent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
            ContainerState::Absent => "absent",
        }
    }
}

impl FromStr for ContainerState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContainerState::ALL
            .into_iter()
            .find(|state| state.name() == s.trim())
            .ok_or_else(|| format!("unknown container state `{}`", s.trim()))
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What Docker's HEALTHCHECK says of a container, or `none` without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Starting,
    Healthy,
    Unhealthy,
    /// The container has no HEALTHCHECK.
    None,
}

impl HealthState {
    pub const ALL: [HealthState; 4] = [
        HealthState::Starting,
        HealthState::Healthy,
        HealthState::Unhealthy,
        HealthState::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::None => "none",
        }
    }
}

impl FromStr for HealthState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HealthState::ALL
            .into_iter()
            .find(|h| h.name() == s.trim())
            .ok_or_else(|| format!("unknown health `{}`", s.trim()))
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
