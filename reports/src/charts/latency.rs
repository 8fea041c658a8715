//! The latency charts: the complementary CDF (share of packets slower than x) on log-log
//! axes, per configuration and per path, with p50, p99 and p99.9 marked. On a linear CDF
//! the tail that an SLO is about is a sliver at the top; on a log CCDF each "nine" gets
//! the same height.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{Ctx, GREY, Line, R, builder, label_style, legend, no_data, run_color, short};
use super::run::{PATH_COLORS, PATH_NAMES, shown_runs};
use crate::fmt;
use crate::schema::{HistogramBucket, LatencyStats, Report};

/// The percentiles marked: name, share of packets slower, the stat.
const MARKS: [(&str, f64); 3] = [("p50", 0.5), ("p99", 0.01), ("p99.9", 0.001)];

/// CCDF points (latency ns, share of packets slower) of a histogram: a staircase that
/// starts at 1 and ends at the last bucket (where the share is 0, drawn at `floor`).
fn ccdf(h: &[HistogramBucket], floor: f64) -> Vec<(f64, f64)> {
    let total: u64 = h.iter().map(|b| b.count).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut acc = 0u64;
    let mut out = Vec::with_capacity(2 * h.len() + 1);
    let mut level = 1.0;
    for b in h {
        let x = b.le_ns.max(1) as f64;
        out.push((x, level));
        acc += b.count;
        level = ((total - acc) as f64 / total as f64).max(floor);
        out.push((x, level));
    }
    out
}

/// A log axis range over `lo..hi` widened to whole decades, so that the axis always has
/// at least two labelled ticks (a narrow range got one).
pub(super) fn decades(lo: f64, hi: f64) -> (f64, f64) {
    let lo = if lo.is_finite() && lo > 0.0 { lo } else { 1.0 };
    let hi = if hi.is_finite() && hi > lo {
        hi
    } else {
        lo * 10.0
    };
    let a = 10f64.powf(lo.log10().floor());
    let mut b = 10f64.powf(hi.log10().ceil());
    if b <= a {
        b = a * 10.0;
    }
    (a, b)
}

/// A latency axis label: `1 µs`, `10 µs`, … (decades get no decimals).
fn lat_label(v: f64) -> String {
    super::draw::tidy(fmt::ns(v))
}

/// A share-of-packets axis label: `100 %`, `1 %`, `0.1 %`, `0.01 %`.
fn share_label(v: f64) -> String {
    let pct = v * 100.0;
    if pct >= 1.0 {
        format!("{} %", fmt::num((pct * 100.0).round() / 100.0))
    } else {
        format!("{} %", fmt::num(pct))
    }
}

/// Draw CCDF `lines` (each with its stats, for the percentile markers) on log-log axes.
fn ccdf_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    lines: &[(Line, &LatencyStats)],
) -> R<()> {
    if lines.iter().all(|(l, _)| l.points.is_empty()) {
        return no_data(area, title, "no latency histogram");
    }
    let max_count = lines.iter().map(|(_, s)| s.count).max().unwrap_or(1).max(1);
    // Down to one packet in the largest run, but always showing p99.9 (0.1 %).
    let floor = 10f64
        .powf((1.0 / max_count as f64).log10().floor())
        .clamp(1e-6, 1e-4);
    let xs = lines.iter().flat_map(|(l, _)| l.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = decades(lo, hi);
    let mut ch = builder(area, title, 80)
        .margin_right(30)
        .build_cartesian_2d((x0..x1).log_scale(), (floor..1.5).log_scale())
        .e()?;
    ch.configure_mesh()
        .x_desc("latency (log scale)")
        .y_desc("packets slower than x (log scale)")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_label_formatter(&|v| lat_label(*v))
        .y_label_formatter(&|v| share_label(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    // The percentile levels, labelled at the right edge.
    for (name, level) in MARKS {
        let style = ShapeStyle::from(&GREY).stroke_width(1);
        ch.draw_series(DashedLineSeries::new(
            vec![(x0, level), (x1, level)],
            4,
            4,
            style,
        ))
        .e()?;
        let text = ("sans-serif", 13)
            .into_font()
            .color(&GREY)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        ch.draw_series(std::iter::once(Text::new(
            name.to_string(),
            (x0 * 1.08, level * 1.05),
            text,
        )))
        .e()?;
    }
    for (l, stats) in lines.iter().filter(|(l, _)| !l.points.is_empty()) {
        let style = ShapeStyle::from(&l.color).stroke_width(2);
        ch.draw_series(LineSeries::new(l.points.clone(), style))
            .e()?
            .label(short(&l.name, 64))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        // Each run's p50, p99 and p99.9 as a dot on its level.
        let values = [stats.p50, stats.p99, stats.p999];
        ch.draw_series(
            MARKS
                .iter()
                .zip(values)
                .filter(|(_, v)| *v > 0)
                .map(|((_, level), v)| Circle::new((v as f64, *level), 4, style.filled())),
        )
        .e()?;
    }
    legend(&mut ch, SeriesLabelPosition::LowerLeft, 0.85)
}

/// Latency CCDF per configuration.
pub(super) fn draw_latency_cdf<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let lines: Vec<(Line, &LatencyStats)> = shown_runs(report)
        .map(|r| {
            let s = &r.latency_ns.overall;
            let line = Line {
                name: format!(
                    "{}: p50 {} · p99 {} · p99.9 {}",
                    r.name,
                    fmt::ns(s.p50 as f64),
                    fmt::ns(s.p99 as f64),
                    fmt::ns(s.p999 as f64)
                ),
                color: run_color(report, r),
                points: ccdf(&s.histogram, 1e-6),
                dashed: false,
                width: 2,
            };
            (line, s)
        })
        .collect();
    ccdf_chart(area, title, &lines)
}

/// Latency CCDF per path of run `run`.
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
    let lines: Vec<(Line, &LatencyStats)> = [&p.slow, &p.sw_fast, &p.hw]
        .into_iter()
        .enumerate()
        .filter(|(_, s)| s.count > 0)
        .map(|(k, s)| {
            let line = Line {
                name: format!("{} ({} packets)", PATH_NAMES[k], fmt::count(s.count)),
                color: PATH_COLORS[k],
                points: ccdf(&s.histogram, 1e-6),
                dashed: false,
                width: 2,
            };
            (line, s)
        })
        .collect();
    ccdf_chart(area, title, &lines)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ccdf_falls_from_one_to_the_floor() {
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
        let c = ccdf(&h, 1e-4);
        assert_eq!(c.first(), Some(&(10.0, 1.0)));
        assert_eq!(c[1], (10.0, 0.75));
        assert_eq!(c.last(), Some(&(20.0, 1e-4)));
        assert!(ccdf(&[], 1e-4).is_empty());
    }

    #[test]
    fn log_axes_span_whole_decades() {
        assert_eq!(decades(26_000.0, 48_000.0), (10_000.0, 100_000.0));
        assert_eq!(decades(100.0, 100.0), (100.0, 1000.0));
        let (a, b) = decades(0.0, f64::NAN);
        assert!(a > 0.0 && b > a);
        assert_eq!(share_label(0.001), "0.1 %");
        assert_eq!(share_label(0.01), "1 %");
        assert_eq!(share_label(1.0), "100 %");
    }
}
