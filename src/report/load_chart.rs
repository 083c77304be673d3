//! The load probe's charts in the HTML report, in the style of [`chart`]:
//! requests per second (sent, succeeded, failed) and latency (p50, p99,
//! from when each request was due) over time across the windows. Its
//! interval samples are folded into one column per pixel (counts and
//! spans added, so rates stay exact; a column's percentile is its
//! intervals' highest), so memory does not grow with the run.

use std::fmt::Write as _;

use super::chart::{self, Chart, Frame, LEFT, Phase, TOP, nice_ceiling, phases_and_axis};
use crate::gameday::units::{RequestRate, fmt_ms};
use crate::probe::ProbeSample;

#[derive(Debug, Clone, Copy, Default)]
struct Column {
    span_ms: f64,
    sent: u64,
    ok: u64,
    failed: u64,
    p50: Option<f64>,
    p99: Option<f64>,
}

/// A load probe's intervals over a scenario's range, one column per pixel.
pub(crate) struct LoadSeries {
    range: (f64, f64),
    columns: Vec<Column>,
}

impl LoadSeries {
    pub(crate) fn new(range: (f64, f64)) -> Self {
        LoadSeries {
            range,
            columns: vec![Column::default(); chart::plot_columns()],
        }
    }

    pub(crate) fn push(&mut self, s: &ProbeSample) {
        let Some(load) = &s.load else { return };
        if s.t_ms < self.range.0 || s.t_ms > self.range.1 {
            return;
        }
        let n = self.columns.len();
        let c = &mut self.columns[chart::column_of(s.t_ms, self.range, n)];
        c.span_ms += load.span_ms;
        c.sent += load.sent();
        c.ok += load.ok;
        c.failed += load.failed();
        let higher = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        c.p50 = higher(c.p50, load.latency.percentile_ms(50.0));
        c.p99 = higher(c.p99, load.latency.percentile_ms(99.0));
    }

    /// The two charts: requests per second, and latency.
    pub(crate) fn charts(self, probe: &str, kind: &str, phases: &[Phase]) -> Vec<Chart> {
        let filled: Vec<(usize, Column)> = self
            .columns
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, c)| c.span_ms > 0.0)
            .collect();
        let per_s = |n: u64, c: &Column| n as f64 * 1000.0 / c.span_ms;
        let rates = [
            (
                "sent",
                filled.iter().map(|(i, c)| (*i, per_s(c.sent, c))).collect(),
            ),
            (
                "succeeded",
                filled.iter().map(|(i, c)| (*i, per_s(c.ok, c))).collect(),
            ),
            (
                "failed",
                filled
                    .iter()
                    .map(|(i, c)| (*i, per_s(c.failed, c)))
                    .collect(),
            ),
        ];
        let latency = [
            (
                "p50",
                filled
                    .iter()
                    .filter_map(|(i, c)| Some((*i, c.p50?)))
                    .collect(),
            ),
            (
                "p99",
                filled
                    .iter()
                    .filter_map(|(i, c)| Some((*i, c.p99?)))
                    .collect(),
            ),
        ];
        let lines = Lines {
            probe,
            kind,
            range: self.range,
            columns: self.columns.len(),
            phases,
        };
        vec![
            lines.chart("requests per second", "load-rate", &rates, |v| {
                RequestRate(v).to_string()
            }),
            lines.chart("latency from due", "load-latency", &latency, fmt_ms),
        ]
    }
}

/// What every line chart of one probe shares.
struct Lines<'a> {
    probe: &'a str,
    kind: &'a str,
    range: (f64, f64),
    columns: usize,
    phases: &'a [Phase],
}

/// A named line: (column, value) points.
type Line = (&'static str, Vec<(usize, f64)>);

impl Lines<'_> {
    fn chart(
        &self,
        what: &str,
        class: &str,
        lines: &[Line],
        label: impl Fn(f64) -> String,
    ) -> Chart {
        let frame = Frame {
            from: self.range.0,
            to: self.range.1,
        };
        let y_max = nice_ceiling(
            lines
                .iter()
                .flat_map(|(_, points)| points.iter().map(|p| p.1))
                .fold(0.0, f64::max),
        );
        let h = Frame::plot_height();
        let y = |v: f64| TOP + h - (v / y_max).clamp(0.0, 1.0) * h;
        let x_of = |i: usize| LEFT + (i as f64 + 0.5) / self.columns as f64 * Frame::plot_width();
        let mut out = String::new();
        chart::open_svg(
            &mut out,
            &format!("{}: {what} over time", self.probe),
            class,
        );
        phases_and_axis(&mut out, &frame, self.phases);
        chart::grid(&mut out, y_max, y, label);
        for (name, points) in lines {
            let _ = write!(
                out,
                r#"<g class="series line-{name}" data-series="{name}"><title>{name}</title>"#
            );
            if !points.is_empty() {
                out.push_str(r#"<polyline points=""#);
                for (i, v) in points {
                    let _ = write!(out, "{:.1},{:.1} ", x_of(*i), y(*v));
                }
                out.push_str(r#""/>"#);
            }
            out.push_str("</g>");
        }
        out.push_str("</svg>");
        Chart {
            probe: self.probe.to_string(),
            kind: self.kind.to_string(),
            svg: out,
            series: lines.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::load::{Done, Ending, LoadTally};

    #[test]
    fn a_load_probe_charts_its_rates_and_latencies() {
        let mut series = LoadSeries::new((0.0, 10_000.0));
        for second in 0..10 {
            let t = f64::from(second) * 1000.0;
            let mut tally = LoadTally {
                span_ms: 1000.0,
                ..Default::default()
            };
            for i in 0..100 {
                let failing = (4..6).contains(&second);
                tally.add(&Done {
                    due_ms: t + f64::from(i) * 10.0,
                    latency_us: if failing { 900_000 } else { 3_000 },
                    ending: if failing {
                        Ending::Status(503)
                    } else {
                        Ending::Ok(200)
                    },
                });
            }
            series.push(&ProbeSample {
                t_ms: t,
                load: Some(Box::new(tally)),
                ..Default::default()
            });
        }
        let charts = series.charts("traffic", "load", &[]);
        assert_eq!(charts.len(), 2);
        assert_eq!((charts[0].series, charts[1].series), (3, 2));
        for name in ["line-sent", "line-succeeded", "line-failed"] {
            assert!(charts[0].svg.contains(name), "{name}");
        }
        assert!(charts[0].svg.contains(">100/s<"), "{}", charts[0].svg);
        assert!(charts[1].svg.contains("line-p99"));
        assert!(charts[1].svg.contains(">1s<"), "{}", charts[1].svg);
    }
}
