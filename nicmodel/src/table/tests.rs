use super::*;
use crate::error::{InsertError, UnsupportedReason};
use crate::key::EncapId;
use offsim_traces::FlowKey;
use offsim_traces::meta::proto;

fn cfg(name: &str) -> NicConfig {
    NicConfig::preset(name).unwrap()
}

fn over(mut c: NicConfig, s: &str) -> NicConfig {
    c.apply_overrides(&toml::from_str(s).unwrap()).unwrap();
    c
}

fn key(i: u32) -> HwKey {
    HwKey::new(
        FlowKey {
            src: u128::from(0x0a00_0000 | (i >> 8)),
            dst: u128::from(0xc0a8_0001u32),
            sport: 1024 + (i & 0xff) as u16 * 97,
            dport: 443,
            proto: proto::TCP,
            version: 4,
        },
        1,
        [EncapId::NONE; 2],
    )
}

fn udp(i: u32) -> HwKey {
    let mut k = key(i);
    k.proto = proto::UDP;
    k
}

const A: HwAction = HwAction {
    out_iface: 2,
    mtu: 0,
};

fn t(ms: u64) -> SimTime {
    SimTime(ms * 1_000_000)
}

#[test]
fn mt7621_reserves_448_entries_at_the_driver_indices() {
    let tab = FlowTable::new(&cfg("mt7621")).unwrap();
    assert_eq!(tab.capacity(), 8192);
    assert_eq!(tab.reserved(), 448);
    let reserved: Vec<u32> = (0..8192)
        .filter(|&i| tab.slot_state(i) == Some(SlotState::Reserved))
        .collect();
    assert_eq!(reserved.len(), 448);
    assert_eq!(&reserved[..7], &[12, 25, 38, 51, 76, 89, 102]);
    assert_eq!(&reserved[7..14], &[140, 153, 166, 179, 204, 217, 230]);
    assert_eq!(tab.slot_state(8192 - 128 + 102), Some(SlotState::Reserved));
    assert_eq!(tab.slot_state(13), Some(SlotState::Free));
}

#[test]
fn mtk_bucket_matches_the_hand_computed_hash() {
    // The vector of hash::test: bucket base 3024 on MT7621.
    let tab = FlowTable::new(&cfg("mt7621")).unwrap();
    let k = HwKey::new(
        FlowKey {
            src: 0xC0A8_0102,
            dst: 0x0A00_0001,
            sport: 1234,
            dport: 80,
            proto: proto::TCP,
            version: 4,
        },
        7,
        [EncapId::vlan(5), EncapId::NONE],
    );
    assert_eq!(tab.bucket_base(&k), Some(3024));
}

/// Keys that fall in one bucket of `tab`.
fn colliding(tab: &FlowTable, n: usize) -> Vec<HwKey> {
    let target = tab.bucket_base(&key(0)).unwrap();
    let mut out = vec![key(0)];
    let mut i = 1;
    while out.len() < n {
        if tab.bucket_base(&key(i)) == Some(target) {
            out.push(key(i));
        }
        i += 1;
    }
    out
}

#[test]
fn direct_two_way_bucket_refuses_the_third_colliding_flow() {
    let c = over(
        cfg("mt7621"),
        "binding.mode = \"direct\"\ntable.capacity = 64\ntable.reserved_period = 0\ntable.reserved_indices = []",
    );
    let mut tab = FlowTable::new(&c).unwrap();
    let ks = colliding(&tab, 3);
    assert!(tab.insert(t(0), 1, &ks[0], A).unwrap().bound);
    assert!(tab.insert(t(0), 2, &ks[1], A).unwrap().bound);
    assert_eq!(tab.insert(t(0), 3, &ks[2], A), Err(InsertError::BucketFull));
    assert_eq!(tab.stats.refused_bucket_full, 1);
    assert_eq!(tab.bound(), 2);
    assert!(matches!(tab.lookup(t(1), &ks[0], 100), Lookup::Hit { .. }));
    assert_eq!(tab.lookup(t(1), &ks[2], 100), Lookup::Miss);
    // Freeing one way makes room again.
    tab.remove(t(2), 1).unwrap();
    assert!(tab.insert(t(2), 3, &ks[2], A).is_ok());
}

#[test]
fn fully_associative_refuses_less_than_two_way_on_the_same_flows() {
    let hashed = over(
        cfg("mt7621"),
        "binding.mode = \"direct\"\ntable.capacity = 1024\ntable.reserved_period = 0\ntable.reserved_indices = []",
    );
    let fa = over(cfg("connectx6dx"), "table.capacity = 1024");
    let mut h = FlowTable::new(&hashed).unwrap();
    let mut f = FlowTable::new(&fa).unwrap();
    let n = 900; // 88 % of capacity
    let (mut rh, mut rf) = (0, 0);
    for i in 0..n {
        let k = udp(i * 7919);
        rh += h.insert(t(0), u64::from(i), &k, A).is_err() as u32;
        rf += f.insert(t(0), u64::from(i), &k, A).is_err() as u32;
    }
    assert_eq!(
        rf, 0,
        "a fully associative table below capacity refuses nothing"
    );
    assert!(
        rh > 50,
        "a 2-way table at 88% load must see collisions, got {rh}"
    );
    assert_eq!(h.bound() + u64::from(rh), u64::from(n));
    // Past capacity the fully associative table refuses with TableFull.
    for i in n..1100 {
        let _ = f.insert(t(0), u64::from(i), &udp(i * 7919), A);
    }
    assert_eq!(f.bound(), 1024);
    assert_eq!(f.stats.refused_table_full, 1100 - 1024);
}

#[test]
fn cuckoo_kicks_place_what_a_plain_bucket_refuses() {
    let plain = over(
        cfg("smartnic"),
        "table.layout = \"hashed\"\ntable.capacity = 1024\ntable.ways = 4",
    );
    let cuckoo = over(cfg("smartnic"), "table.capacity = 1024");
    let mut p = FlowTable::new(&plain).unwrap();
    let mut c = FlowTable::new(&cuckoo).unwrap();
    let (mut rp, mut rc) = (0, 0);
    for i in 0..980u32 {
        let k = udp(i * 104_729);
        rp += p.insert(t(0), u64::from(i), &k, A).is_err() as u32;
        rc += c.insert(t(0), u64::from(i), &k, A).is_err() as u32;
    }
    assert!(rc < rp, "cuckoo refused {rc}, plain 4-way {rp}");
    assert!(c.stats.cuckoo_kicks > 0);
    // Every placed cookie is still found where its flow says it is.
    for i in 0..980u32 {
        let k = udp(i * 104_729);
        if let Some(v) = c.flow_view(u64::from(i)) {
            let s = v.slot.expect("direct entries are bound");
            assert!(matches!(c.lookup(t(1), &k, 1), Lookup::Hit { slot, .. } if slot == s));
        }
    }
}

#[test]
fn cuckoo_failure_is_undone() {
    // Tiny table, no room: a failed walk must leave every entry where lookups find it.
    let c = over(
        cfg("smartnic"),
        "table.capacity = 8\ntable.ways = 2\ntable.max_kicks = 16",
    );
    let mut tab = FlowTable::new(&c).unwrap();
    let mut placed = Vec::new();
    for i in 0..40u32 {
        let k = udp(i * 31);
        if tab.insert(t(0), u64::from(i), &k, A).is_ok() {
            placed.push((u64::from(i), k));
        }
    }
    assert!(tab.bound() <= 8);
    assert_eq!(placed.len() as u64, tab.bound());
    for (cookie, k) in placed {
        let slot = tab.flow_view(cookie).unwrap().slot.unwrap();
        assert_eq!(tab.lookup(t(1), &k, 1), Lookup::Hit { slot, action: A });
    }
}

#[test]
fn lru_and_least_active_eviction_are_deterministic() {
    let c = over(
        cfg("mt7621"),
        "binding.mode = \"direct\"\ntable.capacity = 64\ntable.reserved_period = 0\ntable.reserved_indices = []\ntable.eviction = \"lru\"",
    );
    let mut tab = FlowTable::new(&c).unwrap();
    let ks = colliding(&tab, 3);
    tab.insert(t(0), 1, &ks[0], A).unwrap();
    tab.insert(t(1), 2, &ks[1], A).unwrap();
    tab.lookup(t(5), &ks[0], 1); // 1 is now the most recent
    let r = tab.insert(t(6), 3, &ks[2], A).unwrap();
    assert_eq!(r.evicted, Some(2));
    assert_eq!(tab.flow_view(2).unwrap().slot, None);
    assert_eq!(tab.stats.evictions, 1);

    let c = over(c, "table.eviction = \"least_active\"");
    let mut tab = FlowTable::new(&c).unwrap();
    tab.insert(t(0), 1, &ks[0], A).unwrap();
    tab.insert(t(0), 2, &ks[1], A).unwrap();
    for _ in 0..5 {
        tab.lookup(t(10), &ks[1], 1);
    }
    tab.lookup(t(20), &ks[0], 1); // more recent but less active
    let r = tab.insert(t(30), 3, &ks[2], A).unwrap();
    assert_eq!(r.evicted, Some(1));
}

#[test]
fn fully_associative_lru_evicts_the_oldest() {
    let c = over(
        cfg("connectx6dx"),
        "table.capacity = 3\ntable.eviction = \"lru\"",
    );
    let mut tab = FlowTable::new(&c).unwrap();
    for i in 0..3 {
        tab.insert(t(i), i, &udp(i as u32), A).unwrap();
    }
    tab.lookup(t(10), &udp(0), 1);
    let r = tab.insert(t(11), 9, &udp(9), A).unwrap();
    assert_eq!(r.evicted, Some(1));
    let r = tab.insert(t(12), 10, &udp(10), A).unwrap();
    assert_eq!(r.evicted, Some(2));
    assert_eq!(tab.bound(), 3);
}

#[test]
fn unsupported_and_duplicate_inserts_are_typed() {
    let mut tab = FlowTable::new(&over(cfg("connectx6dx"), "table.ipv6 = false")).unwrap();
    let mut k6 = udp(1);
    k6.version = 6;
    assert_eq!(
        tab.insert(t(0), 1, &k6, A),
        Err(InsertError::Unsupported(UnsupportedReason::Ipv6))
    );
    let mut icmp = udp(1);
    icmp.proto = proto::ICMP;
    assert_eq!(
        tab.insert(t(0), 1, &icmp, A),
        Err(InsertError::Unsupported(UnsupportedReason::L4Protocol))
    );
    tab.insert(t(0), 1, &udp(1), A).unwrap();
    assert_eq!(tab.insert(t(0), 1, &udp(2), A), Err(InsertError::Exists));
    assert_eq!(tab.insert(t(0), 2, &udp(1), A), Err(InsertError::Exists));
    assert_eq!(tab.remove(t(0), 77), Err(InsertError::NotFound));
}

#[test]
fn lazy_slow_flow_never_binds_elephant_binds_after_rate_and_check() {
    let mut tab = FlowTable::new(&cfg("mt7621")).unwrap();
    let mouse = key(1);
    let elephant = key(2);
    assert_eq!(
        tab.insert(t(0), 10, &mouse, A).unwrap(),
        Inserted {
            bound: false,
            evicted: None
        }
    );
    tab.insert(t(0), 20, &elephant, A).unwrap();
    assert_eq!(tab.bound(), 0, "REPLACE only lists the flows");
    // Mouse: 20 packets per second for 10 s (below 30/s): never a bind check.
    let mut checks = 0;
    for p in 0..200u64 {
        let r = tab.lookup(t(p * 50), &mouse, 100);
        assert!(!matches!(r, Lookup::Hit { .. }));
        if let Lookup::BindCheck { slot } = r {
            checks += 1;
            tab.bind_check(t(p * 50), slot);
        }
    }
    assert_eq!(checks, 0);
    assert!(tab.flow_view(10).unwrap().slot.is_none());
    // Elephant: 100 packets/s. The 30th packet in the window reaches the bind rate.
    let mut bound_at = None;
    for p in 0..100u64 {
        let now = t(20_000 + p * 10);
        match tab.lookup(now, &elephant, 1000) {
            Lookup::BindCheck { slot } => {
                assert!(
                    p >= 29,
                    "bind check before the rate was reached (packet {p})"
                );
                if let BindOutcome::Bound { cookie } = tab.bind_check(now, slot) {
                    assert_eq!(cookie, 20);
                    bound_at.get_or_insert(p);
                }
            }
            Lookup::Hit { .. } => assert!(bound_at.is_some()),
            _ => assert!(bound_at.is_none()),
        }
    }
    assert_eq!(bound_at, Some(29));
    assert_eq!(tab.bound(), 1);
    assert!(tab.flow_view(20).unwrap().slot.is_some());
    assert_eq!(tab.stats.binds, 1);
}

#[test]
fn lazy_bind_check_is_rate_limited_per_entry() {
    let c = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
    let mut tab = FlowTable::new(&c).unwrap();
    // Not listed: every check finds nothing, and at most one runs per 100 ms.
    let k = key(5);
    let Lookup::BindCheck { slot } = tab.lookup(t(0), &k, 1) else {
        panic!("bind rate 1: the first packet reaches it")
    };
    assert_eq!(tab.bind_check(t(0), slot), BindOutcome::NoMatch);
    assert_eq!(tab.bind_check(t(50), slot), BindOutcome::RateLimited);
    assert_eq!(tab.bind_check(t(99), slot), BindOutcome::RateLimited);
    // Listed now: the next allowed check binds.
    tab.insert(t(100), 5, &k, A).unwrap();
    assert_eq!(
        tab.bind_check(t(100), slot),
        BindOutcome::Bound { cookie: 5 }
    );
    assert_eq!(tab.bind_check(t(300), slot), BindOutcome::AlreadyBound);
    assert_eq!(tab.stats.bind_checks_rate_limited, 2);
}

#[test]
fn lazy_full_bucket_leaves_the_flow_in_software() {
    let c = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
    let mut tab = FlowTable::new(&c).unwrap();
    // Pick a bucket without reserved slots (2 usable ways) and fill it with unbound
    // entries of flows nobody offloaded.
    let ks = {
        let mut i = 0;
        loop {
            let b = tab.bucket_base(&key(i)).unwrap();
            if tab.slot_state(b) == Some(SlotState::Free)
                && tab.slot_state(b + 1) == Some(SlotState::Free)
            {
                break;
            }
            i += 1;
        }
        let target = tab.bucket_base(&key(i)).unwrap();
        let mut v = vec![];
        let mut j = i;
        while v.len() < 3 {
            if tab.bucket_base(&key(j)) == Some(target) {
                v.push(key(j));
            }
            j += 1;
        }
        v
    };
    tab.lookup(t(0), &ks[0], 1);
    tab.lookup(t(0), &ks[1], 1);
    assert_eq!(tab.unbound(), 2);
    tab.insert(t(0), 3, &ks[2], A).unwrap();
    for p in 0..50 {
        assert_eq!(tab.lookup(t(p * 10), &ks[2], 1), Lookup::Miss);
    }
    assert!(tab.stats.unbound_create_failed >= 50);
    assert!(tab.flow_view(3).unwrap().slot.is_none());
    // Once the squatters age out (3 ticks idle), the flow gets its chance.
    let mut aged = vec![];
    run_aging(&mut tab, t(3_000), &mut aged);
    assert_eq!(tab.unbound(), 0);
    assert!(aged.is_empty(), "unbound entries have no cookie");
    let Lookup::BindCheck { slot } = tab.lookup(t(5_000), &ks[2], 1) else {
        panic!()
    };
    assert_eq!(
        tab.bind_check(t(5_000), slot),
        BindOutcome::Bound { cookie: 3 }
    );
}

#[test]
fn lazy_what_if_lru_replaces_the_buckets_least_recently_used_bound_entry() {
    let c = over(
        cfg("mt7621"),
        "binding.bind_rate_pps = 1\ntable.eviction = \"lru\"",
    );
    let mut tab = FlowTable::new(&c).unwrap();
    let ks = colliding(&tab, 3);
    // Two flows listed and bound in the bucket, the first one used longest ago.
    for (i, k) in ks[..2].iter().enumerate() {
        let cookie = 10 + i as u64;
        tab.insert(t(0), cookie, k, A).unwrap();
        let Lookup::BindCheck { slot } = tab.lookup(t(i as u64), k, 1) else {
            panic!("bind rate 1: the first packet reaches it")
        };
        assert_eq!(
            tab.bind_check(t(i as u64), slot),
            BindOutcome::Bound { cookie }
        );
    }
    assert!(matches!(tab.lookup(t(5), &ks[1], 1), Lookup::Hit { .. }));
    // A third flow in the full bucket takes the least recently used bound entry's place;
    // the evicted flow stays listed and misses until it binds again.
    tab.insert(t(10), 12, &ks[2], A).unwrap();
    assert!(matches!(
        tab.lookup(t(10), &ks[2], 1),
        Lookup::BindCheck { .. }
    ));
    assert_eq!(tab.stats.evictions, 1);
    assert!(tab.flow_view(10).unwrap().slot.is_none());
    assert!(tab.flow_view(11).unwrap().slot.is_some());
}

/// Runs every aging scan due up to `end`.
fn run_aging(tab: &mut FlowTable, end: SimTime, aged: &mut Vec<Cookie>) {
    while let Some(at) = tab.next_aging_time() {
        if at > end {
            break;
        }
        tab.age(at, aged);
    }
}

#[test]
fn lazy_check_unlinks_bucket_peers() {
    let c = over(cfg("mt7986"), "binding.bind_rate_pps = 1");
    let mut tab = FlowTable::new(&c).unwrap();
    let ks = colliding(&tab, 3);
    tab.insert(t(0), 1, &ks[0], A).unwrap();
    let Lookup::BindCheck { slot } = tab.lookup(t(0), &ks[0], 1) else {
        panic!()
    };
    assert_eq!(tab.bind_check(t(0), slot), BindOutcome::Bound { cookie: 1 });
    // A flow nobody offloaded reaches the rate in the same bucket: its check unlinks 1.
    let Lookup::BindCheck { slot: s2 } = tab.lookup(t(1), &ks[1], 1) else {
        panic!()
    };
    assert_eq!(tab.bind_check(t(1), s2), BindOutcome::NoMatch);
    assert_eq!(tab.stats.unlinked_peers, 1);
    assert_eq!(tab.flow_view(1).unwrap().slot, None);
    // The entry still forwards (unowned) ...
    assert!(matches!(tab.lookup(t(2), &ks[0], 1), Lookup::Hit { .. }));
    // ... its stats no longer show hardware activity ...
    let st = tab.read_stats(t(5_000), 1, true).unwrap();
    assert!(!st.in_hardware);
    assert_eq!(st.idle, Some(SimDuration::from_secs(5)));
    // ... and DESTROY leaves it in place until it ages.
    assert_eq!(
        tab.remove(t(5_000), 1).unwrap(),
        Removed { was_bound: false }
    );
    assert!(matches!(
        tab.lookup(t(5_001), &ks[0], 1),
        Lookup::Hit { .. }
    ));
    let mut aged = vec![];
    run_aging(&mut tab, t(20_000), &mut aged);
    assert!(aged.is_empty(), "unowned entries report no cookie");
    assert_eq!(tab.occupancy(), 0);
    assert!(!matches!(
        tab.lookup(t(20_001), &ks[0], 1),
        Lookup::Hit { .. }
    ));
}

#[test]
fn aging_frees_idle_bound_entries_by_protocol() {
    let c = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
    let mut tab = FlowTable::new(&c).unwrap();
    for (cookie, k) in [(1, key(1)), (2, udp(2))] {
        tab.insert(t(0), cookie, &k, A).unwrap();
        let Lookup::BindCheck { slot } = tab.lookup(t(0), &k, 1) else {
            panic!()
        };
        tab.bind_check(t(0), slot);
    }
    assert_eq!(tab.bound(), 2);
    // TCP delta 7 ticks, UDP 12 (1 s ticks).
    let mut aged = vec![];
    run_aging(&mut tab, t(6_999), &mut aged);
    assert!(aged.is_empty());
    run_aging(&mut tab, t(7_000), &mut aged);
    assert_eq!(aged, vec![1]);
    tab.lookup(t(11_500), &udp(2), 1); // activity pushes the UDP entry out
    run_aging(&mut tab, t(22_999), &mut aged);
    assert_eq!(aged, vec![1]);
    run_aging(&mut tab, t(23_000), &mut aged);
    assert_eq!(aged, vec![1, 2]);
    assert_eq!(tab.bound(), 0);
    assert_eq!(tab.next_aging_time(), None);
    // The flows are still listed: traffic makes them bind again.
    assert!(tab.flow_view(1).is_some());
    let Lookup::BindCheck { slot } = tab.lookup(t(30_000), &key(1), 1) else {
        panic!()
    };
    assert_eq!(
        tab.bind_check(t(30_000), slot),
        BindOutcome::Bound { cookie: 1 }
    );
}

#[test]
fn stats_model_refresh_and_wrapping_timestamps() {
    // mlx5-like: counters visible as of the last 1 s refresh.
    let mut tab = FlowTable::new(&cfg("connectx6dx")).unwrap();
    tab.insert(t(100), 1, &udp(1), A).unwrap();
    for p in 0..10 {
        tab.lookup(t(200 + p), &udp(1), 100);
    }
    let s = tab.read_stats(t(900), 1, true).unwrap();
    assert_eq!((s.packets, s.delta_packets), (0, 0), "not refreshed yet");
    assert_eq!(s.last_used, Some(t(100)));
    let s = tab.read_stats(t(1_000), 1, true).unwrap();
    assert_eq!((s.packets, s.bytes, s.delta_packets), (10, 1000, 10));
    assert_eq!(s.last_used, Some(t(209)));
    tab.lookup(t(1_500), &udp(1), 100);
    let s = tab.read_stats(t(1_600), 1, true).unwrap();
    assert_eq!((s.packets, s.delta_packets), (10, 0));
    let s = tab.read_stats(t(2_100), 1, true).unwrap();
    assert_eq!((s.packets, s.delta_packets), (11, 1));
    assert_eq!(s.idle, Some(SimDuration::from_millis(600)));

    // MediaTek v2: 8-bit timestamp of 1 s ticks, no accounting on MT7621 (15 bit).
    let c = over(cfg("mt7986"), "binding.bind_rate_pps = 1");
    let mut tab = FlowTable::new(&c).unwrap();
    tab.insert(t(0), 1, &key(1), A).unwrap();
    let s = tab.read_stats(t(300_000), 1, false).unwrap();
    assert!(!s.in_hardware);
    // Never bound: the zeroed FOE timestamp reads as tick 0 -> idle = 300 mod 256 = 44 s.
    assert_eq!(s.idle, Some(SimDuration::from_secs(44)));
    let Lookup::BindCheck { slot } = tab.lookup(t(300_000), &key(1), 1) else {
        panic!()
    };
    tab.bind_check(t(300_000), slot);
    tab.lookup(t(300_500), &key(1), 60);
    let s = tab.read_stats(t(302_700), 1, true).unwrap();
    assert!(s.in_hardware);
    assert_eq!(
        s.idle,
        Some(SimDuration::from_secs(2)),
        "whole ticks: 302 - 300"
    );
    assert_eq!((s.packets, s.bytes), (1, 60));
    let mt7621 = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
    let mut tab = FlowTable::new(&mt7621).unwrap();
    tab.insert(t(0), 1, &key(1), A).unwrap();
    let Lookup::BindCheck { slot } = tab.lookup(t(0), &key(1), 1) else {
        panic!()
    };
    tab.bind_check(t(0), slot);
    tab.lookup(t(10), &key(1), 60);
    let s = tab.read_stats(t(20), 1, true).unwrap();
    assert_eq!((s.packets, s.bytes), (0, 0), "MT7621 has no MIB accounting");
}

#[test]
fn occupancy_is_integrated_over_time() {
    let mut tab = FlowTable::new(&cfg("connectx6dx")).unwrap();
    tab.insert(t(0), 1, &udp(1), A).unwrap();
    tab.insert(t(1_000), 2, &udp(2), A).unwrap();
    tab.remove(t(3_000), 1).unwrap();
    tab.flush(t(4_000));
    // 1 entry for 1 s, 2 for 2 s, 1 for 1 s = 6 entry-seconds over 4 s.
    assert_eq!(tab.stats.occupancy_area, 6 * 1_000_000_000);
    assert_eq!(tab.stats.mean_occupancy(4_000_000_000), 1.5);
    assert_eq!(tab.stats.peak_occupancy, 2);
}

#[test]
fn clear_empties_everything() {
    let mut tab = FlowTable::new(&cfg("mt7986")).unwrap();
    tab.insert(t(0), 1, &key(1), A).unwrap();
    tab.lookup(t(0), &key(3), 1);
    assert_eq!(tab.unbound(), 1);
    tab.clear(t(1));
    assert_eq!((tab.occupancy(), tab.flows()), (0, 0));
    assert_eq!(tab.lookup(t(2), &key(3), 1), Lookup::Miss);
}
