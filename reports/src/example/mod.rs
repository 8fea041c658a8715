//! Realistic example reports, built in code with no randomness: a `run` report of a home
//! router (none / software / hardware offload), a two-parameter `sweep` report, a
//! one-parameter sweep and a `plan` report. Tests (golden files, rendering, compare, merge,
//! the browser test) use them; they also show the engine how a filled report looks.
//!
//! The figures are plausible for an MT7621-class router replaying a home-router trace
//! (two 880 MHz cores, an 8K-entry PPE), but they are illustrative, not simulated.
//! `run.rs` derives one run from the shape of its configuration; this file puts runs
//! together into reports.

mod run;

use std::collections::BTreeMap;

use crate::schema::*;
use run::{CORES, FLOWS, FREQ_HZ, INTERVAL_NS, INTERVALS, MEAN_PKT_BYTES, make_run, shapes};

/// Fill `savings` of every run against the run named `baseline_name`.
fn fill_savings(runs: &mut [Run], baseline_name: &str) {
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

/// The home-router scenario, named `name`.
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
            flows: Some(FLOWS),
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
            preset: "mt7621".into(),
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
            loop_mode: None,
            congestion: None,
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
            commit: None,
            date: None,
        },
        kind: ReportKind::Run,
        scenario: scenario("home-router"),
        runs,
        sweep: None,
        plan: None,
        warnings: vec!["trace has 3 IPv4 fragments; they take the slow path".into()],
        notes: Vec::new(),
    }
}

/// A sweep report over the grid of `params` (the first varies slowest): each point runs
/// `none` and `hardware` with the point's table capacity and speed-up.
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
            commit: None,
            date: None,
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
        notes: Vec::new(),
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
                loss_rate: drop_rate,
                offered_wire_bps: (r * (MEAN_PKT_BYTES + 24.0) * 8.0).round(),
                cpu_busiest: (cpu * 1e4).round() / 1e4,
                cpu_util: (cpu * 1e4).round() / 1e4,
                met,
            });
        }
        let bound = |pass: &dyn Fn(&PlanPoint) -> bool| {
            let first_fail = points.iter().position(|p| !pass(p));
            let lower = first_fail.unwrap_or(points.len()).checked_sub(1)?;
            let rate = |p: &PlanPoint| Rate {
                pps: p.offered_pps,
                bps: p.offered_bps,
                wire_bps: p.offered_wire_bps,
                // the example trace: one new connection per 40 packets
                cps: p.offered_pps / 40.0,
            };
            Some(RateBound {
                lower: rate(&points[lower]),
                upper: first_fail.map(|i| rate(&points[i])),
                loss: points[lower].loss_rate,
            })
        };
        let ndr = bound(&|p| p.loss_rate == 0.0);
        let pdr = bound(&|p| p.loss_rate <= 0.005);
        let slo = bound(&|p| p.met);
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
            ndr,
            pdr,
            slo,
            window: "warm-up: none needed (offload share steady from the first interval at the reference rate)".into(),
            design_drop_rate: 0.0,
        });
    }
    let mut r = run_report();
    r.kind = ReportKind::Plan;
    r.scenario.name = "home-router-plan".into();
    r.plan = Some(Plan {
        configs,
        pdr_loss: 0.005,
    });
    r.notes.push("capacity search: offered load paced between 0.01 and 2 Gbit/s, bisection to 0.5 % per bound, then a grid of 20 rates".into());
    r
}
