//! The record of a run: [`result::RunResult`] (versioned, written as
//! `result.json`) and the reports rendered from it with templates
//! (`templates/report.md.tera` by default, overridable with
//! `--template-dir`). Rendering only reads the result: it can be redone any
//! time from an archived run directory.

pub mod annotations;
pub mod chart;
mod html;
pub mod junit;
pub mod result;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tera::Tera;

use crate::probe::ProbeSample;
use annotations::Annotations;
use result::RunResult;

/// The default templates, compiled in so the binary works from anywhere.
pub const DEFAULT_MD_TEMPLATE: &str = include_str!("../../templates/report.md.tera");
pub const DEFAULT_HTML_TEMPLATE: &str = include_str!("../../templates/report.html.tera");

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// report.md, the write-up.
    Md,
    /// report.html, self-contained with charts.
    Html,
    /// junit.xml, for CI systems.
    Junit,
    /// result.json with the annotations, on standard output.
    Json,
}

impl Format {
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Md => "report.md",
            Format::Html => "report.html",
            Format::Junit => "junit.xml",
            Format::Json => "result.json",
        }
    }
}

/// Everything a run directory holds that reports are made from.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub result: RunResult,
    pub annotations: Annotations,
    pub samples: Vec<SampleRow>,
    pub journal: Vec<crate::run::journal::JournalEntry>,
}

/// One line of `samples.jsonl`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SampleRow {
    pub probe: String,
    #[serde(flatten)]
    pub sample: ProbeSample,
}

impl RunRecord {
    /// Read a run directory: `result.json` (required), `annotations.json`,
    /// `samples.jsonl` and `journal.jsonl` (optional).
    pub fn load(run_dir: &Path) -> Result<RunRecord, ReportError> {
        let read_err = |path: PathBuf| {
            move |source| ReportError::Read {
                path: path.display().to_string(),
                source,
            }
        };
        let result_path = run_dir.join("result.json");
        let bytes = std::fs::read(&result_path).map_err(read_err(result_path.clone()))?;
        let result: RunResult = serde_json::from_slice(&bytes).map_err(|e| ReportError::Parse {
            path: result_path.display().to_string(),
            message: e.to_string(),
        })?;
        let annotations =
            Annotations::load(run_dir).map_err(read_err(run_dir.join(annotations::FILE)))?;
        let samples = match std::fs::read_to_string(run_dir.join(&result.samples_file)) {
            Ok(text) => text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        let journal = crate::run::journal::read(&run_dir.join("journal.jsonl")).unwrap_or_default();
        Ok(RunRecord {
            result,
            annotations,
            samples,
            journal,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a gameday result: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the JUnit report: {0}")]
    Junit(String),
    #[error("cannot read template {path}: {source}")]
    ReadTemplate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template error: {0}")]
    Template(String),
}

/// Render `report.md` from a result alone (no annotations, no charts).
pub fn render_markdown(
    result: &RunResult,
    template_dir: Option<&Path>,
) -> Result<String, ReportError> {
    let record = RunRecord {
        result: result.clone(),
        annotations: Annotations::default(),
        samples: Vec::new(),
        journal: Vec::new(),
    };
    render(&record, Format::Md, template_dir)
}

/// Render one format. `template_dir` may hold `report.md.tera` or
/// `report.html.tera` replacing the defaults.
pub fn render(
    record: &RunRecord,
    format: Format,
    template_dir: Option<&Path>,
) -> Result<String, ReportError> {
    match format {
        Format::Junit => junit::render(&record.result).map_err(ReportError::Junit),
        Format::Json => {
            #[derive(Serialize)]
            struct Combined<'a> {
                #[serde(flatten)]
                result: &'a RunResult,
                annotations: &'a Annotations,
            }
            serde_json::to_string_pretty(&Combined {
                result: &record.result,
                annotations: &record.annotations,
            })
            .map_err(|e| ReportError::Template(e.to_string()))
        }
        Format::Md => render_template(record, "report.md", DEFAULT_MD_TEMPLATE, template_dir, None),
        Format::Html => {
            let view = html::view(record);
            render_template(
                record,
                "report.html",
                DEFAULT_HTML_TEMPLATE,
                template_dir,
                Some(view),
            )
        }
    }
}

/// Render md, html and junit into the run directory; returns the paths.
pub fn write_all(
    run_dir: &Path,
    record: &RunRecord,
    template_dir: Option<&Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    for format in [Format::Md, Format::Html, Format::Junit] {
        let text = render(record, format, template_dir)?;
        let path = run_dir.join(format.file_name());
        std::fs::write(&path, text).map_err(|source| ReportError::Write {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn render_template(
    record: &RunRecord,
    name: &str,
    default: &str,
    template_dir: Option<&Path>,
    html_view: Option<html::HtmlView>,
) -> Result<String, ReportError> {
    let file = format!("{name}.tera");
    let template = match template_dir.map(|d| d.join(&file)) {
        Some(path) if path.is_file() => {
            std::fs::read_to_string(&path).map_err(|source| ReportError::ReadTemplate {
                path: path.display().to_string(),
                source,
            })?
        }
        _ => default.to_string(),
    };
    let mut tera = Tera::default();
    // Escape everything the user wrote in HTML; Markdown is left as written.
    tera.autoescape_on(vec![".html"]);
    register_filters(&mut tera);
    tera.add_raw_template(name, &template)
        .map_err(|e| ReportError::Template(describe_tera(&e)))?;
    let mut context = tera::Context::from_serialize(&record.result)
        .map_err(|e| ReportError::Template(describe_tera(&e)))?;
    context.insert("outcome_text", outcome_text(&record.result.outcome));
    context.insert("annotations", &record.annotations);
    context.insert("events", &html::events(record));
    if let Some(view) = html_view {
        context.insert("html", &view);
    }
    tera.render(name, &context)
        .map_err(|e| ReportError::Template(describe_tera(&e)))
}

/// The run's outcome in words, for the summary line.
pub fn outcome_text(outcome: &str) -> &'static str {
    match outcome {
        "met" => "Every expectation was met",
        "not_met" => "Some expectations were not met",
        "aborted" => "Aborted; no fault is left in place",
        "fault_left" => "A fault could not be reverted",
        _ => "Unknown outcome",
    }
}

/// Filters the templates use: `ms` (a duration in ms, as `1.52s`), `verdict`
/// (`met` as `✅ met`), `verdict_word` (`not_met` as `not met`, no symbol:
/// fonts without emoji exist), `date(format=...)` (an RFC 3339 time).
fn register_filters(tera: &mut Tera) {
    tera.register_filter(
        "ms",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let ms = value
                .as_f64()
                .ok_or_else(|| tera::Error::msg("`ms` needs a number"))?;
            Ok(tera::Value::String(crate::expect::fmt_ms(ms)))
        },
    );
    tera.register_filter(
        "verdict",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = match value.as_str().unwrap_or_default() {
                "met" => "✅ met",
                "not_met" => "❌ not met",
                "aborted" => "⏹ aborted",
                "error" => "⚠ error",
                "skipped" => "⏭ not run",
                other => other,
            };
            Ok(tera::Value::String(text.to_string()))
        },
    );
    tera.register_filter(
        "verdict_word",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = match value.as_str().unwrap_or_default() {
                "not_met" => "not met",
                "skipped" => "not run",
                other => other,
            };
            Ok(tera::Value::String(text.to_string()))
        },
    );
    tera.register_filter(
        "date",
        |value: &tera::Value, args: &std::collections::HashMap<String, tera::Value>| {
            let text = value
                .as_str()
                .ok_or_else(|| tera::Error::msg("`date` needs a time"))?;
            let time = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|e| tera::Error::msg(format!("`date`: {e}")))?;
            let format = args
                .get("format")
                .and_then(|f| f.as_str())
                .unwrap_or("%Y-%m-%d %H:%M:%S");
            Ok(tera::Value::String(time.format(format).to_string()))
        },
    );
}

fn describe_tera(e: &tera::Error) -> String {
    crate::error_chain(e)
}

/// A synthetic run of `seconds` with `probes` HTTP probes sampled at `hz`,
/// one scenario whose fault covers most of it: for the size test and the
/// rendering benchmark. Not part of the supported API.
#[doc(hidden)]
pub fn synthetic_record(probes: usize, hz: u32, seconds: u32) -> RunRecord {
    use result::*;
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
        outcome: "met".into(),
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
            verdict: "met".into(),
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
    }
}
