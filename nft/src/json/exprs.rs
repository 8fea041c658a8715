//! Expressions of a JSON ruleset: selectors, constants, prefixes, ranges, sets, maps,
//! concatenations and binary operations; set elements and map data.

use serde_json::{Map, Value as J};

use super::{Jp, R, obj1, os, s, strings, u};
use crate::ast::*;
use crate::selector::{ct_supported, meta_supported, payload_supported};

impl Jp {
    pub(super) fn elements(&self, v: &J) -> R<Vec<SetElem>> {
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

    pub(super) fn element(&self, x: &J) -> R<SetElem> {
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

    pub(super) fn data(&self, v: &J) -> R<Expr> {
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

    pub(super) fn expr(&self, v: &J) -> R<Expr> {
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
            J::Object(_) => return self.object_expr(v),
        })
    }

    /// `{ "KIND": ... }`: selectors, prefixes, ranges, sets, concatenations, binary
    /// operations, maps, hashes, `fib`, header options, elements and verdicts.
    fn object_expr(&self, v: &J) -> R<Expr> {
        let (k, val) = obj1(v)?;
        let m = val.as_object();
        Ok(match k {
            "payload" => self.payload_expr(m.ok_or("invalid payload")?)?,
            "meta" => {
                let key = s(m.ok_or("invalid meta")?, "key")?;
                let k = MetaKey::from_name(key).ok_or_else(|| format!("unknown meta key {key}"))?;
                if !meta_supported(k) {
                    return Err(format!("unsupported: meta {key}"));
                }
                Expr::Meta(k)
            }
            "ct" => self.ct_expr(m.ok_or("invalid ct")?)?,
            "prefix" => {
                let m = m.ok_or("invalid prefix")?;
                let a = self.expr(m.get("addr").ok_or("prefix needs addr")?)?;
                let l = u(m.get("len").ok_or("prefix needs len")?)?;
                // As in the text parser: no type is wider than 128 bits (a u32 cast would
                // wrap 4294967296 to /0).
                if l > 128 {
                    return Err(format!("prefix length {l} is invalid"));
                }
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
            "&" | "|" | "^" | "<<" | ">>" => self.binop_expr(k, val)?,
            "map" => {
                let m = m.ok_or("invalid map")?;
                let key = self.expr(m.get("key").ok_or("map needs key")?)?;
                let data = self.expr(m.get("data").ok_or("map needs data")?)?;
                Expr::Map(Box::new(key), Box::new(data))
            }
            "numgen" | "jhash" | "symhash" => {
                self.hash_expr(k, m.ok_or(format!("invalid {k}"))?)?
            }
            "fib" => {
                let m = m.ok_or("invalid fib")?;
                let mut flags = 0;
                for f in strings(m.get("flags").unwrap_or(&J::Null))? {
                    flags |=
                        fib_flags::from_name(&f).ok_or_else(|| format!("unknown fib flag {f}"))?;
                }
                let r = s(m, "result")?;
                let result =
                    FibResult::from_name(r).ok_or_else(|| format!("unsupported: fib {r}"))?;
                Expr::Fib { flags, result }
            }
            "tcp option" | "exthdr" | "rt" => {
                self.header_option_expr(k, m.ok_or(format!("invalid {k}"))?)?
            }
            "elem" => self.element(v)?.key,
            "accept" | "drop" | "continue" | "return" | "jump" | "goto" => self.data(v)?,
            other => return Err(format!("unsupported: {other} expression")),
        })
    }

    /// `{"payload": {"protocol": P, "field": F}}`; raw payloads (`base`) are not modelled.
    fn payload_expr(&self, m: &Map<String, J>) -> R<Expr> {
        if m.contains_key("base") {
            return Err(
                "unsupported: raw payload expression (offsim keeps header fields of each packet, not its bytes)"
                    .into(),
            );
        }
        let p = s(m, "protocol")?;
        let proto = Proto::from_name(p).ok_or_else(|| format!("unsupported: {p} expression"))?;
        let f = s(m, "field")?;
        if !payload_supported(proto, f) {
            return Err(format!("unsupported: {p} {f}"));
        }
        Ok(Expr::Payload(proto, f.to_string()))
    }

    /// `{"ct": {"key": K, "dir": D, "family": F}}`.
    fn ct_expr(&self, m: &Map<String, J>) -> R<Expr> {
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
            _ => CtKey::from_name(key).ok_or_else(|| format!("unknown ct key {key}"))?,
        };
        if !ct_supported(k) {
            return Err(format!("unsupported: ct {}", k.name()));
        }
        Ok(Expr::Ct(k, dir))
    }

    /// `{"&": [A, B, ...]}` and the other binary operators, left-associative.
    fn binop_expr(&self, k: &str, val: &J) -> R<Expr> {
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
        Ok(e)
    }

    /// `numgen`, `jhash`, `symhash`.
    fn hash_expr(&self, k: &str, m: &Map<String, J>) -> R<Expr> {
        let offset = || -> R<u32> { Ok(m.get("offset").map(u).transpose()?.unwrap_or(0) as u32) };
        Ok(match k {
            "numgen" => Expr::Numgen {
                random: s(m, "mode")? == "random",
                modulus: u(m.get("mod").ok_or("numgen needs mod")?)? as u32,
                offset: offset()?,
            },
            "jhash" => Expr::Jhash {
                expr: Box::new(self.expr(m.get("expr").ok_or("jhash needs expr")?)?),
                modulus: u(m.get("mod").ok_or("jhash needs mod")?)? as u32,
                seed: m.get("seed").map(u).transpose()?.map(|x| x as u32),
                offset: offset()?,
            },
            _ => Expr::Symhash {
                modulus: u(m.get("mod").ok_or("symhash needs mod")?)? as u32,
                offset: offset()?,
            },
        })
    }

    /// `tcp option maxseg size`, `exthdr rt type`, `rt mtu`: the header options offsim
    /// models.
    fn header_option_expr(&self, k: &str, m: &Map<String, J>) -> R<Expr> {
        match k {
            "tcp option" => {
                let name = s(m, "name")?;
                match (name, m.get("field").and_then(|f| f.as_str())) {
                    ("maxseg", Some("size")) => {
                        Ok(Expr::Payload(Proto::Tcp, "option maxseg size".into()))
                    }
                    (n, f) => Err(format!(
                        "unsupported: tcp option {n} {} expression",
                        f.unwrap_or("")
                    )),
                }
            }
            "exthdr" => {
                let name = s(m, "name")?;
                let field = m.get("field").and_then(|f| f.as_str()).unwrap_or("");
                if name == "rt" && field == "type" {
                    Ok(Expr::Payload(Proto::Rt, "type".into()))
                } else {
                    Err(format!("unsupported: {name} {field} expression"))
                }
            }
            _ => {
                let key = s(m, "key")?;
                if key == "mtu" {
                    Ok(Expr::Opaque("rt mtu".into()))
                } else {
                    Err(format!("unsupported: rt {key} expression"))
                }
            }
        }
    }
}
