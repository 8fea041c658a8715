//! The house rules, checked on the workspace's own sources: no import cycle between the
//! modules of any crate, no non-test source file over 1,000 lines, no function over 150.
//!
//! A module is a file (`a/b.rs` is `a::b`, `a/mod.rs` is `a`). An edge A → B is any path to
//! B written in A (`use crate::b::X`, `crate::b::f()`, `super::b`, `use b::X` from the crate
//! root), test code excluded (files named `test.rs`/`tests.rs` and everything after
//! `#[cfg(test)]`). Edges between a module and its own ancestors (a child using its
//! parent's items, a parent re-exporting its children) are the normal Rust layout and are
//! not cycles. Functions are measured from their `fn` line to the closing brace at the same
//! indentation, which is how rustfmt lays them out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::repo;

const CRATES: [&str; 7] = [
    "traces", "nicmodel", "nft", "kernel", "sim", "reports", "benches",
];
const MAX_FILE_LINES: usize = 1_000;
const MAX_FN_LINES: usize = 150;

/// Functions allowed over [`MAX_FN_LINES`], each with its reason.
const LONG_FN_ALLOWED: [(&str, &str, &str); 2] = [
    // Kept whole so they read line for line against the kernel's `tcp_in_window` and
    // `nf_conntrack_tcp_packet` (net/netfilter/nf_conntrack_proto_tcp.c).
    ("kernel/src/conntrack/tcp.rs", "in_window", "tcp_in_window"),
    (
        "kernel/src/conntrack/tcp.rs",
        "tcp_packet",
        "nf_conntrack_tcp_packet",
    ),
];

fn sources(src: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_test_file(p: &Path) -> bool {
    matches!(
        p.file_stem().and_then(|s| s.to_str()),
        Some("test" | "tests")
    )
}

/// The module path of a source file (`""` for the crate root).
fn module_of(src: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(src).unwrap().with_extension("");
    let mut segs: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    if segs == ["lib"] || segs == ["main"] {
        segs.clear();
    }
    segs.iter()
        .map(|s| s.trim_start_matches("r#"))
        .collect::<Vec<_>>()
        .join("::")
}

/// The text before `#[cfg(test)]`, without comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out.replace("r#", "")
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(path: &str, out: &mut Vec<String>) {
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = path.find('{') else {
        out.push(path);
        return;
    };
    let close = path.rfind('}').unwrap_or(path.len());
    let (prefix, body) = (&path[..open], &path[open + 1..close]);
    let (mut depth, mut cur) = (0, String::new());
    for ch in body.chars() {
        match ch {
            ',' if depth == 0 => {
                expand_use(&format!("{prefix}{cur}"), out);
                cur.clear();
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        expand_use(&format!("{prefix}{cur}"), out);
    }
}

/// Every path written in `code`: `use` trees and `crate::`/`super::`/`self::` paths.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if before_ok {
            expand_use(&after[..end], &mut out);
        }
        rest = &after[end.min(after.len())..];
    }
    let bytes = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let i = from + i;
            from = i + start.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let end = code[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| i + e);
            out.push(code[i..end].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module a path names (its longest prefix that is a module), if any.
fn resolve(module: &str, path: &str, mods: &BTreeSet<String>) -> Option<String> {
    let base: Vec<&str> = if module.is_empty() {
        vec![]
    } else {
        module.split("::").collect()
    };
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut cur: Vec<&str> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            vec![]
        }
        Some(&"super") => {
            let mut c = base.clone();
            while segs.first() == Some(&"super") {
                segs.remove(0);
                c.pop();
            }
            c
        }
        Some(&"self") => {
            segs.remove(0);
            base.clone()
        }
        Some(first) => {
            let mut c = base.clone();
            c.push(first);
            if !mods.contains(&c.join("::")) {
                return None;
            }
            base.clone()
        }
        None => return None,
    };
    let mut best = None;
    for k in 0..=segs.len() {
        let cand: Vec<&str> = cur
            .iter()
            .copied()
            .chain(segs[..k].iter().copied())
            .collect();
        let name = cand.join("::");
        if mods.contains(&name) {
            best = Some(name);
        }
    }
    cur.clear();
    best
}

fn related(a: &str, b: &str) -> bool {
    let pa: Vec<&str> = a.split("::").filter(|s| !s.is_empty()).collect();
    let pb: Vec<&str> = b.split("::").filter(|s| !s.is_empty()).collect();
    pa.starts_with(&pb) || pb.starts_with(&pa)
}

fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<(String, PathBuf)> = sources(src)
        .into_iter()
        .filter(|p| !is_test_file(p))
        .map(|p| (module_of(src, &p), p))
        .collect();
    let mods: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut g = BTreeMap::new();
    for (m, p) in &files {
        let code = code_of(&std::fs::read_to_string(p).unwrap());
        let edges: BTreeSet<String> = paths_in(&code)
            .iter()
            .filter_map(|path| resolve(m, path, &mods))
            .filter(|t| t != m && !related(m, t))
            .collect();
        g.insert(m.clone(), edges);
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in &t.g[v] {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_import_cycle_in_any_crate() {
    let mut found = Vec::new();
    for c in CRATES {
        let g = graph(&repo().join(c).join("src"));
        assert!(g.len() > 1, "{c}: no modules found");
        for cyc in cycles(&g) {
            found.push(format!("{c}: {}", cyc.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let dir = crate::util::scratch("house", "cycle");
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
    std::fs::write(dir.join("b.rs"), "use super::a::{A};\npub struct B;\n").unwrap();
    assert_eq!(
        cycles(&graph(&dir)),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
    std::fs::write(
        dir.join("b.rs"),
        "pub struct B;\n#[cfg(test)]\nuse super::a::A;\n",
    )
    .unwrap();
    assert!(cycles(&graph(&dir)).is_empty());
}

fn non_test_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in CRATES {
        let root = repo().join(c);
        for p in sources(&root.join("src")) {
            if is_test_file(&p) {
                continue;
            }
            let rel = format!("{c}/{}", p.strip_prefix(&root).unwrap().display());
            out.push((rel.replace('\\', "/"), std::fs::read_to_string(&p).unwrap()));
        }
    }
    out
}

#[test]
fn no_source_file_over_a_thousand_lines() {
    let big: Vec<String> = non_test_sources()
        .into_iter()
        .map(|(f, text)| {
            (
                f,
                text.split("#[cfg(test)]").next().unwrap().lines().count(),
            )
        })
        .filter(|(_, n)| *n > MAX_FILE_LINES)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(
        big.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        big.join("\n")
    );
}

/// `(name, lines)` of every function in `text` outside test code.
fn functions(text: &str) -> Vec<(String, usize)> {
    let code = text.split("#[cfg(test)]").next().unwrap();
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        let sig = t
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ")
            .trim_start_matches("const ")
            .trim_start_matches("unsafe ");
        let Some(rest) = sig.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = lines[i..].iter().position(|x| *x == close) {
            out.push((name, end + 1));
        }
    }
    out
}

#[test]
fn no_function_over_a_hundred_and_fifty_lines() {
    let mut long = Vec::new();
    for (file, text) in non_test_sources() {
        for (name, n) in functions(&text) {
            let allowed = LONG_FN_ALLOWED
                .iter()
                .any(|(f, fname, _)| *f == file && *fname == name);
            if n > MAX_FN_LINES && !allowed {
                long.push(format!("{file}: fn {name}: {n} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}
