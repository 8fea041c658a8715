//! Real rulesets with hand-derived expectations: OpenWrt's fw4 forward path, kube-proxy's
//! service dispatch, libvirt's inserted rules.

use super::*;

#[test]
fn openwrt_fw4_forward_path() {
    let Ok(text) = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/nft-corpus/realworld/openwrt-fw4_01_default_ruleset.nft"
    )) else {
        eprintln!("corpus absent; skipping");
        return;
    };
    let mut r = Run::new(&text);
    assert_eq!(r.rs.flowtables().len(), 1);
    assert!(r.rs.flowtables()[0].offload);
    let mut h = FtHost {
        created: 0,
        nat: Vec::new(),
    };
    let fwd = r.rs.chain_id(Family::Inet, "fw4", "forward").unwrap();
    let run = |r: &mut Run, h: &mut FtHost, p: P, iif: &str, oif: &str, s: u32| {
        let mut c = r.ctx(p, Hook::Forward, Some(iif), Some(oif), ct(s), 0);
        eval_chain(&r.rs, &mut r.st, fwd, &mut c, h, &mut EvalCost::default())
    };
    // 1. new TCP from lan to wan: flow add breaks (not established), vmap misses,
    //    jump forward_lan → accept_to_wan → `oifname "pppoe-wan" counter accept`
    let v = run(
        &mut r,
        &mut h,
        P::v4("192.168.1.10", "8.8.8.8").tcp(40000, 443, tcp_flags::SYN),
        "br-lan",
        "pppoe-wan",
        NEW,
    );
    assert_eq!(v, Verdict::Accept);
    assert_eq!(r.count("forward", 0).0, 0);
    // the implicit counter stands before the vmap (a terminal statement), as the oracle's
    // add-counters.sh places it: it counts the packet although the vmap misses
    assert_eq!(r.count("forward", 1).0, 1);
    assert_eq!(r.count("forward", 2).0, 1);
    assert_eq!(r.count("accept_to_wan", 1).0, 1);
    // 2. established: flow add creates the entry (rule continues to its end), vmap accepts
    let v = run(
        &mut r,
        &mut h,
        P::v4("192.168.1.10", "8.8.8.8").tcp(40000, 443, tcp_flags::ACK),
        "br-lan",
        "pppoe-wan",
        EST,
    );
    assert_eq!(v, Verdict::Accept);
    assert_eq!(h.created, 1);
    assert_eq!(r.count("forward", 0).0, 1);
    assert_eq!(r.count("forward", 1).0, 2);
    // 3. new UDP 500 from wan: forward_wan `udp dport 500 counter jump accept_to_lan`
    let v = run(
        &mut r,
        &mut h,
        P::v4("8.8.8.8", "192.168.1.10").udp(500, 500),
        "pppoe-wan",
        "br-lan",
        NEW,
    );
    assert_eq!(v, Verdict::Accept);
    assert_eq!(r.count("forward_wan", 3).0, 1);
    assert_eq!(r.count("accept_to_lan", 0).0, 1);
    // 4. new TCP 22 from wan: reject_to_wan does not match (oif br-lan), back in forward,
    //    `jump handle_reject` → `meta l4proto tcp reject with tcp reset`
    let v = run(
        &mut r,
        &mut h,
        P::v4("8.8.8.8", "192.168.1.10").tcp(5555, 22, tcp_flags::SYN),
        "pppoe-wan",
        "br-lan",
        NEW,
    );
    assert_eq!(v, Verdict::Drop(DropReason::Reject));
    assert_eq!(r.count("handle_reject", 0).0, 1);
    assert_eq!(r.count("forward", 4).0, 1);
    // 5. srcnat: masquerade IPv4 towards wan is a terminal NAT statement
    let srcnat = r.rs.chain_id(Family::Inet, "fw4", "srcnat").unwrap();
    let mut c = r.ctx(
        P::v4("192.168.1.10", "8.8.8.8").tcp(40000, 443, 2),
        Hook::Postrouting,
        None,
        Some("pppoe-wan"),
        ct(NEW),
        0,
    );
    let v = eval_chain(
        &r.rs,
        &mut r.st,
        srcnat,
        &mut c,
        &mut h,
        &mut EvalCost::default(),
    );
    assert_eq!(v, Verdict::Accept);
    assert_eq!(h.nat.len(), 1);
    assert_eq!(h.nat[0].kind, NatKind::Masquerade);
    assert_eq!(h.nat[0].family, 4);
    // IPv6 towards wan is not masqueraded
    let mut c = r.ctx(
        P::v6("2001:db8::1", "2001:db8:1::1").tcp(1, 443, 2),
        Hook::Postrouting,
        None,
        Some("pppoe-wan"),
        ct(NEW),
        0,
    );
    eval_chain(
        &r.rs,
        &mut r.st,
        srcnat,
        &mut c,
        &mut h,
        &mut EvalCost::default(),
    );
    assert_eq!(h.nat.len(), 1);
}

#[test]
fn kube_proxy_service_dispatch() {
    let Ok(text) = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/nft-corpus/realworld/kube-proxy_nftables_overall_ipv4.nft"
    )) else {
        eprintln!("corpus absent; skipping");
        return;
    };
    let mut r = Run::new(&text);
    let mut h = FtHost {
        created: 0,
        nat: Vec::new(),
    };
    let pre =
        r.rs.chain_id(Family::Ip, "kube-proxy", "nat-prerouting")
            .unwrap();
    // ClusterIP 172.30.0.41:80/tcp → service ns1/svc1 → endpoint 10.180.0.1:80 (numgen mod 1)
    let mut c = r.ctx(
        P::v4("10.0.1.5", "172.30.0.41").tcp(33333, 80, 2),
        Hook::Prerouting,
        Some("eth0"),
        None,
        ct(NEW),
        0,
    );
    let v = eval_chain(
        &r.rs,
        &mut r.st,
        pre,
        &mut c,
        &mut h,
        &mut EvalCost::default(),
    );
    assert_eq!(v, Verdict::Accept);
    assert_eq!(h.nat.len(), 1);
    assert_eq!(h.nat[0].kind, NatKind::Dnat);
    assert_eq!(h.nat[0].addr, Some((0x0ab4_0001, 0x0ab4_0001)));
    assert_eq!(h.nat[0].port, Some((80, 80)));
    // source outside 10/8: marked for masquerade first
    assert_eq!(
        c.mark & 0x4000,
        0,
        "10.0.1.5 is inside 10.0.0.0/8: no masquerade mark"
    );
    let mut c = r.ctx(
        P::v4("203.0.113.5", "172.30.0.41").tcp(33333, 80, 2),
        Hook::Prerouting,
        Some("eth0"),
        None,
        ct(NEW),
        0,
    );
    eval_chain(
        &r.rs,
        &mut r.st,
        pre,
        &mut c,
        &mut h,
        &mut EvalCost::default(),
    );
    assert_eq!(c.mark & 0x4000, 0x4000);
}

#[test]
fn libvirt_insert_reverses_order() {
    let Ok(text) = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/nft-corpus/realworld/libvirt_network_nat-ipv6-masquerade_commands.nft"
    )) else {
        eprintln!("corpus absent; skipping");
        return;
    };
    let r = Run::new(&text);
    let fwd =
        r.rs.chain_id(Family::Ip, "libvirt_network", "forward")
            .unwrap();
    let texts: Vec<&str> =
        r.rs.chain_rules(fwd)
            .iter()
            .map(|x| x.text.as_str())
            .collect();
    assert_eq!(
        texts,
        [
            "counter jump guest_cross",
            "counter jump guest_input",
            "counter jump guest_output"
        ]
    );
}
