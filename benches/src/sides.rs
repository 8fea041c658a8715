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
use offsim_traces::meta::PacketMeta;

use crate::flood::{Flood, FloodTable, in_order_and_prefetched};

impl FloodTable for SideSplitter {
    fn prefetch(&self, p: &PacketMeta) {
        SideSplitter::prefetch(self, p);
    }

    fn take(&mut self, p: &PacketMeta) {
        black_box(self.side(p, p.ts));
    }
}

/// Registers the benches.
pub fn bench(c: &mut Criterion) {
    let sp = SideSplitter::new(SideMode::Flow);
    let mut flood = Flood::filled(sp, 100_000, 120_000_000_000);
    in_order_and_prefetched(c, "sides", &mut flood);
}
