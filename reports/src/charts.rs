//! PNG and SVG charts of a report, drawn with plotters.
//!
//! Text uses DejaVu Sans embedded in the binary (the `dejavu` crate), registered once with
//! plotters' `ab_glyph` font table: no system font or fontconfig is needed, and the same
//! report always gives the same PNG and SVG bytes.
//!
//! [`plan_charts`] decides which charts a report gets (the HTML page lists the same ones);
//! [`render_png`] and [`render_svg`] draw one. Every chart copes with empty or degenerate
//! data (no series, a single point, all zeros): it is drawn with a "no data" note or a
//! padded axis range instead of failing.
//!
//! Charts: throughput and CPU over time per configuration, latency CDF per configuration and
//! per path (log x), hardware table occupancy and insert/refusal rates, path mix (stacked
//! bars), sweep line charts (one parameter) or heat maps (two or more), and the plan knee.

use std::path::Path;
use std::sync::Once;

use plotters::backend::{BitMapBackend, SVGBackend};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ReportError;
use crate::fmt;
use crate::schema::{ParamValue, Report, ReportKind, Run};

/// Width of every chart, pixels.
pub const WIDTH: u32 = 960;
/// Height of a single-panel chart, pixels.
pub const HEIGHT: u32 = 420;
/// Height of a two-panel chart, pixels.
pub const HEIGHT_TALL: u32 = 640;
/// Height of the three-panel hardware table chart, pixels.
pub const HEIGHT_NIC: u32 = 840;

/// Most runs drawn on a time-series or path-mix chart (the rest are summarised in tables).
pub const MAX_RUNS_PER_CHART: usize = 12;

/// A sweep metric drawn as a line chart or heat map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepMetric {
    /// Delivered throughput, bits per second.
    Throughput,
    /// Mean CPU utilisation, percent.
    Cpu,
    /// p99 latency, nanoseconds.
    P99,
    /// Share of packets forwarded by the hardware, percent.
    HwShare,
}

impl SweepMetric {
    fn id(self) -> &'static str {
        match self {
            SweepMetric::Throughput => "throughput",
            SweepMetric::Cpu => "cpu",
            SweepMetric::P99 => "p99",
            SweepMetric::HwShare => "hw_share",
        }
    }

    fn title(self) -> &'static str {
        match self {
            SweepMetric::Throughput => "Delivered throughput",
            SweepMetric::Cpu => "Mean CPU utilisation",
            SweepMetric::P99 => "p99 latency",
            SweepMetric::HwShare => "Packets forwarded by hardware",
        }
    }

    fn value(self, r: &Run) -> f64 {
        match self {
            SweepMetric::Throughput => r.throughput.delivered_bps,
            SweepMetric::Cpu => r.cpu.util_mean * 100.0,
            SweepMetric::P99 => r.latency_ns.p99 as f64,
            SweepMetric::HwShare => r.paths.shares().2 * 100.0,
        }
    }

    fn label(self, v: f64) -> String {
        match self {
            SweepMetric::Throughput => fmt::bps(v),
            SweepMetric::Cpu | SweepMetric::HwShare => format!("{} %", fmt::sig3(v)),
            SweepMetric::P99 => fmt::ns(v),
        }
    }
}

/// What a chart shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartKind {
    /// Offered and delivered throughput over time, per configuration.
    Throughput,
    /// Mean CPU utilisation over time, per configuration.
    Cpu,
    /// Latency CDF per configuration (log x).
    LatencyCdf,
    /// Latency CDF per path of one run (index into `runs`).
    LatencyPaths {
        /// Index of the run in `Report::runs`.
        run: usize,
    },
    /// Hardware table occupancy, and insert / refusal rates, over time.
    Nic,
    /// Path mix: stacked bars of slow / software / hardware shares per configuration.
    PathMix,
    /// Sweep over one parameter: a metric against the parameter, one line per policy.
    SweepLine {
        /// The metric.
        metric: SweepMetric,
    },
    /// Sweep over two or more parameters: heat map of a metric over the first two, for one
    /// policy.
    SweepHeat {
        /// The metric.
        metric: SweepMetric,
        /// The policy (runs' `policy` field).
        policy: String,
    },
    /// Capacity plan: delivered vs offered rate and p99 vs offered rate per configuration.
    PlanKnee,
}

/// One chart of a report: file stem (`<stem>.png`, `<stem>.svg`), title and content.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name without extension; made of fixed words and indices only, never of
    /// user-provided names.
    pub stem: String,
    /// Title (may contain user-provided names: escape before putting it in HTML).
    pub title: String,
    /// What is drawn.
    pub kind: ChartKind,
}

impl Chart {
    fn height(&self) -> u32 {
        match self.kind {
            ChartKind::Nic => HEIGHT_NIC,
            ChartKind::PlanKnee => HEIGHT_TALL,
            _ => HEIGHT,
        }
    }
}

fn chart(stem: impl Into<String>, title: impl Into<String>, kind: ChartKind) -> Chart {
    Chart {
        stem: stem.into(),
        title: title.into(),
        kind,
    }
}

/// The charts a report gets, in page order.
pub fn plan_charts(report: &Report) -> Vec<Chart> {
    let mut out = Vec::new();
    let sweep = report.kind == ReportKind::Sweep;
    if !sweep && !report.runs.is_empty() {
        if report.runs.iter().any(|r| !r.series.is_empty()) {
            out.push(chart(
                "throughput",
                "Throughput over time",
                ChartKind::Throughput,
            ));
            out.push(chart("cpu", "CPU utilisation over time", ChartKind::Cpu));
        }
        out.push(chart(
            "latency_cdf",
            "Latency CDF per configuration",
            ChartKind::LatencyCdf,
        ));
        for (i, r) in report.runs.iter().enumerate().take(MAX_RUNS_PER_CHART) {
            let p = &r.latency_ns.by_path;
            if p.slow.count + p.sw_fast.count + p.hw.count > 0 {
                out.push(chart(
                    format!("latency_paths_{i}"),
                    format!("Latency CDF per path: {}", r.name),
                    ChartKind::LatencyPaths { run: i },
                ));
            }
        }
        if report
            .runs
            .iter()
            .any(|r| r.nic.capacity > 0 || r.series.hw_occupancy.iter().any(|&x| x > 0))
        {
            out.push(chart(
                "nic",
                "Hardware flow table over time",
                ChartKind::Nic,
            ));
        }
    }
    if !report.runs.is_empty() && report.runs.len() <= MAX_RUNS_PER_CHART {
        out.push(chart(
            "paths",
            "Path mix per configuration",
            ChartKind::PathMix,
        ));
    }
    if let Some(sw) = &report.sweep
        && !sw.points.is_empty()
    {
        if sw.parameters.len() <= 1 {
            for m in [
                SweepMetric::Throughput,
                SweepMetric::Cpu,
                SweepMetric::P99,
                SweepMetric::HwShare,
            ] {
                out.push(chart(
                    format!("sweep_{}", m.id()),
                    format!(
                        "{} vs {}",
                        m.title(),
                        sw.parameters.first().map_or("point", |s| s.as_str())
                    ),
                    ChartKind::SweepLine { metric: m },
                ));
            }
        } else {
            for (k, policy) in policies(report).into_iter().enumerate() {
                for m in [SweepMetric::Cpu, SweepMetric::P99, SweepMetric::Throughput] {
                    out.push(chart(
                        format!("sweep_{}_{k}", m.id()),
                        format!("{} ({policy})", m.title()),
                        ChartKind::SweepHeat {
                            metric: m,
                            policy: policy.clone(),
                        },
                    ));
                }
            }
        }
    }
    if report.plan.as_ref().is_some_and(|p| !p.configs.is_empty()) {
        out.push(chart(
            "plan_knee",
            "Capacity: delivered rate and p99 latency vs offered rate",
            ChartKind::PlanKnee,
        ));
    }
    out
}

/// Distinct run policies in order of first appearance.
fn policies(report: &Report) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in &report.runs {
        if !out.contains(&r.policy) {
            out.push(r.policy.clone());
        }
    }
    out
}

static FONT: Once = Once::new();

/// Register the embedded DejaVu Sans as plotters' `sans-serif` (once per process).
pub fn ensure_font() {
    FONT.call_once(|| {
        // DejaVu Sans is a valid TrueType font; registration cannot fail for it. If it did,
        // drawing text would report `FontUnavailable` as a chart error (no panic).
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draw a chart as PNG into `path`.
pub fn render_png(report: &Report, c: &Chart, path: &Path) -> Result<(), ReportError> {
    ensure_font();
    let e = |msg: String| ReportError::Chart {
        chart: c.stem.clone(),
        msg,
    };
    let root = BitMapBackend::new(path, (WIDTH, c.height())).into_drawing_area();
    draw(&root, report, c).map_err(e)?;
    root.present()
        .map_err(|x| e(format!("{}: {x}", path.display())))?;
    Ok(())
}

/// Draw a chart as an SVG document.
pub fn render_svg(report: &Report, c: &Chart) -> Result<String, ReportError> {
    ensure_font();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, c.height())).into_drawing_area();
        draw(&root, report, c).map_err(|msg| ReportError::Chart {
            chart: c.stem.clone(),
            msg,
        })?;
        root.present().map_err(|x| ReportError::Chart {
            chart: c.stem.clone(),
            msg: x.to_string(),
        })?;
    }
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Drawing.

type R<T> = Result<T, String>;

trait Ctx<T> {
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

/// Path colours: slow, software fast path, hardware.
const PATH_COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];
const PATH_NAMES: [&str; 3] = ["slow path", "software fast path", "hardware"];
const GREY: RGBColor = RGBColor(150, 150, 150);

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Colour for a run: by its policy's position among the report's policies, so that the
/// same policy has the same colour on every chart.
fn run_color(report: &Report, r: &Run) -> RGBColor {
    let p = policies(report);
    color(p.iter().position(|x| *x == r.policy).unwrap_or(0))
}

/// Axis label without trailing zeros: `1.00 ms` → `1 ms`, `0.200` → `0.2`.
fn tidy(s: String) -> String {
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

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A y range from 0 (or the minimum when negative) to the maximum plus 10 %, never empty.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
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
fn x_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
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
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
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

fn title_style() -> TextStyle<'static> {
    ("sans-serif", 20).into_font().color(&BLACK)
}

fn label_style() -> TextStyle<'static> {
    ("sans-serif", 14).into_font().color(&BLACK)
}

fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, note: &str) -> R<()> {
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

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report, c: &Chart) -> R<()> {
    root.fill(&WHITE).e()?;
    match &c.kind {
        ChartKind::Throughput => draw_throughput(root, report, &c.title),
        ChartKind::Cpu => draw_cpu(root, report, &c.title),
        ChartKind::LatencyCdf => draw_latency_cdf(root, report, &c.title),
        ChartKind::LatencyPaths { run } => draw_latency_paths(root, report, *run, &c.title),
        ChartKind::Nic => draw_nic(root, report, &c.title),
        ChartKind::PathMix => draw_path_mix(root, report, &c.title),
        ChartKind::SweepLine { metric } => draw_sweep_line(root, report, *metric, &c.title),
        ChartKind::SweepHeat { metric, policy } => {
            draw_sweep_heat(root, report, *metric, policy, &c.title)
        }
        ChartKind::PlanKnee => draw_plan(root, report, &c.title),
    }
}

/// One named line.
struct Line {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
    dashed: bool,
}

/// Time of the middle of interval `i` of a run's series, seconds.
fn t_mid(r: &Run, i: usize) -> f64 {
    (r.series.start_ns as f64 + (i as f64 + 0.5) * r.series.interval_ns as f64) / 1e9
}

/// A linear line chart of `lines` with value labels formatted by `xfmt` and `yfmt`.
#[allow(clippy::too_many_arguments)] // a private helper; a struct would only rename them
fn line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    xfmt: &dyn Fn(f64) -> String,
    yfmt: &dyn Fn(f64) -> String,
    hline: Option<(f64, &str)>,
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
    let mut ch = ChartBuilder::on(area)
        .caption(title, title_style())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
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
    for l in lines {
        let style = ShapeStyle::from(&l.color).stroke_width(2);
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
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(label_style())
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()
        .e()?;
    Ok(())
}

/// Most points drawn per line; longer series are averaged in equal groups (a chart is
/// under 1000 pixels wide, and the SVG stays small).
pub const MAX_POINTS_PER_LINE: usize = 1200;

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

fn shown_runs(report: &Report) -> impl Iterator<Item = &Run> {
    report.runs.iter().take(MAX_RUNS_PER_CHART)
}

fn draw_throughput<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let mut lines = Vec::new();
    if let Some(first) = report
        .runs
        .iter()
        .find(|r| !r.series.offered_bps.is_empty())
    {
        lines.push(Line {
            name: "offered".into(),
            color: GREY,
            points: first
                .series
                .offered_bps
                .iter()
                .enumerate()
                .map(|(i, &v)| (t_mid(first, i), v))
                .collect(),
            dashed: true,
        });
    }
    for r in shown_runs(report) {
        lines.push(Line {
            name: format!("{} delivered", r.name),
            color: run_color(report, r),
            points: r
                .series
                .delivered_bps
                .iter()
                .enumerate()
                .map(|(i, &v)| (t_mid(r, i), v))
                .collect(),
            dashed: false,
        });
    }
    line_chart(
        area,
        title,
        "time (s)",
        "throughput",
        &lines,
        &fmt::sig3,
        &fmt::bps,
        None,
    )
}

fn draw_cpu<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let lines: Vec<Line> = shown_runs(report)
        .map(|r| Line {
            name: r.name.clone(),
            color: run_color(report, r),
            points: r
                .series
                .cpu_util
                .iter()
                .enumerate()
                .map(|(i, &v)| (t_mid(r, i), v * 100.0))
                .collect(),
            dashed: false,
        })
        .collect();
    line_chart(
        area,
        title,
        "time (s)",
        "CPU utilisation (mean of cores)",
        &lines,
        &fmt::sig3,
        &|v| format!("{} %", fmt::sig3(v)),
        None,
    )
}

/// CDF points (latency ns, cumulative percent) of a histogram.
fn cdf(h: &[crate::schema::HistogramBucket]) -> Vec<(f64, f64)> {
    let total: u64 = h.iter().map(|b| b.count).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut acc = 0u64;
    let mut out = Vec::with_capacity(h.len() + 1);
    for b in h {
        if out.is_empty() {
            out.push(((b.le_ns.max(1)) as f64, 0.0));
        }
        acc += b.count;
        out.push((b.le_ns.max(1) as f64, acc as f64 / total as f64 * 100.0));
    }
    out
}

fn cdf_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    lines: &[Line],
) -> R<()> {
    if lines.iter().all(|l| l.points.is_empty()) {
        return no_data(area, title, "no latency histogram");
    }
    let (x0, x1) = log_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    let mut ch = ChartBuilder::on(area)
        .caption(title, title_style())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), 0.0..100.0)
        .e()?;
    ch.configure_mesh()
        .x_desc("latency (log scale)")
        .y_desc("packets ≤ latency")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_label_formatter(&|v| tidy(fmt::ns(*v)))
        .y_label_formatter(&|v| tidy(format!("{} %", fmt::sig3(*v))))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    for l in lines.iter().filter(|l| !l.points.is_empty()) {
        let style = ShapeStyle::from(&l.color).stroke_width(2);
        // A CDF of a histogram is a staircase: hold each level until the next bound.
        let mut pts = Vec::with_capacity(l.points.len() * 2);
        for (k, &(x, y)) in l.points.iter().enumerate() {
            if k > 0 {
                pts.push((x, l.points[k - 1].1));
            }
            pts.push((x, y));
        }
        ch.draw_series(LineSeries::new(pts, style))
            .e()?
            .label(short(&l.name, 40))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(label_style())
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()
        .e()?;
    Ok(())
}

fn draw_latency_cdf<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let lines: Vec<Line> = shown_runs(report)
        .map(|r| Line {
            name: r.name.clone(),
            color: run_color(report, r),
            points: cdf(&r.latency_ns.histogram),
            dashed: false,
        })
        .collect();
    cdf_chart(area, title, &lines)
}

fn draw_latency_paths<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    run: usize,
    title: &str,
) -> R<()> {
    let Some(r) = report.runs.get(run) else {
        return no_data(area, title, "no such run");
    };
    let p = &r.latency_ns.by_path;
    let lines: Vec<Line> = [&p.slow, &p.sw_fast, &p.hw]
        .iter()
        .enumerate()
        .filter(|(_, s)| s.count > 0)
        .map(|(k, s)| Line {
            name: PATH_NAMES[k].to_string(),
            color: PATH_COLORS[k],
            points: cdf(&s.histogram),
            dashed: false,
        })
        .collect();
    cdf_chart(area, title, &lines)
}

fn draw_nic<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let panels = area.split_evenly((3, 1));
    let hw_runs: Vec<&Run> = shown_runs(report)
        .filter(|r| r.nic.capacity > 0 || r.series.hw_occupancy.iter().any(|&x| x > 0))
        .collect();
    let per_run = |f: &dyn Fn(&Run) -> Vec<f64>| -> Vec<Line> {
        hw_runs
            .iter()
            .map(|r| Line {
                name: r.name.clone(),
                color: run_color(report, r),
                points: f(r)
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (t_mid(r, i), v))
                    .collect(),
                dashed: false,
            })
            .collect()
    };
    let per_s = |r: &Run| {
        if r.series.interval_ns > 0 {
            1e9 / r.series.interval_ns as f64
        } else {
            0.0
        }
    };
    let occ = per_run(&|r| r.series.hw_occupancy.iter().map(|&v| v as f64).collect());
    let ins = per_run(&|r| {
        r.series
            .hw_inserts
            .iter()
            .map(|&v| v as f64 * per_s(r))
            .collect()
    });
    let refu = per_run(&|r| {
        r.series
            .hw_refusals
            .iter()
            .map(|&v| v as f64 * per_s(r))
            .collect()
    });
    let cap = hw_runs.iter().map(|r| r.nic.capacity).max().unwrap_or(0);
    let cap_line = (cap > 0).then_some((cap as f64, "table capacity"));
    let count = |v: f64| fmt::count(v.max(0.0).round() as u64);
    line_chart(
        &panels[0],
        title,
        "time (s)",
        "entries",
        &occ,
        &fmt::sig3,
        &count,
        cap_line,
    )?;
    line_chart(
        &panels[1],
        "Hardware inserts per second",
        "time (s)",
        "inserts/s",
        &ins,
        &fmt::sig3,
        &fmt::sig3,
        None,
    )?;
    line_chart(
        &panels[2],
        "Hardware insert refusals per second",
        "time (s)",
        "refusals/s",
        &refu,
        &fmt::sig3,
        &fmt::sig3,
        None,
    )
}

fn draw_path_mix<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let runs: Vec<&Run> = shown_runs(report).collect();
    if runs.is_empty() {
        return no_data(area, title, "no runs");
    }
    let n = runs.len() as u32;
    let names: Vec<String> = runs.iter().map(|r| short(&r.name, 22)).collect();
    let mut ch = ChartBuilder::on(area)
        .caption(title, title_style())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0u32..n - 1).into_segmented(), 0.0..100.0)
        .e()?;
    ch.configure_mesh()
        .disable_x_mesh()
        .y_desc("share of forwarded packets")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(n as usize)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|v| tidy(format!("{} %", fmt::sig3(*v))))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    for (k, name) in PATH_NAMES.iter().enumerate() {
        let mut bars = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            let (s, w, h) = r.paths.shares();
            let shares = [s, w, h];
            let lo: f64 = shares[..k].iter().sum::<f64>() * 100.0;
            let hi = lo + shares[k] * 100.0;
            if hi > lo {
                let i = i as u32;
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), lo),
                        (SegmentValue::Exact(i + 1), hi),
                    ],
                    PATH_COLORS[k].filled(),
                );
                rect.set_margin(0, 0, 18, 18);
                bars.push(rect);
            }
        }
        let color = PATH_COLORS[k];
        ch.draw_series(bars)
            .e()?
            .label(name.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(label_style())
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()
        .e()?;
    Ok(())
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

fn same_value(a: &ParamValue, b: &ParamValue) -> bool {
    match (a, b) {
        (ParamValue::Num(x), ParamValue::Num(y)) => x.total_cmp(y).is_eq(),
        (ParamValue::Text(x), ParamValue::Text(y)) => x == y,
        _ => false,
    }
}

fn draw_sweep_line<DB: DrawingBackend>(
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
    let mut ch = ChartBuilder::on(area)
        .caption(title, title_style())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d((0u32..n - 1).into_segmented(), y0..y1)
        .e()?;
    ch.configure_mesh()
        .disable_x_mesh()
        .x_desc(param.as_str())
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(n as usize)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
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
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(label_style())
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()
        .e()?;
    Ok(())
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

fn draw_sweep_heat<DB: DrawingBackend>(
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
    let mut cells: Vec<(usize, usize, f64)> = Vec::new();
    for p in &sw.points {
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
    let mut ch = ChartBuilder::on(area)
        .caption(short(&caption, 90), title_style())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(
            (0u32..nx - 1).into_segmented(),
            (0u32..ny - 1).into_segmented(),
        )
        .e()?;
    let seg = |labels: &[String], v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            labels.get(*i as usize).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    };
    ch.configure_mesh()
        .disable_mesh()
        .x_desc(px.as_str())
        .y_desc(py.as_str())
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(nx as usize)
        .y_labels(ny as usize)
        .x_label_formatter(&|v| seg(&xl, v))
        .y_label_formatter(&|v| seg(&yl, v))
        .draw()
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

fn draw_plan<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let Some(plan) = &report.plan else {
        return no_data(area, title, "no plan");
    };
    let (top, bottom) = area.split_vertically(HEIGHT_TALL / 2);
    let mut rate_lines = Vec::new();
    let mut lat_lines = Vec::new();
    let all_offered = plan
        .configs
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.offered_bps));
    let (x0, x1) = x_range(all_offered);
    if plan.configs.iter().any(|c| !c.points.is_empty()) {
        rate_lines.push(Line {
            name: "offered = delivered".into(),
            color: GREY,
            points: vec![(x0.max(0.0), x0.max(0.0)), (x1, x1)],
            dashed: true,
        });
    }
    for (k, c) in plan.configs.iter().enumerate() {
        rate_lines.push(Line {
            name: c.name.clone(),
            color: color(k),
            points: c
                .points
                .iter()
                .map(|p| (p.offered_bps, p.delivered_bps))
                .collect(),
            dashed: false,
        });
        lat_lines.push(Line {
            name: c.name.clone(),
            color: color(k),
            points: c
                .points
                .iter()
                .map(|p| (p.offered_bps, p.p99_ns as f64))
                .collect(),
            dashed: false,
        });
    }
    line_chart(
        &top,
        title,
        "offered rate",
        "delivered rate",
        &rate_lines,
        &fmt::bps,
        &fmt::bps,
        None,
    )?;
    if lat_lines.iter().all(|l| l.points.is_empty()) {
        return no_data(&bottom, "p99 latency vs offered rate", "no data");
    }
    let slo = report
        .scenario
        .slo
        .as_ref()
        .and_then(|s| s.p99_latency_ns)
        .map(|v| v as f64);
    let (y0, y1) = log_range(
        lat_lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain(slo),
    );
    let mut ch = ChartBuilder::on(&bottom)
        .caption("p99 latency vs offered rate (log scale)", title_style())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
        .e()?;
    ch.configure_mesh()
        .x_desc("offered rate")
        .y_desc("p99 latency")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_label_formatter(&|v| tidy(fmt::bps(*v)))
        .y_label_formatter(&|v| tidy(fmt::ns(*v)))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    if let Some(s) = slo {
        let style = ShapeStyle::from(&RED).stroke_width(1);
        ch.draw_series(DashedLineSeries::new(vec![(x0, s), (x1, s)], 6, 4, style))
            .e()?
            .label("SLO p99 limit")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for (l, c) in lat_lines.iter().zip(&plan.configs) {
        let style = ShapeStyle::from(&l.color).stroke_width(2);
        let pts: Vec<(f64, f64)> = l
            .points
            .iter()
            .map(|&(x, y)| (finite(x), finite(y).max(y0)))
            .collect();
        ch.draw_series(LineSeries::new(pts.clone(), style))
            .e()?
            .label(short(&l.name, 30))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        // Filled markers: met the SLO; hollow: missed it.
        ch.draw_series(c.points.iter().zip(&pts).map(|(p, &xy)| {
            if p.met {
                Circle::new(xy, 4, style.filled())
            } else {
                Circle::new(xy, 4, style)
            }
        }))
        .e()?;
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(label_style())
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()
        .e()?;
    Ok(())
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

    #[test]
    fn heat_colors_span_the_scale() {
        assert_eq!(heat_color(0.0), RGBColor(68, 1, 84));
        assert_eq!(heat_color(1.0), RGBColor(253, 231, 37));
        assert_eq!(heat_color(f64::NAN), RGBColor(68, 1, 84));
    }

    #[test]
    fn cdf_ends_at_100() {
        let h = [
            crate::schema::HistogramBucket {
                le_ns: 10,
                count: 1,
            },
            crate::schema::HistogramBucket {
                le_ns: 20,
                count: 3,
            },
        ];
        let c = cdf(&h);
        assert_eq!(c.first(), Some(&(10.0, 0.0)));
        assert_eq!(c.last(), Some(&(20.0, 100.0)));
        assert!(cdf(&[]).is_empty());
    }
}
