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
pub mod plan;
pub mod probe;
pub mod report;
pub mod run;
