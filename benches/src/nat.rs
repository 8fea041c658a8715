//! NAT benches: masquerade's port search when a flood has used every port towards a server.
//!
//! A [`Datapath`] with the home-router firewall4 ruleset (masquerade on WAN) takes SYNs from
//! LAN clients, all from source port 40000 to one server's port 443: the first keeps its
//! port, the others search (`nf_nat_l4proto_unique_tuple`) until the ports of 1024–65535
//! towards that server are taken (the search tries 248 of them, so the last few free ones
//! take thousands of SYNs to find: the flood goes on until [`SETTLED`] SYNs in a row were
//! dropped). Then a batch of SYNs from new clients is processed: each runs the whole search
//! (128 + 64 + 32 + 16 + 8 candidates, all used), ends on a used tuple and is dropped when it
//! clashes at confirm, so the table does not change between iterations:
//!
//! - `nat/syn_exhausted`: [`Datapath::process`] of such a SYN, which is what `rules eval`
//!   and `run` pay per SYN of a flood behind masquerade.
//!
//! Run with `cargo bench -p offsim-benches -- nat`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use offsim_kernel::datapath::{Datapath, DpConfig, Fate};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::sides::Side;
use offsim_traces::meta::{FlowKey, PacketMeta, tcp_flags};
use offsim_traces::time::SimTime;

use crate::flowtable::{packet, ruleset};

/// SYNs per iteration.
const BATCH: usize = 1024;

/// SYNs dropped in a row after which the flood has taken every port (a free port is among a
/// SYN's 248 candidates with probability 248 / 64,512: one left would survive this many
/// with probability (1 − 248/64,512)^20,000 ≈ 3.5·10⁻³⁴).
const SETTLED: u32 = 20_000;

/// A SYN from LAN client number `i` (10.0.0.0/8 counted up) to the server, at `ns`.
fn syn(i: u32, ns: u64) -> PacketMeta {
    let k = FlowKey {
        src: u128::from(0x0a00_0000u32 + i + 1),
        dst: u128::from(0x5db8_000au32),
        sport: 40_000,
        dport: 443,
        proto: 6,
        version: 4,
    };
    packet(&k, tcp_flags::SYN, 1000, 0, 0, ns)
}

/// Registers the NAT benches.
pub fn bench(c: &mut Criterion) {
    let rs = ruleset();
    let mut dp = Datapath::new(rs, DpConfig::default(), FlowBook::new(true, false, None));
    let mut ns = 1_000u64;
    let (mut i, mut in_a_row) = (0u32, 0u32);
    while in_a_row < SETTLED {
        let m = syn(i, ns);
        dp.add_lan_host(4, m.src);
        match dp.process(SimTime(ns), &m, Side::Lan).fate {
            Fate::Dropped(_) => in_a_row += 1,
            _ => in_a_row = 0,
        }
        i += 1;
        ns += 1_000;
        assert!(i < 1_000_000, "the flood does not take every port");
    }
    let now = SimTime(ns);
    let batch: Vec<PacketMeta> = (i..i + BATCH as u32)
        .map(|i| {
            let m = syn(i, now.0);
            dp.add_lan_host(4, m.src);
            m
        })
        .collect();
    let mut g = c.benchmark_group("nat");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("syn_exhausted", |b| {
        b.iter(|| {
            let mut dropped = 0u32;
            for m in &batch {
                if let Fate::Dropped(_) = dp.process(now, black_box(m), Side::Lan).fate {
                    dropped += 1;
                }
            }
            assert_eq!(dropped as usize, BATCH, "every port is taken");
            black_box(dropped)
        })
    });
    g.finish();
}
