//! The charts of a run or plan report's runs: throughput and CPU over time, latency CDFs
//! (per configuration and per path), the hardware flow table over time and the path mix.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::MAX_RUNS_PER_CHART;
use super::draw::{
    Ctx, GREY, Line, R, builder, label_style, legend, line_chart, log_range, no_data, run_color,
    segment_label, short, tidy,
};
use crate::fmt;
use crate::schema::{HistogramBucket, Report, Run};

/// Path colours: slow, software fast path, hardware.
const PATH_COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];
const PATH_NAMES: [&str; 3] = ["slow path", "software fast path", "hardware"];

/// What a line shows over intervals the series skipped (nothing happened in them).
#[derive(Clone, Copy)]
enum Gap {
    /// A rate or count: zero.
    Zero,
    /// A level (table occupancy): the last value.
    Hold,
}

/// Points over a run's intervals: `values[i]` at the middle of its interval, in seconds.
/// Across intervals the series skipped, the line drops to zero (or holds its level) instead
/// of joining the values on either side.
fn over_time(r: &Run, values: impl Iterator<Item = f64>, gap: Gap) -> Vec<(f64, f64)> {
    let s = &r.series;
    let mid = |k: u64| (s.start_ns as f64 + (k as f64 + 0.5) * s.interval_ns as f64) / 1e9;
    let mut pts = Vec::new();
    let mut prev: Option<(u64, f64)> = None;
    for (i, v) in values.enumerate() {
        let k = s.interval_of(i);
        if let Some((pk, pv)) = prev
            && k > pk + 1
        {
            let fill = match gap {
                Gap::Zero => 0.0,
                Gap::Hold => pv,
            };
            pts.push((mid(pk + 1), fill));
            pts.push((mid(k - 1), fill));
        }
        pts.push((mid(k), v));
        prev = Some((k, v));
    }
    pts
}

/// The runs drawn on a chart (the first [`MAX_RUNS_PER_CHART`]).
fn shown_runs(report: &Report) -> impl Iterator<Item = &Run> {
    report.runs.iter().take(MAX_RUNS_PER_CHART)
}

/// Delivered throughput over time per configuration, with the offered load dashed.
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
            color: GREY,
            points: over_time(first, first.series.offered_bps.iter().copied(), Gap::Zero),
            dashed: true,
        });
    }
    for r in shown_runs(report) {
        lines.push(Line {
            name: format!("{} delivered", r.name),
            color: run_color(report, r),
            points: over_time(r, r.series.delivered_bps.iter().copied(), Gap::Zero),
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
            points: over_time(r, r.series.cpu_util.iter().map(|&v| v * 100.0), Gap::Zero),
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
fn cdf(h: &[HistogramBucket]) -> Vec<(f64, f64)> {
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

/// CDF lines on a log latency axis, drawn as staircases.
fn cdf_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    lines: &[Line],
) -> R<()> {
    if lines.iter().all(|l| l.points.is_empty()) {
        return no_data(area, title, "no latency histogram");
    }
    let (x0, x1) = log_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    let mut ch = builder(area, title, 70)
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
    legend(&mut ch, SeriesLabelPosition::LowerRight, 0.85)
}

/// Latency CDF per configuration.
pub(super) fn draw_latency_cdf<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let lines: Vec<Line> = shown_runs(report)
        .map(|r| Line {
            name: r.name.clone(),
            color: run_color(report, r),
            points: cdf(&r.latency_ns.overall.histogram),
            dashed: false,
        })
        .collect();
    cdf_chart(area, title, &lines)
}

/// Latency CDF per path of run `run`.
pub(super) fn draw_latency_paths<DB: DrawingBackend>(
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

/// Three panels over time: hardware table occupancy (with the capacity), inserts per
/// second, refusals per second.
pub(super) fn draw_nic<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let panels = area.split_evenly((3, 1));
    let hw_runs: Vec<&Run> = shown_runs(report)
        .filter(|r| r.nic.capacity > 0 || r.series.hw_occupancy.iter().any(|&x| x > 0))
        .collect();
    let per_run = |f: &dyn Fn(&Run) -> Vec<f64>, gap: Gap| -> Vec<Line> {
        hw_runs
            .iter()
            .map(|r| Line {
                name: r.name.clone(),
                color: run_color(report, r),
                points: over_time(r, f(r).into_iter(), gap),
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
    let occ = per_run(
        &|r| r.series.hw_occupancy.iter().map(|&v| v as f64).collect(),
        Gap::Hold,
    );
    let ins = per_run(
        &|r| {
            r.series
                .hw_inserts
                .iter()
                .map(|&v| v as f64 * per_s(r))
                .collect()
        },
        Gap::Zero,
    );
    let refu = per_run(
        &|r| {
            r.series
                .hw_refusals
                .iter()
                .map(|&v| v as f64 * per_s(r))
                .collect()
        },
        Gap::Zero,
    );
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

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn cdf_ends_at_100() {
        let h = [
            HistogramBucket {
                le_ns: 10,
                count: 1,
            },
            HistogramBucket {
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
