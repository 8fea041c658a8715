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
        let name = self.ident("an object name")?;
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
        if !braced
            && matches!(
                (w, sub.as_str()),
                ("quota" | "limit", _) | ("ct", "helper" | "timeout")
            )
        {
            return Err(self.unexpected("`{`"));
        }
        let obj = match (w, sub.as_str()) {
            ("counter", _) => self.counter_obj(braced)?,
            ("quota", _) => {
                self.skip_comment()?;
                let q = self.quota_args()?;
                self.skip_comment()?;
                ObjDecl::Quota(q)
            }
            ("limit", _) => {
                self.skip_comment()?;
                self.expect_word("rate")?;
                let l = self.limit_args()?;
                self.skip_comment()?;
                ObjDecl::Limit(l)
            }
            ("ct", "helper") => self.ct_helper_obj(kind_sp)?,
            ("ct", "timeout") => self.ct_timeout_obj(kind_sp)?,
            _ => {
                // ct expectation / secmark / synproxy: skip the body.
                if braced {
                    self.skip_block()?;
                }
                ObjDecl::Other(if w == "ct" {
                    format!("ct {sub}")
                } else {
                    w.to_string()
                })
            }
        };
        if braced {
            self.skip_sep();
            self.expect(&Tok::RBrace, "`}`")?;
        }
        Ok(obj)
    }

    /// Separators and an optional `comment "..."` (with the separators after it).
    fn skip_comment(&mut self) -> PResult<()> {
        self.skip_sep();
        if self.eat_word("comment") {
            self.string("a comment")?;
            self.skip_sep();
        }
        Ok(())
    }

    /// Skips to the `}` that closes the block just opened (left as the next token).
    fn skip_block(&mut self) -> PResult<()> {
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
        Ok(())
    }

    /// The statements of an object block up to its `}`: `stmt` parses one it knows and
    /// returns true, or returns false without consuming anything; `comment "..."` is
    /// accepted anywhere; `expected` names what may come.
    fn obj_stmts(
        &mut self,
        expected: &str,
        mut stmt: impl FnMut(&mut Self) -> PResult<bool>,
    ) -> PResult<()> {
        loop {
            self.skip_sep();
            if matches!(self.peek(), Tok::RBrace | Tok::Eof) {
                return Ok(());
            }
            if stmt(self)? {
                continue;
            }
            if self.eat_word("comment") {
                self.string("a comment")?;
            } else {
                return Err(self.unexpected(expected));
            }
        }
    }

    /// `l3proto FAMILY` (after `l3proto`).
    fn l3proto(&mut self) -> PResult<Family> {
        let f = self.name("a family")?;
        Family::from_name(&f)
            .ok_or_else(|| self.invalid(self.prev_span(), format!("invalid l3proto {f}")))
    }

    /// `counter NAME [{ packets P bytes B }]`.
    fn counter_obj(&mut self, braced: bool) -> PResult<ObjDecl> {
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
        Ok(ObjDecl::Counter { packets, bytes })
    }

    /// `ct helper NAME { type "ftp" protocol tcp; [l3proto ip;] }` (`ct` at `kind_sp`).
    fn ct_helper_obj(&mut self, kind_sp: Span) -> PResult<ObjDecl> {
        let mut htype = None;
        let mut protocol = None;
        let mut l3 = None;
        self.obj_stmts("`type`, `l3proto` or `}`", |this| {
            if this.eat_word("type") {
                htype = Some(this.string("a helper type")?);
                this.expect_word("protocol")?;
                let p = this.name("tcp or udp")?;
                protocol = Some(match p.as_str() {
                    "tcp" => 6,
                    "udp" => 17,
                    _ => {
                        return Err(
                            this.invalid(this.prev_span(), format!("invalid helper protocol {p}"))
                        );
                    }
                });
            } else if this.eat_word("l3proto") {
                l3 = Some(this.l3proto()?);
            } else {
                return Ok(false);
            }
            Ok(true)
        })?;
        let Some(htype) = htype else {
            return Err(self.invalid(kind_sp, "ct helper needs a type"));
        };
        Ok(ObjDecl::CtHelper {
            htype,
            protocol: protocol.unwrap_or(6),
            l3proto: l3,
        })
    }

    /// `ct timeout NAME { protocol P; [l3proto F;] policy = { STATE : TIME, ... } }` (`ct` at
    /// `kind_sp`).
    fn ct_timeout_obj(&mut self, kind_sp: Span) -> PResult<ObjDecl> {
        let mut protocol = None;
        let mut l3 = None;
        let mut policy = Vec::new();
        self.obj_stmts("`protocol`, `l3proto`, `policy` or `}`", |this| {
            if this.eat_word("protocol") {
                let psp = this.span();
                let p = this.name("a protocol")?;
                protocol = Some(
                    proto_number(&p)
                        .ok_or_else(|| this.invalid(psp, format!("invalid protocol {p}")))?,
                );
            } else if this.eat_word("l3proto") {
                l3 = Some(this.l3proto()?);
            } else if this.eat_word("policy") {
                this.expect(&Tok::Assign, "`=`")?;
                this.expect(&Tok::LBrace, "`{`")?;
                this.braced_list(|p| {
                    let st = p.name("a conntrack state")?;
                    p.expect(&Tok::Colon, "`:`")?;
                    let ms = p.time()?;
                    policy.push((st, (ms / 1000) as u32));
                    Ok(())
                })?;
            } else {
                return Ok(false);
            }
            Ok(true)
        })?;
        let Some(protocol) = protocol else {
            return Err(self.invalid(kind_sp, "ct timeout needs a protocol"));
        };
        policy.sort();
        Ok(ObjDecl::CtTimeout {
            protocol,
            l3proto: l3,
            policy,
        })
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
        self.push_rules(family, table, &name, rules);
        Ok(())
    }

    pub(super) fn device_list(&mut self) -> PResult<Vec<String>> {
        self.eat(&Tok::Assign);
        let mut out = Vec::new();
        if matches!(self.peek(), Tok::Var(_)) {
            self.devices_of_var(&mut out)?;
            return Ok(out);
        }
        if self.eat(&Tok::LBrace) {
            self.braced_list(|p| {
                if matches!(p.peek(), Tok::Var(_)) {
                    p.devices_of_var(&mut out)
                } else {
                    out.push(p.name("a device name")?);
                    Ok(())
                }
            })?;
        } else {
            out.push(self.name("a device name")?);
        }
        Ok(out)
    }

    /// The device names a `$var` (the current token) holds.
    fn devices_of_var(&mut self, out: &mut Vec<String>) -> PResult<()> {
        let sp = self.span();
        let Tok::Var(v) = self.bump().tok else {
            return Err(self.unexpected("a variable"));
        };
        flatten_names(&self.var(sp, &v)?, out);
        Ok(())
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
        self.block("a flowtable property or `}`", |p, w, isp| {
            match w.as_str() {
                "hook" => {
                    let h = p.name("ingress")?;
                    if h != "ingress" {
                        return Err(p.invalid(
                            p.prev_span(),
                            format!("flowtable hook must be ingress, not {h}"),
                        ));
                    }
                    if p.eat_word("priority") {
                        d.priority = p.priority(Family::Netdev, Hook::Ingress)?;
                    }
                }
                "priority" => d.priority = p.priority(Family::Netdev, Hook::Ingress)?,
                "devices" => d.devices = p.device_list()?,
                "counter" => d.counter = true,
                "flags" => {
                    p.sep_list(&Tok::Comma, |p| {
                        let f = p.name("offload")?;
                        if f == "offload" {
                            Ok(())
                        } else {
                            Err(p.invalid(p.prev_span(), format!("unknown flowtable flag {f}")))
                        }
                    })?;
                    d.offload = true;
                }
                _ => return Err(p.err(isp, format!("unexpected `{w}` in flowtable"))),
            }
            Ok(())
        })?;
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
