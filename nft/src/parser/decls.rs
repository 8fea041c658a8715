//! Declarations inside a table: chains (base chain type, hook, priority, devices),
//! flowtables and stateful objects (counter, quota, limit, ct helper, ct timeout).

use super::support::flatten_names;
use super::{PResult, Parser};
use crate::ast::*;
use crate::error::Span;
use crate::lexer::Tok;
use crate::types::{parse_uint, proto_number};

impl Parser<'_> {
    pub(super) fn object_cmd(&mut self, create: bool, sp: Span) -> PResult<()> {
        // Re-shape `add counter ip t c { ... }` into the block form handled by object_decl.
        let kind_start = self.pos;
        let w = match self.bump().tok {
            Tok::Word(w) => w,
            _ => unreachable!("checked by caller"),
        };
        if w == "ct" {
            // ct helper|timeout|expectation
            self.bump();
        }
        let (family, table, name) = self.chain_spec()?;
        // Rewind into object_decl with the name already read: emulate by building tokens.
        let body_pos = self.pos;
        self.pos = kind_start;
        let obj = self.object_body(&w, body_pos)?;
        self.push(
            Cmd::AddObject {
                family,
                table,
                name,
                obj,
                create,
            },
            sp,
        );
        Ok(())
    }

    /// Parses an object declaration inside a table block: `counter NAME { ... }` etc.
    pub(super) fn object_decl(
        &mut self,
        family: Family,
        table: &str,
        create: bool,
        sp: Span,
    ) -> PResult<()> {
        let w = match self.bump().tok {
            Tok::Word(w) => w,
            _ => unreachable!("checked by caller"),
        };
        let start = self.pos - 1;
        if w == "ct" {
            if !matches!(self.peek(), Tok::Word(x) if x == "helper" || x == "timeout" || x == "expectation")
            {
                return Err(self.unexpected("`helper`, `timeout` or `expectation`"));
            }
            self.bump();
        }
        let name = self.name("an object name")?;
        let body_pos = self.pos;
        self.pos = start;
        let obj = self.object_body(&w, body_pos)?;
        self.push(
            Cmd::AddObject {
                family,
                table: table.to_string(),
                name,
                obj,
                create,
            },
            sp,
        );
        Ok(())
    }

    /// Object body at token `body_pos`; `self.pos` points to the kind keyword.
    pub(super) fn object_body(&mut self, w: &str, body_pos: usize) -> PResult<ObjDecl> {
        let kind_sp = self.span();
        let sub = if w == "ct" {
            match self.peek_at(1) {
                Tok::Word(s) => s.clone(),
                _ => String::new(),
            }
        } else {
            String::new()
        };
        self.pos = body_pos;
        let braced = self.eat(&Tok::LBrace);
        let obj = match (w, sub.as_str()) {
            ("counter", _) => {
                let (mut packets, mut bytes) = (0, 0);
                if braced {
                    self.skip_sep();
                    while !matches!(self.peek(), Tok::RBrace | Tok::Eof) {
                        if self.eat_word("packets") {
                            packets = self.number("a packet count")?;
                        } else if self.eat_word("bytes") {
                            bytes = self.number("a byte count")?;
                        } else if self.eat_word("comment") {
                            self.string("a comment")?;
                        } else {
                            return Err(self.unexpected("`packets`, `bytes` or `}`"));
                        }
                        self.skip_sep();
                    }
                }
                ObjDecl::Counter { packets, bytes }
            }
            ("quota", _) => {
                if !braced {
                    return Err(self.unexpected("`{`"));
                }
                self.skip_sep();
                if self.eat_word("comment") {
                    self.string("a comment")?;
                    self.skip_sep();
                }
                let q = self.quota_args()?;
                self.skip_sep();
                if self.eat_word("comment") {
                    self.string("a comment")?;
                    self.skip_sep();
                }
                ObjDecl::Quota(q)
            }
            ("limit", _) => {
                if !braced {
                    return Err(self.unexpected("`{`"));
                }
                self.skip_sep();
                if self.eat_word("comment") {
                    self.string("a comment")?;
                    self.skip_sep();
                }
                self.expect_word("rate")?;
                let l = self.limit_args()?;
                self.skip_sep();
                if self.eat_word("comment") {
                    self.string("a comment")?;
                    self.skip_sep();
                }
                ObjDecl::Limit(l)
            }
            ("ct", "helper") => {
                if !braced {
                    return Err(self.unexpected("`{`"));
                }
                let mut htype = None;
                let mut protocol = None;
                let mut l3 = None;
                loop {
                    self.skip_sep();
                    if matches!(self.peek(), Tok::RBrace | Tok::Eof) {
                        break;
                    }
                    if self.eat_word("type") {
                        htype = Some(self.string("a helper type")?);
                        self.expect_word("protocol")?;
                        let p = self.name("tcp or udp")?;
                        protocol = Some(match p.as_str() {
                            "tcp" => 6,
                            "udp" => 17,
                            _ => {
                                return Err(self.invalid(
                                    self.prev_span(),
                                    format!("invalid helper protocol {p}"),
                                ));
                            }
                        });
                    } else if self.eat_word("l3proto") {
                        let f = self.name("a family")?;
                        l3 = Some(Family::from_name(&f).ok_or_else(|| {
                            self.invalid(self.prev_span(), format!("invalid l3proto {f}"))
                        })?);
                    } else if self.eat_word("comment") {
                        self.string("a comment")?;
                    } else {
                        return Err(self.unexpected("`type`, `l3proto` or `}`"));
                    }
                }
                let Some(htype) = htype else {
                    return Err(self.invalid(kind_sp, "ct helper needs a type"));
                };
                ObjDecl::CtHelper {
                    htype,
                    protocol: protocol.unwrap_or(6),
                    l3proto: l3,
                }
            }
            ("ct", "timeout") => {
                if !braced {
                    return Err(self.unexpected("`{`"));
                }
                let mut protocol = None;
                let mut l3 = None;
                let mut policy = Vec::new();
                loop {
                    self.skip_sep();
                    if matches!(self.peek(), Tok::RBrace | Tok::Eof) {
                        break;
                    }
                    if self.eat_word("protocol") {
                        let psp = self.span();
                        let p = self.name("a protocol")?;
                        protocol =
                            Some(proto_number(&p).ok_or_else(|| {
                                self.invalid(psp, format!("invalid protocol {p}"))
                            })?);
                    } else if self.eat_word("l3proto") {
                        let f = self.name("a family")?;
                        l3 = Some(Family::from_name(&f).ok_or_else(|| {
                            self.invalid(self.prev_span(), format!("invalid l3proto {f}"))
                        })?);
                    } else if self.eat_word("policy") {
                        self.expect(&Tok::Assign, "`=`")?;
                        self.expect(&Tok::LBrace, "`{`")?;
                        loop {
                            self.skip_nl();
                            if self.eat(&Tok::RBrace) {
                                break;
                            }
                            let st = self.name("a conntrack state")?;
                            self.expect(&Tok::Colon, "`:`")?;
                            let ms = self.time()?;
                            policy.push((st, (ms / 1000) as u32));
                            self.skip_nl();
                            if !self.eat(&Tok::Comma) {
                                self.skip_nl();
                                self.expect(&Tok::RBrace, "`,` or `}`")?;
                                break;
                            }
                        }
                    } else if self.eat_word("comment") {
                        self.string("a comment")?;
                    } else {
                        return Err(self.unexpected("`protocol`, `l3proto`, `policy` or `}`"));
                    }
                }
                let Some(protocol) = protocol else {
                    return Err(self.invalid(kind_sp, "ct timeout needs a protocol"));
                };
                policy.sort();
                ObjDecl::CtTimeout {
                    protocol,
                    l3proto: l3,
                    policy,
                }
            }
            _ => {
                // ct expectation / secmark / synproxy: skip the body.
                if braced {
                    let mut depth = 1;
                    while depth > 0 {
                        match self.bump().tok {
                            Tok::LBrace => depth += 1,
                            Tok::RBrace => depth -= 1,
                            Tok::Eof => return Err(self.unexpected("`}`")),
                            _ => {}
                        }
                    }
                    self.pos -= 1;
                }
                let what = if w == "ct" {
                    format!("ct {sub}")
                } else {
                    w.to_string()
                };
                ObjDecl::Other(what)
            }
        };
        if braced {
            self.skip_sep();
            self.expect(&Tok::RBrace, "`}`")?;
        }
        Ok(obj)
    }

    pub(super) fn chain_decl(
        &mut self,
        family: Family,
        table: &str,
        name: String,
        create: bool,
        sp: Span,
    ) -> PResult<()> {
        let mut base = None;
        let mut policy = None;
        let mut comment = None;
        let mut rules = Vec::new();
        if self.eat(&Tok::LBrace) {
            loop {
                self.skip_sep();
                let isp = self.span();
                match self.peek().clone() {
                    Tok::RBrace => {
                        self.bump();
                        break;
                    }
                    Tok::Eof => return Err(self.unexpected("`}`")),
                    Tok::Word(w) if w == "type" && base.is_none() => {
                        self.bump();
                        base = Some(self.base_spec(family)?);
                    }
                    Tok::Word(w) if w == "policy" => {
                        self.bump();
                        let p = self.name("accept or drop")?;
                        policy = Some(match p.as_str() {
                            "accept" => true,
                            "drop" => false,
                            _ => {
                                return Err(
                                    self.invalid(self.prev_span(), format!("invalid policy {p}"))
                                );
                            }
                        });
                    }
                    Tok::Word(w)
                        if w == "comment"
                            && matches!(self.peek_at(1), Tok::Str(_))
                            && matches!(
                                self.peek_at(2),
                                Tok::Newline | Tok::Semi | Tok::RBrace
                            ) =>
                    {
                        self.bump();
                        comment = Some(self.string("a comment")?);
                    }
                    Tok::Word(w) if w == "devices" || (w == "device" && base.is_some()) => {
                        self.bump();
                        let devs = self.device_list()?;
                        match &mut base {
                            Some(b) => b.devices.extend(devs),
                            None => return Err(self.invalid(isp, "devices on a regular chain")),
                        }
                    }
                    Tok::Word(w)
                        if w == "flags"
                            && matches!(self.peek_at(1), Tok::Word(x) if x == "offload") =>
                    {
                        self.bump();
                        self.bump();
                    }
                    _ => {
                        let rule = self.rule()?;
                        rules.push((rule, isp));
                    }
                }
            }
        }
        self.push(
            Cmd::AddChain {
                family,
                table: table.to_string(),
                name: name.clone(),
                base,
                policy,
                comment,
                create,
                binding: false,
            },
            sp,
        );
        self.emit_bindings(family, table);
        for (rule, rsp) in rules {
            self.push(
                Cmd::AddRule {
                    family,
                    table: table.to_string(),
                    chain: name.clone(),
                    rule,
                    pos: RulePos::Append,
                },
                rsp,
            );
        }
        Ok(())
    }

    pub(super) fn device_list(&mut self) -> PResult<Vec<String>> {
        self.eat(&Tok::Assign);
        let mut out = Vec::new();
        if let Tok::Var(v) = self.peek().clone() {
            let sp = self.span();
            self.bump();
            match self.ctx.lookup_var(&v) {
                Some(e) => flatten_names(&e, &mut out),
                None => return Err(self.invalid(sp, format!("unknown identifier '{v}'"))),
            }
            return Ok(out);
        }
        if self.eat(&Tok::LBrace) {
            loop {
                self.skip_nl();
                if self.eat(&Tok::RBrace) {
                    break;
                }
                if let Tok::Var(v) = self.peek().clone() {
                    let sp = self.span();
                    self.bump();
                    match self.ctx.lookup_var(&v) {
                        Some(e) => flatten_names(&e, &mut out),
                        None => return Err(self.invalid(sp, format!("unknown identifier '{v}'"))),
                    }
                } else {
                    out.push(self.name("a device name")?);
                }
                self.skip_nl();
                if !self.eat(&Tok::Comma) {
                    self.skip_nl();
                    self.expect(&Tok::RBrace, "`,` or `}`")?;
                    break;
                }
            }
        } else {
            out.push(self.name("a device name")?);
        }
        Ok(out)
    }

    pub(super) fn base_spec(&mut self, family: Family) -> PResult<BaseSpec> {
        let tsp = self.span();
        let t = self.name("a chain type")?;
        let ctype = ChainType::from_name(&t)
            .ok_or_else(|| self.invalid(tsp, format!("unknown chain type {t}")))?;
        self.expect_word("hook")?;
        let hsp = self.span();
        let h = self.name("a hook")?;
        let hook = Hook::from_name(&h)
            .ok_or_else(|| self.invalid(hsp, format!("unknown chain hook {h}")))?;
        let mut devices = Vec::new();
        if self.eat_word("device") {
            devices = self.device_list()?;
        }
        let mut priority = 0;
        if self.eat_word("priority") {
            priority = self.priority(family, hook)?;
        } else if !matches!(family, Family::Netdev) {
            return Err(self.unexpected("`priority`"));
        }
        if self.eat_word("device") {
            devices = self.device_list()?;
        }
        Ok(BaseSpec {
            ctype,
            hook,
            priority,
            devices,
        })
    }

    /// `priority NAME [(+|-) N]` or `priority [-]N` or `$var`.
    pub(super) fn priority(&mut self, family: Family, hook: Hook) -> PResult<i32> {
        let sp = self.span();
        let base: i64 = match self.peek().clone() {
            Tok::Dash => {
                self.bump();
                -(self.number("a priority")? as i64)
            }
            Tok::Num(_) => self.number("a priority")? as i64,
            Tok::Word(w) => {
                self.bump();
                named_priority(&w, family, hook).ok_or_else(|| {
                    self.invalid(sp, format!("'{w}' is not a valid priority in this context"))
                })? as i64
            }
            Tok::Var(v) => {
                self.bump();
                match self.ctx.lookup_var(&v) {
                    Some(Expr::Sym(s, _)) => {
                        if let Some(n) = s.strip_prefix('-').and_then(parse_uint) {
                            -(n as i64)
                        } else if let Some(n) = parse_uint(&s) {
                            n as i64
                        } else {
                            named_priority(&s, family, hook).ok_or_else(|| {
                                self.invalid(sp, format!("'{s}' is not a valid priority"))
                            })? as i64
                        }
                    }
                    _ => return Err(self.invalid(sp, format!("unknown identifier '{v}'"))),
                }
            }
            _ => return Err(self.unexpected("a priority")),
        };
        let mut v = base;
        loop {
            if self.eat(&Tok::Plus) {
                v += self.number("a number")? as i64;
            } else if matches!(self.peek(), Tok::Dash) {
                self.bump();
                v -= self.number("a number")? as i64;
            } else {
                break;
            }
        }
        i32::try_from(v).map_err(|_| self.invalid(sp, "priority out of range"))
    }

    pub(super) fn flowtable_decl(
        &mut self,
        family: Family,
        table: &str,
        name: String,
        create: bool,
        sp: Span,
    ) -> PResult<()> {
        let mut d = FlowtableDecl {
            name,
            hook: Hook::Ingress,
            priority: 0,
            devices: Vec::new(),
            offload: false,
            counter: false,
        };
        self.expect(&Tok::LBrace, "`{`")?;
        loop {
            self.skip_sep();
            let isp = self.span();
            let w = match self.peek().clone() {
                Tok::RBrace => {
                    self.bump();
                    break;
                }
                Tok::Word(w) => w,
                _ => return Err(self.unexpected("a flowtable property or `}`")),
            };
            self.bump();
            match w.as_str() {
                "hook" => {
                    let h = self.name("ingress")?;
                    if h != "ingress" {
                        return Err(self.invalid(
                            self.prev_span(),
                            format!("flowtable hook must be ingress, not {h}"),
                        ));
                    }
                    if self.eat_word("priority") {
                        d.priority = self.priority(Family::Netdev, Hook::Ingress)?;
                    }
                }
                "priority" => d.priority = self.priority(Family::Netdev, Hook::Ingress)?,
                "devices" => d.devices = self.device_list()?,
                "counter" => d.counter = true,
                "flags" => loop {
                    let f = self.name("offload")?;
                    if f == "offload" {
                        d.offload = true;
                    } else {
                        return Err(
                            self.invalid(self.prev_span(), format!("unknown flowtable flag {f}"))
                        );
                    }
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                },
                _ => return Err(self.err(isp, format!("unexpected `{w}` in flowtable"))),
            }
        }
        self.push(
            Cmd::AddFlowtable {
                family,
                table: table.to_string(),
                decl: d,
                create,
            },
            sp,
        );
        Ok(())
    }
}
