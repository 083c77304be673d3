//! The record of a run: [`result::RunResult`] (versioned, written as
//! `result.json`) and the reports rendered from it with templates
//! (`templates/report.md.tera` by default, overridable with
//! `--template-dir`). Rendering only reads the result: it can be redone any
//! time from an archived run directory.

pub mod result;

use std::path::Path;

use tera::Tera;

use result::RunResult;

/// The default templates, compiled in so the binary works from anywhere.
pub const DEFAULT_MD_TEMPLATE: &str = include_str!("../../templates/report.md.tera");

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read template {path}: {source}")]
    ReadTemplate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template error: {0}")]
    Template(String),
}

/// Render `report.md` from a result; `template_dir` may hold a
/// `report.md.tera` that replaces the default.
pub fn render_markdown(
    result: &RunResult,
    template_dir: Option<&Path>,
) -> Result<String, ReportError> {
    let template = match template_dir.map(|d| d.join("report.md.tera")) {
        Some(path) if path.is_file() => {
            std::fs::read_to_string(&path).map_err(|source| ReportError::ReadTemplate {
                path: path.display().to_string(),
                source,
            })?
        }
        _ => DEFAULT_MD_TEMPLATE.to_string(),
    };
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    register_filters(&mut tera);
    tera.add_raw_template("report.md", &template)
        .map_err(|e| ReportError::Template(describe_tera(&e)))?;
    let mut context = tera::Context::from_serialize(result)
        .map_err(|e| ReportError::Template(describe_tera(&e)))?;
    context.insert("outcome_text", outcome_text(&result.outcome));
    tera.render("report.md", &context)
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
/// (`met` as `✅ met`), `date(format=...)` (an RFC 3339 time, formatted).
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
