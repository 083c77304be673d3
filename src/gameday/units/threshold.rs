//! Thresholds of the numeric window checks (`success_rate`, `latency_*`,
//! `cpu`, `memory`): absolute, a [`Comparison`] (`"< 1s"`), or relative to
//! the same probe's `before` window (`"< 2x before"`, `">= 90% of before"`,
//! `"<= before + 50ms"`, `">= before - 1%"`), so one gameday holds on a
//! laptop and on staging without retuning its numbers. A check takes
//! relative forms by having a [`Threshold`] instead of a `Comparison`; its
//! value type says how much one of it is ([`Amount`]).

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

use super::compare::split_op;
use super::{ByteSize, CmpOp, Comparison, CpuPercent, HumanDuration, Number, Percent, RequestRate};
use crate::gameday::diag::nearest;

/// The one window a relative threshold compares with.
pub(crate) const REFERENCE: &str = "before";

/// How much a value is, in the unit its check's figure is measured in:
/// milliseconds, percent, bytes.
pub trait Amount {
    fn amount(&self) -> f64;
}

impl Amount for f64 {
    fn amount(&self) -> f64 {
        *self
    }
}

impl Amount for HumanDuration {
    fn amount(&self) -> f64 {
        self.0.as_secs_f64() * 1000.0
    }
}

impl Amount for Percent {
    fn amount(&self) -> f64 {
        self.0
    }
}

impl Amount for CpuPercent {
    fn amount(&self) -> f64 {
        self.0
    }
}

impl Amount for RequestRate {
    fn amount(&self) -> f64 {
        self.0
    }
}

impl Amount for ByteSize {
    fn amount(&self) -> f64 {
        self.0
    }
}

impl Amount for Number {
    fn amount(&self) -> f64 {
        self.0
    }
}

/// What a numeric check holds its window's figure to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold<T> {
    /// `"< 1s"`: a fixed value.
    Absolute(Comparison<T>),
    /// `"< 2x before"`: derived from the same probe's before window.
    Relative(Relative<T>),
}

/// `"<op> <limit derived from before>"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relative<T> {
    pub op: CmpOp,
    pub limit: RelativeLimit<T>,
}

/// How the limit follows from the before window's figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RelativeLimit<T> {
    /// `2x before` (`before` alone is `1x`).
    Times(f64),
    /// `90% of before`.
    Share(f64),
    /// `before + 50ms`.
    Plus(T),
    /// `before - 1%`.
    Minus(T),
}

impl<T: Amount> Relative<T> {
    /// The limit the window's figure is held to, from the before window's.
    pub fn limit(&self, before: f64) -> f64 {
        match &self.limit {
            RelativeLimit::Times(k) => k * before,
            RelativeLimit::Share(p) => p / 100.0 * before,
            RelativeLimit::Plus(d) => before + d.amount(),
            RelativeLimit::Minus(d) => before - d.amount(),
        }
    }
}

impl<T: Amount> Threshold<T> {
    /// The same threshold in amounts (ms, %, bytes), as folds judge it.
    pub fn in_amounts(&self) -> Threshold<f64> {
        match self {
            Threshold::Absolute(c) => Threshold::Absolute(Comparison {
                op: c.op,
                value: c.value.amount(),
            }),
            Threshold::Relative(r) => Threshold::Relative(Relative {
                op: r.op,
                limit: match &r.limit {
                    RelativeLimit::Times(k) => RelativeLimit::Times(*k),
                    RelativeLimit::Share(p) => RelativeLimit::Share(*p),
                    RelativeLimit::Plus(d) => RelativeLimit::Plus(d.amount()),
                    RelativeLimit::Minus(d) => RelativeLimit::Minus(d.amount()),
                },
            }),
        }
    }
}

impl<T> Threshold<T> {
    pub fn is_relative(&self) -> bool {
        matches!(self, Threshold::Relative(_))
    }
}

impl<T> From<Comparison<T>> for Threshold<T> {
    fn from(c: Comparison<T>) -> Self {
        Threshold::Absolute(c)
    }
}

/// Why a threshold did not parse, and whether it was meant as a relative
/// one (the hint differs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ThresholdError {
    pub message: String,
    pub relative: bool,
}

impl<T: FromStr<Err = String>> Threshold<T> {
    /// An absolute comparison when the value parses as `T`; else, when the
    /// text reads as a relative threshold, that, or what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, ThresholdError> {
        let absolute = |message| ThresholdError {
            message,
            relative: false,
        };
        let (op, rest) = split_op(text.trim()).map_err(absolute)?;
        match rest.parse::<T>() {
            Ok(value) => Ok(Threshold::Absolute(Comparison { op, value })),
            Err(_) if mentions_reference(rest) || starts_with_ratio(rest) => relative_limit(rest)
                .map(|limit| Threshold::Relative(Relative { op, limit }))
                .map_err(|message| ThresholdError {
                    message,
                    relative: true,
                }),
            Err(e) => Err(absolute(e)),
        }
    }
}

impl<T: FromStr<Err = String>> FromStr for Threshold<T> {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Threshold::parse(text).map_err(|e| e.message)
    }
}

/// Whether `text` names a window to compare with, or nearly (`befor`,
/// `after`, `baseline`): a relative threshold was meant.
pub(crate) fn mentions_reference(text: &str) -> bool {
    words(text).any(|w| {
        w == REFERENCE
            || nearest(w, [REFERENCE]).is_some()
            || ["after", "fault", "baseline", "steady"].contains(&w)
    })
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
}

/// `2x`, `1.5 x`, `90% of`: a factor, whatever follows.
fn starts_with_ratio(text: &str) -> bool {
    let (number, tail) = leading_number(text);
    let tail = tail.trim_start();
    !number.is_empty()
        && (tail.starts_with(['x', 'X', '×'])
            || tail.strip_prefix('%').is_some_and(|t| {
                let t = t.trim_start();
                t == "of" || t.starts_with("of ")
            }))
}

fn leading_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    text.split_at(end)
}

/// `2x before`, `90% of before`, `before`, `before + 50ms`, `before - 1%`.
fn relative_limit<T: FromStr<Err = String>>(text: &str) -> Result<RelativeLimit<T>, String> {
    let text = text.trim();
    if text.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return offset_from_before(text);
    }
    let (number, tail) = leading_number(text);
    let factor = number
        .parse::<f64>()
        .ok()
        .filter(|k| k.is_finite() && *k > 0.0)
        .ok_or_else(|| format!("`{number}` is not a positive number in `{text}`"))?;
    let tail = tail.trim_start();
    if let Some(reference) = tail.strip_prefix(['x', 'X', '×']) {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(format!(
                "`{text}` says how many times, but not of what: write `{number}x {REFERENCE}`"
            ));
        }
        check_reference(reference)?;
        return Ok(RelativeLimit::Times(factor));
    }
    let of = tail
        .strip_prefix('%')
        .map(str::trim_start)
        .and_then(|t| t.strip_prefix("of"))
        .map(str::trim);
    match of {
        Some("") => Err(format!(
            "`{text}` says what share, but not of what: write `{number}% of {REFERENCE}`"
        )),
        Some(reference) => {
            check_reference(reference)?;
            Ok(RelativeLimit::Share(factor))
        }
        None => Err(format!(
            "`{text}` is not a relative limit: write `{number}x {REFERENCE}` or `{number}% of {REFERENCE}`"
        )),
    }
}

/// `before`, `before + 50ms`, `before - 1%`.
fn offset_from_before<T: FromStr<Err = String>>(text: &str) -> Result<RelativeLimit<T>, String> {
    let end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (word, tail) = text.split_at(end);
    check_reference(word)?;
    let tail = tail.trim();
    if tail.is_empty() {
        return Ok(RelativeLimit::Times(1.0));
    }
    let (plus, amount) = if let Some(a) = tail.strip_prefix('+') {
        (true, a)
    } else if let Some(a) = tail.strip_prefix('-') {
        (false, a)
    } else {
        return Err(format!(
            "expected `+` or `-` after `{REFERENCE}` in `{text}`, found `{tail}`"
        ));
    };
    let amount = amount.trim();
    if amount.is_empty() {
        return Err(format!(
            "`{text}` ends at its sign: say how much, e.g. `{REFERENCE} {} 50ms`",
            if plus { '+' } else { '-' }
        ));
    }
    let value = amount.parse::<T>()?;
    Ok(if plus {
        RelativeLimit::Plus(value)
    } else {
        RelativeLimit::Minus(value)
    })
}

/// The window a relative limit is taken from: `before`, nothing else.
fn check_reference(word: &str) -> Result<(), String> {
    if word == REFERENCE {
        return Ok(());
    }
    if nearest(word, [REFERENCE]).is_some() {
        return Err(format!(
            "unknown reference `{word}`: did you mean `{REFERENCE}`?"
        ));
    }
    Err(format!(
        "a relative limit compares with `{REFERENCE}` (the same probe's before window), not `{word}`"
    ))
}

impl<T: fmt::Display> fmt::Display for RelativeLimit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelativeLimit::Times(k) if *k == 1.0 => f.write_str(REFERENCE),
            RelativeLimit::Times(k) => write!(f, "{k}x {REFERENCE}"),
            RelativeLimit::Share(p) => write!(f, "{p}% of {REFERENCE}"),
            RelativeLimit::Plus(d) => write!(f, "{REFERENCE} + {d}"),
            RelativeLimit::Minus(d) => write!(f, "{REFERENCE} - {d}"),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Threshold<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Absolute(c) => c.fmt(f),
            Threshold::Relative(r) => write!(f, "{} {}", r.op.symbol(), r.limit),
        }
    }
}

impl<T: fmt::Display> Serialize for Threshold<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<T> JsonSchema for Threshold<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Threshold".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^\s*(>=|<=|==|!=|>|<|=)\s*([0-9.]+\s*(x|%\s+of)\s+before|before(\s*[-+]\s*\S.*)?|\S+( ?[A-Za-z]+)?)\s*$",
            "description": "An operator and a value (`>= 99%`, `< 1s`), or a limit relative to the same probe's `before` window in the same scenario: `< 2x before`, `>= 90% of before`, `<= before + 50ms`, `>= before - 1%`. The result records both windows' figures and their ratio.",
            "examples": [">= 99%", "< 1s", "< 2x before", ">= before - 1%", ">= 90% of before", "<= before + 50ms"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Result<Threshold<HumanDuration>, ThresholdError> {
        Threshold::parse(text)
    }

    fn relative<T>(op: CmpOp, limit: RelativeLimit<T>) -> Threshold<T> {
        Threshold::Relative(Relative { op, limit })
    }

    #[test]
    fn thresholds_parse_absolute_and_relative() {
        let d = HumanDuration::from_millis;
        let table: [(&str, Threshold<HumanDuration>); 8] = [
            (
                "< 1s",
                Comparison {
                    op: CmpOp::Lt,
                    value: d(1000),
                }
                .into(),
            ),
            (
                "< 2x before",
                relative(CmpOp::Lt, RelativeLimit::Times(2.0)),
            ),
            (
                "<2.5X before",
                relative(CmpOp::Lt, RelativeLimit::Times(2.5)),
            ),
            (
                "<= 150% of before",
                relative(CmpOp::Le, RelativeLimit::Share(150.0)),
            ),
            (
                "<= before + 50ms",
                relative(CmpOp::Le, RelativeLimit::Plus(d(50))),
            ),
            (
                "<= before+50ms",
                relative(CmpOp::Le, RelativeLimit::Plus(d(50))),
            ),
            (
                ">= before - 1s",
                relative(CmpOp::Ge, RelativeLimit::Minus(d(1000))),
            ),
            ("<= before", relative(CmpOp::Le, RelativeLimit::Times(1.0))),
        ];
        for (text, want) in table {
            assert_eq!(ms(text), Ok(want), "{text}");
        }
        let pct = Threshold::<Percent>::parse(">= before - 1%").unwrap();
        assert_eq!(pct, relative(CmpOp::Ge, RelativeLimit::Minus(Percent(1.0))));
        assert_eq!(pct.to_string(), ">= before - 1%");
        let share = Threshold::<Percent>::parse(">= 90% of before").unwrap();
        assert_eq!(share.to_string(), ">= 90% of before");
        assert_eq!(ms("< 2x before").unwrap().to_string(), "< 2x before");
        assert_eq!(ms("<= before").unwrap().to_string(), "<= before");
    }

    #[test]
    fn malformed_relative_thresholds_say_what_is_wrong() {
        let table: [(&str, &str, bool); 9] = [
            ("< 2x", "not of what: write `2x before`", true),
            ("< 2x after", "compares with `before`", true),
            (">= befor", "did you mean `before`?", true),
            ("< 90% of", "not of what: write `90% of before`", true),
            ("< 0x before", "not a positive number", true),
            ("<= before * 2", "expected `+` or `-`", true),
            ("<= before +", "ends at its sign", true),
            ("<= before + 5", "no unit", true),
            ("< 2 fortnights", "has no unit", false),
        ];
        for (text, says, relative) in table {
            let e = ms(text).unwrap_err();
            assert!(e.message.contains(says), "{text}: {}", e.message);
            assert_eq!(e.relative, relative, "{text}");
        }
        assert!(
            ms("2x before")
                .unwrap_err()
                .message
                .contains("no comparison operator")
        );
    }

    #[test]
    fn relative_limits_follow_the_before_figure() {
        let limit = |t: Threshold<f64>, before| match t {
            Threshold::Relative(r) => r.limit(before),
            Threshold::Absolute(_) => panic!("absolute"),
        };
        let t = |text: &str| ms(text).unwrap().in_amounts();
        assert_eq!(limit(t("< 2x before"), 120.0), 240.0);
        assert_eq!(limit(t("<= 150% of before"), 100.0), 150.0);
        assert_eq!(limit(t("<= before + 50ms"), 100.0), 150.0);
        assert_eq!(limit(t(">= before - 1s"), 5000.0), 4000.0);
        let pct = Threshold::<Percent>::parse(">= before - 1%")
            .unwrap()
            .in_amounts();
        assert_eq!(limit(pct, 99.5), 98.5);
    }

    #[test]
    fn the_schema_describes_every_form_the_parser_takes() {
        let schema = serde_json::to_value(schemars::schema_for!(Threshold<HumanDuration>)).unwrap();
        let pattern = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        for example in schema["examples"].as_array().unwrap() {
            let text = example.as_str().unwrap();
            assert!(pattern.is_match(text), "{text}");
            let parsed = if text.contains('%') && !text.contains("% of") {
                Threshold::<Percent>::parse(text).map(|_| ())
            } else {
                Threshold::<HumanDuration>::parse(text).map(|_| ())
            };
            assert!(parsed.is_ok(), "{text}: {parsed:?}");
        }
        for text in ["<= 1.5 GiB", "< 2.5x before", "<= before+64MiB"] {
            assert!(pattern.is_match(text), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_relative_threshold_reads_back_as_it_prints(
            op in proptest::sample::select(vec![CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge]),
            hundredths in 1u32..100_000,
            millis in 0u64..100_000,
            form in 0u8..4,
        ) {
            let k = f64::from(hundredths) / 100.0;
            let d = HumanDuration::from_millis(millis);
            let limit = match form {
                0 => RelativeLimit::Times(k),
                1 => RelativeLimit::Share(k),
                2 => RelativeLimit::Plus(d),
                _ => RelativeLimit::Minus(d),
            };
            let t = relative(op, limit);
            proptest::prop_assert_eq!(ms(&t.to_string()), Ok(t));
        }
    }
}
