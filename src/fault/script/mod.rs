//! The `script` fault: your own `apply` and `revert` commands (argv, never
//! a shell unless you name one), run inside the target container (an exec)
//! or on this host. The revert argv is in the recipe, journalled and
//! fsynced before `apply` runs, so the run, the watchdog and `recover` can
//! all run it. Both have a timeout; their exit code and the end of their
//! output are recorded (URLs redacted). A command that does not end in
//! time is killed with every process it started before anything else
//! happens ([`sweep`]), and the record says how many, or that it may still
//! be running. Its recipe, apply and revert are here too.

mod sweep;

#[cfg(test)]
pub(crate) use sweep::KillWork;
pub(crate) use sweep::serve_kill_marked;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::AsyncReadExt;

use super::{AppliedFault, ApplyContext, Applying, FaultError, RevertRecipe};
use crate::docker::{ContainerInfo, Engine};
use crate::gameday::model::{ScriptFault, ScriptPlace};
use crate::gameday::units::ContainerState;

/// How much of a command's output is kept.
const OUTPUT_KEPT: usize = 400;

/// How much of a host command's output is read back (its end).
const OUTPUT_READ: usize = 64 * 1024;

/// Where and how a script command runs.
#[derive(Debug, Clone)]
pub(crate) struct Command<'a> {
    pub argv: &'a [String],
    pub on_host: bool,
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub timeout: Duration,
    /// The fault's tag: marks the command's processes, and a helper's.
    pub tag: &'a str,
    /// `apply` or `revert`: which of the fault's commands this is.
    pub role: &'static str,
    /// The container's processes are reached through helper containers
    /// from this image (a remote engine).
    pub helper_image: Option<&'a str>,
}

impl Command<'_> {
    /// What marks this command's processes (`GAMEDAY_SCRIPT=...`).
    fn marker(&self) -> String {
        format!("{}:{}", self.tag, self.role)
    }

    fn program(&self) -> String {
        self.argv.join(" ")
    }
}

/// What a command ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub exit_code: i64,
    /// The end of its output (stdout, then stderr), redacted.
    pub output: String,
}

impl Ended {
    /// `exit 0: <output>` for the record.
    pub(crate) fn summary(&self) -> String {
        if self.output.is_empty() {
            format!("exit {}", self.exit_code)
        } else {
            format!("exit {}: {}", self.exit_code, self.output)
        }
    }
}

/// Run it; an error when it could not be run or did not end in time (it is
/// then killed with what it started, as the error says).
pub(crate) async fn run(engine: &Engine, cmd: &Command<'_>) -> Result<Ended, String> {
    if cmd.on_host {
        run_here(cmd).await
    } else {
        run_in_container(engine, cmd).await
    }
}

async fn run_in_container(engine: &Engine, cmd: &Command<'_>) -> Result<Ended, String> {
    let marker = cmd.marker();
    let env = [format!("{}={marker}", sweep::MARKER)];
    let exec = engine.exec_with_env(cmd.container_id, cmd.argv, &env);
    match tokio::time::timeout(cmd.timeout, exec).await {
        Ok(Ok(out)) => Ok(Ended {
            exit_code: out.exit_code,
            output: tail(&out.output),
        }),
        Ok(Err(e)) => Err(format!(
            "cannot run `{}` in the container: {e}",
            cmd.program()
        )),
        Err(_) => {
            let swept =
                sweep::in_container(engine, cmd.container_id, &marker, cmd.tag, cmd.helper_image)
                    .await;
            Err(timed_out(cmd, &swept, "in the container"))
        }
    }
}

/// A host command: in a session of its own (away from the runner's
/// terminal and process group), marked, its output read to its end.
async fn run_here(cmd: &Command<'_>) -> Result<Ended, String> {
    let marker = cmd.marker();
    let mut command = tokio::process::Command::new(&cmd.argv[0]);
    command
        .args(&cmd.argv[1..])
        .env("GAMEDAY_CONTAINER_ID", cmd.container_id)
        .env("GAMEDAY_CONTAINER_NAME", cmd.container_name)
        .env(sweep::MARKER, &marker)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: setsid is async-signal-safe; it only makes the child the
    // leader of a new session (and process group) of its own.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run `{}` on this host: {e}", cmd.program()))?;
    let session = child.id().map(|pid| pid as i32);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let ran = tokio::time::timeout(cmd.timeout, async {
        tokio::join!(child.wait(), read_end(stdout), read_end(stderr))
    })
    .await;
    match ran {
        Ok((Ok(status), out, err)) => Ok(Ended {
            exit_code: status.code().map(i64::from).unwrap_or(-1),
            output: tail(&format!(
                "{}{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            )),
        }),
        Ok((Err(e), ..)) => Err(format!(
            "cannot wait for `{}` on this host: {e}",
            cmd.program()
        )),
        Err(_) => {
            let swept = match session {
                Some(session) => {
                    tokio::task::spawn_blocking(move || sweep::on_this_host(session, &marker))
                        .await
                        .unwrap_or_else(|e| sweep::Swept::MayRun(e.to_string()))
                }
                None => sweep::Swept::MayRun("its process id is unknown".into()),
            };
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            Err(timed_out(cmd, &swept, "on this host"))
        }
    }
}

/// What is left of a command that was started and never seen to end (its
/// runner died during it), once its time is up: killed by its marker, as
/// [`run`] kills one that times out, so that it cannot land after the
/// revert.
pub(crate) async fn end_unfinished(engine: &Engine, cmd: &Command<'_>) -> sweep::Swept {
    let marker = cmd.marker();
    if cmd.on_host {
        tokio::task::spawn_blocking(move || sweep::marked_on_this_host(&marker))
            .await
            .unwrap_or_else(|e| sweep::Swept::MayRun(e.to_string()))
    } else {
        sweep::in_container(engine, cmd.container_id, &marker, cmd.tag, cmd.helper_image).await
    }
}

/// Read `from` to its end, keeping the last [`OUTPUT_READ`] bytes.
/// Its revert recipe: the `revert` command, where and how long it runs.
pub(crate) fn recipe(
    fault: &ScriptFault,
    container: &ContainerInfo,
    context: &ApplyContext,
) -> RevertRecipe {
    RevertRecipe::Script {
        container_id: container.id.clone(),
        container_name: container.name.clone(),
        argv: fault.revert.clone(),
        on_host: fault.place == ScriptPlace::Host,
        timeout_ms: fault.timeout.as_std().as_millis() as u64,
        tag: context.tag.clone(),
        helper_image: match fault.place {
            ScriptPlace::Host => None,
            ScriptPlace::Container => context.helper_image.clone(),
        },
    }
}

/// Run the `apply` command; a failed one (an exit code other than 0) is
/// an error.
pub(crate) async fn apply(
    fault: &ScriptFault,
    applying: Applying<'_>,
) -> Result<AppliedFault, FaultError> {
    let (container, context) = (applying.container, applying.context);
    let script_error = |message: String| FaultError::Script {
        container: container.name.clone(),
        message,
    };
    let on_host = fault.place == ScriptPlace::Host;
    let ended = run(
        applying.engine,
        &Command {
            argv: &fault.apply,
            on_host,
            container_id: &container.id,
            container_name: &container.name,
            timeout: fault.timeout.as_std(),
            tag: &context.tag,
            role: "apply",
            helper_image: match fault.place {
                ScriptPlace::Host => None,
                ScriptPlace::Container => context.helper_image.as_deref(),
            },
        },
    )
    .await
    .map_err(script_error)?;
    if ended.exit_code != 0 {
        return Err(script_error(format!(
            "the apply failed: {}",
            ended.summary()
        )));
    }
    let place = if on_host {
        "a command on this host"
    } else {
        "a command in the container"
    };
    Ok(applying.in_place(place, Some(format!("apply: {}", ended.summary()))))
}

/// [`RevertRecipe::Script`]: run the `revert` command `cmd`; when it
/// happened, and its exit code and output. A script inside a container
/// that is gone or stopped cannot run.
pub(crate) async fn revert(
    engine: &Engine,
    cmd: &Command<'_>,
) -> Result<(Option<DateTime<Utc>>, Option<String>), FaultError> {
    let script_error = |message: String| FaultError::Script {
        container: cmd.container_name.to_string(),
        message,
    };
    if !cmd.on_host {
        let gone = FaultError::Gone(cmd.container_name.to_string());
        match engine.state(cmd.container_id).await {
            Ok(ContainerState::Running) => {}
            Ok(ContainerState::Absent) => return Err(gone),
            Ok(
                state @ (ContainerState::Created
                | ContainerState::Paused
                | ContainerState::Restarting
                | ContainerState::Removing
                | ContainerState::Exited
                | ContainerState::Dead),
            ) => {
                return Err(script_error(format!(
                    "the container is {state}, so the revert cannot run in it"
                )));
            }
            Err(source) => {
                return Err(FaultError::Docker {
                    action: "inspect",
                    container: cmd.container_name.to_string(),
                    source,
                });
            }
        }
    }
    let ended = run(engine, cmd).await.map_err(script_error)?;
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

async fn read_end(from: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    let Some(mut from) = from else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buffer[..n]);
        if kept.len() > 2 * OUTPUT_READ {
            kept.drain(..kept.len() - OUTPUT_READ);
        }
    }
    kept
}

/// "`sh -c ...` timed out after 1s on this host; killed 4 processes (...)".
fn timed_out(cmd: &Command<'_>, swept: &sweep::Swept, place: &str) -> String {
    format!(
        "`{}` timed out after {} {place}; {}",
        cmd.program(),
        crate::gameday::units::HumanDuration(cmd.timeout),
        swept.said()
    )
}

/// The last [`OUTPUT_KEPT`] characters of `text`, on one line, redacted.
fn tail(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = one_line.chars().collect();
    let kept: String = if chars.len() > OUTPUT_KEPT {
        let start = chars.len() - OUTPUT_KEPT;
        format!("…{}", chars[start..].iter().collect::<String>())
    } else {
        one_line
    };
    crate::redact::text(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_kept_short_on_one_line_and_redacted() {
        assert_eq!(
            tail("dropped rule\n  on http://admin:pw@db:5432/x\n"),
            "dropped rule on http://***@db:5432/x"
        );
        let long = "x".repeat(1000);
        let kept = tail(&long);
        assert_eq!(kept.chars().count(), OUTPUT_KEPT + 1);
        assert!(kept.starts_with('…'));
        assert_eq!(
            Ended {
                exit_code: 0,
                output: String::new()
            }
            .summary(),
            "exit 0"
        );
    }
}
