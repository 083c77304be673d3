//! Command probes: `exec` runs an argv inside a container through the
//! Docker API, `command` runs one on the runner's host. Both are ok when
//! the command exits 0, and record the exit code and the start of the
//! output. The probe's timeout bounds them: a command still running then
//! is killed, never left behind (on the host: its process group; in a
//! container of this host's engine: its process, found by the exec's pid;
//! on an engine elsewhere the API cannot kill it, and it ends by itself).

use std::process::Stdio;

use super::ProbeOutcome;
use crate::docker::{EXEC_OUTPUT_KEPT, Engine};

pub(super) async fn exec_once(engine: &Engine, id: &str, argv: &[String]) -> ProbeOutcome {
    match engine.exec(id, argv).await {
        Ok(done) => finished(done.exit_code, &done.output),
        Err(e) => ProbeOutcome::failed(format!("exec: {e}")),
    }
}

pub(super) async fn host_once(argv: &[String]) -> ProbeOutcome {
    let Some((program, args)) = argv.split_first() else {
        return ProbeOutcome::failed("empty command".into());
    };
    let child = match tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The probe's timeout drops this future: the process, and whatever
        // it started, must go with it. Its own process group lets the guard
        // below kill them all.
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return ProbeOutcome::failed(format!("cannot run `{program}`: {e}")),
    };
    let mut group = GroupKiller(child.id());
    let done = child.wait_with_output().await;
    group.0 = None;
    match done {
        Ok(done) => {
            let mut text = String::from_utf8_lossy(&done.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&done.stderr));
            // Killed by a signal: no code; report it as shells do, 128 + signal.
            let code = done.status.code().map(i64::from).unwrap_or_else(|| {
                128 + i64::from(
                    std::os::unix::process::ExitStatusExt::signal(&done.status).unwrap_or(0),
                )
            });
            finished(code, &text)
        }
        Err(e) => ProbeOutcome::failed(format!("waiting for `{program}`: {e}")),
    }
}

/// Kills a command's process group when dropped before the command ended
/// (the probe timed out or the run was cancelled).
struct GroupKiller(Option<u32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Ok when the command exited 0; the output is kept (trimmed, bounded) for
/// the report, and is the error text when it failed.
fn finished(code: i64, output: &str) -> ProbeOutcome {
    let output = bounded(output.trim());
    let error = (code != 0).then(|| match output.lines().next() {
        Some(first) if !first.is_empty() => format!("exit {code}: {first}"),
        _ => format!("exit {code}"),
    });
    ProbeOutcome {
        ok: code == 0,
        exit_code: Some(code),
        output: (!output.is_empty()).then_some(output),
        error,
        ..Default::default()
    }
}

/// At most [`EXEC_OUTPUT_KEPT`] bytes, cut at a character boundary.
pub(super) fn bounded(text: &str) -> String {
    if text.len() <= EXEC_OUTPUT_KEPT {
        return text.to_string();
    }
    let mut end = EXEC_OUTPUT_KEPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_command_records_its_exit_code_and_output() {
        let argv: Vec<String> = ["sh", "-c", "echo nope >&2; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let outcome = host_once(&argv).await;
        assert!(!outcome.ok);
        assert_eq!(outcome.exit_code, Some(3));
        assert_eq!(outcome.output.as_deref(), Some("nope"));
        assert_eq!(outcome.error.as_deref(), Some("exit 3: nope"));
        let ok = host_once(&["true".to_string()]).await;
        assert!(ok.ok && ok.exit_code == Some(0) && ok.error.is_none());
    }

    #[tokio::test]
    async fn a_missing_program_is_a_failed_sample_not_a_panic() {
        let outcome = host_once(&["/nonexistent/gameday-probe".to_string()]).await;
        assert!(!outcome.ok);
        assert!(outcome.error.unwrap().contains("cannot run"));
    }

    #[tokio::test]
    async fn a_timed_out_command_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-running");
        // A grandchild: only killing the whole process group stops it.
        let script = format!("(sleep 1; touch {}) & wait", marker.display());
        let argv: Vec<String> = vec!["sh".into(), "-c".into(), script];
        let timed = tokio::time::timeout(std::time::Duration::from_millis(100), host_once(&argv));
        assert!(timed.await.is_err());
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(!marker.exists(), "the command outlived its timeout");
    }

    #[test]
    fn output_is_bounded_at_a_character_boundary() {
        let long = "é".repeat(EXEC_OUTPUT_KEPT);
        let kept = bounded(&long);
        assert!(kept.len() <= EXEC_OUTPUT_KEPT + '…'.len_utf8());
        assert!(kept.ends_with('…'));
    }
}
