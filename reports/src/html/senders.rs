//! The closed-loop senders' section of a run report (`replay.mode = "closed-loop"`): per
//! configuration, what the TCP senders got through (goodput per direction), how often they
//! backed off (fast retransmits, timeouts, ECN echoes), and how long their data segments
//! spent in the router, bulk and sparse apart; with the findings' sentence about it.

use super::common::{h, row, table_end, table_head};
use crate::fmt;
use crate::schema::{DurationStats, Report, ReportKind};

/// Whether any run of the report had closed-loop senders.
pub(super) fn has_senders(r: &Report) -> bool {
    r.kind != ReportKind::Sweep && r.runs.iter().any(|x| x.closed_loop.is_some())
}

fn p(d: &Option<DurationStats>, f: fn(&DurationStats) -> u64) -> String {
    d.as_ref()
        .map_or_else(|| "-".to_string(), |d| fmt::ns(f(d) as f64))
}

/// The senders table, and their largest senders.
pub(super) fn senders_section(out: &mut String, r: &Report) {
    if !has_senders(r) {
        return;
    }
    h(
        out,
        "<section id=\"senders\">\n<h2>Closed-loop TCP senders</h2>\n<p>Each TCP connection of the trace sent its bytes under congestion control, clocked by the ACKs the router forwarded back: drops and ECN marks slow it down, and queueing delay reaches it through the RTT. Router delay is the time a data segment spent between arriving at the router and leaving it: <em>bulk</em> for segments sent while the congestion window held data back, <em>sparse</em> for the others.</p>\n",
    );
    table_head(
        out,
        &[
            "configuration",
            "senders",
            "goodput down",
            "goodput up",
            "fast retransmits",
            "timeouts",
            "ECN reductions",
            "retransmitted segments",
            "bulk delay p50",
            "p99",
            "sparse delay p50",
            "p99",
        ],
    );
    for run in &r.runs {
        let Some(c) = &run.closed_loop else { continue };
        row(
            out,
            &run.name,
            &[
                format!("{} ({})", fmt::count(c.senders), fmt::esc(&c.congestion)),
                fmt::bps(c.goodput_down_bps),
                fmt::bps(c.goodput_up_bps),
                fmt::count(c.fast_retransmits),
                fmt::count(c.rtos),
                fmt::count(c.ecn_reductions),
                fmt::count(c.retransmissions),
                p(&c.router_delay_bulk_ns, |d| d.p50),
                p(&c.router_delay_bulk_ns, |d| d.p99),
                p(&c.router_delay_sparse_ns, |d| d.p50),
                p(&c.router_delay_sparse_ns, |d| d.p99),
            ],
        );
    }
    table_end(out);
    h(out, "<h3>Largest senders</h3>\n");
    table_head(
        out,
        &[
            "configuration",
            "sender",
            "bytes",
            "goodput",
            "retransmitted",
            "timeouts",
        ],
    );
    for run in &r.runs {
        let Some(c) = &run.closed_loop else { continue };
        for s in &c.top_senders {
            row(
                out,
                &run.name,
                &[
                    fmt::esc(&s.flow),
                    fmt::count(s.bytes),
                    fmt::bps(s.goodput_bps),
                    fmt::count(s.retransmissions),
                    fmt::count(s.rtos),
                ],
            );
        }
    }
    table_end(out);
    h(out, "</section>\n");
}

/// One sentence per configuration with closed-loop senders: what they got through, the
/// router delay of bulk and sparse data, and how they backed off.
pub fn sender_sentences(r: &Report) -> Vec<String> {
    if !has_senders(r) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for run in &r.runs {
        let Some(c) = &run.closed_loop else { continue };
        let mut s = format!(
            "{}: {} closed-loop TCP senders ({}) delivered {} of data down and {} up over {} (a configuration runs until its senders' bytes are acknowledged)",
            run.name,
            fmt::count(c.senders),
            c.congestion,
            fmt::bps_text(c.goodput_down_bps),
            fmt::bps_text(c.goodput_up_bps),
            fmt::ns(run.duration_ns as f64)
        );
        match (&c.router_delay_bulk_ns, &c.router_delay_sparse_ns) {
            (Some(b), Some(sp)) => {
                s += &format!(
                    "; bulk data waited {} in the router at the median ({} at p99), sparse data {} ({})",
                    fmt::ns(b.p50 as f64),
                    fmt::ns(b.p99 as f64),
                    fmt::ns(sp.p50 as f64),
                    fmt::ns(sp.p99 as f64)
                );
            }
            (Some(b), None) | (None, Some(b)) => {
                s += &format!(
                    "; their data waited {} in the router at the median ({} at p99)",
                    fmt::ns(b.p50 as f64),
                    fmt::ns(b.p99 as f64)
                );
            }
            (None, None) => {}
        }
        s += &format!(
            "; they backed off {} times on a loss ({} fast retransmits, {} timeouts) and {} times on an ECN mark.",
            fmt::count(c.fast_retransmits + c.rtos),
            fmt::count(c.fast_retransmits),
            fmt::count(c.rtos),
            fmt::count(c.ecn_reductions)
        );
        out.push(s);
    }
    out
}
