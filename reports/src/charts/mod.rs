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
//! Charts: throughput and CPU over time per configuration, CPU per core, latency CCDF per
//! configuration and per path (log-log, percentiles marked), each hardware table's
//! occupancy, inserts and refusals, path mix (stacked bars), sweep line charts (one
//! parameter) or heat maps with a colour scale (two or more), and the plan knee.
//!
//! Files: `mod.rs` decides which charts a report gets and draws one as PNG or SVG;
//! `draw.rs` holds the shared pieces (colours, axis ranges, text styles, the line chart and
//! the legend); `run.rs` the time series and path mix of the runs; `latency.rs` the latency
//! CCDFs; `nic.rs` the hardware tables and per-core CPU; `sweep.rs` the sweep line charts and
//! heat maps; `plan.rs` the capacity knee; `trend.rs` the charts of `offsim trend`.

mod draw;
mod latency;
mod nic;
mod plan;
mod run;
mod sweep;
mod trend;

use std::path::Path;
use std::sync::Once;

use plotters::backend::{BitMapBackend, SVGBackend};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ReportError;
use crate::schema::{Report, ReportKind};
use draw::{Ctx, R};

/// Width of every chart, pixels.
pub(crate) const WIDTH: u32 = 960;
/// Height of a single-panel chart, pixels.
pub(crate) const HEIGHT: u32 = 420;
/// Height of a two-panel chart, pixels.
pub(crate) const HEIGHT_TALL: u32 = 640;
/// Height of the three-panel hardware table chart, pixels.
const HEIGHT_NIC: u32 = 840;

/// Most runs drawn on a time-series or path-mix chart (the rest are summarised in tables).
const MAX_RUNS_PER_CHART: usize = 12;

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
    /// Utilisation of the busiest core, percent.
    BusiestCpu,
    /// Hardware insertions refused, count.
    Refusals,
}

/// What a chart shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartKind {
    /// Offered and delivered throughput over time, per configuration.
    Throughput,
    /// Mean CPU utilisation over time, per configuration.
    Cpu,
    /// CPU utilisation of each core, per configuration.
    Cores,
    /// Latency CCDF per configuration (log-log, p50/p99/p99.9 marked).
    LatencyCdf,
    /// Latency CCDF per path of one run (index into `runs`).
    LatencyPaths {
        /// Index of the run in `Report::runs`.
        run: usize,
    },
    /// Hardware table occupancy, inserts and refusals over time, of one run with a table
    /// (index into `runs`).
    Nic {
        /// Index of the run in `Report::runs`.
        run: usize,
    },
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
    /// Height of the chart's image, pixels.
    pub(crate) fn height(&self) -> u32 {
        match self.kind {
            ChartKind::Nic { .. } => HEIGHT_NIC,
            ChartKind::PlanKnee => HEIGHT_TALL,
            _ => HEIGHT,
        }
    }
}

/// The stems of every chart this crate draws: exact names, then prefixes followed by
/// indices or fixed words (see [`is_chart_stem`]).
const STEMS: [&str; 6] = [
    "throughput",
    "cpu",
    "latency_cdf",
    "paths",
    "plan_knee",
    "nic",
];
const STEM_PREFIXES: [&str; 6] = [
    "cpu_",
    "latency_paths_",
    "nic_",
    "sweep_",
    "plan_",
    "trend_",
];

/// True when `stem` is the file stem of a chart this crate draws (so `offsim` may remove
/// it as the output of an earlier run).
pub fn is_chart_stem(stem: &str) -> bool {
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    STEMS.contains(&stem)
        || STEM_PREFIXES
            .iter()
            .any(|p| stem.strip_prefix(p).is_some_and(word))
}

/// A [`Chart`] from its parts.
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
    if report.kind != ReportKind::Sweep && !report.runs.is_empty() {
        run_charts(report, &mut out);
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
        sweep_charts(report, &sw.parameters, &mut out);
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

/// The time-series, latency and hardware table charts of a run or plan report.
fn run_charts(report: &Report, out: &mut Vec<Chart>) {
    if report.runs.iter().any(|r| !r.series.is_empty()) {
        out.push(chart(
            "throughput",
            "Throughput over time",
            ChartKind::Throughput,
        ));
        out.push(chart("cpu", "CPU utilisation over time", ChartKind::Cpu));
    }
    if report.runs.iter().any(|r| !r.cpu.util_per_core.is_empty()) {
        out.push(chart(
            "cpu_cores",
            "CPU utilisation per core",
            ChartKind::Cores,
        ));
    }
    out.push(chart(
        "latency_cdf",
        "Latency per configuration: share of packets slower than x",
        ChartKind::LatencyCdf,
    ));
    for (i, r) in report.runs.iter().enumerate().take(MAX_RUNS_PER_CHART) {
        let p = &r.latency_ns.by_path;
        if p.slow.count + p.sw_fast.count + p.hw.count > 0 {
            out.push(chart(
                format!("latency_paths_{i}"),
                format!("Latency per path: {}", r.name),
                ChartKind::LatencyPaths { run: i },
            ));
        }
    }
    // One chart per configuration that has a hardware table (`none` and `software` have
    // none, whatever the NIC).
    for (i, r) in report.runs.iter().enumerate().take(MAX_RUNS_PER_CHART) {
        if r.nic.capacity > 0 && !r.series.is_empty() {
            out.push(chart(
                format!("nic_{i}"),
                format!("Hardware flow table: {}", r.name),
                ChartKind::Nic { run: i },
            ));
        }
    }
}

/// The charts of a sweep over `parameters`: a line chart per metric over one parameter, or
/// a heat map per policy and metric over the first two.
fn sweep_charts(report: &Report, parameters: &[String], out: &mut Vec<Chart>) {
    let with_table = |policy: &str| {
        report
            .runs
            .iter()
            .any(|r| r.policy == policy && r.nic.capacity > 0)
    };
    if parameters.len() <= 1 {
        let any_table = report.runs.iter().any(|r| r.nic.capacity > 0);
        for m in [
            SweepMetric::Throughput,
            SweepMetric::P99,
            SweepMetric::BusiestCpu,
            SweepMetric::Cpu,
            SweepMetric::HwShare,
            SweepMetric::Refusals,
        ] {
            if m.needs_table() && !any_table {
                continue;
            }
            out.push(chart(
                format!("sweep_{}", m.id()),
                format!(
                    "{} vs {}",
                    m.title(),
                    parameters.first().map_or("point", |s| s.as_str())
                ),
                ChartKind::SweepLine { metric: m },
            ));
        }
    } else {
        for (k, policy) in policies(report).into_iter().enumerate() {
            for m in [
                SweepMetric::Throughput,
                SweepMetric::P99,
                SweepMetric::BusiestCpu,
                SweepMetric::HwShare,
                SweepMetric::Refusals,
            ] {
                // Hardware share and refusals size a table: only where there is one.
                if m.needs_table() && !with_table(&policy) {
                    continue;
                }
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
fn ensure_font() {
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

/// Draw metric `k` of a trend as PNG into `path`.
pub fn render_trend_png(t: &crate::trend::Trend, k: usize, path: &Path) -> Result<(), ReportError> {
    ensure_font();
    let e = |msg: String| ReportError::Chart {
        chart: format!("trend_{k}"),
        msg,
    };
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).e().map_err(e)?;
    trend::draw_trend(&root, t, k).map_err(e)?;
    root.present()
        .map_err(|x| e(format!("{}: {x}", path.display())))?;
    Ok(())
}

/// Draw metric `k` of a trend as an SVG document.
pub fn render_trend_svg(t: &crate::trend::Trend, k: usize) -> Result<String, ReportError> {
    ensure_font();
    let e = |msg: String| ReportError::Chart {
        chart: format!("trend_{k}"),
        msg,
    };
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).e().map_err(e)?;
        trend::draw_trend(&root, t, k).map_err(e)?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Draw chart `c` of `report` on `root`.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report, c: &Chart) -> R<()> {
    root.fill(&WHITE).e()?;
    match &c.kind {
        ChartKind::Throughput => run::draw_throughput(root, report, &c.title),
        ChartKind::Cpu => run::draw_cpu(root, report, &c.title),
        ChartKind::Cores => nic::draw_cores(root, report, &c.title),
        ChartKind::LatencyCdf => latency::draw_latency_cdf(root, report, &c.title),
        ChartKind::LatencyPaths { run } => {
            latency::draw_latency_paths(root, report, *run, &c.title)
        }
        ChartKind::Nic { run } => nic::draw_nic(root, report, *run, &c.title),
        ChartKind::PathMix => run::draw_path_mix(root, report, &c.title),
        ChartKind::SweepLine { metric } => sweep::draw_sweep_line(root, report, *metric, &c.title),
        ChartKind::SweepHeat { metric, policy } => {
            sweep::draw_sweep_heat(root, report, *metric, policy, &c.title)
        }
        ChartKind::PlanKnee => plan::draw_plan(root, report, &c.title),
    }
}
