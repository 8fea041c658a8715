//! `offsim trace gen`: argument validation (exit code 2 with a clear message) and a small
//! generated file that `offsim trace info` reads back.

use crate::util::offsim_cmd;

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("offsim-trace-gen-{}-{name}", std::process::id()))
}

#[test]
fn bad_arguments_exit_2() {
    let out_path = tmp("bad.pcap");
    let cases: [(&[&str], &str); 5] = [
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
