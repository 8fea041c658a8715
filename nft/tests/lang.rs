//! Language front-end tests: defines, includes, block merging, command positions, JSON
//! commands, canonical equality of equivalent spellings.

use offsim_nft::{LoadOptions, Ruleset};

use crate::util;

fn load(t: &str) -> Ruleset {
    util::load(t, "t.nft")
}

fn texts(rs: &Ruleset, chain: &str) -> Vec<String> {
    let c = rs.chains().iter().find(|c| c.name == chain).unwrap();
    rs.chain_rules(c.id)
        .iter()
        .map(|r| r.text.clone())
        .collect()
}

fn same(a: &str, b: &str) {
    let (ra, rb) = (load(a), load(b));
    assert_eq!(ra.model(), rb.model(), "\n{a}\nvs\n{b}");
}

#[test]
fn defines_nest_and_flatten_inside_tables() {
    let rs = load(
        "define a = { 10.0.0.1, 10.0.0.2 }
         table inet t {
            define b = { $a, 192.168.0.0/16 }
            define p = 22
            chain c { ip saddr $b tcp dport $p accept }
         }",
    );
    assert_eq!(
        texts(&rs, "c"),
        ["ip saddr { 10.0.0.1-10.0.0.2, 192.168.0.0/16 } tcp dport 22 accept"]
    );
    let e = Ruleset::from_str(
        "table ip t { chain c { ip saddr $nope } }",
        "u.nft",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.msg.contains("unknown identifier"), "{e}");
}

#[test]
fn includes_relative_and_globs() {
    let dir = std::env::temp_dir().join(format!("offsim-nft-inc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(
        dir.join("d/10-a.nft"),
        "add rule inet t c tcp dport 1 accept\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("d/20-b.nft"),
        "add rule inet t c tcp dport 2 accept\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.nft"),
        "table inet t { chain c { } }\ninclude \"d/*.nft\"\ninclude \"none/*.nft\"\n",
    )
    .unwrap();
    let rs = Ruleset::load(dir.join("main.nft"), &LoadOptions::default()).unwrap();
    assert_eq!(
        texts(&rs, "c"),
        ["tcp dport 1 accept", "tcp dport 2 accept"]
    );
    std::fs::write(dir.join("bad.nft"), "include \"missing.nft\"\n").unwrap();
    let e = Ruleset::load(dir.join("bad.nft"), &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("missing.nft"), "{e}");
    assert_eq!(e.line, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn blocks_merge_and_commands_position_rules() {
    let rs = load(
        "table ip x { chain a { accept; }; }
         table ip x { chain a { drop; }; }
         insert rule ip x a counter
         add rule x a position 2 continue
         insert rule ip x a index 1 return
         # handle 7 comment
         add rule x a tcp dport 9 drop # handle 9\n",
    );
    // anonymous interval sets merge adjacent elements, as nft does
    let t = texts(&rs, "a");
    assert_eq!(t[0], "counter");
    assert!(t.contains(&"accept".to_string()) && t.contains(&"drop".to_string()));
    assert_eq!(t.last().unwrap(), "tcp dport 9 drop");
    assert_eq!(t[1], "return");
}

#[test]
fn equivalent_spellings_normalise_equal() {
    same(
        "table ip t { chain c { meta l4proto tcp tcp dport ssh accept } }",
        "table ip t { chain c { tcp dport 22 accept } }",
    );
    same(
        "table inet t { chain c { mark set mark or 0x4000; ct mark set mark } }",
        "table inet t { chain c { meta mark set meta mark | 0x00004000; ct mark set meta mark } }",
    );
    same(
        "table ip t { chain c { ip saddr 10.0.0.1/8 iifname eth0 accept } }",
        "table ip t { chain c { ip saddr 10.0.0.0/8 iifname \"eth0\" accept } }",
    );
    same(
        "table inet t { chain c { ct state vmap { established : accept, related : accept, invalid : drop } } }",
        "table inet t { chain c { ct state vmap { invalid : drop, established : accept, related : accept } } }",
    );
    same(
        "table inet t { flowtable ft { hook ingress priority 0; devices = { eth0 }; } chain c { flow offload @ft } }",
        "table inet t { flowtable ft { hook ingress priority filter; devices = { \"eth0\" }; } chain c { flow add @ft } }",
    );
    same(
        "table inet t { chain c { tcp flags & (fin | syn | rst | ack) == syn } }",
        "table inet t { chain c { tcp flags syn / fin,syn,rst,ack } }",
    );
    same(
        "table inet t { chain c { reject with tcp reset } }",
        "table inet t { chain c { meta l4proto tcp reject with tcp reset } }",
    );
    same(
        "table ip t { chain c { type nat hook postrouting priority 100; } }",
        "table ip t { chain c { type nat hook postrouting priority srcnat; } }",
    );
}

#[test]
fn json_commands_match_text() {
    same(
        "table ip t { chain c { type filter hook input priority 0; policy drop; tcp dport 22 counter accept } }",
        r#"{"nftables":[{"add":{"table":{"family":"ip","name":"t"}}},
           {"add":{"chain":{"family":"ip","table":"t","name":"c","type":"filter","hook":"input","prio":0,"policy":"drop"}}},
           {"add":{"rule":{"family":"ip","table":"t","chain":"c","expr":[
              {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":"ssh"}},
              {"counter":null},{"accept":null}]}}}]}"#,
    );
    let rs = load(
        r#"{"nftables":[{"table":{"family":"inet","name":"t"}},
           {"chain":{"family":"inet","table":"t","name":"c"}},
           {"rule":{"family":"inet","table":"t","chain":"c","expr":[{"accept":null}]}},
           {"insert":{"rule":{"family":"inet","table":"t","chain":"c","expr":[{"drop":null}]}}},
           {"flush":{"chain":{"family":"inet","table":"t","name":"c"}}},
           {"add":{"rule":{"family":"inet","table":"t","chain":"c","expr":[{"return":null}]}}}]}"#,
    );
    assert_eq!(texts(&rs, "c"), ["return"]);
}

#[test]
fn docker_dstnat_on_output_and_priorities() {
    let rs = load(
        "table ip t { chain o { type nat hook output priority dstnat; } chain p { type filter hook prerouting priority mangle - 5; } }",
    );
    let p: Vec<i32> = rs.chains().iter().map(|c| c.priority).collect();
    assert_eq!(p, [-100, -155]);
    assert!(
        Ruleset::from_str(
            "table ip t { chain o { type nat hook prerouting priority srcnat; } }",
            "p.nft",
            &LoadOptions::default()
        )
        .is_err()
    );
}

/// Where nft 1.0.6 rejects a ruleset, offsim does too, with file:line:col: keywords as
/// names (probed with `nft -c`: "unexpected fwd, expecting string") and prefix lengths that
/// no type has (`/4294967296` used to wrap to `/0`, matching every address).
#[test]
fn keywords_as_names_and_impossible_prefixes_are_errors() {
    for (text, at) in [
        ("table ip t {\n chain fwd {\n }\n}\n", "t.nft:2:8"),
        (
            "table ip t {\n set counter {\n  type ipv4_addr\n }\n}\n",
            "t.nft:2:6",
        ),
        ("table ip accept {\n}\n", "t.nft:1:10"),
        (
            "table ip t {\n chain c {\n  jump drop\n }\n}\n",
            "t.nft:3:8",
        ),
        (
            "table ip t {\n chain c {\n  ip saddr 192.0.2.0/4294967296 drop\n }\n}\n",
            "t.nft:3:22",
        ),
        (
            "table ip t {\n chain c {\n  ip saddr 192.0.2.0/33 drop\n }\n}\n",
            "t.nft:3",
        ),
    ] {
        let e = Ruleset::from_str(text, "t.nft", &LoadOptions::default())
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"))
            .to_string();
        assert!(e.contains(at), "{e}\n{text}");
    }
    let j = r#"{"nftables": [{"table": {"family": "ip", "name": "t"}},
        {"chain": {"family": "ip", "table": "t", "name": "c"}},
        {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": [{"match": {"op": "==",
          "left": {"payload": {"protocol": "ip", "field": "saddr"}},
          "right": {"prefix": {"addr": "192.0.2.0", "len": 4294967296}}}}, {"drop": null}]}}]}"#;
    let Err(e) = Ruleset::from_str(j, "t.json", &LoadOptions::default()) else {
        panic!("a JSON /4294967296 is refused");
    };
    let e = e.to_string();
    assert!(e.contains("prefix length 4294967296"), "{e}");
    // Quoted, a keyword is a name; words nft scans as keywords only in context are names.
    for text in [
        "table ip t {\n chain \"fwd\" {\n }\n}\n",
        "table ip filter {\n chain input {\n }\n chain dport {\n }\n}\n",
    ] {
        Ruleset::from_str(text, "t.nft", &LoadOptions::default()).unwrap();
    }
}
