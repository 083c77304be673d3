//! Inline SVG charts for the HTML report, drawn here so the report needs no
//! script, font or image from anywhere. Samples are bucketed to at most one
//! bucket per pixel column, keeping each bucket's min, max and mean latency
//! and its failures, so an hour at 10 Hz stays small and a spike stays
//! visible. Every user-written string is escaped.

use std::fmt::Write as _;

use crate::expect::fmt_ms;
use crate::gameday::units::ContainerState;
use crate::probe::ProbeSample;

pub(super) const WIDTH: f64 = 720.0;
pub(super) const HEIGHT: f64 = 170.0;
pub(super) const LEFT: f64 = 58.0;
pub(super) const RIGHT: f64 = 12.0;
pub(super) const TOP: f64 = 14.0;
const BOTTOM: f64 = 24.0;

/// A shaded stretch of a chart: the baseline before the fault, the fault, the cooldown.
#[derive(Debug, Clone)]
pub(crate) struct Phase {
    pub start_ms: f64,
    pub end_ms: f64,
    /// CSS class: `phase-before`, `phase-fault`, `phase-after`.
    pub class: &'static str,
    pub label: &'static str,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Chart {
    pub probe: String,
    pub kind: String,
    /// The `<svg>` element, escaped and ready to embed.
    pub svg: String,
    /// How many data series the chart draws.
    pub series: usize,
}

/// Escape text for HTML and SVG.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) struct Frame {
    pub(super) from: f64,
    pub(super) to: f64,
}

impl Frame {
    pub(super) fn plot_width() -> f64 {
        WIDTH - LEFT - RIGHT
    }
    pub(super) fn plot_height() -> f64 {
        HEIGHT - TOP - BOTTOM
    }
    fn x(&self, t: f64) -> f64 {
        let span = (self.to - self.from).max(1.0);
        LEFT + ((t - self.from) / span).clamp(0.0, 1.0) * Self::plot_width()
    }
}

pub(super) fn open_svg(out: &mut String, title: &str, class: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart {class}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(title)
    );
}

/// Three grid lines, at 0, half of `y_max` and `y_max`, each with its
/// label (`y`: a value's height in the plot).
pub(super) fn grid(
    out: &mut String,
    y_max: f64,
    y: impl Fn(f64) -> f64,
    label: impl Fn(f64) -> String,
) {
    for (i, v) in [0.0, y_max / 2.0, y_max].into_iter().enumerate() {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 4.0,
            y(v) + if i == 2 { 8.0 } else { 3.0 },
            esc(&label(v)),
            yy = y(v)
        );
    }
}

pub(super) fn phases_and_axis(out: &mut String, frame: &Frame, phases: &[Phase]) {
    let h = Frame::plot_height();
    for p in phases {
        let (x0, x1) = (frame.x(p.start_ms), frame.x(p.end_ms));
        if x1 - x0 < 0.5 {
            continue;
        }
        let _ = write!(
            out,
            r#"<rect class="{}" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{h:.1}"/><text class="phase-label" x="{:.1}" y="{:.1}">{}</text>"#,
            p.class,
            x1 - x0,
            x0 + 3.0,
            TOP - 3.0,
            p.label
        );
    }
    let base = TOP + h;
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}"/>"#,
        WIDTH - RIGHT
    );
    for i in 0..=4 {
        let t = frame.from + (frame.to - frame.from) * f64::from(i) / 4.0;
        let x = frame.x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="{anchor}">+{:.1}s</text>"#,
            HEIGHT - 6.0,
            t / 1000.0
        );
    }
}

/// 1, 2 or 5 times a power of ten, at least `v`.
pub(super) fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

#[derive(Clone, Copy)]
struct Bucket {
    count: usize,
    fails: usize,
    min: f64,
    max: f64,
    sum: f64,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        count: 0,
        fails: 0,
        min: f64::MAX,
        max: 0.0,
        sum: 0.0,
    };
}

/// One pixel column per this many plotted points at most.
pub(super) fn plot_columns() -> usize {
    Frame::plot_width() as usize
}

/// The column of time `t` among `columns` over `range`.
pub(super) fn column_of(t: f64, range: (f64, f64), columns: usize) -> usize {
    let span = (range.1 - range.0).max(1.0);
    ((((t - range.0) / span) * columns as f64) as usize).min(columns - 1)
}

/// A point of a line chart: when, what (if anything) it measured, whether it failed.
#[derive(Clone, Copy)]
struct Point {
    t: f64,
    v: Option<f64>,
    ok: bool,
}

fn add(buckets: &mut [Bucket], range: (f64, f64), p: Point) {
    let columns = buckets.len();
    let b = &mut buckets[column_of(p.t, range, columns)];
    b.fails += usize::from(!p.ok);
    if let Some(v) = p.v {
        b.count += 1;
        b.min = b.min.min(v);
        b.max = b.max.max(v);
        b.sum += v;
    }
}

/// One line chart's samples, taken in one at a time in any order: kept as
/// they are while there are no more than pixel columns, then folded into
/// one bucket per column (min, max, mean, failures), so a day of samples
/// takes the memory of a minute's.
pub(crate) struct LatencySeries {
    measure: Measure,
    range: (f64, f64),
    points: Vec<Point>,
    columns: Option<Vec<Bucket>>,
}

impl LatencySeries {
    pub(crate) fn new(measure: Measure, range: (f64, f64)) -> Self {
        LatencySeries {
            measure,
            range,
            points: Vec::new(),
            columns: None,
        }
    }

    pub(crate) fn push(&mut self, s: &ProbeSample) {
        if s.t_ms < self.range.0 || s.t_ms > self.range.1 {
            return;
        }
        let p = Point {
            t: s.t_ms,
            v: self.measure.of(s),
            ok: s.ok,
        };
        if let Some(buckets) = &mut self.columns {
            add(buckets, self.range, p);
            return;
        }
        self.points.push(p);
        if self.points.len() > plot_columns() {
            let mut buckets = vec![Bucket::EMPTY; plot_columns()];
            for p in self.points.drain(..) {
                add(&mut buckets, self.range, p);
            }
            self.columns = Some(buckets);
        }
    }

    /// Whether any sample in range had something to plot.
    pub(crate) fn has_values(&self) -> bool {
        match &self.columns {
            Some(buckets) => buckets.iter().any(|b| b.count > 0),
            None => self.points.iter().any(|p| p.v.is_some()),
        }
    }

    /// One bucket per point while they are few, else one per column.
    fn buckets(self) -> Vec<Bucket> {
        if let Some(buckets) = self.columns {
            return buckets;
        }
        let mut buckets = vec![Bucket::EMPTY; self.points.len().max(1)];
        for p in self.points {
            add(&mut buckets, self.range, p);
        }
        buckets
    }
}

/// When, and the state seen.
type StatePoint = (f64, Option<ContainerState>);

/// A container-state chart's samples, in any order: kept as they are
/// while few, then per pixel column its first and last state.
pub(crate) struct StateSeries {
    range: (f64, f64),
    points: Vec<StatePoint>,
    columns: Option<Vec<Vec<StatePoint>>>,
}

impl StateSeries {
    pub(crate) fn new(range: (f64, f64)) -> Self {
        StateSeries {
            range,
            points: Vec::new(),
            columns: None,
        }
    }

    fn keep(columns: &mut [Vec<StatePoint>], range: (f64, f64), p: StatePoint) {
        let n = columns.len();
        let col = &mut columns[column_of(p.0, range, n)];
        match col.len() {
            0 => col.push(p),
            1 if p.0 < col[0].0 => col.insert(0, p),
            1 => col.push(p),
            _ if p.0 < col[0].0 => col[0] = p,
            _ if p.0 > col[1].0 => col[1] = p,
            _ => {}
        }
    }

    pub(crate) fn push(&mut self, s: &ProbeSample) {
        if s.t_ms < self.range.0 || s.t_ms > self.range.1 {
            return;
        }
        let p = (s.t_ms, s.state);
        if let Some(columns) = &mut self.columns {
            Self::keep(columns, self.range, p);
            return;
        }
        self.points.push(p);
        if self.points.len() > 2 * plot_columns() {
            let mut columns = vec![Vec::with_capacity(2); plot_columns()];
            for p in self.points.drain(..) {
                Self::keep(&mut columns, self.range, p);
            }
            self.columns = Some(columns);
        }
    }

    /// The points to draw, in time order.
    fn points(self) -> Vec<StatePoint> {
        let mut points = match self.columns {
            Some(columns) => columns.into_iter().flatten().collect(),
            None => self.points,
        };
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }
}

/// What a line chart plots for each sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// How long the run took (http, tcp, exec, command).
    Latency,
    /// The number the run read (prometheus, logs, alert).
    Value,
    /// A container's CPU use, 100% = one core (container probes).
    Cpu,
    /// A container's memory in use (container probes).
    Memory,
}

impl Measure {
    fn of(self, sample: &ProbeSample) -> Option<f64> {
        match self {
            Measure::Latency => Some(sample.latency_ms),
            Measure::Value => sample.value,
            Measure::Cpu => sample.cpu_pct,
            Measure::Memory => sample.memory_bytes.map(|b| b as f64),
        }
    }

    fn label(self, v: f64) -> String {
        match self {
            Measure::Latency => fmt_ms(v),
            Measure::Value => {
                let text = format!("{v:.2}");
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            Measure::Cpu => crate::gameday::units::CpuPercent(v).to_string(),
            Measure::Memory => crate::gameday::units::ByteSize(v).to_string(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Measure::Latency => "latency",
            Measure::Value => "value",
            Measure::Cpu => "cpu",
            Measure::Memory => "memory",
        }
    }
}

/// Latency (or value) over time: a min–max band, the mean line, and failure marks.
pub(crate) fn latency_chart(
    probe: &str,
    kind: &str,
    series: LatencySeries,
    phases: &[Phase],
) -> Chart {
    let (measure, range) = (series.measure, series.range);
    let frame = Frame {
        from: range.0,
        to: range.1,
    };
    let buckets = series.buckets();
    let columns = buckets.len();
    let y_max = nice_ceiling(
        buckets
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| b.max)
            .fold(0.0, f64::max),
    );
    let h = Frame::plot_height();
    let y = |v: f64| TOP + h - (v / y_max).clamp(0.0, 1.0) * h;
    let x_of = |i: usize| LEFT + (i as f64 + 0.5) / columns as f64 * Frame::plot_width();

    let mut out = String::new();
    open_svg(
        &mut out,
        &format!("{probe}: {} over time", measure.name()),
        measure.name(),
    );
    phases_and_axis(&mut out, &frame, phases);
    grid(&mut out, y_max, y, |v| measure.label(v));
    let filled: Vec<(usize, &Bucket)> = buckets
        .iter()
        .enumerate()
        .filter(|(_, b)| b.count > 0)
        .collect();
    // Series 1: the min–max band.
    let _ = write!(
        out,
        r#"<g class="series band" data-series="{} min-max">"#,
        measure.name()
    );
    if !filled.is_empty() {
        out.push_str(r#"<polygon points=""#);
        for (i, b) in &filled {
            let _ = write!(out, "{:.1},{:.1} ", x_of(*i), y(b.max));
        }
        for (i, b) in filled.iter().rev() {
            let _ = write!(out, "{:.1},{:.1} ", x_of(*i), y(b.min));
        }
        out.push_str(r#""/>"#);
    }
    out.push_str("</g>");
    // Series 2: the mean.
    let _ = write!(
        out,
        r#"<g class="series mean" data-series="{} mean">"#,
        measure.name()
    );
    if !filled.is_empty() {
        out.push_str(r#"<polyline points=""#);
        for (i, b) in &filled {
            let _ = write!(out, "{:.1},{:.1} ", x_of(*i), y(b.sum / b.count as f64));
        }
        out.push_str(r#""/>"#);
    }
    out.push_str("</g>");
    // Series 3: failures, as marks along the top.
    out.push_str(r#"<g class="series failures" data-series="failures">"#);
    let width = (Frame::plot_width() / columns as f64).max(1.5);
    for (i, b) in buckets.iter().enumerate() {
        if b.fails > 0 {
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{TOP}" width="{width:.1}" height="6"/>"#,
                x_of(i) - width / 2.0
            );
        }
    }
    out.push_str("</g></svg>");
    Chart {
        probe: probe.to_string(),
        kind: kind.to_string(),
        svg: out,
        series: 3,
    }
}

/// The container state over time, as coloured segments.
pub(crate) fn state_chart(probe: &str, series: StateSeries, phases: &[Phase]) -> Chart {
    let range = series.range;
    let frame = Frame {
        from: range.0,
        to: range.1,
    };
    let mut out = String::new();
    open_svg(
        &mut out,
        &format!("{probe}: container state over time"),
        "state",
    );
    phases_and_axis(&mut out, &frame, phases);
    out.push_str(r#"<g class="series states" data-series="state">"#);
    let in_range = series.points();
    let band_y = TOP + Frame::plot_height() / 2.0 - 14.0;
    // Merge runs of the same state into one segment each.
    let mut i = 0;
    while i < in_range.len() {
        let state = in_range[i].1;
        let mut j = i;
        while j + 1 < in_range.len() && in_range[j + 1].1 == state {
            j += 1;
        }
        let start = in_range[i].0;
        let end = in_range.get(j + 1).map(|p| p.0).unwrap_or(range.1);
        let name = state.map(ContainerState::name).unwrap_or("unknown");
        let (x0, x1) = (frame.x(start), frame.x(end));
        let _ = write!(
            out,
            r#"<rect class="state-{name}" x="{x0:.1}" y="{band_y:.1}" width="{:.1}" height="28"><title>{name}</title></rect>"#,
            (x1 - x0).max(1.0)
        );
        if x1 - x0 > 50.0 {
            let _ = write!(
                out,
                r#"<text class="state-label" x="{:.1}" y="{:.1}">{name}</text>"#,
                x0 + 4.0,
                band_y + 18.0
            );
        }
        i = j + 1;
    }
    out.push_str("</g></svg>");
    Chart {
        probe: probe.to_string(),
        kind: "container".to_string(),
        svg: out,
        series: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: f64, ok: bool, latency_ms: f64) -> ProbeSample {
        ProbeSample {
            probe: 0,
            t_ms,
            at: chrono::DateTime::UNIX_EPOCH,
            ok,
            latency_ms,
            status: None,
            state: None,
            error: None,
            ..Default::default()
        }
    }

    #[test]
    fn a_spike_survives_downsampling() {
        let mut samples: Vec<ProbeSample> = (0..36_000)
            .map(|i| sample(f64::from(i) * 100.0, true, 5.0))
            .collect();
        samples[20_000].latency_ms = 4_000.0;
        samples[20_000].ok = false;
        let mut series = LatencySeries::new(Measure::Latency, (0.0, 3_600_000.0));
        // In any order: the result does not depend on it.
        samples.iter().rev().for_each(|s| series.push(s));
        let chart = latency_chart("api", "http", series, &[]);
        assert!(chart.svg.len() < 60_000, "{} bytes", chart.svg.len());
        // The y axis reaches the spike, and its failure is marked.
        assert!(chart.svg.contains(">5s<"), "spike lost");
        assert_eq!(chart.svg.matches("<rect x=").count(), 1);
    }

    #[test]
    fn text_is_escaped() {
        let series = LatencySeries::new(Measure::Latency, (0.0, 1.0));
        let chart = latency_chart("<script>alert(1)</script>", "http", series, &[]);
        assert!(!chart.svg.contains("<script>"));
        assert!(chart.svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
