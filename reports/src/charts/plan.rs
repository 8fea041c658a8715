//! The chart of a plan report: delivered rate, p99 latency and loss against the offered
//! rate, per configuration (the "knee" where a configuration stops keeping up).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::HEIGHT_TALL;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{
    Ctx, GREY, Line, R, builder, color, finite, label_style, legend, log_range, no_data, short,
    tidy, x_range, y_range,
};
use super::latency::decades;
use crate::fmt;
use crate::schema::{Plan, PlanConfig, Report};

/// Three panels: delivered against offered rate (with the `offered = delivered` diagonal),
/// p99 latency against offered rate, and loss against offered rate.
pub(super) fn draw_plan<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    title: &str,
) -> R<()> {
    let Some(plan) = &report.plan else {
        return no_data(area, title, "no plan");
    };
    let (top, rest) = area.split_vertically(HEIGHT_TALL * 2 / 5);
    let (bottom, loss_area) = rest.split_vertically(HEIGHT_TALL * 3 / 10);
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
    rate_panel(&top, title, plan, &rate_lines, (x0, x1))?;
    p99_panel(&bottom, report, plan, &lat_lines, (x0, x1))?;
    loss_panel(&loss_area, report, plan, (x0, x1))
}

/// A configuration's probes on a log-y panel: the line, labelled, and a marker per probe,
/// filled where it met the SLO and hollow where it missed it.
fn probe_curve<'a, DB: DrawingBackend + 'a>(
    ch: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, LogCoord<f64>>,
    >,
    name: &str,
    style: ShapeStyle,
    c: &PlanConfig,
    pts: &[(f64, f64)],
) -> R<()> {
    ch.draw_series(LineSeries::new(pts.to_vec(), style))
        .e()?
        .label(short(name, 30))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    ch.draw_series(c.points.iter().zip(pts).map(|(p, &xy)| {
        if p.met {
            Circle::new(xy, 4, style.filled())
        } else {
            Circle::new(xy, 4, style)
        }
    }))
    .e()?;
    Ok(())
}

/// The lowest loss the loss panel shows: a probe without loss is drawn on this floor.
const LOSS_FLOOR: f64 = 1e-6;

/// The loss panel: what each probe failed to forward for lack of capacity, as a share of
/// the offered packets, on a log scale (no loss on the floor), with the PDR's loss ratio and
/// the SLO's drop-rate limit. Markers as in the p99 panel.
fn loss_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    plan: &Plan,
    (x0, x1): (f64, f64),
) -> R<()> {
    if plan.configs.iter().all(|c| c.points.is_empty()) {
        return no_data(area, "loss vs offered rate", "no data");
    }
    let mut ch = builder(area, "loss vs offered rate", 90)
        .build_cartesian_2d(x0..x1, (LOSS_FLOOR..1.0).log_scale())
        .e()?;
    ch.configure_mesh()
        .x_desc("offered rate")
        .y_desc("loss (log scale)")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_label_formatter(&|v| tidy(fmt::bps(*v)))
        .y_label_formatter(&|v| {
            if *v <= LOSS_FLOOR * 1.0001 {
                "none".into()
            } else {
                tidy(fmt::pct(*v))
            }
        })
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    let limits = [
        (Some(plan.pdr_loss), "PDR loss ratio", GREY),
        (
            report.scenario.slo.as_ref().and_then(|s| s.max_drop_rate),
            "SLO drop-rate limit",
            RED,
        ),
    ];
    for (v, name, c) in limits {
        if let Some(v) = v.filter(|v| *v > LOSS_FLOOR) {
            let style = ShapeStyle::from(&c).stroke_width(1);
            ch.draw_series(DashedLineSeries::new(vec![(x0, v), (x1, v)], 6, 4, style))
                .e()?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    for (k, c) in plan.configs.iter().enumerate() {
        let style = ShapeStyle::from(&color(k)).stroke_width(2);
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|p| {
                (
                    finite(p.offered_bps),
                    finite(p.loss_rate).clamp(LOSS_FLOOR, 1.0),
                )
            })
            .collect();
        probe_curve(&mut ch, &c.name, style, c, &pts)?;
    }
    legend(&mut ch, SeriesLabelPosition::UpperLeft, 0.85)
}

/// The highest rate within the SLO of config `c`, as a point on its curve `pts` (offered,
/// y): the probe at `max_bps`.
fn max_point(c: &PlanConfig, pts: &[(f64, f64)]) -> Option<(f64, f64)> {
    let m = c.max_bps?;
    pts.iter()
        .copied()
        .min_by(|a, b| (a.0 - m).abs().total_cmp(&(b.0 - m).abs()))
}

/// The corners of a diamond `r` px from its centre to each corner.
fn diamond(r: i32) -> Vec<(i32, i32)> {
    vec![(0, -r), (r, 0), (0, r), (-r, 0)]
}

/// The legend entries that explain the markers: filled met the SLO, hollow missed it, the
/// diamond is each configuration's highest rate within the SLO.
fn marker_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    ch: &mut ChartContext<'a, DB, CT>,
) -> R<()>
where
    CT::From: Clone + 'static,
{
    let dark = ShapeStyle::from(&RGBColor(60, 60, 60)).stroke_width(2);
    ch.draw_series(std::iter::empty::<Circle<CT::From, i32>>())
        .e()?
        .label("probe met the SLO")
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, dark.filled()));
    ch.draw_series(std::iter::empty::<Circle<CT::From, i32>>())
        .e()?
        .label("probe missed the SLO")
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, dark));
    ch.draw_series(std::iter::empty::<Circle<CT::From, i32>>())
        .e()?
        .label("highest rate within the SLO")
        .legend(move |(x, y)| {
            EmptyElement::at((x + 10, y)) + Polygon::new(diamond(6), dark.filled())
        });
    Ok(())
}

/// The upper panel: delivered against offered rate, with the `offered = delivered`
/// diagonal and each configuration's highest rate within the SLO marked and labelled.
fn rate_panel<DB: DrawingBackend>(
    top: &DrawingArea<DB, Shift>,
    title: &str,
    plan: &Plan,
    lines: &[Line],
    (x0, x1): (f64, f64),
) -> R<()> {
    if lines.iter().all(|l| l.points.is_empty()) {
        return no_data(top, title, "no data");
    }
    let (y0, y1) = y_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let mut ch = builder(top, title, 90)
        .build_cartesian_2d(x0..x1, y0..y1)
        .e()?;
    ch.configure_mesh()
        .x_desc("offered rate")
        .y_desc("delivered rate")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_label_formatter(&|v| tidy(fmt::bps(*v)))
        .y_label_formatter(&|v| tidy(fmt::bps(*v)))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    for l in lines {
        let style = ShapeStyle::from(&l.color).stroke_width(l.width);
        let pts: Vec<(f64, f64)> = l
            .points
            .iter()
            .map(|&(x, y)| (finite(x), finite(y)))
            .collect();
        let anno = if l.dashed {
            ch.draw_series(DashedLineSeries::new(pts, 8, 5, style))
                .e()?
        } else {
            ch.draw_series(LineSeries::new(pts, style)).e()?
        };
        anno.label(short(&l.name, 30))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    // Configurations are the lines after the diagonal, in plan order.
    let curves = lines.iter().filter(|l| !l.dashed);
    for (l, c) in curves.zip(&plan.configs) {
        let Some(p) = max_point(c, &l.points) else {
            continue;
        };
        let style = ShapeStyle::from(&l.color).filled();
        ch.draw_series(std::iter::once(
            EmptyElement::at(p) + Polygon::new(diamond(7), style),
        ))
        .e()?;
        let text = ("sans-serif", 13)
            .into_font()
            .color(&l.color)
            .pos(Pos::new(HPos::Left, VPos::Top));
        ch.draw_series(std::iter::once(Text::new(
            format!("{} max {}", short(&c.name, 16), fmt::bps(p.0)),
            (p.0 + (x1 - x0) * 0.008, p.1 - (y1 - y0) * 0.03),
            text,
        )))
        .e()?;
    }
    legend(&mut ch, SeriesLabelPosition::UpperLeft, 0.85)
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
    let (lo, hi) = log_range(
        lat_lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain(slo),
    );
    // Whole decades: a narrow range got a single, repeated tick label.
    let (y0, y1) = decades(lo, hi);
    let mut ch = builder(bottom, "p99 latency vs offered rate", 90)
        .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
        .e()?;
    ch.configure_mesh()
        .x_desc("offered rate")
        .y_desc("p99 latency (log scale)")
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
        probe_curve(&mut ch, &l.name, style, c, &pts)?;
        if let Some(p) = max_point(c, &pts) {
            ch.draw_series(std::iter::once(
                EmptyElement::at(p) + Polygon::new(diamond(7), style.filled()),
            ))
            .e()?;
        }
    }
    marker_legend(&mut ch)?;
    legend(&mut ch, SeriesLabelPosition::UpperLeft, 0.85)
}
