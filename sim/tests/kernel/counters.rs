//! Counters the oracle adds to a ruleset so that the kernel counts what offsim counts: one
//! on every rule without one (before its first terminal statement, where offsim's implicit
//! counter sits) and one appended to every base chain for its policy.

use super::*;

pub(super) fn has_key(v: &Value, k: &str) -> bool {
    v.as_object().is_some_and(|o| o.contains_key(k))
}

pub(super) const TERMINAL: &[&str] = &[
    "accept",
    "drop",
    "reject",
    "jump",
    "goto",
    "return",
    "queue",
    "continue",
    "snat",
    "dnat",
    "masquerade",
    "redirect",
    "vmap",
    "tproxy",
    "synproxy",
    "fwd",
];

/// `replace rule` commands that add a counter before the first terminal statement of every
/// rule without one (`None` when every rule has a counter). Rules are replaced in place by
/// handle, so nothing else of the ruleset (flowtables, sets, objects) takes a round trip
/// through nft's JSON.
pub(super) fn add_counters(dump: &Value) -> Option<Value> {
    let mut cmds = Vec::new();
    for o in dump["nftables"].as_array().into_iter().flatten() {
        let Some(r) = o.get("rule") else { continue };
        let Some(expr) = r["expr"].as_array() else {
            continue;
        };
        if expr.iter().any(|e| has_key(e, "counter")) {
            continue;
        }
        let mut r = r.clone();
        let expr = r["expr"].as_array_mut().expect("rule expr");
        let at = expr
            .iter()
            .position(|e| TERMINAL.iter().any(|k| has_key(e, k)))
            .unwrap_or(expr.len());
        expr.insert(at, json!({"counter": {"packets": 0, "bytes": 0}}));
        cmds.push(json!({"replace": {"rule": r}}));
    }
    (!cmds.is_empty()).then(|| json!({ "nftables": cmds }))
}

/// A ruleset text (declarative blocks, one rule per line) with `counter` added to every rule
/// line that has none.
pub(super) fn text_with_counters(text: &str) -> String {
    let mut out = String::new();
    let mut stack: Vec<bool> = Vec::new(); // per open block: is it a chain body?
    for line in text.lines() {
        let t = line.trim();
        let in_chain = stack.last().copied().unwrap_or(false);
        let is_rule = in_chain
            && !t.is_empty()
            && !t.starts_with('#')
            && !t.starts_with('}')
            && !t.starts_with("type ")
            && !t.starts_with("policy ")
            && !t.starts_with("comment ")
            && !t.starts_with("devices ")
            && !t.contains(" counter")
            && !t.starts_with("counter");
        if is_rule {
            let body = t.trim_end_matches(';');
            out.push_str(&line[..line.len() - line.trim_start().len()]);
            out.push_str(&counted_text(body));
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
        for c in t.chars() {
            match c {
                '{' => stack.push(t.starts_with("chain ")),
                '}' => {
                    stack.pop();
                }
                _ => {}
            }
        }
    }
    out
}

/// A rule's text with `counter` inserted before its first verdict statement (outside braces and
/// quotes), or appended.
pub(super) fn counted_text(rule: &str) -> String {
    const VERDICTS: &[&str] = &[
        "accept",
        "drop",
        "reject",
        "jump",
        "goto",
        "return",
        "queue",
        "continue",
        "snat",
        "dnat",
        "masquerade",
        "redirect",
        "vmap",
    ];
    let b = rule.as_bytes();
    let (mut depth, mut quoted) = (0i32, false);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => quoted = !quoted,
            b'{' if !quoted => depth += 1,
            b'}' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 && (i == 0 || b[i - 1] == b' ') => {
                let rest = &rule[i..];
                let mut words = rest.split(' ');
                let word = words.next().unwrap_or("");
                let next = words.next().unwrap_or("");
                let next2 = words.next().unwrap_or("");
                // `ct status dnat`, `icmp type redirect`: values, not statements.
                let statement = match word {
                    "snat" | "dnat" => {
                        next == "to" || ((next == "ip" || next == "ip6") && next2 == "to")
                    }
                    "redirect" => next.is_empty() || next == "to" || next == "comment",
                    _ => true,
                };
                if VERDICTS.contains(&word) && statement {
                    return format!("{}counter {}", &rule[..i], rest);
                }
            }
            _ => {}
        }
        i += 1;
    }
    format!("{rule} counter")
}

/// The first counter of a chain of `table` in a `nft -j list` dump, as (packets, bytes).
pub(super) fn chain_counter(dump: &Value, table: &str, chain: &str) -> (u64, u64) {
    for o in dump["nftables"].as_array().into_iter().flatten() {
        let Some(r) = o.get("rule") else { continue };
        if r["table"] != table || r["chain"] != chain {
            continue;
        }
        for e in r["expr"].as_array().into_iter().flatten() {
            if let Some(Value::Object(c)) = e.get("counter") {
                return (
                    c["packets"].as_u64().unwrap_or(0),
                    c["bytes"].as_u64().unwrap_or(0),
                );
            }
        }
    }
    (0, 0)
}
