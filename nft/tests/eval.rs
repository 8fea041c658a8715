//! Evaluation tests with synthetic packets: counting semantics, verdicts, sets, maps,
//! limits, quotas, flow add, NAT and real rulesets (fw4, kube-proxy, libvirt) with
//! hand-derived expectations.

use offsim_nft::ast::{Family, Hook, NatKind};
use offsim_nft::types::DType;
use offsim_nft::{
    CtInfo, CtView, DropReason, EvalCost, FlowtableId, Host, Iface, LoadOptions, NatRequest,
    NullHost, PktCtx, RuleState, Ruleset, SetBackend, Verdict, eval_chain,
};
use offsim_traces::meta::{NetKind, PacketMeta, flags, proto, tcp_flags};
use offsim_traces::time::SimTime;

use crate::util;

/// Builder for test packets.
#[derive(Clone, Copy)]
struct P(PacketMeta);

impl P {
    fn v4(src: &str, dst: &str) -> P {
        let mut m = PacketMeta {
            net: NetKind::Ipv4,
            ip_version: 4,
            src: u32::from(src.parse::<std::net::Ipv4Addr>().unwrap()) as u128,
            dst: u32::from(dst.parse::<std::net::Ipv4Addr>().unwrap()) as u128,
            ip_len: 60,
            ttl: 64,
            ..Default::default()
        };
        m.ip_hdr_len = 20;
        P(m)
    }
    fn v6(src: &str, dst: &str) -> P {
        P(PacketMeta {
            net: NetKind::Ipv6,
            ip_version: 6,
            src: u128::from(src.parse::<std::net::Ipv6Addr>().unwrap()),
            dst: u128::from(dst.parse::<std::net::Ipv6Addr>().unwrap()),
            ip_len: 80,
            ttl: 64,
            ..Default::default()
        })
    }
    fn tcp(mut self, sport: u16, dport: u16, fl: u8) -> P {
        self.0.l4proto = proto::TCP;
        self.0.ip_proto_field = proto::TCP;
        self.0.sport = sport;
        self.0.dport = dport;
        self.0.tcp_flags = fl;
        self.0.tcp_hdr_len = 20;
        self.0.flags |= flags::L4_PRESENT;
        self
    }
    fn udp(mut self, sport: u16, dport: u16) -> P {
        self.0.l4proto = proto::UDP;
        self.0.ip_proto_field = proto::UDP;
        self.0.sport = sport;
        self.0.dport = dport;
        self.0.flags |= flags::L4_PRESENT;
        self
    }
    fn icmp(mut self, ty: u8, code: u8) -> P {
        self.0.l4proto = proto::ICMP;
        self.0.ip_proto_field = proto::ICMP;
        self.0.icmp_type = ty;
        self.0.icmp_code = code;
        self.0.flags |= flags::L4_PRESENT;
        self
    }
    fn len(mut self, l: u32) -> P {
        self.0.ip_len = l;
        self
    }
}

fn ct(state: u32) -> CtView {
    CtView::Tracked(CtInfo {
        state,
        l3proto: 2,
        ..Default::default()
    })
}

const NEW: u32 = 8;
const EST: u32 = 2;

struct Run {
    rs: Ruleset,
    st: RuleState,
}

impl Run {
    fn new(text: &str) -> Run {
        let rs = util::load(text, "test.nft");
        let st = RuleState::new(&rs, 7);
        Run { rs, st }
    }
    fn ctx(
        &self,
        p: P,
        hook: Hook,
        iif: Option<&str>,
        oif: Option<&str>,
        ctv: CtView,
        t: u64,
    ) -> PktCtx {
        let mut c = PktCtx::new(p.0, hook, SimTime(t));
        c.iif = iif.map(|n| Iface::new(self.rs.device_index(n).unwrap_or(0), n));
        c.oif = oif.map(|n| Iface::new(self.rs.device_index(n).unwrap_or(0), n));
        c.ct = ctv;
        c
    }
    /// Runs all base chains of `hook` (stopping at a drop) like the hook driver would.
    fn hook(&mut self, host: &mut impl Host, ctx: &mut PktCtx) -> Verdict {
        let mut cost = EvalCost::default();
        for c in self.rs.base_chains(ctx.hook, ctx.l3) {
            let v = eval_chain(&self.rs, &mut self.st, c, ctx, host, &mut cost);
            if v != Verdict::Accept {
                return v;
            }
        }
        Verdict::Accept
    }
    fn simple(&mut self, p: P, ctv: CtView) -> Verdict {
        let mut c = self.ctx(p, Hook::Forward, Some("lan0"), Some("wan0"), ctv, 0);
        self.hook(&mut NullHost, &mut c)
    }
    fn count(&self, chain: &str, idx: usize) -> (u64, u64) {
        let cid = self
            .rs
            .chains()
            .iter()
            .find(|c| c.name == chain)
            .unwrap_or_else(|| panic!("no chain {chain}"))
            .id;
        let r = &self.rs.chain_rules(cid)[idx];
        let c = self.rs.rule_counter(&self.st, r.id);
        (c.packets, c.bytes)
    }
    fn policy(&self, chain: &str) -> (u64, u64) {
        let c = self.rs.chains().iter().find(|c| c.name == chain).unwrap();
        let p = self.st.policy[c.id as usize].fallthrough;
        (p.packets, p.bytes)
    }
}

#[test]
fn counters_implicit_and_policy() {
    let mut r = Run::new(
        "table inet f {
            chain fw {
                type filter hook forward priority 0; policy drop;
                counter tcp dport 22 accept
                tcp dport 80 accept
                udp dport 53 counter
            }
        }",
    );
    assert_eq!(
        r.simple(
            P::v4("10.0.0.1", "10.0.0.2")
                .tcp(1, 22, tcp_flags::SYN)
                .len(100),
            ct(NEW)
        ),
        Verdict::Accept
    );
    assert_eq!(
        r.simple(
            P::v4("10.0.0.1", "10.0.0.2")
                .tcp(1, 80, tcp_flags::SYN)
                .len(40),
            ct(NEW)
        ),
        Verdict::Accept
    );
    assert_eq!(
        r.simple(P::v4("10.0.0.1", "10.0.0.2").udp(1, 53).len(70), ct(NEW)),
        Verdict::Drop(DropReason::Policy)
    );
    // counter before a failing match already ran: all three packets counted on rule 0
    assert_eq!(r.count("fw", 0), (3, 210));
    // implicit counter: only the packet that reached the verdict
    assert_eq!(r.count("fw", 1), (1, 40));
    assert_eq!(r.count("fw", 2), (1, 70));
    assert_eq!(r.policy("fw"), (1, 70));
}

#[test]
fn missing_header_never_matches_even_with_ne() {
    let mut r = Run::new(
        "table ip f { chain fw { type filter hook forward priority 0; policy accept;
            tcp dport != 22 drop
            th dport 53 counter
        } }",
    );
    let v = r.simple(P::v4("1.1.1.1", "2.2.2.2").udp(9, 53), ct(NEW));
    assert_eq!(v, Verdict::Accept, "UDP must not match tcp dport != 22");
    assert_eq!(r.count("fw", 1), (1, 60));
    let mut frag = P::v4("1.1.1.1", "2.2.2.2").udp(9, 53);
    frag.0.flags &= !flags::L4_PRESENT;
    frag.0.flags |= flags::FRAGMENT;
    assert_eq!(r.simple(frag, ct(NEW)), Verdict::Accept);
    assert_eq!(
        r.count("fw", 1),
        (1, 60),
        "no transport header: th does not match"
    );
}

#[test]
fn tcp_flags_and_ct_state_semantics() {
    let mut r = Run::new(
        "table inet f { chain fw { type filter hook forward priority 0; policy accept;
            tcp flags syn counter
            tcp flags == syn counter
            tcp flags syn / syn,ack counter
            tcp flags ! fin,rst counter
            tcp flags & (fin | syn | rst | ack) == syn counter
            ct state established,related counter
            ct state != established counter
            ct state invalid counter
        } }",
    );
    r.simple(
        P::v4("1.1.1.1", "2.2.2.2").tcp(1, 2, tcp_flags::SYN | tcp_flags::ACK),
        ct(EST),
    );
    // syn+ack: any-of syn yes; == syn no; syn/(syn,ack) no; !fin,rst yes; masked == syn no
    assert_eq!(r.count("fw", 0).0, 1);
    assert_eq!(r.count("fw", 1).0, 0);
    assert_eq!(r.count("fw", 2).0, 0);
    assert_eq!(r.count("fw", 3).0, 1);
    assert_eq!(r.count("fw", 4).0, 0);
    assert_eq!(r.count("fw", 5).0, 1);
    assert_eq!(r.count("fw", 6).0, 0);
    r.simple(
        P::v4("1.1.1.1", "2.2.2.2").tcp(1, 2, tcp_flags::SYN),
        CtView::None,
    );
    // bare syn, no conntrack entry: ct state is invalid
    assert_eq!(r.count("fw", 1).0, 1);
    assert_eq!(r.count("fw", 2).0, 1);
    assert_eq!(r.count("fw", 4).0, 1);
    assert_eq!(r.count("fw", 6).0, 1);
    assert_eq!(r.count("fw", 7).0, 1);
}

#[test]
fn jumps_goto_return_and_load_checks() {
    let mut r = Run::new(
        "table ip f {
            chain fw { type filter hook forward priority 0; policy drop;
                jump a
                ip saddr 1.1.1.1 goto b
                accept
            }
            chain a { ip saddr 9.9.9.9 return
                      ip daddr 2.2.2.2 counter }
            chain b { counter }
        }",
    );
    // jump a → counter in a → falls off a → back to fwd → rule 1 goto b → end of b → policy
    let v = r.simple(P::v4("1.1.1.1", "2.2.2.2").udp(1, 1), ct(NEW));
    assert_eq!(v, Verdict::Drop(DropReason::Policy));
    assert_eq!(r.count("a", 1).0, 1);
    assert_eq!(r.count("b", 0).0, 1);
    assert_eq!(
        r.policy("fw").0,
        0,
        "goto end is not a fall-through of the base chain"
    );
    let v = r.simple(P::v4("9.9.9.9", "2.2.2.2").udp(1, 1), ct(NEW));
    assert_eq!(v, Verdict::Accept);
    assert_eq!(r.count("fw", 2).0, 1);

    // loops and 16-deep nesting are rejected at load
    let e = Ruleset::from_str(
        "table ip t { chain a { jump b } chain b { jump a } }",
        "loop.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("loop"), "{e}");
    let mut deep =
        String::from("table ip t {\n chain base { type filter hook input priority 0; jump c1 }\n");
    for i in 1..=16 {
        if i < 16 {
            deep.push_str(&format!(" chain c{i} {{ jump c{} }}\n", i + 1));
        } else {
            deep.push_str(&format!(" chain c{i} {{ accept }}\n"));
        }
    }
    deep.push_str("}\n");
    assert!(Ruleset::from_str(&deep, "deep.nft", &LoadOptions::default()).is_err());
}

#[test]
fn sets_maps_and_concatenations() {
    let mut r = Run::new(
        "table ip f {
            set blk { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.1-192.168.1.9 } }
            map svc { type ipv4_addr . inet_proto . inet_service : verdict;
                      elements = { 172.30.0.1 . tcp . 80 : jump web, 172.30.0.2 . udp . 53 : drop } }
            chain fw { type filter hook forward priority 0; policy accept;
                ip saddr @blk counter drop
                ip daddr . meta l4proto . th dport vmap @svc
                tcp dport { 22, 2000-3000 } counter
                ip daddr != { 8.8.8.8, 1.1.1.1 } counter
            }
            chain web { counter accept }
        }",
    );
    assert_eq!(
        r.simple(P::v4("10.9.9.9", "1.1.1.1").udp(1, 1), ct(NEW)),
        Verdict::Drop(DropReason::Rule)
    );
    assert_eq!(
        r.simple(P::v4("192.168.1.5", "1.1.1.1").udp(1, 1), ct(NEW)),
        Verdict::Drop(DropReason::Rule)
    );
    assert_eq!(r.count("fw", 0).0, 2);
    assert_eq!(
        r.simple(P::v4("192.168.1.10", "172.30.0.1").tcp(5, 80, 2), ct(NEW)),
        Verdict::Accept
    );
    assert_eq!(r.count("web", 0).0, 1);
    assert_eq!(
        r.simple(P::v4("192.168.1.10", "172.30.0.2").udp(5, 53), ct(NEW)),
        Verdict::Drop(DropReason::Rule)
    );
    assert_eq!(
        r.simple(P::v4("192.168.1.10", "172.30.0.2").tcp(5, 2500, 2), ct(NEW)),
        Verdict::Accept
    );
    assert_eq!(r.count("fw", 2).0, 1);
    assert_eq!(r.count("fw", 3).0, 1);
    let mut cost = EvalCost::default();
    let mut c = r.ctx(
        P::v4("192.168.1.10", "8.8.8.8").tcp(5, 22, 2),
        Hook::Forward,
        None,
        None,
        ct(NEW),
        0,
    );
    let ch = r.rs.base_chains(Hook::Forward, 4)[0];
    eval_chain(&r.rs, &mut r.st, ch, &mut c, &mut NullHost, &mut cost);
    assert_eq!(r.count("fw", 3).0, 1, "8.8.8.8 is in the negated set");
    assert_eq!(cost.rules, 4);
    let n = |b: SetBackend| cost.lookups[b.index()];
    assert_eq!(n(SetBackend::Rbtree), 2, "blk and the port interval set");
    assert_eq!(n(SetBackend::Rhash), 1, "svc: a named map without a size");
    assert_eq!(n(SetBackend::HashFast), 1, "the anonymous address set");
}

#[test]
fn exact_sets_answer_alike_on_both_sides_of_the_short_list() {
    // Up to 8 exact elements are compared one by one, more are hashed (`CSet::find`):
    // every size from 1 to 12, with a concatenated key and a repeated element, finds each
    // member (the map's verdict for it) and no other key.
    for n in 1..=12u16 {
        let elems: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "10.0.0.{} . {} : {}",
                    i + 1,
                    1000 + i,
                    if i % 2 == 0 { "drop" } else { "accept" }
                )
            })
            .collect();
        let text = format!(
            "table ip f {{
                chain fw {{ type filter hook forward priority 0; policy accept;
                    ip saddr . tcp dport vmap {{ {} , 10.0.0.1 . 1000 : drop }}
                    counter
                }}
            }}",
            elems.join(", ")
        );
        let mut r = Run::new(&text);
        for i in 0..n {
            let src = format!("10.0.0.{}", i + 1);
            let want = if i % 2 == 0 {
                Verdict::Drop(DropReason::Rule)
            } else {
                Verdict::Accept
            };
            assert_eq!(
                r.simple(P::v4(&src, "1.1.1.1").tcp(5, 1000 + i, 2), ct(NEW)),
                want,
                "{n} elements, member {i}"
            );
        }
        let before = r.count("fw", 1).0;
        for (src, port) in [("10.0.0.1", 999), ("10.0.0.2", 1000), ("10.0.0.99", 1000)] {
            assert_eq!(
                r.simple(P::v4(src, "1.1.1.1").tcp(5, port, 2), ct(NEW)),
                Verdict::Accept
            );
        }
        assert_eq!(
            r.count("fw", 1).0,
            before + 3,
            "{n} elements: absent keys fall through"
        );
    }
}

#[test]
fn interface_names_and_wildcards() {
    let mut r = Run::new(
        "table inet f { chain fw { type filter hook forward priority 0; policy accept;
            iifname \"eth*\" counter
            iifname { \"lan0\", \"br-*\" } counter
            oifname != \"wan0\" counter
            iif \"lan0\" counter
        } }",
    );
    let mut c = r.ctx(
        P::v4("1.1.1.1", "2.2.2.2").udp(1, 1),
        Hook::Forward,
        Some("eth1"),
        Some("wan0"),
        ct(NEW),
        0,
    );
    r.hook(&mut NullHost, &mut c);
    let mut c = r.ctx(
        P::v4("1.1.1.1", "2.2.2.2").udp(1, 1),
        Hook::Forward,
        Some("br-lan"),
        Some("wan1"),
        ct(NEW),
        0,
    );
    r.hook(&mut NullHost, &mut c);
    let mut c = r.ctx(
        P::v4("1.1.1.1", "2.2.2.2").udp(1, 1),
        Hook::Forward,
        Some("lan0"),
        Some("wan0"),
        ct(NEW),
        0,
    );
    r.hook(&mut NullHost, &mut c);
    assert_eq!(r.count("fw", 0).0, 1);
    assert_eq!(r.count("fw", 1).0, 2);
    assert_eq!(r.count("fw", 2).0, 1);
    assert_eq!(r.count("fw", 3).0, 1);
}

#[test]
fn limit_token_bucket_and_quota() {
    let mut r = Run::new(
        "table ip f { chain fw { type filter hook forward priority 0; policy accept;
            limit rate 2/second counter
            quota 150 bytes counter
            quota over 150 bytes counter
        } }",
    );
    // burst 5: five packets at t=0 pass, the sixth does not
    for _ in 0..6 {
        let mut c = r.ctx(
            P::v4("1.1.1.1", "2.2.2.2").udp(1, 1).len(50),
            Hook::Forward,
            None,
            None,
            ct(NEW),
            0,
        );
        r.hook(&mut NullHost, &mut c);
    }
    assert_eq!(r.count("fw", 0).0, 5);
    // 0.5 s later one token (rate 2/s) has accrued
    let mut c = r.ctx(
        P::v4("1.1.1.1", "2.2.2.2").udp(1, 1).len(50),
        Hook::Forward,
        None,
        None,
        ct(NEW),
        500_000_000,
    );
    r.hook(&mut NullHost, &mut c);
    assert_eq!(r.count("fw", 0).0, 6);
    // quota: consumed >= 150 → over; 50, 100 pass, 150 is over
    assert_eq!(r.count("fw", 1).0, 2);
    assert_eq!(r.count("fw", 2).0, 5);
}

#[derive(Default)]
struct FtHost {
    created: u32,
    nat: Vec<NatRequest>,
}
impl Host for FtHost {
    fn flow_add(&mut self, _ft: FlowtableId, ctx: &PktCtx) -> bool {
        if matches!(ctx.ct, CtView::Tracked(c) if c.state == EST) {
            self.created += 1;
            true
        } else {
            false
        }
    }
    fn nat(&mut self, req: &NatRequest, _ctx: &mut PktCtx) -> Verdict {
        self.nat.push(*req);
        Verdict::Accept
    }
}

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

#[test]
fn errors_are_positioned() {
    let e = Ruleset::from_str(
        "table ip t {\n\tchain c {\n\t\ttcp dport 22 udp sport 53 accept\n\t}\n}\n",
        "x.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert_eq!((e.line, e.col), (3, 16), "{e}");
    assert!(e.msg.contains("conflicting protocols"), "{e}");
    let mut r = Run::new(
        "table ip t { chain c { type filter hook forward priority 0; icmp type echo-request counter } }",
    );
    r.simple(P::v4("1.1.1.1", "2.2.2.2").icmp(8, 0), ct(NEW));
    r.simple(P::v4("1.1.1.1", "2.2.2.2").icmp(0, 0), ct(NEW));
    assert_eq!(r.count("c", 0).0, 1);
    let e = Ruleset::from_str(
        "table ip t { chain c { ip6 saddr ::1 } }",
        "y.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.msg.contains("conflicting protocols"), "{e}");
    let e = Ruleset::from_str(
        "table ip t { chain c { meta cpu 1 } }",
        "z.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(
        e.to_string()
            .starts_with("z.nft:1:24: Error: unsupported: meta cpu"),
        "{e}"
    );
}

/// Chain bindings (`jump { ... }`, `goto { ... }`): the anonymous chain is a regular chain
/// named as the kernel names it (`__chainN`) and the verdict is a jump (goto) to it.
#[test]
fn chain_bindings_jump_and_goto() {
    let mut r = Run::new(
        "table inet x {
            chain y {
                type filter hook forward priority filter; policy drop;
                meta l4proto { tcp, udp } th dport 53 jump {
                    ip saddr { 127.0.0.0/8, 192.168.13.0/24 } counter accept
                    ip6 saddr ::1 counter accept
                    counter
                }
                udp dport 54 goto {
                    ip saddr 10.0.0.0/8 return
                    counter drop
                }
                counter
            }
        }",
    );
    let names: Vec<&str> = r.rs.chains().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["y", "__chain1", "__chain2"]);
    // matched inside the binding: accept ends the base chain
    let v = r.simple(P::v4("192.168.13.7", "1.1.1.1").udp(1000, 53), ct(NEW));
    assert_eq!(v, Verdict::Accept);
    assert_eq!(r.count("__chain1", 0), (1, 60));
    assert_eq!(r.count("y", 0), (1, 60), "implicit counter before the jump");
    // not matched inside: falls off the binding back into y
    let v = r.simple(P::v4("8.8.8.8", "1.1.1.1").udp(1000, 53), ct(NEW));
    assert_eq!(v, Verdict::Drop(DropReason::Policy));
    assert_eq!(r.count("__chain1", 2), (1, 60));
    assert_eq!(r.count("y", 2), (1, 60));
    // goto binding: `return` there returns from the base chain (policy)
    let v = r.simple(P::v4("10.1.1.1", "1.1.1.1").udp(1000, 54), ct(NEW));
    assert_eq!(v, Verdict::Drop(DropReason::Policy));
    assert_eq!(r.count("y", 2), (1, 60), "goto does not come back");
    let v = r.simple(P::v4("11.1.1.1", "1.1.1.1").udp(1000, 54), ct(NEW));
    assert_eq!(v, Verdict::Drop(DropReason::Rule));
    assert_eq!(r.count("__chain2", 1), (1, 60));
    // the same through `add rule`
    let rs = Ruleset::from_str(
        "table ip t { chain c { type filter hook input priority 0; } }
         add rule ip t c tcp dport 22 jump { ip saddr 1.1.1.1 counter accept; }",
        "cmd.nft",
        &LoadOptions::default(),
    )
    .unwrap();
    let names: Vec<&str> = rs.chains().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["c", "__chain1"]);
    assert_eq!(rs.chain_rules(0)[0].text, "tcp dport 22 jump __chain1");
    // the kernel refuses bindings in bound chains (EOPNOTSUPP)
    let e = Ruleset::from_str(
        "table ip t { chain c { jump { ip saddr 1.1.1.1 jump { accept } } } }",
        "nested.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("nested.nft:1:48"), "{e}");
    // a binding is not map data, and its generated name cannot be taken by another chain
    let e = Ruleset::from_str(
        "table ip t { chain c { ip saddr vmap { 1.1.1.1 : jump { accept } } } }",
        "vmap.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("vmap.nft:1:50"), "{e}");
    let e = Ruleset::from_str(
        "table ip t { chain c { jump { accept } } chain __chain1 { } }",
        "clash.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("chain binding"), "{e}");
}

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

/// `th sport`/`th dport` read the first four bytes of any transport header, as the kernel's
/// raw transport load does: on ICMP they are type/code and the checksum.
#[test]
fn th_reads_any_transport_header() {
    let mut r = Run::new(
        "table inet f { chain fw { type filter hook forward priority 0; policy accept;
            th dport != 22 counter
            th sport 0x0800 counter
        } }",
    );
    let mut echo = P::v4("1.1.1.1", "2.2.2.2").icmp(8, 0);
    echo.0.l4_head = 0x0800_1234;
    echo.0.flags |= flags::L4_HEAD;
    r.simple(echo, ct(NEW));
    assert_eq!(r.count("fw", 0).0, 1, "checksum 0x1234 != 22");
    assert_eq!(r.count("fw", 1).0, 1, "type 8 code 0");
    // without the captured header bytes there is nothing to read
    r.simple(P::v4("1.1.1.1", "2.2.2.2").icmp(8, 0), ct(NEW));
    assert_eq!(r.count("fw", 0).0, 1);
}

/// arp tables load (their hooks see only ARP packets, never the IP traffic the simulator
/// forwards); bridge tables load when they have no base chains.
#[test]
fn arp_and_bridge_tables() {
    let rs = Ruleset::from_str(
        "table arp a {
            set s { type inet_service; }
            chain in { type filter hook input priority filter; policy drop; meta mark 1 counter }
            chain out { type filter hook output priority 0; policy accept; }
        }
        table bridge b { set t { type ipv4_addr; } chain helper { counter } }
        table ip f { chain fw { type filter hook input priority 0; counter } }",
        "arp.nft",
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rs.summary().tables, 3);
    // only the ip chain runs for IPv4 input
    let ids = rs.base_chains(Hook::Input, 4);
    assert_eq!(ids.len(), 1);
    assert_eq!(rs.chains()[ids[0] as usize].family, Family::Ip);
    util::assert_rejected(&[
        (
            "table bridge b { chain c { type filter hook forward priority 0; } }",
            "bad.nft:1:18: Error: unsupported: base chains of family bridge",
        ),
        (
            "table arp a { chain c { type filter hook forward priority 0; } }",
            "hook forward is not valid in the arp family",
        ),
        (
            "table arp a { chain c { type nat hook input priority 0; } }",
            "chain type nat is not valid in arp",
        ),
    ]);
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

/// A mask after a shift (`meta mark >> 8 & 0xf`); shifted-out bits are lost at the width of
/// the selector.
#[test]
fn bitwise_after_shift() {
    let mut r = Run::new(
        "table ip t {
            map m { type mark : verdict; elements = { 0x2 : accept, 0x3 : drop } }
            chain fw { type filter hook forward priority 0; policy accept;
                meta mark >> 8 & 0xf vmap @m
                meta mark set meta mark << 8 | 0x1
            }
        }",
    );
    let run = |r: &mut Run, mark: u32| {
        let mut c = r.ctx(
            P::v4("1.1.1.1", "2.2.2.2").udp(1, 2),
            Hook::Forward,
            None,
            None,
            ct(NEW),
            0,
        );
        c.mark = mark;
        let v = r.hook(&mut NullHost, &mut c);
        (v, c.mark)
    };
    assert_eq!(run(&mut r, 0x1234).0, Verdict::Accept);
    assert_eq!(run(&mut r, 0x00f0_f300).0, Verdict::Drop(DropReason::Rule));
    assert_eq!(run(&mut r, 0x1234_5f00), (Verdict::Accept, 0x345f_0001));
    let e = Ruleset::from_str(
        "table ip t { chain c { meta mark set meta mark >> 8 << 2 } }",
        "two.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("two.nft:1:24: Error: unsupported: a second shift"),
        "{e}"
    );
}

/// Concatenations of more than four fields (up to the kernel's 64-byte key): exact and
/// interval elements, dynamic updates, maps.
#[test]
fn wide_concatenations() {
    let mut r = Run::new(
        "table ip t {
            set five { type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
                       elements = { 1.1.1.1 . 2.2.2.2 . udp . 1000 . 53 } }
            set ranges { type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service; flags interval
                       elements = { 10.0.0.0/8 . 2.2.2.0-2.2.2.9 . tcp . 1-1024 . 80 } }
            set seen { type ipv4_addr . inet_service . ifname . ipv4_addr . inet_service; flags dynamic; }
            chain fw { type filter hook forward priority 0; policy accept;
                ip saddr . ip daddr . meta l4proto . th sport . th dport @five counter
                ip saddr . ip daddr . meta l4proto . th sport . th dport @ranges counter
                update @seen { ip saddr . th sport . iifname . ip daddr . th dport limit rate over 1/hour burst 1 packets } counter
                ip saddr . th sport . iifname . ip daddr . th dport vmap { 1.1.1.1 . 1000 . \"lan0\" . 2.2.2.2 . 53 : drop }
            }
        }",
    );
    let at = |r: &mut Run, p: P| {
        let mut c = r.ctx(p, Hook::Forward, Some("lan0"), Some("wan0"), ct(NEW), 0);
        r.hook(&mut NullHost, &mut c)
    };
    assert_eq!(
        at(&mut r, P::v4("1.1.1.1", "2.2.2.2").udp(1000, 53)),
        Verdict::Drop(DropReason::Rule)
    );
    assert_eq!(r.count("fw", 0).0, 1);
    at(&mut r, P::v4("1.1.1.1", "2.2.2.2").udp(1000, 54));
    at(&mut r, P::v4("1.1.1.1", "2.2.2.2").udp(1001, 53));
    assert_eq!(r.count("fw", 0).0, 1, "one field differs: no match");
    at(
        &mut r,
        P::v4("10.9.9.9", "2.2.2.5").tcp(1024, 80, tcp_flags::SYN),
    );
    at(
        &mut r,
        P::v4("10.9.9.9", "2.2.2.10").tcp(1024, 80, tcp_flags::SYN),
    );
    at(
        &mut r,
        P::v4("10.9.9.9", "2.2.2.5").tcp(1025, 80, tcp_flags::SYN),
    );
    assert_eq!(r.count("fw", 1).0, 1);
    // the dynamic set: the second packet of a 5-tuple is over the rate
    at(
        &mut r,
        P::v4("10.9.9.9", "2.2.2.5").tcp(1024, 80, tcp_flags::SYN),
    );
    assert_eq!(r.count("fw", 2).0, 1);
    assert_eq!(r.st.dynamic_len(&r.rs, 2), 6, "six distinct tuples");
    // 17 fields, or 68 bytes of registers, is more than the kernel takes
    util::assert_rejected(&[
        (
            "table ip t { set s { type ipv6_addr . ipv6_addr . ipv6_addr . ipv6_addr . mark; } }",
            "exceeds the kernel's 64-byte key",
        ),
        (
            "table ip t { chain c { ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr . ip saddr { 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 . 1.1.1.1 } } }",
            "exceeds the kernel's 16",
        ),
    ]);
}

/// `tcp option maxseg size` reads the SYN's MSS option and `rt type` the IPv6 routing
/// header; without them the match fails, as `nft_exthdr` breaks.
#[test]
fn tcp_mss_and_ipv6_routing_header() {
    let mut r = Run::new(
        "table inet f { chain fw { type filter hook forward priority 0; policy accept;
            tcp option maxseg size 1-500 counter
            tcp option maxseg size != 500 counter
            rt type 0 counter
            rt type != 0 counter
        } }",
    );
    let mut syn = P::v4("1.1.1.1", "2.2.2.2").tcp(1, 2, tcp_flags::SYN);
    syn.0.tcp_mss = Some(400);
    r.simple(syn, ct(NEW));
    r.simple(
        P::v4("1.1.1.1", "2.2.2.2").tcp(1, 2, tcp_flags::SYN),
        ct(NEW),
    );
    assert_eq!(r.count("fw", 0).0, 1);
    assert_eq!(r.count("fw", 1).0, 1, "no option: != does not match either");
    let mut v6 = P::v6("2001:db8::1", "2001:db8::2").udp(1, 2);
    v6.0.ip6_rt_type = Some(0);
    r.simple(v6, ct(NEW));
    r.simple(P::v6("2001:db8::1", "2001:db8::2").udp(1, 2), ct(NEW));
    assert_eq!(r.count("fw", 2).0, 1);
    assert_eq!(r.count("fw", 3).0, 0);
    let e = Ruleset::from_str(
        "table inet f { chain c { rt classid 1 } }",
        "rt.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("rt.nft:1:26: Error: unsupported: rt expression"),
        "{e}"
    );
}

/// `nft -j` 1.0.x prints a chain binding as a text string in the rule's `expr`; it is
/// parsed as text and its chain placed as the text listing places it.
#[test]
fn json_text_statements_chain_binding() {
    let text = "table inet x {
	chain y {
		type filter hook input priority filter; policy accept;
		meta l4proto tcp jump {
			tcp dport 22 counter accept
		}
	}
	chain z {
	}
}
";
    let json = r#"{"nftables": [
      {"table": {"family": "inet", "name": "x"}},
      {"chain": {"family": "inet", "table": "x", "name": "y", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
      {"chain": {"family": "inet", "table": "x", "name": "z"}},
      {"rule": {"family": "inet", "table": "x", "chain": "y", "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
        "jump {\n\t\t\ttcp dport 22 counter accept\n\t\t}"]}}]}"#;
    let a = Ruleset::from_str(text, "b.nft", &LoadOptions::default()).unwrap();
    let b = Ruleset::from_str(json, "b.json", &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.model(), b.model());
    let names: Vec<&str> = b.chains().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["y", "__chain1", "z"]);
    let bad = json.replace("tcp dport 22 counter accept", "tcp dport 22 bogus");
    let e = Ruleset::from_str(&bad, "b.json", &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("b.json (object #3, statement text):2:"),
        "{e}"
    );
}

/// `ether saddr/daddr/type` read the Ethernet header the packet arrived in; captures without
/// one (raw IP) and PPPoE sessions (a ppp device) have none, so the match fails.
#[test]
fn ether_header_matches() {
    let mut r = Run::new(
        "table ip t {
            set s { type ether_addr; elements = { 02:00:00:00:00:01 } }
            chain fw { type filter hook forward priority 0; policy accept;
                ether saddr @s counter
                ether daddr != 02:00:00:00:00:01 counter
                ether type ip counter
            }
        }",
    );
    let mut p = P::v4("1.1.1.1", "2.2.2.2").udp(1, 2);
    p.0.flags |= flags::ETHER;
    p.0.eth_src = [2, 0, 0, 0, 0, 1];
    p.0.eth_dst = [2, 0, 0, 0, 0, 2];
    p.0.ethertype = 0x0800;
    r.simple(p, ct(NEW));
    assert_eq!(
        (r.count("fw", 0).0, r.count("fw", 1).0, r.count("fw", 2).0),
        (1, 1, 1)
    );
    let mut pppoe = p;
    pppoe.0.flags |= flags::PPPOE;
    r.simple(pppoe, ct(NEW));
    r.simple(P::v4("1.1.1.1", "2.2.2.2").udp(1, 2), ct(NEW));
    assert_eq!(
        (r.count("fw", 0).0, r.count("fw", 1).0, r.count("fw", 2).0),
        (1, 1, 1)
    );
}

/// `meta hour` as the kernel evaluates it (`nft_meta_hour`: the packet's wall time in UTC,
/// seconds of the day) against times nft converts from the loader's timezone
/// (`hour_type_parse`); a range past midnight is the other range negated, as nft 1.0.6
/// lists it (`meta hour != "06:00"-"22:00"`).
#[test]
fn meta_hour_ranges_past_midnight_and_timezones() {
    let text = "table inet f { chain fw { type filter hook forward priority 0; policy accept;
        meta hour \"22:00\"-\"06:00\" counter drop
        meta hour \"08:30\"-\"09:00\" counter
    } }";
    let at = |h: u64, m: u64| {
        let mut p = P::v4("10.0.0.1", "10.0.0.2").udp(1, 2);
        // 2024-01-01 00:00:00 UTC plus the time of day.
        p.0.ts = SimTime((1_704_067_200 + h * 3600 + m * 60) * 1_000_000_000);
        p
    };
    let mut r = Run::new(text);
    for (h, m, dropped) in [
        (23, 0, true),
        (3, 0, true),
        (5, 59, true),
        (12, 0, false),
        (22, 0, false), // the negated range's ends are excluded
        (6, 0, false),
        (8, 45, false),
    ] {
        let v = r.simple(at(h, m), ct(NEW));
        assert_eq!(v != Verdict::Accept, dropped, "{h}:{m:02}");
    }
    assert_eq!(r.count("fw", 1).0, 1);
    // The ruleset written in UTC+02:00: 23:00 there is 21:00 UTC.
    let rs = Ruleset::from_str(
        text,
        "t.nft",
        &LoadOptions {
            utc_offset_s: 7200,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let mut r = Run {
        st: RuleState::new(&rs, 7),
        rs,
    };
    assert_ne!(r.simple(at(21, 0), ct(NEW)), Verdict::Accept);
    assert_eq!(r.simple(at(4, 30), ct(NEW)), Verdict::Accept); // 06:30 local
    assert_eq!(r.count("fw", 1).0, 0);
    r.simple(at(6, 40), ct(NEW)); // 08:40 local
    assert_eq!(r.count("fw", 1).0, 1);
    assert_eq!(offsim_nft::parse_utc_offset("-05:30"), Ok(-19_800));
    assert!(offsim_nft::parse_utc_offset("+25:00").is_err());
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
