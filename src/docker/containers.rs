//! Container operations faults are made of (kill, stop, restart, pause,
//! start), each confirmed by the engine's event stream; container state;
//! commands run in a container and its log lines (for probes).

use super::*;

/// A container operation the engine confirmed through its event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmation {
    /// The engine's own timestamp of the event (`timeNano`), Unix nanoseconds.
    pub time_nano: i64,
}

/// The container-level operations faults are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Pause,
    Unpause,
    Kill { signal: String },
    Stop { timeout: Duration },
    Start,
    Restart { timeout: Duration },
}

impl Operation {
    /// The event action that confirms the operation.
    fn confirming_actions(&self) -> &'static [&'static str] {
        match self {
            Operation::Pause => &["pause"],
            Operation::Unpause => &["unpause"],
            Operation::Kill { .. } => &["kill"],
            Operation::Stop { .. } => &["stop", "die"],
            Operation::Start => &["start"],
            Operation::Restart { .. } => &["restart", "start"],
        }
    }
}

/// What a container probe reads of a container in one inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStatus {
    pub state: ContainerState,
    /// `None` when the engine does not say (an absent container).
    pub health: Option<HealthState>,
    pub restarts: Option<u64>,
    pub oom_killed: Option<bool>,
    pub exit_code: Option<i64>,
}

/// One reading of the engine's stats stream (about one a second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsReading {
    /// CPU use since the stream's previous reading, 100 = one core
    /// (`docker stats`' formula); `None` on the first reading.
    pub cpu_pct: Option<f64>,
    /// Memory in use without the page cache that can be dropped (as
    /// `docker stats` counts it).
    pub memory_bytes: Option<u64>,
}

impl StatsReading {
    fn of(stats: &bollard::models::ContainerStatsResponse) -> StatsReading {
        let total = |c: Option<&bollard::models::ContainerCpuStats>| {
            let c = c?;
            Some((
                c.cpu_usage.as_ref()?.total_usage?,
                c.system_cpu_usage?,
                c.online_cpus,
            ))
        };
        let cpu_pct = match (
            total(stats.cpu_stats.as_ref()),
            total(stats.precpu_stats.as_ref()),
        ) {
            (Some((cpu, system, online)), Some((cpu_before, system_before, _))) => {
                let used = cpu.checked_sub(cpu_before);
                let passed = system.checked_sub(system_before).filter(|s| *s > 0);
                used.zip(passed).map(|(used, passed)| {
                    used as f64 / passed as f64 * f64::from(online.unwrap_or(1).max(1)) * 100.0
                })
            }
            _ => None,
        };
        let memory_bytes = stats.memory_stats.as_ref().and_then(|m| {
            let usage = m.usage?;
            let cache = m.stats.as_ref().and_then(|s| {
                s.get("total_inactive_file")
                    .or_else(|| s.get("inactive_file"))
                    .copied()
            });
            Some(usage.saturating_sub(cache.unwrap_or(0)))
        });
        StatsReading {
            cpu_pct,
            memory_bytes,
        }
    }
}

impl Engine {
    /// State, HEALTHCHECK status, restart count, OOM flag and exit code of
    /// a container, from one inspect; `Absent` when it no longer exists.
    pub async fn status(&self, id: &str) -> Result<ContainerStatus, DockerError> {
        use bollard::models::HealthStatusEnum;
        match self.client.inspect_container(id, None).await {
            Ok(info) => {
                let state = info.state.as_ref();
                let health = match state.and_then(|s| s.health.as_ref()).and_then(|h| h.status) {
                    Some(HealthStatusEnum::STARTING) => HealthState::Starting,
                    Some(HealthStatusEnum::HEALTHY) => HealthState::Healthy,
                    Some(HealthStatusEnum::UNHEALTHY) => HealthState::Unhealthy,
                    Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY) | None => {
                        HealthState::None
                    }
                };
                Ok(ContainerStatus {
                    state: state
                        .and_then(|s| s.status)
                        .map(|s| s.to_string().parse().unwrap_or(ContainerState::Dead))
                        .unwrap_or(ContainerState::Dead),
                    health: Some(health),
                    restarts: info.restart_count.and_then(|n| u64::try_from(n).ok()),
                    oom_killed: state.and_then(|s| s.oom_killed),
                    exit_code: state.and_then(|s| s.exit_code),
                })
            }
            Err(e) => match DockerError::classify(e, id) {
                DockerError::NotFound(_) => Ok(ContainerStatus {
                    state: ContainerState::Absent,
                    health: None,
                    restarts: None,
                    oom_killed: None,
                    exit_code: None,
                }),
                other => Err(other),
            },
        }
    }

    /// The engine's stats of a container as they come (Docker computes
    /// them about once a second); the stream ends when the container stops.
    pub fn stats(
        &self,
        id: &str,
    ) -> impl futures_util::Stream<Item = Result<StatsReading, DockerError>> + use<> {
        let options = bollard::query_parameters::StatsOptionsBuilder::new()
            .stream(true)
            .build();
        let id = id.to_string();
        self.client
            .stats(&id, Some(options))
            .map(move |item| match item {
                Ok(stats) => Ok(StatsReading::of(&stats)),
                Err(e) => Err(DockerError::classify(e, &id)),
            })
    }

    /// Current state of a container; `Absent` when it no longer exists.
    pub async fn state(&self, id: &str) -> Result<ContainerState, DockerError> {
        match self.client.inspect_container(id, None).await {
            Ok(info) => Ok(info
                .state
                .and_then(|s| s.status)
                .map(|s| s.to_string().parse().unwrap_or(ContainerState::Dead))
                .unwrap_or(ContainerState::Dead)),
            Err(e) => match DockerError::classify(e, id) {
                DockerError::NotFound(_) => Ok(ContainerState::Absent),
                other => Err(other),
            },
        }
    }

    /// Run one operation and wait (up to `confirm_within`) for the engine's
    /// event confirming it.
    pub async fn perform(
        &self,
        id: &str,
        op: &Operation,
        confirm_within: Duration,
    ) -> Result<Option<Confirmation>, DockerError> {
        let filters = HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                op.confirming_actions()
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
            ),
        ]);
        // Events are replayed from `since`, so subscribing after the call
        // cannot miss the confirmation.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let since = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
        let classify = |e| DockerError::classify(e, id);
        let timeout_secs = |d: &Duration| i32::try_from(d.as_secs()).unwrap_or(i32::MAX);
        // A stop or a restart answers after its grace period: the request
        // may take that long, whatever the client's default timeout.
        let client = match op {
            Operation::Stop { timeout } | Operation::Restart { timeout } => {
                self.client.clone().with_timeout(
                    self.client
                        .timeout()
                        .max(*timeout + Duration::from_secs(30)),
                )
            }
            Operation::Pause | Operation::Unpause | Operation::Kill { .. } | Operation::Start => {
                self.client.clone()
            }
        };
        match op {
            Operation::Pause => client.pause_container(id).await.map_err(classify)?,
            Operation::Unpause => client.unpause_container(id).await.map_err(classify)?,
            Operation::Kill { signal } => client
                .kill_container(
                    id,
                    Some(KillContainerOptions {
                        signal: signal.clone(),
                    }),
                )
                .await
                .map_err(classify)?,
            Operation::Stop { timeout } => client
                .stop_container(
                    id,
                    Some(StopContainerOptions {
                        t: Some(timeout_secs(timeout)),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(classify)?,
            Operation::Start => client.start_container(id, None).await.map_err(classify)?,
            Operation::Restart { timeout } => client
                .restart_container(
                    id,
                    Some(RestartContainerOptions {
                        t: Some(timeout_secs(timeout)),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(classify)?,
        }
        let mut events = Box::pin(self.client.events(Some(EventsOptions {
            since: Some(since),
            filters: Some(filters),
            ..Default::default()
        })));
        let wait = async {
            while let Some(event) = events.next().await {
                if let Ok(event) = event {
                    let action = event.action.as_deref().unwrap_or_default();
                    if op
                        .confirming_actions()
                        .iter()
                        .any(|a| action.starts_with(a))
                    {
                        return event.time_nano.map(|time_nano| Confirmation { time_nano });
                    }
                }
            }
            None
        };
        Ok(tokio::time::timeout(confirm_within, wait)
            .await
            .ok()
            .flatten())
    }

    /// Wait until the container is in `wanted` state, polling; returns the
    /// last state seen.
    pub async fn wait_for_state(
        &self,
        id: &str,
        wanted: ContainerState,
        within: Duration,
    ) -> Result<ContainerState, DockerError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let state = self.state(id).await?;
            if state == wanted || tokio::time::Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Engine {
    /// Everything a container has printed so far (stdout and stderr).
    pub async fn logs_so_far(&self, id: &str) -> Result<String, DockerError> {
        let mut logs = Box::pin(self.client.logs(
            id,
            Some(bollard::query_parameters::LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        ));
        let mut text = String::new();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.map_err(|e| DockerError::classify(e, id))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text)
    }
}

/// What a command run in a container (`docker exec`) ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// stdout and stderr, interleaved as the container wrote them.
    pub output: String,
}

impl Engine {
    /// Run `argv` in a running container and wait for it to end. The caller
    /// bounds the time; dropping the future leaves the process to Docker.
    pub async fn exec(&self, id: &str, argv: &[String]) -> Result<ExecOutput, DockerError> {
        self.exec_with_env(id, argv, &[]).await
    }

    /// [`Engine::exec`] with `env` (`NAME=value`) added to the command's
    /// environment, which what it starts inherits.
    pub async fn exec_with_env(
        &self,
        id: &str,
        argv: &[String],
        env: &[String],
    ) -> Result<ExecOutput, DockerError> {
        use bollard::exec::StartExecResults;
        let classify = |e| DockerError::classify(e, id);
        let created = self
            .client
            .create_exec(
                id,
                bollard::models::ExecConfig {
                    cmd: Some(argv.to_vec()),
                    env: (!env.is_empty()).then(|| env.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(classify)?;
        // The probe's timeout drops this future mid-run: the command must
        // not live on inside the container.
        let mut guard = ExecKiller {
            engine: self.clone(),
            exec_id: Some(created.id.clone()),
            container_id: id.to_string(),
        };
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = self
            .client
            .start_exec(&created.id, None)
            .await
            .map_err(classify)?
        {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(classify)?;
                // Keep what a report can show; drain the rest.
                if output.len() < EXEC_OUTPUT_KEPT {
                    output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                }
            }
        }
        let inspect = self
            .client
            .inspect_exec(&created.id)
            .await
            .map_err(classify)?;
        if inspect.running != Some(true) {
            guard.exec_id = None;
        }
        Ok(ExecOutput {
            // Still running after its output closed: report it as such.
            exit_code: inspect.exit_code.unwrap_or(-1),
            output,
        })
    }

    /// Lines a container logged (stdout and stderr) from `since` (whole
    /// seconds since the epoch, as the API takes them) until now, each with
    /// Docker's timestamp.
    pub async fn log_lines_since(
        &self,
        id: &str,
        since: i64,
    ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, String)>, DockerError> {
        let mut logs = Box::pin(self.client.logs(
            id,
            Some(bollard::query_parameters::LogsOptions {
                stdout: true,
                stderr: true,
                timestamps: true,
                since: i32::try_from(since).unwrap_or(i32::MAX),
                ..Default::default()
            }),
        ));
        let mut text = String::new();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.map_err(|e| DockerError::classify(e, id))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text
            .lines()
            .filter_map(|line| {
                let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
                let at = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
                Some((at.with_timezone(&chrono::Utc), rest.to_string()))
            })
            .collect())
    }
}

/// Kills a command started with `docker exec` when dropped before it ended
/// (the probe timed out, the run was cancelled): the API cannot stop an
/// exec, so on this host's engine its process is killed from here, after
/// checking it still belongs to the container. On an engine elsewhere the
/// process cannot be reached and is left to end by itself.
struct ExecKiller {
    engine: Engine,
    exec_id: Option<String>,
    container_id: String,
}

impl Drop for ExecKiller {
    fn drop(&mut self) {
        let Some(exec_id) = self.exec_id.take() else {
            return;
        };
        if !self.engine.is_local() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let engine = self.engine.clone();
        let container_id = self.container_id.clone();
        runtime.spawn(async move {
            let Ok(info) = engine.client.inspect_exec(&exec_id).await else {
                return;
            };
            if info.running != Some(true) {
                return;
            }
            if let Some(pid) = info.pid.filter(|p| *p > 0) {
                kill_in_container(pid, &container_id);
            }
        });
    }
}

/// SIGKILL the host process `pid` if it is one of `container_id`'s (its
/// cgroup names the container): a pid reused by another process is left alone.
fn kill_in_container(pid: i64, container_id: &str) {
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    if container_id.is_empty() || !cgroup.contains(container_id) {
        return;
    }
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
