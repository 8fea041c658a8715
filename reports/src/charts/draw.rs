//! The pieces every chart shares: colours, axis ranges and labels, text styles, the
//! "no data" panel, the chart builder and legend, and the line chart itself.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::policies;
use crate::schema::{Report, Run};

pub(super) type R<T> = Result<T, String>;

pub(super) trait Ctx<T> {
    fn e(self) -> R<T>;
}

impl<T, E: std::fmt::Display> Ctx<T> for Result<T, E> {
    fn e(self) -> R<T> {
        self.map_err(|e| e.to_string())
    }
}

/// Colours of configurations (cycled).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

pub(super) const GREY: RGBColor = RGBColor(150, 150, 150);

/// The offered load: a light band under the delivered lines.
pub(super) const OFFERED: RGBColor = RGBColor(205, 205, 205);

/// Colour `i` of the palette (cycled).
pub(super) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Colour for a run: by its policy's position among the report's policies, so that the
/// same policy has the same colour on every chart.
pub(super) fn run_color(report: &Report, r: &Run) -> RGBColor {
    let p = policies(report);
    color(p.iter().position(|x| *x == r.policy).unwrap_or(0))
}

/// Axis label without trailing zeros: `1.00 ms` → `1 ms`, `0.200` → `0.2`.
pub(super) fn tidy(s: String) -> String {
    let (num, rest) = match s.find(' ') {
        Some(i) => s.split_at(i),
        None => (s.as_str(), ""),
    };
    if !num.contains('.') || num.contains('e') {
        return s;
    }
    let t = num.trim_end_matches('0').trim_end_matches('.');
    format!("{t}{rest}")
}

/// `s` cut to `n` characters, with `…` when cut.
pub(super) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `v`, or 0 when it is NaN or infinite.
pub(super) fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A y range from 0 (or the minimum when negative) to the maximum plus 10 %, never empty.
pub(super) fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values.map(finite) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        hi = lo + 1.0;
    }
    (lo, hi + (hi - lo) * 0.08)
}

/// An x range over the values, never empty.
pub(super) fn x_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - pad, hi + pad);
    }
    (lo, hi)
}

/// A positive log range over the values (values ≤ 0 ignored), never empty.
pub(super) fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    if hi / lo < 1.5 {
        return (lo / 2.0, hi * 2.0);
    }
    (lo / 1.2, hi * 1.2)
}

/// Text style of chart titles.
pub(super) fn title_style() -> TextStyle<'static> {
    ("sans-serif", 20).into_font().color(&BLACK)
}

/// Text style of axis labels and legends.
pub(super) fn label_style() -> TextStyle<'static> {
    ("sans-serif", 14).into_font().color(&BLACK)
}

/// A panel with `title` and a grey `note` in the middle, for a chart with nothing to draw.
pub(super) fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
) -> R<()> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(title.to_string(), (12, 10), title_style()))
        .e()?;
    let style = ("sans-serif", 18)
        .into_font()
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(
        note.to_string(),
        (w as i32 / 2, h as i32 / 2),
        style,
    ))
    .e()?;
    Ok(())
}

/// The label of segment `v` on an axis of named segments (`labels[i]` for segment `i`).
pub(super) fn segment_label(labels: &[String], v: &SegmentValue<u32>) -> String {
    match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            labels.get(*i as usize).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}

/// A chart builder in the house layout: `title` on top, a 12 px margin, 40 px for the x
/// labels and `y_label_area` px for the y labels.
pub(super) fn builder<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_label_area: u32,
) -> ChartBuilder<'a, 'static, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(title, title_style())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_label_area);
    b
}

/// Draw the legend of `ch` at `pos`, on a white box of opacity `opacity` with a grey
/// border.
pub(super) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    ch: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
    opacity: f64,
) -> R<()> {
    ch.configure_series_labels()
        .position(pos)
        .label_font(label_style())
        .background_style(WHITE.mix(opacity))
        .border_style(GREY)
        .draw()
        .e()
}

/// One named line.
pub(super) struct Line {
    pub(super) name: String,
    pub(super) color: RGBColor,
    pub(super) points: Vec<(f64, f64)>,
    pub(super) dashed: bool,
    /// Stroke width, pixels.
    pub(super) width: u32,
}

/// A linear line chart of `lines` with value labels formatted by `xfmt` and `yfmt`.
#[allow(clippy::too_many_arguments)] // a private helper; a struct would only rename them
pub(super) fn line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    xfmt: &dyn Fn(f64) -> String,
    yfmt: &dyn Fn(f64) -> String,
    hline: Option<(f64, &str)>,
    marks: &[(f64, String)],
) -> R<()> {
    if lines.iter().all(|l| l.points.is_empty()) {
        return no_data(area, title, "no data");
    }
    let (x0, x1) = x_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    let (y0, y1) = y_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain(hline.map(|h| h.0)),
    );
    let mut ch = builder(area, title, 90)
        .build_cartesian_2d(x0..x1, y0..y1)
        .e()?;
    ch.configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_label_formatter(&|v| tidy(xfmt(*v)))
        .y_label_formatter(&|v| tidy(yfmt(*v)))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    if let Some((y, name)) = hline {
        let style = ShapeStyle::from(&GREY).stroke_width(1);
        ch.draw_series(DashedLineSeries::new(vec![(x0, y), (x1, y)], 6, 4, style))
            .e()?
            .label(name.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    // Timeline events: a dotted vertical line and the event's name at the top.
    for (x, name) in marks.iter().filter(|m| (x0..=x1).contains(&m.0)) {
        let style = ShapeStyle::from(&GREY).stroke_width(1);
        ch.draw_series(DashedLineSeries::new(vec![(*x, y0), (*x, y1)], 3, 3, style))
            .e()?;
        ch.draw_series(std::iter::once(Text::new(
            short(name, 28),
            (*x, y1),
            label_style().pos(Pos::new(HPos::Left, VPos::Top)),
        )))
        .e()?;
    }
    for l in lines {
        let style = ShapeStyle::from(&l.color).stroke_width(l.width);
        let pts = downsample(
            &l.points
                .iter()
                .map(|&(x, y)| (finite(x), finite(y)))
                .collect::<Vec<_>>(),
        );
        let anno = if l.dashed {
            ch.draw_series(DashedLineSeries::new(pts.clone(), 8, 5, style))
                .e()?
        } else {
            ch.draw_series(LineSeries::new(pts.clone(), style)).e()?
        };
        anno.label(short(&l.name, 40))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if pts.len() == 1 {
            ch.draw_series(pts.iter().map(|&p| Circle::new(p, 4, style.filled())))
                .e()?;
        }
    }
    legend(&mut ch, SeriesLabelPosition::UpperRight, 0.85)
}

/// Most points drawn per line; longer series are averaged in equal groups (a chart is
/// under 1000 pixels wide, and the SVG stays small).
const MAX_POINTS_PER_LINE: usize = 1200;

/// Average consecutive groups of points so that at most [`MAX_POINTS_PER_LINE`] remain.
fn downsample(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if pts.len() <= MAX_POINTS_PER_LINE {
        return pts.to_vec();
    }
    let group = pts.len().div_ceil(MAX_POINTS_PER_LINE);
    pts.chunks(group)
        .map(|c| {
            let n = c.len() as f64;
            let (sx, sy) = c.iter().fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
            (sx / n, sy / n)
        })
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(y_range(std::iter::empty()), (0.0, 1.08));
        assert_eq!(y_range([0.0, 0.0].into_iter()), (0.0, 1.08));
        let (a, b) = x_range([5.0].into_iter());
        assert!(a < 5.0 && b > 5.0);
        let (a, b) = log_range([0.0, -1.0].into_iter());
        assert!(a > 0.0 && b > a);
        let (a, b) = log_range([100.0].into_iter());
        assert!(a < 100.0 && b > 100.0);
        let (a, b) = x_range([f64::NAN, f64::INFINITY].into_iter());
        assert!(a < b);
    }

    #[test]
    fn long_series_are_averaged() {
        let pts: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, (i % 2) as f64)).collect();
        let d = downsample(&pts);
        assert!(d.len() <= MAX_POINTS_PER_LINE && d.len() > MAX_POINTS_PER_LINE / 2);
        // Every full group averages the alternating 0/1 values to about 0.5.
        assert!(d[..d.len() - 1].iter().all(|p| (p.1 - 0.5).abs() < 0.1));
        assert_eq!(downsample(&pts[..10]), pts[..10].to_vec());
    }
}
