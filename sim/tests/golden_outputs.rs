//! Golden outputs: every bundled scenario's `report.json` (run and sweep) and `rules eval
//! --json` on the committed test traces, byte for byte against `tests/data/golden/`.
//!
//! These pin the results while the code is restructured or made faster: a refactor must not
//! change a single byte. A change that is meant to change results re-blesses them with
//! `OFFSIM_BLESS=1 cargo test -p offsim --test integration golden_outputs` and says in its commit what
//! changed and why.

use std::path::{Path, PathBuf};

use crate::util::{offsim_cmd, repo, scratch};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

/// Runs offsim from the repository's top directory, so that the paths it records in reports
/// are relative and the same on every checkout.
fn offsim(args: &[&str]) -> (i32, Vec<u8>, String) {
    let o = offsim_cmd()
        .current_dir(repo())
        .args(args)
        .output()
        .expect("run offsim");
    (
        o.status.code().unwrap_or(-1),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Compares `actual` with the golden file `name`, or writes it when blessing. On a mismatch
/// the actual bytes are left beside the scratch outputs for `diff`.
fn check(name: &str, actual: &[u8]) {
    let path = golden_dir().join(name);
    if std::env::var_os("OFFSIM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with OFFSIM_BLESS=1)", path.display()));
    if want != actual {
        let got = scratch("golden", "mismatch").join(name.replace('/', "_"));
        std::fs::write(&got, actual).unwrap();
        panic!(
            "{} differs from the golden output; actual bytes in {} (diff them; re-bless with \
             OFFSIM_BLESS=1 only for an intended change)",
            path.display(),
            got.display()
        );
    }
}

fn run_scenario(name: &str) {
    let out = scratch("golden", name);
    let sc = format!("scenarios/{name}.toml");
    let (code, _, err) = offsim(&["run", &sc, "--out", out.to_str().unwrap(), "-q"]);
    assert!(code == 0 || code == 1, "{name}: exit {code}: {err}");
    check(
        &format!("{name}.report.json"),
        &std::fs::read(out.join("report.json")).unwrap(),
    );
}

#[test]
fn default_scenario_report() {
    run_scenario("default");
}

#[test]
fn datacenter_scenario_report() {
    run_scenario("datacenter");
}

#[test]
fn enterprise_edge_scenario_report() {
    run_scenario("enterprise-edge");
}

/// The timeline events' scenario: a reload, a WAN link flap and a roaming host (issue 13).
#[test]
fn events_scenario_report() {
    run_scenario("events");
}

#[test]
fn sweep_table_report() {
    let out = scratch("golden", "sweep-table");
    let (code, _, err) = offsim(&[
        "sweep",
        "scenarios/sweep-table.toml",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(code == 0 || code == 1, "sweep: exit {code}: {err}");
    check(
        "sweep-table.report.json",
        &std::fs::read(out.join("report.json")).unwrap(),
    );
}

/// Rulesets × traces × sides × kernel flavours, each `rules eval --json` output in one
/// golden file per ruleset (sections headed by the arguments).
#[test]
fn rules_eval_outputs() {
    let dir = scratch("golden", "rules-eval");
    let oracle = Path::new("sim/tests/data/oracle");
    let mut traces: Vec<(String, PathBuf)> = ["demo", "edge", "flow"]
        .iter()
        .map(|t| (format!("{t}.pcap"), oracle.join(format!("{t}.pcap"))))
        .collect();
    for (profile, packets) in [("home-router", "20000"), ("enterprise", "20000")] {
        let p = dir.join(format!("{profile}.pcap"));
        let (code, _, err) = offsim(&[
            "trace",
            "gen",
            "--profile",
            profile,
            "--seed",
            "5",
            "--packets",
            packets,
            "-o",
            p.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "trace gen {profile}: {err}");
        traces.push((format!("gen:{profile}:5:{packets}"), p));
    }
    let rulesets: Vec<(&str, PathBuf)> = vec![
        ("demo", oracle.join("demo.nft")),
        ("rich-nocounters", oracle.join("rich-nocounters.nft")),
        ("flow", oracle.join("flow.nft")),
        ("fw4-filter", oracle.join("fw4-filter.nft")),
        ("home-fw4", PathBuf::from("scenarios/rulesets/home-fw4.nft")),
        (
            "enterprise-fw4",
            PathBuf::from("scenarios/rulesets/enterprise-fw4.nft"),
        ),
        (
            "datacenter",
            PathBuf::from("scenarios/rulesets/datacenter.nft"),
        ),
    ];
    for (rname, rpath) in &rulesets {
        let mut all = Vec::new();
        for (tname, tpath) in &traces {
            for sides in ["single", "flow"] {
                for kernel in ["6.1", "6.14"] {
                    let args = [
                        "rules",
                        "eval",
                        rpath.to_str().unwrap(),
                        tpath.to_str().unwrap(),
                        "--json",
                        "--sides",
                        sides,
                        "--kernel",
                        kernel,
                    ];
                    let (code, out, err) = offsim(&args);
                    all.extend_from_slice(
                        format!("### {tname} --sides {sides} --kernel {kernel}: exit {code}\n")
                            .as_bytes(),
                    );
                    if code == 0 {
                        compact(&out, &mut all);
                    } else {
                        all.extend_from_slice(err.as_bytes());
                    }
                    all.push(b'\n');
                }
            }
        }
        check(&format!("rules-eval/{rname}.txt"), &all);
    }
}

/// `rules eval --json` with one rule (or chain) per line: a seventh of the pretty-printed
/// size, and a diff still shows which rule changed.
fn compact(json: &[u8], out: &mut Vec<u8>) {
    let v: serde_json::Value = serde_json::from_slice(json).expect("rules eval --json is JSON");
    let obj = v.as_object().expect("a JSON object");
    for (k, v) in obj {
        match v.as_array() {
            Some(items) => {
                out.extend_from_slice(format!("{k}:\n").as_bytes());
                for item in items {
                    out.extend_from_slice(format!("  {item}\n").as_bytes());
                }
            }
            None => out.extend_from_slice(format!("{k}: {v}\n").as_bytes()),
        }
    }
}

/// Every reason code the bundled scenarios' reports carry has a sentence in the page's
/// glossary (a code without one shows "(no description)").
#[test]
fn every_reason_code_of_the_bundled_scenarios_is_explained() {
    let mut missing = Vec::new();
    for e in std::fs::read_dir(golden_dir()).unwrap() {
        let p = e.unwrap().path();
        if !p.to_string_lossy().ends_with(".report.json") {
            continue;
        }
        let r = offsim_reports::Report::from_json_file(&p).unwrap();
        for run in &r.runs {
            let f = &run.flows;
            let maps = [
                &run.drops.by_reason,
                &f.not_offloaded,
                &f.hw_refused,
                &f.fell_back,
                &f.teardown,
                &run.nic.refusals_by_reason,
            ];
            let codes = maps
                .iter()
                .flat_map(|m| m.keys().cloned())
                .chain(f.examples.iter().map(|x| x.reason.clone()));
            for c in codes {
                if offsim_reports::html::describe_reason(&c).is_none() && !missing.contains(&c) {
                    missing.push(c);
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "reason codes without a description: {missing:?}"
    );
}
