//! `gameday completions SHELL` and `gameday man`: the shell's completion
//! script and the manual pages, generated from the same clap definitions
//! as `--help` (clap_complete, clap_mangen), so they never drift from it.
//! Hidden commands (the workers) appear in neither.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::{Cli, CliError, CliResult};

/// `gameday` as `--help` shows it: the hidden commands (the workers,
/// which gameday starts itself) left out, so no shell offers them.
fn visible() -> clap::Command {
    let full = Cli::command();
    let shown: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut top = clap::Command::new("gameday")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .subcommands(shown);
    if let Some(about) = full.get_about() {
        top = top.about(about.clone());
    }
    if let Some(long) = full.get_long_about() {
        top = top.long_about(long.clone());
    }
    if let Some(after) = full.get_after_help() {
        top = top.after_help(after.clone());
    }
    top
}

/// Print the completion script of `shell` for `gameday`.
pub(super) fn completions(shell: clap_complete::Shell) -> CliResult {
    let mut command = visible();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "gameday", &mut out);
    out.flush()
        .map_err(|e| CliError::invalid(format!("cannot write the completions: {e}")))?;
    Ok(crate::exit::OK)
}

/// The manual pages: `gameday.1` and one `gameday-COMMAND.1` per visible
/// command, as (file name, roff text).
fn pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let command = visible();
    let mut pages = Vec::new();
    let mut top = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut top)?;
    pages.push(("gameday.1".to_string(), top));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("gameday-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        pages.push((format!("{name}.1"), page));
    }
    Ok(pages)
}

/// Print the manual page of `command` (`gameday.1` without one), or with
/// `out` write every page there.
pub(super) fn man(command: Option<&str>, out: Option<&Path>) -> CliResult {
    let failed = |e: std::io::Error| CliError::invalid(format!("cannot write the manual: {e}"));
    let pages = pages().map_err(failed)?;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(failed)?;
        for (name, text) in &pages {
            std::fs::write(dir.join(name), text).map_err(failed)?;
        }
        println!("{} manual pages written to {}", pages.len(), dir.display());
        return Ok(crate::exit::OK);
    }
    let wanted = command.map_or("gameday.1".to_string(), |c| format!("gameday-{c}.1"));
    match pages.iter().find(|(name, _)| *name == wanted) {
        Some((_, text)) => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text).map_err(failed)?;
            Ok(crate::exit::OK)
        }
        None => {
            let known: Vec<&str> = pages
                .iter()
                .filter_map(|(n, _)| n.strip_prefix("gameday-")?.strip_suffix(".1"))
                .collect();
            Err(CliError::invalid(format!(
                "no manual page for `{}`",
                command.unwrap_or_default()
            ))
            .hint(format!("one of: {}", known.join(", "))))
        }
    }
}
