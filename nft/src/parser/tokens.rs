//! Token helpers: looking at, consuming and expecting tokens, names, strings, numbers and
//! times (with `$variables`), errors at the current token, and the list combinators every
//! comma- or dot-separated list and every braced list uses.

use super::{PResult, Parser};
use crate::ast::Expr;
use crate::error::{ErrorKind, NftError, Span};
use crate::lexer::{Tok, Token};
use crate::types::{parse_time_ms, parse_uint};

impl Parser<'_> {
    pub(super) fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    pub(super) fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    pub(super) fn span(&self) -> Span {
        self.toks[self.pos].span
    }

    pub(super) fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    pub(super) fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if x == w)
    }

    pub(super) fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }

    pub(super) fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    pub(super) fn err(&self, span: Span, msg: impl Into<String>) -> NftError {
        self.ctx.sm.error(ErrorKind::Syntax, span, msg)
    }

    pub(super) fn invalid(&self, span: Span, msg: impl Into<String>) -> NftError {
        self.ctx.sm.error(ErrorKind::Invalid, span, msg)
    }

    pub(super) fn unsupported(&self, span: Span, what: &str) -> NftError {
        self.ctx
            .sm
            .error(ErrorKind::Unsupported, span, format!("unsupported: {what}"))
    }

    /// Raw payload loads (`@th,160,128`) read arbitrary packet bytes; offsim's packet
    /// summaries keep header fields, not the bytes.
    pub(super) fn raw_payload(&self, sp: Span, base: &str) -> NftError {
        self.unsupported(
            sp,
            &format!(
                "raw payload expression @{base} (offsim keeps header fields of each packet, not its bytes)"
            ),
        )
    }

    pub(super) fn unexpected(&self, what: &str) -> NftError {
        self.err(
            self.span(),
            format!("unexpected {}, expecting {what}", self.peek().describe()),
        )
    }

    pub(super) fn expect(&mut self, t: &Tok, what: &str) -> PResult<Span> {
        if self.peek() == t {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(what))
        }
    }

    pub(super) fn expect_word(&mut self, w: &str) -> PResult<()> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{w}`")))
        }
    }

    pub(super) fn skip_nl(&mut self) {
        while matches!(self.peek(), Tok::Newline) {
            self.bump();
        }
    }

    pub(super) fn skip_sep(&mut self) {
        while matches!(self.peek(), Tok::Newline | Tok::Semi) {
            self.bump();
        }
    }

    pub(super) fn at_end_of_stmt(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Newline | Tok::Semi | Tok::RBrace | Tok::Eof
        )
    }

    /// An identifier (name of a table, chain, set...). Accepts words, quoted strings,
    /// numbers and `$var` bound to a word.
    pub(super) fn name(&mut self, what: &str) -> PResult<String> {
        let t = self.peek().clone();
        match t {
            Tok::Word(w) | Tok::Str(w) | Tok::Num(w) => {
                self.bump();
                Ok(w)
            }
            Tok::Var(v) => {
                let sp = self.span();
                self.bump();
                match self.var(sp, &v)? {
                    Expr::Sym(s, _) => Ok(s),
                    _ => Err(self.invalid(sp, format!("${v} is not a name"))),
                }
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// The name of a table, chain, set, map, flowtable or object: as [`Self::name`], but an
    /// unquoted nft keyword is a syntax error, as in nft (`reserved.rs`).
    pub(super) fn ident(&mut self, what: &str) -> PResult<String> {
        if let Tok::Word(w) = self.peek()
            && super::reserved::is_reserved(w)
        {
            return Err(self.unexpected(what));
        }
        self.name(what)
    }

    pub(super) fn string(&mut self, what: &str) -> PResult<String> {
        match self.peek().clone() {
            Tok::Str(s) | Tok::Word(s) => {
                self.bump();
                Ok(s)
            }
            Tok::Var(v) => {
                let sp = self.span();
                self.bump();
                self.var_word(sp, &v)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    pub(super) fn number(&mut self, what: &str) -> PResult<u64> {
        let sp = self.span();
        let s = match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                n
            }
            Tok::Var(v) => {
                self.bump();
                self.var_word(sp, &v)?
            }
            _ => return Err(self.unexpected(what)),
        };
        parse_uint(&s)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| self.err(sp, format!("invalid number {s}")))
    }

    /// The value of `$v` (whose token is at `sp`).
    pub(super) fn var(&self, sp: Span, v: &str) -> PResult<Expr> {
        let e = self
            .ctx
            .lookup_var(v)
            .ok_or_else(|| self.invalid(sp, format!("unknown identifier '{v}'")))?;
        // Every use copies the value: a define that doubles at each level would grow
        // exponentially. The copies made in all are capped (their printed size stands for
        // their size; the work to measure them is bounded by the same cap).
        let total = self.ctx.expanded.get() + format!("{e:?}").len() as u64;
        self.ctx.expanded.set(total);
        if total > super::MAX_EXPANSION {
            return Err(self.invalid(
                sp,
                format!(
                    "variable expansion too large: the uses of defines copy more than {} \
                     bytes of expressions (a define that doubles at each level?)",
                    super::MAX_EXPANSION
                ),
            ));
        }
        Ok(e)
    }

    /// The word `$v` (whose token is at `sp`) is bound to.
    fn var_word(&self, sp: Span, v: &str) -> PResult<String> {
        match self.ctx.lookup_var(v) {
            Some(Expr::Sym(s, _)) => Ok(s),
            _ => Err(self.invalid(sp, format!("unknown identifier '{v}'"))),
        }
    }

    pub(super) fn time(&mut self) -> PResult<u64> {
        let sp = self.span();
        let s = match self.peek().clone() {
            Tok::Num(n) | Tok::Word(n) | Tok::Str(n) => {
                self.bump();
                n
            }
            _ => return Err(self.unexpected("a time value")),
        };
        parse_time_ms(&s).ok_or_else(|| self.err(sp, format!("invalid time \"{s}\"")))
    }

    // ------------------------------------------------------------------ lists
    /// One or more `item`s separated by `sep` (`a, b, c`; `ip saddr . tcp dport`).
    pub(super) fn sep_list<T>(
        &mut self,
        sep: &Tok,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let first = item(self)?;
        self.sep_list_after(first, sep, item)
    }

    /// The rest of a `sep`-separated list whose first item is already parsed.
    pub(super) fn sep_list_after<T>(
        &mut self,
        first: T,
        sep: &Tok,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut out = vec![first];
        while self.eat(sep) {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// The items of a braced list after its `{`: comma-separated, newlines anywhere, a
    /// comma before the `}` allowed.
    pub(super) fn braced_list(
        &mut self,
        mut item: impl FnMut(&mut Self) -> PResult<()>,
    ) -> PResult<()> {
        loop {
            self.skip_nl();
            if self.eat(&Tok::RBrace) {
                return Ok(());
            }
            item(self)?;
            self.skip_nl();
            if !self.eat(&Tok::Comma) {
                self.skip_nl();
                self.expect(&Tok::RBrace, "`,` or `}`")?;
                return Ok(());
            }
        }
    }

    /// The properties of a declaration block after its `{` (`set s { type ...; flags ...
    /// }`): each starts with a keyword, which `prop` gets consumed, with its span; `}` ends
    /// the block.
    pub(super) fn block(
        &mut self,
        what: &str,
        mut prop: impl FnMut(&mut Self, String, Span) -> PResult<()>,
    ) -> PResult<()> {
        loop {
            self.skip_sep();
            let isp = self.span();
            let w = match self.peek().clone() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(());
                }
                Tok::Word(w) => w,
                _ => return Err(self.unexpected(what)),
            };
            self.bump();
            prop(self, w, isp)?;
        }
    }
}

/// One expression, or the concatenation of several.
pub(super) fn concat(mut parts: Vec<Expr>) -> Expr {
    if parts.len() == 1 {
        parts.pop().unwrap_or(Expr::Opaque(String::new()))
    } else {
        Expr::Concat(parts)
    }
}
