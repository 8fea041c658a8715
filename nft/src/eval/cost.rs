//! What evaluation costs, counted the way the kernel executes a rule: [`EvalCost`] counts
//! the rules entered, the kernel expressions run by kind ([`ExprKind`]), the set lookups by
//! back end ([`SetBackend`]) with their size term, and the jumps. The simulator's CPU model
//! turns these counts into cycles; nothing here knows a cycle.
//!
//! The kernel (`nf_tables_core.c`, `nft_do_chain`) runs a rule's expressions in order until
//! one breaks. nft inserts the protocol dependency of a header field as two expressions of
//! their own (`udp dport` is `meta l4proto udp` then the port; `ip saddr` in an `inet` table
//! is `meta nfproto ipv4` then the address): the compiler records them per operation
//! ([`crate::program::OpCost`]), and a packet that fails the dependency pays only it.

/// The kinds of kernel expression offsim counts (`struct nft_expr_ops` of the kernel
/// expressions that nft generates for the rules offsim models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExprKind {
    /// `nft_payload` load from the network or link-layer header (the inlined
    /// `nft_payload_fast_eval` for aligned fields).
    Payload,
    /// `nft_payload` load from the transport header.
    PayloadTh,
    /// `nft_meta_get_eval`.
    Meta,
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
    pub const COUNT: usize = 13;
    /// Every kind, in index order.
    pub const ALL: [ExprKind; ExprKind::COUNT] = [
        ExprKind::Payload,
        ExprKind::PayloadTh,
        ExprKind::Meta,
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

/// Work done while evaluating, for the CPU model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalCost {
    /// Base chains entered.
    pub base_chains: u64,
    /// Rules entered.
    pub rules: u64,
    /// Kernel expressions run, by [`ExprKind::index`].
    pub exprs: [u64; ExprKind::COUNT],
    /// Set lookups by [`SetBackend::index`].
    pub lookups: [u64; SetBackend::COUNT],
    /// The size term of those lookups: the sum of `⌊log2 n⌋ + 1` over lookups in sets of
    /// `n` elements (0 for empty sets), by back end.
    pub lookup_depth: [u64; SetBackend::COUNT],
    /// Jumps and gotos (the chain switch; the verdict itself is an [`ExprKind::Immediate`]).
    pub jumps: u64,
}

impl EvalCost {
    /// Adds another cost.
    pub fn add(&mut self, o: &EvalCost) {
        self.base_chains += o.base_chains;
        self.rules += o.rules;
        for (a, b) in self.exprs.iter_mut().zip(&o.exprs) {
            *a += b;
        }
        for (a, b) in self.lookups.iter_mut().zip(&o.lookups) {
            *a += b;
        }
        for (a, b) in self.lookup_depth.iter_mut().zip(&o.lookup_depth) {
            *a += b;
        }
        self.jumps += o.jumps;
    }

    /// What `self` has more than `o` (`o` an earlier snapshot of the same accumulator).
    pub fn since(&self, o: &EvalCost) -> EvalCost {
        let mut d = *self;
        d.base_chains -= o.base_chains;
        d.rules -= o.rules;
        for (a, b) in d.exprs.iter_mut().zip(&o.exprs) {
            *a -= b;
        }
        for (a, b) in d.lookups.iter_mut().zip(&o.lookups) {
            *a -= b;
        }
        for (a, b) in d.lookup_depth.iter_mut().zip(&o.lookup_depth) {
            *a -= b;
        }
        d.jumps -= o.jumps;
        d
    }

    /// Kernel expressions run, all kinds.
    pub fn expr_total(&self) -> u64 {
        self.exprs.iter().sum()
    }

    /// Set lookups, all back ends.
    pub fn lookup_total(&self) -> u64 {
        self.lookups.iter().sum()
    }

    /// Counts one operation: its dependency checks always, its own expressions when it ran
    /// to the end (`full`). An operation without dependency that breaks on a missing field
    /// ran its loads ([`crate::program::OpCost::loads`]).
    #[inline]
    pub(crate) fn charge(&mut self, c: &crate::program::OpCost, full: bool) {
        let dep = u64::from(c.deps);
        self.exprs[ExprKind::Dep.index()] += dep;
        if full {
            for (a, n) in self.exprs.iter_mut().zip(&c.own) {
                *a += u64::from(*n);
            }
        } else if dep == 0 {
            for (a, n) in self.exprs.iter_mut().zip(&c.loads) {
                *a += u64::from(*n);
            }
        }
    }

    /// Counts one lookup in a set of back end `b` whose size term is `depth`.
    #[inline]
    pub(crate) fn lookup(&mut self, b: SetBackend, depth: u32) {
        self.lookups[b.index()] += 1;
        self.lookup_depth[b.index()] += u64::from(depth);
    }
}
