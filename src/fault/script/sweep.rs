//! Ending a `script` command that did not end in time, with everything it
//! started, before the caller goes on to the revert: a subshell left in
//! the background must not land after the revert ran and the journal
//! closed.
//!
//! Every command runs marked: [`MARKER`]`=<marker>` in its environment,
//! which whatever it starts inherits. On this host it also runs in a
//! session of its own. The processes found are SIGKILLed, and looked for
//! again until none is left (a process may fork while its parent is being
//! killed), for at most [`GONE_WITHIN`]:
//!
//! - a host command: every process of its session, and every process
//!   carrying its marker (one that left the session with `setsid`);
//! - a command in a container whose processes are on this host: every
//!   process in the container's cgroup carrying its marker;
//! - elsewhere (a remote engine): `gameday kill-marked` in a short-lived
//!   helper container in the container's PID namespace, which kills every
//!   process there carrying the marker.
//!
//! What cannot be reached is said, never counted as killed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::docker::Engine;
use crate::worker::{First, Placement, helper_labels, launch};

/// The environment variable that marks a command's processes.
pub(crate) const MARKER: &str = "GAMEDAY_SCRIPT";

/// How long killed processes may take to be gone.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// How long a helper may take to start, kill and say so.
const HELPER_WITHIN: Duration = Duration::from_secs(20);

/// What killing a timed-out command's processes came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Swept {
    /// None is left: `count` were killed (found `how`).
    Killed { count: usize, how: &'static str },
    /// Some may still be running: why.
    MayRun(String),
}

impl Swept {
    /// `killed 3 processes (...)` or `it may still be running: ...`.
    pub(crate) fn said(&self) -> String {
        match self {
            Swept::Killed { count, how } => format!(
                "killed {count} process{} ({how})",
                if *count == 1 { "" } else { "es" }
            ),
            Swept::MayRun(why) => format!("it may still be running: {why}"),
        }
    }
}

/// A process seen in a `/proc`.
struct Seen {
    pid: i32,
    session: i32,
    /// A zombie (or dead): nothing left to kill.
    ended: bool,
}

fn seen(proc_root: &str, pid: i32) -> Option<Seen> {
    let stat = std::fs::read_to_string(format!("{proc_root}/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp session ...: the name may hold anything,
    // so the fields are counted after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    let session = fields.nth(2)?.parse().ok()?;
    Some(Seen {
        pid,
        session,
        ended: matches!(state, "Z" | "X" | "x"),
    })
}

/// Does process `pid`'s environment hold exactly `MARKER=marker`?
fn marked(proc_root: &str, pid: i32, marker: &str) -> bool {
    let wanted = format!("{MARKER}={marker}");
    std::fs::read(format!("{proc_root}/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()))
}

/// The live processes of `proc_root` that `pick` chooses, but this one.
fn live(proc_root: &str, pick: &dyn Fn(&Seen) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| seen(proc_root, pid))
        .filter(|p| !p.ended && pick(p))
        .map(|p| p.pid)
        .collect()
}

/// SIGKILL what `pick` chooses in `proc_root` until none is left (at most
/// [`GONE_WITHIN`]). Returns how many were killed and how many are left.
fn kill_until_gone(proc_root: &str, pick: &dyn Fn(&Seen) -> bool) -> (usize, usize) {
    kill_until_gone_after(proc_root, pick, BTreeSet::new())
}

/// [`kill_until_gone`], `killed` already (counted with the others).
fn kill_until_gone_after(
    proc_root: &str,
    pick: &dyn Fn(&Seen) -> bool,
    mut killed: BTreeSet<i32>,
) -> (usize, usize) {
    let started = Instant::now();
    loop {
        let found = live(proc_root, pick);
        if found.is_empty() {
            return (killed.len(), 0);
        }
        if started.elapsed() > GONE_WITHIN {
            return (killed.len(), found.len());
        }
        for pid in found {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            killed.insert(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn counted(killed: usize, left: usize, how: &'static str) -> Swept {
    if left == 0 {
        Swept::Killed { count: killed, how }
    } else {
        Swept::MayRun(format!(
            "killed {killed}, and {left} still there after {}s ({how})",
            GONE_WITHIN.as_secs()
        ))
    }
}

/// Kill a host command started as the leader of session `session` with
/// `marker`, and all it started. Blocking.
pub(crate) fn on_this_host(session: i32, marker: &str) -> Swept {
    let pick = |p: &Seen| p.session == session || marked("/proc", p.pid, marker);
    let before: BTreeSet<i32> = live("/proc", &pick).into_iter().collect();
    // Its process group at once (the session's first group): what forks
    // meanwhile is in it too. What left the group is killed one by one.
    // SAFETY: plain kill(2) on the process group of a child this process
    // started as its leader.
    unsafe {
        libc::kill(-session, libc::SIGKILL);
    }
    let (killed, left) = kill_until_gone_after("/proc", &pick, before);
    counted(killed, left, "its whole session on this host")
}

/// Kill the processes on this host carrying `marker` (a host command whose
/// session is not known: its runner is gone). Blocking.
pub(crate) fn marked_on_this_host(marker: &str) -> Swept {
    let pick = |p: &Seen| marked("/proc", p.pid, marker);
    let (killed, left) = kill_until_gone("/proc", &pick);
    counted(
        killed,
        left,
        "the processes carrying its marker on this host",
    )
}

/// Kill the processes of a command run in container `container_id` with
/// `marker`: from this host when its processes are here, else through a
/// helper container from `helper_image` in its PID namespace.
pub(crate) async fn in_container(
    engine: &Engine,
    container_id: &str,
    marker: &str,
    tag: &str,
    helper_image: Option<&str>,
) -> Swept {
    if let Some(image) = helper_image {
        return through_helper(engine, container_id, marker, tag, image).await;
    }
    let main_pid = match engine.pid(container_id).await {
        Ok(pid) => pid,
        Err(e) => return Swept::MayRun(format!("cannot inspect the container: {e}")),
    };
    if main_pid <= 0 {
        // Its processes ended with it.
        return Swept::Killed {
            count: 0,
            how: "the container does not run",
        };
    }
    if !super::super::netns::pid_is_container(main_pid, container_id) {
        return Swept::MayRun(format!(
            "its processes are not on this host (the engine at {} is elsewhere) and no helper image is set",
            engine.host()
        ));
    }
    let (id, marker) = (container_id.to_string(), marker.to_string());
    let swept = tokio::task::spawn_blocking(move || {
        let pick = |p: &Seen| {
            super::super::netns::pid_is_container(i64::from(p.pid), &id)
                && marked("/proc", p.pid, &marker)
        };
        kill_until_gone("/proc", &pick)
    })
    .await;
    match swept {
        Ok((killed, left)) => counted(
            killed,
            left,
            "every process of the exec in the container, found from this host",
        ),
        Err(e) => Swept::MayRun(e.to_string()),
    }
}

const THROUGH_HELPER: &str =
    "every process of the exec in the container, through a helper container in its PID namespace";

async fn through_helper(
    engine: &Engine,
    container_id: &str,
    marker: &str,
    tag: &str,
    image: &str,
) -> Swept {
    let work = KillWork {
        tag: tag.to_string(),
        marker: marker.to_string(),
    };
    let placement = Placement::Helper {
        engine,
        image,
        target: container_id,
        labels: helper_labels(tag),
    };
    let child = match launch(&work, placement, HELPER_WITHIN).await {
        Ok(child) => child,
        Err(e) => return Swept::MayRun(e.to_string()),
    };
    match child.first_line(HELPER_WITHIN).await {
        (Some(child), First::Line(line)) => {
            let _ = child.finish(Duration::from_secs(2)).await;
            match parse_counts(&line) {
                Some((killed, left)) => counted(killed, left, THROUGH_HELPER),
                None => Swept::MayRun(format!("the helper said `{line}`")),
            }
        }
        (_, First::Ended { stderr, .. }) => Swept::MayRun(format!(
            "the helper ended without a word: {}",
            stderr.trim()
        )),
        (_, First::TimedOut) | (None, First::Line(_)) => Swept::MayRun(format!(
            "the helper did not answer within {}s",
            HELPER_WITHIN.as_secs()
        )),
    }
}

/// `killed=N left=M`, as `gameday kill-marked` ends.
fn parse_counts(line: &str) -> Option<(usize, usize)> {
    let mut killed = None;
    let mut left = None;
    for part in line.split_whitespace() {
        if let Some(n) = part.strip_prefix("killed=") {
            killed = n.parse().ok();
        } else if let Some(n) = part.strip_prefix("left=") {
            left = n.parse().ok();
        }
    }
    Some((killed?, left?))
}

/// The work of `gameday kill-marked` (in a helper container in a
/// container's PID namespace): kill the processes carrying `marker`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct KillWork {
    pub tag: String,
    pub marker: String,
}

impl crate::worker::Work for KillWork {
    const KIND: crate::worker::WorkerKind = crate::worker::WorkerKind::KillMarked;

    /// `--tag TAG --marker M`.
    fn marks(&self) -> crate::worker::Marks {
        crate::worker::Marks::default()
            .with("--tag", self.tag.clone())
            .with("--marker", self.marker.clone())
    }
}

/// `gameday kill-marked`: kill every process of this PID namespace
/// carrying the work's marker until none is left, and say `stopped:
/// killed=N left=M`.
pub(crate) fn serve_kill_marked(work: KillWork) -> u8 {
    let pick = |p: &Seen| marked("/proc", p.pid, &work.marker);
    let (killed, left) = kill_until_gone("/proc", &pick);
    crate::worker::serve::stopped(&format!("killed={killed} left={left}"));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_killed_is_said_and_what_may_run_too() {
        assert_eq!(
            Swept::Killed {
                count: 1,
                how: "here"
            }
            .said(),
            "killed 1 process (here)"
        );
        assert_eq!(
            counted(3, 0, "its whole session on this host").said(),
            "killed 3 processes (its whole session on this host)"
        );
        assert_eq!(
            counted(3, 1, "here").said(),
            "it may still be running: killed 3, and 1 still there after 5s (here)"
        );
        assert_eq!(parse_counts("killed=4 left=0"), Some((4, 0)));
        assert_eq!(parse_counts("ready"), None);
    }

    /// A marked process and what it forked, on this host, are found by
    /// their marker and killed; an unmarked one is left alone.
    #[test]
    fn marked_processes_and_their_children_are_killed_and_others_left() {
        let marker = format!("test-{}", std::process::id());
        let spawn = |env: Option<&str>| {
            let mut cmd = std::process::Command::new("sh");
            cmd.args(["-c", "sleep 30 & sleep 30"]);
            if let Some(m) = env {
                cmd.env(MARKER, m);
            }
            cmd.spawn().unwrap()
        };
        let mut marked_one = spawn(Some(&marker));
        let mut other = spawn(Some("another"));
        std::thread::sleep(Duration::from_millis(200));
        let pick = |p: &Seen| marked("/proc", p.pid, &marker);
        let (killed, left) = kill_until_gone("/proc", &pick);
        assert!(
            killed >= 2 && left == 0,
            "sh (or its last sleep) and the other sleep: {killed} {left}"
        );
        assert!(marked_one.wait().is_ok());
        assert!(other.try_wait().unwrap().is_none(), "another's was killed");
        let _ = other.kill();
        let _ = other.wait();
        let pick = |p: &Seen| marked("/proc", p.pid, "another");
        let _ = kill_until_gone("/proc", &pick);
    }
}
