//! The stress faults (`cpu_stress`, `memory_stress`, `io_stress`,
//! `disk_fill`): the work is done by `gameday stress` (hidden), a process of
//! gameday's own started on this host. Before it does anything it joins
//! every cgroup of the target container (cgroup v1 hierarchies or the v2
//! one), so the container's CPU quota throttles it, its memory limit counts
//! it and its OOM killer acts as in a real incident; the filesystem kinds
//! also enter the container's mount namespace, so a path resolves inside
//! the container's root (an absolute symlink in the container cannot lead
//! to this host's files).
//!
//! A worker never outlives what it stresses: it ends when its stdin closes
//! (the run reverts it, or the runner died), when the container's main
//! process ends, or after its longest lifetime; it removes the files it
//! wrote as it ends. The revert recipe ([`super::RevertRecipe::Stress`])
//! does the same from any process: kill the workers by their tag, remove
//! the files by their journalled names (idempotent).

use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

use crate::docker::Engine;
use crate::gameday::model::Fault;

mod worker;
pub(crate) use worker::serve;

/// How long a worker may take to be in place (a large fill written without
/// `fallocate`).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a stopped worker may take to clean up and exit.
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// The unit of allocation and of writes.
pub(super) const CHUNK: usize = 1 << 20;

/// What a stress worker does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Work {
    /// `workers` threads, each busy `load` percent of every 100 ms.
    Cpu { workers: u32, load: f64 },
    /// `bytes` allocated, every page touched, held; meanwhile the
    /// container's own processes (`raise`) are the OOM killer's first
    /// choice, as if the memory were theirs.
    Memory { bytes: u64, raise: Vec<OomScore> },
    /// `workers` threads writing 1 MiB blocks with an fsync after each, to
    /// a file of at most `file_bytes` each, rewritten from its start.
    Io {
        dir: String,
        workers: u32,
        file_bytes: u64,
    },
    /// One file in `dir`, of a size or up to a share of the filesystem.
    Fill { dir: String, amount: Amount },
    /// Remove these files and put these OOM scores back (the recipe's
    /// clean-up through a helper; from this host it puts them back itself).
    Remove {
        files: Vec<String>,
        restore: Vec<OomScore>,
    },
    /// Print the OOM scores of the container's processes (a helper's
    /// read-only look, before `memory_stress` is applied).
    Scores,
}

/// A process's `oom_score_adj` before `memory_stress` raised it: what its
/// revert puts back (the same process: PID and start time).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OomScore {
    pub pid: i32,
    pub start: u64,
    pub value: i32,
}

impl OomScore {
    pub(super) fn arg(&self) -> String {
        format!("{}:{}:{}", self.pid, self.start, self.value)
    }

    pub(super) fn parse(text: &str) -> Option<OomScore> {
        let mut parts = text.split(':');
        Some(OomScore {
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
            value: parts.next()?.parse().ok()?,
        })
    }
}

/// The `oom_score_adj` of container `container_id`'s processes on this
/// host (read only).
pub(crate) fn oom_scores(container_id: &str, main_pid: i64) -> Vec<OomScore> {
    super::process::of_container(container_id, main_pid)
        .iter()
        .filter_map(|p| {
            let value = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", p.pid)).ok()?;
            Some(OomScore {
                pid: p.pid,
                start: start_time(i64::from(p.pid))?,
                value: value.trim().parse().ok()?,
            })
        })
        .collect()
}

/// Set each listed process that still runs to `to`, or back to its own
/// recorded value. Returns how many changed.
pub(crate) fn set_oom_scores(scores: &[OomScore], to: Option<i32>) -> usize {
    scores
        .iter()
        .filter(|s| start_time(i64::from(s.pid)) == Some(s.start))
        .filter(|s| {
            let path = format!("/proc/{}/oom_score_adj", s.pid);
            let want = to.unwrap_or(s.value);
            let now: Option<i32> = std::fs::read_to_string(&path)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            now != Some(want) && std::fs::write(&path, want.to_string()).is_ok()
        })
        .count()
}

/// How much a `disk_fill` writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Amount {
    /// Until the filesystem is this full (df's Use%).
    Percent(f64),
    Bytes(u64),
}

/// The worker's command line, as the hidden `stress` command takes it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub kind: String,
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    #[arg(long, default_value_t = 100.0)]
    pub load: f64,
    #[arg(long)]
    pub bytes: Option<u64>,
    #[arg(long)]
    pub percent: Option<f64>,
    #[arg(long = "path")]
    pub paths: Vec<String>,
    #[arg(long = "raise-oom")]
    pub raise_oom: Vec<String>,
    #[arg(long = "restore-oom")]
    pub restore_oom: Vec<String>,
}

impl Work {
    /// `--kind ...` and the rest, for the hidden `stress` command.
    fn args(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |k: &str, v: String| {
            out.push(k.to_string());
            out.push(v);
        };
        match self {
            Work::Cpu { workers, load } => {
                push("--kind", "cpu".into());
                push("--workers", workers.to_string());
                push("--load", load.to_string());
            }
            Work::Memory { bytes, raise } => {
                push("--kind", "memory".into());
                push("--bytes", bytes.to_string());
                for r in raise {
                    push("--raise-oom", r.arg());
                }
            }
            Work::Io {
                dir,
                workers,
                file_bytes,
            } => {
                push("--kind", "io".into());
                push("--path", dir.clone());
                push("--workers", workers.to_string());
                push("--bytes", file_bytes.to_string());
            }
            Work::Fill { dir, amount } => {
                push("--kind", "fill".into());
                push("--path", dir.clone());
                match amount {
                    Amount::Percent(p) => push("--percent", p.to_string()),
                    Amount::Bytes(b) => push("--bytes", b.to_string()),
                }
            }
            Work::Remove { files, restore } => {
                push("--kind", "remove".into());
                for f in files {
                    push("--path", f.clone());
                }
                for r in restore {
                    push("--restore-oom", r.arg());
                }
            }
            Work::Scores => push("--kind", "scores".into()),
        }
        out
    }

    /// Read back what [`Work::args`] wrote.
    pub(crate) fn from_args(a: Args) -> Result<Work, String> {
        let path = || {
            a.paths
                .first()
                .cloned()
                .ok_or_else(|| "--path is required".to_string())
        };
        let scores = |list: &[String], flag: &str| {
            list.iter()
                .map(|r| OomScore::parse(r).ok_or(format!("bad {flag} {r}")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match a.kind.as_str() {
            "cpu" => Work::Cpu {
                workers: a.workers.max(1),
                load: a.load.clamp(1.0, 100.0),
            },
            "memory" => Work::Memory {
                bytes: a.bytes.ok_or("--bytes is required")?,
                raise: scores(&a.raise_oom, "--raise-oom")?,
            },
            "io" => Work::Io {
                dir: path()?,
                workers: a.workers.max(1),
                file_bytes: a.bytes.unwrap_or(64 * CHUNK as u64).max(CHUNK as u64),
            },
            "fill" => Work::Fill {
                dir: path()?,
                amount: match (a.percent, a.bytes) {
                    (Some(p), None) => Amount::Percent(p),
                    (None, Some(b)) => Amount::Bytes(b),
                    _ => return Err("give one of --percent and --bytes".into()),
                },
            },
            "remove" => Work::Remove {
                restore: scores(&a.restore_oom, "--restore-oom")?,
                files: a.paths,
            },
            "scores" => Work::Scores,
            other => return Err(format!("unknown kind `{other}`")),
        })
    }

    /// The files it writes, inside the container, named after `tag`: what
    /// the recipe removes.
    pub(crate) fn files(&self, tag: &str) -> Vec<String> {
        match self {
            Work::Io { dir, workers, .. } => (1..=*workers)
                .map(|i| in_dir(dir, &format!(".gameday-io-{}-{i}", file_safe(tag))))
                .collect(),
            Work::Fill { dir, .. } => {
                vec![in_dir(dir, &format!(".gameday-fill-{}", file_safe(tag)))]
            }
            Work::Cpu { .. } | Work::Memory { .. } | Work::Remove { .. } | Work::Scores => {
                Vec::new()
            }
        }
    }

    fn in_mount_namespace(&self) -> bool {
        match self {
            Work::Io { .. } | Work::Fill { .. } | Work::Remove { .. } => true,
            Work::Cpu { .. } | Work::Memory { .. } | Work::Scores => false,
        }
    }
}

fn in_dir(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// A tag (`gameday:3f9c2a:s1-f1-ab12`) as part of a file name.
fn file_safe(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The work a stress fault asks for; `None` for every other kind.
pub(crate) fn work_of(fault: &Fault) -> Option<Work> {
    match fault {
        Fault::CpuStress(c) => Some(Work::Cpu {
            workers: c.workers,
            load: c.load.0,
        }),
        Fault::MemoryStress(m) => Some(Work::Memory {
            bytes: m.size.0 as u64,
            raise: Vec::new(),
        }),
        Fault::IoStress(i) => Some(Work::Io {
            dir: i.path.clone(),
            workers: i.workers,
            file_bytes: i.size.0 as u64,
        }),
        Fault::DiskFill(d) => Some(Work::Fill {
            dir: d.path.clone(),
            amount: match (d.fill, d.size) {
                (Some(p), _) => Amount::Percent(p.0),
                (None, Some(b)) => Amount::Bytes(b.0 as u64),
                (None, None) => Amount::Percent(100.0),
            },
        }),
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
        | Fault::Process(_)
        | Fault::Script(_) => None,
    }
}

/// A process's start time (field 22 of `/proc/PID/stat`): a PID reused by
/// another process has another one.
pub(super) fn start_time(pid: i64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

pub(super) fn bytes(n: f64) -> String {
    crate::gameday::units::ByteSize(n).to_string()
}

// ---------------------------------------------------------------- runner side

/// A worker in place, started by the run. Dropping it kills it (on this
/// host) or closes its input (in a helper container, which then ends it).
/// (Behind a mutex only so a fault holding it can be shared: the helper's
/// streams are `Send` but not `Sync`.)
pub(crate) struct Worker(std::sync::Mutex<Place>);

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
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.lock().as_deref() {
            Ok(Place::Local { child, .. }) => write!(f, "Worker(pid {:?})", child.id()),
            Ok(Place::Helper { id, .. }) => write!(f, "Worker(helper {id})"),
            Err(_) => write!(f, "Worker(?)"),
        }
    }
}

/// `gameday stress --pid PID --container ID --tag TAG <work>`: the
/// worker's arguments after the program.
fn worker_args(pid: i64, container_id: &str, tag: &str, work: &Work) -> Vec<String> {
    let mut argv: Vec<String> = ["stress", "--pid", &pid.to_string(), "--container"]
        .map(String::from)
        .to_vec();
    argv.extend([container_id.to_string(), "--tag".into(), tag.to_string()]);
    argv.extend(work.args());
    argv
}

/// This very binary, as a worker.
fn worker_command(
    pid: i64,
    container_id: &str,
    tag: &str,
    work: &Work,
) -> Result<tokio::process::Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find gameday itself: {e}"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(worker_args(pid, container_id, tag, work));
    Ok(cmd)
}

/// The same worker in a helper container placed inside the target: the
/// image's `/gameday`, with PID 1 (the target's main process there).
fn helper_argv(container_id: &str, tag: &str, work: &Work, max: Duration) -> Vec<String> {
    let mut argv = vec!["/gameday".to_string()];
    argv.extend(worker_args(1, container_id, tag, work));
    argv.extend([
        "--placed".to_string(),
        "--max-seconds".into(),
        max.as_secs().max(1).to_string(),
    ]);
    argv
}

/// Where stress workers run: this host, or helper containers from this
/// image (a remote engine).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via<'a> {
    ThisHost { pid: i64 },
    Helper { engine: &'a Engine, image: &'a str },
}

/// What a worker that ended before it said `ready` leaves to say: when it
/// was killed allocating, the container's memory limit was reached and
/// its OOM killer chose the worker. That is what happened, not a failure
/// to apply.
fn ended_early(work: &Work, killed: bool, stderr: &str) -> Result<String, String> {
    if let (Work::Memory { bytes, .. }, true) = (work, killed) {
        return Ok(format!(
            "the worker was killed (SIGKILL: the OOM killer, at the container's memory limit) before it held {}",
            self::bytes(*bytes as f64)
        ));
    }
    let err = stderr.trim().trim_start_matches("gameday stress: ");
    Err(if err.is_empty() {
        "the stress worker ended before it was in place".into()
    } else {
        err.to_string()
    })
}

/// What the worker's first line says is in place.
fn ready_detail(line: &str) -> String {
    match line.strip_prefix("ready ") {
        Some(d) => d.to_string(),
        // It ended while putting its work in place (the container's main
        // process ended: an OOM kill, most likely): that is what happened.
        None => format!(
            "{} before all of it was in place",
            line.trim_start_matches("stopped: ")
        ),
    }
}

/// Start a worker on container `container_id` and wait until its work is
/// in place. Returns it and what is in place, in words.
pub(crate) async fn start(
    via: Via<'_>,
    container_id: &str,
    tag: &str,
    work: &Work,
    max_lifetime: Duration,
) -> Result<(Worker, String), String> {
    match via {
        Via::ThisHost { pid } => start_here(pid, container_id, tag, work, max_lifetime).await,
        Via::Helper { engine, image } => {
            start_in_helper(engine, image, container_id, tag, work, max_lifetime).await
        }
    }
}

async fn start_here(
    pid: i64,
    container_id: &str,
    tag: &str,
    work: &Work,
    max_lifetime: Duration,
) -> Result<(Worker, String), String> {
    let mut child = worker_command(pid, container_id, tag, work)?
        .args(["--max-seconds", &max_lifetime.as_secs().max(1).to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        // Its own group: a Ctrl-C at the terminal is the runner's to handle.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start a stress worker: {e}"))?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stdout = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(READY_WITHIN, stdout.next_line()).await;
    let detail = match first {
        Ok(Ok(Some(line))) => ready_detail(&line),
        Ok(_) => {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut err).await;
            }
            let status = child.wait().await;
            use std::os::unix::process::ExitStatusExt;
            let killed = status.is_ok_and(|s| s.signal() == Some(libc::SIGKILL));
            ended_early(work, killed, &err)?
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "the stress worker was not in place after {}s",
                READY_WITHIN.as_secs()
            ));
        }
    };
    Ok((
        Worker(std::sync::Mutex::new(Place::Local {
            child,
            stdin,
            stdout,
        })),
        detail,
    ))
}

/// Labels of a helper container serving the fault tagged `tag`.
fn helper_labels(tag: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([
        ("gameday.helper".to_string(), "1".to_string()),
        (super::helper::TAG_LABEL.to_string(), tag.to_string()),
    ])
}

async fn start_in_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
    work: &Work,
    max_lifetime: Duration,
) -> Result<(Worker, String), String> {
    let attached = engine
        .start_inside(
            container_id,
            image,
            &helper_argv(container_id, tag, work, max_lifetime),
            helper_labels(tag),
            work.in_mount_namespace(),
        )
        .await
        .map_err(|e| helper_error(image, e))?;
    let id = attached.id;
    let mut output = HelperOutput::new(attached.output);
    let detail = match tokio::time::timeout(READY_WITHIN, output.next_line()).await {
        Ok(Some(line)) => ready_detail(&line),
        Ok(None) => {
            let ended = engine.finish(&id, false).await.map_err(|e| e.to_string())?;
            // 137: SIGKILL, as the OOM killer sends it.
            ended_early(work, ended.exit_code == 137, &ended.stderr)?
        }
        Err(_) => {
            let _ = engine.finish(&id, true).await;
            return Err(format!(
                "the stress worker was not in place after {}s",
                READY_WITHIN.as_secs()
            ));
        }
    };
    Ok((
        Worker(std::sync::Mutex::new(Place::Helper {
            engine: engine.clone(),
            id,
            input: Some(attached.input),
            output,
        })),
        detail,
    ))
}

fn helper_error(image: &str, e: crate::docker::DockerError) -> String {
    match e {
        crate::docker::DockerError::Unsupported(why) => why,
        other => format!(
            "cannot start a stress worker in a helper container from `{image}`: {other} \
             (build it with scripts/build-nethelper-image, or set docker.helper_image)"
        ),
    }
}

/// A helper container's standard output, line by line (its errors are
/// read from its logs when it ends).
pub(crate) struct HelperOutput {
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

/// Run `work` once in a helper container inside `container_id` and
/// return the lines it printed.
async fn once_in_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
    work: &Work,
) -> Result<Vec<String>, String> {
    let attached = engine
        .start_inside(
            container_id,
            image,
            &helper_argv(container_id, tag, work, STOP_WITHIN),
            helper_labels(tag),
            work.in_mount_namespace(),
        )
        .await
        .map_err(|e| helper_error(image, e))?;
    let mut output = HelperOutput::new(attached.output);
    drop(attached.input);
    let lines = tokio::time::timeout(STOP_WITHIN, async {
        let mut lines = Vec::new();
        while let Some(line) = output.next_line().await {
            lines.push(line);
        }
        lines
    })
    .await;
    let ended = engine
        .finish(&attached.id, lines.is_err())
        .await
        .map_err(|e| e.to_string())?;
    match lines {
        Ok(lines) if ended.exit_code == 0 => Ok(lines),
        Ok(_) => Err(ended
            .stderr
            .trim()
            .trim_start_matches("gameday stress: ")
            .to_string()),
        Err(_) => Err(format!(
            "the helper did not finish within {}s",
            STOP_WITHIN.as_secs()
        )),
    }
}

/// The OOM scores of container `container_id`'s processes, read by a
/// helper inside it (their PIDs are the container's own).
pub(crate) async fn oom_scores_via_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
) -> Result<Vec<OomScore>, String> {
    let lines = once_in_helper(engine, image, container_id, tag, &Work::Scores).await?;
    Ok(lines
        .iter()
        .filter_map(|l| OomScore::parse(l.strip_prefix("score=")?))
        .collect())
}

/// Remove `files` and put `scores` back inside container `container_id`,
/// through a helper. Returns how many files were there and how many
/// scores changed.
pub(crate) async fn clean_up_via_helper(
    engine: &Engine,
    image: &str,
    container_id: &str,
    tag: &str,
    files: &[String],
    scores: &[OomScore],
) -> Result<(usize, usize), String> {
    let work = Work::Remove {
        files: files.to_vec(),
        restore: scores.to_vec(),
    };
    let lines = once_in_helper(engine, image, container_id, tag, &work).await?;
    Ok(lines
        .iter()
        .find_map(|l| removed_counts(l))
        .unwrap_or((0, 0)))
}

/// `removed=N restored=M`, as a removal worker ends.
fn removed_counts(line: &str) -> Option<(usize, usize)> {
    let mut removed = None;
    let mut restored = 0;
    for part in line.split_whitespace() {
        if let Some(n) = part.strip_prefix("removed=") {
            removed = n.parse().ok();
        } else if let Some(n) = part.strip_prefix("restored=") {
            restored = n.parse().unwrap_or(0);
        }
    }
    Some((removed?, restored))
}

impl Worker {
    /// Stop it: it removes its files and exits. Returns its last word
    /// (`stopped: ...`), or None when it had to be killed.
    pub(crate) async fn stop(self) -> Option<String> {
        let place = match self.0.into_inner() {
            Ok(place) => place,
            Err(poisoned) => poisoned.into_inner(),
        };
        match place {
            Place::Local {
                mut child,
                stdin,
                mut stdout,
            } => {
                drop(stdin);
                let last = tokio::time::timeout(STOP_WITHIN, async {
                    let mut last = None;
                    while let Ok(Some(line)) = stdout.next_line().await {
                        last = Some(line);
                    }
                    last
                })
                .await
                .ok()
                .flatten();
                match tokio::time::timeout(STOP_WITHIN, child.wait()).await {
                    Ok(_) => last.map(|l| l.trim_start_matches("stopped: ").to_string()),
                    Err(_) => {
                        let _ = child.kill().await;
                        None
                    }
                }
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
                let last = tokio::time::timeout(STOP_WITHIN, async {
                    let mut last = None;
                    while let Some(line) = output.next_line().await {
                        last = Some(line);
                    }
                    last
                })
                .await
                .ok()
                .flatten();
                // Removed either way; stopped (SIGTERM, then SIGKILL) when
                // it did not end by itself.
                let ended = last.as_ref().is_some_and(|l| l.starts_with("stopped"));
                let _ = engine.finish(&id, !ended).await;
                last.filter(|_| ended)
                    .map(|l| l.trim_start_matches("stopped: ").to_string())
            }
        }
    }
}

/// Kill every worker of this host carrying `tag` and wait until they are
/// gone (their memory with them). Returns how many there were.
pub(crate) async fn kill_tagged(tag: &str) -> usize {
    let pids = tagged(tag);
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let deadline = Instant::now() + STOP_WITHIN;
    while Instant::now() < deadline && pids.iter().any(|p| start_time(i64::from(*p)).is_some()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pids.len()
}

/// The PIDs of `gameday stress ... --tag TAG` processes on this host.
fn tagged(tag: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            worker_argv(*pid).is_some_and(|argv| {
                argv.windows(2)
                    .any(|w| w[0] == b"--tag" && w[1] == tag.as_bytes())
            })
        })
        .collect()
}

/// The command line of process `pid` if it is a stress worker.
fn worker_argv(pid: i32) -> Option<Vec<Vec<u8>>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv: Vec<Vec<u8>> = raw.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    (argv.get(1).map(Vec::as_slice) == Some(&b"stress"[..])).then_some(argv)
}

/// Is process `pid` a stress worker (of any fault)?
pub(super) fn is_worker(pid: i32) -> bool {
    worker_argv(pid).is_some()
}

/// Remove `files` inside container `container_id` (main process `pid`),
/// through a short-lived worker in its mount namespace. Returns how many
/// were there.
pub(crate) async fn remove(
    pid: i64,
    container_id: &str,
    tag: &str,
    files: &[String],
) -> Result<usize, String> {
    let work = Work::Remove {
        files: files.to_vec(),
        restore: Vec::new(),
    };
    let out = tokio::time::timeout(
        STOP_WITHIN,
        worker_command(pid, container_id, tag, &work)?
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "removing the files took too long".to_string())?
    .map_err(|e| format!("cannot start gameday to remove the files: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find_map(removed_counts) {
        Some((n, _)) => Ok(n),
        None => Err(String::from_utf8_lossy(&out.stderr)
            .trim()
            .trim_start_matches("gameday stress: ")
            .to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_round_trips_through_its_command_line_and_names_its_files() {
        let works = [
            Work::Cpu {
                workers: 2,
                load: 80.0,
            },
            Work::Memory {
                bytes: 200 << 20,
                raise: vec![OomScore {
                    pid: 42,
                    start: 9001,
                    value: -17,
                }],
            },
            Work::Io {
                dir: "/data".into(),
                workers: 2,
                file_bytes: 64 << 20,
            },
            Work::Fill {
                dir: "/data/".into(),
                amount: Amount::Percent(95.0),
            },
            Work::Fill {
                dir: "/".into(),
                amount: Amount::Bytes(1 << 30),
            },
            Work::Remove {
                files: vec!["/data/.gameday-fill-t".into()],
                restore: vec![OomScore {
                    pid: 1,
                    start: 77,
                    value: 0,
                }],
            },
            Work::Scores,
        ];
        for work in works {
            let argv = work.args();
            let mut a = Args::default();
            for pair in argv.chunks(2) {
                match pair[0].as_str() {
                    "--kind" => a.kind = pair[1].clone(),
                    "--workers" => a.workers = pair[1].parse().unwrap(),
                    "--load" => a.load = pair[1].parse().unwrap(),
                    "--bytes" => a.bytes = Some(pair[1].parse().unwrap()),
                    "--percent" => a.percent = Some(pair[1].parse().unwrap()),
                    "--path" => a.paths.push(pair[1].clone()),
                    "--raise-oom" => a.raise_oom.push(pair[1].clone()),
                    "--restore-oom" => a.restore_oom.push(pair[1].clone()),
                    other => panic!("unexpected {other}"),
                }
            }
            assert_eq!(Work::from_args(a).unwrap(), work);
        }
        let fill = Work::Fill {
            dir: "/data/".into(),
            amount: Amount::Percent(95.0),
        };
        assert_eq!(
            fill.files("gameday:3f9c2a:s1-f1-ab12"),
            vec!["/data/.gameday-fill-gameday-3f9c2a-s1-f1-ab12"]
        );
        let root = Work::Fill {
            dir: "/".into(),
            amount: Amount::Bytes(1),
        };
        assert_eq!(root.files("t"), vec!["/.gameday-fill-t"]);
        assert_eq!(removed_counts("removed=1 restored=2"), Some((1, 2)));
        assert_eq!(removed_counts("removed=0"), Some((0, 0)));
        assert_eq!(removed_counts("ready"), None);
    }

    #[test]
    fn a_helper_worker_is_the_images_gameday_on_pid_1_and_placed() {
        let argv = helper_argv(
            "abc",
            "gameday:1:s1-f1",
            &Work::Cpu {
                workers: 1,
                load: 50.0,
            },
            Duration::from_secs(90),
        );
        assert_eq!(
            argv.join(" "),
            "/gameday stress --pid 1 --container abc --tag gameday:1:s1-f1 --kind cpu --workers 1 --load 50 --placed --max-seconds 90"
        );
    }
}
