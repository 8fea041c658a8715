//! # Synthetic trace generator (`offsim trace gen`)
//!
//! Generates realistic, protocol-correct Ethernet captures for users who have none. Offload
//! results depend on flow structure — how many flows, how long, how many packets each, how
//! they interleave — so the generator models flows, not packets:
//!
//! - a [`Profile`] defines host populations (addresses, MACs, OS stacks, delays to the capture
//!   point) and *sources*: Poisson, on/off or one-shot arrival processes that start flows;
//! - each flow is a small state machine (`conv` for TCP and QUIC conversations, `simple`
//!   for DNS/NTP/UDP exchanges, UDP streams, ICMP echo and traceroute) that yields its
//!   packets in time order, both directions causally consistent (see `pair`);
//! - an event heap ordered by `(time, sequence)` holds each active flow's next packet and
//!   each source's next arrival, so memory grows with the number of concurrently active
//!   flows, not with the trace length;
//! - frames are built into one reused buffer ([`frame`]): correct IPv4 header checksums and
//!   TCP/UDP/ICMP/ICMPv6 checksums, per-direction incrementing IP IDs.
//!
//! Determinism: all randomness comes from [`rng::Rng`] (xoshiro256++), one stream per source
//! derived from the seed and the source's name, one stream per flow forked from its source.
//! The same [`GenConfig`] gives byte-identical output; nothing reads a clock.
//!
//! ```
//! use offsim_traces::r#gen::{GenConfig, Generator, Profile, Stop};
//! let cfg = GenConfig::new(Profile::HomeRouter, 7, Stop::Packets(100));
//! let mut g = Generator::new(&cfg).unwrap();
//! let mut n = 0;
//! while let Some((_ts, frame)) = g.next_frame() {
//!     assert!(frame.len() >= 54);
//!     n += 1;
//! }
//! assert_eq!(n, 100);
//! ```

pub mod checksum;
mod conv;
pub mod frame;
mod pair;
mod profile;
pub mod rng;
mod simple;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use profile::Profile;

use crate::heap::{EventHeap, event_key, key_time};
use crate::parse::LinkType;
use crate::pcap::PcapWriter;
use crate::time::{SimDuration, SimTime};
use conv::{AckEvOpaque, Conv};
use profile::{Arrival, Model, NewFlow, Source};
use simple::{Echo, Scratch, Traceroute, UdpRr, UdpStream};

/// Largest packet count accepted (10¹⁰: about 6 TB of home-router traffic).
pub const MAX_PACKETS: u64 = 10_000_000_000;
/// Longest duration accepted, seconds (30 days).
pub const MAX_DURATION_SECS: f64 = 30.0 * 86_400.0;
/// Timestamp of the first possible packet: 2024-01-01T00:00:00Z in ns since the Unix epoch.
pub(crate) const DEFAULT_START_UNIX_NS: u64 = 1_704_067_200_000_000_000;

/// When generation stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After exactly this many packets.
    Packets(u64),
    /// At this simulated time after the start (flows still open are cut).
    Duration(SimDuration),
}

impl Stop {
    /// Builds the stop condition from command-line style arguments: at most one of a packet
    /// count and a duration in seconds; neither gives the profile's default duration.
    pub fn from_args(
        packets: Option<u64>,
        duration_secs: Option<f64>,
        profile: Profile,
    ) -> Result<Stop, GenError> {
        let stop = match (packets, duration_secs) {
            (Some(_), Some(_)) => return Err(GenError::BothStops),
            (Some(n), None) => Stop::Packets(n),
            (None, Some(d)) => {
                if !d.is_finite() || d <= 0.0 || d > MAX_DURATION_SECS {
                    return Err(GenError::BadDuration { secs: d });
                }
                Stop::Duration(SimDuration::from_secs_f64(d))
            }
            (None, None) => {
                Stop::Duration(SimDuration::from_secs_f64(profile.default_duration_secs()))
            }
        };
        stop.validate()?;
        Ok(stop)
    }

    fn validate(&self) -> Result<(), GenError> {
        match *self {
            Stop::Packets(0) => Err(GenError::ZeroPackets),
            Stop::Packets(n) if n > MAX_PACKETS => Err(GenError::TooManyPackets { n }),
            Stop::Duration(d) if d.0 == 0 || d.as_secs_f64() > MAX_DURATION_SECS => {
                Err(GenError::BadDuration {
                    secs: d.as_secs_f64(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Everything that determines a generated trace.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Traffic profile.
    pub profile: Profile,
    /// Seed: the same configuration gives byte-identical output.
    pub seed: u64,
    /// Stop condition.
    pub stop: Stop,
    /// Share of flows using IPv6 (0–1); `None` = the profile's default.
    pub ipv6_share: Option<f64>,
    /// Multiplies every flow-arrival rate (1 = the profile as documented).
    pub rate_scale: f64,
    /// Unix time of simulated time zero, ns.
    pub start_unix_ns: u64,
    /// The `connections` profile's load (ignored by the others, which refuse it).
    pub load: Option<ConnLoad>,
}

/// The `connections` profile's load: new connections per second and how long each is held.
/// By Little's law the connections open at once are about `cps` × (`hold_s` + the
/// handshake, request and close round trips).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnLoad {
    /// New connections per second (Poisson arrivals).
    pub cps: f64,
    /// Mean idle time of a connection between its response and its close, s (exponential;
    /// 0: closed right after the response, as a CPS benchmark's `http_simple` does).
    pub hold_s: f64,
}

impl ConnLoad {
    /// The load of the keys given (`--cps`/`--hold-s`, `trace.generate.cps`/`hold_s`), the
    /// defaults for the others; `None` when neither is given.
    pub fn from_keys(cps: Option<f64>, hold_s: Option<f64>) -> Option<ConnLoad> {
        let d = ConnLoad::default();
        (cps.is_some() || hold_s.is_some()).then(|| ConnLoad {
            cps: cps.unwrap_or(d.cps),
            hold_s: hold_s.unwrap_or(d.hold_s),
        })
    }
}

impl Default for ConnLoad {
    /// 1,000 connections per second, closed right after the response: a round starting
    /// load (the offered rate is what `replay.rate_*` and `plan` vary).
    fn default() -> Self {
        ConnLoad {
            cps: 1_000.0,
            hold_s: 0.0,
        }
    }
}

/// Highest `cps` accepted (10⁷: beyond any router's connection rate).
pub const MAX_CPS: f64 = 1e7;
/// Longest mean hold accepted, s (a day).
pub const MAX_HOLD_SECS: f64 = 86_400.0;

impl GenConfig {
    /// A configuration with the profile's defaults.
    pub fn new(profile: Profile, seed: u64, stop: Stop) -> GenConfig {
        GenConfig {
            profile,
            seed,
            stop,
            ipv6_share: None,
            rate_scale: 1.0,
            start_unix_ns: DEFAULT_START_UNIX_NS,
            load: None,
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), GenError> {
        self.stop.validate()?;
        if let Some(s) = self.ipv6_share
            && !(0.0..=1.0).contains(&s)
        {
            return Err(GenError::BadIpv6Share(s));
        }
        if !(self.rate_scale.is_finite() && self.rate_scale > 0.0 && self.rate_scale <= 1000.0) {
            return Err(GenError::BadRateScale(self.rate_scale));
        }
        if let Some(l) = self.load {
            if self.profile != Profile::Connections {
                return Err(GenError::LoadNotForProfile(self.profile.name()));
            }
            if !(l.cps.is_finite() && l.cps > 0.0 && l.cps <= MAX_CPS) {
                return Err(GenError::BadCps(l.cps));
            }
            if !(l.hold_s.is_finite() && (0.0..=MAX_HOLD_SECS).contains(&l.hold_s)) {
                return Err(GenError::BadHold(l.hold_s));
            }
        }
        Ok(())
    }
}

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// No profile of that name.
    #[error("unknown profile `{name}` (valid profiles: {valid})")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The valid names.
        valid: String,
    },
    /// A packet count of zero.
    #[error("--packets must be at least 1")]
    ZeroPackets,
    /// A packet count beyond [`MAX_PACKETS`].
    #[error("--packets {n} is too large (at most {MAX_PACKETS})")]
    TooManyPackets {
        /// The count given.
        n: u64,
    },
    /// A duration that is not a positive number of seconds up to [`MAX_DURATION_SECS`].
    #[error(
        "--duration {secs} is invalid: give seconds, more than 0 and at most {MAX_DURATION_SECS}"
    )]
    BadDuration {
        /// The value given.
        secs: f64,
    },
    /// Both a packet count and a duration.
    #[error("give either --packets or --duration, not both")]
    BothStops,
    /// An IPv6 share outside 0–1.
    #[error("IPv6 share {0} is outside 0..=1")]
    BadIpv6Share(f64),
    /// A rate scale that is not in (0, 1000].
    #[error("rate scale {0} must be in (0, 1000]")]
    BadRateScale(f64),
    /// A connection rate outside (0, [`MAX_CPS`]].
    #[error("cps {0} must be more than 0 and at most {MAX_CPS}")]
    BadCps(f64),
    /// A hold time outside [0, [`MAX_HOLD_SECS`]].
    #[error("hold_s {0} must be between 0 and {MAX_HOLD_SECS} seconds")]
    BadHold(f64),
    /// `cps`/`hold_s` given for a profile other than `connections`.
    #[error("cps and hold_s set the `connections` profile's load, not `{0}`'s")]
    LoadNotForProfile(&'static str),
    /// Writing the output failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The output (or `<stream>`).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What was generated.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GenSummary {
    /// Profile name.
    pub profile: String,
    /// Seed.
    pub seed: u64,
    /// Packets written.
    pub packets: u64,
    /// Bytes on the wire (frames without FCS).
    pub bytes: u64,
    /// IPv4 packets.
    pub ipv4_packets: u64,
    /// IPv6 packets.
    pub ipv6_packets: u64,
    /// Flows started, all protocols.
    pub flows: u64,
    /// TCP connections started.
    pub tcp_flows: u64,
    /// UDP flows started (QUIC, DNS, NTP, streams, traceroute).
    pub udp_flows: u64,
    /// ICMP/ICMPv6 echo sessions started.
    pub icmp_flows: u64,
    /// Most flows active at once.
    pub max_active_flows: u64,
    /// Timestamp of the first packet (ns since the Unix epoch).
    pub first_ts_ns: u64,
    /// Timestamp of the last packet.
    pub last_ts_ns: u64,
    /// Last minus first timestamp, ns.
    pub duration_ns: u64,
}

/// An active flow. Kept unboxed in the flow slab (slots are reused; most flows are
/// conversations, the largest variant).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Flow {
    Conv(Conv),
    Rr(UdpRr),
    Stream(UdpStream),
    Echo(Echo),
    Trace(Traceroute),
}

impl Flow {
    #[inline]
    fn poll(&mut self) -> Option<u64> {
        match self {
            Flow::Conv(f) => f.poll(),
            Flow::Rr(f) => f.poll(),
            Flow::Stream(f) => f.poll(),
            Flow::Echo(f) => f.poll(),
            Flow::Trace(f) => f.poll(),
        }
    }

    #[inline]
    fn emit(&mut self, t: u64, buf: &mut Vec<u8>, sc: &mut Scratch) {
        match self {
            Flow::Conv(f) => f.emit(t, buf),
            Flow::Rr(f) => f.emit(t, buf, sc),
            Flow::Stream(f) => f.emit(t, buf),
            Flow::Echo(f) => f.emit(t, buf),
            Flow::Trace(f) => f.emit(t, buf, sc),
        }
    }
}

const SRC_BIT: u32 = 1 << 31;
/// At most this many ACK queues are kept for reuse.
const QUEUE_POOL: usize = 4096;

/// The streaming generator: yields frames in time order without writing a file.
#[derive(Debug)]
pub struct Generator {
    stop: Stop,
    start_unix_ns: u64,
    /// Next packet of each active flow and next arrival of each source (the id), by
    /// (time, sequence).
    heap: EventHeap<u32>,
    seq: u64,
    flows: Vec<Option<Flow>>,
    free: Vec<u32>,
    sources: Vec<Source>,
    model: Model,
    buf: Vec<u8>,
    scratch: Scratch,
    queues: Vec<AckEvOpaque>,
    new_flows: Vec<NewFlow>,
    active: u64,
    summary: GenSummary,
    done: bool,
}

impl Generator {
    /// Sets up the profile's hosts and sources.
    pub fn new(cfg: &GenConfig) -> Result<Generator, GenError> {
        cfg.validate()?;
        let share = cfg
            .ipv6_share
            .unwrap_or_else(|| cfg.profile.default_ipv6_share());
        let (model, sources) = Model::new(
            cfg.profile,
            cfg.seed,
            share,
            cfg.rate_scale,
            cfg.load.unwrap_or_default(),
        );
        let mut g = Generator {
            stop: cfg.stop,
            start_unix_ns: cfg.start_unix_ns,
            heap: EventHeap::with_capacity(1024),
            seq: 0,
            flows: Vec::with_capacity(1024),
            free: Vec::new(),
            sources,
            model,
            buf: Vec::with_capacity(2048),
            scratch: Scratch {
                epoch_ns: cfg.start_unix_ns,
                ..Scratch::default()
            },
            queues: Vec::new(),
            new_flows: Vec::new(),
            active: 0,
            summary: GenSummary {
                profile: cfg.profile.name().to_string(),
                seed: cfg.seed,
                ..GenSummary::default()
            },
            done: false,
        };
        for i in 0..g.sources.len() {
            let first = {
                let s = &mut g.sources[i];
                match s.arrival {
                    Arrival::Poisson { rate } => {
                        (rate > 0.0).then(|| (s.rng.exp(1.0 / rate) * 1e9) as u64)
                    }
                    Arrival::OnOff { on, first, .. } => {
                        let t0 = (first * 1e9) as u64;
                        s.on_until = t0 + (s.rng.exp(on) * 1e9) as u64;
                        Some(t0)
                    }
                    Arrival::Once { at } => Some((at * 1e9) as u64),
                }
            };
            if let Some(t) = first {
                g.push(t, SRC_BIT | i as u32);
            }
        }
        Ok(g)
    }

    #[inline]
    fn push(&mut self, t: u64, id: u32) {
        self.seq += 1;
        self.heap.push(event_key(t, self.seq), id);
    }

    /// What has been generated so far.
    pub fn summary(&self) -> &GenSummary {
        &self.summary
    }

    fn fire(&mut self, i: usize, t: u64) {
        let next = {
            let Generator {
                sources,
                model,
                new_flows,
                ..
            } = self;
            let s = &mut sources[i];
            model.spawn(&mut s.kind, &mut s.rng, t, new_flows);
            match s.arrival {
                Arrival::Poisson { rate } => Some(t + 1 + (s.rng.exp(1.0 / rate) * 1e9) as u64),
                Arrival::OnOff { rate, on, off, .. } => {
                    let mut n = t + 1 + (s.rng.exp(1.0 / rate) * 1e9) as u64;
                    if n > s.on_until {
                        let start = s.on_until + (s.rng.exp(off) * 1e9) as u64;
                        s.on_until = start + (s.rng.exp(on) * 1e9) as u64;
                        n = start.max(t + 1);
                    }
                    Some(n)
                }
                Arrival::Once { .. } => None,
            }
        };
        if let Some(n) = next {
            self.push(n, SRC_BIT | i as u32);
        }
        let mut fl = std::mem::take(&mut self.new_flows);
        for nf in fl.drain(..) {
            self.start_flow(nf, t);
        }
        self.new_flows = fl;
    }

    fn start_flow(&mut self, nf: NewFlow, now: u64) {
        let mut flow = match nf {
            NewFlow::Conv(spec, rng) => {
                let q = self.queues.pop().unwrap_or_default();
                let c = Conv::new(*spec, rng, q);
                if c.is_quic() {
                    self.summary.udp_flows += 1;
                } else {
                    self.summary.tcp_flows += 1;
                }
                Flow::Conv(c)
            }
            NewFlow::Rr {
                pair,
                app,
                queries,
                answer_p,
                gap,
                start,
                rng,
            } => {
                self.summary.udp_flows += 1;
                Flow::Rr(UdpRr::new(pair, app, queries, answer_p, gap, start, rng))
            }
            NewFlow::Stream {
                pair,
                start,
                end,
                interval,
                size,
                poisson,
                rng,
            } => {
                self.summary.udp_flows += 1;
                Flow::Stream(UdpStream::new(
                    pair, start, end, interval, size, poisson, rng,
                ))
            }
            NewFlow::Echo {
                pair,
                count,
                interval,
                alive,
                payload,
                start,
                rng,
            } => {
                self.summary.icmp_flows += 1;
                Flow::Echo(Echo::new(pair, count, interval, alive, payload, start, rng))
            }
            NewFlow::Trace {
                pair,
                hops,
                hop_base,
                start,
                rng,
            } => {
                self.summary.udp_flows += 1;
                Flow::Trace(Traceroute::new(pair, hops, hop_base, start, rng))
            }
        };
        self.summary.flows += 1;
        let Some(t) = flow.poll() else {
            self.recycle(flow);
            return;
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.flows[s as usize] = Some(flow);
                s
            }
            None => {
                self.flows.push(Some(flow));
                (self.flows.len() - 1) as u32
            }
        };
        self.active += 1;
        self.summary.max_active_flows = self.summary.max_active_flows.max(self.active);
        self.push(t.max(now), slot);
    }

    fn recycle(&mut self, flow: Flow) {
        if let Flow::Conv(c) = flow
            && self.queues.len() < QUEUE_POOL
        {
            self.queues.push(c.into_queue());
        }
    }

    /// The next frame and its timestamp, or `None` when the stop condition is reached. The
    /// slice is valid until the next call.
    pub fn next_frame(&mut self) -> Option<(SimTime, &[u8])> {
        loop {
            if self.done {
                return None;
            }
            if let Stop::Packets(n) = self.stop
                && self.summary.packets >= n
            {
                self.done = true;
                return None;
            }
            let Some((key, id)) = self.heap.pop() else {
                self.done = true;
                return None;
            };
            let t_ev = key_time(key);
            if let Stop::Duration(d) = self.stop
                && t_ev >= d.0
            {
                self.done = true;
                return None;
            }
            if id & SRC_BIT != 0 {
                self.fire((id & !SRC_BIT) as usize, t_ev);
                continue;
            }
            let slot = id as usize;
            let Some(flow) = self.flows[slot].as_mut() else {
                continue;
            };
            flow.emit(t_ev, &mut self.buf, &mut self.scratch);
            match flow.poll() {
                Some(t) => self.push(t.max(t_ev), slot as u32),
                None => {
                    if let Some(f) = self.flows[slot].take() {
                        self.recycle(f);
                    }
                    self.free.push(slot as u32);
                    self.active -= 1;
                }
            }
            if self.buf.is_empty() {
                continue;
            }
            let ts = self.start_unix_ns + t_ev;
            let s = &mut self.summary;
            if s.packets == 0 {
                s.first_ts_ns = ts;
            }
            s.packets += 1;
            s.bytes += self.buf.len() as u64;
            if self.buf.get(12..14) == Some(&[0x86, 0xdd]) {
                s.ipv6_packets += 1;
            } else {
                s.ipv4_packets += 1;
            }
            s.last_ts_ns = ts;
            s.duration_ns = ts - s.first_ts_ns;
            return Some((SimTime(ts), &self.buf));
        }
    }
}

/// Generates a trace as nanosecond pcap (Ethernet) into `out`.
pub fn generate<W: Write>(cfg: &GenConfig, out: W) -> Result<GenSummary, GenError> {
    write_pcap(cfg, out, Path::new("<stream>"))
}

/// Generates a trace into the file at `path` (buffered).
pub fn generate_file(cfg: &GenConfig, path: &Path) -> Result<GenSummary, GenError> {
    cfg.validate()?;
    let f = File::create(path).map_err(|source| GenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    write_pcap(cfg, BufWriter::with_capacity(1 << 20, f), path)
}

fn write_pcap<W: Write>(cfg: &GenConfig, out: W, path: &Path) -> Result<GenSummary, GenError> {
    let io = |source| GenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut g = Generator::new(cfg)?;
    let mut w = PcapWriter::new(out, LinkType::Ethernet, 65535).map_err(io)?;
    while let Some((ts, frame)) = g.next_frame() {
        w.write(ts, frame, frame.len() as u32).map_err(io)?;
    }
    w.finish().map_err(io)?;
    Ok(g.summary.clone())
}

/// Convenience for tests and benches: a whole trace in memory.
pub fn generate_vec(cfg: &GenConfig) -> Result<(Vec<u8>, GenSummary), GenError> {
    let mut v = Vec::new();
    let s = generate(cfg, &mut v)?;
    Ok((v, s))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn stop_from_args() {
        let p = Profile::HomeRouter;
        assert_eq!(
            Stop::from_args(None, None, p).unwrap(),
            Stop::Duration(SimDuration::from_secs(10))
        );
        assert_eq!(Stop::from_args(Some(5), None, p).unwrap(), Stop::Packets(5));
        assert!(matches!(
            Stop::from_args(Some(0), None, p),
            Err(GenError::ZeroPackets)
        ));
        assert!(matches!(
            Stop::from_args(Some(MAX_PACKETS + 1), None, p),
            Err(GenError::TooManyPackets { .. })
        ));
        assert!(matches!(
            Stop::from_args(Some(1), Some(1.0), p),
            Err(GenError::BothStops)
        ));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(matches!(
                Stop::from_args(None, Some(bad), p),
                Err(GenError::BadDuration { .. })
            ));
        }
        assert_eq!(
            Stop::from_args(None, Some(0.25), p).unwrap(),
            Stop::Duration(SimDuration::from_millis(250))
        );
    }

    /// The `connections` load: about `cps` connections a second, each a whole TCP
    /// conversation (SYN to FIN), and by Little's law about `cps` × `hold_s` of them open at
    /// once.
    #[test]
    fn connections_load_opens_cps_connections_held_for_hold_s() {
        let secs = 10.0;
        let mut c = GenConfig::new(
            Profile::Connections,
            3,
            Stop::Duration(SimDuration::from_secs_f64(secs)),
        );
        c.load = Some(ConnLoad {
            cps: 500.0,
            hold_s: 2.0,
        });
        let (bytes, s) = generate_vec(&c).unwrap();
        // Poisson: 5,000 expected, σ ≈ 71.
        assert!((4_700..=5_300).contains(&s.tcp_flows), "{}", s.tcp_flows);
        assert_eq!(s.udp_flows + s.icmp_flows, 0);
        // Little's law: 500/s × (2 s + the exchange's round trips) ≈ 1,000+ open at once.
        assert!(
            (900..=1_400).contains(&s.max_active_flows),
            "{}",
            s.max_active_flows
        );
        // Every connection that starts early enough ends with the client's FIN.
        let mut r = crate::pcap::TraceReader::new(&bytes[..], "mem").unwrap();
        let (mut syns, mut fins) = (0u64, 0u64);
        while let Some(rec) = r.next_record().unwrap() {
            let m = crate::parse::parse_frame(rec.link, rec.data, rec.orig_len, rec.ts, 0);
            let f = m.tcp_flags;
            syns += u64::from(
                f & crate::meta::tcp_flags::SYN != 0 && f & crate::meta::tcp_flags::ACK == 0,
            );
            fins += u64::from(f & crate::meta::tcp_flags::FIN != 0);
        }
        assert_eq!(syns, s.tcp_flows);
        // Two FINs per closed connection; those started in the last seconds are still open.
        assert!(fins >= 2 * (s.tcp_flows - 1_500), "{fins}");
        // Without a hold, connections close right after the response: few open at once.
        c.load = Some(ConnLoad {
            cps: 500.0,
            hold_s: 0.0,
        });
        let (_, s0) = generate_vec(&c).unwrap();
        assert!(s0.max_active_flows < 100, "{}", s0.max_active_flows);
    }

    #[test]
    fn connections_load_is_checked_and_only_for_its_profile() {
        let mut c = GenConfig::new(Profile::Connections, 1, Stop::Packets(1));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e7] {
            c.load = ConnLoad::from_keys(Some(bad), None);
            assert!(matches!(c.validate(), Err(GenError::BadCps(_))), "{bad}");
        }
        for bad in [-1.0, f64::NAN, 1e6] {
            c.load = ConnLoad::from_keys(None, Some(bad));
            assert!(matches!(c.validate(), Err(GenError::BadHold(_))), "{bad}");
        }
        c.load = ConnLoad::from_keys(None, Some(0.5));
        assert_eq!(c.load.unwrap().cps, ConnLoad::default().cps);
        assert!(c.validate().is_ok());
        c.profile = Profile::HomeRouter;
        assert!(matches!(
            c.validate(),
            Err(GenError::LoadNotForProfile("home-router"))
        ));
        assert!(ConnLoad::from_keys(None, None).is_none());
    }

    #[test]
    fn config_validation() {
        let mut c = GenConfig::new(Profile::Imix, 1, Stop::Packets(1));
        c.ipv6_share = Some(1.5);
        assert!(matches!(c.validate(), Err(GenError::BadIpv6Share(_))));
        c.ipv6_share = None;
        c.rate_scale = 0.0;
        assert!(matches!(c.validate(), Err(GenError::BadRateScale(_))));
    }

    #[test]
    fn packet_stop_is_exact_and_time_ordered() {
        for p in Profile::ALL {
            let cfg = GenConfig::new(p, 3, Stop::Packets(3000));
            let mut g = Generator::new(&cfg).unwrap();
            let mut last = 0;
            let mut n = 0;
            while let Some((ts, _)) = g.next_frame() {
                assert!(ts.0 >= last, "{p}: time went backwards");
                last = ts.0;
                n += 1;
            }
            assert_eq!(n, 3000, "{p}");
            assert_eq!(g.summary().packets, 3000);
        }
    }

    #[test]
    fn duration_stop() {
        let cfg = GenConfig::new(
            Profile::HomeRouter,
            3,
            Stop::Duration(SimDuration::from_millis(1500)),
        );
        let mut g = Generator::new(&cfg).unwrap();
        while let Some((ts, _)) = g.next_frame() {
            assert!(ts.0 < DEFAULT_START_UNIX_NS + 1_500_000_000);
        }
        assert!(g.summary().packets > 0);
    }
}
