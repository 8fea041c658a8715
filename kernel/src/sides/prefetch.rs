//! Asking for the lines the side split will read for a packet before it arrives
//! ([`SideSplitter::prefetch`]), while the rule of `offsim_traces::hint::prefetch_pays`
//! says it pays.

use offsim_traces::hint::{PREFETCH_WINDOW, prefetch_pays};
use offsim_traces::meta::PacketMeta;

use super::{SideSplitter, orient, orient_pair, packet_keys};

impl SideSplitter {
    /// Asks for the cache lines [`SideSplitter::side_of`] will read for `m`, a packet that
    /// arrives soon (the engine calls it when it decodes the next arrival, one ahead): its
    /// tuple's entry and, for a packet that may open a connection (not a TCP segment
    /// without SYN), its address pair's and its source's. On a SYN flood each of the three
    /// is a cache miss (a fifth to a third of a `run`), which the prefetch overlaps with
    /// the work before the packet's arrival. Only in `flow` mode, and only while new tuples
    /// are frequent; a hint: what `side_of` answers does not depend on it.
    #[inline(always)]
    pub fn prefetch(&self, m: &PacketMeta) {
        if self.prefetching {
            self.prefetch_lines(m);
        }
    }

    /// Whether [`SideSplitter::prefetch`] asks for lines: the last window's arrivals were
    /// new tuples often enough (a flood of new connections).
    #[inline(always)]
    pub fn prefetching(&self) -> bool {
        self.prefetching
    }

    /// [`SideSplitter::prefetch`]'s work, out of line: most traffic never asks for it.
    #[inline(never)]
    fn prefetch_lines(&self, m: &PacketMeta) {
        if !m.is_ip() {
            return;
        }
        let (k, rk) = packet_keys(m);
        self.seen.prefetch(&orient(&k, &rk).0);
        if m.may_open() {
            let (lo, hi, _, _) = orient_pair(m.src, m.dst);
            self.pairs.prefetch(m.ip_version, lo, hi);
            self.lan_hosts.prefetch(m.ip_version, m.src);
        }
    }

    /// Closes the window every [`PREFETCH_WINDOW`] arrivals (`flow` mode; after each
    /// arrival, IP or not): prefetching is on for the next window if enough of this one's
    /// arrivals were new tuples.
    #[inline]
    pub(super) fn close_window(&mut self) {
        if self.arrivals.is_multiple_of(PREFETCH_WINDOW) {
            self.prefetching = prefetch_pays(u64::from(self.window_new));
            self.window_new = 0;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::sides::{Side, SideMode};
    use offsim_traces::meta::{NetKind, tcp_flags};
    use offsim_traces::testkit::Pkt;
    use offsim_traces::time::SimTime;

    fn syn(n: u32) -> PacketMeta {
        let mut p = Pkt::tcp4(
            &format!(
                "10.{}.{}.{}:{}",
                n >> 16 & 255,
                n >> 8 & 255,
                n & 255,
                1024 + n % 50_000
            ),
            "192.0.2.10:80",
        )
        .build();
        p.tcp_flags = tcp_flags::SYN;
        p
    }

    /// A flood of new tuples turns prefetching on within a window; the same few tuples
    /// over and over turn it off; non-IP arrivals count in the window like any other. And
    /// the sides given are those of a splitter that never prefetches.
    #[test]
    fn prefetching_follows_the_share_of_new_tuples() {
        let mut a = SideSplitter::new(SideMode::Flow);
        let mut b = SideSplitter::new(SideMode::Flow);
        let mut n = 0u32;
        let mut step = |a: &mut SideSplitter, b: &mut SideSplitter, p: &PacketMeta| {
            n += 1;
            a.prefetch(p);
            let t = SimTime(u64::from(n) * 1000);
            let (sa, sb) = (a.side_of(p, t), b.side_of(p, t));
            assert_eq!(sa, sb);
            sa.0
        };
        for i in 0..2 * PREFETCH_WINDOW {
            assert_eq!(step(&mut a, &mut b, &syn(i)), Side::Lan);
        }
        assert!(a.prefetching, "a SYN flood prefetches");
        for _ in 0..2 * PREFETCH_WINDOW {
            step(&mut a, &mut b, &syn(3));
        }
        assert!(!a.prefetching, "the same tuple again does not");
        // every other arrival non-IP, half of the rest new: on again, windows still close
        let arp = PacketMeta {
            net: NetKind::NonIp(0x0806),
            ..PacketMeta::default()
        };
        for i in 0..4 * PREFETCH_WINDOW {
            let p = if i % 2 == 0 { arp } else { syn(10_000 + i) };
            step(&mut a, &mut b, &p);
        }
        assert!(a.prefetching);
        assert!(a.window_new < PREFETCH_WINDOW);
    }
}
