//! The one error type of the command line and the one place errors are
//! printed: `error: ...`, then `  = hint: ...` lines, or a gameday file's
//! located diagnostics. Each error carries its exit code (see [`crate::exit`]).

use std::io::Write as _;

use crate::exit;
use crate::gameday::FileDiagnostics;

#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
    hints: Vec<String>,
    diagnostics: Option<Box<FileDiagnostics>>,
}

impl CliError {
    /// Invalid input or usage (exit 2): nothing was changed.
    pub fn invalid(message: impl Into<String>) -> CliError {
        CliError {
            code: exit::INVALID,
            message: message.into(),
            hints: Vec::new(),
            diagnostics: None,
        }
    }

    /// Something may be left in place (exit 4).
    pub fn fault_left(message: impl Into<String>) -> CliError {
        CliError {
            code: exit::FAULT_LEFT,
            ..CliError::invalid(message)
        }
    }

    /// A gameday file with problems, each at its line and column (exit 2).
    pub fn diagnostics(diagnostics: FileDiagnostics) -> CliError {
        CliError {
            diagnostics: Some(Box::new(diagnostics)),
            ..CliError::invalid(String::new())
        }
    }

    /// Add a hint: what to do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    /// Lines printed before the hints (e.g. a list of what is left).
    pub fn detail(mut self, line: impl Into<String>) -> CliError {
        self.message.push('\n');
        self.message.push_str(&line.into());
        self
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// Print the error on standard error.
    pub fn print(&self) {
        let mut stderr = std::io::stderr().lock();
        let hide = |text: &str| crate::redact::known(text).into_owned();
        if let Some(d) = &self.diagnostics {
            let _ = stderr.write_all(hide(&d.render()).as_bytes());
        }
        if !self.message.is_empty() {
            let _ = writeln!(stderr, "error: {}", hide(&self.message));
        }
        for hint in &self.hints {
            let _ = writeln!(stderr, "  = hint: {}", hide(hint));
        }
    }
}

impl From<FileDiagnostics> for CliError {
    fn from(d: FileDiagnostics) -> CliError {
        CliError::diagnostics(d)
    }
}

/// What a command returns: its exit code, or an error to print.
pub type CliResult = Result<u8, CliError>;
