//! The dry-run text of `gameday plan`: engines, scope, probes and the
//! schedule step by step, with how each fault is made and undone.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Action, Choice, Plan, ResolvedProbe, ResolvedTarget, Sharer, Step};
use crate::docker::ContainerInfo;
use crate::gameday::decode::DEFAULT_HOST;
use crate::gameday::model::{
    AppFault, DeployFault, DeployStrategy, Fault, FaultFamily, HttpFault, HttpProbe, HttpSide,
    LedgerProbe, LedgerStore, Pick, ProbeKind, PrometheusProbe, ScriptFault, ScriptPlace, Selector,
    WebhookFormat,
};
use crate::gameday::units::HumanDuration;

/// Container names, each with its engine when that is not the default one.
fn names(containers: &[ContainerInfo]) -> String {
    containers
        .iter()
        .map(|c| {
            if c.engine == DEFAULT_HOST {
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
    let text = match (&r.target.selector, &r.choice) {
        (_, Some(choice)) => chosen_text(r, choice),
        (Selector::Service(s), None) => format!("{} ({s})", names(&r.containers)),
        (Selector::Labels(l), None) => format!(
            "{} (containers labelled {})",
            names(&r.containers),
            Selector::labels_text(l)
        ),
        (Selector::Container(_), None) => names(&r.containers),
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

/// The containers a pick chose, among how many, with which seed:
/// `demo_api_2, demo_api_4 (2 of the 5 replicas of service api, chosen with seed 7)`.
fn chosen_text(r: &ResolvedTarget, choice: &Choice) -> String {
    let k = r.containers.len();
    let how = match r.target.pick {
        Pick::All => "all".to_string(),
        Pick::One => "one".to_string(),
        Pick::Count(n) => n.to_string(),
        Pick::Percent(p) => format!("{p} ({k})"),
        Pick::Random => format!("a random {k}"),
    };
    let of = match &r.target.selector {
        Selector::Service(s) => format!("replicas of service {s}"),
        Selector::Labels(l) => format!("containers labelled {}", Selector::labels_text(l)),
        Selector::Container(c) => format!("containers named {c}"),
    };
    let seed = if choice.own_seed {
        format!("its own seed {}", choice.seed)
    } else {
        format!("seed {}", choice.named)
    };
    format!(
        "{} ({how} of the {} {of}, chosen with {seed})",
        names(&r.containers),
        choice.among.len()
    )
}

impl Plan {
    /// How a fault will be made, and why; `None` for the faults that are
    /// one Docker call (container faults, signals, a script in the
    /// container).
    fn mechanism_line(&self, fault: &Fault, targets: &ResolvedTarget) -> Option<String> {
        match fault.family() {
            FaultFamily::Deploy(d) => Some(deploy_line(d, targets)),
            FaultFamily::Container(_) | FaultFamily::Process(_) => None,
            FaultFamily::Script(s) => script_line(s),
            FaultFamily::Stress(_) => Some(self.worker_line()),
            FaultFamily::App(AppFault::Dns(_)) => Some(self.dns_line()),
            FaultFamily::App(AppFault::Http(h)) => Some(self.http_line(h)),
            FaultFamily::Net(_) => Some(self.net_line(fault)),
        }
    }

    /// The helper image the default engine's faults go through, if any.
    fn helper_image(&self) -> Option<&str> {
        self.inventory.namespace.helper_image(DEFAULT_HOST)
    }

    fn dns_line(&self) -> String {
        match self.helper_image() {
            None => format!(
                "with a DNS proxy in the container's network namespace, entered from this host, fed by nat OUTPUT REDIRECT rules for port 53 (UDP and TCP); the other names go to the container's own resolver; it takes the rule away itself if the runner dies{}",
                self.because()
            ),
            Some(image) => format!(
                "with a DNS proxy in a helper container ({image}) sharing the container's network namespace, fed by nat OUTPUT REDIRECT rules for port 53 (UDP and TCP); the other names go to the container's own resolver; it takes the rule away itself if the runner dies or the link to the engine is cut{}",
                self.because()
            ),
        }
    }

    fn http_line(&self, h: &HttpFault) -> String {
        let (place, gone) = match self.helper_image() {
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
        format!(
            "with a transparent HTTP/1.1 proxy {place}, fed by {rules} (plaintext HTTP only; connections already open are not redirected); it takes the rules away itself if the runner dies{gone}{}",
            self.because()
        )
    }

    /// How a network fault will be made: its mechanism, why, and where.
    fn net_line(&self, fault: &Fault) -> String {
        use crate::fault::net::{Mechanism, mechanism};
        let netem_available = self.inventory.namespace.netem_available;
        let m = match mechanism(fault, netem_available) {
            Ok(m) => m,
            Err(e) => return format!("WILL FAIL: {e}"),
        };
        let why = match m {
            Mechanism::Userspace if !netem_available => {
                " (this kernel has no sch_netem); fails open if the runner dies"
            }
            Mechanism::Userspace => "; fails open if the runner dies",
            Mechanism::IptablesStatistic => " (this kernel has no sch_netem)",
            Mechanism::Netem
            | Mechanism::Tbf
            | Mechanism::IptablesDrop
            | Mechanism::DockerNetwork => "",
        };
        let place = match (self.helper_image(), m) {
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

    /// How a stress worker will be made.
    fn worker_line(&self) -> String {
        if let Some(image) = self.helper_image() {
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
        let mut out = String::new();
        self.render_scope(&mut out, file);
        out.push('\n');
        self.render_probes(&mut out);
        out.push('\n');
        self.render_safety(&mut out);
        out.push('\n');
        let _ = writeln!(out, "Schedule:");
        for step in &self.steps {
            self.render_step(&mut out, step);
        }
        out.push('\n');
        for install in &self.inventory.helper_installs {
            let _ = writeln!(out, "HELPER: {}", install.describe());
        }
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

    /// The gameday, its engines and the containers in scope.
    fn render_scope(&self, out: &mut String, file: &str) {
        let g = &self.gameday;
        let _ = writeln!(out, "Plan for gameday \"{}\" ({file})", g.gameday);
        if g.environments.is_empty() {
            let _ = writeln!(out, "  environment  {}", g.environment);
        } else {
            let _ = writeln!(
                out,
                "  environment  {} (the file has {}; choose with --env)",
                g.environment,
                g.environments.join(", ")
            );
        }
        for (i, v) in g.variables.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {:<12} ${{{}}} = {} (from {})",
                if i == 0 { "variables" } else { "" },
                v.name,
                v.shown(),
                v.source
            );
        }
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
        if self.picks_at_random() {
            let _ = writeln!(out, "  seed         {}", self.seed.value_text());
        }
    }

    /// Whether a fault or probe picks some of its containers (by seed).
    fn picks_at_random(&self) -> bool {
        let mut faults = self.scenarios.iter().flat_map(|s| &s.faults);
        faults.any(|f| f.targets.choice.is_some())
            || self
                .probes
                .iter()
                .any(|p| p.targets.as_ref().is_some_and(|t| t.choice.is_some()))
    }

    /// Every probe: what it asks, how often, of what.
    fn render_probes(&self, out: &mut String) {
        let total_rate: f64 = self
            .probes
            .iter()
            .map(|p| 1.0 / p.probe.every.as_std().as_secs_f64())
            .sum();
        let _ = writeln!(
            out,
            "Probes (run from the start of the baseline to the end of the last cooldown, {:.1}/s in all):",
            total_rate
        );
        if self.probes.is_empty() {
            let _ = writeln!(out, "  (none: nothing will be measured)");
        }
        for resolved in &self.probes {
            let probe = &resolved.probe;
            let _ = writeln!(
                out,
                "  {:<14} every {:<6} timeout {:<6} {}",
                probe.name,
                probe.every.to_string(),
                probe.timeout.to_string(),
                probe_text(resolved)
            );
            let _ = writeln!(out, "  {:<14} {}", "", resolved.user_facing.describe());
        }
    }

    /// One step of the schedule.
    fn render_step(&self, out: &mut String, step: &Step) {
        let at = offset(step.at);
        let _ = match (&step.action, step.scenario) {
            (Action::Baseline(d), _) => writeln!(
                out,
                "  {at:>9}  baseline {}: steady-state check, every probe must pass; otherwise stop before any fault",
                HumanDuration(*d)
            ),
            (Action::StartScenario, Some(i)) => self.render_start(out, &at, i),
            (Action::Apply { fault }, Some(i)) => self.render_apply(out, &at, i, *fault),
            (Action::Wait(d), Some(_)) => {
                writeln!(out, "  {at:>9}    wait      {}", HumanDuration(*d))
            }
            (Action::Note(text), Some(_)) => writeln!(out, "  {at:>9}    note      {text}"),
            (Action::Manual { text, timeout }, Some(_)) => render_manual(out, &at, text, *timeout),
            (Action::Hold(d), Some(i)) => self.render_hold(out, &at, i, *d),
            (Action::Revert { fault }, Some(i)) => self.render_revert(out, &at, i, *fault),
            (Action::Cooldown(d), Some(_)) => {
                writeln!(out, "  {at:>9}    cooldown  {}", HumanDuration(*d))
            }
            (Action::End, _) => writeln!(out, "  {at:>9}  end"),
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
            ) => Ok(()),
        };
    }

    fn render_start(&self, out: &mut String, at: &str, i: usize) -> std::fmt::Result {
        let g = &self.gameday;
        let s = &g.scenarios[i];
        writeln!(
            out,
            "  {at:>9}  scenario {}/{}: {}",
            i + 1,
            g.scenarios.len(),
            s.name
        )?;
        if let Some(e) = &s.expected {
            writeln!(out, "  {:>9}    expected: {e}", "")?;
        }
        self.render_trials(out, i)
    }

    /// A scenario run as trials: how many, how judged, how long at most.
    fn render_trials(&self, out: &mut String, i: usize) -> std::fmt::Result {
        let g = &self.gameday;
        let s = &g.scenarios[i];
        let between = format!(
            "between two trials every probe must be all ok for {} (the baseline; two tries, else the trials stop)",
            g.defaults.baseline
        );
        let pad = "";
        if let Some(search) = &s.search {
            let say = |v: f64| crate::gameday::decode::say(search.unit, v);
            writeln!(
                out,
                "  {pad:>9}    search    {} from {} to {} by {} ({} values): breaks when {}",
                search.vary,
                say(search.from),
                say(search.to),
                say(search.resolution),
                search.points.len(),
                search.until
            )?;
            let confirm = if search.confirm > 1 {
                format!(
                    ", each value held {} times before it counts as holding",
                    search.confirm
                )
            } else {
                String::new()
            };
            let each = match &search.load {
                Some(probe) => format!(
                    "each as below, with {probe} sending at the value tried (at its own rate between trials)"
                ),
                None => format!(
                    "each as below with {} in place (shown at {}, the top)",
                    search.vary,
                    say(search.to)
                ),
            };
            writeln!(
                out,
                "  {pad:>9}              at most {} trials (the top, the bottom, then halving the bracket{confirm}), {each}",
                search.most_trials(),
            )?;
            writeln!(out, "  {pad:>9}              {between}")?;
        } else if let Some(times) = s.repeat {
            let pass = s.pass.unwrap_or(times);
            writeln!(
                out,
                "  {pad:>9}    repeat    {times} trials, each as below; met when {pass} of {times} meet every check"
            )?;
            writeln!(out, "  {pad:>9}              {between}")?;
        } else {
            return Ok(());
        }
        if self.scenarios[i]
            .faults
            .iter()
            .any(|f| f.targets.choice.is_some())
        {
            let line = match s.search {
                Some(_) => {
                    "a trial whose value picks fewer takes that many of the containers chosen below (chosen and checked at the top of the range), drawn from the target's seed and the trial's number"
                }
                None => "every trial acts on the containers chosen below",
            };
            writeln!(out, "  {pad:>9}              {line}")?;
        }
        Ok(())
    }

    /// An apply: what it does, how it is made, how far it reaches.
    fn render_apply(&self, out: &mut String, at: &str, i: usize, fault: usize) -> std::fmt::Result {
        let f = &self.gameday.scenarios[i].faults[fault];
        let resolved = &self.scenarios[i].faults[fault];
        let (apply, _) = f.describe(&target_text(&resolved.targets));
        writeln!(out, "  {at:>9}    apply     {apply}")?;
        if let Some(how) = self.mechanism_line(f, &resolved.targets) {
            writeln!(out, "  {:>9}              {how}", "")?;
        }
        for reached in &resolved.reach {
            for line in reached.lines(f) {
                writeln!(out, "  {:>9}              {line}", "")?;
            }
        }
        if let Some(also) = sharers_line(&resolved.sharers) {
            writeln!(out, "  {:>9}              {also}", "")?;
        }
        Ok(())
    }

    /// The hold, with the checks made over it and what halts it.
    fn render_hold(&self, out: &mut String, at: &str, i: usize, d: Duration) -> std::fmt::Result {
        let s = &self.gameday.scenarios[i];
        writeln!(out, "  {at:>9}    hold      {}", HumanDuration(d))?;
        for e in &s.expect {
            writeln!(out, "  {:>9}      check   {e}", "")?;
        }
        for h in &s.halt_if {
            writeln!(
                out,
                "  {:>9}      halt if {} fails for {}",
                "", h.probe, h.failing_for
            )?;
        }
        Ok(())
    }

    /// A revert: how the fault is undone (nothing, on a swarm task it took down).
    fn render_revert(
        &self,
        out: &mut String,
        at: &str,
        i: usize,
        fault: usize,
    ) -> std::fmt::Result {
        let f = &self.gameday.scenarios[i].faults[fault];
        let target = &self.scenarios[i].faults[fault].targets;
        let (_, mut revert) = f.describe(&target_text(target));
        let takes_it_down = match f.family() {
            FaultFamily::Container(c) => c.takes_it_down(),
            FaultFamily::Net(_)
            | FaultFamily::Process(_)
            | FaultFamily::Stress(_)
            | FaultFamily::Script(_)
            | FaultFamily::App(_)
            | FaultFamily::Deploy(_) => false,
        };
        if takes_it_down && target.containers.iter().any(|c| c.swarm_service.is_some()) {
            revert = "none: the swarm replaces the task with a new container (recovers_within measures it)".to_string();
        }
        writeln!(out, "  {at:>9}    revert    {revert}")
    }
}

/// How a deploy goes: the replicas in their order, what replaces each,
/// and how the ones compose did not make are recreated.
fn deploy_line(deploy: &DeployFault, targets: &ResolvedTarget) -> String {
    let names: Vec<&str> = targets.containers.iter().map(|c| c.name.as_str()).collect();
    let order = match deploy.strategy {
        DeployStrategy::Rolling => format!(
            "one replica at a time, in this order: {} (each ready before the next is stopped)",
            names.join(", ")
        ),
        DeployStrategy::Recreate => format!(
            "every replica at once: {} (all replaced, then all waited for)",
            names.join(", ")
        ),
    };
    let image = match &deploy.image {
        Some(image) => format!("from {image}"),
        None => "from the image it runs".to_string(),
    };
    let outside: Vec<&str> = targets
        .containers
        .iter()
        .filter(|c| c.project.is_none())
        .map(|c| c.name.as_str())
        .collect();
    let made = if outside.is_empty() {
        "its configuration and compose labels kept".to_string()
    } else {
        format!(
            "its configuration kept; not made by compose, so recreated from its inspected configuration: {}",
            outside.join(", ")
        )
    };
    format!(
        "{order}; each stopped, kept aside under another name with its restart policy off, and replaced by a container of the same name {image} ({made}), timeout {} a replica; the rollback puts the kept ones back",
        deploy.timeout
    )
}

/// How a script will be run, when it runs on this host; `None` in the
/// container (one Docker call).
fn script_line(script: &ScriptFault) -> Option<String> {
    match script.place {
        ScriptPlace::Host => Some("with a command on this host (GAMEDAY_CONTAINER_ID and GAMEDAY_CONTAINER_NAME name the target); the revert command is journalled first".to_string()),
        ScriptPlace::Container => None,
    }
}

/// A manual step: the question, and how long it waits.
fn render_manual(out: &mut String, at: &str, text: &str, timeout: Duration) -> std::fmt::Result {
    writeln!(out, "  {at:>9}    operator  {text}")?;
    writeln!(
        out,
        "  {:>9}              (waits until someone types what they see, at most {}; not counted in the times)",
        "",
        HumanDuration(timeout)
    )
}

/// What a probe asks, of what.
fn probe_text(resolved: &ResolvedProbe) -> String {
    let target = |fallback: &dyn std::fmt::Display| {
        resolved
            .targets
            .as_ref()
            .map(target_text)
            .unwrap_or_else(|| fallback.to_string())
    };
    match &resolved.probe.kind {
        ProbeKind::Http(h) => http_probe_text(h),
        ProbeKind::Tcp(t) => format!("tcp connect {}", t.address),
        ProbeKind::Container(c) => format!("container state of {}", target(&c.target)),
        ProbeKind::Exec(e) => format!("exec {} in {}", argv_text(&e.command), target(&e.target)),
        ProbeKind::Command(c) => format!("command {} on this host", argv_text(&c.argv)),
        ProbeKind::Logs(l) => format!(
            "log lines of {} matching /{}/",
            target(&l.target),
            l.pattern
        ),
        ProbeKind::Prometheus(q) => prometheus_probe_text(q),
        ProbeKind::Alert(a) => format!(
            "alert {} firing, asked of {}",
            a.name,
            crate::redact::url(&a.url)
        ),
        ProbeKind::Load(l) => format!(
            "load {} {} at {} over at most {} connections, expect {}",
            l.http.method,
            crate::redact::url(&l.http.url),
            l.rate,
            l.connections,
            l.http.expect_status
        ),
        ProbeKind::Ledger(l) => ledger_probe_text(l, &resolved.probe.every),
    }
}

/// What a ledger writes, where, what it owns there and what becomes of it.
fn ledger_probe_text(l: &LedgerProbe, every: &HumanDuration) -> String {
    let (writes, owns) = match &l.store {
        LedgerStore::Postgres(p) => (
            format!(
                "a row (run id, sequence number) every {every} into table {} of {}",
                p.table,
                crate::redact::url(&p.url)
            ),
            if l.keep {
                "the table is made if missing (a table of that name no ledger made is refused); its rows are kept".to_string()
            } else {
                "the table is made if missing (a table of that name no ledger made is refused); at the end its rows are deleted, and the table dropped if this run made it and it is empty; no other row is touched".to_string()
            },
        ),
        LedgerStore::Redis(r) => (
            format!(
                "an entry every {every} onto list {}:<run id>.<probe> of {}",
                r.key,
                crate::redact::url(&r.url)
            ),
            if l.keep {
                "the list is kept".to_string()
            } else {
                "the list is deleted at the end (and expires a week after its last write); no other key is touched".to_string()
            },
        ),
        LedgerStore::Http(h) => (
            format!(
                "record {{{{id}}}} every {every}: {} {}, read back with {} {} (present on {})",
                h.write.method,
                crate::redact::url(&h.write.url),
                h.read.method,
                crate::redact::url(&h.read.url),
                h.read.expect_status
            ),
            "the records stay in the service (it has no delete the ledger knows)".to_string(),
        ),
    };
    format!(
        "ledger: writes {writes}, acknowledged or not; reads every write back after each scenario's cooldown (lost, duplicated, RPO); {owns}"
    )
}

fn http_probe_text(h: &HttpProbe) -> String {
    let mut s = format!(
        "http {} {} expect {}",
        h.method,
        crate::redact::url(&h.url),
        h.expect_status
    );
    if let Some(b) = &h.body_contains {
        let _ = write!(s, ", body contains {b:?}");
    }
    if let Some(v) = &h.version {
        let _ = write!(s, ", version: {v}");
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

fn prometheus_probe_text(q: &PrometheusProbe) -> String {
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
