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

/// A capture mapped, read through `read(2)` (a regular file, and a FIFO) and read from
/// memory is the same capture: the ways a reader gets its bytes give one summary.
#[test]
fn mapped_piped_and_in_memory_reads_agree() {
    use offsim_traces::pcap::TraceReader;
    for name in ["demo.pcap", "trace.pcapng", "be-nsec.pcap"] {
        let path = data_dir("variants").join(name);
        let read = info(name);
        let mut m = PacketStream::open_mapped(&path).unwrap();
        assert!(m.reader().mapped_len().is_some(), "{name} is mapped");
        let mapped = summarize(name, &mut m).unwrap();
        assert_eq!(mapped, read, "{name}");
        let bytes = std::fs::read(&path).unwrap();
        let r = TraceReader::new(std::io::Cursor::new(&bytes[..]), name).unwrap();
        let in_memory = summarize(name, &mut PacketStream::new(r)).unwrap();
        assert_eq!(mapped, in_memory, "{name}");
        #[cfg(unix)]
        {
            let fifo = std::env::temp_dir().join(format!(
                "offsim-variants-{}-{name}.fifo",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&fifo);
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if !made.is_ok_and(|s| s.success()) {
                crate::util::skip("mkfifo is not available: the FIFO read is not checked");
                continue;
            }
            let writer = {
                let (fifo, bytes) = (fifo.clone(), bytes.clone());
                std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
            };
            let mut s = PacketStream::open(&fifo).unwrap();
            let piped = summarize(name, &mut s).unwrap();
            writer.join().unwrap();
            let _ = std::fs::remove_file(&fifo);
            assert_eq!(mapped, piped, "{name}");
        }
    }
}
