//! `gameday history`: the archive of run directories as a table, and for one
//! gameday how each scenario's verdicts and measured values changed across
//! runs, where its readiness checklist stands, and what became of the
//! tickets linked to its checks; for a scenario run as trials, how many
//! trials met and a search's breaking point (`1000ms`, with `(lower:
//! breaks sooner)` where it moved). Reads the archive; never writes. The
//! views are built by [`crate::record::views`]; this file only prints them.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{CliError, CliResult};
use crate::exit;
use crate::expect::CheckVerdict;
use crate::expect::fmt_ms;
use crate::record::archive::{ArchivedRun, load_runs};
use crate::record::followup::{FollowUp, FollowUpState};
use crate::record::result::{ChecklistStatus, show_value};
use crate::record::views::history::{
    CheckValue, ChecklistHistory, GamedayHistory, ScenarioHistory,
};
use crate::record::views::runs::{RunLine, runs_of};
use crate::record::views::trials::{MetCount, show_point};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
}

pub(super) fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub(super) fn history(out: &Path, gameday: Option<&str>, format: HistoryFormat) -> CliResult {
    let (runs, problems) = load_runs(out);
    for p in &problems {
        eprintln!("warning: {p}");
    }
    if runs.is_empty() {
        eprintln!(
            "no runs under {}: `gameday run FILE --out {}` creates them",
            out.display(),
            out.display()
        );
        if format == HistoryFormat::Json {
            println!("[]");
        }
        return Ok(exit::OK);
    }
    match gameday {
        None => print_runs(&runs, format),
        Some(wanted) => print_gameday(out, &runs, wanted, format)?,
    }
    Ok(exit::OK)
}

/// Every run of the archive, a line each.
fn print_runs(runs: &[ArchivedRun], format: HistoryFormat) {
    let lines: Vec<RunLine> = runs.iter().map(RunLine::of).collect();
    match format {
        HistoryFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&lines).unwrap_or_default()
        ),
        HistoryFormat::Table => print!("{}", runs_table(&lines)),
    }
}

fn runs_table(lines: &[RunLine]) -> String {
    let mut rows = vec![vec![
        "DATE".into(),
        "GAMEDAY".into(),
        "ENVIRONMENT".into(),
        "OUTCOME".into(),
        "MET".into(),
        "DURATION".into(),
        "RUN".into(),
    ]];
    for l in lines {
        rows.push(vec![
            l.started_at.format("%Y-%m-%d %H:%M").to_string(),
            l.gameday.clone(),
            l.environment.clone(),
            l.outcome.word().to_string(),
            format!("{}/{}", l.scenarios_met, l.scenarios),
            fmt_ms(l.duration_ms),
            l.run_dir.clone(),
        ]);
    }
    table(&rows)
}

/// One gameday across its runs; a name that matches no run is an input
/// error naming the gamedays the archive has.
fn print_gameday(
    out: &Path,
    runs: &[ArchivedRun],
    wanted: &str,
    format: HistoryFormat,
) -> Result<(), CliError> {
    let chosen = runs_of(runs, wanted);
    if chosen.is_empty() {
        let mut known: Vec<String> = runs
            .iter()
            .map(|a| &a.result)
            .map(|r| format!("\"{}\" ({})", r.gameday.title, r.gameday.file))
            .collect();
        known.sort();
        known.dedup();
        return Err(CliError::invalid(format!(
            "no run of gameday `{wanted}` under {}",
            out.display()
        ))
        .hint(format!(
            "name a title or a file; the archive has {}",
            known.join(", ")
        )));
    }
    let history = GamedayHistory::with_tickets(runs, &chosen);
    match format {
        HistoryFormat::Json => println!("{}", gameday_json(&history)),
        HistoryFormat::Table => print!("{}", gameday_text(&history)),
    }
    Ok(())
}

fn gameday_json(h: &GamedayHistory) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        gameday: &'a str,
        runs: usize,
        scenarios: &'a [ScenarioHistory],
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        checklist: &'a [ChecklistHistory],
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        tickets: &'a [FollowUp],
    }
    serde_json::to_string_pretty(&Out {
        gameday: &h.title,
        runs: h.runs.len(),
        scenarios: &h.scenarios,
        checklist: &h.checklist,
        tickets: &h.tickets,
    })
    .unwrap_or_default()
}

fn gameday_text(h: &GamedayHistory) -> String {
    let n = h.runs.len();
    let mut out = format!("{}: {n} run{}\n", h.title, if n == 1 { "" } else { "s" });
    for s in &h.scenarios {
        let _ = writeln!(out, "\nScenario \"{}\"", s.name);
        indented(&mut out, &scenario_rows(s));
    }
    if !h.checklist.is_empty() {
        out.push_str("\nReadiness checklist\n");
        indented(&mut out, &checklist_rows(h));
    }
    if !h.tickets.is_empty() {
        out.push_str("\nFollow-up tickets (as of the newest run)\n");
        indented(&mut out, &ticket_rows(&h.tickets));
    }
    out
}

/// `rows` as a table, each line indented by two spaces.
fn indented(out: &mut String, rows: &[Vec<String>]) {
    for line in table(rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// A column per run that carried the scenario: its verdict, then a row
/// per check with the value measured and whether it was met.
fn scenario_rows(s: &ScenarioHistory) -> Vec<Vec<String>> {
    let mut header = vec!["".to_string()];
    header.extend(
        s.runs
            .iter()
            .map(|r| r.started_at.format("%Y-%m-%d %H:%M").to_string()),
    );
    let mut verdicts = vec!["verdict".to_string()];
    verdicts.extend(s.runs.iter().map(|r| r.verdict.word().to_string()));
    let mut rows = vec![header, verdicts];
    if s.runs.iter().any(|r| r.repeat.is_some()) {
        let mut met = vec!["trials met".to_string()];
        met.extend(s.runs.iter().map(|r| match r.repeat {
            Some(m) => m.text(),
            None => "—".to_string(),
        }));
        rows.push(met);
    }
    if s.runs.iter().any(|r| r.detection.is_some()) {
        let mut row = vec![crate::record::views::history::TIME_TO_DETECT.to_string()];
        row.extend(
            s.runs
                .iter()
                .map(|r| r.detection.map_or_else(|| "—".to_string(), |d| d.text())),
        );
        rows.push(row);
    }
    for text in s.check_texts() {
        let mut row = vec![text.to_string()];
        for r in &s.runs {
            row.push(match r.check(text) {
                Some(c) => check_cell(c),
                None => "—".to_string(),
            });
        }
        rows.push(row);
    }
    rows
}

/// A check in one run: its value, its met count over trials, met or not,
/// and where a breaking point moved since the run before.
fn check_cell(c: &CheckValue) -> String {
    let shown = trial_value(c.unit, &c.text, c.value, c.breaking_point, c.met_in);
    let mark = if c.verdict == CheckVerdict::Met {
        "✓"
    } else {
        "✗"
    };
    match c.moved {
        Some(moved) => format!("{shown} {mark} ({})", moved.words()),
        None => format!("{shown} {mark}"),
    }
}

/// A check's value as `history` and `diff` show it: a breaking point as
/// the search said it (`1000ms`; `none found` when it held throughout or
/// stopped first),
/// a repeated check's median with its met count (`130ms, met flaky 3/5`),
/// any other value in its unit.
pub(super) fn trial_value(
    unit: Option<crate::gameday::model::Unit>,
    text: &str,
    value: Option<f64>,
    breaking_point: bool,
    met_in: Option<MetCount>,
) -> String {
    let shown = match (breaking_point, value) {
        (true, Some(v)) => show_point(unit, v),
        (true, None) => "none found".to_string(),
        (false, _) => show_value(unit, text, value),
    };
    match (met_in, value) {
        (Some(m), Some(_)) => format!("{shown}, met {}", m.text()),
        (Some(m), None) => format!("met {}", m.text()),
        (None, _) => shown,
    }
}

/// A column per run, a row per checklist item.
fn checklist_rows(h: &GamedayHistory) -> Vec<Vec<String>> {
    let mut header = vec!["".to_string()];
    header.extend(
        h.runs
            .iter()
            .map(|r| r.started_at.format("%Y-%m-%d %H:%M").to_string()),
    );
    let mut rows = vec![header];
    for c in &h.checklist {
        let mut row = vec![c.item.clone()];
        row.extend(c.runs.iter().map(|s| {
            match s {
                Some(ChecklistStatus::Met) => "✓",
                Some(ChecklistStatus::NotMet) => "✗",
                Some(ChecklistStatus::NotExercised) => "not exercised",
                None => "—",
            }
            .to_string()
        }));
        rows.push(row);
    }
    rows
}

fn ticket_rows(tickets: &[FollowUp]) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "TICKET".to_string(),
        "FOR".to_string(),
        "NOW".to_string(),
        "EVIDENCE".to_string(),
    ]];
    for t in tickets {
        let now = match (t.state, &t.last_met_in) {
            (FollowUpState::Regressed, Some(run)) => {
                format!("{} (met in {run})", t.state.word())
            }
            (
                FollowUpState::Regressed
                | FollowUpState::Fixed
                | FollowUpState::StillNotMet
                | FollowUpState::NotExercised,
                _,
            ) => t.state.word().to_string(),
        };
        rows.push(vec![
            format!("{} {}", t.id, t.title),
            t.target.clone(),
            now,
            t.evidence.clone(),
        ]);
    }
    rows
}
