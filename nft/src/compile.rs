//! Compilation of normalised rules into a flat, allocation-free program.
//!
//! Sets become hash maps (exact keys), sorted interval arrays (binary search) or, for
//! concatenations with intervals, per-field range arrays scanned linearly (the kernel's
//! pipapo does the same work with bitmaps). Interface names compare as 128-bit numbers; `iif`
//! and `oif` were resolved to ifindexes at load time.

use offsim_traces::hash::FxHashMap;

use super::ast::*;
use super::layout::{key_layout, range_of};
use super::program::*;
use super::selector::{
    ct_load, ct_type, fib_type, meta_load, meta_type, payload_info, payload_load,
};
use super::types::{DType, Value};

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

impl TableScope<'_> {
    /// The IP version of the table's family (None for inet, netdev, ...).
    fn l3(&self) -> Option<u8> {
        match self.family {
            Family::Ip => Some(4),
            Family::Ip6 => Some(6),
            _ => None,
        }
    }
}

type R<T> = Result<T, String>;

fn width_mask(ty: DType) -> u128 {
    ty.mask()
}

fn bytes_of(ty: DType) -> u8 {
    (ty.bits().div_ceil(8)) as u8
}

impl Program {
    /// Compiles a selector into a load (the selector table, [`super::selector`], says what
    /// each payload field, meta and ct key loads).
    pub fn load_of(&mut self, e: &Expr, sc: &TableScope) -> R<(Load, DType)> {
        let unsupported =
            |what: String| format!("unsupported: {what} (not evaluated by the simulator)");
        Ok(match e {
            Expr::Payload(p, f) => {
                let (ty, _) = payload_info(*p, f)?;
                let l =
                    payload_load(*p, f).ok_or_else(|| unsupported(format!("{} {f}", p.name())))?;
                (l, ty)
            }
            Expr::Meta(k) => {
                let l = meta_load(*k).ok_or_else(|| unsupported(format!("meta {}", k.name())))?;
                (l, meta_type(*k))
            }
            Expr::Ct(k, dir) => {
                let ty = ct_type(*k, sc.l3())?;
                let l = ct_load(*k, *dir).ok_or_else(|| unsupported(format!("ct {}", k.name())))?;
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
            } => (
                self.jhash_load(expr, *modulus, seed.unwrap_or(sc.seed), *offset, sc)?,
                DType::Integer(32),
            ),
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
            Expr::Fib { flags, result } => (
                Load::Fib {
                    flags: *flags,
                    result: *result,
                },
                fib_type(*result),
            ),
            other => return Err(format!("unsupported: expression {other} as a selector")),
        })
    }

    /// `jhash EXPR mod M seed S offset O`: the hashed fields compile into sources.
    fn jhash_load(
        &mut self,
        expr: &Expr,
        modulus: u32,
        seed: u32,
        offset: u32,
        sc: &TableScope,
    ) -> R<Load> {
        let parts: Vec<&Expr> = match expr {
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
            modulus,
            seed,
            offset,
        });
        Ok(Load::Jhash(self.jhashes.len() as u32 - 1))
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

fn dummy_src() -> Src {
    Src {
        load: Load::MetaMark,
        xf: Xf::ident(0),
        bytes: 0,
    }
}
