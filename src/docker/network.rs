//! A container's network namespace and attachments: its PID (to enter the
//! namespace from this host), its endpoints, disconnecting and reconnecting
//! it with the same aliases and address, its network mode.

use super::*;

/// A container's attachment to a network, as needed to reconnect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<String>,
}

impl Engine {
    /// The PID of the container's first process (0 when not running).
    pub async fn pid(&self, id: &str) -> Result<i64, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        Ok(info.state.and_then(|s| s.pid).unwrap_or(0))
    }

    /// The container's networks with its aliases and IPv4 address on each.
    pub async fn endpoints(&self, id: &str) -> Result<Vec<Endpoint>, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let networks = info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        let mut list: Vec<Endpoint> = networks
            .into_iter()
            .map(|(network, e)| Endpoint {
                network,
                aliases: e.aliases.unwrap_or_default(),
                ipv4: e.ip_address.filter(|ip| !ip.is_empty()),
            })
            .collect();
        list.sort_by(|a, b| a.network.cmp(&b.network));
        Ok(list)
    }

    pub async fn disconnect(&self, id: &str, network: &str) -> Result<(), DockerError> {
        self.client
            .disconnect_network(
                network,
                bollard::models::NetworkDisconnectRequest {
                    container: id.to_string(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| DockerError::classify(e, network))
    }

    /// Connect with the given aliases, and the given address when the
    /// network allows choosing one (user-configured subnets only).
    pub async fn connect_network(&self, id: &str, endpoint: &Endpoint) -> Result<(), DockerError> {
        let request = |with_ip: bool| bollard::models::NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: Some(bollard::models::EndpointSettings {
                aliases: Some(endpoint.aliases.clone()),
                ipam_config: endpoint.ipv4.clone().filter(|_| with_ip).map(|ip| {
                    bollard::models::EndpointIpamConfig {
                        ipv4_address: Some(ip),
                        ..Default::default()
                    }
                }),
                ..Default::default()
            }),
        };
        match self
            .client
            .connect_network(&endpoint.network, request(true))
            .await
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("user configured subnets")
                    || message.contains("user specified IP") =>
            {
                // The network assigns addresses itself: same aliases, next free address.
                self.client
                    .connect_network(&endpoint.network, request(false))
                    .await
                    .map_err(|e| DockerError::classify(e, &endpoint.network))
            }
            Err(e) => Err(DockerError::classify(e, &endpoint.network)),
        }
    }
}

impl Engine {
    /// A container's network mode (`container:<id>` for helpers).
    pub async fn network_mode(&self, id: &str) -> Result<Option<String>, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        Ok(info.host_config.and_then(|h| h.network_mode))
    }
}
