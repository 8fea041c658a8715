//! Flowtable kernel oracle: the harness of `kernel/` run inside a Debian 6.1 VM (whose kernel
//! has `nf_flow_table`) with two-sided replay. These tests need root, qemu-system-x86_64 and
//! `apt-get download` (for the VM image); otherwise they print SKIP and pass.

use crate::kernel::vm::{self, VmError};
use crate::kernel::{self, KernelResult, OracleJob, Sides};
use crate::util::oracle_data;

/// The per-packet sides `split-dirs.py` gave flow.pcap (`flowvm.split.side_per_packet` in
/// `/work/shared/oracle-vm/examples/flow-two.json`).
const SPLIT_DIRS_FLOW: &str = "LWLLWWWLLWLLWLLWLLWLWLWLLLLLLWLLWLWLLWLWLWLWWLLWLWLLWLLWLWLLLWLLWLW";

/// The oracle's side split (offsim's `SideSplitter`) is the one the reference oracle used.
#[test]
fn side_split_matches_split_dirs() {
    let tmp = kernel::TempDir::new("split");
    let prepared = tmp.0.join("flow.pcap");
    assert_eq!(
        kernel::prep_pcap(&oracle_data("flow.pcap"), &prepared, None).unwrap(),
        67
    );
    let split = kernel::split_sides(&prepared, &tmp.0.join("sides.pcap"), &Sides::Flow).unwrap();
    let got: String = split
        .per_packet
        .iter()
        .map(|s| match s {
            offsim_kernel::sides::Side::Lan => 'L',
            offsim_kernel::sides::Side::Wan => 'W',
        })
        .collect();
    assert_eq!(got, SPLIT_DIRS_FLOW);
    assert_eq!((split.lan, split.wan), (41, 26));
    // LAN hosts get routes back via the LAN interface: 192.0.2.x and 2001:db8:1::x only.
    assert!(!split.lan_hosts.is_empty());
    for &(v, a) in &split.lan_hosts {
        let s = if v == 4 {
            std::net::Ipv4Addr::from(a as u32).to_string()
        } else {
            std::net::Ipv6Addr::from(a).to_string()
        };
        assert!(
            s.starts_with("192.0.2.") || s.starts_with("2001:db8:1:"),
            "{s}"
        );
    }
}

/// Packets and bytes of every counter of the `forward` chain's rules.
fn forward_counters(r: &KernelResult) -> Vec<Vec<(u64, u64)>> {
    r.rules
        .iter()
        .filter(|x| x.family == "inet" && x.table == "filter" && x.chain == "forward")
        .map(|x| x.counters.clone())
        .collect()
}

/// flow.nft + flow.pcap in the 6.1 VM reproduce the reference oracle's counters, two-sided
/// and single-sided, and two two-sided runs agree exactly; the demo gives the host's
/// counters. One boot.
#[test]
fn flowtable_reference_counters_in_vm() {
    let ruleset = std::fs::read_to_string(oracle_data("flow.nft")).unwrap();
    let job = |sides| OracleJob::new(&ruleset, &oracle_data("flow.pcap"), "lan0", "wan0", sides);
    // Plus the demo (no flowtable), whose counters the host kernel gives in every mode
    // (oracle.rs): the VM harness agrees with the host harness.
    let demo = OracleJob::new(
        &std::fs::read_to_string(oracle_data("demo.nft")).unwrap(),
        &oracle_data("demo.pcap"),
        "lan0",
        "wan0",
        Sides::Flow,
    );
    let jobs = [job(Sides::Flow), job(Sides::Flow), job(Sides::Single), demo];
    let run = match vm::run_jobs(&jobs) {
        Ok(r) => r,
        Err(VmError::Unavailable(why)) => {
            crate::util::skip(&format!("flowtable oracle VM: {why}"));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    eprintln!(
        "flowtable VM: kernel {}, qemu wall {:.1} s, job started at guest uptime {:.1} s, \
         jobs {:?} s",
        run.kernel,
        run.wall.as_secs_f64(),
        run.guest_job_start,
        run.job_seconds
    );
    assert!(run.kernel.starts_with("6.1."), "kernel {}", run.kernel);
    assert_eq!(run.results.len(), jobs.len());
    let (two, again, single) = (&run.results[0], &run.results[1], &run.results[2]);
    assert_eq!(two, again, "two-sided runs differ");

    // Two-sided (oracle-vm README, "Results"; bytes from examples/flow-two.json).
    assert_eq!(
        forward_counters(two),
        vec![
            vec![(0, 0)],
            vec![(38, 2138), (10, 724)],
            vec![(31, 1582)],
            vec![(11, 684)],
            vec![(0, 0)],
        ],
        "{two:#?}"
    );
    assert_eq!(two.policies.len(), 1);
    assert_eq!((two.policies[0].packets, two.policies[0].bytes), (0, 0));
    assert_eq!((two.sent, two.sent_lan, two.sent_wan), (67, 41, 26));
    assert_eq!((two.ingress_lan, two.ingress_wan), (41, 26));
    assert_eq!(two.prerouting, 42);
    assert_eq!(two.not_at_prerouting(), 25);
    // Nothing is dropped: LAN-side packets leave on the WAN side and replies on the LAN side.
    assert_eq!((two.out_wan, two.out_lan), (41, 26));

    // Single-sided: only the adding direction is offloaded.
    assert_eq!(
        forward_counters(single),
        vec![
            vec![(0, 0)],
            vec![(49, 4638), (10, 724)],
            vec![(42, 4082)],
            vec![(11, 684)],
            vec![(0, 0)],
        ],
        "{single:#?}"
    );
    assert_eq!((single.sent, single.sent_lan, single.sent_wan), (67, 67, 0));
    assert_eq!((single.ingress_lan, single.ingress_wan), (67, 0));
    assert_eq!(single.not_at_prerouting(), 14);
    assert_eq!((single.out_wan, single.out_lan), (67, 0));

    // offsim (`rules eval --kernel 6.1 --sides flow|single`) gives the same counters as the
    // 6.1 kernel, rule by rule and counter by counter.
    for (k, j) in [(two, &jobs[0]), (single, &jobs[2])] {
        let o = kernel::offsim_counters(j, offsim_kernel::flowtable::KernelFlavour::Mid);
        assert_eq!(
            forward_counters(&o),
            forward_counters(k),
            "offsim vs 6.1 ({})",
            kernel::sides_arg(&j.sides)
        );
        assert_eq!(o.policies.len(), k.policies.len());
        for (a, b) in o.policies.iter().zip(k.policies.iter()) {
            assert_eq!(
                (a.packets, a.bytes),
                (b.packets, b.bytes),
                "policy {}",
                a.chain
            );
        }
    }

    let demo = &run.results[3];
    let packets: Vec<u64> = demo.rules.iter().map(|r| r.packets).collect();
    assert_eq!(packets, vec![32, 7, 5, 3, 12], "{demo:#?}");
    assert_eq!(demo.policies[0].packets, 12);
    assert_eq!(demo.out_lan + demo.out_wan, 40 + demo.router_sent);
    assert_eq!(demo.not_at_prerouting(), 0);
}

/// The job description the host hands to the guest keeps the side mode.
#[test]
fn job_description_round_trips() {
    let sides = Sides::parse("lan=192.0.2.0/24,2001:db8:1::/48").unwrap();
    assert_eq!(
        kernel::sides_arg(&sides),
        "lan=192.0.2.0/24,2001:db8:1::/48"
    );
    let j = OracleJob::new(
        "table inet t {}",
        std::path::Path::new("x.pcap"),
        "lan0",
        "wan0",
        sides.clone(),
    );
    let text = serde_json::to_string(&j).unwrap();
    let back: OracleJob = serde_json::from_str(&text).unwrap();
    assert_eq!(back.sides, sides);
    assert_eq!(back.spacing_ns, j.spacing_ns);
    let bad = text.replace("lan=192.0.2.0/24", "lan=300.0.0.0/8");
    let err = serde_json::from_str::<OracleJob>(&bad).unwrap_err();
    assert!(err.to_string().contains("bad prefix"), "{err}");
}

/// offsim alone on the reference case (no VM needed): the counters the 6.1 kernel gives,
/// two-sided and single-sided.
#[test]
fn offsim_gives_the_reference_flowtable_counters() {
    let ruleset = std::fs::read_to_string(oracle_data("flow.nft")).unwrap();
    let job = |sides| OracleJob::new(&ruleset, &oracle_data("flow.pcap"), "lan0", "wan0", sides);
    let two = kernel::offsim_counters(
        &job(Sides::Flow),
        offsim_kernel::flowtable::KernelFlavour::Mid,
    );
    assert_eq!(
        forward_counters(&two),
        vec![
            vec![(0, 0)],
            vec![(38, 2138), (10, 724)],
            vec![(31, 1582)],
            vec![(11, 684)],
            vec![(0, 0)]
        ],
        "{two:#?}"
    );
    let single = kernel::offsim_counters(
        &job(Sides::Single),
        offsim_kernel::flowtable::KernelFlavour::Mid,
    );
    assert_eq!(
        forward_counters(&single),
        vec![
            vec![(0, 0)],
            vec![(49, 4638), (10, 724)],
            vec![(42, 4082)],
            vec![(11, 684)],
            vec![(0, 0)]
        ],
        "{single:#?}"
    );
}

/// Larger flowtable cases in the VM: 10,000 generated packets of three profiles through the
/// reference flowtable ruleset, two-sided, offsim against the 6.1 kernel rule by rule. About
/// a minute of qemu TCG, so it runs only with `OFFSIM_VM_LARGE=1` (the small case above runs
/// always).
#[test]
fn flowtable_generated_traffic_in_vm() {
    if std::env::var_os("OFFSIM_VM_LARGE").is_none() {
        crate::util::skip("larger flowtable VM cases: set OFFSIM_VM_LARGE=1");
        return;
    }
    use offsim_traces::r#gen::{GenConfig, Profile, Stop, generate_file};
    let tmp = kernel::TempDir::new("flowgen");
    let ruleset = std::fs::read_to_string(oracle_data("flow.nft")).unwrap();
    let mut jobs = Vec::new();
    for (i, profile) in [
        Profile::HomeRouter,
        Profile::Enterprise,
        Profile::Datacenter,
    ]
    .iter()
    .enumerate()
    {
        let pcap = tmp.0.join(format!("{}.pcap", profile.name()));
        generate_file(
            &GenConfig::new(*profile, 21 + i as u64, Stop::Packets(10_000)),
            &pcap,
        )
        .unwrap();
        let mut job = OracleJob::new(&ruleset, &pcap, "lan0", "wan0", Sides::Flow);
        job.speed = kernel::Speed::Pps(2_000);
        jobs.push(job);
    }
    let run = match vm::run_jobs(&jobs) {
        Ok(r) => r,
        Err(VmError::Unavailable(why)) => {
            crate::util::skip(&format!("flowtable oracle VM: {why}"));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    eprintln!(
        "flowtable VM: qemu wall {:.1} s, jobs {:?} s",
        run.wall.as_secs_f64(),
        run.job_seconds
    );
    for (j, k) in jobs.iter().zip(&run.results) {
        let o = kernel::offsim_counters(j, offsim_kernel::flowtable::KernelFlavour::Mid);
        eprintln!(
            "kernel {:?}\noffsim {:?}",
            forward_counters(k),
            forward_counters(&o)
        );
        assert_eq!(forward_counters(&o), forward_counters(k), "offsim vs 6.1");
    }
}
