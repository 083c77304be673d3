//! `gameday halt`: stop a live run from another terminal or machine. The
//! run is found by its journal under `--out` or by `--scope` on an engine;
//! a halt marker is left beside its claim (see [`crate::safety::halt`]), and
//! this waits until the run lets go of its scope. A runner that is gone is
//! left to its watchdog (which sees the marker too) and, when the journal
//! is here, to `recover`.

use std::path::PathBuf;
use std::time::Duration;

use super::{CliError, CliResult};
use crate::docker::Engine;
use crate::exit;
use crate::gameday::model::{DockerConfig, EngineSpec};
use crate::gameday::units::HumanDuration;
use crate::safety::{claim, halt, recover};

pub(super) struct HaltArgs {
    pub out: PathBuf,
    pub scope: Option<String>,
    pub docker_host: Option<String>,
    pub wait: Duration,
    pub run_id: Option<String>,
}

/// The run to halt: its scope, engine and id, and its journal when here.
struct Target {
    scope: String,
    engine: EngineSpec,
    run_id: Option<String>,
    journal: Option<PathBuf>,
}

fn find(args: &HaltArgs) -> Result<Target, CliError> {
    if let Some(scope) = &args.scope {
        return Ok(Target {
            scope: scope.clone(),
            engine: DockerConfig {
                host: args.docker_host.clone(),
                ..Default::default()
            }
            .engine_spec(),
            run_id: args.run_id.clone(),
            journal: None,
        });
    }
    let live: Vec<_> = recover::find_unended(&args.out)
        .into_iter()
        .filter(|(_, u)| args.run_id.as_ref().is_none_or(|id| &u.run_id == id))
        .collect();
    match live.as_slice() {
        [] => Err(CliError::invalid(format!(
            "no live run{} under {}",
            args.run_id
                .as_ref()
                .map(|id| format!(" {id}"))
                .unwrap_or_default(),
            args.out.display()
        ))
        .hint("name the run's directory with --out, or halt it by its compose project: `gameday halt --scope PROJECT` (with DOCKER_HOST set to its engine)")),
        [(path, u)] => Ok(Target {
            scope: u.scope.clone(),
            engine: u.engine.clone().unwrap_or_default(),
            run_id: Some(u.run_id.clone()),
            journal: Some(path.clone()),
        }),
        many => {
            let mut error = CliError::invalid(format!(
                "{} runs under {} never said they ended:",
                many.len(),
                args.out.display()
            ));
            for (path, u) in many {
                error = error.detail(format!(
                    "  {} (compose project `{}`): {}",
                    u.run_id,
                    u.scope,
                    path.display()
                ));
            }
            Err(error.hint("say which: `gameday halt RUN_ID`"))
        }
    }
}

pub(super) async fn halt(args: HaltArgs) -> CliResult {
    let target = find(&args)?;
    let engine = Engine::connect_spec(&target.engine).await.map_err(|e| {
        CliError::fault_left(e.to_string())
            .hint("halting needs the Docker engine the run holds its scope on")
    })?;
    let scope = &target.scope;
    let holder = claim::holder(&engine, scope)
        .await
        .map_err(|e| CliError::fault_left(e.to_string()))?;
    let holder = match holder {
        Some(h) if target.run_id.as_ref().is_none_or(|id| &h.run_id == id) => h,
        _ => {
            // No run holds the scope: a halt marker left there is stale.
            if let Ok(Some(run)) = halt::marked_run(&engine, scope).await {
                halt::clear(&engine, scope, &run).await;
                eprintln!(
                    "note: removed a stale halt marker on compose project `{scope}`, left for run {}, which no longer holds it",
                    if run.is_empty() { "(any)" } else { &run }
                );
            }
            // What the run left (if its journal is here) is recover's to
            // revert.
            if target.journal.is_some() {
                return Ok(recover_left(&engine, &args, scope).await);
            }
            return Err(CliError::invalid(format!(
                "no run holds compose project `{scope}` on {}{}",
                engine.host(),
                target
                    .run_id
                    .as_ref()
                    .map(|id| format!(" (looked for run {id})"))
                    .unwrap_or_default()
            ))
            .hint("the run has ended; `gameday history` shows how"));
        }
    };
    let image = claim::image(&engine, scope)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| CliError::fault_left("the run's claim vanished while halting it"))?;
    let me = claim::Holder::me("");
    let by = format!("{} on {}", me.user, me.host);
    let stale = halt::request(&engine, scope, &image, &holder.run_id, &by)
        .await
        .map_err(|e| CliError::fault_left(format!("cannot leave the halt marker: {e}")))?;
    if let Some(run) = stale {
        eprintln!(
            "note: replaced a stale halt marker on compose project `{scope}`, left for run {}, which no longer holds it",
            if run.is_empty() { "(any)" } else { &run }
        );
    }
    eprintln!(
        "asked {holder} to halt; waiting up to {} for it to revert its faults",
        HumanDuration(args.wait)
    );
    let started = tokio::time::Instant::now();
    let deadline = started + args.wait;
    let stopped = loop {
        match claim::holder(&engine, scope).await {
            Ok(Some(h)) if h.run_id == holder.run_id => {}
            Ok(_) => break true,
            Err(_) => {}
        }
        if holder.liveness().is_dead() || tokio::time::Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if stopped {
        halt::clear(&engine, scope, &holder.run_id).await;
        println!(
            "halted run {} of compose project `{scope}` after {}: its faults are reverted and its scenarios left are aborted",
            holder.run_id,
            HumanDuration(started.elapsed())
        );
        return Ok(exit::OK);
    }
    if target.journal.is_some() {
        // The runner is gone (or does not answer): revert from its journal.
        let code = recover_left(&engine, &args, scope).await;
        halt::clear(&engine, scope, &holder.run_id).await;
        return Ok(code);
    }
    halt::clear(&engine, scope, &holder.run_id).await;
    Err(CliError::fault_left(format!(
        "{holder} did not stop within {}",
        HumanDuration(args.wait)
    ))
    .hint("its watchdog reverts its faults when the runner misses its lease; on the runner's machine, `gameday recover` reverts what is left"))
}

async fn recover_left(engine: &Engine, args: &HaltArgs, scope: &str) -> u8 {
    let report = recover::recover(engine, &args.out, Some(scope)).await;
    let (left, refused) = super::recover::print_recovered(&report, false, |_| String::new());
    if left + refused == 0 {
        println!("nothing of the run is left in place");
        exit::OK
    } else {
        exit::FAULT_LEFT
    }
}
