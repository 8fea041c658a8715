//! One example run, derived from the [`Shape`] of its configuration: an interval-by-interval
//! replay (offered load, path mix, CPU saturation, hardware inserts), then the latency
//! histograms, CPU, power, NIC, flows and SLO figures that follow from it.

use std::collections::BTreeMap;

use crate::schema::*;

/// Number of intervals in the example time series.
pub(super) const INTERVALS: usize = 20;
/// Interval length of the example time series: 100 ms.
pub(super) const INTERVAL_NS: u64 = 100_000_000;

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
fn stats_from_histogram(h: &[HistogramBucket]) -> LatencyStats {
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

/// The bucket-by-bucket sum of histograms.
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
pub(super) struct Shape {
    pub(super) policy: &'static str,
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

pub(super) const CORES: usize = 2;
pub(super) const FREQ_HZ: f64 = 880e6;
const BASE_PPS: f64 = 95_000.0;
pub(super) const MEAN_PKT_BYTES: f64 = 760.0;
pub(super) const FLOWS: u64 = 1_480;
/// Simulated seconds of an example run.
const SECS: f64 = INTERVALS as f64 * INTERVAL_NS as f64 / 1e9;
/// CPU cycles of all cores in one interval.
const CAP_CYCLES: f64 = FREQ_HZ * CORES as f64 * INTERVAL_NS as f64 / 1e9;

/// A [`Run`] of the configuration `s`, named `name`.
pub(super) fn make_run(s: &Shape, name: &str) -> Run {
    let t = replay(s);
    let latency_ns = latency(s, &t);
    let cpu = cpu(s, &t);
    let (power_w, energy) = power(s, &t, cpu.util_mean);
    let nic = nic(s, &t);
    let flows = flows(s, t.refusals);
    let slo = slo(&latency_ns, &t);
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
            offered_pps: t.offered as f64 / SECS,
            offered_bps: t.offered as f64 * MEAN_PKT_BYTES * 8.0 / SECS,
            delivered_pps: t.delivered as f64 / SECS,
            delivered_bps: t.delivered as f64 * MEAN_PKT_BYTES * 8.0 / SECS,
            offered_packets: t.offered,
            delivered_packets: t.delivered,
            offered_bytes: (t.offered as f64 * MEAN_PKT_BYTES) as u64,
            delivered_bytes: (t.delivered as f64 * MEAN_PKT_BYTES) as u64,
            offered_wire_bps: t.offered as f64 * (MEAN_PKT_BYTES + 24.0) * 8.0 / SECS,
            delivered_wire_bps: t.delivered as f64 * (MEAN_PKT_BYTES + 24.0) * 8.0 / SECS,
            // one new connection per 40 packets, as the example plan assumes
            connections: t.offered / 40,
            cps: (t.offered / 40) as f64 / SECS,
        },
        latency_ns,
        paths: t.paths,
        cpu,
        nic,
        drops: Drops {
            total: t.dropped,
            by_reason: if t.dropped > 0 {
                BTreeMap::from([("rx_ring_full".to_string(), t.dropped)])
            } else {
                BTreeMap::new()
            },
            capacity: t.dropped,
            rx_ring_full_by_core: if t.dropped > 0 {
                vec![t.dropped, 0]
            } else {
                Vec::new()
            },
            by_port: BTreeMap::new(),
        },
        power_w,
        energy,
        savings: None,
        flows,
        conntrack: None,
        handshakes: Default::default(),
        slo: Some(slo),
        series: t.series,
        rules: Vec::new(),
        events: Vec::new(),
        egress: Vec::new(),
        closed_loop: None,
    }
}

/// What [`replay`] adds up over the intervals of a run.
struct Totals {
    series: Series,
    offered: u64,
    delivered: u64,
    dropped: u64,
    cycles: f64,
    paths: Paths,
    /// Sum of the hardware table occupancy at the end of each interval.
    occ_sum: u64,
    peak: u64,
    inserts: u64,
    refusals: u64,
}

/// Replay the configuration `s` interval by interval: offered packets split over the paths,
/// the CPU saturating (the excess dropped at the RX ring), hardware inserts and ageing.
fn replay(s: &Shape) -> Totals {
    let mut t = Totals {
        series: Series {
            interval_ns: INTERVAL_NS,
            start_ns: 0,
            ..Series::default()
        },
        offered: 0,
        delivered: 0,
        dropped: 0,
        cycles: 0.0,
        paths: Paths::default(),
        occ_sum: 0,
        peak: 0,
        inserts: 0,
        refusals: 0,
    };
    let mut occ = 0u64;
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
        let (slow, sw, dropped, cycles) = if need > CAP_CYCLES * 0.97 {
            let keep = CAP_CYCLES * 0.97 / need;
            let slow = (want_slow as f64 * keep).round() as u64;
            let sw = (want_sw as f64 * keep).round() as u64;
            (slow, sw, want_slow - slow + want_sw - sw, CAP_CYCLES * 0.97)
        } else {
            (want_slow, want_sw, 0, need)
        };
        let delivered = slow + sw + want_hw;
        t.offered += offered;
        t.delivered += delivered;
        t.dropped += dropped;
        t.cycles += cycles;
        t.paths.slow += slow;
        t.paths.sw_fast += sw;
        t.paths.hw += want_hw;
        let (ins, refused) = hw_inserts(s, i);
        t.inserts += ins;
        t.refusals += refused;
        let aged = if s.capacity > 0 {
            (ins as f64 * 0.8).round() as u64
        } else {
            0
        };
        occ = (occ + ins)
            .saturating_sub(if i == 0 { 0 } else { aged })
            .min(s.capacity);
        t.occ_sum += occ;
        t.peak = t.peak.max(occ);
        let util = cycles / CAP_CYCLES;
        let p99 = interval_p99(s, slow, sw, util);
        let series = &mut t.series;
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
    t
}

/// Hardware inserts and refusals in interval `i` (a burst in the first one).
fn hw_inserts(s: &Shape, i: usize) -> (u64, u64) {
    if s.capacity > 0 {
        let attempts = 120 + (40.0 * wobble(i, 3)).round() as u64;
        let attempts = if i == 0 { attempts * 4 } else { attempts };
        let refused = (attempts as f64 * s.refuse * (1.0 + wobble(i, 5))).round() as u64;
        (attempts - refused.min(attempts), refused.min(attempts))
    } else {
        (0, 0)
    }
}

/// p99 latency of an interval with `slow` and `sw` packets on the CPU at utilisation
/// `util` (it climbs steeply near saturation).
fn interval_p99(s: &Shape, slow: u64, sw: u64, util: f64) -> f64 {
    let p99 = if util > 0.9 {
        s.lat.0 * 20.0
    } else {
        s.lat.0 * 4.0 * (1.0 + util)
    };
    if slow + sw == 0 {
        s.lat.2 * 3.0
    } else {
        p99 * (slow as f64 / (slow + sw).max(1) as f64) + s.lat.1 * 4.0
    }
}

/// Latency histograms per path (the slow path's mode moves up when the CPU saturated) and
/// their statistics.
fn latency(s: &Shape, t: &Totals) -> Latency {
    let saturated = t.dropped > 0;
    let slow_mode = if saturated { s.lat.0 * 6.0 } else { s.lat.0 };
    let h_slow = histogram(t.paths.slow, slow_mode / 8.0, slow_mode, slow_mode * 40.0);
    let h_sw = histogram(t.paths.sw_fast, s.lat.1 / 4.0, s.lat.1, s.lat.1 * 30.0);
    let h_hw = histogram(t.paths.hw, s.lat.2 / 2.0, s.lat.2, s.lat.2 * 8.0);
    let h_all = merge_hist(&[&h_slow, &h_sw, &h_hw]);
    Latency {
        overall: stats_from_histogram(&h_all),
        by_path: PathLatency {
            slow: stats_from_histogram(&h_slow),
            sw_fast: stats_from_histogram(&h_sw),
            hw: stats_from_histogram(&h_hw),
        },
    }
}

/// CPU use, with cycles by stage: per-packet splits of the slow and software paths, scaled
/// so that the stages add up to the total (which also covers the work on dropped packets).
fn cpu(s: &Shape, t: &Totals) -> Cpu {
    let util_mean = t.cycles / (CAP_CYCLES * INTERVALS as f64);
    let util_mean = (util_mean * 1e4).round() / 1e4;
    let cpu_packets = (t.paths.slow + t.paths.sw_fast + t.dropped).max(1);
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
        *raw.entry(k.to_string()).or_default() += t.paths.slow as f64 * c;
    }
    for (k, c) in sw_split {
        *raw.entry(k.to_string()).or_default() += t.paths.sw_fast as f64 * c;
    }
    let raw_total: f64 = raw.values().sum();
    let scale = if raw_total > 0.0 {
        t.cycles / raw_total
    } else {
        0.0
    };
    let stages: BTreeMap<String, u64> = raw
        .into_iter()
        .map(|(k, v)| (k, (v * scale).round() as u64))
        .collect();
    let busiest = ((util_mean * 1.08).min(1.0) * 1e4).round() / 1e4;
    Cpu {
        util_per_core: vec![busiest, ((util_mean * 0.92) * 1e4).round() / 1e4],
        util_mean,
        util_busiest: busiest,
        busiest_core: 0,
        workqueue_peak_backlog_ns: 0,
        total_cycles: t.cycles as u64,
        cycles_per_packet: (t.cycles / cpu_packets as f64).round(),
        cycles_per_packet_by_path: PerPath {
            slow: if t.paths.slow > 0 { s.cycles.0 } else { 0.0 },
            sw_fast: if t.paths.sw_fast > 0 { s.cycles.1 } else { 0.0 },
            hw: 0.0,
        },
        cycles_by_stage: stages.into_iter().filter(|(_, v)| *v > 0).collect(),
    }
}

/// Mean power (CPU idle plus load, NIC plus its hardware path) and the energy it adds up to.
fn power(s: &Shape, t: &Totals, util_mean: f64) -> (Power, Energy) {
    let cpu_w_idle = 0.9;
    let cpu_w = cpu_w_idle + 2.1 * util_mean;
    let nic_w = if s.capacity > 0 {
        0.45 + t.paths.hw as f64 / SECS * 2.0e-7
    } else {
        0.45
    };
    let total_w = cpu_w + nic_w;
    let energy = total_w * SECS;
    (
        Power {
            cpu: cpu_w,
            nic: nic_w,
            total: total_w,
        },
        Energy {
            total_j: energy,
            per_packet_nj: energy / t.delivered.max(1) as f64 * 1e9,
        },
    )
}

/// Hardware flow table figures.
fn nic(s: &Shape, t: &Totals) -> Nic {
    let (inserts, refusals) = (t.inserts, t.refusals);
    Nic {
        capacity: s.capacity,
        peak_occupancy: t.peak,
        mean_occupancy: t.occ_sum as f64 / INTERVALS as f64,
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
        hits: t.paths.hw,
        misses: t.offered - t.paths.hw,
        bind_checks: if s.capacity > 0 { inserts * 2 } else { 0 },
        punts: 0,
    }
}

/// `hw` for a configuration with a hardware table, `sw` for one with only the software
/// flowtable, `none` for one without offload.
fn by_offload<'a>(s: &Shape, hw: &'a str, sw: &'a str, none: &'a str) -> &'a str {
    if s.capacity > 0 {
        hw
    } else if s.mix.1 > 0.0 {
        sw
    } else {
        none
    }
}

/// Flow offload outcomes, with three example flows.
fn flows(s: &Shape, refusals: u64) -> Flows {
    let offloads = s.mix.1 + s.mix.2 > 0.0;
    let offloaded_hw = if s.capacity > 0 {
        (FLOWS as f64 * 0.41).round() as u64
    } else {
        0
    };
    let offloaded_sw = if offloads {
        (FLOWS as f64 * 0.44).round() as u64 - offloaded_hw / 4
    } else {
        0
    };
    let not_off = FLOWS - offloaded_hw - offloaded_sw;
    let not_offloaded = if offloads {
        BTreeMap::from([
            ("tcp_not_established".to_string(), not_off * 6 / 10),
            ("unconfirmed".to_string(), not_off * 3 / 10),
            (
                "unsupported_proto".to_string(),
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
            outcome: by_offload(s, "hw", "sw", "slow").into(),
            reason: by_offload(s, "bound", "software_policy", "policy_none").into(),
        },
        FlowExample {
            flow: "udp 192.168.1.40:3478 -> 198.51.100.7:3478".into(),
            packets: 9_800,
            bytes: 2_150_000,
            outcome: if offloads { "sw" } else { "slow" }.into(),
            reason: by_offload(s, "bucket_full", "software_policy", "policy_none").into(),
        },
        FlowExample {
            flow: "udp 192.168.1.5:5353 -> 224.0.0.251:5353".into(),
            packets: 1,
            bytes: 120,
            outcome: "slow".into(),
            reason: if offloads {
                "unconfirmed"
            } else {
                "policy_none"
            }
            .into(),
        },
    ];
    Flows {
        total: FLOWS,
        offloaded_sw,
        offloaded_hw,
        not_offloaded,
        hw_refused: if refusals > 0 {
            BTreeMap::from([("bucket_full".to_string(), (refusals / 3).max(1))])
        } else {
            BTreeMap::new()
        },
        fell_back: if offloads {
            BTreeMap::from([
                ("tcp_fin_rst".to_string(), 352),
                ("timeout".to_string(), 87),
            ])
        } else {
            BTreeMap::new()
        },
        teardown: if offloads {
            BTreeMap::from([
                ("timeout".to_string(), 87),
                ("tcp_fin_rst".to_string(), 352),
            ])
        } else {
            BTreeMap::new()
        },
        examples,
        time_to_flowtable_ns: None,
        time_to_hardware_ns: None,
    }
}

/// The example SLO (p99 ≤ 1 ms, drops ≤ 0.1 %) checked against a run.
fn slo(latency: &Latency, t: &Totals) -> SloResult {
    let drop_rate = t.dropped as f64 / t.offered.max(1) as f64;
    let checks = vec![
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
    SloResult {
        met: checks.iter().all(|c| c.met),
        checks,
    }
}

/// The `none`, `software` and `hardware` configurations at offered load `load` with a
/// hardware table of `capacity` entries.
pub(super) fn shapes(load: f64, capacity: u64) -> [Shape; 3] {
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
