//! Images as a whole: what an image at a tag is (its id, labels, size),
//! loading an image archive (`docker load`'s format) through the API, and
//! removing an image nothing uses. Nothing is ever pulled.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{ImportImageOptions, ListContainersOptions, RemoveImageOptions};
use futures_util::StreamExt;

use super::{DockerError, Engine};

/// What an engine holds at a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageFacts {
    /// `sha256:...`
    pub id: String,
    pub labels: BTreeMap<String, String>,
    /// Bytes, as the engine counts them.
    pub size: u64,
}

impl Engine {
    /// The image at `image` (a tag or an id), if the engine has one.
    pub(crate) async fn image_facts(&self, image: &str) -> Result<Option<ImageFacts>, DockerError> {
        match self.client.inspect_image(image).await {
            Ok(inspect) => Ok(Some(ImageFacts {
                id: inspect.id.unwrap_or_default(),
                labels: inspect
                    .config
                    .and_then(|c| c.labels)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                size: inspect.size.unwrap_or(0).max(0).unsigned_abs(),
            })),
            Err(e) => match DockerError::classify(e, image) {
                DockerError::NotFound(_) => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Load an image archive (what `docker save` writes: `manifest.json`,
    /// the config, the layers), tagged as its manifest says.
    pub(crate) async fn load_image(&self, archive: Vec<u8>) -> Result<(), DockerError> {
        let body = bollard::body_full(hyper::body::Bytes::from(archive));
        let mut stream = self.client.import_image(
            ImportImageOptions {
                quiet: true,
                ..Default::default()
            },
            body,
            None,
        );
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::classify(e, "image archive"))?;
            if let Some(error) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Conflict(error));
            }
        }
        Ok(())
    }

    /// How many containers of the image `id` there are (`all`: stopped
    /// ones too).
    pub(crate) async fn image_users(&self, id: &str, all: bool) -> Result<usize, DockerError> {
        let users = self
            .client
            .list_containers(Some(ListContainersOptions {
                all,
                filters: Some(HashMap::from([(
                    "ancestor".to_string(),
                    vec![id.to_string()],
                )])),
                ..Default::default()
            }))
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        Ok(users.len())
    }

    /// Remove the image `id` unless a container (running or not) uses it
    /// or it still has a tag: true when it was removed.
    pub(crate) async fn remove_unused_image(&self, id: &str) -> Result<bool, DockerError> {
        if self.image_users(id, true).await? > 0 {
            return Ok(false);
        }
        if let Some(facts) = self.client.inspect_image(id).await.ok()
            && facts.repo_tags.is_some_and(|t| !t.is_empty())
        {
            return Ok(false);
        }
        match self
            .client
            .remove_image(
                id,
                Some(RemoveImageOptions {
                    force: false,
                    noprune: false,
                    ..Default::default()
                }),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match DockerError::classify(e, id) {
                DockerError::NotFound(_) | DockerError::Conflict(_) => Ok(false),
                e => Err(e),
            },
        }
    }
}
