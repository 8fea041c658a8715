//! Flowtable unit tests: eligibility, the fast path, refresh, GC, teardown and the conntrack
//! fix-up in both kernel flavours (numbers from flow-offload-semantics.md §2.4).

use super::*;
use crate::conntrack::{CtConfig, CtTimeouts, Track};
use offsim_traces::meta::tcp_flags::{ACK, FIN, PSH, SYN};
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimDuration;

const SEC: u64 = NS_PER_SEC;
const LAN: u32 = 1;
const WAN: u32 = 2;
const C: &str = "192.0.2.10:40000";
const S: &str = "198.51.100.1:443";

fn pass(ct: &mut Conntrack, m: &PacketMeta) -> Option<CtId> {
    let t = ct.track(m.ts, m);
    ct.finish(m.ts, &t, true);
    match t {
        Track::Tracked { id, .. } => Some(id),
        _ => None,
    }
}

fn keys(m: &PacketMeta) -> [FtKey; 2] {
    let k = FtKey::of_packet(m, LAN);
    let mut r = k;
    r.tuple = k.tuple.reversed();
    r.iif = WAN;
    [k, r]
}

/// Both directions leave by an Ethernet device (MTU 1500).
const ROUTES: [FtRoute; 2] = [
    FtRoute {
        oif: WAN,
        mtu: 1500,
    },
    FtRoute {
        oif: LAN,
        mtu: 1500,
    },
];

fn ft(flavour: KernelFlavour) -> Flowtable {
    Flowtable::new(FtConfig {
        flavour,
        devices: vec![LAN, WAN],
        ..FtConfig::default()
    })
}

fn tcp_established(ct: &mut Conntrack) -> (CtId, PacketMeta) {
    pass(ct, &Pkt::tcp4(C, S).flags(SYN).seq(100).at(0).build());
    pass(
        ct,
        &Pkt::tcp4(S, C)
            .flags(SYN | ACK)
            .seq(900)
            .ack(101)
            .at(1)
            .build(),
    );
    let ack = Pkt::tcp4(C, S).flags(ACK).seq(101).ack(901).at(2).build();
    (pass(ct, &ack).unwrap(), ack)
}

#[test]
fn tcp_offloads_on_the_third_packet_only() {
    let mut ct = Conntrack::new(CtConfig::default());
    let mut t = ft(KernelFlavour::New);
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(100).build();
    let tr = ct.track(SimTime(0), &syn);
    let Track::Tracked { id, .. } = tr else {
        panic!()
    };
    // First packet: its conntrack entry is not confirmed yet (and not established).
    assert_eq!(
        t.add(SimTime(0), &syn, &mut ct, Some(id), keys(&syn), ROUTES),
        Err(AddRefusal::TcpNotEstablished)
    );
    ct.finish(SimTime(0), &tr, true);
    let sa = Pkt::tcp4(S, C)
        .flags(SYN | ACK)
        .seq(900)
        .ack(101)
        .at(1)
        .build();
    let id = pass(&mut ct, &sa).unwrap();
    assert_eq!(
        t.add(SimTime(1), &sa, &mut ct, Some(id), keys(&sa), ROUTES),
        Err(AddRefusal::TcpNotEstablished)
    );
    // What `flow add` asks before building the keys says the same as `add`.
    assert_eq!(
        t.refusal(&sa, &ct, Some(id)),
        Err(AddRefusal::TcpNotEstablished)
    );
    assert_eq!(t.refusal(&sa, &ct, None), Err(AddRefusal::NoConntrack));
    let ack = Pkt::tcp4(C, S).flags(ACK).seq(101).ack(901).at(2).build();
    let id = pass(&mut ct, &ack).unwrap();
    assert_eq!(t.refusal(&ack, &ct, Some(id)), Ok(id));
    let f = t
        .add(SimTime(2), &ack, &mut ct, Some(id), keys(&ack), ROUTES)
        .unwrap();
    assert!(ct.get(id).status & status::OFFLOAD != 0);
    // One entry per connection.
    assert_eq!(
        t.refusal(&ack, &ct, Some(id)),
        Err(AddRefusal::AlreadyOffloaded)
    );
    assert_eq!(
        t.add(SimTime(3), &ack, &mut ct, Some(id), keys(&ack), ROUTES),
        Err(AddRefusal::AlreadyOffloaded)
    );
    // Conntrack timeout parked one day out; flow timeout 30 s.
    assert_eq!(ct.get(id).expires(), SimTime(2 + 86_400 * SEC));
    assert_eq!(t.get(f).unwrap().timeout, SimTime(2 + 30 * SEC));
    // Packet 4, either direction, hits; the wrong interface misses.
    let d = Pkt::tcp4(S, C)
        .flags(ACK | PSH)
        .seq(901)
        .ack(101)
        .payload(1000)
        .at(3)
        .build();
    assert!(matches!(
        t.lookup(SimTime(3), &d, WAN, &mut ct),
        FastPath::Hit {
            dir: Dir::Reply,
            ..
        }
    ));
    assert_eq!(t.lookup(SimTime(3), &d, LAN, &mut ct), FastPath::Miss);
    assert_eq!(t.lookup(SimTime(3), &d, 9, &mut ct), FastPath::NoHook);
}

#[test]
fn udp_needs_only_a_confirmed_entry() {
    let mut ct = Conntrack::new(CtConfig::default());
    let mut t = ft(KernelFlavour::New);
    let q = Pkt::udp("192.0.2.10:5000", "198.51.100.1:443").build();
    let tr = ct.track(SimTime(0), &q);
    let Track::Tracked { id, .. } = tr else {
        panic!()
    };
    assert_eq!(
        t.add(SimTime(0), &q, &mut ct, Some(id), keys(&q), ROUTES),
        Err(AddRefusal::Unconfirmed)
    );
    ct.finish(SimTime(0), &tr, true);
    // The second packet — even in the same direction, even unreplied — adds.
    let id = pass(&mut ct, &q).unwrap();
    assert!(
        t.add(SimTime(1), &q, &mut ct, Some(id), keys(&q), ROUTES)
            .is_ok()
    );
    assert_eq!(
        t.add(SimTime(1), &q, &mut ct, None, keys(&q), ROUTES),
        Err(AddRefusal::NoConntrack)
    );
}

#[test]
fn bail_outs_before_lookup() {
    let mut ct = Conntrack::new(CtConfig::default());
    let mut t = ft(KernelFlavour::New);
    let frag = Pkt::udp("192.0.2.10:5000", "198.51.100.1:443")
        .with_flags(flags::FRAGMENT)
        .build();
    assert_eq!(
        t.lookup(SimTime(0), &frag, LAN, &mut ct),
        FastPath::Bail(BailReason::Fragment)
    );
    let opt = Pkt::udp("192.0.2.10:5000", "198.51.100.1:443")
        .with_flags(flags::IP_OPTIONS)
        .build();
    assert_eq!(
        t.lookup(SimTime(0), &opt, LAN, &mut ct),
        FastPath::Bail(BailReason::IpOptions)
    );
    let ttl = Pkt::udp("192.0.2.10:5000", "198.51.100.1:443")
        .ttl(1)
        .build();
    assert_eq!(
        t.lookup(SimTime(0), &ttl, LAN, &mut ct),
        FastPath::Bail(BailReason::TtlExpired)
    );
    let icmp = Pkt::icmp("192.0.2.10", "198.51.100.1", 8, 0, 1).build();
    assert_eq!(
        t.lookup(SimTime(0), &icmp, LAN, &mut ct),
        FastPath::Bail(BailReason::NotTcpUdp)
    );
}

#[test]
fn refresh_only_when_it_advances_more_than_a_second() {
    let mut ct = Conntrack::new(CtConfig::default());
    let mut t = ft(KernelFlavour::New);
    let (id, ack) = tcp_established(&mut ct);
    let f = t
        .add(SimTime(2), &ack, &mut ct, Some(id), keys(&ack), ROUTES)
        .unwrap();
    let d = Pkt::tcp4(C, S).flags(ACK).seq(101).ack(901).build();
    t.lookup(SimTime(SEC / 2), &d, LAN, &mut ct);
    assert_eq!(
        t.get(f).unwrap().timeout,
        SimTime(2 + 30 * SEC),
        "advance of 0.5 s is not written"
    );
    t.lookup(SimTime(2 * SEC), &d, LAN, &mut ct);
    assert_eq!(t.get(f).unwrap().timeout, SimTime(32 * SEC));
    assert_eq!(t.stats.refreshes, 1);
}

#[test]
fn idle_tcp_flow_expires_and_conntrack_gets_its_timeout_back() {
    for (flavour, timeouts, want) in [
        // ≥ 6.14, kernel defaults: ESTABLISHED 432000 s − 30 s is longer than what is left of
        // the one-day parking timeout, so the parked timeout stays (applied only if shorter).
        (KernelFlavour::New, CtTimeouts::kernel(), 0),
        // ≥ 6.14, OpenWrt: 7440 − 30 s is shorter: applied.
        (KernelFlavour::New, CtTimeouts::openwrt(), 7_410),
        // 5.15–6.13 with OpenWrt sysctls: 7440 − 30 = 7410 s (the reference's worked example).
        (KernelFlavour::Mid, CtTimeouts::openwrt(), 7_410),
    ] {
        let mut ct = Conntrack::new(CtConfig {
            timeouts,
            ..CtConfig::default()
        });
        let mut t = ft(flavour);
        let (id, ack) = tcp_established(&mut ct);
        t.add(SimTime(2), &ack, &mut ct, Some(id), keys(&ack), ROUTES)
            .unwrap();
        // GC every second; the flow times out at 30 s and is freed in the same pass
        // (software-only flows).
        let mut now = SimTime(SEC);
        while !t.is_empty() {
            now = t.gc(now, &mut ct);
            assert!(now.0 < 40 * SEC);
        }
        assert_eq!(t.stats.teardown[0], 1);
        let c = ct.get(id);
        assert!(c.status & status::OFFLOAD == 0);
        let teardown_at = now.0 - SEC;
        if want == 0 {
            assert_eq!(
                c.expires(),
                SimTime(2 + 86_400 * SEC),
                "{flavour:?}: parked timeout kept"
            );
        } else {
            assert_eq!(c.expires().0 - teardown_at, want * SEC, "{flavour:?}");
        }
    }
}

#[test]
fn udp_stream_teardown_in_mid_kernel_openwrt() {
    // The reference's example: idle UDP stream, OpenWrt, 6.6: 180 − 30 = 150 s.
    let mut ct = Conntrack::new(CtConfig {
        timeouts: CtTimeouts::openwrt(),
        ..CtConfig::default()
    });
    let mut t = ft(KernelFlavour::Mid);
    let q = Pkt::udp("192.0.2.10:5000", "198.51.100.1:443")
        .at(0)
        .build();
    pass(&mut ct, &q);
    let r = Pkt::udp("198.51.100.1:443", "192.0.2.10:5000")
        .at(SEC)
        .build();
    let id = pass(&mut ct, &r).unwrap();
    t.add(SimTime(SEC), &r, &mut ct, Some(id), keys(&q), ROUTES)
        .unwrap();
    let mut now = SimTime(SEC);
    while !t.is_empty() {
        now = t.gc(now, &mut ct);
    }
    let teardown_at = now.0 - SEC;
    assert_eq!(ct.get(id).expires().0 - teardown_at, 150 * SEC);
}

#[test]
fn fin_tears_down_at_once_in_mid_kernels() {
    let mut ct = Conntrack::new(CtConfig::default());
    let mut t = ft(KernelFlavour::Mid);
    let (id, ack) = tcp_established(&mut ct);
    let f = t
        .add(SimTime(2), &ack, &mut ct, Some(id), keys(&ack), ROUTES)
        .unwrap();
    let fin = Pkt::tcp4(C, S)
        .flags(FIN | ACK)
        .seq(101)
        .ack(901)
        .at(5)
        .build();
    assert_eq!(
        t.lookup(SimTime(5), &fin, LAN, &mut ct),
        FastPath::HitSlow {
            flow: f,
            reason: SlowReason::TcpFlags
        }
    );
    assert!(ct.get(id).status & status::OFFLOAD == 0);
    // Later packets miss until GC frees the entry.
    let d = Pkt::tcp4(S, C).flags(ACK).seq(901).ack(102).build();
    assert_eq!(t.lookup(SimTime(6), &d, WAN, &mut ct), FastPath::Miss);
    t.gc(SimTime(SEC), &mut ct);
    assert!(t.is_empty());
}

#[test]
fn fin_sets_closing_and_stays_in_software_in_new_kernels() {
    let mut ct = Conntrack::new(CtConfig::default());
    let mut t = ft(KernelFlavour::New);
    let (id, ack) = tcp_established(&mut ct);
    let f = t
        .add(SimTime(2), &ack, &mut ct, Some(id), keys(&ack), ROUTES)
        .unwrap();
    let fin = Pkt::tcp4(C, S)
        .flags(FIN | ACK)
        .seq(101)
        .ack(901)
        .at(5)
        .build();
    assert!(matches!(
        t.lookup(SimTime(5), &fin, LAN, &mut ct),
        FastPath::Hit { .. }
    ));
    assert!(t.get(f).unwrap().has(fflags::CLOSING));
    let d = Pkt::tcp4(S, C).flags(FIN | ACK).seq(901).ack(102).build();
    assert!(matches!(
        t.lookup(SimTime(6), &d, WAN, &mut ct),
        FastPath::Hit { .. }
    ));
    // A SYN on the CLOSING flow tears it down and goes to the slow path.
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(5000).build();
    assert_eq!(
        t.lookup(SimTime(7), &syn, LAN, &mut ct),
        FastPath::HitSlow {
            flow: f,
            reason: SlowReason::TcpFlags
        }
    );
    // Fix-up: CLOSING → conntrack CLOSE with the 10 s timeout.
    assert_eq!(ct.get(id).tcp_state(), Some(TcpState::Close));
    assert_eq!(ct.get(id).expires(), SimTime(7 + 10 * SEC));
}

#[test]
fn hardware_bookkeeping() {
    let mut ct = Conntrack::new(CtConfig::default());
    let mut t = Flowtable::new(FtConfig {
        hw_offload: true,
        devices: vec![LAN, WAN],
        ..FtConfig::default()
    });
    let (id, ack) = tcp_established(&mut ct);
    let f = t
        .add(SimTime(2), &ack, &mut ct, Some(id), keys(&ack), ROUTES)
        .unwrap();
    assert_eq!(t.hw_requests, vec![HwRequest::Add(f)]);
    t.hw_requests.clear();
    // Refused: stays in software, retried on the next refresh (> 1 s later).
    t.hw_add_done(f, false, &mut ct);
    assert_eq!(t.get(f).unwrap().hw, HwState::Refused);
    let d = Pkt::tcp4(C, S).flags(ACK).seq(101).ack(901).build();
    assert!(matches!(
        t.lookup(SimTime(3 * SEC), &d, LAN, &mut ct),
        FastPath::Hit { hw_add: true, .. }
    ));
    assert_eq!(t.hw_requests, vec![HwRequest::Add(f)]);
    // Only one outstanding work per flow.
    assert!(matches!(
        t.lookup(SimTime(5 * SEC), &d, LAN, &mut ct),
        FastPath::Hit { hw_add: false, .. }
    ));
    t.hw_requests.clear();
    t.hw_add_done(f, true, &mut ct);
    assert!(ct.get(id).status & status::HW_OFFLOAD != 0);
    // Stats are polled once less than 90 % of the timeout is left (≥ 3 s after refresh).
    t.gc(SimTime(6 * SEC), &mut ct);
    assert!(t.hw_requests.is_empty());
    t.gc(SimTime(9 * SEC), &mut ct);
    assert_eq!(t.hw_requests, vec![HwRequest::Stats(f)]);
    t.hw_requests.clear();
    // Hardware says the flow was used at 8.5 s: the timeout moves to 38.5 s.
    t.hw_stats_done(
        f,
        Some(SimTime(8 * SEC + SEC / 2)),
        [10, 0],
        [15_000, 0],
        &mut ct,
    );
    assert_eq!(t.get(f).unwrap().timeout, SimTime(38 * SEC + SEC / 2));
    // Idle afterwards: teardown at 39 s, delete queued, freed after the delete completed.
    let mut now = SimTime(10 * SEC);
    while !t.get(f).unwrap().has(fflags::TEARDOWN) {
        now = t.gc(now, &mut ct);
        // The hardware reports the flow idle from now on.
        if t.hw_requests.last() == Some(&HwRequest::Stats(f)) {
            t.hw_requests.clear();
            t.hw_stats_done(f, None, [0, 0], [0, 0], &mut ct);
        }
    }
    assert_eq!(
        now,
        SimTime(40 * SEC),
        "torn down in the first GC pass after 38.5 s"
    );
    assert_eq!(t.hw_requests.last(), Some(&HwRequest::Del(f)));
    t.gc(now, &mut ct);
    assert!(
        t.get(f).is_some(),
        "not freed before the hardware delete completed"
    );
    t.hw_del_done(f, &mut ct);
    t.gc(now + SimDuration::from_secs(1), &mut ct);
    assert!(t.get(f).is_none());
}

#[test]
fn kernel_flavour_names() {
    assert_eq!(KernelFlavour::parse("6.1"), Some(KernelFlavour::Mid));
    assert_eq!(KernelFlavour::parse("5.15"), Some(KernelFlavour::Mid));
    assert_eq!(KernelFlavour::parse("6.14"), Some(KernelFlavour::New));
    assert_eq!(KernelFlavour::parse("6.18"), Some(KernelFlavour::New));
    assert_eq!(KernelFlavour::parse("4.19"), None);
    assert_eq!(KernelFlavour::parse("6.6.30"), Some(KernelFlavour::Mid));
    for typo in [
        "99.99", "6.99", "8.0", "6", "6.6x", "6..6", "-6.6", "6.6.6.6",
    ] {
        assert_eq!(KernelFlavour::parse(typo), None, "{typo}");
    }
}

#[test]
fn key_hash_covers_every_field_eq_compares() {
    use std::hash::BuildHasher;
    let h = |k: &FtKey| rustc_hash::FxBuildHasher.hash_one(k);
    let mut m = Pkt::tcp4(C, S).flags(ACK).build();
    m.vlan_count = 1;
    m.vlan[0] = 7;
    let k = FtKey::of_packet(&m, LAN);
    assert_eq!(h(&k), h(&FtKey::of_packet(&m, LAN)));
    let variants: [fn(&mut FtKey); 11] = [
        |k| k.tuple.src ^= 1 << 100,
        |k| k.tuple.dst ^= 1,
        |k| k.tuple.sport ^= 1,
        |k| k.tuple.dport ^= 1,
        |k| k.tuple.proto = proto::UDP,
        |k| k.tuple.version = 6,
        |k| k.iif = WAN,
        |k| k.encap[0] ^= 1,
        |k| k.encap[1] = 9,
        |k| k.n_encap = 2,
        |k| k.pppoe_slot = 1,
    ];
    for (i, change) in variants.iter().enumerate() {
        let mut o = k;
        change(&mut o);
        assert_ne!(o, k, "variant {i}");
        // a small table's bucket index (the hash's low bits) tells them apart too
        assert_ne!(
            h(&o) & 0xffff,
            h(&k) & 0xffff,
            "variant {i} shares a bucket"
        );
    }
}
