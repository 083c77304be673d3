//! Request rates of the `load` probe: how fast it sends (`rate: 500/s`,
//! or `max`) and what a `throughput` check compares (`">= 480/s"`).

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

/// Requests per second, written `500/s` (or `30000/m`). The unit is
/// required: `500` alone could be per second or per minute.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct RequestRate(pub f64);

impl FromStr for RequestRate {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let (number, per_second) = if let Some(n) = s.strip_suffix("/s") {
            (n, 1.0)
        } else if let Some(n) = s.strip_suffix("/m") {
            (n, 1.0 / 60.0)
        } else {
            return Err(format!(
                "`{s}` has no unit; write requests per second like `500/s` (or per minute, `600/m`)"
            ));
        };
        let value: f64 = number
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("`{}` is not a number of requests in `{s}`", number.trim()))?;
        Ok(RequestRate(value * per_second))
    }
}

impl fmt::Display for RequestRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.1}", self.0);
        write!(f, "{}/s", text.trim_end_matches(".0"))
    }
}

impl Serialize for RequestRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for RequestRate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RequestRate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^[0-9.]+/[sm]$",
            "description": "Requests per second (`500/s`) or per minute (`600/m`).",
            "examples": ["500/s"]
        })
    }
}

/// How fast a load probe sends: a constant arrival rate (open model), or
/// as fast as its connections answer (`max`, a closed loop).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadRate {
    /// Requests are due at fixed intervals, whether or not the service keeps up.
    Constant(RequestRate),
    /// Each connection sends its next request when the previous one is answered.
    Max,
}

impl FromStr for LoadRate {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim() == "max" {
            return Ok(LoadRate::Max);
        }
        let rate = text.parse::<RequestRate>()?;
        if rate.0 < 1.0 {
            return Err(format!(
                "a load rate must be at least 1/s, found `{}`",
                text.trim()
            ));
        }
        Ok(LoadRate::Constant(rate))
    }
}

impl fmt::Display for LoadRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadRate::Constant(r) => r.fmt(f),
            LoadRate::Max => f.write_str("max"),
        }
    }
}

impl Serialize for LoadRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for LoadRate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LoadRate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^([0-9.]+/[sm]|max)$",
            "description": "A constant arrival rate (`500/s`, open model) or `max` (closed loop).",
            "examples": ["500/s", "max"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_their_unit_only() {
        assert_eq!("500/s".parse::<RequestRate>(), Ok(RequestRate(500.0)));
        assert_eq!("600/m".parse::<RequestRate>(), Ok(RequestRate(10.0)));
        assert!(
            "500"
                .parse::<RequestRate>()
                .unwrap_err()
                .contains("no unit")
        );
        assert!("x/s".parse::<RequestRate>().is_err());
        assert_eq!("max".parse::<LoadRate>(), Ok(LoadRate::Max));
        assert!(
            "0/s"
                .parse::<LoadRate>()
                .unwrap_err()
                .contains("at least 1/s")
        );
        assert_eq!(RequestRate(480.0).to_string(), "480/s");
        assert_eq!(RequestRate(2.5).to_string(), "2.5/s");
    }
}
