//! The capture-twice detector ([`DupFinder`]) that `rules eval` and `run` pass every packet
//! of a capture through (for the warning about captures on two interfaces): a batch of
//! distinct packets, none a copy, against a full window — the common case.
//!
//! Run with `cargo bench -p offsim-benches -- dups`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use offsim_kernel::dups::{DupFinder, WINDOW};
use offsim_traces::meta::PacketMeta;
use offsim_traces::testkit::Pkt;

const BATCH: usize = 4096;

fn packets() -> Vec<PacketMeta> {
    (0..BATCH as u32)
        .map(|i| {
            let mut p = Pkt::tcp4(
                &format!("192.168.{}.{}:{}", i % 4, i % 250 + 1, 1024 + i % 60000),
                &format!("198.51.100.{}:443", i % 200),
            )
            .build();
            p.ip_id = i;
            p.tcp_seq = i.wrapping_mul(2_654_435_761);
            p
        })
        .collect()
}

/// Registers the bench.
pub fn bench(c: &mut Criterion) {
    let pkts = packets();
    let mut d = DupFinder::new();
    // a full window first, as in a capture of more than WINDOW packets
    for (i, p) in pkts.iter().cycle().take(WINDOW).enumerate() {
        let mut q = *p;
        q.ttl = 1 + (i % 200) as u8;
        d.check(&q);
    }
    let mut g = c.benchmark_group("dups");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut round = 0u32;
    g.bench_function("check", |b| {
        b.iter(|| {
            round = round.wrapping_add(1);
            for p in &pkts {
                let mut q = *p;
                q.ip_id ^= round << 16;
                black_box(d.check(&q));
            }
        })
    });
    g.finish();
}
