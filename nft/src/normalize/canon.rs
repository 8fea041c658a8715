//! nft's canonical forms: ranges that are prefixes, merged intervals, sorted set
//! elements, folded constants, relational operators made explicit, and dependency matches
//! removed where a later match implies them (as `nft list` prints rules).

use super::R;
use crate::ast::*;
use crate::error::Span;
use crate::layout::range_of;
use crate::selector::{Dep, payload_info};
use crate::types::*;

/// A range as nft prints it: an address range that is exactly a prefix becomes the prefix.
pub(super) fn range_expr(ty: DType, lo: u128, hi: u128) -> Expr {
    if lo == hi {
        return Expr::Value(Value::new(ty, lo));
    }
    if matches!(ty, DType::Ipv4 | DType::Ipv6) {
        let span = hi.wrapping_sub(lo).wrapping_add(1);
        let bits = ty.bits();
        if (span == 0 && lo == 0 && hi == ty.mask() && bits == 128)
            || (span.is_power_of_two() && lo & (span - 1) == 0)
        {
            let host = if span == 0 {
                128
            } else {
                span.trailing_zeros()
            };
            return Expr::Prefix(Box::new(Expr::Value(Value::new(ty, lo))), bits - host);
        }
    }
    Expr::Range(
        Box::new(Expr::Value(Value::new(ty, lo))),
        Box::new(Expr::Value(Value::new(ty, hi))),
    )
}

/// Anonymous interval sets are merged by nft (overlapping and adjacent elements).
pub(super) fn merge_intervals(v: Vec<SetElem>, ty: DType) -> Vec<SetElem> {
    let interval = v
        .iter()
        .any(|e| matches!(e.key, Expr::Range(..) | Expr::Prefix(..)));
    if !interval
        || v.iter()
            .any(|e| e.data.is_some() || e.timeout.is_some() || e.comment.is_some())
    {
        return v;
    }
    let mut rs: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for e in &v {
        match range_of(&e.key) {
            Ok(r) => rs.push(r),
            Err(_) => return v,
        }
    }
    rs.sort();
    let mut m: Vec<(u128, u128)> = Vec::with_capacity(rs.len());
    for (lo, hi) in rs {
        if let Some(last) = m.last_mut()
            && (lo <= last.1 || lo == last.1.wrapping_add(1))
        {
            last.1 = last.1.max(hi);
            continue;
        }
        m.push((lo, hi));
    }
    m.into_iter()
        .map(|(lo, hi)| SetElem::plain(range_expr(ty, lo, hi)))
        .collect()
}

pub(super) fn fold(op: BinOp, a: u128, b: u128) -> u128 {
    match op {
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a.checked_shl(b as u32).unwrap_or(0),
        BinOp::Shr => a.checked_shr(b as u32).unwrap_or(0),
    }
}

pub(super) fn fold_const(e: Expr) -> Expr {
    match e {
        Expr::Binop(op, a, b) => {
            let a = fold_const(*a);
            let b = fold_const(*b);
            match (&a, &b) {
                (Expr::Value(x), Expr::Value(y)) => {
                    Expr::Value(Value::new(x.ty, fold(op, x.v, y.v) & x.ty.mask()))
                }
                _ => Expr::Binop(op, Box::new(a), Box::new(b)),
            }
        }
        e => e,
    }
}

/// Canonical relational form (see module docs).
pub(super) fn canon_match(left: Expr, op: RelOp, right: Expr, tys: &[DType]) -> R<Stmt> {
    let single = if tys.len() == 1 { Some(tys[0]) } else { None };
    let bitmask = single.is_some_and(|t| t.is_bitmask());
    let is_setlike = matches!(
        right,
        Expr::Set(_) | Expr::SetRef(_) | Expr::Range(..) | Expr::Prefix(..)
    );
    // single-element anonymous set without ranges → plain comparison
    let right = match right {
        Expr::Set(mut el)
            if el.len() == 1 && el[0].data.is_none() && !matches!(el[0].key, Expr::Wildcard) =>
        {
            el.pop().map(|e| e.key).unwrap_or(Expr::Wildcard)
        }
        r => r,
    };
    let mut left = left;
    let mut right = right;
    // prefix on a non-address type: `meta mark 0xffffff00/24` == `meta mark & 0xffffff00 == 0xffffff00`
    if let (Some(t), Expr::Prefix(v, len)) = (single, &right)
        && !matches!(t, DType::Ipv4 | DType::Ipv6 | DType::Ifname)
        && matches!(op, RelOp::Implicit | RelOp::Eq | RelOp::Ne | RelOp::In)
    {
        let bits = t.bits();
        let mask = t.mask()
            & !(if bits - len >= 128 {
                u128::MAX
            } else {
                (1u128 << (bits - len)) - 1
            });
        left = Expr::Binop(
            BinOp::And,
            Box::new(left),
            Box::new(Expr::Value(Value::new(t, mask))),
        );
        right = (**v).clone();
    }
    // `x & all-ones` == `x`
    if let (Some(t), Expr::Binop(BinOp::And, x, m)) = (single, &left)
        && matches!(**m, Expr::Value(Value { v, .. }) if v == t.mask())
    {
        left = (**x).clone();
    }
    let lhs_binop = matches!(left, Expr::Binop(..));
    let mut op = match op {
        RelOp::Implicit | RelOp::In => {
            if bitmask && !lhs_binop && !is_setlike && matches!(right, Expr::Value(_)) {
                RelOp::In
            } else {
                RelOp::Eq
            }
        }
        RelOp::Not => {
            let Expr::Value(v) = right else {
                return Err("`!` needs a flag value".into());
            };
            if matches!(left, Expr::Binop(..)) {
                return Err("`!` cannot follow a binary operation".into());
            }
            if !bitmask {
                return Err(format!(
                    "`!` is only valid for flag types, not {}",
                    single.map(|t| t.name()).unwrap_or("this")
                ));
            }
            left = Expr::Binop(BinOp::And, Box::new(left), Box::new(Expr::Value(v)));
            right = Expr::Value(Value::new(v.ty, 0));
            RelOp::Eq
        }
        o => o,
    };
    // `x & m != 0` on flags == `x m`
    if bitmask
        && op == RelOp::Ne
        && matches!(right, Expr::Value(Value { v: 0, .. }))
        && let Expr::Binop(BinOp::And, x, m) = &left
        && matches!(**m, Expr::Value(_))
    {
        let m = (**m).clone();
        left = (**x).clone();
        right = m;
        op = RelOp::In;
    }
    // `x ^ c == v` → `x == v ^ c`
    if matches!(op, RelOp::Eq | RelOp::Ne)
        && let (Expr::Binop(BinOp::Xor, x, c), Expr::Value(v)) = (&left, &right)
        && let Expr::Value(c) = **c
    {
        let nv = Value::new(v.ty, v.v ^ c.v);
        left = (**x).clone();
        right = Expr::Value(nv);
    }
    if matches!(op, RelOp::Lt | RelOp::Gt | RelOp::Le | RelOp::Ge)
        && !matches!(right, Expr::Value(_))
    {
        return Err("relational operators need a single value".into());
    }
    if let Expr::Bool(_) = right
        && !matches!(left, Expr::Fib { .. } | Expr::Meta(MetaKey::Secpath))
        && op != RelOp::Eq
    {
        return Err("exists/missing only valid with fib".into());
    }
    Ok(Stmt::Match {
        left,
        op,
        right,
        rspan: Span::default(),
    })
}

fn elem_sort_key(e: &Expr, out: &mut Vec<u128>) {
    match e {
        Expr::Value(v) => {
            out.push(v.v);
            out.push(v.v);
        }
        Expr::Prefix(a, l) => {
            elem_sort_key(a, out);
            out.push(*l as u128);
        }
        Expr::Range(a, b) => {
            elem_sort_key(a, out);
            elem_sort_key(b, out);
        }
        Expr::Concat(p) => {
            for x in p {
                elem_sort_key(x, out);
            }
        }
        Expr::Wildcard => out.push(u128::MAX),
        Expr::Bool(b) => out.push(*b as u128),
        _ => {}
    }
}

/// Sorts set elements into canonical order.
pub(super) fn sort_elems(v: &mut [SetElem]) {
    v.sort_by_cached_key(|e| {
        let mut k = Vec::new();
        elem_sort_key(&e.key, &mut k);
        k
    });
}

/// Removes dependency matches implied by a later match (nft's dependency kill on listing).
pub(super) fn kill_dependencies(stmts: Vec<Stmt>, spans: Vec<Span>) -> (Vec<Stmt>, Vec<Span>) {
    let n = stmts.len();
    let mut keep = vec![true; n];
    for i in 0..n {
        let Stmt::Match {
            left,
            op: RelOp::Eq,
            right: Expr::Value(v),
            ..
        } = &stmts[i]
        else {
            continue;
        };
        let want = match left {
            Expr::Meta(MetaKey::L4proto) | Expr::Payload(Proto::Ip, _)
                if v.ty == DType::InetProto =>
            {
                Dep::l4(v.v as u8)
            }
            Expr::Meta(MetaKey::Nfproto) => Dep::l3(if v.v == 2 { 4 } else { 6 }),
            _ => continue,
        };
        for s in &stmts[i + 1..] {
            match s {
                Stmt::Match { left, .. } => {
                    if implies(left, want) {
                        keep[i] = false;
                        break;
                    }
                }
                _ => break,
            }
        }
    }
    let mut os = Vec::with_capacity(n);
    let mut osp = Vec::with_capacity(n);
    for (i, (s, sp)) in stmts.into_iter().zip(spans).enumerate() {
        if keep[i] {
            os.push(s);
            osp.push(sp);
        }
    }
    (os, osp)
}

fn implies(e: &Expr, want: Dep) -> bool {
    match e {
        Expr::Payload(p, f) => match payload_info(*p, f) {
            Ok((_, d)) => {
                (want.l4.is_some() && d.l4 == want.l4)
                    || (want.l3.is_some() && d.l3 == want.l3 && want.l4.is_none())
            }
            Err(_) => false,
        },
        Expr::Binop(_, a, _) => implies(a, want),
        Expr::Concat(p) => p.iter().any(|x| implies(x, want)),
        _ => false,
    }
}
