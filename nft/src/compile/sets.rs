//! Compiles set elements into [`CSet`]s and the stateful statements of set elements
//! (counter, limit, quota) into [`ElemExprs`].
//!
//! Sets become hash maps (exact keys; up to 8 of them also a list compared in order,
//! [`CSet::seal`]), sorted interval arrays (binary search) or, for
//! concatenations with intervals, per-field range arrays scanned linearly (the kernel's
//! pipapo does the same work with bitmaps). Whatever offsim's structure, the cost model
//! charges the lookup of the kernel's back end ([`select_backend`]).

use offsim_traces::hash::FxHashMap;

use crate::ast::{Expr, LimitStmt, LimitUnit, QuotaStmt, SetElem, Stmt};
use crate::eval::SetBackend;
use crate::layout::{key_layout, range_of};
use crate::program::*;

type R<T> = Result<T, String>;

/// What `nft_select_set_ops` (`net/netfilter/nf_tables_api.c`) decides a set's back end
/// from, as nft describes the set to the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SetDesc {
    /// The kernel is told a size (`NFTA_SET_DESC_SIZE`): a declared `size`, a `constant`
    /// set, or an anonymous set (nft sends its element count).
    pub(crate) size_known: bool,
    /// `flags interval` declared (every set with a range element has it).
    pub(crate) interval: bool,
    /// `flags timeout`/`dynamic`, or updated from the packet path (`NFT_SET_EVAL`).
    pub(crate) timeout_or_eval: bool,
    /// A map or an object map (`NFT_SET_MAP`, `NFT_SET_OBJECT`).
    pub(crate) map: bool,
    /// Its elements carry expressions (`desc->expr`: counters, limits, quotas).
    pub(crate) exprs: bool,
}

/// The back end `nft_select_set_ops` picks under the default `performance` policy: it walks
/// `nft_set_types` and keeps the type whose `estimate` gives the best lookup class, then the
/// best space class. `nft_rbtree_estimate` takes one-field intervals, the pipapo types
/// (`nft_pipapo_estimate`, which needs `NFT_SET_INTERVAL` and two fields or more)
/// concatenated ones; only `nft_set_rhash_type` has `NFT_SET_TIMEOUT | NFT_SET_EVAL`;
/// `nft_bitmap_estimate` takes keys of 2 bytes or less without maps or element expressions
/// (O(1) space beats the hashes); `nft_hash_fast_estimate` and `nft_hash_estimate` need a
/// size (4-byte keys and others), and `nft_rhash_estimate` takes the rest. Confirmed on this
/// project's 6.18 kernel by sampling which `nft_*_lookup` runs (see the calibration note in
/// the x86-server preset).
pub(crate) fn select_backend(widths: &[u32], interval: bool, d: &SetDesc) -> SetBackend {
    let fields = widths.len().max(1);
    // concatenated fields each take whole 32-bit registers (NFT_REG32_SIZE)
    let klen: u32 = if fields > 1 {
        widths.iter().map(|w| w.div_ceil(32) * 4).sum()
    } else {
        widths.first().copied().unwrap_or(128).div_ceil(8)
    };
    if interval || d.interval {
        return if fields > 1 {
            SetBackend::Pipapo
        } else {
            SetBackend::Rbtree
        };
    }
    if d.timeout_or_eval {
        SetBackend::Rhash
    } else if klen <= 2 && !d.map && !d.exprs {
        SetBackend::Bitmap
    } else if !d.size_known {
        SetBackend::Rhash
    } else if klen == 4 {
        SetBackend::HashFast
    } else {
        SetBackend::Hash
    }
}

impl Program {
    /// Compiles set elements into a [`CSet`].
    /// `widths` are the bit widths of the key's fields.
    pub(crate) fn build_set(
        &mut self,
        widths: &[u32],
        elems: &[SetElem],
        data_of: &mut dyn FnMut(&Expr) -> R<CData>,
        dynamic: bool,
        desc: SetDesc,
    ) -> R<u32> {
        let nparts = widths.len();
        let slots = key_layout(widths)?;
        let mut s = CSet {
            backend: SetBackend::Rhash,
            depth: 0,
            slots: slots.clone(),
            exact: FxHashMap::default(),
            scan: Vec::new(),
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
        s.seal();
        let desc = SetDesc {
            exprs: desc.exprs || elems.iter().any(|e| !e.stmts.is_empty()),
            ..desc
        };
        s.backend = select_backend(widths, interval, &desc);
        let n = s.len() as u32;
        s.depth = u32::BITS - n.leading_zeros();
        if dynamic {
            let n = self.sets.iter().filter(|x| x.dynamic.is_some()).count() as u32;
            s.dynamic = Some(n);
        }
        self.sets.push(s);
        Ok(self.sets.len() as u32 - 1)
    }

    /// Compiles the stateful statements of a set element or set update (normalised: counter,
    /// limit, quota; at most two) into [`Program::elem_exprs`]; [`NO_EXPRS`] when empty.
    pub(crate) fn elem_exprs_of(&mut self, stmts: &[Stmt]) -> R<u32> {
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
                Stmt::Quota(q) => ElemExpr::Quota(Self::quota_spec(q)),
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
    pub(crate) fn set_static_exprs(&mut self, set: u32, elems: &[SetElem]) -> R<()> {
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

    /// Quota spec from a statement or object (kernel `nft_quota_do_init`).
    pub(crate) fn quota_spec(q: &QuotaStmt) -> QuotaSpec {
        QuotaSpec {
            bytes: q.bytes,
            invert: q.over,
            used: q.used,
        }
    }

    /// Limit spec from a statement (kernel `nft_limit_init`).
    pub(crate) fn limit_spec(l: &LimitStmt) -> LimitSpec {
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
