//! What the SYN-flood benches share (`sides`, `conntrack`): the flood's packets, a table
//! filled with them to its horizon, and the pair of benches that feed it the next ones in
//! order and with the following one's lines asked for first.

use criterion::{Criterion, Throughput};
use offsim_traces::meta::{PacketMeta, tcp_flags};
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimTime;

/// SYNs per iteration.
const BATCH: u64 = 4096;

/// A SYN flood towards one server, a SYN every `gap_ns`.
struct Syns {
    template: PacketMeta,
    gap_ns: u64,
}

impl Syns {
    fn new(gap_ns: u64) -> Syns {
        let template = Pkt::tcp4("10.0.0.1:1024", "192.0.2.10:80")
            .flags(tcp_flags::SYN)
            .build();
        Syns { template, gap_ns }
    }

    /// The `n`th SYN: a source address and port of its own, at its time.
    fn nth(&self, n: u64) -> PacketMeta {
        let mut p = self.template;
        let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        p.src = u128::from(0x0a00_0000 | (x >> 40) as u32);
        p.sport = 1024 + (n % 60_000) as u16;
        p.ts = SimTime(n * self.gap_ns);
        p
    }
}

/// A table a SYN flood is fed to.
pub(crate) trait FloodTable {
    /// Asks for the lines taking `p` will read.
    fn prefetch(&self, p: &PacketMeta);
    /// Takes `p`, the flood's next SYN.
    fn take(&mut self, p: &PacketMeta);
}

/// A table fed a SYN flood, and the number of the next SYN.
pub(crate) struct Flood<T> {
    table: T,
    syns: Syns,
    n: u64,
}

impl<T: FloodTable> Flood<T> {
    /// `table` fed a SYN every `gap_ns` for `horizon_ns` (the time it remembers a SYN).
    pub(crate) fn filled(table: T, gap_ns: u64, horizon_ns: u64) -> Flood<T> {
        let syns = Syns::new(gap_ns);
        let mut f = Flood { table, syns, n: 0 };
        for _ in 0..horizon_ns / gap_ns {
            f.step(false);
        }
        f
    }

    /// Feeds the next SYN, first asking for the lines of the one after when `prefetch`.
    #[inline]
    pub(crate) fn step(&mut self, prefetch: bool) {
        let p = self.syns.nth(self.n);
        if prefetch {
            self.table.prefetch(&self.syns.nth(self.n + 1));
        }
        self.table.take(&p);
        self.n += 1;
    }
}

/// Registers `GROUP/syn_flood/in_order` and `GROUP/syn_flood/prefetched`: [`BATCH`] of
/// `flood`'s next SYNs an iteration, without and with [`Flood::step`]'s prefetch.
pub(crate) fn in_order_and_prefetched<T: FloodTable>(
    c: &mut Criterion,
    group: &str,
    flood: &mut Flood<T>,
) {
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
                    flood.step(prefetch);
                }
            })
        });
    }
    g.finish();
}
