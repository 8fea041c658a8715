//! Bounded memory and time on any input (issue 14), one test per class: live state only
//! (the side split and conntrack with a limit), sparse time series over idle gaps, every
//! scenario value checked at load with its position, the "silently wrong" inputs refused,
//! rulesets capped, control characters escaped, and a mutation harness over scenario TOML.

use std::path::{Path, PathBuf};

use offsim::prepare::prepare;
use offsim::run::run_policy;
use offsim::scenario::ScenarioFile;
use offsim_traces::parse::LinkType;
use offsim_traces::pcap::PcapWriter;
use offsim_traces::time::{NS_PER_SEC, SimTime};
use proptest::prelude::*;

use crate::util::{offsim, repo, scratch};

fn ruleset() -> String {
    repo()
        .join("scenarios/rulesets/home-fw4.nft")
        .display()
        .to_string()
        .replace('\\', "/")
}

/// A scenario over `trace` (a `[trace]` body) with `extra` appended.
fn scenario(dir: &Path, trace: &str, extra: &str) -> PathBuf {
    let body = format!(
        "name = \"bounded\"\npolicies = [\"none\", \"software\"]\n[trace]\n{trace}\n[ruleset]\nfile = \"{}\"\n[cpu]\npreset = \"x86-server\"\n[nic]\npreset = \"mt7621\"\n{extra}",
        ruleset()
    );
    let p = dir.join("s.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// An Ethernet/IPv4/UDP frame.
fn udp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    let len: u16 = 20 + 8 + 18;
    f.extend_from_slice(&[
        0x45,
        0,
        (len >> 8) as u8,
        len as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8u16 + 18).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0u8; 18]);
    f
}

fn write_pcap(path: &Path, pkts: &[(u64, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 65_535).unwrap();
    for (ts, fr) in pkts {
        w.write(SimTime(*ts), fr, fr.len() as u32).unwrap();
    }
    w.finish().unwrap();
}

/// A capture whose timestamps jump 10 days ahead: the run ends at once, the series keeps
/// only the intervals with traffic (numbered), and the report reads back.
#[test]
fn an_idle_gap_of_days_costs_no_intervals() {
    let dir = scratch("bounded", "gap");
    let t0 = 1_700_000_000 * NS_PER_SEC;
    let mut pkts = Vec::new();
    for i in 0..20u64 {
        let at = if i < 10 {
            t0
        } else {
            t0 + 10 * 86_400 * NS_PER_SEC
        };
        let fr = udp_frame([192, 168, 1, 10], 5000, [198, 51, 100, 1], 53);
        pkts.push((at + i * 1_000_000, fr));
    }
    write_pcap(&dir.join("gap.pcap"), &pkts);
    let sc = scenario(&dir, "file = \"gap.pcap\"", "[report]\ninterval_ms = 1\n");
    let out = dir.join("out");
    let t = std::time::Instant::now();
    let o = offsim(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Not a speed assertion: 10 days at 1 ms would be 8.6e8 intervals.
    let _ = t;
    let report = offsim_reports::Report::from_json_file(&out.join("report.json")).unwrap();
    // The report says the interval was widened, and to what.
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("time series every 500000 ms")),
        "{:?}",
        report.notes
    );
    for r in &report.runs {
        assert_eq!(r.series.interval_ns, 500 * NS_PER_SEC);
        assert!(r.series.len() < 100, "{} intervals", r.series.len());
        assert_eq!(r.series.index.len(), r.series.len());
        // 10 days: the interval is widened to keep at most 2,000 of them (1 ms would be
        // 8.6e8), and the last one kept starts 10 days in.
        let last = *r.series.index.last().unwrap();
        assert!(last <= 2_000, "{last}");
        assert!(last * r.series.interval_ns >= 10 * 86_400 * NS_PER_SEC - r.series.interval_ns);
        assert_eq!(r.throughput.offered_packets, 20);
    }
}

/// With `conntrack_max`, the side split forgets tuples conntrack no longer holds and
/// conntrack itself stays at its limit (early drop): state follows the limit, not the
/// number of flows in the trace.
#[test]
fn conntrack_limit_bounds_the_state_of_a_flood() {
    let dir = scratch("bounded", "flood");
    let sc = scenario(
        &dir,
        "generate = { profile = \"synflood\", packets = 200000 }",
        "[kernel]\nconntrack_max = 1024\n",
    );
    let p = prepare(ScenarioFile::load(&sc).unwrap().resolve().unwrap()).unwrap();
    let o = run_policy(&p, &p.scenario.policies[0]).unwrap();
    let ct = o.engine.datapath().conntrack();
    assert!(ct.stats.peak <= 1024, "peak {}", ct.stats.peak);
    assert!(ct.stats.early_drop > 0);
    assert_eq!(ct.buckets(), 1024);
    // The flood has ~137,000 distinct tuples, all within their 120 s SYN_SENT horizon; the
    // split keeps those conntrack holds (1024), those of the packets that may still wait
    // in an RX ring (6 x 1024 + 1024) and what arrived since its last sweep (which runs
    // at the latest when the table reaches 65,536).
    let kept = o.engine.side_tuples();
    assert!(kept < 75_000, "side split kept {kept} tuples");
    let report = offsim::run::run_scenario(&p).unwrap();
    let ct = report.runs[0]
        .conntrack
        .as_ref()
        .expect("conntrack section");
    assert_eq!((ct.max, ct.buckets), (1024, 1024));
    assert!(ct.early_drop > 0);
}

/// Values that made runs hang, explode or mislead are refused at load, naming the key and
/// its line and column.
#[test]
fn absurd_values_are_refused_with_their_position() {
    let dir = scratch("bounded", "ranges");
    let small = "generate = { profile = \"home-router\", packets = 2000 }";
    for (extra, key) in [
        ("[replay]\nspeedup = 1e-9\n", "replay.speedup"),
        ("[replay]\nrate_gbps = 1e-12\n", "replay.rate_gbps"),
        ("[replay]\nrate_pps = nan\n", "replay.rate_pps"),
        ("[replay]\nwarmup_s = inf\n", "replay.warmup_s"),
        ("[kernel]\nconntrack_max = 0\n", "kernel.conntrack_max"),
        (
            "[kernel]\nconntrack_buckets = 4000000000\n",
            "kernel.conntrack_buckets",
        ),
        ("[plan]\nmax_gbps = -inf\n", "plan.max_gbps"),
        (
            "policies = [{ name = \"\", base = \"software\" }]\n",
            "policies[0].name",
        ),
    ] {
        let body_extra = extra.to_string();
        let sc = if body_extra.starts_with("policies") {
            let p = scenario(&dir, small, "");
            let text = std::fs::read_to_string(&p).unwrap().replacen(
                "policies = [\"none\", \"software\"]\n",
                &body_extra,
                1,
            );
            std::fs::write(&p, text).unwrap();
            p
        } else {
            scenario(&dir, small, &body_extra)
        };
        let o = offsim(&["run", sc.to_str().unwrap(), "--out", "/nonexistent/x", "-q"]);
        assert_eq!(o.code, 2, "{key}: {}", o.stderr);
        assert!(o.stderr.contains(key), "{key}: {}", o.stderr);
        assert!(
            o.stderr.contains("s.toml:") && o.stderr.matches(':').count() >= 3,
            "{key}: no line:col in {}",
            o.stderr
        );
    }
    // CPU and NIC overrides.
    let body = std::fs::read_to_string(scenario(&dir, small, "")).unwrap();
    for (from, to, key) in [
        (
            "preset = \"x86-server\"",
            "preset = \"x86-server\"\nirq_delay_ns = 9223372036854775807",
            "irq_delay_ns",
        ),
        (
            "preset = \"x86-server\"",
            "preset = \"x86-server\"\n[cpu.cycles]\noffload_work = inf",
            "offload_work",
        ),
        (
            "preset = \"mt7621\"",
            "preset = \"mt7621\"\n[nic.pipeline]\ncpu_ns_insert = 9223372036854775807",
            "cpu_ns_insert",
        ),
    ] {
        let p = dir.join("o.toml");
        std::fs::write(&p, body.replacen(from, to, 1)).unwrap();
        let o = offsim(&["run", p.to_str().unwrap(), "--out", "/nonexistent/x", "-q"]);
        assert_eq!(o.code, 2, "{key}: {}", o.stderr);
        assert!(o.stderr.contains(key), "{key}: {}", o.stderr);
    }
}

/// Inputs that gave a wrong result with exit 0: a warm-up longer than the replay, a
/// fractional packet rate, an unknown kernel version.
#[test]
fn silently_wrong_inputs_are_fixed_or_refused() {
    let dir = scratch("bounded", "wrong");
    let small = "generate = { profile = \"home-router\", packets = 2000 }";
    // The generated trace lasts well under 100 s.
    let sc = scenario(&dir, small, "[replay]\nwarmup_s = 100.0\n");
    let o = offsim(&["run", sc.to_str().unwrap(), "--out", "/nonexistent/x", "-q"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("replay.warmup_s") || o.stderr.contains("warmup_s"),
        "{}",
        o.stderr
    );

    // 0.5 pps: 2000 packets take ~4000 s, not 2000 s.
    let sc = scenario(&dir, small, "[replay]\nrate_pps = 0.5\n");
    let p = prepare(ScenarioFile::load(&sc).unwrap().resolve().unwrap()).unwrap();
    let secs = p.replay.duration_ns as f64 / 1e9;
    assert!((secs - 4000.0).abs() < 5.0, "{secs} s");

    let trace = dir.join("t.pcap");
    write_pcap(
        &trace,
        &[(0, udp_frame([192, 168, 1, 2], 1, [198, 51, 100, 1], 53))],
    );
    let o = offsim(&[
        "rules",
        "eval",
        &ruleset(),
        trace.to_str().unwrap(),
        "--kernel",
        "99.99",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("99.99"), "{}", o.stderr);
}

/// A scenario name with terminal escape sequences is printed escaped.
#[test]
fn control_characters_do_not_reach_the_terminal() {
    let dir = scratch("bounded", "ctrl");
    let sc = scenario(
        &dir,
        "generate = { profile = \"home-router\", packets = 500 }",
        "",
    );
    let text = std::fs::read_to_string(&sc)
        .unwrap()
        .replace("name = \"bounded\"", "name = \"x\\u001b[2J\\u0007y\"");
    std::fs::write(&sc, text).unwrap();
    let out = dir.join("out");
    let o = offsim(&["run", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for s in [&o.stdout, &o.stderr] {
        assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'), "{s}");
    }
    assert!(o.stdout.contains("x\\u{1b}[2J\\u{7}y"), "{}", o.stdout);
}

/// Rulesets: a define that doubles at each level, an include of a device, and invalid
/// UTF-8 are errors (exit 2) with a position, not a hang or an out-of-memory abort.
#[test]
fn hostile_rulesets_are_refused() {
    let dir = scratch("bounded", "rules");
    let mut doubling = String::from("define v0 = { 1 }\n");
    for i in 1..40 {
        doubling.push_str(&format!("define v{i} = {{ $v{}, $v{} }}\n", i - 1, i - 1));
    }
    doubling.push_str("table inet t { chain c { tcp dport $v39 accept } }\n");
    let cases = [
        ("doubling.nft", doubling.into_bytes(), "expansion"),
        (
            "dev.nft",
            b"include \"/dev/zero\"\ntable inet t { chain c { } }\n".to_vec(),
            "not a regular file",
        ),
        (
            "utf8.nft",
            b"table inet t {\n chain c\xff { }\n}\n".to_vec(),
            "2:",
        ),
    ];
    for (name, body, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        let o = offsim(&["rules", "check", p.to_str().unwrap()]);
        assert_eq!(o.code, 2, "{name}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{name}: {}", o.stderr);
    }
}

/// Scenario files the mutation harness starts from: the bundled ones.
fn toml_seeds() -> Vec<String> {
    let mut v: Vec<String> = ["default", "datacenter", "enterprise-edge", "sweep-table"]
        .iter()
        .filter_map(|n| std::fs::read_to_string(repo().join(format!("scenarios/{n}.toml"))).ok())
        .collect();
    v.push(
        "name = \"m\"\n[trace.generate]\nprofile = \"synflood\"\npackets = 10\n[ruleset]\nfile = \"r.nft\"\n[cpu]\npreset = \"mt7621\"\ncores = 2\n[cpu.cycles]\nrule = 15.0\n[nic]\npreset = \"e810\"\n[nic.table]\ncapacity = 4096\n[kernel]\nconntrack_max = 100\n[replay]\nrate_pps = 1000.5\nwarmup_s = 0.1\n[slo]\nmax_cpu = 0.5\n".into(),
    );
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Mutation fuzzing of scenario TOML on the stable toolchain (`cargo fuzz run
    /// scenario_toml` goes deeper): loading and validating never panics.
    #[test]
    fn mutated_scenarios_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), 0u8..4, prop_oneof![
                Just("nan".to_string()), Just("inf".to_string()), Just("-1".to_string()),
                Just("1e308".to_string()), Just("9223372036854775807".to_string()),
                Just("\"\"".to_string()), Just("[".to_string()), Just("\n[x]\n".to_string()),
                "[ -~]{0,8}",
            ]),
            1..6),
    ) {
        let seeds = toml_seeds();
        let mut text = seeds[pick.index(seeds.len())].clone();
        for (at, op, piece) in edits {
            let mut i = at.index(text.len().max(1)).min(text.len());
            while !text.is_char_boundary(i) { i -= 1; }
            match op {
                0 => text.insert_str(i, &piece),
                1 => {
                    // Replace the value after the next `=`.
                    if let Some(eq) = text[i..].find('=') {
                        let s = i + eq + 1;
                        let e = text[s..].find('\n').map_or(text.len(), |n| s + n);
                        text.replace_range(s..e, &format!(" {piece}"));
                    }
                }
                2 => { let j = (i + piece.len()).min(text.len()); if text.is_char_boundary(j) { text.replace_range(i..j, ""); } }
                _ => text.truncate(i),
            }
        }
        if let Ok(f) = ScenarioFile::from_text(Path::new("fuzz.toml"), &text) {
            let _ = f.resolve();
            let _ = offsim::sweep::grid(&f);
        }
    }
}
