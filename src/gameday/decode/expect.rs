//! Expectations (`expect:`) and stop conditions (`halt_if:`): which probe,
//! which window, exactly one check that fits the probe's kind.

use super::*;
use crate::gameday::units::{
    ByteSize, CmpOp, Comparison, ContainerState, CpuPercent, HealthState, Number, RequestRate,
    StatusSpec,
};

pub(crate) const EXPECT_COMMON_KEYS: &[&str] = &["probe", "during", "within"];
pub(crate) const HALT_KEYS: &[&str] = &["probe", "failing_for"];

impl Decoder<'_> {
    /// One expectation; `baseline` is the length of every scenario's
    /// before window, which relative checks compare with.
    pub(super) fn expectation(
        &mut self,
        node: &Node,
        probes: &[Probe],
        baseline: HumanDuration,
    ) -> Option<Expectation> {
        let known: Vec<&'static str> = EXPECT_COMMON_KEYS
            .iter()
            .chain(CheckKind::KEYS)
            .copied()
            .collect();
        let obj = self.obj(node, "an expectation", &known)?;
        // `detected_by` names no probe: it reads every alert probe, or the
        // observations.
        let probe = match obj.key("detected_by") {
            Some(_) => self.no_probe(&obj).then_some(None),
            None => self
                .require(&obj, "probe", "the expectation", "health")
                .and_then(|n| self.probe_ref(n, probes))
                .map(Some),
        };
        let during = match obj.get("during") {
            None => None,
            Some(n) => Some(self.window(n)?),
        };
        let key = self.the_check(&obj)?;
        let value = obj.get(&key.name)?;
        let kind = CheckKind::from_key(&key.name)?;
        if self.relative_where_not_taken(key, kind, value) {
            return None;
        }
        let check = match kind {
            CheckKind::DetectedBy => Check::DetectedBy(self.detected_by(&obj, value, probes)?),
            _ => {
                self.within_only_with_detection(&obj);
                self.check(kind, value)?
            }
        };
        let probe = probe?;
        let during = self.window_of(&obj, key, kind, during)?;
        if let Some((_, probe)) = &probe {
            if !self.check_fits(key, kind, probe) || !self.store_tells(key, kind, probe) {
                return None;
            }
            if check.is_relative() && !self.relative_has_before(key, value, during, probe, baseline)
            {
                return None;
            }
        }
        Some(Expectation {
            probe: probe.map(|(r, _)| r),
            during,
            check,
            pos: obj.pos,
        })
    }

    /// A `detected_by` check says no `probe:`; says so when it does.
    fn no_probe(&mut self, obj: &Obj<'_>) -> bool {
        let Some(probe) = obj.key("probe") else {
            return true;
        };
        self.error_hint(
            probe.pos,
            "`detected_by` names no probe: it reads every alert probe (`detected_by: alert`) or the `detected` observations (`detected_by: people`)",
            "remove `probe:`; to time one alert probe, write `{ probe: NAME, fires_within: 60s }`",
        );
        false
    }

    /// `within:` belongs to `detected_by`; anywhere else it is an error.
    fn within_only_with_detection(&mut self, obj: &Obj<'_>) {
        if let Some(within) = obj.key("within") {
            self.error_hint(
                within.pos,
                "`within` goes with `detected_by` only",
                "a probe's own time limits are `fails_within`, `recovers_within` and `fires_within`",
            );
        }
    }

    /// `{ detected_by: alert|people, within: 60s }`; an alert needs a
    /// probe that can say an alert fires.
    fn detected_by(&mut self, obj: &Obj<'_>, value: &Node, probes: &[Probe]) -> Option<DetectedBy> {
        let by = self.name(value, "`detected_by`").and_then(|word| {
            let found = Detector::ALL.into_iter().find(|d| d.key() == word);
            if found.is_none() {
                self.error_hint(
                    value.pos,
                    format!("unknown `detected_by` value `{word}`"),
                    "use `alert` (an alert probe fired) or `people` (someone typed `NAME: detected: ...`)",
                );
            }
            found
        });
        let within = match obj.get("within") {
            Some(n) => self.duration(n, "`within`"),
            None => {
                self.error_hint(
                    obj.key("detected_by").map_or(obj.pos, |k| k.pos),
                    "`detected_by` needs `within`: how soon after the first fault the detection must come",
                    "add `within: 60s` to this expectation",
                );
                None
            }
        };
        let by = by?;
        if by == Detector::Alert && !probes.iter().any(|p| p.kind.is_alert_signal()) {
            self.error_hint(
                value.pos,
                "`detected_by: alert` but no probe can say an alert fires",
                "add an `alert` probe (`alert: { url: http://127.0.0.1:9093, name: HighErrorRate }`), or a `prometheus` probe asking `ALERTS{alertname=\"...\"}`",
            );
            return None;
        }
        Some(DetectedBy {
            by,
            within: within?,
        })
    }

    /// `during:`: `before`, `fault` or `after`.
    fn window(&mut self, n: &Node) -> Option<Window> {
        match self.name(n, "`during`").as_deref() {
            Some("before") => Some(Window::Before),
            Some("fault") => Some(Window::Fault),
            Some("after") => Some(Window::After),
            Some(other) => {
                self.error_hint(
                    n.pos,
                    format!("unknown window `{other}`"),
                    "use `before` (baseline), `fault` (while held) or `after` (revert to end of cooldown)",
                );
                None
            }
            None => None,
        }
    }

    /// The one check an expectation names.
    fn the_check<'o>(&mut self, obj: &Obj<'o>) -> Option<&'o Key> {
        let checks = obj.present(CheckKind::KEYS);
        match checks.as_slice() {
            [] => {
                if !obj.had_unknown_key {
                    self.error_hint(
                        obj.pos,
                        "the expectation has no check",
                        format!("add one of {}", list_keys(CheckKind::KEYS)),
                    );
                }
                None
            }
            [one] => Some(*one),
            [first, second, ..] => {
                self.error_hint(
                    second.pos,
                    format!(
                        "one expectation has two checks, `{}` and `{}`",
                        first.name, second.name
                    ),
                    "write one expectation per check (one list item each)",
                );
                None
            }
        }
    }

    /// The check, decoded from its value.
    fn check(&mut self, kind: CheckKind, value: &Node) -> Option<Check> {
        Some(match kind {
            CheckKind::SuccessRate => Check::SuccessRate(self.threshold(
                value,
                "`success_rate`",
                ">= 99%",
                ">= before - 1%",
            )?),
            CheckKind::Status => Check::Status(self.status_spec(value)?),
            CheckKind::LatencyP50 => Check::LatencyP50(self.threshold(
                value,
                "`latency_p50`",
                "< 200ms",
                "< 2x before",
            )?),
            CheckKind::LatencyP95 => Check::LatencyP95(self.threshold(
                value,
                "`latency_p95`",
                "< 500ms",
                "< 2x before",
            )?),
            CheckKind::LatencyP99 => {
                Check::LatencyP99(self.threshold(value, "`latency_p99`", "< 1s", "< 2x before")?)
            }
            CheckKind::LatencyMax => Check::LatencyMax(self.threshold(
                value,
                "`latency_max`",
                "< 2s",
                "<= before + 500ms",
            )?),
            CheckKind::LatencyP999 => Check::LatencyP999(self.threshold(
                value,
                "`latency_p999`",
                "< 2s",
                "< 2x before",
            )?),
            CheckKind::Throughput => Check::Throughput(self.threshold::<RequestRate>(
                value,
                "`throughput`",
                ">= 480/s",
                ">= 90% of before",
            )?),
            CheckKind::RecoversWithin => {
                Check::RecoversWithin(self.duration(value, "`recovers_within`")?)
            }
            CheckKind::FailsWithin => Check::FailsWithin(self.duration(value, "`fails_within`")?),
            CheckKind::FiresWithin => Check::FiresWithin(self.duration(value, "`fires_within`")?),
            CheckKind::ExitCode => Check::ExitCode(self.exit_codes(value)?),
            CheckKind::Matches => {
                Check::Matches(self.comparison::<Number>(value, "`matches`", "> 0")?)
            }
            CheckKind::Value => {
                Check::Value(self.comparison::<Number>(value, "`value`", "< 0.05")?)
            }
            CheckKind::Health => {
                let text = self.name(value, "`health`")?;
                match text.parse::<HealthState>() {
                    Ok(h) => Check::Health(h),
                    Err(e) => {
                        let names: Vec<&str> = HealthState::ALL.iter().map(|h| h.name()).collect();
                        self.error_hint(value.pos, e, format!("use one of {}", names.join(", ")));
                        return None;
                    }
                }
            }
            CheckKind::Restarts => {
                Check::Restarts(self.comparison::<Number>(value, "`restarts`", "<= 1")?)
            }
            CheckKind::OomKilled => Check::OomKilled(self.boolean(value, "`oom_killed`")?),
            CheckKind::Lost => Check::Lost(self.at_most(value, "`lost`")?),
            CheckKind::Duplicated => Check::Duplicated(self.at_most(value, "`duplicated`")?),
            CheckKind::Rpo => Check::Rpo(self.comparison::<HumanDuration>(value, "`rpo`", "< 1s")?),
            CheckKind::Cpu => Check::Cpu(self.threshold::<CpuPercent>(
                value,
                "`cpu`",
                ">= 50%",
                "<= 2x before",
            )?),
            CheckKind::Memory => Check::Memory(self.threshold::<ByteSize>(
                value,
                "`memory`",
                "< 256MiB",
                "<= before + 64MiB",
            )?),
            // Decoded with its `within` by `detected_by`.
            CheckKind::DetectedBy => return None,
            CheckKind::State => {
                let text = self.name(value, "`state`")?;
                match text.parse::<ContainerState>() {
                    Ok(s) => Check::State(s),
                    Err(e) => {
                        let names: Vec<&str> =
                            ContainerState::ALL.iter().map(|s| s.name()).collect();
                        self.error_hint(value.pos, e, format!("use one of {}", names.join(", ")));
                        return None;
                    }
                }
            }
        })
    }

    /// The window an expectation is judged over: the one its check implies
    /// (recovers_within is measured from the revert, fails_within from the
    /// apply), or the one given, `fault` by default.
    fn window_of(
        &mut self,
        obj: &Obj<'_>,
        key: &Key,
        kind: CheckKind,
        during: Option<Window>,
    ) -> Option<Window> {
        let implied = kind.implied_window();
        match (implied, during) {
            (Some(w), Some(given)) if w != given => {
                let at = obj.key("during").map(|k| k.pos).unwrap_or(obj.pos);
                self.error_hint(
                    at,
                    format!(
                        "`{}` is always measured over `{}`, not `{}`",
                        key.name,
                        w.name(),
                        given.name()
                    ),
                    "remove `during:` from this expectation",
                );
                None
            }
            (Some(w), _) => Some(w),
            (None, given) => Some(given.unwrap_or_default()),
        }
    }

    /// Whether the check applies to the probe's kind; says so when not.
    fn check_fits(&mut self, key: &Key, kind: CheckKind, probe: &Probe) -> bool {
        let probe_type = probe.kind.probe_type();
        if !kind.fits(probe_type) {
            let fits: Vec<&str> = CheckKind::ALL
                .iter()
                .filter(|k| k.fits(probe_type))
                .map(|k| k.key())
                .collect();
            self.error_hint(
                key.pos,
                format!(
                    "`{}` does not apply to probe `{}`, which is {} probe",
                    key.name,
                    probe.name,
                    probe_type.with_article()
                ),
                format!(
                    "{} probe can check {}",
                    probe_type.with_article(),
                    list_keys(&fits)
                ),
            );
            return false;
        }
        true
    }

    /// `duplicated` needs a store that tells a record written twice from
    /// once (an HTTP API's read says only present or absent).
    fn store_tells(&mut self, key: &Key, kind: CheckKind, probe: &Probe) -> bool {
        match (&probe.kind, kind) {
            (ProbeKind::Ledger(l), CheckKind::Duplicated) if !l.store.tells_duplicates() => {
                self.error_hint(
                    key.pos,
                    format!(
                        "`duplicated` cannot be judged on probe `{}`: its {} ledger reads a record as present or absent, never twice",
                        probe.name,
                        l.store.kind()
                    ),
                    "check `lost` here; count duplicates with a postgres or redis ledger on the store behind the API",
                );
                false
            }
            _ => true,
        }
    }

    /// A count at most: `0` (at most none), or a comparison `"<= 3"`.
    fn at_most(&mut self, node: &Node, what: &str) -> Option<Comparison<Number>> {
        match &node.value {
            Value::Int(n) if *n >= 0 => Some(Comparison {
                op: CmpOp::Le,
                value: Number(*n as f64),
            }),
            Value::Int(_) | Value::Float(_) => {
                self.error_hint(
                    node.pos,
                    format!(
                        "{what} is a count of writes, at most this many: a whole number from 0"
                    ),
                    format!(
                        "write `{}: 0` (none), or a comparison such as `\"<= 3\"`",
                        what.trim_matches('`')
                    ),
                );
                None
            }
            _ => self.comparison::<Number>(node, what, "<= 3"),
        }
    }

    pub(super) fn halt_condition(
        &mut self,
        node: &Node,
        probes: &[Probe],
    ) -> Option<HaltCondition> {
        let obj = self.obj(node, "a `halt_if` condition", HALT_KEYS)?;
        let probe = self
            .require(&obj, "probe", "the `halt_if` condition", "health")
            .and_then(|n| self.probe_ref(n, probes));
        let failing_for = self
            .require(&obj, "failing_for", "the `halt_if` condition", "15s")
            .and_then(|n| self.duration(n, "`failing_for`"));
        Some(HaltCondition {
            probe: probe?.0,
            failing_for: failing_for?,
            pos: obj.pos,
        })
    }

    pub(super) fn exit_codes(&mut self, node: &Node) -> Option<ExitCodes> {
        let hint = "write an exit code like `0`, or a list like `[0, 1]`";
        let one = |d: &mut Self, n: &Node| -> Option<i64> {
            match &n.value {
                Value::Int(i) if (0..=255).contains(i) => Some(*i),
                Value::Int(i) => {
                    d.error_hint(
                        n.pos,
                        format!("exit code {i} is out of range: exit codes go from 0 to 255"),
                        hint,
                    );
                    None
                }
                other => {
                    d.error_hint(
                        n.pos,
                        format!(
                            "expected an exit code from 0 to 255, found {}",
                            other.kind()
                        ),
                        hint,
                    );
                    None
                }
            }
        };
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.error_hint(node.pos, "the list of exit codes is empty", hint);
                None
            }
            Value::Seq(items) => {
                let codes: Vec<Option<i64>> = items.iter().map(|n| one(self, n)).collect();
                codes.into_iter().collect::<Option<Vec<_>>>().map(ExitCodes)
            }
            _ => one(self, node).map(|c| ExitCodes(vec![c])),
        }
    }

    pub(super) fn status_spec(&mut self, node: &Node) -> Option<StatusSpec> {
        let one = |d: &mut Self, n: &Node| -> Option<StatusSpec> {
            let text = match &n.value {
                Value::Int(i) => i.to_string(),
                Value::Str(s) => s.clone(),
                other => {
                    d.error_hint(
                        n.pos,
                        format!("expected an HTTP status, found {}", other.kind()),
                        "write a code like `200`, a class like `2xx`, or a list `[200, 204]`",
                    );
                    return None;
                }
            };
            match StatusSpec::parse_one(&text) {
                Ok(s) => Some(s),
                Err(e) => {
                    d.error_hint(
                        n.pos,
                        e,
                        "write a code like `200`, a class like `2xx`, or a list `[200, 204]`",
                    );
                    None
                }
            }
        };
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.error(node.pos, "the list of statuses is empty");
                None
            }
            Value::Seq(items) => {
                let parsed: Vec<Option<StatusSpec>> = items.iter().map(|n| one(self, n)).collect();
                parsed
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(StatusSpec::AnyOf)
            }
            _ => one(self, node),
        }
    }
}
