//! Telling the team and the dashboards as the run goes: `notify:` webhooks
//! (a JSON event, or a Slack-compatible `{ "text": ... }`) at the start,
//! each fault applied and reverted, a halt, and the end with the verdicts;
//! `grafana:` annotations, one region per fault window.
//!
//! Deliveries never block the run and never fail it: the run hands events
//! to a task of their own, each delivery runs concurrently with its own
//! timeout and one retry, and at the end the run waits for what is still in
//! flight at most one timeout. Webhook URLs (whose path is often the
//! secret) and the Grafana token are never printed: failures are reported
//! by origin (`https://hooks.slack.com/…`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::gameday::model::{Gameday, Grafana, Webhook, WebhookFormat};

/// Something the team is told.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    RunStarted {
        scenarios: usize,
    },
    FaultApplied {
        fault_id: String,
        scenario: String,
        action: String,
    },
    FaultReverted {
        fault_id: String,
        scenario: String,
        action: String,
    },
    Halted {
        reason: String,
    },
    RunFinished {
        outcome: String,
        exit_code: u8,
        /// Each scenario and its verdict.
        verdicts: Vec<(String, String)>,
        report: Option<String>,
    },
}

impl Event {
    fn key(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::FaultApplied { .. } => "fault_applied",
            Event::FaultReverted { .. } => "fault_reverted",
            Event::Halted { .. } => "halted",
            Event::RunFinished { .. } => "run_finished",
        }
    }

    /// The event in words, for chat.
    fn text(&self, run: &RunContext) -> String {
        let head = format!(
            "gameday \"{}\" (run {}, {})",
            run.gameday, run.run_id, run.environment
        );
        match self {
            Event::RunStarted { scenarios } => format!(
                "{head}: started, {scenarios} scenario{}",
                if *scenarios == 1 { "" } else { "s" }
            ),
            Event::FaultApplied {
                scenario, action, ..
            } => format!("{head}: {scenario}: fault applied: {action}"),
            Event::FaultReverted {
                scenario, action, ..
            } => format!("{head}: {scenario}: fault reverted: {action}"),
            Event::Halted { reason } => format!("{head}: HALTED: {reason}"),
            Event::RunFinished {
                outcome,
                verdicts,
                report,
                ..
            } => {
                let mut text = format!("{head}: finished: {outcome}");
                for (scenario, verdict) in verdicts {
                    text.push_str(&format!("\n• {scenario}: {verdict}"));
                }
                if let Some(r) = report {
                    text.push_str(&format!("\nreport: {r}"));
                }
                text
            }
        }
    }

    /// The JSON event: what happened, and the run it belongs to.
    fn payload(&self, run: &RunContext, at: DateTime<Utc>) -> serde_json::Value {
        let mut body = json!({
            "event": self.key(),
            "gameday": run.gameday,
            "run_id": run.run_id,
            "environment": run.environment,
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "text": self.text(run),
        });
        let extra = match self {
            Event::RunStarted { scenarios } => json!({ "scenarios": scenarios }),
            Event::FaultApplied {
                fault_id,
                scenario,
                action,
            }
            | Event::FaultReverted {
                fault_id,
                scenario,
                action,
            } => json!({ "fault_id": fault_id, "scenario": scenario, "action": action }),
            Event::Halted { reason } => json!({ "reason": reason }),
            Event::RunFinished {
                outcome,
                exit_code,
                verdicts,
                report,
            } => json!({
                "outcome": outcome,
                "exit_code": exit_code,
                "verdicts": verdicts.iter().map(|(s, v)| json!({ "scenario": s, "verdict": v })).collect::<Vec<_>>(),
                "report": report,
            }),
        };
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    }
}

/// Which run the events are about.
#[derive(Debug, Clone)]
struct RunContext {
    gameday: String,
    run_id: String,
    environment: String,
}

/// Hands events to the notifier's task; cheap to clone, never blocks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notify {
    tx: Option<mpsc::UnboundedSender<(Event, DateTime<Utc>)>>,
}

impl Notify {
    pub(crate) fn send(&self, event: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((event, Utc::now()));
        }
    }
}

/// The task delivering a run's events; [`Notifier::finish`] ends it.
pub(crate) struct Notifier {
    notify: Notify,
    task: Option<tokio::task::JoinHandle<Vec<String>>>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum NotifyError {
    #[error("`grafana.token_env` names {0}, which is not set")]
    NoToken(String),
}

/// How one destination fared.
#[derive(Debug, Default, Clone)]
struct Tally {
    sent: usize,
    failed: usize,
    last_error: Option<String>,
}

impl Notifier {
    /// Start delivering for `gameday`'s `notify:` and `grafana:`; nothing
    /// to deliver is a notifier that drops every event.
    pub(crate) fn start(gameday: &Gameday, run_id: &str) -> Result<Notifier, NotifyError> {
        if gameday.notify.is_empty() && gameday.grafana.is_none() {
            return Ok(Notifier {
                notify: Notify::default(),
                task: None,
            });
        }
        let grafana = match &gameday.grafana {
            Some(g) => {
                let token = std::env::var(&g.token_env)
                    .ok()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| NotifyError::NoToken(g.token_env.clone()))?;
                Some((g.clone(), token))
            }
            None => None,
        };
        let run = RunContext {
            gameday: gameday.gameday.clone(),
            run_id: run_id.to_string(),
            environment: gameday.environment.clone(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(deliver(rx, run, gameday.notify.clone(), grafana));
        Ok(Notifier {
            notify: Notify { tx: Some(tx) },
            task: Some(task),
        })
    }

    pub(crate) fn handle(&self) -> Notify {
        self.notify.clone()
    }

    /// Send the last event, wait for what is in flight (at most one
    /// timeout), and say which destinations failed.
    pub(crate) async fn finish(self, last: Event) -> Vec<String> {
        self.notify.send(last);
        drop(self.notify);
        match self.task {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

fn client() -> reqwest::Client {
    crate::probe::http_client()
}

/// POST `body` to `url`, twice at most; `Err` says why, without the URL.
async fn post(
    client: &reqwest::Client,
    request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<reqwest::Response, String> {
    let mut last = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match request(client).timeout(timeout).send().await {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
            Err(e) if e.is_timeout() => {
                last = format!(
                    "no answer within {}",
                    crate::gameday::units::HumanDuration(timeout)
                )
            }
            Err(e) => last = crate::error_chain(&e.without_url()),
        }
    }
    Err(last)
}

async fn deliver(
    mut rx: mpsc::UnboundedReceiver<(Event, DateTime<Utc>)>,
    run: RunContext,
    webhooks: Vec<Webhook>,
    grafana: Option<(Grafana, String)>,
) -> Vec<String> {
    // A slot per webhook, then Grafana's.
    let mut deliveries = Deliveries::new(webhooks.len() + 1);
    let mut regions = grafana
        .as_ref()
        .map(|(g, token)| Regions::new(g, token, webhooks.len()));
    while let Some((event, at)) = rx.recv().await {
        deliveries.settle_done();
        for (i, hook) in webhooks.iter().enumerate() {
            deliveries.post_webhook(i, hook, &event, &run, at);
        }
        if let Some(regions) = &mut regions {
            regions.on(&mut deliveries, &event, &run, at);
        }
    }
    // The run is over: what is still in flight gets one timeout, no more.
    let longest = webhooks
        .iter()
        .map(|w| w.timeout.as_std())
        .chain(grafana.as_ref().map(|_| GRAFANA_TIMEOUT))
        .max()
        .unwrap_or_default()
        + Duration::from_millis(250);
    let tallies = deliveries.drain(longest).await;
    failures(&tallies, &webhooks, grafana.as_ref().map(|(g, _)| g))
}

/// The deliveries in flight and how each destination fared so far, by slot.
struct Deliveries {
    client: reqwest::Client,
    tasks: JoinSet<(usize, Result<(), String>)>,
    tallies: Vec<Tally>,
}

impl Deliveries {
    fn new(slots: usize) -> Self {
        Deliveries {
            client: client(),
            tasks: JoinSet::new(),
            tallies: vec![Tally::default(); slots],
        }
    }

    /// Count a finished delivery against its destination.
    fn settle(&mut self, (i, r): (usize, Result<(), String>)) {
        match r {
            Ok(()) => self.tallies[i].sent += 1,
            Err(e) => {
                self.tallies[i].failed += 1;
                self.tallies[i].last_error = Some(e);
            }
        }
    }

    /// Count the deliveries finished so far, without waiting.
    fn settle_done(&mut self) {
        while let Some(Ok(done)) = self.tasks.try_join_next() {
            self.settle(done);
        }
    }

    /// Post `event` to webhook `i`, in the webhook's format.
    fn post_webhook(
        &mut self,
        i: usize,
        hook: &Webhook,
        event: &Event,
        run: &RunContext,
        at: DateTime<Utc>,
    ) {
        let mut body = match hook.format {
            WebhookFormat::Json => event.payload(run, at),
            WebhookFormat::Slack => json!({ "text": event.text(run) }),
        };
        // The file's secret values never leave in a webhook.
        crate::redact::known_in_json(&mut body);
        let body = body.to_string();
        let url = hook.url.clone();
        let timeout = hook.timeout.as_std();
        let client = self.client.clone();
        self.tasks.spawn(async move {
            let sent = post(
                &client,
                |c| {
                    c.post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                },
                timeout,
            )
            .await;
            (i, sent.map(|_| ()))
        });
    }

    /// Wait for what is in flight, at most `longest`; what is still in
    /// flight then is aborted and counted in a slot of its own.
    async fn drain(mut self, longest: Duration) -> Vec<Tally> {
        let deadline = tokio::time::Instant::now() + longest;
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(done))) => self.settle(done),
                Ok(Some(Err(_))) => {}
                Ok(None) => break,
                Err(_) => {
                    let left = self.tasks.len();
                    self.tasks.abort_all();
                    self.tallies.push(Tally {
                        failed: left,
                        last_error: Some(format!("{left} still in flight when the run ended")),
                        ..Tally::default()
                    });
                    break;
                }
            }
        }
        self.tallies
    }
}

/// Grafana's regions, one per fault window: a fault applied POSTs the
/// region, its revert PATCHes the region's end.
struct Regions<'a> {
    grafana: &'a Grafana,
    token: &'a str,
    /// Grafana's slot in the tallies.
    slot: usize,
    /// The POST of each open fault's region, for its PATCH.
    open: HashMap<String, tokio::sync::watch::Receiver<Option<u64>>>,
}

impl<'a> Regions<'a> {
    fn new(grafana: &'a Grafana, token: &'a str, slot: usize) -> Self {
        Regions {
            grafana,
            token,
            slot,
            open: HashMap::new(),
        }
    }

    fn on(
        &mut self,
        deliveries: &mut Deliveries,
        event: &Event,
        run: &RunContext,
        at: DateTime<Utc>,
    ) {
        match event {
            Event::FaultApplied {
                fault_id,
                scenario,
                action,
            } => self.start(deliveries, fault_id, scenario, action, run, at),
            Event::FaultReverted { fault_id, .. } => self.end(deliveries, fault_id, at),
            Event::RunStarted { .. } | Event::Halted { .. } | Event::RunFinished { .. } => {}
        }
    }

    /// POST the region of fault `fault_id`, from `at`.
    fn start(
        &mut self,
        deliveries: &mut Deliveries,
        fault_id: &str,
        scenario: &str,
        action: &str,
        run: &RunContext,
        at: DateTime<Utc>,
    ) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        self.open.insert(fault_id.to_string(), rx);
        let mut body = json!({
            "time": at.timestamp_millis(),
            "tags": ["gameday", run.run_id, scenario],
            "text": format!("gameday \"{}\": {scenario}: {action}", run.gameday),
        });
        crate::redact::known_in_json(&mut body);
        if let Some(uid) = &self.grafana.dashboard_uid {
            body["dashboardUID"] = json!(uid);
        }
        let url = format!("{}/api/annotations", self.grafana.url.trim_end_matches('/'));
        let (client, token, body) = (
            deliveries.client.clone(),
            self.token.to_string(),
            body.to_string(),
        );
        let slot = self.slot;
        deliveries.tasks.spawn(async move {
            let posted = post(
                &client,
                |c| {
                    c.post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                },
                GRAFANA_TIMEOUT,
            )
            .await;
            let result = match posted {
                Ok(r) => {
                    let id = r
                        .json_value()
                        .await
                        .and_then(|v| v.get("id").and_then(|i| i.as_u64()));
                    let _ = tx.send(id);
                    id.map(|_| ())
                        .ok_or_else(|| "no annotation id in the answer".to_string())
                }
                Err(e) => Err(e),
            };
            (slot, result)
        });
    }

    /// PATCH the end of fault `fault_id`'s region to `at`, once its POST
    /// has answered; a fault without a region has nothing to end.
    fn end(&mut self, deliveries: &mut Deliveries, fault_id: &str, at: DateTime<Utc>) {
        let Some(mut posted) = self.open.remove(fault_id) else {
            return;
        };
        let end = at.timestamp_millis();
        let base = self.grafana.url.trim_end_matches('/').to_string();
        let (client, token) = (deliveries.client.clone(), self.token.to_string());
        let slot = self.slot;
        deliveries.tasks.spawn(async move {
            // The region's id comes from its POST, which may still be in flight.
            let id =
                match tokio::time::timeout(GRAFANA_TIMEOUT * 2, posted.wait_for(Option::is_some))
                    .await
                {
                    Ok(Ok(id)) => *id,
                    _ => None,
                };
            let Some(id) = id else {
                return (slot, Err("the region was never created".to_string()));
            };
            let url = format!("{base}/api/annotations/{id}");
            let body = json!({ "timeEnd": end }).to_string();
            let patched = post(
                &client,
                |c| {
                    c.patch(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                },
                GRAFANA_TIMEOUT,
            )
            .await;
            (slot, patched.map(|_| ()))
        });
    }
}

/// One line per destination with a failed delivery, named by origin only.
fn failures(tallies: &[Tally], webhooks: &[Webhook], grafana: Option<&Grafana>) -> Vec<String> {
    let names: Vec<String> = webhooks
        .iter()
        .map(|w| format!("webhook {}", crate::redact::origin(&w.url)))
        .chain(std::iter::once(format!(
            "Grafana {}",
            grafana
                .map(|g| crate::redact::origin(&g.url))
                .unwrap_or_default()
        )))
        .chain(std::iter::once("notifications".to_string()))
        .collect();
    tallies
        .iter()
        .enumerate()
        .filter(|(_, t)| t.failed > 0)
        .map(|(i, t)| {
            format!(
                "{}: {} of {} deliveries failed (last: {})",
                names[i],
                t.failed,
                t.failed + t.sent,
                t.last_error.as_deref().unwrap_or("unknown")
            )
        })
        .collect()
}

/// How long one Grafana request may take.
const GRAFANA_TIMEOUT: Duration = Duration::from_secs(2);

/// Reading a JSON answer without reqwest's `json` feature.
trait JsonValue {
    async fn json_value(self) -> Option<serde_json::Value>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Option<serde_json::Value> {
        let bytes = self.bytes().await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What chat and webhook receivers see, for every event.
    #[test]
    fn every_event_in_words_and_as_json() {
        let run = RunContext {
            gameday: "Login API resilience".into(),
            run_id: "3f9c2a".into(),
            environment: "staging".into(),
        };
        let at = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let events = [
            Event::RunStarted { scenarios: 2 },
            Event::FaultApplied {
                fault_id: "s1-f1-abc".into(),
                scenario: "Database paused".into(),
                action: "pause login_db_1 (db)".into(),
            },
            Event::FaultReverted {
                fault_id: "s1-f1-abc".into(),
                scenario: "Database paused".into(),
                action: "unpause login_db_1 (db)".into(),
            },
            Event::Halted {
                reason: "stop_if: the kill-switch file /tmp/STOP appeared (seen at +12.0s)".into(),
            },
            Event::RunFinished {
                outcome: "Aborted; no fault is left in place".into(),
                exit_code: 3,
                verdicts: vec![
                    ("Database paused".into(), "aborted".into()),
                    ("Cache killed".into(), "skipped".into()),
                ],
                report: Some("reports/2026-12-02-login-api-resilience-3f9c2a/report.md".into()),
            },
        ];
        let mut text = String::new();
        for e in &events {
            text.push_str(&format!(
                "{}\n{}\n\n",
                e.text(&run),
                serde_json::to_string_pretty(&e.payload(&run, at)).unwrap()
            ));
        }
        insta::assert_snapshot!(text);
    }
}
