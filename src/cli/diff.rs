//! `gameday diff RUN_A RUN_B`: what changed between two runs of a gameday
//! (outcome, each scenario's verdict, each check's verdict and measured
//! value, the faults and how they were made, the probes, the readiness
//! checklist), as text for people and JSON for tools. Reads the two
//! `result.json`; never writes.

use std::path::Path;

use serde::Serialize;

use super::history::{HistoryFormat, table};
use super::{CliError, CliResult};
use crate::exit;
use crate::gameday::model::Unit;
use crate::record::archive::dir_name;
use crate::record::read_result;
use crate::record::result::show_value;
use crate::record::result::{ChecklistStatus, ExpectationResult, RunResult, Verdict};

/// One side of a compared check.
#[derive(Debug, Clone, Serialize)]
struct CheckSide {
    met: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    actual: String,
}

#[derive(Debug, Clone, Serialize)]
struct CheckDiff {
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<Unit>,
    a: Option<CheckSide>,
    b: Option<CheckSide>,
    /// `b - a`, when both measured a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<f64>,
    changed: bool,
}

#[derive(Debug, Clone, Serialize)]
struct ScenarioDiff {
    name: String,
    a: Option<Verdict>,
    b: Option<Verdict>,
    checks: Vec<CheckDiff>,
    /// Faults as `action (mechanism)`, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    faults: Option<(Vec<String>, Vec<String>)>,
}

#[derive(Debug, Clone, Serialize)]
struct ProbeDiff {
    name: String,
    /// `(samples, failed, p50, p99)` of each run.
    a: Option<(usize, usize, Option<f64>, Option<f64>)>,
    b: Option<(usize, usize, Option<f64>, Option<f64>)>,
}

#[derive(Debug, Clone, Serialize)]
struct ChecklistDiff {
    item: String,
    a: Option<ChecklistStatus>,
    b: Option<ChecklistStatus>,
}

#[derive(Debug, Clone, Serialize)]
struct RunDiff {
    gameday: String,
    a: RunSide,
    b: RunSide,
    scenarios: Vec<ScenarioDiff>,
    probes: Vec<ProbeDiff>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checklist: Vec<ChecklistDiff>,
}

#[derive(Debug, Clone, Serialize)]
struct RunSide {
    run_dir: String,
    run_id: String,
    started_at: chrono::DateTime<chrono::Utc>,
    outcome: String,
    gameday: String,
}

/// Names in order of first appearance across both lists.
fn union<'a>(a: impl Iterator<Item = &'a str>, b: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for n in a.chain(b) {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn side(e: &ExpectationResult) -> CheckSide {
    CheckSide {
        met: e.is_met(),
        value: e.value,
        actual: e.actual.clone(),
    }
}

fn compare(a: &RunResult, b: &RunResult, a_dir: &Path, b_dir: &Path) -> RunDiff {
    let run_side = |r: &RunResult, dir: &Path| RunSide {
        run_dir: dir_name(dir),
        run_id: r.run_id.clone(),
        started_at: r.started_at,
        outcome: r.outcome.key().to_string(),
        gameday: r.gameday.title.clone(),
    };
    let scenarios = union(
        a.scenarios.iter().map(|s| s.name.as_str()),
        b.scenarios.iter().map(|s| s.name.as_str()),
    )
    .into_iter()
    .map(|name| {
        let sa = a.scenarios.iter().find(|s| s.name == name);
        let sb = b.scenarios.iter().find(|s| s.name == name);
        let texts = union(
            sa.iter()
                .flat_map(|s| s.expectations.iter().map(|e| e.text.as_str())),
            sb.iter()
                .flat_map(|s| s.expectations.iter().map(|e| e.text.as_str())),
        );
        let checks = texts
            .into_iter()
            .map(|text| {
                let ea = sa.and_then(|s| s.expectations.iter().find(|e| e.text == text));
                let eb = sb.and_then(|s| s.expectations.iter().find(|e| e.text == text));
                let (ca, cb) = (ea.map(side), eb.map(side));
                let delta = match (&ca, &cb) {
                    (Some(x), Some(y)) => x.value.zip(y.value).map(|(x, y)| y - x),
                    _ => None,
                };
                let changed = match (&ca, &cb) {
                    (Some(x), Some(y)) => x.met != y.met,
                    _ => true,
                };
                CheckDiff {
                    text: text.to_string(),
                    unit: ea.or(eb).and_then(|e| e.unit),
                    a: ca,
                    b: cb,
                    delta,
                    changed,
                }
            })
            .collect();
        let faults_of = |s: Option<&crate::record::result::ScenarioResult>| -> Vec<String> {
            s.map(|s| {
                s.faults
                    .iter()
                    .map(|f| match &f.mechanism {
                        Some(m) => format!("{} ({m})", f.action),
                        None => f.action.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        let (fa, fb) = (faults_of(sa), faults_of(sb));
        ScenarioDiff {
            name: name.to_string(),
            a: sa.map(|s| s.verdict),
            b: sb.map(|s| s.verdict),
            checks,
            faults: (fa != fb).then_some((fa, fb)),
        }
    })
    .collect();
    let probes = union(
        a.probes.iter().map(|p| p.name.as_str()),
        b.probes.iter().map(|p| p.name.as_str()),
    )
    .into_iter()
    .map(|name| {
        let of = |r: &RunResult| {
            r.probes
                .iter()
                .find(|p| p.name == name)
                .map(|p| (p.samples, p.failed, p.latency_p50_ms, p.latency_p99_ms))
        };
        ProbeDiff {
            name: name.to_string(),
            a: of(a),
            b: of(b),
        }
    })
    .collect();
    let checklist = union(
        a.checklist.iter().map(|c| c.item.as_str()),
        b.checklist.iter().map(|c| c.item.as_str()),
    )
    .into_iter()
    .map(|item| {
        let of = |r: &RunResult| {
            r.checklist
                .iter()
                .find(|c| c.item == item)
                .map(|c| c.status)
        };
        ChecklistDiff {
            item: item.to_string(),
            a: of(a),
            b: of(b),
        }
    })
    .collect();
    RunDiff {
        gameday: b.gameday.title.clone(),
        a: run_side(a, a_dir),
        b: run_side(b, b_dir),
        scenarios,
        probes,
        checklist,
    }
}

fn verdict_word(v: Option<Verdict>) -> &'static str {
    v.map(Verdict::word).unwrap_or("absent")
}

fn render_text(d: &RunDiff) -> String {
    let mut out = String::new();
    let side = |s: &RunSide| {
        format!(
            "{} ({}, {})",
            s.run_dir,
            s.started_at.format("%Y-%m-%d %H:%M"),
            s.outcome.replace('_', " ")
        )
    };
    out.push_str(&format!(
        "{}: {} -> {}\n",
        d.gameday,
        side(&d.a),
        side(&d.b)
    ));
    if d.a.gameday != d.b.gameday {
        out.push_str(&format!(
            "note: these are runs of two gamedays (\"{}\" and \"{}\")\n",
            d.a.gameday, d.b.gameday
        ));
    }
    let mark = |met: bool| if met { "✓" } else { "✗" };
    for s in &d.scenarios {
        let changed = s.a != s.b;
        out.push_str(&format!(
            "\n{} Scenario \"{}\": {} -> {}\n",
            if changed { "*" } else { " " },
            s.name,
            verdict_word(s.a),
            verdict_word(s.b)
        ));
        let mut rows = Vec::new();
        for c in &s.checks {
            let show = |x: &Option<CheckSide>| match x {
                Some(x) => format!("{} {}", show_value(c.unit, &c.text, x.value), mark(x.met)),
                None => "absent".to_string(),
            };
            let delta = match c.delta {
                Some(v) if v != 0.0 => {
                    let shown = show_value(c.unit, &c.text, Some(v.abs()));
                    format!("({}{shown})", if v > 0.0 { "+" } else { "-" })
                }
                _ => String::new(),
            };
            rows.push(vec![
                if c.changed { "*".into() } else { " ".into() },
                c.text.clone(),
                show(&c.a),
                "->".into(),
                show(&c.b),
                delta,
            ]);
        }
        for line in table(&rows).lines() {
            out.push_str(&format!("  {line}\n"));
        }
        if let Some((fa, fb)) = &s.faults {
            out.push_str(&format!(
                "  faults: {} -> {}\n",
                if fa.is_empty() {
                    "none".into()
                } else {
                    fa.join("; ")
                },
                if fb.is_empty() {
                    "none".into()
                } else {
                    fb.join("; ")
                }
            ));
        }
    }
    out.push_str("\nProbes\n");
    let mut rows = vec![vec![
        "".to_string(),
        "FAILED".into(),
        "".into(),
        "".into(),
        "P99".into(),
        "".into(),
        "".into(),
    ]];
    for p in &d.probes {
        let failed = |x: &Option<(usize, usize, Option<f64>, Option<f64>)>| match x {
            Some((n, f, _, _)) => format!("{f}/{n}"),
            None => "absent".into(),
        };
        let p99 = |x: &Option<(usize, usize, Option<f64>, Option<f64>)>| match x {
            Some((_, _, _, p)) => show_value(Some(Unit::Ms), "", *p),
            None => "absent".into(),
        };
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
    for line in table(&rows).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    if !d.checklist.is_empty() {
        out.push_str("\nReadiness checklist\n");
        let word = |s: Option<ChecklistStatus>| match s {
            Some(ChecklistStatus::Met) => "met",
            Some(ChecklistStatus::NotMet) => "not met",
            Some(ChecklistStatus::NotExercised) => "not exercised",
            None => "absent",
        };
        let mut rows = Vec::new();
        for c in &d.checklist {
            rows.push(vec![
                if c.a != c.b { "*".into() } else { " ".into() },
                c.item.clone(),
                word(c.a).to_string(),
                "->".into(),
                word(c.b).to_string(),
            ]);
        }
        for line in table(&rows).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

pub(super) fn diff(a_dir: &Path, b_dir: &Path, format: HistoryFormat) -> CliResult {
    let read = |dir: &Path| {
        read_result(dir).map_err(|e| {
            CliError::invalid(e.to_string())
                .hint("give two run directories written by `gameday run` (e.g. reports/2026-11-23-login-api-3f9c2a)")
        })
    };
    let (a, b) = (read(a_dir)?, read(b_dir)?);
    let d = compare(&a, &b, a_dir, b_dir);
    match format {
        HistoryFormat::Json => println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default()),
        HistoryFormat::Table => print!("{}", render_text(&d)),
    }
    Ok(exit::OK)
}
