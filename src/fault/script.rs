//! The `script` fault: your own `apply` and `revert` commands (argv, never
//! a shell unless you name one), run inside the target container (an exec)
//! or on this host. The revert argv is in the recipe, journalled and
//! fsynced before `apply` runs, so the run, the watchdog and `recover` can
//! all run it. Both have a timeout; their exit code and the end of their
//! output are recorded (URLs redacted).

use std::time::Duration;

use crate::docker::Engine;

/// How much of a command's output is kept.
const OUTPUT_KEPT: usize = 400;

/// Where and how a script command runs.
#[derive(Debug, Clone)]
pub(crate) struct Command<'a> {
    pub argv: &'a [String],
    pub on_host: bool,
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub timeout: Duration,
}

/// What a command ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub exit_code: i64,
    /// The end of its output (stdout, then stderr), redacted.
    pub output: String,
}

impl Ended {
    /// `exit 0: <output>` for the record.
    pub(crate) fn summary(&self) -> String {
        if self.output.is_empty() {
            format!("exit {}", self.exit_code)
        } else {
            format!("exit {}: {}", self.exit_code, self.output)
        }
    }
}

/// Run it; an error when it could not be run or did not end in time.
pub(crate) async fn run(engine: &Engine, cmd: &Command<'_>) -> Result<Ended, String> {
    let program = cmd.argv.join(" ");
    let ran = if cmd.on_host {
        let child = tokio::process::Command::new(&cmd.argv[0])
            .args(&cmd.argv[1..])
            .env("GAMEDAY_CONTAINER_ID", cmd.container_id)
            .env("GAMEDAY_CONTAINER_NAME", cmd.container_name)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(cmd.timeout, child).await {
            Err(_) => return Err(timed_out(&program, cmd.timeout)),
            Ok(Err(e)) => return Err(format!("cannot run `{program}` on this host: {e}")),
            Ok(Ok(out)) => Ended {
                exit_code: out.status.code().map(i64::from).unwrap_or(-1),
                output: tail(&format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )),
            },
        }
    } else {
        match tokio::time::timeout(cmd.timeout, engine.exec(cmd.container_id, cmd.argv)).await {
            Err(_) => return Err(timed_out(&program, cmd.timeout)),
            Ok(Err(e)) => return Err(format!("cannot run `{program}` in the container: {e}")),
            Ok(Ok(out)) => Ended {
                exit_code: out.exit_code,
                output: tail(&out.output),
            },
        }
    };
    Ok(ran)
}

fn timed_out(program: &str, timeout: Duration) -> String {
    format!(
        "`{program}` did not end within {} (it was stopped)",
        crate::gameday::units::HumanDuration(timeout)
    )
}

/// The last [`OUTPUT_KEPT`] characters of `text`, on one line, redacted.
fn tail(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = one_line.chars().collect();
    let kept: String = if chars.len() > OUTPUT_KEPT {
        let start = chars.len() - OUTPUT_KEPT;
        format!("…{}", chars[start..].iter().collect::<String>())
    } else {
        one_line
    };
    crate::redact::text(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_kept_short_on_one_line_and_redacted() {
        assert_eq!(
            tail("dropped rule\n  on http://admin:pw@db:5432/x\n"),
            "dropped rule on http://***@db:5432/x"
        );
        let long = "x".repeat(1000);
        let kept = tail(&long);
        assert_eq!(kept.chars().count(), OUTPUT_KEPT + 1);
        assert!(kept.starts_with('…'));
        assert_eq!(
            Ended {
                exit_code: 0,
                output: String::new()
            }
            .summary(),
            "exit 0"
        );
    }
}
