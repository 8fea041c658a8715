//! The router's CPU datapath for one packet, in the kernel's order:
//!
//! 1. **netdev ingress** on the input device: netdev chains and flowtables in priority order
//!    (a flowtable hit forwards the packet in software and ends here);
//! 2. `ip_rcv` checks ([`crate::router::rcv_check`]), then reassembly (`nf_defrag`, −400);
//! 3. **PREROUTING**: base chains in priority order, conntrack at −200 ([`Conntrack::track`]),
//!    `nat` chains only for a connection's first packet (DNAT);
//! 4. routing ([`crate::router::route`]): forward (TTL decremented before FORWARD, as
//!    `ip_forward` does), local delivery, or drop;
//! 5. **FORWARD** (where `flow add @ft` creates flowtable entries) or **INPUT**;
//! 6. **POSTROUTING** (SNAT/masquerade for the first packet), then conntrack confirmation.
//!
//! Hook semantics: `accept` ends only the current base chain; a drop anywhere ends the
//! packet (its unconfirmed conntrack entry dies with it). In POSTROUTING the input interface
//! is unset and in PREROUTING the output interface is unset, as in the kernel's hook state.
//!
//! Everything a packet did is reported as [`CostDrivers`] for the CPU model.

use offsim_traces::hash::FxHashSet;
use offsim_traces::meta::{FlowKey, PacketMeta};
use offsim_traces::time::{NS_PER_SEC, SimTime};

use crate::conntrack::{
    Conntrack, CtConfig, CtId, CtInfo as CtInfoK, CtTimeouts, Dir, InvalidReason, Track, status,
};
use crate::cost::CostDrivers;
use crate::flows::FlowBook;
use crate::flowtable::{
    AddRefusal, FastPath, FlowId, Flowtable, FtConfig, FtKey, HwRequest, KernelFlavour,
};
use crate::path::Path;
use crate::router::{self, Defrag, Defragmenter, RcvDrop, Route, RouteDrop};
use crate::sides::Side;
use offsim_nft::ast::{ChainType, Hook, NatKind};
use offsim_nft::{
    CtInfo, CtView, DropReason as NftDrop, EvalCost, FibAnswer, FibQuery, Host, Iface, LoadOptions,
    NatRequest, PktCtx, RuleState, Ruleset, Verdict, eval_chain,
};

/// Interface index of the LAN device in every ruleset offsim loads (`lo` is 1).
pub const LAN_IFINDEX: u32 = 2;
/// Interface index of the WAN device.
pub const WAN_IFINDEX: u32 = 3;

/// How the policy under study uses the ruleset's flowtables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowtableMode {
    /// As the ruleset says (`flags offload` decides hardware).
    Ruleset,
    /// No flow offload at all: flowtables are not attached, `flow add` creates nothing.
    Disabled,
    /// Flowtables in software only (`flags offload` ignored).
    Software,
    /// Flowtables with hardware offload (as if `flags offload` were set).
    Hardware,
}

/// A what-if gate in front of `flow add` (0 = off): offload only after N packets or B
/// bytes, or only connections above a packet rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OffloadGate {
    /// Packets the connection must have had.
    pub after_packets: u64,
    /// Bytes (L3) it must have had.
    pub after_bytes: u64,
    /// Mean packet rate it must have reached since it was created, measured over at least
    /// one second (a connection qualifies once it carried `min_pps` packets in its first
    /// second, or later sustained that mean).
    pub min_pps: f64,
}

/// Datapath configuration.
#[derive(Clone, Debug)]
pub struct DpConfig {
    /// LAN interface name.
    pub lan: String,
    /// WAN interface name.
    pub wan: String,
    /// Kernel flavour.
    pub flavour: KernelFlavour,
    /// Conntrack sysctls.
    pub ct: CtConfig,
    /// Flowtable timeouts, seconds.
    pub ft_timeout_s: u32,
    /// Path MTU.
    pub mtu: u32,
    /// Flowtable use.
    pub flowtables: FlowtableMode,
    /// What-if gate.
    pub gate: OffloadGate,
    /// The router has addresses (masquerade works). Without, masquerade drops, as on the
    /// address-less kernel oracle router.
    pub has_addresses: bool,
    /// Every packet arrives on the LAN side (the single-sided topology): the router has only a
    /// default route, so an IPv6 reverse route resolves to the WAN device.
    pub single_sided: bool,
    /// Seed for `numgen random`.
    pub seed: u64,
}

impl Default for DpConfig {
    fn default() -> Self {
        DpConfig {
            lan: "lan0".into(),
            wan: "wan0".into(),
            flavour: KernelFlavour::New,
            ct: CtConfig::default(),
            ft_timeout_s: 30,
            mtu: 1500,
            flowtables: FlowtableMode::Ruleset,
            gate: OffloadGate::default(),
            has_addresses: true,
            single_sided: false,
            seed: 1,
        }
    }
}

/// The load options that give the LAN and WAN devices the datapath's ifindexes.
pub fn load_options(lan: &str, wan: &str) -> LoadOptions {
    LoadOptions {
        devices: vec![
            (lan.to_string(), LAN_IFINDEX),
            (wan.to_string(), WAN_IFINDEX),
        ],
        ..LoadOptions::default()
    }
}

/// Why the datapath dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// `ip_rcv` refused it.
    Rcv(RcvDrop),
    /// Routing refused it.
    Route(RouteDrop),
    /// A rule or policy.
    Ruleset(Hook, NftDrop),
    /// Queued to userspace (not modelled: counted as dropped).
    Queue,
    /// Conntrack table full.
    CtTableFull,
    /// Conntrack confirmation clashed.
    CtClash,
}

impl DropCause {
    /// Report name.
    pub fn name(&self) -> String {
        match self {
            DropCause::Rcv(RcvDrop::NotIp) => "not_ip".into(),
            DropCause::Rcv(RcvDrop::Malformed) => "malformed".into(),
            DropCause::Rcv(RcvDrop::Ipv6Martian) => "martian".into(),
            DropCause::Route(r) => r.name().to_string(),
            DropCause::Ruleset(h, r) => {
                let why = match r {
                    NftDrop::Rule => "drop",
                    NftDrop::Reject => "reject",
                    NftDrop::Policy => "policy",
                    NftDrop::JumpStackOverflow => "jump_stack",
                    NftDrop::Nat => "nat",
                };
                format!("ruleset_{}_{why}", h.name())
            }
            DropCause::Queue => "ruleset_queue".into(),
            DropCause::CtTableFull => "conntrack_full".into(),
            DropCause::CtClash => "conntrack_clash".into(),
        }
    }
}

/// What became of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Forwarded out of this side.
    Forwarded(Side),
    /// Delivered to the router itself.
    Local,
    /// Dropped.
    Dropped(DropCause),
    /// A fragment held for reassembly.
    Held,
}

/// The result of [`Datapath::process`].
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Fate.
    pub fate: Fate,
    /// Path: [`Path::Slow`] or [`Path::SwFast`] (the datapath never sees hardware-forwarded packets).
    pub path: Path,
    /// Work done, for the CPU model.
    pub drivers: CostDrivers,
    /// Wire packets this outcome stands for (a reassembled datagram: its fragments).
    pub packets: u32,
    /// Their wire bytes (a reassembled datagram: the sum over its fragments).
    pub wire_bytes: u64,
    /// The flowtable entry that forwarded it (fast path).
    pub flow: Option<(usize, FlowId)>,
}

/// A flowtable and the ruleset's id for it.
#[derive(Debug)]
pub struct FtSlot {
    /// Name.
    pub name: String,
    /// The flowtable.
    pub ft: Flowtable,
    /// Priority at netdev ingress.
    pub priority: i32,
}

#[derive(Clone, Copy, Debug)]
enum Ingress {
    Chain(u32),
    Flowtable(usize),
}

/// Cached base chains per hook and family.
#[derive(Debug, Default)]
struct Chains {
    pre: [Vec<(u32, bool)>; 2],
    fwd: [Vec<(u32, bool)>; 2],
    input: [Vec<(u32, bool)>; 2],
    post: [Vec<(u32, bool)>; 2],
    pre_prio: [Vec<i32>; 2],
    ingress: [Vec<Ingress>; 2],
}

/// Counters the datapath keeps for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DpStats {
    /// Packets per fast-path bail reason.
    pub bails: [u64; 5],
    /// `flow add` refusals by reason.
    pub add_refusals: std::collections::BTreeMap<&'static str, u64>,
    /// Flowtable entries created.
    pub flowtable_adds: u64,
}

/// The datapath state: ruleset, conntrack, flowtables, reassembly, per-flow records.
pub struct Datapath {
    cfg: DpConfig,
    rs: Ruleset,
    /// Rule counters and stateful objects.
    pub rstate: RuleState,
    /// Connection tracking.
    pub ct: Conntrack,
    /// Flowtables, by the ruleset's flowtable id.
    pub fts: Vec<FtSlot>,
    defrag: Defragmenter,
    chains: Chains,
    /// Per-connection records.
    pub flows: FlowBook,
    /// Statistics.
    pub stats: DpStats,
    next_gc: SimTime,
    ct_gc_budget: usize,
    lan: Iface,
    wan: Iface,
    /// Addresses routed via the LAN interface (host routes); everything else goes to the
    /// WAN default route.
    lan_hosts: FxHashSet<(u8, u128)>,
    /// Why `flow add` refused the current packet's connection before its record existed
    /// (the first packet: unconfirmed / not established); given to the record at
    /// confirmation.
    first_refusal: Option<&'static str>,
    /// `ct timeout` objects by object id: L4 protocol and the timeouts they give.
    ct_policies: Vec<Option<(u8, CtTimeouts)>>,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("ruleset", &self.rs.name())
            .finish()
    }
}

fn fam(v: u8) -> usize {
    if v == 6 { 1 } else { 0 }
}

impl Datapath {
    /// A datapath for `rs` (loaded with [`load_options`] for the same LAN/WAN names).
    pub fn new(rs: Ruleset, cfg: DpConfig, flows: FlowBook) -> Datapath {
        let mut chains = Chains::default();
        let nat = |rs: &Ruleset, id: u32| rs.chains()[id as usize].ctype == Some(ChainType::Nat);
        for (i, l3) in [4u8, 6].iter().enumerate() {
            let with = |h: Hook| -> Vec<(u32, bool)> {
                rs.base_chains(h, *l3)
                    .into_iter()
                    .map(|c| (c, nat(&rs, c)))
                    .collect()
            };
            chains.pre[i] = with(Hook::Prerouting);
            chains.pre_prio[i] = chains.pre[i]
                .iter()
                .map(|(c, _)| rs.chains()[*c as usize].priority)
                .collect();
            chains.fwd[i] = with(Hook::Forward);
            chains.input[i] = with(Hook::Input);
            chains.post[i] = with(Hook::Postrouting);
        }
        let ft_enabled = cfg.flowtables != FlowtableMode::Disabled;
        let mut fts = Vec::new();
        for f in rs.flowtables() {
            let devices: Vec<u32> = f
                .devices
                .iter()
                .filter_map(|d| {
                    if *d == cfg.lan {
                        Some(LAN_IFINDEX)
                    } else if *d == cfg.wan {
                        Some(WAN_IFINDEX)
                    } else {
                        None
                    }
                })
                .collect();
            let hw = match cfg.flowtables {
                FlowtableMode::Ruleset => f.offload,
                FlowtableMode::Hardware => true,
                FlowtableMode::Software | FlowtableMode::Disabled => false,
            };
            fts.push(FtSlot {
                name: f.name.clone(),
                priority: f.priority,
                ft: Flowtable::new(FtConfig {
                    flavour: cfg.flavour,
                    tcp_timeout_s: cfg.ft_timeout_s,
                    udp_timeout_s: cfg.ft_timeout_s,
                    mtu: cfg.mtu,
                    hw_offload: hw,
                    counter: f.counter,
                    devices: if ft_enabled { devices } else { Vec::new() },
                }),
            });
        }
        // netdev ingress: chains on each device and flowtables, by priority.
        for (i, dev) in [cfg.lan.clone(), cfg.wan.clone()].iter().enumerate() {
            let ifx = if i == 0 { LAN_IFINDEX } else { WAN_IFINDEX };
            let mut v: Vec<(i32, u32, Ingress)> = rs
                .netdev_chains(Hook::Ingress, dev)
                .into_iter()
                .map(|c| (rs.chains()[c as usize].priority, c, Ingress::Chain(c)))
                .collect();
            for (k, s) in fts.iter().enumerate() {
                if s.ft.on_device(ifx) {
                    v.push((s.priority, u32::MAX - k as u32, Ingress::Flowtable(k)));
                }
            }
            v.sort_by_key(|(p, tie, _)| (*p, *tie));
            chains.ingress[i] = v.into_iter().map(|(_, _, x)| x).collect();
        }
        let rstate = RuleState::new(&rs, cfg.seed);
        let lan = Iface::new(LAN_IFINDEX, &cfg.lan);
        let wan = Iface::new(WAN_IFINDEX, &cfg.wan);
        let mut ct_policies = vec![None; rs.objects().len()];
        for o in rs.objects() {
            if let Some(t) = &o.ct_timeout
                && let Some(slot) = ct_policies.get_mut(o.id)
            {
                *slot = Some((
                    t.protocol,
                    cfg.ct.timeouts.with_policy(t.protocol, &t.policy),
                ));
            }
        }
        Datapath {
            ct: Conntrack::new(cfg.ct.clone()),
            ct_policies,
            cfg,
            rs,
            rstate,
            fts,
            defrag: Defragmenter::new(),
            chains,
            flows,
            stats: DpStats::default(),
            next_gc: SimTime(0),
            ct_gc_budget: 64,
            lan,
            wan,
            lan_hosts: FxHashSet::default(),
            first_refusal: None,
        }
    }

    /// Adds a host route via the LAN interface (two-sided topologies route the LAN side's
    /// addresses back to it; single-sided ones have only the WAN default route).
    pub fn add_lan_host(&mut self, version: u8, addr: u128) {
        if !self.cfg.single_sided {
            self.lan_hosts.insert((version, addr));
        }
    }

    /// The ruleset.
    pub fn ruleset(&self) -> &Ruleset {
        &self.rs
    }

    /// The configuration.
    pub fn config(&self) -> &DpConfig {
        &self.cfg
    }

    /// Flowtable entries alive (all flowtables).
    pub fn flowtable_len(&self) -> usize {
        self.fts.iter().map(|s| s.ft.len()).sum()
    }

    /// Whether any flowtable is attached to a device.
    pub fn has_flowtable(&self) -> bool {
        !self.chains.ingress[0].is_empty() || !self.chains.ingress[1].is_empty()
    }

    /// Drains hardware work requested by the flowtables (flowtable index, request).
    pub fn drain_hw_requests(&mut self, out: &mut Vec<(usize, HwRequest)>) {
        for (i, s) in self.fts.iter_mut().enumerate() {
            if !s.ft.hw_requests.is_empty() {
                out.extend(s.ft.hw_requests.drain(..).map(|r| (i, r)));
            }
        }
    }

    /// Runs due timers: the flowtable GC every second and incremental conntrack GC.
    /// Returns the flows visited by the flowtable GC (for the CPU model) and the next due
    /// time.
    pub fn timers(&mut self, now: SimTime) -> (u64, SimTime) {
        let mut visited = 0u64;
        if now >= self.next_gc {
            for s in &mut self.fts {
                visited += s.ft.len() as u64;
                s.ft.gc(now, &mut self.ct);
            }
            self.ct.gc(now, 4096);
            self.next_gc = SimTime(now.0 + NS_PER_SEC);
            self.reap();
        }
        (visited, self.next_gc)
    }

    fn reap(&mut self) {
        for s in &mut self.fts {
            for f in s.ft.freed.drain(..) {
                if self.ct.is_live(f.ct) {
                    let rec = self.ct.get(f.ct).rec;
                    if let Some(r) = self.flows.get_mut(rec)
                        && let Some(c) = f.teardown
                        && r.teardowns.len() < 4
                    {
                        r.teardowns.push(c.name());
                    }
                } else if let Some(c) = f.teardown {
                    *self
                        .flows
                        .totals
                        .teardown
                        .entry(c.name().to_string())
                        .or_insert(0) += 1;
                }
            }
        }
        for rec in self.ct.dead_records.drain(..) {
            self.flows.close(rec);
        }
    }

    /// Fragments held in incomplete datagrams (`nf_defrag` queues).
    pub fn held_fragments(&self) -> u64 {
        self.defrag.held_fragments()
    }

    /// Fragments of datagrams that timed out incomplete (the kernel frees them silently:
    /// `ip_expire` sends no ICMP for conntrack's defrag user).
    pub fn expired_fragments(&self) -> u64 {
        self.defrag.timed_out_fragments
    }

    /// Ends the run: closes every flow record.
    pub fn finish(&mut self) {
        self.reap();
        self.flows.close_all();
    }

    /// The flow record index of a flowtable entry (for hardware-path accounting).
    pub fn flow_record(&self, ft: usize, id: FlowId) -> u32 {
        self.fts
            .get(ft)
            .and_then(|s| s.ft.get(id))
            .filter(|f| self.ct.is_live(f.ct))
            .map(|f| self.ct.get(f.ct).rec)
            .unwrap_or(u32::MAX)
    }

    /// Processes one packet arriving from `side` at `now`.
    pub fn process(&mut self, now: SimTime, m: &PacketMeta, side: Side) -> Outcome {
        self.first_refusal = None;
        let mut out = Outcome {
            fate: Fate::Held,
            path: Path::Slow,
            drivers: CostDrivers {
                batch: 1,
                ..CostDrivers::default()
            },
            packets: 1,
            wire_bytes: u64::from(m.wire_len),
            flow: None,
        };
        // 1. netdev ingress: chains and flowtables in priority order.
        let sidx = if side == Side::Lan { 0 } else { 1 };
        let (iif, oif) = if side == Side::Lan {
            (self.lan, self.wan)
        } else {
            (self.wan, self.lan)
        };
        let out_side = if side == Side::Lan {
            Side::Wan
        } else {
            Side::Lan
        };
        let n_ingress = self.chains.ingress[sidx].len();
        let mut cost = EvalCost::default();
        if n_ingress > 0 {
            out.drivers.netdev_ingress = true;
            for k in 0..n_ingress {
                match self.chains.ingress[sidx][k] {
                    Ingress::Chain(c) => {
                        let mut ctx = PktCtx::new(*m, Hook::Ingress, now);
                        ctx.iif = Some(iif);
                        let mut host = NoFlowHost;
                        let v = eval_chain(
                            &self.rs,
                            &mut self.rstate,
                            c,
                            &mut ctx,
                            &mut host,
                            &mut cost,
                        );
                        if let Some(f) = verdict_fate(v, Hook::Ingress) {
                            add_cost(&mut out.drivers, &cost, 1);
                            out.fate = f;
                            return out;
                        }
                    }
                    Ingress::Flowtable(i) => {
                        if !m.is_ip() {
                            continue;
                        }
                        out.drivers.ft_lookup = true;
                        match self.fts[i].ft.lookup(now, m, iif.index, &mut self.ct) {
                            FastPath::Hit { flow, .. } => {
                                add_cost(&mut out.drivers, &cost, 1);
                                out.drivers.ft_hit = true;
                                out.path = Path::SwFast;
                                out.fate = Fate::Forwarded(out_side);
                                out.flow = Some((i, flow));
                                let rec = self.flow_record(i, flow);
                                self.flows.packet(rec, Path::SwFast, m.wire_len, now);
                                return out;
                            }
                            FastPath::Bail(b) => self.stats.bails[b as usize] += 1,
                            FastPath::NoHook | FastPath::Miss | FastPath::HitSlow { .. } => {}
                        }
                    }
                }
            }
        }
        add_cost(&mut out.drivers, &cost, if n_ingress > 0 { 1 } else { 0 });
        out.drivers.slow = true;
        // 2. ip_rcv, defrag.
        if let Err(d) = router::rcv_check(m) {
            out.fate = Fate::Dropped(DropCause::Rcv(d));
            return out;
        }
        let pkt = match self.defrag.push(m) {
            Defrag::Whole => *m,
            Defrag::Held => {
                out.drivers.frags = 1;
                out.fate = Fate::Held;
                return out;
            }
            Defrag::Complete {
                packet,
                fragments,
                wire_bytes,
            } => {
                out.drivers.frags = 1;
                out.packets = fragments;
                out.wire_bytes = u64::from(wire_bytes);
                packet
            }
        };
        let l3 = fam(pkt.ip_version);
        // 3. PREROUTING with conntrack at -200.
        let mut ctx = PktCtx::new(pkt, Hook::Prerouting, now);
        ctx.iif = Some(iif);
        let mut track: Option<Track> = None;
        let mut hooks = 0u16;
        let mut cost = EvalCost::default();
        let n_pre = self.chains.pre[l3].len();
        if n_pre > 0 {
            hooks += 1;
        }
        let mut ctdone = false;
        for k in 0..=n_pre {
            let before_ct = k < n_pre && self.chains.pre_prio[l3][k] < -200;
            if !ctdone && !before_ct {
                ctdone = true;
                let t = if ctx.ct == CtView::Untracked {
                    Track::Untracked
                } else {
                    self.ct.track(now, &ctx.pkt)
                };
                self.note_ct(&t, &mut out.drivers, &mut ctx);
                if let Track::Invalid(InvalidReason::TableFull) = t {
                    out.fate = Fate::Dropped(DropCause::CtTableFull);
                    add_cost(&mut out.drivers, &cost, hooks);
                    return out;
                }
                track = Some(t);
            }
            if k == n_pre {
                break;
            }
            let (c, is_nat) = self.chains.pre[l3][k];
            if is_nat && !self.nat_wanted(&track, 0) {
                continue;
            }
            let v = self.eval(c, &mut ctx, &track, &mut cost, &mut out, 0);
            if let Some(f) = verdict_fate(v, Hook::Prerouting) {
                return self.dropped(out, f, &track, &cost, hooks);
            }
        }
        if is_nat_pending(&track) {
            self.mark_nat_done(&track, 0);
        }
        // 4. Routing.
        let redirected = self.redirected(&track);
        let route = if redirected {
            Route::LocalIn
        } else {
            router::route(&ctx.pkt)
        };
        match route {
            Route::Drop(r) => {
                return self.dropped(
                    out,
                    Fate::Dropped(DropCause::Route(r)),
                    &track,
                    &cost,
                    hooks,
                );
            }
            Route::LocalIn => {
                // 5'. INPUT, with SNAT-type nat chains for the first packet.
                ctx.hook = Hook::Input;
                let n = self.chains.input[l3].len();
                if n > 0 {
                    hooks += 1;
                }
                for k in 0..n {
                    let (c, is_nat) = self.chains.input[l3][k];
                    if is_nat && !self.nat_wanted(&track, 1) {
                        continue;
                    }
                    let v = self.eval(c, &mut ctx, &track, &mut cost, &mut out, 1);
                    if let Some(f) = verdict_fate(v, Hook::Input) {
                        return self.dropped(out, f, &track, &cost, hooks);
                    }
                }
                if is_nat_pending(&track) {
                    self.mark_nat_done(&track, 1);
                }
                add_cost(&mut out.drivers, &cost, hooks);
                return self.confirm(out, Fate::Local, &track, now, &ctx.pkt);
            }
            Route::Forward => {}
        }
        out.drivers.forwarded = true;
        ctx.pkt.ttl = ctx.pkt.ttl.saturating_sub(1);
        ctx.oif = Some(oif);
        ctx.hook = Hook::Forward;
        let n = self.chains.fwd[l3].len();
        if n > 0 {
            hooks += 1;
        }
        for k in 0..n {
            let (c, _) = self.chains.fwd[l3][k];
            let v = self.eval(c, &mut ctx, &track, &mut cost, &mut out, 2);
            if let Some(f) = verdict_fate(v, Hook::Forward) {
                return self.dropped(out, f, &track, &cost, hooks);
            }
        }
        // 6. POSTROUTING: no input interface at this hook.
        ctx.hook = Hook::Postrouting;
        ctx.iif = None;
        let n = self.chains.post[l3].len();
        if n > 0 {
            hooks += 1;
        }
        for k in 0..n {
            let (c, is_nat) = self.chains.post[l3][k];
            if is_nat && !self.nat_wanted(&track, 1) {
                continue;
            }
            let v = self.eval(c, &mut ctx, &track, &mut cost, &mut out, 1);
            if let Some(f) = verdict_fate(v, Hook::Postrouting) {
                return self.dropped(out, f, &track, &cost, hooks);
            }
        }
        if is_nat_pending(&track) {
            self.mark_nat_done(&track, 1);
        }
        if let Some(Track::Tracked { id, .. }) = track
            && self.ct.is_live(id)
        {
            let c = self.ct.get(id);
            if c.nat.snat || c.nat.dnat {
                out.drivers.nat_mangle = true;
            }
        }
        add_cost(&mut out.drivers, &cost, hooks);
        self.confirm(out, Fate::Forwarded(out_side), &track, now, &ctx.pkt)
    }

    fn note_ct(&mut self, t: &Track, d: &mut CostDrivers, ctx: &mut PktCtx) {
        match *t {
            Track::Tracked {
                id,
                info,
                new_entry,
            } => {
                if new_entry {
                    d.ct_new = true;
                } else {
                    d.ct_lookup = true;
                }
                ctx.ct = CtView::Tracked(self.ct_info(id, info));
            }
            Track::Invalid(_) => {
                d.ct_lookup = true;
                ctx.ct = CtView::None;
            }
            Track::Untracked => ctx.ct = CtView::Untracked,
        }
    }

    fn ct_info(&self, id: CtId, info: CtInfoK) -> CtInfo {
        let c = self.ct.get(id);
        CtInfo {
            state: info.state_bit(),
            status: c.status,
            direction: info.dir() as u8,
            mark: c.mark,
            l3proto: if c.orig.version == 6 { 10 } else { 2 },
            protocol: c.orig.proto,
            tuple: [c.orig, c.reply],
            helper: 0,
        }
    }

    /// Whether NAT chains of manipulation `mt` (0 = DNAT, 1 = SNAT) see this packet.
    fn nat_wanted(&self, t: &Option<Track>, mt: usize) -> bool {
        match t {
            Some(Track::Tracked { id, info, .. }) => {
                matches!(info, CtInfoK::New)
                    && self.ct.is_live(*id)
                    && !self.ct.get(*id).nat_done[mt]
            }
            _ => false,
        }
    }

    fn mark_nat_done(&mut self, t: &Option<Track>, mt: usize) {
        if let Some(Track::Tracked { id, .. }) = t
            && self.ct.is_live(*id)
        {
            self.ct.get_mut(*id).nat_done[mt] = true;
        }
    }

    fn redirected(&self, t: &Option<Track>) -> bool {
        // DNAT to the router itself (redirect) makes the packet local.
        match t {
            Some(Track::Tracked { id, .. }) if self.ct.is_live(*id) => {
                self.ct.get(*id).status & REDIRECTED != 0
            }
            _ => false,
        }
    }

    fn eval(
        &mut self,
        chain: u32,
        ctx: &mut PktCtx,
        track: &Option<Track>,
        cost: &mut EvalCost,
        out: &mut Outcome,
        nat_mt: usize,
    ) -> Verdict {
        let ctid = match track {
            Some(Track::Tracked { id, .. }) => Some(*id),
            _ => None,
        };
        let dir = match ctx.ct {
            CtView::Tracked(i) => {
                if i.direction == 1 {
                    Dir::Reply
                } else {
                    Dir::Original
                }
            }
            _ => Dir::Original,
        };
        let mut host = DpHost {
            ct: &mut self.ct,
            fts: &mut self.fts,
            flows: &mut self.flows,
            stats: &mut self.stats,
            ctid,
            dir,
            gate: self.cfg.gate,
            flowtables_on: self.cfg.flowtables != FlowtableMode::Disabled,
            has_addresses: self.cfg.has_addresses,
            single_sided: self.cfg.single_sided,
            lan: self.lan,
            wan: self.wan,
            lan_hosts: &self.lan_hosts,
            nat_mt,
            nat_setup: false,
            first_refusal: &mut self.first_refusal,
            ct_policies: &self.ct_policies,
        };
        let v = eval_chain(&self.rs, &mut self.rstate, chain, ctx, &mut host, cost);
        if host.nat_setup {
            out.drivers.nat_setup = true;
        }
        // `ct mark set` writes through to the entry.
        if let (Some(id), CtView::Tracked(i)) = (ctid, ctx.ct)
            && self.ct.is_live(id)
        {
            self.ct.get_mut(id).mark = i.mark;
        }
        v
    }

    fn dropped(
        &mut self,
        mut out: Outcome,
        fate: Fate,
        track: &Option<Track>,
        cost: &EvalCost,
        hooks: u16,
    ) -> Outcome {
        add_cost(&mut out.drivers, cost, hooks);
        if let Some(t) = track {
            self.ct.finish(SimTime(0), t, false);
        }
        out.fate = fate;
        self.reap();
        out
    }

    fn confirm(
        &mut self,
        mut out: Outcome,
        fate: Fate,
        track: &Option<Track>,
        now: SimTime,
        pkt: &PacketMeta,
    ) -> Outcome {
        if let Some(t) = track {
            let new = matches!(
                t,
                Track::Tracked {
                    new_entry: true,
                    ..
                }
            );
            if !self.ct.finish(now, t, true) {
                out.fate = Fate::Dropped(DropCause::CtClash);
                self.reap();
                return out;
            }
            if let Track::Tracked { id, .. } = *t
                && self.ct.is_live(id)
            {
                let mut rec = self.ct.get(id).rec;
                if new && rec == u32::MAX {
                    let key = self.ct.get(id).orig;
                    rec = self.flows.open(key, now);
                    self.ct.get_mut(id).rec = rec;
                    if let (Some(why), Some(r)) =
                        (self.first_refusal.take(), self.flows.get_mut(rec))
                    {
                        r.flow_add_seen = true;
                        r.refused = Some(why);
                    }
                }
                self.flows.packet(rec, Path::Slow, pkt.wire_len, now);
            }
        }
        out.fate = fate;
        self.reap();
        if self.ct_gc_budget > 0 {
            self.ct.gc(now, 8);
        }
        out
    }

    /// The flow record of a packet the NIC forwarded (looked up by its flowtable key).
    pub fn hw_record(&self, m: &PacketMeta, iif: u32) -> u32 {
        let key = FtKey::of_packet(m, iif);
        for (i, s) in self.fts.iter().enumerate() {
            if let Some(id) = s.ft.flow_of_key(&key) {
                return self.flow_record(i, id);
            }
        }
        u32::MAX
    }

    /// Records the offload engine's handle of a flow's hardware rules.
    pub fn set_hw_cookie(&mut self, ft: usize, id: FlowId, hwgen: u64) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.set_hw_gen(id, hwgen);
        }
    }

    /// The offload engine's handle of a flow's hardware rules, if any.
    pub fn hw_cookie(&self, ft: usize, id: FlowId) -> Option<u64> {
        self.fts
            .get(ft)
            .and_then(|s| s.ft.get(id))
            .map(|f| f.hw_gen)
            .filter(|g| *g != 0)
    }

    /// The hardware add of a flow finished: `accepted` = the driver took at least one
    /// direction; `refusal` = why the flow is (still) in software — the NIC's refusal, or
    /// with `accepted` a rule that is only listed, not forwarding (lazy binding).
    pub fn hw_add_done(
        &mut self,
        ft: usize,
        id: FlowId,
        accepted: bool,
        refusal: Option<&'static str>,
    ) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.hw_add_done(id, accepted, &mut self.ct);
            if let Some(f) = s.ft.get(id)
                && self.ct.is_live(f.ct)
            {
                let rec = self.ct.get(f.ct).rec;
                if let Some(r) = self.flows.get_mut(rec) {
                    // Accepted with a reason: listed but not forwarding yet (lazy binding).
                    if accepted && refusal.is_none() {
                        r.hw = true;
                    } else if let Some(why) = refusal {
                        r.hw_refused = Some(why);
                    }
                }
            }
        }
    }

    /// The hardware delete of a flow finished.
    pub fn hw_del_done(&mut self, ft: usize, id: FlowId) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.hw_del_done(id, &mut self.ct);
        }
    }

    /// Hardware statistics of a flow arrived.
    pub fn hw_stats_done(
        &mut self,
        ft: usize,
        id: FlowId,
        last_used: Option<SimTime>,
        packets: [u64; 2],
        bytes: [u64; 2],
    ) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.hw_stats_done(id, last_used, packets, bytes, &mut self.ct);
        }
    }

    /// The two directions' keys of a flowtable entry.
    pub fn flow_keys(&self, ft: usize, id: FlowId) -> Option<[FtKey; 2]> {
        self.fts.get(ft).and_then(|s| s.ft.get(id)).map(|f| f.keys)
    }

    /// Whether a flowtable entry is alive and not torn down.
    pub fn flow_active(&self, ft: usize, id: FlowId) -> bool {
        self.fts
            .get(ft)
            .and_then(|s| s.ft.get(id))
            .is_some_and(|f| !f.has(crate::flowtable::fflags::TEARDOWN))
    }
}

/// Conntrack status bit offsim uses for "DNAT to the router itself" (`redirect`); outside the
/// kernel's defined bits.
const REDIRECTED: u32 = 1 << 30;

fn is_nat_pending(t: &Option<Track>) -> bool {
    matches!(
        t,
        Some(Track::Tracked {
            info: CtInfoK::New,
            ..
        })
    )
}

fn verdict_fate(v: Verdict, hook: Hook) -> Option<Fate> {
    match v {
        Verdict::Accept => None,
        Verdict::Drop(r) => Some(Fate::Dropped(DropCause::Ruleset(hook, r))),
        Verdict::Queue(_) => Some(Fate::Dropped(DropCause::Queue)),
    }
}

fn add_cost(d: &mut CostDrivers, c: &EvalCost, hooks: u16) {
    d.hooks = d.hooks.saturating_add(hooks);
    d.chains = d.chains.saturating_add(c.base_chains as u16);
    d.rules = d.rules.saturating_add(c.rules);
    d.exprs = d.exprs.saturating_add(c.exprs);
    d.set_hash = d
        .set_hash
        .saturating_add((c.lookups_hash + c.lookups_bitmap) as u16);
    d.set_interval = d.set_interval.saturating_add(c.lookups_rbtree as u16);
    d.set_concat = d.set_concat.saturating_add(c.lookups_pipapo as u16);
    d.jumps = d.jumps.saturating_add(c.jumps as u16);
    d.stmts = d.stmts.saturating_add(c.stmts as u16);
}

/// A host for netdev chains: no flow add, no conntrack.
struct NoFlowHost;
impl Host for NoFlowHost {}

struct DpHost<'a> {
    ct: &'a mut Conntrack,
    fts: &'a mut Vec<FtSlot>,
    flows: &'a mut FlowBook,
    stats: &'a mut DpStats,
    ctid: Option<CtId>,
    dir: Dir,
    gate: OffloadGate,
    flowtables_on: bool,
    has_addresses: bool,
    single_sided: bool,
    lan: Iface,
    wan: Iface,
    lan_hosts: &'a FxHashSet<(u8, u128)>,
    nat_mt: usize,
    nat_setup: bool,
    first_refusal: &'a mut Option<&'static str>,
    ct_policies: &'a [Option<(u8, CtTimeouts)>],
}

impl DpHost<'_> {
    fn refuse(&mut self, why: &'static str) -> bool {
        *self.stats.add_refusals.entry(why).or_insert(0) += 1;
        if let Some(id) = self.ctid
            && self.ct.is_live(id)
        {
            let rec = self.ct.get(id).rec;
            match self.flows.get_mut(rec) {
                Some(r) => r.refused = Some(why),
                None => *self.first_refusal = Some(why),
            }
        }
        false
    }
}

impl Host for DpHost<'_> {
    fn ct_timeout(&mut self, obj: u32, _ctx: &mut PktCtx) {
        if let Some(id) = self.ctid
            && self.ct.is_live(id)
            && let Some(Some((proto, policy))) = self.ct_policies.get(obj as usize)
        {
            self.ct.set_timeout_policy(id, policy, *proto);
        }
    }

    fn flow_add(&mut self, ft: u32, ctx: &PktCtx) -> bool {
        if let Some(id) = self.ctid
            && self.ct.is_live(id)
        {
            let rec = self.ct.get(id).rec;
            if let Some(r) = self.flows.get_mut(rec) {
                r.flow_add_seen = true;
            }
        }
        if !self.flowtables_on {
            return false;
        }
        let Some(slot) = self.fts.get_mut(ft as usize) else {
            return false;
        };
        if slot.ft.config().devices.is_empty() {
            return self.refuse("flowtable_not_on_devices");
        }
        // What-if gate: the kernel has none; planners ask "what if offload waited".
        let g = self.gate;
        if let Some(id) = self.ctid
            && self.ct.is_live(id)
            && (g.after_packets > 0 || g.after_bytes > 0 || g.min_pps > 0.0)
        {
            let c = self.ct.get(id);
            let pk = c.packets[0] + c.packets[1];
            let by = c.bytes[0] + c.bytes[1];
            // The rate is measured over the connection's age but over at least one second:
            // otherwise every connection whose handshake took a few ms (3 packets in 20 ms
            // = 150 pkt/s) would count as an elephant.
            let age = ctx.now.0.saturating_sub(c.created.0).max(NS_PER_SEC) as f64 / 1e9;
            if pk < g.after_packets
                || by < g.after_bytes
                || (g.min_pps > 0.0 && (pk < 2 || (pk as f64) / age < g.min_pps))
            {
                return self.refuse("policy_threshold");
            }
        }
        // Keys: the packet's own direction keeps its input device, as the reverse route
        // lookup (oif = input device) resolves for IPv4; IPv6 ignores the input interface,
        // so in the single-sided topology (default route only) it resolves to the WAN side.
        let pkt_iif = ctx.iif.map(|i| i.index).unwrap_or(LAN_IFINDEX);
        let pkt_oif = ctx.oif.map(|i| i.index).unwrap_or(WAN_IFINDEX);
        let reverse = if ctx.pkt.ip_version == 6 && self.single_sided {
            pkt_oif
        } else {
            pkt_iif
        };
        let Some(id) = self.ctid else {
            return self.refuse(AddRefusal::NoConntrack.name());
        };
        if !self.ct.is_live(id) {
            return self.refuse(AddRefusal::NoConntrack.name());
        }
        let c = self.ct.get(id);
        let mk = |t: FlowKey, iif: u32| {
            let mut k = FtKey::of_packet(&ctx.pkt, iif);
            k.tuple = t;
            k
        };
        let (o_iif, r_iif) = if self.dir == Dir::Original {
            (reverse, pkt_oif)
        } else {
            (pkt_oif, reverse)
        };
        let keys = [mk(c.orig, o_iif), mk(c.reply, r_iif)];
        match slot.ft.add(ctx.now, &ctx.pkt, self.ct, Some(id), keys) {
            Ok(_) => {
                self.stats.flowtable_adds += 1;
                let rec = self.ct.get(id).rec;
                if let Some(r) = self.flows.get_mut(rec) {
                    r.sw = true;
                    r.adds += 1;
                }
                true
            }
            Err(e) => self.refuse(e.name()),
        }
    }

    fn nat(&mut self, req: &NatRequest, ctx: &mut PktCtx) -> Verdict {
        if req.kind == NatKind::Masquerade && !self.has_addresses {
            // nf_nat_masquerade: no address on the output device → NF_DROP.
            return Verdict::Drop(NftDrop::Nat);
        }
        self.nat_setup = true;
        if let Some(id) = self.ctid
            && self.ct.is_live(id)
        {
            let c = self.ct.get_mut(id);
            match req.kind {
                NatKind::Snat | NatKind::Masquerade => {
                    c.nat.snat = true;
                    c.status |= status::SRC_NAT | status::SRC_NAT_DONE;
                }
                NatKind::Dnat => {
                    c.nat.dnat = true;
                    c.status |= status::DST_NAT | status::DST_NAT_DONE;
                }
                NatKind::Redirect => {
                    c.nat.dnat = true;
                    c.status |= status::DST_NAT | status::DST_NAT_DONE | REDIRECTED;
                }
            }
            c.nat_done[self.nat_mt] = true;
            if let CtView::Tracked(mut i) = ctx.ct {
                i.status = c.status;
                ctx.ct = CtView::Tracked(i);
            }
        }
        Verdict::Accept
    }

    fn fib(&mut self, q: &FibQuery, ctx: &PktCtx) -> FibAnswer {
        use offsim_nft::ast::fib_flags;
        // nft_fib4/nft_fib6 on a router without addresses: a route to a LAN host goes out of
        // the LAN interface, everything else out of the WAN default route. With `iif`/`oif`
        // the lookup is restricted to that interface: another device means no route.
        let addr = if q.flags & fib_flags::SADDR != 0 {
            ctx.pkt.src
        } else {
            ctx.pkt.dst
        };
        let v = ctx.pkt.ip_version;
        let rtype = if v == 4 {
            let a = addr as u32;
            if a == u32::MAX {
                3
            } else if a >> 28 == 0xe {
                5
            } else {
                1
            }
        } else if addr >> 120 == 0xff {
            5
        } else {
            1
        };
        let dev = if self.lan_hosts.contains(&(v, addr)) {
            self.lan
        } else {
            self.wan
        };
        let restrict = if q.flags & fib_flags::IIF != 0 {
            ctx.iif
        } else if q.flags & fib_flags::OIF != 0 {
            ctx.oif
        } else {
            None
        };
        let found = restrict.is_none_or(|r| r.index == dev.index);
        FibAnswer {
            oif: if found { dev.index } else { 0 },
            oifname: if found { dev.name } else { 0 },
            rtype,
        }
    }
}
