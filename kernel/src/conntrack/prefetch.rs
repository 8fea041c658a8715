//! Asking for the index lines a packet's tracking will read before the packet is handled
//! ([`Conntrack::prefetch`]), and the rule that says when that pays.

use offsim_traces::meta::{PacketMeta, proto, tcp_flags};

use super::{Conntrack, ct_tuple, invert};

/// Look-ups per window of the rule: lines are asked for while at least one look-up in 8
/// of the last window made a new entry. On ordinary traffic the lines a packet reads are
/// those of a connection seen a moment ago, already in the cache; on a SYN flood every
/// packet's look-up misses, and so do its NAT check and the insertions at its
/// confirmation, each a random line of an index of millions of nodes.
const WINDOW: u64 = 64;

/// When [`Conntrack::prefetch`] asks for lines.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PrefetchRule {
    /// Entries created when the window opened.
    created_at: u64,
    on: bool,
}

impl Conntrack {
    /// Asks for the index lines tracking `m` will read: its tuple's and, for a packet that
    /// may open a connection (not a TCP segment without SYN), the inverse tuple's, which a
    /// new connection's NAT check (`nf_nat_used_tuple`) and confirmation look up. Only
    /// while new entries are frequent; a hint: nothing `track` answers depends on it.
    #[inline(always)]
    pub fn prefetch(&self, m: &PacketMeta) {
        if self.prefetch_rule.on {
            self.prefetch_lines(m);
        }
    }

    /// [`Conntrack::prefetch`]'s work, out of line: most traffic never asks for it.
    #[inline(never)]
    fn prefetch_lines(&self, m: &PacketMeta) {
        let Some(k) = ct_tuple(m) else {
            return;
        };
        self.table.prefetch(&k);
        let opens = m.l4proto != proto::TCP || m.tcp_flags & tcp_flags::SYN != 0;
        if opens && let Some(r) = invert(&k) {
            self.table.prefetch(&r);
        }
    }

    /// Closes the window every [`WINDOW`] look-ups (called by `track` after counting one).
    #[inline]
    pub(super) fn close_prefetch_window(&mut self) {
        if self.stats.searched.is_multiple_of(WINDOW) {
            let r = &mut self.prefetch_rule;
            r.on = self.stats.created - r.created_at >= WINDOW / 8;
            r.created_at = self.stats.created;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::testkit::Pkt;
    use offsim_traces::time::SimTime;

    use crate::conntrack::{CtConfig, Track};

    fn syn(n: u32) -> PacketMeta {
        let client = format!(
            "10.{}.{}.{}:{}",
            n >> 16 & 255,
            n >> 8 & 255,
            n & 255,
            1024 + n % 50_000
        );
        Pkt::tcp4(&client, "192.0.2.10:80")
            .flags(tcp_flags::SYN)
            .at(u64::from(n) * 1000)
            .build()
    }

    /// Tracks and confirms `m` as a router that accepts everything would.
    fn pass(ct: &mut Conntrack, m: &PacketMeta) -> Track {
        let t = ct.track(m.ts, m);
        ct.finish(m.ts, &t, true);
        t
    }

    /// A flood of new connections turns prefetching on within a window; the same
    /// connection over and over turns it off. And a table that prefetches before every
    /// packet answers as one that never does, through growth of its index.
    #[test]
    fn prefetching_follows_the_share_of_new_entries() {
        let mut a = Conntrack::new(CtConfig::default());
        let mut b = Conntrack::new(CtConfig::default());
        let step = |a: &mut Conntrack, b: &mut Conntrack, m: &PacketMeta| {
            a.prefetch(m);
            let (ta, tb) = (pass(a, m), pass(b, m));
            assert_eq!(format!("{ta:?}"), format!("{tb:?}"));
        };
        for n in 0..20 * WINDOW as u32 {
            step(&mut a, &mut b, &syn(n));
        }
        assert!(a.prefetch_rule.on, "a SYN flood prefetches");
        assert_eq!(a.stats.inserted, b.stats.inserted);
        let mut same = syn(7);
        for i in 0..2 * WINDOW {
            same.ts = SimTime(10_000_000 + i);
            step(&mut a, &mut b, &same);
        }
        assert!(!a.prefetch_rule.on, "the same connection again does not");
    }
}
