//! The model under load (issue "Capacity answers you can trust"): each test pins one
//! artefact a network engineer would spot, and fails on the model that had it.

use super::*;

fn home_fw4() -> String {
    std::fs::read_to_string(repo().join("scenarios/rulesets/home-fw4.nft")).unwrap()
}

fn drop_of(r: &Run, reason: &str) -> u64 {
    r.drops.by_reason.get(reason).copied().unwrap_or(0)
}

/// iperf-like TCP at 1.008 Gbit/s through an MT7621 with the PPE: the data direction is
/// offered a little more than its 1 GbE egress port carries, the ACKs go the other way on
/// their own port. A saturated egress port drops only its own traffic (a switch engine
/// queues per egress port), so the ACKs survive: at most the data direction's excess
/// (0.8 %) is lost, none of it at the engine, and hardware delivers what software does.
#[test]
fn hardware_saturating_one_direction_keeps_the_other() {
    let dir = scratch("load", "bidir");
    let frames = tcp_bulk(4, 15_000, 1.008);
    let s = cal_scenario(
        &dir,
        "bidir",
        &frames,
        &home_fw4(),
        "mt7621",
        "mt7621",
        r#"["software", "hardware"]"#,
        "speedup = 1.0",
    );
    let r = run(&s);
    let sw = run_named(&r, "software");
    let hw = run_named(&r, "hardware");
    assert_eq!(drop_of(hw, "nic_engine_queue"), 0, "{:?}", hw.drops);
    assert!(drop_rate(hw) < 0.012, "hardware drops {:?}", hw.drops);
    assert!(
        hw.throughput.delivered_packets as f64 >= 0.99 * sw.throughput.delivered_packets as f64,
        "hardware {} vs software {} delivered",
        hw.throughput.delivered_packets,
        sw.throughput.delivered_packets
    );
}

/// `n` short TCP downloads (a web page's worth: handshake, `segments` 1460-byte segments
/// from the server with an ACK for every second, FIN exchange), one starting every
/// `every_ns`, 1 ms round trip, each segment 100 µs after the previous: mice that come and
/// go, so the offload workqueue adds and deletes all the time.
fn tcp_mice(n: usize, segments: usize, every_ns: u64) -> Frames {
    let srv = (v4("203.0.113.20"), 443u16);
    let cli = |k: usize| {
        (
            v4("192.168.1.10") + (k % 200) as u128,
            20_000 + (k / 200) as u16,
        )
    };
    let mut timed: Vec<(u64, usize, Frames)> = Vec::new();
    for k in 0..n {
        let mut f = Frames::new();
        f.ip_id = (k * 97) as u16;
        let t0 = k as u64 * every_ns;
        let (c, s) = (1_000u32 + k as u32, 9_000_000u32 + 13 * k as u32);
        let mut at = t0;
        let mut put = |f: &mut Frames, dt: u64, fr: &dyn Fn(&mut Frames)| {
            at += dt;
            f.gap = 0;
            f.bps = 1e12;
            fr(f);
            let last = f.frames.len() - 1;
            f.frames[last].0 = at;
        };
        put(&mut f, 0, &|f| f.tcp(cli(k), srv, c, 0, SYN, 0, true));
        put(&mut f, 500_000, &|f| {
            f.tcp(srv, cli(k), s, c + 1, SYN | ACK, 0, false)
        });
        put(&mut f, 500_000, &|f| {
            f.tcp(cli(k), srv, c + 1, s + 1, ACK | PSH, 300, true)
        });
        for i in 0..segments {
            let seq = s + 1 + (i * 1460) as u32;
            put(&mut f, 100_000, &|f| {
                f.tcp(srv, cli(k), seq, c + 301, ACK, 1460, false)
            });
            if i % 2 == 1 {
                let ack = seq + 1460;
                put(&mut f, 10_000, &|f| {
                    f.tcp(cli(k), srv, c + 301, ack, ACK, 0, true)
                });
            }
        }
        let end = s + 1 + (segments * 1460) as u32;
        put(&mut f, 100_000, &|f| {
            f.tcp(srv, cli(k), end, c + 301, FIN | ACK, 0, false)
        });
        put(&mut f, 500_000, &|f| {
            f.tcp(cli(k), srv, c + 301, end + 1, FIN | ACK, 0, true)
        });
        put(&mut f, 500_000, &|f| {
            f.tcp(srv, cli(k), end + 1, c + 302, ACK, 0, false)
        });
        timed.push((t0, k, f));
    }
    let mut all: Vec<(u64, Vec<u8>)> = timed.into_iter().flat_map(|(_, _, f)| f.frames).collect();
    all.sort_by_key(|(t, _)| *t);
    let mut out = Frames::new();
    out.frames = all;
    out
}

/// 3,000 mice at ~19 Mbit/s through an MT7621 with the PPE: every flow costs the offload
/// workqueue an add and a delete, and (below the PPE's bind rate) never reaches hardware.
/// That work runs in process context, which softirq preempts, so it must not delay packets:
/// hardware is not worse than software in latency or loss. (Before, each work item was one
/// non-preemptible 159 µs block: p99 5.3 ms against 0.1 ms.)
#[test]
fn offload_work_does_not_block_packets() {
    let dir = scratch("load", "mice");
    let frames = tcp_mice(3_000, 4, 3_000_000);
    let s = cal_scenario(
        &dir,
        "mice",
        &frames,
        &home_fw4(),
        "mt7621",
        "mt7621",
        r#"["software", "hardware"]"#,
        "speedup = 1.0",
    );
    let r = run(&s);
    let sw = run_named(&r, "software");
    let hw = run_named(&r, "hardware");
    let mbps = hw.throughput.offered_bps / 1e6;
    assert!((12.0..30.0).contains(&mbps), "offered {mbps} Mbit/s");
    assert!(hw.flows.offloaded_sw > 2_500, "{:?}", hw.flows);
    assert!(
        hw.latency_ns.overall.p99 <= sw.latency_ns.overall.p99 * 11 / 10 + 2_000,
        "p99: hardware {} ns, software {} ns",
        hw.latency_ns.overall.p99,
        sw.latency_ns.overall.p99
    );
    assert!(
        drop_rate(hw) <= drop_rate(sw) + 1e-4,
        "{:?} vs {:?}",
        hw.drops,
        sw.drops
    );
}

/// Keeps only `policies` (and gates on them).
fn only(f: &ScenarioFile, policies: &[&str]) -> ScenarioFile {
    let list = || toml::Value::Array(policies.iter().map(|&p| p.into()).collect());
    set(&set(f, "policies", list()), "slo.policies", list())
}

/// The bundled scenarios (`scenarios/*.toml`), generated traces cut to `packets` (traces
/// long enough in time to be steady at the rates a plan probes).
fn bundled_small(packets: i64) -> Vec<(String, ScenarioFile)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, with_packets(&load(p), packets))
        })
        .collect()
}

/// `plan` is monotone: for every bundled scenario and policy, on the plan's grid of 20
/// rates, every rate at or below the NDR it reports loses nothing and every rate at or
/// below the PDR loses at most the PDR's share (probed as the plan probes: same reference,
/// same warm-up, by a fresh prober).
#[test]
fn plan_is_monotone_below_its_answers() {
    for (name, f) in bundled_small(100_000) {
        let mut f = set(&f, "plan.steps", 5);
        if f.resolve().unwrap().closed_loop.is_some() {
            // plan retimes the trace: it searches open-loop replays only
            f = set(&f, "replay.mode", "open-loop");
        }
        let p = prep(&f);
        let r = offsim::plan::run_plan(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        let plan = r.plan.as_ref().unwrap();
        let grid = offsim::plan::range(&p).unwrap().grid();
        assert_eq!(grid.len(), 20);
        for (pol, cfg) in p.scenario.policies.iter().zip(&plan.configs) {
            let ndr = cfg.ndr.map_or(0.0, |b| b.lower.wire_bps / 1e9);
            let pdr = cfg.pdr.map_or(0.0, |b| b.lower.wire_bps / 1e9);
            // each answer also in new connections per second, at the trace's ratio
            for b in [cfg.ndr, cfg.pdr].into_iter().flatten() {
                assert!(
                    b.lower.cps > 0.0 && b.lower.cps < b.lower.pps,
                    "{name}: {b:?}"
                );
            }
            let mut prober = offsim::plan::Prober::new(&p, pol).unwrap();
            for &g in grid.iter().filter(|&&g| g <= pdr * (1.0 + 1e-9)) {
                let t = prober.trial(g).unwrap();
                assert!(
                    t.loss <= plan.pdr_loss,
                    "{name}/{}: loss {} at {g} Gbit/s, below the PDR {pdr}",
                    pol.name,
                    t.loss
                );
                if g <= ndr * (1.0 + 1e-9) {
                    assert!(
                        t.loss == 0.0,
                        "{name}/{}: loss {} at {g} Gbit/s, below the NDR {ndr}",
                        pol.name,
                        t.loss
                    );
                }
            }
        }
    }
}

/// Past saturation, delivered throughput holds at the capacity `plan` found (its PDR),
/// less the share of traffic whose connections a lost handshake kept from being sent within
/// the trace; it does not collapse (before: a handshake lost to overload left the rest of
/// its connection invalid, and lost ACKs made the open-loop sender's later segments fall
/// outside conntrack's window; the ruleset dropped them after the CPU paid for them, and an
/// MT7621 without offload delivered a fraction of its capacity).
#[test]
fn overload_degrades_gracefully() {
    let f = with_packets(&load(&repo().join("scenarios/default.toml")), 100_000);
    let f = set(&only(&f, &["none", "software"]), "plan.steps", 5);
    let p = prep(&f);
    let plan = offsim::plan::run_plan(&p).unwrap();
    let plan = plan.plan.unwrap();
    for (pol, cfg) in p.scenario.policies.iter().zip(&plan.configs) {
        let cap = cfg.pdr.expect("a PDR").lower;
        let mut prober = offsim::plan::Prober::new(&p, pol).unwrap();
        for k in 1..=20 {
            // 0.25x to 5x the capacity.
            let g = cap.wire_bps / 1e9 * 0.25 * 20f64.powf(f64::from(k - 1) / 19.0);
            let run = prober.trial(g).unwrap().run;
            let t = &run.throughput;
            let h = &run.handshakes;
            let share = h.unsent as f64 / (t.offered_packets + h.unsent).max(1) as f64;
            // 85 %: bursts of the home-router mix overflow the ring while the core still
            // has idle moments between them (measured 88 % at 1.7x on the bundled default).
            let floor = t.offered_bps.min(cap.bps) * (1.0 - share) * 0.85;
            assert!(
                t.delivered_bps >= floor,
                "{}: {:.0} Mbit/s delivered at {g:.3} Gbit/s offered, capacity {:.0} Mbit/s, \
                 handshake-loss share {share:.3}, drops {:?}",
                pol.name,
                t.delivered_bps / 1e6,
                cap.bps / 1e6,
                run.drops
            );
        }
    }
}

/// `max_cpu` gates on the busiest core: an MT7621 has one RX ring, so core 0 saturates while
/// the mean looks comfortable; `max_cpu_mean` gates on the mean.
#[test]
fn max_cpu_trips_on_the_busy_core() {
    let f = with_packets(&load(&repo().join("scenarios/default.toml")), 20_000);
    let f = only(&f, &["none"]);
    // A rate that keeps the busy core at about 80 % (utilisation grows with the rate below
    // saturation): measured at 0.1 Gbit/s, scaled.
    let probe = run(&with_rate_gbps(&f, 0.1));
    let u = run_named(&probe, "none").cpu.util_busiest;
    let f = with_rate_gbps(&f, 0.1 * 0.8 / u.max(1e-3));
    let base = run(&f);
    let c = &run_named(&base, "none").cpu;
    assert!(c.util_busiest > 0.7 && c.util_mean < 0.5, "{c:?}");
    assert_eq!(c.busiest_core, 0);
    let check = |f: &ScenarioFile, metric: &str| {
        let r = run(f);
        let s = run_named(&r, "none").slo.clone().unwrap();
        s.checks
            .into_iter()
            .find(|c| c.metric == metric)
            .unwrap_or_else(|| panic!("no {metric} check"))
    };
    let busiest = check(&set(&f, "slo.max_cpu", 0.6), "cpu.util_busiest");
    assert!(!busiest.met, "{busiest:?}");
    let mean = check(&set(&f, "slo.max_cpu_mean", 0.6), "cpu.util_mean");
    assert!(mean.met, "{mean:?}");
}

/// The SLO's drop rate counts what the router failed to forward, not what the ruleset or
/// the trace drops by design: a trace whose packets expire (TTL 1) or hit a `drop` rule
/// meets `max_drop_rate = 0` at a rate the router carries.
#[test]
fn ruleset_and_ttl_drops_are_not_loss() {
    let dir = scratch("load", "design-drops");
    let mut f = udp_one_flow(2_000);
    // Every tenth packet expires at the router; a second flow is dropped by the ruleset.
    let expired: Vec<usize> = (0..f.frames.len()).step_by(10).collect();
    for i in expired {
        let b = &mut f.frames[i].1;
        b[14 + 8] = 1;
        let sum = ipv4_checksum(&{
            let mut h = b[14..34].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        b[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    }
    for _ in 0..200 {
        f.udp(v4("10.99.1.1"), 5001, v4("10.99.2.9"), 9, 18, true);
    }
    let rules = "table inet f {\n chain forward_c {\n  type filter hook forward priority 0; policy accept;\n  ip daddr 10.99.2.9 drop\n }\n}\n";
    let s = cal_scenario(
        &dir,
        "design",
        &f,
        rules,
        "x86-server",
        "connectx6dx",
        r#"["none"]"#,
        "speedup = 1.0",
    );
    let r = run(&set(&s, "slo.max_drop_rate", 0.0));
    let x = run_named(&r, "none");
    assert!(x.drops.total >= 400, "{:?}", x.drops);
    assert_eq!(x.drops.capacity, 0, "{:?}", x.drops);
    assert!(x.slo.as_ref().unwrap().met, "{:?}", x.slo);
}

/// Rates are said plainly: `replay.rate_gbps` sets wire bits (L1: frame + 24 bytes of
/// preamble, inter-frame gap and FCS), which the report gives beside frame bits (L2); runs
/// without a hardware table show none.
#[test]
fn rates_in_wire_and_frame_bits_and_no_table_without_offload() {
    let f = with_packets(&load(&repo().join("scenarios/default.toml")), 20_000);
    let r = run(&with_rate_gbps(&f, 0.1));
    for x in &r.runs {
        let t = &x.throughput;
        assert!(
            (t.offered_wire_bps / 0.1e9 - 1.0).abs() < 0.02,
            "{}: {t:?}",
            x.name
        );
        let per_frame = (t.offered_wire_bps - t.offered_bps) / t.offered_pps / 8.0;
        assert!((per_frame - 24.0).abs() < 1e-6, "{}: {per_frame}", x.name);
        if x.policy != "hardware" {
            assert_eq!(x.nic, Default::default(), "{}", x.name);
        }
    }
    assert!(run_named(&r, "hardware").nic.capacity > 0);
}
