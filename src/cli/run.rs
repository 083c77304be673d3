//! `gameday run FILE`: the checks before anything is touched (manual steps
//! need a terminal, no unrecovered journal for the scope, the plan
//! resolves, a remote engine is confirmed), the run itself with its live
//! view, then the reports. A report that cannot be rendered is a report
//! error: `result.json`, `samples.jsonl` and `junit.xml` are still written
//! and the exit code stays the verdict's.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::{CliError, CliResult, NonInteractive};
use crate::docker::Engine;
use crate::gameday::{self, model::Step, units::HumanDuration};
use crate::plan::Plan;
use crate::record::result::RunResult;
use crate::run::{self, Operator, RunOptions};
use crate::safety::claim;

pub(super) struct RunArgs {
    pub file: PathBuf,
    pub out: PathBuf,
    pub progress: bool,
    pub template_dir: Option<PathBuf>,
    pub yes: bool,
    pub non_interactive: Option<NonInteractive>,
    /// `--seed`: the seed of the plan's random picks.
    pub seed: Option<u64>,
    /// `--serve`: the live room's address.
    pub serve: Option<std::net::SocketAddr>,
    /// How long the room serves the final state after the run.
    pub serve_linger: std::time::Duration,
    /// `--env`, `--var`, `--env-file`.
    pub env: super::vars::EnvArgs,
}

pub(super) async fn run(args: RunArgs) -> CliResult {
    let RunArgs {
        file,
        out,
        progress,
        template_dir,
        yes,
        non_interactive,
        seed,
        serve,
        serve_linger,
        env,
    } = args;
    let gameday = gameday::load(&file, &env.inputs()?)?;
    // The room's address first: one that cannot be served refuses the run
    // before anything is touched.
    let bound = match serve {
        Some(addr) => Some(super::watch::bind(addr).await?),
        None => None,
    };
    let at_terminal = std::io::stdin().is_terminal();
    // Serving, the page can answer manual steps.
    refuse_unanswerable_steps(
        &gameday,
        &file,
        at_terminal || bound.is_some(),
        non_interactive,
    )?;
    let operator = at_terminal.then(operator_here);
    let scope = gameday.scope.compose_project.clone();
    let display = file.display().to_string();
    let (engines, inventory) = super::plan::discover(&gameday, &file).await?;
    refuse_leftovers(&out, &scope, engines.default_engine()).await?;
    // The claim first: a second run on the scope is told who holds it,
    // before anything else is checked or asked. It is kept in place (put
    // back if pruned) until it is released.
    let run_id = run::new_run_id();
    let (claims, taken_over) = claim_scope(&scope, &inventory, &engines, &run_id).await?;
    let claims = claim::keep_all(claims);
    let checked = async {
        let plan = checked_plan(gameday, inventory, (&file, seed), &engines, yes)?;
        let notifier = start_notifier(&plan, &run_id)?;
        install_helpers(&plan, &engines).await?;
        Ok((plan, notifier))
    };
    let (plan, notifier) = match checked.await {
        Ok(checked) => checked,
        Err(e) => {
            release(claims.stop().await).await;
            return Err(e);
        }
    };
    notifier.handle().send(crate::notify::Event::RunStarted {
        scenarios: plan.gameday.scenarios.len(),
    });
    announce(&plan, &scope);
    let probe_names = plan
        .gameday
        .probes
        .0
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let view = tokio::spawn(run::view::show(events_rx, probe_names, progress));
    if operator.is_some() {
        eprintln!(
            "Type a line and press Enter at any time to record an observation (`Sam: ...` credits a participant)."
        );
    }
    let (said_tx, said_rx) = tokio::sync::mpsc::channel(run::SAID_BACKLOG);
    if operator.is_some() {
        run::read_terminal(said_tx.clone());
    }
    let room = bound.map(|bound| {
        let engine = engines.default_engine().clone();
        super::watch::runners_room(bound, engine, (&out, &scope, &run_id), said_tx)
    });
    let input = (operator.is_some() || room.is_some()).then_some(said_rx);
    let options = RunOptions {
        run_id,
        taken_over,
        file: display,
        out: out.clone(),
        operator,
        input,
        notify: notifier.handle(),
    };
    let task = tokio::spawn(run::run(plan, engines.clone(), options, events_tx));
    let joined = task.await;
    let _ = view.await;
    let outcome = match joined {
        Ok(outcome) => outcome,
        Err(panic) => {
            // Last line of defence: an internal error must not leave faults
            // behind. The journal knows what was applied; revert it now.
            eprintln!(
                "internal error: the run stopped unexpectedly ({panic}); reverting what it applied"
            );
            release(claims.stop().await).await;
            return Ok(super::recover::after_crash(engines.default_engine(), &out, &scope).await);
        }
    };
    release(claims.stop().await).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return Err(run_failed(e, notifier, &out).await),
    };
    print_verdicts(&outcome.record.result);
    write_reports(&outcome, template_dir.as_deref(), notifier).await;
    if let Some(room) = room {
        // Open pages are given the verdicts and the report's path.
        room.finish(std::time::Duration::from_secs(5), serve_linger)
            .await;
    }
    Ok(outcome.exit_code)
}

/// Manual steps need a person at a terminal: without one, the run is
/// refused before anything is touched, unless `--non-interactive=skip`
/// says to record each as skipped.
fn refuse_unanswerable_steps(
    gameday: &gameday::model::Gameday,
    file: &std::path::Path,
    at_terminal: bool,
    non_interactive: Option<NonInteractive>,
) -> Result<(), CliError> {
    let manual_steps = gameday
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| matches!(s, Step::Manual(_)))
        .count();
    if manual_steps > 0 && !at_terminal && non_interactive != Some(NonInteractive::Skip) {
        return Err(CliError::invalid(format!(
            "{}: {manual_steps} manual step{} need{} a person to answer, and no one is at a terminal (standard input is not one)",
            file.display(),
            if manual_steps == 1 { "" } else { "s" },
            if manual_steps == 1 { "s" } else { "" },
        ))
        .hint("run it from a terminal, or with `--serve` to answer them from the live room's page, or add `--non-interactive=skip` to run without them (each is recorded as skipped). Nothing was changed"));
    }
    Ok(())
}

/// The person at the terminal, by the first name the environment gives.
fn operator_here() -> Operator {
    Operator {
        name: ["GAMEDAY_OPERATOR", "SUDO_USER", "USER"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
            .unwrap_or_else(|| "operator".to_string()),
    }
}

/// The plan, once it resolves without a warning and a remote engine is
/// confirmed (or `--yes`).
fn checked_plan(
    gameday: gameday::model::Gameday,
    inventory: crate::plan::Inventory,
    (file, seed): (&std::path::Path, Option<u64>),
    engines: &crate::docker::Engines,
    yes: bool,
) -> Result<Plan, CliError> {
    let display = file.display().to_string();
    let plan = super::plan::resolve(gameday, inventory, file, seed)?;
    if let Some((first, rest)) = plan.inventory.warnings.split_first() {
        let mut error = CliError::invalid(first.clone());
        for w in rest {
            error = error.detail(format!("error: {w}"));
        }
        return Err(error.hint(format!(
            "`gameday plan {display}` shows the whole plan; nothing was changed"
        )));
    }
    let remote: Vec<&Engine> = engines.iter().filter(|e| !e.is_local()).collect();
    if !remote.is_empty() && !yes {
        confirm(&plan, &remote, &display)?;
    }
    Ok(plan)
}

/// The helper images the plan needs and an engine lacks (or has an old
/// one of), installed before anything is applied, each said once with its
/// size.
async fn install_helpers(plan: &Plan, engines: &crate::docker::Engines) -> Result<(), CliError> {
    use crate::worker::image::{self, megabytes};
    for need in &plan.inventory.helper_installs {
        eprintln!(
            "installing the helper image {} ({}) on engine {}: it is {}",
            need.image,
            megabytes(need.size),
            need.host,
            need.state.describe()
        );
        let engine = engines.named(&need.engine);
        image::install(engine, &need.image, &Default::default())
            .await
            .map_err(|e| {
                CliError::invalid(format!("cannot install the helper image: {e}")).hint(format!(
                    "`gameday helper status --engine {}` says what is there; nothing was applied",
                    need.host
                ))
            })?;
    }
    Ok(())
}

/// The notifier of the plan's `notify:` and `grafana:`; a Grafana token
/// that is not set refuses the run.
fn start_notifier(plan: &Plan, run_id: &str) -> Result<crate::notify::Notifier, CliError> {
    crate::notify::Notifier::start(&plan.gameday, run_id).map_err(|e| {
        CliError::invalid(e.to_string()).hint(
            "export the Grafana service-account token in that variable, or remove `grafana:`; nothing was changed",
        )
    })
}

/// The run's first line: what runs against which scope, how long, how to stop.
fn announce(plan: &Plan, scope: &str) {
    eprintln!(
        "Running gameday \"{}\" against compose project `{scope}`: {} scenario{}, about {}. Ctrl-C reverts every fault and stops.",
        plan.gameday.gameday,
        plan.gameday.scenarios.len(),
        if plan.gameday.scenarios.len() == 1 {
            ""
        } else {
            "s"
        },
        HumanDuration(plan.total)
    );
    eprintln!("{}", plan.seed.text());
}

/// A run that could not go on: a watchdog that could not start is told to
/// the team as a halt (nothing was applied without one); anything else may
/// have left faults, which `recover` reverts.
async fn run_failed(
    e: run::RunError,
    notifier: crate::notify::Notifier,
    out: &std::path::Path,
) -> CliError {
    match e {
        e @ run::RunError::Watchdog(_) => {
            let _ = notifier
                .finish(crate::notify::Event::Halted {
                    reason: e.to_string(),
                })
                .await;
            CliError::invalid(e.to_string()).hint(
                "no fault is applied without its watchdog; on a remote engine it runs from the helper image (`gameday helper install --engine URL` installs it there)",
            )
        }
        e => CliError::fault_left(e.to_string()).hint(format!(
            "`gameday recover --out {}` reverts whatever the journal says is left",
            out.display()
        )),
    }
}

/// The reports, last: whatever happens to them, the run's record is
/// written and its verdict stands. The team is told the end, with the
/// report's path when it was written.
async fn write_reports(
    outcome: &run::RunOutcome,
    template_dir: Option<&std::path::Path>,
    notifier: crate::notify::Notifier,
) {
    let report_path = outcome.run_dir.join("report.md");
    let rendered = crate::report::write_all(&outcome.run_dir, &outcome.record, template_dir);
    let result = &outcome.record.result;
    let warnings = notifier
        .finish(crate::notify::Event::RunFinished {
            outcome: result.outcome.text().to_string(),
            exit_code: result.exit_code,
            verdicts: result
                .scenarios
                .iter()
                .map(|s| (s.name.clone(), s.verdict.key().to_string()))
                .collect(),
            report: rendered.is_ok().then(|| report_path.display().to_string()),
        })
        .await;
    for w in warnings {
        eprintln!("warning: {w}; the run was not affected");
    }
    match rendered {
        Ok(_) => println!("report: {}", report_path.display()),
        Err(e) => {
            CliError::invalid(format!("the run is recorded, but a report could not be written: {e}"))
                .hint(format!(
                    "fix the template, then `gameday report {}` renders them again; the exit code is the run's",
                    outcome.run_dir.display()
                ))
                .print();
            println!(
                "record: {}",
                outcome.run_dir.join(crate::record::RESULT_FILE).display()
            );
        }
    }
}

/// Refuse to start when a journal under `out` of this scope has faults
/// open: exit 2 naming the run when that run holds the scope and cannot
/// be proved dead (it is live, and its faults are its own), else exit 4
/// (they were left: `recover` first).
async fn refuse_leftovers(
    out: &std::path::Path,
    scope: &str,
    engine: &Engine,
) -> Result<(), CliError> {
    let leftovers: Vec<_> = crate::safety::recover::find_unfinished(out)
        .into_iter()
        .filter(|(_, u)| u.scope == scope)
        .collect();
    for (path, u) in &leftovers {
        if let Some((on, holder, liveness)) = crate::safety::recover::live_holder(engine, u).await {
            let held = claim::ClaimError::Held {
                scope: scope.to_string(),
                engine: on,
                holder,
                liveness,
            };
            return Err(CliError::invalid(held.to_string()).hint(format!(
                "that run is not over (its journal: {}); wait for it to end, or stop it with `gameday halt --out {}`; nothing was changed",
                path.display(),
                out.display()
            )));
        }
    }
    if leftovers.is_empty() {
        return Ok(());
    }
    let mut error = CliError::fault_left(format!(
        "an earlier run against compose project `{scope}` left faults that were never reverted:"
    ));
    for (path, u) in &leftovers {
        for (id, recipe) in &u.faults {
            error = error.detail(format!(
                "  {}: fault {id} on {}",
                path.display(),
                recipe.container_name()
            ));
        }
    }
    Err(error.hint(format!(
        "run `gameday recover --out {}` first; it reverts them and records that",
        out.display()
    )))
}

/// Claim the scope on every engine that has containers in it, for the
/// whole run: a second run on the same scope, from here or from another
/// machine on the same engine, is refused while this one lives.
async fn claim_scope(
    scope: &str,
    inventory: &crate::plan::Inventory,
    engines: &crate::docker::Engines,
    run_id: &str,
) -> Result<(Vec<claim::Claim>, Vec<String>), CliError> {
    let me = claim::Holder::me(run_id);
    let mut claims = Vec::new();
    let mut taken_over = Vec::new();
    for engine in engines.iter() {
        // The marker is made from an image the engine has: a target's.
        let Some(image) = inventory
            .in_scope
            .iter()
            .find(|c| c.engine == engine.name())
            .map(|c| c.image.clone())
        else {
            continue;
        };
        match claim::acquire(engine, scope, &image, &me).await {
            Ok((claim, dead)) => {
                claims.push(claim);
                if let Some((holder, gone)) = dead {
                    eprintln!(
                        "note: took over the claim on compose project `{scope}` left by {holder}: {gone}; recorded in the journal"
                    );
                    taken_over.push(holder.to_string());
                }
            }
            Err(e) => {
                release(claims).await;
                let error = CliError::invalid(e.to_string());
                return Err(match e {
                    claim::ClaimError::Held { .. } => error.hint(format!(
                        "two runs on one scope would undo each other's faults: wait for that run to end, or stop it (Ctrl-C where it runs, or `gameday halt --scope {scope}`); nothing was changed. A claim whose runner is gone for good but cannot be proved dead from here is removed with `docker rm -f {marker}; docker volume rm {marker}`",
                        marker = claim::name(scope)
                    )),
                    claim::ClaimError::Docker { .. } => error.hint("nothing was changed"),
                });
            }
        }
    }
    Ok((claims, taken_over))
}

/// Give the claims back.
async fn release(claims: Vec<claim::Claim>) {
    for claim in claims {
        if let Err(e) = claim.release().await {
            eprintln!("warning: could not release the claim on the scope: {e}");
        }
    }
}

/// Each scenario's verdict and the checks not met, then the outcome
/// (the file's secret values hidden).
fn print_verdicts(result: &RunResult) {
    use std::fmt::Write as _;
    let mut out = String::new();
    for s in &result.scenarios {
        let met = s.expectations.iter().filter(|e| e.is_met()).count();
        let _ = writeln!(
            out,
            "{:<10} {} ({met}/{} checks met)",
            s.verdict.key(),
            s.name,
            s.expectations.len()
        );
        for e in s.expectations.iter().filter(|e| !e.is_met()) {
            let _ = writeln!(out, "           not met: {}: {}", e.text, e.actual);
        }
    }
    if let Some(reason) = &result.aborted_reason {
        let _ = writeln!(out, "aborted: {reason}");
    }
    for f in &result.faults_left {
        let _ = writeln!(
            out,
            "LEFT IN PLACE: {} on {}: {}; undo with `{}`",
            f.kind, f.container, f.error, f.by_hand
        );
    }
    let _ = writeln!(out, "{}", result.outcome.text());
    print!("{}", crate::redact::known(&out));
}

/// Faults against an engine other than this host's socket (staging, say)
/// need a person's yes: the plan is shown and the gameday's name typed back.
/// Without a terminal nobody can answer, so the run refuses at once
/// (`--yes` is the answer for automation); nothing ever waits for input.
fn confirm(plan: &Plan, remote: &[&Engine], display: &str) -> Result<(), CliError> {
    let title = &plan.gameday.gameday;
    let hosts = remote
        .iter()
        .map(|e| e.host())
        .collect::<Vec<_>>()
        .join(" and ");
    if !std::io::stdin().is_terminal() {
        return Err(CliError::invalid(format!(
            "refusing to inject faults through the Docker engine at {hosts} without confirmation: it is not this host's socket, and no one can confirm (standard input is not a terminal)"
        ))
        .hint(format!(
            "run it from a terminal to confirm, or add `--yes` when a pipeline runs it on purpose; `gameday plan {display}` shows what it would do. Nothing was changed"
        )));
    }
    eprint!("{}", crate::redact::known(&plan.render(display)));
    eprint!(
        "\nThis injects faults through the Docker engine at {hosts}.\nType the gameday's name ({title}) to go on: "
    );
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if answer.trim() == title.trim() {
        return Ok(());
    }
    Err(CliError::invalid(format!(
        "not confirmed (expected `{title}`): nothing was changed"
    )))
}
