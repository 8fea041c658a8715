//! The sections about the runs: configurations side by side (a headline that fits the
//! screen, details and drops by reason below it), CPU per core, the path mix and CPU cycles by stage, flow offload outcomes (with example flows), the
//! hardware flow table and the SLO verdicts.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use super::common::{
    count_share, h, row, slo_verdict, table_end, table_head, top_reasons, verdict,
};
use super::glossary::NOT_REFUSALS;
use crate::fmt::{self, esc};
use crate::schema::{DurationStats, LatencyStats, Report, ReportKind, Run};

/// The busiest core of a run as a cell: `core 0: 100 %`, or the mean without per-core
/// figures.
fn busiest_cell(run: &Run) -> String {
    match run.cpu.busiest_core() {
        Some((i, u)) if run.cpu.util_per_core.len() > 1 => format!(
            "{}{} <span class=\"muted\">core {i}</span>",
            fmt::pct(u),
            if u >= 0.995 { " ⚠" } else { "" }
        ),
        Some((_, u)) => fmt::pct(u),
        None => fmt::pct(run.cpu.util_mean),
    }
}

/// The headline: one narrow row per configuration with the figures that answer "what does
/// offload buy me" (delivered, drops, p99, busiest core, CPU and power saved, SLO); every
/// other figure in the details table below it. Fits 1,280 px.
pub(super) fn summary_section(out: &mut String, r: &Report) {
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
    h(out, "<div id=\"headline\">");
    table_head(
        out,
        &[
            "configuration",
            "delivered / offered",
            "drops",
            "p99 latency",
            "busiest core",
            "CPU saved",
            "power (saved)",
            "SLO",
        ],
    );
    for run in &r.runs {
        let t = &run.throughput;
        let (cpu_saved, power) = match &run.savings {
            Some(s) => (
                format!("{} pts", fmt::sig3(s.cpu_util * 100.0)),
                format!(
                    "{} ({})",
                    fmt::watts(run.power_w.total),
                    fmt::pct(s.power_pct / 100.0)
                ),
            ),
            None => ("-".to_string(), fmt::watts(run.power_w.total)),
        };
        row(
            out,
            &run.name,
            &[
                format!(
                    "{} <span class=\"muted\">/ {}</span>",
                    fmt::bps(t.delivered_bps),
                    fmt::bps(t.offered_bps)
                ),
                count_share(run.drops.total, t.offered_packets),
                fmt::ns(run.latency_ns.overall.p99 as f64),
                busiest_cell(run),
                cpu_saved,
                power,
                slo_verdict(run).to_string(),
            ],
        );
    }
    table_end(out);
    h(
        out,
        "</div>\n<p class=\"muted\">Busiest core: the utilisation of the most loaded core (⚠ saturated); the mean hides a saturated RX-ring core. CPU saved: mean utilisation against the baseline, in points.</p>\n",
    );
    h(out, "<h3 id=\"details\">Details</h3>\n");
    table_head(
        out,
        &[
            "configuration",
            "delivered pps",
            "new conn/s",
            "p50",
            "p99.9",
            "max",
            "CPU mean",
            "cycles/pkt",
            "energy/pkt",
            "power saved",
        ],
    );
    for run in &r.runs {
        let l = &run.latency_ns.overall;
        row(
            out,
            &run.name,
            &[
                fmt::pps(run.throughput.delivered_pps),
                fmt::sig3(run.throughput.cps),
                fmt::ns(l.p50 as f64),
                fmt::ns(l.p999 as f64),
                fmt::ns(l.max as f64),
                fmt::pct(run.cpu.util_mean),
                fmt::sig3(run.cpu.cycles_per_packet),
                fmt::nanojoules(run.energy.per_packet_nj),
                run.savings
                    .as_ref()
                    .map_or("-".to_string(), |s| fmt::watts(s.power_w)),
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

/// Per-core CPU utilisation: one row per configuration, one column per core, the busiest
/// core in bold (not in sweeps, whose table has the busiest core).
pub(super) fn cores_section(out: &mut String, r: &Report) {
    let cores = r
        .runs
        .iter()
        .map(|x| x.cpu.util_per_core.len())
        .max()
        .unwrap_or(0);
    if cores == 0 || r.kind == ReportKind::Sweep {
        return;
    }
    h(out, "<section id=\"cores\">\n<h2>CPU per core</h2>\n");
    let names: Vec<String> = (0..cores).map(|c| format!("core {c}")).collect();
    let mut cols: Vec<&str> = vec!["configuration", "mean"];
    cols.extend(names.iter().map(String::as_str));
    table_head(out, &cols);
    for run in &r.runs {
        let busiest = run.cpu.busiest_core().map(|(i, _)| i);
        let mut cells = vec![fmt::pct(run.cpu.util_mean)];
        for c in 0..cores {
            cells.push(match run.cpu.util_per_core.get(c) {
                Some(&u) if Some(c) == busiest && cores > 1 => {
                    format!("<strong>{}</strong>", fmt::pct(u))
                }
                Some(&u) => fmt::pct(u),
                None => "-".to_string(),
            });
        }
        row(out, &run.name, &cells);
    }
    table_end(out);
    h(out, "</section>\n");
}

/// Where forwarded packets went, per configuration, then CPU cycles by stage (for up to
/// six configurations).
pub(super) fn paths_section(out: &mut String, r: &Report) {
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
        let lat = |s: &LatencyStats| {
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
                count_share(p.slow, t),
                count_share(p.sw_fast, t),
                count_share(p.hw, t),
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
                    count_share(v, run.cpu.total_cycles)
                })
                .collect();
            row(out, st, &cells);
        }
        table_end(out);
    }
    h(out, "</section>\n");
}

/// The entries of `m` whose code is (`kept` true) or is not a binding-policy code (see
/// [`NOT_REFUSALS`]).
fn only(m: &BTreeMap<String, u64>, kept: bool) -> BTreeMap<String, u64> {
    m.iter()
        .filter(|(k, _)| NOT_REFUSALS.contains(&k.as_str()) == kept)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Flow offload outcomes and their reasons, then the example flows (not in sweeps).
pub(super) fn flows_section(out: &mut String, r: &Report) {
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
            "kept in software by the NIC",
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
                count_share(f.offloaded_sw, f.total),
                count_share(f.offloaded_hw, f.total),
                count_share(not, f.total),
                top_reasons(&f.not_offloaded, 4),
                top_reasons(&only(&f.hw_refused, true), 3),
                top_reasons(&only(&f.hw_refused, false), 3),
                top_reasons(&f.fell_back, 3),
                top_reasons(&f.teardown, 3),
            ],
        );
    }
    table_end(out);
    time_to_offload(out, r);
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

/// The hardware flow table figures of the configurations that used it.
pub(super) fn nic_section(out: &mut String, r: &Report) {
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
                count_share(n.peak_occupancy, n.capacity),
                fmt::sig3(n.mean_occupancy),
                fmt::count(n.inserts),
                count_share(n.refusals, n.inserts + n.refusals),
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

/// One row per SLO check of each configuration with an SLO.
pub(super) fn slo_section(out: &mut String, r: &Report) {
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
        let word = verdict(s.met);
        if s.checks.is_empty() {
            row(
                out,
                &run.name,
                &[
                    word.to_string(),
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
                    word.to_string(),
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

/// From a flow's first packet to its first flowtable entry and to hardware, per
/// configuration that offloads anything.
fn time_to_offload(out: &mut String, r: &Report) {
    let runs: Vec<&Run> = r
        .runs
        .iter()
        .filter(|x| x.flows.time_to_flowtable_ns.is_some())
        .collect();
    if runs.is_empty() || r.kind == ReportKind::Sweep {
        return;
    }
    h(out, "<h3>Time to offload (first packet to entry)</h3>\n");
    table_head(
        out,
        &[
            "configuration",
            "flowtable p50",
            "flowtable p99",
            "hardware: flows",
            "hardware p50",
            "hardware p99",
            "hardware max",
        ],
    );
    let q = |s: &Option<DurationStats>, f: fn(&DurationStats) -> u64| {
        s.as_ref()
            .map_or_else(|| "-".to_string(), |s| fmt::ns(f(s) as f64))
    };
    for run in runs {
        let f = &run.flows;
        row(
            out,
            &run.name,
            &[
                q(&f.time_to_flowtable_ns, |s| s.p50),
                q(&f.time_to_flowtable_ns, |s| s.p99),
                fmt::count(f.time_to_hardware_ns.as_ref().map_or(0, |s| s.count)),
                q(&f.time_to_hardware_ns, |s| s.p50),
                q(&f.time_to_hardware_ns, |s| s.p99),
                q(&f.time_to_hardware_ns, |s| s.max),
            ],
        );
    }
    table_end(out);
}
