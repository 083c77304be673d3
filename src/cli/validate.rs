//! `gameday validate FILE...`: every problem of every file, each at its
//! line and column. Needs no Docker.

use std::path::PathBuf;

use super::CliResult;
use crate::exit;
use crate::gameday::{self, units::HumanDuration};

pub(super) fn validate(files: &[PathBuf], env: &super::vars::EnvArgs) -> CliResult {
    let inputs = env.inputs()?;
    let mut failed = 0;
    for file in files {
        match gameday::load(file, &inputs) {
            Ok(g) => {
                let (_, total) = crate::plan::schedule(&g);
                println!(
                    "{}: valid: \"{}\", {} scenario{}, {} probe{}, about {}",
                    file.display(),
                    g.gameday,
                    g.scenarios.len(),
                    if g.scenarios.len() == 1 { "" } else { "s" },
                    g.probes.0.len(),
                    if g.probes.0.len() == 1 { "" } else { "s" },
                    HumanDuration(total)
                );
            }
            Err(d) => {
                failed += 1;
                super::CliError::diagnostics(d).print();
            }
        }
    }
    if failed > 0 {
        if files.len() > 1 {
            eprintln!("{failed} of {} files invalid", files.len());
        }
        Ok(exit::INVALID)
    } else {
        Ok(exit::OK)
    }
}
