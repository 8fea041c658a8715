//! Set lookups (`nft_lookup_eval`), the stateful expressions of set elements
//! (`nft_set_elem_update_expr`), updates of dynamic sets from the data path
//! (`nft_dynset_eval`), and statement operands that may come from a map lookup.

use super::load::{key_val, src_val};
use super::stateful::{limit_step, quota_step};
use super::{EvalCost, Flow, Host, PktCtx, RuleState};
use crate::ast::SetOp;
use crate::program::*;

/// Set lookup (`nft_lookup_eval`): the element's data when found (static elements, then
/// live dynamic ones, then the catch-all). With `exprs`, the element's stateful expressions
/// run (`nft_set_elem_update_expr`); one that breaks (a limit over its rate, a quota used up)
/// makes the lookup fail.
#[inline]
pub(super) fn lookup_set(
    p: &Program,
    st: &mut RuleState,
    set: u32,
    key: &[u128; 4],
    ctx: &PktCtx,
    cost: &mut EvalCost,
    exprs: bool,
) -> Option<CData> {
    let s = &p.sets[set as usize];
    cost.lookup(s.backend, s.depth);
    if let Some(t) = st.tally.as_deref_mut() {
        t.lookup(s.backend, s.depth);
    }
    if let Some(i) = s.find(key) {
        if exprs && !static_elem_exprs(p, st, s, i, ctx) {
            return None;
        }
        return s.data.get(i as usize).copied();
    }
    if let Some(d) = s.dynamic {
        let now = ctx.now.0;
        if let Some(e) = st.dynsets[d as usize].map.get_mut(key)
            && e.expires > now
        {
            if exprs && e.exprs != NO_EXPRS && !elem_exprs(p, e.exprs, &mut e.state, ctx) {
                return None;
            }
            return Some(e.value.map(CData::Value).unwrap_or(CData::None));
        }
    }
    let w = s.wildcard?;
    if exprs && !static_elem_exprs(p, st, s, w, ctx) {
        return None;
    }
    s.data.get(w as usize).copied()
}

/// Runs the expressions of static element `i` of `s`; false when one breaks.
#[inline]
fn static_elem_exprs(p: &Program, st: &mut RuleState, s: &CSet, i: u32, ctx: &PktCtx) -> bool {
    let Some(slot) = s.stateful else {
        return true;
    };
    let ex = s.elem_exprs.get(i as usize).copied().unwrap_or(NO_EXPRS);
    if ex == NO_EXPRS {
        return true;
    }
    elem_exprs(p, ex, &mut st.elem_static[slot as usize][i as usize], ctx)
}

/// `nft_set_elem_update_expr`: the element's expressions in order until one breaks.
#[inline]
fn elem_exprs(p: &Program, ex: u32, state: &mut ElemState, ctx: &PktCtx) -> bool {
    let ex = &p.elem_exprs[ex as usize];
    for (s, e) in state.iter_mut().zip(&ex.e).take(ex.n as usize) {
        let ok = match e {
            ElemExpr::Counter => {
                s.a += 1;
                s.b += ctx.len as u64;
                true
            }
            ElemExpr::Limit(l) => !limit_step(l, &mut s.a, &mut s.b, &mut s.init, ctx),
            ElemExpr::Quota(q) => {
                if !s.init {
                    s.init = true;
                    s.a = q.used;
                }
                !quota_step(q, &mut s.a, ctx)
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `nft_dynset_eval`: `delete` removes the element; `add`/`update` find the element or
/// create it (`nft_dynset_new`: NFT_BREAK when the set is full), `update` refreshes its
/// expiry, and then the element's expressions run (`nft_set_elem_update_expr`) — a limit over
/// its rate or a used-up quota breaks the rule. A new element takes the rule's expressions
/// (or the set's) with fresh state; an existing one keeps its own. Map data is written only
/// with a new element.
pub(super) fn set_update(
    p: &Program,
    st: &mut RuleState,
    u: &UpdateSpec,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    let mut k = [0u128; 4];
    if key_val(p, st, &p.keys[u.key as usize], ctx, host, &mut k).is_none() {
        return Flow::Break;
    }
    let s = &p.sets[u.set as usize];
    let Some(d) = s.dynamic else {
        return Flow::Next;
    };
    let now = ctx.now.0;
    if u.op == SetOp::Delete {
        st.dynsets[d as usize].map.remove(&k);
        return Flow::Next;
    }
    // An element added with the set (static): found, its expressions run.
    if let Some(i) = s.find(&k) {
        return if static_elem_exprs(p, st, s, i, ctx) {
            Flow::Next
        } else {
            Flow::Break
        };
    }
    let value = match &u.data {
        Some(v) => match vsrc(p, st, v, ctx, host, cost) {
            Some(x) => Some(x),
            None => return Flow::Break,
        },
        None => None,
    };
    let expires = match u.timeout_ms.or(s.timeout_ms) {
        Some(t) => now.saturating_add(t.saturating_mul(1_000_000)),
        None => u64::MAX,
    };
    let ds = &mut st.dynsets[d as usize];
    let e = match ds.map.get_mut(&k) {
        Some(e) if e.expires > now => {
            if u.op == SetOp::Update && e.expires != u64::MAX {
                e.expires = expires;
            }
            e
        }
        _ => {
            if s.max_size > 0 && (s.len() + ds.map.len()) as u64 >= s.max_size {
                // full (static elements count too): expired ones go first, as the kernel's
                // garbage collection would have removed them
                ds.map.retain(|_, e| e.expires > now);
                if (s.len() + ds.map.len()) as u64 >= s.max_size {
                    return Flow::Break;
                }
            }
            ds.map.insert(
                k,
                DynElem {
                    expires,
                    value,
                    exprs: u.exprs,
                    state: ElemState::default(),
                },
            );
            match ds.map.get_mut(&k) {
                Some(e) => e,
                None => return Flow::Break,
            }
        }
    };
    if e.exprs != NO_EXPRS && !elem_exprs(p, e.exprs, &mut e.state, ctx) {
        return Flow::Break;
    }
    Flow::Next
}

/// The value of a statement operand: a constant, a selector, or a map lookup.
#[inline]
pub(super) fn vsrc(
    p: &Program,
    st: &mut RuleState,
    v: &VSrc,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Option<u128> {
    match v {
        VSrc::Const(c) => Some(*c),
        VSrc::Src(s) => src_val(p, st, s, ctx, host),
        VSrc::Map { key, set } => {
            let mut k = [0u128; 4];
            key_val(p, st, &p.keys[*key as usize], ctx, host, &mut k)?;
            match lookup_set(p, st, *set, &k, ctx, cost, true)? {
                CData::Value(v) => Some(v),
                _ => None,
            }
        }
    }
}
