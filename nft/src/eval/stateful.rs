//! Limits and quotas: one token-bucket or budget step per packet, for `limit`/`quota`
//! statements, named objects and set element expressions.

use super::{Flow, PktCtx, RuleState};
use crate::program::{LimitSpec, Program, QuotaSpec};

/// Kernel `nft_limit_eval` on a rule's `limit` (or a named limit): returns Break when over
/// the rate (or under, with `over`).
#[inline]
pub(super) fn limit(p: &Program, st: &mut RuleState, slot: u32, ctx: &PktCtx) -> Flow {
    let l = &p.limits[slot as usize];
    let b = &mut st.buckets[slot as usize];
    if limit_step(l, &mut b.tokens, &mut b.last, &mut b.init, ctx) {
        Flow::Break
    } else {
        Flow::Next
    }
}

/// One token-bucket step (`nft_limit_eval`; tokens in ns, the bucket starts full); true =
/// break.
#[inline]
pub(super) fn limit_step(
    l: &LimitSpec,
    tokens_now: &mut u64,
    last: &mut u64,
    init: &mut bool,
    ctx: &PktCtx,
) -> bool {
    let now = ctx.now.0;
    if !*init {
        *init = true;
        *tokens_now = l.tokens_max;
        *last = now;
    }
    let cost = if l.bytes {
        ((l.nsecs as u128 * ctx.len as u128) / l.rate.max(1) as u128) as u64
    } else {
        l.nsecs / l.rate.max(1)
    };
    let mut tokens = tokens_now.saturating_add(now.saturating_sub(*last));
    if tokens > l.tokens_max {
        tokens = l.tokens_max;
    }
    *last = now.max(*last);
    let over = if tokens >= cost {
        *tokens_now = tokens - cost;
        false
    } else {
        *tokens_now = tokens;
        true
    };
    // nft_limit_eval returns `invert` when under the rate, `!invert` when over
    over != l.invert
}

/// Kernel `nft_quota_do_eval`: `consumed += len; over = consumed >= quota`.
#[inline]
pub(super) fn quota(p: &Program, st: &mut RuleState, slot: u32, ctx: &PktCtx) -> Flow {
    let q = &p.quotas[slot as usize];
    if quota_step(q, &mut st.quota_used[slot as usize], ctx) {
        Flow::Break
    } else {
        Flow::Next
    }
}

/// One quota step; true = break.
#[inline]
pub(super) fn quota_step(q: &QuotaSpec, used: &mut u64, ctx: &PktCtx) -> bool {
    *used = used.saturating_add(ctx.len as u64);
    let over = *used >= q.bytes;
    over != q.invert
}
