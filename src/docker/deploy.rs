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
    /// Its networks, with its aliases (not its own short ID, which the
    /// engine adds) and the address only when one was configured.
    pub endpoints: Vec<Endpoint>,
    /// `HostConfig.RestartPolicy` as the engine gave it.
    pub restart: Value,
    pub has_healthcheck: bool,
    /// The signal `docker stop` sends (default SIGTERM) and its grace.
    pub stop_signal: String,
    pub stop_timeout: Option<u64>,
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
        let host_config = serde_json::to_value(&info.host_config).unwrap_or(Value::Null);
        let mut body = match config {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        // The engine names a container's host after its ID unless told
        // otherwise: the new one gets its own.
        if body.get("Hostname").and_then(Value::as_str) == Some(short.as_str()) {
            body.remove("Hostname");
        }
        let restart = host_config
            .get("RestartPolicy")
            .cloned()
            .unwrap_or(Value::Null);
        body.insert("HostConfig".into(), host_config);
        let endpoints = info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(network, e)| Endpoint {
                network,
                aliases: e
                    .aliases
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| *a != short && *a != full_id)
                    .collect(),
                ipv4: e
                    .ipam_config
                    .and_then(|c| c.ipv4_address)
                    .filter(|ip| !ip.is_empty()),
            })
            .collect();
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
            body: Value::Object(body),
            endpoints,
            restart,
        })
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
        endpoints: &[Endpoint],
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
            .position(|e| e.network == mode)
            .or((!endpoints.is_empty()).then_some(0));
        if let Some(i) = first {
            let e = &endpoints[i];
            body.insert(
                "NetworkingConfig".into(),
                serde_json::json!({ "EndpointsConfig": { &e.network: endpoint_json(e) } }),
            );
        }
        let create: bollard::models::ContainerCreateBody =
            serde_json::from_value(Value::Object(body))
                .map_err(|e| DockerError::Unsupported(format!("cannot recreate {name}: {e}")))?;
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
        for (i, e) in endpoints.iter().enumerate() {
            if Some(i) != first
                && let Err(err) = self.connect_network(&created.id, e).await
            {
                let _ = self.remove_container(&created.id).await;
                return Err(err);
            }
        }
        Ok(created.id)
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

fn endpoint_json(e: &Endpoint) -> Value {
    let mut endpoint = serde_json::json!({ "Aliases": e.aliases });
    if let Some(ip) = &e.ipv4 {
        endpoint["IPAMConfig"] = serde_json::json!({ "IPv4Address": ip });
    }
    endpoint
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
}
