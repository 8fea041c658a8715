//! The datapath on hand-made packets: behaviour that needs conntrack, the ruleset and the
//! host together.

use offsim_kernel::datapath::{Datapath, DpConfig, FlowtableMode, load_options};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::sides::Side;
use offsim_nft::Ruleset;
use offsim_traces::testkit::Pkt;
use offsim_traces::time::NS_PER_SEC;

/// Counts packets the ruleset saw as `ct state new`.
const RULESET: &str = r#"
table inet t {
    ct timeout short-udp {
        protocol udp
        l3proto ip
        policy = { unreplied : 5, replied : 5 }
    }
    chain pre {
        type filter hook prerouting priority filter; policy accept;
        meta l4proto udp ct timeout set "short-udp"
    }
    chain fw {
        type filter hook forward priority filter; policy accept;
        ct state new counter
    }
}
"#;

fn new_count(with_policy: bool) -> u64 {
    let text = if with_policy {
        RULESET.to_string()
    } else {
        RULESET.replace("meta l4proto udp ct timeout set \"short-udp\"", "")
    };
    let rs = Ruleset::from_str(&text, "t.nft", &load_options("lan0", "wan0")).unwrap();
    let cfg = DpConfig {
        flowtables: FlowtableMode::Disabled,
        ..DpConfig::default()
    };
    let mut dp = Datapath::new(rs, cfg, FlowBook::new(false, false, None));
    // A UDP request, its reply, and the next request 10 s later. The kernel's UDP timeouts
    // (30 s unreplied, 120 s replied) keep the connection, so the third packet is
    // established; with the 5 s policy the connection is gone and it is new again.
    let pkts = [
        Pkt::udp("192.0.2.1:4000", "198.51.100.1:53").at(0).build(),
        Pkt::udp("198.51.100.1:53", "192.0.2.1:4000")
            .at(NS_PER_SEC / 10)
            .build(),
        Pkt::udp("192.0.2.1:4000", "198.51.100.1:53")
            .at(10 * NS_PER_SEC)
            .build(),
    ];
    for p in &pkts {
        dp.process(p.ts, p, Side::Lan);
    }
    let fwd = dp
        .ruleset()
        .rules()
        .iter()
        .position(|r| r.text.contains("ct state new"))
        .unwrap();
    dp.ruleset().rule_counter(dp.rule_state(), fwd).packets
}

#[test]
fn ct_timeout_policy_shortens_the_connection_timeout() {
    assert_eq!(new_count(false), 1);
    assert_eq!(new_count(true), 2);
}

/// VLAN tags and PPPoE headers pulled on receive and pushed on transmit are counted for the
/// CPU model on the slow path: the WAN device's encapsulation is what its packets carry.
#[test]
fn slow_path_counts_encapsulation_layers() {
    let rs = Ruleset::from_str(
        "table inet t { chain fw { type filter hook forward priority 0; policy accept; } }",
        "t.nft",
        &load_options("lan0", "wan0"),
    )
    .unwrap();
    // Two-sided: the reply is routed back to the LAN host (a learned host route).
    let fib = offsim_kernel::fib::Fib::build(
        &offsim_kernel::fib::FibSpec::default(),
        ("lan0", offsim_kernel::datapath::LAN_IFINDEX),
        ("wan0", offsim_kernel::datapath::WAN_IFINDEX),
        &offsim_kernel::sides::SideMode::Flow,
    )
    .unwrap();
    let cfg = DpConfig {
        fib,
        ..DpConfig::default()
    };
    let mut dp = Datapath::new(rs, cfg, FlowBook::new(false, false, None));
    let q = Pkt::udp("192.168.1.2:4000", "198.51.100.1:53").build();
    dp.add_lan_host(4, q.src);
    let mut r = Pkt::udp("198.51.100.1:53", "192.168.1.2:4000").build();
    r.vlan_count = 1;
    r.vlan = [7, 0];
    r.flags |= offsim_traces::meta::flags::PPPOE;
    r.pppoe_session = 0x1234;
    // Before any WAN packet the WAN device's encapsulation is unknown: nothing pushed.
    let layers = |d: offsim_kernel::cost::CostDrivers| {
        (d.vlan_pull, d.pppoe_pull, d.vlan_push, d.pppoe_push)
    };
    let d = dp.process(q.ts, &q, Side::Lan).drivers;
    assert_eq!(layers(d), (0, 0, 0, 0));
    // The reply: VLAN 7 and the PPPoE session pulled, nothing pushed towards the LAN.
    let d = dp.process(r.ts, &r, Side::Wan).drivers;
    assert_eq!(layers(d), (1, 1, 0, 0));
    // The next request: VLAN and PPPoE pushed on the way out.
    let d = dp.process(q.ts, &q, Side::Lan).drivers;
    assert_eq!(layers(d), (0, 0, 1, 1));
}
