//! Conntrack behaviour checked against the kernel semantics the oracle confirmed
//! (`../shared/oracle/README.md`, pitfall 10) and `nf_conntrack_proto_tcp.c`.

use super::tcp::TcpState;
use super::*;
use offsim_traces::meta::tcp_flags::{ACK, FIN, PSH, RST, SYN, URG};
use offsim_traces::testkit::Pkt;

const C: &str = "192.0.2.10:40000";
const S: &str = "198.51.100.1:80";
const SEC: u64 = NS_PER_SEC;

/// Tracks a packet and confirms/accepts it as a router that accepts everything would.
fn pass(ct: &mut Conntrack, m: &PacketMeta) -> Track {
    let t = ct.track(m.ts, m);
    ct.finish(m.ts, &t, true);
    t
}

fn info(t: &Track) -> Option<CtInfo> {
    match t {
        Track::Tracked { info, .. } => Some(*info),
        _ => None,
    }
}

fn id(t: &Track) -> CtId {
    match t {
        Track::Tracked { id, .. } => *id,
        _ => panic!("not tracked: {t:?}"),
    }
}

/// A three-way handshake with windows and scaling; returns the connection id.
fn handshake(ct: &mut Conntrack, t0: u64) -> CtId {
    let syn = Pkt::tcp4(C, S)
        .flags(SYN)
        .seq(1000)
        .win(64_240)
        .wscale(7)
        .at(t0)
        .build();
    let t = pass(ct, &syn);
    assert_eq!(info(&t), Some(CtInfo::New));
    let sa = Pkt::tcp4(S, C)
        .flags(SYN | ACK)
        .seq(5000)
        .ack(1001)
        .win(65_160)
        .wscale(7)
        .at(t0 + 1)
        .build();
    assert_eq!(info(&pass(ct, &sa)), Some(CtInfo::EstablishedReply));
    let a = Pkt::tcp4(C, S)
        .flags(ACK)
        .seq(1001)
        .ack(5001)
        .win(502)
        .at(t0 + 2)
        .build();
    let t = pass(ct, &a);
    assert_eq!(info(&t), Some(CtInfo::Established));
    id(&t)
}

#[test]
fn three_way_handshake_sets_assured_on_third_packet() {
    let mut ct = Conntrack::new(CtConfig::default());
    let i = handshake(&mut ct, 0);
    let c = ct.get(i);
    assert_eq!(c.tcp_state(), Some(TcpState::Established));
    assert!(c.status & status::ASSURED != 0);
    assert!(c.status & status::SEEN_REPLY != 0);
    assert!(c.tcp_established());
    // ESTABLISHED timeout: 5 days.
    assert_eq!(c.expires, SimTime(2 + 432_000 * SEC));
    assert_eq!(ct.len(), 1);
}

#[test]
fn data_in_both_directions_stays_established() {
    let mut ct = Conntrack::new(CtConfig::default());
    handshake(&mut ct, 0);
    let d = Pkt::tcp4(C, S)
        .flags(ACK | PSH)
        .seq(1001)
        .ack(5001)
        .win(502)
        .payload(500)
        .at(10)
        .build();
    assert_eq!(info(&pass(&mut ct, &d)), Some(CtInfo::Established));
    let r = Pkt::tcp4(S, C)
        .flags(ACK)
        .seq(5001)
        .ack(1501)
        .win(509)
        .payload(1400)
        .at(11)
        .build();
    assert_eq!(info(&pass(&mut ct, &r)), Some(CtInfo::EstablishedReply));
}

#[test]
fn dropped_syn_leaves_no_state() {
    let mut ct = Conntrack::new(CtConfig::default());
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(1000).build();
    let t = ct.track(SimTime(0), &syn);
    assert_eq!(info(&t), Some(CtInfo::New));
    ct.finish(SimTime(0), &t, false); // dropped by the ruleset
    assert_eq!(ct.len(), 0);
    // Its SYN/ACK is INVALID (a SYN/ACK cannot start a connection) …
    let sa = Pkt::tcp4(S, C).flags(SYN | ACK).seq(5000).ack(1001).build();
    assert_eq!(
        ct.track(SimTime(1), &sa),
        Track::Invalid(InvalidReason::TcpState)
    );
    // … and a later bare ACK is NEW again (tcp_loose pickup).
    let a = Pkt::tcp4(C, S).flags(ACK).seq(1001).ack(5001).build();
    assert_eq!(info(&pass(&mut ct, &a)), Some(CtInfo::New));
}

#[test]
fn no_pickup_without_tcp_loose() {
    let mut ct = Conntrack::new(CtConfig {
        tcp_loose: false,
        ..CtConfig::default()
    });
    let a = Pkt::tcp4(C, S).flags(ACK).seq(1001).ack(5001).build();
    assert!(matches!(ct.track(SimTime(0), &a), Track::Invalid(_)));
    // With loose pickup, a mid-stream FIN or SYN/ACK without state is still invalid.
    let mut ct = Conntrack::new(CtConfig::default());
    let f = Pkt::tcp4(C, S).flags(FIN | ACK).seq(1).ack(1).build();
    assert!(matches!(ct.track(SimTime(0), &f), Track::Invalid(_)));
}

#[test]
fn original_direction_stays_new_until_a_reply() {
    let mut ct = Conntrack::new(CtConfig::default());
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(1000).build();
    assert_eq!(info(&pass(&mut ct, &syn)), Some(CtInfo::New));
    // Retransmitted SYN.
    let syn2 = Pkt::tcp4(C, S).flags(SYN).seq(1000).at(SEC).build();
    assert_eq!(info(&pass(&mut ct, &syn2)), Some(CtInfo::New));
    // UDP: a second query before any reply is NEW too.
    let q = Pkt::udp("192.0.2.10:5353", "198.51.100.53:53").build();
    assert_eq!(info(&pass(&mut ct, &q)), Some(CtInfo::New));
    assert_eq!(info(&pass(&mut ct, &q)), Some(CtInfo::New));
    let r = Pkt::udp("198.51.100.53:53", "192.0.2.10:5353").build();
    assert_eq!(info(&pass(&mut ct, &r)), Some(CtInfo::EstablishedReply));
    assert_eq!(info(&pass(&mut ct, &q)), Some(CtInfo::Established));
}

#[test]
fn invalid_flag_combinations() {
    let mut ct = Conntrack::new(CtConfig::default());
    for f in [
        SYN | FIN,
        0,
        FIN | SYN | RST | PSH | ACK | URG,
        FIN,
        SYN | RST,
    ] {
        let p = Pkt::tcp4(C, S).flags(f).build();
        assert_eq!(
            ct.track(SimTime(0), &p),
            Track::Invalid(InvalidReason::TcpFlags),
            "flags {f:#x}"
        );
    }
}

#[test]
fn ack_above_peer_data_is_invalid() {
    let mut ct = Conntrack::new(CtConfig::default());
    handshake(&mut ct, 0);
    // The server has sent nothing beyond its SYN (td_end 5001); acking 9000 is invalid.
    let a = Pkt::tcp4(C, S)
        .flags(ACK)
        .seq(1001)
        .ack(9000)
        .win(502)
        .at(5)
        .build();
    assert_eq!(
        ct.track(SimTime(5), &a),
        Track::Invalid(InvalidReason::TcpWindow)
    );
    // With be_liberal it passes.
    let mut ct = Conntrack::new(CtConfig {
        tcp_be_liberal: true,
        ..CtConfig::default()
    });
    handshake(&mut ct, 0);
    assert!(matches!(ct.track(SimTime(5), &a), Track::Tracked { .. }));
}

#[test]
fn segment_beyond_receiver_window_is_invalid() {
    let mut ct = Conntrack::new(CtConfig::default());
    handshake(&mut ct, 0);
    // Server window: 65160 unscaled in SYN/ACK; the client advertised 502 << 7 = 64256.
    // A client segment starting 200 kB ahead is beyond the server's advertised window.
    let d = Pkt::tcp4(C, S)
        .flags(ACK)
        .seq(1001 + 200_000)
        .ack(5001)
        .win(502)
        .payload(100)
        .at(5)
        .build();
    assert_eq!(
        ct.track(SimTime(5), &d),
        Track::Invalid(InvalidReason::TcpWindow)
    );
}

#[test]
fn syn_in_time_wait_reopens_as_new() {
    let mut ct = Conntrack::new(CtConfig::default());
    handshake(&mut ct, 0);
    let steps = [
        Pkt::tcp4(C, S)
            .flags(FIN | ACK)
            .seq(1001)
            .ack(5001)
            .win(502),
        Pkt::tcp4(S, C)
            .flags(FIN | ACK)
            .seq(5001)
            .ack(1002)
            .win(509),
        Pkt::tcp4(C, S).flags(ACK).seq(1002).ack(5002).win(502),
    ];
    let mut last = CtId(0);
    for (i, p) in steps.iter().enumerate() {
        let t = pass(&mut ct, &p.at(10 + i as u64).build());
        last = id(&t);
    }
    assert_eq!(ct.get(last).tcp_state(), Some(TcpState::TimeWait));
    assert_eq!(ct.get(last).expires, SimTime(12 + 120 * SEC));
    let syn = Pkt::tcp4(C, S)
        .flags(SYN)
        .seq(90_000)
        .win(64_240)
        .wscale(7)
        .at(SEC)
        .build();
    let t = pass(&mut ct, &syn);
    assert_eq!(info(&t), Some(CtInfo::New));
    assert_eq!(ct.get(id(&t)).tcp_state(), Some(TcpState::SynSent));
    assert_eq!(ct.len(), 1);
}

#[test]
fn rst_moves_to_close_with_ten_second_timeout() {
    let mut ct = Conntrack::new(CtConfig::default());
    let i = handshake(&mut ct, 0);
    let r = Pkt::tcp4(S, C)
        .flags(RST | ACK)
        .seq(5001)
        .ack(1001)
        .at(100)
        .build();
    assert_eq!(info(&pass(&mut ct, &r)), Some(CtInfo::EstablishedReply));
    assert_eq!(ct.get(i).tcp_state(), Some(TcpState::Close));
    assert_eq!(ct.get(i).expires, SimTime(100 + 10 * SEC));
    // After 10 s the entry is gone: a new SYN is NEW.
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(7).at(100 + 11 * SEC).build();
    assert_eq!(info(&pass(&mut ct, &syn)), Some(CtInfo::New));
}

#[test]
fn rst_answering_a_syn_kills_the_entry() {
    let mut ct = Conntrack::new(CtConfig::default());
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(1000).build();
    pass(&mut ct, &syn);
    let rst = Pkt::tcp4(S, C)
        .flags(RST | ACK)
        .seq(0)
        .ack(1001)
        .at(1)
        .build();
    assert_eq!(info(&pass(&mut ct, &rst)), Some(CtInfo::EstablishedReply));
    // "If only reply is a RST, we can consider ourselves not to have an established
    // connection": the kernel deletes the entry at once (nf_ct_kill_acct).
    assert_eq!(ct.len(), 0);
    assert_eq!(ct.stats.killed, 1);
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(1000).at(2).build();
    assert_eq!(info(&pass(&mut ct, &syn)), Some(CtInfo::New));
}

#[test]
fn icmp_echo_and_errors() {
    let mut ct = Conntrack::new(CtConfig::default());
    // An echo reply without request is INVALID.
    let rep = Pkt::icmp("198.51.100.1", "192.0.2.10", 0, 0, 7).build();
    assert_eq!(
        ct.track(SimTime(0), &rep),
        Track::Invalid(InvalidReason::IcmpNew)
    );
    let req = Pkt::icmp("192.0.2.10", "198.51.100.1", 8, 0, 7).build();
    assert_eq!(info(&pass(&mut ct, &req)), Some(CtInfo::New));
    assert_eq!(info(&pass(&mut ct, &rep)), Some(CtInfo::EstablishedReply));
    // A different identifier is another connection.
    let req2 = Pkt::icmp("192.0.2.10", "198.51.100.1", 8, 0, 8).build();
    assert_eq!(info(&pass(&mut ct, &req2)), Some(CtInfo::New));
    // ICMP error for a known UDP flow: RELATED; for an unknown one: INVALID.
    let q = Pkt::udp("192.0.2.10:5000", "198.51.100.9:53").build();
    pass(&mut ct, &q);
    let err = Pkt::icmp("203.0.113.1", "192.0.2.10", 3, 3, 0)
        .quoting(&q)
        .build();
    assert_eq!(info(&pass(&mut ct, &err)), Some(CtInfo::RelatedReply));
    let other = Pkt::udp("192.0.2.10:5001", "198.51.100.9:53").build();
    let err2 = Pkt::icmp("203.0.113.1", "192.0.2.10", 3, 3, 0)
        .quoting(&other)
        .build();
    assert_eq!(
        ct.track(SimTime(0), &err2),
        Track::Invalid(InvalidReason::IcmpErrorUnknown)
    );
    // Time exceeded about a ping is RELATED too.
    let te = Pkt::icmp("203.0.113.1", "192.0.2.10", 11, 0, 0)
        .quoting(&req)
        .build();
    assert_eq!(info(&pass(&mut ct, &te)), Some(CtInfo::RelatedReply));
}

#[test]
fn icmpv6_neighbour_discovery_is_untracked() {
    let mut ct = Conntrack::new(CtConfig::default());
    let ns = Pkt::icmp("2001:db8::1", "2001:db8::2", 135, 0, 0).build();
    assert_eq!(ct.track(SimTime(0), &ns), Track::Untracked);
    let echo = Pkt::icmp("2001:db8::1", "2001:db8::2", 128, 0, 1).build();
    assert_eq!(info(&pass(&mut ct, &echo)), Some(CtInfo::New));
}

#[test]
fn reply_from_another_port_is_a_new_flow() {
    let mut ct = Conntrack::new(CtConfig::default());
    let q = Pkt::udp("192.0.2.10:5000", "198.51.100.9:53").build();
    pass(&mut ct, &q);
    let r = Pkt::udp("198.51.100.9:54", "192.0.2.10:5000").build();
    assert_eq!(info(&pass(&mut ct, &r)), Some(CtInfo::New));
    assert_eq!(ct.len(), 2);
}

#[test]
fn udp_assured_after_two_seconds_and_timeouts() {
    let mut ct = Conntrack::new(CtConfig::default());
    let q = Pkt::udp("192.0.2.10:5000", "198.51.100.9:443")
        .at(0)
        .build();
    let i = id(&pass(&mut ct, &q));
    assert_eq!(ct.get(i).expires, SimTime(30 * SEC));
    let r = Pkt::udp("198.51.100.9:443", "192.0.2.10:5000")
        .at(SEC)
        .build();
    pass(&mut ct, &r);
    assert!(
        ct.get(i).status & status::ASSURED == 0,
        "replied but younger than 2 s"
    );
    assert_eq!(ct.get(i).expires, SimTime(31 * SEC));
    let q2 = Pkt::udp("192.0.2.10:5000", "198.51.100.9:443")
        .at(3 * SEC)
        .build();
    pass(&mut ct, &q2);
    assert!(ct.get(i).status & status::ASSURED != 0);
    assert_eq!(ct.get(i).expires, SimTime(123 * SEC));
    // Unreplied UDP expires after 30 s: the next packet is NEW.
    let u = Pkt::udp("192.0.2.10:6000", "198.51.100.9:53").at(0).build();
    pass(&mut ct, &u);
    let u2 = Pkt::udp("192.0.2.10:6000", "198.51.100.9:53")
        .at(31 * SEC)
        .build();
    assert_eq!(info(&pass(&mut ct, &u2)), Some(CtInfo::New));
    assert_eq!(ct.stats.expired, 1);
}

#[test]
fn openwrt_timeouts() {
    let mut ct = Conntrack::new(CtConfig {
        timeouts: CtTimeouts::openwrt(),
        ..CtConfig::default()
    });
    let i = handshake(&mut ct, 0);
    assert_eq!(ct.get(i).expires, SimTime(2 + 7_440 * SEC));
    let u = Pkt::udp("192.0.2.10:6000", "198.51.100.9:53").at(0).build();
    let j = id(&pass(&mut ct, &u));
    assert_eq!(ct.get(j).expires, SimTime(60 * SEC));
}

#[test]
fn udp_bad_length_is_invalid() {
    let mut ct = Conntrack::new(CtConfig::default());
    let u = Pkt::udp("192.0.2.10:6000", "198.51.100.9:53")
        .with_flags(flags::UDP_BAD_LENGTH)
        .build();
    assert_eq!(
        ct.track(SimTime(0), &u),
        Track::Invalid(InvalidReason::UdpLength)
    );
}

/// `nf_conntrack_max` with the kernel's `early_drop`: a new entry over the limit evicts the
/// unassured entries of its own bucket (or of the next 7); with none there, the packet is
/// dropped ("table full").
#[test]
fn table_limit_early_drops_unassured_entries_of_the_bucket() {
    // One bucket: every entry shares it, so the third evicts both unassured ones.
    let mut ct = Conntrack::new(CtConfig {
        max_entries: Some(2),
        buckets: Some(1),
        ..CtConfig::default()
    });
    assert_eq!(ct.buckets(), 1);
    for p in 1..=3u16 {
        let u = Pkt::udp(&format!("192.0.2.10:{p}"), "198.51.100.9:53").build();
        assert!(matches!(pass(&mut ct, &u), Track::Tracked { .. }));
    }
    assert_eq!(ct.len(), 1);
    assert_eq!(ct.stats.early_drop, 2);
    assert_eq!(ct.stats.drop, 0);

    // Assured entries are never evicted: a full table of them drops new connections.
    let mut ct = Conntrack::new(CtConfig {
        max_entries: Some(2),
        buckets: Some(1),
        ..CtConfig::default()
    });
    for p in 1..=2u16 {
        let q = Pkt::udp(&format!("192.0.2.10:{p}"), "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", &format!("192.0.2.10:{p}"))
            .at(SEC)
            .build();
        let again = Pkt::udp(&format!("192.0.2.10:{p}"), "198.51.100.9:53")
            .at(3 * SEC)
            .build();
        pass(&mut ct, &q);
        pass(&mut ct, &r);
        pass(&mut ct, &again);
        assert!(ct.get(CtId(u32::from(p) - 1)).status & status::ASSURED != 0);
    }
    let u = Pkt::udp("192.0.2.10:9", "198.51.100.9:53")
        .at(4 * SEC)
        .build();
    assert_eq!(ct.track(u.ts, &u), Track::Invalid(InvalidReason::TableFull));
    assert_eq!((ct.len(), ct.stats.drop), (2, 1));

    // Many buckets: a new entry only looks at 8 of them, so with the table full of entries
    // elsewhere it is dropped although unassured entries exist.
    let mut ct = Conntrack::new(CtConfig {
        max_entries: Some(2),
        ..CtConfig::default()
    });
    assert_eq!(ct.buckets(), 1024);
    let mut tracked = 0;
    for p in 1..=200u16 {
        let u = Pkt::udp(&format!("192.0.2.10:{p}"), "198.51.100.9:53").build();
        if matches!(pass(&mut ct, &u), Track::Tracked { .. }) {
            tracked += 1;
        }
    }
    assert!(ct.len() <= 2);
    assert!(
        ct.stats.drop > 0 && ct.stats.early_drop > 0,
        "{:?}",
        ct.stats
    );
    assert_eq!(tracked as u64, 200 - ct.stats.drop);
}

#[test]
fn gc_reaps_expired_entries() {
    let mut ct = Conntrack::new(CtConfig::default());
    for p in 1..=100u16 {
        let u = Pkt::udp(&format!("192.0.2.10:{p}"), "198.51.100.9:53").build();
        pass(&mut ct, &u);
    }
    assert_eq!(ct.len(), 100);
    ct.gc(SimTime(31 * SEC), 1000);
    assert_eq!(ct.len(), 0);
}

/// The collector reads a dense copy of each slot's expiry (`reap_at`): it must follow every
/// change of an entry's expiry, liveness and confirmation.
#[test]
fn gc_follows_expiry_changes_unconfirmed_entries_and_reused_slots() {
    let mut ct = Conntrack::new(CtConfig::default());
    let udp = |p: u16, at: u64| {
        let mut u = Pkt::udp(&format!("192.0.2.10:{p}"), "198.51.100.9:53").build();
        u.ts = SimTime(at);
        u
    };
    // Ten UDP entries at 0 s (unreplied: 30 s); the first is answered at 20 s (its timeout
    // runs from there).
    let ids: Vec<CtId> = (1..=10u16)
        .map(|p| id(&pass(&mut ct, &udp(p, 0))))
        .collect();
    let mut reply = Pkt::udp("198.51.100.9:53", "192.0.2.10:1").build();
    reply.ts = SimTime(20 * SEC);
    pass(&mut ct, &reply);
    let answered = ct.get(ids[0]).expires();
    assert!(answered >= SimTime(50 * SEC));
    // An established TCP connection (5 days), cut to 10 s by an RST at 25 s.
    let tcp = handshake(&mut ct, 0);
    let mut rst = Pkt::tcp4(C, S).flags(RST).seq(1001).build();
    rst.ts = SimTime(25 * SEC);
    pass(&mut ct, &rst);
    // A packet tracked but not confirmed yet (its verdict pending): the collector leaves it.
    let pending = ct.track(SimTime(25 * SEC), &udp(99, 25 * SEC));
    assert_eq!(ct.len(), 12);
    ct.gc(SimTime(31 * SEC), 1000);
    // Nine unanswered gone; the answered one, the TCP one (until 35 s) and the pending stay.
    assert!(ct.is_live(ids[0]) && ids[1..].iter().all(|&i| !ct.is_live(i)));
    assert!(ct.is_live(tcp) && ct.is_live(id(&pending)));
    assert_eq!(ct.stats.expired, 9);
    ct.gc(SimTime(36 * SEC), 1000);
    assert!(!ct.is_live(tcp) && ct.is_live(ids[0]) && ct.is_live(id(&pending)));
    // Freed slots are taken again by entries that expire later.
    ct.finish(SimTime(25 * SEC), &pending, true);
    let again: Vec<CtId> = (20..=25u16)
        .map(|p| id(&pass(&mut ct, &udp(p, 40 * SEC))))
        .collect();
    assert!(again.iter().any(|a| ids.contains(a)), "slots reused");
    ct.gc(SimTime(60 * SEC), 1000);
    assert!(again.iter().all(|&a| ct.is_live(a)) && !ct.is_live(id(&pending)));
    ct.gc(SimTime(71 * SEC), 1000);
    assert!(again.iter().all(|&a| !ct.is_live(a)));
    assert_eq!(ct.is_live(ids[0]), answered > SimTime(71 * SEC));
    ct.gc(SimTime(answered.0 + 1), 1000);
    assert_eq!(ct.len(), 0);
}

#[test]
fn creation_time_is_simulated_time_not_the_capture_timestamp() {
    // A replayed packet keeps its capture timestamp; conntrack runs on simulated time.
    let mut ct = Conntrack::new(CtConfig::default());
    let m = Pkt::udp(C, S).at(1_704_067_200 * SEC).build();
    let t = ct.track(SimTime(5 * SEC), &m);
    assert_eq!(ct.get(id(&t)).created, SimTime(5 * SEC));
}

/// `ct timeout set` (`nft_ct_timeout_obj_eval`): a policy attaches only to an unconfirmed
/// connection of its protocol, sets the initial timeout, and times the later packets.
#[test]
fn ct_timeout_policy() {
    let mut ct = Conntrack::new(CtConfig::default());
    let pol = CtTimeouts::kernel().with_policy(
        proto::TCP,
        &[("established".into(), 123), ("syn_sent".into(), 7)],
    );
    assert_eq!(pol.initial(proto::TCP), 7);
    let syn = Pkt::tcp4(C, S)
        .flags(SYN)
        .seq(1000)
        .win(64_240)
        .at(0)
        .build();
    let t = ct.track(syn.ts, &syn);
    let i = id(&t);
    assert!(
        !ct.set_timeout_policy(i, &pol, proto::UDP),
        "wrong protocol"
    );
    assert!(ct.set_timeout_policy(i, &pol, proto::TCP));
    ct.finish(syn.ts, &t, true);
    assert_eq!(
        ct.get(i).expires,
        SimTime(7 * SEC),
        "initial value from the policy"
    );
    assert!(!ct.set_timeout_policy(i, &pol, proto::TCP), "confirmed");
    let sa = Pkt::tcp4(S, C)
        .flags(SYN | ACK)
        .seq(5000)
        .ack(1001)
        .win(65_160)
        .at(1)
        .build();
    pass(&mut ct, &sa);
    let a = Pkt::tcp4(C, S)
        .flags(ACK)
        .seq(1001)
        .ack(5001)
        .win(502)
        .at(2)
        .build();
    pass(&mut ct, &a);
    assert_eq!(
        ct.get(i).expires,
        SimTime(2 + 123 * SEC),
        "established from the policy"
    );
    // another connection keeps the defaults
    let syn2 = Pkt::tcp4("192.0.2.11:40000", S)
        .flags(SYN)
        .seq(1)
        .at(10)
        .build();
    let j = id(&pass(&mut ct, &syn2));
    assert_eq!(ct.get(j).expires, SimTime(10 + 120 * SEC));
    // UDP names
    let u = CtTimeouts::kernel().with_policy(proto::UDP, &[("replied".into(), 9)]);
    assert_eq!((u.udp_unreplied, u.udp_replied), (30, 9));
}

/// `Conn::reply_altered` answers `invert(ORIGINAL) != Some(REPLY)` (what `wan_view` asks of
/// every connection it finds): before NAT, after NAT chose the inverse itself, and after
/// NAT chose another tuple.
#[test]
fn reply_altered_agrees_with_the_inverse_formula() {
    let formula = |c: &Conn| invert(&c.orig()) != Some(c.reply());
    let syn = Pkt::tcp4(C, S).flags(SYN).seq(1).at(0).build();
    let mut ct = Conntrack::new(CtConfig::default());
    let t = ct.track(SimTime(0), &syn);
    let i = id(&t);
    assert!(!ct.get(i).reply_altered());
    assert_eq!(ct.get(i).reply_altered(), formula(ct.get(i)));
    let inverse = invert(&ct.get(i).orig()).unwrap();
    ct.get_mut(i).alter_reply(inverse);
    assert!(!ct.get(i).reply_altered());
    assert_eq!(ct.get(i).reply_altered(), formula(ct.get(i)));
    let mut masq = inverse;
    masq.dst = 0xcb00_7101; // 203.0.113.1, the router's WAN address
    masq.dport = 61_000;
    ct.get_mut(i).alter_reply(masq);
    assert!(ct.get(i).reply_altered());
    assert_eq!(ct.get(i).reply_altered(), formula(ct.get(i)));
    assert_eq!(ct.get(i).reply(), masq);
}
