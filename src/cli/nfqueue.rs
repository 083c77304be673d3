//! `gameday nfqueue-serve` (hidden): the userspace packet engine, run by
//! gameday itself inside a helper container that shares the target's
//! network namespace.

use super::{CliError, CliResult, with_runtime};
use crate::exit;
use crate::fault::nfqueue::{PacketPlan, Worker};

pub(super) fn serve(queue: u16, plan: PacketPlan, max_seconds: u64) -> CliResult {
    let worker = Worker::start(None, queue, plan)
        .map_err(|e| CliError::invalid(format!("cannot serve queue {queue}: {e}")))?;
    println!("ready: serving queue {queue}");
    with_runtime(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return Err(CliError::invalid("cannot listen for signals"));
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(max_seconds)) => {}
        }
        Ok(exit::OK)
    })?;
    let stats = worker.stop();
    println!("{}", stats.line());
    Ok(exit::OK)
}
