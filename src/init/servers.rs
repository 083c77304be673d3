//! Which datastore a container runs: told by its image's name where the
//! name says it (`postgres:16`, `bitnami/pgbouncer`, `redis`, `mariadb`;
//! registry, path and tag set aside), else by what answers on its published
//! ports ([`super::protocols`]), asked where [`super::reach`] says and only
//! there, at most [`MAX_PORTS`] of them. A known image's port is asked only
//! its own protocol's question (which port, and whether a Redis wants a
//! password); an HTTP server's image (nginx) is not asked at all. The user
//! and database names its environment shows are kept (`POSTGRES_USER`,
//! `POSTGRES_DB`), never a password.

use super::protocols::{self, Heard, Question};
use super::reach::{ProbeHost, Reach};
use super::{Datastore, Endpoint, KnownBy, StoreKind};
use crate::docker::{ContainerDetail, PublishedPort};

/// The most ports of one container asked what they speak.
pub(crate) const MAX_PORTS: usize = 4;

/// What an image's name says of the server it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageSays {
    pub product: &'static str,
    pub role: Role,
    /// The port it listens on unless told otherwise: asked first.
    pub port: u16,
}

/// What a server known by its image is to its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A datastore speaking this protocol.
    Store(StoreKind),
    /// A pooler speaking this protocol for another server of it.
    Pooler(StoreKind),
    /// A proxy: it speaks whatever it forwards, so its ports are asked.
    Proxy,
    /// An HTTP server: left to the HTTP health search.
    Http,
}

use Role::*;
use StoreKind::*;

/// Official and common image names (the last part of the repository).
const IMAGES: &[(&str, &str, Role, u16)] = &[
    ("postgres", "PostgreSQL", Store(Postgres), 5432),
    ("postgresql", "PostgreSQL", Store(Postgres), 5432),
    ("postgis", "PostGIS", Store(Postgres), 5432),
    ("timescaledb", "TimescaleDB", Store(Postgres), 5432),
    ("pgbouncer", "PgBouncer", Pooler(Postgres), 6432),
    ("pgpool", "Pgpool-II", Pooler(Postgres), 5432),
    ("pgpool2", "Pgpool-II", Pooler(Postgres), 5432),
    ("pgpool-ii", "Pgpool-II", Pooler(Postgres), 5432),
    ("odyssey", "Odyssey", Pooler(Postgres), 6432),
    ("pgcat", "PgCat", Pooler(Postgres), 6432),
    ("redis", "Redis", Store(Redis), 6379),
    ("redis-stack", "Redis Stack", Store(Redis), 6379),
    ("redis-stack-server", "Redis Stack", Store(Redis), 6379),
    ("valkey", "Valkey", Store(Redis), 6379),
    ("keydb", "KeyDB", Store(Redis), 6379),
    ("dragonfly", "Dragonfly", Store(Redis), 6379),
    ("mysql", "MySQL", Store(Mysql), 3306),
    ("mysql-server", "MySQL", Store(Mysql), 3306),
    ("mariadb", "MariaDB", Store(Mysql), 3306),
    ("percona-server", "Percona Server", Store(Mysql), 3306),
    ("proxysql", "ProxySQL", Pooler(Mysql), 6033),
    ("haproxy", "HAProxy", Proxy, 80),
    ("envoy", "Envoy", Proxy, 10000),
    ("traefik", "Traefik", Proxy, 80),
    ("nginx", "nginx", Http, 80),
    ("httpd", "Apache httpd", Http, 80),
    ("caddy", "Caddy", Http, 80),
];

/// The variables naming the user, then the database, a PostgreSQL image
/// or a pooler's is told (names, not secrets).
const USER_VARIABLES: &[&str] = &["POSTGRES_USER", "POSTGRESQL_USERNAME", "PGUSER", "DB_USER"];
const DATABASE_VARIABLES: &[&str] = &[
    "POSTGRES_DB",
    "POSTGRESQL_DATABASE",
    "PGDATABASE",
    "DB_NAME",
];

/// An image reference's name: `registry:5000/team/postgres:16@sha256:..`
/// is `postgres`.
fn image_name(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split(':').next().unwrap_or(last).to_ascii_lowercase()
}

/// What the image's name says, if init knows it.
pub(crate) fn image_says(image: &str) -> Option<ImageSays> {
    let name = image_name(image);
    IMAGES
        .iter()
        .find(|(known, ..)| *known == name)
        .map(|(_, product, role, port)| ImageSays {
            product,
            role: *role,
            port: *port,
        })
}

impl StoreKind {
    /// The question that makes its protocol answer.
    fn question(self) -> Question {
        match self {
            StoreKind::Postgres => Question::SslRequest,
            StoreKind::Redis => Question::Ping,
            StoreKind::Mysql => Question::Greeting,
        }
    }

    fn of(heard: &Heard) -> Option<StoreKind> {
        match heard {
            Heard::Postgres => Some(StoreKind::Postgres),
            Heard::Redis { .. } => Some(StoreKind::Redis),
            Heard::Mysql { .. } => Some(StoreKind::Mysql),
            Heard::Http => None,
        }
    }
}

/// The datastore `detail` runs, if init can tell: by its image's name, or
/// by a published port's answer (the port `endpoint` found answering HTTP
/// is not asked again).
pub(crate) async fn recognize(
    detail: &ContainerDetail,
    probe_host: &ProbeHost,
    endpoint: Option<&Endpoint>,
) -> Option<Datastore> {
    let says = image_says(&detail.image);
    let hint = match says.map(|s| s.role) {
        Some(Http) => return None,
        Some(Store(kind) | Pooler(kind)) => Some(kind),
        Some(Proxy) | None => None,
    };
    let http = match endpoint {
        Some(Endpoint::Http { url, .. }) => url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next()),
        Some(Endpoint::Tcp { .. } | Endpoint::Unreachable { .. }) | None => None,
    };
    let ports = ports_to_ask(&detail.published, says.map(|s| s.port), probe_host, http);
    let questions = match hint {
        Some(kind) => vec![kind.question()],
        None => Question::UNKNOWN_PORT.to_vec(),
    };
    let mut store = None;
    for reach in &ports {
        let Reach::Ask(address) = reach else { continue };
        let Some(heard) = protocols::identify(address, &questions).await else {
            continue;
        };
        match StoreKind::of(&heard) {
            Some(kind) if hint.is_none_or(|k| k == kind) => {
                store = Some(answered(kind, heard, address));
                break;
            }
            Some(_) | None => {}
        }
    }
    let mut store = match (store, hint) {
        (Some(store), _) => store,
        // Known by its image alone: the port it would listen on, else its first.
        (None, Some(kind)) => unanswered(kind, &ports, &detail.image),
        (None, None) => return None,
    };
    if let Some(says) = says {
        store.product = Some(says.product);
        store.pooler = matches!(says.role, Pooler(_) | Proxy);
        if hint.is_some() {
            store.known_by = KnownBy::Image(detail.image.clone());
        }
    }
    if store.kind == StoreKind::Postgres {
        store.user = named(&detail.env, USER_VARIABLES);
        store.database = named(&detail.env, DATABASE_VARIABLES);
        if named(&detail.env, &["POSTGRES_HOST_AUTH_METHOD"]).as_deref() == Some("trust") {
            store.password = Some(false);
        }
    }
    Some(store)
}

/// How each published TCP port is reached, its usual port first, the
/// HTTP one left out, at most [`MAX_PORTS`].
fn ports_to_ask(
    published: &[PublishedPort],
    usual: Option<u16>,
    probe_host: &ProbeHost,
    http: Option<&str>,
) -> Vec<Reach> {
    let mut tcp: Vec<&PublishedPort> = published.iter().filter(|p| p.protocol == "tcp").collect();
    tcp.sort_by_key(|p| Some(p.container_port) != usual);
    tcp.into_iter()
        .map(|p| probe_host.reach(p))
        .filter(|r| !matches!((r, http), (Reach::Ask(a), Some(h)) if a == h))
        .take(MAX_PORTS)
        .collect()
}

fn answered(kind: StoreKind, heard: Heard, address: &str) -> Datastore {
    let password = match heard {
        Heard::Redis { password } => Some(password),
        Heard::Postgres | Heard::Mysql { .. } | Heard::Http => None,
    };
    Datastore {
        kind,
        product: None,
        pooler: false,
        known_by: KnownBy::Answer {
            heard,
            address: address.to_string(),
        },
        address: Some(address.to_string()),
        contacted: true,
        password,
        user: None,
        database: None,
    }
}

/// A datastore `image` names whose ports did not answer its protocol: at
/// the first port reached (written, not contacted, if it is beyond
/// loopback).
fn unanswered(kind: StoreKind, ports: &[Reach], image: &str) -> Datastore {
    let reached = ports.iter().find_map(|r| match r {
        Reach::Ask(address) => Some((address.clone(), true)),
        Reach::Written(address) => Some((address.clone(), false)),
        Reach::Unreachable => None,
    });
    Datastore {
        kind,
        product: None,
        pooler: false,
        known_by: KnownBy::Image(image.to_string()),
        contacted: reached.as_ref().is_some_and(|(_, asked)| *asked),
        address: reached.map(|(address, _)| address),
        password: None,
        user: None,
        database: None,
    }
}

/// The value of the first of `variables` set in `env`, if it is a plain
/// name (letters, digits, `_`, `.`, `-`): never anything else.
fn named(env: &[String], variables: &[&str]) -> Option<String> {
    variables.iter().find_map(|variable| {
        let value = env.iter().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            (name == *variable).then_some(value)
        })?;
        let plain = !value.is_empty()
            && value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        plain.then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_known_by_its_name_whatever_its_registry_path_and_tag() {
        for (image, product, role) in [
            ("postgres", "PostgreSQL", Store(Postgres)),
            ("postgres:16-alpine", "PostgreSQL", Store(Postgres)),
            (
                "docker.io/library/postgres:16@sha256:0123abcd",
                "PostgreSQL",
                Store(Postgres),
            ),
            ("bitnami/postgresql:16", "PostgreSQL", Store(Postgres)),
            (
                "registry.local:5000/team/pgbouncer:1.22",
                "PgBouncer",
                Pooler(Postgres),
            ),
            ("edoburu/pgbouncer", "PgBouncer", Pooler(Postgres)),
            ("redis:7", "Redis", Store(Redis)),
            ("valkey/valkey:8", "Valkey", Store(Redis)),
            ("mariadb:11", "MariaDB", Store(Mysql)),
            ("mysql:8.0", "MySQL", Store(Mysql)),
            ("haproxy:2.9", "HAProxy", Proxy),
            ("nginx:alpine", "nginx", Http),
        ] {
            let says = image_says(image).unwrap_or_else(|| panic!("{image}"));
            assert_eq!((says.product, says.role), (product, role), "{image}");
        }
        // A name that says nothing, or only contains a known one.
        for image in [
            "gameday-datastores:latest",
            "shop/postgres-backup:1",
            "myredis",
        ] {
            assert_eq!(image_says(image), None, "{image}");
        }
    }

    #[test]
    fn only_names_are_read_from_the_environment() {
        let env: Vec<String> = [
            "POSTGRES_PASSWORD=s3cret",
            "POSTGRES_USER=app",
            "PGDATABASE=orders",
            "DB_NAME=x y",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(named(&env, USER_VARIABLES).as_deref(), Some("app"));
        assert_eq!(named(&env, DATABASE_VARIABLES).as_deref(), Some("orders"));
        assert_eq!(named(&env, &["DB_NAME"]), None, "not a plain name");
        assert_eq!(named(&env, &["NOPE"]), None);
    }

    fn port(container_port: u16, host_port: u16) -> PublishedPort {
        PublishedPort {
            host_ip: "127.0.0.1".into(),
            host_port,
            container_port,
            protocol: "tcp".into(),
        }
    }

    #[test]
    fn the_usual_port_is_asked_first_the_http_one_never_and_only_a_few() {
        let published: Vec<PublishedPort> = (0..6)
            .map(|i| port(9000 + i, 19000 + i))
            .chain([port(5432, 15432)])
            .collect();
        let here = ProbeHost::local();
        let asked = ports_to_ask(&published, Some(5432), &here, Some("127.0.0.1:19000"));
        assert_eq!(asked.len(), MAX_PORTS);
        assert_eq!(asked[0], Reach::Ask("127.0.0.1:15432".into()));
        assert!(!asked.contains(&Reach::Ask("127.0.0.1:19000".into())));
    }
}
