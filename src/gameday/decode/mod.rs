//! From the YAML tree to the validated [`Gameday`]: types, required and
//! unknown keys, value syntax, defaults, and the cross-checks between parts
//! (expectations name real probes, checks fit the probe kind, names are
//! unique). Every problem found is collected, so one `validate` run shows
//! them all, each at its line and column.
//!
//! Split by section as the file is: [`file`] (the top level, engines,
//! scope, defaults, the seed), [`probes`], [`targets`] (what faults and probes
//! act on: selector, pick, seed), [`scenarios`] (and
//! steps), [`load`] (the load probe), [`ledger`] (the ledger probe), [`faults`] (with [`net_faults`] and
//! [`app_faults`]), [`expect`] (expectations and halt conditions, with
//! [`relative`] for thresholds relative to the before window), [`control`] (the lease, `stop_if`,
//! `notify`, `grafana`). This
//! module holds the decoder's state and the value helpers they share. Each
//! kind (fault, probe, check, step) is picked from its kind enum by an
//! exhaustive `match`, and each kind's keys sit next to its decoder.

mod app_faults;
mod control;
mod deploy;
mod expect;
mod faults;
mod file;
mod ledger;
mod load;
mod net_faults;
mod probes;
mod relative;
mod scenarios;
mod targets;
mod trials;

pub(crate) use file::DEFAULT_HOST;
pub(crate) use ledger::ID_PLACEHOLDER;
pub(crate) use trials::say;
// The key lists, for the schema/decoder parity test in `model`.
#[cfg(test)]
pub(crate) use {
    control::{BUDGET_KEYS, GRAFANA_KEYS, STOP_KEYS, WEBHOOK_KEYS},
    expect::{EXPECT_COMMON_KEYS, HALT_KEYS},
    faults::fault_keys,
    file::{DEFAULTS_KEYS, DOCKER_KEYS, GAMEDAY_KEYS, HOST_KEYS, SCOPE_KEYS, SSH_KEYS, TLS_KEYS},
    probes::{PROBE_COMMON_KEYS, VERSION_KEYS, probe_keys},
    scenarios::SCENARIO_KEYS,
    targets::TARGET_KEYS,
    trials::SEARCH_KEYS,
};

use std::collections::HashMap;
use std::str::FromStr;

use super::diag::{Diagnostic, nearest};
use super::model::*;
use super::units::{Comparison, HumanDuration, Percent};
use super::yaml::{Key, Node, Pos, Value};

/// Looks up environment variables for `${VAR}`; a function so tests can pass a fixed map.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Decode and check a whole gameday file.
pub(crate) fn decode(root: &Node, env: EnvLookup<'_>) -> Result<Gameday, Vec<Diagnostic>> {
    let mut decoder = Decoder {
        diags: Vec::new(),
        env,
        declared_probes: Vec::new(),
        declared_hosts: Vec::new(),
        faultless: false,
    };
    let gameday = decoder.gameday(root);
    let mut diags = decoder.diags;
    diags.sort_by_key(|d| d.pos);
    diags.dedup();
    match gameday {
        Some(g) if diags.is_empty() => Ok(g),
        _ => Err(diags),
    }
}

struct Decoder<'e> {
    diags: Vec<Diagnostic>,
    env: EnvLookup<'e>,
    /// Every probe name defined, including those whose definition has errors
    /// (already reported), so references to them are not reported again.
    declared_probes: Vec<String>,
    /// Names in `hosts:`, for `host:` of targets.
    declared_hosts: Vec<String>,
    /// A scenario may have no fault (a capacity search's: the load is
    /// what it varies).
    faultless: bool,
}

/// A mapping whose keys were checked: known, not repeated.
struct Obj<'n> {
    pos: Pos,
    entries: Vec<(&'n Key, &'n Node)>,
    had_unknown_key: bool,
    /// Known keys suggested for misspelt ones: not reported missing again.
    suggested: Vec<&'static str>,
}

impl<'n> Obj<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| *v)
    }

    fn key(&self, key: &str) -> Option<&'n Key> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| *k)
    }

    /// Which of `keys` are present, in file order.
    fn present(&self, keys: &[&str]) -> Vec<&'n Key> {
        self.entries
            .iter()
            .filter(|(k, _)| keys.contains(&k.name.as_str()))
            .map(|(k, _)| *k)
            .collect()
    }
}

fn list_keys(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Decoder<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(pos, message));
    }

    fn error_hint(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(pos, message).with_hint(hint));
    }

    /// Check a mapping: report unknown and repeated keys. `Null` is an empty mapping.
    fn obj<'n>(&mut self, node: &'n Node, what: &str, known: &[&'static str]) -> Option<Obj<'n>> {
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => {
                return Some(Obj {
                    pos: node.pos,
                    entries: Vec::new(),
                    had_unknown_key: false,
                    suggested: Vec::new(),
                });
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as a mapping, found {}", other.kind()),
                    format!("{what} takes the keys {}", list_keys(known)),
                );
                return None;
            }
        };
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        let mut obj = Obj {
            pos: node.pos,
            entries: Vec::new(),
            had_unknown_key: false,
            suggested: Vec::new(),
        };
        for (key, value) in entries {
            if let Some(first) = seen.get(key.name.as_str()) {
                self.error_hint(
                    key.pos,
                    format!("duplicate key `{}` in {what}", key.name),
                    format!(
                        "it was already set on line {}; YAML keeps only one, so remove the other",
                        first.line
                    ),
                );
                continue;
            }
            seen.insert(&key.name, key.pos);
            if !known.contains(&key.name.as_str()) {
                obj.had_unknown_key = true;
                let hint = match nearest(&key.name, known.iter().copied()) {
                    Some(near) => {
                        obj.suggested.push(near);
                        format!("did you mean `{near}`?")
                    }
                    None => format!("{what} takes {}", list_keys(known)),
                };
                self.error_hint(
                    key.pos,
                    format!("unknown key `{}` in {what}", key.name),
                    hint,
                );
                continue;
            }
            obj.entries.push((key, value));
        }
        Some(obj)
    }

    fn require<'n>(
        &mut self,
        obj: &Obj<'n>,
        key: &str,
        what: &str,
        example: &str,
    ) -> Option<&'n Node> {
        let found = obj.get(key);
        if found.is_none() && !obj.suggested.contains(&key) {
            self.error_hint(
                obj.pos,
                format!("{what} is missing the required key `{key}`"),
                format!("add `{key}: {example}`"),
            );
        }
        found
    }

    /// Free text: any scalar is accepted and kept as written.
    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                self.error(
                    node.pos,
                    format!("expected {what} as text, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// Text that must not be empty (names, titles).
    fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        if text.trim().is_empty() {
            self.error(node.pos, format!("{what} must not be empty"));
            return None;
        }
        Some(text)
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as true or false, found {}", other.kind()),
                    "write `true` or `false`",
                );
                None
            }
        }
    }

    /// A duration that must be greater than zero.
    fn duration(&mut self, node: &Node, what: &str) -> Option<HumanDuration> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a unit, found `{i}`"),
                    format!("write a duration with a unit, e.g. `{i}s` or `{i}ms`"),
                );
                return None;
            }
            Value::Float(f) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a unit, found `{f}`"),
                    format!("write a duration with a unit, e.g. `{f}s`"),
                );
                return None;
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as a duration, found {}", other.kind()),
                    "durations look like `250ms`, `30s`, `1m30s`",
                );
                return None;
            }
        };
        if text.trim_start().starts_with('-') {
            self.error_hint(
                node.pos,
                format!("{what} must be greater than zero, found `{text}`"),
                "durations must be greater than zero",
            );
            return None;
        }
        match text.parse::<HumanDuration>() {
            Ok(d) if d.is_zero() => {
                self.error_hint(
                    node.pos,
                    format!("{what} must be greater than zero, found `{text}`"),
                    "use a positive duration such as `1s`",
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {e}"),
                    "durations look like `250ms`, `30s`, `1m30s`",
                );
                None
            }
        }
    }

    /// A comparison's text, or a located error when the value is no string.
    fn comparison_text<'n>(&mut self, node: &'n Node, what: &str, hint: String) -> Option<&'n str> {
        let Value::Str(text) = &node.value else {
            self.error_hint(
                node.pos,
                format!(
                    "expected {what} as a comparison string, found {}",
                    node.value.kind()
                ),
                hint,
            );
            return None;
        };
        Some(text)
    }

    fn comparison<T: FromStr<Err = String>>(
        &mut self,
        node: &Node,
        what: &str,
        example: &str,
    ) -> Option<Comparison<T>> {
        let text = self.comparison_text(
            node,
            what,
            format!("write it quoted with an operator, e.g. `\"{example}\"`"),
        )?;
        match text.parse::<Comparison<T>>() {
            Ok(c) => Some(c),
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {e}"),
                    format!("write an operator and a value, e.g. `\"{example}\"`"),
                );
                None
            }
        }
    }

    /// Decode every item of a list; `None` if the list or any item is bad.
    fn list<T>(
        &mut self,
        node: &Node,
        what: &str,
        mut item: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Option<Vec<T>> {
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!("expected {what} as a list, found {}", node.value.kind()),
                "start each item with `- `",
            );
            return None;
        };
        let decoded: Vec<Option<T>> = items.iter().map(|n| item(self, n)).collect();
        decoded.into_iter().collect()
    }

    /// An argv list: `[pg_isready, -h, db]`. Never a string for a shell.
    fn argv(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let hint = "write the program and its arguments as a list, e.g. `[curl, -fsS, http://127.0.0.1:8080/health]` (use `[sh, -c, \"...\"]` for a shell)";
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!(
                    "expected {what} as a list (argv), found {}",
                    node.value.kind()
                ),
                hint,
            );
            return None;
        };
        if items.is_empty() {
            self.error_hint(node.pos, format!("{what} is empty"), hint);
            return None;
        }
        let argv: Vec<Option<String>> = items
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if i == 0 {
                    self.name(n, "the program")
                } else {
                    self.text(n, "an argument")
                }
            })
            .collect();
        argv.into_iter().collect()
    }

    fn percent(&mut self, node: &Node, what: &str) -> Option<super::units::Percent> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a `%`, found `{i}`"),
                    format!("write `{i}%`"),
                );
                return None;
            }
            Value::Float(f) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a `%`, found `{f}`"),
                    format!("write `{f}%`"),
                );
                return None;
            }
            other => {
                self.error(
                    node.pos,
                    format!("expected {what} as a percentage, found {}", other.kind()),
                );
                return None;
            }
        };
        match text.parse::<super::units::Percent>() {
            Ok(p) => Some(p),
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {e}"),
                    "percentages look like `10%` or `0.5%`",
                );
                None
            }
        }
    }

    fn positive_percent(&mut self, node: &Node, what: &str) -> Option<super::units::Percent> {
        let p = self.percent(node, what)?;
        if p.0 <= 0.0 {
            self.error_hint(
                node.pos,
                format!("{what} must be greater than 0%"),
                "a fault that affects no packet does nothing",
            );
            return None;
        }
        Some(p)
    }
}

/// An optional key's decoded value: absent is `Some(None)`, present and
/// valid is `Some(Some(v))`, present and invalid (already reported) is `None`.
fn optional<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(Some(v)) => Some(Some(v)),
        Some(None) => None,
    }
}
