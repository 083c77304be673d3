//! The first gameday of a stack, as commented YAML a team runs at once and
//! then edits. Pure: a [`Stack`] and [`WriteOptions`] in, text out. The
//! text is checked by the same loader as any gameday file (see the tests),
//! so what `init` writes always validates.

use std::fmt::Write as _;

use super::dependency::edge_scenarios;
use super::ledger;
use super::lifecycle;
use super::{Endpoint, Healthcheck, Service, Stack};
use crate::gameday::units::HumanDuration;

/// What the caller decides about the file.
#[derive(Debug, Clone)]
pub(crate) struct WriteOptions {
    /// How long each fault is held.
    pub duration: HumanDuration,
    /// `2026-12-03`, for the header.
    pub date: String,
    /// The command that wrote it, for the header.
    pub command: String,
    /// `--load RATE`: a live load probe on the main HTTP endpoint (else
    /// one commented out).
    pub load: Option<crate::gameday::units::RequestRate>,
}

/// A scalar as YAML: plain when that cannot be misread, else JSON-quoted
/// (a JSON string is a valid YAML double-quoted scalar).
pub(crate) fn scalar(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._-/'()".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// The probes written for one service.
pub(super) struct ServiceProbes {
    /// The HTTP probe, if the service answers HTTP on a published port.
    http: Option<String>,
    /// The ledger probe, for a datastore the ledger speaks.
    ledger: Option<String>,
    /// The TCP probe, for a published port that is not HTTP, unless a
    /// ledger writes there.
    tcp: Option<String>,
    /// The container probe (always).
    pub(super) state: String,
    /// Its own HEALTHCHECK run by an `exec` probe, if it has one.
    pub(super) healthcheck: Option<String>,
}

impl ServiceProbes {
    /// The probe a client of the service would notice: HTTP, else its
    /// ledger, else TCP.
    fn client(&self) -> Option<&str> {
        self.http
            .as_deref()
            .or(self.ledger.as_deref())
            .or(self.tcp.as_deref())
    }

    /// The probe that says whether the service calls itself healthy: its
    /// HTTP health endpoint, else its own HEALTHCHECK.
    pub(super) fn health(&self) -> Option<&str> {
        self.http.as_deref().or(self.healthcheck.as_deref())
    }
}

/// The probe that shows what clients of `service` see: its own HTTP or
/// TCP probe (`direct`), else that of a service depending on it, nearest
/// first (through its caller).
pub(super) struct Observer {
    pub(super) probe: String,
    /// The service whose probe it is.
    pub(super) via: String,
    pub(super) direct: bool,
}

pub(super) fn observer(service: &str, stack: &Stack) -> Option<Observer> {
    let mut seen = vec![service.to_string()];
    let mut frontier = vec![service.to_string()];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for s in &frontier {
            if let Some(probe) = probes_of(s, stack).client() {
                return Some(Observer {
                    probe: probe.to_string(),
                    via: s.clone(),
                    direct: s == service,
                });
            }
            for e in stack.edges.iter().filter(|e| &e.to == s) {
                if !seen.contains(&e.from) {
                    seen.push(e.from.clone());
                    next.push(e.from.clone());
                }
            }
        }
        frontier = next;
    }
    None
}

/// Is `service` paused by a written scenario (it is someone's dependency)?
/// No `exec` probe goes into such a container: on Docker 20.10 here, an exec
/// that races a pause was seen to stay frozen and wedge the unpause.
fn paused(service: &str, stack: &Stack) -> bool {
    stack.edges.iter().any(|e| e.to == service)
}

pub(super) fn probes_of(service: &str, stack: &Stack) -> ServiceProbes {
    let endpoint = stack.service(service).and_then(|s| s.endpoint.as_ref());
    let ledger = stack.service(service).and_then(ledger::probe_name);
    ServiceProbes {
        http: matches!(endpoint, Some(Endpoint::Http { .. })).then(|| format!("{service}-http")),
        tcp: (matches!(endpoint, Some(Endpoint::Tcp { .. })) && ledger.is_none())
            .then(|| format!("{service}-port")),
        ledger,
        state: format!("{service}-state"),
        healthcheck: (stack
            .service(service)
            .and_then(|s| s.healthcheck.as_ref())
            .is_some_and(|h| h.runs)
            && !paused(service, stack))
        .then(|| format!("{service}-healthcheck")),
    }
}

/// One scenario being written.
pub(super) struct ScenarioText {
    pub(super) name: String,
    pub(super) expected: String,
    pub(super) checklist: Vec<&'static str>,
    /// The fault lines (each a flow mapping), one per fault.
    pub(super) faults: Vec<String>,
    pub(super) expect: Vec<String>,
    pub(super) comment: Option<String>,
}

/// The gameday for `stack`.
pub(crate) fn gameday_text(stack: &Stack, options: &WriteOptions) -> String {
    let hold = options.duration;
    // Long enough to see a recovery, and the bound it is held to.
    let settle = HumanDuration::from_millis(hold.as_std().as_millis().max(5000) as u64);
    let mut out = String::new();
    header(&mut out, stack, options);
    let redeploys = stack.services.iter().any(|s| s.healthcheck.is_some());
    let ledgers = stack
        .services
        .iter()
        .any(|s| ledger::probe_name(s).is_some());
    let _ = writeln!(
        out,
        "gameday: {}",
        scalar(&format!("{} readiness", stack.project))
    );
    let _ = writeln!(
        out,
        "description: {}",
        scalar(&format!(
            "What {} does when a dependency hangs, dies, slows down or is cut off, and whether each service comes back after a restart{}{}.",
            stack.project,
            if redeploys {
                " (and a redeploy, where Docker checks its health)"
            } else {
                ""
            },
            if ledgers {
                ", keeping every write its datastores acknowledged"
            } else {
                ""
            }
        ))
    );
    let _ = writeln!(out, "environment: local   # adjust: staging, ...");
    let _ = writeln!(
        out,
        "scope: {{ compose_project: {} }}",
        scalar(&stack.project)
    );
    let _ = writeln!(
        out,
        "defaults: {{ probe_every: 250ms, probe_timeout: 3s, baseline: 3s, cooldown: {settle} }}"
    );
    let _ = writeln!(
        out,
        "lease: 10s   # the dead man's switch: a runner silent this long has its faults reverted"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "probes:");
    for s in &stack.services {
        service_probes(&mut out, stack, s);
    }
    super::load::load_probe(&mut out, stack, options.load);
    let _ = writeln!(out);
    let _ = writeln!(out, "scenarios:");
    let mut scenarios = Vec::new();
    for edge in &stack.edges {
        scenarios.extend(edge_scenarios(stack, edge, settle));
    }
    for s in &stack.services {
        scenarios.push(lifecycle::restarted(stack, &s.name, settle));
    }
    for s in &stack.services {
        scenarios.extend(lifecycle::redeployed(stack, s, settle));
    }
    scenario_lines(&mut out, &scenarios, hold);
    out
}

/// The comment lines that open the file: who wrote it and how, the
/// dependencies, where the ports were asked, the ledgers, the notes.
fn header(out: &mut String, stack: &Stack, options: &WriteOptions) {
    let _ = writeln!(out, "# yaml-language-server: $schema=gameday.schema.json");
    let _ = writeln!(
        out,
        "# Written by `{}` on {}",
        options.command, options.date
    );
    let _ = writeln!(
        out,
        "# from the running containers of compose project `{}`{}.",
        stack.project,
        if stack.compose_files.is_empty() {
            String::new()
        } else {
            format!(" and {}", stack.compose_files.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "# Run it now (`gameday plan` first), then edit: every value marked `# adjust`"
    );
    let _ = writeln!(
        out,
        "# is a first guess at what your team expects; `expected:` is yours to reword."
    );
    let _ = writeln!(out, "#");
    let redeploys = stack.services.iter().any(|s| s.healthcheck.is_some());
    if stack.edges.is_empty() {
        let _ = writeln!(
            out,
            "# No dependencies found: only restarts{} are rehearsed. Add `depends_on` to the",
            if redeploys { " and redeploys" } else { "" }
        );
        let _ = writeln!(
            out,
            "# compose file (or scenarios by hand) to rehearse a dependency failing."
        );
    } else {
        let _ = writeln!(out, "# Dependencies (A -> B: A needs B):");
        for e in &stack.edges {
            let _ = writeln!(
                out,
                "#   {} -> {}   ({})",
                e.from,
                e.to,
                e.source.describe()
            );
        }
    }
    let _ = writeln!(
        out,
        "# Published ports were asked at {}.",
        stack.probed_at.describe()
    );
    ledger::header_lines(out, stack);
    for note in &stack.notes {
        let _ = writeln!(out, "# Note: {note}");
    }
}

/// The scenarios under `scenarios:`, each held `hold`.
fn scenario_lines(out: &mut String, scenarios: &[ScenarioText], hold: HumanDuration) {
    for (i, s) in scenarios.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(out);
        }
        if let Some(c) = &s.comment {
            for line in c.lines() {
                let _ = writeln!(out, "  # {line}");
            }
        }
        let _ = writeln!(out, "  - name: {}", scalar(&s.name));
        let _ = writeln!(out, "    expected: {}", scalar(&s.expected));
        if !s.checklist.is_empty() {
            let items: Vec<String> = s.checklist.iter().map(|c| scalar(c)).collect();
            let _ = writeln!(out, "    checklist: [{}]", items.join(", "));
        }
        match s.faults.as_slice() {
            [one] => {
                let _ = writeln!(out, "    fault: {one}");
            }
            many => {
                let _ = writeln!(out, "    faults:");
                for f in many {
                    let _ = writeln!(out, "      - {f}");
                }
            }
        }
        let _ = writeln!(out, "    duration: {hold}   # adjust");
        if !s.expect.is_empty() {
            let _ = writeln!(out, "    expect:");
            for e in &s.expect {
                let _ = writeln!(out, "      - {e}");
            }
        }
    }
}

/// The probes of one service: HTTP or TCP where a client reaches it, its
/// own HEALTHCHECK (a comment where it cannot run, or may not), and its
/// container.
fn service_probes(out: &mut String, stack: &Stack, s: &Service) {
    match &s.endpoint {
        Some(Endpoint::Http { url, status }) => {
            let _ = writeln!(
                out,
                "  {}: {{ http: {{ url: {} }} }}   # answered {status} when init looked",
                scalar(&format!("{}-http", s.name)),
                scalar(url),
            );
        }
        // A ledger writes there instead.
        Some(Endpoint::Tcp { .. }) if ledger::probe_name(s).is_some() => {}
        Some(Endpoint::Tcp { address, contacted }) => {
            let note = match ledger::tcp_note(s) {
                Some(note) => note,
                None if *contacted => {
                    "   # accepts connections; no HTTP health path answered".to_string()
                }
                None => "   # published beyond loopback: not contacted by init".to_string(),
            };
            let _ = writeln!(
                out,
                "  {}: {{ tcp: {{ address: {} }} }}{note}",
                scalar(&format!("{}-port", s.name)),
                scalar(address),
            );
        }
        Some(Endpoint::Unreachable { port, bound }) => {
            let _ = writeln!(
                out,
                "  # {} publishes port {port} on {bound} of the engine's host: out of reach from here, so no probe asks it (publish it on 0.0.0.0, or give --probe-host through a tunnel)",
                s.name
            );
        }
        None => {}
    }
    ledger::probe_lines(out, stack, s);
    match &s.healthcheck {
        Some(_) if paused(&s.name, stack) => {
            let _ = writeln!(
                out,
                "  # {} has a HEALTHCHECK, not run as a probe here: it is paused by a scenario, and an exec racing a pause can wedge the engine",
                s.name
            );
        }
        Some(h) => healthcheck_probe(out, &s.name, h),
        None => {}
    }
    let runs = s.healthcheck.as_ref().is_some_and(|h| h.runs);
    let _ = writeln!(
        out,
        "  {}: {{ container: {{ service: {} }} }}{}",
        scalar(&format!("{}-state", s.name)),
        scalar(&s.name),
        if observer(&s.name, stack).is_none() && !runs {
            "   # nothing shows what its clients see: add an `exec` probe that asks it from inside"
        } else {
            ""
        }
    );
}

/// A service's HEALTHCHECK as an `exec` probe, its secrets already out:
/// live where it runs as written, else a comment saying why. Its `$` are
/// written `$$`: the container's shell expands them, not gameday.
fn healthcheck_probe(out: &mut String, service: &str, h: &Healthcheck) {
    let argv: Vec<String> = h
        .argv
        .iter()
        .map(|a| scalar(&a.replace('$', "$$")))
        .collect();
    let line = format!(
        "{}: {{ exec: {{ service: {}, command: [{}] }}, every: 1s }}",
        scalar(&format!("{service}-healthcheck")),
        scalar(service),
        argv.join(", ")
    );
    let named = h
        .variables
        .iter()
        .map(|v| format!("${{{v}}}"))
        .collect::<Vec<_>>()
        .join(", ");
    if h.runs {
        let note = if named.is_empty() {
            String::new()
        } else {
            format!(
                "; {named}: the container's own variable, expanded by its shell (`$$` keeps gameday's own `${{...}}` out; the value is not written here)"
            )
        };
        let _ = writeln!(out, "  {line}   # its own HEALTHCHECK{note}");
        return;
    }
    let why = if h.hidden > 0 {
        "it carries a secret no variable of the container holds, written ***".to_string()
    } else {
        format!("an exec probe runs its argv without a shell, so {named} would reach it unexpanded")
    };
    let _ = writeln!(
        out,
        "  # {service}'s own HEALTHCHECK, not run as a probe: {why}. No secret is written here; to run it, write it as [sh, -c, \"...\"] with the variable if the image has a shell."
    );
    let _ = writeln!(out, "  # {line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::checklist::FAILS_FAST;
    use crate::init::{Edge, EdgeSource, Service};

    fn stack() -> Stack {
        Stack {
            project: "shop".into(),
            compose_files: vec!["docker-compose.yml".into()],
            services: vec![
                Service {
                    name: "web".into(),
                    endpoint: Some(Endpoint::Http {
                        url: "http://127.0.0.1:8000/health".into(),
                        status: 200,
                    }),
                    healthcheck: None,
                    datastore: None,
                },
                Service {
                    name: "api".into(),
                    endpoint: None,
                    healthcheck: None,
                    datastore: None,
                },
                Service {
                    name: "db".into(),
                    endpoint: Some(Endpoint::Tcp {
                        address: "127.0.0.1:5432".into(),
                        contacted: true,
                    }),
                    healthcheck: Some(Healthcheck::read(
                        &["pg_isready".into(), "-q".into()],
                        &[],
                        HumanDuration::from_secs(2),
                    )),
                    datastore: None,
                },
            ],
            edges: vec![
                Edge {
                    from: "web".into(),
                    to: "api".into(),
                    source: EdgeSource::DependsOn,
                },
                Edge {
                    from: "api".into(),
                    to: "db".into(),
                    source: EdgeSource::Named("its environment variable DB_HOST names `db`".into()),
                },
            ],
            notes: vec![],
            probed_at: crate::init::reach::ProbeHost::local(),
        }
    }

    fn options() -> WriteOptions {
        WriteOptions {
            duration: HumanDuration::from_secs(10),
            date: "2026-12-03".into(),
            command: "gameday init --project shop".into(),
            load: None,
        }
    }

    #[test]
    fn the_written_gameday_validates_and_covers_every_edge() {
        let text = gameday_text(&stack(), &options());
        let env = |_: &str| None;
        let g = crate::gameday::load_bytes("init.yaml", text.as_bytes(), &env)
            .unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
        for edge in &stack().edges {
            assert!(
                g.scenarios.iter().any(|s| s.name
                    == format!(
                        "{} paused, {} must notice and fail fast",
                        edge.to, edge.from
                    )),
                "{text}"
            );
            assert!(
                g.scenarios
                    .iter()
                    .any(|s| s.name == format!("{} cut off from {}", edge.from, edge.to))
            );
        }
        // A service without a port gets no "started while down" scenario
        // (nothing could tell whether it reports healthy).
        assert!(
            !g.scenarios
                .iter()
                .any(|s| s.name == "api started while db is down")
        );
        assert!(
            g.scenarios
                .iter()
                .any(|s| s.name == "web started while api is down")
        );
        assert_eq!(
            g.scenarios
                .iter()
                .filter(|s| s.name.ends_with(" restarted"))
                .count(),
            3
        );
        // Seen through web: every scenario claims its items.
        assert!(
            g.scenarios.iter().all(|s| !s.checklist.is_empty()),
            "{text}"
        );
        let db_paused = g
            .scenarios
            .iter()
            .find(|s| s.name == "db paused, api must notice and fail fast")
            .unwrap();
        // api has no health of its own to prove anything about.
        assert_eq!(db_paused.checklist, vec![FAILS_FAST.to_string()]);
        assert!(text.contains("what its clients see is checked through web (web-http)"));
    }

    #[test]
    fn nothing_is_claimed_where_no_probe_can_see_it() {
        let mut stack = stack();
        stack.services[0].endpoint = None;
        let text = gameday_text(&stack, &options());
        let env = |_: &str| None;
        let g = crate::gameday::load_bytes("init.yaml", text.as_bytes(), &env)
            .unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
        let web_side: Vec<_> = g
            .scenarios
            .iter()
            .filter(|s| s.name.contains("web") || s.name.starts_with("api "))
            .collect();
        assert!(!web_side.is_empty());
        for s in web_side {
            assert!(s.checklist.is_empty(), "{}: {:?}", s.name, s.checklist);
        }
        // db still has its own port.
        assert!(
            g.scenarios
                .iter()
                .any(|s| s.name == "db restarted" && !s.checklist.is_empty())
        );
    }

    /// A HEALTHCHECK read from a container whose DB_PASSWORD holds `s3cr3t-pw`.
    fn with_secret(argv: &[&str]) -> Healthcheck {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        Healthcheck::read(
            &argv,
            &["DB_PASSWORD=s3cr3t-pw".to_string()],
            HumanDuration::from_secs(30),
        )
    }

    #[test]
    fn a_healthcheck_with_secrets_is_written_without_them() {
        let mut stack = stack();
        stack.services[0].healthcheck = Some(with_secret(&[
            "/bin/sh",
            "-c",
            "check --url http://127.0.0.1:8000 --password s3cr3t-pw",
        ]));
        stack.services[2].healthcheck = Some(with_secret(&["pg_isready", "-q", "-ps3cr3t-pw"]));
        stack.services[2].endpoint = Some(Endpoint::Unreachable {
            port: 5432,
            bound: "127.0.0.1".into(),
        });
        let text = gameday_text(&stack, &options());
        assert!(!text.contains("s3cr3t-pw"), "{text}");
        // A shell line runs with the container's own variable.
        assert!(
            text.contains("web-healthcheck: { exec: { service: web, command: [/bin/sh, \"-c\", \"check --url http://127.0.0.1:8000 --password $${DB_PASSWORD}\"] }, every: 1s }   # its own HEALTHCHECK; ${DB_PASSWORD}: the container's own variable"),
            "{text}"
        );
        // An argv cannot expand it: a comment, and no probe of that name.
        assert!(
            text.contains("  # db-healthcheck: { exec: { service: db, command: [pg_isready, \"-q\", \"-p$${DB_PASSWORD}\"] }, every: 1s }")
                || text.contains("  # db has a HEALTHCHECK, not run as a probe here"),
            "{text}"
        );
        assert!(
            text.contains(
                "db publishes port 5432 on 127.0.0.1 of the engine's host: out of reach from here"
            ),
            "{text}"
        );
        let env = |_: &str| None;
        let g = crate::gameday::load_bytes("init.yaml", text.as_bytes(), &env)
            .unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
        assert!(g.probes.0.iter().any(|p| p.name == "web-healthcheck"));
        assert!(
            !g.probes
                .0
                .iter()
                .any(|p| p.name == "db-healthcheck" || p.name == "db-port")
        );
    }

    #[test]
    fn a_healthcheck_that_cannot_run_without_its_secret_is_a_comment() {
        let mut stack = stack();
        stack.edges.clear();
        stack.services[2].healthcheck = Some(with_secret(&[
            "/app",
            "check",
            "--password",
            "s3cr3t-pw",
            "--token",
            "literal-token",
        ]));
        let text = gameday_text(&stack, &options());
        assert!(
            !text.contains("s3cr3t-pw") && !text.contains("literal-token"),
            "{text}"
        );
        assert!(
            text.contains("  # db's own HEALTHCHECK, not run as a probe: it carries a secret no variable of the container holds, written ***."),
            "{text}"
        );
        assert!(
            text.contains("  # db-healthcheck: { exec: { service: db, command: [/app, check, \"--password\", \"$${DB_PASSWORD}\", \"--token\", \"***\"] }, every: 1s }"),
            "{text}"
        );
    }

    #[test]
    fn the_written_gameday_reads_well() {
        insta::assert_snapshot!(gameday_text(&stack(), &options()));
    }

    #[test]
    fn scalars_that_yaml_would_misread_are_quoted() {
        assert_eq!(scalar("api"), "api");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("8080"), "\"8080\"");
        assert_eq!(scalar("a b: c"), "\"a b: c\"");
        assert_eq!(
            scalar("http://127.0.0.1:8000/health"),
            "\"http://127.0.0.1:8000/health\""
        );
    }
}
