//! Objects of a JSON ruleset (and of `add` commands): tables, chains, rules, sets and
//! maps, elements, flowtables and named objects, each into its [`Cmd`].

use serde_json::{Map, Value as J};

use super::{Jp, R, family, obj1, os, s, strings, u};
use crate::ast::*;
use crate::error::Span;
use crate::types::proto_number;

impl Jp {
    /// An object of a list or an `add`/`create`/`insert`/`replace` command.
    pub(super) fn add(
        &self,
        k: &str,
        v: &J,
        create: bool,
        pos: RulePos,
        out: &mut Vec<(Cmd, Span)>,
    ) -> R<()> {
        let m = v
            .as_object()
            .ok_or_else(|| format!("expected a {k} object"))?;
        let cmd = match k {
            "table" => self.table_cmd(m, create)?,
            "chain" => self.chain_cmd(m, create)?,
            "rule" => self.rule_cmd(m, pos)?,
            "set" | "map" => self.set_cmd(k, m, create)?,
            "element" => self.element_cmd(m)?,
            "flowtable" => self.flowtable_cmd(m, create)?,
            "counter" | "quota" | "limit" | "ct helper" | "ct timeout" | "ct expectation"
            | "secmark" | "synproxy" => self.object_cmd(k, m, create)?,
            _ => return Err(format!("unknown object type \"{k}\"")),
        };
        out.push((cmd, self.span));
        Ok(())
    }

    /// `add table`.
    fn table_cmd(&self, m: &Map<String, J>, create: bool) -> R<Cmd> {
        let mut flags = Vec::new();
        if let Some(f) = m.get("flags") {
            flags = strings(f)?;
        }
        Ok(Cmd::AddTable {
            family: family(m)?,
            name: s(m, "name")?.to_string(),
            flags,
            comment: os(m, "comment"),
            create,
        })
    }

    /// `add chain` (base chains with their hook, type, priority and devices).
    fn chain_cmd(&self, m: &Map<String, J>, create: bool) -> R<Cmd> {
        let fam = family(m)?;
        let base = match m.get("hook") {
            Some(h) => {
                let h = h.as_str().ok_or("hook must be a string")?;
                let hook = Hook::from_name(h).ok_or_else(|| format!("unknown hook {h}"))?;
                let t = m.get("type").and_then(|x| x.as_str()).unwrap_or("filter");
                let ctype =
                    ChainType::from_name(t).ok_or_else(|| format!("unknown chain type {t}"))?;
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
        Ok(Cmd::AddChain {
            family: fam,
            table: s(m, "table")?.to_string(),
            name: s(m, "name")?.to_string(),
            base,
            policy,
            comment: os(m, "comment"),
            create,
            binding: false,
        })
    }

    /// `add|insert|replace rule`; `handle` and `index` place it.
    fn rule_cmd(&self, m: &Map<String, J>, pos: RulePos) -> R<Cmd> {
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
        Ok(Cmd::AddRule {
            family: family(m)?,
            table: s(m, "table")?.to_string(),
            chain: s(m, "chain")?.to_string(),
            rule: Rule {
                stmts,
                comment: os(m, "comment"),
                span: self.span,
                stmt_spans: vec![self.span; n],
            },
            pos,
        })
    }

    /// `add set|map`: types (names or `typeof`), map data, flags, properties, elements.
    fn set_cmd(&self, k: &str, m: &Map<String, J>, create: bool) -> R<Cmd> {
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
        Ok(Cmd::AddSet {
            family: family(m)?,
            table: s(m, "table")?.to_string(),
            decl: d,
            create,
        })
    }

    /// `add element`.
    fn element_cmd(&self, m: &Map<String, J>) -> R<Cmd> {
        let elems = self.elements(m.get("elem").ok_or("element needs \"elem\"")?)?;
        Ok(Cmd::Elements {
            family: family(m)?,
            table: s(m, "table")?.to_string(),
            set: s(m, "name")?.to_string(),
            elems,
            delete: false,
        })
    }

    /// `add flowtable`.
    fn flowtable_cmd(&self, m: &Map<String, J>, create: bool) -> R<Cmd> {
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
        Ok(Cmd::AddFlowtable {
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
        })
    }

    /// `add counter|quota|limit|ct helper|ct timeout|...`.
    fn object_cmd(&self, k: &str, m: &Map<String, J>, create: bool) -> R<Cmd> {
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
                let protocol = proto_number(p).ok_or_else(|| format!("invalid protocol {p}"))?;
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
        Ok(Cmd::AddObject {
            family: family(m)?,
            table: s(m, "table")?.to_string(),
            name: s(m, "name")?.to_string(),
            obj,
            create,
        })
    }
}
