//! Kernel oracle tests: the real kernel's nftables counters against offsim's.
//! They need root, `nft`, `tcpreplay` and network namespaces; otherwise they print SKIP.

use std::path::PathBuf;

use crate::kernel;
use crate::util::{oracle_data, skip_oracle};

/// The harness itself reproduces the reference results of the shared oracle's demo.
#[test]
fn harness_reproduces_demo_counters() {
    if skip_oracle() {
        return;
    }
    let tmp = kernel::TempDir::new("demo");
    let pcap = tmp.0.join("demo.pcap");
    let n = kernel::prep_pcap(&oracle_data("demo.pcap"), &pcap, Some(10_000)).unwrap();
    assert_eq!(n, 65);
    let ruleset = std::fs::read_to_string(oracle_data("demo.nft")).unwrap();
    let r = kernel::Router::new(&ruleset, "lan0", "wan0", &kernel::Sysctls::default()).unwrap();
    let sent = r.replay(&pcap, 20_000).unwrap();
    let res = r.counters().unwrap();
    assert_eq!(sent, 65);
    assert_eq!(res.ingress, 65);
    let got: Vec<u64> = res.rules.iter().map(|r| r.packets).collect();
    assert_eq!(got, vec![32, 7, 5, 3, 12]);
    assert_eq!(res.policies.len(), 1);
    assert_eq!(res.policies[0].packets, 12);
}

/// Rules without a counter get one (replaced in place by handle), named counters are read
/// through, and the policy probe is appended.
#[test]
fn rules_without_counters_get_one() {
    if skip_oracle() {
        return;
    }
    let ruleset = std::fs::read_to_string(oracle_data("rich-nocounters.nft")).unwrap();
    let r = kernel::Router::new(&ruleset, "lan0", "wan0", &kernel::Sysctls::default()).unwrap();
    let res = r.counters().unwrap();
    let shape: Vec<(&str, usize)> = res
        .rules
        .iter()
        .map(|x| (x.chain.as_str(), x.counters.len()))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("forward", 1),
            ("forward", 1),
            ("forward", 1),
            ("lan_out", 1),
            ("lan_out", 1),
            ("lan_out", 1),
            ("lan_out", 1),
            ("lan_out", 1),
        ]
    );
    assert_eq!(res.policies.len(), 1);
}

/// Two-sided replay on the host kernel: replies enter on the WAN interface and leave on the
/// LAN one. Without a flowtable the rule counters are those of the single-sided replay.
#[test]
fn two_sided_replay_routes_replies_back_to_lan() {
    if skip_oracle() {
        return;
    }
    let ruleset = std::fs::read_to_string(oracle_data("demo.nft")).unwrap();
    let job = |sides| {
        let mut j =
            kernel::OracleJob::new(&ruleset, &oracle_data("demo.pcap"), "lan0", "wan0", sides);
        j.spacing_ns = Some(10_000);
        kernel::run_job(&j).unwrap()
    };
    let single = job(kernel::Sides::Single);
    let two = job(kernel::Sides::Flow);
    let prefixes = kernel::Sides::parse("lan=192.0.2.0/24,2001:db8:1::/48").unwrap();
    let by_prefix = job(prefixes);
    let packets = |r: &kernel::KernelResult| r.rules.iter().map(|x| x.packets).collect::<Vec<_>>();
    assert_eq!(packets(&single), vec![32, 7, 5, 3, 12]);
    for r in [&two, &by_prefix] {
        assert_eq!(r.rules, single.rules);
        assert_eq!(r.policies, single.policies);
        assert_eq!(r.sent, 65);
        assert!(r.sent_wan > 0, "{r:?}");
        assert_eq!((r.ingress_lan, r.ingress_wan), (r.sent_lan, r.sent_wan));
        assert_eq!(r.prerouting, 65);
        // Forwarded = accepted (32 + 5 + 3); each leaves on the other side. FW's own
        // packets (ICMP time exceeded for the TTL 1 ones) leave too.
        assert_eq!(r.out_lan + r.out_wan, 40 + r.router_sent, "{r:?}");
        assert!(r.out_lan > 0 && r.out_wan > 0, "{r:?}");
    }
    // Single-sided, everything leaves on WAN (FW's one route).
    assert_eq!(
        (single.out_lan, single.out_wan),
        (0, 40 + single.router_sent)
    );
    assert_eq!((single.ingress_lan, single.ingress_wan), (65, 0));
    eprintln!(
        "demo two-sided: flow {}/{} lan=prefix {}/{}",
        two.sent_lan, two.sent_wan, by_prefix.sent_lan, by_prefix.sent_wan
    );
}

// ---------------------------------------------------------------------------------------
// offsim against the kernel: every rule's packets and bytes (and every counter statement),
// and every base chain's policy counter, must be equal.

use offsim_kernel::flowtable::KernelFlavour;

/// Runs the kernel and offsim on a job and asserts equal counters. Returns the kernel's result.
fn agree(what: &str, job: &kernel::OracleJob) -> kernel::KernelResult {
    let k = kernel::run_job(job).unwrap_or_else(|e| panic!("{what}: kernel oracle: {e}"));
    let o = kernel::offsim_counters(job, KernelFlavour::New);
    // Rules without a counter of their own: the kernel harness added one; offsim reports the
    // implicit counter as `packets` and no statement counters.
    let mut diffs = kernel::diff_table(
        &k.rules,
        &o.rules
            .iter()
            .zip(k.rules.iter())
            .map(|(o, k)| {
                let mut o = o.clone();
                if o.counters.is_empty() {
                    o.counters = k.counters.clone();
                    if k.counters.len() == 1 {
                        o.counters = vec![(o.packets, o.bytes)];
                    }
                }
                o
            })
            .collect::<Vec<_>>(),
    );
    let mut kp = k.policies.clone();
    let mut op = o.policies.clone();
    kp.sort();
    op.sort();
    if kp != op {
        diffs.push_str(&format!(
            "policies: kernel {kp:?}\n          offsim {op:?}\n"
        ));
    }
    let total: u64 = k.rules.iter().map(|r| r.packets).sum();
    eprintln!(
        "{what}: {} rules, {} rule hits, ingress {}",
        k.rules.len(),
        total,
        k.ingress
    );
    assert!(
        diffs.is_empty(),
        "{what}: offsim differs from the kernel:\n{diffs}"
    );
    k
}

fn ruleset(name: &str) -> String {
    std::fs::read_to_string(oracle_data(name)).unwrap()
}

#[test]
fn offsim_matches_kernel_on_demo_and_edge_traces() {
    if skip_oracle() {
        return;
    }
    for (rs, pcap) in [
        ("demo.nft", "demo.pcap"),
        ("demo.nft", "edge.pcap"),
        ("rich-nocounters.nft", "demo.pcap"),
        ("rich-nocounters.nft", "edge.pcap"),
    ] {
        for sides in [kernel::Sides::Single, kernel::Sides::Flow] {
            let job = kernel::OracleJob::new(
                &ruleset(rs),
                &oracle_data(pcap),
                "lan0",
                "wan0",
                sides.clone(),
            );
            agree(
                &format!("{rs} + {pcap} ({})", kernel::sides_arg(&sides)),
                &job,
            );
        }
    }
}

/// Generated traffic (50,000 packets of every `trace gen` profile) through real rulesets:
/// OpenWrt fw4 (flowtable, helpers and NAT removed: see the file's header) and firewalld.
#[test]
fn offsim_matches_kernel_on_real_rulesets_and_generated_traffic() {
    if skip_oracle() {
        return;
    }
    use offsim_traces::r#gen::{GenConfig, Profile, Stop, generate_file};
    let tmp = kernel::TempDir::new("gen");
    let fw4 = ruleset("fw4-filter.nft");
    let firewalld = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../nft/tests/data/nft-corpus/realworld/firewalld_inet_large_0049huge.nft"),
    )
    .unwrap();
    let mut total = 0u64;
    for (i, profile) in [
        Profile::HomeRouter,
        Profile::Enterprise,
        Profile::Datacenter,
        Profile::Synflood,
    ]
    .iter()
    .enumerate()
    {
        let pcap = tmp.0.join(format!("{}.pcap", profile.name()));
        let cfg = GenConfig::new(*profile, 11 + i as u64, Stop::Packets(50_000));
        generate_file(&cfg, &pcap).unwrap();
        for (name, rs, iif, oif, sides) in [
            ("fw4", &fw4, "br-lan", "pppoe-wan", kernel::Sides::Flow),
            (
                "firewalld",
                &firewalld,
                "perm_dummy",
                "enp0s25",
                kernel::Sides::Single,
            ),
        ] {
            let mut job = kernel::OracleJob::new(rs, &pcap, iif, oif, sides);
            job.speed = kernel::Speed::Pps(40_000);
            job.spacing_ns = Some(5_000);
            let k = agree(&format!("{name} + {}", profile.name()), &job);
            total += k.ingress;
        }
    }
    assert!(total >= 4 * 2 * 50_000 - 1000, "{total}");
}
