//! The `nft -j` JSON front end (libnftables-json): list objects (treated as `add`) and
//! command objects, producing the same [`Cmd`]s as the text parser.

use serde_json::{Map, Value as J};

mod exprs;
mod objects;
mod stmts;

use crate::ast::*;
use crate::error::{ErrorKind, NftError, Span};
use crate::parser::ParseCtx;
use crate::types::parse_uint;

type R<T> = Result<T, String>;

struct Jp {
    span: Span,
    /// Statements given as text (strings in a rule's `expr`), parsed after the object.
    texts: std::cell::RefCell<Vec<String>>,
}

/// Marks a statement given as text in a rule until [`parse_json`] parses it.
const TEXT_STMT: &str = "\u{1}text statement ";

/// Parses a JSON ruleset into `ctx.cmds`.
pub(crate) fn parse_json(ctx: &mut ParseCtx, src: u32, text: &str) -> Result<(), NftError> {
    let name = ctx.sm.sources[src as usize].name.clone();
    let v: J = serde_json::from_str(text).map_err(|e| NftError {
        kind: ErrorKind::Json,
        file: name.clone(),
        line: e.line() as u32,
        col: e.column() as u32,
        width: 1,
        excerpt: text
            .lines()
            .nth(e.line().saturating_sub(1))
            .map(|s| s.to_string()),
        msg: e.to_string(),
    })?;
    let arr = v
        .get("nftables")
        .and_then(|a| a.as_array())
        .ok_or_else(|| {
            NftError::new(
                ErrorKind::Json,
                name.clone(),
                "expected {\"nftables\": [...]}",
            )
        })?;
    for (i, obj) in arr.iter().enumerate() {
        let span = Span {
            src,
            start: i as u32,
            end: i as u32,
        };
        let jp = Jp {
            span,
            texts: Default::default(),
        };
        let before = ctx.cmds.len();
        let r = jp.object(obj, &mut ctx.cmds);
        if let Err(m) = r {
            let kind = if m.starts_with("unsupported:") {
                ErrorKind::Unsupported
            } else {
                ErrorKind::Json
            };
            return Err(ctx.sm.error(kind, span, m));
        }
        let texts = jp.texts.into_inner();
        if !texts.is_empty() {
            text_statements(ctx, &name, i, before, &texts)?;
        }
    }
    Ok(())
}

/// Replaces the text statements of the rules added from object `obj` (commands from
/// `before` on) by their parse, and puts the chains of chain bindings where the text
/// listing has them: right after their parent chain (after the parent's earlier bindings).
fn text_statements(
    ctx: &mut ParseCtx,
    file: &str,
    obj: usize,
    before: usize,
    texts: &[String],
) -> Result<(), NftError> {
    let mut i = before;
    while i < ctx.cmds.len() {
        let (family, table, chain, n) = match &ctx.cmds[i].0 {
            Cmd::AddRule {
                family,
                table,
                chain,
                rule,
                ..
            } => (*family, table.clone(), chain.clone(), rule.stmts.len()),
            _ => {
                i += 1;
                continue;
            }
        };
        for si in 0..n {
            let idx = match &ctx.cmds[i].0 {
                Cmd::AddRule { rule, .. } => match &rule.stmts[si] {
                    Stmt::Unsupported(s) => s
                        .strip_prefix(TEXT_STMT)
                        .and_then(|x| x.parse::<usize>().ok()),
                    _ => None,
                },
                _ => None,
            };
            let Some(idx) = idx else { continue };
            let name = format!("{file} (object #{obj}, statement text)");
            let (stmt, cmds) = ctx.parse_text_stmt(&name, &texts[idx], family, &table)?;
            if let Cmd::AddRule { rule, .. } = &mut ctx.cmds[i].0 {
                rule.stmts[si] = stmt;
            }
            // binding chains after the parent chain and its earlier bindings
            let parent = ctx.cmds.iter().position(|(c, _)| {
                matches!(c, Cmd::AddChain { family: f, table: t, name: n, .. }
                    if *f == family && *t == table && *n == chain)
            });
            let mut at = parent.map(|p| p + 1).unwrap_or(ctx.cmds.len());
            while at < ctx.cmds.len()
                && matches!(&ctx.cmds[at].0, Cmd::AddChain { binding: true, .. })
            {
                at += 1;
            }
            for (c, sp) in cmds {
                if matches!(c, Cmd::AddChain { .. }) {
                    ctx.cmds.insert(at, (c, sp));
                    at += 1;
                    if at <= i + 1 {
                        i += 1;
                    }
                } else {
                    ctx.cmds.push((c, sp));
                }
            }
        }
        i += 1;
    }
    Ok(())
}

fn obj1(v: &J) -> R<(&str, &J)> {
    let m = v.as_object().ok_or("expected an object")?;
    if m.len() != 1 {
        return Err(format!(
            "expected an object with one key, got {}",
            m.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let (k, v) = m.iter().next().ok_or("empty object")?;
    Ok((k.as_str(), v))
}

fn s<'a>(m: &'a Map<String, J>, k: &str) -> R<&'a str> {
    m.get(k)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("missing string property \"{k}\""))
}

fn os(m: &Map<String, J>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_str()).map(|s| s.to_string())
}

fn u(v: &J) -> R<u64> {
    match v {
        J::Number(n) => n.as_u64().ok_or_else(|| format!("invalid number {n}")),
        J::String(s) => parse_uint(s)
            .and_then(|x| u64::try_from(x).ok())
            .ok_or_else(|| format!("invalid number \"{s}\"")),
        _ => Err(format!("expected a number, got {v}")),
    }
}

fn family(m: &Map<String, J>) -> R<Family> {
    let f = m.get("family").and_then(|v| v.as_str()).unwrap_or("ip");
    Family::from_name(f).ok_or_else(|| format!("unknown family {f}"))
}

fn strings(v: &J) -> R<Vec<String>> {
    match v {
        J::String(s) => Ok(vec![s.clone()]),
        J::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(|s| s.to_string())
                    .ok_or_else(|| "expected strings".to_string())
            })
            .collect(),
        J::Null => Ok(vec![]),
        _ => Err(format!("expected a string or an array of strings, got {v}")),
    }
}

impl Jp {
    fn object(&self, obj: &J, out: &mut Vec<(Cmd, Span)>) -> R<()> {
        let (k, v) = obj1(obj)?;
        match k {
            "metainfo" => Ok(()),
            "add" | "create" => {
                let (k2, v2) = obj1(v)?;
                self.add(k2, v2, k == "create", RulePos::Append, out)
            }
            "insert" => {
                let (k2, v2) = obj1(v)?;
                if k2 != "rule" {
                    return Err(format!("cannot insert {k2}"));
                }
                self.add(k2, v2, false, RulePos::Prepend, out)
            }
            "replace" => {
                let (k2, v2) = obj1(v)?;
                if k2 != "rule" {
                    return Err(format!("cannot replace {k2}"));
                }
                let m = v2.as_object().ok_or("expected a rule object")?;
                let h = u(m.get("handle").ok_or("replace needs a handle")?)?;
                self.add(k2, v2, false, RulePos::Replace(h), out)
            }
            "delete" | "destroy" => {
                let (k2, v2) = obj1(v)?;
                self.delete(k2, v2, k == "destroy", out)
            }
            "flush" => {
                let (k2, v2) = obj1(v)?;
                let kind = match k2 {
                    "ruleset" => ObjKind::Ruleset,
                    "table" => ObjKind::Table,
                    "chain" => ObjKind::Chain,
                    "set" => ObjKind::Set,
                    "map" => ObjKind::Map,
                    _ => return Err(format!("cannot flush {k2}")),
                };
                let (fam, table, name) = match v2.as_object() {
                    Some(m) if kind != ObjKind::Ruleset => (
                        Some(family(m)?),
                        if kind == ObjKind::Table {
                            s(m, "name")?.to_string()
                        } else {
                            s(m, "table")?.to_string()
                        },
                        if kind == ObjKind::Table {
                            None
                        } else {
                            Some(s(m, "name")?.to_string())
                        },
                    ),
                    Some(m) => (
                        m.get("family")
                            .and_then(|f| f.as_str())
                            .and_then(Family::from_name),
                        String::new(),
                        None,
                    ),
                    None => (None, String::new(), None),
                };
                out.push((
                    Cmd::Flush {
                        kind,
                        family: fam,
                        table,
                        name,
                    },
                    self.span,
                ));
                Ok(())
            }
            "rename" | "reset" | "list" => Err(format!("unsupported: JSON command {k}")),
            _ => self.add(k, v, false, RulePos::Append, out),
        }
    }

    fn delete(&self, k: &str, v: &J, destroy: bool, out: &mut Vec<(Cmd, Span)>) -> R<()> {
        let m = v.as_object().ok_or("expected an object")?;
        let fam = family(m)?;
        if k == "element" {
            let elems = self.elements(m.get("elem").ok_or("element needs \"elem\"")?)?;
            out.push((
                Cmd::Elements {
                    family: fam,
                    table: s(m, "table")?.to_string(),
                    set: s(m, "name")?.to_string(),
                    elems,
                    delete: true,
                },
                self.span,
            ));
            return Ok(());
        }
        // `element` was handled above; any other kind names an object
        let kind = ObjKind::from_name(k).unwrap_or(ObjKind::Object);
        let (table, name) = match kind {
            ObjKind::Table => (s(m, "name")?.to_string(), None),
            ObjKind::Rule => (s(m, "table")?.to_string(), Some(s(m, "chain")?.to_string())),
            _ => (s(m, "table")?.to_string(), os(m, "name")),
        };
        out.push((
            Cmd::Delete {
                kind,
                family: fam,
                table,
                name,
                handle: m.get("handle").map(u).transpose()?,
                destroy,
            },
            self.span,
        ));
        Ok(())
    }
}
