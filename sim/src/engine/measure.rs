//! What a run measured: totals after the warm-up, per path and per interval, and how the
//! engine closes intervals and the run.

use std::collections::BTreeMap;

use offsim_kernel::Path;
use offsim_traces::time::{NS_PER_SEC, SimTime};

/// Timers that still run before a packet that ends a long idle gap.
const TIMER_TAIL_NS: u64 = 600 * NS_PER_SEC;

use super::Engine;
use crate::cpu::Stage;
use offsim_traces::histogram::Histogram;

/// Everything measured in a run.
#[derive(Clone, Debug, Default)]
pub struct Measure {
    /// Offered packets (after warm-up).
    pub offered: u64,
    /// Offered wire bytes.
    pub offered_bytes: u64,
    /// Delivered packets.
    pub delivered: u64,
    /// Delivered wire bytes.
    pub delivered_bytes: u64,
    /// Delivered to the router itself.
    pub local: u64,
    /// Dropped, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Dropped for lack of capacity (ports, NIC, RX rings, conntrack table).
    pub capacity_drops: u64,
    /// Dropped at a full RX ring, per core.
    pub ring_drops: Vec<u64>,
    /// Lost before the port because it was receiving at line rate, per port (LAN, WAN).
    pub overrun_drops: [u64; 2],
    /// Dropped at a full egress buffer, per outgoing port (LAN, WAN).
    pub egress_drops: [u64; 2],
    /// Most process-context work queued on one core at once, ns of execution.
    pub wq_peak_backlog_ns: u64,
    /// Packets per path, by [`Path::index`].
    pub paths: [u64; Path::COUNT],
    /// Latency overall.
    pub latency: Histogram,
    /// Latency per path, by [`Path::index`].
    pub latency_path: [Histogram; Path::COUNT],
    /// CPU cycles per path, by [`Path::index`] (hardware: none).
    pub cycles_path: [f64; Path::COUNT],
    /// CPU cycles by stage.
    pub cycles_stage: BTreeMap<&'static str, f64>,
    /// Busy ns per core (after warm-up).
    pub busy_ns: Vec<u64>,
    /// Packets that reached a core.
    pub cpu_packets: u64,
    /// Connections the router set up (conntrack entries confirmed) by measured packets.
    pub connections: u64,
    /// Start of the measured span.
    pub start: SimTime,
    /// End of the measured span.
    pub end: SimTime,
    /// Packets held at the end: fragments of datagrams that never completed (and any packet
    /// still queued, none once the event queue has drained).
    pub held: u64,
    /// Per-interval series.
    pub series: Vec<IntervalStats>,
    /// Peak hardware occupancy seen at interval ends.
    pub hw_peak: u64,
}

/// One interval of the time series.
#[derive(Clone, Debug, Default)]
pub struct IntervalStats {
    /// Interval number since the start of the measured span.
    pub index: u64,
    /// Offered packets.
    pub offered: u64,
    /// Offered wire bytes.
    pub offered_bytes: u64,
    /// Delivered packets.
    pub delivered: u64,
    /// Delivered wire bytes.
    pub delivered_bytes: u64,
    /// Busy ns summed over cores.
    pub busy_ns: u64,
    /// Packets per path, by [`Path::index`].
    pub paths: [u64; Path::COUNT],
    /// Drops.
    pub drops: u64,
    /// HW occupancy at the end.
    pub hw_occupancy: u64,
    /// HW inserts (cumulative count at the end).
    pub hw_inserts_total: u64,
    /// HW refusals (cumulative at the end).
    pub hw_refusals_total: u64,
    /// The most hardware adds waiting for an answer at once in the interval.
    pub hw_backlog: u64,
    /// p99 latency of packets delivered in the interval.
    pub p99_ns: u64,
}

/// Hardware offload counts over the whole run (warm-up included): what the driver did.
#[derive(Clone, Debug, Default)]
pub struct HwCounters {
    /// Hardware inserts (bound or listed).
    pub inserts: u64,
    /// Hardware refusals, by reason.
    pub refusals: BTreeMap<&'static str, u64>,
    /// Hardware deletes.
    pub deletes: u64,
    /// Hardware adds requested and not answered yet (in the workqueue or the NIC's
    /// pipeline).
    pub backlog: u64,
}

impl Engine {
    /// Ends the current interval of the time series at `t`.
    pub(super) fn close_interval(&mut self, t: SimTime) {
        let mut s = std::mem::take(&mut self.cur);
        let k = t.0.saturating_sub(self.m.start.0).saturating_sub(1) / self.cfg.interval_ns;
        // Never behind the previous entry (a partial last interval ends on a boundary).
        s.index = match self.m.series.last() {
            Some(p) => k.max(p.index + 1),
            None => k,
        };
        s.p99_ns = self.cur_hist.quantile(0.99);
        self.cur_hist = Histogram::new();
        let occ = self.nic.table().occupancy();
        s.hw_occupancy = occ;
        self.m.hw_peak = self.m.hw_peak.max(occ);
        s.hw_inserts_total = self.hw.inserts;
        s.hw_backlog = s.hw_backlog.max(self.hw.backlog);
        self.cur.hw_backlog = self.hw.backlog;
        s.hw_refusals_total = self.hw.refusals.values().sum();
        self.m.series.push(s);
        self.interval_start = t;
    }

    /// Ends the run: closes the last interval, names drops and stages, counts what is held.
    pub(super) fn finish(&mut self) {
        // The measured window ends with the last measured packet (a deferred connection may
        // still run after the trace's end, unmeasured).
        let end = self.counted_end.max(self.m.start);
        // Close the partial last interval.
        if self.cur.offered > 0 || self.cur.delivered > 0 {
            self.close_interval(end);
        }
        self.m.end = end;
        self.m.busy_ns = self.cores.iter().map(|c| c.busy_ns_counted).collect();
        // Packets still waiting in a ring (none once the queue has drained) and fragments of
        // datagrams that never completed are held; fragments of datagrams that timed out were
        // freed by the kernel without a verdict: dropped.
        self.m.held =
            self.cores.iter().map(|c| c.ring.len() as u64).sum::<u64>() + self.dp.held_fragments();
        let expired = self.dp.expired_fragments();
        if expired > 0 {
            *self
                .m
                .drops
                .entry("defrag_timeout".to_string())
                .or_insert(0) += expired;
        }
        // Stages with any cycles (only positive amounts are ever added).
        for (k, v) in self.stage_acc.iter().enumerate() {
            if *v > 0.0 {
                *self
                    .m
                    .cycles_stage
                    .entry(Stage::ALL[k].name())
                    .or_insert(0.0) += *v;
            }
        }
        self.stage_acc = [0.0; Stage::COUNT];
        for (k, n) in self.drops.drain(..) {
            *self.m.drops.entry(k.name()).or_insert(0) += n;
        }
        // The series grew by doubling; the report is built while every configuration's
        // engine is alive, so give back the slack.
        self.m.series.shrink_to_fit();
        self.dp.finish();
    }

    /// The end of the next interval after one ending at `t`. While nothing is queued or
    /// in service and the next packet arrives intervals later, the empty intervals in
    /// between are skipped (they would hold nothing): a capture whose timestamps jump days
    /// ahead costs no interval, and no event, per `interval_ms` of the gap.
    pub(super) fn next_interval_end(&self, t: SimTime) -> SimTime {
        let step = self.cfg.interval_ns;
        let next = SimTime(t.0.saturating_add(step));
        match &self.next {
            Some((at, _)) if *at > next && self.idle() => {
                let start = self.m.start.0;
                let k = at.0.saturating_sub(start) / step;
                SimTime(start.saturating_add((k + 1).saturating_mul(step))).max(next)
            }
            _ => next,
        }
    }

    /// The next timer run after `next`: while the engine is idle and the next packet is far
    /// off, the 1-second timers (flowtable and conntrack GC) of the middle of the gap are
    /// skipped; the last [`TIMER_TAIL_NS`] before the packet still run, on the same
    /// 1-second grid, so whatever times out during the gap is reaped before it arrives.
    pub(super) fn skip_idle_timers(&self, next: SimTime) -> SimTime {
        match &self.next {
            Some((at, _)) if at.0 > next.0.saturating_add(TIMER_TAIL_NS) && self.idle() => {
                let gap = at.0 - next.0 - TIMER_TAIL_NS;
                SimTime(next.0 + gap / NS_PER_SEC * NS_PER_SEC)
            }
            _ => next,
        }
    }

    /// Measured span in ns (at least 1).
    pub fn span_ns(&self) -> u64 {
        self.m.end.0.saturating_sub(self.m.start.0).max(1)
    }
}
