//! Replay timing: trace timestamps as recorded, scaled by a speed-up factor, or retimed to a
//! target offered rate (packets/s or bits/s on the wire) keeping every flow's order and the
//! interleaving of flows; optional loops with fresh tuples so long runs do not only hit warm
//! tables.
//!
//! `speedup` scales every inter-arrival gap by the same factor, so bursts stay bursts; a
//! target rate paces packets evenly (like `tcpreplay --pps`/`--mbps`), so the offered load
//! is the target at every instant. Both keep the order of packets. Loop `k` (0-based) shifts
//! all times by `k` × the loop period and maps every address through a bijection that keeps it in the same
//! /8 (IPv4: bits 16–23 are XOR-ed; IPv6: bits 64–79), so both directions of a flow stay
//! consistent, no address becomes a martian, and flows of different loops never collide.

use offsim_traces::meta::PacketMeta;
use offsim_traces::time::{NS_PER_SEC, SimTime};

/// How arrival times are produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timing {
    /// As recorded.
    Recorded,
    /// Recorded gaps divided by this factor (2.0 = twice as fast).
    Speedup(f64),
    /// Retimed to this many packets per second.
    RatePps(f64),
    /// Retimed to this many bits per second on the wire (frame + preamble + IFG + FCS).
    RateBps(f64),
}

/// What the retimer needs to know about the trace (from a first pass).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TraceTotals {
    /// Packets.
    pub packets: u64,
    /// Sum of on-wire bits (frame + 24 bytes of preamble, IFG and FCS overhead).
    pub wire_bits: u64,
    /// First timestamp.
    pub first: SimTime,
    /// Last timestamp.
    pub last: SimTime,
}

/// Ethernet overhead per frame not in a capture: preamble + SFD (8) + inter-frame gap (12) +
/// FCS (4), in bytes.
pub(crate) const WIRE_OVERHEAD_BYTES: u64 = 24;

impl TraceTotals {
    /// Adds one packet.
    pub fn add(&mut self, m: &PacketMeta) {
        self.add_header(m.ts, m.wire_len);
    }

    /// Adds one packet known by its record header: time and length on the wire.
    pub fn add_header(&mut self, ts: SimTime, wire_len: u32) {
        if self.packets == 0 || ts < self.first {
            self.first = ts;
        }
        if ts > self.last {
            self.last = ts;
        }
        self.packets += 1;
        self.wire_bits += (u64::from(wire_len) + WIRE_OVERHEAD_BYTES) * 8;
    }

    /// Adds the totals of another part of the trace.
    pub(crate) fn merge(&mut self, o: &TraceTotals) {
        if o.packets == 0 {
            return;
        }
        if self.packets == 0 || o.first < self.first {
            self.first = o.first;
        }
        self.last = self.last.max(o.last);
        self.packets += o.packets;
        self.wire_bits += o.wire_bits;
    }

    /// Span of the recorded trace in ns (at least 1).
    pub fn span_ns(&self) -> u64 {
        (self.last.0 - self.first.0).max(1)
    }
}

/// Maps recorded timestamps to simulated arrival times.
///
/// `Recorded` and `Speedup` scale every recorded gap (bursts stay bursts). `RatePps` and
/// `RateBps` pace packets like `tcpreplay --pps` / `--mbps`: each packet starts when the
/// previous one has used its share of the target rate, so the offered rate is the target at
/// every instant and never exceeds it in a burst, while the order of packets (and so the
/// interleaving of flows) is the recorded one.
#[derive(Clone, Copy, Debug)]
pub struct Retimer {
    first: u64,
    mode: Mode,
    loop_period: u64,
    /// Pacing cursor: wire bits (or packets) sent in the current loop before this packet.
    cursor: u64,
    cursor_loop: u32,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Gap multiplier as a rational num/den (exact integer arithmetic).
    Scaled { num: u128, den: u128 },
    /// `per_sec / RATE_SCALE` units per second: packets (pps) or wire bits (bps); scaled so
    /// a fractional rate (0.5 pps) is kept, not rounded.
    Paced { per_sec: u128, bits: bool },
}

/// Errors in replay settings.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ReplayError {
    /// A rate or factor that is zero, negative or not finite.
    #[error("replay.{field} must be a positive finite number, got {value}")]
    NotPositive {
        /// Field.
        field: &'static str,
        /// Value.
        value: f64,
    },
    /// A rate or factor too small to simulate.
    #[error("replay.{field} = {value} is too small (at least {min})")]
    TooSmall {
        /// Field.
        field: &'static str,
        /// Value.
        value: f64,
        /// Smallest accepted value.
        min: f64,
    },
    /// The replay would last longer than offsim simulates.
    #[error(
        "the replay would last {secs:.0} s of simulated time; at most {max:.0} s (30 days) \
         are simulated: raise the rate or speedup, or fewer loops"
    )]
    TooLong {
        /// Its length, s.
        secs: f64,
        /// The limit, s.
        max: f64,
    },
    /// A rate or factor beyond what can be simulated.
    #[error("replay.{field} = {value} is absurd (at most {max})")]
    TooLarge {
        /// Field.
        field: &'static str,
        /// Value.
        value: f64,
        /// Largest accepted value.
        max: f64,
    },
}

/// Resolution of paced rates: millionths of a packet or bit per second.
const RATE_SCALE: f64 = 1e6;

/// Longest replay offsim simulates, ns (30 days): a slower rate or speedup makes simulated
/// time, and the timers in it, explode.
pub const MAX_REPLAY_NS: u64 = 30 * 86_400 * NS_PER_SEC;

fn positive(field: &'static str, v: f64, min: f64, max: f64) -> Result<f64, ReplayError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(ReplayError::NotPositive { field, value: v });
    }
    if v < min {
        return Err(ReplayError::TooSmall {
            field,
            value: v,
            min,
        });
    }
    if v > max {
        return Err(ReplayError::TooLarge {
            field,
            value: v,
            max,
        });
    }
    Ok(v)
}

impl Retimer {
    /// A retimer for `timing` over a trace with `totals`.
    pub fn new(timing: Timing, totals: &TraceTotals) -> Result<Retimer, ReplayError> {
        let span = totals.span_ns();
        let (mode, period) = match timing {
            Timing::Recorded => (Mode::Scaled { num: 1, den: 1 }, u128::from(span)),
            Timing::Speedup(s) => {
                let s = positive("speedup", s, 1e-6, 1e9)?;
                let (num, den) = (1_000_000_000u128, (s * 1e9).round().max(1.0) as u128);
                (Mode::Scaled { num, den }, u128::from(span) * num / den)
            }
            Timing::RatePps(r) => {
                let r = positive("rate_pps", r, 1e-3, 1e10)?;
                let per_sec = (r * RATE_SCALE).round().max(1.0) as u128;
                let period =
                    u128::from(totals.packets) * u128::from(NS_PER_SEC) * (RATE_SCALE as u128)
                        / per_sec;
                (
                    Mode::Paced {
                        per_sec,
                        bits: false,
                    },
                    period,
                )
            }
            Timing::RateBps(b) => {
                // rate_gbps up to 10 Tbit/s.
                let b = positive("rate_gbps", b / 1e9, 1e-9, 1e4)? * 1e9;
                let per_sec = (b * RATE_SCALE).round().max(1.0) as u128;
                let period =
                    u128::from(totals.wire_bits) * u128::from(NS_PER_SEC) * (RATE_SCALE as u128)
                        / per_sec;
                (
                    Mode::Paced {
                        per_sec,
                        bits: true,
                    },
                    period,
                )
            }
        };
        if period > u128::from(MAX_REPLAY_NS) {
            return Err(ReplayError::TooLong {
                secs: period as f64 / 1e9,
                max: MAX_REPLAY_NS as f64 / 1e9,
            });
        }
        let period = period as u64;
        let mean_gap = period / totals.packets.max(1);
        Ok(Retimer {
            first: totals.first.0,
            mode,
            loop_period: match mode {
                // The next loop starts one mean gap after the last packet.
                Mode::Scaled { .. } => period + mean_gap.max(1),
                // The paced period already includes the last packet's share.
                Mode::Paced { .. } => period.max(1),
            },
            cursor: 0,
            cursor_loop: 0,
        })
    }

    /// Simulated arrival time of the next packet: recorded at `ts`, `wire_len` bytes
    /// captured, in loop `k`. Call once per packet, in trace order. Times start at 0.
    #[inline]
    pub fn arrival(&mut self, ts: SimTime, wire_len: u32, k: u32) -> SimTime {
        if k != self.cursor_loop {
            self.cursor_loop = k;
            self.cursor = 0;
        }
        let base = match self.mode {
            Mode::Scaled { num, den } => {
                (u128::from(ts.0.saturating_sub(self.first)) * num / den) as u64
            }
            Mode::Paced { per_sec, bits } => {
                let at = (u128::from(self.cursor) * u128::from(NS_PER_SEC) * (RATE_SCALE as u128)
                    / per_sec) as u64;
                self.cursor += if bits {
                    (u64::from(wire_len) + WIRE_OVERHEAD_BYTES) * 8
                } else {
                    1
                };
                at
            }
        };
        SimTime(base + u64::from(k) * self.loop_period)
    }

    /// Duration of one loop in simulated time.
    pub fn loop_period(&self) -> u64 {
        self.loop_period
    }
}

/// The most intervals a run's time series holds. Series cost memory per interval (the engine's
/// counters, the report's arrays, the chart's points), so a replay much longer than its
/// interval would have memory follow the trace's length (a 30-minute capture at 100 ms: 18,000
/// points per series and run); 2,000 points is more than a chart's width in pixels.
pub(crate) const MAX_SERIES_POINTS: u64 = 2_000;

/// The time-series interval of a replay lasting `duration_ns`: `configured`, or when that
/// would make more than [`MAX_SERIES_POINTS`] intervals, the smallest 1-2-5 multiple of it
/// (×2, ×5, ×10, ×20, …) that does not.
pub(crate) fn series_interval_ns(configured: u64, duration_ns: u64) -> u64 {
    let configured = configured.max(1);
    let need = duration_ns.div_ceil(MAX_SERIES_POINTS);
    let mut decade = 1u64;
    loop {
        for step in [1, 2, 5] {
            let k = decade.saturating_mul(step);
            if configured.saturating_mul(k) >= need {
                return configured.saturating_mul(k);
            }
        }
        decade = decade.saturating_mul(10);
    }
}

/// Maps a packet's addresses for loop `k` (see the module docs). Loop 0 is the identity.
#[inline]
pub(crate) fn fresh_tuples(m: &mut PacketMeta, k: u32) {
    if k == 0 {
        return;
    }
    let x = u128::from(k & 0xff);
    if m.ip_version == 4 {
        let mask = x << 16;
        m.src ^= mask;
        m.dst ^= mask;
        m.inner.key.src ^= mask;
        m.inner.key.dst ^= mask;
    } else if m.ip_version == 6 {
        let mask = u128::from(k & 0xffff) << 64;
        m.src ^= mask;
        m.dst ^= mask;
        m.inner.key.src ^= mask;
        m.inner.key.dst ^= mask;
    }
}

/// Seconds to nanoseconds, for settings.
pub(crate) fn secs_to_ns(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * NS_PER_SEC as f64).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn series_intervals_widen_in_1_2_5_steps_to_at_most_max_points() {
        let ms = 1_000_000;
        // Short replays keep the configured interval.
        assert_eq!(series_interval_ns(100 * ms, 20 * NS_PER_SEC), 100 * ms);
        assert_eq!(series_interval_ns(100 * ms, 200 * NS_PER_SEC), 100 * ms);
        // 200.1 s at 100 ms would be 2,001 points: 200 ms.
        assert_eq!(series_interval_ns(100 * ms, 200_100 * ms), 200 * ms);
        // A 30-minute replay: 1793 s / 2,000 = 897 ms, so 1 s (×10).
        assert_eq!(series_interval_ns(100 * ms, 1793 * NS_PER_SEC), 1000 * ms);
        assert_eq!(series_interval_ns(100 * ms, 700 * NS_PER_SEC), 500 * ms);
        for d in [1, 999, 123_456_789_000, u64::MAX / 4] {
            let i = series_interval_ns(100 * ms, d);
            assert!(d.div_ceil(i) <= MAX_SERIES_POINTS, "{d} {i}");
        }
        // A zero interval cannot divide by zero.
        assert!(series_interval_ns(0, 10) >= 1);
    }
    use offsim_traces::testkit::Pkt;

    fn totals(n: u64, span: u64, frame: u32) -> TraceTotals {
        TraceTotals {
            packets: n,
            wire_bits: n * (u64::from(frame) + WIRE_OVERHEAD_BYTES) * 8,
            first: SimTime(1_000),
            last: SimTime(1_000 + span),
        }
    }

    #[test]
    fn recorded_and_speedup() {
        let t = totals(11, 10 * NS_PER_SEC, 100);
        let mut r = Retimer::new(Timing::Recorded, &t).unwrap();
        assert_eq!(
            r.arrival(SimTime(1_000 + 5 * NS_PER_SEC), 100, 0),
            SimTime(5 * NS_PER_SEC)
        );
        let mut r = Retimer::new(Timing::Speedup(2.0), &t).unwrap();
        assert_eq!(
            r.arrival(SimTime(1_000 + 5 * NS_PER_SEC), 100, 0),
            SimTime(5 * NS_PER_SEC / 2)
        );
        assert!(Retimer::new(Timing::Speedup(0.0), &t).is_err());
        assert!(Retimer::new(Timing::RatePps(f64::NAN), &t).is_err());
        assert!(Retimer::new(Timing::RateBps(1e20), &t).is_err());
    }

    #[test]
    fn rates_pace_packets_evenly() {
        // Timestamps do not matter when pacing: packet i starts at i / rate.
        let t = totals(1001, 10 * NS_PER_SEC, 1000);
        let mut r = Retimer::new(Timing::RatePps(1000.0), &t).unwrap();
        let times: Vec<SimTime> = (0..3).map(|_| r.arrival(SimTime(1_000), 1000, 0)).collect();
        assert_eq!(
            times,
            vec![SimTime(0), SimTime(1_000_000), SimTime(2_000_000)]
        );
        assert_eq!(r.loop_period(), 1_001_000_000);
        // Bits: a 1000-byte frame is (1000 + 24) * 8 = 8192 bits on the wire.
        let mut r = Retimer::new(Timing::RateBps(8192.0 * 1000.0), &t).unwrap();
        assert_eq!(r.arrival(SimTime(5), 1000, 0), SimTime(0));
        assert_eq!(r.arrival(SimTime(5), 1000, 0), SimTime(1_000_000));
        // A small frame takes less of the rate: 124 * 8 bits at 8.192 Mbit/s = 121,093.75 ns.
        assert_eq!(r.arrival(SimTime(5), 100, 0), SimTime(2_000_000));
        assert_eq!(r.arrival(SimTime(5), 1000, 0), SimTime(2_000_000 + 121_093));
        // Loops follow each other and restart the cursor.
        let second = r.arrival(SimTime(1_000), 1000, 1);
        assert_eq!(second, SimTime(r.loop_period()));
    }

    #[test]
    fn equal_timestamps_are_fine_when_pacing() {
        let t = totals(5, 0, 100);
        let mut r = Retimer::new(Timing::RateBps(1e9), &t).unwrap();
        let a = r.arrival(SimTime(1_000), 100, 0);
        let b = r.arrival(SimTime(1_000), 100, 0);
        assert!(b > a);
    }

    #[test]
    fn fresh_tuples_are_consistent_and_not_martian() {
        let a = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let b = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        let (mut a1, mut b1) = (a, b);
        fresh_tuples(&mut a1, 3);
        fresh_tuples(&mut b1, 3);
        assert_eq!(a1.src, b1.dst);
        assert_ne!(a1.src, a.src);
        assert_eq!(a1.src >> 24, a.src >> 24, "first octet kept");
        let mut a0 = a;
        fresh_tuples(&mut a0, 0);
        assert_eq!(a0, a);
    }
}
