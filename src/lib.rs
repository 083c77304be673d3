//! `gameday`: a chaos-engineering gameday orchestrator for Docker.
//!
//! Data flow: gameday file -> [`gameday`] (validated model) -> [`plan`]
//! (targets resolved against [`docker`]) -> run -> report. See DESIGN.md.

pub mod cli;
pub mod docker;
pub mod exit;
pub mod expect;
pub mod fault;
pub mod gameday;
pub mod history;
pub mod plan;
pub mod probe;
pub mod report;
pub mod run;

/// An error and its chain of causes on one line: `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
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
