//! The report's figures of the model under load: what each timeline event did and cost,
//! what each port's qdisc did, and the warnings that go with them.

use offsim_reports::schema as rep;
use offsim_traces::time::NS_PER_SEC;

use super::duration_stats;
use crate::engine::Engine;

/// What each timeline event did and cost.
pub(super) fn event_reports(e: &Engine) -> Vec<rep::EventReport> {
    let secs = |ns: u64| ns as f64 / NS_PER_SEC as f64;
    e.event_outcomes()
        .into_iter()
        .map(|o| {
            let c = &o.counters;
            rep::EventReport {
                at_s: secs(o.event.at_ns),
                kind: o.event.kind.name().to_string(),
                target: o.event.target.clone(),
                flows: c.flows,
                hw_flows: c.hw_flows,
                conntrack_deleted: c.conntrack,
                slow_path_packets: c.slow_packets,
                readded: c.readded,
                hw_reinserted: c.hw_readded,
                last_readd_s: c.last_readd.map(|t| secs(t.0.saturating_sub(o.at.0))),
                link_down_lost: o.link_lost,
                misdirected: c.misdirected,
                old_verdict_packets: c.old_verdict,
                old_verdict_bytes: c.old_verdict_bytes,
                old_verdict_until_s: c.last_old_verdict.map(|t| secs(t.0.saturating_sub(o.at.0))),
            }
        })
        .collect()
}

/// What each port's qdisc did.
pub(super) fn egress_reports(e: &Engine) -> Vec<rep::EgressReport> {
    e.egress_outcomes()
        .into_iter()
        .map(|o| rep::EgressReport {
            device: o.cfg.device.clone(),
            qdisc: o.cfg.qdisc.kind.name().to_string(),
            shaper_bps: o.cfg.shaper_bps.unwrap_or(0),
            rate_bps: o.rate_bps,
            sent: o.stats.sent,
            queue_delay_ns: duration_stats(&o.sojourn),
            codel_drops: o.stats.codel_drops,
            overlimit_drops: o.stats.overlimit_drops,
            ecn_marks: o.stats.ecn_marks,
            peak_backlog: u64::from(o.stats.peak_backlog),
            bypassed_hw: o.bypassed,
        })
        .collect()
}

/// Events timed after the replay's last packet: they happen on an idle router and change
/// nothing a user would see, which is worth saying (times are on the replay's clock, so a
/// faster replay ends before a capture's own times).
pub(super) fn late_events(events: &[crate::timeline::TimedEvent], replay_ns: u64) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.at_ns > replay_ns)
        .map(|e| {
            format!(
                "event `{}` at {:.3} s comes after the last packet (the replay lasts {:.3} s): no traffic was left to show what it did",
                e.kind.name(),
                e.at_ns as f64 / 1e9,
                replay_ns as f64 / 1e9
            )
        })
        .collect()
}

/// A qdisc that dropped in an open-loop replay: its queue is what unresponsive senders
/// build, not what TCP would (TCP backs off at the first drop or mark).
pub(super) fn open_loop_queue_warnings(runs: &[rep::Run]) -> Vec<String> {
    let mut w = Vec::new();
    for r in runs.iter().filter(|r| r.closed_loop.is_none()) {
        for e in &r.egress {
            if e.codel_drops + e.overlimit_drops > 0 {
                w.push(format!(
                    "{}: the {} qdisc on {} dropped {} packets and held up to {}: the replay is open-loop, so senders do not slow down when it drops or marks; TCP senders would back off and CoDel would hold their queue near its target (replay.mode = \"closed-loop\" models them)",
                    r.name,
                    e.qdisc,
                    e.device,
                    e.codel_drops + e.overlimit_drops,
                    e.peak_backlog
                ));
            }
        }
    }
    w
}

/// What the closed-loop senders did, when they ran.
pub(super) fn closed_loop_report(e: &Engine, span_ns: u64) -> Option<rep::ClosedLoop> {
    let st = e.closed_loop_stats()?;
    let secs = span_ns as f64 / NS_PER_SEC as f64;
    Some(rep::ClosedLoop {
        congestion: st.congestion.name().to_string(),
        senders: st.senders,
        aborted: st.aborted,
        retransmissions: st.retransmissions,
        fast_retransmits: st.fast_retransmits,
        rtos: st.rtos,
        ecn_reductions: st.ecn_reductions,
        goodput_up_bps: st.goodput_bytes[0] as f64 * 8.0 / secs,
        goodput_down_bps: st.goodput_bytes[1] as f64 * 8.0 / secs,
        router_delay_bulk_ns: duration_stats(&st.router_delay[0]),
        router_delay_sparse_ns: duration_stats(&st.router_delay[1]),
        top_senders: st
            .top
            .iter()
            .map(|s| rep::SenderReport {
                flow: s.flow.to_string(),
                bytes: s.bytes,
                goodput_bps: if s.duration_ns == 0 {
                    0.0
                } else {
                    s.bytes as f64 * 8.0 / (s.duration_ns as f64 / NS_PER_SEC as f64)
                },
                retransmissions: s.retransmissions,
                rtos: s.rtos,
            })
            .collect(),
    })
}
