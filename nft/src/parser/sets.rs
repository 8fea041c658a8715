//! Set and map declarations, and set literals `{ elem, elem : data, ... }` with element
//! options.

use super::tokens::concat;
use super::{PResult, Parser};
use crate::ast::*;
use crate::error::Span;
use crate::lexer::Tok;

impl Parser<'_> {
    /// `set|map NAME { PROPERTIES }`.
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
        self.block("a set property or `}`", |p, w, isp| {
            p.set_property(&mut d, &w, isp)
        })?;
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

    /// One property of a set declaration, after its keyword `w` (at `isp`).
    fn set_property(&mut self, d: &mut SetDecl, w: &str, isp: Span) -> PResult<()> {
        match w {
            "type" => self.set_type(d)?,
            "typeof" => self.set_typeof(d)?,
            "flags" => d
                .flags
                .extend(self.sep_list(&Tok::Comma, |p| p.name("a set flag"))?),
            "timeout" => d.timeout = Some(self.time()?),
            "gc-interval" => d.gc_interval = Some(self.time()?),
            "size" => d.size = Some(self.number("a size")?),
            "policy" => d.policy = Some(self.name("performance or memory")?),
            "auto-merge" => d.auto_merge = true,
            "counter" => d.counter = true,
            "quota" | "limit" | "last" | "ct" => {
                // per-element stateful defaults: skip to end of statement
                d.stmts.push(w.to_string());
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
                    match self.var(vsp, &v)? {
                        Expr::Set(el) => d.elements.extend(el),
                        e => d.elements.push(SetElem::plain(e)),
                    }
                } else {
                    let el = self.set_literal_elems()?;
                    d.elements.extend(el);
                }
            }
            _ => return Err(self.err(isp, format!("unexpected `{w}` in set declaration"))),
        }
        Ok(())
    }

    /// `type T [. T ...] [: [interval] DATA]`: key type names, then data type names or the
    /// kind of an object map.
    fn set_type(&mut self, d: &mut SetDecl) -> PResult<()> {
        d.type_names
            .extend(self.sep_list(&Tok::Dot, |p| p.name("a data type"))?);
        if !self.eat(&Tok::Colon) {
            return Ok(());
        }
        if self.is_word("interval") {
            self.bump();
        }
        let n = self.name("a data type")?;
        if matches!(n.as_str(), "counter" | "quota" | "limit" | "ct" | "secmark") {
            d.obj_type = Some(if n == "ct" {
                format!("ct {}", self.name("helper")?)
            } else {
                n
            });
            d.data_name = None;
        } else {
            let names = self.sep_list_after(n, &Tok::Dot, |p| p.name("a data type"))?;
            d.data_name = Some(names.join(" . "));
        }
        Ok(())
    }

    /// `typeof EXPR [. EXPR ...] [: [interval] EXPR|verdict|counter|quota|limit]`.
    fn set_typeof(&mut self, d: &mut SetDecl) -> PResult<()> {
        d.typeof_key = Some(self.sep_list(&Tok::Dot, |p| p.selector_expr())?);
        if !self.eat(&Tok::Colon) {
            return Ok(());
        }
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
            return Ok(());
        }
        d.typeof_data = Some(concat(self.sep_list(&Tok::Dot, |p| p.selector_expr())?));
        Ok(())
    }

    /// `{ elem, elem, ... }` with element options and map data.
    pub(super) fn set_literal_elems(&mut self) -> PResult<Vec<SetElem>> {
        self.expect(&Tok::LBrace, "`{`")?;
        let mut out = Vec::new();
        self.braced_list(|p| {
            let el = p.set_elem()?;
            // flatten nested sets (`{ $defined_set, 1.2.3.4 }`)
            match el.key {
                Expr::Set(inner) if el.data.is_none() => out.extend(inner),
                _ => out.push(el),
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// `KEY [options] [: DATA [options]]`; map data may be a verdict.
    fn set_elem(&mut self) -> PResult<SetElem> {
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
        Ok(el)
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
