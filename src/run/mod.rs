//! Running a gameday: the dispatcher that drives probes and faults in time
//! ([`scheduler`]), the journal that makes every fault recoverable, recovery
//! itself, and the live view.

pub mod journal;
pub mod recover;
pub mod scheduler;
pub mod view;
