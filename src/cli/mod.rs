//! The command line: argument parsing (clap) and one function per command.
//! Commands print for people on stdout, errors on stderr, and return the
//! exit code (see [`crate::exit`]).

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::docker::Engine;
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
    /// Print the JSON Schema of the gameday file, for editor completion.
    ///
    /// Save it and add `# yaml-language-server: $schema=gameday.schema.json` at the top of a gameday file.
    Schema,
}

/// Parse the arguments, run the command, return the exit code.
pub fn main() -> u8 {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Plan { file } => with_runtime(plan_command(file)),
        Command::Schema => schema(),
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

fn schema() -> u8 {
    let schema = gameday::model::json_schema();
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
    let engine = match Engine::connect(&gameday.docker).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "  = hint: is the Docker daemon running? `docker info` should work; set DOCKER_HOST or `docker: {{ host: ... }}` to use another engine"
            );
            return exit::INVALID;
        }
    };
    let listing = async {
        let version = engine.server_version().await?;
        let in_scope = engine.list_project(&gameday.scope.compose_project).await?;
        let outside = engine.list_outside(&gameday.scope.compose_project).await?;
        Ok::<_, crate::docker::DockerError>((version, in_scope, outside))
    };
    let (version, in_scope, outside) = match listing.await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: cannot list containers: {e}");
            return exit::INVALID;
        }
    };
    let display = file.display().to_string();
    let source = std::fs::read_to_string(&file).unwrap_or_default();
    match plan::resolve(
        gameday,
        in_scope,
        &outside,
        engine.host().to_string(),
        version,
    ) {
        Ok(p) => {
            print!("{}", p.render(&display));
            exit::OK
        }
        Err(diagnostics) => {
            print_diagnostics(&FileDiagnostics {
                file: display,
                source,
                diagnostics,
            });
            exit::INVALID
        }
    }
}
