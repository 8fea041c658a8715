//! Statements of a JSON rule, and statements given as text (parsed after the object).

use serde_json::{Map, Value as J};

use super::{Jp, R, TEXT_STMT, obj1, os, s, strings, u};
use crate::ast::*;
use crate::types::{ICMP_CODES, ICMPV6_CODES, ICMPX_CODES, lookup, parse_uint};

impl Jp {
    pub(super) fn stmt(&self, v: &J) -> R<Stmt> {
        if let J::String(text) = v {
            // a statement nft -j printed as text (no JSON form), parsed after the object
            let mut t = self.texts.borrow_mut();
            t.push(text.clone());
            return Ok(Stmt::Unsupported(format!("{TEXT_STMT}{}", t.len() - 1)));
        }
        let (k, val) = obj1(v)?;
        let m = val.as_object();
        Ok(match k {
            "match" => self.match_stmt(m.ok_or("invalid match")?)?,
            "accept" | "drop" | "continue" | "return" | "jump" | "goto" => match self.data(v)? {
                Expr::Verdict(vd) => Stmt::Verdict(vd),
                _ => return Err("invalid verdict".into()),
            },
            "counter" => match self.named_or_map(val)? {
                Some(e) => Stmt::CounterRef(e),
                None => Stmt::Counter,
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
            "log" => Stmt::Log(log(m)?),
            "limit" => match self.named_or_map(val)? {
                Some(e) => Stmt::LimitRef(e),
                None => Stmt::Limit(self.limit(m.ok_or("invalid limit")?)?),
            },
            "quota" => match self.named_or_map(val)? {
                Some(e) => Stmt::QuotaRef(e),
                None => Stmt::Quota(quota(m.ok_or("invalid quota")?)?),
            },
            "notrack" => Stmt::Notrack,
            "snat" | "dnat" | "masquerade" | "redirect" => self.nat_stmt(k, m)?,
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
            "reject" => Stmt::Reject(match m {
                None => RejectStmt::Default,
                Some(m) => reject(m)?,
            }),
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
            "fwd" => {
                let m = m.ok_or("invalid fwd statement")?;
                let dev = self.name_or_expr(m.get("dev").ok_or("fwd: no dev")?)?;
                let neigh = match (m.get("family"), m.get("addr")) {
                    (Some(f), Some(a)) => {
                        let f = match f.as_str() {
                            Some("ip") => Family::Ip,
                            Some("ip6") => Family::Ip6,
                            _ => return Err("fwd: family must be ip or ip6".into()),
                        };
                        Some((f, self.expr(a)?))
                    }
                    _ => None,
                };
                Stmt::Fwd {
                    dev,
                    neigh,
                    name: None,
                }
            }
            "set" | "map" => self.set_stmt(k, m.ok_or("invalid set statement")?)?,
            // `meta secmark set "NAME"` (objref statement)
            "secmark" => Stmt::Mangle {
                key: Expr::Meta(MetaKey::Secmark),
                value: self.name_or_expr(val)?,
            },
            "ct timeout" => Stmt::CtTimeoutSet(self.name_or_expr(val)?),
            "ct helper" => Stmt::CtHelperSet(self.name_or_expr(val)?),
            "xt" => return Err("unsupported: xt (iptables-nft) statement".into()),
            other => return Err(format!("unsupported: {other} statement")),
        })
    }

    /// An object name (a JSON string) or an expression giving one.
    fn name_or_expr(&self, val: &J) -> R<Expr> {
        match val {
            J::String(n) => Ok(Expr::Sym(n.clone(), true)),
            other => self.expr(other),
        }
    }

    /// `counter|limit|quota`: a named object (`"name"`) or an object map
    /// (`{"map": ...}`); `None` for an anonymous one.
    fn named_or_map(&self, val: &J) -> R<Option<Expr>> {
        Ok(match val {
            J::String(n) => Some(Expr::Sym(n.clone(), true)),
            J::Object(o) if o.contains_key("map") => Some(self.expr(val)?),
            _ => None,
        })
    }

    /// `{"match": {"op": OP, "left": L, "right": R}}`.
    fn match_stmt(&self, m: &Map<String, J>) -> R<Stmt> {
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
        Ok(Stmt::Match {
            left: self.expr(m.get("left").ok_or("match needs left")?)?,
            op,
            right: self.expr(m.get("right").ok_or("match needs right")?)?,
            rspan: self.span,
        })
    }

    /// `snat|dnat|masquerade|redirect` with family, address, port and flags.
    fn nat_stmt(&self, k: &str, m: Option<&Map<String, J>>) -> R<Stmt> {
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
                    n.flags |=
                        nat_flags::from_name(&x).ok_or_else(|| format!("invalid nat flag {x}"))?;
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
        Ok(Stmt::Nat(n))
    }

    /// `{"set"|"map": {"op": OP, "elem": E, "set"|"map": "@name", "data": D, "stmt": [...]}}`.
    fn set_stmt(&self, k: &str, m: &Map<String, J>) -> R<Stmt> {
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
        Ok(Stmt::SetUpdate {
            op,
            set,
            key: el.key,
            data: m.get("data").map(|d| self.expr(d)).transpose()?,
            timeout: el.timeout,
            stmts,
        })
    }

    pub(super) fn limit(&self, m: &Map<String, J>) -> R<LimitStmt> {
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
}

/// `{"log": {...}}`.
fn log(m: Option<&Map<String, J>>) -> R<LogStmt> {
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
    Ok(l)
}

/// An anonymous `{"quota": {"val": V, "val_unit": U, "inv": I, "used": X, "used_unit": U}}`.
fn quota(m: &Map<String, J>) -> R<QuotaStmt> {
    let mult = |x: Option<&str>| {
        let o = x.unwrap_or("bytes");
        byte_unit(o).ok_or_else(|| format!("invalid quota unit {o}"))
    };
    Ok(QuotaStmt {
        bytes: u(m.get("val").ok_or("quota needs val")?)?
            * mult(m.get("val_unit").and_then(|x| x.as_str()))?,
        over: m.get("inv").and_then(|x| x.as_bool()).unwrap_or(false),
        used: m.get("used").map(u).transpose()?.unwrap_or(0)
            * mult(m.get("used_unit").and_then(|x| x.as_str()))?,
    })
}

/// `{"reject": {"type": T, "expr": CODE}}`.
fn reject(m: &Map<String, J>) -> R<RejectStmt> {
    let t = m.get("type").and_then(|x| x.as_str()).unwrap_or("");
    let code = |tbl: &[(&str, u128)]| -> R<u8> {
        match m.get("expr") {
            Some(J::String(c)) => lookup(tbl, c)
                .or_else(|| parse_uint(c))
                .map(|v| v as u8)
                .ok_or_else(|| format!("invalid reject code {c}")),
            Some(J::Number(n)) => Ok(n.as_u64().unwrap_or(0) as u8),
            _ => Err("reject needs a code".into()),
        }
    };
    Ok(match t {
        "tcp reset" => RejectStmt::TcpReset,
        "icmp" => RejectStmt::Icmp(code(ICMP_CODES)?),
        "icmpv6" => RejectStmt::Icmpv6(code(ICMPV6_CODES)?),
        "icmpx" => RejectStmt::Icmpx(code(ICMPX_CODES)?),
        "" => RejectStmt::Default,
        o => return Err(format!("invalid reject type {o}")),
    })
}
