//! The witnesses of gameday's markers (the claim, the halt marker): a named
//! volume beside each marker container, labelled as the marker is. A marker
//! is a created, never-started container, which `docker container prune`
//! and `system prune` remove; the volume they leave says who held it. The
//! engine creates a volume name once (a second create returns the first
//! volume, labels and all), and `volume prune` keeps a volume that a
//! container, the marker itself, mounts.

use super::*;

/// Where a marker container mounts its witness.
const WITNESS_AT: &str = "/.gameday-marker";

/// The bind that mounts the witness of marker `name` (the volume of the
/// same name) in it, read only and empty.
pub(super) fn witness_bind(name: &str) -> String {
    format!("{name}:{WITNESS_AT}:ro,nocopy")
}

impl Engine {
    /// The volume `name`, created with `labels` if there is none: its
    /// labels as they are. When it was there already, its own labels come
    /// back (whoever created it first named themselves).
    pub(crate) async fn witness(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<HashMap<String, String>, DockerError> {
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        };
        let volume = self
            .client
            .create_volume(request)
            .await
            .map_err(|e| DockerError::classify(e, name))?;
        Ok(volume.labels)
    }

    /// The labels of the volume `name`, if there is one.
    pub(crate) async fn witness_labels(
        &self,
        name: &str,
    ) -> Result<Option<HashMap<String, String>>, DockerError> {
        match self.client.inspect_volume(name).await {
            Ok(volume) => Ok(Some(volume.labels)),
            Err(e) => match DockerError::classify(e, name) {
                DockerError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Remove the volume `name`; one that is gone is fine, one a container
    /// still mounts is refused ([`DockerError::Conflict`]).
    pub(crate) async fn remove_witness(&self, name: &str) -> Result<(), DockerError> {
        match self
            .client
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match DockerError::classify(e, name) {
                DockerError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }
}
