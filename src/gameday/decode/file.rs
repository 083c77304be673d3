//! The top level of a gameday file: title, participants, engines
//! (`docker:`, `hosts:`), scope and defaults.

use std::collections::BTreeMap;

use super::*;

pub(crate) const GAMEDAY_KEYS: &[&str] = &[
    "gameday",
    "description",
    "participants",
    "environment",
    "environments",
    "recording",
    "docker",
    "hosts",
    "scope",
    "defaults",
    "probes",
    "scenarios",
    "lease",
    "stop_if",
    "notify",
    "grafana",
    "seed",
];
pub(crate) const DOCKER_KEYS: &[&str] = &[
    "host",
    "tls",
    "insecure",
    "ssh",
    "socket",
    "network_helper",
    "helper_image",
];
pub(crate) const TLS_KEYS: &[&str] = &["ca", "cert", "key"];
pub(crate) const HOST_KEYS: &[&str] = &["host", "tls", "insecure", "ssh", "socket"];
pub(crate) const SSH_KEYS: &[&str] = &["identity", "known_hosts"];
pub(crate) const PARTICIPANT_KEYS: &[&str] = &["name", "role"];
/// The name of the `docker:` engine among `hosts:`.
pub(crate) const DEFAULT_HOST: &str = "default";
pub(crate) const SCOPE_KEYS: &[&str] = &["compose_project"];
pub(crate) const DEFAULTS_KEYS: &[&str] = &["probe_every", "probe_timeout", "baseline", "cooldown"];

impl Decoder<'_> {
    pub(super) fn gameday(&mut self, root: &Node) -> Option<Gameday> {
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
        let lease = match obj.get("lease") {
            None => default_lease(),
            Some(n) => self.lease(n).unwrap_or_else(default_lease),
        };
        let stop_if = obj
            .get("stop_if")
            .and_then(|n| self.list(n, "`stop_if`", |d, item| d.stop_condition(item, &probes)))
            .unwrap_or_default();
        let notify = obj
            .get("notify")
            .and_then(|n| self.list(n, "`notify`", |d, item| d.webhook(item)))
            .unwrap_or_default();
        let grafana = obj.get("grafana").and_then(|n| self.grafana(n));
        let seed = optional(obj.get("seed").map(|n| self.seed(n)));
        Some(Gameday {
            gameday: title?,
            description,
            participants,
            environment,
            environments: Vec::new(),
            variables: Vec::new(),
            recording,
            docker,
            hosts,
            scope: scope?,
            defaults,
            probes: Probes(probes),
            scenarios,
            lease,
            stop_if,
            notify,
            grafana,
            seed: seed?,
        })
    }

    pub(super) fn participants(&mut self, node: &Node) -> Vec<String> {
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

    pub(super) fn docker(&mut self, node: &Node) -> DockerConfig {
        let Some(obj) = self.obj(node, "`docker`", DOCKER_KEYS) else {
            return DockerConfig::default();
        };
        let EngineSpec {
            host,
            tls,
            insecure,
            ssh,
            socket,
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
            socket,
            network_helper,
            helper_image,
        }
    }

    /// `host`, `tls` and `insecure` of `docker:` or of a `hosts:` entry.
    pub(super) fn engine_fields(&mut self, obj: &Obj<'_>) -> EngineSpec {
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
        let socket = obj.get("socket").and_then(|n| {
            let path = self.name(n, "the engine's socket")?;
            if path.starts_with('/') {
                Some(path)
            } else {
                self.error_hint(
                    n.pos,
                    format!("expected the engine's socket as an absolute path on its host, found `{path}`"),
                    "write the path the engine listens on, e.g. `/var/run/docker.sock`",
                );
                None
            }
        });
        EngineSpec {
            host,
            tls,
            insecure,
            ssh,
            socket,
        }
    }

    /// `hosts:`: more engines by name.
    pub(super) fn hosts(&mut self, node: &Node) -> BTreeMap<String, EngineSpec> {
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

    pub(super) fn tls_files(&mut self, node: &Node) -> Option<TlsFiles> {
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

    pub(super) fn scope(&mut self, node: &Node) -> Option<Scope> {
        let obj = self.obj(node, "`scope`", SCOPE_KEYS)?;
        let project = self
            .require(&obj, "compose_project", "`scope`", "demo")
            .and_then(|n| self.name(n, "the compose project"))?;
        Some(Scope {
            compose_project: project,
        })
    }

    pub(super) fn defaults(&mut self, node: &Node) -> Defaults {
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
}
