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
                match self.ctx.lookup_var(&v) {
                    Some(Expr::Sym(s, _)) => Ok(s),
                    Some(_) => Err(self.invalid(sp, format!("${v} is not a name"))),
                    None => Err(self.invalid(sp, format!("unknown identifier '{v}'"))),
                }
            }
            _ => Err(self.unexpected(what)),
        }
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
                match self.ctx.lookup_var(&v) {
                    Some(Expr::Sym(s, _)) => Ok(s),
                    _ => Err(self.invalid(sp, format!("unknown identifier '{v}'"))),
                }
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
                match self.ctx.lookup_var(&v) {
                    Some(Expr::Sym(s, _)) => s,
                    _ => return Err(self.invalid(sp, format!("unknown identifier '{v}'"))),
                }
            }
            _ => return Err(self.unexpected(what)),
        };
        parse_uint(&s)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| self.err(sp, format!("invalid number {s}")))
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
}
