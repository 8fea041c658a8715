//! Benches for the nftables evaluator: per-packet cost of a 10-rule chain, a 1,000-rule
//! linear chain (one the evaluator passes over by value, `EqRun`, and one it walks rule by
//! rule), a 1,000-element set and small sets (fw4's forward chain head); `_tracked`: with
//! the per-rule cost accounting of `rules eval` on.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use offsim_nft::ast::Hook;
use offsim_nft::{
    CtInfo, CtView, EvalCost, LoadOptions, NullHost, PktCtx, RuleState, Ruleset, eval_chain,
};
use offsim_traces::meta::{NetKind, PacketMeta, flags, proto};
use offsim_traces::time::SimTime;

const BATCH: usize = 1024;

fn packets() -> Vec<PacketMeta> {
    (0..BATCH)
        .map(|i| PacketMeta {
            net: NetKind::Ipv4,
            ip_version: 4,
            src: 0x0a00_0000 | (i as u128 * 7919 % 65536),
            dst: 0xc633_6400 | (i as u128 % 200),
            ip_len: 64 + (i as u32 % 1400),
            l4proto: if i % 3 == 0 { proto::UDP } else { proto::TCP },
            sport: 1024 + i as u16,
            dport: [22u16, 80, 443, 53, 8080, 9999][i % 6],
            tcp_flags: 0x10,
            flags: flags::L4_PRESENT,
            ..Default::default()
        })
        .collect()
}

fn run(c: &mut Criterion, name: &str, text: &str, track: bool) {
    let rs = Ruleset::from_str(text, name, &LoadOptions::default()).expect("bench ruleset loads");
    let chain = rs.base_chains(Hook::Forward, 4)[0];
    let pkts = packets();
    let mut st = RuleState::new(&rs, 1);
    if track {
        st.track_rule_costs(&rs);
    }
    let name = if track {
        format!("{name}_tracked")
    } else {
        name.to_string()
    };
    let mut g = c.benchmark_group("nft");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(&name, |b| {
        b.iter(|| {
            let mut cost = EvalCost::default();
            for p in &pkts {
                let mut ctx = PktCtx::new(*p, Hook::Forward, SimTime(0));
                ctx.ct = CtView::Tracked(CtInfo {
                    state: 8,
                    ..Default::default()
                });
                black_box(eval_chain(
                    &rs,
                    &mut st,
                    chain,
                    &mut ctx,
                    &mut NullHost,
                    &mut cost,
                ));
            }
            black_box(cost)
        })
    });
    g.finish();
}

/// Registers the nft benches.
pub fn benches(c: &mut Criterion) {
    let ten = "table inet f { chain fw { type filter hook forward priority 0; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname \"lo\" accept
        ip saddr 192.0.2.0/24 drop
        tcp dport 22 ip saddr 10.0.0.0/16 counter accept
        tcp dport { 80, 443 } counter accept
        udp dport 53 counter accept
        meta l4proto icmp accept
        tcp flags syn / syn,ack limit rate 100/second accept
        counter drop
    } }";
    run(c, "chain_10_rules", ten, false);
    run(c, "chain_10_rules", ten, true);

    let mut linear = String::from(
        "table ip f { chain fw { type filter hook forward priority 0; policy accept;\n",
    );
    for i in 0..1000u32 {
        linear.push_str(&format!(
            "ip saddr 172.16.{}.{} tcp dport {} counter drop\n",
            i / 256,
            i % 256,
            10000 + i
        ));
    }
    linear.push_str("} }\n");
    run(c, "chain_1000_rules", &linear, false);
    run(c, "chain_1000_rules", &linear, true);

    // the same rules, alternately on the source and the destination: no run forms
    let mut walked = String::from(
        "table ip f { chain fw { type filter hook forward priority 0; policy accept;\n",
    );
    for i in 0..1000u32 {
        walked.push_str(&format!(
            "ip {} 172.16.{}.{} tcp dport {} counter drop\n",
            if i % 2 == 0 { "saddr" } else { "daddr" },
            i / 256,
            i % 256,
            10000 + i
        ));
    }
    walked.push_str("} }\n");
    run(c, "chain_1000_rules_walked", &walked, false);
    run(c, "chain_1000_rules_walked", &walked, true);

    let mut set = String::from("table ip f { set s { type ipv4_addr; elements = { ");
    for i in 0..1000u32 {
        if i > 0 {
            set.push_str(", ");
        }
        set.push_str(&format!("10.0.{}.{}", i / 256, i % 256));
    }
    set.push_str(" } }\n chain fw { type filter hook forward priority 0; policy accept; ip saddr @s counter accept } }\n");
    run(c, "set_1000_elements", &set, false);

    // fw4's forward chain head: sets of two to eight elements, compared one by one
    // (`CSet::find`'s short list) rather than hashed
    let small = "table inet f { chain fw { type filter hook forward priority 0; policy accept;
        meta l4proto { tcp, udp } counter
        ct state vmap { established : continue, related : continue, invalid : drop }
        tcp dport { 22, 25, 53, 80, 110, 143, 443, 993 } counter
        ip saddr { 10.0.0.1, 10.0.0.2, 10.0.0.3 } drop
    } }";
    run(c, "sets_small", small, false);
}
