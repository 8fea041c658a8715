//! Recursive-descent parser for the nftables text language (blocks, commands, defines,
//! includes) producing [`Cmd`]s with unresolved literals.
//!
//! The grammar follows nft's `src/parser_bison.y` for the subset in
//! `reference/nft-language-subset.md`; constructs outside it are reported as
//! `unsupported: <construct>` errors at the offending token.

use std::path::{Path, PathBuf};

use super::ast::*;
use super::error::{ErrorKind, NftError, SourceMap, Span};
use super::lexer::{Tok, Token, tokenize};
use super::selector::{ct_supported, meta_supported, payload_info, payload_supported};
use super::types::{parse_time_ms, parse_uint, proto_number};

/// Parser state shared across included files.
pub struct ParseCtx {
    /// Every source read so far.
    pub sm: SourceMap,
    /// Commands in file order, each with its span.
    pub cmds: Vec<(Cmd, Span)>,
    /// `define` scopes, innermost last.
    scopes: Vec<Vec<(String, Expr)>>,
    /// Include nesting depth.
    depth: u32,
    /// Whether includes may be read from the file system.
    pub allow_includes: bool,
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
    pub fn parse_source(&mut self, src: u32) -> Result<(), NftError> {
        let text = self.sm.sources[src as usize].text.clone();
        let toks = tokenize(&self.sm, src, &text)?;
        let mut p = Parser {
            toks,
            pos: 0,
            src,
            ctx: self,
            nest: 0,
        };
        p.parse_top()
    }

    /// Parses one statement given as text (`nft -j` 1.0.x prints statements that have no
    /// JSON form, such as a chain binding `jump { ... }`, as strings) for a rule of
    /// `family table`. Returns the statement and the commands of the chain bindings it
    /// declares (their `add chain` first).
    pub fn parse_text_stmt(
        &mut self,
        name: &str,
        text: &str,
        family: Family,
        table: &str,
    ) -> Result<(Stmt, Vec<(Cmd, Span)>), NftError> {
        let src = self.sm.add(name, text.to_string(), false);
        let toks = tokenize(&self.sm, src, text)?;
        let before = self.cmds.len();
        let mut p = Parser {
            toks,
            pos: 0,
            src,
            ctx: self,
            nest: 0,
        };
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

/// Keywords that start a selector expression.
fn is_selector_word(w: &str) -> bool {
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

fn unqualified_meta(w: &str) -> Option<MetaKey> {
    match w {
        "mark" | "iif" | "iifname" | "iiftype" | "oif" | "oifname" | "oiftype" | "skuid"
        | "skgid" | "nftrace" | "rtclassid" | "ibrname" | "obrname" | "ibriport" | "obriport"
        | "pkttype" | "cpu" | "iifgroup" | "oifgroup" | "cgroup" | "ipsec" | "time" | "day"
        | "hour" => MetaKey::from_name(w),
        _ => None,
    }
}

impl<'c> Parser<'c> {
    // ------------------------------------------------------------------ token helpers
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }
    fn span(&self) -> Span {
        self.toks[self.pos].span
    }
    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if x == w)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn err(&self, span: Span, msg: impl Into<String>) -> NftError {
        self.ctx.sm.error(ErrorKind::Syntax, span, msg)
    }
    fn invalid(&self, span: Span, msg: impl Into<String>) -> NftError {
        self.ctx.sm.error(ErrorKind::Invalid, span, msg)
    }
    fn unsupported(&self, span: Span, what: &str) -> NftError {
        self.ctx
            .sm
            .error(ErrorKind::Unsupported, span, format!("unsupported: {what}"))
    }
    /// Raw payload loads (`@th,160,128`) read arbitrary packet bytes; offsim's packet
    /// summaries keep header fields, not the bytes.
    fn raw_payload(&self, sp: Span, base: &str) -> NftError {
        self.unsupported(
            sp,
            &format!(
                "raw payload expression @{base} (offsim keeps header fields of each packet, not its bytes)"
            ),
        )
    }

    fn unexpected(&self, what: &str) -> NftError {
        self.err(
            self.span(),
            format!("unexpected {}, expecting {what}", self.peek().describe()),
        )
    }
    fn expect(&mut self, t: &Tok, what: &str) -> PResult<Span> {
        if self.peek() == t {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(what))
        }
    }
    fn expect_word(&mut self, w: &str) -> PResult<()> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{w}`")))
        }
    }
    fn skip_nl(&mut self) {
        while matches!(self.peek(), Tok::Newline) {
            self.bump();
        }
    }
    fn skip_sep(&mut self) {
        while matches!(self.peek(), Tok::Newline | Tok::Semi) {
            self.bump();
        }
    }
    fn at_end_of_stmt(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Newline | Tok::Semi | Tok::RBrace | Tok::Eof
        )
    }

    /// An identifier (name of a table, chain, set...). Accepts words, quoted strings,
    /// numbers and `$var` bound to a word.
    fn name(&mut self, what: &str) -> PResult<String> {
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

    fn string(&mut self, what: &str) -> PResult<String> {
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

    fn number(&mut self, what: &str) -> PResult<u64> {
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

    fn time(&mut self) -> PResult<u64> {
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

    // ------------------------------------------------------------------ top level
    fn parse_top(&mut self) -> PResult<()> {
        loop {
            self.skip_sep();
            if matches!(self.peek(), Tok::Eof) {
                return Ok(());
            }
            self.top_item()?;
        }
    }

    fn push(&mut self, cmd: Cmd, span: Span) {
        self.ctx.cmds.push((cmd, span));
    }

    fn top_item(&mut self) -> PResult<()> {
        let sp = self.span();
        let w = match self.peek().clone() {
            Tok::Word(w) => w,
            _ => return Err(self.unexpected("a command or `table`")),
        };
        match w.as_str() {
            "define" | "redefine" => self.define(),
            "undefine" => {
                self.bump();
                let n = self.name("a variable name")?;
                for s in self.ctx.scopes.iter_mut() {
                    s.retain(|(x, _)| *x != n);
                }
                Ok(())
            }
            "include" => self.include(),
            "table" => {
                self.bump();
                self.table_cmd(false, sp)
            }
            "add" | "create" => {
                self.bump();
                self.add_cmd(w == "create", sp)
            }
            "insert" | "replace" => {
                self.bump();
                if !self.eat_word("rule") {
                    return Err(self.unexpected("`rule`"));
                }
                self.rule_cmd(if w == "insert" { 1 } else { 2 }, sp)
            }
            "delete" | "destroy" => {
                self.bump();
                self.delete_cmd(w == "destroy", sp)
            }
            "flush" => {
                self.bump();
                self.flush_cmd(sp)
            }
            "chain" | "set" | "map" | "rule" | "flowtable" | "element" | "counter" | "quota"
            | "limit" => self.add_cmd(false, sp),
            "list" | "reset" | "rename" | "monitor" | "describe" | "export" | "import" => {
                Err(self.unsupported(sp, &format!("`{w}` command in a ruleset file")))
            }
            _ => Err(self.err(
                sp,
                format!("unexpected `{w}`, expecting a command or `table`"),
            )),
        }
    }

    fn define(&mut self) -> PResult<()> {
        self.bump();
        let n = self.name("a variable name")?;
        self.expect(&Tok::Assign, "`=`")?;
        let e = self.rhs_expr(true)?;
        let scope = self.ctx.scopes.last_mut().expect("scope");
        scope.retain(|(x, _)| *x != n);
        scope.push((n, e));
        Ok(())
    }

    fn include(&mut self) -> PResult<()> {
        let sp = self.span();
        self.bump();
        let path = match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                s
            }
            _ => return Err(self.unexpected("a quoted file name")),
        };
        if !self.ctx.allow_includes {
            return Err(self.invalid(sp, "include is not allowed here"));
        }
        if self.ctx.depth >= 16 {
            return Err(self.invalid(sp, "include nesting too deep"));
        }
        let base = {
            let cur = &self.ctx.sm.sources[self.src as usize].name;
            Path::new(cur)
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_default()
        };
        let full = if Path::new(&path).is_absolute() {
            PathBuf::from(&path)
        } else {
            base.join(&path)
        };
        let files = if path.contains(['*', '?', '[']) {
            glob_files(&full)
        } else {
            if !full.exists() {
                return Err(self.ctx.sm.error(
                    ErrorKind::Io,
                    sp,
                    format!("File not found: {}", full.display()),
                ));
            }
            vec![full]
        };
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| {
                self.ctx
                    .sm
                    .error(ErrorKind::Io, sp, format!("{}: {e}", f.display()))
            })?;
            let id = self.ctx.sm.add(&f.display().to_string(), text, false);
            self.ctx.depth += 1;
            let r = self.ctx.parse_source(id);
            self.ctx.depth -= 1;
            r?;
        }
        Ok(())
    }

    /// `[family] name`.
    fn table_spec(&mut self) -> PResult<(Family, String)> {
        if let Tok::Word(w) = self.peek().clone()
            && let Some(f) = Family::from_name(&w)
            && matches!(
                self.peek_at(1),
                Tok::Word(_) | Tok::Str(_) | Tok::Var(_) | Tok::Num(_)
            )
        {
            self.bump();
            let n = self.name("a table name")?;
            return Ok((f, n));
        }
        Ok((Family::Ip, self.name("a table name")?))
    }

    /// `[family] table name`.
    fn chain_spec(&mut self) -> PResult<(Family, String, String)> {
        if let Tok::Word(w) = self.peek().clone()
            && let Some(f) = Family::from_name(&w)
            && matches!(
                self.peek_at(1),
                Tok::Word(_) | Tok::Str(_) | Tok::Var(_) | Tok::Num(_)
            )
            && matches!(
                self.peek_at(2),
                Tok::Word(_) | Tok::Str(_) | Tok::Var(_) | Tok::Num(_)
            )
        {
            self.bump();
            let t = self.name("a table name")?;
            let c = self.name("a name")?;
            return Ok((f, t, c));
        }
        let t = self.name("a table name")?;
        let c = self.name("a name")?;
        Ok((Family::Ip, t, c))
    }

    fn table_cmd(&mut self, create: bool, sp: Span) -> PResult<()> {
        let (family, name) = self.table_spec()?;
        let mut flags = Vec::new();
        let mut comment = None;
        let has_block = matches!(self.peek(), Tok::LBrace);
        // Register the table first so that its children find it.
        let idx = self.ctx.cmds.len();
        self.push(
            Cmd::AddTable {
                family,
                name: name.clone(),
                flags: Vec::new(),
                comment: None,
                create,
            },
            sp,
        );
        if has_block {
            self.bump();
            self.ctx.scopes.push(Vec::new());
            let r = self.table_body(family, &name, &mut flags, &mut comment);
            self.ctx.scopes.pop();
            r?;
        }
        if let (
            Cmd::AddTable {
                flags: f,
                comment: c,
                ..
            },
            _,
        ) = &mut self.ctx.cmds[idx]
        {
            *f = flags;
            *c = comment;
        }
        Ok(())
    }

    fn table_body(
        &mut self,
        family: Family,
        table: &str,
        flags: &mut Vec<String>,
        comment: &mut Option<String>,
    ) -> PResult<()> {
        loop {
            self.skip_sep();
            let sp = self.span();
            let w = match self.peek().clone() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(());
                }
                Tok::Word(w) => w,
                _ => return Err(self.unexpected("`chain`, `set`, `map`, `flowtable` or `}`")),
            };
            match w.as_str() {
                "chain" => {
                    self.bump();
                    let name = self.name("a chain name")?;
                    self.chain_decl(family, table, name, false, sp)?;
                }
                "set" | "map" => {
                    self.bump();
                    let name = self.name("a set name")?;
                    self.set_decl(family, table, name, w == "map", false, sp)?;
                }
                "flowtable" => {
                    self.bump();
                    let name = self.name("a flowtable name")?;
                    self.flowtable_decl(family, table, name, false, sp)?;
                }
                "counter" | "quota" | "limit" | "ct" | "secmark" | "synproxy" => {
                    self.object_decl(family, table, false, sp)?;
                }
                "define" | "redefine" => self.define()?,
                "include" => self.include()?,
                "flags" => {
                    self.bump();
                    loop {
                        flags.push(self.name("a table flag")?);
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                }
                "comment" => {
                    self.bump();
                    *comment = Some(self.string("a comment string")?);
                }
                _ => {
                    return Err(self.err(
                        sp,
                        format!(
                            "unexpected `{w}`, expecting `chain`, `set`, `map`, `flowtable` or `}}`"
                        ),
                    ));
                }
            }
        }
    }

    fn add_cmd(&mut self, create: bool, sp: Span) -> PResult<()> {
        let w = match self.peek().clone() {
            Tok::Word(w) => w,
            _ => return Err(self.unexpected("an object type")),
        };
        match w.as_str() {
            "table" => {
                self.bump();
                self.table_cmd(create, sp)
            }
            "chain" => {
                self.bump();
                let (f, t, c) = self.chain_spec()?;
                self.chain_decl(f, &t, c, create, sp)
            }
            "rule" => {
                self.bump();
                self.rule_cmd(0, sp)
            }
            "set" | "map" => {
                self.bump();
                let (f, t, n) = self.chain_spec()?;
                self.set_decl(f, &t, n, w == "map", create, sp)
            }
            "element" => {
                self.bump();
                let (family, table, set) = self.chain_spec()?;
                let elems = self.set_literal_elems()?;
                self.push(
                    Cmd::Elements {
                        family,
                        table,
                        set,
                        elems,
                        delete: false,
                    },
                    sp,
                );
                Ok(())
            }
            "flowtable" => {
                self.bump();
                let (f, t, n) = self.chain_spec()?;
                self.flowtable_decl(f, &t, n, create, sp)
            }
            "counter" | "quota" | "limit" | "ct" | "secmark" | "synproxy" => {
                // add counter [family] table name [{...}]
                self.object_cmd(create, sp)
            }
            _ => Err(self.err(sp, format!("unexpected `{w}` after add"))),
        }
    }

    fn object_cmd(&mut self, create: bool, sp: Span) -> PResult<()> {
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
    fn object_decl(&mut self, family: Family, table: &str, create: bool, sp: Span) -> PResult<()> {
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
    fn object_body(&mut self, w: &str, body_pos: usize) -> PResult<ObjDecl> {
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

    fn chain_decl(
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

    fn device_list(&mut self) -> PResult<Vec<String>> {
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

    fn base_spec(&mut self, family: Family) -> PResult<BaseSpec> {
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
    fn priority(&mut self, family: Family, hook: Hook) -> PResult<i32> {
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

    // ------------------------------------------------------------------ sets
    fn set_decl(
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

    fn flowtable_decl(
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

    // ------------------------------------------------------------------ rule commands
    /// kind: 0 add, 1 insert, 2 replace.
    fn rule_cmd(&mut self, kind: u8, sp: Span) -> PResult<()> {
        let (family, table, chain) = self.chain_spec()?;
        let mut pos = match kind {
            0 => RulePos::Append,
            1 => RulePos::Prepend,
            _ => RulePos::Append,
        };
        loop {
            if self.is_word("handle") || self.is_word("position") || self.is_word("index") {
                let w = match self.bump().tok {
                    Tok::Word(w) => w,
                    _ => unreachable!(),
                };
                let n = self.number("a number")?;
                pos = match (w.as_str(), kind) {
                    (_, 2) if w == "handle" => RulePos::Replace(n),
                    ("index", 0) => RulePos::AfterIndex(n),
                    ("index", _) => RulePos::BeforeIndex(n),
                    (_, 0) => RulePos::AfterHandle(n),
                    _ => RulePos::BeforeHandle(n),
                };
            } else {
                break;
            }
        }
        if kind == 2 && !matches!(pos, RulePos::Replace(_)) {
            return Err(self.unexpected("`handle`"));
        }
        let rsp = self.span();
        let rule = self.rule()?;
        self.emit_bindings(family, &table);
        self.push(
            Cmd::AddRule {
                family,
                table,
                chain,
                rule,
                pos,
            },
            Span::join(sp, rsp),
        );
        Ok(())
    }

    fn delete_cmd(&mut self, destroy: bool, sp: Span) -> PResult<()> {
        let w = self.name("an object type")?;
        let kind = match w.as_str() {
            "table" => ObjKind::Table,
            "chain" => ObjKind::Chain,
            "rule" => ObjKind::Rule,
            "set" => ObjKind::Set,
            "map" => ObjKind::Map,
            "flowtable" => ObjKind::Flowtable,
            "element" => ObjKind::Element,
            "counter" | "quota" | "limit" | "secmark" | "synproxy" => ObjKind::Object,
            "ct" => {
                self.name("helper")?;
                ObjKind::Object
            }
            _ => return Err(self.invalid(self.prev_span(), format!("cannot delete `{w}`"))),
        };
        let (family, table, name, handle) = match kind {
            ObjKind::Table => {
                let (f, t) = self.table_spec()?;
                if self.eat_word("handle") {
                    let h = self.number("a handle")?;
                    (f, t, None, Some(h))
                } else {
                    (f, t, None, None)
                }
            }
            ObjKind::Element => {
                let (f, t, s) = self.chain_spec()?;
                let elems = self.set_literal_elems()?;
                self.push(
                    Cmd::Elements {
                        family: f,
                        table: t,
                        set: s,
                        elems,
                        delete: true,
                    },
                    sp,
                );
                return Ok(());
            }
            _ => {
                // [family] table (name | handle N)
                let (f, t) = self.table_spec()?;
                if self.eat_word("handle") {
                    let h = self.number("a handle")?;
                    (f, t, None, Some(h))
                } else {
                    let n = self.name("a name")?;
                    if self.eat_word("handle") {
                        let h = self.number("a handle")?;
                        (f, t, Some(n), Some(h))
                    } else {
                        (f, t, Some(n), None)
                    }
                }
            }
        };
        if kind == ObjKind::Rule && handle.is_none() {
            return Err(self.unexpected("`handle`"));
        }
        self.push(
            Cmd::Delete {
                kind,
                family,
                table,
                name,
                handle,
                destroy,
            },
            sp,
        );
        Ok(())
    }

    fn flush_cmd(&mut self, sp: Span) -> PResult<()> {
        let w = self.name("ruleset, table, chain, set or map")?;
        let cmd = match w.as_str() {
            "ruleset" => {
                let fam = if let Tok::Word(f) = self.peek().clone() {
                    Family::from_name(&f).inspect(|_| {
                        self.bump();
                    })
                } else {
                    None
                };
                Cmd::Flush {
                    kind: ObjKind::Ruleset,
                    family: fam,
                    table: String::new(),
                    name: None,
                }
            }
            "table" => {
                let (f, t) = self.table_spec()?;
                Cmd::Flush {
                    kind: ObjKind::Table,
                    family: Some(f),
                    table: t,
                    name: None,
                }
            }
            "chain" | "set" | "map" | "meter" => {
                let (f, t, n) = self.chain_spec()?;
                Cmd::Flush {
                    kind: match w.as_str() {
                        "chain" => ObjKind::Chain,
                        "set" => ObjKind::Set,
                        _ => ObjKind::Map,
                    },
                    family: Some(f),
                    table: t,
                    name: Some(n),
                }
            }
            _ => return Err(self.invalid(self.prev_span(), format!("cannot flush `{w}`"))),
        };
        self.push(cmd, sp);
        Ok(())
    }

    // ------------------------------------------------------------------ rules
    fn rule(&mut self) -> PResult<Rule> {
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

    fn stmt(&mut self) -> PResult<Stmt> {
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
            "jump" | "goto" => {
                self.bump();
                if matches!(self.peek(), Tok::LBrace) {
                    let c = self.binding_block(sp)?;
                    return Ok(Stmt::Verdict(if w == "jump" {
                        Verdict::Jump(c)
                    } else {
                        Verdict::Goto(c)
                    }));
                }
                let c = self.name("a chain name")?;
                Ok(Stmt::Verdict(if w == "jump" {
                    Verdict::Jump(c)
                } else {
                    Verdict::Goto(c)
                }))
            }
            "counter" => {
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
            "flow" => {
                self.bump();
                if self.eat_word("add") || self.eat_word("offload") {
                    match self.peek().clone() {
                        Tok::At(ft) => {
                            self.bump();
                            Ok(Stmt::FlowAdd(ft))
                        }
                        _ => Err(self.unexpected("@flowtable")),
                    }
                } else {
                    Err(self.unsupported(sp, "flow table (meter) statement"))
                }
            }
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
            "dup" | "fwd" | "tproxy" | "synproxy" | "xt" | "last" | "set" | "reset" | "osf"
            | "secmark" => Err(self.unsupported(sp, &format!("{w} statement"))),
            "ct" if matches!(self.peek_at(1), Tok::Word(x) if x == "helper" || x == "timeout" || x == "expectation")
                && matches!(self.peek_at(2), Tok::Word(x) if x == "set") =>
            {
                self.bump();
                let which = self.name("helper")?;
                self.bump();
                let e = self.value_expr()?;
                if which == "helper" {
                    Ok(Stmt::CtHelperSet(e))
                } else if which == "timeout" {
                    Ok(Stmt::CtTimeoutSet(e))
                } else {
                    Err(self.unsupported(sp, &format!("ct {which} set")))
                }
            }
            _ => self.match_stmt(),
        }
    }

    /// `jump { RULES }`: an anonymous chain bound to the rule (kernel chain binding,
    /// `NFT_CHAIN_BINDING`). The chain gets the name the kernel gives it, `__chainN`, and is
    /// emitted by the caller that knows the table ([`Parser::emit_bindings`]); evaluation is
    /// that of a jump (or goto) to a regular chain (`nft_immediate_eval` sets the verdict with
    /// the bound chain, `nft_do_chain` follows it like any other).
    fn binding_block(&mut self, sp: Span) -> PResult<String> {
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
    fn emit_bindings(&mut self, family: Family, table: &str) {
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
        }
    }

    fn log_stmt(&mut self) -> PResult<Stmt> {
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
                loop {
                    let f = self.name("a log flag")?;
                    let f = match f.as_str() {
                        "tcp" | "ip" => {
                            let sub = self.name("options or sequence")?;
                            let mut s = format!("{f} {sub}");
                            while self.eat(&Tok::Comma) {
                                let more = self.name("options or sequence")?;
                                s = format!("{s},{more}");
                            }
                            s
                        }
                        _ => f,
                    };
                    l.flags.push(f);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        l.flags.sort();
        Ok(Stmt::Log(l))
    }

    /// After `limit rate`: `[over|until] N[ unit]/period [burst N [unit]]`.
    fn limit_args(&mut self) -> PResult<LimitStmt> {
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

    fn quota_args(&mut self) -> PResult<QuotaStmt> {
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

    fn nat_stmt(&mut self, w: &str) -> PResult<Stmt> {
        let kind = NatKind::from_name(w).unwrap_or(NatKind::Redirect);
        let mut n = NatStmt {
            kind,
            family: None,
            addr: None,
            port: None,
            flags: 0,
            concat: false,
        };
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

    fn port_expr(&mut self) -> PResult<Expr> {
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

    fn reject_stmt(&mut self) -> PResult<Stmt> {
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
                    "icmp" => (super::types::ICMP_CODES, RejectStmt::Icmp),
                    "icmpx" => (super::types::ICMPX_CODES, RejectStmt::Icmpx),
                    _ => (super::types::ICMPV6_CODES, RejectStmt::Icmpv6),
                };
                let v = super::types::lookup(table, &c)
                    .or_else(|| parse_uint(&c))
                    .filter(|v| *v <= 255)
                    .ok_or_else(|| self.invalid(csp, format!("invalid {w} reject code {c}")))?;
                Ok(Stmt::Reject(mk(v as u8)))
            }
            _ => Err(self.invalid(sp, format!("invalid reject type {w}"))),
        }
    }

    fn queue_stmt(&mut self) -> PResult<Stmt> {
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
            } else if self.eat_word("flags") {
                loop {
                    flags.push(self.name("a queue flag")?);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            } else if self.is_word("bypass") || self.is_word("fanout") {
                flags.push(self.name("flag")?);
                while self.eat(&Tok::Comma) {
                    flags.push(self.name("a queue flag")?);
                }
            } else {
                break;
            }
        }
        flags.sort();
        flags.dedup();
        Ok(Stmt::Queue { num, flags })
    }

    fn set_update(&mut self, w: &str) -> PResult<Stmt> {
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
    fn meter_stmt(&mut self, sp: Span) -> PResult<Stmt> {
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

    /// `LHS [op] RHS`, `LHS set VALUE`, `LHS vmap DATA`.
    fn match_stmt(&mut self) -> PResult<Stmt> {
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
    fn lhs_expr(&mut self) -> PResult<Expr> {
        let mut parts = vec![self.lhs_binop()?];
        while matches!(self.peek(), Tok::Dot) {
            self.bump();
            if let Tok::At(a) = self.peek().clone()
                && matches!(self.peek_at(1), Tok::Comma)
            {
                return Err(self.raw_payload(self.span(), &a));
            }
            if matches!(self.peek(), Tok::Word(w) if is_selector_word(w))
                || matches!(self.peek(), Tok::LParen)
            {
                parts.push(self.lhs_binop()?);
            } else {
                parts.push(self.rhs_atom()?);
            }
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::Opaque(String::new()))
        } else {
            Expr::Concat(parts)
        })
    }

    fn binop_tok(&self) -> Option<BinOp> {
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
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> PResult<Expr>) -> PResult<Expr> {
        self.nest += 1;
        let r = if self.nest > 64 {
            Err(self.err(self.span(), "expression nested too deeply"))
        } else {
            f(self)
        };
        self.nest -= 1;
        r
    }

    fn lhs_binop(&mut self) -> PResult<Expr> {
        self.nested(Self::lhs_binop_inner)
    }

    fn lhs_binop_inner(&mut self) -> PResult<Expr> {
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
    fn shifted_operand(&mut self, op: BinOp) -> PResult<Expr> {
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
    fn operand(&mut self) -> PResult<Expr> {
        self.nested(Self::operand_inner)
    }

    fn operand_inner(&mut self) -> PResult<Expr> {
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
            let mut items = vec![a];
            while self.eat(&Tok::Comma) {
                items.push(self.rhs_atom()?);
            }
            return Ok(Expr::List(items));
        }
        Ok(a)
    }

    /// A value expression used by statements: selectors or constants with binary
    /// operations, concatenations and `map` lookups.
    fn value_expr(&mut self) -> PResult<Expr> {
        let mut parts = vec![self.value_binop()?];
        while matches!(self.peek(), Tok::Dot) {
            self.bump();
            parts.push(self.value_binop()?);
        }
        let mut e = if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::Opaque(String::new()))
        } else {
            Expr::Concat(parts)
        };
        if self.eat_word("map") {
            let d = self.map_data()?;
            e = Expr::Map(Box::new(e), Box::new(d));
        }
        Ok(e)
    }

    fn value_binop(&mut self) -> PResult<Expr> {
        self.nested(Self::value_binop_inner)
    }

    fn value_binop_inner(&mut self) -> PResult<Expr> {
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
    fn map_data(&mut self) -> PResult<Expr> {
        match self.peek().clone() {
            Tok::At(n) => {
                self.bump();
                Ok(Expr::SetRef(n))
            }
            Tok::LBrace => Ok(Expr::Set(self.set_literal_elems()?)),
            Tok::Var(v) => {
                let sp = self.span();
                self.bump();
                self.ctx
                    .lookup_var(&v)
                    .ok_or_else(|| self.invalid(sp, format!("unknown identifier '{v}'")))
            }
            _ => Err(self.unexpected("`{` or @map")),
        }
    }

    /// A selector: payload field, meta, ct, numgen, jhash, symhash, fib.
    fn selector_expr(&mut self) -> PResult<Expr> {
        let sp = self.span();
        let w = match self.peek().clone() {
            Tok::Word(w) => w,
            Tok::At(a) => return Err(self.raw_payload(sp, &a)),
            Tok::Var(v) => {
                self.bump();
                return self
                    .ctx
                    .lookup_var(&v)
                    .ok_or_else(|| self.invalid(sp, format!("unknown identifier '{v}'")));
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
            "meta" => {
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
            "ct" => {
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
            "numgen" => {
                self.bump();
                let m = self.name("inc or random")?;
                let random = match m.as_str() {
                    "inc" => false,
                    "random" => true,
                    _ => {
                        return Err(
                            self.invalid(self.prev_span(), format!("invalid numgen mode {m}"))
                        );
                    }
                };
                self.expect_word("mod")?;
                let modulus = self.number("a modulus")? as u32;
                let mut offset = 0;
                if self.eat_word("offset") {
                    offset = self.number("an offset")? as u32;
                }
                Ok(Expr::Numgen {
                    random,
                    modulus,
                    offset,
                })
            }
            "jhash" => {
                self.bump();
                let mut parts = vec![self.selector_expr()?];
                while self.eat(&Tok::Dot) {
                    parts.push(self.selector_expr()?);
                }
                let expr = if parts.len() == 1 {
                    parts.pop().unwrap_or(Expr::Opaque(String::new()))
                } else {
                    Expr::Concat(parts)
                };
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
            "symhash" => {
                self.bump();
                self.expect_word("mod")?;
                let modulus = self.number("a modulus")? as u32;
                let mut offset = 0;
                if self.eat_word("offset") {
                    offset = self.number("an offset")? as u32;
                }
                Ok(Expr::Symhash { modulus, offset })
            }
            "fib" => {
                self.bump();
                let mut flags = 0u8;
                loop {
                    let fsp = self.span();
                    let f = self.name("saddr, daddr, mark, iif or oif")?;
                    flags |= fib_flags::from_name(&f)
                        .ok_or_else(|| self.invalid(fsp, format!("unknown fib flag {f}")))?;
                    if !self.eat(&Tok::Dot) {
                        break;
                    }
                }
                let rsp = self.span();
                let r = self.name("oif, oifname or type")?;
                if r == "check" {
                    return Err(self.unsupported(rsp, "fib check"));
                }
                let result = FibResult::from_name(&r)
                    .ok_or_else(|| self.invalid(rsp, format!("unknown fib result {r}")))?;
                Ok(Expr::Fib { flags, result })
            }
            _ => {
                if let Some(p) = Proto::from_name(&w) {
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
                    return Ok(Expr::Payload(p, f));
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

    /// RHS of a match, returning `(value, Some(mask))` for the `value / mask` flag form.
    fn rhs_with_mask(&mut self) -> PResult<(Expr, Option<Expr>)> {
        let e = self.rhs_expr(false)?;
        if matches!(self.peek(), Tok::Slash) {
            self.bump();
            let m = self.rhs_expr(false)?;
            return Ok((e, Some(m)));
        }
        Ok((e, None))
    }

    /// RHS: a single value or a comma-separated flag list.
    fn rhs_expr(&mut self, in_define: bool) -> PResult<Expr> {
        let first = self.rhs_single()?;
        if matches!(self.peek(), Tok::Comma) && !in_define {
            let mut items = vec![first];
            while self.eat(&Tok::Comma) {
                items.push(self.rhs_single()?);
            }
            return Ok(Expr::List(items));
        }
        Ok(first)
    }

    /// One RHS element: atom with `.` concatenation, `-` range, `/N` prefix and `|` flag
    /// combinations.
    fn rhs_single(&mut self) -> PResult<Expr> {
        let mut parts = vec![self.rhs_range()?];
        while matches!(self.peek(), Tok::Dot) {
            self.bump();
            parts.push(self.rhs_range()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::Opaque(String::new()))
        } else {
            Expr::Concat(parts)
        })
    }

    fn rhs_range(&mut self) -> PResult<Expr> {
        let mut a = self.rhs_atom()?;
        loop {
            match self.peek() {
                Tok::Slash if matches!(self.peek_at(1), Tok::Num(_)) => {
                    self.bump();
                    let n = self.number("a prefix length")?;
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

    fn rhs_atom(&mut self) -> PResult<Expr> {
        self.nested(Self::rhs_atom_inner)
    }

    fn rhs_atom_inner(&mut self) -> PResult<Expr> {
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
                self.ctx
                    .lookup_var(&v)
                    .ok_or_else(|| self.invalid(sp, format!("unknown identifier '{v}'")))
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

    /// `{ elem, elem, ... }` with element options and map data.
    fn set_literal_elems(&mut self) -> PResult<Vec<SetElem>> {
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

    fn elem_opts(&mut self, el: &mut SetElem) -> PResult<()> {
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

fn flatten_names(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Sym(s, _) => out.push(s.clone()),
        Expr::Set(el) => {
            for x in el {
                flatten_names(&x.key, out);
            }
        }
        Expr::List(l) => {
            for x in l {
                flatten_names(x, out);
            }
        }
        _ => {}
    }
}

/// Files matching a glob pattern in its last path component, sorted by name.
fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let pat = pattern
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter(|e| glob_match(pat.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&p[1..], s) || (!s.is_empty() && glob_match(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob_match(&p[1..], &s[1..]),
        (Some(b'['), Some(&c)) => {
            let Some(end) = p.iter().position(|&x| x == b']') else {
                return false;
            };
            let class = &p[1..end];
            let mut ok = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    ok |= (class[i]..=class[i + 2]).contains(&c);
                    i += 3;
                } else {
                    ok |= class[i] == c;
                    i += 1;
                }
            }
            ok && glob_match(&p[end + 1..], &s[1..])
        }
        (Some(a), Some(b)) if a == b => glob_match(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob_match(b"*.nft", b"a.nft"));
        assert!(!glob_match(b"*.nft", b"a.nf"));
        assert!(glob_match(b"x[0-9]?", b"x5a"));
    }
}
