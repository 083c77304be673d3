//! What a deploy needs of the engine: a replica's configuration read back
//! as the body that creates it again, an image's defaults (so a new image
//! brings its own), and the calls that set a container aside, create its
//! replacement and put it back.

use serde_json::{Map, Value};

use super::*;

/// The label a deploy puts on the containers it creates: its fault's tag,
/// so a rollback removes only what its own deploy made.
pub(crate) const DEPLOY_LABEL: &str = "gameday.deploy";

/// A replica as the engine runs it, read back to be created again.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// The image it runs, by ID.
    pub image_id: String,
    /// The image as it was asked for (`Config.Image`: `shop-api:2.4.1`).
    pub image_ref: String,
    /// `Config` with `HostConfig` in it: the body that creates it again,
    /// without its networks.
    pub body: Value,
    /// Its networks, each with its endpoint settings as the engine takes
    /// them: aliases (not its own short ID, which the engine adds), links,
    /// driver options, and the addresses only when they were configured.
    pub endpoints: Vec<(String, Value)>,
    /// `HostConfig.RestartPolicy` as the engine gave it.
    pub restart: Value,
    pub has_healthcheck: bool,
    /// The signal `docker stop` sends (default SIGTERM) and its grace.
    pub stop_signal: String,
    pub stop_timeout: Option<u64>,
    pub running: bool,
}

/// An image's own defaults (`Config` of the image), which a container
/// created from it inherits unless it sets its own.
#[derive(Debug, Clone)]
pub(crate) struct ImageDefaults {
    pub id: String,
    pub config: Value,
}

impl Engine {
    /// A container read back as the body that creates it again.
    pub(crate) async fn replica(&self, id: &str) -> Result<Replica, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let full_id = info.id.clone().unwrap_or_default();
        let short = full_id.get(..12).unwrap_or(&full_id).to_string();
        let name = info
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        let config = serde_json::to_value(&info.config).unwrap_or(Value::Null);
        let mut host_config = serde_json::to_value(&info.host_config).unwrap_or(Value::Null);
        let mut body = match config {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mode = host_config
            .get("NetworkMode")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The engine names a container's host after its ID unless told
        // otherwise, and one in another's network namespace after that
        // one (and refuses a hostname given with such a mode): the new
        // one gets its own.
        if mode.starts_with("container:") {
            body.remove("Hostname");
            body.remove("Domainname");
        } else if body.get("Hostname").and_then(Value::as_str) == Some(short.as_str()) {
            body.remove("Hostname");
        }
        let restart = host_config
            .get("RestartPolicy")
            .cloned()
            .unwrap_or(Value::Null);
        // Its anonymous volumes (an image's `VOLUME`, no name given) go to
        // its replacement by name, as compose carries them over: the data
        // stays, and no volume is left behind.
        let anonymous: Vec<Value> = info
            .mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| {
                m.typ.as_deref() == Some("volume")
                    && m.name.as_ref().is_some_and(|n| is_anonymous(n))
            })
            .filter_map(|m| {
                let (name, dest) = (m.name?, m.destination?);
                let ro = if m.rw == Some(false) { ":ro" } else { "" };
                Some(Value::String(format!("{name}:{dest}{ro}")))
            })
            .collect();
        if !anonymous.is_empty()
            && let Some(h) = host_config.as_object_mut()
        {
            let binds = h.entry("Binds").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(binds) = binds {
                binds.extend(anonymous);
            } else {
                *binds = Value::Array(anonymous);
            }
        }
        body.insert("HostConfig".into(), host_config);
        let networks = serde_json::to_value(info.network_settings.and_then(|n| n.networks))
            .unwrap_or(Value::Null);
        let endpoints = match networks {
            Value::Object(networks) => networks
                .into_iter()
                .map(|(network, e)| (network, endpoint_of(&e, &short, &full_id)))
                .collect(),
            _ => Vec::new(),
        };
        let config = info.config.unwrap_or_default();
        Ok(Replica {
            id: full_id,
            name,
            image_id: info.image.unwrap_or_default(),
            image_ref: config.image.clone().unwrap_or_default(),
            has_healthcheck: config
                .healthcheck
                .as_ref()
                .and_then(|h| h.test.as_ref())
                .is_some_and(|t| t.first().is_some_and(|k| k != "NONE")),
            stop_signal: config
                .stop_signal
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "SIGTERM".into()),
            stop_timeout: config.stop_timeout.and_then(|t| u64::try_from(t).ok()),
            running: info.state.and_then(|s| s.running).unwrap_or(false),
            body: Value::Object(body),
            endpoints,
            restart,
        })
    }

    /// The container of exactly this name (never one whose ID merely
    /// starts with it): its ID and labels.
    pub(crate) async fn named(
        &self,
        name: &str,
    ) -> Result<Option<(String, HashMap<String, String>)>, DockerError> {
        match self.client.inspect_container(name, None).await {
            Ok(info) if info.name.as_deref().map(|n| n.trim_start_matches('/')) == Some(name) => {
                Ok(Some((
                    info.id.unwrap_or_default(),
                    info.config.and_then(|c| c.labels).unwrap_or_default(),
                )))
            }
            Ok(_) => Ok(None),
            Err(e) => match DockerError::classify(e, name) {
                DockerError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// An image on the engine, by reference or ID; `None` when the engine
    /// does not have it (nothing is ever pulled).
    pub(crate) async fn image_defaults(
        &self,
        reference: &str,
    ) -> Result<Option<ImageDefaults>, DockerError> {
        match self.client.inspect_image(reference).await {
            Ok(image) => Ok(Some(ImageDefaults {
                id: image.id.clone().unwrap_or_default(),
                config: serde_json::to_value(&image.config).unwrap_or(Value::Null),
            })),
            Err(e) => match DockerError::classify(e, reference) {
                DockerError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Create (not start) a container named `name` from `body`, on its
    /// networks: the first given at creation (API 1.41 takes one), the
    /// others connected before it starts. Returns its ID.
    pub(crate) async fn create_replica(
        &self,
        name: &str,
        body: Value,
        endpoints: &[(String, Value)],
    ) -> Result<String, DockerError> {
        let mut body = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mode = body
            .get("HostConfig")
            .and_then(|h| h.get("NetworkMode"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The network the container is created on: its network mode's,
        // when that names one of its networks, else its first.
        let first = endpoints
            .iter()
            .position(|(network, _)| *network == mode)
            .or((!endpoints.is_empty()).then_some(0));
        if let Some(i) = first {
            let (network, e) = &endpoints[i];
            body.insert(
                "NetworkingConfig".into(),
                serde_json::json!({ "EndpointsConfig": { network: e } }),
            );
        }
        let unsupported =
            |e: serde_json::Error| DockerError::Unsupported(format!("cannot recreate {name}: {e}"));
        let create: bollard::models::ContainerCreateBody =
            serde_json::from_value(Value::Object(body)).map_err(unsupported)?;
        let created = self
            .client
            .create_container(
                Some(bollard::query_parameters::CreateContainerOptions {
                    name: Some(name.to_string()),
                    ..Default::default()
                }),
                create,
            )
            .await
            .map_err(|e| DockerError::classify(e, name))?;
        for (i, (network, e)) in endpoints.iter().enumerate() {
            if Some(i) == first {
                continue;
            }
            let connected = match serde_json::from_value(e.clone()) {
                Ok(endpoint_config) => self
                    .client
                    .connect_network(
                        network,
                        bollard::models::NetworkConnectRequest {
                            container: created.id.clone(),
                            endpoint_config: Some(endpoint_config),
                        },
                    )
                    .await
                    .map_err(|e| DockerError::classify(e, network)),
                Err(e) => Err(unsupported(e)),
            };
            if let Err(err) = connected {
                let _ = self.remove_replacement(&created.id).await;
                return Err(err);
            }
        }
        Ok(created.id)
    }

    /// Remove a deploy's replacement with the anonymous volumes only it
    /// used (those it shares with the kept replica stay: they are in use,
    /// and named in its binds).
    pub(crate) async fn remove_replacement(&self, id: &str) -> Result<(), DockerError> {
        self.remove_forced(id, true).await
    }

    pub(crate) async fn rename(&self, id: &str, name: &str) -> Result<(), DockerError> {
        self.client
            .rename_container(
                id,
                bollard::query_parameters::RenameContainerOptions {
                    name: name.to_string(),
                },
            )
            .await
            .map_err(|e| DockerError::classify(e, id))
    }

    /// Set a container's restart policy (`HostConfig.RestartPolicy` as
    /// the engine gives it).
    pub(crate) async fn set_restart_policy(
        &self,
        id: &str,
        policy: &Value,
    ) -> Result<(), DockerError> {
        let restart_policy = serde_json::from_value(policy.clone()).ok();
        self.client
            .update_container(
                id,
                bollard::models::ContainerUpdateBody {
                    restart_policy,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| DockerError::classify(e, id))
    }
}

/// An endpoint's settings as a create or a connect takes them again: what
/// was configured (aliases less the container's own IDs, the addresses
/// asked for, links, driver options), nothing the engine assigned.
fn endpoint_of(e: &Value, short: &str, full: &str) -> Value {
    let mut out = Map::new();
    let aliases: Vec<Value> = e
        .get("Aliases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a.as_str().is_some_and(|a| a != short && a != full))
        .cloned()
        .collect();
    out.insert("Aliases".into(), Value::Array(aliases));
    for key in ["IPAMConfig", "Links", "DriverOpts"] {
        if let Some(v) = e.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// A volume name the engine made up: 64 hex digits.
fn is_anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The body of a replica to be created from `image`: what the replica
/// took from its old image's defaults (`old`) is left out, so that the
/// new image brings its own (its environment, command, labels, health
/// check); what the replica set itself is kept. `label` marks it as the
/// deploy's.
pub(crate) fn body_for_image(
    replica: &Replica,
    old: Option<&ImageDefaults>,
    image: &str,
    label: (&str, &str),
) -> Value {
    let mut body = match &replica.body {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    if let Some(old) = old {
        strip_defaults(&mut body, &old.config);
    }
    body.insert("Image".into(), Value::String(image.to_string()));
    let labels = body
        .entry("Labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    labels[label.0] = Value::String(label.1.to_string());
    Value::Object(body)
}

/// Remove from a container's `Config` what equals its image's defaults.
fn strip_defaults(body: &mut Map<String, Value>, image: &Value) {
    const WHOLE: &[&str] = &[
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "Healthcheck",
        "StopSignal",
        "Shell",
        "OnBuild",
    ];
    for key in WHOLE {
        if image.get(*key).is_some_and(|v| !v.is_null()) && body.get(*key) == image.get(*key) {
            body.remove(*key);
        }
    }
    // Entries: those the image set, with the same value, go.
    if let (Some(Value::Array(env)), Some(Value::Array(defaults))) =
        (body.get_mut("Env"), image.get("Env"))
    {
        env.retain(|e| !defaults.contains(e));
    }
    for key in ["Labels", "ExposedPorts", "Volumes"] {
        if let (Some(Value::Object(mine)), Some(Value::Object(defaults))) =
            (body.get_mut(key), image.get(key))
        {
            mine.retain(|k, v| defaults.get(k) != Some(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_image_brings_its_own_defaults_and_the_replicas_own_settings_stay() {
        let replica = Replica {
            id: "abc".into(),
            name: "shop_api_1".into(),
            image_id: "sha256:1".into(),
            image_ref: "shop-api:1".into(),
            body: serde_json::json!({
                "Image": "shop-api:1",
                "Env": ["PATH=/bin", "VERSION=1", "DB_URL=postgres://db"],
                "Cmd": ["serve"],
                "Entrypoint": ["/shop"],
                "Labels": { "com.docker.compose.service": "api", "org.version": "1" },
                "HostConfig": { "NetworkMode": "shop_default" }
            }),
            endpoints: vec![],
            restart: Value::Null,
            has_healthcheck: false,
            stop_signal: "SIGTERM".into(),
            stop_timeout: None,
            running: true,
        };
        let old = ImageDefaults {
            id: "sha256:1".into(),
            config: serde_json::json!({
                "Env": ["PATH=/bin", "VERSION=1"],
                "Entrypoint": ["/shop"],
                "Labels": { "org.version": "1" }
            }),
        };
        let body = body_for_image(&replica, Some(&old), "shop-api:2", ("gameday.deploy", "t"));
        assert_eq!(body["Image"], "shop-api:2");
        assert_eq!(body["Env"], serde_json::json!(["DB_URL=postgres://db"]));
        assert_eq!(
            body["Cmd"],
            serde_json::json!(["serve"]),
            "set by the replica"
        );
        assert!(body.get("Entrypoint").is_none(), "the image's own");
        assert_eq!(
            body["Labels"],
            serde_json::json!({ "com.docker.compose.service": "api", "gameday.deploy": "t" })
        );
        assert_eq!(body["HostConfig"]["NetworkMode"], "shop_default");
    }

    #[test]
    fn an_endpoint_keeps_what_was_configured_and_not_the_containers_own_ids() {
        let e = serde_json::json!({
            "Aliases": ["api", "0123456789ab"],
            "IPAMConfig": { "IPv4Address": "10.0.0.5", "IPv6Address": "fd00::5" },
            "Links": ["db:database"],
            "IPAddress": "10.0.0.5",
            "NetworkID": "n1",
            "EndpointID": "e1"
        });
        let kept = endpoint_of(&e, "0123456789ab", "0123456789abcdef");
        assert_eq!(
            kept,
            serde_json::json!({
                "Aliases": ["api"],
                "IPAMConfig": { "IPv4Address": "10.0.0.5", "IPv6Address": "fd00::5" },
                "Links": ["db:database"]
            })
        );
        assert!(is_anonymous(&"ab".repeat(32)));
        assert!(!is_anonymous("shop_data"));
    }
}
