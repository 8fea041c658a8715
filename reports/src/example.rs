//! Realistic example reports, built in code with no randomness: a `run` report of a home
//! router (none / software / hardware offload), a two-parameter `sweep` report, a
//! one-parameter sweep and a `plan` report. Tests (golden files, rendering, compare, merge,
//! the browser test) use them; they also show the engine how a filled report looks.
//!
//! The figures are plausible for an MT7621-class router replaying a home-router trace
//! (two 880 MHz cores, an 8K-entry PPE), but they are illustrative, not simulated.

use std::collections::BTreeMap;

use crate::schema::*;

/// Number of intervals in the example time series.
const INTERVALS: usize = 20;
/// Interval length of the example time series: 100 ms.
const INTERVAL_NS: u64 = 100_000_000;

/// Deterministic wobble in `[-1, 1]` for interval `i` (a fixed pattern, not random).
fn wobble(i: usize, phase: usize) -> f64 {
    const P: [f64; 10] = [0.0, 0.6, 1.0, 0.4, -0.3, -0.8, -1.0, -0.5, 0.2, 0.7];
    P[(i + phase) % P.len()]
}

/// Histogram with log-spaced buckets (4 per octave) between `lo_ns` and `hi_ns`, shaped like
/// a skewed bump peaking at `mode_ns`, holding `n` packets in total.
fn histogram(n: u64, lo_ns: f64, mode_ns: f64, hi_ns: f64) -> Vec<HistogramBucket> {
    if n == 0 {
        return Vec::new();
    }
    let mut bounds = Vec::new();
    let mut b = lo_ns;
    while b <= hi_ns * 1.0001 {
        bounds.push(b.round() as u64);
        b *= 2f64.powf(0.25);
    }
    let (llo, lmode, lhi) = (lo_ns.ln(), mode_ns.ln(), hi_ns.ln());
    let weights: Vec<f64> = bounds
        .iter()
        .map(|&x| {
            let l = (x as f64).ln();
            let t = if l <= lmode {
                (l - llo) / (lmode - llo)
            } else {
                (lhi - l) / (lhi - lmode)
            };
            // A long tail: square the right flank's complement less than the left.
            if l <= lmode {
                t.max(0.0).powi(2)
            } else {
                t.max(0.0).powf(3.0)
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut out = Vec::new();
    let mut assigned = 0u64;
    for (i, (&le, w)) in bounds.iter().zip(&weights).enumerate() {
        let c = if i + 1 == bounds.len() {
            n - assigned
        } else {
            ((w / total) * n as f64).round() as u64
        };
        let c = c.min(n - assigned);
        assigned += c;
        if c > 0 {
            out.push(HistogramBucket {
                le_ns: le,
                count: c,
            });
        }
    }
    if assigned < n
        && let Some(last) = out.last_mut()
    {
        last.count += n - assigned;
    }
    out
}

/// Statistics of a histogram: percentiles are the upper bound of the bucket holding them,
/// the mean uses bucket bounds.
pub fn stats_from_histogram(h: &[HistogramBucket]) -> LatencyStats {
    let n: u64 = h.iter().map(|b| b.count).sum();
    if n == 0 {
        return LatencyStats::default();
    }
    let pct = |q: f64| {
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut acc = 0;
        for b in h {
            acc += b.count;
            if acc >= rank {
                return b.le_ns;
            }
        }
        h.last().map_or(0, |b| b.le_ns)
    };
    let sum: f64 = h.iter().map(|b| b.le_ns as f64 * b.count as f64).sum();
    LatencyStats {
        count: n,
        mean: (sum / n as f64).round(),
        min: h.first().map_or(0, |b| b.le_ns),
        p50: pct(0.50),
        p90: pct(0.90),
        p99: pct(0.99),
        p999: pct(0.999),
        max: h.last().map_or(0, |b| b.le_ns),
        histogram: h.to_vec(),
    }
}

fn merge_hist(parts: &[&[HistogramBucket]]) -> Vec<HistogramBucket> {
    let mut m: BTreeMap<u64, u64> = BTreeMap::new();
    for p in parts {
        for b in *p {
            *m.entry(b.le_ns).or_default() += b.count;
        }
    }
    m.into_iter()
        .map(|(le_ns, count)| HistogramBucket { le_ns, count })
        .collect()
}

/// Shape of one configuration, from which a [`Run`] is derived.
struct Shape {
    policy: &'static str,
    /// Offered rate scale (1.0 = the trace's rate).
    load: f64,
    /// Path shares (slow, sw_fast, hw).
    mix: (f64, f64, f64),
    /// Cycles per packet on (slow, sw_fast).
    cycles: (f64, f64),
    /// Latency modes per path (slow, sw_fast, hw), ns.
    lat: (f64, f64, f64),
    /// Hardware table capacity (0: no hardware table use).
    capacity: u64,
    /// Fraction of hardware insert attempts refused.
    refuse: f64,
}

const CORES: usize = 2;
const FREQ_HZ: f64 = 880e6;
const BASE_PPS: f64 = 95_000.0;
const MEAN_PKT_BYTES: f64 = 760.0;
const FLOWS: u64 = 1_480;

fn make_run(s: &Shape, name: &str) -> Run {
    let secs = INTERVALS as f64 * INTERVAL_NS as f64 / 1e9;
    let cap_cycles = FREQ_HZ * CORES as f64 * INTERVAL_NS as f64 / 1e9;
    let mut series = Series {
        interval_ns: INTERVAL_NS,
        start_ns: 0,
        ..Series::default()
    };
    let mut tot_off = 0u64;
    let mut tot_del = 0u64;
    let mut tot_drop = 0u64;
    let mut tot_cycles = 0f64;
    let mut paths = Paths::default();
    let mut occ = 0u64;
    let mut occ_sum = 0u64;
    let mut peak = 0u64;
    let mut inserts = 0u64;
    let mut refusals = 0u64;
    for i in 0..INTERVALS {
        let pps = BASE_PPS * s.load * (1.0 + 0.25 * wobble(i, 0));
        let offered = (pps * INTERVAL_NS as f64 / 1e9).round() as u64;
        // Flows start offloading after the first interval.
        let warm = if i == 0 { 0.5 } else { 1.0 };
        let hw_share = s.mix.2 * warm;
        let sw_share = s.mix.1 * warm + s.mix.2 * (1.0 - warm);
        let want_hw = (offered as f64 * hw_share).round() as u64;
        let want_sw = (offered as f64 * sw_share).round() as u64;
        let want_slow = offered - want_hw - want_sw;
        let need = want_slow as f64 * s.cycles.0 + want_sw as f64 * s.cycles.1;
        // The CPU saturates: the excess of slow/sw packets is dropped at the RX ring.
        let (slow, sw, dropped, cycles) = if need > cap_cycles * 0.97 {
            let keep = cap_cycles * 0.97 / need;
            let slow = (want_slow as f64 * keep).round() as u64;
            let sw = (want_sw as f64 * keep).round() as u64;
            (slow, sw, want_slow - slow + want_sw - sw, cap_cycles * 0.97)
        } else {
            (want_slow, want_sw, 0, need)
        };
        let delivered = slow + sw + want_hw;
        tot_off += offered;
        tot_del += delivered;
        tot_drop += dropped;
        tot_cycles += cycles;
        paths.slow += slow;
        paths.sw_fast += sw;
        paths.hw += want_hw;
        let (ins, refused) = if s.capacity > 0 {
            let attempts = 120 + (40.0 * wobble(i, 3)).round() as u64;
            let attempts = if i == 0 { attempts * 4 } else { attempts };
            let refused = (attempts as f64 * s.refuse * (1.0 + wobble(i, 5))).round() as u64;
            (attempts - refused.min(attempts), refused.min(attempts))
        } else {
            (0, 0)
        };
        inserts += ins;
        refusals += refused;
        let aged = if s.capacity > 0 {
            (ins as f64 * 0.8).round() as u64
        } else {
            0
        };
        occ = (occ + ins)
            .saturating_sub(if i == 0 { 0 } else { aged })
            .min(s.capacity);
        occ_sum += occ;
        peak = peak.max(occ);
        let util = cycles / cap_cycles;
        let p99 = if util > 0.9 {
            s.lat.0 * 20.0
        } else {
            s.lat.0 * 4.0 * (1.0 + util)
        };
        let p99 = if slow + sw == 0 {
            s.lat.2 * 3.0
        } else {
            p99 * (slow as f64 / (slow + sw).max(1) as f64) + s.lat.1 * 4.0
        };
        series
            .offered_pps
            .push(offered as f64 * 1e9 / INTERVAL_NS as f64);
        series
            .offered_bps
            .push(offered as f64 * MEAN_PKT_BYTES * 8.0 * 1e9 / INTERVAL_NS as f64);
        series
            .delivered_pps
            .push(delivered as f64 * 1e9 / INTERVAL_NS as f64);
        series
            .delivered_bps
            .push(delivered as f64 * MEAN_PKT_BYTES * 8.0 * 1e9 / INTERVAL_NS as f64);
        series.cpu_util.push((util * 1e4).round() / 1e4);
        series.hw_occupancy.push(occ);
        series.hw_inserts.push(ins);
        series.hw_refusals.push(refused);
        series.slow.push(slow);
        series.sw_fast.push(sw);
        series.hw.push(want_hw);
        series.drops.push(dropped);
        series.latency_p99_ns.push(p99.round() as u64);
    }
    let saturated = tot_drop > 0;
    let slow_mode = if saturated { s.lat.0 * 6.0 } else { s.lat.0 };
    let h_slow = histogram(paths.slow, slow_mode / 8.0, slow_mode, slow_mode * 40.0);
    let h_sw = histogram(paths.sw_fast, s.lat.1 / 4.0, s.lat.1, s.lat.1 * 30.0);
    let h_hw = histogram(paths.hw, s.lat.2 / 2.0, s.lat.2, s.lat.2 * 8.0);
    let h_all = merge_hist(&[&h_slow, &h_sw, &h_hw]);
    let mut latency = Latency {
        by_path: PathLatency {
            slow: stats_from_histogram(&h_slow),
            sw_fast: stats_from_histogram(&h_sw),
            hw: stats_from_histogram(&h_hw),
        },
        ..Latency::default()
    };
    latency.overall = stats_from_histogram(&h_all);

    let util_mean = tot_cycles / (cap_cycles * INTERVALS as f64);
    let util_mean = (util_mean * 1e4).round() / 1e4;
    let cpu_packets = (paths.slow + paths.sw_fast + tot_drop).max(1);
    // Cycles by stage: per-packet splits of the slow and software paths, scaled so that
    // the stages add up to the total (which also covers the work on dropped packets).
    let slow_split = [
        ("driver_rx", 310.0),
        ("driver_tx", 260.0),
        ("flowtable", 180.0),
        ("conntrack", 2_400.0),
        ("fib_nat", 1_500.0),
        ("rules", (s.cycles.0 - 4_650.0).max(0.0)),
    ];
    let sw_split = [
        ("driver_rx", 310.0),
        ("driver_tx", 260.0),
        ("flowtable", 3_200.0),
        ("fib_nat", 1_730.0),
    ];
    let mut raw: BTreeMap<String, f64> = BTreeMap::new();
    for (k, c) in slow_split {
        *raw.entry(k.to_string()).or_default() += paths.slow as f64 * c;
    }
    for (k, c) in sw_split {
        *raw.entry(k.to_string()).or_default() += paths.sw_fast as f64 * c;
    }
    let raw_total: f64 = raw.values().sum();
    let scale = if raw_total > 0.0 {
        tot_cycles / raw_total
    } else {
        0.0
    };
    let stages: BTreeMap<String, u64> = raw
        .into_iter()
        .map(|(k, v)| (k, (v * scale).round() as u64))
        .collect();
    let cpu_w_idle = 0.9;
    let cpu_w = cpu_w_idle + 2.1 * util_mean;
    let nic_w = if s.capacity > 0 {
        0.45 + paths.hw as f64 / secs * 2.0e-7
    } else {
        0.45
    };
    let total_w = cpu_w + nic_w;
    let energy = total_w * secs;
    let nic = Nic {
        capacity: s.capacity,
        peak_occupancy: peak,
        mean_occupancy: occ_sum as f64 / INTERVALS as f64,
        inserts,
        refusals,
        refusals_by_reason: if refusals > 0 {
            BTreeMap::from([
                ("bucket_full".to_string(), refusals - refusals / 8),
                ("queue_full".to_string(), refusals / 8),
            ])
        } else {
            BTreeMap::new()
        },
        evictions: (inserts as f64 * 0.7).round() as u64,
        deletes: (inserts as f64 * 0.1).round() as u64,
        hits: paths.hw,
        misses: tot_off - paths.hw,
        bind_checks: if s.capacity > 0 { inserts * 2 } else { 0 },
        punts: 0,
    };
    let offloaded_hw = if s.capacity > 0 {
        (FLOWS as f64 * 0.41).round() as u64
    } else {
        0
    };
    let offloaded_sw = if s.mix.1 + s.mix.2 > 0.0 {
        (FLOWS as f64 * 0.44).round() as u64 - offloaded_hw / 4
    } else {
        0
    };
    let not_off = FLOWS - offloaded_hw - offloaded_sw;
    let not_offloaded = if s.mix.1 + s.mix.2 > 0.0 {
        BTreeMap::from([
            ("not_established".to_string(), not_off * 6 / 10),
            ("udp_single_packet".to_string(), not_off * 3 / 10),
            (
                "icmp".to_string(),
                not_off - not_off * 6 / 10 - not_off * 3 / 10,
            ),
        ])
    } else {
        BTreeMap::from([("policy_none".to_string(), not_off)])
    };
    let examples = vec![
        FlowExample {
            flow: "tcp 192.168.1.23:50412 -> 203.0.113.80:443".into(),
            packets: 41_200,
            bytes: 58_900_000,
            outcome: if s.capacity > 0 {
                "hw"
            } else if s.mix.1 > 0.0 {
                "sw"
            } else {
                "slow"
            }
            .into(),
            reason: if s.capacity > 0 {
                "bound"
            } else if s.mix.1 > 0.0 {
                "flowtable"
            } else {
                "policy_none"
            }
            .into(),
        },
        FlowExample {
            flow: "udp 192.168.1.40:3478 -> 198.51.100.7:3478".into(),
            packets: 9_800,
            bytes: 2_150_000,
            outcome: if s.mix.1 + s.mix.2 > 0.0 {
                "sw"
            } else {
                "slow"
            }
            .into(),
            reason: if s.capacity > 0 {
                "bucket_full"
            } else if s.mix.1 > 0.0 {
                "flowtable"
            } else {
                "policy_none"
            }
            .into(),
        },
        FlowExample {
            flow: "udp 192.168.1.5:5353 -> 224.0.0.251:5353".into(),
            packets: 1,
            bytes: 120,
            outcome: "slow".into(),
            reason: if s.mix.1 + s.mix.2 > 0.0 {
                "udp_single_packet"
            } else {
                "policy_none"
            }
            .into(),
        },
    ];
    let drop_rate = tot_drop as f64 / tot_off.max(1) as f64;
    let slo_checks = vec![
        SloCheck {
            metric: "latency_ns.p99".into(),
            limit: 1_000_000.0,
            actual: latency.overall.p99 as f64,
            unit: "ns".into(),
            met: latency.overall.p99 <= 1_000_000,
        },
        SloCheck {
            metric: "drop_rate".into(),
            limit: 0.001,
            actual: (drop_rate * 1e6).round() / 1e6,
            unit: "fraction".into(),
            met: drop_rate <= 0.001,
        },
    ];
    Run {
        name: name.to_string(),
        policy: s.policy.to_string(),
        description: match s.policy {
            "none" => "no flowtable: every packet takes the netfilter slow path".into(),
            "software" => "flowtable ft without flags offload".into(),
            "hardware" => "flowtable ft with flags offload (PPE)".into(),
            other => format!("what-if policy {other}"),
        },
        baseline: None,
        duration_ns: INTERVALS as u64 * INTERVAL_NS,
        throughput: Throughput {
            offered_pps: tot_off as f64 / secs,
            offered_bps: tot_off as f64 * MEAN_PKT_BYTES * 8.0 / secs,
            delivered_pps: tot_del as f64 / secs,
            delivered_bps: tot_del as f64 * MEAN_PKT_BYTES * 8.0 / secs,
            offered_packets: tot_off,
            delivered_packets: tot_del,
            offered_bytes: (tot_off as f64 * MEAN_PKT_BYTES) as u64,
            delivered_bytes: (tot_del as f64 * MEAN_PKT_BYTES) as u64,
        },
        latency_ns: latency,
        paths,
        cpu: Cpu {
            util_per_core: vec![
                ((util_mean * 1.08).min(1.0) * 1e4).round() / 1e4,
                ((util_mean * 0.92) * 1e4).round() / 1e4,
            ],
            util_mean,
            total_cycles: tot_cycles as u64,
            cycles_per_packet: (tot_cycles / cpu_packets as f64).round(),
            cycles_per_packet_by_path: PerPath {
                slow: if paths.slow > 0 { s.cycles.0 } else { 0.0 },
                sw_fast: if paths.sw_fast > 0 { s.cycles.1 } else { 0.0 },
                hw: 0.0,
            },
            cycles_by_stage: stages.into_iter().filter(|(_, v)| *v > 0).collect(),
        },
        nic,
        drops: Drops {
            total: tot_drop,
            by_reason: if tot_drop > 0 {
                BTreeMap::from([("rx_ring_full".to_string(), tot_drop)])
            } else {
                BTreeMap::new()
            },
        },
        power_w: Power {
            cpu: cpu_w,
            nic: nic_w,
            total: total_w,
        },
        energy: Energy {
            total_j: energy,
            per_packet_nj: energy / tot_del.max(1) as f64 * 1e9,
        },
        savings: None,
        flows: Flows {
            total: FLOWS,
            offloaded_sw,
            offloaded_hw,
            not_offloaded,
            hw_refused: if refusals > 0 {
                BTreeMap::from([("bucket_full".to_string(), (refusals / 3).max(1))])
            } else {
                BTreeMap::new()
            },
            fell_back: if s.mix.1 + s.mix.2 > 0.0 {
                BTreeMap::from([
                    ("tcp_fin".to_string(), 310),
                    ("tcp_rst".to_string(), 42),
                    ("timeout".to_string(), 87),
                ])
            } else {
                BTreeMap::new()
            },
            teardown: if s.mix.1 + s.mix.2 > 0.0 {
                BTreeMap::from([
                    ("gc_timeout".to_string(), 87),
                    ("tcp_fin_rst".to_string(), 352),
                ])
            } else {
                BTreeMap::new()
            },
            examples,
        },
        slo: Some(SloResult {
            met: slo_checks.iter().all(|c| c.met),
            checks: slo_checks,
        }),
        series,
    }
}

/// Fill `savings` of every run against the run named `baseline_name`.
pub fn fill_savings(runs: &mut [Run], baseline_name: &str) {
    let Some(base) = runs.iter().find(|r| r.name == baseline_name).cloned() else {
        return;
    };
    for r in runs.iter_mut() {
        if r.name == base.name {
            continue;
        }
        let rel = |b: f64, n: f64| if b != 0.0 { (b - n) / b * 100.0 } else { 0.0 };
        r.baseline = Some(base.name.clone());
        r.savings = Some(Savings {
            cpu_util: base.cpu.util_mean - r.cpu.util_mean,
            cpu_cycles_pct: rel(base.cpu.total_cycles as f64, r.cpu.total_cycles as f64),
            power_w: base.power_w.total - r.power_w.total,
            power_pct: rel(base.power_w.total, r.power_w.total),
            energy_j: base.energy.total_j - r.energy.total_j,
            energy_per_packet_pct: rel(base.energy.per_packet_nj, r.energy.per_packet_nj),
        });
    }
}

fn scenario(name: &str) -> Scenario {
    Scenario {
        name: name.to_string(),
        file: "scenarios/home-router.toml".into(),
        description: "OpenWrt fw4 home router, LAN to WAN with masquerading".into(),
        trace: TraceInfo {
            source: "traces/data/home-router-1.pcap".into(),
            packets: 190_000,
            bytes: 144_400_000,
            duration_ns: 2_000_000_000,
            flows: FLOWS,
            description: "TCP 81 %, UDP 18 %, ICMP 1 %; mean wire length 760 B".into(),
        },
        ruleset: RulesetInfo {
            file: "scenarios/rulesets/fw4-default.nft".into(),
            tables: vec!["inet fw4".into()],
            chains: 38,
            rules: 112,
            flowtables: vec!["ft (offload)".into()],
            description: "fw4 defaults with flow add @ft in forward".into(),
        },
        cpu: CpuInfo {
            preset: "mt7621".into(),
            cores: CORES as u32,
            freq_hz: FREQ_HZ,
            description: "MediaTek MT7621A, 2× MIPS 1004Kc at 880 MHz".into(),
        },
        nic: NicInfo {
            preset: "mt7621-ppe".into(),
            table_capacity: 8192,
            line_rate_bps: 1e9,
            description: "PPE: 8192 entries, 4-way buckets, lazy binding".into(),
        },
        kernel: "6.6 (5.15-6.13 teardown semantics)".into(),
        replay: ReplayInfo {
            mode: "recorded".into(),
            speedup: 1.0,
            target_pps: 0.0,
            target_bps: 0.0,
            loops: 1,
            duration_ns: INTERVALS as u64 * INTERVAL_NS,
            description: "as recorded".into(),
        },
        seed: 1,
        slo: Some(SloSpec {
            p99_latency_ns: Some(1_000_000),
            p999_latency_ns: None,
            max_drop_rate: Some(0.001),
            max_cpu_util: None,
            description: "p99 ≤ 1 ms, drops ≤ 0.1 %".into(),
        }),
        details: BTreeMap::from([
            ("nf_flowtable_tcp_timeout".to_string(), "30 s".to_string()),
            ("rss".to_string(), "Toeplitz, 2 queues".to_string()),
        ]),
    }
}

fn shapes(load: f64, capacity: u64) -> [Shape; 3] {
    // A smaller table holds fewer of the trace's ~1000 concurrent flows: the rest stay in
    // the software fast path.
    let fit = (0.55 + 0.45 * capacity as f64 / 8192.0).min(1.0);
    [
        Shape {
            policy: "none",
            load,
            mix: (1.0, 0.0, 0.0),
            cycles: (16_000.0, 0.0),
            lat: (42_000.0, 0.0, 0.0),
            capacity: 0,
            refuse: 0.0,
        },
        Shape {
            policy: "software",
            load,
            mix: (0.04, 0.96, 0.0),
            cycles: (16_000.0, 5_500.0),
            lat: (42_000.0, 11_000.0, 0.0),
            capacity: 0,
            refuse: 0.0,
        },
        Shape {
            policy: "hardware",
            load,
            mix: (0.03, 0.05 + 0.92 * (1.0 - fit), 0.92 * fit),
            cycles: (16_000.0, 5_500.0),
            lat: (42_000.0, 11_000.0, 2_400.0),
            capacity,
            refuse: if capacity >= 8192 {
                0.02
            } else {
                0.02 * 8192.0 / capacity as f64
            },
        },
    ]
}

/// A `run` report of a home router with three runs: `none`, `software`, `hardware`.
pub fn run_report() -> Report {
    let mut runs: Vec<Run> = shapes(1.0, 8192)
        .iter()
        .map(|s| make_run(s, s.policy))
        .collect();
    fill_savings(&mut runs, "none");
    Report {
        schema: SCHEMA.to_string(),
        tool: Tool {
            name: "offsim".into(),
            version: "0.1.0".into(),
        },
        kind: ReportKind::Run,
        scenario: scenario("home-router"),
        runs,
        sweep: None,
        plan: None,
        warnings: vec!["trace has 3 IPv4 fragments; they take the slow path".into()],
    }
}

fn sweep_from_grid(params: &[(&str, Vec<ParamValue>)]) -> Report {
    // Cartesian product, the first parameter varying slowest.
    let mut grid: Vec<Vec<ParamValue>> = vec![Vec::new()];
    for (_, values) in params {
        let mut next = Vec::new();
        for g in &grid {
            for v in values {
                let mut g2 = g.clone();
                g2.push(v.clone());
                next.push(g2);
            }
        }
        grid = next;
    }
    let mut runs = Vec::new();
    let mut points = Vec::new();
    for (index, values) in grid.iter().enumerate() {
        let mut capacity = 8192u64;
        let mut load = 1.0;
        let mut name = String::new();
        let mut map = BTreeMap::new();
        for ((p, _), v) in params.iter().zip(values) {
            if !name.is_empty() {
                name.push(',');
            }
            name.push_str(&format!("{p}={v}"));
            map.insert(p.to_string(), v.clone());
            if let ParamValue::Num(x) = v {
                match *p {
                    "nic.table_capacity" => capacity = *x as u64,
                    "replay.speedup" => load = *x,
                    _ => {}
                }
            }
        }
        let mut point_runs: Vec<Run> = shapes(load, capacity)
            .iter()
            .filter(|s| s.policy != "software")
            .map(|s| make_run(s, &format!("{name}/{}", s.policy)))
            .collect();
        let base = format!("{name}/none");
        fill_savings(&mut point_runs, &base);
        let warnings = if load > 1.5 {
            vec![format!("point {name}: the CPU saturates without offload")]
        } else {
            Vec::new()
        };
        points.push(SweepPoint {
            index: index as u64,
            name,
            values: map,
            runs: point_runs.iter().map(|r| r.name.clone()).collect(),
            warnings,
        });
        runs.extend(point_runs);
    }
    Report {
        schema: SCHEMA.to_string(),
        tool: Tool {
            name: "offsim".into(),
            version: "0.1.0".into(),
        },
        kind: ReportKind::Sweep,
        scenario: scenario("home-router-sweep"),
        runs,
        sweep: Some(Sweep {
            parameters: params.iter().map(|(p, _)| p.to_string()).collect(),
            total_points: points.len() as u64,
            shard: None,
            points,
        }),
        plan: None,
        warnings: vec!["trace has 3 IPv4 fragments; they take the slow path".into()],
    }
}

/// A `sweep` report over two parameters: `nic.table_capacity` (1024, 4096, 8192) ×
/// `replay.speedup` (1, 2): six points, each with a `none` and a `hardware` run.
pub fn sweep_report() -> Report {
    sweep_from_grid(&[
        (
            "nic.table_capacity",
            vec![
                ParamValue::Num(1024.0),
                ParamValue::Num(4096.0),
                ParamValue::Num(8192.0),
            ],
        ),
        (
            "replay.speedup",
            vec![ParamValue::Num(1.0), ParamValue::Num(2.0)],
        ),
    ])
}

/// A `sweep` report over one parameter, `replay.speedup` (0.5, 1, 1.5, 2, 3).
pub fn sweep_report_1d() -> Report {
    sweep_from_grid(&[(
        "replay.speedup",
        [0.5, 1.0, 1.5, 2.0, 3.0]
            .into_iter()
            .map(ParamValue::Num)
            .collect(),
    )])
}

/// A `plan` report: the capacity search of `none`, `software` and `hardware`, with the
/// runs at the highest rate within the SLO.
pub fn plan_report() -> Report {
    // Knee model: delivered = min(offered, cap); p99 grows as 1/(1-rho).
    let caps_pps = [
        // CPU-bound: ~580 Mbit/s without offload, ~910 Mbit/s with the software flowtable;
        // the hardware path is bound by the 1 Gbit/s line rate.
        ("none", 95_000.0, 45_000.0),
        ("software", 150_000.0, 12_000.0),
        ("hardware", 1e9 / (MEAN_PKT_BYTES * 8.0), 3_000.0),
    ];
    let rates: Vec<f64> = (0..16)
        .map(|k| 40_000.0 * 2f64.powf(k as f64 * 0.2))
        .collect();
    let mut configs = Vec::new();
    for (name, cap, base_lat) in caps_pps {
        let mut points = Vec::new();
        let mut max = None;
        for &r in &rates {
            let rho = (r / cap).min(0.999);
            let delivered = r.min(cap);
            let drop_rate = ((r - delivered) / r * 1e6).round() / 1e6;
            let p99 = (base_lat * 4.0 / (1.0 - rho)).min(50e6).round() as u64;
            let met = p99 <= 1_000_000 && drop_rate <= 0.001;
            if met {
                max = Some(r);
            }
            let cpu = if name == "hardware" {
                (0.02 + r / 3.0e6).min(1.0)
            } else {
                rho.min(1.0)
            };
            points.push(PlanPoint {
                offered_pps: r.round(),
                offered_bps: (r * MEAN_PKT_BYTES * 8.0).round(),
                delivered_pps: delivered.round(),
                delivered_bps: (delivered * MEAN_PKT_BYTES * 8.0).round(),
                p99_ns: p99,
                drop_rate,
                cpu_util: (cpu * 1e4).round() / 1e4,
                met,
            });
        }
        configs.push(PlanConfig {
            name: name.to_string(),
            max_pps: max.map(|r: f64| r.round()),
            max_bps: max.map(|r| (r * MEAN_PKT_BYTES * 8.0).round()),
            limited_by: if name == "hardware" {
                "drop_rate".into()
            } else {
                "latency_ns.p99".into()
            },
            points,
        });
    }
    let mut r = run_report();
    r.kind = ReportKind::Plan;
    r.scenario.name = "home-router-plan".into();
    r.plan = Some(Plan { configs });
    r
}
