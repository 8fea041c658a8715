//! Compiles the statements of a normalised rule into [`Op`]s, one function per statement
//! kind, and adds the implicit counter that `offsim rules eval` reports for rules without a
//! `counter` statement.

use std::collections::HashMap;
use std::ops::Range;

use super::TableScope;
use super::cost::DepCtx;
use super::sets::SetDesc;
use crate::ast::*;
use crate::error::{NftError, SourceMap};
use crate::layout::range_of;
use crate::normalize::mk_err;
use crate::program::*;
use crate::types::{DType, Value, ifname_string};

type R<T> = Result<T, String>;

/// Statements that end a rule's evaluation (the implicit counter stands before the first).
fn is_terminal(s: &Stmt) -> bool {
    matches!(
        s,
        Stmt::Verdict(_)
            | Stmt::Vmap { .. }
            | Stmt::Reject(_)
            | Stmt::Queue { .. }
            | Stmt::Nat(_)
            | Stmt::Fwd { .. }
    )
}

fn verdict_of(v: &Verdict, chains: &[(String, ChainId)]) -> R<CVerdict> {
    let find = |n: &str| {
        chains
            .iter()
            .find(|(x, _)| x == n)
            .map(|(_, i)| *i)
            .ok_or_else(|| format!("chain '{n}' does not exist"))
    };
    Ok(match v {
        Verdict::Accept => CVerdict::Accept,
        Verdict::Drop => CVerdict::Drop,
        Verdict::Continue => CVerdict::Continue,
        Verdict::Return => CVerdict::Return,
        Verdict::Jump(c) => CVerdict::Jump(find(c)?),
        Verdict::Goto(c) => CVerdict::Goto(find(c)?),
    })
}

fn value_u128(e: &Expr) -> Option<u128> {
    match e {
        Expr::Value(Value { v, .. }) => Some(*v),
        _ => None,
    }
}

/// The comparison a normalised relational operator compiles to (`In` is a flag test, not a
/// comparison; `Not` was normalised away).
fn cmp_op(op: RelOp) -> Option<CmpOp> {
    Some(match op {
        RelOp::Eq | RelOp::Implicit => CmpOp::Eq,
        RelOp::Ne => CmpOp::Ne,
        RelOp::Lt => CmpOp::Lt,
        RelOp::Gt => CmpOp::Gt,
        RelOp::Le => CmpOp::Le,
        RelOp::Ge => CmpOp::Ge,
        RelOp::In | RelOp::Not => return None,
    })
}

/// Bit widths of the fields of an anonymous set's key, from its first element.
fn anon_key_widths(el: &[SetElem]) -> Vec<u32> {
    fn bits(e: &Expr) -> u32 {
        match e {
            Expr::Value(v) => v.ty.bits(),
            Expr::Prefix(a, _) | Expr::Range(a, _) => bits(a),
            _ => 128,
        }
    }
    match el
        .iter()
        .map(|e| &e.key)
        .find(|k| !matches!(k, Expr::Wildcard))
    {
        Some(Expr::Concat(p)) => p.iter().map(bits).collect(),
        Some(k) => vec![bits(k)],
        None => vec![128],
    }
}

/// What one rule compiled to, for [`crate::RuleInfo`].
pub(crate) struct CompiledRule {
    /// Its operations in [`Program::ops`].
    pub(crate) rule: CRule,
    /// Slots of its counter statements.
    pub(crate) counter_slots: Range<usize>,
    /// Named counters it uses (object ids).
    pub(crate) named_counters: Vec<usize>,
}

/// The ops of the rule being compiled and what it counts with.
struct RuleOps {
    ops: Vec<Op>,
    /// What each op costs in kernel expressions (same index as `ops`).
    costs: Vec<OpCost>,
    /// Counter statements so far.
    slots: usize,
    /// Named counters used.
    named: Vec<usize>,
}

impl RuleOps {
    fn push(&mut self, op: Op) {
        self.ops.push(op);
        self.costs.push(OpCost::default());
    }
}

/// Builds the [`Program`] rule by rule.
#[derive(Default)]
pub(crate) struct Compiler {
    /// The program so far.
    pub(crate) prog: Program,
    /// Index of each row of [`Program::cost_rows`], to share them.
    rows: HashMap<CostRow, u32>,
}

impl Compiler {
    /// The index of `r` in [`Program::cost_rows`], added when new.
    fn row(&mut self, r: CostRow) -> u32 {
        let rows = &mut self.prog.cost_rows;
        *self.rows.entry(r).or_insert_with(|| {
            rows.push(r);
            rows.len() as u32 - 1
        })
    }

    /// Compiles a rule's statements into [`Program::ops`]. Without a counter statement the
    /// rule counts as if one stood just before its first terminal statement (or at its end).
    /// Errors carry the span of the statement.
    pub(crate) fn rule(
        &mut self,
        sm: &SourceMap,
        sc: &TableScope,
        r: &Rule,
    ) -> Result<CompiledRule, NftError> {
        let slot0 = self.prog.n_counters;
        let mut out = RuleOps {
            ops: Vec::new(),
            costs: Vec::new(),
            slots: 0,
            named: Vec::new(),
        };
        let mut implicit_done = r
            .stmts
            .iter()
            .any(|s| matches!(s, Stmt::Counter | Stmt::CounterRef(_)));
        let mut deps = DepCtx::new(sc.family);
        for (si, s) in r.stmts.iter().enumerate() {
            if !implicit_done && is_terminal(s) {
                // offsim's own counter: no kernel expression
                out.push(Op::Implicit);
                implicit_done = true;
            }
            let sp = r.stmt_spans.get(si).copied().unwrap_or(r.span);
            self.stmt(sc, s, &mut out).map_err(|m| mk_err(sm, sp, m))?;
            if let Some(c) = out.costs.last_mut() {
                *c = deps.stmt(s);
            }
        }
        if !implicit_done {
            out.push(Op::Implicit);
        }
        let first_op = self.prog.ops.len() as u32;
        self.prog.ops.extend(out.ops);
        for rows in super::cost::stop_rows(&out.costs) {
            let ids = rows.map(|r| self.row(r));
            self.prog.stop_row.push(ids);
        }
        Ok(CompiledRule {
            rule: CRule {
                first_op,
                n_ops: self.prog.ops.len() as u32 - first_op,
            },
            counter_slots: slot0..slot0 + out.slots,
            named_counters: out.named,
        })
    }

    /// Map data of an element: a verdict, an object (by kind), a value, a range, or the
    /// address and port ranges of a NAT map.
    pub(crate) fn data_conv(sc: &TableScope, d: &Expr, objkind: Option<&str>) -> R<CData> {
        Ok(match d {
            Expr::Verdict(v) => CData::Verdict(verdict_of(v, sc.chains)?),
            Expr::Value(v) if v.ty == DType::Str => {
                let name = ifname_string(v.v);
                let k = objkind.unwrap_or("");
                let o = sc
                    .objects
                    .iter()
                    .find(|(kk, n, _, _)| (k.is_empty() || kk == k) && *n == name)
                    .ok_or_else(|| format!("object '{name}' does not exist"))?;
                CData::Obj(if matches!(k, "quota" | "limit") {
                    o.3
                } else {
                    o.2
                })
            }
            Expr::Value(v) => CData::Value(v.v),
            Expr::Range(a, b) => {
                CData::Range(value_u128(a).unwrap_or(0), value_u128(b).unwrap_or(0))
            }
            Expr::Prefix(..) => {
                let (lo, hi) = range_of(d)?;
                CData::Range(lo, hi)
            }
            Expr::Concat(p) if p.len() == 2 => {
                let addr = range_of(&p[0])?;
                let (plo, phi) = range_of(&p[1])?;
                CData::AddrPort {
                    addr,
                    port: (plo as u16, phi as u16),
                }
            }
            other => return Err(format!("unsupported: map data {other}")),
        })
    }

    /// Anonymous set or named set reference → compiled set id.
    fn set_ref(&mut self, sc: &TableScope, e: &Expr, objkind: Option<&str>) -> R<u32> {
        match e {
            Expr::SetRef(n) => sc
                .sets
                .iter()
                .find(|(x, _)| x == n)
                .map(|(_, i)| *i)
                .ok_or_else(|| format!("set @{n} does not exist")),
            Expr::Set(el) => {
                let widths = anon_key_widths(el);
                let datas: Vec<R<CData>> = el
                    .iter()
                    .map(|e| match &e.data {
                        Some(d) => Self::data_conv(sc, d, objkind),
                        None => Ok(CData::None),
                    })
                    .collect();
                // build_set asks for the data of elements that have some; give every element
                // a placeholder and feed the converted data in order
                let mut it = datas.into_iter();
                let mut f = |_: &Expr| it.next().unwrap_or(Ok(CData::None));
                let el2: Vec<SetElem> = el
                    .iter()
                    .map(|e| SetElem {
                        data: Some(e.data.clone().unwrap_or(Expr::Wildcard)),
                        ..e.clone()
                    })
                    .collect();
                // nft sends an anonymous set's size; maps and object maps have data
                let desc = SetDesc {
                    size_known: true,
                    map: objkind.is_some() || el.iter().any(|e| e.data.is_some()),
                    ..SetDesc::default()
                };
                self.prog.build_set(&widths, &el2, &mut f, false, desc)
            }
            Expr::Value(_) | Expr::Prefix(..) | Expr::Range(..) | Expr::Concat(_) => {
                let el = vec![SetElem::plain(e.clone())];
                self.set_ref(sc, &Expr::Set(el), objkind)
            }
            other => Err(format!("expected a set, got {other}")),
        }
    }

    /// A lookup: the key and the set, the key laid out like the set's fields.
    fn lookup(
        &mut self,
        sc: &TableScope,
        key: &Expr,
        set: &Expr,
        objkind: Option<&str>,
    ) -> R<(u32, u32)> {
        let k = self.prog.key_of(key, sc)?;
        let s = self.set_ref(sc, set, objkind)?;
        self.prog.bind_key(k, s)?;
        Ok((k, s))
    }

    fn vsrc(&mut self, sc: &TableScope, e: &Expr) -> R<VSrc> {
        Ok(match e {
            Expr::Value(v) => VSrc::Const(v.v),
            Expr::Map(k, d) => {
                let (key, set) = self.lookup(sc, k, d, None)?;
                VSrc::Map { key, set }
            }
            e => VSrc::Src(self.prog.src_of(e, sc)?),
        })
    }

    fn natval(&mut self, sc: &TableScope, e: &Option<Expr>) -> R<NatVal> {
        Ok(match e {
            None => NatVal::None,
            Some(Expr::Value(v)) => NatVal::Range(v.v, v.v),
            Some(e @ (Expr::Range(..) | Expr::Prefix(..))) => {
                let (a, b) = range_of(e)?;
                NatVal::Range(a, b)
            }
            Some(Expr::Map(k, d)) => {
                let (key, set) = self.lookup(sc, k, d, None)?;
                NatVal::Map { key, set }
            }
            Some(e) => NatVal::Src(self.vsrc(sc, e)?),
        })
    }

    /// A named object of `kind`: its object id and its limit/quota slot.
    fn obj_index(sc: &TableScope, kind: &str, e: &Expr) -> R<(u32, u32)> {
        let Expr::Value(v) = e else {
            return Err("expected an object name".into());
        };
        let name = ifname_string(v.v);
        sc.objects
            .iter()
            .find(|(k, n, _, _)| k == kind && *n == name)
            .map(|o| (o.2, o.3))
            .ok_or_else(|| format!("{kind} '{name}' does not exist"))
    }

    /// `counter|limit|quota name X`, `ct helper|timeout set X`: a lookup in an object map
    /// (`X` is `KEY map ...`), or the named object, whose id and slot `named` makes an op of.
    fn obj_ref(
        &mut self,
        sc: &TableScope,
        e: &Expr,
        kind: &str,
        map_kind: ObjMapKind,
        named: impl FnOnce(u32, u32) -> Op,
    ) -> R<Op> {
        Ok(match e {
            Expr::Map(k, d) => {
                let (key, set) = self.lookup(sc, k, d, Some(kind))?;
                Op::ObjMap {
                    key,
                    set,
                    kind: map_kind,
                }
            }
            e => {
                let (obj, slot) = Self::obj_index(sc, kind, e)?;
                named(obj, slot)
            }
        })
    }

    fn stmt(&mut self, sc: &TableScope, s: &Stmt, out: &mut RuleOps) -> R<()> {
        match s {
            Stmt::Match {
                left, op, right, ..
            } => {
                let op = self.match_stmt(sc, left, *op, right)?;
                out.push(op);
            }
            Stmt::Verdict(v) => out.push(Op::Verdict(verdict_of(v, sc.chains)?)),
            Stmt::Vmap { key, data } => {
                let (k, set) = self.lookup(sc, key, data, None)?;
                out.push(Op::Vmap { key: k, set });
            }
            Stmt::Counter => {
                out.push(Op::Counter(self.prog.n_counters as u32));
                self.prog.n_counters += 1;
                out.slots += 1;
            }
            Stmt::CounterRef(e) => {
                let named = &mut out.named;
                let op = self.obj_ref(sc, e, "counter", ObjMapKind::Counter, |o, _| {
                    named.push(o as usize);
                    Op::NamedCounter(o)
                })?;
                out.push(op);
            }
            Stmt::LimitRef(e) => {
                let op =
                    self.obj_ref(sc, e, "limit", ObjMapKind::Limit, |_, slot| Op::Limit(slot))?;
                out.push(op);
            }
            Stmt::QuotaRef(e) => {
                let op =
                    self.obj_ref(sc, e, "quota", ObjMapKind::Quota, |_, slot| Op::Quota(slot))?;
                out.push(op);
            }
            Stmt::CtHelperSet(e) => {
                let op = self.obj_ref(sc, e, "ct helper", ObjMapKind::CtHelper, |o, _| {
                    Op::CtHelper(o)
                })?;
                out.push(op);
            }
            Stmt::CtTimeoutSet(e) => {
                let op = self.obj_ref(sc, e, "ct timeout", ObjMapKind::CtTimeout, |o, _| {
                    Op::CtTimeout(o)
                })?;
                out.push(op);
            }
            Stmt::Limit(l) => {
                self.prog.limits.push(Program::limit_spec(l));
                out.push(Op::Limit(self.prog.limits.len() as u32 - 1));
            }
            Stmt::Quota(q) => {
                self.prog.quotas.push(Program::quota_spec(q));
                out.push(Op::Quota(self.prog.quotas.len() as u32 - 1));
            }
            Stmt::Log(_) => out.push(Op::Log),
            Stmt::Notrack => out.push(Op::Notrack),
            Stmt::FlowAdd(ft) => {
                let id = sc
                    .flowtables
                    .iter()
                    .find(|(n, _)| n == ft)
                    .map(|(_, i)| *i)
                    .ok_or_else(|| format!("flowtable @{ft} does not exist"))?;
                out.push(Op::FlowAdd(id));
            }
            Stmt::Mangle { key, value } => {
                let op = self.mangle(sc, key, value)?;
                out.push(op);
            }
            Stmt::Nat(n) => {
                let op = self.nat(sc, n)?;
                out.push(op);
            }
            Stmt::Reject(r) => out.push(Op::Verdict(CVerdict::Reject(match r {
                RejectStmt::TcpReset => Reject::TcpReset,
                RejectStmt::Icmp(c) => Reject::Icmp(*c),
                RejectStmt::Icmpv6(c) => Reject::Icmpv6(*c),
                RejectStmt::Icmpx(c) => Reject::Icmpx(*c),
                // Normalisation gives every `reject` its family's type.
                RejectStmt::Default => Reject::Icmpx(1),
            }))),
            Stmt::Queue { num, flags } => {
                let op = self.queue(sc, num, flags)?;
                out.push(op);
            }
            Stmt::Fwd { dev, .. } => {
                // The neighbour form's next hop only picks the link-layer address.
                let dev = self.vsrc(sc, dev)?;
                out.push(Op::Fwd { dev });
            }
            Stmt::SetUpdate {
                op,
                set,
                key,
                timeout,
                stmts,
                data,
            } => {
                let op = self.set_update(sc, *op, set, key, *timeout, stmts, data)?;
                out.push(op);
            }
            Stmt::Unsupported(s) => return Err(format!("unsupported: {s}")),
        }
        Ok(())
    }

    /// `LEFT OP RIGHT`: a comparison, a flag test, a range, `exists`/`missing`, or a set
    /// lookup (always for concatenations).
    fn match_stmt(&mut self, sc: &TableScope, left: &Expr, op: RelOp, right: &Expr) -> R<Op> {
        if let Expr::Concat(_) = left {
            let (key, set) = self.lookup(sc, left, right, None)?;
            return Ok(Op::Lookup {
                key,
                set,
                neg: op == RelOp::Ne,
            });
        }
        Ok(match right {
            Expr::Value(v) => {
                let src = self.prog.src_of(left, sc)?;
                match (op, cmp_op(op)) {
                    (RelOp::In, _) => Op::Flags { src, mask: v.v },
                    (_, Some(op)) => Op::Cmp { src, op, val: v.v },
                    (_, None) => return Err("internal: unnormalised !".into()),
                }
            }
            Expr::Bool(b) => {
                let src = self.prog.src_of(left, sc)?;
                Op::BoolCmp { src, want: *b }
            }
            Expr::Prefix(..) | Expr::Range(..) => {
                let src = self.prog.src_of(left, sc)?;
                let (lo, hi) = range_of(right)?;
                Op::Range {
                    src,
                    lo,
                    hi,
                    neg: op == RelOp::Ne,
                }
            }
            Expr::Set(_) | Expr::SetRef(_) => {
                let (key, set) = self.lookup(sc, left, right, None)?;
                Op::Lookup {
                    key,
                    set,
                    neg: op == RelOp::Ne,
                }
            }
            other => return Err(format!("unsupported: match against {other}")),
        })
    }

    /// `KEY set VALUE`: meta mark, ct mark, payload fields; MSS clamping, security marks
    /// and `meta nftrace` change nothing the simulation decides.
    fn mangle(&mut self, sc: &TableScope, key: &Expr, value: &Expr) -> R<Op> {
        match key {
            // MSS clamping rewrites only the TCP MSS option, which no modelled decision reads.
            Expr::Opaque(k) if k == "tcp option maxseg size" => return Ok(Op::Nop),
            // security marks are read only by the LSM (see normalisation)
            Expr::Meta(MetaKey::Secmark) | Expr::Ct(CtKey::Secmark, None) => return Ok(Op::Nop),
            _ => {}
        }
        let v = self.vsrc(sc, value)?;
        Ok(match key {
            Expr::Meta(MetaKey::Mark) => Op::SetMark(v),
            Expr::Ct(CtKey::Mark, None) => Op::SetCtMark(v),
            Expr::Meta(MetaKey::Nftrace) => Op::Nop,
            Expr::Payload(p, f) => {
                let ver = if *p == Proto::Ip6 { 6 } else { 4 };
                let field = match (p, f.as_str()) {
                    (Proto::Ip | Proto::Ip6, "dscp") => PayloadField::Dscp(ver),
                    (Proto::Ip | Proto::Ip6, "ecn") => PayloadField::Ecn(ver),
                    (Proto::Ip, "ttl") | (Proto::Ip6, "hoplimit") => PayloadField::Ttl(ver),
                    (Proto::Ip | Proto::Ip6, "saddr") => PayloadField::Saddr(ver),
                    (Proto::Ip | Proto::Ip6, "daddr") => PayloadField::Daddr(ver),
                    (Proto::Tcp, "sport") => PayloadField::Sport(6),
                    (Proto::Tcp, "dport") => PayloadField::Dport(6),
                    (Proto::Udp, "sport") => PayloadField::Sport(17),
                    (Proto::Udp, "dport") => PayloadField::Dport(17),
                    (Proto::Th, "sport") => PayloadField::Sport(0),
                    (Proto::Th, "dport") => PayloadField::Dport(0),
                    _ => return Err(format!("unsupported: {} {f} set", p.name())),
                };
                Op::SetPayload { field, value: v }
            }
            other => return Err(format!("unsupported: {other} set")),
        })
    }

    /// snat / dnat / masquerade / redirect: the family (from the statement or the table)
    /// and the address and port operands.
    fn nat(&mut self, sc: &TableScope, n: &NatStmt) -> R<Op> {
        let family = match n.family {
            Some(Family::Ip6) => 6,
            Some(_) => 4,
            None => sc.l3().unwrap_or(0),
        };
        let spec = NatSpec {
            kind: n.kind,
            family,
            addr: self.natval(sc, &n.addr)?,
            port: self.natval(sc, &n.port)?,
            flags: n.flags,
        };
        self.prog.nats.push(spec);
        Ok(Op::Nat(self.prog.nats.len() as u32 - 1))
    }

    /// `queue [num N|to EXPR] [flags ...]`.
    fn queue(&mut self, sc: &TableScope, num: &Option<Expr>, flags: &[String]) -> R<Op> {
        // A range spreads packets over its queues (by CPU with `fanout`, else by
        // hash); without a listener every queue behaves alike, so the first stands.
        let num = match num {
            None => VSrc::Const(0),
            Some(Expr::Value(v)) => VSrc::Const(v.v),
            Some(e @ Expr::Range(..)) => VSrc::Const(range_of(e)?.0),
            Some(e) => self.vsrc(sc, e)?,
        };
        Ok(Op::Queue {
            num,
            bypass: flags.iter().any(|f| f == "bypass"),
        })
    }

    /// `add|update|delete @set { KEY [timeout T] [: DATA] [STMTS] }`.
    #[allow(clippy::too_many_arguments)]
    fn set_update(
        &mut self,
        sc: &TableScope,
        op: SetOp,
        set: &str,
        key: &Expr,
        timeout: Option<u64>,
        stmts: &[Stmt],
        data: &Option<Expr>,
    ) -> R<Op> {
        let (k, sid) = self.lookup(sc, key, &Expr::SetRef(set.to_string()), None)?;
        let exprs = if stmts.is_empty() {
            self.prog.sets[sid as usize].default_exprs
        } else {
            self.prog.elem_exprs_of(stmts)?
        };
        let data = match data {
            Some(d) => Some(self.vsrc(sc, d)?),
            None => None,
        };
        self.prog.updates.push(UpdateSpec {
            op,
            set: sid,
            key: k,
            timeout_ms: timeout,
            data,
            exprs,
        });
        Ok(Op::SetUpdate(self.prog.updates.len() as u32 - 1))
    }
}
