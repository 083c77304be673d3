//! `gameday validate`, `schema`, `--help` and `--version` through the real
//! binary: every bad file gets a located, helpful error (snapshotted), every
//! example gameday is valid, and nothing ever panics or hangs.

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn gameday() -> Command {
    let mut cmd = Command::cargo_bin("gameday").expect("binary builds");
    cmd.env_remove("GAMEDAY_TEST_SURELY_UNSET");
    cmd.timeout(Duration::from_secs(20));
    cmd
}

#[test]
fn every_invalid_fixture_gets_a_located_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        let name = path.file_name().unwrap().to_str().unwrap();
        let start = Instant::now();
        let output = gameday()
            .current_dir(&dir)
            .args(["validate", name])
            .output()
            .unwrap();
        let elapsed = start.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name} panicked: {stderr}");
        // Every error names the file, and (except for unreadable files) a line and column.
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with(&format!("{name}:")), "{name}: {first}");
        if name != "not-text.yaml" {
            let mut parts = first.splitn(4, ':');
            let (_, line, col) = (parts.next(), parts.next(), parts.next());
            assert!(
                line.and_then(|l| l.parse::<u32>().ok())
                    .is_some_and(|l| l > 0),
                "{name}: no line in {first}"
            );
            assert!(
                col.and_then(|c| c.parse::<u32>().ok())
                    .is_some_and(|c| c > 0),
                "{name}: no column in {first}"
            );
        }
        assert!(elapsed < Duration::from_secs(5), "{name} took {elapsed:?}");
        insta::assert_snapshot!(stderr);
    });
}

#[test]
fn there_are_at_least_25_distinct_bad_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let count = std::fs::read_dir(dir).unwrap().count();
    assert!(count >= 25, "only {count} invalid fixtures");
}

#[test]
fn example_gamedays_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<_> = std::fs::read_dir(root.join("gamedays"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(files.len() >= 2, "need at least two example gamedays");
    for file in files {
        // The datastores gameday reads its password from the environment.
        let output = gameday()
            .current_dir(root)
            .env("PGPASSWORD", "example")
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));
    }
}

#[test]
fn validate_reports_every_file_and_fails_if_any_is_bad() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = gameday()
        .current_dir(root)
        .args([
            "validate",
            "gamedays/demo.yaml",
            "tests/fixtures/invalid/unknown-probe.yaml",
            "tests/fixtures/invalid/zero-duration.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("gamedays/demo.yaml: valid"));
    assert!(stderr.contains("unknown-probe.yaml:14:18: unknown probe `heath`"));
    assert!(stderr.contains("zero-duration.yaml:12:15:"));
    assert!(stderr.contains("2 of 3 files invalid"));
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let output = gameday()
        .args(["validate", "/nonexistent/gameday.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the file"));
}

#[test]
fn environment_variables_fill_urls() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env.yaml");
    std::fs::write(
        &file,
        "gameday: env\nscope: { compose_project: x }\nprobes:\n  p: { http: { url: \"http://127.0.0.1:${GD_TEST_PORT}/\" } }\nscenarios:\n  - { name: s, fault: { pause: { service: a } }, duration: 1s }\n",
    )
    .unwrap();
    let ok = gameday()
        .env("GD_TEST_PORT", "9999")
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = gameday()
        .env_remove("GD_TEST_PORT")
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("variable `GD_TEST_PORT` is not set"));
}

#[test]
fn schema_is_json_and_describes_the_file() {
    let output = gameday().arg("schema").output().unwrap();
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in ["gameday", "scope", "probes", "scenarios", "defaults"] {
        assert!(props.contains_key(key), "schema lacks `{key}`");
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        required.contains(&"gameday")
            && required.contains(&"scope")
            && required.contains(&"scenarios")
    );
    let scenario = &schema["$defs"]["Scenario"]["properties"];
    assert!(scenario.get("fault").is_some() && scenario.get("faults").is_some());
}

#[test]
fn help_texts() {
    for args in [
        vec!["--help"],
        vec!["validate", "--help"],
        vec!["plan", "--help"],
        vec!["schema", "--help"],
        vec!["run", "--help"],
        vec!["recover", "--help"],
        vec!["halt", "--help"],
        vec!["report", "--help"],
        vec!["history", "--help"],
        vec!["annotate", "--help"],
        vec!["init", "--help"],
        vec!["diff", "--help"],
        vec!["watch", "--help"],
        vec!["completions", "--help"],
        vec!["man", "--help"],
    ] {
        let output = gameday().args(&args).output().unwrap();
        assert!(output.status.success());
        let name = format!("help_{}", args.join("_").replace("--", ""));
        insta::assert_snapshot!(name, String::from_utf8_lossy(&output.stdout));
    }
}

#[test]
fn version_names_the_commit() {
    let output = gameday().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with(&format!("gameday {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("(commit "), "{text}");
}

#[test]
fn bad_usage_exits_2() {
    let output = gameday().arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}
