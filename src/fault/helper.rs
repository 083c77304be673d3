//! The helper-container mode, for engines gameday cannot enter from this
//! host (a remote Docker engine): every `tc`/`iptables` command runs in a
//! short-lived container that shares the target's network namespace
//! (`--network container:ID`, NET_ADMIN), from an image holding those tools
//! and gameday itself (`scripts/build-nethelper-image`). The userspace packet
//! engine runs there too, as `gameday nfqueue-serve`, stopping by itself
//! after the fault's duration plus a margin if the runner never stops it.

use std::collections::HashMap;
use std::time::Duration;

use super::netns::NetExec;
use super::nfqueue::{PacketPlan, PacketServer};
use crate::docker::Engine;

/// Label on helper containers: the tag of the fault they serve.
pub(crate) const TAG_LABEL: &str = "gameday.helper.tag";

pub(crate) struct HelperExec {
    pub handle: tokio::runtime::Handle,
    pub engine: Engine,
    pub target: String,
    pub image: String,
    pub tag: String,
}

impl HelperExec {
    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            ("gameday.helper".to_string(), "1".to_string()),
            (TAG_LABEL.to_string(), self.tag.clone()),
        ])
    }
}

impl HelperExec {
    /// Run `argv` in a helper container sharing the target's namespace;
    /// its stdout, or why it failed.
    fn run_argv(&mut self, argv: Vec<String>) -> Result<String, String> {
        let labels = self.labels();
        self.handle.block_on(async {
            let id = self
                .engine
                .start_in_netns_of(&self.target, &self.image, &argv, labels)
                .await
                .map_err(|e| {
                    format!(
                        "cannot start the helper container from `{}`: {e} \
                         (build it with scripts/build-nethelper-image, or set docker.helper_image)",
                        self.image
                    )
                })?;
            let out = self
                .engine
                .finish(&id, false)
                .await
                .map_err(|e| e.to_string())?;
            if out.exit_code == 0 {
                Ok(out.stdout)
            } else {
                Err(format!(
                    "`{}` failed in the helper container: {}",
                    argv.join(" "),
                    out.stderr.trim()
                ))
            }
        })
    }
}

impl NetExec for HelperExec {
    fn run(&mut self, program: &str, args: &[&str]) -> Result<String, String> {
        let argv: Vec<String> = std::iter::once(format!("/usr/sbin/{program}"))
            .chain(args.iter().map(|a| a.to_string()))
            .collect();
        self.run_argv(argv)
    }

    fn forget_redirected(
        &mut self,
        redirects: &[super::conntrack::Redirect],
    ) -> Result<usize, String> {
        let mut argv = vec!["/gameday".to_string(), "conntrack-forget".to_string()];
        for r in redirects {
            argv.extend(["--redirect".to_string(), r.to_string()]);
        }
        let out = self.run_argv(argv)?;
        Ok(out
            .lines()
            .find_map(|l| l.strip_prefix("forgotten="))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0))
    }

    fn start_packet_server(
        &mut self,
        queue: u16,
        plan: PacketPlan,
        max_lifetime: Duration,
    ) -> Result<PacketServer, String> {
        let argv = vec![
            "/gameday".to_string(),
            "nfqueue-serve".to_string(),
            format!("--queue={queue}"),
            format!("--latency-us={}", plan.latency.as_micros()),
            format!("--jitter-us={}", plan.jitter.as_micros()),
            format!("--correlation={}", plan.correlation),
            format!("--loss={}", plan.loss),
            format!("--duplicate={}", plan.duplicate),
            format!("--corrupt={}", plan.corrupt),
            format!("--max-seconds={}", max_lifetime.as_secs()),
        ];
        let labels = self.labels();
        self.handle.block_on(async {
            let id = self
                .engine
                .start_in_netns_of(&self.target, &self.image, &argv, labels)
                .await
                .map_err(|e| {
                    format!("cannot start the packet engine from `{}`: {e}", self.image)
                })?;
            // Wait until it has bound the queue (it prints `ready`).
            for _ in 0..100 {
                let logs = self.engine.logs_so_far(&id).await.unwrap_or_default();
                if logs.contains("ready") {
                    return Ok(PacketServer::Helper {
                        engine: self.engine.clone(),
                        container_id: id,
                    });
                }
                if logs.contains("error") {
                    let _ = self.engine.finish(&id, true).await;
                    return Err(format!(
                        "the packet engine in the helper failed: {}",
                        logs.trim()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = self.engine.finish(&id, true).await;
            Err("the packet engine in the helper did not start within 5s".into())
        })
    }
}

/// Stop and remove every helper container still serving `tag` (a runner
/// that died leaves its packet engines behind).
pub(crate) async fn remove_leftovers(engine: &Engine, tag: &str) -> usize {
    let ids = engine
        .containers_labelled(TAG_LABEL, tag)
        .await
        .unwrap_or_default();
    for id in &ids {
        let _ = engine.finish(id, true).await;
    }
    ids.len()
}
