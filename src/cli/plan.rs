//! `gameday plan FILE`: the dry run. Also the two steps `run` shares with
//! it: load the file, then discover and resolve (read only).

use std::path::Path;

use super::CliError;
use crate::docker::Engines;
use crate::exit;
use crate::gameday::{self, FileDiagnostics, Gameday};
use crate::plan::{self, DiscoverError, Inventory, Plan, Seed};

pub(super) async fn plan(
    file: std::path::PathBuf,
    seed: Option<u64>,
    env: &super::vars::EnvArgs,
) -> super::CliResult {
    let gameday = gameday::load(&file, &env.inputs()?)?;
    let (_, inventory) = discover(&gameday, &file).await?;
    let plan = resolve(gameday, inventory, &file, seed)?;
    print!(
        "{}",
        crate::redact::known(&plan.render(&file.display().to_string()))
    );
    Ok(exit::OK)
}

/// Connect to the gameday's engines and take stock (read only).
pub(super) async fn discover(
    gameday: &Gameday,
    file: &Path,
) -> Result<(Engines, Inventory), CliError> {
    plan::discover(gameday).await.map_err(|e| {
        let error = CliError::invalid(crate::error_chain(&e));
        match e {
            DiscoverError::Connect(_) => error.hint(
                "is the Docker daemon running? `docker info` should work; set DOCKER_HOST or `docker: { host: ... }` to use another engine",
            ),
            DiscoverError::Host { name, .. } => error.hint(format!(
                "check `hosts.{name}` in {}; nothing was changed",
                file.display()
            )),
            DiscoverError::List(_) => error,
        }
    })
}

/// Match the gameday against what exists, its picks made from `--seed`
/// (`flag`), else the file's `seed:`, else a seed drawn now; every target
/// that does not resolve is a located error.
pub(super) fn resolve(
    gameday: Gameday,
    inventory: Inventory,
    file: &Path,
    flag: Option<u64>,
) -> Result<Plan, CliError> {
    let seed = Seed::settle(flag, gameday.seed);
    plan::resolve(gameday, inventory, seed).map_err(|diagnostics| {
        CliError::diagnostics(FileDiagnostics {
            file: file.display().to_string(),
            source: std::fs::read_to_string(file).unwrap_or_default(),
            diagnostics,
        })
    })
}
