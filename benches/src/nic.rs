//! NIC model benches: hardware flow-table lookups and churn at 90 % occupancy, and the full
//! per-packet `Nic::rx` path.
//!
//! Tables are filled to 90 % of their usable entries with direct insertion (lookups on a
//! full lazy table are benched too; their misses may create unbound entries, as the hardware
//! does). Lookups use a fixed, shuffled mix of 50 % present and 50 % absent keys. Run with
//! `cargo bench -p offsim-benches -- nic`.

use criterion::{Criterion, Throughput};
use offsim_nicmodel::{
    BindOutcome, EncapId, FlowTable, HwAction, HwKey, Lookup, Nic, NicConfig, Op, Verdict,
};
use offsim_traces::meta::{NetKind, flags, proto, tcp_flags};
use offsim_traces::{FlowKey, PacketMeta, SimTime};
use std::hint::black_box;

/// SplitMix64, for reproducible keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn random_key(r: &mut Rng) -> HwKey {
    let a = r.next();
    let b = r.next();
    HwKey::new(
        FlowKey {
            src: u128::from(0x0a00_0000 | (a as u32 & 0x00ff_ffff)),
            dst: u128::from((a >> 32) as u32),
            sport: b as u16,
            dport: (b >> 16) as u16,
            proto: if b >> 63 == 0 { proto::TCP } else { proto::UDP },
            version: 4,
        },
        (b >> 32) as u32 & 3,
        [EncapId::NONE; 2],
    )
}

fn config(preset: &str, overrides: &str) -> NicConfig {
    let mut c = NicConfig::preset(preset).expect("preset");
    c.apply_overrides(&toml::from_str(overrides).expect("toml"))
        .expect("overrides");
    c
}

const ACT: HwAction = HwAction {
    out_iface: 1,
    mtu: 0,
};

/// A table filled to 90 % of its usable entries, the keys it holds, and absent keys.
fn filled(cfg: &NicConfig, lazy: bool) -> (FlowTable, Vec<HwKey>, Vec<HwKey>) {
    let mut tab = FlowTable::new(cfg).expect("table");
    let target = u64::from(tab.usable_capacity()) * 9 / 10;
    let mut r = Rng(42);
    let mut present = Vec::new();
    let mut cookie = 0u64;
    let mut attempts = 0u64;
    while tab.occupancy() < target && attempts < 20 * target {
        attempts += 1;
        let k = random_key(&mut r);
        cookie += 1;
        if lazy {
            if tab.insert(SimTime::ZERO, cookie, &k, ACT).is_err() {
                continue;
            }
            if let Lookup::BindCheck { slot } = tab.lookup(SimTime::ZERO, &k, 64)
                && matches!(
                    tab.bind_check(SimTime::ZERO, slot),
                    BindOutcome::Bound { .. }
                )
            {
                present.push(k);
            } else {
                let _ = tab.remove(SimTime::ZERO, cookie);
            }
        } else if tab.insert(SimTime::ZERO, cookie, &k, ACT).is_ok() {
            present.push(k);
        }
    }
    let absent = (0..present.len()).map(|_| random_key(&mut r)).collect();
    (tab, present, absent)
}

/// 4096 lookup keys, half present, half absent, shuffled.
fn mix(present: &[HwKey], absent: &[HwKey]) -> Vec<HwKey> {
    let mut r = Rng(7);
    let mut v: Vec<HwKey> = (0..4096)
        .map(|i| {
            let j = r.next() as usize;
            if i % 2 == 0 {
                present[j % present.len()]
            } else {
                absent[j % absent.len()]
            }
        })
        .collect();
    for i in (1..v.len()).rev() {
        let j = r.next() as usize % (i + 1);
        v.swap(i, j);
    }
    v
}

fn packets(keys: &[HwKey]) -> Vec<PacketMeta> {
    keys.iter()
        .map(|k| PacketMeta {
            wire_len: 128,
            cap_len: 128,
            iface: k.iif,
            net: NetKind::Ipv4,
            ip_version: 4,
            l3_offset: 14,
            ip_len: 114,
            ttl: 64,
            src: k.src,
            dst: k.dst,
            sport: k.sport,
            dport: k.dport,
            l4proto: k.proto,
            tcp_flags: tcp_flags::ACK,
            flags: flags::L4_PRESENT,
            ..PacketMeta::default()
        })
        .collect()
}

/// A NIC whose table holds `present` (inserted through its pipeline; lazy tables are bound
/// through one packet and one bind check per key, which needs `bind_rate_pps = 1`).
fn loaded_nic(cfg: NicConfig, present: &[HwKey], lazy: bool) -> Nic {
    let mut nic = Nic::new(cfg).expect("nic");
    for (i, k) in present.iter().enumerate() {
        let _ = nic.submit(
            SimTime::ZERO,
            Op::Insert {
                cookie: i as u64,
                key: *k,
                action: ACT,
            },
        );
    }
    let mut ev = Vec::new();
    let done = nic.next_event_time().map_or(0, |_| 500_000_000_000u64);
    nic.poll(SimTime(done), &mut ev);
    if lazy {
        let pk = packets(present);
        for (i, p) in pk.iter().enumerate() {
            let t = SimTime(done + 1 + i as u64);
            if let Verdict::Cpu {
                bind_check: Some(bc),
                ..
            } = nic.rx(t, p).verdict
            {
                nic.bind_check(t, bc);
            }
        }
    }
    nic
}

/// Registers the NIC benches.
pub fn bench(c: &mut Criterion) {
    let tables: [(&str, NicConfig, bool); 5] = [
        (
            "mt7621_2way_direct",
            config("mt7621", "binding.mode = \"direct\""),
            false,
        ),
        (
            "mt7621_lazy",
            config("mt7621", "binding.bind_rate_pps = 1"),
            true,
        ),
        (
            "mt7986_4way_direct",
            config("mt7986", "binding.mode = \"direct\""),
            false,
        ),
        ("smartnic_cuckoo_256k", config("smartnic", ""), false),
        (
            "connectx6dx_assoc_1m",
            config("connectx6dx", "table.capacity = 1048576"),
            false,
        ),
    ];
    let mut g = c.benchmark_group("nic/table_lookup");
    for (name, cfg, lazy) in &tables {
        let (mut tab, present, absent) = filled(cfg, *lazy);
        let keys = mix(&present, &absent);
        g.throughput(Throughput::Elements(keys.len() as u64));
        let mut now = 1_000_000u64;
        g.bench_function(*name, |b| {
            b.iter(|| {
                now += 1_000;
                let t = SimTime(now);
                let mut hits = 0u32;
                for k in &keys {
                    hits += matches!(tab.lookup(t, black_box(k), 64), Lookup::Hit { .. }) as u32;
                }
                black_box(hits)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("nic/table_insert_remove");
    for (name, cfg, lazy) in &tables {
        if *lazy {
            continue;
        }
        let (mut tab, _, _) = filled(cfg, false);
        let mut r = Rng(99);
        let fresh: Vec<HwKey> = (0..1024).map(|_| random_key(&mut r)).collect();
        g.throughput(Throughput::Elements(fresh.len() as u64));
        // Insert then remove 1024 fresh keys into the 90 % table (refusals included); the
        // table is back to its starting occupancy after every iteration.
        let mut now = 1u64;
        g.bench_function(*name, |b| {
            b.iter(|| {
                now += 2;
                for (i, k) in fresh.iter().enumerate() {
                    let cookie = 1 << 40 | i as u64;
                    let _ = black_box(tab.insert(SimTime(now), cookie, k, ACT));
                    let _ = black_box(tab.remove(SimTime(now + 1), cookie));
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("nic/rx");
    for (name, cfg, lazy) in &tables {
        let (_, present, absent) = filled(cfg, *lazy);
        let pkts = packets(&mix(&present, &absent));
        let mut cfg = cfg.clone();
        cfg.pipeline.queue_depth = 1 << 22;
        let nic = loaded_nic(cfg, &present, *lazy);
        let mut nic = nic;
        let mut now = 1_000_000_000_000u64;
        g.throughput(Throughput::Elements(pkts.len() as u64));
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut hw = 0u32;
                for p in &pkts {
                    now += 100;
                    let r = nic.rx(SimTime(now), black_box(p));
                    hw += matches!(r.verdict, Verdict::Hardware { .. }) as u32;
                }
                black_box(hw)
            })
        });
    }
    g.finish();
}
