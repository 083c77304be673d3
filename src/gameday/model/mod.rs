//! The validated gameday: every value parsed, every default filled in, every
//! cross-reference checked. Built by [`super::decode`]; the JSON Schema of the
//! file (`gameday schema`) is generated from these types, so the schema and
//! the checks cannot drift apart (a test compares their key lists).
//!
//! Split by section as the file is: this module holds the file-level parts
//! (engines, scope, defaults); [`probes`], [`scenarios`] (with expectations
//! and steps) and [`faults`] hold the rest ([`families`] groups the fault
//! kinds by how they are made). Every kind of fault, probe, check
//! and step is also named by a small `Copy` enum ([`FaultKind`], [`ProbeType`],
//! [`CheckKind`], [`StepKind`]) listing its key in the file, so the decoder
//! picks each kind with an exhaustive `match`.

mod app_faults;
mod control;
mod deploy;
mod families;
mod faults;
mod probes;
mod scenarios;
mod trials;

pub use app_faults::*;
pub use control::*;
pub use deploy::*;
pub use families::*;
pub use faults::*;
pub use probes::*;
pub use scenarios::*;
pub use trials::*;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::units::HumanDuration;

/// A closed set of kinds, each named by its key in the gameday file:
/// `ALL`, `KEYS`, `key()` and `from_key()` are generated from one list, so
/// they cannot disagree.
macro_rules! keyed_kinds {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $key:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every kind, in the order the documentation lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The key of every kind, in the same order.
            pub const KEYS: &'static [&'static str] = &[$($key,)+];

            /// The key naming this kind in the file.
            pub fn key(self) -> &'static str {
                match self {
                    $($name::$variant => $key,)+
                }
            }

            /// The kind a key names, if any.
            pub fn from_key(key: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|k| k.key() == key)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.key())
            }
        }
    };
}
pub(crate) use keyed_kinds;

/// A gameday: scenarios run in order against one blast radius (`scope`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "gameday file")]
pub struct Gameday {
    /// The gameday's title, shown on every report.
    pub gameday: String,
    /// What the team wants to learn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who takes part and in which role: `Dana (coordinator)` or
    /// `{ name: Dana, role: coordinator }` (coordinator, observer, scribe, ...).
    /// Kept as `Name (role)`.
    #[serde(default)]
    #[schemars(with = "Vec<ParticipantEntry>")]
    pub participants: Vec<String>,
    /// The environment shown in the report: the one `--env` chose among
    /// `environments:`, else this text; `local` when not given.
    #[serde(default)]
    pub environment: String,
    /// Named environments, one file for a laptop and staging (`gameday run
    /// x.yaml --env staging`): each sets variables for `${VAR}`, and
    /// overrides the file's `docker:` (key by key) and `scope:`. `local`
    /// is the default and need not be declared. Kept here: the names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "BTreeMap<String, EnvironmentEntry>")]
    pub environments: Vec<String>,
    /// The `${VAR}`s put into the file, with where each came from (not
    /// part of the file).
    #[serde(skip)]
    pub variables: Vec<crate::gameday::vars::Substitution>,
    /// A link to the call recording or notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Which Docker engine to talk to; default `DOCKER_HOST`, then the local socket.
    #[serde(default)]
    pub docker: DockerConfig,
    /// More engines, by name (`db: { host: tcp://db-host:2376, tls: {...} }`);
    /// a target says `host: db` to be found there. The `docker:` engine is `default`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, HostEntry>")]
    pub hosts: BTreeMap<String, EngineSpec>,
    /// The blast radius: nothing outside it is ever touched.
    pub scope: Scope,
    /// Defaults for probes and phases.
    #[serde(default)]
    pub defaults: Defaults,
    /// Named probes, run continuously from the start of the baseline to the end of the last cooldown.
    #[serde(default)]
    pub probes: Probes,
    /// The scenarios, run in order.
    pub scenarios: Vec<Scenario>,
    /// The dead man's switch: while a fault is in place, a watchdog that
    /// does not share the runner's fate (a process of its own on this host,
    /// a helper container on a remote engine) reverts it if the runner has
    /// not renewed this lease in time (default 10s).
    #[serde(default = "default_lease")]
    pub lease: HumanDuration,
    /// Stop conditions of the whole gameday: any of them reverts every
    /// fault at once and aborts the scenarios left (exit 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_if: Vec<StopCondition>,
    /// Webhooks told of the run as it happens (never blocking it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Webhook>,
    /// Grafana annotations, one region per fault window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<Grafana>,
    /// The seed every random `pick` is made from (each target's own
    /// stream derived from it and the target's place); `--seed` overrides
    /// it; without either, one is drawn and recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Gameday {
    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.0.iter().find(|p| p.name == name)
    }
}

/// An engine of `hosts:` as the file may write one (for the schema).
#[derive(JsonSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "describes the file for the JSON Schema only")]
enum HostEntry {
    /// Just the address: `ssh://ops@db-1`.
    Address(String),
    Engine(EngineSpec),
}

/// One of `environments:` as the file writes it (for the schema).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "describes the file for the JSON Schema only")]
struct EnvironmentEntry {
    /// Values for `${VAR}` in this environment (`--var` and `--env-file`
    /// come before them, the process environment after); a value may
    /// name one of those (`TOKEN: ${STAGING_TOKEN}`).
    #[serde(default)]
    variables: BTreeMap<String, String>,
    /// The engine here, over the file's `docker:`, key by key.
    #[serde(default)]
    docker: Option<DockerConfig>,
    /// The blast radius here, instead of the file's `scope:`.
    #[serde(default)]
    scope: Option<Scope>,
}

/// A participant as the file may write one (for the schema).
#[derive(JsonSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "describes the file for the JSON Schema only")]
enum ParticipantEntry {
    /// `Dana (coordinator)`
    Text(String),
    Person {
        name: String,
        /// coordinator, observer, scribe, operator, ...
        #[serde(default)]
        role: Option<String>,
    },
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerConfig {
    /// `unix:///var/run/docker.sock`, `tcp://host:2376`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Client certificate, key and the CA that signed the engine's
    /// certificate, for a `tcp://` engine (as `docker --tlsverify`). Without
    /// it, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are used, as by the docker CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Allow a `tcp://` engine without TLS: anyone on the path can drive it
    /// (and see what gameday does). The report says so.
    #[serde(default)]
    pub insecure: bool,
    /// For an `ssh://` engine: the key and known_hosts file to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshOptions>,
    /// The engine's own socket on its host, which the watchdog container
    /// of a remote engine mounts (default `/var/run/docker.sock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// How network faults reach a container's namespace: `auto` (from this
    /// host when the engine is local and gameday runs as root, else a helper
    /// container), `host`, or `helper`.
    #[serde(default)]
    pub network_helper: NetworkHelper,
    /// The helper image (default `gameday-nethelper:latest`), installed by
    /// a run that needs it, or by `gameday helper install`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_image: Option<String>,
}

/// The helper image when the file names none (`gameday helper install`).
pub const DEFAULT_HELPER_IMAGE: &str = "gameday-nethelper:latest";

impl DockerConfig {
    /// The helper image: the file's `helper_image`, else the default.
    pub fn helper_image_or_default(&self) -> String {
        self.helper_image
            .clone()
            .unwrap_or_else(|| DEFAULT_HELPER_IMAGE.to_string())
    }

    /// Which engine, and how to reach it.
    pub fn engine_spec(&self) -> EngineSpec {
        EngineSpec {
            host: self.host.clone(),
            tls: self.tls.clone(),
            insecure: self.insecure,
            ssh: self.ssh.clone(),
            socket: self.socket.clone(),
        }
    }
}

/// How to reach one Docker engine. Recorded in the journal with every
/// fault, so `gameday recover` reaches the same engine the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// The engine's address; `None`: DOCKER_HOST, then the local socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshOptions>,
    /// The engine's own socket on its host, mounted into its watchdog
    /// container (default `/var/run/docker.sock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

/// How the `ssh` client reaches an `ssh://` engine, beyond the user's own
/// ssh configuration (which is used as it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshOptions {
    /// The private key to log in with (`ssh -i`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// A known_hosts file holding the host's key, checked strictly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
}

/// PEM files for mutual TLS with a Docker engine (paths as written, from
/// the directory gameday runs in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The CA that signed the engine's certificate (`ca.pem`).
    pub ca: String,
    /// This client's certificate (`cert.pem`).
    pub cert: String,
    /// This client's private key (`key.pem`).
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkHelper {
    #[default]
    Auto,
    /// Enter the namespace from this host (setns): local engine, root.
    Host,
    /// Run tc/iptables and the packet engine in a helper container sharing the namespace.
    Helper,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Only containers of this docker-compose project are targets.
    pub compose_project: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// How often a probe runs when it does not say (default 500ms).
    #[serde(default)]
    pub probe_every: HumanDuration,
    /// How long a probe may take when it does not say (default 2s).
    #[serde(default)]
    pub probe_timeout: HumanDuration,
    /// Steady-state check before the first fault (default 5s).
    #[serde(default)]
    pub baseline: HumanDuration,
    /// Observation time after each revert (default 5s).
    #[serde(default)]
    pub cooldown: HumanDuration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            probe_every: HumanDuration::from_millis(500),
            probe_timeout: HumanDuration::from_secs(2),
            baseline: HumanDuration::from_secs(5),
            cooldown: HumanDuration::from_secs(5),
        }
    }
}

/// The JSON Schema of the gameday file, as `gameday schema` prints it.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Gameday);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::decode::*;
    use super::*;

    /// Every property name a schema object accepts, through oneOf/anyOf/allOf
    /// (flattened enums), not through `$ref`.
    fn props(schema: &serde_json::Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(p) = schema.get("properties").and_then(|p| p.as_object()) {
            out.extend(p.keys().cloned());
        }
        for combinator in ["oneOf", "anyOf", "allOf"] {
            if let Some(list) = schema.get(combinator).and_then(|l| l.as_array()) {
                for item in list {
                    out.extend(props(item));
                }
            }
        }
        out
    }

    fn set(lists: &[&[&str]]) -> BTreeSet<String> {
        lists
            .iter()
            .flat_map(|l| l.iter().map(|s| s.to_string()))
            .collect()
    }

    /// The definition a tagged enum's variant `key` refers to.
    fn variant_def<'s>(
        schema: &'s serde_json::Value,
        enum_def: &str,
        key: &str,
    ) -> &'s serde_json::Value {
        let defs = &schema["$defs"];
        let variants = defs[enum_def]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{enum_def} is not a oneOf"));
        let reference = variants
            .iter()
            .find_map(|v| v["properties"][key]["$ref"].as_str())
            .unwrap_or_else(|| panic!("the schema of {enum_def} has no variant `{key}`"));
        &defs[reference.trim_start_matches("#/$defs/")]
    }

    /// The JSON Schema is generated from the model, the checks are written by
    /// hand in `decode`: they must accept exactly the same keys. Every kind
    /// is checked through its kind enum, so a new kind is covered here
    /// without editing this test; a kind the decoder does not know has no
    /// arm in its exhaustive `match` and does not compile.
    #[test]
    fn schema_and_decoder_accept_the_same_keys() {
        let schema = json_schema();
        let defs = &schema["$defs"];
        assert_eq!(props(&schema), set(&[GAMEDAY_KEYS]));
        assert_eq!(props(&defs["DockerConfig"]), set(&[DOCKER_KEYS]));
        assert_eq!(props(&defs["TlsFiles"]), set(&[TLS_KEYS]));
        assert_eq!(props(&defs["EngineSpec"]), set(&[HOST_KEYS]));
        assert_eq!(props(&defs["SshOptions"]), set(&[SSH_KEYS]));
        assert_eq!(props(&defs["Scope"]), set(&[SCOPE_KEYS]));
        assert_eq!(props(&defs["Defaults"]), set(&[DEFAULTS_KEYS]));
        assert_eq!(props(&defs["Scenario"]), set(&[SCENARIO_KEYS]));
        assert_eq!(
            props(&defs["Probe"]),
            set(&[ProbeType::KEYS, PROBE_COMMON_KEYS])
        );
        for kind in ProbeType::ALL {
            let (targeted, keys) = probe_keys(*kind);
            let target: &[&str] = if targeted { TARGET_KEYS } else { &[] };
            assert_eq!(
                props(variant_def(&schema, "Probe", kind.key())),
                set(&[target, keys]),
                "keys of the `{kind}` probe"
            );
        }
        assert_eq!(props(&defs["VersionFrom"]), set(&[VERSION_KEYS]));
        assert_eq!(props(&defs["Fault"]), set(&[FaultKind::KEYS]));
        for kind in FaultKind::ALL {
            assert_eq!(
                props(variant_def(&schema, "Fault", kind.key())),
                set(&[TARGET_KEYS, fault_keys(*kind)]),
                "keys of the `{kind}` fault"
            );
        }
        assert_eq!(
            props(&defs["Expectation"]),
            set(&[EXPECT_COMMON_KEYS, CheckKind::KEYS])
        );
        assert_eq!(props(&defs["HaltCondition"]), set(&[HALT_KEYS]));
        assert_eq!(props(&defs["Search"]), set(&[SEARCH_KEYS]));
        assert_eq!(props(&defs["Step"]), set(&[StepKind::KEYS]));
        assert_eq!(props(&defs["StopCondition"]), set(&[STOP_KEYS]));
        assert_eq!(props(&defs["ErrorBudget"]), set(&[BUDGET_KEYS]));
        assert_eq!(props(&defs["Webhook"]), set(&[WEBHOOK_KEYS]));
        assert_eq!(props(&defs["Grafana"]), set(&[GRAFANA_KEYS]));
    }
}
