//! The sweep section: one table row per run of each point, with the point's parameter
//! values, and the points' warnings.

use std::fmt::Write as _;

use super::common::{h, slo_verdict, table_end};
use crate::fmt::{self, esc};
use crate::schema::Report;

/// The sweep section: the points, one row per run (parameter values span the point's
/// rows), then the point warnings. Nothing for other reports.
pub(super) fn sweep_section(out: &mut String, r: &Report) {
    let Some(sw) = &r.sweep else { return };
    h(out, "<section id=\"sweep\">\n<h2>Sweep</h2>\n");
    let _ = writeln!(
        out,
        "<p>{} point(s) of {} over {}.</p>",
        sw.points.len(),
        sw.total_points,
        if sw.parameters.is_empty() {
            "no parameter".to_string()
        } else {
            esc(&sw.parameters.join(" × "))
        }
    );
    if let Some(sh) = sw.shard {
        let _ = writeln!(
            out,
            "<p class=\"warn\">This is shard {} of {}: merge the shards with <code>offsim merge</code> for the whole grid.</p>",
            sh.index, sh.count
        );
    }
    h(out, "<div class=\"scroll\"><table>\n<thead><tr><th>#</th>");
    for p in &sw.parameters {
        let _ = write!(out, "<th>{}</th>", esc(p));
    }
    h(
        out,
        "<th class=\"l\">run</th><th>delivered</th><th>p99</th><th>busiest core</th><th>CPU mean</th><th>hardware share</th><th>HW refusals</th><th>SLO</th></tr></thead>\n<tbody>\n",
    );
    for p in &sw.points {
        for (k, name) in p.runs.iter().enumerate() {
            let Some(run) = r.run(name) else { continue };
            h(out, "<tr>");
            if k == 0 {
                let span = p.runs.len();
                let _ = write!(out, "<td rowspan=\"{span}\">{}</td>", p.index);
                for param in &sw.parameters {
                    let v = p
                        .values
                        .get(param)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into());
                    let _ = write!(out, "<td rowspan=\"{span}\">{}</td>", esc(&v));
                }
            }
            let _ = writeln!(
                out,
                "<td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&run.policy),
                fmt::bps(run.throughput.delivered_bps),
                fmt::ns(run.latency_ns.overall.p99 as f64),
                fmt::pct(run.cpu.busiest_core().map_or(run.cpu.util_mean, |(_, u)| u)),
                fmt::pct(run.cpu.util_mean),
                fmt::pct(run.paths.shares().2),
                fmt::count(run.nic.refusals),
                slo_verdict(run)
            );
        }
    }
    table_end(out);
    let point_warnings: Vec<(u64, &String)> = sw
        .points
        .iter()
        .flat_map(|p| p.warnings.iter().map(move |w| (p.index, w)))
        .collect();
    if !point_warnings.is_empty() {
        h(out, "<h3>Point warnings</h3>\n");
        for (i, w) in point_warnings {
            let _ = writeln!(out, "<p class=\"warn\">point {i}: {}</p>", esc(w));
        }
    }
    h(out, "</section>\n");
}
