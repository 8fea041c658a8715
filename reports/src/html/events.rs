//! The timeline events of a run report: one row per event and configuration, with what the
//! event did to the kernel's state (entries torn down, conntrack entries deleted) and what
//! it cost afterwards (slow-path packets, re-adds, packets lost), and the findings'
//! sentences about them.

use super::common::{h, row, table_end, table_head};
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
