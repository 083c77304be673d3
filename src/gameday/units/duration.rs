//! Durations as people write them (`250ms`, `1m30s`, `1.5s`), read exactly
//! and printed back the same; `fmt_ms` for measured ones.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

use super::parse_decimal_scaled;

/// A positive or zero length of time written like `250ms`, `30s`, `1m30s`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub std::time::Duration);

const DURATION_UNITS: [(&str, u128); 4] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

impl HumanDuration {
    pub fn from_millis(ms: u64) -> Self {
        HumanDuration(std::time::Duration::from_millis(ms))
    }
    pub fn from_secs(s: u64) -> Self {
        HumanDuration(std::time::Duration::from_secs(s))
    }
    pub fn as_std(self) -> std::time::Duration {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    /// Parses `<number><unit>` groups, largest unit first, each unit once:
    /// `1h`, `1m30s`, `2s500ms`, `1.5s`. Units: h, m, s, ms.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        if s.is_empty() {
            return Err("expected a duration like `30s`, found an empty string".into());
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total_nanos: u128 = 0;
        let mut last_unit_rank: Option<usize> = None;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number = &s[start..i];
            if number.is_empty() {
                return Err(format!(
                    "expected a duration like `30s` or `1m30s`, found `{s}` (a number must come before each unit)"
                ));
            }
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &s[unit_start..i];
            if unit.is_empty() {
                return Err(if start == 0 {
                    format!("`{s}` has no unit; write e.g. `{number}s` or `{number}ms`")
                } else {
                    format!("`{s}` ends in a number without a unit; write e.g. `{}s`", s)
                });
            }
            let Some(rank) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(format!(
                    "unknown duration unit `{unit}` in `{s}`; use h, m, s or ms"
                ));
            };
            if let Some(last) = last_unit_rank
                && rank <= last
            {
                return Err(format!(
                    "units in `{s}` must go from largest to smallest, each once (like `1m30s`)"
                ));
            }
            last_unit_rank = Some(rank);
            let nanos_per_unit = DURATION_UNITS[rank].1;
            let nanos = parse_decimal_scaled(number, nanos_per_unit)
                .ok_or_else(|| format!("`{number}` is not a valid number in `{s}`"))?;
            total_nanos = total_nanos
                .checked_add(nanos)
                .filter(|n| *n <= u128::from(u64::MAX))
                .ok_or_else(|| format!("`{s}` is too long a duration"))?;
        }
        let nanos = u64::try_from(total_nanos).map_err(|_| format!("`{s}` is too long"))?;
        Ok(HumanDuration(std::time::Duration::from_nanos(nanos)))
    }
}

impl fmt::Display for HumanDuration {
    /// As people write it, exactly (it reads back to the same duration):
    /// `0s`, `250ms`, `1.5s`, `2m30s`, `1m30.5s`, `1h5s`. Sub-millisecond
    /// parts are rounded to the nearest millisecond.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = (self.0.as_nanos() + 500_000) / 1_000_000;
        if ms == 0 {
            return f.write_str(if self.0.is_zero() { "0s" } else { "0ms" });
        }
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
        let (minutes, rest) = (rest / 60_000, rest % 60_000);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        if rest > 0 {
            let (secs, frac) = (rest / 1000, rest % 1000);
            if frac == 0 {
                write!(f, "{secs}s")?;
            } else {
                let frac = format!("{frac:03}");
                write!(f, "{secs}.{}s", frac.trim_end_matches('0'))?;
            }
        }
        Ok(())
    }
}

/// A measured duration in milliseconds as people say it, rounded to what
/// matters at its size: `850µs`, `2.5ms`, `230ms`, `1.52s`, `12.4s`,
/// `2m30s`, `1h5m`. Distinct sizes give distinct texts down to 1µs, so
/// chart axes never repeat a label.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "—".to_string();
    }
    if ms < 0.0 {
        return format!("-{}", fmt_ms(-ms));
    }
    let trimmed = |v: f64, decimals: usize| {
        let t = format!("{v:.decimals$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    };
    if ms == 0.0 {
        "0ms".to_string()
    } else if ms < 1.0 {
        format!("{}µs", trimmed(ms * 1000.0, 0))
    } else if ms < 10.0 {
        format!("{}ms", trimmed(ms, 2))
    } else if ms < 1000.0 {
        format!("{}ms", trimmed(ms, 0))
    } else if ms < 60_000.0 {
        format!("{}s", trimmed(ms / 1000.0, 2))
    } else if ms < 3_600_000.0 {
        let secs = (ms / 1000.0).round() as u64;
        match secs % 60 {
            0 => format!("{}m", secs / 60),
            s => format!("{}m{s}s", secs / 60),
        }
    } else {
        let minutes = (ms / 60_000.0).round() as u64;
        match minutes % 60 {
            0 => format!("{}h", minutes / 60),
            m => format!("{}h{m}m", minutes / 60),
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^([0-9.]+h)?([0-9.]+m)?([0-9.]+s)?([0-9.]+ms)?$",
            "description": "A duration: `250ms`, `30s`, `1m30s`, `1h`.",
            "examples": ["500ms", "20s", "1m30s"]
        })
    }
}
