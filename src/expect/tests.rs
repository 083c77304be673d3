use super::*;
use crate::gameday::model::{Check, CheckKind, DetectedBy, Detector, ExitCodes, ProbeType};
use crate::gameday::units::{
    ByteSize, CmpOp, Comparison, ContainerState, CpuPercent, HealthState, HumanDuration, Number,
    Percent, RequestRate, StatusSpec, Threshold,
};
use crate::gameday::yaml::Pos;
use crate::probe::load::{Done, Ending, LoadTally};
use proptest::prelude::*;

fn sample(t_ms: f64, ok: bool, latency_ms: f64, status: Option<u16>) -> ProbeSample {
    ProbeSample {
        probe: 0,
        t_ms,
        at: chrono::DateTime::UNIX_EPOCH,
        ok,
        latency_ms,
        status,
        error: (!ok).then(|| "failed".to_string()),
        ..Default::default()
    }
}

fn windows() -> Windows {
    Windows {
        baseline: (0.0, 1000.0),
        apply_start: 1000.0,
        fault_start: 1100.0,
        revert_start: 3000.0,
        end: 5000.0,
        self_healing_from: None,
    }
}

fn expect(during: Window, check: Check) -> Expectation {
    Expectation {
        probe: check
            .kind()
            .takes_probe()
            .then(|| crate::gameday::model::ProbeRef {
                id: crate::gameday::model::ProbeId(0),
                name: "p".into(),
            }),
        during,
        check,
        pos: Pos::default(),
    }
}

#[test]
fn self_healing_recovery_counts_from_the_fault_not_the_revert() {
    // Killed at 1100 (nothing to revert), failing from 1200, back at 1600.
    let samples = vec![
        sample(1000.0, true, 5.0, Some(200)),
        sample(1100.0, true, 5.0, Some(200)), // in flight at the kill
        sample(1200.0, false, 5.0, None),
        sample(1400.0, false, 5.0, None),
        sample(1600.0, true, 10.0, Some(200)),
        sample(3100.0, true, 5.0, Some(200)),
    ];
    let mut w = windows();
    w.self_healing_from = Some(1100.0);
    let check = expect(
        Window::After,
        Check::RecoversWithin(HumanDuration::from_millis(600)),
    );
    let e = evaluate(&check, &samples, &w);
    assert_eq!(e.verdict, CheckVerdict::Met, "{e:?}");
    assert_eq!(e.value, Some(510.0));
    assert!(
        e.actual
            .starts_with("recovered on its own 510ms after the fault"),
        "{e:?}"
    );
    // The same samples measured from the revert (the usual case) see
    // only the success after 3000.
    let e = evaluate(&check, &samples, &windows());
    assert!(e.actual.starts_with("was already succeeding"), "{e:?}");
}

#[test]
fn success_rate_counts_only_the_window() {
    let samples = vec![
        sample(500.0, false, 1.0, None), // baseline
        sample(1200.0, true, 1.0, Some(200)),
        sample(1300.0, false, 1.0, Some(503)),
        sample(3500.0, false, 1.0, None), // after
    ];
    let e = expect(
        Window::Fault,
        Check::SuccessRate(Threshold::Absolute(Comparison {
            op: CmpOp::Ge,
            value: Percent(50.0),
        })),
    );
    let r = evaluate(&e, &samples, &windows());
    assert_eq!(r.verdict, CheckVerdict::Met);
    assert_eq!(r.actual, "measured 50% (1 of 2 samples ok)");
}

#[test]
fn status_needs_every_sample() {
    let samples = vec![
        sample(1200.0, false, 1.0, Some(503)),
        sample(1300.0, false, 1.0, None),
    ];
    let e = expect(Window::Fault, Check::Status(StatusSpec::Code(503)));
    let r = evaluate(&e, &samples, &windows());
    assert_eq!(r.verdict, CheckVerdict::NotMet);
    assert_eq!(
        r.actual,
        "measured 503 ×1, no response ×1 (1 of 2 samples match)"
    );
}

#[test]
fn latency_percentiles() {
    let samples: Vec<_> = (0..100)
        .map(|i| sample(1200.0 + i as f64, true, i as f64 + 1.0, Some(200)))
        .collect();
    let p99 = expect(
        Window::Fault,
        Check::LatencyP99(Threshold::Absolute(Comparison {
            op: CmpOp::Lt,
            value: HumanDuration::from_millis(100),
        })),
    );
    let r = evaluate(&p99, &samples, &windows());
    assert_eq!(r.actual, "measured p99 99ms over 100 samples");
    assert_eq!(r.verdict, CheckVerdict::Met);
    let max = expect(
        Window::Fault,
        Check::LatencyMax(Threshold::Absolute(Comparison {
            op: CmpOp::Lt,
            value: HumanDuration::from_millis(100),
        })),
    );
    assert_eq!(
        evaluate(&max, &samples, &windows()).verdict,
        CheckVerdict::NotMet
    );
}

#[test]
fn recovery_is_measured_from_the_revert() {
    let samples = vec![
        sample(3100.0, false, 10.0, None),
        sample(3900.0, true, 100.0, Some(200)),
    ];
    let e = expect(
        Window::After,
        Check::RecoversWithin(HumanDuration::from_secs(1)),
    );
    let r = evaluate(&e, &samples, &windows());
    assert_eq!(r.actual, "recovered 1s after the revert");
    assert_eq!(r.verdict, CheckVerdict::Met);
    let strict = expect(
        Window::After,
        Check::RecoversWithin(HumanDuration::from_millis(500)),
    );
    assert_eq!(
        evaluate(&strict, &samples, &windows()).verdict,
        CheckVerdict::NotMet
    );
    let never = vec![sample(3100.0, false, 10.0, None)];
    assert_eq!(
        evaluate(&e, &never, &windows()).verdict,
        CheckVerdict::NotMet
    );
}

#[test]
fn fails_within_is_measured_from_the_apply() {
    let samples = vec![
        sample(1050.0, true, 5.0, Some(200)),
        sample(1400.0, false, 100.0, None),
    ];
    let e = expect(
        Window::Fault,
        Check::FailsWithin(HumanDuration::from_secs(1)),
    );
    let r = evaluate(&e, &samples, &windows());
    assert_eq!(r.actual, "first failure 500ms after the fault was applied");
    assert_eq!(r.verdict, CheckVerdict::Met);
}

#[test]
fn state_tallies_what_was_seen() {
    let mut a = sample(1200.0, false, 1.0, None);
    a.state = Some(ContainerState::Paused);
    let mut b = sample(1300.0, true, 1.0, None);
    b.state = Some(ContainerState::Running);
    let e = expect(Window::Fault, Check::State(ContainerState::Paused));
    let r = evaluate(&e, &[a, b], &windows());
    assert_eq!(r.verdict, CheckVerdict::NotMet);
    assert_eq!(
        r.actual,
        "measured paused ×1, running ×1 (1 of 2 samples match)"
    );
}

#[test]
fn empty_windows_are_not_met() {
    let e = expect(
        Window::Fault,
        Check::SuccessRate(Threshold::Absolute(Comparison {
            op: CmpOp::Ge,
            value: Percent(0.0),
        })),
    );
    let r = evaluate(&e, &[], &windows());
    assert_eq!(r.verdict, CheckVerdict::NotMet);
    assert!(r.actual.starts_with("no samples"));
}

#[test]
fn container_readings_health_restarts_oom_cpu_and_memory() {
    let reading = |t: f64, restarts: u64, cpu: Option<f64>, mib: u64, health: HealthState| {
        let mut s = sample(t, true, 2.0, None);
        s.state = Some(ContainerState::Running);
        s.health = Some(health);
        s.restarts = Some(restarts);
        s.oom_killed = Some(false);
        s.cpu_pct = cpu;
        s.memory_bytes = Some(mib << 20);
        s
    };
    let samples = vec![
        reading(500.0, 0, None, 10, HealthState::Healthy), // baseline
        reading(1200.0, 0, None, 20, HealthState::Healthy),
        reading(1400.0, 0, Some(80.0), 120, HealthState::Healthy),
        reading(1600.0, 1, Some(160.0), 40, HealthState::Starting),
        reading(1800.0, 1, Some(60.0), 30, HealthState::Healthy),
    ];
    let run = |check: Check| evaluate(&expect(Window::Fault, check), &samples, &windows());
    let restarts = run(Check::Restarts(Comparison {
        op: CmpOp::Le,
        value: Number(0.0),
    }));
    assert_eq!(restarts.verdict, CheckVerdict::NotMet);
    assert_eq!(
        restarts.actual,
        "restarted 1 time (restart count 0 to 1 over 4 samples)"
    );
    let cpu = run(Check::Cpu(Threshold::Absolute(Comparison {
        op: CmpOp::Ge,
        value: CpuPercent(90.0),
    })));
    assert_eq!(cpu.verdict, CheckVerdict::Met, "{cpu:?}");
    assert_eq!(
        cpu.actual,
        "measured a mean of 100% of a core (from 60% to 160%) over 3 samples"
    );
    let memory = run(Check::Memory(Threshold::Absolute(Comparison {
        op: CmpOp::Lt,
        value: ByteSize(100.0 * 1024.0 * 1024.0),
    })));
    assert_eq!(memory.verdict, CheckVerdict::NotMet);
    assert_eq!(
        memory.actual,
        "measured a peak of 120MiB (low 20MiB) over 4 samples"
    );
    let health = run(Check::Health(HealthState::Healthy));
    assert_eq!(health.verdict, CheckVerdict::NotMet);
    assert_eq!(
        health.actual,
        "measured healthy ×3, starting ×1 (3 of 4 samples match)"
    );
    let no_oom = run(Check::OomKilled(false));
    assert_eq!(no_oom.verdict, CheckVerdict::Met);
    assert_eq!(no_oom.actual, "no OOM kill seen over 4 samples");
    let mut killed = samples.clone();
    killed[3].oom_killed = Some(true);
    let oom = evaluate(
        &expect(Window::Fault, Check::OomKilled(true)),
        &killed,
        &windows(),
    );
    assert_eq!(oom.verdict, CheckVerdict::Met);
    assert_eq!(oom.actual, "the OOM killer struck: seen by 1 of 4 samples");
    // A container replaced by a new one counts from 0 again: only rises count.
    let mut replaced = samples.clone();
    replaced[0].restarts = Some(2);
    replaced[1].restarts = Some(2);
    replaced[2].restarts = Some(0);
    replaced[3].restarts = Some(1);
    let r = evaluate(
        &expect(
            Window::Fault,
            Check::Restarts(Comparison {
                op: CmpOp::Eq,
                value: Number(1.0),
            }),
        ),
        &replaced,
        &windows(),
    );
    assert_eq!(r.verdict, CheckVerdict::Met, "{r:?}");
    // A restart just as the window opens counts from the reading before it.
    let mut early = samples.clone();
    early[1].restarts = Some(1);
    let r = evaluate(
        &expect(
            Window::Fault,
            Check::Restarts(Comparison {
                op: CmpOp::Ge,
                value: Number(1.0),
            }),
        ),
        &early,
        &windows(),
    );
    assert_eq!(r.verdict, CheckVerdict::Met, "{r:?}");
    assert!(r.actual.contains("restart count 0 to 1"), "{r:?}");
}

#[test]
fn a_sketch_is_exact_while_small_and_within_one_percent_after() {
    let mut small = Sketch::default();
    (1..=100).for_each(|v| small.push(f64::from(v)));
    assert_eq!(small.percentile(50.0), Some(50.0));
    assert_eq!(small.percentile(99.0), Some(99.0));
    let mut large = Sketch::default();
    let values: Vec<f64> = (0..100_000)
        .map(|i| 0.5 + f64::from(i % 5000) * 0.37)
        .collect();
    values.iter().for_each(|v| large.push(*v));
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    for p in [1.0, 50.0, 95.0, 99.0, 100.0] {
        let exact = percentile(&sorted, p).unwrap();
        let estimate = large.percentile(p).unwrap();
        assert!(
            (estimate - exact).abs() <= exact * 0.0101,
            "p{p}: {estimate} against {exact}"
        );
    }
    // Memory: one counter per 1% bucket, not one per value.
    assert!(large.buckets.len() < 1000, "{}", large.buckets.len());
    assert!(large.exact.is_empty());
}

/// A sample of every reading at `t_ms`: a container probe's, an exec's, a
/// metric's and an HTTP probe's fields all set.
fn full(t_ms: f64, ok: bool) -> ProbeSample {
    let mut s = sample(t_ms, ok, if ok { 20.0 } else { 900.0 }, None);
    s.status = Some(if ok { 200 } else { 503 });
    s.state = Some(if ok {
        ContainerState::Running
    } else {
        ContainerState::Paused
    });
    s.exit_code = Some(if ok { 0 } else { 1 });
    s.value = Some(if ok { 0.0 } else { 1.0 });
    s.health = Some(if ok {
        HealthState::Healthy
    } else {
        HealthState::Unhealthy
    });
    s.restarts = Some(u64::from(!ok));
    s.oom_killed = Some(!ok);
    s.cpu_pct = Some(if ok { 10.0 } else { 150.0 });
    s.memory_bytes = Some(if ok { 10 << 20 } else { 200 << 20 });
    s
}

fn cmp<T>(op: CmpOp, value: T) -> Comparison<T> {
    Comparison { op, value }
}

/// One row per kind of check: the check, the window it looks at, and
/// whether it is met over [`table_samples`] (a probe that is healthy in
/// the baseline, fails through the fault window and recovers after the
/// revert). The match is exhaustive: a new check kind needs its row.
fn row(kind: CheckKind) -> (Window, Check, CheckVerdict) {
    let ms = HumanDuration::from_millis;
    match kind {
        CheckKind::SuccessRate => (
            Window::Fault,
            Check::SuccessRate(cmp(CmpOp::Ge, Percent(50.0)).into()),
            CheckVerdict::NotMet,
        ),
        CheckKind::Status => (
            Window::Fault,
            Check::Status(StatusSpec::Code(503)),
            CheckVerdict::Met,
        ),
        CheckKind::LatencyP50 => (
            Window::Fault,
            Check::LatencyP50(cmp(CmpOp::Lt, ms(100)).into()),
            CheckVerdict::NotMet,
        ),
        CheckKind::LatencyP95 => (
            Window::After,
            Check::LatencyP95(cmp(CmpOp::Lt, ms(100)).into()),
            CheckVerdict::Met,
        ),
        CheckKind::LatencyP99 => (
            Window::Before,
            Check::LatencyP99(cmp(CmpOp::Lt, ms(100)).into()),
            CheckVerdict::Met,
        ),
        CheckKind::LatencyMax => (
            Window::Fault,
            Check::LatencyMax(cmp(CmpOp::Ge, ms(900)).into()),
            CheckVerdict::Met,
        ),
        CheckKind::LatencyP999 => (
            Window::Fault,
            Check::LatencyP999(cmp(CmpOp::Lt, ms(1000)).into()),
            CheckVerdict::Met,
        ),
        CheckKind::Throughput => (
            Window::Fault,
            Check::Throughput(cmp(CmpOp::Ge, RequestRate(1.0)).into()),
            CheckVerdict::NotMet,
        ),
        CheckKind::RecoversWithin => (
            Window::After,
            Check::RecoversWithin(ms(500)),
            CheckVerdict::Met,
        ),
        CheckKind::FailsWithin => (
            Window::Fault,
            Check::FailsWithin(ms(100)),
            CheckVerdict::NotMet,
        ),
        CheckKind::State => (
            Window::Before,
            Check::State(ContainerState::Running),
            CheckVerdict::Met,
        ),
        CheckKind::ExitCode => (
            Window::Fault,
            Check::ExitCode(ExitCodes(vec![0])),
            CheckVerdict::NotMet,
        ),
        CheckKind::Matches => (
            Window::Fault,
            Check::Matches(cmp(CmpOp::Gt, Number(0.0))),
            CheckVerdict::Met,
        ),
        CheckKind::Value => (
            Window::Before,
            Check::Value(cmp(CmpOp::Eq, Number(0.0))),
            CheckVerdict::Met,
        ),
        CheckKind::FiresWithin => (
            Window::Fault,
            Check::FiresWithin(ms(2000)),
            CheckVerdict::Met,
        ),
        CheckKind::Health => (
            Window::Fault,
            Check::Health(HealthState::Healthy),
            CheckVerdict::NotMet,
        ),
        CheckKind::Restarts => (
            Window::Fault,
            Check::Restarts(cmp(CmpOp::Eq, Number(1.0))),
            CheckVerdict::Met,
        ),
        CheckKind::OomKilled => (Window::After, Check::OomKilled(false), CheckVerdict::NotMet),
        CheckKind::Cpu => (
            Window::Fault,
            Check::Cpu(cmp(CmpOp::Ge, CpuPercent(100.0)).into()),
            CheckVerdict::Met,
        ),
        CheckKind::Memory => (
            Window::Before,
            Check::Memory(cmp(CmpOp::Lt, ByteSize(64.0 * 1024.0 * 1024.0)).into()),
            CheckVerdict::Met,
        ),
        // Judged on [`table_audit`], what the ledger read back.
        CheckKind::Lost => (
            Window::After,
            Check::Lost(cmp(CmpOp::Le, Number(0.0))),
            CheckVerdict::NotMet,
        ),
        CheckKind::Duplicated => (
            Window::After,
            Check::Duplicated(cmp(CmpOp::Le, Number(0.0))),
            CheckVerdict::Met,
        ),
        CheckKind::Rpo => (
            Window::After,
            Check::Rpo(cmp(CmpOp::Lt, ms(1000))),
            CheckVerdict::Met,
        ),
        // Judged on [`table_noticed`], the scenario's detection.
        CheckKind::DetectedBy => (
            Window::Fault,
            Check::DetectedBy(DetectedBy {
                by: Detector::Alert,
                within: ms(1000),
            }),
            CheckVerdict::NotMet,
        ),
    }
}

/// Who noticed the table's fault: users hurt 100 ms after it was
/// applied, an alert 1.5 s after, Sam 900 ms after.
fn table_noticed() -> Noticed {
    Noticed {
        hurt_ms: Some(100.0),
        alert_ms: Some(1500.0),
        alert_by: Some("pager".into()),
        person_ms: Some(900.0),
        person_by: Some("Sam".into()),
    }
}

#[test]
fn detected_by_says_who_noticed_first_and_when_users_were_hurt() {
    let judge = |by, within, noticed: &Noticed| {
        let mut acc = Accumulator::new(
            &expect(
                Window::Fault,
                Check::DetectedBy(DetectedBy {
                    by,
                    within: HumanDuration::from_millis(within),
                }),
            ),
            &windows(),
        );
        acc.noticed(noticed);
        acc.finish()
    };
    let alert = judge(Detector::Alert, 2000, &table_noticed());
    assert_eq!(alert.verdict, CheckVerdict::Met);
    assert_eq!(alert.value, Some(1500.0));
    assert_eq!(
        alert.actual,
        "first alert (pager) 1.5s after the fault; users hurt at 100ms"
    );
    let people = judge(Detector::People, 500, &table_noticed());
    assert_eq!(people.verdict, CheckVerdict::NotMet);
    assert_eq!(
        people.actual,
        "first person noticing (Sam) 900ms after the fault; users hurt at 100ms"
    );
    let silent = Noticed {
        hurt_ms: Some(3100.0),
        ..Noticed::default()
    };
    let none = judge(Detector::Alert, 60_000, &silent);
    assert_eq!(none.verdict, CheckVerdict::NotMet);
    assert_eq!(
        none.actual,
        "no alert fired between the fault and the end of the cooldown; users hurt at 3.1s"
    );
}

/// What a ledger read back after the table's fault: 2 of 100
/// acknowledged writes lost, over 120 ms, none twice.
fn table_audit() -> crate::probe::ledger::LedgerAudit {
    crate::probe::ledger::LedgerAudit {
        probe: "p".into(),
        written: 100,
        acknowledged: 100,
        lost: 2,
        lost_seqs: vec![[40, 41]],
        rpo_ms: 120.0,
        duplicated: Some(0),
        ..Default::default()
    }
}

/// [`evaluate`], a ledger's checks handed what it read back.
fn evaluate_read_back(e: &Expectation, samples: &[ProbeSample], windows: &Windows) -> Evaluation {
    let mut acc = Accumulator::new(e, windows);
    for s in samples {
        acc.push(s);
    }
    acc.read_back(&table_audit());
    acc.noticed(&table_noticed());
    acc.finish()
}

/// Healthy in the baseline, failing while the fault is held (from 1100),
/// back 100 ms after the revert.
fn table_samples() -> Vec<ProbeSample> {
    let mut samples = Vec::new();
    let mut t = 0.0;
    while t < 5000.0 {
        let failing = (1100.0..3100.0).contains(&t);
        samples.push(full(t, !failing));
        t += 100.0;
    }
    samples
}

/// [`table_samples`] as a load probe's: each 100 ms interval ten
/// requests answering as the sample did, due 10 ms apart.
fn load_table_samples() -> Vec<ProbeSample> {
    table_samples()
        .into_iter()
        .map(|mut s| {
            let mut tally = LoadTally {
                span_ms: 100.0,
                ..Default::default()
            };
            for i in 0..10 {
                tally.add(&Done {
                    due_ms: s.t_ms + f64::from(i) * 10.0,
                    latency_us: (s.latency_ms * 1000.0) as u64,
                    ending: if s.ok {
                        Ending::Ok(200)
                    } else {
                        Ending::Status(503)
                    },
                });
            }
            s.load = Some(Box::new(tally));
            s
        })
        .collect()
}

#[test]
fn every_check_kind_measures_what_it_names() {
    let plain = table_samples();
    let load = load_table_samples();
    for kind in CheckKind::ALL {
        let (during, check, wanted) = row(*kind);
        assert_eq!(check.kind(), *kind, "the row of {kind} makes another check");
        // Over the samples of every kind of probe it fits: one run each,
        // or a load probe's intervals.
        let mut over: Vec<&[ProbeSample]> = Vec::new();
        if ProbeType::ALL
            .iter()
            .any(|p| *p != ProbeType::Load && kind.fits(*p))
        {
            over.push(&plain);
        }
        if kind.fits(ProbeType::Load) {
            over.push(&load);
        }
        // A check naming no probe (`detected_by`) is judged over the
        // scenario's detection, whatever the samples.
        if !kind.takes_probe() {
            over.push(&plain);
        }
        for samples in over {
            let e = evaluate_read_back(&expect(during, check.clone()), samples, &windows());
            assert_eq!(e.verdict, wanted, "{kind}: {e:?}");
            assert!(
                !e.actual.starts_with("no samples") && e.value.is_some(),
                "{kind} measured nothing: {e:?}"
            );
        }
        // Over an empty window no check is met (except a recovery with
        // nothing to recover from, which is not asked here).
        let none = evaluate(&expect(during, row(*kind).1), &[], &windows());
        assert_eq!(none.verdict, CheckVerdict::NotMet, "{kind}: {none:?}");
    }
}

proptest! {
    #[test]
    fn success_rate_matches_a_plain_count(oks in proptest::collection::vec(any::<bool>(), 1..200), threshold in 0u32..=100) {
        let samples: Vec<_> = oks.iter().enumerate().map(|(i, ok)| sample(1100.0 + i as f64, *ok, 1.0, None)).collect();
        let e = expect(Window::Fault, Check::SuccessRate(Threshold::Absolute(Comparison { op: CmpOp::Ge, value: Percent(f64::from(threshold)) })));
        let r = evaluate(&e, &samples, &windows());
        let rate = oks.iter().filter(|o| **o).count() as f64 * 100.0 / oks.len() as f64;
        prop_assert_eq!(r.verdict == CheckVerdict::Met, rate >= f64::from(threshold));
    }

    #[test]
    fn percentile_is_an_element_and_monotonic(mut v in proptest::collection::vec(0f64..1e6, 1..100), p in 1f64..100.0) {
        v.sort_by(f64::total_cmp);
        let x = percentile(&v, p).unwrap();
        prop_assert!(v.contains(&x));
        prop_assert!(percentile(&v, 100.0).unwrap() >= x);
    }
}
