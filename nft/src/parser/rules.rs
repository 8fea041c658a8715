//! Rules and their statements: verdicts and chain bindings, counter, log, limit, quota,
//! NAT, reject, queue, set updates and meters (matches and mangles are in `exprs`).

use super::exprs::is_selector_word;
use super::{PResult, Parser};
use crate::ast::*;
use crate::error::Span;
use crate::lexer::Tok;
use crate::types::parse_uint;

impl Parser<'_> {
    pub(super) fn rule(&mut self) -> PResult<Rule> {
        let start = self.span();
        let mut stmts = Vec::new();
        let mut spans = Vec::new();
        let mut comment = None;
        loop {
            if self.at_end_of_stmt() {
                break;
            }
            if self.is_word("comment") && matches!(self.peek_at(1), Tok::Str(_) | Tok::Var(_)) {
                self.bump();
                comment = Some(self.string("a comment")?);
                continue;
            }
            let ssp = self.span();
            let s = self.stmt()?;
            spans.push(Span::join(ssp, self.prev_span()));
            stmts.push(s);
        }
        if stmts.is_empty() {
            return Err(self.unexpected("a rule statement"));
        }
        Ok(Rule {
            stmts,
            comment,
            span: Span::join(start, self.prev_span()),
            stmt_spans: spans,
        })
    }

    pub(super) fn stmt(&mut self) -> PResult<Stmt> {
        let sp = self.span();
        let w = match self.peek().clone() {
            Tok::Word(w) => w,
            Tok::At(a) => {
                return Err(self.raw_payload(sp, &a));
            }
            Tok::Var(_) | Tok::LParen => return self.match_stmt(),
            _ => return Err(self.unexpected("a statement or expression")),
        };
        match w.as_str() {
            "accept" | "drop" | "continue" | "return" => {
                self.bump();
                Ok(Stmt::Verdict(
                    Verdict::from_keyword(&w).unwrap_or(Verdict::Return),
                ))
            }
            "jump" | "goto" => self.jump_stmt(w == "jump", sp),
            "counter" => self.counter_stmt(),
            "log" => {
                self.bump();
                self.log_stmt()
            }
            "limit" => {
                self.bump();
                if self.eat_word("name") {
                    return Ok(Stmt::LimitRef(self.value_expr()?));
                }
                self.expect_word("rate")?;
                Ok(Stmt::Limit(self.limit_args()?))
            }
            "quota" => {
                self.bump();
                if self.eat_word("name") {
                    return Ok(Stmt::QuotaRef(self.value_expr()?));
                }
                Ok(Stmt::Quota(self.quota_args()?))
            }
            "notrack" => {
                self.bump();
                Ok(Stmt::Notrack)
            }
            "snat" | "dnat" | "masquerade" | "redirect" => {
                self.bump();
                self.nat_stmt(&w)
            }
            "flow" => self.flow_stmt(sp),
            "reject" => {
                self.bump();
                self.reject_stmt()
            }
            "queue" => {
                self.bump();
                self.queue_stmt()
            }
            "add" | "update" | "delete" if matches!(self.peek_at(1), Tok::At(_)) => {
                self.bump();
                self.set_update(&w)
            }
            "meter" => {
                self.bump();
                self.meter_stmt(sp)
            }
            "fwd" => {
                self.bump();
                self.fwd_stmt()
            }
            "dup" | "tproxy" | "synproxy" | "xt" | "last" | "set" | "reset" | "osf" | "secmark" => {
                Err(self.unsupported(sp, &format!("{w} statement")))
            }
            "ct" if matches!(self.peek_at(1), Tok::Word(x) if x == "helper" || x == "timeout" || x == "expectation")
                && matches!(self.peek_at(2), Tok::Word(x) if x == "set") =>
            {
                self.ct_object_set(sp)
            }
            _ => self.match_stmt(),
        }
    }

    /// `jump|goto CHAIN` or `jump|goto { RULES }` (the keyword is at `sp`).
    fn jump_stmt(&mut self, jump: bool, sp: Span) -> PResult<Stmt> {
        self.bump();
        let c = if matches!(self.peek(), Tok::LBrace) {
            self.binding_block(sp)?
        } else {
            self.ident("a chain name")?
        };
        Ok(Stmt::Verdict(if jump {
            Verdict::Jump(c)
        } else {
            Verdict::Goto(c)
        }))
    }

    /// `counter [packets P bytes B]` or `counter name NAME`.
    fn counter_stmt(&mut self) -> PResult<Stmt> {
        self.bump();
        if self.eat_word("name") {
            let e = self.value_expr()?;
            return Ok(Stmt::CounterRef(e));
        }
        if let Tok::Str(_) = self.peek() {
            let e = self.value_expr()?;
            return Ok(Stmt::CounterRef(e));
        }
        if self.eat_word("packets") {
            self.number("a packet count")?;
            self.expect_word("bytes")?;
            self.number("a byte count")?;
        } else if self.eat_word("bytes") {
            self.number("a byte count")?;
            self.expect_word("packets")?;
            self.number("a packet count")?;
        }
        Ok(Stmt::Counter)
    }

    /// `flow add|offload @FT` (`flow` is at `sp`).
    fn flow_stmt(&mut self, sp: Span) -> PResult<Stmt> {
        self.bump();
        if !(self.eat_word("add") || self.eat_word("offload")) {
            return Err(self.unsupported(sp, "flow table (meter) statement"));
        }
        match self.peek().clone() {
            Tok::At(ft) => {
                self.bump();
                Ok(Stmt::FlowAdd(ft))
            }
            _ => Err(self.unexpected("@flowtable")),
        }
    }

    /// `ct helper|timeout|expectation set NAME` (`ct` is at `sp`).
    fn ct_object_set(&mut self, sp: Span) -> PResult<Stmt> {
        self.bump();
        let which = self.name("helper")?;
        self.bump();
        let e = self.value_expr()?;
        match which.as_str() {
            "helper" => Ok(Stmt::CtHelperSet(e)),
            "timeout" => Ok(Stmt::CtTimeoutSet(e)),
            _ => Err(self.unsupported(sp, &format!("ct {which} set"))),
        }
    }

    /// `jump { RULES }`: an anonymous chain bound to the rule (kernel chain binding,
    /// `NFT_CHAIN_BINDING`). The chain gets the name the kernel gives it, `__chainN`, and is
    /// emitted by the caller that knows the table ([`Parser::emit_bindings`]); evaluation is
    /// that of a jump (or goto) to a regular chain (`nft_immediate_eval` sets the verdict with
    /// the bound chain, `nft_do_chain` follows it like any other).
    pub(super) fn binding_block(&mut self, sp: Span) -> PResult<String> {
        if self.ctx.in_binding {
            // the kernel refuses a binding inside a bound chain (nft 1.0.6 against 6.x:
            // "Could not process rule: Operation not supported")
            return Err(self.invalid(
                sp,
                "Could not process rule: Operation not supported (chain bindings cannot be nested)",
            ));
        }
        self.expect(&Tok::LBrace, "`{`")?;
        self.ctx.binding_seq += 1;
        let name = format!("__chain{}", self.ctx.binding_seq);
        // reserve the slot so that an outer binding is emitted before the ones nested in it
        let slot = self.ctx.bindings.len();
        self.ctx.bindings.push((name.clone(), Vec::new(), sp));
        let mut rules = Vec::new();
        self.ctx.in_binding = true;
        let r = (|| loop {
            self.skip_sep();
            let isp = self.span();
            match self.peek() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(());
                }
                Tok::Eof => return Err(self.unexpected("`}`")),
                _ => {
                    let rule = self.rule()?;
                    rules.push((rule, isp));
                }
            }
        })();
        self.ctx.in_binding = false;
        r?;
        self.ctx.bindings[slot].1 = rules;
        Ok(name)
    }

    /// Emits the chains of the chain bindings parsed since the last call into `table`.
    pub(super) fn emit_bindings(&mut self, family: Family, table: &str) {
        for (decl, sp) in std::mem::take(&mut self.ctx.meters) {
            self.push(
                Cmd::AddSet {
                    family,
                    table: table.to_string(),
                    decl,
                    create: false,
                },
                sp,
            );
        }
        let pending = std::mem::take(&mut self.ctx.bindings);
        for (name, rules, sp) in pending {
            self.push(
                Cmd::AddChain {
                    family,
                    table: table.to_string(),
                    name: name.clone(),
                    base: None,
                    policy: None,
                    comment: None,
                    create: false,
                    binding: true,
                },
                sp,
            );
            self.push_rules(family, table, &name, rules);
        }
    }

    pub(super) fn log_stmt(&mut self) -> PResult<Stmt> {
        let mut l = LogStmt::default();
        loop {
            if self.eat_word("prefix") {
                l.prefix = Some(self.string("a prefix string")?);
            } else if self.eat_word("level") {
                l.level = Some(self.name("a log level")?);
            } else if self.eat_word("group") {
                l.group = Some(self.number("a group")? as u32);
            } else if self.eat_word("snaplen") {
                l.snaplen = Some(self.number("a length")? as u32);
            } else if self.eat_word("queue-threshold") {
                l.queue_threshold = Some(self.number("a threshold")? as u32);
            } else if self.eat_word("flags") {
                // `flags tcp sequence,options ip options`: the comma list after `tcp`/`ip`
                // belongs to it
                l.flags.extend(self.sep_list(&Tok::Comma, |p| {
                    let f = p.name("a log flag")?;
                    if !matches!(f.as_str(), "tcp" | "ip") {
                        return Ok(f);
                    }
                    let subs = p.sep_list(&Tok::Comma, |p| p.name("options or sequence"))?;
                    Ok(format!("{f} {}", subs.join(",")))
                })?);
            } else {
                break;
            }
        }
        l.flags.sort();
        Ok(Stmt::Log(l))
    }

    /// After `limit rate`: `[over|until] N[ unit]/period [burst N [unit]]`.
    pub(super) fn limit_args(&mut self) -> PResult<LimitStmt> {
        let sp = self.span();
        let over = if self.eat_word("over") {
            true
        } else {
            self.eat_word("until");
            false
        };
        let rate = self.number("a rate")?;
        // unit: `/second` or `bytes/second` (one word) or `kbytes /second`
        let mut unit = LimitUnit::Packets;
        let mut mult = 1u64;
        let period;
        match self.peek().clone() {
            Tok::Slash => {
                self.bump();
                period = self.name("a time unit")?;
            }
            Tok::Word(w) => {
                self.bump();
                let (u, p) = match w.split_once('/') {
                    Some((u, p)) => (u.to_string(), p.to_string()),
                    None => {
                        self.expect(&Tok::Slash, "`/`")?;
                        (w.clone(), self.name("a time unit")?)
                    }
                };
                mult = byte_unit(&u)
                    .filter(|_| u != "gbytes")
                    .ok_or_else(|| self.invalid(sp, format!("invalid rate unit {u}")))?;
                unit = LimitUnit::Bytes;
                period = p;
            }
            _ => return Err(self.unexpected("`/`")),
        }
        let per_secs = rate_period_secs(&period)
            .ok_or_else(|| self.invalid(self.prev_span(), format!("invalid time unit {period}")))?;
        let mut burst = 0;
        if self.eat_word("burst") {
            let b = self.number("a burst")?;
            let bsp = self.span();
            let bu = match self.peek().clone() {
                Tok::Word(w) if w == "packets" => {
                    self.bump();
                    None
                }
                Tok::Word(w) if byte_unit(&w).is_some() => {
                    self.bump();
                    byte_unit(&w)
                }
                _ => None,
            };
            let said_packets =
                matches!(self.toks[self.pos - 1].tok, Tok::Word(ref w) if w == "packets");
            match (unit, bu) {
                (LimitUnit::Packets, Some(_)) => {
                    return Err(self.invalid(bsp, "a packet limit needs a burst in packets"));
                }
                (LimitUnit::Bytes, None) if said_packets => {
                    return Err(self.invalid(bsp, "a byte limit needs a burst in bytes"));
                }
                (LimitUnit::Bytes, Some(m)) => burst = b * m,
                (LimitUnit::Bytes, None) => burst = b,
                (LimitUnit::Packets, None) => burst = b,
            }
        }
        Ok(LimitStmt {
            rate: rate.saturating_mul(mult),
            per_secs,
            unit,
            burst,
            over,
        })
    }

    pub(super) fn quota_args(&mut self) -> PResult<QuotaStmt> {
        let over = if self.eat_word("over") {
            true
        } else {
            self.eat_word("until");
            false
        };
        let n = self.number("a byte count")?;
        let usp = self.span();
        let u = self.name("a byte unit")?;
        let m =
            byte_unit(&u).ok_or_else(|| self.invalid(usp, format!("invalid quota unit {u}")))?;
        let mut used = 0;
        if self.eat_word("used") {
            let n = self.number("a byte count")?;
            let usp = self.span();
            let u = self.name("a byte unit")?;
            used =
                n * byte_unit(&u).ok_or_else(|| self.invalid(usp, format!("invalid unit {u}")))?;
        }
        Ok(QuotaStmt {
            bytes: n.saturating_mul(m),
            over,
            used,
        })
    }

    pub(super) fn nat_stmt(&mut self, w: &str) -> PResult<Stmt> {
        let kind = NatKind::from_name(w).unwrap_or(NatKind::Redirect);
        let mut n = NatStmt::new(kind);
        if matches!(kind, NatKind::Snat | NatKind::Dnat) {
            if let Tok::Word(f) = self.peek().clone()
                && (f == "ip" || f == "ip6")
                && matches!(self.peek_at(1), Tok::Word(x) if x == "to" || x == "addr" || x == "prefix")
            {
                self.bump();
                n.family = Family::from_name(&f);
            }
            let prefix = self.eat_word("prefix");
            let has_to = self.eat_word("to") || prefix;
            if !has_to && self.at_end_of_stmt() {
                return Err(self.unexpected("an address"));
            }
            if self.eat_word("addr") {
                // `dnat ip addr . port to ...` concat map form
                return Err(self.unsupported(self.prev_span(), "nat addr . port to"));
            }
            if matches!(self.peek(), Tok::Colon) {
                self.bump();
                n.port = Some(self.port_expr()?);
            } else {
                let a = if self.eat(&Tok::LBracket) {
                    let e = self.rhs_single()?;
                    self.expect(&Tok::RBracket, "`]`")?;
                    e
                } else {
                    self.value_expr()?
                };
                n.addr = Some(a);
                if self.eat(&Tok::Colon) {
                    n.port = Some(self.port_expr()?);
                }
            }
            if prefix {
                n.flags |= nat_flags::NETMAP;
            }
        } else if self.eat_word("to") {
            if self.eat(&Tok::Colon) || kind == NatKind::Redirect {
                n.port = Some(self.port_expr()?);
            } else {
                return Err(self.unexpected("`:`"));
            }
        }
        loop {
            let f = match self.peek() {
                Tok::Word(f) => match nat_flags::from_name(f) {
                    Some(b) => b,
                    None => break,
                },
                Tok::Comma => 0,
                _ => break,
            };
            self.bump();
            n.flags |= f;
        }
        Ok(Stmt::Nat(n))
    }

    pub(super) fn port_expr(&mut self) -> PResult<Expr> {
        if matches!(self.peek(), Tok::Word(w) if is_selector_word(w)) {
            return self.value_expr();
        }
        let a = self.rhs_atom()?;
        if matches!(self.peek(), Tok::Dash) {
            self.bump();
            let b = self.rhs_atom()?;
            return Ok(Expr::Range(Box::new(a), Box::new(b)));
        }
        Ok(a)
    }

    pub(super) fn reject_stmt(&mut self) -> PResult<Stmt> {
        if !self.eat_word("with") {
            return Ok(Stmt::Reject(RejectStmt::Default));
        }
        let sp = self.span();
        let w = self.name("tcp, icmp, icmpv6 or icmpx")?;
        match w.as_str() {
            "tcp" => {
                self.expect_word("reset")?;
                Ok(Stmt::Reject(RejectStmt::TcpReset))
            }
            "icmp" | "icmpv6" | "icmp6" | "icmpx" => {
                self.eat_word("type");
                let csp = self.span();
                let c = self.name("an ICMP code")?;
                type Codes = &'static [(&'static str, u128)];
                let (table, mk): (Codes, fn(u8) -> RejectStmt) = match w.as_str() {
                    "icmp" => (crate::types::ICMP_CODES, RejectStmt::Icmp),
                    "icmpx" => (crate::types::ICMPX_CODES, RejectStmt::Icmpx),
                    _ => (crate::types::ICMPV6_CODES, RejectStmt::Icmpv6),
                };
                let v = crate::types::lookup(table, &c)
                    .or_else(|| parse_uint(&c))
                    .filter(|v| *v <= 255)
                    .ok_or_else(|| self.invalid(csp, format!("invalid {w} reject code {c}")))?;
                Ok(Stmt::Reject(mk(v as u8)))
            }
            _ => Err(self.invalid(sp, format!("invalid reject type {w}"))),
        }
    }

    pub(super) fn queue_stmt(&mut self) -> PResult<Stmt> {
        let mut num = None;
        let mut flags = Vec::new();
        loop {
            if self.eat_word("num") {
                // nft: `queue num` takes a number or a range; expressions need `queue to`
                if matches!(self.peek(), Tok::Word(w) if is_selector_word(w)) {
                    return Err(self.unexpected("a queue number or range"));
                }
                num = Some(self.port_expr()?);
            } else if self.eat_word("to") {
                num = Some(self.port_expr()?);
            } else if self.eat_word("flags") || self.is_word("bypass") || self.is_word("fanout") {
                flags.extend(self.sep_list(&Tok::Comma, |p| p.name("a queue flag"))?);
            } else {
                break;
            }
        }
        flags.sort();
        flags.dedup();
        Ok(Stmt::Queue { num, flags })
    }

    /// `fwd to DEV` or `fwd ip|ip6 to ADDR device DEV` (nft's `fwd_stmt`).
    fn fwd_stmt(&mut self) -> PResult<Stmt> {
        let fam = if self.eat_word("ip") {
            Some(Family::Ip)
        } else if self.eat_word("ip6") {
            Some(Family::Ip6)
        } else {
            None
        };
        self.expect_word("to")?;
        let first = self.rhs_atom()?;
        Ok(match fam {
            None => Stmt::Fwd {
                dev: first,
                neigh: None,
                name: None,
            },
            Some(f) => {
                self.expect_word("device")?;
                Stmt::Fwd {
                    dev: self.rhs_atom()?,
                    neigh: Some((f, first)),
                    name: None,
                }
            }
        })
    }

    pub(super) fn set_update(&mut self, w: &str) -> PResult<Stmt> {
        let op = SetOp::from_name(w).unwrap_or(SetOp::Delete);
        let set = match self.bump().tok {
            Tok::At(s) => s,
            _ => unreachable!("checked"),
        };
        self.expect(&Tok::LBrace, "`{`")?;
        self.skip_nl();
        let key = self.value_expr()?;
        let mut timeout = None;
        let mut stmts = Vec::new();
        let mut data = None;
        loop {
            self.skip_nl();
            if self.eat_word("timeout") {
                timeout = Some(self.time()?);
            } else if self.eat(&Tok::Colon) {
                data = Some(self.value_expr()?);
            } else if self.is_word("counter") || self.is_word("limit") || self.is_word("quota") {
                stmts.push(self.stmt()?);
            } else {
                break;
            }
        }
        self.expect(&Tok::RBrace, "`}`")?;
        Ok(Stmt::SetUpdate {
            op,
            set,
            key,
            data,
            timeout,
            stmts,
        })
    }

    /// `meter NAME [size N] { KEY [timeout T] STMTS }`: nft declares a dynamic set NAME typed
    /// like KEY (`stmt_evaluate_meter`) and updates it (`netlink_gen_meter_stmt`: op `update`
    /// when the key has a timeout, else `add`).
    pub(super) fn meter_stmt(&mut self, sp: Span) -> PResult<Stmt> {
        let name = self.name("a meter name")?;
        let mut size = None;
        if self.eat_word("size") {
            size = Some(self.number("a size")?);
        }
        self.expect(&Tok::LBrace, "`{`")?;
        self.skip_nl();
        let key = self.value_expr()?;
        let mut timeout = None;
        let mut stmts = Vec::new();
        loop {
            self.skip_nl();
            if self.eat_word("timeout") {
                timeout = Some(self.time()?);
            } else if self.is_word("counter") || self.is_word("limit") || self.is_word("quota") {
                stmts.push(self.stmt()?);
            } else {
                break;
            }
        }
        self.expect(&Tok::RBrace, "`}`")?;
        if stmts.is_empty() {
            return Err(self.err(self.prev_span(), "a meter needs a statement"));
        }
        let mut flags = vec!["dynamic".to_string()];
        if timeout.is_some() {
            flags.push("timeout".into());
        }
        let parts = match &key {
            Expr::Concat(p) => p.clone(),
            e => vec![e.clone()],
        };
        self.ctx.meters.push((
            SetDecl {
                name: name.clone(),
                typeof_key: Some(parts),
                flags,
                size,
                ..Default::default()
            },
            sp,
        ));
        Ok(Stmt::SetUpdate {
            op: if timeout.is_some() {
                SetOp::Update
            } else {
                SetOp::Add
            },
            set: name,
            key,
            data: None,
            timeout,
            stmts,
        })
    }
}
