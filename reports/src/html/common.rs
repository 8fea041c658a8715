//! Building blocks of the page: tables, key–value rows, shares and verdicts. Cells passed
//! in are HTML already; names are escaped here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::fmt::{self, esc};
use crate::schema::Run;

/// Append `s` to the page.
pub(super) fn h(out: &mut String, s: &str) {
    out.push_str(s);
}

/// The `n` largest counts of `m` (`name count, …`, then `other N`), or a muted "none".
pub(super) fn top_reasons(m: &BTreeMap<String, u64>, n: usize) -> String {
    let mut v: Vec<(&String, &u64)> = m.iter().filter(|(_, c)| **c > 0).collect();
    // Largest first; ties by name (BTreeMap order), so the result is deterministic.
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    if v.is_empty() {
        return "<span class=\"muted\">none</span>".to_string();
    }
    let mut parts: Vec<String> = v
        .iter()
        .take(n)
        .map(|(k, c)| format!("{} {}", esc(k), fmt::count(**c)))
        .collect();
    if v.len() > n {
        let rest: u64 = v.iter().skip(n).map(|(_, c)| **c).sum();
        parts.push(format!("other {}", fmt::count(rest)));
    }
    format!("<span class=\"w\">{}</span>", parts.join(", "))
}

/// `part` as a percentage of `total` (`-` when `total` is 0).
pub(super) fn share(part: u64, total: u64) -> String {
    if total == 0 {
        "-".to_string()
    } else {
        fmt::pct(part as f64 / total as f64)
    }
}

/// Open a scrolling table with a header row of `cols` (the first one left-aligned).
pub(super) fn table_head(out: &mut String, cols: &[&str]) {
    h(out, "<div class=\"scroll\"><table>\n<thead><tr>");
    for (i, c) in cols.iter().enumerate() {
        if i == 0 {
            let _ = write!(out, "<th class=\"l\">{c}</th>");
        } else {
            let _ = write!(out, "<th>{c}</th>");
        }
    }
    h(out, "</tr></thead>\n<tbody>\n");
}

/// A table row: the escaped `name` in a left-aligned cell, then the (HTML) `cells`.
pub(super) fn row(out: &mut String, name: &str, cells: &[String]) {
    let _ = write!(out, "<tr><td class=\"l\">{}</td>", esc(name));
    for c in cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    h(out, "</tr>\n");
}

/// Close a table opened by [`table_head`].
pub(super) fn table_end(out: &mut String) {
    h(out, "</tbody>\n</table></div>\n");
}

/// A key–value row: the escaped key `k`, then the HTML `v`.
pub(super) fn kv(out: &mut String, k: &str, v: &str) {
    let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(k), v);
}

/// A count and its share of `total`: `1234 (12.3 %)`.
pub(super) fn count_share(part: u64, total: u64) -> String {
    format!("{} ({})", fmt::count(part), share(part, total))
}

/// An SLO verdict as a coloured word: `met` or `missed`.
pub(super) fn verdict(met: bool) -> &'static str {
    if met {
        "<span class=\"met\">met</span>"
    } else {
        "<span class=\"missed\">missed</span>"
    }
}

/// A run's SLO verdict, or `-` when it has no SLO.
pub(super) fn slo_verdict(run: &Run) -> &'static str {
    run.slo.as_ref().map_or("-", |s| verdict(s.met))
}
