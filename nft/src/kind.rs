//! The kinds of work the CPU model prices: kernel expressions by kind ([`ExprKind`]) and set
//! lookups by back end ([`SetBackend`]). Shared by the compiler (which records them per
//! operation in [`crate::program`]) and the evaluator (which counts them per packet), so
//! neither depends on the other for them.

/// The kinds of kernel expression offsim counts (`struct nft_expr_ops` of the kernel
/// expressions that nft generates for the rules offsim models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExprKind {
    /// `nft_payload` load from the network or link-layer header (the inlined
    /// `nft_payload_fast_eval` for aligned fields).
    Payload,
    /// `nft_payload` load from the transport header.
    PayloadTh,
    /// `nft_meta_get_eval` of a key other than an interface name.
    Meta,
    /// `nft_meta_get_eval` of an interface name (`iifname`, `oifname`, `iifkind`,
    /// `oifkind`, `sdifname`; the bridge's `ibrname`, `obrname`): it copies the name into
    /// the registers as a string of `IFNAMSIZ` bytes (`nft_meta_store_ifname` →
    /// `nft_reg_store_str`, a padded string copy), where the other keys store one word.
    MetaIfname,
    /// A protocol dependency nft inserts before a header field: `meta l4proto P`,
    /// `meta nfproto F` or `meta protocol P` and the `cmp` that checks it, counted as one.
    Dep,
    /// `nft_ct_get_eval`.
    Ct,
    /// `nft_cmp` (fast, 16-byte and generic compares).
    Cmp,
    /// `nft_bitwise` (masks of flags, prefixes and sub-byte fields).
    Bitwise,
    /// `nft_range`.
    Range,
    /// `nft_lookup_eval` (the back end's lookup is counted by [`SetBackend`]).
    Lookup,
    /// `nft_immediate` (a verdict: accept, drop, jump, goto, return, continue).
    Immediate,
    /// `nft_counter_eval`.
    Counter,
    /// `nft_fib` (a route lookup).
    Fib,
    /// Every other expression: log, limit, quota, NAT, reject, mark set, notrack, flow
    /// offload, dynset, objref, numgen, hash, exthdr.
    Other,
}

impl ExprKind {
    /// Number of kinds: the length of per-kind arrays.
    pub const COUNT: usize = 14;
    /// Every kind, in index order.
    pub const ALL: [ExprKind; ExprKind::COUNT] = [
        ExprKind::Payload,
        ExprKind::PayloadTh,
        ExprKind::Meta,
        ExprKind::MetaIfname,
        ExprKind::Dep,
        ExprKind::Ct,
        ExprKind::Cmp,
        ExprKind::Bitwise,
        ExprKind::Range,
        ExprKind::Lookup,
        ExprKind::Immediate,
        ExprKind::Counter,
        ExprKind::Fib,
        ExprKind::Other,
    ];

    /// Index into per-kind arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Name (the CPU presets' `expr_NAME` fields).
    pub const fn name(self) -> &'static str {
        match self {
            ExprKind::Payload => "payload",
            ExprKind::PayloadTh => "payload_th",
            ExprKind::Meta => "meta",
            ExprKind::MetaIfname => "meta_ifname",
            ExprKind::Dep => "dep",
            ExprKind::Ct => "ct",
            ExprKind::Cmp => "cmp",
            ExprKind::Bitwise => "bitwise",
            ExprKind::Range => "range",
            ExprKind::Lookup => "lookup",
            ExprKind::Immediate => "immediate",
            ExprKind::Counter => "counter",
            ExprKind::Fib => "fib",
            ExprKind::Other => "other",
        }
    }
}

/// The set back ends of `nf_tables_api.c` (`nft_set_types`), as `nft_select_set_ops`
/// chooses among them (see `Program::build_set`). The AVX2 variant of pipapo is a property of
/// the CPU, so the CPU model picks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetBackend {
    /// `nft_set_hash_fast_type`: fixed size, 4-byte key.
    HashFast,
    /// `nft_set_hash_type`: fixed size, other key lengths.
    Hash,
    /// `nft_set_rhash_type`: resizable (no size known, timeouts, updated from the packet path).
    Rhash,
    /// `nft_set_bitmap_type`: keys of 2 bytes or less.
    Bitmap,
    /// `nft_set_rbtree_type`: intervals of one field.
    Rbtree,
    /// `nft_set_pipapo_type` (or `nft_set_pipapo_avx2_type`): intervals of concatenations.
    Pipapo,
}

impl SetBackend {
    /// Number of back ends: the length of per-back-end arrays.
    pub const COUNT: usize = 6;
    /// Every back end, in index order.
    pub const ALL: [SetBackend; SetBackend::COUNT] = [
        SetBackend::HashFast,
        SetBackend::Hash,
        SetBackend::Rhash,
        SetBackend::Bitmap,
        SetBackend::Rbtree,
        SetBackend::Pipapo,
    ];

    /// Index into per-back-end arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Name (the CPU presets' `set_NAME` fields).
    pub const fn name(self) -> &'static str {
        match self {
            SetBackend::HashFast => "hash_fast",
            SetBackend::Hash => "hash",
            SetBackend::Rhash => "rhash",
            SetBackend::Bitmap => "bitmap",
            SetBackend::Rbtree => "rbtree",
            SetBackend::Pipapo => "pipapo",
        }
    }
}
