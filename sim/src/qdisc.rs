//! Host queueing disciplines on a software path's egress: `pfifo_fast`, `fq_codel` and
//! `cake`'s flow queueing with CoDel, as the kernel dequeues them. The engine feeds a device's
//! qdisc and drains it at the device's rate or its shaper's (`engine/egress.rs`); packets the
//! NIC forwards in hardware never meet it.
//!
//! - `pfifo_fast` (`sch_generic.c`): one FIFO of `txqueuelen` packets (1000), tail drop. Its
//!   three priority bands by TOS are not modelled: traces rarely mark TOS.
//! - `fq_codel` (`sch_fq_codel.c`): packets hashed to `flows` queues (1024); deficit round
//!   robin with `quantum` bytes (1514), new flows served before old ones
//!   (`fq_codel_dequeue`); CoDel per queue at dequeue (`codel_dequeue` in
//!   `include/net/codel_impl.h`: target 5 ms, interval 100 ms, drop spacing interval/√count),
//!   ECN-capable packets marked instead of dropped; over `limit` (10240) packets,
//!   `fq_codel_drop` drops from the head of the fattest queue until half its bytes are gone
//!   (at most 64 packets).
//! - `cake` (`sch_cake.c`): flow queueing with COBALT, modelled here by its CoDel half and
//!   `fq_codel`'s scheduler; its BLUE half (for unresponsive flows when the queue is full),
//!   host isolation and 8-way set-associative hashing are not modelled. Its shaper is the
//!   engine's (`shaper_mbit`).
//!
//! Written here rather than taken from a crate: no crate models kernel qdiscs on simulated
//! time, and the dequeue order and drop decisions must be the kernel's.

use std::collections::VecDeque;

use offsim_traces::time::SimTime;

/// The discipline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QdiscKind {
    /// One FIFO, tail drop.
    PfifoFast,
    /// Flow queues with CoDel.
    FqCodel,
    /// cake: flow queues with COBALT's CoDel half.
    Cake,
}

impl QdiscKind {
    /// The name in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            QdiscKind::PfifoFast => "pfifo_fast",
            QdiscKind::FqCodel => "fq_codel",
            QdiscKind::Cake => "cake",
        }
    }

    /// By name.
    pub fn parse(s: &str) -> Option<QdiscKind> {
        match s {
            "pfifo_fast" | "pfifo" => Some(QdiscKind::PfifoFast),
            "fq_codel" => Some(QdiscKind::FqCodel),
            "cake" => Some(QdiscKind::Cake),
            _ => None,
        }
    }
}

/// A qdisc's parameters (the kernel's defaults in [`QdiscConfig::defaults`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QdiscConfig {
    /// Discipline.
    pub kind: QdiscKind,
    /// CoDel target, ns (5 ms: `codel_params_init`).
    pub target_ns: u64,
    /// CoDel interval, ns (100 ms).
    pub interval_ns: u64,
    /// Packets held at most (fq_codel 10240, `pfifo_fast` the device's `txqueuelen` 1000;
    /// cake bounds bytes, not packets: 10240 stands for its default 4 MB of full frames).
    pub limit: u32,
    /// Flow queues (fq_codel 1024; cake 1024 sets of 8 ways, taken as 1024 queues).
    pub flows: u32,
    /// Deficit round-robin quantum, bytes (the device MTU + 14: 1514).
    pub quantum: u32,
    /// Mark ECN-capable packets instead of dropping them (fq_codel and cake: on).
    pub ecn: bool,
}

impl QdiscConfig {
    /// The kernel's defaults for `kind` (`fq_codel_init`, `pfifo_fast` with `txqueuelen`
    /// 1000, `cake_init`).
    pub fn defaults(kind: QdiscKind) -> QdiscConfig {
        QdiscConfig {
            kind,
            target_ns: 5_000_000,
            interval_ns: 100_000_000,
            limit: if kind == QdiscKind::PfifoFast {
                1000
            } else {
                10240
            },
            flows: 1024,
            quantum: 1514,
            ecn: kind != QdiscKind::PfifoFast,
        }
    }
}

/// A port's egress: its qdisc and the rate it drains at.
#[derive(Clone, Debug, PartialEq)]
pub struct EgressConfig {
    /// The device, as the scenario names it.
    pub device: String,
    /// The qdisc.
    pub qdisc: QdiscConfig,
    /// A shaper's rate, bits per second (SQM: HTB or cake's `bandwidth`); `None`: the
    /// port's line rate.
    pub shaper_bps: Option<u64>,
}

/// A packet in a qdisc: the caller's handle, its length and when it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The caller's handle.
    pub id: u32,
    /// Bytes (`qdisc_pkt_len`).
    pub len: u32,
    /// Enqueue time.
    pub enq: SimTime,
    /// ECN-capable transport (ECT(0) or ECT(1)).
    pub ect: bool,
    /// CoDel marked it Congestion Experienced (`INET_ECN_set_ce`).
    pub ce: bool,
}

/// What a qdisc did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QdiscStats {
    /// Packets dequeued to the device.
    pub sent: u64,
    /// Dropped by CoDel at dequeue.
    pub codel_drops: u64,
    /// Dropped on enqueue over the limit (tail drop, or `fq_codel_drop`).
    pub overlimit_drops: u64,
    /// ECN-marked by CoDel instead of dropped.
    pub ecn_marks: u64,
    /// Most packets held at once.
    pub peak_backlog: u32,
}

/// CoDel's state of one queue (`struct codel_vars`).
#[derive(Clone, Copy, Debug, Default)]
struct Codel {
    count: u32,
    lastcount: u32,
    dropping: bool,
    /// 0: sojourn below target.
    first_above: u64,
    drop_next: u64,
}

#[derive(Debug, Default)]
struct FlowQueue {
    pkts: VecDeque<Entry>,
    bytes: u64,
    deficit: i64,
    codel: Codel,
    /// On `new_flows` or `old_flows`.
    listed: bool,
}

/// A qdisc's queues.
#[derive(Debug)]
pub struct Qdisc {
    cfg: QdiscConfig,
    queues: Vec<FlowQueue>,
    new_flows: VecDeque<u32>,
    old_flows: VecDeque<u32>,
    /// Packets and bytes held.
    backlog: u32,
    backlog_bytes: u64,
    /// What it did.
    pub stats: QdiscStats,
}

/// `codel_should_drop`'s "at least one MTU queued" test (`psched_mtu`: 1514).
const MTU: u64 = 1514;
/// `fq_codel_drop`'s batch.
const MAX_DROP_BATCH: u32 = 64;

impl Qdisc {
    /// An empty qdisc.
    pub fn new(cfg: QdiscConfig) -> Qdisc {
        let n = if cfg.kind == QdiscKind::PfifoFast {
            1
        } else {
            cfg.flows.max(1)
        };
        Qdisc {
            cfg,
            queues: (0..n).map(|_| FlowQueue::default()).collect(),
            new_flows: VecDeque::new(),
            old_flows: VecDeque::new(),
            backlog: 0,
            backlog_bytes: 0,
            stats: QdiscStats::default(),
        }
    }

    /// Packets held.
    pub fn len(&self) -> u32 {
        self.backlog
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.backlog == 0
    }

    /// Queues packet `e` of the flow with hash `hash`; the handles of packets dropped to make
    /// room (possibly `e` itself) are pushed to `dropped`.
    pub fn enqueue(&mut self, hash: u32, e: Entry, dropped: &mut Vec<u32>) {
        if self.cfg.kind == QdiscKind::PfifoFast {
            if self.backlog >= self.cfg.limit {
                self.stats.overlimit_drops += 1;
                dropped.push(e.id);
                return;
            }
            self.push(0, e);
            return;
        }
        let idx = hash % self.queues.len() as u32;
        self.push(idx, e);
        let q = &mut self.queues[idx as usize];
        if !q.listed {
            q.listed = true;
            q.deficit = i64::from(self.cfg.quantum);
            self.new_flows.push_back(idx);
        }
        if self.backlog > self.cfg.limit {
            self.drop_fattest(dropped);
        }
    }

    fn push(&mut self, idx: u32, e: Entry) {
        let q = &mut self.queues[idx as usize];
        q.pkts.push_back(e);
        q.bytes += u64::from(e.len);
        self.backlog += 1;
        self.backlog_bytes += u64::from(e.len);
        self.stats.peak_backlog = self.stats.peak_backlog.max(self.backlog);
    }

    fn pop(&mut self, idx: u32) -> Option<Entry> {
        let q = &mut self.queues[idx as usize];
        let e = q.pkts.pop_front()?;
        q.bytes -= u64::from(e.len);
        self.backlog -= 1;
        self.backlog_bytes -= u64::from(e.len);
        Some(e)
    }

    /// `fq_codel_drop`: from the head of the queue with the most bytes, until half of them
    /// are gone or 64 packets.
    fn drop_fattest(&mut self, dropped: &mut Vec<u32>) {
        let Some(idx) = (0..self.queues.len())
            .max_by_key(|&i| (self.queues[i].bytes, std::cmp::Reverse(i)))
            .map(|i| i as u32)
        else {
            return;
        };
        let threshold = self.queues[idx as usize].bytes / 2;
        let (mut len, mut n) = (0u64, 0u32);
        while n < MAX_DROP_BATCH && len < threshold {
            let Some(e) = self.pop(idx) else { break };
            len += u64::from(e.len);
            n += 1;
            self.stats.overlimit_drops += 1;
            dropped.push(e.id);
        }
    }

    /// The next packet for the device at `now`, or `None` when empty; packets CoDel drops on
    /// the way are pushed to `dropped`, marked ones counted (`fq_codel_dequeue`).
    pub fn dequeue(&mut self, now: SimTime, dropped: &mut Vec<u32>) -> Option<Entry> {
        if self.cfg.kind == QdiscKind::PfifoFast {
            let e = self.pop(0)?;
            self.stats.sent += 1;
            return Some(e);
        }
        loop {
            let from_new = !self.new_flows.is_empty();
            let idx = *(if from_new {
                &self.new_flows
            } else {
                &self.old_flows
            })
            .front()?;
            let q = &mut self.queues[idx as usize];
            if q.deficit <= 0 {
                q.deficit += i64::from(self.cfg.quantum);
                self.list_mut(from_new).pop_front();
                self.old_flows.push_back(idx);
                continue;
            }
            match self.codel_dequeue(idx, now, dropped) {
                Some(e) => {
                    self.queues[idx as usize].deficit -= i64::from(e.len);
                    self.stats.sent += 1;
                    return Some(e);
                }
                None => {
                    // force a pass through old_flows to prevent starvation
                    self.list_mut(from_new).pop_front();
                    if from_new && !self.old_flows.is_empty() {
                        self.old_flows.push_back(idx);
                    } else {
                        self.queues[idx as usize].listed = false;
                    }
                }
            }
        }
    }

    fn list_mut(&mut self, new: bool) -> &mut VecDeque<u32> {
        if new {
            &mut self.new_flows
        } else {
            &mut self.old_flows
        }
    }

    /// `codel_should_drop`.
    fn should_drop(&mut self, idx: u32, e: &Entry, now: SimTime) -> bool {
        let (target, interval) = (self.cfg.target_ns, self.cfg.interval_ns);
        let backlog = self.backlog_bytes;
        let c = &mut self.queues[idx as usize].codel;
        let sojourn = now.0.saturating_sub(e.enq.0);
        if sojourn < target || backlog <= MTU {
            c.first_above = 0;
            return false;
        }
        if c.first_above == 0 {
            c.first_above = now.0 + interval;
            false
        } else {
            now.0 >= c.first_above
        }
    }

    /// `codel_control_law`: the next drop, interval/√count after `t`.
    fn control_law(&self, t: u64, count: u32) -> u64 {
        t + (self.cfg.interval_ns as f64 / f64::from(count.max(1)).sqrt()) as u64
    }

    /// Drops or marks `e`; returns it when marked (it goes on to the device).
    fn drop_or_mark(&mut self, mut e: Entry, dropped: &mut Vec<u32>) -> Option<Entry> {
        if self.cfg.ecn && e.ect {
            self.stats.ecn_marks += 1;
            e.ce = true;
            Some(e)
        } else {
            self.stats.codel_drops += 1;
            dropped.push(e.id);
            None
        }
    }

    /// `codel_dequeue` on queue `idx`.
    fn codel_dequeue(&mut self, idx: u32, now: SimTime, dropped: &mut Vec<u32>) -> Option<Entry> {
        let Some(mut e) = self.pop(idx) else {
            self.queues[idx as usize].codel.dropping = false;
            return None;
        };
        let drop = self.should_drop(idx, &e, now);
        let c = self.queues[idx as usize].codel;
        if c.dropping {
            if !drop {
                self.queues[idx as usize].codel.dropping = false;
            } else if now.0 >= c.drop_next {
                loop {
                    let c = &mut self.queues[idx as usize].codel;
                    if !(c.dropping && now.0 >= c.drop_next) {
                        break;
                    }
                    c.count += 1;
                    if let Some(marked) = self.drop_or_mark(e, dropped) {
                        let c = self.queues[idx as usize].codel;
                        let next = self.control_law(c.drop_next, c.count);
                        self.queues[idx as usize].codel.drop_next = next;
                        return Some(marked);
                    }
                    let Some(next) = self.pop(idx) else {
                        self.queues[idx as usize].codel.dropping = false;
                        return None;
                    };
                    e = next;
                    if !self.should_drop(idx, &e, now) {
                        self.queues[idx as usize].codel.dropping = false;
                    } else {
                        let c = self.queues[idx as usize].codel;
                        let next = self.control_law(c.drop_next, c.count);
                        self.queues[idx as usize].codel.drop_next = next;
                    }
                }
            }
        } else if drop {
            match self.drop_or_mark(e, dropped) {
                Some(marked) => e = marked,
                None => {
                    // the kernel tests the next packet too (it moves `first_above_time`)
                    let Some(n) = self.pop(idx) else {
                        self.queues[idx as usize].codel.first_above = 0;
                        self.enter_dropping(idx, now);
                        return None;
                    };
                    self.should_drop(idx, &n, now);
                    e = n;
                }
            }
            self.enter_dropping(idx, now);
        }
        Some(e)
    }

    /// CoDel enters the dropping state at `now`: the count resumes from the last episode's
    /// if it ended recently.
    fn enter_dropping(&mut self, idx: u32, now: SimTime) {
        let interval = self.cfg.interval_ns;
        let c = self.queues[idx as usize].codel;
        let delta = c.count.wrapping_sub(c.lastcount);
        let count = if delta > 1 && now.0.saturating_sub(c.drop_next) < 16 * interval {
            delta
        } else {
            1
        };
        let drop_next = self.control_law(now.0, count);
        let c = &mut self.queues[idx as usize].codel;
        c.dropping = true;
        c.count = count;
        c.lastcount = count;
        c.drop_next = drop_next;
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A packet `id` of `len` bytes enqueued at `enq_ns`, ECN-capable or not.
    fn entry(id: u32, len: u32, enq_ns: u64, ect: bool) -> Entry {
        Entry {
            id,
            len,
            enq: SimTime(enq_ns),
            ect,
            ce: false,
        }
    }

    /// Serves `q` at `rate_bps` from `start` while `arrive` offers packets: (time, hash,
    /// len). Returns each flow hash's sojourn times, ns.
    fn serve(
        q: &mut Qdisc,
        arrivals: &[(u64, u32, u32)],
        rate_bps: u64,
    ) -> std::collections::BTreeMap<u32, Vec<u64>> {
        let mut out: std::collections::BTreeMap<u32, Vec<u64>> = Default::default();
        let mut hash_of = Vec::new();
        let mut dropped = Vec::new();
        let mut free_at = 0u64;
        let mut i = 0;
        let end = arrivals.last().map_or(0, |a| a.0) + 2_000 * MS;
        let mut now = 0u64;
        while now < end {
            // arrivals up to now
            while i < arrivals.len() && arrivals[i].0 <= now {
                let (t, h, len) = arrivals[i];
                hash_of.push(h);
                q.enqueue(h, entry(i as u32, len, t, false), &mut dropped);
                i += 1;
            }
            if now >= free_at
                && let Some(e) = q.dequeue(SimTime(now), &mut dropped)
            {
                out.entry(hash_of[e.id as usize])
                    .or_default()
                    .push(now - e.enq.0);
                free_at = now + u64::from(e.len) * 8 * 1_000_000_000 / rate_bps;
            }
            now = match (arrivals.get(i), q.is_empty()) {
                (Some(a), true) => a.0.max(free_at),
                (Some(a), false) => a.0.min(free_at).max(now + 1),
                (None, false) => free_at.max(now + 1),
                (None, true) => end,
            };
        }
        out
    }

    /// A bulk flow offered at 110 % of a 100 Mbit/s link for 3 s, and a sparse flow (one
    /// 100-byte packet every 20 ms) beside it.
    fn bulk_and_sparse() -> Vec<(u64, u32, u32)> {
        let mut a = Vec::new();
        let bulk_gap = 1514 * 8 * 1_000_000_000 / 110_000_000;
        let mut t = 0;
        while t < 3_000 * MS {
            a.push((t, 1, 1514));
            t += bulk_gap;
        }
        let mut t = 10 * MS;
        while t < 3_000 * MS {
            a.push((t, 2, 100));
            t += 20 * MS;
        }
        a.sort();
        a
    }

    fn p99(v: &[u64]) -> u64 {
        let mut v = v.to_vec();
        v.sort_unstable();
        v[(v.len() * 99 / 100).min(v.len() - 1)]
    }

    /// fq_codel serves a sparse flow from `new_flows` ahead of a standing bulk queue: its
    /// packets wait about one bulk packet's time; behind a FIFO of the same size they wait
    /// for the whole standing queue.
    #[test]
    fn fq_codel_keeps_a_sparse_flow_out_of_the_bulk_queue_and_a_fifo_does_not() {
        let arrivals = bulk_and_sparse();
        let mut fq = Qdisc::new(QdiscConfig::defaults(QdiscKind::FqCodel));
        let s = serve(&mut fq, &arrivals, 100_000_000);
        let sparse_fq = p99(&s[&2]);
        let mut fifo = Qdisc::new(QdiscConfig {
            limit: 10240,
            ..QdiscConfig::defaults(QdiscKind::PfifoFast)
        });
        let s = serve(&mut fifo, &arrivals, 100_000_000);
        let sparse_fifo = p99(&s[&2]);
        assert!(sparse_fq < MS / 2, "fq_codel: sparse p99 {sparse_fq} ns");
        assert!(sparse_fifo > 50 * MS, "fifo: sparse p99 {sparse_fifo} ns");
        assert!(fq.stats.codel_drops > 0, "{:?}", fq.stats);
        assert_eq!(fifo.stats.codel_drops, 0);
    }

    /// CoDel starts dropping only once the sojourn time stayed above 5 ms for 100 ms, and
    /// then at intervals shrinking as 1/√count; a queue below target is left alone.
    #[test]
    fn codel_drops_only_after_an_interval_above_target() {
        let mut q = Qdisc::new(QdiscConfig::defaults(QdiscKind::FqCodel));
        let mut dropped = Vec::new();
        // 100 packets waiting since t = 0
        for i in 0..100 {
            let e = entry(i, 1514, 0, false);
            q.enqueue(7, e, &mut dropped);
        }
        // 4 ms later: under target, no drop
        assert_eq!(
            q.dequeue(SimTime(4 * MS), &mut dropped).map(|e| e.id),
            Some(0)
        );
        // 6 ms: above target, the interval starts
        assert_eq!(
            q.dequeue(SimTime(6 * MS), &mut dropped).map(|e| e.id),
            Some(1)
        );
        assert!(dropped.is_empty());
        // 106 ms: an interval above target: one dropped, the next sent
        assert_eq!(
            q.dequeue(SimTime(106 * MS), &mut dropped).map(|e| e.id),
            Some(3)
        );
        assert_eq!(dropped, vec![2]);
        // the next drop is due 100 ms later (count 1): nothing dropped before
        assert_eq!(
            q.dequeue(SimTime(150 * MS), &mut dropped).map(|e| e.id),
            Some(4)
        );
        assert_eq!(dropped.len(), 1);
        assert_eq!(
            q.dequeue(SimTime(206 * MS), &mut dropped).map(|e| e.id),
            Some(6)
        );
        assert_eq!(dropped, vec![2, 5]);
        // ECN-capable packets are marked, not dropped
        let mut q = Qdisc::new(QdiscConfig::defaults(QdiscKind::FqCodel));
        for i in 0..10 {
            let e = entry(i, 1514, 0, true);
            q.enqueue(7, e, &mut dropped);
        }
        dropped.clear();
        q.dequeue(SimTime(6 * MS), &mut dropped);
        q.dequeue(SimTime(106 * MS), &mut dropped);
        assert!(
            dropped.is_empty() && q.stats.ecn_marks == 1,
            "{:?}",
            q.stats
        );
    }

    /// Over the limit: pfifo_fast drops the newcomer; fq_codel drops from the head of the
    /// fattest queue (`fq_codel_drop`), sparing the small one.
    #[test]
    fn over_the_limit_fifo_drops_the_tail_and_fq_codel_the_fattest_flow() {
        let mut dropped = Vec::new();
        let cfg = QdiscConfig {
            limit: 4,
            ..QdiscConfig::defaults(QdiscKind::PfifoFast)
        };
        let mut f = Qdisc::new(cfg);
        for i in 0..5 {
            let e = entry(i, 1000, 0, false);
            f.enqueue(i, e, &mut dropped);
        }
        assert_eq!(dropped, vec![4]);
        dropped.clear();
        let mut q = Qdisc::new(QdiscConfig {
            limit: 4,
            ..QdiscConfig::defaults(QdiscKind::FqCodel)
        });
        for (i, h) in [(0, 1), (1, 1), (2, 1), (3, 2), (4, 1)] {
            let e = entry(i, 1000, 0, false);
            q.enqueue(h, e, &mut dropped);
        }
        assert_eq!(
            dropped,
            vec![0, 1],
            "half of flow 1's 4000 bytes, from its head"
        );
        assert_eq!(q.len(), 3);
    }
}
