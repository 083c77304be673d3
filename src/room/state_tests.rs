//! The room's fold, entry by entry: what the page shows after each, and
//! the updates a viewer is sent.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::fault::RevertRecipe;
use crate::probe::ProbeSample;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(ms: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(ms)
}

fn started() -> JournalEntry {
    JournalEntry::RunStarted {
        run_id: "3f9c2a".into(),
        gameday: "Store drill".into(),
        scope: "demo".into(),
        file: "gamedays/drill.yaml".into(),
        at: t0(),
        engine: None,
        hosts: Default::default(),
        engine_ids: Default::default(),
        participants: vec!["Dana (coordinator)".into(), "Sam (observer)".into()],
        environment: Some("staging".into()),
        probes: vec!["health".into(), "load".into()],
    }
}

fn intent(id: &str, ms: i64) -> JournalEntry {
    JournalEntry::FaultIntent {
        fault_id: id.into(),
        scenario: "Store paused".into(),
        kind: "pause".into(),
        recipe: RevertRecipe::Unpause {
            container_id: "c1".into(),
            container_name: "store-1".into(),
        },
        at: at(ms),
        host: None,
        settle_ms: None,
        what: Some("pause store-1".into()),
    }
}

fn applied(id: &str, ms: i64) -> JournalEntry {
    JournalEntry::FaultApplied {
        fault_id: id.into(),
        requested_at: at(ms),
        confirmed_at: Some(at(ms + 20)),
        mechanism: Some("cgroup freezer".into()),
    }
}

fn reverted(id: &str, ms: i64) -> JournalEntry {
    JournalEntry::FaultReverted {
        fault_id: id.into(),
        by: "run".into(),
        requested_at: at(ms),
        confirmed_at: None,
    }
}

fn sample(probe: &str, t_ms: f64, ok: bool, latency_ms: f64) -> SampleRow {
    SampleRow {
        probe: probe.into(),
        sample: ProbeSample {
            t_ms,
            at: at(t_ms as i64),
            ok,
            latency_ms,
            status: Some(if ok { 200 } else { 503 }),
            ..Default::default()
        },
    }
}

fn types(updates: &[Update]) -> Vec<&'static str> {
    updates
        .iter()
        .map(|u| match u {
            Update::Run { .. } => "run",
            Update::Phase { .. } => "phase",
            Update::FaultOn { .. } => "fault_on",
            Update::FaultOff { .. } => "fault_off",
            Update::Probe { .. } => "probe",
            Update::Timeline { .. } => "timeline",
            Update::Observation { .. } => "observation",
            Update::End { .. } => "end",
        })
        .collect()
}

#[test]
fn the_run_its_people_and_its_probes_come_from_the_first_entry() {
    let mut state = RoomState::default();
    let updates = state.journal(&started());
    assert_eq!(types(&updates), ["run", "timeline"]);
    assert_eq!(state.run.gameday, "Store drill");
    assert_eq!(state.run.participants.len(), 2);
    assert_eq!(state.run.environment.as_deref(), Some("staging"));
    let names: Vec<&str> = state.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["health", "load"]);
    assert!(state.probes.iter().all(|p| p.ok.is_none()));
}

#[test]
fn a_fault_is_in_place_from_its_apply_until_its_revert() {
    let mut state = RoomState::default();
    state.journal(&started());
    let phase = state.journal(&JournalEntry::Phase {
        scenario: Some("Store paused".into()),
        phase: "fault".into(),
        at: at(1000),
        until: Some(at(3000)),
    });
    assert_eq!(types(&phase), ["phase", "timeline"]);
    assert_eq!(state.phase.as_ref().unwrap().until, Some(at(3000)));
    assert!(state.journal(&intent("f1", 1000)).is_empty());
    assert!(state.faults.is_empty(), "intended is not in place");
    let on = state.journal(&applied("f1", 1010));
    assert_eq!(types(&on), ["fault_on", "timeline"]);
    let fault = &state.faults[0];
    assert_eq!(
        (fault.what.as_str(), fault.mechanism.as_deref()),
        ("pause store-1", Some("cgroup freezer"))
    );
    assert_eq!(fault.since, at(1030));
    assert_eq!(state.timeline.back().unwrap().offset, "+1.0s");
    let off = state.journal(&reverted("f1", 3000));
    assert_eq!(types(&off), ["fault_off", "timeline"]);
    assert!(state.faults.is_empty());
    assert_eq!(
        state.timeline.back().unwrap().text,
        "reverted pause store-1 (by run)"
    );
    // A failed apply never shows as in place.
    state.journal(&intent("f2", 4000));
    let failed = state.journal(&JournalEntry::FaultApplyFailed {
        fault_id: "f2".into(),
        error: "no such container".into(),
    });
    assert_eq!(types(&failed), ["timeline"]);
    assert!(state.faults.is_empty());
}

#[test]
fn probes_keep_their_last_latencies_and_a_load_probe_its_rate_and_p99() {
    let mut state = RoomState::default();
    state.journal(&started());
    for i in 0..100 {
        state.sample(&sample(
            "health",
            f64::from(i) * 100.0,
            i < 90,
            f64::from(i),
        ));
    }
    let updates = state.probe_updates();
    assert_eq!(types(&updates), ["probe"], "one update per batch");
    assert!(state.probe_updates().is_empty());
    let health = &state.probes[0];
    assert_eq!(health.ok, Some(false));
    assert_eq!(health.brief, "503 99ms");
    assert_eq!(health.latencies.len(), SPARK_POINTS);
    assert_eq!(health.latencies.front(), Some(&40.0));
    assert_eq!(health.samples, 100);

    let mut tally = crate::probe::load::LoadTally {
        span_ms: 1000.0,
        due: 200,
        ok: 200,
        ..Default::default()
    };
    for _ in 0..200 {
        tally.latency.record_ms(12.0);
    }
    let mut row = sample("load", 1000.0, true, 12.0);
    row.sample.load = Some(Box::new(tally));
    state.sample(&row);
    let load = &state.probes[1];
    assert_eq!(load.rate, Some(200.0));
    assert!(
        load.p99_ms.is_some_and(|p| (11.0..13.0).contains(&p)),
        "{load:?}"
    );
    // A probe the first entry did not name is shown all the same.
    state.sample(&sample("other", 0.0, true, 1.0));
    assert_eq!(state.probes.len(), 3);
}

#[test]
fn observations_changes_and_halts_are_timeline_lines() {
    let mut state = RoomState::default();
    state.journal(&started());
    let seen = state.journal(&JournalEntry::Observation {
        scenario: Some("Store paused".into()),
        by: "Sam".into(),
        kind: ObservationKind::Detected,
        text: "alert fired".into(),
        at: at(1500),
    });
    assert_eq!(types(&seen), ["observation", "timeline"]);
    assert_eq!(state.observations[0].by, "Sam");
    assert_eq!(
        state.timeline.back().unwrap().text,
        "Sam (detected): alert fired"
    );
    state.journal(&JournalEntry::ProbeChanged {
        probe: "health".into(),
        ok: false,
        detail: "HTTP 503".into(),
        at: at(1600),
    });
    assert_eq!(
        state.timeline.back().unwrap().text,
        "health failing: HTTP 503"
    );
    state.journal(&JournalEntry::Halted {
        reason: "halted by Sam (from the live room)".into(),
        at: at(1700),
    });
    assert_eq!(state.timeline.back().unwrap().kind, LineKind::Halt);
}

#[test]
fn the_timeline_keeps_its_last_lines_and_counts_the_rest() {
    let mut state = RoomState::default();
    state.journal(&started());
    for i in 0..TIMELINE_LINES + 41 {
        state.journal(&JournalEntry::Halted {
            reason: format!("{i}"),
            at: at(i as i64),
        });
    }
    assert_eq!(state.timeline.len(), TIMELINE_LINES);
    assert_eq!(state.timeline_dropped, 42);
    assert_eq!(state.timeline.front().unwrap().text, "halted: 41");
}

#[test]
fn the_end_says_the_exit_then_the_verdicts_then_the_report() {
    let mut state = RoomState::default();
    state.journal(&started());
    assert!(!state.ended());
    let end = state.journal(&JournalEntry::RunFinished {
        exit_code: 1,
        at: at(9000),
    });
    assert_eq!(types(&end), ["timeline", "end"]);
    assert!(state.ended() && !state.has_result());
    let result: RunResult =
        serde_json::from_str(include_str!("../../tests/fixtures/trials-run/result.json")).unwrap();
    let updates = state.result(&result);
    assert_eq!(types(&updates), ["end"]);
    let end = state.end.clone().unwrap();
    assert_eq!(end.outcome.as_deref(), Some(result.outcome.key()));
    assert_eq!(end.verdicts.len(), result.scenarios.len());
    assert_eq!(end.verdicts[0].verdict, result.scenarios[0].verdict.key());
    assert_eq!(end.checklist.len(), result.checklist.len());
    state.report("/runs/x/report.md");
    assert_eq!(
        state.end.unwrap().report_path.as_deref(),
        Some("/runs/x/report.md")
    );
}

#[test]
fn the_snapshot_is_json_without_the_folds_own_bookkeeping() {
    let mut state = RoomState::default();
    state.journal(&started());
    state.journal(&intent("f1", 10));
    let json = serde_json::to_value(&state).unwrap();
    assert!(json.get("intents").is_none() && json.get("dirty").is_none());
    assert_eq!(json["run"]["gameday"], "Store drill");
    assert!(json["end"].is_null());
}
