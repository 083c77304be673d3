//! Numbers and the comparisons checks make of them: percentages (`99.5%`),
//! CPU shares (`150%`), plain numbers, and `">= 99%"`, `"< 1s"`.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

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
        let (op, rest) = split_op(text.trim())?;
        let value = rest.parse::<T>()?;
        Ok(Comparison { op, value })
    }
}

/// `">= 99%"` -> (`>=`, `"99%"`): the operator and the rest, trimmed.
pub(super) fn split_op(s: &str) -> Result<(CmpOp, &str), String> {
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
    Ok((op, rest))
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
