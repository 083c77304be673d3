//! The `load` probe: its request (an http probe's keys but
//! `body_contains`, plain `http://` only), its `rate` (`500/s` or `max`),
//! `connections` and `timeout`.

use super::probes::LOAD_HTTP_KEYS;
use super::*;
use crate::gameday::units::LoadRate;

pub(crate) const LOAD_KEYS: &[&str] = &["http", "rate", "connections", "timeout"];

/// How often a load probe reports an aggregate, unless `every` says.
pub(super) const LOAD_EVERY: HumanDuration = HumanDuration(std::time::Duration::from_secs(1));

/// Connections when `connections` is not given.
const DEFAULT_CONNECTIONS: u32 = 64;

/// More connections than this is a typo, not a load test from one runner.
const MAX_CONNECTIONS: i64 = 10_000;

impl Decoder<'_> {
    pub(super) fn load_probe(
        &mut self,
        node: &Node,
        what: &str,
        defaults: &Defaults,
    ) -> Option<LoadProbe> {
        let what = format!("the load {what}");
        let obj = self.obj(node, &what, LOAD_KEYS)?;
        let http = self
            .require(&obj, "http", &what, "{ url: http://127.0.0.1:8080/health }")
            .and_then(|n| self.load_request(n, &what));
        let rate = self
            .require(&obj, "rate", &what, "200/s")
            .and_then(|n| self.load_rate(n));
        let connections = match obj.get("connections") {
            None => Some(DEFAULT_CONNECTIONS),
            Some(n) => self.connections(n),
        };
        let timeout = match obj.get("timeout") {
            None => Some(defaults.probe_timeout),
            Some(n) => self.duration(n, "`timeout`"),
        };
        Some(LoadProbe {
            http: http?,
            rate: rate?,
            connections: connections?,
            timeout: timeout?,
        })
    }

    fn load_request(&mut self, node: &Node, what: &str) -> Option<LoadRequest> {
        let http = self.http_probe(node, what, LOAD_HTTP_KEYS)?;
        if !http.url.starts_with("http://") {
            let pos = self.obj_value_pos(node, "url");
            self.error_hint(
                pos,
                format!("a load probe sends plain HTTP, not `{}`", http.url),
                "load an `http://` address (e.g. the service's port on 127.0.0.1); use an http probe for HTTPS",
            );
            return None;
        }
        Some(LoadRequest {
            url: http.url,
            method: http.method,
            headers: http.headers,
            body: http.body,
            expect_status: http.expect_status,
        })
    }

    /// Where `key` of the mapping `node` is written, or the mapping's place.
    fn obj_value_pos(&self, node: &Node, key: &str) -> Pos {
        if let Value::Map(entries) = &node.value {
            entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map_or(node.pos, |(_, v)| v.pos)
        } else {
            node.pos
        }
    }

    fn load_rate(&mut self, node: &Node) -> Option<LoadRate> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("the rate needs a unit, found `{i}`"),
                    format!("write requests per second, e.g. `rate: {i}/s`, or `rate: max`"),
                );
                return None;
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected the rate as text, found {}", other.kind()),
                    "write `rate: 200/s` (requests per second) or `rate: max`",
                );
                return None;
            }
        };
        match text.parse::<LoadRate>() {
            Ok(rate) => Some(rate),
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid rate: {e}"),
                    "write `rate: 200/s` (requests per second) or `rate: max` (as fast as answered)",
                );
                None
            }
        }
    }

    fn connections(&mut self, node: &Node) -> Option<u32> {
        match &node.value {
            Value::Int(i) if (1..=MAX_CONNECTIONS).contains(i) => u32::try_from(*i).ok(),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("`connections` must be between 1 and {MAX_CONNECTIONS}, found {i}"),
                    "give the most requests in flight at once, e.g. `connections: 64`",
                );
                None
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected `connections` as a number, found {}", other.kind()),
                    "write e.g. `connections: 64`",
                );
                None
            }
        }
    }
}
