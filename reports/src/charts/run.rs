//! The charts of a run or plan report's runs over time (throughput, CPU) and the path mix;
//! `latency.rs` draws the latency charts, `nic.rs` the hardware table and per-core CPU.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::MAX_RUNS_PER_CHART;
use super::draw::{
    Ctx, Line, OFFERED, R, builder, label_style, legend, line_chart, no_data, run_color,
    segment_label, short, tidy,
};
use crate::fmt;
use crate::schema::{Report, Run};

/// Path colours: slow, software fast path, hardware.
pub(super) const PATH_COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];
pub(super) const PATH_NAMES: [&str; 3] = ["slow path", "software fast path", "hardware"];

/// The share of interval number `k` the run covers: 1 but for a last, partial interval
/// (the run ends `duration_ns` after `start_ns`, mid-interval).
pub(super) fn covered_share(r: &Run, k: u64) -> f64 {
    let int = r.series.interval_ns;
    if int == 0 {
        return 1.0;
    }
    let before = int.saturating_mul(k);
    let covered = r.duration_ns.saturating_sub(before).min(int);
    if covered == 0 {
        1.0
    } else {
        covered as f64 / int as f64
    }
}

/// What a line shows over intervals the series skipped (nothing happened in them).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Gap {
    /// A rate or count: zero. The series divides counts by the whole interval, and the
    /// offered load ends within the last interval, so a rate over a partial last interval
    /// would fall off a cliff: it is left out.
    Rate,
    /// A level (table occupancy): the last value; every interval is kept.
    Level,
}

/// Points over a run's intervals: `values[i]` at the middle of its interval (of the covered
/// part of a partial last one), in seconds. Across intervals the series skipped, the line
/// drops to zero (or holds its level) instead of joining the values on either side.
pub(super) fn over_time(r: &Run, values: &[f64], gap: Gap) -> Vec<(f64, f64)> {
    let s = &r.series;
    let int = s.interval_ns as f64;
    let at = |k: u64, share: f64| (s.start_ns as f64 + (k as f64 + share / 2.0) * int) / 1e9;
    let mut pts = Vec::with_capacity(values.len());
    let mut prev: Option<(u64, f64)> = None;
    for (i, &v) in values.iter().enumerate() {
        let k = s.interval_of(i);
        let share = covered_share(r, k);
        if gap == Gap::Rate && share < 1.0 {
            continue;
        }
        if let Some((pk, pv)) = prev
            && k > pk + 1
        {
            let fill = match gap {
                Gap::Rate => 0.0,
                Gap::Level => pv,
            };
            pts.push((at(pk + 1, 1.0), fill));
            pts.push((at(k - 1, 1.0), fill));
        }
        pts.push((at(k, share), v));
        prev = Some((k, v));
    }
    pts
}

/// The runs drawn on a chart (the first [`MAX_RUNS_PER_CHART`]).
pub(super) fn shown_runs(report: &Report) -> impl Iterator<Item = &Run> {
    report.runs.iter().take(MAX_RUNS_PER_CHART)
}

/// Delivered throughput over time per configuration over the offered load, drawn as a wide
/// grey band so that it shows around a delivered line that follows it exactly.
pub(super) fn draw_throughput<DB: DrawingBackend>(
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
            color: OFFERED,
            points: over_time(first, &first.series.offered_bps, Gap::Rate),
            dashed: false,
            width: 9,
        });
    }
    for r in shown_runs(report) {
        lines.push(Line {
            name: format!("{} delivered", r.name),
            color: run_color(report, r),
            points: over_time(r, &r.series.delivered_bps, Gap::Rate),
            dashed: false,
            width: 2,
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
        &event_marks(report),
    )
}

/// The timeline events to mark on charts over time: (seconds, name), from the first run
/// that has them (every run has the same timeline).
fn event_marks(report: &Report) -> Vec<(f64, String)> {
    report
        .runs
        .iter()
        .find(|r| !r.events.is_empty())
        .map(|r| {
            r.events
                .iter()
                .map(|e| {
                    let name = if e.target.is_empty() {
                        e.kind.clone()
                    } else {
                        format!("{} {}", e.kind, e.target)
                    };
                    (e.at_s, name)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Mean CPU utilisation over time per configuration.
pub(super) fn draw_cpu<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let lines: Vec<Line> = shown_runs(report)
        .map(|r| Line {
            name: r.name.clone(),
            color: run_color(report, r),
            points: over_time(
                r,
                &r.series
                    .cpu_util
                    .iter()
                    .map(|&v| v * 100.0)
                    .collect::<Vec<_>>(),
                Gap::Rate,
            ),
            dashed: false,
            width: 2,
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
        &event_marks(report),
    )
}

/// Stacked bars of the slow / software / hardware shares per configuration.
pub(super) fn draw_path_mix<DB: DrawingBackend>(
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
    let mut ch = builder(area, title, 70)
        .build_cartesian_2d((0u32..n - 1).into_segmented(), 0.0..100.0)
        .e()?;
    ch.configure_mesh()
        .disable_x_mesh()
        .y_desc("share of forwarded packets")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(n as usize)
        .x_label_formatter(&|v| segment_label(&names, v))
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
    legend(&mut ch, SeriesLabelPosition::UpperRight, 0.9)
}
