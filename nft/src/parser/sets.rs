//! Set and map declarations, and set literals `{ elem, elem : data, ... }` with element
//! options.

use super::{PResult, Parser};
use crate::ast::*;
use crate::error::Span;
use crate::lexer::Tok;

impl Parser<'_> {
    pub(super) fn set_decl(
        &mut self,
        family: Family,
        table: &str,
        name: String,
        is_map: bool,
        create: bool,
        sp: Span,
    ) -> PResult<()> {
        let mut d = SetDecl {
            name,
            is_map,
            ..Default::default()
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
                _ => return Err(self.unexpected("a set property or `}`")),
            };
            self.bump();
            match w.as_str() {
                "type" => {
                    loop {
                        d.type_names.push(self.name("a data type")?);
                        if !self.eat(&Tok::Dot) {
                            break;
                        }
                    }
                    if self.eat(&Tok::Colon) {
                        if self.is_word("interval") {
                            self.bump();
                        }
                        d.data_name = Some(self.name("a data type")?);
                        if let Some(n) = &d.data_name
                            && matches!(
                                n.as_str(),
                                "counter" | "quota" | "limit" | "ct" | "secmark"
                            )
                        {
                            if n == "ct" {
                                let sub = self.name("helper")?;
                                d.obj_type = Some(format!("ct {sub}"));
                            } else {
                                d.obj_type = Some(n.clone());
                            }
                            d.data_name = None;
                        } else {
                            while self.eat(&Tok::Dot) {
                                let more = self.name("a data type")?;
                                d.data_name = d.data_name.map(|x| format!("{x} . {more}"));
                            }
                        }
                    }
                }
                "typeof" => {
                    let mut parts = vec![self.selector_expr()?];
                    while self.eat(&Tok::Dot) {
                        parts.push(self.selector_expr()?);
                    }
                    d.typeof_key = Some(parts);
                    if self.eat(&Tok::Colon) {
                        if self.is_word("interval") {
                            self.bump();
                        }
                        if let Tok::Word(w) = self.peek().clone()
                            && matches!(w.as_str(), "verdict" | "counter" | "quota" | "limit")
                        {
                            self.bump();
                            if w == "verdict" {
                                d.data_name = Some(w);
                            } else {
                                d.obj_type = Some(w);
                            }
                            continue;
                        }
                        let mut parts = vec![self.selector_expr()?];
                        while self.eat(&Tok::Dot) {
                            parts.push(self.selector_expr()?);
                        }
                        d.typeof_data = Some(if parts.len() == 1 {
                            parts.pop().unwrap_or(Expr::Opaque(String::new()))
                        } else {
                            Expr::Concat(parts)
                        });
                    }
                }
                "flags" => loop {
                    d.flags.push(self.name("a set flag")?);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                },
                "timeout" => d.timeout = Some(self.time()?),
                "gc-interval" => d.gc_interval = Some(self.time()?),
                "size" => d.size = Some(self.number("a size")?),
                "policy" => d.policy = Some(self.name("performance or memory")?),
                "auto-merge" => d.auto_merge = true,
                "counter" => d.counter = true,
                "quota" | "limit" | "last" | "ct" => {
                    // per-element stateful defaults: skip to end of statement
                    d.stmts.push(w.clone());
                    while !self.at_end_of_stmt() {
                        self.bump();
                    }
                }
                "comment" => d.comment = Some(self.string("a comment")?),
                "elements" => {
                    self.expect(&Tok::Assign, "`=`")?;
                    if let Tok::Var(v) = self.peek().clone() {
                        let vsp = self.span();
                        self.bump();
                        match self.ctx.lookup_var(&v) {
                            Some(Expr::Set(el)) => d.elements.extend(el),
                            Some(e) => d.elements.push(SetElem::plain(e)),
                            None => {
                                return Err(self.invalid(vsp, format!("unknown identifier '{v}'")));
                            }
                        }
                    } else {
                        let el = self.set_literal_elems()?;
                        d.elements.extend(el);
                    }
                }
                _ => return Err(self.err(isp, format!("unexpected `{w}` in set declaration"))),
            }
        }
        d.flags.sort();
        d.flags.dedup();
        self.push(
            Cmd::AddSet {
                family,
                table: table.to_string(),
                decl: d,
                create,
            },
            sp,
        );
        Ok(())
    }

    /// `{ elem, elem, ... }` with element options and map data.
    pub(super) fn set_literal_elems(&mut self) -> PResult<Vec<SetElem>> {
        self.expect(&Tok::LBrace, "`{`")?;
        let mut out = Vec::new();
        loop {
            self.skip_nl();
            if self.eat(&Tok::RBrace) {
                break;
            }
            let key = self.rhs_single()?;
            let mut el = SetElem::plain(key);
            self.elem_opts(&mut el)?;
            if self.eat(&Tok::Colon) {
                self.skip_nl();
                let d = if matches!(self.peek(), Tok::Word(w) if matches!(w.as_str(), "accept" | "drop" | "continue" | "return" | "jump" | "goto"))
                {
                    let vsp = self.span();
                    let before = self.ctx.bindings.len();
                    let v = match self.stmt()? {
                        Stmt::Verdict(v) => Expr::Verdict(v),
                        _ => return Err(self.unexpected("a verdict")),
                    };
                    if self.ctx.bindings.len() != before {
                        return Err(self.invalid(
                            vsp,
                            "a chain binding (`jump { ... }`) is not allowed as map data",
                        ));
                    }
                    v
                } else {
                    self.rhs_single()?
                };
                el.data = Some(d);
                self.elem_opts(&mut el)?;
            }
            // flatten nested sets (`{ $defined_set, 1.2.3.4 }`)
            match el.key {
                Expr::Set(inner) if el.data.is_none() => out.extend(inner),
                _ => out.push(el),
            }
            self.skip_nl();
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.skip_nl();
            self.expect(&Tok::RBrace, "`,` or `}`")?;
            break;
        }
        Ok(out)
    }

    pub(super) fn elem_opts(&mut self, el: &mut SetElem) -> PResult<()> {
        loop {
            if self.eat_word("timeout") {
                el.timeout = Some(self.time()?);
            } else if self.eat_word("expires") {
                el.expires = Some(self.time()?);
            } else if self.is_word("comment") && matches!(self.peek_at(1), Tok::Str(_)) {
                self.bump();
                el.comment = Some(self.string("a comment")?);
            } else if self.eat_word("limit") {
                self.expect_word("rate")?;
                el.stmts.push(Stmt::Limit(self.limit_args()?));
            } else if self.is_word("quota") && matches!(self.peek_at(1), Tok::Num(_) | Tok::Word(_))
            {
                self.bump();
                el.stmts.push(Stmt::Quota(self.quota_args()?));
            } else if self.eat_word("counter") {
                el.stmts.push(Stmt::Counter);
                if self.eat_word("packets") {
                    self.number("packets")?;
                    self.expect_word("bytes")?;
                    self.number("bytes")?;
                }
            } else {
                return Ok(());
            }
        }
    }
}
