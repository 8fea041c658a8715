//! Conntrack on a SYN flood: every packet opens a connection never seen, so the look-up of
//! its tuple misses the index (a random line of an index of about a million nodes), and so
//! do the insertions of its two tuples when it is confirmed. `in_order` tracks and confirms
//! each SYN as it comes; `prefetched` first calls `Conntrack::prefetch` on the next one, as
//! `rules eval` does when it decodes one packet ahead. The table holds about 500k entries
//! (a SYN every 240 µs against SYN_SENT's 120 s), kept there by the garbage collector's
//! walk, as the datapath's timers run it. No NAT runs here: masquerade's port search and
//! the clash check of a confirmation behind it are `nat/syn_exhausted`'s.
//!
//! Run with `cargo bench -p offsim-benches -- conntrack`.

use std::hint::black_box;

use criterion::Criterion;
use offsim_kernel::conntrack::{Conntrack, CtConfig};

use crate::flood::{Syns, in_order_and_prefetched};

/// Simulated time between SYNs.
const GAP_NS: u64 = 240_000;

/// A SYN flood's conntrack and the number of the next SYN.
struct Flood {
    ct: Conntrack,
    syns: Syns,
    n: u64,
}

impl Flood {
    fn new() -> Flood {
        let mut f = Flood {
            ct: Conntrack::new(CtConfig::default()),
            syns: Syns::new(GAP_NS),
            n: 0,
        };
        // fill to the horizon: 120 s of SYNs
        for _ in 0..f.syns.within(120_000_000_000) {
            f.step(false);
        }
        f
    }

    #[inline]
    fn step(&mut self, prefetch: bool) {
        let p = self.syns.nth(self.n);
        if prefetch {
            self.ct.prefetch(&self.syns.nth(self.n + 1));
        }
        let t = self.ct.track(p.ts, &p);
        black_box(self.ct.finish(p.ts, &t, true));
        // the collector's walk, a few entries a packet, reaps those past SYN_SENT's 120 s
        self.ct.gc(p.ts, 4);
        self.n += 1;
    }
}

/// Registers the benches.
pub fn bench(c: &mut Criterion) {
    let mut flood = Flood::new();
    in_order_and_prefetched(c, "conntrack", |prefetch| flood.step(prefetch));
}
