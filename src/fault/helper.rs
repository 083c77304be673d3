//! The helper-container mode, for engines gameday cannot enter from this
//! host (a remote Docker engine): every `tc`/`iptables` command runs in a
//! short-lived container that shares the target's network namespace
//! (`--network container:ID`, NET_ADMIN), from an image holding those tools
//! and gameday itself (assembled by `gameday helper install`, or by a run
//! that needs it). The userspace packet engine runs there too, as `gameday nfqueue-serve` (a worker, started by
//! [`crate::worker::launch`]), stopping by itself after the fault's
//! duration plus a margin if the runner never stops it, and so does
//! `gameday conntrack-forget`.

use std::collections::HashMap;
use std::time::Duration;

use super::netns::NetExec;
use super::nfqueue::{PacketPlan, PacketServer, PacketWork};
use crate::docker::Engine;
use crate::worker::serve::{in_place_detail, stopped_detail};
use crate::worker::{First, Parts, Placement, helper_labels, launch};

pub(crate) struct HelperExec {
    pub handle: tokio::runtime::Handle,
    pub engine: Engine,
    pub target: String,
    pub image: String,
    pub tag: String,
}

impl HelperExec {
    fn labels(&self) -> HashMap<String, String> {
        helper_labels(&self.tag)
    }

    /// A worker in a helper container sharing the target's namespace.
    fn placement(&self) -> Placement<'_> {
        Placement::Helper {
            engine: &self.engine,
            image: &self.image,
            target: &self.target,
            labels: self.labels(),
        }
    }
}

/// How long a short helper worker may take.
const HELPER_WITHIN: Duration = Duration::from_secs(20);
/// How long the packet engine may take to bind its queue.
const PACKETS_WITHIN: Duration = Duration::from_secs(5);

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
                         (install it with `{}`, or set docker.helper_image)",
                        self.image,
                        crate::worker::protocol::BUILD_HELPER_IMAGE
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
        let work = super::conntrack::ForgetWork {
            tag: self.tag.clone(),
            redirects: redirects.to_vec(),
        };
        let placement = self.placement();
        self.handle.block_on(async {
            let worker = launch(&work, placement, HELPER_WITHIN)
                .await
                .map_err(|e| e.to_string())?;
            let (lines, _) = worker.finish(HELPER_WITHIN).await;
            let last = lines.iter().rev().find_map(|l| stopped_detail(l));
            match last {
                Some(last) if last.starts_with("failed: ") => Err(format!(
                    "`conntrack-forget` failed in the helper container: {}",
                    last.trim_start_matches("failed: ")
                )),
                Some(last) => Ok(last
                    .strip_prefix("forgotten=")
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0)),
                None => Ok(0),
            }
        })
    }

    fn start_packet_server(
        &mut self,
        queue: u16,
        plan: PacketPlan,
        max_lifetime: Duration,
    ) -> Result<PacketServer, String> {
        let work = PacketWork {
            tag: self.tag.clone(),
            queue,
            plan,
            max_seconds: max_lifetime.as_secs(),
        };
        let placement = self.placement();
        self.handle.block_on(async {
            let worker = launch(&work, placement, PACKETS_WITHIN)
                .await
                .map_err(|e| format!("cannot start the packet engine: {e}"))?;
            // Wait until it has bound the queue (it says it is in place).
            match worker.first_line(PACKETS_WITHIN).await {
                (Some(worker), First::Line(line)) if in_place_detail(&line).is_some() => {
                    match worker.into_parts() {
                        // Its input and output let go: it stops on SIGTERM
                        // (the revert), and says what it did in its logs.
                        Parts::Helper { engine, id, .. } => Ok(PacketServer::Helper {
                            engine,
                            container_id: id,
                        }),
                        Parts::Local { .. } | Parts::Gone => {
                            Err("the packet engine is not in a helper container".to_string())
                        }
                    }
                }
                (Some(worker), First::Line(line)) => {
                    let _ = worker.finish(Duration::from_secs(2)).await;
                    Err(format!("the packet engine in the helper failed: {line}"))
                }
                (_, First::Ended { stderr, .. }) => Err(format!(
                    "the packet engine in the helper failed: {}",
                    stderr.trim()
                )),
                (_, First::TimedOut) | (None, First::Line(_)) => Err(format!(
                    "the packet engine in the helper did not start within {}s",
                    PACKETS_WITHIN.as_secs()
                )),
            }
        })
    }
}
