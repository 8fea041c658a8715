//! Expressions: matches and mangles (`LEFT [OP] RIGHT`, `LEFT set VALUE`, `LEFT vmap
//! DATA`), selectors (payload, meta, ct, numgen, jhash, symhash, fib), binary operations,
//! concatenations, maps, and right-hand sides (values, ranges, prefixes, flag lists, sets).

use super::tokens::concat;
use super::{PResult, Parser};
use crate::ast::*;
use crate::error::Span;
use crate::lexer::Tok;
use crate::selector::{ct_supported, meta_supported, payload_info, payload_supported};

impl Parser<'_> {
    /// `LHS [op] RHS`, `LHS set VALUE`, `LHS vmap DATA`.
    pub(super) fn match_stmt(&mut self) -> PResult<Stmt> {
        let lhs = self.lhs_expr()?;
        let sp = self.span();
        if self.eat_word("set") {
            let v = self.value_expr()?;
            return Ok(Stmt::Mangle { key: lhs, value: v });
        }
        if self.eat_word("vmap") {
            let d = self.map_data()?;
            return Ok(Stmt::Vmap { key: lhs, data: d });
        }
        let op = match self.peek().clone() {
            Tok::EqEq => Some(RelOp::Eq),
            Tok::Ne => Some(RelOp::Ne),
            Tok::Lt => Some(RelOp::Lt),
            Tok::Gt => Some(RelOp::Gt),
            Tok::Le => Some(RelOp::Le),
            Tok::Ge => Some(RelOp::Ge),
            Tok::Bang => Some(RelOp::Not),
            Tok::Word(w) => match w.as_str() {
                "eq" => Some(RelOp::Eq),
                "ne" => Some(RelOp::Ne),
                "lt" => Some(RelOp::Lt),
                "gt" => Some(RelOp::Gt),
                "le" => Some(RelOp::Le),
                "ge" => Some(RelOp::Ge),
                _ => None,
            },
            _ => None,
        };
        let op = match op {
            Some(o) => {
                self.bump();
                o
            }
            None => RelOp::Implicit,
        };
        if self.at_end_of_stmt() {
            return Err(self.err(sp, "expression needs a value to compare with"));
        }
        let rsp = self.span();
        let (right, mask) = self.rhs_with_mask()?;
        let rspan = Span::join(rsp, self.prev_span());
        let (left, op, right) = match mask {
            Some(m) => (
                Expr::Binop(BinOp::And, Box::new(lhs), Box::new(m)),
                if op == RelOp::Implicit { RelOp::Eq } else { op },
                right,
            ),
            None => (lhs, op, right),
        };
        Ok(Stmt::Match {
            left,
            op,
            right,
            rspan,
        })
    }

    /// Selector with binary operations and concatenation.
    pub(super) fn lhs_expr(&mut self) -> PResult<Expr> {
        let first = self.lhs_binop()?;
        let parts = self.sep_list_after(first, &Tok::Dot, |p| {
            if let Tok::At(a) = p.peek().clone()
                && matches!(p.peek_at(1), Tok::Comma)
            {
                return Err(p.raw_payload(p.span(), &a));
            }
            if matches!(p.peek(), Tok::Word(w) if is_selector_word(w))
                || matches!(p.peek(), Tok::LParen)
            {
                p.lhs_binop()
            } else {
                p.rhs_atom()
            }
        })?;
        Ok(concat(parts))
    }

    pub(super) fn binop_tok(&self) -> Option<BinOp> {
        match self.peek() {
            Tok::Amp => Some(BinOp::And),
            Tok::Pipe => Some(BinOp::Or),
            Tok::Caret => Some(BinOp::Xor),
            Tok::Shl => Some(BinOp::Shl),
            Tok::Shr => Some(BinOp::Shr),
            Tok::Word(w) => match w.as_str() {
                "and" => Some(BinOp::And),
                "or" => Some(BinOp::Or),
                "xor" => Some(BinOp::Xor),
                _ => None,
            },
            _ => None,
        }
    }

    /// Runs `f` one nesting level deeper; beyond 64 levels the expression is an error
    /// (deeply nested input must not overflow the stack).
    pub(super) fn nested(&mut self, f: impl FnOnce(&mut Self) -> PResult<Expr>) -> PResult<Expr> {
        self.nest += 1;
        let r = if self.nest > 64 {
            Err(self.err(self.span(), "expression nested too deeply"))
        } else {
            f(self)
        };
        self.nest -= 1;
        r
    }

    pub(super) fn lhs_binop(&mut self) -> PResult<Expr> {
        self.nested(Self::lhs_binop_inner)
    }

    pub(super) fn lhs_binop_inner(&mut self) -> PResult<Expr> {
        let mut e = if self.eat(&Tok::LParen) {
            let e = self.lhs_expr()?;
            self.expect(&Tok::RParen, "`)`")?;
            e
        } else {
            self.selector_expr()?
        };
        while let Some(op) = self.binop_tok() {
            self.bump();
            let r = self.shifted_operand(op)?;
            e = Expr::Binop(op, Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    /// Operand of `&`/`|`/`^`, with `<<`/`>>` binding tighter (as in nft's grammar).
    pub(super) fn shifted_operand(&mut self, op: BinOp) -> PResult<Expr> {
        let mut r = self.operand()?;
        if matches!(op, BinOp::And | BinOp::Or | BinOp::Xor) {
            while matches!(self.peek(), Tok::Shl | Tok::Shr) {
                let sop = if matches!(self.peek(), Tok::Shl) {
                    BinOp::Shl
                } else {
                    BinOp::Shr
                };
                self.bump();
                let n = self.operand()?;
                r = Expr::Binop(sop, Box::new(r), Box::new(n));
            }
        }
        Ok(r)
    }

    /// Right operand of a binary operation: a constant, `(a | b)` or a selector.
    pub(super) fn operand(&mut self) -> PResult<Expr> {
        self.nested(Self::operand_inner)
    }

    pub(super) fn operand_inner(&mut self) -> PResult<Expr> {
        if self.eat(&Tok::LParen) {
            let mut e = self.operand()?;
            while let Some(op) = self.binop_tok() {
                self.bump();
                let r = self.operand()?;
                e = Expr::Binop(op, Box::new(e), Box::new(r));
            }
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(e);
        }
        if matches!(self.peek(), Tok::Word(w) if is_selector_word(w)) {
            return self.selector_expr();
        }
        let a = self.rhs_atom()?;
        // flag lists in masks: `& syn,ack`
        if matches!(self.peek(), Tok::Comma) {
            return Ok(Expr::List(
                self.sep_list_after(a, &Tok::Comma, |p| p.rhs_atom())?,
            ));
        }
        Ok(a)
    }

    /// A value expression used by statements: selectors or constants with binary
    /// operations, concatenations and `map` lookups.
    pub(super) fn value_expr(&mut self) -> PResult<Expr> {
        let mut e = concat(self.sep_list(&Tok::Dot, |p| p.value_binop())?);
        if self.eat_word("map") {
            let d = self.map_data()?;
            e = Expr::Map(Box::new(e), Box::new(d));
        }
        Ok(e)
    }

    pub(super) fn value_binop(&mut self) -> PResult<Expr> {
        self.nested(Self::value_binop_inner)
    }

    pub(super) fn value_binop_inner(&mut self) -> PResult<Expr> {
        let mut e = if self.eat(&Tok::LParen) {
            let e = self.value_expr()?;
            self.expect(&Tok::RParen, "`)`")?;
            e
        } else if matches!(self.peek(), Tok::Word(w) if is_selector_word(w)) {
            self.selector_expr()?
        } else {
            self.rhs_range()?
        };
        while let Some(op) = self.binop_tok() {
            self.bump();
            let r = self.shifted_operand(op)?;
            e = Expr::Binop(op, Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    /// Map or vmap data: `{ k : v, ... }`, `@name` or `$var`.
    pub(super) fn map_data(&mut self) -> PResult<Expr> {
        match self.peek().clone() {
            Tok::At(n) => {
                self.bump();
                Ok(Expr::SetRef(n))
            }
            Tok::LBrace => Ok(Expr::Set(self.set_literal_elems()?)),
            Tok::Var(v) => {
                let sp = self.span();
                self.bump();
                self.var(sp, &v)
            }
            _ => Err(self.unexpected("`{` or @map")),
        }
    }

    /// A selector: payload field, meta, ct, numgen, jhash, symhash, fib.
    pub(super) fn selector_expr(&mut self) -> PResult<Expr> {
        let sp = self.span();
        let w = match self.peek().clone() {
            Tok::Word(w) => w,
            Tok::At(a) => return Err(self.raw_payload(sp, &a)),
            Tok::Var(v) => {
                self.bump();
                return self.var(sp, &v);
            }
            _ => return Err(self.unexpected("an expression")),
        };
        if let Some(k) = unqualified_meta(&w) {
            if k == MetaKey::Secpath
                && matches!(self.peek_at(1), Tok::Word(x) if x == "in" || x == "out")
            {
                return Err(self.unsupported(sp, "ipsec expression"));
            }
            if !meta_supported(k) {
                return Err(self.unsupported(sp, &format!("meta {}", k.name())));
            }
            self.bump();
            return Ok(Expr::Meta(k));
        }
        match w.as_str() {
            "rt" if matches!(self.peek_at(1), Tok::Word(x) if x == "mtu") => {
                self.bump();
                self.bump();
                Ok(Expr::Opaque("rt mtu".into()))
            }
            // `rt type|segleft|hdrlength|nexthdr` is the IPv6 routing header (below); other
            // `rt` keys (classid, nexthop, ipsec) are the routing expression
            "rt" if !matches!(self.peek_at(1), Tok::Word(x)
                if matches!(x.as_str(), "type" | "segleft" | "hdrlength" | "nexthdr")) =>
            {
                Err(self.unsupported(sp, "rt expression"))
            }
            "meta" => self.meta_selector(sp),
            "ct" => self.ct_selector(sp),
            "numgen" => self.numgen_selector(),
            "jhash" => self.jhash_selector(),
            "symhash" => self.symhash_selector(),
            "fib" => self.fib_selector(),
            _ => {
                if let Some(p) = Proto::from_name(&w) {
                    return self.payload_selector(sp, &w, p);
                }
                if w == "osf" {
                    // nf_osf matches SYNs against fingerprints that `nfnl_osf` loads from
                    // pf.os, outside the ruleset
                    return Err(self.unsupported(
                        sp,
                        "osf expression (passive OS fingerprinting needs the fingerprint database loaded outside the ruleset and each SYN's full option layout)",
                    ));
                }
                if is_selector_word(&w) {
                    return Err(self.unsupported(sp, &format!("{w} expression")));
                }
                Err(self.err(sp, format!("unexpected `{w}`, expecting an expression")))
            }
        }
    }

    /// `meta KEY` (`meta` is at `sp`).
    fn meta_selector(&mut self, sp: Span) -> PResult<Expr> {
        self.bump();
        let ksp = self.span();
        let k = self.name("a meta key")?;
        let key = MetaKey::from_name(&k)
            .ok_or_else(|| self.invalid(ksp, format!("unknown meta key {k}")))?;
        if !meta_supported(key) {
            return Err(self.unsupported(sp, &format!("meta {}", key.name())));
        }
        Ok(Expr::Meta(key))
    }

    /// `ct [original|reply] KEY` (`ct` is at `sp`).
    fn ct_selector(&mut self, sp: Span) -> PResult<Expr> {
        self.bump();
        let mut dir = None;
        if self.is_word("original") {
            self.bump();
            dir = Some(0);
        } else if self.is_word("reply") {
            self.bump();
            dir = Some(1);
        }
        let ksp = self.span();
        let k = self.name("a ct key")?;
        let key = match k.as_str() {
            "ip" | "ip6" => {
                let f = self.name("saddr or daddr")?;
                match (k.as_str(), f.as_str()) {
                    ("ip", "saddr") => CtKey::IpSaddr,
                    ("ip", "daddr") => CtKey::IpDaddr,
                    ("ip6", "saddr") => CtKey::Ip6Saddr,
                    ("ip6", "daddr") => CtKey::Ip6Daddr,
                    _ => return Err(self.invalid(ksp, format!("unknown ct key {k} {f}"))),
                }
            }
            _ => CtKey::from_name(&k)
                .ok_or_else(|| self.invalid(ksp, format!("unknown ct key {k}")))?,
        };
        if !ct_supported(key) {
            return Err(self.unsupported(sp, &format!("ct {}", key.name())));
        }
        Ok(Expr::Ct(key, dir))
    }

    /// `[offset N]`.
    fn offset(&mut self) -> PResult<u32> {
        Ok(if self.eat_word("offset") {
            self.number("an offset")? as u32
        } else {
            0
        })
    }

    /// `numgen inc|random mod M [offset O]`.
    fn numgen_selector(&mut self) -> PResult<Expr> {
        self.bump();
        let m = self.name("inc or random")?;
        let random = match m.as_str() {
            "inc" => false,
            "random" => true,
            _ => {
                return Err(self.invalid(self.prev_span(), format!("invalid numgen mode {m}")));
            }
        };
        self.expect_word("mod")?;
        let modulus = self.number("a modulus")? as u32;
        let offset = self.offset()?;
        Ok(Expr::Numgen {
            random,
            modulus,
            offset,
        })
    }

    /// `jhash EXPR [. EXPR ...] mod M [seed S] [offset O]`.
    fn jhash_selector(&mut self) -> PResult<Expr> {
        self.bump();
        let expr = concat(self.sep_list(&Tok::Dot, |p| p.selector_expr())?);
        self.expect_word("mod")?;
        let modulus = self.number("a modulus")? as u32;
        let mut seed = None;
        let mut offset = 0;
        loop {
            if self.eat_word("seed") {
                seed = Some(self.number("a seed")? as u32);
            } else if self.eat_word("offset") {
                offset = self.number("an offset")? as u32;
            } else {
                break;
            }
        }
        Ok(Expr::Jhash {
            expr: Box::new(expr),
            modulus,
            seed,
            offset,
        })
    }

    /// `symhash mod M [offset O]`.
    fn symhash_selector(&mut self) -> PResult<Expr> {
        self.bump();
        self.expect_word("mod")?;
        let modulus = self.number("a modulus")? as u32;
        let offset = self.offset()?;
        Ok(Expr::Symhash { modulus, offset })
    }

    /// `fib FLAG [. FLAG ...] oif|oifname|type`.
    fn fib_selector(&mut self) -> PResult<Expr> {
        self.bump();
        let flags = self.sep_list(&Tok::Dot, |p| {
            let fsp = p.span();
            let f = p.name("saddr, daddr, mark, iif or oif")?;
            fib_flags::from_name(&f).ok_or_else(|| p.invalid(fsp, format!("unknown fib flag {f}")))
        })?;
        let flags = flags.into_iter().fold(0u8, |a, b| a | b);
        let rsp = self.span();
        let r = self.name("oif, oifname or type")?;
        if r == "check" {
            return Err(self.unsupported(rsp, "fib check"));
        }
        let result = FibResult::from_name(&r)
            .ok_or_else(|| self.invalid(rsp, format!("unknown fib result {r}")))?;
        Ok(Expr::Fib { flags, result })
    }

    /// `PROTO FIELD` (the protocol keyword `w` is at `sp`): header fields offsim models, the
    /// TCP MSS option, and clear errors for the rest.
    fn payload_selector(&mut self, sp: Span, w: &str, p: Proto) -> PResult<Expr> {
        if matches!(
            p,
            Proto::Ah
                | Proto::Esp
                | Proto::Comp
                | Proto::Gre
                | Proto::Vlan
                | Proto::Arp
                | Proto::Dccp
                | Proto::Igmp
        ) {
            return Err(self.unsupported(sp, &format!("{w} expression")));
        }
        self.bump();
        let fsp = self.span();
        let f = match self.peek().clone() {
            Tok::Word(f) => {
                self.bump();
                f
            }
            _ => {
                return Err(self.unexpected(&format!("a {w} header field")));
            }
        };
        if w == "tcp"
            && f == "option"
            && self.is_word("maxseg")
            && matches!(self.peek_at(1), Tok::Word(x) if x == "size")
            && matches!(self.peek_at(2), Tok::Word(x) if x == "set")
        {
            // MSS clamping: accepted as a statement without effect on verdicts
            self.bump();
            self.bump();
            return Ok(Expr::Opaque("tcp option maxseg size".into()));
        }
        if w == "tcp"
            && f == "option"
            && self.is_word("maxseg")
            && matches!(self.peek_at(1), Tok::Word(x) if x == "size")
        {
            self.bump();
            self.bump();
            return Ok(Expr::Payload(p, "option maxseg size".into()));
        }
        if matches!(f.as_str(), "option" | "options" | "chunk") {
            return Err(self.unsupported(fsp, &format!("{w} {f} expression")));
        }
        if payload_info(p, &f).is_ok() && !payload_supported(p, &f) {
            return Err(self.unsupported(sp, &format!("{w} {f}")));
        }
        Ok(Expr::Payload(p, f))
    }

    /// RHS of a match, returning `(value, Some(mask))` for the `value / mask` flag form.
    pub(super) fn rhs_with_mask(&mut self) -> PResult<(Expr, Option<Expr>)> {
        let e = self.rhs_expr(false)?;
        if matches!(self.peek(), Tok::Slash) {
            self.bump();
            let m = self.rhs_expr(false)?;
            return Ok((e, Some(m)));
        }
        Ok((e, None))
    }

    /// RHS: a single value or a comma-separated flag list.
    pub(super) fn rhs_expr(&mut self, in_define: bool) -> PResult<Expr> {
        let first = self.rhs_single()?;
        if matches!(self.peek(), Tok::Comma) && !in_define {
            return Ok(Expr::List(self.sep_list_after(
                first,
                &Tok::Comma,
                |p| p.rhs_single(),
            )?));
        }
        Ok(first)
    }

    /// One RHS element: atom with `.` concatenation, `-` range, `/N` prefix and `|` flag
    /// combinations.
    pub(super) fn rhs_single(&mut self) -> PResult<Expr> {
        Ok(concat(self.sep_list(&Tok::Dot, |p| p.rhs_range())?))
    }

    pub(super) fn rhs_range(&mut self) -> PResult<Expr> {
        let mut a = self.rhs_atom()?;
        loop {
            match self.peek() {
                Tok::Slash if matches!(self.peek_at(1), Tok::Num(_)) => {
                    self.bump();
                    let sp = self.span();
                    let n = self.number("a prefix length")?;
                    // No type is wider than 128 bits: a larger length (4294967296 would wrap
                    // to /0 in a u32, matching everything) is an error here, with position;
                    // lengths over the type's width are refused when the type is known.
                    if n > 128 {
                        return Err(self.err(sp, format!("prefix length {n} is invalid")));
                    }
                    a = Expr::Prefix(Box::new(a), n as u32);
                }
                Tok::Dash => {
                    self.bump();
                    let b = self.rhs_atom()?;
                    a = Expr::Range(Box::new(a), Box::new(b));
                }
                Tok::Pipe => {
                    self.bump();
                    let b = self.rhs_atom()?;
                    a = Expr::Binop(BinOp::Or, Box::new(a), Box::new(b));
                }
                _ => return Ok(a),
            }
        }
    }

    pub(super) fn rhs_atom(&mut self) -> PResult<Expr> {
        self.nested(Self::rhs_atom_inner)
    }

    pub(super) fn rhs_atom_inner(&mut self) -> PResult<Expr> {
        let sp = self.span();
        match self.peek().clone() {
            Tok::Num(s) | Tok::Word(s) | Tok::Ip4(s) | Tok::Ip6(s) => {
                self.bump();
                // `ct state established|related`-style words that contain `/` are masks
                Ok(Expr::Sym(s, false))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Expr::Sym(s, true))
            }
            Tok::At(n) => {
                self.bump();
                Ok(Expr::SetRef(n))
            }
            Tok::Var(v) => {
                self.bump();
                self.var(sp, &v)
            }
            Tok::LBrace => Ok(Expr::Set(self.set_literal_elems()?)),
            Tok::LParen => {
                self.bump();
                let mut e = self.rhs_single()?;
                while let Some(op) = self.binop_tok() {
                    self.bump();
                    let r = self.rhs_single()?;
                    e = Expr::Binop(op, Box::new(e), Box::new(r));
                }
                self.expect(&Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::LBracket => {
                self.bump();
                let e = self.rhs_atom()?;
                self.expect(&Tok::RBracket, "`]`")?;
                Ok(e)
            }
            Tok::Star => {
                self.bump();
                Ok(Expr::Wildcard)
            }
            Tok::Dash => {
                // negative number
                self.bump();
                match self.peek().clone() {
                    Tok::Num(n) => {
                        self.bump();
                        Ok(Expr::Sym(format!("-{n}"), false))
                    }
                    _ => Err(self.unexpected("a value")),
                }
            }
            _ => Err(self.unexpected("a value")),
        }
    }
}

/// Keywords that start a selector expression.
pub(super) fn is_selector_word(w: &str) -> bool {
    Proto::from_name(w).is_some()
        || matches!(
            w,
            "meta"
                | "ct"
                | "numgen"
                | "jhash"
                | "symhash"
                | "fib"
                | "rt"
                | "mark"
                | "iif"
                | "iifname"
                | "iiftype"
                | "oif"
                | "oifname"
                | "oiftype"
                | "skuid"
                | "skgid"
                | "nftrace"
                | "rtclassid"
                | "ibrname"
                | "obrname"
                | "ibriport"
                | "obriport"
                | "pkttype"
                | "cpu"
                | "iifgroup"
                | "oifgroup"
                | "cgroup"
                | "ipsec"
                | "exthdr"
                | "hbh"
                | "rt0"
                | "rt2"
                | "srh"
                | "frag"
                | "dst"
                | "mh"
                | "socket"
                | "osf"
                | "tunnel"
                | "vxlan"
                | "geneve"
                | "gretap"
                | "dccp"
                | "udplite"
                | "sctp"
        )
}

pub(super) fn unqualified_meta(w: &str) -> Option<MetaKey> {
    match w {
        "mark" | "iif" | "iifname" | "iiftype" | "oif" | "oifname" | "oiftype" | "skuid"
        | "skgid" | "nftrace" | "rtclassid" | "ibrname" | "obrname" | "ibriport" | "obriport"
        | "pkttype" | "cpu" | "iifgroup" | "oifgroup" | "cgroup" | "ipsec" | "time" | "day"
        | "hour" => MetaKey::from_name(w),
        _ => None,
    }
}
