//! What a packet did, as the CPU model needs to know it: the datapath counts each stage it
//! ran ([`CostDrivers`]) and the simulator's CPU model turns the counts into cycles.

use offsim_nft::{EvalCost, ExprKind, SetBackend};

/// What a packet did on the CPU, as counted by the datapath.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostDrivers {
    /// The netdev ingress hook ran (flowtable or netdev chain attached).
    pub netdev_ingress: bool,
    /// A flowtable lookup happened.
    pub ft_lookup: bool,
    /// The packet was forwarded by the flowtable fast path.
    pub ft_hit: bool,
    /// The packet took the classic path (`ip_rcv` onward).
    pub slow: bool,
    /// The route lookup ran (`ip_route_input`: forwarded, local or unroutable).
    pub routed: bool,
    /// The packet left by the slow path (`ip_forward_finish`, output, neighbour, transmit):
    /// a packet dropped in FORWARD or POSTROUTING does not pay this.
    pub forwarded: bool,
    /// Hooks of the inet path with base chains traversed (the netdev ingress hook is
    /// [`CostDrivers::netdev_ingress`]).
    pub hooks: u16,
    /// Base chains entered (netdev chains included).
    pub chains: u16,
    /// Rules entered.
    pub rules: u32,
    /// Kernel expressions run, by [`ExprKind::index`].
    pub exprs: [u32; ExprKind::COUNT],
    /// Set lookups by [`SetBackend::index`].
    pub lookups: [u16; SetBackend::COUNT],
    /// Their size term (sum of `⌊log2 n⌋ + 1`), by back end.
    pub lookup_depth: [u16; SetBackend::COUNT],
    /// Jumps and gotos.
    pub jumps: u16,
    /// Conntrack looked an existing entry up.
    pub ct_lookup: bool,
    /// Conntrack created an entry that was confirmed (inserted in the table).
    pub ct_new: bool,
    /// Conntrack created an entry that died unconfirmed with its packet (dropped before
    /// `nf_confirm`): allocated and initialised, never inserted.
    pub ct_unconfirmed: bool,
    /// NAT rewrite on the slow path.
    pub nat_mangle: bool,
    /// NAT binding set up.
    pub nat_setup: bool,
    /// `nf_nat_used_tuple` lookups the packet's NAT setups made (`get_unique_tuple`): the
    /// original tuple's and the kept port's checks, then each candidate of the port search
    /// after a clash (`nf_nat_l4proto_unique_tuple`, 248 under exhaustion).
    pub nat_lookups: u16,
    /// Hooks with `nat` chains the packet passed while tracked (the NAT core's hook entry,
    /// `nf_nat_inet_fn`, runs for each).
    pub nat_hooks: u16,
    /// Fragments handled by defrag (the fragment itself, or joined ones).
    pub frags: u16,
    /// Fragments the packet left as when it was fragmented on output (0: not fragmented).
    pub frags_out: u16,
    /// Packets the router sent itself because of this one (resets, ICMP errors, replies).
    pub sent: u16,
    /// NAPI batch size the packet was received in (1 = alone).
    pub batch: u16,
    /// VLAN tags pulled on receive on the slow path (`vlan_do_receive`).
    pub vlan_pull: u8,
    /// VLAN tags pushed on transmit on the slow path (`vlan_dev_hard_start_xmit`).
    pub vlan_push: u8,
    /// PPPoE session headers pulled on receive on the slow path (`pppoe_rcv` →
    /// `ppp_input`).
    pub pppoe_pull: u8,
    /// PPPoE session headers pushed on transmit on the slow path (`ppp_start_xmit` →
    /// `pppoe_xmit`).
    pub pppoe_push: u8,
}

impl CostDrivers {
    /// Adds the rule evaluation work `c` and `hooks` hooks.
    pub(crate) fn add_eval(&mut self, c: &EvalCost, hooks: u16) {
        // A packet's counts are small: when every one fits 16 bits (one OR over them), they
        // are narrowed without clamping each; a 64-bit `min` per lane has no SSE2
        // instruction and cost 5 % of `rules eval`.
        let any = c.exprs.iter().chain(&c.lookups).chain(&c.lookup_depth);
        if any.fold(c.base_chains | c.rules | c.jumps, |a, b| a | b) <= u64::from(u16::MAX) {
            self.hooks = self.hooks.saturating_add(hooks);
            self.chains = self.chains.saturating_add(c.base_chains as u16);
            self.rules = self.rules.saturating_add(c.rules as u32);
            for (a, b) in self.exprs.iter_mut().zip(&c.exprs) {
                *a = a.saturating_add(*b as u32);
            }
            for (a, b) in self.lookups.iter_mut().zip(&c.lookups) {
                *a = a.saturating_add(*b as u16);
            }
            for (a, b) in self.lookup_depth.iter_mut().zip(&c.lookup_depth) {
                *a = a.saturating_add(*b as u16);
            }
            self.jumps = self.jumps.saturating_add(c.jumps as u16);
            return;
        }
        // Clamped with `min` (no branch).
        let sat16 = |x: u64| x.min(u64::from(u16::MAX)) as u16;
        let sat32 = |x: u64| x.min(u64::from(u32::MAX)) as u32;
        self.hooks = self.hooks.saturating_add(hooks);
        self.chains = self.chains.saturating_add(sat16(c.base_chains));
        self.rules = self.rules.saturating_add(sat32(c.rules));
        for (a, b) in self.exprs.iter_mut().zip(&c.exprs) {
            *a = a.saturating_add(sat32(*b));
        }
        for (a, b) in self.lookups.iter_mut().zip(&c.lookups) {
            *a = a.saturating_add(sat16(*b));
        }
        for (a, b) in self.lookup_depth.iter_mut().zip(&c.lookup_depth) {
            *a = a.saturating_add(sat16(*b));
        }
        self.jumps = self.jumps.saturating_add(sat16(c.jumps));
    }

    /// Adds the hooks, chains and rule evaluation of `o`: a packet the router sent while
    /// handling this one, whose rules this one pays for.
    pub(crate) fn add_rule_work(&mut self, o: &CostDrivers) {
        self.hooks = self.hooks.saturating_add(o.hooks);
        self.chains = self.chains.saturating_add(o.chains);
        self.rules = self.rules.saturating_add(o.rules);
        for (a, b) in self.exprs.iter_mut().zip(&o.exprs) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.lookups.iter_mut().zip(&o.lookups) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.lookup_depth.iter_mut().zip(&o.lookup_depth) {
            *a = a.saturating_add(*b);
        }
        self.jumps = self.jumps.saturating_add(o.jumps);
        self.nat_hooks = self.nat_hooks.saturating_add(o.nat_hooks);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn cost(x: u64) -> EvalCost {
        EvalCost {
            base_chains: x,
            rules: x,
            exprs: [x; ExprKind::COUNT],
            lookups: [x; SetBackend::COUNT],
            lookup_depth: [x; SetBackend::COUNT],
            jumps: x,
        }
    }

    /// Small counts are added as they are, on top of what is there; a count past a field's
    /// width (one large count takes the clamping path for all) saturates it.
    #[test]
    fn eval_work_adds_and_saturates() {
        let mut d = CostDrivers::default();
        d.add_eval(&cost(3), 1);
        d.add_eval(&cost(u64::from(u16::MAX)), 1);
        assert_eq!((d.hooks, d.chains, d.jumps), (2, u16::MAX, u16::MAX));
        assert_eq!(d.rules, 3 + u32::from(u16::MAX));
        assert_eq!(d.exprs, [3 + u32::from(u16::MAX); ExprKind::COUNT]);
        assert_eq!(d.lookups, [u16::MAX; SetBackend::COUNT]);
        assert_eq!(d.lookup_depth, [u16::MAX; SetBackend::COUNT]);
        let mut e = CostDrivers::default();
        let mut big = cost(5);
        big.exprs[0] = 1 << 40;
        e.add_eval(&big, 0);
        assert_eq!((e.exprs[0], e.exprs[1], e.chains), (u32::MAX, 5, 5));
        assert_eq!(e.lookup_depth, [5; SetBackend::COUNT]);
        // One count just past 16 bits, in any one field, takes the clamping path: the
        // 16-bit fields clamp, the 32-bit ones stay exact, the others are added as they are.
        let big = 1u64 << 16;
        for field in 0..6 {
            let mut c = cost(1);
            match field {
                0 => c.base_chains = big,
                1 => c.rules = big,
                2 => c.jumps = big,
                3 => c.exprs[3] = big,
                4 => c.lookups[2] = big,
                _ => c.lookup_depth[1] = big,
            }
            let mut f = CostDrivers::default();
            f.add_eval(&c, 0);
            let sat = |on: bool| if on { u16::MAX } else { 1 };
            assert_eq!(
                (f.chains, f.jumps),
                (sat(field == 0), sat(field == 2)),
                "{field}"
            );
            assert_eq!(f.rules, if field == 1 { 1 << 16 } else { 1 }, "{field}");
            assert_eq!(f.exprs[3], if field == 3 { 1 << 16 } else { 1 }, "{field}");
            assert_eq!(
                (f.exprs[2], f.lookups[1], f.lookup_depth[2]),
                (1, 1, 1),
                "{field}"
            );
            assert_eq!(f.lookups[2], sat(field == 4), "{field}");
            assert_eq!(f.lookup_depth[1], sat(field == 5), "{field}");
        }
    }
}
