//! Loads the shared nftables corpus: shell dumps (text and JSON twins must give equal
//! models) and the real-world rulesets. Skips with a message when the corpus is absent.

use std::path::{Path, PathBuf};

use offsim_nft::{LoadOptions, Ruleset};

use crate::util::corpus_dir;

fn corpus() -> Option<PathBuf> {
    corpus_dir(None)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.to_string_lossy().ends_with(ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

/// Shell dumps that are expected not to load, with the reason (all `unsupported:`).
const SHELL_UNSUPPORTED: &[&str] = &[
    "0021prio_0.nft",       // base chains of family bridge (no bridge layer)
    "sample-ruleset.nft",   // tcp option maxseg size match, rt type
    "typeof_maps_0.nft",    // osf
    "typeof_sets_0.nft",    // osf
    "merge_vmap_raw.nft",   // raw payload beyond the headers
    "0042update_set_0.nft", // ether
];

/// Shell dumps that must load, and JSON twins that must agree (raise when coverage grows).
const SHELL_LOADED_MIN: usize = 82;
const SHELL_TWINS_MIN: usize = 78;

#[test]
fn shell_dumps_load_and_twins_agree() {
    let Some(c) = corpus() else { return };
    let mut failures = Vec::new();
    let mut unsupported = Vec::new();
    let mut loaded = 0;
    let mut twins = 0;
    for f in files(&c.join("shell"), ".nft") {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.display().to_string();
        let r = Ruleset::from_str(&text, &name, &opts());
        let rs = match r {
            Ok(rs) => rs,
            Err(e) if e.is_unsupported() => {
                let base = f.file_name().unwrap().to_string_lossy().to_string();
                if !SHELL_UNSUPPORTED.contains(&base.as_str()) {
                    failures.push(format!("newly unsupported: {e}"));
                }
                unsupported.push(format!("{e}"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{e}"));
                continue;
            }
        };
        loaded += 1;
        let j = f.with_extension("json-nft");
        if j.exists() {
            let jt = std::fs::read_to_string(&j).unwrap();
            match Ruleset::from_str(&jt, &j.display().to_string(), &opts()) {
                Ok(jr) => {
                    if jr.model() != rs.model() {
                        failures.push(format!(
                            "{}: text and JSON models differ\n{}",
                            name,
                            first_diff(&rs, &jr)
                        ));
                    } else {
                        twins += 1;
                    }
                }
                Err(e) => failures.push(format!("JSON twin: {e}")),
            }
        }
    }
    println!(
        "shell dumps: {loaded} loaded, {twins} twins equal, {} unsupported",
        unsupported.len()
    );
    for u in &unsupported {
        println!("  unsupported: {}", u.lines().next().unwrap_or(""));
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} shell dump failures",
        failures.len()
    );
    assert!(
        loaded >= SHELL_LOADED_MIN,
        "only {loaded} shell dumps loaded (want {SHELL_LOADED_MIN})"
    );
    assert!(
        twins >= SHELL_TWINS_MIN,
        "only {twins} JSON twins equal (want {SHELL_TWINS_MIN})"
    );
}

fn first_diff(a: &Ruleset, b: &Ruleset) -> String {
    let ma = a.model();
    let mb = b.model();
    if ma.tables.len() != mb.tables.len() {
        return format!("table count {} vs {}", ma.tables.len(), mb.tables.len());
    }
    for (ta, tb) in ma.tables.iter().zip(&mb.tables) {
        if ta.name != tb.name || ta.family != tb.family {
            return format!("table {} vs {}", ta.name, tb.name);
        }
        for (sa, sb) in ta.sets.iter().zip(&tb.sets) {
            if sa.0 != sb.0 {
                return format!("set {}:\n  text {:?}\n  json {:?}", sa.0.name, sa.0, sb.0);
            }
        }
        if ta.sets.len() != tb.sets.len() {
            return "set count".into();
        }
        for (fa, fb) in ta.flowtables.iter().zip(&tb.flowtables) {
            if fa.0 != fb.0 {
                return format!("flowtable:\n  text {:?}\n  json {:?}", fa.0, fb.0);
            }
        }
        for (oa, ob) in ta.objects.iter().zip(&tb.objects) {
            if oa.1 != ob.1 || oa.0 != ob.0 {
                return format!("object:\n  text {:?}\n  json {:?}", oa, ob);
            }
        }
        for (ca, cb) in ta.chains.iter().zip(&tb.chains) {
            if ca.name != cb.name || ca.base != cb.base || ca.policy_accept != cb.policy_accept {
                return format!(
                    "chain {}:\n  text {:?} {:?}\n  json {:?} {:?}",
                    ca.name, ca.base, ca.policy_accept, cb.base, cb.policy_accept
                );
            }
            for (ra, rb) in ca.rules.iter().zip(&cb.rules) {
                if ra.1 != rb.1 {
                    return format!(
                        "chain {} rule:\n  text {}\n  json {}\n  text {:?}\n  json {:?}",
                        ca.name, ra.1, rb.1, ra.1.stmts, rb.1.stmts
                    );
                }
            }
            if ca.rules.len() != cb.rules.len() {
                return format!(
                    "chain {} rule count {} vs {}",
                    ca.name,
                    ca.rules.len(),
                    cb.rules.len()
                );
            }
        }
        for (ca, cb) in ta.chains.iter().zip(&tb.chains) {
            if ca != cb {
                return format!(
                    "chain {} comment {:?} vs {:?}",
                    ca.name, ca.comment, cb.comment
                );
            }
        }
        if ta != tb {
            return format!(
                "table {} differs elsewhere: flags {:?}/{:?} comment {:?}/{:?} chains {}/{}",
                ta.name,
                ta.flags,
                tb.flags,
                ta.comment,
                tb.comment,
                ta.chains.len(),
                tb.chains.len()
            );
        }
    }
    "?".into()
}

/// Real-world rulesets that must fail, and the message they must fail with.
const REALWORLD_EXPECTED_FAIL: &[(&str, &str)] = &[
    // nft rejects a port mapping without a transport match (see realworld/README.md)
    (
        "openwrt-fw4_02_zones_log_limit.nft",
        "transport protocol mapping",
    ),
    // starts with `delete table filter` of a table that does not exist
    ("nftables_example_sets_and_maps.nft", "does not exist"),
    // nat chain at priority -300 (kernel: EOPNOTSUPP) and netdev stateless NAT / fwd
    // (also netdev stateless NAT with `ether saddr set` and `fwd`)
    (
        "nftables_example_load_balancing.nft",
        "nat chain priority must be above conntrack's -200",
    ),
];

#[test]
fn realworld_rulesets_load() {
    let Some(c) = corpus() else { return };
    let mut bad = Vec::new();
    for f in files(&c.join("realworld"), ".nft") {
        if f.parent()
            .is_some_and(|p| p.ends_with("canonical-nft1.0.6"))
        {
            continue;
        }
        let base = f.file_name().unwrap().to_string_lossy().to_string();
        let r = Ruleset::load(&f, &opts());
        match (REALWORLD_EXPECTED_FAIL.iter().find(|(n, _)| *n == base), r) {
            (None, Ok(rs)) => {
                let s = rs.summary();
                println!(
                    "{base}: {} tables {} chains {} rules",
                    s.tables, s.chains, s.rules
                );
            }
            (None, Err(e)) => bad.push(format!("{e}")),
            (Some((_, want)), Err(e)) => {
                println!(
                    "{base}: fails as expected: {}",
                    e.to_string().lines().next().unwrap_or("")
                );
                assert!(e.to_string().contains(want), "{base}: unexpected error {e}");
            }
            (Some(_), Ok(_)) => bad.push(format!("{base}: expected a load error")),
        }
    }
    for b in &bad {
        println!("FAIL {b}");
    }
    assert!(bad.is_empty());
}

#[test]
fn realworld_canonical_twins_agree() {
    let Some(c) = corpus() else { return };
    let dir = c.join("realworld/canonical-nft1.0.6");
    let mut n = 0;
    let mut bad = Vec::new();
    for f in files(&dir, ".nft") {
        let j = f.with_extension("json");
        let a = Ruleset::load(&f, &opts());
        let b = Ruleset::load(&j, &opts());
        match (a, b) {
            (Ok(a), Ok(b)) => {
                if a.model() != b.model() {
                    bad.push(format!(
                        "{}: models differ\n{}",
                        f.display(),
                        first_diff(&a, &b)
                    ));
                } else {
                    n += 1;
                }
            }
            (Err(e), _) | (_, Err(e)) if e.is_unsupported() => {
                println!("{}: unsupported: {}", f.display(), e.msg);
            }
            (Err(e), _) | (_, Err(e)) => bad.push(format!("{e}")),
        }
        // the canonical listing of an input file equals the input's model
        let orig = c.join("realworld").join(f.file_name().unwrap());
        if let (Ok(o), Ok(cn)) = (Ruleset::load(&orig, &opts()), Ruleset::load(&f, &opts()))
            && o.model() != cn.model()
        {
            bad.push(format!(
                "{}: input vs canonical listing differ\n{}",
                orig.display(),
                first_diff(&o, &cn)
            ));
        }
    }
    println!("canonical twins equal: {n}");
    for b in &bad {
        println!("FAIL {b}");
    }
    assert!(bad.is_empty());
    assert!(n >= 10, "only {n} canonical twins equal (want 10)");
}
