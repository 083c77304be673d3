//! `--env`, `--var` and `--env-file`: the environment and the variables
//! `validate`, `plan` and `run` apply to a gameday file
//! (`gameday::vars` puts them in).

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::gameday::{Inputs, vars};

/// The environment and variables for `${VAR}` in the file.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// The environment among the file's `environments:` (default `local`: the file's own
    /// `docker:` and `scope:`); it sets variables, the engine and the scope.
    #[arg(long = "env", value_name = "NAME")]
    pub env: Option<String>,
    /// A value for `${NAME}` in the file (repeatable); comes before --env-file, the
    /// environment's `variables:` and the process environment.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = vars::parse_var)]
    pub vars: Vec<(String, String)>,
    /// `NAME=VALUE` lines (`#` comments, optional `export ` and quotes) for `${NAME}`;
    /// after --var, before the environment's `variables:` and the process environment.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

impl EnvArgs {
    /// What these flags give, the env file read and checked.
    pub(super) fn inputs(&self) -> Result<Inputs, CliError> {
        let env_file = match &self.env_file {
            None => None,
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CliError::invalid(format!("cannot read the env file {shown}: {e}"))
                        .hint("--env-file names a file of `NAME=VALUE` lines")
                })?;
                let lines = vars::parse_env_file(&text).map_err(|(line, message)| {
                    CliError::invalid(format!("{shown}:{line}: {message}")).hint(
                        "write one `NAME=VALUE` per line (`# ...` for comments, quotes around a value with spaces)",
                    )
                })?;
                Some((shown, lines))
            }
        };
        Ok(Inputs {
            vars: self.vars.clone(),
            env_file,
            env: self.env.clone(),
        })
    }
}
