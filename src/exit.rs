//! Process exit codes, the contract with scripts and CI (see README).

/// Every expectation was met (or the command succeeded).
pub(crate) const OK: u8 = 0;
/// The gameday ran, and at least one expectation was not met.
pub(crate) const NOT_MET: u8 = 1;
/// Invalid input or usage: a bad gameday file, an unknown target, a bad flag.
pub(crate) const INVALID: u8 = 2;
/// Aborted (halt_if, signal, failed steady state), with every fault reverted.
pub(crate) const ABORTED: u8 = 3;
/// A fault could not be reverted: the report says what is left and how to undo it.
pub(crate) const FAULT_LEFT: u8 = 4;
