//! The application-level faults' decoders (`http_fault`, `dns`), picked
//! by [`Decoder::fault`](super::faults): which requests or lookups, how
//! many, and what they get.

use super::*;
use crate::gameday::units::Percent;

const HTTP_MATCH_KEYS: &[&str] = &["method", "path", "header"];
/// What an `http_fault` does to a request: exactly one of these.
const HTTP_ACTIONS: &[&str] = &["status", "abort", "delay"];

impl Decoder<'_> {
    /// `http_fault`: the port, whose requests, which, how many, and what they get.
    pub(super) fn http_fault(
        &mut self,
        target: Target,
        obj: &Obj<'_>,
        what: &str,
    ) -> Option<Fault> {
        let port = self
            .require(obj, "port", what, "8080")
            .and_then(|n| self.port(n, "`port`"));
        let client = match obj.get("side") {
            None => Some(false),
            Some(side) => match self.name(side, "`side`").as_deref() {
                Some("server") => Some(false),
                Some("client") => Some(true),
                Some(other) => {
                    self.error_hint(
                        side.pos,
                        format!("unknown side `{other}`"),
                        "use `server` (the requests arriving at the container's `port`) or `client` (the requests it makes to `port` of the `to` services)",
                    );
                    None
                }
                None => None,
            },
        };
        let to = self.peers_opt(obj, "to");
        match (client, obj.key("to")) {
            (Some(true), None) => {
                self.error_hint(
                    obj.get("side").map(|n| n.pos).unwrap_or(obj.pos),
                    "`side: client` says whose requests, but not to whom",
                    "add `to: [pricing]`: the services whose answers the container gets wrong",
                );
                return None;
            }
            (Some(false), Some(key)) => {
                self.error_hint(
                    key.pos,
                    "`to` goes with `side: client`",
                    "add `side: client` (the requests the container makes to these services), or remove `to`",
                );
                return None;
            }
            _ => {}
        }
        client?;
        let matcher = obj
            .get("match")
            .map(|n| self.http_match(n))
            .unwrap_or(Some(HttpMatch::default()));
        let percent = obj
            .get("percent")
            .map(|n| self.positive_percent(n, "`percent`"))
            .unwrap_or(Some(Percent(100.0)));
        let action = self.http_action(obj, what);
        let shared = self.shared_namespace(obj);
        let mut fault = HttpFault::new(target, port?, to?, matcher?, percent?, action?);
        fault.shared = shared?;
        Some(Fault::HttpFault(fault))
    }

    /// `dns`: which names, and one of `error` and `delay`.
    pub(super) fn dns(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let names = match obj.get("names") {
            None => Some(Vec::new()),
            Some(n) => self.dns_names(n),
        };
        let error = obj.get("error").map(|n| {
            match self.name(n, "`error`").as_deref() {
                Some("nxdomain") => Some(DnsError::Nxdomain),
                Some("servfail") => Some(DnsError::Servfail),
                Some("timeout") => Some(DnsError::Timeout),
                Some(other) => {
                    self.error_hint(
                        n.pos,
                        format!("unknown DNS error `{other}`"),
                        "use `nxdomain` (no such name), `servfail` (the server failed) or `timeout` (no answer)",
                    );
                    None
                }
                None => None,
            }
        });
        let delay = obj.get("delay").map(|n| self.duration(n, "`delay`"));
        match (obj.key("error"), obj.key("delay")) {
            (None, None) => {
                self.error_hint(
                    obj.pos,
                    format!("{what} says nothing about what the lookups get"),
                    "add `error: nxdomain` (or `servfail`, `timeout`) or `delay: 2s`",
                );
                return None;
            }
            (Some(_), Some(second)) => {
                self.error_hint(
                    second.pos,
                    format!("{what} takes one of `error` and `delay`, not both"),
                    "a lookup fails or comes late: keep one (write two scenarios for both)",
                );
                return None;
            }
            _ => {}
        }
        let percent = obj
            .get("percent")
            .map(|n| self.positive_percent(n, "`percent`"))
            .unwrap_or(Some(Percent(100.0)));
        let shared = self.shared_namespace(obj);
        Some(Fault::Dns(DnsFault {
            target,
            shared: shared?,
            names: names?,
            error: optional(error)?,
            delay: optional(delay)?,
            percent: percent?,
        }))
    }

    /// A TCP port, 1 to 65535.
    fn port(&mut self, node: &Node, what: &str) -> Option<u16> {
        match &node.value {
            Value::Int(i) if (1..=65535).contains(i) => Some(*i as u16),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} must be a port from 1 to 65535, found {i}"),
                    "the container port the service listens on, e.g. `8080`",
                );
                None
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!(
                        "expected {what} as a port from 1 to 65535, found {}",
                        other.kind()
                    ),
                    "the container port the service listens on, e.g. `8080`",
                );
                None
            }
        }
    }

    /// `names: [store, "*.internal"]`: DNS names, `*` for any run.
    fn dns_names(&mut self, node: &Node) -> Option<Vec<String>> {
        let hint = "write the names as a list, e.g. `names: [store, \"*.internal\"]`";
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!("expected `names` as a list, found {}", node.value.kind()),
                hint,
            );
            return None;
        };
        let names: Vec<Option<String>> = items
            .iter()
            .map(|n| {
                let name = self.name(n, "a name")?;
                let plain = name.trim_end_matches('.').to_ascii_lowercase();
                if !plain.is_empty()
                    && plain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._*".contains(c))
                {
                    Some(plain)
                } else {
                    self.error_hint(
                        n.pos,
                        format!("`{name}` is not a DNS name"),
                        "names are letters, digits, `-` and `.`, with `*` for any run: `store`, `db.internal`, `*.internal`",
                    );
                    None
                }
            })
            .collect();
        names.into_iter().collect()
    }

    /// `match: { method, path, header: { name: value } }`.
    fn http_match(&mut self, node: &Node) -> Option<HttpMatch> {
        let obj = self.obj(node, "`match`", HTTP_MATCH_KEYS)?;
        let method = obj.get("method").map(|n| {
            let m = self.name(n, "`method`")?;
            if m.chars().all(|c| c.is_ascii_alphabetic()) {
                Some(m.to_ascii_uppercase())
            } else {
                self.error_hint(
                    n.pos,
                    format!("`{m}` is not an HTTP method"),
                    "write e.g. `GET`, `POST`, `DELETE`",
                );
                None
            }
        });
        let path = obj.get("path").map(|n| {
            let p = self.name(n, "`path`")?;
            if p.starts_with('/') || p.starts_with('*') {
                Some(p)
            } else {
                self.error_hint(
                    n.pos,
                    format!("the path `{p}` does not start with `/`"),
                    "paths look like `/charge`, or `/charge*` for every path under it",
                );
                None
            }
        });
        let header = match obj.get("header") {
            None => Some(Vec::new()),
            Some(n) => match &n.value {
                Value::Map(entries) => {
                    let mut pairs = Vec::new();
                    let mut ok = true;
                    for (key, value) in entries {
                        match self.name(value, "a header value") {
                            Some(v) => pairs.push((key.name.to_ascii_lowercase(), v)),
                            None => ok = false,
                        }
                    }
                    ok.then_some(pairs)
                }
                other => {
                    self.error_hint(
                        n.pos,
                        format!("expected `header` as a mapping, found {}", other.kind()),
                        "write e.g. `header: { x-tenant: beta }`",
                    );
                    None
                }
            },
        };
        Some(HttpMatch {
            method: optional(method)?,
            path: optional(path)?,
            header: header?,
        })
    }

    /// What an `http_fault` does: one of `status` (with `body`), `abort`,
    /// `delay`.
    fn http_action(&mut self, obj: &Obj<'_>, what: &str) -> Option<HttpAction> {
        let given: Vec<&str> = HTTP_ACTIONS
            .iter()
            .copied()
            .filter(|k| obj.get(k).is_some())
            .collect();
        match given.as_slice() {
            [] => {
                self.error_hint(
                    obj.pos,
                    format!("{what} says nothing about what the requests get"),
                    "add one of `status: 503`, `abort: reset` (or `close`) and `delay: 800ms`",
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                let pos = obj.key(second).map(|k| k.pos).unwrap_or(obj.pos);
                self.error_hint(
                    pos,
                    format!("{what} takes one of `status`, `abort` and `delay`, found `{first}` and `{second}`"),
                    "a request is answered, aborted or delayed: keep one (write two scenarios for both)",
                );
                return None;
            }
        }
        if given[0] != "status"
            && let Some(body) = obj.key("body")
        {
            self.error_hint(
                body.pos,
                format!("`body` goes with `status`, not with `{}`", given[0]),
                "remove `body`, or answer with `status: 503` and this body",
            );
            return None;
        }
        let node = obj.get(given[0])?;
        match given[0] {
            "status" => {
                let code = match &node.value {
                    Value::Int(i) if (200..=599).contains(i) => *i as u16,
                    Value::Int(i) => {
                        self.error_hint(
                            node.pos,
                            format!("`status` must be an HTTP status from 200 to 599, found {i}"),
                            "write e.g. `status: 503`",
                        );
                        return None;
                    }
                    other => {
                        self.error_hint(
                            node.pos,
                            format!(
                                "expected `status` as an HTTP status from 200 to 599, found {}",
                                other.kind()
                            ),
                            "write e.g. `status: 503`",
                        );
                        return None;
                    }
                };
                let body = match obj.get("body") {
                    Some(n) => Some(self.name(n, "`body`")?),
                    None => None,
                };
                Some(HttpAction::Status { code, body })
            }
            "abort" => match self.name(node, "`abort`")?.as_str() {
                "reset" => Some(HttpAction::Abort(HttpAbort::Reset)),
                "close" => Some(HttpAction::Abort(HttpAbort::Close)),
                other => {
                    self.error_hint(
                        node.pos,
                        format!("unknown abort `{other}`"),
                        "use `reset` (the client sees a connection reset) or `close` (the connection closes without an answer)",
                    );
                    None
                }
            },
            _ => self.duration(node, "`delay`").map(HttpAction::Delay),
        }
    }
}
