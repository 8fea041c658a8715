//! Compilation of normalised rules into a flat, allocation-free program.
//!
//! Sets become hash maps (exact keys), sorted interval arrays (binary search) or, for
//! concatenations with intervals, per-field range arrays scanned linearly (the kernel's
//! pipapo does the same work with bitmaps). Interface names compare as 128-bit numbers; `iif`
//! and `oif` were resolved to ifindexes at load time.

use offsim_traces::hash::FxHashMap;

use super::ast::*;
use super::normalize::payload_info;
use super::types::{DType, Value};

/// Index of a chain in [`super::Ruleset::chains`].
pub type ChainId = u32;
/// Index of a flowtable in [`super::Ruleset::flowtables`].
pub type FlowtableId = u32;

/// Compiled verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CVerdict {
    /// accept
    Accept,
    /// drop
    Drop,
    /// reject
    Reject,
    /// NAT set-up failed
    NatDrop,
    /// queue
    Queue(u16),
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
#[derive(Clone, Copy, Debug)]
pub struct Xf {
    /// AND mask.
    pub and: u128,
    /// XOR value.
    pub xor: u128,
    /// Left shift.
    pub shl: u8,
    /// Right shift.
    pub shr: u8,
    /// AND mask after the shift.
    pub and2: u128,
    /// XOR value after the shift.
    pub xor2: u128,
    /// Result mask.
    pub width: u128,
}

impl Xf {
    fn ident(width: u128) -> Xf {
        Xf {
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
#[derive(Clone, Copy, Debug)]
pub enum Load {
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
#[derive(Clone, Copy, Debug)]
pub struct Src {
    /// Load.
    pub load: Load,
    /// Transform.
    pub xf: Xf,
    /// Width in bytes (for hashing).
    pub bytes: u8,
}

/// A (possibly concatenated) lookup key: parts `first..first + n` of
/// [`Program::key_parts`].
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    /// Parts used.
    pub n: u8,
    /// First part.
    pub first: u32,
}

/// One field of a lookup key and where it goes in the set key.
#[derive(Clone, Copy, Debug)]
pub struct KeyPart {
    /// The selector.
    pub src: Src,
    /// Its place in the key lanes.
    pub slot: Slot,
}

/// Where a field of a (concatenated) key sits in the four 128-bit lanes of a set key:
/// `lanes[lane] |= (value & mask) << shift`. Keys of up to four fields use one lane per
/// field; longer ones (up to the kernel's 16 fields in 64 bytes of registers,
/// `NFT_REG32_COUNT`) pack several fields per lane ([`key_layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Lane.
    pub lane: u8,
    /// Bit offset in the lane.
    pub shift: u8,
    /// Field mask (before the shift).
    pub mask: u128,
}

impl Slot {
    /// The field's value in a packed key.
    #[inline]
    pub fn get(&self, k: &[u128; 4]) -> u128 {
        (k[self.lane as usize] >> self.shift) & self.mask
    }
    /// Adds the field's value to a packed key.
    #[inline]
    pub fn put(&self, k: &mut [u128; 4], v: u128) {
        k[self.lane as usize] |= (v & self.mask) << self.shift;
    }
}

/// The lane layout of a key whose fields are `widths` bits wide. The kernel keeps a
/// concatenation in 32-bit registers, each field rounded up to a register (`NFT_REG32_SIZE`),
/// 16 registers at most (`NFT_REG32_COUNT`, 64 bytes); here a field takes its rounded width
/// in a 128-bit lane, lanes filled first-fit by decreasing width, which always fits what
/// fits in 64 bytes of registers since rounded widths are 32, 64 or 128 bits.
pub fn key_layout(widths: &[u32]) -> R<Vec<Slot>> {
    let mask = |w: u32| {
        if w >= 128 {
            u128::MAX
        } else {
            (1u128 << w) - 1
        }
    };
    let padded: Vec<u32> = widths.iter().map(|w| w.div_ceil(32).max(1) * 32).collect();
    let bytes: u32 = padded.iter().sum::<u32>() / 8;
    if widths.len() > 16 || bytes > 64 {
        return Err(format!(
            "a concatenation of {} fields ({bytes} bytes of registers) exceeds the kernel's 64-byte key (NFT_REG32_COUNT registers)",
            widths.len()
        ));
    }
    if widths.len() <= 4 {
        return Ok((0..widths.len())
            .map(|i| Slot {
                lane: i as u8,
                shift: 0,
                mask: u128::MAX,
            })
            .collect());
    }
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(padded[i]));
    let mut used = [0u32; 4];
    let mut out = vec![
        Slot {
            lane: 0,
            shift: 0,
            mask: 0
        };
        widths.len()
    ];
    for i in order {
        let Some(lane) = (0..4).find(|&l| used[l] + padded[i] <= 128) else {
            return Err("unsupported: this concatenation does not fit offsim's key lanes".into());
        };
        out[i] = Slot {
            lane: lane as u8,
            shift: used[lane] as u8,
            mask: mask(widths[i]),
        };
        used[lane] += padded[i];
    }
    Ok(out)
}

/// Comparison operator.
#[derive(Clone, Copy, Debug)]
pub enum CmpOp {
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
pub enum PayloadField {
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
pub enum VSrc {
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
pub enum ObjMapKind {
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
pub enum Op {
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
    /// `queue`: the packet leaves for a userspace queue; the simulation has no listener, so
    /// it is dropped, or with `bypass` the base chain accepts it (`nf_queue`: `-ESRCH`).
    Queue {
        /// Queue number.
        num: VSrc,
        /// `bypass`.
        bypass: bool,
    },
}

/// Set backend, for the cost model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// nft_set_hash.
    Hash,
    /// nft_set_bitmap (keys of 16 bits or less).
    Bitmap,
    /// nft_set_rbtree (intervals).
    Rbtree,
    /// nft_set_pipapo (concatenated intervals).
    Pipapo,
}

/// Element data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CData {
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
pub struct DynElem {
    /// Expiry time (ns).
    pub expires: u64,
    /// Map data written by `add @m { key : value }` (None for sets).
    pub value: Option<u128>,
    /// Its stateful expressions ([`Program::elem_exprs`] index, [`NO_EXPRS`] for none),
    /// cloned from the creating rule (`nft_dynset_new`).
    pub exprs: u32,
    /// State of those expressions.
    pub state: ElemState,
}

/// No element expressions.
pub const NO_EXPRS: u32 = u32::MAX;

/// A stateful expression of a set element (`NFT_SET_EXT_EXPRESSIONS`).
#[derive(Clone, Copy, Debug)]
pub enum ElemExpr {
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
pub struct ElemExprs {
    /// Number used.
    pub n: u8,
    /// Expressions.
    pub e: [ElemExpr; 2],
}

/// State of one element expression: counter packets/bytes, limit tokens/last refill, quota
/// bytes used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElemSlot {
    /// Packets, tokens or bytes used.
    pub a: u64,
    /// Bytes or time of the last refill (ns).
    pub b: u64,
    /// Initialised (limits start with a full bucket when first evaluated).
    pub init: bool,
}

/// State of an element's expressions.
pub type ElemState = [ElemSlot; 2];

/// Elements added by the data path.
#[derive(Clone, Debug, Default)]
pub struct DynSet {
    /// Elements.
    pub map: FxHashMap<[u128; 4], DynElem>,
}

/// Per-field (low, high) ranges of a concatenated interval element.
type FieldRanges = Box<[(u128, u128)]>;

/// A compiled set.
#[derive(Clone, Debug)]
pub struct CSet {
    /// Backend.
    pub kind: SetKind,
    /// Number of key parts.
    pub nparts: u8,
    /// Where each key field sits in the key lanes.
    pub slots: Vec<Slot>,
    exact: FxHashMap<[u128; 4], u32>,
    intervals1: Vec<(u128, u128, u32)>,
    intervals_n: Vec<(FieldRanges, u32)>,
    /// Catch-all element.
    pub wildcard: Option<u32>,
    /// Data per element.
    pub data: Vec<CData>,
    /// Dynamic slot.
    pub dynamic: Option<u32>,
    /// Default timeout.
    pub timeout_ms: Option<u64>,
    /// Maximum size (0 = unlimited).
    pub max_size: u64,
    /// Stateful expressions per static element (by element index; empty when no element has
    /// any).
    pub elem_exprs: Vec<u32>,
    /// Index of this set's static element state in the rule state (sets with stateful
    /// static elements only).
    pub stateful: Option<u32>,
    /// Expressions the set declares for its elements (`set s { ...; counter; }`), used for
    /// elements added by rules without statements of their own (`nft_dynset_init` clones
    /// the set's expressions); [`NO_EXPRS`] for none.
    pub default_exprs: u32,
}

impl CSet {
    /// Finds an element.
    #[inline]
    pub fn find(&self, k: &[u128; 4]) -> Option<u32> {
        if let Some(i) = self.exact.get(k) {
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
    pub fn len(&self) -> usize {
        self.exact.len()
            + self.intervals1.len()
            + self.intervals_n.len()
            + self.wildcard.iter().count()
    }

    /// Whether the set has no static elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Compiled chain.
#[derive(Clone, Copy, Debug)]
pub struct CChain {
    /// First rule id.
    pub first_rule: u32,
    /// Number of rules.
    pub n_rules: u32,
    /// Policy accept.
    pub policy_accept: bool,
}

/// Compiled rule.
#[derive(Clone, Copy, Debug)]
pub struct CRule {
    /// First op.
    pub first_op: u32,
    /// Number of ops.
    pub n_ops: u32,
}

/// numgen parameters.
#[derive(Clone, Copy, Debug)]
pub struct NumgenSpec {
    /// random or inc.
    pub random: bool,
    /// modulus.
    pub modulus: u32,
    /// offset.
    pub offset: u32,
}

/// jhash/symhash parameters.
#[derive(Clone, Copy, Debug)]
pub struct JhashSpec {
    /// Parts hashed.
    pub nparts: u8,
    /// Parts.
    pub parts: [Src; 4],
    /// Modulus.
    pub modulus: u32,
    /// Seed.
    pub seed: u32,
    /// Offset.
    pub offset: u32,
}

/// Token bucket parameters (kernel `nft_limit_init`).
#[derive(Clone, Copy, Debug)]
pub struct LimitSpec {
    /// Rate.
    pub rate: u64,
    /// Unit in ns.
    pub nsecs: u64,
    /// Bucket size in ns-tokens.
    pub tokens_max: u64,
    /// Byte-based.
    pub bytes: bool,
    /// `over`.
    pub invert: bool,
}

/// Quota parameters.
#[derive(Clone, Copy, Debug)]
pub struct QuotaSpec {
    /// Budget.
    pub bytes: u64,
    /// `over`.
    pub invert: bool,
    /// Initially used.
    pub used: u64,
}

/// NAT operand.
#[derive(Clone, Copy, Debug)]
pub enum NatVal {
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
pub struct NatSpec {
    /// Kind.
    pub kind: NatKind,
    /// 4 or 6.
    pub family: u8,
    /// Address.
    pub addr: NatVal,
    /// Port.
    pub port: NatVal,
    /// Flags.
    pub flags: u8,
}

/// Set update parameters.
#[derive(Clone, Copy, Debug)]
pub struct UpdateSpec {
    /// Operation.
    pub op: SetOp,
    /// Set.
    pub set: u32,
    /// Key spec.
    pub key: u32,
    /// Timeout.
    pub timeout_ms: Option<u64>,
    /// Map data written with a new element (`add @m { key : value }`).
    pub data: Option<VSrc>,
    /// Expressions of new elements ([`Program::elem_exprs`] index or [`NO_EXPRS`]).
    pub exprs: u32,
}

/// The compiled program.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// Chains (same ids as the ruleset's chains).
    pub chains: Vec<CChain>,
    /// Rules (global rule ids).
    pub rules: Vec<CRule>,
    /// Ops.
    pub ops: Vec<Op>,
    /// Key specs.
    pub keys: Vec<KeySpec>,
    /// Fields of the key specs.
    pub key_parts: Vec<KeyPart>,
    /// Sets (named first, then anonymous).
    pub sets: Vec<CSet>,
    /// numgens.
    pub numgens: Vec<NumgenSpec>,
    /// jhash/symhash.
    pub jhashes: Vec<JhashSpec>,
    /// Limits (anonymous and named).
    pub limits: Vec<LimitSpec>,
    /// Quotas.
    pub quotas: Vec<QuotaSpec>,
    /// NAT specs.
    pub nats: Vec<NatSpec>,
    /// Set updates.
    pub updates: Vec<UpdateSpec>,
    /// Stateful expressions of set elements (static and dynamic).
    pub elem_exprs: Vec<ElemExprs>,
    /// Number of sets with stateful static elements.
    pub n_stateful_sets: u32,
    /// Counter statement slots.
    pub n_counters: usize,
    /// Initial values of named counters.
    pub named_counter_init: Vec<super::eval::Counter>,
}

/// Compile-time context for one table.
pub struct TableScope<'a> {
    /// Table family.
    pub family: Family,
    /// Chain ids by name.
    pub chains: &'a [(String, ChainId)],
    /// Named set ids by name (with their declaration).
    pub sets: &'a [(String, u32)],
    /// Flowtable ids by name.
    pub flowtables: &'a [(String, FlowtableId)],
    /// Objects: (kind, name, object id, limit/quota slot).
    pub objects: &'a [(String, String, u32, u32)],
    /// Seed for jhash without an explicit seed.
    pub seed: u32,
}

type R<T> = Result<T, String>;

fn width_mask(ty: DType) -> u128 {
    ty.mask()
}

fn bytes_of(ty: DType) -> u8 {
    (ty.bits().div_ceil(8)) as u8
}

impl Program {
    /// Compiles a selector into a load.
    pub fn load_of(&mut self, e: &Expr, sc: &TableScope) -> R<(Load, DType)> {
        let fam_l3 = match sc.family {
            Family::Ip => Some(4),
            Family::Ip6 => Some(6),
            _ => None,
        };
        Ok(match e {
            Expr::Payload(p, f) => {
                let (ty, _) = payload_info(*p, f)?;
                let v = if *p == Proto::Ip6 { 6 } else { 4 };
                let l = match (p, f.as_str()) {
                    (Proto::Ip, "version") => Load::IpVersion,
                    (Proto::Ip, "hdrlength") => Load::IpHdrLen,
                    (Proto::Ip | Proto::Ip6, "dscp") => Load::IpDscp(v),
                    (Proto::Ip | Proto::Ip6, "ecn") => Load::IpEcn(v),
                    (Proto::Ip, "length") => Load::IpLength,
                    (Proto::Ip, "id") => Load::IpId,
                    (Proto::Ip, "frag-off") => Load::IpFragOff,
                    (Proto::Ip, "ttl") | (Proto::Ip6, "hoplimit") => Load::IpTtl(v),
                    (Proto::Ip, "protocol") | (Proto::Ip6, "nexthdr") => Load::IpProto(v),
                    (Proto::Ip | Proto::Ip6, "saddr") => Load::IpSaddr(v),
                    (Proto::Ip | Proto::Ip6, "daddr") => Load::IpDaddr(v),
                    (Proto::Ip6, "version") => Load::Ip6Version,
                    (Proto::Ip6, "flowlabel") => Load::Ip6Flowlabel,
                    (Proto::Ip6, "length") => Load::Ip6Length,
                    (Proto::Tcp, "sport") => Load::Sport(6),
                    (Proto::Tcp, "dport") => Load::Dport(6),
                    (Proto::Udp, "sport") => Load::Sport(17),
                    (Proto::Udp, "dport") => Load::Dport(17),
                    (Proto::Udplite, "sport") => Load::Sport(136),
                    (Proto::Udplite, "dport") => Load::Dport(136),
                    (Proto::Sctp, "sport") => Load::Sport(132),
                    (Proto::Sctp, "dport") => Load::Dport(132),
                    (Proto::Th, "sport") => Load::Sport(0),
                    (Proto::Th, "dport") => Load::Dport(0),
                    (Proto::Tcp, "sequence") => Load::TcpSeq,
                    (Proto::Tcp, "ackseq") => Load::TcpAck,
                    (Proto::Tcp, "doff") => Load::TcpDoff,
                    (Proto::Tcp, "flags") => Load::TcpFlags,
                    (Proto::Tcp, "window") => Load::TcpWindow,
                    (Proto::Tcp, "option maxseg size") => Load::TcpMss,
                    (Proto::Rt, "type") => Load::Ip6RtType,
                    (Proto::Ether, "saddr") => Load::EtherAddr { src: true },
                    (Proto::Ether, "daddr") => Load::EtherAddr { src: false },
                    (Proto::Ether, "type") => Load::EtherType,
                    (Proto::Udp, "length") => Load::UdpLength(17),
                    (Proto::Icmp, "type") => Load::IcmpType(1),
                    (Proto::Icmp, "code") => Load::IcmpCode(1),
                    (Proto::Icmp, "id") => Load::IcmpId(1),
                    (Proto::Icmpv6, "type") => Load::IcmpType(58),
                    (Proto::Icmpv6, "code") => Load::IcmpCode(58),
                    (Proto::Icmpv6, "id") => Load::IcmpId(58),
                    _ => {
                        return Err(format!(
                            "unsupported: {} {f} (not evaluated by the simulator)",
                            p.name()
                        ));
                    }
                };
                (l, ty)
            }
            Expr::Meta(k) => {
                let ty = super::normalize::meta_type(*k);
                let l = match k {
                    MetaKey::Length => Load::MetaLength,
                    MetaKey::Protocol => Load::MetaProtocol,
                    MetaKey::Nfproto => Load::MetaNfproto,
                    MetaKey::L4proto => Load::MetaL4proto,
                    MetaKey::Mark => Load::MetaMark,
                    MetaKey::Iif => Load::MetaIif,
                    MetaKey::Iifname => Load::MetaIifname,
                    MetaKey::Oif => Load::MetaOif,
                    MetaKey::Oifname => Load::MetaOifname,
                    MetaKey::Pkttype => Load::MetaPkttype,
                    MetaKey::Time => Load::MetaTime,
                    MetaKey::Hour => Load::MetaHour,
                    MetaKey::Day => Load::MetaDay,
                    _ => {
                        return Err(format!(
                            "unsupported: meta {} (not evaluated by the simulator)",
                            k.name()
                        ));
                    }
                };
                (l, ty)
            }
            Expr::Ct(k, dir) => {
                let ty = super::normalize::ct_type(*k, fam_l3)?;
                let d = dir.unwrap_or(0);
                let l = match k {
                    CtKey::State => Load::CtState,
                    CtKey::Status => Load::CtStatus,
                    CtKey::Direction => Load::CtDir,
                    CtKey::Mark => Load::CtMark,
                    CtKey::L3proto => Load::CtL3proto,
                    CtKey::Protocol => Load::CtProto,
                    CtKey::Saddr | CtKey::IpSaddr | CtKey::Ip6Saddr => {
                        Load::CtAddr { dir: d, src: true }
                    }
                    CtKey::Daddr | CtKey::IpDaddr | CtKey::Ip6Daddr => {
                        Load::CtAddr { dir: d, src: false }
                    }
                    CtKey::ProtoSrc => Load::CtPort { dir: d, src: true },
                    CtKey::ProtoDst => Load::CtPort { dir: d, src: false },
                    CtKey::Helper => Load::CtHelper,
                    _ => {
                        return Err(format!(
                            "unsupported: ct {} (not evaluated by the simulator)",
                            k.name()
                        ));
                    }
                };
                (l, ty)
            }
            Expr::Numgen {
                random,
                modulus,
                offset,
            } => {
                self.numgens.push(NumgenSpec {
                    random: *random,
                    modulus: *modulus,
                    offset: *offset,
                });
                (
                    Load::Numgen(self.numgens.len() as u32 - 1),
                    DType::Integer(32),
                )
            }
            Expr::Jhash {
                expr,
                modulus,
                seed,
                offset,
            } => {
                let parts: Vec<&Expr> = match &**expr {
                    Expr::Concat(p) => p.iter().collect(),
                    e => vec![e],
                };
                if parts.len() > 4 {
                    return Err("unsupported: jhash of more than 4 fields".into());
                }
                let mut arr = [dummy_src(); 4];
                for (i, p) in parts.iter().enumerate().take(4) {
                    arr[i] = self.src_of(p, sc)?;
                }
                self.jhashes.push(JhashSpec {
                    nparts: parts.len().min(4) as u8,
                    parts: arr,
                    modulus: *modulus,
                    seed: seed.unwrap_or(sc.seed),
                    offset: *offset,
                });
                (
                    Load::Jhash(self.jhashes.len() as u32 - 1),
                    DType::Integer(32),
                )
            }
            Expr::Symhash { modulus, offset } => {
                self.jhashes.push(JhashSpec {
                    nparts: 0,
                    parts: [dummy_src(); 4],
                    modulus: *modulus,
                    seed: sc.seed,
                    offset: *offset,
                });
                (
                    Load::Symhash(self.jhashes.len() as u32 - 1),
                    DType::Integer(32),
                )
            }
            Expr::Fib { flags, result } => {
                let ty = match result {
                    FibResult::Oif => DType::Ifindex,
                    FibResult::Oifname => DType::Ifname,
                    FibResult::Type => DType::FibAddrType,
                };
                (
                    Load::Fib {
                        flags: *flags,
                        result: *result,
                    },
                    ty,
                )
            }
            other => return Err(format!("unsupported: expression {other} as a selector")),
        })
    }

    /// Compiles a selector with binary operations into a [`Src`].
    pub fn src_of(&mut self, e: &Expr, sc: &TableScope) -> R<Src> {
        match e {
            Expr::Binop(op, a, b) => {
                let mut s = self.src_of(a, sc)?;
                let Expr::Value(Value { v: c, .. }) = **b else {
                    return Err("unsupported: binary operation between two selectors".into());
                };
                let x = &mut s.xf;
                let shifted = x.shl != 0 || x.shr != 0;
                // boolean operations compose into one mask/xor pair: before the shift, or
                // after it (`meta mark >> 8 & 0xf`)
                let (and, xor) = if shifted {
                    (&mut x.and2, &mut x.xor2)
                } else {
                    (&mut x.and, &mut x.xor)
                };
                match op {
                    BinOp::And => {
                        *and &= c;
                        *xor &= c;
                    }
                    BinOp::Or => {
                        *and &= !c;
                        *xor = (*xor & !c) | c;
                    }
                    BinOp::Xor => *xor ^= c,
                    BinOp::Shl | BinOp::Shr => {
                        if shifted || x.and2 != u128::MAX || x.xor2 != 0 {
                            return Err("unsupported: a second shift in one expression".into());
                        }
                        let n = c.min(128) as u8;
                        if *op == BinOp::Shl {
                            x.shl = n;
                        } else {
                            x.shr = n;
                        }
                    }
                }
                Ok(s)
            }
            Expr::Value(v) => Ok(Src {
                load: Load::Const(v.v),
                xf: Xf::ident(width_mask(v.ty)),
                bytes: bytes_of(v.ty),
            }),
            e => {
                let (l, ty) = self.load_of(e, sc)?;
                Ok(Src {
                    load: l,
                    xf: Xf::ident(width_mask(ty)),
                    bytes: bytes_of(ty),
                })
            }
        }
    }

    /// Compiles a lookup key.
    pub fn key_of(&mut self, e: &Expr, sc: &TableScope) -> R<u32> {
        let parts: Vec<&Expr> = match e {
            Expr::Concat(p) => p.iter().collect(),
            e => vec![e],
        };
        let mut srcs = Vec::with_capacity(parts.len());
        let mut widths = Vec::with_capacity(parts.len());
        for p in parts {
            let s = self.src_of(p, sc)?;
            widths.push(128 - s.xf.width.leading_zeros());
            srcs.push(s);
        }
        let slots = key_layout(&widths)?;
        let first = self.key_parts.len() as u32;
        for (src, slot) in srcs.into_iter().zip(slots) {
            self.key_parts.push(KeyPart { src, slot });
        }
        self.keys.push(KeySpec {
            n: widths.len() as u8,
            first,
        });
        Ok(self.keys.len() as u32 - 1)
    }

    /// Makes a lookup key use the lane layout of the set it looks up (the set's declared
    /// field widths decide it).
    pub fn bind_key(&mut self, key: u32, set: u32) -> R<()> {
        let k = self.keys[key as usize];
        let s = &self.sets[set as usize];
        if s.slots.len() != k.n as usize {
            return Err(format!(
                "datatype mismatch: the key has {} fields, the set {}",
                k.n,
                s.slots.len()
            ));
        }
        for (i, slot) in s.slots.iter().enumerate() {
            self.key_parts[k.first as usize + i].slot = *slot;
        }
        Ok(())
    }

    /// Compiles set elements into a [`CSet`].
    /// `widths` are the bit widths of the key's fields.
    pub fn build_set(
        &mut self,
        widths: &[u32],
        elems: &[SetElem],
        data_of: &mut dyn FnMut(&Expr) -> R<CData>,
        dynamic: bool,
    ) -> R<u32> {
        let nparts = widths.len();
        let key_bits = widths.first().copied().unwrap_or(128);
        let slots = key_layout(widths)?;
        let mut s = CSet {
            kind: SetKind::Hash,
            nparts: nparts as u8,
            slots: slots.clone(),
            exact: FxHashMap::default(),
            intervals1: Vec::new(),
            intervals_n: Vec::new(),
            wildcard: None,
            data: Vec::with_capacity(elems.len()),
            dynamic: None,
            timeout_ms: None,
            max_size: 0,
            elem_exprs: Vec::new(),
            stateful: None,
            default_exprs: NO_EXPRS,
        };
        let mut interval = false;
        for el in elems {
            let idx = s.data.len() as u32;
            s.data.push(match &el.data {
                Some(d) => data_of(d)?,
                None => CData::None,
            });
            if matches!(el.key, Expr::Wildcard) {
                s.wildcard = Some(idx);
                continue;
            }
            let parts: Vec<&Expr> = match &el.key {
                Expr::Concat(p) => p.iter().collect(),
                k => vec![k],
            };
            if parts.len() != nparts {
                return Err("element does not match the set's key".into());
            }
            let mut ranges = Vec::with_capacity(nparts);
            let mut is_range = false;
            for p in &parts {
                let (lo, hi) = range_of(p)?;
                if lo != hi {
                    is_range = true;
                }
                ranges.push((lo, hi));
            }
            if is_range {
                interval = true;
                if nparts == 1 {
                    s.intervals1.push((ranges[0].0, ranges[0].1, idx));
                } else {
                    s.intervals_n.push((ranges.into_boxed_slice(), idx));
                }
            } else {
                let mut k = [0u128; 4];
                for (r, slot) in ranges.iter().zip(&slots) {
                    slot.put(&mut k, r.0);
                }
                s.exact.insert(k, idx);
            }
        }
        s.intervals1.sort_by_key(|e| (e.0, e.1));
        // merge overlapping intervals of plain sets; overlaps in maps are errors
        let mut merged: Vec<(u128, u128, u32)> = Vec::with_capacity(s.intervals1.len());
        for e in s.intervals1.drain(..) {
            if let Some(last) = merged.last_mut()
                && e.0 <= last.1
            {
                if s.data[e.2 as usize] != s.data[last.2 as usize] {
                    return Err("conflicting intervals specified".into());
                }
                last.1 = last.1.max(e.1);
                continue;
            }
            merged.push(e);
        }
        // exact elements inside an interval set are ranges of size one for the search
        if !merged.is_empty() && nparts == 1 {
            for (k, i) in s.exact.iter() {
                merged.push((k[0], k[0], *i));
            }
            s.exact.clear();
            merged.sort_by_key(|e| (e.0, e.1));
            let mut m2: Vec<(u128, u128, u32)> = Vec::with_capacity(merged.len());
            for e in merged {
                if let Some(last) = m2.last_mut()
                    && e.0 <= last.1
                {
                    last.1 = last.1.max(e.1);
                    continue;
                }
                m2.push(e);
            }
            merged = m2;
        }
        s.intervals1 = merged;
        s.kind = if nparts > 1 && (interval || !s.intervals_n.is_empty()) {
            SetKind::Pipapo
        } else if interval {
            SetKind::Rbtree
        } else if nparts == 1 && key_bits <= 16 {
            SetKind::Bitmap
        } else {
            SetKind::Hash
        };
        if dynamic {
            let n = self.sets.iter().filter(|x| x.dynamic.is_some()).count() as u32;
            s.dynamic = Some(n);
        }
        self.sets.push(s);
        Ok(self.sets.len() as u32 - 1)
    }

    /// Compiles the stateful statements of a set element or set update (normalised: counter,
    /// limit, quota; at most two) into [`Program::elem_exprs`]; [`NO_EXPRS`] when empty.
    pub fn elem_exprs_of(&mut self, stmts: &[Stmt]) -> R<u32> {
        if stmts.is_empty() {
            return Ok(NO_EXPRS);
        }
        if stmts.len() > 2 {
            return Err("at most 2 statements per set element".into());
        }
        let mut e = [ElemExpr::Counter; 2];
        for (i, s) in stmts.iter().enumerate() {
            e[i] = match s {
                Stmt::Counter => ElemExpr::Counter,
                Stmt::Limit(l) => ElemExpr::Limit(Self::limit_spec(l)),
                Stmt::Quota(q) => ElemExpr::Quota(QuotaSpec {
                    bytes: q.bytes,
                    invert: q.over,
                    used: q.used,
                }),
                other => return Err(format!("statement must be stateful: {other}")),
            };
        }
        self.elem_exprs.push(ElemExprs {
            n: stmts.len() as u8,
            e,
        });
        Ok(self.elem_exprs.len() as u32 - 1)
    }

    /// Records the stateful statements of a set's static elements (`elems` in the order
    /// given to [`Program::build_set`]).
    pub fn set_static_exprs(&mut self, set: u32, elems: &[SetElem]) -> R<()> {
        if elems.iter().all(|e| e.stmts.is_empty()) {
            return Ok(());
        }
        let mut v = Vec::with_capacity(elems.len());
        for e in elems {
            v.push(self.elem_exprs_of(&e.stmts)?);
        }
        let slot = self.n_stateful_sets;
        self.n_stateful_sets += 1;
        let s = &mut self.sets[set as usize];
        s.elem_exprs = v;
        s.stateful = Some(slot);
        Ok(())
    }

    /// Limit spec from a statement (kernel `nft_limit_init`).
    pub fn limit_spec(l: &LimitStmt) -> LimitSpec {
        let nsecs = l.per_secs.saturating_mul(1_000_000_000);
        let bytes = l.unit == LimitUnit::Bytes;
        let burst = if !bytes && l.burst == 0 { 5 } else { l.burst };
        let rate = l.rate.max(1);
        let tokens_max = if bytes {
            ((nsecs as u128 * (rate as u128 + burst as u128)) / rate as u128) as u64
        } else {
            (nsecs / rate).saturating_mul(burst)
        };
        LimitSpec {
            rate,
            nsecs,
            tokens_max,
            bytes,
            invert: l.over,
        }
    }
}

/// Low/high of a set element part.
pub fn range_of(e: &Expr) -> R<(u128, u128)> {
    match e {
        Expr::Value(v) => Ok((v.v, v.v)),
        Expr::Prefix(a, len) => {
            let Expr::Value(v) = **a else {
                return Err("invalid prefix".into());
            };
            let bits = v.ty.bits();
            let host = if bits - len >= 128 {
                u128::MAX
            } else {
                (1u128 << (bits - len)) - 1
            };
            Ok((v.v & !host, (v.v | host) & v.ty.mask()))
        }
        Expr::Range(a, b) => {
            let (Expr::Value(x), Expr::Value(y)) = (&**a, &**b) else {
                return Err("invalid range".into());
            };
            Ok((x.v, y.v))
        }
        other => Err(format!("unsupported: set element {other}")),
    }
}

fn dummy_src() -> Src {
    Src {
        load: Load::MetaMark,
        xf: Xf::ident(0),
        bytes: 0,
    }
}
