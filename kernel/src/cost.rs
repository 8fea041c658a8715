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
        // Clamped with `min` (no branch), which the compiler turns into vector saturating
        // adds over the arrays.
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
