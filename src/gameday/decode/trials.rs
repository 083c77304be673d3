//! A scenario's trials: `repeat:` with `pass:`, and `search:`.
//!
//! A search is decoded by substitution: its scenario (without the
//! `search:` key) is decoded once with `{{x}}` replaced by `from` (so a
//! mistake is reported once, at its place), then once per value of the
//! grid, keeping each value's faults ([`Search::points`]). The scenario's
//! own `faults` are those of `to`, the value that takes most: the plan's
//! checks of what a fault may take see the worst the search will try.

use super::*;

/// `search:` keys.
pub(crate) const SEARCH_KEYS: &[&str] = &[
    "vary",
    "load",
    "from",
    "to",
    "resolution",
    "until",
    "confirm",
];
/// The most values a search's grid may hold.
const MOST_POINTS: usize = 1001;
/// The most trials `repeat` and `confirm` accept.
const MOST_REPEATS: i64 = 100;
const MOST_CONFIRM: i64 = 5;

/// A search's parameters, before its grid is decoded.
struct SearchSpec {
    vary: String,
    load: Option<ProbeRef>,
    unit: Unit,
    from: f64,
    to: f64,
    resolution: f64,
    until: ProbeCheck,
    confirm: u32,
    pos: Pos,
}

impl SearchSpec {
    fn with_points(self, points: Vec<SearchPoint>) -> Search {
        Search {
            vary: self.vary,
            load: self.load,
            unit: self.unit,
            from: self.from,
            to: self.to,
            resolution: self.resolution,
            until: self.until,
            confirm: self.confirm,
            points,
            pos: self.pos,
        }
    }
}

impl Decoder<'_> {
    /// A scenario with `search:`: decoded at `from`, then at every value of
    /// the grid. `None` (reported) when anything is wrong.
    pub(super) fn searched_scenario(
        &mut self,
        node: &Node,
        search: &Node,
        index: usize,
        defaults: &Defaults,
        probes: &[Probe],
    ) -> Option<Scenario> {
        let spec = self.search_spec(search, probes, defaults.baseline);
        let body = without_key(node, "search");
        let spec = spec?;
        let points = grid(&spec);
        if points.len() > MOST_POINTS {
            self.error_hint(
                spec.pos,
                format!(
                    "the search from {} to {} by {} makes {} values to choose from; at most {MOST_POINTS}",
                    say(spec.unit, spec.from),
                    say(spec.unit, spec.to),
                    say(spec.unit, spec.resolution),
                    points.len()
                ),
                "raise `resolution` (each halving of the bracket is one trial)",
            );
            return None;
        }
        if spec.load.is_some() {
            return self.capacity_scenario(&body, spec, points, index, defaults, probes);
        }
        let (first, found) = substitute(&body, &spec.vary, spec.unit, &points[0]);
        if let Some(pos) = in_a_target(&body, &spec.vary) {
            self.error_hint(
                pos,
                format!(
                    "`{{{{{}}}}}` is in a fault's target: a search varies what a fault does, not what it acts on",
                    spec.vary
                ),
                "vary a value of the fault, or how many it picks: `pick: { count: \"{{x}}\" }`",
            );
            return None;
        }
        if let Some(pos) = placeholder_at(&first, &spec.vary) {
            self.error_hint(
                pos,
                format!(
                    "`{{{{{}}}}}` is outside the scenario's faults: a search varies a value of its faults",
                    spec.vary
                ),
                "write it in a fault (`fault:`, `faults:` or a step's `fault:`); durations and waits stay as written",
            );
            return None;
        }
        if !found {
            self.error_hint(
                spec.pos,
                format!(
                    "the search varies `{}`, but the scenario's faults never say `{{{{{}}}}}`",
                    spec.vary, spec.vary
                ),
                format!(
                    "write it where the value goes, quoted, e.g. `latency: \"{{{{{}}}}}\"`",
                    spec.vary
                ),
            );
            return None;
        }
        let before = self.diags.len();
        let scenario = self.scenario(&first, index, defaults, probes);
        self.say_value(before, &spec.vary, &points[0].1);
        let mut scenario = scenario?;
        let mut decoded = Vec::with_capacity(points.len());
        for point in points {
            let (text, _) = substitute(&body, &spec.vary, spec.unit, &point);
            let before = self.diags.len();
            let faults = self
                .scenario(&text, index, defaults, probes)
                .map(|s| s.faults);
            match faults {
                Some(faults) if self.diags.len() == before => decoded.push(SearchPoint {
                    value: point.0,
                    said: point.1,
                    faults,
                }),
                _ => {
                    self.say_value(before, &spec.vary, &point.1);
                    return None;
                }
            }
        }
        scenario.faults = decoded.last().map(|p| p.faults.clone()).unwrap_or_default();
        scenario.search = Some(spec.with_points(decoded));
        Some(scenario)
    }

    /// A capacity search (`load: PROBE`): the scenario decoded once (it
    /// may have no fault: the load is the fault), every value the same
    /// faults, the probe's rate set per trial by the run.
    fn capacity_scenario(
        &mut self,
        body: &Node,
        spec: SearchSpec,
        points: Vec<(f64, String)>,
        index: usize,
        defaults: &Defaults,
        probes: &[Probe],
    ) -> Option<Scenario> {
        self.faultless = true;
        let scenario = self.scenario(body, index, defaults, probes);
        self.faultless = false;
        let mut scenario = scenario?;
        let points = points
            .into_iter()
            .map(|(value, said)| SearchPoint {
                value,
                said,
                faults: scenario.faults.clone(),
            })
            .collect();
        scenario.search = Some(spec.with_points(points));
        Some(scenario)
    }

    /// `load:` of a search: a load probe sending at a constant rate.
    fn searched_load(&mut self, node: &Node, probes: &[Probe]) -> Option<ProbeRef> {
        let (reference, probe) = self.probe_ref(node, probes)?;
        match &probe.kind {
            ProbeKind::Load(l) if l.rate != crate::gameday::units::LoadRate::Max => Some(reference),
            ProbeKind::Load(_) => {
                self.error_hint(
                    node.pos,
                    format!("the load probe `{}` sends as fast as answered (`rate: max`): a search cannot set its rate", reference.name),
                    "give it a constant rate (`rate: 100/s`, what it sends outside the trials)",
                );
                None
            }
            _ => {
                self.error_hint(
                    node.pos,
                    format!(
                        "`{}` is not a load probe: a capacity search sets a load probe's rate",
                        reference.name
                    ),
                    "name a probe with `load: { http: { url: ... }, rate: 100/s }`",
                );
                None
            }
        }
    }

    /// The problems found since `before` were found with `vary = said`.
    fn say_value(&mut self, before: usize, vary: &str, said: &str) {
        for d in &mut self.diags[before..] {
            d.message = format!(
                "{} (with {vary} = {said}: the search writes each value it tries in place of `{{{{{vary}}}}}`)",
                d.message
            );
        }
    }

    fn search_spec(
        &mut self,
        node: &Node,
        probes: &[Probe],
        baseline: HumanDuration,
    ) -> Option<SearchSpec> {
        let obj = self.obj(node, "`search`", SEARCH_KEYS)?;
        let what = "`search`";
        let load = match (obj.get("load"), obj.key("vary")) {
            (None, _) => Some(None),
            (Some(_), Some(vary)) => {
                self.error_hint(
                    vary.pos,
                    "`search` has both `load` and `vary`",
                    "`load: PROBE` varies that load probe's rate; `vary: x` a value `{{x}}` of the faults: keep one",
                );
                None
            }
            (Some(n), None) => self.searched_load(n, probes).map(Some),
        };
        let vary = match obj.get("load") {
            Some(n) => self.name(n, "`load`").map(|p| format!("rate of {p}")),
            None => self
                .require(&obj, "vary", what, "x")
                .and_then(|n| self.name(n, "`vary`")),
        };
        let loaded = obj.get("load").is_some();
        let vary = vary.and_then(|v| {
            let plain = v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if plain || loaded {
                Some(v)
            } else {
                self.error_hint(
                    obj.get("vary").map_or(obj.pos, |n| n.pos),
                    format!("`vary` must be a plain name, found `{v}`"),
                    "use letters, digits and `_`, e.g. `vary: x`",
                );
                None
            }
        });
        let from = self
            .require(&obj, "from", what, "0ms")
            .and_then(|n| self.amount(n, "`from`"));
        let to = self
            .require(&obj, "to", what, "2s")
            .and_then(|n| self.amount(n, "`to`"));
        let resolution = self
            .require(&obj, "resolution", what, "25ms")
            .and_then(|n| self.amount(n, "`resolution`"));
        let until = self
            .require(
                &obj,
                "until",
                what,
                "{ probe: login, during: fault, latency_p99: \">= 800ms\" }",
            )
            .and_then(|n| self.search_until(n, probes, baseline));
        let confirm = match obj.get("confirm") {
            None => Some(1),
            Some(n) => self.count_in(n, "`confirm`", 1, MOST_CONFIRM),
        };
        let (from, to, resolution) = (from?, to?, resolution?);
        let until = until?;
        let units = [("to", to.1), ("resolution", resolution.1)];
        if let Some((key, _)) = units.iter().find(|(_, u)| *u != from.1) {
            self.error_hint(
                obj.get(key).map_or(obj.pos, |n| n.pos),
                format!(
                    "`from`, `to` and `resolution` must be in one unit, found {}, {} and {}",
                    unit_word(from.1),
                    unit_word(to.1),
                    unit_word(resolution.1)
                ),
                "write all three alike, e.g. `from: 0ms`, `to: 2s`, `resolution: 25ms`",
            );
            return None;
        }
        if loaded && from.1 == Unit::PerSecond && from.0 < 1.0 {
            self.error_hint(
                obj.get("from").map_or(obj.pos, |n| n.pos),
                format!(
                    "a capacity search starts at 1/s at least, found `from: {}`",
                    say(from.1, from.0)
                ),
                "the load probe sends at the value tried: start at `1/s` or above",
            );
            return None;
        }
        if loaded && from.1 != Unit::PerSecond {
            self.error_hint(
                obj.get("from").map_or(obj.pos, |n| n.pos),
                format!(
                    "a capacity search varies a rate, found {}",
                    unit_word(from.1)
                ),
                "write `from: 50/s`, `to: 2000/s`, `resolution: 50/s`",
            );
            return None;
        }
        let to_pos = obj.get("to").map_or(obj.pos, |n| n.pos);
        if to.0 <= from.0 {
            self.error_hint(
                to_pos,
                format!(
                    "`to` ({}) must be above `from` ({})",
                    say(to.1, to.0),
                    say(from.1, from.0)
                ),
                "the search tries values from `from` up to `to`",
            );
            return None;
        }
        let res_pos = obj.get("resolution").map_or(obj.pos, |n| n.pos);
        let smallest = match from.1 {
            Unit::Ms => 1.0,
            _ => f64::MIN_POSITIVE,
        };
        if resolution.0 < smallest || resolution.0 > to.0 - from.0 {
            self.error_hint(
                res_pos,
                format!(
                    "`resolution` must be between {} and the range ({}), found {}",
                    say(from.1, smallest.max(0.0)),
                    say(from.1, to.0 - from.0),
                    say(from.1, resolution.0)
                ),
                "the search stops when the bracket is this narrow",
            );
            return None;
        }
        Some(SearchSpec {
            vary: vary?,
            load: load?,
            unit: from.1,
            from: from.0,
            to: to.0,
            resolution: resolution.0,
            until,
            confirm: confirm?,
            pos: obj.pos,
        })
    }

    /// A search's `until`: a check of one probe (a `detected_by` names
    /// none, so it cannot end a search).
    fn search_until(
        &mut self,
        node: &Node,
        probes: &[Probe],
        baseline: HumanDuration,
    ) -> Option<ProbeCheck> {
        let e = self.expectation(node, probes, baseline)?;
        let Some(probe) = e.probe.clone() else {
            self.error_hint(
                e.pos,
                "a search's `until` judges one probe's samples: `detected_by` cannot end a search",
                "name a probe's check, e.g. `{ probe: login, during: fault, latency_p99: \">= 800ms\" }`",
            );
            return None;
        };
        Some(ProbeCheck {
            probe,
            expectation: e,
        })
    }

    /// A value a search varies, with its unit: a duration (ms), a
    /// percentage, a request rate, a byte size or a plain number.
    fn amount(&mut self, node: &Node, what: &str) -> Option<(f64, Unit)> {
        let text = match &node.value {
            Value::Int(i) => return Some((*i as f64, Unit::Number)),
            Value::Float(f) if f.is_finite() => return Some((*f, Unit::Number)),
            Value::Str(s) => s.trim().to_string(),
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as a value, found {}", other.kind()),
                    "write a duration (`250ms`), a percentage (`20%`), a rate (`500/s`), a size (`64MiB`) or a number",
                );
                return None;
            }
        };
        let parsed = if let Ok(n) = text.parse::<f64>() {
            Some((n, Unit::Number))
        } else if text.ends_with('%') {
            text.parse::<Percent>().ok().map(|p| (p.0, Unit::Percent))
        } else if text.ends_with("/s") {
            text.parse::<crate::gameday::units::RequestRate>()
                .ok()
                .map(|r| (r.0, Unit::PerSecond))
        } else if text.ends_with('B') {
            text.parse::<crate::gameday::units::ByteSize>()
                .ok()
                .map(|b| (b.0, Unit::Bytes))
        } else {
            text.parse::<HumanDuration>()
                .ok()
                .map(|d| (d.as_std().as_secs_f64() * 1000.0, Unit::Ms))
        };
        match parsed {
            Some((v, unit)) if v.is_finite() && v >= 0.0 => Some((v, unit)),
            _ => {
                self.error_hint(
                    node.pos,
                    format!("{what} is not a value a search can vary: `{text}`"),
                    "write a duration (`250ms`), a percentage (`20%`), a rate (`500/s`), a size (`64MiB`) or a number, not below zero",
                );
                None
            }
        }
    }

    /// A whole number in `low..=high`.
    fn count_in(&mut self, node: &Node, what: &str, low: i64, high: i64) -> Option<u32> {
        match &node.value {
            Value::Int(n) if (low..=high).contains(n) => u32::try_from(*n).ok(),
            other => {
                let found = match other {
                    Value::Int(n) => format!("`{n}`"),
                    Value::Str(s) => format!("`{s}`"),
                    v => v.kind().to_string(),
                };
                self.error_hint(
                    node.pos,
                    format!(
                        "expected {what} as a whole number from {low} to {high}, found {found}"
                    ),
                    format!("write e.g. `{}`", low.max(2).min(high)),
                );
                None
            }
        }
    }

    /// `repeat: n` and `pass: k of n` (or `pass: k`).
    pub(super) fn repeat(
        &mut self,
        obj: &Obj<'_>,
        what: &str,
    ) -> Option<(Option<u32>, Option<u32>)> {
        let repeat = match obj.get("repeat") {
            None => None,
            Some(n) => Some(self.count_in(n, "`repeat`", 1, MOST_REPEATS)?),
        };
        let Some(pass_node) = obj.get("pass") else {
            return Some((repeat, None));
        };
        let Some(times) = repeat else {
            self.error_hint(
                pass_node.pos,
                format!("{what} has `pass` but no `repeat`"),
                "add `repeat: 5` (how many trials), or remove `pass`",
            );
            return None;
        };
        let (needed, of) = match &pass_node.value {
            Value::Int(k) => (*k, i64::from(times)),
            Value::Str(s) => {
                let parsed = s.split_once(" of ").and_then(|(k, n)| {
                    Some((k.trim().parse::<i64>().ok()?, n.trim().parse::<i64>().ok()?))
                });
                match parsed {
                    Some(p) => p,
                    None => {
                        self.error_hint(
                            pass_node.pos,
                            format!("expected `pass` as `k of {times}`, found `{s}`"),
                            format!(
                                "write e.g. `pass: {} of {times}`",
                                times.saturating_sub(1).max(1)
                            ),
                        );
                        return None;
                    }
                }
            }
            other => {
                self.error_hint(
                    pass_node.pos,
                    format!("expected `pass` as `k of {times}`, found {}", other.kind()),
                    format!(
                        "write e.g. `pass: {} of {times}`",
                        times.saturating_sub(1).max(1)
                    ),
                );
                return None;
            }
        };
        if of != i64::from(times) || !(1..=of).contains(&needed) {
            self.error_hint(
                pass_node.pos,
                format!(
                    "`pass` must be from 1 of {times} to {times} of {times}, found {needed} of {of}"
                ),
                format!("the scenario repeats {times} times; say how many must meet every check"),
            );
            return None;
        }
        Some((repeat, u32::try_from(needed).ok()))
    }
}

/// The scenario's node without one key.
fn without_key(node: &Node, key: &str) -> Node {
    let value = match &node.value {
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .filter(|(k, _)| k.name != key)
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    };
    Node {
        pos: node.pos,
        value,
    }
}

/// The values a search can try: `from`, then by `resolution`, up to `to`
/// (always included), each with its text.
fn grid(spec: &SearchSpec) -> Vec<(f64, String)> {
    let steps = ((spec.to - spec.from) / spec.resolution).ceil();
    if !steps.is_finite() || steps > MOST_POINTS as f64 * 10.0 {
        // Too many: only the count matters (reported by the caller).
        return vec![(spec.from, String::new()); MOST_POINTS * 10];
    }
    let steps = steps as usize;
    (0..=steps)
        .map(|i| {
            let v = if i == steps {
                spec.to
            } else {
                spec.from + i as f64 * spec.resolution
            };
            (v, say(spec.unit, v))
        })
        .collect()
}

/// A value as the faults are given it: `162.5ms`, `20%`, `500/s`,
/// `67108864B`, `3`.
pub(crate) fn say(unit: Unit, v: f64) -> String {
    let number = trimmed(v);
    match unit {
        Unit::Ms => format!("{number}ms"),
        Unit::Percent => format!("{number}%"),
        Unit::PerSecond => format!("{number}/s"),
        Unit::Bytes => format!("{}B", v.round()),
        Unit::Number | Unit::Count => number,
    }
}

/// A number with at most three decimals, trailing zeros dropped.
fn trimmed(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn unit_word(unit: Unit) -> &'static str {
    match unit {
        Unit::Ms => "a duration",
        Unit::Percent => "a percentage",
        Unit::PerSecond => "a rate",
        Unit::Bytes => "a size",
        Unit::Number | Unit::Count => "a number",
    }
}

/// The scenario with `{{var}}` replaced by the value in its faults
/// (`fault:`, `faults:`, a step's `fault:`; a string that is just
/// `{{var}}` becomes a number when the unit is a plain number), and
/// whether it was found there. Only the faults vary from trial to trial.
fn substitute(scenario: &Node, var: &str, unit: Unit, point: &(f64, String)) -> (Node, bool) {
    let mut found = false;
    let mut replace_in = |n: &Node| replace(n, var, unit, point, &mut found);
    let value = match &scenario.value {
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let v = match k.name.as_str() {
                        "fault" | "faults" => replace_in(v),
                        "steps" => match &v.value {
                            Value::Seq(items) => Node {
                                pos: v.pos,
                                value: Value::Seq(
                                    items
                                        .iter()
                                        .map(|item| step_fault(item, &mut replace_in))
                                        .collect(),
                                ),
                            },
                            _ => v.clone(),
                        },
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    };
    let node = Node {
        pos: scenario.pos,
        value,
    };
    (node, found)
}

/// A step with its `fault:` replaced.
fn step_fault(step: &Node, replace_in: &mut impl FnMut(&Node) -> Node) -> Node {
    match &step.value {
        Value::Map(entries) => Node {
            pos: step.pos,
            value: Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| match k.name.as_str() {
                        "fault" => (k.clone(), replace_in(v)),
                        _ => (k.clone(), v.clone()),
                    })
                    .collect(),
            ),
        },
        _ => step.clone(),
    }
}

/// Where `{{var}}` is written in what a fault acts on (`service`,
/// `container`, `labels`, `host`, `to`), if anywhere: the plan resolved
/// and checked the targets once.
fn in_a_target(node: &Node, var: &str) -> Option<Pos> {
    match &node.value {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| match k.name.as_str() {
            "service" | "container" | "labels" | "host" | "to" => placeholder_at(v, var),
            _ => in_a_target(v, var),
        }),
        Value::Seq(items) => items.iter().find_map(|n| in_a_target(n, var)),
        _ => None,
    }
}

/// Where `{{var}}` is still written (outside the faults), if anywhere.
fn placeholder_at(node: &Node, var: &str) -> Option<Pos> {
    match &node.value {
        Value::Str(s) => {
            let patterns = [format!("{{{{{var}}}}}"), format!("{{{{ {var} }}}}")];
            patterns
                .iter()
                .any(|p| s.contains(p.as_str()))
                .then_some(node.pos)
        }
        Value::Seq(items) => items.iter().find_map(|n| placeholder_at(n, var)),
        Value::Map(entries) => entries.iter().find_map(|(_, v)| placeholder_at(v, var)),
        _ => None,
    }
}

fn replace(node: &Node, var: &str, unit: Unit, point: &(f64, String), found: &mut bool) -> Node {
    let value = match &node.value {
        Value::Str(s) => {
            let patterns = [format!("{{{{{var}}}}}"), format!("{{{{ {var} }}}}")];
            match patterns.iter().find(|p| s.contains(p.as_str())) {
                None => Value::Str(s.clone()),
                Some(p) => {
                    *found = true;
                    let whole = s.trim() == p;
                    match unit {
                        Unit::Number | Unit::Count if whole && point.0.fract() == 0.0 => {
                            Value::Int(point.0 as i64)
                        }
                        Unit::Number | Unit::Count if whole => Value::Float(point.0),
                        _ => Value::Str(s.replace(p.as_str(), &point.1)),
                    }
                }
            }
        }
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .map(|n| replace(n, var, unit, point, found))
                .collect(),
        ),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), replace(v, var, unit, point, found)))
                .collect(),
        ),
        other => other.clone(),
    };
    Node {
        pos: node.pos,
        value,
    }
}
