//! [`RevertRecipe`]: how to undo a fault, as plain data journalled (and
//! fsynced) before the fault is applied, and `execute`, which the run, the
//! watchdog and `recover` all call. Executing a recipe is idempotent.

use super::*;

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
            | RevertRecipe::Reconnect { container_name, .. } => container_name,
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
            | RevertRecipe::Reconnect { container_id, .. } => container_id,
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
            | RevertRecipe::Reconnect { .. } => false,
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
                        super::helper::TAG_LABEL
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
        }
    }

    /// Undo the fault if it is still in effect. Safe to run any number of
    /// times: a container that is already fine is left alone. Returns when
    /// the revert took effect (Docker's confirmation when there is one), if
    /// it had anything to do.
    pub async fn execute(&self, engine: &Engine) -> Result<Option<DateTime<Utc>>, FaultError> {
        self.execute_saying(engine).await.map(|(at, _)| at)
    }

    async fn run_script(
        &self,
        engine: &Engine,
    ) -> Result<(Option<DateTime<Utc>>, Option<String>), FaultError> {
        let RevertRecipe::Script {
            container_id,
            container_name,
            argv,
            on_host,
            timeout_ms,
            tag,
            helper_image,
        } = self
        else {
            return Ok((None, None));
        };
        let script_error = |message: String| FaultError::Script {
            container: container_name.clone(),
            message,
        };
        // A script inside a container that is gone or stopped cannot run.
        if !*on_host {
            match engine.state(container_id).await {
                Ok(ContainerState::Running) => {}
                Ok(ContainerState::Absent) => return Err(FaultError::Gone(container_name.clone())),
                Ok(state) => {
                    return Err(script_error(format!(
                        "the container is {state}, so the revert cannot run in it"
                    )));
                }
                Err(source) => {
                    return Err(FaultError::Docker {
                        action: "inspect",
                        container: container_name.clone(),
                        source,
                    });
                }
            }
        }
        let ended = script::run(
            engine,
            &script::Command {
                argv,
                on_host: *on_host,
                container_id,
                container_name,
                timeout: Duration::from_millis(*timeout_ms),
                tag: if tag.is_empty() { container_id } else { tag },
                role: "revert",
                helper_image: helper_image.as_deref(),
            },
        )
        .await
        .map_err(&script_error)?;
        if ended.exit_code != 0 {
            return Err(script_error(format!(
                "the revert failed: {}",
                ended.summary()
            )));
        }
        Ok((
            Some(Utc::now()),
            Some(format!("revert: {}", ended.summary())),
        ))
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
        if let RevertRecipe::Script { .. } = self {
            return self.run_script(engine).await;
        }
        self.execute_plain(engine).await.map(|at| (at, None))
    }

    async fn execute_plain(&self, engine: &Engine) -> Result<Option<DateTime<Utc>>, FaultError> {
        let name = self.container_name().to_string();
        let id = self.container_id();
        let docker = |action: &'static str| {
            let container = name.clone();
            move |source| FaultError::Docker {
                action,
                container,
                source,
            }
        };
        match self {
            RevertRecipe::Nothing { .. } | RevertRecipe::Script { .. } => Ok(None),
            RevertRecipe::Stress {
                tag,
                files,
                oom_scores,
                helper_image: Some(image),
                ..
            } => {
                // Stopping a helper ends its worker without its clean-up:
                // the files and scores are put right next, from inside.
                let killed = super::helper::remove_leftovers(engine, tag).await;
                let (mut removed, mut restored) = (0, 0);
                if (!files.is_empty() || !oom_scores.is_empty())
                    && engine.state(id).await.map_err(docker("inspect"))? == ContainerState::Running
                {
                    (removed, restored) =
                        stress::clean_up_via_helper(engine, image, id, tag, files, oom_scores)
                            .await
                            .map_err(|message| FaultError::Stress {
                                container: name.clone(),
                                message: format!("cannot clean up: {message}"),
                            })?;
                }
                Ok((killed + removed + restored > 0).then(Utc::now))
            }
            RevertRecipe::Stress {
                tag,
                files,
                oom_scores,
                helper_image: None,
                ..
            } => {
                let killed = super::tagged::kill_tagged(tag).await;
                let restored = stress::set_oom_scores(oom_scores, None);
                let mut removed = 0;
                if !files.is_empty() {
                    let main_pid = match engine.pid(id).await {
                        Ok(pid) => pid,
                        Err(crate::docker::DockerError::NotFound(_)) => 0,
                        Err(e) => return Err(docker("inspect")(e)),
                    };
                    // A container that does not run has no worker left
                    // either; its files are said in `recover`'s settling.
                    if main_pid > 0 && netns::pid_is_container(main_pid, id) {
                        removed =
                            stress::remove(main_pid, id, tag, files)
                                .await
                                .map_err(|message| FaultError::Stress {
                                    container: name.clone(),
                                    message: format!(
                                        "cannot remove {}: {message}",
                                        files.join(", ")
                                    ),
                                })?;
                    }
                }
                Ok((killed + removed + restored > 0).then(Utc::now))
            }
            RevertRecipe::Unpause { .. } => {
                // Try first, ask only when refused: the inspect round trip
                // is paid only when there was nothing to undo (issue 7: the
                // revert lands closer to the bare API call). Engines differ
                // in how they refuse ("is not paused" is a 409 on newer
                // ones, a 500 on 20.10), so the state decides, not the code.
                match engine
                    .perform(id, &Operation::Unpause, CONFIRM_WITHIN)
                    .await
                {
                    Ok(confirmed) => Ok(Some(confirmed_or_now(confirmed))),
                    Err(refused) => match engine.state(id).await.map_err(docker("inspect"))? {
                        ContainerState::Paused => Err(docker("unpause")(refused)),
                        _ => Ok(None),
                    },
                }
            }
            RevertRecipe::Start { .. } => {
                let state = engine.state(id).await.map_err(docker("inspect"))?;
                let confirmed = match state {
                    ContainerState::Running => return Ok(None),
                    ContainerState::Absent => return Err(FaultError::Gone(name)),
                    ContainerState::Paused => engine
                        .perform(id, &Operation::Unpause, CONFIRM_WITHIN)
                        .await
                        .map_err(docker("unpause"))?,
                    // A restart in progress ends running on its own.
                    ContainerState::Restarting => None,
                    _ => engine
                        .perform(id, &Operation::Start, CONFIRM_WITHIN)
                        .await
                        .map_err(docker("start"))?,
                };
                let state = engine
                    .wait_for_state(id, ContainerState::Running, RUNNING_WITHIN)
                    .await
                    .map_err(docker("inspect"))?;
                if state != ContainerState::Running {
                    return Err(FaultError::NotRunning {
                        container: name,
                        state,
                    });
                }
                Ok(Some(confirmed_or_now(confirmed)))
            }
            RevertRecipe::NetRules {
                tag,
                helper_image,
                qdisc,
                ..
            } => {
                // Packet engines a dead runner left in helper containers.
                let helpers = helper::remove_leftovers(engine, tag).await;
                let state = engine.state(id).await.map_err(docker("inspect"))?;
                // A stopped container's namespace, and its rules, are gone.
                if !matches!(state, ContainerState::Running | ContainerState::Paused) {
                    return Ok((helpers > 0).then(Utc::now));
                }
                let mut exec = net_exec(engine, id, helper_image.as_deref(), tag)
                    .await
                    .map_err(|message| FaultError::Network {
                        action: "remove the network fault",
                        container: name.clone(),
                        message,
                    })?;
                let owned_tag = tag.clone();
                let qdisc = *qdisc;
                let network = |message: String| FaultError::Network {
                    action: "remove the network fault",
                    container: name.clone(),
                    message,
                };
                let removed = tokio::task::spawn_blocking(move || {
                    net::remove_tagged(
                        exec.as_mut(),
                        net::Tagged::Exactly {
                            tag: &owned_tag,
                            qdisc,
                        },
                    )
                })
                .await
                .map_err(|e| network(e.to_string()))?
                .map_err(network)?;
                // An HTTP proxy a dead runner left on this host (its rule
                // is gone now, so nothing reaches it).
                let proxies = match helper_image {
                    None => super::tagged::kill_tagged(tag).await,
                    Some(_) => 0,
                };
                Ok((removed || helpers > 0 || proxies > 0).then(Utc::now))
            }
            RevertRecipe::Continue { pattern, pid1, .. } => {
                let main_pid = match engine.pid(id).await {
                    Ok(pid) => pid,
                    Err(crate::docker::DockerError::NotFound(_)) => return Ok(None),
                    Err(e) => return Err(docker("inspect")(e)),
                };
                process::continue_stopped(id, main_pid, pattern, *pid1).map_err(|message| {
                    FaultError::Process {
                        container: name.clone(),
                        message,
                    }
                })
            }
            RevertRecipe::Reconnect {
                network,
                aliases,
                ipv4,
                ..
            } => {
                if engine.state(id).await.map_err(docker("inspect"))? == ContainerState::Absent {
                    return Err(FaultError::Gone(name));
                }
                let endpoints = engine.endpoints(id).await.map_err(docker("inspect"))?;
                if endpoints.iter().any(|e| &e.network == network) {
                    return Ok(None);
                }
                let endpoint = crate::docker::Endpoint {
                    network: network.clone(),
                    aliases: aliases.clone(),
                    ipv4: ipv4.clone(),
                };
                engine
                    .connect_network(id, &endpoint)
                    .await
                    .map_err(docker("reconnect"))?;
                Ok(Some(Utc::now()))
            }
        }
    }
}

fn confirmed_or_now(confirmation: Option<crate::docker::Confirmation>) -> DateTime<Utc> {
    confirmation
        .map(|c| DateTime::from_timestamp_nanos(c.time_nano))
        .unwrap_or_else(Utc::now)
}

/// Does `prepare` make a recipe undone from this host
/// ([`RevertRecipe::acts_from_this_host`]) for `fault` on a remote engine
/// (where stress workers and network faults go through helpers)?
pub(crate) fn undone_from_this_host(fault: &Fault) -> bool {
    match fault {
        Fault::Script(s) => s.place == ScriptPlace::Host,
        Fault::Process(_) => true,
        Fault::Kill(_)
        | Fault::Stop(_)
        | Fault::Restart(_)
        | Fault::Pause(_)
        | Fault::Delay(_)
        | Fault::Loss(_)
        | Fault::Duplicate(_)
        | Fault::Corrupt(_)
        | Fault::Bandwidth(_)
        | Fault::Partition(_)
        | Fault::Disconnect(_)
        | Fault::CpuStress(_)
        | Fault::MemoryStress(_)
        | Fault::IoStress(_)
        | Fault::DiskFill(_)
        | Fault::HttpFault(_)
        | Fault::Dns(_) => false,
    }
}
