//! The ledger probes `init` writes for the datastores it recognized, and
//! the checks that judge them. A PostgreSQL server, a pooler speaking its
//! protocol, and a Redis get a `ledger` probe (writes acknowledged, then
//! read back after each scenario) in place of a TCP connect, which a pooler
//! answers while the database behind it is frozen; MySQL keeps its TCP
//! probe until the ledger speaks it. A scenario whose fault reaches a
//! datastore checks `lost: 0` on every ledger that sees it: its own, and
//! those writing through a pooler in front of it. A password is
//! `${PGPASSWORD}` or `${REDIS_PASSWORD}`, never read from the container;
//! only the user and database names its environment shows are written.
//! Pure, like the rest of `write`.

use std::fmt::Write as _;

use super::write::scalar;
use super::{Datastore, Service, Stack, StoreKind};

/// The variables a written ledger's URL names for its password: set when
/// the file is read, never written in it.
pub(crate) const PASSWORD_VARIABLES: &[&str] = &["PGPASSWORD", "REDIS_PASSWORD"];

/// The environment a written file is checked in before it is handed out:
/// the password variables set (empty), nothing else. They are the
/// runner's to set; what the check is after is everything else.
pub(crate) fn checking_env(name: &str) -> Option<String> {
    PASSWORD_VARIABLES.contains(&name).then(String::new)
}

/// How often a ledger writes, and how long one write may take.
const EVERY: &str = "100ms";
const TIMEOUT: &str = "1s";

impl StoreKind {
    /// Does the ledger speak it?
    fn has_ledger(self) -> bool {
        match self {
            StoreKind::Postgres | StoreKind::Redis => true,
            StoreKind::Mysql => false,
        }
    }
}

/// The name of `service`'s ledger probe, if it gets one: a datastore the
/// ledger speaks, at an address reached from here.
pub(super) fn probe_name(service: &Service) -> Option<String> {
    let store = service.datastore.as_ref()?;
    (store.kind.has_ledger() && store.address.is_some()).then(|| format!("{}-ledger", service.name))
}

/// The datastore `service` speaks for: one of its own protocol it depends
/// on (a PgBouncer in front of its PostgreSQL).
pub(super) fn fronted<'a>(stack: &'a Stack, service: &Service) -> Option<&'a Service> {
    let kind = service.datastore.as_ref()?.kind;
    stack
        .edges
        .iter()
        .filter(|e| e.from == service.name)
        .filter_map(|e| stack.service(&e.to))
        .find(|s| s.datastore.as_ref().is_some_and(|d| d.kind == kind))
}

/// The ledgers that see `target`'s data, and so judge a fault on it.
pub(super) struct Lost {
    ledgers: Vec<String>,
    kind: Option<StoreKind>,
}

impl Lost {
    /// `target`'s own ledger and those of the poolers in front of it (and
    /// in front of those).
    pub(super) fn of(stack: &Stack, target: &str) -> Lost {
        let mut behind: Vec<&Service> = stack.service(target).into_iter().collect();
        let mut i = 0;
        while let Some(s) = behind.get(i) {
            let name = s.name.clone();
            for front in &stack.services {
                let fronts = fronted(stack, front).is_some_and(|f| f.name == name);
                if fronts && !behind.iter().any(|b| b.name == front.name) {
                    behind.push(front);
                }
            }
            i += 1;
        }
        Lost {
            ledgers: behind.into_iter().filter_map(probe_name).collect(),
            kind: stack
                .service(target)
                .and_then(|s| s.datastore.as_ref())
                .map(|d| d.kind),
        }
    }

    /// Does any ledger see it?
    pub(super) fn seen(&self) -> bool {
        !self.ledgers.is_empty()
    }

    /// `{ probe: X, lost: 0 }` for each ledger; after a kill, a Redis's
    /// says what it takes to keep its writes.
    pub(super) fn checks(&self, killed: bool) -> Vec<String> {
        let note = match self.kind {
            Some(StoreKind::Redis) if killed => {
                "   # adjust: a Redis keeps what it acknowledged through a kill only with appendonly yes and appendfsync always"
            }
            Some(StoreKind::Postgres | StoreKind::Redis | StoreKind::Mysql) | None => "",
        };
        self.ledgers
            .iter()
            .map(|probe| format!("{{ probe: {}, lost: 0 }}{note}", scalar(probe)))
            .collect()
    }
}

/// What `store` is, in words: `PgBouncer, speaking PostgreSQL's protocol
/// (its image edoburu/pgbouncer)`.
fn what(store: &Datastore) -> String {
    let protocol = store.kind.protocol();
    let known = store.known_by.describe();
    match store.product {
        Some(product) if store.pooler => {
            format!("{product}, speaking {protocol}'s protocol ({known})")
        }
        Some(product) => format!("{product} ({known})"),
        None => format!("{protocol}'s protocol ({known})"),
    }
}

/// The note on a MySQL's TCP probe: what it is, and why no ledger.
pub(super) fn tcp_note(service: &Service) -> Option<String> {
    let store = service.datastore.as_ref()?;
    (!store.kind.has_ledger()).then(|| {
        format!(
            "   # {}: the ledger does not speak {} yet, so only connections are checked (MySQL counts each one closed before its handshake against max_connect_errors and blocks this host past it: raise it, or probe with `exec: {{ service: ..., command: [mysqladmin, ping] }}`)",
            what(store),
            store.kind.protocol()
        )
    })
}

/// The lines of `service`'s ledger probe, or why it has none.
pub(super) fn probe_lines(out: &mut String, stack: &Stack, service: &Service) {
    let Some(store) = &service.datastore else {
        return;
    };
    let Some(probe) = probe_name(service) else {
        if store.kind.has_ledger() {
            let _ = writeln!(
                out,
                "  # {} runs {}, but no port of it is reached from here: publish one to check its acknowledged writes with a ledger",
                service.name,
                what(store)
            );
        }
        return;
    };
    let name = &service.name;
    let _ = writeln!(
        out,
        "  # {name}: {}{}.",
        what(store),
        if store.contacted {
            ""
        } else {
            ", published beyond loopback: not contacted by init"
        }
    );
    if let Some(behind) = fronted(stack, service) {
        let b = &behind.name;
        let _ = writeln!(
            out,
            "  # In front of {b}: its writes reach {b}, so this ledger sees {b} frozen where a TCP connect to {name} would not."
        );
    }
    let _ = writeln!(out, "  {}:", scalar(&probe));
    let _ = writeln!(out, "    ledger:");
    let address = store.address.as_deref().unwrap_or_default();
    match store.kind {
        StoreKind::Postgres => postgres(out, stack, service, store),
        StoreKind::Redis => redis(out, name, store, address),
        StoreKind::Mysql => {}
    }
    let _ = writeln!(out, "    every: {EVERY}");
    let _ = writeln!(out, "    timeout: {TIMEOUT}");
}

/// A table or key of its own for each ledger: `gameday_ledger_pool`.
fn own(service: &str, separator: char) -> String {
    let tail: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("gameday{separator}ledger{separator}{tail}")
}

/// The URL a PostgreSQL ledger writes to `service` through, and where its
/// user and database names come from (empty: PostgreSQL's defaults, a
/// guess). A pooler without names of its own passes its database's on.
pub(super) fn postgres_url(stack: &Stack, service: &Service) -> Option<(String, String)> {
    let store = service.datastore.as_ref()?;
    let address = store.address.as_deref()?;
    let has_names = |d: &Datastore| d.user.is_some() || d.database.is_some();
    let behind = fronted(stack, service);
    let (names, from) = match behind.and_then(|b| Some((&b.name, b.datastore.as_ref()?))) {
        _ if has_names(store) => (store, "its environment".to_string()),
        Some((name, b)) if has_names(b) => (b, format!("{name}'s environment")),
        Some(_) | None => (store, String::new()),
    };
    let user = names.user.as_deref().unwrap_or("postgres");
    let database = names.database.as_deref().unwrap_or(user);
    let password = if store.password == Some(false) {
        ""
    } else {
        ":${PGPASSWORD}"
    };
    Some((
        format!("postgres://{user}{password}@{address}/{database}"),
        from,
    ))
}

fn postgres(out: &mut String, stack: &Stack, service: &Service, store: &Datastore) {
    let credentials = if store.password == Some(false) {
        "# credentials: a role that may create a table (its image trusts every client: no password)"
    } else {
        "# credentials: a role that may create a table; keep the password out of the file (export PGPASSWORD)"
    };
    let _ = writeln!(out, "      {credentials}");
    let Some((url, from)) = postgres_url(stack, service) else {
        return;
    };
    let names_note = if from.is_empty() {
        "   # adjust: user and database".to_string()
    } else {
        format!("   # user and database from {from}")
    };
    let _ = writeln!(
        out,
        "      postgres: {{ url: {}, table: {} }}{names_note}",
        scalar(&url),
        own(&service.name, '_')
    );
}

fn redis(out: &mut String, name: &str, store: &Datastore, address: &str) {
    let key = scalar(&own(name, ':'));
    match store.password {
        Some(true) => {
            let _ = writeln!(
                out,
                "      # credentials: it asks for a password; keep it out of the file (export REDIS_PASSWORD)"
            );
            let url = format!("redis://:${{REDIS_PASSWORD}}@{address}");
            let _ = writeln!(out, "      redis: {{ url: {}, key: {key} }}", scalar(&url));
        }
        Some(false) | None => {
            let url = format!("redis://{address}");
            let _ = writeln!(
                out,
                "      redis: {{ url: {}, key: {key} }}{}",
                scalar(&url),
                if store.password.is_none() {
                    "   # adjust: redis://:${REDIS_PASSWORD}@... if it wants a password"
                } else {
                    ""
                }
            );
        }
    }
}

/// The header's word on the ledgers: where they write, and the password
/// variables to set first.
pub(super) fn header_lines(out: &mut String, stack: &Stack) {
    let ledgers: Vec<(&str, &Datastore)> = stack
        .services
        .iter()
        .filter(|s| probe_name(s).is_some())
        .filter_map(|s| Some((s.name.as_str(), s.datastore.as_ref()?)))
        .collect();
    if ledgers.is_empty() {
        return;
    }
    let mut variables: Vec<&str> = Vec::new();
    let mut own_names: Vec<&str> = Vec::new();
    for (_, store) in &ledgers {
        let (variable, named) = match (store.kind, store.password) {
            (StoreKind::Postgres, Some(false)) => (None, "table gameday_ledger_SERVICE"),
            (StoreKind::Postgres, Some(true) | None) => {
                (Some("PGPASSWORD"), "table gameday_ledger_SERVICE")
            }
            (StoreKind::Redis, Some(true)) => {
                (Some("REDIS_PASSWORD"), "key gameday:ledger:SERVICE")
            }
            (StoreKind::Redis, Some(false) | None) => (None, "key gameday:ledger:SERVICE"),
            (StoreKind::Mysql, _) => (None, ""),
        };
        for (list, item) in [(&mut variables, variable), (&mut own_names, Some(named))] {
            if let Some(item) = item.filter(|i| !i.is_empty() && !list.contains(i)) {
                list.push(item);
            }
        }
    }
    let names: Vec<&str> = ledgers.iter().map(|(name, _)| *name).collect();
    let _ = writeln!(
        out,
        "# Ledgers write to {} ({}) and, after each scenario,",
        words(&names),
        own_names.join(", ")
    );
    let _ = writeln!(
        out,
        "# read back every write acknowledged.{}",
        if variables.is_empty() {
            String::new()
        } else {
            format!(
                " Export {} first: no password is written here.",
                words(&variables)
            )
        }
    );
}

/// `a, b and c`.
fn words(items: &[&str]) -> String {
    match items.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gameday::units::HumanDuration;
    use crate::init::protocols::Heard;
    use crate::init::write::{WriteOptions, gameday_text};
    use crate::init::{Edge, EdgeSource, Endpoint, KnownBy};

    fn store(kind: StoreKind, known_by: KnownBy, address: &str) -> Datastore {
        Datastore {
            kind,
            product: None,
            pooler: false,
            known_by,
            address: Some(address.into()),
            contacted: true,
            password: None,
            user: None,
            database: None,
        }
    }

    fn answered(heard: Heard, address: &str) -> KnownBy {
        KnownBy::Answer {
            heard,
            address: address.into(),
        }
    }

    fn service(name: &str, endpoint: Option<Endpoint>, datastore: Option<Datastore>) -> Service {
        Service {
            name: name.into(),
            endpoint,
            healthcheck: None,
            datastore,
        }
    }

    fn tcp(address: &str) -> Option<Endpoint> {
        Some(Endpoint::Tcp {
            address: address.into(),
            contacted: true,
        })
    }

    fn edge(from: &str, to: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            source: EdgeSource::DependsOn,
        }
    }

    /// web -> pool -> db, web -> cache: a PostgreSQL known by its image
    /// (its user and database named in its environment), a pooler of a
    /// locally built image known by its answer, a Redis that asked for a
    /// password, an HTTP service.
    pub(crate) fn stack() -> Stack {
        let db = Datastore {
            product: Some("PostgreSQL"),
            user: Some("app".into()),
            database: Some("orders".into()),
            ..store(
                StoreKind::Postgres,
                KnownBy::Image("postgres:16".into()),
                "127.0.0.1:15432",
            )
        };
        let pool = store(
            StoreKind::Postgres,
            answered(Heard::Postgres, "127.0.0.1:16432"),
            "127.0.0.1:16432",
        );
        let cache = Datastore {
            password: Some(true),
            ..store(
                StoreKind::Redis,
                answered(Heard::Redis { password: true }, "127.0.0.1:16379"),
                "127.0.0.1:16379",
            )
        };
        Stack {
            project: "shop".into(),
            compose_files: vec!["docker-compose.yml".into()],
            services: vec![
                service(
                    "web",
                    Some(Endpoint::Http {
                        url: "http://127.0.0.1:8000/health".into(),
                        status: 200,
                    }),
                    None,
                ),
                service("pool", tcp("127.0.0.1:16432"), Some(pool)),
                service("db", tcp("127.0.0.1:15432"), Some(db)),
                service("cache", tcp("127.0.0.1:16379"), Some(cache)),
            ],
            edges: vec![
                edge("web", "pool"),
                edge("pool", "db"),
                edge("web", "cache"),
            ],
            notes: vec![],
            probed_at: crate::init::reach::ProbeHost::local(),
        }
    }

    fn written(stack: &Stack) -> String {
        gameday_text(
            stack,
            &WriteOptions {
                duration: HumanDuration::from_secs(10),
                date: "2026-12-07".into(),
                command: "gameday init --project shop".into(),
                load: None,
            },
        )
    }

    /// The lines of the scenario named `name`, up to the next one.
    fn scenario<'t>(text: &'t str, name: &str) -> &'t str {
        let start = text
            .find(&format!("- name: \"{name}\""))
            .or_else(|| text.find(&format!("- name: {name}\n")))
            .unwrap_or_else(|| panic!("no scenario {name}:\n{text}"));
        let rest = &text[start..];
        &rest[..rest[1..].find("\n  - name:").map_or(rest.len(), |i| i + 1)]
    }

    #[test]
    fn the_datastore_stack_reads_well() {
        insta::assert_snapshot!(written(&stack()));
    }

    #[test]
    fn a_datastore_gets_a_ledger_not_a_tcp_connect() {
        let text = written(&stack());
        for service in ["pool", "db", "cache"] {
            assert!(text.contains(&format!("\n  {service}-ledger:\n")), "{text}");
            assert!(!text.contains(&format!("{service}-port")), "{text}");
        }
        assert!(
            text.contains(r#"postgres: { url: "postgres://app:${PGPASSWORD}@127.0.0.1:15432/orders", table: gameday_ledger_db }   # user and database from its environment"#),
            "{text}"
        );
        // The pooler passes the database's names on.
        assert!(
            text.contains(r#"postgres: { url: "postgres://app:${PGPASSWORD}@127.0.0.1:16432/orders", table: gameday_ledger_pool }   # user and database from db's environment"#),
            "{text}"
        );
        assert!(
            text.contains(r#"redis: { url: "redis://:${REDIS_PASSWORD}@127.0.0.1:16379", key: "gameday:ledger:cache" }"#),
            "{text}"
        );
        assert!(
            text.contains(
                "Export PGPASSWORD and REDIS_PASSWORD first: no password is written here."
            ),
            "{text}"
        );
    }

    #[test]
    fn the_database_paused_behind_its_pooler_is_judged_through_the_pooler_s_ledger() {
        let text = written(&stack());
        let paused = scenario(&text, "db paused, pool must notice and fail fast");
        assert!(
            paused.contains("{ probe: pool-ledger, during: fault, latency_p99: \"< 2s\" }"),
            "{paused}"
        );
        assert!(
            paused.contains("{ probe: pool-ledger, recovers_within: 10s }"),
            "{paused}"
        );
        for ledger in ["db-ledger", "pool-ledger"] {
            assert!(
                paused.contains(&format!("{{ probe: {ledger}, lost: 0 }}")),
                "{paused}"
            );
        }
        // A kill claims the crash item; a Redis's check says what it takes.
        let killed = scenario(&text, "db killed and restored, pool recovers");
        assert!(
            killed.contains("Acknowledged writes survive a crash"),
            "{killed}"
        );
        let cache = scenario(&text, "cache killed and restored, web recovers");
        assert!(
            cache.contains("{ probe: cache-ledger, lost: 0 }   # adjust: a Redis keeps"),
            "{cache}"
        );
        // The pooler paused: its own ledger, not the database's.
        let pool = scenario(&text, "pool paused, web must notice and fail fast");
        assert!(pool.contains("{ probe: pool-ledger, lost: 0 }"), "{pool}");
        assert!(!pool.contains("db-ledger"), "{pool}");
        // A restart of the database too.
        let restarted = scenario(&text, "db restarted");
        assert!(
            restarted.contains("{ probe: db-ledger, recovers_within: 10s }")
                && restarted.contains("{ probe: pool-ledger, lost: 0 }"),
            "{restarted}"
        );
        // Scenarios with nothing but HTTP behind them check no ledger.
        assert!(!scenario(&text, "web restarted").contains("lost:"));
    }

    #[test]
    fn mysql_keeps_a_tcp_probe_and_an_unreached_datastore_says_why_it_has_no_ledger() {
        let mut stack = stack();
        stack.services.push(service(
            "legacy",
            tcp("127.0.0.1:13306"),
            Some(store(
                StoreKind::Mysql,
                answered(Heard::Mysql { mariadb: true }, "127.0.0.1:13306"),
                "127.0.0.1:13306",
            )),
        ));
        stack.services[2].endpoint = None;
        if let Some(db) = stack.services[2].datastore.as_mut() {
            db.address = None;
        }
        let text = written(&stack);
        assert!(
            text.contains(r#"legacy-port: { tcp: { address: "127.0.0.1:13306" } }   # MySQL's protocol (greeted as MariaDB does at 127.0.0.1:13306): the ledger does not speak MySQL yet, so only connections are checked (MySQL counts each one closed before its handshake against max_connect_errors and blocks this host past it: raise it, or probe with `exec: { service: ..., command: [mysqladmin, ping] }`)"#),
            "{text}"
        );
        assert!(
            text.contains("  # db runs PostgreSQL (its image postgres:16), but no port of it is reached from here"),
            "{text}"
        );
        // Only the pooler's ledger sees it now.
        let paused = scenario(&text, "db paused, pool must notice and fail fast");
        assert!(
            paused.contains("{ probe: pool-ledger, lost: 0 }") && !paused.contains("db-ledger"),
            "{paused}"
        );
    }

    /// With the ledger's variables set, the file validates: every ledger a
    /// probe, every check on one of them.
    #[test]
    fn the_written_datastore_gameday_validates() {
        let text = written(&stack());
        let g = crate::gameday::load_bytes("init.yaml", text.as_bytes(), &checking_env)
            .unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
        for ledger in ["pool-ledger", "db-ledger", "cache-ledger"] {
            assert!(g.probes.0.iter().any(|p| p.name == ledger), "{ledger}");
        }
    }
}
