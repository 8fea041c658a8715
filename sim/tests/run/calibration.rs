//! Calibration: the model, run end to end on purpose-built traces and rulesets, reproduces
//! the per-packet cost relationships of `shared/reference/anchors.md` (§1.1, §1.2, §1.4, §7)
//! and the MT7621 field report (§1.4) within stated tolerances. The default scenario:
//! hardware < software < none in CPU and power, and as the offered load rises `none`
//! saturates first (the load curve is printed with `--nocapture`). The generated rulesets
//! are what their scripts print.

use super::*;

// ---------------------------------------------------------------------------------------
// Calibration: the model end to end against shared/reference/anchors.md
// ---------------------------------------------------------------------------------------

/// Mean CPU cycles per packet of the `none` configuration (x86-server, ConnectX-6 Dx) for
/// a trace and a ruleset, at a rate low enough that every packet is polled alone.
fn cycles_x86(name: &str, frames: &Frames, ruleset: &str) -> f64 {
    let dir = scratch("run", &format!("cal-{name}"));
    let s = cal_scenario(
        &dir,
        name,
        frames,
        ruleset,
        "x86-server",
        "connectx6dx",
        r#"["none"]"#,
        "rate_pps = 50000",
    );
    let r = run(&s);
    let none = run_named(&r, "none");
    assert_eq!(
        none.throughput.offered_packets,
        frames.frames.len() as u64,
        "{name}"
    );
    none.cpu.cycles_per_packet
}

/// `N` non-matching `ip saddr X drop` rules in a forward base chain: the calibration kit's
/// `gen_rules.py N linear`.
fn linear_rules(n: usize) -> String {
    let mut s = String::from(
        "table ip f {\n\tchain fw {\n\t\ttype filter hook forward priority 0; policy accept;\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "\t\tip saddr 172.16.{}.{} drop\n",
            i / 250,
            i % 250 + 1
        ));
    }
    s.push_str("\t}\n}\n");
    s
}

/// One `ip saddr @blk drop` rule over a hash set of `n` elements (`gen_rules.py N set`), or
/// the empty chain for `None`.
fn set_rule(n: Option<usize>) -> String {
    let mut s = String::from("table ip f {\n");
    if let Some(n) = n {
        s.push_str("\tset blk {\n\t\ttype ipv4_addr\n\t\tflags constant\n\t\telements = { ");
        let el: Vec<String> = (0..n)
            .map(|i| format!("172.16.{}.{}", i / 250, i % 250 + 1))
            .collect();
        s.push_str(&el.join(", "));
        s.push_str(" }\n\t}\n");
    }
    s.push_str("\tchain fw {\n\t\ttype filter hook forward priority 0; policy accept;\n");
    if n.is_some() {
        s.push_str("\t\tip saddr @blk drop\n");
    }
    s.push_str("\t}\n}\n");
    s
}

/// A raw-priority prerouting chain whose one rule untracks packets to `daddr` (all of the
/// trace, or none of it), optionally with masquerade in a postrouting NAT chain.
fn raw_rules(daddr: &str, masquerade: bool) -> String {
    let mut s = format!(
        "table ip raw {{\n\tchain pre {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tip daddr {daddr} notrack\n\t}}\n}}\n"
    );
    if masquerade {
        s.push_str("table ip nat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tmasquerade\n\t}\n}\n");
    }
    s
}

/// Within `tol` (fraction) of `want`.
fn near(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want
}

/// Per-packet costs on the x86-server preset, each measured as the difference of two end-to-end
/// runs that differ in one thing (anchors.md §1.2 [OWN] veth micro-benchmarks made with
/// shared/calibration/nftbench, §7 defaults):
///
/// | what | anchor | tolerance |
/// |---|---|---|
/// | one more linear `ip saddr X drop` rule (1,100 vs 100 rules) | 4.15 ns ≈ 11 cycles | 9-12 (§7 range) |
/// | `ip saddr @set` vs the empty chain | hash lookup 150 (80-190, §7) + the rule | 80-200 |
/// | set of 5,000 vs 1 element | flat in N | ±1 % |
/// | conntrack on an established flow (tracked vs `notrack`) | +130 ns ≈ 340 cycles | ±10 % |
/// | a new conntrack entry (new 5-tuple per packet, tracked vs `notrack`) | +641-851 ns = 1,667-2,213 cycles at 2.6 GHz (~2,000, §7) | that range |
/// | masquerade, established flow | +131 ns ≈ 340 cycles | ±10 % |
/// | masquerade, new connection | +860 ns ≈ 2,200 cycles | ±10 % |
///
/// Since issue 12 the x86-server preset's rule, set, conntrack and NAT figures are measured
/// by `offsim calibrate` on this machine's kernel (6.18, see the preset's `[sources]`), not
/// fitted to these anchors. A row passes when the model's end-to-end difference lands in
/// the anchor's range or in the range the calibrate run measured for the same difference
/// (the sum of its components' medians, with their spread as `offsim calibrate` printed it):
/// | what | calibrate (this machine) |
/// |---|---|
/// | one more linear rule | rule 2.4 + payload 8.3 = 10.7 (spread 7.0-13.7; an earlier run 7.7-18.6) |
/// | `ip saddr @set` vs the empty chain | rule 2.4 + payload 8.3 + hash_fast 17.0 = 27.7 (spread 23.8-34.1; 29.8-47.2 in an earlier run) |
/// | conntrack, established flow | 292.1 (11 repeats, spread 268-390; an earlier run 276.6, 200-320 taken) |
/// | masquerade, established flow | nat_mangle 275.3 + two NAT hook entries 2 x 11.4 = 298 (an earlier run 222.1 + 2 x 31.0 = 284; ±15 % of 284 taken) |
/// | a new conntrack entry | ct_new 1,462 (11 repeats, spread 1,261-1,518; an earlier run 1,604, spread 1,525-1,804) |
///
/// (the speed-normalised run of 2026-12-05, `offsim calibrate --base x86-server --name
/// x86-server`; see the preset's notes)
#[test]
fn calibration_x86_rule_set_conntrack_nat_costs() {
    let one = udp_one_flow(2_000);
    let new = udp_new_flows(2_000);
    let mut table = Vec::new();
    let mut row = |what: &str, got: f64, anchor: &str, ok: bool| {
        table.push(format!(
            "{what:<44} {got:>8.1}  {anchor:<34} {}",
            if ok { "ok" } else { "OUT OF RANGE" }
        ));
        ok
    };
    let mut all = true;

    let l100 = cycles_x86("lin100", &one, &linear_rules(100));
    let l1100 = cycles_x86("lin1100", &one, &linear_rules(1100));
    let per_rule = (l1100 - l100) / 1000.0;
    all &= row(
        "per linear rule",
        per_rule,
        "11 (9-12) | calibrate 7.7-18.6",
        (9.0..=12.0).contains(&per_rule) || (7.7..=18.6).contains(&per_rule),
    );

    let empty = cycles_x86("empty", &one, &set_rule(None));
    let set1 = cycles_x86("set1", &one, &set_rule(Some(1)));
    let set5k = cycles_x86("set5k", &one, &set_rule(Some(5000)));
    all &= row(
        "hash-set rule vs empty chain",
        set1 - empty,
        "150 + rule (80-200) | cal. 23.8-47.2",
        (80.0..=200.0).contains(&(set1 - empty)) || (23.8..=47.2).contains(&(set1 - empty)),
    );
    all &= row(
        "set of 5,000 minus set of 1",
        set5k - set1,
        "0 (flat in N)",
        (set5k - set1).abs() <= 0.01 * set1,
    );

    let untracked = cycles_x86("untracked", &one, &raw_rules("10.99.2.1", false));
    let tracked = cycles_x86("tracked", &one, &raw_rules("192.0.2.99", false));
    let masq = cycles_x86("masq", &one, &raw_rules("192.0.2.99", true));
    all &= row(
        "conntrack, established flow",
        tracked - untracked,
        "340 ±10 % | calibrate 200-320",
        near(tracked - untracked, 340.0, 0.10) || (200.0..=320.0).contains(&(tracked - untracked)),
    );
    all &= row(
        "masquerade, established flow",
        masq - tracked,
        "340 ±10 % | calibrate 284 ±15 %",
        near(masq - tracked, 340.0, 0.10) || near(masq - tracked, 284.0, 0.15),
    );

    let new_untracked = cycles_x86("new-untracked", &new, &raw_rules("10.99.2.1", false));
    let new_tracked = cycles_x86("new-tracked", &new, &raw_rules("192.0.2.99", false));
    let new_masq = cycles_x86("new-masq", &new, &raw_rules("192.0.2.99", true));
    all &= row(
        "new conntrack entry",
        new_tracked - new_untracked,
        "1,667-2,213 (~2,000) | calibrate 1,261-1,804",
        (1_667.0..=2_213.0).contains(&(new_tracked - new_untracked))
            || (1_261.0..=1_804.0).contains(&(new_tracked - new_untracked)),
    );
    all &= row(
        "masquerade, new connection",
        new_masq - new_tracked,
        "2,200 ±10 %",
        near(new_masq - new_tracked, 2_200.0, 0.10),
    );
    eprintln!(
        "x86-server, cycles per packet (model end to end vs anchors.md):\n{}",
        table.join("\n")
    );
    assert!(all, "calibration out of range:\n{}", table.join("\n"));
}

/// The classic forwarding path of one core at saturation (NAPI batches full): anchors.md
/// §1.1, Linux IP routing with one route, no netfilter: 1.74 Mpps = ~2,070 cycles at 3.6 GHz
/// (XDP paper). offsim runs conntrack whether or not a rule needs it (the kernel would not
/// load it for an empty ruleset), so the expectation adds its 340 cycles (§1.2): 2,410 ±10 %.
#[test]
fn calibration_x86_forwarding_path_at_saturation() {
    let dir = scratch("run", "cal-saturation");
    let s = cal_scenario(
        &dir,
        "sat",
        &udp_one_flow(20_000),
        "",
        "x86-server",
        "connectx6dx",
        r#"["none"]"#,
        "rate_pps = 3000000",
    );
    let r = run(&s);
    let x = run_named(&r, "none");
    let cpp = x.cpu.cycles_per_packet;
    let mpps = x.throughput.delivered_pps / 1e6;
    eprintln!(
        "x86-server forwarding at saturation: {cpp:.0} cycles/packet, {mpps:.2} Mpps on one core (anchor: 2,070 + 340 conntrack = 2,410 cycles, 1.49 Mpps)"
    );
    assert!(near(cpp, 2_410.0, 0.10), "{cpp}");
    assert!(near(mpps, 3.6e3 / 2_410.0, 0.10), "{mpps}");
    assert!(busiest_core(x) > 0.95, "{:?}", x.cpu.util_per_core);
}

/// A software flowtable hit against the classic path of the same established traffic
/// (iperf-like bulk TCP through the fw4 ruleset with masquerade): anchors.md §1.4/§7, 0.35-0.85
/// of the classic path, about 0.5 on a firewall + NAT router (MT7620: 39.1 % vs 78.6 % CPU at
/// the same rate, so 0.50 ±0.10 for the MT7621 preset, which cites that report).
#[test]
fn calibration_flowtable_hit_vs_classic_path() {
    let fw4 = std::fs::read_to_string(repo().join("scenarios/rulesets/home-fw4.nft")).unwrap();
    let bulk = tcp_bulk(2, 4_000, 0.05);
    for (cpu, nic, lo, hi) in [
        ("x86-server", "connectx6dx", 0.35, 0.85),
        ("mt7621", "mt7621", 0.40, 0.60),
        ("mt7986", "mt7986", 0.35, 0.85),
    ] {
        let dir = scratch("run", &format!("cal-ratio-{cpu}"));
        let s = cal_scenario(
            &dir,
            "ratio",
            &bulk,
            &fw4,
            cpu,
            nic,
            r#"["none", "software"]"#,
            "speedup = 1.0",
        );
        let r = run(&s);
        let none = run_named(&r, "none");
        let sw = run_named(&r, "software");
        assert_eq!(
            none.drops.total + sw.drops.total,
            0,
            "{cpu}: drops at a low rate: {:?} {:?}",
            none.drops,
            sw.drops
        );
        assert!(
            sw.paths.sw_fast as f64 > 0.99 * sw.throughput.delivered_packets as f64 - 10.0,
            "{cpu}: the bulk flows are not in the flowtable: {:?}",
            sw.paths
        );
        let classic = none.cpu.cycles_per_packet;
        let hit = sw.cpu.cycles_per_packet_by_path.sw_fast;
        let ratio = hit / classic;
        eprintln!(
            "{cpu}: classic path {classic:.0} cycles/packet, flowtable hit {hit:.0}: ratio {ratio:.2} (expected {lo}-{hi})"
        );
        assert!((lo..=hi).contains(&ratio), "{cpu}: ratio {ratio}");
    }
}

/// anchors.md §1.4, K2P (MT7621) with NAT: ~300-310 Mbit/s at ~97 % CPU without offload, line
/// rate (~940 Mbit/s) at ~3 % CPU with the PPE. With one RX ring all softirq work lands on
/// one core, so "CPU" is the busiest core. Tolerances: the no-offload capacity within
/// 300 Mbit/s ±20 %, estimated from the busy core's utilisation at 200 Mbit/s and then checked
/// on both sides (no drops at 0.8 x, drops at 1.3 x); with the PPE, no drops at 940 Mbit/s and
/// at most 4 % mean CPU (§1.4: hardware offload leaves 0.1-4 %).
#[test]
fn calibration_mt7621_field_report() {
    let fw4 = std::fs::read_to_string(repo().join("scenarios/rulesets/home-fw4.nft")).unwrap();
    let dir = scratch("run", "cal-mt7621");
    let none_at = |gbps: f64| {
        let s = cal_scenario(
            &dir,
            &format!("none-{}", (gbps * 1000.0) as u32),
            &tcp_bulk(2, 4_000, gbps),
            &fw4,
            "mt7621",
            "mt7621",
            r#"["none"]"#,
            "speedup = 1.0",
        );
        run_named(&run(&s), "none").clone()
    };
    let hk = offsim::cpu::CpuConfig::preset("mt7621")
        .unwrap()
        .housekeeping_util;
    let at200 = none_at(0.2);
    let u = busiest_core(&at200) - hk;
    let capacity = 200.0 * (1.0 - hk) / u;
    eprintln!(
        "mt7621 without offload: busiest core {:.0} % at 200 Mbit/s -> capacity ~{capacity:.0} Mbit/s (field report: ~300 Mbit/s at ~97 %)",
        busiest_core(&at200) * 100.0
    );
    assert!((240.0..=360.0).contains(&capacity), "{capacity}");
    let below = none_at(capacity * 0.8 / 1000.0);
    let above = none_at(capacity * 1.3 / 1000.0);
    eprintln!(
        "  at {:.0} Mbit/s: busiest core {:.0} %, drops {:.2} %; at {:.0} Mbit/s: busiest core {:.0} %, drops {:.1} %",
        capacity * 0.8,
        busiest_core(&below) * 100.0,
        drop_rate(&below) * 100.0,
        capacity * 1.3,
        busiest_core(&above) * 100.0,
        drop_rate(&above) * 100.0
    );
    assert!(drop_rate(&below) < 0.001 && busiest_core(&below) > 0.75);
    assert!(drop_rate(&above) > 0.05 && busiest_core(&above) > 0.99);

    // With the PPE: 0.5 s of two bulk flows at 940 Mbit/s; the first 0.3 s (the PPE binds a
    // flow only after 100 ms at >= 30 pkt/s) are excluded as warm-up.
    let big = tcp_bulk(2, 20_000, 0.94);
    let s = cal_scenario(
        &dir,
        "hw",
        &big,
        &fw4,
        "mt7621",
        "mt7621",
        r#"["hardware"]"#,
        "speedup = 1.0\nwarmup_s = 0.25",
    );
    let r = run(&s);
    let hw = run_named(&r, "hardware");
    eprintln!(
        "mt7621 with the PPE at {:.0} Mbit/s: delivered {:.0} Mbit/s, CPU {:.1} % (field report: ~940 Mbit/s at ~3 %), {} of {} packets in hardware",
        hw.throughput.offered_bps / 1e6,
        hw.throughput.delivered_bps / 1e6,
        hw.cpu.util_mean * 100.0,
        hw.paths.hw,
        hw.throughput.delivered_packets
    );
    assert!(hw.throughput.offered_bps > 0.9e9);
    assert_eq!(hw.drops.total, 0);
    assert!(hw.paths.hw as f64 > 0.99 * hw.throughput.delivered_packets as f64);
    assert!(hw.cpu.util_mean <= 0.04, "{}", hw.cpu.util_mean);
}

/// anchors.md §1.4, ZBT-WE826 (MT7620, one MIPS 24KEc core, 100BASE-T) with two iperf3 TCP
/// flows through fw4 + NAT at ~91 Mbit/s (openwrt/openwrt PR #24515): CPU 78.6 % without
/// offload, 39.1 % with the software flowtable, 3.7 % with the PPE. The mt7620 preset fits
/// one number to this report (its cycle scale, `scripts/scale-mt7620.py`, to the `none`
/// figure), so `none` is checked tightly (±10 %) and the other two are predictions (±25 %
/// of their share of `none`; the hardware figure within 2-6 %).
#[test]
fn calibration_mt7620_field_report() {
    let fw4 = std::fs::read_to_string(repo().join("scenarios/rulesets/home-fw4.nft")).unwrap();
    let dir = scratch("run", "cal-mt7620");
    // 2.0 s of two bulk flows at 91 Mbit/s; the first 0.5 s (handshakes, the flowtable and
    // the PPE binding after 100 ms at >= 30 pkt/s) are warm-up, as an iperf3 average is.
    let bulk = tcp_bulk(2, 16_000, 0.091);
    let s = cal_scenario(
        &dir,
        "mt7620",
        &bulk,
        &fw4,
        "mt7620",
        "mt7620",
        r#"["none", "software", "hardware"]"#,
        "speedup = 1.0\nwarmup_s = 0.5",
    );
    let r = run(&s);
    let cpu = |n: &str| run_named(&r, n).cpu.util_mean;
    let (none, sw, hw) = (cpu("none"), cpu("software"), cpu("hardware"));
    eprintln!(
        "mt7620 at {:.0} Mbit/s: CPU none {:.1} %, software {:.1} %, hardware {:.1} % (field report: 78.6 : 39.1 : 3.7)",
        run_named(&r, "none").throughput.delivered_bps / 1e6,
        none * 100.0,
        sw * 100.0,
        hw * 100.0
    );
    for n in ["none", "software", "hardware"] {
        assert_eq!(run_named(&r, n).drops.total, 0, "{n}");
    }
    assert!(near(none, 0.786, 0.10), "none {none}");
    assert!(
        near(sw / none, 39.1 / 78.6, 0.25),
        "software {sw} of none {none}"
    );
    assert!((0.02..=0.06).contains(&hw), "hardware {hw}");
}

// ---------------------------------------------------------------------------------------
// The default scenario
// ---------------------------------------------------------------------------------------

/// The default scenario on a 30,000-packet trace (about 2.6 s of its recorded traffic; 0.25-2.5 s
/// of simulated time at the rates below), to keep the tests quick in debug builds.
fn default_small() -> ScenarioFile {
    with_packets(&load(&repo().join("scenarios/default.toml")), 30_000)
}

/// On the default scenario (MT7621, fw4, 500 Mbit/s) hardware offload uses less CPU and
/// power than the software flowtable, and that less than no offload.
#[test]
fn default_scenario_hardware_below_software_below_none() {
    let r = run(&default_small());
    let none = run_named(&r, "none");
    let sw = run_named(&r, "software");
    let hw = run_named(&r, "hardware");
    for x in [none, sw, hw] {
        eprintln!(
            "default {:<9} CPU {:5.1} % (busiest core {:5.1} %), power {:.2} W, {:.0} nJ/packet, drops {:.2} %",
            x.name,
            x.cpu.util_mean * 100.0,
            busiest_core(x) * 100.0,
            x.power_w.total,
            x.energy.per_packet_nj,
            drop_rate(x) * 100.0
        );
    }
    assert!(hw.cpu.util_mean < sw.cpu.util_mean);
    assert!(hw.power_w.total < sw.power_w.total);
    // `none` is overloaded here: it sheds load (ring drops, and connections whose handshake
    // was lost come back a second later), so its utilisation and power are those of a
    // saturated core on less traffic. Per packet, offload is cheaper at every step.
    // (cycles per delivered packet: `cpu.cycles_per_packet` is per packet the CPU handled)
    let per = |x: &Run| x.cpu.total_cycles as f64 / x.throughput.delivered_packets.max(1) as f64;
    assert!(per(hw) < per(sw) && per(sw) < per(none));
    assert!(
        hw.energy.per_packet_nj < sw.energy.per_packet_nj
            && sw.energy.per_packet_nj < none.energy.per_packet_nj
    );
    assert!(hw.cpu.total_cycles < sw.cpu.total_cycles);
    // The premise of the scenario: without offload this router cannot carry 500 Mbit/s;
    // with either offload it can.
    assert!(drop_rate(none) > 0.01);
    assert!(drop_rate(sw) < 0.001 && drop_rate(hw) < 0.001);
    let s = hw.savings.as_ref().expect("savings against none");
    assert!(s.power_w > 0.0 && s.cpu_util > 0.0);
}

/// A configuration is saturated at a rate when more than 1 % of the offered packets are
/// dropped or the p99 latency exceeds 2 ms.
fn saturated(r: &Run) -> bool {
    drop_rate(r) > 0.01 || r.latency_ns.overall.p99 > 2_000_000
}

/// As the offered load of the default scenario rises from 0.1 to 1.0 Gbit/s, `none` saturates
/// first (drops and the latency knee), then the software flowtable, then hardware offload.
/// The curve is printed (`cargo test -p offsim --test run load_curve -- --nocapture`).
///
/// Past its saturation point a configuration can be bistable: the replay is open loop, so a
/// large flow whose handshake was lost in an overload never becomes established, never leaves
/// the slow path and keeps the CPU overloaded; whether that happens depends on when the
/// overload strikes. The assertions therefore use the first saturated rate of each
/// configuration, not monotonicity beyond it.
#[test]
fn default_scenario_load_curve_none_saturates_first() {
    let base = default_small();
    let rates = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
    let policies = ["none", "software", "hardware"];
    let mut first: Vec<Option<f64>> = vec![None; 3];
    let mut table = String::from(
        "offered  |            none             |          software           |          hardware\n\
         Gbit/s   | deliv. drops    p99    CPU  | deliv. drops    p99    CPU  | deliv. drops    p99    CPU\n",
    );
    for &rate in &rates {
        let r = run(&with_rate_gbps(&base, rate));
        table.push_str(&format!("{rate:>5.1}    "));
        for (i, name) in policies.iter().enumerate() {
            let x = run_named(&r, name);
            table.push_str(&format!(
                "| {:>5.0} {:>5.1}% {:>6.2}ms {:>4.0}% ",
                x.throughput.delivered_bps / 1e6,
                drop_rate(x) * 100.0,
                x.latency_ns.overall.p99 as f64 / 1e6,
                x.cpu.util_mean * 100.0
            ));
            if first[i].is_none() && saturated(x) {
                first[i] = Some(rate);
            }
        }
        table.push('\n');
        // At every load, offload never costs more CPU or power.
        let (n, s, h) = (
            run_named(&r, "none"),
            run_named(&r, "software"),
            run_named(&r, "hardware"),
        );
        assert!(
            h.cpu.util_mean <= s.cpu.util_mean + 1e-9,
            "{rate}: hw vs sw CPU"
        );
        // Once `none` saturates it sheds load, and its utilisation is that of less traffic:
        // compared per packet then.
        let none_sheds = n.drops.capacity > 0;
        assert!(
            s.cpu.util_mean <= n.cpu.util_mean + 1e-9
                || (none_sheds && s.cpu.cycles_per_packet < n.cpu.cycles_per_packet),
            "{rate}: sw vs none CPU"
        );
        assert!(
            h.power_w.total <= s.power_w.total + 1e-9,
            "{rate}: hw vs sw power"
        );
        assert!(
            s.power_w.total <= n.power_w.total + 1e-9
                || (none_sheds && s.energy.per_packet_nj < n.energy.per_packet_nj),
            "{rate}: sw vs none power"
        );
    }
    let show = |x: Option<f64>| x.map_or("never".to_string(), |r| format!("{r:.1} Gbit/s"));
    table.push_str(&format!(
        "(deliv. = delivered Mbit/s; CPU = mean of both cores, one RX ring so the busy core is about twice that)\n\
         first saturated rate (drops > 1 % or p99 > 2 ms): none {}, software {}, hardware {}",
        show(first[0]),
        show(first[1]),
        show(first[2])
    ));
    eprintln!("default scenario load curve (30,000 packets):\n{table}");
    let none_sat = first[0].expect("none never saturates");
    let sw_sat = first[1].expect("software never saturates");
    assert!(
        none_sat <= 0.5,
        "none should saturate at or below the scenario's 0.5 Gbit/s"
    );
    assert!(none_sat < sw_sat, "none must saturate before software");
    if let Some(hw_sat) = first[2] {
        assert!(sw_sat < hw_sat, "software must saturate before hardware");
    }
}

/// The committed generated rulesets are what their generator scripts print (skipped with a
/// message when python3 is not installed).
#[test]
fn generated_rulesets_match_their_scripts() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: python3 not found");
        return;
    }
    let dir = repo().join("scenarios/rulesets");
    for (script, nft) in [
        ("gen-datacenter.py", "datacenter.nft"),
        ("gen-enterprise.py", "enterprise-fw4.nft"),
    ] {
        let out = std::process::Command::new("python3")
            .arg(dir.join(script))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read(dir.join(nft)).unwrap();
        assert!(
            out.stdout == committed,
            "scenarios/rulesets/{nft} is not the output of {script}; regenerate it with `python3 scenarios/rulesets/{script} > scenarios/rulesets/{nft}`"
        );
    }
}
