//! Property tests: the loader never panics, whatever the input (random bytes, random token
//! soup, random mutations of corpus files, text and JSON).

use offsim_nft::{LoadOptions, Ruleset};
use proptest::prelude::*;

fn opts() -> LoadOptions {
    LoadOptions {
        allow_includes: false,
        ..Default::default()
    }
}

fn seeds() -> Vec<String> {
    let mut v = vec![
        "table inet f { chain c { type filter hook forward priority 0; policy drop; ct state established,related accept; tcp dport { 22, 80-90 } counter accept; iifname \"eth*\" ip saddr . tcp dport @s drop } set s { type ipv4_addr . inet_service; flags interval; elements = { 10.0.0.0/8 . 22 } } }".to_string(),
        "{\"nftables\":[{\"table\":{\"family\":\"ip\",\"name\":\"t\"}},{\"chain\":{\"family\":\"ip\",\"table\":\"t\",\"name\":\"c\",\"type\":\"filter\",\"hook\":\"input\",\"prio\":0}},{\"rule\":{\"family\":\"ip\",\"table\":\"t\",\"chain\":\"c\",\"expr\":[{\"match\":{\"op\":\"==\",\"left\":{\"payload\":{\"protocol\":\"tcp\",\"field\":\"dport\"}},\"right\":22}},{\"accept\":null}]}}]}".to_string(),
    ];
    for f in [
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nft-corpus/realworld/openwrt-fw4_01_default_ruleset.nft"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nft-corpus/realworld/kube-proxy_nftables_overall_ipv4.nft"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nft-corpus/realworld/canonical-nft1.0.6/firewalld_inet_large_0049huge.json"
        ),
    ] {
        if let Ok(t) = std::fs::read_to_string(f) {
            v.push(t.chars().take(6000).collect());
        }
    }
    v
}

const TOKENS: &[&str] = &[
    "table",
    "inet",
    "ip",
    "ip6",
    "chain",
    "set",
    "map",
    "{",
    "}",
    ";",
    "\n",
    "type",
    "filter",
    "hook",
    "input",
    "priority",
    "policy",
    "accept",
    "drop",
    "jump",
    "goto",
    "tcp",
    "dport",
    "saddr",
    "22",
    "10.0.0.1",
    "::1",
    "/",
    "-",
    ",",
    ".",
    ":",
    "@s",
    "$v",
    "define",
    "v",
    "=",
    "counter",
    "ct",
    "state",
    "new",
    "vmap",
    "flags",
    "interval",
    "elements",
    "meta",
    "mark",
    "set",
    "0x1",
    "|",
    "&",
    "!=",
    "!",
    "==",
    "\"eth*\"",
    "flow",
    "add",
    "@ft",
    "flowtable",
    "devices",
    "limit",
    "rate",
    "1/second",
    "quota",
    "dnat",
    "to",
    "snat",
    "masquerade",
    "[",
    "]",
    "(",
    ")",
    "numgen",
    "mod",
    "fib",
    "daddr",
    "oif",
    "missing",
    "reject",
    "with",
    "icmpx",
    "{\"nftables\":[",
    "]}",
    "#",
    "\\\n",
    "include",
    "\"/nonexistent/*.nft\"",
    "insert",
    "rule",
    "handle",
    "index",
    "position",
];

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for open in ["(", "{", "["] {
        let s = format!(
            "table ip t {{ chain c {{ ip saddr {} }} }}",
            open.repeat(100_000)
        );
        assert!(Ruleset::from_str(&s, "deep.nft", &opts()).is_err());
    }
    let j = format!("{{\"nftables\":[{}]}}", "[".repeat(100_000));
    assert!(Ruleset::from_str(&j, "deep.json", &opts()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = Ruleset::from_str(&s, "fuzz.nft", &opts());
    }

    #[test]
    fn token_soup_never_panics(idx in proptest::collection::vec(0..TOKENS.len(), 0..60)) {
        let s: Vec<&str> = idx.iter().map(|&i| TOKENS[i]).collect();
        let _ = Ruleset::from_str(&s.join(" "), "soup.nft", &opts());
    }

    #[test]
    fn corpus_mutations_never_panic(which in 0usize..8, pos in 0usize..6000, len in 0usize..40,
                                    ins in proptest::collection::vec(0..TOKENS.len(), 0..4)) {
        let seeds = seeds();
        let base = &seeds[which % seeds.len()];
        let chars: Vec<char> = base.chars().collect();
        let p = pos.min(chars.len());
        let e = (p + len).min(chars.len());
        let mut s: String = chars[..p].iter().collect();
        for i in ins {
            s.push_str(TOKENS[i]);
            s.push(' ');
        }
        s.extend(chars[e..].iter());
        let r = Ruleset::from_str(&s, "mut.nft", &opts());
        if let Err(e) = r {
            // errors render without panicking and name the file
            let msg = e.to_string();
            prop_assert!(msg.contains("mut.nft"));
        }
    }
}
