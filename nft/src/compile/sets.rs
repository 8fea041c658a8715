//! Compiles set elements into [`CSet`]s and the stateful statements of set elements
//! (counter, limit, quota) into [`ElemExprs`].
//!
//! Sets become hash maps (exact keys), sorted interval arrays (binary search) or, for
//! concatenations with intervals, per-field range arrays scanned linearly (the kernel's
//! pipapo does the same work with bitmaps).

use offsim_traces::hash::FxHashMap;

use crate::ast::{Expr, LimitStmt, LimitUnit, QuotaStmt, SetElem, Stmt};
use crate::layout::{key_layout, range_of};
use crate::program::*;

type R<T> = Result<T, String>;

impl Program {
    /// Compiles set elements into a [`CSet`].
    /// `widths` are the bit widths of the key's fields.
    pub(crate) fn build_set(
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
