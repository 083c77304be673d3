//! The archive's index page (`gameday report --index`): every run under one
//! folder in a table (date, gameday, environment, outcome, scenarios met,
//! duration, a link to its report), filters by gameday and outcome that
//! work without a server (and from the URL: `index.html#gameday=...&outcome=not_met`),
//! and per gameday its trends: each scenario's verdict across runs and each
//! measured value across runs. One self-contained file: inline CSS, script
//! and SVG, nothing fetched. Every string from a run is escaped. The views
//! are built by [`crate::record::views`]; this file only draws them.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::chart::esc;
use crate::gameday::units::fmt_ms;
use crate::record::archive::ArchivedRun;
use crate::record::result::show_value;
use crate::record::views::history::GamedayHistory;
use crate::record::views::runs::{RunLine, by_gameday};

/// The file written into the archive folder.
pub(crate) const INDEX_FILE: &str = "index.html";

/// At most this many runs per gameday in its trend charts (the latest).
const TREND_RUNS: usize = 100;

/// Which file of a run the index links to: its HTML report, else its
/// Markdown report, else its result, relative to the archive folder and
/// always so: `./` then the directory's name percent-encoded, so a run
/// directory named `javascript:alert(1)` is a path, never a scheme.
fn link_of(run: &ArchivedRun) -> String {
    let name = percent_encoded(&run.dir_name());
    ["report.html", "report.md", "result.json"]
        .into_iter()
        .find(|f| run.dir.join(f).is_file())
        .map(|f| format!("./{name}/{f}"))
        .unwrap_or_else(|| format!("./{name}/"))
}

/// A path segment with every byte but the unreserved ones (`A-Z a-z 0-9 -
/// . _ ~`) percent-encoded: no `:`, `/`, `?`, `#` or space survives.
fn percent_encoded(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The index page of an archive: `runs` oldest first (as
/// [`crate::record::archive::load_runs`] gives them), `problems` the run
/// directories that could not be read.
pub(crate) fn render(
    archive: &Path,
    runs: &[ArchivedRun],
    problems: &[String],
    now: DateTime<Utc>,
) -> String {
    let gamedays = by_gameday(runs);
    let mut out = String::with_capacity(64 * 1024 + runs.len() * 600);
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>gameday archive: {title}</title><style>{STYLE}</style></head><body>
<h1>Gameday archive</h1>
<p class="meta">{runs} run{s} of {gamedays} gameday{gs} in <code>{title}</code>, indexed {now}.</p>
"#,
        title = esc(&archive.display().to_string()),
        runs = runs.len(),
        s = if runs.len() == 1 { "" } else { "s" },
        gamedays = gamedays.len(),
        gs = if gamedays.len() == 1 { "" } else { "s" },
        now = now.format("%Y-%m-%d %H:%M UTC"),
    );
    if !problems.is_empty() {
        out.push_str(
            r#"<section class="problems"><h2>Run directories that could not be read</h2><ul>"#,
        );
        for p in problems {
            let _ = write!(out, "<li>{}</li>", esc(p));
        }
        out.push_str("</ul></section>");
    }
    // Filters.
    out.push_str(r#"<form id="filters" class="filters"><label>Gameday <select id="f-gameday"><option value="">all</option>"#);
    for title in gamedays.keys() {
        let _ = write!(out, r#"<option value="{t}">{t}</option>"#, t = esc(title));
    }
    out.push_str(
        r#"</select></label> <label>Outcome <select id="f-outcome"><option value="">all</option><option value="met">met</option><option value="not_met">not met</option><option value="aborted">aborted</option><option value="fault_left">fault left</option></select></label> <span id="shown"></span></form>"#,
    );
    // The runs, newest first.
    out.push_str(
        r#"<table id="runs"><thead><tr><th>Date</th><th>Gameday</th><th>Environment</th><th>Outcome</th><th>Scenarios met</th><th>Duration</th><th>Run</th></tr></thead><tbody>"#,
    );
    for run in runs.iter().rev() {
        let l = RunLine::of(run);
        let _ = write!(
            out,
            r#"<tr data-gameday="{g}" data-outcome="{o}"><td>{date}</td><td>{g}</td><td>{env}</td><td class="o-{o}">{word}</td><td>{met}/{n}</td><td>{dur}</td><td><a href="{href}">{name}</a></td></tr>"#,
            g = esc(&l.gameday),
            o = l.outcome.key(),
            date = l.started_at.format("%Y-%m-%d %H:%M"),
            env = esc(&l.environment),
            word = l.outcome.word(),
            met = l.scenarios_met,
            n = l.scenarios,
            dur = fmt_ms(l.duration_ms),
            href = esc(&link_of(run)),
            name = esc(&l.run_dir),
        );
    }
    out.push_str("</tbody></table>");
    // Per gameday, its trends.
    for (title, runs) in &gamedays {
        trends(&mut out, title, runs);
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

/// A gameday's section: its scenarios' verdicts across runs, and each
/// measured value across runs as a line.
fn trends(out: &mut String, title: &str, runs: &[&ArchivedRun]) {
    let shown = GamedayHistory::of(&runs[runs.len().saturating_sub(TREND_RUNS)..]);
    let _ = write!(
        out,
        r#"<section class="gameday" data-gameday="{t}"><h2>{t}</h2><p class="meta">{n} run{s}"#,
        t = esc(title),
        n = runs.len(),
        s = if runs.len() == 1 { "" } else { "s" },
    );
    if shown.runs.len() < runs.len() {
        let _ = write!(out, "; the trends show the latest {}", shown.runs.len());
    }
    out.push_str("</p>");
    verdict_grid(out, title, &shown);
    measured_values(out, &shown);
    out.push_str("</section>");
}

/// The verdict grid: a row per scenario, a cell per run.
fn verdict_grid(out: &mut String, title: &str, history: &GamedayHistory) {
    const CELL: usize = 9;
    const LABEL: usize = 260;
    let width = LABEL + history.runs.len() * CELL + 10;
    let height = history.scenarios.len() * (CELL + 3) + 6;
    let _ = write!(
        out,
        r#"<svg class="verdicts" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg"><title>{} verdicts across runs</title>"#,
        esc(title)
    );
    for (row, scenario) in history.scenarios.iter().enumerate() {
        let y = 3 + row * (CELL + 3);
        let short: String = scenario.name.chars().take(40).collect();
        let _ = write!(
            out,
            r#"<text x="0" y="{}" class="label">{}</text>"#,
            y + CELL - 1,
            esc(&short)
        );
        for (col, run) in history.runs.iter().enumerate() {
            let (class, word) = match scenario.in_run(col).map(|s| s.verdict) {
                Some(v) => (v.key(), v.word()),
                None => ("absent", "not in this run"),
            };
            let _ = write!(
                out,
                r#"<rect class="v-{class}" x="{}" y="{y}" width="{}" height="{CELL}"><title>{} {}: {word}</title></rect>"#,
                LABEL + col * CELL,
                CELL - 1,
                run.started_at.format("%Y-%m-%d %H:%M"),
                esc(&run.run_dir),
            );
        }
    }
    out.push_str("</svg>");
}

/// Measured values: per scenario and check, the values across runs as a
/// line, the latest and the range.
fn measured_values(out: &mut String, history: &GamedayHistory) {
    let series = history.series();
    if series.is_empty() {
        return;
    }
    out.push_str(r#"<table class="values"><thead><tr><th>Measured</th><th>Across runs</th><th>Latest</th><th>Range</th></tr></thead><tbody>"#);
    for s in &series {
        let values: Vec<Shown> = s
            .values
            .iter()
            .map(|m| m.map(|m| (m.value, show_value(m.unit, &s.check, Some(m.value)))))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td>",
            esc(&format!("{}: {}", s.scenario, s.check)),
            sparkline(&values)
        );
        let known: Vec<&(f64, String)> = values.iter().flatten().collect();
        let latest = known.last().map(|v| v.1.as_str()).unwrap_or("—");
        let min = known.iter().min_by(|a, b| a.0.total_cmp(&b.0));
        let max = known.iter().max_by(|a, b| a.0.total_cmp(&b.0));
        let range = match (min, max) {
            (Some(a), Some(b)) if a.0 != b.0 => format!("{} to {}", a.1, b.1),
            (Some(a), _) => a.1.clone(),
            _ => "—".into(),
        };
        let _ = write!(out, "<td>{}</td><td>{}</td></tr>", esc(latest), esc(&range));
    }
    out.push_str("</tbody></table>");
}

/// A run's measured value and how it reads (`1.2s`), if it measured one.
type Shown = Option<(f64, String)>;

/// A small line of values across runs (a gap where a run measured nothing).
fn sparkline(values: &[Shown]) -> String {
    const W: f64 = 240.0;
    const H: f64 = 36.0;
    let known: Vec<f64> = values.iter().flatten().map(|v| v.0).collect();
    let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = if values.len() > 1 {
        (W - 6.0) / (values.len() - 1) as f64
    } else {
        0.0
    };
    let mut svg = format!(
        r#"<svg class="spark" viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">"#
    );
    let mut segment: Vec<String> = Vec::new();
    let flush = |segment: &mut Vec<String>, svg: &mut String| {
        if segment.len() > 1 {
            let _ = write!(svg, r#"<polyline points="{}"/>"#, segment.join(" "));
        }
        segment.clear();
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some((v, shown)) => {
                let x = 3.0 + i as f64 * step;
                let y = H - 4.0 - (v - lo) / span * (H - 8.0);
                segment.push(format!("{x:.1},{y:.1}"));
                let _ = write!(
                    svg,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="1.8"><title>{}</title></circle>"#,
                    esc(shown)
                );
            }
            None => flush(&mut segment, &mut svg),
        }
    }
    flush(&mut segment, &mut svg);
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1d2430}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 4px}
.meta{color:#5b6573;margin:0 0 12px}
.filters{margin:12px 0;display:flex;gap:16px;align-items:center}
select{font:inherit;padding:2px 6px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e7ee;vertical-align:middle}
th{background:#f4f6f9;font-weight:600}
tr[hidden],section[hidden]{display:none}
.o-met{color:#1a7f37;font-weight:600}.o-not_met{color:#c62828;font-weight:600}
.o-aborted{color:#b26a00;font-weight:600}.o-fault_left{color:#fff;background:#c62828;font-weight:600}
.problems{border:1px solid #e0a800;background:#fff8e1;padding:4px 12px;margin:12px 0}
svg .label{font-size:10px;fill:#1d2430}
.v-met{fill:#2da44e}.v-not_met{fill:#d1242f}.v-aborted{fill:#bf8700}.v-error{fill:#8250df}.v-skipped{fill:#afb8c1}.v-absent{fill:#f0f2f5}
.spark polyline{fill:none;stroke:#0969da;stroke-width:1.5}.spark circle{fill:#0969da}
"#;

/// The filters: the two selects, and the same from the URL's fragment
/// (`#gameday=Checkout&outcome=not_met`), so a filtered view can be linked.
const SCRIPT: &str = r#"
(function(){
  var g=document.getElementById('f-gameday'),o=document.getElementById('f-outcome'),shown=document.getElementById('shown');
  function apply(){
    var rows=document.querySelectorAll('#runs tbody tr'),n=0;
    rows.forEach(function(r){var ok=(!g.value||r.dataset.gameday===g.value)&&(!o.value||r.dataset.outcome===o.value);r.hidden=!ok;if(ok)n++;});
    document.querySelectorAll('section.gameday').forEach(function(s){s.hidden=!!g.value&&s.dataset.gameday!==g.value;});
    shown.textContent='showing '+n+' of '+rows.length+' runs';
    document.body.dataset.shown=n;
  }
  function fromHash(){
    var p=new URLSearchParams(location.hash.slice(1));
    if(p.has('gameday'))g.value=p.get('gameday');
    if(p.has('outcome'))o.value=p.get('outcome');
  }
  function toHash(){
    var p=new URLSearchParams();if(g.value)p.set('gameday',g.value);if(o.value)p.set('outcome',o.value);
    history.replaceState(null,'','#'+p.toString());
  }
  g.addEventListener('change',function(){toHash();apply();});
  o.addEventListener('change',function(){toHash();apply();});
  fromHash();apply();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::result::ScenarioVerdict;

    #[test]
    fn a_run_directory_s_name_is_always_a_relative_path() {
        assert_eq!(percent_encoded("2026-11-01-run-ix0"), "2026-11-01-run-ix0");
        assert_eq!(
            percent_encoded("javascript:alert(1)"),
            "javascript%3Aalert%281%29"
        );
        assert_eq!(percent_encoded("a b/#?é"), "a%20b%2F%23%3F%C3%A9");
    }

    #[test]
    fn a_sparkline_breaks_where_a_run_measured_nothing() {
        let values = vec![
            Some((1.0, "1ms".to_string())),
            Some((2.0, "2ms".to_string())),
            None,
            Some((3.0, "3ms".to_string())),
            Some((1.0, "1ms".to_string())),
        ];
        let svg = sparkline(&values);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 4);
    }

    #[test]
    fn verdict_keys_have_a_colour() {
        for v in [
            ScenarioVerdict::Met,
            ScenarioVerdict::NotMet,
            ScenarioVerdict::Aborted,
            ScenarioVerdict::Error,
            ScenarioVerdict::Skipped,
        ] {
            assert!(STYLE.contains(&format!(".v-{}{{", v.key())), "{v:?}");
        }
    }
}
