//! nft-style text for rules (used for `RuleInfo::text` and messages).

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;
use super::types::{DType, fmt_time_ms, ifname_string};

fn exprs(f: &mut Formatter<'_>, e: &Expr) -> fmt::Result {
    match e {
        Expr::Payload(p, fld) => write!(f, "{} {fld}", p.name()),
        Expr::Meta(k) => {
            if k.prints_bare() {
                f.write_str(k.name())
            } else {
                write!(f, "meta {}", k.name())
            }
        }
        Expr::Ct(k, d) => match d {
            Some(0) => write!(f, "ct original {}", k.name()),
            Some(_) => write!(f, "ct reply {}", k.name()),
            None => write!(f, "ct {}", k.name()),
        },
        Expr::Numgen {
            random,
            modulus,
            offset,
        } => {
            write!(
                f,
                "numgen {} mod {modulus}",
                if *random { "random" } else { "inc" }
            )?;
            write_offset(f, *offset)
        }
        Expr::Jhash {
            expr,
            modulus,
            seed,
            offset,
        } => {
            f.write_str("jhash ")?;
            exprs(f, expr)?;
            write!(f, " mod {modulus}")?;
            if let Some(s) = seed {
                write!(f, " seed 0x{s:x}")?;
            }
            write_offset(f, *offset)
        }
        Expr::Symhash { modulus, offset } => {
            write!(f, "symhash mod {modulus}")?;
            write_offset(f, *offset)
        }
        Expr::Fib { flags, result } => {
            f.write_str("fib ")?;
            let names: Vec<&str> = fib_flags::NAMES
                .iter()
                .filter(|(b, _)| flags & b != 0)
                .map(|(_, n)| *n)
                .collect();
            write!(f, "{} {}", names.join(" . "), result.name())
        }
        Expr::Opaque(s) => f.write_str(s),
        Expr::Sym(s, q) => {
            if *q {
                write!(f, "\"{s}\"")
            } else {
                f.write_str(s)
            }
        }
        Expr::Num(n) => write!(f, "{n}"),
        Expr::Value(v) => write!(f, "{v}"),
        Expr::Prefix(a, l) => {
            if let Expr::Value(v) = &**a
                && v.ty == DType::Ifname
            {
                return write!(f, "\"{}*\"", ifname_string(v.v));
            }
            exprs(f, a)?;
            write!(f, "/{l}")
        }
        Expr::Range(a, b) => {
            exprs(f, a)?;
            f.write_str("-")?;
            exprs(f, b)
        }
        Expr::Set(el) => set(f, el),
        Expr::SetRef(n) => write!(f, "@{n}"),
        Expr::Concat(p) => {
            for (i, x) in p.iter().enumerate() {
                if i > 0 {
                    f.write_str(" . ")?;
                }
                exprs(f, x)?;
            }
            Ok(())
        }
        Expr::Binop(op, a, b) => {
            exprs(f, a)?;
            write!(f, " {} ", op.symbol())?;
            exprs(f, b)
        }
        Expr::List(l) => {
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                exprs(f, x)?;
            }
            Ok(())
        }
        Expr::Map(k, d) => {
            exprs(f, k)?;
            f.write_str(" map ")?;
            exprs(f, d)
        }
        Expr::Verdict(v) => write!(f, "{v}"),
        Expr::Bool(b) => f.write_str(if *b { "exists" } else { "missing" }),
        Expr::Wildcard => f.write_str("*"),
        Expr::Var(v) => write!(f, "${v}"),
    }
}

/// ` offset N` when not 0.
fn write_offset(f: &mut Formatter<'_>, offset: u32) -> fmt::Result {
    if offset != 0 {
        write!(f, " offset {offset}")?;
    }
    Ok(())
}

/// `{ KEY [timeout T] [comment "C"] [: DATA], ... }`.
fn set(f: &mut Formatter<'_>, el: &[SetElem]) -> fmt::Result {
    f.write_str("{ ")?;
    for (i, e) in el.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        exprs(f, &e.key)?;
        if let Some(t) = e.timeout {
            write!(f, " timeout {}", fmt_time_ms(t))?;
        }
        if let Some(c) = &e.comment {
            write!(f, " comment \"{c}\"")?;
        }
        if let Some(d) = &e.data {
            f.write_str(" : ")?;
            exprs(f, d)?;
        }
    }
    f.write_str(" }")
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        exprs(f, self)
    }
}

impl Display for Stmt {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stmt::Match {
                left, op, right, ..
            } => {
                write!(f, "{left} ")?;
                let s = op.symbol();
                if !s.is_empty() && (*op != RelOp::Eq || matches!(left, Expr::Binop(..))) {
                    write!(f, "{s} ")?;
                }
                write!(f, "{right}")
            }
            Stmt::Verdict(v) => write!(f, "{v}"),
            Stmt::Vmap { key, data } => write!(f, "{key} vmap {data}"),
            Stmt::Counter => f.write_str("counter"),
            Stmt::CounterRef(e) => write!(f, "counter name {e}"),
            Stmt::Log(l) => log(f, l),
            Stmt::Limit(l) => limit(f, l),
            Stmt::LimitRef(e) => write!(f, "limit name {e}"),
            Stmt::Quota(q) => write!(
                f,
                "quota {}{} bytes",
                if q.over { "over " } else { "" },
                q.bytes
            ),
            Stmt::QuotaRef(e) => write!(f, "quota name {e}"),
            Stmt::Notrack => f.write_str("notrack"),
            Stmt::Nat(n) => nat(f, n),
            Stmt::FlowAdd(ft) => write!(f, "flow add @{ft}"),
            Stmt::Mangle { key, value } => write!(f, "{key} set {value}"),
            Stmt::SetUpdate {
                op,
                set,
                key,
                timeout,
                data,
                stmts,
            } => {
                write!(f, "{} @{set} {{ {key}", op.name())?;
                if let Some(t) = timeout {
                    write!(f, " timeout {}", fmt_time_ms(*t))?;
                }
                for s in stmts {
                    write!(f, " {s}")?;
                }
                if let Some(d) = data {
                    write!(f, " : {d}")?;
                }
                f.write_str(" }")
            }
            Stmt::Reject(r) => reject(f, r),
            Stmt::Queue { num, flags } => {
                f.write_str("queue")?;
                if !flags.is_empty() {
                    write!(f, " flags {}", flags.join(","))?;
                }
                if let Some(n) = num {
                    write!(f, " to {n}")?;
                }
                Ok(())
            }
            Stmt::Fwd { dev, neigh, name } => {
                f.write_str("fwd ")?;
                if let Some((fam, addr)) = neigh {
                    write!(f, "{fam} to {addr} device ")?;
                } else {
                    f.write_str("to ")?;
                }
                match name {
                    Some(n) => write!(f, "\"{n}\""),
                    None => write!(f, "{dev}"),
                }
            }
            Stmt::CtHelperSet(e) => write!(f, "ct helper set {e}"),
            Stmt::CtTimeoutSet(e) => write!(f, "ct timeout set {e}"),
            Stmt::Unsupported(s) => f.write_str(s),
        }
    }
}

/// `log [prefix "P"] [level L] [group G] [snaplen N] [flags ...]`.
fn log(f: &mut Formatter<'_>, l: &LogStmt) -> fmt::Result {
    f.write_str("log")?;
    if let Some(p) = &l.prefix {
        write!(f, " prefix \"{p}\"")?;
    }
    if let Some(p) = &l.level {
        write!(f, " level {p}")?;
    }
    if let Some(g) = l.group {
        write!(f, " group {g}")?;
    }
    if let Some(g) = l.snaplen {
        write!(f, " snaplen {g}")?;
    }
    if !l.flags.is_empty() {
        write!(f, " flags {}", l.flags.join(","))?;
    }
    Ok(())
}

/// `limit rate [over] N/PERIOD burst B packets` or `... bytes/PERIOD [burst B bytes]`.
fn limit(f: &mut Formatter<'_>, l: &LimitStmt) -> fmt::Result {
    let per = rate_period_name(l.per_secs);
    write!(f, "limit rate {}", if l.over { "over " } else { "" })?;
    match l.unit {
        LimitUnit::Packets => write!(f, "{}/{per} burst {} packets", l.rate, l.burst),
        LimitUnit::Bytes => {
            write!(f, "{} bytes/{per}", l.rate)?;
            if l.burst > 0 {
                write!(f, " burst {} bytes", l.burst)?;
            }
            Ok(())
        }
    }
}

/// `snat|dnat [ip|ip6] to ADDR[:PORT] [flags]`, `masquerade`, `redirect [to :PORT]`.
fn nat(f: &mut Formatter<'_>, n: &NatStmt) -> fmt::Result {
    f.write_str(n.kind.name())?;
    if let Some(fam) = n.family
        && matches!(n.kind, NatKind::Snat | NatKind::Dnat)
        && n.addr.is_some()
    {
        write!(f, " {}", fam.name())?;
    }
    if n.addr.is_some() || n.port.is_some() {
        f.write_str(" to ")?;
    }
    if let Some(a) = &n.addr {
        if n.family == Some(Family::Ip6) && n.port.is_some() {
            write!(f, "[{a}]")?;
        } else {
            write!(f, "{a}")?;
        }
    }
    if let Some(p) = &n.port {
        write!(f, ":{p}")?;
    }
    let fl: Vec<&str> = nat_flags::NAMES
        .iter()
        .filter(|(b, _)| n.flags & b != 0)
        .map(|(_, name)| *name)
        .collect();
    if !fl.is_empty() {
        write!(f, " {}", fl.join(","))?;
    }
    Ok(())
}

/// `reject [with tcp reset|icmp|icmpv6|icmpx CODE]`.
fn reject(f: &mut Formatter<'_>, r: &RejectStmt) -> fmt::Result {
    match r {
        RejectStmt::Default => f.write_str("reject"),
        RejectStmt::TcpReset => f.write_str("reject with tcp reset"),
        RejectStmt::Icmp(c) => write!(
            f,
            "reject with icmp {}",
            code_name(super::types::ICMP_CODES, *c)
        ),
        RejectStmt::Icmpv6(c) => {
            write!(
                f,
                "reject with icmpv6 {}",
                code_name(super::types::ICMPV6_CODES, *c)
            )
        }
        RejectStmt::Icmpx(c) => {
            write!(
                f,
                "reject with icmpx {}",
                code_name(super::types::ICMPX_CODES, *c)
            )
        }
    }
}

fn code_name(t: &[(&'static str, u128)], c: u8) -> String {
    super::types::name_of(t, c as u128)
        .map(|s| s.to_string())
        .unwrap_or_else(|| c.to_string())
}

impl Display for Rule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (i, st) in self.stmts.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{st}");
        }
        if let Some(c) = &self.comment {
            let _ = write!(s, " comment \"{c}\"");
        }
        f.write_str(&s)
    }
}
