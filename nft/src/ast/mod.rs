//! The ruleset AST shared by the text and JSON front ends.
//!
//! Parsing produces these types with unresolved literals ([`Expr::Sym`], [`Expr::Num`]);
//! normalisation (`normalize/`) resolves every literal against the data type of the
//! expression it is compared with, applies nft's canonicalisations (dependency kill, prefix
//! host bits cleared, service names to numbers, sorted set elements, `flow offload` →
//! `flow add`, …) and leaves only [`Expr::Value`]-based constants. Two normalised ASTs are
//! equal exactly when nft would list them the same way (modulo version-specific spelling);
//! source spans never take part in equality.

mod keys;

pub use keys::*;

use crate::error::Span;
use crate::types::{DType, Value};

/// An expression: a selector (left-hand side), a constant, or a combination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A header field: protocol and field name.
    Payload(Proto, String),
    /// `meta KEY`.
    Meta(MetaKey),
    /// `ct [original|reply] KEY`; `dir` is `Some(0)` original, `Some(1)` reply.
    Ct(CtKey, Option<u8>),
    /// `numgen inc|random mod M [offset O]`.
    Numgen {
        /// `random` (true) or `inc`.
        random: bool,
        /// Modulus.
        modulus: u32,
        /// Offset.
        offset: u32,
    },
    /// `jhash EXPR mod M [seed S] [offset O]`.
    Jhash {
        /// Hashed expression.
        expr: Box<Expr>,
        /// Modulus.
        modulus: u32,
        /// Seed (None = not given; the kernel then uses 0... see normalize).
        seed: Option<u32>,
        /// Offset.
        offset: u32,
    },
    /// `symhash mod M [offset O]`.
    Symhash {
        /// Modulus.
        modulus: u32,
        /// Offset.
        offset: u32,
    },
    /// `fib FLAGS RESULT`.
    Fib {
        /// [`fib_flags`] bits.
        flags: u8,
        /// What is returned.
        result: FibResult,
    },
    /// A selector the simulator can parse but not evaluate (kept by name for messages).
    Opaque(String),
    /// An unresolved literal (word, number, address or quoted string).
    Sym(String, bool),
    /// An unresolved JSON integer.
    Num(u128),
    /// A resolved constant.
    Value(Value),
    /// `VALUE/LEN`.
    Prefix(Box<Expr>, u32),
    /// `LOW-HIGH`.
    Range(Box<Expr>, Box<Expr>),
    /// Anonymous set `{ ... }`.
    Set(Vec<SetElem>),
    /// `@name`.
    SetRef(String),
    /// `a . b . c`.
    Concat(Vec<Expr>),
    /// `a OP b`.
    Binop(BinOp, Box<Expr>, Box<Expr>),
    /// Comma-separated flag list (`established,related`).
    List(Vec<Expr>),
    /// `KEY map DATA` lookup expression.
    Map(Box<Expr>, Box<Expr>),
    /// A verdict used as map data.
    Verdict(Verdict),
    /// `exists` / `missing`.
    Bool(bool),
    /// `*` catch-all set element.
    Wildcard,
    /// `$name` before expansion.
    Var(String),
}

/// One element of a set or map. Equality ignores `counter` statements of the element:
/// `nft -j` (1.0.x) prints only an element's first statement, and element counters do not
/// influence evaluation.
#[derive(Clone, Debug, Eq)]
pub struct SetElem {
    /// Key (value, prefix, range, concatenation).
    pub key: Expr,
    /// Map data.
    pub data: Option<Expr>,
    /// Per-element timeout in milliseconds.
    pub timeout: Option<u64>,
    /// Remaining time in milliseconds.
    pub expires: Option<u64>,
    /// Element comment.
    pub comment: Option<String>,
    /// Stateful statements of the element (`counter`, `limit rate`, `quota`; the kernel's
    /// `NFT_SET_EXT_EXPRESSIONS`, at most two).
    pub stmts: Vec<Stmt>,
}

impl PartialEq for SetElem {
    fn eq(&self, o: &SetElem) -> bool {
        let st = |e: &SetElem| {
            e.stmts
                .iter()
                .filter(|s| !matches!(s, Stmt::Counter))
                .cloned()
                .collect::<Vec<_>>()
        };
        self.key == o.key
            && self.data == o.data
            && self.timeout == o.timeout
            && self.expires == o.expires
            && self.comment == o.comment
            && st(self) == st(o)
    }
}

impl SetElem {
    /// A plain element.
    pub fn plain(key: Expr) -> SetElem {
        SetElem {
            key,
            data: None,
            timeout: None,
            expires: None,
            comment: None,
            stmts: Vec::new(),
        }
    }
}

/// `log` statement.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LogStmt {
    /// Prefix.
    pub prefix: Option<String>,
    /// Syslog level name.
    pub level: Option<String>,
    /// NFLOG group.
    pub group: Option<u32>,
    /// Snap length.
    pub snaplen: Option<u32>,
    /// Queue threshold.
    pub queue_threshold: Option<u32>,
    /// Flags (sorted).
    pub flags: Vec<String>,
}

/// `limit` statement or object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitStmt {
    /// Rate (packets, or bytes after unit scaling).
    pub rate: u64,
    /// Period in seconds.
    pub per_secs: u64,
    /// Packets or bytes.
    pub unit: LimitUnit,
    /// Burst (packets or bytes); 0 = default.
    pub burst: u64,
    /// `over` (inverted).
    pub over: bool,
}

/// `quota` statement or object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaStmt {
    /// Budget in bytes.
    pub bytes: u64,
    /// `over` (inverted).
    pub over: bool,
    /// Already used bytes.
    pub used: u64,
}

/// snat / dnat / masquerade / redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatStmt {
    /// Which NAT.
    pub kind: NatKind,
    /// `ip` / `ip6` qualifier (`dnat ip to ...`), resolved in normalisation.
    pub family: Option<Family>,
    /// Address (value, range, map, prefix).
    pub addr: Option<Expr>,
    /// Port (value, range, map).
    pub port: Option<Expr>,
    /// [`nat_flags`].
    pub flags: u8,
    /// `addr . port` map form (`dnat to ip daddr map { a : b . c }`).
    pub concat: bool,
}

impl NatStmt {
    /// A NAT statement of `kind` without operands or flags.
    pub fn new(kind: NatKind) -> NatStmt {
        NatStmt {
            kind,
            family: None,
            addr: None,
            port: None,
            flags: 0,
            concat: false,
        }
    }
}

/// `reject` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectStmt {
    /// Default for the family (icmp port-unreachable / icmpx port-unreachable).
    Default,
    /// `with tcp reset`.
    TcpReset,
    /// `with icmp CODE`.
    Icmp(u8),
    /// `with icmpv6 CODE`.
    Icmpv6(u8),
    /// `with icmpx CODE`.
    Icmpx(u8),
}

/// A rule statement (match, verdict or action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `LEFT [OP] RIGHT`.
    Match {
        /// Selector (possibly with a binary operation).
        left: Expr,
        /// Operator.
        op: RelOp,
        /// Constant, set, range, prefix or set reference.
        right: Expr,
        /// Where the right side is (for errors).
        rspan: Span,
    },
    /// Verdict.
    Verdict(Verdict),
    /// `KEY vmap DATA`.
    Vmap {
        /// Lookup key.
        key: Expr,
        /// Anonymous set with verdict data, or `@map`.
        data: Expr,
    },
    /// Anonymous counter.
    Counter,
    /// `counter name X` (or a map yielding the name).
    CounterRef(Expr),
    /// `log`.
    Log(LogStmt),
    /// `limit rate ...`.
    Limit(LimitStmt),
    /// `limit name X`.
    LimitRef(Expr),
    /// `quota ...`.
    Quota(QuotaStmt),
    /// `quota name X`.
    QuotaRef(Expr),
    /// `notrack`.
    Notrack,
    /// NAT.
    Nat(NatStmt),
    /// `flow add @ft`.
    FlowAdd(String),
    /// `KEY set VALUE` for meta/ct/payload keys.
    Mangle {
        /// What is written.
        key: Expr,
        /// Value expression.
        value: Expr,
    },
    /// `add|update|delete @set { KEY [timeout T] [stmts] }`.
    SetUpdate {
        /// Operation.
        op: SetOp,
        /// Set name.
        set: String,
        /// Element key expression.
        key: Expr,
        /// Map data expression (`update @m { k : v }`).
        data: Option<Expr>,
        /// Element timeout (ms).
        timeout: Option<u64>,
        /// Per-element statements (counter, limit).
        stmts: Vec<Stmt>,
    },
    /// `reject`.
    Reject(RejectStmt),
    /// `queue`.
    Queue {
        /// Queue number expression (None = 0).
        num: Option<Expr>,
        /// Bypass / fanout flags (sorted names).
        flags: Vec<String>,
    },
    /// `fwd to DEV` / `fwd ip|ip6 to ADDR device DEV` (netdev ingress and egress chains).
    Fwd {
        /// The output device (an interface index once normalised).
        dev: Expr,
        /// `ip`/`ip6` and the next hop, for the neighbour form.
        neigh: Option<(Family, Expr)>,
        /// The device's name as written, for listing (`fwd to "wan0"`).
        name: Option<String>,
    },
    /// `ct helper set NAME`.
    CtHelperSet(Expr),
    /// `ct timeout set NAME`.
    CtTimeoutSet(Expr),
    /// A statement that is recognised but not implemented (rejected at compile time).
    Unsupported(String),
}

/// A rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Statements in order.
    pub stmts: Vec<Stmt>,
    /// `comment "..."`.
    pub comment: Option<String>,
    /// Where the rule is.
    pub span: Span,
    /// Span per statement.
    pub stmt_spans: Vec<Span>,
}

/// Base chain specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseSpec {
    /// Chain type.
    pub ctype: ChainType,
    /// Hook.
    pub hook: Hook,
    /// Priority value.
    pub priority: i32,
    /// Devices (netdev/inet ingress).
    pub devices: Vec<String>,
}

/// Named set or map declaration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SetDecl {
    /// Name.
    pub name: String,
    /// Whether it is a map.
    pub is_map: bool,
    /// Key type (one entry per concatenated component).
    pub key: Vec<DType>,
    /// Map data type, one entry per concatenated component (verdict maps use
    /// [`DType::Verdict`]; `ipv4_addr . inet_service` for NAT maps); empty for sets and
    /// object maps.
    pub data: Vec<DType>,
    /// Object map (counter/quota/limit/ct helper data).
    pub obj_type: Option<String>,
    /// Flags (sorted names: constant, interval, timeout, dynamic).
    pub flags: Vec<String>,
    /// Default timeout (ms).
    pub timeout: Option<u64>,
    /// Maximum size.
    pub size: Option<u64>,
    /// GC interval (ms).
    pub gc_interval: Option<u64>,
    /// auto-merge.
    pub auto_merge: bool,
    /// Per-element counters.
    pub counter: bool,
    /// Comment.
    pub comment: Option<String>,
    /// `policy performance|memory`.
    pub policy: Option<String>,
    /// Elements.
    pub elements: Vec<SetElem>,
    /// Unresolved `typeof` expressions (resolved into `key`/`data`).
    pub typeof_key: Option<Vec<Expr>>,
    /// Unresolved `typeof` data expression.
    pub typeof_data: Option<Expr>,
    /// Unresolved type names from text/JSON.
    pub type_names: Vec<String>,
    /// Unresolved data type name.
    pub data_name: Option<String>,
    /// Per-element statements declared on a set (`counter` etc.) or `stmts`.
    pub stmts: Vec<String>,
}

/// Flowtable declaration. Equality ignores `counter`, which `nft -j` (up to 1.1) does not
/// print, so that text and JSON listings of the same ruleset compare equal.
#[derive(Clone, Debug, Eq)]
pub struct FlowtableDecl {
    /// Name.
    pub name: String,
    /// Hook (always ingress).
    pub hook: Hook,
    /// Priority.
    pub priority: i32,
    /// Devices.
    pub devices: Vec<String>,
    /// `flags offload`.
    pub offload: bool,
    /// `counter`.
    pub counter: bool,
}

impl PartialEq for FlowtableDecl {
    fn eq(&self, o: &FlowtableDecl) -> bool {
        self.name == o.name
            && self.hook == o.hook
            && self.priority == o.priority
            && self.devices == o.devices
            && self.offload == o.offload
    }
}

/// A named stateful object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjDecl {
    /// `counter NAME { packets P bytes B }`.
    Counter {
        /// Initial packets.
        packets: u64,
        /// Initial bytes.
        bytes: u64,
    },
    /// `quota NAME { ... }`.
    Quota(QuotaStmt),
    /// `limit NAME { ... }`.
    Limit(LimitStmt),
    /// `ct helper NAME { type "ftp" protocol tcp; l3proto ip; }`.
    CtHelper {
        /// Helper type.
        htype: String,
        /// L4 protocol number.
        protocol: u8,
        /// L3 protocol (None = family default).
        l3proto: Option<Family>,
    },
    /// `ct timeout NAME { protocol tcp; l3proto ip; policy = { established : 2m, ... } }`.
    CtTimeout {
        /// L4 protocol number.
        protocol: u8,
        /// L3 protocol (None = family default).
        l3proto: Option<Family>,
        /// Timeouts per conntrack state name, in seconds, sorted by name.
        policy: Vec<(String, u32)>,
    },
    /// Another object kind (ct expectation, secmark, synproxy); kept by name.
    Other(String),
}

/// Where `add`/`insert` puts a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RulePos {
    /// Append at the end (`add rule`).
    Append,
    /// Prepend (`insert rule`).
    Prepend,
    /// After the rule with this handle (`add rule ... handle N` / `position N`).
    AfterHandle(u64),
    /// Before the rule with this handle (`insert rule ... handle N` / `position N`).
    BeforeHandle(u64),
    /// After the rule at this index (`add rule ... index N`).
    AfterIndex(u64),
    /// Before the rule at this index (`insert rule ... index N`).
    BeforeIndex(u64),
    /// Replace the rule with this handle.
    Replace(u64),
}

/// What a `delete`/`flush` command names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    /// The whole ruleset (flush only).
    Ruleset,
    /// A table.
    Table,
    /// A chain.
    Chain,
    /// A rule (by handle).
    Rule,
    /// A set.
    Set,
    /// A map.
    Map,
    /// A flowtable.
    Flowtable,
    /// A stateful object (counter, quota, limit, ct helper, …).
    Object,
    /// Set elements.
    Element,
}

impl ObjKind {
    /// The kind a `delete` names by keyword (`table`, ..., `element`; objects have their
    /// own keywords).
    pub(crate) fn from_name(s: &str) -> Option<ObjKind> {
        Some(match s {
            "table" => ObjKind::Table,
            "chain" => ObjKind::Chain,
            "rule" => ObjKind::Rule,
            "set" => ObjKind::Set,
            "map" => ObjKind::Map,
            "flowtable" => ObjKind::Flowtable,
            "element" => ObjKind::Element,
            _ => return None,
        })
    }
}

/// One command of a ruleset file (declarative blocks are turned into `add` commands).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Cmd {
    /// `add table` (and table blocks).
    AddTable {
        /// Family.
        family: Family,
        /// Name.
        name: String,
        /// Flags (dormant, owner, persist).
        flags: Vec<String>,
        /// Comment.
        comment: Option<String>,
        /// `create` (error when it exists).
        create: bool,
    },
    /// `add chain` (and chain blocks).
    AddChain {
        /// Family.
        family: Family,
        /// Table.
        table: String,
        /// Name.
        name: String,
        /// Base chain specification.
        base: Option<BaseSpec>,
        /// Policy: Some(true) accept, Some(false) drop.
        policy: Option<bool>,
        /// Comment.
        comment: Option<String>,
        /// `create`.
        create: bool,
        /// An anonymous chain of a chain binding (`jump { ... }`), named `__chainN` by the
        /// parser as the kernel names it (`nf_tables_addchain`).
        binding: bool,
    },
    /// `add`/`insert`/`replace rule`.
    AddRule {
        /// Family.
        family: Family,
        /// Table.
        table: String,
        /// Chain.
        chain: String,
        /// Rule.
        rule: Rule,
        /// Position.
        pos: RulePos,
    },
    /// `add set`/`add map` (and blocks).
    AddSet {
        /// Family.
        family: Family,
        /// Table.
        table: String,
        /// Declaration.
        decl: SetDecl,
        /// `create`.
        create: bool,
    },
    /// `add element` (or `delete element` with `delete: true`).
    Elements {
        /// Family.
        family: Family,
        /// Table.
        table: String,
        /// Set.
        set: String,
        /// Elements.
        elems: Vec<SetElem>,
        /// Delete instead of add.
        delete: bool,
    },
    /// `add flowtable`.
    AddFlowtable {
        /// Family.
        family: Family,
        /// Table.
        table: String,
        /// Declaration.
        decl: FlowtableDecl,
        /// `create`.
        create: bool,
    },
    /// Named object (`counter`, `quota`, `limit`, `ct helper`, …).
    AddObject {
        /// Family.
        family: Family,
        /// Table.
        table: String,
        /// Name.
        name: String,
        /// Object.
        obj: ObjDecl,
        /// `create`.
        create: bool,
    },
    /// `delete ...`.
    Delete {
        /// Kind.
        kind: ObjKind,
        /// Family.
        family: Family,
        /// Table.
        table: String,
        /// Object name (chain, set, ...), or the chain for rules.
        name: Option<String>,
        /// Handle (rules; or objects deleted by handle).
        handle: Option<u64>,
        /// `destroy` (no error when missing).
        destroy: bool,
    },
    /// `flush ...`.
    Flush {
        /// Kind.
        kind: ObjKind,
        /// Family (None = all, for `flush ruleset`).
        family: Option<Family>,
        /// Table.
        table: String,
        /// Chain / set name.
        name: Option<String>,
    },
}
