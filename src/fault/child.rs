//! A worker gameday starts for a fault (`gameday stress`, `gameday
//! http-proxy`) and speaks to through its standard streams: a process on
//! this host, or a helper container on the engine with its stdin attached.
//! Either way the worker's first line says it is in place (`ready ...`),
//! closing its stdin tells it to stop, and its last line says how it ended
//! (`stopped: ...`). Its stdin also closes when the runner dies (the pipe,
//! or the attach connection), so a worker never outlives its runner by
//! more than its own clean-up.

use std::time::Duration;

use tokio::io::AsyncBufReadExt;

use crate::docker::{Engine, Inside};

/// A worker started by the run. Dropping it kills it (on this host) or
/// closes its input (in a helper container, which then ends it).
/// (Behind a mutex only so a fault holding it can be shared: the helper's
/// streams are `Send` but not `Sync`.)
pub(crate) struct Child(std::sync::Mutex<Place>);

enum Place {
    Local {
        child: tokio::process::Child,
        stdin: Option<tokio::process::ChildStdin>,
        stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    },
    Helper {
        engine: Engine,
        id: String,
        input: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
        output: HelperOutput,
    },
    /// It ended before it was in place (what happened is said already).
    Gone,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.lock().as_deref() {
            Ok(Place::Local { child, .. }) => write!(f, "Child(pid {:?})", child.id()),
            Ok(Place::Helper { id, .. }) => write!(f, "Child(helper {id})"),
            Ok(Place::Gone) | Err(_) => write!(f, "Child(gone)"),
        }
    }
}

/// Where a worker runs: this host (the target's main process is `pid`
/// here), or a helper container from `image` on the engine.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via<'a> {
    ThisHost { pid: i64 },
    Helper { engine: &'a Engine, image: &'a str },
}

/// How a worker's first line came.
pub(crate) enum First {
    Line(String),
    /// It ended first: killed by SIGKILL (the OOM killer), and what it
    /// said on stderr.
    Ended {
        killed: bool,
        stderr: String,
    },
    TimedOut,
}

impl Child {
    /// Start `cmd` on this host, its stdio piped, in a process group of
    /// its own (a Ctrl-C at the terminal is the runner's to handle).
    pub(crate) fn spawn(mut cmd: tokio::process::Command) -> std::io::Result<Child> {
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        Ok(Child(std::sync::Mutex::new(Place::Local {
            child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout).lines(),
        })))
    }

    /// Start `argv` from `image` in a helper container inside `target`.
    pub(crate) async fn start_helper(
        engine: &Engine,
        target: &str,
        image: &str,
        argv: &[String],
        labels: std::collections::HashMap<String, String>,
        inside: Inside,
    ) -> Result<Child, crate::docker::DockerError> {
        let attached = engine
            .start_inside(target, image, argv, labels, inside)
            .await?;
        Ok(Child(std::sync::Mutex::new(Place::Helper {
            engine: engine.clone(),
            id: attached.id,
            input: Some(attached.input),
            output: HelperOutput::new(attached.output),
        })))
    }

    /// A worker that ended before it was in place.
    pub(crate) fn gone() -> Child {
        Child(std::sync::Mutex::new(Place::Gone))
    }

    fn place(self) -> Place {
        match self.0.into_inner() {
            Ok(place) => place,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Wait for its first line. When it ended or timed out first, it is
    /// gone (killed, removed) and `self` is spent.
    pub(crate) async fn first_line(self, within: Duration) -> (Option<Child>, First) {
        let mut place = self.place();
        let first = match &mut place {
            Place::Local { stdout, .. } => tokio::time::timeout(within, stdout.next_line())
                .await
                .map(|l| l.ok().flatten()),
            Place::Helper { output, .. } => tokio::time::timeout(within, output.next_line()).await,
            Place::Gone => Ok(None),
        };
        match (first, place) {
            (Ok(Some(line)), place) => {
                (Some(Child(std::sync::Mutex::new(place))), First::Line(line))
            }
            (Ok(None), Place::Local { mut child, .. }) => {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = e.read_to_string(&mut stderr).await;
                }
                use std::os::unix::process::ExitStatusExt;
                let killed = child
                    .wait()
                    .await
                    .is_ok_and(|s| s.signal() == Some(libc::SIGKILL));
                (None, First::Ended { killed, stderr })
            }
            (Ok(None), Place::Helper { engine, id, .. }) => {
                let (killed, stderr) = match engine.finish(&id, false).await {
                    // 137: SIGKILL, as the OOM killer sends it.
                    Ok(out) => (out.exit_code == 137, out.stderr),
                    Err(e) => (false, e.to_string()),
                };
                (None, First::Ended { killed, stderr })
            }
            (Err(_), Place::Local { mut child, .. }) => {
                let _ = child.kill().await;
                (None, First::TimedOut)
            }
            (Err(_), Place::Helper { engine, id, .. }) => {
                let _ = engine.finish(&id, true).await;
                (None, First::TimedOut)
            }
            (_, Place::Gone) => (
                None,
                First::Ended {
                    killed: false,
                    stderr: String::new(),
                },
            ),
        }
    }

    /// Close its stdin and read what it says until it ends (at most
    /// `within`); it is then gone (killed and removed if it did not end).
    /// Returns its lines.
    pub(crate) async fn finish(self, within: Duration) -> (Vec<String>, bool) {
        match self.place() {
            Place::Local {
                mut child,
                stdin,
                mut stdout,
            } => {
                drop(stdin);
                let lines = tokio::time::timeout(within, async {
                    let mut lines = Vec::new();
                    while let Ok(Some(line)) = stdout.next_line().await {
                        lines.push(line);
                    }
                    lines
                })
                .await;
                let ended = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                    Ok(_) => lines.is_ok(),
                    Err(_) => {
                        let _ = child.kill().await;
                        false
                    }
                };
                (lines.unwrap_or_default(), ended)
            }
            Place::Helper {
                engine,
                id,
                input,
                mut output,
            } => {
                if let Some(mut input) = input {
                    use tokio::io::AsyncWriteExt;
                    let _ = input.shutdown().await;
                }
                let lines = tokio::time::timeout(within, async {
                    let mut lines = Vec::new();
                    while let Some(line) = output.next_line().await {
                        lines.push(line);
                    }
                    lines
                })
                .await;
                let ended = lines.is_ok();
                // Removed either way; stopped (SIGTERM, then SIGKILL) when
                // it did not end by itself.
                let removed = engine.finish(&id, !ended).await;
                let _ = removed;
                (lines.unwrap_or_default(), ended)
            }
            Place::Gone => (Vec::new(), false),
        }
    }

    /// Stop it: returns its last word (`stopped: ...`, without the
    /// prefix), or None when it had to be killed.
    pub(crate) async fn stop(self, within: Duration) -> Option<String> {
        let (lines, ended) = self.finish(within).await;
        let last = lines.into_iter().last()?;
        (ended && last.starts_with("stopped"))
            .then(|| last.trim_start_matches("stopped: ").to_string())
    }
}

/// A helper container's standard output, line by line (its errors are
/// read from its logs when it ends).
struct HelperOutput {
    stream: std::pin::Pin<
        Box<
            dyn futures_util::Stream<
                    Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
                > + Send,
        >,
    >,
    pending: Vec<u8>,
}

impl HelperOutput {
    fn new(
        stream: std::pin::Pin<
            Box<
                dyn futures_util::Stream<
                        Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
                    > + Send,
            >,
        >,
    ) -> Self {
        HelperOutput {
            stream,
            pending: Vec::new(),
        }
    }

    /// The next whole line it printed; None once it ended.
    async fn next_line(&mut self) -> Option<String> {
        use futures_util::StreamExt;
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            match self.stream.next().await {
                Some(Ok(bollard::container::LogOutput::StdOut { message })) => {
                    self.pending.extend_from_slice(&message)
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    if self.pending.is_empty() {
                        return None;
                    }
                    let line = std::mem::take(&mut self.pending);
                    return Some(String::from_utf8_lossy(&line).trim_end().to_string());
                }
            }
        }
    }
}

/// A proxy in a container's network namespace (`gameday http-proxy`,
/// `gameday dns-proxy`), held by the run until the revert stops it: it
/// then takes its redirect away, passes what is in flight (up to 5 s) and
/// says what it counted.
#[derive(Debug)]
pub(crate) struct Proxy(Child);

impl Proxy {
    /// Stop it; its last word, or None when it had to be killed.
    pub(crate) async fn stop(self) -> Option<String> {
        self.0.stop(PROXY_STOP_WITHIN).await
    }
}

/// How long a proxy may take to listen and redirect.
const PROXY_READY_WITHIN: Duration = Duration::from_secs(10);
/// How long a stopped proxy may take to end.
const PROXY_STOP_WITHIN: Duration = Duration::from_secs(8);

/// Start `gameday COMMAND --pid PID --container ID --tag TAG --plan JSON
/// --max-seconds N`, a proxy in container `container_id`'s network
/// namespace: on this host (it enters the namespace itself), or in a
/// helper container sharing the container's network and PID namespaces
/// (NET_ADMIN; `--placed`, PID 1 is the container's main process there).
/// Waits for its `ready ...` line; returns it and what follows `ready`.
pub(crate) async fn start_proxy(
    via: Via<'_>,
    command: &str,
    what: &str,
    container_id: &str,
    tag: &str,
    plan: &impl serde::Serialize,
    max_lifetime: Duration,
) -> Result<(Proxy, String), String> {
    let plan = serde_json::to_string(plan).map_err(|e| e.to_string())?;
    let args = ["--plan".to_string(), plan];
    let ready_within = PROXY_READY_WITHIN;
    let argv = |pid: i64| {
        let mut argv: Vec<String> = [command, "--pid", &pid.to_string(), "--container"]
            .map(String::from)
            .to_vec();
        argv.extend([container_id.to_string(), "--tag".into(), tag.to_string()]);
        argv.extend(args.iter().cloned());
        argv.extend([
            "--max-seconds".to_string(),
            max_lifetime.as_secs().max(1).to_string(),
        ]);
        argv
    };
    let child = match via {
        Via::ThisHost { pid } => {
            let exe =
                std::env::current_exe().map_err(|e| format!("cannot find gameday itself: {e}"))?;
            let mut cmd = tokio::process::Command::new(exe);
            cmd.args(argv(pid));
            Child::spawn(cmd).map_err(|e| format!("cannot start {what}: {e}"))?
        }
        Via::Helper { engine, image } => {
            let mut full = vec!["/gameday".to_string()];
            full.extend(argv(1));
            full.push("--placed".into());
            let inside = Inside {
                cgroup: false,
                mounts: false,
                network: true,
            };
            Child::start_helper(
                engine,
                container_id,
                image,
                &full,
                helper_labels(tag),
                inside,
            )
            .await
            .map_err(|e| helper_error(image, e))?
        }
    };
    match child.first_line(ready_within).await {
        (Some(child), First::Line(line)) if line.starts_with("ready ") => {
            Ok((Proxy(child), line.trim_start_matches("ready ").to_string()))
        }
        (Some(child), First::Line(line)) => {
            let _ = child.stop(Duration::from_secs(5)).await;
            Err(format!("{what} said `{line}` instead of ready"))
        }
        (_, First::Ended { stderr, .. }) => {
            let err = stderr
                .trim()
                .trim_start_matches(&format!("gameday {command}: "))
                .to_string();
            Err(if err.is_empty() {
                format!("{what} ended before it was in place")
            } else {
                err
            })
        }
        (_, First::TimedOut) | (None, First::Line(_)) => Err(format!(
            "{what} was not in place after {}s",
            ready_within.as_secs()
        )),
    }
}

/// Labels of a helper container serving the fault tagged `tag`.
pub(crate) fn helper_labels(tag: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([
        ("gameday.helper".to_string(), "1".to_string()),
        (super::helper::TAG_LABEL.to_string(), tag.to_string()),
    ])
}

/// A helper that could not start, in words.
pub(crate) fn helper_error(image: &str, e: crate::docker::DockerError) -> String {
    match e {
        crate::docker::DockerError::Unsupported(why) => why,
        other => format!(
            "cannot start a helper container from `{image}`: {other} \
             (build it with scripts/build-nethelper-image, or set docker.helper_image)"
        ),
    }
}
