//! Reports rendered from a fixed run (every time and measurement pinned):
//! Markdown, HTML and JUnit snapshotted; the HTML opened in headless
//! Chromium; the JUnit validated against the JUnit XML schema; escaping;
//! user templates; history over archived runs; annotations that never touch
//! the measured data; the size of a one-hour run.

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;
use chrono::{DateTime, Utc};
use gameday::testing::expect::Windows;
use gameday::testing::fault::RevertRecipe;
use gameday::testing::gameday::units::ContainerState;
use gameday::testing::probe::ProbeSample;
use gameday::testing::record::annotations::Annotations;
use gameday::testing::record::detection::*;
use gameday::testing::record::followup::{FollowUp, FollowUpState, TicketTarget};
use gameday::testing::record::journal::JournalEntry;
use gameday::testing::record::result::*;
use gameday::testing::record::versions::{VersionChange, VersionsServed};
use gameday::testing::record::{RunRecord, SampleRow, Samples};
use gameday::testing::report::{Format, render, render_markdown};

/// A verdict or an outcome as `result.json` writes it (`not_met`).
fn key<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(serde_json::Value::String(text.into())).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Who noticed the fixed run's database pause: login failing 1.01s after
/// it, the alert 12.4s after, Sam 8s after; mitigated at 15s, recovered
/// 21.22s after.
fn detection() -> ScenarioDetection {
    let moment = |t_ms: f64, by: &str| Moment {
        t_ms,
        after_fault_ms: t_ms - 5010.0,
        after_hurt_ms: Some(t_ms - 6020.0),
        by: Some(by.into()),
    };
    ScenarioDetection {
        fault_at_ms: 5010.0,
        users_hurt: Some(moment(6020.0, "login")),
        first_alert: Some(moment(17_410.0, "db-alert")),
        first_person: Some(moment(13_010.0, "Sam")),
        mitigated: Some(moment(20_010.0, "Dana")),
        recovered: Some(moment(26_230.0, "login")),
        class: DetectionClass::HurtAndPaged,
        people_noticed: true,
        time_to_detect_ms: Some(8000.0),
    }
}

fn fixed_result() -> RunResult {
    let expectation = |text: &str, verdict: &str, actual: &str| ExpectationResult {
        text: text.into(),
        probe: text.split(':').next().unwrap().into(),
        verdict: key(verdict),
        actual: actual.into(),
        value: None,
        check: None,
        unit: None,
        relative: None,
    };
    let timeline = |t_ms: f64, text: &str| TimelineEntry {
        t_ms,
        offset: format!("+{:.1}s", t_ms / 1000.0),
        text: text.into(),
    };
    let mut result = RunResult {
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
            connection: String::new(),
            hosts: Vec::new(),
        },
        started_at: at("2026-11-23T10:00:00Z"),
        ended_at: at("2026-11-23T10:00:41.500Z"),
        duration_ms: 41_500.0,
        outcome: key("not_met"),
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
                ledgers: Vec::new(),
                name: "Database paused".into(),
                description: Some("The database freezes.".into()),
                expected: Some("Login fails fast with 503 and recovers within 10s.".into()),
                verdict: key("not_met"),
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
                    mechanism: None,
                    detail: None,
                    applied_at: Some(at("2026-11-23T10:00:05.010Z")),
                    applied_confirmed_at: Some(at("2026-11-23T10:00:05.024Z")),
                    reverted_at: Some(at("2026-11-23T10:00:25.030Z")),
                    revert_confirmed_at: Some(at("2026-11-23T10:00:25.041Z")),
                    error: None,
                }],
                probe_effects: vec![ProbeEffect {
                    probe: "login".into(),
                    before_p50_ms: Some(12.0),
                    during_p50_ms: Some(1000.0),
                    after_p50_ms: Some(13.0),
                    before_success: Some(100.0),
                    during_success: Some(0.0),
                    after_success: Some(99.5),
                }],
                windows: Some(Windows {
                    baseline: (0.0, 5000.0),
                    apply_start: 5010.0,
                    fault_start: 5030.0,
                    revert_start: 25_030.0,
                    end: 30_100.0,
                    self_healing_from: None,
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
                checklist: vec![
                    "Health checks test dependencies".into(),
                    "Fails fast when a dependency hangs".into(),
                ],
                trials: None,
                detection: Some(detection()),
            },
            ScenarioResult {
                ledgers: Vec::new(),
                name: "Database stopped".into(),
                description: None,
                expected: None,
                verdict: key("skipped"),
                error: None,
                duration_ms: 0.0,
                expectations: vec![],
                faults: vec![],
                probe_effects: vec![],
                windows: None,
                timeline: vec![],
                checklist: vec!["Recovers after a dependency restarts".into()],
                trials: None,
                detection: None,
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
            load: None,
            versions: None,
        }],
        samples_file: "samples.jsonl".into(),
        faults_left: vec![],
        observations: Vec::new(),
        checklist: Vec::new(),
        seed: None,
        detection: DetectionSummary::of(&[detection()]),
        summary: Summary {
            scenarios: 2,
            met: 0,
            not_met: 1,
            aborted: 0,
            error: 0,
            skipped: 1,
        },
    };
    result.checklist = checklist_of(&result.scenarios);
    result
}

#[test]
fn markdown_report_of_a_fixed_result() {
    let markdown = render_markdown(&fixed_result(), None).unwrap();
    insta::assert_snapshot!(markdown);
}

#[test]
fn markdown_report_names_faults_left_in_place() {
    let mut result = fixed_result();
    result.outcome = key("fault_left");
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
fn a_flapping_probe_folds_into_one_line_of_the_event_timeline() {
    let mut record = fixed_record();
    let start = record.result.started_at;
    // login flaps every 100 ms for a minute: 600 changes in the journal.
    record.samples.in_memory().retain(|r| r.probe != "login");
    record
        .journal
        .retain(|e| !matches!(e, JournalEntry::ProbeChanged { probe, .. } if probe == "login"));
    for i in 0..600u32 {
        let t_ms = 5000.0 + f64::from(i) * 100.0;
        let at = start + chrono::Duration::milliseconds(t_ms as i64);
        let ok = i % 2 == 1;
        record.samples.in_memory().push(SampleRow {
            probe: "login".into(),
            sample: ProbeSample {
                probe: 1,
                t_ms,
                at,
                ok,
                latency_ms: if ok { 12.0 } else { 2000.0 },
                status: ok.then_some(200),
                error: (!ok).then(|| "timeout after 2s".to_string()),
                ..Default::default()
            },
        });
        record.journal.push(JournalEntry::ProbeChanged {
            at,
            probe: "login".into(),
            ok,
            detail: if ok {
                "200 12ms".into()
            } else {
                "timeout after 2s".into()
            },
        });
    }
    let md = render(&record, Format::Md, None).unwrap();
    let events = &md[md.find("## Timeline of every event").unwrap()..];
    let login: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("probe login"))
        .collect();
    // First failure, first recovery, one line for the 597 between, the last change.
    assert_eq!(login.len(), 4, "{login:#?}");
    assert!(
        login[2].contains(
            "probe login flapped 597 times between +5.2s and +64.8s: 299 failed samples (most often: timeout after 2s)"
        ),
        "{login:#?}"
    );
    assert!(md.len() < 20_000, "{} bytes", md.len());
    // The HTML's timeline folds the same way.
    let html = render(&record, Format::Html, None).unwrap();
    assert_eq!(html.matches("probe login flapped 597 times").count(), 1);
}

#[test]
fn the_reports_say_which_version_answered_from_when() {
    let mut record = fixed_record();
    let start = record.result.started_at;
    let change = |version: &str, t_ms: f64, again: bool| VersionChange {
        version: version.into(),
        t_ms,
        offset: format!("+{:.1}s", t_ms / 1000.0),
        at: start + chrono::Duration::milliseconds(t_ms as i64),
        again,
    };
    let probe = |name: &str, versions: VersionsServed| ProbeSummary {
        name: name.into(),
        kind: "http".into(),
        every_ms: 250.0,
        samples: 160,
        ok: 150,
        failed: 10,
        latency_p50_ms: Some(2.0),
        latency_p99_ms: Some(9.0),
        load: None,
        versions: Some(versions),
    };
    record.result.probes.push(probe(
        "api-version",
        VersionsServed {
            changes: vec![
                change("1", 3.0, false),
                change("2", 12_400.0, false),
                change("1", 36_050.0, true),
            ],
            unlisted: 0,
            last: None,
        },
    ));
    record.result.probes.push(probe(
        "canary",
        VersionsServed {
            changes: vec![change("blue", 1_000.0, false)],
            unlisted: 311,
            last: Some(change("green", 40_000.0, true)),
        },
    ));
    record
        .result
        .probes
        .push(probe("silent", VersionsServed::default()));

    let md = render(&record, Format::Md, None).unwrap();
    let section = &md[md.find("## Versions served").unwrap()..md.find("## Probes").unwrap()];
    let lines: Vec<&str> = section.lines().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(
        lines,
        [
            "- api-version: version 1 from +0.0s (10:00:00.003), version 2 from +12.4s (10:00:12.400), version 1 again from +36.0s (10:00:36.050)",
            "- canary: version blue from +1.0s (10:00:01.000); then 311 more changes (not listed), the last to version green at +40.0s",
            "- silent: no version read",
        ],
        "{section}"
    );
    // Each change is a line of the timeline of every event, in time order.
    let events = &md[md.find("## Timeline of every event").unwrap()..];
    let versions: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("` version: "))
        .collect();
    assert_eq!(
        versions,
        [
            "- `+0.0s` version: probe api-version: version 1 answers",
            "- `+1.0s` version: probe canary: version blue answers",
            "- `+12.4s` version: probe api-version: version 2 answers",
            "- `+36.0s` version: probe api-version: version 1 answers again",
            "- `+40.0s` version: probe canary: 311 more version changes (not listed), the last to version green",
        ]
    );
    let html = render(&record, Format::Html, None).unwrap();
    assert!(html.contains("<h2>Versions served</h2>"), "no section");
    assert!(html.contains("version <strong>2</strong> from +12.4s"));
    assert!(html.contains("version <strong>1</strong> again from +36.0s"));
    assert!(
        html.contains("<span class=\"kind\">version</span> probe api-version: version 2 answers")
    );
    // A run without a version probe has no such section.
    let plain = render(&fixed_record(), Format::Md, None).unwrap();
    assert!(!plain.contains("Versions served") && !plain.contains("` version: "));
}

#[test]
fn diff_says_what_changed_between_two_runs() {
    let out = tempfile::tempdir().unwrap();
    let a = fixed_record();
    let mut b = fixed_record();
    b.result.run_id = "4d5e6f".into();
    b.result.started_at += chrono::Duration::days(7);
    b.result.outcome = key("met");
    {
        let s = &mut b.result.scenarios[0];
        s.verdict = key("met");
        s.expectations[1].verdict = key("met");
        s.expectations[1].actual = "measured 503 ×200 (200 of 200 samples match)".into();
        s.expectations[2].value = Some(900.0);
        s.faults[0].mechanism = Some("cgroup freezer".into());
        // The alert paged sooner than Sam noticed: detected at 3.2s.
        let d = s.detection.as_mut().unwrap();
        d.time_to_detect_ms = Some(3_200.0);
    }
    {
        let s = &mut b.result.scenarios[1];
        s.verdict = key("met");
    }
    b.result.probes[0].failed = 20;
    b.result.probes[0].latency_p99_ms = Some(480.0);
    b.result.checklist = checklist_of(&b.result.scenarios);
    let (dir_a, dir_b) = (out.path().join("run-a"), out.path().join("run-b"));
    let mut a = a;
    a.result.scenarios[0].expectations[2].value = Some(1200.0);
    a.result.scenarios[0].expectations[2].unit = Some(key("ms"));
    b.result.scenarios[0].expectations[2].unit = Some(key("ms"));
    write_run_dir(&dir_a, &a);
    write_run_dir(&dir_b, &b);
    let (code, text, err) = gameday(
        &["diff", dir_a.to_str().unwrap(), dir_b.to_str().unwrap()],
        out.path(),
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("diff_text", text);
    let (code, json, err) = gameday(
        &[
            "diff",
            "--format",
            "json",
            dir_a.to_str().unwrap(),
            dir_b.to_str().unwrap(),
        ],
        out.path(),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let recovery = &v["scenarios"][0]["checks"][2];
    assert_eq!(recovery["delta"], -300.0);
    assert_eq!(recovery["changed"], false);
    assert_eq!(v["scenarios"][0]["checks"][1]["changed"], true);
    assert_eq!(v["scenarios"][1]["a"], "skipped");
    assert_eq!(v["scenarios"][1]["b"], "met");
    assert_eq!(v["probes"][0]["b"][1], 20);
    // A directory that is not a run is a clear error.
    let (code, _, err) = gameday(
        &[
            "diff",
            out.path().to_str().unwrap(),
            dir_b.to_str().unwrap(),
        ],
        out.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("result.json"), "{err}");
}

#[test]
fn the_checklist_in_result_json() {
    let v = serde_json::to_value(fixed_result()).unwrap();
    insta::assert_snapshot!(serde_json::to_string_pretty(&v["checklist"]).unwrap());
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

/// Deterministic samples for the fixed result: `login` (http) fails during
/// the fault window, `db-state` (container) is paused during it.
fn fixed_samples(result: &RunResult) -> Vec<SampleRow> {
    let start = result.started_at;
    let mut rows = Vec::new();
    for i in 0..300 {
        let t_ms = f64::from(i) * 100.0;
        let in_fault = (5030.0..25_030.0).contains(&t_ms);
        let at = start + chrono::Duration::milliseconds(t_ms as i64);
        rows.push(SampleRow {
            probe: "login".into(),
            sample: ProbeSample {
                probe: 0,
                t_ms,
                at,
                ok: !in_fault,
                latency_ms: if in_fault {
                    1000.0
                } else {
                    10.0 + f64::from(i % 7)
                },
                status: (!in_fault).then_some(200),
                state: None,
                error: in_fault.then(|| "timeout after 1s".to_string()),
                ..Default::default()
            },
        });
        if i % 5 == 0 {
            rows.push(SampleRow {
                probe: "db-state".into(),
                sample: ProbeSample {
                    probe: 1,
                    t_ms,
                    at,
                    ok: !in_fault,
                    latency_ms: 2.0,
                    status: None,
                    state: Some(if in_fault {
                        ContainerState::Paused
                    } else {
                        ContainerState::Running
                    }),
                    error: None,
                    ..Default::default()
                },
            });
        }
    }
    rows
}

fn fixed_journal(result: &RunResult) -> Vec<JournalEntry> {
    let at = |ms: i64| result.started_at + chrono::Duration::milliseconds(ms);
    vec![
        JournalEntry::RunStarted {
            run_id: result.run_id.clone(),
            gameday: result.gameday.title.clone(),
            scope: "login".into(),
            file: result.gameday.file.clone(),
            at: at(0),
            engine: None,
            hosts: Default::default(),
            engine_ids: Default::default(),
            participants: Vec::new(),
            environment: None,
            probes: Vec::new(),
        },
        JournalEntry::Phase {
            scenario: None,
            phase: "baseline 5s: checking the steady state".into(),
            at: at(0),
            until: None,
        },
        JournalEntry::FaultIntent {
            fault_id: "s1-f1-0123456789ab".into(),
            scenario: "Database paused".into(),
            kind: "pause".into(),
            recipe: RevertRecipe::Unpause {
                container_id: "0123456789ab".into(),
                container_name: "login_db_1".into(),
            },
            at: at(5005),
            host: None,
            settle_ms: None,
            what: None,
        },
        JournalEntry::FaultApplied {
            fault_id: "s1-f1-0123456789ab".into(),
            requested_at: at(5010),
            confirmed_at: Some(at(5024)),
            mechanism: None,
        },
        JournalEntry::ProbeChanged {
            probe: "login".into(),
            ok: false,
            detail: "timeout after 1s".into(),
            at: at(5100),
        },
        JournalEntry::FaultReverted {
            fault_id: "s1-f1-0123456789ab".into(),
            by: "run".into(),
            requested_at: at(25_030),
            confirmed_at: Some(at(25_041)),
        },
        JournalEntry::RunFinished {
            exit_code: 1,
            at: at(41_500),
        },
    ]
}

fn fixed_record() -> RunRecord {
    let mut result = fixed_result();
    result.probes.push(ProbeSummary {
        name: "db-state".into(),
        kind: "container".into(),
        every_ms: 500.0,
        samples: 60,
        ok: 40,
        failed: 20,
        latency_p50_ms: None,
        latency_p99_ms: None,
        load: None,
        versions: None,
    });
    let samples = Samples::memory(fixed_samples(&result));
    let journal = fixed_journal(&result);
    RunRecord {
        result,
        annotations: Annotations::default(),
        samples,
        journal,
        followups: Vec::new(),
    }
}

/// Write a record as `gameday run` leaves it.
fn write_run_dir(dir: &Path, record: &RunRecord) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("result.json"),
        serde_json::to_vec_pretty(&record.result).unwrap(),
    )
    .unwrap();
    let mut samples = String::new();
    let mut rows = record.samples.clone();
    for row in rows.in_memory().iter() {
        samples.push_str(&serde_json::to_string(row).unwrap());
        samples.push('\n');
    }
    std::fs::write(dir.join("samples.jsonl"), samples).unwrap();
    let journal: String = record
        .journal
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join("journal.jsonl"), journal).unwrap();
}

#[test]
fn html_report_of_a_fixed_run() {
    let html = render(&fixed_record(), Format::Html, None).unwrap();
    insta::assert_snapshot!(html);
}

#[test]
fn junit_report_of_a_fixed_run() {
    let xml = render(&fixed_record(), Format::Junit, None).unwrap();
    insta::assert_snapshot!(xml);
}

#[test]
fn markdown_report_of_a_fixed_run_with_annotations() {
    let mut record = fixed_record();
    record
        .annotations
        .upsert_ticket(
            "OPS-1",
            Some("Add a circuit breaker to login"),
            "open",
            Some(TicketTarget::resolve("Database paused/status 503", &record.result).unwrap()),
        )
        .unwrap();
    record.annotations.tickets[0].updated_at = record.result.ended_at;
    // As a later run that missed it again would show it.
    record.followups = vec![FollowUp {
        id: "OPS-1".into(),
        title: "Add a circuit breaker to login".into(),
        status: "open".into(),
        filed_in: "2026-11-20-login-api-1a2b3c".into(),
        filed_at: at("2026-11-20T09:00:00Z"),
        target: "Database paused / login: status 503 during fault".into(),
        state: FollowUpState::Regressed,
        badge: FollowUpState::Regressed.badge().into(),
        evidence: "not met: measured 503 ×180, no response ×20".into(),
        last_met_in: Some("2026-11-21-login-api-4d5e6f".into()),
    }];
    record
        .annotations
        .notes
        .push(gameday::testing::record::annotations::Note {
            text: "DB failover took longer than the dashboard showed".into(),
            at: record.result.ended_at,
        });
    insta::assert_snapshot!(render(&record, Format::Md, None).unwrap());
}

#[test]
fn html_is_self_contained() {
    let html = render(&fixed_record(), Format::Html, None).unwrap();
    for forbidden in [
        "<script",
        "<link",
        "@import",
        "url(",
        " src=",
        "href=\"http",
        "<img",
    ] {
        assert!(
            !html.contains(forbidden),
            "the report references something outside itself: {forbidden}"
        );
    }
}

#[test]
fn everything_the_user_wrote_is_escaped() {
    let mut record = fixed_record();
    let evil = "<script>alert(1)</script>";
    record.result.gameday.title = evil.into();
    record.result.scenarios[0].name = evil.into();
    record.result.scenarios[0].expected = Some(format!("{evil} & <b>bold</b>"));
    record.result.gameday.participants = vec![evil.into()];
    record.result.probes[0].name = evil.into();
    for row in record.samples.in_memory() {
        if row.probe == "login" {
            row.probe = evil.into();
        }
    }
    record
        .annotations
        .notes
        .push(gameday::testing::record::annotations::Note {
            text: evil.into(),
            at: record.result.ended_at,
        });
    let html = render(&record, Format::Html, None).unwrap();
    assert!(
        !html.contains("<script"),
        "unescaped script tag in the HTML"
    );
    assert!(!html.contains("<b>bold"), "unescaped markup in the HTML");
    assert!(
        html.matches("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;")
            .count()
            + html
                .matches("&lt;script&gt;alert(1)&lt;/script&gt;")
                .count()
            >= 4
    );
    let xml = render(&record, Format::Junit, None).unwrap();
    assert!(!xml.contains("<script>"));
}

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            StdCommand::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "headless Chromium is required in CI (apt-get install chromium)"
        );
        eprintln!("skipping: no chromium");
    }
    found
}

/// Chromium's flags: headless, every network name unresolvable.
const CHROMIUM_FLAGS: [&str; 5] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
];

/// The DOM of the page at `url` as headless Chromium built it, after
/// checking it logged nothing to the console.
fn chromium_dom(browser: &str, url: &str) -> String {
    let dump = StdCommand::new(browser)
        .args(CHROMIUM_FLAGS)
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(url)
        .output()
        .unwrap();
    assert!(dump.status.success());
    let log = String::from_utf8_lossy(&dump.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    String::from_utf8_lossy(&dump.stdout).into_owned()
}

/// Open the HTML report in headless Chromium, with every network name
/// unresolvable: it loads without console errors, every chart is there with
/// its series, and a screenshot is taken.
#[test]
fn html_report_loads_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let record = fixed_record();
    let html_path = dir.path().join("report.html");
    std::fs::write(&html_path, render(&record, Format::Html, None).unwrap()).unwrap();
    let url = format!("file://{}", html_path.display());
    let common = CHROMIUM_FLAGS;
    let dom = chromium_dom(browser, &url);
    // The fixed run: one scenario with windows, probes login (http) and db-state (container).
    assert_eq!(
        dom.matches("<svg class=\"chart latency\"").count(),
        1,
        "latency charts"
    );
    assert_eq!(
        dom.matches("<svg class=\"chart state\"").count(),
        1,
        "state strips"
    );
    assert_eq!(dom.matches("class=\"series ").count(), 3 + 1, "series");
    assert!(dom.contains("data-series-count=\"3\"") && dom.contains("data-series-count=\"1\""));
    assert!(
        dom.contains("<polyline points=\""),
        "the latency line was not drawn"
    );

    let shot = dir.path().join("report.png");
    let status = StdCommand::new(browser)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1000,2600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(status.status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot missing or blank ({} bytes)",
        png.len()
    );
    let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshot.png");
    let _ = std::fs::copy(&shot, keep);
}

/// Whether xmllint is here (it must be in CI).
fn xmllint() -> bool {
    let found = StdCommand::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "xmllint is required in CI (apt-get install libxml2-utils)"
        );
        eprintln!("skipping: no xmllint");
    }
    found
}

/// xmllint's verdict on `xml` against the JUnit schema: its errors, if any.
fn junit_schema_errors(xml: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit.xsd");
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, xml).unwrap();
    let out = StdCommand::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&path)
        .output()
        .unwrap();
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn junit_validates_against_the_junit_schema() {
    if !xmllint() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit.xsd");
    let mut record = fixed_record();
    let mut errored = record.result.scenarios[0].clone();
    errored.name = "Broken".into();
    errored.verdict = key("error");
    errored.error = Some("cannot pause".into());
    errored.expectations.clear();
    record.result.scenarios.push(errored);
    let path = dir.path().join("junit.xml");
    let xml = render(&record, Format::Junit, None).unwrap();
    std::fs::write(&path, &xml).unwrap();
    let out = StdCommand::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One failure (the not-met check), one error (the broken scenario), one skipped.
    assert!(
        xml.contains("failures=\"1\"")
            && xml.contains("errors=\"1\"")
            && xml.contains("skipped=\"1\""),
        "{xml}"
    );
    // And the schema does reject what is not JUnit.
    std::fs::write(
        &path,
        xml.replace("<testcase ", "<testkase ")
            .replace("</testcase>", "</testkase>"),
    )
    .unwrap();
    let bad = StdCommand::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&path)
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn a_one_hour_run_with_ten_probes_at_10hz_stays_under_2mb() {
    let record = gameday::testing::report::synthetic_record(10, 10, 3600);
    assert_eq!(
        record
            .result
            .probes
            .iter()
            .map(|p| p.samples)
            .sum::<usize>(),
        360_000
    );
    let html = render(&record, Format::Html, None).unwrap();
    assert!(html.len() < 2 * 1024 * 1024, "{} bytes", html.len());
    assert_eq!(html.matches("<svg class=\"chart latency\"").count(), 10);
}

#[test]
fn history_over_three_archived_runs() {
    let out = tempfile::tempdir().unwrap();
    let recoveries = [1200.0, 12_400.0, 900.0];
    for (i, recovery) in recoveries.iter().enumerate() {
        let mut record = fixed_record();
        let day = chrono::Duration::days(7 * i as i64);
        record.result.started_at += day;
        record.result.ended_at += day;
        record.result.run_id = format!("run00{i}");
        let check = &mut record.result.scenarios[0].expectations[2];
        check.value = Some(*recovery);
        check.verdict = key(if *recovery <= 10_000.0 {
            "met"
        } else {
            "not_met"
        });
        record.result.scenarios[0].verdict = key(if i == 1 { "not_met" } else { "met" });
        // The second run's alert did not fire: only Sam noticed, later.
        if i == 1 {
            let d = record.result.scenarios[0].detection.as_mut().unwrap();
            d.class = DetectionClass::HurtNotPaged;
            d.first_alert = None;
            d.time_to_detect_ms = Some(21_000.0);
        }
        record.result.checklist = checklist_of(&record.result.scenarios);
        write_run_dir(
            &out.path().join(format!(
                "2026-11-{:02}-login-api-resilience-run00{i}",
                23 + 7 * i as i32 - 14
            )),
            &record,
        );
    }
    std::fs::create_dir_all(out.path().join("not-a-run")).unwrap();
    let table = Command::cargo_bin("gameday")
        .unwrap()
        .args(["history", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(table.status.success());
    insta::assert_snapshot!("history_table", String::from_utf8_lossy(&table.stdout));
    let one = Command::cargo_bin("gameday")
        .unwrap()
        .args(["history", "--out"])
        .arg(out.path())
        .arg("Login API resilience")
        .output()
        .unwrap();
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    insta::assert_snapshot!("history_one_gameday", String::from_utf8_lossy(&one.stdout));
    let json = Command::cargo_bin("gameday")
        .unwrap()
        .args(["history", "--format", "json", "--out"])
        .arg(out.path())
        .arg("login.yaml")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["runs"], 3);
    let values: Vec<f64> = v["scenarios"][0]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["checks"][2]["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, recoveries);
    let unknown = Command::cargo_bin("gameday")
        .unwrap()
        .args(["history", "--out"])
        .arg(out.path())
        .arg("nope")
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("\"Login API resilience\" (gamedays/login.yaml)")
    );
}

/// `gameday` with these arguments: (exit code, stdout, stderr).
fn gameday(args: &[&str], out: &Path) -> (i32, String, String) {
    let o = Command::cargo_bin("gameday")
        .unwrap()
        .args(args)
        .env("GAMEDAY_OUT", out)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_linked_ticket_is_verified_by_later_runs_fixed_then_regressed() {
    let out = tempfile::tempdir().unwrap();
    // The same check across three runs a week apart: not met, met, not met.
    let met = [false, true, false];
    let mut dirs = Vec::new();
    for (i, met) in met.iter().enumerate() {
        let mut record = fixed_record();
        let day = chrono::Duration::days(7 * i as i64);
        record.result.started_at += day;
        record.result.ended_at += day;
        record.result.run_id = format!("tk{i}");
        let scenario = &mut record.result.scenarios[0];
        scenario.expectations[1].verdict = key(if *met { "met" } else { "not_met" });
        scenario.expectations[1].actual = format!("measured 503 in run {i}");
        scenario.verdict = key(if *met { "met" } else { "not_met" });
        record.result.checklist = checklist_of(&record.result.scenarios);
        let dir = out
            .path()
            .join(format!("2026-11-2{i}-login-api-resilience-tk{i}"));
        write_run_dir(&dir, &record);
        dirs.push(dir);
    }
    let dir = |i: usize| dirs[i].to_str().unwrap().to_string();
    // Linking needs a scenario and check of that run; a wrong one is a clear error.
    let refused = |target: &str| {
        let (code, _, err) = gameday(
            &[
                "annotate",
                &dir(0),
                "--ticket",
                "OPS-7",
                "--title",
                "Fail fast",
                "--for",
                target,
            ],
            out.path(),
        );
        assert_eq!(code, 2, "{err}");
        err
    };
    let err = refused("Database paused/no such check");
    assert!(
        err.contains("has no check matching `no such check`"),
        "{err}"
    );
    assert!(err.contains("\"login: status 503 during fault\""), "{err}");
    let err = refused("Database pausd");
    assert!(
        err.contains("this run has no scenario `Database pausd`"),
        "{err}"
    );
    let (code, stdout, err) = gameday(
        &[
            "annotate",
            &dir(0),
            "--ticket",
            "OPS-7",
            "--title",
            "Fail fast when the DB hangs",
            "--for",
            "Database paused/status 503",
        ],
        out.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("OPS-7 is for: Database paused / login: status 503 during fault"),
        "{stdout}"
    );
    let state_in = |i: usize| -> serde_json::Value {
        let (code, stdout, err) = gameday(&["report", &dir(i), "--format", "json"], out.path());
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["followups"].as_array().map(Vec::len), Some(1), "{v}");
        v["followups"][0].clone()
    };
    let first = state_in(0);
    assert_eq!(first["state"], "still_not_met");
    let second = state_in(1);
    assert_eq!(second["state"], "fixed");
    assert_eq!(second["evidence"], "met: measured 503 in run 1");
    let third = state_in(2);
    assert_eq!(third["state"], "regressed");
    assert_eq!(third["last_met_in"], "2026-11-21-login-api-resilience-tk1");
    assert_eq!(third["filed_in"], "2026-11-20-login-api-resilience-tk0");
    // The reports of the later runs say it in words.
    let (code, _, err) = gameday(&["report", &dir(2)], out.path());
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(dirs[2].join("report.md")).unwrap();
    assert!(
        md.contains("| **OPS-7** Fail fast when the DB hangs (open) | Database paused / login: status 503 during fault | 2026-11-20-login-api-resilience-tk0 | ⚠ regressed (met in 2026-11-21-login-api-resilience-tk1) | not met: measured 503 in run 2 |"),
        "{md}"
    );
    let junit = std::fs::read_to_string(dirs[2].join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<property name="followup.OPS-7" value="regressed: Database paused / login: status 503 during fault"/>"#),
        "{junit}"
    );
    // history follows the ticket and the checklist across the runs.
    let (code, table, err) = gameday(
        &[
            "history",
            "--out",
            out.path().to_str().unwrap(),
            "Login API resilience",
        ],
        out.path(),
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("history_with_a_linked_ticket", table);
}

#[test]
fn annotate_then_report_keeps_the_measured_data_byte_for_byte() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("run");
    write_run_dir(&dir, &fixed_record());
    let measured = ["result.json", "samples.jsonl", "journal.jsonl"];
    let before: Vec<Vec<u8>> = measured
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let annotate = |args: &[&str]| {
        let o = Command::cargo_bin("gameday")
            .unwrap()
            .arg("annotate")
            .arg(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    annotate(&[
        "--ticket",
        "OPS-7",
        "--title",
        "Login needs a timeout budget",
    ]);
    annotate(&["--note", "The DB dashboard lagged by 30s"]);
    annotate(&["--ticket", "OPS-7", "--status", "done"]);
    let report = Command::cargo_bin("gameday")
        .unwrap()
        .arg("report")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(report.status.success());
    let after: Vec<Vec<u8>> = measured
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    assert!(before == after, "annotating rewrote the measured data");
    let annotations: Annotations =
        serde_json::from_slice(&std::fs::read(dir.join("annotations.json")).unwrap()).unwrap();
    assert_eq!(annotations.tickets.len(), 1);
    assert_eq!(annotations.tickets[0].status, "done");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("- [x] **OPS-7** Login needs a timeout budget (done)"),
        "{md}"
    );
    assert!(md.contains("The DB dashboard lagged by 30s"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("OPS-7") && html.contains("The DB dashboard lagged by 30s"));
    // A new ticket needs a title.
    let o = Command::cargo_bin("gameday")
        .unwrap()
        .arg("annotate")
        .arg(&dir)
        .args(["--ticket", "OPS-8"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--title"));
}

#[test]
fn report_re_renders_with_a_user_template() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("run");
    write_run_dir(&dir, &fixed_record());
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("report.md.tera"),
        "# {{ gameday.title }}\n{{ summary.not_met }} not met\n",
    )
    .unwrap();
    let o = Command::cargo_bin("gameday")
        .unwrap()
        .arg("report")
        .arg(&dir)
        .args(["--format", "md", "--template-dir"])
        .arg(templates.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.join("report.md")).unwrap(),
        "# Login API resilience\n1 not met\n"
    );
    let json = Command::cargo_bin("gameday")
        .unwrap()
        .arg("report")
        .arg(&dir)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert!(v["annotations"]["tickets"].is_array());
    let missing = Command::cargo_bin("gameday")
        .unwrap()
        .args(["report", "/nonexistent/run"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn the_result_schema_is_printed_and_describes_result_json() {
    let o = Command::cargo_bin("gameday")
        .unwrap()
        .args(["schema", "--result"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "schema_version",
        "run_id",
        "gameday",
        "scenarios",
        "faults_left",
        "probes",
    ] {
        assert!(props.contains_key(key), "result schema lacks {key}");
    }
    // Every key of a real result.json is described.
    let result = serde_json::to_value(fixed_result()).unwrap();
    for key in result.as_object().unwrap().keys() {
        assert!(
            props.contains_key(key),
            "result.json has `{key}`, the schema does not"
        );
    }
}

/// `gameday report --index` over an archive of six runs of two gamedays,
/// one damaged directory and one run that never finished: every run is
/// listed and linked, the problems are named, the page is self-contained,
/// and in headless Chromium the filters (from the URL) show the right rows.
#[test]
fn the_archive_index_lists_links_and_filters_every_run() {
    let out = tempfile::tempdir().unwrap();
    let checkout = "Checkout & <b>pay</b>";
    for i in 0..6 {
        let mut record = fixed_record();
        let day = chrono::Duration::days(i as i64);
        record.result.started_at += day;
        record.result.ended_at += day;
        record.result.run_id = format!("ix{i}");
        if i >= 4 {
            record.result.gameday.title = checkout.into();
        }
        let met = i % 2 == 1;
        record.result.outcome = key(if met { "met" } else { "not_met" });
        record.result.scenarios[0].verdict = key(if met { "met" } else { "not_met" });
        record.result.scenarios[0].expectations[0].value = Some(100.0 * f64::from(i + 1));
        write_run_dir(
            &out.path().join(format!("2026-11-0{}-run-ix{i}", i + 1)),
            &record,
        );
    }
    // One run's reports rendered: the index links to its report.html.
    let rendered = out.path().join("2026-11-01-run-ix0");
    let (code, _, err) = gameday(&["report", rendered.to_str().unwrap()], out.path());
    assert_eq!(code, 0, "{err}");
    let damaged = out.path().join("2026-11-09-damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::write(damaged.join("result.json"), "{\"schema_version\": 1,").unwrap();
    let partial = out.path().join("2026-11-10-unfinished");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("journal.jsonl"), "").unwrap();

    let archive = out.path().to_str().unwrap();
    let (code, stdout, err) = gameday(&["report", "--index", "--out", archive], out.path());
    assert_eq!(code, 0, "{err}");
    let index = out.path().join("index.html");
    assert_eq!(stdout.trim(), index.display().to_string());
    assert!(err.contains("2026-11-09-damaged"), "{err}");
    assert!(
        err.contains("2026-11-10-unfinished") && err.contains("did not finish"),
        "{err}"
    );
    let html = std::fs::read_to_string(&index).unwrap();
    assert_eq!(html.matches("<tr data-gameday=").count(), 6);
    assert!(html.contains("did not finish") && html.contains("2026-11-09-damaged"));
    // Self-contained and escaped.
    assert!(!html.contains("<b>pay</b>"));
    assert!(html.contains("Checkout &amp; &lt;b&gt;pay&lt;/b&gt;"));
    assert!(!html.contains(" src=") && !html.contains("<link"));
    let external = html
        .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
        .matches("http")
        .count();
    assert_eq!(external, 0, "an external reference");
    // Every link resolves to a file of the archive.
    let links: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(links.len(), 6);
    assert!(
        links.contains(&"./2026-11-01-run-ix0/report.html"),
        "{links:?}"
    );
    for link in &links {
        assert!(out.path().join(link).is_file(), "{link} does not resolve");
    }
    // Trends: a verdict cell per run per scenario, a line per measured value.
    assert_eq!(html.matches("<section class=\"gameday\"").count(), 2);
    assert!(html.contains("<polyline points="));

    let Some(browser) = chromium() else { return };
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ];
    let dom = |fragment: &str| {
        let o = StdCommand::new(browser)
            .args(common)
            .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
            .arg(format!("file://{}#{fragment}", index.display()))
            .output()
            .unwrap();
        assert!(o.status.success());
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "console messages: {console:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = |dom: &str| {
        let at = dom.find("data-shown=\"").expect("the filter ran") + 12;
        dom[at..at + dom[at..].find('"').unwrap()]
            .parse::<usize>()
            .unwrap()
    };
    assert_eq!(shown(&dom("")), 6);
    let not_met = dom("outcome=not_met");
    assert_eq!(shown(&not_met), 3);
    assert!(not_met.contains("showing 3 of 6 runs"));
    let fragment = "gameday=Checkout%20%26%20%3Cb%3Epay%3C%2Fb%3E&outcome=met";
    let one = dom(fragment);
    assert_eq!(shown(&one), 1);
    // The other gameday's trends are hidden too.
    assert_eq!(
        one.matches("<section class=\"gameday\" data-gameday=")
            .count(),
        2
    );
    assert_eq!(
        one.matches("class=\"gameday\" data-gameday=\"Login")
            .count(),
        1
    );
    assert!(one.contains("hidden=\"\""));

    let shot = out.path().join("index.png");
    let status = StdCommand::new(browser)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", index.display()))
        .output()
        .unwrap();
    assert!(status.status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot missing or blank ({} bytes)",
        png.len()
    );
    let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/index-screenshot.png");
    let _ = std::fs::copy(&shot, keep);
}

/// A real run with trials (`tests/fixtures/trials-run`, from `gameday run`
/// against a demo stack): a breaking-point search of the store's delay
/// (holds at 900ms, breaks at 1000ms, six trials) and a pause repeated
/// three times, two of which must pass (none did).
fn trials_record() -> RunRecord {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trials-run");
    let result: RunResult =
        serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    let samples: Vec<SampleRow> = std::fs::read_to_string(dir.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let journal = gameday::testing::record::journal::read(&dir.join("journal.jsonl")).unwrap();
    RunRecord {
        result,
        annotations: Annotations::default(),
        samples: Samples::memory(samples),
        journal,
        followups: Vec::new(),
    }
}

#[test]
fn markdown_report_of_a_run_with_trials() {
    let markdown = render(&trials_record(), Format::Md, None).unwrap();
    assert!(markdown.contains("**Breaking point of x: holds at 900ms, breaks at 1000ms**"));
    assert!(markdown.contains("**Met in 0 of 3 trials (pass needs 2)**"));
    insta::assert_snapshot!(markdown);
    // A check met in some trials and not others is said to be flaky.
    let later = trials_record_a_week_later();
    let markdown = render(&later, Format::Md, None).unwrap();
    assert!(
        markdown.contains("| login: success_rate < 50% during fault | **flaky: met in 2 of 3** |"),
        "{markdown}"
    );
    let html = render(&later, Format::Html, None).unwrap();
    assert!(html.contains("<tr class=\"flaky\"><td>login: success_rate &lt; 50% during fault</td><td>flaky: met in 2 of 3</td>"));
}

#[test]
fn junit_report_of_a_run_with_trials() {
    let xml = render(&trials_record(), Format::Junit, None).unwrap();
    // One test case per scenario run as trials, whatever its checks.
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    insta::assert_snapshot!(xml);
    if xmllint() {
        assert_eq!(junit_schema_errors(&xml), None);
    }
}

#[test]
fn html_report_of_a_run_with_trials_has_its_tables_and_search_chart() {
    let html = render(&trials_record(), Format::Html, None).unwrap();
    assert_eq!(html.matches("<svg class=\"chart search\"").count(), 1);
    assert_eq!(html.matches("class=\"point held\"").count(), 3);
    assert_eq!(html.matches("class=\"point broke\"").count(), 3);
    assert_eq!(html.matches("<table class=\"trials ").count(), 3);
    assert!(html.contains("Breaking point of x: holds at 900ms, breaks at 1000ms"));
    for forbidden in ["<script", "<link", "url(", " src=", "href=\"http"] {
        assert!(!html.contains(forbidden), "{forbidden}");
    }
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    std::fs::write(&path, &html).unwrap();
    let dom = chromium_dom(browser, &format!("file://{}", path.display()));
    assert_eq!(dom.matches("<svg class=\"chart search\"").count(), 1);
    assert_eq!(dom.matches("class=\"series bracket\"").count(), 1);
    assert_eq!(dom.matches("class=\"series threshold\"").count(), 1);
    assert_eq!(dom.matches("class=\"point ").count(), 6);
}

/// The trials sample again a week later, its breaking point lower (holds
/// at 700ms, breaks at 800ms) and two of its three pauses met.
fn trials_record_a_week_later() -> RunRecord {
    let mut b = trials_record();
    b.result.run_id = "a1b2c3".into();
    b.result.started_at += chrono::Duration::days(7);
    b.result.ended_at += chrono::Duration::days(7);
    let search = &mut b.result.scenarios[0];
    search.expectations[0].value = Some(800.0);
    search.expectations[0].actual = "holds at 700ms, breaks at 800ms".into();
    let repeat = &mut b.result.scenarios[1];
    let findings = repeat
        .trials
        .as_mut()
        .and_then(|t| t.repeat.as_mut())
        .unwrap();
    findings.met = 2;
    findings.checks[0].met = 2;
    repeat.verdict = key("met");
    repeat.expectations[0].verdict = key("met");
    b.result.outcome = key("met");
    repeat.expectations[0].actual = "flaky: met in 2 of 3 trials (95% interval 21%-94%)".into();
    b
}

#[test]
fn diff_and_history_say_where_a_breaking_point_moved() {
    let out = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (out.path().join("run-a"), out.path().join("run-b"));
    write_run_dir(&dir_a, &trials_record());
    write_run_dir(&dir_b, &trials_record_a_week_later());
    let (code, text, err) = gameday(
        &["diff", dir_a.to_str().unwrap(), dir_b.to_str().unwrap()],
        out.path(),
    );
    assert_eq!(code, 0, "{err}");
    let point = text
        .lines()
        .find(|l| l.contains("breaking point of x"))
        .unwrap();
    assert!(
        point.starts_with("  *  breaking point of x: until login: success_rate < 50% during fault")
            && point.ends_with("1000ms ✓  ->  800ms ✓  (lower: breaks sooner)"),
        "{text}"
    );
    assert!(
        text.contains("  trials met: 0/3 (pass 2) -> 2/3 (pass 2)"),
        "{text}"
    );
    assert!(text.contains("met 0/3 ✗  ->  met flaky 2/3 ✓"), "{text}");
    let (code, json, err) = gameday(
        &[
            "diff",
            "--format",
            "json",
            dir_a.to_str().unwrap(),
            dir_b.to_str().unwrap(),
        ],
        out.path(),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let check = &v["scenarios"][0]["checks"][0];
    assert_eq!(
        (&check["moved"], &check["delta"]),
        (&"lower".into(), &(-200.0).into())
    );
    assert_eq!(v["scenarios"][1]["repeat"][1]["met"], 2);

    let archive = out.path().to_str().unwrap();
    let (code, text, err) = gameday(&["history", "--out", archive, "Search try"], out.path());
    assert_eq!(code, 0, "{err}");
    // Columns padded to their widths: compare the words.
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("during fault 1000ms ✓ 800ms ✓ (lower: breaks sooner)"),
        "{text}"
    );
    assert!(
        words.contains("trials met 0/3 (pass 2) 2/3 (pass 2)"),
        "{text}"
    );
    assert!(
        words.contains("during fault met 0/3 ✗ met flaky 2/3 ✓"),
        "{text}"
    );
}
