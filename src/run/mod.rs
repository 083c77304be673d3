//! Running a gameday: the journal that makes every fault recoverable, and
//! recovery itself. The scheduler that drives probes and faults in time
//! lands here next (issue "Run a gameday end to end").

pub mod journal;
pub mod recover;
