//! The shell and the manual: the completion scripts and man pages
//! `gameday` generates from its own command definitions, loaded by a real
//! bash and rendered by a real `man` with troff's warnings on.

use std::path::Path;
use std::process::Command;

use assert_cmd::Command as Gameday;

fn gameday(args: &[&str]) -> String {
    let output = Gameday::cargo_bin("gameday")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "gameday {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// What bash's completion offers for the words typed so far (the last one
/// being completed), with the script `gameday completions bash` printed.
fn bash_offers(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
         _gameday gameday '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let output = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut offered: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    offered.sort();
    offered
}

#[test]
fn bash_completes_commands_and_flags_and_never_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("gameday.bash");
    std::fs::write(&script, gameday(&["completions", "bash"])).unwrap();

    assert_eq!(
        bash_offers(&script, &["gameday", "r"]),
        ["recover", "report", "run"]
    );
    let everything = bash_offers(&script, &["gameday", ""]);
    for command in ["validate", "plan", "run", "halt", "completions", "man"] {
        assert!(everything.iter().any(|c| c == command), "{everything:?}");
    }
    for worker in ["watchdog", "stress", "http-proxy", "kill-marked"] {
        assert!(
            !everything.iter().any(|c| c == worker),
            "the hidden worker `{worker}` is offered: {everything:?}"
        );
    }
    let flags = bash_offers(&script, &["gameday", "run", "--s"]);
    assert!(flags.iter().any(|f| f == "--seed"), "{flags:?}");
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    for shell in ["zsh", "fish"] {
        let script = gameday(&["completions", shell]);
        for command in ["validate", "run", "recover", "halt"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
        assert!(!script.contains("kill-marked"), "{shell} offers a worker");
    }
}

#[test]
fn every_manual_page_renders_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    gameday(&["man", "--out", dir.path().to_str().unwrap()]);
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for page in [
        "gameday.1",
        "gameday-run.1",
        "gameday-recover.1",
        "gameday-man.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} missing: {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("watchdog")), "{names:?}");
    for page in &pages {
        let output = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .output()
            .expect("man runs (apt-get install man-db)");
        let warnings = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && warnings.trim().is_empty(),
            "{}: {warnings}",
            page.display()
        );
        // Bold is overstrike (`N\x08N`): read it as plain text.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&output.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{}: {text}",
            page.display()
        );
    }
    // One page alone, as `gameday man run | man -l -` reads it.
    let run = gameday(&["man", "run"]);
    assert!(run.contains(".TH gameday-run"), "{run}");
    let unknown = Gameday::cargo_bin("gameday")
        .unwrap()
        .args(["man", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("one of: validate, plan, run"));
}
