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
    pub use super::synthetic_record;
    pub use crate::report::{Format, render, render_markdown, write_all};
}

/// The run directory's formats.
pub mod record {
    pub use crate::record::{RunRecord, SampleRow};
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
}

use crate::record::annotations::Annotations;
use crate::record::{RunRecord, SampleRow};

/// A synthetic run of `seconds` with `probes` HTTP probes sampled at `hz`,
/// one scenario whose fault covers most of it: for the size test and the
/// rendering benchmark. Not part of the supported API.
pub fn synthetic_record(probes: usize, hz: u32, seconds: u32) -> RunRecord {
    use crate::probe::ProbeSample;
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
        outcome: Outcome::Met,
        exit_code: 0,
        aborted_reason: None,
        steady_state: SteadyState {
            met: true,
            baseline_ms: 5000.0,
            details: Vec::new(),
        },
        scenarios: vec![ScenarioResult {
            name: "Long fault".into(),
            description: None,
            expected: None,
            verdict: Verdict::Met,
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
            })
            .collect(),
        samples_file: "samples.jsonl".into(),
        faults_left: Vec::new(),
        observations: Vec::new(),
        checklist: Vec::new(),
        summary: Summary {
            scenarios: 1,
            met: 1,
            not_met: 0,
            aborted: 0,
            error: 0,
            skipped: 0,
        },
    };
    let samples = (0..probes)
        .flat_map(|p| {
            (0..count).map(move |i| SampleRow {
                probe: format!("probe-{p}"),
                sample: ProbeSample {
                    probe: p,
                    t_ms: f64::from(i) * step,
                    at: start,
                    ok: i % 997 != 0,
                    latency_ms: 5.0 + f64::from((i * 7919) % 100),
                    status: Some(200),
                    state: None,
                    error: None,
                    ..Default::default()
                },
            })
        })
        .collect();
    RunRecord {
        result,
        annotations: Annotations::default(),
        samples,
        journal: Vec::new(),
        followups: Vec::new(),
    }
}
