//! Kernel fidelity: classes of flows the kernel handles in ways offsim once did not (issue
//! 10), each on a trace generated here, checked against the real kernel (network namespaces
//! on this host's kernel; the flowtable cases in the Debian 6.1 VM).

use crate::kernel::traffic::{Opt, Trace};
use crate::kernel::{self, KernelResult, OracleJob, Sides};
use crate::util::skip_oracle;
use offsim_kernel::flowtable::KernelFlavour;

/// Every rule's and policy's counters, and the packets the router sent itself, kernel
/// against offsim; returns the differences (empty: they agree).
pub fn differences(k: &KernelResult, o: &KernelResult) -> String {
    // A rule without a counter of its own: the kernel harness added one, offsim reports
    // the implicit counter.
    let o_rules: Vec<kernel::RuleCount> = o
        .rules
        .iter()
        .zip(k.rules.iter())
        .map(|(o, k)| {
            let mut o = o.clone();
            if o.counters.is_empty() && k.counters.len() == 1 {
                o.counters = vec![(o.packets, o.bytes)];
            }
            o
        })
        .collect();
    let mut d = kernel::diff_table(&k.rules, &o_rules);
    if std::env::var_os("OFFSIM_ORACLE_VERBOSE").is_some() {
        for (a, b) in k.rules.iter().zip(o.rules.iter()) {
            eprintln!(
                "{} #{}: kernel {}/{} offsim {}/{}",
                a.chain, a.index, a.packets, a.bytes, b.packets, b.bytes
            );
        }
    }
    let mut kp = k.policies.clone();
    let mut op = o.policies.clone();
    kp.sort();
    op.sort();
    for (a, b) in kp.iter().zip(op.iter()) {
        if a != b {
            d.push_str(&format!(
                "policy {} {}: kernel {}/{} offsim {}/{}\n",
                a.table, a.chain, a.packets, a.bytes, b.packets, b.bytes
            ));
        }
    }
    if k.router_sent != o.router_sent {
        d.push_str(&format!(
            "router sent: kernel {} offsim {}\n",
            k.router_sent, o.router_sent
        ));
    }
    d
}

/// Runs `job` through the host kernel and offsim and asserts equal counters.
fn agree(what: &str, job: &OracleJob) -> KernelResult {
    let k = kernel::run_job(job).unwrap_or_else(|e| panic!("{what}: kernel oracle: {e}"));
    let o = kernel::offsim_counters(job, KernelFlavour::New);
    let d = differences(&k, &o);
    eprintln!(
        "{what}: {} rules, router sent {}, ingress {}",
        k.rules.len(),
        k.router_sent,
        k.ingress
    );
    assert!(d.is_empty(), "{what}: offsim differs from the kernel:\n{d}");
    k
}

/// Output-side counters by conntrack state and protocol, so that each class shows where the
/// router's own packets went.
const PROBE: &str = r#"
table inet t {
    chain input_probe {
        type filter hook input priority filter; policy accept;
        ct state new counter
        ct state established counter
        ct state related counter
        ct state invalid counter
        ct state untracked counter
        meta l4proto tcp counter
        meta l4proto udp counter
        meta l4proto icmp counter
        meta l4proto ipv6-icmp counter
        counter
    }
    chain forward_probe {
        type filter hook forward priority filter; policy accept;
        ct state new counter
        ct state established counter
        ct state related counter
        ct state invalid counter
        oifname "lan0" counter
        oifname "wan0" counter
        tcp dport 7 reject with tcp reset
        udp dport 7 reject
        udp dport 9 reject with icmpx admin-prohibited
        counter
    }
    chain output_probe {
        type filter hook output priority filter; policy accept;
        ct state new counter
        ct state established counter
        ct state related counter
        ct state invalid counter
        ct state untracked counter
        oifname "lan0" counter
        oifname "wan0" counter
        meta l4proto tcp counter
        meta l4proto icmp counter
        icmp type time-exceeded counter
        icmp type destination-unreachable counter
        icmp type echo-reply counter
        ip saddr 192.168.1.1 counter
        ip saddr 100.64.0.1 counter
        counter
    }
    chain postrouting_probe {
        type filter hook postrouting priority filter; policy accept;
        ct state new counter
        ct state related counter
        ct state invalid counter
        oifname "lan0" counter
        oifname "wan0" counter
        counter
    }
}
"#;

/// Traffic for the router itself and its answers: TCP and UDP to its addresses, pings,
/// broadcast, multicast, other protocols; TTL 1 on new and established flows; rejects.
#[test]
fn router_answers_match_kernel() {
    if skip_oracle() {
        return;
    }
    let tmp = kernel::TempDir::new("fid-local");
    let mut t = Trace::new();
    let o = Opt::default();
    let ttl1 = Opt { ttl: 1, ..o };
    // To the router's LAN address: a closed TCP port, a closed UDP port, a ping, GRE.
    t.tcp("192.0.2.10:40000", "192.168.1.1:22", 0x02, 100, 0, 0, o);
    t.udp("192.0.2.10:40001", "192.168.1.1:53", 30, o);
    t.echo("192.0.2.10:77", "192.168.1.1:0", true, 1, o);
    t.raw4("192.0.2.10:0", "192.168.1.1:0", 47, 40);
    // Broadcast, all-hosts, mDNS.
    t.udp("0.0.0.0:68", "255.255.255.255:67", 300, o);
    t.udp("192.0.2.10:5353", "224.0.0.1:5353", 40, o);
    t.udp("192.0.2.10:5353", "224.0.0.251:5353", 40, o);
    // IGMP query to all-hosts; IPv6: ping to all-nodes, mDNS (not joined), TTL 1.
    t.raw4("192.0.2.1:0", "224.0.0.1:0", 2, 8);
    t.echo("[2001:db8:1::10]:9", "[ff02::1]:0", true, 1, o);
    t.udp("[2001:db8:1::10]:5353", "[ff02::fb]:5353", 40, o);
    t.udp("[2001:db8:1::10]:33434", "[2001:db8:2::1]:33434", 32, ttl1);
    t.tcp(
        "[2001:db8:1::10]:40009",
        "[2001:db8:2::1]:7",
        0x02,
        9,
        0,
        0,
        o,
    );
    // TTL 1: a new flow, then an established one.
    t.udp("192.0.2.10:33434", "198.51.100.1:33434", 32, ttl1);
    t.udp_rr("192.0.2.11:5000", "198.51.100.2:53", 2, 40, o);
    t.udp("192.0.2.11:5000", "198.51.100.2:53", 40, ttl1);
    // Rejected by the forward chain: TCP reset, ICMP port unreachable, admin prohibited.
    t.tcp("192.0.2.12:40002", "198.51.100.3:7", 0x02, 500, 0, 0, o);
    t.udp("192.0.2.12:40003", "198.51.100.3:7", 20, o);
    t.udp("192.0.2.12:40004", "198.51.100.3:9", 20, o);
    // NetBIOS to the LAN's subnet broadcast (local only where the address has a prefix).
    t.udp("192.168.1.50:137", "192.168.1.255:137", 50, o);
    let pcap = tmp.0.join("local.pcap");
    t.write(&pcap);
    for sides in [Sides::Flow, Sides::Single] {
        let job = OracleJob::new(PROBE, &pcap, "lan0", "wan0", sides.clone());
        let what = format!("router answers ({})", kernel::sides_arg(&sides));
        let k = agree(&what, &job);
        // The class is exercised: packets counted in INPUT, answers in OUTPUT.
        assert!(k.rule("inet", "t", "input_probe", 9).unwrap().packets >= 6);
        assert!(k.router_sent >= 8, "{}", k.router_sent);
    }
    // With a /24 on the LAN side and an IPv6 address, the subnet broadcast is the router's
    // and IPv6 answers come from that address.
    let mut job = OracleJob::new(PROBE, &pcap, "lan0", "wan0", Sides::Flow);
    job.topology.addrs = vec![
        "lan0=192.168.1.1/24".into(),
        "wan0=100.64.0.1".into(),
        "lan0=2001:db8:1::1".into(),
    ];
    agree("router answers (flow, /24 and IPv6 addresses)", &job);
}

/// The device MTU on the forward path (`ip_forward`, `ip6_forward`): with WAN at 1500, an
/// IPv4 packet over it with DF is answered with fragmentation needed and dropped, one
/// without DF is fragmented (counted once), an IPv6 one is answered with packet too big;
/// with the oracle's 65535 everywhere all of them pass.
#[test]
fn device_mtu_matches_kernel() {
    if skip_oracle() {
        return;
    }
    let tmp = kernel::TempDir::new("fid-mtu");
    let mut t = Trace::new();
    let df = Opt::default();
    let no_df = Opt { df: false, ..df };
    t.udp("192.0.2.10:5000", "198.51.100.1:9000", 3000, df);
    t.udp("192.0.2.10:5001", "198.51.100.1:9000", 3000, no_df);
    t.udp("192.0.2.10:5001", "198.51.100.1:9000", 1472, df);
    t.udp("198.51.100.1:9000", "192.0.2.10:5001", 1400, df);
    t.udp("[2001:db8:1::10]:5000", "[2001:db8:2::1]:9000", 3000, df);
    t.udp("[2001:db8:1::10]:5001", "[2001:db8:2::1]:9000", 1452, df);
    // A TCP connection whose client sends one segment too big for WAN.
    t.tcp_conn("192.0.2.11:40000", "198.51.100.2:80", 4, 1200, df);
    t.tcp("192.0.2.11:40000", "198.51.100.2:80", 0x18, 3402, 5601, 4000, df);
    let pcap = tmp.0.join("mtu.pcap");
    t.write(&pcap);
    let mut job = OracleJob::new(PROBE, &pcap, "lan0", "wan0", Sides::Flow);
    job.topology.dev_mtu = vec![("wan0".into(), 1500)];
    let k = agree("device MTU (WAN 1500)", &job);
    assert!(k.router_sent >= 3, "{}", k.router_sent);
    let job = OracleJob::new(PROBE, &pcap, "lan0", "wan0", Sides::Flow);
    let k = agree("device MTU (65535)", &job);
    assert_eq!(k.router_sent, 0);
}
