//! The model-under-load sections of a run report: the timeline events (one row per event
//! and configuration: what the event did to the kernel's state and what it cost
//! afterwards) and the egress qdiscs (queue delay, drops, what bypassed them in hardware),
//! with the findings' sentences about both.

use super::common::{count_share, h, row, table_end, table_head};
use crate::fmt;
use crate::schema::{EventReport, Report, ReportKind};

/// Whether any run of the report has events.
pub(super) fn has_events(r: &Report) -> bool {
    r.kind != ReportKind::Sweep && r.runs.iter().any(|x| !x.events.is_empty())
}

/// The events table.
pub(super) fn events_section(out: &mut String, r: &Report) {
    if !has_events(r) {
        return;
    }
    h(
        out,
        "<section id=\"events\">\n<h2>Events on the timeline</h2>\n<p>What each event did to the flowtable and conntrack, and what the connections it touched cost until they were offloaded again. A host that moves keeps its flowtable and hardware entries pointing at the port it left; packets sent there are lost (stale port).</p>\n",
    );
    table_head(
        out,
        &[
            "configuration",
            "at",
            "event",
            "entries torn down (in hardware)",
            "conntrack deleted",
            "slow-path packets after",
            "re-added (in hardware)",
            "last re-add after",
            "lost: port down",
            "lost: stale port",
        ],
    );
    let n = r.runs.iter().map(|x| x.events.len()).max().unwrap_or(0);
    for i in 0..n {
        for run in &r.runs {
            let Some(e) = run.events.get(i) else { continue };
            row(
                out,
                &run.name,
                &[
                    format!("{:.3} s", e.at_s),
                    fmt::esc(&label(e)),
                    format!("{} ({})", fmt::count(e.flows), fmt::count(e.hw_flows)),
                    fmt::count(e.conntrack_deleted),
                    fmt::count(e.slow_path_packets),
                    format!(
                        "{} ({})",
                        fmt::count(e.readded),
                        fmt::count(e.hw_reinserted)
                    ),
                    e.last_readd_s
                        .map_or_else(|| "-".to_string(), |s| format!("{s:.3} s")),
                    fmt::count(e.link_down_lost),
                    fmt::count(e.misdirected),
                ],
            );
        }
    }
    table_end(out);
    h(out, "</section>\n");
}

/// `host-move 192.168.1.20`.
fn label(e: &EventReport) -> String {
    if e.target.is_empty() {
        e.kind.clone()
    } else {
        format!("{} {}", e.kind, e.target)
    }
}

/// What a configuration the event did not touch is said to have had.
const NO_EFFECT: &str = "no effect";

/// One sentence per event that cost something in some configuration: what it cost in each
/// (plain text). The first run's events stand for the timeline (every run has the same).
pub fn event_sentences(r: &Report) -> Vec<String> {
    if !has_events(r) {
        return Vec::new();
    }
    let n = r.runs.iter().map(|x| x.events.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..n {
        let mut parts = Vec::new();
        let mut head = None;
        for run in &r.runs {
            let Some(e) = run.events.get(i) else { continue };
            head.get_or_insert_with(|| format!("{} at {:.1} s", label(e), e.at_s));
            let lost = e.link_down_lost + e.misdirected;
            let mut p = format!("{}: ", run.name);
            if e.flows == 0 && lost == 0 && e.conntrack_deleted == 0 {
                p += NO_EFFECT;
            } else {
                let mut bits = Vec::new();
                if e.flows > 0 {
                    bits.push(format!(
                        "{} flowtable entries {}",
                        fmt::count(e.flows),
                        if e.kind == "host-move" && e.misdirected > 0 {
                            "left on the old port"
                        } else {
                            "torn down"
                        }
                    ));
                }
                if e.conntrack_deleted > 0 {
                    bits.push(format!(
                        "{} conntrack entries deleted",
                        fmt::count(e.conntrack_deleted)
                    ));
                }
                if e.readded > 0 {
                    bits.push(format!("{} re-added", fmt::count(e.readded)));
                }
                if e.misdirected > 0 {
                    bits.push(format!(
                        "{} packets lost at the port the host left",
                        fmt::count(e.misdirected)
                    ));
                }
                if e.link_down_lost > 0 {
                    bits.push(format!(
                        "{} packets lost while the port was down",
                        fmt::count(e.link_down_lost)
                    ));
                }
                p += &bits.join(", ");
            }
            parts.push(p);
        }
        // an event that changed nothing anywhere (a link coming back up) goes unsaid
        if let Some(head) = head
            && parts.iter().any(|p| !p.ends_with(NO_EFFECT))
        {
            out.push(format!("{head}: {}.", parts.join("; ")));
        }
    }
    out
}

/// Whether any run of the report has an egress qdisc.
pub(super) fn has_egress(r: &Report) -> bool {
    r.kind != ReportKind::Sweep && r.runs.iter().any(|x| !x.egress.is_empty())
}

/// The egress qdiscs table: queue delay, drops, and what bypassed them in hardware.
pub(super) fn egress_section(out: &mut String, r: &Report) {
    if !has_egress(r) {
        return;
    }
    h(
        out,
        "<section id=\"egress\">\n<h2>Egress queues (host qdiscs)</h2>\n<p>Packets the CPU forwards (slow path and software flowtable) wait in the port's qdisc and leave at its rate or its shaper's; packets forwarded in hardware bypass both.</p>\n",
    );
    table_head(
        out,
        &[
            "configuration",
            "port",
            "qdisc",
            "drains at",
            "sent",
            "queue delay p50",
            "p99",
            "max",
            "CoDel drops",
            "over-limit drops",
            "ECN marks",
            "peak backlog",
            "bypassed in hardware",
        ],
    );
    for run in &r.runs {
        for e in &run.egress {
            let q = |f: fn(&crate::schema::DurationStats) -> u64| {
                e.queue_delay_ns
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |d| fmt::ns(f(d) as f64))
            };
            row(
                out,
                &run.name,
                &[
                    fmt::esc(&e.device),
                    fmt::esc(&e.qdisc),
                    if e.shaper_bps > 0 {
                        format!("{} (shaper)", fmt::bps(e.rate_bps as f64))
                    } else {
                        fmt::bps(e.rate_bps as f64)
                    },
                    fmt::count(e.sent),
                    q(|d| d.p50),
                    q(|d| d.p99),
                    q(|d| d.max),
                    fmt::count(e.codel_drops),
                    fmt::count(e.overlimit_drops),
                    fmt::count(e.ecn_marks),
                    fmt::count(e.peak_backlog),
                    count_share(e.bypassed_hw, e.bypassed_hw + e.sent),
                ],
            );
        }
    }
    table_end(out);
    h(out, "</section>\n");
}

/// One sentence per configuration and port with a qdisc: the queue delay it added, what
/// it dropped, and (with hardware offload) the share that bypassed it and its shaper.
pub fn egress_sentences(r: &Report) -> Vec<String> {
    if !has_egress(r) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for run in &r.runs {
        for e in &run.egress {
            let total = e.sent + e.bypassed_hw;
            let mut s = format!(
                "{}: {} egress ({}{})",
                run.name,
                e.device,
                e.qdisc,
                if e.shaper_bps > 0 {
                    format!(", shaped to {}", fmt::bps(e.shaper_bps as f64))
                } else {
                    String::new()
                }
            );
            if let Some(d) = &e.queue_delay_ns {
                s += &format!(
                    " queued the packets the CPU forwarded {} at the median, {} at p99",
                    fmt::ns(d.p50 as f64),
                    fmt::ns(d.p99 as f64)
                );
            } else {
                s += " carried no packet the CPU forwarded";
            }
            let drops = e.codel_drops + e.overlimit_drops;
            if drops > 0 {
                s += &format!(
                    " and dropped {} ({} by CoDel, {} over its limit)",
                    fmt::count(drops),
                    fmt::count(e.codel_drops),
                    fmt::count(e.overlimit_drops)
                );
            }
            if e.bypassed_hw > 0 && total > 0 {
                s += &format!(
                    "; {} of the packets leaving {} were forwarded in hardware, past the qdisc{}: SQM does not apply to hardware-offloaded flows",
                    fmt::pct(e.bypassed_hw as f64 / total as f64),
                    e.device,
                    if e.shaper_bps > 0 {
                        " and its shaper"
                    } else {
                        ""
                    }
                );
            }
            s.push('.');
            out.push(s);
        }
    }
    out
}
