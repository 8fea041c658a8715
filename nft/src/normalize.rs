//! Type resolution, validation and canonicalisation of rules and set declarations.
//!
//! After this pass every literal is a typed [`Value`], implicit operators are explicit
//! (`In` for flag lists, `Eq` elsewhere), `!` flag tests are `& mask == 0`, xor masks are
//! folded into the constant, prefixes have their host bits cleared, anonymous sets are
//! sorted, and dependency matches that nft itself would drop when listing
//! (`meta l4proto tcp tcp dport 22` → `tcp dport 22`) are removed. Dependencies that nft
//! prints (`meta l4proto tcp` in front of `reject with tcp reset`) are added.

use super::ast::*;
use super::error::{ErrorKind, NftError, SourceMap, Span};
use super::layout::{key_layout, range_of};
use super::selector::{Dep, ct_type, fib_type, meta_type, payload_info};
use super::types::*;

/// Device name → ifindex table used to resolve `iif`/`oif`.
#[derive(Clone, Debug)]
pub struct DeviceTable {
    /// Known devices.
    pub devs: Vec<(String, u32)>,
    /// Whether unknown names are an error (as in the kernel) or get a fresh index.
    pub strict: bool,
}

impl DeviceTable {
    /// Looks a device up, registering it when not strict.
    pub fn index(&mut self, name: &str) -> Option<u32> {
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
    /// The name of an ifindex.
    pub fn name(&self, idx: u32) -> Option<&str> {
        self.devs
            .iter()
            .find(|(_, i)| *i == idx)
            .map(|(n, _)| n.as_str())
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
pub struct SetSig {
    /// Name.
    pub name: String,
    /// Key types.
    pub key: Vec<DType>,
    /// Data types (maps; several for a concatenation).
    pub data: Vec<DType>,
    /// Object map kind.
    pub obj: Option<String>,
    /// Whether it is a map.
    pub is_map: bool,
}

/// Context for normalising the rules of one table.
pub struct Normalizer<'a> {
    /// Sources, for errors.
    pub sm: &'a SourceMap,
    /// Table family.
    pub family: Family,
    /// Named sets of the table.
    pub sets: Vec<SetSig>,
    /// Chain names of the table.
    pub chains: Vec<String>,
    /// Flowtable names.
    pub flowtables: Vec<String>,
    /// Objects: (kind, name).
    pub objects: Vec<(String, String)>,
    /// Devices.
    pub devices: &'a mut DeviceTable,
}

#[derive(Clone, Copy, Default)]
struct Ctx {
    l3: Option<u8>,
    l4: Option<u8>,
    l4_any: bool,
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

    /// Resolves a constant (or set) against key types.
    fn constant(&mut self, tys: &[DType], e: Expr, allow_set: bool) -> R<Expr> {
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

    fn scalar(&mut self, ty: DType, e: Expr) -> R<Expr> {
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
                Ok(Expr::Value(parse_literal(ty, &s, q)?))
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

    /// Normalises a value expression of type `want` (mangle values, NAT addresses, map keys).
    fn value(&mut self, want: DType, e: Expr, ctx: &mut Ctx) -> R<Expr> {
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
    fn map_data(&mut self, ktys: &[DType], dtys: &[DType], d: Expr) -> R<Expr> {
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

    fn data_value(&mut self, dtys: &[DType], v: Expr) -> R<Expr> {
        if dtys == [DType::Verdict] {
            return match v {
                Expr::Verdict(vd) => {
                    self.check_verdict(&vd)?;
                    Ok(Expr::Verdict(vd))
                }
                Expr::Sym(s, _) => match s.as_str() {
                    "accept" => Ok(Expr::Verdict(Verdict::Accept)),
                    "drop" => Ok(Expr::Verdict(Verdict::Drop)),
                    "continue" => Ok(Expr::Verdict(Verdict::Continue)),
                    "return" => Ok(Expr::Verdict(Verdict::Return)),
                    _ => Err(format!("invalid verdict {s}")),
                },
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

    /// Normalises one set/map declaration (types resolved, elements typed and sorted).
    pub fn set_decl(&mut self, mut d: SetDecl) -> R<SetDecl> {
        let ctx = Ctx {
            l3: self.base_l3(),
            ..Default::default()
        };
        if let Some(k) = d.typeof_key.take() {
            d.key = k
                .iter()
                .map(|e| self.sel(e, &ctx).map(|x| x.0))
                .collect::<R<Vec<_>>>()?;
        } else if !d.type_names.is_empty() {
            d.key = d
                .type_names
                .iter()
                .map(|n| DType::from_name(n).ok_or_else(|| format!("unknown datatype {n}")))
                .collect::<R<Vec<_>>>()?;
        } else if d.key.is_empty() {
            return Err(format!("set '{}' needs a type or typeof", d.name));
        }
        d.type_names.clear();
        key_layout(&d.key.iter().map(|t| t.bits()).collect::<Vec<_>>())?;
        if let Some(t) = d.typeof_data.take() {
            d.data = self.sel_types(&t, &ctx)?.into_iter().map(|x| x.0).collect();
        } else if let Some(n) = d.data_name.take() {
            d.data = n
                .split(" . ")
                .map(|n| {
                    let n = n.trim();
                    DType::from_name(n).ok_or_else(|| format!("unknown datatype {n}"))
                })
                .collect::<R<Vec<_>>>()?;
        }
        if d.data.len() > 1 {
            check_concat_data(&d.data)?;
        }
        if d.is_map && d.data.is_empty() && d.obj_type.is_none() {
            return Err(format!("map '{}' needs a data type", d.name));
        }
        let interval = d.flags.iter().any(|f| f == "interval");
        let elems = std::mem::take(&mut d.elements);
        let mut out = Vec::with_capacity(elems.len());
        let key = d.key.clone();
        for el in elems {
            let k = self.constant(&key, el.key, true)?;
            let data = match el.data {
                Some(v) => {
                    if !d.data.is_empty() {
                        Some(self.data_value(&d.data, v)?)
                    } else if d.obj_type.is_some() {
                        Some(self.data_value(&[DType::Str], v)?)
                    } else {
                        return Err(format!("set '{}' elements cannot have data", d.name));
                    }
                }
                None => {
                    if d.is_map {
                        return Err(format!("map '{}' element needs data", d.name));
                    }
                    None
                }
            };
            let stmts = elem_stmts(el.stmts)?;
            let mut push = |k: Expr| -> R<()> {
                if !interval && has_interval(&k) {
                    return Err(format!(
                        "set '{}' needs 'flags interval' for ranges and prefixes",
                        d.name
                    ));
                }
                out.push(SetElem {
                    key: k,
                    data: data.clone(),
                    timeout: el.timeout,
                    expires: el.expires,
                    comment: el.comment.clone(),
                    stmts: stmts.clone(),
                });
                Ok(())
            };
            match k {
                Expr::Set(inner) => {
                    for i in inner {
                        push(i.key)?;
                    }
                }
                k => push(k)?,
            }
        }
        sort_elems(&mut out);
        out.dedup_by(|a, b| a.key == b.key);
        d.elements = out;
        // `dynamic` is dropped by nft 1.0.6 JSON output; the kernel sets the timeout flag
        // when a default timeout is given; 65535 is the size nft reports for dynamic sets
        // declared without one.
        d.flags.retain(|f| f != "dynamic");
        if d.timeout.is_some() && !d.flags.iter().any(|f| f == "timeout") {
            d.flags.push("timeout".into());
        }
        // auto-merge only changes how overlapping insertions are stored; nft 1.0.6 JSON
        // drops it.
        d.auto_merge = false;
        if d.size == Some(65535) {
            d.size = None;
        }
        d.flags.sort();
        d.flags.dedup();
        Ok(d)
    }

    /// Normalises a rule. Errors carry the span of the offending statement.
    pub fn rule(&mut self, rule: Rule) -> Result<Rule, NftError> {
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

    fn stmt(&mut self, s: Stmt, ctx: &mut Ctx, out: &mut Vec<Stmt>) -> R<()> {
        if let Some(last) = out.last()
            && matches!(
                last,
                Stmt::Verdict(_) | Stmt::Nat(_) | Stmt::Reject(_) | Stmt::Queue { .. }
            )
        {
            return Err("Statement after terminal statement has no effect".into());
        }
        match s {
            Stmt::Match {
                left,
                op,
                right,
                rspan,
            } => {
                let left = match (left, &right) {
                    (Expr::Concat(parts), Expr::SetRef(n))
                        if parts.iter().any(|p| !is_selector(p)) =>
                    {
                        let key = self.set_sig(n)?.key.clone();
                        if key.len() != parts.len() {
                            return Err(format!(
                                "datatype mismatch: @{n} has {} fields",
                                key.len()
                            ));
                        }
                        let mut out = Vec::new();
                        for (p, t) in parts.into_iter().zip(key) {
                            out.push(if is_selector(&p) {
                                self.lhs(p, ctx)?
                            } else {
                                self.scalar(t, p)?
                            });
                        }
                        Expr::Concat(out)
                    }
                    (l, _) => self.lhs(l, ctx)?,
                };
                let tys: Vec<DType> = self
                    .sel_types(&left, ctx)?
                    .into_iter()
                    .map(|x| x.0)
                    .collect();
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
                if let Expr::Payload(p @ (Proto::Icmp | Proto::Icmpv6), f) = &left
                    && (f == "id" || f == "sequence")
                    && !ctx_has_icmp_type(out, *p)
                {
                    let (ty, a, b) = if *p == Proto::Icmp {
                        (DType::IcmpType, 0, 8)
                    } else {
                        (DType::Icmpv6Type, 128, 129)
                    };
                    out.push(Stmt::Match {
                        left: Expr::Payload(*p, "type".into()),
                        op: RelOp::Eq,
                        right: Expr::Set(vec![
                            SetElem::plain(Expr::Value(Value::new(ty, a))),
                            SetElem::plain(Expr::Value(Value::new(ty, b))),
                        ]),
                        rspan: Span::default(),
                    });
                }
                let m = canon_match(left, op, right, &tys)?;
                if let Stmt::Match {
                    left,
                    op: RelOp::Eq,
                    right: Expr::Value(v),
                    ..
                } = &m
                {
                    match left {
                        Expr::Meta(MetaKey::L4proto)
                        | Expr::Payload(Proto::Ip, _)
                        | Expr::Payload(Proto::Ip6, _)
                            if v.ty == DType::InetProto =>
                        {
                            if let Expr::Payload(p, _) = left {
                                self.check_dep(
                                    Dep {
                                        l3: Some(if *p == Proto::Ip { 4 } else { 6 }),
                                        l4: None,
                                    },
                                    ctx,
                                )?;
                            }
                            ctx.l4 = Some(v.v as u8);
                        }
                        Expr::Meta(MetaKey::Nfproto) => {
                            let l3 = if v.v == 2 { 4 } else { 6 };
                            self.check_dep(
                                Dep {
                                    l3: Some(l3),
                                    l4: None,
                                },
                                ctx,
                            )?;
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
                } = &m
                {
                    ctx.l4_any = true;
                }
                let m = match m {
                    Stmt::Match {
                        left, op, right, ..
                    } => Stmt::Match {
                        left,
                        op,
                        right,
                        rspan,
                    },
                    o => o,
                };
                out.push(m);
            }
            Stmt::Verdict(v) => {
                self.check_verdict(&v)?;
                out.push(Stmt::Verdict(v));
            }
            Stmt::Vmap { key, data } => {
                let key = self.lhs(key, ctx)?;
                let tys: Vec<DType> = self
                    .sel_types(&key, ctx)?
                    .into_iter()
                    .map(|x| x.0)
                    .collect();
                let data = self.map_data(&tys, &[DType::Verdict], data)?;
                if let Expr::SetRef(n) = &data
                    && self.set_sig(n)?.data != [DType::Verdict]
                {
                    return Err(format!("@{n} is not a verdict map"));
                }
                out.push(Stmt::Vmap { key, data });
            }
            Stmt::Counter => out.push(Stmt::Counter),
            Stmt::CounterRef(e) => out.push(Stmt::CounterRef(self.obj_ref("counter", e, ctx)?)),
            Stmt::LimitRef(e) => out.push(Stmt::LimitRef(self.obj_ref("limit", e, ctx)?)),
            Stmt::QuotaRef(e) => out.push(Stmt::QuotaRef(self.obj_ref("quota", e, ctx)?)),
            Stmt::CtHelperSet(e) => {
                out.push(Stmt::CtHelperSet(self.obj_ref("ct helper", e, ctx)?))
            }
            Stmt::CtTimeoutSet(e) => {
                out.push(Stmt::CtTimeoutSet(self.obj_ref("ct timeout", e, ctx)?))
            }
            Stmt::Limit(mut l) => {
                if l.rate == 0 {
                    return Err("limit rate must be greater than zero".into());
                }
                if l.unit == LimitUnit::Packets && l.burst == 0 {
                    l.burst = 5;
                }
                out.push(Stmt::Limit(l));
            }
            Stmt::Quota(q) => out.push(Stmt::Quota(q)),
            Stmt::Log(l) => {
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
                let mut l = l;
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
                        "emerg"
                            | "alert"
                            | "crit"
                            | "err"
                            | "warn"
                            | "notice"
                            | "info"
                            | "debug"
                            | "audit"
                    )
                {
                    return Err(format!("invalid log level {lv}"));
                }
                out.push(Stmt::Log(l));
            }
            Stmt::Notrack => out.push(Stmt::Notrack),
            Stmt::FlowAdd(ft) => {
                if !self.flowtables.contains(&ft) {
                    return Err(format!(
                        "No such file or directory; flowtable '@{ft}' does not exist"
                    ));
                }
                out.push(Stmt::FlowAdd(ft));
            }
            Stmt::Mangle {
                key: Expr::Opaque(k),
                value,
            } if k == "tcp option maxseg size" => {
                let value = match value {
                    Expr::Opaque(v) if v == "rt mtu" => Expr::Opaque(v),
                    v => self.scalar(DType::Integer(16), v)?,
                };
                self.check_dep(
                    Dep {
                        l3: None,
                        l4: Some(6),
                    },
                    ctx,
                )?;
                out.push(Stmt::Mangle {
                    key: Expr::Opaque(k),
                    value,
                });
            }
            // SELinux security marks (`meta secmark set "obj"`, `ct secmark set meta secmark`,
            // `meta secmark set ct secmark`): skb->secmark / ct->secmark are consulted only by
            // the LSM, never by anything the simulation decides
            Stmt::Mangle {
                key: key @ (Expr::Meta(MetaKey::Secmark) | Expr::Ct(CtKey::Secmark, None)),
                value,
            } => {
                let value = match (&key, value) {
                    (Expr::Meta(_), Expr::Sym(s, _)) => {
                        if !self.objects.iter().any(|(k, n)| k == "secmark" && *n == s) {
                            return Err(format!(
                                "No such file or directory; secmark '{s}' does not exist"
                            ));
                        }
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
                out.push(Stmt::Mangle { key, value });
            }
            Stmt::Mangle { key, value } => {
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
                out.push(Stmt::Mangle { key, value });
            }
            Stmt::Nat(n) => self.nat(n, ctx, out)?,
            Stmt::Reject(r) => self.reject(r, ctx, out)?,
            Stmt::SetUpdate {
                op,
                set,
                key,
                data,
                timeout,
                stmts,
            } => {
                let sig = self.set_sig(&set)?.clone();
                let key = match key {
                    Expr::Concat(parts) if parts.len() == sig.key.len() => {
                        let mut out = Vec::new();
                        for (p, t) in parts.into_iter().zip(&sig.key) {
                            out.push(if is_selector(&p) {
                                self.lhs(p, ctx)?
                            } else {
                                self.scalar(*t, p)?
                            });
                        }
                        Expr::Concat(out)
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
                    k => self.sel_types(k, ctx)?.into_iter().map(|x| x.0).collect(),
                };
                if tys.len() != sig.key.len()
                    || tys.iter().zip(&sig.key).any(|(a, b)| !compatible(*a, *b))
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
                let inner = elem_stmts(stmts)?;
                out.push(Stmt::SetUpdate {
                    op,
                    set,
                    key,
                    data,
                    timeout,
                    stmts: inner,
                });
            }
            Stmt::Queue { num, flags } => {
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
                out.push(Stmt::Queue { num, flags });
            }
            Stmt::Unsupported(s) => return Err(format!("unsupported: {s}")),
        }
        Ok(())
    }

    fn obj_ref(&mut self, kind: &str, e: Expr, ctx: &mut Ctx) -> R<Expr> {
        match e {
            Expr::Sym(s, _) => {
                if !self.objects.iter().any(|(k, n)| k == kind && *n == s) {
                    return Err(format!(
                        "No such file or directory; {kind} '{s}' does not exist"
                    ));
                }
                Ok(Expr::Value(Value::new(DType::Str, ifname_value(&s))))
            }
            Expr::Map(k, d) => {
                let k = self.lhs(*k, ctx)?;
                let ktys: Vec<DType> = self.sel_types(&k, ctx)?.into_iter().map(|x| x.0).collect();
                let d = self.map_data(&ktys, &[DType::Str], *d)?;
                if let Expr::Set(el) = &d {
                    for e in el {
                        if let Some(Expr::Value(v)) = &e.data {
                            let n = ifname_string(v.v);
                            if !self.objects.iter().any(|(kk, x)| kk == kind && *x == n) {
                                return Err(format!(
                                    "No such file or directory; {kind} '{n}' does not exist"
                                ));
                            }
                        }
                    }
                }
                Ok(Expr::Map(Box::new(k), Box::new(d)))
            }
            other => Err(format!("invalid {kind} reference {}", short(&other))),
        }
    }

    fn nat(&mut self, mut n: NatStmt, ctx: &mut Ctx, out: &mut Vec<Stmt>) -> R<()> {
        let fam = match (n.family, self.family) {
            (Some(f), Family::Inet) => {
                let v = if f == Family::Ip { 4 } else { 6 };
                self.check_dep(
                    Dep {
                        l3: Some(v),
                        l4: None,
                    },
                    ctx,
                )?;
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
                return Err(
                    "transport protocol mapping is only valid after transport protocol match"
                        .into(),
                );
            }
            n.port = Some(p);
        }
        let aty = if fam == Some(6) {
            DType::Ipv6
        } else {
            DType::Ipv4
        };
        if let Some(a) = n.addr.take() {
            // `addr . port` map data
            if let Expr::Map(k, d) = a {
                let k = self.lhs(*k, ctx)?;
                let ktys: Vec<DType> = self.sel_types(&k, ctx)?.into_iter().map(|x| x.0).collect();
                let concat = match &*d {
                    Expr::Set(el) => el.iter().any(|e| matches!(e.data, Some(Expr::Concat(_)))),
                    Expr::SetRef(n) => self.set_sig(n)?.data.len() == 2,
                    _ => false,
                };
                // nft: the port needs a transport protocol, from a match or from the key
                // (`tcp dport` implies tcp; `th dport` does not)
                if concat && ctx.l4.is_none() && !ctx.l4_any {
                    return Err(
                        "transport protocol mapping is only valid after transport protocol match"
                            .into(),
                    );
                }
                let dtys: Vec<DType> = if concat {
                    vec![aty, DType::InetService]
                } else {
                    vec![aty]
                };
                let d = self.map_data(&ktys, &dtys, *d)?;
                n.concat = concat;
                n.addr = Some(Expr::Map(Box::new(k), Box::new(d)));
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

    fn reject(&mut self, r: RejectStmt, ctx: &mut Ctx, out: &mut Vec<Stmt>) -> R<()> {
        let dep = |l3: Option<u8>, l4: Option<u8>| Dep { l3, l4 };
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
        match &r {
            RejectStmt::TcpReset => {
                if ctx.l4.is_none() {
                    out.push(Stmt::Match {
                        left: Expr::Meta(MetaKey::L4proto),
                        op: RelOp::Eq,
                        right: Expr::Value(Value::new(DType::InetProto, 6)),
                        rspan: Span::default(),
                    });
                }
                self.check_dep(dep(None, Some(6)), ctx)?;
            }
            RejectStmt::Icmp(_) => {
                if ctx.l3.is_none() {
                    out.push(Stmt::Match {
                        left: Expr::Meta(MetaKey::Nfproto),
                        op: RelOp::Eq,
                        right: Expr::Value(Value::new(DType::NfProto, 2)),
                        rspan: Span::default(),
                    });
                }
                self.check_dep(dep(Some(4), None), ctx)?;
            }
            RejectStmt::Icmpv6(_) => {
                if ctx.l3.is_none() {
                    out.push(Stmt::Match {
                        left: Expr::Meta(MetaKey::Nfproto),
                        op: RelOp::Eq,
                        right: Expr::Value(Value::new(DType::NfProto, 10)),
                        rspan: Span::default(),
                    });
                }
                self.check_dep(dep(Some(6), None), ctx)?;
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
            Stmt::Limit(mut l) => {
                if l.rate == 0 {
                    return Err("limit rate must be greater than zero".into());
                }
                if l.unit == LimitUnit::Packets && l.burst == 0 {
                    l.burst = 5;
                }
                Ok(Stmt::Limit(l))
            }
            other => Err(format!("statement must be stateful: {other}")),
        })
        .collect()
}

/// A range as nft prints it: an address range that is exactly a prefix becomes the prefix.
fn range_expr(ty: DType, lo: u128, hi: u128) -> Expr {
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
fn merge_intervals(v: Vec<SetElem>, ty: DType) -> Vec<SetElem> {
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

fn ctx_has_icmp_type(out: &[Stmt], p: Proto) -> bool {
    out.iter().any(
        |s| matches!(s, Stmt::Match { left: Expr::Payload(q, f), .. } if *q == p && f == "type"),
    )
}

/// Concatenated map data is only consumed by NAT (`dnat to KEY map { k : addr . port }`:
/// `nft_nat` takes the address and the port from consecutive registers).
fn check_concat_data(tys: &[DType]) -> R<()> {
    if matches!(tys, [DType::Ipv4 | DType::Ipv6, DType::InetService]) {
        Ok(())
    } else {
        Err(format!(
            "unsupported: concatenated map data {} (only `ipv4_addr . inet_service` and `ipv6_addr . inet_service` NAT maps are modelled)",
            type_list(tys)
        ))
    }
}

/// Whether an expression is a selector (reads the packet or state) rather than a constant.
pub fn is_selector(e: &Expr) -> bool {
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

fn fold(op: BinOp, a: u128, b: u128) -> u128 {
    match op {
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a.checked_shl(b as u32).unwrap_or(0),
        BinOp::Shr => a.checked_shr(b as u32).unwrap_or(0),
    }
}

fn fold_const(e: Expr) -> Expr {
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
fn canon_match(left: Expr, op: RelOp, right: Expr, tys: &[DType]) -> R<Stmt> {
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
pub fn sort_elems(v: &mut [SetElem]) {
    v.sort_by_cached_key(|e| {
        let mut k = Vec::new();
        elem_sort_key(&e.key, &mut k);
        k
    });
}

/// Removes dependency matches implied by a later match (nft's dependency kill on listing).
fn kill_dependencies(stmts: Vec<Stmt>, spans: Vec<Span>) -> (Vec<Stmt>, Vec<Span>) {
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
                Dep {
                    l3: None,
                    l4: Some(v.v as u8),
                }
            }
            Expr::Meta(MetaKey::Nfproto) => Dep {
                l3: Some(if v.v == 2 { 4 } else { 6 }),
                l4: None,
            },
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
