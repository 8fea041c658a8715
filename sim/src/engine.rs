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

use std::collections::VecDeque;

use offsim_nicmodel::datapath::{DropReason as NicDrop, PuntReason, frame_len};
use offsim_nicmodel::key::{EncapId, HwKey};
use offsim_nicmodel::nic::{BindCheck, NicEvent, Verdict};
use offsim_nicmodel::pipeline::{Op, OpOutcome};
use offsim_nicmodel::table::{BindOutcome, Cookie, HwAction};
use offsim_nicmodel::{InsertError, Nic};
use offsim_traces::hash::FxHashMap;
use offsim_traces::heap::{EventHeap, event_key, key_time};
use offsim_traces::meta::{FlowKey, PacketMeta};
use offsim_traces::time::{NS_PER_SEC, SimDuration, SimTime};

use crate::cpu::{CpuConfig, Stage};
use crate::metrics::Histogram;
use crate::rss::{DEFAULT_KEY, Rss};
use crate::source::{Arrival, Source, SourceError};
use offsim_kernel::Path;
use offsim_kernel::datapath::{Datapath, DropCause, Fate, LAN_IFINDEX, WAN_IFINDEX};
use offsim_kernel::flowtable::{FlowId, FtKey, HwRequest};
use offsim_kernel::sides::{Side, SideSplitter};

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

#[derive(Clone, Copy, Debug)]
struct HwFlow {
    ft: usize,
    flow: FlowId,
    /// Outstanding per-direction completions of the current op, and results.
    pending: u8,
    ok: bool,
    /// Some direction forwards now (direct insertion or a lazy bind), not only listed.
    bound: bool,
    refusal: Option<&'static str>,
    last_used: Option<SimTime>,
    packets: [u64; 2],
    bytes: [u64; 2],
    kind: u8,
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
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Packets per path, by [`Path::index`].
    pub paths: [u64; Path::COUNT],
    /// Latency overall.
    pub latency: Histogram,
    /// Latency per path, by [`Path::index`].
    pub latency_path: [Histogram; Path::COUNT],
    /// CPU cycles per path, by [`Path::index`] (hardware: none).
    pub cycles_path: [f64; Path::COUNT],
    /// CPU cycles by stage.
    pub cycles_stage: std::collections::BTreeMap<&'static str, f64>,
    /// Busy ns per core (after warm-up).
    pub busy_ns: Vec<u64>,
    /// Packets that reached a core.
    pub cpu_packets: u64,
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
    /// p99 latency of packets delivered in the interval.
    pub p99_ns: u64,
}

/// The engine for one configuration.
pub struct Engine {
    cfg: EngineConfig,
    cpu: CpuConfig,
    /// The datapath (conntrack, ruleset, flowtables).
    pub dp: Datapath,
    /// The NIC.
    pub nic: Nic,
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
    /// Measurements.
    pub m: Measure,
    cur: IntervalStats,
    cur_hist: Histogram,
    interval_start: SimTime,
    first: Option<SimTime>,
    last_event: SimTime,
    /// Cumulative hardware inserts (bound or listed).
    pub hw_inserts: u64,
    /// Cumulative hardware refusals, by reason.
    pub hw_refusals: std::collections::BTreeMap<&'static str, u64>,
    /// Cumulative hardware deletes.
    pub hw_deletes: u64,
    /// CPU cycles spent on offload work and timers.
    pub background_cycles: f64,
    miss_p: f64,
    miss_p_at: u64,
    /// When each port's wire is free again (LAN, WAN), ns.
    wire_free: [u64; 2],
    /// More than one RX queue and core: connections are tracked for [`Engine::steer`].
    multi_queue: bool,
    /// Connections with packets waiting for or in CPU service: (core, how many).
    in_cpu: FxHashMap<FlowKey, (u16, u32)>,
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

fn insert_error_name(e: InsertError) -> &'static str {
    match e {
        InsertError::BucketFull => "bucket_full",
        InsertError::TableFull => "table_full",
        InsertError::RateLimited => "rate_limited",
        InsertError::QueueFull => "queue_full",
        InsertError::Unsupported(_) => "unsupported",
        InsertError::Exists => "exists",
        InsertError::NotFound => "not_found",
    }
}

fn hw_key(k: &FtKey) -> HwKey {
    let mut encap = [EncapId::NONE; 2];
    for (i, slot) in encap.iter_mut().enumerate().take(k.n_encap as usize) {
        *slot = if k.pppoe_slot as usize == i {
            EncapId::pppoe(k.encap[i])
        } else {
            EncapId::vlan(k.encap[i])
        };
    }
    HwKey::new(k.tuple, k.iif, encap)
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
            hw_inserts: 0,
            hw_refusals: Default::default(),
            hw_deletes: 0,
            background_cycles: 0.0,
            miss_p: 0.0,
            miss_p_at: 0,
            wire_free: [0; 2],
            multi_queue,
            in_cpu: FxHashMap::default(),
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
                    self.push(SimTime(t.0 + self.cfg.interval_ns), Ev::Interval);
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

    fn arrive(&mut self, a: Arrival) {
        let mut pkt = a.pkt;
        let side = self.splitter.side(&pkt, a.at);
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
        if side == Side::Lan && pkt.is_ip() {
            self.dp.add_lan_host(pkt.ip_version, pkt.src);
        }
        let no_room_before = self.nic.table().stats.unbound_create_failed;
        let rx = self.nic.rx(a.at, &pkt);
        let bind = match rx.verdict {
            Verdict::Hardware { depart, .. } => {
                let lat = depart.0.saturating_sub(a.at.0);
                if counted {
                    self.deliver(Path::Hw, lat, wire, 1);
                }
                let rec = self.dp.hw_record(&pkt, pkt.iface);
                self.dp.flows.packet(rec, Path::Hw, pkt.wire_len, a.at);
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
                    self.lazy_in_software(&pkt, "bucket_full");
                } else if reason == PuntReason::Unbound {
                    self.lazy_in_software(&pkt, "below_bind_rate");
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

    /// Records why a flow the lazily binding NIC listed is still in software; a full bucket
    /// counts as one refusal per hardware add.
    fn lazy_in_software(&mut self, pkt: &PacketMeta, why: &'static str) {
        let key = FtKey::of_packet(pkt, pkt.iface);
        let Some((ft, id)) = (0..self.dp.fts.len())
            .find_map(|i| self.dp.fts[i].ft.flow_of_key(&key).map(|id| (i, id)))
        else {
            return;
        };
        let Some(hwgen) = self.dp.hw_cookie(ft, id) else {
            return;
        };
        let Some(h) = self.hw_state.get_mut(&hwgen) else {
            return;
        };
        if !h.ok {
            return;
        }
        if why == "bucket_full" && h.refusal.is_none() {
            h.refusal = Some(why);
            *self.hw_refusals.entry(why).or_insert(0) += 1;
        }
        let rec = self.dp.flow_record(ft, id);
        if let Some(r) = self.dp.flows.get_mut(rec)
            && !r.hw
        {
            r.hw_refused = Some(why);
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
                .miss_probability(self.dp.ct.len(), self.dp.flowtable_len());
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
        match self.in_cpu.entry(k) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let (c, n) = *e.get();
                let q = c as usize;
                if self.cores[q].ring.len() >= ring {
                    return None;
                }
                e.insert((c, n + 1));
                Some(q)
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                if self.cores[rss].ring.len() >= ring {
                    return None;
                }
                e.insert((rss as u16, 1));
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
                && let Some(h) = self
                    .hw_flows
                    .get(&cookie)
                    .and_then(|g| self.hw_state.get(g))
            {
                let rec = self.dp.flow_record(h.ft, h.flow);
                if let Some(r) = self.dp.flows.get_mut(rec) {
                    r.hw = true;
                }
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
        self.background_cycles += cycles;
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

    fn drain_hw(&mut self, t: SimTime) {
        self.hw_req.clear();
        self.dp.drain_hw_requests(&mut self.hw_req);
        if self.hw_req.is_empty() {
            return;
        }
        let reqs = std::mem::take(&mut self.hw_req);
        for &(ft, r) in &reqs {
            if !self.cfg.hardware {
                // No NIC offload in this configuration: the driver refuses.
                match r {
                    HwRequest::Add(id) => self.dp.hw_add_done(ft, id, false, Some("no_hw_offload")),
                    HwRequest::Del(id) => self.dp.hw_del_done(ft, id),
                    HwRequest::Stats(id) => self.dp.hw_stats_done(ft, id, None, [0, 0], [0, 0]),
                }
                continue;
            }
            let i = match self.work_free.pop() {
                Some(i) => {
                    self.work[i as usize] = Some((ft, r));
                    i
                }
                None => {
                    self.work.push(Some((ft, r)));
                    self.work.len() as u32 - 1
                }
            };
            self.push(SimTime(t.0 + self.cfg.wq_delay_ns), Ev::Work(i));
        }
        self.hw_req = reqs;
        self.hw_req.clear();
    }

    /// The offload workqueue runs one request: builds the rules (CPU cost) and calls the
    /// driver for both directions.
    fn work(&mut self, t: SimTime, i: u32) {
        let Some((ft, r)) = self.work[i as usize].take() else {
            return;
        };
        self.work_free.push(i);
        let cycles = self.cpu.cycles.offload_work;
        self.background(t, cycles);
        match r {
            HwRequest::Add(id) => {
                let Some(keys) = self.dp.flow_keys(ft, id) else {
                    return;
                };
                if !self.dp.flow_active(ft, id) {
                    self.dp.hw_add_done(ft, id, false, None);
                    return;
                }
                self.hw_seq += 1;
                let hwgen = self.hw_seq;
                self.hw_state.insert(
                    hwgen,
                    HwFlow {
                        ft,
                        flow: id,
                        pending: 2,
                        ok: false,
                        bound: false,
                        refusal: None,
                        last_used: None,
                        packets: [0; 2],
                        bytes: [0; 2],
                        kind: 0,
                    },
                );
                self.dp.set_hw_cookie(ft, id, hwgen);
                for (d, k) in keys.iter().enumerate() {
                    let cookie = (hwgen << 1) | d as u64;
                    let out_iface = if k.iif == LAN_IFINDEX {
                        WAN_IFINDEX
                    } else {
                        LAN_IFINDEX
                    };
                    let action = HwAction {
                        out_iface,
                        mtu: self.dp.config().mtu.min(u32::from(u16::MAX)) as u16,
                    };
                    self.hw_flows.insert(cookie, hwgen);
                    match self.nic.submit(
                        t,
                        Op::Insert {
                            cookie,
                            key: hw_key(k),
                            action,
                        },
                    ) {
                        Ok(_) => {}
                        // A refusal at submission counts for one direction.
                        Err(e) => self.completion_dir(hwgen, 0, Err(e), t),
                    }
                }
            }
            HwRequest::Del(id) | HwRequest::Stats(id) => {
                let del = matches!(r, HwRequest::Del(_));
                let Some(hwgen) = self.dp.hw_cookie(ft, id) else {
                    if del {
                        self.dp.hw_del_done(ft, id);
                    } else {
                        self.dp.hw_stats_done(ft, id, None, [0, 0], [0, 0]);
                    }
                    return;
                };
                if let Some(h) = self.hw_state.get_mut(&hwgen) {
                    h.pending = 2;
                    h.kind = if del { 1 } else { 2 };
                    h.last_used = None;
                    h.packets = [0; 2];
                    h.bytes = [0; 2];
                }
                for d in 0..2u64 {
                    let cookie = (hwgen << 1) | d;
                    let op = if del {
                        Op::Remove { cookie }
                    } else {
                        Op::Stats { cookie }
                    };
                    if let Err(e) = self.nic.submit(t, op) {
                        self.completion_dir(hwgen, 0, Err(e), t);
                    }
                }
            }
        }
        self.schedule_nic();
    }

    fn nic_poll(&mut self, t: SimTime) {
        let mut evs = std::mem::take(&mut self.nic_events);
        self.nic.poll(t, &mut evs);
        for e in evs.drain(..) {
            match e {
                NicEvent::Completed(c) => {
                    if c.cpu_ns > 0 {
                        self.background(c.done, c.cpu_ns as f64 * self.cpu.freq_ghz);
                    }
                    let Some(&hwgen) = self.hw_flows.get(&c.cookie) else {
                        continue;
                    };
                    self.completion_dir(hwgen, (c.cookie & 1) as usize, c.result, c.done);
                }
                NicEvent::Aged { .. } => {}
            }
        }
        self.nic_events = evs;
        self.schedule_nic();
        self.drain_hw(t);
    }

    fn completion_dir(
        &mut self,
        hwgen: u64,
        dir: usize,
        r: Result<OpOutcome, InsertError>,
        _t: SimTime,
    ) {
        let Some(h) = self.hw_state.get_mut(&hwgen) else {
            return;
        };
        match r {
            Ok(OpOutcome::Inserted(i)) => {
                h.ok = true;
                h.bound |= i.bound;
                self.hw_inserts += 1;
            }
            Ok(OpOutcome::Removed(_)) => {}
            Ok(OpOutcome::Stats(s)) => {
                h.last_used = h.last_used.max(s.last_used);
                h.packets[dir] += s.delta_packets;
                h.bytes[dir] += s.delta_bytes;
            }
            Err(e) => {
                if h.kind == 0 {
                    let name = insert_error_name(e);
                    h.refusal = Some(name);
                    *self.hw_refusals.entry(name).or_insert(0) += 1;
                }
            }
        }
        h.pending = h.pending.saturating_sub(1);
        if h.pending > 0 {
            return;
        }
        let h = *h;
        match h.kind {
            0 => {
                // Accepted counts as offloaded for the kernel (IPS_HW_OFFLOAD, no retries),
                // but a lazily bound NIC only listed the flow: it reaches hardware when a
                // bind check binds it, and until then it is in software below the bind rate.
                let why = match (h.ok, h.bound) {
                    (true, true) => None,
                    (true, false) => Some("below_bind_rate"),
                    (false, _) => h.refusal,
                };
                self.dp.hw_add_done(h.ft, h.flow, h.ok, why);
                if !h.ok {
                    self.forget(hwgen);
                }
            }
            1 => {
                self.hw_deletes += 1;
                self.dp.hw_del_done(h.ft, h.flow);
                self.forget(hwgen);
            }
            _ => self
                .dp
                .hw_stats_done(h.ft, h.flow, h.last_used, h.packets, h.bytes),
        }
    }

    fn forget(&mut self, hwgen: u64) {
        self.hw_state.remove(&hwgen);
        self.hw_flows.remove(&(hwgen << 1));
        self.hw_flows.remove(&((hwgen << 1) | 1));
    }

    fn close_interval(&mut self, t: SimTime) {
        let mut s = std::mem::take(&mut self.cur);
        s.p99_ns = self.cur_hist.quantile(0.99);
        self.cur_hist = Histogram::new();
        let occ = self.nic.table().occupancy();
        s.hw_occupancy = occ;
        self.m.hw_peak = self.m.hw_peak.max(occ);
        s.hw_inserts_total = self.hw_inserts;
        s.hw_refusals_total = self.hw_refusals.values().sum();
        self.m.series.push(s);
        self.interval_start = t;
    }

    fn finish(&mut self) {
        let end = self.last_event.max(self.m.start);
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

    /// Measured span in ns (at least 1).
    pub fn span_ns(&self) -> u64 {
        self.m.end.0.saturating_sub(self.m.start.0).max(1)
    }

    /// The CPU model.
    pub fn cpu(&self) -> &CpuConfig {
        &self.cpu
    }

    /// Seconds measured.
    pub fn span_secs(&self) -> f64 {
        self.span_ns() as f64 / NS_PER_SEC as f64
    }
}
