//! The self-contained `index.html` of a report.
//!
//! The page opens from disk with no network: inline CSS, no external script, style sheet
//! or font; charts are sibling PNG files (`<img src="x.png">`) with a link to the SVG of
//! each. Every string that comes from user input (scenario, file, run, reason, flow and
//! parameter names, descriptions, warnings) goes through [`crate::fmt::esc`]. A Content
//! Security Policy allows only the page's own inline style, its one inline script (by
//! hash) and same-directory images, so even a missed escape could not run a script.
//!
//! The only script marks `<body data-images-ok="true|false">` after the load event, once
//! every image has loaded (used by the browser test; harmless otherwise).
//!
//! Output is deterministic: the same report gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::charts::{Chart, HEIGHT, WIDTH};
use crate::fmt::{self, esc};
use crate::schema::{Report, ReportKind, Run};

/// The page's only script: checks that every image loaded and says so on `<body>`.
pub const IMAGE_CHECK_SCRIPT: &str = "window.addEventListener(\"load\",function(){var ok=true;\
for(var i=0;i<document.images.length;i++){var im=document.images[i];\
if(!(im.complete&&im.naturalWidth>0)){ok=false;console.error(\"image failed to load: \"+im.getAttribute(\"src\"));}}\
document.body.setAttribute(\"data-images-ok\",ok?\"true\":\"false\");});";

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0 auto;max-width:1200px;padding:0 1.2em 3em;color:#222;background:#fff;line-height:1.4}
h1{font-size:1.6em;margin:.8em 0 .2em}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .4em}
p.sub{color:#666;margin:0 0 1em}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right;vertical-align:top;white-space:nowrap}
th{background:#f4f6f8;text-align:center}
td.l,th.l{text-align:left;white-space:normal}
div.scroll{overflow-x:auto}
table.kv td:first-child{font-weight:600;text-align:left;white-space:nowrap}
table.kv td{text-align:left;white-space:normal}
.met{color:#1a7f37;font-weight:600}
.missed{color:#c62828;font-weight:600}
.muted{color:#777}
ul.findings li{margin:.25em 0}
figure{margin:1em 0;display:inline-block}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}
code{background:#f4f6f8;padding:0 .2em}
.warn{background:#fff8e1;border-left:4px solid #f9a825;padding:.4em .8em;margin:.3em 0}
footer{margin-top:3em;color:#888;font-size:.85em}
";

fn h(out: &mut String, s: &str) {
    out.push_str(s);
}

/// Human name of a configuration, for sentences: `none` → "without offload", …
pub fn config_phrase(name: &str) -> String {
    match name {
        "none" => "without offload".to_string(),
        "software" => "with software offload".to_string(),
        "hardware" => "with hardware offload".to_string(),
        other => format!("with {other}"),
    }
}

/// Two bit rates in the unit of the larger one: `("2.35 Gbit/s", "0.40 Gbit/s")`.
fn bps_pair(a: f64, b: f64) -> (String, String) {
    let m = a.abs().max(b.abs());
    let (f, unit) = if m >= 1e9 {
        (1e9, "Gbit/s")
    } else if m >= 1e6 {
        (1e6, "Mbit/s")
    } else if m >= 1e3 {
        (1e3, "kbit/s")
    } else {
        (1.0, "bit/s")
    };
    (
        format!("{} {unit}", fmt::sig3(a / f)),
        format!("{} {unit}", fmt::sig3(b / f)),
    )
}

/// The capacity sentence of a plan report (plain text, not escaped), e.g. "This setup
/// forwards 2.35 Gbit/s within the SLO with hardware offload, 0.401 Gbit/s without
/// offload." `None` when the report has no plan or no configuration met the SLO.
pub fn plan_sentence(report: &Report) -> Option<String> {
    let plan = report.plan.as_ref()?;
    let best = plan
        .configs
        .iter()
        .filter(|c| c.max_bps.is_some())
        .max_by(|a, b| {
            a.max_bps
                .unwrap_or(0.0)
                .total_cmp(&b.max_bps.unwrap_or(0.0))
        })?;
    let best_bps = best.max_bps.unwrap_or(0.0);
    let mut s = format!(
        "This setup forwards {} ({}) within the SLO {}",
        fmt::bps(best_bps),
        fmt::pps(best.max_pps.unwrap_or(0.0)),
        config_phrase(&best.name)
    );
    // The others from the highest capacity down; those that never met the SLO last.
    let mut rest: Vec<&crate::schema::PlanConfig> = plan
        .configs
        .iter()
        .filter(|c| c.name != best.name)
        .collect();
    rest.sort_by(|a, b| {
        let key = |c: &crate::schema::PlanConfig| c.max_bps.unwrap_or(-1.0);
        key(b).total_cmp(&key(a))
    });
    let others: Vec<String> = rest
        .into_iter()
        .map(|c| match c.max_bps {
            Some(b) => format!("{} {}", bps_pair(best_bps, b).1, config_phrase(&c.name)),
            None => format!(
                "nothing {} (even the lowest probed rate missed the SLO)",
                config_phrase(&c.name)
            ),
        })
        .collect();
    if !others.is_empty() {
        s.push_str(", ");
        s.push_str(&others.join(", "));
    }
    s.push('.');
    Some(s)
}

/// Sentences summarising a report: throughput, CPU and latency of each configuration
/// against the baseline, SLO verdicts. Plain text (escape before use in HTML).
pub fn findings(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = plan_sentence(report) {
        out.push(s);
    }
    if report.kind == ReportKind::Sweep {
        if let Some(sw) = &report.sweep {
            out.push(format!(
                "{} sweep point(s) over {} ({} run(s)).",
                sw.points.len(),
                if sw.parameters.is_empty() {
                    "no parameter".to_string()
                } else {
                    sw.parameters.join(" × ")
                },
                report.runs.len()
            ));
        }
        return out;
    }
    for r in &report.runs {
        let t = &r.throughput;
        let drop_rate = if t.offered_packets > 0 {
            r.drops.total as f64 / t.offered_packets as f64
        } else {
            0.0
        };
        let mut s = format!(
            "{}: delivers {} of {} offered{}, p99 latency {}, CPU {}",
            r.name,
            fmt::bps(t.delivered_bps),
            fmt::bps(t.offered_bps),
            if r.drops.total > 0 {
                format!(" (drops {})", fmt::pct(drop_rate))
            } else {
                String::new()
            },
            fmt::ns(r.latency_ns.p99 as f64),
            fmt::pct(r.cpu.util_mean),
        );
        if let (Some(sv), Some(b)) = (&r.savings, &r.baseline) {
            let _ = write!(
                s,
                "; against {b}: CPU {} points {}, power {} ({})",
                fmt::sig3((sv.cpu_util * 100.0).abs()),
                if sv.cpu_util >= 0.0 {
                    "lower"
                } else {
                    "higher"
                },
                if sv.power_w >= 0.0 {
                    format!("−{}", fmt::watts(sv.power_w))
                } else {
                    format!("+{}", fmt::watts(-sv.power_w))
                },
                fmt::signed_pct(-sv.power_pct),
            );
        }
        s.push('.');
        out.push(s);
    }
    let with_slo: Vec<&Run> = report.runs.iter().filter(|r| r.slo.is_some()).collect();
    if !with_slo.is_empty() {
        let met: Vec<&str> = with_slo
            .iter()
            .filter(|r| r.slo.as_ref().is_some_and(|s| s.met))
            .map(|r| r.name.as_str())
            .collect();
        let missed: Vec<String> = with_slo
            .iter()
            .filter(|r| r.slo.as_ref().is_some_and(|s| !s.met))
            .map(|r| {
                let failed: Vec<&str> = r
                    .slo
                    .as_ref()
                    .map(|s| {
                        s.checks
                            .iter()
                            .filter(|c| !c.met)
                            .map(|c| c.metric.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                format!("{} ({})", r.name, failed.join(", "))
            })
            .collect();
        let desc = report
            .scenario
            .slo
            .as_ref()
            .map(|s| s.description.as_str())
            .filter(|d| !d.is_empty());
        let mut s = match desc {
            Some(d) => format!("SLO ({d}): "),
            None => "SLO: ".to_string(),
        };
        if !met.is_empty() {
            let _ = write!(s, "met by {}", met.join(", "));
        }
        if !missed.is_empty() {
            if !met.is_empty() {
                s.push_str("; ");
            }
            let _ = write!(s, "missed by {}", missed.join(", "));
        }
        s.push('.');
        out.push(s);
    }
    out
}

fn top_reasons(m: &BTreeMap<String, u64>, n: usize) -> String {
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
    parts.join(", ")
}

fn share(part: u64, total: u64) -> String {
    if total == 0 {
        "-".to_string()
    } else {
        fmt::pct(part as f64 / total as f64)
    }
}

fn table_head(out: &mut String, cols: &[&str]) {
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

fn row(out: &mut String, name: &str, cells: &[String]) {
    let _ = write!(out, "<tr><td class=\"l\">{}</td>", esc(name));
    for c in cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    h(out, "</tr>\n");
}

fn table_end(out: &mut String) {
    h(out, "</tbody>\n</table></div>\n");
}

fn kv(out: &mut String, k: &str, v: &str) {
    let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(k), v);
}

fn scenario_section(out: &mut String, r: &Report) {
    let s = &r.scenario;
    h(out, "<section id=\"scenario\">\n<h2>Scenario</h2>\n");
    if !s.description.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", esc(&s.description));
    }
    h(out, "<table class=\"kv\">\n<tbody>\n");
    kv(
        out,
        "Scenario file",
        &format!("<code>{}</code>", esc(&s.file)),
    );
    let t = &s.trace;
    kv(
        out,
        "Trace",
        &format!(
            "<code>{}</code>: {} packets, {} bytes, {} flows over {}{}",
            esc(&t.source),
            fmt::count(t.packets),
            fmt::count(t.bytes),
            fmt::count(t.flows),
            fmt::ns(t.duration_ns as f64),
            if t.description.is_empty() {
                String::new()
            } else {
                format!("; {}", esc(&t.description))
            }
        ),
    );
    let rs = &s.ruleset;
    kv(
        out,
        "Ruleset",
        &format!(
            "<code>{}</code>: tables {}; {} chains, {} rules; flowtables {}{}",
            esc(&rs.file),
            if rs.tables.is_empty() {
                "none".to_string()
            } else {
                esc(&rs.tables.join(", "))
            },
            rs.chains,
            rs.rules,
            if rs.flowtables.is_empty() {
                "none".to_string()
            } else {
                esc(&rs.flowtables.join(", "))
            },
            if rs.description.is_empty() {
                String::new()
            } else {
                format!("; {}", esc(&rs.description))
            }
        ),
    );
    kv(
        out,
        "CPU",
        &format!(
            "{}: {} core(s) at {} MHz{}",
            esc(&s.cpu.preset),
            s.cpu.cores,
            fmt::sig3(s.cpu.freq_hz / 1e6),
            if s.cpu.description.is_empty() {
                String::new()
            } else {
                format!("; {}", esc(&s.cpu.description))
            }
        ),
    );
    kv(
        out,
        "NIC",
        &format!(
            "{}: {} hardware flow entries, line rate {}{}",
            esc(&s.nic.preset),
            fmt::count(s.nic.table_capacity),
            fmt::bps(s.nic.line_rate_bps),
            if s.nic.description.is_empty() {
                String::new()
            } else {
                format!("; {}", esc(&s.nic.description))
            }
        ),
    );
    kv(out, "Kernel", &esc(&s.kernel));
    let rp = &s.replay;
    let mut replay = esc(&rp.mode);
    match rp.mode.as_str() {
        "speedup" => {
            let _ = write!(replay, " ×{}", fmt::sig3(rp.speedup));
        }
        "rate-pps" => {
            let _ = write!(replay, " at {}", fmt::pps(rp.target_pps));
        }
        "rate-bps" => {
            let _ = write!(replay, " at {}", fmt::bps(rp.target_bps));
        }
        _ => {}
    }
    let _ = write!(
        replay,
        ", {} pass(es), {} simulated",
        rp.loops,
        fmt::ns(rp.duration_ns as f64)
    );
    if !rp.description.is_empty() {
        let _ = write!(replay, "; {}", esc(&rp.description));
    }
    kv(out, "Replay", &replay);
    kv(out, "Seed", &s.seed.to_string());
    if let Some(slo) = &s.slo {
        let mut parts = Vec::new();
        if let Some(v) = slo.p99_latency_ns {
            parts.push(format!("p99 ≤ {}", fmt::ns(v as f64)));
        }
        if let Some(v) = slo.p999_latency_ns {
            parts.push(format!("p99.9 ≤ {}", fmt::ns(v as f64)));
        }
        if let Some(v) = slo.max_drop_rate {
            parts.push(format!("drops ≤ {}", fmt::pct(v)));
        }
        if let Some(v) = slo.max_cpu_util {
            parts.push(format!("CPU ≤ {}", fmt::pct(v)));
        }
        let mut text = parts.join(", ");
        if !slo.description.is_empty() {
            let _ = write!(text, " ({})", esc(&slo.description));
        }
        kv(out, "SLO", &text);
    }
    for (k, v) in &s.details {
        kv(out, k, &esc(v));
    }
    h(out, "</tbody>\n</table>\n</section>\n");
}

fn summary_section(out: &mut String, r: &Report) {
    h(
        out,
        "<section id=\"summary\">\n<h2>Configurations side by side</h2>\n",
    );
    if r.runs.is_empty() {
        h(
            out,
            "<p class=\"muted\">No configuration was simulated.</p>\n</section>\n",
        );
        return;
    }
    table_head(
        out,
        &[
            "configuration",
            "offered",
            "delivered",
            "delivered pps",
            "drops",
            "p50",
            "p99",
            "p99.9",
            "max",
            "CPU mean",
            "cycles/pkt",
            "power",
            "energy/pkt",
            "CPU saved",
            "power saved",
            "SLO",
        ],
    );
    for run in &r.runs {
        let t = &run.throughput;
        let l = &run.latency_ns;
        let (cpu_saved, power_saved) = match &run.savings {
            Some(s) => (
                format!("{} pts", fmt::sig3(s.cpu_util * 100.0)),
                format!(
                    "{} ({})",
                    fmt::watts(s.power_w),
                    fmt::pct(s.power_pct / 100.0)
                ),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        let slo = match &run.slo {
            Some(s) if s.met => "<span class=\"met\">met</span>".to_string(),
            Some(_) => "<span class=\"missed\">missed</span>".to_string(),
            None => "-".to_string(),
        };
        row(
            out,
            &run.name,
            &[
                fmt::bps(t.offered_bps),
                fmt::bps(t.delivered_bps),
                fmt::pps(t.delivered_pps),
                format!(
                    "{} ({})",
                    fmt::count(run.drops.total),
                    share(run.drops.total, t.offered_packets)
                ),
                fmt::ns(l.p50 as f64),
                fmt::ns(l.p99 as f64),
                fmt::ns(l.p999 as f64),
                fmt::ns(l.max as f64),
                fmt::pct(run.cpu.util_mean),
                fmt::sig3(run.cpu.cycles_per_packet),
                fmt::watts(run.power_w.total),
                fmt::nanojoules(run.energy.per_packet_nj),
                cpu_saved,
                power_saved,
                slo,
            ],
        );
    }
    table_end(out);
    let with_drops: Vec<&Run> = r.runs.iter().filter(|x| x.drops.total > 0).collect();
    if !with_drops.is_empty() {
        h(out, "<h3>Drops by reason</h3>\n");
        table_head(out, &["configuration", "total", "by reason"]);
        for run in with_drops {
            row(
                out,
                &run.name,
                &[
                    fmt::count(run.drops.total),
                    top_reasons(&run.drops.by_reason, 6),
                ],
            );
        }
        table_end(out);
    }
    h(out, "</section>\n");
}

fn paths_section(out: &mut String, r: &Report) {
    h(out, "<section id=\"paths\">\n<h2>Path mix</h2>\n");
    h(
        out,
        "<p>Where forwarded packets went: the CPU slow path (netfilter hooks, conntrack, rules), the software flowtable fast path, or the NIC's hardware flow table.</p>\n",
    );
    table_head(
        out,
        &[
            "configuration",
            "slow path",
            "software fast path",
            "hardware",
            "cycles/pkt slow",
            "cycles/pkt sw",
            "p99 slow",
            "p99 sw",
            "p99 hw",
        ],
    );
    for run in &r.runs {
        let p = &run.paths;
        let t = p.total();
        let c = &run.cpu.cycles_per_packet_by_path;
        let lp = &run.latency_ns.by_path;
        let lat = |s: &crate::schema::LatencyStats| {
            if s.count > 0 {
                fmt::ns(s.p99 as f64)
            } else {
                "-".to_string()
            }
        };
        row(
            out,
            &run.name,
            &[
                format!("{} ({})", fmt::count(p.slow), share(p.slow, t)),
                format!("{} ({})", fmt::count(p.sw_fast), share(p.sw_fast, t)),
                format!("{} ({})", fmt::count(p.hw), share(p.hw, t)),
                fmt::sig3(c.slow),
                fmt::sig3(c.sw_fast),
                lat(&lp.slow),
                lat(&lp.sw_fast),
                lat(&lp.hw),
            ],
        );
    }
    table_end(out);
    // CPU cycles by stage: what costs what.
    let mut stages: Vec<&String> = Vec::new();
    for run in &r.runs {
        for k in run.cpu.cycles_by_stage.keys() {
            if !stages.contains(&k) {
                stages.push(k);
            }
        }
    }
    stages.sort();
    if !stages.is_empty() && r.runs.len() <= 6 {
        h(
            out,
            "<h3>CPU cycles by stage</h3>\n<div class=\"scroll\"><table>\n<thead><tr><th class=\"l\">stage</th>",
        );
        for run in &r.runs {
            let _ = write!(out, "<th>{}</th>", esc(&run.name));
        }
        h(out, "</tr></thead>\n<tbody>\n");
        for st in stages {
            let cells: Vec<String> = r
                .runs
                .iter()
                .map(|run| {
                    let v = run.cpu.cycles_by_stage.get(st).copied().unwrap_or(0);
                    format!("{} ({})", fmt::count(v), share(v, run.cpu.total_cycles))
                })
                .collect();
            row(out, st, &cells);
        }
        table_end(out);
    }
    h(out, "</section>\n");
}

fn flows_section(out: &mut String, r: &Report) {
    h(
        out,
        "<section id=\"flows\">\n<h2>Flows: offloaded or not, and why</h2>\n",
    );
    table_head(
        out,
        &[
            "configuration",
            "flows",
            "in software flowtable",
            "in hardware",
            "not offloaded",
            "why not offloaded (top)",
            "refused by hardware",
            "fell back to slow path",
            "teardown",
        ],
    );
    for run in &r.runs {
        let f = &run.flows;
        let not: u64 = f.not_offloaded.values().sum();
        row(
            out,
            &run.name,
            &[
                fmt::count(f.total),
                format!(
                    "{} ({})",
                    fmt::count(f.offloaded_sw),
                    share(f.offloaded_sw, f.total)
                ),
                format!(
                    "{} ({})",
                    fmt::count(f.offloaded_hw),
                    share(f.offloaded_hw, f.total)
                ),
                format!("{} ({})", fmt::count(not), share(not, f.total)),
                top_reasons(&f.not_offloaded, 4),
                top_reasons(&f.hw_refused, 3),
                top_reasons(&f.fell_back, 3),
                top_reasons(&f.teardown, 3),
            ],
        );
    }
    table_end(out);
    let with_examples: Vec<&Run> = r
        .runs
        .iter()
        .filter(|x| !x.flows.examples.is_empty())
        .collect();
    if !with_examples.is_empty() && r.kind != ReportKind::Sweep {
        h(out, "<h3>Example flows</h3>\n");
        table_head(
            out,
            &[
                "configuration",
                "flow",
                "packets",
                "bytes",
                "ended on",
                "reason",
            ],
        );
        for run in with_examples {
            for ex in &run.flows.examples {
                let _ = writeln!(
                    out,
                    "<tr><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                    esc(&run.name),
                    esc(&ex.flow),
                    fmt::count(ex.packets),
                    fmt::count(ex.bytes),
                    esc(&ex.outcome),
                    esc(&ex.reason)
                );
            }
        }
        table_end(out);
    }
    h(out, "</section>\n");
}

fn nic_section(out: &mut String, r: &Report) {
    let runs: Vec<&Run> = r
        .runs
        .iter()
        .filter(|x| x.nic.capacity > 0 || x.nic.inserts > 0 || x.nic.hits > 0)
        .collect();
    h(out, "<section id=\"nic\">\n<h2>Hardware flow table</h2>\n");
    if runs.is_empty() {
        h(
            out,
            "<p class=\"muted\">No configuration used the hardware flow table.</p>\n</section>\n",
        );
        return;
    }
    table_head(
        out,
        &[
            "configuration",
            "capacity",
            "peak occupancy",
            "mean occupancy",
            "inserts",
            "refusals",
            "refusal reasons",
            "evictions",
            "deletes",
            "hits",
            "misses",
            "bind checks",
            "punts",
        ],
    );
    for run in runs {
        let n = &run.nic;
        row(
            out,
            &run.name,
            &[
                fmt::count(n.capacity),
                format!(
                    "{} ({})",
                    fmt::count(n.peak_occupancy),
                    share(n.peak_occupancy, n.capacity)
                ),
                fmt::sig3(n.mean_occupancy),
                fmt::count(n.inserts),
                format!(
                    "{} ({})",
                    fmt::count(n.refusals),
                    share(n.refusals, n.inserts + n.refusals)
                ),
                top_reasons(&n.refusals_by_reason, 4),
                fmt::count(n.evictions),
                fmt::count(n.deletes),
                fmt::count(n.hits),
                fmt::count(n.misses),
                fmt::count(n.bind_checks),
                fmt::count(n.punts),
            ],
        );
    }
    table_end(out);
    h(out, "</section>\n");
}

fn slo_section(out: &mut String, r: &Report) {
    let runs: Vec<&Run> = r.runs.iter().filter(|x| x.slo.is_some()).collect();
    if runs.is_empty() {
        return;
    }
    h(out, "<section id=\"slo\">\n<h2>SLO verdicts</h2>\n");
    table_head(
        out,
        &[
            "configuration",
            "verdict",
            "check",
            "limit",
            "measured",
            "result",
        ],
    );
    for run in runs {
        let Some(s) = &run.slo else { continue };
        let verdict = if s.met {
            "<span class=\"met\">met</span>"
        } else {
            "<span class=\"missed\">missed</span>"
        };
        if s.checks.is_empty() {
            row(
                out,
                &run.name,
                &[
                    verdict.to_string(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ],
            );
        }
        for c in &s.checks {
            let val = |v: f64| match c.unit.as_str() {
                "ns" => fmt::ns(v),
                "fraction" => fmt::pct(v),
                "bps" => fmt::bps(v),
                "pps" => fmt::pps(v),
                u => format!("{} {}", fmt::sig3(v), esc(u)),
            };
            row(
                out,
                &run.name,
                &[
                    verdict.to_string(),
                    format!("<code>{}</code>", esc(&c.metric)),
                    format!("≤ {}", val(c.limit)),
                    val(c.actual),
                    if c.met {
                        "<span class=\"met\">ok</span>".into()
                    } else {
                        "<span class=\"missed\">over</span>".into()
                    },
                ],
            );
        }
    }
    table_end(out);
    h(out, "</section>\n");
}

fn sweep_section(out: &mut String, r: &Report) {
    let Some(sw) = &r.sweep else { return };
    h(out, "<section id=\"sweep\">\n<h2>Sweep</h2>\n");
    let _ = writeln!(
        out,
        "<p>{} point(s) of {} over {}.</p>",
        sw.points.len(),
        sw.total_points,
        if sw.parameters.is_empty() {
            "no parameter".to_string()
        } else {
            esc(&sw.parameters.join(" × "))
        }
    );
    if let Some(sh) = sw.shard {
        let _ = writeln!(
            out,
            "<p class=\"warn\">This is shard {} of {}: merge the shards with <code>offsim merge</code> for the whole grid.</p>",
            sh.index, sh.count
        );
    }
    h(out, "<div class=\"scroll\"><table>\n<thead><tr><th>#</th>");
    for p in &sw.parameters {
        let _ = write!(out, "<th>{}</th>", esc(p));
    }
    h(
        out,
        "<th class=\"l\">run</th><th>delivered</th><th>p99</th><th>CPU</th><th>hardware share</th><th>HW refusals</th><th>SLO</th></tr></thead>\n<tbody>\n",
    );
    for p in &sw.points {
        for (k, name) in p.runs.iter().enumerate() {
            let Some(run) = r.run(name) else { continue };
            h(out, "<tr>");
            if k == 0 {
                let span = p.runs.len();
                let _ = write!(out, "<td rowspan=\"{span}\">{}</td>", p.index);
                for param in &sw.parameters {
                    let v = p
                        .values
                        .get(param)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into());
                    let _ = write!(out, "<td rowspan=\"{span}\">{}</td>", esc(&v));
                }
            }
            let slo = match &run.slo {
                Some(s) if s.met => "<span class=\"met\">met</span>",
                Some(_) => "<span class=\"missed\">missed</span>",
                None => "-",
            };
            let _ = writeln!(
                out,
                "<td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&run.policy),
                fmt::bps(run.throughput.delivered_bps),
                fmt::ns(run.latency_ns.p99 as f64),
                fmt::pct(run.cpu.util_mean),
                fmt::pct(run.paths.shares().2),
                fmt::count(run.nic.refusals),
                slo
            );
        }
    }
    table_end(out);
    let point_warnings: Vec<(u64, &String)> = sw
        .points
        .iter()
        .flat_map(|p| p.warnings.iter().map(move |w| (p.index, w)))
        .collect();
    if !point_warnings.is_empty() {
        h(out, "<h3>Point warnings</h3>\n");
        for (i, w) in point_warnings {
            let _ = writeln!(out, "<p class=\"warn\">point {i}: {}</p>", esc(w));
        }
    }
    h(out, "</section>\n");
}

fn plan_section(out: &mut String, r: &Report) {
    let Some(plan) = &r.plan else { return };
    h(out, "<section id=\"plan\">\n<h2>Capacity plan</h2>\n");
    match plan_sentence(r) {
        Some(s) => {
            let _ = writeln!(
                out,
                "<p class=\"headline\"><strong>{}</strong></p>",
                esc(&s)
            );
        }
        None => h(
            out,
            "<p><strong>No configuration met the SLO at any probed rate.</strong></p>\n",
        ),
    }
    table_head(
        out,
        &[
            "configuration",
            "highest rate within SLO",
            "packets/s",
            "limited by",
            "probed rates",
        ],
    );
    for c in &plan.configs {
        row(
            out,
            &c.name,
            &[
                c.max_bps.map_or("none".to_string(), fmt::bps),
                c.max_pps.map_or("-".to_string(), fmt::pps),
                if c.limited_by.is_empty() {
                    "-".into()
                } else {
                    format!("<code>{}</code>", esc(&c.limited_by))
                },
                c.points.len().to_string(),
            ],
        );
    }
    table_end(out);
    for c in &plan.configs {
        let _ = writeln!(out, "<h3>Probed rates: {}</h3>", esc(&c.name));
        table_head(
            out,
            &[
                "offered",
                "offered pps",
                "delivered",
                "p99",
                "drops",
                "CPU",
                "SLO",
            ],
        );
        for p in &c.points {
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt::bps(p.offered_bps),
                fmt::pps(p.offered_pps),
                fmt::bps(p.delivered_bps),
                fmt::ns(p.p99_ns as f64),
                fmt::pct(p.drop_rate),
                fmt::pct(p.cpu_util),
                if p.met {
                    "<span class=\"met\">met</span>"
                } else {
                    "<span class=\"missed\">missed</span>"
                }
            );
        }
        table_end(out);
    }
    h(out, "</section>\n");
}

fn charts_section(out: &mut String, charts: &[Chart]) {
    if charts.is_empty() {
        return;
    }
    h(out, "<section id=\"charts\">\n<h2>Charts</h2>\n");
    for c in charts {
        let height = match c.kind {
            crate::charts::ChartKind::Nic | crate::charts::ChartKind::PlanKnee => {
                crate::charts::HEIGHT_TALL
            }
            _ => HEIGHT,
        };
        let stem = esc(&c.stem);
        let _ = writeln!(
            out,
            "<figure><img src=\"{stem}.png\" width=\"{WIDTH}\" height=\"{height}\" alt=\"{}\"><figcaption>{} · <a href=\"{stem}.svg\">SVG</a></figcaption></figure>",
            esc(&c.title),
            esc(&c.title)
        );
    }
    h(out, "</section>\n");
}

/// The whole page for `report`, listing `charts` (from [`crate::charts::plan_charts`]) as
/// sibling `<stem>.png` images.
pub fn page(report: &Report, charts: &[Chart]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let name = esc(&report.scenario.name);
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; script-src 'sha256-{}'",
        crate::sha256::base64_sha256(IMAGE_CHECK_SCRIPT.as_bytes())
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"generator\" content=\"{} {}\">\n<title>offsim report: {name}</title>\n<style>\n{CSS}</style>\n</head>\n\
<body data-images-ok=\"pending\">\n<header>\n<h1>offsim report: {name}</h1>\n",
        esc(&report.tool.name),
        esc(&report.tool.version)
    );
    let _ = writeln!(
        out,
        "<p class=\"sub\">{} report · {} configuration(s) · {} {} · schema <code>{}</code></p>\n</header>",
        report.kind.as_str(),
        report.runs.len(),
        esc(&report.tool.name),
        esc(&report.tool.version),
        esc(&report.schema)
    );
    h(
        &mut out,
        "<nav><a href=\"#findings\">Findings</a><a href=\"#scenario\">Scenario</a><a href=\"#summary\">Configurations</a><a href=\"#paths\">Paths</a><a href=\"#flows\">Flows</a><a href=\"#nic\">Hardware table</a>",
    );
    if report.runs.iter().any(|r| r.slo.is_some()) {
        h(&mut out, "<a href=\"#slo\">SLO</a>");
    }
    if report.sweep.is_some() {
        h(&mut out, "<a href=\"#sweep\">Sweep</a>");
    }
    if report.plan.is_some() {
        h(&mut out, "<a href=\"#plan\">Plan</a>");
    }
    if !charts.is_empty() {
        h(&mut out, "<a href=\"#charts\">Charts</a>");
    }
    h(&mut out, "</nav>\n");
    h(
        &mut out,
        "<section id=\"findings\">\n<h2>Findings</h2>\n<ul class=\"findings\">\n",
    );
    for f in findings(report) {
        let _ = writeln!(out, "<li>{}</li>", esc(&f));
    }
    h(&mut out, "</ul>\n</section>\n");
    if !report.warnings.is_empty() {
        h(&mut out, "<section id=\"warnings\">\n<h2>Warnings</h2>\n");
        for w in &report.warnings {
            let _ = writeln!(out, "<p class=\"warn\">{}</p>", esc(w));
        }
        h(&mut out, "</section>\n");
    }
    plan_section(&mut out, report);
    sweep_section(&mut out, report);
    scenario_section(&mut out, report);
    summary_section(&mut out, report);
    paths_section(&mut out, report);
    flows_section(&mut out, report);
    nic_section(&mut out, report);
    slo_section(&mut out, report);
    charts_section(&mut out, charts);
    let _ = writeln!(
        out,
        "<footer>Generated by {} {} from <code>report.json</code> (schema <code>{}</code>). Open <code>report.json</code> for every figure.</footer>",
        esc(&report.tool.name),
        esc(&report.tool.version),
        esc(&report.schema)
    );
    let _ = writeln!(
        out,
        "<script>{IMAGE_CHECK_SCRIPT}</script>\n</body>\n</html>"
    );
    out
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::example;

    #[test]
    fn plan_sentence_names_both_modes() {
        let s = plan_sentence(&example::plan_report()).unwrap();
        assert!(s.starts_with("This setup forwards "), "{s}");
        assert!(s.contains("within the SLO with hardware offload"), "{s}");
        assert!(s.contains("without offload"), "{s}");
    }

    #[test]
    fn findings_mention_every_run_and_the_slo() {
        let r = example::run_report();
        let f = findings(&r);
        for run in &r.runs {
            assert!(
                f.iter().any(|s| s.starts_with(&format!("{}:", run.name))),
                "{f:?}"
            );
        }
        assert!(f.iter().any(|s| s.starts_with("SLO")), "{f:?}");
    }
}
