//! The side split of a SYN flood (`SideSplitter`, `flow` mode): every packet a tuple never
//! seen, from a spoofed source, so its three tables (tuples, address pairs, LAN hosts) miss
//! the cache on every packet. `in_order` asks each packet's side as it comes; `prefetched`
//! first calls `prefetch` on the next packet, as the engine does when it decodes the next
//! arrival. The splitter holds about 1.2M tuples (a SYN every 100 µs against SYN_SENT's
//! 120 s horizon), as in a long flood.
//!
//! Run with `cargo bench -p offsim-benches -- sides`.

use std::hint::black_box;

use criterion::Criterion;
use offsim_kernel::sides::{SideMode, SideSplitter};

use crate::flood::{Syns, in_order_and_prefetched};

/// Simulated time between SYNs.
const GAP_NS: u64 = 100_000;

/// A SYN flood's splitter and the number of the next SYN.
struct Flood {
    sp: SideSplitter,
    syns: Syns,
    n: u64,
}

impl Flood {
    fn new() -> Flood {
        let mut f = Flood {
            sp: SideSplitter::new(SideMode::Flow),
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
            self.sp.prefetch(&self.syns.nth(self.n + 1));
        }
        black_box(self.sp.side(&p, p.ts));
        self.n += 1;
    }
}

/// Registers the benches.
pub fn bench(c: &mut Criterion) {
    let mut flood = Flood::new();
    in_order_and_prefetched(c, "sides", |prefetch| flood.step(prefetch));
}
