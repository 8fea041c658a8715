//! A port's host qdisc in the engine: packets the CPU forwards (slow path and software
//! flowtable: `neigh_xmit` / `dev_queue_xmit` → `__dev_xmit_skb`) wait in the port's qdisc
//! (`crate::qdisc`) and leave it one at a time at the port's rate, or its shaper's; what the
//! qdisc drops is lost. Packets the NIC forwards in hardware never meet the qdisc nor the
//! shaper: they are counted as bypassing it.

use offsim_traces::histogram::Histogram;
use offsim_traces::time::SimTime;

use super::{DropKind, Engine, Ev};
use crate::qdisc::{EgressConfig, Entry, Qdisc, QdiscStats};

/// A port's egress qdisc and its drain.
#[derive(Debug)]
pub(super) struct Egress {
    cfg: EgressConfig,
    q: Qdisc,
    /// Bits per second it drains at.
    rate_bps: u64,
    /// When the packet being sent has left.
    free_at: SimTime,
    /// An `EgressOut` event is pending.
    scheduled: bool,
    /// Time in the qdisc of the packets sent, ns.
    sojourn: Histogram,
    /// Packets forwarded in hardware out of this port (they skip the qdisc and shaper).
    bypassed: u64,
    /// Scratch: handles of dropped packets.
    dropped: Vec<u32>,
}

/// What a port's qdisc did, for the report.
#[derive(Clone, Debug)]
pub struct EgressOutcome {
    /// The configuration.
    pub cfg: EgressConfig,
    /// The rate it drained at, bits per second.
    pub rate_bps: u64,
    /// Its counters.
    pub stats: QdiscStats,
    /// Time in the qdisc of the packets sent, ns.
    pub sojourn: Histogram,
    /// Packets forwarded in hardware out of the port, past the qdisc and shaper.
    pub bypassed: u64,
}

impl Egress {
    pub(super) fn new(cfg: EgressConfig, line_rate_bps: u64) -> Egress {
        Egress {
            q: Qdisc::new(cfg.qdisc),
            rate_bps: cfg
                .shaper_bps
                .map_or(line_rate_bps, |s| s.min(line_rate_bps))
                .max(1),
            cfg,
            free_at: SimTime(0),
            scheduled: false,
            sojourn: Histogram::new(),
            bypassed: 0,
            dropped: Vec::new(),
        }
    }

    /// How long `bytes` (a frame, plus preamble and gap) take at the drain rate.
    fn wire_ns(&self, bytes: u32) -> u64 {
        let bits = (u64::from(bytes) + crate::replay::WIRE_OVERHEAD_BYTES) * 8;
        (u128::from(bits) * 1_000_000_000 / u128::from(self.rate_bps)) as u64
    }
}

impl Engine {
    /// Whether side `out`'s port has a qdisc.
    #[inline]
    pub(super) fn has_egress(&self, out: usize) -> bool {
        self.egress[out].is_some()
    }

    /// A packet forwarded in hardware leaves by `out`: past its qdisc, if any.
    #[inline]
    pub(super) fn egress_bypassed(&mut self, out: usize) {
        if let Some(e) = &mut self.egress[out] {
            e.bypassed += 1;
        }
    }

    /// In-flight packet `i` reaches its port's qdisc at `t`.
    pub(super) fn egress_enqueue(&mut self, t: SimTime, i: u32, out: usize) {
        let Some(f) = self.inflight[i as usize] else {
            return;
        };
        let pkt = &self.pkts[f.pkt as usize];
        // `fq_codel_classify` → `skb_get_hash`: the receive hash the NIC's RSS set
        let hash = self.rss.hash(pkt);
        let entry = Entry {
            id: i,
            len: pkt.wire_len,
            enq: t,
            // ECT(0) or ECT(1): the low two bits of the TOS byte are 10 or 01
            ect: matches!(pkt.ecn, 1 | 2),
            ce: false,
        };
        let e = self.egress[out].as_mut().expect("egress checked");
        e.q.enqueue(hash, entry, &mut e.dropped);
        self.egress_drops(out);
        let e = self.egress[out].as_mut().expect("egress checked");
        if !e.scheduled && !e.q.is_empty() {
            e.scheduled = true;
            let at = t.max(e.free_at);
            self.push(at, Ev::EgressOut(out as u8));
        }
    }

    /// The port `out` can send: the qdisc's next packet goes to the NIC.
    pub(super) fn egress_out(&mut self, t: SimTime, out: usize) {
        let e = self.egress[out]
            .as_mut()
            .expect("egress event without egress");
        e.scheduled = false;
        let next = e.q.dequeue(t, &mut e.dropped);
        self.egress_drops(out);
        let Some(entry) = next else { return };
        if entry.ce
            && let Some(f) = self.inflight[entry.id as usize]
        {
            // `INET_ECN_set_ce`: the packet leaves marked Congestion Experienced
            self.pkts[f.pkt as usize].ecn = 3;
        }
        let e = self.egress[out].as_mut().expect("egress checked");
        e.sojourn.record(t.0.saturating_sub(entry.enq.0));
        e.free_at = SimTime(t.0 + e.wire_ns(entry.len));
        if !e.q.is_empty() {
            e.scheduled = true;
            let at = e.free_at;
            self.push(at, Ev::EgressOut(out as u8));
        }
        self.transmit(t, entry.id);
    }

    /// Counts and frees what the qdisc of `out` just dropped.
    fn egress_drops(&mut self, out: usize) {
        let Some(e) = self.egress[out].as_mut() else {
            return;
        };
        if e.dropped.is_empty() {
            return;
        }
        let dropped = std::mem::take(&mut e.dropped);
        for &i in &dropped {
            let Some(f) = self.inflight[i as usize].take() else {
                continue;
            };
            self.inflight_free.push(i);
            if f.counted {
                self.count_drop(DropKind::Qdisc, f.packets);
            }
            self.lost_slot(f.at, f.pkt);
        }
        let mut dropped = dropped;
        dropped.clear();
        if let Some(e) = self.egress[out].as_mut() {
            e.dropped = dropped;
        }
    }

    /// What each port's qdisc did (LAN, then WAN).
    pub fn egress_outcomes(&self) -> Vec<EgressOutcome> {
        self.egress
            .iter()
            .flatten()
            .map(|e| EgressOutcome {
                cfg: e.cfg.clone(),
                rate_bps: e.rate_bps,
                stats: e.q.stats,
                sojourn: e.sojourn.clone(),
                bypassed: e.bypassed,
            })
            .collect()
    }
}
