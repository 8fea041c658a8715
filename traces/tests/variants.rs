//! The same 66-packet trace in every supported encoding gives the same summary.

use offsim_traces::info::{FlowCounts, summarize};
use offsim_traces::stream::PacketStream;

use crate::util::data_dir;

fn info(name: &str) -> offsim_traces::info::TraceInfo {
    let p = data_dir("variants").join(name);
    let mut s = PacketStream::open(&p).unwrap();
    summarize(name, &mut s).unwrap()
}

#[test]
fn every_encoding_gives_the_same_flows() {
    let want = FlowCounts {
        tcp: 8,
        udp: 8,
        icmp: 6,
        other: 0,
        total: 22,
    };
    let base = info("demo.pcap");
    assert_eq!(base.packets, 66);
    assert_eq!(base.flows, want);
    for (f, link, packets) in [
        ("be-nsec.pcap", "EN10MB", 66),
        ("sll.pcap", "LINUX_SLL", 66),
        ("sll2.pcap", "LINUX_SLL2", 66),
        ("raw.pcap", "RAW", 65),
        ("vlan.pcap", "EN10MB", 66),
        ("trace.pcapng", "EN10MB", 66),
        ("trunc64.pcap", "EN10MB", 66),
    ] {
        let i = info(f);
        assert_eq!(i.link_types, vec![link.to_string()], "{f}");
        assert_eq!(i.packets, packets, "{f}");
        assert_eq!(i.flows, want, "{f}");
        assert_eq!(i.malformed, 0, "{f}");
        assert_eq!(i.ipv4 + i.ipv6, base.ipv4 + base.ipv6, "{f}");
        assert_eq!(i.first_ts_ns, base.first_ts_ns, "{f}");
    }
    assert_eq!(info("vlan.pcap").vlan_tagged, 66);
    assert!(info("trunc64.pcap").snap_truncated > 0);
}
