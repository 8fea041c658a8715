//! Top-level commands: `define`, `include`, `table` blocks, `add|create|insert|replace|
//! delete|destroy|flush ...`.

use std::path::{Path, PathBuf};

use super::support::glob_files;
use super::{PResult, Parser};
use crate::ast::*;
use crate::error::{ErrorKind, Span};
use crate::lexer::Tok;

impl Parser<'_> {
    pub(super) fn parse_top(&mut self) -> PResult<()> {
        loop {
            self.skip_sep();
            if matches!(self.peek(), Tok::Eof) {
                return Ok(());
            }
            self.top_item()?;
        }
    }

    pub(super) fn push(&mut self, cmd: Cmd, span: Span) {
        self.ctx.cmds.push((cmd, span));
    }

    /// Appends `rules` (with their spans) to chain `chain` of `family table`.
    pub(super) fn push_rules(
        &mut self,
        family: Family,
        table: &str,
        chain: &str,
        rules: Vec<(Rule, Span)>,
    ) {
        for (rule, rsp) in rules {
            self.push(
                Cmd::AddRule {
                    family,
                    table: table.to_string(),
                    chain: chain.to_string(),
                    rule,
                    pos: RulePos::Append,
                },
                rsp,
            );
        }
    }

    pub(super) fn top_item(&mut self) -> PResult<()> {
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

    pub(super) fn define(&mut self) -> PResult<()> {
        self.bump();
        let n = self.name("a variable name")?;
        self.expect(&Tok::Assign, "`=`")?;
        let e = self.rhs_expr(true)?;
        let scope = self.ctx.scopes.last_mut().expect("scope");
        scope.retain(|(x, _)| *x != n);
        scope.push((n, e));
        Ok(())
    }

    pub(super) fn include(&mut self) -> PResult<()> {
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
            // Regular files only (nft reads a device or FIFO whole), each and all capped.
            let text = offsim_traces::input::read_text(&f, offsim_traces::input::MAX_RULESET_BYTES)
                .map_err(|e| {
                    self.ctx
                        .sm
                        .error(ErrorKind::Io, sp, format!("{}: {e}", f.display()))
                })?;
            self.ctx.included_bytes += text.len() as u64;
            if self.ctx.included_bytes > super::MAX_INCLUDED_BYTES {
                return Err(self.ctx.sm.error(
                    ErrorKind::Io,
                    sp,
                    format!(
                        "included files hold more than {} bytes together",
                        super::MAX_INCLUDED_BYTES
                    ),
                ));
            }
            let id = self.ctx.sm.add(&f.display().to_string(), text, false);
            self.ctx.depth += 1;
            let r = self.ctx.parse_source(id);
            self.ctx.depth -= 1;
            r?;
        }
        Ok(())
    }

    /// `[family] name`.
    pub(super) fn table_spec(&mut self) -> PResult<(Family, String)> {
        if let Tok::Word(w) = self.peek().clone()
            && let Some(f) = Family::from_name(&w)
            && matches!(
                self.peek_at(1),
                Tok::Word(_) | Tok::Str(_) | Tok::Var(_) | Tok::Num(_)
            )
        {
            self.bump();
            let n = self.ident("a table name")?;
            return Ok((f, n));
        }
        Ok((Family::Ip, self.ident("a table name")?))
    }

    /// `[family] table name`.
    pub(super) fn chain_spec(&mut self) -> PResult<(Family, String, String)> {
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
            let t = self.ident("a table name")?;
            let c = self.ident("a name")?;
            return Ok((f, t, c));
        }
        let t = self.ident("a table name")?;
        let c = self.ident("a name")?;
        Ok((Family::Ip, t, c))
    }

    pub(super) fn table_cmd(&mut self, create: bool, sp: Span) -> PResult<()> {
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

    pub(super) fn table_body(
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
                    let name = self.ident("a chain name")?;
                    self.chain_decl(family, table, name, false, sp)?;
                }
                "set" | "map" => {
                    self.bump();
                    let name = self.ident("a set name")?;
                    self.set_decl(family, table, name, w == "map", false, sp)?;
                }
                "flowtable" => {
                    self.bump();
                    let name = self.ident("a flowtable name")?;
                    self.flowtable_decl(family, table, name, false, sp)?;
                }
                "counter" | "quota" | "limit" | "ct" | "secmark" | "synproxy" => {
                    self.object_decl(family, table, false, sp)?;
                }
                "define" | "redefine" => self.define()?,
                "include" => self.include()?,
                "flags" => {
                    self.bump();
                    flags.extend(self.sep_list(&Tok::Comma, |p| p.name("a table flag"))?);
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

    pub(super) fn add_cmd(&mut self, create: bool, sp: Span) -> PResult<()> {
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

    /// kind: 0 add, 1 insert, 2 replace.
    pub(super) fn rule_cmd(&mut self, kind: u8, sp: Span) -> PResult<()> {
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

    pub(super) fn delete_cmd(&mut self, destroy: bool, sp: Span) -> PResult<()> {
        let w = self.name("an object type")?;
        let kind = match (ObjKind::from_name(&w), w.as_str()) {
            (Some(k), _) => k,
            (None, "counter" | "quota" | "limit" | "secmark" | "synproxy") => ObjKind::Object,
            (None, "ct") => {
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

    pub(super) fn flush_cmd(&mut self, sp: Span) -> PResult<()> {
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
}
