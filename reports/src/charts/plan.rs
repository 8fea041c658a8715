//! The chart of a plan report: delivered rate and p99 latency against the offered rate,
//! per configuration (the "knee" where a configuration stops keeping up).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::HEIGHT_TALL;
use super::draw::{
    Ctx, GREY, Line, R, builder, color, finite, label_style, legend, line_chart, log_range,
    no_data, short, tidy, x_range,
};
use crate::fmt;
use crate::schema::{Plan, Report};

/// Two panels: delivered against offered rate (with the `offered = delivered` diagonal),
/// and p99 latency against offered rate.
pub(super) fn draw_plan<DB: DrawingBackend>(
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
            width: 2,
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
            width: 2,
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
            width: 2,
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
    p99_panel(&bottom, report, plan, &lat_lines, (x0, x1))
}

/// The lower panel: p99 latency against the offered rate on a log scale, with the SLO's
/// p99 limit; markers are filled where the point met the SLO.
fn p99_panel<DB: DrawingBackend>(
    bottom: &DrawingArea<DB, Shift>,
    report: &Report,
    plan: &Plan,
    lat_lines: &[Line],
    (x0, x1): (f64, f64),
) -> R<()> {
    if lat_lines.iter().all(|l| l.points.is_empty()) {
        return no_data(bottom, "p99 latency vs offered rate", "no data");
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
    let mut ch = builder(bottom, "p99 latency vs offered rate (log scale)", 90)
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
    legend(&mut ch, SeriesLabelPosition::UpperLeft, 0.85)
}
