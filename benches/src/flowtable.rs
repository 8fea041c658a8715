//! Software flowtable benches: the fast-path decision for a packet of an established,
//! offloaded connection while the table holds 10k or 100k entries.
//!
//! The connections are set up the way the simulator sets them up: TCP handshakes go through
//! the [`Datapath`] with the home-router firewall4 ruleset (`scenarios/rulesets/home-fw4.nft`:
//! conntrack, masquerade on WAN, `flow offload @ft` in forward), so the flowtable keys carry
//! the NAT'd reply tuples. Then a fixed, shuffled batch of data packets of random connections
//! (both directions, original on the LAN device and reply on the WAN device) is looked up:
//!
//! - `flowtable/lookup_hit/N`: [`Flowtable::lookup`] alone (parse checks, key build, hash
//!   lookup, teardown/MTU/TCP-flag checks, counters);
//! - `flowtable/lookup_miss/N`: the same for packets of unknown connections;
//! - `flowtable/datapath_hit/N`: [`Datapath::process`] for the same hits (netdev ingress in
//!   priority order, the lookup, the per-connection record), which is what a core runs per
//!   fast-path packet;
//! - `flowtable/conntrack_peek/N`: [`Conntrack::peek`] of the same packets' tuples (half of
//!   them a masqueraded REPLY tuple), the lookup NAT's port search repeats per candidate port.
//!
//! Run with `cargo bench -p offsim-benches -- flowtable`.
//!
//! [`Flowtable::lookup`]: offsim_kernel::flowtable::Flowtable::lookup
//! [`Conntrack::peek`]: offsim_kernel::conntrack::Conntrack::peek

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput};
use offsim_kernel::datapath::{Datapath, DpConfig, Fate, FlowtableMode, LAN_IFINDEX, load_options};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::flowtable::{FastPath, FlowId, KernelFlavour};
use offsim_kernel::sides::Side;
use offsim_nft::Ruleset;
use offsim_traces::meta::{FlowKey, PacketMeta, tcp_flags};
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimTime;

/// Lookups per iteration.
const BATCH: usize = 4096;

/// The home-router firewall4 ruleset, loaded for `lan0` and `wan0`.
pub(crate) fn ruleset() -> Ruleset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/rulesets/home-fw4.nft");
    Ruleset::load(&path, &load_options("lan0", "wan0")).expect("home-fw4 ruleset loads")
}

/// A TCP packet of tuple `k` with the given flags, sequence numbers and payload, at `ns`.
pub(crate) fn packet(
    k: &FlowKey,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: u32,
    ns: u64,
) -> PacketMeta {
    let fmt = |a: u128, p: u16| format!("{}:{p}", std::net::Ipv4Addr::from(a as u32));
    Pkt::tcp4(&fmt(k.src, k.sport), &fmt(k.dst, k.dport))
        .flags(flags)
        .seq(seq)
        .ack(ack)
        .win(2000)
        .payload(payload)
        .at(ns)
        .build()
}

/// SplitMix64, for a reproducible shuffle.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A datapath with `n` offloaded TCP connections, and the time after setting them up.
fn established(rs: &Ruleset, n: usize) -> (Datapath, SimTime) {
    let cfg = DpConfig {
        flavour: KernelFlavour::Mid,
        flowtables: FlowtableMode::Software,
        ..DpConfig::default()
    };
    let mut dp = Datapath::new(rs.clone(), cfg, FlowBook::new(true, false, None));
    let mut ns = 1_000u64;
    for i in 0..n {
        let c = 0x0a00_0000u32 + ((i / 250) as u32) * 256 + (i % 250) as u32 + 1;
        let s = 0x5db8_0000u32 + (i % 200) as u32 * 256 + 10;
        let orig = FlowKey {
            src: u128::from(c),
            dst: u128::from(s),
            sport: 40_000 + (i % 20_000) as u16,
            dport: 443,
            proto: 6,
            version: 4,
        };
        dp.add_lan_host(4, orig.src);
        let syn = packet(&orig, tcp_flags::SYN, 1000, 0, 0, ns);
        let f = dp.process(SimTime(ns), &syn, Side::Lan).fate;
        assert!(matches!(f, Fate::Forwarded(_)), "SYN {i}: {f:?}");
        let (id, _) = dp
            .conntrack()
            .peek(SimTime(ns), &orig)
            .expect("confirmed connection");
        let reply = dp.conntrack().get(id).reply();
        ns += 100;
        let sa = packet(&reply, tcp_flags::SYN | tcp_flags::ACK, 5000, 1001, 0, ns);
        dp.process(SimTime(ns), &sa, Side::Wan);
        ns += 100;
        let a = packet(&orig, tcp_flags::ACK, 1001, 5001, 0, ns);
        dp.process(SimTime(ns), &a, Side::Lan);
        ns += 100;
    }
    assert_eq!(dp.flowtable_len(), n, "every connection offloaded");
    (dp, SimTime(ns + 1_000_000))
}

/// A shuffled batch of data packets of random offloaded connections, with their sides.
fn hits(dp: &Datapath, n: usize, now: SimTime) -> Vec<(PacketMeta, Side)> {
    (0..BATCH)
        .map(|j| {
            let r = mix(j as u64);
            let id = FlowId((r % n as u64) as u32);
            let keys = dp.flow_keys(0, id).expect("flow");
            let d = (r >> 40) as usize & 1;
            let k = keys[d];
            let side = if k.iif == LAN_IFINDEX {
                Side::Lan
            } else {
                Side::Wan
            };
            let (seq, ack, len) = if d == 0 {
                (1001, 5001, 1200)
            } else {
                (5001, 1001, 0)
            };
            let mut m = packet(&k.tuple, tcp_flags::ACK, seq, ack, len, now.0);
            m.iface = k.iif;
            (m, side)
        })
        .collect()
}

/// Registers the flowtable benches.
pub fn bench(c: &mut Criterion) {
    let rs = ruleset();
    let mut g = c.benchmark_group("flowtable");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in [10_000usize, 100_000] {
        let (mut dp, now) = established(&rs, n);
        let batch = hits(&dp, n, now);
        g.bench_function(BenchmarkId::new("lookup_hit", n), |b| {
            b.iter(|| {
                let mut k = 0u32;
                for (m, _) in &batch {
                    if let FastPath::Hit { .. } = dp.flowtable_lookup(0, now, black_box(m), m.iface)
                    {
                        k += 1;
                    }
                }
                assert_eq!(k as usize, BATCH);
                black_box(k)
            })
        });
        let misses: Vec<PacketMeta> = batch
            .iter()
            .map(|(m, _)| {
                let mut m = *m;
                m.sport ^= 0x5555;
                m.dport ^= 0x2222;
                m
            })
            .collect();
        g.bench_function(BenchmarkId::new("lookup_miss", n), |b| {
            b.iter(|| {
                let mut k = 0u32;
                for m in &misses {
                    if let FastPath::Miss = dp.flowtable_lookup(0, now, black_box(m), m.iface) {
                        k += 1;
                    }
                }
                black_box(k)
            })
        });
        let tuples: Vec<FlowKey> = batch
            .iter()
            .map(|(m, _)| m.flow_key().expect("TCP"))
            .collect();
        g.bench_function(BenchmarkId::new("conntrack_peek", n), |b| {
            b.iter(|| {
                let ct = dp.conntrack();
                let k = tuples
                    .iter()
                    .filter(|t| ct.peek(now, black_box(t)).is_some())
                    .count();
                assert_eq!(k, BATCH);
                black_box(k)
            })
        });
        g.bench_function(BenchmarkId::new("datapath_hit", n), |b| {
            b.iter(|| {
                let mut k = 0u32;
                for (m, side) in &batch {
                    let o = dp.process(now, black_box(m), *side);
                    if o.path == offsim_kernel::Path::SwFast {
                        k += 1;
                    }
                }
                assert_eq!(k as usize, BATCH);
                black_box(k)
            })
        });
    }
    g.finish();
}
