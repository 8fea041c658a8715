//! The capacity plan section: the capacity sentence; per configuration the non-drop rate
//! (NDR), the partial-drop rate (PDR) and the highest rate within the SLO, in wire bits and
//! packets; then every probed rate.

use std::fmt::Write as _;

use super::common::{h, row, table_end, table_head, verdict};
use super::findings::plan_sentence;
use crate::charts::Chart;
use crate::fmt::{self, esc};
use crate::schema::{RateBound, Report};

/// A rate bound as the table shows it: wire bits (what `replay.rate_gbps` sets) and packets
/// per second; `+` when even the highest rate probed passed (the bound is the plan's range,
/// not the router).
fn bound(b: Option<&RateBound>) -> String {
    match b {
        None => "none".into(),
        Some(b) if b.lower.cps > 0.0 => format!(
            "{}{} ({}, {} new conn/s)",
            fmt::bps(b.lower.wire_bps),
            if b.upper.is_none() { "+" } else { "" },
            fmt::pps(b.lower.pps),
            fmt::sig3(b.lower.cps)
        ),
        Some(b) => format!(
            "{}{} ({})",
            fmt::bps(b.lower.wire_bps),
            if b.upper.is_none() { "+" } else { "" },
            fmt::pps(b.lower.pps)
        ),
    }
}

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
    let pdr = format!("PDR (loss ≤ {})", fmt::pct(plan.pdr_loss));
    table_head(
        out,
        &[
            "configuration",
            "NDR (no loss)",
            &pdr,
            "within the SLO",
            "limited by",
            "probed rates",
        ],
    );
    for c in &plan.configs {
        row(
            out,
            &c.name,
            &[
                bound(c.ndr.as_ref()),
                bound(c.pdr.as_ref()),
                match (&c.slo, c.max_bps) {
                    (Some(_), _) => bound(c.slo.as_ref()),
                    (None, Some(b)) => fmt::bps(b),
                    (None, None) => "none".into(),
                },
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
    h(
        out,
        "<p class=\"note\">Rates are offered load in wire bits (L1: frame, preamble, gap and FCS, as <code>replay.rate_gbps</code> paces) and packets per second. Loss counts only what the router failed to forward for lack of capacity, beyond the drops the ruleset and the trace cause at the lowest rate.</p>\n",
    );
    for c in &plan.configs {
        if !c.window.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"note\">{}: {}; drops by design {}.</p>",
                esc(&c.name),
                esc(&c.window),
                fmt::pct(c.design_drop_rate)
            );
        }
    }
    for c in knee {
        super::figure(out, c);
    }
    for c in &plan.configs {
        let _ = writeln!(out, "<h3>Probed rates: {}</h3>", esc(&c.name));
        table_head(
            out,
            &[
                "offered (wire)",
                "offered pps",
                "delivered",
                "p99",
                "drops",
                "loss",
                "busiest core",
                "SLO",
            ],
        );
        for p in &c.points {
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt::bps(p.offered_wire_bps),
                fmt::pps(p.offered_pps),
                fmt::bps(p.delivered_bps),
                fmt::ns(p.p99_ns as f64),
                fmt::pct(p.drop_rate),
                fmt::pct(p.loss_rate),
                fmt::pct(p.cpu_busiest),
                verdict(p.met)
            );
        }
        table_end(out);
    }
    h(out, "</section>\n");
}
