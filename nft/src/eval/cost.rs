//! What evaluation costs, counted the way the kernel executes a rule: [`EvalCost`] counts
//! the rules entered, the kernel expressions run by kind ([`ExprKind`]), the set lookups by
//! back end ([`SetBackend`]) with their size term, and the jumps. The simulator's CPU model
//! turns these counts into cycles; nothing here knows a cycle.
//!
//! The kernel (`nf_tables_core.c`, `nft_do_chain`) runs a rule's expressions in order until
//! one breaks. nft inserts the protocol dependency of a header field as two expressions of
//! their own (`udp dport` is `meta l4proto udp` then the port; `ip saddr` in an `inet` table
//! is `meta nfproto ipv4` then the address): the compiler records them per operation
//! ([`crate::program::OpCost`]), and a packet that fails the dependency pays only it. It
//! also sums them per place a rule can stop ([`crate::program::CostRow`]), so the chain walk
//! adds one row per rule, and `rules eval`'s per-rule costs are counts of where each rule
//! stopped, priced after the run ([`super::tally`]).

pub use crate::kind::{ExprKind, SetBackend};

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
    #[inline]
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

    /// Kernel expressions run, all kinds.
    pub fn expr_total(&self) -> u64 {
        self.exprs.iter().sum()
    }

    /// Set lookups, all back ends.
    pub fn lookup_total(&self) -> u64 {
        self.lookups.iter().sum()
    }

    /// Adds the rows the chain walk summed ([`crate::program::CostRow`]): the expressions
    /// run, and the rules entered.
    #[inline]
    pub(crate) fn add_row(&mut self, r: &crate::program::CostRow) {
        for (a, n) in self.exprs.iter_mut().zip(&r.0) {
            *a += u64::from(*n);
        }
        self.rules += u64::from(r.0[crate::program::CostRow::RULE]);
    }

    /// Counts one lookup in a set of back end `b` whose size term is `depth`.
    #[inline]
    pub(crate) fn lookup(&mut self, b: SetBackend, depth: u32) {
        self.lookups[b.index()] += 1;
        self.lookup_depth[b.index()] += u64::from(depth);
    }
}
