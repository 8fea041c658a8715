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

use criterion::{Criterion, Throughput};
use offsim_kernel::conntrack::{Conntrack, CtConfig};
use offsim_traces::meta::{PacketMeta, tcp_flags};
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimTime;

const BATCH: u64 = 4096;
/// Simulated time between SYNs.
const GAP_NS: u64 = 240_000;

/// The `n`th SYN of the flood: a source address and port of its own.
fn syn(template: &PacketMeta, n: u64) -> PacketMeta {
    let mut p = *template;
    let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    p.src = u128::from(0x0a00_0000 | (x >> 40) as u32);
    p.sport = 1024 + (n % 60_000) as u16;
    p.ts = SimTime(n * GAP_NS);
    p
}

/// A SYN flood's conntrack and the number of the next SYN.
struct Flood {
    ct: Conntrack,
    template: PacketMeta,
    n: u64,
}

impl Flood {
    fn new() -> Flood {
        let template = Pkt::tcp4("10.0.0.1:1024", "192.0.2.10:80")
            .flags(tcp_flags::SYN)
            .build();
        let mut f = Flood {
            ct: Conntrack::new(CtConfig::default()),
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
            self.ct.prefetch(&syn(&self.template, self.n + 1));
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
    let mut g = c.benchmark_group("conntrack");
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
