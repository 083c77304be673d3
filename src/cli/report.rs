//! The commands on archived runs: `report` (render again), `annotate`
//! (tickets and notes, then render again) and `schema` (of the gameday
//! file or of `result.json`).

use std::path::Path;

use super::{CliError, CliResult};
use crate::exit;
use crate::record::followup::TicketTarget;
use crate::record::{ANNOTATIONS_FILE, RecordError, RunRecord, annotations::Note};
use crate::report::{self, Format};

fn load(run_dir: &Path) -> Result<RunRecord, CliError> {
    RunRecord::load(run_dir).map_err(|e| {
        let hint = match e {
            RecordError::Confined(_) => {
                "`gameday run` leaves its files in the run directory as regular files, and result.json's samples_file names one of them (samples.jsonl): this one was changed or copied with links"
            }
            RecordError::Read { .. } | RecordError::Parse { .. } | RecordError::Write { .. } => {
                "RUN_DIR is a directory written by `gameday run`, holding result.json"
            }
        };
        CliError::invalid(e.to_string()).hint(hint)
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
            report::write_into(run_dir, f.file_name(), &text).map_err(render_error)?;
            vec![run_dir.join(f.file_name())]
        }
        None => report::write_all(run_dir, &record, template_dir).map_err(render_error)?,
    };
    for p in &paths {
        println!("{}", p.display());
    }
    if open {
        open_in_browser(&run_dir.join("report.html"));
    }
    Ok(exit::OK)
}

fn open_in_browser(html: &Path) {
    if let Err(e) = std::process::Command::new("xdg-open").arg(html).status() {
        eprintln!("cannot open {}: {e}; open it by hand", html.display());
    }
}

/// `gameday report --index`: the archive's index page.
pub(super) fn index(out: &Path, open: bool) -> CliResult {
    let (runs, problems) = crate::record::archive::load_runs(out);
    for p in &problems {
        eprintln!("warning: {p}");
    }
    if runs.is_empty() && problems.is_empty() {
        return Err(
            CliError::invalid(format!("no runs under {}", out.display())).hint(format!(
                "`gameday run FILE --out {}` archives runs there; --out names another archive",
                out.display()
            )),
        );
    }
    let page = report::index::render(out, &runs, &problems, chrono::Utc::now());
    let path = out.join(report::index::INDEX_FILE);
    report::write_into(out, report::index::INDEX_FILE, &page)
        .map_err(|e| CliError::invalid(e.to_string()))?;
    println!("{}", path.display());
    if open {
        open_in_browser(&path);
    }
    Ok(exit::OK)
}

/// What `gameday annotate` was asked to record.
pub(super) struct Annotation<'a> {
    pub run_dir: &'a Path,
    pub ticket: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    pub for_target: Option<String>,
    pub note: Option<String>,
    pub template_dir: Option<&'a Path>,
}

pub(super) fn annotate(a: Annotation<'_>) -> CliResult {
    let run_dir = a.run_dir;
    if a.ticket.is_none() && a.note.is_none() {
        return Err(CliError::invalid(
            "nothing to record: give --ticket ID --title \"...\" and/or --note \"...\"",
        ));
    }
    let mut record = load(run_dir)?;
    if let Some(id) = &a.ticket {
        let target = a
            .for_target
            .as_deref()
            .map(|spec| TicketTarget::resolve(spec, &record.result))
            .transpose()
            .map_err(|e| {
                CliError::invalid(format!("cannot link ticket {id}: {e}")).hint(
                    "`gameday report RUN_DIR --format json` lists the scenarios and their checks",
                )
            })?;
        let status = a.status.as_deref().unwrap_or("open");
        record
            .annotations
            .upsert_ticket(id, a.title.as_deref(), status, target)
            .map_err(CliError::invalid)?;
    }
    if let Some(text) = a.note {
        record.annotations.notes.push(Note {
            text,
            at: chrono::Utc::now(),
        });
    }
    record
        .annotations
        .save(run_dir)
        .map_err(|e| CliError::invalid(format!("cannot write the annotations: {e}")))?;
    // The new link counts from now on: this run's view of it included.
    record.followups = crate::record::followups_in(run_dir.parent(), &record.result);
    let paths = report::write_all(run_dir, &record, a.template_dir).map_err(|e| {
        CliError::invalid(format!(
            "annotations saved, but the reports could not be re-rendered: {e}"
        ))
    })?;
    println!("recorded in {}", run_dir.join(ANNOTATIONS_FILE).display());
    if let Some(t) = a
        .ticket
        .as_ref()
        .and_then(|id| record.annotations.tickets.iter().find(|t| &t.id == id))
        && let Some(target) = &t.target
    {
        println!("{} is for: {target}", t.id);
    }
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
