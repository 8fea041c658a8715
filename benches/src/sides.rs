//! The side split of a SYN flood (`SideSplitter`, `flow` mode): every packet a tuple never
//! seen, from a spoofed source, so its three tables (tuples, address pairs, LAN hosts) miss
//! the cache on every packet. `in_order` asks each packet's side as it comes; `prefetched`
//! first calls `prefetch` on the next packet, as the engine does when it decodes the next
//! arrival. The splitter holds about 1.2M tuples (a SYN every 100 µs against SYN_SENT's
//! 120 s horizon), as in a long flood.
//!
//! Run with `cargo bench -p offsim-benches -- sides`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use offsim_kernel::sides::{SideMode, SideSplitter};
use offsim_traces::meta::{PacketMeta, tcp_flags};
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimTime;

const BATCH: u64 = 4096;
/// Simulated time between SYNs.
const GAP_NS: u64 = 100_000;

/// The `n`th SYN of the flood: a source address and port of its own.
fn syn(template: &PacketMeta, n: u64) -> PacketMeta {
    let mut p = *template;
    let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    p.src = u128::from(0x0a00_0000 | (x >> 40) as u32);
    p.sport = 1024 + (n % 60_000) as u16;
    p
}

/// A SYN flood's splitter and the number of the next SYN.
struct Flood {
    sp: SideSplitter,
    template: PacketMeta,
    n: u64,
}

impl Flood {
    fn new() -> Flood {
        let mut template = Pkt::tcp4("10.0.0.1:1024", "192.0.2.10:80").build();
        template.tcp_flags = tcp_flags::SYN;
        let mut f = Flood {
            sp: SideSplitter::new(SideMode::Flow),
            template,
            n: 0,
        };
        // fill to the horizon: 120 s of SYNs
        for _ in 0..120_000_000_000 / GAP_NS {
            f.step(false);
        }
        f
    }

    #[inline]
    fn step(&mut self, prefetch: bool) {
        let p = syn(&self.template, self.n);
        if prefetch {
            self.sp.prefetch(&syn(&self.template, self.n + 1));
        }
        black_box(self.sp.side(&p, SimTime(self.n * GAP_NS)));
        self.n += 1;
    }
}

/// Registers the benches.
pub fn bench(c: &mut Criterion) {
    let mut flood = Flood::new();
    let mut g = c.benchmark_group("sides");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    for (name, prefetch) in [
        ("syn_flood/in_order", false),
        ("syn_flood/prefetched", true),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    flood.step(prefetch);
                }
            })
        });
    }
    g.finish();
}
