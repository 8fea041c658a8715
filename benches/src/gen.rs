//! Benchmarks of the synthetic trace generator (`offsim trace gen`): whole traces per
//! profile written to a sink (frame building, checksums, flow state machines, event heap,
//! pcap records), and the PRNG and checksum primitives.

use std::hint::black_box;
use std::io;

use criterion::{BenchmarkId, Criterion, Throughput};
use offsim_traces::r#gen::checksum::{fold, sum_words};
use offsim_traces::r#gen::rng::Rng;
use offsim_traces::r#gen::{GenConfig, Profile, Stop, generate};

/// Packets per generated trace in the per-profile benchmark.
const PACKETS: u64 = 100_000;

/// Registers the generator benchmarks.
pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gen/trace");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PACKETS));
    for p in Profile::ALL {
        g.bench_with_input(BenchmarkId::from_parameter(p.name()), &p, |b, &p| {
            let cfg = GenConfig::new(p, 1, Stop::Packets(PACKETS));
            b.iter(|| generate(black_box(&cfg), io::sink()).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("gen/primitives");
    g.throughput(Throughput::Elements(1));
    g.bench_function("xoshiro256pp_next_u64", |b| {
        let mut r = Rng::seed_from_u64(1);
        b.iter(|| black_box(r.next_u64()))
    });
    g.bench_function("lognormal", |b| {
        let mut r = Rng::seed_from_u64(1);
        b.iter(|| black_box(r.lognormal(1.0, 0.5)))
    });
    let frame = vec![0x5au8; 1514];
    g.throughput(Throughput::Bytes(1514));
    g.bench_function("checksum_1514B", |b| {
        b.iter(|| black_box(fold(sum_words(black_box(&frame), 0))))
    });
    g.finish();
}
