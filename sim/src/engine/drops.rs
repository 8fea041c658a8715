//! Why the engine lost a packet: a value on the hot path, named only for the report.

use offsim_kernel::datapath::DropCause;
use offsim_nicmodel::datapath::DropReason as NicDrop;

/// Why the engine lost a packet, kept as a value on the hot path and named only for the
/// report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DropKind {
    Nic(NicDrop),
    RxRingFull,
    LinkOverrun,
    /// The port was down (a `link-down` event).
    LinkDown,
    /// The port's egress qdisc dropped it (CoDel, or over its limit).
    Qdisc,
    Dp(DropCause),
}

impl DropKind {
    /// The router failed to forward for lack of capacity (a port, the NIC, an RX ring, the
    /// conntrack table), as against a drop the ruleset, routing or the trace decided: RFC
    /// 2544 loss counts only these.
    pub(super) fn is_capacity(&self) -> bool {
        match self {
            DropKind::Nic(_) | DropKind::RxRingFull | DropKind::LinkOverrun | DropKind::Qdisc => {
                true
            }
            DropKind::LinkDown => false,
            DropKind::Dp(c) => *c == DropCause::CtTableFull,
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            DropKind::Nic(r) => nic_drop_name(*r).to_string(),
            DropKind::RxRingFull => "rx_ring_full".to_string(),
            DropKind::LinkOverrun => "link_overrun".to_string(),
            DropKind::LinkDown => "link_down".to_string(),
            DropKind::Qdisc => "qdisc".to_string(),
            DropKind::Dp(c) => c.name(),
        }
    }
}

fn nic_drop_name(r: NicDrop) -> &'static str {
    match r {
        NicDrop::EngineOverflow => "nic_engine_queue",
        NicDrop::EgressOverflow => "egress_buffer",
    }
}
