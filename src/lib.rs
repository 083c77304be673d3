//! `gameday`: a chaos-engineering gameday orchestrator for Docker.
//!
//! Data flow: gameday file -> [`gameday`] (validated model) -> [`plan`]
//! (targets resolved against what [`docker`] engines hold) -> [`run`]
//! (faults from [`fault`], samples from [`probe`], verdicts from
//! [`expect`]) -> [`record`] (the run directory) -> [`report`]. The map of
//! the modules is ARCHITECTURE.md at the root of the repository.

// Everything is `pub(crate)` unless the binary, the tests or the benches
// need it (through `cli` and `testing`).
#![warn(unreachable_pub)]

pub mod cli;
pub(crate) mod docker;
pub(crate) mod exit;
pub(crate) mod expect;
pub(crate) mod fault;
pub(crate) mod gameday;
pub(crate) mod init;
pub(crate) mod notify;
pub(crate) mod plan;
pub(crate) mod probe;
pub(crate) mod record;
pub(crate) mod redact;
pub(crate) mod report;
pub(crate) mod room;
pub(crate) mod run;
pub(crate) mod safety;
pub mod testing;
pub(crate) mod worker;

/// An error and its chain of causes on one line: `a: b: c`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}
