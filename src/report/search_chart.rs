//! The chart of a breaking-point search, inline SVG like the report's
//! other charts ([`super::chart`]): across, the value tried (the search's
//! range, `from` to `to`); up, the `until` check's measured figure in each
//! trial, a circle where the system held and a square where it broke; the
//! `until` threshold as a horizontal line (a relative one, whose limit
//! follows each trial's before window, as a dash at each trial); and the
//! bracket found, between the highest value that held and the lowest that
//! broke, shaded. Every user-written string is escaped.

use std::fmt::Write as _;

use super::chart::{Frame, HEIGHT, LEFT, RIGHT, TOP, esc, grid, nice_ceiling, open_svg};
use crate::gameday::decode::say;
use crate::gameday::model::Unit;
use crate::gameday::units::{ByteSize, HumanDuration, Percent, RequestRate, Threshold};
use crate::record::result::show_value;
use crate::record::trials::{SearchFindings, TrialResult};

/// Where values and figures land: the search's range across (with a
/// margin so the end points are not on the frame), the figures up.
#[derive(Debug, Clone, Copy)]
pub(super) struct SearchFrame {
    from: f64,
    to: f64,
    y_max: f64,
}

impl SearchFrame {
    fn new(f: &SearchFindings, figures: impl Iterator<Item = f64>) -> SearchFrame {
        let span = (f.to - f.from).abs().max(f.resolution).max(1e-9);
        let margin = span * 0.04;
        let highest = figures.fold(0.0, f64::max);
        let y_max = match f.unit {
            Unit::Percent => 100.0,
            Unit::Ms | Unit::Count | Unit::Number | Unit::Bytes | Unit::PerSecond => {
                nice_ceiling(highest)
            }
        };
        SearchFrame {
            from: f.from - margin,
            to: f.from + span + margin,
            y_max,
        }
    }

    pub(super) fn x(&self, value: f64) -> f64 {
        let t = ((value - self.from) / (self.to - self.from)).clamp(0.0, 1.0);
        LEFT + t * Frame::plot_width()
    }

    pub(super) fn y(&self, figure: f64) -> f64 {
        let h = Frame::plot_height();
        TOP + h - (figure / self.y_max).clamp(0.0, 1.0) * h
    }
}

/// A trial as a point: the value tried, `until`'s figure, whether it
/// broke, and the limit of a relative `until`.
struct Point {
    trial: usize,
    value: f64,
    figure: Option<f64>,
    broke: Option<bool>,
    limit: Option<f64>,
}

fn points(trials: &[TrialResult]) -> Vec<Point> {
    trials
        .iter()
        .filter_map(|t| {
            Some(Point {
                trial: t.trial,
                value: t.value?,
                figure: t.until.as_ref().and_then(|u| u.value),
                broke: t.broke(),
                limit: t.until.as_ref().and_then(|u| u.relative.as_ref()?.limit),
            })
        })
        .collect()
}

/// The figure an absolute `until` is held to, read from its words
/// (`login: success_rate < 50% during fault`) in its figure's unit; none
/// for a relative one (`< 2x before`) or words it cannot read.
pub(super) fn threshold_of(until: &str, unit: Unit) -> Option<f64> {
    let words: Vec<&str> = until.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| matches!(*w, "<" | "<=" | ">" | ">=" | "==" | "!="))?;
    let value = *words.get(at + 1)?;
    if value.contains("before") || words.get(at + 2).is_some_and(|w| *w == "of") {
        return None;
    }
    let text = format!("{} {value}", words[at]);
    let amounts = match unit {
        Unit::Percent => text.parse::<Threshold<Percent>>().ok()?.in_amounts(),
        Unit::Ms => text.parse::<Threshold<HumanDuration>>().ok()?.in_amounts(),
        Unit::Bytes => text.parse::<Threshold<ByteSize>>().ok()?.in_amounts(),
        Unit::PerSecond => text.parse::<Threshold<RequestRate>>().ok()?.in_amounts(),
        Unit::Count | Unit::Number => return value.parse().ok(),
    };
    match amounts {
        Threshold::Absolute(c) => Some(c.value),
        Threshold::Relative(_) => None,
    }
}

/// The search's chart, or none when no trial tried a value.
pub(super) fn draw(f: &SearchFindings, trials: &[TrialResult]) -> Option<String> {
    let points = points(trials);
    if points.is_empty() {
        return None;
    }
    let unit = trials
        .iter()
        .find_map(|t| t.until.as_ref()?.unit)
        .unwrap_or(Unit::Number);
    let threshold = threshold_of(&f.until, unit);
    let figures = points
        .iter()
        .flat_map(|p| [p.figure, p.limit])
        .chain([threshold])
        .flatten();
    let frame = SearchFrame::new(f, figures);
    let mut out = String::new();
    open_svg(
        &mut out,
        &format!("{}: {} per value tried", f.vary, f.until),
        "search",
    );
    bracket(&mut out, &frame, f);
    axis(&mut out, &frame, f);
    grid(
        &mut out,
        frame.y_max,
        |v| frame.y(v),
        |v| show_value(Some(unit), "", Some(v)),
    );
    until_line(&mut out, &frame, threshold, &points);
    marks(&mut out, &frame, f, unit, &points);
    out.push_str("</svg>");
    Some(out)
}

/// The bracket between the highest value that held and the lowest that
/// broke, shaded the full height.
fn bracket(out: &mut String, frame: &SearchFrame, f: &SearchFindings) {
    let (Some(holds), Some(breaks)) = (f.holds_at, f.breaks_at) else {
        return;
    };
    let (x0, x1) = (frame.x(holds.min(breaks)), frame.x(holds.max(breaks)));
    let _ = write!(
        out,
        r#"<g class="series bracket" data-series="bracket"><rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}"><title>{}</title></rect><text class="phase-label" x="{x0:.1}" y="{:.1}">breaking point</text></g>"#,
        (x1 - x0).max(1.0),
        Frame::plot_height(),
        esc(&f.finding),
        TOP - 3.0
    );
}

/// The base line and five values of the range along it, each one the
/// search could try.
fn axis(out: &mut String, frame: &SearchFrame, f: &SearchFindings) {
    let base = TOP + Frame::plot_height();
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}"/>"#,
        super::chart::WIDTH - RIGHT
    );
    for i in 0..=4 {
        // On the grid of values the search could try.
        let step = f.resolution.max(1e-9);
        let v = f.from + ((f.to - f.from) * f64::from(i) / 4.0 / step).round() * step;
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            frame.x(v),
            HEIGHT - 6.0,
            esc(&say(f.unit, v))
        );
    }
}

/// The threshold `until` holds the figure to: a line across, or a dash at
/// each trial for a relative one.
fn until_line(out: &mut String, frame: &SearchFrame, threshold: Option<f64>, points: &[Point]) {
    out.push_str(r#"<g class="series threshold" data-series="until">"#);
    if let Some(limit) = threshold {
        let y = frame.y(limit);
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">until</text>"#,
            super::chart::WIDTH - RIGHT,
            super::chart::WIDTH - RIGHT - 2.0,
            y - 3.0
        );
    } else {
        for p in points {
            if let Some(limit) = p.limit {
                let (x, y) = (frame.x(p.value), frame.y(limit));
                let _ = write!(
                    out,
                    r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
                    x - 8.0,
                    x + 8.0
                );
            }
        }
    }
    out.push_str("</g>");
}

/// A circle per trial that held, a square per trial that broke; a trial
/// that measured nothing is a tick on the axis.
fn marks(out: &mut String, frame: &SearchFrame, f: &SearchFindings, unit: Unit, points: &[Point]) {
    out.push_str(r#"<g class="series trials" data-series="trials">"#);
    for p in points {
        let word = super::trials::held_or_broke(p.broke);
        let class = word.replace(' ', "-");
        let x = frame.x(p.value);
        let title = format!(
            "trial {}: {} = {}, {}: {word}",
            p.trial,
            f.vary,
            say(f.unit, p.value),
            show_value(Some(unit), "", p.figure)
        );
        let title = esc(&title);
        match (p.figure, p.broke) {
            (Some(figure), Some(true)) => {
                let y = frame.y(figure);
                let _ = write!(
                    out,
                    r#"<rect class="point {class}" x="{:.1}" y="{:.1}" width="8" height="8"><title>{title}</title></rect>"#,
                    x - 4.0,
                    y - 4.0
                );
            }
            (Some(figure), Some(false) | None) => {
                let y = frame.y(figure);
                let _ = write!(
                    out,
                    r#"<circle class="point {class}" cx="{x:.1}" cy="{y:.1}" r="4"><title>{title}</title></circle>"#
                );
            }
            (None, _) => {
                let base = TOP + Frame::plot_height();
                let _ = write!(
                    out,
                    r#"<line class="point unmeasured" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{base:.1}"><title>{title}</title></line>"#,
                    base - 8.0
                );
            }
        }
    }
    out.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(x, y)` of each `attr_x`/`attr_y` pair in the svg, for elements
    /// whose opening tag starts with `tag`.
    fn positions(svg: &str, tag: &str, ax: &str, ay: &str) -> Vec<(f64, f64)> {
        let read = |el: &str, name: &str| -> f64 {
            let at = el.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            el[at..].split('"').next().unwrap().parse().unwrap()
        };
        svg.split(tag)
            .skip(1)
            .map(|el| (read(el, ax), read(el, ay)))
            .collect()
    }

    #[test]
    fn every_trial_is_a_point_inside_the_plot() {
        let t = super::super::trials::tests::search();
        let svg = draw(t.search.as_ref().unwrap(), &t.trials).unwrap();
        let held = positions(&svg, "<circle class=\"point held\"", "cx", "cy");
        let broke = positions(&svg, "<rect class=\"point broke\"", "x", "y");
        assert_eq!((held.len(), broke.len()), (2, 3));
        let (right, bottom) = (
            super::super::chart::WIDTH - RIGHT,
            TOP + Frame::plot_height(),
        );
        // A square's corner is 4 left of and above its centre.
        let centres = held
            .iter()
            .copied()
            .chain(broke.iter().map(|(x, y)| (x + 4.0, y + 4.0)));
        for (x, y) in centres {
            assert!(x > LEFT && x < right, "x {x} outside the plot");
            assert!((TOP..=bottom).contains(&y), "y {y} outside the plot");
        }
        // Values in order across: 800 (held) left of 900 (held); 1600 rightmost.
        assert!(held[0].0 < held[1].0);
        assert!(broke[0].0 > broke[1].0 && broke[0].0 > broke[2].0);
        // 0% at the bottom, 95% near the top.
        assert!((broke[0].1 + 4.0 - bottom).abs() < 0.1);
        assert!(held[0].1 < TOP + 0.1 * Frame::plot_height());
    }

    #[test]
    fn the_until_threshold_is_a_line_at_its_height_and_the_bracket_is_shaded() {
        let t = super::super::trials::tests::search();
        let f = t.search.as_ref().unwrap();
        let svg = draw(f, &t.trials).unwrap();
        // 50% of 0..100: halfway down the plot.
        let half = TOP + Frame::plot_height() / 2.0;
        let line = format!(
            r#"<g class="series threshold" data-series="until"><line x1="{LEFT}" y1="{half:.1}""#
        );
        assert!(svg.contains(&line), "{svg}");
        let frame = SearchFrame::new(f, [0.0].into_iter());
        let (x0, x1) = (frame.x(900.0), frame.x(1000.0));
        let shaded = format!(
            r#"<g class="series bracket" data-series="bracket"><rect x="{x0:.1}" y="{TOP}" width="{:.1}""#,
            x1 - x0
        );
        assert!(svg.contains(&shaded), "{svg}");
        assert!(x0 > LEFT && x1 < super::super::chart::WIDTH - RIGHT && x1 > x0);
    }

    #[test]
    fn thresholds_are_read_in_their_figure_s_unit() {
        let read = threshold_of;
        assert_eq!(
            read("login: success_rate < 50% during fault", Unit::Percent),
            Some(50.0)
        );
        assert_eq!(
            read("api: latency_p99 >= 1.5s during fault", Unit::Ms),
            Some(1500.0)
        );
        assert_eq!(
            read("api: latency_p99 < 2x before during fault", Unit::Ms),
            None
        );
        assert_eq!(
            read(
                "api: success_rate >= 90% of before during fault",
                Unit::Percent
            ),
            None
        );
        assert_eq!(read("q: value > 3 during fault", Unit::Number), Some(3.0));
    }

    #[test]
    fn a_relative_until_is_a_dash_at_each_trial_and_text_is_escaped() {
        let mut t = super::super::trials::tests::search();
        let f = t.search.as_mut().unwrap();
        f.until = "<b>: success_rate < 2x before during fault".into();
        f.vary = "<i>".into();
        for trial in &mut t.trials {
            let until = trial.until.as_mut().unwrap();
            until.relative = Some(crate::expect::RelativeFigures {
                before: Some(25.0),
                limit: Some(50.0),
                ratio: None,
            });
        }
        let svg = draw(t.search.as_ref().unwrap(), &t.trials).unwrap();
        let dashes = svg
            .split(r#"data-series="until">"#)
            .nth(1)
            .unwrap()
            .split("</g>")
            .next()
            .unwrap()
            .matches("<line ")
            .count();
        assert_eq!(dashes, 5);
        assert!(!svg.contains("<b>") && !svg.contains("<i>"));
    }
}
