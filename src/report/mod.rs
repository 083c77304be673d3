//! The reports of a run, rendered from its [`RunRecord`] (`result.json` and
//! the files beside it, see [`crate::record`]) with templates
//! (`templates/report.md.tera` by default, overridable with
//! `--template-dir`). Rendering only reads the result: it can be redone any
//! time from an archived run directory. The templates get the result's
//! fields, and beside them `events` (the timeline), `html` (the charts, in
//! HTML), `trials` (per scenario, its trials as [`trials`] shows them) and
//! `detection_section` (who noticed what, when, in words, as [`detection`] says it;
//! `null` when no scenario ran).

pub(crate) mod chart;
mod detection;
mod html;
pub(crate) mod index;
pub(crate) mod junit;
mod load_chart;
mod search_chart;
mod trials;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tera::Tera;

use crate::record::annotations::Annotations;
use crate::record::result::{RunResult, ScenarioVerdict};
use crate::record::{RecordError, RunRecord};

/// The default templates, compiled in so the binary works from anywhere.
pub(crate) const DEFAULT_MD_TEMPLATE: &str = include_str!("../../templates/report.md.tera");
pub(crate) const DEFAULT_HTML_TEMPLATE: &str = include_str!("../../templates/report.html.tera");

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

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Record(#[from] RecordError),
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
        samples: Default::default(),
        journal: Vec::new(),
        followups: Vec::new(),
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
    let prepared = match format {
        Format::Md => Some(html::prepare(record, false)),
        Format::Html => Some(html::prepare(record, true)),
        Format::Junit | Format::Json => None,
    };
    render_prepared(record, format, template_dir, prepared)
}

fn render_prepared(
    record: &RunRecord,
    format: Format,
    template_dir: Option<&Path>,
    prepared: Option<html::Prepared>,
) -> Result<String, ReportError> {
    match format {
        Format::Junit => {
            junit::render(&record.result, &record.followups).map_err(ReportError::Junit)
        }
        Format::Json => {
            #[derive(Serialize)]
            struct Combined<'a> {
                #[serde(flatten)]
                result: &'a RunResult,
                annotations: &'a Annotations,
                #[serde(skip_serializing_if = "<[_]>::is_empty")]
                followups: &'a [crate::record::followup::FollowUp],
            }
            serde_json::to_string_pretty(&Combined {
                result: &record.result,
                annotations: &record.annotations,
                followups: &record.followups,
            })
            .map_err(|e| ReportError::Template(e.to_string()))
        }
        Format::Md => render_template(
            record,
            "report.md",
            DEFAULT_MD_TEMPLATE,
            template_dir,
            prepared,
        ),
        Format::Html => render_template(
            record,
            "report.html",
            DEFAULT_HTML_TEMPLATE,
            template_dir,
            prepared,
        ),
    }
}

/// Render md, html and junit into the run directory; returns the paths.
/// Each format is written on its own: a broken template for one leaves the
/// others written, and the first error is returned.
pub fn write_all(
    run_dir: &Path,
    record: &RunRecord,
    template_dir: Option<&Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    let mut first_error = None;
    // One pass over the samples serves every format.
    let prepared = html::prepare(record, true);
    for format in [Format::Md, Format::Html, Format::Junit] {
        let path = run_dir.join(format.file_name());
        let this = match format {
            Format::Html => Some(prepared.clone()),
            Format::Md => Some(html::Prepared {
                view: None,
                events: prepared.events.clone(),
            }),
            Format::Junit | Format::Json => None,
        };
        let done = render_prepared(record, format, template_dir, this)
            .and_then(|text| write_into(run_dir, format.file_name(), &text));
        match done {
            Ok(()) => written.push(path),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

/// Write a report into a run directory: a new file renamed over the old,
/// so a link planted in the directory is replaced, never written through.
pub(crate) fn write_into(dir: &Path, file_name: &str, text: &str) -> Result<(), ReportError> {
    let text = crate::redact::known(text);
    crate::record::confined::write_replacing(dir, file_name, text.as_bytes()).map_err(|source| {
        ReportError::Write {
            path: dir.join(file_name).display().to_string(),
            source,
        }
    })
}

fn render_template(
    record: &RunRecord,
    name: &str,
    default: &str,
    template_dir: Option<&Path>,
    prepared: Option<html::Prepared>,
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
    context.insert("outcome_text", record.result.outcome.text());
    context.insert("annotations", &record.annotations);
    context.insert("followups", &record.followups);
    // Per scenario, its trials (`null` for one run once); the search's
    // chart only in HTML, which draws it.
    let charts = prepared.as_ref().is_some_and(|p| p.view.is_some());
    context.insert("trials", &trials::views(&record.result.scenarios, charts));
    context.insert("detection_section", &detection::view(&record.result));
    if let Some(prepared) = prepared {
        context.insert("events", &prepared.events);
        if let Some(view) = prepared.view {
            context.insert("html", &view);
        }
    }
    tera.render(name, &context)
        .map_err(|e| ReportError::Template(describe_tera(&e)))
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
            let text = value.as_str().unwrap_or_default();
            Ok(tera::Value::String(match ScenarioVerdict::from_key(text) {
                Some(v) => v.badge().to_string(),
                None => text.to_string(),
            }))
        },
    );
    tera.register_filter(
        "verdict_word",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = value.as_str().unwrap_or_default();
            Ok(tera::Value::String(match ScenarioVerdict::from_key(text) {
                Some(v) => v.word().to_string(),
                None => text.to_string(),
            }))
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
