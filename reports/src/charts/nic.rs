//! The hardware flow table of one configuration over time (occupancy, then inserts and
//! refusals per interval as bars: a single refusal is one short bar, not a rate spike) and
//! the CPU utilisation of each core.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::draw::{
    Ctx, GREY, Line, R, builder, label_style, legend, line_chart, no_data, run_color,
    segment_label, short, tidy, x_range, y_range,
};
use super::run::{Gap, over_time, shown_runs};
use crate::fmt;
use crate::schema::{Report, Run};

/// Draw the capacity line only when the peak occupancy reaches this share of it: below,
/// the line would squash the occupancy onto the floor of the chart.
const CAPACITY_LINE_MIN_SHARE: f64 = 0.25;

/// Bars of per-interval counts of `r` over time.
fn count_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Run,
    counts: &[u64],
    title: &str,
    y_desc: &str,
    color: RGBColor,
) -> R<()> {
    let int_s = r.series.interval_ns as f64 / 1e9;
    let start = r.series.start_ns as f64 / 1e9;
    // A sparse series skips idle intervals: entry `i` is interval `interval_of(i)`.
    let last = counts
        .len()
        .checked_sub(1)
        .map_or(0, |i| r.series.interval_of(i));
    let (x0, x1) = x_range([start, start + int_s * (last + 1) as f64].into_iter());
    let (_, y1) = y_range(counts.iter().map(|&c| c as f64));
    // Counts are whole: at least 0..2, so one event does not fill the panel.
    let y1 = y1.max(2.0);
    let mut ch = builder(area, title, 90)
        .build_cartesian_2d(x0..x1, 0.0..y1)
        .e()?;
    ch.configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_desc)
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_label_formatter(&|v| tidy(fmt::sig3(*v)))
        .y_label_formatter(&|v| {
            if v.fract() == 0.0 {
                fmt::count(*v as u64)
            } else {
                String::new()
            }
        })
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    ch.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let a = start + r.series.interval_of(i) as f64 * int_s;
                Rectangle::new([(a, 0.0), (a + int_s * 0.9, c as f64)], color.filled())
            }),
    )
    .e()?;
    Ok(())
}

/// Three panels for run `run`: occupancy (with the capacity when it is on a readable
/// scale), inserts per interval, refusals per interval.
pub(super) fn draw_nic<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    run: usize,
    title: &str,
) -> R<()> {
    let Some(r) = report.runs.get(run) else {
        return no_data(area, title, "no such run");
    };
    let panels = area.split_evenly((3, 1));
    let color = run_color(report, r);
    let occ: Vec<f64> = r.series.hw_occupancy.iter().map(|&v| v as f64).collect();
    let peak = r
        .nic
        .peak_occupancy
        .max(occ.iter().fold(0.0f64, |a, &b| a.max(b)) as u64);
    let cap = r.nic.capacity;
    let share = if cap > 0 {
        peak as f64 / cap as f64
    } else {
        0.0
    };
    let cap_line =
        (cap > 0 && share >= CAPACITY_LINE_MIN_SHARE).then_some((cap as f64, "table capacity"));
    let occ_title = format!(
        "{title}: peak {} of {} entries ({}){}",
        fmt::count(peak),
        fmt::count(cap),
        fmt::pct(share),
        if cap_line.is_none() && cap > 0 {
            "; capacity off the scale"
        } else {
            ""
        }
    );
    let line = Line {
        name: "occupancy".into(),
        color,
        points: over_time(r, &occ, Gap::Level),
        dashed: false,
        width: 2,
    };
    let count = |v: f64| fmt::count(v.max(0.0).round() as u64);
    line_chart(
        &panels[0],
        &short(&occ_title, 90),
        "time (s)",
        "entries",
        &[line],
        &fmt::sig3,
        &count,
        cap_line,
        &[],
    )?;
    let per = fmt::ns(r.series.interval_ns as f64);
    count_bars(
        &panels[1],
        r,
        &r.series.hw_inserts,
        &format!("Inserts per {per} ({} in all)", fmt::count(r.nic.inserts)),
        "inserts",
        color,
    )?;
    let reasons: Vec<String> = r
        .nic
        .refusals_by_reason
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(k, c)| format!("{k} {}", fmt::count(*c)))
        .collect();
    count_bars(
        &panels[2],
        r,
        &r.series.hw_refusals,
        &short(
            &format!(
                "Refusals per {per} ({} in all{})",
                fmt::count(r.nic.refusals),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", reasons.join(", "))
                }
            ),
            90,
        ),
        "refusals",
        RGBColor(214, 39, 40),
    )
}

/// CPU utilisation of each core, grouped bars per core (one bar per configuration), with
/// each configuration's mean as a dashed line.
pub(super) fn draw_cores<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let runs: Vec<&Run> = shown_runs(report)
        .filter(|r| !r.cpu.util_per_core.is_empty())
        .collect();
    let cores = runs
        .iter()
        .map(|r| r.cpu.util_per_core.len())
        .max()
        .unwrap_or(0);
    if runs.is_empty() || cores == 0 {
        return no_data(area, title, "no per-core figures");
    }
    let labels: Vec<String> = (0..cores).map(|c| format!("core {c}")).collect();
    let n = cores as u32;
    let mut ch = builder(area, title, 70)
        .build_cartesian_2d((0u32..n - 1).into_segmented(), 0.0..105.0)
        .e()?;
    ch.configure_mesh()
        .disable_x_mesh()
        .y_desc("utilisation")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(cores.min(32))
        .x_label_formatter(&|v| segment_label(&labels, v))
        .y_label_formatter(&|v| tidy(format!("{} %", fmt::sig3(*v))))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    let k = runs.len() as f64;
    let (plot_w, _) = ch.plotting_area().dim_in_pixel();
    let seg = plot_w as f64 / cores as f64;
    // One slot per configuration in each core's segment, 8 % of it left free on each side.
    let slot = seg * 0.84 / k;
    for (j, r) in runs.iter().enumerate() {
        let c = run_color(report, r);
        // Each core's segment split into one slot per configuration; plotters places
        // segments on integer positions, so slots are drawn by pixel margins.
        ch.draw_series(r.cpu.util_per_core.iter().enumerate().map(|(core, &u)| {
            let i = core as u32;
            let mut rect = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), (u * 100.0).clamp(0.0, 100.0)),
                ],
                c.filled(),
            );
            let left = seg * 0.08 + slot * j as f64;
            let right = seg - left - slot;
            rect.set_margin(0, 0, left.max(0.0) as u32, right.max(0.0) as u32);
            rect
        }))
        .e()?
        .label(format!(
            "{} (mean {}, busiest {})",
            short(&r.name, 24),
            fmt::pct(r.cpu.util_mean),
            r.cpu
                .busiest_core()
                .map_or("-".into(), |(i, u)| format!("core {i} {}", fmt::pct(u)))
        ))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
    }
    let style = ShapeStyle::from(&GREY).stroke_width(1);
    ch.draw_series(DashedLineSeries::new(
        vec![
            (SegmentValue::Exact(0), 100.0),
            (SegmentValue::Exact(n), 100.0),
        ],
        4,
        4,
        style,
    ))
    .e()?;
    legend(&mut ch, SeriesLabelPosition::UpperRight, 0.9)
}
