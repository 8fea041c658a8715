//! Where packets come from: the [`Source`] the engine pulls arrivals from, the trace source
//! over a capture file or the generator (retimed, looped with fresh tuples), and the first
//! pass that learns the trace's totals before the run.
//!
//! Both `run` (which builds sources) and `engine` (which consumes them) use this module; it
//! uses neither.

use std::fs::File;
use std::path::PathBuf;

use offsim_kernel::dups::{CopyKind, DupFinder};
use offsim_kernel::sides::{SideMode, SideSplitter, WanHint};
use offsim_traces::r#gen::{GenConfig, GenError, Generator, Stop};
use offsim_traces::meta::PacketMeta;
use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::pcap::TraceError;
use offsim_traces::stream::PacketStream;
use offsim_traces::time::SimTime;

use crate::replay::{Retimer, TraceTotals, fresh_tuples};

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
}

/// A packet with its arrival time.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// Simulated arrival time (first bit at the NIC).
    pub at: SimTime,
    /// The packet.
    pub pkt: PacketMeta,
}

/// Where packets come from.
pub trait Source {
    /// The next packet in arrival order, or `None` at the end.
    fn next_arrival(&mut self) -> Result<Option<Arrival>, SourceError>;
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
    fn open(input: &Input) -> Result<Reader, SourceError> {
        Ok(match input {
            Input::File(p) => Reader::File(Box::new(PacketStream::open(p)?)),
            Input::Gen(g) => Reader::Gen(Box::new(Generator::new(g)?)),
        })
    }

    #[inline]
    fn next(&mut self) -> Result<Option<PacketMeta>, SourceError> {
        match self {
            Reader::File(s) => Ok(s.next_packet()?),
            Reader::Gen(g) => Ok(g
                .next_frame()
                .map(|(ts, f)| parse_frame(LinkType::Ethernet, f, f.len() as u32, ts, 0))),
        }
    }
}

/// The trace as a [`Source`]: retimed, looped with fresh tuples.
pub(crate) struct TraceSource {
    input: Input,
    reader: Reader,
    retimer: Retimer,
    loops: u32,
    k: u32,
    /// Packets delivered so far.
    packets: u64,
    progress: crate::progress::Progress,
}

impl TraceSource {
    /// A source over `input`.
    pub(crate) fn new(
        input: Input,
        retimer: Retimer,
        loops: u32,
    ) -> Result<TraceSource, SourceError> {
        Ok(TraceSource {
            reader: Reader::open(&input)?,
            input,
            retimer,
            loops: loops.max(1),
            k: 0,
            packets: 0,
            progress: crate::progress::Progress::hidden(),
        })
    }

    /// Advances `progress` by the packets read, in batches of
    /// [`crate::progress::PACKET_BATCH`].
    pub(crate) fn with_progress(mut self, progress: crate::progress::Progress) -> Self {
        self.progress = progress;
        self
    }
}

impl Source for TraceSource {
    fn next_arrival(&mut self) -> Result<Option<Arrival>, SourceError> {
        loop {
            if let Some(mut pkt) = self.reader.next()? {
                let at = self.retimer.arrival(pkt.ts, pkt.wire_len, self.k);
                fresh_tuples(&mut pkt, self.k);
                self.packets += 1;
                if self.packets.is_multiple_of(crate::progress::PACKET_BATCH) {
                    self.progress.inc(crate::progress::PACKET_BATCH);
                }
                return Ok(Some(Arrival { at, pkt }));
            }
            if self.k + 1 >= self.loops {
                self.progress
                    .inc(self.packets % crate::progress::PACKET_BATCH);
                return Ok(None);
            }
            self.k += 1;
            self.reader = Reader::open(&self.input)?;
        }
    }
}

/// What a first pass over the trace learned.
#[derive(Clone, Debug, Default)]
pub struct TracePass {
    /// Totals for retiming.
    pub totals: TraceTotals,
    /// Wire bytes.
    pub bytes: u64,
    /// IP packets among those searched for copies (all of them when some were found).
    pub ip_packets: u64,
    /// Packets that look captured twice (`kernel::dups`): forwarded copies and originals
    /// written after their copy.
    pub copies: u64,
    /// The capture looks taken on the WAN link (sides guessed from the traffic).
    pub wan_capture: Option<String>,
    /// The capture's final record was cut short: the warning (the packets before it are
    /// replayed).
    pub cut_short: Option<String>,
}

/// IP packets the WAN-capture hint looks at (the first ones of the trace), and the search
/// for packets captured twice when it found none among them.
const WAN_HINT_PACKETS: u64 = 1_000_000;

/// Reads the whole trace once: totals, packets captured twice, and — with sides guessed from
/// the traffic (`flow`, `single`) — a split of them, to warn when the capture looks taken on
/// the WAN link. No per-flow state beyond the splitter's live tuples (the count of distinct
/// flows it once printed needed a set of every flow: `offsim trace info` gives it).
pub(crate) fn first_pass(input: &Input, sides: &SideMode) -> Result<TracePass, SourceError> {
    let mut split = matches!(sides, SideMode::Flow | SideMode::Single)
        .then(|| (SideSplitter::new(sides.clone()), WanHint::default()));
    let mut r = Reader::open(input)?;
    let mut p = TracePass::default();
    // A capture that holds forwarded copies holds them from its start (both interfaces
    // are captured together): with none among the first packets the rest is not searched
    // (the finder's two maps per packet were a tenth of a run's time); with some, the
    // count is exact.
    let mut dups = Some(DupFinder::new());
    while let Some(m) = r.next()? {
        p.ip_packets += u64::from(m.is_ip());
        if let Some(d) = &mut dups {
            if d.check(&m) != CopyKind::First {
                p.copies += 1;
            }
            if p.copies == 0 && p.ip_packets >= WAN_HINT_PACKETS {
                dups = None;
            }
        }
        if let Some((sp, hint)) = &mut split {
            hint.note(&m, sp.side(&m, m.ts));
            // The hint needs the capture's start, not all of it: the splitter's tuples
            // would otherwise follow every flow of a long trace.
            if p.ip_packets >= WAN_HINT_PACKETS {
                p.wan_capture = hint.warning();
                split = None;
            }
        }
        p.totals.add(&m);
        p.bytes += u64::from(m.wire_len);
        if dups.is_none()
            && split.is_none()
            && let Reader::File(s) = &mut r
        {
            // Only totals remain: record headers, no frame parsing.
            while let Some((ts, len)) = s.next_header()? {
                p.totals.add_header(ts, len);
                p.bytes += u64::from(len);
            }
            break;
        }
    }
    if let Some((_, h)) = split {
        p.wan_capture = h.warning();
    }
    if let Reader::File(s) = &r {
        p.cut_short = s.cut_short().map(TraceError::cut_short_warning);
    }
    Ok(p)
}
