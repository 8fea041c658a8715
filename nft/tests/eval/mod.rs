//! Evaluation tests with synthetic packets: counting semantics, verdicts, sets, maps,
//! limits, quotas and flow add here; real rulesets (fw4, kube-proxy, libvirt) with
//! hand-derived expectations in [`rulesets`]; NAT, set updates, queue, conntrack objects and
//! `fwd` in [`statements`]. The packet builder [`P`] and the hook driver [`Run`] are shared.

mod rulesets;
mod statements;

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
