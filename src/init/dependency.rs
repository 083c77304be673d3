//! The scenarios of one dependency (A calls B), written by
//! [`super::write`]: B paused, B killed and restored, B slow, A started
//! while B is down, A cut off from B. What A's clients see is checked on
//! A's own probe, else through the nearest caller that has one; a
//! checklist item is claimed only where a probe can prove it, and where B
//! is a datastore every ledger that sees it checks that no acknowledged
//! write was lost. Pure.

use super::checklist::*;
use super::ledger::Lost;
use super::write::{Observer, ScenarioText, ServiceProbes, observer, probes_of, scalar};
use super::{Edge, Stack};
use crate::gameday::units::HumanDuration;

/// The scenarios of one dependency: B paused, B killed and restored, B
/// slow, A started while B is down, A cut off from B. What A's clients see
/// is checked on A's own probe, else through the nearest caller that has
/// one; a checklist item is claimed only where a probe can prove it.
pub(super) fn edge_scenarios(
    stack: &Stack,
    edge: &Edge,
    settle: HumanDuration,
) -> Vec<ScenarioText> {
    let e = EdgeText::new(stack, edge, settle);
    let mut out = vec![e.paused(), e.killed(), e.slow()];
    out.extend(e.started_without());
    out.push(e.cut_off());
    out
}

/// What the scenarios of one dependency (A calls B) are written from:
/// the two services, A's probes, who sees what A's clients see.
struct EdgeText<'a> {
    a: &'a str,
    b: &'a str,
    /// `a` and `b` as YAML scalars.
    qa: String,
    qb: String,
    pa: ServiceProbes,
    seen_by: Option<Observer>,
    settle: HumanDuration,
    /// Who the expectations speak of, when it is not A itself.
    through: Option<String>,
    /// The ledgers that see B's data.
    lost: Lost,
}

impl<'a> EdgeText<'a> {
    fn new(stack: &Stack, edge: &'a Edge, settle: HumanDuration) -> Self {
        let (a, b) = (edge.from.as_str(), edge.to.as_str());
        let seen_by = observer(a, stack);
        let through = match &seen_by {
            Some(o) if !o.direct => Some(format!(
                "{a} publishes no port: what its clients see is checked through {} ({}).",
                o.via, o.probe
            )),
            Some(_) => None,
            None => Some(format!(
                "Nothing here shows what {a}'s clients see (no published port on it or on a caller):\n\
                 only its container is watched and no checklist item is claimed. Add a probe that\n\
                 asks {a} from inside (`exec`) to check more."
            )),
        };
        EdgeText {
            a,
            b,
            qa: scalar(a),
            qb: scalar(b),
            pa: probes_of(a, stack),
            seen_by,
            settle,
            through,
            lost: Lost::of(stack, b),
        }
    }

    fn state(&self) -> String {
        format!(
            "{{ probe: {}, during: fault, state: running }}",
            scalar(&self.pa.state)
        )
    }

    fn recovers(&self, probe: &str) -> String {
        format!(
            "{{ probe: {}, recovers_within: {} }}   # adjust",
            scalar(probe),
            self.settle
        )
    }

    fn bounded(&self, probe: &str, note: &str) -> String {
        format!(
            "{{ probe: {}, during: fault, latency_p99: \"< 2s\" }}   # adjust{note}",
            scalar(probe)
        )
    }

    /// The checklist items, claimed only when a probe sees what A's
    /// clients see.
    fn claim(&self, items: Vec<&'static str>) -> Vec<&'static str> {
        if self.seen_by.is_some() {
            items
        } else {
            Vec::new()
        }
    }

    /// B frozen: A's health says so, and A answers fast.
    fn paused(&self) -> ScenarioText {
        let (a, b) = (self.a, self.b);
        let mut expect = Vec::new();
        let mut items = self.claim(vec![FAILS_FAST]);
        if let Some(health) = self.pa.health() {
            expect.push(format!(
                "{{ probe: {}, fails_within: 5s }}   # adjust: the health check notices",
                scalar(health)
            ));
            items.insert(0, HEALTH_TESTS_DEPENDENCIES);
        }
        if let Some(o) = &self.seen_by {
            expect.push(self.bounded(&o.probe, ": no request hangs"));
        }
        expect.push(self.state());
        if let Some(o) = &self.seen_by {
            expect.push(self.recovers(&o.probe));
        }
        expect.extend(self.lost.checks(false));
        ScenarioText {
            name: format!("{b} paused, {a} must notice and fail fast"),
            expected: if self.pa.health().is_some() {
                format!(
                    "While {b} is frozen, {a}'s health check reports it within 5s and {a} answers quickly (errors, not hangs); {a} recovers when {b} is back."
                )
            } else {
                format!(
                    "While {b} is frozen, {a} answers quickly (errors, not hangs) and recovers when {b} is back."
                )
            },
            checklist: items,
            faults: vec![format!("{{ pause: {{ service: {} }} }}", self.qb)],
            expect,
            comment: self.through.clone(),
        }
    }

    /// B dies and is started again: A comes back on its own.
    fn killed(&self) -> ScenarioText {
        let (a, b) = (self.a, self.b);
        let mut expect = vec![self.state()];
        if let Some(o) = &self.seen_by {
            expect.push(self.recovers(&o.probe));
        }
        expect.extend(self.lost.checks(true));
        let mut checklist = self.claim(vec![RECOVERS_WHEN_DEPENDENCY_RETURNS]);
        if self.lost.seen() {
            checklist.push(WRITES_SURVIVE_CRASH);
        }
        ScenarioText {
            name: format!("{b} killed and restored, {a} recovers"),
            expected: format!(
                "{a} keeps running while {b} is gone and works again on its own once {b} is back, without a restart{}.",
                if self.lost.seen() {
                    format!("; every write {b} acknowledged is still there")
                } else {
                    String::new()
                }
            ),
            checklist,
            faults: vec![format!(
                "{{ kill: {{ service: {}, signal: SIGKILL }} }}",
                self.qb
            )],
            expect,
            comment: self.through.clone(),
        }
    }

    /// B slow: A's latency stays bounded.
    fn slow(&self) -> ScenarioText {
        let (a, b) = (self.a, self.b);
        let mut expect = Vec::new();
        if let Some(o) = &self.seen_by {
            expect.push(self.bounded(&o.probe, ""));
            expect.push(format!(
                "{{ probe: {}, during: after, success_rate: \">= 95%\" }}   # adjust",
                scalar(&o.probe)
            ));
        }
        expect.push(self.state());
        expect.extend(self.lost.checks(false));
        ScenarioText {
            name: format!("{b} slow, {a} stays bounded"),
            expected: format!(
                "With {b} 100ms slower, {a}'s answers stay under 2s: its timeouts bound what a slow {b} costs."
            ),
            checklist: self.claim(vec![LATENCY_BOUNDED]),
            faults: vec![format!(
                "{{ delay: {{ service: {}, latency: 100ms }} }}   # adjust",
                self.qb
            )],
            expect,
            comment: self.through.clone(),
        }
    }

    /// A started while B is down: A must not say it is healthy (only A's
    /// own health endpoint can tell, so without one there is no scenario).
    fn started_without(&self) -> Option<ScenarioText> {
        let (a, b) = (self.a, self.b);
        let health = self.pa.health()?;
        let h = scalar(health);
        Some(ScenarioText {
            name: format!("{a} started while {b} is down"),
            expected: format!(
                "Started without {b}, {a} must not report healthy; it becomes healthy once {b} is back."
            ),
            checklist: vec![NOT_HEALTHY_WITHOUT_DEPENDENCY],
            faults: vec![
                format!("{{ stop: {{ service: {}, timeout: 1s }} }}", self.qb),
                format!("{{ restart: {{ service: {}, timeout: 1s }} }}", self.qa),
            ],
            expect: [
                format!("{{ probe: {h}, during: fault, success_rate: \"== 0%\" }}"),
                self.recovers(health),
            ]
            .into_iter()
            .chain(self.lost.checks(false))
            .collect(),
            comment: None,
        })
    }

    /// A cut off from B.
    fn cut_off(&self) -> ScenarioText {
        let (a, b) = (self.a, self.b);
        let mut expect = Vec::new();
        if let Some(health) = self.pa.health() {
            expect.push(format!(
                "{{ probe: {}, fails_within: 5s }}   # adjust",
                scalar(health)
            ));
        }
        if let Some(o) = &self.seen_by {
            expect.push(self.bounded(&o.probe, ""));
        }
        expect.push(self.state());
        if let Some(o) = &self.seen_by {
            expect.push(self.recovers(&o.probe));
        }
        expect.extend(self.lost.checks(false));
        ScenarioText {
            name: format!("{a} cut off from {b}"),
            expected: format!(
                "Cut off from {b}, {a} keeps running and answers fast{}; it heals when the network does.",
                if self.pa.health().is_some() {
                    ", and says it is unhealthy"
                } else {
                    ""
                }
            ),
            checklist: if self.seen_by.is_some() || self.pa.health().is_some() {
                vec![SURVIVES_PARTITION]
            } else {
                Vec::new()
            },
            faults: vec![format!(
                "{{ partition: {{ service: {}, from: [{}] }} }}",
                self.qa, self.qb
            )],
            expect,
            comment: self.through.clone(),
        }
    }
}
