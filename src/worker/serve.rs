//! The worker's side of the protocol: announce the version, take the work
//! from the first line of standard input, and say the last line.

use std::io::{BufRead, Write};

use super::protocol::{IN_PLACE, STOPPED, announced_version, ready_line};
use super::{Work, WorkerKind};

/// What a worker could not take.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// Its input closed before any work came: the launcher refused it (its
    /// version), or went away. Nothing is to be done.
    #[error("no work came")]
    NoWork,
    #[error("bad work for {kind}: {why}")]
    BadWork { kind: WorkerKind, why: String },
}

/// Say `ready <version>`, then read the work (the first line of standard
/// input, through the process's shared buffer so that whatever follows is
/// still there for the worker).
pub(crate) fn accept<W: Work>() -> Result<W, Refused> {
    say(&ready_line(&announced_version(W::KIND)));
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => Err(Refused::NoWork),
        Ok(_) => serde_json::from_str(line.trim_end()).map_err(|e| Refused::BadWork {
            kind: W::KIND,
            why: e.to_string(),
        }),
    }
}

/// A line to whoever started the worker, who may be gone: never a panic.
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `in place: <what>`: the work is in place.
pub(crate) fn in_place(what: &str) {
    say(&format!("{IN_PLACE}{what}"));
}

/// `stopped: <how>`: the worker's last line.
pub(crate) fn stopped(how: &str) {
    say(&format!("{STOPPED}{how}"));
}

/// What follows `in place: ` in a worker's line, if it says so.
pub(crate) fn in_place_detail(line: &str) -> Option<&str> {
    line.strip_prefix(IN_PLACE)
}

/// What follows `stopped: ` in a worker's line, if it says so.
pub(crate) fn stopped_detail(line: &str) -> Option<&str> {
    line.strip_prefix(STOPPED)
}
