//! Real captures as routers see them: a Wireshark pcapng of two interfaces (`--sides
//! iface=`), VLAN and PPPoE on the WAN side, a capture cut while it was written. Traces are
//! generated here; the kernel oracles check what they can carry (their replay strips
//! VLAN/PPPoE and replays one pcap, so they check the rule counters such captures must give,
//! not the encapsulation itself).

use std::path::Path;

use offsim_traces::r#gen::frame::{self, L3, TcpHdr, TcpOpts, UdpPayload};
use offsim_traces::meta::tcp_flags::{ACK, PSH, SYN};
use offsim_traces::parse::LinkType;
use offsim_traces::pcap::PcapWriter;
use offsim_traces::time::SimTime;

use crate::kernel::{self, OracleJob, Sides};
use crate::util::{offsim, scratch, skip_oracle};

const T0: u64 = 1_700_000_000_000_000_000;
const CLIENT: u128 = 0xc0a8_010a; // 192.168.1.10
const SERVER: u128 = 0xc633_6401; // 198.51.100.1

const RULESET: &str = r#"table inet filter {
    flowtable ft {
        hook ingress priority 0
        devices = { "lan0", "wan0" }
    }
    chain forward {
        type filter hook forward priority 0; policy accept;
        meta l4proto udp counter flow add @ft
        ct state established,related counter accept
        iifname "lan0" udp dport 53 counter accept
        iifname "lan0" tcp dport 443 counter accept
        counter drop
    }
}
"#;

/// One frame: (interface, bytes).
type Frame = (u32, Vec<u8>);

fn l3(src: u128, dst: u128, ttl: u8, id: u16) -> L3 {
    L3 {
        v6: false,
        src,
        dst,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        ttl,
        ip_id: id,
        df: true,
        ..L3::default()
    }
}

/// A short LAN client session: DNS over UDP (3 queries, 3 answers) and a TCP connection to
/// port 443 with data both ways. `lan` says whether each packet arrives on the LAN side.
fn session() -> Vec<(bool, Vec<u8>)> {
    let mut v = Vec::new();
    let mut id = 100u16;
    let mut next = |src, dst, ttl| {
        id += 1;
        l3(src, dst, ttl, id)
    };
    for _ in 0..3 {
        let mut b = Vec::new();
        frame::udp(
            &mut b,
            &next(CLIENT, SERVER, 64),
            40000,
            53,
            UdpPayload::Zero(30),
        );
        v.push((true, b));
        let mut b = Vec::new();
        frame::udp(
            &mut b,
            &next(SERVER, CLIENT, 57),
            53,
            40000,
            UdpPayload::Zero(90),
        );
        v.push((false, b));
    }
    let tcp = |l: &L3, sport, dport, seq, ack, flags, payload| {
        let h = TcpHdr {
            sport,
            dport,
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
        frame::tcp(&mut b, l, &h, payload);
        b
    };
    let (c, s) = (1000u32, 5000u32);
    v.push((
        true,
        tcp(&next(CLIENT, SERVER, 64), 41000, 443, c, 0, SYN, 0),
    ));
    v.push((
        false,
        tcp(
            &next(SERVER, CLIENT, 57),
            443,
            41000,
            s,
            c + 1,
            SYN | ACK,
            0,
        ),
    ));
    v.push((
        true,
        tcp(&next(CLIENT, SERVER, 64), 41000, 443, c + 1, s + 1, ACK, 0),
    ));
    v.push((
        true,
        tcp(
            &next(CLIENT, SERVER, 64),
            41000,
            443,
            c + 1,
            s + 1,
            PSH | ACK,
            100,
        ),
    ));
    v.push((
        false,
        tcp(
            &next(SERVER, CLIENT, 57),
            443,
            41000,
            s + 1,
            c + 101,
            PSH | ACK,
            900,
        ),
    ));
    v.push((
        true,
        tcp(
            &next(CLIENT, SERVER, 64),
            41000,
            443,
            c + 101,
            s + 901,
            ACK,
            0,
        ),
    ));
    v
}

/// The frame one hop later: TTL decremented (IPv4 header checksum fixed), new MACs.
fn forwarded(f: &[u8]) -> Vec<u8> {
    let mut g = f.to_vec();
    g[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
    g[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 8]);
    g[14 + 8] -= 1;
    g[24] = 0;
    g[25] = 0;
    let mut sum = 0u32;
    for c in g[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    g[24..26].copy_from_slice(&c.to_be_bytes());
    g
}

/// A pcapng of interfaces 0 (`br-lan`) and 1 (`wan`), both Ethernet, µs timestamps.
fn write_pcapng(path: &Path, frames: &[Frame]) {
    fn block(t: u32, body: &[u8]) -> Vec<u8> {
        let mut b = body.to_vec();
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        let len = (b.len() + 12) as u32;
        let mut v = t.to_le_bytes().to_vec();
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&b);
        v.extend_from_slice(&len.to_le_bytes());
        v
    }
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&[0xff; 8]);
    let mut out = block(0x0a0d_0d0a, &shb);
    for _ in 0..2 {
        out.extend(block(1, &[1, 0, 0, 0, 0, 0, 4, 0]));
    }
    for (k, (iface, f)) in frames.iter().enumerate() {
        let ts = T0 / 1000 + 10 * k as u64;
        let mut epb = iface.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(f);
        out.extend(block(6, &epb));
    }
    std::fs::write(path, out).unwrap();
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 65_535).unwrap();
    for (k, b) in frames.iter().enumerate() {
        w.write(SimTime(T0 + 10_000 * k as u64), b, b.len() as u32)
            .unwrap();
    }
    w.finish().unwrap();
}

/// Every rule's counters and every policy from `rules eval --json`.
fn eval_json(args: &[&str]) -> (serde_json::Value, String) {
    let o = offsim(args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    (v, o.stderr)
}

fn counters(v: &serde_json::Value) -> Vec<(u64, u64)> {
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["packets"].as_u64().unwrap(), r["bytes"].as_u64().unwrap()))
        .collect()
}

/// A two-interface pcapng (every forwarded packet captured as it arrived and again as it
/// left) with `--sides iface=0:lan,1:wan` counts like the arrivals alone; without the
/// mapping the capture is double-counted, and offsim says so.
#[test]
fn two_interface_pcapng_counts_each_packet_once() {
    let dir = scratch("capture", "pcapng");
    let rs = dir.join("r.nft");
    std::fs::write(&rs, RULESET).unwrap();
    let mut both: Vec<Frame> = Vec::new();
    let mut arrivals = Vec::new();
    for (lan, f) in session() {
        let (i, o) = if lan { (0, 1) } else { (1, 0) };
        both.push((i, f.clone()));
        both.push((o, forwarded(&f)));
        arrivals.push(f);
    }
    let ng = dir.join("two.pcapng");
    write_pcapng(&ng, &both);
    let pcap = dir.join("arrivals.pcap");
    write_pcap(&pcap, &arrivals);
    let (want, _) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        pcap.to_str().unwrap(),
        "--json",
        "--sides",
        "lan=192.168.1.0/24",
        "--iif",
        "lan0",
        "--oif",
        "wan0",
    ]);
    let (got, _) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        ng.to_str().unwrap(),
        "--json",
        "--sides",
        "iface=0:lan,1:wan",
        "--iif",
        "lan0",
        "--oif",
        "wan0",
    ]);
    assert_eq!(counters(&got), counters(&want));
    assert_eq!(got["summary"], want["summary"]);
    assert_eq!(got["summary"]["packets"], 12);
    let w = got["warnings"].to_string();
    assert!(w.contains("12 packets were captured twice"), "{w}");
    // Without the mapping every forwarded packet counts twice: a warning.
    let (twice, stderr) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        ng.to_str().unwrap(),
        "--json",
        "--sides",
        "flow",
        "--iif",
        "lan0",
        "--oif",
        "wan0",
    ]);
    assert_eq!(twice["summary"]["packets"], 24);
    assert!(
        stderr.contains("looks double-counted: 12 of its 24"),
        "{stderr}"
    );
}

/// The host kernel, fed the arrivals with the same sides, gives the rule counters offsim
/// gives on the two-interface pcapng (the oracle replays one pcap: it cannot replay the
/// copies, which is the point of counting them once).
#[test]
fn two_interface_pcapng_agrees_with_the_kernel() {
    if skip_oracle() {
        return;
    }
    let dir = scratch("capture", "pcapng-oracle");
    let no_ft = RULESET
        .replace("        meta l4proto udp counter flow add @ft\n", "")
        .replace(
            "    flowtable ft {\n        hook ingress priority 0\n        devices = { \"lan0\", \"wan0\" }\n    }\n",
            "",
        );
    let rs = dir.join("r.nft");
    std::fs::write(&rs, &no_ft).unwrap();
    let mut both: Vec<Frame> = Vec::new();
    let mut arrivals = Vec::new();
    for (lan, f) in session() {
        let (i, o) = if lan { (0, 1) } else { (1, 0) };
        both.push((i, f.clone()));
        both.push((o, forwarded(&f)));
        arrivals.push(f);
    }
    let ng = dir.join("two.pcapng");
    write_pcapng(&ng, &both);
    let pcap = dir.join("arrivals.pcap");
    write_pcap(&pcap, &arrivals);
    let mut job = OracleJob::new(
        &no_ft,
        &pcap,
        "lan0",
        "wan0",
        Sides::parse("lan=192.168.1.0/24").unwrap(),
    );
    job.spacing_ns = None;
    let k = kernel::run_job(&job).unwrap();
    let (got, _) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        ng.to_str().unwrap(),
        "--json",
        "--sides",
        "iface=0:lan,1:wan",
        "--iif",
        "lan0",
        "--oif",
        "wan0",
    ]);
    let kc: Vec<(u64, u64)> = k.rules.iter().map(|r| (r.packets, r.bytes)).collect();
    assert_eq!(counters(&got), kc, "{k:#?}");
    assert_eq!(k.sent, 12);
}

/// Wraps an Ethernet frame's payload in VLAN `vid` (if any) and PPPoE session `sid`.
fn encap(f: &[u8], vid: Option<u16>, sid: u16) -> Vec<u8> {
    let mut g = f[0..12].to_vec();
    if let Some(v) = vid {
        g.extend_from_slice(&[0x81, 0x00]);
        g.extend_from_slice(&v.to_be_bytes());
    }
    let ip = &f[14..];
    g.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    g.extend_from_slice(&sid.to_be_bytes());
    g.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    g.extend_from_slice(&[0x00, 0x21]);
    g.extend_from_slice(ip);
    g
}

/// A DSL router's WAN: VLAN 7 and PPPoE session 0x1234. The flowtable's reply tuple carries
/// that encapsulation, so replies hit it; a reply arriving in another session misses and
/// takes the slow path, where the ruleset counts it.
#[test]
fn wan_encapsulation_is_part_of_the_flowtable_tuple() {
    let dir = scratch("capture", "encap");
    let rs = dir.join("r.nft");
    std::fs::write(&rs, RULESET).unwrap();
    let mut frames = Vec::new();
    let mut id = 1u16;
    for k in 0..6u16 {
        id += 2;
        let mut q = Vec::new();
        frame::udp(
            &mut q,
            &l3(CLIENT, SERVER, 64, id),
            40000,
            53,
            UdpPayload::Zero(100),
        );
        frames.push(q);
        let mut r = Vec::new();
        frame::udp(
            &mut r,
            &l3(SERVER, CLIENT, 57, id + 1),
            53,
            40000,
            UdpPayload::Zero(100),
        );
        // The fifth reply comes in another PPPoE session.
        let sid = if k == 4 { 0x9999 } else { 0x1234 };
        frames.push(encap(&r, Some(7), sid));
    }
    let pcap = dir.join("pppoe.pcap");
    write_pcap(&pcap, &frames);
    let (v, _) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        pcap.to_str().unwrap(),
        "--json",
        "--sides",
        "flow",
        "--kernel",
        "6.1",
    ]);
    // Slow path: q1, then r1 (the connection's second packet: `flow add`, with the LAN
    // device's tuple unencapsulated and the WAN device's in VLAN 7 / session 0x1234); then
    // every packet hits the flowtable but the reply in session 0x9999.
    let s = &v["summary"];
    assert_eq!(
        (
            s["forwarded_slow"].as_u64(),
            s["forwarded_flowtable"].as_u64()
        ),
        (Some(3), Some(9)),
        "{s}"
    );
    assert_eq!(counters(&v)[0].0, 3, "{v}");
}

/// The 6.1 kernel's flowtable, fed the same trace without its encapsulation (the oracle's
/// replay strips VLAN/PPPoE), counts what offsim counts on the encapsulated trace when every
/// WAN packet carries the router's session: encapsulation changes neither the rules' view nor
/// which packets the flowtable takes.
#[test]
fn encapsulated_wan_agrees_with_the_flowtable_kernel() {
    use crate::kernel::vm::{self, VmError};
    let dir = scratch("capture", "encap-vm");
    let mut frames = Vec::new();
    let mut id = 1u16;
    for _ in 0..6 {
        id += 2;
        let mut q = Vec::new();
        frame::udp(
            &mut q,
            &l3(CLIENT, SERVER, 64, id),
            40000,
            53,
            UdpPayload::Zero(100),
        );
        frames.push(q);
        let mut r = Vec::new();
        frame::udp(
            &mut r,
            &l3(SERVER, CLIENT, 57, id + 1),
            53,
            40000,
            UdpPayload::Zero(100),
        );
        frames.push(encap(&r, Some(7), 0x1234));
    }
    let pcap = dir.join("pppoe.pcap");
    write_pcap(&pcap, &frames);
    let mut job = OracleJob::new(RULESET, &pcap, "lan0", "wan0", Sides::Flow);
    job.spacing_ns = None;
    let run = match vm::run_jobs(std::slice::from_ref(&job)) {
        Ok(r) => r,
        Err(VmError::Unavailable(why)) => {
            eprintln!("SKIP flowtable oracle VM: {why}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(run.kernel.starts_with("6.1."), "kernel {}", run.kernel);
    let k = &run.results[0];
    eprintln!("encapsulated WAN, 6.1 VM: {k:?}");
    let rs = dir.join("r.nft");
    std::fs::write(&rs, RULESET).unwrap();
    let (v, _) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        pcap.to_str().unwrap(),
        "--json",
        "--sides",
        "flow",
        "--kernel",
        "6.1",
    ]);
    let kc: Vec<(u64, u64)> = k.rules.iter().map(|r| (r.packets, r.bytes)).collect();
    assert_eq!(counters(&v), kc, "{k:#?}");
    assert_eq!(
        k.not_at_prerouting(),
        v["summary"]["forwarded_flowtable"].as_u64().unwrap(),
        "{k:#?}"
    );
}

/// A capture of a `pppoe-wan` device (link type PPP) or of PPPoE frames (PPP_ETHER) counts
/// like the same packets over Ethernet.
#[test]
fn ppp_link_types_are_read() {
    let dir = scratch("capture", "ppp");
    let rs = dir.join("r.nft");
    std::fs::write(&rs, RULESET).unwrap();
    let frames: Vec<Vec<u8>> = session().into_iter().map(|(_, f)| f).collect();
    let eth = dir.join("eth.pcap");
    write_pcap(&eth, &frames);
    let args = |p: &Path| -> Vec<String> {
        [
            "rules",
            "eval",
            rs.to_str().unwrap(),
            p.to_str().unwrap(),
            "--json",
            "--sides",
            "flow",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |p: &Path| {
        let a = args(p);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        eval_json(&a).0
    };
    let want = run(&eth);
    for (link, head) in [
        (LinkType::Ppp, vec![0xff, 0x03, 0x00, 0x21]),
        (
            LinkType::PppEther,
            vec![0x11, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x21],
        ),
    ] {
        let p = dir.join(format!("{}.pcap", link.name()));
        let f = std::fs::File::create(&p).unwrap();
        let mut w = PcapWriter::new(std::io::BufWriter::new(f), link, 65_535).unwrap();
        for (k, b) in frames.iter().enumerate() {
            let mut g = head.clone();
            g.extend_from_slice(&b[14..]);
            w.write(SimTime(T0 + 10_000 * k as u64), &g, g.len() as u32)
                .unwrap();
        }
        w.finish().unwrap();
        let got = run(&p);
        assert_eq!(counters(&got), counters(&want), "{}", link.name());
        let info = offsim(&["trace", "info", p.to_str().unwrap()]);
        assert!(info.stdout.contains(link.name()), "{}", info.stdout);
    }
}

/// A capture cut in the middle of its last record: `rules eval` uses the good packets and
/// warns; damage in the middle of the file stays an error (exit 2).
#[test]
fn a_capture_cut_short_is_a_warning_and_damage_an_error() {
    let dir = scratch("capture", "cut");
    let rs = dir.join("r.nft");
    std::fs::write(&rs, RULESET).unwrap();
    let frames: Vec<Vec<u8>> = session().into_iter().map(|(_, f)| f).collect();
    let pcap = dir.join("whole.pcap");
    write_pcap(&pcap, &frames);
    let bytes = std::fs::read(&pcap).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let (v, stderr) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        cut.to_str().unwrap(),
        "--json",
        "--sides",
        "flow",
    ]);
    assert_eq!(v["summary"]["packets"], 11);
    assert!(
        stderr.contains("cut short") && stderr.contains("the 11 good packets"),
        "{stderr}"
    );
    // The second record's header made impossible (microseconds out of range) and its length
    // past the end of the file.
    let mut damaged = bytes[..bytes.len() - 20].to_vec();
    let second = 24 + 16 + frames[0].len();
    damaged[second + 4..second + 8].copy_from_slice(&5_000_000u32.to_le_bytes());
    damaged[second + 8..second + 12].copy_from_slice(&60_000u32.to_le_bytes());
    let bad = dir.join("damaged.pcap");
    std::fs::write(&bad, &damaged).unwrap();
    let o = offsim(&["rules", "eval", rs.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!("byte offset {second}")),
        "{}",
        o.stderr
    );
}

/// A capture taken on the WAN link after NAT: every connection comes from the router's
/// public address. `--sides flow` takes those as LAN clients, and says it looks wrong.
#[test]
fn a_post_nat_wan_capture_is_flagged() {
    let dir = scratch("capture", "wan");
    let rs = dir.join("r.nft");
    std::fs::write(&rs, RULESET).unwrap();
    let public = 0x5102_45a0; // 81.2.69.160
    let dns = 0x0808_0808; // 8.8.8.8
    let mut frames = Vec::new();
    for k in 0..4u16 {
        let mut q = Vec::new();
        frame::udp(
            &mut q,
            &l3(public, dns, 63, k),
            40000 + k,
            53,
            UdpPayload::Zero(30),
        );
        frames.push(q);
        let mut r = Vec::new();
        frame::udp(
            &mut r,
            &l3(dns, public, 57, k),
            53,
            40000 + k,
            UdpPayload::Zero(90),
        );
        frames.push(r);
    }
    let pcap = dir.join("wan.pcap");
    write_pcap(&pcap, &frames);
    let (v, stderr) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        pcap.to_str().unwrap(),
        "--json",
        "--sides",
        "flow",
    ]);
    assert!(
        stderr.contains("capture of the WAN link") && stderr.contains("81.2.69.160"),
        "{stderr}"
    );
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(1));
    // Naming the LAN prefix says where the clients are: no guess, no warning.
    let (v, _) = eval_json(&[
        "rules",
        "eval",
        rs.to_str().unwrap(),
        pcap.to_str().unwrap(),
        "--json",
        "--sides",
        "lan=192.168.0.0/16",
    ]);
    assert!(v.get("warnings").is_none(), "{v}");
}

/// `offsim run` with `ruleset.sides = "iface=0:lan,1:wan"` offers each packet of a
/// two-interface pcapng once; with `flow` it offers both copies and the report warns.
#[test]
fn run_scenario_maps_pcapng_interfaces() {
    let dir = scratch("capture", "run");
    std::fs::write(dir.join("r.nft"), RULESET).unwrap();
    let mut both: Vec<Frame> = Vec::new();
    for (lan, f) in session() {
        let (i, o) = if lan { (0, 1) } else { (1, 0) };
        both.push((i, f.clone()));
        both.push((o, forwarded(&f)));
    }
    write_pcapng(&dir.join("two.pcapng"), &both);
    let offered = |sides: &str| {
        let sc = dir.join(format!("{}.toml", sides.replace([':', ',', '='], "_")));
        std::fs::write(
            &sc,
            format!(
                "name = \"two\"\npolicies = [\"software\"]\n[trace]\nfile = \"two.pcapng\"\n\
                 [ruleset]\nfile = \"r.nft\"\nsides = \"{sides}\"\n[cpu]\npreset = \"x86-server\"\n\
                 [nic]\npreset = \"e810\"\n"
            ),
        )
        .unwrap();
        let out = dir.join(format!("out-{}", sides.len()));
        let o = offsim(&[
            "run",
            sc.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        (
            r["runs"][0]["throughput"]["offered_packets"]
                .as_u64()
                .unwrap(),
            r["warnings"].to_string(),
        )
    };
    let (n, w) = offered("iface=0:lan,1:wan");
    assert_eq!(n, 12, "{w}");
    assert!(!w.contains("double-counted"), "{w}");
    let (n, w) = offered("flow");
    assert_eq!(n, 24);
    assert!(w.contains("double-counted"), "{w}");
}
