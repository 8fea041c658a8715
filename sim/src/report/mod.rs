//! The report of a run, built in one place: per-run figures from an engine's measurements
//! ([`run_report`]), savings against the `none` run, warnings, the scenario section, and the
//! plain-text summary `offsim run` prints.

use std::collections::BTreeMap;

use offsim_kernel::Path as PktPath;
use offsim_kernel::flows::FlowTotals;
use offsim_nicmodel::NicStats;
use offsim_reports::fmt::{dur, si};
use offsim_reports::schema as rep;
use offsim_traces::time::NS_PER_SEC;

use crate::cpu::CpuConfig;
use crate::engine::{Engine, Measure};
use crate::prepare::Prepared;
use crate::scenario::{Admission, Policy, Scenario};
use crate::source::Findings;
use offsim_traces::histogram::Histogram;

mod load;

fn latency_stats(h: &Histogram) -> rep::LatencyStats {
    rep::LatencyStats {
        count: h.count(),
        mean: h.mean(),
        min: h.min(),
        p50: h.quantile(0.50),
        p90: h.quantile(0.90),
        p99: h.quantile(0.99),
        p999: h.quantile(0.999),
        max: h.max(),
        histogram: h
            .buckets(200)
            .into_iter()
            .map(|(le_ns, count)| rep::HistogramBucket { le_ns, count })
            .collect(),
    }
}

/// A distribution's quantiles, or `None` without samples.
pub(crate) fn duration_stats(h: &Histogram) -> Option<rep::DurationStats> {
    (h.count() > 0).then(|| rep::DurationStats {
        count: h.count(),
        mean: h.mean(),
        min: h.min(),
        p50: h.quantile(0.50),
        p90: h.quantile(0.90),
        p99: h.quantile(0.99),
        max: h.max(),
    })
}

/// Builds one report run from an engine's measurements. `prefix` names sweep points.
pub fn run_report(p: &Prepared, policy: &Policy, e: &mut Engine, prefix: &str) -> rep::Run {
    let span_ns = e.span_ns();
    let secs = span_ns as f64 / NS_PER_SEC as f64;
    let nic_stats = e.nic_stats();
    let e = &*e;
    let m = e.measure();
    let cpu = e.cpu();
    let cpu_section = cpu_figures(m, cpu, span_ns);
    let latency = latency(m);
    let nic_power = e.nic().power(offsim_traces::SimDuration(span_ns));
    let cpu_power = cpu.power.platform_w
        + cpu_section
            .util_per_core
            .iter()
            .map(|u| u * cpu.power.core_dynamic_w)
            .sum::<f64>();
    let total_w = cpu_power + nic_power.total_w;
    let energy = total_w * secs;
    let drops_total: u64 = m.drops.values().sum();
    let slo = slo_result(p, &latency, m.capacity_drops, m.offered, &cpu_section);
    let hs = e.sender_stats();
    let name = if prefix.is_empty() {
        policy.name.clone()
    } else {
        format!("{prefix}/{}", policy.name)
    };
    rep::Run {
        name,
        policy: policy.name.clone(),
        description: policy_description(policy),
        baseline: None,
        duration_ns: span_ns,
        throughput: rep::Throughput {
            offered_pps: m.offered as f64 / secs,
            offered_bps: m.offered_bytes as f64 * 8.0 / secs,
            delivered_pps: m.delivered as f64 / secs,
            delivered_bps: m.delivered_bytes as f64 * 8.0 / secs,
            offered_packets: m.offered,
            delivered_packets: m.delivered,
            offered_bytes: m.offered_bytes,
            delivered_bytes: m.delivered_bytes,
            offered_wire_bps: wire_bits(m.offered_bytes, m.offered) / secs,
            delivered_wire_bps: wire_bits(m.delivered_bytes, m.delivered) / secs,
            connections: m.connections,
            cps: m.connections as f64 / secs,
        },
        latency_ns: latency,
        paths: rep::Paths {
            slow: m.paths[PktPath::Slow.index()],
            sw_fast: m.paths[PktPath::SwFast.index()],
            hw: m.paths[PktPath::Hw.index()],
        },
        cpu: cpu_section,
        nic: nic_figures(e, policy, &nic_stats, span_ns),
        drops: rep::Drops {
            total: drops_total,
            by_reason: m.drops.clone(),
            capacity: m.capacity_drops,
            rx_ring_full_by_core: if m.ring_drops.iter().any(|&d| d > 0) {
                m.ring_drops.clone()
            } else {
                Vec::new()
            },
            by_port: port_drops(p, m),
        },
        power_w: rep::Power {
            cpu: cpu_power,
            nic: nic_power.total_w,
            total: total_w,
        },
        energy: rep::Energy {
            total_j: energy,
            per_packet_nj: if m.delivered == 0 {
                0.0
            } else {
                energy / m.delivered as f64 * 1e9
            },
        },
        savings: None,
        flows: flow_figures(e.datapath().flow_totals()),
        conntrack: conntrack_figures(p, e),
        handshakes: rep::Handshakes {
            deferred: hs.deferred,
            retransmissions: hs.retransmissions,
            abandoned: hs.abandoned,
            unsent: hs.unsent + hs.held_at_end,
        },
        slo,
        series: series(p, m, cpu.cores, policy.hardware),
        rules: rule_counters(e.datapath()),
        events: load::event_reports(e),
        egress: load::egress_reports(e),
        closed_loop: load::closed_loop_report(e, span_ns),
    }
}

/// The conntrack table's limit and what it did, when the scenario sets one.
fn conntrack_figures(p: &Prepared, e: &Engine) -> Option<rep::ConntrackTable> {
    let k = &p.scenario.spec.kernel;
    if k.conntrack_max.is_none() && k.conntrack_buckets.is_none() {
        return None;
    }
    let ct = e.datapath().conntrack();
    Some(rep::ConntrackTable {
        max: k.conntrack_max.map_or(0, u64::from),
        buckets: u64::from(ct.buckets()),
        peak: ct.stats.peak,
        early_drop: ct.stats.early_drop,
        table_full: ct.stats.drop,
    })
}

/// The run's rule and policy counters for the report (`rules eval`'s, one source).
fn rule_counters(dp: &offsim_kernel::datapath::Datapath) -> Vec<rep::RuleCounter> {
    let (rules, chains) = crate::ruleseval::counters(dp, None);
    let mut v: Vec<rep::RuleCounter> = rules
        .into_iter()
        .map(|r| rep::RuleCounter {
            family: r.family,
            table: r.table,
            chain: r.chain,
            index: Some(r.index as u32),
            packets: r.packets,
            bytes: r.bytes,
        })
        .collect();
    v.extend(chains.into_iter().map(|c| rep::RuleCounter {
        family: c.family,
        table: c.table,
        chain: c.chain,
        index: None,
        packets: c.policy_packets,
        bytes: c.policy_bytes,
    }));
    v
}

/// Port drops by `<device>.<reason>`, the devices named as in the scenario.
fn port_drops(p: &Prepared, m: &Measure) -> BTreeMap<String, u64> {
    let names = [&p.scenario.spec.ruleset.iif, &p.scenario.spec.ruleset.oif];
    let mut out = BTreeMap::new();
    for (i, dev) in names.iter().enumerate() {
        for (what, n) in [
            ("link_overrun", m.overrun_drops[i]),
            ("egress_buffer", m.egress_drops[i]),
        ] {
            if n > 0 {
                out.insert(format!("{dev}.{what}"), n);
            }
        }
    }
    out
}

/// Wire (L1) bits of `packets` frames of `bytes` frame bytes in all: each frame plus the
/// preamble, inter-frame gap and FCS the line carries ([`crate::replay::WIRE_OVERHEAD_BYTES`],
/// the same overhead `replay.rate_gbps` paces by).
fn wire_bits(bytes: u64, packets: u64) -> f64 {
    (bytes + packets * crate::replay::WIRE_OVERHEAD_BYTES) as f64 * 8.0
}

/// Latency overall and per path.
fn latency(m: &Measure) -> rep::Latency {
    let mut latency = rep::Latency::default();
    latency.overall = latency_stats(&m.latency);
    latency.by_path = rep::PathLatency {
        slow: latency_stats(&m.latency_path[PktPath::Slow.index()]),
        sw_fast: latency_stats(&m.latency_path[PktPath::SwFast.index()]),
        hw: latency_stats(&m.latency_path[PktPath::Hw.index()]),
    };
    latency
}

/// The CPU section: utilisation per core (with the preset's housekeeping share), cycles
/// in all, per packet and path, and by stage.
fn cpu_figures(m: &Measure, cpu: &CpuConfig, span_ns: u64) -> rep::Cpu {
    let util_with_hk: Vec<f64> = m
        .busy_ns
        .iter()
        .map(|b| (*b as f64 / span_ns as f64).min(1.0))
        .map(|u| (u + cpu.housekeeping_util).min(1.0))
        .collect();
    let util_mean_hk = if util_with_hk.is_empty() {
        0.0
    } else {
        util_with_hk.iter().sum::<f64>() / util_with_hk.len() as f64
    };
    let total_cycles: f64 = m.busy_ns.iter().map(|b| *b as f64 * cpu.freq_ghz).sum();
    // The first of the busiest cores.
    let (busiest_core, util_busiest) = util_with_hk.iter().enumerate().fold(
        (0, 0.0),
        |best, (i, &u)| if u > best.1 { (i, u) } else { best },
    );
    let per = |c: f64, n: u64| if n == 0 { 0.0 } else { c / n as f64 };
    let (slow, sw) = (PktPath::Slow.index(), PktPath::SwFast.index());
    rep::Cpu {
        util_per_core: util_with_hk,
        util_mean: util_mean_hk,
        util_busiest,
        busiest_core: busiest_core as u16,
        workqueue_peak_backlog_ns: m.wq_peak_backlog_ns,
        total_cycles: total_cycles.round() as u64,
        cycles_per_packet: per(m.cycles_path[slow] + m.cycles_path[sw], m.cpu_packets),
        cycles_per_packet_by_path: rep::PerPath {
            slow: per(m.cycles_path[slow], m.paths[slow]),
            sw_fast: per(m.cycles_path[sw], m.paths[sw]),
            hw: 0.0,
        },
        cycles_by_stage: m
            .cycles_stage
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.round() as u64))
            .collect(),
    }
}

/// The NIC section: its flow table and what the driver did with it.
fn nic_figures(e: &Engine, policy: &Policy, nic_stats: &NicStats, span_ns: u64) -> rep::Nic {
    if !policy.hardware {
        // No flowtable with hardware offload: the NIC's table is not in use.
        return rep::Nic::default();
    }
    let ts = &nic_stats.table;
    let hw = e.hw_counters();
    let usable = u64::from(e.nic().table().usable_capacity());
    rep::Nic {
        capacity: usable,
        peak_occupancy: ts.peak_occupancy.max(e.measure().hw_peak),
        mean_occupancy: ts.mean_occupancy(span_ns),
        inserts: hw.inserts,
        refusals: hw.refusals.values().sum(),
        refusals_by_reason: hw
            .refusals
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        evictions: ts.evictions + ts.aged_bound,
        deletes: hw.deletes,
        hits: ts.hits,
        misses: ts.misses,
        bind_checks: ts.bind_checks,
        punts: nic_stats.datapath.punts.total(),
    }
}

/// The flows section: the aggregates of the closed flow records.
fn flow_figures(t: &FlowTotals) -> rep::Flows {
    rep::Flows {
        total: t.total,
        offloaded_sw: t.offloaded_sw,
        offloaded_hw: t.offloaded_hw,
        not_offloaded: t.not_offloaded.clone(),
        hw_refused: t.hw_refused.clone(),
        fell_back: t.fell_back.clone(),
        teardown: t.teardown.clone(),
        examples: t
            .examples
            .iter()
            .map(|x| rep::FlowExample {
                flow: x.flow.clone(),
                packets: x.packets,
                bytes: x.bytes,
                outcome: x.outcome.clone(),
                reason: x.reason.clone(),
            })
            .collect(),
        time_to_flowtable_ns: duration_stats(&t.to_sw),
        time_to_hardware_ns: duration_stats(&t.to_hw),
    }
}

/// The time series, one value per interval (rates per second over the interval).
fn series(p: &Prepared, m: &Measure, cores: u16, hardware: bool) -> rep::Series {
    let interval_ns = p.series_interval_ns();
    let int_s = interval_ns as f64 / 1e9;
    let mut series = rep::Series {
        interval_ns,
        start_ns: m.start.0,
        ..rep::Series::default()
    };
    let ncores = cores.max(1) as f64;
    let mut prev_ins = 0;
    let mut prev_ref = 0;
    // Interval numbers only when some interval was skipped (an idle gap).
    if m.series
        .iter()
        .enumerate()
        .any(|(i, s)| s.index != i as u64)
    {
        series.index = m.series.iter().map(|s| s.index).collect();
    }
    for s in &m.series {
        series.offered_pps.push(s.offered as f64 / int_s);
        series
            .offered_bps
            .push(s.offered_bytes as f64 * 8.0 / int_s);
        series.delivered_pps.push(s.delivered as f64 / int_s);
        series
            .delivered_bps
            .push(s.delivered_bytes as f64 * 8.0 / int_s);
        series
            .cpu_util
            .push((s.busy_ns as f64 / (int_s * 1e9 * ncores)).min(1.0));
        series.hw_occupancy.push(s.hw_occupancy);
        series.hw_inserts.push(s.hw_inserts_total - prev_ins);
        series.hw_refusals.push(s.hw_refusals_total - prev_ref);
        prev_ins = s.hw_inserts_total;
        prev_ref = s.hw_refusals_total;
        series.slow.push(s.paths[PktPath::Slow.index()]);
        series.sw_fast.push(s.paths[PktPath::SwFast.index()]);
        series.hw.push(s.paths[PktPath::Hw.index()]);
        series.drops.push(s.drops);
        series.latency_p99_ns.push(s.p99_ns);
    }
    if hardware {
        series.hw_backlog = m.series.iter().map(|s| s.hw_backlog).collect();
    }
    series
}

fn policy_description(p: &Policy) -> String {
    let base = match (p.flowtable, p.hardware) {
        (false, _) => "no flow offload: every packet takes the classic path".to_string(),
        (true, false) => "software flowtable (flags offload ignored)".to_string(),
        (true, true) => "software flowtable with hardware offload to the NIC".to_string(),
    };
    let mut extra = Vec::new();
    if p.after_packets > 0 {
        extra.push(format!("offload after {} packets", p.after_packets));
    }
    if p.after_bytes > 0 {
        extra.push(format!("offload after {} bytes", p.after_bytes));
    }
    if p.min_pps > 0.0 {
        extra.push(format!("only flows above {} pkt/s", p.min_pps));
    }
    if p.admission != Admission::Refuse {
        extra.push(format!("table-full admission {:?}", p.admission));
    }
    if extra.is_empty() {
        base
    } else {
        format!("{base}; what-if: {}", extra.join(", "))
    }
}

/// The run against `[slo]`. The drop rate counts only what the router failed to forward
/// for lack of capacity (RFC 2544 loss): a ruleset's verdicts and the trace's own expired or
/// malformed packets are not the box's failure. `max_cpu` gates on the busiest core (one
/// saturated RX-ring core is saturation, whatever the mean), `max_cpu_mean` on the mean.
fn slo_result(
    p: &Prepared,
    lat: &rep::Latency,
    capacity_drops: u64,
    offered: u64,
    cpu: &rep::Cpu,
) -> Option<rep::SloResult> {
    let s = &p.scenario.spec.slo;
    if !s.any() {
        return None;
    }
    let mut checks = Vec::new();
    let mut check = |metric: &str, limit: f64, actual: f64, unit: &str| {
        checks.push(rep::SloCheck {
            metric: metric.into(),
            limit,
            actual,
            unit: unit.into(),
            met: actual <= limit,
        });
    };
    if let Some(l) = s.p99_latency_us {
        check("latency_ns.p99", l * 1000.0, lat.overall.p99 as f64, "ns");
    }
    if let Some(d) = s.max_drop_rate {
        let rate = if offered == 0 {
            0.0
        } else {
            capacity_drops as f64 / offered as f64
        };
        check("drop_rate", d, rate, "fraction");
    }
    if let Some(c) = s.max_cpu {
        check("cpu.util_busiest", c, cpu.util_busiest, "fraction");
    }
    if let Some(c) = s.max_cpu_mean {
        check("cpu.util_mean", c, cpu.util_mean, "fraction");
    }
    Some(rep::SloResult {
        met: checks.iter().all(|c| c.met),
        checks,
    })
}

/// Savings of `r` against `base`.
fn savings(base: &rep::Run, r: &rep::Run) -> rep::Savings {
    let pct = |b: f64, x: f64| {
        if b.abs() < f64::EPSILON {
            0.0
        } else {
            (b - x) / b * 100.0
        }
    };
    rep::Savings {
        cpu_util: base.cpu.util_mean - r.cpu.util_mean,
        cpu_cycles_pct: pct(base.cpu.total_cycles as f64, r.cpu.total_cycles as f64),
        power_w: base.power_w.total - r.power_w.total,
        power_pct: pct(base.power_w.total, r.power_w.total),
        energy_j: base.energy.total_j - r.energy.total_j,
        energy_per_packet_pct: pct(base.energy.per_packet_nj, r.energy.per_packet_nj),
    }
}

/// The scenario section of a report.
pub(crate) fn scenario_info(p: &Prepared) -> rep::Scenario {
    let sc = &p.scenario;
    let rs = &p.ruleset;
    let sum = rs.summary();
    let mut details = BTreeMap::new();
    details.insert(
        "interfaces".to_string(),
        format!("LAN {} / WAN {}", sc.spec.ruleset.iif, sc.spec.ruleset.oif),
    );
    details.insert("sides".to_string(), sc.spec.ruleset.sides.clone());
    details.insert("conntrack".to_string(), sc.spec.kernel.conntrack.clone());
    details.insert(
        "flowtable_timeout_s".to_string(),
        sc.spec.kernel.flowtable_timeout_s.to_string(),
    );
    let slo = {
        let s = &sc.spec.slo;
        if !s.any() {
            None
        } else {
            let mut d = Vec::new();
            if let Some(l) = s.p99_latency_us {
                d.push(format!("p99 <= {l} us"));
            }
            if let Some(x) = s.max_drop_rate {
                d.push(format!("loss <= {:.3} %", x * 100.0));
            }
            if let Some(c) = s.max_cpu {
                d.push(format!("busiest core <= {:.0} %", c * 100.0));
            }
            if let Some(c) = s.max_cpu_mean {
                d.push(format!("mean CPU <= {:.0} %", c * 100.0));
            }
            Some(rep::SloSpec {
                p99_latency_ns: s.p99_latency_us.map(|l| (l * 1000.0).round() as u64),
                p999_latency_ns: None,
                max_drop_rate: s.max_drop_rate,
                max_cpu_util: s.max_cpu,
                description: d.join(", "),
            })
        }
    };
    rep::Scenario {
        name: sc.spec.name.clone(),
        file: sc.file.path.display().to_string(),
        description: sc.spec.description.clone(),
        trace: rep::TraceInfo {
            source: p.input.describe(),
            packets: p.pass.totals.packets,
            bytes: p.pass.bytes,
            duration_ns: p.pass.totals.span_ns(),
            flows: None,
            description: String::new(),
        },
        ruleset: rep::RulesetInfo {
            file: sc.ruleset_file.display().to_string(),
            tables: rs
                .tables()
                .iter()
                .map(|t| format!("{} {}", t.family, t.name))
                .collect(),
            chains: sum.chains as u64,
            rules: sum.rules as u64,
            flowtables: rs
                .flowtables()
                .iter()
                .map(|f| {
                    if f.offload {
                        format!("{} (offload)", f.name)
                    } else {
                        f.name.clone()
                    }
                })
                .collect(),
            description: String::new(),
        },
        cpu: rep::CpuInfo {
            preset: sc.cpu.name.clone(),
            cores: u32::from(sc.cpu.cores),
            freq_hz: sc.cpu.freq_ghz * 1e9,
            description: sc.cpu.description.clone(),
        },
        nic: rep::NicInfo {
            preset: p.nic.name.clone(),
            table_capacity: u64::from(p.nic.usable_capacity()),
            line_rate_bps: p.nic.datapath.line_rate_bps as f64,
            description: p.nic.description.clone(),
        },
        kernel: format!(
            "{} ({} conntrack timeouts)",
            sc.flavour.name(),
            sc.spec.kernel.conntrack
        ),
        replay: p.replay.clone(),
        seed: sc.spec.seed,
        slo,
        details,
    }
}

/// Assembles a report from the runs of one scenario ([`run_report`] of each configuration):
/// savings against the `none` run, then warnings.
pub(crate) fn build_report(
    p: &Prepared,
    found: &Findings,
    mut runs: Vec<rep::Run>,
    kind: rep::ReportKind,
) -> rep::Report {
    debug_assert!(!p.deferred(), "the report needs the trace's totals");
    apply_savings(&mut runs);
    let mut warnings = ruleset_warnings(p, found);
    warnings.extend(overload_warnings(&runs));
    let scenario = scenario_info(p);
    warnings.extend(load::late_events(
        &p.scenario.events,
        scenario.replay.duration_ns,
    ));
    warnings.extend(load::open_loop_queue_warnings(&runs));
    rep::Report {
        tool: tool(),
        kind,
        scenario,
        runs,
        warnings,
        notes: series_note(p).into_iter().collect(),
        ..rep::Report::default()
    }
}

/// Says so when the series interval was widened to keep a long replay's series short.
fn series_note(p: &Prepared) -> Option<String> {
    let asked = p.scenario.spec.report.interval_ms;
    let used = p.series_interval_ns();
    (used != asked.saturating_mul(1_000_000)).then(|| {
        format!(
            "time series every {} ms instead of report.interval_ms = {asked}: a replay of {:.1} s keeps at most {} points per series",
            used / 1_000_000,
            p.replay.duration_ns as f64 / 1e9,
            crate::replay::MAX_SERIES_POINTS
        )
    })
}

/// The tool section of reports (the command line adds the commit and date of what was
/// simulated, see `main.rs`; the library stays free of the environment).
pub(crate) fn tool() -> rep::Tool {
    rep::Tool {
        name: "offsim".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..rep::Tool::default()
    }
}

/// Warnings about the scenario itself (the same for every run); `found` is what the scan of
/// its trace found ([`Prepared::findings`]).
pub(crate) fn ruleset_warnings(p: &Prepared, found: &Findings) -> Vec<String> {
    let mut w: Vec<String> = p.pass.cut_short.iter().cloned().collect();
    w.extend(found.wan_capture.iter().cloned());
    // In `iface` mode the engine counts forwarded copies once; otherwise they count twice.
    if !matches!(p.scenario.sides, offsim_kernel::sides::SideMode::Iface(_)) {
        w.extend(crate::ruleseval::copy_warnings(
            0,
            found.copies,
            found.ip_packets,
            0,
        ));
    }
    if !p
        .ruleset
        .rules()
        .iter()
        .any(|r| r.text.contains("flow add") || r.text.contains("flow offload"))
    {
        w.push("the ruleset has no `flow add` rule: software and hardware configurations cannot offload anything".to_string());
    }
    let r = &p.scenario.spec.ruleset;
    w.extend(offsim_kernel::devices::interface_warnings(
        &p.ruleset, &r.iif, &r.oif,
    ));
    w
}

/// Warnings about runs whose CPU path was overloaded (open-loop replay artefacts).
pub(crate) fn overload_warnings(runs: &[rep::Run]) -> Vec<String> {
    let mut warnings = Vec::new();
    for r in runs {
        warnings.extend(bottlenecks(r).map(|b| format!("{}: {b}", r.name)));
        let h = &r.handshakes;
        if h.deferred > 0 {
            warnings.push(format!(
                "{}: {} connections lost a handshake packet for lack of capacity; their senders retransmitted after 1 s, 2 s, 4 s ... ({} retransmissions, {} connections given up, {} packets not sent within the trace), as TCP stacks do. The replay is otherwise open-loop: senders do not slow down or resend when data is lost.",
                r.name, h.deferred, h.retransmissions, h.abandoned, h.unsent
            ));
        }
    }
    warnings
}

/// What limited a run, each named: an RX ring and its core, a NIC port, the NIC's engine,
/// the conntrack table, the offload workqueue.
fn bottlenecks(r: &rep::Run) -> impl Iterator<Item = String> + '_ {
    let d = &r.drops;
    let cores = d
        .rx_ring_full_by_core
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| {
            let util = r.cpu.util_per_core.get(c).copied().unwrap_or(0.0);
            format!(
                "the RX ring of core {c} overflowed ({n} packets dropped; core {c} was busy {:.0} % of the time): the CPU path is the bottleneck",
                util * 100.0
            )
        });
    let ports = d.by_port.iter().map(|(k, n)| {
        let (dev, what) = k.split_once('.').unwrap_or((k, ""));
        match what {
            "link_overrun" => format!(
                "more was offered to port {dev} than its line rate carries ({n} packets lost before the port)"
            ),
            _ => format!("port {dev}'s egress buffer overflowed ({n} packets dropped): the port is saturated"),
        }
    });
    let engine = d
        .by_reason
        .get("nic_engine_queue")
        .map(|n| format!("the NIC's offload engine queue overflowed ({n} packets dropped)"));
    let ct = d
        .by_reason
        .get("conntrack_full")
        .map(|n| format!("the conntrack table was full ({n} packets dropped)"));
    // A work item waiting longer than a GC period delays hardware inserts visibly.
    let wq = (r.cpu.workqueue_peak_backlog_ns > 1_000_000_000).then(|| {
        format!(
            "the offload workqueue fell behind (up to {} of work queued on one core): hardware inserts and deletes waited",
            dur(r.cpu.workqueue_peak_backlog_ns)
        )
    });
    cores.chain(ports).chain(engine).chain(ct).chain(wq)
}

/// Sets `baseline`/`savings` of every run against the `none` run with the same prefix.
pub(crate) fn apply_savings(runs: &mut [rep::Run]) {
    let bases: Vec<(String, rep::Run)> = runs
        .iter()
        .filter(|r| r.policy == "none")
        .map(|r| (r.name.trim_end_matches("none").to_string(), r.clone()))
        .collect();
    for r in runs.iter_mut() {
        if r.policy == "none" {
            continue;
        }
        let prefix = r.name.trim_end_matches(r.policy.as_str()).to_string();
        if let Some((_, b)) = bases.iter().find(|(p, _)| *p == prefix) {
            r.baseline = Some(b.name.clone());
            r.savings = Some(savings(b, r));
        }
    }
}

/// True when a configuration the SLO applies to (`slo.policies`, default all) missed it.
pub fn slo_missed(report: &rep::Report, sc: &Scenario) -> bool {
    report
        .runs
        .iter()
        .any(|r| slo_gated(sc, &r.policy) && r.slo.as_ref().is_some_and(|s| !s.met))
}

/// Whether the SLO of `policy` decides the exit code (`slo.policies`, default all).
pub fn slo_gated(sc: &Scenario, policy: &str) -> bool {
    match &sc.spec.slo.policies {
        Some(list) => list.iter().any(|p| p == policy),
        None => true,
    }
}

/// A plain-text summary of a report: the scenario, a table with one row per
/// configuration, then each configuration's flows and SLO.
pub fn summary_text(r: &rep::Report, gated: &dyn Fn(&str) -> bool) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    scenario_lines(&mut s, &r.scenario);
    let w = r
        .runs
        .iter()
        .map(|x| x.name.len())
        .max()
        .unwrap_or(0)
        .max(13);
    let _ = writeln!(
        s,
        "{:<w$} {:>11} {:>11} {:>7} {:>10} {:>10} {:>6} {:>13} {:>8} {:>7}",
        "configuration",
        "offered",
        "delivered",
        "drops",
        "p50",
        "p99",
        "CPU",
        "slow/sw/hw %",
        "power",
        "saved"
    );
    for run in &r.runs {
        let t = &run.throughput;
        let drop_pct = if t.offered_packets == 0 {
            0.0
        } else {
            run.drops.total as f64 / t.offered_packets as f64 * 100.0
        };
        let all = (run.paths.slow + run.paths.sw_fast + run.paths.hw).max(1) as f64;
        let paths = format!(
            "{:.0}/{:.0}/{:.0}",
            run.paths.slow as f64 / all * 100.0,
            run.paths.sw_fast as f64 / all * 100.0,
            run.paths.hw as f64 / all * 100.0
        );
        let saved = run
            .savings
            .as_ref()
            .map(|x| format!("{:.1}%", x.power_pct))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:<w$} {:>11} {:>11} {:>6.2}% {:>10} {:>10} {:>5.1}% {:>13} {:>6.2} W {:>7}",
            run.name,
            si(t.offered_bps, "b/s"),
            si(t.delivered_bps, "b/s"),
            drop_pct,
            dur(run.latency_ns.overall.p50),
            dur(run.latency_ns.overall.p99),
            run.cpu.util_mean * 100.0,
            paths,
            run.power_w.total,
            saved
        );
    }
    let _ = writeln!(s);
    for run in &r.runs {
        run_lines(&mut s, run, w, gated);
    }
    for e in offsim_reports::html::event_sentences(r) {
        let _ = writeln!(s, "event     {e}");
    }
    for e in offsim_reports::html::egress_sentences(r) {
        let _ = writeln!(s, "egress    {e}");
    }
    for e in offsim_reports::html::sender_sentences(r) {
        let _ = writeln!(s, "senders   {e}");
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

/// The scenario block of the summary.
fn scenario_lines(s: &mut String, sc: &rep::Scenario) {
    use std::fmt::Write;
    let _ = writeln!(s, "scenario  {} ({})", sc.name, sc.file);
    let _ = writeln!(
        s,
        "trace     {}: {} packets{}, {:.3} s; replay {}",
        sc.trace.source,
        sc.trace.packets,
        sc.trace
            .flows
            .map(|f| format!(", {f} flows"))
            .unwrap_or_default(),
        sc.trace.duration_ns as f64 / 1e9,
        sc.replay.description
    );
    let _ = writeln!(
        s,
        "cpu       {} ({} cores @ {:.2} GHz)",
        sc.cpu.preset,
        sc.cpu.cores,
        sc.cpu.freq_hz / 1e9
    );
    let _ = writeln!(
        s,
        "nic       {} ({} flow entries)",
        sc.nic.preset, sc.nic.table_capacity
    );
    let _ = writeln!(s, "kernel    {}", sc.kernel);
    let _ = writeln!(s);
}

/// One configuration's flows (and why they were not offloaded) and SLO checks, under the
/// table.
fn run_lines(s: &mut String, run: &rep::Run, w: usize, gated: &dyn Fn(&str) -> bool) {
    use std::fmt::Write;
    let f = &run.flows;
    let mut line = format!(
        "{:<w$} flows {}: {} in the software flowtable, {} in hardware",
        run.name, f.total, f.offloaded_sw, f.offloaded_hw
    );
    if run.nic.capacity > 0 {
        let _ = write!(
            line,
            "; NIC table peak {}/{} ({} inserts, {} refused)",
            run.nic.peak_occupancy, run.nic.capacity, run.nic.inserts, run.nic.refusals
        );
    }
    let _ = writeln!(s, "{line}");
    if run.policy != "none" {
        // Kept in software by the NIC's binding policy is not a refusal: three lines.
        let policy = offsim_reports::html::NOT_REFUSALS;
        let groups = [
            ("not offloaded", f.not_offloaded.iter().collect::<Vec<_>>()),
            (
                "kept in software by the NIC",
                f.hw_refused
                    .iter()
                    .filter(|(k, _)| policy.contains(&k.as_str()))
                    .collect(),
            ),
            (
                "refused by the hardware",
                f.hw_refused
                    .iter()
                    .filter(|(k, _)| !policy.contains(&k.as_str()))
                    .collect(),
            ),
        ];
        for (what, mut why) in groups {
            why.retain(|(_, v)| **v > 0);
            if why.is_empty() {
                continue;
            }
            why.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = why
                .iter()
                .take(4)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "{:<w$}   {what}: {}", "", top.join(", "));
        }
    }
    if let Some(ct) = &run.conntrack {
        let limit = if ct.max == 0 {
            "no limit".to_string()
        } else {
            format!("nf_conntrack_max {}", ct.max)
        };
        let _ = writeln!(
            s,
            "{:<w$}   conntrack: {limit}, {} buckets, peak {}, {} early-dropped, {} refused (table full)",
            "", ct.buckets, ct.peak, ct.early_drop, ct.table_full
        );
    }
    if let Some(slo) = &run.slo {
        let failed: Vec<String> = slo
            .checks
            .iter()
            .filter(|c| !c.met)
            .map(|c| match c.unit.as_str() {
                "ns" => format!(
                    "{} {} > {}",
                    c.metric,
                    dur(c.actual as u64),
                    dur(c.limit as u64)
                ),
                _ => format!(
                    "{} {:.2}% > {:.2}%",
                    c.metric,
                    c.actual * 100.0,
                    c.limit * 100.0
                ),
            })
            .collect();
        if failed.is_empty() {
            let _ = writeln!(s, "{:<w$}   SLO met", "");
        } else {
            let note = if gated(&run.policy) {
                ""
            } else {
                " (not gated)"
            };
            let _ = writeln!(s, "{:<w$}   SLO MISSED{note}: {}", "", failed.join("; "));
        }
    }
}
