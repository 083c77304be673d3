//! What the integration tests (`tests/`) and the benchmarks (`benches/`)
//! reach inside the crate, and the support they share. Everything else is
//! `pub(crate)`: the command line ([`crate::cli`]) is the product's
//! interface, not this module.

/// The gameday model, as tests build it.
pub mod gameday {
    pub mod model {
        pub use crate::gameday::model::*;
    }
    pub mod units {
        pub use crate::gameday::units::{ContainerState, HumanDuration, Percent, Rate};
    }
    pub mod yaml {
        pub use crate::gameday::yaml::Pos;
    }
}

/// Faults applied and reverted directly, for the compliance tests.
pub mod fault {
    pub use crate::fault::{AppliedFault, ApplyContext, RevertRecipe, apply, prepare};
    pub mod netns {
        pub use crate::fault::netns::kernel_has_netem;
    }
}

pub mod docker {
    pub use crate::docker::{ContainerInfo, Engine};
}

pub mod probe {
    pub use crate::probe::ProbeSample;
}

pub mod expect {
    pub use crate::expect::Windows;
}

pub mod report {
    pub use super::{synthetic_record, synthetic_rows, write_synthetic_run};
    pub use crate::report::{Format, render, render_markdown, write_all};
}

/// The run directory's formats.
pub mod record {
    pub use crate::record::{RunRecord, SampleRow, Samples};
    pub mod annotations {
        pub use crate::record::annotations::{Annotations, Note};
    }
    pub mod result {
        pub use crate::record::result::*;
    }
    pub mod followup {
        pub use crate::record::followup::{FollowUp, FollowUpState, TicketTarget};
    }
    pub mod journal {
        pub use crate::record::journal::{Journal, JournalEntry, read, unfinished};
    }
    pub mod versions {
        pub use crate::record::versions::{VersionChange, VersionsServed};
    }
    pub mod detection {
        pub use crate::record::detection::*;
    }
}

use crate::record::annotations::Annotations;
use crate::record::{RunRecord, SampleRow};

/// A synthetic run of `seconds` with `probes` HTTP probes sampled at `hz`,
/// one scenario whose fault covers most of it: for the size test and the
/// rendering benchmark. Not part of the supported API.
pub fn synthetic_record(probes: usize, hz: u32, seconds: u32) -> RunRecord {
    use crate::record::result::*;
    let start = chrono::DateTime::UNIX_EPOCH;
    let total_ms = f64::from(seconds) * 1000.0;
    let count = seconds * hz;
    let step = 1000.0 / f64::from(hz);
    let result = RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: "synthetic".into(),
        gameday: GamedayInfo {
            title: "Synthetic".into(),
            description: None,
            participants: Vec::new(),
            environment: "bench".into(),
            recording: None,
            file: "synthetic.yaml".into(),
            scope: "synthetic".into(),
        },
        docker: DockerInfo {
            host: "none".into(),
            version: "none".into(),
            connection: String::new(),
            hosts: Vec::new(),
        },
        started_at: start,
        ended_at: start + chrono::Duration::seconds(i64::from(seconds)),
        duration_ms: total_ms,
        outcome: RunOutcome::Met,
        exit_code: 0,
        aborted_reason: None,
        steady_state: SteadyState {
            met: true,
            baseline_ms: 5000.0,
            details: Vec::new(),
        },
        scenarios: vec![ScenarioResult {
            ledgers: Vec::new(),
            name: "Long fault".into(),
            description: None,
            expected: None,
            verdict: ScenarioVerdict::Met,
            error: None,
            duration_ms: total_ms - 5000.0,
            expectations: Vec::new(),
            faults: Vec::new(),
            probe_effects: Vec::new(),
            windows: Some(crate::expect::Windows {
                baseline: (0.0, 5000.0),
                apply_start: 5000.0,
                fault_start: 5010.0,
                revert_start: total_ms - 60_000.0_f64.min(total_ms / 10.0),
                end: total_ms,
                self_healing_from: None,
            }),
            timeline: Vec::new(),
            checklist: Vec::new(),
            trials: None,
            detection: None,
        }],
        probes: (0..probes)
            .map(|p| ProbeSummary {
                name: format!("probe-{p}"),
                kind: "http".into(),
                every_ms: step,
                samples: count as usize,
                ok: count as usize,
                failed: 0,
                latency_p50_ms: None,
                latency_p99_ms: None,
                load: None,
                versions: None,
            })
            .collect(),
        samples_file: "samples.jsonl".into(),
        faults_left: Vec::new(),
        observations: Vec::new(),
        checklist: Vec::new(),
        seed: None,
        detection: None,
        summary: Summary {
            scenarios: 1,
            met: 1,
            not_met: 0,
            aborted: 0,
            error: 0,
            skipped: 0,
        },
    };
    let samples = crate::record::Samples::memory(synthetic_rows(probes, hz, seconds).collect());
    RunRecord {
        result,
        annotations: Annotations::default(),
        samples,
        journal: Vec::new(),
        followups: Vec::new(),
    }
}

/// The samples of [`synthetic_record`], in the order a run writes them
/// (by time, probes interleaved), made as they are asked for.
pub fn synthetic_rows(probes: usize, hz: u32, seconds: u32) -> impl Iterator<Item = SampleRow> {
    use crate::probe::ProbeSample;
    let step = 1000.0 / f64::from(hz);
    let start = chrono::DateTime::UNIX_EPOCH;
    let names: Vec<String> = (0..probes).map(|p| format!("probe-{p}")).collect();
    (0..seconds * hz).flat_map(move |i| {
        let names = names.clone();
        (0..probes).map(move |p| {
            let t_ms = f64::from(i) * step;
            SampleRow {
                probe: names[p].clone(),
                sample: ProbeSample {
                    probe: p,
                    t_ms,
                    at: start + chrono::Duration::milliseconds(t_ms as i64),
                    ok: i % 997 != 0,
                    latency_ms: 5.0 + f64::from((i * 7919) % 100),
                    status: Some(200),
                    error: (i % 997 == 0).then(|| "timeout after 2s".to_string()),
                    ..Default::default()
                },
            }
        })
    })
}

/// Write a synthetic run directory (`result.json`, `samples.jsonl`) as a
/// run of that size leaves it, streaming: for the rendering benchmark of
/// runs too long to hold in memory. Returns the number of samples.
pub fn write_synthetic_run(
    dir: &std::path::Path,
    probes: usize,
    hz: u32,
    seconds: u32,
) -> std::io::Result<u64> {
    use std::io::Write as _;
    let mut record = synthetic_record(probes, hz, 0);
    let full = synthetic_record(0, hz, seconds).result;
    record.result.duration_ms = full.duration_ms;
    record.result.ended_at = full.ended_at;
    record.result.scenarios = full.scenarios;
    for p in &mut record.result.probes {
        p.samples = (seconds * hz) as usize;
        p.ok = p.samples;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(crate::record::RESULT_FILE),
        serde_json::to_vec_pretty(&record.result)?,
    )?;
    let file = std::fs::File::create(dir.join(crate::record::SAMPLES_FILE))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut n = 0;
    for row in synthetic_rows(probes, hz, seconds) {
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}
