//! The launcher, for both placements: a process on this host (this very
//! binary), or `/gameday` in a helper container on the engine with its
//! standard input attached. Either way the worker's first line must be
//! `ready <this version>`, then it is given its work; closing its stdin
//! tells it to stop, and its last line says how it ended (`stopped: ...`).
//! Its stdin also closes when the runner dies (the pipe, or the attach
//! connection), so a worker never outlives its runner by more than its own
//! clean-up.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::protocol::{STOPPED, Where, check_ready};
use super::{HelperRoom, TAG_LABEL, Work, WorkerError};
use crate::docker::Engine;

/// Where to start a worker.
pub(crate) enum Placement<'a> {
    /// This very binary on this host, in a process group of its own (a
    /// Ctrl-C at the terminal is the runner's to handle) and killed when
    /// dropped, or in a session of its own (`own_session`: away from the
    /// runner's terminal, never killed from here), its errors piped, or
    /// appended to `stderr_to`.
    ThisHost {
        own_session: bool,
        stderr_to: Option<std::fs::File>,
    },
    /// The image's `/gameday` in a helper container beside `target`,
    /// placed as its work's [`HelperRoom`] says.
    Helper {
        engine: &'a Engine,
        image: &'a str,
        target: &'a str,
        labels: HashMap<String, String>,
    },
    /// The image's `/gameday` in a container of its own named `name`, with
    /// the engine's socket (`socket`, on the engine's host) mounted.
    Engine {
        engine: &'a Engine,
        image: &'a str,
        name: &'a str,
        socket: &'a str,
        labels: HashMap<String, String>,
    },
}

impl Placement<'_> {
    /// A process on this host in a process group of its own.
    pub(crate) fn this_host() -> Placement<'static> {
        Placement::ThisHost {
            own_session: false,
            stderr_to: None,
        }
    }

    fn at(&self) -> Where {
        match self {
            Placement::ThisHost { .. } => Where::ThisHost,
            Placement::Helper { image, .. } | Placement::Engine { image, .. } => {
                Where::Image(image.to_string())
            }
        }
    }
}

/// Labels of a helper container serving the fault tagged `tag`.
pub(crate) fn helper_labels(tag: &str) -> HashMap<String, String> {
    HashMap::from([
        ("gameday.helper".to_string(), "1".to_string()),
        (TAG_LABEL.to_string(), tag.to_string()),
    ])
}

/// Start `work`'s worker where `placement` says, check its version, and
/// give it its work. A worker of another version is stopped before it
/// gets any work.
pub(crate) async fn launch<W: Work>(
    work: &W,
    placement: Placement<'_>,
    ready_within: Duration,
) -> Result<Worker, WorkerError> {
    let argv = work.marks().argv(W::KIND);
    let at = placement.at();
    let worker = start(W::KIND, &argv, placement, work.helper_room()).await?;
    let worker = match worker.first_line(ready_within).await {
        (Some(worker), First::Line(line)) => match check_ready(&at, Some(&line), "") {
            Ok(()) => worker,
            Err(e) => {
                let _ = worker.finish(Duration::from_secs(5)).await;
                return Err(e);
            }
        },
        (_, First::Ended { stderr, .. }) => {
            return Err(match check_ready(&at, None, &stderr) {
                Err(e) => e,
                Ok(()) => WorkerError::Silent {
                    kind: W::KIND,
                    within: ready_within,
                },
            });
        }
        (_, First::TimedOut) | (None, First::Line(_)) => {
            return Err(WorkerError::Silent {
                kind: W::KIND,
                within: ready_within,
            });
        }
    };
    let mut line = serde_json::to_vec(work).map_err(|e| WorkerError::Work {
        kind: W::KIND,
        why: e.to_string(),
    })?;
    line.push(b'\n');
    if let Err(why) = worker.write(&line).await {
        let _ = worker.finish(Duration::from_secs(5)).await;
        return Err(WorkerError::Work {
            kind: W::KIND,
            why: why.to_string(),
        });
    }
    Ok(worker)
}

async fn start(
    kind: super::WorkerKind,
    argv: &[String],
    placement: Placement<'_>,
    room: HelperRoom,
) -> Result<Worker, WorkerError> {
    let image_argv = || {
        std::iter::once("/gameday".to_string())
            .chain(argv.iter().cloned())
            .collect::<Vec<_>>()
    };
    match placement {
        Placement::ThisHost {
            own_session,
            stderr_to,
        } => Worker::spawn(argv, own_session, stderr_to)
            .map_err(|source| WorkerError::Start { kind, source }),
        Placement::Helper {
            engine,
            image,
            target,
            labels,
        } => {
            let attached = match room {
                HelperRoom::Inside(inside) => {
                    engine
                        .start_inside(target, image, &image_argv(), labels, inside)
                        .await
                }
                HelperRoom::Network => {
                    engine
                        .start_in_netns_attached(target, image, &image_argv(), labels)
                        .await
                }
                HelperRoom::Engine => Err(crate::docker::DockerError::Unsupported(format!(
                    "{kind} runs in a container of its own, not beside another"
                ))),
            }
            .map_err(|e| WorkerError::helper(image, e))?;
            Ok(Worker::attached(engine, attached))
        }
        Placement::Engine {
            engine,
            image,
            name,
            socket,
            labels,
        } => {
            let attached = engine
                .start_attached(name, image, &image_argv(), labels, socket)
                .await
                .map_err(|e| WorkerError::helper(image, e))?;
            Ok(Worker::attached(engine, attached))
        }
    }
}

/// A worker started by the run. Dropping it kills it (on this host) or
/// closes its input (in a helper container, which then ends it).
/// (Behind a mutex only so a fault holding it can be shared: the helper's
/// streams are `Send` but not `Sync`.)
pub(crate) struct Worker(std::sync::Mutex<Parts>);

/// A worker's process or container and its streams, for a caller that
/// speaks to it itself (the watchdog's link).
pub(crate) enum Parts {
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

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.lock().as_deref() {
            Ok(Parts::Local { child, .. }) => write!(f, "Worker(pid {:?})", child.id()),
            Ok(Parts::Helper { id, .. }) => write!(f, "Worker(helper {id})"),
            Ok(Parts::Gone) | Err(_) => write!(f, "Worker(gone)"),
        }
    }
}

/// How a worker's next line came.
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

impl Worker {
    /// Start this very binary with `argv`, its stdin and stdout piped.
    fn spawn(
        argv: &[String],
        own_session: bool,
        stderr_to: Option<std::fs::File>,
    ) -> std::io::Result<Worker> {
        let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
        // A worker in a session of its own (the watchdog) must outlive
        // whatever drops it here: it ends when its stdin closes, by itself.
        cmd.args(argv)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(!own_session);
        match stderr_to {
            Some(file) => cmd.stderr(file),
            None => cmd.stderr(std::process::Stdio::piped()),
        };
        if own_session {
            // SAFETY: setsid is async-signal-safe; it only makes the child
            // the leader of a new session, away from the runner's terminal
            // and process group.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        } else {
            cmd.process_group(0);
        }
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        Ok(Worker(std::sync::Mutex::new(Parts::Local {
            child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout).lines(),
        })))
    }

    fn attached(engine: &Engine, attached: crate::docker::Attached) -> Worker {
        Worker(std::sync::Mutex::new(Parts::Helper {
            engine: engine.clone(),
            id: attached.id,
            input: Some(attached.input),
            output: HelperOutput::new(attached.output),
        }))
    }

    /// A worker that ended before it was in place.
    pub(crate) fn gone() -> Worker {
        Worker(std::sync::Mutex::new(Parts::Gone))
    }

    /// Its process or container and streams, to speak to it directly.
    pub(crate) fn into_parts(self) -> Parts {
        match self.0.into_inner() {
            Ok(parts) => parts,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Write `bytes` to its stdin.
    async fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        // Taken out of the mutex while writing (a guard is not held across
        // an await), and put back.
        let taken = match &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Parts::Local { stdin, .. } => stdin.take().map(Input::Local),
            Parts::Helper { input, .. } => input.take().map(Input::Helper),
            Parts::Gone => None,
        };
        let Some(mut input) = taken else {
            return Err(std::io::Error::other("its input is closed"));
        };
        let written = match &mut input {
            Input::Local(stdin) => {
                async {
                    stdin.write_all(bytes).await?;
                    stdin.flush().await
                }
                .await
            }
            Input::Helper(w) => {
                async {
                    w.write_all(bytes).await?;
                    w.flush().await
                }
                .await
            }
        };
        match (
            &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()),
            input,
        ) {
            (Parts::Local { stdin, .. }, Input::Local(s)) => *stdin = Some(s),
            (Parts::Helper { input, .. }, Input::Helper(w)) => *input = Some(w),
            (Parts::Local { .. }, Input::Helper(_))
            | (Parts::Helper { .. }, Input::Local(_))
            | (Parts::Gone, Input::Local(_) | Input::Helper(_)) => {}
        }
        written
    }

    /// Wait for its next line. When it ended or timed out first, it is
    /// gone (killed, removed) and `self` is spent.
    pub(crate) async fn first_line(self, within: Duration) -> (Option<Worker>, First) {
        let mut parts = self.into_parts();
        let first = match &mut parts {
            Parts::Local { stdout, .. } => tokio::time::timeout(within, stdout.next_line())
                .await
                .map(|l| l.ok().flatten()),
            Parts::Helper { output, .. } => tokio::time::timeout(within, output.next_line()).await,
            Parts::Gone => Ok(None),
        };
        match (first, parts) {
            (Ok(Some(line)), parts) => (
                Some(Worker(std::sync::Mutex::new(parts))),
                First::Line(line),
            ),
            (Ok(None), Parts::Local { mut child, .. }) => {
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
            (Ok(None), Parts::Helper { engine, id, .. }) => {
                let (killed, stderr) = match engine.finish(&id, false).await {
                    // 137: SIGKILL, as the OOM killer sends it.
                    Ok(out) => (out.exit_code == 137, out.stderr),
                    Err(e) => (false, e.to_string()),
                };
                (None, First::Ended { killed, stderr })
            }
            (Err(_), Parts::Local { mut child, .. }) => {
                let _ = child.kill().await;
                (None, First::TimedOut)
            }
            (Err(_), Parts::Helper { engine, id, .. }) => {
                let _ = engine.finish(&id, true).await;
                (None, First::TimedOut)
            }
            (_, Parts::Gone) => (
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
    /// Returns its lines, and whether it ended by itself.
    pub(crate) async fn finish(self, within: Duration) -> (Vec<String>, bool) {
        match self.into_parts() {
            Parts::Local {
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
            Parts::Helper {
                engine,
                id,
                input,
                mut output,
            } => {
                if let Some(mut input) = input {
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
                let _ = engine.finish(&id, !ended).await;
                (lines.unwrap_or_default(), ended)
            }
            Parts::Gone => (Vec::new(), false),
        }
    }

    /// Stop it: returns its last word (`stopped: ...`, without the
    /// prefix), or None when it had to be killed.
    pub(crate) async fn stop(self, within: Duration) -> Option<String> {
        let (lines, ended) = self.finish(within).await;
        let last = lines.into_iter().last()?;
        (ended && last.starts_with(STOPPED.trim_end()))
            .then(|| last.trim_start_matches(STOPPED).to_string())
    }
}

enum Input {
    Local(tokio::process::ChildStdin),
    Helper(std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>),
}

type LogStream = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;

/// A helper container's standard output, line by line (its errors are
/// read from its logs when it ends).
pub(crate) struct HelperOutput {
    stream: LogStream,
    pending: Vec<u8>,
}

impl HelperOutput {
    fn new(stream: LogStream) -> Self {
        HelperOutput {
            stream,
            pending: Vec::new(),
        }
    }

    /// The next whole line it printed; None once it ended.
    pub(crate) async fn next_line(&mut self) -> Option<String> {
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
