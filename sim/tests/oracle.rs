//! Kernel oracle tests: the real kernel's nftables counters against offsim's.
//! They need root, `nft`, `tcpreplay` and network namespaces; otherwise they print SKIP.

mod kernel;

use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oracle")
        .join(name)
}

fn skip() -> bool {
    match kernel::available() {
        Ok(()) => false,
        Err(why) => {
            eprintln!("SKIP kernel oracle: {why}");
            true
        }
    }
}

/// The harness itself reproduces the reference results of the shared oracle's demo.
#[test]
fn harness_reproduces_demo_counters() {
    if skip() {
        return;
    }
    let tmp = kernel::TempDir::new("demo");
    let pcap = tmp.0.join("demo.pcap");
    let n = kernel::prep_pcap(&data("demo.pcap"), &pcap, Some(10_000)).unwrap();
    assert_eq!(n, 65);
    let ruleset = std::fs::read_to_string(data("demo.nft")).unwrap();
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
