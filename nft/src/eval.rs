//! Per-packet evaluation of compiled chains: [`eval_chain`], [`RuleState`], [`Host`],
//! [`PktCtx`], [`Verdict`] and [`EvalCost`].
//!
//! Semantics follow `net/netfilter/nf_tables_core.c` (`nft_do_chain`): a failing match ends
//! the rule (NFT_BREAK), statements before it have run; `accept` ends the base chain, `drop`
//! is final, `jump` pushes a return point on a 16-entry stack (overflow drops), `goto` does
//! not, `return`/end of a regular chain pops, and the end of a base chain applies its policy.
//! Nothing here allocates except inserting into a dynamic set.

use offsim_traces::meta::{NetKind, PacketMeta};
use offsim_traces::time::SimTime;

use super::ast::{Hook, NatKind};
use super::program::*;

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
    /// Original and reply tuples.
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
    /// Name encoded with [`super::types::ifname_value`].
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

/// Work done while evaluating, for the CPU model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalCost {
    /// Base chains entered.
    pub base_chains: u32,
    /// Rules evaluated (entered).
    pub rules: u32,
    /// Expressions evaluated (matches, loads, statements).
    pub exprs: u32,
    /// Hash set/map lookups.
    pub lookups_hash: u32,
    /// Interval (rbtree) lookups.
    pub lookups_rbtree: u32,
    /// Concatenated interval (pipapo) lookups.
    pub lookups_pipapo: u32,
    /// Bitmap lookups (keys of 16 bits or less).
    pub lookups_bitmap: u32,
    /// Jumps and gotos.
    pub jumps: u32,
    /// Statements executed (counter, log, mark set, NAT, ...).
    pub stmts: u32,
}

impl EvalCost {
    /// Adds another cost.
    pub fn add(&mut self, o: &EvalCost) {
        self.base_chains += o.base_chains;
        self.rules += o.rules;
        self.exprs += o.exprs;
        self.lookups_hash += o.lookups_hash;
        self.lookups_rbtree += o.lookups_rbtree;
        self.lookups_pipapo += o.lookups_pipapo;
        self.lookups_bitmap += o.lookups_bitmap;
        self.jumps += o.jumps;
        self.stmts += o.stmts;
    }
}

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

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    tokens: u64,
    last: u64,
    init: bool,
}

/// Mutable per-run state: counters, token buckets, quotas, dynamic set contents, numgen.
#[derive(Clone, Debug)]
pub struct RuleState {
    /// Counter statements, by slot (see [`super::RuleInfo::counter_slots`]).
    pub counters: Vec<Counter>,
    /// Implicit counter per rule (rule id).
    pub implicit: Vec<Counter>,
    /// Policy counters per chain (chain id; zero for regular chains).
    pub policy: Vec<PolicyCounter>,
    /// Named counter objects (object id).
    pub named: Vec<Counter>,
    /// Bytes used per quota slot (anonymous quotas first, then objects).
    pub quota_used: Vec<u64>,
    buckets: Vec<Bucket>,
    numgen: Vec<u32>,
    dynsets: Vec<DynSet>,
    /// State of the stateful static elements, per set with such elements.
    elem_static: Vec<Vec<ElemState>>,
    rng: u64,
}

impl RuleState {
    /// Fresh state for a ruleset; `seed` drives `numgen random`.
    pub fn new(rs: &super::Ruleset, seed: u64) -> RuleState {
        let p = &rs.prog;
        RuleState {
            counters: vec![Counter::default(); p.n_counters],
            implicit: vec![Counter::default(); p.rules.len()],
            policy: vec![PolicyCounter::default(); p.chains.len()],
            named: p.named_counter_init.clone(),
            quota_used: p.quotas.iter().map(|q| q.used).collect(),
            buckets: vec![Bucket::default(); p.limits.len()],
            numgen: p
                .numgens
                .iter()
                .map(|n| n.modulus.saturating_sub(1))
                .collect(),
            dynsets: p
                .sets
                .iter()
                .filter(|s| s.dynamic.is_some())
                .map(|_| DynSet::default())
                .collect(),
            elem_static: {
                let mut v = vec![Vec::new(); p.n_stateful_sets as usize];
                for s in &p.sets {
                    if let Some(i) = s.stateful {
                        v[i as usize] = vec![ElemState::default(); s.elem_exprs.len()];
                    }
                }
                v
            },
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Number of elements currently in a dynamic set (0 for static sets).
    pub fn dynamic_len(&self, rs: &super::Ruleset, set: usize) -> usize {
        rs.prog
            .sets
            .get(set)
            .and_then(|s| s.dynamic)
            .map(|d| self.dynsets[d as usize].map.len())
            .unwrap_or(0)
    }

    fn next_rand(&mut self) -> u32 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }
}

impl super::Ruleset {
    /// Counter values of a rule from `st`: its first counter statement, or the implicit
    /// counter when it has none.
    pub fn rule_counter(&self, st: &RuleState, rule: usize) -> Counter {
        let r = &self.rules()[rule];
        if r.has_counter() {
            st.counters[r.counter_slots.start]
        } else {
            st.implicit[rule]
        }
    }
}

enum Flow {
    Next,
    Break,
    Verdict(CVerdict),
}

const STACK: usize = 16;

/// Evaluates base chain `chain` for one packet. Returns the chain's verdict; counters,
/// limits, quotas and dynamic sets in `st` are updated, and `cost` accumulates the work.
pub fn eval_chain(
    rs: &super::Ruleset,
    st: &mut RuleState,
    chain: ChainId,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Verdict {
    let p = &rs.prog;
    cost.base_chains += 1;
    let base = chain as usize;
    let mut stack = [(0u32, 0u32); STACK];
    let mut sp = 0usize;
    let mut cur = chain;
    let mut ri = 0u32;
    loop {
        let c = &p.chains[cur as usize];
        if ri >= c.n_rules {
            if cur as usize == base {
                st.policy[base].fallthrough.hit(ctx.len);
                return policy(p, st, base, ctx);
            }
            if sp == 0 {
                // end of a chain reached by goto from the base chain
                return policy(p, st, base, ctx);
            }
            sp -= 1;
            (cur, ri) = stack[sp];
            continue;
        }
        let rid = c.first_rule + ri;
        cost.rules += 1;
        let r = &p.rules[rid as usize];
        let mut fl = Flow::Next;
        for op in &p.ops[r.first_op as usize..(r.first_op + r.n_ops) as usize] {
            fl = exec(p, st, rid, op, ctx, host, cost);
            if !matches!(fl, Flow::Next) {
                break;
            }
        }
        match fl {
            Flow::Next | Flow::Break => ri += 1,
            Flow::Verdict(v) => match v {
                CVerdict::Accept => return Verdict::Accept,
                CVerdict::Drop => return Verdict::Drop(DropReason::Rule),
                CVerdict::Reject => return Verdict::Drop(DropReason::Reject),
                CVerdict::NatDrop => return Verdict::Drop(DropReason::Nat),
                CVerdict::Queue(n) => return Verdict::Queue(n),
                CVerdict::Continue => ri += 1,
                CVerdict::Return => {
                    if sp == 0 {
                        return policy(p, st, base, ctx);
                    }
                    sp -= 1;
                    (cur, ri) = stack[sp];
                }
                CVerdict::Jump(t) => {
                    cost.jumps += 1;
                    if sp >= STACK {
                        return Verdict::Drop(DropReason::JumpStackOverflow);
                    }
                    stack[sp] = (cur, ri + 1);
                    sp += 1;
                    cur = t;
                    ri = 0;
                }
                CVerdict::Goto(t) => {
                    cost.jumps += 1;
                    cur = t;
                    ri = 0;
                }
            },
        }
    }
}

fn policy(p: &Program, st: &mut RuleState, base: usize, ctx: &PktCtx) -> Verdict {
    st.policy[base].total.hit(ctx.len);
    if p.chains[base].policy_accept {
        Verdict::Accept
    } else {
        Verdict::Drop(DropReason::Policy)
    }
}

#[inline]
fn xf(v: u128, x: &Xf) -> u128 {
    let mut r = (v & x.and) ^ x.xor;
    // the mask/xor after a shift exists only with a shift (see `Program::src_of`)
    if x.shl != 0 || x.shr != 0 {
        if x.shl != 0 {
            // bits shifted out of the register are lost
            r = r.checked_shl(x.shl as u32).unwrap_or(0) & x.width;
        }
        if x.shr != 0 {
            r = (r & x.width).checked_shr(x.shr as u32).unwrap_or(0);
        }
        r = (r & x.and2) ^ x.xor2;
    }
    r & x.width
}

fn ip_ok(ctx: &PktCtx, v: u8) -> bool {
    ctx.pkt.is_ip() && ctx.pkt.ip_version == v
}

/// The first four bytes of the transport header, as `th sport`/`th dport` read them: the
/// kernel's raw transport load (`nft_payload_eval`, `NFT_PAYLOAD_TRANSPORT_HEADER`) checks
/// only that the transport header exists (not a non-first fragment), not the protocol, so on
/// ICMP `th dport` is the checksum. Ports come from the (possibly rewritten) port fields.
fn th_head(k: &PacketMeta) -> Option<u32> {
    if !k.is_ip() {
        return None;
    }
    if k.l4_present() && k.has_ports() {
        return Some((k.sport as u32) << 16 | k.dport as u32);
    }
    if k.has(offsim_traces::meta::flags::L4_HEAD) {
        return Some(k.l4_head);
    }
    None
}

fn l4_ok(ctx: &PktCtx, proto: u8) -> bool {
    ctx.pkt.is_ip() && ctx.pkt.l4_present() && (proto == 0 || ctx.pkt.l4proto == proto)
}

/// Reads a selector. `None` = the field is missing (NFT_BREAK).
fn load(
    p: &Program,
    st: &mut RuleState,
    l: &Load,
    ctx: &PktCtx,
    host: &mut impl Host,
) -> Option<u128> {
    let k = &ctx.pkt;
    Some(match *l {
        Load::IpVersion => {
            if !ip_ok(ctx, 4) {
                return None;
            }
            4
        }
        Load::IpHdrLen => {
            if !ip_ok(ctx, 4) {
                return None;
            }
            (k.ip_hdr_len / 4) as u128
        }
        Load::IpDscp(v) => {
            if !ip_ok(ctx, v) {
                return None;
            }
            k.dscp as u128
        }
        Load::IpEcn(v) => {
            if !ip_ok(ctx, v) {
                return None;
            }
            k.ecn as u128
        }
        Load::IpLength => {
            if !ip_ok(ctx, 4) {
                return None;
            }
            k.ip_len as u128
        }
        Load::IpId => {
            if !ip_ok(ctx, 4) {
                return None;
            }
            (k.ip_id & 0xffff) as u128
        }
        Load::IpFragOff => {
            if !ip_ok(ctx, 4) {
                return None;
            }
            let mut v = (k.frag_offset / 8) as u128;
            if k.has(offsim_traces::meta::flags::DONT_FRAGMENT) {
                v |= 0x4000;
            }
            if k.has(offsim_traces::meta::flags::MORE_FRAGMENTS) {
                v |= 0x2000;
            }
            v
        }
        Load::IpTtl(v) => {
            if !ip_ok(ctx, v) {
                return None;
            }
            k.ttl as u128
        }
        Load::IpProto(v) => {
            if !ip_ok(ctx, v) {
                return None;
            }
            k.ip_proto_field as u128
        }
        Load::IpSaddr(v) => {
            if !ip_ok(ctx, v) {
                return None;
            }
            k.src
        }
        Load::IpDaddr(v) => {
            if !ip_ok(ctx, v) {
                return None;
            }
            k.dst
        }
        Load::Ip6Version => {
            if !ip_ok(ctx, 6) {
                return None;
            }
            6
        }
        Load::Ip6Flowlabel => {
            if !ip_ok(ctx, 6) {
                return None;
            }
            k.flow_label as u128
        }
        Load::Ip6Length => {
            if !ip_ok(ctx, 6) {
                return None;
            }
            k.ip_len.saturating_sub(40) as u128
        }
        Load::Sport(0) => (th_head(k)? >> 16) as u128,
        Load::Dport(0) => (th_head(k)? & 0xffff) as u128,
        Load::Sport(proto) => {
            if !l4_ok(ctx, proto) || !k.has_ports() {
                return None;
            }
            k.sport as u128
        }
        Load::Dport(proto) => {
            if !l4_ok(ctx, proto) || !k.has_ports() {
                return None;
            }
            k.dport as u128
        }
        Load::TcpSeq => {
            if !l4_ok(ctx, 6) {
                return None;
            }
            k.tcp_seq as u128
        }
        Load::TcpAck => {
            if !l4_ok(ctx, 6) {
                return None;
            }
            k.tcp_ack as u128
        }
        Load::TcpDoff => {
            if !l4_ok(ctx, 6) {
                return None;
            }
            (k.tcp_hdr_len / 4) as u128
        }
        Load::TcpFlags => {
            if !l4_ok(ctx, 6) {
                return None;
            }
            k.tcp_flags as u128
        }
        Load::TcpWindow => {
            if !l4_ok(ctx, 6) {
                return None;
            }
            k.tcp_win as u128
        }
        // nft_exthdr_tcp_eval: no such option = NFT_BREAK
        Load::TcpMss => {
            if !l4_ok(ctx, 6) {
                return None;
            }
            k.tcp_mss? as u128
        }
        // The link-layer header the packet arrived with (nft_payload_eval,
        // NFT_PAYLOAD_LL_HEADER; forwarded packets keep it through postrouting). Only Ethernet
        // frames have one; a PPPoE session arrives on a ppp device, whose packets have none
        // (nft's `meta iiftype ether` dependency fails).
        Load::EtherAddr { src } => {
            if !k.has(offsim_traces::meta::flags::ETHER) || k.has(offsim_traces::meta::flags::PPPOE)
            {
                return None;
            }
            let b = if src { &k.eth_src } else { &k.eth_dst };
            b.iter().fold(0u128, |v, x| v << 8 | *x as u128)
        }
        Load::EtherType => {
            if !k.has(offsim_traces::meta::flags::ETHER) || k.has(offsim_traces::meta::flags::PPPOE)
            {
                return None;
            }
            k.ethertype as u128
        }
        // nft_exthdr_ipv6_eval: ipv6_find_hdr(NEXTHDR_ROUTING) fails = NFT_BREAK
        Load::Ip6RtType => {
            if !ip_ok(ctx, 6) {
                return None;
            }
            k.ip6_rt_type? as u128
        }
        Load::UdpLength(proto) => {
            if !l4_ok(ctx, proto) {
                return None;
            }
            (k.l4_payload_len + 8) as u128
        }
        Load::IcmpType(proto) => {
            if !l4_ok(ctx, proto) || !ip_ok(ctx, if proto == 1 { 4 } else { 6 }) {
                return None;
            }
            k.icmp_type as u128
        }
        Load::IcmpCode(proto) => {
            if !l4_ok(ctx, proto) || !ip_ok(ctx, if proto == 1 { 4 } else { 6 }) {
                return None;
            }
            k.icmp_code as u128
        }
        Load::IcmpId(proto) => {
            if !l4_ok(ctx, proto) || !offsim_traces::meta::is_icmp_echo(proto, k.icmp_type) {
                return None;
            }
            k.sport as u128
        }
        Load::MetaLength => ctx.len as u128,
        Load::MetaProtocol => match k.net {
            NetKind::Ipv4 => 0x0800,
            NetKind::Ipv6 => 0x86dd,
            NetKind::NonIp(t) => t as u128,
            NetKind::Unknown => return None,
        },
        Load::MetaNfproto => {
            if ctx.l3 == 6 {
                10
            } else {
                2
            }
        }
        Load::MetaL4proto => {
            if !k.is_ip() {
                return None;
            }
            k.l4proto as u128
        }
        Load::MetaMark => ctx.mark as u128,
        Load::MetaIif => ctx.iif.map(|i| i.index).unwrap_or(0) as u128,
        Load::MetaIifname => ctx.iif.map(|i| i.name).unwrap_or(0),
        Load::MetaOif => ctx.oif.map(|i| i.index).unwrap_or(0) as u128,
        Load::MetaOifname => ctx.oif.map(|i| i.name).unwrap_or(0),
        Load::MetaPkttype => k.pkt_type as u8 as u128,
        // nft_meta_get_eval: wall-clock time of the packet; here the capture timestamp (UTC)
        Load::MetaTime => k.ts.0 as u128,
        Load::MetaHour => ((k.ts.0 / 1_000_000_000) % 86400) as u128,
        // 1970-01-01 was a Thursday (tm_wday 4)
        Load::MetaDay => ((k.ts.0 / 1_000_000_000 / 86400 + 4) % 7) as u128,
        Load::CtState => match ctx.ct {
            CtView::None => 1,
            CtView::Untracked => 64,
            CtView::Tracked(c) => c.state as u128,
        },
        Load::CtStatus => match ctx.ct {
            CtView::Tracked(c) => c.status as u128,
            _ => return None,
        },
        Load::CtDir => match ctx.ct {
            CtView::Tracked(c) => c.direction as u128,
            _ => return None,
        },
        Load::CtMark => match ctx.ct {
            CtView::Tracked(c) => c.mark as u128,
            _ => return None,
        },
        Load::CtL3proto => match ctx.ct {
            CtView::Tracked(c) => c.l3proto as u128,
            _ => return None,
        },
        Load::CtProto => match ctx.ct {
            CtView::Tracked(c) => c.protocol as u128,
            _ => return None,
        },
        Load::CtAddr { dir, src } => match ctx.ct {
            CtView::Tracked(c) => {
                let t = &c.tuple[dir as usize & 1];
                if src { t.src } else { t.dst }
            }
            _ => return None,
        },
        Load::CtPort { dir, src } => match ctx.ct {
            CtView::Tracked(c) => {
                let t = &c.tuple[dir as usize & 1];
                (if src { t.sport } else { t.dport }) as u128
            }
            _ => return None,
        },
        Load::Const(c) => c,
        Load::CtHelper => match ctx.ct {
            CtView::Tracked(c) => c.helper,
            _ => return None,
        },
        Load::Numgen(i) => {
            let g = &p.numgens[i as usize];
            if g.random {
                let r = st.next_rand() as u64;
                ((r * g.modulus as u64) >> 32) as u128 + g.offset as u128
            } else {
                let o = st.numgen[i as usize];
                let n = if o + 1 < g.modulus { o + 1 } else { 0 };
                st.numgen[i as usize] = n;
                (n + g.offset) as u128
            }
        }
        Load::Jhash(i) => {
            let j = &p.jhashes[i as usize];
            let mut buf = [0u8; 64];
            let mut n = 0usize;
            for part in &j.parts[..j.nparts as usize] {
                let v = xf(load(p, st, &part.load, ctx, host)?, &part.xf);
                let w = part.bytes as usize;
                let padded = if j.nparts > 1 { w.div_ceil(4) * 4 } else { w };
                let be = v.to_be_bytes();
                buf[n..n + w].copy_from_slice(&be[16 - w..]);
                n += padded;
            }
            let h = jhash(&buf[..n], j.seed);
            (((h as u64) * (j.modulus as u64)) >> 32) as u128 + j.offset as u128
        }
        Load::Symhash(i) => {
            let j = &p.jhashes[i as usize];
            let key = ctx.pkt.flow_key()?.canonical();
            let mut buf = [0u8; 36];
            buf[..16].copy_from_slice(&key.src.to_be_bytes());
            buf[16..32].copy_from_slice(&key.dst.to_be_bytes());
            buf[32..34].copy_from_slice(&key.sport.to_be_bytes());
            buf[34..36].copy_from_slice(&key.dport.to_be_bytes());
            let h = jhash(&buf, j.seed ^ key.proto as u32);
            (((h as u64) * (j.modulus as u64)) >> 32) as u128 + j.offset as u128
        }
        Load::Fib { flags, result } => {
            let a = host.fib(&FibQuery { flags, result }, ctx);
            match result {
                super::ast::FibResult::Oif => a.oif as u128,
                super::ast::FibResult::Oifname => a.oifname,
                super::ast::FibResult::Type => a.rtype as u128,
            }
        }
    })
}

#[inline]
fn src_val(
    p: &Program,
    st: &mut RuleState,
    s: &Src,
    ctx: &PktCtx,
    host: &mut impl Host,
) -> Option<u128> {
    load(p, st, &s.load, ctx, host).map(|v| xf(v, &s.xf))
}

fn key_val(
    p: &Program,
    st: &mut RuleState,
    k: &KeySpec,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Option<[u128; 4]> {
    let mut out = [0u128; 4];
    let first = k.first as usize;
    for part in &p.key_parts[first..first + k.n as usize] {
        cost.exprs += 1;
        let v = src_val(p, st, &part.src, ctx, host)?;
        part.slot.put(&mut out, v);
    }
    Some(out)
}

/// Set lookup (`nft_lookup_eval`): the element's data when found (static elements, then
/// live dynamic ones, then the catch-all). With `exprs`, the element's stateful expressions
/// run (`nft_set_elem_update_expr`); one that breaks (a limit over its rate, a quota used up)
/// makes the lookup fail.
fn lookup_set(
    p: &Program,
    st: &mut RuleState,
    set: u32,
    key: &[u128; 4],
    ctx: &PktCtx,
    cost: &mut EvalCost,
    exprs: bool,
) -> Option<CData> {
    let s = &p.sets[set as usize];
    match s.kind {
        SetKind::Hash => cost.lookups_hash += 1,
        SetKind::Bitmap => cost.lookups_bitmap += 1,
        SetKind::Rbtree => cost.lookups_rbtree += 1,
        SetKind::Pipapo => cost.lookups_pipapo += 1,
    }
    if let Some(i) = s.find(key) {
        if exprs && !static_elem_exprs(p, st, s, i, ctx) {
            return None;
        }
        return s.data.get(i as usize).copied();
    }
    if let Some(d) = s.dynamic {
        let now = ctx.now.0;
        if let Some(e) = st.dynsets[d as usize].map.get_mut(key)
            && e.expires > now
        {
            if exprs && e.exprs != NO_EXPRS && !elem_exprs(p, e.exprs, &mut e.state, ctx) {
                return None;
            }
            return Some(e.value.map(CData::Value).unwrap_or(CData::None));
        }
    }
    let w = s.wildcard?;
    if exprs && !static_elem_exprs(p, st, s, w, ctx) {
        return None;
    }
    s.data.get(w as usize).copied()
}

/// Runs the expressions of static element `i` of `s`; false when one breaks.
fn static_elem_exprs(p: &Program, st: &mut RuleState, s: &CSet, i: u32, ctx: &PktCtx) -> bool {
    let Some(slot) = s.stateful else {
        return true;
    };
    let ex = s.elem_exprs.get(i as usize).copied().unwrap_or(NO_EXPRS);
    if ex == NO_EXPRS {
        return true;
    }
    elem_exprs(p, ex, &mut st.elem_static[slot as usize][i as usize], ctx)
}

/// `nft_set_elem_update_expr`: the element's expressions in order until one breaks.
fn elem_exprs(p: &Program, ex: u32, state: &mut ElemState, ctx: &PktCtx) -> bool {
    let ex = &p.elem_exprs[ex as usize];
    for (s, e) in state.iter_mut().zip(&ex.e).take(ex.n as usize) {
        let ok = match e {
            ElemExpr::Counter => {
                s.a += 1;
                s.b += ctx.len as u64;
                true
            }
            ElemExpr::Limit(l) => !limit_step(l, &mut s.a, &mut s.b, &mut s.init, ctx),
            ElemExpr::Quota(q) => {
                if !s.init {
                    s.init = true;
                    s.a = q.used;
                }
                !quota_step(q, &mut s.a, ctx)
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

#[allow(clippy::too_many_arguments)]
fn exec(
    p: &Program,
    st: &mut RuleState,
    rid: u32,
    op: &Op,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    cost.exprs += 1;
    macro_rules! val {
        ($s:expr) => {
            match src_val(p, st, $s, ctx, host) {
                Some(v) => v,
                None => return Flow::Break,
            }
        };
    }
    match op {
        Op::Cmp { src, op, val } => {
            let v = val!(src);
            let ok = match op {
                CmpOp::Eq => v == *val,
                CmpOp::Ne => v != *val,
                CmpOp::Lt => v < *val,
                CmpOp::Gt => v > *val,
                CmpOp::Le => v <= *val,
                CmpOp::Ge => v >= *val,
            };
            if ok { Flow::Next } else { Flow::Break }
        }
        Op::Flags { src, mask } => {
            if val!(src) & mask != 0 {
                Flow::Next
            } else {
                Flow::Break
            }
        }
        Op::Range { src, lo, hi, neg } => {
            let v = val!(src);
            if (v >= *lo && v <= *hi) != *neg {
                Flow::Next
            } else {
                Flow::Break
            }
        }
        Op::BoolCmp { src, want } => {
            if (val!(src) != 0) == *want {
                Flow::Next
            } else {
                Flow::Break
            }
        }
        Op::Lookup { key, set, neg } => {
            let Some(k) = key_val(p, st, &p.keys[*key as usize], ctx, host, cost) else {
                return Flow::Break;
            };
            // an inverted lookup runs no element expressions (`found ^ invert` fails first)
            let hit = lookup_set(p, st, *set, &k, ctx, cost, !*neg).is_some();
            if hit != *neg { Flow::Next } else { Flow::Break }
        }
        Op::Vmap { key, set } => {
            let Some(k) = key_val(p, st, &p.keys[*key as usize], ctx, host, cost) else {
                return Flow::Break;
            };
            match lookup_set(p, st, *set, &k, ctx, cost, true) {
                Some(CData::Verdict(v)) => Flow::Verdict(v),
                _ => Flow::Break,
            }
        }
        Op::Verdict(v) => Flow::Verdict(*v),
        Op::Counter(slot) => {
            cost.stmts += 1;
            st.counters[*slot as usize].hit(ctx.len);
            Flow::Next
        }
        Op::Implicit => {
            st.implicit[rid as usize].hit(ctx.len);
            Flow::Next
        }
        Op::NamedCounter(obj) => {
            cost.stmts += 1;
            st.named[*obj as usize].hit(ctx.len);
            Flow::Next
        }
        Op::ObjMap { key, set, kind } => {
            cost.stmts += 1;
            let Some(k) = key_val(p, st, &p.keys[*key as usize], ctx, host, cost) else {
                return Flow::Break;
            };
            let Some(CData::Obj(o)) = lookup_set(p, st, *set, &k, ctx, cost, true) else {
                return Flow::Break;
            };
            match kind {
                ObjMapKind::Counter => {
                    st.named[o as usize].hit(ctx.len);
                    Flow::Next
                }
                ObjMapKind::Quota => quota(p, st, o, ctx),
                ObjMapKind::Limit => limit(p, st, o, ctx),
                ObjMapKind::CtHelper => {
                    host.ct_helper(o, ctx);
                    Flow::Next
                }
                ObjMapKind::CtTimeout => {
                    host.ct_timeout(o, ctx);
                    Flow::Next
                }
            }
        }
        Op::Limit(slot) => {
            cost.stmts += 1;
            limit(p, st, *slot, ctx)
        }
        Op::Quota(slot) => {
            cost.stmts += 1;
            quota(p, st, *slot, ctx)
        }
        Op::Log => {
            cost.stmts += 1;
            Flow::Next
        }
        Op::Notrack => {
            cost.stmts += 1;
            ctx.ct = CtView::Untracked;
            host.notrack(ctx);
            Flow::Next
        }
        Op::FlowAdd(ft) => {
            cost.stmts += 1;
            if host.flow_add(*ft, ctx) {
                Flow::Next
            } else {
                Flow::Break
            }
        }
        Op::SetMark(v) => {
            cost.stmts += 1;
            let Some(x) = vsrc(p, st, v, ctx, host, cost) else {
                return Flow::Break;
            };
            ctx.mark = x as u32;
            Flow::Next
        }
        Op::SetCtMark(v) => {
            cost.stmts += 1;
            let Some(x) = vsrc(p, st, v, ctx, host, cost) else {
                return Flow::Break;
            };
            if let CtView::Tracked(c) = &mut ctx.ct {
                c.mark = x as u32;
            }
            Flow::Next
        }
        Op::SetPayload { field, value } => {
            cost.stmts += 1;
            let Some(x) = vsrc(p, st, value, ctx, host, cost) else {
                return Flow::Break;
            };
            set_payload(ctx, *field, x)
        }
        Op::Nop => {
            cost.stmts += 1;
            Flow::Next
        }
        Op::Nat(i) => {
            cost.stmts += 1;
            let n = &p.nats[*i as usize];
            let mut req = NatRequest {
                kind: n.kind,
                family: n.family,
                addr: None,
                port: None,
                flags: n.flags,
            };
            match &n.addr {
                NatVal::None => {}
                NatVal::Range(a, b) => req.addr = Some((*a, *b)),
                NatVal::Src(v) => {
                    let Some(x) = vsrc(p, st, v, ctx, host, cost) else {
                        return Flow::Break;
                    };
                    req.addr = Some((x, x));
                }
                NatVal::Map { key, set } => {
                    let Some(k) = key_val(p, st, &p.keys[*key as usize], ctx, host, cost) else {
                        return Flow::Break;
                    };
                    match lookup_set(p, st, *set, &k, ctx, cost, true) {
                        Some(CData::Value(v)) => req.addr = Some((v, v)),
                        Some(CData::Range(a, b)) => req.addr = Some((a, b)),
                        Some(CData::AddrPort { addr, port }) => {
                            req.addr = Some(addr);
                            req.port = Some(port);
                        }
                        _ => return Flow::Break,
                    }
                }
            }
            match &n.port {
                NatVal::None => {}
                NatVal::Range(a, b) => req.port = Some((*a as u16, *b as u16)),
                NatVal::Src(v) => {
                    let Some(x) = vsrc(p, st, v, ctx, host, cost) else {
                        return Flow::Break;
                    };
                    req.port = Some((x as u16, x as u16));
                }
                NatVal::Map { key, set } => {
                    let Some(k) = key_val(p, st, &p.keys[*key as usize], ctx, host, cost) else {
                        return Flow::Break;
                    };
                    match lookup_set(p, st, *set, &k, ctx, cost, true) {
                        Some(CData::Value(v)) => req.port = Some((v as u16, v as u16)),
                        Some(CData::Range(a, b)) => req.port = Some((a as u16, b as u16)),
                        _ => return Flow::Break,
                    }
                }
            }
            match host.nat(&req, ctx) {
                Verdict::Accept => Flow::Verdict(CVerdict::Accept),
                Verdict::Queue(q) => Flow::Verdict(CVerdict::Queue(q)),
                Verdict::Drop(_) => Flow::Verdict(CVerdict::NatDrop),
            }
        }
        Op::CtHelper(obj) => {
            cost.stmts += 1;
            host.ct_helper(*obj, ctx);
            Flow::Next
        }
        Op::CtTimeout(obj) => {
            cost.stmts += 1;
            host.ct_timeout(*obj, ctx);
            Flow::Next
        }
        Op::SetUpdate(i) => set_update(p, st, &p.updates[*i as usize], ctx, host, cost),
        Op::Queue { num, bypass } => {
            // nft_queue_eval / nft_queue_sreg_eval: NF_QUEUE_NR(num), with the bypass flag;
            // nf_hook_slow → nf_queue: no queue handler or no bound instance is -ESRCH, which
            // drops the packet, or with bypass continues with the next hook entry. offsim
            // has no userspace listener.
            let Some(n) = vsrc(p, st, num, ctx, host, cost) else {
                return Flow::Break;
            };
            if *bypass {
                Flow::Verdict(CVerdict::Accept)
            } else {
                Flow::Verdict(CVerdict::Queue(n as u16))
            }
        }
    }
}

/// `nft_dynset_eval`: `delete` removes the element; `add`/`update` find the element or
/// create it (`nft_dynset_new`: NFT_BREAK when the set is full), `update` refreshes its
/// expiry, and then the element's expressions run (`nft_set_elem_update_expr`) — a limit over
/// its rate or a used-up quota breaks the rule. A new element takes the rule's expressions
/// (or the set's) with fresh state; an existing one keeps its own. Map data is written only
/// with a new element.
fn set_update(
    p: &Program,
    st: &mut RuleState,
    u: &UpdateSpec,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    cost.stmts += 1;
    let Some(k) = key_val(p, st, &p.keys[u.key as usize], ctx, host, cost) else {
        return Flow::Break;
    };
    let s = &p.sets[u.set as usize];
    let Some(d) = s.dynamic else {
        return Flow::Next;
    };
    let now = ctx.now.0;
    if u.op == super::ast::SetOp::Delete {
        st.dynsets[d as usize].map.remove(&k);
        return Flow::Next;
    }
    // An element added with the set (static): found, its expressions run.
    if let Some(i) = s.find(&k) {
        return if static_elem_exprs(p, st, s, i, ctx) {
            Flow::Next
        } else {
            Flow::Break
        };
    }
    let value = match &u.data {
        Some(v) => match vsrc(p, st, v, ctx, host, cost) {
            Some(x) => Some(x),
            None => return Flow::Break,
        },
        None => None,
    };
    let expires = match u.timeout_ms.or(s.timeout_ms) {
        Some(t) => now.saturating_add(t.saturating_mul(1_000_000)),
        None => u64::MAX,
    };
    let ds = &mut st.dynsets[d as usize];
    let e = match ds.map.get_mut(&k) {
        Some(e) if e.expires > now => {
            if u.op == super::ast::SetOp::Update && e.expires != u64::MAX {
                e.expires = expires;
            }
            e
        }
        _ => {
            if s.max_size > 0 && (s.len() + ds.map.len()) as u64 >= s.max_size {
                // full (static elements count too): expired ones go first, as the kernel's
                // garbage collection would have removed them
                ds.map.retain(|_, e| e.expires > now);
                if (s.len() + ds.map.len()) as u64 >= s.max_size {
                    return Flow::Break;
                }
            }
            ds.map.insert(
                k,
                DynElem {
                    expires,
                    value,
                    exprs: u.exprs,
                    state: ElemState::default(),
                },
            );
            match ds.map.get_mut(&k) {
                Some(e) => e,
                None => return Flow::Break,
            }
        }
    };
    if e.exprs != NO_EXPRS && !elem_exprs(p, e.exprs, &mut e.state, ctx) {
        return Flow::Break;
    }
    Flow::Next
}

fn set_payload(ctx: &mut PktCtx, f: PayloadField, x: u128) -> Flow {
    let k = &mut ctx.pkt;
    if !k.is_ip() {
        return Flow::Break;
    }
    match f {
        PayloadField::Dscp(v) if k.ip_version == v => k.dscp = (x & 0x3f) as u8,
        PayloadField::Ecn(v) if k.ip_version == v => k.ecn = (x & 3) as u8,
        PayloadField::Ttl(v) if k.ip_version == v => k.ttl = x as u8,
        PayloadField::Saddr(v) if k.ip_version == v => k.src = x,
        PayloadField::Daddr(v) if k.ip_version == v => k.dst = x,
        PayloadField::Sport(pr)
            if k.l4_present() && k.has_ports() && (pr == 0 || k.l4proto == pr) =>
        {
            k.sport = x as u16
        }
        PayloadField::Dport(pr)
            if k.l4_present() && k.has_ports() && (pr == 0 || k.l4proto == pr) =>
        {
            k.dport = x as u16
        }
        _ => return Flow::Break,
    }
    Flow::Next
}

fn vsrc(
    p: &Program,
    st: &mut RuleState,
    v: &VSrc,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Option<u128> {
    match v {
        VSrc::Const(c) => Some(*c),
        VSrc::Src(s) => src_val(p, st, s, ctx, host),
        VSrc::Map { key, set } => {
            let k = key_val(p, st, &p.keys[*key as usize], ctx, host, cost)?;
            match lookup_set(p, st, *set, &k, ctx, cost, true)? {
                CData::Value(v) => Some(v),
                _ => None,
            }
        }
    }
}

/// Kernel `nft_limit_eval` on a rule's `limit` (or a named limit): returns Break when over
/// the rate (or under, with `over`).
fn limit(p: &Program, st: &mut RuleState, slot: u32, ctx: &PktCtx) -> Flow {
    let l = &p.limits[slot as usize];
    let b = &mut st.buckets[slot as usize];
    if limit_step(l, &mut b.tokens, &mut b.last, &mut b.init, ctx) {
        Flow::Break
    } else {
        Flow::Next
    }
}

/// One token-bucket step (`nft_limit_eval`; tokens in ns, the bucket starts full); true =
/// break.
fn limit_step(
    l: &LimitSpec,
    tokens_now: &mut u64,
    last: &mut u64,
    init: &mut bool,
    ctx: &PktCtx,
) -> bool {
    let now = ctx.now.0;
    if !*init {
        *init = true;
        *tokens_now = l.tokens_max;
        *last = now;
    }
    let cost = if l.bytes {
        ((l.nsecs as u128 * ctx.len as u128) / l.rate.max(1) as u128) as u64
    } else {
        l.nsecs / l.rate.max(1)
    };
    let mut tokens = tokens_now.saturating_add(now.saturating_sub(*last));
    if tokens > l.tokens_max {
        tokens = l.tokens_max;
    }
    *last = now.max(*last);
    let over = if tokens >= cost {
        *tokens_now = tokens - cost;
        false
    } else {
        *tokens_now = tokens;
        true
    };
    // nft_limit_eval returns `invert` when under the rate, `!invert` when over
    over != l.invert
}

/// Kernel `nft_quota_do_eval`: `consumed += len; over = consumed >= quota`.
fn quota(p: &Program, st: &mut RuleState, slot: u32, ctx: &PktCtx) -> Flow {
    let q = &p.quotas[slot as usize];
    if quota_step(q, &mut st.quota_used[slot as usize], ctx) {
        Flow::Break
    } else {
        Flow::Next
    }
}

/// One quota step; true = break.
fn quota_step(q: &QuotaSpec, used: &mut u64, ctx: &PktCtx) -> bool {
    *used = used.saturating_add(ctx.len as u64);
    let over = *used >= q.bytes;
    over != q.invert
}

/// Bob Jenkins' lookup3 `hashlittle` as the kernel's `jhash()` (include/linux/jhash.h).
pub fn jhash(key: &[u8], initval: u32) -> u32 {
    #[inline]
    fn rot(x: u32, k: u32) -> u32 {
        x.rotate_left(k)
    }
    let len = key.len();
    let mut a = 0xdead_beefu32
        .wrapping_add(len as u32)
        .wrapping_add(initval);
    let mut b = a;
    let mut c = a;
    let mut k = key;
    let w =
        |s: &[u8], i: usize| -> u32 { u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]) };
    while k.len() > 12 {
        a = a.wrapping_add(w(k, 0));
        b = b.wrapping_add(w(k, 4));
        c = c.wrapping_add(w(k, 8));
        // __jhash_mix
        a = a.wrapping_sub(c);
        a ^= rot(c, 4);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= rot(a, 6);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= rot(b, 8);
        b = b.wrapping_add(a);
        a = a.wrapping_sub(c);
        a ^= rot(c, 16);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= rot(a, 19);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= rot(b, 4);
        b = b.wrapping_add(a);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    let mut tail = [0u8; 12];
    tail[..k.len()].copy_from_slice(k);
    // the kernel adds the bytes as in `case 12..1`, which equals little-endian words of the
    // zero-padded tail
    a = a.wrapping_add(w(&tail, 0));
    b = b.wrapping_add(w(&tail, 4));
    c = c.wrapping_add(w(&tail, 8));
    // __jhash_final
    c ^= b;
    c = c.wrapping_sub(rot(b, 14));
    a ^= c;
    a = a.wrapping_sub(rot(c, 11));
    b ^= a;
    b = b.wrapping_sub(rot(a, 25));
    c ^= b;
    c = c.wrapping_sub(rot(b, 16));
    a ^= c;
    a = a.wrapping_sub(rot(c, 4));
    b ^= a;
    b = b.wrapping_sub(rot(a, 14));
    c ^= b;
    c = c.wrapping_sub(rot(b, 24));
    c
}
