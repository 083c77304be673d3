//! The `process` fault: a signal to the processes of a container whose
//! command line contains a pattern (SIGSTOP freezes them; its revert is
//! SIGCONT to the same match). The container's processes are found on this
//! host, by the cgroup that names the container, so it works only where the
//! engine runs on this host; elsewhere it says so and applies nothing. The
//! container's main process (PID 1 inside it) is left alone unless the
//! fault says `pid1: true`. Its recipe, apply and revert are here too.

use chrono::{DateTime, Utc};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::recipe::OnContainer;
use super::{AppliedFault, Applying, FaultError, RevertRecipe};
use crate::docker::{ContainerInfo, DockerError, Engine};
use crate::gameday::model::ProcessFault;

/// A process of the container: its PID on this host and command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Process {
    pub pid: i32,
    pub cmdline: String,
    /// `T` when stopped (from `/proc/PID/stat`).
    pub state: char,
}

/// The processes of `container_id` on this host, main process first
/// (`main_pid` is the engine's `State.Pid`). Empty when none is here.
pub(crate) fn of_container(container_id: &str, main_pid: i64) -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Process> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| super::netns::pid_is_container(i64::from(*pid), container_id))
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some(Process {
                pid,
                cmdline: cmdline_text(&cmdline),
                state: stat_state(&stat)?,
            })
        })
        .collect();
    found.sort_by_key(|p| (i64::from(p.pid) != main_pid, p.pid));
    found
}

/// `/proc/PID/cmdline` (NUL-separated) as one line.
fn cmdline_text(raw: &[u8]) -> String {
    raw.split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The state letter of `/proc/PID/stat`: after the command name in
/// parentheses, which may itself hold spaces and parentheses.
fn stat_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The processes a fault picks: command line containing `pattern`, the
/// main process only when `pid1`.
pub(crate) fn matching<'a>(
    processes: &'a [Process],
    pattern: &str,
    main_pid: i64,
    pid1: bool,
) -> Vec<&'a Process> {
    processes
        .iter()
        .filter(|p| p.cmdline.contains(pattern))
        .filter(|p| pid1 || i64::from(p.pid) != main_pid)
        .collect()
}

/// Send `signal` (a name as the file writes it, `SIGSTOP`) to each process.
/// Returns the PIDs signalled; a process gone in between is skipped.
pub(crate) fn signal(processes: &[&Process], signal: &str) -> Result<Vec<i32>, String> {
    let sig: Signal = signal
        .parse()
        .map_err(|_| format!("unknown signal {signal}"))?;
    let mut sent = Vec::new();
    for p in processes {
        match kill(Pid::from_raw(p.pid), sig) {
            Ok(()) => sent.push(p.pid),
            Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(format!("cannot send {signal} to process {}: {e}", p.pid)),
        }
    }
    Ok(sent)
}

/// The `process` fault on container `container_id` (main process
/// `main_pid` on this host): signal what matches, or say why nothing was.
fn signal_matching(
    container_id: &str,
    main_pid: i64,
    fault: &ProcessFault,
) -> Result<Vec<i32>, String> {
    let processes = of_container(container_id, main_pid);
    let picked = matching(&processes, &fault.pattern, main_pid, fault.pid1);
    if picked.is_empty() {
        return Err(format!(
            "no process{} has `{}` in its command line; it runs: {}",
            if fault.pid1 {
                ""
            } else {
                " besides its main one"
            },
            fault.pattern,
            listing(&processes)
        ));
    }
    signal(&picked, &fault.signal)
}

/// The revert of SIGSTOP: SIGCONT to the stopped processes that match.
/// When it did something.
fn continue_stopped(
    container_id: &str,
    main_pid: i64,
    pattern: &str,
    pid1: bool,
) -> Result<Option<DateTime<Utc>>, String> {
    // Nothing runs (stopped, gone): nothing is stopped either.
    if main_pid <= 0 {
        return Ok(None);
    }
    let processes = of_container(container_id, main_pid);
    let stopped: Vec<&Process> = matching(&processes, pattern, main_pid, pid1)
        .into_iter()
        .filter(|p| p.state == 'T')
        .collect();
    if stopped.is_empty() {
        return Ok(None);
    }
    signal(&stopped, "SIGCONT")?;
    Ok(Some(Utc::now()))
}

/// Its revert recipe: SIGCONT to what a SIGSTOP stopped; nothing to
/// undo after any other signal.
pub(super) fn recipe(fault: &ProcessFault, container: &ContainerInfo) -> RevertRecipe {
    let container_id = container.id.clone();
    let container_name = container.name.clone();
    if fault.signal == "SIGSTOP" {
        RevertRecipe::Continue {
            container_id,
            container_name,
            pattern: fault.pattern.clone(),
            pid1: fault.pid1,
        }
    } else {
        RevertRecipe::Nothing {
            container_id,
            container_name,
        }
    }
}

/// Signal the container's matching processes, found on this host.
pub(super) async fn apply(
    fault: &ProcessFault,
    applying: Applying<'_>,
) -> Result<AppliedFault, FaultError> {
    let error = |message: String| FaultError::Process {
        container: applying.container.name.clone(),
        message,
    };
    let main_pid = super::local_pid(applying.engine, applying.container)
        .await
        .map_err(error)?;
    signal_matching(&applying.container.id, main_pid, fault).map_err(error)?;
    Ok(applying.in_place("signals from this host", None))
}

/// [`RevertRecipe::Continue`]: SIGCONT to the container's stopped
/// processes that match, found again on this host.
pub(super) async fn resume(
    engine: &Engine,
    on: OnContainer<'_>,
    pattern: &str,
    pid1: bool,
) -> Result<Option<DateTime<Utc>>, FaultError> {
    let main_pid = match engine.pid(on.id).await {
        Ok(pid) => pid,
        Err(DockerError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(on.docker("inspect")(e)),
    };
    continue_stopped(on.id, main_pid, pattern, pid1).map_err(|message| FaultError::Process {
        container: on.name.to_string(),
        message,
    })
}

/// A short list of what a container runs, for an error that found no match.
pub(crate) fn listing(processes: &[Process]) -> String {
    if processes.is_empty() {
        return "none".into();
    }
    processes
        .iter()
        .take(8)
        .map(|p| {
            let short: String = p.cmdline.chars().take(60).collect();
            format!("{} `{short}`", p.pid)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_and_states_are_read_as_proc_writes_them() {
        assert_eq!(
            cmdline_text(b"/gameday-demo\x00store\x00--listen\x000.0.0.0:7001\x00"),
            "/gameday-demo store --listen 0.0.0.0:7001"
        );
        assert_eq!(stat_state("42 (my (odd) name) T 1 42 42 0"), Some('T'));
        assert_eq!(stat_state("7 (worker) S 1"), Some('S'));
        assert_eq!(stat_state("garbage"), None);
    }

    #[test]
    fn the_main_process_is_picked_only_when_asked() {
        let p = |pid: i32, cmdline: &str| Process {
            pid,
            cmdline: cmdline.into(),
            state: 'S',
        };
        let all = vec![
            p(100, "/gameday-demo api --listen 0.0.0.0:8080"),
            p(200, "/gameday-demo store --listen 0.0.0.0:7001"),
        ];
        let picked: Vec<i32> = matching(&all, "gameday-demo", 100, false)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(picked, vec![200]);
        assert_eq!(matching(&all, "gameday-demo", 100, true).len(), 2);
        assert!(matching(&all, "postgres", 100, true).is_empty());
    }
}
