//! The chain walk (`nft_do_chain`) and one function per operation.

use super::load::{key_val, src_val};
use super::sets::{lookup_set, set_update, vsrc};
use super::stateful::{limit, quota};
use super::{CtView, DropReason, EvalCost, Flow, Host, NatRequest, PktCtx, RuleState, Verdict};
use crate::program::*;
use crate::ruleset::Ruleset;

const STACK: usize = 16;

/// Evaluates base chain `chain` for one packet. Returns the chain's verdict; counters,
/// limits, quotas and dynamic sets in `st` are updated, and `cost` accumulates the work.
pub fn eval_chain(
    rs: &Ruleset,
    st: &mut RuleState,
    chain: ChainId,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Verdict {
    cost.base_chains += 1;
    // The expressions the rules ran, one row per rule, added to `cost` once per chain.
    let mut ran = CostRow::default();
    let v = walk(&rs.prog, st, chain, ctx, host, cost, &mut ran);
    cost.add_row(&ran);
    v
}

/// The chain walk of [`eval_chain`]; the rules' expressions go to `ran`, the rest to `cost`.
fn walk(
    p: &Program,
    st: &mut RuleState,
    chain: ChainId,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
    ran: &mut CostRow,
) -> Verdict {
    let base = chain as usize;
    let mut stack = [(0u32, 0u32); STACK];
    let mut sp = 0usize;
    let mut cur = chain;
    let mut ri = 0u32;
    // the rule a run sent the walk to, which runs as any other (`pass_run`)
    let mut landed = NO_RUN;
    loop {
        let c = &p.chains[cur as usize];
        if ri >= c.n_rules {
            if cur as usize == base {
                st.policy[base].fallthrough.hit(ctx.len);
                return policy(p, st, base, ctx);
            }
            if sp == 0 {
                // end of a chain reached by goto from the base chain
                return policy(p, st, base, ctx);
            }
            sp -= 1;
            (cur, ri) = stack[sp];
            continue;
        }
        let rid = c.first_rule + ri;
        let run = p.run_of[rid as usize];
        if run != NO_RUN && rid != landed {
            let to = pass_run(p, st, &p.runs[run as usize], rid, ctx, host, ran);
            // a rule whose compare held runs next; past the run, the next rule may start one
            landed = if p.run_of.get(to as usize) == Some(&run) {
                to
            } else {
                NO_RUN
            };
            ri = to - c.first_rule;
            continue;
        }
        if let Some(t) = st.tally.as_deref_mut() {
            t.cur = rid;
        }
        let r = &p.rules[rid as usize];
        // every rule has an op: its implicit counter at least
        let mut i = r.first_op as usize;
        let last = i + r.n_ops as usize - 1;
        let (fl, full) = loop {
            let (f, full) = exec(p, st, rid, &p.ops[i], ctx, host, cost);
            if i == last || !matches!(f, Flow::Next) {
                break (f, full);
            }
            i += 1;
        };
        // What the rule ran, up to op `i` (`EvalCost`'s per-kind counts); per rule for
        // `rules eval` as a count of where it stopped.
        ran.add(&p.cost_rows[p.stop_row[i][usize::from(full)] as usize]);
        if let Some(t) = st.tally.as_deref_mut() {
            t.stop(i, full);
        }
        match fl {
            Flow::Next | Flow::Break => ri += 1,
            Flow::Verdict(v) => match v {
                CVerdict::Accept => return Verdict::Accept,
                CVerdict::Drop => return Verdict::Drop(DropReason::Rule),
                CVerdict::Reject(r) => {
                    host.reject(r, ctx);
                    return Verdict::Drop(DropReason::Reject);
                }
                CVerdict::NatDrop => return Verdict::Drop(DropReason::Nat),
                CVerdict::Queue(n) => return Verdict::Queue(n),
                CVerdict::Fwd(d) => return Verdict::Fwd(d),
                CVerdict::Continue => ri += 1,
                CVerdict::Return => {
                    if sp == 0 {
                        return policy(p, st, base, ctx);
                    }
                    sp -= 1;
                    (cur, ri) = stack[sp];
                }
                CVerdict::Jump(t) => {
                    jumped(st, cost);
                    if sp >= STACK {
                        return Verdict::Drop(DropReason::JumpStackOverflow);
                    }
                    stack[sp] = (cur, ri + 1);
                    sp += 1;
                    cur = t;
                    ri = 0;
                }
                CVerdict::Goto(t) => {
                    jumped(st, cost);
                    cur = t;
                    ri = 0;
                }
            },
        }
    }
}

/// The rule just run jumped (or went to) another chain: the chain switch's cost, and the
/// rule's in `rules eval`.
#[inline]
fn jumped(st: &mut RuleState, cost: &mut EvalCost) {
    cost.jumps += 1;
    if let Some(t) = st.tally.as_deref_mut() {
        t.jump();
    }
}

/// Passes over the rules of `run` from rule `rid` that stop at their first operation: the
/// compare fails (or its field is missing). Returns the rule id of the first one whose
/// compare holds (which then runs), or the rule after the run.
#[inline(never)]
fn pass_run(
    p: &Program,
    st: &mut RuleState,
    run: &EqRun,
    rid: u32,
    ctx: &PktCtx,
    host: &mut impl Host,
    ran: &mut CostRow,
) -> u32 {
    let from = rid - run.first;
    let (to, full) = match src_val(p, st, &run.src, ctx, host) {
        Some(v) => (run.next(v, from), true),
        None => (run.len, false),
    };
    let n = to - from;
    if n > 0 {
        ran.add_times(&p.cost_rows[run.rows[usize::from(full)] as usize], n);
        if let Some(t) = st.tally.as_deref_mut() {
            t.passed(rid, run.first + to, run.first + run.len, full);
        }
    }
    run.first + to
}

fn policy(p: &Program, st: &mut RuleState, base: usize, ctx: &PktCtx) -> Verdict {
    st.policy[base].total.hit(ctx.len);
    if p.chains[base].policy_accept {
        Verdict::Accept
    } else {
        Verdict::Drop(DropReason::Policy)
    }
}

/// A match result: go on, or end the rule.
#[inline]
fn flow(ok: bool) -> Flow {
    if ok { Flow::Next } else { Flow::Break }
}

/// A counter statement (or the implicit counter): packets and L3 bytes.
#[inline]
fn hit(c: &mut Counter, ctx: &PktCtx) -> Flow {
    c.hit(ctx.len);
    Flow::Next
}

/// Runs one operation of rule `rid`. Also says whether the operation ran to the end: a
/// match whose field is missing breaks in its dependency (or its load), before its own
/// compare or lookup ([`crate::program::CostRow`]).
#[allow(clippy::too_many_arguments)]
fn exec(
    p: &Program,
    st: &mut RuleState,
    rid: u32,
    op: &Op,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> (Flow, bool) {
    macro_rules! val {
        ($s:expr) => {
            match src_val(p, st, $s, ctx, host) {
                Some(v) => v,
                None => return (Flow::Break, false),
            }
        };
    }
    let f = match op {
        Op::Cmp { src, op, val } => flow(cmp(*op, val!(src), *val)),
        Op::Flags { src, mask } => flow(val!(src) & mask != 0),
        Op::Range { src, lo, hi, neg } => {
            let v = val!(src);
            flow((v >= *lo && v <= *hi) != *neg)
        }
        Op::BoolCmp { src, want } => flow((val!(src) != 0) == *want),
        Op::Lookup { key, set, neg } => match lookup(p, st, *key, *set, *neg, ctx, host, cost) {
            Some(f) => f,
            None => return (Flow::Break, false),
        },
        Op::Vmap { key, set } => match vmap(p, st, *key, *set, ctx, host, cost) {
            Some(f) => f,
            None => return (Flow::Break, false),
        },
        Op::Verdict(v) => Flow::Verdict(*v),
        Op::Implicit => hit(&mut st.implicit[rid as usize], ctx),
        Op::SetUpdate(i) => set_update(p, st, &p.updates[*i as usize], ctx, host, cost),
        Op::Queue { num, bypass } => queue(p, st, num, *bypass, ctx, host, cost),
        Op::Fwd { dev } => match vsrc(p, st, dev, ctx, host, cost) {
            Some(d) => Flow::Verdict(CVerdict::Fwd(d as u32)),
            None => return (Flow::Break, false),
        },
        Op::Counter(slot) => hit(&mut st.counters[*slot as usize], ctx),
        Op::NamedCounter(obj) => hit(&mut st.named[*obj as usize], ctx),
        Op::ObjMap { key, set, kind } => obj_map(p, st, *key, *set, *kind, ctx, host, cost),
        Op::Limit(slot) => limit(p, st, *slot, ctx),
        Op::Quota(slot) => quota(p, st, *slot, ctx),
        Op::Log | Op::Nop => Flow::Next,
        Op::Notrack => notrack(ctx, host),
        Op::FlowAdd(ft) => flow(host.flow_add(*ft, ctx)),
        Op::SetMark(v) => set_mark(p, st, v, ctx, host, cost),
        Op::SetCtMark(v) => set_ct_mark(p, st, v, ctx, host, cost),
        Op::SetPayload { field, value } => match vsrc(p, st, value, ctx, host, cost) {
            Some(x) => set_payload(ctx, *field, x),
            None => Flow::Break,
        },
        Op::Nat(i) => nat(p, st, &p.nats[*i as usize], ctx, host, cost),
        Op::CtHelper(obj) => {
            host.ct_helper(*obj, ctx);
            Flow::Next
        }
        Op::CtTimeout(obj) => {
            host.ct_timeout(*obj, ctx);
            Flow::Next
        }
    };
    (f, true)
}

#[inline]
fn cmp(op: CmpOp, v: u128, c: u128) -> bool {
    match op {
        CmpOp::Eq => v == c,
        CmpOp::Ne => v != c,
        CmpOp::Lt => v < c,
        CmpOp::Gt => v > c,
        CmpOp::Le => v <= c,
        CmpOp::Ge => v >= c,
    }
}

/// Set membership (`nft_lookup_eval`, with `invert` for `!=`); `None` when the key's field
/// is missing.
#[allow(clippy::too_many_arguments)]
#[inline]
fn lookup(
    p: &Program,
    st: &mut RuleState,
    key: u32,
    set: u32,
    neg: bool,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Option<Flow> {
    let mut k = [0u128; 4];
    key_val(p, st, &p.keys[key as usize], ctx, host, &mut k)?;
    // an inverted lookup runs no element expressions (`found ^ invert` fails first)
    let hit = lookup_set(p, st, set, &k, ctx, cost, !neg).is_some();
    Some(flow(hit != neg))
}

/// A verdict map: the verdict of the element found, else the rule ends (`None`: the key's
/// field is missing).
#[inline]
fn vmap(
    p: &Program,
    st: &mut RuleState,
    key: u32,
    set: u32,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Option<Flow> {
    let mut k = [0u128; 4];
    key_val(p, st, &p.keys[key as usize], ctx, host, &mut k)?;
    Some(match lookup_set(p, st, set, &k, ctx, cost, true) {
        Some(CData::Verdict(v)) => Flow::Verdict(v),
        _ => Flow::Break,
    })
}

/// `notrack`: the packet's conntrack view becomes untracked.
fn notrack(ctx: &mut PktCtx, host: &mut impl Host) -> Flow {
    ctx.ct = CtView::Untracked;
    host.notrack(ctx);
    Flow::Next
}

/// `meta mark set VALUE`.
fn set_mark(
    p: &Program,
    st: &mut RuleState,
    v: &VSrc,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    let Some(x) = vsrc(p, st, v, ctx, host, cost) else {
        return Flow::Break;
    };
    ctx.mark = x as u32;
    Flow::Next
}

/// `ct mark set VALUE` (no effect on an untracked packet).
fn set_ct_mark(
    p: &Program,
    st: &mut RuleState,
    v: &VSrc,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    let Some(x) = vsrc(p, st, v, ctx, host, cost) else {
        return Flow::Break;
    };
    if let CtView::Tracked(c) = &mut ctx.ct {
        c.mark = x as u32;
    }
    Flow::Next
}

/// `counter|quota|limit name KEY map { ... }`, `ct helper|timeout set KEY map { ... }`: the
/// object the lookup finds.
#[allow(clippy::too_many_arguments)]
fn obj_map(
    p: &Program,
    st: &mut RuleState,
    key: u32,
    set: u32,
    kind: ObjMapKind,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    let mut k = [0u128; 4];
    if key_val(p, st, &p.keys[key as usize], ctx, host, &mut k).is_none() {
        return Flow::Break;
    }
    let Some(CData::Obj(o)) = lookup_set(p, st, set, &k, ctx, cost, true) else {
        return Flow::Break;
    };
    match kind {
        ObjMapKind::Counter => {
            st.named[o as usize].hit(ctx.len);
            Flow::Next
        }
        ObjMapKind::Quota => quota(p, st, o, ctx),
        ObjMapKind::Limit => limit(p, st, o, ctx),
        ObjMapKind::CtHelper => {
            host.ct_helper(o, ctx);
            Flow::Next
        }
        ObjMapKind::CtTimeout => {
            host.ct_timeout(o, ctx);
            Flow::Next
        }
    }
}

/// Payload `set` statements (`nft_payload_set_eval`) on the fields offsim models.
fn set_payload(ctx: &mut PktCtx, f: PayloadField, x: u128) -> Flow {
    let k = &mut ctx.pkt;
    if !k.is_ip() {
        return Flow::Break;
    }
    match f {
        PayloadField::Dscp(v) if k.ip_version == v => k.dscp = (x & 0x3f) as u8,
        PayloadField::Ecn(v) if k.ip_version == v => k.ecn = (x & 3) as u8,
        PayloadField::Ttl(v) if k.ip_version == v => k.ttl = x as u8,
        PayloadField::Saddr(v) if k.ip_version == v => k.src = x,
        PayloadField::Daddr(v) if k.ip_version == v => k.dst = x,
        PayloadField::Sport(pr)
            if k.l4_present() && k.has_ports() && (pr == 0 || k.l4proto == pr) =>
        {
            k.sport = x as u16
        }
        PayloadField::Dport(pr)
            if k.l4_present() && k.has_ports() && (pr == 0 || k.l4proto == pr) =>
        {
            k.dport = x as u16
        }
        _ => return Flow::Break,
    }
    Flow::Next
}

/// A NAT statement (`nft_nat_eval`): the address and port ranges, from constants,
/// expressions or a map, handed to the host.
fn nat(
    p: &Program,
    st: &mut RuleState,
    n: &NatSpec,
    ctx: &mut PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    let mut req = NatRequest {
        kind: n.kind,
        family: n.family,
        addr: None,
        port: None,
        flags: n.flags,
    };
    // an `addr . port` map gives the port with the address
    let Some((addr, map_port)) = nat_operand(p, st, &n.addr, ctx, host, cost) else {
        return Flow::Break;
    };
    req.addr = addr;
    req.port = map_port;
    match nat_operand(p, st, &n.port, ctx, host, cost) {
        Some((port, None)) => {
            if let Some((a, b)) = port {
                req.port = Some((a as u16, b as u16));
            }
        }
        _ => return Flow::Break,
    }
    match host.nat(&req, ctx) {
        Verdict::Accept => Flow::Verdict(CVerdict::Accept),
        Verdict::Queue(q) => Flow::Verdict(CVerdict::Queue(q)),
        Verdict::Fwd(d) => Flow::Verdict(CVerdict::Fwd(d)),
        Verdict::Drop(_) => Flow::Verdict(CVerdict::NatDrop),
    }
}

/// A NAT operand: its range (inclusive; `None` when not given), and the port range an
/// `addr . port` map element adds. `None` breaks the rule.
type NatOperand = (Option<(u128, u128)>, Option<(u16, u16)>);

fn nat_operand(
    p: &Program,
    st: &mut RuleState,
    v: &NatVal,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Option<NatOperand> {
    Some(match v {
        NatVal::None => (None, None),
        NatVal::Range(a, b) => (Some((*a, *b)), None),
        NatVal::Src(v) => {
            let x = vsrc(p, st, v, ctx, host, cost)?;
            (Some((x, x)), None)
        }
        NatVal::Map { key, set } => {
            let mut k = [0u128; 4];
            key_val(p, st, &p.keys[*key as usize], ctx, host, &mut k)?;
            match lookup_set(p, st, *set, &k, ctx, cost, true)? {
                CData::Value(v) => (Some((v, v)), None),
                CData::Range(a, b) => (Some((a, b)), None),
                CData::AddrPort { addr, port } => (Some(addr), Some(port)),
                _ => return None,
            }
        }
    })
}

/// `queue` (`nft_queue_eval` / `nft_queue_sreg_eval`): NF_QUEUE_NR(num), with the bypass
/// flag; `nf_hook_slow` → `nf_queue`: no queue handler or no bound instance is -ESRCH, which
/// drops the packet, or with bypass continues with the next hook entry. offsim has no
/// userspace listener.
fn queue(
    p: &Program,
    st: &mut RuleState,
    num: &VSrc,
    bypass: bool,
    ctx: &PktCtx,
    host: &mut impl Host,
    cost: &mut EvalCost,
) -> Flow {
    let Some(n) = vsrc(p, st, num, ctx, host, cost) else {
        return Flow::Break;
    };
    if bypass {
        Flow::Verdict(CVerdict::Accept)
    } else {
        Flow::Verdict(CVerdict::Queue(n as u16))
    }
}
