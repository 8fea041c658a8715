//! The chart of one metric over a trend's reports: one line per run, regressions (red
//! down-triangles) and progressions (green up-triangles) against the trend marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::draw::{
    Ctx, R, builder, color, finite, label_style, legend, no_data, segment_label, short, tidy,
    y_range,
};
use crate::trend::{Mark, Trend};

/// Most runs drawn on one trend chart.
const MAX_LINES: usize = 12;

/// Metric `k` of `t` over the reports.
pub(super) fn draw_trend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Trend,
    k: usize,
) -> R<()> {
    let Some(metric) = t.metrics.get(k) else {
        return no_data(area, "trend", "no such metric");
    };
    let title = format!("{metric} over {} report(s)", t.entries.len());
    let lines: Vec<_> = t
        .lines
        .iter()
        .filter(|l| l.metric == *metric)
        .take(MAX_LINES)
        .collect();
    if lines.is_empty() || t.entries.is_empty() {
        return no_data(area, &title, "no data");
    }
    let unit = lines[0].unit;
    let n = t.entries.len() as u32;
    let labels: Vec<String> = t.entries.iter().map(|e| short(&e.label(), 12)).collect();
    let (y0, y1) = y_range(
        lines
            .iter()
            .flat_map(|l| l.values.iter().flatten().copied()),
    );
    let mut ch = builder(area, &title, 90)
        .build_cartesian_2d((0u32..n.max(1) - 1).into_segmented(), y0..y1)
        .e()?;
    ch.configure_mesh()
        .disable_x_mesh()
        .x_desc("report (commit, oldest first)")
        .label_style(label_style())
        .axis_desc_style(label_style())
        .x_labels(n.min(16) as usize)
        .x_label_formatter(&|v| segment_label(&labels, v))
        .y_label_formatter(&|v| tidy(unit.show(*v)))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .e()?;
    for (i, l) in lines.iter().enumerate() {
        let style = ShapeStyle::from(&color(i)).stroke_width(2);
        let pts: Vec<(SegmentValue<u32>, f64)> = l
            .values
            .iter()
            .enumerate()
            .filter_map(|(x, v)| v.map(|v| (SegmentValue::CenterOf(x as u32), finite(v))))
            .collect();
        ch.draw_series(LineSeries::new(pts.clone(), style))
            .e()?
            .label(short(&l.run, 30))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        ch.draw_series(
            pts.iter()
                .map(|p| Circle::new(p.clone(), 3, style.filled())),
        )
        .e()?;
        for (x, (v, m)) in l.values.iter().zip(&l.marks).enumerate() {
            let (Some(v), true) = (v, *m != Mark::Normal) else {
                continue;
            };
            let (c, up) = match m {
                Mark::Regression => (RED, false),
                _ => (RGBColor(26, 127, 55), true),
            };
            let p = (SegmentValue::CenterOf(x as u32), finite(*v));
            ch.draw_series(std::iter::once(
                EmptyElement::at(p)
                    + Polygon::new(
                        if up {
                            vec![(0, -11), (-8, 4), (8, 4)]
                        } else {
                            vec![(0, 11), (-8, -4), (8, -4)]
                        },
                        c.filled(),
                    ),
            ))
            .e()?;
        }
    }
    legend(&mut ch, SeriesLabelPosition::UpperLeft, 0.85)
}
