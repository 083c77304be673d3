//! The dry-run text of `gameday plan`: engines, scope, probes and the
//! schedule step by step, with how each fault is made and undone.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Action, Plan, ResolvedTarget, Sharer};
use crate::docker::ContainerInfo;
use crate::gameday::model::{Fault, HttpSide, Pick, ProbeKind, Reach, Selector, WebhookFormat};
use crate::gameday::units::HumanDuration;

/// Container names, each with its engine when that is not the default one.
fn names(containers: &[ContainerInfo]) -> String {
    containers
        .iter()
        .map(|c| {
            if c.engine == crate::gameday::decode::DEFAULT_HOST {
                c.name.clone()
            } else {
                format!("{} on {}", c.name, c.engine)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn offset(d: Duration) -> String {
    format!("+{}", HumanDuration(d))
}

fn target_text(r: &ResolvedTarget) -> String {
    let text = match (&r.target.selector, r.target.pick) {
        (Selector::Service(s), Pick::One) => format!("one of [{}] ({s})", names(&r.containers)),
        (Selector::Service(s), Pick::All) => format!("{} ({s})", names(&r.containers)),
        (Selector::Container(_), _) => names(&r.containers),
    };
    if r.skipped.is_empty() {
        return text;
    }
    let skipped: Vec<String> = r
        .skipped
        .iter()
        .map(|c| format!("{} ({})", c.name, c.state.name()))
        .collect();
    format!("{text}; skipped, not running: {}", skipped.join(", "))
}

impl Plan {
    /// How a network fault will be made, and why; `None` for container faults.
    fn mechanism_line(&self, fault: &Fault) -> Option<String> {
        use crate::fault::net::{Mechanism, mechanism};
        match fault.reach() {
            Reach::DockerApi => return None,
            Reach::Host => return Some(self.host_line(fault)),
            Reach::Namespace | Reach::DockerNetwork => {}
        }
        if let Fault::Dns(_) = fault {
            return Some(match &self.inventory.namespace.helper_image {
                None => format!(
                    "with a DNS proxy in the container's network namespace, entered from this host, fed by nat OUTPUT REDIRECT rules for port 53 (UDP and TCP); the other names go to the container's own resolver; it takes the rule away itself if the runner dies{}",
                    self.because()
                ),
                Some(image) => format!(
                    "with a DNS proxy in a helper container ({image}) sharing the container's network namespace, fed by nat OUTPUT REDIRECT rules for port 53 (UDP and TCP); the other names go to the container's own resolver; it takes the rule away itself if the runner dies or the link to the engine is cut{}",
                    self.because()
                ),
            });
        }
        if let Fault::HttpFault(h) = fault {
            let (place, gone) = match &self.inventory.namespace.helper_image {
                None => (
                    "in the container's network namespace, entered from this host".to_string(),
                    "",
                ),
                Some(image) => (
                    format!(
                        "in a helper container ({image}) sharing the container's network namespace"
                    ),
                    " or the link to the engine is cut",
                ),
            };
            let rules = match h.side {
                HttpSide::Server => "one nat PREROUTING REDIRECT rule for the port",
                HttpSide::Client => {
                    "nat OUTPUT REDIRECT rules for the port of the `to` services' addresses (not for the proxy's own connections)"
                }
            };
            return Some(format!(
                "with a transparent HTTP/1.1 proxy {place}, fed by {rules} (plaintext HTTP only; connections already open are not redirected); it takes the rules away itself if the runner dies{gone}{}",
                self.because()
            ));
        }
        Some(
            match mechanism(fault, self.inventory.namespace.netem_available) {
                Ok(m) => {
                    let why = match m {
                        Mechanism::Userspace if !self.inventory.namespace.netem_available => {
                            " (this kernel has no sch_netem); fails open if the runner dies"
                        }
                        Mechanism::Userspace => "; fails open if the runner dies",
                        Mechanism::IptablesStatistic => " (this kernel has no sch_netem)",
                        Mechanism::Netem
                        | Mechanism::Tbf
                        | Mechanism::IptablesDrop
                        | Mechanism::DockerNetwork => "",
                    };
                    let place = match (&self.inventory.namespace.helper_image, m) {
                        (_, Mechanism::DockerNetwork) => String::new(),
                        (Some(image), _) => format!(
                            ", through a helper container ({image}) sharing the container's network namespace{}",
                            self.because()
                        ),
                        (None, _) => format!(
                            ", in the container's network namespace, entered from this host{}",
                            self.because()
                        ),
                    };
                    format!("with {}{why}{place}", m.describe())
                }
                Err(e) => format!("WILL FAIL: {e}"),
            },
        )
    }

    /// How a fault made from this host (stress, a host script) will be made.
    fn host_line(&self, fault: &Fault) -> String {
        if let Fault::Script(_) = fault {
            "with a command on this host (GAMEDAY_CONTAINER_ID and GAMEDAY_CONTAINER_NAME name the target); the revert command is journalled first".to_string()
        } else if let Some(image) = &self.inventory.namespace.helper_image {
            format!(
                "with a gameday worker in a helper container ({image}) inside the container's cgroup and PID namespace (its limits apply; needs the engine's cgroupfs driver on cgroup v1){}; it ends with the run, the revert or the container",
                self.because()
            )
        } else {
            "with a gameday worker on this host in the container's cgroups (its limits apply); it ends with the run, the revert or the container".to_string()
        }
    }

    fn because(&self) -> String {
        if self.inventory.namespace.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.inventory.namespace.reason)
        }
    }

    /// The dry-run text of `gameday plan`.
    pub(crate) fn render(&self, file: &str) -> String {
        let g = &self.gameday;
        let mut out = String::new();
        let _ = writeln!(out, "Plan for gameday \"{}\" ({file})", g.gameday);
        let _ = writeln!(out, "  environment  {}", g.environment);
        let _ = writeln!(
            out,
            "  docker       {} (Docker {}{})",
            self.inventory.docker_host,
            self.inventory.docker_version,
            if self.inventory.docker_connection.is_empty() {
                String::new()
            } else {
                format!(", {}", self.inventory.docker_connection)
            }
        );
        for e in &self.inventory.other_engines {
            let _ = writeln!(
                out,
                "  host {:<7} {} (Docker {}, {})",
                e.name, e.host, e.version, e.connection
            );
        }
        let _ = writeln!(
            out,
            "  scope        compose project `{}`: {} container{}",
            g.scope.compose_project,
            self.inventory.in_scope.len(),
            if self.inventory.in_scope.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        for c in &self.inventory.in_scope {
            let _ = writeln!(
                out,
                "                 {:<28} {:<12} {:<10} {}",
                c.name,
                c.service.as_deref().unwrap_or("-"),
                c.state.name(),
                c.short_id()
            );
        }
        out.push('\n');
        let total_rate: f64 = g
            .probes
            .0
            .iter()
            .map(|p| 1.0 / p.every.as_std().as_secs_f64())
            .sum();
        let _ = writeln!(
            out,
            "Probes (run from the start of the baseline to the end of the last cooldown, {:.1}/s in all):",
            total_rate
        );
        if g.probes.0.is_empty() {
            let _ = writeln!(out, "  (none: nothing will be measured)");
        }
        for (probe, target) in g.probes.0.iter().zip(&self.probe_targets) {
            let what = match (&probe.kind, target) {
                (ProbeKind::Http(h), _) => {
                    let mut s = format!(
                        "http {} {} expect {}",
                        h.method,
                        crate::redact::url(&h.url),
                        h.expect_status
                    );
                    if let Some(b) = &h.body_contains {
                        let _ = write!(s, ", body contains {b:?}");
                    }
                    if !h.headers.is_empty() {
                        let _ = write!(
                            s,
                            ", headers: {} (values hidden)",
                            h.headers.keys().cloned().collect::<Vec<_>>().join(", ")
                        );
                    }
                    s
                }
                (ProbeKind::Tcp(t), _) => format!("tcp connect {}", t.address),
                (ProbeKind::Container(_), Some(r)) => {
                    format!("container state of {}", target_text(r))
                }
                (ProbeKind::Container(c), None) => format!("container state of {}", c.target),
                (ProbeKind::Exec(e), r) => format!(
                    "exec {} in {}",
                    argv_text(&e.command),
                    r.as_ref()
                        .map(target_text)
                        .unwrap_or_else(|| e.target.to_string())
                ),
                (ProbeKind::Command(c), _) => {
                    format!("command {} on this host", argv_text(&c.argv))
                }
                (ProbeKind::Logs(l), r) => format!(
                    "log lines of {} matching /{}/",
                    r.as_ref()
                        .map(target_text)
                        .unwrap_or_else(|| l.target.to_string()),
                    l.pattern
                ),
                (ProbeKind::Prometheus(q), _) => {
                    let mut s = format!(
                        "prometheus {} query {}",
                        crate::redact::url(&q.url),
                        q.query
                    );
                    if let Some(e) = &q.expect {
                        let _ = write!(s, ", ok when {e}");
                    }
                    s
                }
                (ProbeKind::Alert(a), _) => format!(
                    "alert {} firing, asked of {}",
                    a.name,
                    crate::redact::url(&a.url)
                ),
            };
            let _ = writeln!(
                out,
                "  {:<14} every {:<6} timeout {:<6} {}",
                probe.name,
                probe.every.to_string(),
                probe.timeout.to_string(),
                what
            );
        }
        out.push('\n');
        self.render_safety(&mut out);
        out.push('\n');
        let _ = writeln!(out, "Schedule:");
        for step in &self.steps {
            let at = offset(step.at);
            match (&step.action, step.scenario) {
                (Action::Baseline(d), _) => {
                    let _ = writeln!(
                        out,
                        "  {at:>9}  baseline {}: steady-state check, every probe must pass; otherwise stop before any fault",
                        HumanDuration(*d)
                    );
                }
                (Action::StartScenario, Some(i)) => {
                    let s = &g.scenarios[i];
                    let _ = writeln!(
                        out,
                        "  {at:>9}  scenario {}/{}: {}",
                        i + 1,
                        g.scenarios.len(),
                        s.name
                    );
                    if let Some(e) = &s.expected {
                        let _ = writeln!(out, "  {:>9}    expected: {e}", "");
                    }
                }
                (Action::Apply { fault }, Some(i)) => {
                    let f = &g.scenarios[i].faults[*fault];
                    let (apply, _) =
                        f.describe(&target_text(&self.scenarios[i].faults[*fault].targets));
                    let _ = writeln!(out, "  {at:>9}    apply     {apply}");
                    if let Some(how) = self.mechanism_line(f) {
                        let _ = writeln!(out, "  {:>9}              {how}", "");
                    }
                    for reached in &self.scenarios[i].faults[*fault].reach {
                        for line in reached.lines(f) {
                            let _ = writeln!(out, "  {:>9}              {line}", "");
                        }
                    }
                    if let Some(also) = sharers_line(&self.scenarios[i].faults[*fault].sharers) {
                        let _ = writeln!(out, "  {:>9}              {also}", "");
                    }
                }
                (Action::Wait(d), Some(_)) => {
                    let _ = writeln!(out, "  {at:>9}    wait      {}", HumanDuration(*d));
                }
                (Action::Note(text), Some(_)) => {
                    let _ = writeln!(out, "  {at:>9}    note      {text}");
                }
                (Action::Manual { text, timeout }, Some(_)) => {
                    let _ = writeln!(out, "  {at:>9}    operator  {text}");
                    let _ = writeln!(
                        out,
                        "  {:>9}              (waits until someone types what they see, at most {}; not counted in the times)",
                        "",
                        HumanDuration(*timeout)
                    );
                }
                (Action::Hold(d), Some(i)) => {
                    let s = &g.scenarios[i];
                    let _ = writeln!(out, "  {at:>9}    hold      {}", HumanDuration(*d));
                    for e in &s.expect {
                        let _ = writeln!(out, "  {:>9}      check   {e}", "");
                    }
                    for h in &s.halt_if {
                        let _ = writeln!(
                            out,
                            "  {:>9}      halt if {} fails for {}",
                            "", h.probe, h.failing_for
                        );
                    }
                }
                (Action::Revert { fault }, Some(i)) => {
                    let f = &g.scenarios[i].faults[*fault];
                    let target = &self.scenarios[i].faults[*fault].targets;
                    let (_, mut revert) = f.describe(&target_text(target));
                    if matches!(f, Fault::Kill(_) | Fault::Stop(_))
                        && target.containers.iter().any(|c| c.swarm_service.is_some())
                    {
                        revert = "none: the swarm replaces the task with a new container (recovers_within measures it)".to_string();
                    }
                    let _ = writeln!(out, "  {at:>9}    revert    {revert}");
                }
                (Action::Cooldown(d), Some(_)) => {
                    let _ = writeln!(out, "  {at:>9}    cooldown  {}", HumanDuration(*d));
                }
                (Action::End, _) => {
                    let _ = writeln!(out, "  {at:>9}  end");
                }
                // Scenario steps always belong to a scenario.
                (
                    Action::StartScenario
                    | Action::Apply { .. }
                    | Action::Wait(_)
                    | Action::Note(_)
                    | Action::Manual { .. }
                    | Action::Hold(_)
                    | Action::Revert { .. }
                    | Action::Cooldown(_),
                    None,
                ) => {}
            }
        }
        out.push('\n');
        for w in &self.inventory.warnings {
            let _ = writeln!(out, "WARNING: {w}");
        }
        let _ = writeln!(
            out,
            "Total expected duration: {} (plus the time Docker takes to apply and revert)",
            HumanDuration(self.total)
        );
        let _ = writeln!(
            out,
            "Nothing was changed: this was a dry run. Run it with `gameday run {file}`."
        );
        out
    }
}

impl Plan {
    /// What guards the run as a whole: the watchdog, the stop conditions,
    /// halting, who is told.
    fn render_safety(&self, out: &mut String) {
        let g = &self.gameday;
        let _ = writeln!(out, "Safety:");
        let _ = writeln!(
            out,
            "  watchdog     lease {}: while a fault is in place, a watchdog reverts every fault if the runner stops renewing the lease (killed, frozen) or its link closes",
            g.lease
        );
        let _ = writeln!(
            out,
            "               it runs as a process of its own on this host; on an engine other than this host's socket, as a container from the helper image there (a cut link is covered too), else on this host"
        );
        if g.stop_if.is_empty() {
            let _ = writeln!(
                out,
                "  stop if      (no `stop_if`: only each scenario's `halt_if`)"
            );
        }
        for (i, c) in g.stop_if.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {:<12} {c}: revert every fault at once, abort the scenarios left (exit 3)",
                if i == 0 { "stop if" } else { "" }
            );
        }
        let _ = writeln!(
            out,
            "  halt         `gameday halt` from any terminal that reaches the engine stops the run the same way"
        );
        for w in &g.notify {
            let _ = writeln!(
                out,
                "  notify       webhook {} ({}): start, each fault applied and reverted, halts, the end",
                crate::redact::origin(&w.url),
                match w.format {
                    WebhookFormat::Json => "json",
                    WebhookFormat::Slack => "slack",
                }
            );
        }
        if let Some(gr) = &g.grafana {
            let _ = writeln!(
                out,
                "  grafana      annotations on {}{}: one region per fault window (token from ${})",
                crate::redact::origin(&gr.url),
                gr.dashboard_uid
                    .as_ref()
                    .map(|d| format!(", dashboard {d}"))
                    .unwrap_or_default(),
                gr.token_env
            );
        }
    }
}

/// The containers a network, HTTP or DNS fault reaches besides its
/// targets, because they share a target's network namespace.
fn sharers_line(sharers: &[Sharer]) -> Option<String> {
    let mut targets: Vec<&str> = sharers.iter().map(|s| s.with.as_str()).collect();
    targets.dedup();
    let groups: Vec<String> = targets
        .iter()
        .map(|target| {
            let each: Vec<String> = sharers
                .iter()
                .filter(|s| s.with == *target)
                .map(|s| {
                    format!(
                        "{} ({})",
                        s.container.name,
                        if s.in_scope {
                            "in scope"
                        } else {
                            "outside the scope: include_shared_namespace: true"
                        }
                    )
                })
                .collect();
            format!(
                "{}, which share{} the network namespace of {target}",
                each.join(", "),
                if each.len() == 1 { "s" } else { "" }
            )
        })
        .collect();
    (!groups.is_empty()).then(|| format!("also reaches {}", groups.join("; ")))
}

/// `[pg_isready, -h, "my db"]`: an argv as the user wrote it, quoting what needs it.
fn argv_text(argv: &[String]) -> String {
    let items: Vec<String> = argv
        .iter()
        .map(|a| {
            if a.is_empty()
                || a.chars()
                    .any(|c| c.is_whitespace() || "\"',[]{}".contains(c))
            {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}
