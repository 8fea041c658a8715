//! The command line as a tool: `--out`/`-o` everywhere, a clean output directory listed
//! file by file, errors said once and short, the sweep's exit code under a gating SLO, the
//! progress bar (a terminal only), `compare --format`, `trend` over reports ordered by
//! their commit dates, and captures mapped or read (`OFFSIM_NO_MMAP`) giving one answer.

use std::path::Path;
use std::process::Command;

use crate::cli_run::scenario;
use crate::util::{offsim, offsim_cmd, scratch, skip};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn out_and_its_o_alias_everywhere_including_trace_gen() {
    let dir = scratch("cli-tools", "out");
    for (flag, name) in [
        ("--out", "a.pcap"),
        ("-o", "b.pcap"),
        ("--output", "c.pcap"),
    ] {
        let p = dir.join(name);
        let o = offsim(&[
            "trace",
            "gen",
            "--profile",
            "imix",
            "--packets",
            "10",
            flag,
            s(&p),
        ]);
        assert_eq!(o.code, 0, "{flag}: {}", o.stderr);
        assert!(p.is_file(), "{flag}");
    }
    let o = offsim(&["trace", "gen", "--help"]);
    assert!(o.stdout.contains("-o, --out <OUT>"), "{}", o.stdout);
    let sc = scenario(&dir, "");
    let out = dir.join("run");
    let o = offsim(&["run", s(&sc), "-o", s(&out), "-q"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(out.join("report.json").is_file());
    for cmd in ["run", "sweep", "plan", "report", "merge", "trend"] {
        let o = offsim(&[cmd, "--help"]);
        assert!(o.stdout.contains("-o, --out <OUT>"), "{cmd}: {}", o.stdout);
    }
    for cmd in ["run", "sweep", "plan"] {
        let o = offsim(&[cmd, "--help"]);
        assert!(o.stdout.contains("-q, --quiet"), "{cmd}: {}", o.stdout);
        assert!(
            o.stdout.contains("summary on stdout stays"),
            "{cmd}: {}",
            o.stdout
        );
    }
}

#[test]
fn a_run_leaves_exactly_the_files_it_lists() {
    let dir = scratch("cli-tools", "clean");
    let sc = scenario(&dir, "");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // What an earlier run with more configurations left, and a file of the user's.
    for stale in [
        "flows-elephants.jsonl",
        "latency_paths_7.png",
        "nic.svg",
        "index.html",
    ] {
        std::fs::write(out.join(stale), "old").unwrap();
    }
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = offsim(&["run", s(&sc), "--out", s(&out), "--flows", "-q"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let listed: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with(s(&out)))
        .collect();
    let mut present: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| !p.ends_with("notes.txt"))
        .collect();
    present.sort();
    let mut l: Vec<String> = listed.iter().map(|x| x.to_string()).collect();
    l.sort();
    assert_eq!(l, present, "listed vs present");
    for f in [
        "flows-none.jsonl",
        "flows-software.jsonl",
        "flows-hardware.jsonl",
    ] {
        assert!(listed.iter().any(|p| p.ends_with(f)), "{f} not listed");
    }
    assert!(!out.join("flows-elephants.jsonl").exists());
    assert!(!out.join("latency_paths_7.png").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn errors_are_said_once_and_short() {
    let dir = scratch("cli-tools", "errors");
    let o = offsim(&["run", s(&dir.join("nope.toml")), "-q"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        o.stderr
    );
    // One-line `nft -j` JSON with an error 3,000 characters in.
    let tables: Vec<String> = (0..60)
        .map(|i| {
            format!("{{\"table\": {{\"family\": \"inet\", \"name\": \"t{i}\", \"handle\": {i}}}}}")
        })
        .collect();
    // A stray comma at the end: a syntax error at column ~3,000 of the only line.
    let json = format!("{{\"nftables\": [{}, ]}}", tables.join(", "));
    assert!(json.len() > 3000);
    let p = dir.join("long.json");
    std::fs::write(&p, &json).unwrap();
    let o = offsim(&["rules", "check", s(&p)]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("long.json:1:"), "{}", o.stderr);
    assert!(o.stderr.contains('^'), "{}", o.stderr);
    for line in o.stderr.lines() {
        assert!(line.chars().count() < 200, "long line in: {}", o.stderr);
    }
}

#[test]
fn sweep_exits_1_when_a_gated_configuration_misses_the_slo() {
    let dir = scratch("cli-tools", "sweep-slo");
    let grid = "[sweep]\n\"nic.table.capacity\" = [128, 1024]\n";
    let sc = scenario(&dir, &format!("[slo]\np99_latency_us = 0.001\n{grid}"));
    let o = offsim(&["sweep", s(&sc), "--out", s(&dir.join("a")), "-q"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("SLO MISSED"), "{}", o.stdout);
    assert!(!o.stdout.contains("(not gated)"), "{}", o.stdout);
    // Gated on hardware only, with a limit it meets: exit 0, the others marked not gated.
    let sc = scenario(
        &dir,
        &format!("[slo]\np99_latency_us = 0.001\npolicies = [\"hardware\"]\n{grid}").replace(
            "p99_latency_us = 0.001\npolicies",
            "max_drop_rate = 0.5\npolicies",
        ),
    );
    let o = offsim(&["sweep", s(&sc), "--out", s(&dir.join("b")), "-q"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    // The page names the smallest table size that meets the SLO.
    let html = std::fs::read_to_string(dir.join("b/index.html")).unwrap();
    assert!(
        html.contains("Smallest nic.table.capacity that meets the SLO with hardware: 128"),
        "no NIC-size finding"
    );
}

/// `script` (util-linux) runs a command on a pseudo-terminal; its output is the screen.
fn on_a_terminal(cmd: &str) -> Option<String> {
    let o = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .env("OFFSIM_COMMIT", "")
        .env("COLUMNS", "150")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn progress_bar_on_a_terminal_and_nowhere_else() {
    let dir = scratch("cli-tools", "progress");
    let sc = scenario(&dir, "")
        .display()
        .to_string()
        .replace("tiny.toml", "big.toml");
    let body = std::fs::read_to_string(dir.join("tiny.toml"))
        .unwrap()
        .replace("packets = 4000", "packets = 100000");
    std::fs::write(&sc, body).unwrap();
    let out = dir.join("out");
    // Not a terminal (as here): no bar, no progress lines.
    let o = offsim(&["run", &sc, "--out", s(&out)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains("ETA"), "{}", o.stderr);
    let bin = env!("CARGO_BIN_EXE_offsim");
    let Some(screen) = on_a_terminal(&format!("{bin} run {sc} --out {}", s(&out))) else {
        skip("progress bar on a terminal: `script` (util-linux) not found");
        return;
    };
    assert!(screen.contains("ETA"), "{screen}");
    assert!(screen.contains("packets"), "{screen}");
    assert!(
        screen.contains("/300,000") || screen.contains("/300000"),
        "total: {screen}"
    );
    let quiet = on_a_terminal(&format!("{bin} run {sc} --out {} -q", s(&out))).unwrap();
    assert!(!quiet.contains("ETA"), "{quiet}");
    assert!(
        quiet.contains("configuration"),
        "the summary stays: {quiet}"
    );
    // `plan` counts probes, and takes -q too.
    let plan = scenario(
        &dir,
        "[slo]\nmax_drop_rate = 0.001\n[plan]\nmin_gbps = 0.02\nmax_gbps = 2.0\nsteps = 2\n",
    );
    let screen = on_a_terminal(&format!("{bin} plan {} --out {}", s(&plan), s(&out))).unwrap();
    assert!(
        screen.contains("probes") && screen.contains("ETA"),
        "{screen}"
    );
    let quiet = on_a_terminal(&format!("{bin} plan {} --out {} -q", s(&plan), s(&out))).unwrap();
    assert!(!quiet.contains("ETA"), "{quiet}");
}

#[test]
fn compare_speaks_json_junit_and_markdown() {
    let dir = scratch("cli-tools", "compare");
    let sc = scenario(&dir, "");
    let base = dir.join("base");
    let o = offsim(&["run", s(&sc), "--out", s(&base), "-q"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let b = base.join("report.json");
    let text = std::fs::read_to_string(&b).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let bps = v["runs"][2]["throughput"]["delivered_bps"]
        .as_f64()
        .unwrap();
    v["runs"][2]["throughput"]["delivered_bps"] = serde_json::json!(bps * 0.8);
    let n = dir.join("new.json");
    std::fs::write(&n, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let o = offsim(&["compare", s(&b), s(&n), "--format", "json"]);
    assert_eq!(o.code, 1);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["result"], "REGRESSION");
    let o = offsim(&["compare", s(&b), s(&n), "--format", "junit"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.starts_with("<?xml") && o.stdout.contains("<failure "),
        "{}",
        o.stdout
    );
    let o = offsim(&["compare", s(&b), s(&n), "--format", "markdown"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("| hardware | `throughput.delivered_bps`"),
        "{}",
        o.stdout
    );
    let o = offsim(&["compare", s(&b), s(&b), "--format", "junit"]);
    assert_eq!(o.code, 0);
    assert!(!o.stdout.contains("<failure"));
    let o = offsim(&["compare", s(&b), s(&b), "--format", "yaml"]);
    assert_eq!(o.code, 2);
}

#[test]
fn trend_orders_reports_by_commit_date_and_flags_the_newest_regression() {
    let dir = scratch("cli-tools", "trend");
    let sc = scenario(&dir, "");
    let mut files = Vec::new();
    // Three commits, given newest first.
    for (i, date) in [
        "2026-03-03T10:00:00+00:00",
        "2026-03-01T10:00:00+00:00",
        "2026-03-02T10:00:00+00:00",
    ]
    .iter()
    .enumerate()
    {
        let out = dir.join(format!("r{i}"));
        let o = offsim_cmd()
            .args(["run", s(&sc), "--out", s(&out), "-q"])
            .env("OFFSIM_COMMIT", format!("c{i}"))
            .env("OFFSIM_DATE", date)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        files.push(out.join("report.json"));
    }
    let r0 = std::fs::read_to_string(&files[0]).unwrap();
    assert!(r0.contains("\"commit\": \"c0\""), "tool.commit recorded");
    // The newest (r0) got slower.
    let mut v: serde_json::Value = serde_json::from_str(&r0).unwrap();
    let p99 = v["runs"][2]["latency_ns"]["p99"].as_u64().unwrap();
    v["runs"][2]["latency_ns"]["p99"] = serde_json::json!(p99 * 3);
    std::fs::write(&files[0], serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = dir.join("trend");
    let mut args = vec!["trend".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = offsim(&args);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let order: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('['))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(order, ["c1", "c2", "c0"], "{}", o.stdout);
    assert!(
        o.stdout
            .contains("REGRESSION at [2] c0: hardware latency_ns.p99"),
        "{}",
        o.stdout
    );
    assert!(out.join("index.html").is_file() && out.join("trend_0.png").is_file());
    // Unchanged reports: exit 0.
    let o = offsim(&["trend", s(&files[1]), s(&files[2]), "--out", s(&out)]);
    assert_eq!(o.code, 0, "{}", o.stdout);
}

#[test]
fn reports_record_the_git_commit_they_were_run_from() {
    let dir = scratch("cli-tools", "git");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05+00:00")
            .output()
    };
    if git(&["init", "-q"]).is_err() {
        skip("report commit from git: git not found");
        return;
    }
    let sc = scenario(&dir, "");
    git(&["add", "."]).unwrap();
    git(&["commit", "-qm", "x"]).unwrap();
    let head = String::from_utf8(git(&["rev-parse", "HEAD"]).unwrap().stdout).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_offsim"))
        .args(["run", s(&sc), "--out", "out", "-q"])
        .current_dir(&dir)
        .env_remove("OFFSIM_COMMIT")
        .env_remove("OFFSIM_DATE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let r = offsim_reports::Report::from_json_file(&dir.join("out/report.json")).unwrap();
    assert_eq!(r.tool.commit.as_deref(), Some(head.trim()));
    assert_eq!(r.tool.date.as_deref(), Some("2026-01-02T03:04:05Z"));
}

/// A capture's record headers are walked mapped (`run`'s first pass, the look at its last
/// MiB) unless `OFFSIM_NO_MMAP` says otherwise, and its packets are read; every way
/// gives the same `run` report, `trace info` and `rules eval`, and the same capture cut
/// mid-record (a trace of several MiB, so the mapped reader releases what it passed several
/// times). The replay loops twice, so `run` makes its first pass.
#[test]
fn mapped_and_read_captures_give_the_same_answers() {
    let dir = scratch("cli-tools", "no-mmap");
    let pcap = dir.join("home.pcap");
    crate::util::gen_trace(&pcap, "home-router", 6000);
    let bytes = std::fs::read(&pcap).unwrap();
    assert!(bytes.len() > 3 << 20, "{} bytes", bytes.len());
    // The same capture cut inside a record past the first MiB.
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..(3 << 20) + 7]).unwrap();
    let rules = crate::util::manifest().join("../scenarios/rulesets/home-fw4.nft");
    let both = |args: &[&str]| {
        let run = |no_mmap: &str| {
            let o = offsim_cmd()
                .env("OFFSIM_NO_MMAP", no_mmap)
                .args(args)
                .output()
                .expect("run offsim");
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (o.status.code(), text(&o.stdout), text(&o.stderr))
        };
        let (mapped, read) = (run(""), run("1"));
        assert_eq!(mapped.0, Some(0), "{args:?}: {}", mapped.2);
        assert_eq!(mapped, read, "{args:?}");
        mapped
    };
    for (i, p) in [&pcap, &cut].into_iter().enumerate() {
        both(&["trace", "info", s(p)]);
        both(&["rules", "eval", s(&rules), s(p)]);
        let sc = dir.join(format!("s{i}.toml"));
        let text = format!(
            "name = \"mapped\"\npolicies = [\"none\"]\n[trace]\nfile = \"{}\"\n\
             [ruleset]\nfile = \"{}\"\niif = \"lan0\"\noif = \"wan0\"\nsides = \"flow\"\n\
             [cpu]\npreset = \"mt7621\"\n[nic]\npreset = \"mt7621\"\n[replay]\nloops = 2\n",
            p.display(),
            rules.display()
        );
        std::fs::write(&sc, text).unwrap();
        let report = |no_mmap: &str, jobs: &str| {
            let out = dir.join(format!("out{i}-{no_mmap}-{jobs}"));
            let o = offsim_cmd()
                .env("OFFSIM_NO_MMAP", no_mmap)
                .args(["run", s(&sc), "--jobs", jobs, "--out", s(&out)])
                .output()
                .expect("run offsim");
            let code = o.status.code();
            assert!(
                matches!(code, Some(0 | 1)),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            (
                code,
                o.stderr,
                std::fs::read(out.join("report.json")).unwrap(),
            )
        };
        let first = report("", "1");
        for (no_mmap, jobs) in [("1", "1"), ("", "2"), ("1", "2")] {
            let r = report(no_mmap, jobs);
            assert!(
                first == r,
                "run of {} ({no_mmap:?}, --jobs {jobs})",
                p.display()
            );
        }
    }
    let (_, stdout, stderr) = both(&["trace", "info", s(&cut)]);
    assert!(
        format!("{stdout}{stderr}").contains("cut short in the middle of a packet"),
        "{stdout}{stderr}"
    );
}
