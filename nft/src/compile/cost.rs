//! What each statement of a rule compiles to in kernel expressions ([`OpCost`]), as nft
//! linearises it (`src/netlink_linearize.c`): a selector is a load (`payload`, `meta`,
//! `ct`, `fib`, ...) with a `bitwise` for masks, shifts and sub-byte fields, then a `cmp`,
//! `range` or `lookup`; a verdict is an `immediate`; statements are their own expression.
//!
//! Protocol dependencies follow nft's `payload_gen_dependency` (`src/payload.c`): a
//! transport header field needs `meta l4proto P` unless the rule already established P
//! (an earlier field of the same protocol, or an explicit `meta l4proto`/`ip protocol`
//! match); a network header field needs `meta nfproto` in the `inet` family and
//! `meta protocol` in `netdev`/`bridge`, and nothing in `ip`/`ip6`, where the hook implies
//! the family. Each dependency is a `meta` load and a `cmp`, counted together as one
//! [`ExprKind::Dep`].

use crate::ast::{BinOp, Expr, Family, MetaKey, Proto, RelOp, Stmt};
use crate::eval::ExprKind;
use crate::program::{CostRow, OpCost};
use crate::selector::{Dep, payload_info};
use crate::types::DType;

/// The protocol context of the rule being compiled.
pub(crate) struct DepCtx {
    family: Family,
    /// IP version established.
    l3: Option<u8>,
    /// Transport protocol established.
    l4: Option<u8>,
}

/// What a rule of operations `costs` has run when it stops at each of them, `[partial,
/// full]`: the operations before the stop in full; the stopping one its dependency checks,
/// and its own expressions when it ran to its end, else (a missing field), without a
/// dependency, the loads that found the field missing.
pub(crate) fn stop_rows(costs: &[OpCost]) -> Vec<[CostRow; 2]> {
    let dep = ExprKind::Dep.index();
    let mut ran = CostRow::default();
    ran.0[CostRow::RULE] = 1;
    costs
        .iter()
        .map(|c| {
            let mut part = ran;
            part.0[dep] += u32::from(c.deps);
            if c.deps == 0 {
                for (a, n) in part.0.iter_mut().zip(&c.loads) {
                    *a += u32::from(*n);
                }
            }
            let mut full = ran;
            full.0[dep] += u32::from(c.deps);
            for (a, n) in full.0.iter_mut().zip(&c.own) {
                *a += u32::from(*n);
            }
            ran = full;
            [part, full]
        })
        .collect()
}

fn add(c: &mut OpCost, k: ExprKind) {
    c.own[k.index()] += 1;
}

fn add_load(c: &mut OpCost, k: ExprKind) {
    c.own[k.index()] += 1;
    c.loads[k.index()] += 1;
}

impl DepCtx {
    /// A fresh context for a rule of a table of `family`.
    pub(crate) fn new(family: Family) -> DepCtx {
        DepCtx {
            family,
            l3: None,
            l4: None,
        }
    }

    /// Counts the dependency check `dep` needs unless the context has it.
    fn need(&mut self, dep: Dep, c: &mut OpCost) {
        if let Some(p) = dep.l4 {
            if self.l4 != Some(p) {
                c.deps += 1;
                self.l4 = Some(p);
            }
            return;
        }
        let implied = matches!(self.family, Family::Ip | Family::Ip6);
        if let Some(v) = dep.l3
            && !implied
            && self.l3 != Some(v)
        {
            c.deps += 1;
            self.l3 = Some(v);
        }
    }

    /// The loads of a selector (with their bitwise operations and dependencies).
    fn load(&mut self, e: &Expr, c: &mut OpCost) {
        match e {
            Expr::Payload(p, f) => {
                let Ok((ty, dep)) = payload_info(*p, f) else {
                    return add_load(c, ExprKind::Other);
                };
                self.need(dep, c);
                if *p == Proto::Tcp && f == "option maxseg size" {
                    // an exthdr expression (`nft_exthdr_tcp_eval`)
                    return add_load(c, ExprKind::Other);
                }
                let network = matches!(p, Proto::Ip | Proto::Ip6 | Proto::Ether);
                add_load(
                    c,
                    if network {
                        ExprKind::Payload
                    } else {
                        ExprKind::PayloadTh
                    },
                );
                if ty.bits() % 8 != 0 {
                    // sub-byte fields are masked (and shifted) out of the loaded bytes
                    add_load(c, ExprKind::Bitwise);
                }
            }
            Expr::Meta(k) => add_load(
                c,
                if k.is_ifname() {
                    ExprKind::MetaIfname
                } else {
                    ExprKind::Meta
                },
            ),
            Expr::Ct(..) => add_load(c, ExprKind::Ct),
            Expr::Fib { .. } => add_load(c, ExprKind::Fib),
            Expr::Numgen { .. } | Expr::Symhash { .. } => add_load(c, ExprKind::Other),
            Expr::Jhash { expr, .. } => {
                self.load(expr, c);
                add_load(c, ExprKind::Other);
            }
            Expr::Binop(op, a, _) => {
                self.load(a, c);
                // nft folds and/or/xor into one bitwise; a shift is one of its own
                let folds_into_inner =
                    matches!(**a, Expr::Binop(ref o, ..) if !is_shift(*o)) && !is_shift(*op);
                if !folds_into_inner {
                    add_load(c, ExprKind::Bitwise);
                }
            }
            Expr::Concat(parts) => {
                for p in parts {
                    self.load(p, c);
                }
            }
            Expr::Map(k, _) => {
                self.load(k, c);
                add(c, ExprKind::Lookup);
            }
            _ => {}
        }
    }

    /// The protocol context a match establishes (`meta l4proto tcp`, `ip protocol udp`,
    /// `meta nfproto ipv4`, `meta protocol ip6`).
    fn establish(&mut self, left: &Expr, op: RelOp, right: &Expr) {
        let (RelOp::Eq, Expr::Value(v)) = (op, right) else {
            return;
        };
        match left {
            Expr::Meta(MetaKey::L4proto) => self.l4 = Some(v.v as u8),
            Expr::Payload(Proto::Ip | Proto::Ip6, _) if v.ty == DType::InetProto => {
                self.l4 = Some(v.v as u8)
            }
            Expr::Meta(MetaKey::Nfproto) => self.l3 = Some(if v.v == 2 { 4 } else { 6 }),
            Expr::Meta(MetaKey::Protocol) if v.v == 0x0800 => self.l3 = Some(4),
            Expr::Meta(MetaKey::Protocol) if v.v == 0x86dd => self.l3 = Some(6),
            _ => {}
        }
    }

    /// What statement `s` compiles to; updates the context.
    pub(crate) fn stmt(&mut self, s: &Stmt) -> OpCost {
        let mut c = OpCost::default();
        match s {
            Stmt::Match {
                left, op, right, ..
            } => {
                self.load(left, &mut c);
                match right {
                    Expr::Set(_) | Expr::SetRef(_) => add(&mut c, ExprKind::Lookup),
                    _ if matches!(left, Expr::Concat(_)) => add(&mut c, ExprKind::Lookup),
                    Expr::Value(_) if *op == RelOp::In => {
                        add(&mut c, ExprKind::Bitwise);
                        add(&mut c, ExprKind::Cmp);
                    }
                    // nft loads only the prefix's whole bytes of a header field and compares
                    // them; other prefixes are masked first
                    Expr::Prefix(_, len) if matches!(left, Expr::Payload(..)) && len % 8 == 0 => {
                        add(&mut c, ExprKind::Cmp)
                    }
                    Expr::Prefix(..) => {
                        add(&mut c, ExprKind::Bitwise);
                        add(&mut c, ExprKind::Cmp);
                    }
                    Expr::Range(..) => add(&mut c, ExprKind::Range),
                    _ => add(&mut c, ExprKind::Cmp),
                }
                self.establish(left, *op, right);
            }
            Stmt::Verdict(_) => add(&mut c, ExprKind::Immediate),
            Stmt::Vmap { key, .. } => {
                self.load(key, &mut c);
                add(&mut c, ExprKind::Lookup);
            }
            Stmt::Counter => add(&mut c, ExprKind::Counter),
            Stmt::CounterRef(e)
            | Stmt::LimitRef(e)
            | Stmt::QuotaRef(e)
            | Stmt::CtHelperSet(e)
            | Stmt::CtTimeoutSet(e) => {
                // `objref` (a map of objects: `objref map`, a lookup of its own)
                self.load(e, &mut c);
                add(&mut c, ExprKind::Other);
            }
            Stmt::Mangle { key, value } => {
                if let Expr::Payload(p, f) = key
                    && let Ok((_, dep)) = payload_info(*p, f)
                {
                    self.need(dep, &mut c);
                }
                if matches!(value, Expr::Value(_)) {
                    // a constant is loaded into a register first (`immediate`)
                    add(&mut c, ExprKind::Immediate);
                }
                self.load(value, &mut c);
                add(&mut c, ExprKind::Other);
            }
            Stmt::Nat(n) => {
                for e in [&n.addr, &n.port].into_iter().flatten() {
                    self.load(e, &mut c);
                }
                add(&mut c, ExprKind::Other);
            }
            Stmt::SetUpdate { key, data, .. } => {
                self.load(key, &mut c);
                if let Some(d) = data {
                    self.load(d, &mut c);
                }
                add(&mut c, ExprKind::Other);
            }
            Stmt::Queue { num, .. } => {
                if let Some(e) = num {
                    self.load(e, &mut c);
                }
                add(&mut c, ExprKind::Other);
            }
            Stmt::Fwd { dev, neigh, .. } => {
                // `nft_fwd_netdev`: the device (and next hop) loaded or immediate, then the
                // forward expression
                self.load(dev, &mut c);
                if let Some((_, addr)) = neigh {
                    self.load(addr, &mut c);
                }
                add(&mut c, ExprKind::Other);
            }
            Stmt::Limit(_)
            | Stmt::Quota(_)
            | Stmt::Log(_)
            | Stmt::Notrack
            | Stmt::FlowAdd(_)
            | Stmt::Reject(_) => add(&mut c, ExprKind::Other),
            Stmt::Unsupported(_) => {}
        }
        c
    }
}

fn is_shift(op: BinOp) -> bool {
    matches!(op, BinOp::Shl | BinOp::Shr)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::ast::Verdict;
    use crate::types::Value;

    fn port_match(p: Proto, v: u128) -> Stmt {
        Stmt::Match {
            left: Expr::Payload(p, "dport".into()),
            op: RelOp::Eq,
            right: Expr::Value(Value::new(DType::InetService, v)),
            rspan: Default::default(),
        }
    }

    #[test]
    fn transport_fields_imply_one_l4proto_check_per_rule() {
        let mut d = DepCtx::new(Family::Ip);
        let a = d.stmt(&port_match(Proto::Udp, 53));
        assert_eq!(a.deps, 1, "udp dport implies meta l4proto udp");
        assert_eq!(a.own[ExprKind::PayloadTh.index()], 1);
        assert_eq!(a.own[ExprKind::Cmp.index()], 1);
        let b = d.stmt(&port_match(Proto::Udp, 54));
        assert_eq!(b.deps, 0, "the rule already checked udp");
        assert_eq!(d.stmt(&Stmt::Verdict(Verdict::Drop)).deps, 0);
    }

    #[test]
    fn network_fields_need_nfproto_only_in_inet() {
        let saddr = Stmt::Match {
            left: Expr::Payload(Proto::Ip, "saddr".into()),
            op: RelOp::Eq,
            right: Expr::Value(Value::new(DType::Ipv4, 1)),
            rspan: Default::default(),
        };
        assert_eq!(DepCtx::new(Family::Ip).stmt(&saddr).deps, 0);
        assert_eq!(DepCtx::new(Family::Inet).stmt(&saddr).deps, 1);
        assert_eq!(DepCtx::new(Family::Netdev).stmt(&saddr).deps, 1);
    }
}
