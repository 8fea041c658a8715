//! The capacity plan section: the capacity sentence, the highest rate within the SLO of
//! each configuration, and every probed rate.

use std::fmt::Write as _;

use super::common::{h, row, table_end, table_head, verdict};
use super::findings::plan_sentence;
use crate::charts::Chart;
use crate::fmt::{self, esc};
use crate::schema::Report;

/// The capacity plan section: the capacity sentence, one row per configuration, then a
/// table of probed rates per configuration. Nothing for other reports.
pub(super) fn plan_section(out: &mut String, r: &Report, knee: &[&Chart]) {
    let Some(plan) = &r.plan else { return };
    h(out, "<section id=\"plan\">\n<h2>Capacity plan</h2>\n");
    match plan_sentence(r) {
        Some(s) => {
            let _ = writeln!(
                out,
                "<p class=\"headline\"><strong>{}</strong></p>",
                esc(&s)
            );
        }
        None => h(
            out,
            "<p><strong>No configuration met the SLO at any probed rate.</strong></p>\n",
        ),
    }
    table_head(
        out,
        &[
            "configuration",
            "highest rate within SLO",
            "packets/s",
            "limited by",
            "probed rates",
        ],
    );
    for c in &plan.configs {
        row(
            out,
            &c.name,
            &[
                c.max_bps.map_or("none".to_string(), fmt::bps),
                c.max_pps.map_or("-".to_string(), fmt::pps),
                if c.limited_by.is_empty() {
                    "-".into()
                } else {
                    format!("<code>{}</code>", esc(&c.limited_by))
                },
                c.points.len().to_string(),
            ],
        );
    }
    table_end(out);
    for c in knee {
        super::figure(out, c);
    }
    for c in &plan.configs {
        let _ = writeln!(out, "<h3>Probed rates: {}</h3>", esc(&c.name));
        table_head(
            out,
            &[
                "offered",
                "offered pps",
                "delivered",
                "p99",
                "drops",
                "CPU",
                "SLO",
            ],
        );
        for p in &c.points {
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt::bps(p.offered_bps),
                fmt::pps(p.offered_pps),
                fmt::bps(p.delivered_bps),
                fmt::ns(p.p99_ns as f64),
                fmt::pct(p.drop_rate),
                fmt::pct(p.cpu_util),
                verdict(p.met)
            );
        }
        table_end(out);
    }
    h(out, "</section>\n");
}
