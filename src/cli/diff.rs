//! `gameday diff RUN_A RUN_B`: what changed between two runs of a gameday
//! (outcome, each scenario's verdict, each check's verdict and measured
//! value, the faults and how they were made, the probes, the readiness
//! checklist; for a scenario run as trials, how many trials met and where
//! a search's breaking point moved: `1000ms ✓ -> 800ms ✓ (lower: breaks
//! sooner)`), as text for people and JSON for tools. Reads the two
//! `result.json`; never writes. [`crate::record::views::diff`] compares
//! them; this file only prints the comparison.

use std::fmt::Write as _;
use std::path::Path;

use super::history::{HistoryFormat, table, trial_value};
use super::{CliError, CliResult};
use crate::exit;
use crate::expect::fmt_ms;
use crate::gameday::model::Unit;
use crate::record::read_result;
use crate::record::result::{ChecklistStatus, ScenarioVerdict, show_value};
use crate::record::views::detection::{self, Detected};
use crate::record::views::diff::{
    CheckDiff, CheckSide, ChecklistDiff, ProbeDiff, ProbeFigures, RunDiff, RunSide, ScenarioDiff,
};

fn verdict_word(v: Option<ScenarioVerdict>) -> &'static str {
    v.map(ScenarioVerdict::word).unwrap_or("absent")
}

fn mark(met: bool) -> &'static str {
    if met { "✓" } else { "✗" }
}

/// `*` where something changed.
fn star(changed: bool) -> String {
    if changed { "*" } else { " " }.to_string()
}

/// `rows` as a table, each line indented by two spaces.
fn indented(out: &mut String, rows: &[Vec<String>]) {
    for line in table(rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
}

fn render_text(d: &RunDiff) -> String {
    let side = |s: &RunSide| {
        format!(
            "{} ({}, {})",
            s.run_dir,
            s.started_at.format("%Y-%m-%d %H:%M"),
            s.outcome.replace('_', " ")
        )
    };
    let mut out = format!("{}: {} -> {}\n", d.gameday, side(&d.a), side(&d.b));
    if d.a.gameday != d.b.gameday {
        let _ = writeln!(
            out,
            "note: these are runs of two gamedays (\"{}\" and \"{}\")",
            d.a.gameday, d.b.gameday
        );
    }
    for s in &d.scenarios {
        scenario_text(&mut out, s);
    }
    out.push_str("\nProbes\n");
    indented(&mut out, &probe_rows(&d.probes));
    if !d.checklist.is_empty() {
        out.push_str("\nReadiness checklist\n");
        indented(&mut out, &checklist_rows(&d.checklist));
    }
    out
}

/// A scenario's verdicts, a row per check, and its faults where they differ.
fn scenario_text(out: &mut String, s: &ScenarioDiff) {
    let _ = writeln!(
        out,
        "\n{} Scenario \"{}\": {} -> {}",
        if s.a != s.b { "*" } else { " " },
        s.name,
        verdict_word(s.a),
        verdict_word(s.b)
    );
    if let Some((ra, rb)) = &s.repeat {
        let met = |m: &Option<crate::record::views::trials::MetCount>| match m {
            Some(m) => m.text(),
            None => "absent".to_string(),
        };
        let _ = writeln!(out, "  trials met: {} -> {}", met(ra), met(rb));
    }
    let mut rows: Vec<Vec<String>> = s.checks.iter().map(check_row).collect();
    if let Some((da, db)) = &s.detection {
        rows.push(detection_row(da.as_ref(), db.as_ref(), s.detection_changed));
    }
    indented(out, &rows);
    if let Some((fa, fb)) = &s.faults {
        let list = |f: &[String]| {
            if f.is_empty() {
                "none".into()
            } else {
                f.join("; ")
            }
        };
        let _ = writeln!(out, "  faults: {} -> {}", list(fa), list(fb));
    }
}

/// Who noticed what, when, on each side: time to detect and class.
fn detection_row(a: Option<&Detected>, b: Option<&Detected>, changed: bool) -> Vec<String> {
    let delta = match (
        a.and_then(|d| d.time_to_detect_ms),
        b.and_then(|d| d.time_to_detect_ms),
    ) {
        (Some(x), Some(y)) if x != y => {
            format!(
                "({}{})",
                if y > x { "+" } else { "-" },
                fmt_ms((y - x).abs())
            )
        }
        _ => String::new(),
    };
    vec![
        star(changed),
        "time to detect".into(),
        detection::side(a),
        "->".into(),
        detection::side(b),
        delta,
    ]
}

fn check_row(c: &CheckDiff) -> Vec<String> {
    let show = |x: &Option<CheckSide>| match x {
        Some(x) => format!(
            "{} {}",
            trial_value(c.unit, &c.text, x.value, c.breaking_point, x.met_in),
            mark(x.met)
        ),
        None => "absent".to_string(),
    };
    let delta = match c.delta {
        _ if c.breaking_point => c
            .moved
            .map(|m| format!("({})", m.words()))
            .unwrap_or_default(),
        Some(v) if v != 0.0 => {
            let shown = show_value(c.unit, &c.text, Some(v.abs()));
            format!("({}{shown})", if v > 0.0 { "+" } else { "-" })
        }
        _ => String::new(),
    };
    vec![
        star(c.changed || c.moved.is_some()),
        c.text.clone(),
        show(&c.a),
        "->".into(),
        show(&c.b),
        delta,
    ]
}

fn probe_rows(probes: &[ProbeDiff]) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "".to_string(),
        "FAILED".into(),
        "".into(),
        "".into(),
        "P99".into(),
        "".into(),
        "".into(),
    ]];
    let failed = |x: &Option<ProbeFigures>| match x {
        Some((n, f, _, _)) => format!("{f}/{n}"),
        None => "absent".into(),
    };
    let p99 = |x: &Option<ProbeFigures>| match x {
        Some((_, _, _, p)) => show_value(Some(Unit::Ms), "", *p),
        None => "absent".into(),
    };
    for p in probes {
        rows.push(vec![
            p.name.clone(),
            failed(&p.a),
            "->".into(),
            failed(&p.b),
            p99(&p.a),
            "->".into(),
            p99(&p.b),
        ]);
    }
    rows
}

fn checklist_rows(items: &[ChecklistDiff]) -> Vec<Vec<String>> {
    let word = |s: Option<ChecklistStatus>| match s {
        Some(ChecklistStatus::Met) => "met",
        Some(ChecklistStatus::NotMet) => "not met",
        Some(ChecklistStatus::NotExercised) => "not exercised",
        None => "absent",
    };
    items
        .iter()
        .map(|c| {
            vec![
                star(c.a != c.b),
                c.item.clone(),
                word(c.a).to_string(),
                "->".into(),
                word(c.b).to_string(),
            ]
        })
        .collect()
}

pub(super) fn diff(a_dir: &Path, b_dir: &Path, format: HistoryFormat) -> CliResult {
    let read = |dir: &Path| {
        read_result(dir).map_err(|e| {
            CliError::invalid(e.to_string())
                .hint("give two run directories written by `gameday run` (e.g. reports/2026-11-23-login-api-3f9c2a)")
        })
    };
    let (a, b) = (read(a_dir)?, read(b_dir)?);
    let d = RunDiff::of(&a, a_dir, &b, b_dir);
    match format {
        HistoryFormat::Json => println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default()),
        HistoryFormat::Table => print!("{}", render_text(&d)),
    }
    Ok(exit::OK)
}
