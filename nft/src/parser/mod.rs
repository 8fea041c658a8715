//! Recursive-descent parser for the nftables text language (blocks, commands, defines,
//! includes) producing [`Cmd`]s with unresolved literals.
//!
//! The grammar follows nft's `src/parser_bison.y` for the subset in
//! `reference/nft-language-subset.md`; constructs outside it are reported as
//! `unsupported: <construct>` errors at the offending token.

mod commands;
mod decls;
mod exprs;
mod reserved;
mod rules;
mod sets;
mod support;
mod tokens;

use crate::ast::*;
use crate::error::{NftError, SourceMap, Span};
use crate::lexer::{Tok, Token, tokenize};

/// Most bytes (printed size) of define values all uses may copy.
pub(crate) const MAX_EXPANSION: u64 = 1 << 24;
/// Most bytes all included files may hold together.
pub(crate) const MAX_INCLUDED_BYTES: u64 = 256 << 20;

/// Parser state shared across included files.
pub(crate) struct ParseCtx {
    /// Every source read so far.
    pub(crate) sm: SourceMap,
    /// Commands in file order, each with its span.
    pub(crate) cmds: Vec<(Cmd, Span)>,
    /// `define` scopes, innermost last.
    scopes: Vec<Vec<(String, Expr)>>,
    /// Include nesting depth.
    depth: u32,
    /// Size of the define values copied by their uses so far ([`MAX_EXPANSION`]).
    expanded: std::cell::Cell<u64>,
    /// Bytes of included files read so far ([`MAX_INCLUDED_BYTES`]).
    pub(crate) included_bytes: u64,
    /// Whether includes may be read from the file system.
    pub(crate) allow_includes: bool,
    /// Chain bindings (`jump { ... }`) parsed but not yet emitted: (name, rules with spans,
    /// span of the `jump`). The caller that knows the table emits them.
    bindings: Vec<PendingBinding>,
    /// Number of chain bindings named so far (`__chain1`, `__chain2`, ...).
    binding_seq: u32,
    /// Sets declared implicitly by `meter` statements, emitted with the bindings.
    meters: Vec<(SetDecl, Span)>,
    /// Whether a chain binding's rules are being parsed.
    in_binding: bool,
}

/// A chain binding waiting to be emitted: name, rules with their spans, span of the `jump`.
type PendingBinding = (String, Vec<(Rule, Span)>, Span);

impl Default for ParseCtx {
    fn default() -> Self {
        ParseCtx {
            sm: SourceMap::default(),
            cmds: Vec::new(),
            scopes: vec![Vec::new()],
            depth: 0,
            expanded: std::cell::Cell::new(0),
            included_bytes: 0,
            allow_includes: true,
            bindings: Vec::new(),
            binding_seq: 0,
            meters: Vec::new(),
            in_binding: false,
        }
    }
}

impl ParseCtx {
    /// Parses one text source already added to the source map.
    pub(crate) fn parse_source(&mut self, src: u32) -> Result<(), NftError> {
        let text = self.sm.sources[src as usize].text.clone();
        let toks = tokenize(&self.sm, src, &text)?;
        let mut p = Parser::new(toks, src, self);
        p.parse_top()
    }

    /// Parses one statement given as text (`nft -j` 1.0.x prints statements that have no
    /// JSON form, such as a chain binding `jump { ... }`, as strings) for a rule of
    /// `family table`. Returns the statement and the commands of the chain bindings it
    /// declares (their `add chain` first).
    pub(crate) fn parse_text_stmt(
        &mut self,
        name: &str,
        text: &str,
        family: Family,
        table: &str,
    ) -> Result<(Stmt, Vec<(Cmd, Span)>), NftError> {
        let src = self.sm.add(name, text.to_string(), false);
        let toks = tokenize(&self.sm, src, text)?;
        let before = self.cmds.len();
        let mut p = Parser::new(toks, src, self);
        let s = p.stmt()?;
        p.skip_sep();
        if !matches!(p.peek(), Tok::Eof) {
            return Err(p.unexpected("the end of the statement"));
        }
        p.emit_bindings(family, table);
        let cmds = self.cmds.split_off(before);
        Ok((s, cmds))
    }

    fn lookup_var(&self, name: &str) -> Option<Expr> {
        for s in self.scopes.iter().rev() {
            if let Some((_, e)) = s.iter().rev().find(|(n, _)| n == name) {
                return Some(e.clone());
            }
        }
        None
    }
}

struct Parser<'c> {
    toks: Vec<Token>,
    pos: usize,
    src: u32,
    ctx: &'c mut ParseCtx,
    nest: u32,
}

type PResult<T> = Result<T, NftError>;

impl<'c> Parser<'c> {
    fn new(toks: Vec<Token>, src: u32, ctx: &'c mut ParseCtx) -> Parser<'c> {
        Parser {
            toks,
            pos: 0,
            src,
            ctx,
            nest: 0,
        }
    }
}
