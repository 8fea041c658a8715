//! The discrete-event engine: one event queue ordered by (time, sequence), integer simulated
//! time, stages that never read a clock. It sequences the NIC ([`offsim_nicmodel::Nic`]), RSS,
//! per-core RX rings and cores running the [`Datapath`], process-context work, the senders'
//! handshake retries and the timers, and turns each stage's cost into time.
//!
//! A packet's walk: arrival (a lost handshake's connection may hold it back, `senders.rs`)
//! → the side split → its port's receive line, complete at its capture time unless the
//! port is still busy (per port, in time order) → the NIC's table lookup: forwarded in
//! hardware, dropped, or RSS to a core's RX ring (dropped when full) → the core services
//! it when free: cycles from the CPU model over the core's clock, plus the interrupt
//! coalescing delay when the core was idle → the egress line → departure. Latency is
//! departure − arrival. Hardware offload work the flowtable requests, and the flowtable GC,
//! run as process-context work that packets preempt (`background.rs`); their NIC requests
//! come back as events (`offload.rs`). Arrival to RX ring: `rx.rs`; measurements:
//! `measure.rs`.

mod background;
mod closed;
mod drops;
mod egress;
mod measure;
mod offload;
mod rx;
mod senders;
mod timeline;

use std::collections::VecDeque;

use offsim_nicmodel::Nic;
use offsim_nicmodel::NicStats;
use offsim_nicmodel::datapath::DropReason as NicDrop;
use offsim_nicmodel::nic::{BindCheck, NicEvent};
use offsim_nicmodel::table::{BindOutcome, Cookie};
use offsim_traces::hash::FxHashMap;
use offsim_traces::heap::{EventHeap, event_key, key_time};
use offsim_traces::meta::PacketMeta;
use offsim_traces::time::SimTime;

use crate::cpu::{CpuConfig, Stage};
use crate::rss::{DEFAULT_KEY, Rss};
use crate::source::{Source, SourceError};
use background::BgWhat;
pub use closed::{ClosedLoopConfig, ClosedStats, Congestion, DEFAULT_RTT_NS, SenderRecord};
use drops::DropKind;
pub use egress::EgressOutcome;
pub use measure::{HwCounters, IntervalStats, Measure};
use offload::HwFlow;
use offsim_kernel::Path;
use offsim_kernel::datapath::{Datapath, DropCause, Fate, LAN_IFINDEX, WAN_IFINDEX};
use offsim_kernel::flowtable::HwRequest;
use offsim_kernel::sides::{Side, SideSplitter};
use offsim_traces::histogram::Histogram;
use offsim_traces::tuple::TupleMap;
use senders::Admit;
pub use senders::SenderStats;
pub use timeline::EventOutcome;

/// Engine settings beyond the models.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Time-series interval, ns.
    pub interval_ns: u64,
    /// Figures exclude packets arriving before this time, ns.
    pub warmup_ns: u64,
    /// Use the NIC's flow table (hardware offload policy).
    pub hardware: bool,
    /// How long offered traffic may queue at the far end of a port when it is offered faster
    /// than the port's line rate, ns; beyond that it is dropped as `link_overrun` (a port
    /// cannot receive faster than its line rate; the sender's queue is finite). Default 1 ms,
    /// 125 kB at 1 Gbit/s: the order of a switch port's or ONT's buffer.
    pub upstream_buffer_ns: u64,
    /// TCP senders retry a handshake the router lost for lack of capacity (see
    /// [`senders`]).
    pub retry_handshakes: bool,
    /// Events on the timeline, in time order ([`crate::timeline`]).
    pub events: Vec<crate::timeline::TimedEvent>,
    /// Host qdiscs on the ports' egress (LAN, WAN).
    pub egress: [Option<crate::qdisc::EgressConfig>; 2],
    /// The rules each event loads, by event.
    pub event_rulesets: Vec<Option<offsim_nft::Ruleset>>,
    /// Closed-loop TCP senders (`replay.mode = "closed-loop"`); `None`: open loop.
    pub closed_loop: Option<ClosedLoopConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            interval_ns: 100_000_000,
            warmup_ns: 0,
            hardware: false,
            upstream_buffer_ns: 1_000_000,
            retry_handshakes: true,
            events: Vec::new(),
            egress: [None, None],
            event_rulesets: Vec::new(),
            closed_loop: None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    at: SimTime,
    rx_done: SimTime,
    /// Slot of the packet in [`Engine::pkts`].
    pkt: u32,
    side: Side,
    bind: Option<BindCheck>,
}

/// A frame whose last bit has not arrived yet.
#[derive(Clone, Copy, Debug)]
struct RxWait {
    key: u128,
    at: SimTime,
    pkt: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    CoreFree(u16),
    Tx(u32),
    Timer,
    NicWake,
    /// The work item running on a core completes (core, epoch).
    BgDone(u16, u32),
    Interval,
    /// Timeline event (index).
    Event(u32),
    /// A port's qdisc may send (LAN 0, WAN 1).
    EgressOut(u8),
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    at: SimTime,
    /// Slot of the packet in [`Engine::pkts`].
    pkt: u32,
    out: Side,
    path: Path,
    packets: u32,
    /// Wire bytes of those packets.
    bytes: u64,
    counted: bool,
}

/// Per-core state.
#[derive(Clone, Debug, Default)]
struct Core {
    ring: VecDeque<Pending>,
    busy_until: SimTime,
    busy_ns: u64,
    busy_ns_counted: u64,
    running: bool,
    /// When the current run of softirq work without a break began (`running` since then).
    streak_start: SimTime,
    /// Process-context work (GC, offload workqueue) waiting for or running on this core.
    bg: background::Background,
}

/// The engine for one configuration.
pub struct Engine {
    cfg: EngineConfig,
    cpu: CpuConfig,
    /// The datapath (conntrack, ruleset, flowtables).
    dp: Datapath,
    nic: Nic,
    rss: Rss,
    splitter: SideSplitter,
    cores: Vec<Core>,
    /// Events other than arrivals, by (time, sequence).
    heap: EventHeap<Ev>,
    seq: u64,
    /// The next arrival from the source: its time and its slot in `pkts`, where the source
    /// decoded it.
    next: Option<(SimTime, u32)>,
    /// The arrival after `next`, decoded one further ahead: under a flood of new
    /// connections the lines its side split and conntrack look-ups will read are asked for
    /// when it is decoded (`pull`), and one arrival's work between the two left them still
    /// in flight (a 10M-packet SYN flood's tables are larger than the TLB reaches). Two
    /// arrivals' lead took 12 % less CPU on that flood (median of 8 pairs, each faster);
    /// four arrivals' lead (three decoded beyond `next`), 7.5 % more than two.
    ahead: Option<(SimTime, u32)>,
    /// The next arrival's place in the event order (time, sequence): arrivals come one at a
    /// time from the source, so they wait here instead of in the heap.
    next_key: Option<u128>,
    /// Drops counted so far, by kind (a handful of kinds per run; named in `finish`).
    drops: Vec<(DropKind, u64)>,
    /// CPU cycles by [`Stage::index`]; turned into [`Measure::cycles_stage`] in `finish`.
    stage_acc: [f64; Stage::COUNT],
    inflight: Vec<Option<InFlight>>,
    inflight_free: Vec<u32>,
    /// Packets by slot, from the source's decode (the pending arrival is decoded into its
    /// slot) through the receive queue and RX ring to transmission or loss, and while a
    /// deferred sender holds it (`senders.rs`); stages pass the slot, and the packet is not
    /// copied again.
    pkts: Vec<PacketMeta>,
    pkts_free: Vec<u32>,
    /// A WAN-side arrival as the WAN peer sends it (`Datapath::wan_view` of its slot), for
    /// the NIC's lookup: a LAN-side one is looked up in its slot, uncopied. Written only when
    /// the NIC offloads (otherwise it holds no packet of this run). A field, not a
    /// local, so that `received` can lend it and the slab alike beside `&mut` parts of the
    /// engine.
    wan_pkt: PacketMeta,
    work: Vec<Option<(usize, HwRequest)>>,
    work_free: Vec<u32>,
    hw_flows: FxHashMap<Cookie, u64>,
    hw_state: FxHashMap<u64, HwFlow>,
    hw_seq: u64,
    hw_req: Vec<(usize, HwRequest)>,
    nic_events: Vec<NicEvent>,
    nic_wake: SimTime,
    m: Measure,
    cur: IntervalStats,
    cur_hist: Histogram,
    interval_start: SimTime,
    first: Option<SimTime>,
    last_event: SimTime,
    /// Arrival time of the trace's last packet once the source is exhausted (the end of the
    /// offered window), `MAX` before.
    offer_end: SimTime,
    /// The latest departure or drop of a measured packet.
    counted_end: SimTime,
    hw: HwCounters,
    miss_p: f64,
    miss_p_at: u64,
    /// Frames being received, per port (LAN, WAN), in the order their last bit arrives:
    /// (event key at `rx_done`, arrival time, packet slot). A port's frames complete in
    /// order, so each queue is sorted and the main loop merges their heads with the heap.
    rx_queue: [VecDeque<RxWait>; 2],
    /// More than one RX queue and core: connections are tracked for [`Engine::steer`].
    multi_queue: bool,
    /// Connections with packets waiting for or in CPU service: (core, how many).
    in_cpu: TupleMap<(u16, u32)>,
    /// LAN hosts the last sweep of the side split forgot (scratch).
    forgot_hosts: Vec<(u8, u128)>,
    /// Connections waiting to retry a lost handshake, and their held packets.
    senders: senders::Senders,
    /// The scenario's timeline events.
    timeline: timeline::Timeline,
    /// Host qdiscs on the ports' egress (LAN, WAN).
    egress: [Option<Box<egress::Egress>>; 2],
    /// Closed-loop TCP senders, which take the trace's TCP packets as their input.
    closed: Option<Box<closed::ClosedLoop>>,
}

/// The next event's source in [`Engine::run`].
#[derive(Clone, Copy, Debug)]
enum Next {
    Arrival(u128),
    Received(usize),
    Heap,
    Release,
    Closed,
    Done,
}

fn port(side: Side) -> u32 {
    match side {
        Side::Lan => LAN_IFINDEX,
        Side::Wan => WAN_IFINDEX,
    }
}

fn side_of(iface: u32) -> Side {
    if iface == LAN_IFINDEX {
        Side::Lan
    } else {
        Side::Wan
    }
}

impl Engine {
    /// An engine over a datapath and a NIC.
    pub fn new(
        cfg: EngineConfig,
        cpu: CpuConfig,
        dp: Datapath,
        nic: Nic,
        splitter: SideSplitter,
    ) -> Engine {
        let queues = cpu.queues();
        let multi_queue = queues > 1 && cpu.cores > 1;
        let cores = vec![Core::default(); cpu.cores as usize];
        let retry = cfg.retry_handshakes;
        let cfg_closed = cfg.closed_loop;
        let timeline = timeline::Timeline::new(cfg.events.clone(), cfg.event_rulesets.clone());
        let line = nic.config().datapath.line_rate_bps;
        let egress = cfg
            .egress
            .clone()
            .map(|e| e.map(|e| Box::new(egress::Egress::new(e, line))));
        Engine {
            rss: Rss::new(&DEFAULT_KEY, queues),
            m: Measure {
                busy_ns: vec![0; cpu.cores as usize],
                ring_drops: vec![0; cpu.cores as usize],
                ..Measure::default()
            },
            cfg,
            cpu,
            dp,
            nic,
            splitter,
            cores,
            heap: EventHeap::with_capacity(64),
            seq: 0,
            next: None,
            ahead: None,
            next_key: None,
            drops: Vec::new(),
            stage_acc: [0.0; Stage::COUNT],
            inflight: Vec::new(),
            inflight_free: Vec::new(),
            pkts: Vec::new(),
            pkts_free: Vec::new(),
            wan_pkt: PacketMeta::default(),
            work: Vec::new(),
            work_free: Vec::new(),
            hw_flows: FxHashMap::default(),
            hw_state: FxHashMap::default(),
            hw_seq: 0,
            hw_req: Vec::new(),
            nic_events: Vec::new(),
            nic_wake: SimTime::MAX,
            cur: IntervalStats::default(),
            cur_hist: Histogram::new(),
            interval_start: SimTime(0),
            first: None,
            last_event: SimTime(0),
            offer_end: SimTime::MAX,
            counted_end: SimTime(0),
            hw: HwCounters::default(),
            miss_p: 0.0,
            miss_p_at: 0,
            rx_queue: [VecDeque::new(), VecDeque::new()],
            multi_queue,
            in_cpu: TupleMap::new(),
            forgot_hosts: Vec::new(),
            senders: senders::Senders::new(retry),
            timeline,
            egress,
            closed: cfg_closed.map(|c| Box::new(closed::ClosedLoop::new(c))),
        }
    }

    #[inline]
    fn push(&mut self, at: SimTime, ev: Ev) {
        self.seq += 1;
        self.heap.push(event_key(at.0, self.seq), ev);
    }

    /// Schedules the arrival held in `self.next` at `at` (same ordering as a heap event).
    #[inline]
    fn push_arrival(&mut self, at: SimTime) {
        self.seq += 1;
        self.next_key = Some(event_key(at.0, self.seq));
    }

    fn schedule_nic(&mut self) {
        if let Some(t) = self.nic.next_event_time()
            && t < self.nic_wake
        {
            self.nic_wake = t;
            self.push(t, Ev::NicWake);
        }
    }

    /// Runs the whole source through the engine.
    pub fn run<S: Source + ?Sized>(&mut self, src: &mut S) -> Result<(), SourceError> {
        self.next = self.pull(src)?;
        if self.next.is_some() {
            self.ahead = self.pull(src)?;
        }
        let Some((first, _)) = self.next else {
            return Ok(());
        };
        self.first = Some(first);
        self.m.start = SimTime(first.0 + self.cfg.warmup_ns);
        self.interval_start = self.m.start;
        if let Some(c) = &mut self.closed {
            c.set_start(self.m.start);
        }
        self.push_arrival(first);
        self.push(first, Ev::Timer);
        self.push(SimTime(self.m.start.0 + self.cfg.interval_ns), Ev::Interval);
        self.schedule_events(first);
        loop {
            // The earliest of the pending arrival, the frames completing on each port and
            // the heap's head, by (time, sequence).
            let (t, ev) = match self.next_source() {
                Next::Arrival(k) => {
                    self.next_key = None;
                    (SimTime(key_time(k)), Ev::Arrival)
                }
                Next::Received(side) => {
                    let w = self.rx_queue[side].pop_front().expect("queue head");
                    let t = SimTime(key_time(w.key));
                    self.last_event = self.last_event.max(t);
                    self.received(t, w, if side == 0 { Side::Lan } else { Side::Wan });
                    continue;
                }
                Next::Heap => {
                    let (k, ev) = self.heap.pop().expect("heap head");
                    (SimTime(key_time(k)), ev)
                }
                Next::Release => {
                    if let Some((at, slot)) = self.senders.release() {
                        // A held packet has sat in the slab for a retransmission timeout
                        // (seconds): out of the cache. Its first read (the side split) was a
                        // sixth of an overloaded home router's event loop, where two thirds of
                        // the packets are held; the next one to go is brought in now.
                        if let Some(n) = self.senders.next_release() {
                            offsim_traces::hint::prefetch_value(&self.pkts[n as usize]);
                        }
                        self.last_event = self.last_event.max(at);
                        self.arrive(at, slot);
                    }
                    continue;
                }
                Next::Closed => {
                    let c = self.closed.as_mut().expect("closed-loop event");
                    if let Some(a) = c.step() {
                        self.last_event = self.last_event.max(a.at);
                        let slot = self.store(a.pkt);
                        self.arrive(a.at, slot);
                    }
                    continue;
                }
                Next::Done => break,
            };
            let arrivals_left = self.next.is_some();
            if !arrivals_left && self.idle() && matches!(ev, Ev::Timer | Ev::Interval | Ev::NicWake)
            {
                // Nothing left to forward: stop (timers would run forever).
                continue;
            }
            self.last_event = self.last_event.max(t);
            match ev {
                Ev::Arrival => {
                    let (at, slot) = self.next.take().expect("arrival event without packet");
                    let pkt = &self.pkts[slot as usize];
                    let taken = (self.closed.as_mut()).is_some_and(|c| c.trace_packet(at, pkt));
                    let admit = if taken {
                        // The closed-loop senders send its bytes: the slot is ours to free.
                        Admit::Unsent
                    } else {
                        self.senders.admit(at, slot, pkt, &mut self.pkts_free)
                    };
                    match admit {
                        Admit::Offer => self.arrive(at, slot),
                        Admit::Held => {}
                        Admit::Unsent => self.pkts_free.push(slot),
                    }
                    // the source is asked again only while it had more
                    self.next = self.ahead.take();
                    if self.next.is_some() {
                        self.ahead = self.pull(src)?;
                    }
                    match self.next {
                        Some((n, _)) => self.push_arrival(n.max(t)),
                        None => {
                            // closed-loop senders send the trace's bytes after its end too:
                            // all of it is measured
                            match &mut self.closed {
                                Some(c) => c.trace_ended(t),
                                None => self.offer_end = t,
                            }
                            self.senders.trace_ended();
                        }
                    }
                }
                Ev::CoreFree(c) => self.core_free(t, c),
                Ev::Tx(i) => self.tx(t, i),
                Ev::Timer => {
                    let (visited, next) = self.dp.timers(t);
                    let next = self.skip_idle_timers(next);
                    // The GC pass is a delayed work (`nf_flow_offload_work_gc`).
                    let ns = self.cpu.ns(visited as f64 * self.cpu.cycles.gc_per_flow);
                    if ns > 0 {
                        self.queue_work(t, ns, BgWhat::Gc);
                    }
                    self.drain_hw(t);
                    self.push(next, Ev::Timer);
                }
                Ev::NicWake => {
                    if t == self.nic_wake {
                        self.nic_wake = SimTime::MAX;
                    }
                    self.nic_poll(t);
                }
                Ev::BgDone(c, epoch) => self.bg_done(t, c as usize, epoch),
                Ev::Event(i) => self.apply_event(t, i as usize),
                Ev::EgressOut(side) => self.egress_out(t, usize::from(side)),
                Ev::Interval => {
                    self.close_interval(t);
                    let next = self.next_interval_end(t);
                    self.push(next, Ev::Interval);
                }
            }
        }
        self.finish();
        Ok(())
    }

    /// Which event comes next, by (time, sequence).
    #[inline]
    fn next_source(&self) -> Next {
        let mut best = (u128::MAX, Next::Done);
        if let Some(k) = self.next_key {
            best = (k, Next::Arrival(k));
        }
        for (i, q) in self.rx_queue.iter().enumerate() {
            if let Some(w) = q.front()
                && w.key < best.0
            {
                best = (w.key, Next::Received(i));
            }
        }
        if let Some(k) = self.heap.peek_key()
            && k < best.0
        {
            best = (k, Next::Heap);
        }
        if let Some(k) = self.senders.next_key()
            && k < best.0
        {
            best = (k, Next::Release);
        }
        if let Some(k) = self.closed.as_ref().and_then(|c| c.next_key())
            && k < best.0
        {
            best = (k, Next::Closed);
        }
        best.1
    }

    fn idle(&self) -> bool {
        self.cores.iter().all(|c| !c.running && c.ring.is_empty())
            && self.inflight.len() == self.inflight_free.len()
            && self.rx_queue.iter().all(VecDeque::is_empty)
            && self.cores.iter().all(|c| c.bg.jobs.is_empty())
            && self.senders.idle()
            && self.closed.as_ref().is_none_or(|c| c.idle())
    }

    /// Whether a packet offered at `at` is measured: after the warm-up, and no later than the
    /// trace's last packet (connections a lost handshake deferred past the end of the trace
    /// still run, but outside the measured window).
    #[inline]
    fn counted(&self, at: SimTime) -> bool {
        at >= self.m.start && at <= self.offer_end
    }

    /// The router lost the packet in slot `slot` (offered at `at`) for lack of capacity:
    /// its sender retries a lost handshake (keeping the slot to offer it again; otherwise
    /// the slot is freed), and conntrack stops judging the replayed connection's window
    /// (see [`Datapath::replay_lost`]).
    fn lost_slot(&mut self, at: SimTime, slot: u32) {
        let pkt = &self.pkts[slot as usize];
        let kept = self.senders.lost(at, slot, pkt, &mut self.pkts_free);
        self.dp.replay_lost(pkt, self.last_event);
        if !kept {
            self.pkts_free.push(slot);
        }
    }

    fn drop_pkt(&mut self, at: SimTime, kind: DropKind, packets: u32) {
        if self.counted(at) {
            self.count_drop(kind, packets);
        }
    }

    /// Counts a drop (no allocation: the kinds seen are few and named at the end).
    #[inline]
    fn count_drop(&mut self, kind: DropKind, packets: u32) {
        self.counted_end = self.counted_end.max(self.last_event);
        if kind.is_capacity() {
            self.m.capacity_drops += u64::from(packets);
        }
        match self.drops.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += u64::from(packets),
            None => self.drops.push((kind, u64::from(packets))),
        }
        self.cur.drops += u64::from(packets);
    }

    /// Counts `packets` wire packets of `bytes` bytes in all as delivered.
    fn deliver(&mut self, path: Path, at: SimTime, depart: SimTime, bytes: u64, packets: u32) {
        let lat = depart.0.saturating_sub(at.0);
        self.counted_end = self.counted_end.max(depart);
        let p = path.index();
        self.m.delivered += u64::from(packets);
        self.m.delivered_bytes += bytes;
        self.m.paths[p] += u64::from(packets);
        self.m.latency.record(lat);
        self.m.latency_path[p].record(lat);
        self.cur.delivered += u64::from(packets);
        self.cur.delivered_bytes += bytes;
        self.cur.paths[p] += u64::from(packets);
        self.cur_hist.record(lat);
    }

    fn miss_probability(&mut self) -> f64 {
        // Recomputed every 4096 packets: the working set changes slowly.
        self.miss_p_at += 1;
        if self.miss_p_at & 4095 == 1 {
            self.miss_p = self
                .cpu
                .miss_probability(self.dp.conntrack().len(), self.dp.flowtable_len());
        }
        self.miss_p
    }

    fn core_free(&mut self, t: SimTime, c: u16) {
        let ci = c as usize;
        if self.cores[ci].ring.is_empty() {
            // Out of packets: process-context work runs until packets come back.
            self.cores[ci].running = false;
            self.bg_streak_over(ci);
            self.bg_start(t, ci);
            return;
        }
        // Softirq preempts the work item that ran while the core had no packets.
        self.bg_preempt(t, ci);
        let streak = t.0.saturating_sub(self.cores[ci].streak_start.0);
        if let Some(free) = self.bg_turn(t, ci, streak) {
            self.push(free, Ev::CoreFree(c));
            return;
        }
        let p = self.cores[ci]
            .ring
            .pop_front()
            .expect("ring checked non-empty");
        if self.multi_queue
            && let Some(k) = self.pkts[p.pkt as usize].flow_key().map(|k| k.canonical())
            && let Some(e) = self.in_cpu.get_mut(&k)
        {
            e.1 -= 1;
            if e.1 == 0 {
                self.in_cpu.remove(&k);
            }
        }
        let start = t.max(p.rx_done);
        let batch = (self.cores[ci].ring.len() + 1).min(self.cpu.napi_budget as usize) as u16;
        if let Some(bc) = p.bind {
            if let BindOutcome::Bound { cookie } = self.nic.bind_check(start, bc)
                && let Some(&HwFlow { ft, flow, .. }) = self
                    .hw_flows
                    .get(&cookie)
                    .and_then(|g| self.hw_state.get(g))
            {
                self.dp.note_hw_bound(ft, flow, start);
            }
            self.schedule_nic();
        }
        let confirmed = self.dp.conntrack().stats.inserted;
        let mut out = self.dp.process(start, &self.pkts[p.pkt as usize], p.side);
        out.drivers.batch = batch;
        let miss_p = self.miss_probability();
        let pc = self.cpu.packet_cycles(&out.drivers, miss_p);
        let cycles = pc.total;
        let service = self.cpu.ns(cycles);
        let done = SimTime(start.0 + service);
        let counted = self.counted(p.at);
        let path = out.path;
        if counted {
            self.m.cpu_packets += 1;
            self.m.connections += self.dp.conntrack().stats.inserted - confirmed;
            self.m.cycles_path[path.index()] += cycles;
            for (acc, v) in self.stage_acc.iter_mut().zip(pc.by_stage) {
                if v > 0.0 {
                    *acc += v;
                }
            }
            self.cores[ci].busy_ns_counted += service;
            self.cur.busy_ns += service;
        }
        self.cores[ci].busy_ns += service;
        self.cores[ci].busy_until = done;
        self.bg_served(ci, service);
        match out.fate {
            Fate::Forwarded(out_side) => {
                let f = InFlight {
                    at: p.at,
                    pkt: p.pkt,
                    out: out_side,
                    path,
                    packets: out.packets,
                    bytes: out.wire_bytes,
                    counted,
                };
                let i = match self.inflight_free.pop() {
                    Some(i) => {
                        self.inflight[i as usize] = Some(f);
                        i
                    }
                    None => {
                        self.inflight.push(Some(f));
                        self.inflight.len() as u32 - 1
                    }
                };
                self.push(SimTime(done.0 + self.cpu.dma_latency_ns), Ev::Tx(i));
            }
            Fate::Local => {
                self.pkts_free.push(p.pkt);
                if counted {
                    self.m.local += u64::from(out.packets);
                }
            }
            Fate::Held => self.pkts_free.push(p.pkt),
            Fate::Dropped(cause) => {
                if counted {
                    self.count_drop(DropKind::Dp(cause), out.packets);
                }
                if cause == DropCause::CtTableFull {
                    self.lost_slot(p.at, p.pkt);
                } else {
                    self.pkts_free.push(p.pkt);
                }
            }
        }
        self.drain_hw(start);
        // The core takes its next packet when done (NAPI keeps polling while work remains).
        self.push(done, Ev::CoreFree(c));
    }

    /// In-flight packet `i` is handed to its port at `t`: to the port's qdisc, if it has
    /// one, else to the NIC.
    fn tx(&mut self, t: SimTime, i: u32) {
        let Some(f) = self.inflight[i as usize] else {
            return;
        };
        if self.has_egress(f.out as usize) && !self.timeline.is_down(f.out) {
            self.egress_enqueue(t, i, f.out as usize);
            return;
        }
        self.transmit(t, i);
    }

    /// In-flight packet `i` goes to the NIC's egress at `t`.
    fn transmit(&mut self, t: SimTime, i: u32) {
        let Some(f) = self.inflight[i as usize].take() else {
            return;
        };
        self.inflight_free.push(i);
        if self.link_down_drop(f.at, f.out, f.packets) {
            self.lost_slot(f.at, f.pkt);
            return;
        }
        match self.nic.tx(t, port(f.out), &self.pkts[f.pkt as usize]) {
            Ok(depart) => {
                if f.counted {
                    self.deliver(f.path, f.at, depart, f.bytes, f.packets);
                }
                if let Some(c) = &mut self.closed {
                    c.departed(depart, f.at, &self.pkts[f.pkt as usize]);
                }
                self.pkts_free.push(f.pkt);
            }
            Err(r) => {
                if f.counted {
                    if r == NicDrop::EgressOverflow {
                        self.m.egress_drops[f.out as usize] += u64::from(f.packets);
                    }
                    self.drop_pkt(f.at, DropKind::Nic(r), f.packets);
                }
                self.lost_slot(f.at, f.pkt);
            }
        }
        self.schedule_nic();
    }

    /// The datapath.
    pub fn datapath(&self) -> &Datapath {
        &self.dp
    }

    /// Takes the first error writing flow records, if any.
    pub fn take_flow_write_error(&mut self) -> Option<std::io::Error> {
        self.dp.take_flow_write_error()
    }

    /// Tuples the side split remembers (flow mode).
    pub fn side_tuples(&self) -> usize {
        self.splitter.tuples()
    }

    /// The NIC.
    pub fn nic(&self) -> &Nic {
        &self.nic
    }

    /// The NIC's statistics at the end of the measured span.
    pub fn nic_stats(&mut self) -> NicStats {
        self.nic.stats(self.m.end)
    }

    /// What the run measured.
    pub fn measure(&self) -> &Measure {
        &self.m
    }

    /// Hardware offload counts over the whole run.
    pub fn hw_counters(&self) -> &HwCounters {
        &self.hw
    }

    /// What the closed-loop senders did (`None`: open loop).
    pub fn closed_loop_stats(&self) -> Option<ClosedStats> {
        self.closed.as_ref().map(|c| c.stats())
    }

    /// What the senders did about lost handshakes.
    pub fn sender_stats(&self) -> SenderStats {
        self.senders.stats()
    }

    /// The CPU model.
    pub fn cpu(&self) -> &CpuConfig {
        &self.cpu
    }
}
