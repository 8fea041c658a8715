//! The charts of a sweep report: a metric against one swept parameter (one line per
//! policy), or a heat map of a metric over the first two parameters (one per policy).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::SweepMetric;
use super::draw::{
    Ctx, Line, R, builder, color, finite, label_style, legend, no_data, segment_label, short, tidy,
    y_range,
};
use super::policies;
use crate::fmt;
use crate::schema::{ParamValue, Report, Run, SweepPoint};

impl SweepMetric {
    /// Short name, for file stems.
    pub(super) fn id(self) -> &'static str {
        match self {
            SweepMetric::Throughput => "throughput",
            SweepMetric::Cpu => "cpu",
            SweepMetric::P99 => "p99",
            SweepMetric::HwShare => "hw_share",
            SweepMetric::BusiestCpu => "busiest_cpu",
            SweepMetric::Refusals => "refusals",
        }
    }

    /// Whether the metric only means something for a configuration with a hardware table.
    pub(super) fn needs_table(self) -> bool {
        matches!(self, SweepMetric::HwShare | SweepMetric::Refusals)
    }

    /// Chart title.
    pub(super) fn title(self) -> &'static str {
        match self {
            SweepMetric::Throughput => "Delivered throughput",
            SweepMetric::Cpu => "Mean CPU utilisation",
            SweepMetric::P99 => "p99 latency",
            SweepMetric::HwShare => "Packets forwarded by hardware",
            SweepMetric::BusiestCpu => "Busiest core's CPU utilisation",
            SweepMetric::Refusals => "Hardware insertions refused",
        }
    }

    /// The metric of run `r`, in the unit [`SweepMetric::label`] formats.
    pub(super) fn value(self, r: &Run) -> f64 {
        match self {
            SweepMetric::Throughput => r.throughput.delivered_bps,
            SweepMetric::Cpu => r.cpu.util_mean * 100.0,
            SweepMetric::P99 => r.latency_ns.overall.p99 as f64,
            SweepMetric::HwShare => r.paths.shares().2 * 100.0,
            SweepMetric::BusiestCpu => {
                r.cpu.busiest_core().map_or(r.cpu.util_mean, |(_, u)| u) * 100.0
            }
            SweepMetric::Refusals => r.nic.refusals as f64,
        }
    }

    /// A value of the metric as text.
    pub(super) fn label(self, v: f64) -> String {
        match self {
            SweepMetric::Throughput => fmt::bps(v),
            SweepMetric::Cpu | SweepMetric::HwShare | SweepMetric::BusiestCpu => {
                format!("{} %", fmt::sig3(v))
            }
            SweepMetric::P99 => fmt::ns(v),
            SweepMetric::Refusals => fmt::count(v.max(0.0).round() as u64),
        }
    }
}

/// Distinct values of a parameter over the sweep points: numbers ascending, then strings
/// in order of first appearance.
fn distinct_values(report: &Report, param: &str) -> Vec<ParamValue> {
    let Some(sw) = &report.sweep else {
        return Vec::new();
    };
    let mut nums: Vec<f64> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for p in &sw.points {
        match p.values.get(param) {
            Some(ParamValue::Num(x)) if !nums.iter().any(|y| y.total_cmp(x).is_eq()) => {
                nums.push(*x)
            }
            Some(ParamValue::Text(s)) if !texts.contains(s) => texts.push(s.clone()),
            _ => {}
        }
    }
    nums.sort_by(|a, b| a.total_cmp(b));
    nums.into_iter()
        .map(ParamValue::Num)
        .chain(texts.into_iter().map(ParamValue::Text))
        .collect()
}

/// Parameter values equal for charting (numbers bit-for-bit via `total_cmp`).
fn same_value(a: &ParamValue, b: &ParamValue) -> bool {
    match (a, b) {
        (ParamValue::Num(x), ParamValue::Num(y)) => x.total_cmp(y).is_eq(),
        (ParamValue::Text(x), ParamValue::Text(y)) => x == y,
        _ => false,
    }
}

/// A metric against the sweep's one parameter (or the point order), one line per policy.
pub(super) fn draw_sweep_line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    metric: SweepMetric,
    title: &str,
) -> R<()> {
    let Some(sw) = &report.sweep else {
        return no_data(area, title, "no sweep");
    };
    let param = sw.parameters.first().cloned().unwrap_or_default();
    let xs = distinct_values(report, &param);
    let pols = policies(report);
    // x position of each point: index of its value (or its order when there is no parameter).
    let mut lines = Vec::new();
    for (k, pol) in pols.iter().enumerate() {
        let mut pts = Vec::new();
        for (order, p) in sw.points.iter().enumerate() {
            let x = match p.values.get(&param) {
                Some(v) => match xs.iter().position(|u| same_value(u, v)) {
                    Some(i) => i,
                    None => continue,
                },
                None => order,
            };
            for name in &p.runs {
                if let Some(r) = report.run(name).filter(|r| r.policy == *pol) {
                    pts.push((x as f64, metric.value(r)));
                }
            }
        }
        lines.push(Line {
            name: pol.clone(),
            color: color(k),
            points: pts,
            dashed: false,
            width: 2,
        });
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        return no_data(area, title, "no data");
    }
    let labels: Vec<String> = if xs.is_empty() {
        sw.points.iter().map(|p| short(&p.name, 16)).collect()
    } else {
        xs.iter().map(|v| short(&v.to_string(), 16)).collect()
    };
    let n = labels.len().max(1) as u32;
    let (y0, y1) = y_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let mut ch = builder(area, title, 90)
        .build_cartesian_2d((0u32..n - 1).into_segmented(), y0..y1)
        .e()?;
    ch.configure_mesh()
        .disable_x_mesh()
        .x_desc(param.as_str())
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(n as usize)
        .x_label_formatter(&|v| segment_label(&labels, v))
        .y_label_formatter(&|v| tidy(metric.label(*v)))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    for l in &lines {
        let style = ShapeStyle::from(&l.color).stroke_width(2);
        let pts: Vec<(SegmentValue<u32>, f64)> = l
            .points
            .iter()
            .map(|&(x, y)| (SegmentValue::CenterOf(x as u32), finite(y)))
            .collect();
        ch.draw_series(LineSeries::new(pts.clone(), style))
            .e()?
            .label(short(&l.name, 30))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        ch.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, style.filled())))
            .e()?;
    }
    legend(&mut ch, SeriesLabelPosition::UpperRight, 0.85)
}

/// Viridis-like colour for `t` in `[0, 1]`.
fn heat_color(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heat map of a metric of `policy` over the first two parameters (the others held at
/// the first point's values), each cell labelled with its value.
pub(super) fn draw_sweep_heat<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    metric: SweepMetric,
    policy: &str,
    title: &str,
) -> R<()> {
    let Some(sw) = &report.sweep else {
        return no_data(area, title, "no sweep");
    };
    if sw.parameters.len() < 2 || sw.points.is_empty() {
        return no_data(area, title, "needs two parameters");
    }
    let (px, py) = (&sw.parameters[0], &sw.parameters[1]);
    let xs = distinct_values(report, px);
    let ys = distinct_values(report, py);
    // Other parameters are held at the first point's values.
    let first = &sw.points[0];
    let fixed: Vec<(&String, &ParamValue)> = sw.parameters[2..]
        .iter()
        .filter_map(|p| first.values.get(p).map(|v| (p, v)))
        .collect();
    let axes = [(px.as_str(), xs.as_slice()), (py.as_str(), ys.as_slice())];
    let cells = heat_cells(report, &sw.points, axes, &fixed, metric, policy);
    if cells.is_empty() || xs.is_empty() || ys.is_empty() {
        return no_data(area, title, "no data");
    }
    let lo = cells.iter().map(|c| c.2).fold(f64::INFINITY, f64::min);
    let hi = cells.iter().map(|c| c.2).fold(f64::NEG_INFINITY, f64::max);
    let caption = if fixed.is_empty() {
        format!("{title}: {} … {}", metric.label(lo), metric.label(hi))
    } else {
        let f: Vec<String> = fixed.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{title} at {}: {} … {}",
            f.join(", "),
            metric.label(lo),
            metric.label(hi)
        )
    };
    let (nx, ny) = (xs.len() as u32, ys.len() as u32);
    let xl: Vec<String> = xs.iter().map(|v| short(&v.to_string(), 16)).collect();
    let yl: Vec<String> = ys.iter().map(|v| short(&v.to_string(), 12)).collect();
    let (w, _) = area.dim_in_pixel();
    let (area, scale) = area.split_horizontally(w.saturating_sub(SCALE_WIDTH));
    colour_scale(&scale, metric, lo, hi)?;
    let area = &area;
    let mut ch = builder(area, &short(&caption, 80), 90)
        .build_cartesian_2d(
            (0u32..nx - 1).into_segmented(),
            (0u32..ny - 1).into_segmented(),
        )
        .e()?;
    ch.configure_mesh()
        .disable_mesh()
        .x_desc(px.as_str())
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(nx as usize)
        .y_labels(ny as usize)
        .x_label_formatter(&|v| segment_label(&xl, v))
        .y_label_formatter(&|v| segment_label(&yl, v))
        .draw()
        .e()?;
    // The y parameter's name, level under the y axis: a rotated name lost its dots
    // ("replayrate_gbps" for "replay.rate_gbps").
    let (_, h) = area.dim_in_pixel();
    let style = label_style().pos(Pos::new(HPos::Left, VPos::Bottom));
    area.draw(&Text::new(
        format!("↑ {}", short(py, 28)),
        (6, h as i32 - 6),
        style,
    ))
    .e()?;
    let span = if hi > lo { hi - lo } else { 1.0 };
    ch.draw_series(cells.iter().map(|&(i, j, v)| {
        let (i, j) = (i as u32, j as u32);
        let mut rect = Rectangle::new(
            [
                (SegmentValue::Exact(i), SegmentValue::Exact(j)),
                (SegmentValue::Exact(i + 1), SegmentValue::Exact(j + 1)),
            ],
            heat_color((v - lo) / span).filled(),
        );
        rect.set_margin(1, 1, 1, 1);
        rect
    }))
    .e()?;
    ch.draw_series(cells.iter().map(|&(i, j, v)| {
        let t = (v - lo) / span;
        let c = if t < 0.6 { WHITE } else { BLACK };
        let style = ("sans-serif", 15)
            .into_font()
            .color(&c)
            .pos(Pos::new(HPos::Center, VPos::Center));
        Text::new(
            metric.label(v),
            (
                SegmentValue::CenterOf(i as u32),
                SegmentValue::CenterOf(j as u32),
            ),
            style,
        )
    }))
    .e()?;
    Ok(())
}

/// Width of a heat map's colour scale, pixels.
const SCALE_WIDTH: u32 = 130;

/// The colour scale of a heat map: a vertical gradient from `lo` (bottom) to `hi`, its
/// values labelled in the metric's unit and the metric named above it.
fn colour_scale<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    metric: SweepMetric,
    lo: f64,
    hi: f64,
) -> R<()> {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let mut ch = ChartBuilder::on(area)
        // The same top as the map beside it (caption ~ 32 px + margin), so they line up.
        .margin_top(44)
        .margin_bottom(52)
        .margin_left(8)
        .margin_right(4)
        .y_label_area_size(0)
        .right_y_label_area_size(78)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .e()?;
    ch.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .label_style(label_style())
        .y_label_formatter(&|v| tidy(metric.label(*v)))
        .draw()
        .e()?;
    const STEPS: usize = 64;
    ch.draw_series((0..STEPS).map(|i| {
        let a = lo + (hi - lo) * i as f64 / STEPS as f64;
        let b = lo + (hi - lo) * (i + 1) as f64 / STEPS as f64;
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            heat_color((i as f64 + 0.5) / STEPS as f64).filled(),
        )
    }))
    .e()?;
    Ok(())
}

/// The cells of a heat map: for each point whose other parameters are `fixed`, the
/// positions of its values on the `[x, y]` axes (parameter name and distinct values) and
/// the metric of its run of `policy`.
fn heat_cells(
    report: &Report,
    points: &[SweepPoint],
    [(px, xs), (py, ys)]: [(&str, &[ParamValue]); 2],
    fixed: &[(&String, &ParamValue)],
    metric: SweepMetric,
    policy: &str,
) -> Vec<(usize, usize, f64)> {
    let mut cells: Vec<(usize, usize, f64)> = Vec::new();
    for p in points {
        if !fixed
            .iter()
            .all(|(k, v)| p.values.get(*k).is_some_and(|u| same_value(u, v)))
        {
            continue;
        }
        let (Some(vx), Some(vy)) = (p.values.get(px), p.values.get(py)) else {
            continue;
        };
        let (Some(i), Some(j)) = (
            xs.iter().position(|u| same_value(u, vx)),
            ys.iter().position(|u| same_value(u, vy)),
        ) else {
            continue;
        };
        if let Some(r) = p
            .runs
            .iter()
            .filter_map(|n| report.run(n))
            .find(|r| r.policy == policy)
        {
            cells.push((i, j, finite(metric.value(r))));
        }
    }
    cells
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn heat_colors_span_the_scale() {
        assert_eq!(heat_color(0.0), RGBColor(68, 1, 84));
        assert_eq!(heat_color(1.0), RGBColor(253, 231, 37));
        assert_eq!(heat_color(f64::NAN), RGBColor(68, 1, 84));
    }
}
