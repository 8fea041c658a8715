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
use offsim_traces::meta::PacketMeta;

use crate::flood::{Flood, FloodTable, in_order_and_prefetched};

impl FloodTable for Conntrack {
    fn prefetch(&self, p: &PacketMeta) {
        Conntrack::prefetch(self, p);
    }

    fn take(&mut self, p: &PacketMeta) {
        let t = self.track(p.ts, p);
        black_box(self.finish(p.ts, &t, true));
        // the collector's walk, a few entries a packet, reaps those past SYN_SENT's 120 s
        self.gc(p.ts, 4);
    }
}

/// Registers the benches.
pub fn bench(c: &mut Criterion) {
    let ct = Conntrack::new(CtConfig::default());
    let mut flood = Flood::filled(ct, 240_000, 120_000_000_000);
    in_order_and_prefetched(c, "conntrack", &mut flood);
}
