//! The router's CPU datapath for one packet, in the kernel's order (the walk is in
//! `hooks.rs`, one method per stage):
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
//! Everything a packet did is reported as [`CostDrivers`] for the CPU model. The datapath
//! owns its state (conntrack, flowtables, flow records): others read it through methods and
//! report what happened outside the CPU (hardware offload results, packets the NIC
//! forwarded) through the methods in `offload.rs`, so each piece has one writer.
//!
//! Files: `mod.rs` (configuration, outcome types, state, timers), `hooks.rs` (the walk),
//! `host.rs` (what rules reach: `flow add`, NAT, `fib`), `offload.rs` (hardware results).

mod hooks;
mod host;
mod offload;

use offsim_traces::hash::FxHashSet;
use offsim_traces::meta::PacketMeta;
use offsim_traces::time::{NS_PER_SEC, SimTime};

use crate::conntrack::{Conntrack, CtConfig, CtTimeouts};
use crate::cost::CostDrivers;
use crate::flows::{FlowBook, FlowTotals};
use crate::flowtable::{FastPath, FlowId, Flowtable, FtConfig, KernelFlavour};
use crate::path::Path;
use crate::router::{Defragmenter, RcvDrop, RouteDrop};
use crate::sides::Side;
use offsim_nft::ast::{ChainType, Hook};
use offsim_nft::{DropReason as NftDrop, Iface, LoadOptions, RuleState, Ruleset};

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
    /// Path: [`Path::Slow`] or [`Path::SwFast`] (hardware-forwarded packets never reach
    /// the datapath).
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

/// A flowtable (by the ruleset's flowtable id) and its netdev ingress priority.
#[derive(Debug)]
struct FtSlot {
    ft: Flowtable,
    priority: i32,
}

/// What runs at netdev ingress: a netdev chain or a flowtable.
#[derive(Clone, Copy, Debug)]
enum Ingress {
    Chain(u32),
    Flowtable(usize),
}

/// Base chains per hook and family (IPv4 0, IPv6 1), in priority order, each with whether
/// it is a `nat` chain; netdev ingress per side (LAN 0, WAN 1).
#[derive(Debug, Default)]
struct Chains {
    pre: [Vec<(u32, bool)>; 2],
    fwd: [Vec<(u32, bool)>; 2],
    input: [Vec<(u32, bool)>; 2],
    post: [Vec<(u32, bool)>; 2],
    pre_prio: [Vec<i32>; 2],
    ingress: [Vec<Ingress>; 2],
}

impl Chains {
    /// The ruleset's base chains, and at netdev ingress its netdev chains and the
    /// flowtables attached to each device, by priority (a chain before a flowtable of the
    /// same priority).
    fn build(rs: &Ruleset, cfg: &DpConfig, fts: &[FtSlot]) -> Chains {
        let mut chains = Chains::default();
        let nat = |id: u32| rs.chains()[id as usize].ctype == Some(ChainType::Nat);
        for (i, l3) in [4u8, 6].iter().enumerate() {
            let with = |h: Hook| -> Vec<(u32, bool)> {
                rs.base_chains(h, *l3)
                    .into_iter()
                    .map(|c| (c, nat(c)))
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
        for (i, dev) in [&cfg.lan, &cfg.wan].into_iter().enumerate() {
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
        chains
    }
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
    rstate: RuleState,
    ct: Conntrack,
    /// Flowtables, by the ruleset's flowtable id.
    fts: Vec<FtSlot>,
    defrag: Defragmenter,
    chains: Chains,
    /// Per-connection records: written only by the datapath (here, `hooks.rs`, `host.rs`,
    /// `offload.rs`).
    flows: FlowBook,
    stats: DpStats,
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

/// Conntrack status bit offsim uses for "DNAT to the router itself" (`redirect`); outside the
/// kernel's defined bits.
const REDIRECTED: u32 = 1 << 30;

/// Address family index: IPv4 0, IPv6 1.
fn fam(v: u8) -> usize {
    if v == 6 { 1 } else { 0 }
}

impl Datapath {
    /// A datapath for `rs` (loaded with [`load_options`] for the same LAN/WAN names).
    pub fn new(rs: Ruleset, cfg: DpConfig, flows: FlowBook) -> Datapath {
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
        let chains = Chains::build(&rs, &cfg, &fts);
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

    /// Rule counters and stateful objects.
    pub fn rule_state(&self) -> &RuleState {
        &self.rstate
    }

    /// From now on, the rule state accumulates what each rule costs
    /// ([`RuleState::rule_cost`]).
    pub fn track_rule_costs(&mut self) {
        let n = self.rs.rules().len();
        self.rstate.track_rule_costs(n);
    }

    /// Connection tracking.
    pub fn conntrack(&self) -> &Conntrack {
        &self.ct
    }

    /// The flowtable with the ruleset's flowtable id `i`.
    pub fn flowtable(&self, i: usize) -> Option<&Flowtable> {
        self.fts.get(i).map(|s| &s.ft)
    }

    /// Per-connection records.
    pub fn flows(&self) -> &FlowBook {
        &self.flows
    }

    /// The aggregates of the closed flow records.
    pub fn flow_totals(&self) -> &FlowTotals {
        &self.flows.totals
    }

    /// Takes the first error writing flow records as JSON lines, if any.
    pub fn take_flow_write_error(&mut self) -> Option<std::io::Error> {
        self.flows.write_error.take()
    }

    /// Counters for reports.
    pub fn stats(&self) -> &DpStats {
        &self.stats
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

    /// Flowtable `ft`'s fast-path lookup for a packet on input device `iif`
    /// (`nf_flow_offload_ip_hook`): what netdev ingress runs for each attached flowtable.
    /// A hit refreshes the entry and counts on its connection, as in [`Datapath::process`],
    /// but is not counted on the flow record.
    pub fn flowtable_lookup(
        &mut self,
        ft: usize,
        now: SimTime,
        m: &PacketMeta,
        iif: u32,
    ) -> FastPath {
        self.fts[ft].ft.lookup(now, m, iif, &mut self.ct)
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

    /// Folds what the flowtables freed and conntrack removed into the flow records.
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
}
