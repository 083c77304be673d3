//! The gameday file: YAML text in, a validated [`model::Gameday`] out, or
//! every problem found, each located at file:line:col.

pub(crate) mod compose;
pub(crate) mod decode;
pub(crate) mod diag;
pub(crate) mod model;
pub(crate) mod units;
pub(crate) mod vars;
pub(crate) mod yaml;

use std::path::Path;

pub(crate) use diag::{Diagnostic, FileDiagnostics};
pub(crate) use model::Gameday;
pub(crate) use vars::Inputs;

/// Load and validate a gameday file: the environment and the variables
/// `inputs` give, then the process environment, for `${VAR}`.
pub(crate) fn load(path: &Path, inputs: &Inputs) -> Result<Gameday, FileDiagnostics> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| FileDiagnostics {
        file: display.clone(),
        source: String::new(),
        diagnostics: vec![Diagnostic::new(
            yaml::Pos::UNKNOWN,
            format!("cannot read the file: {e}"),
        )],
    })?;
    let env = |name: &str| std::env::var(name).ok();
    load_with(&display, &bytes, inputs, &env)
}

/// Validate gameday text already in memory (`file` only names it in
/// errors), with no `--env`, `--var` or `--env-file`.
pub(crate) fn load_bytes(
    file: &str,
    bytes: &[u8],
    env: decode::EnvLookup<'_>,
) -> Result<Gameday, FileDiagnostics> {
    load_with(file, bytes, &Inputs::default(), env)
}

/// Validate gameday text already in memory, with what the command line gave.
pub(crate) fn load_with(
    file: &str,
    bytes: &[u8],
    inputs: &Inputs,
    env: decode::EnvLookup<'_>,
) -> Result<Gameday, FileDiagnostics> {
    let fail = |source: String, diagnostics: Vec<Diagnostic>| FileDiagnostics {
        file: file.to_string(),
        source,
        diagnostics,
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err(fail(
                String::new(),
                vec![
                    Diagnostic::new(
                        yaml::Pos::UNKNOWN,
                        format!(
                            "this is not a text file (invalid UTF-8 at byte {})",
                            e.valid_up_to()
                        ),
                    )
                    .with_hint("a gameday file is YAML text; did you pass the wrong file?"),
                ],
            ));
        }
    };
    let mut root = yaml::parse(text).map_err(|e| {
        fail(
            text.to_string(),
            vec![
                Diagnostic::new(e.pos, format!("invalid YAML: {}", e.message))
                    .with_hint(syntax_hint(&e.message)),
            ],
        )
    })?;
    let applied = vars::apply(&mut root, inputs, env).map_err(|d| fail(text.to_string(), d))?;
    for s in applied.substitutions.iter().filter(|s| s.secret) {
        crate::redact::remember(&s.value);
    }
    let mut problems = applied.problems;
    problems.sort_by_key(|d| d.pos);
    match decode::decode(&root, env) {
        Ok(mut gameday) if problems.is_empty() => {
            gameday.environments = applied.declared;
            gameday.variables = applied.substitutions;
            Ok(gameday)
        }
        Ok(_) => Err(fail(text.to_string(), problems)),
        Err(mut d) => {
            vars::scrub(&mut d, &applied.substitutions);
            // What the decoder says of a string left as written is noise.
            d.retain(|d| !problems.iter().any(|p| p.pos == d.pos));
            problems.append(&mut d);
            problems.sort_by_key(|d| d.pos);
            Err(fail(text.to_string(), problems))
        }
    }
}

fn syntax_hint(message: &str) -> &'static str {
    if message.contains("flow mapping") || message.contains("flow sequence") {
        "inside `{ ... }` or `[ ... ]`, quote values that contain `{`, `}`, `[`, `]`, `,` or `: `, and close every bracket"
    } else if message.contains("alias") || message.contains("nests deeper") {
        "gameday files are small and flat; write the values out"
    } else {
        "check the indentation (spaces, not tabs) and the brackets around this spot"
    }
}
