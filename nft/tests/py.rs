//! Runs nftables' own per-rule tests (`nft-corpus/py/{any,inet,ip,ip6}/*.t`) through the
//! loader: every `ok` line in the supported subset must load and normalise to the same AST
//! as its expected listing (third field, or the rule itself); every `fail` line must be
//! rejected. Lines that load with an `unsupported:` error are excluded from the subset and
//! counted separately; bridge tables are skipped (bridge base chains are not simulated). The `.t.json`
//! twins must normalise to the same AST as the text.
//!
//! `cargo test -p offsim-nft --test integration -- py:: --nocapture` prints a per-file table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use offsim_nft::ast::Rule;
use offsim_nft::{LoadOptions, NftError, Ruleset};

use crate::util::corpus_dir;

fn corpus() -> Option<PathBuf> {
    corpus_dir(Some("py"))
}

#[derive(Default, Clone)]
struct Tally {
    ok_pass: u32,
    ok_mismatch: u32,
    ok_error: u32,
    ok_unsupported: u32,
    fail_rejected: u32,
    fail_rejected_unsupported: u32,
    fail_accepted: u32,
    json_equal: u32,
    json_differ: u32,
    json_skipped: u32,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.ok_pass += o.ok_pass;
        self.ok_mismatch += o.ok_mismatch;
        self.ok_error += o.ok_error;
        self.ok_unsupported += o.ok_unsupported;
        self.fail_rejected += o.fail_rejected;
        self.fail_rejected_unsupported += o.fail_rejected_unsupported;
        self.fail_accepted += o.fail_accepted;
        self.json_equal += o.json_equal;
        self.json_differ += o.json_differ;
        self.json_skipped += o.json_skipped;
    }
}

struct TableDecl {
    family: String,
    table: String,
    chains: Vec<String>,
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

/// Builds a ruleset text for one rule in one table.
fn ruleset_text(
    t: &TableDecl,
    chains: &BTreeMap<String, String>,
    decls: &[String],
    elements: &[String],
    rule: &str,
) -> String {
    let mut s = format!("table {} {} {{\n", t.family, t.table);
    for d in decls {
        s.push_str(d);
        s.push('\n');
    }
    for c in &t.chains {
        let spec = chains.get(c).cloned().unwrap_or_default();
        s.push_str(&format!("chain {c} {{\n{spec}\n}}\n"));
    }
    s.push_str("}\n");
    for e in elements {
        s.push_str(&format!("add element {} {} {e}\n", t.family, t.table));
    }
    for c in &t.chains {
        s.push_str(&format!("add rule {} {} {c} {rule}\n", t.family, t.table));
    }
    s
}

fn first_rule(rs: &Ruleset) -> Option<Rule> {
    rs.model()
        .tables
        .first()?
        .chains
        .iter()
        .find_map(|c| c.rules.first().map(|r| r.1.clone()))
}

fn set_decl(spec: &str) -> Option<String> {
    // `name type X [flags ...] [timeout ...]`
    let (name, rest) = spec.split_once(' ')?;
    let rest = rest
        .replace(" flags ", "; flags ")
        .replace(" timeout ", "; timeout ");
    let kw = if rest.contains(" : ") { "map" } else { "set" };
    Some(format!("{kw} {name} {{ {rest}; }}"))
}

fn obj_decl(spec: &str) -> Option<String> {
    let (name, rest) = spec.split_once(" type ")?;
    let rest = rest.trim();
    for kind in ["ct helper", "ct timeout", "ct expectation"] {
        if let Some(body) = rest.strip_prefix(kind) {
            return Some(format!("{kind} {name} {}", body.trim()));
        }
    }
    let (kind, args) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(match kind {
        "counter" => format!("counter {name} {{ }}"),
        _ => format!("{kind} {name} {{ {args} }}"),
    })
}

fn load(text: &str, name: &str) -> Result<Ruleset, NftError> {
    Ruleset::from_str(text, name, &opts())
}

fn json_twins(path: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return m;
    };
    let mut cur: Option<String> = None;
    let mut buf = String::new();
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("# ") {
            if let Some(c) = cur.take() {
                m.insert(c, std::mem::take(&mut buf));
            }
            cur = Some(r.trim().to_string());
            buf.clear();
        } else if cur.is_some() {
            buf.push_str(line);
            buf.push('\n');
        }
    }
    if let Some(c) = cur {
        m.insert(c, buf);
    }
    m
}

fn run_file(path: &Path, failures: &mut Vec<String>) -> Tally {
    let mut t = Tally::default();
    let text = std::fs::read_to_string(path).unwrap();
    let jtw = json_twins(&path.with_extension("t.json"));
    let name = path.display().to_string();
    let mut chains: BTreeMap<String, String> = BTreeMap::new();
    let mut tables: Vec<TableDecl> = Vec::new();
    let mut decls: Vec<String> = Vec::new();
    let mut elements: Vec<String> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        if let Some(c) = line.strip_prefix(':') {
            if let Some((n, spec)) = c.split_once(';') {
                chains.insert(n.to_string(), format!("{spec};"));
            }
            continue;
        }
        if let Some(c) = line.strip_prefix('*') {
            let p: Vec<&str> = c.split(';').collect();
            if p.len() >= 3 {
                tables.push(TableDecl {
                    family: p[0].to_string(),
                    table: p[1].to_string(),
                    chains: p[2].split(',').map(|s| s.to_string()).collect(),
                });
            }
            continue;
        }
        let (body, verdict) = if let Some(b) = line.strip_suffix(";ok") {
            (b.to_string(), Some(None))
        } else if let Some(i) = line.find(";ok;") {
            (line[..i].to_string(), Some(Some(line[i + 4..].to_string())))
        } else if let Some(b) = line.strip_suffix(";fail") {
            (b.to_string(), None)
        } else {
            continue;
        };
        let supported_tables: Vec<&TableDecl> = tables
            .iter()
            .filter(|t| matches!(t.family.as_str(), "ip" | "ip6" | "inet" | "netdev" | "arp"))
            .collect();
        if let Some(spec) = body.strip_prefix('!') {
            if verdict.is_some()
                && let Some(d) = set_decl(spec)
            {
                decls.push(d);
            }
            continue;
        }
        if let Some(spec) = body.strip_prefix('%') {
            if verdict.is_some()
                && let Some(d) = obj_decl(spec)
            {
                decls.push(d);
            }
            continue;
        }
        if let Some(spec) = body.strip_prefix('?') {
            if verdict.is_some()
                && let Some((set, el)) = spec.split_once(' ')
            {
                elements.push(format!("{set} {{ {el} }}"));
            }
            continue;
        }
        let rule = body.trim();
        let mut json_done = false;
        for tb in &supported_tables {
            let txt = ruleset_text(tb, &chains, &decls, &elements, rule);
            let r = load(&txt, &format!("{name}:{}", ln + 1));
            match &verdict {
                Some(canon) => match r {
                    Ok(rs) => {
                        let got = first_rule(&rs);
                        let want_text = canon.as_deref().unwrap_or(rule);
                        let ctxt = ruleset_text(tb, &chains, &decls, &elements, want_text);
                        match load(&ctxt, &format!("{name}:{} (canonical)", ln + 1)) {
                            Ok(crs) => {
                                let want = first_rule(&crs);
                                if got.as_ref().map(|r| &r.stmts) == want.as_ref().map(|r| &r.stmts)
                                {
                                    t.ok_pass += 1;
                                } else {
                                    t.ok_mismatch += 1;
                                    failures.push(format!(
                                        "{name}:{} [{}] `{rule}` normalises to `{}`, canonical `{want_text}` to `{}`",
                                        ln + 1,
                                        tb.family,
                                        got.map(|r| r.to_string()).unwrap_or_default(),
                                        want.map(|r| r.to_string()).unwrap_or_default()
                                    ));
                                }
                            }
                            Err(e) if e.is_unsupported() => t.ok_unsupported += 1,
                            Err(e) => {
                                t.ok_error += 1;
                                failures.push(format!(
                                    "{name}:{} [{}] canonical `{want_text}` does not load: {}",
                                    ln + 1,
                                    tb.family,
                                    e.msg
                                ));
                            }
                        }
                        // JSON twin (no set/object references: those need declarations)
                        if !json_done && let Some(j) = jtw.get(rule) {
                            json_done = true;
                            if rule.contains('@')
                                || rule.contains(" name ")
                                || rule.contains("helper set")
                                || rule.contains("timeout set")
                            {
                                t.json_skipped += 1;
                            } else {
                                let jr = json_ruleset(tb, &chains, j);
                                match jr.and_then(|s| {
                                    load(&s, &format!("{name}:{} (json)", ln + 1))
                                        .map_err(|e| e.to_string())
                                }) {
                                    Ok(jrs) => {
                                        let a = first_rule(&jrs).map(|r| r.stmts);
                                        let b = first_rule(&rs).map(|r| r.stmts);
                                        if a == b {
                                            t.json_equal += 1;
                                        } else {
                                            t.json_differ += 1;
                                            failures.push(format!("{name}:{} JSON of `{rule}` normalises differently: {:?}", ln + 1, a.map(|s| s.iter().map(|x| x.to_string()).collect::<Vec<_>>())));
                                        }
                                    }
                                    Err(e) if e.contains("unsupported:") => t.json_skipped += 1,
                                    Err(e) => {
                                        t.json_differ += 1;
                                        failures.push(format!(
                                            "{name}:{} JSON of `{rule}` does not load: {}",
                                            ln + 1,
                                            e.lines().next().unwrap_or("")
                                        ));
                                    }
                                }
                            }
                        }
                    }
                    Err(e) if e.is_unsupported() => t.ok_unsupported += 1,
                    Err(e) => {
                        t.ok_error += 1;
                        failures.push(format!(
                            "{name}:{} [{}] `{rule}` does not load: {}",
                            ln + 1,
                            tb.family,
                            e.msg
                        ));
                    }
                },
                None => match r {
                    Ok(rs) => {
                        t.fail_accepted += 1;
                        failures.push(format!(
                            "{name}:{} [{}] `{rule}` should be rejected, loads as `{}`",
                            ln + 1,
                            tb.family,
                            first_rule(&rs).map(|r| r.to_string()).unwrap_or_default()
                        ));
                    }
                    Err(e) if e.is_unsupported() => t.fail_rejected_unsupported += 1,
                    Err(_) => t.fail_rejected += 1,
                },
            }
        }
    }
    t
}

fn json_ruleset(
    tb: &TableDecl,
    chains: &BTreeMap<String, String>,
    expr: &str,
) -> Result<String, String> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err("empty JSON".into());
    }
    let c = &tb.chains[0];
    let spec = chains.get(c).cloned().unwrap_or_default();
    // chain spec: `type X hook Y [device D] priority P;`
    let w: Vec<&str> = spec.trim_end_matches(';').split_whitespace().collect();
    let get = |k: &str| {
        w.iter()
            .position(|x| *x == k)
            .and_then(|i| w.get(i + 1))
            .map(|s| s.to_string())
    };
    let ty = get("type").unwrap_or_else(|| "filter".into());
    let hook = get("hook").unwrap_or_else(|| "input".into());
    let prio = get("priority")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(0);
    let dev = get("device")
        .map(|d| format!(", \"dev\": \"{d}\""))
        .unwrap_or_default();
    Ok(format!(
        "{{\"nftables\": [{{\"table\": {{\"family\": \"{f}\", \"name\": \"{t}\"}}}}, \
         {{\"chain\": {{\"family\": \"{f}\", \"table\": \"{t}\", \"name\": \"{c}\", \"type\": \"{ty}\", \"hook\": \"{hook}\", \"prio\": {prio}{dev}}}}}, \
         {{\"rule\": {{\"family\": \"{f}\", \"table\": \"{t}\", \"chain\": \"{c}\", \"expr\": {expr}}}}}]}}",
        f = tb.family,
        t = tb.table,
    ))
}

#[test]
fn nft_py_corpus() {
    let Some(dir) = corpus() else { return };
    let mut files = Vec::new();
    for sub in ["any", "inet", "ip", "ip6"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "t") || p.to_string_lossy().ends_with(".t.netdev")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut total = Tally::default();
    let mut failures = Vec::new();
    println!(
        "{:<28} {:>5} {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5} | {:>5} {:>5}",
        "file", "pass", "diff", "err", "unsup", "rej", "rejU", "acc", "json=", "json!"
    );
    for f in &files {
        let t = run_file(f, &mut failures);
        let rel = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        println!(
            "{:<28} {:>5} {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5} | {:>5} {:>5}",
            rel,
            t.ok_pass,
            t.ok_mismatch,
            t.ok_error,
            t.ok_unsupported,
            t.fail_rejected,
            t.fail_rejected_unsupported,
            t.fail_accepted,
            t.json_equal,
            t.json_differ
        );
        total.add(&t);
    }
    for f in &failures {
        println!("MISS {f}");
    }
    let ok_subset = total.ok_pass + total.ok_mismatch + total.ok_error;
    let ok_pct = 100.0 * total.ok_pass as f64 / ok_subset.max(1) as f64;
    let fails = total.fail_rejected + total.fail_rejected_unsupported + total.fail_accepted;
    let rej_pct = 100.0 * (total.fail_rejected + total.fail_rejected_unsupported) as f64
        / fails.max(1) as f64;
    let json_pct =
        100.0 * total.json_equal as f64 / (total.json_equal + total.json_differ).max(1) as f64;
    println!(
        "ok executions: {} in supported subset, {} pass ({ok_pct:.1}%), {} mismatch, {} error; {} excluded as unsupported",
        ok_subset, total.ok_pass, total.ok_mismatch, total.ok_error, total.ok_unsupported
    );
    println!(
        "fail executions: {fails}, rejected {} ({rej_pct:.1}%; {} of them as unsupported), accepted {}",
        total.fail_rejected + total.fail_rejected_unsupported,
        total.fail_rejected_unsupported,
        total.fail_accepted
    );
    println!(
        "JSON twins: {} equal, {} differ ({json_pct:.1}%), {} skipped",
        total.json_equal, total.json_differ, total.json_skipped
    );
    // Thresholds at the measured values (raise them when coverage grows).
    assert!(
        ok_pct >= 99.0,
        "ok lines in the supported subset: {ok_pct:.2}% < 99%"
    );
    // Every `;fail` line is rejected: where nft rejects a ruleset, offsim does too.
    assert_eq!(
        total.fail_accepted, 0,
        "fail lines accepted (rejected {rej_pct:.2}%)"
    );
    assert!(json_pct >= 99.6, "JSON twins equal: {json_pct:.2}% < 99.6%");
    assert!(
        ok_subset >= 2406,
        "supported subset shrank to {ok_subset} executions (want 2406)"
    );
    assert!(
        total.ok_pass >= 2382,
        "only {} ok executions pass (want 2382)",
        total.ok_pass
    );
    assert!(
        total.json_equal >= 891,
        "only {} JSON twins equal (want 891)",
        total.json_equal
    );
}
