//! The application-level fault kinds' own types: what an `http_fault`
//! matches and answers, and what a `dns` fault answers; and the `*` glob
//! both match with.

use schemars::JsonSchema;
use serde::Serialize;

use super::{Peer, SharedNamespace, Target};
use crate::gameday::units::{HumanDuration, Percent};

/// What a `dns` fault answers to an affected lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsError {
    /// No such name (RCODE 3).
    Nxdomain,
    /// The server failed (RCODE 2).
    Servfail,
    /// No answer at all: the client times out.
    Timeout,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// The names whose lookups are affected, `*` matching any run of
    /// characters (`*.internal`); every name when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// `nxdomain`, `servfail` or `timeout` (one of `error` and `delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DnsError>,
    /// Answer each affected lookup this late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<HumanDuration>,
    /// The share of matching lookups affected (default 100%).
    pub percent: Percent,
}

/// Which HTTP requests an `http_fault` affects (every one by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpMatch {
    /// The method, e.g. `GET` (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path, `*` matching any run of characters, e.g. `/charge*` (the
    /// query string is not part of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Headers the request must carry with exactly these values (names
    /// are case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header: Vec<(String, String)>,
}

impl HttpMatch {
    /// Does a request with this method, path and headers match?
    pub fn matches<'a>(
        &self,
        method: &str,
        path: &str,
        mut header: impl FnMut(&str) -> Option<&'a str>,
    ) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| glob(p, path))
            && self
                .header
                .iter()
                .all(|(name, value)| header(name) == Some(value.as_str()))
    }

    /// ` (GET /charge*, x-tenant: beta)`, or nothing for every request.
    pub(super) fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match (&self.method, &self.path) {
            (Some(m), Some(p)) => parts.push(format!("{m} {p}")),
            (Some(m), None) => parts.push(m.clone()),
            (None, Some(p)) => parts.push(p.clone()),
            (None, None) => {}
        }
        parts.extend(self.header.iter().map(|(n, v)| format!("{n}: {v}")));
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }
}

/// `*` matches any run of characters (none too); everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// What an affected HTTP request gets.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpAction {
    /// An answer from the proxy with this status (and body), without the
    /// service seeing the request.
    Status {
        code: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// The connection reset (RST) or closed (FIN) without an answer.
    Abort(HttpAbort),
    /// The request held this long, then passed on.
    Delay(HumanDuration),
}

impl HttpAction {
    pub(super) fn describe(&self) -> String {
        match self {
            HttpAction::Status { code, .. } => format!("with status {code}"),
            HttpAction::Abort(HttpAbort::Reset) => "with a reset connection".into(),
            HttpAction::Abort(HttpAbort::Close) => "with a closed connection".into(),
            HttpAction::Delay(d) => format!("{d} late"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpAbort {
    Reset,
    Close,
}

/// Which requests an `http_fault` intercepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpSide {
    /// The requests arriving at the container's `port`.
    #[default]
    Server,
    /// The requests the container makes to `port` of the `to` services.
    Client,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpFault {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub shared: SharedNamespace,
    /// The container port the service answers HTTP/1.1 on (plaintext).
    pub port: u16,
    /// `server` (default): the requests arriving at `port`; `client`: the
    /// requests the container makes to `port` of the `to` services.
    #[serde(default)]
    pub side: HttpSide,
    /// With `side: client`, the services whose requests are affected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Peer>,
    /// Which requests (default: every one).
    #[serde(rename = "match", default)]
    pub matcher: HttpMatch,
    /// The share of matching requests affected (default 100%).
    pub percent: Percent,
    /// Answer with this status, e.g. `503` (one of `status`, `abort`, `delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The answer's body, with `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `reset` (the client sees a connection reset) or `close` (closed
    /// without an answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<HttpAbort>,
    /// Hold each affected request this long, then pass it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<HumanDuration>,
}

impl HttpFault {
    /// A fault with exactly one of `status`, `abort`, `delay` (the decoder
    /// makes no other).
    pub fn new(
        target: Target,
        port: u16,
        to: Vec<Peer>,
        matcher: HttpMatch,
        percent: Percent,
        action: HttpAction,
    ) -> HttpFault {
        let mut fault = HttpFault {
            target,
            shared: SharedNamespace::default(),
            port,
            side: if to.is_empty() {
                HttpSide::Server
            } else {
                HttpSide::Client
            },
            to,
            matcher,
            percent,
            status: None,
            body: None,
            abort: None,
            delay: None,
        };
        match action {
            HttpAction::Status { code, body } => {
                fault.status = Some(code);
                fault.body = body;
            }
            HttpAction::Abort(how) => fault.abort = Some(how),
            HttpAction::Delay(d) => fault.delay = Some(d),
        }
        fault
    }

    /// What an affected request gets.
    pub fn action(&self) -> HttpAction {
        match (self.status, self.abort, self.delay) {
            (Some(code), _, _) => HttpAction::Status {
                code,
                body: self.body.clone(),
            },
            (None, Some(how), _) => HttpAction::Abort(how),
            (None, None, Some(d)) => HttpAction::Delay(d),
            (None, None, None) => HttpAction::Delay(HumanDuration::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_star_matches_any_run_of_characters_and_nothing_else_is_special() {
        for (pattern, text, want) in [
            ("/charge", "/charge", true),
            ("/charge", "/charges", false),
            ("/charge*", "/charge", true),
            ("/charge*", "/charge/42", true),
            ("/charge*", "/refund", false),
            ("*/items", "/v1/items", true),
            ("/v*/items/*", "/v2/items/7", true),
            ("/v*/items/*", "/v2/orders/7", false),
            ("/a*a", "/a", false),
            ("*", "", true),
            ("/x?y", "/xzy", false),
        ] {
            assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn a_request_matches_when_method_path_and_every_header_do() {
        let m = HttpMatch {
            method: Some("GET".into()),
            path: Some("/charge*".into()),
            header: vec![("x-tenant".into(), "beta".into())],
        };
        let beta = |name: &str| (name == "x-tenant").then_some("beta");
        let alpha = |name: &str| (name == "x-tenant").then_some("alpha");
        assert!(m.matches("GET", "/charge/1", beta));
        assert!(m.matches("get", "/charge", beta));
        assert!(!m.matches("POST", "/charge/1", beta));
        assert!(!m.matches("GET", "/refund", beta));
        assert!(!m.matches("GET", "/charge/1", alpha));
        assert!(!m.matches("GET", "/charge/1", |_| None));
        assert!(HttpMatch::default().matches("DELETE", "/anything", |_| None));
    }
}
