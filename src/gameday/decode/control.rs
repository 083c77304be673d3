//! The parts of a gameday that control the whole run: `lease:` (the dead
//! man's switch), `stop_if:`, `notify:` and `grafana:`.

use super::*;

pub(crate) const STOP_KEYS: &[&str] = &["probe", "failing_for", "alert", "file", "error_budget"];
pub(crate) const BUDGET_KEYS: &[&str] = &["probe", "failures"];
pub(crate) const WEBHOOK_KEYS: &[&str] = &["url", "format", "timeout"];
pub(crate) const GRAFANA_KEYS: &[&str] = &["url", "token_env", "dashboard_uid"];

/// The shortest lease: a runner renews it every quarter of it, so shorter
/// ones would fire on a busy machine's scheduling hiccups.
const MIN_LEASE_MS: u64 = 2_000;

const STOP_HINT: &str = "write one of `{ probe: checkout, failing_for: 10s }`, `{ alert: HighErrorRate }`, `{ file: /tmp/STOP-GAMEDAY }`, `{ error_budget: { probe: checkout, failures: 50 } }`";

impl Decoder<'_> {
    pub(super) fn lease(&mut self, node: &Node) -> Option<HumanDuration> {
        let lease = self.duration(node, "`lease`")?;
        if (lease.as_std().as_millis() as u64) < MIN_LEASE_MS {
            self.error_hint(
                node.pos,
                format!("`lease` {lease} is too short: the watchdog would revert faults whenever the runner is briefly slow"),
                "use at least `2s` (the default is `10s`)",
            );
            return None;
        }
        Some(lease)
    }

    pub(super) fn stop_condition(
        &mut self,
        node: &Node,
        probes: &[Probe],
    ) -> Option<StopCondition> {
        let obj = self.obj(node, "a `stop_if` condition", STOP_KEYS)?;
        let kinds = obj.present(StopKind::KEYS);
        let Some(first) = kinds.first() else {
            if !obj.had_unknown_key {
                self.error_hint(
                    obj.pos,
                    "a `stop_if` condition says nothing to watch",
                    STOP_HINT,
                );
            }
            return None;
        };
        if let Some(second) = kinds.get(1) {
            self.error_hint(
                second.pos,
                format!(
                    "a `stop_if` condition watches one thing, and this one has both `{}` and `{}`",
                    first.name, second.name
                ),
                "write them as two conditions, one `- { ... }` each",
            );
            return None;
        }
        let kind = StopKind::from_key(&first.name)?;
        if kind != StopKind::ProbeFailing
            && let Some(k) = obj.key("failing_for")
        {
            self.error_hint(
                k.pos,
                format!("`failing_for` goes with `probe`, not with `{}`", first.name),
                "write `{ probe: checkout, failing_for: 10s }`",
            );
            return None;
        }
        match kind {
            StopKind::ProbeFailing => self.stop_on_probe(&obj, probes),
            StopKind::Alert => self.stop_on_alert(&obj, probes),
            StopKind::File => self.stop_on_file(&obj),
            StopKind::ErrorBudget => self.stop_on_budget(&obj, probes),
        }
    }

    /// `{ probe: checkout, failing_for: 10s }`.
    fn stop_on_probe(&mut self, obj: &Obj<'_>, probes: &[Probe]) -> Option<StopCondition> {
        let probe = obj.get("probe").and_then(|n| self.probe_ref(n, probes));
        let failing_for = self
            .require(obj, "failing_for", "the `stop_if` condition", "10s")
            .and_then(|n| self.duration(n, "`failing_for`"));
        Some(StopCondition::ProbeFailing {
            probe: probe?.0,
            failing_for: failing_for?,
        })
    }

    /// `{ alert: HighErrorRate }`: some `alert` probe must watch it.
    fn stop_on_alert(&mut self, obj: &Obj<'_>, probes: &[Probe]) -> Option<StopCondition> {
        let node = obj.get("alert")?;
        let alert = self.name(node, "the alert's name")?;
        let watching: Vec<ProbeRef> = probes
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(&p.kind, ProbeKind::Alert(a) if a.name == alert))
            .map(|(i, p)| ProbeRef {
                id: ProbeId(i),
                name: p.name.clone(),
            })
            .collect();
        if watching.is_empty() {
            self.error_hint(
                node.pos,
                format!("no `alert` probe watches alert `{alert}`, so nothing can see it fire"),
                format!("add a probe `{{ alert: {{ url: http://127.0.0.1:9093, name: {alert} }}, every: 1s }}` under `probes:`"),
            );
            return None;
        }
        Some(StopCondition::Alert {
            alert,
            probes: watching,
        })
    }

    /// `{ file: /tmp/STOP-GAMEDAY }`: an absolute path.
    fn stop_on_file(&mut self, obj: &Obj<'_>) -> Option<StopCondition> {
        let node = obj.get("file")?;
        let file = self.name(node, "the kill-switch file")?;
        if !file.starts_with('/') {
            self.error_hint(
                node.pos,
                format!("expected the kill-switch file as an absolute path, found `{file}`"),
                "write e.g. `/tmp/STOP-GAMEDAY`: anyone on this machine stops the run with `touch /tmp/STOP-GAMEDAY`",
            );
            return None;
        }
        Some(StopCondition::File { file })
    }

    /// `{ error_budget: { probe: checkout, failures: 50 } }`.
    fn stop_on_budget(&mut self, obj: &Obj<'_>, probes: &[Probe]) -> Option<StopCondition> {
        let budget = obj.get("error_budget")?;
        let o = self.obj(budget, "`error_budget`", BUDGET_KEYS)?;
        let probe = self
            .require(&o, "probe", "`error_budget`", "checkout")
            .and_then(|n| self.probe_ref(n, probes));
        let failures = self
            .require(&o, "failures", "`error_budget`", "50")
            .and_then(|n| match &n.value {
                Value::Int(i) if *i > 0 => Some(*i as u64),
                other => {
                    self.error_hint(
                        n.pos,
                        format!(
                            "expected `failures` as a count above 0, found {}",
                            match other {
                                Value::Int(i) => i.to_string(),
                                other => other.kind().to_string(),
                            }
                        ),
                        "write how many failed samples the run may spend, e.g. `failures: 50`",
                    );
                    None
                }
            });
        Some(StopCondition::ErrorBudget {
            error_budget: ErrorBudget {
                probe: probe?.0,
                failures: failures?,
            },
        })
    }

    pub(super) fn webhook(&mut self, node: &Node) -> Option<Webhook> {
        let obj = self.obj(node, "a `notify` webhook", WEBHOOK_KEYS)?;
        let url = self
            .require(&obj, "url", "the webhook", "https://hooks.example.com/T000/B000/XXXX")
            .and_then(|n| {
                let url = self.name(n, "the webhook's URL")?;
                if url.starts_with("http://") || url.starts_with("https://") {
                    Some(url)
                } else {
                    self.error_hint(
                        n.pos,
                        format!("expected an http:// or https:// URL for the webhook, found `{}`", crate::redact::url(&url)),
                        "write the incoming-webhook URL, e.g. `${SLACK_WEBHOOK}` to keep it out of the file",
                    );
                    None
                }
            });
        let format = match obj.get("format") {
            None => WebhookFormat::Json,
            Some(n) => match self.name(n, "the webhook's format").as_deref() {
                Some("json") => WebhookFormat::Json,
                Some("slack") => WebhookFormat::Slack,
                Some(other) => {
                    self.error_hint(
                        n.pos,
                        format!("unknown webhook format `{other}`"),
                        "use `json` (an event object) or `slack` (`{ \"text\": ... }`)",
                    );
                    return None;
                }
                None => return None,
            },
        };
        let timeout = match obj.get("timeout") {
            None => default_webhook_timeout(),
            Some(n) => self.duration(n, "the webhook's `timeout`")?,
        };
        Some(Webhook {
            url: url?,
            format,
            timeout,
            pos: obj.pos,
        })
    }

    pub(super) fn grafana(&mut self, node: &Node) -> Option<Grafana> {
        let obj = self.obj(node, "`grafana`", GRAFANA_KEYS)?;
        let url = self
            .require(&obj, "url", "`grafana`", "http://127.0.0.1:3000")
            .and_then(|n| {
                let url = self.name(n, "Grafana's URL")?;
                if url.starts_with("http://") || url.starts_with("https://") {
                    Some(url)
                } else {
                    self.error_hint(
                        n.pos,
                        format!("expected an http:// or https:// URL for Grafana, found `{url}`"),
                        "write the server's address, e.g. `https://grafana.example.com`",
                    );
                    None
                }
            });
        let token_env = self
            .require(&obj, "token_env", "`grafana`", "GRAFANA_TOKEN")
            .and_then(|n| {
                let name = self.name(n, "`token_env`")?;
                if name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    Some(name)
                } else {
                    self.error_hint(
                        n.pos,
                        format!("`token_env` names an environment variable, and `{name}` is not a variable name"),
                        "write the variable's name, e.g. `token_env: GRAFANA_TOKEN`, never the token itself",
                    );
                    None
                }
            });
        let dashboard_uid = obj
            .get("dashboard_uid")
            .and_then(|n| self.name(n, "`dashboard_uid`"));
        Some(Grafana {
            url: url?,
            token_env: token_env?,
            dashboard_uid,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::gameday::model::*;

    fn load(text: &str) -> Gameday {
        let env = |name: &str| {
            (name == "HOOK").then(|| "https://hooks.example.com/T0/B0/s3cr3t".to_string())
        };
        crate::gameday::load_bytes("test.yaml", text.as_bytes(), &env)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    const BASE: &str = "gameday: g\nscope: { compose_project: p }\nprobes:\n  login: { http: { url: http://127.0.0.1:1/ } }\n  paging: { alert: { url: http://127.0.0.1:9093, name: HighErrorRate } }\nscenarios:\n  - { name: s, fault: { pause: { service: a } }, duration: 1s }\n";

    #[test]
    fn defaults_are_a_ten_second_lease_and_nothing_else() {
        let g = load(BASE);
        assert_eq!(g.lease.as_std(), std::time::Duration::from_secs(10));
        assert!(g.stop_if.is_empty() && g.notify.is_empty() && g.grafana.is_none());
    }

    #[test]
    fn every_stop_condition_webhook_and_grafana_decode() {
        let g = load(&format!(
            "{BASE}lease: 4s\nstop_if:\n  - {{ probe: login, failing_for: 10s }}\n  - {{ alert: HighErrorRate }}\n  - {{ file: /tmp/STOP }}\n  - {{ error_budget: {{ probe: login, failures: 50 }} }}\nnotify:\n  - {{ url: \"${{HOOK}}\", format: slack, timeout: 1s }}\n  - {{ url: http://127.0.0.1:9/x }}\ngrafana: {{ url: http://127.0.0.1:3000, token_env: GRAFANA_TOKEN }}\n"
        ));
        assert_eq!(g.lease.as_std(), std::time::Duration::from_secs(4));
        match g.stop_if.as_slice() {
            [
                StopCondition::ProbeFailing { probe, failing_for },
                StopCondition::Alert { alert, probes },
                StopCondition::File { file },
                StopCondition::ErrorBudget { error_budget },
            ] => {
                assert_eq!((probe.id.0, failing_for.as_std().as_secs()), (0, 10));
                assert_eq!(alert, "HighErrorRate");
                // The alert is watched by the `paging` probe, the second one.
                assert_eq!(probes.iter().map(|p| p.id.0).collect::<Vec<_>>(), [1]);
                assert_eq!(file, "/tmp/STOP");
                assert_eq!((error_budget.probe.id.0, error_budget.failures), (0, 50));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(g.notify[0].url, "https://hooks.example.com/T0/B0/s3cr3t");
        assert_eq!(g.notify[0].format, WebhookFormat::Slack);
        assert_eq!(g.notify[1].format, WebhookFormat::Json);
        assert_eq!(
            g.notify[1].timeout.as_std(),
            std::time::Duration::from_secs(2)
        );
        assert_eq!(g.grafana.unwrap().token_env, "GRAFANA_TOKEN");
    }
}
