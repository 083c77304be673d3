//! `gameday history`: the archive of run directories as a table, and for one
//! gameday how each scenario's verdicts and measured values changed across
//! runs, where its readiness checklist stands, and what became of the
//! tickets linked to its checks. Reads the archive; never writes.

use std::path::Path;

use serde::Serialize;

use super::{CliError, CliResult};
use crate::exit;
use crate::expect::Verdict as CheckVerdict;
use crate::expect::fmt_ms;
use crate::gameday::model::Unit;
use crate::record::archive::{ArchivedRun, dir_name, load_runs};
use crate::record::followup::{self, FollowUpState};
use crate::record::result::{ChecklistStatus, Outcome, RunResult, Verdict, show_value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
}

/// Does `wanted` name this run's gameday (title, file path or file name)?
fn matches(run: &RunResult, wanted: &str) -> bool {
    let file = Path::new(&run.gameday.file);
    run.gameday.title == wanted
        || run.gameday.file == wanted
        || file.file_name().is_some_and(|n| n == wanted)
        || file.file_stem().is_some_and(|n| n == wanted)
}

#[derive(Serialize)]
struct RunLine {
    run_dir: String,
    started_at: chrono::DateTime<chrono::Utc>,
    gameday: String,
    environment: String,
    outcome: Outcome,
    scenarios_met: usize,
    scenarios: usize,
    duration_ms: f64,
}

#[derive(Serialize)]
struct CheckValue {
    text: String,
    verdict: CheckVerdict,
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<Unit>,
    actual: String,
}

#[derive(Serialize)]
struct ScenarioRun {
    run_dir: String,
    started_at: chrono::DateTime<chrono::Utc>,
    verdict: Verdict,
    checks: Vec<CheckValue>,
}

#[derive(Serialize)]
struct ScenarioHistory {
    name: String,
    runs: Vec<ScenarioRun>,
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
        return if format == HistoryFormat::Json {
            println!("[]");
            Ok(exit::OK)
        } else {
            Ok(exit::OK)
        };
    }
    let Some(wanted) = gameday else {
        let lines: Vec<RunLine> = runs
            .iter()
            .map(|a| (&a.dir, &a.result))
            .map(|(dir, r)| RunLine {
                run_dir: dir_name(dir),
                started_at: r.started_at,
                gameday: r.gameday.title.clone(),
                environment: r.gameday.environment.clone(),
                outcome: r.outcome,
                scenarios_met: r.summary.met,
                scenarios: r.summary.scenarios,
                duration_ms: r.duration_ms,
            })
            .collect();
        match format {
            HistoryFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&lines).unwrap_or_default()
            ),
            HistoryFormat::Table => {
                let mut rows = vec![vec![
                    "DATE".into(),
                    "GAMEDAY".into(),
                    "ENVIRONMENT".into(),
                    "OUTCOME".into(),
                    "MET".into(),
                    "DURATION".into(),
                    "RUN".into(),
                ]];
                for l in &lines {
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
                print!("{}", table(&rows));
            }
        }
        return Ok(exit::OK);
    };
    let chosen: Vec<&ArchivedRun> = runs.iter().filter(|a| matches(&a.result, wanted)).collect();
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
    // Scenarios in order of first appearance.
    let mut names: Vec<String> = Vec::new();
    for a in &chosen {
        for s in &a.result.scenarios {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
    }
    let history: Vec<ScenarioHistory> = names
        .iter()
        .map(|name| ScenarioHistory {
            name: name.clone(),
            runs: chosen
                .iter()
                .map(|a| (&a.dir, &a.result))
                .filter_map(|(dir, r)| {
                    let s = r.scenarios.iter().find(|s| &s.name == name)?;
                    Some(ScenarioRun {
                        run_dir: dir_name(dir),
                        started_at: r.started_at,
                        verdict: s.verdict,
                        checks: s
                            .expectations
                            .iter()
                            .map(|e| CheckValue {
                                text: e.text.clone(),
                                verdict: e.verdict,
                                value: e.value,
                                unit: e.unit,
                                actual: e.actual.clone(),
                            })
                            .collect(),
                    })
                })
                .collect(),
        })
        .collect();
    let checklist = checklist_history(&chosen);
    // The linked tickets as the newest run sees them.
    let tickets = chosen
        .last()
        .map(|last| followup::verify(&runs, &last.result))
        .unwrap_or_default();
    match format {
        HistoryFormat::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                gameday: &'a str,
                runs: usize,
                scenarios: &'a [ScenarioHistory],
                #[serde(skip_serializing_if = "<[_]>::is_empty")]
                checklist: &'a [ChecklistHistory],
                #[serde(skip_serializing_if = "<[_]>::is_empty")]
                tickets: &'a [followup::FollowUp],
            }
            let title = &chosen[0].result.gameday.title;
            println!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    gameday: title,
                    runs: chosen.len(),
                    scenarios: &history,
                    checklist: &checklist,
                    tickets: &tickets,
                })
                .unwrap_or_default()
            );
        }
        HistoryFormat::Table => {
            println!(
                "{}: {} run{}",
                chosen[0].result.gameday.title,
                chosen.len(),
                if chosen.len() == 1 { "" } else { "s" }
            );
            for h in &history {
                println!("\nScenario \"{}\"", h.name);
                let mut header = vec!["".to_string()];
                header.extend(
                    h.runs
                        .iter()
                        .map(|r| r.started_at.format("%Y-%m-%d %H:%M").to_string()),
                );
                let mut verdicts = vec!["verdict".to_string()];
                verdicts.extend(h.runs.iter().map(|r| r.verdict.word().to_string()));
                let mut rows = vec![header, verdicts];
                let mut texts: Vec<String> = Vec::new();
                for r in &h.runs {
                    for c in &r.checks {
                        if !texts.contains(&c.text) {
                            texts.push(c.text.clone());
                        }
                    }
                }
                for text in &texts {
                    let mut row = vec![text.clone()];
                    for r in &h.runs {
                        row.push(match r.checks.iter().find(|c| &c.text == text) {
                            Some(c) => format!(
                                "{} {}",
                                show_value(c.unit, text, c.value),
                                if c.verdict == CheckVerdict::Met {
                                    "✓"
                                } else {
                                    "✗"
                                }
                            ),
                            None => "—".to_string(),
                        });
                    }
                    rows.push(row);
                }
                for line in table(&rows).lines() {
                    println!("  {line}");
                }
            }
            if !checklist.is_empty() {
                println!("\nReadiness checklist");
                let mut header = vec!["".to_string()];
                header.extend(
                    chosen
                        .iter()
                        .map(|a| a.result.started_at.format("%Y-%m-%d %H:%M").to_string()),
                );
                let mut rows = vec![header];
                for c in &checklist {
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
                for line in table(&rows).lines() {
                    println!("  {line}");
                }
            }
            if !tickets.is_empty() {
                println!("\nFollow-up tickets (as of the newest run)");
                let mut rows = vec![vec![
                    "TICKET".to_string(),
                    "FOR".to_string(),
                    "NOW".to_string(),
                    "EVIDENCE".to_string(),
                ]];
                for t in &tickets {
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
                for line in table(&rows).lines() {
                    println!("  {line}");
                }
            }
        }
    }
    Ok(exit::OK)
}

/// One checklist item across runs: its status in each run (`None` where
/// the run did not carry it).
#[derive(Serialize)]
struct ChecklistHistory {
    item: String,
    runs: Vec<Option<ChecklistStatus>>,
}

fn checklist_history(chosen: &[&ArchivedRun]) -> Vec<ChecklistHistory> {
    let mut items: Vec<String> = Vec::new();
    for a in chosen {
        for c in &a.result.checklist {
            if !items.contains(&c.item) {
                items.push(c.item.clone());
            }
        }
    }
    items
        .into_iter()
        .map(|item| ChecklistHistory {
            runs: chosen
                .iter()
                .map(|a| {
                    a.result
                        .checklist
                        .iter()
                        .find(|c| c.item == item)
                        .map(|c| c.status)
                })
                .collect(),
            item,
        })
        .collect()
}
