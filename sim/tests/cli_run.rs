//! `offsim run`, `sweep` and `plan` from the command line, as a user or CI script runs them:
//! outputs, exit codes (0 ok, 1 SLO missed, 2 bad input), shards that merge into the
//! unsharded sweep byte for byte.

use std::path::{Path, PathBuf};

use crate::util::{offsim, scratch};

fn ruleset() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/rulesets/home-fw4.nft")
        .display()
        .to_string()
        .replace('\\', "/")
}

/// A small home-router scenario: `extra` is appended (e.g. an [slo] or [sweep] table).
pub fn scenario(dir: &Path, extra: &str) -> PathBuf {
    let body = format!(
        r#"name = "tiny"
seed = 3
policies = ["none", "software", "hardware"]

[trace.generate]
profile = "home-router"
packets = 4000

[ruleset]
file = "{}"

[cpu]
preset = "mt7621"

[nic]
preset = "mt7621"

[replay]
rate_gbps = 0.1
{extra}"#,
        ruleset()
    );
    let p = dir.join("tiny.toml");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn run_writes_the_report_and_prints_a_summary() {
    let dir = scratch("cli-run", "run");
    let sc = scenario(&dir, "");
    let out = dir.join("out");
    let o = offsim(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--flows",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for name in ["none", "software", "hardware"] {
        assert!(
            o.stdout.lines().any(|l| l.starts_with(name)),
            "{}",
            o.stdout
        );
        assert!(out.join(format!("flows-{name}.jsonl")).is_file());
    }
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    let r = offsim_reports::Report::from_json(&text).unwrap();
    let names: Vec<&str> = r.runs.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["none", "software", "hardware"]);
    assert!(r.runs[2].savings.is_some() && r.runs[0].savings.is_none());
    assert!(out.join("index.html").is_file());
    // Same input, same bytes, whatever the thread count.
    let out2 = dir.join("out2");
    let o = offsim(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
        "--jobs",
        "1",
        "-q",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        text,
        std::fs::read_to_string(out2.join("report.json")).unwrap()
    );
}

/// Looped replays give the same report whether each configuration reads the trace itself
/// (`--jobs 1`) or the configurations share one reader thread (more jobs).
#[test]
fn a_looped_run_is_the_same_read_alone_or_shared() {
    let dir = scratch("cli-run", "loops");
    let sc = scenario(&dir, "loops = 2\n");
    let mut reports = Vec::new();
    for jobs in ["1", "2", "3"] {
        let out = dir.join(format!("out{jobs}"));
        let o = offsim(&[
            "run",
            sc.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            jobs,
            "-q",
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        reports.push(std::fs::read_to_string(out.join("report.json")).unwrap());
    }
    let r = offsim_reports::Report::from_json(&reports[0]).unwrap();
    assert_eq!(r.runs.len(), 3);
    assert!(r.runs.iter().all(|x| x.throughput.offered_packets > 4000));
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
}

#[test]
fn missed_slo_exits_1_and_only_gated_policies_count() {
    let dir = scratch("cli-run", "slo");
    let sc = scenario(&dir, "[slo]\np99_latency_us = 0.001\n");
    let out = dir.join("out");
    let o = offsim(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("SLO MISSED"), "{}", o.stdout);
    // A generous SLO gated on hardware only.
    let sc = scenario(
        &dir,
        "[slo]\nmax_drop_rate = 0.5\npolicies = [\"hardware\"]\n",
    );
    let o = offsim(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    // Gating on a policy the scenario does not have is an error naming the key.
    let sc = scenario(&dir, "[slo]\nmax_drop_rate = 0.5\npolicies = [\"turbo\"]\n");
    let o = offsim(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("slo.policies[0]") && o.stderr.contains("tiny.toml"),
        "{}",
        o.stderr
    );
}

#[test]
fn bad_scenarios_exit_2_naming_file_and_key() {
    let dir = scratch("cli-run", "bad");
    let out = dir.join("out");
    let cases = [
        ("[replay]\nrate_gbps = 0.1\nturbo = 1\n", "turbo"),
        ("[kernel]\nflavour = \"4.4\"\n", "kernel.flavour"),
        ("[nic.table]\ncapacity = 0\n", "nic"),
        ("[cpu]\npreset = \"mt7621\"\ncores = 0\n", "cpu.cores"),
    ];
    for (extra, needle) in cases {
        // Replace the tables the base defines rather than repeating them.
        let base = std::fs::read_to_string(scenario(&dir, "")).unwrap();
        let section = extra.lines().next().unwrap();
        let body = if base.contains(section) {
            let start = base.find(section).unwrap();
            let end = base[start + section.len()..]
                .find("\n[")
                .map(|e| start + section.len() + e + 1)
                .unwrap_or(base.len());
            format!("{}{}{}", &base[..start], extra, &base[end..])
        } else {
            format!("{base}{extra}")
        };
        let p = dir.join("bad.toml");
        std::fs::write(&p, body).unwrap();
        let o = offsim(&[
            "run",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(o.code, 2, "{extra}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains("bad.toml"), "{extra}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{extra}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
    let o = offsim(&["run", dir.join("missing.toml").to_str().unwrap(), "-q"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("missing.toml"), "{}", o.stderr);
}

#[test]
fn sweep_shards_merge_into_the_unsharded_report() {
    let dir = scratch("cli-run", "sweep");
    let sc = scenario(
        &dir,
        "[sweep]\n\"nic.table.capacity\" = [128, 1024]\n\"replay.rate_gbps\" = [0.05, 0.1, 0.2]\n",
    );
    let sc = sc.to_str().unwrap();
    let full = dir.join("full");
    let o = offsim(&["sweep", sc, "--out", full.to_str().unwrap(), "-q"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = std::fs::read_to_string(full.join("report.json")).unwrap();
    let r = offsim_reports::Report::from_json(&text).unwrap();
    let sw = r.sweep.as_ref().unwrap();
    assert_eq!(sw.total_points, 6);
    assert_eq!(sw.parameters, ["nic.table.capacity", "replay.rate_gbps"]);
    assert_eq!(r.runs.len(), 18);
    assert_eq!(
        r.runs[0].name,
        "nic.table.capacity=128,replay.rate_gbps=0.05/none"
    );
    assert!(r.runs[4].savings.is_some());
    let mut shards = Vec::new();
    for k in 1..=4 {
        let d = dir.join(format!("shard{k}"));
        let o = offsim(&[
            "sweep",
            sc,
            "--shard",
            &format!("{k}/4"),
            "--out",
            d.to_str().unwrap(),
            "-q",
            "--jobs",
            "1",
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        shards.push(d.join("report.json").display().to_string());
    }
    let merged = dir.join("merged");
    let mut args = vec!["merge".to_string()];
    // Shards in any order.
    shards.reverse();
    args.extend(shards);
    args.extend(["--out".to_string(), merged.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = offsim(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        text,
        std::fs::read_to_string(merged.join("report.json")).unwrap()
    );
    // Bad shard specs.
    for bad in ["0/4", "5/4", "x"] {
        let o = offsim(&[
            "sweep",
            sc,
            "--shard",
            bad,
            "--out",
            merged.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(o.code, 2, "{bad}");
    }
    // A scenario without [sweep].
    let plain = scenario(&dir, "");
    let o = offsim(&[
        "sweep",
        plain.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("[sweep]"), "{}", o.stderr);
}

#[test]
fn plan_finds_more_capacity_with_offload() {
    let dir = scratch("cli-run", "plan");
    let sc = scenario(
        &dir,
        "[slo]\np99_latency_us = 2000.0\nmax_drop_rate = 0.001\n[plan]\nmin_gbps = 0.02\nmax_gbps = 2.0\nsteps = 5\n",
    );
    let out = dir.join("out");
    let o = offsim(&["plan", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let r = offsim_reports::Report::from_json(
        &std::fs::read_to_string(out.join("report.json")).unwrap(),
    )
    .unwrap();
    let plan = r.plan.as_ref().unwrap();
    let max = |n: &str| {
        plan.configs
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .max_bps
            .unwrap()
    };
    // Either offload carries more than none. Software and hardware are not ordered on this
    // mix of short home-router flows: on an MT7621 each new flow costs the hardware
    // configuration an offload add and delete in process context (and a kworker wake-up),
    // which the software flowtable does not pay.
    assert!(max("none") < max("software"), "{}", o.stdout);
    assert!(max("none") < max("hardware"), "{}", o.stdout);
    for c in &plan.configs {
        // Probes sorted by rate; the reported maximum is a probe that met the SLO and every
        // probe above the first miss missed it.
        assert!(
            c.points
                .windows(2)
                .all(|w| w[0].offered_bps <= w[1].offered_bps)
        );
        assert!(
            c.points
                .iter()
                .any(|p| p.met && (p.offered_bps - c.max_bps.unwrap()).abs() < 1.0)
        );
    }
    assert!(o.stdout.contains("within the SLO"), "{}", o.stdout);
    // Without an SLO there is nothing to plan for.
    let sc = scenario(&dir, "");
    let o = offsim(&["plan", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("slo"), "{}", o.stderr);
    // An SLO nothing can meet: exit 1.
    let sc = scenario(
        &dir,
        "[slo]\np99_latency_us = 0.001\n[plan]\nmin_gbps = 0.02\nmax_gbps = 0.1\nsteps = 1\n",
    );
    let o = offsim(&["plan", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
}

#[test]
fn the_readme_scenario_example_is_valid() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme.find("### Scenario files").expect("README section");
    let block = &readme[start..];
    let block = &block[block.find("```toml\n").unwrap() + 8..];
    let block = &block[..block.find("```").unwrap()];
    let dir = scratch("cli-run", "readme");
    let p = dir.join("readme.toml");
    std::fs::write(&p, block).unwrap();
    let f = offsim::scenario::ScenarioFile::load(&p).unwrap_or_else(|e| panic!("{e}"));
    let sc = f.resolve().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.policies.len(), 6);
    let (keys, points) = offsim::sweep::grid(&f).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(points.len(), 6);
}

/// With RSS over several cores and a replay paced faster than the recorded round trips, a
/// reply can arrive while its request still waits on another core. Real traffic cannot do
/// that (the reply exists only once the request was forwarded), so the engine keeps a
/// connection's packets on the core that still holds earlier ones; otherwise conntrack sees
/// the reply first and the ruleset drops the connection's later packets as invalid.
#[test]
fn replies_never_overtake_their_requests_across_cores() {
    let dir = scratch("cli-run", "causality");
    let body = format!(
        r#"name = "causality"
policies = ["none", "software"]
[trace.generate]
profile = "datacenter"
packets = 20000
[ruleset]
file = "{}"
[cpu]
preset = "x86-server"
[nic]
preset = "connectx6dx"
[replay]
rate_gbps = 20.0
"#,
        ruleset()
    );
    let p = dir.join("causality.toml");
    std::fs::write(&p, body).unwrap();
    let out = dir.join("out");
    let o = offsim(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = offsim_reports::Report::from_json(
        &std::fs::read_to_string(out.join("report.json")).unwrap(),
    )
    .unwrap();
    for run in &r.runs {
        assert!(
            run.cpu.util_per_core.iter().filter(|u| **u > 0.05).count() > 1,
            "RSS spreads the load"
        );
        let invalid: u64 = run
            .drops
            .by_reason
            .iter()
            .filter(|(k, _)| k.starts_with("ruleset_"))
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(invalid, 0, "{}: {:?}", run.name, run.drops.by_reason);
    }
}

/// A capture damaged in the middle fails `run` before it touches its output directory,
/// also when its first pass is deferred to the end of the runs (stderr is not a terminal
/// here): earlier outputs stay, no header line is printed, exit 2 naming the file.
#[test]
fn a_damaged_capture_leaves_earlier_outputs_alone() {
    let dir = scratch("cli-run", "damaged");
    let trace = dir.join("t.pcap");
    crate::util::gen_trace(&trace, "home-router", 4000);
    // An impossible captured length in record 2000.
    let mut b = std::fs::read(&trace).unwrap();
    let mut at = 24;
    for _ in 0..2000 {
        at += 16 + u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    b[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&trace, &b).unwrap();
    let sc = dir.join("s.toml");
    std::fs::write(
        &sc,
        format!(
            "name = \"damaged\"\n[trace]\nfile = {:?}\n[ruleset]\nfile = {:?}\n[cpu]\npreset = \
             \"mt7621\"\n[nic]\npreset = \"mt7621\"\n[replay]\nrate_gbps = 0.1\n",
            trace.display().to_string(),
            ruleset()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.json"), "old").unwrap();
    let o = offsim(&["run", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("t.pcap"), "{}", o.stderr);
    assert!(!o.stderr.contains("configuration(s)"), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        "old"
    );
}
