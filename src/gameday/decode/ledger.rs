//! The `ledger` probe: which store it writes to (`postgres`, `redis` or
//! `http`, exactly one), that store's address and the name of what the
//! ledger owns there (a table, a key prefix, an API's `{{id}}`), and
//! `keep`. URLs take `${VAR}` (a password stays out of the file); a bad
//! URL is said without its secrets.

use super::probes::LOAD_HTTP_KEYS;
use super::*;

pub(crate) const LEDGER_KEYS: &[&str] = &["postgres", "redis", "http", "keep"];
const POSTGRES_KEYS: &[&str] = &["url", "table"];
const REDIS_KEYS: &[&str] = &["url", "key"];
const HTTP_LEDGER_KEYS: &[&str] = &["write", "read"];

/// Where a ledger's record id goes in an http ledger's requests.
pub(crate) const ID_PLACEHOLDER: &str = "{{id}}";

const EXAMPLE: &str = "write `ledger: { postgres: { url: \"postgres://app:${PGPASSWORD}@127.0.0.1:5432/app\", table: gameday_ledger } }`, or `redis: { url: \"redis://127.0.0.1:6379\", key: \"gameday:ledger\" }`, or `http: { write: {...}, read: {...} }`";

impl Decoder<'_> {
    pub(super) fn ledger_probe(&mut self, node: &Node, what: &str) -> Option<LedgerProbe> {
        let what = format!("the ledger of {what}");
        let obj = self.obj(node, &what, LEDGER_KEYS)?;
        let stores = obj.present(LedgerStoreKind::KEYS);
        let store = match stores.as_slice() {
            [] => {
                if !obj.had_unknown_key {
                    self.error_hint(obj.pos, format!("{what} names no store"), EXAMPLE);
                }
                None
            }
            [one] => {
                let body = obj.get(&one.name)?;
                match LedgerStoreKind::from_key(&one.name)? {
                    LedgerStoreKind::Postgres => {
                        self.postgres_ledger(body, &what).map(LedgerStore::Postgres)
                    }
                    LedgerStoreKind::Redis => {
                        self.redis_ledger(body, &what).map(LedgerStore::Redis)
                    }
                    LedgerStoreKind::Http => self.http_ledger(body, &what).map(LedgerStore::Http),
                }
            }
            [first, second, ..] => {
                self.error_hint(
                    second.pos,
                    format!(
                        "{what} names two stores, `{}` and `{}`",
                        first.name, second.name
                    ),
                    "a ledger writes to one store; define a second ledger probe for the other",
                );
                None
            }
        };
        let keep = match obj.get("keep") {
            None => Some(false),
            Some(n) => self.boolean(n, "`keep`"),
        };
        Some(LedgerProbe {
            store: store?,
            keep: keep?,
        })
    }

    fn postgres_ledger(&mut self, node: &Node, what: &str) -> Option<PostgresLedger> {
        let what = format!("the postgres store of {what}");
        let obj = self.obj(node, &what, POSTGRES_KEYS)?;
        let url = self
            .require(
                &obj,
                "url",
                &what,
                "\"postgres://app:${PGPASSWORD}@127.0.0.1:5432/app\"",
            )
            .and_then(|n| self.store_url(n, &["postgres", "postgresql"]));
        let url = url.and_then(|(url, pos)| {
            let parsed = url.parse::<tokio_postgres::Config>().map(|_| ());
            self.store_url_parsed(
                url,
                pos,
                parsed,
                "PostgreSQL",
                "postgres://user:${PGPASSWORD}@host:port/database",
            )
        });
        let table = self
            .require(&obj, "table", &what, "gameday_ledger")
            .and_then(|n| self.table_name(n));
        Some(PostgresLedger {
            url: url?,
            table: table?,
        })
    }

    /// `name` or `schema.name`: plain identifiers, so the name is never
    /// more than a name in the SQL the ledger sends.
    fn table_name(&mut self, node: &Node) -> Option<String> {
        let name = self.name(node, "the table")?;
        let ident = |part: &str| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && part.len() <= 63
        };
        let parts: Vec<&str> = name.split('.').collect();
        // The system's schemas, and a per-connection one (each write has
        // a connection of its own).
        let system =
            parts.len() == 2 && (parts[0].starts_with("pg_") || parts[0] == "information_schema");
        if parts.len() > 2 || !parts.iter().all(|p| ident(p)) || system {
            self.error_hint(
                node.pos,
                format!("`{name}` is not a table name the ledger can own"),
                "write a plain name such as `gameday_ledger` or `schema.gameday_ledger` (letters, digits, `_`; not in a system schema)",
            );
            return None;
        }
        Some(name)
    }

    fn redis_ledger(&mut self, node: &Node, what: &str) -> Option<RedisLedger> {
        let what = format!("the redis store of {what}");
        let obj = self.obj(node, &what, REDIS_KEYS)?;
        let url = self
            .require(&obj, "url", &what, "\"redis://127.0.0.1:6379\"")
            .and_then(|n| self.store_url(n, &["redis"]));
        let url = url.and_then(|(url, pos)| {
            let parsed = redis::Client::open(url.as_str()).map(|_| ());
            self.store_url_parsed(
                url,
                pos,
                parsed,
                "Redis",
                "redis://:${REDIS_PASSWORD}@host:port/0",
            )
        });
        let key = self
            .require(&obj, "key", &what, "\"gameday:ledger\"")
            .and_then(|n| {
                let key = self.name(n, "the key")?;
                if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
                    self.error_hint(
                        n.pos,
                        format!("`{key}` is not a key the ledger can own"),
                        "write a key without spaces, e.g. `gameday:ledger` (the ledger writes `<key>:<run id>`)",
                    );
                    return None;
                }
                Some(key)
            });
        Some(RedisLedger {
            url: url?,
            key: key?,
        })
    }

    /// `url` if its store's client read it (`parsed`), else a located
    /// error saying why, without the URL's secrets.
    fn store_url_parsed<E: std::fmt::Display>(
        &mut self,
        url: String,
        pos: Pos,
        parsed: Result<(), E>,
        store: &str,
        example: &str,
    ) -> Option<String> {
        match parsed {
            Ok(()) => Some(url),
            Err(e) => {
                self.error_hint(
                    pos,
                    format!(
                        "`{}` is not a {store} URL: {}",
                        crate::redact::url(&url),
                        crate::redact::text(&e.to_string())
                    ),
                    format!("write `{example}`"),
                );
                None
            }
        }
    }

    /// A store's URL, with one of `schemes`; and where it is written.
    fn store_url(&mut self, node: &Node, schemes: &[&str]) -> Option<(String, Pos)> {
        let url = self.name(node, "the URL")?;
        let scheme = url.split_once("://").map(|(s, _)| s);
        if !scheme.is_some_and(|s| schemes.contains(&s)) {
            let wanted: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
            self.error_hint(
                node.pos,
                format!(
                    "`{}` is not a {} URL",
                    crate::redact::url(&url),
                    wanted.join(" or ")
                ),
                format!(
                    "write a URL starting with `{}` (TLS is not spoken by the ledger yet)",
                    wanted[0]
                ),
            );
            return None;
        }
        Some((url, node.pos))
    }

    fn http_ledger(&mut self, node: &Node, what: &str) -> Option<HttpLedger> {
        let what = format!("the http store of {what}");
        let obj = self.obj(node, &what, HTTP_LEDGER_KEYS)?;
        let write = self
            .require(
                &obj,
                "write",
                &what,
                "{ url: http://127.0.0.1:8080/orders, body: '{\"id\": \"{{id}}\"}' }",
            )
            .and_then(|n| self.ledger_request(n, "`write`", "POST"));
        let read = self
            .require(
                &obj,
                "read",
                &what,
                "{ url: \"http://127.0.0.1:8080/orders/{{id}}\" }",
            )
            .and_then(|n| self.ledger_request(n, "`read`", "GET"));
        let (write, read) = (write?, read?);
        let says_id = |r: &LoadRequest| {
            r.url.contains(ID_PLACEHOLDER)
                || r.body
                    .as_deref()
                    .is_some_and(|b| b.contains(ID_PLACEHOLDER))
        };
        for (request, key) in [(&write, "write"), (&read, "read")] {
            if !says_id(request) {
                let pos = obj.get(key).map_or(obj.pos, |n| n.pos);
                self.error_hint(
                    pos,
                    format!("`{key}` of {what} does not name the record: no `{{{{id}}}}` in its URL or body"),
                    "write `{{id}}` where the record's id goes, e.g. `url: \"http://127.0.0.1:8080/orders/{{id}}\"`",
                );
                return None;
            }
        }
        Some(HttpLedger { write, read })
    }

    /// An http ledger's request: an http probe's keys but `body_contains`
    /// and `version`; the method `method` unless said, a read ok on 200.
    fn ledger_request(&mut self, node: &Node, what: &str, method: &str) -> Option<LoadRequest> {
        let given_method =
            matches!(&node.value, Value::Map(e) if e.iter().any(|(k, _)| k.name == "method"));
        let given_status = matches!(&node.value, Value::Map(e) if e.iter().any(|(k, _)| k.name == "expect_status"));
        let http = self.http_probe(node, what, LOAD_HTTP_KEYS)?;
        Some(LoadRequest {
            url: http.url,
            method: if given_method {
                http.method
            } else {
                method.to_string()
            },
            headers: http.headers,
            body: http.body,
            expect_status: if given_status || method != "GET" {
                http.expect_status
            } else {
                crate::gameday::units::StatusSpec::Code(200)
            },
        })
    }
}
