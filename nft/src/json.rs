//! The `nft -j` JSON front end (libnftables-json): list objects (treated as `add`) and
//! command objects, producing the same [`Cmd`]s as the text parser.

use serde_json::{Map, Value as J};

use super::ast::*;
use super::error::{ErrorKind, NftError, Span};
use super::parser::ParseCtx;
use super::selector::{ct_supported, meta_supported, payload_supported};
use super::types::{parse_uint, proto_number};

type R<T> = Result<T, String>;

struct Jp {
    span: Span,
    /// Statements given as text (strings in a rule's `expr`), parsed after the object.
    texts: std::cell::RefCell<Vec<String>>,
}

/// Marks a statement given as text in a rule until [`parse_json`] parses it.
const TEXT_STMT: &str = "\u{1}text statement ";

/// Parses a JSON ruleset into `ctx.cmds`.
pub fn parse_json(ctx: &mut ParseCtx, src: u32, text: &str) -> Result<(), NftError> {
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

    fn add(&self, k: &str, v: &J, create: bool, pos: RulePos, out: &mut Vec<(Cmd, Span)>) -> R<()> {
        let m = v
            .as_object()
            .ok_or_else(|| format!("expected a {k} object"))?;
        let sp = self.span;
        match k {
            "table" => {
                let mut flags = Vec::new();
                if let Some(f) = m.get("flags") {
                    flags = strings(f)?;
                }
                out.push((
                    Cmd::AddTable {
                        family: family(m)?,
                        name: s(m, "name")?.to_string(),
                        flags,
                        comment: os(m, "comment"),
                        create,
                    },
                    sp,
                ));
            }
            "chain" => {
                let fam = family(m)?;
                let base = match m.get("hook") {
                    Some(h) => {
                        let h = h.as_str().ok_or("hook must be a string")?;
                        let hook = Hook::from_name(h).ok_or_else(|| format!("unknown hook {h}"))?;
                        let t = m.get("type").and_then(|x| x.as_str()).unwrap_or("filter");
                        let ctype = ChainType::from_name(t)
                            .ok_or_else(|| format!("unknown chain type {t}"))?;
                        let priority = match m.get("prio") {
                            Some(J::Number(n)) => n.as_i64().ok_or("invalid prio")? as i32,
                            Some(J::String(p)) => named_priority(p, fam, hook)
                                .ok_or_else(|| format!("invalid priority {p}"))?,
                            _ => 0,
                        };
                        let devices = match m.get("dev") {
                            Some(d) => strings(d)?,
                            None => Vec::new(),
                        };
                        Some(BaseSpec {
                            ctype,
                            hook,
                            priority,
                            devices,
                        })
                    }
                    None => None,
                };
                let policy = match m.get("policy").and_then(|p| p.as_str()) {
                    Some("accept") => Some(true),
                    Some("drop") => Some(false),
                    Some(p) => return Err(format!("invalid policy {p}")),
                    None => None,
                };
                out.push((
                    Cmd::AddChain {
                        family: fam,
                        table: s(m, "table")?.to_string(),
                        name: s(m, "name")?.to_string(),
                        base,
                        policy,
                        comment: os(m, "comment"),
                        create,
                        binding: false,
                    },
                    sp,
                ));
            }
            "rule" => {
                let exprs = m
                    .get("expr")
                    .and_then(|e| e.as_array())
                    .ok_or("rule needs \"expr\"")?;
                let mut stmts = Vec::new();
                for e in exprs {
                    stmts.push(self.stmt(e)?);
                }
                let n = stmts.len();
                let pos = match (pos, m.get("handle"), m.get("index")) {
                    (RulePos::Replace(h), _, _) => RulePos::Replace(h),
                    (RulePos::Prepend, Some(h), _) => RulePos::BeforeHandle(u(h)?),
                    (RulePos::Prepend, _, Some(i)) => RulePos::BeforeIndex(u(i)?),
                    (RulePos::Append, _, Some(i)) => RulePos::AfterIndex(u(i)?),
                    (p, _, _) => p,
                };
                out.push((
                    Cmd::AddRule {
                        family: family(m)?,
                        table: s(m, "table")?.to_string(),
                        chain: s(m, "chain")?.to_string(),
                        rule: Rule {
                            stmts,
                            comment: os(m, "comment"),
                            span: sp,
                            stmt_spans: vec![sp; n],
                        },
                        pos,
                    },
                    sp,
                ));
            }
            "set" | "map" => {
                let mut d = SetDecl {
                    name: s(m, "name")?.to_string(),
                    is_map: k == "map",
                    ..Default::default()
                };
                match m.get("type") {
                    Some(J::Object(o)) if o.contains_key("typeof") => {
                        let e = self.expr(&o["typeof"])?;
                        d.typeof_key = Some(match e {
                            Expr::Concat(p) => p,
                            e => vec![e],
                        });
                    }
                    Some(t) => d.type_names = strings(t)?,
                    None => return Err("set needs a type".into()),
                }
                if let Some(mv) = m.get("map") {
                    match mv {
                        J::String(t)
                            if matches!(
                                t.as_str(),
                                "counter"
                                    | "quota"
                                    | "limit"
                                    | "ct helper"
                                    | "secmark"
                                    | "ct timeout"
                                    | "ct expectation"
                            ) =>
                        {
                            d.obj_type = Some(t.clone())
                        }
                        J::String(t) => d.data_name = Some(t.clone()),
                        J::Array(a) => {
                            let names = a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>();
                            d.data_name = Some(names.join(" . "));
                        }
                        J::Object(o) if o.contains_key("typeof") => {
                            d.typeof_data = Some(self.expr(&o["typeof"])?);
                        }
                        _ => return Err("invalid map data type".into()),
                    }
                }
                if let Some(f) = m.get("flags") {
                    d.flags = strings(f)?;
                    d.flags.sort();
                }
                if let Some(t) = m.get("timeout") {
                    d.timeout = Some(u(t)? * 1000);
                }
                if let Some(t) = m.get("gc-interval") {
                    d.gc_interval = Some(u(t)? * 1000);
                }
                if let Some(t) = m.get("size") {
                    d.size = Some(u(t)?);
                }
                d.policy = os(m, "policy");
                d.auto_merge = m
                    .get("auto-merge")
                    .and_then(|x| x.as_bool())
                    .unwrap_or(false);
                d.comment = os(m, "comment");
                if let Some(st) = m.get("stmt").and_then(|x| x.as_array()) {
                    for x in st {
                        if let Ok((k, _)) = obj1(x) {
                            if k == "counter" {
                                d.counter = true;
                            } else {
                                d.stmts
                                    .push(k.split_whitespace().next().unwrap_or(k).to_string());
                            }
                        }
                    }
                }
                if let Some(el) = m.get("elem") {
                    d.elements = self.elements(el)?;
                }
                out.push((
                    Cmd::AddSet {
                        family: family(m)?,
                        table: s(m, "table")?.to_string(),
                        decl: d,
                        create,
                    },
                    sp,
                ));
            }
            "element" => {
                let elems = self.elements(m.get("elem").ok_or("element needs \"elem\"")?)?;
                out.push((
                    Cmd::Elements {
                        family: family(m)?,
                        table: s(m, "table")?.to_string(),
                        set: s(m, "name")?.to_string(),
                        elems,
                        delete: false,
                    },
                    sp,
                ));
            }
            "flowtable" => {
                let priority = match m.get("prio") {
                    Some(J::Number(n)) => n.as_i64().ok_or("invalid prio")? as i32,
                    _ => 0,
                };
                let mut offload = false;
                if let Some(f) = m.get("flags") {
                    for x in strings(f)? {
                        if x == "offload" {
                            offload = true;
                        } else {
                            return Err(format!("unknown flowtable flag {x}"));
                        }
                    }
                }
                out.push((
                    Cmd::AddFlowtable {
                        family: family(m)?,
                        table: s(m, "table")?.to_string(),
                        decl: FlowtableDecl {
                            name: s(m, "name")?.to_string(),
                            hook: Hook::Ingress,
                            priority,
                            devices: match m.get("dev") {
                                Some(d) => strings(d)?,
                                None => Vec::new(),
                            },
                            offload,
                            counter: m.contains_key("counter"),
                        },
                        create,
                    },
                    sp,
                ));
            }
            "counter" | "quota" | "limit" | "ct helper" | "ct timeout" | "ct expectation"
            | "secmark" | "synproxy" => {
                let obj = match k {
                    "counter" => ObjDecl::Counter {
                        packets: m.get("packets").map(u).transpose()?.unwrap_or(0),
                        bytes: m.get("bytes").map(u).transpose()?.unwrap_or(0),
                    },
                    "quota" => ObjDecl::Quota(QuotaStmt {
                        bytes: m.get("bytes").map(u).transpose()?.unwrap_or(0),
                        over: m.get("inv").and_then(|x| x.as_bool()).unwrap_or(false),
                        used: m.get("used").map(u).transpose()?.unwrap_or(0),
                    }),
                    "limit" => ObjDecl::Limit(self.limit(m)?),
                    "ct helper" => ObjDecl::CtHelper {
                        htype: s(m, "type")?.to_string(),
                        protocol: match m.get("protocol").and_then(|x| x.as_str()) {
                            Some("udp") => 17,
                            _ => 6,
                        },
                        l3proto: m
                            .get("l3proto")
                            .and_then(|x| x.as_str())
                            .and_then(Family::from_name),
                    },
                    "ct timeout" => {
                        let p = s(m, "protocol")?;
                        let protocol =
                            proto_number(p).ok_or_else(|| format!("invalid protocol {p}"))?;
                        let mut policy = Vec::new();
                        if let Some(J::Object(pm)) = m.get("policy") {
                            for (k, v) in pm {
                                policy.push((k.clone(), u(v)? as u32));
                            }
                        }
                        policy.sort();
                        ObjDecl::CtTimeout {
                            protocol,
                            l3proto: m
                                .get("l3proto")
                                .and_then(|x| x.as_str())
                                .and_then(Family::from_name),
                            policy,
                        }
                    }
                    other => ObjDecl::Other(other.to_string()),
                };
                out.push((
                    Cmd::AddObject {
                        family: family(m)?,
                        table: s(m, "table")?.to_string(),
                        name: s(m, "name")?.to_string(),
                        obj,
                        create,
                    },
                    sp,
                ));
            }
            _ => return Err(format!("unknown object type \"{k}\"")),
        }
        Ok(())
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
        let kind = match k {
            "table" => ObjKind::Table,
            "chain" => ObjKind::Chain,
            "rule" => ObjKind::Rule,
            "set" => ObjKind::Set,
            "map" => ObjKind::Map,
            "flowtable" => ObjKind::Flowtable,
            _ => ObjKind::Object,
        };
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

    fn limit(&self, m: &Map<String, J>) -> R<LimitStmt> {
        let rate = u(m.get("rate").ok_or("limit needs a rate")?)?;
        let per = m.get("per").and_then(|x| x.as_str()).unwrap_or("second");
        let per_secs =
            rate_period_secs(per).ok_or_else(|| format!("invalid limit period {per}"))?;
        // rates and bursts in packets, or in bytes up to mbytes
        let unit_mult = |x: Option<&str>| -> R<Option<u64>> {
            Ok(match x {
                None | Some("packets") => None,
                Some(o) => Some(
                    byte_unit(o)
                        .filter(|_| o != "gbytes")
                        .ok_or_else(|| format!("invalid unit {o}"))?,
                ),
            })
        };
        let ru = unit_mult(m.get("rate_unit").and_then(|x| x.as_str()))?;
        let bu = unit_mult(m.get("burst_unit").and_then(|x| x.as_str()))?;
        let burst = m.get("burst").map(u).transpose()?.unwrap_or(0);
        Ok(LimitStmt {
            rate: rate * ru.unwrap_or(1),
            per_secs,
            unit: if ru.is_some() {
                LimitUnit::Bytes
            } else {
                LimitUnit::Packets
            },
            burst: burst * bu.unwrap_or(1),
            over: m.get("inv").and_then(|x| x.as_bool()).unwrap_or(false),
        })
    }

    fn elements(&self, v: &J) -> R<Vec<SetElem>> {
        let arr = match v {
            J::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        let mut out = Vec::with_capacity(arr.len());
        for x in &arr {
            out.push(self.element(x)?);
        }
        Ok(out)
    }

    fn element(&self, x: &J) -> R<SetElem> {
        // map element: [key, data]
        if let J::Array(p) = x
            && p.len() == 2
        {
            let mut el = self.element(&p[0])?;
            el.data = Some(self.data(&p[1])?);
            return Ok(el);
        }
        if let J::Object(o) = x
            && let Some(e) = o.get("elem")
        {
            let e = e.as_object().ok_or("invalid elem")?;
            let mut el = SetElem::plain(self.expr(e.get("val").ok_or("elem needs val")?)?);
            if let Some(t) = e.get("timeout") {
                el.timeout = Some(u(t)? * 1000);
            }
            if let Some(t) = e.get("expires") {
                el.expires = Some(u(t)? * 1000);
            }
            el.comment = os(e, "comment");
            // element statements (nft -j prints them as keys of the element object)
            for k in ["limit", "quota", "counter"] {
                if let Some(v) = e.get(k) {
                    el.stmts.push(self.stmt(&serde_json::json!({ k: v }))?);
                }
            }
            return Ok(el);
        }
        Ok(SetElem::plain(self.expr(x)?))
    }

    fn data(&self, v: &J) -> R<Expr> {
        if let J::Object(o) = v
            && o.len() == 1
        {
            let (k, val) = o.iter().next().ok_or("empty")?;
            if let Some(v) = Verdict::from_keyword(k) {
                return Ok(Expr::Verdict(v));
            }
            match k.as_str() {
                "jump" | "goto" => {
                    let t = val
                        .get("target")
                        .and_then(|t| t.as_str())
                        .ok_or("jump needs a target")?
                        .to_string();
                    return Ok(Expr::Verdict(if k == "jump" {
                        Verdict::Jump(t)
                    } else {
                        Verdict::Goto(t)
                    }));
                }
                _ => {}
            }
        }
        self.expr(v)
    }

    fn expr(&self, v: &J) -> R<Expr> {
        Ok(match v {
            J::String(s) => {
                if let Some(n) = s.strip_prefix('@') {
                    Expr::SetRef(n.to_string())
                } else if s == "*" {
                    Expr::Wildcard
                } else {
                    Expr::Sym(s.clone(), false)
                }
            }
            J::Number(n) => {
                Expr::Num(n.as_u64().ok_or_else(|| format!("invalid number {n}"))? as u128)
            }
            J::Bool(b) => Expr::Bool(*b),
            J::Array(a) => Expr::List(a.iter().map(|x| self.expr(x)).collect::<R<Vec<_>>>()?),
            J::Null => return Err("unexpected null".into()),
            J::Object(_) => {
                let (k, val) = obj1(v)?;
                let m = val.as_object();
                match k {
                    "payload" => {
                        let m = m.ok_or("invalid payload")?;
                        if m.contains_key("base") {
                            return Err(
                                "unsupported: raw payload expression (offsim keeps header fields of each packet, not its bytes)"
                                    .into(),
                            );
                        }
                        let p = s(m, "protocol")?;
                        let proto = Proto::from_name(p)
                            .ok_or_else(|| format!("unsupported: {p} expression"))?;
                        let f = s(m, "field")?;
                        if !payload_supported(proto, f) {
                            return Err(format!("unsupported: {p} {f}"));
                        }
                        Expr::Payload(proto, f.to_string())
                    }
                    "meta" => {
                        let key = s(m.ok_or("invalid meta")?, "key")?;
                        let k = MetaKey::from_name(key)
                            .ok_or_else(|| format!("unknown meta key {key}"))?;
                        if !meta_supported(k) {
                            return Err(format!("unsupported: meta {key}"));
                        }
                        Expr::Meta(k)
                    }
                    "ct" => {
                        let m = m.ok_or("invalid ct")?;
                        let key = s(m, "key")?;
                        let dir = match m.get("dir").and_then(|d| d.as_str()) {
                            Some("original") => Some(0),
                            Some("reply") => Some(1),
                            Some(d) => return Err(format!("invalid ct direction {d}")),
                            None => None,
                        };
                        let fam = m.get("family").and_then(|f| f.as_str());
                        let k = match (key, fam) {
                            ("ip saddr", _) => CtKey::IpSaddr,
                            ("ip daddr", _) => CtKey::IpDaddr,
                            ("ip6 saddr", _) => CtKey::Ip6Saddr,
                            ("ip6 daddr", _) => CtKey::Ip6Daddr,
                            ("saddr", Some("ip")) => CtKey::IpSaddr,
                            ("daddr", Some("ip")) => CtKey::IpDaddr,
                            ("saddr", Some("ip6")) => CtKey::Ip6Saddr,
                            ("daddr", Some("ip6")) => CtKey::Ip6Daddr,
                            _ => CtKey::from_name(key)
                                .ok_or_else(|| format!("unknown ct key {key}"))?,
                        };
                        if !ct_supported(k) {
                            return Err(format!("unsupported: ct {}", k.name()));
                        }
                        Expr::Ct(k, dir)
                    }
                    "prefix" => {
                        let m = m.ok_or("invalid prefix")?;
                        let a = self.expr(m.get("addr").ok_or("prefix needs addr")?)?;
                        let l = u(m.get("len").ok_or("prefix needs len")?)?;
                        Expr::Prefix(Box::new(a), l as u32)
                    }
                    "range" => {
                        let a = val
                            .as_array()
                            .filter(|a| a.len() == 2)
                            .ok_or("range needs two values")?;
                        Expr::Range(Box::new(self.expr(&a[0])?), Box::new(self.expr(&a[1])?))
                    }
                    "set" => Expr::Set(self.elements(val)?),
                    "concat" => {
                        let a = val.as_array().ok_or("concat needs an array")?;
                        Expr::Concat(a.iter().map(|x| self.expr(x)).collect::<R<Vec<_>>>()?)
                    }
                    "&" | "|" | "^" | "<<" | ">>" => {
                        let a = val
                            .as_array()
                            .filter(|a| a.len() >= 2)
                            .ok_or("binary operation needs two operands")?;
                        let op = match k {
                            "&" => BinOp::And,
                            "|" => BinOp::Or,
                            "^" => BinOp::Xor,
                            "<<" => BinOp::Shl,
                            _ => BinOp::Shr,
                        };
                        let mut e = self.expr(&a[0])?;
                        for x in &a[1..] {
                            e = Expr::Binop(op, Box::new(e), Box::new(self.expr(x)?));
                        }
                        e
                    }
                    "map" => {
                        let m = m.ok_or("invalid map")?;
                        let key = self.expr(m.get("key").ok_or("map needs key")?)?;
                        let data = self.expr(m.get("data").ok_or("map needs data")?)?;
                        Expr::Map(Box::new(key), Box::new(data))
                    }
                    "numgen" => {
                        let m = m.ok_or("invalid numgen")?;
                        Expr::Numgen {
                            random: s(m, "mode")? == "random",
                            modulus: u(m.get("mod").ok_or("numgen needs mod")?)? as u32,
                            offset: m.get("offset").map(u).transpose()?.unwrap_or(0) as u32,
                        }
                    }
                    "jhash" => {
                        let m = m.ok_or("invalid jhash")?;
                        Expr::Jhash {
                            expr: Box::new(self.expr(m.get("expr").ok_or("jhash needs expr")?)?),
                            modulus: u(m.get("mod").ok_or("jhash needs mod")?)? as u32,
                            seed: m.get("seed").map(u).transpose()?.map(|x| x as u32),
                            offset: m.get("offset").map(u).transpose()?.unwrap_or(0) as u32,
                        }
                    }
                    "symhash" => {
                        let m = m.ok_or("invalid symhash")?;
                        Expr::Symhash {
                            modulus: u(m.get("mod").ok_or("symhash needs mod")?)? as u32,
                            offset: m.get("offset").map(u).transpose()?.unwrap_or(0) as u32,
                        }
                    }
                    "fib" => {
                        let m = m.ok_or("invalid fib")?;
                        let mut flags = 0;
                        for f in strings(m.get("flags").unwrap_or(&J::Null))? {
                            flags |= fib_flags::from_name(&f)
                                .ok_or_else(|| format!("unknown fib flag {f}"))?;
                        }
                        let r = s(m, "result")?;
                        let result = FibResult::from_name(r)
                            .ok_or_else(|| format!("unsupported: fib {r}"))?;
                        Expr::Fib { flags, result }
                    }
                    "tcp option" => {
                        let m = m.ok_or("invalid tcp option")?;
                        let name = s(m, "name")?;
                        match (name, m.get("field").and_then(|f| f.as_str())) {
                            ("maxseg", Some("size")) => {
                                Expr::Payload(Proto::Tcp, "option maxseg size".into())
                            }
                            (n, f) => {
                                return Err(format!(
                                    "unsupported: tcp option {n} {} expression",
                                    f.unwrap_or("")
                                ));
                            }
                        }
                    }
                    "exthdr" => {
                        let m = m.ok_or("invalid exthdr")?;
                        let name = s(m, "name")?;
                        let field = m.get("field").and_then(|f| f.as_str()).unwrap_or("");
                        if name == "rt" && field == "type" {
                            Expr::Payload(Proto::Rt, "type".into())
                        } else {
                            return Err(format!("unsupported: {name} {field} expression"));
                        }
                    }
                    "rt" => {
                        let key = s(m.ok_or("invalid rt")?, "key")?;
                        if key == "mtu" {
                            Expr::Opaque("rt mtu".into())
                        } else {
                            return Err(format!("unsupported: rt {key} expression"));
                        }
                    }
                    "elem" => self.element(v)?.key,
                    "accept" | "drop" | "continue" | "return" | "jump" | "goto" => self.data(v)?,
                    other => return Err(format!("unsupported: {other} expression")),
                }
            }
        })
    }

    fn stmt(&self, v: &J) -> R<Stmt> {
        if let J::String(text) = v {
            // a statement nft -j printed as text (no JSON form), parsed after the object
            let mut t = self.texts.borrow_mut();
            t.push(text.clone());
            return Ok(Stmt::Unsupported(format!("{TEXT_STMT}{}", t.len() - 1)));
        }
        let (k, val) = obj1(v)?;
        let m = val.as_object();
        Ok(match k {
            "match" => {
                let m = m.ok_or("invalid match")?;
                let op = match m.get("op").and_then(|o| o.as_str()).unwrap_or("==") {
                    "==" => RelOp::Eq,
                    "!=" => RelOp::Ne,
                    "<" => RelOp::Lt,
                    ">" => RelOp::Gt,
                    "<=" => RelOp::Le,
                    ">=" => RelOp::Ge,
                    "in" => RelOp::In,
                    "!" => RelOp::Not,
                    o => return Err(format!("invalid operator {o}")),
                };
                Stmt::Match {
                    left: self.expr(m.get("left").ok_or("match needs left")?)?,
                    op,
                    right: self.expr(m.get("right").ok_or("match needs right")?)?,
                    rspan: self.span,
                }
            }
            "accept" | "drop" | "continue" | "return" | "jump" | "goto" => match self.data(v)? {
                Expr::Verdict(vd) => Stmt::Verdict(vd),
                _ => return Err("invalid verdict".into()),
            },
            "counter" => match val {
                J::String(n) => Stmt::CounterRef(Expr::Sym(n.clone(), true)),
                J::Object(o) if o.contains_key("map") => Stmt::CounterRef(self.expr(val)?),
                _ => Stmt::Counter,
            },
            "vmap" => {
                let m = m.ok_or("invalid vmap")?;
                Stmt::Vmap {
                    key: self.expr(m.get("key").ok_or("vmap needs key")?)?,
                    data: match m.get("data").ok_or("vmap needs data")? {
                        J::Object(o) if o.contains_key("set") => {
                            Expr::Set(self.elements(&o["set"])?)
                        }
                        other => self.expr(other)?,
                    },
                }
            }
            "log" => {
                let mut l = LogStmt::default();
                if let Some(m) = m {
                    l.prefix = os(m, "prefix");
                    l.level = os(m, "level");
                    l.group = m.get("group").map(u).transpose()?.map(|x| x as u32);
                    l.snaplen = m.get("snaplen").map(u).transpose()?.map(|x| x as u32);
                    l.queue_threshold = m
                        .get("queue-threshold")
                        .map(u)
                        .transpose()?
                        .map(|x| x as u32);
                    if let Some(f) = m.get("flags") {
                        l.flags = strings(f)?;
                        l.flags.sort();
                    }
                }
                Stmt::Log(l)
            }
            "limit" => match val {
                J::String(n) => Stmt::LimitRef(Expr::Sym(n.clone(), true)),
                J::Object(o) if o.contains_key("map") => Stmt::LimitRef(self.expr(val)?),
                _ => Stmt::Limit(self.limit(m.ok_or("invalid limit")?)?),
            },
            "quota" => match val {
                J::String(n) => Stmt::QuotaRef(Expr::Sym(n.clone(), true)),
                J::Object(o) if o.contains_key("map") => Stmt::QuotaRef(self.expr(val)?),
                _ => {
                    let m = m.ok_or("invalid quota")?;
                    let mult = |x: Option<&str>| {
                        let o = x.unwrap_or("bytes");
                        byte_unit(o).ok_or_else(|| format!("invalid quota unit {o}"))
                    };
                    Stmt::Quota(QuotaStmt {
                        bytes: u(m.get("val").ok_or("quota needs val")?)?
                            * mult(m.get("val_unit").and_then(|x| x.as_str()))?,
                        over: m.get("inv").and_then(|x| x.as_bool()).unwrap_or(false),
                        used: m.get("used").map(u).transpose()?.unwrap_or(0)
                            * mult(m.get("used_unit").and_then(|x| x.as_str()))?,
                    })
                }
            },
            "notrack" => Stmt::Notrack,
            "snat" | "dnat" | "masquerade" | "redirect" => {
                let kind = NatKind::from_name(k).unwrap_or(NatKind::Redirect);
                let mut n = NatStmt::new(kind);
                if let Some(m) = m {
                    n.family = m
                        .get("family")
                        .and_then(|f| f.as_str())
                        .and_then(Family::from_name);
                    n.addr = m.get("addr").map(|a| self.expr(a)).transpose()?;
                    n.port = m.get("port").map(|a| self.expr(a)).transpose()?;
                    if let Some(f) = m.get("flags") {
                        for x in strings(f)? {
                            n.flags |= nat_flags::from_name(&x)
                                .ok_or_else(|| format!("invalid nat flag {x}"))?;
                        }
                    }
                    if let Some(f) = m.get("type_flags") {
                        for x in strings(f)? {
                            if x == "prefix" {
                                n.flags |= nat_flags::NETMAP;
                            }
                        }
                    }
                }
                Stmt::Nat(n)
            }
            "flow" => {
                let m = m.ok_or("invalid flow")?;
                let op = m.get("op").and_then(|x| x.as_str()).unwrap_or("add");
                if op != "add" && op != "offload" {
                    return Err(format!("unsupported: flow {op}"));
                }
                let ft = s(m, "flowtable")?;
                Stmt::FlowAdd(ft.trim_start_matches('@').to_string())
            }
            "mangle" => {
                let m = m.ok_or("invalid mangle")?;
                Stmt::Mangle {
                    key: match self.expr(m.get("key").ok_or("mangle needs key")?)? {
                        // MSS clamping, as the text parser represents it
                        Expr::Payload(Proto::Tcp, f) if f == "option maxseg size" => {
                            Expr::Opaque("tcp option maxseg size".into())
                        }
                        k => k,
                    },
                    value: self.expr(m.get("value").ok_or("mangle needs value")?)?,
                }
            }
            "reject" => match m {
                None => Stmt::Reject(RejectStmt::Default),
                Some(m) => {
                    let t = m.get("type").and_then(|x| x.as_str()).unwrap_or("");
                    let code = |tbl: &[(&str, u128)]| -> R<u8> {
                        match m.get("expr") {
                            Some(J::String(c)) => super::types::lookup(tbl, c)
                                .or_else(|| parse_uint(c))
                                .map(|v| v as u8)
                                .ok_or_else(|| format!("invalid reject code {c}")),
                            Some(J::Number(n)) => Ok(n.as_u64().unwrap_or(0) as u8),
                            _ => Err("reject needs a code".into()),
                        }
                    };
                    Stmt::Reject(match t {
                        "tcp reset" => RejectStmt::TcpReset,
                        "icmp" => RejectStmt::Icmp(code(super::types::ICMP_CODES)?),
                        "icmpv6" => RejectStmt::Icmpv6(code(super::types::ICMPV6_CODES)?),
                        "icmpx" => RejectStmt::Icmpx(code(super::types::ICMPX_CODES)?),
                        "" => RejectStmt::Default,
                        o => return Err(format!("invalid reject type {o}")),
                    })
                }
            },
            "queue" => {
                let mut num = None;
                let mut flags = Vec::new();
                if let Some(m) = m {
                    num = m.get("num").map(|x| self.expr(x)).transpose()?;
                    if let Some(f) = m.get("flags") {
                        flags = strings(f)?;
                        flags.sort();
                    }
                }
                Stmt::Queue { num, flags }
            }
            "set" | "map" => {
                let m = m.ok_or("invalid set statement")?;
                let o = s(m, "op")?;
                let op = SetOp::from_name(o).ok_or_else(|| format!("invalid set operation {o}"))?;
                let el = self.element(m.get("elem").ok_or("set statement needs elem")?)?;
                let set = s(m, if k == "set" { "set" } else { "map" })?
                    .trim_start_matches('@')
                    .to_string();
                let mut stmts = Vec::new();
                if let Some(st) = m.get("stmt").and_then(|x| x.as_array()) {
                    for x in st {
                        stmts.push(self.stmt(x)?);
                    }
                }
                Stmt::SetUpdate {
                    op,
                    set,
                    key: el.key,
                    data: m.get("data").map(|d| self.expr(d)).transpose()?,
                    timeout: el.timeout,
                    stmts,
                }
            }
            // `meta secmark set "NAME"` (objref statement)
            "secmark" => Stmt::Mangle {
                key: Expr::Meta(MetaKey::Secmark),
                value: match val {
                    J::String(n) => Expr::Sym(n.clone(), true),
                    other => self.expr(other)?,
                },
            },
            "ct timeout" => Stmt::CtTimeoutSet(match val {
                J::String(n) => Expr::Sym(n.clone(), true),
                other => self.expr(other)?,
            }),
            "ct helper" => Stmt::CtHelperSet(match val {
                J::String(n) => Expr::Sym(n.clone(), true),
                other => self.expr(other)?,
            }),
            "xt" => return Err("unsupported: xt (iptables-nft) statement".into()),
            other => return Err(format!("unsupported: {other} statement")),
        })
    }
}
