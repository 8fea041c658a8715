//! Rule statements, one function per kind: matches (typed, canonicalised, with the
//! dependencies nft adds), verdicts and verdict maps, object references, limits, logs,
//! mangles, NAT, reject, set updates and queue.

use super::canon::{canon_match, fold_const};
use super::{Ctx, Normalizer, R, compatible, elem_stmts, is_selector, limit_defaults, short};
use super::{type_list, unknown_object};
use crate::ast::*;
use crate::error::Span;
use crate::selector::Dep;
use crate::types::*;

/// The error of a port mapping without a transport protocol to map.
const NO_TRANSPORT: &str =
    "transport protocol mapping is only valid after transport protocol match";

impl Normalizer<'_> {
    /// Normalises one statement into `out` (after any dependency match nft adds for it).
    pub(super) fn stmt(&mut self, s: Stmt, ctx: &mut Ctx, out: &mut Vec<Stmt>) -> R<()> {
        if let Some(last) = out.last()
            && matches!(
                last,
                Stmt::Verdict(_)
                    | Stmt::Nat(_)
                    | Stmt::Reject(_)
                    | Stmt::Queue { .. }
                    | Stmt::Fwd { .. }
            )
        {
            return Err("Statement after terminal statement has no effect".into());
        }
        let s = match s {
            Stmt::Match {
                left,
                op,
                right,
                rspan,
            } => return self.match_stmt(left, op, right, rspan, ctx, out),
            Stmt::Verdict(v) => {
                self.check_verdict(&v)?;
                Stmt::Verdict(v)
            }
            Stmt::Vmap { key, data } => self.vmap(key, data, ctx)?,
            Stmt::Counter => Stmt::Counter,
            Stmt::CounterRef(e) => Stmt::CounterRef(self.obj_ref("counter", e, ctx)?),
            Stmt::LimitRef(e) => Stmt::LimitRef(self.obj_ref("limit", e, ctx)?),
            Stmt::QuotaRef(e) => Stmt::QuotaRef(self.obj_ref("quota", e, ctx)?),
            Stmt::CtHelperSet(e) => Stmt::CtHelperSet(self.obj_ref("ct helper", e, ctx)?),
            Stmt::CtTimeoutSet(e) => Stmt::CtTimeoutSet(self.obj_ref("ct timeout", e, ctx)?),
            Stmt::Limit(l) => Stmt::Limit(limit_defaults(l)?),
            Stmt::Quota(q) => Stmt::Quota(q),
            Stmt::Log(l) => Stmt::Log(log(l)?),
            Stmt::Notrack => Stmt::Notrack,
            Stmt::FlowAdd(ft) => {
                if !self.flowtables.contains(&ft) {
                    return Err(format!(
                        "No such file or directory; flowtable '@{ft}' does not exist"
                    ));
                }
                Stmt::FlowAdd(ft)
            }
            Stmt::Mangle { key, value } => self.mangle(key, value, ctx)?,
            Stmt::Nat(n) => return self.nat(n, ctx, out),
            Stmt::Reject(r) => return self.reject(r, ctx, out),
            Stmt::SetUpdate {
                op,
                set,
                key,
                data,
                timeout,
                stmts,
            } => self.set_update(op, set, key, data, timeout, stmts, ctx)?,
            Stmt::Queue { num, flags } => self.queue(num, flags, ctx)?,
            Stmt::Fwd { dev, neigh, .. } => {
                // nft's `stmt_evaluate_fwd`: netdev only; the device name is resolved to
                // its index ("Interface does not exist").
                if self.family != Family::Netdev {
                    return Err("unsupported family".into());
                }
                let name = match &dev {
                    Expr::Sym(s, _) if parse_uint(s).is_none() => Some(s.clone()),
                    _ => None,
                };
                let dev = self.value(DType::Ifindex, dev, ctx)?;
                let neigh = match neigh {
                    None => None,
                    Some((f, a)) => {
                        let ty = if f == Family::Ip6 {
                            DType::Ipv6
                        } else {
                            DType::Ipv4
                        };
                        Some((f, self.value(ty, a, ctx)?))
                    }
                };
                Stmt::Fwd { dev, neigh, name }
            }
            Stmt::Unsupported(s) => return Err(format!("unsupported: {s}")),
        };
        out.push(s);
        Ok(())
    }

    /// A concatenation whose constant parts take their types from the set it is used
    /// with.
    fn typed_concat(&mut self, parts: Vec<Expr>, tys: &[DType], ctx: &mut Ctx) -> R<Expr> {
        let mut out = Vec::new();
        for (p, t) in parts.into_iter().zip(tys) {
            out.push(if is_selector(&p) {
                self.lhs(p, ctx)?
            } else {
                self.scalar(*t, p)?
            });
        }
        Ok(Expr::Concat(out))
    }

    /// `LEFT [OP] RIGHT`: the selector typed, the constant resolved against its type, the
    /// canonical form, and the protocol context it establishes.
    fn match_stmt(
        &mut self,
        left: Expr,
        op: RelOp,
        right: Expr,
        rspan: Span,
        ctx: &mut Ctx,
        out: &mut Vec<Stmt>,
    ) -> R<()> {
        let left = match (left, &right) {
            (Expr::Concat(parts), Expr::SetRef(n)) if parts.iter().any(|p| !is_selector(p)) => {
                let key = self.set_sig(n)?.key.clone();
                if key.len() != parts.len() {
                    return Err(format!("datatype mismatch: @{n} has {} fields", key.len()));
                }
                self.typed_concat(parts, &key, ctx)?
            }
            (l, _) => self.lhs(l, ctx)?,
        };
        let tys = self.key_types(&left, ctx)?;
        let (op, right) = self.hour_range(&tys, op, right)?;
        let right = match right {
            Expr::Sym(ref s, _)
                if matches!(s.as_str(), "exists" | "missing")
                    && matches!(left, Expr::Fib { .. }) =>
            {
                Expr::Bool(s == "exists")
            }
            Expr::Bool(b) => Expr::Bool(b),
            r => self.constant(&tys, r, true)?,
        };
        if let Some(dep) = icmp_echo_dependency(&left, out) {
            out.push(dep);
        }
        let m = canon_match(left, op, right, &tys)?;
        self.match_context(&m, ctx)?;
        out.push(match m {
            Stmt::Match {
                left, op, right, ..
            } => Stmt::Match {
                left,
                op,
                right,
                rspan,
            },
            o => o,
        });
        Ok(())
    }

    /// `meta hour "22:00"-"06:00"`: a range of times of day that wraps past midnight (in UTC,
    /// after the loader's offset) is, as nft 1.0.6 lists it, the other range negated:
    /// `!= "06:00"-"22:00"` (both ends of the negated range are excluded).
    fn hour_range(&mut self, tys: &[DType], op: RelOp, right: Expr) -> R<(RelOp, Expr)> {
        let (tys, Expr::Range(a, b)) = (tys, &right) else {
            return Ok((op, right));
        };
        if tys != [DType::Hour] || !matches!(op, RelOp::Eq | RelOp::Ne | RelOp::Implicit) {
            return Ok((op, right));
        }
        let (Expr::Value(x), Expr::Value(y)) = (
            self.scalar(DType::Hour, (**a).clone())?,
            self.scalar(DType::Hour, (**b).clone())?,
        ) else {
            return Ok((op, right));
        };
        if x.v <= y.v {
            return Ok((
                op,
                Expr::Range(Box::new(Expr::Value(x)), Box::new(Expr::Value(y))),
            ));
        }
        let flipped = if op == RelOp::Ne {
            RelOp::Eq
        } else {
            RelOp::Ne
        };
        Ok((
            flipped,
            Expr::Range(Box::new(Expr::Value(y)), Box::new(Expr::Value(x))),
        ))
    }

    /// The protocol context a canonical match establishes: `meta l4proto tcp`,
    /// `ip protocol udp`, `meta nfproto ipv6`, `meta protocol ip`, `meta l4proto { ... }`.
    fn match_context(&self, m: &Stmt, ctx: &mut Ctx) -> R<()> {
        if let Stmt::Match {
            left,
            op: RelOp::Eq,
            right: Expr::Value(v),
            ..
        } = m
        {
            match left {
                Expr::Meta(MetaKey::L4proto)
                | Expr::Payload(Proto::Ip, _)
                | Expr::Payload(Proto::Ip6, _)
                    if v.ty == DType::InetProto =>
                {
                    if let Expr::Payload(p, _) = left {
                        self.check_dep(Dep::l3(if *p == Proto::Ip { 4 } else { 6 }), ctx)?;
                    }
                    ctx.l4 = Some(v.v as u8);
                }
                Expr::Meta(MetaKey::Nfproto) => {
                    self.check_dep(Dep::l3(if v.v == 2 { 4 } else { 6 }), ctx)?;
                }
                Expr::Meta(MetaKey::Protocol) => {
                    if v.v == 0x0800 {
                        ctx.l3 = Some(4);
                    } else if v.v == 0x86dd {
                        ctx.l3 = Some(6);
                    }
                }
                _ => {}
            }
        }
        if let Stmt::Match {
            left: Expr::Meta(MetaKey::L4proto),
            right: Expr::Set(_) | Expr::SetRef(_),
            op: RelOp::Eq,
            ..
        } = m
        {
            ctx.l4_any = true;
        }
        if let Stmt::Match {
            left: Expr::Meta(MetaKey::L4proto) | Expr::Payload(Proto::Ip | Proto::Ip6, _),
            right: Expr::Set(elems),
            op: RelOp::Eq,
            ..
        } = m
        {
            let protos: Vec<u8> = elems
                .iter()
                .filter_map(|e| match &e.key {
                    Expr::Value(v) if v.ty == DType::InetProto => Some(v.v as u8),
                    _ => None,
                })
                .take(2)
                .collect();
            if let [a, b] = protos[..] {
                ctx.l4_set = Some([a, b]);
            }
        }
        Ok(())
    }

    /// `KEY vmap DATA`.
    fn vmap(&mut self, key: Expr, data: Expr, ctx: &mut Ctx) -> R<Stmt> {
        let key = self.lhs(key, ctx)?;
        let tys = self.key_types(&key, ctx)?;
        let data = self.map_data(&tys, &[DType::Verdict], data)?;
        if let Expr::SetRef(n) = &data
            && self.set_sig(n)?.data != [DType::Verdict]
        {
            return Err(format!("@{n} is not a verdict map"));
        }
        Ok(Stmt::Vmap { key, data })
    }

    /// `KEY set VALUE`.
    fn mangle(&mut self, key: Expr, value: Expr, ctx: &mut Ctx) -> R<Stmt> {
        match key {
            Expr::Opaque(k) if k == "tcp option maxseg size" => {
                let value = match value {
                    Expr::Opaque(v) if v == "rt mtu" => Expr::Opaque(v),
                    v => self.scalar(DType::Integer(16), v)?,
                };
                self.check_dep(Dep::l4(6), ctx)?;
                Ok(Stmt::Mangle {
                    key: Expr::Opaque(k),
                    value,
                })
            }
            key @ (Expr::Meta(MetaKey::Secmark) | Expr::Ct(CtKey::Secmark, None)) => {
                self.secmark(key, value)
            }
            key => {
                let key = self.lhs(key, ctx)?;
                let (ty, _) = self.sel(&key, ctx)?;
                match &key {
                    Expr::Meta(
                        MetaKey::Mark | MetaKey::Nftrace | MetaKey::Priority | MetaKey::Pkttype,
                    )
                    | Expr::Ct(CtKey::Mark, None)
                    | Expr::Payload(..) => {}
                    Expr::Meta(k) => return Err(format!("unsupported: meta {} set", k.name())),
                    Expr::Ct(k, _) => return Err(format!("unsupported: ct {} set", k.name())),
                    _ => return Err("invalid expression in set statement".into()),
                }
                let value = self.value(ty, value, ctx)?;
                let value = fold_const(value);
                Ok(Stmt::Mangle { key, value })
            }
        }
    }

    /// SELinux security marks (`meta secmark set "obj"`, `ct secmark set meta secmark`,
    /// `meta secmark set ct secmark`): skb->secmark / ct->secmark are consulted only by the
    /// LSM, never by anything the simulation decides.
    fn secmark(&self, key: Expr, value: Expr) -> R<Stmt> {
        let value = match (&key, value) {
            (Expr::Meta(_), Expr::Sym(s, _)) => {
                self.check_object("secmark", &s)?;
                Expr::Value(Value::new(DType::Str, ifname_value(&s)))
            }
            (Expr::Meta(_), v @ Expr::Ct(CtKey::Secmark, None))
            | (Expr::Ct(..), v @ Expr::Meta(MetaKey::Secmark)) => v,
            (_, v) => {
                return Err(format!(
                    "unsupported: {key} set {v} (only secmark objects and copies between meta and ct secmark)"
                ));
            }
        };
        Ok(Stmt::Mangle { key, value })
    }

    /// An object of `kind` must exist in the table.
    fn check_object(&self, kind: &str, name: &str) -> R<()> {
        if self.objects.iter().any(|(k, n)| k == kind && n == name) {
            Ok(())
        } else {
            Err(unknown_object(kind, name))
        }
    }

    /// `add|update|delete @set { KEY [timeout T] [: DATA] [STMTS] }`: the key typed like the
    /// set's, the data like its data.
    #[allow(clippy::too_many_arguments)]
    fn set_update(
        &mut self,
        op: SetOp,
        set: String,
        key: Expr,
        data: Option<Expr>,
        timeout: Option<u64>,
        stmts: Vec<Stmt>,
        ctx: &mut Ctx,
    ) -> R<Stmt> {
        let sig = self.set_sig(&set)?.clone();
        let key = match key {
            Expr::Concat(parts) if parts.len() == sig.key.len() => {
                self.typed_concat(parts, &sig.key, ctx)?
            }
            k => self.lhs(k, ctx)?,
        };
        let tys: Vec<DType> = match &key {
            Expr::Concat(parts) => parts
                .iter()
                .zip(&sig.key)
                .map(|(p, t)| match p {
                    Expr::Value(_) => Ok(*t),
                    p => self.sel(p, ctx).map(|x| x.0),
                })
                .collect::<R<Vec<_>>>()?,
            k => self.key_types(k, ctx)?,
        };
        if tys.len() != sig.key.len() || tys.iter().zip(&sig.key).any(|(a, b)| !compatible(*a, *b))
        {
            return Err(format!(
                "datatype mismatch: set @{set} has type {}, key is {}",
                type_list(&sig.key),
                type_list(&tys)
            ));
        }
        let data = match data {
            Some(d) => Some(self.value(
                sig.data.first().copied().unwrap_or(DType::Integer(32)),
                d,
                ctx,
            )?),
            None => None,
        };
        if op == SetOp::Delete && !stmts.is_empty() {
            return Err("delete from a set takes no statements".into());
        }
        let stmts = elem_stmts(stmts)?;
        Ok(Stmt::SetUpdate {
            op,
            set,
            key,
            data,
            timeout,
            stmts,
        })
    }

    /// `queue [num N|to EXPR] [flags ...]`: queue 0 is the default and not printed.
    fn queue(&mut self, num: Option<Expr>, flags: Vec<String>, ctx: &mut Ctx) -> R<Stmt> {
        let num = match num {
            Some(e) if is_selector(&e) => {
                // nft_queue_sreg: the number comes from a register (16 bits)
                let (modulus, offset) = match &e {
                    Expr::Numgen {
                        modulus, offset, ..
                    }
                    | Expr::Symhash { modulus, offset }
                    | Expr::Jhash {
                        modulus, offset, ..
                    } => (*modulus as u64, *offset as u64),
                    Expr::Map(..) => (1, 0),
                    _ => {
                        return Err(format!(
                            "queue number must be a number, a range, numgen, a hash or a map, not {e}"
                        ));
                    }
                };
                if modulus + offset > 65536 {
                    return Err(format!("queue number {e} exceeds 65535"));
                }
                if flags.iter().any(|f| f == "fanout") {
                    return Err("fanout is not valid with a queue number expression".into());
                }
                Some(self.value(DType::Integer(16), e, ctx)?)
            }
            Some(e) => {
                let v = self.value(DType::Integer(16), e, ctx)?;
                if matches!(v, Expr::Value(Value { v: 0, .. })) {
                    None
                } else {
                    Some(v)
                }
            }
            None => None,
        };
        Ok(Stmt::Queue { num, flags })
    }

    /// `counter|limit|quota name X`, `ct helper|timeout set X`: a named object of the table,
    /// or an object map whose objects exist.
    fn obj_ref(&mut self, kind: &str, e: Expr, ctx: &mut Ctx) -> R<Expr> {
        match e {
            Expr::Sym(s, _) => {
                self.check_object(kind, &s)?;
                Ok(Expr::Value(Value::new(DType::Str, ifname_value(&s))))
            }
            Expr::Map(k, d) => {
                let k = self.lhs(*k, ctx)?;
                let ktys = self.key_types(&k, ctx)?;
                let d = self.map_data(&ktys, &[DType::Str], *d)?;
                if let Expr::Set(el) = &d {
                    for e in el {
                        if let Some(Expr::Value(v)) = &e.data {
                            self.check_object(kind, &ifname_string(v.v))?;
                        }
                    }
                }
                Ok(Expr::Map(Box::new(k), Box::new(d)))
            }
            other => Err(format!("invalid {kind} reference {}", short(&other))),
        }
    }

    /// snat / dnat / masquerade / redirect: the family resolved (an inet table needs it
    /// for an address), ports only after a transport protocol match, `addr . port` maps.
    fn nat(&mut self, mut n: NatStmt, ctx: &mut Ctx, out: &mut Vec<Stmt>) -> R<()> {
        let fam = match (n.family, self.family) {
            (Some(f), Family::Inet) => {
                let v = if f == Family::Ip { 4 } else { 6 };
                self.check_dep(Dep::l3(v), ctx)?;
                Some(v)
            }
            (Some(f), Family::Ip) if f != Family::Ip => {
                return Err("conflicting protocols specified: ip vs. ip6".into());
            }
            (Some(f), Family::Ip6) if f != Family::Ip6 => {
                return Err("conflicting protocols specified: ip6 vs. ip".into());
            }
            _ => ctx.l3,
        };
        if matches!(n.kind, NatKind::Snat | NatKind::Dnat) && n.addr.is_some() && fam.is_none() {
            return Err(format!(
                "specify `{} ip` or `{} ip6` in inet table to disambiguate",
                n.kind.name(),
                n.kind.name()
            ));
        }
        n.family = fam.map(|v| if v == 4 { Family::Ip } else { Family::Ip6 });
        if let Some(p) = n.port.take() {
            let p = self.value(DType::InetService, p, ctx)?;
            if ctx.l4.is_none() && !ctx.l4_any {
                return Err(NO_TRANSPORT.into());
            }
            n.port = Some(p);
        }
        let aty = if fam == Some(6) {
            DType::Ipv6
        } else {
            DType::Ipv4
        };
        if let Some(a) = n.addr.take() {
            if let Expr::Map(k, d) = a {
                let (addr, concat) = self.nat_map(*k, *d, aty, ctx)?;
                n.concat = concat;
                n.addr = Some(addr);
            } else {
                n.addr = Some(self.value(aty, a, ctx)?);
            }
        }
        if n.kind == NatKind::Masquerade
            && !matches!(self.family, Family::Ip | Family::Ip6 | Family::Inet)
        {
            return Err("masquerade is only valid in ip, ip6 and inet".into());
        }
        out.push(Stmt::Nat(n));
        Ok(())
    }

    /// `nat to KEY map DATA`, with `addr . port` map data when the elements are
    /// concatenations (or the named map has two data types); returns the map and whether it
    /// is of that form.
    fn nat_map(&mut self, k: Expr, d: Expr, aty: DType, ctx: &mut Ctx) -> R<(Expr, bool)> {
        let k = self.lhs(k, ctx)?;
        let ktys = self.key_types(&k, ctx)?;
        let concat = match &d {
            Expr::Set(el) => el.iter().any(|e| matches!(e.data, Some(Expr::Concat(_)))),
            Expr::SetRef(n) => self.set_sig(n)?.data.len() == 2,
            _ => false,
        };
        // nft: the port needs a transport protocol, from a match or from the key
        // (`tcp dport` implies tcp; `th dport` does not)
        if concat && ctx.l4.is_none() && !ctx.l4_any {
            return Err(NO_TRANSPORT.into());
        }
        let dtys: Vec<DType> = if concat {
            vec![aty, DType::InetService]
        } else {
            vec![aty]
        };
        let d = self.map_data(&ktys, &dtys, d)?;
        Ok((Expr::Map(Box::new(k), Box::new(d)), concat))
    }

    /// `reject [with ...]`: the default type for the family and context, and the
    /// dependency match nft prints in front of it.
    fn reject(&mut self, r: RejectStmt, ctx: &mut Ctx, out: &mut Vec<Stmt>) -> R<()> {
        let r = match r {
            RejectStmt::Default => match (self.family, ctx.l3) {
                (Family::Ip, _) | (_, Some(4)) if self.family != Family::Inet => {
                    RejectStmt::Icmp(3)
                }
                (Family::Ip6, _) => RejectStmt::Icmpv6(4),
                (Family::Inet | Family::Netdev | Family::Bridge, Some(4)) => RejectStmt::Icmp(3),
                (Family::Inet | Family::Netdev | Family::Bridge, Some(6)) => RejectStmt::Icmpv6(4),
                (Family::Inet | Family::Netdev | Family::Bridge, _) => RejectStmt::Icmpx(1),
                _ => RejectStmt::Icmp(3),
            },
            other => other,
        };
        let dependency = |left: MetaKey, ty: DType, v: u128| Stmt::Match {
            left: Expr::Meta(left),
            op: RelOp::Eq,
            right: Expr::Value(Value::new(ty, v)),
            rspan: Span::default(),
        };
        match &r {
            RejectStmt::TcpReset => {
                if ctx.l4.is_none() {
                    out.push(dependency(MetaKey::L4proto, DType::InetProto, 6));
                }
                self.check_dep(Dep::l4(6), ctx)?;
            }
            RejectStmt::Icmp(_) => {
                if ctx.l3.is_none() {
                    out.push(dependency(MetaKey::Nfproto, DType::NfProto, 2));
                }
                self.check_dep(Dep::l3(4), ctx)?;
            }
            RejectStmt::Icmpv6(_) => {
                if ctx.l3.is_none() {
                    out.push(dependency(MetaKey::Nfproto, DType::NfProto, 10));
                }
                self.check_dep(Dep::l3(6), ctx)?;
            }
            RejectStmt::Icmpx(_) => {
                if matches!(self.family, Family::Ip | Family::Ip6) {
                    return Err("reject with icmpx is only valid in inet, bridge and netdev".into());
                }
            }
            RejectStmt::Default => {}
        }
        out.push(Stmt::Reject(r));
        Ok(())
    }
}

/// nft puts `icmp type { echo-reply, echo-request }` in front of `icmp id|sequence` (the
/// fields exist only in echo messages) unless the rule already matches the type.
fn icmp_echo_dependency(left: &Expr, out: &[Stmt]) -> Option<Stmt> {
    let Expr::Payload(p @ (Proto::Icmp | Proto::Icmpv6), f) = left else {
        return None;
    };
    let has_type = out.iter().any(
        |s| matches!(s, Stmt::Match { left: Expr::Payload(q, f), .. } if q == p && f == "type"),
    );
    if !(f == "id" || f == "sequence") || has_type {
        return None;
    }
    let (ty, a, b) = if *p == Proto::Icmp {
        (DType::IcmpType, 0, 8)
    } else {
        (DType::Icmpv6Type, 128, 129)
    };
    Some(Stmt::Match {
        left: Expr::Payload(*p, "type".into()),
        op: RelOp::Eq,
        right: Expr::Set(vec![
            SetElem::plain(Expr::Value(Value::new(ty, a))),
            SetElem::plain(Expr::Value(Value::new(ty, b))),
        ]),
        rspan: Span::default(),
    })
}

/// `log`: option combinations nft accepts, flags expanded (`all`) and sorted, the default
/// level (`warn`) dropped.
fn log(mut l: LogStmt) -> R<LogStmt> {
    if l.group.is_some() && (l.level.is_some()) {
        return Err("log group and level are mutually exclusive".into());
    }
    if l.snaplen.is_some() && l.group.is_none() {
        return Err("log snaplen requires a group".into());
    }
    if l.queue_threshold.is_some() && l.group.is_none() {
        return Err("log queue-threshold requires a group".into());
    }
    if l.level.as_deref() == Some("audit")
        && (l.prefix.is_some() || !l.flags.is_empty() || l.group.is_some())
    {
        return Err("log level audit takes no other options".into());
    }
    if l.group.is_some() && !l.flags.is_empty() {
        return Err("log flags are only valid with syslog logging".into());
    }
    let mut fl = Vec::new();
    for f in &l.flags {
        let (pre, rest) = f.split_once(' ').unwrap_or(("", f.as_str()));
        for part in rest.split(',') {
            let part = part.trim();
            let full = if pre.is_empty() {
                part.to_string()
            } else {
                format!("{pre} {part}")
            };
            if full == "all" {
                fl.extend(
                    [
                        "ether",
                        "ip options",
                        "skuid",
                        "tcp options",
                        "tcp sequence",
                    ]
                    .map(String::from),
                );
            } else {
                fl.push(full);
            }
        }
    }
    fl.sort();
    fl.dedup();
    l.flags = fl;
    if l.level.as_deref() == Some("warn") {
        // the default level
        l.level = None;
    }
    if let Some(lv) = &l.level
        && !matches!(
            lv.as_str(),
            "emerg" | "alert" | "crit" | "err" | "warn" | "notice" | "info" | "debug" | "audit"
        )
    {
        return Err(format!("invalid log level {lv}"));
    }
    Ok(l)
}
