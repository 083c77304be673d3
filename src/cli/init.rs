//! `gameday init`: write a first gameday from a running compose stack, or
//! fit a gameday of the library to it (`--template`), or list the library
//! (`--list`). Reads the engine; changes nothing; writes one file (or
//! prints it), always one the loader accepts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{CliError, CliResult};
use crate::docker::Engine;
use crate::exit;
use crate::gameday::units::HumanDuration;
use crate::init::Stack;
use crate::init::discover::{self, DiscoverError, DiscoverOptions};
use crate::init::ledger::checking_env;
use crate::init::library::{NOT_YET, TEMPLATES, Template};
use crate::init::reach::ProbeHost;
use crate::init::write::{WriteOptions, gameday_text};

/// What `gameday init` was asked (its command-line arguments).
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The compose project of the running stack.
    #[arg(long, value_name = "NAME", required_unless_present = "list")]
    pub project: Option<String>,
    /// The compose file to read `depends_on` from (default: the one the containers' labels name).
    #[arg(long, value_name = "FILE")]
    pub compose_file: Option<PathBuf>,
    /// Write the gameday here (default: standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace --output if it exists.
    #[arg(long)]
    pub force: bool,
    /// How long each fault is held (recoveries are given at least 5s).
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub duration: crate::gameday::units::HumanDuration,
    /// How long to watch connections when no `depends_on` is declared (0s: do not watch).
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub observe: crate::gameday::units::HumanDuration,
    /// Docker engine to read (default: DOCKER_HOST, then the local socket).
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
    /// Reach a tcp:// engine without TLS (a private path only), as `insecure: true` in a gameday file.
    #[arg(long)]
    pub insecure: bool,
    /// Ask published ports at this address (default: the engine's host, from its tcp:// or ssh:// address; 127.0.0.1 for a local socket).
    #[arg(long, value_name = "HOST")]
    pub probe_host: Option<String>,
    /// Add a load probe at this rate (e.g. `200/s`) on the stack's main HTTP
    /// endpoint (without it, one is written commented out).
    #[arg(long, value_name = "RATE", conflicts_with = "template")]
    pub load: Option<crate::gameday::units::RequestRate>,
    /// List the gamedays of the library and what each proves.
    #[arg(long, conflicts_with_all = ["template", "compose_file", "output"])]
    pub list: bool,
    /// Fit this library gameday to the stack instead of writing one from scratch.
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
    /// With --template: a role's value, e.g. --set alertmanager=http://127.0.0.1:9093 (repeatable).
    #[arg(long, value_name = "ROLE=VALUE", requires = "template")]
    pub set: Vec<String>,
}

pub(super) async fn init(args: InitArgs) -> CliResult {
    if args.list {
        list();
        return Ok(exit::OK);
    }
    let Some(project) = args.project.clone() else {
        return Err(CliError::invalid("`gameday init` needs --project NAME")
            .hint("the compose project of the running stack, as `docker-compose -p NAME` or the directory name; `gameday init --list` shows the library"));
    };
    if let Some(out) = &args.output
        && out.exists()
        && !args.force
    {
        return Err(
            CliError::invalid(format!("{} already exists", out.display()))
                .hint("choose another -o, or add --force to replace it"),
        );
    }
    let set = parse_set(&args.set)?;
    let template = match &args.template {
        Some(name) => Some(Template::find(name).ok_or_else(|| {
            CliError::invalid(format!("no gameday `{name}` in the library")).hint(format!(
                "the library has {}; `gameday init --list` describes them",
                TEMPLATES
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
        None => None,
    };
    let config = crate::gameday::model::DockerConfig {
        host: args.docker_host.clone(),
        insecure: args.insecure,
        ..Default::default()
    };
    let engine = Engine::connect(&config).await.map_err(|e| {
        CliError::invalid(e.to_string()).hint(
            "init reads the running stack from the Docker engine (DOCKER_HOST or --docker-host; --insecure for a tcp:// engine without TLS on a private path)",
        )
    })?;
    let source = if args.docker_host.is_some() {
        "--docker-host"
    } else {
        "DOCKER_HOST"
    };
    let options = DiscoverOptions {
        project: project.clone(),
        compose_file: args.compose_file.clone(),
        observe: args.observe.as_std(),
        probe_host: ProbeHost::choose(engine.host(), source, args.probe_host.as_deref()),
    };
    let mut stack = match discover::stack(&engine, &options).await {
        Ok(stack) => stack,
        Err(e) => return Err(discover_error(e)),
    };
    if args.insecure && engine.security() == crate::docker::Security::Insecure {
        stack.notes.push(
            "the engine was read without TLS (--insecure): a run against it needs `docker: { insecure: true }` in this file, or TLS".to_string(),
        );
    }
    let (text, what) = match template {
        Some(t) => fit(t, &project, &stack, set)?,
        None => {
            let command = command_line(&args, &project);
            let text = gameday_text(
                &stack,
                &WriteOptions {
                    duration: args.duration,
                    date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
                    command,
                    load: args.load,
                },
            );
            (text, summary(&stack))
        }
    };
    // Never hand out a file the loader refuses.
    let shown = args
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "gameday.yaml".into());
    // A ledger's password is a variable set when the file is run, not now.
    let gameday =
        crate::gameday::load_bytes(&shown, text.as_bytes(), &checking_env).map_err(|d| {
            CliError::diagnostics(d)
                .hint("this is a bug in gameday init: the file it wrote does not validate")
        })?;
    match &args.output {
        Some(path) => {
            write_file(path, &text)?;
            eprintln!("wrote {}: {what}", path.display());
            eprintln!(
                "{} scenario{}; next: `gameday plan {}`, then `gameday run {}`",
                gameday.scenarios.len(),
                if gameday.scenarios.len() == 1 {
                    ""
                } else {
                    "s"
                },
                path.display(),
                path.display()
            );
        }
        None => {
            print!("{text}");
            eprintln!("{what}");
        }
    }
    Ok(exit::OK)
}

fn list() {
    println!("The gameday library (gamedays/library/); each runs as it is against the demo stack.");
    println!(
        "Fit one to your stack: gameday init --template NAME --project PROJECT [-o FILE] [--set ROLE=VALUE]\n"
    );
    for t in TEMPLATES {
        println!("{}", t.name);
        println!("  {}", t.summary());
        println!("  proves: {}", t.checklist().join("; "));
        let roles: Vec<String> = t.roles().iter().map(|(r, v)| format!("{r}={v}")).collect();
        println!("  roles: {}", roles.join(" "));
    }
    println!("\nThe readiness checklist the library and `gameday init` prove:");
    for item in crate::init::checklist::ALL {
        println!("  - {item}");
    }
    println!("\nNot in the library yet:");
    for (what, why) in NOT_YET {
        println!("  {what}: {why}");
    }
}

/// `--set ROLE=VALUE` pairs.
fn parse_set(pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((role, value)) = pair.split_once('=') else {
            return Err(
                CliError::invalid(format!("--set `{pair}` is not ROLE=VALUE"))
                    .hint("e.g. --set alertmanager=http://127.0.0.1:9093"),
            );
        };
        out.insert(role.trim().to_string(), value.trim().to_string());
    }
    Ok(out)
}

/// Fit a template: the project, then what the stack says of its roles
/// ([`Template::values_from`]), then what `--set` says.
fn fit(
    template: &Template,
    project: &str,
    stack: &Stack,
    set: BTreeMap<String, String>,
) -> Result<(String, String), CliError> {
    let (mut values, from_stack) = template.values_from(stack);
    values.insert("project".into(), project.to_string());
    values.extend(set);
    let roles = template.roles();
    let text = template.fit(&values).map_err(|e| {
        CliError::invalid(e).hint("`gameday init --list` shows each template's roles")
    })?;
    let kept: Vec<String> = roles
        .iter()
        .filter(|(r, _)| !values.contains_key(*r))
        .map(|(r, v)| format!("{r}={v}"))
        .collect();
    let mut what = format!("library gameday `{}` fitted to `{project}`", template.name);
    if !from_stack.is_empty() {
        what.push_str(&format!("; from the stack: {}", from_stack.join(", ")));
    }
    if !kept.is_empty() {
        what.push_str(&format!(
            "; kept as in the template (give --set ROLE=VALUE to change): {}",
            kept.join(" ")
        ));
    }
    Ok((text, what))
}

fn summary(stack: &Stack) -> String {
    let edges: Vec<String> = stack
        .edges
        .iter()
        .map(|e| format!("{} -> {} ({})", e.from, e.to, e.source.describe()))
        .collect();
    let mut out = format!(
        "{} service{} of `{}`",
        stack.services.len(),
        if stack.services.len() == 1 { "" } else { "s" },
        stack.project
    );
    if edges.is_empty() {
        out.push_str("; no dependency found (only restarts are rehearsed)");
    } else {
        out.push_str(&format!("; dependencies: {}", edges.join(", ")));
    }
    out.push_str(&format!(
        "\npublished ports asked at {}",
        stack.probed_at.describe()
    ));
    for n in &stack.notes {
        out.push_str(&format!("\nnote: {n}"));
    }
    out
}

/// The command as the file's header quotes it (no engine address: it may
/// carry credentials).
fn command_line(args: &InitArgs, project: &str) -> String {
    let mut line = format!("gameday init --project {project}");
    if let Some(f) = &args.compose_file {
        line.push_str(&format!(" --compose-file {}", f.display()));
    }
    if let Some(h) = &args.probe_host {
        line.push_str(&format!(" --probe-host {h}"));
    }
    if args.duration != HumanDuration::from_secs(10) {
        line.push_str(&format!(" --duration {}", args.duration));
    }
    if let Some(rate) = args.load {
        line.push_str(&format!(" --load {rate}"));
    }
    line
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::invalid(format!("cannot write {}: {e}", path.display())))
}

fn discover_error(e: DiscoverError) -> CliError {
    match e {
        DiscoverError::NoContainers { ref known, .. } => {
            let hint = if known.is_empty() {
                "start the stack first (`docker-compose -p NAME up -d`); the engine has no compose project running".to_string()
            } else {
                format!(
                    "start the stack first, or name one of the engine's projects: {}",
                    known.join(", ")
                )
            };
            CliError::invalid(e.to_string()).hint(hint)
        }
        DiscoverError::Docker(_) => CliError::invalid(e.to_string()),
        DiscoverError::Compose(_) => CliError::invalid(e.to_string())
            .hint("give the stack's compose file with --compose-file FILE"),
    }
}
