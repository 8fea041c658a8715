//! `offsim trace gen`: argument validation (exit code 2 with a clear message) and a small
//! generated file that `offsim trace info` reads back.

use crate::util::offsim_cmd;

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("offsim-trace-gen-{}-{name}", std::process::id()))
}

#[test]
fn bad_arguments_exit_2() {
    let out_path = tmp("bad.pcap");
    let cases: [(&[&str], &str); 7] = [
        (&["--profile", "nope"], "valid profiles: home-router"),
        (&["--profile", "enterprise", "--packets", "0"], "at least 1"),
        (
            &["--profile", "enterprise", "--packets", "99999999999"],
            "too large",
        ),
        (&["--profile", "enterprise", "--duration=-3"], "invalid"),
        (
            &[
                "--profile",
                "enterprise",
                "--packets",
                "5",
                "--duration",
                "1",
            ],
            "cannot be used",
        ),
        (
            &["--profile", "home-router", "--cps", "5"],
            "`connections` profile's load",
        ),
        (
            &["--profile", "connections", "--cps=0"],
            "cps 0 must be more than 0",
        ),
    ];
    for (args, msg) in cases {
        let o = offsim_cmd()
            .args(["trace", "gen"])
            .args(args)
            .arg("-o")
            .arg(&out_path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: `{err}` lacks `{msg}`");
    }
    let o = offsim_cmd()
        .args(["trace", "gen", "--profile", "imix", "--packets", "10", "-o"])
        .arg("/nonexistent-dir/x.pcap")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent-dir/x.pcap"));
}

#[test]
fn generates_and_reads_back() {
    let p = tmp("ok.pcap");
    let o = offsim_cmd()
        .args([
            "trace",
            "gen",
            "--profile",
            "home-router",
            "--seed",
            "3",
            "--packets",
            "500",
            "-o",
        ])
        .arg(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = offsim_cmd()
        .args(["trace", "info", "--json"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["packets"], 500);
    assert_eq!(v["malformed"], 0);
    let _ = std::fs::remove_file(&p);
}

/// The `connections` load from a scenario: the run reports about `cps` new connections a
/// second; a load key on another profile is refused with its position.
#[test]
fn connections_load_from_a_scenario() {
    let dir = crate::util::scratch("trace-gen", "cps");
    let fw4 = crate::util::repo().join("scenarios/rulesets/home-fw4.nft");
    let body = |profile: &str| {
        format!(
            "name = \"cps\"\npolicies = [\"software\"]\n[trace.generate]\nprofile = \"{profile}\"\ncps = 400.0\nhold_s = 0.5\nduration_s = 5.0\n[ruleset]\nfile = \"{}\"\niif = \"lan0\"\noif = \"wan0\"\nsides = \"flow\"\n[cpu]\npreset = \"mt7621\"\n[nic]\npreset = \"mt7621\"\n",
            fw4.display()
        )
    };
    let sc = dir.join("s.toml");
    let out = dir.join("out");
    let run = |profile: &str| {
        std::fs::write(&sc, body(profile)).unwrap();
        let (sc, out) = (sc.to_str().unwrap(), out.to_str().unwrap());
        crate::util::offsim(&["run", sc, "--out", out, "-q"])
    };
    let o = run("connections");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = offsim_reports::Report::from_json_file(&out.join("report.json")).unwrap();
    let cps = r.runs[0].throughput.cps;
    // 2,000 connections expected in 5 s (Poisson, σ ≈ 45).
    assert!((360.0..=440.0).contains(&cps), "{cps}");
    let o = run("home-router");
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("s.toml:5:7:") && o.stderr.contains("trace.generate.cps"),
        "{}",
        o.stderr
    );
}
