//! Quantities with units: network rates (`1mbit`, `100kbps`) and byte
//! sizes (`256MiB`, `1.5GB`).

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

use super::parse_decimal_scaled;

/// A network rate in bits per second, written like tc does: `1mbit`,
/// `512kbit`, `100kbps` (bytes), `1gbit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate {
    pub bits_per_second: u64,
}

const RATE_UNITS: [(&str, u64); 8] = [
    ("gbit", 1_000_000_000),
    ("mbit", 1_000_000),
    ("kbit", 1_000),
    ("bit", 1),
    ("gbps", 8_000_000_000),
    ("mbps", 8_000_000),
    ("kbps", 8_000),
    ("bps", 8),
];

impl FromStr for Rate {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim().to_ascii_lowercase();
        let split = s
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let Some((_, per)) = RATE_UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!(
                "expected a rate like `1mbit` or `512kbit`, found `{}` (units: kbit, mbit, gbit, or kbps, mbps for bytes)",
                text.trim()
            ));
        };
        let bits = parse_decimal_scaled(number, u128::from(*per))
            .and_then(|b| u64::try_from(b).ok())
            .ok_or_else(|| format!("`{number}` is not a valid number in `{}`", text.trim()))?;
        if bits < 8_000 {
            return Err(format!(
                "`{}` is below 8kbit, too low to keep a connection alive",
                text.trim()
            ));
        }
        Ok(Rate {
            bits_per_second: bits,
        })
    }
}

impl fmt::Display for Rate {
    /// The largest whole tc unit: `1mbit`, `512kbit`, `1500bit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bits_per_second;
        for (unit, per) in &RATE_UNITS[..4] {
            if b >= *per && b.is_multiple_of(*per) {
                return write!(f, "{}{unit}", b / per);
            }
        }
        write!(f, "{b}bit")
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^[0-9.]+([kmg]?bit|[kmg]?bps)$",
            "description": "A rate: `1mbit`, `512kbit`, `100kbps` (bytes per second).",
            "examples": ["1mbit", "256kbit"]
        })
    }
}

/// A size in bytes: `256MiB`, `1.5GiB`, `200MB`, `512KiB`, `4096B`. A unit
/// is required (a bare number is refused: bytes or megabytes?).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct ByteSize(pub f64);

impl ByteSize {
    const UNITS: [(&'static str, f64); 9] = [
        ("KiB", 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("TiB", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("kB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
        ("TB", 1e12),
        ("B", 1.0),
    ];
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let Some((number, scale)) = Self::UNITS
            .iter()
            .find_map(|(unit, scale)| s.strip_suffix(unit).map(|n| (n.trim(), *scale)))
        else {
            return Err(format!(
                "`{s}` has no unit; write a size like `256MiB`, `1GiB` or `200MB`"
            ));
        };
        match number.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(ByteSize(v * scale)),
            _ => Err(format!("`{number}` is not a non-negative number in `{s}`")),
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut value = self.0;
        let mut unit = "B";
        for next in ["KiB", "MiB", "GiB", "TiB"] {
            if value < 1024.0 {
                break;
            }
            value /= 1024.0;
            unit = next;
        }
        let text = if unit == "B" {
            format!("{value:.0}")
        } else {
            format!("{value:.1}")
        };
        write!(f, "{}{unit}", text.trim_end_matches(".0"))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^[0-9.]+ ?(B|KiB|MiB|GiB|TiB|kB|MB|GB|TB)$",
            "description": "A size with its unit: `200MiB`, `1GiB`, `500MB`.",
            "examples": ["200MiB", "1GiB"]
        })
    }
}
