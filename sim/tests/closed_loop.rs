//! Closed-loop TCP senders (`replay.mode = "closed-loop"`) against known results: one bulk
//! flow through a shaped bottleneck converges to the bottleneck's rate (Reno and CUBIC), N
//! flows share it fairly under fq_codel, fq_codel holds the bulk flow's standing queue near
//! its 5 ms target while a sparse flow's packets pass at once, and a FIFO of the same size
//! does neither. The congestion controllers' own arithmetic is tested in
//! `sim/src/engine/closed/cc.rs`.

use std::path::{Path, PathBuf};

use offsim::prepare::prepare;
use offsim::run::run_policy;
use offsim::scenario::ScenarioFile;
use offsim_traces::r#gen::frame::{self, L3, TcpHdr, TcpOpts};
use offsim_traces::meta::tcp_flags::{ACK, FIN, PSH, SYN};
use offsim_traces::parse::LinkType;
use offsim_traces::pcap::PcapWriter;
use offsim_traces::time::{NS_PER_SEC, SimTime};

use crate::util::{repo, scratch};

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000 * NS_PER_SEC;

/// One TCP connection of a test trace: a LAN client opens it to a WAN server; the server
/// writes `writes` (time after the handshake, bytes), the client `up` (same).
pub struct ConnSpec {
    pub client: (u32, u16),
    pub server: (u32, u16),
    /// SYN time after [`T0`].
    pub start: u64,
    /// The server's and the client's RTT halves as the router sees them.
    pub server_half: u64,
    pub client_half: u64,
    pub writes: Vec<(u64, u32)>,
    pub up: Vec<(u64, u32)>,
    /// Data packets carry ECT(0) (the connection negotiated ECN).
    pub ecn: bool,
}

/// A record of the trace: time, frame (headers only: payload bytes are not captured), its
/// length on the wire.
type Rec = (u64, Vec<u8>, u32);

#[allow(clippy::too_many_arguments)]
fn seg(
    out: &mut Vec<Rec>,
    t: u64,
    from: (u32, u16),
    to: (u32, u16),
    h: (u32, u32, u8),
    opts: TcpOpts,
    payload: u32,
    tos: u8,
) {
    let lan = from.0 >> 24 == 192;
    let l3 = L3 {
        v6: false,
        src: u128::from(from.0),
        dst: u128::from(to.0),
        src_mac: if lan {
            [2, 0, 0, 0, 0, 1]
        } else {
            [2, 0, 0, 0, 1, 1]
        },
        dst_mac: if lan {
            [2, 0, 0, 0, 0, 2]
        } else {
            [2, 0, 0, 0, 1, 2]
        },
        ttl: 64,
        df: true,
        tos,
        ..L3::default()
    };
    let hdr = TcpHdr {
        sport: from.1,
        dport: to.1,
        seq: h.0,
        ack: h.1,
        flags: h.2,
        win: 502,
        opts,
    };
    let mut buf = Vec::new();
    frame::tcp(&mut buf, &l3, &hdr, payload as usize);
    let len = buf.len() as u32;
    buf.truncate(buf.len() - payload as usize);
    out.push((t, buf, len));
}

/// The connection's packets as a capture at the router would hold them.
fn conn_records(c: &ConnSpec, out: &mut Vec<Rec>) {
    let (cl, sv) = (c.client, c.server);
    let (isn_c, isn_s) = (1000u32, 5_000_000u32);
    let t = c.start;
    let syn = TcpOpts::SynTs {
        mss: 1460,
        ws: 7,
        val: 1,
        ecr: 0,
    };
    let ect = if c.ecn { 2 } else { 0 };
    seg(out, t, cl, sv, (isn_c, 0, SYN), syn, 0, 0);
    let t1 = t + c.server_half;
    seg(out, t1, sv, cl, (isn_s, isn_c + 1, SYN | ACK), syn, 0, 0);
    let t2 = t1 + c.client_half;
    let ts = TcpOpts::Ts { val: 2, ecr: 1 };
    seg(out, t2, cl, sv, (isn_c + 1, isn_s + 1, ACK), ts, 0, 0);
    let (mut sc, mut ss) = (isn_c + 1, isn_s + 1);
    let mut last = t2;
    for &(dt, n) in &c.up {
        seg(out, t2 + dt, cl, sv, (sc, ss, ACK | PSH), ts, n, ect);
        sc = sc.wrapping_add(n);
        last = last.max(t2 + dt);
    }
    for &(dt, n) in &c.writes {
        let mut left = n;
        while left > 0 {
            let k = left.min(65_000);
            seg(out, t2 + dt, sv, cl, (ss, sc, ACK | PSH), ts, k, ect);
            ss = ss.wrapping_add(k);
            left -= k;
        }
        last = last.max(t2 + dt);
    }
    seg(out, last + MS, sv, cl, (ss, sc, FIN | ACK), ts, 0, 0);
    seg(
        out,
        last + 2 * MS,
        cl,
        sv,
        (sc, ss + 1, FIN | ACK),
        ts,
        0,
        0,
    );
}

/// Writes the connections as one capture.
pub fn write_trace(path: &Path, conns: &[ConnSpec]) {
    let mut recs = Vec::new();
    for c in conns {
        conn_records(c, &mut recs);
    }
    recs.sort_by_key(|r| r.0);
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 65_535).unwrap();
    for (t, fr, len) in &recs {
        w.write(SimTime(T0 + t), fr, *len).unwrap();
    }
    w.finish().unwrap();
}

/// A scenario over `trace`: the home fw4 ruleset on a fast CPU (the CPU is never the
/// bottleneck), closed-loop senders, `extra` appended.
pub fn scenario(dir: &Path, trace: &str, extra: &str) -> PathBuf {
    let fw4 = repo().join("scenarios/rulesets/home-fw4.nft");
    let text = format!(
        r#"name = "closed"
policies = ["software"]
[trace]
file = "{trace}"
[ruleset]
file = "{}"
iif = "lan0"
oif = "wan0"
sides = "flow"
[cpu]
preset = "x86-server"
[nic]
preset = "mt7621"
[kernel]
flavour = "6.6"
conntrack = "openwrt"
{extra}"#,
        fw4.display()
    );
    let p = dir.join("s.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A bulk download of `bytes` by client `i`: 10 ms RTT (8 ms to the server and back, 2 ms
/// to the client), so CoDel's 5 ms standing queue is half the path's BDP.
fn bulk(i: u16, bytes: u32) -> ConnSpec {
    ConnSpec {
        client: (0xc0a8_010a + u32::from(i), 40_000 + i),
        server: (0xc633_6407, 443),
        start: u64::from(i) * MS,
        server_half: 8 * MS,
        client_half: 2 * MS,
        writes: vec![(MS, bytes)],
        up: vec![(0, 300)],
        ecn: false,
    }
}

/// What a run of `conns` under `extra` gave: the closed-loop figures.
fn run(name: &str, conns: &[ConnSpec], extra: &str) -> (offsim::engine::ClosedStats, u64) {
    let dir = scratch("closed_loop", name);
    write_trace(&dir.join("t.pcap"), conns);
    let sc = scenario(&dir, "t.pcap", extra);
    let p = prepare(ScenarioFile::load(&sc).unwrap().resolve().unwrap()).unwrap();
    let o = run_policy(&p, &p.scenario.policies[0]).unwrap();
    let st = o.engine.closed_loop_stats().expect("closed loop");
    let span = o.engine.span_ns();
    eprintln!(
        "{name}: span {:.3} s, down {:.2} Mbit/s, retrans {} fast {} rtos {} ecn {} delay p50 bulk {} sparse {} top {:?}",
        span as f64 / 1e9,
        st.goodput_bytes[1] as f64 * 8.0 / (span as f64 / 1e9) / 1e6,
        st.retransmissions,
        st.fast_retransmits,
        st.rtos,
        st.ecn_reductions,
        st.router_delay[0].quantile(0.5),
        st.router_delay[1].quantile(0.5),
        st.top
    );
    (st, span)
}

/// The highest goodput a shaper of `mbit` allows full segments: their payload's share of
/// the wire (1448 of 1514 + 24 bytes of preamble, gap and FCS).
fn payload_rate(mbit: f64) -> f64 {
    mbit * 1e6 * 1448.0 / (1514.0 + 24.0)
}

/// One bulk download through SQM (fq_codel shaped to 100 Mbit/s on the LAN port, the
/// download's egress, below the 1 Gbit/s line): after slow start (the first second, left
/// out as warm-up) its goodput is the shaper's rate, for Reno and for CUBIC. With a
/// standing queue of half the BDP, Reno's sawtooth (from W/2 to W = 1.5 BDP) idles the
/// link a little below the BDP: 96 % of the rate in theory; CUBIC's (from 0.7 W) does not.
#[test]
fn one_bulk_flow_converges_to_the_shaper_rate() {
    for (cc, min) in [("reno", 0.93), ("cubic", 0.96)] {
        let (st, span) = run(
            &format!("one-{cc}"),
            &[bulk(0, 60_000_000)],
            &format!(
                "[replay]\nmode = \"closed-loop\"\ncongestion = \"{cc}\"\nwarmup_s = 1.0\n[egress.lan]\nqdisc = \"fq_codel\"\nshaper_mbit = 100.0\n"
            ),
        );
        assert_eq!(st.top[0].bytes, 60_000_000, "{cc}: every byte acknowledged");
        let rate = st.goodput_bytes[1] as f64 * 8.0 / (span as f64 / 1e9);
        let ideal = payload_rate(100.0);
        assert!(
            rate > min * ideal && rate <= ideal * 1.001,
            "{cc}: {:.2} Mbit/s of {:.2}",
            rate / 1e6,
            ideal / 1e6
        );
        assert!(st.retransmissions > 0, "{cc}: CoDel made it back off");
    }
}

/// Jain's fairness index of `x`: (Σx)² / (n Σx²), 1 when all are equal.
fn jain(x: &[f64]) -> f64 {
    let s: f64 = x.iter().sum();
    let s2: f64 = x.iter().map(|v| v * v).sum();
    s * s / (x.len() as f64 * s2)
}

/// Four bulk downloads through fq_codel shaped to 100 Mbit/s share it fairly: each flow
/// has its own queue, served by deficit round robin (`fq_codel_dequeue`), and CoDel
/// signals each on its own, so their goodputs are equal (Jain's index ≥ 0.95) and add up
/// to the link.
#[test]
fn bulk_flows_share_fq_codel_fairly() {
    for cc in ["cubic", "reno"] {
        let conns: Vec<ConnSpec> = (0..4).map(|i| bulk(i, 20_000_000)).collect();
        let (st, span) = run(
            &format!("fair-{cc}"),
            &conns,
            &format!(
                "[replay]\nmode = \"closed-loop\"\ncongestion = \"{cc}\"\n[egress.lan]\nqdisc = \"fq_codel\"\nshaper_mbit = 100.0\n"
            ),
        );
        let rates: Vec<f64> = st
            .top
            .iter()
            .filter(|s| s.bytes == 20_000_000)
            .map(|s| s.bytes as f64 * 8.0 / (s.duration_ns as f64 / 1e9))
            .collect();
        assert_eq!(rates.len(), 4, "{cc}: {:?}", st.top);
        let j = jain(&rates);
        eprintln!("{cc}: rates {rates:?} bit/s, Jain {j:.4}");
        assert!(j >= 0.95, "{cc}: Jain's index {j:.4} of {rates:?}");
        let total = st.goodput_bytes[1] as f64 * 8.0 / (span as f64 / 1e9);
        assert!(total > 0.85 * payload_rate(100.0), "{cc}: {total}");
    }
}

/// A bulk download and a sparse one beside it (200 bytes every 20 ms, like a game or a
/// voice session) through a 100 Mbit/s shaper. fq_codel holds the bulk flow's standing
/// queue near CoDel's 5 ms target (`codel_should_drop`: sojourn above target for an
/// interval) and serves the sparse flow from `new_flows` ahead of it, so its packets pass
/// at once; a FIFO of the same size (`pfifo_fast`, 1000 packets) lets CUBIC fill it, and
/// the sparse flow's packets wait behind the whole queue.
#[test]
fn fq_codel_holds_the_bulk_queue_at_target_and_a_fifo_does_not() {
    let sparse = ConnSpec {
        client: (0xc0a8_0140, 50_000),
        server: (0xc633_6408, 3478),
        start: 0,
        server_half: 8 * MS,
        client_half: 2 * MS,
        writes: (0..250).map(|k| (MS + k * 20 * MS, 200)).collect(),
        up: vec![(0, 100)],
        ecn: false,
    };
    let conns = [bulk(0, 40_000_000), sparse];
    let mut delays = Vec::new();
    for q in ["fq_codel", "pfifo_fast"] {
        let (st, _) = run(
            &format!("sparse-{q}"),
            &conns,
            &format!(
                "[replay]\nmode = \"closed-loop\"\nwarmup_s = 1.0\n[egress.lan]\nqdisc = \"{q}\"\nlimit = 1000\nshaper_mbit = 100.0\n"
            ),
        );
        let [bulk, sparse] = &st.router_delay;
        assert!(
            sparse.count() > 100,
            "{q}: {} sparse segments",
            sparse.count()
        );
        delays.push((
            bulk.quantile(0.5),
            sparse.quantile(0.5),
            sparse.quantile(0.99),
        ));
    }
    eprintln!(
        "(bulk p50, sparse p50, sparse p99) ns: fq_codel {:?}, pfifo_fast {:?}",
        delays[0], delays[1]
    );
    let (fq_bulk, fq_sparse, fq_sparse99) = delays[0];
    assert!(
        (2 * MS..=15 * MS).contains(&fq_bulk),
        "fq_codel: the bulk flow's median delay {fq_bulk} ns"
    );
    assert!(
        fq_sparse < MS && fq_sparse99 < 2 * MS,
        "fq_codel: the sparse flow's delay {fq_sparse} / {fq_sparse99} ns"
    );
    let (fifo_bulk, fifo_sparse, _) = delays[1];
    assert!(fifo_bulk > 30 * MS, "pfifo_fast: bulk {fifo_bulk} ns");
    assert!(
        fifo_sparse > 30 * MS,
        "pfifo_fast: the sparse flow waits behind the bulk queue: {fifo_sparse} ns"
    );
}

/// Through the CLI on generated home traffic with SQM: every run reports its senders,
/// the scenario says the replay was closed-loop, the open-loop queue warning stays quiet,
/// and the page and the findings show the senders.
#[test]
fn the_report_and_page_show_the_senders() {
    let (r, html) = crate::util::run_home_router(
        "closed-report",
        "[replay]\nrate_gbps = 0.5\nmode = \"closed-loop\"\ncongestion = \"reno\"\n[egress.lan]\nqdisc = \"cake\"\nshaper_mbit = 300.0\n",
    );
    assert_eq!(r.scenario.replay.loop_mode.as_deref(), Some("closed-loop"));
    assert_eq!(r.scenario.replay.congestion.as_deref(), Some("reno"));
    for run in &r.runs {
        let c = run.closed_loop.as_ref().expect("closed_loop");
        assert_eq!(c.congestion, "reno");
        assert!(
            c.senders > 10 && c.goodput_down_bps > 0.0,
            "{}: {c:?}",
            run.name
        );
        assert!(!c.top_senders.is_empty());
        assert_eq!(
            run.handshakes.retransmissions, 0,
            "the senders retry their own"
        );
    }
    assert!(
        !r.warnings.iter().any(|w| w.contains("open-loop")),
        "{:?}",
        r.warnings
    );
    assert!(html.contains("<section id=\"senders\">"));
    assert!(html.contains("closed-loop TCP senders (reno) delivered"));
}

/// An ECN-capable bulk flow (its data ECT(0)) through fq_codel: CoDel marks instead of
/// dropping (`codel_should_drop` → `INET_ECN_set_ce`), the receiver echoes ECE and the
/// sender reduces its window once per window of data (RFC 3168 §6.1.2) without losing a
/// packet, and still fills the shaper.
#[test]
fn an_ecn_flow_backs_off_on_marks_without_losses() {
    let flow = ConnSpec {
        ecn: true,
        ..bulk(0, 40_000_000)
    };
    let (st, span) = run(
        "ecn",
        &[flow],
        "[replay]\nmode = \"closed-loop\"\nwarmup_s = 1.0\n[egress.lan]\nqdisc = \"fq_codel\"\nshaper_mbit = 100.0\n",
    );
    assert!(st.ecn_reductions > 0, "{st:?}");
    assert_eq!((st.retransmissions, st.rtos), (0, 0), "marks, not drops");
    let rate = st.goodput_bytes[1] as f64 * 8.0 / (span as f64 / 1e9);
    assert!(rate > 0.95 * payload_rate(100.0), "{rate}");
    assert!(
        (2 * MS..=15 * MS).contains(&st.router_delay[0].quantile(0.5)),
        "{}",
        st.router_delay[0].quantile(0.5)
    );
}

/// `offsim plan` retimes the trace to each rate it tries; closed-loop senders set their
/// own, so it refuses them with the key's position (exit 2).
#[test]
fn plan_refuses_closed_loop_senders() {
    let sc = repo().join("scenarios/bufferbloat.toml");
    let o = crate::util::offsim(&["plan", sc.to_str().unwrap(), "-q"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("bufferbloat.toml:") && o.stderr.contains("replay.mode"),
        "{}",
        o.stderr
    );
}
