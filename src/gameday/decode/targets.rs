//! Targets (`service:`, `container:` or `labels:`, with `pick:`, `seed:`
//! and `host:`), which faults and the container probes name, and seeds
//! (the gameday's `seed:`, a target's own).

use std::collections::BTreeMap;

use super::*;
use crate::gameday::units::Percent;

pub(crate) const TARGET_KEYS: &[&str] = &["service", "container", "labels", "pick", "seed", "host"];
/// The keys of a `pick:` mapping (one of them).
const PICK_KEYS: &[&str] = &["count", "percent"];
const PICK_HINT: &str = "use `all` (every replica), `one`, `random` (between one and all), `{ count: 2 }` or `{ percent: 40% }`";

impl Decoder<'_> {
    /// A target (`service:`, `container:` or `labels:`, optional `pick:`,
    /// `seed:` and `host:`) plus the fault-specific keys in `extra`, which
    /// the caller reads from the returned mapping.
    pub(super) fn target<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        extra: &[&'static str],
    ) -> Option<(Target, Obj<'n>)> {
        let known: Vec<&'static str> = TARGET_KEYS.iter().chain(extra).copied().collect();
        let obj = self.obj(node, what, &known)?;
        let selectors = obj.present(&["service", "container", "labels"]);
        let pos = selectors.first().map(|k| k.pos).unwrap_or(obj.pos);
        let selector = self.selector(&obj, &selectors, what);
        let pick_node = obj.get("pick");
        let pick = match pick_node {
            None => Some(Pick::All),
            Some(n) => self.pick(n),
        };
        if let (Some(Selector::Container(_)), Some(p), Some(k)) = (&selector, pick, obj.key("pick"))
            && p.is_random()
        {
            self.error_hint(
                k.pos,
                "`pick` applies to a service or a label selector, not to a named container",
                "remove `pick:`, or target a `service:` or `labels:`",
            );
        }
        let seed = optional(obj.get("seed").map(|n| self.seed(n)));
        let host = self.target_host(&obj);
        let target = Target {
            selector: selector?,
            pick: pick?,
            seed: seed?,
            host: host?,
            pos,
            pick_pos: pick_node.map_or(pos, |n| n.pos),
        };
        Some((target, obj))
    }

    /// The one selector of a target: a service, a container, or labels.
    fn selector(&mut self, obj: &Obj<'_>, selectors: &[&Key], what: &str) -> Option<Selector> {
        match selectors {
            [] if obj.had_unknown_key => None,
            [] => {
                self.error_hint(
                    obj.pos,
                    format!("{what} has no target"),
                    "add `service: <compose service>`, `container: <container name>` or `labels: { <label>: <value> }`",
                );
                None
            }
            [one] => {
                let value = obj.get(&one.name)?;
                match one.name.as_str() {
                    "service" => self.name(value, "the service").map(Selector::Service),
                    "container" => self.name(value, "the container").map(Selector::Container),
                    _ => self.labels(value).map(Selector::Labels),
                }
            }
            [first, second, ..] => {
                let (message, hint) = if first.name != "labels" && second.name != "labels" {
                    (
                        format!("{what} names both a service and a container"),
                        "keep one of `service:` and `container:`".to_string(),
                    )
                } else {
                    (
                        format!("{what} names both `{}` and `{}`", first.name, second.name),
                        "keep one of `service:`, `container:` and `labels:`".to_string(),
                    )
                };
                self.error_hint(second.pos, message, hint);
                None
            }
        }
    }

    /// `labels: { tier: db }`: at least one label, each with a value.
    fn labels(&mut self, node: &Node) -> Option<BTreeMap<String, String>> {
        let hint = "write the labels the containers carry, e.g. `labels: { tier: db }`";
        let Value::Map(entries) = &node.value else {
            self.error_hint(
                node.pos,
                format!(
                    "expected `labels` as a mapping, found {}",
                    node.value.kind()
                ),
                hint,
            );
            return None;
        };
        if entries.is_empty() {
            self.error_hint(node.pos, "`labels` names no label", hint);
            return None;
        }
        let mut labels = BTreeMap::new();
        let mut ok = true;
        for (key, value) in entries {
            let text = self.text(value, &format!("the value of label `{}`", key.name));
            let Some(v) = text else {
                ok = false;
                continue;
            };
            if labels.insert(key.name.clone(), v).is_some() {
                self.error_hint(
                    key.pos,
                    format!("duplicate label `{}`", key.name),
                    "YAML keeps only one, so remove the other",
                );
                ok = false;
            }
        }
        ok.then_some(labels)
    }

    /// `all`, `one`, `random`, `{ count: N }` or `{ percent: P% }`.
    fn pick(&mut self, node: &Node) -> Option<Pick> {
        match &node.value {
            Value::Str(s) => match s.as_str() {
                "all" => Some(Pick::All),
                "one" => Some(Pick::One),
                "random" => Some(Pick::Random),
                other => {
                    self.error_hint(node.pos, format!("unknown pick `{other}`"), PICK_HINT);
                    None
                }
            },
            Value::Map(_) => self.pick_amount(node),
            other => {
                self.error_hint(
                    node.pos,
                    format!(
                        "expected `pick` as a word or a mapping, found {}",
                        other.kind()
                    ),
                    PICK_HINT,
                );
                None
            }
        }
    }

    /// `{ count: N }` or `{ percent: P% }`: exactly one of them.
    fn pick_amount(&mut self, node: &Node) -> Option<Pick> {
        let obj = self.obj(node, "`pick`", PICK_KEYS)?;
        let given = obj.present(PICK_KEYS);
        match given.as_slice() {
            [] if obj.had_unknown_key => None,
            [] => {
                self.error_hint(
                    node.pos,
                    "`pick` says neither `count` nor `percent`",
                    PICK_HINT,
                );
                None
            }
            [one] if one.name == "count" => self.pick_count(obj.get("count")?),
            [_] => self.pick_percent(obj.get("percent")?),
            [_, second, ..] => {
                self.error_hint(
                    second.pos,
                    "`pick` says both `count` and `percent`",
                    "keep one of them",
                );
                None
            }
        }
    }

    fn pick_count(&mut self, node: &Node) -> Option<Pick> {
        match &node.value {
            Value::Int(n) if *n >= 1 => match u32::try_from(*n) {
                Ok(n) => Some(Pick::Count(n)),
                Err(_) => {
                    self.error_hint(
                        node.pos,
                        format!("`count` is too large, found `{n}`"),
                        "pick at most as many replicas as the target has",
                    );
                    None
                }
            },
            Value::Int(n) => {
                self.error_hint(
                    node.pos,
                    format!("`count` must be at least 1, found `{n}`"),
                    "a pick of no container does nothing; write `count: 1` or more",
                );
                None
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected `count` as a whole number, found {}", other.kind()),
                    "write how many replicas to pick, e.g. `pick: { count: 2 }`",
                );
                None
            }
        }
    }

    fn pick_percent(&mut self, node: &Node) -> Option<Pick> {
        if let Value::Str(text) = &node.value
            && let Some(over) = text
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|n| *n > 100.0)
        {
            self.error_hint(
                node.pos,
                format!("`percent` must be at most 100%, found `{over}%`"),
                "100% picks every replica (`pick: all`); write a share such as `percent: 40%`",
            );
            return None;
        }
        let p: Percent = self.percent(node, "`percent`")?;
        if p.0 <= 0.0 {
            self.error_hint(
                node.pos,
                "`percent` must be greater than 0%",
                "a pick of no container does nothing; write e.g. `percent: 40%` (rounded up)",
            );
            return None;
        }
        Some(Pick::Percent(p))
    }

    /// A seed: a whole number, 0 or more.
    pub(super) fn seed(&mut self, node: &Node) -> Option<u64> {
        let found = match &node.value {
            Value::Int(n) => match u64::try_from(*n) {
                Ok(seed) => return Some(seed),
                Err(_) => format!("`{n}`"),
            },
            Value::Str(s) => format!("`{s}`"),
            Value::Float(f) => format!("`{f}`"),
            other => other.kind().to_string(),
        };
        self.error_hint(
            node.pos,
            format!("expected `seed` as a whole number, 0 or more, found {found}"),
            "write e.g. `seed: 42`; the same seed makes the same random picks",
        );
        None
    }

    /// A target's `host:`: absent, or a declared engine.
    fn target_host(&mut self, obj: &Obj<'_>) -> Option<Option<String>> {
        let Some(n) = obj.get("host") else {
            return Some(None);
        };
        let h = self.name(n, "the host")?;
        if h == DEFAULT_HOST || self.declared_hosts.contains(&h) {
            return Some(Some(h));
        }
        let mut known = vec![DEFAULT_HOST.to_string()];
        known.extend(self.declared_hosts.iter().cloned());
        let hint = match nearest(&h, known.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`? Engines: {}", known.join(", ")),
            None => format!(
                "name an engine of `hosts:` or `default` (the `docker:` engine); engines: {}",
                known.join(", ")
            ),
        };
        self.error_hint(n.pos, format!("unknown host `{h}`"), hint);
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::gameday::model::{Pick, Selector};

    fn load(fault: &str, top: &str) -> Result<crate::gameday::model::Gameday, String> {
        let text = format!(
            "gameday: g\nscope: {{ compose_project: p }}\n{top}scenarios:\n  - name: s\n    duration: 1s\n    fault: {{ pause: {fault} }}\n"
        );
        crate::gameday::load_bytes("g.yaml", text.as_bytes(), &|_: &str| None)
            .map_err(|e| e.render())
    }

    fn target_of(fault: &str) -> crate::gameday::model::Target {
        let g = load(fault, "").unwrap_or_else(|e| panic!("{e}"));
        g.scenarios[0].faults[0].target().clone()
    }

    #[test]
    fn every_pick_form_decodes() {
        let cases = [
            ("{ service: a }", Pick::All),
            ("{ service: a, pick: all }", Pick::All),
            ("{ service: a, pick: one }", Pick::One),
            ("{ service: a, pick: random }", Pick::Random),
            ("{ service: a, pick: { count: 2 } }", Pick::Count(2)),
            (
                "{ service: a, pick: { percent: 40% } }",
                Pick::Percent(crate::gameday::units::Percent(40.0)),
            ),
        ];
        for (text, pick) in cases {
            assert_eq!(target_of(text).pick, pick, "{text}");
        }
    }

    #[test]
    fn labels_and_seeds_decode() {
        let t = target_of("{ labels: { tier: db, zone: a }, pick: one, seed: 7 }");
        let labels = [("tier", "db"), ("zone", "a")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        assert_eq!(t.selector, Selector::Labels(labels));
        assert_eq!(t.seed, Some(7));
        assert_eq!(
            t.to_string(),
            "one of the containers labelled tier=db, zone=a"
        );
        let g = load("{ service: a }", "seed: 42\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.seed, Some(42));
    }

    #[test]
    fn bad_picks_and_seeds_are_located_with_a_hint() {
        let faults = [
            "{ service: a, pick: some }",
            "{ service: a, pick: { count: 0 } }",
            "{ service: a, pick: { percent: 140% } }",
            "{ service: a, pick: { percent: 0% } }",
            "{ service: a, pick: { cuont: 2 } }",
            "{ service: a, pick: { count: 2, percent: 10% } }",
            "{ container: a_1, pick: { count: 2 } }",
            "{ service: a, seed: forty }",
            "{ labels: { }, pick: one }",
            "{ labels: { tier: db }, service: a }",
        ];
        let mut all = String::new();
        for fault in faults {
            let error = load(fault, "").expect_err(fault);
            all.push_str(&format!("# {fault}\n{error}\n"));
        }
        let error = load("{ service: a }", "seed: -1\n").expect_err("negative seed");
        all.push_str(&format!("# seed: -1\n{error}\n"));
        insta::assert_snapshot!(all);
    }
}
