//! `gameday watch`: the live room for a run started elsewhere on this
//! machine (found under `--out`), or the replay of a finished one; and
//! what `run --serve` shares with it: binding the room, printing its
//! links, and halting a run on a writer's behalf (as `gameday halt` does,
//! through the halt marker).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CliError, CliResult};
use crate::docker::Engine;
use crate::exit;
use crate::gameday::model::EngineSpec;
use crate::record::journal::{self, Unfinished};
use crate::room::{self, HaltFn, Pace, Source, Speed, Writes};
use crate::safety::{claim, halt};

pub(super) struct WatchArgs {
    pub out: PathBuf,
    pub run_id: Option<String>,
    pub serve: SocketAddr,
    pub speed: Option<Speed>,
}

/// Bind the room's address, or refuse with what to do (nothing touched).
pub(super) async fn bind(addr: SocketAddr) -> Result<room::Bound, CliError> {
    room::bind(addr).await.map_err(|e| {
        CliError::invalid(e).hint(
            "choose another address (`--serve=127.0.0.1:8099`), or give none for a free port on 127.0.0.1; nothing was changed",
        )
    })
}

/// The room's two links, on the terminal of whoever started it (the only
/// place its tokens are ever written).
pub(super) fn print_links(bound: &room::Bound) {
    eprintln!("Live room, to watch: {}", bound.viewer_url);
    eprintln!(
        "Live room, to write observations and halt (share it with care): {}",
        bound.writer_url
    );
}

/// The runner's own room: it follows the run directory run `run_id`
/// creates under `out`, hands observations to the run's input, and halts
/// through the run's default engine.
pub(super) fn runners_room(
    bound: room::Bound,
    engine: Engine,
    (out, scope, run_id): (&Path, &str, &str),
    input: tokio::sync::mpsc::Sender<crate::run::Said>,
) -> room::Room {
    print_links(&bound);
    let halt = halt_through(engine, scope.to_string(), run_id.to_string());
    room::Room::start(
        bound,
        Source::RunOf {
            out: out.to_path_buf(),
            run_id: run_id.to_string(),
        },
        Pace::Live,
        Writes::Runner(input),
        Some(halt),
    )
}

/// Leave the halt marker for run `run_id` of `scope` on `engine`, by
/// `name` from the live room.
async fn request_halt(
    engine: &Engine,
    scope: &str,
    run_id: &str,
    name: &str,
) -> Result<(), String> {
    let image = claim::image(engine, scope)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the run no longer holds its scope: it has ended".to_string())?;
    let by = format!("{name} (from the live room)");
    halt::request(engine, scope, &image, run_id, &by)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot leave the halt marker: {e}"))
}

/// Halting through `engine`, already connected (the runner's own room).
fn halt_through(engine: Engine, scope: String, run_id: String) -> HaltFn {
    Box::new(move |name| {
        let (engine, scope, run_id) = (engine.clone(), scope.clone(), run_id.clone());
        Box::pin(async move { request_halt(&engine, &scope, &run_id, &name).await })
    })
}

/// Halting through the engine a journal names, reached when asked.
fn halt_through_spec(spec: EngineSpec, scope: String, run_id: String) -> HaltFn {
    Box::new(move |name| {
        let (spec, scope, run_id) = (spec.clone(), scope.clone(), run_id.clone());
        Box::pin(async move {
            let engine = Engine::connect_spec(&spec)
                .await
                .map_err(|e| format!("cannot reach the run's engine: {e}"))?;
            request_halt(&engine, &scope, &run_id, &name).await
        })
    })
}

/// One run directory under `--out`, as its journal says.
struct Found {
    dir: PathBuf,
    run: Unfinished,
    modified: std::time::SystemTime,
}

fn runs_under(out: &Path) -> Vec<Found> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut runs: Vec<Found> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|dir| {
            let path = dir.join(crate::record::JOURNAL_FILE);
            let modified = path.metadata().and_then(|m| m.modified()).ok()?;
            let run = journal::unfinished(&journal::read(&path).ok()?);
            Some(Found { dir, run, modified })
        })
        .filter(|f| !f.run.run_id.is_empty())
        .collect();
    runs.sort_by_key(|f| std::cmp::Reverse(f.modified));
    runs
}

fn line(f: &Found) -> String {
    format!(
        "  {} (compose project `{}`, {}): {}",
        f.run.run_id,
        f.run.scope,
        if f.run.finished { "finished" } else { "live" },
        f.dir.display()
    )
}

/// The run to watch: RUN_ID's; else the one live run; else the newest.
fn find(out: &Path, run_id: Option<&str>) -> Result<Found, CliError> {
    let mut runs = runs_under(out);
    if let Some(id) = run_id {
        let at = runs.iter().position(|f| {
            f.run.run_id == id
                || f.dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(&format!("-{id}")))
        });
        return match at {
            Some(i) => Ok(runs.swap_remove(i)),
            None => Err(runs
                .iter()
                .take(10)
                .fold(
                    CliError::invalid(format!("no run {id} under {}", out.display())),
                    |e, f| e.detail(line(f)),
                )
                .hint("name a run listed above, or its archive with --out")),
        };
    }
    let live = runs.iter().filter(|f| !f.run.finished).count();
    match live {
        0 if runs.is_empty() => Err(CliError::invalid(format!("no run under {}", out.display()))
            .hint("start one with `gameday run FILE --serve`, or name the archive with --out")),
        0 => Ok(runs.swap_remove(0)),
        1 => Ok(runs.swap_remove(runs.iter().position(|f| !f.run.finished).unwrap_or(0))),
        n => Err(runs
            .iter()
            .filter(|f| !f.run.finished)
            .fold(
                CliError::invalid(format!("{n} runs under {} are live:", out.display())),
                |e, f| e.detail(line(f)),
            )
            .hint("say which: `gameday watch RUN_ID`")),
    }
}

pub(super) async fn watch(args: WatchArgs) -> CliResult {
    let found = find(&args.out, args.run_id.as_deref())?;
    let bound = bind(args.serve).await?;
    let live = !found.run.finished;
    let (pace, writes, halt) = if live {
        if args.speed.is_some() {
            eprintln!(
                "note: --speed replays finished runs; run {} is live and shown as it goes",
                found.run.run_id
            );
        }
        let spec = found.run.engine.clone().unwrap_or_default();
        let halt = halt_through_spec(spec, found.run.scope.clone(), found.run.run_id.clone());
        (Pace::Live, Writes::Elsewhere, Some(halt))
    } else {
        let speed = args.speed.unwrap_or(Speed::Times(1.0));
        let pace = Pace::Replay {
            speed,
            started: std::time::Instant::now(),
        };
        (pace, Writes::Archived, None)
    };
    eprintln!(
        "{} run {} of compose project `{}` ({}). Ctrl-C stops.",
        if live { "Watching" } else { "Replaying" },
        found.run.run_id,
        found.run.scope,
        found.dir.display()
    );
    print_links(&bound);
    let _room = room::Room::start(bound, Source::Dir(found.dir), pace, writes, halt);
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::invalid(format!("cannot listen for Ctrl-C: {e}")))?;
    // The room's tasks end with it; pages keep what they show.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(exit::OK)
}
