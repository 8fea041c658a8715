//! Compilation of normalised rules into a flat, allocation-free [`Program`].
//!
//! This file compiles selectors (loads with their bitwise transforms) and lookup keys;
//! [`rule`] compiles statements into operations, [`cost`] says what kernel expressions each
//! stands for, [`runs`] finds the runs of rules the evaluator can pass over, and [`sets`] compiles set elements into lookup structures and picks the
//! kernel's set back end. Interface names compare as 128-bit numbers; `iif` and `oif` were resolved to
//! ifindexes at load time.

mod cost;
mod rule;
mod runs;
mod sets;

pub(crate) use rule::Compiler;
pub(crate) use sets::SetDesc;

use crate::ast::*;
use crate::layout::key_layout;
use crate::program::*;
use crate::selector::{
    ct_load, ct_type, fib_type, meta_load, meta_type, payload_info, payload_load,
};
use crate::types::{DType, Value};

/// Compile-time context for one table.
pub(crate) struct TableScope<'a> {
    /// Table family.
    pub(crate) family: Family,
    /// Chain ids by name.
    pub(crate) chains: &'a [(String, ChainId)],
    /// Named set ids by name (with their declaration).
    pub(crate) sets: &'a [(String, u32)],
    /// Flowtable ids by name.
    pub(crate) flowtables: &'a [(String, FlowtableId)],
    /// Objects: (kind, name, object id, limit/quota slot).
    pub(crate) objects: &'a [(String, String, u32, u32)],
    /// Seed for jhash without an explicit seed.
    pub(crate) seed: u32,
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
    pub(crate) fn load_of(&mut self, e: &Expr, sc: &TableScope) -> R<(Load, DType)> {
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
                self.reads_ct_tuples |= matches!(l, Load::CtAddr { .. } | Load::CtPort { .. });
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
    pub(crate) fn src_of(&mut self, e: &Expr, sc: &TableScope) -> R<Src> {
        match e {
            Expr::Binop(op, a, b) => {
                let mut s = self.src_of(a, sc)?;
                let Expr::Value(Value { v: c, .. }) = **b else {
                    return Err("unsupported: binary operation between two selectors".into());
                };
                let x = &mut s.xf;
                x.plain = false;
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
    pub(crate) fn key_of(&mut self, e: &Expr, sc: &TableScope) -> R<u32> {
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
    pub(crate) fn bind_key(&mut self, key: u32, set: u32) -> R<()> {
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
}

fn dummy_src() -> Src {
    Src {
        load: Load::MetaMark,
        xf: Xf::ident(0),
        bytes: 0,
    }
}
