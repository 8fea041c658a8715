//! Per-packet evaluation of compiled chains: [`eval_chain`], [`RuleState`], [`Host`],
//! [`PktCtx`], [`Verdict`]; [`EvalCost`] is in [`cost`].
//!
//! Semantics follow `net/netfilter/nf_tables_core.c` (`nft_do_chain`): a failing match ends
//! the rule (NFT_BREAK), statements before it have run; `accept` ends the base chain, `drop`
//! is final, `jump` pushes a return point on a 16-entry stack (overflow drops), `goto` does
//! not, `return`/end of a regular chain pops, and the end of a base chain applies its policy.
//! Nothing here allocates except inserting into a dynamic set.
//!
//! This file holds what the caller sees. The work is in [`chain`] (the chain walk and one
//! function per operation), [`load`] (selectors), [`sets`] (lookups, element expressions,
//! dynamic set updates), [`cost`] (what evaluation costs in kernel expressions), [`tally`]
//! (per-rule costs for `rules eval`), [`stateful`] (limits and quotas), [`state`]
//! ([`RuleState`]) and [`jhash`].

mod chain;
mod cost;
mod jhash;
mod load;
mod sets;
mod state;
mod stateful;
mod tally;

pub use chain::eval_chain;
pub use cost::{EvalCost, ExprKind, SetBackend};
pub use state::RuleState;

use offsim_traces::meta::PacketMeta;
use offsim_traces::time::SimTime;

use crate::ast::{Hook, NatKind};
use crate::program::{CVerdict, Counter, FlowtableId, Reject};

/// Conntrack information for one packet, as the caller's conntrack sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtInfo {
    /// `ct state` bit: invalid 1, established 2, related 4, new 8 (untracked is [`CtView::Untracked`]).
    pub state: u32,
    /// `ct status` bits (expected 1, seen-reply 2, assured 4, confirmed 8, snat 0x10, dnat 0x20, dying 0x200).
    pub status: u32,
    /// 0 original, 1 reply.
    pub direction: u8,
    /// Connection mark (mutable by `ct mark set`).
    pub mark: u32,
    /// L3 protocol (nfproto 2 or 10).
    pub l3proto: u8,
    /// L4 protocol.
    pub protocol: u8,
    /// Original and reply tuples. Read only by rules that load them; a host may leave them
    /// unset (zero) for a ruleset without such a rule ([`crate::Ruleset::reads_ct_tuples`]).
    pub tuple: [offsim_traces::FlowKey; 2],
    /// Name of the attached helper (encoded like an ifname; 0 = none), for `ct helper "ftp"`.
    pub helper: u128,
}

/// The conntrack view of a packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CtView {
    /// No conntrack entry (before -200, or the L4 tracker rejected it): `ct state invalid`.
    #[default]
    None,
    /// `notrack` was applied: `ct state untracked`.
    Untracked,
    /// A tracked connection.
    Tracked(CtInfo),
}

/// An interface as seen by `iif`/`iifname`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iface {
    /// ifindex (see [`super::Ruleset::device_index`]).
    pub index: u32,
    /// Name encoded as 16 bytes big-endian, first character in the most significant byte
    /// ([`Iface::new`] encodes it).
    pub name: u128,
}

impl Iface {
    /// An interface from an index and a name.
    pub fn new(index: u32, name: &str) -> Iface {
        Iface {
            index,
            name: super::types::ifname_value(name),
        }
    }
}

/// Everything the evaluator reads about a packet and may change.
#[derive(Clone, Copy, Debug)]
pub struct PktCtx {
    /// The packet (a copy: TTL already decremented for forward/postrouting by the caller).
    /// Payload `set` statements modify it.
    pub pkt: PacketMeta,
    /// Hook being evaluated.
    pub hook: Hook,
    /// L3 family of the hook: 4 or 6.
    pub l3: u8,
    /// Input interface (None at output).
    pub iif: Option<Iface>,
    /// Output interface (None before routing).
    pub oif: Option<Iface>,
    /// Packet mark (meta mark).
    pub mark: u32,
    /// Conntrack view.
    pub ct: CtView,
    /// Current simulated time.
    pub now: SimTime,
    /// Bytes counters add and `meta length` reads (defaults to `pkt.ip_len`).
    pub len: u32,
}

impl PktCtx {
    /// A context for `pkt` at `hook`; the L3 family comes from the packet.
    pub fn new(pkt: PacketMeta, hook: Hook, now: SimTime) -> PktCtx {
        PktCtx {
            l3: if pkt.ip_version == 6 { 6 } else { 4 },
            len: pkt.ip_len,
            pkt,
            hook,
            iif: None,
            oif: None,
            mark: 0,
            ct: CtView::None,
            now,
        }
    }
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A `drop` verdict.
    Rule,
    /// A `reject` (the kernel also sends an ICMP error or TCP RST).
    Reject,
    /// The base chain policy.
    Policy,
    /// More than 16 nested jumps.
    JumpStackOverflow,
    /// A NAT statement failed (the host returned drop).
    Nat,
}

/// Outcome of one base chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted by this base chain (the caller continues with the next chain / hook).
    Accept,
    /// Dropped.
    Drop(DropReason),
    /// Queued to userspace (`queue num N`).
    Queue(u16),
    /// Stolen by `fwd to DEV` (`nft_fwd_netdev_eval` → `nf_fwd_netdev_egress`, `NF_STOLEN`):
    /// sent out of the device with this interface index, never reaching the IP layer.
    Fwd(u32),
}

/// What a NAT statement asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatRequest {
    /// snat / dnat / masquerade / redirect.
    pub kind: NatKind,
    /// 4 or 6.
    pub family: u8,
    /// Address range (inclusive), if given.
    pub addr: Option<(u128, u128)>,
    /// Port range (inclusive), if given.
    pub port: Option<(u16, u16)>,
    /// [`super::ast::nat_flags`].
    pub flags: u8,
}

/// A `fib` lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FibQuery {
    /// [`super::ast::fib_flags`].
    pub flags: u8,
    /// What is wanted.
    pub result: super::ast::FibResult,
}

/// Answer of a `fib` lookup: ifindex and name of the route's output device (0 / empty when
/// there is no route) and the address type (RTN_*: 1 unicast, 2 local, 3 broadcast, 5
/// multicast, 6 blackhole, 7 unreachable, 8 prohibit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FibAnswer {
    /// Output ifindex (0 = none).
    pub oif: u32,
    /// Output ifname.
    pub oifname: u128,
    /// Address type.
    pub rtype: u8,
}

/// The outside world the evaluator needs. The caller (hook driver) implements it.
pub trait Host {
    /// `flow add @ft`: create a flowtable entry for the packet's connection. Return false when
    /// no entry was created (the rule then ends, NFT_BREAK).
    fn flow_add(&mut self, _flowtable: FlowtableId, _ctx: &PktCtx) -> bool {
        false
    }
    /// A NAT statement: set up the binding and return the verdict (normally `Accept`, which ends
    /// the base chain as in `nft_nat_eval`).
    fn nat(&mut self, _req: &NatRequest, _ctx: &mut PktCtx) -> Verdict {
        Verdict::Accept
    }
    /// `notrack` (the evaluator already set `ctx.ct` to [`CtView::Untracked`]).
    fn notrack(&mut self, _ctx: &mut PktCtx) {}
    /// A `fib` lookup.
    fn fib(&mut self, _q: &FibQuery, _ctx: &PktCtx) -> FibAnswer {
        FibAnswer::default()
    }
    /// `ct helper set`: attach helper object `obj` (see [`super::Ruleset::object_name`]).
    fn ct_helper(&mut self, _obj: u32, _ctx: &mut PktCtx) {}
    /// `reject`: the kernel sends a TCP reset or an ICMP error answering the packet
    /// (`nft_reject_inet_eval` → `nf_send_reset`, `nf_send_unreach`) before it drops it.
    /// The default sends nothing.
    fn reject(&mut self, _r: Reject, _ctx: &PktCtx) {}
    /// `ct timeout set`: attach the timeout policy of object `obj` (see
    /// [`super::ObjectInfo::ct_timeout`]) to the packet's connection. The kernel
    /// (`nft_ct_timeout_obj_eval`) does so only for a connection that is not confirmed yet
    /// (its first packet, after conntrack at -200) and of the object's L4 protocol, and sets
    /// the connection's timeout to the policy's initial value; later packets are timed by the
    /// policy. The default does nothing.
    fn ct_timeout(&mut self, _obj: u32, _ctx: &mut PktCtx) {}
}

/// A host that does nothing (no flow offload, NAT accepts, no routes).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullHost;
impl Host for NullHost {}

/// Policy counters of a base chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyCounter {
    /// Packets that reached the end of the base chain's own rule list (what the kernel
    /// oracle's appended counter rule measures).
    pub fallthrough: Counter,
    /// All packets that got the policy verdict (also via `return` in the base chain or the
    /// end of a chain entered by `goto`).
    pub total: Counter,
}

/// What an operation tells the chain walk.
enum Flow {
    /// Go on with the next operation.
    Next,
    /// The rule ends here (NFT_BREAK).
    Break,
    /// A verdict.
    Verdict(CVerdict),
}
