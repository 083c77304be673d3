//! The resolved plan: the gameday's targets matched to real containers in
//! scope, and the schedule laid out in time. `gameday plan` prints it; `run`
//! executes it. Resolution is pure (it takes the list of containers in scope),
//! so it is tested without Docker; only listing the containers needs Docker.

use std::fmt::Write as _;
use std::time::Duration;

use crate::docker::ContainerInfo;
use crate::gameday::diag::{Diagnostic, nearest};
use crate::gameday::model::{
    Fault, Gameday, Pick, ProbeKind, Selector, Step as ScenarioStep, Target,
};
use crate::gameday::units::HumanDuration;

/// A target matched to the containers it stands for right now.
#[derive(Debug, Clone)]
pub struct ResolvedTarget {
    pub target: Target,
    pub containers: Vec<ContainerInfo>,
}

/// An engine of `hosts:`, as the plan and reports show it.
pub use crate::report::result::HostInfo as EngineInfo;

/// One step of the schedule, at an offset from the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: Duration,
    pub scenario: Option<usize>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Baseline(Duration),
    StartScenario,
    Apply {
        fault: usize,
    },
    /// A `wait:` step.
    Wait(Duration),
    /// A `note:` step.
    Note(String),
    /// A `manual:` step: waits for an answer, at most this long.
    Manual {
        text: String,
        timeout: Duration,
    },
    Hold(Duration),
    Revert {
        fault: usize,
    },
    Cooldown(Duration),
    End,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub gameday: Gameday,
    pub docker_host: String,
    pub docker_version: String,
    /// How the engine is reached (local socket, TLS, insecure), set by the caller.
    pub docker_connection: String,
    /// The engines of `hosts:`, set by the caller.
    pub other_engines: Vec<EngineInfo>,
    pub in_scope: Vec<ContainerInfo>,
    /// Per scenario, per fault, in file order.
    pub fault_targets: Vec<Vec<ResolvedTarget>>,
    /// Per scenario, per fault: the containers of the services in `to:` / `from:`.
    pub fault_peers: Vec<Vec<Vec<ContainerInfo>>>,
    /// Whether the kernel has sch_netem: decides the engine of packet faults.
    pub netem_available: bool,
    /// `Some(image)`: network faults reach the container's namespace
    /// through helper containers from that image; `None`: from this host.
    pub helper_image: Option<String>,
    /// Why namespaces are reached that way, for the plan.
    pub namespace_reason: String,
    /// Things that will make the run fail, found while planning.
    pub warnings: Vec<String>,
    /// Per probe (file order); `None` for probes without a container target.
    pub probe_targets: Vec<Option<ResolvedTarget>>,
    pub steps: Vec<Step>,
    pub total: Duration,
}

/// Match every target of the gameday against the containers in scope.
/// Collects every target that does not resolve.
pub fn resolve(
    gameday: Gameday,
    in_scope: Vec<ContainerInfo>,
    outside_scope: &[ContainerInfo],
    docker_host: String,
    docker_version: String,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let project = gameday.scope.compose_project.clone();
    let mut resolve_one = |target: &Target| -> Option<ResolvedTarget> {
        match resolve_target(target, &in_scope, outside_scope, &project) {
            Ok(r) => Some(r),
            Err(d) => {
                errors.push(d);
                None
            }
        }
    };
    let fault_peers: Vec<Vec<Vec<ContainerInfo>>> = gameday
        .scenarios
        .iter()
        .map(|s| {
            s.faults
                .iter()
                .map(|f| {
                    f.peers()
                        .iter()
                        .filter_map(|peer| {
                            let target = Target {
                                selector: Selector::Service(peer.service.clone()),
                                pick: Pick::All,
                                host: f.target().host.clone(),
                                pos: peer.pos,
                            };
                            resolve_one(&target)
                        })
                        .flat_map(|r| r.containers)
                        .collect()
                })
                .collect()
        })
        .collect();
    let fault_targets: Vec<Vec<Option<ResolvedTarget>>> = gameday
        .scenarios
        .iter()
        .map(|s| s.faults.iter().map(|f| resolve_one(f.target())).collect())
        .collect();
    let probe_targets: Vec<Option<ResolvedTarget>> = gameday
        .probes
        .0
        .iter()
        .map(|p| p.kind.target().and_then(&mut resolve_one))
        .collect();
    if !errors.is_empty() {
        errors.sort_by_key(|d| d.pos);
        return Err(errors);
    }
    let fault_targets = fault_targets
        .into_iter()
        .map(|v| v.into_iter().flatten().collect())
        .collect();
    let (steps, total) = schedule(&gameday);
    Ok(Plan {
        gameday,
        docker_host,
        docker_connection: String::new(),
        other_engines: Vec::new(),
        namespace_reason: String::new(),
        docker_version,
        in_scope,
        fault_targets,
        fault_peers,
        netem_available: false,
        helper_image: None,
        warnings: Vec::new(),
        probe_targets,
        steps,
        total,
    })
}

fn resolve_target(
    target: &Target,
    in_scope: &[ContainerInfo],
    outside_scope: &[ContainerInfo],
    project: &str,
) -> Result<ResolvedTarget, Diagnostic> {
    // `host:` narrows the search to one engine.
    let on_host: Vec<ContainerInfo>;
    let in_scope = match &target.host {
        Some(h) => {
            on_host = in_scope
                .iter()
                .filter(|c| &c.engine == h)
                .cloned()
                .collect();
            on_host.as_slice()
        }
        None => in_scope,
    };
    let (found, wanted, candidates): (Vec<ContainerInfo>, String, Vec<String>) =
        match &target.selector {
            Selector::Service(service) => {
                let found = in_scope
                    .iter()
                    .filter(|c| c.service.as_deref() == Some(service.as_str()))
                    .cloned()
                    .collect();
                let mut services: Vec<String> =
                    in_scope.iter().filter_map(|c| c.service.clone()).collect();
                services.sort();
                services.dedup();
                (found, format!("service `{service}`"), services)
            }
            Selector::Container(name) => {
                let found = in_scope
                    .iter()
                    .filter(|c| c.name == *name)
                    .cloned()
                    .collect();
                let names = in_scope.iter().map(|c| c.name.clone()).collect();
                (found, format!("container `{name}`"), names)
            }
        };
    if !found.is_empty() {
        return Ok(ResolvedTarget {
            target: target.clone(),
            containers: found,
        });
    }
    let name = match &target.selector {
        Selector::Service(s) | Selector::Container(s) => s.as_str(),
    };
    let outside = outside_scope
        .iter()
        .any(|c| c.name == name || c.service.as_deref() == Some(name));
    let hint = if outside {
        format!(
            "a container named like that exists outside scope `{project}`; gameday never touches anything outside its scope"
        )
    } else if candidates.is_empty() {
        format!(
            "compose project `{project}` has no containers; start the stack first (e.g. `docker-compose -p {project} up -d`)"
        )
    } else {
        let suggestion = nearest(name, candidates.iter().map(String::as_str))
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        format!("{suggestion}in scope: {}", candidates.join(", "))
    };
    let place = match &target.host {
        Some(h) => format!(" on host `{h}`"),
        None => String::new(),
    };
    Err(Diagnostic::new(
        target.pos,
        format!("{wanted} not found in compose project `{project}`{place}"),
    )
    .with_hint(hint))
}

/// Lay the gameday out in time: baseline, then per scenario apply, hold,
/// revert, cooldown.
pub fn schedule(gameday: &Gameday) -> (Vec<Step>, Duration) {
    let mut steps = Vec::new();
    let mut at = Duration::ZERO;
    let baseline = gameday.defaults.baseline.as_std();
    steps.push(Step {
        at,
        scenario: None,
        action: Action::Baseline(baseline),
    });
    at += baseline;
    for (i, scenario) in gameday.scenarios.iter().enumerate() {
        let s = Some(i);
        steps.push(Step {
            at,
            scenario: s,
            action: Action::StartScenario,
        });
        if scenario.steps.is_empty() {
            for fault in 0..scenario.faults.len() {
                steps.push(Step {
                    at,
                    scenario: s,
                    action: Action::Apply { fault },
                });
            }
        }
        for step in &scenario.steps {
            let action = match step {
                ScenarioStep::Fault(fault) => Action::Apply { fault: *fault },
                ScenarioStep::Wait(d) => Action::Wait(d.as_std()),
                ScenarioStep::Note(text) => Action::Note(text.clone()),
                ScenarioStep::Manual(m) => Action::Manual {
                    text: m.manual.clone(),
                    timeout: m.timeout.as_std(),
                },
            };
            steps.push(Step {
                at,
                scenario: s,
                action,
            });
            // Manual steps take as long as the team needs: the schedule
            // counts them as instant (the plan says so).
            if let ScenarioStep::Wait(d) = step {
                at += d.as_std();
            }
        }
        steps.push(Step {
            at,
            scenario: s,
            action: Action::Hold(scenario.duration.as_std()),
        });
        at += scenario.duration.as_std();
        for fault in (0..scenario.faults.len()).rev() {
            steps.push(Step {
                at,
                scenario: s,
                action: Action::Revert { fault },
            });
        }
        steps.push(Step {
            at,
            scenario: s,
            action: Action::Cooldown(scenario.cooldown.as_std()),
        });
        at += scenario.cooldown.as_std();
    }
    steps.push(Step {
        at,
        scenario: None,
        action: Action::End,
    });
    (steps, at)
}

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

/// What a fault does and how it is undone, in words.
pub fn describe_fault(fault: &Fault, on: &str) -> (String, String) {
    let toward = |peers: &[crate::gameday::model::Peer]| {
        if peers.is_empty() {
            String::new()
        } else {
            format!(
                " toward {}",
                peers
                    .iter()
                    .map(|p| p.service.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let remove = |what: &str| format!("remove the {what} from {on}");
    match fault {
        Fault::Kill(k) => (
            format!("kill {on} with {}", k.signal),
            if k.restore {
                format!("start {on} again, wait until running")
            } else {
                "leave it stopped (restore: false)".into()
            },
        ),
        Fault::Stop(s) => (
            format!("stop {on} (grace {})", s.timeout),
            if s.restore {
                format!("start {on} again, wait until running")
            } else {
                "leave it stopped (restore: false)".into()
            },
        ),
        Fault::Restart(r) => (
            format!("restart {on} (grace {})", r.timeout),
            format!("make sure {on} is running"),
        ),
        Fault::Pause(_) => (format!("pause {on}"), format!("unpause {on}")),
        Fault::Delay(d) => {
            let mut text = format!("delay packets from {on} by {}", d.latency);
            if let Some(j) = d.jitter {
                text.push_str(&format!(" ± {j}"));
            }
            if let Some(c) = d.correlation {
                text.push_str(&format!(" (correlation {c})"));
            }
            (text + &toward(&d.to), remove("delay"))
        }
        Fault::Loss(l) => (
            format!("drop {} of packets from {on}{}", l.percent, toward(&l.to)),
            remove("packet loss"),
        ),
        Fault::Duplicate(d) => (
            format!(
                "duplicate {} of packets from {on}{}",
                d.percent,
                toward(&d.to)
            ),
            remove("duplication"),
        ),
        Fault::Corrupt(c) => (
            format!(
                "corrupt {} of packets from {on}{}",
                c.percent,
                toward(&c.to)
            ),
            remove("corruption"),
        ),
        Fault::Bandwidth(b) => (
            format!("limit {on} to {} outgoing", b.rate),
            remove("bandwidth limit"),
        ),
        Fault::Partition(p) => (
            format!(
                "cut {on} off from {} (both ways)",
                p.from
                    .iter()
                    .map(|p| p.service.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("remove the partition rules from {on}"),
        ),
        Fault::Disconnect(d) => (
            format!("disconnect {on} from network {}", d.network),
            format!(
                "reconnect {on} to {} with its aliases and address",
                d.network
            ),
        ),
    }
}

fn target_text(r: &ResolvedTarget) -> String {
    match (&r.target.selector, r.target.pick) {
        (Selector::Service(s), Pick::One) => format!("one of [{}] ({s})", names(&r.containers)),
        (Selector::Service(s), Pick::All) => format!("{} ({s})", names(&r.containers)),
        (Selector::Container(_), _) => names(&r.containers),
    }
}

impl Plan {
    /// How a network fault will be made, and why; `None` for container faults.
    fn mechanism_line(&self, fault: &Fault) -> Option<String> {
        use crate::fault::net::{Mechanism, mechanism};
        if !fault.is_network() && !matches!(fault, Fault::Disconnect(_)) {
            return None;
        }
        Some(match mechanism(fault, self.netem_available) {
            Ok(m) => {
                let why = match m {
                    Mechanism::Userspace if !self.netem_available => {
                        " (this kernel has no sch_netem); fails open if the runner dies"
                    }
                    Mechanism::Userspace => "; fails open if the runner dies",
                    Mechanism::IptablesStatistic => " (this kernel has no sch_netem)",
                    _ => "",
                };
                let place = match (&self.helper_image, m) {
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
        })
    }

    fn because(&self) -> String {
        if self.namespace_reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.namespace_reason)
        }
    }

    /// The dry-run text of `gameday plan`.
    pub fn render(&self, file: &str) -> String {
        let g = &self.gameday;
        let mut out = String::new();
        let _ = writeln!(out, "Plan for gameday \"{}\" ({file})", g.gameday);
        let _ = writeln!(out, "  environment  {}", g.environment);
        let _ = writeln!(
            out,
            "  docker       {} (Docker {}{})",
            self.docker_host,
            self.docker_version,
            if self.docker_connection.is_empty() {
                String::new()
            } else {
                format!(", {}", self.docker_connection)
            }
        );
        for e in &self.other_engines {
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
            self.in_scope.len(),
            if self.in_scope.len() == 1 { "" } else { "s" }
        );
        for c in &self.in_scope {
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
                    let mut s = format!("http {} {} expect {}", h.method, h.url, h.expect_status);
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
                    let mut s = format!("prometheus {} query {}", q.url, q.query);
                    if let Some(e) = &q.expect {
                        let _ = write!(s, ", ok when {e}");
                    }
                    s
                }
                (ProbeKind::Alert(a), _) => format!("alert {} firing, asked of {}", a.name, a.url),
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
                        describe_fault(f, &target_text(&self.fault_targets[i][*fault]));
                    let _ = writeln!(out, "  {at:>9}    apply     {apply}");
                    if let Some(how) = self.mechanism_line(f) {
                        let _ = writeln!(out, "  {:>9}              {how}", "");
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
                    let target = &self.fault_targets[i][*fault];
                    let (_, mut revert) = describe_fault(f, &target_text(target));
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
                _ => {}
            }
        }
        out.push('\n');
        for w in &self.warnings {
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
