//! The datapath as the nftables evaluator's [`Host`]: what rules reach outside the packet.
//! `flow add` ([`DpHost::flow_add`] mirrors `nft_flow_offload_eval`), NAT bindings
//! (`nft_nat_eval` / `nf_nat_setup_info`), `fib` lookups (`nft_fib4_eval`/`nft_fib6_eval`)
//! and `ct timeout` policies.

use offsim_nft::ast::NatKind;
use offsim_nft::{
    CtView, DropReason as NftDrop, FibAnswer, FibQuery, Host, Iface, NatRequest, PktCtx, Verdict,
};
use offsim_traces::meta::FlowKey;
use offsim_traces::time::NS_PER_SEC;
use offsim_traces::tuple::AddrMap;

use super::{DpStats, FtSlot, LAN_IFINDEX, OffloadGate, REDIRECTED, WAN_IFINDEX};
use crate::conntrack::{Conntrack, CtId, CtTimeouts, Dir, status};
use crate::flows::FlowBook;
use crate::flowtable::{AddRefusal, Encap, FtKey};

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
    pub(super) has_addresses: bool,
    pub(super) single_sided: bool,
    pub(super) lan: Iface,
    pub(super) wan: Iface,
    pub(super) lan_hosts: &'a AddrMap<()>,
    pub(super) lan_prefixes: &'a [crate::sides::Prefix],
    pub(super) nat_mt: usize,
    pub(super) nat_setup: bool,
    pub(super) first_refusal: &'a mut Option<&'static str>,
    pub(super) ct_policies: &'a [Option<(u8, CtTimeouts)>],
    /// Each side's device encapsulation (LAN 0, WAN 1).
    pub(super) dev_encap: [Encap; 2],
}

impl DpHost<'_> {
    fn refuse(&mut self, why: &'static str) -> bool {
        *self.stats.add_refusals.entry(why).or_insert(0) += 1;
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
        // Each tuple carries the encapsulation of the device it arrives on (path resolution:
        // `nft_dev_path_info` collects the VLAN ids and PPPoE session along the route to the
        // other side, `nft_dev_forward_path` stores them in the opposite tuple): a packet with
        // another VLAN id or session misses.
        let dev_encap = self.dev_encap;
        let mk = |t: FlowKey, iif: u32| {
            let side = usize::from(iif == WAN_IFINDEX);
            FtKey::tuple_on(t, iif, dev_encap[side])
        };
        let (o_iif, r_iif) = if self.dir == Dir::Original {
            (reverse, pkt_oif)
        } else {
            (pkt_oif, reverse)
        };
        let keys = [mk(c.orig(), o_iif), mk(c.reply(), r_iif)];
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
        let dev = if self.lan_hosts.get(v, addr).is_some()
            || self.lan_prefixes.iter().any(|p| p.contains(v, addr))
        {
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
