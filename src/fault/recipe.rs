//! [`RevertRecipe`]: how to undo a fault, as plain data journalled (and
//! fsynced) before the fault is applied, and `execute`, which the run, the
//! watchdog and `recover` all call: one call per recipe, to the revert
//! beside its fault's apply (`container`, `net`, `disconnect`, `process`,
//! `stress`, `script`). Executing a recipe is idempotent.

use super::*;
use crate::gameday::model::ScriptPlace;

/// How to undo a fault, as data: journalled before the fault is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum RevertRecipe {
    /// Unpause the container if it is paused.
    Unpause {
        container_id: String,
        container_name: String,
    },
    /// Start the container if it is not running, and wait until it runs.
    Start {
        container_id: String,
        container_name: String,
    },
    /// Nothing to undo (`restore: false`): the container is left as the fault left it.
    Nothing {
        container_id: String,
        container_name: String,
    },
    /// Remove the iptables rules tagged `tag` and the fault's own root
    /// qdisc from the container's network namespace, and forget the flows
    /// its redirects translated.
    NetRules {
        container_id: String,
        container_name: String,
        tag: String,
        /// Set when the namespace is reached through a helper container
        /// (a remote engine): the helper image to use.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        helper_image: Option<String>,
        /// The root qdisc the fault adds, by its handle (absent from a
        /// recipe journalled before each fault had its own: `6764:`).
        #[serde(default)]
        qdisc: qdisc::OwnQdisc,
    },
    /// SIGCONT to the container's processes matching `pattern` (the
    /// `process` fault's SIGSTOP), found again on this host.
    Continue {
        container_id: String,
        container_name: String,
        pattern: String,
        pid1: bool,
    },
    /// Kill the stress workers tagged `tag` on this host and remove the
    /// files they wrote in the container (`io_stress`, `disk_fill`).
    Stress {
        container_id: String,
        container_name: String,
        tag: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
        /// `memory_stress`: the container's processes' OOM scores before
        /// they were raised, put back.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        oom_scores: Vec<stress::OomScore>,
        /// The workers run in helper containers from this image (a remote
        /// engine); the scores' PIDs are the container's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        helper_image: Option<String>,
    },
    /// Run the `script` fault's revert command.
    Script {
        container_id: String,
        container_name: String,
        argv: Vec<String>,
        on_host: bool,
        timeout_ms: u64,
        /// The fault's tag: it marks the commands' processes, so that a
        /// command that does not end in time is killed with all it started
        /// (empty in journals written before it was kept).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        tag: String,
        /// In a container on a remote engine: the helper image through
        /// which such processes are reached.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        helper_image: Option<String>,
    },
    /// Put back a replica a deploy set aside: remove what the deploy made
    /// under its name (labelled with `tag`), give the replica (kept
    /// stopped as `parked`) its name and restart policy back, start it
    /// and wait until it is ready.
    Rollback {
        container_id: String,
        container_name: String,
        parked: String,
        tag: String,
        /// `HostConfig.RestartPolicy` before the deploy turned it off.
        restart: serde_json::Value,
        /// The image it ran (its ID), for the record.
        image_id: String,
        /// Wait until its HEALTHCHECK says healthy (else until it runs).
        healthy: bool,
        timeout_ms: u64,
        /// How the deployed replacement is stopped.
        stop_signal: String,
        stop_grace_ms: u64,
    },
    /// Connect the container to `network` again, with its aliases and address.
    Reconnect {
        container_id: String,
        container_name: String,
        network: String,
        aliases: Vec<String>,
        ipv4: Option<String>,
    },
}

impl RevertRecipe {
    pub fn container_name(&self) -> &str {
        match self {
            RevertRecipe::Unpause { container_name, .. }
            | RevertRecipe::Start { container_name, .. }
            | RevertRecipe::Nothing { container_name, .. }
            | RevertRecipe::NetRules { container_name, .. }
            | RevertRecipe::Continue { container_name, .. }
            | RevertRecipe::Stress { container_name, .. }
            | RevertRecipe::Script { container_name, .. }
            | RevertRecipe::Reconnect { container_name, .. }
            | RevertRecipe::Rollback { container_name, .. } => container_name,
        }
    }

    pub fn container_id(&self) -> &str {
        match self {
            RevertRecipe::Unpause { container_id, .. }
            | RevertRecipe::Start { container_id, .. }
            | RevertRecipe::Nothing { container_id, .. }
            | RevertRecipe::NetRules { container_id, .. }
            | RevertRecipe::Continue { container_id, .. }
            | RevertRecipe::Stress { container_id, .. }
            | RevertRecipe::Script { container_id, .. }
            | RevertRecipe::Reconnect { container_id, .. }
            | RevertRecipe::Rollback { container_id, .. } => container_id,
        }
    }

    /// Is it undone from this host, whatever engine the container is on (a
    /// host script, signals to processes seen here, workers and namespaces
    /// reached from here)? A watchdog on a remote engine could not do it.
    pub(crate) fn acts_from_this_host(&self) -> bool {
        match self {
            RevertRecipe::Script { on_host, .. } => *on_host,
            RevertRecipe::Continue { .. } => true,
            RevertRecipe::Stress { helper_image, .. }
            | RevertRecipe::NetRules { helper_image, .. } => helper_image.is_none(),
            RevertRecipe::Unpause { .. }
            | RevertRecipe::Start { .. }
            | RevertRecipe::Nothing { .. }
            | RevertRecipe::Reconnect { .. }
            | RevertRecipe::Rollback { .. } => false,
        }
    }

    /// The command a person would type to undo it by hand.
    pub fn by_hand(&self) -> String {
        match self {
            RevertRecipe::Unpause { container_id, .. } => format!("docker unpause {container_id}"),
            RevertRecipe::Start { container_id, .. } => format!("docker start {container_id}"),
            RevertRecipe::Nothing { .. } => "nothing to undo".to_string(),
            RevertRecipe::NetRules {
                container_id,
                tag,
                qdisc,
                ..
            } => {
                let rules = format!(
                    "pid=$(docker inspect -f '{{{{.State.Pid}}}}' {container_id}); nsenter -t $pid -n iptables-save | grep {tag} \
                     (delete each with iptables -D)"
                );
                match qdisc.major() {
                    Some(major) => format!(
                        "{rules}; nsenter -t $pid -n tc qdisc del dev eth0 root handle {}",
                        qdisc::handle(major)
                    ),
                    None => rules,
                }
            }
            RevertRecipe::Continue {
                container_id,
                pattern,
                ..
            } => format!(
                "for pid in $(grep -l {container_id} /proc/[0-9]*/cgroup | cut -d/ -f3); do grep -qa -- '{pattern}' /proc/$pid/cmdline && kill -CONT $pid; done"
            ),
            RevertRecipe::Stress {
                container_id,
                tag,
                files,
                oom_scores,
                helper_image,
                ..
            } => {
                let mut kill = match helper_image {
                    None => format!("pkill -KILL -f -- '^[^ ]*gameday stress .*--tag {tag}( |$)'"),
                    Some(_) => format!(
                        "docker rm -f $(docker ps -aq --filter label={}={tag})",
                        crate::worker::TAG_LABEL
                    ),
                };
                let place = if helper_image.is_some() {
                    " (in the container's PID namespace)"
                } else {
                    ""
                };
                for s in oom_scores {
                    kill.push_str(&format!(
                        "; echo {} > /proc/{}/oom_score_adj{place}",
                        s.value, s.pid
                    ));
                }
                if files.is_empty() {
                    kill
                } else {
                    format!(
                        "{kill}; nsenter -t $(docker inspect -f '{{{{.State.Pid}}}}' {container_id}) -m rm -f {}",
                        files.join(" ")
                    )
                }
            }
            RevertRecipe::Script {
                container_id,
                argv,
                on_host,
                ..
            } => {
                if *on_host {
                    format!("GAMEDAY_CONTAINER_ID={container_id} {}", argv.join(" "))
                } else {
                    format!("docker exec {container_id} {}", argv.join(" "))
                }
            }
            RevertRecipe::Reconnect {
                container_id,
                network,
                aliases,
                ipv4,
                ..
            } => {
                let mut cmd = "docker network connect".to_string();
                for a in aliases {
                    cmd.push_str(&format!(" --alias {a}"));
                }
                if let Some(ip) = ipv4 {
                    cmd.push_str(&format!(" --ip {ip}"));
                }
                format!("{cmd} {network} {container_id}")
            }
            RevertRecipe::Rollback {
                container_id,
                container_name,
                tag,
                restart,
                ..
            } => {
                let policy = match restart.get("Name").and_then(|n| n.as_str()) {
                    Some(name) if !name.is_empty() => name,
                    _ => "no",
                };
                format!(
                    "docker inspect {container_id} >/dev/null && docker rm -f $(docker ps -aq --filter name=^/{container_name}$ --filter label={}={tag}); docker rename {container_id} {container_name}; docker update --restart {policy} {container_id}; docker start {container_id}",
                    crate::docker::DEPLOY_LABEL
                )
            }
        }
    }

    /// Undo the fault if it is still in effect. Safe to run any number of
    /// times: a container that is already fine is left alone. Returns when
    /// the revert took effect (Docker's confirmation when there is one), if
    /// it had anything to do.
    pub async fn execute(&self, engine: &Engine) -> Result<Option<DateTime<Utc>>, FaultError> {
        self.execute_saying(engine).await.map(|(at, _)| at)
    }

    /// A script whose apply was requested and never confirmed (its runner
    /// died during it), once the apply's time is up: kill what of it still
    /// runs, so that it cannot land after the revert. What was done, in
    /// words; None for other recipes, and for a journal written before
    /// applies were marked.
    pub(crate) async fn end_unconfirmed_apply(&self, engine: &Engine) -> Option<String> {
        let RevertRecipe::Script {
            container_id,
            container_name,
            on_host,
            timeout_ms,
            tag,
            helper_image,
            ..
        } = self
        else {
            return None;
        };
        if tag.is_empty() {
            return None;
        }
        let apply = script::Command {
            argv: &[],
            on_host: *on_host,
            container_id,
            container_name,
            timeout: Duration::from_millis(*timeout_ms),
            tag,
            role: "apply",
            helper_image: helper_image.as_deref(),
        };
        Some(format!(
            "the unfinished apply: {}",
            script::end_unfinished(engine, &apply).await.said()
        ))
    }

    /// [`RevertRecipe::execute`], and what the revert did in words when
    /// there is more to say than that it happened (a script's exit code and
    /// output).
    pub(crate) async fn execute_saying(
        &self,
        engine: &Engine,
    ) -> Result<(Option<DateTime<Utc>>, Option<String>), FaultError> {
        let on = OnContainer {
            id: self.container_id(),
            name: self.container_name(),
        };
        let at = match self {
            RevertRecipe::Script {
                container_id,
                container_name,
                argv,
                on_host,
                timeout_ms,
                tag,
                helper_image,
            } => {
                let revert = script::Command {
                    argv,
                    on_host: *on_host,
                    container_id,
                    container_name,
                    timeout: Duration::from_millis(*timeout_ms),
                    tag: if tag.is_empty() { container_id } else { tag },
                    role: "revert",
                    helper_image: helper_image.as_deref(),
                };
                return script::revert(engine, &revert).await;
            }
            RevertRecipe::Nothing { .. } => None,
            RevertRecipe::Unpause { .. } => container::unpause(engine, on).await?,
            RevertRecipe::Start { .. } => container::start(engine, on).await?,
            RevertRecipe::NetRules {
                tag,
                helper_image,
                qdisc,
                ..
            } => net::remove(engine, on, tag, helper_image.as_deref(), *qdisc).await?,
            RevertRecipe::Continue { pattern, pid1, .. } => {
                process::resume(engine, on, pattern, *pid1).await?
            }
            RevertRecipe::Stress {
                tag,
                files,
                oom_scores,
                helper_image,
                ..
            } => {
                stress::revert(engine, on, tag, files, oom_scores, helper_image.as_deref()).await?
            }
            RevertRecipe::Reconnect {
                network,
                aliases,
                ipv4,
                ..
            } => {
                let endpoint = crate::docker::Endpoint {
                    network: network.clone(),
                    aliases: aliases.clone(),
                    ipv4: ipv4.clone(),
                };
                disconnect::reconnect(engine, on, endpoint).await?
            }
            RevertRecipe::Rollback {
                parked,
                tag,
                restart,
                healthy,
                timeout_ms,
                stop_signal,
                stop_grace_ms,
                ..
            } => {
                let back = deploy::Rollback {
                    parked,
                    tag,
                    restart,
                    healthy: *healthy,
                    timeout: Duration::from_millis(*timeout_ms),
                    stop_signal,
                    stop_grace: Duration::from_millis(*stop_grace_ms),
                };
                deploy::rollback(engine, on, back).await?
            }
        };
        Ok((at, None))
    }
}

/// The container a recipe undoes a fault on, as the recipe names it.
#[derive(Debug, Clone, Copy)]
pub(super) struct OnContainer<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

impl OnContainer<'_> {
    /// A Docker call on it that failed.
    pub(super) fn docker(self, action: &'static str) -> impl FnOnce(DockerError) -> FaultError {
        docker_failed(self.name, action)
    }
}

/// A Docker call on `container` that failed, as a fault error.
pub(super) fn docker_failed(
    container: &str,
    action: &'static str,
) -> impl FnOnce(DockerError) -> FaultError + use<> {
    let container = container.to_string();
    move |source| FaultError::Docker {
        action,
        container,
        source,
    }
}

pub(super) fn confirmed_or_now(confirmation: Option<crate::docker::Confirmation>) -> DateTime<Utc> {
    confirmation
        .map(|c| DateTime::from_timestamp_nanos(c.time_nano))
        .unwrap_or_else(Utc::now)
}

/// Does `prepare` make a recipe undone from this host
/// ([`RevertRecipe::acts_from_this_host`]) for `fault` on a remote engine
/// (where stress workers and network faults go through helpers)?
pub(crate) fn undone_from_this_host(fault: &Fault) -> bool {
    match fault.family() {
        FaultFamily::Script(s) => s.place == ScriptPlace::Host,
        FaultFamily::Process(_) => true,
        FaultFamily::Container(_)
        | FaultFamily::Net(_)
        | FaultFamily::Stress(_)
        | FaultFamily::App(_)
        | FaultFamily::Deploy(_) => false,
    }
}
