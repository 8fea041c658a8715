//! `offsim run` end to end, through the library API (`offsim::run`):
//!
//! * every bundled scenario (`scenarios/*.toml`) resolves, loads its ruleset, NIC and trace,
//!   and runs on a reduced trace;
//! * a small fixed scenario's `report.json` matches a committed golden file byte for byte, and
//!   runs are deterministic (twice, and with 1 or 3 rayon threads);
//! * conservation (proptest): every offered packet is delivered, dropped with a reason,
//!   delivered locally or held, exactly once, and the path counts add up to the deliveries;
//! * calibration: the model, run end to end on purpose-built traces and rulesets, reproduces
//!   the per-packet cost relationships of `shared/reference/anchors.md` (§1.1, §1.2, §1.4,
//!   §7) and the MT7621 field report (§1.4) within stated tolerances;
//! * the default scenario: hardware < software < none in CPU and power, and as the offered
//!   load rises `none` saturates first (the load curve is printed with `--nocapture`).
//!
//! Bless the golden report with `OFFSIM_BLESS=1 cargo test -p offsim --test run`.

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

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo() -> PathBuf {
    manifest().join("..")
}

/// A fresh scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("offsim-run")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

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
            assert_eq!(
                t.offered_packets,
                p.pass.totals.packets,
                "{}: {} offered",
                path.display(),
                run.name
            );
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
        let out = scratch("golden").join("golden-report.json");
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
        let m = &o.engine.m;
        let drops: u64 = m.drops.values().sum();
        assert_eq!(
            m.offered,
            p.pass.totals.packets * u64::from(p.scenario.spec.replay.loops.unwrap_or(1)),
            "{label}/{}: offered",
            pol.name
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
        let dir = scratch(&format!("conserve-{seed}-{packets}"));
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
    let dir = scratch("fragments");
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
    let m = &o.engine.m;
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

// ---------------------------------------------------------------------------------------
// Calibration: the model end to end against shared/reference/anchors.md
// ---------------------------------------------------------------------------------------

/// Mean CPU cycles per packet of the `none` configuration (x86-server, ConnectX-6 Dx) for
/// a trace and a ruleset, at a rate low enough that every packet is polled alone.
fn cycles_x86(name: &str, frames: &Frames, ruleset: &str) -> f64 {
    let dir = scratch(&format!("cal-{name}"));
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
        "11 (9-12)",
        (9.0..=12.0).contains(&per_rule),
    );

    let empty = cycles_x86("empty", &one, &set_rule(None));
    let set1 = cycles_x86("set1", &one, &set_rule(Some(1)));
    let set5k = cycles_x86("set5k", &one, &set_rule(Some(5000)));
    all &= row(
        "hash-set rule vs empty chain",
        set1 - empty,
        "150 + rule (80-200)",
        (80.0..=200.0).contains(&(set1 - empty)),
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
        "340 ±10 %",
        near(tracked - untracked, 340.0, 0.10),
    );
    all &= row(
        "masquerade, established flow",
        masq - tracked,
        "340 ±10 %",
        near(masq - tracked, 340.0, 0.10),
    );

    let new_untracked = cycles_x86("new-untracked", &new, &raw_rules("10.99.2.1", false));
    let new_tracked = cycles_x86("new-tracked", &new, &raw_rules("192.0.2.99", false));
    let new_masq = cycles_x86("new-masq", &new, &raw_rules("192.0.2.99", true));
    all &= row(
        "new conntrack entry",
        new_tracked - new_untracked,
        "1,667-2,213 (~2,000)",
        (1_667.0..=2_213.0).contains(&(new_tracked - new_untracked)),
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
    let dir = scratch("cal-saturation");
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
        let dir = scratch(&format!("cal-ratio-{cpu}"));
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
    let dir = scratch("cal-mt7621");
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
    assert!(hw.cpu.util_mean < sw.cpu.util_mean && sw.cpu.util_mean < none.cpu.util_mean);
    assert!(hw.power_w.total < sw.power_w.total && sw.power_w.total < none.power_w.total);
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
    drop_rate(r) > 0.01 || r.latency_ns.p99 > 2_000_000
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
                x.latency_ns.p99 as f64 / 1e6,
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
        assert!(
            s.cpu.util_mean <= n.cpu.util_mean + 1e-9,
            "{rate}: sw vs none CPU"
        );
        assert!(
            h.power_w.total <= s.power_w.total + 1e-9,
            "{rate}: hw vs sw power"
        );
        assert!(
            s.power_w.total <= n.power_w.total + 1e-9,
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
