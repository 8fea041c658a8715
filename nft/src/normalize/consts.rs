//! Constants: literals resolved against the data type they are compared with, sets and
//! maps of them, and value expressions (mangle values, NAT addresses, map keys).

use super::canon::{fold, merge_intervals, range_expr, sort_elems};
use super::{Ctx, Normalizer, R, compatible, elem_stmts, is_selector, short, type_list};
use crate::ast::*;
use crate::types::*;

impl Normalizer<'_> {
    /// Resolves a constant (or set) against key types.
    pub(super) fn constant(&mut self, tys: &[DType], e: Expr, allow_set: bool) -> R<Expr> {
        match e {
            Expr::Concat(parts) => {
                if parts.len() != tys.len() {
                    return Err(format!(
                        "datatype mismatch: expected a concatenation of {} fields, got {}",
                        tys.len(),
                        parts.len()
                    ));
                }
                let mut out = Vec::new();
                for (p, t) in parts.into_iter().zip(tys) {
                    out.push(self.constant(std::slice::from_ref(t), p, false)?);
                }
                Ok(Expr::Concat(out))
            }
            Expr::Set(elems) => {
                if !allow_set {
                    return Err("a set is not allowed here".into());
                }
                let mut out = Vec::with_capacity(elems.len());
                for el in elems {
                    if el.data.is_some() {
                        return Err("set element with data in a plain set".into());
                    }
                    let k = self.constant(tys, el.key, true)?;
                    match k {
                        Expr::Set(inner) => out.extend(inner),
                        k => out.push(SetElem {
                            key: k,
                            stmts: elem_stmts(el.stmts)?,
                            ..el
                        }),
                    }
                }
                sort_elems(&mut out);
                if tys.len() == 1 {
                    out = merge_intervals(out, tys[0]);
                }
                Ok(Expr::Set(out))
            }
            Expr::SetRef(n) => {
                if !allow_set {
                    return Err("a set reference is not allowed here".into());
                }
                let s = self.set_sig(&n)?;
                if s.key.len() != tys.len()
                    || s.key.iter().zip(tys).any(|(a, b)| !compatible(*a, *b))
                {
                    return Err(format!(
                        "datatype mismatch, expected {}, set has type {}",
                        type_list(tys),
                        type_list(&s.key)
                    ));
                }
                Ok(Expr::SetRef(n))
            }
            Expr::Wildcard => Ok(Expr::Wildcard),
            _ if tys.len() != 1 => Err(format!(
                "datatype mismatch: expected a concatenation {}",
                type_list(tys)
            )),
            e => self.scalar(tys[0], e),
        }
    }

    pub(super) fn scalar(&mut self, ty: DType, e: Expr) -> R<Expr> {
        match e {
            Expr::Sym(s, q) => {
                if ty == DType::Ifname && s.ends_with("\\*") {
                    let lit = format!("{}*", &s[..s.len() - 2]);
                    return Ok(Expr::Value(parse_literal(ty, &lit, q)?));
                }
                if ty == DType::Ifname && s.ends_with('*') {
                    let base = &s[..s.len() - 1];
                    let v = parse_literal(ty, base, q)?;
                    if base.is_empty() {
                        return Ok(Expr::Prefix(Box::new(Expr::Value(Value::new(ty, 0))), 0));
                    }
                    return Ok(Expr::Prefix(
                        Box::new(Expr::Value(v)),
                        8 * base.len() as u32,
                    ));
                }
                if ty == DType::Ifindex {
                    if let Some(n) = parse_uint(&s) {
                        return Ok(Expr::Value(Value::new(ty, n & 0xffff_ffff)));
                    }
                    return match self.devices.index(&s) {
                        Some(i) => Ok(Expr::Value(Value::new(ty, i as u128))),
                        None => Err(format!("Interface does not exist: {s}")),
                    };
                }
                if (ty == DType::Boolean
                    || matches!(s.as_str(), "exists" | "missing") && ty != DType::Str)
                    && let Some(b) = lookup(BOOLEAN, &s)
                {
                    return Ok(Expr::Bool(b == 1));
                }
                let mut v = parse_literal(ty, &s, q)?;
                if ty == DType::Hour {
                    // nft's `hour_type_parse`: local time of day to UTC seconds.
                    v.v = (v.v as i64 - i64::from(self.utc_offset_s)).rem_euclid(86_400) as u128;
                }
                Ok(Expr::Value(v))
            }
            Expr::Num(n) => {
                if ty == DType::Boolean {
                    return Ok(Expr::Bool(n != 0));
                }
                if n > ty.mask() {
                    return Err(format!(
                        "value {n} exceeds the {}-bit {} type",
                        ty.bits(),
                        ty.name()
                    ));
                }
                Ok(Expr::Value(Value::new(ty, n)))
            }
            Expr::Value(v) => {
                if v.v > ty.mask() {
                    return Err(format!(
                        "value exceeds the {}-bit {} type",
                        ty.bits(),
                        ty.name()
                    ));
                }
                Ok(Expr::Value(Value::new(ty, v.v)))
            }
            Expr::Bool(b) => Ok(Expr::Bool(b)),
            Expr::Wildcard => Ok(Expr::Wildcard),
            Expr::Prefix(a, len) => {
                let a = self.scalar(ty, *a)?;
                let Expr::Value(v) = a else {
                    return Err("invalid prefix".into());
                };
                let bits = ty.bits();
                if len > bits {
                    return Err(format!("prefix length {len} is invalid for {}", ty.name()));
                }
                if len == bits {
                    return Ok(Expr::Value(v));
                }
                let host = if bits - len >= 128 {
                    u128::MAX
                } else {
                    (1u128 << (bits - len)) - 1
                };
                Ok(Expr::Prefix(
                    Box::new(Expr::Value(Value::new(ty, v.v & !host & ty.mask()))),
                    len,
                ))
            }
            Expr::Range(a, b) => {
                let a = self.scalar(ty, *a)?;
                let b = self.scalar(ty, *b)?;
                let (Expr::Value(x), Expr::Value(y)) = (&a, &b) else {
                    return Err("invalid range".into());
                };
                if x.v > y.v {
                    return Err("Range has zero or negative size".into());
                }
                if x.v == y.v {
                    return Ok(a);
                }
                Ok(range_expr(ty, x.v, y.v))
            }
            Expr::List(items) => {
                if !ty.is_bitmask() && items.len() > 1 {
                    return Err(format!(
                        "a list is only valid for flag types, not {}",
                        ty.name()
                    ));
                }
                let mut v = 0;
                for it in items {
                    match self.scalar(ty, it)? {
                        Expr::Value(x) => v |= x.v,
                        _ => return Err("invalid flag list".into()),
                    }
                }
                Ok(Expr::Value(Value::new(ty, v)))
            }
            Expr::Binop(op, a, b) => {
                let a = self.scalar(ty, *a)?;
                let b = self.scalar(ty, *b)?;
                match (&a, &b) {
                    (Expr::Value(x), Expr::Value(y)) => {
                        Ok(Expr::Value(Value::new(ty, fold(op, x.v, y.v) & ty.mask())))
                    }
                    _ => Err("invalid constant expression".into()),
                }
            }
            Expr::Var(v) => Err(format!("unknown identifier '{v}'")),
            Expr::Set(_) | Expr::SetRef(_) => Err("a set is not allowed here".into()),
            Expr::Concat(_) => Err(format!("datatype mismatch: expected {}", ty.name())),
            other => Err(format!(
                "expected a constant of type {}, got {}",
                ty.name(),
                short(&other)
            )),
        }
    }

    /// Normalises a value expression of type `want` (mangle values, NAT addresses, map keys).
    pub(super) fn value(&mut self, want: DType, e: Expr, ctx: &mut Ctx) -> R<Expr> {
        match e {
            Expr::Map(k, d) => {
                if let Expr::Ct(CtKey::Saddr | CtKey::Daddr, _) = *k {
                    return Err("use ct original ip saddr/daddr (or ip6) as a map key".into());
                }
                let k = self.lhs(*k, ctx)?;
                let ktys: Vec<DType> = self.sel_types(&k, ctx)?.into_iter().map(|x| x.0).collect();
                let d = self.map_data(&ktys, &[want], *d)?;
                Ok(Expr::Map(Box::new(k), Box::new(d)))
            }
            Expr::Binop(op, a, b) if is_selector(&a) || is_selector(&b) => {
                let a = self.value(want, *a, ctx)?;
                let bw = if matches!(op, BinOp::Shl | BinOp::Shr) {
                    DType::Integer(32)
                } else {
                    want
                };
                let b = self.value(bw, *b, ctx)?;
                Ok(Expr::Binop(op, Box::new(a), Box::new(b)))
            }
            e if is_selector(&e) => {
                let e = self.lhs(e, ctx)?;
                Ok(e)
            }
            e => self.scalar(want, e),
        }
    }

    /// Map data: anonymous `{k : v}` or `@m`.
    pub(super) fn map_data(&mut self, ktys: &[DType], dtys: &[DType], d: Expr) -> R<Expr> {
        match d {
            Expr::SetRef(n) => {
                let s = self.set_sig(&n)?;
                if !s.is_map {
                    return Err(format!("@{n} is a set, not a map"));
                }
                if s.key.len() != ktys.len()
                    || s.key.iter().zip(ktys).any(|(a, b)| !compatible(*a, *b))
                {
                    return Err(format!(
                        "datatype mismatch, map expects {}, key is {}",
                        type_list(&s.key),
                        type_list(ktys)
                    ));
                }
                if !s.data.is_empty()
                    && dtys != [DType::Str]
                    && (s.data.len() != dtys.len()
                        || s.data.iter().zip(dtys).any(|(a, b)| !compatible(*a, *b)))
                {
                    return Err(format!(
                        "datatype mismatch, map @{n} has data {}, expected {}",
                        type_list(&s.data),
                        type_list(dtys)
                    ));
                }
                Ok(Expr::SetRef(n))
            }
            Expr::Set(elems) => {
                let mut out = Vec::new();
                for el in elems {
                    let key = self.constant(ktys, el.key, true)?;
                    let data = match el.data {
                        Some(v) => Some(self.data_value(dtys, v)?),
                        None => return Err("map element without data".into()),
                    };
                    match key {
                        Expr::Set(inner) => {
                            for i in inner {
                                out.push(SetElem {
                                    key: i.key,
                                    data: data.clone(),
                                    ..SetElem::plain(Expr::Wildcard)
                                });
                            }
                        }
                        key => out.push(SetElem {
                            key,
                            data,
                            timeout: el.timeout,
                            expires: el.expires,
                            comment: el.comment,
                            stmts: elem_stmts(el.stmts)?,
                        }),
                    }
                }
                sort_elems(&mut out);
                Ok(Expr::Set(out))
            }
            other => Err(format!("expected map data, got {}", short(&other))),
        }
    }

    pub(super) fn data_value(&mut self, dtys: &[DType], v: Expr) -> R<Expr> {
        if dtys == [DType::Verdict] {
            return match v {
                Expr::Verdict(vd) => {
                    self.check_verdict(&vd)?;
                    Ok(Expr::Verdict(vd))
                }
                Expr::Sym(s, _) => Verdict::from_keyword(&s)
                    .map(Expr::Verdict)
                    .ok_or_else(|| format!("invalid verdict {s}")),
                other => Err(format!("expected a verdict, got {}", short(&other))),
            };
        }
        if dtys.len() == 1 && dtys[0] == DType::Str {
            // object maps: names
            return match v {
                Expr::Sym(s, _) => Ok(Expr::Value(Value::new(DType::Str, ifname_value(&s)))),
                other => Err(format!("expected an object name, got {}", short(&other))),
            };
        }
        self.constant(dtys, v, false)
    }
}
