//! What a packet did, as the CPU model needs to know it: the datapath counts each stage it
//! ran ([`CostDrivers`]) and the simulator's CPU model turns the counts into cycles.

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
    /// The packet was forwarded by the slow path (routing, forward, output).
    pub forwarded: bool,
    /// Hooks with base chains traversed.
    pub hooks: u16,
    /// Base chains entered.
    pub chains: u16,
    /// Rules evaluated.
    pub rules: u32,
    /// Expressions evaluated.
    pub exprs: u32,
    /// Hash-set lookups.
    pub set_hash: u16,
    /// Interval-set lookups.
    pub set_interval: u16,
    /// Concatenation / range (pipapo) lookups.
    pub set_concat: u16,
    /// Jumps and gotos.
    pub jumps: u16,
    /// Statements executed.
    pub stmts: u16,
    /// Conntrack looked an existing entry up.
    pub ct_lookup: bool,
    /// Conntrack created an entry.
    pub ct_new: bool,
    /// NAT rewrite on the slow path.
    pub nat_mangle: bool,
    /// NAT binding set up.
    pub nat_setup: bool,
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
