//! What protects the scope, whoever runs gameday and whatever happens to
//! the runner: the run's exclusive `claim` on its scope (arbitrated by
//! the engine, with a witness that outlives prunes) and the `liveness`
//! evidence that says when its holder is provably dead; the `halt` marker
//! `gameday halt` leaves beside it; the dead man's switch (`watchdog`: its
//! side in `mod.rs` and `fire.rs`, the runner's in `link.rs`); `recover`,
//! which reverts what a dead runner left from its journal, and `sweep`,
//! which finds what gameday can leave on a compose project without one.
//! Reverting itself is the recipes' (`fault::RevertRecipe`, with
//! `fault::revert` and `fault::settle_apply`): the run, the watchdog and
//! `recover` all call the same code.

pub(crate) mod claim;
pub(crate) mod halt;
mod liveness;
pub(crate) mod recover;
pub(crate) mod sweep;
mod sweep_deploys;
pub(crate) mod watchdog;
