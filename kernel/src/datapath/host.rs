//! The datapath as the nftables evaluator's [`Host`]: what rules reach outside the packet.
//! `flow add` ([`DpHost::flow_add`] mirrors `nft_flow_offload_eval`), NAT bindings
//! (`nft_nat_eval` → `nf_nat_setup_info`, in `nat.rs`), `fib` lookups
//! (`nft_fib4_eval`/`nft_fib6_eval` in the router's [`Fib`]), `ct helper` and `ct timeout`
//! objects, and `reject` (the answer is sent by the walk once the chain returns).

use offsim_nft::ast::Hook;
use offsim_nft::{
    CtView, DropReason as NftDrop, FibAnswer, FibQuery, Host, NatRequest, PktCtx, Reject, Verdict,
};
use offsim_traces::meta::{FlowKey, PacketMeta};
use offsim_traces::time::NS_PER_SEC;

use super::{DpStats, FtSlot, OffloadGate, WAN_IFINDEX, nat};
use crate::conntrack::{Conntrack, CtId, CtTimeouts, Dir, status};
use crate::fib::{Fib, LocalDest};
use crate::flows::FlowBook;
use crate::flowtable::{AddRefusal, Encap, FtKey, FtRoute};

/// A host for netdev chains: no flow add, no conntrack.
pub(super) struct NoFlowHost;
impl Host for NoFlowHost {}

/// The evaluator's view of the datapath while one chain runs: the packet's connection and
/// the state rules may change (conntrack, flowtables, flow records, counters).
pub(super) struct DpHost<'a> {
    pub(super) ct: &'a mut Conntrack,
    pub(super) fts: &'a mut Vec<FtSlot>,
    pub(super) flows: &'a mut FlowBook,
    pub(super) stats: &'a mut DpStats,
    pub(super) ctid: Option<CtId>,
    pub(super) dir: Dir,
    pub(super) gate: OffloadGate,
    pub(super) flowtables_on: bool,
    pub(super) fib: &'a Fib,
    pub(super) nat_mt: usize,
    pub(super) nat_setup: bool,
    /// `nf_nat_used_tuple` lookups of the NAT setups.
    pub(super) nat_lookups: u16,
    pub(super) first_refusal: &'a mut Option<&'static str>,
    pub(super) ct_policies: &'a [Option<(u8, CtTimeouts)>],
    /// Each side's device encapsulation (LAN 0, WAN 1).
    pub(super) dev_encap: [Encap; 2],
    pub(super) ct_helpers: &'a [Option<u8>],
    pub(super) reject: &'a mut Option<(PacketMeta, Reject, Hook)>,
    /// Whether the evaluator's view carries the connection's tuples ([`super::refresh_view`]).
    pub(super) ct_tuples: bool,
}

impl DpHost<'_> {
    fn refuse(&mut self, why: &'static str) -> bool {
        if let Some(id) = self.ctid
            && self.ct.is_live(id)
        {
            let rec = self.ct.get(id).rec;
            match self.flows.get_mut(rec) {
                Some(_) => self.flows.set_refused(rec, why),
                None => *self.first_refusal = Some(why),
            }
        }
        false
    }

    /// The what-if gate in front of `flow add` (the kernel has none; planners ask "what if
    /// offload waited"): whether the connection has not qualified yet.
    fn gated(&self, ctx: &PktCtx) -> bool {
        let g = self.gate;
        let Some(id) = self.ctid else { return false };
        if !self.ct.is_live(id) || (g.after_packets == 0 && g.after_bytes == 0 && g.min_pps <= 0.0)
        {
            return false;
        }
        let c = self.ct.get(id);
        let pk = c.packets[0] + c.packets[1];
        let by = c.bytes[0] + c.bytes[1];
        // The rate is measured over the connection's age but over at least one second:
        // otherwise every connection whose handshake took a few ms (3 packets in 20 ms =
        // 150 pkt/s) would count as an elephant.
        let age = ctx.now.0.saturating_sub(c.created.0).max(NS_PER_SEC) as f64 / 1e9;
        pk < g.after_packets
            || by < g.after_bytes
            || (g.min_pps > 0.0 && (pk < 2 || (pk as f64) / age < g.min_pps))
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

    /// `nft_ct_helper_obj_eval`: attaches the helper to a connection that is not confirmed
    /// yet (its first packet), of the helper object's L4 protocol and without a helper
    /// (`IPS_HELPER`). A connection with a helper is never offloaded.
    fn ct_helper(&mut self, obj: u32, ctx: &mut PktCtx) {
        let Some(id) = self.ctid else { return };
        let Some(Some(proto)) = self.ct_helpers.get(obj as usize) else {
            return;
        };
        if !self.ct.is_live(id) {
            return;
        }
        let c = self.ct.get_mut(id);
        if c.status & (status::CONFIRMED | status::HELPER) != 0 || c.orig().proto != *proto {
            return;
        }
        c.status |= status::HELPER;
        if let CtView::Tracked(i) = &mut ctx.ct {
            i.status = c.status;
        }
    }

    fn reject(&mut self, r: Reject, ctx: &PktCtx) {
        *self.reject = Some((ctx.pkt, r, ctx.hook));
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
        let Some(slot) = self.fts.get(ft as usize) else {
            return false;
        };
        if slot.ft.config().devices.is_empty() {
            return self.refuse("flowtable_not_on_devices");
        }
        if self.gated(ctx) {
            return self.refuse("policy_threshold");
        }
        let Some(id) = self.ctid.filter(|id| self.ct.is_live(*id)) else {
            return self.refuse(AddRefusal::NoConntrack.name());
        };
        // `nft_flow_offload_eval` checks the connection (TCP state, helper, confirmed,
        // already offloaded) before it resolves the routes (`nft_flow_route`). Most packets
        // a `flow add` rule sees are refused here (not established yet, or already
        // offloaded), before any route or key is worked out.
        if let Err(why) = self.fts[ft as usize]
            .ft
            .refusal(&ctx.pkt, self.ct, Some(id))
        {
            return self.refuse(why.name());
        }
        // nft_flow_route: the packet's route gives its own direction's output (and the other
        // direction's input device); the route back to its source, looked up as `nf_route`
        // does, gives the other direction's output and its own direction's input device.
        let (Some(iif), Some(oif)) = (ctx.iif, ctx.oif) else {
            return self.refuse(AddRefusal::NoConntrack.name());
        };
        let c = self.ct.get(id);
        // Each tuple carries the encapsulation of the device it arrives on (path resolution:
        // `nft_dev_path_info` collects the VLAN ids and PPPoE session along the route to the
        // other side, `nft_dev_forward_path` stores them in the opposite tuple): a packet with
        // another VLAN id or session misses.
        let dev_encap = self.dev_encap;
        let this = self.dir as usize;
        let tuples = [c.orig(), c.reply()];
        let back = tuples[this].src;
        let other_dev = match self.fib.flow_reverse(tuples[this].version, back, iif.index) {
            Some(d) => d,
            None => return self.refuse("no_route"),
        };
        let mk = |t: FlowKey, iif: u32| {
            let side = usize::from(iif == WAN_IFINDEX);
            FtKey::tuple_on(t, iif, dev_encap[side])
        };
        let mut keys = [FtKey::default(); 2];
        let mut routes = [FtRoute::default(); 2];
        keys[this] = mk(tuples[this], other_dev);
        keys[1 - this] = mk(tuples[1 - this], oif.index);
        routes[this] = FtRoute {
            oif: oif.index,
            mtu: self.fib.mtu(oif.index),
        };
        routes[1 - this] = FtRoute {
            oif: other_dev,
            mtu: self.fib.mtu(other_dev),
        };
        let slot = &mut self.fts[ft as usize];
        match slot
            .ft
            .add(ctx.now, &ctx.pkt, self.ct, Some(id), keys, routes)
        {
            Ok(_) => {
                self.stats.flowtable_adds += 1;
                let untag = !slot.ft.config().hw_offload;
                super::events::note_event(self.ct, &mut self.stats.events, id, |c| {
                    c.readded += 1;
                    c.last_readd = Some(ctx.now);
                    // this packet is a slow-path one, which `walk` counts after the tag
                    // is gone
                    c.slow_packets += u64::from(untag);
                });
                if untag {
                    // back where the event found it; with hardware offload, once the NIC
                    // takes it (`Datapath::hw_add_done`)
                    self.ct.get_mut(id).event = 0;
                }
                let rec = self.ct.get(id).rec;
                self.flows.offloaded_sw(rec, ctx.now);
                true
            }
            Err(e) => self.refuse(e.name()),
        }
    }

    fn nat(&mut self, req: &NatRequest, ctx: &mut PktCtx) -> Verdict {
        let Some(id) = self.ctid.filter(|id| self.ct.is_live(*id)) else {
            return Verdict::Accept;
        };
        if self.nat_mt > 1 {
            return Verdict::Accept;
        }
        let local_out = ctx.hook == Hook::Output;
        let Some(lookups) = nat::setup(
            self.ct,
            id,
            req,
            self.nat_mt,
            self.fib,
            ctx.iif.map(|i| i.index),
            ctx.oif.map(|i| i.index),
            local_out,
            ctx.now,
        ) else {
            // No address to masquerade to or redirect to: NF_DROP.
            return Verdict::Drop(NftDrop::Nat);
        };
        self.nat_setup = true;
        let lookups = u16::try_from(lookups).unwrap_or(u16::MAX);
        self.nat_lookups = self.nat_lookups.saturating_add(lookups);
        if let CtView::Tracked(i) = &mut ctx.ct {
            super::refresh_view(self.ct_tuples, self.ct.get(id), i);
        }
        Verdict::Accept
    }

    fn fib(&mut self, q: &FibQuery, ctx: &PktCtx) -> FibAnswer {
        use offsim_nft::ast::{FibResult, fib_flags};
        let p = &ctx.pkt;
        let v = p.ip_version;
        let (addr, other) = if q.flags & fib_flags::SADDR != 0 {
            (p.src, p.dst)
        } else {
            (p.dst, p.src)
        };
        let dev = if q.flags & fib_flags::IIF != 0 {
            ctx.iif
        } else if q.flags & fib_flags::OIF != 0 {
            ctx.oif
        } else {
            None
        };
        if q.result == FibResult::Type {
            return FibAnswer {
                rtype: self.addr_type(v, addr, dev.map(|d| d.index)),
                ..FibAnswer::default()
            };
        }
        let found = |d: u32| FibAnswer {
            oif: d,
            oifname: self.name_of(d),
            rtype: 0,
        };
        // nft_fib4_eval: a zero source asking about a broadcast or local multicast answers
        // with the input device.
        if v == 4
            && other == 0
            && q.flags & fib_flags::SADDR == 0
            && (addr as u32 == u32::MAX || (addr as u32) >> 8 == 0x00e0_0000)
            && let Some(i) = ctx.iif
        {
            return found(i.index);
        }
        // The lookup's iif is loopback (no `iif` rule applies), except for a source lookup
        // with `iif` in FORWARD, which asks for the route back out of the output device.
        let iif = if v == 4
            && ctx.hook == Hook::Forward
            && q.flags & fib_flags::IIF != 0
            && q.flags & fib_flags::SADDR != 0
        {
            ctx.oif.map_or(crate::fib::LO_IFINDEX, |o| o.index)
        } else {
            crate::fib::LO_IFINDEX
        };
        // A local destination is no answer ("Should not see RTN_LOCAL here").
        if self.fib.local_dest(v, addr) == Some(LocalDest::Address) {
            return FibAnswer::default();
        }
        let Some(d) = self.fib.route_input(v, addr, iif) else {
            return FibAnswer::default();
        };
        if dev.is_some_and(|o| o.index != d) {
            return FibAnswer::default();
        }
        found(d)
    }
}

impl DpHost<'_> {
    /// `inet_dev_addr_type` / `__nft_fib6_eval_type`: RTN_LOCAL 2 for an address of the
    /// router (of `dev` when given), RTN_BROADCAST 3, RTN_MULTICAST 5, else RTN_UNICAST 1.
    fn addr_type(&self, v: u8, addr: u128, dev: Option<u32>) -> u8 {
        if v == 4 {
            let a = addr as u32;
            if a == 0 || a == u32::MAX {
                return 3;
            }
            if a >> 28 == 0xe {
                return 5;
            }
        } else if addr >> 120 == 0xff {
            return 5;
        }
        match self.fib.local_dest(v, addr) {
            Some(LocalDest::Address) => {
                let on_dev = dev.is_none_or(|d| {
                    self.fib
                        .device(d)
                        .is_some_and(|x| x.addrs.iter().any(|a| a.version == v && a.addr == addr))
                });
                if on_dev { 2 } else { 1 }
            }
            Some(LocalDest::Broadcast) => 3,
            None => 1,
        }
    }

    fn name_of(&self, ifindex: u32) -> u128 {
        self.fib
            .device(ifindex)
            .map_or(0, |d| offsim_nft::Iface::new(ifindex, &d.name).name)
    }
}
