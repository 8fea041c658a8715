//! One decode of the trace shared by several configurations: a thread of its own reads and
//! parses the capture (or runs the generator), retimes every packet and hands the arrivals,
//! in chunks, to every configuration's engine, each on a thread of its own. The capture is
//! read and parsed once per run instead of once per configuration, and a single
//! configuration simulates on one core while the next packets are decoded on another.
//!
//! All configurations of a run share the replay timing (`Prepared::retimer`) and the loops,
//! so an arrival — time and packet, fresh tuples included — is the same for every engine and
//! is computed once. Each engine sees exactly the sequence the inline
//! [`crate::source::TraceSource`] gives it: results do not depend on thread timing.
//!
//! Memory is bounded whatever the trace's length: each engine's channel holds at most
//! [`IN_FLIGHT`] chunks of [`CHUNK`] arrivals ([`CHUNK_ONE`] with a single engine) and the
//! reader waits for the slowest engine, so at most `IN_FLIGHT + 2` chunks (each under a
//! megabyte, under 6 MB in all) are alive at once.
//!
//! The channels are `std::sync::mpsc::sync_channel`: bounded, one producer and one consumer
//! each, which is all this needs; std's implementation is crossbeam-channel's (ported into
//! std in Rust 1.67), so that crate would add a dependency for nothing here.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use offsim_traces::meta::PacketMeta;
use offsim_traces::time::SimTime;

use crate::progress::Progress;
use crate::source::{Arrival, Decoder, Findings, Source, SourceError, TracePass};

/// Arrivals per chunk when the reader feeds several engines (224 bytes each, about 230
/// KB): a channel operation and an allocation per this many packets.
pub(crate) const CHUNK: usize = 1024;

/// Arrivals per chunk when the reader feeds one engine (about 920 KB). The reader decodes
/// faster than an engine simulates, so it waits on a full channel and is woken for each
/// chunk the engine takes: a `futex` wake on the engine's thread and two context switches,
/// which at [`CHUNK`] arrivals were 5 % of a one-configuration `run` (enterprise, software
/// offload, 1M packets from tmpfs: 0.348 → 0.329 CPU s, median of 7 alternated; 8,192 gained
/// nothing more). With several engines sharing two cores, chunks this large left a core
/// idle more often (three configurations: wall time +6 %, CPU time unchanged), so they keep
/// [`CHUNK`].
pub(crate) const CHUNK_ONE: usize = 4096;

// The memory bound of the module doc: a chunk is at most a megabyte.
const _: () = assert!(size_of::<Arrival>() * CHUNK_ONE <= 1 << 20 && CHUNK <= CHUNK_ONE);

/// How many arrivals ahead of the one it takes an engine asks for the lines of
/// ([`FeedSource`]): each arrival is 224 bytes the reader wrote on another core, so copying
/// it into the engine's slot missed the cache (`memmove` was 4 % of a SYN-flood `run`'s
/// samples). Measured from tmpfs, 1M packets, median of 9 alternated, CPU s: SYN flood with
/// the software flowtable 0.646 → 0.630 (2 ahead 0.639, 8 ahead 0.645), home-router
/// without offload 0.743 → 0.722, datacenter without offload 0.986 → 0.963 (7 runs),
/// enterprise software and home-router hardware unchanged.
const PREFETCH_AHEAD: usize = 4;

/// Chunks each engine's channel holds before the reader waits.
pub(crate) const IN_FLIGHT: usize = 4;

/// What the reader sends each engine.
enum Msg {
    /// The next arrivals.
    Chunk(Arc<Vec<Arrival>>),
    /// The trace has ended.
    End,
    /// The reader failed; its error is returned by [`Feeder::run`].
    Failed,
}

/// The reading side: runs the decoder and hands its arrivals to every engine.
pub(crate) struct Feeder {
    decoder: Decoder,
    /// Arrivals per chunk ([`CHUNK`], or [`CHUNK_ONE`] for one engine).
    chunk: usize,
    /// One per engine; `None` once that engine stopped listening (it failed).
    txs: Vec<Option<SyncSender<Msg>>>,
}

/// A feeder and a [`Source`] for each of `engines` engines, over `decoder`'s arrivals.
pub(crate) fn share(decoder: Decoder, engines: usize) -> (Feeder, Vec<FeedSource>) {
    let (txs, sources) = (0..engines)
        .map(|_| {
            let (tx, rx) = sync_channel(IN_FLIGHT);
            let src = FeedSource {
                rx,
                chunk: Arc::new(Vec::new()),
                at: 0,
                progress: Progress::hidden(),
            };
            (Some(tx), src)
        })
        .unzip();
    let chunk = if engines == 1 { CHUNK_ONE } else { CHUNK };
    (
        Feeder {
            decoder,
            chunk,
            txs,
        },
        sources,
    )
}

impl Feeder {
    /// Decodes the whole trace into the engines' channels (call on a thread of its own:
    /// it waits while the slowest engine's channel is full). Returns what the decoder's
    /// scan found and the totals it counted, if it had them; a reader error after telling
    /// every engine.
    pub(crate) fn run(mut self) -> Result<Decoded, SourceError> {
        loop {
            let mut chunk = Vec::with_capacity(self.chunk);
            let end = loop {
                if chunk.len() == self.chunk {
                    break Ok(false);
                }
                // Decoded in its place in the chunk (`Source::next_into`).
                chunk.push(Arrival::default());
                let a = chunk.last_mut().expect("pushed");
                match self.decoder.next_into(&mut a.pkt) {
                    Ok(Some(at)) => a.at = at,
                    Ok(None) => {
                        chunk.pop();
                        break Ok(true);
                    }
                    Err(e) => {
                        chunk.pop();
                        break Err(e);
                    }
                }
            };
            if !chunk.is_empty() {
                let chunk = Arc::new(chunk);
                self.send(|| Msg::Chunk(Arc::clone(&chunk)));
            }
            match end {
                Ok(false) if self.txs.iter().any(Option::is_some) => {}
                // Every engine stopped: the run has failed, no one needs the rest.
                Ok(false) => return Ok(Decoded::default()),
                Ok(true) => {
                    self.send(|| Msg::End);
                    return Ok(Decoded {
                        found: self.decoder.take_findings(),
                        counted: self.decoder.take_counted(),
                    });
                }
                Err(e) => {
                    self.send(|| Msg::Failed);
                    return Err(e);
                }
            }
        }
    }

    /// Sends a message to every engine still listening, forgetting those that stopped.
    fn send(&mut self, msg: impl Fn() -> Msg) {
        for slot in &mut self.txs {
            if let Some(tx) = slot
                && tx.send(msg()).is_err()
            {
                *slot = None;
            }
        }
    }
}

/// What a whole decode learned besides the arrivals.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// What its scan found.
    pub(crate) found: Option<Findings>,
    /// The totals it counted.
    pub(crate) counted: Option<TracePass>,
}

/// One engine's side of a shared decode.
pub(crate) struct FeedSource {
    rx: Receiver<Msg>,
    chunk: Arc<Vec<Arrival>>,
    /// The next arrival's index in `chunk`.
    at: usize,
    progress: Progress,
}

impl FeedSource {
    /// Advances `progress` by the packets received, a chunk at a time.
    pub(crate) fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }
}

impl Source for FeedSource {
    #[inline]
    fn next_into(&mut self, pkt: &mut PacketMeta) -> Result<Option<SimTime>, SourceError> {
        loop {
            if let Some(a) = self.chunk.get(self.at) {
                // The reader wrote these arrivals on another core, chunks ago: ask for the
                // lines of one a few ahead while this one is simulated.
                if let Some(n) = self.chunk.get(self.at + PREFETCH_AHEAD) {
                    offsim_traces::hint::prefetch_value(n);
                }
                self.at += 1;
                *pkt = a.pkt;
                return Ok(Some(a.at));
            }
            // The finished chunk is released before waiting for the next.
            self.chunk = Arc::new(Vec::new());
            self.at = 0;
            match self.rx.recv() {
                Ok(Msg::Chunk(c)) => {
                    self.progress.inc(c.len() as u64);
                    self.chunk = c;
                }
                Ok(Msg::End) => return Ok(None),
                // The reader failed, or panicked (its thread's join says so).
                Ok(Msg::Failed) | Err(_) => return Err(SourceError::ReaderStopped),
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::replay::{Retimer, Timing};
    use crate::source::{Input, Scan, TraceSource};
    use offsim_kernel::sides::SideMode;
    use offsim_traces::r#gen::{GenConfig, Profile, Stop};

    fn input(packets: u64) -> Input {
        Input::Gen(GenConfig::new(
            Profile::HomeRouter,
            7,
            Stop::Packets(packets),
        ))
    }

    fn retimer(input: &Input) -> Retimer {
        let pass = crate::source::first_pass(input).unwrap();
        Retimer::new(Timing::RatePps(1e6), &pass.totals).unwrap()
    }

    fn drain(src: &mut dyn Source) -> Vec<(u64, u128, u128, u32)> {
        let mut v = Vec::new();
        while let Some(a) = src.next_arrival().unwrap() {
            v.push((a.at.0, a.pkt.src, a.pkt.dst, a.pkt.wire_len));
        }
        v
    }

    /// Every engine of a shared decode sees what an inline source gives, loops included,
    /// across chunk boundaries (three engines, and one, which is sent larger chunks), and
    /// the scan finds what a scan of its own finds.
    #[test]
    fn shared_decode_equals_inline() {
        for (engines, packets, chunk) in [(3, 3 * CHUNK + 17, CHUNK), (1, CHUNK_ONE + 5, CHUNK_ONE)]
        {
            let inp = input(packets as u64);
            let r = retimer(&inp);
            let inline = drain(&mut TraceSource::new(
                Decoder::new(inp.clone(), r, 2).unwrap(),
            ));
            assert_eq!(inline.len(), 2 * packets);
            let dec = Decoder::new(inp.clone(), r, 2)
                .unwrap()
                .with_scan(Scan::new(&SideMode::Flow));
            let (feeder, sources) = share(dec, engines);
            assert_eq!(feeder.chunk, chunk);
            let (found, seen) = std::thread::scope(|s| {
                let f = s.spawn(move || feeder.run());
                let seen: Vec<_> = sources
                    .into_iter()
                    .map(|mut src| s.spawn(move || drain(&mut src)))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect();
                (f.join().unwrap().unwrap().found, seen)
            });
            assert_eq!(seen.len(), engines);
            for s in seen {
                assert!(s == inline);
            }
            let own = crate::source::scan(&inp, &SideMode::Flow).unwrap();
            assert_eq!(found, Some(own));
        }
    }

    /// An engine that stops listening does not stall the others.
    #[test]
    fn a_stopped_engine_is_dropped() {
        let inp = input(20 * CHUNK as u64);
        let r = retimer(&inp);
        let (feeder, mut sources) = share(Decoder::new(inp, r, 1).unwrap(), 2);
        drop(sources.pop());
        let n = std::thread::scope(|s| {
            let f = s.spawn(move || feeder.run());
            let n = drain(&mut sources[0]).len();
            f.join().unwrap().unwrap();
            n
        });
        assert_eq!(n, 20 * CHUNK);
    }

    /// A capture damaged after the first pass read it: the reader's error names the file
    /// and the record, and every engine stops.
    #[test]
    fn a_reader_error_reaches_every_engine() {
        use offsim_traces::parse::LinkType;
        use offsim_traces::pcap::PcapWriter;
        let path = std::env::temp_dir().join(format!("offsim-feed-{}.pcap", std::process::id()));
        let mut g = offsim_traces::r#gen::Generator::new(&GenConfig::new(
            Profile::HomeRouter,
            3,
            Stop::Packets(5000),
        ))
        .unwrap();
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535).unwrap();
        // The offset of record 3000's header.
        let mut at = 24;
        let mut n = 0;
        while let Some((ts, f)) = g.next_frame() {
            if n < 3000 {
                at += 16 + f.len();
            }
            n += 1;
            w.write(ts, f, f.len() as u32).unwrap();
        }
        let mut bytes = w.finish().unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let inp = Input::File(path.clone());
        let r = retimer(&inp);
        let dec = Decoder::new(inp, r, 1).unwrap();
        // An impossible captured length in record 3000.
        bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (feeder, sources) = share(dec, 2);
        let (read, ends) = std::thread::scope(|s| {
            let f = s.spawn(move || feeder.run());
            let ends: Vec<_> = sources
                .into_iter()
                .map(|mut src| {
                    s.spawn(move || {
                        let mut n = 0;
                        loop {
                            match src.next_arrival() {
                                Ok(Some(_)) => n += 1,
                                Ok(None) => return Ok(n),
                                Err(e) => return Err((n, e.to_string())),
                            }
                        }
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect();
            (f.join().unwrap(), ends)
        });
        let _ = std::fs::remove_file(&path);
        let e = read.unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains(&format!("byte offset {at}")), "{e}");
        assert!(e.contains("after 3000 packets"), "{e}");
        for end in ends {
            assert_eq!(end, Err((3000, "the trace reader stopped".to_string())));
        }
    }
}
