//! The small value languages of the gameday file: durations (`1m30s`),
//! percentages (`99.5%`), comparisons (`">= 99%"`, `"< 1s"`), HTTP status
//! specs (`200`, `[200, 204]`, `2xx`), numbers, signals and container states. Each type
//! parses from the user's text, prints back in canonical form, and explains
//! what was expected when the text is wrong.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

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

/// `number * scale` for a decimal `number` like `1.5`, exact, in integers.
fn parse_decimal_scaled(number: &str, scale: u128) -> Option<u128> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if frac_part.contains('.') || frac_part.len() > 9 {
        return None;
    }
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut value = int.checked_mul(scale)?;
    if !frac_part.is_empty() {
        let frac: u128 = frac_part.parse().ok()?;
        let denom = 10u128.pow(frac_part.len() as u32);
        value = value.checked_add(frac * scale / denom)?;
    }
    Some(value)
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

/// A percentage between 0% and 100%, written `99%` or `99.5%`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Percent(pub f64);

impl FromStr for Percent {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let Some(number) = s.strip_suffix('%') else {
            return Err(format!("expected a percentage like `99%`, found `{s}`"));
        };
        let value: f64 = number
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("`{number}` is not a number in `{s}`"))?;
        if !(0.0..=100.0).contains(&value) {
            return Err(format!(
                "a percentage must lie between 0% and 100%, found `{s}`"
            ));
        }
        Ok(Percent(value))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Up to two decimals, without trailing zeros: 99%, 99.5%, 99.95%.
        let text = format!("{:.2}", self.0);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{text}%")
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^[0-9.]+%$",
            "description": "A percentage between 0% and 100%: `10%`, `0.5%`.",
            "examples": ["10%", "25%"]
        })
    }
}

/// How a measured value is compared with the expected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    pub fn holds<T: PartialOrd>(self, measured: &T, expected: &T) -> bool {
        match self {
            CmpOp::Lt => measured < expected,
            CmpOp::Le => measured <= expected,
            CmpOp::Gt => measured > expected,
            CmpOp::Ge => measured >= expected,
            CmpOp::Eq => measured == expected,
            CmpOp::Ne => measured != expected,
        }
    }
}

/// `"<op> <value>"`, e.g. `">= 99%"` or `"< 1s"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison<T> {
    pub op: CmpOp,
    pub value: T,
}

impl<T: FromStr<Err = String>> FromStr for Comparison<T> {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let (op, rest) = [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
            ("=", CmpOp::Eq),
        ]
        .iter()
        .find_map(|(sym, op)| s.strip_prefix(sym).map(|rest| (*op, rest)))
        .ok_or_else(|| {
            format!("`{s}` has no comparison operator; start it with one of >=, >, <=, <, ==, !=")
        })?;
        let rest = rest.trim();
        if rest.starts_with(['<', '>', '=', '!']) {
            let written: String = s.chars().take_while(|c| "<>=!".contains(*c)).collect();
            return Err(format!(
                "`{written}` is not an operator; use one of >=, >, <=, <, ==, !="
            ));
        }
        let value = rest.parse::<T>()?;
        Ok(Comparison { op, value })
    }
}

impl<T: fmt::Display> fmt::Display for Comparison<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.value)
    }
}

impl<T: fmt::Display> Serialize for Comparison<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<T> JsonSchema for Comparison<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Comparison".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^\s*(>=|<=|==|!=|>|<|=)\s*\S+\s*$",
            "description": "An operator and a value: `>= 99%`, `< 1s`.",
            "examples": [">= 99%", "< 1s"]
        })
    }
}

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

/// A plain number compared by `value:` (a Prometheus result) and `matches:`
/// (a count of log lines): `0.05`, `1e3`, `-2`. Not NaN nor infinite.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Number(pub f64);

impl FromStr for Number {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Number(v)),
            _ => Err(format!(
                "`{s}` is not a number; write e.g. `0.05`, `10` or `1e3`"
            )),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
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

/// CPU use as `docker stats` shows it: 100% is one core fully busy, so a
/// container using two cores reads 200%. Written `50%`, `150%`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct CpuPercent(pub f64);

impl FromStr for CpuPercent {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let Some(number) = s.strip_suffix('%') else {
            return Err(format!(
                "expected CPU use as a percentage of one core like `50%` or `150%`, found `{s}`"
            ));
        };
        match number.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(CpuPercent(v)),
            _ => Err(format!("`{number}` is not a non-negative number in `{s}`")),
        }
    }
}

impl fmt::Display for CpuPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.1}", self.0);
        write!(f, "{}%", text.trim_end_matches(".0"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_need_a_unit_and_print_in_binary_units() {
        let size = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(size("256MiB"), Ok(256.0 * 1024.0 * 1024.0));
        assert_eq!(size("200MB"), Ok(200e6));
        assert_eq!(size("1.5 GiB"), Ok(1.5 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(size("4096B"), Ok(4096.0));
        assert!(size("256").unwrap_err().contains("no unit"));
        assert!(size("-1MiB").is_err());
        assert_eq!(ByteSize(256.0 * 1024.0 * 1024.0).to_string(), "256MiB");
        assert_eq!(ByteSize(1536.0 * 1024.0 * 1024.0).to_string(), "1.5GiB");
        assert_eq!(ByteSize(900.0).to_string(), "900B");
        assert_eq!("150%".parse::<CpuPercent>().map(|c| c.0), Ok(150.0));
        assert!("150".parse::<CpuPercent>().is_err());
        assert_eq!(CpuPercent(82.25).to_string(), "82.2%");
        assert_eq!("healthy".parse::<HealthState>(), Ok(HealthState::Healthy));
        assert!("fine".parse::<HealthState>().is_err());
    }

    fn d(s: &str) -> Result<u128, String> {
        s.parse::<HumanDuration>().map(|d| d.0.as_millis())
    }

    #[test]
    fn durations_parse() {
        assert_eq!(d("250ms"), Ok(250));
        assert_eq!(d("30s"), Ok(30_000));
        assert_eq!(d("1m30s"), Ok(90_000));
        assert_eq!(d("1h"), Ok(3_600_000));
        assert_eq!(d("1.5s"), Ok(1_500));
        assert_eq!(d("2s500ms"), Ok(2_500));
        assert!(d("20").unwrap_err().contains("no unit"));
        assert!(d("30s1m").unwrap_err().contains("largest to smallest"));
        assert!(d("5d").unwrap_err().contains("unknown duration unit"));
        assert!(d("").is_err());
        assert!(d("s").is_err());
        assert!(d("1..5s").is_err());
        assert!(d("99999999999999999999h").is_err());
    }

    #[test]
    fn durations_print_canonically() {
        assert_eq!(HumanDuration::from_millis(90_000).to_string(), "1m30s");
        assert_eq!(HumanDuration::from_millis(250).to_string(), "250ms");
        assert_eq!(HumanDuration::from_millis(3_605_000).to_string(), "1h5s");
        assert_eq!(HumanDuration::from_millis(0).to_string(), "0s");
        assert_eq!(HumanDuration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(HumanDuration::from_millis(90_500).to_string(), "1m30.5s");
        assert_eq!(HumanDuration::from_millis(1234).to_string(), "1.234s");
        assert_eq!(HumanDuration::from_millis(7_200_000).to_string(), "2h");
    }

    #[test]
    fn comparisons_parse() {
        let c: Comparison<Percent> = ">= 99%".parse().unwrap();
        assert_eq!(c.op, CmpOp::Ge);
        assert_eq!(c.value, Percent(99.0));
        let c: Comparison<HumanDuration> = "<1s".parse().unwrap();
        assert_eq!(c.op, CmpOp::Lt);
        assert_eq!(c.value, HumanDuration::from_secs(1));
        assert!("99%".parse::<Comparison<Percent>>().is_err());
        assert!(">= 101%".parse::<Comparison<Percent>>().is_err());
        assert!("=> 5%".parse::<Comparison<Percent>>().is_err());
    }

    #[test]
    fn status_specs() {
        assert!(StatusSpec::parse_one("2xx").unwrap().matches(204));
        assert!(!StatusSpec::parse_one("2xx").unwrap().matches(503));
        assert_eq!(StatusSpec::parse_one("503"), Ok(StatusSpec::Code(503)));
        assert!(StatusSpec::parse_one("6xx").is_err());
        assert!(StatusSpec::parse_one("99").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!("1mbit".parse::<Rate>().unwrap().bits_per_second, 1_000_000);
        assert_eq!("512kbit".parse::<Rate>().unwrap().bits_per_second, 512_000);
        assert_eq!("100kbps".parse::<Rate>().unwrap().bits_per_second, 800_000);
        assert_eq!("1.5mbit".parse::<Rate>().unwrap().to_string(), "1500kbit");
        assert!("1mb".parse::<Rate>().is_err());
        assert!("10bit".parse::<Rate>().is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("kill").as_deref(), Ok("SIGKILL"));
        assert_eq!(parse_signal("SIGTERM").as_deref(), Ok("SIGTERM"));
        assert!(parse_signal("SIGFOO").is_err());
    }

    proptest! {
        #[test]
        fn duration_display_round_trips(ms in 0u64..10_000_000_000) {
            let d = HumanDuration::from_millis(ms);
            prop_assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d));
        }

        #[test]
        fn duration_parser_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<HumanDuration>();
        }

        #[test]
        fn duration_groups_add_up(h in 0u64..50, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
            let text = format!("{h}h{m}m{s}s{ms}ms");
            let expected = ((h * 60 + m) * 60 + s) * 1000 + ms;
            prop_assert_eq!(text.parse::<HumanDuration>(), Ok(HumanDuration::from_millis(expected)));
        }

        #[test]
        fn comparison_round_trips(op in 0usize..6, pct in 0u32..=10000) {
            let ops = [">=", ">", "<=", "<", "==", "!="];
            let value = Percent(f64::from(pct) / 100.0);
            let text = format!("{} {}", ops[op], value);
            let parsed: Comparison<Percent> = text.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn comparison_parser_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Comparison<Percent>>();
            let _ = s.parse::<Comparison<HumanDuration>>();
        }

        #[test]
        fn comparison_holds_like_the_operator(a in 0u64..1000, b in 0u64..1000) {
            let (a, b) = (HumanDuration::from_millis(a), HumanDuration::from_millis(b));
            prop_assert_eq!(CmpOp::Lt.holds(&a, &b), a < b);
            prop_assert_eq!(CmpOp::Ge.holds(&a, &b), a >= b);
            prop_assert_eq!(CmpOp::Ne.holds(&a, &b), a != b);
        }
    }

    #[test]
    fn durations_print_as_people_write_them_and_read_back_the_same() {
        for ms in [
            1, 250, 999, 1000, 1500, 1234, 59_999, 60_000, 90_500, 3_605_000, 7_200_000,
        ] {
            let d = HumanDuration::from_millis(ms);
            let back: HumanDuration = d.to_string().parse().unwrap();
            assert_eq!(back, d, "{d}");
        }
    }

    #[test]
    fn measured_durations_read_well_at_every_size() {
        let cases = [
            (0.0, "0ms"),
            (0.25, "250µs"),
            (0.0004, "0µs"),
            (2.5, "2.5ms"),
            (1.0, "1ms"),
            (230.4, "230ms"),
            (1000.0, "1s"),
            (1520.0, "1.52s"),
            (12_400.0, "12.4s"),
            (150_000.0, "2m30s"),
            (120_000.0, "2m"),
            (3_900_000.0, "1h5m"),
            (-1500.0, "-1.5s"),
        ];
        for (ms, text) in cases {
            assert_eq!(fmt_ms(ms), text, "{ms}");
        }
        // Chart ticks at 0, half and the top never share a label.
        for top in [0.2, 0.5, 1.0, 2.0, 5.0, 20.0, 500.0, 1000.0, 2000.0] {
            let labels = [fmt_ms(0.0), fmt_ms(top / 2.0), fmt_ms(top)];
            assert!(
                labels[0] != labels[1] && labels[1] != labels[2],
                "{labels:?}"
            );
        }
    }
}
