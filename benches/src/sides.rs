//! The side split (`SideSplitter`, `flow` mode) that `run` passes every arrival through, on a
//! flood of new tuples from spoofed sources: each packet a new tuple, address pair and LAN
//! host, so each of its three table look-ups lands on a line nobody touched recently.
//! `in-order` splits the packets one after the other; `prefetched` asks for the next
//! packet's lines first, as the engine does when it decodes the next arrival
//! (`SideSplitter::prefetch`).
//!
//! Run with `cargo bench -p offsim-benches -- sides`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput};
use offsim_kernel::sides::{SideMode, SideSplitter};
use offsim_traces::meta::PacketMeta;
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimTime;

/// Packets per iteration: a table of this many tuples is well past the caches.
const FLOOD: u32 = 400_000;

fn flood() -> Vec<PacketMeta> {
    let mut x = 0x9e37_79b9_u32;
    (0..FLOOD)
        .map(|i| {
            // xorshift: scattered sources, as a spoofed flood's
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let src = std::net::Ipv4Addr::from(x | 1);
            Pkt::tcp4(&format!("{src}:{}", 1024 + i % 60000), "198.51.100.7:443")
                .flags(offsim_traces::meta::tcp_flags::SYN)
                .build()
        })
        .collect()
}

/// Registers the bench.
pub fn bench(c: &mut Criterion) {
    let pkts = flood();
    let mut g = c.benchmark_group("sides");
    g.throughput(Throughput::Elements(u64::from(FLOOD)));
    g.sample_size(10);
    let fresh = || SideSplitter::new(SideMode::Flow).remembering_all();
    g.bench_function("in-order", |b| {
        b.iter_batched(
            fresh,
            |mut s| {
                for p in &pkts {
                    black_box(s.side_of(p, SimTime(0)));
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("prefetched", |b| {
        b.iter_batched(
            fresh,
            |mut s| {
                for (i, p) in pkts.iter().enumerate() {
                    if let Some(n) = pkts.get(i + 1) {
                        s.prefetch(n);
                    }
                    black_box(s.side_of(p, SimTime(0)));
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}
