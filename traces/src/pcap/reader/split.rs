//! More readers over later parts of a mapped classic pcap file, for a pass that needs
//! record headers only (`offsim run`'s first pass, which learns the trace's totals before
//! any packet can be timed) and so can walk several parts at once, on one core or two.
//!
//! A classic pcap file has no index: a record boundary inside it is found by looking for a
//! chain of plausible record headers (the tests libpcap's `pcap_check_header` and the
//! reader's cut-short check apply), which is a guess. The caller makes it exact: it uses a
//! part's result only if the walk of the part before it lands on the very boundary the
//! part started from; otherwise it reads the file in one walk, as if it had never been
//! split. pcapng files (whose records need the interface blocks read before them) and files
//! that are read rather than mapped (see [`TraceReader::open_mapped`]) are not split.

use std::fs::File;

use super::{Bytes, MAX_RECORD, PcapHeader, State, TraceReader, rd32, sound_header};

/// Headers that must chain from a candidate boundary (or reach the end of the file).
const CHAIN: usize = 8;

/// How far past the middle a boundary is looked for: past a few of the largest records.
const SEARCH: usize = 4 * MAX_RECORD as usize;

/// Seconds a chained header's timestamp may lie from the first one's (a day), and before
/// the file's first record.
const SPAN_S: u32 = 86_400;

/// Seconds a header's timestamp may lie after the file's first record (ten years).
const AFTER_S: u32 = 10 * 365 * 86_400;

impl TraceReader<File> {
    /// For a mapped classic pcap file of at least `min_bytes`, not yet read past its file
    /// header: what looks like the first record boundary at or after the middle of the
    /// file, and a reader that starts there (its packet count starts at 0). `None` when the
    /// file cannot be split.
    pub fn split_half(&self, min_bytes: u64) -> Option<(u64, TraceReader<File>)> {
        self.split_at(self.buf.len() as u64 / 2, min_bytes)
    }

    /// The length of the file when it is mapped (what [`TraceReader::split_at`] can cut).
    pub fn mapped_len(&self) -> Option<u64> {
        self.buf.is_mapped().then_some(self.buf.len() as u64)
    }

    /// Like [`TraceReader::split_half`], at what looks like the first record boundary at or
    /// after byte `from`.
    pub fn split_at(&self, from: u64, min_bytes: u64) -> Option<(u64, TraceReader<File>)> {
        let State::Pcap(header) = self.state else {
            return None;
        };
        let PcapHeader {
            swap,
            nanos,
            snaplen,
            ..
        } = header;
        if !self.buf.is_mapped() || (self.buf.len() as u64) < min_bytes || self.packets > 0 {
            return None;
        }
        let b = &self.buf[..];
        // The file's first record dates the capture: a header in the middle is not much
        // older, nor decades younger.
        let start = rd32(b.get(self.pos..self.pos + 4)?, swap);
        let plausible = |at: usize| -> Option<(u32, usize)> {
            let h = b.get(at..at + 16)?;
            let (sec, frac) = (rd32(&h[0..4], swap), rd32(&h[4..8], swap));
            let (incl, orig) = (rd32(&h[8..12], swap), rd32(&h[12..16], swap));
            let ok = incl <= MAX_RECORD
                && sound_header(u64::from(frac), incl, orig, nanos, snaplen)
                && sec >= start.saturating_sub(SPAN_S)
                && sec - start.saturating_sub(SPAN_S) <= AFTER_S + SPAN_S;
            ok.then_some((sec, at + 16 + incl as usize))
        };
        let chains = |from: usize| -> bool {
            let Some((sec0, mut at)) = plausible(from) else {
                return false;
            };
            for _ in 1..CHAIN {
                if at == b.len() {
                    return true;
                }
                match plausible(at) {
                    Some((sec, next)) if sec.abs_diff(sec0) <= SPAN_S => at = next,
                    _ => return false,
                }
            }
            true
        };
        let mid = self.pos.max(usize::try_from(from).ok()?.min(b.len()));
        let at = (mid..b.len().min(mid + SEARCH)).find(|&q| chains(q))?;
        let map = Bytes::map(&self.src)?;
        if map.len() != b.len() {
            // The file changed size since it was opened: no split.
            return None;
        }
        let second = TraceReader {
            src: self.src.try_clone().ok()?,
            buf: map,
            release_at: 0,
            prefetched: 0,
            pos: at,
            end: b.len(),
            base: 0,
            eof: true,
            path: self.path.clone(),
            format: self.format,
            state: State::Pcap(header),
            packets: 0,
            failed: false,
            cut: None,
        };
        Some((at as u64, second))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A pcap of `n` records whose lengths vary, in either byte order and resolution.
    fn capture(n: u32, big: bool, nanos: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let w = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let magic = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let version = if big { 0x0002_0004 } else { 0x0004_0002 };
        for x in [magic, version, 0, 0, 65_535, 1] {
            w(&mut v, x);
        }
        let frac_max = if nanos { 1_000_000_000 } else { 1_000_000 };
        for i in 0..n {
            let len = 40 + (i * 37) % 1400;
            for x in [1_700_000_000 + i / 1000, (i * 7919) % frac_max, len, len] {
                w(&mut v, x);
            }
            // A payload of small words: headers whose lengths and fractions pass, which
            // the chain's timestamp checks reject.
            v.extend((0..len).map(|j| (j % 4 == 0) as u8 * (j as u8 & 0x3f)));
        }
        v
    }

    fn headers(r: &mut TraceReader<File>, stop: u64) -> Vec<(u64, u64, usize)> {
        let mut out = Vec::new();
        while r.offset() < stop {
            let at = r.offset();
            match r.next_record().unwrap() {
                Some(rec) => out.push((at, rec.ts.0, rec.data.len())),
                None => break,
            }
        }
        out
    }

    #[test]
    fn the_halves_read_what_one_pass_reads() {
        for (big, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
            let f = Temp::new(&capture(5_000, big, nanos));
            halves_equal_one_pass(&f.0);
        }
    }

    fn halves_equal_one_pass(path: &std::path::Path) {
        let path = path.to_path_buf();
        let whole = headers(&mut TraceReader::open(&path).unwrap(), u64::MAX);
        let mut first = TraceReader::open_mapped(&path).unwrap();
        let (mid, mut second) = first.split_half(0).expect("a mapped pcap splits");
        let mut halves = headers(&mut first, mid);
        assert_eq!(first.offset(), mid, "the guess is a true boundary");
        halves.extend(headers(&mut second, u64::MAX));
        assert_eq!(halves, whole);
        assert!(second.cut_short().is_none());
    }

    #[test]
    fn a_file_below_the_size_or_already_read_does_not_split() {
        let f = Temp::new(&capture(100, false, false));
        assert!(
            TraceReader::open(&f.0).unwrap().split_half(0).is_none(),
            "read, not mapped"
        );
        let mut r = TraceReader::open_mapped(&f.0).unwrap();
        assert!(r.split_half(1 << 30).is_none());
        assert!(r.split_half(0).is_some());
        r.next_record().unwrap();
        assert!(r.split_half(0).is_none());
    }

    /// `bytes` in a file of their own, removed when dropped.
    struct Temp(std::path::PathBuf);
    impl Temp {
        fn new(bytes: &[u8]) -> Temp {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "offsim-split-{}-{}.pcap",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&p, bytes).unwrap();
            Temp(p)
        }
    }
    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
