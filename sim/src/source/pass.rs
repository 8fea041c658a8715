//! The first pass: the trace's totals from its record headers alone, before a run times
//! its packets (a large capture walked in segments at once); and what can be told before
//! it, for a run that defers it (`prepare::prepare_deferred`): the first packet, and a
//! glance at the capture's end.

use std::fs::File;

use offsim_traces::stream::PacketStream;
use offsim_traces::time::SimTime;

use super::{Input, Reader, SourceError};
use crate::replay::TraceTotals;

/// What the first pass learned from the record headers.
#[derive(Clone, Debug, Default)]
pub struct TracePass {
    /// Totals for retiming.
    pub totals: TraceTotals,
    /// Wire bytes.
    pub bytes: u64,
    /// The capture's final record was cut short: the warning (the packets before it are
    /// replayed).
    pub cut_short: Option<String>,
}

impl TracePass {
    /// Adds the pass over a later part of the same trace.
    fn merge(&mut self, later: TracePass) {
        self.totals.merge(&later.totals);
        self.bytes += later.bytes;
    }
}

/// Captures at least this large have their first pass walked in segments (a smaller one is
/// read in a few milliseconds).
const SPLIT_BYTES: u64 = 64 << 20;

/// Segments of the file one thread walks at once, a record of each in turn.
///
/// A walk over record headers is a chain of dependent loads (a record's length says where
/// the next one starts) that misses the cache at every record of a capture of large
/// packets, so one chain runs at memory latency; the out-of-order core overlaps the
/// misses of independent chains. On the 1M-packet home-router capture (1 KB packets) one
/// thread walked 1, 2, 3, 4 and 8 chains in 89, 68, 54, 53 and 54 ms: four.
const CHAINS: usize = 4;

/// Reads the whole trace once, record headers only: totals and whether it was cut short.
///
/// This pass runs before any packet can be timed, so it is the serial part of a run (9–15 %
/// of a one-configuration run's CPU on a 1 GB trace). A large mapped pcap file is walked in
/// [`CHAINS`] segments per thread at once (two threads when the pool has more than one),
/// each from what looks like a record boundary (`TraceReader::split_at`). The segments'
/// results are used only if the walk of each one reaches the very boundary the next
/// started from, without error; otherwise the file is read again in one walk, as if it had
/// never been split, errors and all.
pub(crate) fn first_pass(input: &Input) -> Result<TracePass, SourceError> {
    let threads = rayon::current_num_threads().clamp(1, 2);
    pass_over(input, Some((SPLIT_BYTES, threads)))
}

/// [`first_pass`]; a mapped pcap file of at least `split.0` bytes is walked in segments on
/// `split.1` threads.
fn pass_over(input: &Input, split: Option<(u64, usize)>) -> Result<TracePass, SourceError> {
    let r = Reader::open_headers(input)?;
    let r = match (r, split) {
        (Reader::File(s), Some((min, threads))) => match segmented(s, min, threads) {
            Ok(p) => return Ok(p),
            Err(Some(s)) => Reader::File(s),
            // The segments did not chain: read again from the start.
            Err(None) => Reader::open_headers(input)?,
        },
        (r, _) => r,
    };
    let (mut r, mut p) = (r, TracePass::default());
    headers(&mut r, &mut p, u64::MAX)?;
    p.cut_short = cut_warning(&r, p.totals.packets);
    Ok(p)
}

/// One segment of a split pass: a reader from `start` up to the record at `stop`.
struct Segment {
    s: PacketStream<File>,
    start: u64,
    stop: u64,
    pass: TracePass,
    /// The walk stopped (end of segment or file, or an error).
    done: bool,
    failed: bool,
}

/// The pass over `s` (not read yet) in segments; `Err(Some(s))` hands the reader back
/// unread when the file cannot be split, `Err(None)` when the segments did not chain.
fn segmented(
    s: Box<PacketStream<File>>,
    min: u64,
    threads: usize,
) -> Result<TracePass, Option<Box<PacketStream<File>>>> {
    let Some(len) = s.reader().mapped_len() else {
        return Err(Some(s));
    };
    let n = (CHAINS * threads.max(1)) as u64;
    let mut cuts: Vec<(u64, PacketStream<File>)> = Vec::new();
    for i in 1..n {
        let last = cuts.last().map_or(0, |c| c.0);
        if let Some((at, r)) = s.split_at(len * i / n, min)
            && at > last
        {
            cuts.push((at, r));
        }
    }
    if cuts.is_empty() {
        return Err(Some(s));
    }
    let mut segs = vec![Segment::new(*s, 0)];
    for (at, r) in cuts {
        segs.last_mut().expect("first segment").stop = at;
        segs.push(Segment::new(r, at));
    }
    // Contiguous groups, one per thread; a thread the system refuses, or one that
    // panicked, leaves its segments unwalked, which fails the chaining below.
    let per = segs.len().div_ceil(threads.max(1));
    std::thread::scope(|sc| {
        let mut groups = segs.chunks_mut(per);
        let mine = groups.next().expect("a group");
        let others: Vec<_> = groups
            .map(|g| std::thread::Builder::new().spawn_scoped(sc, move || interleave(g)))
            .collect();
        interleave(mine);
        for h in others.into_iter().flatten() {
            let _ = h.join();
        }
    });
    let chained = segs
        .windows(2)
        .all(|w| w[0].done && !w[0].failed && w[0].s.reader().offset() == w[1].start);
    let last = segs.last().expect("a segment");
    if !chained || !last.done || last.failed {
        return Err(None);
    }
    let mut it = segs.into_iter();
    let mut p = it.next().expect("a segment").pass;
    let mut tail = None;
    for sg in it {
        p.merge(sg.pass);
        tail = Some(sg.s);
    }
    let tail = Reader::File(Box::new(tail.expect("two segments at least")));
    p.cut_short = cut_warning(&tail, p.totals.packets);
    Ok(p)
}

impl Segment {
    fn new(s: PacketStream<File>, start: u64) -> Segment {
        Segment {
            s,
            start,
            stop: u64::MAX,
            pass: TracePass::default(),
            done: false,
            failed: false,
        }
    }

    /// Reads one record header; false once the segment is done.
    #[inline]
    fn step(&mut self) -> bool {
        if self.s.reader().offset() >= self.stop {
            self.done = true;
            return false;
        }
        match self.s.next_header() {
            Ok(Some((ts, len))) => {
                self.pass.totals.add_header(ts, len);
                self.pass.bytes += u64::from(len);
                true
            }
            Ok(None) => {
                self.done = true;
                false
            }
            Err(_) => {
                (self.done, self.failed) = (true, true);
                false
            }
        }
    }
}

/// Walks `segs` to their ends, a record of each in turn (see [`CHAINS`]).
fn interleave(segs: &mut [Segment]) {
    let mut live = segs.len();
    while live > 0 {
        live = 0;
        for sg in segs.iter_mut().filter(|sg| !sg.done) {
            live += usize::from(sg.step());
        }
    }
}

/// Adds the record headers of `r` to `p` up to the record at byte offset `stop` (a
/// generator has none: it runs to its end).
fn headers(r: &mut Reader, p: &mut TracePass, stop: u64) -> Result<(), SourceError> {
    while r.offset().is_none_or(|o| o < stop)
        && let Some((ts, len)) = r.next_header()?
    {
        p.totals.add_header(ts, len);
        p.bytes += u64::from(len);
    }
    Ok(())
}

/// The warning when `r`'s file was cut short in its final record, `packets` good ones
/// read before it in all.
pub(super) fn cut_warning(r: &Reader, packets: u64) -> Option<String> {
    let Reader::File(s) = r else { return None };
    s.cut_short().map(|c| c.cut_short_warning_after(packets))
}

/// Bytes at the end of a capture [`glance`] reads.
const GLANCE_BYTES: u64 = 1 << 20;

/// The trace's totals as a look at its end tells, before any pass over it: for a mapped
/// pcap file larger than a few MiB, its newest time among its last MiB of records, and its
/// packets and wire bits scaled from theirs to the file's length (the first packet's time
/// is `first`). `None` when it cannot tell (pcapng, a pipe, the generator, a small file).
/// A guess, only to not defer the first pass of a replay that will be too long for what a
/// deferred run assumes (`prepare::prepare_deferred`).
pub(crate) fn glance(input: &Input, first: SimTime) -> Option<TraceTotals> {
    let Input::File(path) = input else {
        return None;
    };
    let s = PacketStream::open_mapped(path).ok()?;
    let len = s.reader().mapped_len().filter(|&l| l >= 4 * GLANCE_BYTES)?;
    let (at, mut tail) = s.split_at(len - GLANCE_BYTES, 0)?;
    let mut t = TraceTotals::default();
    while let Ok(Some((ts, wire))) = tail.next_header() {
        t.add_header(ts, wire);
    }
    if t.packets == 0 {
        return None;
    }
    let scale = |x: u64| (u128::from(x) * u128::from(len) / u128::from(len - at)) as u64;
    Some(TraceTotals {
        packets: scale(t.packets),
        wire_bits: scale(t.wire_bits),
        first,
        last: t.last.max(first),
    })
}

/// The time and length on the wire of the trace's first packet, without reading further.
pub(crate) fn first_header(input: &Input) -> Result<Option<(SimTime, u32)>, SourceError> {
    Reader::open(input)?.next_header()
}

#[cfg(test)]
pub(super) mod test {
    use super::*;
    use offsim_traces::r#gen::{GenConfig, Generator, Profile, Stop};
    use offsim_traces::parse::LinkType;
    use offsim_traces::pcap::PcapWriter;

    /// A generated home-router capture; cut inside its last record when `cut`. With
    /// `decoy`, a packet whose payload is a chain of plausible record headers, dated as the
    /// capture is, starts exactly at the middle of the file, where the split looks for a
    /// boundary (a last record pads the file to put the middle there).
    pub(in crate::source) fn capture(decoy: bool, cut: bool) -> Vec<u8> {
        let cfg = GenConfig::new(Profile::HomeRouter, 5, Stop::Packets(4000));
        let mut g = Generator::new(&cfg).unwrap();
        let mut frames = Vec::new();
        while let Some((ts, f)) = g.next_frame() {
            frames.push((ts, f.to_vec()));
        }
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535).unwrap();
        let total: usize = 24 + frames.iter().map(|(_, f)| 16 + f.len()).sum::<usize>();
        let (mut at, mut decoy_at) = (24, None);
        for (ts, f) in &frames {
            if decoy && decoy_at.is_none() && at > total / 2 {
                // 16 fake headers of 48-byte records: 1024 bytes of payload.
                let sec = (ts.0 / 1_000_000_000) as u32;
                let mut fake = Vec::new();
                for k in 0..16u32 {
                    for x in [sec, k, 48, 48] {
                        fake.extend_from_slice(&x.to_le_bytes());
                    }
                    fake.extend_from_slice(&[0; 48]);
                }
                w.write(*ts, &fake, fake.len() as u32).unwrap();
                decoy_at = Some(at + 16);
                at += 16 + fake.len();
            }
            w.write(*ts, f, f.len() as u32).unwrap();
            at += 16 + f.len();
        }
        if let Some(pos) = decoy_at {
            // A last record of `pad` bytes in all moves the middle to `pos`.
            let pad = 2 * (pos - at / 2) - at % 2;
            let last = frames.last().unwrap().0;
            w.write(last, &vec![0; pad - 16], (pad - 16) as u32)
                .unwrap();
        }
        let mut b = w.finish().unwrap();
        if let Some(pos) = decoy_at {
            assert_eq!(b.len() / 2, pos, "the decoy starts at the middle");
        }
        if cut {
            b.truncate(b.len() - 10);
        }
        b
    }

    pub(in crate::source) fn file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p =
            std::env::temp_dir().join(format!("offsim-pass-{name}-{}.pcap", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub(in crate::source) fn same(a: &TracePass, b: &TracePass) {
        assert_eq!(a.totals, b.totals);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.cut_short, b.cut_short);
    }

    /// The pass in segments (on one thread and on two) gives what one pass gives: on a clean
    /// capture, one cut short (the warning counts every good packet), and one whose middle
    /// holds a decoy chain of headers (the walk before it misses the guessed boundary, and
    /// the file is read again in one walk).
    #[test]
    fn a_split_pass_equals_a_single_one() {
        for (name, decoy, cut) in [
            ("clean", false, false),
            ("cut", false, true),
            ("decoy", true, false),
        ] {
            let bytes = capture(decoy, cut);
            let p = file(name, &bytes);
            let inp = Input::File(p.clone());
            let one = pass_over(&inp, None).unwrap();
            for threads in [1, 2] {
                let two = pass_over(&inp, Some((0, threads))).unwrap();
                same(&one, &two);
                // The segments chain, except across the decoy (then the file is read again).
                let s = Box::new(PacketStream::open_mapped(&p).unwrap());
                let seg = segmented(s, 0, threads);
                assert_eq!(seg.is_ok(), !decoy, "{name}, {threads} threads");
                assert!(matches!(seg, Ok(_) | Err(None)), "{name}: it splits");
            }
            assert_eq!(one.cut_short.is_some(), cut, "{name}");
            if decoy {
                let Reader::File(s) = Reader::open_headers(&inp).unwrap() else {
                    unreachable!()
                };
                let (mid, _) = s.split_half(0).unwrap();
                let rec = bytes[mid as usize + 8..mid as usize + 12] == [48, 0, 0, 0];
                assert!(rec, "{name}: the guess is the decoy");
            }
            let _ = std::fs::remove_file(&p);
        }
    }

    /// A damaged record in either half of a pass in segments gives the error one pass
    /// gives.
    #[test]
    fn an_error_in_either_half_is_the_single_pass_error() {
        let clean = capture(false, false);
        // Record offsets, to damage one in each half.
        let mut at = vec![];
        let mut p = 24;
        while p + 16 <= clean.len() {
            at.push(p);
            p += 16 + u32::from_le_bytes(clean[p + 8..p + 12].try_into().unwrap()) as usize;
        }
        for (name, k) in [("first", at.len() / 4), ("second", 3 * at.len() / 4)] {
            let mut bytes = clean.clone();
            bytes[at[k] + 8..at[k] + 12].copy_from_slice(&u32::MAX.to_le_bytes());
            let path = file(&format!("err-{name}"), &bytes);
            let inp = Input::File(path.clone());
            let one = pass_over(&inp, None).map(|_| ()).unwrap_err().to_string();
            for threads in [1, 2] {
                let two = pass_over(&inp, Some((0, threads)))
                    .map(|_| ())
                    .unwrap_err()
                    .to_string();
                assert_eq!(one, two, "{name}");
            }
            assert!(one.contains(&format!("byte offset {}", at[k])), "{one}");
            let _ = std::fs::remove_file(&path);
        }
    }
}
