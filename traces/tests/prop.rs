//! Property tests: the frame parser and the capture reader never panic, never loop, and
//! agree with what was written.

use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::pcap::{PcapWriter, TraceReader};
use offsim_traces::time::SimTime;
use proptest::prelude::*;

const LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Loop,
];

proptest! {
    #[test]
    fn parser_total_on_random_frames(data in proptest::collection::vec(any::<u8>(), 0..200), extra in 0u32..3000, li in 0usize..8) {
        let m = parse_frame(LINKS[li], &data, data.len() as u32 + extra, SimTime(1), 0);
        prop_assert_eq!(m.cap_len as usize, data.len());
        prop_assert!(m.wire_len >= m.cap_len);
        if m.malformed.is_some() {
            prop_assert!(m.flow_key().is_none());
        }
    }

    #[test]
    fn ipv4_like_frames_never_panic(mut data in proptest::collection::vec(any::<u8>(), 20..120), ihl in 5u8..16, proto in prop_oneof![Just(1u8), Just(6u8), Just(17u8), Just(58u8), any::<u8>()]) {
        data[0] = 0x40 | ihl;
        data[9] = proto;
        let len = data.len() as u16;
        data[2..4].copy_from_slice(&len.to_be_bytes());
        let m = parse_frame(LinkType::Ipv4, &data, data.len() as u32, SimTime(0), 0);
        if m.malformed.is_none() {
            prop_assert_eq!(m.ip_len as usize, data.len());
        }
    }

    #[test]
    fn pcap_round_trip(recs in proptest::collection::vec((any::<u64>(), proptest::collection::vec(any::<u8>(), 0..300), 0u32..100), 0..20)) {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535).unwrap();
        for (ts, d, extra) in &recs {
            w.write(SimTime(ts % (u32::MAX as u64 * 1_000_000_000)), d, d.len() as u32 + extra).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut r = TraceReader::new(&bytes[..], "mem").unwrap();
        for (ts, d, extra) in &recs {
            let rec = r.next_record().unwrap().unwrap();
            prop_assert_eq!(rec.ts, SimTime(ts % (u32::MAX as u64 * 1_000_000_000)));
            prop_assert_eq!(rec.data, &d[..]);
            prop_assert_eq!(rec.orig_len, d.len() as u32 + extra);
        }
        prop_assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn mutated_captures_end_in_bounded_steps(seed in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535).unwrap();
        for i in 0..10u64 { w.write(SimTime(i), &[i as u8; 60], 60).unwrap(); }
        let mut bytes = w.finish().unwrap();
        for (at, v) in seed { let n = bytes.len(); bytes[at % n] = v; }
        if let Ok(mut r) = TraceReader::new(&bytes[..], "mut") {
            let mut steps = 0;
            loop {
                steps += 1;
                prop_assert!(steps < 100);
                match r.next_record() { Ok(Some(_)) => {}, _ => break }
            }
        }
    }
}
