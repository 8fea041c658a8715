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
    t.tcp(
        "192.0.2.11:40000",
        "198.51.100.2:80",
        0x18,
        3402,
        5601,
        4000,
        df,
    );
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

/// The bundled fw4 ruleset (`scenarios/rulesets/home-fw4.nft`: masquerade on WAN) with a
/// DNAT port forward (WAN 2222 to 192.168.1.10:22, accepted as fw4 accepts port forwards);
/// without its flowtable when `flowtable` is false (this host's kernel has none).
pub fn fw4_nat(flowtable: bool) -> String {
    let mut rs =
        std::fs::read_to_string(crate::util::repo().join("scenarios/rulesets/home-fw4.nft"))
            .unwrap();
    rs = rs.replace(
        "\tchain dstnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
        "\tchain dstnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tiifname \"wan0\" meta nfproto ipv4 tcp dport 2222 counter dnat ip to 192.168.1.10:22 comment \"!fw4: ssh port forward\"\n",
    );
    rs = rs.replace(
        "\tchain forward_wan {\n",
        "\tchain forward_wan {\n\t\tct status dnat counter accept comment \"!fw4: Accept port forwards\"\n",
    );
    // veth has no hardware offload: a software flowtable.
    rs = rs.replace("\t\tflags offload\n", "");
    if !flowtable {
        let a = rs.find("\tflowtable ft {").unwrap();
        let b = a + rs[a..].find("\t}\n").unwrap() + 3;
        rs.replace_range(a..b, "");
        rs = rs.replace("\t\tmeta l4proto { tcp, udp } flow offload @ft\n", "");
    }
    rs
}

/// Home traffic as the LAN side captures it (TCP, UDP, ping, an ICMP error from the WAN
/// about a masqueraded flow) plus an SSH port forward as the WAN side sees it.
pub fn nat_trace(path: &std::path::Path) {
    use offsim_traces::meta::tcp_flags::{ACK, PSH, SYN};
    let mut t = Trace::new();
    let o = Opt::default();
    t.tcp_conn("192.168.1.100:40000", "198.51.100.1:443", 8, 600, o);
    t.udp_rr("192.168.1.101:5353", "198.51.100.53:53", 3, 60, o);
    t.echo("192.168.1.102:7", "198.51.100.1:0", true, 1, o);
    t.echo("198.51.100.1:0", "192.168.1.102:7", false, 1, o);
    // A one-way UDP stream, answered once by a port unreachable about it.
    for _ in 0..5 {
        t.udp("192.168.1.100:6000", "203.0.113.5:9999", 200, o);
    }
    t.udp_error(
        "203.0.113.5:0",
        "192.168.1.100:0",
        3,
        3,
        "192.168.1.100:6000",
        "203.0.113.5:9999",
        200,
    );
    // The port forward: the WAN peer connects to the router's WAN address.
    let (p, w, l) = ("203.0.113.9:41000", "100.64.0.1:2222", "192.168.1.10:22");
    t.tcp(p, w, SYN, 100, 0, 0, o);
    t.tcp(l, p, SYN | ACK, 900, 101, 0, o);
    t.tcp(p, w, ACK, 101, 901, 0, o);
    for k in 0..4u32 {
        t.tcp(p, w, PSH | ACK, 101 + 50 * k, 901, 50, o);
        t.tcp(l, p, ACK, 901, 151 + 50 * k, 0, o);
    }
    // A new connection from the WAN that nothing forwards: rejected.
    t.tcp("203.0.113.9:41001", "100.64.0.1:8080", SYN, 7, 0, 0, o);
    t.write(path);
}

/// NAT on a router that owns addresses: fw4's masquerade and a port forward, with the WAN
/// side answering the post-NAT tuples as FW's conntrack set them up.
#[test]
fn nat_matches_kernel() {
    if skip_oracle() {
        return;
    }
    let tmp = kernel::TempDir::new("fid-nat");
    let pcap = tmp.0.join("nat.pcap");
    nat_trace(&pcap);
    let mut job = OracleJob::new(
        &fw4_nat(false),
        &pcap,
        "lan0",
        "wan0",
        Sides::parse("lan=192.168.1.0/24").unwrap(),
    );
    job.nat = true;
    let k = agree("fw4 NAT", &job);
    // Masquerade and the port forward worked: the srcnat rule and the DNAT rule counted.
    let masq = k.rules.iter().find(|r| r.chain == "srcnat_wan").unwrap();
    assert!(masq.packets >= 5, "{masq:?}");
    let dnat = k.rule("inet", "fw4", "dstnat", 0).unwrap();
    assert_eq!(dnat.packets, 1, "{dnat:?}");
}

/// A flowtable ruleset with a helper for FTP control connections (`ct helper set`: such a
/// connection is never offloaded, `nft_flow_offload_eval`).
const FLOW_HELPER: &str = r#"
table inet filter {
	ct helper ftp-standard {
		type "ftp" protocol tcp
		l3proto inet
	}
	flowtable ft {
		hook ingress priority filter
		devices = { "lan0", "wan0" }
		counter
	}
	chain pre {
		type filter hook prerouting priority filter; policy accept;
		tcp dport 21 counter ct helper set "ftp-standard"
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state invalid counter drop
		ct helper "ftp" counter
		meta l4proto { tcp, udp } counter flow add @ft counter
		ct state established,related counter accept
		ct state new counter accept
		counter
	}
	chain output {
		type filter hook output priority filter; policy accept;
		ct state related counter
		counter
	}
}
"#;

/// The reverse route of `flow add`: an IPv6 host that is a client in one connection and a
/// server in another has no host route back via LAN (the kernel oracle routes only
/// addresses seen on the LAN side alone), so its connections' reply-side tuples follow the
/// default route, never match, and stay on the slow path; IPv4 is strict on the input
/// device and offloads the same pattern.
pub fn both_sides_trace(path: &std::path::Path) {
    let mut t = Trace::new();
    let o = Opt::default();
    for v6 in [true, false] {
        let (h, s, c) = if v6 {
            ("[2001:db8:1::10]", "[2001:db8:2::20]", "[2001:db8:1::30]")
        } else {
            ("192.0.2.10", "198.51.100.20", "192.0.2.30")
        };
        // H is a client…
        t.udp_rr(&format!("{h}:5000"), &format!("{s}:53"), 6, 100, o);
        t.tcp_conn(&format!("{h}:40000"), &format!("{s}:80"), 10, 300, o);
        // …and a server for C (whose first packet arrives on the LAN side).
        t.udp_rr(&format!("{c}:6000"), &format!("{h}:8000"), 4, 80, o);
        // A one-way UDP stream from H.
        for _ in 0..6 {
            t.udp(&format!("{h}:7000"), &format!("{s}:9000"), 120, o);
        }
    }
    t.write(path);
}

/// Packets over the MTU on an offloaded flow: with WAN at 1500 the flowtable hands them to
/// the slow path (`nf_flow_exceeds_mtu`), which fragments them; with the oracle's 65535 they
/// stay in the flowtable.
pub fn big_packets_trace(path: &std::path::Path) {
    let mut t = Trace::new();
    let o = Opt::default();
    let no_df = Opt { df: false, ..o };
    t.udp_rr("192.0.2.10:5000", "198.51.100.1:9000", 3, 1200, o);
    for _ in 0..4 {
        t.udp("192.0.2.10:5000", "198.51.100.1:9000", 3000, no_df);
    }
    t.udp_rr("[2001:db8:1::10]:5000", "[2001:db8:2::1]:9000", 3, 1200, o);
    t.udp("[2001:db8:1::10]:5000", "[2001:db8:2::1]:9000", 3000, o);
    t.tcp_conn("192.0.2.11:40000", "198.51.100.2:80", 6, 1400, o);
    t.write(path);
}

/// A helper's connection (FTP control) and a plain one.
pub fn helper_trace(path: &std::path::Path) {
    let mut t = Trace::new();
    let o = Opt::default();
    t.tcp_conn("192.0.2.10:40000", "198.51.100.1:21", 10, 60, o);
    t.tcp_conn("192.0.2.10:40001", "198.51.100.1:80", 10, 60, o);
    t.write(path);
}

/// Classes 1 (reverse route), 2 (MTU in the flowtable), 3 (NAT with the flowtable) and 4
/// (helpers) in the Debian 6.1 VM, one boot, offsim (`--kernel 6.1`) against the kernel.
#[test]
fn flowtable_classes_match_kernel_in_vm() {
    let tmp = kernel::TempDir::new("fid-vm");
    let flow = std::fs::read_to_string(crate::util::oracle_data("flow.nft")).unwrap();
    let (both, big, nat, helper) = (
        tmp.0.join("both.pcap"),
        tmp.0.join("big.pcap"),
        tmp.0.join("nat.pcap"),
        tmp.0.join("helper.pcap"),
    );
    both_sides_trace(&both);
    big_packets_trace(&big);
    nat_trace(&nat);
    helper_trace(&helper);
    let mut jobs = vec![
        OracleJob::new(&flow, &both, "lan0", "wan0", Sides::Flow),
        OracleJob::new(&flow, &big, "lan0", "wan0", Sides::Flow),
        OracleJob::new(&flow, &big, "lan0", "wan0", Sides::Flow),
        OracleJob::new(
            &fw4_nat(true),
            &nat,
            "lan0",
            "wan0",
            Sides::parse("lan=192.168.1.0/24").unwrap(),
        ),
        OracleJob::new(FLOW_HELPER, &helper, "lan0", "wan0", Sides::Flow),
    ];
    jobs[2].topology.dev_mtu = vec![("wan0".into(), 1500)];
    jobs[3].nat = true;
    let names = [
        "IPv6 host on both sides",
        "big packets (65535)",
        "big packets (WAN 1500)",
        "fw4 NAT with flowtable",
        "FTP helper",
    ];
    let run = match kernel::vm::run_jobs(&jobs) {
        Ok(r) => r,
        Err(kernel::vm::VmError::Unavailable(why)) => {
            eprintln!("SKIP flowtable oracle VM: {why}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    eprintln!(
        "fidelity VM: kernel {}, qemu wall {:.1} s, jobs {:?} s",
        run.kernel,
        run.wall.as_secs_f64(),
        run.job_seconds
    );
    let mut bad = String::new();
    for ((job, k), name) in jobs.iter().zip(&run.results).zip(names) {
        let o = kernel::offsim_counters(job, KernelFlavour::Mid);
        let d = differences(k, &o);
        if !d.is_empty() {
            bad.push_str(&format!("{name}:\n{d}"));
        }
    }
    assert!(bad.is_empty(), "offsim differs from the 6.1 kernel:\n{bad}");
    // The classes are exercised: IPv6 flows of the host on both sides stay on the slow path
    // (more TCP/UDP packets reach FORWARD than for IPv4); big packets leave the flowtable
    // with a 1500 MTU only; the helper's connection is never added.
    let fwd = |r: &KernelResult, i: usize| {
        r.rule("inet", "filter", "forward", i)
            .unwrap()
            .counters
            .clone()
    };
    assert!(fwd(&run.results[2], 1)[0].0 > fwd(&run.results[1], 1)[0].0);
    assert_eq!(
        fwd(&run.results[4], 2)[1].0,
        1,
        "only the plain connection is added"
    );
}

/// Replay timing: with recorded timestamps (tcpreplay's real-time mode, `rules eval
/// --retime recorded`) a UDP tuple idle past its conntrack timeout is NEW again; replayed
/// back to back (`--topspeed`, `--retime topspeed`) it is still ESTABLISHED. Both clocks,
/// both answers, each agreeing with the kernel.
#[test]
fn replay_timing_matches_kernel() {
    if skip_oracle() {
        return;
    }
    const RS: &str = r#"
table inet t {
    chain forward {
        type filter hook forward priority filter; policy accept;
        ct state new counter
        ct state established counter
        meta l4proto udp counter
        counter
    }
}
"#;
    let tmp = kernel::TempDir::new("fid-time");
    let mut t = Trace::new();
    let o = Opt::default();
    t.udp_rr("192.0.2.10:5000", "198.51.100.1:53", 2, 40, o);
    for _ in 0..3 {
        t.udp("192.0.2.10:6000", "198.51.100.1:9000", 100, o);
    }
    t.tcp_conn("192.0.2.11:40000", "198.51.100.2:80", 2, 100, o);
    // Idle longer than the (shortened) UDP timeouts, then the same tuples again.
    t.idle(6.0);
    t.udp_rr("192.0.2.10:5000", "198.51.100.1:53", 1, 40, o);
    t.udp("192.0.2.10:6000", "198.51.100.1:9000", 100, o);
    let pcap = tmp.0.join("idle.pcap");
    t.write(&pcap);
    let mut results = Vec::new();
    for speed in [kernel::Speed::Realtime, kernel::Speed::TopSpeed] {
        let mut job = OracleJob::new(RS, &pcap, "lan0", "wan0", Sides::Flow);
        job.speed = speed;
        job.spacing_ns = None;
        job.sysctls.extra = vec![
            ("net/netfilter/nf_conntrack_udp_timeout".into(), "3".into()),
            (
                "net/netfilter/nf_conntrack_udp_timeout_stream".into(),
                "4".into(),
            ),
        ];
        results.push(agree(&format!("replay timing ({speed:?})"), &job));
    }
    let new = |r: &KernelResult| r.rule("inet", "t", "forward", 0).unwrap().packets;
    // Real time: the request/response tuple starts again as a new connection (the
    // one-way stream is new either way: it never saw a reply).
    assert_eq!(new(&results[0]), new(&results[1]) + 1);
}

/// `rules eval` and `run` are one router: on the bundled fw4 ruleset (masquerade on WAN)
/// and a generated home-router trace, `rules eval` forwards IPv4 as `run` does and every
/// rule's counter equals the one `run` reports for the same configuration (software
/// flowtable, the trace's recorded timing, a CPU that is never overloaded).
#[test]
fn rules_eval_and_run_agree_on_fw4() {
    use crate::util::{offsim, scratch};
    let dir = scratch("fidelity", "rules-vs-run");
    let trace = dir.join("home.pcap");
    let g = offsim(&[
        "trace",
        "gen",
        "--profile",
        "home-router",
        "--seed",
        "5",
        "--packets",
        "20000",
        "-o",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    let ruleset = crate::util::repo().join("scenarios/rulesets/home-fw4.nft");
    let sc = dir.join("s.toml");
    std::fs::write(
        &sc,
        format!(
            "name = \"fw4\"\npolicies = [\"software\"]\n[trace]\nfile = {trace:?}\n\
             [ruleset]\nfile = {ruleset:?}\niif = \"lan0\"\noif = \"wan0\"\nsides = \"flow\"\n\
             [cpu]\npreset = \"x86-server\"\n[nic]\npreset = \"connectx6dx\"\n\
             [kernel]\nflavour = \"6.6\"\nconntrack = \"openwrt\"\n"
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let r = offsim(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let run = &report["runs"][0];
    assert_eq!(
        run["drops"]["total"], 0,
        "the CPU must keep up: {}",
        run["drops"]
    );
    let e = offsim(&[
        "rules",
        "eval",
        ruleset.to_str().unwrap(),
        trace.to_str().unwrap(),
        "--json",
        "--sides",
        "flow",
        "--kernel",
        "6.6",
        "--ct-timeouts",
        "openwrt",
    ]);
    assert_eq!(e.code, 0, "{}", e.stderr);
    let eval: serde_json::Value = serde_json::from_str(&e.stdout).unwrap();
    let from_run: Vec<(String, u64, u64, u64)> = run["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x.get("index").is_some())
        .map(|x| {
            (
                x["chain"].as_str().unwrap().to_string(),
                x["index"].as_u64().unwrap(),
                x["packets"].as_u64().unwrap(),
                x["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let from_eval: Vec<(String, u64, u64, u64)> = eval["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["chain"].as_str().unwrap().to_string(),
                x["index"].as_u64().unwrap(),
                x["packets"].as_u64().unwrap(),
                x["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let diff: Vec<String> = from_run
        .iter()
        .zip(&from_eval)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| {
            format!(
                "{} #{}: run {}/{} rules eval {}/{}",
                a.0, a.1, a.2, a.3, b.2, b.3
            )
        })
        .collect();
    assert_eq!(from_run.len(), from_eval.len());
    assert!(
        diff.is_empty(),
        "run and rules eval differ:\n{}",
        diff.join("\n")
    );
    // Masquerade works in both (the router owns addresses): IPv4 is forwarded, not dropped.
    let masq = from_eval.iter().find(|r| r.0 == "srcnat_wan").unwrap();
    assert!(masq.2 > 0, "{masq:?}");
    let dropped: u64 = eval["summary"]["dropped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(
        dropped * 100 < eval["summary"]["packets"].as_u64().unwrap(),
        "{}",
        eval["summary"]
    );
}
