//! The command line: argument parsing (clap) and one file per command.
//! Commands print for people on stdout and return an exit code or a
//! [`CliError`], which is printed in one place (see [`crate::exit`]).

mod diff;
mod error;
mod halt;
mod helper;
mod history;
mod init;
mod plan;
mod recover;
mod report;
mod run;
mod shell;
mod validate;
mod vars;
mod watch;
mod worker;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use error::{CliError, CliResult};
pub use history::HistoryFormat;

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
        #[command(flatten)]
        env: vars::EnvArgs,
    },
    /// Dry run: resolve targets against Docker (read only) and print what would be done, when, to which container.
    ///
    /// Exit 2 when the file is invalid or a target does not resolve. Changes nothing.
    Plan {
        /// The gameday file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The seed of every random `pick:` (overrides the file's `seed:`); the same seed
        /// shows the same containers `gameday run --seed N` acts on.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        #[command(flatten)]
        env: vars::EnvArgs,
    },
    /// Run a gameday: steady-state check, then each scenario's faults held, reverted and observed.
    ///
    /// Probes run the whole time; no fault is applied unless every probe passes during the
    /// baseline. Every fault is journalled before it is applied, and reverted at the end of its
    /// scenario, on halt_if, on an internal error, and on Ctrl-C/SIGTERM (first: revert and
    /// write a partial report; second: also skip cooldowns; third: exit at once with code 4,
    /// leaving the watchdog and `gameday recover` to revert). The run holds its compose project on the engine:
    /// a second run on it is refused (exit 2) while this one lives.
    ///
    /// A watchdog that does not share the runner's fate (a process of its own on this host; a
    /// container on a remote engine that has the helper image) holds every fault's revert
    /// recipe before the fault is applied, and reverts them if the runner stops renewing its
    /// `lease:` (default 10s: killed, frozen, its link cut). `stop_if:` conditions (a probe
    /// failing for long, an alert firing, a kill-switch file, an error budget spent) and
    /// `gameday halt` from another terminal revert every fault at once and abort the rest
    /// (exit 3). `notify:` webhooks and `grafana:` annotations are told as it goes, never
    /// blocking it. Writes OUT/<date>-<slug>-<id>/ with journal.jsonl, result.json,
    /// samples.jsonl and report.md.
    ///
    /// `--serve` opens the live room: a web page of the run (phase and countdown, faults in
    /// place, probes, timeline, observations, at the end the verdicts) for everyone to watch,
    /// where whoever has the writer's link adds observations (recorded like lines typed here,
    /// and answering manual steps, also without a terminal) and can halt the run. Two links are
    /// printed at the start: the viewer's and the writer's (with its token; beyond loopback the
    /// viewer's carries a token too). An address that cannot be served refuses the run before
    /// anything is touched (exit 2). The room only reads the run directory: the run never
    /// waits for it.
    #[command(
        after_long_help = "Examples:\n  gameday run gamedays/checkout.yaml --serve\n  gameday run gamedays/checkout.yaml --serve=0.0.0.0:8099 --serve-linger 1m"
    )]
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
        /// The seed of every random `pick:` (overrides the file's `seed:`); without either,
        /// one is drawn, printed and recorded in result.json.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Serve the live room on ADDR (default 127.0.0.1 on a free port); give it with `=`.
        #[arg(
            long,
            value_name = "ADDR",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "127.0.0.1:0"
        )]
        serve: Option<std::net::SocketAddr>,
        /// How long the live room keeps serving the final state after the run.
        #[arg(
            long,
            value_name = "DURATION",
            default_value = "2s",
            requires = "serve"
        )]
        serve_linger: crate::gameday::units::HumanDuration,
        #[command(flatten)]
        env: vars::EnvArgs,
    },
    /// The live room of a run started elsewhere on this machine, or a finished run replayed.
    ///
    /// Serves the page `gameday run --serve` serves, for a run found under --out: RUN_ID's,
    /// else the one live run, else the newest. A live run is shown as it goes: observations
    /// are written through the runner's own room (its writer's link), and the writer's link
    /// printed here can halt the run (as `gameday halt` does). A finished run is replayed at
    /// --speed (default 1x; `max` shows it all at once). Serves until Ctrl-C. Exit 0, or 2
    /// when no run is found or the address cannot be served.
    #[command(
        after_long_help = "Examples:\n  gameday watch                            the one live run under reports/\n  gameday watch 3f9c2a --speed 4x          a finished run, four times as fast\n  gameday watch --speed max                the newest run, its end at once\n  gameday watch --serve 0.0.0.0:8099       for the team's laptops (links carry tokens)"
    )]
    Watch {
        /// Where run directories are kept.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
        /// The run to watch (its id, e.g. 3f9c2a).
        #[arg(value_name = "RUN_ID")]
        run_id: Option<String>,
        /// The address to serve the room on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        serve: std::net::SocketAddr,
        /// How fast a finished run is replayed: a factor (`4x`, `0.5x`) or `max`.
        #[arg(long, value_name = "SPEED", value_parser = crate::room::Speed::parse)]
        speed: Option<crate::room::Speed>,
    },
    /// Write a first gameday from a running compose stack, or fit one of the library to it.
    ///
    /// Reads the project's running containers (published ports, and what answers on them: an
    /// HTTP health path, else TCP) and the compose file their labels name (or --compose-file)
    /// for `depends_on`. Without any `depends_on`, dependencies are guessed from service names
    /// in each container's command and environment and from connections seen for --observe
    /// (this host's engine only); the file says which were guessed. For each dependency A -> B
    /// it writes: B paused (A's health notices and A fails fast), B killed and restored (A
    /// recovers), B slow (A's latency stays bounded), A started while B is down (A must not
    /// report healthy), A cut off from B; and a restart of every service. Each scenario names
    /// the readiness-checklist items it proves; thresholds are marked `# adjust`. Nothing is
    /// changed; the only traffic is HTTP GETs to published ports on 127.0.0.1.
    ///
    /// `--list` shows the library (gamedays/library/), `--template NAME` fits one to the stack
    /// (caller, dependency and health URL taken from its first dependency; --set ROLE=VALUE
    /// for the rest).
    Init(init::InitArgs),
    /// Print the JSON Schema of the gameday file (or of result.json), for editors and tools.
    ///
    /// Save it and add `# yaml-language-server: $schema=gameday.schema.json` at the top of a gameday file.
    Schema {
        /// The schema of `result.json` (versioned by its `schema_version`) instead.
        #[arg(long)]
        result: bool,
    },
    /// Re-render the reports of an archived run, or index the whole archive.
    ///
    /// Reads RUN_DIR/result.json, samples.jsonl (streamed: a run of hours renders in the
    /// memory of a run of minutes), journal.jsonl and annotations.json; the measured data is
    /// never rewritten. Without --format, writes report.md, report.html and junit.xml;
    /// `--format json` prints the result with its annotations.
    ///
    /// `gameday report --index [--out reports]` writes reports/index.html: every run with a
    /// link to its report, filters by gameday and outcome (no server needed; a filtered view
    /// is linkable as index.html#gameday=NAME&outcome=not_met), and per gameday each
    /// scenario's verdict and measured values across runs.
    Report {
        /// A run directory, e.g. reports/2026-11-23-login-api-3f9c2a.
        #[arg(value_name = "RUN_DIR", required_unless_present = "index")]
        run_dir: Option<PathBuf>,
        /// Only this format.
        #[arg(long, value_enum, conflicts_with = "index")]
        format: Option<crate::report::Format>,
        /// A directory with your own report.md.tera / report.html.tera.
        #[arg(long, value_name = "DIR", conflicts_with = "index")]
        template_dir: Option<PathBuf>,
        /// Open the HTML report (or the index) in the default browser afterwards.
        #[arg(long)]
        open: bool,
        /// Write DIR/index.html for the archive (see --out) instead of one run's reports.
        #[arg(long, conflicts_with = "run_dir")]
        index: bool,
        /// The archive to index: where run directories are kept.
        #[arg(
            long,
            value_name = "DIR",
            default_value = "reports",
            requires = "index"
        )]
        out: PathBuf,
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
        format: HistoryFormat,
    },
    /// What changed between two runs of a gameday: verdicts, measured values, faults, probes.
    ///
    /// Per scenario its verdict in each run, and per check its measured value in each run
    /// and the difference (`*` marks what changed); the faults where they differ; each
    /// probe's failures and p99; the readiness checklist. Reads the two result.json only.
    Diff {
        /// The earlier run directory.
        #[arg(value_name = "RUN_A")]
        a: PathBuf,
        /// The later run directory.
        #[arg(value_name = "RUN_B")]
        b: PathBuf,
        /// `table` for people, `json` for tools.
        #[arg(long, value_enum, default_value = "table")]
        format: HistoryFormat,
    },
    /// Record follow-up tickets and notes on a run, then re-render its reports.
    ///
    /// Annotations live in RUN_DIR/annotations.json; result.json and the samples are never
    /// rewritten. A ticket with an existing ID is updated. A ticket linked with --for to the
    /// scenario or check it should fix is verified by every later run of the gameday (in the
    /// same archive): its reports and `gameday history` say "fixed: now met", "still not met"
    /// or "regressed" (met once since, not met now), with what was measured.
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
        /// What the ticket should fix: a scenario of this run, or one of its checks as
        /// "SCENARIO/CHECK" (the check's text, or a unique part of it, e.g. "Store paused/p99").
        #[arg(long = "for", value_name = "SCENARIO[/CHECK]", requires = "ticket")]
        for_target: Option<String>,
        /// An observation to record, timestamped now.
        #[arg(long)]
        note: Option<String>,
        /// A directory with your own templates, used for the re-render.
        #[arg(long, value_name = "DIR")]
        template_dir: Option<PathBuf>,
    },
    /// Stop a live run from another terminal or machine: every fault is reverted at once.
    ///
    /// Leaves a halt marker beside the run's claim on the engine; the runner (and its
    /// watchdogs) see it within a second, revert every fault, abort the scenarios left and
    /// record who halted it. The run is found in the journals under --out (RUN_ID picks one),
    /// or, from a machine without them, by --scope on the engine DOCKER_HOST (or
    /// --docker-host) names. Waits until the run has let go of its scope; when the runner is
    /// gone, its watchdog reverts, and with the journal here, so does this command (as
    /// `recover`). Exit 0 when the run stopped and nothing is left, 2 when no run was found, 4
    /// when faults may be left.
    Halt {
        /// Where run directories are kept.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
        /// The compose project of the run to halt (without a journal under --out).
        #[arg(long, value_name = "PROJECT")]
        scope: Option<String>,
        /// Docker engine to use with --scope (default: DOCKER_HOST, then the local socket).
        #[arg(long, value_name = "URL")]
        docker_host: Option<String>,
        /// How long to wait for the run to stop.
        #[arg(long, value_name = "DURATION", default_value = "60s")]
        wait: crate::gameday::units::HumanDuration,
        /// The run to halt (its id, e.g. 3f9c2a); default: the one live run under --out.
        #[arg(value_name = "RUN_ID")]
        run_id: Option<String>,
    },
    /// Revert faults left behind by a runner that died (SIGKILL, reboot).
    ///
    /// Reads the journals of the run directories under --out, reverts every fault that was
    /// applied and never reverted (idempotently: a container that is already fine is left
    /// alone), and records that in the journal. A run whose runner just died is given the
    /// time its watchdog needs to revert first, and what the watchdog did is said. Faults of
    /// a run that holds its scope's claim and is alive, or cannot be proved dead from here,
    /// are not touched. Exit 0 when nothing is left, 2 when faults were not touched for that
    /// reason, 4 when faults may be left.
    Recover {
        /// Where run directories are kept.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
        /// Docker engine to use (default: DOCKER_HOST, then the local socket).
        #[arg(long, value_name = "URL")]
        docker_host: Option<String>,
        /// Also sweep a compose project without a journal: remove what gameday can
        /// leave on its containers, each found by its tag or name: rules (comment
        /// `gameday:`) and qdiscs (handles 6700: to 67ff:), helper containers, worker processes
        /// on this host, fill files at the top of the root, /tmp and each mount, and
        /// OOM scores raised to 1000 (put back to the container's configured value).
        #[arg(long, value_name = "PROJECT")]
        scope: Option<String>,
        /// With --scope: reach namespaces through helper containers from this image
        /// (a remote engine) instead of from this host.
        #[arg(long, value_name = "IMAGE")]
        helper_image: Option<String>,
    },
    /// Show or install the helper image on an engine (what faults on a remote engine run from).
    ///
    /// A run installs it by itself where its plan needs it (said once, with the size); these
    /// commands do it explicitly. `status` exits 0 when the image is current, 1 otherwise.
    #[command(
        subcommand,
        after_long_help = "Examples:\n  gameday helper status --engine tcp://staging:2376 --tls-dir ~/.docker/staging\n  gameday helper install --engine tcp://staging:2376 --tls-dir ~/.docker/staging"
    )]
    Helper(helper::HelperAction),
    /// Print the completion script for a shell.
    ///
    /// bash: `gameday completions bash > ~/.local/share/bash-completion/completions/gameday`;
    /// zsh: `gameday completions zsh > "${fpath[1]}/_gameday"`; fish: `gameday completions
    /// fish > ~/.config/fish/completions/gameday.fish`. Generated from the same definitions
    /// as `--help`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page of gameday or of one command, or write them all with --out.
    ///
    /// `gameday man run | man -l -` reads `run`'s page; `gameday man --out
    /// /usr/local/share/man/man1` installs gameday.1 and a gameday-COMMAND.1 per command.
    /// Generated from the same definitions as `--help`.
    Man {
        /// The command whose page to print (default: gameday's own).
        #[arg(value_name = "COMMAND", conflicts_with = "out")]
        command: Option<String>,
        /// Write every page into this directory instead.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// gameday's workers (hidden: `gameday <kind>`, started by gameday
    /// itself with their work on stdin; see `crate::worker`).
    #[command(flatten)]
    Worker(worker::Invocation),
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
    if !keeps_running_on_a_closed_pipe(&cli.command) {
        // Read-only commands end quietly when their reader goes away
        // (`gameday history | head`), as Unix tools do. `run` and `recover`
        // (and `halt`, and the workers holding faults, and the watchdog,
        // whose runner may be gone) keep Rust's default (SIGPIPE ignored)
        // so a closed pipe can never kill them between applying and
        // reverting a fault.
        // SAFETY: called before any thread is started; only resets a handler.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            e.print();
            e.exit_code()
        }
    }
}

/// Does `command` keep Rust's default of ignoring SIGPIPE?
fn keeps_running_on_a_closed_pipe(command: &Command) -> bool {
    match command {
        Command::Run { .. }
        | Command::Recover { .. }
        | Command::Halt { .. }
        | Command::Watch { .. } => true,
        Command::Worker(w) => w.kind.outlives_a_closed_pipe(),
        Command::Validate { .. }
        | Command::Plan { .. }
        | Command::Init(_)
        | Command::Helper(_)
        | Command::Schema { .. }
        | Command::Report { .. }
        | Command::History { .. }
        | Command::Diff { .. }
        | Command::Annotate { .. }
        | Command::Completions { .. }
        | Command::Man { .. } => false,
    }
}

/// Run one command.
fn dispatch(command: Command) -> CliResult {
    match command {
        Command::Validate { files, env } => validate::validate(&files, &env),
        Command::Plan { file, seed, env } => with_runtime(plan::plan(file, seed, &env)),
        Command::Schema { result } => report::schema(result),
        Command::Init(args) => with_runtime(init::init(args)),
        Command::Helper(action) => with_runtime(helper::helper(action)),
        Command::Diff { a, b, format } => diff::diff(&a, &b, format),
        Command::Report {
            run_dir,
            format,
            template_dir,
            open,
            index,
            out,
        } => match run_dir {
            Some(run_dir) if !index => {
                report::report(&run_dir, format, template_dir.as_deref(), open)
            }
            _ => report::index(&out, open),
        },
        Command::History {
            out,
            gameday,
            format,
        } => history::history(&out, gameday.as_deref(), format),
        Command::Annotate {
            run_dir,
            ticket,
            title,
            status,
            for_target,
            note,
            template_dir,
        } => report::annotate(report::Annotation {
            run_dir: &run_dir,
            ticket,
            title,
            status,
            for_target,
            note,
            template_dir: template_dir.as_deref(),
        }),
        Command::Run {
            file,
            out,
            yes,
            no_progress,
            template_dir,
            non_interactive,
            seed,
            serve,
            serve_linger,
            env,
        } => with_runtime(run::run(run::RunArgs {
            file,
            out,
            progress: !no_progress,
            template_dir,
            yes,
            non_interactive,
            seed,
            serve,
            serve_linger: serve_linger.as_std(),
            env,
        })),
        Command::Watch {
            out,
            run_id,
            serve,
            speed,
        } => with_runtime(watch::watch(watch::WatchArgs {
            out,
            run_id,
            serve,
            speed,
        })),
        Command::Recover {
            out,
            docker_host,
            scope,
            helper_image,
        } => with_runtime(recover::recover(out, docker_host, scope, helper_image)),
        Command::Halt {
            out,
            scope,
            docker_host,
            wait,
            run_id,
        } => with_runtime(halt::halt(halt::HaltArgs {
            out,
            scope,
            docker_host,
            wait: wait.as_std(),
            run_id,
        })),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man { command, out } => shell::man(command.as_deref(), out.as_deref()),
        Command::Worker(invocation) => worker::worker(invocation),
    }
}

fn with_runtime(fut: impl std::future::Future<Output = CliResult>) -> CliResult {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => Err(CliError::invalid(format!(
            "cannot start the async runtime: {e}"
        ))),
    }
}
