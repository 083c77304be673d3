//! From the YAML tree to the validated [`Gameday`]: types, required and
//! unknown keys, value syntax, defaults, and the cross-checks between parts
//! (expectations name real probes, checks fit the probe kind, names are
//! unique). Every problem found is collected, so one `validate` run shows
//! them all, each at its line and column.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use super::diag::{Diagnostic, nearest};
use super::model::*;
use super::units::{Comparison, ContainerState, HumanDuration, Number, StatusSpec, parse_signal};
use super::yaml::{Key, Node, Pos, Value};

pub(crate) const GAMEDAY_KEYS: &[&str] = &[
    "gameday",
    "description",
    "participants",
    "environment",
    "recording",
    "docker",
    "hosts",
    "scope",
    "defaults",
    "probes",
    "scenarios",
];
pub(crate) const DOCKER_KEYS: &[&str] = &[
    "host",
    "tls",
    "insecure",
    "ssh",
    "network_helper",
    "helper_image",
];
pub(crate) const TLS_KEYS: &[&str] = &["ca", "cert", "key"];
pub(crate) const HOST_KEYS: &[&str] = &["host", "tls", "insecure", "ssh"];
pub(crate) const SSH_KEYS: &[&str] = &["identity", "known_hosts"];
pub(crate) const PARTICIPANT_KEYS: &[&str] = &["name", "role"];
/// The name of the `docker:` engine among `hosts:`.
pub const DEFAULT_HOST: &str = "default";
pub(crate) const SCOPE_KEYS: &[&str] = &["compose_project"];
pub(crate) const DEFAULTS_KEYS: &[&str] = &["probe_every", "probe_timeout", "baseline", "cooldown"];
pub(crate) const PROBE_KINDS: &[&str] = &[
    "http",
    "tcp",
    "container",
    "exec",
    "command",
    "logs",
    "prometheus",
    "alert",
];
pub(crate) const PROBE_COMMON_KEYS: &[&str] = &["every", "timeout"];
pub(crate) const HTTP_KEYS: &[&str] = &[
    "url",
    "method",
    "headers",
    "body",
    "expect_status",
    "body_contains",
];
pub(crate) const TCP_KEYS: &[&str] = &["address"];
pub(crate) const EXEC_KEYS: &[&str] = &["command"];
pub(crate) const LOGS_KEYS: &[&str] = &["pattern"];
pub(crate) const PROMETHEUS_KEYS: &[&str] = &["url", "query", "expect"];
pub(crate) const ALERT_KEYS: &[&str] = &["url", "name"];
pub(crate) const TARGET_KEYS: &[&str] = &["service", "container", "pick", "host"];
pub(crate) const SCENARIO_KEYS: &[&str] = &[
    "name",
    "description",
    "expected",
    "fault",
    "faults",
    "steps",
    "duration",
    "cooldown",
    "expect",
    "halt_if",
];
pub(crate) const STEP_KINDS: &[&str] = &["fault", "wait", "note", "manual"];
pub(crate) const STEP_KEYS: &[&str] = &["fault", "wait", "note", "manual", "timeout"];
/// How long a manual step waits for an answer when it does not say.
pub const MANUAL_TIMEOUT_DEFAULT: HumanDuration =
    HumanDuration(std::time::Duration::from_secs(300));
pub(crate) const FAULT_KINDS: &[&str] = &[
    "kill",
    "stop",
    "restart",
    "pause",
    "delay",
    "loss",
    "duplicate",
    "corrupt",
    "bandwidth",
    "partition",
    "disconnect",
];
pub(crate) const DELAY_KEYS: &[&str] = &["latency", "jitter", "correlation", "to", "engine"];
pub(crate) const LOSS_KEYS: &[&str] = &["percent", "correlation", "to", "engine"];
pub(crate) const SHARE_KEYS: &[&str] = &["percent", "to", "engine"];
pub(crate) const BANDWIDTH_KEYS: &[&str] = &["rate"];
pub(crate) const PARTITION_KEYS: &[&str] = &["from"];
pub(crate) const DISCONNECT_KEYS: &[&str] = &["network"];
pub(crate) const KILL_KEYS: &[&str] = &["signal", "restore"];
pub(crate) const STOP_KEYS: &[&str] = &["timeout", "restore"];
pub(crate) const RESTART_KEYS: &[&str] = &["timeout"];
pub(crate) const EXPECT_COMMON_KEYS: &[&str] = &["probe", "during"];
pub(crate) const HALT_KEYS: &[&str] = &["probe", "failing_for"];
const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/// Looks up environment variables for `${VAR}`; a function so tests can pass a fixed map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Decode and check a whole gameday file.
pub fn decode(root: &Node, env: EnvLookup<'_>) -> Result<Gameday, Vec<Diagnostic>> {
    let mut decoder = Decoder {
        diags: Vec::new(),
        env,
        declared_probes: Vec::new(),
        declared_hosts: Vec::new(),
    };
    let gameday = decoder.gameday(root);
    let mut diags = decoder.diags;
    diags.sort_by_key(|d| d.pos);
    diags.dedup();
    match gameday {
        Some(g) if diags.is_empty() => Ok(g),
        _ => Err(diags),
    }
}

struct Decoder<'e> {
    diags: Vec<Diagnostic>,
    env: EnvLookup<'e>,
    /// Every probe name defined, including those whose definition has errors
    /// (already reported), so references to them are not reported again.
    declared_probes: Vec<String>,
    /// Names in `hosts:`, for `host:` of targets.
    declared_hosts: Vec<String>,
}

/// A mapping whose keys were checked: known, not repeated.
struct Obj<'n> {
    pos: Pos,
    entries: Vec<(&'n Key, &'n Node)>,
    had_unknown_key: bool,
    /// Known keys suggested for misspelt ones: not reported missing again.
    suggested: Vec<&'static str>,
}

impl<'n> Obj<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| *v)
    }

    fn key(&self, key: &str) -> Option<&'n Key> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| *k)
    }

    /// Which of `keys` are present, in file order.
    fn present(&self, keys: &[&str]) -> Vec<&'n Key> {
        self.entries
            .iter()
            .filter(|(k, _)| keys.contains(&k.name.as_str()))
            .map(|(k, _)| *k)
            .collect()
    }
}

fn list_keys(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Decoder<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(pos, message));
    }

    fn error_hint(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(pos, message).with_hint(hint));
    }

    /// Check a mapping: report unknown and repeated keys. `Null` is an empty mapping.
    fn obj<'n>(&mut self, node: &'n Node, what: &str, known: &[&'static str]) -> Option<Obj<'n>> {
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => {
                return Some(Obj {
                    pos: node.pos,
                    entries: Vec::new(),
                    had_unknown_key: false,
                    suggested: Vec::new(),
                });
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as a mapping, found {}", other.kind()),
                    format!("{what} takes the keys {}", list_keys(known)),
                );
                return None;
            }
        };
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        let mut obj = Obj {
            pos: node.pos,
            entries: Vec::new(),
            had_unknown_key: false,
            suggested: Vec::new(),
        };
        for (key, value) in entries {
            if let Some(first) = seen.get(key.name.as_str()) {
                self.error_hint(
                    key.pos,
                    format!("duplicate key `{}` in {what}", key.name),
                    format!(
                        "it was already set on line {}; YAML keeps only one, so remove the other",
                        first.line
                    ),
                );
                continue;
            }
            seen.insert(&key.name, key.pos);
            if !known.contains(&key.name.as_str()) {
                obj.had_unknown_key = true;
                let hint = match nearest(&key.name, known.iter().copied()) {
                    Some(near) => {
                        obj.suggested.push(near);
                        format!("did you mean `{near}`?")
                    }
                    None => format!("{what} takes {}", list_keys(known)),
                };
                self.error_hint(
                    key.pos,
                    format!("unknown key `{}` in {what}", key.name),
                    hint,
                );
                continue;
            }
            obj.entries.push((key, value));
        }
        Some(obj)
    }

    fn require<'n>(
        &mut self,
        obj: &Obj<'n>,
        key: &str,
        what: &str,
        example: &str,
    ) -> Option<&'n Node> {
        let found = obj.get(key);
        if found.is_none() && !obj.suggested.contains(&key) {
            self.error_hint(
                obj.pos,
                format!("{what} is missing the required key `{key}`"),
                format!("add `{key}: {example}`"),
            );
        }
        found
    }

    /// Free text: any scalar is accepted and kept as written.
    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                self.error(
                    node.pos,
                    format!("expected {what} as text, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// Text that must not be empty (names, titles).
    fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        if text.trim().is_empty() {
            self.error(node.pos, format!("{what} must not be empty"));
            return None;
        }
        Some(text)
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as true or false, found {}", other.kind()),
                    "write `true` or `false`",
                );
                None
            }
        }
    }

    /// A duration that must be greater than zero.
    fn duration(&mut self, node: &Node, what: &str) -> Option<HumanDuration> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a unit, found `{i}`"),
                    format!("write a duration with a unit, e.g. `{i}s` or `{i}ms`"),
                );
                return None;
            }
            Value::Float(f) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a unit, found `{f}`"),
                    format!("write a duration with a unit, e.g. `{f}s`"),
                );
                return None;
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as a duration, found {}", other.kind()),
                    "durations look like `250ms`, `30s`, `1m30s`",
                );
                return None;
            }
        };
        if text.trim_start().starts_with('-') {
            self.error_hint(
                node.pos,
                format!("{what} must be greater than zero, found `{text}`"),
                "durations must be greater than zero",
            );
            return None;
        }
        match text.parse::<HumanDuration>() {
            Ok(d) if d.is_zero() => {
                self.error_hint(
                    node.pos,
                    format!("{what} must be greater than zero, found `{text}`"),
                    "use a positive duration such as `1s`",
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {e}"),
                    "durations look like `250ms`, `30s`, `1m30s`",
                );
                None
            }
        }
    }

    fn comparison<T: FromStr<Err = String>>(
        &mut self,
        node: &Node,
        what: &str,
        example: &str,
    ) -> Option<Comparison<T>> {
        let Value::Str(text) = &node.value else {
            self.error_hint(
                node.pos,
                format!(
                    "expected {what} as a comparison string, found {}",
                    node.value.kind()
                ),
                format!("write it quoted with an operator, e.g. `\"{example}\"`"),
            );
            return None;
        };
        match text.parse::<Comparison<T>>() {
            Ok(c) => Some(c),
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {e}"),
                    format!("write an operator and a value, e.g. `\"{example}\"`"),
                );
                None
            }
        }
    }

    /// `${VAR}` from the environment; `$$` is a literal `$`.
    fn expand_env(&mut self, node: &Node, text: &str, what: &str) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut ok = true;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    self.error_hint(
                        node.pos,
                        format!("unclosed `${{` in {what}"),
                        "write `${NAME}`, or `$$` for a literal dollar sign",
                    );
                    return None;
                };
                let name = &body[..end];
                match (self.env)(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        self.error_hint(
                            node.pos,
                            format!("environment variable `{name}` used in {what} is not set"),
                            format!("export {name}=... before running gameday"),
                        );
                        ok = false;
                    }
                }
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        ok.then_some(out)
    }

    fn gameday(&mut self, root: &Node) -> Option<Gameday> {
        match &root.value {
            Value::Null => {
                self.error_hint(
                    Pos { line: 1, col: 1 },
                    "the file is empty",
                    "a gameday needs at least `gameday: <title>`, `scope: { compose_project: <name> }` and `scenarios:`",
                );
                return None;
            }
            Value::Map(_) => {}
            other => {
                self.error_hint(
                    root.pos,
                    format!(
                        "expected a gameday (a mapping with `gameday:`, `scope:` and `scenarios:`), found {}",
                        other.kind()
                    ),
                    "is this the right file? A gameday file starts with `gameday: <title>`",
                );
                return None;
            }
        }
        let obj = self.obj(root, "the gameday", GAMEDAY_KEYS)?;
        let title = self
            .require(&obj, "gameday", "the gameday", "Login API resilience")
            .and_then(|n| self.name(n, "the gameday title"));
        let description = obj
            .get("description")
            .and_then(|n| self.text(n, "description"));
        let participants = obj
            .get("participants")
            .map(|n| self.participants(n))
            .unwrap_or_default();
        let environment = obj
            .get("environment")
            .and_then(|n| self.name(n, "environment"))
            .unwrap_or_else(|| "local".to_string());
        let recording = obj.get("recording").and_then(|n| self.text(n, "recording"));
        let docker = obj
            .get("docker")
            .map(|n| self.docker(n))
            .unwrap_or_default();
        let hosts = obj.get("hosts").map(|n| self.hosts(n)).unwrap_or_default();
        let scope = self
            .require(&obj, "scope", "the gameday", "{ compose_project: demo }")
            .and_then(|n| self.scope(n));
        let defaults = obj
            .get("defaults")
            .map(|n| self.defaults(n))
            .unwrap_or_default();
        let probes = obj
            .get("probes")
            .map(|n| self.probes(n, &defaults))
            .unwrap_or_default();
        let scenarios = self
            .require(&obj, "scenarios", "the gameday", "[ ... ]")
            .map(|n| self.scenarios(n, &defaults, &probes))
            .unwrap_or_default();
        Some(Gameday {
            gameday: title?,
            description,
            participants,
            environment,
            recording,
            docker,
            hosts,
            scope: scope?,
            defaults,
            probes: Probes(probes),
            scenarios,
        })
    }

    fn participants(&mut self, node: &Node) -> Vec<String> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|n| match &n.value {
                    Value::Map(_) => {
                        let o = self.obj(n, "a participant", PARTICIPANT_KEYS)?;
                        let name = self
                            .require(&o, "name", "a participant", "Dana")
                            .and_then(|v| self.name(v, "the participant's name"))?;
                        match o.get("role").and_then(|v| self.name(v, "the role")) {
                            Some(role) => Some(format!("{name} ({role})")),
                            None => Some(name),
                        }
                    }
                    _ => self.name(n, "a participant"),
                })
                .collect(),
            Value::Str(s) => vec![s.clone()],
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected participants as a list, found {}", other.kind()),
                    "write `participants: [Dana (coordinator), { name: Sam, role: observer }]`",
                );
                Vec::new()
            }
        }
    }

    fn docker(&mut self, node: &Node) -> DockerConfig {
        let Some(obj) = self.obj(node, "`docker`", DOCKER_KEYS) else {
            return DockerConfig::default();
        };
        let EngineSpec {
            host,
            tls,
            insecure,
            ssh,
        } = self.engine_fields(&obj);
        let network_helper = match obj.get("network_helper") {
            None => NetworkHelper::Auto,
            Some(n) => match self.name(n, "`network_helper`").as_deref() {
                Some("auto") => NetworkHelper::Auto,
                Some("host") => NetworkHelper::Host,
                Some("helper") => NetworkHelper::Helper,
                Some(other) => {
                    self.error_hint(
                        n.pos,
                        format!("unknown network_helper `{other}`"),
                        "use `auto`, `host` (enter namespaces from this host) or `helper` (a helper container)",
                    );
                    NetworkHelper::Auto
                }
                None => NetworkHelper::Auto,
            },
        };
        let helper_image = obj
            .get("helper_image")
            .and_then(|n| self.name(n, "`helper_image`"));
        DockerConfig {
            host,
            tls,
            insecure,
            ssh,
            network_helper,
            helper_image,
        }
    }

    /// `host`, `tls` and `insecure` of `docker:` or of a `hosts:` entry.
    fn engine_fields(&mut self, obj: &Obj<'_>) -> EngineSpec {
        let host = obj.get("host").and_then(|n| {
            let host = self.name(n, "the Docker host")?;
            let known = ["unix://", "tcp://", "http://", "https://", "ssh://"];
            if known.iter().any(|p| host.starts_with(p)) {
                Some(host)
            } else {
                self.error_hint(
                    n.pos,
                    format!("unsupported Docker host `{host}`"),
                    "use `unix:///var/run/docker.sock`, `tcp://HOST:PORT` (with `tls:`) or `ssh://USER@HOST`",
                );
                None
            }
        });
        let tls = obj.get("tls").and_then(|n| self.tls_files(n));
        let ssh = obj.get("ssh").and_then(|n| {
            let o = self.obj(n, "`ssh`", SSH_KEYS)?;
            let identity = o
                .get("identity")
                .and_then(|n| self.name(n, "the identity file"));
            let known_hosts = o
                .get("known_hosts")
                .and_then(|n| self.name(n, "the known_hosts file"));
            Some(SshOptions {
                identity,
                known_hosts,
            })
        });
        if let (Some(_), Some(h), Some(k)) = (&ssh, &host, obj.key("ssh"))
            && !h.starts_with("ssh://")
        {
            self.error_hint(
                k.pos,
                format!("`ssh` options apply to an `ssh://` engine, and `{h}` is not one"),
                "remove `ssh:`, or write the host as `ssh://USER@HOST`",
            );
        }
        let insecure = match obj.get("insecure") {
            None => false,
            Some(n) => self.boolean(n, "`insecure`").unwrap_or(false),
        };
        // A plain tcp:// engine is an open root shell on that host: say so
        // in the file, not by accident.
        if let (Some(h), None, false) = (&host, &tls, insecure)
            && (h.starts_with("tcp://") || h.starts_with("http://"))
            && (self.env)("DOCKER_TLS_VERIFY").is_none_or(|v| v.is_empty())
            && let Some(k) = obj.key("host")
        {
            self.error_hint(
                k.pos,
                format!("`{h}` would be reached without TLS: anyone on the network could drive this engine"),
                "add `tls: { ca: ca.pem, cert: cert.pem, key: key.pem }` (or set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH), or say `insecure: true` if the path is private (a tunnel)",
            );
        }
        EngineSpec {
            host,
            tls,
            insecure,
            ssh,
        }
    }

    /// `hosts:`: more engines by name.
    fn hosts(&mut self, node: &Node) -> BTreeMap<String, EngineSpec> {
        let mut hosts = BTreeMap::new();
        let Value::Map(entries) = &node.value else {
            self.error_hint(
                node.pos,
                format!("expected `hosts` as a mapping from name to engine, found {}", node.value.kind()),
                "write `hosts: { db: { host: \"tcp://db-host:2376\", tls: { ca: ca.pem, cert: cert.pem, key: key.pem } } }`",
            );
            return hosts;
        };
        for (key, value) in entries {
            if key.name == DEFAULT_HOST {
                self.error_hint(
                    key.pos,
                    "`default` is the name of the `docker:` engine",
                    "give this engine another name",
                );
                continue;
            }
            let what = format!("host `{}`", key.name);
            // Declared even when its definition has errors (reported here),
            // so targets naming it are not reported again.
            self.declared_hosts.push(key.name.clone());
            // `db: ssh://ops@db-1` is short for `db: { host: ssh://ops@db-1 }`.
            let expanded;
            let value = match &value.value {
                Value::Str(_) => {
                    expanded = Node {
                        pos: value.pos,
                        value: Value::Map(vec![(
                            Key {
                                pos: value.pos,
                                name: "host".into(),
                            },
                            value.clone(),
                        )]),
                    };
                    &expanded
                }
                _ => value,
            };
            let Some(obj) = self.obj(value, &what, HOST_KEYS) else {
                continue;
            };
            if self
                .require(&obj, "host", &what, "\"tcp://db-host:2376\"")
                .is_none()
            {
                continue;
            }
            let spec = self.engine_fields(&obj);
            if spec.host.is_some() {
                hosts.insert(key.name.clone(), spec);
            }
        }
        hosts
    }

    fn tls_files(&mut self, node: &Node) -> Option<TlsFiles> {
        let obj = self.obj(node, "`tls`", TLS_KEYS)?;
        let mut file = |key: &str, example: &str| {
            self.require(&obj, key, "`tls`", example)
                .and_then(|n| self.name(n, &format!("the `{key}` file")))
        };
        let ca = file("ca", "ca.pem");
        let cert = file("cert", "cert.pem");
        let key = file("key", "key.pem");
        Some(TlsFiles {
            ca: ca?,
            cert: cert?,
            key: key?,
        })
    }

    fn scope(&mut self, node: &Node) -> Option<Scope> {
        let obj = self.obj(node, "`scope`", SCOPE_KEYS)?;
        let project = self
            .require(&obj, "compose_project", "`scope`", "demo")
            .and_then(|n| self.name(n, "the compose project"))?;
        Some(Scope {
            compose_project: project,
        })
    }

    fn defaults(&mut self, node: &Node) -> Defaults {
        let mut defaults = Defaults::default();
        let Some(obj) = self.obj(node, "`defaults`", DEFAULTS_KEYS) else {
            return defaults;
        };
        let fields: [(&str, &mut HumanDuration); 4] = [
            ("probe_every", &mut defaults.probe_every),
            ("probe_timeout", &mut defaults.probe_timeout),
            ("baseline", &mut defaults.baseline),
            ("cooldown", &mut defaults.cooldown),
        ];
        for (key, slot) in fields {
            if let Some(d) = obj
                .get(key)
                .and_then(|n| self.duration(n, &format!("`{key}`")))
            {
                *slot = d;
            }
        }
        defaults
    }

    fn probes(&mut self, node: &Node, defaults: &Defaults) -> Vec<Probe> {
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

    fn probe(&mut self, key: &Key, node: &Node, defaults: &Defaults) -> Option<Probe> {
        let what = format!("probe `{}`", key.name);
        let known: Vec<&'static str> = PROBE_KINDS
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
        let kinds = obj.present(PROBE_KINDS);
        let kind = match kinds.as_slice() {
            [] => {
                if !obj.had_unknown_key {
                    self.error_hint(
                        key.pos,
                        format!("{what} has no kind"),
                        format!("add one of {}", list_keys(PROBE_KINDS)),
                    );
                }
                None
            }
            [one] => {
                let body = obj.get(&one.name)?;
                match one.name.as_str() {
                    "http" => self.http_probe(body, &what).map(ProbeKind::Http),
                    "tcp" => self.tcp_probe(body, &what).map(ProbeKind::Tcp),
                    "exec" => self.exec_probe(body, &what).map(ProbeKind::Exec),
                    "command" => self
                        .argv(body, &format!("the command of {what}"))
                        .map(|argv| ProbeKind::Command(CommandProbe { argv })),
                    "logs" => self.logs_probe(body, &what).map(ProbeKind::Logs),
                    "prometheus" => self
                        .prometheus_probe(body, &what)
                        .map(ProbeKind::Prometheus),
                    "alert" => self.alert_probe(body, &what).map(ProbeKind::Alert),
                    _ => self
                        .target(body, &format!("the container check of {what}"), &[])
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
        Some(Probe {
            name: key.name.clone(),
            kind: kind?,
            every: every?,
            timeout: timeout?,
            pos: key.pos,
        })
    }

    fn http_probe(&mut self, node: &Node, what: &str) -> Option<HttpProbe> {
        let obj = self.obj(node, &format!("the http check of {what}"), HTTP_KEYS)?;
        let url = self
            .require(
                &obj,
                "url",
                &format!("the http check of {what}"),
                "http://127.0.0.1:8080/health",
            )
            .and_then(|n| {
                let raw = self.name(n, "the URL")?;
                let url = self.expand_env(n, &raw, "the URL")?;
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url
                        .split("://")
                        .nth(1)
                        .is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
                {
                    self.error_hint(
                        n.pos,
                        format!("`{raw}` is not an http(s) URL"),
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
                        if let Some(value) = self.text(v, &format!("header `{}`", k.name))
                            && let Some(value) =
                                self.expand_env(v, &value, &format!("header `{}`", k.name))
                        {
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
        Some(HttpProbe {
            url: url?,
            method: method?,
            headers,
            body,
            expect_status: expect_status?,
            body_contains,
        })
    }

    /// An argv list: `[pg_isready, -h, db]`. Never a string for a shell.
    fn argv(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let hint = "write the program and its arguments as a list, e.g. `[curl, -fsS, http://127.0.0.1:8080/health]` (use `[sh, -c, \"...\"]` for a shell)";
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!(
                    "expected {what} as a list (argv), found {}",
                    node.value.kind()
                ),
                hint,
            );
            return None;
        };
        if items.is_empty() {
            self.error_hint(node.pos, format!("{what} is empty"), hint);
            return None;
        }
        let argv: Vec<Option<String>> = items
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if i == 0 {
                    self.name(n, "the program")
                } else {
                    self.text(n, "an argument")
                }
            })
            .collect();
        argv.into_iter().collect()
    }

    fn exec_probe(&mut self, node: &Node, what: &str) -> Option<ExecProbe> {
        let what = format!("the exec check of {what}");
        let (target, obj) = self.target(node, &what, EXEC_KEYS)?;
        let command = self
            .require(&obj, "command", &what, "[pg_isready, -q]")
            .and_then(|n| self.argv(n, "`command`"))?;
        Some(ExecProbe { target, command })
    }

    fn logs_probe(&mut self, node: &Node, what: &str) -> Option<LogsProbe> {
        let what = format!("the logs check of {what}");
        let (target, obj) = self.target(node, &what, LOGS_KEYS)?;
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

    /// An `http(s)://host[:port]` base URL (`${VAR}` expanded).
    fn base_url(&mut self, node: &Node, example: &str) -> Option<String> {
        let raw = self.name(node, "the URL")?;
        let url = self.expand_env(node, &raw, "the URL")?;
        let valid = (url.starts_with("http://") || url.starts_with("https://"))
            && reqwest::Url::parse(&url).is_ok_and(|u| u.host_str().is_some());
        if !valid {
            self.error_hint(
                node.pos,
                format!("`{raw}` is not an http(s) URL"),
                format!("write a full URL such as `{example}`"),
            );
            return None;
        }
        Some(url.trim_end_matches('/').to_string())
    }

    fn prometheus_probe(&mut self, node: &Node, what: &str) -> Option<PrometheusProbe> {
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

    fn alert_probe(&mut self, node: &Node, what: &str) -> Option<AlertProbe> {
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

    fn exit_codes(&mut self, node: &Node) -> Option<ExitCodes> {
        let hint = "write an exit code like `0`, or a list like `[0, 1]`";
        let one = |d: &mut Self, n: &Node| -> Option<i64> {
            match &n.value {
                Value::Int(i) if (0..=255).contains(i) => Some(*i),
                Value::Int(i) => {
                    d.error_hint(
                        n.pos,
                        format!("exit code {i} is out of range: exit codes go from 0 to 255"),
                        hint,
                    );
                    None
                }
                other => {
                    d.error_hint(
                        n.pos,
                        format!(
                            "expected an exit code from 0 to 255, found {}",
                            other.kind()
                        ),
                        hint,
                    );
                    None
                }
            }
        };
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.error_hint(node.pos, "the list of exit codes is empty", hint);
                None
            }
            Value::Seq(items) => {
                let codes: Vec<Option<i64>> = items.iter().map(|n| one(self, n)).collect();
                codes.into_iter().collect::<Option<Vec<_>>>().map(ExitCodes)
            }
            _ => one(self, node).map(|c| ExitCodes(vec![c])),
        }
    }

    fn status_spec(&mut self, node: &Node) -> Option<StatusSpec> {
        let one = |d: &mut Self, n: &Node| -> Option<StatusSpec> {
            let text = match &n.value {
                Value::Int(i) => i.to_string(),
                Value::Str(s) => s.clone(),
                other => {
                    d.error_hint(
                        n.pos,
                        format!("expected an HTTP status, found {}", other.kind()),
                        "write a code like `200`, a class like `2xx`, or a list `[200, 204]`",
                    );
                    return None;
                }
            };
            match StatusSpec::parse_one(&text) {
                Ok(s) => Some(s),
                Err(e) => {
                    d.error_hint(
                        n.pos,
                        e,
                        "write a code like `200`, a class like `2xx`, or a list `[200, 204]`",
                    );
                    None
                }
            }
        };
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.error(node.pos, "the list of statuses is empty");
                None
            }
            Value::Seq(items) => {
                let parsed: Vec<Option<StatusSpec>> = items.iter().map(|n| one(self, n)).collect();
                parsed
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(StatusSpec::AnyOf)
            }
            _ => one(self, node),
        }
    }

    fn tcp_probe(&mut self, node: &Node, what: &str) -> Option<TcpProbe> {
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

    /// A target (`service:` or `container:`, optional `pick:`) plus the
    /// fault-specific keys in `extra`, which the caller reads from the
    /// returned mapping.
    fn target<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        extra: &[&'static str],
    ) -> Option<(Target, Obj<'n>)> {
        let known: Vec<&'static str> = TARGET_KEYS.iter().chain(extra).copied().collect();
        let obj = self.obj(node, what, &known)?;
        let selectors = obj.present(&["service", "container"]);
        let pos = selectors.first().map(|k| k.pos).unwrap_or(obj.pos);
        let selector = match selectors.as_slice() {
            [] if obj.had_unknown_key => None,
            [] => {
                self.error_hint(
                    obj.pos,
                    format!("{what} has no target"),
                    "add `service: <compose service>` or `container: <container name>`",
                );
                None
            }
            [one] => {
                let value = obj.get(&one.name)?;
                let name = self.name(value, &format!("the {}", one.name))?;
                Some(if one.name == "service" {
                    Selector::Service(name)
                } else {
                    Selector::Container(name)
                })
            }
            [_, second, ..] => {
                self.error_hint(
                    second.pos,
                    format!("{what} names both a service and a container"),
                    "keep one of `service:` and `container:`",
                );
                None
            }
        };
        let pick = match obj.get("pick") {
            None => Some(Pick::All),
            Some(n) => match self.name(n, "`pick`").as_deref() {
                Some("all") => Some(Pick::All),
                Some("one") => Some(Pick::One),
                Some(other) => {
                    self.error_hint(
                        n.pos,
                        format!("unknown pick `{other}`"),
                        "use `all` (every replica) or `one`",
                    );
                    None
                }
                None => None,
            },
        };
        if let (Some(Selector::Container(_)), Some(Pick::One), Some(k)) =
            (&selector, pick, obj.key("pick"))
        {
            self.error_hint(
                k.pos,
                "`pick` applies to a service, not to a named container",
                "remove `pick:` or target a `service:`",
            );
        }
        let host = match obj.get("host") {
            None => Some(None),
            Some(n) => self.name(n, "the host").and_then(|h| {
                if h == DEFAULT_HOST || self.declared_hosts.contains(&h) {
                    Some(Some(h))
                } else {
                    let mut known = vec![DEFAULT_HOST.to_string()];
                    known.extend(self.declared_hosts.iter().cloned());
                    let hint = match nearest(&h, known.iter().map(String::as_str)) {
                        Some(near) => format!("did you mean `{near}`? Engines: {}", known.join(", ")),
                        None => format!("name an engine of `hosts:` or `default` (the `docker:` engine); engines: {}", known.join(", ")),
                    };
                    self.error_hint(n.pos, format!("unknown host `{h}`"), hint);
                    None
                }
            }),
        };
        let target = Target {
            selector: selector?,
            pick: pick?,
            host: host?,
            pos,
        };
        Some((target, obj))
    }

    fn scenarios(&mut self, node: &Node, defaults: &Defaults, probes: &[Probe]) -> Vec<Scenario> {
        let items = match &node.value {
            Value::Seq(items) => items,
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected `scenarios` as a list, found {}", other.kind()),
                    "write each scenario as a list item starting with `- name: ...`",
                );
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.error_hint(
                node.pos,
                "the gameday has no scenarios",
                "add at least one scenario with a `name`, a `fault` and a `duration`",
            );
        }
        let mut scenarios: Vec<Scenario> = Vec::new();
        let mut seen: HashMap<String, Pos> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.scenario(item, i + 1, defaults, probes) {
                if let Some(first) = seen.get(&s.name) {
                    self.error_hint(
                        s.pos,
                        format!("duplicate scenario name `{}`", s.name),
                        format!(
                            "a scenario with this name starts on line {}; names must be unique",
                            first.line
                        ),
                    );
                    continue;
                }
                seen.insert(s.name.clone(), s.pos);
                scenarios.push(s);
            }
        }
        scenarios
    }

    fn scenario(
        &mut self,
        node: &Node,
        index: usize,
        defaults: &Defaults,
        probes: &[Probe],
    ) -> Option<Scenario> {
        // Name the scenario in messages about its keys when it has a name.
        let what = match &node.value {
            Value::Map(entries) => {
                entries
                    .iter()
                    .find(|(k, _)| k.name == "name")
                    .and_then(|(_, v)| match &v.value {
                        Value::Str(n) => Some(format!("scenario `{n}`")),
                        _ => None,
                    })
            }
            _ => None,
        }
        .unwrap_or_else(|| format!("scenario #{index}"));
        let obj = self.obj(node, &what, SCENARIO_KEYS)?;
        let name = self
            .require(&obj, "name", &what, "Database paused")
            .and_then(|n| self.name(n, "the scenario name"));
        let description = obj
            .get("description")
            .and_then(|n| self.text(n, "description"));
        let expected = obj.get("expected").and_then(|n| self.text(n, "`expected`"));
        let mut steps = Vec::new();
        let faults = match (obj.key("fault"), obj.key("faults"), obj.key("steps")) {
            (Some(_), Some(both), _) => {
                self.error_hint(
                    both.pos,
                    format!("{what} has both `fault` and `faults`"),
                    "use `fault:` for one fault or `faults:` for a list, not both",
                );
                None
            }
            (Some(k), None, Some(_)) | (None, Some(k), Some(_)) => {
                self.error_hint(
                    k.pos,
                    format!("{what} has both `{}` and `steps`", k.name),
                    "with `steps:`, write each fault as a step: `- fault: { pause: { service: db } }`",
                );
                None
            }
            (Some(_), None, None) => obj
                .get("fault")
                .and_then(|n| self.fault(n))
                .map(|f| vec![f]),
            (None, Some(_), None) => obj.get("faults").and_then(|n| self.fault_list(n, &what)),
            (None, None, Some(_)) => {
                obj.get("steps")
                    .and_then(|n| self.steps(n, &what))
                    .map(|(faults, decoded)| {
                        steps = decoded;
                        faults
                    })
            }
            (None, None, None) => {
                self.error_hint(
                    obj.pos,
                    format!("{what} has no fault"),
                    "add e.g. `fault: { pause: { service: db } }`, `faults:` with a list, or `steps:`",
                );
                None
            }
        };
        let duration = if obj.key("steps").is_some() && obj.get("duration").is_none() {
            Some(HumanDuration::default())
        } else {
            self.require(&obj, "duration", &what, "20s")
                .and_then(|n| self.duration(n, "`duration`"))
        };
        let cooldown = obj
            .get("cooldown")
            .map(|n| self.duration(n, "`cooldown`"))
            .unwrap_or(Some(defaults.cooldown));
        let expect = match obj.get("expect") {
            None => Some(Vec::new()),
            Some(n) => self.list(n, "`expect`", |d, item| d.expectation(item, probes)),
        };
        let halt_if = match obj.get("halt_if") {
            None => Some(Vec::new()),
            Some(n) => self.list(n, "`halt_if`", |d, item| d.halt_condition(item, probes)),
        };
        Some(Scenario {
            name: name?,
            description,
            expected,
            faults: faults?,
            steps,
            duration: duration?,
            cooldown: cooldown?,
            expect: expect?,
            halt_if: halt_if?,
            pos: obj.pos,
        })
    }

    /// `steps:` of a scenario: the faults in step order, and the steps.
    fn steps(&mut self, node: &Node, what: &str) -> Option<(Vec<Fault>, Vec<Step>)> {
        let items = match &node.value {
            Value::Seq(items) if !items.is_empty() => items,
            _ => {
                self.error_hint(
                    node.pos,
                    format!("expected the steps of {what} as a non-empty list"),
                    "write `steps: [ { note: \"Drill starts\" }, { fault: { pause: { service: db } } }, { wait: 10s } ]`",
                );
                return None;
            }
        };
        let mut faults = Vec::new();
        let mut steps = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(obj) = self.obj(item, "a step", STEP_KEYS) else {
                ok = false;
                continue;
            };
            let kinds = obj.present(STEP_KINDS);
            let kind = match kinds.as_slice() {
                [one] => *one,
                [] => {
                    if !obj.had_unknown_key {
                        self.error_hint(
                            obj.pos,
                            "the step does nothing",
                            format!("give it one of {}", list_keys(STEP_KINDS)),
                        );
                    }
                    ok = false;
                    continue;
                }
                [first, second, ..] => {
                    self.error_hint(
                        second.pos,
                        format!("one step has both `{}` and `{}`", first.name, second.name),
                        "write one step per list item",
                    );
                    ok = false;
                    continue;
                }
            };
            if let Some(t) = obj.key("timeout")
                && kind.name != "manual"
            {
                self.error_hint(
                    t.pos,
                    "`timeout` applies to a `manual` step only",
                    "remove it, or use `wait:` for a pause",
                );
                ok = false;
            }
            let body = obj.get(&kind.name)?;
            let step = match kind.name.as_str() {
                "fault" => self.fault(body).map(|f| {
                    faults.push(f);
                    Step::Fault(faults.len() - 1)
                }),
                "wait" => self.duration(body, "`wait`").map(Step::Wait),
                "note" => self.name(body, "the note").map(Step::Note),
                _ => {
                    let manual = self.name(body, "the instruction");
                    let timeout = match obj.get("timeout") {
                        None => Some(MANUAL_TIMEOUT_DEFAULT),
                        Some(n) => self.duration(n, "`timeout`"),
                    };
                    match (manual, timeout) {
                        (Some(manual), Some(timeout)) => {
                            Some(Step::Manual(ManualStep { manual, timeout }))
                        }
                        _ => None,
                    }
                }
            };
            match step {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        if ok && faults.is_empty() {
            self.error_hint(
                node.pos,
                format!("the steps of {what} apply no fault"),
                "add a step like `- fault: { pause: { service: db } }`",
            );
            return None;
        }
        ok.then_some((faults, steps))
    }

    /// Decode every item of a list; `None` if the list or any item is bad.
    fn list<T>(
        &mut self,
        node: &Node,
        what: &str,
        mut item: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Option<Vec<T>> {
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!("expected {what} as a list, found {}", node.value.kind()),
                "start each item with `- `",
            );
            return None;
        };
        let decoded: Vec<Option<T>> = items.iter().map(|n| item(self, n)).collect();
        decoded.into_iter().collect()
    }

    fn fault_list(&mut self, node: &Node, what: &str) -> Option<Vec<Fault>> {
        let faults = self.list(node, "`faults`", |d, n| d.fault(n))?;
        if faults.is_empty() {
            self.error_hint(
                node.pos,
                format!("{what} has an empty list of faults"),
                "add at least one fault, e.g. `- pause: { service: db }`",
            );
            return None;
        }
        Some(faults)
    }

    fn fault(&mut self, node: &Node) -> Option<Fault> {
        let obj = self.obj(node, "a fault", FAULT_KINDS)?;
        let kinds = obj.present(FAULT_KINDS);
        let key = match kinds.as_slice() {
            [] => {
                if !obj.had_unknown_key {
                    self.error_hint(
                        obj.pos,
                        "the fault names no kind",
                        format!(
                            "write one of {}, e.g. `pause: {{ service: db }}`",
                            list_keys(FAULT_KINDS)
                        ),
                    );
                }
                return None;
            }
            [one] => *one,
            [_, second, ..] => {
                self.error_hint(
                    second.pos,
                    "one fault item names two kinds",
                    "use `faults:` with one list item per fault",
                );
                return None;
            }
        };
        let body = obj.get(&key.name)?;
        let what = format!("the `{}` fault", key.name);
        match key.name.as_str() {
            "kill" => {
                let (target, obj) = self.target(body, &what, KILL_KEYS)?;
                let signal = match obj.get("signal") {
                    None => Some("SIGKILL".to_string()),
                    Some(n) => self
                        .name(n, "the signal")
                        .and_then(|s| match parse_signal(&s) {
                            Ok(sig) => Some(sig),
                            Err(e) => {
                                self.error_hint(
                                    n.pos,
                                    e,
                                    format!("use one of {}", super::units::SIGNALS.join(", ")),
                                );
                                None
                            }
                        }),
                };
                let restore = obj
                    .get("restore")
                    .map(|n| self.boolean(n, "`restore`"))
                    .unwrap_or(Some(true));
                Some(Fault::Kill(KillFault {
                    target,
                    signal: signal?,
                    restore: restore?,
                }))
            }
            "stop" => {
                let (target, obj) = self.target(body, &what, STOP_KEYS)?;
                let timeout = obj
                    .get("timeout")
                    .map(|n| self.duration(n, "`timeout`"))
                    .unwrap_or(Some(HumanDuration::from_secs(10)));
                let restore = obj
                    .get("restore")
                    .map(|n| self.boolean(n, "`restore`"))
                    .unwrap_or(Some(true));
                Some(Fault::Stop(StopFault {
                    target,
                    timeout: timeout?,
                    restore: restore?,
                }))
            }
            "restart" => {
                let (target, obj) = self.target(body, &what, RESTART_KEYS)?;
                let timeout = obj
                    .get("timeout")
                    .map(|n| self.duration(n, "`timeout`"))
                    .unwrap_or(Some(HumanDuration::from_secs(10)));
                Some(Fault::Restart(RestartFault {
                    target,
                    timeout: timeout?,
                }))
            }
            "pause" => {
                let (target, _) = self.target(body, &what, &[])?;
                Some(Fault::Pause(PauseFault { target }))
            }
            "delay" => {
                let (target, obj) = self.target(body, &what, DELAY_KEYS)?;
                let latency = self
                    .require(&obj, "latency", &what, "200ms")
                    .and_then(|n| self.duration(n, "`latency`"));
                let jitter = obj.get("jitter").map(|n| self.duration(n, "`jitter`"));
                let correlation = obj
                    .get("correlation")
                    .map(|n| self.percent(n, "`correlation`"));
                let to = self.peers_opt(&obj, "to");
                let engine = self.engine(&obj);
                Some(Fault::Delay(DelayFault {
                    target,
                    latency: latency?,
                    jitter: optional(jitter)?,
                    correlation: optional(correlation)?,
                    to: to?,
                    engine: engine?,
                }))
            }
            "loss" => {
                let (target, obj) = self.target(body, &what, LOSS_KEYS)?;
                let percent = self
                    .require(&obj, "percent", &what, "10%")
                    .and_then(|n| self.positive_percent(n, "`percent`"));
                let correlation = obj
                    .get("correlation")
                    .map(|n| self.percent(n, "`correlation`"));
                let to = self.peers_opt(&obj, "to");
                let engine = self.engine(&obj);
                Some(Fault::Loss(LossFault {
                    target,
                    percent: percent?,
                    correlation: optional(correlation)?,
                    to: to?,
                    engine: engine?,
                }))
            }
            "duplicate" | "corrupt" => {
                let (target, obj) = self.target(body, &what, SHARE_KEYS)?;
                let percent = self
                    .require(&obj, "percent", &what, "5%")
                    .and_then(|n| self.positive_percent(n, "`percent`"));
                let to = self.peers_opt(&obj, "to");
                let engine = self.engine(&obj);
                let fault = PacketShareFault {
                    target,
                    percent: percent?,
                    to: to?,
                    engine: engine?,
                };
                Some(if key.name == "duplicate" {
                    Fault::Duplicate(fault)
                } else {
                    Fault::Corrupt(fault)
                })
            }
            "bandwidth" => {
                let (target, obj) = self.target(body, &what, BANDWIDTH_KEYS)?;
                let rate = self.require(&obj, "rate", &what, "1mbit").and_then(|n| {
                    let text = self.name(n, "`rate`")?;
                    match text.parse::<super::units::Rate>() {
                        Ok(r) => Some(r),
                        Err(e) => {
                            self.error_hint(n.pos, e, "write e.g. `rate: 1mbit`");
                            None
                        }
                    }
                });
                Some(Fault::Bandwidth(BandwidthFault {
                    target,
                    rate: rate?,
                }))
            }
            "partition" => {
                let (target, obj) = self.target(body, &what, PARTITION_KEYS)?;
                let from = self
                    .require(&obj, "from", &what, "[store]")
                    .and_then(|n| self.peers(n));
                let from = from?;
                if from.is_empty() {
                    self.error_hint(
                        obj.key("from")?.pos,
                        "`from` is empty",
                        "name the services to cut off, e.g. `from: [store]`",
                    );
                    return None;
                }
                if let Selector::Service(own) = &target.selector
                    && let Some(p) = from.iter().find(|p| &p.service == own)
                {
                    self.error_hint(
                        p.pos,
                        format!("a service cannot be partitioned from itself (`{own}`)"),
                        "name the other side of the partition",
                    );
                    return None;
                }
                Some(Fault::Partition(PartitionFault { target, from }))
            }
            _ => {
                let (target, obj) = self.target(body, &what, DISCONNECT_KEYS)?;
                let network = self
                    .require(&obj, "network", &what, "default")
                    .and_then(|n| self.name(n, "`network`"));
                Some(Fault::Disconnect(DisconnectFault {
                    target,
                    network: network?,
                }))
            }
        }
    }

    fn percent(&mut self, node: &Node, what: &str) -> Option<super::units::Percent> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a `%`, found `{i}`"),
                    format!("write `{i}%`"),
                );
                return None;
            }
            Value::Float(f) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a `%`, found `{f}`"),
                    format!("write `{f}%`"),
                );
                return None;
            }
            other => {
                self.error(
                    node.pos,
                    format!("expected {what} as a percentage, found {}", other.kind()),
                );
                return None;
            }
        };
        match text.parse::<super::units::Percent>() {
            Ok(p) => Some(p),
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {e}"),
                    "percentages look like `10%` or `0.5%`",
                );
                None
            }
        }
    }

    fn positive_percent(&mut self, node: &Node, what: &str) -> Option<super::units::Percent> {
        let p = self.percent(node, what)?;
        if p.0 <= 0.0 {
            self.error_hint(
                node.pos,
                format!("{what} must be greater than 0%"),
                "a fault that affects no packet does nothing",
            );
            return None;
        }
        Some(p)
    }

    /// A list of service names (or one name).
    fn peers(&mut self, node: &Node) -> Option<Vec<Peer>> {
        let one = |d: &mut Self, n: &Node| {
            d.name(n, "a service name").map(|service| Peer {
                service,
                pos: n.pos,
            })
        };
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .map(|n| one(self, n))
                .collect::<Vec<_>>()
                .into_iter()
                .collect(),
            Value::Str(_) => one(self, node).map(|p| vec![p]),
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected a list of services, found {}", other.kind()),
                    "write e.g. `[store, cache]`",
                );
                None
            }
        }
    }

    fn peers_opt(&mut self, obj: &Obj<'_>, key: &str) -> Option<Vec<Peer>> {
        match obj.get(key) {
            None => Some(Vec::new()),
            Some(n) => self.peers(n),
        }
    }

    fn engine(&mut self, obj: &Obj<'_>) -> Option<NetEngine> {
        match obj.get("engine") {
            None => Some(NetEngine::Auto),
            Some(n) => match self.name(n, "`engine`").as_deref() {
                Some("auto") => Some(NetEngine::Auto),
                Some("netem") => Some(NetEngine::Netem),
                Some("userspace") => Some(NetEngine::Userspace),
                Some(other) => {
                    self.error_hint(
                        n.pos,
                        format!("unknown engine `{other}`"),
                        "use `auto` (netem where the kernel has it, else userspace), `netem` or `userspace`",
                    );
                    None
                }
                None => None,
            },
        }
    }

    fn probe_ref<'p>(&mut self, node: &Node, probes: &'p [Probe]) -> Option<&'p Probe> {
        let name = self.name(node, "the probe name")?;
        let found = probes.iter().find(|p| p.name == name);
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
        found
    }

    fn expectation(&mut self, node: &Node, probes: &[Probe]) -> Option<Expectation> {
        let known: Vec<&'static str> = EXPECT_COMMON_KEYS
            .iter()
            .chain(Check::KEYS)
            .copied()
            .collect();
        let obj = self.obj(node, "an expectation", &known)?;
        let probe = self
            .require(&obj, "probe", "the expectation", "health")
            .and_then(|n| self.probe_ref(n, probes));
        let during = match obj.get("during") {
            None => None,
            Some(n) => match self.name(n, "`during`").as_deref() {
                Some("before") => Some(Window::Before),
                Some("fault") => Some(Window::Fault),
                Some("after") => Some(Window::After),
                Some(other) => {
                    self.error_hint(
                        n.pos,
                        format!("unknown window `{other}`"),
                        "use `before` (baseline), `fault` (while held) or `after` (revert to end of cooldown)",
                    );
                    return None;
                }
                None => return None,
            },
        };
        let checks = obj.present(Check::KEYS);
        let key = match checks.as_slice() {
            [] => {
                if !obj.had_unknown_key {
                    self.error_hint(
                        obj.pos,
                        "the expectation has no check",
                        format!("add one of {}", list_keys(Check::KEYS)),
                    );
                }
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                self.error_hint(
                    second.pos,
                    format!(
                        "one expectation has two checks, `{}` and `{}`",
                        first.name, second.name
                    ),
                    "write one expectation per check (one list item each)",
                );
                return None;
            }
        };
        let value = obj.get(&key.name)?;
        let check = match key.name.as_str() {
            "success_rate" => {
                Check::SuccessRate(self.comparison(value, "`success_rate`", ">= 99%")?)
            }
            "status" => Check::Status(self.status_spec(value)?),
            "latency_p50" => {
                Check::LatencyP50(self.comparison(value, "`latency_p50`", "< 200ms")?)
            }
            "latency_p95" => {
                Check::LatencyP95(self.comparison(value, "`latency_p95`", "< 500ms")?)
            }
            "latency_p99" => Check::LatencyP99(self.comparison(value, "`latency_p99`", "< 1s")?),
            "latency_max" => Check::LatencyMax(self.comparison(value, "`latency_max`", "< 2s")?),
            "recovers_within" => Check::RecoversWithin(self.duration(value, "`recovers_within`")?),
            "fails_within" => Check::FailsWithin(self.duration(value, "`fails_within`")?),
            "fires_within" => Check::FiresWithin(self.duration(value, "`fires_within`")?),
            "exit_code" => Check::ExitCode(self.exit_codes(value)?),
            "matches" => Check::Matches(self.comparison::<Number>(value, "`matches`", "> 0")?),
            "value" => Check::Value(self.comparison::<Number>(value, "`value`", "< 0.05")?),
            _ => {
                let text = self.name(value, "`state`")?;
                match text.parse::<ContainerState>() {
                    Ok(s) => Check::State(s),
                    Err(e) => {
                        let names: Vec<&str> =
                            ContainerState::ALL.iter().map(|s| s.name()).collect();
                        self.error_hint(value.pos, e, format!("use one of {}", names.join(", ")));
                        return None;
                    }
                }
            }
        };
        let probe = probe?;
        // recovers_within is measured from the revert, fails_within from the
        // apply: their window is fixed.
        let implied = match check {
            Check::RecoversWithin(_) => Some(Window::After),
            Check::FailsWithin(_) | Check::FiresWithin(_) => Some(Window::Fault),
            _ => None,
        };
        let during = match (implied, during) {
            (Some(w), Some(given)) if w != given => {
                let at = obj.key("during").map(|k| k.pos).unwrap_or(obj.pos);
                self.error_hint(
                    at,
                    format!(
                        "`{}` is always measured over `{}`, not `{}`",
                        key.name,
                        w.name(),
                        given.name()
                    ),
                    "remove `during:` from this expectation",
                );
                return None;
            }
            (Some(w), _) => w,
            (None, given) => given.unwrap_or_default(),
        };
        if !check_fits(&check, &probe.kind) {
            let fits: Vec<&str> = Check::KEYS
                .iter()
                .copied()
                .filter(|k| check_key_fits(k, &probe.kind))
                .collect();
            self.error_hint(
                key.pos,
                format!(
                    "`{}` does not apply to probe `{}`, which is {} probe",
                    key.name,
                    probe.name,
                    a_kind(&probe.kind)
                ),
                format!(
                    "{} probe can check {}",
                    a_kind(&probe.kind),
                    list_keys(&fits)
                ),
            );
            return None;
        }
        Some(Expectation {
            probe: probe.name.clone(),
            during,
            check,
            pos: obj.pos,
        })
    }

    fn halt_condition(&mut self, node: &Node, probes: &[Probe]) -> Option<HaltCondition> {
        let obj = self.obj(node, "a `halt_if` condition", HALT_KEYS)?;
        let probe = self
            .require(&obj, "probe", "the `halt_if` condition", "health")
            .and_then(|n| self.probe_ref(n, probes));
        let failing_for = self
            .require(&obj, "failing_for", "the `halt_if` condition", "15s")
            .and_then(|n| self.duration(n, "`failing_for`"));
        Some(HaltCondition {
            probe: probe?.name.clone(),
            failing_for: failing_for?,
            pos: obj.pos,
        })
    }
}

/// An optional key's decoded value: absent is `Some(None)`, present and
/// valid is `Some(Some(v))`, present and invalid (already reported) is `None`.
fn optional<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(Some(v)) => Some(Some(v)),
        Some(None) => None,
    }
}

fn a_kind(kind: &ProbeKind) -> String {
    match kind {
        ProbeKind::Http(_) | ProbeKind::Exec(_) | ProbeKind::Alert(_) => {
            format!("an {}", kind.name())
        }
        other => format!("a {}", other.name()),
    }
}

fn check_fits(check: &Check, kind: &ProbeKind) -> bool {
    check_key_fits(check.key(), kind)
}

/// Which checks make sense for which probe kind.
fn check_key_fits(key: &str, kind: &ProbeKind) -> bool {
    match key {
        "success_rate" | "recovers_within" | "fails_within" => true,
        "status" => matches!(kind, ProbeKind::Http(_)),
        "state" => matches!(kind, ProbeKind::Container(_)),
        "exit_code" => matches!(kind, ProbeKind::Exec(_) | ProbeKind::Command(_)),
        "matches" => matches!(kind, ProbeKind::Logs(_)),
        "value" => matches!(kind, ProbeKind::Prometheus(_) | ProbeKind::Alert(_)),
        "fires_within" => matches!(kind, ProbeKind::Alert(_)),
        _ => kind.has_latency(),
    }
}
