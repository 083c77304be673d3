//! `gameday init`: a first gameday written from a running compose stack,
//! and the library of ready gamedays (`gamedays/library/`).
//!
//! [`discover`] reads the stack (containers, their published ports asked
//! where [`reach`] says, the compose file's `depends_on`, and, without
//! any, who names or talks to whom) into a [`Stack`], with the datastores
//! [`servers`] recognizes by image name or, where the image says nothing,
//! by how a port answers [`protocols`]' few bounded questions; [`write`]
//! turns a `Stack` into commented YAML (pure), with [`load`]'s load probe
//! on the main HTTP endpoint, [`lifecycle`]'s restart of each service and
//! redeploy of each one Docker health-checks, and [`ledger`]'s ledger
//! probes on the datastores (`lost: 0` checked wherever a fault reaches
//! one); [`library`] lists the ready gamedays and fits one to a stack.
//! What is read from a container is kept free of its secrets: a
//! HEALTHCHECK is written with `${NAME}` or `***` in their place
//! ([`crate::redact::argv`]), an environment is only ever named (a
//! datastore's user and database names aside), and a ledger's password is
//! `${PGPASSWORD}` or `${REDIS_PASSWORD}`. Every scenario written carries
//! the readiness-checklist items it proves ([`checklist`]), so the reports
//! end with the checklist.

pub(crate) mod dependency;
pub(crate) mod discover;
pub(crate) mod ledger;
pub(crate) mod library;
pub(crate) mod lifecycle;
pub(crate) mod load;
pub(crate) mod protocols;
pub(crate) mod reach;
pub(crate) mod servers;
pub(crate) mod write;

use crate::gameday::units::HumanDuration;

/// The production-readiness checklist items the written gamedays and the
/// library prove, in the words the reports show.
pub(crate) mod checklist {
    pub(crate) const HEALTH_TESTS_DEPENDENCIES: &str = "Health checks test dependencies";
    pub(crate) const FAILS_FAST: &str = "Fails fast when a dependency hangs";
    pub(crate) const RECOVERS_WHEN_DEPENDENCY_RETURNS: &str =
        "Recovers on its own when a dependency comes back";
    pub(crate) const LATENCY_BOUNDED: &str = "Timeouts bound latency when a dependency is slow";
    pub(crate) const NOT_HEALTHY_WITHOUT_DEPENDENCY: &str =
        "Does not report healthy without its dependencies";
    pub(crate) const SURVIVES_PARTITION: &str =
        "Degrades gracefully when cut off from a dependency";
    pub(crate) const RESTARTS_CLEANLY: &str = "Comes back on its own after a restart";
    pub(crate) const ALERTS_FIRE: &str = "Alerts fire when a dependency is down";
    pub(crate) const DEPLOYS_AND_ROLLBACKS_TESTED: &str = "Deploys and rollbacks tested";
    pub(crate) const CAPACITY_KNOWN: &str = "Maximum capacity known";
    pub(crate) const WRITES_SURVIVE_CRASH: &str = "Acknowledged writes survive a crash";

    /// Every item, so the library can be held to the same words.
    pub(crate) const ALL: &[&str] = &[
        HEALTH_TESTS_DEPENDENCIES,
        FAILS_FAST,
        RECOVERS_WHEN_DEPENDENCY_RETURNS,
        LATENCY_BOUNDED,
        NOT_HEALTHY_WITHOUT_DEPENDENCY,
        SURVIVES_PARTITION,
        RESTARTS_CLEANLY,
        ALERTS_FIRE,
        DEPLOYS_AND_ROLLBACKS_TESTED,
        CAPACITY_KNOWN,
        WRITES_SURVIVE_CRASH,
    ];
}

/// A compose stack as `init` found it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stack {
    pub project: String,
    /// The compose files read for `depends_on`, as found or given.
    pub compose_files: Vec<String>,
    pub services: Vec<Service>,
    /// Who depends on whom, declared or guessed.
    pub edges: Vec<Edge>,
    /// What init could not do or chose not to, said in the file's header.
    pub notes: Vec<String>,
    /// Where the published ports were asked, and why there.
    pub probed_at: reach::ProbeHost,
}

/// One service of the stack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Service {
    pub name: String,
    /// How a client reaches it from this host, if it publishes a port.
    pub endpoint: Option<Endpoint>,
    /// Its HEALTHCHECK, run by an `exec` probe when it can be.
    pub healthcheck: Option<Healthcheck>,
    /// The datastore it runs, when its image names one or a port answered
    /// as one ([`servers`]).
    pub datastore: Option<Datastore>,
}

/// A datastore (or a pooler speaking for one) as init recognized it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Datastore {
    pub kind: StoreKind,
    /// What its image names it (`PostgreSQL`, `PgBouncer`), if it does.
    pub product: Option<&'static str>,
    /// Its image names a pooler or a proxy: it speaks for another server.
    pub pooler: bool,
    pub known_by: KnownBy,
    /// Where a client reaches it from here (`host:port`), if anywhere.
    pub address: Option<String>,
    /// Did init ask it there (else it is published beyond loopback)?
    pub contacted: bool,
    /// Does it want a password? `None`: nothing said.
    pub password: Option<bool>,
    /// The user and database its environment names (`POSTGRES_USER`,
    /// `POSTGRES_DB`): names only, never a password.
    pub user: Option<String>,
    pub database: Option<String>,
}

/// The protocols of the datastores init recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    Postgres,
    Redis,
    Mysql,
}

impl StoreKind {
    /// Its protocol, as the written file names it.
    pub(crate) fn protocol(self) -> &'static str {
        match self {
            StoreKind::Postgres => "PostgreSQL",
            StoreKind::Redis => "Redis",
            StoreKind::Mysql => "MySQL",
        }
    }
}

/// How init knows what a service runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KnownBy {
    /// Its image's name, as the container was created from it.
    Image(String),
    /// How one of its ports answered, and where.
    Answer {
        heard: protocols::Heard,
        address: String,
    },
}

impl KnownBy {
    pub(crate) fn describe(&self) -> String {
        match self {
            KnownBy::Image(image) => format!("its image {image}"),
            KnownBy::Answer { heard, address } => format!("{} at {address}", heard.describe()),
        }
    }
}

/// A service's HEALTHCHECK as init keeps it: its secrets already out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Healthcheck {
    /// The argv, each secret replaced by `${NAME}` (the container's variable
    /// holding it) or `***`.
    pub argv: Vec<String>,
    /// The variables named in place of their values.
    pub variables: Vec<String>,
    /// Secrets no variable holds, written as `***`.
    pub hidden: usize,
    /// Does the argv as written do what the HEALTHCHECK does? Only without
    /// secrets, or in a shell line whose shell expands each `${NAME}` from
    /// the container's own environment; otherwise it is written as a
    /// comment, never run.
    pub runs: bool,
    /// How often Docker runs it (its `interval`, Docker's 30s when none is
    /// set). Docker first runs it one interval after a container starts,
    /// so a new container is not healthy sooner.
    pub interval: HumanDuration,
}

impl Healthcheck {
    /// A HEALTHCHECK's argv read from a container with environment `env`,
    /// run every `interval`.
    pub(crate) fn read(argv: &[String], env: &[String], interval: HumanDuration) -> Healthcheck {
        let r = crate::redact::argv(argv, env);
        Healthcheck {
            argv: r.argv,
            variables: r.variables,
            hidden: r.hidden,
            runs: r.runs_as_before,
            interval,
        }
    }

    /// Does it carry secrets (now out of it)?
    pub(crate) fn had_secrets(&self) -> bool {
        !self.variables.is_empty() || self.hidden > 0
    }

    /// What replaced its secrets, in words: `${DB_PASSWORD} and *** (1
    /// secret no variable holds)`.
    pub(crate) fn replaced(&self) -> String {
        let mut parts: Vec<String> = self.variables.iter().map(|v| format!("${{{v}}}")).collect();
        if self.hidden > 0 {
            parts.push(format!(
                "*** ({} secret{} no variable holds)",
                self.hidden,
                if self.hidden == 1 { "" } else { "s" }
            ));
        }
        match parts.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// A published port and what answered on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Endpoint {
    /// An HTTP server: the URL probed and the status it answered.
    Http { url: String, status: u16 },
    /// Something that accepts TCP connections but does not speak HTTP (or
    /// was not contacted: published on one address other than loopback).
    Tcp { address: String, contacted: bool },
    /// Published on the loopback address of a remote engine's host: no
    /// client here can reach it, so nothing asks it.
    Unreachable { port: u16, bound: String },
}

/// `from` needs `to`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Edge {
    pub from: String,
    pub to: String,
    pub source: EdgeSource,
}

/// How an edge was found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EdgeSource {
    /// `depends_on` in the compose file.
    DependsOn,
    /// Guessed: the dependent's command or environment names the other
    /// (the words say where, never the value).
    Named(String),
    /// Guessed: a connection from the dependent to the other was seen.
    Connected,
}

impl EdgeSource {
    pub(crate) fn describe(&self) -> String {
        match self {
            EdgeSource::DependsOn => "depends_on".to_string(),
            EdgeSource::Named(where_) => format!("guessed: {where_}"),
            EdgeSource::Connected => "guessed: a connection was seen".to_string(),
        }
    }
}

impl Stack {
    pub(crate) fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}
