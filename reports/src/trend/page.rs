//! The trend page: `index.html` with the series, the regressions of the newest report
//! first, a table per metric and a chart per metric (`trend_<k>.png` / `.svg`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Mark, Trend, WINDOW};
use crate::ReportError;
use crate::fmt::{self, esc};
use crate::html::{close_document, open_document};

/// Write `index.html` and one chart per metric into `out_dir`; returns the paths written,
/// `index.html` first.
pub fn render(t: &Trend, out_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| ReportError::Io { path, error }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let mut written = Vec::new();
    let index = out_dir.join("index.html");
    std::fs::write(&index, page(t)).map_err(io(&index))?;
    written.push(index);
    for k in 0..t.metrics.len() {
        let stem = format!("trend_{k}");
        let png = out_dir.join(format!("{stem}.png"));
        crate::charts::render_trend_png(t, k, &png)?;
        written.push(png);
        let svg_path = out_dir.join(format!("{stem}.svg"));
        let svg = crate::charts::render_trend_svg(t, k)?;
        std::fs::write(&svg_path, svg).map_err(io(&svg_path))?;
        written.push(svg_path);
    }
    Ok(written)
}

/// A value with its mark as a table cell.
fn cell(v: Option<f64>, mark: Mark, unit: crate::compare::Unit, change: Option<f64>) -> String {
    let Some(v) = v else {
        return "<td class=\"muted\">-</td>".to_string();
    };
    let text = esc(&unit.show(v));
    match (mark, change) {
        (Mark::Regression, Some(c)) => format!(
            "<td class=\"missed\" title=\"regression against the trend\">▼ {text} ({})</td>",
            esc(&fmt::signed_pct(c))
        ),
        (Mark::Progression, Some(c)) => format!(
            "<td class=\"met\" title=\"progression against the trend\">▲ {text} ({})</td>",
            esc(&fmt::signed_pct(c))
        ),
        _ => format!("<td>{text}</td>"),
    }
}

/// The page.
fn page(t: &Trend) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let first = t.entries.first().map(|e| e.label()).unwrap_or_default();
    let last = t.entries.last().map(|e| e.label()).unwrap_or_default();
    open_document(
        &mut out,
        "offsim trend",
        &format!(
            "{} report(s) from <code>{}</code> to <code>{}</code> · each value against the median of up to {WINDOW} before it · tolerance ±{} %",
            t.entries.len(),
            esc(&first),
            esc(&last),
            esc(&fmt::num(t.tolerance_pct))
        ),
        "offsim",
    );
    out.push_str("<section id=\"findings\">\n<h2>Newest report</h2>\n<ul class=\"findings\">\n");
    let regs: Vec<_> = t.latest_regressions().collect();
    if regs.is_empty() {
        let _ = writeln!(
            out,
            "<li class=\"met\">No regression in the newest report ({}).</li>",
            esc(&last)
        );
    }
    let n = t.entries.len().saturating_sub(1);
    for l in regs {
        let _ = writeln!(
            out,
            "<li class=\"missed\">{} <code>{}</code> regressed: {} against a trend of {} ({}).</li>",
            esc(&l.run),
            esc(l.metric),
            esc(&l.values[n].map_or("-".into(), |v| l.unit.show(v))),
            esc(&l.trend[n].map_or("-".into(), |v| l.unit.show(v))),
            esc(&l.change_pct[n].map_or("-".into(), fmt::signed_pct))
        );
    }
    let older = t.anomalies().filter(|(i, _, _)| *i < n).count();
    let _ = writeln!(
        out,
        "<li>{older} earlier value(s) beyond the tolerance, marked ▼ (regression) or ▲ (progression) below.</li>\n</ul>\n</section>"
    );
    out.push_str("<section id=\"series\">\n<h2>Reports</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th>#</th><th class=\"l\">commit</th><th class=\"l\">date</th><th class=\"l\">scenario</th><th class=\"l\">file</th></tr></thead>\n<tbody>\n");
    for (i, e) in t.entries.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td>{i}</td><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td></tr>",
            esc(e.commit.as_deref().unwrap_or("-")),
            esc(e.date.as_deref().unwrap_or("-")),
            esc(&e.scenario),
            esc(&e.file)
        );
    }
    out.push_str("</tbody>\n</table></div>\n</section>\n");
    out.push_str("<section id=\"charts\">\n<h2>Metrics</h2>\n");
    for (k, m) in t.metrics.iter().enumerate() {
        let _ = writeln!(
            out,
            "<h3><code>{}</code></h3>\n<figure><img src=\"trend_{k}.png\" width=\"{}\" height=\"{}\" alt=\"{} over the reports\"><figcaption>{} over the reports; ▼ regression, ▲ progression · <a href=\"trend_{k}.svg\">SVG</a></figcaption></figure>",
            esc(m),
            crate::charts::WIDTH,
            crate::charts::HEIGHT,
            esc(m),
            esc(m)
        );
        let lines: Vec<_> = t.lines.iter().filter(|l| l.metric == *m).collect();
        if lines.is_empty() {
            continue;
        }
        out.push_str("<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\">report</th>");
        for l in &lines {
            let _ = write!(out, "<th>{}</th>", esc(&l.run));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for (i, e) in t.entries.iter().enumerate() {
            let _ = write!(
                out,
                "<tr><td class=\"l\"><code>{}</code></td>",
                esc(&e.label())
            );
            for l in &lines {
                out.push_str(&cell(l.values[i], l.marks[i], l.unit, l.change_pct[i]));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table></div>\n");
    }
    out.push_str(
        "</section>\n<footer>Generated by offsim trend from the reports listed above.</footer>\n",
    );
    close_document(&mut out);
    out
}
