//! The product's contract: verdicts, outcomes and exit codes from what
//! happened, with samples built in memory.

use chrono::TimeZone;

use super::*;
use crate::expect::CheckVerdict;
use crate::expect::Windows;
use crate::gameday::load_bytes;
use crate::gameday::model::{Check, Expectation, Unit};

const FILE: &str = r#"
gameday: Outcome
scope: { compose_project: demo }
probes:
  health: { http: { url: "http://127.0.0.1:1/health" } }
  login: { http: { url: "http://127.0.0.1:1/login" } }
scenarios:
  - name: First
    fault: { pause: { service: db } }
    duration: 10s
    expect:
      - { probe: health, during: fault, success_rate: ">= 99%" }
      - { probe: login, recovers_within: 2s }
  - name: Second
    fault: { kill: { service: db } }
    duration: 10s
    expect:
      - { probe: health, during: fault, latency_p99: "< 1s" }
"#;

fn plan() -> Plan {
    let env = |_: &str| None;
    let g = match load_bytes("outcome.yaml", FILE.as_bytes(), &env) {
        Ok(g) => g,
        Err(d) => panic!("{}", d.render()),
    };
    crate::plan::resolve_against(&g, &["db"])
}

/// The windows of scenario `i`: 10 s each after a 5 s baseline, a 5 s cooldown.
fn windows(i: usize) -> Windows {
    let start = 5_000.0 + i as f64 * 15_000.0;
    Windows {
        baseline: (0.0, 5_000.0),
        apply_start: start,
        fault_start: start + 100.0,
        revert_start: start + 10_100.0,
        end: start + 15_000.0,
        self_healing_from: None,
    }
}

fn ran(i: usize, status: ScenarioStatus) -> ScenarioRun {
    let w = windows(i);
    ScenarioRun {
        index: i,
        status,
        error: (status == ScenarioStatus::Error).then(|| "cannot pause".to_string()),
        faults: Vec::new(),
        windows: (status != ScenarioStatus::Skipped).then_some(w),
        started_ms: w.apply_start,
        ended_ms: w.end,
        trial: None,
        audits: Vec::new(),
    }
}

/// A probe sampled every 100 ms over the whole run, failing where `fails` says.
fn samples(probe: usize, fails: impl Fn(f64) -> bool) -> Vec<ProbeSample> {
    (0..350)
        .map(|n| {
            let t_ms = f64::from(n) * 100.0;
            let ok = !fails(t_ms);
            ProbeSample {
                probe,
                t_ms,
                ok,
                latency_ms: 3.0,
                status: Some(if ok { 200 } else { 503 }),
                ..ProbeSample::default()
            }
        })
        .collect()
}

/// Per probe, its samples, as rows of `samples.jsonl` (by probe).
fn rows(samples: Vec<Vec<ProbeSample>>) -> Samples {
    let names = ["health", "login"];
    Samples::memory(
        samples
            .into_iter()
            .enumerate()
            .flat_map(|(i, list)| {
                list.into_iter()
                    .map(move |sample| crate::record::SampleRow {
                        probe: names[i].to_string(),
                        sample,
                    })
            })
            .collect(),
    )
}

fn happened(runs: Vec<ScenarioRun>, samples: Vec<Vec<ProbeSample>>) -> Happened {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    Happened {
        run_id: "abc123".into(),
        file: "outcome.yaml".into(),
        started_at: at,
        ended_at: at + chrono::Duration::seconds(35),
        duration_ms: 35_000.0,
        steady: SteadyState {
            met: true,
            baseline_ms: 5_000.0,
            details: Vec::new(),
        },
        runs,
        aborted_reason: None,
        samples: rows(samples),
        timeline: Vec::new(),
        faults_left: Vec::new(),
        observations: Vec::new(),
    }
}

fn healthy() -> Vec<Vec<ProbeSample>> {
    vec![samples(0, |_| false), samples(1, |_| false)]
}

#[test]
fn a_flapping_probe_is_one_line_in_the_timeline() {
    // login alternates ok/failing every 200 ms through the first
    // scenario's fault: ~50 changes.
    let w = windows(0);
    let login = samples(1, |t| {
        t >= w.fault_start && t < w.revert_start && (t / 200.0).floor() as i64 % 2 == 0
    });
    let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
    let result = assemble(&plan(), happened(runs, vec![samples(0, |_| false), login]));
    let lines: Vec<&str> = result.scenarios[0]
        .timeline
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    let login_lines: Vec<&&str> = lines.iter().filter(|l| l.contains("login")).collect();
    // First failure, first recovery, the folded line, and the last change.
    assert_eq!(login_lines.len(), 4, "{lines:#?}");
    assert!(
        login_lines[0].starts_with("probe login: failing"),
        "{lines:#?}"
    );
    assert!(login_lines[1].starts_with("probe login: ok"), "{lines:#?}");
    assert!(
        login_lines[2].starts_with("probe login flapped ")
            && login_lines[2].contains("failed samples (most often: 503"),
        "{lines:#?}"
    );
}

#[test]
fn samples_known_out_of_start_order_are_judged_in_start_order() {
    // The file lists samples as their results were known. A slow run
    // of health started at the fault (failing after 900 ms) ends after
    // a quick failure started later: the first failure is the one
    // started first; the timeline says when each change was known.
    let w = windows(1);
    let mut health = samples(0, |_| false);
    let at = health.iter().position(|s| s.t_ms >= w.apply_start).unwrap();
    health[at].ok = false;
    health[at].latency_ms = 900.0;
    health[at].status = None;
    health[at].error = Some("connection reset".into());
    health[at + 1].ok = false;
    health[at + 1].status = Some(503);
    let quick = health[at + 1].clone();
    let slow = health.remove(at);
    let known_after = health
        .iter()
        .position(|s| s.end_ms() > slow.end_ms())
        .unwrap();
    health.insert(known_after, slow.clone());
    let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
    let mut plan = plan();
    let fails_within = Expectation {
        check: Check::FailsWithin(crate::gameday::units::HumanDuration::from_secs(1)),
        ..plan.gameday.scenarios[1].expect[0].clone()
    };
    plan.gameday.scenarios[1].expect.push(fails_within);
    let result = assemble(&plan, happened(runs, vec![health, samples(1, |_| false)]));
    let first_failure = &result.scenarios[1].expectations[1];
    assert_eq!(first_failure.value, Some(slow.end_ms() - w.apply_start));
    let failing: Vec<&TimelineEntry> = result.scenarios[1]
        .timeline
        .iter()
        .filter(|t| t.text.starts_with("probe health"))
        .collect();
    let told: Vec<(f64, &str)> = failing.iter().map(|t| (t.t_ms, t.text.as_str())).collect();
    assert_eq!(
        told,
        vec![
            (quick.end_ms(), "probe health: failing (503 3ms)"),
            (quick.end_ms() + 100.0, "probe health: ok (200 3ms)"),
            (slow.end_ms(), "probe health: failing (connection reset)"),
            (slow.end_ms() + 3.0, "probe health: ok (200 3ms)"),
        ]
    );
}

#[test]
fn every_expectation_met_is_exit_0() {
    let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
    let result = assemble(&plan(), happened(runs, healthy()));
    assert_eq!(result.outcome, RunOutcome::Met);
    assert_eq!(result.exit_code, 0);
    assert_eq!(result.summary.met, 2);
    assert!(
        result
            .scenarios
            .iter()
            .all(|s| s.verdict == ScenarioVerdict::Met)
    );
    let first = &result.scenarios[0].expectations[0];
    assert_eq!(first.check.as_deref(), Some("success_rate"));
    assert_eq!(first.unit, Some(Unit::Percent));
    assert_eq!(first.value, Some(100.0));
    let p99 = &result.scenarios[1].expectations[0];
    assert_eq!(
        (p99.check.as_deref(), p99.unit),
        (Some("latency_p99"), Some(Unit::Ms))
    );
    // Every sample is counted, per probe.
    assert_eq!(result.probes[0].samples, 350);
    assert_eq!(result.probes[1].samples, 350);
    assert_eq!(result.probes[0].samples, 350);
}

#[test]
fn a_check_not_met_is_exit_1_and_says_what_was_measured() {
    // health fails through the first scenario's fault window.
    let w = windows(0);
    let health = samples(0, |t| t >= w.fault_start && t < w.revert_start);
    let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
    let result = assemble(&plan(), happened(runs, vec![health, samples(1, |_| false)]));
    assert_eq!(result.outcome, RunOutcome::NotMet);
    assert_eq!(result.exit_code, 1);
    let first = &result.scenarios[0];
    assert_eq!(first.verdict, ScenarioVerdict::NotMet);
    assert_eq!(first.expectations[0].verdict, CheckVerdict::NotMet);
    assert_eq!(first.expectations[0].value, Some(0.0));
    assert!(
        first.expectations[0].actual.contains("0 of 100 samples ok"),
        "{}",
        first.expectations[0].actual
    );
    assert_eq!(result.scenarios[1].verdict, ScenarioVerdict::Met);
    assert_eq!((result.summary.met, result.summary.not_met), (1, 1));
}

#[test]
fn a_halt_aborts_the_run_and_skips_the_rest_exit_3() {
    let mut h = happened(
        std::iter::once(ran(0, ScenarioStatus::Aborted))
            .chain(ScenarioRun::skipped(1..2))
            .collect(),
        healthy(),
    );
    h.aborted_reason = Some("halt_if: probe `health` has been failing for 5s".into());
    let result = assemble(&plan(), h);
    assert_eq!(result.outcome, RunOutcome::Aborted);
    assert_eq!(result.exit_code, 3);
    // Its checks are still evaluated, for the record; the verdict is the abort.
    assert_eq!(result.scenarios[0].verdict, ScenarioVerdict::Aborted);
    assert_eq!(result.scenarios[0].expectations.len(), 2);
    assert_eq!(result.scenarios[1].verdict, ScenarioVerdict::Skipped);
    assert!(result.scenarios[1].expectations.is_empty());
    assert!(result.scenarios[1].timeline.is_empty());
    assert_eq!((result.summary.aborted, result.summary.skipped), (1, 1));
    assert!(
        result
            .aborted_reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("halt_if")
    );
}

#[test]
fn a_steady_state_not_met_skips_every_scenario_exit_3() {
    let mut h = happened(ScenarioRun::skipped(0..2), healthy());
    h.steady.met = false;
    h.aborted_reason = Some("the steady state was not met".into());
    let result = assemble(&plan(), h);
    assert_eq!((result.outcome, result.exit_code), (RunOutcome::Aborted, 3));
    assert_eq!(result.summary.skipped, 2);
    assert!(result.scenarios.iter().all(|s| s.expectations.is_empty()));
}

#[test]
fn a_fault_left_in_place_is_exit_4_whatever_the_verdicts() {
    let mut h = happened(
        vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)],
        healthy(),
    );
    h.faults_left.push(FaultLeft {
        kind: "pause".into(),
        container: "demo_db_1".into(),
        container_id: "db000000000001".into(),
        error: "engine gone".into(),
        by_hand: "docker unpause db000000000001".into(),
    });
    let result = assemble(&plan(), h.clone());
    assert_eq!(
        (result.outcome, result.exit_code),
        (RunOutcome::FaultLeft, 4)
    );
    assert_eq!(result.summary.met, 2, "the verdicts stand");
    // Even when the run was also aborted.
    h.aborted_reason = Some("signal".into());
    let result = assemble(&plan(), h);
    assert_eq!(result.exit_code, 4);
}

#[test]
fn a_fault_that_could_not_be_applied_is_an_error_not_a_verdict() {
    let runs = vec![ran(0, ScenarioStatus::Error), ran(1, ScenarioStatus::Ran)];
    let result = assemble(&plan(), happened(runs, healthy()));
    let first = &result.scenarios[0];
    assert_eq!(first.verdict, ScenarioVerdict::Error);
    assert!(first.expectations.is_empty(), "nothing to judge");
    assert_eq!(first.error.as_deref(), Some("cannot pause"));
    assert_eq!((result.outcome, result.exit_code), (RunOutcome::NotMet, 1));
}

#[test]
fn a_window_without_samples_is_not_met() {
    let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
    let result = assemble(&plan(), happened(runs, vec![Vec::new(), Vec::new()]));
    let e = &result.scenarios[0].expectations[0];
    assert_eq!(e.verdict, CheckVerdict::NotMet);
    assert!(
        e.actual.starts_with("no samples in the fault window"),
        "{}",
        e.actual
    );
    assert_eq!(result.exit_code, 1);
    assert!(
        result
            .probes
            .iter()
            .all(|p| p.samples == 0 && p.latency_p50_ms.is_none())
    );
}

#[test]
fn probe_state_changes_join_the_timeline_of_their_scenario() {
    let w = windows(0);
    let health = samples(0, |t| t >= w.fault_start && t < w.fault_start + 1_000.0);
    let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Ran)];
    let result = assemble(&plan(), happened(runs, vec![health, samples(1, |_| false)]));
    let lines: Vec<&str> = result.scenarios[0]
        .timeline
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("probe health: failing"), "{lines:?}");
    assert!(lines[1].starts_with("probe health: ok"), "{lines:?}");
    assert!(result.scenarios[1].timeline.is_empty());
}

/// Who noticed what, when: a user-facing probe, an alert probe, people.
mod detection {
    use super::*;
    use crate::record::detection::DetectionClass;
    use crate::record::result::ObservationKind;

    const FILE: &str = r#"
gameday: Detection
scope: { compose_project: demo }
probes:
  front: { http: { url: "http://127.0.0.1:1/" }, user_facing: true }
  pager: { alert: { url: "http://127.0.0.1:2", name: Down } }
scenarios:
  - name: Paged late
    fault: { pause: { service: db } }
    duration: 10s
    expect:
      - { detected_by: alert, within: 3s }
      - { detected_by: people, within: 5s }
  - name: Nobody paged
    fault: { pause: { service: db } }
    duration: 10s
    expect:
      - { detected_by: alert, within: 1m }
  - name: Noise
    fault: { pause: { service: db } }
    duration: 10s
"#;

    /// Every 100 ms over 50 s: `front` failing where `hurt` says, `pager`
    /// firing where `firing` says.
    fn rows(hurt: impl Fn(f64) -> bool, firing: impl Fn(f64) -> bool) -> Samples {
        let mut rows = Vec::new();
        for n in 0..500 {
            let t_ms = f64::from(n) * 100.0;
            let front = ProbeSample {
                probe: 0,
                t_ms,
                ok: !hurt(t_ms),
                latency_ms: 3.0,
                ..ProbeSample::default()
            };
            let pager = ProbeSample {
                probe: 1,
                t_ms,
                ok: true,
                latency_ms: 3.0,
                value: Some(if firing(t_ms) { 1.0 } else { 0.0 }),
                ..ProbeSample::default()
            };
            for (probe, sample) in [("front", front), ("pager", pager)] {
                rows.push(crate::record::SampleRow {
                    probe: probe.into(),
                    sample,
                });
            }
        }
        Samples::memory(rows)
    }

    fn said(h: &Happened, at_ms: i64, kind: ObservationKind) -> Observation {
        Observation {
            at: h.started_at + chrono::Duration::milliseconds(at_ms),
            offset: String::new(),
            scenario: None,
            by: "Sam".into(),
            kind,
            text: "seen".into(),
        }
    }

    #[test]
    fn each_scenario_says_who_noticed_what_when_and_the_run_its_coverage() {
        let g = load_bytes("detection.yaml", FILE.as_bytes(), &|_| None)
            .unwrap_or_else(|d| panic!("{}", d.render()));
        let plan = crate::plan::resolve_against(&g, &["db"]);
        // Scenario 1 (t0 5 s): users hurt from 5.2 s to 12 s, the alert
        // from 9 s; Sam noticed at 7 s and mitigated at 11 s. Scenario 2
        // (t0 20 s): hurt from 20.5 s, no alert. Scenario 3 (t0 35 s): the
        // alert fires at 36 s, users fine.
        let hurt = |t: f64| (5_200.0..12_000.0).contains(&t) || (20_500.0..25_000.0).contains(&t);
        let firing = |t: f64| (9_000.0..14_000.0).contains(&t) || (36_000.0..40_000.0).contains(&t);
        let runs = (0..3).map(|i| ran(i, ScenarioStatus::Ran)).collect();
        let mut h = happened(runs, Vec::new());
        h.samples = rows(hurt, firing);
        h.observations = vec![
            said(&h, 7_000, ObservationKind::Detected),
            said(&h, 11_000, ObservationKind::Mitigated),
            said(&h, 21_000, ObservationKind::Note),
        ];
        let result = assemble(&plan, h);
        let first = result.scenarios[0].detection.as_ref().unwrap();
        assert_eq!(first.class, DetectionClass::HurtAndPaged);
        assert_eq!(first.fault_at_ms, 5_000.0);
        let hurt_at = first.users_hurt.as_ref().unwrap();
        assert_eq!(
            (hurt_at.after_fault_ms, hurt_at.by.as_deref()),
            (203.0, Some("front"))
        );
        let alert = first.first_alert.as_ref().unwrap();
        assert_eq!(
            (alert.after_fault_ms, alert.after_hurt_ms),
            (4_003.0, Some(3_800.0))
        );
        let person = first.first_person.as_ref().unwrap();
        assert_eq!(
            (person.after_fault_ms, person.after_hurt_ms),
            (2_000.0, Some(1_797.0))
        );
        assert_eq!(first.mitigated.as_ref().unwrap().after_fault_ms, 6_000.0);
        assert_eq!(first.recovered.as_ref().unwrap().after_fault_ms, 7_003.0);
        assert_eq!(first.time_to_detect_ms, Some(2_000.0));
        assert!(first.people_noticed);
        let checks: Vec<(&str, &str)> = result.scenarios[0]
            .expectations
            .iter()
            .map(|e| (e.verdict.key(), e.actual.as_str()))
            .collect();
        assert_eq!(
            checks,
            [
                (
                    "not_met",
                    "first alert (pager) 4s after the fault; users hurt at 203ms"
                ),
                (
                    "met",
                    "first person noticing (Sam) 2s after the fault; users hurt at 203ms"
                ),
            ]
        );
        assert_eq!(result.scenarios[0].expectations[0].probe, "");
        assert_eq!(
            result.scenarios[0].expectations[0].text,
            "detected by an alert within 3s"
        );

        let second = result.scenarios[1].detection.as_ref().unwrap();
        assert_eq!(second.class, DetectionClass::HurtNotPaged);
        assert!(!second.people_noticed && second.time_to_detect_ms.is_none());
        assert!(
            result.scenarios[1].expectations[0].actual.starts_with(
                "no alert fired between the fault and the end of the cooldown; users hurt at 503ms"
            ),
            "{:?}",
            result.scenarios[1].expectations[0]
        );
        let third = result.scenarios[2].detection.as_ref().unwrap();
        assert_eq!(third.class, DetectionClass::PagedNotHurt);
        assert!(third.users_hurt.is_none() && third.recovered.is_none());

        let summary = result.detection.as_ref().unwrap();
        assert_eq!((summary.hurt, summary.paged, summary.noise), (2, 1, 1));
        assert_eq!(summary.alert_coverage, Some(0.5));
        assert_eq!(summary.median_time_to_detect_ms, Some(2_000.0));
    }

    #[test]
    fn a_scenario_that_did_not_run_has_no_detection() {
        let runs = vec![ran(0, ScenarioStatus::Ran), ran(1, ScenarioStatus::Error)];
        let mut h = happened(runs, healthy());
        h.runs[1].windows = None;
        let result = assemble(&plan(), h);
        let first = result.scenarios[0].detection.as_ref().unwrap();
        // The FILE's http probes reach no published port: nobody is hurt.
        assert_eq!(first.class, DetectionClass::NotHurt);
        assert!(result.scenarios[1].detection.is_none());
        let summary = result.detection.unwrap();
        assert_eq!((summary.scenarios, summary.alert_coverage), (1, None));
    }
}
