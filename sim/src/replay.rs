//! Replay timing: trace timestamps as recorded, scaled by a speed-up factor, or retimed to a
//! target offered rate (packets/s or bits/s on the wire) keeping every flow's order and the
//! interleaving of flows; optional loops with fresh tuples so long runs do not only hit warm
//! tables.
//!
//! Retiming scales every inter-arrival gap by the same factor, so bursts stay bursts and the
//! order of packets is unchanged. Loop `k` (0-based) shifts all times by `k` × the trace span
//! (plus one mean gap) and maps every address through a bijection that keeps it in the same
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
pub const WIRE_OVERHEAD_BYTES: u64 = 24;

impl TraceTotals {
    /// Adds one packet.
    pub fn add(&mut self, m: &PacketMeta) {
        if self.packets == 0 || m.ts < self.first {
            self.first = m.ts;
        }
        if m.ts > self.last {
            self.last = m.ts;
        }
        self.packets += 1;
        self.wire_bits += (u64::from(m.wire_len) + WIRE_OVERHEAD_BYTES) * 8;
    }

    /// Span of the recorded trace in ns (at least 1).
    pub fn span_ns(&self) -> u64 {
        (self.last.0 - self.first.0).max(1)
    }
}

/// Maps recorded timestamps to simulated arrival times.
#[derive(Clone, Copy, Debug)]
pub struct Retimer {
    first: u64,
    /// Arrival-time gap multiplier as a rational num/den (exact integer arithmetic).
    num: u128,
    den: u128,
    loop_period: u64,
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
    /// A trace with a single timestamp cannot be retimed to a rate.
    #[error(
        "the trace has no duration (all packets share one timestamp): use replay.rate_pps, not speedup"
    )]
    NoDuration,
}

impl Retimer {
    /// A retimer for `timing` over a trace with `totals`.
    pub fn new(timing: Timing, totals: &TraceTotals) -> Result<Retimer, ReplayError> {
        let span = totals.span_ns();
        // factor = new_gap / old_gap, as a rational with 1e9 precision.
        let (num, den): (u128, u128) = match timing {
            Timing::Recorded => (1, 1),
            Timing::Speedup(s) => {
                if !(s.is_finite() && s > 0.0) {
                    return Err(ReplayError::NotPositive {
                        field: "speedup",
                        value: s,
                    });
                }
                (1_000_000_000, (s * 1e9).round().max(1.0) as u128)
            }
            Timing::RatePps(r) => {
                if !(r.is_finite() && r > 0.0) {
                    return Err(ReplayError::NotPositive {
                        field: "rate_pps",
                        value: r,
                    });
                }
                // New span = (packets - 1) / rate; if the trace has no span, spread evenly.
                let target_span = (totals.packets.saturating_sub(1)) as f64 / r * 1e9;
                if totals.last == totals.first {
                    return Ok(Retimer {
                        first: totals.first.0,
                        num: 0,
                        den: 1,
                        loop_period: (target_span + 1e9 / r) as u64,
                    }
                    .even(r));
                }
                ((target_span.round() as u128).max(1), u128::from(span))
            }
            Timing::RateBps(b) => {
                if !(b.is_finite() && b > 0.0) {
                    return Err(ReplayError::NotPositive {
                        field: "rate_gbps",
                        value: b,
                    });
                }
                if totals.last == totals.first {
                    return Err(ReplayError::NoDuration);
                }
                let target_span = totals.wire_bits as f64 / b * 1e9;
                ((target_span.round() as u128).max(1), u128::from(span))
            }
        };
        let scaled_span = (u128::from(span) * num / den) as u64;
        let mean_gap = scaled_span / totals.packets.max(1);
        Ok(Retimer {
            first: totals.first.0,
            num,
            den,
            loop_period: scaled_span + mean_gap.max(1),
        })
    }

    fn even(mut self, pps: f64) -> Retimer {
        // Sentinel: num = 0 means "all timestamps equal"; arrival = index / pps is applied by
        // the caller through `at_index`.
        self.den = (1e9 / pps).round().max(1.0) as u128;
        self
    }

    /// Simulated arrival time of a packet recorded at `ts`, in loop `k`, being the `index`-th
    /// packet of the trace. Times start at 0.
    #[inline]
    pub fn arrival(&self, ts: SimTime, index: u64, k: u32) -> SimTime {
        let base = if self.num == 0 {
            u128::from(index) * self.den
        } else {
            u128::from(ts.0.saturating_sub(self.first)) * self.num / self.den
        };
        SimTime(base as u64 + u64::from(k) * self.loop_period)
    }

    /// Duration of one loop in simulated time.
    pub fn loop_period(&self) -> u64 {
        self.loop_period
    }
}

/// Maps a packet's addresses for loop `k` (see the module docs). Loop 0 is the identity.
#[inline]
pub fn fresh_tuples(m: &mut PacketMeta, k: u32) {
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
pub fn secs_to_ns(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * NS_PER_SEC as f64).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod test {
    use super::*;
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
        let r = Retimer::new(Timing::Recorded, &t).unwrap();
        assert_eq!(
            r.arrival(SimTime(1_000 + 5 * NS_PER_SEC), 5, 0),
            SimTime(5 * NS_PER_SEC)
        );
        let r = Retimer::new(Timing::Speedup(2.0), &t).unwrap();
        assert_eq!(
            r.arrival(SimTime(1_000 + 5 * NS_PER_SEC), 5, 0),
            SimTime(5 * NS_PER_SEC / 2)
        );
        assert!(Retimer::new(Timing::Speedup(0.0), &t).is_err());
        assert!(Retimer::new(Timing::RatePps(f64::NAN), &t).is_err());
    }

    #[test]
    fn retime_to_rate_keeps_order() {
        // 1001 packets over 10 s = 100 pps; retime to 1000 pps: 1 s span.
        let t = totals(1001, 10 * NS_PER_SEC, 1000);
        let r = Retimer::new(Timing::RatePps(1000.0), &t).unwrap();
        assert_eq!(
            r.arrival(SimTime(1_000 + 10 * NS_PER_SEC), 1000, 0),
            SimTime(NS_PER_SEC)
        );
        // Gbps: 1001 frames of 1024 bits on the wire... (1000 + 24) * 8 = 8192 bits each.
        let r = Retimer::new(Timing::RateBps(8192.0 * 1001.0), &t).unwrap();
        assert_eq!(
            r.arrival(SimTime(1_000 + 10 * NS_PER_SEC), 1000, 0),
            SimTime(NS_PER_SEC)
        );
        // Loops follow each other.
        let second = r.arrival(SimTime(1_000), 0, 1);
        assert!(second > SimTime(NS_PER_SEC));
    }

    #[test]
    fn equal_timestamps_are_spread_at_the_rate() {
        let t = totals(5, 0, 100);
        let r = Retimer::new(Timing::RatePps(1000.0), &t).unwrap();
        assert_eq!(r.arrival(SimTime(1_000), 3, 0), SimTime(3_000_000));
        assert_eq!(
            Retimer::new(Timing::RateBps(1e9), &t).unwrap_err(),
            ReplayError::NoDuration
        );
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
