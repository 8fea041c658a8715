//! The router's CPU datapath for one packet, in the kernel's order (the walk is in
//! `hooks.rs`, one method per stage):
//!
//! 1. **netdev ingress** on the input device: netdev chains and flowtables in priority order
//!    (a flowtable hit forwards the packet in software and ends here);
//! 2. `ip_rcv` checks ([`crate::router::rcv_check`]), then reassembly (`nf_defrag`, −400);
//! 3. **PREROUTING**: base chains in priority order, conntrack at −200 ([`Conntrack::track`]),
//!    `nat` chains only for a connection's first packet (DNAT);
//! 4. routing ([`crate::router::route`] in the router's [`Fib`]): forward out of a device
//!    (TTL and MTU checked, TTL decremented before FORWARD, as `ip_forward` does), local
//!    delivery, or drop;
//! 5. **FORWARD** (where `flow add @ft` creates flowtable entries) or **INPUT** (then the
//!    router's own stack answers: `local.rs`);
//! 6. **POSTROUTING** (SNAT/masquerade for the first packet), then conntrack confirmation.
//!
//! NAT follows `nf_nat` (`nat.rs`): `nat` chains run inside the NAT hooks (−100 DNAT, +100
//! SNAT) for a connection's first packet, and every packet of a NATed connection is
//! rewritten there. Packets the router sends itself (TCP resets, ICMP errors, echo replies)
//! take OUTPUT and POSTROUTING (`local.rs`).
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
//! `host.rs` (what rules reach: `flow add`, NAT, `fib`, `reject`), `nat.rs` (NAT
//! bindings and rewrites), `local.rs` (the router's own packets), `offload.rs` (hardware
//! results).

mod events;
mod hooks;
mod host;
mod local;
mod nat;
mod offload;

pub use events::EventCounters;
pub use nat::wan_view as nat_wan_view;

use offsim_traces::meta::{FlowKey, PacketMeta};
use offsim_traces::time::{NS_PER_SEC, SimTime};

use crate::conntrack::{Conn, Conntrack, CtConfig, CtId, CtTimeouts};
use crate::cost::CostDrivers;
use crate::fib::{Fib, FibSpec};
use crate::flows::{FlowBook, FlowTotals};
use crate::flowtable::{Encap, FastPath, FlowId, Flowtable, FtConfig, KernelFlavour};
use crate::path::Path;
use crate::router::{Defragmenter, RcvDrop, RouteDrop};
use crate::sides::{Side, SideMode};
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
    /// The router's devices (MTU, addresses) and routes.
    pub fib: Fib,
    /// Flowtable use.
    pub flowtables: FlowtableMode,
    /// What-if gate.
    pub gate: OffloadGate,
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
            fib: Fib::build(
                &FibSpec::default(),
                ("lan0", LAN_IFINDEX),
                ("wan0", WAN_IFINDEX),
                &SideMode::Single,
            )
            .expect("the default FIB"),
            flowtables: FlowtableMode::Ruleset,
            gate: OffloadGate::default(),
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
    /// IPv4 with DF over the output device's MTU (`ip_forward`: ICMP fragmentation needed).
    FragNeeded,
    /// IPv6 over the output device's MTU (`ip6_forward`: ICMPv6 packet too big).
    PacketTooBig,
    /// Sent by a flowtable entry to the bridge port its destination host has left.
    StalePort,
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
            DropCause::FragNeeded => "mtu_frag_needed".into(),
            DropCause::PacketTooBig => "mtu_packet_too_big".into(),
            DropCause::StalePort => "stale_port".into(),
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

/// What runs at a point of an inet hook, in priority order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// A base chain that is not a `nat` chain.
    Chain(u32),
    /// A `nat` chain: runs inside the NAT hook, for a connection's first packet.
    Nat(u32),
    /// The NAT hook rewrites the packet (`nf_nat_packet`), after its `nat` chains.
    NatPacket,
    /// `nf_conntrack_in` (−200, PREROUTING and OUTPUT).
    Conntrack,
}

/// The stages of each inet hook per family (IPv4 0, IPv6 1); netdev ingress per side (LAN
/// 0, WAN 1).
#[derive(Debug, Default)]
struct Chains {
    /// Every hook's stages, one list after another (a packet's walk reads one array).
    stages: Vec<Stage>,
    /// Where each hook's stages lie in `stages`, per family index and [`hook_index`]:
    /// (first, count).
    span: [[(u32, u32); 5]; 2],
    /// Per hook and family, whether the ruleset's base chains are what makes the packet
    /// enter the hook (`nf_hook_slow`), for the CPU model's `hook` figure: conntrack, which
    /// offsim always runs, registers PREROUTING, INPUT, OUTPUT and POSTROUTING itself
    /// (`nf_ct_netns_get` → `ipv4_conntrack_ops`/`ipv6_conntrack_ops`), so base chains there
    /// join a hook that is entered anyway; FORWARD has no conntrack hook, and its base chains
    /// are its only entries.
    counted: [[bool; 5]; 2],
    ingress: [Vec<Ingress>; 2],
}

impl Chains {
    /// The ruleset's base chains in priority order, with conntrack at −200 and the NAT hooks
    /// (where the family has any `nat` chain, `nf_nat_register_fn` registers all four) at
    /// their fixed priorities, a core hook before chains of the same priority; and at netdev
    /// ingress its netdev chains and the flowtables attached to each device, by priority (a
    /// chain before a flowtable of the same priority).
    fn build(rs: &Ruleset, cfg: &DpConfig, fts: &[FtSlot]) -> Chains {
        let mut chains = Chains::default();
        let is_nat = |id: u32| rs.chains()[id as usize].ctype == Some(ChainType::Nat);
        for (i, l3) in [4u8, 6].iter().enumerate() {
            let hooks = [
                Hook::Prerouting,
                Hook::Input,
                Hook::Forward,
                Hook::Output,
                Hook::Postrouting,
            ];
            let has_nat = hooks
                .iter()
                .any(|h| rs.base_chains(*h, *l3).into_iter().any(is_nat));
            let stages = |h: Hook| -> Vec<Stage> {
                let mt = match h {
                    Hook::Prerouting | Hook::Output => Some(nat::DST),
                    Hook::Postrouting | Hook::Input => Some(nat::SRC),
                    _ => None,
                };
                let mut v: Vec<((i32, u8, i32, usize), Stage)> = Vec::new();
                for (k, c) in rs.base_chains(h, *l3).into_iter().enumerate() {
                    let prio = rs.chains()[c as usize].priority;
                    match mt {
                        Some(mt) if is_nat(c) => {
                            v.push(((nat::hook_priority(mt), 0, prio, k), Stage::Nat(c)))
                        }
                        _ => v.push(((prio, 1, 0, k), Stage::Chain(c))),
                    }
                }
                if matches!(h, Hook::Prerouting | Hook::Output) {
                    v.push(((-200, 0, i32::MIN, 0), Stage::Conntrack));
                }
                if let (Some(mt), true) = (mt, has_nat) {
                    v.push(((nat::hook_priority(mt), 0, i32::MAX, 0), Stage::NatPacket));
                }
                v.sort_by_key(|(k, _)| *k);
                v.into_iter().map(|(_, s)| s).collect()
            };
            for hook in hooks {
                let h = hook_index(hook);
                let v = stages(hook);
                chains.span[i][h] = (chains.stages.len() as u32, v.len() as u32);
                chains.stages.extend(v);
                chains.counted[i][h] =
                    hook == Hook::Forward && !rs.base_chains(hook, *l3).is_empty();
            }
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

    /// Where the stages of the hook with [`hook_index`] `h` for family index `l3` lie in
    /// [`Chains::stages`]: (first, count).
    #[inline]
    fn span(&self, h: usize, l3: usize) -> (usize, usize) {
        let (first, n) = self.span[l3][h];
        (first as usize, n as usize)
    }

    /// The `k`th stage of a walk (an index [`Chains::span`] gave).
    #[inline]
    fn stage(&self, k: usize) -> Stage {
        self.stages[k]
    }

    /// Whether the ruleset's base chains make a packet of family index `l3` enter the hook
    /// with [`hook_index`] `h` (`nf_hook_slow` runs for them alone; see `counted`).
    #[inline]
    fn has_chains(&self, h: usize, l3: usize) -> bool {
        self.counted[l3][h]
    }
}

/// The index of an inet hook in [`Chains`]' tables, in path order. Only the five inet
/// hooks have stages (`run_stages`); netdev ingress has its own list, [`Chains::ingress`].
#[inline]
fn hook_index(hook: Hook) -> usize {
    match hook {
        Hook::Prerouting => 0,
        Hook::Input => 1,
        Hook::Forward => 2,
        Hook::Output => 3,
        Hook::Postrouting => 4,
        _ => {
            debug_assert!(false, "{hook:?} is not an inet hook");
            4
        }
    }
}

/// Counters the datapath keeps for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DpStats {
    /// Packets per fast-path bail reason.
    pub bails: [u64; 5],
    /// Flowtable entries created.
    pub flowtable_adds: u64,
    /// Packets the router sent itself, by kind (`tcp_reset`, `icmp_time_exceeded`, …).
    pub sent: std::collections::BTreeMap<&'static str, u64>,
    /// Datagrams fragmented on output (IPv4 without DF over the device MTU).
    pub fragmented: u64,
    /// The fragments they became.
    pub fragments_out: u64,
    /// WAN-side packets of NATed connections taken as the WAN peer sends them.
    pub wan_rewritten: u64,
    /// What each timeline event did and cost, in order (`events.rs`).
    pub events: Vec<events::EventCounters>,
}

/// Brings the evaluator's view `i` of connection `c` up to date after the entry changed (a
/// NAT binding sets status bits and may alter the reply tuple): its status, and its tuples
/// when a rule reads them (`read`: [`Ruleset::reads_ct_tuples`]; otherwise they stay zero,
/// which no rule reads). Changed in place, as the view is refreshed after every NAT hook of
/// every tracked packet: building the tuples (the reply one is an inversion,
/// `nf_ct_invert_tuple`) and copying the whole view back each time was ~185 instructions a
/// packet, 5 % of `rules eval` of a ruleset without rules and 2 % of fw4's (cachegrind,
/// 200k home-router packets).
#[inline(always)]
pub(super) fn refresh_view(read: bool, c: &Conn, i: &mut offsim_nft::CtInfo) {
    i.status = c.status;
    if read {
        i.tuple = [c.orig(), c.reply()];
    }
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
    pub(super) lan: Iface,
    pub(super) wan: Iface,
    /// A `reject` the current chain executed (the packet to answer, what to send, the hook),
    /// sent once the chain returns.
    reject: Option<(PacketMeta, offsim_nft::Reject, Hook)>,
    /// Why `flow add` refused the current packet's connection before its record existed
    /// (the first packet: unconfirmed / not established); given to the record at
    /// confirmation.
    first_refusal: Option<&'static str>,
    /// `ct timeout` objects by object id: L4 protocol and the timeouts they give.
    ct_policies: Vec<Option<(u8, CtTimeouts)>>,
    /// The encapsulation (VLAN tags, PPPoE session) of each side's device (LAN 0, WAN 1):
    /// what the last IP packet that arrived on it carried. A router's `pppoe-wan` or
    /// `wan.7` has one session / VLAN id, which path resolution puts in the flowtable tuple
    /// of packets arriving there (`nft_dev_path_info` → `nft_dev_forward_path`); the
    /// capture shows it. Written only in `hooks.rs`.
    dev_encap: [Encap; 2],
    /// `ct helper` objects by object id: the L4 protocol they are for.
    ct_helpers: Vec<Option<u8>>,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("ruleset", &self.rs.name())
            .finish()
    }
}

/// Address family index: IPv4 0, IPv6 1.
fn fam(v: u8) -> usize {
    if v == 6 { 1 } else { 0 }
}

/// The ruleset's `ct timeout` objects (L4 protocol and timeouts) and `ct helper` objects
/// (L4 protocol), by object id.
#[allow(clippy::type_complexity)] // two id-indexed tables, named at their fields
fn object_tables(rs: &Ruleset, cfg: &DpConfig) -> (Vec<Option<(u8, CtTimeouts)>>, Vec<Option<u8>>) {
    let mut ct_policies = vec![None; rs.objects().len()];
    let mut ct_helpers = vec![None; rs.objects().len()];
    for o in rs.objects() {
        if let Some(t) = &o.ct_timeout
            && let Some(slot) = ct_policies.get_mut(o.id)
        {
            *slot = Some((
                t.protocol,
                cfg.ct.timeouts.with_policy(t.protocol, &t.policy),
            ));
        }
        if let (Some(_), Some(p), Some(slot)) =
            (&o.helper, o.helper_protocol, ct_helpers.get_mut(o.id))
        {
            *slot = Some(p);
        }
    }
    (ct_policies, ct_helpers)
}

impl Datapath {
    /// Loads `rs` in place of the rules (`nft -f` of a change that keeps the flowtables):
    /// chains, counters and stateful objects start afresh; conntrack and the flowtables'
    /// entries stay. `rs` must declare the same flowtables (the caller checks).
    pub(super) fn replace_rules(&mut self, rs: Ruleset) {
        self.chains = Chains::build(&rs, &self.cfg, &self.fts);
        self.rstate = RuleState::new(&rs, self.cfg.seed);
        (self.ct_policies, self.ct_helpers) = object_tables(&rs, &self.cfg);
        self.rs = rs;
    }

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
        let (ct_policies, ct_helpers) = object_tables(&rs, &cfg);
        Datapath {
            ct: Conntrack::new(cfg.ct.clone()),
            ct_policies,
            ct_helpers,
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
            reject: None,
            first_refusal: None,
            dev_encap: [Encap::default(); 2],
        }
    }

    /// Adds a host route via the LAN interface, as a router learns its LAN hosts (only in
    /// two-sided topologies: single-sided ones route everything to WAN).
    pub fn add_lan_host(&mut self, version: u8, addr: u128) {
        if self.cfg.fib.two_sided() && !self.cfg.fib.is_local(version, addr) {
            self.cfg.fib.add_host_route(version, addr, LAN_IFINDEX);
        }
    }

    /// Asks for the lines [`Datapath::add_lan_host`] of `m`'s source will read, for a
    /// packet that may open a connection (a hint: the side split's `prefetch` does the same
    /// for its own count of the host's tuples).
    #[inline]
    pub fn prefetch_lan_host(&self, m: &PacketMeta) {
        if m.may_open() && self.cfg.fib.two_sided() {
            self.cfg.fib.prefetch_host_route(m.ip_version, m.src);
        }
    }

    /// Removes a host route added by [`Datapath::add_lan_host`] (the side split forgot the
    /// last connection of that host).
    pub fn forget_lan_host(&mut self, version: u8, addr: u128) {
        self.cfg.fib.forget_host_route(version, addr);
    }

    /// A packet captured on the LAN side as the WAN wire carries it (see
    /// [`nat_wan_view`]): callers apply it to packets arriving on the WAN side before the
    /// NIC and the datapath see them. The view of `m` is written to `out` only where it
    /// differs from `m` (a packet is a few hundred bytes, and most are left as they are):
    /// returns whether it was.
    pub fn wan_view_into(&self, now: SimTime, m: &PacketMeta, out: &mut PacketMeta) -> bool {
        match nat::wan_edit(&self.ct, now, m) {
            Some(e) => {
                *out = *m;
                e.apply(out);
                true
            }
            None => false,
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
    /// ([`RuleState::rule_costs`]).
    pub fn track_rule_costs(&mut self) {
        self.rstate.track_rule_costs(&self.rs);
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
                    if let Some(c) = f.teardown {
                        self.flows.push_teardown(rec, c.name());
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
        for (rec, key) in self.ct.dead_records.drain(..) {
            self.flows.close(rec, &key);
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
        // Every open record belongs to a live connection now: close them with its tuple.
        // A handle per record (4 bytes), not a copy of each tuple: at the end of a run
        // with millions of live connections this is the moment memory peaks.
        let mut ct_of = vec![u32::MAX; self.flows.slots()];
        self.ct.for_each_live(|id, c| {
            if let Some(slot) = ct_of.get_mut(c.rec as usize) {
                *slot = id.0;
            }
        });
        let ct = &self.ct;
        self.flows.close_all(|i| match ct_of.get(i as usize) {
            Some(&id) if id != u32::MAX => ct.get(CtId(id)).orig(),
            _ => FlowKey::default(),
        });
    }
}
