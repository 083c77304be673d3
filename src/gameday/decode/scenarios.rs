//! Scenarios (`scenarios:`): their faults or steps, duration, cooldown,
//! expectations and stop conditions.

use std::collections::HashMap;

use super::*;

pub(crate) const SCENARIO_KEYS: &[&str] = &[
    "name",
    "description",
    "expected",
    "fault",
    "faults",
    "steps",
    "duration",
    "cooldown",
    "expect",
    "halt_if",
    "checklist",
    "repeat",
    "pass",
    "search",
];
/// What a step may say besides its kind: a manual step's timeout.
const STEP_EXTRA_KEYS: &[&str] = &["timeout"];
/// How long a manual step waits for an answer when it does not say.
pub(super) const MANUAL_TIMEOUT_DEFAULT: HumanDuration =
    HumanDuration(std::time::Duration::from_secs(300));

impl Decoder<'_> {
    pub(super) fn scenarios(
        &mut self,
        node: &Node,
        defaults: &Defaults,
        probes: &[Probe],
    ) -> Vec<Scenario> {
        let items = match &node.value {
            Value::Seq(items) => items,
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected `scenarios` as a list, found {}", other.kind()),
                    "write each scenario as a list item starting with `- name: ...`",
                );
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.error_hint(
                node.pos,
                "the gameday has no scenarios",
                "add at least one scenario with a `name`, a `fault` and a `duration`",
            );
        }
        let mut scenarios: Vec<Scenario> = Vec::new();
        let mut seen: HashMap<String, Pos> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.scenario(item, i + 1, defaults, probes) {
                if let Some(first) = seen.get(&s.name) {
                    self.error_hint(
                        s.pos,
                        format!("duplicate scenario name `{}`", s.name),
                        format!(
                            "a scenario with this name starts on line {}; names must be unique",
                            first.line
                        ),
                    );
                    continue;
                }
                seen.insert(s.name.clone(), s.pos);
                scenarios.push(s);
            }
        }
        scenarios
    }

    pub(super) fn scenario(
        &mut self,
        node: &Node,
        index: usize,
        defaults: &Defaults,
        probes: &[Probe],
    ) -> Option<Scenario> {
        // Name the scenario in messages about its keys when it has a name.
        let what = match &node.value {
            Value::Map(entries) => {
                entries
                    .iter()
                    .find(|(k, _)| k.name == "name")
                    .and_then(|(_, v)| match &v.value {
                        Value::Str(n) => Some(format!("scenario `{n}`")),
                        _ => None,
                    })
            }
            _ => None,
        }
        .unwrap_or_else(|| format!("scenario #{index}"));
        if let Value::Map(entries) = &node.value
            && let Some((key, search)) = entries.iter().find(|(k, _)| k.name == "search")
        {
            if let Some((other, _)) = entries
                .iter()
                .find(|(k, _)| k.name == "repeat" || k.name == "pass")
            {
                self.error_hint(
                    other.pos,
                    format!("{what} has both `search` (line {}) and `{}`", key.pos.line, other.name),
                    "a search runs its own trials: use `search.confirm` to try a value more than once",
                );
                return None;
            }
            return self.searched_scenario(node, search, index, defaults, probes);
        }
        let obj = self.obj(node, &what, SCENARIO_KEYS)?;
        let repeat = self.repeat(&obj, &what);
        let name = self
            .require(&obj, "name", &what, "Database paused")
            .and_then(|n| self.name(n, "the scenario name"));
        let description = obj
            .get("description")
            .and_then(|n| self.text(n, "description"));
        let expected = obj.get("expected").and_then(|n| self.text(n, "`expected`"));
        let mut steps = Vec::new();
        let faults = match (obj.key("fault"), obj.key("faults"), obj.key("steps")) {
            (Some(_), Some(both), _) => {
                self.error_hint(
                    both.pos,
                    format!("{what} has both `fault` and `faults`"),
                    "use `fault:` for one fault or `faults:` for a list, not both",
                );
                None
            }
            (Some(k), None, Some(_)) | (None, Some(k), Some(_)) => {
                self.error_hint(
                    k.pos,
                    format!("{what} has both `{}` and `steps`", k.name),
                    "with `steps:`, write each fault as a step: `- fault: { pause: { service: db } }`",
                );
                None
            }
            (Some(_), None, None) => obj
                .get("fault")
                .and_then(|n| self.fault(n))
                .map(|f| vec![f]),
            (None, Some(_), None) => obj.get("faults").and_then(|n| self.fault_list(n, &what)),
            (None, None, Some(_)) => {
                obj.get("steps")
                    .and_then(|n| self.steps(n, &what))
                    .map(|(faults, decoded)| {
                        steps = decoded;
                        faults
                    })
            }
            (None, None, None) if self.faultless => Some(Vec::new()),
            (None, None, None) => {
                self.error_hint(
                    obj.pos,
                    format!("{what} has no fault"),
                    "add e.g. `fault: { pause: { service: db } }`, `faults:` with a list, or `steps:`",
                );
                None
            }
        };
        let duration = if obj.key("steps").is_some() && obj.get("duration").is_none() {
            Some(HumanDuration::default())
        } else {
            self.require(&obj, "duration", &what, "20s")
                .and_then(|n| self.duration(n, "`duration`"))
        };
        let cooldown = obj
            .get("cooldown")
            .map(|n| self.duration(n, "`cooldown`"))
            .unwrap_or(Some(defaults.cooldown));
        let expect = match obj.get("expect") {
            None => Some(Vec::new()),
            Some(n) => self.list(n, "`expect`", |d, item| {
                d.expectation(item, probes, defaults.baseline)
            }),
        };
        let halt_if = match obj.get("halt_if") {
            None => Some(Vec::new()),
            Some(n) => self.list(n, "`halt_if`", |d, item| d.halt_condition(item, probes)),
        };
        let checklist = match obj.get("checklist") {
            None => Some(Vec::new()),
            Some(n) => self.checklist(n),
        };
        Some(Scenario {
            name: name?,
            description,
            expected,
            faults: faults?,
            steps,
            duration: duration?,
            cooldown: cooldown?,
            expect: expect?,
            halt_if: halt_if?,
            checklist: checklist?,
            repeat: repeat?.0,
            pass: repeat?.1,
            search: None,
            pos: obj.pos,
        })
    }

    /// `steps:` of a scenario: the faults in step order, and the steps.
    pub(super) fn steps(&mut self, node: &Node, what: &str) -> Option<(Vec<Fault>, Vec<Step>)> {
        let items = match &node.value {
            Value::Seq(items) if !items.is_empty() => items,
            _ => {
                self.error_hint(
                    node.pos,
                    format!("expected the steps of {what} as a non-empty list"),
                    "write `steps: [ { note: \"Drill starts\" }, { fault: { pause: { service: db } } }, { wait: 10s } ]`",
                );
                return None;
            }
        };
        let mut faults = Vec::new();
        let mut steps = Vec::new();
        let mut ok = true;
        for item in items {
            let known: Vec<&'static str> = StepKind::KEYS
                .iter()
                .chain(STEP_EXTRA_KEYS)
                .copied()
                .collect();
            let Some(obj) = self.obj(item, "a step", &known) else {
                ok = false;
                continue;
            };
            let kinds = obj.present(StepKind::KEYS);
            let kind = match kinds.as_slice() {
                [one] => *one,
                [] => {
                    if !obj.had_unknown_key {
                        self.error_hint(
                            obj.pos,
                            "the step does nothing",
                            format!("give it one of {}", list_keys(StepKind::KEYS)),
                        );
                    }
                    ok = false;
                    continue;
                }
                [first, second, ..] => {
                    self.error_hint(
                        second.pos,
                        format!("one step has both `{}` and `{}`", first.name, second.name),
                        "write one step per list item",
                    );
                    ok = false;
                    continue;
                }
            };
            if let Some(t) = obj.key("timeout")
                && kind.name != "manual"
            {
                self.error_hint(
                    t.pos,
                    "`timeout` applies to a `manual` step only",
                    "remove it, or use `wait:` for a pause",
                );
                ok = false;
            }
            let body = obj.get(&kind.name)?;
            let step = match StepKind::from_key(&kind.name)? {
                StepKind::Fault => self.fault(body).map(|f| {
                    faults.push(f);
                    Step::Fault(faults.len() - 1)
                }),
                StepKind::Wait => self.duration(body, "`wait`").map(Step::Wait),
                StepKind::Note => self.name(body, "the note").map(Step::Note),
                StepKind::Manual => {
                    let manual = self.name(body, "the instruction");
                    let timeout = match obj.get("timeout") {
                        None => Some(MANUAL_TIMEOUT_DEFAULT),
                        Some(n) => self.duration(n, "`timeout`"),
                    };
                    match (manual, timeout) {
                        (Some(manual), Some(timeout)) => {
                            Some(Step::Manual(ManualStep { manual, timeout }))
                        }
                        _ => None,
                    }
                }
            };
            match step {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        if ok && faults.is_empty() {
            self.error_hint(
                node.pos,
                format!("the steps of {what} apply no fault"),
                "add a step like `- fault: { pause: { service: db } }`",
            );
            return None;
        }
        ok.then_some((faults, steps))
    }

    /// `checklist:` items: a list of non-empty texts, each once; every
    /// problem is reported.
    fn checklist(&mut self, node: &Node) -> Option<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!("expected `checklist` as a list, found {}", node.value.kind()),
                "write the items it proves as a list: `checklist: [Fails fast when a dependency hangs]`",
            );
            return None;
        };
        let mut out: Vec<String> = Vec::new();
        let mut ok = true;
        for n in items {
            let Some(item) = self.name(n, "a checklist item") else {
                ok = false;
                continue;
            };
            let item = item.trim().to_string();
            if out.contains(&item) {
                self.error_hint(
                    n.pos,
                    format!("checklist item `{item}` is listed twice"),
                    "list each item once",
                );
                ok = false;
                continue;
            }
            out.push(item);
        }
        ok.then_some(out)
    }

    pub(super) fn fault_list(&mut self, node: &Node, what: &str) -> Option<Vec<Fault>> {
        let faults = self.list(node, "`faults`", |d, n| d.fault(n))?;
        if faults.is_empty() {
            self.error_hint(
                node.pos,
                format!("{what} has an empty list of faults"),
                "add at least one fault, e.g. `- pause: { service: db }`",
            );
            return None;
        }
        Some(faults)
    }
}
