//! The Markdown report rendered from a fixed result (every time and
//! measurement pinned), snapshotted; user templates via `--template-dir`.

use chrono::{DateTime, Utc};
use gameday::expect::Windows;
use gameday::report::render_markdown;
use gameday::report::result::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn fixed_result() -> RunResult {
    let expectation = |text: &str, verdict: &str, actual: &str| ExpectationResult {
        text: text.into(),
        probe: text.split(':').next().unwrap().into(),
        verdict: verdict.into(),
        actual: actual.into(),
        value: None,
    };
    let timeline = |t_ms: f64, text: &str| TimelineEntry {
        t_ms,
        offset: format!("+{:.1}s", t_ms / 1000.0),
        text: text.into(),
    };
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: "3f9c2a".into(),
        gameday: GamedayInfo {
            title: "Login API resilience".into(),
            description: Some("Does login degrade gracefully?".into()),
            participants: vec!["Dana (coordinator)".into(), "Sam (observer)".into()],
            environment: "staging".into(),
            recording: Some("https://example.invalid/rec/1".into()),
            file: "gamedays/login.yaml".into(),
            scope: "login".into(),
        },
        docker: DockerInfo {
            host: "unix:///var/run/docker.sock".into(),
            version: "20.10.24 (API 1.41)".into(),
        },
        started_at: at("2026-11-23T10:00:00Z"),
        ended_at: at("2026-11-23T10:00:41.500Z"),
        duration_ms: 41_500.0,
        outcome: "not_met".into(),
        exit_code: 1,
        aborted_reason: None,
        steady_state: SteadyState {
            met: true,
            baseline_ms: 5000.0,
            details: vec![
                "health: all 25 samples ok".into(),
                "login: all 50 samples ok".into(),
            ],
        },
        scenarios: vec![
            ScenarioResult {
                name: "Database paused".into(),
                description: Some("The database freezes.".into()),
                expected: Some("Login fails fast with 503 and recovers within 10s.".into()),
                verdict: "not_met".into(),
                error: None,
                duration_ms: 25_000.0,
                expectations: vec![
                    expectation(
                        "health: success_rate >= 99% during fault",
                        "met",
                        "measured 100% (100 of 100 samples ok)",
                    ),
                    expectation(
                        "login: status 503 during fault",
                        "not_met",
                        "measured 503 ×180, no response ×20 (180 of 200 samples match)",
                    ),
                    expectation(
                        "login: recovers within 10s",
                        "met",
                        "recovered 1.20s after the revert",
                    ),
                ],
                faults: vec![FaultResult {
                    kind: "pause".into(),
                    target: "login_db_1".into(),
                    container_id: "0123456789ab".into(),
                    action: "pause login_db_1".into(),
                    applied_at: Some(at("2026-11-23T10:00:05.010Z")),
                    applied_confirmed_at: Some(at("2026-11-23T10:00:05.024Z")),
                    reverted_at: Some(at("2026-11-23T10:00:25.030Z")),
                    revert_confirmed_at: Some(at("2026-11-23T10:00:25.041Z")),
                    error: None,
                }],
                windows: Some(Windows {
                    baseline: (0.0, 5000.0),
                    apply_start: 5010.0,
                    fault_start: 5030.0,
                    revert_start: 25_030.0,
                    end: 30_100.0,
                }),
                timeline: vec![
                    timeline(
                        5010.0,
                        "applied: pause login_db_1, confirmed by Docker after 14ms",
                    ),
                    timeline(6020.0, "probe login: failing (timeout after 1s)"),
                    timeline(25_030.0, "reverted: unpause login_db_1"),
                    timeline(26_230.0, "probe login: ok (200 12ms)"),
                ],
            },
            ScenarioResult {
                name: "Database stopped".into(),
                description: None,
                expected: None,
                verdict: "skipped".into(),
                error: None,
                duration_ms: 0.0,
                expectations: vec![],
                faults: vec![],
                windows: None,
                timeline: vec![],
            },
        ],
        probes: vec![ProbeSummary {
            name: "login".into(),
            kind: "http".into(),
            every_ms: 100.0,
            samples: 400,
            ok: 200,
            failed: 200,
            latency_p50_ms: Some(12.0),
            latency_p99_ms: Some(1001.0),
        }],
        samples_file: "samples.jsonl".into(),
        faults_left: vec![],
        summary: Summary {
            scenarios: 2,
            met: 0,
            not_met: 1,
            aborted: 0,
            error: 0,
            skipped: 1,
        },
    }
}

#[test]
fn markdown_report_of_a_fixed_result() {
    let markdown = render_markdown(&fixed_result(), None).unwrap();
    insta::assert_snapshot!(markdown);
}

#[test]
fn markdown_report_names_faults_left_in_place() {
    let mut result = fixed_result();
    result.outcome = "fault_left".into();
    result.faults_left.push(FaultLeft {
        kind: "pause".into(),
        container: "login_db_1".into(),
        container_id: "0123456789ab".into(),
        error: "Docker refused".into(),
        by_hand: "docker unpause 0123456789ab".into(),
    });
    let markdown = render_markdown(&result, None).unwrap();
    assert!(markdown.contains("**A fault could not be reverted**"));
    assert!(markdown.contains("Run `docker unpause 0123456789ab`"));
}

#[test]
fn result_json_round_trips() {
    let result = fixed_result();
    let json = serde_json::to_string(&result).unwrap();
    let back: RunResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, result);
}

#[test]
fn a_template_dir_replaces_the_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("report.md.tera"),
        "{{ gameday.title }}: {% for s in scenarios %}{{ s.name }}={{ s.verdict }} {% endfor %}",
    )
    .unwrap();
    let text = render_markdown(&fixed_result(), Some(dir.path())).unwrap();
    assert_eq!(
        text,
        "Login API resilience: Database paused=not_met Database stopped=skipped "
    );
}

#[test]
fn a_broken_template_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("report.md.tera"),
        "{% for s in scenarios %}",
    )
    .unwrap();
    let err = render_markdown(&fixed_result(), Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("template error"), "{err}");
}
