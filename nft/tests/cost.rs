//! What evaluation costs in kernel expressions ([`EvalCost`]): the dependencies nft inserts,
//! the set back end `nft_select_set_ops` picks, and per-rule accounting.

use offsim_nft::ast::Hook;
use offsim_nft::{
    EvalCost, ExprKind, NullHost, PktCtx, RuleState, Ruleset, SetBackend, eval_chain,
};
use offsim_traces::meta::{NetKind, PacketMeta, flags, proto};
use offsim_traces::time::SimTime;

use crate::util;

fn v4(l4: u8, dport: u16) -> PacketMeta {
    PacketMeta {
        net: NetKind::Ipv4,
        ip_version: 4,
        src: 0x0a00_0001,
        dst: 0x0a00_0002,
        ip_len: 60,
        ip_hdr_len: 20,
        ttl: 64,
        l4proto: l4,
        ip_proto_field: l4,
        sport: 1000,
        dport,
        flags: flags::L4_PRESENT,
        ..Default::default()
    }
}

/// Runs the forward chains of `text` on `pkt`; the cost and the rule state.
fn run(text: &str, pkt: PacketMeta) -> (EvalCost, Ruleset, RuleState) {
    let rs = util::load(text, "cost.nft");
    let mut st = RuleState::new(&rs, 1);
    st.track_rule_costs(&rs);
    let mut cost = EvalCost::default();
    for c in rs.base_chains(Hook::Forward, 4) {
        let mut ctx = PktCtx::new(pkt, Hook::Forward, SimTime(0));
        eval_chain(&rs, &mut st, c, &mut ctx, &mut NullHost, &mut cost);
    }
    (cost, rs, st)
}

fn n(c: &EvalCost, k: ExprKind) -> u64 {
    c.exprs[k.index()]
}

#[test]
fn udp_dport_pays_its_implied_l4proto_check() {
    let rules = "table ip f { chain c { type filter hook forward priority 0;
        udp dport 53 drop
        udp dport 54 drop } }";
    // a UDP packet to another port: each rule runs meta l4proto and its cmp (the
    // dependency), then the payload and its cmp
    let (c, ..) = run(rules, v4(proto::UDP, 80));
    assert_eq!(c.rules, 2);
    assert_eq!(n(&c, ExprKind::Dep), 2);
    assert_eq!(n(&c, ExprKind::PayloadTh), 2);
    assert_eq!(n(&c, ExprKind::Cmp), 2);
    assert_eq!(n(&c, ExprKind::Immediate), 0, "no rule matched");
    // a TCP packet stops at the dependency
    let (c, ..) = run(rules, v4(proto::TCP, 53));
    assert_eq!((n(&c, ExprKind::Dep), n(&c, ExprKind::Cmp)), (2, 0));
    assert_eq!(n(&c, ExprKind::PayloadTh), 0);
    // the matching packet also runs the verdict
    let (c, ..) = run(rules, v4(proto::UDP, 53));
    assert_eq!((c.rules, n(&c, ExprKind::Immediate)), (1, 1));
}

#[test]
fn ip_saddr_in_inet_pays_nfproto_and_not_in_ip() {
    let body = "chain c { type filter hook forward priority 0; ip saddr 192.0.2.1 drop } }";
    let (ip, ..) = run(&format!("table ip f {{ {body}"), v4(proto::UDP, 1));
    let (inet, ..) = run(&format!("table inet f {{ {body}"), v4(proto::UDP, 1));
    assert_eq!((n(&ip, ExprKind::Dep), n(&ip, ExprKind::Cmp)), (0, 1));
    assert_eq!((n(&inet, ExprKind::Dep), n(&inet, ExprKind::Cmp)), (1, 1));
}

#[test]
fn flags_prefixes_and_ranges_are_the_kernel_expressions() {
    let (c, ..) = run(
        "table ip f { chain c { type filter hook forward priority 0;
            ct state established,related accept
            ip daddr 10.16.0.0/12 drop
            ip daddr 10.16.0.0/16 drop
            udp dport 1-1023 drop
            counter } }",
        v4(proto::UDP, 5000),
    );
    assert_eq!(n(&c, ExprKind::Ct), 1, "{c:?}");
    assert_eq!(
        n(&c, ExprKind::Bitwise),
        2,
        "the ct state mask and the /12 prefix"
    );
    assert_eq!(n(&c, ExprKind::Range), 1);
    assert_eq!(n(&c, ExprKind::Counter), 1);
    assert_eq!(n(&c, ExprKind::Cmp), 3, "ct state and the two prefixes");
    // the `meta l4proto udp` check nft inserts before `udp dport` is counted as one
    // dependency (its meta load and cmp, priced together as `expr_dep`), not as a cmp
    assert_eq!(n(&c, ExprKind::Dep), 1, "the l4proto check");
}

#[test]
fn an_interface_name_is_a_load_of_its_own_kind() {
    // `iifname`/`oifname` copy IFNAMSIZ bytes into the registers (`nft_meta_store_ifname`),
    // as the key of a compare or of a lookup; other meta keys store one word
    let (c, ..) = run(
        "table ip f { chain c { type filter hook forward priority 0;
            iifname \"lan9\" drop
            oifname { \"wan8\", \"wan9\" } drop
            meta mark 0x1 drop } }",
        v4(proto::UDP, 9),
    );
    assert_eq!(c.rules, 3);
    assert_eq!(n(&c, ExprKind::MetaIfname), 2, "{c:?}");
    assert_eq!(n(&c, ExprKind::Meta), 1, "{c:?}");
}

#[test]
fn set_back_ends_are_chosen_as_the_kernel_chooses() {
    // One lookup per back end; the expected back ends were observed on a 6.18 kernel by
    // sampling which nft_*_lookup function ran.
    let cases: &[(&str, &str, SetBackend)] = &[
        ("", "ip daddr { 10.0.0.1, 10.0.0.3 }", SetBackend::HashFast),
        (
            "set s { type ipv4_addr; elements = { 10.0.0.1 }; }",
            "ip daddr @s",
            SetBackend::Rhash,
        ),
        (
            "set s { type ipv4_addr; size 64; }",
            "ip daddr @s",
            SetBackend::HashFast,
        ),
        (
            "set s { type ipv4_addr; flags constant; elements = { 10.0.0.1 }; }",
            "ip daddr @s",
            SetBackend::HashFast,
        ),
        (
            "set s { type ipv4_addr; flags timeout; }",
            "ip daddr @s",
            SetBackend::Rhash,
        ),
        ("", "udp dport { 22, 80 }", SetBackend::Bitmap),
        (
            "",
            "udp dport vmap { 22 : accept, 80 : drop }",
            SetBackend::Hash,
        ),
        (
            "",
            "ip protocol . ip daddr { tcp . 10.0.0.1 }",
            SetBackend::Hash,
        ),
        ("", "ip daddr { 10.0.0.0/24, 10.9.0.1 }", SetBackend::Rbtree),
        (
            "set s { type ipv4_addr; flags interval; elements = { 10.0.0.1 }; }",
            "ip daddr @s",
            SetBackend::Rbtree,
        ),
        (
            "",
            "ip protocol . ip daddr { tcp . 10.0.0.0/8 }",
            SetBackend::Pipapo,
        ),
    ];
    for (decl, m, want) in cases {
        let text = format!(
            "table ip f {{ {decl} chain c {{ type filter hook forward priority 0; {m} }} }}"
        );
        let (c, ..) = run(&text, v4(proto::UDP, 9));
        assert_eq!(c.lookup_total(), 1, "{m}");
        assert_eq!(c.lookups[want.index()], 1, "{decl} {m}: {:?}", c.lookups);
        assert_eq!(n(&c, ExprKind::Lookup), 1, "{m}");
    }
}

#[test]
fn lookup_depth_grows_with_the_set() {
    let elems = |k: usize| {
        (0..k)
            .map(|i| format!("10.{}.{}.0/24", i / 100, 2 * (i % 100)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let depth = |k| {
        let text = format!(
            "table ip f {{ chain c {{ type filter hook forward priority 0; ip daddr {{ {} }} }} }}",
            elems(k)
        );
        let c = run(&text, v4(proto::UDP, 9)).0;
        assert_eq!(c.lookups[SetBackend::Rbtree.index()], 1, "{c:?}");
        c.lookup_depth[SetBackend::Rbtree.index()]
    };
    assert_eq!(depth(2), 2);
    assert_eq!(depth(200), 8);
}

#[test]
fn per_rule_costs_add_up_to_the_chain() {
    let (c, rs, st) = run(
        "table ip f { chain c { type filter hook forward priority 0;
            udp dport 53 counter drop
            jump sub
            ip saddr 10.0.0.1 accept }
          chain sub { tcp dport 22 drop } }",
        v4(proto::UDP, 80),
    );
    let mut sum = EvalCost::default();
    for c in st.rule_costs(&rs).unwrap() {
        sum.add(&c);
    }
    sum.base_chains = c.base_chains;
    assert_eq!(sum, c);
    assert_eq!(c.jumps, 1);
}
