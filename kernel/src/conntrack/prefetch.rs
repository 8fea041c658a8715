//! Asking for the index lines a packet's tracking will read before the packet is handled
//! ([`Conntrack::prefetch`]), and the rule that says when that pays.

use offsim_traces::hint::{PREFETCH_WINDOW, prefetch_pays};
use offsim_traces::meta::PacketMeta;

use super::{Conntrack, ct_tuple, invert};

/// When [`Conntrack::prefetch`] asks for lines.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PrefetchRule {
    /// Entries created when the window opened.
    created_at: u64,
    on: bool,
}

impl Conntrack {
    /// Asks for the index lines tracking `m` will read: its tuple's and, for a packet that
    /// may open a connection, the inverse tuple's, which a new connection's NAT check
    /// (`nf_nat_used_tuple`) and, without NAT, its confirmation look up (under SNAT the
    /// confirmation looks up the reply tuple NAT chose, which no packet names ahead). Only
    /// while new entries are frequent (`hint::prefetch_pays`, at least one look-up in 8 of
    /// a window of 64 making an entry: on ordinary traffic a packet's lines are those of a
    /// connection seen a moment ago, already in the cache); a hint: nothing `track`
    /// answers depends on it.
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
        if m.may_open()
            && let Some(r) = invert(&k)
        {
            self.table.prefetch(&r);
        }
    }

    /// Closes the window every `PREFETCH_WINDOW` look-ups (called by `track` after
    /// counting one).
    #[inline]
    pub(super) fn close_prefetch_window(&mut self) {
        if self
            .stats
            .searched
            .is_multiple_of(u64::from(PREFETCH_WINDOW))
        {
            let r = &mut self.prefetch_rule;
            r.on = prefetch_pays(self.stats.created.saturating_sub(r.created_at));
            r.created_at = self.stats.created;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::meta::tcp_flags;
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
        for n in 0..20 * PREFETCH_WINDOW {
            step(&mut a, &mut b, &syn(n));
        }
        assert!(a.prefetch_rule.on, "a SYN flood prefetches");
        assert_eq!(a.stats.inserted, b.stats.inserted);
        let mut same = syn(7);
        for i in 0..2 * u64::from(PREFETCH_WINDOW) {
            same.ts = SimTime(10_000_000 + i);
            step(&mut a, &mut b, &same);
        }
        assert!(!a.prefetch_rule.on, "the same connection again does not");
    }
}
