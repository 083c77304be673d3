//! What `recover --scope` reads of containers to find what gameday may
//! have left without a journal: whose namespaces a helper container
//! shares, where a target's filesystems are mounted, and the OOM score its
//! configuration gives its processes.

use super::*;

/// What a sweep needs to know of a target container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SweepView {
    /// Where its own filesystems are mounted: its volumes, binds and tmpfs.
    pub mounts: Vec<String>,
    /// The `oom_score_adj` its configuration gives its processes (Docker's
    /// `--oom-score-adj`, 0 unless set).
    pub oom_score_adj: i64,
}

impl Engine {
    /// Whose network and PID namespaces container `id` shares: its
    /// `NetworkMode` and `PidMode` (`container:<id>` when it shares one).
    pub(crate) async fn shared_namespaces(
        &self,
        id: &str,
    ) -> Result<(String, String), DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let host = info.host_config.unwrap_or_default();
        Ok((
            host.network_mode.unwrap_or_default(),
            host.pid_mode.unwrap_or_default(),
        ))
    }

    /// Where container `id`'s filesystems are mounted, and its configured
    /// OOM score.
    pub(crate) async fn sweep_view(&self, id: &str) -> Result<SweepView, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let host = info.host_config.unwrap_or_default();
        let mut mounts: Vec<String> = info
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.destination)
            .chain(host.tmpfs.unwrap_or_default().into_keys())
            .collect();
        mounts.sort();
        mounts.dedup();
        Ok(SweepView {
            mounts,
            oom_score_adj: host.oom_score_adj.unwrap_or(0),
        })
    }
}
