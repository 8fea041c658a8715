//! Statements with effects beyond the verdict: NAT with maps, set updates and meters,
//! `queue`, conntrack timeout objects and secmarks, `fwd` in netdev chains.

use super::*;

/// Maps with `address . port` data (named, typeof and anonymous, with ranges): the NAT
/// request gets the address and the port of the element (`nft_nat_eval` reads both from the
/// lookup's data registers).
#[test]
fn nat_maps_with_address_port_data() {
    let mut r = Run::new(
        "table ip n {
            map z {
                type ipv4_addr . inet_service : ipv4_addr . inet_service
                elements = { 192.168.7.2 . 42 : 10.1.1.1 . 4242 }
            }
            map t2 {
                typeof ip saddr : ip daddr . tcp dport
                elements = { 10.0.0.9 : 10.9.9.9 . 9999 }
            }
            chain pre {
                type nat hook prerouting priority dstnat; policy accept;
                dnat ip to ip daddr . tcp dport map @z
                meta l4proto tcp dnat ip to ip saddr map @t2
                meta l4proto udp dnat ip to ip saddr map { 10.0.0.0/24 : 1.1.1.1-1.1.1.4 . 53-54 }
            }
        }",
    );
    let mut h = FtHost::default();
    let mut nat = |r: &mut Run, p: P| {
        let mut c = r.ctx(p, Hook::Prerouting, Some("lan0"), None, ct(NEW), 0);
        let v = r.hook(&mut h, &mut c);
        (v, h.nat.pop())
    };
    let (v, req) = nat(
        &mut r,
        P::v4("10.0.0.1", "192.168.7.2").tcp(1000, 42, tcp_flags::SYN),
    );
    assert_eq!(v, Verdict::Accept);
    let req = req.expect("dnat");
    assert_eq!(req.kind, NatKind::Dnat);
    assert_eq!(req.addr, Some((0x0a01_0101, 0x0a01_0101)));
    assert_eq!(req.port, Some((4242, 4242)));
    // no element for the key: the rule ends (NFT_BREAK) and the next one applies
    let (_, req) = nat(
        &mut r,
        P::v4("10.0.0.9", "192.168.7.3").tcp(1000, 42, tcp_flags::SYN),
    );
    let req = req.expect("second rule");
    assert_eq!(req.addr, Some((0x0a09_0909, 0x0a09_0909)));
    assert_eq!(req.port, Some((9999, 9999)));
    let (_, req) = nat(&mut r, P::v4("10.0.0.7", "8.8.8.8").udp(1000, 53));
    let req = req.expect("anonymous map with ranges");
    assert_eq!(req.addr, Some((0x0101_0101, 0x0101_0104)));
    assert_eq!(req.port, Some((53, 54)));
    let (_, req) = nat(&mut r, P::v4("10.0.1.7", "8.8.8.8").udp(1000, 53));
    assert_eq!(req, None, "no rule applies");
    // map data that is not address . port, and a port mapping without a transport protocol
    util::assert_rejected(&[
        (
            "table ip n { map m { type ipv4_addr : mark . mark; } }",
            "concatenated map data mark . mark",
        ),
        (
            "table ip n { map m { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
              chain c { type nat hook prerouting priority dstnat; dnat ip to ip daddr . th dport map @m } }",
            "transport protocol mapping",
        ),
        (
            "table ip n { map m { type ipv4_addr : ipv4_addr; }
              chain c { type nat hook prerouting priority dstnat; meta mark set ip daddr map @m } }",
            "datatype mismatch, map @m has data ipv4_addr, expected mark",
        ),
    ]);
}

/// Statements on set elements (`nft_dynset` with expressions, meters): each element gets its
/// own limit/quota/counter when it is created, updates that find the element run its
/// expressions, a limit over its rate breaks the rule; lookups run them too.
#[test]
fn set_update_statements_and_meters() {
    let mut r = Run::new(
        "table ip t {
            set m { type ipv4_addr; size 65535; flags dynamic; }
            set q { type ipv4_addr; flags dynamic; }
            chain fw {
                type filter hook forward priority 0; policy accept;
                tcp dport 22 ct state new add @m { ip saddr limit rate 2/second burst 1 packets } counter accept
                tcp dport 22 ct state new counter drop
                udp dport 53 update @q { ip saddr quota until 100 bytes counter } counter
                tcp dport 80 meter web size 2 { ip saddr . tcp dport limit rate over 1/minute burst 1 packets } counter drop
            }
        }",
    );
    let syn = |src: &str| P::v4(src, "10.0.0.1").tcp(1000, 22, tcp_flags::SYN);
    let at = |r: &mut Run, p: P, t: u64| {
        let mut c = r.ctx(p, Hook::Forward, Some("lan0"), Some("wan0"), ct(NEW), t);
        r.hook(&mut NullHost, &mut c)
    };
    // rate 2/s burst 1: the bucket holds 1 packet (500 ms of tokens); per source
    assert_eq!(at(&mut r, syn("1.1.1.1"), 0), Verdict::Accept);
    assert_eq!(
        at(&mut r, syn("1.1.1.1"), 100_000_000),
        Verdict::Drop(DropReason::Rule)
    );
    assert_eq!(
        at(&mut r, syn("2.2.2.2"), 100_000_000),
        Verdict::Accept,
        "own bucket"
    );
    assert_eq!(
        at(&mut r, syn("1.1.1.1"), 700_000_000),
        Verdict::Accept,
        "refilled"
    );
    assert_eq!(r.count("fw", 0), (3, 180));
    assert_eq!(r.count("fw", 1), (1, 60));
    assert_eq!(r.st.dynamic_len(&r.rs, 0), 2);
    // quota per element: 60 bytes pass, the second 60 (120 >= 100) is over
    let dns = |src: &str| P::v4(src, "10.0.0.1").udp(1000, 53);
    at(&mut r, dns("3.3.3.3"), 0);
    at(&mut r, dns("3.3.3.3"), 1);
    at(&mut r, dns("4.4.4.4"), 2);
    assert_eq!(r.count("fw", 2), (2, 120));
    // meter: `over 1/minute burst 1` matches from the second packet of a source and port;
    // size 2 caps the set: a third key cannot be added (NFT_BREAK, no drop)
    let web = |src: &str| P::v4(src, "10.0.0.1").tcp(1000, 80, tcp_flags::SYN);
    assert_eq!(at(&mut r, web("5.5.5.5"), 0), Verdict::Accept);
    assert_eq!(
        at(&mut r, web("5.5.5.5"), 1),
        Verdict::Drop(DropReason::Rule)
    );
    assert_eq!(at(&mut r, web("6.6.6.6"), 2), Verdict::Accept);
    assert_eq!(at(&mut r, web("7.7.7.7"), 3), Verdict::Accept);
    assert_eq!(at(&mut r, web("7.7.7.7"), 4), Verdict::Accept, "set full");
    assert_eq!(r.count("fw", 3), (1, 60));
    let web_set = r.rs.sets().iter().find(|s| s.name == "web").unwrap();
    assert_eq!(web_set.key, vec![DType::Ipv4, DType::InetService]);
    assert!(
        web_set.flags.is_empty(),
        "`dynamic` is not kept: {:?}",
        web_set.flags
    );
    assert_eq!(
        r.rs.chain_rules(0)[3].text,
        "tcp dport 80 add @web { ip saddr . tcp dport limit rate over 1/minute burst 1 packets } counter drop"
    );

    // static elements with statements: lookups run them (nft_lookup_eval)
    let mut r = Run::new(
        "table ip t {
            set s {
                type ipv4_addr
                elements = { 1.1.1.1 limit rate 1/second burst 1 packets, 2.2.2.2 counter }
            }
            map mm { type ipv4_addr : mark; flags dynamic; }
            chain fw {
                type filter hook forward priority 0; policy accept;
                ip saddr @s counter
                update @mm { ip saddr : meta mark }
                meta mark set ip saddr map @mm counter
            }
        }",
    );
    let p = |src: &str| P::v4(src, "9.9.9.9").udp(1, 2);
    for t in 0..3 {
        at(&mut r, p("1.1.1.1"), t);
        at(&mut r, p("2.2.2.2"), t);
    }
    assert_eq!(
        r.count("fw", 0).0,
        4,
        "1.1.1.1 once (limit), 2.2.2.2 three times"
    );
    // dynamic map data: the element stores the value of its first update
    let mut c = r.ctx(p("3.3.3.3"), Hook::Forward, None, None, ct(NEW), 0);
    c.mark = 0x42;
    r.hook(&mut NullHost, &mut c);
    let mut c = r.ctx(p("3.3.3.3"), Hook::Forward, None, None, ct(NEW), 1);
    c.mark = 0x7;
    r.hook(&mut NullHost, &mut c);
    assert_eq!(c.mark, 0x42, "map lookup returns the stored mark");
    assert_eq!(r.count("fw", 2).0, 8);

    for (bad, want) in [
        (
            "table ip t { set s { type ipv4_addr; flags dynamic; }
              chain c { add @s { ip saddr counter limit rate 1/second quota 10 bytes } } }",
            "at most 2",
        ),
        (
            "table ip t { set s { type ipv4_addr; flags dynamic; }
              chain c { add @s { ip saddr counter } accept } }",
            "",
        ),
    ] {
        let r = Ruleset::from_str(bad, "bad.nft", &LoadOptions::default());
        match r {
            Err(e) => assert!(!want.is_empty() && e.to_string().contains(want), "{e}"),
            Ok(_) => assert!(want.is_empty(), "{bad} loaded"),
        }
    }
}

/// `queue`: no userspace listener in the simulation, so the packet is dropped as the kernel
/// drops it (`nf_queue` → `-ESRCH`), unless `bypass` lets the hook continue (the base chain
/// accepts); the number may come from an expression.
#[test]
fn queue_verdicts() {
    let mut r = Run::new(
        "table inet f { chain fw { type filter hook forward priority 0; policy drop;
            tcp dport 22 queue flags bypass to 3
            tcp dport 80 queue to symhash mod 2 offset 7
            tcp dport 81 queue to tcp sport map { 1 : 9 }
            queue num 4-5 fanout
        } }",
    );
    let t = |d| P::v4("1.1.1.1", "2.2.2.2").tcp(1, d, tcp_flags::SYN);
    assert_eq!(r.simple(t(22), ct(NEW)), Verdict::Accept);
    assert!(matches!(r.simple(t(80), ct(NEW)), Verdict::Queue(7 | 8)));
    assert_eq!(r.simple(t(81), ct(NEW)), Verdict::Queue(9));
    assert_eq!(r.simple(t(82), ct(NEW)), Verdict::Queue(4));
    assert_eq!(r.count("fw", 0).0, 1);
    for (bad, want) in [
        ("queue num symhash mod 2", "expecting a queue number"),
        ("queue to symhash mod 2 offset 65535", "exceeds 65535"),
        ("queue flags fanout to symhash mod 2", "fanout"),
        ("queue to oif", "queue number must be"),
        ("queue num 65536", "could not parse \"65536\" as integer"),
    ] {
        let text = format!("table ip t {{ chain c {{ {bad} }} }}");
        let e = Ruleset::from_str(&text, "q.nft", &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains(want), "{bad}: {e}");
    }
}

/// `ct timeout` objects and `ct timeout set` (the host attaches the policy), and secmark
/// statements (no effect on anything simulated; reading secmarks is rejected).
#[test]
fn ct_timeout_objects_and_secmark_statements() {
    #[derive(Default)]
    struct Rec(Vec<u32>);
    impl Host for Rec {
        fn ct_timeout(&mut self, obj: u32, _ctx: &mut PktCtx) {
            self.0.push(obj);
        }
    }
    let mut r = Run::new(
        "table inet f {
            ct timeout agg { protocol tcp; l3proto ip; policy = { established : 2m3s, close : 12s } }
            ct timeout dns { protocol udp; policy = { replied : 5, unreplied : 3 } }
            secmark ssh { \"system_u:object_r:ssh_server_packet_t:s0\" }
            chain pre { type filter hook prerouting priority 0;
                tcp dport 22 ct timeout set \"agg\"
                ct timeout set udp dport map { 53 : \"dns\" }
                tcp dport 22 ct state new meta secmark set \"ssh\"
                ct state new ct secmark set meta secmark
                ct state established meta secmark set ct secmark counter
            }
        }",
    );
    let o = &r.rs.objects()[0];
    assert_eq!(o.kind, "ct timeout");
    let t = o.ct_timeout.as_ref().unwrap();
    assert_eq!(t.protocol, 6);
    assert_eq!(t.l3proto, Some(Family::Ip));
    assert_eq!(
        t.policy,
        vec![("close".to_string(), 12), ("established".to_string(), 123)]
    );
    let mut h = Rec::default();
    let mut c = r.ctx(
        P::v4("1.1.1.1", "2.2.2.2").tcp(1, 22, tcp_flags::SYN),
        Hook::Prerouting,
        Some("lan0"),
        None,
        ct(NEW),
        0,
    );
    assert_eq!(r.hook(&mut h, &mut c), Verdict::Accept);
    let mut c = r.ctx(
        P::v4("1.1.1.1", "2.2.2.2").udp(1, 53),
        Hook::Prerouting,
        Some("lan0"),
        None,
        ct(EST),
        0,
    );
    r.hook(&mut h, &mut c);
    assert_eq!(h.0, vec![0, 1]);
    assert_eq!(r.count("pre", 2).0, 1, "secmark set: implicit counter");
    assert_eq!(r.count("pre", 4).0, 1);
    util::assert_rejected(&[
        (
            "table ip t { ct timeout x { protocol udp; policy = { syn_sent : 1 } } }",
            "unknown state syn_sent",
        ),
        (
            "table ip t { chain c { ct timeout set \"nope\" } }",
            "ct timeout 'nope' does not exist",
        ),
        (
            "table ip t { chain c { meta secmark 1 accept } }",
            "bad.nft:1:24: Error: unsupported: meta secmark",
        ),
        (
            "table ip t { chain c { meta secmark set 1 } }",
            "secmark '1' does not exist",
        ),
    ]);
}

/// `fwd to DEV` steals the packet in a netdev chain and sends it out of DEV; nft allows it
/// only in the netdev family and after it nothing runs.
#[test]
fn fwd_to_device_in_netdev_chains() {
    let rs = util::load(
        "table netdev n { chain i { type filter hook ingress device lan0 priority 0;
            udp dport 53 counter fwd to \"wan0\"
            counter
        } }",
        "t.nft",
    );
    let mut st = RuleState::new(&rs, 1);
    let chain = rs.netdev_chains(Hook::Ingress, "lan0")[0];
    let wan = rs.device_index("wan0").unwrap();
    let mut cost = EvalCost::default();
    let mut go = |p: P| {
        let mut c = PktCtx::new(p.0, Hook::Ingress, SimTime(0));
        eval_chain(&rs, &mut st, chain, &mut c, &mut NullHost, &mut cost)
    };
    assert_eq!(
        go(P::v4("10.0.0.1", "10.0.0.2").udp(1, 53)),
        Verdict::Fwd(wan)
    );
    assert_eq!(
        go(P::v4("10.0.0.1", "10.0.0.2").udp(1, 54)),
        Verdict::Accept
    );
    let texts: Vec<String> = rs.rules().iter().map(|r| r.text.clone()).collect();
    assert!(texts[0].ends_with("fwd to \"wan0\""), "{texts:?}");
    for (bad, want) in [
        (
            "table inet f { chain c { type filter hook forward priority 0; fwd to \"lo\"; } }",
            "unsupported family",
        ),
        (
            "table netdev n { chain i { type filter hook ingress device lo priority 0; fwd to \"lo\" counter; } }",
            "after terminal statement",
        ),
    ] {
        let e = Ruleset::from_str(bad, "t.nft", &LoadOptions::default())
            .err()
            .unwrap_or_else(|| panic!("accepted: {bad}"))
            .to_string();
        assert!(e.contains(want) && e.contains("t.nft:1:"), "{e}");
    }
    // nft -j: {"fwd": {"dev": "wan0"}}.
    let j = r#"{"nftables": [{"table": {"family": "netdev", "name": "n"}},
        {"chain": {"family": "netdev", "table": "n", "name": "i", "type": "filter", "hook": "ingress", "dev": "lan0", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "netdev", "table": "n", "chain": "i", "expr": [{"fwd": {"dev": "wan0"}}]}}]}"#;
    let rj = util::load(j, "t.json");
    assert_eq!(rj.rules()[0].text, "fwd to \"wan0\"");
}
