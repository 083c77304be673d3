//! The commands on archived runs: `report` (render again), `annotate`
//! (tickets and notes, then render again) and `schema` (of the gameday
//! file or of `result.json`).

use std::path::Path;

use super::{CliError, CliResult};
use crate::exit;
use crate::record::{ANNOTATIONS_FILE, RunRecord, annotations::Note};
use crate::report::{self, Format};

fn load(run_dir: &Path) -> Result<RunRecord, CliError> {
    RunRecord::load(run_dir).map_err(|e| {
        CliError::invalid(e.to_string())
            .hint("RUN_DIR is a directory written by `gameday run`, holding result.json")
    })
}

pub(super) fn report(
    run_dir: &Path,
    format: Option<Format>,
    template_dir: Option<&Path>,
    open: bool,
) -> CliResult {
    let record = load(run_dir)?;
    let render_error = |e: report::ReportError| CliError::invalid(e.to_string());
    let paths = match format {
        Some(Format::Json) => {
            let text = report::render(&record, Format::Json, template_dir).map_err(render_error)?;
            println!("{text}");
            return Ok(exit::OK);
        }
        Some(f) => {
            let text = report::render(&record, f, template_dir).map_err(render_error)?;
            let path = run_dir.join(f.file_name());
            std::fs::write(&path, text)
                .map_err(|e| CliError::invalid(format!("cannot write {}: {e}", path.display())))?;
            vec![path]
        }
        None => report::write_all(run_dir, &record, template_dir).map_err(render_error)?,
    };
    for p in &paths {
        println!("{}", p.display());
    }
    if open {
        let html = run_dir.join("report.html");
        if let Err(e) = std::process::Command::new("xdg-open").arg(&html).status() {
            eprintln!("cannot open {}: {e}; open it by hand", html.display());
        }
    }
    Ok(exit::OK)
}

pub(super) fn annotate(
    run_dir: &Path,
    ticket: Option<String>,
    title: Option<String>,
    status: Option<String>,
    note: Option<String>,
    template_dir: Option<&Path>,
) -> CliResult {
    if ticket.is_none() && note.is_none() {
        return Err(CliError::invalid(
            "nothing to record: give --ticket ID --title \"...\" and/or --note \"...\"",
        ));
    }
    let mut record = load(run_dir)?;
    if let Some(id) = &ticket {
        let status = status.as_deref().unwrap_or("open");
        record
            .annotations
            .upsert_ticket(id, title.as_deref(), status)
            .map_err(CliError::invalid)?;
    }
    if let Some(text) = note {
        record.annotations.notes.push(Note {
            text,
            at: chrono::Utc::now(),
        });
    }
    record
        .annotations
        .save(run_dir)
        .map_err(|e| CliError::invalid(format!("cannot write the annotations: {e}")))?;
    let paths = report::write_all(run_dir, &record, template_dir).map_err(|e| {
        CliError::invalid(format!(
            "annotations saved, but the reports could not be re-rendered: {e}"
        ))
    })?;
    println!("recorded in {}", run_dir.join(ANNOTATIONS_FILE).display());
    for p in &paths {
        println!("{}", p.display());
    }
    Ok(exit::OK)
}

pub(super) fn schema(result: bool) -> CliResult {
    let schema = if result {
        crate::record::result::json_schema()
    } else {
        crate::gameday::model::json_schema()
    };
    let text = serde_json::to_string_pretty(&schema)
        .map_err(|e| CliError::invalid(format!("cannot print the schema: {e}")))?;
    println!("{text}");
    Ok(exit::OK)
}
