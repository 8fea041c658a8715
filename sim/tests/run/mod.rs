//! `offsim run` end to end, through the library API (`offsim::run`):
//!
//! * every bundled scenario (`scenarios/*.toml`) resolves, loads its ruleset, NIC and trace,
//!   and runs on a reduced trace;
//! * a small fixed scenario's `report.json` matches a committed golden file byte for byte, and
//!   runs are deterministic (twice, and with 1 or 3 rayon threads);
//! * conservation (proptest): every offered packet is delivered, dropped with a reason,
//!   delivered locally or held, exactly once, and the path counts add up to the deliveries;
//! * calibration and the default scenario: in `calibration.rs`.
//!
//! Bless the golden report with
//! `OFFSIM_BLESS=1 cargo test -p offsim --test integration run::golden_report`.

use std::path::{Path, PathBuf};

use offsim::prepare::{Prepared, prepare};
use offsim::run::{run_policy, run_scenario};
use offsim::scenario::ScenarioFile;
use offsim_reports::schema::{Report, Run};
use offsim_traces::r#gen::frame::{self, L3, TcpHdr, TcpOpts, UdpPayload};
use offsim_traces::parse::LinkType;
use offsim_traces::pcap::PcapWriter;
use offsim_traces::time::SimTime;
use proptest::prelude::*;

use crate::util::{manifest, repo, scratch};

mod calibration;
mod load;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn load(path: &Path) -> ScenarioFile {
    ScenarioFile::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn prep(f: &ScenarioFile) -> Prepared {
    let sc = f.resolve().unwrap_or_else(|e| panic!("{e}"));
    prepare(sc).unwrap_or_else(|e| panic!("{}: {e}", f.path.display()))
}

fn run(f: &ScenarioFile) -> Report {
    run_scenario(&prep(f)).unwrap_or_else(|e| panic!("{e}"))
}

/// Sets a dotted key.
fn set(f: &ScenarioFile, key: &str, v: impl Into<toml::Value>) -> ScenarioFile {
    f.with(key, v.into()).unwrap_or_else(|e| panic!("{e}"))
}

/// Replaces a generated trace's length by a packet count.
fn with_packets(f: &ScenarioFile, packets: i64) -> ScenarioFile {
    let mut g = set(f, "trace.generate.packets", packets);
    if let Some(t) = g
        .value
        .get_mut("trace")
        .and_then(|t| t.get_mut("generate"))
        .and_then(toml::Value::as_table_mut)
    {
        t.remove("duration_s");
    }
    g
}

/// Sets the replay rate in Gbit/s (dropping any other timing).
fn with_rate_gbps(f: &ScenarioFile, gbps: f64) -> ScenarioFile {
    let mut g = set(f, "replay.rate_gbps", gbps);
    if let Some(t) = g
        .value
        .get_mut("replay")
        .and_then(toml::Value::as_table_mut)
    {
        t.remove("speedup");
        t.remove("rate_pps");
    }
    g
}

fn run_named<'a>(r: &'a Report, name: &str) -> &'a Run {
    r.runs
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("no run `{name}`"))
}

fn drop_rate(r: &Run) -> f64 {
    r.drops.total as f64 / r.throughput.offered_packets.max(1) as f64
}

fn busiest_core(r: &Run) -> f64 {
    r.cpu.util_per_core.iter().copied().fold(0.0, f64::max)
}

// ---------------------------------------------------------------------------------------
// Hand-made traces for the calibration tests (pcap files, parsed like any capture)
// ---------------------------------------------------------------------------------------

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

fn v4(s: &str) -> u128 {
    u128::from(u32::from(
        s.parse::<std::net::Ipv4Addr>().expect("IPv4 address"),
    ))
}

/// Frames with timestamps (ns), in order.
struct Frames {
    frames: Vec<(u64, Vec<u8>)>,
    t: u64,
    ip_id: u16,
    /// Time before the next frame, ns; 0 = pace by size at `bps`.
    gap: u64,
    /// Pacing rate for `gap == 0`, bit/s.
    bps: f64,
}

impl Frames {
    /// Frames 10 µs apart.
    fn new() -> Frames {
        Frames {
            frames: Vec::new(),
            t: 0,
            ip_id: 0,
            gap: 10_000,
            bps: 0.0,
        }
    }

    fn l3(&mut self, src: u128, dst: u128, fwd: bool) -> L3 {
        self.ip_id = self.ip_id.wrapping_add(1);
        L3 {
            v6: false,
            src,
            dst,
            src_mac: if fwd { MAC_A } else { MAC_B },
            dst_mac: if fwd { MAC_B } else { MAC_A },
            ttl: 64,
            ip_id: self.ip_id,
            df: true,
            ..L3::default()
        }
    }

    fn push(&mut self, f: Vec<u8>) {
        self.t += if self.gap > 0 {
            self.gap
        } else {
            (f.len() as f64 * 8.0 * 1e9 / self.bps).round() as u64
        };
        self.frames.push((self.t, f));
    }

    fn udp(&mut self, src: u128, sport: u16, dst: u128, dport: u16, payload: usize, fwd: bool) {
        let l3 = self.l3(src, dst, fwd);
        let mut b = Vec::new();
        frame::udp(&mut b, &l3, sport, dport, UdpPayload::Zero(payload));
        self.push(b);
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        src: (u128, u16),
        dst: (u128, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: usize,
        fwd: bool,
    ) {
        let l3 = self.l3(src.0, dst.0, fwd);
        let h = TcpHdr {
            sport: src.1,
            dport: dst.1,
            seq,
            ack,
            flags,
            win: 65_535,
            opts: if flags & SYN != 0 {
                TcpOpts::Mss(1460)
            } else {
                TcpOpts::None
            },
        };
        let mut b = Vec::new();
        frame::tcp(&mut b, &l3, &h, payload);
        self.push(b);
    }

    fn write(&self, path: &Path) {
        let f = std::fs::File::create(path).expect("create pcap");
        let mut w =
            PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 65_535).unwrap();
        for (t, b) in &self.frames {
            w.write(SimTime(t + 1_700_000_000_000_000_000), b, b.len() as u32)
                .unwrap();
        }
        w.finish().unwrap();
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// One UDP flow, `n` packets one way with an 18-byte payload (the calibration kit's
/// `udpflood`), LAN 10.99.1.1:5000 → 10.99.2.1:6000.
fn udp_one_flow(n: usize) -> Frames {
    let mut f = Frames::new();
    for _ in 0..n {
        f.udp(v4("10.99.1.1"), 5000, v4("10.99.2.1"), 6000, 18, true);
    }
    f
}

/// `n` UDP packets, each with a new 5-tuple (the kit's `rawflood`: source port k mod 64000,
/// a new source address every 64,000 packets).
fn udp_new_flows(n: usize) -> Frames {
    let mut f = Frames::new();
    for k in 0..n {
        let src = v4("10.99.1.100") + (k / 64_000) as u128;
        f.udp(
            src,
            1024 + (k % 64_000) as u16,
            v4("10.99.2.1"),
            6000,
            18,
            true,
        );
    }
    f
}

/// iperf3-like bulk TCP: `flows` connections from the LAN to a server, each sending
/// `segments` full-size segments (1514-byte frames) acknowledged every second segment,
/// interleaved round-robin and paced at `gbps` on the wire; handshakes and FIN exchanges have
/// a 1 ms round trip, so a replay with the recorded timing (`speedup = 1`) keeps requests
/// ahead of their replies whatever core RSS picks for each direction.
fn tcp_bulk(flows: usize, segments: usize, gbps: f64) -> Frames {
    let mut f = Frames::new();
    let srv = (v4("203.0.113.10"), 5201u16);
    let cli = |k: usize| (v4("192.168.1.10") + k as u128, 40_000 + k as u16);
    let isn_c = |k: usize| 1_000_000u32 + 7_919 * k as u32;
    let isn_s = |k: usize| 5_000_000u32 + 104_729 * k as u32;
    const HALF_RTT: u64 = 500_000;
    f.gap = HALF_RTT;
    for k in 0..flows {
        f.tcp(cli(k), srv, isn_c(k), 0, SYN, 0, true);
        f.tcp(srv, cli(k), isn_s(k), isn_c(k) + 1, SYN | ACK, 0, false);
        f.tcp(cli(k), srv, isn_c(k) + 1, isn_s(k) + 1, ACK, 0, true);
    }
    f.gap = 0;
    f.bps = gbps * 1e9;
    const MSS: usize = 1460;
    for i in 0..segments {
        for k in 0..flows {
            let seq = isn_c(k) + 1 + (i * MSS) as u32;
            f.tcp(cli(k), srv, seq, isn_s(k) + 1, ACK | PSH, MSS, true);
            if i % 2 == 1 {
                f.tcp(srv, cli(k), isn_s(k) + 1, seq + MSS as u32, ACK, 0, false);
            }
        }
    }
    f.gap = HALF_RTT;
    for k in 0..flows {
        let end = isn_c(k) + 1 + (segments * MSS) as u32;
        f.tcp(cli(k), srv, end, isn_s(k) + 1, FIN | ACK, 0, true);
        f.tcp(srv, cli(k), isn_s(k) + 1, end + 1, FIN | ACK, 0, false);
        f.tcp(cli(k), srv, end + 1, isn_s(k) + 2, ACK, 0, true);
    }
    f
}

/// A scenario over a hand-made trace and ruleset, written to `dir`.
#[allow(clippy::too_many_arguments)]
fn cal_scenario(
    dir: &Path,
    name: &str,
    frames: &Frames,
    ruleset: &str,
    cpu: &str,
    nic: &str,
    policies: &str,
    replay: &str,
) -> ScenarioFile {
    let pcap = dir.join(format!("{name}.pcap"));
    frames.write(&pcap);
    let nft = dir.join(format!("{name}.nft"));
    std::fs::write(&nft, ruleset).unwrap();
    let toml = format!(
        r#"name = "{name}"
seed = 1
policies = {policies}
[trace]
file = "{}"
[ruleset]
file = "{}"
sides = "flow"
[cpu]
preset = "{cpu}"
[nic]
preset = "{nic}"
[kernel]
flavour = "6.6"
conntrack = "kernel"
[replay]
{replay}
[report]
interval_ms = 10
"#,
        pcap.display(),
        nft.display()
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, toml).unwrap();
    load(&p)
}

// ---------------------------------------------------------------------------------------
// Bundled scenarios
// ---------------------------------------------------------------------------------------

/// Every `scenarios/*.toml` resolves, prepares (ruleset, NIC, trace) and runs every policy
/// on a reduced trace; the runs account for the trace's packets.
#[test]
fn bundled_scenarios_prepare_and_run() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for must in ["default", "datacenter", "enterprise-edge"] {
        assert!(
            names.iter().any(|n| n == must),
            "scenarios/{must}.toml missing"
        );
    }
    for path in &files {
        let f = load(path);
        // The full scenario resolves and its ruleset and NIC load (prepare reads the trace
        // too, so do that on the reduced one).
        let sc = f.resolve().unwrap_or_else(|e| panic!("{e}"));
        assert!(sc.ruleset_file.exists(), "{}", sc.ruleset_file.display());
        let small = if sc.trace_file.is_none() {
            with_packets(&f, 3_000)
        } else {
            f.clone()
        };
        let p = prep(&small);
        assert!(
            p.ruleset.summary().rules > 0,
            "{}: empty ruleset",
            path.display()
        );
        let r = run_scenario(&p).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(r.runs.len(), sc.policies.len());
        for run in &r.runs {
            let t = &run.throughput;
            // Trace packets held by a lost handshake are offered later or never; resent
            // SYNs and SYN-ACKs are offered again. Closed-loop senders offer their own
            // segments and ACKs instead of the trace's TCP packets.
            let h = &run.handshakes;
            if let Some(c) = &run.closed_loop {
                assert!(c.senders > 0, "{}: {}", path.display(), run.name);
            } else {
                assert_eq!(
                    t.offered_packets + h.unsent,
                    p.pass.totals.packets + h.retransmissions,
                    "{}: {} offered",
                    path.display(),
                    run.name
                );
            }
            assert!(t.delivered_packets > 0, "{}: {}", path.display(), run.name);
            assert!(
                run.paths.slow + run.paths.sw_fast + run.paths.hw == t.delivered_packets,
                "{}: {} paths",
                path.display(),
                run.name
            );
        }
        eprintln!(
            "{}: {} rules, {} packets: {}",
            path.display(),
            p.ruleset.summary().rules,
            p.pass.totals.packets,
            r.runs
                .iter()
                .map(|x| format!(
                    "{} cpu {:.1}% drops {:.2}%",
                    x.name,
                    x.cpu.util_mean * 100.0,
                    drop_rate(x) * 100.0
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Golden report and determinism
// ---------------------------------------------------------------------------------------

/// The golden scenario, loaded by a path relative to the package so that the report (which
/// names the files) does not depend on where the checkout lives.
fn golden_scenario() -> ScenarioFile {
    load(Path::new("tests/data/run/golden.toml"))
}

/// `report.json` of the small fixed scenario is byte-identical to the committed golden file.
#[test]
fn golden_report() {
    let json = run(&golden_scenario()).to_json_string();
    let path = manifest().join("tests/data/run/golden-report.json");
    if std::env::var_os("OFFSIM_BLESS").is_some_and(|v| v != "0") {
        std::fs::write(&path, &json).unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run the tests with OFFSIM_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != json {
        let out = scratch("run", "golden").join("golden-report.json");
        std::fs::write(&out, &json).unwrap();
        let line = expected
            .lines()
            .zip(json.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(json.lines().count()));
        panic!(
            "report.json differs from {} at line {}:\n  golden: {:?}\n  actual: {:?}\nactual report saved to {}; if the change is intended, rerun with OFFSIM_BLESS=1",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            json.lines().nth(line).unwrap_or("<end>"),
            out.display()
        );
    }
}

/// Same inputs → the same bytes: twice in a row, and with 1 or 3 worker threads (the
/// configurations run in parallel and must not influence each other).
#[test]
fn runs_are_deterministic_across_thread_counts() {
    let f = golden_scenario();
    let p = prep(&f);
    let a = run_scenario(&p).unwrap().to_json_string();
    let b = run_scenario(&p).unwrap().to_json_string();
    assert!(a == b, "two runs of the same scenario differ");
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let c = pool.install(|| run_scenario(&p).unwrap().to_json_string());
        assert!(a == c, "the report depends on the thread count ({threads})");
    }
    // And a fresh prepare (trace first pass, ruleset load) gives the same bytes again.
    let d = run_scenario(&prep(&f)).unwrap().to_json_string();
    assert!(a == d, "a fresh prepare changes the report");
}

// ---------------------------------------------------------------------------------------
// Conservation
// ---------------------------------------------------------------------------------------

/// Checks, on the engine of every configuration, that each offered packet ended exactly one
/// way and that the path counters add up to the deliveries. Reassembled fragments count as
/// the fragments they were made of (`Outcome::packets`), so packets, not datagrams, balance.
fn assert_conserved(p: &Prepared, label: &str) {
    for pol in &p.scenario.policies {
        let o = run_policy(p, pol).unwrap_or_else(|e| panic!("{label}: {e}"));
        let m = o.engine.measure();
        let drops: u64 = m.drops.values().sum();
        // Every trace packet is offered once, but those of connections whose lost handshake
        // held them past the end or made the sender give up; each SYN or SYN-ACK resent
        // after a loss is offered once more.
        let hs = o.engine.sender_stats();
        assert_eq!(
            m.offered + hs.unsent + hs.held_at_end,
            p.pass.totals.packets * u64::from(p.scenario.spec.replay.loops.unwrap_or(1))
                + hs.retransmissions,
            "{label}/{}: offered {} (handshakes {hs:?})",
            pol.name,
            m.offered
        );
        assert_eq!(
            m.offered,
            m.delivered + drops + m.local + m.held,
            "{label}/{}: offered {} != delivered {} + drops {} {:?} + local {} + held {}",
            pol.name,
            m.offered,
            m.delivered,
            drops,
            m.drops,
            m.local,
            m.held
        );
        assert_eq!(
            m.paths.iter().sum::<u64>(),
            m.delivered,
            "{label}/{}: paths {:?} vs delivered {}",
            pol.name,
            m.paths,
            m.delivered
        );
        assert!(
            m.drops.values().all(|v| *v > 0) && m.drops.keys().all(|k| !k.is_empty()),
            "{label}/{}: drop reasons {:?}",
            pol.name,
            m.drops
        );
        if !pol.hardware {
            assert_eq!(
                m.paths[2], 0,
                "{label}/{}: hardware path without offload",
                pol.name
            );
        }
        if !pol.flowtable {
            assert_eq!(
                m.paths[1], 0,
                "{label}/{}: flowtable path without flowtable",
                pol.name
            );
        }
    }
}

const PROFILES: [&str; 5] = [
    "home-router",
    "enterprise",
    "datacenter",
    "synflood",
    "imix",
];
const CPUS: [&str; 3] = ["mt7621", "mt7986", "x86-server"];
const NICS: [&str; 4] = ["mt7621", "mt7986", "connectx6dx", "en7581"];
const RULESETS: [&str; 3] = ["home-fw4.nft", "enterprise-fw4.nft", "datacenter.nft"];

proptest! {
    // 12 cases by default (about 2 s in a debug build); PROPTEST_CASES=N for a longer search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random small traces and configurations, with rates up to far beyond what the CPU can
    /// carry (ring overflows, invalid connections, NIC insert pressure): packets balance.
    #[test]
    fn every_packet_ends_exactly_once(
        profile in 0..PROFILES.len(),
        packets in 200u32..1500,
        seed in 1u64..10_000,
        cpu in 0..CPUS.len(),
        nic in 0..NICS.len(),
        ruleset in 0..RULESETS.len(),
        cores in 1u16..5,
        ring in prop_oneof![Just(2u32), 4u32..64, Just(1024u32)],
        log_rate in 3.5f64..6.5,
        after in prop_oneof![Just(0u64), 1u64..20],
        loops in 1u32..3,
    ) {
        let dir = scratch("run", &format!("conserve-{seed}-{packets}"));
        let toml = format!(
            r#"name = "conserve"
seed = {seed}
policies = ["none", "software", "hardware", {{ name = "gated", base = "hardware", after_packets = {after} }}]
[trace.generate]
profile = "{}"
packets = {packets}
[ruleset]
file = "{}"
sides = "flow"
[cpu]
preset = "{}"
cores = {cores}
rx_ring = {ring}
[nic]
preset = "{}"
[replay]
rate_pps = {}
loops = {loops}
[report]
interval_ms = 5
"#,
            PROFILES[profile],
            repo().join("scenarios/rulesets").join(RULESETS[ruleset]).display(),
            CPUS[cpu],
            NICS[nic],
            10f64.powf(log_rate).round(),
        );
        let path = dir.join("s.toml");
        std::fs::write(&path, &toml).unwrap();
        let p = prep(&load(&path));
        assert_conserved(&p, &toml);
    }
}

/// Sends fragments `which` of a 3,000-byte UDP datagram with IP id `id` (three fragments of
/// 1480/1480/40 bytes of IP payload).
fn push_fragments(f: &mut Frames, id: u16, which: &[usize]) {
    let l3 = f.l3(v4("10.99.1.1"), v4("10.99.2.1"), true);
    let mut whole = Vec::new();
    frame::udp(&mut whole, &l3, 5000, 6000, UdpPayload::Zero(3000 - 8));
    // whole = Ethernet + IPv4 (20) + UDP datagram (3000 bytes).
    let ip_payload = &whole[14 + 20..];
    for &k in which {
        let off = k * 1480;
        let end = (off + 1480).min(ip_payload.len());
        let more = end < ip_payload.len();
        let mut b = whole[..14 + 20].to_vec();
        b.extend_from_slice(&ip_payload[off..end]);
        let total = (20 + end - off) as u16;
        b[14 + 2..14 + 4].copy_from_slice(&total.to_be_bytes());
        b[14 + 4..14 + 6].copy_from_slice(&id.to_be_bytes());
        let fo = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        b[14 + 6..14 + 8].copy_from_slice(&fo.to_be_bytes());
        b[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
        let c = ipv4_checksum(&b[14..14 + 20]);
        b[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        f.push(b);
    }
}

/// IP fragments: a datagram in three fragments is forwarded and counted as three packets
/// with their own wire bytes; a datagram whose last fragment never comes is held, not lost
/// from the books; one whose reassembly timed out (30 s, `ipfrag_time`) is dropped.
#[test]
fn fragments_are_conserved() {
    let dir = scratch("run", "fragments");
    let mut f = Frames::new();
    for _ in 0..3 {
        f.udp(v4("10.99.1.1"), 5000, v4("10.99.2.1"), 6000, 100, true);
    }
    push_fragments(&mut f, 7001, &[0, 1, 2]);
    push_fragments(&mut f, 7002, &[1, 0]); // incomplete: held
    push_fragments(&mut f, 7003, &[2, 0, 1]); // out of order
    push_fragments(&mut f, 7004, &[0]); // times out ...
    f.t += 31_000_000_000;
    push_fragments(&mut f, 7004, &[1]); // ... when this one arrives 31 s later: held
    let rules = "table inet t {\n\tchain fw {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tcounter\n\t}\n}\n";
    let s = cal_scenario(
        &dir,
        "frag",
        &f,
        rules,
        "x86-server",
        "connectx6dx",
        r#"["none", "software"]"#,
        "rate_pps = 10000",
    );
    let p = prep(&s);
    assert_eq!(p.pass.totals.packets, 3 + 3 + 2 + 3 + 2);
    assert_conserved(&p, "fragments");
    let o = run_policy(&p, &p.scenario.policies[0]).unwrap();
    let m = o.engine.measure();
    assert_eq!(
        m.delivered,
        3 + 3 + 3,
        "complete datagrams count as their fragments"
    );
    assert_eq!(m.held, 2 + 1, "fragments of incomplete datagrams are held");
    assert_eq!(m.drops.get("defrag_timeout"), Some(&1), "{:?}", m.drops);
    // Delivered bytes are the fragments' wire bytes, not the reassembled datagram's.
    let wire: Vec<u64> = f.frames.iter().map(|(_, b)| b.len() as u64).collect();
    let not_delivered: u64 = wire[6..8].iter().sum::<u64>() + wire[11..13].iter().sum::<u64>();
    assert_eq!(m.delivered_bytes, wire.iter().sum::<u64>() - not_delivered);
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for w in h.chunks(2) {
        s += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
