//! Probes (`probes:`); the targets they and faults name are decoded in
//! [`super::targets`].

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::gameday::units::{Number, StatusSpec};

pub(crate) const PROBE_COMMON_KEYS: &[&str] = &["every", "timeout", "user_facing"];
const HTTP_KEYS: &[&str] = &[
    "url",
    "method",
    "headers",
    "body",
    "expect_status",
    "body_contains",
    "version",
];
/// Where an http probe reads the version (one of them).
pub(crate) const VERSION_KEYS: &[&str] = &["json", "contains"];
const TCP_KEYS: &[&str] = &["address"];
/// A load probe's request: an http probe's keys but `body_contains` and `version`.
pub(super) const LOAD_HTTP_KEYS: &[&str] = &["url", "method", "headers", "body", "expect_status"];
const EXEC_KEYS: &[&str] = &["command"];
const LOGS_KEYS: &[&str] = &["pattern"];
const PROMETHEUS_KEYS: &[&str] = &["url", "query", "expect"];
const ALERT_KEYS: &[&str] = &["url", "name"];
const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/// The keys of each kind of probe (its body: `http: { url: ... }`):
/// whether it takes a target (`service:`, ...), and its own keys.
pub(crate) fn probe_keys(kind: ProbeType) -> (bool, &'static [&'static str]) {
    match kind {
        ProbeType::Http => (false, HTTP_KEYS),
        ProbeType::Tcp => (false, TCP_KEYS),
        ProbeType::Container => (true, &[]),
        ProbeType::Exec => (true, EXEC_KEYS),
        // An argv list, not a mapping.
        ProbeType::Command => (false, &[]),
        ProbeType::Logs => (true, LOGS_KEYS),
        ProbeType::Prometheus => (false, PROMETHEUS_KEYS),
        ProbeType::Alert => (false, ALERT_KEYS),
        ProbeType::Load => (false, super::load::LOAD_KEYS),
        ProbeType::Ledger => (false, super::ledger::LEDGER_KEYS),
    }
}

impl Decoder<'_> {
    pub(super) fn probes(&mut self, node: &Node, defaults: &Defaults) -> Vec<Probe> {
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return Vec::new(),
            other => {
                self.error_hint(
                    node.pos,
                    format!(
                        "expected `probes` as a mapping from name to probe, found {}",
                        other.kind()
                    ),
                    "write `probes: { health: { http: { url: http://127.0.0.1:8080/health } } }`",
                );
                return Vec::new();
            }
        };
        let mut probes: Vec<Probe> = Vec::new();
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for (key, value) in entries {
            if let Some(first) = seen.get(key.name.as_str()) {
                self.error_hint(
                    key.pos,
                    format!("duplicate probe name `{}`", key.name),
                    format!(
                        "a probe with this name is already defined on line {}; rename one",
                        first.line
                    ),
                );
                continue;
            }
            seen.insert(&key.name, key.pos);
            self.declared_probes.push(key.name.clone());
            if let Some(probe) = self.probe(key, value, defaults) {
                probes.push(probe);
            }
        }
        probes
    }

    pub(super) fn probe(&mut self, key: &Key, node: &Node, defaults: &Defaults) -> Option<Probe> {
        let what = format!("probe `{}`", key.name);
        let known: Vec<&'static str> = ProbeType::KEYS
            .iter()
            .chain(PROBE_COMMON_KEYS)
            .copied()
            .collect();
        let obj = self.obj(node, &what, &known)?;
        let every = obj
            .get("every")
            .map(|n| self.duration(n, "`every`"))
            .unwrap_or(Some(defaults.probe_every));
        let timeout = obj
            .get("timeout")
            .map(|n| self.duration(n, "`timeout`"))
            .unwrap_or(Some(defaults.probe_timeout));
        let user_facing = match obj.get("user_facing") {
            None => Some(None),
            Some(n) => self.boolean(n, "`user_facing`").map(Some),
        };
        let kinds = obj.present(ProbeType::KEYS);
        let kind = match kinds.as_slice() {
            [] => {
                if !obj.had_unknown_key {
                    self.error_hint(
                        key.pos,
                        format!("{what} has no kind"),
                        format!("add one of {}", list_keys(ProbeType::KEYS)),
                    );
                }
                None
            }
            [one] => {
                let body = obj.get(&one.name)?;
                let kind = ProbeType::from_key(&one.name)?;
                let (_, keys) = probe_keys(kind);
                match kind {
                    ProbeType::Http => self.http_probe(body, &what, HTTP_KEYS).map(ProbeKind::Http),
                    ProbeType::Load => self.load_probe(body, &what, defaults).map(ProbeKind::Load),
                    ProbeType::Tcp => self.tcp_probe(body, &what).map(ProbeKind::Tcp),
                    ProbeType::Exec => self.exec_probe(body, &what, keys).map(ProbeKind::Exec),
                    ProbeType::Command => self
                        .argv(body, &format!("the command of {what}"))
                        .map(|argv| ProbeKind::Command(CommandProbe { argv })),
                    ProbeType::Logs => self.logs_probe(body, &what, keys).map(ProbeKind::Logs),
                    ProbeType::Prometheus => self
                        .prometheus_probe(body, &what)
                        .map(ProbeKind::Prometheus),
                    ProbeType::Alert => self.alert_probe(body, &what).map(ProbeKind::Alert),
                    ProbeType::Ledger => self.ledger_probe(body, &what).map(ProbeKind::Ledger),
                    ProbeType::Container => self
                        .target(body, &format!("the container check of {what}"), keys)
                        .map(|(target, _)| ProbeKind::Container(ContainerProbe { target })),
                }
            }
            [first, second, ..] => {
                self.error_hint(
                    second.pos,
                    format!(
                        "{what} has two kinds, `{}` and `{}`",
                        first.name, second.name
                    ),
                    "a probe does one thing; split it into two named probes",
                );
                None
            }
        };
        let kind = kind?;
        let (every, timeout) = match &kind {
            // A load probe reports an aggregate every second by default,
            // and its `timeout` may sit with its rate.
            ProbeKind::Load(load) => (
                if obj.get("every").is_some() {
                    every?
                } else {
                    super::load::LOAD_EVERY
                },
                if obj.get("timeout").is_some() {
                    timeout?
                } else {
                    load.timeout
                },
            ),
            ProbeKind::Http(_)
            | ProbeKind::Tcp(_)
            | ProbeKind::Container(_)
            | ProbeKind::Exec(_)
            | ProbeKind::Command(_)
            | ProbeKind::Logs(_)
            | ProbeKind::Prometheus(_)
            | ProbeKind::Alert(_)
            | ProbeKind::Ledger(_) => (every?, timeout?),
        };
        Some(Probe {
            name: key.name.clone(),
            kind,
            every,
            timeout,
            user_facing: user_facing?,
            pos: key.pos,
        })
    }

    pub(super) fn http_probe(
        &mut self,
        node: &Node,
        what: &str,
        keys: &[&'static str],
    ) -> Option<HttpProbe> {
        let obj = self.obj(node, &format!("the http check of {what}"), keys)?;
        let url = self
            .require(
                &obj,
                "url",
                &format!("the http check of {what}"),
                "http://127.0.0.1:8080/health",
            )
            .and_then(|n| {
                let url = self.name(n, "the URL")?;
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url
                        .split("://")
                        .nth(1)
                        .is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
                {
                    self.error_hint(
                        n.pos,
                        format!("`{}` is not an http(s) URL", crate::redact::url(&url)),
                        "write a full URL such as `http://127.0.0.1:8080/health`",
                    );
                    return None;
                }
                Some(url)
            });
        let method = match obj.get("method") {
            None => Some("GET".to_string()),
            Some(n) => self.name(n, "the method").and_then(|m| {
                let upper = m.to_ascii_uppercase();
                if HTTP_METHODS.contains(&upper.as_str()) {
                    Some(upper)
                } else {
                    self.error_hint(
                        n.pos,
                        format!("unknown HTTP method `{m}`"),
                        format!("use one of {}", HTTP_METHODS.join(", ")),
                    );
                    None
                }
            }),
        };
        let mut headers = BTreeMap::new();
        if let Some(n) = obj.get("headers") {
            match &n.value {
                Value::Map(entries) => {
                    for (k, v) in entries {
                        if let Some(value) = self.text(v, &format!("header `{}`", k.name)) {
                            headers.insert(k.name.clone(), value);
                        }
                    }
                }
                Value::Null => {}
                other => self.error_hint(
                    n.pos,
                    format!("expected `headers` as a mapping, found {}", other.kind()),
                    "write `headers: { Authorization: \"Bearer ${TOKEN}\" }`",
                ),
            }
        }
        let body = obj.get("body").and_then(|n| self.text(n, "the body"));
        let expect_status = match obj.get("expect_status") {
            None => Some(StatusSpec::default()),
            Some(n) => self.status_spec(n),
        };
        let body_contains = obj
            .get("body_contains")
            .and_then(|n| self.text(n, "`body_contains`"));
        let version = optional(obj.get("version").map(|n| self.version_from(n, what)));
        Some(HttpProbe {
            url: url?,
            method: method?,
            headers,
            body,
            expect_status: expect_status?,
            body_contains,
            version: version?,
        })
    }

    /// `version: { json: build.version }` or `version: { contains: [v1, v2] }`.
    fn version_from(&mut self, node: &Node, what: &str) -> Option<VersionFrom> {
        let what = format!("`version` of the http check of {what}");
        let example = "write `version: { json: version }` (a field of a JSON body) or `version: { contains: [v1, v2] }`";
        if !matches!(node.value, Value::Map(_) | Value::Null) {
            self.error_hint(
                node.pos,
                format!("expected {what} as a mapping, found {}", node.value.kind()),
                example,
            );
            return None;
        }
        let obj = self.obj(node, &what, VERSION_KEYS)?;
        match obj.present(VERSION_KEYS).as_slice() {
            [] if obj.had_unknown_key => None,
            [] => {
                self.error_hint(
                    obj.pos,
                    format!("{what} has neither `json` nor `contains`"),
                    example,
                );
                None
            }
            [one] => {
                let value = obj.get(&one.name)?;
                if one.name == "json" {
                    self.json_path(value).map(VersionFrom::Json)
                } else {
                    self.version_texts(value).map(VersionFrom::Contains)
                }
            }
            [_, second, ..] => {
                self.error_hint(
                    second.pos,
                    format!("{what} takes one of `json` and `contains`, not both"),
                    "keep the one that reads the version this service answers with",
                );
                None
            }
        }
    }

    /// A dotted path into a JSON body: `version`, `build.version`, `builds.0.id`.
    fn json_path(&mut self, node: &Node) -> Option<String> {
        let path = self.name(node, "the JSON path")?;
        if path.split('.').any(|part| part.trim().is_empty()) {
            self.error_hint(
                node.pos,
                format!("`{path}` is not a dotted path to a JSON field"),
                "write the field names from the top of the body, separated by dots, e.g. `version` or `build.version`",
            );
            return None;
        }
        Some(path)
    }

    /// The versions `contains` looks for, in order: a list, not empty.
    fn version_texts(&mut self, node: &Node) -> Option<Vec<String>> {
        let hint = "list the texts that tell the versions apart, e.g. `contains: [v1, v2]`";
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!("expected `contains` as a list, found {}", node.value.kind()),
                hint,
            );
            return None;
        };
        if items.is_empty() {
            self.error_hint(node.pos, "`contains` is empty", hint);
            return None;
        }
        let texts: Vec<Option<String>> = items
            .iter()
            .map(|n| self.name(n, "a version text"))
            .collect();
        texts.into_iter().collect()
    }

    pub(super) fn exec_probe(
        &mut self,
        node: &Node,
        what: &str,
        keys: &[&'static str],
    ) -> Option<ExecProbe> {
        let what = format!("the exec check of {what}");
        let (target, obj) = self.target(node, &what, keys)?;
        let command = self
            .require(&obj, "command", &what, "[pg_isready, -q]")
            .and_then(|n| self.argv(n, "`command`"))?;
        Some(ExecProbe { target, command })
    }

    pub(super) fn logs_probe(
        &mut self,
        node: &Node,
        what: &str,
        keys: &[&'static str],
    ) -> Option<LogsProbe> {
        let what = format!("the logs check of {what}");
        let (target, obj) = self.target(node, &what, keys)?;
        let n = self.require(&obj, "pattern", &what, "\"ERROR|panic\"")?;
        let pattern = self.name(n, "the pattern")?;
        if let Err(e) = regex::Regex::new(&pattern) {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim();
            let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
            self.error_hint(
                n.pos,
                format!("`{pattern}` is not a valid regular expression: {last}"),
                "the syntax is Rust's `regex` (like RE2): escape special characters with `\\`",
            );
            return None;
        }
        Some(LogsProbe { target, pattern })
    }

    /// An `http(s)://host[:port]` base URL.
    pub(super) fn base_url(&mut self, node: &Node, example: &str) -> Option<String> {
        let url = self.name(node, "the URL")?;
        let valid = (url.starts_with("http://") || url.starts_with("https://"))
            && reqwest::Url::parse(&url).is_ok_and(|u| u.host_str().is_some());
        if !valid {
            self.error_hint(
                node.pos,
                format!("`{}` is not an http(s) URL", crate::redact::url(&url)),
                format!("write a full URL such as `{example}`"),
            );
            return None;
        }
        Some(url.trim_end_matches('/').to_string())
    }

    pub(super) fn prometheus_probe(&mut self, node: &Node, what: &str) -> Option<PrometheusProbe> {
        let what = format!("the prometheus check of {what}");
        let obj = self.obj(node, &what, PROMETHEUS_KEYS)?;
        let url = self
            .require(&obj, "url", &what, "http://127.0.0.1:9090")
            .and_then(|n| self.base_url(n, "http://127.0.0.1:9090"));
        let query = self
            .require(&obj, "query", &what, "sum(rate(http_errors_total[1m]))")
            .and_then(|n| self.name(n, "the query"));
        let expect = optional(
            obj.get("expect")
                .map(|n| self.comparison::<Number>(n, "`expect`", "< 0.05")),
        );
        Some(PrometheusProbe {
            url: url?,
            query: query?,
            expect: expect?,
        })
    }

    pub(super) fn alert_probe(&mut self, node: &Node, what: &str) -> Option<AlertProbe> {
        let what = format!("the alert check of {what}");
        let obj = self.obj(node, &what, ALERT_KEYS)?;
        let url = self
            .require(&obj, "url", &what, "http://127.0.0.1:9093")
            .and_then(|n| self.base_url(n, "http://127.0.0.1:9093"));
        let name = self
            .require(&obj, "name", &what, "HighErrorRate")
            .and_then(|n| self.name(n, "the alert name"));
        Some(AlertProbe {
            url: url?,
            name: name?,
        })
    }

    pub(super) fn tcp_probe(&mut self, node: &Node, what: &str) -> Option<TcpProbe> {
        let obj = self.obj(node, &format!("the tcp check of {what}"), TCP_KEYS)?;
        let n = self.require(
            &obj,
            "address",
            &format!("the tcp check of {what}"),
            "127.0.0.1:5432",
        )?;
        let address = self.name(n, "the address")?;
        let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            self.error_hint(
                n.pos,
                format!("`{address}` is not a `host:port` address"),
                "write e.g. `127.0.0.1:5432`",
            );
            return None;
        }
        Some(TcpProbe { address })
    }

    /// A probe named by an expectation or a stop condition: its id, and the probe.
    pub(super) fn probe_ref<'p>(
        &mut self,
        node: &Node,
        probes: &'p [Probe],
    ) -> Option<(ProbeRef, &'p Probe)> {
        let name = self.name(node, "the probe name")?;
        let found = probes.iter().enumerate().find(|(_, p)| p.name == name);
        if found.is_none() && self.declared_probes.contains(&name) {
            return None;
        }
        if found.is_none() {
            let names: Vec<&str> = self.declared_probes.iter().map(String::as_str).collect();
            let hint = match nearest(&name, names.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None if names.is_empty() => "define it under `probes:` first".to_string(),
                None => format!("the probes are {}", list_keys(&names)),
            };
            self.error_hint(node.pos, format!("unknown probe `{name}`"), hint);
        }
        let (id, probe) = found?;
        Some((
            ProbeRef {
                id: ProbeId(id),
                name,
            },
            probe,
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::gameday::model::*;

    #[test]
    fn an_http_probe_reads_its_version_from_a_json_field_or_listed_texts() {
        let text = "gameday: g\nscope: { compose_project: p }\nprobes:\n  \
            a: { http: { url: http://127.0.0.1:1/version, version: { json: build.version } } }\n  \
            b: { http: { url: http://127.0.0.1:1/, version: { contains: [v2, 1] } } }\n  \
            c: { http: { url: http://127.0.0.1:1/ } }\n\
            scenarios:\n  - { name: s, fault: { pause: { service: a } }, duration: 1s }\n";
        let g = crate::gameday::load_bytes("test.yaml", text.as_bytes(), &|_: &str| None)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let versions: Vec<Option<VersionFrom>> = g
            .probes
            .0
            .iter()
            .map(|p| match &p.kind {
                ProbeKind::Http(h) => h.version.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            versions,
            [
                Some(VersionFrom::Json("build.version".into())),
                Some(VersionFrom::Contains(vec!["v2".into(), "1".into()])),
                None
            ]
        );
    }
}
