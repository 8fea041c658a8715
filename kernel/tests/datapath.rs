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

// ---------------------------------------------------------------------------------------
// Timeline events (`datapath/events.rs`)
// ---------------------------------------------------------------------------------------

mod events {
    use offsim_kernel::Path;
    use offsim_kernel::datapath::{
        Datapath, DpConfig, DropCause, Fate, LAN_IFINDEX, WAN_IFINDEX, load_options,
    };
    use offsim_kernel::fib::{Fib, FibSpec};
    use offsim_kernel::flows::FlowBook;
    use offsim_kernel::sides::{Side, SideMode};
    use offsim_nft::Ruleset;
    use offsim_traces::meta::PacketMeta;
    use offsim_traces::testkit::Pkt;
    use offsim_traces::time::{NS_PER_SEC, SimTime};

    /// fw4's shape: a flowtable on both ports and `flow add` for every TCP/UDP flow.
    const FT: &str = r#"
table inet t {
    flowtable ft {
        hook ingress priority filter
        devices = { lan0, wan0 }
    }
    chain fw {
        type filter hook forward priority filter; policy accept;
        meta l4proto { tcp, udp } flow add @ft
    }
}
"#;

    /// The LAN host, 192.0.2.1.
    fn host() -> u128 {
        0xc000_0201
    }

    /// A packet from the LAN host at `ms`, on the LAN port (the engine sets `iface`).
    fn up(ms: u64) -> PacketMeta {
        let mut m = Pkt::udp("192.0.2.1:4000", "198.51.100.1:443")
            .at(ms * NS_PER_SEC / 1000)
            .build();
        m.iface = LAN_IFINDEX;
        m
    }

    /// Its reply, on the WAN port.
    fn down(ms: u64) -> PacketMeta {
        let mut m = Pkt::udp("198.51.100.1:443", "192.0.2.1:4000")
            .at(ms * NS_PER_SEC / 1000)
            .build();
        m.iface = WAN_IFINDEX;
        m
    }

    /// A datapath whose one UDP flow (LAN host 192.0.2.1 to 198.51.100.1) is offloaded: the
    /// request is confirmed, the reply's `flow add` makes the entry (`nft_flow_offload_eval`
    /// refuses an unconfirmed entry), the next request takes the fast path.
    fn offloaded() -> Datapath {
        let rs = Ruleset::from_str(FT, "t.nft", &load_options("lan0", "wan0")).unwrap();
        let cfg = DpConfig {
            // a two-sided router: replies routed back to the LAN host
            fib: Fib::build(
                &FibSpec::default(),
                ("lan0", LAN_IFINDEX),
                ("wan0", WAN_IFINDEX),
                &SideMode::Flow,
            )
            .unwrap(),
            ..DpConfig::default()
        };
        let mut dp = Datapath::new(rs, cfg, FlowBook::new(true, false, None));
        // the engine's side split tells the router its LAN hosts
        dp.add_lan_host(4, host());
        dp.process(SimTime(0), &up(0), Side::Lan);
        dp.process(SimTime(NS_PER_SEC / 100), &down(10), Side::Wan);
        let o = dp.process(SimTime(NS_PER_SEC / 50), &up(20), Side::Lan);
        assert_eq!(o.path, Path::SwFast, "{:?}", dp.stats());
        assert_eq!(dp.flowtable_len(), 1);
        dp
    }

    fn at(ms: u64) -> SimTime {
        SimTime(ms * NS_PER_SEC / 1000)
    }

    /// `nf_flow_table_free` (a ruleset reload) / `flow_offload_teardown` of every entry: the
    /// next packet takes the slow path, where `flow add` makes the entry again.
    #[test]
    fn a_flush_tears_every_flow_down_and_the_next_packet_re_adds_it() {
        let mut dp = offloaded();
        let e = dp.flush_flowtables(at(100), true, None);
        let o = dp.process(at(110), &up(110), Side::Lan);
        assert_eq!(o.path, Path::Slow);
        assert_eq!(o.fate, Fate::Forwarded(Side::Wan));
        let o = dp.process(at(120), &down(120), Side::Wan);
        assert_eq!(o.path, Path::SwFast, "re-added by the slow-path packet");
        let c = dp.event_counters()[e];
        assert_eq!((c.flows, c.slow_packets, c.readded), (1, 1, 1), "{c:?}");
        assert_eq!(c.last_readd, Some(at(110)));
    }

    /// NETDEV_DOWN → `nf_flow_table_do_cleanup`: flows with either direction's input on the
    /// device are torn down; other devices' events leave them alone.
    #[test]
    fn a_device_going_down_tears_down_its_flows_only() {
        let mut dp = offloaded();
        let none = dp.device_down(at(100), 99);
        assert_eq!(dp.event_counters()[none].flows, 0);
        assert_eq!(dp.process(at(110), &up(110), Side::Lan).path, Path::SwFast);
        let wan = dp.device_down(at(200), WAN_IFINDEX);
        assert_eq!(dp.event_counters()[wan].flows, 1);
        assert_eq!(dp.process(at(210), &up(210), Side::Lan).path, Path::Slow);
    }

    /// A host that moved to another bridge port: its entry keeps the old port (mainline has
    /// no fdb hook: openwrt/openwrt#13410). Packets to it are lost there and still refresh
    /// the entry; its own packets arrive on the new port, miss (`nf_flow_tuple_ip` keys
    /// `iifidx`) and take the slow path, which forwards them.
    #[test]
    fn a_moved_host_loses_the_packets_its_stale_entry_sends_to_the_old_port() {
        let mut dp = offloaded();
        let e = dp.host_moved(at(100), 4, host(), false);
        let o = dp.process(at(110), &down(110), Side::Wan);
        assert_eq!(o.fate, Fate::Dropped(DropCause::StalePort), "{o:?}");
        let o = dp.process(at(120), &up(120), Side::Lan);
        assert_eq!((o.path, o.fate), (Path::Slow, Fate::Forwarded(Side::Wan)));
        // 40 s later (past the 30 s flowtable timeout) the entry is still there: the
        // downstream packets keep refreshing it
        for s in 1..=40 {
            dp.timers(at(120 + s * 1000));
            let o = dp.process(at(121 + s * 1000), &down(121 + s * 1000), Side::Wan);
            assert_eq!(o.fate, Fate::Dropped(DropCause::StalePort), "at {s} s");
        }
        let c = dp.event_counters()[e];
        assert_eq!(
            (c.flows, c.misdirected, c.slow_packets),
            (1, 41, 1),
            "{c:?}"
        );
        // another host's move touches nothing
        let other = dp.host_moved(at(50_000), 4, 0xc000_0263, false);
        assert_eq!(dp.event_counters()[other].flows, 0);
    }

    /// With the fdb teardown (the pending patches of openwrt/openwrt#25174) the moved host's
    /// flows are torn down and come back through the slow path.
    #[test]
    fn with_the_fdb_teardown_a_moved_host_s_flows_come_back_through_the_slow_path() {
        let mut dp = offloaded();
        let e = dp.host_moved(at(100), 4, host(), true);
        let o = dp.process(at(110), &down(110), Side::Wan);
        assert_eq!((o.path, o.fate), (Path::Slow, Fate::Forwarded(Side::Lan)));
        assert_eq!(dp.process(at(120), &up(120), Side::Lan).path, Path::SwFast);
        let c = dp.event_counters()[e];
        assert_eq!((c.flows, c.misdirected, c.readded), (1, 0, 1), "{c:?}");
    }

    /// `conntrack -F`: every entry deleted, the flowtable's flows torn down
    /// (`nf_flow_offload_gc_step` on a dying entry) and detached from the handles new
    /// entries reuse; the next packet makes a new entry (mid-stream pickup of UDP).
    #[test]
    fn a_conntrack_flush_deletes_every_entry_and_tears_its_flows_down() {
        let mut dp = offloaded();
        let e = dp.flush_conntrack(at(100));
        assert_eq!(dp.conntrack().len(), 0);
        let c = dp.event_counters()[e];
        assert_eq!((c.conntrack, c.flows), (1, 1));
        let o = dp.process(at(110), &up(110), Side::Lan);
        assert_eq!((o.path, o.fate), (Path::Slow, Fate::Forwarded(Side::Wan)));
        assert_eq!(dp.conntrack().len(), 1);
        // the torn-down flow is freed by the GC without touching the new entry
        dp.timers(at(2_000));
        dp.process(at(2_010), &down(2_010), Side::Wan);
        assert_eq!(
            dp.process(at(2_020), &up(2_020), Side::Lan).path,
            Path::SwFast
        );
    }

    /// New rules under an offloaded flow (`nft add rule ... drop`): its packets skip the
    /// forward chain on the fast path and keep the old verdict (counted on the event) until
    /// the flow leaves the flowtable; then the new rule drops them.
    #[test]
    fn a_policy_change_reaches_an_offloaded_flow_only_once_it_leaves_the_flowtable() {
        let mut dp = offloaded();
        let blocked = FT.replace(
            "meta l4proto { tcp, udp } flow add @ft",
            "ip saddr 192.0.2.1 drop\n        meta l4proto { tcp, udp } flow add @ft",
        );
        let rs = Ruleset::from_str(&blocked, "b.nft", &load_options("lan0", "wan0")).unwrap();
        let e = dp.policy_change(rs);
        let o = dp.process(at(110), &up(110), Side::Lan);
        assert_eq!((o.path, o.fate), (Path::SwFast, Fate::Forwarded(Side::Wan)));
        let c = dp.event_counters()[e];
        assert_eq!(
            (c.flows, c.old_verdict, c.last_old_verdict),
            (1, 1, Some(at(110)))
        );
        dp.flush_flowtables(at(200), false, None);
        let o = dp.process(at(210), &up(210), Side::Lan);
        assert_eq!(o.path, Path::Slow);
        assert!(
            matches!(o.fate, Fate::Dropped(DropCause::Ruleset(..))),
            "{o:?}"
        );
        assert_eq!(dp.event_counters()[e].old_verdict, 1);
    }
}

/// Masquerade into a range of 512 ports: once the first SYNs have taken them, every new
/// connection runs the kernel's whole port search (`nf_nat_l4proto_unique_tuple`: 248
/// tries, in rounds of 128, 64, 32, 16 and 8) and is dropped at confirm; the CPU model is
/// told of each lookup.
#[test]
fn a_port_search_under_exhaustion_counts_its_tries() {
    let rs = Ruleset::from_str(
        "table ip nat { chain post { type nat hook postrouting priority 100; \
         oifname \"wan0\" meta l4proto tcp masquerade to :65024-65535; } }",
        "t.nft",
        &load_options("lan0", "wan0"),
    )
    .unwrap();
    let mut dp = Datapath::new(rs, DpConfig::default(), FlowBook::new(false, false, None));
    let mut tries = Vec::new();
    for i in 0..600u32 {
        let client = format!("10.0.{}.{}:40000", i / 250, i % 250 + 1);
        let syn = Pkt::tcp4(&client, "198.51.100.1:443")
            .flags(offsim_traces::meta::tcp_flags::SYN)
            .at(u64::from(i) * 1000)
            .build();
        dp.add_lan_host(4, syn.src);
        let o = dp.process(syn.ts, &syn, Side::Lan);
        tries.push((o.drivers.nat_setup, o.drivers.nat_lookups));
    }
    // The first SYN's port, outside the range, is moved without a clash: its first
    // candidate is free (one lookup, the one `cycles.nat_setup` includes).
    assert_eq!(tries[0], (true, 1));
    // The ports run out within the first 512 SYNs; from then on each tries 248.
    assert!(tries[..512].iter().any(|&(_, n)| n > 1));
    assert!(
        tries[560..].iter().all(|&t| t == (true, 248)),
        "{:?}",
        &tries[560..]
    );
}

/// Rules that read a connection's tuples see them as the kernel keeps them
/// (`nft_ct_get_eval` reads `ct->tuplehash[dir]`): the original one from the first packet
/// on, the reply one as masquerade altered it once the NAT hook has run. A ruleset without
/// such a rule leaves them out of the evaluator's view (`Ruleset::reads_ct_tuples`).
#[test]
fn rules_that_read_ct_tuples_see_them_before_and_after_nat() {
    // The same chains without the rules that read tuples.
    const PLAIN: &str = "table ip t {
        chain fw { type filter hook forward priority 0; policy accept;
            ct state new counter }
        chain post { type nat hook postrouting priority 100;
            oifname \"wan0\" meta l4proto tcp masquerade to :65024-65535 }
        chain late { type filter hook postrouting priority 200; policy accept; }
    }";
    const TUPLES: &str = "table ip t {
        chain fw { type filter hook forward priority 0; policy accept;
            ct original saddr 10.0.0.1 counter
            ct original proto-src 40000 counter
            ct reply saddr 198.51.100.1 counter }
        chain post { type nat hook postrouting priority 100;
            oifname \"wan0\" meta l4proto tcp masquerade to :65024-65535 }
        chain late { type filter hook postrouting priority 200; policy accept;
            ct reply proto-dst 65024-65535 counter
            ct reply proto-dst 40000 counter }
    }";
    let opts = load_options("lan0", "wan0");
    let plain = Ruleset::from_str(PLAIN, "p.nft", &opts).unwrap();
    assert!(!plain.reads_ct_tuples());
    let rs = Ruleset::from_str(TUPLES, "t.nft", &opts).unwrap();
    assert!(rs.reads_ct_tuples());

    let mut dp = Datapath::new(rs, DpConfig::default(), FlowBook::new(false, false, None));
    let syn = Pkt::tcp4("10.0.0.1:40000", "198.51.100.1:443")
        .flags(offsim_traces::meta::tcp_flags::SYN)
        .at(1000)
        .build();
    dp.add_lan_host(4, syn.src);
    let o = dp.process(syn.ts, &syn, Side::Lan);
    assert!(o.drivers.nat_setup, "{o:?}");
    let counts: Vec<(String, u64)> = (0..dp.ruleset().rules().len())
        .map(|i| {
            let r = &dp.ruleset().rules()[i];
            let n = dp.ruleset().rule_counter(dp.rule_state(), i).packets;
            (r.text.clone(), n)
        })
        .filter(|(t, _)| t.starts_with("ct "))
        .collect();
    let want = [
        ("ct original saddr 10.0.0.1", 1),
        ("ct original proto-src 40000", 1),
        ("ct reply saddr 198.51.100.1", 1),
        ("ct reply proto-dst 65024-65535", 1),
        ("ct reply proto-dst 40000", 0),
    ];
    assert_eq!(counts.len(), want.len(), "{counts:?}");
    for ((text, n), (prefix, w)) in counts.iter().zip(want) {
        assert!(text.starts_with(prefix), "{text} vs {prefix}");
        assert_eq!(*n, w, "{text}: {counts:?}");
    }
}
