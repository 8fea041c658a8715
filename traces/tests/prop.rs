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

/// The fuzz corpus (`fuzz/corpus-seed/capture_reader`: real and damaged captures), every
/// 8th file, so the stable-toolchain run stays short; `cargo fuzz` goes deeper.
fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus-seed/capture_reader"
    );
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .step_by(8)
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() <= 64 * 1024)
        .collect()
}

/// Reads a capture to its end (error or EOF), parsing every record: what the capture reader
/// fuzz target does. Each record consumes at least one header, so the steps are bounded by
/// the length.
fn read_all(bytes: &[u8]) -> usize {
    let mut n = 0;
    if let Ok(mut r) = TraceReader::new(bytes, "fuzz") {
        while let Ok(Some(rec)) = r.next_record() {
            let _ = parse_frame(rec.link, rec.data, rec.orig_len, rec.ts, rec.iface);
            n += 1;
            assert!(n <= bytes.len(), "more records than bytes");
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Mutation fuzzing seeded from the corpus, on the stable toolchain in `cargo test`:
    /// byte flips, insertions, deletions and splices never panic or loop.
    #[test]
    fn corpus_mutations_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..16),
    ) {
        let seeds = corpus();
        prop_assume!(!seeds.is_empty());
        let mut b = seeds[pick.index(seeds.len())].clone();
        for (at, v, op) in edits {
            if b.is_empty() { b.push(v); continue; }
            let i = at.index(b.len());
            match op {
                0 => b[i] = v,
                1 => b.insert(i, v),
                2 => { b.remove(i); }
                _ => { let j = (i + usize::from(v)).min(b.len()); b.truncate(j.max(1)); }
            }
        }
        read_all(&b);
    }
}

/// Inputs that once misbehaved, kept as regression tests: pcapng interfaces whose
/// `if_tsresol`/`if_tsoffset` put timestamps out of range are errors, not clamped.
#[test]
fn pcapng_out_of_range_timestamps_are_errors() {
    fn ng(tsresol: u8, tsoffset: Option<i64>) -> Vec<u8> {
        let mut v = Vec::new();
        let block = |v: &mut Vec<u8>, t: u32, body: &[u8]| {
            let len = 12 + body.len() as u32;
            v.extend_from_slice(&t.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(body);
            v.extend_from_slice(&len.to_le_bytes());
        };
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut v, 0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&65535u32.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, tsresol, 0, 0, 0]);
        if let Some(off) = tsoffset {
            idb.extend_from_slice(&[14, 0, 8, 0]);
            idb.extend_from_slice(&off.to_le_bytes());
        }
        idb.extend_from_slice(&[0, 0, 0, 0]);
        block(&mut v, 1, &idb);
        // One packet at 1.7e15 units (a microsecond clock's value).
        let raw: u64 = 1_700_000_000_000_000;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((raw >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(raw as u32).to_le_bytes());
        epb.extend_from_slice(&60u32.to_le_bytes());
        epb.extend_from_slice(&60u32.to_le_bytes());
        epb.extend_from_slice(&[0u8; 60]);
        block(&mut v, 6, &epb);
        v
    }
    let first = |b: &[u8]| -> Result<SimTime, String> {
        let mut r = TraceReader::new(b, "t").map_err(|e| e.to_string())?;
        let rec = r.next_record().map_err(|e| e.to_string())?;
        Ok(rec.expect("a record").ts)
    };
    // Microseconds: fine.
    assert_eq!(
        first(&ng(6, None)).unwrap(),
        SimTime(1_700_000_000_000_000_000)
    );
    // Seconds (if_tsresol 0): 1.7e15 s is past 2554: an error naming the cause.
    let e = first(&ng(0, None)).unwrap_err();
    assert!(
        e.contains("timestamp out of range") && e.contains("byte offset"),
        "{e}"
    );
    // A resolution finer than 2^-63 s cannot be represented.
    let e = first(&ng(0x80 | 70, None)).unwrap_err();
    assert!(e.contains("if_tsresol"), "{e}");
    // An offset that moves every packet before 1970 or past 2554.
    assert!(first(&ng(6, Some(i64::MIN / 2))).is_err());
    assert!(first(&ng(6, Some(i64::MAX / 2))).is_err());
}
