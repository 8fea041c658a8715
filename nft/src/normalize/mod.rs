//! Type resolution, validation and canonicalisation of rules and set declarations.
//!
//! After this pass every literal is a typed [`Value`], implicit operators are explicit
//! (`In` for flag lists, `Eq` elsewhere), `!` flag tests are `& mask == 0`, xor masks are
//! folded into the constant, prefixes have their host bits cleared, anonymous sets are
//! sorted, and dependency matches that nft itself would drop when listing
//! (`meta l4proto tcp tcp dport 22` → `tcp dport 22`) are removed. Dependencies that nft
//! prints (`meta l4proto tcp` in front of `reject with tcp reset`) are added.
//!
//! This file types selectors and tracks the protocol context of a rule; [`consts`] resolves
//! constants, [`sets`] set declarations, [`stmt`] each kind of statement, and [`canon`]
//! holds nft's canonical forms.

mod canon;
mod consts;
mod sets;
mod stmt;

use canon::kill_dependencies;

use crate::ast::*;
use crate::error::{ErrorKind, NftError, SourceMap, Span};
use crate::selector::{Dep, ct_type, fib_type, meta_type, payload_info};
use crate::types::*;

/// Device name → ifindex table used to resolve `iif`/`oif`.
#[derive(Clone, Debug)]
pub(crate) struct DeviceTable {
    /// Known devices.
    pub(crate) devs: Vec<(String, u32)>,
    /// Whether unknown names are an error (as in the kernel) or get a fresh index.
    pub(crate) strict: bool,
}

impl DeviceTable {
    /// Looks a device up, registering it when not strict.
    pub(crate) fn index(&mut self, name: &str) -> Option<u32> {
        if let Some((_, i)) = self.devs.iter().find(|(n, _)| n == name) {
            return Some(*i);
        }
        if self.strict {
            return None;
        }
        let next = self.devs.iter().map(|(_, i)| *i).max().unwrap_or(0).max(99) + 1;
        self.devs.push((name.to_string(), next));
        Some(next)
    }
}

/// Error helper: message with an `unsupported:` prefix becomes an Unsupported error.
pub(crate) fn mk_err(sm: &SourceMap, sp: Span, msg: String) -> NftError {
    let kind = if msg.starts_with("unsupported:") {
        ErrorKind::Unsupported
    } else {
        ErrorKind::Invalid
    };
    sm.error(kind, sp, msg)
}

fn l3_name(v: u8) -> &'static str {
    if v == 4 { "ip" } else { "ip6" }
}

fn l4_name(v: u8) -> String {
    match v {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        33 => "dccp".into(),
        2 => "igmp".into(),
        n => n.to_string(),
    }
}

/// Information about a named set, for resolving references.
#[derive(Clone, Debug)]
pub(crate) struct SetSig {
    /// Name.
    pub(crate) name: String,
    /// Key types.
    pub(crate) key: Vec<DType>,
    /// Data types (maps; several for a concatenation).
    pub(crate) data: Vec<DType>,
    /// Whether it is a map.
    pub(crate) is_map: bool,
}

/// Context for normalising the rules of one table.
pub(crate) struct Normalizer<'a> {
    /// Sources, for errors.
    pub(crate) sm: &'a SourceMap,
    /// Table family.
    pub(crate) family: Family,
    /// Named sets of the table.
    pub(crate) sets: Vec<SetSig>,
    /// Chain names of the table.
    pub(crate) chains: Vec<String>,
    /// Flowtable names.
    pub(crate) flowtables: Vec<String>,
    /// Objects: (kind, name).
    pub(crate) objects: Vec<(String, String)>,
    /// Devices.
    pub(crate) devices: &'a mut DeviceTable,
    /// The loader's UTC offset, seconds east (`meta hour` literals are local time).
    pub(crate) utc_offset_s: i32,
}

#[derive(Clone, Copy, Default)]
struct Ctx {
    l3: Option<u8>,
    l4: Option<u8>,
    l4_any: bool,
    /// The first two protocols of a set the transport protocol was matched against
    /// (`meta l4proto { tcp, udp }`, `ip protocol { ... }`).
    l4_set: Option<[u8; 2]>,
}

type R<T> = Result<T, String>;

impl Normalizer<'_> {
    fn base_l3(&self) -> Option<u8> {
        match self.family {
            Family::Ip => Some(4),
            Family::Ip6 => Some(6),
            _ => None,
        }
    }

    /// Type and dependency of a selector expression.
    fn sel(&self, e: &Expr, ctx: &Ctx) -> R<(DType, Dep)> {
        Ok(match e {
            Expr::Payload(p, f) => {
                let (t, mut d) = payload_info(*p, f)?;
                if matches!(p, Proto::Icmp | Proto::Icmpv6)
                    && matches!(self.family, Family::Ip | Family::Ip6)
                {
                    d.l3 = None;
                }
                (t, d)
            }
            Expr::Meta(k) => {
                if *k == MetaKey::Nfproto && matches!(self.family, Family::Ip | Family::Ip6) {
                    return Err("meta nfproto is only useful in the inet family".into());
                }
                (meta_type(*k), Dep::default())
            }
            Expr::Ct(k, dir) => {
                if dir.is_none()
                    && matches!(
                        k,
                        CtKey::Saddr
                            | CtKey::Daddr
                            | CtKey::ProtoSrc
                            | CtKey::ProtoDst
                            | CtKey::IpSaddr
                            | CtKey::IpDaddr
                            | CtKey::Ip6Saddr
                            | CtKey::Ip6Daddr
                    )
                {
                    return Err(format!(
                        "ct {} requires a direction (original or reply)",
                        k.name()
                    ));
                }
                if dir.is_some()
                    && matches!(
                        k,
                        CtKey::State
                            | CtKey::Status
                            | CtKey::Direction
                            | CtKey::Mark
                            | CtKey::Helper
                    )
                {
                    return Err(format!("ct {} does not take a direction", k.name()));
                }
                // `ct original ip saddr` depends on `meta nfproto ipv4` (nft's
                // `ct_expr_pctx_update`/dependency): an IPv6 context before it conflicts.
                let want = match k {
                    CtKey::IpSaddr | CtKey::IpDaddr => Some(4),
                    CtKey::Ip6Saddr | CtKey::Ip6Daddr => Some(6),
                    _ => None,
                };
                if let (Some(w), Some(c)) = (want, ctx.l3)
                    && w != c
                {
                    return Err(format!(
                        "conflicting protocols specified: {} vs. {}",
                        l3_name(c),
                        l3_name(w)
                    ));
                }
                (ct_type(*k, ctx.l3.or(self.base_l3()))?, Dep::default())
            }
            Expr::Numgen { modulus, .. } | Expr::Symhash { modulus, .. } => {
                if *modulus == 0 {
                    return Err("modulus must be greater than zero".into());
                }
                (DType::Integer(32), Dep::default())
            }
            Expr::Jhash { expr, modulus, .. } => {
                if *modulus == 0 {
                    return Err("modulus must be greater than zero".into());
                }
                self.sel_types(expr, ctx)?;
                (DType::Integer(32), Dep::default())
            }
            Expr::Fib { flags, result } => {
                let f = *flags;
                if f & (fib_flags::SADDR | fib_flags::DADDR) == 0 {
                    return Err("fib: saddr or daddr is required".into());
                }
                if f & fib_flags::SADDR != 0 && f & fib_flags::DADDR != 0 {
                    return Err("fib: saddr and daddr are mutually exclusive".into());
                }
                if f & fib_flags::IIF != 0 && f & fib_flags::OIF != 0 {
                    return Err("fib: iif and oif are mutually exclusive".into());
                }
                if f & fib_flags::OIF != 0 && *result == FibResult::Type {
                    // nft: "fib daddr . oif type" is rejected
                    return Err("fib: oif is not valid with type".into());
                }
                if f == fib_flags::MARK {
                    return Err("fib: mark alone is not valid".into());
                }
                (fib_type(*result), Dep::default())
            }
            Expr::Binop(_, l, _) => self.sel(l, ctx)?,
            Expr::Opaque(s) => return Err(format!("unsupported: {s}")),
            Expr::Concat(_) => return Err("concatenation not allowed here".into()),
            other => {
                return Err(format!(
                    "expected a selector, got a constant ({})",
                    short(other)
                ));
            }
        })
    }

    /// The types of the fields of a (possibly concatenated) selector.
    fn key_types(&self, e: &Expr, ctx: &Ctx) -> R<Vec<DType>> {
        Ok(self.sel_types(e, ctx)?.into_iter().map(|x| x.0).collect())
    }

    fn sel_types(&self, e: &Expr, ctx: &Ctx) -> R<Vec<(DType, Dep)>> {
        match e {
            Expr::Concat(parts) => {
                if parts.len() > 16 {
                    return Err(format!(
                        "a concatenation of {} fields exceeds the kernel's 16 (NFT_REG32_COUNT)",
                        parts.len()
                    ));
                }
                parts
                    .iter()
                    .map(|p| match p {
                        Expr::Value(v) => Ok((v.ty, Dep::default())),
                        p => self.sel(p, ctx),
                    })
                    .collect()
            }
            _ => Ok(vec![self.sel(e, ctx)?]),
        }
    }

    fn check_dep(&self, dep: Dep, ctx: &mut Ctx) -> R<()> {
        if let Some(v) = dep.l3 {
            match ctx.l3 {
                Some(c) if c != v => {
                    return Err(format!(
                        "conflicting protocols specified: {} vs. {}",
                        l3_name(c),
                        l3_name(v)
                    ));
                }
                _ => ctx.l3 = Some(v),
            }
        }
        if let Some(v) = dep.l4 {
            // After a match against a set of protocols nft 1.0.6 keeps no single transport
            // protocol in its context, and a header of one of them conflicts with another
            // ("conflicting protocols specified: udp vs. tcp" for `meta l4proto { tcp, udp }
            // tcp dport 22`, checked with nft -c).
            if ctx.l4.is_none()
                && let Some(set) = ctx.l4_set
            {
                let other = if set[0] != v { set[0] } else { set[1] };
                return Err(format!(
                    "conflicting protocols specified: {} vs. {}",
                    l4_name(other),
                    l4_name(v)
                ));
            }
            match ctx.l4 {
                Some(c) if c != v => {
                    return Err(format!(
                        "conflicting protocols specified: {} vs. {}",
                        l4_name(c),
                        l4_name(v)
                    ));
                }
                _ => ctx.l4 = Some(v),
            }
        }
        Ok(())
    }

    fn set_sig(&self, name: &str) -> R<&SetSig> {
        self.sets
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("No such file or directory; set '@{name}' does not exist"))
    }

    /// Normalises a left-hand side: resolves constants inside binary operations.
    fn lhs(&mut self, e: Expr, ctx: &mut Ctx) -> R<Expr> {
        match e {
            Expr::Concat(parts) => {
                let mut out = Vec::new();
                for p in parts {
                    if let Expr::Ct(CtKey::Saddr | CtKey::Daddr, _) = p {
                        return Err(
                            "use ct original ip saddr/daddr (or ip6) in concatenations".into()
                        );
                    }
                    out.push(self.lhs(p, ctx)?);
                }
                Ok(Expr::Concat(out))
            }
            Expr::Binop(op, l, r) => {
                let l = self.lhs(*l, ctx)?;
                let (ty, _) = self.sel(&l, ctx)?;
                let rty = if matches!(op, BinOp::Shl | BinOp::Shr) {
                    DType::Integer(32)
                } else {
                    ty
                };
                let r = if is_selector(&r) {
                    self.lhs(*r, ctx)?
                } else {
                    self.scalar(rty, *r)?
                };
                Ok(Expr::Binop(op, Box::new(l), Box::new(r)))
            }
            Expr::Jhash {
                expr,
                modulus,
                seed,
                offset,
            } => {
                let e = self.lhs(*expr, ctx)?;
                Ok(Expr::Jhash {
                    expr: Box::new(e),
                    modulus,
                    seed,
                    offset,
                })
            }
            e @ Expr::Value(_) => Ok(e),
            Expr::Ct(k @ (CtKey::Protocol | CtKey::L3proto), Some(_)) => Ok(Expr::Ct(k, None)),
            e => {
                for (_, d) in self.sel_types(&e, ctx)? {
                    self.check_dep(d, ctx)?;
                }
                Ok(e)
            }
        }
    }

    fn check_verdict(&self, v: &Verdict) -> R<()> {
        if let Verdict::Jump(c) | Verdict::Goto(c) = v
            && !self.chains.iter().any(|x| x == c)
        {
            return Err(format!(
                "Could not process rule: No such file or directory; chain '{c}' does not exist"
            ));
        }
        Ok(())
    }

    /// Normalises a rule. Errors carry the span of the offending statement.
    pub(crate) fn rule(&mut self, rule: Rule) -> Result<Rule, NftError> {
        let mut ctx = Ctx {
            l3: self.base_l3(),
            ..Default::default()
        };
        let mut out = Vec::with_capacity(rule.stmts.len());
        let mut spans = Vec::with_capacity(rule.stmts.len());
        let n = rule.stmts.len();
        for (i, s) in rule.stmts.into_iter().enumerate() {
            let sp = rule.stmt_spans.get(i).copied().unwrap_or(rule.span);
            let rsp = match &s {
                Stmt::Match { rspan, .. } => *rspan,
                _ => sp,
            };
            let before = out.len();
            self.stmt(s, &mut ctx, &mut out).map_err(|m| {
                let use_rhs = m.starts_with("could not")
                    || m.starts_with("value")
                    || m.contains("datatype")
                    || m.starts_with("Range")
                    || m.starts_with("interface")
                    || m.starts_with("Interface");
                mk_err(self.sm, if use_rhs { rsp } else { sp }, m)
            })?;
            for _ in before..out.len() {
                spans.push(sp);
            }
            let _ = n;
        }
        let (stmts, spans) = kill_dependencies(out, spans);
        Ok(Rule {
            stmts,
            comment: rule.comment,
            span: rule.span,
            stmt_spans: spans,
        })
    }
}

/// Statements of a set element or a set update (`add @s { ip saddr limit rate 10/second }`):
/// stateful ones only (`nft`: "statement must be stateful"), at most `NFT_SET_EXPR_MAX` (2)
/// of them (kernel `nft_dynset_init`: `-E2BIG`), packet limits with their default burst.
fn elem_stmts(v: Vec<Stmt>) -> R<Vec<Stmt>> {
    if v.len() > 2 {
        return Err(
            "Could not process rule: Argument list too long (at most 2 statements per set element)"
                .into(),
        );
    }
    v.into_iter()
        .map(|s| match s {
            Stmt::Counter | Stmt::Quota(_) => Ok(s),
            Stmt::Limit(l) => Ok(Stmt::Limit(limit_defaults(l)?)),
            other => Err(format!("statement must be stateful: {other}")),
        })
        .collect()
}

/// A `limit` statement: a rate above zero; a packet limit without a burst gets the
/// default of 5 (`nft_limit_init`).
fn limit_defaults(mut l: LimitStmt) -> R<LimitStmt> {
    if l.rate == 0 {
        return Err("limit rate must be greater than zero".into());
    }
    if l.unit == LimitUnit::Packets && l.burst == 0 {
        l.burst = 5;
    }
    Ok(l)
}

/// The error for a reference to an object the table does not have.
fn unknown_object(kind: &str, name: &str) -> String {
    format!("No such file or directory; {kind} '{name}' does not exist")
}

/// Whether an expression is a selector (reads the packet or state) rather than a constant.
pub(crate) fn is_selector(e: &Expr) -> bool {
    match e {
        Expr::Payload(..)
        | Expr::Meta(_)
        | Expr::Ct(..)
        | Expr::Numgen { .. }
        | Expr::Jhash { .. }
        | Expr::Symhash { .. }
        | Expr::Fib { .. }
        | Expr::Opaque(_)
        | Expr::Map(..) => true,
        Expr::Binop(_, a, b) => is_selector(a) || is_selector(b),
        Expr::Concat(p) => p.iter().any(is_selector),
        _ => false,
    }
}

fn has_interval(e: &Expr) -> bool {
    match e {
        Expr::Prefix(..) | Expr::Range(..) => true,
        Expr::Concat(p) => p.iter().any(has_interval),
        _ => false,
    }
}

fn compatible(a: DType, b: DType) -> bool {
    a == b
        || matches!((a, b), (DType::Integer(_), _) | (_, DType::Integer(_)))
        || (a.bits() == b.bits() && !matches!(a, DType::Ipv4 | DType::Ipv6 | DType::Ifname))
}

fn type_list(t: &[DType]) -> String {
    t.iter().map(|x| x.name()).collect::<Vec<_>>().join(" . ")
}

fn short(e: &Expr) -> String {
    match e {
        Expr::Sym(s, _) => format!("\"{s}\""),
        Expr::Num(n) => n.to_string(),
        Expr::Set(_) => "a set".into(),
        Expr::SetRef(n) => format!("@{n}"),
        Expr::Verdict(v) => v.to_string(),
        Expr::Concat(_) => "a concatenation".into(),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}
