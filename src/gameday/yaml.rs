//! The YAML layer: turns text into a tree of [`Node`]s that remember where they
//! came from (line and column), so every later check can point at the exact
//! place in the file. This is the only module that knows which YAML crate is
//! used (serde-saphyr); everything else sees [`Node`].
//!
//! Hostile input is bounded here: nesting depth, aliases and total size have
//! budgets, so an alias bomb or a 10,000-level nesting is rejected quickly
//! with an error instead of eating memory.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Deepest nesting accepted; real gameday files stay under 10.
const MAX_DEPTH: usize = 32;

/// A place in the source file, 1-based. `line == 0` means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos { line: 0, col: 0 };

    fn from_location(loc: serde_saphyr::Location) -> Pos {
        Pos {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        }
    }
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A mapping key: YAML allows any scalar as key; we keep its text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub pos: Pos,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; duplicates are kept so they can be reported.
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// The YAML type name as a user would say it, for "expected X, found Y".
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A YAML error, already located.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parse one YAML document into a [`Node`] tree.
///
/// Parsing runs on its own thread with a generous stack: the deserializer
/// recurses once per nesting level, and debug builds use large frames.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml-parse".into())
            .stack_size(16 * 1024 * 1024)
            .spawn_scoped(scope, || parse_on_this_thread(text))
            .map_err(|e| SyntaxError {
                pos: Pos::UNKNOWN,
                message: format!("cannot start the parser thread: {e}"),
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(SyntaxError {
                    pos: Pos::UNKNOWN,
                    message: "the YAML parser failed unexpectedly".into(),
                })
            })
    })
}

fn parse_on_this_thread(text: &str) -> Result<Node, SyntaxError> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_aliases = 200;
    budget.max_anchors = 200;
    budget.max_nodes = 200_000;
    budget.max_events = 400_000;
    budget.max_total_scalar_bytes = 8 * 1024 * 1024;
    budget.max_documents = 1;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    options.alias_limits.max_total_replayed_events = 20_000;
    options.alias_limits.max_alias_expansions_per_anchor = 100;
    options.alias_limits.max_replay_stack_depth = 16;

    match serde_saphyr::from_str_with_options::<Spanned<RawValue>>(text, options) {
        Ok(spanned) => Ok(into_node(spanned)),
        Err(err) => {
            let pos = err
                .location()
                .map(Pos::from_location)
                .unwrap_or(Pos::UNKNOWN);
            let message = err.without_snippet().to_string();
            Err(SyntaxError {
                pos,
                message: clean_message(&message),
            })
        }
    }
}

/// serde-saphyr appends "at line X column Y" to some messages; we print the
/// position ourselves, so drop it.
fn clean_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    if let Some(breach) = first.strip_prefix("budget breached: ") {
        return if breach.starts_with("Depth") || breach.contains("Nesting") {
            format!(
                "the file nests deeper than {MAX_DEPTH} levels; a gameday file never needs that"
            )
        } else if breach.contains("Alias") || breach.contains("Anchor") || breach.contains("Replay")
        {
            "the file expands too many aliases (an alias bomb?); write the values out instead"
                .to_string()
        } else {
            format!("the file is too large to be a gameday file ({breach})")
        };
    }
    let cut = first
        .find(" at line ")
        .map(|i| &first[..i])
        .unwrap_or(first);
    cut.trim_end_matches('.').to_string()
}

// The raw, serde-facing tree. `Spanned` only keeps positions when it is the
// direct target of the YAML deserializer, so every child is wrapped.
enum RawValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<KeyText>, Spanned<RawValue>)>),
}

struct KeyText(String);

fn into_node(spanned: Spanned<RawValue>) -> Node {
    let pos = Pos::from_location(spanned.referenced);
    let value = match spanned.value {
        RawValue::Null => Value::Null,
        RawValue::Bool(b) => Value::Bool(b),
        RawValue::Int(i) => Value::Int(i),
        RawValue::Float(f) => Value::Float(f),
        RawValue::Str(s) => Value::Str(s),
        RawValue::Seq(items) => Value::Seq(items.into_iter().map(into_node).collect()),
        RawValue::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    (
                        Key {
                            pos: Pos::from_location(k.referenced),
                            name: k.value.0,
                        },
                        into_node(v),
                    )
                })
                .collect(),
        ),
    };
    Node { pos, value }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(RawValue::Int)
            .map_err(|_| E::custom("number too large"))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(RawValue::Int)
            .map_err(|_| E::custom("number too large"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(RawValue::Int)
            .map_err(|_| E::custom("number too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<RawValue, E> {
        Err(E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Spanned<RawValue>>()?;
            entries.push((key, value));
        }
        Ok(RawValue::Map(entries))
    }
}

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a plain key (text or number)")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyText, E> {
                Ok(KeyText(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_string()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let node = parse("a: 1\nb:\n  - x\n  - {c: true}\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.name, "a");
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(entries[0].1.pos, Pos { line: 1, col: 4 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("not a seq")
        };
        assert_eq!(items[0].pos, Pos { line: 3, col: 5 });
        let Value::Map(inner) = &items[1].value else {
            panic!("not a map")
        };
        assert_eq!(inner[0].0.pos, Pos { line: 4, col: 6 });
        assert_eq!(inner[0].1.value, Value::Bool(true));
    }

    #[test]
    fn duplicate_keys_are_kept_for_reporting() {
        let node = parse("a: 1\na: 2\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].0.pos.line, 2);
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
    }

    #[test]
    fn alias_bomb_is_rejected_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let start = std::time::Instant::now();
        assert!(parse(&text).is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&text).is_err());
        let text: String = (0..5000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert!(parse(&text).is_err());
    }
}
