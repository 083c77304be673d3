//! The command line: argument parsing (clap) and one function per command.
//! Commands print for people on stdout, errors on stderr, and return the
//! exit code (see [`crate::exit`]).

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::docker::{Engine, Engines};
use crate::exit;
use crate::gameday::{self, FileDiagnostics};
use crate::plan;

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GAMEDAY_GIT_COMMIT"),
    ")"
);

/// Chaos-engineering gamedays against Docker: write down what you expect,
/// break it on purpose, watch what really happens, keep the record.
#[derive(Debug, Parser)]
#[command(
    name = "gameday",
    version = VERSION,
    about,
    after_help = "Start with `gameday validate FILE`, then `gameday plan FILE` to see what would be done.\n\
Exit codes: 0 all expectations met, 1 some not met, 2 invalid input, 3 aborted (faults reverted), 4 a fault could not be reverted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check gameday files and report every problem with its line and column.
    ///
    /// Exit 0 when every file is valid, 2 otherwise. Touches nothing, needs no Docker.
    Validate {
        /// Gameday files (YAML).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Dry run: resolve targets against Docker (read only) and print what would be done, when, to which container.
    ///
    /// Exit 2 when the file is invalid or a target does not resolve. Changes nothing.
    Plan {
        /// The gameday file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Run a gameday: steady-state check, then each scenario's faults held, reverted and observed.
    ///
    /// Probes run the whole time; no fault is applied unless every probe passes during the
    /// baseline. Every fault is journalled before it is applied, and reverted at the end of its
    /// scenario, on halt_if, on an internal error, and on Ctrl-C/SIGTERM (first: revert and
    /// write a partial report; second: also skip cooldowns; third: exit at once, leaving
    /// `gameday recover` to revert). Writes OUT/<date>-<slug>-<id>/ with journal.jsonl,
    /// result.json, samples.jsonl and report.md.
    Run {
        /// The gameday file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Where run directories are written.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
        /// Skip the confirmation asked before faults go through an engine other than this
        /// host's socket (tcp://...): for pipelines that run it on purpose.
        #[arg(long)]
        yes: bool,
        /// No live view; print phase changes as plain lines (also the default without a TTY).
        #[arg(long)]
        no_progress: bool,
        /// Without a terminal nobody can answer `manual:` steps, so the run refuses to start;
        /// `skip` runs the gameday anyway and records each manual step as skipped.
        #[arg(long, value_enum, value_name = "MODE")]
        non_interactive: Option<NonInteractive>,
        /// A directory with your own report.md.tera, replacing the default template.
        #[arg(long, value_name = "DIR")]
        template_dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of the gameday file (or of result.json), for editors and tools.
    ///
    /// Save it and add `# yaml-language-server: $schema=gameday.schema.json` at the top of a gameday file.
    Schema {
        /// The schema of `result.json` (versioned by its `schema_version`) instead.
        #[arg(long)]
        result: bool,
    },
    /// Re-render the reports of an archived run (after editing a template, say).
    ///
    /// Reads RUN_DIR/result.json, samples.jsonl, journal.jsonl and annotations.json; the
    /// measured data is never rewritten. Without --format, writes report.md, report.html and
    /// junit.xml; `--format json` prints the result with its annotations.
    Report {
        /// A run directory, e.g. reports/2026-11-23-login-api-3f9c2a.
        #[arg(value_name = "RUN_DIR")]
        run_dir: PathBuf,
        /// Only this format.
        #[arg(long, value_enum)]
        format: Option<crate::report::Format>,
        /// A directory with your own report.md.tera / report.html.tera.
        #[arg(long, value_name = "DIR")]
        template_dir: Option<PathBuf>,
        /// Open the HTML report in the default browser afterwards.
        #[arg(long)]
        open: bool,
    },
    /// The archive as a table, or how one gameday's results changed across runs.
    ///
    /// Without GAMEDAY: one line per run (date, gameday, environment, outcome, duration).
    /// With GAMEDAY (its title or file name): per scenario, each run's verdict and measured
    /// values (recovery time, success rate, p99, ...).
    History {
        /// Where run directories are kept.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
        /// A gameday title or file name to follow across runs.
        #[arg(value_name = "GAMEDAY")]
        gameday: Option<String>,
        /// `table` for people, `json` for tools.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::history::HistoryFormat,
    },
    /// Record follow-up tickets and notes on a run, then re-render its reports.
    ///
    /// Annotations live in RUN_DIR/annotations.json; result.json and the samples are never
    /// rewritten. A ticket with an existing ID is updated.
    Annotate {
        /// A run directory written by `gameday run`.
        #[arg(value_name = "RUN_DIR")]
        run_dir: PathBuf,
        /// Ticket ID, e.g. OPS-123.
        #[arg(long, value_name = "ID")]
        ticket: Option<String>,
        /// The ticket's title (required for a new ticket).
        #[arg(long, requires = "ticket")]
        title: Option<String>,
        /// open (default for a new ticket), done or wont-do.
        #[arg(long, value_parser = ["open", "done", "wont-do"], requires = "ticket")]
        status: Option<String>,
        /// An observation to record, timestamped now.
        #[arg(long)]
        note: Option<String>,
        /// A directory with your own templates, used for the re-render.
        #[arg(long, value_name = "DIR")]
        template_dir: Option<PathBuf>,
    },
    /// Serve an NFQUEUE in this network namespace (the userspace packet
    /// engine, run by gameday inside a helper container).
    #[command(hide = true)]
    NfqueueServe {
        #[arg(long)]
        queue: u16,
        #[arg(long, default_value_t = 0)]
        latency_us: u64,
        #[arg(long, default_value_t = 0)]
        jitter_us: u64,
        #[arg(long, default_value_t = 0.0)]
        correlation: f64,
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        #[arg(long, default_value_t = 0.0)]
        duplicate: f64,
        #[arg(long, default_value_t = 0.0)]
        corrupt: f64,
        /// Stop by itself after this long (the runner may be gone).
        #[arg(long, default_value_t = 3600)]
        max_seconds: u64,
    },
    /// Revert faults left behind by a runner that died (SIGKILL, reboot).
    ///
    /// Reads the journals of the run directories under --out, reverts every fault that was
    /// applied and never reverted (idempotently: a container that is already fine is left
    /// alone), and records that in the journal. Exit 0 when nothing is left, 4 otherwise.
    Recover {
        /// Where run directories are kept.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
        /// Docker engine to use (default: DOCKER_HOST, then the local socket).
        #[arg(long, value_name = "URL")]
        docker_host: Option<String>,
        /// Also sweep a compose project without a journal: remove every rule and
        /// qdisc gameday adds (comment `gameday:`, handle 6764:) from its containers.
        #[arg(long, value_name = "PROJECT")]
        scope: Option<String>,
        /// With --scope: reach namespaces through helper containers from this image
        /// (a remote engine) instead of from this host.
        #[arg(long, value_name = "IMAGE")]
        helper_image: Option<String>,
    },
}

/// What to do with `manual:` steps when no one is at a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NonInteractive {
    /// Skip them (each is recorded as skipped in the report).
    Skip,
}

/// Parse the arguments, run the command, return the exit code.
pub fn main() -> u8 {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. } | Command::Recover { .. }) {
        // Read-only commands end quietly when their reader goes away
        // (`gameday history | head`), as Unix tools do. `run` and `recover`
        // keep Rust's default (SIGPIPE ignored) so a closed pipe can never
        // kill them between applying and reverting a fault.
        // SAFETY: called before any thread is started; only resets a handler.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Plan { file } => with_runtime(plan_command(file)),
        Command::Schema { result } => schema(result),
        Command::Report {
            run_dir,
            format,
            template_dir,
            open,
        } => report_command(&run_dir, format, template_dir.as_deref(), open),
        Command::History {
            out,
            gameday,
            format,
        } => crate::history::command(&out, gameday.as_deref(), format),
        Command::NfqueueServe {
            queue,
            latency_us,
            jitter_us,
            correlation,
            loss,
            duplicate,
            corrupt,
            max_seconds,
        } => {
            let plan = crate::fault::nfqueue::PacketPlan {
                latency: std::time::Duration::from_micros(latency_us),
                jitter: std::time::Duration::from_micros(jitter_us),
                correlation,
                loss,
                duplicate,
                corrupt,
            };
            nfqueue_serve(queue, plan, max_seconds)
        }
        Command::Annotate {
            run_dir,
            ticket,
            title,
            status,
            note,
            template_dir,
        } => annotate_command(
            &run_dir,
            ticket,
            title,
            status,
            note,
            template_dir.as_deref(),
        ),
        Command::Run {
            file,
            out,
            yes,
            no_progress,
            template_dir,
            non_interactive,
        } => with_runtime(run_command(
            file,
            out,
            !no_progress,
            template_dir,
            yes,
            non_interactive,
        )),
        Command::Recover {
            out,
            docker_host,
            scope,
            helper_image,
        } => with_runtime(recover_command(out, docker_host, scope, helper_image)),
    }
}

fn with_runtime(fut: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::INVALID
        }
    }
}

fn print_diagnostics(d: &FileDiagnostics) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(d.render().as_bytes());
}

fn validate(files: &[PathBuf]) -> u8 {
    let mut failed = 0;
    for file in files {
        match gameday::load(file) {
            Ok(g) => {
                let (_, total) = plan::schedule(&g);
                println!(
                    "{}: valid: \"{}\", {} scenario{}, {} probe{}, about {}",
                    file.display(),
                    g.gameday,
                    g.scenarios.len(),
                    if g.scenarios.len() == 1 { "" } else { "s" },
                    g.probes.0.len(),
                    if g.probes.0.len() == 1 { "" } else { "s" },
                    gameday::units::HumanDuration(total)
                );
            }
            Err(d) => {
                failed += 1;
                print_diagnostics(&d);
            }
        }
    }
    if failed > 0 {
        if files.len() > 1 {
            eprintln!("{failed} of {} files invalid", files.len());
        }
        exit::INVALID
    } else {
        exit::OK
    }
}

fn schema(result: bool) -> u8 {
    let schema = if result {
        crate::report::result::json_schema()
    } else {
        gameday::model::json_schema()
    };
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => {
            println!("{text}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot print the schema: {e}");
            exit::INVALID
        }
    }
}

async fn plan_command(file: PathBuf) -> u8 {
    let gameday = match gameday::load(&file) {
        Ok(g) => g,
        Err(d) => {
            print_diagnostics(&d);
            return exit::INVALID;
        }
    };
    match connect_and_resolve(gameday, &file).await {
        Ok((plan, _)) => {
            print!("{}", plan.render(&file.display().to_string()));
            exit::OK
        }
        Err(code) => code,
    }
}

/// Connect to the gameday's engine and resolve its targets in scope (read
/// only). Errors are printed; the exit code is returned.
async fn connect_and_resolve(
    gameday: gameday::Gameday,
    file: &std::path::Path,
) -> Result<(plan::Plan, Engines), u8> {
    let engine = match Engine::connect(&gameday.docker).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "  = hint: is the Docker daemon running? `docker info` should work; set DOCKER_HOST or `docker: {{ host: ... }}` to use another engine"
            );
            return Err(exit::INVALID);
        }
    };
    let mut others = Vec::new();
    for (name, spec) in &gameday.hosts {
        match Engine::connect_named(name, spec).await {
            Ok(e) => others.push(e),
            Err(e) => {
                eprintln!("error: host `{name}`: {e}");
                eprintln!(
                    "  = hint: check `hosts.{name}` in {}; nothing was changed",
                    file.display()
                );
                return Err(exit::INVALID);
            }
        }
    }
    let engines = Engines::new(engine, others);
    let engine = engines.default_engine().clone();
    let scope = gameday.scope.compose_project.clone();
    let listing = async {
        let version = engine.server_version().await?;
        let mut in_scope = Vec::new();
        let mut outside = Vec::new();
        let mut others = Vec::new();
        for e in engines.iter() {
            in_scope.extend(e.list_project(&scope).await?);
            outside.extend(e.list_outside(&scope).await?);
            if e.name() != engine.name() {
                others.push(plan::EngineInfo {
                    name: e.name().to_string(),
                    host: e.host().to_string(),
                    version: e.server_version().await?,
                    connection: e.security().describe().to_string(),
                });
            }
        }
        Ok::<_, crate::docker::DockerError>((version, in_scope, outside, others))
    };
    let (version, in_scope, outside, other_engines) = match listing.await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: cannot list containers: {e}");
            return Err(exit::INVALID);
        }
    };
    let needs_namespace = gameday
        .scenarios
        .iter()
        .flat_map(|s| &s.faults)
        .any(|f| f.is_network());
    let docker_config = gameday.docker.clone();
    match plan::resolve(
        gameday,
        in_scope,
        &outside,
        engine.host().to_string(),
        version,
    ) {
        Ok(mut plan) => {
            plan.docker_connection = engine.security().describe().to_string();
            plan.other_engines = other_engines;
            if needs_namespace {
                use crate::gameday::model::NetworkHelper;
                // SAFETY: geteuid(2) has no preconditions.
                let root = unsafe { libc::geteuid() } == 0;
                let (via_helper, reason) = match docker_config.network_helper {
                    NetworkHelper::Host => (false, "network_helper: host"),
                    NetworkHelper::Helper => (true, "network_helper: helper"),
                    NetworkHelper::Auto if !engine.is_local() => {
                        (true, "the engine is not this host's socket")
                    }
                    NetworkHelper::Auto if !root => (true, "gameday does not run as root here"),
                    NetworkHelper::Auto => (false, "local engine, running as root"),
                };
                plan.namespace_reason = reason.to_string();
                if via_helper {
                    let image = docker_config
                        .helper_image
                        .clone()
                        .unwrap_or_else(|| crate::fault::helper::DEFAULT_IMAGE.to_string());
                    if !engine.image_exists(&image).await {
                        plan.warnings.push(format!(
                            "the helper image `{image}` is not on the engine, so every network fault will fail: \
                             build it with scripts/build-nethelper-image (or set docker.helper_image)"
                        ));
                    }
                    plan.helper_image = Some(image);
                } else {
                    plan.netem_available = crate::fault::netns::kernel_has_netem();
                }
                // Engines of `hosts:` elsewhere are reached through helpers too.
                let image = docker_config
                    .helper_image
                    .clone()
                    .unwrap_or_else(|| crate::fault::helper::DEFAULT_IMAGE.to_string());
                for other in engines.iter().skip(1).filter(|e| !e.is_local()) {
                    if !other.image_exists(&image).await {
                        plan.warnings.push(format!(
                            "the helper image `{image}` is not on host `{}` ({}), so network faults there will fail: \
                             build it there with scripts/build-nethelper-image (or set docker.helper_image)",
                            other.name(),
                            other.host()
                        ));
                    }
                }
            }
            Ok((plan, engines))
        }
        Err(diagnostics) => {
            print_diagnostics(&FileDiagnostics {
                file: file.display().to_string(),
                source: std::fs::read_to_string(file).unwrap_or_default(),
                diagnostics,
            });
            Err(exit::INVALID)
        }
    }
}

/// Where a recovered fault was found: its journal, or the `--scope` sweep.
fn origin(journal: &std::path::Path) -> String {
    if journal.as_os_str().is_empty() {
        "sweep".to_string()
    } else {
        journal.display().to_string()
    }
}

async fn recover_command(
    out: PathBuf,
    docker_host: Option<String>,
    scope: Option<String>,
    helper_image: Option<String>,
) -> u8 {
    let unfinished = crate::run::recover::find_unfinished(&out);
    if unfinished.is_empty() && scope.is_none() {
        println!(
            "nothing to recover: no journal under {} has unreverted faults",
            out.display()
        );
        return exit::OK;
    }
    let config = crate::gameday::model::DockerConfig {
        host: docker_host,
        ..Default::default()
    };
    let engine = match Engine::connect(&config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("  = hint: recovery needs the Docker engine the faults were applied on");
            return exit::FAULT_LEFT;
        }
    };
    let mut report = crate::run::recover::recover(&engine, &out, None).await;
    if let Some(project) = &scope {
        report.extend(crate::run::recover::sweep(&engine, project, helper_image.as_deref()).await);
    }
    let mut left = 0;
    for r in &report {
        match &r.outcome {
            Ok(what) => println!(
                "{}: fault {} on {}: {what}",
                origin(&r.journal),
                r.fault_id,
                r.container
            ),
            Err(e) => {
                left += 1;
                eprintln!(
                    "{}: fault {} on {}: NOT reverted: {e}",
                    origin(&r.journal),
                    r.fault_id,
                    r.container
                );
            }
        }
    }
    if left == 0 {
        println!(
            "recovered {} fault{}; nothing is left",
            report.len(),
            if report.len() == 1 { "" } else { "s" }
        );
        exit::OK
    } else {
        eprintln!(
            "{left} fault{} could not be reverted; undo by hand as shown",
            if left == 1 { "" } else { "s" }
        );
        exit::FAULT_LEFT
    }
}

/// Faults against an engine other than this host's socket (staging, say)
/// need a person's yes: the plan is shown and the gameday's name typed back.
/// Without a terminal nobody can answer, so the run refuses at once
/// (`--yes` is the answer for automation); nothing ever waits for input.
fn confirmed(plan: &plan::Plan, remote: &[&Engine], display: &str) -> bool {
    use std::io::IsTerminal;
    let title = &plan.gameday.gameday;
    let hosts = remote
        .iter()
        .map(|e| e.host())
        .collect::<Vec<_>>()
        .join(" and ");
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "error: refusing to inject faults through the Docker engine at {hosts} without confirmation: it is not this host's socket, and no one can confirm (standard input is not a terminal)"
        );
        eprintln!(
            "  = hint: run it from a terminal to confirm, or add `--yes` when a pipeline runs it on purpose; `gameday plan {display}` shows what it would do. Nothing was changed"
        );
        return false;
    }
    eprint!("{}", plan.render(display));
    eprint!(
        "\nThis injects faults through the Docker engine at {hosts}.\nType the gameday's name ({title}) to go on: "
    );
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if answer.trim() == title.trim() {
        return true;
    }
    eprintln!("error: not confirmed (expected `{title}`): nothing was changed");
    false
}

async fn run_command(
    file: PathBuf,
    out: PathBuf,
    progress: bool,
    template_dir: Option<PathBuf>,
    yes: bool,
    non_interactive: Option<NonInteractive>,
) -> u8 {
    use std::io::IsTerminal;
    let gameday = match gameday::load(&file) {
        Ok(g) => g,
        Err(d) => {
            print_diagnostics(&d);
            return exit::INVALID;
        }
    };
    let at_terminal = std::io::stdin().is_terminal();
    let manual_steps = gameday
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| matches!(s, gameday::model::Step::Manual(_)))
        .count();
    if manual_steps > 0 && !at_terminal && non_interactive != Some(NonInteractive::Skip) {
        eprintln!(
            "error: {}: {manual_steps} manual step{} need{} a person to answer, and no one is at a terminal (standard input is not one)",
            file.display(),
            if manual_steps == 1 { "" } else { "s" },
            if manual_steps == 1 { "s" } else { "" },
        );
        eprintln!(
            "  = hint: run it from a terminal, or add `--non-interactive=skip` to run without them (each is recorded as skipped). Nothing was changed"
        );
        return exit::INVALID;
    }
    let operator = at_terminal.then(|| crate::run::scheduler::Operator {
        name: ["GAMEDAY_OPERATOR", "SUDO_USER", "USER"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
            .unwrap_or_else(|| "operator".to_string()),
    });
    let scope = gameday.scope.compose_project.clone();
    let leftovers: Vec<_> = crate::run::recover::find_unfinished(&out)
        .into_iter()
        .filter(|(_, u)| u.scope == scope)
        .collect();
    if !leftovers.is_empty() {
        eprintln!(
            "error: an earlier run against compose project `{scope}` left faults that were never reverted:"
        );
        for (path, u) in &leftovers {
            for (id, recipe) in &u.faults {
                eprintln!(
                    "  {}: fault {id} on {}",
                    path.display(),
                    recipe.container_name()
                );
            }
        }
        eprintln!(
            "  = hint: run `gameday recover --out {}` first; it reverts them and records that",
            out.display()
        );
        return exit::FAULT_LEFT;
    }
    let display = file.display().to_string();
    let (plan, engines) = match connect_and_resolve(gameday, &file).await {
        Ok(v) => v,
        Err(code) => return code,
    };
    if !plan.warnings.is_empty() {
        for w in &plan.warnings {
            eprintln!("error: {w}");
        }
        eprintln!("  = hint: `gameday plan {display}` shows the whole plan; nothing was changed");
        return exit::INVALID;
    }
    let remote: Vec<&Engine> = engines.iter().filter(|e| !e.is_local()).collect();
    if !remote.is_empty() && !yes && !confirmed(&plan, &remote, &display) {
        return exit::INVALID;
    }
    eprintln!(
        "Running gameday \"{}\" against compose project `{scope}`: {} scenario{}, about {}. Ctrl-C reverts every fault and stops.",
        plan.gameday.gameday,
        plan.gameday.scenarios.len(),
        if plan.gameday.scenarios.len() == 1 {
            ""
        } else {
            "s"
        },
        gameday::units::HumanDuration(plan.total)
    );
    let probe_names = plan
        .gameday
        .probes
        .0
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let view = tokio::spawn(crate::run::view::show(events_rx, probe_names, progress));
    if operator.is_some() {
        eprintln!(
            "Type a line and press Enter at any time to record an observation (`Sam: ...` credits a participant)."
        );
    }
    let options = crate::run::scheduler::RunOptions {
        file: display,
        out,
        template_dir,
        operator,
    };
    let out_dir = options.out.clone();
    let run = tokio::spawn(crate::run::scheduler::run(
        plan,
        engines.clone(),
        options,
        events_tx,
    ));
    let outcome = match run.await {
        Ok(outcome) => outcome,
        Err(panic) => {
            // Last line of defence: an internal error must not leave faults
            // behind. The journal knows what was applied; revert it now.
            let _ = view.await;
            eprintln!(
                "internal error: the run stopped unexpectedly ({panic}); reverting what it applied"
            );
            return recover_after_crash(engines.default_engine(), &out_dir, &scope).await;
        }
    };
    let _ = view.await;
    match outcome {
        Ok(o) => {
            for s in &o.result.scenarios {
                let met = s.expectations.iter().filter(|e| e.verdict == "met").count();
                println!(
                    "{:<10} {} ({met}/{} checks met)",
                    s.verdict,
                    s.name,
                    s.expectations.len()
                );
                for e in s.expectations.iter().filter(|e| e.verdict != "met") {
                    println!("           not met: {}: {}", e.text, e.actual);
                }
            }
            if let Some(reason) = &o.result.aborted_reason {
                println!("aborted: {reason}");
            }
            for f in &o.result.faults_left {
                println!(
                    "LEFT IN PLACE: {} on {}: {}; undo with `{}`",
                    f.kind, f.container, f.error, f.by_hand
                );
            }
            println!("{}", crate::report::outcome_text(&o.result.outcome));
            println!("report: {}", o.run_dir.join("report.md").display());
            o.exit_code
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAULT_LEFT
        }
    }
}

/// Revert every unfinished fault under `out` after the run crashed. Only this
/// run can have left some for its scope: `run` refuses to start otherwise.
async fn recover_after_crash(engine: &Engine, out: &std::path::Path, scope: &str) -> u8 {
    let report = crate::run::recover::recover(engine, out, Some(scope)).await;
    let mut left = 0;
    for r in &report {
        match &r.outcome {
            Ok(what) => eprintln!("  fault {} on {}: {what}", r.fault_id, r.container),
            Err(e) => {
                left += 1;
                eprintln!(
                    "  fault {} on {}: NOT reverted: {e}",
                    r.fault_id, r.container
                );
            }
        }
    }
    if left == 0 {
        exit::ABORTED
    } else {
        exit::FAULT_LEFT
    }
}

fn report_command(
    run_dir: &std::path::Path,
    format: Option<crate::report::Format>,
    template_dir: Option<&std::path::Path>,
    open: bool,
) -> u8 {
    use crate::report::{self, Format, RunRecord};
    let record = match RunRecord::load(run_dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "  = hint: RUN_DIR is a directory written by `gameday run`, holding result.json"
            );
            return exit::INVALID;
        }
    };
    let written = match format {
        Some(Format::Json) => {
            return match report::render(&record, Format::Json, template_dir) {
                Ok(text) => {
                    println!("{text}");
                    exit::OK
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit::INVALID
                }
            };
        }
        Some(f) => report::render(&record, f, template_dir).and_then(|text| {
            let path = run_dir.join(f.file_name());
            std::fs::write(&path, text)
                .map(|_| vec![path.clone()])
                .map_err(|source| report::ReportError::Write {
                    path: path.display().to_string(),
                    source,
                })
        }),
        None => report::write_all(run_dir, &record, template_dir),
    };
    match written {
        Ok(paths) => {
            for p in &paths {
                println!("{}", p.display());
            }
            if open {
                let html = run_dir.join("report.html");
                if let Err(e) = std::process::Command::new("xdg-open").arg(&html).status() {
                    eprintln!("cannot open {}: {e}; open it by hand", html.display());
                }
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::INVALID
        }
    }
}

fn annotate_command(
    run_dir: &std::path::Path,
    ticket: Option<String>,
    title: Option<String>,
    status: Option<String>,
    note: Option<String>,
    template_dir: Option<&std::path::Path>,
) -> u8 {
    use crate::report::{self, RunRecord, annotations::Note};
    if ticket.is_none() && note.is_none() {
        eprintln!(
            "error: nothing to record: give --ticket ID --title \"...\" and/or --note \"...\""
        );
        return exit::INVALID;
    }
    let mut record = match RunRecord::load(run_dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    if let Some(id) = &ticket {
        let status = status.as_deref().unwrap_or("open");
        if let Err(e) = record
            .annotations
            .upsert_ticket(id, title.as_deref(), status)
        {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    }
    if let Some(text) = note {
        record.annotations.notes.push(Note {
            text,
            at: chrono::Utc::now(),
        });
    }
    if let Err(e) = record.annotations.save(run_dir) {
        eprintln!("error: cannot write the annotations: {e}");
        return exit::INVALID;
    }
    match report::write_all(run_dir, &record, template_dir) {
        Ok(paths) => {
            println!(
                "recorded in {}",
                run_dir.join(report::annotations::FILE).display()
            );
            for p in &paths {
                println!("{}", p.display());
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: annotations saved, but the reports could not be re-rendered: {e}");
            exit::INVALID
        }
    }
}

fn nfqueue_serve(queue: u16, plan: crate::fault::nfqueue::PacketPlan, max_seconds: u64) -> u8 {
    let worker = match crate::fault::nfqueue::Worker::start(None, queue, plan) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot serve queue {queue}: {e}");
            return exit::INVALID;
        }
    };
    println!("ready: serving queue {queue}");
    with_runtime(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return exit::INVALID;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(max_seconds)) => {}
        }
        exit::OK
    });
    let stats = worker.stop();
    println!("{}", stats.line());
    exit::OK
}
