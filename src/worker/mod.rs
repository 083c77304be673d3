//! One way to run work in another process. A worker is this very binary
//! started for one job: a process on this host, or `/gameday` in a helper
//! container on the engine (the helper image). Every worker is named by a
//! [`WorkerKind`], which owns its command name (`gameday <name>`, hidden),
//! where it may be placed, and how a leftover one is found; its job is one
//! serde value ([`Work`]) written as JSON on its standard input.
//!
//! The protocol, the same for every kind and both placements:
//! 1. the worker prints `ready <version>` ([`protocol::version`]) before it
//!    reads anything; the launcher refuses a worker of another version
//!    ([`WorkerError::Stale`]: an old helper image), and then gives it no
//!    work, so nothing is half-applied;
//! 2. the launcher writes the work, one JSON line;
//! 3. the worker says what it put in place and holds it; closing its
//!    standard input tells it to stop (it also closes when the runner dies);
//! 4. its last line is `stopped: ...`.
//!
//! The command line carries only what finds a leftover worker in `/proc`
//! or `docker top` (`--tag`, `--container`, `--kind`, `--run-id`,
//! `--marker`, `--placed`: [`Work::marks`]); [`leftovers`] finds them by one
//! exhaustive `match` over [`WorkerKind`].
//!
//! - `kind`: [`WorkerKind`], [`Work`], [`Target`] (the container a worker
//!   works in);
//! - `protocol`: the version, the lines, [`WorkerError`];
//! - `launch`: the launcher, for both placements ([`Placement`]);
//! - `serve`: the worker's side of the protocol;
//! - `leftovers`: finding (and killing) workers a dead runner left;
//! - `image`: the helper image, assembled from this machine and installed
//!   through the engine's API.

pub(crate) mod image;
mod kind;
mod launch;
pub(crate) mod leftovers;
pub(crate) mod protocol;
pub(crate) mod serve;

pub(crate) use kind::{
    HelperRoom, MARK_FLAGS, MARK_SWITCHES, Marks, Target, Targeted, Work, WorkerKind,
};
pub(crate) use launch::{First, HelperOutput, Parts, Placement, Worker, helper_labels, launch};
pub(crate) use protocol::WorkerError;

/// Label on helper containers: the tag of the fault they serve.
pub(crate) const TAG_LABEL: &str = "gameday.helper.tag";
