//! The discrete-event engine: one event queue ordered by (time, sequence), integer simulated
//! time, stages that never read a clock. It sequences the NIC ([`offsim_nicmodel::Nic`]), RSS,
//! per-core RX rings and cores running the [`Datapath`], the offload workqueue, and the
//! timers, and turns each stage's cost into time.
//!
//! A packet's walk: arrival at the NIC (line-rate serialisation, hardware table lookup) →
//! forwarded by the NIC, or RSS to a core's RX ring (dropped when full) → the core services
//! it when free: cycles from the CPU model over the core's clock, plus the interrupt
//! coalescing delay when the core was idle → the egress line → departure. Latency is
//! departure − arrival. Hardware offload work requested by the flowtable runs on the least
//! busy core after a workqueue delay and is submitted to the NIC, whose completions come back
//! as events.

mod measure;
mod offload;

use std::collections::VecDeque;

use offsim_nicmodel::Nic;
use offsim_nicmodel::NicStats;
use offsim_nicmodel::datapath::{DropReason as NicDrop, PuntReason, frame_len};
use offsim_nicmodel::nic::{BindCheck, NicEvent, Verdict};
use offsim_nicmodel::table::{BindOutcome, Cookie};
use offsim_traces::hash::FxHashMap;
use offsim_traces::heap::{EventHeap, event_key, key_time};
use offsim_traces::meta::{FlowKey, PacketMeta};
use offsim_traces::time::{SimDuration, SimTime};

use crate::cpu::{CpuConfig, Stage};
use crate::metrics::Histogram;
use crate::rss::{DEFAULT_KEY, Rss};
use crate::source::{Arrival, Source, SourceError};
pub use measure::{HwCounters, IntervalStats, Measure};
use offload::HwFlow;
use offsim_kernel::Path;
use offsim_kernel::datapath::{Datapath, DropCause, Fate, LAN_IFINDEX, WAN_IFINDEX};
use offsim_kernel::flowtable::HwRequest;
use offsim_kernel::sides::{Side, SideSplitter, SweepCtx, conntrack_holds};
use offsim_traces::tuple::TupleMap;

/// Engine settings beyond the models.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Time-series interval, ns.
    pub interval_ns: u64,
    /// Figures exclude packets arriving before this time, ns.
    pub warmup_ns: u64,
    /// Delay between a flowtable's request and the offload workqueue running it, ns.
    pub wq_delay_ns: u64,
    /// Use the NIC's flow table (hardware offload policy).
    pub hardware: bool,
    /// How long offered traffic may queue at the far end of a port when it is offered faster
    /// than the port's line rate, ns; beyond that it is dropped as `link_overrun` (a port
    /// cannot receive faster than its line rate; the sender's queue is finite). Default 1 ms,
    /// 125 kB at 1 Gbit/s: the order of a switch port's or ONT's buffer.
    pub upstream_buffer_ns: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            interval_ns: 100_000_000,
            warmup_ns: 0,
            wq_delay_ns: 10_000,
            hardware: false,
            upstream_buffer_ns: 1_000_000,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    CoreFree(u16),
    Tx(u32),
    Timer,
    NicWake,
    Work(u32),
    Interval,
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
    next: Option<Arrival>,
    /// The next arrival's place in the event order (time, sequence): arrivals come one at a
    /// time from the source, so they wait here instead of in the heap.
    next_key: Option<u128>,
    /// Drops counted so far, by kind (a handful of kinds per run; named in `finish`).
    drops: Vec<(DropKind, u64)>,
    /// CPU cycles by [`Stage::index`]; turned into [`Measure::cycles_stage`] in `finish`.
    stage_acc: [f64; Stage::COUNT],
    inflight: Vec<Option<InFlight>>,
    inflight_free: Vec<u32>,
    /// Packets between the RX ring and transmission, by slot (a packet is copied once, on
    /// entering its ring, not again at each stage).
    pkts: Vec<PacketMeta>,
    pkts_free: Vec<u32>,
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
    hw: HwCounters,
    miss_p: f64,
    miss_p_at: u64,
    /// When each port's wire is free again (LAN, WAN), ns.
    wire_free: [u64; 2],
    /// More than one RX queue and core: connections are tracked for [`Engine::steer`].
    multi_queue: bool,
    /// Connections with packets waiting for or in CPU service: (core, how many).
    in_cpu: TupleMap<(u16, u32)>,
    /// LAN hosts the last sweep of the side split forgot (scratch).
    forgot_hosts: Vec<(u8, u128)>,
}

/// Why the engine lost a packet, kept as a value on the hot path and named only for the
/// report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DropKind {
    Nic(NicDrop),
    RxRingFull,
    LinkOverrun,
    Dp(DropCause),
}

impl DropKind {
    fn name(&self) -> String {
        match self {
            DropKind::Nic(r) => nic_drop_name(*r).to_string(),
            DropKind::RxRingFull => "rx_ring_full".to_string(),
            DropKind::LinkOverrun => "link_overrun".to_string(),
            DropKind::Dp(c) => c.name(),
        }
    }
}

fn port(side: Side) -> u32 {
    match side {
        Side::Lan => LAN_IFINDEX,
        Side::Wan => WAN_IFINDEX,
    }
}

fn nic_drop_name(r: NicDrop) -> &'static str {
    match r {
        NicDrop::EngineOverflow => "nic_engine_queue",
        NicDrop::EgressOverflow => "egress_buffer",
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
        Engine {
            rss: Rss::new(&DEFAULT_KEY, queues),
            m: Measure {
                busy_ns: vec![0; cpu.cores as usize],
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
            next_key: None,
            drops: Vec::new(),
            stage_acc: [0.0; Stage::COUNT],
            inflight: Vec::new(),
            inflight_free: Vec::new(),
            pkts: Vec::new(),
            pkts_free: Vec::new(),
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
            hw: HwCounters::default(),
            miss_p: 0.0,
            miss_p_at: 0,
            wire_free: [0; 2],
            multi_queue,
            in_cpu: TupleMap::new(),
            forgot_hosts: Vec::new(),
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
        self.next = src.next_arrival()?;
        let Some(a) = self.next else {
            return Ok(());
        };
        self.first = Some(a.at);
        self.m.start = SimTime(a.at.0 + self.cfg.warmup_ns);
        self.interval_start = self.m.start;
        self.push_arrival(a.at);
        self.push(a.at, Ev::Timer);
        self.push(SimTime(self.m.start.0 + self.cfg.interval_ns), Ev::Interval);
        loop {
            // The earliest of the pending arrival and the heap's head, by (time, sequence).
            let arrival_first = match (self.next_key, self.heap.peek_key()) {
                (Some(a), Some(h)) => a < h,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let (t, ev) = if arrival_first {
                let k = self.next_key.take().expect("arrival key");
                (SimTime(key_time(k)), Ev::Arrival)
            } else if let Some((k, ev)) = self.heap.pop() {
                (SimTime(key_time(k)), ev)
            } else {
                break;
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
                    let a = self.next.take().expect("arrival event without packet");
                    self.arrive(a);
                    self.next = src.next_arrival()?;
                    if let Some(n) = self.next {
                        self.push_arrival(n.at.max(t));
                    }
                }
                Ev::CoreFree(c) => self.core_free(t, c),
                Ev::Tx(i) => self.tx(t, i),
                Ev::Timer => {
                    let (visited, next) = self.dp.timers(t);
                    let next = self.skip_idle_timers(next);
                    let cycles = visited as f64 * self.cpu.cycles.gc_per_flow;
                    self.background(t, cycles);
                    self.drain_hw(t);
                    self.push(next, Ev::Timer);
                }
                Ev::NicWake => {
                    if t == self.nic_wake {
                        self.nic_wake = SimTime::MAX;
                    }
                    self.nic_poll(t);
                }
                Ev::Work(i) => self.work(t, i),
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

    fn idle(&self) -> bool {
        self.cores.iter().all(|c| !c.running && c.ring.is_empty())
            && self.inflight.len() == self.inflight_free.len()
    }

    #[inline]
    fn counted(&self, at: SimTime) -> bool {
        at >= self.m.start
    }

    fn drop_pkt(&mut self, at: SimTime, kind: DropKind, packets: u32) {
        if self.counted(at) {
            self.count_drop(kind, packets);
        }
    }

    /// Counts a drop (no allocation: the kinds seen are few and named at the end).
    #[inline]
    fn count_drop(&mut self, kind: DropKind, packets: u32) {
        match self.drops.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += u64::from(packets),
            None => self.drops.push((kind, u64::from(packets))),
        }
        self.cur.drops += u64::from(packets);
    }

    /// The side a packet arrives on; keeps the LAN host routes in step with the side split
    /// (a host is routed via the LAN while the split remembers a LAN-side tuple from it).
    fn arrival_side(&mut self, pkt: &PacketMeta, at: SimTime) -> Side {
        if self.splitter.sweep_due(at) {
            let limited = self.dp.conntrack().config().max_entries.is_some();
            let ct = self.dp.conntrack();
            let alive = |k: &FlowKey| conntrack_holds(ct, at, k);
            let forgot = &mut self.forgot_hosts;
            self.splitter.sweep(
                at,
                SweepCtx {
                    alive: if limited { Some(&alive) } else { None },
                    // Packets that may still wait in an RX ring on their way to conntrack.
                    grace: u32::from(self.cpu.cores) * self.cpu.rx_ring + 1024,
                    forgot_lan_host: &mut |v, a| forgot.push((v, a)),
                },
            );
            for (v, a) in self.forgot_hosts.drain(..) {
                self.dp.forget_lan_host(v, a);
            }
        }
        let (side, new_host) = self.splitter.side_of(pkt, at);
        if new_host {
            self.dp.add_lan_host(pkt.ip_version, pkt.src);
        }
        side
    }

    fn arrive(&mut self, a: Arrival) {
        let mut pkt = a.pkt;
        // A capture on two interfaces (`sides = "iface=..."`) holds forwarded packets twice:
        // the copy the router sent on is not an arrival.
        if self.splitter.forwarded_copy(&pkt) {
            return;
        }
        let side = self.arrival_side(&pkt, a.at);
        pkt.iface = port(side);
        let counted = self.counted(a.at);
        let wire = u64::from(pkt.wire_len);
        if counted {
            self.m.offered += 1;
            self.m.offered_bytes += wire;
            self.cur.offered += 1;
            self.cur.offered_bytes += wire;
        }
        // The wire: a port cannot receive faster than its line rate.
        let w = &mut self.wire_free[side as usize];
        let ser = self.nic.datapath().serialisation_ns(frame_len(&pkt));
        let start = a.at.0.max(*w);
        if start - a.at.0 > self.cfg.upstream_buffer_ns {
            self.drop_pkt(a.at, DropKind::LinkOverrun, 1);
            return;
        }
        *w = start + ser;
        // A LAN-side capture's WAN-side packet as the WAN peer sends it (NAT) is what the
        // NIC looks up; the datapath takes the captured packet the same way. The engine
        // keeps the captured one: it keys the connection's causality across cores.
        let mut on_wire = pkt;
        if side == Side::Wan {
            self.dp.wan_view(a.at, &mut on_wire);
        }
        let no_room_before = self.nic.table().stats.unbound_create_failed;
        let rx = self.nic.rx(a.at, &on_wire);
        let bind = match rx.verdict {
            Verdict::Hardware { depart, .. } => {
                let lat = depart.0.saturating_sub(a.at.0);
                if counted {
                    self.deliver(Path::Hw, lat, wire, 1);
                }
                self.dp.note_hw_packet(&on_wire, a.at);
                self.schedule_nic();
                return;
            }
            Verdict::Dropped { reason } => {
                self.drop_pkt(a.at, DropKind::Nic(reason), 1);
                return;
            }
            Verdict::Cpu { reason, bind_check } => {
                // Lazy binding: a listed flow whose bucket has no room for an unbound entry
                // stays in software (the driver never learns); one below the rate waits.
                if self.nic.table().stats.unbound_create_failed > no_room_before {
                    self.lazy_in_software(&on_wire, "bucket_full");
                } else if reason == PuntReason::Unbound {
                    self.lazy_in_software(&on_wire, "below_bind_rate");
                }
                bind_check
            }
        };
        self.schedule_nic();
        let Some(q) = self.steer(&pkt) else {
            self.drop_pkt(a.at, DropKind::RxRingFull, 1);
            return;
        };
        let slot = match self.pkts_free.pop() {
            Some(i) => {
                self.pkts[i as usize] = pkt;
                i
            }
            None => {
                self.pkts.push(pkt);
                self.pkts.len() as u32 - 1
            }
        };
        let core = &mut self.cores[q];
        core.ring.push_back(Pending {
            at: a.at,
            rx_done: rx.rx_done,
            pkt: slot,
            side,
            bind,
        });
        if !core.running {
            core.running = true;
            // The interrupt (after coalescing) wakes the idle core.
            let start = rx.rx_done.max(core.busy_until) + SimDuration(self.cpu.irq_delay_ns);
            self.push(start, Ev::CoreFree(q as u16));
        }
    }

    /// Counts `packets` wire packets of `bytes` bytes in all as delivered.
    fn deliver(&mut self, path: Path, lat: u64, bytes: u64, packets: u32) {
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

    /// The core a packet goes to, or `None` when its RX ring is full: RSS, except that
    /// while packets of the same connection wait for or are in service on a core, later
    /// ones follow them there. A replayed trace does not wait for the router: with paced or
    /// compressed timing a reply can arrive while its request still waits on another core,
    /// which real traffic cannot do (the reply exists only once the request was forwarded);
    /// processing it first would break conntrack's view of the connection. Counts the
    /// packet against its connection (one hash lookup); [`Engine::core_free`] uncounts it.
    #[inline]
    fn steer(&mut self, pkt: &PacketMeta) -> Option<usize> {
        let ring = self.cpu.rx_ring as usize;
        if self.cores.len() == 1 {
            return (self.cores[0].ring.len() < ring).then_some(0);
        }
        let rss = self.rss.queue(pkt) as usize % self.cores.len();
        let key = if self.multi_queue {
            pkt.flow_key().map(|k| k.canonical())
        } else {
            None
        };
        let Some(k) = key else {
            return (self.cores[rss].ring.len() < ring).then_some(rss);
        };
        match self.in_cpu.get_mut(&k) {
            Some(e) => {
                let q = e.0 as usize;
                if self.cores[q].ring.len() >= ring {
                    return None;
                }
                e.1 += 1;
                Some(q)
            }
            None => {
                if self.cores[rss].ring.len() >= ring {
                    return None;
                }
                self.in_cpu.insert(&k, (rss as u16, 1));
                Some(rss)
            }
        }
    }

    fn core_free(&mut self, t: SimTime, c: u16) {
        let ci = c as usize;
        let Some(p) = self.cores[ci].ring.pop_front() else {
            self.cores[ci].running = false;
            return;
        };
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
                self.dp.note_hw_bound(ft, flow);
            }
            self.schedule_nic();
        }
        let mut out = self.dp.process(start, &self.pkts[p.pkt as usize], p.side);
        out.drivers.batch = batch;
        let miss_p = self.miss_probability();
        let pc = self.cpu.packet_cycles(&out.drivers, miss_p);
        let cycles = pc.total;
        let service = (cycles / self.cpu.freq_ghz).round() as u64;
        let done = SimTime(start.0 + service);
        let counted = self.counted(p.at);
        let path = out.path;
        if counted {
            self.m.cpu_packets += 1;
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
                self.pkts_free.push(p.pkt);
                if counted {
                    self.count_drop(DropKind::Dp(cause), out.packets);
                }
            }
        }
        self.drain_hw(start);
        // The core takes its next packet when done (NAPI keeps polling while work remains).
        self.push(done, Ev::CoreFree(c));
    }

    fn tx(&mut self, t: SimTime, i: u32) {
        let Some(f) = self.inflight[i as usize].take() else {
            return;
        };
        self.inflight_free.push(i);
        self.pkts_free.push(f.pkt);
        let pkt = &self.pkts[f.pkt as usize];
        match self.nic.tx(t, port(f.out), pkt) {
            Ok(depart) => {
                if f.counted {
                    let lat = depart.0.saturating_sub(f.at.0);
                    self.deliver(f.path, lat, f.bytes, f.packets);
                }
            }
            Err(r) => {
                if f.counted {
                    self.drop_pkt(f.at, DropKind::Nic(r), f.packets);
                }
            }
        }
        self.schedule_nic();
    }

    /// Charges background work (timers, offload work) to the least busy core.
    fn background(&mut self, t: SimTime, cycles: f64) {
        if cycles <= 0.0 {
            return;
        }
        let ns = (cycles / self.cpu.freq_ghz).round() as u64;
        let ci = (0..self.cores.len())
            .min_by_key(|&i| (self.cores[i].busy_until, i))
            .unwrap_or(0);
        let core = &mut self.cores[ci];
        core.busy_until = core.busy_until.max(t) + SimDuration(ns);
        core.busy_ns += ns;
        if t >= self.m.start {
            core.busy_ns_counted += ns;
            self.cur.busy_ns += ns;
            self.stage_acc[Stage::Background.index()] += cycles;
        }
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

    /// The CPU model.
    pub fn cpu(&self) -> &CpuConfig {
        &self.cpu
    }
}
