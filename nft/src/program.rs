//! The compiled program [`Program`]: flat arrays of chains, rules, operations, lookup keys,
//! sets and stateful-statement specs, written once by compilation ([`super::compile`]) and
//! read per packet by the evaluator ([`super::eval`]).

use offsim_traces::hash::FxHashMap;

use super::ast::{FibResult, NatKind, SetOp};
use super::layout::Slot;

/// Index of a chain in [`super::Ruleset::chains`].
pub type ChainId = u32;
/// Index of a flowtable in [`super::Ruleset::flowtables`].
pub type FlowtableId = u32;

/// What a `reject` statement sends (`enum nft_reject_types` with its code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// `with tcp reset` (`NFT_REJECT_TCP_RST`).
    TcpReset,
    /// `with icmp CODE`: an ICMP destination unreachable (`NFT_REJECT_ICMP_UNREACH`).
    Icmp(u8),
    /// `with icmpv6 CODE`: an ICMPv6 destination unreachable.
    Icmpv6(u8),
    /// `with icmpx CODE` (`NFT_REJECT_ICMPX_UNREACH`): 0 no-route, 1 port-unreachable, 2
    /// host-unreachable, 3 admin-prohibited, mapped to each family's code
    /// (`nft_reject_icmp_code`, `nft_reject_icmpv6_code`).
    Icmpx(u8),
}

/// Compiled verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CVerdict {
    /// accept
    Accept,
    /// drop
    Drop,
    /// reject (what the kernel sends before dropping)
    Reject(Reject),
    /// NAT set-up failed
    NatDrop,
    /// queue
    Queue(u16),
    /// fwd: stolen, out of this interface index
    Fwd(u32),
    /// continue
    Continue,
    /// return
    Return,
    /// jump
    Jump(ChainId),
    /// goto
    Goto(ChainId),
}

/// Bitwise transform `((((x & and) ^ xor) << shl >> shr) & and2) ^ xor2`, every step
/// truncated to `width` (nft's chain of `bitwise` expressions on a register of the
/// selector's length: mask/xor, then at most one shift, then mask/xor again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Xf {
    /// AND mask.
    pub(crate) and: u128,
    /// XOR value.
    pub(crate) xor: u128,
    /// Left shift.
    pub(crate) shl: u8,
    /// Right shift.
    pub(crate) shr: u8,
    /// AND mask after the shift.
    pub(crate) and2: u128,
    /// XOR value after the shift.
    pub(crate) xor2: u128,
    /// Result mask.
    pub(crate) width: u128,
    /// No mask, xor or shift: the transform is `& width` alone (most selectors).
    pub(crate) plain: bool,
}

impl Xf {
    pub(crate) fn ident(width: u128) -> Xf {
        Xf {
            plain: true,
            and: u128::MAX,
            xor: 0,
            shl: 0,
            shr: 0,
            and2: u128::MAX,
            xor2: 0,
            width,
        }
    }
}

/// What a selector reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Load {
    /// ip version
    IpVersion,
    /// ip hdrlength
    IpHdrLen,
    /// ip/ip6 dscp (version)
    IpDscp(u8),
    /// ip/ip6 ecn
    IpEcn(u8),
    /// ip length
    IpLength,
    /// ip id
    IpId,
    /// ip frag-off
    IpFragOff,
    /// ip ttl / ip6 hoplimit
    IpTtl(u8),
    /// ip protocol / ip6 nexthdr
    IpProto(u8),
    /// saddr
    IpSaddr(u8),
    /// daddr
    IpDaddr(u8),
    /// ip6 version
    Ip6Version,
    /// ip6 flowlabel
    Ip6Flowlabel,
    /// ip6 length (payload)
    Ip6Length,
    /// source port of proto (0 = th)
    Sport(u8),
    /// destination port of proto (0 = th)
    Dport(u8),
    /// tcp sequence
    TcpSeq,
    /// tcp ackseq
    TcpAck,
    /// tcp doff
    TcpDoff,
    /// tcp flags
    TcpFlags,
    /// tcp window
    TcpWindow,
    /// tcp option maxseg size
    TcpMss,
    /// IPv6 routing header type
    Ip6RtType,
    /// ether saddr / daddr
    EtherAddr {
        /// source (else destination)
        src: bool,
    },
    /// ether type
    EtherType,
    /// udp length
    UdpLength(u8),
    /// icmp/icmpv6 type
    IcmpType(u8),
    /// icmp/icmpv6 code
    IcmpCode(u8),
    /// icmp id
    IcmpId(u8),
    /// meta length
    MetaLength,
    /// meta protocol
    MetaProtocol,
    /// meta nfproto
    MetaNfproto,
    /// meta l4proto
    MetaL4proto,
    /// meta mark
    MetaMark,
    /// iif
    MetaIif,
    /// iifname
    MetaIifname,
    /// oif
    MetaOif,
    /// oifname
    MetaOifname,
    /// pkttype
    MetaPkttype,
    /// meta time (capture timestamp, ns since the epoch)
    MetaTime,
    /// meta hour (seconds since midnight UTC)
    MetaHour,
    /// meta day (0 = Sunday)
    MetaDay,
    /// ct state
    CtState,
    /// ct status
    CtStatus,
    /// ct direction
    CtDir,
    /// ct mark
    CtMark,
    /// ct l3proto
    CtL3proto,
    /// ct protocol
    CtProto,
    /// ct original/reply saddr/daddr
    CtAddr {
        /// direction
        dir: u8,
        /// source (else destination)
        src: bool,
    },
    /// ct original/reply proto-src/proto-dst
    CtPort {
        /// direction
        dir: u8,
        /// source
        src: bool,
    },
    /// numgen slot
    Numgen(u32),
    /// jhash spec
    Jhash(u32),
    /// symhash spec
    Symhash(u32),
    /// A constant (in concatenated keys).
    Const(u128),
    /// ct helper name
    CtHelper,
    /// fib lookup
    Fib {
        /// flags
        flags: u8,
        /// result
        result: FibResult,
    },
}

/// A selector with a transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Src {
    /// Load.
    pub(crate) load: Load,
    /// Transform.
    pub(crate) xf: Xf,
    /// Width in bytes (for hashing).
    pub(crate) bytes: u8,
}

/// A (possibly concatenated) lookup key: parts `first..first + n` of
/// [`Program::key_parts`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySpec {
    /// Parts used.
    pub(crate) n: u8,
    /// First part.
    pub(crate) first: u32,
}

/// One field of a lookup key and where it goes in the set key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyPart {
    /// The selector.
    pub(crate) src: Src,
    /// Its place in the key lanes.
    pub(crate) slot: Slot,
}

/// Comparison operator.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CmpOp {
    /// ==
    Eq,
    /// !=
    Ne,
    /// <
    Lt,
    /// >
    Gt,
    /// <=
    Le,
    /// >=
    Ge,
}

/// Writable payload field.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PayloadField {
    /// dscp (version)
    Dscp(u8),
    /// ecn
    Ecn(u8),
    /// ttl / hoplimit
    Ttl(u8),
    /// saddr
    Saddr(u8),
    /// daddr
    Daddr(u8),
    /// sport (proto)
    Sport(u8),
    /// dport (proto)
    Dport(u8),
}

/// Value source for statements.
#[derive(Clone, Copy, Debug)]
pub(crate) enum VSrc {
    /// Constant.
    Const(u128),
    /// Selector.
    Src(Src),
    /// Map lookup.
    Map {
        /// key
        key: u32,
        /// set
        set: u32,
    },
}

/// Object map kind.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ObjMapKind {
    /// counter
    Counter,
    /// quota
    Quota,
    /// limit
    Limit,
    /// ct helper
    CtHelper,
    /// ct timeout
    CtTimeout,
}

/// One compiled operation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    /// Compare.
    Cmp {
        /// value
        src: Src,
        /// operator
        op: CmpOp,
        /// constant
        val: u128,
    },
    /// `(x & mask) != 0`.
    Flags {
        /// value
        src: Src,
        /// mask
        mask: u128,
    },
    /// Range / prefix.
    Range {
        /// value
        src: Src,
        /// low
        lo: u128,
        /// high
        hi: u128,
        /// negated
        neg: bool,
    },
    /// `exists`/`missing`.
    BoolCmp {
        /// value
        src: Src,
        /// wanted
        want: bool,
    },
    /// Set membership.
    Lookup {
        /// key spec
        key: u32,
        /// set
        set: u32,
        /// negated
        neg: bool,
    },
    /// Verdict map.
    Vmap {
        /// key spec
        key: u32,
        /// set
        set: u32,
    },
    /// Verdict.
    Verdict(CVerdict),
    /// Counter statement slot.
    Counter(u32),
    /// Implicit per-rule counter.
    Implicit,
    /// Named counter object.
    NamedCounter(u32),
    /// Object map.
    ObjMap {
        /// key
        key: u32,
        /// set
        set: u32,
        /// kind
        kind: ObjMapKind,
    },
    /// limit slot
    Limit(u32),
    /// quota slot
    Quota(u32),
    /// log
    Log,
    /// notrack
    Notrack,
    /// flow add
    FlowAdd(FlowtableId),
    /// meta mark set
    SetMark(VSrc),
    /// ct mark set
    SetCtMark(VSrc),
    /// payload set
    SetPayload {
        /// field
        field: PayloadField,
        /// value
        value: VSrc,
    },
    /// A statement without effect on the simulation (meta nftrace set).
    Nop,
    /// NAT spec index.
    Nat(u32),
    /// ct helper object.
    CtHelper(u32),
    /// ct timeout object.
    CtTimeout(u32),
    /// Set update spec index.
    SetUpdate(u32),
    /// `fwd`: the packet is stolen and sent out of a device (`nft_fwd_netdev_eval`).
    Fwd {
        /// The output device's index.
        dev: VSrc,
    },
    /// `queue`: the packet leaves for a userspace queue; the simulation has no listener, so
    /// it is dropped, or with `bypass` the base chain accepts it (`nf_queue`: `-ESRCH`).
    Queue {
        /// Queue number.
        num: VSrc,
        /// `bypass`.
        bypass: bool,
    },
}

/// The kernel expressions one operation stands for, for the cost model
/// (summed per place a rule can stop into [`CostRow`]s): the dependency checks nft inserts before it (each a
/// `meta` load and a `cmp`), its own expressions when it runs to the end, and the loads it
/// runs before breaking on a missing field when it has no dependency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OpCost {
    /// Dependency checks (`meta l4proto`, `meta nfproto`, `meta protocol`).
    pub(crate) deps: u8,
    /// Own expressions by [`crate::kind::ExprKind::index`].
    pub(crate) own: [u8; crate::kind::ExprKind::COUNT],
    /// The loads among them.
    pub(crate) loads: [u8; crate::kind::ExprKind::COUNT],
}

/// The kernel expressions a rule ran up to the operation where it stopped, by
/// [`crate::kind::ExprKind::index`], and the rule itself in lane [`CostRow::RULE`]: the
/// evaluator adds one row per rule evaluated instead of one [`OpCost`] per operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(align(64))]
pub(crate) struct CostRow(pub(crate) [u32; 16]);

impl CostRow {
    /// The lane that counts the rule.
    pub(crate) const RULE: usize = crate::kind::ExprKind::COUNT;

    /// Adds `o` lane by lane.
    #[inline]
    pub(crate) fn add(&mut self, o: &CostRow) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a += b;
        }
    }

    /// Adds `n` times `o` lane by lane.
    #[inline]
    pub(crate) fn add_times(&mut self, o: &CostRow, n: u32) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a += b * n;
        }
    }
}

const _: () = assert!(CostRow::RULE < 16);

/// [`Program::run_of`] of a rule in no run.
pub(crate) const NO_RUN: u32 = u32::MAX;

/// Consecutive rules of a chain whose first operation compares one side-effect-free
/// selector for equality with a constant (an ACL of `ip saddr X ... drop` rules). The
/// evaluator reads the selector once and goes straight to the next rule whose constant it
/// equals: every rule it passes over would have run that compare and stopped there (or, when
/// the field is missing, stopped in its dependency or load), so it charges them that
/// ([`EqRun::rows`]) without running them. What is counted and charged is what running them
/// one by one would give (`nft_do_chain` runs them one by one).
#[derive(Clone, Debug)]
pub(crate) struct EqRun {
    /// Rule id of the first rule.
    pub(crate) first: u32,
    /// Number of rules.
    pub(crate) len: u32,
    /// The selector of their first operation.
    pub(crate) src: Src,
    /// Their first operation's [`Program::stop_row`] (the same for all of them).
    pub(crate) rows: [u32; 2],
    /// For each constant, the range of [`EqRun::offsets`] holding the rules that compare with
    /// it.
    pub(crate) index: offsim_traces::hash::FxHashMap<u128, (u32, u32)>,
    /// Offsets in the run of the rules, grouped by constant, ascending within a group.
    pub(crate) offsets: Vec<u32>,
}

impl EqRun {
    /// The offset of the first rule at or after offset `from` whose constant is `v`, or the
    /// run's length when there is none.
    #[inline]
    pub(crate) fn next(&self, v: u128, from: u32) -> u32 {
        let Some(&(a, b)) = self.index.get(&v) else {
            return self.len;
        };
        let o = &self.offsets[a as usize..b as usize];
        o.get(o.partition_point(|&x| x < from))
            .copied()
            .unwrap_or(self.len)
    }
}

/// Element data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CData {
    /// No data.
    None,
    /// Verdict.
    Verdict(CVerdict),
    /// Value.
    Value(u128),
    /// Range.
    Range(u128, u128),
    /// NAT address range and port range (`addr . port` map data; single values are ranges
    /// of one).
    AddrPort {
        /// Address range (inclusive).
        addr: (u128, u128),
        /// Port range (inclusive).
        port: (u16, u16),
    },
    /// Object index.
    Obj(u32),
}

/// A dynamic element.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DynElem {
    /// Expiry time (ns).
    pub(crate) expires: u64,
    /// Map data written by `add @m { key : value }` (None for sets).
    pub(crate) value: Option<u128>,
    /// Its stateful expressions ([`Program::elem_exprs`] index, [`NO_EXPRS`] for none),
    /// cloned from the creating rule (`nft_dynset_new`).
    pub(crate) exprs: u32,
    /// State of those expressions.
    pub(crate) state: ElemState,
}

/// No element expressions.
pub(crate) const NO_EXPRS: u32 = u32::MAX;

/// A stateful expression of a set element (`NFT_SET_EXT_EXPRESSIONS`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum ElemExpr {
    /// `counter`.
    Counter,
    /// `limit rate ...` (its own token bucket per element).
    Limit(LimitSpec),
    /// `quota ...` (its own budget per element).
    Quota(QuotaSpec),
}

/// The stateful expressions of a set element: at most `NFT_SET_EXPR_MAX` (2), evaluated in
/// order on every lookup or update that finds the element (`nft_set_elem_update_expr`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ElemExprs {
    /// Number used.
    pub(crate) n: u8,
    /// Expressions.
    pub(crate) e: [ElemExpr; 2],
}

/// State of one element expression: counter packets/bytes, limit tokens/last refill, quota
/// bytes used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ElemSlot {
    /// Packets, tokens or bytes used.
    pub(crate) a: u64,
    /// Bytes or time of the last refill (ns).
    pub(crate) b: u64,
    /// Initialised (limits start with a full bucket when first evaluated).
    pub(crate) init: bool,
}

/// State of an element's expressions.
pub(crate) type ElemState = [ElemSlot; 2];

/// Elements added by the data path.
#[derive(Clone, Debug, Default)]
pub(crate) struct DynSet {
    /// Elements.
    pub(crate) map: FxHashMap<[u128; 4], DynElem>,
}

/// Per-field (low, high) ranges of a concatenated interval element.
type FieldRanges = Box<[(u128, u128)]>;

/// A compiled set.
#[derive(Clone, Debug)]
pub(crate) struct CSet {
    /// Back end, as `nft_select_set_ops` picks it.
    pub(crate) backend: crate::kind::SetBackend,
    /// Size term of a lookup's cost: `⌊log2 n⌋ + 1` for `n` static elements (0 if empty).
    pub(crate) depth: u32,
    /// Where each key field sits in the key lanes.
    pub(crate) slots: Vec<Slot>,
    /// Exact elements: packed key → element index.
    pub(crate) exact: FxHashMap<[u128; 4], u32>,
    /// The same elements as a list when there are at most [`CSet::SCAN`] of them (a
    /// `ct state vmap`, a `meta l4proto { tcp, udp }`): comparing a few keys costs less than
    /// hashing one 64-byte key. Written once, by [`CSet::seal`].
    pub(crate) scan: Vec<([u128; 4], u32)>,
    /// Intervals of a one-field key, sorted and disjoint: (low, high, element index).
    pub(crate) intervals1: Vec<(u128, u128, u32)>,
    /// Intervals of a concatenated key (per-field ranges), scanned in order.
    pub(crate) intervals_n: Vec<(FieldRanges, u32)>,
    /// Catch-all element.
    pub(crate) wildcard: Option<u32>,
    /// Data per element.
    pub(crate) data: Vec<CData>,
    /// Dynamic slot.
    pub(crate) dynamic: Option<u32>,
    /// Default timeout.
    pub(crate) timeout_ms: Option<u64>,
    /// Maximum size (0 = unlimited).
    pub(crate) max_size: u64,
    /// Stateful expressions per static element (by element index; empty when no element has
    /// any).
    pub(crate) elem_exprs: Vec<u32>,
    /// Index of this set's static element state in the rule state (sets with stateful
    /// static elements only).
    pub(crate) stateful: Option<u32>,
    /// Expressions the set declares for its elements (`set s { ...; counter; }`), used for
    /// elements added by rules without statements of their own (`nft_dynset_init` clones
    /// the set's expressions); [`NO_EXPRS`] for none.
    pub(crate) default_exprs: u32,
}

impl CSet {
    /// Most exact elements kept in [`CSet::scan`].
    const SCAN: usize = 8;

    /// Fills [`CSet::scan`] once the exact elements are final.
    pub(crate) fn seal(&mut self) {
        self.scan.clear();
        if self.exact.len() <= Self::SCAN {
            self.scan.extend(self.exact.iter().map(|(k, i)| (*k, *i)));
        }
    }

    /// Finds an element.
    #[inline]
    pub(crate) fn find(&self, k: &[u128; 4]) -> Option<u32> {
        debug_assert!(self.exact.len() > Self::SCAN || self.scan.len() == self.exact.len());
        if self.exact.len() <= Self::SCAN {
            // keys are distinct, so the first equal one is the map's answer; compared lane by
            // lane, as `[u128; 4] ==` is a call to `memcmp`
            let eq = |e: &[u128; 4]| e[0] == k[0] && e[1] == k[1] && e[2] == k[2] && e[3] == k[3];
            if let Some((_, i)) = self.scan.iter().find(|(e, _)| eq(e)) {
                return Some(*i);
            }
        } else if let Some(i) = self.exact.get(k) {
            return Some(*i);
        }
        if !self.intervals1.is_empty() {
            let x = k[0];
            let pos = self.intervals1.partition_point(|e| e.0 <= x);
            if pos > 0 {
                let e = &self.intervals1[pos - 1];
                if x <= e.1 {
                    return Some(e.2);
                }
            }
        }
        for (r, i) in &self.intervals_n {
            if r.iter().zip(&self.slots).all(|(r, s)| {
                let v = s.get(k);
                v >= r.0 && v <= r.1
            }) {
                return Some(*i);
            }
        }
        None
    }

    /// Number of static elements.
    pub(crate) fn len(&self) -> usize {
        self.exact.len()
            + self.intervals1.len()
            + self.intervals_n.len()
            + self.wildcard.iter().count()
    }
}

/// Compiled chain.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CChain {
    /// First rule id.
    pub(crate) first_rule: u32,
    /// Number of rules.
    pub(crate) n_rules: u32,
    /// Policy accept.
    pub(crate) policy_accept: bool,
}

/// Compiled rule.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CRule {
    /// First op.
    pub(crate) first_op: u32,
    /// Number of ops.
    pub(crate) n_ops: u32,
}

/// numgen parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NumgenSpec {
    /// random or inc.
    pub(crate) random: bool,
    /// modulus.
    pub(crate) modulus: u32,
    /// offset.
    pub(crate) offset: u32,
}

/// jhash/symhash parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JhashSpec {
    /// Parts hashed.
    pub(crate) nparts: u8,
    /// Parts.
    pub(crate) parts: [Src; 4],
    /// Modulus.
    pub(crate) modulus: u32,
    /// Seed.
    pub(crate) seed: u32,
    /// Offset.
    pub(crate) offset: u32,
}

/// Token bucket parameters (kernel `nft_limit_init`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LimitSpec {
    /// Rate.
    pub(crate) rate: u64,
    /// Unit in ns.
    pub(crate) nsecs: u64,
    /// Bucket size in ns-tokens.
    pub(crate) tokens_max: u64,
    /// Byte-based.
    pub(crate) bytes: bool,
    /// `over`.
    pub(crate) invert: bool,
}

/// Quota parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QuotaSpec {
    /// Budget.
    pub(crate) bytes: u64,
    /// `over`.
    pub(crate) invert: bool,
    /// Initially used.
    pub(crate) used: u64,
}

/// NAT operand.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NatVal {
    /// Not given.
    None,
    /// Constant range.
    Range(u128, u128),
    /// Expression.
    Src(VSrc),
    /// Map lookup.
    Map {
        /// key
        key: u32,
        /// set
        set: u32,
    },
}

/// NAT statement parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NatSpec {
    /// Kind.
    pub(crate) kind: NatKind,
    /// 4 or 6.
    pub(crate) family: u8,
    /// Address.
    pub(crate) addr: NatVal,
    /// Port.
    pub(crate) port: NatVal,
    /// Flags.
    pub(crate) flags: u8,
}

/// Set update parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UpdateSpec {
    /// Operation.
    pub(crate) op: SetOp,
    /// Set.
    pub(crate) set: u32,
    /// Key spec.
    pub(crate) key: u32,
    /// Timeout.
    pub(crate) timeout_ms: Option<u64>,
    /// Map data written with a new element (`add @m { key : value }`).
    pub(crate) data: Option<VSrc>,
    /// Expressions of new elements ([`Program::elem_exprs`] index or [`NO_EXPRS`]).
    pub(crate) exprs: u32,
}

/// The compiled program.
#[derive(Clone, Debug, Default)]
pub(crate) struct Program {
    /// Chains (same ids as the ruleset's chains).
    pub(crate) chains: Vec<CChain>,
    /// Rules (global rule ids).
    pub(crate) rules: Vec<CRule>,
    /// Ops.
    pub(crate) ops: Vec<Op>,
    /// What a rule costs when it stops at op `i` (it ran ops `first_op..=i`): the
    /// [`Program::cost_rows`] index, by whether op `i` ran to its end (`[partial, full]`).
    pub(crate) stop_row: Vec<[u32; 2]>,
    /// The distinct rows `stop_row` points to (rules of one shape share theirs).
    pub(crate) cost_rows: Vec<CostRow>,
    /// Runs of rules that begin with an equality on one selector ([`EqRun`]).
    pub(crate) runs: Vec<EqRun>,
    /// The run each rule belongs to, by rule id ([`NO_RUN`]: none).
    pub(crate) run_of: Vec<u32>,
    /// Key specs.
    pub(crate) keys: Vec<KeySpec>,
    /// Fields of the key specs.
    pub(crate) key_parts: Vec<KeyPart>,
    /// Sets (named first, then anonymous).
    pub(crate) sets: Vec<CSet>,
    /// numgens.
    pub(crate) numgens: Vec<NumgenSpec>,
    /// jhash/symhash.
    pub(crate) jhashes: Vec<JhashSpec>,
    /// Limits (anonymous and named).
    pub(crate) limits: Vec<LimitSpec>,
    /// Quotas.
    pub(crate) quotas: Vec<QuotaSpec>,
    /// NAT specs.
    pub(crate) nats: Vec<NatSpec>,
    /// Set updates.
    pub(crate) updates: Vec<UpdateSpec>,
    /// Stateful expressions of set elements (static and dynamic).
    pub(crate) elem_exprs: Vec<ElemExprs>,
    /// Number of sets with stateful static elements.
    pub(crate) n_stateful_sets: u32,
    /// Counter statement slots.
    pub(crate) n_counters: usize,
    /// Initial values of named counters.
    pub(crate) named_counter_init: Vec<Counter>,
    /// Whether some selector loads a conntrack tuple ([`Load::CtAddr`], [`Load::CtPort`]):
    /// set by [`Program::load_of`], the one place those loads are made.
    pub(crate) reads_ct_tuples: bool,
}

/// A packet and byte counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Counter {
    #[inline]
    pub(crate) fn hit(&mut self, len: u32) {
        self.packets += 1;
        self.bytes += len as u64;
    }
}
