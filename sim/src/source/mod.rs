//! Where packets come from: the [`Source`] the engine pulls arrivals from; the decoder over a
//! capture file or the generator (parsed, retimed, looped with fresh tuples), which the
//! trace source runs inline and `feed.rs` runs on a thread of its own for several engines;
//! the first pass that learns the trace's totals from record headers before the run
//! (`pass.rs`), which a deferred run's decode replaces by counting them; and the scan of the
//! trace's first packets for captured copies and a WAN capture, which rides along the first
//! decode.
//!
//! `run` and `feed` (which build sources) and `engine` (which consumes them) use this
//! module; it uses none of them.

use std::fs::File;
use std::path::PathBuf;

use offsim_kernel::dups::{CopyKind, DupFinder, SEARCH_PACKETS};
use offsim_kernel::sides::SideMode;
use offsim_traces::r#gen::{GenConfig, GenError, Generator, Stop};
use offsim_traces::meta::PacketMeta;
use offsim_traces::parse::{LinkType, parse_frame_into};
use offsim_traces::pcap::TraceError;
use offsim_traces::stream::PacketStream;
use offsim_traces::time::SimTime;

use crate::replay::{Retimer, fresh_tuples};

mod hint;
mod pass;
use hint::HintScan;
pub use pass::TracePass;
use pass::cut_warning;
pub(crate) use pass::{first_header, first_pass, glance};

/// Why packets could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The trace file cannot be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The generator spec is invalid.
    #[error("trace.generate: {0}")]
    Gen(#[from] GenError),
    /// The thread reading the trace for several configurations stopped without finishing
    /// (`feed.rs`); the run reports the reader's own error instead.
    #[error("the trace reader stopped")]
    ReaderStopped,
    /// A packet broke what a run prepared without its first pass assumed ([`Assumed`]):
    /// the run is done again after the first pass (`run::run_scenario_deferred`), which
    /// never shows this error.
    #[error("the trace does not fit what the run assumed before reading it")]
    Unsettled,
}

/// A packet with its arrival time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Arrival {
    /// Simulated arrival time (first bit at the NIC).
    pub at: SimTime,
    /// The packet.
    pub pkt: PacketMeta,
}

/// Where packets come from.
pub trait Source {
    /// Decodes the next packet in arrival order into `pkt` (overwritten whole) and returns
    /// its arrival time; `None` at the end, `pkt` then unspecified. The engine decodes into
    /// the slot its packet will live in: a returned packet would be copied through every
    /// layer it passes (see `offsim_traces::parse::parse_frame_into`).
    fn next_into(&mut self, pkt: &mut PacketMeta) -> Result<Option<SimTime>, SourceError>;

    /// The next packet in arrival order, or `None` at the end (a copy of what
    /// [`Source::next_into`] decodes, for callers outside the hot path).
    fn next_arrival(&mut self) -> Result<Option<Arrival>, SourceError> {
        let mut pkt = PacketMeta::default();
        Ok(self.next_into(&mut pkt)?.map(|at| Arrival { at, pkt }))
    }
}

/// Where the packets come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A capture file.
    File(PathBuf),
    /// The generator.
    Gen(GenConfig),
}

impl Input {
    pub(crate) fn describe(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Gen(g) => {
                let stop = match g.stop {
                    Stop::Packets(n) => format!("packets={n}"),
                    Stop::Duration(d) => format!("duration={}s", d.as_secs_f64()),
                };
                format!("gen:{} seed={} {stop}", g.profile.name(), g.seed)
            }
        }
    }
}

/// A packet reader over a file or the generator.
enum Reader {
    File(Box<PacketStream<File>>),
    Gen(Box<Generator>),
}

impl Reader {
    /// Opens `input` for decoding packets: a file is read through `read(2)`, on one thread
    /// or beside the engines, which costs the same whatever pages the page cache holds the
    /// capture in (see `offsim_traces::pcap::bytes`).
    fn open(input: &Input) -> Result<Reader, SourceError> {
        Ok(match input {
            Input::File(p) => Reader::File(Box::new(PacketStream::open(p)?)),
            Input::Gen(g) => Reader::Gen(Box::new(Generator::new(g)?)),
        })
    }

    /// [`Reader::open`] for a walk over record headers: a file is mapped where it can be
    /// ([`PacketStream::open_mapped`]), as the walk reads a line a record and a mapping lets
    /// it be split over threads (`pass.rs`).
    fn open_headers(input: &Input) -> Result<Reader, SourceError> {
        Ok(match input {
            Input::File(p) => Reader::File(Box::new(PacketStream::open_mapped(p)?)),
            Input::Gen(g) => Reader::Gen(Box::new(Generator::new(g)?)),
        })
    }

    /// The next packet decoded into `m`; `false` at the end.
    #[inline]
    fn next_into(&mut self, m: &mut PacketMeta) -> Result<bool, SourceError> {
        match self {
            Reader::File(s) => Ok(s.next_into(m)?),
            Reader::Gen(g) => Ok(match g.next_frame() {
                Some((ts, f)) => {
                    parse_frame_into(LinkType::Ethernet, f, f.len() as u32, ts, 0, m);
                    true
                }
                None => false,
            }),
        }
    }

    /// The byte offset of the next record in the file (none for the generator).
    fn offset(&self) -> Option<u64> {
        match self {
            Reader::File(s) => Some(s.reader().offset()),
            Reader::Gen(_) => None,
        }
    }

    /// The next packet's time and length on the wire, without parsing it.
    #[inline]
    fn next_header(&mut self) -> Result<Option<(SimTime, u32)>, SourceError> {
        match self {
            Reader::File(s) => Ok(s.next_header()?),
            // As `parse_frame` counts a generated frame: captured whole.
            Reader::Gen(g) => Ok(g.next_frame().map(|(ts, f)| (ts, f.len() as u32))),
        }
    }
}

/// What a run prepared without its first pass assumes of the trace before reading it
/// (`prepare::prepare_deferred`); its decode checks every packet against it, and counts
/// the trace's totals as the first pass would have.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Assumed {
    /// Recorded timing: no packet is older than the first, from which the retimer counts
    /// (the first pass would have found the oldest).
    pub(crate) oldest: Option<SimTime>,
    /// No packet arrives later than this, ns: beyond it the replay may be too long or its
    /// time series need a wider interval ([`crate::replay::series_interval_ns`]). It only
    /// bounds the work spent before finding out; the totals settle the question.
    pub(crate) until_ns: u64,
}

/// The trace decoded into arrivals: every packet parsed, retimed and, in loop `k` > 0,
/// given fresh tuples; the file read again for each loop. With a [`Scan`], the first loop's
/// packets also go through it until it has seen enough. With [`Assumed`], the first loop
/// also counts the totals the first pass gives ([`Decoder::take_counted`]).
pub(crate) struct Decoder {
    input: Input,
    reader: Reader,
    retimer: Retimer,
    loops: u32,
    k: u32,
    scan: Option<Scan>,
    found: Option<Findings>,
    /// The totals counted so far, and what the run assumed.
    counting: Option<(TracePass, Assumed)>,
    /// The totals, once the first loop has ended.
    counted: Option<TracePass>,
}

impl Decoder {
    /// A decoder over `input`, `loops` times (at least once).
    pub(crate) fn new(input: Input, retimer: Retimer, loops: u32) -> Result<Decoder, SourceError> {
        Ok(Decoder {
            reader: Reader::open(&input)?,
            input,
            retimer,
            loops: loops.max(1),
            k: 0,
            scan: None,
            found: None,
            counting: None,
            counted: None,
        })
    }

    /// Counts the trace's totals while checking each packet against `assumed`: a packet
    /// that breaks it ends the decode with [`SourceError::Unsettled`].
    pub(crate) fn counting(mut self, assumed: Assumed) -> Self {
        self.counting = Some((TracePass::default(), assumed));
        self
    }

    /// The totals counted ([`Decoder::counting`]), once the first loop has ended.
    pub(crate) fn take_counted(&mut self) -> Option<TracePass> {
        self.counted.take()
    }

    /// Runs `scan` over the first loop's packets as they are decoded.
    pub(crate) fn with_scan(mut self, scan: Scan) -> Self {
        self.scan = Some(scan);
        self
    }

    /// What the scan found, once it has finished (it finishes at the end of the first loop
    /// at the latest).
    pub(crate) fn take_findings(&mut self) -> Option<Findings> {
        self.found.take()
    }

    /// The next arrival decoded into `pkt`: its time, `None` after the last loop. After an
    /// error the decode counts no more: a reader that failed reads no further records, and
    /// its count would be short.
    #[inline]
    pub(crate) fn next_into(
        &mut self,
        pkt: &mut PacketMeta,
    ) -> Result<Option<SimTime>, SourceError> {
        let r = self.decode_into(pkt);
        if r.is_err() {
            self.counting = None;
        }
        r
    }

    #[inline]
    fn decode_into(&mut self, pkt: &mut PacketMeta) -> Result<Option<SimTime>, SourceError> {
        loop {
            if self.reader.next_into(pkt)? {
                if let Some(s) = &mut self.scan
                    && !s.note(pkt)
                {
                    self.found = self
                        .scan
                        .take()
                        .map(|s| s.finish(&self.input))
                        .transpose()?;
                }
                let at = self.retimer.arrival(pkt.ts, pkt.wire_len, self.k);
                if let Some((pass, a)) = &mut self.counting {
                    // as the first pass adds a record header
                    pass.totals.add_header(pkt.ts, pkt.wire_len);
                    pass.bytes += u64::from(pkt.wire_len);
                    // (An arrival past `u64::MAX` ns wraps and may pass; the totals then
                    // make the replay too long, which `Prepared::settle` reports.)
                    if a.oldest.is_some_and(|t| pkt.ts < t) || at.0 > a.until_ns {
                        return Err(SourceError::Unsettled);
                    }
                }
                fresh_tuples(pkt, self.k);
                return Ok(Some(at));
            }
            if let Some(s) = self.scan.take() {
                self.found = Some(s.finish(&self.input)?);
            }
            if let Some((mut pass, _)) = self.counting.take() {
                pass.cut_short = cut_warning(&self.reader, pass.totals.packets);
                self.counted = Some(pass);
            }
            if self.k + 1 >= self.loops {
                return Ok(None);
            }
            self.k += 1;
            self.reader = Reader::open(&self.input)?;
        }
    }
}

/// The trace as a [`Source`], decoded on the engine's own thread.
pub(crate) struct TraceSource {
    decoder: Decoder,
    /// Packets delivered so far.
    packets: u64,
    progress: crate::progress::Progress,
}

impl TraceSource {
    /// A source over `decoder`'s arrivals.
    pub(crate) fn new(decoder: Decoder) -> TraceSource {
        TraceSource {
            decoder,
            packets: 0,
            progress: crate::progress::Progress::hidden(),
        }
    }

    /// Advances `progress` by the packets read, in batches of
    /// [`crate::progress::PACKET_BATCH`].
    pub(crate) fn with_progress(mut self, progress: crate::progress::Progress) -> Self {
        self.progress = progress;
        self
    }

    /// What the decoder's scan found, once it has finished.
    pub(crate) fn take_findings(&mut self) -> Option<Findings> {
        self.decoder.take_findings()
    }

    /// The totals the decoder counted, once the trace has ended.
    pub(crate) fn take_counted(&mut self) -> Option<TracePass> {
        self.decoder.take_counted()
    }
}

impl Source for TraceSource {
    #[inline]
    fn next_into(&mut self, pkt: &mut PacketMeta) -> Result<Option<SimTime>, SourceError> {
        let a = self.decoder.next_into(pkt)?;
        if a.is_some() {
            self.packets += 1;
            if self.packets.is_multiple_of(crate::progress::PACKET_BATCH) {
                self.progress.inc(crate::progress::PACKET_BATCH);
            }
        } else {
            self.progress
                .inc(self.packets % crate::progress::PACKET_BATCH);
        }
        Ok(a)
    }
}

/// What the scan of the trace's first packets found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// IP packets among those searched for copies (all of them when some were found).
    pub ip_packets: u64,
    /// Packets that look captured twice (`kernel::dups`): forwarded copies and originals
    /// written after their copy.
    pub copies: u64,
    /// The capture looks taken on the WAN link (sides guessed from the traffic).
    pub wan_capture: Option<String>,
}

/// IP packets the WAN-capture hint looks at (the first ones of the trace).
const WAN_HINT_PACKETS: u64 = 1_000_000;

/// How many of the trace's first IP packets the [`Scan`] looks at.
#[derive(Clone, Copy, Debug)]
struct Windows {
    /// For the WAN-capture hint ([`WAN_HINT_PACKETS`]).
    hint: u64,
    /// Split for the hint, none of which can make it warn, after which the split stops
    /// ([`hint::SILENT_PACKETS`]).
    silent: u64,
    /// Searched for copies when none is found (`dups::SEARCH_PACKETS`).
    copies: u64,
}

/// The search of the trace's first packets for packets captured twice and — with sides
/// guessed from the traffic (`flow`, `single`) — a split of them, to warn when the capture
/// looks taken on the WAN link ([`hint`] says how little of it is split). No per-flow state
/// beyond the splitter's live tuples (the count of distinct flows it once printed needed a
/// set of every flow: `offsim trace info` gives it).
pub(crate) struct Scan {
    /// IP packets searched for copies when none is found (`dups::SEARCH_PACKETS`).
    copy_window: u64,
    hint: Option<HintScan>,
    dups: Option<DupFinder>,
    found: Findings,
}

impl Scan {
    /// A scan for a run with `sides`.
    pub(crate) fn new(sides: &SideMode) -> Scan {
        Scan::windowed(
            sides,
            Windows {
                hint: WAN_HINT_PACKETS,
                silent: hint::SILENT_PACKETS,
                copies: SEARCH_PACKETS,
            },
        )
    }

    /// [`Scan::new`] with other windows, for tests.
    fn windowed(sides: &SideMode, w: Windows) -> Scan {
        Scan {
            copy_window: w.copies,
            hint: HintScan::new(sides, w.hint, w.silent),
            dups: Some(DupFinder::new()),
            found: Findings::default(),
        }
    }

    /// Notes the trace's next packet; `false` once the scan needs no more.
    #[inline]
    pub(crate) fn note(&mut self, m: &PacketMeta) -> bool {
        let f = &mut self.found;
        f.ip_packets += u64::from(m.is_ip());
        // A capture that holds forwarded copies holds them from its start (both interfaces
        // are captured together): with none among the first packets the rest is not
        // searched, as `rules eval` does (`dups::SEARCH_PACKETS`); with some, the count is
        // exact.
        if let Some(d) = &mut self.dups {
            if d.check(m) != CopyKind::First {
                f.copies += 1;
            }
            if f.copies == 0 && f.ip_packets >= self.copy_window {
                self.dups = None;
            }
        }
        let hint = self.hint.as_mut().is_some_and(|h| h.note(m, f.ip_packets));
        self.dups.is_some() || hint
    }

    /// What it found in the packets it was shown, the hint redone over `input` when it
    /// needs that.
    pub(crate) fn finish(self, input: &Input) -> Result<Findings, SourceError> {
        let mut f = self.found;
        if let Some(h) = self.hint {
            f.wan_capture = h.finish(input)?;
        }
        Ok(f)
    }
}

/// Scans the trace's first packets on this thread (for commands whose runs decode the
/// trace on their own threads, without a scan: `sweep`, `plan`).
pub(crate) fn scan(input: &Input, sides: &SideMode) -> Result<Findings, SourceError> {
    let mut r = Reader::open(input)?;
    let (mut s, mut m) = (Scan::new(sides), PacketMeta::default());
    while r.next_into(&mut m)? {
        if !s.note(&m) {
            break;
        }
    }
    s.finish(input)
}

#[cfg(test)]
mod test {
    use super::pass::test::{capture, file, same};
    use super::*;
    use offsim_traces::parse::LinkType;
    use offsim_traces::pcap::PcapWriter;

    /// A decode that counts ([`Decoder::counting`]) counts what the first pass counts, on a
    /// clean capture, on one cut short and on captures of every format and link type; a
    /// packet older than the assumed oldest, or one arriving after the assumed end, stops
    /// it.
    #[test]
    fn a_counting_decode_counts_what_the_first_pass_does() {
        let drain = |d: &mut Decoder| {
            let mut m = PacketMeta::default();
            let mut last = SimTime(0);
            loop {
                match d.next_into(&mut m) {
                    Ok(Some(at)) => last = at,
                    Ok(None) => return Ok(last),
                    Err(e) => return Err(e),
                }
            }
        };
        for (name, cut) in [("count-clean", false), ("count-cut", true)] {
            let p = file(name, &capture(false, cut));
            let inp = Input::File(p.clone());
            let pass = first_pass(&inp).unwrap();
            let retimer = Retimer::new(crate::replay::Timing::Recorded, &pass.totals).unwrap();
            let oldest = Some(pass.totals.first);
            let mut d = Decoder::new(inp.clone(), retimer, 1)
                .unwrap()
                .counting(Assumed {
                    oldest,
                    until_ns: u64::MAX,
                });
            let last = drain(&mut d).unwrap();
            same(&d.take_counted().expect("counted"), &pass);
            assert_eq!(pass.cut_short.is_some(), cut);
            // Assumed an oldest packet younger than the real one, or an earlier end.
            for a in [
                Assumed {
                    oldest: Some(SimTime(pass.totals.first.0 + 1)),
                    until_ns: u64::MAX,
                },
                Assumed {
                    oldest,
                    until_ns: last.0 - 1,
                },
            ] {
                let mut d = Decoder::new(inp.clone(), retimer, 1).unwrap().counting(a);
                assert!(
                    matches!(drain(&mut d), Err(SourceError::Unsettled)),
                    "{a:?}"
                );
                assert!(d.take_counted().is_none());
            }
            let _ = std::fs::remove_file(&p);
        }
        // Every link type and format of the reader's test captures: pcapng, Linux cooked
        // (v1, v2), VLAN, raw IP, big-endian nanosecond pcap, and records cut to a 64-byte
        // snaplen (the wire length is the original one).
        let variants =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/data/variants");
        let mut n = 0;
        for e in std::fs::read_dir(variants).unwrap() {
            let inp = Input::File(e.unwrap().path());
            let pass = first_pass(&inp).unwrap();
            let retimer = Retimer::new(crate::replay::Timing::RatePps(1e6), &pass.totals).unwrap();
            let a = Assumed {
                oldest: None,
                until_ns: u64::MAX,
            };
            let mut d = Decoder::new(inp, retimer, 1).unwrap().counting(a);
            drain(&mut d).unwrap();
            same(&d.take_counted().expect("counted"), &pass);
            n += 1;
        }
        assert!(n >= 8, "{n} captures");
    }

    /// The scan's hint is the whole window's split on random captures: 1,000 of up to 40
    /// packets (ARP, UDP both ways between private, public and documentation addresses,
    /// some with PPPoE), with random hint, silent-split and copy windows, in `flow` and
    /// `single` sides; a few hundred of them warn.
    #[test]
    fn the_wan_hint_is_that_of_a_full_split_on_random_captures() {
        let addrs: [[u8; 4]; 6] = [
            [192, 168, 1, 2],
            [81, 2, 69, 160],
            [198, 51, 100, 1],
            [192, 0, 2, 7],
            [8, 8, 8, 8],
            [10, 0, 0, 1],
        ];
        let mut rng = offsim_traces::r#gen::rng::Rng::seed_from_u64(0x1234_5678);
        let mut rnd = |n: u64| rng.next_u64() % n;
        let arp = {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
            f.extend_from_slice(&[0; 28]);
            f
        };
        let (mut warned, mut cut) = (0, 0);
        for case in 0..1000 {
            let frames: Vec<Vec<u8>> = (0..1 + rnd(40))
                .map(|_| {
                    if rnd(10) == 0 {
                        return arp.clone();
                    }
                    // documentation addresses half the time, so that splits stop silent
                    let mut pick = || match rnd(12) {
                        r @ 0..6 => addrs[2 + (r % 2) as usize],
                        r => addrs[r as usize % 6],
                    };
                    let (a, b) = (pick(), pick());
                    let mut f = udp_frame(a, b, 1000 + rnd(3) as u16, rnd(15) == 0);
                    if rnd(2) == 0 {
                        // a reply: the ports the other way
                        let off = f.len() - 8;
                        f.copy_within(off..off + 2, off + 2);
                        f[off..off + 2].copy_from_slice(&53u16.to_be_bytes());
                    }
                    f
                })
                .collect();
            let windows = Windows {
                hint: 1 + rnd(30),
                silent: rnd(8),
                copies: 1 + rnd(5),
            };
            let path = frames_file(&format!("hint-random-{case}"), &frames);
            let inp = Input::File(path.clone());
            for sides in [SideMode::Flow, SideMode::Single] {
                let full = hint::wan_hint(&inp, &sides, windows.hint).unwrap();
                warned += u32::from(full.is_some());
                let sc = scanned(&inp, &sides, windows);
                cut += u32::from(sc.hint.as_ref().unwrap().split_packets() < windows.hint);
                let got = sc.finish(&inp).unwrap().wan_capture;
                assert_eq!(got, full, "case {case} {sides:?} {windows:?}");
            }
            let _ = std::fs::remove_file(&path);
        }
        assert!(
            warned > 200 && cut > 500,
            "warned {warned}, split cut {cut}"
        );
    }

    /// `frames` as an Ethernet capture a microsecond apart, in a file named after `name`.
    fn frames_file(name: &str, frames: &[Vec<u8>]) -> std::path::PathBuf {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write(SimTime(i as u64 * 1000), f, f.len() as u32)
                .unwrap();
        }
        file(name, &w.finish().unwrap())
    }

    /// The scan of `inp` with `windows`, shown its packets as `scan` shows them (until
    /// `note` says it is done), not yet finished.
    fn scanned(inp: &Input, sides: &SideMode, windows: Windows) -> Scan {
        let mut r = Reader::open(inp).unwrap();
        let mut sc = Scan::windowed(sides, windows);
        let mut m = PacketMeta::default();
        while r.next_into(&mut m).unwrap() && sc.note(&m) {}
        sc
    }

    /// An Ethernet frame of a UDP datagram, with a PPPoE session header when `pppoe`.
    fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, pppoe: bool) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&[0, 53, 0, 8, 0, 0]);
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if pppoe {
            f.extend_from_slice(&[0x88, 0x64, 0x11, 0, 0, 7, 0, 30, 0, 0x21]);
        } else {
            f.extend_from_slice(&[0x08, 0x00]);
        }
        f.extend_from_slice(&ip);
        f
    }

    /// The scan's WAN-capture hint, whose split stops after its first IP packets if none can
    /// make it warn and once only PPPoE can change it, is the one a split of the whole hint
    /// window gives. With a 60-packet hint window, the split stopping after 5 IP packets
    /// that cannot warn and a 10-packet copy search, driven as `scan` drives it (until `note`
    /// says it is done): a LAN capture (the split stops after a packet, also after a non-IP
    /// packet first), a WAN capture (public clients: it never stops, and warns), LAN
    /// captures with a PPPoE packet as the window's last IP packet (the hint is redone, and
    /// warns) and as the first past it (no warning), a capture of documentation addresses
    /// (split 5 packets), captures whose first IP packets cannot warn, followed by public or
    /// private clients: one such packet first (the split goes on) or five (the hint is redone,
    /// so the sides are the trace's, which the "late" captures tell apart).
    #[test]
    fn the_wan_hint_is_that_of_a_full_split() {
        let lan = |i: u16| udp_frame([192, 168, 1, 2], [198, 51, 100, 1], 1000 + i, false);
        let wan = |i: u16| udp_frame([81, 2, 69, 160], [198, 51, 100, 1], 1000 + i, false);
        let ppp = |i: u16| udp_frame([192, 168, 1, 3], [198, 51, 100, 1], 1000 + i, true);
        let doc = |i: u16| udp_frame([192, 0, 2, 7], [198, 51, 100, 1], 1000 + i, false);
        // the reply to the first packet of a public client's flow, seen first: the client is
        // then on the WAN side for its address pair (a split begun after it would warn)
        let late = |i: u16| {
            let mut f = udp_frame([198, 51, 100, 1], [81, 2, 69, 160], 53, false);
            f[36..38].copy_from_slice(&(1000 + i).to_be_bytes());
            f
        };
        let arp = {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
            f.extend_from_slice(&[0; 28]);
            f
        };
        let with_ppp_at = |k: u16| -> Vec<Vec<u8>> {
            (0..80)
                .map(|i| if i == k { ppp(i) } else { lan(i) })
                .collect()
        };
        let then = |first: Vec<Vec<u8>>, rest: &dyn Fn(u16) -> Vec<u8>| -> Vec<Vec<u8>> {
            first.into_iter().chain((0..80).map(rest)).collect()
        };
        let docs = |n: u16| (100..100 + n).map(doc).collect::<Vec<_>>();
        let late_docs = std::iter::once(late(0)).chain(docs(4)).collect::<Vec<_>>();
        // (name, frames, warns, IP packets the scan splits before the hint's redo, if any)
        let cases: [(&str, Vec<Vec<u8>>, bool, u64); 13] = [
            ("lan", (0..80).map(lan).collect(), false, 1),
            ("arp-lan", then(vec![arp.clone()], &lan), false, 1),
            ("wan", (0..80).map(wan).collect(), true, 60),
            ("ppp-last-in", with_ppp_at(59), true, 1),
            ("ppp-first-out", with_ppp_at(60), false, 1),
            ("doc", (0..80).map(doc).collect(), false, 5),
            ("doc-wan", then(docs(1), &wan), true, 60),
            ("doc-lan", then(docs(1), &lan), false, 2),
            ("late-wan", then(vec![late(0)], &wan), false, 60),
            ("docs-wan", then(docs(5), &wan), true, 5),
            ("docs-lan", then(docs(5), &lan), false, 5),
            ("late-docs-wan", then(late_docs, &wan), false, 5),
            ("docs-ppp", then(docs(5), &ppp), true, 5),
        ];
        for (name, frames, warns, stops) in cases {
            let path = frames_file(&format!("hint-{name}"), &frames);
            let inp = Input::File(path.clone());
            let full = hint::wan_hint(&inp, &SideMode::Flow, 60).unwrap();
            assert_eq!(full.is_some(), warns, "{name}: {full:?}");
            let windows = Windows {
                hint: 60,
                silent: 5,
                copies: 10,
            };
            let sc = scanned(&inp, &SideMode::Flow, windows);
            let split = sc.hint.as_ref().map(|h| h.split_packets());
            assert_eq!(split, Some(stops), "{name}: IP packets split");
            assert_eq!(sc.finish(&inp).unwrap().wan_capture, full, "{name}");
            let _ = std::fs::remove_file(&path);
        }
    }
}
