//! What the SYN-flood benches share (`sides`, `conntrack`): the flood's packets, and the
//! pair of benches that take them in order and with the next one's lines asked for first.

use criterion::{Criterion, Throughput};
use offsim_traces::meta::{PacketMeta, tcp_flags};
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimTime;

/// SYNs per iteration.
const BATCH: u64 = 4096;

/// A SYN flood towards one server, a SYN every `gap_ns`.
pub(crate) struct Syns {
    template: PacketMeta,
    gap_ns: u64,
}

impl Syns {
    pub(crate) fn new(gap_ns: u64) -> Syns {
        let template = Pkt::tcp4("10.0.0.1:1024", "192.0.2.10:80")
            .flags(tcp_flags::SYN)
            .build();
        Syns { template, gap_ns }
    }

    /// The `n`th SYN: a source address and port of its own, at its time.
    pub(crate) fn nth(&self, n: u64) -> PacketMeta {
        let mut p = self.template;
        let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        p.src = u128::from(0x0a00_0000 | (x >> 40) as u32);
        p.sport = 1024 + (n % 60_000) as u16;
        p.ts = SimTime(n * self.gap_ns);
        p
    }

    /// SYNs in `horizon_ns` of the flood: how many fill a table that forgets them then.
    pub(crate) fn within(&self, horizon_ns: u64) -> u64 {
        horizon_ns / self.gap_ns
    }
}

/// Registers `GROUP/syn_flood/in_order` and `GROUP/syn_flood/prefetched`: [`BATCH`] steps a
/// iteration of `step(prefetch)`, which handles the flood's next SYN, first asking for the
/// lines of the one after when `prefetch`.
pub(crate) fn in_order_and_prefetched(c: &mut Criterion, group: &str, mut step: impl FnMut(bool)) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    for (name, prefetch) in [
        ("syn_flood/in_order", false),
        ("syn_flood/prefetched", true),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    step(prefetch);
                }
            })
        });
    }
    g.finish();
}
